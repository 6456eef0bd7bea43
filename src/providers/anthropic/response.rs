//! Anthropic answers → OpenAI: whole responses, stop reasons, and error bodies.

use std::time::Duration;

use http::StatusCode;

use crate::clock::unix_now;
use crate::error::GatewayError;
use crate::providers::errors::UpstreamFailure;
use crate::providers::translate::assistant_message;
use crate::types::Usage;
use crate::types::anthropic::{Block, ErrorBody, MessagesResponse};
use crate::types::chat::{ChatCompletion, Choice, FunctionCall, ToolCall};
use crate::types::usage::OpenAiUsage;

/// Anthropic `stop_reason` → OpenAI `finish_reason` (LiteLLM's table; unknown → `stop`).
pub fn finish_reason(stop_reason: Option<&str>) -> &'static str {
    match stop_reason {
        Some("max_tokens" | "pause_turn" | "model_context_window_exceeded" | "compaction") => {
            "length"
        }
        Some("tool_use") => "tool_calls",
        Some("refusal") => "content_filter",
        _ => "stop",
    }
}

/// A whole Anthropic response as an OpenAI chat completion, with its usage.
pub fn to_openai(response: MessagesResponse) -> (ChatCompletion, Usage) {
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut tool_calls = Vec::new();
    for block in response.content {
        match block {
            Block::Text { text: t, .. } => text.push_str(&t),
            Block::Thinking { thinking, .. } => reasoning.push_str(&thinking),
            Block::ToolUse { id, name, input } => tool_calls.push(ToolCall {
                id,
                kind: "function".to_owned(),
                function: FunctionCall {
                    name,
                    arguments: input.to_string(),
                },
            }),
            _ => {}
        }
    }
    let usage = response.usage.to_usage();
    let message = assistant_message(text, reasoning, tool_calls);
    let completion = ChatCompletion {
        id: response.id,
        object: "chat.completion".to_owned(),
        created: unix_now(),
        model: response.model,
        choices: vec![Choice {
            index: 0,
            message,
            finish_reason: Some(finish_reason(response.stop_reason.as_deref()).to_owned()),
            logprobs: None,
        }],
        usage: Some(OpenAiUsage::from(usage)),
    };
    (completion, usage)
}

/// The status an Anthropic error type means, for errors that arrive in-band (mid-stream).
pub fn status_of(kind: &str) -> StatusCode {
    match kind {
        "invalid_request_error" => StatusCode::BAD_REQUEST,
        "authentication_error" => StatusCode::UNAUTHORIZED,
        "permission_error" => StatusCode::FORBIDDEN,
        "not_found_error" => StatusCode::NOT_FOUND,
        "request_too_large" => StatusCode::PAYLOAD_TOO_LARGE,
        "rate_limit_error" => StatusCode::TOO_MANY_REQUESTS,
        "overloaded_error" => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// An Anthropic error as the client's error. 529 (overloaded) becomes 503, which every OpenAI
/// client retries; the Anthropic error type is kept in `code`.
pub fn error(
    provider: &str,
    status: StatusCode,
    kind: &str,
    message: &str,
    retry_after: Option<Duration>,
) -> GatewayError {
    let status = if status.as_u16() == 529 {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        status
    };
    let openai_type = match kind {
        "rate_limit_error" => "rate_limit_error",
        "overloaded_error" | "api_error" => "server_error",
        _ => crate::providers::errors::default_error_type(status),
    };
    UpstreamFailure {
        message: Some(message.to_owned()),
        kind: Some(openai_type.to_owned()),
        code: Some(kind.to_owned()),
        param: None,
    }
    .into_error(provider, status, retry_after)
}

/// Maps an Anthropic error response.
pub fn errors(
    provider: &str,
    status: StatusCode,
    body: &[u8],
    retry_after: Option<Duration>,
) -> GatewayError {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(body) => error(
            provider,
            status,
            &body.error.kind,
            &body.error.message,
            retry_after,
        ),
        Err(_) => {
            let status = if status.as_u16() == 529 {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                status
            };
            UpstreamFailure::from_text(body).into_error(provider, status, retry_after)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/reference");

    fn check(fixture: &str, expected: Value) {
        let text = std::fs::read_to_string(format!("{FIXTURES}/anthropic/{fixture}")).unwrap();
        let (completion, _) = to_openai(serde_json::from_str(&text).unwrap());
        let mut got = serde_json::to_value(&completion).unwrap();
        got["created"] = json!(0);
        assert_eq!(got, expected, "{fixture}");
    }

    #[test]
    fn responses() {
        check(
            "messages_response_text.json",
            json!({"id": "msg_01XYZtestText", "object": "chat.completion", "created": 0, "model": "claude-sonnet-4-5-20250929",
                   "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello! How can I help you today?", "refusal": null},
                                "finish_reason": "stop", "logprobs": null}],
                   "usage": {"prompt_tokens": 12, "completion_tokens": 11, "total_tokens": 23,
                             "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 0}}}),
        );
        check(
            "messages_response_tool_use.json",
            json!({"id": "msg_01XYZtestTool", "object": "chat.completion", "created": 0, "model": "claude-sonnet-4-5-20250929",
                   "choices": [{"index": 0, "message": {"role": "assistant", "content": "Let me look that up.", "refusal": null,
                                "tool_calls": [{"id": "toolu_01BBB", "type": "function", "function": {"name": "get_current_weather", "arguments": "{\"location\":\"Paris, FR\"}"}}]},
                                "finish_reason": "tool_calls", "logprobs": null}],
                   "usage": {"prompt_tokens": 3544, "completion_tokens": 54, "total_tokens": 3598,
                             "prompt_tokens_details": {"cached_tokens": 2048}, "completion_tokens_details": {"reasoning_tokens": 0}}}),
        );
    }

    #[test]
    fn finish_reasons_follow_the_fixture_table() {
        let table: Value = serde_json::from_str(
            &std::fs::read_to_string(format!("{FIXTURES}/translations/finish_reason_maps.json"))
                .unwrap(),
        )
        .unwrap();
        for (anthropic, openai) in table["anthropic_stop_reason_to_openai"]
            .as_object()
            .unwrap()
        {
            assert_eq!(
                finish_reason(Some(anthropic)),
                openai.as_str().unwrap(),
                "{anthropic}"
            );
        }
        assert_eq!(finish_reason(Some("something_new")), "stop");
        assert_eq!(finish_reason(None), "stop");
    }

    #[test]
    fn error_bodies() {
        let overloaded =
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        let cases = [
            (529, overloaded, 503, Some("overloaded_error")),
            (
                429,
                r#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#,
                429,
                Some("rate_limit_error"),
            ),
            (
                400,
                r#"{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Field required"}}"#,
                400,
                Some("invalid_request_error"),
            ),
            (
                401,
                r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#,
                502,
                Some("upstream_auth_failed"),
            ),
            (529, "<html>oops</html>", 503, None),
        ];
        for (status, body, want, code) in cases {
            let e = errors(
                "a",
                StatusCode::from_u16(status).unwrap(),
                body.as_bytes(),
                Some(Duration::from_secs(2)),
            );
            assert_eq!(e.status().as_u16(), want, "{body}");
            assert_eq!(e.code(), code, "{body}");
        }
        assert!(
            errors(
                "a",
                StatusCode::TOO_MANY_REQUESTS,
                b"{}",
                Some(Duration::from_secs(2))
            )
            .retryable()
        );
    }
}
