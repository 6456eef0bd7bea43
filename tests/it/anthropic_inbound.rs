//! The Anthropic Messages inbound against OpenAI-format upstreams: the real gateway, a mock
//! upstream that checks every translated request, over TCP and the Unix socket.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::client::{self, Reply, Via, get, post};
use crate::common::upstream::{self, Canned, Recorded};
use crate::common::{Gateway, Upstream};

const MODEL: &str = "claude-sonnet-4-5";
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

/// `claude-sonnet-4-5` goes to an `openai` provider, `llama` to a `vllm` one; both reach `up`.
fn config(up: &Upstream) -> String {
    format!(
        "providers:\n  - name: oa\n    type: openai\n    api_key: sk-upstream-secret\n    base_url: {0}\n    models: [gpt-4o]\n  - name: vl\n    type: vllm\n    base_url: {0}\n    models: [llama]\nmodels:\n  - name: {MODEL}\n    deployments:\n      - provider: oa\n        model: gpt-4o-real\n",
        up.base_url()
    )
}

/// What is wrong with a translated request, if anything: Anthropic-only fields, the wrong
/// token limit for the provider type, system not first, tool messages not answering the
/// assistant's calls right before them.
fn problem(r: &Recorded) -> Option<String> {
    let body = r.json();
    let openai = body["model"] == "gpt-4o-real";
    // OpenAI itself rejects unknown fields such as `top_k`; vLLM takes it.
    let leaked = ["system", "stop_sequences", "metadata", "thinking", "top_k"];
    let leaked = &leaked[..leaked.len() - usize::from(!openai)];
    if let Some(key) = leaked.iter().find(|k| body.get(**k).is_some()) {
        return Some(format!("Anthropic field `{key}` leaked"));
    }
    let (limit, other) = if openai {
        ("max_completion_tokens", "max_tokens")
    } else {
        ("max_tokens", "max_completion_tokens")
    };
    if !body[limit].is_u64() || body.get(other).is_some() {
        return Some(format!("expected `{limit}` only"));
    }
    let messages = body["messages"].as_array()?;
    let roles: Vec<&str> = messages.iter().filter_map(|m| m["role"].as_str()).collect();
    if roles.iter().skip(1).any(|r| *r == "system") {
        return Some("system message not first".into());
    }
    for (i, message) in messages.iter().enumerate() {
        if message["role"] != "tool" {
            continue;
        }
        let answered = messages[..i]
            .iter()
            .rev()
            .find(|m| m["role"] != "tool")
            .and_then(|m| m["tool_calls"].as_array())
            .is_some_and(|calls| calls.iter().any(|c| c["id"] == message["tool_call_id"]));
        if !answered {
            return Some(format!("tool message {i} does not follow its call"));
        }
    }
    None
}

fn last_user_text(body: &Value) -> String {
    let last = body["messages"].as_array().and_then(|m| m.last());
    let content = last.map(|m| &m["content"]).unwrap_or(&Value::Null);
    content
        .as_str()
        .or(content[0]["text"].as_str())
        .unwrap_or_default()
        .to_owned()
}

fn responder(r: &Recorded) -> Canned {
    if let Some(problem) = problem(r) {
        return Canned::Json(
            400,
            json!({"error": {"message": problem, "type": "invalid_request_error"}}),
        );
    }
    let body = r.json();
    let stream = body["stream"] == true;
    match (last_user_text(&body).as_str(), stream) {
        ("429", _) => Canned::JsonHeaders(
            429,
            json!({"error": {"message": "Rate limit reached for requests", "type": "requests", "code": "rate_limit_exceeded"}}),
            vec![("retry-after", "7".to_owned())],
        ),
        ("401", _) => Canned::Json(
            401,
            json!({"error": {"message": "Incorrect API key provided: sk-upst***", "type": "invalid_request_error"}}),
        ),
        ("weather?", false) => Canned::Json(200, tool_call_completion()),
        ("weather?", true) => Canned::Sse(
            vec![fixture(
                "reference/openai/chat_stream_tool_calls_with_usage.sse",
            )],
            Duration::ZERO,
        ),
        ("midstream", true) => Canned::Sse(
            vec![fixture("reference/openai/chat_stream_midstream_error.sse")],
            Duration::ZERO,
        ),
        (_, true) => Canned::Sse(
            upstream::chat_stream(&["Hel", "lo"], Some((11, 2))),
            Duration::ZERO,
        ),
        (_, false) => Canned::Json(
            200,
            upstream::chat_completion("gpt-4o-real", "Hello", 11, 2),
        ),
    }
}

