//! Google Gemini API (`generativelanguage.googleapis.com`) adapter. OpenAI chat requests are
//! translated to `generateContent` (`streamGenerateContent?alt=sse` for streams) and the answers
//! back to OpenAI's format; embeddings go to `batchEmbedContents`. The key travels in the
//! `x-goog-api-key` header, never in the URL (URLs end up in logs). Translation lives in pure
//! modules (`request`, `response`, `stream`, `embed`, `errors`); this file only does the calls.

pub mod embed;
pub mod errors;
pub mod request;
pub mod response;
pub mod schema;
pub mod stream;
pub mod wire;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::StatusCode;
use serde::de::DeserializeOwned;

use super::http::Endpoint;
use super::translate::typed_request;
use super::{BoxFuture, Complete, Provider, Reply, UpstreamClient, call, path};
use crate::config::schema::{ProviderConfig, ProviderKind};
use crate::error::GatewayError;
use crate::types::{ChatRequest, EmbeddingsRequest};
use stream::GeminiStream;
use wire::{BatchEmbedResponse, GenerateContentResponse};

/// API version prefix of every path.
const API_PREFIX: &str = "/v1beta";
/// Header carrying the API key.
const KEY_HEADER: &str = "x-goog-api-key";

/// A Gemini upstream.
pub struct Gemini {
    client: UpstreamClient,
}

impl Gemini {
    /// An adapter for `config` on `endpoint`.
    pub fn new(config: &ProviderConfig, endpoint: Arc<Endpoint>) -> Result<Self, String> {
        let key = config.api_key.as_ref().map(|k| k.expose().to_owned());
        Ok(Self {
            client: UpstreamClient::new(config, endpoint, &[(KEY_HEADER, key)])?,
        })
    }

    fn protocol(&self, detail: &dyn std::fmt::Display) -> GatewayError {
        GatewayError::UpstreamProtocol {
            provider: self.client.name.clone(),
            detail: detail.to_string(),
        }
    }
}

/// The resource name of `model`: a bare name is a base model (`models/{model}`), a name with a
/// slash is taken as given (`tunedModels/…`). Model names can come from clients, so anything that
/// could leave its path segments (an empty, `.` or `..` segment, a query, an escape) is refused,
/// and so is a name longer than any resource name ([`path::MAX_SEGMENT_BYTES`]).
pub fn resource(model: &str) -> Result<String, GatewayError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '/');
    let valid = !model.is_empty()
        && model.len() <= path::MAX_SEGMENT_BYTES
        && model.chars().all(allowed)
        && model
            .split('/')
            .all(|segment| !matches!(segment, "" | "." | ".."));
    if !valid {
        return Err(GatewayError::invalid(
            format!(
                "Invalid model name '{}' for a Gemini upstream.",
                &model[..model.floor_char_boundary(path::MAX_SEGMENT_BYTES)]
            ),
            Some("model"),
        ));
    }
    Ok(if model.contains('/') {
        model.to_owned()
    } else {
        format!("models/{model}")
    })
}

/// POSTs `body` to `path` on `client` and parses the successful answer as `T` (Gemini's error
/// envelope mapped on failure).
pub async fn call_json<T: DeserializeOwned>(
    client: &UpstreamClient,
    path: &str,
    body: Vec<u8>,
    deadline: Instant,
) -> Result<(StatusCode, T), GatewayError> {
    let response = call::post(client, path, body, deadline, errors::gemini).await?;
    let status = response.status();
    let bytes = call::read(
        client,
        response.into_body(),
        call::MAX_RESPONSE_BYTES,
        deadline,
    )
    .await?;
    Ok((status, call::parse_answer(&client.name, &bytes)?))
}

/// An OpenAI chat request through `generateContent` on `client`: `model_path` is the model's
/// path without the method (`/v1beta/models/gemini-…` on Gemini's API,
/// `/v1/projects/…/publishers/google/models/gemini-…` on Vertex AI, whose wire format is the
/// same).
pub async fn chat_at(
    client: &UpstreamClient,
    request: &ChatRequest<'_>,
    upstream_model: &str,
    model_path: &str,
) -> Result<Reply, GatewayError> {
    let typed = typed_request(request)?;
    if request.stream && typed.n.is_some_and(|n| n > 1) {
        return Err(GatewayError::invalid(
            "Streaming with n > 1 is not supported for Gemini models.",
            Some("n"),
        ));
    }
    let body = call::encode(&request::to_gemini(&typed)?)?;
    let deadline = call::deadline(client);
    if !request.stream {
        let path = format!("{model_path}:generateContent");
        let (status, answer) =
            call_json::<GenerateContentResponse>(client, &path, body, deadline).await?;
        if let Some(error) = &answer.error {
            return Err(errors::from_api_error(&client.name, None, error, None));
        }
        let completion = response::to_openai(&answer, upstream_model);
        return Ok(Reply::Complete(Complete {
            status,
            body: Bytes::from(call::encode(&completion)?),
            usage: answer.usage_metadata.as_ref().map(response::usage),
        }));
    }
    let path = format!("{model_path}:streamGenerateContent?alt=sse");
    let upstream = call::post(client, &path, body, deadline, errors::gemini).await?;
    let translate = GeminiStream::new(&client.name, upstream_model, request.include_usage);
    Ok(Reply::Stream(Box::new(
        client.stream(upstream.into_body(), translate),
    )))
}

impl Provider for Gemini {
    fn client(&self) -> &UpstreamClient {
        &self.client
    }

    fn kind(&self) -> ProviderKind {
        ProviderKind::Gemini
    }

    fn takes_reasoning_effort(&self, _upstream_model: &str, effort: &str) -> bool {
        request::takes_effort(effort)
    }

    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest<'a>,
        upstream_model: &'a str,
    ) -> BoxFuture<'a, Result<Reply, GatewayError>> {
        Box::pin(async move {
            let model_path = format!("{API_PREFIX}/{}", resource(upstream_model)?);
            chat_at(&self.client, request, upstream_model, &model_path).await
        })
    }

    fn embeddings<'a>(
        &'a self,
        request: &'a EmbeddingsRequest<'a>,
        upstream_model: &'a str,
    ) -> BoxFuture<'a, Result<Complete, GatewayError>> {
        Box::pin(async move {
            let input = embed::parse(&request.top)?;
            let resource = resource(upstream_model)?;
            let path = format!("{API_PREFIX}/{resource}:batchEmbedContents");
            // One deadline for every batch: the timeout bounds the client's whole request.
            let deadline = call::deadline(&self.client);
            let mut vectors = Vec::with_capacity(input.texts.len());
            // Gemini caps a batch; larger inputs take several calls, answered in order.
            for batch in embed::batches(&input, &resource) {
                let (_, answer) = call_json::<BatchEmbedResponse>(
                    &self.client,
                    &path,
                    call::encode(&batch)?,
                    deadline,
                )
                .await?;
                if answer.embeddings.len() != batch.requests.len() {
                    return Err(self.protocol(&format!(
                        "asked for {} embeddings, got {}",
                        batch.requests.len(),
                        answer.embeddings.len()
                    )));
                }
                vectors.extend(answer.embeddings);
            }
            let (body, usage) = embed::to_openai(&vectors, &input, upstream_model);
            Ok(Complete {
                status: StatusCode::OK,
                body: Bytes::from(call::encode(&body)?),
                usage: Some(usage),
            })
        })
    }
}
