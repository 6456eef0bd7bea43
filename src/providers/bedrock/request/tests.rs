//! OpenAI requests → Converse bodies.

use serde_json::{Value, json};

use super::{is_claude, to_converse};
use crate::providers::bedrock::tests::fixture;
use crate::types::chat::ChatCompletionRequest;

fn converse(input: Value, model: &str) -> Result<Value, crate::error::GatewayError> {
    let request: ChatCompletionRequest = serde_json::from_value(input).unwrap();
    to_converse(&request, model).map(|body| serde_json::to_value(body).unwrap())
}

fn user(text: &str) -> Value {
    json!({"role": "user", "content": text})
}

#[test]
fn matches_the_translation_fixture() {
    let fixture: Value = serde_json::from_str(&fixture("openai_to_converse_request.json")).unwrap();
    let model = fixture["input_openai"]["model"]
        .as_str()
        .unwrap()
        .to_owned();
    let got = converse(fixture["input_openai"].clone(), &model).unwrap();
    assert_eq!(got, fixture["expected_converse"]);
}

#[test]
fn table() {
    let claude = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
    let tool = json!({"type": "function", "function": {"name": "f"}});
    let call = json!({"role": "assistant", "content": null, "tool_calls": [
        {"id": "call.1", "type": "function", "function": {"name": "f", "arguments": ""}}]});
    let result = json!({"role": "tool", "tool_call_id": "call.1", "content": "ok"});
    let f_schema = json!({"tools": [{"toolSpec": {"name": "f", "inputSchema": {"json": {"type": "object", "properties": {}}}}}]});
    let cases = [
        // The smallest request.
        (
            json!({"model": "m", "messages": [user("hi")]}),
            "meta.llama3-8b-instruct-v1:0",
            json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}]}),
        ),
        // Claude's own thinking settings win over `reasoning_effort`; signed thinking from an
        // earlier turn goes back first in that turn, as it was written.
        (
            json!({"model": "m", "max_tokens": 2000, "reasoning_effort": "high",
                   "thinking": {"type": "enabled", "budget_tokens": 1024},
                   "messages": [user("q"),
                       {"role": "assistant", "content": "a", "thinking_blocks": [
                           {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                           {"type": "redacted_thinking", "data": "xyz"}]},
                       user("more")]}),
            claude,
            json!({"messages": [
                       {"role": "user", "content": [{"text": "q"}]},
                       {"role": "assistant", "content": [
                           {"reasoningContent": {"reasoningText": {"text": "hmm", "signature": "sig"}}},
                           {"reasoningContent": {"redactedContent": "xyz"}},
                           {"text": "a"}]},
                       {"role": "user", "content": [{"text": "more"}]}],
                   "inferenceConfig": {"maxTokens": 2000},
                   "additionalModelRequestFields": {"thinking": {"type": "enabled", "budget_tokens": 1024}}}),
        ),
        // Thinking turned off by the client's settings, whatever the effort says.
        (
            json!({"model": "m", "reasoning_effort": "high", "thinking": {"type": "disabled"},
                   "messages": [user("q")]}),
            claude,
            json!({"messages": [{"role": "user", "content": [{"text": "q"}]}]}),
        ),
        // Cache markers (Anthropic's `cache_control`) become checkpoints after their text.
        (
            json!({"model": "m", "messages": [
                {"role": "system", "content": [
                    {"type": "text", "text": "rules", "cache_control": {"type": "ephemeral"}},
                    {"type": "text", "text": "more"}]},
                {"role": "user", "content": [
                    {"type": "text", "text": "long doc", "cache_control": {"type": "ephemeral"}},
                    {"type": "text", "text": "question"}]}]}),
            claude,
            json!({"system": [{"text": "rules"}, {"cachePoint": {"type": "default"}}, {"text": "more"}],
                   "messages": [{"role": "user", "content": [
                       {"text": "long doc"}, {"cachePoint": {"type": "default"}}, {"text": "question"}]}]}),
        ),
        // Same-role neighbours merge; an empty user message and a trailing space vanish.
        (
            json!({"model": "m", "messages": [user("a"), user(""), user("b"), {"role": "assistant", "content": "c  "}]}),
            "m",
            json!({"messages": [{"role": "user", "content": [{"text": "a"}, {"text": "b"}]},
                                {"role": "assistant", "content": [{"text": "c"}]}]}),
        ),
        // Thinking on a Claude model: budget, maxTokens above it, no temperature.
        (
            json!({"model": "m", "messages": [user("x")], "reasoning_effort": "medium", "max_tokens": 1000, "temperature": 0.2}),
            claude,
            json!({"messages": [{"role": "user", "content": [{"text": "x"}]}],
                   "inferenceConfig": {"maxTokens": 3048},
                   "additionalModelRequestFields": {"thinking": {"type": "enabled", "budget_tokens": 2048}}}),
        ),
        (
            json!({"model": "m", "messages": [user("x")], "reasoning_effort": "high"}),
            "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-7-sonnet-20250219-v1:0",
            json!({"messages": [{"role": "user", "content": [{"text": "x"}]}],
                   "inferenceConfig": {"maxTokens": 8192},
                   "additionalModelRequestFields": {"thinking": {"type": "enabled", "budget_tokens": 4096}}}),
        ),
        // Not Claude: no thinking field exists, the effort is dropped.
        (
            json!({"model": "m", "messages": [user("x")], "reasoning_effort": "high", "temperature": 0.2}),
            "amazon.nova-pro-v1:0",
            json!({"messages": [{"role": "user", "content": [{"text": "x"}]}], "inferenceConfig": {"temperature": 0.2}}),
        ),
        // required → any, a named function → tool, max_completion_tokens wins, stop list.
        (
            json!({"model": "m", "messages": [user("x")], "tools": [tool], "tool_choice": "required",
                   "max_tokens": 5, "max_completion_tokens": 7, "stop": ["A", ""]}),
            "m",
            json!({"messages": [{"role": "user", "content": [{"text": "x"}]}],
                   "inferenceConfig": {"maxTokens": 7, "stopSequences": ["A"]},
                   "toolConfig": {"tools": f_schema["tools"], "toolChoice": {"any": {}}}}),
        ),
        (
            json!({"model": "m", "messages": [user("x")], "tools": [tool],
                   "tool_choice": {"type": "function", "function": {"name": "f"}}}),
            "m",
            json!({"messages": [{"role": "user", "content": [{"text": "x"}]}],
                   "toolConfig": {"tools": f_schema["tools"], "toolChoice": {"tool": {"name": "f"}}}}),
        ),
        // none: no tools without tool history…
        (
            json!({"model": "m", "messages": [user("x")], "tools": [tool], "tool_choice": "none"}),
            "m",
            json!({"messages": [{"role": "user", "content": [{"text": "x"}]}]}),
        ),
        // …but kept (without a choice) when the history has tool use; ids cleaned; empty args {}.
        (
            json!({"model": "m", "messages": [user("x"), call, result], "tools": [tool], "tool_choice": "none"}),
            "m",
            json!({"messages": [
                {"role": "user", "content": [{"text": "x"}]},
                {"role": "assistant", "content": [{"toolUse": {"toolUseId": "call_1", "name": "f", "input": {}}}]},
                {"role": "user", "content": [{"toolResult": {"toolUseId": "call_1", "content": [{"text": "ok"}]}}]}],
                "toolConfig": f_schema}),
        ),
        // A JSON schema is Converse's structured output, the schema as text.
        (
            json!({"model": "m", "messages": [user("x")], "response_format": {"type": "json_schema",
                   "json_schema": {"name": "answer", "schema": {"type": "object"}}}}),
            "m",
            json!({"messages": [{"role": "user", "content": [{"text": "x"}]}],
                   "outputConfig": {"textFormat": {"type": "json_schema",
                       "structure": {"jsonSchema": {"schema": "{\"type\":\"object\"}", "name": "answer"}}}}}),
        ),
    ];
    for (input, model, want) in cases {
        assert_eq!(converse(input.clone(), model).unwrap(), want, "{input}");
    }
}

