//! LiteLLM drop-in: real LiteLLM configs from its documentation pass `--check`; a LiteLLM file
//! serves the official OpenAI SDK with its own model names (wildcards and aliases included),
//! with its master key, on the listeners the environment names; `convert` writes our format
//! and LiteLLM's key export becomes `keys:`.

use std::path::Path;

use serde_json::json;

use crate::anthropic::{KEY as ANTHROPIC_KEY, rules};
use crate::common::client::{Via, call, get, json_request};
use crate::common::gateway::run_to_exit;
use crate::common::{Gateway, Upstream, chat_body};
use crate::sdk::{anthropic_answer, openai_answer};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/litellm");
const MASTER_KEY: &str = "sk-litellm-master";

/// A documentation config with its placeholders filled in as a user would, and every
/// `os.environ/` variable it reads given a plausible value.
fn filled(text: &str) -> (String, Vec<(String, String)>) {
    let mut out = text
        .replace("<your-azure-endpoint>", "https://example.openai.azure.com")
        .replace("<your redis host>", "redis.example")
        .replace("your_ollama_api_base", "http://localhost:11434");
    while let Some(start) = out.find('<') {
        let Some(len) = out[start..].find('>') else {
            break;
        };
        out.replace_range(start..=start + len, "filled-in");
    }
    let mut env = Vec::new();
    for name in text.split("os.environ/").skip(1) {
        let name: String = name
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let value = match name.as_str() {
            n if n.contains("BASE") => "https://example.openai.azure.com",
            n if n.contains("PORT") => "6379",
            n if n.contains("HOST") => "redis.example",
            n if n.contains("LOCATION") => "us-central1",
            n if n.contains("REGION") => "us-east-1",
            _ => "filled-in",
        };
        env.push((name, value.to_owned()));
    }
    (out, env)
}

#[test]
fn documentation_configs_pass_check() {
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    let mut failed = Vec::new();
    for entry in std::fs::read_dir(FIXTURES).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let (text, vars) = filled(&std::fs::read_to_string(&path).unwrap());
        let file = dir.path().join(path.file_name().unwrap());
        std::fs::write(&file, text).unwrap();
        let mut env: Vec<(&str, &str)> =
            vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        env.push(("AWS_REGION", "us-east-1"));
        let (code, out) = run_to_exit(&["--config", file.to_str().unwrap(), "--check"], &env);
        if code != 0 {
            failed.push(format!("{}: {out}", path.display()));
        }
        checked += 1;
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
    assert!(checked >= 8, "only {checked} fixtures");
}

/// `text` with every entry whose `model` starts with one of `routes`' prefixes pointed at that
/// fake (an `api_base` line after its `model` line; the documented ones are dropped), and the
/// Redis settings removed (no Redis in this test).
fn point_at(text: &str, routes: &[(&str, String)]) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("api_base:") || trimmed.starts_with("redis_") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
        let Some(model) = trimmed.strip_prefix("model:") else {
            continue;
        };
        let model = model
            .split('#')
            .next()
            .unwrap_or_default()
            .trim()
            .trim_matches('"');
        if let Some((_, url)) = routes
            .iter()
            .find(|(p, _)| model.starts_with(&format!("{p}/")))
        {
            let indent = &line[..line.len() - trimmed.len()];
            out.push_str(&format!("{indent}api_base: {url}\n"));
        }
    }
    out
}

#[tokio::test]
async fn documentation_configs_serve_the_openai_sdk_with_their_model_names() {
    let openai = Upstream::start(openai_answer).await;
    let claude = Upstream::start(rules(anthropic_answer)).await;
    let ollama = Upstream::start(crate::ollama::ollama).await;
    let routes = [
        ("azure", format!("http://{}", openai.addr)),
        ("groq", openai.base_url()),
        ("anthropic", format!("http://{}", claude.addr)),
        ("ollama", format!("http://{}", ollama.addr)),
    ];
    let cases: [(&str, &[&str]); 3] = [
        ("load_balancing.yaml", &["gpt-3.5-turbo", "gpt-4"]),
        ("ollama_aliases.yaml", &["text-davinci-003", "gpt-4"]),
        (
            "wildcard_routing.yaml",
            &["anthropic/claude-sonnet-4-5", "groq/llama3-8b-8192"],
        ),
    ];
    for (fixture, models) in cases {
        let (text, _) =
            filled(&std::fs::read_to_string(Path::new(FIXTURES).join(fixture)).unwrap());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.yaml");
        std::fs::write(&file, point_at(&text, &routes)).unwrap();
        let socket = dir.path().join("llm.sock").display().to_string();
        let gw = Gateway::start_file(
            dir,
            &file,
            vec![
                ("LLM_SIDECAR_TCP", "127.0.0.1:0".to_owned()),
                ("LLM_SIDECAR_SOCKET", socket),
                ("ANTHROPIC_API_KEY", ANTHROPIC_KEY.to_owned()),
                ("GROQ_API_KEY", "gsk-test".to_owned()),
                ("OPENAI_API_KEY", "sk-test".to_owned()),
            ],
        )
        .await;
        for model in models {
            crate::sdk::run(
                "openai_scenarios.py",
                &gw,
                &[("MODEL", model)],
                &["chat", "stream"],
            )
            .await;
        }
    }
    assert!(openai.count() > 0 && claude.count() > 0 && ollama.count() > 0);
}

