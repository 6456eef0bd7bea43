//! The dashboard and the alerts against a real Prometheus scraping a real gateway: the gateway
//! serves traffic that touches every metric the dashboard reads (answers, streams, upstream 5xx,
//! unknown models, a full bulkhead, a rate limit, an unreachable Redis, a rejected reload), then
//! every panel's query must parse and return data, every rule must evaluate cleanly, and the
//! reload and error-ratio alerts must fire (with their `for:` cut to 0s).

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::client::{self, Reply, Via};
use crate::common::prometheus::{Prometheus, eventually};
use crate::common::upstream::{Canned, Upstream};
use crate::common::{Gateway, chat_body, free_port};
use crate::dashboard::{dashboard, each_rule, exprs, panels, rules, substitute, variable_query};

/// Panels no test can feed, and why. Keep it short: every other panel must show data.
const NO_DATA_HERE: [(&str, &str); 2] = [
    (
        "Memory working set vs limit",
        "needs the kubelet's cAdvisor (container_* series); the test runs no kubelet",
    ),
    (
        "CPU vs limit",
        "needs the kubelet's cAdvisor (container_* series); the test runs no kubelet",
    ),
];
/// The labels the scrape adds, as a PodMonitor would.
const NAMESPACE: &str = "obs-test";
const POD: &str = "obs-test-0";
/// What Grafana would put in for the dashboard's variables: the labels this test produces.
const VARIABLES: [(&str, &str); 7] = [
    ("namespace", NAMESPACE),
    ("pod", POD),
    ("model", "m1|flaky|broken|other"),
    ("team", "search|none"),
    ("container", "llm-sidecar"),
    ("__range", "1h"),
    ("__rate_interval", "1m"),
];
/// Waits on Prometheus (scrapes and rule evaluations every second).
const PROMETHEUS_WAIT: Duration = Duration::from_secs(30);
const KEY: &str = "sk-obs-search-0001";
const LIMITED_KEY: &str = "sk-obs-search-0002";

fn gateway_config(up: &Upstream) -> String {
    format!(
        "reload:\n  debounce: 50ms\nrouting:\n  retry_count: 0\nproviders:\n  - name: mock\n    type: mock\n    models: [m1]\n    max_concurrency: 1\n    queue_timeout: 50ms\n    mock:\n      chunk_delay: 100ms\n  - name: up\n    base_url: '{}'\n    models: [flaky]\n  - name: dead\n    base_url: 'http://127.0.0.1:{}'\n    models: [broken]\n    health_check: {{path: /health, interval: 1s}}\nlimits:\n  max_inflight_tokens: 1000000\nstore:\n  url: 'redis://127.0.0.1:{}/0'\n  on_error: open\npricing:\n  m1: {{input_per_million: 1000, output_per_million: 1000}}\nteams:\n  - {{name: search, budget_usd: 100}}\nkeys:\n  - {{name: s1, key: {KEY}, team: search, budget_usd: 10}}\n  - {{name: s2, key: {LIMITED_KEY}, team: search, rpm: 1}}\n",
        up.base_url(),
        free_port(),
        free_port(),
    )
}

/// Prometheus scraping the gateway every second, as a PodMonitor would label it.
fn prometheus_config(gateway: &Gateway) -> String {
    format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nrule_files: [rules.json]\nscrape_configs:\n  - job_name: llm-sidecar\n    static_configs:\n      - targets: ['{}']\n        labels: {{namespace: {NAMESPACE}, pod: {POD}, container: llm-sidecar}}\n",
        gateway.tcp
    )
}

/// The shipped rules with every alert's `for:` cut to 0s, so a test need not wait minutes.
fn rules_firing_at_once() -> String {
    let mut rules = rules();
    for group in rules["groups"].as_array_mut().unwrap() {
        for rule in group["rules"].as_array_mut().unwrap() {
            if rule["alert"].is_string() {
                rule["for"] = json!("0s");
            }
        }
    }
    // JSON is YAML: Prometheus reads it as a rules file.
    rules.to_string()
}

