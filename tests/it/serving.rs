//! Chat, streaming, embeddings and models through the gateway, over both listeners.

use std::time::Duration;

use serde_json::json;

use crate::common::client::{self, Via, get, post, sse_data};
use crate::common::gateway::Options;
use crate::common::upstream::{self, Canned};
use crate::common::{Gateway, Upstream, chat_body};

const UPSTREAM_KEY: &str = "sk-upstream-secret-1234";

fn openai_provider(up: &Upstream) -> String {
    format!(
        "providers:\n  - name: up\n    type: openai\n    api_key: {UPSTREAM_KEY}\n    base_url: {}\n    models: [gpt-4o, text-embedding-3-small]\nmodels:\n  - name: alias\n    deployments:\n      - provider: up\n        model: real-model\n",
        up.base_url()
    )
}

async fn setup() -> (Upstream, Gateway) {
    let up = Upstream::start(standard_static).await;
    let gw = Gateway::start(&openai_provider(&up)).await;
    (up, gw)
}

fn standard_static(r: &upstream::Recorded) -> Canned {
    if r.path.ends_with("/embeddings") {
        return Canned::Json(200, upstream::embeddings("text-embedding-3-small", 2));
    }
    if r.json()["stream"] == true {
        let include_usage = r.json()["stream_options"]["include_usage"] == true;
        return Canned::Sse(
            upstream::chat_stream(&["Hel", "lo"], include_usage.then_some((11, 2))),
            Duration::ZERO,
        );
    }
    Canned::Json(200, upstream::chat_completion("real", "Hello", 11, 2))
}

#[tokio::test]
async fn chat_passes_through_over_both_listeners_with_only_model_replaced() {
    let (up, gw) = setup().await;
    for via in [Via::Tcp(gw.tcp), Via::Unix(gw.unix.clone())] {
        let mut body = chat_body("alias", false);
        body["x_vendor_extension"] = json!({"keep": [1, 2, 3]});
        let mut request = client::json_request("POST", "/v1/chat/completions", &body);
        request
            .headers_mut()
            .insert("authorization", "Bearer client-own-key".parse().unwrap());
        let reply = client::call(&via, request).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(reply.json()["choices"][0]["message"]["content"], "Hello");
        assert!(
            reply
                .header("x-request-id")
                .is_some_and(|id| id.starts_with("req_"))
        );
        let seen = up.last();
        assert_eq!(seen.path, "/v1/chat/completions");
        assert_eq!(
            seen.header("authorization"),
            Some(format!("Bearer {UPSTREAM_KEY}").as_str())
        );
        let sent = seen.json();
        assert_eq!(sent["model"], "real-model");
        assert_eq!(sent["x_vendor_extension"], json!({"keep": [1, 2, 3]}));
        assert_eq!(sent["messages"], body["messages"]);
    }
}

#[tokio::test]
async fn routes_work_without_the_v1_prefix() {
    let (_up, gw) = setup().await;
    let via = Via::Tcp(gw.tcp);
    assert_eq!(
        post(&via, "/chat/completions", &chat_body("gpt-4o", false))
            .await
            .status,
        200
    );
    assert_eq!(
        post(
            &via,
            "/embeddings",
            &json!({"model": "text-embedding-3-small", "input": "x"})
        )
        .await
        .status,
        200
    );
    let models = get(&via, "/models").await.json();
    assert_eq!(models["object"], "list");
}

