//! The Anthropic Messages API inbound: `POST /v1/messages` and `POST /v1/messages/count_tokens`
//! (also without `/v1`), so Anthropic clients can use any upstream. A provider with an Anthropic
//! passthrough (its `messages` / `count_tokens` hooks answer) gets the request untouched and its
//! reply goes back untouched; every other provider gets the request translated into an OpenAI
//! chat completion (`request`), and its answer is translated back (`response`, `stream`).
//! Errors are Anthropic error bodies. The handlers mirror the OpenAI ones: one runtime snapshot,
//! one request record, the same body limits and admission.

pub mod count;
pub mod error;
pub mod request;
pub mod response;
pub mod stream;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::Response;
use http::StatusCode;

use self::request::{Endpoint, Head};
use self::stream::ToAnthropic;
use super::AppState;
use super::intake::{Ask, admit, identify, read, request_id};
use super::respond::{Inbound, respond};
use crate::error::GatewayError;
use crate::providers::Provider;
use crate::providers::{Complete, MessagesCall, Reply};
use crate::router::attempt;
use crate::stream::Translated;
use crate::telemetry::access::RequestRecord;
use crate::telemetry::genai::RequestFacts;
use crate::types::{ChatRequest, Usage};

/// `POST /v1/messages`.
pub async fn messages(State(state): State<AppState>, request: Request) -> Response {
    let runtime = state.runtime.load_full();
    let (parts, body) = request.into_parts();
    let mut record = RequestRecord::start("messages", request_id(&parts), &parts);
    let result = async {
        let identity = identify(&runtime, &parts, &mut record)?;
        let bytes = read(&runtime, &parts, body).await?;
        let head = Head::parse(&bytes, Endpoint::Messages)?;
        record.stream = head.stream;
        let max_tokens = head.max_tokens;
        record.facts = RequestFacts::read(&head.top, max_tokens);
        let ask = Ask {
            model: &head.model,
            body: &bytes,
            max_tokens,
        };
        admit(&state, &runtime, &identity, &ask, &mut record).await?;
        let model = head.model.clone();
        let call = MessagesCall {
            top: head.top,
            stream: head.stream,
        };
        let routed = attempt::Request {
            router: &runtime.router,
            model: &model,
            record: &mut record,
        };
        let (call, bytes) = (&call, &bytes);
        attempt::run(routed, |provider, upstream_model| {
            Box::pin(async move {
                match provider.messages(call, &upstream_model) {
                    Some(passthrough) => passthrough.await,
                    None => translated(bytes, call, &provider, &upstream_model).await,
                }
            })
        })
        .await
    }
    .await;
    respond(result, record, Inbound::Anthropic)
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
        // `chat` answers JSON or SSE; a raw forwarded body would be a provider bug.
        Reply::Forward(_) => Err(GatewayError::Internal(format!(
            "provider `{provider}` answered a chat request with a raw body"
        ))),
    }
}

/// `POST /v1/messages/count_tokens`: the provider counts when it can, else an estimate.
pub async fn count_tokens(State(state): State<AppState>, request: Request) -> Response {
    let runtime = state.runtime.load_full();
    let (parts, body) = request.into_parts();
    let mut record = RequestRecord::start("count_tokens", request_id(&parts), &parts);
    let result = async {
        let identity = identify(&runtime, &parts, &mut record)?;
        let bytes = read(&runtime, &parts, body).await?;
        let head = Head::parse(&bytes, Endpoint::CountTokens)?;
        // Counting is work done for the caller: the same admission as every other endpoint
        // (the token estimate is refunded when the record settles the zero usage).
        let ask = Ask {
            model: &head.model,
            body: &bytes,
            max_tokens: None,
        };
        admit(&state, &runtime, &identity, &ask, &mut record).await?;
        let model = head.model.clone();
        let call = MessagesCall {
            top: head.top,
            stream: false,
        };
        let routed = attempt::Request {
            router: &runtime.router,
            model: &model,
            record: &mut record,
        };
        let call = &call;
        attempt::run(routed, |provider, upstream_model| {
            Box::pin(async move {
                let complete = match provider.count_tokens(call, &upstream_model) {
                    Some(counted) => counted.await?,
                    None => Complete {
                        status: StatusCode::OK,
                        body: count::count_tokens_body(&call.top).await.into(),
                        usage: None,
                    },
                };
                // Counting generates nothing; without this the record would charge an estimate.
                Ok(Reply::Complete(Complete {
                    usage: Some(Usage::default()),
                    ..complete
                }))
            })
        })
        .await
    }
    .await;
    respond(result, record, Inbound::Anthropic)
}
