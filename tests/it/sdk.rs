//! The official OpenAI (and, for the Messages API, Anthropic) Python SDKs as clients, over the
//! Unix socket with an httpx2 UDS transport, against mock upstreams that enforce each API's
//! rules. `make test` installs the SDKs into a venv and points `LLM_SIDECAR_PYTHON` at it.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use crate::anthropic::{KEY as ANTHROPIC_KEY, rules};
use crate::common::fixtures;
use crate::common::upstream::{self, Canned, Recorded};
use crate::common::{Gateway, Upstream};

/// The Python with the SDKs: `LLM_SIDECAR_PYTHON`, else the venv `make test` creates.
pub fn python() -> PathBuf {
    let candidate = std::env::var_os("LLM_SIDECAR_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_default();
            home.join(".cache/llm-sidecar/venv/bin/python")
        });
    assert!(
        candidate.exists(),
        "{} not found: run `make test` (it installs the SDK venv) or set LLM_SIDECAR_PYTHON",
        candidate.display()
    );
    candidate
}

/// Runs `script` with `scenarios` against the gateway's socket; fails the test with its output.
pub async fn run(script: &str, gw: &Gateway, env: &[(&str, &str)], scenarios: &[&str]) {
    let path = format!("{}/tests/sdk/{script}", env!("CARGO_MANIFEST_DIR"));
    let mut command = tokio::process::Command::new(python());
    command
        .arg(path)
        .args(scenarios)
        .env("LLM_SIDECAR_SOCKET", &gw.unix);
    for (k, v) in env {
        command.env(k, v);
    }
    let out = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        out.status.success(),
        "{script} {scenarios:?} failed:\n{}{}\ngateway log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        gw.log_text()
    );
}

fn wants_tool_call(body: &Value) -> bool {
    let last_role = body["messages"]
        .as_array()
        .and_then(|m| m.last())
        .map(|m| m["role"].clone());
    body.get("tools").is_some() && last_role == Some(json!("user"))
}

/// An OpenAI upstream: text, streams (with usage when asked), tool calls, embeddings.
pub(crate) fn openai_answer(r: &Recorded) -> Canned {
    let body = r.json();
    if r.path.ends_with("/embeddings") {
        let n = body["input"].as_array().map_or(1, Vec::len);
        return Canned::Json(200, upstream::embeddings("text-embedding-3-small", n));
    }
    if wants_tool_call(&body) {
        return Canned::Json(200, fixtures::json("openai/chat_response_tool_calls.json"));
    }
    if body["stream"] == true {
        let usage = (body["stream_options"]["include_usage"] == true).then_some((9, 2));
        return Canned::Sse(
            upstream::chat_stream(&["Hel", "lo!"], usage),
            Duration::ZERO,
        );
    }
    Canned::Json(200, upstream::chat_completion("gpt-4o", "Hello!", 9, 2))
}

/// An Anthropic upstream with the same repertoire.
pub(crate) fn anthropic_answer(r: &Recorded) -> Canned {
    let body = r.json();
    if r.path.ends_with("/count_tokens") {
        return Canned::Json(200, json!({"input_tokens": 14}));
    }
    if body["stream"] == true {
        return Canned::Sse(
            fixtures::sse_events("anthropic/messages_stream_text.sse"),
            Duration::ZERO,
        );
    }
    if wants_tool_call(&body) {
        let mut answer = fixtures::json("anthropic/messages_response_tool_use.json");
        answer["content"][1]["name"] = json!("get_current_weather");
        return Canned::Json(200, answer);
    }
    Canned::Json(200, fixtures::json("anthropic/messages_response_text.json"))
}

/// A gateway in front of one mock upstream per provider type; each mock enforces its API's
/// rules (see the provider's own test module).
pub(crate) struct Upstreams {
    oa: Upstream,
    claude: Upstream,
    gemini: Upstream,
    ollama: Upstream,
}

