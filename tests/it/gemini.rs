//! The Gemini adapter end to end: the real gateway in front of a mock Gemini API that enforces
//! Gemini's rules (paths, `x-goog-api-key` and never `?key=`, `user`/`model` turns that
//! alternate, the system prompt in `systemInstruction`, …) and answers with the reference
//! fixtures: streams with CRLF line endings and no `[DONE]`.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::client::{Via, get, post, sse_data};
use crate::common::upstream::{Canned, Recorded};
use crate::common::{Gateway, Upstream};

pub(crate) const KEY: &str = "AIza-test-gemini-key-0123";
const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/reference/gemini"
);
const SYSTEM: &str = "You are a terse weather bot.";

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap()
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_str(&fixture(name)).unwrap()
}

/// The fixture stream, one SSE event per chunk, CRLF kept.
fn fixture_events() -> Vec<String> {
    fixture("stream_generate_content.sse")
        .split_inclusive("\r\n\r\n")
        .map(str::to_owned)
        .collect()
}

/// What the mock was asked for.
enum Call {
    Generate,
    Stream,
    Embed,
}

/// Checks a request the way Gemini would; `Err` holds Gemini's complaint.
fn gemini_rules(r: &Recorded) -> Result<Call, String> {
    let (path, query) = r.path.split_once('?').unwrap_or((&r.path, ""));
    if query.split('&').any(|kv| kv.starts_with("key=")) {
        return Err("the API key must not be in the URL".into());
    }
    if r.header("x-goog-api-key") != Some(KEY) {
        return Err("API key not valid: x-goog-api-key is missing or wrong".into());
    }
    if r.method != "POST" || r.header("authorization").is_some() {
        return Err("expected a POST without an authorization header".into());
    }
    let rest = path
        .strip_prefix("/v1beta/models/")
        .ok_or_else(|| format!("unknown path {path}"))?;
    let (model, method) = rest
        .split_once(':')
        .ok_or_else(|| format!("no method in {path}"))?;
    let body = r.json();
    match (method, query) {
        ("generateContent", "") => check_generate(&body).map(|()| Call::Generate),
        ("streamGenerateContent", "alt=sse") => check_generate(&body).map(|()| Call::Stream),
        ("batchEmbedContents", "") => check_embed(model, &body).map(|()| Call::Embed),
        _ => Err(format!("unknown method {method}?{query}")),
    }
}

fn non_empty<'a>(v: &'a Value, what: &str) -> Result<&'a Vec<Value>, String> {
    v.as_array()
        .filter(|a| !a.is_empty())
        .ok_or_else(|| format!("{what} must be a non-empty list"))
}

fn check_generate(body: &Value) -> Result<(), String> {
    for key in ["model", "messages", "stream", "max_tokens", "tool_choice"] {
        if body.get(key).is_some() {
            return Err(format!(
                "Invalid JSON payload received. Unknown name \"{key}\""
            ));
        }
    }
    // Every conversation these tests send has a system message.
    let system = non_empty(
        &body["systemInstruction"]["parts"],
        "systemInstruction.parts",
    )?;
    let system: Vec<&str> = system.iter().filter_map(|p| p["text"].as_str()).collect();
    let mut previous = "";
    for (i, content) in non_empty(&body["contents"], "contents")?.iter().enumerate() {
        let role = content["role"].as_str().unwrap_or("");
        if role != "user" && role != "model" {
            return Err(format!("contents[{i}].role '{role}' must be user or model"));
        }
        if role == previous {
            return Err(format!(
                "contents[{i}]: user and model turns must alternate"
            ));
        }
        previous = role;
        for (j, part) in non_empty(&content["parts"], "parts")?.iter().enumerate() {
            let at = format!("contents[{i}].parts[{j}]");
            let text = part.get("text").map(|t| t.as_str().unwrap_or(""));
            if text.is_some_and(|t| t.is_empty() || system.contains(&t)) {
                return Err(format!("{at}: empty text, or system text in contents"));
            }
            let response = part.get("functionResponse");
            if response.is_some_and(|r| !r["response"].is_object() || !r["name"].is_string()) {
                return Err(format!("{at}: functionResponse needs a name and an object"));
            }
            if part
                .get("functionCall")
                .is_some_and(|c| !c["args"].is_object())
            {
                return Err(format!("{at}: functionCall.args must be an object"));
            }
        }
    }
    Ok(())
}

