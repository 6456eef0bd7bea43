//! A Responses API `response` object → an OpenAI chat completion: the output message's text and
//! refusal, reasoning summaries as `reasoning_content`, function calls as tool calls, the status
//! as a finish reason, usage in chat terms. A `failed` response is the upstream's error. Pure
//! functions, shared with the stream translator.

use http::StatusCode;
use serde::Deserialize;
use serde_json::Value;

use crate::error::GatewayError;
use crate::providers::Complete;
use crate::providers::errors::UpstreamFailure;
use crate::providers::translate::{assistant_message, new_completion_id};
use crate::types::Usage;
use crate::types::chat::{ChatCompletion, Choice, FunctionCall, ToolCall};
use crate::types::usage::OpenAiUsage;

/// The parts of a `response` object a chat completion needs.
#[derive(Debug, Default, Deserialize)]
pub struct ResponseObject {
    /// `completed`, `incomplete`, `failed`, …
    #[serde(default)]
    pub status: Option<String>,
    /// Unix seconds.
    #[serde(default)]
    pub created_at: Option<f64>,
    /// The model that answered.
    #[serde(default)]
    pub model: Option<String>,
    /// Output items.
    #[serde(default)]
    pub output: Vec<Value>,
    /// `{reason}` of an incomplete response.
    #[serde(default)]
    pub incomplete_details: Option<Value>,
    /// `{code, message}` of a failed response.
    #[serde(default)]
    pub error: Option<Value>,
    /// Token counts (`input_tokens`, `output_tokens`, their details).
    #[serde(default)]
    pub usage: Option<OpenAiUsage>,
}

impl ResponseObject {
    /// The chat `finish_reason`: the incomplete reason, else `tool_calls` when the turn calls
    /// tools, else `stop`.
    pub fn finish_reason(&self, calls_tools: bool) -> &'static str {
        let reason = self
            .incomplete_details
            .as_ref()
            .and_then(|d| d.get("reason"))
            .and_then(Value::as_str);
        match (self.status.as_deref(), reason) {
            (Some("incomplete"), Some("content_filter")) => "content_filter",
            (Some("incomplete"), _) => "length",
            _ if calls_tools => "tool_calls",
            _ => "stop",
        }
    }

    /// The upstream's error, when the response failed.
    pub fn failure(&self, provider: &str) -> Option<GatewayError> {
        if self.status.as_deref() != Some("failed") {
            return None;
        }
        let field = |key: &str| {
            self.error
                .as_ref()
                .and_then(|e| e.get(key))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        Some(failure_error(provider, field("code"), field("message")))
    }
}

/// The error of a failed response or an `error` event: a rate limit keeps its status, anything
/// else is the upstream's server error.
pub fn failure_error(
    provider: &str,
    code: Option<String>,
    message: Option<String>,
) -> GatewayError {
    let status = if code.as_deref() == Some("rate_limit_exceeded") {
        StatusCode::TOO_MANY_REQUESTS
    } else {
        StatusCode::BAD_GATEWAY
    };
    UpstreamFailure {
        message,
        kind: None,
        code,
        param: None,
    }
    .into_error(provider, status, None)
}

/// What an output item adds to the answer.
#[derive(Debug, Default)]
pub struct Parts {
    /// Output text.
    pub text: String,
    /// Refusal text.
    pub refusal: String,
    /// Reasoning summaries and text.
    pub reasoning: String,
    /// Function calls.
    pub calls: Vec<ToolCall>,
}

impl Parts {
    /// Adds one output item.
    pub fn add(&mut self, item: &Value) {
        let texts = |key: &str| {
            item.get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|part| Some((part.get("type")?.as_str()?, part)))
                .collect::<Vec<_>>()
        };
        match item.get("type").and_then(Value::as_str) {
            Some("message") => {
                for (kind, part) in texts("content") {
                    let (into, key) = match kind {
                        "output_text" => (&mut self.text, "text"),
                        "refusal" => (&mut self.refusal, "refusal"),
                        _ => continue,
                    };
                    into.push_str(part.get(key).and_then(Value::as_str).unwrap_or_default());
                }
            }
            Some("reasoning") => {
                for (_, part) in texts("summary").into_iter().chain(texts("content")) {
                    self.reasoning
                        .push_str(part.get("text").and_then(Value::as_str).unwrap_or_default());
                }
            }
            Some("function_call") => {
                let field = |key: &str| {
                    item.get(key)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                self.calls.push(ToolCall {
                    id: field("call_id"),
                    kind: "function".to_owned(),
                    function: FunctionCall {
                        name: field("name"),
                        arguments: field("arguments"),
                    },
                });
            }
            _ => {}
        }
    }
}

/// The chat completion for a whole `response` from `provider`.
pub fn to_chat(complete: Complete, provider: &str) -> Result<Complete, GatewayError> {
    let response: ResponseObject =
        serde_json::from_slice(&complete.body).map_err(|e| GatewayError::UpstreamProtocol {
            provider: provider.to_owned(),
            detail: format!("the answer is not a Responses API response: {e}"),
        })?;
    if let Some(error) = response.failure(provider) {
        return Err(error);
    }
    let mut parts = Parts::default();
    response.output.iter().for_each(|item| parts.add(item));
    let finish_reason = response.finish_reason(!parts.calls.is_empty());
    let mut message = assistant_message(parts.text, parts.reasoning, parts.calls);
    message.refusal = (!parts.refusal.is_empty()).then_some(parts.refusal);
    let usage = response.usage.clone().map(with_total);
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "Unix seconds of a response: a non-negative whole number in any real answer"
    )]
    let created = response.created_at.unwrap_or_default().max(0.0) as u64;
    let completion = ChatCompletion {
        id: new_completion_id(),
        object: "chat.completion".to_owned(),
        created,
        model: response.model.clone().unwrap_or_default(),
        choices: vec![Choice {
            index: 0,
            message,
            finish_reason: Some(finish_reason.to_owned()),
            logprobs: None,
        }],
        usage: usage.clone(),
    };
    let body =
        serde_json::to_vec(&completion).map_err(|e| GatewayError::Internal(e.to_string()))?;
    Ok(Complete {
        status: complete.status,
        body: body.into(),
        usage: usage.as_ref().map(Usage::from).or(complete.usage),
    })
}

/// Usage with `total_tokens` set (the Responses API sends it; a server that does not still gets
/// a correct total).
pub fn with_total(mut usage: OpenAiUsage) -> OpenAiUsage {
    if usage.total_tokens == 0 {
        usage.total_tokens = usage.prompt_tokens.saturating_add(usage.completion_tokens);
    }
    usage
}

#[cfg(test)]
mod tests;
