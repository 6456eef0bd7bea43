//! The Ollama native adapter end to end: the real gateway binary, a `type: ollama` provider, and a
//! mock Ollama that checks Ollama's request rules (failing the request on any violation) and
//! answers with the reference fixtures, streaming NDJSON in several chunks.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::client::{Via, get, post, sse_data};
use crate::common::fixtures;
use crate::common::upstream::{Canned, Recorded};
use crate::common::{Gateway, Upstream};

/// Every chat request here sends this `max_tokens`; the mock demands it as `num_predict`.
const MAX_TOKENS: u64 = 64;
/// Status the mock answers a rule violation with (not retried, so the test sees it at once).
const VIOLATION: u16 = 422;
/// The answer to a plain (non-stream, no tools) chat request.
const PLAIN_ANSWER: &str = r#"{"model":"llama3.2","created_at":"2025-07-07T20:32:53.844124Z","message":{"role":"assistant","content":"Hello there"},"done":true,"done_reason":"stop","prompt_eval_count":11,"eval_count":2}"#;

fn fixture(name: &str) -> String {
    fixtures::text(&format!("ollama/{name}"))
}

/// What Ollama would reject or misread in a request; empty when it follows the rules.
fn violations(r: &Recorded) -> Vec<String> {
    let body = r.json();
    let mut found = Vec::new();
    if r.method != "POST" || !body["model"].is_string() {
        found.push(format!("{} with model {}", r.method, body["model"]));
    }
    match r.path.as_str() {
        "/api/chat" => chat_violations(&body, &mut found),
        "/api/embed" => {
            let texts = body["input"].as_array();
            if !texts.is_some_and(|t| t.iter().all(Value::is_string)) {
                found.push(format!(
                    "input must be an array of strings: {}",
                    body["input"]
                ));
            }
            for key in ["encoding_format", "user"] {
                if body.get(key).is_some() {
                    found.push(format!("OpenAI-only field `{key}`"));
                }
            }
        }
        other => found.push(format!("unexpected path {other}")),
    }
    found
}

fn chat_violations(body: &Value, found: &mut Vec<String>) {
    if !body["stream"].is_boolean() {
        found.push("`stream` must be sent as a bool (Ollama streams by default)".into());
    }
    if body["options"]["num_predict"] != MAX_TOKENS {
        found.push(format!(
            "options.num_predict is {}",
            body["options"]["num_predict"]
        ));
    }
    for key in [
        "max_tokens",
        "max_completion_tokens",
        "stream_options",
        "tool_choice",
    ] {
        if body.get(key).is_some() {
            found.push(format!("OpenAI-only field `{key}`"));
        }
    }
    for (i, message) in body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let role = message["role"].as_str().unwrap_or("");
        if !["system", "user", "assistant", "tool"].contains(&role)
            || !message["content"].is_string()
        {
            found.push(format!(
                "messages[{i}] needs an Ollama role and string content"
            ));
        }
        let base64 = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
        };
        for image in message["images"].as_array().into_iter().flatten() {
            if !image.as_str().is_some_and(base64) {
                found.push(format!("messages[{i}].images must be bare base64: {image}"));
            }
        }
        for call in message["tool_calls"].as_array().into_iter().flatten() {
            if !call["function"]["arguments"].is_object() {
                found.push(format!(
                    "messages[{i}] tool arguments must be an object: {call}"
                ));
            }
        }
    }
    for tool in body["tools"].as_array().into_iter().flatten() {
        if tool["type"] != "function" || !tool["function"]["name"].is_string() {
            found.push(format!("tool in OpenAI function shape expected: {tool}"));
        }
    }
}

/// Splits every line of an NDJSON body across two chunks (one line always straddles two reads).
fn ndjson_chunks(text: &str) -> Vec<String> {
    text.split_inclusive('\n')
        .flat_map(|line| {
            let (head, tail) = line.split_at(line.len() / 2);
            [head.to_owned(), tail.to_owned()]
        })
        .collect()
}

fn ndjson(text: &str) -> Canned {
    Canned::Chunks(
        200,
        "application/x-ndjson",
        ndjson_chunks(text),
        Duration::from_millis(5),
    )
}