fn check_embed(model: &str, body: &Value) -> Result<(), String> {
    for request in non_empty(&body["requests"], "requests")? {
        if request["model"] != format!("models/{model}") {
            return Err(format!("requests[].model must be models/{model}"));
        }
        non_empty(&request["content"]["parts"], "content.parts")?;
    }
    Ok(())
}

/// The last text the user sent: it picks the scenario.
fn last_user_text(body: &Value) -> String {
    body["contents"]
        .as_array()
        .and_then(|c| c.last())
        .and_then(|c| c["parts"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|p| p["text"].as_str())
        .collect()
}

/// The mock Gemini API.
pub(crate) fn mock_gemini(r: &Recorded) -> Canned {
    let call = match gemini_rules(r) {
        Ok(call) => call,
        Err(message) => {
            let body = json!({"error": {"code": 400, "message": format!("mock Gemini: {message}"), "status": "INVALID_ARGUMENT"}});
            return Canned::Json(400, body);
        }
    };
    let body = r.json();
    let scenario = last_user_text(&body);
    match call {
        Call::Embed => Canned::Json(200, fixture_json("batch_embed_contents_response.json")),
        Call::Stream if scenario == "break" => {
            let mut events = fixture_events();
            events.truncate(1);
            events.push("data: {\"error\":{\"code\":503,\"message\":\"The model is overloaded.\",\"status\":\"UNAVAILABLE\"}}\r\n\r\n".into());
            Canned::Sse(events, Duration::ZERO)
        }
        Call::Stream => Canned::Sse(fixture_events(), Duration::from_millis(5)),
        Call::Generate => match scenario.as_str() {
            "quota" => Canned::Json(429, fixture_json("error_429_resource_exhausted.json")),
            "badkey" => Canned::Json(400, fixture_json("error_400_api_key_invalid.json")),
            _ if body["tools"].is_array() => Canned::Json(
                200,
                fixture_json("generate_content_response_function_call.json"),
            ),
            _ => Canned::Json(200, fixture_json("generate_content_response_text.json")),
        },
    }
}

async fn setup() -> (Upstream, Gateway) {
    let up = Upstream::start(mock_gemini).await;
    let config = format!(
        "providers:\n  - name: g\n    type: gemini\n    api_key: {KEY}\n    base_url: http://{}\n    models: [gemini-2.5-flash, gemini-embedding-001]\nmodels:\n  - name: gemini-fast\n    deployments:\n      - provider: g\n        model: gemini-2.5-flash\n",
        up.addr
    );
    let gw = Gateway::start(&config).await;
    (up, gw)
}

fn chat(text: &str, stream: bool) -> Value {
    json!({"model": "gemini-fast", "stream": stream, "max_tokens": 64, "messages": [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": text}
    ]})
}

#[tokio::test]
async fn the_mock_rejects_what_gemini_rejects() {
    let up = Upstream::start(mock_gemini).await;
    let via = Via::Tcp(up.addr);
    let good = json!({"systemInstruction": {"parts": [{"text": "s"}]}, "contents": [{"role": "user", "parts": [{"text": "hi"}]}]});
    let mut system_role = good.clone();
    system_role["contents"][0]["role"] = json!("system");
    let mut repeated = good.clone();
    repeated["contents"] = json!([{"role": "user", "parts": [{"text": "a"}]}, {"role": "user", "parts": [{"text": "b"}]}]);
    let mut no_system = good.clone();
    no_system["systemInstruction"] = Value::Null;
    let path = "/v1beta/models/m:generateContent";
    for (path, body) in [
        (path, system_role),
        (path, repeated),
        (path, no_system),
        ("/v1beta/models/m:generateContent?key=x", good.clone()),
        ("/v1beta/models/m:streamGenerateContent", good),
    ] {
        let mut request = crate::common::client::json_request("POST", path, &body);
        request
            .headers_mut()
            .insert("x-goog-api-key", KEY.parse().unwrap());
        let reply = crate::common::client::call(&via, request).await;
        assert_eq!(reply.status, 400, "{path} {body}");
        assert!(reply.text().contains("mock Gemini"), "{}", reply.text());
    }
}

#[tokio::test]
async fn chat_is_translated_both_ways() {
    let (up, gw) = setup().await;
    let reply = post(
        &Via::Tcp(gw.tcp),
        "/v1/chat/completions",
        &chat("hello", false),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["id"], "resp-test-0001");
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "gemini-2.5-flash");
    let choice = &body["choices"][0];
    assert_eq!(
        choice["message"]["content"],
        "It is 21 °C and clear in Boston."
    );
    assert_eq!(choice["finish_reason"], "stop");
    assert_eq!(body["usage"]["prompt_tokens"], 42);
    assert_eq!(body["usage"]["completion_tokens"], 107);
    assert_eq!(
        body["usage"]["completion_tokens_details"]["reasoning_tokens"],
        96
    );
    let seen = up.last();
    assert_eq!(seen.path, "/v1beta/models/gemini-2.5-flash:generateContent");
    let sent = seen.json();
    assert_eq!(
        sent["systemInstruction"],
        json!({"parts": [{"text": SYSTEM}]})
    );
    assert_eq!(
        sent["contents"],
        json!([{"role": "user", "parts": [{"text": "hello"}]}])
    );
    assert_eq!(sent["generationConfig"], json!({"maxOutputTokens": 64}));
    assert!(!gw.log_text().contains(KEY));
}

