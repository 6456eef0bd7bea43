//! Gemini API wire types (lowerCamelCase JSON): `GenerateContentRequest`, `GenerateContentResponse`
//! (also each streamed chunk), usage, embeddings and the error envelope. Only what the adapter
//! reads or writes is modelled; unknown request fields are kept in `extra` maps so a round trip
//! loses nothing, unknown response fields are ignored.

#![allow(
    missing_docs,
    reason = "wire types mirror Gemini's documented JSON field for field: a doc that restates a field's name says nothing"
)]

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `POST /v1beta/models/{model}:generateContent` body.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateContentRequest {
    /// System instructions (the role is ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_instruction: Option<Content>,
    /// The conversation: `user` and `model` turns, alternating.
    pub contents: Vec<Content>,
    /// Function declarations (and built-in tools).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool>>,
    /// How functions may be called.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_config: Option<ToolConfig>,
    /// Sampling and output settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation_config: Option<GenerationConfig>,
    /// Every other field (`safetySettings`, `cachedContent`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One turn, or the system instruction.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct Content {
    /// `user` or `model` (absent for the system instruction).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The turn's parts.
    #[serde(default)]
    pub parts: Vec<Part>,
}

/// One part of a turn; exactly one data field is set.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Part {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The text is a thought summary, not the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thought: Option<bool>,
    /// Opaque signature that must be echoed back on the same part in the next turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thought_signature: Option<String>,
    /// Inline base64 media.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline_data: Option<Blob>,
    /// Media by URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_data: Option<FileData>,
    /// A call the model makes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_call: Option<FunctionCall>,
    /// The result of a call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_response: Option<FunctionResponse>,
    /// Every other field (`executableCode`, `codeExecutionResult`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Part {
    /// A text part.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: Some(text.into()),
            ..Self::default()
        }
    }
}

/// `inlineData`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Blob {
    pub mime_type: String,
    /// Base64 bytes.
    pub data: String,
}

/// `fileData`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// `https://…`, `gs://…` or a Files API URI.
    pub file_uri: String,
}

/// `functionCall`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct FunctionCall {
    /// Call id (newer models only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Function name.
    pub name: String,
    /// Arguments (a JSON object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Value>,
}

/// `functionResponse`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct FunctionResponse {
    /// Call id, when the call had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Function name.
    pub name: String,
    /// The result (must be a JSON object).
    pub response: Value,
}

/// One entry of `tools`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tool {
    /// Functions the model may call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_declarations: Option<Vec<FunctionDeclaration>>,
    /// Built-in tools (`googleSearch`, `codeExecution`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A function declaration.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionDeclaration {
    pub name: String,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Arguments as Gemini's OpenAPI-subset schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
}

/// `toolConfig`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolConfig {
    /// `functionCallingConfig`.
    pub function_calling_config: FunctionCallingConfig,
}

/// `functionCallingConfig`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionCallingConfig {
    /// `AUTO`, `ANY` or `NONE`.
    pub mode: String,
    /// With `ANY`: the functions that may be called.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_function_names: Option<Vec<String>>,
}

/// `generationConfig`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerationConfig {
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Top-k sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u64>,
    /// Output limit (thoughts included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_sequences: Option<Vec<String>>,
    /// Number of candidates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate_count: Option<u32>,
    /// Reproducibility seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    /// `application/json` for JSON output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_mime_type: Option<String>,
    /// Output schema in Gemini's OpenAPI subset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_schema: Option<Value>,
    /// Output schema as plain JSON Schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_json_schema: Option<Value>,
    /// Thinking budget and whether thought summaries come back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking_config: Option<ThinkingConfig>,
    /// Every other field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `thinkingConfig`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ThinkingConfig {
    /// Thinking tokens allowed (0 turns thinking off where the model allows it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking_budget: Option<u64>,
    /// Return thought summaries as `thought: true` parts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_thoughts: Option<bool>,
}

/// A whole answer, or one streamed chunk of it (which may instead carry an `error`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateContentResponse {
    /// The answers.
    #[serde(default)]
    pub candidates: Vec<Candidate>,
    /// Why the prompt was blocked (then there are no candidates).
    #[serde(default)]
    pub prompt_feedback: Option<PromptFeedback>,
    /// Tokens used (partial on early stream chunks).
    #[serde(default)]
    pub usage_metadata: Option<UsageMetadata>,
    /// The model that answered.
    #[serde(default)]
    pub model_version: Option<String>,
    #[serde(default)]
    pub response_id: Option<String>,
    /// An error reported inside a stream.
    #[serde(default)]
    pub error: Option<ApiError>,
}

/// One answer.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    /// The model's turn (absent when it was blocked).
    #[serde(default)]
    pub content: Option<Content>,
    /// Why generation stopped (last chunk only when streaming).
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// Position among the candidates.
    #[serde(default)]
    pub index: Option<u32>,
}

/// `promptFeedback`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromptFeedback {
    /// Set when the prompt was blocked.
    #[serde(default)]
    pub block_reason: Option<String>,
}

/// `usageMetadata`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageMetadata {
    /// Prompt tokens (cached content included).
    #[serde(default)]
    pub prompt_token_count: u64,
    /// Answer tokens (usually without thoughts).
    #[serde(default)]
    pub candidates_token_count: u64,
    /// Thinking tokens.
    #[serde(default)]
    pub thoughts_token_count: u64,
    /// The cached part of the prompt.
    #[serde(default)]
    pub cached_content_token_count: u64,
    /// Tokens of tool-use prompts (e.g. search results).
    #[serde(default)]
    pub tool_use_prompt_token_count: u64,
    /// Everything.
    #[serde(default)]
    pub total_token_count: Option<u64>,
}

/// `POST /v1beta/models/{model}:batchEmbedContents` body.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct BatchEmbedRequest {
    /// One request per input, answered in order.
    pub requests: Vec<EmbedContentRequest>,
}

/// One embedding request (also the whole `embedContent` body).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EmbedContentRequest {
    /// `models/{model}`.
    pub model: String,
    /// The text to embed.
    pub content: Content,
    /// `RETRIEVAL_DOCUMENT`, `RETRIEVAL_QUERY`, ….
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_type: Option<String>,
    /// Document title (with `RETRIEVAL_DOCUMENT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Truncate the vector to this many dimensions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_dimensionality: Option<u64>,
}

/// `batchEmbedContents` answer.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct BatchEmbedResponse {
    /// One embedding per request, in order.
    #[serde(default)]
    pub embeddings: Vec<ContentEmbedding>,
}

/// One embedding.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ContentEmbedding {
    /// The vector.
    #[serde(default)]
    pub values: Vec<f64>,
}

/// The error envelope: `{"error":{"code","message","status","details"}}`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ErrorBody {
    pub error: ApiError,
}

/// Google's `google.rpc.Status` as JSON.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ApiError {
    /// HTTP status code.
    #[serde(default)]
    pub code: Option<u16>,
    /// Human-readable message.
    #[serde(default)]
    pub message: Option<String>,
    /// RPC status name (`INVALID_ARGUMENT`, `RESOURCE_EXHAUSTED`, …).
    #[serde(default)]
    pub status: Option<String>,
    /// Typed details (`ErrorInfo`, `RetryInfo`, …).
    #[serde(default)]
    pub details: Vec<Value>,
}

#[cfg(test)]
mod tests;