/// The mock Ollama.
pub(crate) fn ollama(r: &Recorded) -> Canned {
    let problems = violations(r);
    if !problems.is_empty() {
        let message = format!("mock ollama: {}", problems.join("; "));
        return Canned::Json(VIOLATION, json!({ "error": message }));
    }
    let body = r.json();
    if r.path == "/api/embed" {
        let mut answer = fixtures::json("ollama/embed_response.json");
        answer["prompt_eval_count"] = json!(8);
        return Canned::Json(200, answer);
    }
    let json = |text: String| Canned::Raw(200, "application/json; charset=utf-8", text);
    match (body["model"].as_str().unwrap_or(""), body["stream"] == true) {
        ("llama9", _) => Canned::Json(
            404,
            json!({"error": "model \"llama9\" not found, try pulling it first"}),
        ),
        ("broken", _) => ndjson(&fixture("error_midstream.ndjson")),
        (_, true) => ndjson(&fixture("chat_stream.ndjson")),
        _ if body.get("tools").is_some() => json(fixture("chat_response_tool_calls.json")),
        _ => json(PLAIN_ANSWER.to_owned()),
    }
}

fn config(provider: &str) -> String {
    format!(
        "providers:\n{provider}    models: [llama9, broken, all-minilm]\nmodels:\n  - name: chat\n    deployments:\n      - provider: local\n        model: llama3.2\n"
    )
}

async fn setup() -> (Upstream, Gateway) {
    let up = Upstream::start(ollama).await;
    let provider = format!(
        "  - name: local\n    type: ollama\n    base_url: http://{}\n",
        up.addr
    );
    let gw = Gateway::start(&config(&provider)).await;
    (up, gw)
}

fn ask(model: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "stream": stream,
        "max_tokens": MAX_TOKENS,
        "temperature": 0.5,
        "messages": [
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": "Say hello"},
        ],
    })
}

/// The JSON payloads of an SSE body (`[DONE]` as a string).
fn events(text: &str) -> Vec<Value> {
    sse_data(text)
        .iter()
        .map(|d| serde_json::from_str(d).unwrap_or_else(|_| json!(d)))
        .collect()
}

