//! Anthropic request → OpenAI request: fixtures, field rules, and validation errors.

use serde_json::{Value, json};

use super::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{path}")).unwrap()
}

/// Translates `input` (a Messages body) for an upstream of `kind`, and compares the OpenAI
/// request with `expected`. The result must also pass the gateway's OpenAI request checks.
fn check(input: &str, dialect: ChatDialect, expected: &Value) {
    let head = MessagesHead::parse(input.as_bytes(), MaxTokens::Required).unwrap();
    assert_eq!(head.model, "claude-sonnet-4-5");
    let openai = to_openai(typed(input.as_bytes()).unwrap(), dialect).unwrap();
    let bytes = serde_json::to_vec(&openai).unwrap();
    let got: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(&got, expected, "{dialect:?}");
    crate::types::ChatRequest::parse(&bytes).unwrap();
}

fn translate(body: Value, dialect: ChatDialect) -> Value {
    let bytes = body.to_string();
    let openai = to_openai(typed(bytes.as_bytes()).unwrap(), dialect).unwrap();
    serde_json::to_value(openai).unwrap()
}

fn base(messages: Value) -> Value {
    json!({"model": "m", "max_tokens": 10, "messages": messages})
}

#[test]
fn request_fixtures() {
    for name in [
        "messages_request_tools.json",
        "messages_request_thinking.json",
    ] {
        let input = read(&format!("reference/anthropic/{name}"));
        let expected: Value =
            serde_json::from_str(&read(&format!("anthropic_inbound/{name}"))).unwrap();
        check(&input, ChatDialect::Native, &expected);
        // Other OpenAI-format servers get the older `max_tokens`, and `top_k`.
        let mut other = expected.clone();
        let object = other.as_object_mut().unwrap();
        let limit = object.remove("max_completion_tokens").unwrap();
        object.insert("max_tokens".into(), limit);
        if input.contains("top_k") {
            object.insert("top_k".into(), json!(40));
        }
        check(&input, ChatDialect::Compatible, &other);
    }
}

#[test]
fn cache_markers_reach_upstreams_that_cache_and_not_openai() {
    let marker = json!({"type": "ephemeral"});
    let mut body = base(json!([{"role": "user", "content": [
        {"type": "text", "text": "doc", "cache_control": marker},
        {"type": "text", "text": "q"}]}]));
    body["system"] = json!([{"type": "text", "text": "rules", "cache_control": marker}]);
    let kept = translate(body.clone(), ChatDialect::Translated);
    assert_eq!(
        kept["messages"][0],
        json!({"role": "system", "content": [{"type": "text", "text": "rules", "cache_control": marker}]})
    );
    assert_eq!(kept["messages"][1]["content"][0]["cache_control"], marker);
    for dialect in [ChatDialect::Native, ChatDialect::Compatible] {
        let openai = translate(body.clone(), dialect);
        assert_eq!(openai["messages"][0]["content"], "rules");
        let part = &openai["messages"][1]["content"][0];
        assert!(part.get("cache_control").is_none(), "{dialect:?}");
    }
}

#[test]
fn signed_thinking_and_its_settings_reach_translating_adapters_only() {
    let thinking = json!({"type": "enabled", "budget_tokens": 1024});
    let signed = json!({"type": "thinking", "thinking": "hmm", "signature": "sig"});
    let mut body = base(json!([
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": [signed, {"type": "text", "text": "a"}]},
        {"role": "user", "content": "more"}]));
    body["thinking"] = thinking.clone();
    let kept = translate(body.clone(), ChatDialect::Translated);
    assert_eq!(kept["thinking"], thinking);
    assert_eq!(kept["messages"][1]["thinking_blocks"], json!([signed]));
    assert_eq!(kept["messages"][1]["content"], "a");
    for dialect in [ChatDialect::Native, ChatDialect::Compatible] {
        let openai = translate(body.clone(), dialect);
        assert!(openai.get("thinking").is_none(), "{dialect:?}");
        assert!(openai["messages"][1].get("thinking_blocks").is_none());
    }
}

