//! What operators and finance read: GenAI client metrics equal to the upstream's usage (whole
//! answers, streams, and streams the client abandoned), usage records in the log and the usage
//! file, and the log level changed at runtime.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::client::{self, Via, raw_request};
use crate::common::upstream::{self, Canned, Recorded};
use crate::common::{Gateway, Upstream, chat_body};

/// The value of the metric line starting with `prefix` (labels included), or 0.
fn metric(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

fn genai(series: &str, token_type: &str) -> String {
    format!(
        "gen_ai_client_token_usage_{series}{{gen_ai_operation_name=\"chat\",gen_ai_provider_name=\"openai\",gen_ai_request_model=\"m\",gen_ai_token_type=\"{token_type}\"}}"
    )
}

#[tokio::test]
async fn token_metrics_equal_upstream_usage_for_answers_streams_and_abandoned_streams() {
    let up = Upstream::start(|r: &Recorded| match r.json()["stream"].as_bool() {
        Some(true) if r.json()["messages"][0]["content"] == "slow" => Canned::Sse(
            upstream::chat_stream(&["one ", "two ", "three"], None),
            Duration::from_millis(300),
        ),
        Some(true) => Canned::Sse(
            upstream::chat_stream(&["a", "b"], Some((5, 2))),
            Duration::ZERO,
        ),
        _ => Canned::Json(200, upstream::chat_completion("m", "hi", 7, 3)),
    })
    .await;
    let mut gw = Gateway::start(&format!(
        "providers:\n  - {{name: p, base_url: '{}', models: [m]}}\n",
        up.base_url()
    ))
    .await;
    let via = Via::Unix(gw.unix.clone());
    assert_eq!(
        client::post(&via, "/v1/chat/completions", &chat_body("m", false))
            .await
            .status,
        200
    );
    let streamed = client::post(&via, "/v1/chat/completions", &chat_body("m", true)).await;
    assert!(streamed.text().contains("[DONE]"));
    let metrics = client::get(&via, "/metrics").await.text();
    assert_eq!(metric(&metrics, &genai("sum", "input")), 12.0, "{metrics}");
    assert_eq!(metric(&metrics, &genai("sum", "output")), 5.0);
    assert_eq!(metric(&metrics, &genai("count", "output")), 2.0);
    assert!(metrics.contains("gen_ai_client_operation_duration_seconds_bucket{gen_ai_operation_name=\"chat\",gen_ai_provider_name=\"openai\",gen_ai_request_model=\"m\",le=\"0.01\"}"));
    assert!(metrics.contains("gen_ai_client_operation_time_to_first_chunk_seconds_count"));

    // A client that leaves after the first chunk: the upstream never reported usage, so what
    // was forwarded is estimated and still counted.
    let mut body =
        json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "slow"}]});
    body["stream"] = Value::Bool(true);
    let response = client::send(
        &via,
        raw_request("POST", "/v1/chat/completions", body.to_string().into()),
        false,
    )
    .await;
    let mut stream = response.into_body();
    client::next_frame(&mut stream).await.unwrap();
    drop(stream);
    let line = gw.wait_log("\"outcome\":\"client_closed\"").await;
    let record: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(record["tokens_estimated"], true);
    assert!(record["input_tokens"].as_u64() > Some(0));
    let metrics = client::get(&via, "/metrics").await.text();
    assert_eq!(metric(&metrics, &genai("count", "output")), 3.0);
    assert!(metric(&metrics, &genai("sum", "input")) > 12.0);
}