#[tokio::test]
async fn chat_is_translated_both_ways() {
    let (up, gw) = setup().await;
    let reply = post(
        &Via::Tcp(gw.tcp),
        "/v1/chat/completions",
        &ask("chat", false),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    assert!(body["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["created"], 1_751_920_373);
    assert_eq!(body["choices"][0]["message"]["content"], "Hello there");
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(body["usage"]["prompt_tokens"], 11);
    assert_eq!(body["usage"]["total_tokens"], 13);
    let seen = up.last();
    assert_eq!(seen.path, "/api/chat");
    assert_eq!(seen.header("authorization"), None, "no key configured");
    let sent = seen.json();
    assert_eq!(sent["model"], "llama3.2");
    assert_eq!(sent["stream"], false);
    assert_eq!(
        sent["options"],
        json!({"temperature": 0.5, "num_predict": 64})
    );
    assert_eq!(
        sent["messages"][0],
        json!({"role": "system", "content": "Be brief."})
    );
}

#[tokio::test]
async fn streams_become_openai_chunks_with_usage_only_when_asked() {
    let (up, gw) = setup().await;
    let via = Via::Unix(gw.unix.clone());
    let reply = post(&via, "/v1/chat/completions", &ask("chat", true)).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("content-type"), Some("text/event-stream"));
    let events = events(&reply.text());
    assert_eq!(events[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(events[0]["object"], "chat.completion.chunk");
    let text: String = events
        .iter()
        .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "The");
    assert_eq!(
        events[events.len() - 2]["choices"][0]["finish_reason"],
        "stop"
    );
    assert_eq!(events.last(), Some(&json!("[DONE]")));
    assert!(!reply.text().contains("prompt_tokens"), "{}", reply.text());
    assert_eq!(up.last().json()["stream"], true);

    let mut asking = ask("chat", true);
    asking["stream_options"] = json!({"include_usage": true});
    let reply = post(&via, "/v1/chat/completions", &asking).await;
    let events = self::events(&reply.text());
    let usage = &events[events.len() - 2];
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["prompt_tokens"], 26);
    assert_eq!(usage["usage"]["completion_tokens"], 282);
    // Both streams were accounted with Ollama's counts, asked for or not.
    let metrics = get(&via, "/metrics").await.text();
    assert!(
        metrics.contains(r#"model="chat",provider="local",type="input"} 52"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn tool_calls_round_trip() {
    let (up, gw) = setup().await;
    let tools = fixtures::json("ollama/chat_request_tools.json")["tools"].clone();
    let mut request = ask("chat", false);
    request["tools"] = tools.clone();
    request["messages"] = json!([
        {"role": "user", "content": [
            {"type": "text", "text": "Weather where this photo was taken?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        ]},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "call_a", "type": "function",
            "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "call_a", "content": "rain"},
    ]);
    let reply = post(&Via::Tcp(gw.tcp), "/v1/chat/completions", &request).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let choice = &reply.json()["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["content"], Value::Null);
    let call = &choice["message"]["tool_calls"][0];
    assert!(call["id"].as_str().unwrap().starts_with("call_"), "{call}");
    assert_eq!(call["function"]["name"], "get_weather");
    assert_eq!(call["function"]["arguments"], r#"{"city":"Tokyo"}"#);
    let sent = up.last().json();
    assert_eq!(sent["tools"], tools);
    assert_eq!(sent["messages"][0]["images"], json!(["iVBORw0KGgo="]));
    assert_eq!(
        sent["messages"][1]["tool_calls"][0]["function"]["arguments"],
        json!({"city": "Paris"})
    );
    assert_eq!(
        sent["messages"][2],
        json!({"role": "tool", "content": "rain", "tool_name": "get_weather"})
    );
}

#[tokio::test]
async fn embeddings_in_float_and_base64() {
    let (up, gw) = setup().await;
    let via = Via::Tcp(gw.tcp);
    let input = json!(["Why is the sky blue?", "Why is the grass green?"]);
    let reply = post(
        &via,
        "/v1/embeddings",
        &json!({"model": "all-minilm", "input": input, "dimensions": 10}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["object"], "list");
    assert_eq!(body["data"][1]["index"], 1);
    assert_eq!(body["data"][0]["embedding"][0], 0.010_071_029);
    assert_eq!(body["data"][1]["embedding"].as_array().unwrap().len(), 10);
    assert_eq!(
        body["usage"],
        json!({"prompt_tokens": 8, "total_tokens": 8})
    );
    let seen = up.last();
    assert_eq!(seen.path, "/api/embed");
    assert_eq!(
        seen.json(),
        json!({"model": "all-minilm", "input": input, "dimensions": 10})
    );

    let reply = post(
        &via,
        "/v1/embeddings",
        &json!({"model": "all-minilm", "input": "one", "encoding_format": "base64"}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    // 10 float32 values are 40 bytes: 56 base64 characters.
    assert_eq!(
        reply.json()["data"][0]["embedding"].as_str().unwrap().len(),
        56
    );
    assert_eq!(up.last().json()["input"], json!(["one"]));
}

#[tokio::test]
async fn an_unknown_model_stays_404() {
    let (_up, gw) = setup().await;
    for stream in [false, true] {
        let reply = post(
            &Via::Tcp(gw.tcp),
            "/v1/chat/completions",
            &ask("llama9", stream),
        )
        .await;
        assert_eq!(reply.status, 404, "{}", reply.text());
        let error = &reply.json()["error"];
        assert_eq!(error["code"], "model_not_found");
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("try pulling it first")
        );
    }
}

#[tokio::test]
async fn an_error_line_mid_stream_is_an_in_band_error() {
    let (_up, gw) = setup().await;
    let reply = post(
        &Via::Tcp(gw.tcp),
        "/v1/chat/completions",
        &ask("broken", true),
    )
    .await;
    assert_eq!(reply.status, 200);
    let events = events(&reply.text());
    assert_eq!(events.last(), Some(&json!("[DONE]")), "{}", reply.text());
    let error = &events[events.len() - 2]["error"];
    assert_eq!(
        error["message"],
        "an error was encountered while running the model"
    );
    assert!(
        events
            .iter()
            .all(|e| e["choices"][0]["finish_reason"].is_null())
    );
}

#[tokio::test]
async fn remote_image_urls_are_refused_before_the_upstream() {
    let (up, gw) = setup().await;
    let mut request = ask("chat", false);
    request["messages"] = json!([{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]);
    let reply = post(&Via::Tcp(gw.tcp), "/v1/chat/completions", &request).await;
    assert_eq!(reply.status, 400, "{}", reply.text());
    let message = reply.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("`local` (Ollama)"), "{message}");
    assert_eq!(up.count(), 0);
}

#[tokio::test]
async fn a_key_and_a_unix_socket_upstream() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("ollama.sock");
    let up = Upstream::start_unix(&socket, ollama).await;
    let provider = format!(
        "  - name: local\n    type: ollama\n    unix_socket: {}\n    api_key: proxy-key\n",
        socket.display()
    );
    let gw = Gateway::start(&config(&provider)).await;
    let reply = post(
        &Via::Tcp(gw.tcp),
        "/v1/chat/completions",
        &ask("chat", false),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let seen = up.last();
    assert_eq!(seen.path, "/api/chat");
    assert_eq!(seen.header("authorization"), Some("Bearer proxy-key"));
}
