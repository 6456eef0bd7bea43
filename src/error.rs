//! The gateway's one error type: every failure knows its HTTP status, its OpenAI error `type` and
//! `code`, whether a retry could help, and which side failed, and renders as the client's own
//! error body.

use std::time::Duration;

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode, header};
use serde::Serialize;

/// Which side of the gateway a failure belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The client sent something unusable.
    Client,
    /// The gateway itself (config, capacity, bug).
    Gateway,
    /// The upstream provider.
    Upstream,
}

/// Every way a request can fail.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GatewayError {
    /// The request is malformed or invalid.
    #[error("{message}")]
    InvalidRequest {
        /// What is wrong.
        message: String,
        /// The offending parameter.
        param: Option<String>,
    },
    /// No route matches the path.
    #[error("Unknown request URL: {method} {path}. Please check the URL for typos.")]
    UnknownRoute {
        /// The request method.
        method: String,
        /// The request path.
        path: String,
    },
    /// The path exists but not for this method.
    #[error("Method {0} is not allowed for this URL.")]
    MethodNotAllowed(String),
    /// No or wrong credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// The requested model is not configured.
    #[error("The model `{0}` does not exist or you do not have access to it.")]
    ModelNotFound(String),
    /// Something the request names (a stored response) does not exist for this caller.
    #[error("{message}")]
    NotFound {
        /// What was not found.
        message: String,
        /// The parameter that named it, if a body field did.
        param: Option<String>,
    },
    /// The request body is larger than `server.max_request_bytes`.
    #[error("Request body is larger than the limit of {0} bytes.")]
    PayloadTooLarge(u64),
    /// The client did not send the whole request within `server.read_timeout`.
    #[error("Timed out reading the request body.")]
    RequestTimeout,
    /// A gateway-side limit rejected the request.
    #[error("{message}")]
    RateLimited {
        /// What limit was hit.
        message: String,
        /// When a retry may succeed.
        retry_after: Duration,
        /// `x-ratelimit-*` headers for the client.
        headers: Vec<(HeaderName, HeaderValue)>,
    },
    /// A spend budget is used up; retrying will not help until the period ends.
    #[error("{0}")]
    QuotaExceeded(String),
    /// The caller may not use what it asked for (e.g. a model outside its key's list).
    #[error("{0}")]
    Forbidden(String),
    /// The gateway cannot take the request now (draining, overloaded).
    #[error("{message}")]
    Unavailable {
        /// Why.
        message: String,
        /// When a retry may succeed.
        retry_after: Option<Duration>,
    },
    /// The upstream could not be reached.
    #[error("Could not reach upstream provider `{provider}`: {detail}")]
    UpstreamConnect {
        /// Provider name.
        provider: String,
        /// Connection error text (no secrets: it comes from the socket layer).
        detail: String,
    },
    /// The upstream did not answer within its timeout.
    #[error("Upstream provider `{provider}` timed out after {}s.", .after.as_secs_f64())]
    UpstreamTimeout {
        /// Provider name.
        provider: String,
        /// The timeout that expired.
        after: Duration,
    },
    /// The upstream refused the gateway's own credentials (a gateway misconfiguration).
    #[error(
        "Upstream provider `{provider}` rejected the gateway's credentials (HTTP {status}); check the provider's api_key in the gateway config, or the permissions of the cloud identity the gateway signs with."
    )]
    UpstreamAuth {
        /// Provider name.
        provider: String,
        /// The upstream status (401 or 403).
        status: u16,
    },
    /// The gateway could not get credentials for the upstream (a token endpoint or the identity
    /// it relies on failed): a gateway-side problem, named by its source, never its secret.
    #[error(
        "Could not get credentials for upstream provider `{provider}` from {source_name}: {detail}"
    )]
    UpstreamCredentials {
        /// Provider name.
        provider: String,
        /// Where the credentials come from (`web_identity`, `container`, …).
        source_name: String,
        /// What failed.
        detail: String,
    },
    /// The upstream answered with an error that is passed on.
    #[error("{message}")]
    Upstream {
        /// Status to answer with.
        status: StatusCode,
        /// The upstream's message.
        message: String,
        /// OpenAI error `type`.
        kind: String,
        /// OpenAI error `code`.
        code: Option<String>,
        /// OpenAI error `param`.
        param: Option<String>,
        /// The upstream's retry hint.
        retry_after: Option<Duration>,
    },
    /// The upstream answered with something that is not its protocol.
    #[error("Upstream provider `{provider}` sent an invalid response: {detail}")]
    UpstreamProtocol {
        /// Provider name.
        provider: String,
        /// What was wrong.
        detail: String,
    },
    /// The HTTP layer refused the request before a handler saw it (an extractor's rejection),
    /// passed on with its status in the client's format.
    #[error("{message}")]
    Rejected {
        /// The rejection's status.
        status: StatusCode,
        /// Its text.
        message: String,
    },
    /// A bug or an impossible state.
    #[error("Internal gateway error: {0}")]
    Internal(String),
}

