//! The Anthropic adapter against a mock Anthropic API that enforces Anthropic's rules.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::client::{Via, post, sse_data};
use crate::common::fixtures;
use crate::common::upstream::{Canned, Recorded};
use crate::common::{Gateway, Upstream};

pub(crate) const KEY: &str = "sk-ant-test-key";

/// What the real Anthropic API would reject; `None` when the request is acceptable.
pub(crate) fn violation(r: &Recorded) -> Option<String> {
    let counting = r.path == "/v1/messages/count_tokens";
    if r.path != "/v1/messages" && !counting {
        return Some(format!("unexpected path {}", r.path));
    }
    if r.header("x-api-key") != Some(KEY) {
        return Some("x-api-key missing or wrong".into());
    }
    if r.header("authorization").is_some() {
        return Some("authorization header must not be sent".into());
    }
    if r.header("anthropic-version").is_none() {
        return Some("anthropic-version missing".into());
    }
    let body = r.json();
    if !counting && !body["max_tokens"].is_u64() {
        return Some("max_tokens: Field required".into());
    }
    let messages = body["messages"].as_array()?;
    let mut previous = "";
    for m in messages {
        let role = m["role"].as_str().unwrap_or("");
        if role != "user" && role != "assistant" {
            return Some(format!("messages: unexpected role {role}"));
        }
        if role == previous {
            return Some("messages: roles must alternate".into());
        }
        previous = role;
        for block in m["content"].as_array().into_iter().flatten() {
            if block["type"] == "tool_result" && role != "user" {
                return Some("tool_result outside a user turn".into());
            }
            if block["type"] == "text" && block["text"] == "" {
                return Some("text content blocks must be non-empty".into());
            }
        }
    }
    if messages.first().map(|m| &m["role"]) != Some(&json!("user")) {
        return Some("first message must use the user role".into());
    }
    None
}

pub(crate) fn rules(
    answer: impl Fn(&Recorded) -> Canned + Send + Sync + 'static,
) -> impl Fn(&Recorded) -> Canned + Send + Sync + 'static {
    move |r| match violation(r) {
        Some(problem) => Canned::Json(
            400,
            json!({"type": "error", "error": {"type": "invalid_request_error", "message": problem}}),
        ),
        None => answer(r),
    }
}

async fn gateway(up: &Upstream) -> Gateway {
    Gateway::start(&format!(
        "providers:\n  - name: claude\n    type: anthropic\n    api_key: {KEY}\n    base_url: http://{}\n    anthropic_beta: [prompt-caching-2024-07-31, output-128k-2025-02-19]\n    models: [claude-sonnet-4-5]\nrouting:\n  retry_count: 0\n",
        up.addr
    ))
    .await
}

fn conversation(stream: bool) -> Value {
    json!({
        "model": "claude-sonnet-4-5",
        "stream": stream,
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_current_weather", "arguments": "{\"location\":\"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
            {"role": "user", "content": "Thanks, and Boston?"}
        ],
        "tools": [{"type": "function", "function": {"name": "get_current_weather", "parameters": {"type": "object", "properties": {"location": {"type": "string"}}}}}]
    })
}