#[test]
fn stream_asks_for_usage_and_metadata_becomes_user() {
    let mut body = base(json!([{"role": "user", "content": "hi"}]));
    body["stream"] = json!(true);
    body["metadata"] = json!({"user_id": "u-1"});
    body["top_p"] = json!(0.5);
    body["service_tier"] = json!("standard_only");
    let got = translate(body, ChatDialect::Native);
    assert_eq!(got["stream"], true);
    assert_eq!(got["stream_options"], json!({"include_usage": true}));
    assert_eq!(got["user"], "u-1");
    assert_eq!(got["top_p"], 0.5);
    assert!(got.get("service_tier").is_none(), "{got}");
    assert!(got.get("metadata").is_none(), "{got}");
}

#[test]
fn tool_choices() {
    let tools = json!([{"name": "f", "input_schema": {"type": "object"}}]);
    let cases = [
        (json!({"type": "auto"}), json!("auto"), None),
        (json!({"type": "any"}), json!("required"), None),
        (json!({"type": "none"}), json!("none"), None),
        (
            json!({"type": "tool", "name": "f", "disable_parallel_tool_use": true}),
            json!({"type": "function", "function": {"name": "f"}}),
            Some(false),
        ),
        (
            json!({"type": "auto", "disable_parallel_tool_use": true}),
            json!("auto"),
            Some(false),
        ),
    ];
    for (choice, want, parallel) in cases {
        let mut body = base(json!([{"role": "user", "content": "hi"}]));
        body["tools"] = tools.clone();
        body["tool_choice"] = choice.clone();
        let got = translate(body, ChatDialect::Native);
        assert_eq!(got["tool_choice"], want, "{choice}");
        assert_eq!(
            got.get("parallel_tool_calls").cloned(),
            parallel.map(Value::from),
            "{choice}"
        );
    }
    // Without tools OpenAI refuses a tool choice, so none is sent.
    let mut body = base(json!([{"role": "user", "content": "hi"}]));
    body["tool_choice"] = json!({"type": "none"});
    let got = translate(body, ChatDialect::Native);
    assert!(got.get("tool_choice").is_none(), "{got}");
}

