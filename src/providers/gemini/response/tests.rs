//! `GenerateContentResponse` → OpenAI chat completion.

use serde_json::{Value, json};

use super::*;
use crate::providers::gemini::response::{finish_reason, to_openai};
use crate::providers::gemini::tests::{json, merge, normalize};
use crate::providers::gemini::wire::GenerateContentResponse;

/// The upstream model the adapter passes (Gemini's `modelVersion` wins when present).
const MODEL: &str = "gemini-upstream";

/// Translates `gemini` and compares the whole (normalized) completion with `expected`.
fn check(gemini: &Value, expected: &Value) {
    let response: GenerateContentResponse = serde_json::from_value(gemini.clone()).unwrap();
    let openai = normalize(serde_json::to_value(to_openai(&response, MODEL)).unwrap());
    let expected = normalize(expected.clone());
    assert_eq!(openai, expected, "\n got: {openai}\nwant: {expected}");
}

fn usage(prompt: u64, completion: u64, cached: u64, reasoning: u64) -> Value {
    json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
           "prompt_tokens_details": {"cached_tokens": cached}, "completion_tokens_details": {"reasoning_tokens": reasoning}})
}

/// LiteLLM's expected output, with the fields it leaves out filled in: the id (Gemini's
/// `responseId`), `created`, `logprobs`/`refusal` (null) and the usage breakdown.
#[test]
fn litellm_function_call_fixture() {
    let fixture = json("translations/gemini_response_to_openai.json");
    let mut expected = fixture["expected_openai"].clone();
    merge(
        &mut expected,
        json!({"id": "resp-test-0002", "created": 0, "usage": usage(60, 24, 0, 0)}),
    );
    expected["choices"][0]["logprobs"] = Value::Null;
    expected["choices"][0]["message"]["refusal"] = Value::Null;
    check(
        &json("gemini/generate_content_response_function_call.json"),
        &expected,
    );
}

#[test]
fn text_fixture_counts_thoughts_as_output() {
    let expected = json!({
        "id": "resp-test-0001", "object": "chat.completion", "created": 0, "model": "gemini-2.5-flash",
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": null,
            "message": {"role": "assistant", "content": "It is 21 °C and clear in Boston.", "refusal": null}}],
        "usage": usage(42, 107, 0, 96)
    });
    check(
        &json("gemini/generate_content_response_text.json"),
        &expected,
    );
}

#[test]
fn blocked_prompt_fixture_is_one_filtered_choice() {
    let expected = json!({
        "id": "resp-test-0003", "object": "chat.completion", "created": 0, "model": "gemini-2.5-flash",
        "choices": [{"index": 0, "finish_reason": "content_filter", "logprobs": null,
            "message": {"role": "assistant", "content": null, "refusal": null}}],
        "usage": usage(9, 0, 0, 0)
    });
    check(
        &json("gemini/generate_content_response_prompt_blocked.json"),
        &expected,
    );
}