impl GatewayError {
    /// A 400 about a parameter.
    pub fn invalid(message: impl Into<String>, param: Option<&str>) -> Self {
        Self::InvalidRequest {
            message: message.into(),
            param: param.map(str::to_owned),
        }
    }

    /// The HTTP status the client gets.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidRequest { .. } => StatusCode::BAD_REQUEST,
            Self::UnknownRoute { .. } | Self::ModelNotFound(_) | Self::NotFound { .. } => {
                StatusCode::NOT_FOUND
            }
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::RateLimited { .. } | Self::QuotaExceeded(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::UpstreamConnect { .. }
            | Self::UpstreamAuth { .. }
            | Self::UpstreamCredentials { .. }
            | Self::UpstreamProtocol { .. } => StatusCode::BAD_GATEWAY,
            Self::UpstreamTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            Self::Upstream { status, .. } | Self::Rejected { status, .. } => *status,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The OpenAI error `type`.
    pub fn error_type(&self) -> &str {
        match self {
            Self::InvalidRequest { .. }
            | Self::UnknownRoute { .. }
            | Self::MethodNotAllowed(_)
            | Self::Unauthorized(_)
            | Self::ModelNotFound(_)
            | Self::NotFound { .. }
            | Self::PayloadTooLarge(_)
            | Self::RequestTimeout => "invalid_request_error",
            Self::RateLimited { .. } => "rate_limit_error",
            Self::QuotaExceeded(_) => "insufficient_quota",
            Self::Forbidden(_) => "permission_error",
            Self::Unavailable { .. } => "overloaded",
            Self::UpstreamConnect { .. }
            | Self::UpstreamTimeout { .. }
            | Self::UpstreamAuth { .. }
            | Self::UpstreamCredentials { .. }
            | Self::UpstreamProtocol { .. } => "upstream_error",
            Self::Upstream { kind, .. } => kind,
            Self::Rejected { status, .. } if status.is_client_error() => "invalid_request_error",
            Self::Internal(_) | Self::Rejected { .. } => "server_error",
        }
    }

    /// The OpenAI error `code`.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::InvalidRequest { .. }
            | Self::NotFound { .. }
            | Self::MethodNotAllowed(_)
            | Self::Internal(_)
            | Self::Rejected { .. } => None,
            Self::UnknownRoute { .. } => Some("unknown_url"),
            Self::Unauthorized(_) => Some("invalid_api_key"),
            Self::ModelNotFound(_) => Some("model_not_found"),
            Self::PayloadTooLarge(_) => Some("request_too_large"),
            Self::RequestTimeout => Some("request_timeout"),
            Self::RateLimited { .. } => Some("rate_limit_exceeded"),
            Self::QuotaExceeded(_) => Some("insufficient_quota"),
            Self::Forbidden(_) => Some("model_not_allowed"),
            Self::Unavailable { .. } => Some("service_unavailable"),
            Self::UpstreamConnect { .. } => Some("upstream_unreachable"),
            Self::UpstreamTimeout { .. } => Some("upstream_timeout"),
            Self::UpstreamAuth { .. } => Some("upstream_auth_failed"),
            Self::UpstreamCredentials { .. } => Some("upstream_credentials_unavailable"),
            Self::UpstreamProtocol { .. } => Some("upstream_invalid_response"),
            Self::Upstream { code, .. } => code.as_deref(),
        }
    }

    /// The OpenAI error `param`.
    pub fn param(&self) -> Option<&str> {
        match self {
            Self::InvalidRequest { param, .. }
            | Self::NotFound { param, .. }
            | Self::Upstream { param, .. } => param.as_deref(),
            Self::ModelNotFound(_) => Some("model"),
            _ => None,
        }
    }

    /// Which side failed.
    pub fn side(&self) -> Side {
        match self {
            Self::InvalidRequest { .. }
            | Self::UnknownRoute { .. }
            | Self::MethodNotAllowed(_)
            | Self::Unauthorized(_)
            | Self::Forbidden(_)
            | Self::ModelNotFound(_)
            | Self::NotFound { .. }
            | Self::PayloadTooLarge(_)
            | Self::RequestTimeout => Side::Client,
            Self::Rejected { status, .. } if status.is_client_error() => Side::Client,
            Self::RateLimited { .. }
            | Self::QuotaExceeded(_)
            | Self::Unavailable { .. }
            | Self::Internal(_)
            | Self::Rejected { .. }
            | Self::UpstreamAuth { .. }
            | Self::UpstreamCredentials { .. } => Side::Gateway,
            Self::UpstreamConnect { .. }
            | Self::UpstreamTimeout { .. }
            | Self::UpstreamProtocol { .. }
            | Self::Upstream { .. } => Side::Upstream,
        }
    }

    /// Whether another attempt (possibly elsewhere) could succeed: connect errors, timeouts and
    /// 408/429/5xx/529 from upstream, but never a quota that is used up.
    pub fn retryable(&self) -> bool {
        match self {
            Self::UpstreamConnect { .. } | Self::UpstreamTimeout { .. } => true,
            Self::Upstream { status, code, .. } => {
                let quota = code.as_deref() == Some("insufficient_quota");
                matches!(status.as_u16(), 408 | 429 | 500 | 502 | 503 | 504 | 529) && !quota
            }
            _ => false,
        }
    }

    /// The delay hint for `Retry-After`.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } => Some(*retry_after),
            Self::Unavailable { retry_after, .. } | Self::Upstream { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }

    /// A bounded label for `llm_upstream_error_total{error_type}`.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::UpstreamConnect { .. } => "connect",
            Self::UpstreamTimeout { .. } => "timeout",
            Self::UpstreamAuth { .. } | Self::UpstreamCredentials { .. } => "auth",
            Self::UpstreamProtocol { .. } => "protocol",
            Self::Upstream { status, .. } => match status.as_u16() {
                429 => "429",
                400..=499 => "4xx",
                _ => "5xx",
            },
            _ => "other",
        }
    }

    /// The OpenAI error body `{"error":{"message","type","param","code"}}`.
    pub fn openai_body(&self) -> Bytes {
        let message = self.to_string();
        let body = OpenAiErrorBody {
            error: OpenAiError {
                message: &message,
                kind: self.error_type(),
                param: self.param(),
                code: self.code(),
            },
        };
        Bytes::from(serde_json::to_vec(&body).unwrap_or_default())
    }
}