#[test]
fn unusable_values_are_refused_with_their_path() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "model_list:\n  - model_name: a\n    litellm_params: {model: openai/a, api_key: k}\nlitellm_settings:\n  max_budget: 10\n",
            "litellm_settings.max_budget",
        ),
        (
            "model_list:\n  - model_name: a\n    litellm_params: {model: openai/a, api_key: k}\nproviders: []\n",
            "mixes LiteLLM keys",
        ),
    ];
    for (text, want) in cases {
        let file = dir.path().join("bad.yaml");
        std::fs::write(&file, text).unwrap();
        let (code, out) = run_to_exit(&["--config", file.to_str().unwrap(), "--check"], &[]);
        assert_eq!(code, 64, "{out}");
        assert!(out.contains(want), "{text}: {out}");
    }
}

fn litellm_config(openai: &Upstream, claude: &Upstream) -> String {
    format!(
        r#"model_list:
  - model_name: gpt-4o
    litellm_params:
      model: openai/gpt-4o
      api_base: {oa}
      api_key: os.environ/UPSTREAM_OPENAI_KEY
      rpm: 600
    model_info:
      input_cost_per_token: 0.0000025
      output_cost_per_token: 0.00001
  - model_name: text-embedding-3-small
    litellm_params:
      model: openai/text-embedding-3-small
      api_base: {oa}
      api_key: os.environ/UPSTREAM_OPENAI_KEY
  - model_name: "anthropic/*"
    litellm_params:
      model: "anthropic/*"
      api_base: http://{claude}
      api_key: "{ANTHROPIC_KEY}"
router_settings:
  routing_strategy: simple-shuffle
  num_retries: 1
  model_group_alias: {{"gpt-4": "gpt-4o"}}
litellm_settings:
  drop_params: true
  callbacks: ["prometheus"]
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
environment_variables:
  UPSTREAM_OPENAI_KEY: sk-upstream
"#,
        oa = openai.base_url(),
        claude = claude.addr,
    )
}

async fn start(config: &str) -> Gateway {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.yaml");
    std::fs::write(&file, config).unwrap();
    let socket = dir.path().join("llm.sock").display().to_string();
    Gateway::start_file(
        dir,
        &file,
        vec![
            ("LLM_SIDECAR_TCP", "127.0.0.1:0".to_owned()),
            ("LLM_SIDECAR_SOCKET", socket),
            ("LITELLM_MASTER_KEY", MASTER_KEY.to_owned()),
        ],
    )
    .await
}

#[tokio::test]
async fn a_litellm_config_serves_the_openai_sdk_with_its_model_names() {
    let openai = Upstream::start(openai_answer).await;
    let claude = Upstream::start(rules(anthropic_answer)).await;
    let gw = start(&litellm_config(&openai, &claude)).await;
    let key = [("LLM_SIDECAR_CLIENT_KEY", MASTER_KEY)];
    for (model, scenarios) in [
        (
            "gpt-4o",
            &[
                "chat",
                "stream",
                "stream_usage",
                "tools",
                "embeddings",
                "models",
            ][..],
        ),
        ("gpt-4", &["chat", "stream"][..]),
        (
            "anthropic/claude-sonnet-4-5",
            &["chat", "stream", "tools"][..],
        ),
    ] {
        let env = [key[0], ("MODEL", model)];
        crate::sdk::run("openai_scenarios.py", &gw, &env, scenarios).await;
    }
    let upstream_keys: Vec<_> = openai
        .requests
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.header("authorization").map(str::to_owned))
        .collect();
    assert!(
        upstream_keys
            .iter()
            .all(|k| k.as_deref() == Some("Bearer sk-upstream")),
        "environment_variables supplied the upstream key: {upstream_keys:?}"
    );
    let claude_models: Vec<_> = claude
        .requests
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.json()["model"].clone())
        .collect();
    assert!(
        claude_models.iter().all(|m| m == "claude-sonnet-4-5"),
        "the wildcard sends the remainder upstream: {claude_models:?}"
    );
    assert!(
        !gw.log_text().contains("config loaded with a warning"),
        "drop_params and the prometheus callback are accepted without a word: {}",
        gw.log_text()
    );
}

