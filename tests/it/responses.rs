//! `/v1/responses` through the official OpenAI Python SDK over the Unix socket: translated into
//! chat for upstreams that do not speak the Responses API (Anthropic, vLLM, the mock), passed
//! through byte for byte to an OpenAI upstream. `state` has stored responses and
//! `previous_response_id`; `via` the other direction, chat clients on a deployment served
//! through the Responses API (`api: responses`).

mod compliance;
mod state;
mod via;

use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};

use crate::anthropic::{KEY as ANTHROPIC_KEY, rules};
use crate::common::client::{self, Via, get, post};
use crate::common::fixtures;
use crate::common::upstream::{Canned, Recorded};
use crate::common::{Gateway, Upstream};
use crate::sdk::{anthropic_answer, openai_answer, run};

/// An OpenAI-compatible server (vLLM) that also streams tool calls.
pub fn vllm_answer(r: &Recorded) -> Canned {
    let body = r.json();
    let last_role = body["messages"]
        .as_array()
        .and_then(|m| m.last())
        .map(|m| m["role"].clone());
    if body["stream"] == true && body.get("tools").is_some() && last_role == Some(json!("user")) {
        return Canned::Sse(
            fixtures::sse_events("openai/chat_stream_tool_calls_with_usage.sse"),
            Duration::ZERO,
        );
    }
    openai_answer(r)
}

/// An OpenAI upstream that speaks the Responses API itself.
fn responses_answer(_: &Recorded) -> Canned {
    Canned::Json(
        200,
        json!({"id": "resp_upstream", "object": "response", "status": "completed", "output": [],
            "usage": {"input_tokens": 5, "output_tokens": 2, "total_tokens": 7}}),
    )
}

pub struct Upstreams {
    pub claude: Upstream,
    pub vllm: Upstream,
    pub openai: Upstream,
}

/// Claude, vLLM, an OpenAI upstream speaking the Responses API, and the mock, behind one gateway.
pub async fn gateway() -> (Upstreams, Gateway) {
    let ups = Upstreams {
        claude: Upstream::start(rules(anthropic_answer)).await,
        vllm: Upstream::start(vllm_answer).await,
        openai: Upstream::start(responses_answer).await,
    };
    let gw = Gateway::start(&format!(
        "providers:
  - {{name: claude, type: anthropic, api_key: {ANTHROPIC_KEY}, base_url: 'http://{}', models: [claude-sonnet-4-5]}}
  - {{name: local, type: vllm, base_url: '{}', models: [llama-3.1-8b]}}
  - {{name: oa, base_url: '{}', api_key: sk-upstream, models: [gpt-4.1]}}
  - {{name: fake, type: mock, models: [mock-model]}}
routing:
  retry_count: 0
",
        ups.claude.addr,
        ups.vllm.base_url(),
        ups.openai.base_url(),
    ))
    .await;
    (ups, gw)
}

#[tokio::test]
async fn the_openai_sdk_speaks_responses_to_an_anthropic_upstream() {
    let (Upstreams { claude, .. }, gw) = gateway().await;
    let scenarios = ["create", "stream", "raw_stream", "tools", "errors"];
    run(
        "responses_scenarios.py",
        &gw,
        &[("MODEL", "claude-sonnet-4-5")],
        &scenarios,
    )
    .await;
    let requests = claude.requests.lock().unwrap();
    assert!(requests.len() >= 5);
    assert!(requests.iter().all(|r| r.path == "/v1/messages"));
    // `instructions` became Claude's system prompt.
    assert_eq!(
        requests[0].json()["system"],
        json!([{"type": "text", "text": "You are terse."}])
    );
}

#[tokio::test]
async fn the_openai_sdk_speaks_responses_to_vllm_and_the_mock() {
    let (Upstreams { vllm, .. }, gw) = gateway().await;
    let all = [
        "create",
        "stream",
        "raw_stream",
        "tools",
        "tool_stream",
        "errors",
    ];
    run(
        "responses_scenarios.py",
        &gw,
        &[("MODEL", "llama-3.1-8b")],
        &all,
    )
    .await;
    {
        let requests = vllm.requests.lock().unwrap();
        assert!(requests.iter().all(|r| r.path == "/v1/chat/completions"));
        let first = requests[0].json();
        assert_eq!(first["max_tokens"], 64);
        assert_eq!(
            first["messages"][0],
            json!({"role": "system", "content": "You are terse."})
        );
    }
    run(
        "responses_scenarios.py",
        &gw,
        &[("MODEL", "mock-model")],
        &["create", "stream", "raw_stream"],
    )
    .await;
}