fn tool_call_completion() -> Value {
    json!({
        "id": "chatcmpl-tool", "object": "chat.completion", "created": 1, "model": "gpt-4o-real",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": null,
            "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]}}],
        "usage": {"prompt_tokens": 30, "completion_tokens": 5, "total_tokens": 35},
    })
}

fn fixture(path: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{path}")).unwrap()
}

async fn setup() -> (Upstream, Gateway) {
    let up = Upstream::start(responder).await;
    let gw = Gateway::start(&config(&up)).await;
    (up, gw)
}

pub(crate) fn ask(model: &str, text: &str, stream: bool) -> Value {
    json!({
        "model": model, "max_tokens": 64, "stream": stream,
        "system": "Be brief.",
        "messages": [{"role": "user", "content": text}],
        "stop_sequences": ["END"], "top_k": 5, "metadata": {"user_id": "u-1"},
        "thinking": {"type": "enabled", "budget_tokens": 1024},
    })
}

/// POSTs an Anthropic request the way the SDK does: `anthropic-version`, and the key in
/// `x-api-key` or (`auth_token`) `Authorization: Bearer`.
pub(crate) async fn send(via: &Via, path: &str, body: &Value, bearer: bool) -> Reply {
    let mut request = client::json_request("POST", path, body);
    let headers = request.headers_mut();
    headers.insert("anthropic-version", "2023-06-01".parse().unwrap());
    if bearer {
        headers.insert("authorization", "Bearer sk-ant-client".parse().unwrap());
    } else {
        headers.insert("x-api-key", "sk-ant-client".parse().unwrap());
    }
    client::call(via, request).await
}

pub(crate) fn assert_anthropic_error(reply: &Reply, status: u16, kind: &str) {
    assert_eq!(reply.status, status, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], kind, "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
}

/// `(event name, data)` pairs; the name must repeat the data's `type`.
pub(crate) fn events(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|event| {
            let name = event.lines().find_map(|l| l.strip_prefix("event: "));
            let data = event.lines().find_map(|l| l.strip_prefix("data: "));
            let (name, data) = (
                name.unwrap(),
                serde_json::from_str::<Value>(data.unwrap()).unwrap(),
            );
            assert_eq!(data["type"], name, "{event}");
            (name.to_owned(), data)
        })
        .collect()
}

fn names(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(n, _)| n.as_str()).collect()
}

