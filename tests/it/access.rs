//! Keys, Unix peer identities, rate limits, budgets and usage reports, against the real binary
//! over TCP and its Unix socket.

use std::os::unix::fs::MetadataExt;

use bytes::Bytes;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::common::client::{self, Reply, Via, raw_request};
use crate::common::upstream::{self, Canned, Recorded};
use crate::common::{Gateway, Upstream, WAIT, chat_body};

/// Answers every chat with 6 prompt and 2 completion tokens.
fn ok(r: &Recorded) -> Canned {
    Canned::Json(
        200,
        upstream::chat_completion(r.json()["model"].as_str().unwrap_or("m"), "fine", 6, 2),
    )
}

fn provider(up: &Upstream) -> String {
    format!(
        "providers:\n  - {{name: up, base_url: '{}', models: [m, m-mini, other]}}\n",
        up.base_url()
    )
}

/// Sends `method path` with `body` and, when given, `header: value`.
async fn send(via: &Via, path: &str, body: &Value, header: Option<(&str, &str)>) -> Reply {
    let method = if body.is_null() { "GET" } else { "POST" };
    let bytes = if body.is_null() {
        Bytes::new()
    } else {
        Bytes::from(body.to_string())
    };
    let mut request = raw_request(method, path, bytes);
    if let Some((name, value)) = header {
        let name = http::HeaderName::from_bytes(name.as_bytes()).unwrap();
        request.headers_mut().insert(name, value.parse().unwrap());
    }
    client::call(via, request).await
}

async fn chat(via: &Via, key: Option<&str>, model: &str) -> Reply {
    let bearer = key.map(|k| format!("Bearer {k}"));
    let header = bearer.as_deref().map(|b| ("authorization", b));
    send(
        via,
        "/v1/chat/completions",
        &chat_body(model, false),
        header,
    )
    .await
}

async fn get_as(via: &Via, path: &str, key: &str) -> Reply {
    let bearer = format!("Bearer {key}");
    send(via, path, &Value::Null, Some(("authorization", &bearer))).await
}

fn assert_error(reply: &Reply, status: u16, code: &str) {
    assert_eq!(reply.status, status, "{}", reply.text());
    assert_eq!(reply.json()["error"]["code"], code, "{}", reply.text());
}

/// Waits until `key`'s usage report shows `requests` (settlement is written after the response).
async fn settled(via: &Via, key: &str, requests: u64) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let info = get_as(via, "/v1/key/info", key).await.json();
        if info["requests"].as_u64() >= Some(requests) {
            return info;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never settled: {info}"
        );
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn keys_guard_the_api_over_tcp_and_the_socket() {
    let up = Upstream::start(ok).await;
    let sha: String = Sha256::digest(b"sk-hashed")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let gw = Gateway::start(&format!(
        "{}auth:\n  master_key: sk-master\nkeys:\n  - {{name: app, key: sk-app, team: a, models: ['m*']}}\n  - {{name: hashed, key_sha256: {sha}}}\n  - {{name: old, key: sk-old, expires_at: '2020-01-01T00:00:00Z'}}\n",
        provider(&up)
    ))
    .await;
    for via in [Via::Tcp(gw.tcp), Via::Unix(gw.unix.clone())] {
        assert_error(&chat(&via, None, "m").await, 401, "invalid_api_key");
        assert_error(
            &chat(&via, Some("sk-wrong"), "m").await,
            401,
            "invalid_api_key",
        );
        let expired = chat(&via, Some("sk-old"), "m").await;
        assert_error(&expired, 401, "invalid_api_key");
        assert!(expired.text().contains("expired"), "{}", expired.text());
        assert_error(
            &chat(&via, Some("sk-app"), "other").await,
            403,
            "model_not_allowed",
        );
        assert_eq!(chat(&via, Some("sk-app"), "m-mini").await.status, 200);
        assert_eq!(chat(&via, Some("sk-hashed"), "other").await.status, 200);
        assert_eq!(chat(&via, Some("sk-master"), "other").await.status, 200);
        let models = get_as(&via, "/v1/models", "sk-app").await.json();
        let ids: Vec<&str> = models["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["m", "m-mini"]);
        assert_eq!(get_as(&via, "/v1/models/other", "sk-app").await.status, 404);
        assert_error(
            &get_as(&via, "/admin/usage", "sk-app").await,
            401,
            "invalid_api_key",
        );
        assert_eq!(get_as(&via, "/admin/usage", "sk-master").await.status, 200);
    }
    let leaked = gw.log_text();
    for secret in ["sk-app", "sk-hashed", "sk-master", "sk-wrong"] {
        assert!(!leaked.contains(secret), "{secret} reached the logs");
    }
}

#[tokio::test]
async fn anthropic_clients_authenticate_with_x_api_key() {
    let up = Upstream::start(ok).await;
    let gw = Gateway::start(&format!(
        "{}keys:\n  - {{name: claude-app, key: sk-ant-app}}\n",
        provider(&up)
    ))
    .await;
    let via = Via::Unix(gw.unix.clone());
    let body =
        json!({"model": "m", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]});
    let refused = send(&via, "/v1/messages", &body, Some(("x-api-key", "sk-nope"))).await;
    assert_eq!(refused.status, 401);
    assert_eq!(
        refused.json()["type"],
        "error",
        "Anthropic error shape: {}",
        refused.text()
    );
    let reply = send(
        &via,
        "/v1/messages",
        &body,
        Some(("x-api-key", "sk-ant-app")),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["content"][0]["text"], "fine");
    let info = settled(&via, "sk-ant-app", 1).await;
    assert_eq!(info["name"], "claude-app");
    assert_eq!(info["output_tokens"], 2);
}

