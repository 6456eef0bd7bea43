//! Stream chunks of a chat completion. Fields borrow from the SSE line they were parsed from, so
//! relaying a stream does not copy every text fragment.

#![allow(
    missing_docs,
    reason = "wire types mirror OpenAI's documented JSON field for field: a doc that restates a field's name says nothing"
)]

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::types::usage::OpenAiUsage;

/// One stream chunk.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ChatChunk<'a> {
    /// Completion id (the same on every chunk).
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    /// `chat.completion.chunk`.
    #[serde(borrow)]
    pub object: Cow<'a, str>,
    /// Unix seconds.
    pub created: u64,
    #[serde(borrow)]
    pub model: Cow<'a, str>,
    /// Choice deltas.
    #[serde(borrow)]
    pub choices: Vec<ChunkChoice<'a>>,
    /// Usage, on the final chunk when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<OpenAiUsage>,
}

/// One choice's delta in a chunk.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ChunkChoice<'a> {
    /// Choice position.
    pub index: u32,
    /// What is new.
    #[serde(borrow)]
    pub delta: Delta<'a>,
    /// Set on the choice's last chunk.
    #[serde(default, borrow)]
    pub finish_reason: Option<Cow<'a, str>>,
}

/// New content of a choice.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct Delta<'a> {
    /// `assistant` on the first chunk.
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    pub role: Option<Cow<'a, str>>,
    /// New text.
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    pub content: Option<Cow<'a, str>>,
    /// New reasoning text (non-standard extension).
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    pub reasoning_content: Option<Cow<'a, str>>,
    /// New refusal text.
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    pub refusal: Option<Cow<'a, str>>,
    /// Tool call fragments.
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    pub tool_calls: Option<Vec<ToolCallDelta<'a>>>,
    /// Claude's thinking signatures and redacted thinking as they arrive (LiteLLM's
    /// `thinking_blocks`, see [`super::THINKING_BLOCKS`]); the thinking text itself streams as
    /// `reasoning_content`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking_blocks: Option<Vec<Value>>,
}

/// A fragment of a tool call; only `index` is always present.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct ToolCallDelta<'a> {
    /// Which call of the turn (0, 1, …).
    pub index: u32,
    /// Call id (first fragment only).
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    pub id: Option<Cow<'a, str>>,
    /// `function` (first fragment only).
    #[serde(
        rename = "type",
        default,
        skip_serializing_if = "Option::is_none",
        borrow
    )]
    pub kind: Option<Cow<'a, str>>,
    /// Name and/or argument fragment.
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    pub function: Option<FunctionDelta<'a>>,
}

/// Function name (first fragment) and argument text fragment.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct FunctionDelta<'a> {
    /// Function name.
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    pub name: Option<Cow<'a, str>>,
    /// A raw piece of the arguments string.
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    pub arguments: Option<Cow<'a, str>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::chat::test_support::FIXTURES;

    #[test]
    fn stream_fixture_parses() {
        let sse =
            std::fs::read_to_string(format!("{FIXTURES}/chat_stream_tool_calls_with_usage.sse"))
                .unwrap();
        let chunks: Vec<ChatChunk<'_>> = sse
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter(|d| *d != "[DONE]")
            .map(|d| serde_json::from_str(d).unwrap())
            .collect();
        assert!(
            chunks
                .iter()
                .any(|c| c.usage.is_some() && c.choices.is_empty())
        );
        let calls: usize = chunks
            .iter()
            .flat_map(|c| &c.choices)
            .filter_map(|c| c.delta.tool_calls.as_ref())
            .map(Vec::len)
            .sum();
        assert!(calls >= 2);
    }
}