#[tokio::test]
async fn litellm_surfaces_model_info_probes_and_the_cost_header() {
    let openai = Upstream::start(openai_answer).await;
    let claude = Upstream::start(rules(anthropic_answer)).await;
    let gw = start(&litellm_config(&openai, &claude)).await;
    let via = Via::Unix(gw.unix.clone());
    let authed = |method: &str, path: &str, body: &serde_json::Value| {
        let mut request = json_request(method, path, body);
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {MASTER_KEY}").parse().unwrap(),
        );
        request
    };
    let anonymous = call(
        &via,
        json_request("POST", "/v1/chat/completions", &chat_body("gpt-4o", false)),
    )
    .await;
    assert_eq!(anonymous.status, 401, "the master key is required");
    let reply = call(
        &via,
        authed("POST", "/v1/chat/completions", &chat_body("gpt-4o", false)),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let cost: f64 = reply
        .header("x-litellm-response-cost")
        .expect("cost header")
        .parse()
        .unwrap();
    // 9 prompt tokens at $2.50/M and 2 completion tokens at $10/M, in whole micro-dollars.
    assert!(
        (cost - (9.0 * 2.5 + 2.0 * 10.0) / 1e6).abs() <= 1e-6,
        "{cost}"
    );

    let info = call(&via, authed("GET", "/v1/model/info", &json!(null))).await;
    assert_eq!(info.status, 200, "{}", info.text());
    let body = info.json();
    let names: Vec<_> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["model_name"].as_str().unwrap().to_owned(),
                e["litellm_params"]["model"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        names.contains(&("gpt-4o".into(), "openai/gpt-4o".into())),
        "{names:?}"
    );
    assert!(
        names.contains(&("gpt-4".into(), "openai/gpt-4o".into())),
        "{names:?}"
    );
    assert!(
        names.contains(&("anthropic/*".into(), "anthropic/*".into())),
        "{names:?}"
    );
    assert!(!info.text().contains("sk-upstream") && !info.text().contains(ANTHROPIC_KEY));

    for probe in ["/health/liveliness", "/health/readiness"] {
        let reply = get(&via, probe).await;
        assert_eq!(reply.status, 200, "{probe}");
    }
    assert_eq!(
        gw.tcp.ip().to_string(),
        "127.0.0.1",
        "LLM_SIDECAR_TCP names the listener"
    );
}

#[test]
fn convert_writes_our_format_and_lists_what_it_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let (text, vars) = filled(
        &std::fs::read_to_string(Path::new(FIXTURES).join("proxy_server_config.yaml")).unwrap(),
    );
    let input = dir.path().join("litellm.yaml");
    std::fs::write(&input, text).unwrap();
    let output = dir.path().join("native.yaml");
    let (code, out) = run_to_exit(
        &[
            "convert",
            "--from",
            "litellm",
            input.to_str().unwrap(),
            "-o",
            output.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}");
    let converted = std::fs::read_to_string(&output).unwrap();
    assert!(
        converted.contains("# Dropped or approximated:"),
        "{converted}"
    );
    assert!(
        converted.contains("sagemaker"),
        "the skipped entry is named"
    );
    assert!(
        converted.contains("${AZURE_API_KEY}"),
        "references stay references"
    );
    assert!(converted.contains("name: anthropic/*"), "{converted}");
    let env: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (code, out) = run_to_exit(&["--config", output.to_str().unwrap(), "--check"], &env);
    assert_eq!(code, 0, "the converted file loads: {out}");

    let export = dir.path().join("keys.json");
    std::fs::write(
        &export,
        json!({"keys": [{"token": "a".repeat(64), "key_alias": "web", "team_id": "search", "models": ["gpt-4o"], "max_budget": 5.0, "budget_duration": "30d"}]}).to_string(),
    )
    .unwrap();
    let (code, out) = run_to_exit(
        &[
            "convert",
            "--from",
            "litellm-keys",
            export.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("key_sha256: {}", "a".repeat(64))),
        "{out}"
    );
    assert!(
        out.contains("teams:") && out.contains("name: search"),
        "{out}"
    );
}

#[tokio::test]
async fn a_litellm_file_hot_reloads_and_a_bad_edit_keeps_the_old_routes() {
    let openai = Upstream::start(openai_answer).await;
    let claude = Upstream::start(rules(anthropic_answer)).await;
    let config = litellm_config(&openai, &claude);
    let mut gw = start(&config).await;
    let path = gw.dir.path().join("config.yaml");
    let via = Via::Unix(gw.unix.clone());
    let models = |reply: crate::common::client::Reply| -> Vec<String> {
        reply.json()["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let list = || {
        let mut request = json_request("GET", "/v1/models", &json!(null));
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {MASTER_KEY}").parse().unwrap(),
        );
        call(&via, request)
    };
    let added = config.replace(
        "router_settings:",
        "  - model_name: gpt-4o-mini\n    litellm_params:\n      model: openai/gpt-4o-mini\n      api_base: http://127.0.0.1:9/v1\n      api_key: k\nrouter_settings:",
    );
    std::fs::write(&path, &added).unwrap();
    gw.signal("HUP");
    gw.wait_log("config reloaded").await;
    assert!(models(list().await).contains(&"gpt-4o-mini".to_owned()));

    std::fs::write(
        &path,
        added.replace("num_retries: 1", "num_retries: 1\n  max_budget: 5"),
    )
    .unwrap();
    gw.signal("HUP");
    let line = gw.wait_log("config rejected").await;
    assert!(line.contains("max_budget"), "{line}");
    assert!(models(list().await).contains(&"gpt-4o-mini".to_owned()));
}