#[tokio::test]
async fn unix_peers_are_trusted_on_the_socket_and_never_over_tcp() {
    let up = Upstream::start(ok).await;
    // This process's uid: the owner of a directory it just created.
    let uid = tempfile::tempdir()
        .unwrap()
        .path()
        .metadata()
        .unwrap()
        .uid();
    let gw = Gateway::start(&format!(
        "{}auth:\n  master_key: sk-master\n  unix_peers:\n    - {{uid: {uid}, team: web, name: web-app}}\nkeys:\n  - {{name: app, key: sk-app}}\n",
        provider(&up)
    ))
    .await;
    let unix = Via::Unix(gw.unix.clone());
    let tcp = Via::Tcp(gw.tcp);
    assert_eq!(chat(&unix, None, "m").await.status, 200);
    // SDKs insist on some key: a placeholder does not undo the peer's identity.
    assert_eq!(chat(&unix, Some("unused"), "m").await.status, 200);
    assert_error(&chat(&tcp, None, "m").await, 401, "invalid_api_key");
    let deadline = tokio::time::Instant::now() + WAIT;
    let usage = loop {
        let usage = get_as(&tcp, "/admin/usage", "sk-master").await.json();
        if usage["peers"][0]["requests"] == 2 {
            break usage;
        }
        assert!(tokio::time::Instant::now() < deadline, "{usage}");
        tokio::task::yield_now().await;
    };
    assert_eq!(usage["peers"][0]["name"], "web-app");
    assert_eq!(usage["peers"][0]["team"], "web");
}

