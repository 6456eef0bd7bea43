//! OpenAI Responses API wire types the gateway writes when it translates: the `response` object,
//! its output items and usage (schemas `Response`, `OutputItem`, `ResponseUsage` of the OpenAI
//! spec). Requests are read by `api::responses::request`; these are the answers.

#![allow(
    missing_docs,
    reason = "wire types mirror OpenAI's documented JSON field for field: a doc that restates a field's name says nothing"
)]

use serde::Serialize;
use serde_json::{Map, Value};

use super::Usage;

/// `object` of a response.
pub const RESPONSE_OBJECT: &str = "response";
/// `status` of a finished response or item.
pub const COMPLETED: &str = "completed";
/// `status` of a response or item still being generated.
pub const IN_PROGRESS: &str = "in_progress";
/// `status` of a response cut short (length, content filter).
pub const INCOMPLETE: &str = "incomplete";
/// `status` of a response that failed.
pub const FAILED: &str = "failed";

/// The `response` object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResponseObject {
    pub id: String,
    pub object: &'static str,
    pub created_at: u64,
    pub status: &'static str,
    /// Set when the status is `completed`.
    pub completed_at: Option<u64>,
    pub error: Option<ResponseError>,
    pub incomplete_details: Option<IncompleteDetails>,
    pub model: String,
    pub output: Vec<OutputItem>,
    /// Known once the response has finished: absent before (the spec's `usage` is not nullable).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<ResponseUsage>,
    /// What the request set, echoed as OpenAI does.
    #[serde(flatten)]
    pub echo: Echo,
}

/// `temperature` of a response whose request set none (the API's default, which OpenAI echoes).
pub const DEFAULT_TEMPERATURE: f64 = 1.0;
/// `top_p` of a response whose request set none.
pub const DEFAULT_TOP_P: f64 = 1.0;
/// `service_tier` of a translated response: the upstream's ordinary processing.
pub const DEFAULT_SERVICE_TIER: &str = "default";

/// The request's settings a response repeats (`instructions`, `tools`, `temperature`, …): every
/// field the spec's `Response` requires, with the value in effect (a default when the request
/// set none), as OpenAI answers.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Echo {
    pub background: bool,
    pub frequency_penalty: f64,
    pub instructions: Option<String>,
    pub max_output_tokens: Option<u64>,
    pub max_tool_calls: Option<u64>,
    pub metadata: Map<String, Value>,
    pub parallel_tool_calls: bool,
    pub presence_penalty: f64,
    /// The response this one continues.
    pub previous_response_id: Option<String>,
    pub prompt_cache_key: Option<String>,
    pub reasoning: ReasoningEcho,
    pub safety_identifier: Option<String>,
    pub service_tier: &'static str,
    /// Whether the gateway keeps this response (for `previous_response_id` and `GET`).
    pub store: bool,
    pub temperature: f64,
    pub text: Value,
    pub tool_choice: Value,
    pub tools: Vec<Value>,
    pub top_logprobs: u32,
    pub top_p: f64,
    pub truncation: &'static str,
    /// Deprecated by OpenAI; null when the request set none, as the API and the spec's own
    /// examples send it (and Open Responses requires the field).
    pub user: Option<String>,
}

/// `reasoning` of a response.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReasoningEcho {
    pub effort: Option<String>,
    pub summary: Option<String>,
}

/// `error` of a failed response.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResponseError {
    /// One of the spec's `ResponseErrorCode`s (`server_error`, `rate_limit_exceeded`, …).
    pub code: &'static str,
    pub message: String,
}

/// `incomplete_details`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncompleteDetails {
    /// `max_output_tokens` or `content_filter`.
    pub reason: &'static str,
}

/// One item of `output`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutputItem {
    /// An assistant message.
    Message {
        id: String,
        status: &'static str,
        role: &'static str,
        content: Vec<OutputContent>,
    },
    /// The model's reasoning, as the upstream returned it (its text, not a summary).
    Reasoning {
        id: String,
        /// Always empty: upstreams reached through chat return reasoning text, not summaries.
        summary: Vec<Value>,
        content: Vec<ReasoningContent>,
        status: &'static str,
    },
    /// A call of a client function.
    FunctionCall {
        id: String,
        call_id: String,
        name: String,
        arguments: String,
        status: &'static str,
    },
}

/// One part of an output message.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutputContent {
    /// Generated text.
    OutputText {
        text: String,
        /// Always empty: translated upstreams give no citations.
        annotations: Vec<Value>,
        logprobs: Vec<Value>,
    },
    /// The model declined.
    Refusal { refusal: String },
}

impl OutputContent {
    /// A text part.
    pub fn text(text: impl Into<String>) -> Self {
        Self::OutputText {
            text: text.into(),
            annotations: Vec::new(),
            logprobs: Vec::new(),
        }
    }
}

/// One part of a reasoning item.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ReasoningContent {
    /// Reasoning text.
    ReasoningText { text: String },
}

/// `usage` of a response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ResponseUsage {
    pub input_tokens: u64,
    pub input_tokens_details: InputDetails,
    pub output_tokens: u64,
    pub output_tokens_details: OutputDetails,
    pub total_tokens: u64,
}

/// `usage.input_tokens_details`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct InputDetails {
    pub cached_tokens: u64,
    /// Prompt-cache writes are not counted apart by the gateway's usage (they are part of
    /// `input_tokens`): always 0.
    pub cache_write_tokens: u64,
}

/// `usage.output_tokens_details`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OutputDetails {
    pub reasoning_tokens: u64,
}

impl From<Usage> for ResponseUsage {
    fn from(usage: Usage) -> Self {
        Self {
            input_tokens: usage.input,
            input_tokens_details: InputDetails {
                cached_tokens: usage.cached,
                cache_write_tokens: 0,
            },
            output_tokens: usage.output,
            output_tokens_details: OutputDetails {
                reasoning_tokens: usage.reasoning,
            },
            total_tokens: usage.input + usage.output,
        }
    }
}
