//! A whole (non-stream) chat completion as returned to the client.

#![allow(
    missing_docs,
    reason = "wire types mirror OpenAI's documented JSON field for field: a doc that restates a field's name says nothing"
)]

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ToolCall;
use crate::types::usage::OpenAiUsage;

/// A whole (non-stream) chat completion.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ChatCompletion {
    /// Completion id.
    pub id: String,
    /// `chat.completion`.
    pub object: String,
    /// Unix seconds.
    pub created: u64,
    /// The model that answered.
    pub model: String,
    /// The answers.
    pub choices: Vec<Choice>,
    /// Tokens used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<OpenAiUsage>,
}

/// One answer.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Choice {
    /// Position.
    pub index: u32,
    /// The assistant message.
    pub message: ResponseMessage,
    /// `stop`, `length`, `tool_calls`, `content_filter`.
    pub finish_reason: Option<String>,
    /// Log probabilities (null unless asked).
    #[serde(default)]
    pub logprobs: Option<Value>,
}

/// The field of an assistant message (in an answer, and in a request's history) holding
/// Claude's signed thinking blocks.
pub const THINKING_BLOCKS: &str = "thinking_blocks";
/// `type` of a thinking block in [`THINKING_BLOCKS`].
pub const THINKING: &str = "thinking";
/// `type` of a redacted thinking block in [`THINKING_BLOCKS`].
pub const REDACTED_THINKING: &str = "redacted_thinking";

/// The assistant message of an answer.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct ResponseMessage {
    /// `assistant`.
    pub role: String,
    /// Text (null when the turn only calls tools).
    pub content: Option<String>,
    #[serde(default)]
    pub refusal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// Reasoning text (a common non-standard extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    /// Claude's thinking blocks with their signatures (LiteLLM's extension:
    /// `{"type": "thinking", "thinking", "signature"}` or `{"type": "redacted_thinking", "data"}`),
    /// which the model needs back verbatim in a later turn of a conversation that thinks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking_blocks: Option<Vec<Value>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::chat::test_support::FIXTURES;

    #[test]
    fn response_fixtures_parse() {
        for name in ["chat_response_basic", "chat_response_tool_calls"] {
            let text = std::fs::read_to_string(format!("{FIXTURES}/{name}.json")).unwrap();
            let parsed: ChatCompletion = serde_json::from_str(&text).unwrap();
            assert_eq!(parsed.object, "chat.completion", "{name}");
        }
    }
}
