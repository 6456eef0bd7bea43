//! OpenAI chat request → `GenerateContentRequest`.

use serde_json::{Value, json};

use crate::providers::gemini::request::{takes_effort, to_gemini};
use crate::providers::gemini::tests::{json, numbers_as_f64};
use crate::types::chat::ChatCompletionRequest;

/// Translates `openai` and compares the whole Gemini body with `expected`.
fn check(openai: &Value, expected: &Value) {
    let request: ChatCompletionRequest = serde_json::from_value(openai.clone()).unwrap();
    let gemini = serde_json::to_value(to_gemini(&request).unwrap()).unwrap();
    assert_eq!(
        numbers_as_f64(gemini.clone()),
        numbers_as_f64(expected.clone()),
        "\n got: {gemini}\nwant: {expected}"
    );
}

/// The 400 for `openai`: its `param`.
fn rejected(openai: &Value) -> Option<String> {
    let request: ChatCompletionRequest = serde_json::from_value(openai.clone()).unwrap();
    let error = to_gemini(&request).unwrap_err();
    assert_eq!(error.status().as_u16(), 400, "{error}");
    error.param().map(str::to_owned)
}

fn user(text: &str) -> Value {
    json!({"role": "user", "parts": [{"text": text}]})
}

#[test]
fn litellm_translation_fixture() {
    let fixture = json("translations/openai_to_gemini_request.json");
    check(&fixture["input_openai"], &fixture["expected_gemini"]);
}

/// The Gemini request fixture, reached from an OpenAI request. Three documented differences:
/// a tool result that is a JSON object is sent as the object (the fixture wraps it, which the
/// translation fixture's rule does not), `reasoning_effort` turns thought summaries on, and
/// `top_k` comes from the common non-standard request field.
#[test]
fn gemini_request_fixture_from_openai() {
    let openai = json!({
        "model": "gemini-2.5-flash",
        "messages": [
            {"role": "system", "content": "You are a terse weather bot."},
            {"role": "user", "content": [
                {"type": "text", "text": "What is the weather in Boston? Compare with this photo."},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                {"type": "file", "file": {"file_id": "https://generativelanguage.googleapis.com/v1beta/files/abc123", "format": "application/pdf"}}
            ]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_9", "type": "function", "function": {"name": "get_current_weather", "arguments": "{\"location\": \"Boston, MA\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_9", "content": "{\"temp_c\": 21, \"sky\": \"clear\"}"}
        ],
        "tools": [{"type": "function", "function": {"name": "get_current_weather", "description": "Get the current weather in a given location",
            "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}}],
        "tool_choice": "auto",
        "temperature": 0.2, "top_p": 0.95, "top_k": 40, "max_tokens": 1024, "stop": "\n\n\n", "n": 1, "seed": 42,
        "reasoning_effort": "low",
        "stream": true
    });
    let mut expected = json("gemini/generate_content_request.json");
    expected["contents"][2]["parts"][0]["functionResponse"]["response"] =
        json!({"temp_c": 21, "sky": "clear"});
    expected["generationConfig"]["thinkingConfig"]["includeThoughts"] = json!(true);
    check(&openai, &expected);
}

#[test]
fn system_messages_roles_and_merging() {
    let openai = json!({"model": "m", "messages": [
        {"role": "system", "content": "one"},
        {"role": "user", "content": "a"},
        {"role": "user", "content": [{"type": "text", "text": "b"}, {"type": "text", "text": ""}]},
        {"role": "developer", "content": [{"type": "text", "text": "two"}]},
        {"role": "assistant", "content": ""},
        {"role": "user", "content": "c"},
        {"role": "assistant", "content": "let me look", "tool_calls": [
            {"id": "x1", "type": "function", "function": {"name": "f", "arguments": ""}},
            {"id": "x2__thought__SIG", "type": "function", "function": {"name": "g", "arguments": "[1]"}}
        ]},
        {"role": "tool", "tool_call_id": "x2__thought__SIG", "content": "[1, 2]"},
        {"role": "tool", "tool_call_id": "x1", "content": [{"type": "text", "text": "{\"ok\": true}"}]},
        {"role": "user", "content": "thanks"},
        {"role": "assistant", "content": "A"},
        {"role": "assistant", "content": "B"}
    ]});
    let expected = json!({
        "systemInstruction": {"parts": [{"text": "one"}, {"text": "two"}]},
        "contents": [
            {"role": "user", "parts": [{"text": "a"}, {"text": "b"}, {"text": "c"}]},
            {"role": "model", "parts": [
                {"text": "let me look"},
                {"functionCall": {"name": "f", "args": {}}},
                {"functionCall": {"name": "g", "args": {"value": [1]}}, "thoughtSignature": "SIG"}
            ]},
            {"role": "user", "parts": [
                {"functionResponse": {"name": "g", "response": {"content": "[1, 2]"}}},
                {"functionResponse": {"name": "f", "response": {"ok": true}}},
                {"text": "thanks"}
            ]},
            {"role": "model", "parts": [{"text": "A"}, {"text": "B"}]}
        ]
    });
    check(&openai, &expected);
    let only_system = json!({"model": "m", "messages": [{"role": "system", "content": "s"}]});
    check(
        &only_system,
        &json!({"systemInstruction": {"parts": [{"text": "s"}]}, "contents": [user(".")]}),
    );
    let legacy = json!({"model": "m", "messages": [
        {"role": "assistant", "content": null, "function_call": {"name": "f", "arguments": "{\"a\":1}"}},
        {"role": "function", "name": "f", "content": "done"}
    ]});
    check(
        &legacy,
        &json!({"contents": [
            {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {"a": 1}}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"content": "done"}}}]}
        ]}),
    );
}