#[tokio::test]
async fn request_and_token_limits_answer_429_with_retry_after_and_openai_headers() {
    let up = Upstream::start(|_: &Recorded| {
        Canned::Json(200, upstream::chat_completion("m", "fine", 50, 45))
    })
    .await;
    let gw = Gateway::start(&format!(
        "{}keys:\n  - {{name: slow, key: sk-rpm, rpm: 2}}\n  - {{name: wordy, key: sk-tpm, tpm: 100}}\n",
        provider(&up)
    ))
    .await;
    let via = Via::Tcp(gw.tcp);
    let first = chat(&via, Some("sk-rpm"), "m").await;
    assert_eq!(first.status, 200);
    assert_eq!(first.header("x-ratelimit-limit-requests"), Some("2"));
    assert_eq!(first.header("x-ratelimit-remaining-requests"), Some("1"));
    assert_eq!(chat(&via, Some("sk-rpm"), "m").await.status, 200);
    let limited = chat(&via, Some("sk-rpm"), "m").await;
    assert_error(&limited, 429, "rate_limit_exceeded");
    assert_eq!(limited.header("x-ratelimit-remaining-requests"), Some("0"));
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!(
        (1..=30).contains(&retry),
        "a 2 rpm bucket refills one in 30s: {retry}"
    );
    assert!(
        limited.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("slow")
    );

    let big =
        json!({"model": "m", "max_tokens": 80, "messages": [{"role": "user", "content": "hi"}]});
    let bearer = ("authorization", "Bearer sk-tpm");
    let admitted = send(&via, "/v1/chat/completions", &big, Some(bearer)).await;
    assert_eq!(admitted.status, 200, "{}", admitted.text());
    assert_eq!(admitted.header("x-ratelimit-limit-tokens"), Some("100"));
    // The first used 95 tokens (its estimate was about as much): 80 more do not fit.
    let refused = send(&via, "/v1/chat/completions", &big, Some(bearer)).await;
    assert_error(&refused, 429, "rate_limit_exceeded");
    assert!(refused.header("retry-after").is_some());
    assert!(
        refused.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("tokens per min")
    );
    let metrics = client::get(&via, "/metrics").await.text();
    for needle in [
        "llm_ratelimit_rejections_total{team=\"none\",limit=\"key_rpm\"} 1",
        "llm_ratelimit_rejections_total{team=\"none\",limit=\"key_tpm\"} 1",
    ] {
        assert!(metrics.contains(needle), "missing {needle}");
    }
}

#[tokio::test]
async fn budgets_run_out_after_real_usage() {
    let up = Upstream::start(ok).await;
    // A dollar a token: each answer (6 + 2 tokens) costs $8.
    let gw = Gateway::start(&format!(
        "{}pricing:\n  m: {{input_per_million: 1000000, output_per_million: 1000000}}\nteams:\n  - {{name: a, budget_usd: 100}}\nkeys:\n  - {{name: capped, key: sk-cap, team: a, budget_usd: 10, budget_period: 30d}}\n",
        provider(&up)
    ))
    .await;
    let via = Via::Unix(gw.unix.clone());
    for n in 1..=2 {
        assert_eq!(chat(&via, Some("sk-cap"), "m").await.status, 200);
        settled(&via, "sk-cap", n).await;
    }
    let over = chat(&via, Some("sk-cap"), "m").await;
    assert_error(&over, 429, "insufficient_quota");
    assert_eq!(over.json()["error"]["type"], "insufficient_quota");
    assert_eq!(over.header("x-should-retry"), Some("false"));
    let message = over.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("key `capped`") && message.contains("$10.00"),
        "{message}"
    );
    let info = settled(&via, "sk-cap", 2).await;
    assert_eq!(info["spend_usd"], 16.0);
    assert_eq!(info["budget"]["remaining_usd"], 0.0);
    assert_eq!(info["team_usage"]["spend_usd"], 16.0);
    assert_eq!(
        up.count(),
        2,
        "the refused request never reached the upstream"
    );
}

