//! Bedrock Runtime wire types (lowerCamelCase JSON), field names as in AWS's service model
//! (botocore `bedrock-runtime/2023-09-30/service-2.json`): the Converse request and response
//! (ConverseStream takes the same body), the ConverseStream events (each event's payload is the
//! event structure itself, named by the `:event-type` header) and the error body (the
//! InvokeModel embedding bodies live with their translation in `embed`). Only what the gateway
//! reads or writes is modelled; unknown response fields are ignored, so new Bedrock features do
//! not break parsing.

#![allow(
    missing_docs,
    reason = "wire types mirror Bedrock's documented JSON field for field: a doc that restates a field's name says nothing"
)]

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `POST /model/{modelId}/converse` (and `/converse-stream`) body.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConverseRequest {
    /// The conversation: `user` and `assistant` turns, alternating, starting with `user`.
    pub messages: Vec<Message>,
    /// System prompts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub system: Vec<SystemBlock>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inference_config: Option<InferenceConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_config: Option<ToolConfig>,
    /// Model-specific fields (Claude's `thinking`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_model_request_fields: Option<Value>,
    /// Structured output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_config: Option<OutputConfig>,
}

/// One turn (request and response share it).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct Message {
    /// `user` or `assistant`.
    pub role: String,
    #[serde(default)]
    pub content: Vec<ContentBlock>,
}

/// One block of a turn, a union: exactly one field is set.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlock {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageBlock>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_use: Option<ToolUseBlock>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_result: Option<ToolResultBlock>,
    /// The model's reasoning (Claude's thinking).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<ReasoningContentBlock>,
    /// Every other member (`document`, `cachePoint`, `citationsContent`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ContentBlock {
    /// A text block.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: Some(text.into()),
            ..Self::default()
        }
    }

    /// A cache checkpoint: the prompt up to here may be cached (where the client put
    /// Anthropic's `cache_control`).
    pub fn cache_point() -> Self {
        let mut extra = Map::new();
        extra.insert(CACHE_POINT.to_owned(), cache_point_value());
        Self {
            extra,
            ..Self::default()
        }
    }
}

/// Converse's name of a cache checkpoint block.
const CACHE_POINT: &str = "cachePoint";

/// `{"type": "default"}`, the one kind of checkpoint Converse has.
fn cache_point_value() -> Value {
    serde_json::json!({"type": "default"})
}

/// `system` entry: text, or a cache checkpoint after the text before it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum SystemBlock {
    /// Instructions.
    Text(String),
    /// A cache checkpoint.
    CachePoint(Value),
}

impl SystemBlock {
    /// A cache checkpoint.
    pub fn cache_point() -> Self {
        Self::CachePoint(cache_point_value())
    }
}

/// `image`: the bytes travel as base64 in Converse's JSON.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ImageBlock {
    /// `png`, `jpeg`, `gif` or `webp`.
    pub format: String,
    pub source: ImageSource,
}

/// `image.source`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ImageSource {
    /// Base64 of the image.
    pub bytes: String,
}

/// `toolUse`: a call the model makes.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolUseBlock {
    pub tool_use_id: String,
    pub name: String,
    /// The arguments, a JSON object.
    #[serde(default)]
    pub input: Value,
}

/// `toolResult`: the answer to a call, in a `user` turn.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolResultBlock {
    pub tool_use_id: String,
    pub content: Vec<ToolResultContent>,
    /// `success` or `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// One block of a tool result (a union: `text` or `json`, …).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct ToolResultContent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<Value>,
}

/// `reasoningContent`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReasoningContentBlock {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_text: Option<ReasoningText>,
    /// Encrypted reasoning (base64), when the model's safety systems redacted it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redacted_content: Option<String>,
}

/// `reasoningContent.reasoningText`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct ReasoningText {
    pub text: String,
    /// Verifies the reasoning when it is sent back in a later turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// `inferenceConfig`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InferenceConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stop_sequences: Vec<String>,
}

/// `toolConfig`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolConfig {
    pub tools: Vec<Tool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
}

/// One entry of `toolConfig.tools`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tool {
    pub tool_spec: ToolSpec,
}

/// `toolSpec`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolSpec {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub input_schema: InputSchema,
}

/// `toolSpec.inputSchema`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InputSchema {
    /// The arguments' JSON Schema.
    pub json: Value,
}