pub(crate) async fn gateway() -> (Upstreams, Gateway) {
    let ups = Upstreams {
        oa: Upstream::start(openai_answer).await,
        claude: Upstream::start(rules(anthropic_answer)).await,
        gemini: Upstream::start(crate::gemini::mock_gemini).await,
        ollama: Upstream::start(crate::ollama::ollama).await,
    };
    let gw = Gateway::start(&format!(
        "providers:
  - {{name: oa, base_url: '{}', api_key: sk-upstream, models: [gpt-4o, text-embedding-3-small]}}
  - {{name: claude, type: anthropic, api_key: {ANTHROPIC_KEY}, base_url: 'http://{}', models: [claude-sonnet-4-5]}}
  - {{name: g, type: gemini, api_key: {}, base_url: 'http://{}', models: [gemini-2.5-flash]}}
  - {{name: local, type: ollama, base_url: 'http://{}'}}
models:
  - {{name: llama, deployments: [{{provider: local, model: llama3.2}}]}}
",
        ups.oa.base_url(),
        ups.claude.addr,
        crate::gemini::KEY,
        ups.gemini.addr,
        ups.ollama.addr,
    ))
    .await;
    (ups, gw)
}

#[tokio::test]
async fn the_openai_sdk_against_an_openai_upstream() {
    let (Upstreams { oa, .. }, gw) = gateway().await;
    let scenarios = [
        "chat",
        "stream",
        "stream_usage",
        "tools",
        "embeddings",
        "models",
        "errors",
    ];
    run(
        "openai_scenarios.py",
        &gw,
        &[("MODEL", "gpt-4o")],
        &scenarios,
    )
    .await;
    assert!(
        oa.requests
            .lock()
            .unwrap()
            .iter()
            .all(|r| r.header("authorization") == Some("Bearer sk-upstream"))
    );
}

#[tokio::test]
async fn the_openai_sdk_against_an_anthropic_upstream() {
    let (Upstreams { claude, .. }, gw) = gateway().await;
    run(
        "openai_scenarios.py",
        &gw,
        &[("MODEL", "claude-sonnet-4-5")],
        &["chat", "stream", "stream_usage", "tools", "models"],
    )
    .await;
    assert!(claude.count() >= 5);
}

#[tokio::test]
async fn the_anthropic_sdk_against_an_anthropic_upstream() {
    let (Upstreams { claude, .. }, gw) = gateway().await;
    let scenarios = ["create", "stream", "tools", "count_tokens", "errors"];
    run(
        "anthropic_scenarios.py",
        &gw,
        &[("MODEL", "claude-sonnet-4-5")],
        &scenarios,
    )
    .await;
    assert!(
        claude
            .requests
            .lock()
            .unwrap()
            .iter()
            .all(|r| r.header("x-api-key") == Some(ANTHROPIC_KEY))
    );
}

#[tokio::test]
async fn the_anthropic_sdk_against_an_openai_upstream() {
    let (Upstreams { oa, .. }, gw) = gateway().await;
    run(
        "anthropic_scenarios.py",
        &gw,
        &[("MODEL", "gpt-4o")],
        &["create", "stream", "tools", "count_tokens"],
    )
    .await;
    assert!(oa.count() >= 4);
}

#[tokio::test]
async fn the_openai_sdk_against_gemini_and_ollama_upstreams() {
    let (Upstreams { gemini, ollama, .. }, gw) = gateway().await;
    let scenarios = ["chat", "stream", "stream_usage", "tools"];
    run(
        "openai_scenarios.py",
        &gw,
        &[("MODEL", "gemini-2.5-flash")],
        &scenarios,
    )
    .await;
    run(
        "openai_scenarios.py",
        &gw,
        &[("MODEL", "llama")],
        &scenarios,
    )
    .await;
    assert!(gemini.count() >= 5 && ollama.count() >= 5);
}

#[tokio::test]
async fn the_openai_sdk_speaks_responses_to_gemini_and_ollama() {
    let (Upstreams { gemini, ollama, .. }, gw) = gateway().await;
    let scenarios = ["create", "stream", "tools", "chain", "tool_chain"];
    for model in ["gemini-2.5-flash", "llama"] {
        run(
            "responses_scenarios.py",
            &gw,
            &[("MODEL", model)],
            &scenarios,
        )
        .await;
    }
    assert!(gemini.count() >= 4 && ollama.count() >= 4);
}
