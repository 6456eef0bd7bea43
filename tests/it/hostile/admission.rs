//! Findings 3, 4 and 7: every endpoint that works for a caller is admitted, an ambiguous body
//! cannot pass a key's model check with one value and reach the upstream with another, and no
//! client number can wrap the admission estimate.

use serde_json::json;

use super::{assert_anthropic_error, assert_openai_400, messages_body, post, post_form, send};
use crate::common::client::Via;
use crate::common::upstream::{self, Canned};
use crate::common::{Gateway, Upstream, chat_body};

async fn upstream() -> Upstream {
    Upstream::start(|r| {
        let model = r.json()["model"].as_str().unwrap_or("m").to_owned();
        Canned::Json(200, upstream::chat_completion(&model, "ok", 1, 1))
    })
    .await
}

fn config(up: &Upstream, key: &str) -> String {
    format!(
        "providers:\n  - {{name: up, base_url: '{}', models: [cheap-up, expensive-up, claude-up]}}\nkeys:\n  - {key}\n",
        up.base_url()
    )
}

#[tokio::test]
async fn count_tokens_is_admitted_like_every_endpoint() {
    let up = upstream().await;
    let gw = Gateway::start(&config(&up, "{name: k, key: sk-k, rpm: 3}")).await;
    let via = Via::Unix(gw.unix.clone());
    let body = messages_body("claude-up", "count me");
    for _ in 0..3 {
        let reply = post(&via, "/v1/messages/count_tokens", &body, Some("sk-k")).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
    let limited = post(&via, "/v1/messages/count_tokens", &body, Some("sk-k")).await;
    assert_anthropic_error(&limited, 429);
    assert_eq!(limited.json()["error"]["type"], "rate_limit_error");
    assert!(limited.header("retry-after").is_some());
    // Without a key it is not served at all.
    assert_anthropic_error(
        &post(&via, "/v1/messages/count_tokens", &body, None).await,
        401,
    );
}

#[tokio::test]
async fn a_model_given_twice_is_refused_not_resolved() {
    let up = upstream().await;
    let gw = Gateway::start(&config(&up, "{name: k, key: sk-k, models: ['cheap*']}")).await;
    let via = Via::Unix(gw.unix.clone());
    let spellings = [
        "name=\"model\"",
        "NAME=\"model\"",
        "name=model",
        "name=\"model\"; filename=\"m.txt\"",
    ];
    for second in spellings {
        let form = format!(
            "--B\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\ncheap-up\r\n--B\r\nContent-Disposition: form-data; {second}\r\n\r\nexpensive-up\r\n--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n\r\nRIFF\r\n--B--\r\n"
        );
        let reply = post_form(&via, "/v1/audio/transcriptions", form, "sk-k").await;
        assert_openai_400(&reply, "model");
    }
    // The same in JSON, on every JSON endpoint.
    let duplicate = r#"{"model":"cheap-up","model":"expensive-up","messages":[{"role":"user","content":"x"}],"max_tokens":5,"input":"x","prompt":"x"}"#;
    for path in [
        "/v1/chat/completions",
        "/v1/embeddings",
        "/v1/completions",
        "/v1/messages",
        "/v1/messages/count_tokens",
    ] {
        let reply = send(
            &via,
            "POST",
            path,
            duplicate.as_bytes().to_vec(),
            Some("sk-k"),
        )
        .await;
        assert_eq!(reply.status, 400, "{path}: {}", reply.text());
        assert!(
            reply.text().contains("duplicate key"),
            "{path}: {}",
            reply.text()
        );
    }
    assert_eq!(up.count(), 0, "an ambiguous request reached the upstream");
}

#[tokio::test]
async fn output_limits_cannot_wrap_the_token_estimate() {
    // Answers use what they asked for: the settlement never refunds the bucket.
    let up = Upstream::start(|_| Canned::Json(200, upstream::chat_completion("m", "ok", 10, 1000)))
        .await;
    let gw = Gateway::start(&config(&up, "{name: k, key: sk-k, tpm: 40}")).await;
    let via = Via::Tcp(gw.tcp);
    let huge = u64::MAX;
    let mut chat = chat_body("cheap-up", false);
    chat["max_tokens"] = json!(huge);
    assert_openai_400(
        &post(&via, "/v1/chat/completions", &chat, Some("sk-k")).await,
        "max_tokens",
    );
    chat["max_tokens"] = serde_json::Value::Null;
    chat["max_completion_tokens"] = json!(huge);
    assert_openai_400(
        &post(&via, "/v1/chat/completions", &chat, Some("sk-k")).await,
        "max_completion_tokens",
    );
    let mut messages = messages_body("claude-up", "hi");
    messages["max_tokens"] = json!(huge);
    assert_anthropic_error(
        &post(&via, "/v1/messages", &messages, Some("sk-k")).await,
        400,
    );
    // A large but possible limit is counted in full: a fresh key's bucket admits one such request
    // (a request may take the whole minute), and the next finds it empty.
    let mut big = chat_body("cheap-up", false);
    big["max_tokens"] = json!(1000);
    let first = post(&via, "/v1/chat/completions", &big, Some("sk-k")).await;
    assert_eq!(first.status, 200, "{}", first.text());
    let limited = post(&via, "/v1/chat/completions", &big, Some("sk-k")).await;
    assert_eq!(limited.status, 429, "{}", limited.text());
    assert_eq!(up.count(), 1);
}