/// `toolChoice`, a union: `{"auto":{}}`, `{"any":{}}` or `{"tool":{"name":…}}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ToolChoice {
    /// The model decides.
    Auto(Empty),
    /// The model must call some tool.
    Any(Empty),
    /// The model must call this tool.
    Tool(NamedTool),
}

/// An empty structure (`{}`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Empty {}

/// `toolChoice.tool`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NamedTool {
    pub name: String,
}

/// `outputConfig`: structured output.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputConfig {
    pub text_format: OutputFormat,
}

/// `outputConfig.textFormat`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutputFormat {
    /// `json_schema`, the only type.
    #[serde(rename = "type")]
    pub kind: String,
    pub structure: OutputStructure,
}

/// `textFormat.structure` (a union with one member).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputStructure {
    pub json_schema: JsonSchema,
}

/// `structure.jsonSchema`: the schema travels as JSON text, not as an object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JsonSchema {
    pub schema: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The Converse answer.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConverseResponse {
    #[serde(default)]
    pub output: ConverseOutput,
    /// `end_turn`, `tool_use`, `max_tokens`, `stop_sequence`, `guardrail_intervened`, …
    #[serde(default)]
    pub stop_reason: Option<String>,
    #[serde(default)]
    pub usage: Option<TokenUsage>,
}

/// `output` (a union whose one member is `message`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ConverseOutput {
    #[serde(default)]
    pub message: Option<Message>,
}

/// `usage` (also in the stream's `metadata` event). `inputTokens` excludes cache reads and
/// writes, which are counted apart (as Anthropic counts them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenUsage {
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default)]
    pub output_tokens: u64,
    #[serde(default)]
    pub total_tokens: u64,
    #[serde(default)]
    pub cache_read_input_tokens: Option<u64>,
    #[serde(default)]
    pub cache_write_input_tokens: Option<u64>,
}

/// ConverseStream `contentBlockStart`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlockStartEvent {
    #[serde(default)]
    pub content_block_index: u32,
    #[serde(default)]
    pub start: ContentBlockStart,
}

/// `contentBlockStart.start` (text blocks have no start event at all).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlockStart {
    #[serde(default)]
    pub tool_use: Option<ToolUseStart>,
}

/// `start.toolUse`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolUseStart {
    pub tool_use_id: String,
    pub name: String,
}

/// ConverseStream `contentBlockDelta`; text borrows from the payload where it has no escapes.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlockDeltaEvent<'a> {
    #[serde(default)]
    pub content_block_index: u32,
    #[serde(default, borrow)]
    pub delta: ContentBlockDelta<'a>,
}

/// `contentBlockDelta.delta`, a union.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlockDelta<'a> {
    #[serde(default, borrow)]
    pub text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub tool_use: Option<ToolUseDelta<'a>>,
    #[serde(default, borrow)]
    pub reasoning_content: Option<ReasoningDelta<'a>>,
}

/// `delta.toolUse`: a fragment of the arguments' JSON text.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ToolUseDelta<'a> {
    #[serde(default, borrow)]
    pub input: Cow<'a, str>,
}

/// `delta.reasoningContent`: reasoning text, or (separately) its signature or redacted bytes.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ReasoningDelta<'a> {
    #[serde(default, borrow)]
    pub text: Option<Cow<'a, str>>,
    /// The signature of the reasoning streamed so far (sent once, after its text).
    #[serde(default, borrow)]
    pub signature: Option<Cow<'a, str>>,
    /// Redacted reasoning (base64), sent whole.
    #[serde(default, borrow)]
    pub redacted_content: Option<Cow<'a, str>>,
}

/// ConverseStream `contentBlockStop`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlockStopEvent {
    #[serde(default)]
    pub content_block_index: u32,
}

/// ConverseStream `messageStop`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageStopEvent {
    #[serde(default)]
    pub stop_reason: Option<String>,
}

/// ConverseStream `metadata`: the stream's last event.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct MetadataEvent {
    #[serde(default)]
    pub usage: Option<TokenUsage>,
}

/// An error body (HTTP error responses and in-stream exceptions): `{"message": …}`. Some AWS
/// front ends write `Message` and add the type as `__type`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ErrorBody {
    #[serde(default, alias = "Message")]
    pub message: Option<String>,
    #[serde(default, rename = "__type")]
    pub kind: Option<String>,
}
