//! Anthropic Messages API wire types: request, response, stream events, usage and errors. Used
//! by the Anthropic adapter (OpenAI → Anthropic upstream) and by the Anthropic inbound API
//! (Anthropic clients → any upstream). Blocks the gateway does not model are kept as raw JSON.

#![allow(
    missing_docs,
    reason = "wire types mirror Anthropic's documented JSON field for field: a doc that restates a field's name says nothing"
)]

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::usage::Usage;

/// The `anthropic-version` the gateway sends upstream.
pub const API_VERSION: &str = "2023-06-01";

/// `POST /v1/messages` body.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct MessagesRequest {
    /// Model name.
    pub model: String,
    /// Required output limit.
    pub max_tokens: u64,
    /// The conversation (`user`/`assistant` turns).
    pub messages: Vec<AnthropicMessage>,
    /// System prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<System>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_sequences: Option<Vec<String>>,
    /// Sampling temperature (0–1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Top-k sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u64>,
    /// `{user_id}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<AnthropicTool>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<AnthropicToolChoice>,
    /// Extended thinking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<Value>,
    /// Whether to stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Every other field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `system`: a string or text blocks.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum System {
    /// Plain text.
    Text(String),
    /// Text blocks (may carry `cache_control`).
    Blocks(Vec<Block>),
}

impl System {
    /// All system text, blocks joined with newlines.
    pub fn text(&self) -> String {
        match self {
            Self::Text(t) => t.clone(),
            Self::Blocks(blocks) => blocks
                .iter()
                .filter_map(|b| match b {
                    Block::Text { text, .. } => Some(text.as_str()),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

/// One turn.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct AnthropicMessage {
    /// `user` or `assistant`.
    pub role: String,
    /// A string or blocks.
    pub content: AnthropicContent,
}

/// Turn content.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum AnthropicContent {
    /// Plain text.
    Text(String),
    /// Content blocks.
    Blocks(Vec<Block>),
}

impl AnthropicContent {
    /// The content as blocks.
    pub fn into_blocks(self) -> Vec<Block> {
        match self {
            Self::Text(text) => vec![Block::text(text)],
            Self::Blocks(blocks) => blocks,
        }
    }
}

/// A content block.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Block {
    Text {
        text: String,
        /// Prompt caching marker.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<Value>,
    },
    Image {
        /// `{type: base64, media_type, data}` or `{type: url, url}`.
        source: Source,
    },
    /// A document (PDF, text).
    Document {
        /// Where the document is.
        source: Value,
    },
    /// A tool call by the assistant.
    ToolUse {
        /// Call id (`toolu_…`).
        id: String,
        /// Tool name.
        name: String,
        /// Arguments object.
        input: Value,
    },
    /// A tool result from the user.
    ToolResult {
        /// The call answered.
        tool_use_id: String,
        /// A string or blocks.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content: Option<AnthropicContent>,
        /// Whether the tool failed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        is_error: Option<bool>,
    },
    /// Extended thinking (must be replayed unmodified).
    Thinking {
        /// The thinking text.
        thinking: String,
        /// Opaque signature.
        #[serde(default)]
        signature: String,
    },
    RedactedThinking {
        /// Opaque data.
        data: String,
    },
}

impl Block {
    /// A text block.
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text {
            text: text.into(),
            cache_control: None,
        }
    }
}

/// Where an image comes from.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Source {
    /// Inline base64.
    Base64 {
        /// MIME type.
        media_type: String,
        /// Base64 payload.
        data: String,
    },
    /// A URL the upstream fetches.
    Url {
        /// The URL.
        url: String,
    },
}

/// A tool definition.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct AnthropicTool {
    /// Name (`^[a-zA-Z0-9_-]{1,128}$`).
    pub name: String,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the input (absent for server tools).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_schema: Option<Value>,
    /// Every other field (`type` of server tools, `cache_control`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `tool_choice`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct AnthropicToolChoice {
    /// `auto`, `any`, `tool`, `none`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The tool, for `tool`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Inverse of OpenAI's `parallel_tool_calls`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_parallel_tool_use: Option<bool>,
}

/// A whole response.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct MessagesResponse {
    /// `msg_…`.
    pub id: String,
    /// `message`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `assistant`.
    pub role: String,
    /// The model that answered.
    pub model: String,
    /// Content blocks.
    pub content: Vec<Block>,
    /// `end_turn`, `max_tokens`, `stop_sequence`, `tool_use`, …
    pub stop_reason: Option<String>,
    /// The matched stop sequence.
    #[serde(default)]
    pub stop_sequence: Option<String>,
    /// Tokens.
    pub usage: AnthropicUsage,
}

/// Anthropic usage: `input_tokens` excludes cache reads and writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct AnthropicUsage {
    /// Uncached input tokens.
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default)]
    pub output_tokens: u64,
    /// Tokens written to the prompt cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation_input_tokens: Option<u64>,
    /// Tokens read from the prompt cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<u64>,
}

impl AnthropicUsage {
    /// In OpenAI's terms: every input token counted in `input`, cache reads as `cached`.
    pub fn to_usage(self) -> Usage {
        let cache_read = self.cache_read_input_tokens.unwrap_or(0);
        Usage {
            input: self
                .input_tokens
                .saturating_add(self.cache_creation_input_tokens.unwrap_or(0))
                .saturating_add(cache_read),
            output: self.output_tokens,
            cached: cache_read,
            reasoning: 0,
        }
    }