#[test]
fn media_parts() {
    let openai = json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://x.test/cat.PNG?size=2", "detail": "high"}},
        {"type": "image_url", "image_url": {"url": "https://x.test/photo"}},
        {"type": "image_url", "image_url": {"url": "data:image/webp;base64,UklGR"}},
        {"type": "file", "file": {"file_id": "gs://bucket/report.pdf"}},
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBER", "filename": "a.pdf"}},
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}
    ]}]});
    let expected = json!({"contents": [{"role": "user", "parts": [
        {"fileData": {"mimeType": "image/png", "fileUri": "https://x.test/cat.PNG?size=2"}},
        {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://x.test/photo"}},
        {"inlineData": {"mimeType": "image/webp", "data": "UklGR"}},
        {"fileData": {"mimeType": "application/pdf", "fileUri": "gs://bucket/report.pdf"}},
        {"inlineData": {"mimeType": "application/pdf", "data": "JVBER"}},
        {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}}
    ]}]});
    check(&openai, &expected);
}

#[test]
fn tool_choice_and_tool_schemas() {
    let tools = json!([
        {"type": "function", "function": {"name": "a", "parameters": {"type": "object", "properties": {"q": {"type": "string", "format": "uri"}}, "additionalProperties": false}, "strict": true}},
        {"type": "function", "function": {"name": "b", "description": "no arguments", "parameters": {"type": "object", "properties": {}}}}
    ]);
    let declarations = json!([{"functionDeclarations": [
        {"name": "a", "parameters": {"type": "object", "properties": {"q": {"type": "string", "format": "uri"}}}},
        {"name": "b", "description": "no arguments"}
    ]}]);
    let cases = [
        (json!("none"), json!({"mode": "NONE"})),
        (json!("auto"), json!({"mode": "AUTO"})),
        (json!("required"), json!({"mode": "ANY"})),
        (
            json!({"type": "function", "function": {"name": "b"}}),
            json!({"mode": "ANY", "allowedFunctionNames": ["b"]}),
        ),
    ];
    for (choice, config) in cases {
        let openai = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": tools, "tool_choice": choice});
        let expected = json!({"contents": [user("hi")], "tools": declarations, "toolConfig": {"functionCallingConfig": config}});
        check(&openai, &expected);
    }
}

#[test]
fn generation_config_and_response_formats() {
    let schema = json!({"type": "object", "properties": {"summary": {"type": "string"}}, "required": ["summary"], "additionalProperties": false});
    let cases = [
        (
            json!({"max_tokens": 10, "max_completion_tokens": 20, "presence_penalty": 0.5, "frequency_penalty": -0.5, "stop": ["a", "b"]}),
            json!({"maxOutputTokens": 20, "presencePenalty": 0.5, "frequencyPenalty": -0.5, "stopSequences": ["a", "b"]}),
        ),
        (
            json!({"response_format": {"type": "json_object"}}),
            json!({"responseMimeType": "application/json"}),
        ),
        (
            json!({"response_format": {"type": "json_schema", "json_schema": {"name": "s", "strict": true, "schema": schema}}}),
            json!({"responseMimeType": "application/json", "responseJsonSchema": schema}),
        ),
        (
            json!({"reasoning_effort": "none"}),
            json!({"thinkingConfig": {"thinkingBudget": 0, "includeThoughts": false}}),
        ),
        (
            json!({"reasoning_effort": "high", "temperature": 1}),
            json!({"temperature": 1, "thinkingConfig": {"thinkingBudget": 4096, "includeThoughts": true}}),
        ),
    ];
    for (params, config) in cases {
        let mut openai = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
        crate::providers::gemini::tests::merge(&mut openai, params);
        check(
            &openai,
            &json!({"contents": [user("hi")], "generationConfig": config}),
        );
    }
    let plain = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "response_format": {"type": "text"}, "user": "u-1", "stream": false});
    check(&plain, &json!({"contents": [user("hi")]}));
}

#[test]
fn untranslatable_requests_are_400_naming_the_param() {
    let with = |extra: Value| {
        let mut openai = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
        crate::providers::gemini::tests::merge(&mut openai, extra);
        openai
    };
    let cases = [
        (
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}, {"role": "tool", "tool_call_id": "nope", "content": "x"}]}),
            "messages[1].tool_call_id",
        ),
        (
            json!({"model": "m", "messages": [{"role": "function", "content": "x"}]}),
            "messages[0].name",
        ),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x/a.png"}}]}]}),
            "messages[0].content[0]",
        ),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "file", "file": {"filename": "a.pdf"}}]}]}),
            "messages[0].content[0]",
        ),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "AAAA"}}]}]}),
            "messages[0].content[0]",
        ),
        (
            with(json!({"tools": [{"type": "custom", "custom": {"name": "x"}}]})),
            "tools[0].type",
        ),
        (with(json!({"tool_choice": "sometimes"})), "tool_choice"),
        (
            with(json!({"tool_choice": {"type": "allowed_tools"}})),
            "tool_choice",
        ),
        (
            with(json!({"reasoning_effort": "extreme"})),
            "reasoning_effort",
        ),
    ];
    for (openai, param) in cases {
        assert_eq!(rejected(&openai).as_deref(), Some(param), "{openai}");
    }
}

#[test]
fn gemini_takes_the_efforts_it_has_a_budget_for() {
    let cases = [
        ("none", true),
        ("minimal", true),
        ("high", true),
        ("xhigh", false),
        ("max", false),
    ];
    for (effort, want) in cases {
        assert_eq!(takes_effort(effort), want, "{effort}");
    }
}
