use serde_json::{Value, json};

use super::*;

/// The chat request `body` translates to for `dialect`, as JSON.
fn chat(body: &Value, dialect: ChatDialect) -> Value {
    let bytes = serde_json::to_vec(body).unwrap();
    let request = typed(&bytes).unwrap();
    serde_json::to_value(to_chat(request, dialect).unwrap()).unwrap()
}

/// The error `body` gets, as (status, param, message).
fn refused(body: &Value) -> (u16, Option<String>, String) {
    let bytes = serde_json::to_vec(body).unwrap();
    let error = typed(&bytes)
        .and_then(|r| to_chat(r, ChatDialect::Compatible))
        .unwrap_err();
    (
        error.status().as_u16(),
        error.param().map(str::to_owned),
        error.to_string(),
    )
}

#[test]
fn requests_translate_to_chat() {
    let weather = json!({"type": "function", "name": "get_weather", "description": "Weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}, "strict": true});
    let chat_weather = json!({"type": "function", "function": {"name": "get_weather",
        "description": "Weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}, "strict": true}});
    let cases = [
        (
            "a string input with instructions",
            json!({"model": "m", "input": "Hi", "instructions": "Be terse.", "max_output_tokens": 50,
                "temperature": 0.5, "top_p": 0.9, "user": "u1", "metadata": {"k": "v"}}),
            json!({"model": "m", "messages": [
                {"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hi"}],
                "max_tokens": 50, "temperature": 0.5, "top_p": 0.9, "user": "u1"}),
        ),
        (
            "items: parts, images, an assistant turn, a developer message",
            json!({"model": "m", "input": [
                {"role": "developer", "content": "Rules."},
                {"type": "message", "role": "user", "content": [
                    {"type": "input_text", "text": "What is this?"},
                    {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "low"}]},
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "A dot.", "annotations": []}]},
                {"type": "reasoning", "id": "rs_1", "summary": []},
                {"role": "user", "content": "Thanks"}]}),
            json!({"model": "m", "messages": [
                {"role": "system", "content": "Rules."},
                {"role": "user", "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}}]},
                {"role": "assistant", "content": "A dot."},
                {"role": "user", "content": "Thanks"}]}),
        ),
        (
            "a function-calling loop, tools, tool_choice, streaming",
            json!({"model": "m", "stream": true, "tools": [weather], "tool_choice": {"type": "function", "name": "get_weather"},
                "parallel_tool_calls": false, "input": [
                {"role": "user", "content": "Weather in Paris and Rome?"},
                {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
                {"type": "function_call", "id": "fc_2", "call_id": "call_2", "name": "get_weather", "arguments": "{\"city\":\"Rome\"}"},
                {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
                {"type": "function_call_output", "call_id": "call_2", "output": [{"type": "input_text", "text": "21C"}]}]}),
            json!({"model": "m", "stream": true, "stream_options": {"include_usage": true},
                "tools": [chat_weather], "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
                "parallel_tool_calls": false, "messages": [
                {"role": "user", "content": "Weather in Paris and Rome?"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}}]},
                {"role": "tool", "content": "18C", "tool_call_id": "call_1"},
                {"role": "tool", "content": "21C", "tool_call_id": "call_2"}]}),
        ),
        (
            "structured output, reasoning effort; tool_choice without tools is dropped",
            json!({"model": "m", "input": "JSON please", "tool_choice": "auto", "reasoning": {"effort": "low"},
                "text": {"format": {"type": "json_schema", "name": "answer", "strict": true,
                    "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}}}),
            json!({"model": "m", "messages": [{"role": "user", "content": "JSON please"}], "reasoning_effort": "low",
                "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "strict": true,
                    "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}}}),
        ),
        (
            "json_object and plain text formats",
            json!({"model": "m", "input": "x", "text": {"format": {"type": "json_object"}}}),
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_object"}}),
        ),
        (
            "text format and null fields",
            json!({"model": "m", "input": "x", "text": {"format": {"type": "text"}}, "previous_response_id": null, "store": true}),
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}]}),
        ),
    ];
    for (name, body, want) in cases {
        assert_eq!(chat(&body, ChatDialect::Compatible), want, "{name}");
    }
}

#[test]
fn openai_itself_gets_max_completion_tokens() {
    let got = chat(
        &json!({"model": "m", "input": "x", "max_output_tokens": 9}),
        ChatDialect::Native,
    );
    assert_eq!(got["max_completion_tokens"], 9);
    assert!(got.get("max_tokens").is_none());
}

#[test]
fn what_cannot_be_translated_is_refused_by_name() {
    let cases = [
        (
            json!({"model": "m", "input": "x", "tools": [{"type": "web_search"}]}),
            "tools[0].type",
            "web_search",
        ),
        (
            json!({"model": "m", "input": "x", "tools": [{"type": "file_search", "vector_store_ids": ["v"]}]}),
            "tools[0].type",
            "file_search",
        ),
        (
            json!({"model": "m", "input": "x", "conversation": "conv_1"}),
            "conversation",
            "earlier turns",
        ),
        (
            json!({"model": "m", "input": "x", "background": true}),
            "background",
            "background",
        ),
        (
            json!({"model": "m", "input": [{"type": "item_reference", "id": "x"}]}),
            "input[0].type",
            "item_reference",
        ),
        (
            json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_audio"}]}]}),
            "input[0].content[0].type",
            "input_audio",
        ),
        (
            json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]}),
            "input[0].content[0].image_url",
            "file ids",
        ),
        (
            json!({"model": "m", "input": [{"role": "tool", "content": "x"}]}),
            "input[0].role",
            "expected",
        ),
        (
            json!({"model": "m", "input": [{"type": "function_call", "call_id": "c"}]}),
            "input[0].name",
            "string",
        ),
        (
            json!({"model": "m", "input": "x", "tools": [{"type": "function", "name": "f"}], "tool_choice": {"type": "web_search"}}),
            "tool_choice",
            "expected",
        ),
        (
            json!({"model": "m", "input": "x", "text": {"format": {"type": "xml"}}}),
            "text.format.type",
            "json_schema",
        ),
        (
            json!({"model": "m", "input": "x", "reasoning": {"effort": "max"}}),
            "reasoning.effort",
            "medium",
        ),
        (
            json!({"model": "m", "input": "x", "max_output_tokens": 1u64 << 40}),
            "max_output_tokens",
            "at most",
        ),
        (
            json!({"model": "m", "input": "x", "temperature": "hot"}),
            "temperature",
            "invalid type",
        ),
        (
            json!({"model": "m", "instructions": "only this"}),
            "input",
            "no input",
        ),
        (
            json!({"model": "m", "input": "x", "metadata": {"k": 1}}),
            "metadata",
            "strings",
        ),
        (
            json!({"model": "m", "input": "x", "metadata": {"k": "v".repeat(MAX_METADATA_VALUE_CHARS + 1)}}),
            "metadata",
            "512",
        ),
    ];
    for (body, param, words) in cases {
        let (status, got_param, message) = refused(&body);
        assert_eq!(status, 400, "{body}");
        assert_eq!(got_param.as_deref(), Some(param), "{body}: {message}");
        assert!(message.contains(words), "{body}: {message}");
    }
    let many: Map<String, Value> = (0..=MAX_METADATA_PAIRS)
        .map(|i| (format!("k{i}"), Value::from("v")))
        .collect();
    let (status, param, _) = refused(&json!({"model": "m", "input": "x", "metadata": many}));
    assert_eq!((status, param.as_deref()), (400, Some("metadata")));
}

#[test]
fn too_many_values_are_refused_before_parsing() {
    let body = format!(
        "{{\"model\":\"m\",\"input\":[{}0]}}",
        "0,".repeat(MAX_REQUEST_VALUES)
    );
    assert_eq!(typed(body.as_bytes()).unwrap_err().status(), 400);
}

#[test]
fn the_echo_repeats_the_request_settings() {
    let body = json!({"model": "m", "input": "x", "instructions": "I", "tools": [{"type": "function", "name": "f"}],
        "temperature": 0.2, "reasoning": {"effort": "high"}, "metadata": {"a": "b"}});
    let request = typed(&serde_json::to_vec(&body).unwrap()).unwrap();
    let echoed = serde_json::to_value(echo(&request, false)).unwrap();
    assert_eq!(echoed["instructions"], "I");
    assert_eq!(echoed["tools"][0]["name"], "f");
    assert_eq!(echoed["tool_choice"], "auto");
    assert_eq!(echoed["parallel_tool_calls"], true);
    assert_eq!(echoed["reasoning"]["effort"], "high");
    assert_eq!(echoed["text"], json!({"format": {"type": "text"}}));
    assert_eq!(echoed["metadata"], json!({"a": "b"}));
    assert_eq!(echoed["store"], false);
    assert_eq!(echoed["previous_response_id"], Value::Null);

    let body = json!({"model": "m", "input": "x", "previous_response_id": "resp_1"});
    let request = typed(&serde_json::to_vec(&body).unwrap()).unwrap();
    let echoed = serde_json::to_value(echo(&request, true)).unwrap();
    assert_eq!(echoed["store"], true);
    assert_eq!(echoed["previous_response_id"], "resp_1");
}

#[test]
fn input_files_travel_inline_by_url_or_by_id() {
    let cases = [
        (
            json!({"type": "input_file", "file_data": "data:application/pdf;base64,JVBE", "filename": "a.pdf"}),
            json!({"file_data": "data:application/pdf;base64,JVBE", "filename": "a.pdf"}),
        ),
        (
            json!({"type": "input_file", "file_url": "https://example.com/report.pdf"}),
            json!({"file_id": "https://example.com/report.pdf", "filename": "document"}),
        ),
        (
            json!({"type": "input_file", "file_id": "gs://bucket/report.pdf", "filename": "r.pdf"}),
            json!({"file_id": "gs://bucket/report.pdf", "filename": "r.pdf"}),
        ),
    ];
    for (part, file) in cases {
        let body = json!({"model": "m", "input": [{"role": "user", "content": [part.clone()]}]});
        let got = chat(&body, ChatDialect::Compatible);
        assert_eq!(
            got["messages"][0]["content"][0],
            json!({"type": "file", "file": file}),
            "{part}"
        );
    }
    let (status, param, _) = refused(
        &json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_file"}]}]}),
    );
    assert_eq!(
        (status, param.as_deref()),
        (400, Some("input[0].content[0].file_data"))
    );
}