    /// Folds in a later report of the same stream: `message_start` carries input and cache
    /// counts, `message_delta`'s usage is cumulative and may repeat them, so keep the largest.
    pub fn merge(&mut self, later: Self) {
        self.input_tokens = self.input_tokens.max(later.input_tokens);
        self.output_tokens = self.output_tokens.max(later.output_tokens);
        self.cache_creation_input_tokens = self
            .cache_creation_input_tokens
            .max(later.cache_creation_input_tokens);
        self.cache_read_input_tokens = self
            .cache_read_input_tokens
            .max(later.cache_read_input_tokens);
    }

    /// From OpenAI's terms: cached tokens become cache reads.
    pub fn from_usage(usage: Usage) -> Self {
        Self {
            input_tokens: usage.input.saturating_sub(usage.cached),
            output_tokens: usage.output,
            cache_creation_input_tokens: None,
            cache_read_input_tokens: (usage.cached > 0).then_some(usage.cached),
        }
    }
}

/// One stream event (the `data:` JSON; its `type` repeats the `event:` name).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamEvent<'a> {
    /// The message begins (content empty, initial usage).
    MessageStart {
        /// The message shell.
        message: MessagesResponse,
    },
    /// A content block begins.
    ContentBlockStart {
        /// Block position.
        index: u32,
        /// The block with empty content.
        content_block: Block,
    },
    /// New content for a block.
    ContentBlockDelta {
        /// Block position.
        index: u32,
        #[serde(borrow)]
        delta: BlockDelta<'a>,
    },
    /// A block ends.
    ContentBlockStop {
        /// Block position.
        index: u32,
    },
    /// Stop reason and cumulative usage.
    MessageDelta {
        /// `{stop_reason, stop_sequence}`.
        delta: MessageDeltaBody,
        /// Cumulative usage (at least `output_tokens`).
        #[serde(default)]
        usage: AnthropicUsage,
    },
    /// The message ends.
    MessageStop,
    /// Keep-alive.
    Ping,
    /// An error after the 200.
    Error {
        /// `{type, message}`.
        error: ErrorDetail,
    },
}

/// A block delta.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BlockDelta<'a> {
    /// More text.
    TextDelta {
        #[serde(borrow)]
        text: Cow<'a, str>,
    },
    /// More tool input JSON (concatenate; parse at block stop).
    InputJsonDelta {
        /// A raw piece of JSON.
        #[serde(borrow)]
        partial_json: Cow<'a, str>,
    },
    /// More thinking.
    ThinkingDelta {
        /// The thinking text.
        #[serde(borrow)]
        thinking: Cow<'a, str>,
    },
    /// The thinking block's signature.
    SignatureDelta {
        /// Opaque signature.
        #[serde(borrow)]
        signature: Cow<'a, str>,
    },
    /// A citation.
    CitationsDelta { citation: Value },
}

/// `message_delta.delta`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct MessageDeltaBody {
    /// Why the message stopped.
    #[serde(default)]
    pub stop_reason: Option<String>,
    /// The matched stop sequence.
    #[serde(default)]
    pub stop_sequence: Option<String>,
}

/// An Anthropic error body: `{"type":"error","error":{"type","message"}}`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ErrorBody {
    /// `error`.
    #[serde(rename = "type")]
    pub kind: String,
    pub error: ErrorDetail,
}

/// `error` of an Anthropic error body.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ErrorDetail {
    /// `invalid_request_error`, `authentication_error`, `rate_limit_error`, `overloaded_error`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// What went wrong.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/reference/anthropic"
    );

    fn read(name: &str) -> String {
        std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap()
    }

    #[test]
    fn request_and_response_fixtures_parse() {
        for name in [
            "messages_request_tools.json",
            "messages_request_thinking.json",
        ] {
            let request: MessagesRequest = serde_json::from_str(&read(name)).unwrap();
            assert_eq!(request.model, "claude-sonnet-4-5", "{name}");
        }
        let response: MessagesResponse =
            serde_json::from_str(&read("messages_response_tool_use.json")).unwrap();
        assert!(matches!(response.content[1], Block::ToolUse { .. }));
        assert_eq!(
            response.usage.to_usage(),
            Usage {
                input: 472 + 1024 + 2048,
                output: 54,
                cached: 2048,
                reasoning: 0
            }
        );
        let error: ErrorBody =
            serde_json::from_str(&read("error_400_invalid_request.json")).unwrap();
        assert_eq!(error.error.kind, "invalid_request_error");
    }

    #[test]
    fn every_stream_event_of_every_fixture_parses() {
        for name in [
            "messages_stream_text.sse",
            "messages_stream_thinking_tool_use.sse",
            "messages_stream_error_midstream.sse",
        ] {
            let text = read(name);
            for data in text.lines().filter_map(|l| l.strip_prefix("data: ")) {
                let event: Result<StreamEvent<'_>, _> = serde_json::from_str(data);
                assert!(event.is_ok(), "{name}: {data}: {event:?}");
            }
        }
    }

    #[test]
    fn usage_converts_both_ways() {
        let usage = Usage {
            input: 100,
            output: 7,
            cached: 60,
            reasoning: 0,
        };
        assert_eq!(AnthropicUsage::from_usage(usage).to_usage(), usage);
    }
}