#[tokio::test]
async fn an_openai_upstream_gets_the_request_byte_for_byte() {
    let (Upstreams { openai, claude, .. }, gw) = gateway().await;
    // Built-in tools and conversation state are the upstream's business: passed, not refused.
    // Values are copied as sent (spacing inside them included); only `model` is rewritten.
    let sent = "{\"model\":\"gpt-4.1\",\"input\":\"hi\",\"tools\":[{\"type\":\"web_search\"}],\"previous_response_id\":\"resp_0\",\"x_extra\":[1, 2]}";
    let request = client::raw_request("POST", "/v1/responses", Bytes::from(sent));
    let reply = client::call(&Via::Unix(gw.unix.clone()), request).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["id"], "resp_upstream");
    let seen = openai.last();
    assert_eq!(seen.path, "/v1/responses");
    assert_eq!(seen.body, Bytes::from(sent));
    assert_eq!(seen.header("authorization"), Some("Bearer sk-upstream"));

    // The same request to a translated upstream names the built-in tool it cannot run.
    let reply = post(
        &Via::Unix(gw.unix.clone()),
        "/responses",
        &json!({"model": "claude-sonnet-4-5", "input": "hi", "tools": [{"type": "web_search"}]}),
    )
    .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error"]["param"], "tools[0].type");
    assert_eq!(claude.count(), 0);
}

#[tokio::test]
async fn translated_responses_are_recorded_like_chat() {
    let (_ups, mut gw) = gateway().await;
    let via = Via::Unix(gw.unix.clone());
    let reply = post(
        &via,
        "/v1/responses",
        &json!({"model": "llama-3.1-8b", "input": "hi", "max_output_tokens": 16}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["usage"]["total_tokens"], 11);
    assert_eq!(reply.header("x-llm-deployment"), Some("local/llama-3.1-8b"));
    let metrics = get(&via, "/metrics").await.text();
    assert!(
        metrics.contains(
            r#"llm_token_usage_total{team="none",model="llama-3.1-8b",provider="local",type="input"} 9"#
        ),
        "{metrics}"
    );
    // The usage line is written by the log thread, after the answer.
    gw.wait_log("\"endpoint\":\"responses\"").await;
}

#[tokio::test]
async fn a_reasoning_effort_the_upstream_cannot_take_is_dropped_with_a_warning() {
    let (Upstreams { claude, vllm, .. }, gw) = gateway().await;
    let via = Via::Unix(gw.unix.clone());
    let ask = |model: &str, effort: &str| json!({"model": model, "input": "hi", "max_output_tokens": 2000, "reasoning": {"effort": effort}, "store": false});
    // The mock has no reasoning: served, the effort dropped and said so.
    let reply = post(&via, "/v1/responses", &ask("mock-model", "high")).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let warning = reply.header("x-llm-warning").unwrap_or_default();
    assert!(warning.contains("reasoning.effort 'high'"), "{warning:?}");
    assert_eq!(reply.json()["reasoning"]["effort"], Value::Null);
    // Claude gets a thinking budget; vLLM gets the effort as it is: no warning for either.
    let reply = post(&via, "/v1/responses", &ask("claude-sonnet-4-5", "high")).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(reply.header("x-llm-warning").is_none());
    assert_eq!(claude.last().json()["thinking"]["type"], "enabled");
    let reply = post(&via, "/v1/responses", &ask("llama-3.1-8b", "xhigh")).await;
    assert!(reply.header("x-llm-warning").is_none());
    assert_eq!(vllm.last().json()["reasoning_effort"], "xhigh");
    // A value that is no effort at all is still the client's error.
    let reply = post(&via, "/v1/responses", &ask("mock-model", "extreme")).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error"]["param"], "reasoning.effort");
}
