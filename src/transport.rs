//! Outbound HTTP plumbing shared by everything that calls out (providers, the trace exporter,
//! credential fetchers): rustls client configs (ring, embedded web PKI roots so a scratch image
//! needs no CA bundle, or a private CA and client certificate), TLS-wrapped connectors offering
//! HTTP/2 through ALPN, pooled hyper clients, and error text with its causes.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::Uri;
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::schema::TlsConfig;

/// How long an idle pooled connection is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// A pooled HTTP(S) client.
pub type HttpsClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

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

/// A pooled HTTP(S) client trusting the embedded roots, without proxy: for the gateway's own
/// calls (the trace exporter), not for providers.
pub fn plain_client() -> Result<HttpsClient, String> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    Ok(pooled(https(client_tls(None)?, http)))
}

/// Wraps a connector in TLS (HTTP/2 offered through ALPN, plain HTTP allowed).
pub fn https<C>(tls: Arc<rustls::ClientConfig>, connector: C) -> HttpsConnector<C> {
    hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls.as_ref().clone())
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(connector)
}

/// A pooled client over `connector`.
pub fn pooled<C>(connector: C) -> Client<C, Full<Bytes>>
where
    C: tower::Service<Uri> + Clone + Send + Sync + 'static,
    C::Response: hyper::rt::Read
        + hyper::rt::Write
        + hyper_util::client::legacy::connect::Connection
        + Send
        + Unpin,
    C::Future: Send + Unpin + 'static,
    C::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .build(connector)
}

/// The rustls client config for an upstream: the shared default (web PKI roots compiled in, so a
/// scratch image needs no CA bundle; ring, which builds on musl), or one with the provider's own
/// CA bundle and client certificate.
pub fn client_tls(tls: Option<&TlsConfig>) -> Result<Arc<rustls::ClientConfig>, String> {
    static DEFAULT: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    match tls {
        None => DEFAULT
            .get_or_init(|| build_tls(&TlsConfig::default()))
            .clone(),
        Some(tls) => build_tls(tls),
    }
}

fn build_tls(tls: &TlsConfig) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    match &tls.ca_file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("tls.ca_file `{path}`: {e}"))?;
            for cert in certs {
                let cert = cert.map_err(|e| format!("tls.ca_file `{path}`: {e}"))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("tls.ca_file `{path}`: {e}"))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .with_root_certificates(roots);
    let config = match (&tls.client_cert_file, &tls.client_key_file) {
        (Some(cert_path), Some(key_path)) => {
            let chain = CertificateDer::pem_file_iter(cert_path)
                .map_err(|e| format!("tls.client_cert_file `{cert_path}`: {e}"))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("tls.client_cert_file `{cert_path}`: {e}"))?;
            let key = PrivateKeyDer::from_pem_file(key_path)
                .map_err(|e| format!("tls.client_key_file `{key_path}`: {e}"))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("tls client certificate: {e}"))?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}
