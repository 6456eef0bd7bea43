//! Routing and resilience against upstreams that fail on demand: distribution, retries and
//! their spacing, fallbacks, circuit breakers, bulkheads, failover only before the first byte,
//! the time-to-first-token bound, the token budget, idle streams and health checks.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::client::{self, Via, get, post, sse_data};
use crate::common::upstream::{self, Canned, Recorded};
use crate::common::{Gateway, Upstream, chat_body};

fn ok(r: &Recorded) -> Canned {
    if r.json()["stream"] == true {
        return Canned::Sse(upstream::chat_stream(&["fine"], None), Duration::ZERO);
    }
    Canned::Json(
        200,
        upstream::chat_completion(r.json()["model"].as_str().unwrap_or("m"), "fine", 2, 1),
    )
}

fn fail_500(_: &Recorded) -> Canned {
    Canned::Json(
        500,
        json!({"error": {"message": "boom", "type": "server_error"}}),
    )
}

/// Fast retries so the tests measure behaviour, not backoff.
const FAST: &str = "routing:\n  retry_backoff: {initial: 10ms, max: 2s}\n";

#[tokio::test]
async fn weighted_deployments_share_traffic_by_weight() {
    let up = Upstream::start(ok).await;
    let gw = Gateway::start(&format!(
        "providers:\n  - {{name: p, base_url: '{}'}}\nmodels:\n  - name: m\n    strategy: weighted\n    deployments:\n      - {{provider: p, model: heavy, weight: 3}}\n      - {{provider: p, model: light, weight: 1}}\n",
        up.base_url()
    ))
    .await;
    let via = Via::Unix(gw.unix.clone());
    for _ in 0..400 {
        assert_eq!(
            post(&via, "/v1/chat/completions", &chat_body("m", false))
                .await
                .status,
            200
        );
    }
    let heavy = up
        .requests
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.json()["model"] == "heavy")
        .count();
    assert!(
        (285..=315).contains(&heavy),
        "heavy got {heavy} of 400 (want ~300)"
    );
}

#[tokio::test]
async fn retries_move_to_another_deployment_then_fall_back_to_the_next_model() {
    let bad = Upstream::start(fail_500).await;
    let good = Upstream::start(ok).await;
    let gw = Gateway::start(&format!(
        "providers:\n  - {{name: bad, base_url: '{}'}}\n  - {{name: good, base_url: '{}'}}\nmodels:\n  - name: primary\n    deployments: [{{provider: bad, model: p1}}, {{provider: bad, model: p2}}]\n    fallbacks: [backup]\n  - name: backup\n    deployments: [{{provider: good, model: b1}}]\n{FAST}",
        bad.base_url(),
        good.base_url()
    ))
    .await;
    let reply = post(
        &Via::Tcp(gw.tcp),
        "/v1/chat/completions",
        &chat_body("primary", false),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("x-llm-deployment"), Some("good/b1"));
    assert_eq!(
        reply.header("x-llm-attempts"),
        Some("4"),
        "1 + retry_count (2) on primary, then the fallback"
    );
    let models: Vec<_> = bad
        .requests
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.json()["model"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        models.contains(&"p1".to_owned()) && models.contains(&"p2".to_owned()),
        "{models:?}"
    );
}

#[tokio::test]
async fn retries_honour_retry_after_and_never_retry_a_400() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let up = Upstream::start(move |r| {
        if r.json()["messages"][0]["content"] == "bad" {
            return Canned::Json(
                400,
                json!({"error": {"message": "no", "type": "invalid_request_error"}}),
            );
        }
        match seen.fetch_add(1, Ordering::SeqCst) {
            0 | 1 => Canned::JsonHeaders(
                429,
                json!({"error": {"message": "slow down"}}),
                vec![("retry-after-ms", "300".into())],
            ),
            _ => ok(r),
        }
    })
    .await;
    let gw = Gateway::start(&format!(
        "providers:\n  - {{name: p, base_url: '{}', models: [m]}}\n{FAST}",
        up.base_url()
    ))
    .await;
    let via = Via::Tcp(gw.tcp);
    let started = Instant::now();
    let reply = post(&via, "/v1/chat/completions", &chat_body("m", false)).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("x-llm-attempts"), Some("3"));
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "two waits of retry-after-ms 300: {:?}",
        started.elapsed()
    );

    let before = up.count();
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "bad"}]});
    let reply = post(&via, "/v1/chat/completions", &body).await;
    assert_eq!(reply.status, 400);
    assert_eq!(up.count(), before + 1, "a 400 is never retried");
}

