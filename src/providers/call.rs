//! One upstream call, the same for every adapter: send a JSON POST with the adapter's headers
//! under the request deadline, hand back a successful response, or map a failure (connect error,
//! timeout, error status) to a [`GatewayError`] with the adapter's own error-body parser.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};

use super::UpstreamClient;
use super::http::UpstreamBody;
use crate::error::GatewayError;
use crate::transport::describe;
use crate::types::json::{MAX_ANSWER_VALUES, values_within};

/// Largest non-stream upstream body read into memory (embeddings of large batches are big).
pub const MAX_RESPONSE_BYTES: usize = 256 << 20;
/// Largest upstream error body read; the message is all we keep.
pub const MAX_ERROR_BODY_BYTES: usize = 64 << 10;

/// Parses an upstream error body: `(provider, status, body, retry-after)` → client error.
pub type ErrorMap = fn(&str, StatusCode, &[u8], Option<Duration>) -> GatewayError;

/// The deadline of a call that starts now.
pub fn deadline(client: &UpstreamClient) -> Instant {
    Instant::now() + client.timeout
}

/// POSTs `body` to `path` (which may carry a query) and returns the response when its status is
/// a success; otherwise reads the error body and maps it with `errors`.
pub async fn post(
    client: &UpstreamClient,
    path: &str,
    body: Vec<u8>,
    deadline: Instant,
    errors: ErrorMap,
) -> Result<Response<UpstreamBody>, GatewayError> {
    post_as(client, path, None, body, deadline, errors).await
}

/// [`post`] with the client's own content type (a passthrough of multipart or other bodies).
pub async fn post_as(
    client: &UpstreamClient,
    path: &str,
    content_type: Option<&HeaderValue>,
    body: Vec<u8>,
    deadline: Instant,
    errors: ErrorMap,
) -> Result<Response<UpstreamBody>, GatewayError> {
    let response = send(client, path, content_type, body, deadline).await?;
    if response.status().is_success() {
        return Ok(response);
    }
    Err(
        failure(client, response, deadline, |status, _, body, hint| {
            errors(&client.name, status, body, hint)
        })
        .await,
    )
}

/// POSTs `body` to `path` with the client's headers and authorization and returns whatever
/// status the upstream answered (an adapter that reads more than the body of an error, such as
/// a header naming its type, maps failures itself with [`failure`]).
pub async fn send(
    client: &UpstreamClient,
    path: &str,
    content_type: Option<&HeaderValue>,
    body: Vec<u8>,
    deadline: Instant,
) -> Result<Response<UpstreamBody>, GatewayError> {
    let uri = client
        .endpoint
        .uri(path)
        .map_err(|e| GatewayError::Internal(e.0))?;
    let body = Bytes::from(body);
    let mut headers = client.headers.clone();
    // The attempt's span is current here: the upstream joins the client's trace.
    crate::telemetry::otel::inject_current(&mut headers);
    if let Some(content_type) = content_type {
        headers.insert(header::CONTENT_TYPE, content_type.clone());
    }
    if let Some(auth) = &client.auth {
        // A credential refresh counts against the request's deadline like the call itself.
        let authorized = auth.authorize(&Method::POST, &uri, &mut headers, &body);
        tokio::time::timeout_at(deadline.into(), authorized)
            .await
            .map_err(|_| timeout(client))??;
    }
    let mut request = Request::post(uri)
        .body(Full::new(body))
        .map_err(|e| GatewayError::Internal(e.to_string()))?;
    *request.headers_mut() = headers;
    let sent = tokio::time::timeout_at(deadline.into(), client.endpoint.send(request)).await;
    match sent {
        Err(_) => Err(timeout(client)),
        Ok(Err(e)) => Err(GatewayError::UpstreamConnect {
            provider: client.name.clone(),
            detail: e.0,
        }),
        Ok(Ok(response)) => Ok(response),
    }
}

