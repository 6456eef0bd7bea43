//! Upstream providers behind one [`Provider`] trait. Each adapter encodes the canonical request
//! for its upstream and decodes the answer (a complete body or a client-format stream); the
//! router and the API layer never see a provider's wire format. Shared plumbing: `http`
//! (transports), `call` (send, read, map errors), `translate` (pieces every translating adapter
//! needs).

pub mod anthropic;
pub mod auth;
pub mod bearer;
pub mod bedrock;
pub mod call;
pub mod conns;
pub mod errors;
pub mod gemini;
pub mod http;
pub mod mock;
pub mod ollama;
pub mod openai;
pub mod path;
pub mod translate;
pub mod vertex;
pub mod via_responses;

use std::sync::Arc;
use std::time::Duration;

use ::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use bytes::Bytes;

use crate::config::schema::{
    MockConfig, ProviderConfig, ProviderKind, ProviderSettings, TlsConfig,
};
use crate::error::GatewayError;
use crate::stream::ClientStream;
use crate::types::chat::ChatDialect;
use crate::types::{ChatRequest, EmbeddingsRequest, Usage};

pub use crate::task::BoxFuture;

/// An upstream's answer once its status and headers are in.
pub enum Reply {
    /// A whole (non-stream) body, already in the client's format.
    Complete(Complete),
    /// A stream whose frames are already in the client's format.
    Stream(Box<dyn ClientStream>),
    /// Any other body, forwarded as the upstream sent it (passthrough endpoints).
    Forward(Forward),
}

/// A body passed through with its own status and content type.
pub struct Forward {
    /// Status for the client.
    pub status: StatusCode,
    /// The upstream's content type.
    pub content_type: Option<HeaderValue>,
    /// The body, chunk by chunk.
    pub body: Box<dyn ClientStream>,
}

/// A request to an OpenAI endpoint the gateway passes through (Responses, completions,
/// images, audio, moderations), its `model` already rewritten for the deployment.
pub struct PassthroughCall<'a> {
    /// The operation path under the API root, e.g. `responses` or `audio/transcriptions`.
    pub operation: &'a str,
    /// The client's content type (JSON or multipart).
    pub content_type: Option<&'a HeaderValue>,
    /// The body to send.
    pub body: Vec<u8>,
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
    /// How this adapter calls its upstream.
    fn client(&self) -> &UpstreamClient;
    /// The configured provider name.
    fn name(&self) -> &str {
        &self.client().name
    }
    /// The upstream's host (`server.address` of spans).
    fn server_address(&self) -> &str {
        self.client().endpoint.host()
    }
    /// The wire format.
    fn kind(&self) -> ProviderKind;
    /// `POST /chat/completions`, streaming or not; the reply is in OpenAI's format.
    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest<'a>,
        upstream_model: &'a str,
    ) -> BoxFuture<'a, Result<Reply, GatewayError>>;
    /// `POST /embeddings`; the reply is in OpenAI's format.
    fn embeddings<'a>(
        &'a self,
        request: &'a EmbeddingsRequest<'a>,
        upstream_model: &'a str,
    ) -> BoxFuture<'a, Result<Complete, GatewayError>>;
    /// The OpenAI chat dialect a request built by translation must use for this upstream.
    fn chat_dialect(&self) -> ChatDialect {
        ChatDialect::Translated
    }
    /// Anthropic Messages passthrough (`POST /v1/messages`, body and stream in Anthropic's
    /// format, only `model` replaced). Only Anthropic adapters answer; others return `None`
    /// and the caller translates instead.
    fn messages<'a>(
        &'a self,
        _request: &'a MessagesCall<'a>,
        _upstream_model: &'a str,
    ) -> Option<BoxFuture<'a, Result<Reply, GatewayError>>> {
        None
    }
    /// Whether a request's `reasoning_effort` of `effort` means something to this upstream for
    /// `upstream_model` (a thinking budget, a thinking level, or passed to an upstream that
    /// decides itself). Where it does not, a Responses request's `reasoning.effort` is dropped
    /// with a warning instead of failing.
    fn takes_reasoning_effort(&self, _upstream_model: &str, _effort: &str) -> bool {
        true
    }
    /// Whether the upstream serves OpenAI's Responses API itself (then `/v1/responses` goes to
    /// it through [`Provider::passthrough`]; otherwise the gateway translates it into `chat`).
    fn speaks_responses(&self) -> bool {
        false
    }
    /// Passthrough of another OpenAI endpoint; `None` when this upstream does not speak OpenAI's
    /// API (the caller answers 400).
    fn passthrough<'a>(
        &'a self,
        _call: PassthroughCall<'a>,
        _upstream_model: &'a str,
    ) -> Option<BoxFuture<'a, Result<Reply, GatewayError>>> {
        None
    }
    /// Anthropic `POST /v1/messages/count_tokens` passthrough; `None` when the upstream cannot
    /// count (the caller estimates).
    fn count_tokens<'a>(
        &'a self,
        _request: &'a MessagesCall<'a>,
        _upstream_model: &'a str,
    ) -> Option<BoxFuture<'a, Result<Complete, GatewayError>>> {
        None
    }
}

/// An Anthropic Messages request read at the top level, for passthrough.
#[derive(Debug)]
pub struct MessagesCall<'a> {
    /// The request object with raw values.
    pub top: crate::types::TopLevel<'a>,
    /// Whether the client asked for a stream.
    pub stream: bool,
}

/// `User-Agent` sent upstream.
pub const USER_AGENT: &str = concat!("llm-sidecar/", env!("CARGO_PKG_VERSION"));

