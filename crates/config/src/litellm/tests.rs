//! The translation, checked through `config::parse` (what a user loading the file gets) and
//! through `convert` (what they get writing it out).

use crate as config;
use crate::litellm;

fn load(text: &str) -> config::Config {
    match config::parse(text, None) {
        Ok(config) => config,
        Err(e) => panic!("{e}\n{text}"),
    }
}

const LOAD_BALANCED: &str = r#"
model_list:
  - model_name: gpt-4o
    litellm_params:
      model: azure/gpt-4o-eu
      api_base: https://eu.openai.azure.com
      api_key: sk-azure
      api_version: "2024-10-21"
      rpm: 900
  - model_name: gpt-4o
    litellm_params:
      model: openai/gpt-4o
      api_key: sk-openai
      rpm: 100
  - model_name: gpt-4o-mini
    litellm_params:
      model: openai/gpt-4o-mini
      api_key: sk-openai
    model_info:
      id: mini-1
      input_cost_per_token: 0.00000015
      output_cost_per_token: 0.0000006
  - model_name: "anthropic/*"
    litellm_params:
      model: "anthropic/*"
      api_key: sk-ant
router_settings:
  routing_strategy: simple-shuffle
  num_retries: 3
  timeout: 30
  allowed_fails: 2
  cooldown_time: 10
  fallbacks: [{"gpt-4o": ["gpt-4o-mini"]}]
  model_group_alias: {"gpt-4": "gpt-4o", "old": {"model": "gpt-4o-mini", "hidden": true}}
general_settings:
  master_key: sk-master
  alerting: ["slack"]
litellm_settings:
  drop_params: true
  callbacks: ["prometheus", "langfuse"]
"#;

#[test]
fn model_list_becomes_groups_and_shared_providers() {
    let config = load(LOAD_BALANCED);
    let providers: Vec<_> = config
        .raw
        .providers
        .iter()
        .map(|p| (p.name.as_str(), p.kind()))
        .collect();
    use crate::schema::ProviderKind::*;
    assert_eq!(
        providers,
        [
            ("azure", Azure),
            ("openai", Openai),
            ("anthropic", Anthropic)
        ],
        "the two OpenAI entries share one provider"
    );
    let groups: Vec<_> = config
        .groups
        .iter()
        .map(|g| (g.name.as_str(), g.deployments.len()))
        .collect();
    assert_eq!(
        groups,
        [("gpt-4o", 2), ("gpt-4o-mini", 1), ("anthropic/*", 1)]
    );
    let gpt4o = &config.raw.models[0];
    assert_eq!(gpt4o.strategy, config::schema::Strategy::Weighted);
    let weights: Vec<_> = gpt4o.deployments.iter().map(|d| d.weight).collect();
    assert_eq!(weights, [900, 100], "simple-shuffle weighs by rpm");
    assert_eq!(gpt4o.fallbacks, ["gpt-4o-mini"]);
    assert_eq!(
        config.raw.models[2].deployments[0].model.as_deref(),
        Some("*")
    );
    let aliases: Vec<_> = config
        .raw
        .models
        .iter()
        .flat_map(|m| m.aliases.iter().map(|a| (a.name(), a.hidden())))
        .collect();
    assert_eq!(aliases, [("gpt-4", false), ("old", true), ("mini-1", true)]);
    let routing = &config.raw.routing;
    assert_eq!(routing.retry_count, 3);
    assert_eq!(routing.timeout, std::time::Duration::from_secs(30));
    assert_eq!(routing.circuit_breaker.failure_threshold, 3);
    assert_eq!(
        routing.circuit_breaker.open_for,
        std::time::Duration::from_secs(10)
    );
    assert_eq!(
        config.raw.auth.master_key.as_ref().map(|k| k.expose()),
        Some("sk-master")
    );
    let price = &config.raw.pricing["gpt-4o-mini"];
    assert!((price.input_per_million - 0.15).abs() < 1e-9);
    assert!((price.output_per_million - 0.6).abs() < 1e-9);
    let warnings = config.warnings.join("\n");
    assert!(warnings.contains("general_settings.alerting"), "{warnings}");
    assert!(
        warnings.contains("litellm_settings.callbacks: langfuse"),
        "{warnings}"
    );
    assert!(!warnings.contains("prometheus"), "{warnings}");
    assert_eq!(
        config.listeners.tcp.map(|a| a.to_string()).as_deref(),
        Some(litellm::DEFAULT_TCP)
    );
}

#[test]
fn environment_references_and_defaults() {
    // SAFETY-free: tests read variables that are set for every test process (PATH) or never.
    let text = r#"
environment_variables:
  LLM_SIDECAR_TEST_DEFAULTED: from-the-file
model_list:
  - model_name: a
    litellm_params:
      model: openai/a
      api_key: os.environ/LLM_SIDECAR_TEST_DEFAULTED
  - model_name: b
    litellm_params:
      model: openai/b
      api_base: http://127.0.0.1:9/v1
      api_key: os.environ/LLM_SIDECAR_TEST_NEVER_SET
"#;
    let config = load(text);
    let keys: Vec<_> = config
        .raw
        .providers
        .iter()
        .map(|p| p.api_key.as_ref().map(|k| k.expose().to_owned()))
        .collect();
    assert_eq!(keys, [Some("from-the-file".to_owned()), None]);
    assert!(
        config
            .warnings
            .iter()
            .any(|w| w.contains("LLM_SIDECAR_TEST_NEVER_SET is not set")),
        "{:?}",
        config.warnings
    );
}

#[test]
fn refuses_budgets_and_mixed_files_and_names_what_it_skips() {
    let cases = [
        (
            "model_list: []\nlitellm_settings:\n  max_budget: 100\n",
            "litellm_settings.max_budget",
        ),
        (
            "model_list:\n  - model_name: a\n    litellm_params: {model: openai/a, max_budget: 5}\n",
            "model_list[0].litellm_params.max_budget",
        ),
        ("model_list: []\nproviders: []\n", "mixes LiteLLM keys"),
        (
            "model_list: []\ngeneral_settings:\n  master_key: os.environ/LLM_SIDECAR_TEST_NEVER_SET\n",
            "master_key: environment variable",
        ),
    ];
    for (text, want) in cases {
        let err = config::parse(text, None).unwrap_err().to_string();
        assert!(err.contains(want), "{text}: {err}");
    }
    let config = load(
        "model_list:\n  - model_name: s\n    litellm_params: {model: sagemaker/x}\n  - model_name: ok\n    litellm_params: {model: openai/ok, api_key: k}\n",
    );
    assert_eq!(config.groups.len(), 1);
    assert!(config.warnings[0].contains("`s`) skipped: provider `sagemaker`"));
}

#[test]
fn converting_then_loading_routes_the_same() {
    let converted = config::convert_litellm(LOAD_BALANCED, "config.yaml").unwrap();
    assert!(converted.starts_with("# Converted from the LiteLLM config config.yaml"));
    assert!(converted.contains("#   - "), "{converted}");
    let direct = load(LOAD_BALANCED);
    // The converted file has no listeners (a native config names its own); add the same.
    let native = load(&format!(
        "{converted}server:\n  listen: {{tcp: \"{}\"}}\n",
        litellm::DEFAULT_TCP
    ));
    assert_eq!(direct.groups, native.groups);
    assert_eq!(direct.raw.models, native.raw.models);
    assert_eq!(direct.raw.routing, native.raw.routing);
    assert_eq!(direct.raw.pricing, native.raw.pricing);
    assert_eq!(direct.listeners, native.listeners);
    assert!(native.warnings.is_empty());
}
