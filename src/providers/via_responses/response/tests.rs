use bytes::Bytes;
use serde_json::{Value, json};

use super::*;

fn complete(body: Value) -> Complete {
    Complete {
        status: StatusCode::OK,
        body: Bytes::from(body.to_string()),
        usage: None,
    }
}

fn chat(body: Value) -> Result<Value, GatewayError> {
    to_chat(complete(body), "oa").map(|c| serde_json::from_slice(&c.body).unwrap())
}

#[test]
fn output_items_become_one_assistant_message() {
    let response = json!({
        "id": "resp_1", "object": "response", "created_at": 1_700_000_000, "status": "completed",
        "model": "gpt-5-pro-2025",
        "output": [
            {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "Think."}]},
            {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
             "content": [{"type": "output_text", "text": "Hello", "annotations": []}, {"type": "output_text", "text": " there"}]},
            {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "f", "arguments": "{}"},
        ],
        "usage": {"input_tokens": 10, "output_tokens": 4, "total_tokens": 14,
            "input_tokens_details": {"cached_tokens": 2}, "output_tokens_details": {"reasoning_tokens": 1}},
    });
    let got = chat(response).unwrap();
    assert!(got["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(got["object"], "chat.completion");
    assert_eq!(got["created"], 1_700_000_000);
    assert_eq!(got["model"], "gpt-5-pro-2025");
    let choice = &got["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["content"], "Hello there");
    assert_eq!(choice["message"]["reasoning_content"], "Think.");
    assert_eq!(
        choice["message"]["tool_calls"],
        json!([{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}])
    );
    assert_eq!(
        got["usage"],
        json!({"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14,
            "prompt_tokens_details": {"cached_tokens": 2}, "completion_tokens_details": {"reasoning_tokens": 1}})
    );
}

#[test]
fn statuses_become_finish_reasons() {
    let cases = [
        (json!({"status": "completed"}), "stop"),
        (
            json!({"status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}}),
            "length",
        ),
        (
            json!({"status": "incomplete", "incomplete_details": {"reason": "content_filter"}}),
            "content_filter",
        ),
    ];
    for (mut response, want) in cases {
        response["output"] =
            json!([{"type": "message", "content": [{"type": "refusal", "refusal": "No."}]}]);
        let got = chat(response.clone()).unwrap();
        assert_eq!(got["choices"][0]["finish_reason"], want, "{response}");
        assert_eq!(got["choices"][0]["message"]["refusal"], "No.");
    }
}

#[test]
fn failed_responses_and_foreign_bodies_are_errors() {
    let cases = [
        (
            json!({"status": "failed", "error": {"code": "server_error", "message": "boom"}}),
            502,
            "boom",
        ),
        (
            json!({"status": "failed", "error": {"code": "rate_limit_exceeded", "message": "slow down"}}),
            429,
            "slow down",
        ),
    ];
    for (response, status, message) in cases {
        let error = chat(response).unwrap_err();
        assert_eq!(error.status(), status);
        assert!(error.to_string().contains(message), "{error}");
    }
    let error = to_chat(
        Complete {
            status: StatusCode::OK,
            body: Bytes::from_static(b"[1,2]"),
            usage: None,
        },
        "oa",
    )
    .unwrap_err();
    assert_eq!(error.status(), 502);
}

#[test]
fn totals_are_filled_without_overflowing() {
    // (input, output, total sent) -> total kept; counts come from the upstream, so huge ones
    // must saturate rather than panic.
    let cases = [
        (3, 4, 0, 7),
        (3, 4, 9, 9),
        (u64::MAX, 1, 0, u64::MAX),
        (u64::MAX, u64::MAX, 0, u64::MAX),
    ];
    for (prompt, completion, total, want) in cases {
        let usage = with_total(OpenAiUsage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: total,
            ..OpenAiUsage::default()
        });
        assert_eq!(
            usage.total_tokens, want,
            "{prompt} + {completion} (sent {total})"
        );
    }
}
