//! Outbound transport per provider: HTTPS (or anything through a proxy) by hyper-util's pooled
//! client with rustls (ring, embedded web PKI roots, HTTP/2 when the server offers it); plain
//! HTTP or a Unix socket by the provider's own HTTP/1.1 connection set (`conns`); or the
//! in-process mock. Also the base-URL handling shared by every adapter.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Request, Response, Uri};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::proxy::matcher::Matcher;

use super::conns::{ConnSet, PooledBody};
use super::mock::{MockBody, MockUpstream};
use crate::config::schema::TlsConfig;
use crate::transport::{client_tls, describe, https, pooled};

/// The port of an `http://` URL that names none.
const DEFAULT_HTTP_PORT: u16 = 80;

/// A response body from any transport.
pub enum UpstreamBody {
    /// From hyper-util's pooled client (HTTPS, proxies).
    Hyper(Incoming),
    /// From a provider's own HTTP/1.1 connection (plain HTTP, Unix socket).
    Pooled(PooledBody),
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
            Self::Pooled(body) => std::pin::Pin::new(body)
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
            Self::Pooled(body) => body.is_end_stream(),
            Self::Mock(body) => body.is_end_stream(),
        }
    }
}

/// A transport-level failure (no HTTP response).
#[derive(Debug)]
pub struct TransportError(pub String);

/// Where an upstream is and how to reach it.
pub struct Endpoint {
    /// `scheme://authority` (`http://localhost` over a Unix socket).
    origin: String,
    /// `origin`, parsed once: each request's URI is built from it and the path.
    base: Option<(Scheme, Authority)>,
    /// Path prefix from the base URL, without a trailing slash (e.g. `/v1`).
    prefix: String,
    transport: Transport,
}

enum Transport {
    Tls(Client<HttpsConnector<HttpConnector>, Full<Bytes>>),
    Proxied(Client<HttpsConnector<Tunnel<HttpConnector>>, Full<Bytes>>),
    /// Plain HTTP over TCP (`unix: false`) or a Unix socket (`unix: true`).
    Plain {
        conns: ConnSet,
        unix: bool,
    },
    Mock(MockUpstream),
}

