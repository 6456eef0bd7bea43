//! The OpenAI Responses API inbound: `POST /v1/responses` (also without `/v1`), routed on the
//! body's `model` like chat. An upstream that speaks the Responses API itself (the provider's
//! `speaks_responses`: OpenAI, Azure) gets the request as a byte pipe, only `model` rewritten;
//! every other upstream gets it translated into an OpenAI chat completion request (`request`),
//! and its answer is translated back into a `response` object (`response`) or Responses stream
//! events (`stream`). Errors are OpenAI's. An operation of the handler pipeline: one runtime
//! snapshot, one request record (operation `responses`), the same limits as chat.
//!
//! Translated responses are stored for their caller unless the request says `store: false`
//! (`state`), so `previous_response_id` continues them and `retrieve` serves
//! `GET`/`DELETE /v1/responses/{id}` and `…/input_items`. Responses of native upstreams are
//! stored by those upstreams: their ids pass through untouched.

pub mod request;
pub mod response;
pub mod retrieve;
pub mod state;
pub mod stream;

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::HeaderValue;
use http::request::Parts;
use serde_json::Value;

use self::request::Input;
use self::response::Skeleton;
use self::state::{PREVIOUS_RESPONSE_ID, Shelf, Stored};
use self::stream::ToResponses;
use super::passthrough::{PassedThrough, Passthrough};
use super::pipeline::{Operation, Scope, raw_chat_reply};
use super::respond::Inbound;
use crate::error::GatewayError;
use crate::providers::{BoxFuture, PassthroughCall, Provider, Reply};
use crate::request::Head;
use crate::stream::Translated;
use crate::tokens;
use crate::types::ChatRequest;
use crate::types::json::json_string;
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
    /// The caller's stored responses (set once the caller is known).
    shelf: Option<Shelf>,
    /// The conversation `previous_response_id` names, when the gateway stored it.
    previous: Option<Vec<Value>>,
    /// What the attempt that answered dropped (a `reasoning.effort` its upstream cannot take).
    warning: Mutex<Option<String>>,
}

impl ResponsesHead<'_> {
    /// Records (or, with `None`, clears) what the current attempt dropped.
    fn set_warning(&self, warning: Option<String>) {
        if let Ok(mut slot) = self.warning.lock() {
            *slot = warning;
        }
    }
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
        let max_output_tokens =
            top_field::<u64>(&head, "max_output_tokens", "a non-negative integer")?;
        let max_output_tokens = check_max_tokens(max_output_tokens, "max_output_tokens")?;
        Ok(ResponsesHead {
            passed,
            max_output_tokens,
            shelf: None,
            previous: None,
            warning: Mutex::new(None),
        })
    }

    fn prepare<'r, 'b: 'r>(
        &'r self,
        parsed: &'r mut ResponsesHead<'b>,
        scope: Scope<'r>,
    ) -> BoxFuture<'r, Result<(), GatewayError>> {
        Box::pin(async move {
            let config = &scope.runtime.config.raw.responses;
            let shelf = Shelf::new(Arc::clone(scope.store), scope.identity, config);
            let head = Passthrough(NAME).head(&parsed.passed);
            let previous = top_field::<String>(&head, PREVIOUS_RESPONSE_ID, "a string")?;
            if let Some(id) = previous {
                parsed.previous = shelf.load(&id).await?.map(Stored::conversation);
            }
            parsed.shelf = Some(shelf);
            Ok(())
        })
    }

    fn warning(&self, parsed: &ResponsesHead<'_>) -> Option<String> {
        parsed.warning.lock().ok().and_then(|w| w.clone())
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
        parsed.set_warning(None);
        if provider.speaks_responses() {
            return match &parsed.previous {
                Some(previous) => Box::pin(async move {
                    continued_natively(parsed, previous, &provider, &upstream_model).await
                }),
                None => Passthrough(NAME).attempt(&parsed.passed, body, provider, upstream_model),
            };
        }
        Box::pin(async move { translated(body, parsed, &provider, &upstream_model).await })
    }
}

/// A top-level field of the body read as `T` (`null` or absent: `None`); a 400 names it.
fn top_field<T: serde::de::DeserializeOwned>(
    head: &Head<'_>,
    key: &str,
    expected: &str,
) -> Result<Option<T>, GatewayError> {
    match head.top.and_then(|top| top.get(key)) {
        None => Ok(None),
        Some(raw) if raw.get() == "null" => Ok(None),
        Some(raw) => serde_json::from_str::<T>(raw.get()).map(Some).map_err(|_| {
            GatewayError::invalid(
                format!("Invalid type for '{key}': expected {expected}."),
                Some(key),
            )
        }),
    }
}

