//! The OpenAI endpoints passed through untranslated: routed by the body's `model` (JSON or
//! multipart), model rewritten, answers forwarded as sent.

use std::time::Duration;

use bytes::Bytes;
use serde_json::json;

use crate::common::client::{self, Via, get, post};
use crate::common::upstream::{Canned, Recorded};
use crate::common::{Gateway, Upstream};

fn answer(r: &Recorded) -> Canned {
    match r.path.as_str() {
        "/v1/responses" if r.json()["stream"] == true => Canned::Sse(
            vec![
                "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"Hi\"}\n\n".into(),
                "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":7,\"output_tokens\":3,\"total_tokens\":10}}}\n\n".into(),
            ],
            Duration::ZERO,
        ),
        "/v1/responses" => Canned::Json(200, json!({"id": "resp_1", "object": "response", "output": [], "usage": {"input_tokens": 5, "output_tokens": 2, "total_tokens": 7}})),
        "/v1/audio/speech" => Canned::Raw(200, "audio/mpeg", "ID3-fake-mp3-bytes".into()),
        "/v1/audio/transcriptions" => Canned::Json(200, json!({"text": "hello world"})),
        "/v1/images/generations" => Canned::Json(200, json!({"created": 1, "data": [{"url": "https://img"}]})),
        other => Canned::Json(404, json!({"error": {"message": format!("no {other}")}})),
    }
}

async fn setup() -> (Upstream, Gateway) {
    let up = Upstream::start(answer).await;
    let gw = Gateway::start(&format!(
        "providers:\n  - name: oa\n    base_url: {}\n    models: [gpt-4.1, tts-1, dall-e-3]\n  - name: claude\n    type: anthropic\n    base_url: {}\n    models: [claude-x]\nmodels:\n  - name: transcriber\n    deployments: [{{provider: oa, model: whisper-1}}]\n",
        up.base_url(),
        up.base_url()
    ))
    .await;
    (up, gw)
}

#[tokio::test]
async fn responses_api_whole_and_streamed() {
    let (up, gw) = setup().await;
    let via = Via::Unix(gw.unix.clone());
    let reply = post(
        &via,
        "/v1/responses",
        &json!({"model": "gpt-4.1", "input": "hi", "x_extra": 1}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["id"], "resp_1");
    assert_eq!(up.last().json()["x_extra"], 1);

    let reply = post(
        &via,
        "/responses",
        &json!({"model": "gpt-4.1", "input": "hi", "stream": true}),
    )
    .await;
    assert_eq!(reply.header("content-type"), Some("text/event-stream"));
    assert!(
        reply.text().ends_with("\"total_tokens\":10}}}\n\n"),
        "{}",
        reply.text()
    );
    let metrics = get(&via, "/metrics").await.text();
    assert!(
        metrics.contains(
            r#"llm_token_usage_total{team="none",model="gpt-4.1",provider="oa",type="input"} 12"#
        ),
        "{metrics}"
    );
}

#[tokio::test]
async fn multipart_audio_is_routed_by_its_model_field() {
    let (up, gw) = setup().await;
    let boundary = "----llmsidecartest";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\nContent-Type: audio/wav\r\n\r\nRIFF\x00\x01raw\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\ntranscriber\r\n--{boundary}--\r\n"
    );
    let mut request = client::raw_request("POST", "/v1/audio/transcriptions", Bytes::from(body));
    request.headers_mut().insert(
        "content-type",
        format!("multipart/form-data; boundary={boundary}")
            .parse()
            .unwrap(),
    );
    let reply = client::call(&Via::Tcp(gw.tcp), request).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["text"], "hello world");
    let seen = up.last();
    let sent = String::from_utf8_lossy(&seen.body);
    assert!(
        sent.contains("name=\"model\"\r\n\r\nwhisper-1\r\n"),
        "{sent}"
    );
    assert!(sent.contains("RIFF\u{0}\u{1}raw"), "file bytes intact");
    assert!(
        seen.header("content-type")
            .unwrap()
            .starts_with("multipart/form-data; boundary=")
    );
}

#[tokio::test]
async fn binary_answers_and_images_pass_through() {
    let (_up, gw) = setup().await;
    let via = Via::Tcp(gw.tcp);
    let reply = post(
        &via,
        "/v1/audio/speech",
        &json!({"model": "tts-1", "input": "hi", "voice": "alloy"}),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("audio/mpeg"));
    assert_eq!(reply.text(), "ID3-fake-mp3-bytes");
    let reply = post(
        &via,
        "/v1/images/generations",
        &json!({"model": "dall-e-3", "prompt": "a cat"}),
    )
    .await;
    assert_eq!(reply.json()["data"][0]["url"], "https://img");
}

#[tokio::test]
async fn providers_that_cannot_serve_an_endpoint_get_a_clear_400() {
    let (up, gw) = setup().await;
    let via = Via::Tcp(gw.tcp);
    let reply = post(
        &via,
        "/v1/completions",
        &json!({"model": "claude-x", "prompt": "hi"}),
    )
    .await;
    assert_eq!(reply.status, 400);
    assert!(
        reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot serve /v1/completions")
    );
    let reply = post(&via, "/v1/moderations", &json!({"input": "hi"})).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error"]["param"], "model");
    assert_eq!(up.count(), 0);
}