#[test]
fn tool_results_come_first_and_keep_errors_and_images() {
    let body = base(json!([
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "sig"},
            {"type": "tool_use", "id": "toolu_1", "name": "shot", "input": {}},
            {"type": "tool_use", "id": "toolu_2", "name": "run", "input": {"cmd": "ls"}}
        ]},
        {"role": "user", "content": [
            {"type": "text", "text": "here you go"},
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": [
                {"type": "text", "text": "a screenshot"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "AAAA"}}
            ]},
            {"type": "tool_result", "tool_use_id": "toolu_2", "content": "no such file", "is_error": true},
            {"type": "tool_result", "tool_use_id": "toolu_3"}
        ]}
    ]));
    let got = translate(body, ChatDialect::Native);
    assert_eq!(
        got["messages"],
        json!([
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "toolu_1", "type": "function", "function": {"name": "shot", "arguments": "{}"}},
                {"id": "toolu_2", "type": "function", "function": {"name": "run", "arguments": "{\"cmd\":\"ls\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "toolu_1", "content": "a screenshot"},
            {"role": "tool", "tool_call_id": "toolu_2", "content": "Error: no such file"},
            {"role": "tool", "tool_call_id": "toolu_3", "content": ""},
            {"role": "user", "content": [
                {"type": "text", "text": "here you go"},
                {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,AAAA"}}
            ]}
        ])
    );
}

#[test]
fn documents_system_blocks_and_dropped_turns() {
    let mut body = base(json!([
        {"role": "user", "content": [
            {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"}},
            {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "plain words"}}
        ]},
        {"role": "assistant", "content": [{"type": "redacted_thinking", "data": "opaque"}]},
        {"role": "user", "content": "next"}
    ]));
    body["system"] = json!([{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]);
    let got = translate(body, ChatDialect::Compatible);
    assert_eq!(
        got["messages"],
        json!([
            {"role": "system", "content": "one\ntwo"},
            {"role": "user", "content": [
                {"type": "file", "file": {"filename": "document.pdf", "file_data": "data:application/pdf;base64,JVBE"}},
                {"type": "text", "text": "plain words"}
            ]},
            {"role": "user", "content": "next"}
        ])
    );
}

/// A body with these raw JSON values of `model`, `max_tokens` and `messages` (`None` leaves a
/// field out).
fn body_with(model: Option<&str>, max_tokens: Option<&str>, messages: Option<&str>) -> String {
    let fields = [
        ("model", model),
        ("max_tokens", max_tokens),
        ("messages", messages),
    ];
    let fields: Vec<String> = fields
        .iter()
        .filter_map(|(k, v)| v.map(|v| format!("\"{k}\":{v}")))
        .collect();
    format!("{{{}}}", fields.join(","))
}

#[test]
fn bad_bodies_are_400_naming_the_field() {
    let one = Some(r#"[{"role":"user","content":"x"}]"#);
    let (m, n) = (Some(r#""m""#), Some("1"));
    let cases = [
        ("{not json".to_owned(), "not a valid JSON object"),
        ("[1]".to_owned(), "not a valid JSON object"),
        (body_with(None, n, one), "model: Field required"),
        (
            body_with(Some("7"), n, one),
            "model: Input should be a valid string",
        ),
        (
            body_with(Some(r#""""#), n, one),
            "model: String should have",
        ),
        (body_with(m, n, None), "messages: Field required"),
        (
            body_with(m, n, Some(r#""hi""#)),
            "messages: Input should be a valid list",
        ),
        (
            body_with(m, n, Some("[]")),
            "messages: List should have at least 1 item",
        ),
        (body_with(m, None, one), "max_tokens: Field required"),
        (body_with(m, Some("-1"), one), "max_tokens: Input should be"),
        (
            body_with(m, n, one).replace('}', r#","stream":"yes"}"#),
            "stream: Input should be a valid boolean",
        ),
    ];
    for (body, want) in cases {
        let error = MessagesHead::parse(body.as_bytes(), MaxTokens::Required).unwrap_err();
        assert_eq!(error.status(), 400, "{body}");
        assert!(error.to_string().contains(want), "{body}: {error}");
    }
    // `count_tokens` needs no `max_tokens`, but still `messages`.
    assert!(MessagesHead::parse(body_with(m, None, one).as_bytes(), MaxTokens::Optional).is_ok());
    let no_messages = body_with(m, None, None);
    let error = MessagesHead::parse(no_messages.as_bytes(), MaxTokens::Optional);
    assert!(
        error
            .unwrap_err()
            .to_string()
            .contains("messages: Field required")
    );
}

#[test]
fn untranslatable_requests_are_400() {
    let cases = [
        (
            base(json!([{"role": "user", "content": [{"type": "server_tool_use", "id": "x"}]}])),
            "messages.0.content",
        ),
        (
            base(json!([{"role": "robot", "content": "x"}])),
            "messages.0.role",
        ),
        (
            base(
                json!([{"role": "user", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}]}]),
            ),
            "assistant turns",
        ),
        (
            base(
                json!([{"role": "assistant", "content": [{"type": "image", "source": {"type": "url", "url": "https://x/a.png"}}]}]),
            ),
            "assistant turns may only",
        ),
        (
            base(
                json!([{"role": "user", "content": [{"type": "document", "source": {"type": "url", "url": "https://x/a.pdf"}}]}]),
            ),
            "only base64 and text documents",
        ),
        (
            {
                let mut b = base(json!([{"role": "user", "content": "x"}]));
                b["tools"] = json!([{"type": "web_search_20250305", "name": "web_search"}]);
                b
            },
            "web_search_20250305",
        ),
        (
            {
                let mut b = base(json!([{"role": "user", "content": "x"}]));
                b["tools"] = json!([{"name": "f"}]);
                b["tool_choice"] = json!({"type": "tool"});
                b
            },
            "tool_choice.name: Field required",
        ),
    ];
    for (body, want) in cases {
        let bytes = body.to_string();
        let error = typed(bytes.as_bytes())
            .and_then(|request| to_openai(request, ChatDialect::Native))
            .unwrap_err();
        assert_eq!(error.status(), 400, "{body}");
        assert!(error.to_string().contains(want), "{body}: {error}");
    }
}
