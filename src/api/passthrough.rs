//! The OpenAI endpoints the gateway routes but does not translate: legacy completions,
//! moderations, images and audio (and Responses, for upstreams that speak it). The deployment is chosen by the body's `model` (JSON or a
//! multipart form field), `model` is rewritten for it, and the answer — JSON, SSE or audio bytes —
//! goes back as the upstream sent it. Only OpenAI-format upstreams can serve these.

use std::sync::Arc;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, header};

use super::pipeline::Operation;
use super::respond::Inbound;
use crate::error::GatewayError;
use crate::providers::{BoxFuture, PassthroughCall, Provider, Reply};
use crate::request::Head;
use crate::types::json::json_string;
use crate::types::request::check_model;
use crate::types::{TopLevel, multipart};

/// The passed-through operations, as paths under the API root (`responses` is its own
/// operation, which passes through to upstreams that speak it).
pub const OPERATIONS: [&str; 8] = [
    "completions",
    "moderations",
    "images/generations",
    "images/edits",
    "images/variations",
    "audio/speech",
    "audio/transcriptions",
    "audio/translations",
];

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

/// `POST /v1/{operation}` for one of [`OPERATIONS`].
pub struct Passthrough(pub &'static str);

/// A passed-through body: how it carries `model`, and the model.
pub struct PassedThrough<'b> {
    form: Form<'b>,
    content_type: Option<&'b HeaderValue>,
    model: String,
}

impl Operation for Passthrough {
    type Parsed<'b> = PassedThrough<'b>;

    fn name(&self) -> &'static str {
        self.0
    }

    fn inbound(&self) -> Inbound {
        Inbound::OpenAi
    }

    fn parse<'b>(
        &self,
        parts: &'b Parts,
        body: &'b [u8],
    ) -> Result<PassedThrough<'b>, GatewayError> {
        let content_type = parts.headers.get(header::CONTENT_TYPE);
        let form = Form::of(content_type.and_then(|v| v.to_str().ok()), body)?;
        let model = form.model(body)?;
        Ok(PassedThrough {
            form,
            content_type,
            model,
        })
    }

    fn head<'p>(&self, parsed: &'p PassedThrough<'_>) -> Head<'p> {
        let top = match &parsed.form {
            Form::Json(top) => Some(top),
            Form::Multipart(_) => None,
        };
        Head {
            model: &parsed.model,
            stream: parsed.form.is_stream(),
            max_tokens: None,
            top,
        }
    }

    fn attempt<'r, 'b: 'r>(
        &'r self,
        parsed: &'r PassedThrough<'b>,
        body: &'r Bytes,
        provider: Arc<dyn Provider>,
        upstream_model: String,
    ) -> BoxFuture<'r, Result<Reply, GatewayError>> {
        Box::pin(async move {
            let call = PassthroughCall {
                operation: self.0,
                content_type: parsed.content_type,
                body: parsed.form.with_model(body, &upstream_model),
            };
            match provider.passthrough(call, &upstream_model) {
                Some(answer) => answer.await,
                None => Err(unsupported(
                    provider.name(),
                    provider.kind().as_str(),
                    self.0,
                )),
            }
        })
    }
}

fn unsupported(provider: &str, kind: &str, operation: &str) -> GatewayError {
    GatewayError::invalid(
        format!(
            "Provider `{provider}` (type {kind}) cannot serve /v1/{operation}; route this model to an OpenAI-compatible provider."
        ),
        Some("model"),
    )
}