impl Endpoint {
    /// An HTTP(S) endpoint at `base_url`, through the `HTTPS_PROXY`/`HTTP_PROXY` tunnel the
    /// environment names for it (unless `NO_PROXY` exempts it), trusting `tls`'s CA bundle and
    /// presenting its client certificate when given.
    pub fn tcp(
        base_url: &str,
        connect_timeout: Duration,
        tls: Option<&TlsConfig>,
    ) -> Result<Self, String> {
        let (origin, prefix) = split_base_url(base_url)?;
        let base = parse_origin(&origin);
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(connect_timeout));
        let origin_uri: Uri = origin
            .parse()
            .map_err(|e| format!("invalid base URL `{base_url}`: {e}"))?;
        let transport = match (Matcher::from_env().intercept(&origin_uri), &base) {
            (Some(proxy), _) => {
                let mut tunnel = Tunnel::new(proxy.uri().clone(), http);
                if let Some(auth) = proxy.basic_auth() {
                    tunnel = tunnel.with_auth(auth.clone());
                }
                Transport::Proxied(pooled(https(client_tls(tls)?, tunnel)))
            }
            (None, Some((scheme, authority))) if *scheme == Scheme::HTTP => {
                let (address, host) = plain_target(authority);
                Transport::Plain {
                    conns: ConnSet::tcp(address, &host, connect_timeout)?,
                    unix: false,
                }
            }
            (None, _) => Transport::Tls(pooled(https(client_tls(tls)?, http))),
        };
        Ok(Self {
            base,
            origin,
            prefix,
            transport,
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
        let origin = "http://localhost".to_owned();
        Ok(Self {
            base: parse_origin(&origin),
            origin,
            prefix,
            transport: Transport::Plain {
                conns: ConnSet::unix(socket),
                unix: true,
            },
        })
    }

    /// The in-process mock.
    pub fn mock(mock: MockUpstream) -> Self {
        let origin = "http://mock".to_owned();
        Self {
            base: parse_origin(&origin),
            origin,
            prefix: "/v1".to_owned(),
            transport: Transport::Mock(mock),
        }
    }

    /// The URI for `path` (which starts with `/`) under the base URL.
    pub fn uri(&self, path: &str) -> Result<Uri, TransportError> {
        let mut full_path = String::with_capacity(self.prefix.len() + path.len());
        full_path.push_str(&self.prefix);
        full_path.push_str(path);
        self.uri_at(full_path)
    }

    /// The URI for `path` at the origin, ignoring the base URL's path prefix (health checks
    /// such as vLLM's `/health` live at the root, beside `/v1`).
    pub fn origin_uri(&self, full_path: &str) -> Result<Uri, TransportError> {
        self.uri_at(full_path.to_owned())
    }

    /// The URI of `full_path` (the path and query as sent), built from the parsed origin rather
    /// than parsed back from text on every request.
    fn uri_at(&self, full_path: String) -> Result<Uri, TransportError> {
        let invalid = |detail: &dyn std::fmt::Display| {
            TransportError(format!("invalid upstream path {full_path:?}: {detail}"))
        };
        if !full_path.starts_with('/') {
            return Err(invalid(&"it must start with `/`"));
        }
        let path = PathAndQuery::try_from(full_path.as_str()).map_err(|e| invalid(&e))?;
        match &self.base {
            Some((scheme, authority)) => Uri::builder()
                .scheme(scheme.clone())
                .authority(authority.clone())
                .path_and_query(path)
                .build()
                .map_err(|e| invalid(&e)),
            None => Err(invalid(&"the endpoint has no origin")),
        }
    }

    /// The host the requests go to, for logs and spans.
    pub fn host(&self) -> &str {
        match &self.transport {
            Transport::Plain { unix: true, .. } => "unix",
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
        let sent = match &self.transport {
            Transport::Tls(client) => client.request(request).await,
            Transport::Proxied(client) => client.request(request).await,
            Transport::Plain { conns, .. } => {
                return Ok(conns.send(request).await?.map(UpstreamBody::Pooled));
            }
            Transport::Mock(mock) => return Ok(mock.handle(request).await.map(UpstreamBody::Mock)),
        };
        sent.map(|r| r.map(UpstreamBody::Hyper))
            .map_err(|e| TransportError(describe(&e)))
    }
}

/// The scheme and authority of an origin `split_base_url` made (always both).
fn parse_origin(origin: &str) -> Option<(Scheme, Authority)> {
    let uri: Uri = origin.parse().ok()?;
    let parts = uri.into_parts();
    parts.scheme.zip(parts.authority)
}

/// The `host:port` to connect to (port 80 when the URL names none) and the `Host` header
/// (`host[:port]` as written, without any user info).
fn plain_target(authority: &Authority) -> (String, String) {
    let host = authority.host();
    let port = authority.port_u16();
    let header = match port {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    (
        format!("{host}:{}", port.unwrap_or(DEFAULT_HTTP_PORT)),
        header,
    )
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
    fn plain_http_upstreams_are_dialled_at_their_port_with_their_host() {
        // authority -> (address dialled, `Host` sent)
        let cases = [
            ("vllm:8000", ("vllm:8000", "vllm:8000")),
            ("ollama", ("ollama:80", "ollama")),
            ("[::1]:11434", ("[::1]:11434", "[::1]:11434")),
            (
                "user:secret@models.internal:81",
                ("models.internal:81", "models.internal:81"),
            ),
        ];
        for (authority, (address, host)) in cases {
            let parsed: Authority = authority.parse().unwrap();
            assert_eq!(
                plain_target(&parsed),
                (address.to_owned(), host.to_owned()),
                "{authority}"
            );
        }
    }

    #[test]
    fn unix_endpoints_keep_the_path_prefix() {
        let endpoint =
            Endpoint::unix("/tmp/up.sock".into(), Some("http://ignored/v1"), "/v1").unwrap();
        let uri = endpoint.uri("/chat/completions").unwrap();
        assert_eq!(uri.path(), "/v1/chat/completions");
        assert_eq!(endpoint.host(), "unix");
        assert!(endpoint.uri("/x y").is_err());
        for bad in ["/x y", "/a\nb", "no-slash", ""] {
            assert!(endpoint.origin_uri(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tcp_endpoints_build_uris_under_their_base() {
        let endpoint = Endpoint::tcp("http://vllm:8000/v1/", Duration::from_secs(1), None).unwrap();
        let cases = [
            (
                "/chat/completions",
                Ok("http://vllm:8000/v1/chat/completions"),
            ),
            ("/models?limit=5", Ok("http://vllm:8000/v1/models?limit=5")),
            ("/x y", Err(())),
            // Whatever follows the prefix stays in the path: the host cannot change.
            ("@evil.example/x", Ok("http://vllm:8000/v1@evil.example/x")),
            ("", Ok("http://vllm:8000/v1")),
        ];
        for (path, want) in cases {
            match (endpoint.uri(path), want) {
                (Ok(uri), Ok(want)) => assert_eq!(uri.to_string(), want, "{path:?}"),
                (Err(_), Err(())) => {}
                (got, _) => panic!("{path:?}: {got:?}"),
            }
        }
        assert_eq!(
            endpoint.origin_uri("/health").unwrap().to_string(),
            "http://vllm:8000/health"
        );
        assert!(endpoint.origin_uri("health").is_err());
    }
}
