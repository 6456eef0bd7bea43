//! An OpenAI chat completion → an Anthropic Messages response: content blocks, stop reason, ids
//! and usage. Pure functions, shared with the stream translator.

use serde_json::Value;

use crate::error::GatewayError;
use crate::providers::Complete;
use crate::providers::translate::arguments_object;
use crate::telemetry::ids;
use crate::types::Usage;
use crate::types::anthropic::{AnthropicUsage, Block, MessagesResponse};
use crate::types::chat::{ChatCompletion, ResponseMessage};

/// Prefix of Anthropic message ids.
const MESSAGE_ID_PREFIX: &str = "msg_";
/// Prefix of OpenAI completion ids, replaced by [`MESSAGE_ID_PREFIX`].
const COMPLETION_ID_PREFIX: &str = "chatcmpl-";
/// `type` of a whole message.
pub const MESSAGE_TYPE: &str = "message";
/// The only role a response has.
pub const ASSISTANT: &str = "assistant";
/// Stop reason when the upstream gave none or one Anthropic has no word for.
pub const END_TURN: &str = "end_turn";

/// Anthropic's `stop_reason` for an OpenAI `finish_reason`.
pub fn stop_reason(finish_reason: Option<&str>) -> &'static str {
    match finish_reason {
        Some("length") => "max_tokens",
        Some("tool_calls" | "function_call") => "tool_use",
        Some("content_filter") => "refusal",
        _ => END_TURN,
    }
}

/// A `msg_…` id derived from an OpenAI completion id (characters outside Anthropic's id alphabet
/// dropped), or a fresh one when nothing is left.
pub fn message_id(completion_id: &str) -> String {
    let stem: String = completion_id
        .strip_prefix(COMPLETION_ID_PREFIX)
        .unwrap_or(completion_id)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
        .collect();
    if stem.is_empty() {
        format!(
            "{MESSAGE_ID_PREFIX}{:016x}{:016x}",
            ids::random_u64(),
            ids::random_u64()
        )
    } else {
        format!("{MESSAGE_ID_PREFIX}{stem}")
    }
}

/// The Messages response for a chat completion (its first choice; Anthropic has no `n`).
pub fn from_completion(completion: ChatCompletion) -> MessagesResponse {
    let usage = completion
        .usage
        .as_ref()
        .map(Usage::from)
        .unwrap_or_default();
    let (content, finish_reason) = match completion.choices.into_iter().next() {
        Some(choice) => (blocks(choice.message), choice.finish_reason),
        None => (Vec::new(), None),
    };
    MessagesResponse {
        id: message_id(&completion.id),
        kind: MESSAGE_TYPE.to_owned(),
        role: ASSISTANT.to_owned(),
        model: completion.model,
        content,
        stop_reason: Some(stop_reason(finish_reason.as_deref()).to_owned()),
        stop_sequence: None,
        usage: AnthropicUsage::from_usage(usage),
    }
}

/// Content blocks in Anthropic's order: thinking, text, tool calls.
fn blocks(message: ResponseMessage) -> Vec<Block> {
    let mut blocks = Vec::new();
    // Signed thinking blocks, as Claude wrote them, else the reasoning text unsigned.
    let signed: Vec<Block> = message
        .thinking_blocks
        .unwrap_or_default()
        .into_iter()
        .filter_map(|b| serde_json::from_value(b).ok())
        .filter(|b| matches!(b, Block::Thinking { .. } | Block::RedactedThinking { .. }))
        .collect();
    if !signed.is_empty() {
        blocks.extend(signed);
    } else if let Some(reasoning) = message.reasoning_content.filter(|r| !r.is_empty()) {
        blocks.push(Block::Thinking {
            thinking: reasoning,
            signature: String::new(),
        });
    }
    for text in [message.content, message.refusal].into_iter().flatten() {
        if !text.is_empty() {
            blocks.push(Block::text(text));
        }
    }
    for call in message.tool_calls.unwrap_or_default() {
        blocks.push(Block::ToolUse {
            id: call.id,
            name: call.function.name,
            input: arguments_object(&call.function.arguments),
        });
    }
    blocks
}

/// Translates a whole OpenAI answer from `provider` into the Anthropic body the client gets.
pub fn complete(complete: Complete, provider: &str) -> Result<Complete, GatewayError> {
    let completion: ChatCompletion =
        serde_json::from_slice(&complete.body).map_err(|e| GatewayError::UpstreamProtocol {
            provider: provider.to_owned(),
            detail: format!("the answer is not a chat completion: {e}"),
        })?;
    let usage = completion.usage.as_ref().map(Usage::from);
    let message = from_completion(completion);
    let body = serde_json::to_vec(&message).map_err(|e| GatewayError::Internal(e.to_string()))?;
    Ok(Complete {
        status: complete.status,
        body: body.into(),
        usage: usage.or(complete.usage),
    })
}