fn chunks(text: &str) -> Vec<Value> {
    sse_data(text)
        .iter()
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

#[tokio::test]
async fn streams_become_openai_chunks_with_usage_only_when_asked() {
    let (up, gw) = setup().await;
    let via = Via::Tcp(gw.tcp);
    for include_usage in [false, true] {
        let mut body = chat("hello", true);
        if include_usage {
            body["stream_options"] = json!({"include_usage": true});
        }
        let reply = post(&via, "/v1/chat/completions", &body).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(reply.header("content-type"), Some("text/event-stream"));
        assert_eq!(
            up.last().path,
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        );
        let text = reply.text();
        assert_eq!(sse_data(&text).last().map(String::as_str), Some("[DONE]"));
        let chunks = chunks(&text);
        assert!(
            chunks
                .iter()
                .all(|c| c["object"] == "chat.completion.chunk")
        );
        assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
        let content: String = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
            .collect();
        assert_eq!(content, "It is 21 °C and clear in Boston.");
        let finish: Vec<&Value> = chunks
            .iter()
            .map(|c| &c["choices"][0]["finish_reason"])
            .filter(|f| !f.is_null())
            .collect();
        assert_eq!(finish, [&json!("stop")]);
        let usage: Vec<&Value> = chunks.iter().filter_map(|c| c.get("usage")).collect();
        if include_usage {
            assert_eq!(usage.len(), 1, "{text}");
            assert_eq!(usage[0]["prompt_tokens"], 42);
            assert_eq!(usage[0]["completion_tokens"], 11);
            assert_eq!(chunks.last().unwrap()["choices"], json!([]));
        } else {
            assert!(usage.is_empty(), "usage leaked: {text}");
        }
    }
    // Both streams were accounted with Gemini's usage, hidden or not.
    let metrics = get(&via, "/metrics").await.text();
    for needle in [
        r#"llm_token_usage_total{team="none",model="gemini-fast",provider="g",type="input"} 84"#,
        r#"llm_token_usage_total{team="none",model="gemini-fast",provider="g",type="output"} 22"#,
    ] {
        assert!(metrics.contains(needle), "missing {needle} in\n{metrics}");
    }
}

#[tokio::test]
async fn tool_calls_round_trip_with_their_thought_signature() {
    let (up, gw) = setup().await;
    let via = Via::Tcp(gw.tcp);
    let tools = json!([{"type": "function", "function": {"name": "get_current_weather", "strict": true,
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"], "additionalProperties": false}}}]);
    let mut first = chat("Weather in Paris and Boston?", false);
    first["tools"] = tools.clone();
    first["tool_choice"] = json!("required");
    let reply = post(&via, "/v1/chat/completions", &first).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let sent = up.last().json();
    assert_eq!(
        sent["toolConfig"],
        json!({"functionCallingConfig": {"mode": "ANY"}})
    );
    assert!(!sent["tools"].to_string().contains("additionalProperties"));
    let choice = &reply.json()["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    let calls = choice["message"]["tool_calls"].as_array().unwrap().clone();
    assert_eq!(calls.len(), 2);
    let id = calls[0]["id"].as_str().unwrap();
    assert!(id.ends_with("__thought__CiQB0e2Kb-opaque"), "{id}");
    let arguments: Value =
        serde_json::from_str(calls[1]["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(arguments, json!({"location": "Boston, MA"}));

    // The client answers both calls; Gemini gets the signature back and names in the results.
    let mut second = first.clone();
    let messages = second["messages"].as_array_mut().unwrap();
    messages.push(json!({"role": "assistant", "content": null, "tool_calls": calls}));
    messages.push(json!({"role": "tool", "tool_call_id": calls[0]["id"], "content": "18C"}));
    messages.push(
        json!({"role": "tool", "tool_call_id": calls[1]["id"], "content": "{\"temp_c\": 21}"}),
    );
    let reply = post(&via, "/v1/chat/completions", &second).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let contents = up.last().json()["contents"].clone();
    assert_eq!(contents[1]["role"], "model");
    assert_eq!(
        contents[1]["parts"][0]["thoughtSignature"],
        "CiQB0e2Kb-opaque"
    );
    assert_eq!(
        contents[2],
        json!({"role": "user", "parts": [
            {"functionResponse": {"name": "get_current_weather", "response": {"content": "18C"}}},
            {"functionResponse": {"name": "get_current_weather", "response": {"temp_c": 21}}}
        ]})
    );
}

#[tokio::test]
async fn embeddings_use_batch_embed_contents() {
    let (up, gw) = setup().await;
    let via = Via::Tcp(gw.tcp);
    let body = json!({"model": "gemini-embedding-001", "input": ["first document", "second document"], "dimensions": 256});
    let reply = post(&via, "/v1/embeddings", &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let seen = up.last();
    assert_eq!(
        seen.path,
        "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    );
    assert_eq!(seen.json()["requests"][1]["outputDimensionality"], 256);
    let answer = reply.json();
    assert_eq!(answer["object"], "list");
    assert_eq!(answer["data"][1]["index"], 1);
    assert_eq!(
        answer["data"][1]["embedding"],
        json!([0.0321, -0.0654, 0.0987])
    );
    assert_eq!(answer["usage"]["prompt_tokens"], 8);

    let count = up.count();
    let tokens = json!({"model": "gemini-embedding-001", "input": [[1, 2, 3]]});
    let reply = post(&via, "/v1/embeddings", &tokens).await;
    assert_eq!(reply.status, 400);
    assert!(
        reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("token arrays")
    );
    assert_eq!(
        up.count(),
        count,
        "a token-array request must not reach Gemini"
    );
}

#[tokio::test]
async fn upstream_errors_keep_status_and_retry_delay_and_hide_key_trouble() {
    let (_up, gw) = setup().await;
    let via = Via::Tcp(gw.tcp);
    let reply = post(&via, "/v1/chat/completions", &chat("quota", false)).await;
    assert_eq!(reply.status, 429, "{}", reply.text());
    assert_eq!(reply.header("retry-after"), Some("17"));
    let error = &reply.json()["error"];
    assert_eq!(error["code"], "rate_limit_exceeded");
    assert_eq!(error["type"], "rate_limit_error");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("exceeded your current quota")
    );

    let reply = post(&via, "/v1/chat/completions", &chat("badkey", false)).await;
    assert_eq!(reply.status, 502, "{}", reply.text());
    assert_eq!(reply.json()["error"]["code"], "upstream_auth_failed");
    assert!(
        !reply.text().contains("API key not valid"),
        "{}",
        reply.text()
    );
}

#[tokio::test]
async fn a_mid_stream_error_is_an_in_band_error_then_done() {
    let (_up, gw) = setup().await;
    let reply = post(
        &Via::Tcp(gw.tcp),
        "/v1/chat/completions",
        &chat("break", true),
    )
    .await;
    assert_eq!(reply.status, 200);
    let data = sse_data(&reply.text());
    assert_eq!(
        data.last().map(String::as_str),
        Some("[DONE]"),
        "{}",
        reply.text()
    );
    let error: Value = serde_json::from_str(&data[data.len() - 2]).unwrap();
    assert_eq!(error["error"]["code"], "unavailable");
    assert_eq!(error["error"]["message"], "The model is overloaded.");
    let text: String = chunks(&reply.text())
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "It is 21 ");
}