async fn chat(via: &Via, key: Option<&str>, model: &str) -> Reply {
    let mut request =
        client::json_request("POST", "/v1/chat/completions", &chat_body(model, false));
    if let Some(key) = key {
        let value = format!("Bearer {key}").parse().unwrap();
        request.headers_mut().insert("authorization", value);
    }
    client::call(via, request).await
}

/// One round of traffic that moves every series the dashboard reads.
async fn wave(via: &Via) {
    for _ in 0..3 {
        assert_eq!(chat(via, Some(KEY), "m1").await.status, 200);
    }
    // A stream holds the mock's only bulkhead slot: the next request is refused with 503.
    let mut request = client::json_request("POST", "/v1/chat/completions", &chat_body("m1", true));
    let bearer = format!("Bearer {KEY}").parse().unwrap();
    request.headers_mut().insert("authorization", bearer);
    let mut stream = client::send(via, request, false).await.into_body();
    assert!(client::next_frame(&mut stream).await.is_some());
    let refused = chat(via, Some(KEY), "m1").await;
    assert_eq!(refused.status, 503, "{}", refused.text());
    while client::next_frame(&mut stream).await.is_some() {}

    for _ in 0..2 {
        let failed = chat(via, Some(KEY), "flaky").await;
        assert!(failed.status.is_server_error(), "{}", failed.status);
    }
    assert!(
        chat(via, Some(KEY), "broken")
            .await
            .status
            .is_server_error()
    );
    assert_eq!(chat(via, Some(KEY), "nope").await.status, 404);
    // rpm 1: the second request of the minute is refused.
    let _ = chat(via, Some(LIMITED_KEY), "m1").await;
    assert_eq!(chat(via, Some(LIMITED_KEY), "m1").await.status, 429);
    assert_eq!(chat(via, None, "m1").await.status, 401);
}

