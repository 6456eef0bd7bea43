//! Gemini `GenerateContentResponse` → OpenAI chat completion, and the pieces the stream
//! translator shares: finish reasons, usage and tool calls. Pure functions.

use super::request::THOUGHT_SEPARATOR;
use super::wire::{Candidate, FunctionCall, GenerateContentResponse, Part, UsageMetadata};
use crate::clock::unix_now;
use crate::providers::translate::{new_call_id, new_completion_id};
use crate::types::Usage;
use crate::types::chat::{self, ChatCompletion, Choice, ResponseMessage, ToolCall};
use crate::types::usage::OpenAiUsage;

/// OpenAI finish reason when the model called functions (Gemini says `STOP`).
pub const TOOL_CALLS: &str = "tool_calls";
/// OpenAI finish reason for blocked prompts and answers.
pub const CONTENT_FILTER: &str = "content_filter";
/// OpenAI finish reason for a normal end (and Gemini values with no closer match).
pub const STOP: &str = "stop";
/// OpenAI finish reason for the output limit.
pub const LENGTH: &str = "length";

/// Gemini `finishReason` → OpenAI `finish_reason` (LiteLLM's table; unknown values are `stop`).
pub fn finish_reason(gemini: &str) -> &'static str {
    match gemini {
        "MAX_TOKENS" => LENGTH,
        "SAFETY"
        | "RECITATION"
        | "LANGUAGE"
        | "OTHER"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION"
        | "IMAGE_OTHER"
        | "NO_IMAGE" => CONTENT_FILTER,
        _ => STOP,
    }
}

/// Gemini usage in canonical terms. Thoughts are usually not part of `candidatesTokenCount`;
/// when prompt + candidates + tool-use prompt already make the total, they are.
pub fn usage(meta: &UsageMetadata) -> Usage {
    // Upstream numbers: summed without wrapping, whatever the upstream reports.
    let input = meta
        .prompt_token_count
        .saturating_add(meta.tool_use_prompt_token_count);
    let thoughts_included = meta.thoughts_token_count > 0
        && meta.total_token_count == Some(input.saturating_add(meta.candidates_token_count));
    let output = if thoughts_included {
        meta.candidates_token_count
    } else {
        meta.candidates_token_count
            .saturating_add(meta.thoughts_token_count)
    };
    Usage {
        input,
        output,
        cached: meta.cached_content_token_count,
        reasoning: meta.thoughts_token_count,
    }
}

/// The OpenAI tool call for a Gemini `functionCall`: Gemini's id when it sent one, else a fresh
/// one; a thought signature rides along in the id so the next request can hand it back.
pub fn tool_call(call: &FunctionCall, signature: Option<&str>) -> ToolCall {
    let mut id = call.id.clone().unwrap_or_else(new_call_id);
    if let Some(signature) = signature.filter(|s| !s.is_empty()) {
        id.push_str(THOUGHT_SEPARATOR);
        id.push_str(signature);
    }
    ToolCall {
        id,
        kind: "function".to_owned(),
        function: chat::FunctionCall {
            name: call.name.clone(),
            arguments: arguments_json(call),
        },
    }
}

/// A call's arguments as the JSON string OpenAI clients parse (`{}` when Gemini sent none).
pub fn arguments_json(call: &FunctionCall) -> String {
    call.args
        .as_ref()
        .map_or_else(|| "{}".to_owned(), serde_json::Value::to_string)
}

/// Whether a part is a thought summary.
pub fn is_thought(part: &Part) -> bool {
    part.thought == Some(true)
}

/// Translates a whole answer; `upstream_model` names the model when Gemini did not.
pub fn to_openai(response: &GenerateContentResponse, upstream_model: &str) -> ChatCompletion {
    let mut choices: Vec<Choice> = response
        .candidates
        .iter()
        .enumerate()
        .map(|(i, c)| choice(c, i))
        .collect();
    if choices.is_empty() {
        // A blocked prompt comes without candidates; OpenAI clients expect one choice.
        let blocked = response
            .prompt_feedback
            .as_ref()
            .is_some_and(|f| f.block_reason.is_some());
        choices.push(Choice {
            index: 0,
            message: assistant(None, None, None),
            finish_reason: Some(if blocked { CONTENT_FILTER } else { STOP }.to_owned()),
            logprobs: None,
        });
    }
    ChatCompletion {
        id: response
            .response_id
            .clone()
            .unwrap_or_else(new_completion_id),
        object: "chat.completion".to_owned(),
        created: unix_now(),
        model: response
            .model_version
            .clone()
            .unwrap_or_else(|| upstream_model.to_owned()),
        choices,
        usage: response
            .usage_metadata
            .as_ref()
            .map(|m| OpenAiUsage::from(usage(m))),
    }
}

fn assistant(
    content: Option<String>,
    reasoning: Option<String>,
    tool_calls: Option<Vec<ToolCall>>,
) -> ResponseMessage {
    ResponseMessage {
        role: "assistant".to_owned(),
        content,
        refusal: None,
        tool_calls,
        reasoning_content: reasoning,
        thinking_blocks: None,
    }
}

/// One candidate as a choice: answer text joined, thoughts as `reasoning_content`, each call a
/// tool call; `tool_calls` wins over Gemini's finish reason (calls end with `STOP`).
fn choice(candidate: &Candidate, position: usize) -> Choice {
    let parts = candidate
        .content
        .as_ref()
        .map_or(&[][..], |c| c.parts.as_slice());
    let joined = |thoughts: bool| {
        let texts: Vec<&str> = parts
            .iter()
            .filter(|p| is_thought(p) == thoughts)
            .filter_map(|p| p.text.as_deref())
            .collect();
        (!texts.is_empty()).then(|| texts.concat())
    };
    let calls: Vec<ToolCall> = parts
        .iter()
        .filter_map(|p| {
            p.function_call
                .as_ref()
                .map(|c| tool_call(c, p.thought_signature.as_deref()))
        })
        .collect();
    let finish = if calls.is_empty() {
        candidate
            .finish_reason
            .as_deref()
            .map_or(STOP, finish_reason)
    } else {
        TOOL_CALLS
    };
    Choice {
        index: candidate
            .index
            .unwrap_or_else(|| u32::try_from(position).unwrap_or(u32::MAX)),
        message: assistant(
            joined(false),
            joined(true),
            (!calls.is_empty()).then_some(calls),
        ),
        finish_reason: Some(finish.to_owned()),
        logprobs: None,
    }
}

#[cfg(test)]
mod tests;
