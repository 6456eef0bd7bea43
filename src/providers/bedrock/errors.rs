//! Bedrock errors → the client's error. Bedrock names the error type in the `x-amzn-ErrorType`
//! header (`ThrottlingException:http://…`), sometimes in the body's `__type`, and in a stream in
//! the `:exception-type` header (`throttlingException`, lowerCamel); the body is
//! `{"message": …}`. One table ([`EXCEPTIONS`]) maps every type, whatever its spelling, so the
//! HTTP path and the stream path cannot drift apart. Credential rejections take the cleaned-502
//! path of every adapter (the gateway's credential, not the client's, was refused).

use std::time::Duration;

use http::StatusCode;

use super::wire::ErrorBody;
use crate::error::GatewayError;
use crate::providers::errors::UpstreamFailure;

/// How one Bedrock error type reaches the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mapping {
    /// The status the client gets (401/403 become the gateway's cleaned 502).
    status: StatusCode,
    /// The OpenAI `code`; `None` keeps the Bedrock type name.
    code: Option<&'static str>,
}

const fn to(status: StatusCode) -> Mapping {
    Mapping { status, code: None }
}

/// Every Bedrock Runtime error type (service model) plus the AWS front end's credential errors.
/// `ModelNotReadyException` is HTTP 429 at Bedrock but means "being loaded": 503, retried
/// elsewhere. `ModelTimeoutException` is 408 at Bedrock: the gateway's 504. A model's own
/// failure (`ModelErrorException`, `ModelStreamErrorException`, HTTP 424) is a bad gateway.
const EXCEPTIONS: [(&str, Mapping); 17] = [
    ("ThrottlingException", to(StatusCode::TOO_MANY_REQUESTS)),
    (
        "ServiceQuotaExceededException",
        to(StatusCode::TOO_MANY_REQUESTS),
    ),
    (
        "ServiceUnavailableException",
        to(StatusCode::SERVICE_UNAVAILABLE),
    ),
    (
        "ModelNotReadyException",
        to(StatusCode::SERVICE_UNAVAILABLE),
    ),
    ("ValidationException", to(StatusCode::BAD_REQUEST)),
    ("ConflictException", to(StatusCode::BAD_REQUEST)),
    ("AccessDeniedException", to(StatusCode::FORBIDDEN)),
    ("UnrecognizedClientException", to(StatusCode::FORBIDDEN)),
    ("ExpiredTokenException", to(StatusCode::FORBIDDEN)),
    ("InvalidSignatureException", to(StatusCode::FORBIDDEN)),
    ("IncompleteSignatureException", to(StatusCode::FORBIDDEN)),
    (
        "MissingAuthenticationTokenException",
        to(StatusCode::FORBIDDEN),
    ),
    ("ModelTimeoutException", to(StatusCode::GATEWAY_TIMEOUT)),
    (
        "ResourceNotFoundException",
        Mapping {
            status: StatusCode::NOT_FOUND,
            code: Some("model_not_found"),
        },
    ),
    ("ModelErrorException", to(StatusCode::BAD_GATEWAY)),
    ("ModelStreamErrorException", to(StatusCode::BAD_GATEWAY)),
    (
        "InternalServerException",
        to(StatusCode::INTERNAL_SERVER_ERROR),
    ),
];

/// Bedrock's HTTP status for `ModelTimeoutException` (no `http` constant is named for it).
const MODEL_TIMEOUT_STATUS: u16 = 408;
/// Bedrock's HTTP status for a model's own failure (`ModelErrorException`).
const MODEL_FAILED_STATUS: u16 = 424;

/// The mapping of a type name in any of its spellings: `ThrottlingException`,
/// `throttlingException`, `ThrottlingException:http://internal.amazon.com/coral/…`,
/// `com.amazon.coral.service#ThrottlingException`.
fn mapping(error_type: &str) -> Option<(&'static str, Mapping)> {
    let name = error_type.split(':').next().unwrap_or_default();
    let name = name.rsplit('#').next().unwrap_or_default().trim();
    EXCEPTIONS
        .iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(name))
        .copied()
}

/// Maps a Bedrock error response from its status and body alone (the
/// [`crate::providers::call::ErrorMap`] of the adapter). The type comes from the body's
/// `__type` when there is one, else from the status; when the `x-amzn-ErrorType` header is at
/// hand, [`with_error_type`] reads it.
pub fn bedrock(
    provider: &str,
    status: StatusCode,
    body: &[u8],
    retry_after: Option<Duration>,
) -> GatewayError {
    with_error_type(provider, None, status, body, retry_after)
}

/// Maps a Bedrock error response whose type is known from the `x-amzn-ErrorType` header
/// (`None` when it was absent).
pub fn with_error_type(
    provider: &str,
    error_type: Option<&str>,
    status: StatusCode,
    body: &[u8],
    retry_after: Option<Duration>,
) -> GatewayError {
    let (kind, message) = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(parsed) => (parsed.kind, parsed.message),
        Err(_) => (None, UpstreamFailure::from_text(body).message),
    };
    match error_type.or(kind.as_deref()).and_then(mapping) {
        Some((name, known)) => failure(provider, name, known, message, retry_after),
        None => UpstreamFailure {
            message,
            ..UpstreamFailure::default()
        }
        .into_error(provider, status_without_type(status), retry_after),
    }
}

/// The client's error for an exception inside a ConverseStream (`:exception-type`, e.g.
/// `throttlingException`; `payload` is its `{"message": …}`).
pub fn from_exception(provider: &str, exception_type: &str, payload: &[u8]) -> GatewayError {
    let message = serde_json::from_slice::<ErrorBody>(payload)
        .ok()
        .and_then(|b| b.message);
    stream_error(provider, exception_type, message)
}

/// The client's error for a failure inside a stream, by type: an exception's
/// `:exception-type`, or an `error` message's `:error-code` (with its `:error-message`).
pub fn stream_error(provider: &str, error_type: &str, message: Option<String>) -> GatewayError {
    match mapping(error_type) {
        Some((name, known)) => failure(provider, name, known, message, None),
        // A type the service model does not list is still the upstream failing mid-stream.
        None => UpstreamFailure {
            message,
            code: Some(error_type.to_owned()),
            ..UpstreamFailure::default()
        }
        .into_error(provider, StatusCode::BAD_GATEWAY, None),
    }
}

fn failure(
    provider: &str,
    name: &str,
    known: Mapping,
    message: Option<String>,
    retry_after: Option<Duration>,
) -> GatewayError {
    UpstreamFailure {
        message,
        kind: None,
        code: Some(known.code.unwrap_or(name).to_owned()),
        param: None,
    }
    .into_error(provider, known.status, retry_after)
}

/// The client's status when Bedrock named no type: its own status, except the two that mean
/// something else to an OpenAI client (408 is Bedrock's model timeout, 424 a model failure).
fn status_without_type(status: StatusCode) -> StatusCode {
    match status.as_u16() {
        MODEL_TIMEOUT_STATUS => StatusCode::GATEWAY_TIMEOUT,
        MODEL_FAILED_STATUS => StatusCode::BAD_GATEWAY,
        _ => status,
    }
}

#[cfg(test)]
mod tests;
