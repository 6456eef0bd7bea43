//! Google Vertex AI adapter: Gemini and Claude under one project and location, with the pod's
//! Google identity as a bearer token ([`crate::cloud::google`]). The publisher of a model (its
//! name: `claude-*` is Anthropic's, anything else Google's; or the provider's `publisher`; or a
//! deployment's, which reaches here as `publishers/{publisher}/models/{model}`) picks the wire
//! format: Gemini's `generateContent` (translation shared with [`super::gemini`]) or Anthropic's
//! Messages through `rawPredict`/`streamRawPredict` (translation and passthrough shared with
//! [`super::anthropic`]), whose body names the Vertex API version and no model. Every value in
//! the URL (project, location, model) is one percent-encoded segment.

pub mod embed;

use std::sync::Arc;

use bytes::Bytes;
use http::StatusCode;

use super::bearer;
use super::http::Endpoint;
use super::translate::typed_request;
use super::{BoxFuture, Complete, MessagesCall, Provider, Reply, UpstreamClient, call, path};
use super::{anthropic, gemini};
use crate::cloud::{RefreshTiming, google, process_env};
use crate::config::providers::Publisher;
use crate::config::schema::{ProviderConfig, ProviderKind, ProviderSettings};
use crate::error::GatewayError;
use crate::types::anthropic::MessagesRequest;
use crate::types::json::json_string;
use crate::types::{ChatRequest, EmbeddingsRequest};
use embed::PredictResponse;

/// The Anthropic API version Vertex AI takes, in the body (not a header).
pub const ANTHROPIC_VERSION: &str = "vertex-2023-10-16";
/// The prefix of a model named with its publisher.
const PUBLISHERS_PREFIX: &str = "publishers/";

/// A Vertex AI upstream.
pub struct Vertex {
    client: UpstreamClient,
    /// `/v1/projects/{project}/locations/{location}`, encoded.
    root: String,
    publisher: Option<Publisher>,
}

impl Vertex {
    /// An adapter for `config` on `endpoint`, authorized with the Google identity its
    /// `credentials_file` or the pod's environment names.
    pub fn new(config: &ProviderConfig, endpoint: Arc<Endpoint>) -> Result<Self, String> {
        let ProviderSettings::Vertex(settings) = &config.settings else {
            return Err(format!(
                "provider `{}`: vertex settings missing",
                config.name
            ));
        };
        let segment = |value: &str, field: &str| {
            path::segment(value, field)
                .map(|s| s.into_owned())
                .map_err(|e| format!("provider `{}`: {e}", config.name))
        };
        let root = format!(
            "/v1/projects/{}/locations/{}",
            segment(&settings.project, "project")?,
            segment(&settings.location, "location")?
        );
        let key = google::identity_key(settings.credentials_file.as_deref(), &process_env);
        let auth = bearer::or_unavailable(&config.name, &key, google::CLOUD, || {
            google::source(
                &config.name,
                settings.credentials_file.as_deref(),
                &process_env,
                RefreshTiming::default(),
            )
        });
        Ok(Self {
            client: UpstreamClient::new(config, endpoint, &[])?.with_auth(auth),
            root,
            publisher: settings.publisher,
        })
    }

    /// The model's publisher and its path (`{root}/publishers/{publisher}/models/{model}`).
    fn target(&self, upstream_model: &str) -> Result<(Publisher, String), GatewayError> {
        let (publisher, model) = split_publisher(upstream_model, self.publisher)?;
        // `@` (Claude's version separator) is allowed in a path segment and kept as Vertex's own
        // clients send it.
        let model = path::segment(model, "model")?.replace("%40", "@");
        let path = format!(
            "{}/publishers/{}/models/{model}",
            self.root,
            publisher.as_str()
        );
        Ok((publisher, path))
    }

    /// The target, which must be one of Anthropic's models.
    fn claude(&self, upstream_model: &str) -> Result<Option<String>, GatewayError> {
        let (publisher, path) = self.target(upstream_model)?;
        Ok((publisher == Publisher::Anthropic).then_some(path))
    }
}

/// The publisher and bare model of `upstream_model`: `publishers/{p}/models/{m}` names both;
/// a bare name takes the configured publisher, else the one its name implies.
pub fn split_publisher(
    upstream_model: &str,
    configured: Option<Publisher>,
) -> Result<(Publisher, &str), GatewayError> {
    let Some(rest) = upstream_model.strip_prefix(PUBLISHERS_PREFIX) else {
        let publisher = configured.unwrap_or_else(|| Publisher::of_model(upstream_model));
        return Ok((publisher, upstream_model));
    };
    let parsed = rest.split_once("/models/").and_then(|(publisher, model)| {
        let publisher = match publisher {
            "google" => Publisher::Google,
            "anthropic" => Publisher::Anthropic,
            _ => return None,
        };
        Some((publisher, model))
    });
    parsed.ok_or_else(|| {
        GatewayError::invalid(
            "Invalid model: a Vertex AI model with its publisher is `publishers/{google|anthropic}/models/{model}`.",
            Some("model"),
        )
    })
}

/// A translated Messages body for Claude on Vertex: the `model` left out (the URL names it) and
/// `anthropic_version` set.
fn claude_body(request: &MessagesRequest) -> Result<Vec<u8>, GatewayError> {
    let mut body = serde_json::to_value(request)
        .map_err(|e| GatewayError::Internal(format!("could not encode a request: {e}")))?;
    if let Some(fields) = body.as_object_mut() {
        fields.remove("model");
        fields.insert("anthropic_version".into(), ANTHROPIC_VERSION.into());
    }
    call::encode(&body)
}

