//! The OpenAI Responses API inbound: `POST /v1/responses` (also without `/v1`), routed on the
//! body's `model` like chat. An upstream that speaks the Responses API itself (the provider's
//! `speaks_responses`: OpenAI, Azure) gets the request as a byte pipe, only `model` rewritten;
//! every other upstream gets it translated into an OpenAI chat completion request (`request`),
//! and its answer is translated back into a `response` object (`response`) or Responses stream
//! events (`stream`). Errors are OpenAI's. An operation of the handler pipeline: one runtime
//! snapshot, one request record (operation `responses`), the same limits as chat.

pub mod request;
pub mod response;
pub mod stream;

use std::sync::Arc;

use bytes::Bytes;
use http::request::Parts;

use self::response::Skeleton;
use self::stream::ToResponses;
use super::passthrough::{PassedThrough, Passthrough};
use super::pipeline::{Operation, raw_chat_reply};
use super::respond::Inbound;
use crate::error::GatewayError;
use crate::providers::{BoxFuture, Provider, Reply};
use crate::request::Head;
use crate::stream::Translated;
use crate::tokens;
use crate::types::ChatRequest;
use crate::types::request::check_max_tokens;

/// The operation's name in records and spans, and its path under the API root.
pub const NAME: &str = "responses";

/// `POST /v1/responses`, whole or SSE.
pub struct Responses;

/// A Responses body read at the top level: enough to route it, admit it and pass it through.
pub struct ResponsesHead<'b> {
    /// The body as the passthrough reads it (`model` found, to be rewritten).
    passed: PassedThrough<'b>,
    /// `max_output_tokens`, checked.
    max_output_tokens: Option<u64>,
}

impl Operation for Responses {
    type Parsed<'b> = ResponsesHead<'b>;

    fn name(&self) -> &'static str {
        NAME
    }

    fn inbound(&self) -> Inbound {
        Inbound::OpenAi
    }

    fn parse<'b>(
        &self,
        parts: &'b Parts,
        body: &'b [u8],
    ) -> Result<ResponsesHead<'b>, GatewayError> {
        let passed = Passthrough(NAME).parse(parts, body)?;
        let head = Passthrough(NAME).head(&passed);
        let max_output_tokens = match head.top.and_then(|top| top.get("max_output_tokens")) {
            None => None,
            Some(raw) if raw.get() == "null" => None,
            Some(raw) => Some(serde_json::from_str::<u64>(raw.get()).map_err(|_| {
                GatewayError::invalid(
                    "Invalid type for 'max_output_tokens': expected a non-negative integer.",
                    Some("max_output_tokens"),
                )
            })?),
        };
        let max_output_tokens = check_max_tokens(max_output_tokens, "max_output_tokens")?;
        Ok(ResponsesHead {
            passed,
            max_output_tokens,
        })
    }

    fn head<'p>(&self, parsed: &'p ResponsesHead<'_>) -> Head<'p> {
        Head {
            max_tokens: parsed.max_output_tokens,
            ..Passthrough(NAME).head(&parsed.passed)
        }
    }

    fn attempt<'r, 'b: 'r>(
        &'r self,
        parsed: &'r ResponsesHead<'b>,
        body: &'r Bytes,
        provider: Arc<dyn Provider>,
        upstream_model: String,
    ) -> BoxFuture<'r, Result<Reply, GatewayError>> {
        if provider.speaks_responses() {
            return Passthrough(NAME).attempt(&parsed.passed, body, provider, upstream_model);
        }
        Box::pin(async move { translated(body, &provider, &upstream_model).await })
    }
}

/// Serves a Responses request through the provider's OpenAI-format `chat`.
async fn translated(
    bytes: &[u8],
    provider: &Arc<dyn Provider>,
    upstream_model: &str,
) -> Result<Reply, GatewayError> {
    let typed = request::typed(bytes)?;
    let skeleton = Skeleton::new(typed.model.clone(), request::echo(&typed));
    let chat = request::to_chat(typed, provider.chat_dialect())?;
    let body = serde_json::to_vec(&chat).map_err(|e| GatewayError::Internal(e.to_string()))?;
    // The same parse as an OpenAI client's request: one code path from here on.
    let chat = ChatRequest::parse(&body)?;
    let adapter = provider;
    let provider = adapter.name();
    match adapter.chat(&chat, upstream_model).await? {
        Reply::Complete(complete) => {
            response::complete(complete, &skeleton, provider).map(Reply::Complete)
        }
        Reply::Stream(stream) => {
            let translate = ToResponses::new(skeleton, tokens::estimate_from_bytes(bytes.len()));
            Ok(Reply::Stream(Box::new(Translated::new(
                stream, translate, provider,
            ))))
        }
        Reply::Forward(_) => Err(raw_chat_reply(provider)),
    }
}