/// An empty `input` object, the start of a streamed `tool_use` block.
pub fn empty_input() -> Value {
    Value::Object(serde_json::Map::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

    fn read(path: &str) -> String {
        std::fs::read_to_string(format!("{FIXTURES}/{path}")).unwrap()
    }

    /// Translates the OpenAI response fixture `input` and compares with the expected Anthropic
    /// response `expected`, as JSON values.
    fn check(input: &str, expected: &str) {
        let body = read(&format!("reference/openai/{input}"));
        let translated = complete(
            Complete {
                status: http::StatusCode::OK,
                body: body.into(),
                usage: None,
            },
            "up",
        )
        .unwrap();
        let got: Value = serde_json::from_slice(&translated.body).unwrap();
        let want: Value =
            serde_json::from_str(&read(&format!("anthropic_inbound/{expected}"))).unwrap();
        assert_eq!(got, want, "{input}");
        // The result is a valid Anthropic response.
        serde_json::from_value::<MessagesResponse>(got).unwrap();
        assert!(translated.usage.is_some(), "{input}");
    }

    #[test]
    fn response_fixtures() {
        check("chat_response_basic.json", "chat_response_basic.json");
        check(
            "chat_response_tool_calls.json",
            "chat_response_tool_calls.json",
        );
    }

    #[test]
    fn stop_reasons() {
        let cases = [
            (Some("stop"), "end_turn"),
            (Some("length"), "max_tokens"),
            (Some("tool_calls"), "tool_use"),
            (Some("function_call"), "tool_use"),
            (Some("content_filter"), "refusal"),
            (Some("something_new"), "end_turn"),
            (None, "end_turn"),
        ];
        for (finish, want) in cases {
            assert_eq!(stop_reason(finish), want, "{finish:?}");
        }
    }

    #[test]
    fn message_ids() {
        assert_eq!(message_id("chatcmpl-abc123"), "msg_abc123");
        assert_eq!(message_id("gen-1.2/x"), "msg_gen-12x");
        let fresh = message_id("");
        assert!(fresh.starts_with("msg_") && fresh.len() > MESSAGE_ID_PREFIX.len());
    }

    #[test]
    fn signed_thinking_blocks_come_back_as_written() {
        let completion: ChatCompletion = serde_json::from_value(serde_json::json!({
            "id": "chatcmpl-x", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {
                "role": "assistant", "content": "Hi", "reasoning_content": "hmm",
                "thinking_blocks": [
                    {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                    {"type": "redacted_thinking", "data": "xyz"},
                    {"type": "unknown"}]
            }}]
        }))
        .unwrap();
        let message = serde_json::to_value(from_completion(completion)).unwrap();
        assert_eq!(
            message["content"],
            serde_json::json!([
                {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                {"type": "redacted_thinking", "data": "xyz"},
                {"type": "text", "text": "Hi"}
            ])
        );
    }

    #[test]
    fn reasoning_refusal_and_bad_arguments() {
        let completion: ChatCompletion = serde_json::from_value(serde_json::json!({
            "id": "chatcmpl-x", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "finish_reason": "content_filter", "message": {
                "role": "assistant", "content": null, "refusal": "I can't help with that.",
                "reasoning_content": "Thinking…",
                "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{oops"}}]
            }}]
        }))
        .unwrap();
        let message = serde_json::to_value(from_completion(completion)).unwrap();
        assert_eq!(
            message["content"],
            serde_json::json!([
                {"type": "thinking", "thinking": "Thinking…", "signature": ""},
                {"type": "text", "text": "I can't help with that."},
                {"type": "tool_use", "id": "call_1", "name": "f", "input": {"_raw_arguments": "{oops"}}
            ])
        );
        assert_eq!(message["stop_reason"], "refusal");
        assert_eq!(
            message["usage"],
            serde_json::json!({"input_tokens": 0, "output_tokens": 0})
        );
    }

    #[test]
    fn an_answer_that_is_not_a_completion_is_a_protocol_error() {
        let error = complete(
            Complete {
                status: http::StatusCode::OK,
                body: "{\"hello\":1}".into(),
                usage: None,
            },
            "up",
        )
        .unwrap_err();
        assert_eq!(error.status(), 502);
    }
}
