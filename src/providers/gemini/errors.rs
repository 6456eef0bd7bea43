//! Gemini error bodies (`{"error":{"code","message","status","details"}}`, Google's
//! `google.rpc.Status`) → the client's OpenAI error: the status, an OpenAI `code`, and the retry
//! delay from `google.rpc.RetryInfo`. A key Gemini rejects comes back as 400 `API_KEY_INVALID`;
//! that is the gateway's misconfiguration, so it takes the cleaned-502 path of a 401.

use std::time::Duration;

use http::StatusCode;
use serde_json::Value;

use super::wire::{ApiError, ErrorBody};
use crate::error::GatewayError;
use crate::providers::errors::UpstreamFailure;

/// `@type` of the detail that carries the retry delay.
const RETRY_INFO: &str = "type.googleapis.com/google.rpc.RetryInfo";
/// `@type` of the detail that carries the machine-readable reason.
const ERROR_INFO: &str = "type.googleapis.com/google.rpc.ErrorInfo";
/// `ErrorInfo.reason` prefix of every rejected-key reason (`API_KEY_INVALID`, `…_EXPIRED`, …).
const KEY_REASON_PREFIX: &str = "API_KEY_";
/// Google's HTTP status for `CANCELLED` (nginx's "client closed request"; no `http` constant).
const CLIENT_CLOSED_REQUEST: u16 = 499;

/// Maps a Gemini error response (the [`crate::providers::call::ErrorMap`] of the adapter).
pub fn gemini(
    provider: &str,
    status: StatusCode,
    body: &[u8],
    retry_after: Option<Duration>,
) -> GatewayError {
    match parse(body) {
        Some(error) => from_api_error(provider, Some(status), &error, retry_after),
        None => UpstreamFailure::from_text(body).into_error(provider, status, retry_after),
    }
}

/// Reads the envelope; streaming without `alt=sse` wraps it in an array. (The array is checked
/// for first: serde would also read a one-element array as the struct's fields in order.)
fn parse(body: &[u8]) -> Option<ApiError> {
    if body.trim_ascii_start().starts_with(b"[") {
        let list = serde_json::from_slice::<Vec<ErrorBody>>(body).ok()?;
        return list.into_iter().next().map(|b| b.error);
    }
    serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .map(|b| b.error)
}

/// The client's error for a Gemini `error` object. `status` is the HTTP status when there is
/// one worth keeping (an error response); a mid-stream error (HTTP 200) passes `None` and the
/// status comes from the object's `code`, else its RPC status name.
pub fn from_api_error(
    provider: &str,
    status: Option<StatusCode>,
    error: &ApiError,
    retry_after: Option<Duration>,
) -> GatewayError {
    let rpc = error.status.as_deref().unwrap_or_default();
    let status = status
        .filter(|s| s.is_client_error() || s.is_server_error())
        .or_else(|| error.code.and_then(|c| StatusCode::from_u16(c).ok()))
        .filter(|s| s.is_client_error() || s.is_server_error())
        .or_else(|| status_of(rpc))
        .unwrap_or(StatusCode::BAD_GATEWAY);
    let status = if is_key_rejected(error) {
        StatusCode::UNAUTHORIZED
    } else {
        status
    };
    UpstreamFailure {
        message: error.message.clone(),
        kind: None,
        code: openai_code(status, rpc),
        param: None,
    }
    .into_error(provider, status, retry_after.or_else(|| retry_delay(error)))
}

/// The HTTP status Google maps an RPC status name to.
pub fn status_of(rpc: &str) -> Option<StatusCode> {
    Some(match rpc {
        "INVALID_ARGUMENT" | "FAILED_PRECONDITION" | "OUT_OF_RANGE" => StatusCode::BAD_REQUEST,
        "UNAUTHENTICATED" => StatusCode::UNAUTHORIZED,
        "PERMISSION_DENIED" => StatusCode::FORBIDDEN,
        "NOT_FOUND" => StatusCode::NOT_FOUND,
        "ALREADY_EXISTS" | "ABORTED" => StatusCode::CONFLICT,
        "RESOURCE_EXHAUSTED" => StatusCode::TOO_MANY_REQUESTS,
        "CANCELLED" => StatusCode::from_u16(CLIENT_CLOSED_REQUEST).ok()?,
        "INTERNAL" | "UNKNOWN" | "DATA_LOSS" => StatusCode::INTERNAL_SERVER_ERROR,
        "UNIMPLEMENTED" => StatusCode::NOT_IMPLEMENTED,
        "UNAVAILABLE" => StatusCode::SERVICE_UNAVAILABLE,
        "DEADLINE_EXCEEDED" => StatusCode::GATEWAY_TIMEOUT,
        _ => return None,
    })
}

/// OpenAI-style `code`: the ones OpenAI clients know where they fit (a rate limit, credit used
/// up: never retried), else Gemini's RPC status in lower case.
fn openai_code(status: StatusCode, rpc: &str) -> Option<String> {
    match (status, rpc) {
        (StatusCode::PAYMENT_REQUIRED, _) => Some("insufficient_quota".to_owned()),
        (StatusCode::TOO_MANY_REQUESTS, _) => Some("rate_limit_exceeded".to_owned()),
        (_, "") => None,
        (_, rpc) => Some(rpc.to_ascii_lowercase()),
    }
}

/// Whether Gemini rejected the gateway's key (it says so with 400 and an `ErrorInfo` reason).
fn is_key_rejected(error: &ApiError) -> bool {
    error.details.iter().any(|d| {
        d.get("@type").and_then(Value::as_str) == Some(ERROR_INFO)
            && d.get("reason")
                .and_then(Value::as_str)
                .is_some_and(|r| r.starts_with(KEY_REASON_PREFIX))
    })
}

/// `RetryInfo.retryDelay` (a protobuf Duration in JSON: `"17s"`, `"0.5s"`).
fn retry_delay(error: &ApiError) -> Option<Duration> {
    error
        .details
        .iter()
        .filter(|d| d.get("@type").and_then(Value::as_str) == Some(RETRY_INFO))
        .find_map(|d| d.get("retryDelay").and_then(Value::as_str))
        .and_then(|text| text.strip_suffix('s'))
        .and_then(|secs| secs.parse::<f64>().ok())
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
}

#[cfg(test)]
mod tests;