#[tokio::test]
async fn streams_forward_chunks_and_hide_the_usage_chunk_the_gateway_asked_for() {
    let (up, gw) = setup().await;
    for via in [Via::Tcp(gw.tcp), Via::Unix(gw.unix.clone())] {
        let reply = post(&via, "/v1/chat/completions", &chat_body("gpt-4o", true)).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("content-type"), Some("text/event-stream"));
        let data = sse_data(&reply.text());
        assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
        assert!(
            !reply.text().contains("prompt_tokens"),
            "usage chunk leaked: {}",
            reply.text()
        );
        let content: String = data
            .iter()
            .filter_map(|d| serde_json::from_str::<serde_json::Value>(d).ok())
            .filter_map(|v| {
                v["choices"][0]["delta"]["content"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect();
        assert_eq!(content, "Hello");
        assert_eq!(
            up.last().json()["stream_options"],
            json!({"include_usage": true})
        );
    }
    // A client that asked for usage gets it.
    let mut body = chat_body("gpt-4o", true);
    body["stream_options"] = json!({"include_usage": true});
    let reply = post(&Via::Tcp(gw.tcp), "/v1/chat/completions", &body).await;
    assert!(reply.text().contains("\"prompt_tokens\":11"));
}

#[tokio::test]
async fn stream_bytes_arrive_as_the_upstream_sends_them() {
    let up = Upstream::start(|_| {
        Canned::Sse(
            upstream::chat_stream(&["a", "b", "c"], None),
            Duration::from_secs(1),
        )
    })
    .await;
    let gw = Gateway::start(&openai_provider(&up)).await;
    let response = client::send(
        &Via::Unix(gw.unix.clone()),
        client::json_request("POST", "/v1/chat/completions", &chat_body("gpt-4o", true)),
        false,
    )
    .await;
    let mut body = response.into_body();
    let started = std::time::Instant::now();
    let first = client::next_frame(&mut body).await.unwrap();
    assert!(String::from_utf8_lossy(&first).contains("assistant"));
    // The whole stream takes > 5 s; the first chunk must not wait for it.
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "first chunk took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn embeddings_and_models() {
    let (up, gw) = setup().await;
    for via in [Via::Tcp(gw.tcp), Via::Unix(gw.unix.clone())] {
        let reply = post(
            &via,
            "/v1/embeddings",
            &json!({"model": "text-embedding-3-small", "input": ["a", "b"]}),
        )
        .await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.json()["data"].as_array().unwrap().len(), 2);
        assert_eq!(up.last().path, "/v1/embeddings");
        let models = get(&via, "/v1/models").await.json();
        let ids: Vec<_> = models["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids, ["alias", "gpt-4o", "text-embedding-3-small"]);
        let one = get(&via, "/v1/models/alias").await;
        assert_eq!(one.json()["owned_by"], "up");
        let missing = get(&via, "/v1/models/nope").await;
        assert_eq!(missing.status, 404);
        assert_eq!(missing.json()["error"]["code"], "model_not_found");
    }
}

#[tokio::test]
async fn h2c_works_on_both_listeners() {
    let (_up, gw) = setup().await;
    for via in [Via::Tcp(gw.tcp), Via::Unix(gw.unix.clone())] {
        let request =
            client::json_request("POST", "/v1/chat/completions", &chat_body("gpt-4o", false));
        let response = client::send(&via, request, true).await;
        assert_eq!(response.version(), http::Version::HTTP_2);
        assert_eq!(response.status(), 200);
    }
}

#[tokio::test]
async fn curl_over_the_socket() {
    let (_up, gw) = setup().await;
    // tokio's Command: a blocking wait would stall this test's runtime, and the upstream with it.
    let out = tokio::process::Command::new("curl")
        .args(["-sS", "--unix-socket"])
        .arg(&gw.unix)
        .args([
            "http://localhost/v1/chat/completions",
            "-H",
            "content-type: application/json",
            "-d",
        ])
        .arg(chat_body("gpt-4o", false).to_string())
        .output()
        .await
        .expect("curl is installed by `make test`");
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "Hello");
}

#[tokio::test]
async fn metrics_count_requests_and_tokens() {
    let (_up, gw) = setup().await;
    let via = Via::Tcp(gw.tcp);
    post(&via, "/v1/chat/completions", &chat_body("gpt-4o", false)).await;
    post(&via, "/v1/chat/completions", &chat_body("gpt-4o", true)).await;
    post(
        &via,
        "/v1/chat/completions",
        &chat_body("unknown-model", false),
    )
    .await;
    let metrics = get(&via, "/metrics").await.text();
    for needle in [
        r#"llm_requests_total{model="gpt-4o",provider="up",team="none",status="200"} 2"#,
        r#"llm_requests_total{model="other",provider="none",team="none",status="404"} 1"#,
        r#"llm_token_usage_total{team="none",model="gpt-4o",provider="up",type="input"} 22"#,
        r#"llm_token_usage_total{team="none",model="gpt-4o",provider="up",type="output"} 4"#,
        r#"llm_request_latency_seconds_bucket{model="gpt-4o",provider="up",stream="true""#,
        r#"llm_time_to_first_token_seconds_bucket{model="gpt-4o",provider="up""#,
    ] {
        assert!(metrics.contains(needle), "missing {needle} in\n{metrics}");
    }
}

#[tokio::test]
async fn a_provider_reached_over_a_unix_socket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vllm.sock");
    let up = Upstream::start_unix(&path, standard_static).await;
    let config = format!(
        "providers:\n  - name: local\n    type: vllm\n    unix_socket: {}\n    base_url: http://ignored/v1\n    models: [llama]\n",
        path.display()
    );
    let gw = Gateway::start(&config).await;
    let reply = post(
        &Via::Unix(gw.unix.clone()),
        "/v1/chat/completions",
        &chat_body("llama", false),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(up.last().path, "/v1/chat/completions");
}

#[tokio::test]
async fn the_mock_provider_answers_without_any_upstream() {
    let gw = Gateway::start("providers:\n  - name: mock\n    type: mock\n    models: [m]\n").await;
    let reply = post(
        &Via::Unix(gw.unix.clone()),
        "/v1/chat/completions",
        &chat_body("m", true),
    )
    .await;
    assert_eq!(
        sse_data(&reply.text()).last().map(String::as_str),
        Some("[DONE]")
    );
}

#[tokio::test]
async fn env_only_mode_passes_any_model_to_openai() {
    let up = Upstream::start(standard_static).await;
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("env.sock");
    let child = std::process::Command::new(crate::common::gateway::BIN)
        .env_remove("LLM_SIDECAR_CONFIG")
        .env("OPENAI_API_KEY", UPSTREAM_KEY)
        .env("OPENAI_BASE_URL", up.base_url())
        .env("LLM_SIDECAR_TCP", "127.0.0.1:0")
        .env("LLM_SIDECAR_SOCKET", &sock)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut gw = Gateway::attach(child, dir, sock.clone());
    gw.wait_log("llm-sidecar ready").await;
    let reply = post(
        &Via::Unix(sock),
        "/v1/chat/completions",
        &chat_body("any-model-name", false),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(up.last().json()["model"], "any-model-name");
    assert_eq!(
        up.last().header("authorization"),
        Some(format!("Bearer {UPSTREAM_KEY}").as_str())
    );
}

#[tokio::test]
async fn probes_move_to_the_admin_listener_when_one_is_set() {
    let up = Upstream::start(standard_static).await;
    let gw = Gateway::start_with(
        &openai_provider(&up),
        Options {
            admin: true,
            ..Default::default()
        },
    )
    .await;
    let admin = Via::Tcp(gw.admin.unwrap());
    assert_eq!(get(&admin, "/health/live").await.status, 200);
    assert_eq!(get(&admin, "/health/ready").await.status, 200);
    assert!(
        get(&admin, "/metrics")
            .await
            .text()
            .contains("llm_lifecycle_phase 1")
    );
    assert_eq!(get(&Via::Tcp(gw.tcp), "/health/ready").await.status, 404);
    assert_eq!(get(&admin, "/v1/models").await.status, 404);
}