/// How an adapter calls its upstream: the provider's name, its connection pool, the headers
/// every request carries, and its timeouts. Every adapter holds one.
pub struct UpstreamClient {
    /// Provider name.
    pub name: String,
    /// Where the upstream is (shared across config generations while it is unchanged).
    pub endpoint: Arc<http::Endpoint>,
    /// Headers sent with every request: content type, user agent, the adapter's auth headers
    /// and the configured `extra_headers`. Built once, cloned per request.
    pub headers: HeaderMap,
    /// Whole-request timeout.
    pub timeout: Duration,
    /// Longest silence between stream chunks.
    pub stream_idle_timeout: Duration,
    /// Authorization computed per request (signatures, refreshed tokens), when the upstream
    /// needs more than the static headers.
    pub auth: Option<Arc<dyn auth::Authorize>>,
}

impl UpstreamClient {
    /// Wraps an upstream stream body with `translate` and this provider's idle bound.
    pub fn stream<B, T>(&self, body: B, translate: T) -> crate::stream::Translated<B, T> {
        crate::stream::Translated::new(body, translate, &self.name)
            .with_idle_timeout(self.stream_idle_timeout)
    }
}

impl UpstreamClient {
    /// Settings for `config` on `endpoint`, with the adapter's `auth` headers.
    pub fn new(
        config: &ProviderConfig,
        endpoint: Arc<http::Endpoint>,
        auth: &[(&str, Option<String>)],
    ) -> Result<Self, String> {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(header::USER_AGENT, HeaderValue::from_static(USER_AGENT));
        let configured = config
            .extra_headers
            .iter()
            .map(|(k, v)| (k.as_str(), Some(v.expose().to_owned())));
        for (name, value) in auth.iter().cloned().chain(configured) {
            let Some(value) = value else { continue };
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("invalid header name `{name}`"))?;
            let mut value = HeaderValue::try_from(value)
                .map_err(|_| format!("provider `{}`: a header value is not valid", config.name))?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        Ok(Self {
            name: config.name.clone(),
            endpoint,
            headers,
            timeout: config.timeout,
            stream_idle_timeout: config.stream_idle_timeout,
            auth: None,
        })
    }

    /// The same client, authorizing every request with `auth`.
    pub fn with_auth(mut self, auth: Arc<dyn auth::Authorize>) -> Self {
        self.auth = Some(auth);
        self
    }
}

/// What identifies an upstream connection pool: a new config generation reuses the pool (and
/// its warm connections) when none of these changed.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointKey {
    kind: ProviderKind,
    base_url: Option<String>,
    unix_socket: Option<String>,
    connect_timeout: Duration,
    tls: Option<TlsConfig>,
    settings: ProviderSettings,
}

impl EndpointKey {
    /// The key of a configured provider.
    pub fn of(config: &ProviderConfig) -> Self {
        Self {
            kind: config.kind(),
            base_url: config.base_url.clone(),
            unix_socket: config.unix_socket.clone(),
            connect_timeout: config.connect_timeout,
            tls: config.tls.clone(),
            settings: config.settings.clone(),
        }
    }
}

/// Builds the transport (pooled client) for a configured provider.
pub fn endpoint(config: &ProviderConfig) -> Result<http::Endpoint, String> {
    let kind = config.kind();
    match (kind, &config.unix_socket, &config.base_url) {
        (ProviderKind::Mock, _, _) => {
            let knobs = match &config.settings {
                ProviderSettings::Mock(settings) => settings.mock.clone(),
                _ => MockConfig::default(),
            };
            Ok(http::Endpoint::mock(mock::MockUpstream::new(knobs)))
        }
        (_, Some(socket), base) => {
            let default_prefix = if kind.is_openai_style() {
                openai::DEFAULT_PATH_PREFIX
            } else {
                ""
            };
            http::Endpoint::unix(socket.into(), base.as_deref(), default_prefix)
        }
        (kind, None, base) => {
            let base = match (base, &config.settings) {
                (Some(base), _) => Some(base.clone()),
                (None, ProviderSettings::Bedrock(settings)) => {
                    settings.base_url_with(&crate::config::schema::process_env)
                }
                (None, ProviderSettings::Vertex(settings)) => Some(settings.default_base_url()),
                (None, _) => kind.default_base_url().map(str::to_owned),
            }
            .ok_or_else(|| format!("provider `{}` needs a base_url", config.name))?;
            http::Endpoint::tcp(&base, config.connect_timeout, config.tls.as_ref())
        }
    }
}

/// Builds the adapter for one configured provider on `endpoint`.
pub fn build(
    config: &ProviderConfig,
    endpoint: Arc<http::Endpoint>,
) -> Result<Box<dyn Provider>, String> {
    match config.kind() {
        ProviderKind::Openai
        | ProviderKind::Vllm
        | ProviderKind::OpenaiCompatible
        | ProviderKind::Mock
        | ProviderKind::Azure => Ok(Box::new(openai::OpenAi::new(config, endpoint)?)),
        ProviderKind::Anthropic => Ok(Box::new(anthropic::Anthropic::new(config, endpoint)?)),
        ProviderKind::Gemini => Ok(Box::new(gemini::Gemini::new(config, endpoint)?)),
        ProviderKind::Ollama => Ok(Box::new(ollama::Ollama::new(config, endpoint)?)),
        ProviderKind::Bedrock => Ok(Box::new(bedrock::Bedrock::new(config, endpoint)?)),
        ProviderKind::Vertex => Ok(Box::new(vertex::Vertex::new(config, endpoint)?)),
    }
}
