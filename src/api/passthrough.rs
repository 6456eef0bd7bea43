//! The OpenAI endpoints the gateway routes but does not translate: Responses, legacy completions,
//! moderations, images and audio. The deployment is chosen by the body's `model` (JSON or a
//! multipart form field), `model` is rewritten for it, and the answer — JSON, SSE or audio bytes —
//! goes back as the upstream sent it. Only OpenAI-format upstreams can serve these.

use axum::extract::{Request, State};
use axum::response::Response;
use http::header;

use super::AppState;
use super::intake::{Ask, admit, identify, read, request_id};
use super::respond::{Inbound, respond};
use crate::error::GatewayError;
use crate::providers::PassthroughCall;
use crate::router::attempt;
use crate::telemetry::access::RequestRecord;
use crate::telemetry::genai::RequestFacts;
use crate::types::json::json_string;
use crate::types::request::check_model;
use crate::types::{TopLevel, multipart};

/// The passed-through operations, as paths under the API root.
pub const OPERATIONS: [&str; 9] = [
    "responses",
    "completions",
    "moderations",
    "images/generations",
    "images/edits",
    "images/variations",
    "audio/speech",
    "audio/transcriptions",
    "audio/translations",
];

/// The operation a request path names (`/v1/audio/speech` → `audio/speech`).
fn operation_of(path: &str) -> Option<&'static str> {
    let rest = path
        .strip_prefix("/v1/")
        .or_else(|| path.strip_prefix('/'))?;
    OPERATIONS.iter().copied().find(|op| *op == rest)
}

/// How the body carries its `model`.
enum Form<'a> {
    Json(TopLevel<'a>),
    Multipart(&'a str),
}

impl<'a> Form<'a> {
    fn of(content_type: Option<&'a str>, body: &'a [u8]) -> Result<Self, GatewayError> {
        match content_type.and_then(multipart::boundary) {
            Some(boundary) => Ok(Self::Multipart(boundary)),
            None => crate::types::request::parse_object(body).map(Self::Json),
        }
    }

    /// The `model` the body names: required, given once, and a valid model name.
    fn model(&self, body: &'a [u8]) -> Result<String, GatewayError> {
        let model = match self {
            Self::Json(top) => top
                .get("model")
                .and_then(|raw| serde_json::from_str::<String>(raw.get()).ok()),
            Self::Multipart(boundary) => multipart::field(body, boundary, "model")
                .map_err(|multipart::Duplicate| {
                    GatewayError::invalid(
                        "The form has more than one 'model' field; send it once.",
                        Some("model"),
                    )
                })?
                .and_then(|range| std::str::from_utf8(&body[range]).ok().map(str::to_owned)),
        };
        let model = model.unwrap_or_default();
        check_model(&model)?;
        Ok(model)
    }

    fn is_stream(&self) -> bool {
        matches!(self, Self::Json(top) if top.get("stream").is_some_and(|raw| raw.get() == "true"))
    }

    fn with_model(&self, body: &[u8], model: &str) -> Vec<u8> {
        match self {
            Self::Json(top) => top.write_with(&[("model", &json_string(model))]),
            Self::Multipart(boundary) => match multipart::field(body, boundary, "model") {
                Ok(Some(range)) => multipart::replace(body, range, model),
                // `model` found it exactly once before this request was admitted.
                Ok(None) | Err(_) => body.to_vec(),
            },
        }
    }
}

/// `POST /v1/{responses,completions,moderations,images/*,audio/*}`.
pub async fn forward(State(state): State<AppState>, request: Request) -> Response {
    let runtime = state.runtime.load_full();
    let (parts, body) = request.into_parts();
    let Some(operation) = operation_of(parts.uri.path()) else {
        let error = GatewayError::UnknownRoute {
            method: parts.method.to_string(),
            path: parts.uri.path().to_owned(),
        };
        return respond(
            Err(error),
            RequestRecord::start("passthrough", request_id(&parts), &parts),
            Inbound::OpenAi,
        );
    };
    let mut record = RequestRecord::start(operation, request_id(&parts), &parts);
    let result = async {
        let identity = identify(&runtime, &parts, &mut record)?;
        let bytes = read(&runtime, &parts, body).await?;
        let content_type = parts.headers.get(header::CONTENT_TYPE);
        let form = Form::of(content_type.and_then(|v| v.to_str().ok()), &bytes)?;
        record.stream = form.is_stream();
        if let Form::Json(top) = &form {
            record.facts = RequestFacts::read(top, None);
        }
        let model = form.model(&bytes)?;
        let ask = Ask {
            model: &model,
            body: &bytes,
            max_tokens: None,
        };
        admit(&state, &runtime, &identity, &ask, &mut record).await?;
        let routed = attempt::Request {
            router: &runtime.router,
            model: &model,
            record: &mut record,
        };
        let (form, bytes) = (&form, &bytes);
        attempt::run(routed, |provider, upstream_model| {
            Box::pin(async move {
                let call = PassthroughCall {
                    operation,
                    content_type,
                    body: form.with_model(bytes, &upstream_model),
                };
                match provider.passthrough(call, &upstream_model) {
                    Some(answer) => answer.await,
                    None => Err(unsupported(
                        provider.name(),
                        provider.kind().as_str(),
                        operation,
                    )),
                }
            })
        })
        .await
    }
    .await;
    respond(result, record, Inbound::OpenAi)
}

fn unsupported(provider: &str, kind: &str, operation: &str) -> GatewayError {
    GatewayError::invalid(
        format!(
            "Provider `{provider}` (type {kind}) cannot serve /v1/{operation}; route this model to an OpenAI-compatible provider."
        ),
        Some("model"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_from_paths() {
        let cases = [
            ("/v1/responses", Some("responses")),
            ("/audio/speech", Some("audio/speech")),
            ("/v1/images/edits", Some("images/edits")),
            ("/v1/chat/completions", None),
            ("/v2/responses", None),
        ];
        for (path, want) in cases {
            assert_eq!(operation_of(path), want, "{path}");
        }
    }
}
