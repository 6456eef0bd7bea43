//! Turning an upstream reply (or an error) into the client's response, and closing the request's
//! record when the response really ends: at once for whole bodies, at the last frame or at the
//! client's disconnect for streams. Errors are rendered in the inbound format the client speaks.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderName, HeaderValue, header};
use http_body::Frame;

use crate::error::GatewayError;
use crate::providers::{Complete, Forward, Reply};
use crate::request::body::REQUEST_ID;
use crate::request::{Finish, RequestContext};
use crate::stream::ClientStream;

/// Header naming the deployment (`provider/model`) that answered.
pub const DEPLOYMENT: HeaderName = HeaderName::from_static("x-llm-deployment");
/// Header counting the upstream attempts (retries and fallbacks included).
pub const ATTEMPTS: HeaderName = HeaderName::from_static("x-llm-attempts");
/// How the request was served differently from what it asked (a dropped setting).
pub const WARNING: HeaderName = HeaderName::from_static("x-llm-warning");
/// The cost of a whole (non-stream) answer in US dollars, under the name LiteLLM's clients
/// read it from (streams end after their headers, so they carry it in the usage record only).
pub const RESPONSE_COST: HeaderName = HeaderName::from_static("x-litellm-response-cost");
/// Header Anthropic's SDKs read the request id from (they expose it as `_request_id`).
pub const ANTHROPIC_REQUEST_ID: HeaderName = HeaderName::from_static("request-id");

/// The API format a client speaks, which decides the shape of its error bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inbound {
    /// OpenAI: `{"error":{"message","type","param","code"}}`.
    OpenAi,
    /// Anthropic Messages: `{"type":"error","error":{"type","message"}}`.
    Anthropic,
}

impl Inbound {
    /// The format of a request path that no handler took (unknown route, wrong method): the
    /// Anthropic Messages paths answer in Anthropic's shape, everything else in OpenAI's.
    pub fn of_path(path: &str) -> Self {
        let path = path.strip_prefix("/v1").unwrap_or(path);
        if path == "/messages" || path.starts_with("/messages/") {
            Self::Anthropic
        } else {
            Self::OpenAi
        }
    }

    /// The error response in this format, with `Retry-After` when the error has a hint.
    pub fn error_response(self, error: &GatewayError) -> Response {
        match self {
            Self::OpenAi => error.clone().into_response(),
            Self::Anthropic => {
                let mut response = (
                    error.status(),
                    [(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    )],
                    super::anthropic::error::body(error),
                )
                    .into_response();
                error.add_headers(response.headers_mut());
                response
            }
        }
    }
}

/// The response for an outcome of a request in the `inbound` format. `result` is already in
/// that format when it is a reply; an error is rendered here.
pub fn respond(
    result: Result<Reply, GatewayError>,
    mut record: RequestContext,
    inbound: Inbound,
) -> Response {
    let id = HeaderValue::try_from(record.request_id()).ok();
    let served = record
        .deployment()
        .and_then(|s| HeaderValue::try_from(s).ok());
    let attempts = HeaderValue::from(record.attempts());
    let limit_headers = record.take_limit_headers();
    let warning = record.take_warning();
    let mut response = match result {
        Ok(Reply::Complete(complete)) => complete_response(complete, record),
        Ok(Reply::Stream(stream)) => stream_response(stream, record),
        Ok(Reply::Forward(forward)) => forward_response(forward, record),
        Err(error) => error_response(&error, record, inbound),
    };
    if let Some(id) = id {
        if inbound == Inbound::Anthropic {
            response
                .headers_mut()
                .insert(ANTHROPIC_REQUEST_ID, id.clone());
        }
        response.headers_mut().insert(REQUEST_ID, id);
    }
    if let Some(served) = served {
        response.headers_mut().insert(DEPLOYMENT, served);
    }
    for (name, value) in limit_headers {
        response.headers_mut().entry(name).or_insert(value);
    }
    response.headers_mut().insert(ATTEMPTS, attempts);
    if let Some(warning) = warning {
        response.headers_mut().insert(WARNING, warning);
    }
    response
}