#[tokio::test]
async fn usage_is_attributed_to_teams_in_metrics_and_the_admin_report() {
    let up = Upstream::start(ok).await;
    let gw = Gateway::start(&format!(
        "{}pricing:\n  m: {{input_per_million: 1000000, output_per_million: 1000000}}\nauth:\n  master_key: sk-master\nteams:\n  - {{name: search, rpm: 100}}\n  - {{name: ads}}\nkeys:\n  - {{name: s1, key: sk-s1, team: search}}\n  - {{name: s2, key: sk-s2, team: search}}\n  - {{name: a1, key: sk-a1, team: ads}}\n",
        provider(&up)
    ))
    .await;
    let via = Via::Tcp(gw.tcp);
    for key in ["sk-s1", "sk-s2", "sk-s2", "sk-a1"] {
        assert_eq!(chat(&via, Some(key), "m").await.status, 200);
    }
    settled(&via, "sk-a1", 1).await;
    settled(&via, "sk-s2", 2).await;
    settled(&via, "sk-s1", 1).await;
    let usage = get_as(&via, "/admin/usage", "sk-master").await.json();
    let team = |name: &str| {
        usage["teams"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(team("search")["requests"], 3);
    assert_eq!(team("search")["spend_usd"], 24.0);
    assert_eq!(team("search")["rpm"]["limit"], 100);
    assert_eq!(team("search")["rpm"]["remaining"], 97);
    assert_eq!(team("ads")["input_tokens"], 6);
    assert_eq!(usage["keys"][2]["name"], "s2");
    assert_eq!(usage["keys"][2]["requests"], 2);
    let metrics = client::get(&via, "/metrics").await.text();
    for needle in [
        "# TYPE llm_cost_usd_total counter",
        "llm_cost_usd_total{team=\"search\",model=\"m\",key=\"s1\"} 8",
        "llm_cost_usd_total{team=\"search\",model=\"m\",key=\"s2\"} 16",
        "llm_cost_usd_total{team=\"ads\",model=\"m\",key=\"a1\"} 8",
    ] {
        assert!(metrics.contains(needle), "missing {needle} in\n{metrics}");
    }
}

#[tokio::test]
async fn an_open_api_says_so_at_start_and_a_keyed_one_does_not() {
    let mock = "providers:\n  - {name: mock, type: mock, models: [m]}\n";
    let open = Gateway::start(mock).await;
    let keyed = Gateway::start(&format!(
        "{mock}keys:\n  - {{name: k, key: sk-keyed-0001}}\n"
    ))
    .await;
    let warning = open
        .log_text()
        .lines()
        .find(|l| l.contains("OPEN ACCESS"))
        .map(str::to_owned)
        .expect("the open API is announced");
    assert!(warning.contains("\"level\":\"WARN\""), "{warning}");
    assert!(!keyed.log_text().contains("OPEN ACCESS"));
}

#[tokio::test]
async fn budgets_are_metrics_and_a_key_a_reload_removes_reads_zero() {
    let up = Upstream::start(ok).await;
    let config = |keys: &str| {
        format!(
            "{}reload:\n  debounce: 50ms\npricing:\n  m: {{input_per_million: 1000000, output_per_million: 1000000}}\nteams:\n  - {{name: search, budget_usd: 100}}\nkeys:\n{keys}",
            provider(&up)
        )
    };
    let s2 = "  - {name: s2, key: sk-s2, team: search}\n";
    let mut gw = Gateway::start(&config(&format!(
        "  - {{name: s1, key: sk-s1, team: search, budget_usd: 50}}\n{s2}"
    )))
    .await;
    let via = Via::Tcp(gw.tcp);
    assert_eq!(chat(&via, Some("sk-s1"), "m").await.status, 200);
    settled(&via, "sk-s1", 1).await;
    let metrics = client::get(&via, "/metrics").await.text();
    for needle in [
        "llm_budget_limit_usd{scope=\"key\",name=\"s1\",team=\"search\"} 50",
        "llm_budget_spent_usd{scope=\"key\",name=\"s1\",team=\"search\"} 8",
        "llm_budget_limit_usd{scope=\"team\",name=\"search\",team=\"search\"} 100",
        "llm_budget_spent_usd{scope=\"team\",name=\"search\",team=\"search\"} 8",
    ] {
        assert!(metrics.contains(needle), "missing {needle} in\n{metrics}");
    }
    assert!(
        !metrics.contains("name=\"s2\""),
        "a key without a budget has no budget series"
    );

    // s1 is gone: its series must not keep an alert on its last spend.
    let server = crate::common::gateway::server_yaml(gw.dir.path(), &Default::default());
    std::fs::write(
        gw.dir.path().join("config.yaml"),
        format!("{server}\n{}", config(s2)),
    )
    .unwrap();
    gw.wait_log("config reloaded").await;
    let metrics = client::get(&via, "/metrics").await.text();
    for needle in [
        "llm_budget_limit_usd{scope=\"key\",name=\"s1\",team=\"search\"} 0",
        "llm_budget_spent_usd{scope=\"key\",name=\"s1\",team=\"search\"} 0",
    ] {
        assert!(metrics.contains(needle), "missing {needle} in\n{metrics}");
    }
}