#[tokio::test]
async fn every_request_leaves_a_usage_record_in_the_log_and_the_usage_file() {
    let up =
        Upstream::start(|_| Canned::Json(200, upstream::chat_completion("m", "hi", 7, 3))).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("usage.jsonl");
    let mut gw = Gateway::start(&format!(
        "providers:\n  - {{name: p, base_url: '{}', models: [m]}}\npricing:\n  m: {{input_per_million: 1000000, output_per_million: 1000000}}\nkeys:\n  - {{name: billing-app, key: sk-billing-0001, team: finance}}\nlogging:\n  usage_file: '{}'\n",
        up.base_url(),
        file.display()
    ))
    .await;
    let body = json!({"model": "m", "user": "jane.doe@example.com", "messages": [{"role": "user", "content": "hi"}]});
    let mut request = raw_request("POST", "/v1/chat/completions", body.to_string().into());
    request
        .headers_mut()
        .insert("authorization", "Bearer sk-billing-0001".parse().unwrap());
    let reply = client::call(&Via::Tcp(gw.tcp), request).await;
    assert_eq!(reply.status, 200);
    let request_id = reply.header("x-request-id").unwrap().to_owned();
    let logged: Value = serde_json::from_str(&gw.wait_log("\"target\":\"usage\"").await).unwrap();
    let expected = [
        ("request_id", json!(request_id)),
        ("key", json!("billing-app")),
        ("team", json!("finance")),
        // An e-mail address as the end user is personal data: masked in the log and the file.
        ("end_user", json!("[email]")),
        ("model", json!("m")),
        ("input_tokens", json!(7)),
        ("output_tokens", json!(3)),
        ("cost_usd", json!(10.0)),
        ("status", json!(200)),
        ("attempts", json!(1)),
    ];
    for (field, value) in &expected {
        assert_eq!(&logged[field], value, "{field} in {logged}");
    }
    assert_eq!(logged["trace_id"].as_str().map(str::len), Some(32));
    // The file gets the same record once the writer drains its queue.
    let deadline = std::time::Instant::now() + crate::common::WAIT;
    let line = loop {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        if let Some(line) = text.lines().next() {
            break line.to_owned();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no usage line written"
        );
        tokio::task::yield_now().await;
    };
    let written: Value = serde_json::from_str(&line).unwrap();
    for (field, value) in &expected {
        assert_eq!(&written[field], value, "{field} in {written}");
    }
    assert!(
        written["timestamp"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
}

#[tokio::test]
async fn the_log_level_changes_at_runtime_for_the_master_key_only() {
    let mut gw = Gateway::start(
        "providers:\n  - {name: mock, type: mock, models: [m]}\nauth:\n  master_key: sk-master-key-1\n",
    )
    .await;
    let via = Via::Tcp(gw.tcp);
    let put = |key: Option<&str>, body: &str| {
        let mut request = raw_request("PUT", "/admin/log-level", body.to_owned().into());
        if let Some(key) = key {
            request
                .headers_mut()
                .insert("authorization", format!("Bearer {key}").parse().unwrap());
        }
        request
    };
    let refused = client::call(&via, put(None, r#"{"level":"debug"}"#)).await;
    assert_eq!(refused.status, 401);
    let bad = client::call(&via, put(Some("sk-master-key-1"), r#"{"level":"loud=="}"#)).await;
    assert_eq!(bad.status, 400, "{}", bad.text());
    let changed = client::call(&via, put(Some("sk-master-key-1"), "warn,llm_sidecar=debug")).await;
    assert_eq!(changed.status, 200, "{}", changed.text());
    let level = changed.json()["level"].as_str().unwrap().to_owned();
    assert!(
        level.contains("llm_sidecar=debug") && level.contains("warn"),
        "{level}"
    );
    gw.wait_log("log level changed").await;
    // The request's own line (info, target `usage`) is now filtered out.
    let mut chat = client::json_request("POST", "/v1/chat/completions", &chat_body("m", false));
    chat.headers_mut()
        .insert("authorization", "Bearer sk-master-key-1".parse().unwrap());
    assert_eq!(client::call(&via, chat).await.status, 200);
    let mut read = raw_request("GET", "/admin/log-level", bytes::Bytes::new());
    read.headers_mut()
        .insert("authorization", "Bearer sk-master-key-1".parse().unwrap());
    assert_eq!(
        client::call(&via, read).await.json()["level"],
        level.as_str()
    );
    // Debug lines of the gateway now appear: a forced reload logs one, after anything the
    // request logged.
    gw.signal("HUP");
    let unchanged = gw.wait_log("config unchanged").await;
    assert!(unchanged.contains("\"level\":\"DEBUG\""), "{unchanged}");
    assert!(
        !gw.log_text().contains("\"message\":\"request finished\""),
        "an info line passed a warn filter"
    );
}