fn complete_response(complete: Complete, mut record: RequestContext) -> Response {
    if record.wants_response_facts() {
        record.observe_response(&complete.body);
    }
    let cost = record.finish(Finish {
        status: complete.status.as_u16(),
        usage: complete.usage,
        ..Finish::default()
    });
    let mut response = (
        complete.status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        complete.body,
    )
        .into_response();
    if let Some(cost) = cost.and_then(|c| HeaderValue::try_from(c.to_string()).ok()) {
        response.headers_mut().insert(RESPONSE_COST, cost);
    }
    response
}

fn error_response(error: &GatewayError, record: RequestContext, inbound: Inbound) -> Response {
    record.finish(Finish {
        status: error.status().as_u16(),
        error: Some(error),
        ..Finish::default()
    });
    inbound.error_response(error)
}

fn stream_response(stream: Box<dyn ClientStream>, record: RequestContext) -> Response {
    let body = AccountedBody {
        scan: record.wants_response_facts(),
        inner: stream,
        record: Some(record),
    };
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        Body::new(body),
    )
        .into_response()
}

fn forward_response(forward: Forward, record: RequestContext) -> Response {
    let body = AccountedBody {
        scan: record.wants_response_facts(),
        inner: forward.body,
        record: Some(record),
    };
    let mut response = (forward.status, Body::new(body)).into_response();
    if let Some(content_type) = forward.content_type {
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, content_type);
    }
    response
}

/// A stream body that closes its request record when it ends or is dropped early (the client
/// went away: the upstream body is dropped with it, which closes the upstream connection).
struct AccountedBody {
    inner: Box<dyn ClientStream>,
    record: Option<RequestContext>,
    /// Scan frames for the response's id, model and finish reasons (the span records).
    scan: bool,
}

impl AccountedBody {
    fn close(&mut self, client_closed: bool) {
        let Some(record) = self.record.take() else {
            return;
        };
        let tally = self.inner.tally();
        let ttft = self
            .inner
            .first_frame_at()
            .map(|t| t.saturating_duration_since(record.started()));
        record.finish(Finish {
            status: http::StatusCode::OK.as_u16(),
            usage: tally.usage,
            content_bytes: tally.content_bytes,
            content_sample: &tally.sample,
            ttft,
            error: None,
            client_closed,
            failed_in_band: tally.upstream_error || tally.gateway_error,
        });
    }
}

impl http_body::Body for AccountedBody {
    type Data = bytes::Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<bytes::Bytes>, Infallible>>> {
        let frame = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        match &frame {
            None => self.close(false),
            Some(Ok(frame)) if self.scan => {
                if let (Some(data), Some(record)) = (frame.data_ref(), self.record.as_mut()) {
                    record.observe_response(data);
                }
            }
            Some(_) => {}
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
}

impl Drop for AccountedBody {
    fn drop(&mut self) {
        self.close(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbound_format_of_unrouted_paths() {
        let cases = [
            ("/v1/messages", Inbound::Anthropic),
            ("/messages", Inbound::Anthropic),
            ("/v1/messages/count_tokens", Inbound::Anthropic),
            ("/v1/messagesx", Inbound::OpenAi),
            ("/v1/chat/completions", Inbound::OpenAi),
            ("/", Inbound::OpenAi),
        ];
        for (path, want) in cases {
            assert_eq!(Inbound::of_path(path), want, "{path}");
        }
    }

    #[tokio::test]
    async fn anthropic_errors_keep_status_and_retry_after() {
        let error = GatewayError::RateLimited {
            message: "slow down".into(),
            retry_after: std::time::Duration::from_millis(1500),
            headers: Vec::new(),
        };
        let response = Inbound::Anthropic.error_response(&error);
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}})
        );
        let openai = Inbound::OpenAi.error_response(&error);
        assert_eq!(openai.headers()[header::RETRY_AFTER], "2");
    }
}
