//! Bedrock Converse answer → OpenAI chat completion, and the pieces the stream translator
//! shares: stop reasons and usage. Pure functions.

use serde_json::{Value, json};

use super::wire::{ContentBlock, ConverseResponse, TokenUsage};
use crate::clock::unix_now;
use crate::providers::translate::{assistant_message, new_completion_id};
use crate::types::Usage;
use crate::types::anthropic::AnthropicUsage;
use crate::types::chat::{
    ChatCompletion, Choice, FunctionCall, REDACTED_THINKING, THINKING, ToolCall,
};
use crate::types::usage::OpenAiUsage;

/// Converse `stopReason` → OpenAI `finish_reason` (unknown values, and a malformed model
/// output, are `stop`).
pub fn finish_reason(stop_reason: Option<&str>) -> &'static str {
    match stop_reason {
        Some("max_tokens" | "model_context_window_exceeded") => "length",
        Some("tool_use") => "tool_calls",
        Some("guardrail_intervened" | "content_filtered") => "content_filter",
        _ => "stop",
    }
}

/// Converse usage in canonical terms. Bedrock counts like Anthropic (`inputTokens` leaves out
/// the cache reads and writes), so Anthropic's conversion applies: every input token in
/// `input`, cache reads as `cached`. The gateway keeps no separate cache-write count: writes
/// are part of `input`.
pub fn usage(usage: &TokenUsage) -> Usage {
    AnthropicUsage {
        input_tokens: usage.input_tokens,
        output_tokens: usage.output_tokens,
        cache_creation_input_tokens: usage.cache_write_input_tokens,
        cache_read_input_tokens: usage.cache_read_input_tokens,
    }
    .to_usage()
}

/// A whole Converse answer as an OpenAI chat completion; `model` is the Bedrock model id asked
/// for (Converse does not name the model in its answer).
pub fn to_openai(response: &ConverseResponse, model: &str) -> ChatCompletion {
    let blocks = response
        .output
        .message
        .as_ref()
        .map_or(&[][..], |m| m.content.as_slice());
    let (text, reasoning, tool_calls) = read_blocks(blocks);
    let mut message = assistant_message(text, reasoning, tool_calls);
    message.thinking_blocks = thinking_blocks(blocks);
    ChatCompletion {
        id: new_completion_id(),
        object: "chat.completion".to_owned(),
        created: unix_now(),
        model: model.to_owned(),
        choices: vec![Choice {
            index: 0,
            message,
            finish_reason: Some(finish_reason(response.stop_reason.as_deref()).to_owned()),
            logprobs: None,
        }],
        usage: response.usage.as_ref().map(|u| OpenAiUsage::from(usage(u))),
    }
}

/// The reasoning blocks as thinking blocks with their signatures (redacted ones with their
/// data), when the model signed any: a client that sends them back keeps a thinking
/// conversation going through tool calls.
fn thinking_blocks(blocks: &[ContentBlock]) -> Option<Vec<Value>> {
    let thinking: Vec<Value> = blocks
        .iter()
        .filter_map(|b| b.reasoning_content.as_ref())
        .filter_map(|r| {
            match (&r.reasoning_text, &r.redacted_content) {
            (Some(text), _) => text.signature.as_ref().map(|signature| {
                json!({"type": THINKING, "thinking": text.text, "signature": signature})
            }),
            (None, Some(data)) => Some(json!({"type": REDACTED_THINKING, "data": data})),
            (None, None) => None,
        }
        })
        .collect();
    (!thinking.is_empty()).then_some(thinking)
}

/// The answer text, the reasoning text and the tool calls of the model's blocks (other blocks,
/// e.g. citations, have no OpenAI form).
fn read_blocks(blocks: &[ContentBlock]) -> (String, String, Vec<ToolCall>) {
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut tool_calls = Vec::new();
    for block in blocks {
        if let Some(t) = &block.text {
            text.push_str(t);
        }
        if let Some(r) = block
            .reasoning_content
            .as_ref()
            .and_then(|r| r.reasoning_text.as_ref())
        {
            reasoning.push_str(&r.text);
        }
        if let Some(call) = &block.tool_use {
            tool_calls.push(ToolCall {
                id: call.tool_use_id.clone(),
                kind: "function".to_owned(),
                function: FunctionCall {
                    name: call.name.clone(),
                    // A call without input has no arguments: `{}`, not `null`.
                    arguments: if call.input.is_null() {
                        "{}".to_owned()
                    } else {
                        call.input.to_string()
                    },
                },
            });
        }
    }
    (text, reasoning, tool_calls)
}

#[cfg(test)]
mod tests;
