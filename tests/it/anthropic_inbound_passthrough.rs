//! The Anthropic Messages inbound in front of an Anthropic upstream: the request goes out
//! untouched but for `model`, and the answer (JSON, SSE, token count) comes back untouched.
//! Errors are still Anthropic error bodies.

use std::time::Duration;

use serde_json::{Value, json};

use crate::anthropic_inbound::{ask, assert_anthropic_error, events, send};
use crate::common::client::Via;
use crate::common::fixtures;
use crate::common::upstream::{Canned, Recorded};
use crate::common::{Gateway, Upstream};

const MODEL: &str = "claude-direct";

/// These tests look at single answers; retries would only add backoff time.
const NO_RETRIES: &str = "routing:\n  retry_count: 0\n";

fn config(up: &Upstream) -> String {
    format!(
        "providers:\n  - name: an\n    type: anthropic\n    api_key: sk-ant-upstream\n    base_url: http://{}\nmodels:\n  - name: {MODEL}\n    deployments:\n      - provider: an\n        model: claude-real\n{NO_RETRIES}",
        up.addr
    )
}

fn responder(r: &Recorded) -> Canned {
    if r.path == "/v1/messages/count_tokens" {
        return Canned::Json(200, json!({"input_tokens": 42}));
    }
    let body = r.json();
    let text = body["messages"][0]["content"].as_str().unwrap_or_default();
    match (text, body["stream"] == true) {
        ("529", _) => Canned::Raw(
            529,
            "application/json",
            fixtures::text("anthropic/error_529_overloaded.http")
                .split("\n\n")
                .nth(1)
                .unwrap()
                .to_owned(),
        ),
        ("429", _) => Canned::JsonHeaders(
            429,
            json!({"type": "error", "error": {"type": "rate_limit_error", "message": "Number of requests has exceeded your rate limit"}}),
            vec![("retry-after", "3".to_owned())],
        ),
        (_, true) => Canned::Sse(
            fixtures::sse_events("anthropic/messages_stream_thinking_tool_use.sse"),
            Duration::ZERO,
        ),
        (_, false) => Canned::Json(
            200,
            fixtures::json("anthropic/messages_response_tool_use.json"),
        ),
    }
}

#[tokio::test]
async fn requests_and_answers_pass_through_untouched() {
    let up = Upstream::start(responder).await;
    let gw = Gateway::start(&config(&up)).await;
    for via in [Via::Tcp(gw.tcp), Via::Unix(gw.unix.clone())] {
        let request = ask(MODEL, "Say hello", false);
        let reply = send(&via, "/v1/messages", &request, false).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(
            reply.json(),
            fixtures::json("anthropic/messages_response_tool_use.json")
        );
        let seen = up.last();
        assert_eq!(seen.path, "/v1/messages");
        assert_eq!(seen.header("x-api-key"), Some("sk-ant-upstream"));
        assert_eq!(seen.header("anthropic-version"), Some("2023-06-01"));
        // Every field as the client sent it (thinking, top_k, metadata…), only `model` replaced.
        let mut want = request.clone();
        want["model"] = json!("claude-real");
        assert_eq!(seen.json(), want);

        let reply = send(&via, "/messages", &ask(MODEL, "Say hello", true), true).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(reply.header("content-type"), Some("text/event-stream"));
        let want = fixtures::text("anthropic/messages_stream_thinking_tool_use.sse");
        assert_eq!(reply.text(), want, "stream bytes must pass untouched");
        assert_eq!(events(&reply.text()), events(&want));

        let count = json!({"model": MODEL, "messages": [{"role": "user", "content": "x"}]});
        let reply = send(&via, "/v1/messages/count_tokens", &count, false).await;
        assert_eq!(reply.json(), json!({"input_tokens": 42}));
        assert_eq!(up.last().json()["model"], "claude-real");
    }
}

#[tokio::test]
async fn upstream_errors_keep_anthropics_types() {
    let up = Upstream::start(responder).await;
    let gw = Gateway::start(&config(&up)).await;
    let via = Via::Tcp(gw.tcp);
    let reply = send(&via, "/v1/messages", &ask(MODEL, "429", false), false).await;
    assert_anthropic_error(&reply, 429, "rate_limit_error");
    assert_eq!(reply.header("retry-after"), Some("3"));
    assert!(reply.text().contains("exceeded your rate limit"));
    // The adapter answers Anthropic's 529 as 503; the type stays `overloaded_error`.
    let reply = send(&via, "/v1/messages", &ask(MODEL, "529", true), false).await;
    assert_anthropic_error(&reply, 503, "overloaded_error");
    let body: Value = reply.json();
    assert_eq!(body["error"]["message"], "Overloaded");
}
