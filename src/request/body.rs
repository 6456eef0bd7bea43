//! Reading a request's body within `server.max_request_bytes` and `server.read_timeout`, and
//! picking its id.

use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http::HeaderMap;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::error::GatewayError;
use crate::telemetry::ids;

/// The request id header, read from clients and sent back on every answer.
pub const REQUEST_ID: http::HeaderName = http::HeaderName::from_static("x-request-id");

/// The client's `x-request-id` when usable, else a fresh one.
pub fn request_id(parts: &http::request::Parts) -> String {
    parts
        .headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .and_then(ids::accept_client_id)
        .map_or_else(ids::request_id, str::to_owned)
}

/// Reads the whole body: 413 past `limit` (at once when `Content-Length` says so), 408 when the
/// client is slower than `timeout`.
pub async fn read(
    headers: &HeaderMap,
    body: Body,
    limit: u64,
    timeout: Duration,
) -> Result<Bytes, GatewayError> {
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(GatewayError::PayloadTooLarge(limit));
    }
    let limited = Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX));
    match tokio::time::timeout(timeout, limited.collect()).await {
        Err(_) => Err(GatewayError::RequestTimeout),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
            Err(GatewayError::PayloadTooLarge(limit))
        }
        Ok(Err(e)) => Err(GatewayError::invalid(
            format!("could not read the request body: {e}"),
            None,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn limits_size() {
        let headers = HeaderMap::new();
        let ok = read(&headers, Body::from("12345"), 5, Duration::from_secs(1)).await;
        assert_eq!(ok.unwrap(), "12345");
        let big = read(&headers, Body::from("123456"), 5, Duration::from_secs(1)).await;
        assert_eq!(big.unwrap_err().status().as_u16(), 413);
        let mut declared = HeaderMap::new();
        declared.insert(
            http::header::CONTENT_LENGTH,
            http::HeaderValue::from_static("999"),
        );
        let early = read(&declared, Body::from("1"), 5, Duration::from_secs(1)).await;
        assert_eq!(early.unwrap_err().status().as_u16(), 413);
    }
}
