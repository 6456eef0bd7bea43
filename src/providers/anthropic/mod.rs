//! The Anthropic Messages API adapter: OpenAI chat requests are translated (`request`), answers
//! and errors translated back (`response`, `stream`); Anthropic clients' requests pass through
//! untouched with only `model` replaced. Headers: `x-api-key`, `anthropic-version`, and
//! `anthropic-beta` when configured.

pub mod request;
pub mod response;
pub mod stream;

use std::sync::Arc;

use serde::Deserialize;

use super::http::Endpoint;
use super::translate::{new_completion_id, typed_request};
use super::{BoxFuture, Complete, MessagesCall, Provider, Reply, UpstreamClient, call};
use crate::clock::unix_now;
use crate::config::providers::AnthropicSettings;
use crate::config::schema::{ProviderConfig, ProviderKind, ProviderSettings};
use crate::error::GatewayError;
use crate::stream::openai::ChunkWriter;
use crate::types::anthropic::{API_VERSION, AnthropicUsage, MessagesResponse};
use crate::types::json::json_string;
use crate::types::{ChatRequest, EmbeddingsRequest};

/// Messages endpoint, under the origin-only base URL.
const MESSAGES_PATH: &str = "/v1/messages";
/// Token counting endpoint.
const COUNT_TOKENS_PATH: &str = "/v1/messages/count_tokens";

/// An Anthropic upstream.
pub struct Anthropic {
    client: UpstreamClient,
    default_max_tokens: Option<u64>,
}

impl Anthropic {
    /// An adapter for `config` on `endpoint`.
    pub fn new(config: &ProviderConfig, endpoint: Arc<Endpoint>) -> Result<Self, String> {
        let key = config.api_key.as_ref().map(|k| k.expose().to_owned());
        let settings = match &config.settings {
            ProviderSettings::Anthropic(settings) => settings.clone(),
            _ => AnthropicSettings::default(),
        };
        let beta = (!settings.anthropic_beta.is_empty()).then(|| settings.anthropic_beta.join(","));
        let auth = [
            ("x-api-key", key),
            ("anthropic-version", Some(API_VERSION.to_owned())),
            ("anthropic-beta", beta),
        ];
        Ok(Self {
            client: UpstreamClient::new(config, endpoint, &auth)?,
            default_max_tokens: settings.default_max_tokens,
        })
    }
}

/// The usage of a whole Anthropic response, read without building the rest.
fn usage_of(body: &[u8]) -> Option<crate::types::Usage> {
    #[derive(Deserialize)]
    struct WithUsage {
        usage: AnthropicUsage,
    }
    serde_json::from_slice::<WithUsage>(body)
        .ok()
        .map(|w| w.usage.to_usage())
}

/// A translated OpenAI chat request (`body`, Anthropic's Messages format) sent to `path` on
/// `client`, the answer translated back (shared with Claude on Vertex AI, which takes the same
/// body at its own paths).
pub async fn chat_at(
    client: &UpstreamClient,
    path: &str,
    body: Vec<u8>,
    request: &ChatRequest<'_>,
    upstream_model: &str,
) -> Result<Reply, GatewayError> {
    if !request.stream {
        let (status, bytes) = call::whole(client, path, body, response::errors).await?;
        let parsed: MessagesResponse = call::parse_answer(&client.name, &bytes)?;
        let (completion, usage) = response::to_openai(parsed);
        let body = call::encode(&completion)?;
        return Ok(Reply::Complete(Complete {
            status,
            body: body.into(),
            usage: Some(usage),
        }));
    }
    let deadline = call::deadline(client);
    let response = call::post(client, path, body, deadline, response::errors).await?;
    let writer = ChunkWriter::new(
        new_completion_id(),
        upstream_model,
        unix_now(),
        request.include_usage,
    );
    let translator = stream::ToOpenAi::new(writer, &client.name);
    Ok(Reply::Stream(Box::new(
        client.stream(response.into_body(), translator),
    )))
}

/// An Anthropic client's Messages request (`body`, already edited for the upstream) passed
/// through to `path` on `client`, the answer passed back as it comes.
pub async fn messages_at(
    client: &UpstreamClient,
    path: &str,
    body: Vec<u8>,
    stream: bool,
) -> Result<Reply, GatewayError> {
    if !stream {
        let (status, bytes) = call::whole(client, path, body, response::errors).await?;
        return Ok(Reply::Complete(Complete {
            status,
            usage: usage_of(&bytes),
            body: bytes,
        }));
    }
    let deadline = call::deadline(client);
    let response = call::post(client, path, body, deadline, response::errors).await?;
    let translator = stream::Passthrough::default();
    Ok(Reply::Stream(Box::new(
        client.stream(response.into_body(), translator),
    )))
}

impl Provider for Anthropic {
    fn client(&self) -> &UpstreamClient {
        &self.client
    }

    fn kind(&self) -> ProviderKind {
        ProviderKind::Anthropic
    }

    fn takes_reasoning_effort(&self, _upstream_model: &str, effort: &str) -> bool {
        super::translate::claude_takes_effort(effort)
    }

    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest<'a>,
        upstream_model: &'a str,
    ) -> BoxFuture<'a, Result<Reply, GatewayError>> {
        Box::pin(async move {
            let typed = typed_request(request)?;
            let translated = request::translate(&typed, upstream_model, self.default_max_tokens)?;
            let body = call::encode(&translated)?;
            chat_at(&self.client, MESSAGES_PATH, body, request, upstream_model).await
        })
    }

    fn embeddings<'a>(
        &'a self,
        _request: &'a EmbeddingsRequest<'a>,
        _upstream_model: &'a str,
    ) -> BoxFuture<'a, Result<Complete, GatewayError>> {
        Box::pin(async move {
            Err(GatewayError::invalid(
                format!(
                    "Provider `{}` (Anthropic) does not offer embeddings.",
                    self.client.name
                ),
                Some("model"),
            ))
        })
    }

    fn messages<'a>(
        &'a self,
        request: &'a MessagesCall<'a>,
        upstream_model: &'a str,
    ) -> Option<BoxFuture<'a, Result<Reply, GatewayError>>> {
        Some(Box::pin(async move {
            let body = request
                .top
                .write_with(&[("model", &json_string(upstream_model))]);
            messages_at(&self.client, MESSAGES_PATH, body, request.stream).await
        }))
    }

    fn count_tokens<'a>(
        &'a self,
        request: &'a MessagesCall<'a>,
        upstream_model: &'a str,
    ) -> Option<BoxFuture<'a, Result<Complete, GatewayError>>> {
        Some(Box::pin(async move {
            let body = request
                .top
                .write_with(&[("model", &json_string(upstream_model))]);
            let (status, bytes) =
                call::whole(&self.client, COUNT_TOKENS_PATH, body, response::errors).await?;
            Ok(Complete {
                status,
                body: bytes,
                usage: None,
            })
        }))
    }
}