#[test]
fn thoughts_candidates_and_missing_fields() {
    let gemini = json!({"candidates": [
        {"content": {"role": "model", "parts": [{"text": "pondering", "thought": true}, {"text": "Hel"}, {"text": "lo"}]}, "finishReason": "MAX_TOKENS", "index": 0},
        {"content": {"role": "model", "parts": [{"functionCall": {"id": "fc-1", "name": "f"}}]}, "finishReason": "STOP", "index": 1},
        {"finishReason": "SAFETY", "index": 2}
    ]});
    let expected = json!({
        "id": "chatcmpl-*", "object": "chat.completion", "created": 0, "model": MODEL,
        "choices": [
            {"index": 0, "finish_reason": "length", "logprobs": null,
             "message": {"role": "assistant", "content": "Hello", "reasoning_content": "pondering", "refusal": null}},
            {"index": 1, "finish_reason": "tool_calls", "logprobs": null,
             "message": {"role": "assistant", "content": null, "refusal": null,
                         "tool_calls": [{"id": "fc-1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}},
            {"index": 2, "finish_reason": "content_filter", "logprobs": null,
             "message": {"role": "assistant", "content": null, "refusal": null}}
        ]
    });
    check(&gemini, &expected);
}

/// Every row of LiteLLM's table, the function-call override, and unknown values.
#[test]
fn finish_reasons_follow_the_fixture_table() {
    let table = json("translations/finish_reason_maps.json");
    let rows = table["gemini_finish_reason_to_openai"].as_object().unwrap();
    assert!(rows.len() >= 18, "{}", rows.len());
    for (gemini, openai) in rows {
        assert_eq!(finish_reason(gemini), openai, "{gemini}");
    }
    assert_eq!(finish_reason("SOMETHING_NEW"), "stop");
    let cases = [
        (
            json!({"parts": [{"text": "x"}]}),
            Some("MAX_TOKENS"),
            "length",
        ),
        (json!({"parts": [{"text": "x"}]}), None, "stop"),
        (
            json!({"parts": [{"functionCall": {"name": "f", "args": {}}}]}),
            Some("STOP"),
            "tool_calls",
        ),
        (
            json!({"parts": [{"functionCall": {"name": "f", "args": {}}}]}),
            Some("MAX_TOKENS"),
            "tool_calls",
        ),
    ];
    for (content, reason, want) in cases {
        let gemini = json!({"candidates": [{"content": content, "finishReason": reason}]});
        let response: GenerateContentResponse = serde_json::from_value(gemini).unwrap();
        let completion = to_openai(&response, MODEL);
        assert_eq!(
            completion.choices[0].finish_reason.as_deref(),
            Some(want),
            "{reason:?}"
        );
    }
}

#[test]
fn usage_counts_thoughts_once() {
    let meta = |prompt, candidates, thoughts, cached, tool_use, total| UsageMetadata {
        prompt_token_count: prompt,
        candidates_token_count: candidates,
        thoughts_token_count: thoughts,
        cached_content_token_count: cached,
        tool_use_prompt_token_count: tool_use,
        total_token_count: total,
    };
    let want = |input, output, cached, reasoning| Usage {
        input,
        output,
        cached,
        reasoning,
    };
    let cases = [
        // Thoughts outside candidates (the usual case): added to the output.
        (meta(42, 11, 96, 0, 0, Some(149)), want(42, 107, 0, 96)),
        // Thoughts already inside candidates: not added twice.
        (meta(42, 107, 96, 0, 0, Some(149)), want(42, 107, 0, 96)),
        // No total: Gemini's documented behaviour (thoughts outside).
        (meta(10, 5, 3, 0, 0, None), want(10, 8, 0, 3)),
        // Tool-use prompt tokens count as input; cached is a subset of input.
        (meta(100, 20, 0, 60, 7, Some(127)), want(107, 20, 60, 0)),
        (meta(9, 0, 0, 0, 0, Some(9)), want(9, 0, 0, 0)),
        (UsageMetadata::default(), want(0, 0, 0, 0)),
    ];
    for (input, expected) in cases {
        assert_eq!(super::usage(&input), expected, "{input:?}");
    }
}

#[test]
fn tool_call_ids_keep_gemini_ids_and_signatures() {
    let call = |id: Option<&str>| FunctionCall {
        id: id.map(str::to_owned),
        name: "f".into(),
        args: None,
    };
    assert_eq!(tool_call(&call(Some("abc")), None).id, "abc");
    assert_eq!(
        tool_call(&call(Some("abc")), Some("SIG")).id,
        "abc__thought__SIG"
    );
    let fresh = tool_call(&call(None), Some(""));
    assert!(fresh.id.starts_with("call_") && !fresh.id.contains(THOUGHT_SEPARATOR));
    assert_eq!(fresh.function.arguments, "{}");
}
