use serde_json::{Value, json};

use super::*;

fn convert(chat: Value) -> Result<Value, GatewayError> {
    let request: ChatCompletionRequest = serde_json::from_value(chat).unwrap();
    to_responses(request, "gpt-5-pro").map(|body| serde_json::from_slice(&body).unwrap())
}

#[test]
fn a_whole_conversation_becomes_input_items() {
    let chat = json!({
        "model": "client-name",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": "Use metric."},
            {"role": "user", "content": [
                {"type": "text", "text": "Weather here?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                {"type": "file", "file": {"file_id": "file-1"}},
            ]},
            {"role": "assistant", "content": "Checking.", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
        ],
        "tools": [{"type": "function", "function": {"name": "weather", "description": "d", "parameters": {"type": "object"}, "strict": true}}],
        "tool_choice": {"type": "function", "function": {"name": "weather"}},
        "parallel_tool_calls": false,
        "response_format": {"type": "json_schema", "json_schema": {"name": "w", "schema": {"type": "object"}, "strict": true}},
        "max_completion_tokens": 300,
        "temperature": 0.5,
        "reasoning_effort": "high",
        "metadata": {"team": "a"},
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    let want = json!({
        "model": "gpt-5-pro",
        "store": false,
        "input": [
            {"type": "message", "role": "system", "content": "Be brief."},
            {"type": "message", "role": "developer", "content": "Use metric."},
            {"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "Weather here?"},
                {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "auto"},
                {"type": "input_file", "file_id": "file-1"},
            ]},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Checking.", "annotations": []}]},
            {"type": "function_call", "call_id": "call_1", "name": "weather", "arguments": "{\"city\":\"Paris\"}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
        ],
        "tools": [{"type": "function", "name": "weather", "description": "d", "parameters": {"type": "object"}, "strict": true}],
        "tool_choice": {"type": "function", "name": "weather"},
        "parallel_tool_calls": false,
        "text": {"format": {"type": "json_schema", "name": "w", "schema": {"type": "object"}, "strict": true}},
        "max_output_tokens": 300,
        "temperature": 0.5,
        "reasoning": {"effort": "high"},
        "metadata": {"team": "a"},
        "stream": true,
    });
    assert_eq!(convert(chat).unwrap(), want);
}

#[test]
fn small_requests_carry_only_what_was_asked() {
    let cases = [
        (
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}),
            json!({"model": "gpt-5-pro", "store": false,
                "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}]}),
        ),
        (
            // tool_choice without tools is not sent (OpenAI refuses it).
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "tool_choice": "auto",
                "response_format": {"type": "json_object"}, "max_tokens": 5}),
            json!({"model": "gpt-5-pro", "store": false, "text": {"format": {"type": "json_object"}},
                "max_output_tokens": 5,
                "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}]}),
        ),
    ];
    for (chat, want) in cases {
        assert_eq!(convert(chat.clone()).unwrap(), want, "{chat}");
    }
}

#[test]
fn parameters_the_responses_api_lacks_are_refused_by_name() {
    let user = json!([{"role": "user", "content": "hi"}]);
    let cases = [
        (json!({"n": 2}), "n"),
        (json!({"stop": "END"}), "stop"),
        (json!({"seed": 1}), "seed"),
        (json!({"presence_penalty": 0.5}), "presence_penalty"),
        (json!({"frequency_penalty": 0.5}), "frequency_penalty"),
        (json!({"logprobs": true}), "logprobs"),
        (json!({"logit_bias": {"1": 2}}), "logit_bias"),
        (
            json!({"tools": [{"type": "custom", "custom": {"name": "x"}}]}),
            "tools[0].type",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "AA", "format": "wav"}}]}]}),
            "messages[0].content[0].input_audio",
        ),
        (
            json!({"messages": [{"role": "function", "name": "f", "content": "x"}]}),
            "messages[0].role",
        ),
    ];
    for (extra, param) in cases {
        let mut chat = json!({"model": "m", "messages": user});
        for (k, v) in extra.as_object().unwrap() {
            chat[k] = v.clone();
        }
        let error = convert(chat).unwrap_err();
        assert_eq!(error.status(), 400, "{param}");
        assert_eq!(error.param(), Some(param), "{param}");
    }
    // `n: 1` and `logprobs: false` ask for nothing the API lacks.
    assert!(convert(json!({"model": "m", "messages": user, "n": 1, "logprobs": false})).is_ok());
}
