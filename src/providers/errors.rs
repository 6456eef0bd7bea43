//! Upstream error bodies → the client's error. Every adapter parses its own error shape into an
//! [`UpstreamFailure`] and calls [`UpstreamFailure::into_error`], which applies the rules shared
//! by all: 401/403 are the gateway's misconfiguration (a cleaned 502, never echoing the
//! upstream's message, which may quote key fragments), messages are bounded, and the retry hint
//! is kept.

use std::time::Duration;

use http::StatusCode;
use serde::Deserialize;

use crate::error::GatewayError;

/// Longest upstream error message passed on to clients; the rest is cut.
const MAX_UPSTREAM_MESSAGE_CHARS: usize = 1_000;
/// Characters kept past the limit before redaction, so a key that straddles the limit is still
/// recognised (and masked) whole.
const REDACTION_MARGIN_CHARS: usize = 256;

/// Cuts an upstream message to a bounded length (an upstream may echo a whole prompt) and
/// masks what the log redaction masks: an upstream that echoes the gateway's key (`Incorrect
/// API key provided: sk-…`) must not hand it to the client, nor to the logs.
pub fn bounded_message(message: &str) -> String {
    // Cut first (with room for a credential that straddles the limit), then redact: the
    // redaction's cost follows what is kept, not what an upstream sent.
    let kept = message
        .char_indices()
        .nth(MAX_UPSTREAM_MESSAGE_CHARS + REDACTION_MARGIN_CHARS)
        .map_or(message, |(cut, _)| &message[..cut]);
    let message = crate::telemetry::redact::global().redact(kept);
    match message.char_indices().nth(MAX_UPSTREAM_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}…", &message[..cut]),
        None => message.into_owned(),
    }
}

/// What an upstream said went wrong, in OpenAI's terms.
#[derive(Debug, Default)]
pub struct UpstreamFailure {
    /// The upstream's message.
    pub message: Option<String>,
    /// OpenAI error `type`.
    pub kind: Option<String>,
    /// OpenAI error `code`.
    pub code: Option<String>,
    /// OpenAI error `param`.
    pub param: Option<String>,
}

impl UpstreamFailure {
    /// The client's error for this failure at `status` (which the caller may have remapped).
    pub fn into_error(
        self,
        provider: &str,
        status: StatusCode,
        retry_after: Option<Duration>,
    ) -> GatewayError {
        if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
            return GatewayError::UpstreamAuth {
                provider: provider.to_owned(),
                status: status.as_u16(),
            };
        }
        let message = self
            .message
            .filter(|m| !m.trim().is_empty())
            .unwrap_or_else(|| {
                format!(
                    "Upstream provider `{provider}` answered HTTP {}",
                    status.as_u16()
                )
            });
        GatewayError::Upstream {
            status,
            message: bounded_message(&message),
            kind: self
                .kind
                .unwrap_or_else(|| default_error_type(status).to_owned()),
            code: self.code,
            param: self.param,
            retry_after,
        }
    }

    /// A failure whose body was not a known error shape: its text is the message.
    pub fn from_text(body: &[u8]) -> Self {
        let text = String::from_utf8_lossy(body);
        Self {
            message: Some(text.trim().to_owned()),
            ..Self::default()
        }
    }
}

/// The OpenAI error `type` typical for a status.
pub fn default_error_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        429 => "rate_limit_error",
        400..=499 => "invalid_request_error",
        _ => "server_error",
    }
}