#[derive(Serialize)]
struct OpenAiErrorBody<'a> {
    error: OpenAiError<'a>,
}

#[derive(Serialize)]
struct OpenAiError<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    param: Option<&'a str>,
    code: Option<&'a str>,
}

/// Adds `Retry-After` (whole seconds, at least 1) to a response when the error has a hint.
pub fn retry_after_header(error: &GatewayError) -> Option<HeaderValue> {
    error.retry_after().map(|d| {
        let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
        HeaderValue::from(secs.max(1))
    })
}

impl GatewayError {
    /// The headers an error response carries besides its body, whatever the inbound format:
    /// `Retry-After`, the `x-ratelimit-*` state of a rate limit, and `x-should-retry: false` for a
    /// spent budget (the OpenAI SDKs would otherwise retry a 429).
    pub fn add_headers(&self, headers: &mut http::HeaderMap) {
        if let Some(value) = retry_after_header(self) {
            headers.insert(header::RETRY_AFTER, value);
        }
        match self {
            Self::RateLimited {
                headers: limits, ..
            } => {
                for (name, value) in limits {
                    headers.insert(name.clone(), value.clone());
                }
            }
            Self::QuotaExceeded(_) => {
                headers.insert(SHOULD_RETRY, HeaderValue::from_static("false"));
            }
            _ => {}
        }
    }
}

/// Tells OpenAI and Anthropic SDKs whether to retry.
const SHOULD_RETRY: HeaderName = HeaderName::from_static("x-should-retry");

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status(),
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            self.openai_body(),
        )
            .into_response();
        self.add_headers(response.headers_mut());
        response
    }
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
    fn retryability() {
        let cases = [
            (upstream(429, Some("rate_limit_exceeded")), true),
            (upstream(429, Some("insufficient_quota")), false),
            (upstream(500, None), true),
            (upstream(529, None), true),
            (upstream(400, None), false),
            (upstream(401, None), false),
            (upstream(404, None), false),
            (upstream(422, None), false),
            (
                GatewayError::UpstreamConnect {
                    provider: "p".into(),
                    detail: "refused".into(),
                },
                true,
            ),
            (GatewayError::ModelNotFound("m".into()), false),
        ];
        for (error, want) in cases {
            assert_eq!(error.retryable(), want, "{error:?}");
        }
    }

    #[test]
    fn statuses_and_bodies() {
        let cases = [
            (
                GatewayError::ModelNotFound("x".into()),
                404,
                "model_not_found",
            ),
            (GatewayError::PayloadTooLarge(10), 413, "request_too_large"),
            (
                GatewayError::UpstreamAuth {
                    provider: "p".into(),
                    status: 401,
                },
                502,
                "upstream_auth_failed",
            ),
            (
                GatewayError::UpstreamTimeout {
                    provider: "p".into(),
                    after: Duration::from_secs(3),
                },
                504,
                "upstream_timeout",
            ),
        ];
        for (error, status, code) in cases {
            assert_eq!(error.status().as_u16(), status);
            let body: serde_json::Value = serde_json::from_slice(&error.openai_body()).unwrap();
            assert_eq!(body["error"]["code"], code);
            assert!(body["error"]["message"].is_string());
            assert!(body["error"]["type"].is_string());
            assert!(body["error"].get("param").is_some());
        }
    }
}