/// Requests the gateway counted so far, from its own `/metrics`.
async fn requests_counted(via: &Via) -> f64 {
    let text = client::get(via, "/metrics").await.text();
    text.lines()
        .filter(|l| l.starts_with("llm_requests_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Waits until Prometheus has scraped everything the gateway counted.
async fn scraped(prom: &Prometheus, via: &Via) {
    let expected = requests_counted(via).await;
    eventually("the requests are scraped", PROMETHEUS_WAIT, || async {
        let result = prom.query("sum(llm_requests_total)").await?;
        let seen = number(result.first().unwrap_or(&Value::Null));
        (seen == Some(expected))
            .then_some(())
            .ok_or(format!("{seen:?} of {expected}"))
    })
    .await;
}

/// A sample's value, when it is a number (not NaN).
fn number(sample: &Value) -> Option<f64> {
    sample["value"][1]
        .as_str()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|v| !v.is_nan())
}

#[tokio::test]
async fn every_panel_and_alert_query_works_against_a_real_prometheus() {
    let up = Upstream::start(|_| {
        Canned::Json(
            500,
            json!({"error": {"message": "upstream broke", "type": "server_error"}}),
        )
    })
    .await;
    let mut gw = Gateway::start(&gateway_config(&up)).await;
    let via = Via::Tcp(gw.tcp);
    let prom = Prometheus::start(
        &prometheus_config(&gw),
        &[("rules.json", rules_firing_at_once())],
    )
    .await;

    // Two rounds, each scraped, so every counter moves between samples and rates are not 0.
    wave(&via).await;
    scraped(&prom, &via).await;
    let config = gw.dir.path().join("config.yaml");
    let good = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{good}\nnot_a_setting: 1\n")).unwrap();
    gw.wait_log("config rejected").await;
    wave(&via).await;
    scraped(&prom, &via).await;

    alerts_fire(&prom).await;
    every_panel_shows_data(&prom).await;
    every_variable_lists_values(&prom).await;
    every_rule_evaluates(&prom).await;
}

/// The reload and error-ratio alerts fire for what went wrong; a healthy gateway is not paged
/// as not ready.
async fn alerts_fire(prom: &Prometheus) {
    let firing = eventually("the alerts fire", PROMETHEUS_WAIT, || async {
        let alerts = prom.alerts().await;
        let firing: BTreeSet<(String, String)> = alerts
            .iter()
            .filter(|a| a["state"] == "firing")
            .map(|a| {
                let labels = &a["labels"];
                let name = labels["alertname"].as_str().unwrap_or_default().to_owned();
                (
                    name,
                    labels["model"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let wanted = [
            ("LLMSidecarConfigReloadFailing".to_owned(), String::new()),
            ("LLMSidecarHighErrorRatio".to_owned(), "flaky".to_owned()),
        ];
        wanted
            .iter()
            .all(|w| firing.contains(w))
            .then_some(firing)
            .ok_or(format!("{alerts:#?}"))
    })
    .await;
    for quiet in ["LLMSidecarNotReady", "LLMSidecarBudgetNearlyExhausted"] {
        assert!(
            firing.iter().all(|(name, _)| name != quiet),
            "{quiet} fires: {firing:?}"
        );
    }
    // Every alert's expression parses and evaluates (most rightly find nothing here).
    for rule in each_rule(&rules()) {
        let expr = rule["expr"].as_str().unwrap();
        if let Err(e) = prom.query(expr).await {
            panic!(
                "{}: {e}\n{expr}",
                rule["alert"].as_str().or(rule["record"].as_str()).unwrap()
            );
        }
    }
}

async fn every_panel_shows_data(prom: &Prometheus) {
    let dashboard = dashboard();
    for (title, _) in NO_DATA_HERE {
        assert!(
            panels(&dashboard).iter().any(|p| p["title"] == title),
            "NO_DATA_HERE names {title:?}, which the dashboard does not have"
        );
    }
    for panel in panels(&dashboard)
        .into_iter()
        .filter(|p| p["type"] != "row")
    {
        let title = panel["title"].as_str().unwrap();
        let exempt = NO_DATA_HERE.iter().find(|(t, _)| *t == title);
        for expr in exprs(panel) {
            let query = substitute(expr, &VARIABLES);
            if let Some((_, why)) = exempt {
                // It must still parse; and once it has data here, it needs no exemption.
                let result = prom
                    .query(&query)
                    .await
                    .unwrap_or_else(|e| panic!("panel {title:?}: {e}\n{query}"));
                assert!(
                    result.is_empty(),
                    "panel {title:?} is exempt ({why}) but has data: drop it from NO_DATA_HERE"
                );
                continue;
            }
            let what = format!("panel {title:?} shows data: {query}");
            eventually(&what, PROMETHEUS_WAIT, || async {
                let result = prom
                    .query(&query)
                    .await
                    .unwrap_or_else(|e| panic!("panel {title:?}: {e}\n{query}"));
                if result.iter().any(|s| number(s).is_some()) {
                    Ok(())
                } else {
                    Err(format!("{result:?}"))
                }
            })
            .await;
        }
    }
}

/// Each `label_values(query, label)` variable finds its label in this test's series.
async fn every_variable_lists_values(prom: &Prometheus) {
    let dashboard = dashboard();
    let variables = dashboard["templating"]["list"].as_array().unwrap();
    for variable in variables.iter().filter(|v| v["type"] == "query") {
        let query = variable_query(variable).unwrap();
        let inner = query
            .strip_prefix("label_values(")
            .and_then(|q| q.strip_suffix(')'))
            .unwrap_or_else(|| panic!("not label_values(…): {query}"));
        let (selector, label) = inner.rsplit_once(',').unwrap();
        let selector = substitute(selector, &VARIABLES);
        let result = prom.query(&selector).await.unwrap();
        assert!(
            result.iter().any(|s| s["metric"][label.trim()].is_string()),
            "variable {}: no {label} in {result:?}",
            variable["name"]
        );
    }
}

/// Every recording and alerting rule evaluated on real data without an error (a many-to-many
/// match, say).
async fn every_rule_evaluates(prom: &Prometheus) {
    let rules = prom.rules().await;
    assert!(rules.len() >= 16, "{rules:?}");
    let broken: Vec<&Value> = rules.iter().filter(|r| r["health"] != "ok").collect();
    assert!(broken.is_empty(), "{broken:#?}");
}