/// A conversation the gateway stored, continued on an upstream that speaks the Responses API
/// (a fallback, or a model switched mid-conversation): it has never seen the earlier turns, so
/// they go in `input` and `previous_response_id` goes away.
async fn continued_natively(
    parsed: &ResponsesHead<'_>,
    previous: &[Value],
    provider: &Arc<dyn Provider>,
    upstream_model: &str,
) -> Result<Reply, GatewayError> {
    let head = Passthrough(NAME).head(&parsed.passed);
    let input = top_field::<Input>(&head, "input", "a string or an array of input items")?;
    let mut items = previous.to_vec();
    items.extend(state::input_items(input.as_ref()));
    let items = serde_json::to_string(&items).map_err(|e| GatewayError::Internal(e.to_string()))?;
    let body = head.top.map_or_else(Vec::new, |top| {
        top.write_edited(
            &[PREVIOUS_RESPONSE_ID],
            &[("model", &json_string(upstream_model)), ("input", &items)],
        )
    });
    let content_type = HeaderValue::from_static("application/json");
    let call = PassthroughCall {
        operation: NAME,
        content_type: Some(&content_type),
        body,
    };
    match provider.passthrough(call, upstream_model) {
        Some(answer) => answer.await,
        None => Err(GatewayError::Internal(format!(
            "provider `{}` speaks the Responses API but cannot pass it through",
            provider.name()
        ))),
    }
}

/// Serves a Responses request through the provider's OpenAI-format `chat`: the earlier turns
/// of `previous_response_id` before this request's input, the answer kept when `store` is on.
async fn translated(
    bytes: &[u8],
    parsed: &ResponsesHead<'_>,
    provider: &Arc<dyn Provider>,
    upstream_model: &str,
) -> Result<Reply, GatewayError> {
    let mut typed = request::typed(bytes)?;
    drop_unsupported_effort(&mut typed, parsed, provider, upstream_model)?;
    if let Some(id) = &typed.previous_response_id
        && parsed.previous.is_none()
    {
        return Err(state::not_found(id, Some(PREVIOUS_RESPONSE_ID)));
    }
    let mut input = parsed.previous.clone().unwrap_or_default();
    input.extend(state::input_items(typed.input.as_ref()));
    let shelf = parsed
        .shelf
        .clone()
        .filter(|shelf| shelf.enabled() && typed.store != Some(false));
    let skeleton = Skeleton::new(typed.model.clone(), request::echo(&typed, shelf.is_some()));
    typed.input = Some(Input::Items(input.clone()));
    let chat = request::to_chat(typed, provider.chat_dialect())?;
    let body = serde_json::to_vec(&chat).map_err(|e| GatewayError::Internal(e.to_string()))?;
    // The same parse as an OpenAI client's request: one code path from here on.
    let chat = ChatRequest::parse(&body)?;
    let adapter = provider;
    let provider = adapter.name();
    match adapter.chat(&chat, upstream_model).await? {
        Reply::Complete(complete) => {
            let complete = response::complete(complete, &skeleton, provider)?;
            if let Some(shelf) = &shelf {
                shelf.keep(&skeleton.id, &input, &complete.body);
            }
            Ok(Reply::Complete(complete))
        }
        Reply::Stream(stream) => {
            let mut translate = ToResponses::new(skeleton, tokens::estimate_from_bytes(body.len()));
            if let Some(shelf) = shelf {
                translate = translate.keeping(shelf, input);
            }
            Ok(Reply::Stream(Box::new(Translated::new(
                stream, translate, provider,
            ))))
        }
        Reply::Forward(_) => Err(raw_chat_reply(provider)),
    }
}

/// A `reasoning.effort` the upstream has no setting for (the mock; Bedrock models other than
/// Claude; `xhigh` on Gemini) is dropped, and the answer's `x-llm-warning` says so, rather than
/// failing a request that would otherwise be served.
fn drop_unsupported_effort(
    typed: &mut request::ResponsesRequest,
    parsed: &ResponsesHead<'_>,
    provider: &Arc<dyn Provider>,
    upstream_model: &str,
) -> Result<(), GatewayError> {
    let Some(reasoning) = typed.reasoning.as_mut() else {
        return Ok(());
    };
    let Some(effort) = reasoning.effort.as_deref() else {
        return Ok(());
    };
    request::check_effort(effort)?;
    if !provider.takes_reasoning_effort(upstream_model, effort) {
        parsed.set_warning(Some(format!(
            "reasoning.effort '{effort}' is not supported by this model's upstream and was ignored."
        )));
        reasoning.effort = None;
    }
    Ok(())
}
