//! Finding 6: every request that started leaves exactly one record, also when the drain
//! deadline cuts it: its usage line says `drain_cut` and reaches stdout before the process
//! exits.

use std::time::Duration;

use crate::common::client::{self, Via};
use crate::common::gateway::Options;
use crate::common::upstream::Canned;
use crate::common::{Gateway, Upstream, chat_body};

/// Streams held open at the deadline.
const STREAMS: usize = 30;

#[tokio::test]
async fn requests_cut_by_the_drain_deadline_are_each_recorded() {
    let mut up = Upstream::start(|_| Canned::Hang).await;
    let reply = "word ".repeat(400);
    let config = format!(
        "providers:\n  - {{name: m, type: mock, models: [gpt-4o], mock: {{chunk_delay: 50ms, reply: '{reply}'}}}}\n  - {{name: up, base_url: '{}', models: [slow]}}\n",
        up.base_url()
    );
    let mut gw = Gateway::start_with(
        &config,
        Options {
            server: "  drain_delay: 0s\n  drain_timeout: 1s\n",
            ..Default::default()
        },
    )
    .await;
    let mut bodies = Vec::new();
    for _ in 0..STREAMS {
        let response = client::send(
            &Via::Unix(gw.unix.clone()),
            client::json_request("POST", "/v1/chat/completions", &chat_body("gpt-4o", true)),
            false,
        )
        .await;
        assert_eq!(response.status(), 200);
        let mut body = response.into_body();
        client::next_frame(&mut body).await.unwrap();
        bodies.push(body);
    }
    // And one request still waiting for its upstream's answer.
    let via = Via::Unix(gw.unix.clone());
    let waiting = tokio::spawn(async move {
        client::try_call(
            &via,
            client::json_request("POST", "/v1/chat/completions", &chat_body("slow", false)),
            Duration::from_secs(30),
        )
        .await
    });
    up.wait_request().await;
    // The streams keep being read, as a client would, until the gateway cuts them.
    let readers: Vec<_> = bodies
        .into_iter()
        .map(|mut body| {
            tokio::spawn(async move { while client::next_frame_or_end(&mut body).await {} })
        })
        .collect();
    gw.signal("TERM");
    let status = gw.wait_exit(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(1), "requests were cut: exit 1");
    for reader in readers {
        reader.await.unwrap();
    }
    assert!(
        waiting.await.unwrap().is_err(),
        "the cut request got no answer"
    );
    let log = gw.log_text();
    let cut: Vec<&str> = log
        .lines()
        .filter(|l| {
            l.contains("\"message\":\"request finished\"")
                && l.contains("\"outcome\":\"drain_cut\"")
        })
        .collect();
    assert_eq!(cut.len(), STREAMS + 1, "records of cut requests:\n{log}");
    assert_eq!(
        cut.iter().filter(|l| l.contains("\"status\":503")).count(),
        1
    );
    let stopped = log.find("llm-sidecar stopped").expect("no stop line");
    let last_record = log.rfind("drain_cut").unwrap();
    assert!(last_record < stopped, "a record came after the stop line");
}
