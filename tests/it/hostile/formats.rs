//! Finding 8, the smaller ones: every rejection in the client's own format, garbage upstream
//! streams ending with the format's error event, and a config watcher that reloads for the
//! config and its secrets only.

use std::time::Duration;

use super::{messages_body, post, send};
use crate::common::client::{Via, get};
use crate::common::gateway::{Options, server_yaml};
use crate::common::upstream::{self, Canned};
use crate::common::{Gateway, Upstream, WAIT, chat_body};

#[tokio::test]
async fn rejections_answer_in_the_routes_format() {
    let gw = Gateway::start("providers:\n  - {name: m, type: mock, models: [gpt-4o]}\n").await;
    let via = Via::Unix(gw.unix.clone());
    for path in ["/v1/models/%FF", "/models/%C3%28", "/v1/models/no-such"] {
        let reply = get(&via, path).await;
        assert_eq!(reply.status, 404, "{path}: {}", reply.text());
        assert_eq!(reply.json()["error"]["code"], "model_not_found", "{path}");
    }
    let model = get(&via, "/v1/models/gpt-4o").await;
    assert_eq!(model.json()["id"], "gpt-4o");
    // Bodies that are not JSON objects: each API's own error shape.
    for (path, anthropic) in [("/v1/chat/completions", false), ("/v1/messages", true)] {
        let reply = send(&via, "POST", path, b"\xff\xfe".to_vec(), None).await;
        assert_eq!(reply.status, 400, "{path}");
        let body = reply.json();
        if anthropic {
            assert_eq!(body["type"], "error", "{body}");
        } else {
            assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
        }
    }
}

#[tokio::test]
async fn a_garbage_upstream_stream_ends_an_anthropic_stream_with_its_error_event() {
    let chunk = upstream::chat_stream(&["Hello"], None).remove(0);
    let up = Upstream::start(|_| Canned::Json(500, serde_json::json!({}))).await;
    let config = format!(
        "providers:\n  - {{name: up, base_url: '{}', models: [claude-x]}}\n",
        up.base_url()
    );
    let gw = Gateway::start(&config).await;
    let via = Via::Unix(gw.unix.clone());
    let mut body = messages_body("claude-x", "hi");
    body["stream"] = serde_json::json!(true);
    let garbage = [
        "data: garbage\n\n".to_owned(),
        "data: [DONE]\n\n".to_owned(),
    ];
    // Garbage after a good first chunk: the stream ends with Anthropic's error event.
    let events: Vec<String> = std::iter::once(chunk).chain(garbage.clone()).collect();
    up.respond(move |_| Canned::Sse(events.clone(), Duration::ZERO));
    let text = post(&via, "/v1/messages", &body, None).await.text();
    assert!(text.contains("event: message_start"), "{text}");
    assert!(
        text.trim_end().ends_with("}") && text.contains("event: error"),
        "{text}"
    );
    assert!(
        !text.contains("end_turn"),
        "a garbage stream became a message: {text}"
    );
    // Garbage from the start: nothing was sent yet, so it is an error response instead.
    up.respond(move |_| Canned::Sse(garbage.to_vec(), Duration::ZERO));
    let reply = post(&via, "/v1/messages", &body, None).await;
    assert_eq!(reply.status, 502, "{}", reply.text());
    assert_eq!(reply.json()["type"], "error");
}

#[tokio::test]
async fn files_beside_the_config_do_not_trigger_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let usage = dir.path().join("usage.jsonl");
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "{}\nproviders:\n  - {{name: m, type: mock, models: [gpt-4o]}}\nreload:\n  debounce: 20ms\nlogging:\n  level: debug\n  usage_file: {}\n",
            server_yaml(dir.path(), &Options::default()),
            usage.display()
        ),
    )
    .unwrap();
    let mut gw = Gateway::start_file(dir, &config, vec![]).await;
    let via = Via::Unix(gw.unix.clone());
    for _ in 0..5 {
        let reply = post(
            &via,
            "/v1/chat/completions",
            &chat_body("gpt-4o", false),
            None,
        )
        .await;
        assert_eq!(reply.status, 200);
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    while std::fs::read_to_string(&usage)
        .unwrap_or_default()
        .lines()
        .count()
        < 5
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "usage records never written"
        );
        tokio::task::yield_now().await;
    }
    // Each write to the usage file was an event in the watched directory; none may reload
    // (a reload would log `config unchanged` with this cause within the 20 ms debounce).
    let reloaded = tokio::time::timeout(
        Duration::from_millis(500),
        gw.wait_log("\"cause\":\"file_change\""),
    )
    .await;
    assert!(reloaded.is_err(), "a usage-file write triggered a reload");
    // The config file itself still does.
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("[gpt-4o]", "[gpt-4o, gpt-4o-mini]")).unwrap();
    gw.wait_log("\"generation\":2").await;
}
