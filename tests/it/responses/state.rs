//! Stored responses: `previous_response_id` chains, streamed and with function calls, through
//! the OpenAI SDK on Claude and vLLM; `GET`/`DELETE` and `input_items`; one key never reaching
//! another's responses; a stored conversation continued on an upstream that speaks the
//! Responses API itself; `responses.store: false`.

use bytes::Bytes;
use serde_json::{Value, json};

use super::{Upstreams, gateway};
use crate::common::Gateway;
use crate::common::client::{self, Reply, Via, raw_request};
use crate::sdk::run;

const STATE_SCENARIOS: [&str; 4] = ["chain", "stream_chain", "no_store", "tool_chain"];

/// The chat messages an upstream got, without the system prompt, as (role, text) pairs.
fn turns(body: &Value) -> Vec<(String, String)> {
    body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] != "system")
        .map(|m| {
            let text = match &m["content"] {
                Value::String(text) => text.clone(),
                Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect(),
                _ => String::new(),
            };
            (m["role"].as_str().unwrap().to_owned(), text)
        })
        .collect()
}

#[tokio::test]
async fn the_openai_sdk_continues_conversations_on_vllm_and_claude() {
    let (Upstreams { vllm, claude, .. }, gw) = gateway().await;
    run(
        "responses_scenarios.py",
        &gw,
        &[("MODEL", "llama-3.1-8b")],
        &STATE_SCENARIOS,
    )
    .await;
    {
        let requests = vllm.requests.lock().unwrap();
        // `chain`'s second turn: the first question, the answer, the new question.
        let second = turns(&requests[1].json());
        assert_eq!(second.len(), 3, "{second:?}");
        assert_eq!(second[0], ("user".to_owned(), "My name is Ada.".to_owned()));
        assert_eq!(second[1].0, "assistant");
        assert_eq!(
            second[2],
            ("user".to_owned(), "What is my name?".to_owned())
        );
    }
    run(
        "responses_scenarios.py",
        &gw,
        &[("MODEL", "claude-sonnet-4-5")],
        &STATE_SCENARIOS,
    )
    .await;
    // `tool_chain`'s second turn reached Claude as tool_use answered by tool_result (the fake
    // refuses anything else).
    let last = claude.last().json();
    let messages = last["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3, "{last}");
    let kinds = |m: &Value| -> Vec<String> {
        m["content"]
            .as_array()
            .unwrap()
            .iter()
            .map(|part| part["type"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(
        kinds(&messages[1]).contains(&"tool_use".to_owned()),
        "{last}"
    );
    assert_eq!(kinds(&messages[2]), ["tool_result"], "{last}");
}

async fn call(gw: &Gateway, method: &str, path: &str, key: Option<&str>, body: Value) -> Reply {
    let body = if body.is_null() {
        Bytes::new()
    } else {
        Bytes::from(body.to_string())
    };
    let mut request = raw_request(method, path, body);
    if let Some(key) = key {
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {key}").parse().unwrap());
    }
    client::call(&Via::Unix(gw.unix.clone()), request).await
}

fn turn(previous: Option<&str>) -> Value {
    json!({"model": "m", "input": "hi", "previous_response_id": previous})
}

#[tokio::test]
async fn a_stored_response_belongs_to_the_key_that_made_it() {
    let gw = Gateway::start(
        "providers:\n  - {name: mock, type: mock, models: [m], mock: {latency: 0ms}}\nkeys:\n  - {name: a, key: sk-a}\n  - {name: b, key: sk-b}\n",
    )
    .await;
    let made = call(&gw, "POST", "/v1/responses", Some("sk-a"), turn(None)).await;
    assert_eq!(made.status, 200, "{}", made.text());
    let id = made.json()["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/responses/{id}");
    let items = format!("{path}/input_items");

    for (method, path) in [("GET", &path), ("DELETE", &path), ("GET", &items)] {
        let reply = call(&gw, method, path, Some("sk-b"), Value::Null).await;
        assert_eq!(reply.status, 404, "{method} {path}: {}", reply.text());
        assert_eq!(reply.json()["error"]["type"], "invalid_request_error");
        let anonymous = call(&gw, method, path, None, Value::Null).await;
        assert_eq!(anonymous.status, 401, "{method} {path}");
    }
    let continued = call(&gw, "POST", "/v1/responses", Some("sk-b"), turn(Some(&id))).await;
    assert_eq!(continued.status, 404, "{}", continued.text());
    assert_eq!(continued.json()["error"]["param"], "previous_response_id");

    let mine = call(&gw, "GET", &path, Some("sk-a"), Value::Null).await;
    assert_eq!(mine.status, 200, "{}", mine.text());
    assert_eq!(mine.json(), made.json(), "read back as it was answered");
    let continued = call(&gw, "POST", "/v1/responses", Some("sk-a"), turn(Some(&id))).await;
    assert_eq!(continued.status, 200, "{}", continued.text());
    assert_eq!(continued.json()["previous_response_id"], id.as_str());

    // Ids outside the id alphabet are simply not found (never a store key).
    for odd in ["resp_%2F..%2Fx", "resp_%00", "%E2%80%AE"] {
        let reply = call(
            &gw,
            "GET",
            &format!("/v1/responses/{odd}"),
            Some("sk-a"),
            Value::Null,
        )
        .await;
        assert_eq!(reply.status, 404, "{odd}: {}", reply.text());
    }
    let deleted = call(&gw, "DELETE", &path, Some("sk-a"), Value::Null).await;
    assert_eq!(
        deleted.json(),
        json!({"id": id, "object": "response", "deleted": true})
    );
}

#[tokio::test]
async fn a_stored_conversation_continues_on_a_native_responses_upstream() {
    let (Upstreams { openai, .. }, gw) = gateway().await;
    let via = Via::Unix(gw.unix.clone());
    let first = client::post(
        &via,
        "/v1/responses",
        &json!({"model": "llama-3.1-8b", "input": "My name is Ada.", "max_output_tokens": 16}),
    )
    .await;
    assert_eq!(first.status, 200, "{}", first.text());
    let id = first.json()["id"].as_str().unwrap().to_owned();
    let second = client::post(
        &via,
        "/v1/responses",
        &json!({"model": "gpt-4.1", "input": "And my name?", "previous_response_id": id}),
    )
    .await;
    assert_eq!(second.status, 200, "{}", second.text());
    // OpenAI never saw the first turn: it gets it as input, without the id it does not know.
    let sent = openai.last().json();
    assert!(sent.get("previous_response_id").is_none(), "{sent}");
    let input = sent["input"].as_array().unwrap();
    assert_eq!(input.len(), 3, "{sent}");
    assert_eq!(input[0]["content"][0]["text"], "My name is Ada.");
    assert_eq!(input[1]["role"], "assistant");
    assert_eq!(input[2]["content"][0]["text"], "And my name?");

    // An id the gateway did not store is the upstream's own: passed through as sent.
    let native = client::post(
        &via,
        "/v1/responses",
        &json!({"model": "gpt-4.1", "input": "x", "previous_response_id": "resp_upstream"}),
    )
    .await;
    assert_eq!(native.status, 200);
    assert_eq!(
        openai.last().json()["previous_response_id"],
        "resp_upstream"
    );
}

#[tokio::test]
async fn responses_store_false_keeps_nothing() {
    let gw = Gateway::start(
        "providers:\n  - {name: mock, type: mock, models: [m], mock: {latency: 0ms}}\nresponses:\n  store: false\n",
    )
    .await;
    let made = call(&gw, "POST", "/v1/responses", None, turn(None)).await;
    assert_eq!(made.status, 200, "{}", made.text());
    assert_eq!(made.json()["store"], false);
    let id = made.json()["id"].as_str().unwrap().to_owned();
    let read = call(
        &gw,
        "GET",
        &format!("/v1/responses/{id}"),
        None,
        Value::Null,
    )
    .await;
    assert_eq!(read.status, 404);
}