/// The client's error for an upstream's error `response`: its body read (bounded, within the
/// deadline) and handed to `map` with the status, the headers and the retry hint.
pub async fn failure(
    client: &UpstreamClient,
    response: Response<UpstreamBody>,
    deadline: Instant,
    map: impl FnOnce(StatusCode, &HeaderMap, &[u8], Option<Duration>) -> GatewayError,
) -> GatewayError {
    let (parts, body) = response.into_parts();
    let hint = retry_after(&parts.headers);
    let body = read(client, body, MAX_ERROR_BODY_BYTES, deadline)
        .await
        .unwrap_or_default();
    map(parts.status, &parts.headers, &body, hint)
}

/// POSTs `body` and reads the whole successful answer.
pub async fn whole(
    client: &UpstreamClient,
    path: &str,
    body: Vec<u8>,
    errors: ErrorMap,
) -> Result<(StatusCode, Bytes), GatewayError> {
    let deadline = deadline(client);
    let response = post(client, path, body, deadline, errors).await?;
    let status = response.status();
    let bytes = read(client, response.into_body(), MAX_RESPONSE_BYTES, deadline).await?;
    Ok((status, bytes))
}

/// Parses a whole upstream answer as `T`, refusing one with more JSON values than any real
/// answer holds ([`MAX_ANSWER_VALUES`]: a typed parse costs tens of bytes per value).
pub fn parse_answer<'a, T: serde::Deserialize<'a>>(
    provider: &str,
    bytes: &'a [u8],
) -> Result<T, GatewayError> {
    let protocol = |detail: String| GatewayError::UpstreamProtocol {
        provider: provider.to_owned(),
        detail,
    };
    if !values_within(bytes, MAX_ANSWER_VALUES) {
        return Err(protocol(format!(
            "the answer holds more than {MAX_ANSWER_VALUES} JSON values"
        )));
    }
    serde_json::from_slice(bytes).map_err(|e| protocol(format!("unexpected response body: {e}")))
}

/// Serializes a request body (serialization of our own types cannot fail in practice).
pub fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, GatewayError> {
    serde_json::to_vec(value)
        .map_err(|e| GatewayError::Internal(format!("could not encode a request: {e}")))
}

/// Reads a whole body within `limit` bytes and the deadline.
pub async fn read(
    client: &UpstreamClient,
    body: UpstreamBody,
    limit: usize,
    deadline: Instant,
) -> Result<Bytes, GatewayError> {
    match tokio::time::timeout_at(deadline.into(), Limited::new(body, limit).collect()).await {
        Err(_) => Err(timeout(client)),
        Ok(Err(e)) => Err(GatewayError::UpstreamProtocol {
            provider: client.name.clone(),
            detail: format!("could not read the response body: {}", describe(e.as_ref())),
        }),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}

/// The timeout error of a provider.
pub fn timeout(client: &UpstreamClient) -> GatewayError {
    GatewayError::UpstreamTimeout {
        provider: client.name.clone(),
        after: client.timeout,
    }
}

/// Whether a response is an SSE stream.
pub fn is_event_stream(headers: &HeaderMap) -> bool {
    content_type_starts(headers, "text/event-stream")
}

/// Whether the response's content type starts with `prefix`.
pub fn content_type_starts(headers: &HeaderMap, prefix: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(prefix))
}

/// The upstream's delay hint: `retry-after-ms`, else `retry-after` in seconds.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = text("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return Duration::try_from_secs_f64(ms / 1000.0).ok();
    }
    text("retry-after")
        .and_then(|v| v.parse::<f64>().ok())
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_retry_hints() {
        let cases = [
            (vec![("retry-after", "3")], Some(Duration::from_secs(3))),
            (
                vec![("retry-after-ms", "250"), ("retry-after", "9")],
                Some(Duration::from_millis(250)),
            ),
            (vec![("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")], None),
            (vec![], None),
        ];
        for (headers, want) in cases {
            let mut map = HeaderMap::new();
            for (k, v) in headers {
                map.insert(k, HeaderValue::from_static(v));
            }
            assert_eq!(retry_after(&map), want);
        }
    }
}
