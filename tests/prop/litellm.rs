//! LiteLLM configs: a documentation-shaped config with nodes replaced, removed or added loads
//! or is refused with a message, and converts or is refused, never panics; a model name a
//! client sends through a pattern group reaches the upstream as exactly the part the `*`
//! matched.

use std::sync::LazyLock;

use llm_sidecar::config::{self, pattern};
use proptest::prelude::*;
use serde_yaml::Value;

use crate::config::{MAX_EDITS, apply, check_error, edit};
use crate::support::config;

/// Every translated section: load balancing, wildcards, aliases, fallbacks, each provider
/// family, Redis, the master key, environment references with defaults.
const SEED: &str = r#"
model_list:
  - model_name: gpt-4o
    litellm_params: {model: azure/gpt-4o-eu, api_base: "https://eu.openai.azure.com", api_key: os.environ/AZURE_KEY, rpm: 6, api_version: "2024-10-21"}
  - model_name: gpt-4o
    litellm_params: {model: openai/gpt-4o, api_key: sk-x, organization: org-1, timeout: 30, stream_timeout: 5}
    model_info: {id: gpt4o-openai, input_cost_per_token: 0.0000025, output_cost_per_token: 0.00001}
  - model_name: "anthropic/*"
    litellm_params: {model: "anthropic/*", api_key: sk-ant}
  - model_name: "*"
    litellm_params: {model: "openai/*", api_key: sk-x}
  - model_name: llama
    litellm_params: {model: bedrock/converse/meta.llama3-8b, aws_region_name: us-east-1, aws_role_name: "arn:aws:iam::1:role/r"}
  - model_name: local
    litellm_params: {model: ollama_chat/llama3, api_base: "http://127.0.0.1:11434", max_parallel_requests: 4}
  - model_name: groq
    litellm_params: {model: groq/llama3-8b, api_key: g, extra_headers: {x-a: b}}
router_settings:
  routing_strategy: usage-based-routing-v2
  num_retries: 2
  timeout: 30
  retry_after: 1
  allowed_fails: 3
  cooldown_time: 30
  fallbacks: [{gpt-4o: [llama]}]
  context_window_fallbacks: [{gpt-4o: [groq]}]
  default_fallbacks: [local]
  model_group_alias: {gpt-4: gpt-4o, old: {model: local, hidden: true}}
  redis_host: redis.local
  redis_port: 6379
  redis_password: os.environ/REDIS_PASSWORD
litellm_settings:
  drop_params: true
  callbacks: [prometheus, langfuse]
general_settings:
  master_key: sk-master
environment_variables:
  AZURE_KEY: from-the-file
  REDIS_PASSWORD: secret
"#;

static SEED_TREE: LazyLock<Value> = LazyLock::new(|| serde_yaml::from_str(SEED).unwrap());

#[test]
fn the_seed_loads_and_converts() {
    if let Err(error) = config::parse(SEED, None) {
        panic!("{error}");
    }
    config::convert_litellm(SEED, "seed.yaml").unwrap();
}

proptest! {
    #![proptest_config(config())]

    /// The LiteLLM config with a few nodes replaced, removed or added never panics, in loading
    /// or converting.
    #[test]
    fn an_edited_litellm_config_loads_or_fails_cleanly(edits in prop::collection::vec(edit(), 1..=MAX_EDITS)) {
        let mut doc = SEED_TREE.clone();
        for edit in &edits {
            apply(&mut doc, edit);
        }
        let text = serde_yaml::to_string(&doc).unwrap();
        if let Err(error) = config::parse(&text, None) {
            check_error(&error)?;
        }
        if let Err(error) = config::convert_litellm(&text, "edited.yaml") {
            check_error(&error)?;
        }
    }

    /// Any name under a pattern's prefix is captured whole and substituted for the `*`.
    #[test]
    fn a_pattern_passes_the_remainder_upstream(prefix in "[a-z_]{0,8}/?", rest in any::<String>(), head in "[a-z/]{0,4}", tail in "[a-z-]{0,4}") {
        let model = format!("{prefix}{rest}");
        let captured = pattern::capture(&prefix, &model);
        prop_assert_eq!(captured, Some(rest.as_str()));
        let upstream = pattern::substitute(&format!("{head}*{tail}"), &rest);
        prop_assert_eq!(upstream, format!("{head}{rest}{tail}"));
        let name = format!("{prefix}*");
        prop_assert!(pattern::check(&name).is_ok(), "{}", name);
    }
}
