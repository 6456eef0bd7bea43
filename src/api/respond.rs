//! Turning an upstream reply (or an error) into the client's response, and closing the request's
//! record when the response really ends: at once for whole bodies, at the last frame or at the
//! client's disconnect for streams.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderName, HeaderValue, header};
use http_body::Frame;

use crate::error::GatewayError;
use crate::providers::{Complete, Forward, Reply};
use crate::stream::ClientStream;
use crate::telemetry::access::{Finish, RequestRecord};

/// Header carrying the request id back to the client.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The response for a chat or embeddings outcome.
pub fn respond(result: Result<Reply, GatewayError>, record: RequestRecord) -> Response {
    let id = HeaderValue::try_from(record.request_id.as_str()).ok();
    let mut response = match result {
        Ok(Reply::Complete(complete)) => complete_response(complete, record),
        Ok(Reply::Stream(stream)) => stream_response(stream, record),
        Ok(Reply::Forward(forward)) => forward_response(forward, record),
        Err(error) => error_response(&error, record),
    };
    if let Some(id) = id {
        response.headers_mut().insert(REQUEST_ID, id);
    }
    response
}

fn complete_response(complete: Complete, record: RequestRecord) -> Response {
    record.finish(Finish {
        status: complete.status.as_u16(),
        usage: complete.usage,
        ..Finish::default()
    });
    (
        complete.status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        complete.body,
    )
        .into_response()
}

fn error_response(error: &GatewayError, record: RequestRecord) -> Response {
    record.finish(Finish {
        status: error.status().as_u16(),
        error: Some(error),
        ..Finish::default()
    });
    error.clone().into_response()
}

fn stream_response(stream: Box<dyn ClientStream>, record: RequestRecord) -> Response {
    let body = AccountedBody {
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

fn forward_response(forward: Forward, record: RequestRecord) -> Response {
    let body = AccountedBody {
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
    record: Option<RequestRecord>,
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
        if frame.is_none() {
            self.close(false);
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
