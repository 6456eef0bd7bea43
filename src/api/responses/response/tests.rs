use serde_json::{Value, json};

use super::*;

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/reference/openai"
);

fn skeleton() -> Skeleton {
    Skeleton::new("client-model".into(), Echo::default())
}

/// The response for a chat completion body, ids and times checked then blanked.
fn translate(body: &str) -> Value {
    let translated = complete(
        Complete {
            status: http::StatusCode::OK,
            body: body.to_owned().into(),
            usage: None,
        },
        &skeleton(),
        "up",
    )
    .unwrap();
    assert!(translated.usage.is_some());
    let mut got: Value = serde_json::from_slice(&translated.body).unwrap();
    assert!(got["id"].as_str().unwrap().starts_with("resp_"), "{got}");
    assert!(got["created_at"].as_u64().unwrap() > 0);
    for (i, item) in got["output"].as_array_mut().unwrap().iter_mut().enumerate() {
        let prefix = match item["type"].as_str() {
            Some("message") => "msg_",
            Some("reasoning") => "rs_",
            _ => "fc_",
        };
        assert!(item["id"].as_str().unwrap().starts_with(prefix), "{item}");
        item["id"] = json!(format!("item{i}"));
    }
    got["id"] = json!("resp");
    got["created_at"] = json!(0);
    if got["completed_at"].is_u64() {
        got["completed_at"] = json!(1);
    }
    got
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap()
}

#[test]
fn completions_become_response_objects() {
    let tool_calls = translate(&fixture("chat_response_tool_calls.json"));
    assert_eq!(
        tool_calls["output"],
        json!([{"type": "function_call", "id": "item0", "call_id": "call_abc123",
            "name": "get_current_weather", "arguments": "{\n\"location\": \"Boston, MA\"\n}", "status": "completed"}])
    );
    assert_eq!(
        tool_calls["usage"],
        json!({"input_tokens": 82, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": 17, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 99})
    );
    let basic = translate(&fixture("chat_response_basic.json"));
    assert_eq!(basic["object"], "response");
    assert_eq!(basic["status"], "completed");
    assert_eq!(basic["completed_at"], 1);
    assert_eq!(basic["error"], Value::Null);
    assert_eq!(basic["incomplete_details"], Value::Null);
    assert_eq!(basic["output"][0]["type"], "message");
    assert_eq!(basic["output"][0]["role"], "assistant");
    assert_eq!(basic["output"][0]["content"][0]["type"], "output_text");
    assert_eq!(basic["output"][0]["content"][0]["annotations"], json!([]));
    // Every property the spec's `Response` requires is there.
    for key in [
        "id",
        "object",
        "created_at",
        "error",
        "incomplete_details",
        "instructions",
        "model",
        "tools",
        "output",
        "parallel_tool_calls",
        "metadata",
        "tool_choice",
        "temperature",
        "top_p",
    ] {
        assert!(basic.get(key).is_some(), "{key} missing: {basic}");
    }
}

#[test]
fn finish_reasons_become_statuses() {
    let cases = [
        (Some("stop"), "completed", Value::Null),
        (Some("tool_calls"), "completed", Value::Null),
        (None, "completed", Value::Null),
        (
            Some("length"),
            "incomplete",
            json!({"reason": "max_output_tokens"}),
        ),
        (
            Some("content_filter"),
            "incomplete",
            json!({"reason": "content_filter"}),
        ),
    ];
    for (finish, want_status, want_details) in cases {
        let body = json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "",
            "choices": [{"index": 0, "finish_reason": finish,
                "message": {"role": "assistant", "content": "Hi", "refusal": "No"}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7,
                "prompt_tokens_details": {"cached_tokens": 2}, "completion_tokens_details": {"reasoning_tokens": 1}}});
        let got = translate(&body.to_string());
        assert_eq!(got["status"], want_status, "{finish:?}");
        assert_eq!(got["incomplete_details"], want_details, "{finish:?}");
        assert_eq!(got["completed_at"].is_u64(), want_status == "completed");
        // An upstream that names no model answers as the client's.
        assert_eq!(got["model"], "client-model");
        assert_eq!(
            got["output"][0]["content"],
            json!([{"type": "output_text", "text": "Hi", "annotations": [], "logprobs": []},
                {"type": "refusal", "refusal": "No"}])
        );
        assert_eq!(got["usage"]["input_tokens_details"]["cached_tokens"], 2);
        assert_eq!(got["usage"]["output_tokens_details"]["reasoning_tokens"], 1);
    }
}

#[test]
fn an_answer_that_is_not_a_completion_is_a_protocol_error() {
    let error = complete(
        Complete {
            status: http::StatusCode::OK,
            body: "{\"hello\":1}".into(),
            usage: None,
        },
        &skeleton(),
        "up",
    )
    .unwrap_err();
    assert_eq!(error.status(), 502);
}

#[test]
fn error_codes_follow_the_spec() {
    assert_eq!(
        error_code(http::StatusCode::TOO_MANY_REQUESTS),
        "rate_limit_exceeded"
    );
    assert_eq!(error_code(http::StatusCode::BAD_GATEWAY), "server_error");
}

#[test]
fn reasoning_comes_first_as_a_reasoning_item() {
    let body = json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant",
            "content": "Checking.", "reasoning_content": "The user wants weather.",
            "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}});
    let got = translate(&body.to_string());
    let types: Vec<&str> = got["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["reasoning", "message", "function_call"]);
    assert_eq!(
        got["output"][0],
        json!({"type": "reasoning", "id": "item0", "summary": [], "status": "completed",
            "content": [{"type": "reasoning_text", "text": "The user wants weather."}]})
    );
}