#[tokio::test]
async fn the_breaker_opens_stops_upstream_traffic_and_recovers_through_half_open() {
    let up = Upstream::start(fail_500).await;
    let gw = Gateway::start(&format!(
        "providers:\n  - {{name: p, base_url: '{}', models: [m]}}\nrouting:\n  retry_count: 0\n  circuit_breaker: {{failure_threshold: 3, open_for: 500ms}}\n",
        up.base_url()
    ))
    .await;
    let via = Via::Unix(gw.unix.clone());
    for _ in 0..3 {
        assert_eq!(
            post(&via, "/v1/chat/completions", &chat_body("m", false))
                .await
                .status,
            500
        );
    }
    let reply = post(&via, "/v1/chat/completions", &chat_body("m", false)).await;
    assert_eq!(reply.status, 503, "{}", reply.text());
    assert!(reply.header("retry-after").is_some());
    assert_eq!(
        up.count(),
        3,
        "an open breaker keeps requests off the upstream"
    );
    let metrics = get(&via, "/metrics").await.text();
    assert!(
        metrics.contains(r#"llm_circuit_state{provider="p",model="m"} 2"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"llm_upstream_error_total{provider="p",error_type="circuit_open"}"#),
        "{metrics}"
    );

    up.respond(ok);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let reply = post(&via, "/v1/chat/completions", &chat_body("m", false)).await;
    assert_eq!(
        reply.status,
        200,
        "the half-open probe goes through: {}",
        reply.text()
    );
    let metrics = get(&via, "/metrics").await.text();
    assert!(
        metrics.contains(r#"llm_circuit_state{provider="p",model="m"} 0"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_hung_provider_fills_only_its_own_bulkhead() {
    let slow = Upstream::start(|_| Canned::Hang).await;
    let fast = Upstream::start(ok).await;
    let gw = Gateway::start(&format!(
        "providers:\n  - {{name: slow, base_url: '{}', models: [s], max_concurrency: 4, queue_timeout: 300ms}}\n  - {{name: fast, base_url: '{}', models: [f]}}\nrouting:\n  retry_count: 0\n",
        slow.base_url(),
        fast.base_url()
    ))
    .await;
    let hung: Vec<_> = (0..30)
        .map(|_| {
            let via = Via::Tcp(gw.tcp);
            tokio::spawn(async move {
                post(&via, "/v1/chat/completions", &chat_body("s", false))
                    .await
                    .status
            })
        })
        .collect();
    // Let the 30 requests arrive and the bulkhead fill.
    while slow.count() < 4 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let via = Via::Unix(gw.unix.clone());
    for _ in 0..10 {
        let started = Instant::now();
        assert_eq!(
            post(&via, "/v1/chat/completions", &chat_body("f", false))
                .await
                .status,
            200
        );
        assert!(
            started.elapsed() < Duration::from_millis(150),
            "took {:?}",
            started.elapsed()
        );
    }
    // Refusals come after queue_timeout (300 ms); the 4 with slots hang until the test ends.
    let settled = tokio::time::Instant::now() + Duration::from_secs(1);
    let mut refused = 0;
    for request in hung {
        if let Ok(Ok(status)) = tokio::time::timeout_at(settled, request).await {
            assert_eq!(status, 503);
            refused += 1;
        }
    }
    assert_eq!(
        refused, 26,
        "4 hold the slots, the rest are refused after queue_timeout"
    );
    assert_eq!(slow.count(), 4);
    let metrics = get(&via, "/metrics").await.text();
    assert!(
        metrics.contains(r#"llm_bulkhead_rejections_total{provider="slow"} 26"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn failover_happens_only_before_the_first_byte() {
    let breaks = Upstream::start(|r| {
        if r.json()["messages"][0]["content"] == "late" {
            let mut events = upstream::chat_stream(&["partial", "answer"], None);
            events.truncate(2);
            Canned::Sse(events, Duration::ZERO)
        } else {
            fail_500(r)
        }
    })
    .await;
    let backup = Upstream::start(ok).await;
    let gw = Gateway::start(&format!(
        "providers:\n  - {{name: a, base_url: '{}'}}\n  - {{name: b, base_url: '{}'}}\nmodels:\n  - {{name: m, deployments: [{{provider: a, model: x}}], fallbacks: [n]}}\n  - {{name: n, deployments: [{{provider: b, model: y}}]}}\n{FAST}",
        breaks.base_url(),
        backup.base_url()
    ))
    .await;
    let via = Via::Tcp(gw.tcp);
    let early = post(&via, "/v1/chat/completions", &chat_body("m", true)).await;
    assert_eq!(early.header("x-llm-deployment"), Some("b/y"));
    assert!(early.text().contains("fine"));
    let answered = backup.count();

    let body =
        json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "late"}]});
    let late = post(&via, "/v1/chat/completions", &body).await;
    let data = sse_data(&late.text());
    assert!(late.text().contains("partial"), "the first bytes went out");
    assert!(
        data[data.len() - 2].contains("\"error\""),
        "then an in-band error: {}",
        late.text()
    );
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    assert_eq!(
        backup.count(),
        answered,
        "no second answer is spliced in after the first byte"
    );
}

#[tokio::test]
async fn a_slow_first_token_fails_over_within_ttft_timeout() {
    let slow = Upstream::start(|r| Canned::Delay(Duration::from_secs(3), Box::new(ok(r)))).await;
    let fast = Upstream::start(ok).await;
    let gw = Gateway::start(&format!(
        "providers:\n  - {{name: slow, base_url: '{}'}}\n  - {{name: fast, base_url: '{}'}}\nmodels:\n  - {{name: m, deployments: [{{provider: slow, model: x}}], fallbacks: [n]}}\n  - {{name: n, deployments: [{{provider: fast, model: y}}]}}\nrouting:\n  retry_count: 0\n  ttft_timeout: 300ms\n",
        slow.base_url(),
        fast.base_url()
    ))
    .await;
    let started = Instant::now();
    let reply = post(
        &Via::Tcp(gw.tcp),
        "/v1/chat/completions",
        &chat_body("m", true),
    )
    .await;
    assert_eq!(reply.header("x-llm-deployment"), Some("fast/y"));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn the_token_budget_refuses_what_does_not_fit() {
    let up = Upstream::start(|r| {
        if r.json()["max_tokens"] == 80 {
            Canned::Hang
        } else {
            ok(r)
        }
    })
    .await;
    let gw = Gateway::start(&format!(
        "providers:\n  - {{name: p, base_url: '{}', models: [m]}}\nlimits:\n  max_inflight_tokens: 150\n  queue_timeout: 200ms\n",
        up.base_url()
    ))
    .await;
    let ask = |max_tokens: u64| json!({"model": "m", "max_tokens": max_tokens, "messages": [{"role": "user", "content": "hi"}]});
    let via = Via::Tcp(gw.tcp);
    let holder = {
        let via = via.clone();
        let body = ask(80);
        tokio::spawn(async move { post(&via, "/v1/chat/completions", &body).await })
    };
    while up.count() < 1 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let small = post(&via, "/v1/chat/completions", &ask(20)).await;
    assert_eq!(small.status, 200, "fits beside the first: {}", small.text());
    let started = Instant::now();
    let big = post(&via, "/v1/chat/completions", &ask(100)).await;
    assert_eq!(big.status, 503, "{}", big.text());
    assert_eq!(big.json()["error"]["type"], "overloaded");
    assert!(started.elapsed() >= Duration::from_millis(200));
    holder.abort();
}

#[tokio::test]
async fn a_stalled_stream_ends_with_an_in_band_timeout() {
    let up = Upstream::start(|_| {
        Canned::Sse(
            upstream::chat_stream(&["a", "b"], None),
            Duration::from_secs(5),
        )
    })
    .await;
    let gw = Gateway::start(&format!(
        "providers:\n  - {{name: p, base_url: '{}', models: [m], stream_idle_timeout: 300ms}}\n",
        up.base_url()
    ))
    .await;
    let started = Instant::now();
    let reply = post(
        &Via::Tcp(gw.tcp),
        "/v1/chat/completions",
        &chat_body("m", true),
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let data = sse_data(&reply.text());
    assert!(
        data[data.len() - 2].contains("upstream_timeout"),
        "{}",
        reply.text()
    );
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
}

#[tokio::test]
async fn a_failing_health_check_takes_the_provider_out_of_rotation() {
    let sick = Upstream::start(|r| {
        if r.path == "/health" {
            Canned::Raw(503, "text/plain", String::new())
        } else {
            ok(r)
        }
    })
    .await;
    let well = Upstream::start(ok).await;
    let mut gw = Gateway::start(&format!(
        "providers:\n  - {{name: sick, base_url: '{}', health_check: {{path: /health, interval: 100ms}}}}\n  - {{name: well, base_url: '{}'}}\nmodels:\n  - {{name: m, deployments: [{{provider: sick, model: a}}, {{provider: well, model: b}}]}}\n",
        sick.base_url(),
        well.base_url()
    ))
    .await;
    // The first probe may fail before the gateway reports ready.
    gw.wait_log_ever("provider health check failed").await;
    let via = Via::Unix(gw.unix.clone());
    for _ in 0..10 {
        let reply = post(&via, "/v1/chat/completions", &chat_body("m", false)).await;
        assert_eq!(reply.header("x-llm-deployment"), Some("well/b"));
    }
    assert!(
        sick.requests
            .lock()
            .unwrap()
            .iter()
            .all(|r| r.path == "/health")
    );
    let metrics = get(&via, "/metrics").await.text();
    assert!(
        metrics.contains(r#"llm_provider_healthy{provider="sick"} 0"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_client_that_leaves_mid_retry_does_not_leave_a_probe_stuck() {
    // A request cancelled while the breaker's single half-open probe is out must give the slot back.
    let up = Upstream::start(fail_500).await;
    let gw = Gateway::start(&format!(
        "providers:\n  - {{name: p, base_url: '{}', models: [m]}}\nrouting:\n  retry_count: 0\n  circuit_breaker: {{failure_threshold: 1, open_for: 200ms}}\n",
        up.base_url()
    ))
    .await;
    let via = Via::Tcp(gw.tcp);
    assert_eq!(
        post(&via, "/v1/chat/completions", &chat_body("m", false))
            .await
            .status,
        500
    );
    tokio::time::sleep(Duration::from_millis(250)).await;
    up.respond(|_| Canned::Hang);
    let probe = {
        let via = via.clone();
        tokio::spawn(async move {
            client::post(&via, "/v1/chat/completions", &chat_body("m", false)).await
        })
    };
    while up.count() < 2 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    probe.abort();
    up.respond(ok);
    // The gateway notices the client left (connection closed) and drops the probe.
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let status = post(&via, "/v1/chat/completions", &chat_body("m", false))
            .await
            .status;
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the probe slot was never given back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn breaker_state_survives_a_reload_of_an_unchanged_deployment() {
    let up = Upstream::start(fail_500).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    let text = |level: &str| {
        format!(
            "{}\nreload:\n  debounce: 50ms\nlogging:\n  level: {level}\nproviders:\n  - {{name: p, base_url: '{}', models: [m]}}\nrouting:\n  retry_count: 0\n  circuit_breaker: {{failure_threshold: 2, open_for: 60s}}\n",
            crate::common::gateway::server_yaml(dir.path(), &Default::default()),
            up.base_url()
        )
    };
    std::fs::write(&path, text("info")).unwrap();
    let next = text("debug");
    let mut gw = Gateway::start_file(dir, &path, vec![]).await;
    let via = Via::Unix(gw.unix.clone());
    for _ in 0..2 {
        post(&via, "/v1/chat/completions", &chat_body("m", false)).await;
    }
    assert_eq!(
        post(&via, "/v1/chat/completions", &chat_body("m", false))
            .await
            .status,
        503
    );
    std::fs::write(&path, next).unwrap();
    gw.wait_log("\"generation\":2").await;
    up.respond(ok);
    let reply = post(&via, "/v1/chat/completions", &chat_body("m", false)).await;
    assert_eq!(
        reply.status, 503,
        "the open breaker came through the reload"
    );
    assert_eq!(up.count(), 2);
}