/// Error bodies seen from OpenAI-format servers: `{"error":{…}}`, vLLM's older flat
/// `{"object":"error","message",…}`, Ollama's `{"error":"text"}`.
#[derive(Deserialize)]
#[serde(untagged)]
enum OpenAiErrorBody {
    Nested {
        error: NestedError,
    },
    Flat {
        message: String,
        #[serde(default, rename = "type")]
        kind: Option<String>,
        #[serde(default)]
        param: Option<String>,
    },
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NestedError {
    Object {
        #[serde(default)]
        message: Option<String>,
        #[serde(default, rename = "type")]
        kind: Option<String>,
        #[serde(default)]
        code: Option<serde_json::Value>,
        #[serde(default)]
        param: Option<String>,
    },
    Text(String),
}

/// Maps an OpenAI-format error response (OpenAI, Azure, vLLM, Ollama's `/v1`).
pub fn openai(
    provider: &str,
    status: StatusCode,
    body: &[u8],
    retry_after: Option<Duration>,
) -> GatewayError {
    let failure = match serde_json::from_slice::<OpenAiErrorBody>(body) {
        Ok(OpenAiErrorBody::Nested {
            error:
                NestedError::Object {
                    message,
                    kind,
                    code,
                    param,
                },
        }) => UpstreamFailure {
            message,
            kind,
            // `code` may be a string or (vLLM) the status number; keep only strings.
            code: code.and_then(|c| c.as_str().map(str::to_owned)),
            param,
        },
        Ok(OpenAiErrorBody::Nested {
            error: NestedError::Text(message),
        }) => UpstreamFailure {
            message: Some(message),
            ..UpstreamFailure::default()
        },
        Ok(OpenAiErrorBody::Flat {
            message,
            kind,
            param,
        }) => UpstreamFailure {
            message: Some(message),
            kind,
            param,
            code: None,
        },
        Err(_) => UpstreamFailure::from_text(body),
    };
    failure.into_error(provider, status, retry_after)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/reference");

    #[test]
    fn maps_openai_format_error_bodies() {
        let fixture = |p: &str| std::fs::read_to_string(format!("{FIXTURES}/{p}")).unwrap();
        let cases: Vec<(u16, String, u16, &str, Option<&str>)> = vec![
            (
                429,
                r#"{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#.into(),
                429,
                "Rate limit reached",
                Some("rate_limit_exceeded"),
            ),
            (400, fixture("vllm/error_response_legacy.json"), 400, "", None),
            (400, fixture("vllm/error_response_current.json"), 400, "", None),
            (400, fixture("azure/error_400_prompt_content_filter.json"), 400, "filtered", Some("content_filter")),
            (404, fixture("ollama/openai_compat_error_404.json"), 404, "", None),
            (500, fixture("ollama/error.json"), 500, "", None),
            (500, "upstream exploded".into(), 500, "upstream exploded", None),
            (503, String::new(), 503, "answered HTTP 503", None),
            (401, fixture("openai/error_401_invalid_api_key.json"), 502, "rejected the gateway's credentials", Some("upstream_auth_failed")),
        ];
        for (status, body, want_status, want_message, want_code) in cases {
            let e = openai(
                "p",
                StatusCode::from_u16(status).unwrap(),
                body.as_bytes(),
                None,
            );
            assert_eq!(e.status().as_u16(), want_status, "{body}");
            assert!(e.to_string().contains(want_message), "{body}: {e}");
            assert_eq!(e.code(), want_code, "{body}");
            assert!(!e.to_string().contains("sk-"), "{e}");
        }
    }

    #[test]
    fn long_upstream_messages_are_cut() {
        let long = "é".repeat(MAX_UPSTREAM_MESSAGE_CHARS + 10);
        let cut = bounded_message(&long);
        assert_eq!(cut.chars().count(), MAX_UPSTREAM_MESSAGE_CHARS + 1);
        assert_eq!(bounded_message("short"), "short");
        let echoed = bounded_message(
            "Incorrect API key provided: sk-proj-abcdefghijklmnopqrstuvwxyz012345.",
        );
        assert!(
            echoed.starts_with("Incorrect API key provided: "),
            "{echoed}"
        );
        assert!(!echoed.contains("abcdefghijklmnop"), "{echoed}");
        // A key straddling the limit is masked, not cut into a shorter, unmasked fragment.
        let key = "sk-proj-abcdefghijklmnopqrstuvwxyz012345";
        let straddling = format!(
            "{} {key} trailing",
            "x".repeat(MAX_UPSTREAM_MESSAGE_CHARS - 10)
        );
        assert!(!bounded_message(&straddling).contains("sk-proj-ab"));
        // A huge message costs what is kept.
        let huge = "api-key=".repeat(1 << 20);
        assert!(bounded_message(&huge).chars().count() <= MAX_UPSTREAM_MESSAGE_CHARS + 1);
    }
}
