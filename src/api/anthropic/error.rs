//! Gateway errors as Anthropic error bodies, `{"type":"error","error":{"type","message"}}`: the
//! `type` is an Anthropic upstream's own (its adapter keeps it in `code`), else the one Anthropic
//! pairs with the status.

use bytes::Bytes;
use http::StatusCode;

use crate::error::GatewayError;
use crate::types::anthropic::{ErrorBody, ErrorDetail};

/// Every error `type` of Anthropic's API (from its SDK's error types).
const ERROR_TYPES: [&str; 10] = [
    "invalid_request_error",
    "authentication_error",
    "billing_error",
    "permission_error",
    "not_found_error",
    "request_too_large",
    "rate_limit_error",
    "api_error",
    "overloaded_error",
    "timeout_error",
];

/// Anthropic's overloaded status (not in the IANA registry, so not a `StatusCode` constant).
const OVERLOADED: u16 = 529;
/// `type` of every error body and of the stream's error event.
pub const ERROR: &str = "error";

/// The Anthropic error `type` for an HTTP status, as Anthropic's API and SDKs pair them; a
/// status Anthropic has no type for falls back to its class (4xx: the request, 5xx: the API).
pub fn status_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | OVERLOADED => "overloaded_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    }
}

/// The Anthropic error `type` of `error`.
pub fn error_type(error: &GatewayError) -> &'static str {
    if let GatewayError::Upstream {
        code: Some(code), ..
    } = error
        && let Some(kind) = ERROR_TYPES.iter().find(|kind| *kind == code)
    {
        return kind;
    }
    status_type(error.status())
}

/// The Anthropic error body of `error`.
pub fn body(error: &GatewayError) -> Bytes {
    let body = ErrorBody {
        kind: ERROR.to_owned(),
        error: ErrorDetail {
            kind: error_type(error).to_owned(),
            message: error.to_string(),
        },
    };
    Bytes::from(serde_json::to_vec(&body).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(status: u16, code: Option<&str>) -> GatewayError {
        GatewayError::Upstream {
            status: StatusCode::from_u16(status).unwrap(),
            message: "m".into(),
            kind: "t".into(),
            code: code.map(str::to_owned),
            param: None,
            retry_after: None,
        }
    }

    #[test]
    fn types_follow_the_status() {
        let cases = [
            (400, "invalid_request_error"),
            (401, "authentication_error"),
            (403, "permission_error"),
            (404, "not_found_error"),
            (405, "invalid_request_error"),
            (408, "invalid_request_error"),
            (413, "request_too_large"),
            (422, "invalid_request_error"),
            (429, "rate_limit_error"),
            (500, "api_error"),
            (502, "api_error"),
            (503, "overloaded_error"),
            (504, "api_error"),
            (529, "overloaded_error"),
        ];
        for (status, want) in cases {
            let error = upstream(status, None);
            assert_eq!(error_type(&error), want, "{status}");
            let body: serde_json::Value = serde_json::from_slice(&body(&error)).unwrap();
            assert_eq!(
                body,
                serde_json::json!({"type": "error", "error": {"type": want, "message": "m"}})
            );
        }
    }

    #[test]
    fn upstream_anthropic_types_win_and_gateway_errors_map() {
        let cases = [
            (upstream(400, Some("billing_error")), "billing_error"),
            (
                upstream(400, Some("context_length_exceeded")),
                "invalid_request_error",
            ),
            (GatewayError::ModelNotFound("x".into()), "not_found_error"),
            (GatewayError::PayloadTooLarge(1), "request_too_large"),
            (
                GatewayError::UpstreamAuth {
                    provider: "p".into(),
                    status: 401,
                },
                "api_error",
            ),
        ];
        for (error, want) in cases {
            assert_eq!(error_type(&error), want, "{error:?}");
        }
    }
}
