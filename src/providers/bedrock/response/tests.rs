//! Converse answers → OpenAI chat completions.

use serde_json::{Value, json};

use super::{finish_reason, to_openai, usage};
use crate::providers::bedrock::tests::fixture;
use crate::providers::bedrock::wire::{ConverseResponse, TokenUsage};
use crate::types::Usage;

fn translate(name: &str) -> Value {
    let answer: ConverseResponse = serde_json::from_str(&fixture(name)).unwrap();
    let mut got = serde_json::to_value(to_openai(&answer, "anthropic.claude-x")).unwrap();
    assert!(got["id"].as_str().unwrap().starts_with("chatcmpl-"));
    got["id"] = json!("id");
    got["created"] = json!(0);
    got
}

#[test]
fn answers() {
    assert_eq!(
        translate("converse_response_text.json"),
        json!({"id": "id", "object": "chat.completion", "created": 0, "model": "anthropic.claude-x",
               "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello! How can I help you today?", "refusal": null},
                            "finish_reason": "stop", "logprobs": null}],
               "usage": {"prompt_tokens": 12, "completion_tokens": 11, "total_tokens": 23,
                         "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 0}}})
    );
    assert_eq!(
        translate("converse_response_tool_use.json"),
        json!({"id": "id", "object": "chat.completion", "created": 0, "model": "anthropic.claude-x",
               "choices": [{"index": 0, "message": {"role": "assistant", "content": "Let me look that up.", "refusal": null,
                            "tool_calls": [{"id": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "type": "function",
                                            "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}],
                            "reasoning_content": "The user wants the weather in Paris.",
                            "thinking_blocks": [{"type": "thinking",
                                "thinking": "The user wants the weather in Paris.",
                                "signature": "EqQBCkYIBxgCKkBfakeSignature"}]},
                            "finish_reason": "tool_calls", "logprobs": null}],
               "usage": {"prompt_tokens": 3088, "completion_tokens": 54, "total_tokens": 3142,
                         "prompt_tokens_details": {"cached_tokens": 2048}, "completion_tokens_details": {"reasoning_tokens": 0}}})
    );
}

#[test]
fn a_call_without_input_has_empty_arguments_and_no_content() {
    let answer: ConverseResponse = serde_json::from_value(json!({
        "output": {"message": {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t", "name": "f"}}]}},
        "stopReason": "tool_use"
    }))
    .unwrap();
    let completion = to_openai(&answer, "m");
    let message = &completion.choices[0].message;
    assert_eq!(message.content, None);
    assert_eq!(
        message.tool_calls.as_ref().unwrap()[0].function.arguments,
        "{}"
    );
    assert_eq!(completion.usage, None);
}

#[test]
fn stop_reasons() {
    let cases = [
        (Some("end_turn"), "stop"),
        (Some("stop_sequence"), "stop"),
        (Some("max_tokens"), "length"),
        (Some("model_context_window_exceeded"), "length"),
        (Some("tool_use"), "tool_calls"),
        (Some("guardrail_intervened"), "content_filter"),
        (Some("content_filtered"), "content_filter"),
        (Some("malformed_model_output"), "stop"),
        (Some("something_new"), "stop"),
        (None, "stop"),
    ];
    for (bedrock, openai) in cases {
        assert_eq!(finish_reason(bedrock), openai, "{bedrock:?}");
    }
}

#[test]
fn usage_counts_cache_reads_and_writes_as_input() {
    let reported = TokenUsage {
        input_tokens: 10,
        output_tokens: 5,
        total_tokens: 45,
        cache_read_input_tokens: Some(20),
        cache_write_input_tokens: Some(10),
    };
    let want = Usage {
        input: 40,
        output: 5,
        cached: 20,
        reasoning: 0,
    };
    assert_eq!(usage(&reported), want);
}
