//! Signals, drain and disconnects, driven against the real process.

use std::time::{Duration, Instant};

use crate::common::client::{self, Via, get};
use crate::common::gateway::Options;
use crate::common::upstream::{self, Canned};
use crate::common::{Gateway, Upstream, chat_body};

fn provider(up: &Upstream) -> String {
    format!(
        "providers:\n  - name: up\n    base_url: {}\n    models: [gpt-4o]\n",
        up.base_url()
    )
}

#[tokio::test]
async fn sigterm_drains_a_slow_stream_then_exits_zero_and_removes_the_socket() {
    let words = ["one", "two", "three", "four", "five", "six"];
    let up = Upstream::start(move |_| {
        Canned::Sse(
            upstream::chat_stream(&words, None),
            Duration::from_millis(200),
        )
    })
    .await;
    let mut gw = Gateway::start_with(
        &provider(&up),
        Options {
            server: "  drain_delay: 500ms\n  drain_timeout: 20s\n",
            admin: true,
            ..Default::default()
        },
    )
    .await;
    let admin = Via::Tcp(gw.admin.unwrap());
    let response = client::send(
        &Via::Unix(gw.unix.clone()),
        client::json_request("POST", "/v1/chat/completions", &chat_body("gpt-4o", true)),
        false,
    )
    .await;
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let first = client::next_frame(&mut body).await.unwrap();
    let mut text = String::from_utf8_lossy(&first).into_owned();

    gw.signal("TERM");
    gw.wait_log("\"phase\":\"draining\"").await;
    assert_eq!(get(&admin, "/health/ready").await.status, 503);
    assert_eq!(get(&admin, "/health/live").await.status, 200);
    // During drain_delay new requests are still served (endpoints are removed asynchronously).
    let during = client::post(
        &Via::Unix(gw.unix.clone()),
        "/v1/chat/completions",
        &chat_body("gpt-4o", false),
    )
    .await;
    assert_eq!(during.status, 200);

    while let Some(frame) = client::next_frame(&mut body).await {
        text.push_str(&String::from_utf8_lossy(&frame));
    }
    assert!(text.ends_with("data: [DONE]\n\n"), "stream was cut: {text}");
    let status = gw.wait_exit(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(0), "{}", gw.log_text());
    assert!(!gw.unix.exists(), "socket file left behind");
}

#[tokio::test]
async fn drain_timeout_cuts_and_exits_non_zero_and_a_second_signal_is_immediate() {
    let mut up = Upstream::start(|_| Canned::Hang).await;
    let mut gw = Gateway::start_with(
        &provider(&up),
        Options {
            server: "  drain_delay: 0s\n  drain_timeout: 60s\n",
            ..Default::default()
        },
    )
    .await;
    let unix = Via::Unix(gw.unix.clone());
    let pending = tokio::spawn(async move {
        client::post(&unix, "/v1/chat/completions", &chat_body("gpt-4o", false)).await
    });
    // The request must be in flight (at the upstream) before the signal, or there is nothing
    // for the drain to cut.
    up.wait_request().await;
    gw.signal("TERM");
    gw.wait_log("\"phase\":\"draining\"").await;
    gw.wait_log("waiting for in-flight requests").await;
    let started = Instant::now();
    gw.signal("TERM");
    let status = gw.wait_exit(Duration::from_secs(5)).await;
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(status.code(), Some(1));
    pending.abort();
}

#[tokio::test]
async fn a_client_that_goes_away_cancels_the_upstream_request() {
    // Streaming: the upstream sees the gateway close within a second of the client leaving.
    let mut up = Upstream::start(|_| {
        let words: Vec<&str> = vec!["tick"; 1000];
        Canned::Sse(
            upstream::chat_stream(&words, None),
            Duration::from_millis(100),
        )
    })
    .await;
    let gw = Gateway::start(&provider(&up)).await;
    for via in [Via::Tcp(gw.tcp), Via::Unix(gw.unix.clone())] {
        let response = client::send(
            &via,
            client::json_request("POST", "/v1/chat/completions", &chat_body("gpt-4o", true)),
            false,
        )
        .await;
        let mut body = response.into_body();
        client::next_frame(&mut body).await.unwrap();
        drop(body);
        assert!(
            up.wait_disconnect(Duration::from_secs(1)).await,
            "upstream kept streaming after the client left"
        );
    }

    // Non-streaming: the upstream is still thinking when the client leaves.
    up.respond(|_| Canned::Hang);
    let via = Via::Unix(gw.unix.clone());
    let request = tokio::spawn(async move {
        client::send(
            &via,
            client::json_request("POST", "/v1/chat/completions", &chat_body("gpt-4o", false)),
            false,
        )
        .await
    });
    up.wait_request().await;
    request.abort();
    assert!(
        up.wait_disconnect(Duration::from_secs(1)).await,
        "upstream kept working after the client left"
    );
}