impl Provider for Vertex {
    fn client(&self) -> &UpstreamClient {
        &self.client
    }

    fn kind(&self) -> ProviderKind {
        ProviderKind::Vertex
    }

    fn takes_reasoning_effort(&self, upstream_model: &str, effort: &str) -> bool {
        match split_publisher(upstream_model, self.publisher) {
            Ok((Publisher::Anthropic, _)) => super::translate::claude_takes_effort(effort),
            Ok((Publisher::Google, _)) => super::gemini::request::takes_effort(effort),
            Err(_) => true,
        }
    }

    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest<'a>,
        upstream_model: &'a str,
    ) -> BoxFuture<'a, Result<Reply, GatewayError>> {
        Box::pin(async move {
            let (publisher, model_path) = self.target(upstream_model)?;
            if publisher == Publisher::Google {
                return gemini::chat_at(&self.client, request, upstream_model, &model_path).await;
            }
            let (_, model) = split_publisher(upstream_model, self.publisher)?;
            let typed = typed_request(request)?;
            let translated = anthropic::request::translate(&typed, model, None)?;
            let body = claude_body(&translated)?;
            let path = raw_predict(&model_path, request.stream);
            anthropic::chat_at(&self.client, &path, body, request, upstream_model).await
        })
    }

    fn embeddings<'a>(
        &'a self,
        request: &'a EmbeddingsRequest<'a>,
        upstream_model: &'a str,
    ) -> BoxFuture<'a, Result<Complete, GatewayError>> {
        Box::pin(async move {
            let (publisher, model_path) = self.target(upstream_model)?;
            if publisher != Publisher::Google {
                return Err(GatewayError::invalid(
                    format!("Model `{upstream_model}` on Vertex AI does not offer embeddings."),
                    Some("model"),
                ));
            }
            let (_, model) = split_publisher(upstream_model, self.publisher)?;
            let input = gemini::embed::parse(&request.top)?;
            let path = format!("{model_path}:predict");
            // One deadline for every batch: the timeout bounds the client's whole request.
            let deadline = call::deadline(&self.client);
            let mut vectors = Vec::with_capacity(input.texts.len());
            for batch in embed::batches(&input, model) {
                let body = call::encode(&batch)?;
                let (_, answer) =
                    gemini::call_json::<PredictResponse>(&self.client, &path, body, deadline)
                        .await?;
                if answer.predictions.len() != batch.len() {
                    return Err(GatewayError::UpstreamProtocol {
                        provider: self.client.name.clone(),
                        detail: format!(
                            "asked for {} embeddings, got {}",
                            batch.len(),
                            answer.predictions.len()
                        ),
                    });
                }
                vectors.extend(answer.predictions.into_iter().map(|p| p.embeddings));
            }
            let (body, usage) = gemini::embed::to_openai(&vectors, &input, upstream_model);
            Ok(Complete {
                status: StatusCode::OK,
                body: Bytes::from(call::encode(&body)?),
                usage: Some(usage),
            })
        })
    }

    fn messages<'a>(
        &'a self,
        request: &'a MessagesCall<'a>,
        upstream_model: &'a str,
    ) -> Option<BoxFuture<'a, Result<Reply, GatewayError>>> {
        // Only Claude takes Anthropic's format; other models are answered by translation.
        let model_path = match self.claude(upstream_model) {
            Ok(Some(path)) => path,
            Ok(None) => return None,
            Err(error) => return Some(Box::pin(std::future::ready(Err(error)))),
        };
        Some(Box::pin(async move {
            let body = request.top.write_edited(
                &["model"],
                &[("anthropic_version", &json_string(ANTHROPIC_VERSION))],
            );
            let path = raw_predict(&model_path, request.stream);
            anthropic::messages_at(&self.client, &path, body, request.stream).await
        }))
    }

    fn count_tokens<'a>(
        &'a self,
        request: &'a MessagesCall<'a>,
        upstream_model: &'a str,
    ) -> Option<BoxFuture<'a, Result<Complete, GatewayError>>> {
        // Claude's counter is its own model on Vertex, told the model in the body (as
        // Anthropic's Vertex SDK sends it); Gemini's tokens are estimated by the caller.
        match self.claude(upstream_model) {
            Ok(Some(_)) => {}
            Ok(None) => return None,
            Err(error) => return Some(Box::pin(std::future::ready(Err(error)))),
        }
        Some(Box::pin(async move {
            let (_, model) = split_publisher(upstream_model, self.publisher)?;
            let body = request.top.write_with(&[
                ("model", &json_string(model)),
                ("anthropic_version", &json_string(ANTHROPIC_VERSION)),
            ]);
            let path = format!(
                "{}/publishers/anthropic/models/{COUNT_TOKENS_MODEL}:rawPredict",
                self.root
            );
            let (status, bytes) =
                call::whole(&self.client, &path, body, anthropic::response::errors).await?;
            Ok(Complete {
                status,
                body: bytes,
                usage: None,
            })
        }))
    }
}

/// The model name of Claude's token counter, under Anthropic's publisher path.
const COUNT_TOKENS_MODEL: &str = "count-tokens";

/// `rawPredict`, or `streamRawPredict` for a stream.
fn raw_predict(model_path: &str, stream: bool) -> String {
    let method = if stream {
        "streamRawPredict"
    } else {
        "rawPredict"
    };
    format!("{model_path}:{method}")
}

#[cfg(test)]
mod tests;