#[tokio::test]
async fn text_over_both_listeners_with_either_key_header() {
    let (up, gw) = setup().await;
    for via in [Via::Tcp(gw.tcp), Via::Unix(gw.unix.clone())] {
        for (path, bearer) in [("/v1/messages", false), ("/messages", true)] {
            let reply = send(&via, path, &ask(MODEL, "Say hello", false), bearer).await;
            assert_eq!(reply.status, 200, "{}", reply.text());
            let body = reply.json();
            assert_eq!(body["type"], "message");
            assert_eq!(body["id"], "msg_test");
            assert_eq!(body["content"], json!([{"type": "text", "text": "Hello"}]));
            assert_eq!(body["stop_reason"], "end_turn");
            assert_eq!(
                body["usage"],
                json!({"input_tokens": 11, "output_tokens": 2})
            );
            assert!(
                reply
                    .header("request-id")
                    .is_some_and(|id| id.starts_with("req_"))
            );
            let sent = up.last().json();
            assert_eq!(sent["model"], "gpt-4o-real");
            assert_eq!(sent["max_completion_tokens"], 64);
            assert_eq!(
                sent["messages"][0],
                json!({"role": "system", "content": "Be brief."})
            );
            assert_eq!(sent["stop"], json!(["END"]));
            assert_eq!(sent["user"], "u-1");
            assert_eq!(
                up.last().header("authorization"),
                Some("Bearer sk-upstream-secret")
            );
        }
    }
    // A vLLM-type provider gets `max_tokens` and `top_k`.
    let reply = send(
        &Via::Tcp(gw.tcp),
        "/v1/messages",
        &ask("llama", "Say hello", false),
        false,
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let sent = up.last().json();
    assert_eq!(
        (&sent["max_tokens"], &sent["top_k"]),
        (&json!(64), &json!(5))
    );
}

#[tokio::test]
async fn tool_use_round_trip() {
    let (up, gw) = setup().await;
    let via = Via::Unix(gw.unix.clone());
    let tools = json!([{"name": "get_weather", "description": "Weather by city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]);
    let mut first = ask(MODEL, "weather?", false);
    first["tools"] = tools.clone();
    first["tool_choice"] = json!({"type": "any", "disable_parallel_tool_use": true});
    let reply = send(&via, "/v1/messages", &first, false).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let answer = reply.json();
    assert_eq!(answer["stop_reason"], "tool_use");
    assert_eq!(
        answer["content"],
        json!([{"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}}])
    );
    let sent = up.last().json();
    assert_eq!(
        sent["tools"][0]["function"]["parameters"],
        tools[0]["input_schema"]
    );
    assert_eq!(
        (&sent["tool_choice"], &sent["parallel_tool_calls"]),
        (&json!("required"), &json!(false))
    );

    // The client answers the call; the upstream sees the call, then the tool message.
    let mut second = first.clone();
    second["messages"] = json!([
        first["messages"][0],
        {"role": "assistant", "content": answer["content"]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "call_1", "content": "18°C, clear"},
            {"type": "text", "text": "Thanks! Summarise."}
        ]},
    ]);
    let reply = send(&via, "/v1/messages", &second, true).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["content"][0]["text"], "Hello");
    let sent = up.last().json();
    let roles: Vec<&str> = sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["system", "user", "assistant", "tool", "user"]);
    assert_eq!(
        sent["messages"][2]["tool_calls"][0]["function"]["arguments"],
        "{\"city\":\"Paris\"}"
    );
    assert_eq!(
        sent["messages"][3],
        json!({"role": "tool", "tool_call_id": "call_1", "content": "18°C, clear"})
    );
}

#[tokio::test]
async fn streams_follow_anthropics_event_order() {
    let (up, gw) = setup().await;
    for via in [Via::Tcp(gw.tcp), Via::Unix(gw.unix.clone())] {
        let reply = send(&via, "/v1/messages", &ask(MODEL, "Say hello", true), false).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(reply.header("content-type"), Some("text/event-stream"));
        let all = events(&reply.text());
        assert_eq!(
            names(&all),
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert_eq!(all[0].1["message"]["content"], json!([]));
        assert_eq!(all[0].1["message"]["stop_reason"], Value::Null);
        let text: String = all
            .iter()
            .filter_map(|(_, d)| d["delta"]["text"].as_str())
            .collect();
        assert_eq!(text, "Hello");
        assert_eq!(all[5].1["delta"]["stop_reason"], "end_turn");
        assert_eq!(all[5].1["usage"]["output_tokens"], 2);
        let sent = up.last().json();
        assert_eq!(
            (&sent["stream"], &sent["stream_options"]),
            (&json!(true), &json!({"include_usage": true}))
        );
    }
}

#[tokio::test]
async fn streamed_tool_calls_and_midstream_errors() {
    let (_up, gw) = setup().await;
    // Parallel tool calls become one tool_use block each.
    let reply = send(
        &Via::Tcp(gw.tcp),
        "/v1/messages",
        &ask(MODEL, "weather?", true),
        false,
    )
    .await;
    let want = events(&fixture(
        "anthropic_inbound/chat_stream_tool_calls_with_usage.sse",
    ));
    let mut got = events(&reply.text());
    // `message_start` carries the gateway's own estimate; the rest is exact.
    assert!(
        got[0].1["message"]["usage"]["input_tokens"]
            .as_u64()
            .unwrap()
            > 0
    );
    got[0].1["message"]["usage"] = want[0].1["message"]["usage"].clone();
    assert_eq!(got, want);
    // An upstream error mid-stream ends the stream with an Anthropic error event.
    let reply = send(
        &Via::Tcp(gw.tcp),
        "/v1/messages",
        &ask(MODEL, "midstream", true),
        false,
    )
    .await;
    let all = events(&reply.text());
    assert_eq!(names(&all).last(), Some(&"error"));
    assert_eq!(all.last().unwrap().1["error"]["type"], "overloaded_error");
    // Output tokens: 41 reported by the upstream for the tool stream, and 2 estimated for the
    // "Partial ans" of the stream that failed before its usage came (bytes / 4 said 3).
    let metrics = get(&Via::Tcp(gw.tcp), "/metrics").await.text();
    let needle = format!(
        r#"llm_token_usage_total{{team="none",model="{MODEL}",provider="oa",type="output"}} 43"#
    );
    assert!(metrics.contains(&needle), "missing {needle} in\n{metrics}");
}

#[tokio::test]
async fn bad_requests_are_in_anthropics_shape() {
    let (up, gw) = setup().await;
    let via = Via::Tcp(gw.tcp);
    let raw = |body: &'static str| {
        client::raw_request(
            "POST",
            "/v1/messages",
            bytes::Bytes::from_static(body.as_bytes()),
        )
    };
    let bad = [
        raw("{not json"),
        raw(r#"{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"x"}]}"#),
        raw(r#"{"model":"claude-sonnet-4-5","max_tokens":5}"#),
        raw(r#"{"max_tokens":5,"messages":[{"role":"user","content":"x"}]}"#),
        raw(
            r#"{"model":"claude-sonnet-4-5","max_tokens":"5","messages":[{"role":"user","content":"x"}]}"#,
        ),
        raw(
            r#"{"model":"claude-sonnet-4-5","max_tokens":5,"messages":[{"role":"user","content":[{"type":"nope"}]}]}"#,
        ),
    ];
    for request in bad {
        assert_anthropic_error(
            &client::call(&via, request).await,
            400,
            "invalid_request_error",
        );
    }
    assert_anthropic_error(
        &send(
            &via,
            "/v1/messages",
            &ask("no-such-model", "x", false),
            false,
        )
        .await,
        404,
        "not_found_error",
    );
    assert_anthropic_error(
        &get(&via, "/v1/messages").await,
        405,
        "invalid_request_error",
    );
    assert_eq!(up.count(), 0, "no bad request may reach the upstream");
}

#[tokio::test]
async fn upstream_errors_are_in_anthropics_shape() {
    let (_up, gw) = setup().await;
    let via = Via::Tcp(gw.tcp);
    let reply = send(&via, "/v1/messages", &ask(MODEL, "429", false), false).await;
    assert_anthropic_error(&reply, 429, "rate_limit_error");
    assert_eq!(reply.header("retry-after"), Some("7"));
    assert!(reply.text().contains("Rate limit reached for requests"));
    let reply = send(&via, "/v1/messages", &ask(MODEL, "429", true), false).await;
    assert_anthropic_error(&reply, 429, "rate_limit_error");
    let reply = send(&via, "/v1/messages", &ask(MODEL, "401", false), false).await;
    assert_anthropic_error(&reply, 502, "api_error");
    assert!(!reply.text().contains("sk-upst"), "{}", reply.text());
    // The OpenAI routes still answer in OpenAI's shape.
    let reply = post(
        &via,
        "/v1/chat/completions",
        &json!({"model": "nope", "messages": [{"role": "user", "content": "x"}]}),
    )
    .await;
    assert_eq!(reply.json()["error"]["code"], "model_not_found");
}

#[tokio::test]
async fn count_tokens_estimates_without_calling_upstream() {
    let (up, gw) = setup().await;
    for via in [Via::Tcp(gw.tcp), Via::Unix(gw.unix.clone())] {
        for path in ["/v1/messages/count_tokens", "/messages/count_tokens"] {
            let body = json!({"model": MODEL, "system": "Be brief.", "messages": [{"role": "user", "content": "Say hello to everyone here"}]});
            let reply = send(&via, path, &body, false).await;
            assert_eq!(reply.status, 200, "{}", reply.text());
            let tokens = reply.json()["input_tokens"].as_u64().unwrap();
            assert!((5..20).contains(&tokens), "{tokens}");
        }
        let reply = send(
            &via,
            "/v1/messages/count_tokens",
            &json!({"model": "nope", "messages": [{"role": "user", "content": "x"}]}),
            true,
        )
        .await;
        assert_anthropic_error(&reply, 404, "not_found_error");
    }
    assert_eq!(up.count(), 0);
}
