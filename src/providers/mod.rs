//! Upstream providers behind one [`Provider`] trait. Each adapter encodes the canonical request
//! for its upstream and decodes the answer (a complete body or a client-format stream); the
//! router and the API layer never see a provider's wire format.

pub mod http;
pub mod mock;
pub mod openai;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use ::http::StatusCode;
use bytes::Bytes;

use crate::config::schema::{ProviderConfig, ProviderKind};
use crate::config::validate::default_base_url;
use crate::error::GatewayError;
use crate::stream::ClientStream;
use crate::types::{ChatRequest, EmbeddingsRequest, Usage};

/// A boxed future borrowing the request (dyn-compatible async).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An upstream's answer once its status and headers are in.
pub enum Reply {
    /// A whole (non-stream) body, already in the client's format.
    Complete(Complete),
    /// A stream whose frames are already in the client's format.
    Stream(Box<dyn ClientStream>),
}

/// A whole response body with the usage read from it.
#[derive(Debug, Clone)]
pub struct Complete {
    /// Status for the client.
    pub status: StatusCode,
    /// JSON body for the client.
    pub body: Bytes,
    /// Usage found in the body.
    pub usage: Option<Usage>,
}

/// One upstream provider.
pub trait Provider: Send + Sync {
    /// The configured provider name.
    fn name(&self) -> &str;
    /// The wire format.
    fn kind(&self) -> ProviderKind;
    /// `POST /chat/completions`, streaming or not.
    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest<'a>,
        upstream_model: &'a str,
    ) -> BoxFuture<'a, Result<Reply, GatewayError>>;
    /// `POST /embeddings`.
    fn embeddings<'a>(
        &'a self,
        request: &'a EmbeddingsRequest<'a>,
        upstream_model: &'a str,
    ) -> BoxFuture<'a, Result<Complete, GatewayError>>;
}

/// Settings every adapter shares.
pub struct Common {
    /// Provider name.
    pub name: String,
    /// Upstream credential.
    pub api_key: Option<crate::config::Secret>,
    /// Where the upstream is (shared across config generations while it is unchanged).
    pub endpoint: Arc<http::Endpoint>,
    /// Whole-request timeout.
    pub timeout: Duration,
}

/// What identifies an upstream connection pool: a new config generation reuses the pool (and
/// its warm connections) when none of these changed.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointKey {
    kind: ProviderKind,
    base_url: Option<String>,
    unix_socket: Option<String>,
    connect_timeout: Duration,
    mock: Option<crate::config::schema::MockConfig>,
}

impl EndpointKey {
    /// The key of a configured provider.
    pub fn of(config: &ProviderConfig) -> Self {
        Self {
            kind: config.kind,
            base_url: config.base_url.clone(),
            unix_socket: config.unix_socket.clone(),
            connect_timeout: config.connect_timeout,
            mock: config.mock.clone(),
        }
    }
}

/// Builds the transport (pooled client) for a configured provider.
pub fn endpoint(config: &ProviderConfig) -> Result<http::Endpoint, String> {
    match (config.kind, &config.unix_socket, &config.base_url) {
        (ProviderKind::Mock, _, _) => Ok(http::Endpoint::mock(mock::MockUpstream::new(
            config.mock.clone().unwrap_or_default(),
        ))),
        (_, Some(socket), base) => {
            http::Endpoint::unix(socket.into(), base.as_deref(), openai::DEFAULT_PATH_PREFIX)
        }
        (kind, None, base) => {
            let base = base
                .as_deref()
                .or(default_base_url(kind))
                .ok_or_else(|| format!("provider `{}` needs a base_url", config.name))?;
            http::Endpoint::tcp(base, config.connect_timeout)
        }
    }
}

/// Builds the adapter for one configured provider on `endpoint`.
pub fn build(
    config: &ProviderConfig,
    endpoint: Arc<http::Endpoint>,
) -> Result<Box<dyn Provider>, String> {
    let common = Common {
        name: config.name.clone(),
        api_key: config.api_key.clone(),
        endpoint,
        timeout: config.timeout,
    };
    match config.kind {
        ProviderKind::Openai
        | ProviderKind::Vllm
        | ProviderKind::OpenaiCompatible
        | ProviderKind::Mock => Ok(Box::new(openai::OpenAi::new(common, config.kind))),
        other => Err(format!(
            "provider type `{}` is not supported by this build yet",
            other.as_str()
        )),
    }
}
