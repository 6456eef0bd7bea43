//! Outbound transport: one pooled hyper client per provider, HTTPS through rustls (ring, embedded
//! web PKI roots, HTTP/2 when the server offers it), plain HTTP, or a Unix socket (hyperlocal);
//! or the in-process mock. Also the base-URL handling shared by every adapter.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use hyperlocal::UnixConnector;

use super::mock::{MockBody, MockUpstream};

/// How long an idle pooled upstream connection is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// A response body from any transport.
pub enum UpstreamBody {
    /// From a real HTTP connection.
    Hyper(Incoming),
    /// From the in-process mock.
    Mock(MockBody),
}

impl http_body::Body for UpstreamBody {
    type Data = Bytes;
    type Error = String;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, String>>> {
        match self.get_mut() {
            Self::Hyper(body) => std::pin::Pin::new(body)
                .poll_frame(cx)
                .map_err(|e| describe(&e)),
            Self::Mock(body) => std::pin::Pin::new(body)
                .poll_frame(cx)
                .map_err(|e| match e {}),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Hyper(body) => body.is_end_stream(),
            Self::Mock(body) => body.is_end_stream(),
        }
    }
}

/// A transport-level failure (no HTTP response).
#[derive(Debug)]
pub struct TransportError(pub String);

/// Error text with its causes, e.g. "client error (Connect): tcp connect error: Connection refused".
pub fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Where an upstream is and how to reach it.
pub struct Endpoint {
    /// `scheme://authority` for TCP transports (ignored over a Unix socket).
    origin: String,
    /// Path prefix from the base URL, without a trailing slash (e.g. `/v1`).
    prefix: String,
    transport: Transport,
}

enum Transport {
    Tcp(Client<HttpsConnector<HttpConnector>, Full<Bytes>>),
    Unix {
        client: Client<UnixConnector, Full<Bytes>>,
        socket: PathBuf,
    },
    Mock(MockUpstream),
}

impl Endpoint {
    /// An HTTP(S) endpoint at `base_url`.
    pub fn tcp(base_url: &str, connect_timeout: Duration) -> Result<Self, String> {
        let (origin, prefix) = split_base_url(base_url)?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(connect_timeout));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(default_tls().as_ref().clone())
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build(https);
        Ok(Self {
            origin,
            prefix,
            transport: Transport::Tcp(client),
        })
    }

    /// An endpoint over a Unix socket; `base_url`'s path prefix is kept, its host ignored.
    pub fn unix(
        socket: PathBuf,
        base_url: Option<&str>,
        default_prefix: &str,
    ) -> Result<Self, String> {
        let prefix = match base_url {
            Some(url) => split_base_url(url)?.1,
            None => default_prefix.trim_end_matches('/').to_owned(),
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build(UnixConnector);
        Ok(Self {
            origin: String::new(),
            prefix,
            transport: Transport::Unix { client, socket },
        })
    }

    /// The in-process mock.
    pub fn mock(mock: MockUpstream) -> Self {
        Self {
            origin: "http://mock".to_owned(),
            prefix: "/v1".to_owned(),
            transport: Transport::Mock(mock),
        }
    }

    /// The URI for `path` (which starts with `/`) under the base URL.
    pub fn uri(&self, path: &str) -> Result<Uri, TransportError> {
        let full_path = format!("{}{path}", self.prefix);
        match &self.transport {
            Transport::Unix { socket, .. } => Ok(hyperlocal::Uri::new(socket, &full_path).into()),
            _ => format!("{}{full_path}", self.origin)
                .parse()
                .map_err(|e| TransportError(format!("invalid upstream URI: {e}"))),
        }
    }

    /// The host the requests go to, for logs and spans.
    pub fn host(&self) -> &str {
        match &self.transport {
            Transport::Unix { .. } => "unix",
            _ => self
                .origin
                .split_once("://")
                .map_or(self.origin.as_str(), |(_, host)| host),
        }
    }

    /// Sends one request.
    pub async fn send(
        &self,
        request: Request<Full<Bytes>>,
    ) -> Result<Response<UpstreamBody>, TransportError> {
        let map_err = |e: hyper_util::client::legacy::Error| TransportError(describe(&e));
        match &self.transport {
            Transport::Tcp(client) => Ok(client
                .request(request)
                .await
                .map_err(map_err)?
                .map(UpstreamBody::Hyper)),
            Transport::Unix { client, .. } => Ok(client
                .request(request)
                .await
                .map_err(map_err)?
                .map(UpstreamBody::Hyper)),
            Transport::Mock(mock) => Ok(mock.handle(request).await.map(UpstreamBody::Mock)),
        }
    }
}

/// Splits `https://host:port/v1/` into (`https://host:port`, `/v1`).
fn split_base_url(url: &str) -> Result<(String, String), String> {
    let uri: Uri = url
        .parse()
        .map_err(|e| format!("invalid base URL `{url}`: {e}"))?;
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return Err(format!("invalid base URL `{url}`: expected http(s)://host"));
    };
    let prefix = uri.path().trim_end_matches('/').to_owned();
    Ok((format!("{scheme}://{authority}"), prefix))
}

/// The TLS config shared by every provider without custom TLS settings: web PKI roots compiled
/// in (so a scratch image needs no CA bundle), ring as the crypto provider (builds on musl).
fn default_tls() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = match rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
            {
                Ok(builder) => builder.with_root_certificates(roots).with_no_client_auth(),
                // ring supports the default versions; this arm only keeps the code total.
                Err(_) => rustls::ClientConfig::builder()
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth(),
            };
            Arc::new(config)
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_split_into_origin_and_prefix() {
        let cases = [
            (
                "https://api.openai.com/v1",
                Ok(("https://api.openai.com", "/v1")),
            ),
            ("http://vllm:8000/v1/", Ok(("http://vllm:8000", "/v1"))),
            ("http://localhost:11434", Ok(("http://localhost:11434", ""))),
            ("not a url", Err(())),
        ];
        for (url, want) in cases {
            let got = split_base_url(url);
            match want {
                Ok((origin, prefix)) => {
                    assert_eq!(got.unwrap(), (origin.to_owned(), prefix.to_owned()))
                }
                Err(()) => assert!(got.is_err(), "{url}"),
            }
        }
    }

    #[test]
    fn unix_endpoints_keep_the_path_prefix() {
        let endpoint =
            Endpoint::unix("/tmp/up.sock".into(), Some("http://ignored/v1"), "/v1").unwrap();
        let uri = endpoint.uri("/chat/completions").unwrap();
        assert_eq!(uri.path(), "/v1/chat/completions");
        assert_eq!(uri.scheme_str(), Some("unix"));
    }
}
