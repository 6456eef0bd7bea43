//! The Anthropic Messages API inbound: `POST /v1/messages` and `POST /v1/messages/count_tokens`
//! (also without `/v1`), so Anthropic clients can use any upstream. A provider with an Anthropic
//! passthrough (its `messages` / `count_tokens` hooks answer) gets the request untouched and its
//! reply goes back untouched; every other provider gets the request translated into an OpenAI
//! chat completion (`request`), and its answer is translated back (`response`, `stream`).
//! Errors are Anthropic error bodies. Both endpoints are operations of the handler pipeline: one
//! runtime snapshot, one request record, the same body limits and admission as every endpoint.

pub mod count;
pub mod error;
pub mod request;
pub mod response;
pub mod stream;

use std::sync::Arc;

use bytes::Bytes;
use http::StatusCode;
use http::request::Parts;

use self::request::{MaxTokens, MessagesHead};
use self::stream::ToAnthropic;
use super::pipeline::Operation;
use super::respond::Inbound;
use crate::error::GatewayError;
use crate::providers::{BoxFuture, Complete, MessagesCall, Provider, Reply};
use crate::request::Head;
use crate::stream::Translated;
use crate::types::{ChatRequest, Usage};

/// `POST /v1/messages`, whole or SSE.
pub struct Messages;

impl Operation for Messages {
    type Parsed<'b> = MessagesHead<'b>;

    fn name(&self) -> &'static str {
        "messages"
    }

    fn inbound(&self) -> Inbound {
        Inbound::Anthropic
    }

    fn parse<'b>(&self, _: &'b Parts, body: &'b [u8]) -> Result<MessagesHead<'b>, GatewayError> {
        MessagesHead::parse(body, MaxTokens::Required)
    }

    fn head<'p>(&self, head: &'p MessagesHead<'_>) -> Head<'p> {
        Head {
            model: &head.model,
            stream: head.stream,
            max_tokens: head.max_tokens,
            top: Some(&head.call.top),
        }
    }

    fn attempt<'r, 'b: 'r>(
        &'r self,
        head: &'r MessagesHead<'b>,
        body: &'r Bytes,
        provider: Arc<dyn Provider>,
        upstream_model: String,
    ) -> BoxFuture<'r, Result<Reply, GatewayError>> {
        Box::pin(async move {
            match provider.messages(&head.call, &upstream_model) {
                Some(passthrough) => passthrough.await,
                None => translated(body, &head.call, &provider, &upstream_model).await,
            }
        })
    }
}

/// Serves a Messages request through the provider's OpenAI-format `chat`.
async fn translated(
    bytes: &[u8],
    call: &MessagesCall<'_>,
    provider: &Arc<dyn Provider>,
    upstream_model: &str,
) -> Result<Reply, GatewayError> {
    let typed = request::typed(bytes)?;
    let model = typed.model.clone();
    let input_estimate = count::estimate(&call.top);
    let openai = request::to_openai(typed, provider.chat_dialect())?;
    let body = serde_json::to_vec(&openai).map_err(|e| GatewayError::Internal(e.to_string()))?;
    // The same parse as an OpenAI client's request: one code path from here on.
    let chat = ChatRequest::parse(&body)?;
    let adapter = provider;
    let provider = adapter.name();
    match adapter.chat(&chat, upstream_model).await? {
        Reply::Complete(complete) => response::complete(complete, provider).map(Reply::Complete),
        Reply::Stream(stream) => {
            let translate = ToAnthropic::new(model, input_estimate);
            Ok(Reply::Stream(Box::new(Translated::new(
                stream, translate, provider,
            ))))
        }
        Reply::Forward(_) => Err(super::pipeline::raw_chat_reply(provider)),
    }
}

/// `POST /v1/messages/count_tokens`: the provider counts when it can, else the tokenizer (or the
/// byte estimate). Counting is work done for the caller: admitted like every endpoint (the token
/// estimate is refunded when the zero usage settles).
pub struct CountTokens;

impl Operation for CountTokens {
    type Parsed<'b> = MessagesHead<'b>;

    fn name(&self) -> &'static str {
        "count_tokens"
    }

    fn inbound(&self) -> Inbound {
        Inbound::Anthropic
    }

    fn parse<'b>(&self, _: &'b Parts, body: &'b [u8]) -> Result<MessagesHead<'b>, GatewayError> {
        MessagesHead::parse(body, MaxTokens::Optional)
    }

    fn head<'p>(&self, head: &'p MessagesHead<'_>) -> Head<'p> {
        Head {
            model: &head.model,
            stream: false,
            max_tokens: None,
            top: Some(&head.call.top),
        }
    }

    fn attempt<'r, 'b: 'r>(
        &'r self,
        head: &'r MessagesHead<'b>,
        _: &'r Bytes,
        provider: Arc<dyn Provider>,
        upstream_model: String,
    ) -> BoxFuture<'r, Result<Reply, GatewayError>> {
        Box::pin(async move {
            let complete = match provider.count_tokens(&head.call, &upstream_model) {
                Some(counted) => counted.await?,
                None => Complete {
                    status: StatusCode::OK,
                    body: count::count_tokens_body(&head.call.top).await.into(),
                    usage: None,
                },
            };
            // Counting generates nothing; without this the record would charge an estimate.
            Ok(Reply::Complete(Complete {
                usage: Some(Usage::default()),
                ..complete
            }))
        })
    }
}
