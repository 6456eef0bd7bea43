//! Bad input and failing upstreams: every error is an OpenAI error body with the right status.

use std::time::Duration;

use bytes::Bytes;
use serde_json::json;

use crate::common::client::{self, Reply, Via, get, post};
use crate::common::gateway::Options;
use crate::common::upstream::{self, Canned};
use crate::common::{Gateway, Upstream, chat_body};

type TestRequest = http::Request<http_body_util::Full<Bytes>>;

fn assert_openai_error(reply: &Reply, status: u16, code: Option<&str>) {
    assert_eq!(reply.status, status, "{}", reply.text());
    let body = reply.json();
    let error = &body["error"];
    assert!(error["message"].is_string(), "{body}");
    assert!(error["type"].is_string(), "{body}");
    assert!(
        error.get("param").is_some() && error.get("code").is_some(),
        "{body}"
    );
    if let Some(code) = code {
        assert_eq!(error["code"], code, "{body}");
    }
}

fn provider(base_url: &str, extra: &str) -> String {
    format!(
        "providers:\n  - name: up\n    api_key: sk-secret-upstream-key\n    base_url: {base_url}\n    models: [gpt-4o]\n{extra}"
    )
}

#[tokio::test]
async fn bad_requests_are_400_404_405_413() {
    let up =
        Upstream::start(|_| Canned::Json(200, upstream::chat_completion("m", "x", 1, 1))).await;
    let gw = Gateway::start_with(
        &provider(&up.base_url(), ""),
        Options {
            server: "  max_request_bytes: 2KiB\n",
            ..Default::default()
        },
    )
    .await;
    let via = Via::Unix(gw.unix.clone());
    let raw = |body: &'static str| {
        client::raw_request(
            "POST",
            "/v1/chat/completions",
            Bytes::from_static(body.as_bytes()),
        )
    };
    let cases: Vec<(TestRequest, u16, Option<&str>)> = vec![
        (raw("{not json"), 400, None),
        (raw("[1,2]"), 400, None),
        (raw(r#"{"model":"gpt-4o"}"#), 400, None),
        (raw(r#"{"model":"gpt-4o","messages":"hello"}"#), 400, None),
        (
            raw(r#"{"model":"gpt-4o","messages":[{"role":"user","content":"x"}],"stream":"yes"}"#),
            400,
            None,
        ),
        (
            raw(r#"{"model":"nope","messages":[{"role":"user","content":"x"}]}"#),
            404,
            Some("model_not_found"),
        ),
        (
            client::raw_request(
                "POST",
                "/v1/chat/completions",
                Bytes::from(vec![b' '; 4096]),
            ),
            413,
            Some("request_too_large"),
        ),
        (
            client::raw_request("POST", "/v1/nothing/here", Bytes::new()),
            404,
            Some("unknown_url"),
        ),
        (
            client::raw_request("DELETE", "/v1/chat/completions", Bytes::new()),
            405,
            None,
        ),
        (
            client::raw_request(
                "POST",
                "/v1/embeddings",
                Bytes::from_static(b"{\"model\":\"gpt-4o\"}"),
            ),
            400,
            None,
        ),
    ];
    for (request, status, code) in cases {
        let reply = client::call(&via, request).await;
        assert_openai_error(&reply, status, code);
    }
    assert_eq!(up.count(), 0, "no bad request may reach the upstream");
    // The server is still fine.
    assert_eq!(
        post(&via, "/v1/chat/completions", &chat_body("gpt-4o", false))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn upstream_errors_keep_status_and_message_except_auth() {
    let up = Upstream::start(|r| match r.json()["messages"][0]["content"].as_str().unwrap_or("") {
        "429" => Canned::JsonHeaders(
            429,
            json!({"error": {"message": "Rate limit reached for requests", "type": "requests", "param": null, "code": "rate_limit_exceeded"}}),
            vec![("retry-after", "7".to_owned())],
        ),
        "401" => Canned::Json(401, json!({"error": {"message": "Incorrect API key provided: sk-secr***-key", "type": "invalid_request_error", "code": "invalid_api_key"}})),
        "500" => Canned::Raw(500, "text/plain", "upstream exploded".to_owned()),
        "400" => Canned::Json(400, json!({"error": {"message": "context too long", "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}})),
        _ => Canned::Json(200, upstream::chat_completion("m", "ok", 1, 1)),
    })
    .await;
    // Every scenario here fails on purpose; keep the breaker out of the way.
    let breaker = "routing:\n  circuit_breaker: {failure_threshold: 100}\n  retry_backoff: {initial: 1ms, max: 5s}\n";
    let gw = Gateway::start(&provider(&up.base_url(), breaker)).await;
    let via = Via::Tcp(gw.tcp);
    let ask = |content: &str| json!({"model": "gpt-4o", "messages": [{"role": "user", "content": content}]});

    let reply = post(&via, "/v1/chat/completions", &ask("429")).await;
    assert_openai_error(&reply, 429, Some("rate_limit_exceeded"));
    assert_eq!(reply.header("retry-after"), Some("7"));
    assert!(reply.text().contains("Rate limit reached for requests"));

    let reply = post(&via, "/v1/chat/completions", &ask("401")).await;
    assert_openai_error(&reply, 502, Some("upstream_auth_failed"));
    assert!(!reply.text().contains("sk-secr"), "{}", reply.text());

    let reply = post(&via, "/v1/chat/completions", &ask("500")).await;
    assert_openai_error(&reply, 500, None);
    assert!(reply.text().contains("upstream exploded"));

    let reply = post(&via, "/v1/chat/completions", &ask("400")).await;
    assert_openai_error(&reply, 400, Some("context_length_exceeded"));
    assert_eq!(reply.json()["error"]["param"], "messages");

    let metrics = get(&via, "/metrics").await.text();
    assert!(
        metrics.contains(r#"llm_upstream_error_total{provider="up",error_type="429"} 1"#),
        "{metrics}"
    );
    assert!(
        // The 500 was retried twice (retry_count 2); the 429's Retry-After (7s) is longer than
        // retry_backoff.max, so it went back to the client at once.
        metrics.contains(r#"llm_upstream_error_total{provider="up",error_type="5xx"} 3"#),
        "{metrics}"
    );
    assert!(!gw.log_text().contains("sk-secret-upstream-key"));
}

#[tokio::test]
async fn unreachable_upstream_is_502_and_slow_upstream_is_504() {
    // A port nothing listens on: bind, note the port, close.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let gw = Gateway::start(&provider(&format!("http://{closed}/v1"), "")).await;
    let reply = post(
        &Via::Tcp(gw.tcp),
        "/v1/chat/completions",
        &chat_body("gpt-4o", false),
    )
    .await;
    assert_openai_error(&reply, 502, Some("upstream_unreachable"));

    let up = Upstream::start(|_| Canned::Hang).await;
    let config = format!(
        "providers:\n  - name: up\n    base_url: {}\n    timeout: 300ms\n    models: [gpt-4o]\n",
        up.base_url()
    );
    let gw = Gateway::start(&config).await;
    for stream in [false, true] {
        let reply = post(
            &Via::Tcp(gw.tcp),
            "/v1/chat/completions",
            &chat_body("gpt-4o", stream),
        )
        .await;
        assert_openai_error(&reply, 504, Some("upstream_timeout"));
    }
}

#[tokio::test]
async fn a_stream_cut_by_the_upstream_ends_with_an_error_event_and_done() {
    let mut events = upstream::chat_stream(&["a", "b"], None);
    events.truncate(2); // no finish chunk, no [DONE]
    let up = Upstream::start(move |_| Canned::Sse(events.clone(), Duration::ZERO)).await;
    let gw = Gateway::start(&provider(&up.base_url(), "")).await;
    let reply = post(
        &Via::Tcp(gw.tcp),
        "/v1/chat/completions",
        &chat_body("gpt-4o", true),
    )
    .await;
    let data = client::sse_data(&reply.text());
    assert_eq!(
        data.last().map(String::as_str),
        Some("[DONE]"),
        "{}",
        reply.text()
    );
    let error: serde_json::Value = serde_json::from_str(&data[data.len() - 2]).unwrap();
    assert_eq!(error["error"]["code"], "upstream_invalid_response");
}

#[tokio::test]
async fn the_global_rate_limit_answers_429_with_retry_after() {
    let up =
        Upstream::start(|_| Canned::Json(200, upstream::chat_completion("m", "x", 1, 1))).await;
    let gw = Gateway::start(&provider(
        &up.base_url(),
        "rate_limit:\n  enabled: true\n  requests_per_minute: 2\n",
    ))
    .await;
    let via = Via::Tcp(gw.tcp);
    for _ in 0..2 {
        assert_eq!(
            post(&via, "/v1/chat/completions", &chat_body("gpt-4o", false))
                .await
                .status,
            200
        );
    }
    let reply = post(&via, "/v1/chat/completions", &chat_body("gpt-4o", false)).await;
    assert_openai_error(&reply, 429, Some("rate_limit_exceeded"));
    let retry: u64 = reply.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    assert_eq!(up.count(), 2);
}