#[tokio::test]
async fn chat_is_translated_both_ways() {
    let up = Upstream::start(rules(|_| {
        Canned::Json(
            200,
            fixtures::json("anthropic/messages_response_tool_use.json"),
        )
    }))
    .await;
    let gw = gateway(&up).await;
    let reply = post(
        &Via::Unix(gw.unix.clone()),
        "/v1/chat/completions",
        &conversation(false),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    let message = &body["choices"][0]["message"];
    assert_eq!(message["content"], "Let me look that up.");
    assert_eq!(message["tool_calls"][0]["id"], "toolu_01BBB");
    assert_eq!(
        message["tool_calls"][0]["function"]["arguments"],
        "{\"location\":\"Paris, FR\"}"
    );
    assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(body["usage"]["prompt_tokens"], 3544);
    assert_eq!(
        body["usage"]["prompt_tokens_details"]["cached_tokens"],
        2048
    );

    let sent = up.last().json();
    assert_eq!(
        sent["system"],
        json!([{"type": "text", "text": "You are terse."}])
    );
    assert_eq!(
        sent["max_tokens"], 64000,
        "default from the model's output limit"
    );
    assert_eq!(sent["messages"][1]["content"][0]["type"], "tool_use");
    assert_eq!(
        sent["messages"][2]["content"][0],
        json!({"type": "tool_result", "tool_use_id": "call_1", "content": "18C"})
    );
    assert_eq!(
        sent["messages"][2]["content"][1]["text"],
        "Thanks, and Boston?"
    );
}

#[tokio::test]
async fn streams_become_openai_chunks() {
    let up = Upstream::start(rules(|_| {
        Canned::Sse(
            fixtures::sse_events("anthropic/messages_stream_thinking_tool_use.sse"),
            Duration::ZERO,
        )
    }))
    .await;
    let gw = gateway(&up).await;
    let via = Via::Tcp(gw.tcp);
    let reply = post(&via, "/v1/chat/completions", &conversation(true)).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let data = sse_data(&reply.text());
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = data
        .iter()
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk" && c.get("usage").is_none())
    );
    let args: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str())
        .collect();
    assert_eq!(args, "{\"location\": \"Paris, FR\"}");
    assert_eq!(
        chunks
            .iter()
            .filter_map(|c| c["choices"][0]["finish_reason"].as_str())
            .collect::<Vec<_>>(),
        ["tool_calls"]
    );
    assert_eq!(up.last().json()["stream"], true);

    let mut with_usage = conversation(true);
    with_usage["stream_options"] = json!({"include_usage": true});
    let reply = post(&via, "/v1/chat/completions", &with_usage).await;
    assert!(
        reply.text().contains("\"prompt_tokens\":2520"),
        "{}",
        reply.text()
    );
    let metrics = crate::common::client::get(&via, "/metrics").await.text();
    assert!(metrics.contains(r#"llm_token_usage_total{team="none",model="claude-sonnet-4-5",provider="claude",type="cached"} 4096"#), "{metrics}");
}

#[tokio::test]
async fn overloaded_becomes_a_retryable_503_and_midstream_errors_stay_in_band() {
    let up = Upstream::start(rules(|r| {
        if r.json()["stream"] == true {
            Canned::Sse(fixtures::sse_events("anthropic/messages_stream_error_midstream.sse"), Duration::ZERO)
        } else {
            Canned::JsonHeaders(
                529,
                json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
                vec![("retry-after", "3".to_owned())],
            )
        }
    }))
    .await;
    let gw = gateway(&up).await;
    let via = Via::Unix(gw.unix.clone());
    let reply = post(&via, "/v1/chat/completions", &conversation(false)).await;
    assert_eq!(reply.status, 503, "{}", reply.text());
    assert_eq!(reply.header("retry-after"), Some("3"));
    assert_eq!(reply.json()["error"]["code"], "overloaded_error");

    let reply = post(&via, "/v1/chat/completions", &conversation(true)).await;
    let data = sse_data(&reply.text());
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    let error: Value = serde_json::from_str(&data[data.len() - 2]).unwrap();
    assert_eq!(error["error"]["message"], "Overloaded");
}

#[tokio::test]
async fn the_seed_config_serves_anthropic_models() {
    let up = Upstream::start(rules(|_| {
        Canned::Json(200, fixtures::json("anthropic/messages_response_text.json"))
    }))
    .await;
    // The seed names the provider `anthropic` without a type: it is inferred.
    let gw = Gateway::start(&format!(
        "providers:\n  - name: anthropic\n    api_key: {KEY}\n    base_url: http://{}\n    models: [claude-3-opus]\n",
        up.addr
    ))
    .await;
    let body = json!({"model": "claude-3-opus", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]});
    let reply = post(&Via::Tcp(gw.tcp), "/v1/chat/completions", &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(up.last().json()["max_tokens"], 50);
}