#[test]
fn refuses_what_converse_cannot_take() {
    let image = |url: &str| json!({"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]});
    let cases = [
        (json!([user("x")]), json!({"n": 2}), "n"),
        (
            json!([{"role": "system", "content": "only"}]),
            json!({}),
            "messages",
        ),
        (
            json!([image("https://example.com/cat.png")]),
            json!({}),
            "messages[0].content[0].image_url.url",
        ),
        (
            json!([image("data:image/tiff;base64,AAAA")]),
            json!({}),
            "messages[0].content[0].image_url.url",
        ),
        (
            json!([{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "x", "format": "wav"}}]}]),
            json!({}),
            "messages[0].content[0]",
        ),
        (
            json!([user("x"), {"role": "tool", "content": "r"}]),
            json!({}),
            "messages[1].tool_call_id",
        ),
        (
            json!([user("x")]),
            json!({"tools": [{"type": "web_search"}]}),
            "tools[0].type",
        ),
        (
            json!([user("x")]),
            json!({"tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "sometimes"}),
            "tool_choice",
        ),
        (
            json!([user("x")]),
            json!({"response_format": {"type": "json_object"}}),
            "response_format",
        ),
    ];
    for (messages, extra, param) in cases {
        let mut input = json!({"model": "m", "messages": messages});
        input
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let error = converse(input.clone(), "m").unwrap_err();
        assert_eq!(error.status().as_u16(), 400, "{input}");
        assert_eq!(error.param(), Some(param), "{input}");
    }
}

#[test]
fn claude_is_told_by_its_model_id() {
    let cases = [
        ("anthropic.claude-sonnet-4-5-20250929-v1:0", true),
        ("us.anthropic.claude-3-5-haiku-20241022-v1:0", true),
        (
            "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-v2",
            true,
        ),
        ("meta.llama3-70b-instruct-v1:0", false),
        ("amazon.nova-pro-v1:0", false),
    ];
    for (model, want) in cases {
        assert_eq!(is_claude(model), want, "{model}");
    }
}
