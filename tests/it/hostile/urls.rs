//! Finding 2: a model name must never steer the upstream URL the gateway calls with its own
//! credentials. With a default provider, the client's name is the deployment: it goes into an
//! Azure or Gemini path only as one checked segment, and a name that cannot be one is a 400
//! naming `model` (never a 500, never a request upstream), on every inbound API.

use serde_json::json;

use super::{assert_anthropic_error, assert_openai_400, messages_body, post, post_form, send};
use crate::common::client::Via;
use crate::common::upstream::{self, Canned};
use crate::common::{Gateway, Upstream, chat_body};

/// The names of the review, each allowed by a key restricted to `cheap*`.
fn hostile_names() -> Vec<String> {
    vec![
        "cheap/../../../admin?x=".to_owned(),
        "cheap?api-version=evil&".to_owned(),
        "cheap#frag".to_owned(),
        "cheap/../../fine_tuning/jobs?".to_owned(),
        "cheap y".to_owned(),
        format!("cheap{}", "m".repeat(300)),
    ]
}

const KEYS: &str = "keys:\n  - {name: cheap, key: sk-cheap, models: ['cheap*']}\n";

/// Sends `model` to every inbound API that reaches the upstream; each answer must be a
/// client error in that API's format.
async fn every_api_refuses(via: &Via, model: &str) {
    let key = Some("sk-cheap");
    let chat = post(via, "/v1/chat/completions", &chat_body(model, false), key).await;
    assert_openai_400(&chat, "model");
    let embed = post(
        via,
        "/v1/embeddings",
        &json!({"model": model, "input": "x"}),
        key,
    )
    .await;
    assert_openai_400(&embed, "model");
    let images = post(
        via,
        "/v1/images/generations",
        &json!({"model": model, "prompt": "x"}),
        key,
    )
    .await;
    assert_openai_400(&images, "model");
    let form = format!(
        "--B\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\n{model}\r\n--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n\r\nRIFF\r\n--B--\r\n"
    );
    let audio = post_form(via, "/v1/audio/transcriptions", form, "sk-cheap").await;
    assert_openai_400(&audio, "model");
    let messages = post(via, "/v1/messages", &messages_body(model, "hi"), key).await;
    assert_anthropic_error(&messages, 400);
    assert!(messages.text().contains("model"), "{}", messages.text());
}

#[tokio::test]
async fn azure_deployments_are_one_checked_segment() {
    let up = Upstream::start(|r| {
        Canned::Json(
            200,
            upstream::chat_completion(r.json()["model"].as_str().unwrap_or("m"), "ok", 1, 1),
        )
    })
    .await;
    let config = format!(
        "providers:\n  - {{name: az, type: azure, base_url: 'http://{}', api_key: sk-azure-secret, api_version: '2024-10-21'}}\nrouting:\n  default_provider: az\n{KEYS}",
        up.addr
    );
    let gw = Gateway::start(&config).await;
    let via = Via::Unix(gw.unix.clone());
    for name in hostile_names() {
        every_api_refuses(&via, &name).await;
    }
    assert_eq!(up.count(), 0, "a hostile name reached the upstream");
    // A real deployment name still goes through, in its place.
    let ok = post(
        &via,
        "/v1/chat/completions",
        &chat_body("cheap-gpt4o", false),
        Some("sk-cheap"),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(
        up.last().path,
        "/openai/deployments/cheap-gpt4o/chat/completions?api-version=2024-10-21"
    );
}

#[tokio::test]
async fn gemini_model_resources_are_checked_segments() {
    let up = Upstream::start(|_| Canned::Json(500, json!({}))).await;
    let config = format!(
        "providers:\n  - {{name: g, type: gemini, base_url: 'http://{}', api_key: sk-gemini-secret}}\nrouting:\n  default_provider: g\n{KEYS}",
        up.addr
    );
    let gw = Gateway::start(&config).await;
    let via = Via::Tcp(gw.tcp);
    for name in hostile_names() {
        let chat = post(
            &via,
            "/v1/chat/completions",
            &chat_body(&name, false),
            Some("sk-cheap"),
        )
        .await;
        assert_openai_400(&chat, "model");
        let embed = post(
            &via,
            "/v1/embeddings",
            &json!({"model": name, "input": "x"}),
            Some("sk-cheap"),
        )
        .await;
        assert_openai_400(&embed, "model");
    }
    assert_eq!(up.count(), 0, "a hostile name reached the upstream");
    // Control characters never get that far: the name itself is refused.
    let body = br#"{"model":"cheap\u0000x","messages":[{"role":"user","content":"x"}]}"#.to_vec();
    let reply = send(&via, "POST", "/v1/chat/completions", body, Some("sk-cheap")).await;
    assert_openai_400(&reply, "model");
}
