//! The OpenAI endpoints: chat completions (whole and SSE) and embeddings, declared as
//! operations of the handler pipeline, and the model list (identified, not admitted).

use std::sync::Arc;
use std::time::UNIX_EPOCH;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::request::Parts;
use serde::Serialize;

use super::AppState;
use super::pipeline::Operation;
use super::respond::Inbound;
use crate::error::GatewayError;
use crate::providers::{BoxFuture, Provider, Reply};
use crate::request::{Head, identify};
use crate::runtime::Runtime;
use crate::types::request::MAX_MODEL_BYTES;
use crate::types::{ChatRequest, EmbeddingsRequest};

/// `POST /v1/chat/completions`, whole or SSE.
pub struct Chat;

impl Operation for Chat {
    type Parsed<'b> = ChatRequest<'b>;

    fn name(&self) -> &'static str {
        "chat"
    }

    fn inbound(&self) -> Inbound {
        Inbound::OpenAi
    }

    fn parse<'b>(&self, _: &'b Parts, body: &'b [u8]) -> Result<ChatRequest<'b>, GatewayError> {
        ChatRequest::parse(body)
    }

    fn head<'p>(&self, request: &'p ChatRequest<'_>) -> Head<'p> {
        Head {
            model: &request.model,
            stream: request.stream,
            max_tokens: request.max_tokens,
            top: Some(&request.top),
        }
    }

    fn attempt<'r, 'b: 'r>(
        &'r self,
        request: &'r ChatRequest<'b>,
        _: &'r Bytes,
        provider: Arc<dyn Provider>,
        upstream_model: String,
    ) -> BoxFuture<'r, Result<Reply, GatewayError>> {
        Box::pin(async move { provider.chat(request, &upstream_model).await })
    }
}

/// `POST /v1/embeddings`.
pub struct Embeddings;

impl Operation for Embeddings {
    type Parsed<'b> = EmbeddingsRequest<'b>;

    fn name(&self) -> &'static str {
        "embeddings"
    }

    fn inbound(&self) -> Inbound {
        Inbound::OpenAi
    }

    fn parse<'b>(
        &self,
        _: &'b Parts,
        body: &'b [u8],
    ) -> Result<EmbeddingsRequest<'b>, GatewayError> {
        EmbeddingsRequest::parse(body)
    }

    fn head<'p>(&self, request: &'p EmbeddingsRequest<'_>) -> Head<'p> {
        Head {
            model: &request.model,
            stream: false,
            max_tokens: None,
            top: Some(&request.top),
        }
    }

    fn attempt<'r, 'b: 'r>(
        &'r self,
        request: &'r EmbeddingsRequest<'b>,
        _: &'r Bytes,
        provider: Arc<dyn Provider>,
        upstream_model: String,
    ) -> BoxFuture<'r, Result<Reply, GatewayError>> {
        Box::pin(async move {
            provider
                .embeddings(request, &upstream_model)
                .await
                .map(Reply::Complete)
        })
    }
}

#[derive(Serialize)]
struct ModelObject<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    owned_by: &'a str,
}

#[derive(Serialize)]
struct ModelList<'a> {
    object: &'static str,
    data: Vec<ModelObject<'a>>,
}

fn model_object<'a>(runtime: &'a Runtime, name: &'a str) -> Option<ModelObject<'a>> {
    let group = runtime.router.group(name)?;
    let owned_by = group
        .deployments
        .first()
        .map_or("llm-sidecar", |d| d.provider.name());
    let created = runtime
        .applied_at
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Some(ModelObject {
        id: &group.name,
        object: "model",
        created,
        owned_by,
    })
}

/// `GET /v1/models`: the configured model names the caller may use.
pub async fn list_models(State(state): State<AppState>, request: Request) -> Response {
    let runtime = state.runtime.load();
    let identity = match identify(&runtime, request.headers(), request.extensions()) {
        Ok(identity) => identity,
        Err(e) => return e.into_response(),
    };
    let data = runtime
        .router
        .model_names()
        .iter()
        .filter(|name| identity.allows(name))
        .filter_map(|name| model_object(&runtime, name))
        .collect();
    axum::Json(ModelList {
        object: "list",
        data,
    })
    .into_response()
}

/// `GET /v1/models/{id}`; a model the caller may not use does not exist for it. The id is read
/// from the path here rather than by axum's `Path` extractor: an id that is not UTF-8 once
/// percent-decoded (`%FF`) is simply a model that does not exist, answered in OpenAI's format.
pub async fn get_model(State(state): State<AppState>, request: Request) -> Response {
    let runtime = state.runtime.load();
    let identity = match identify(&runtime, request.headers(), request.extensions()) {
        Ok(identity) => identity,
        Err(e) => return e.into_response(),
    };
    let id = model_id(request.uri().path());
    match model_object(&runtime, &id).filter(|_| identity.allows(&id)) {
        Some(model) => axum::Json(model).into_response(),
        None => {
            let shown = &id[..id.floor_char_boundary(MAX_MODEL_BYTES)];
            GatewayError::ModelNotFound(shown.to_owned()).into_response()
        }
    }
}

/// The model id of a `/v1/models/{id}` path, percent-decoded (bytes that are not UTF-8 become
/// U+FFFD, which no configured name contains).
fn model_id(path: &str) -> String {
    let encoded = path
        .strip_prefix("/v1/models/")
        .or_else(|| path.strip_prefix("/models/"))
        .unwrap_or_default();
    String::from_utf8_lossy(&percent_decode(encoded.as_bytes())).into_owned()
}

/// `%XX` escapes decoded; a `%` not followed by two hex digits stays as it is.
fn percent_decode(encoded: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(encoded.len());
    let mut i = 0;
    while let Some(&byte) = encoded.get(i) {
        let hex = encoded
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (byte, hex) {
            (b'%', Some(decoded)) => {
                out.push(decoded);
                i += 3;
            }
            _ => {
                out.push(byte);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_ids_are_read_from_the_path() {
        let cases = [
            ("/v1/models/gpt-4o", "gpt-4o"),
            ("/models/gpt-4o", "gpt-4o"),
            ("/v1/models/openai%2Fgpt-4o", "openai/gpt-4o"),
            ("/v1/models/openai/gpt-4o", "openai/gpt-4o"),
            ("/v1/models/%FF", "\u{fffd}"),
            ("/v1/models/100%", "100%"),
            ("/v1/models/%zz%4", "%zz%4"),
            ("/v1/models/a%20b", "a b"),
        ];
        for (path, want) in cases {
            assert_eq!(model_id(path), want, "{path}");
        }
    }
}
