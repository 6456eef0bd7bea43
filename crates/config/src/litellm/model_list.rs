//! `model_list:` → `providers:` and model groups. Entries sharing a `model_name` form one group;
//! entries whose upstream settings are identical share one provider (one connection pool, one
//! bulkhead). Costs per token become our prices per million tokens.

use std::collections::BTreeMap;

use serde_yaml::{Mapping, Value};

use super::route::{Route, route};
use super::values::{self, Resolved};
use super::{Ctx, set};
use crate::{ConfigError, pattern};

/// `litellm_params` keys this translation reads (everything else is listed as ignored).
const PARAMS: [&str; 28] = [
    "model",
    "custom_llm_provider",
    "api_base",
    "base_url",
    "api_key",
    "api_version",
    "organization",
    "rpm",
    "tpm",
    "weight",
    "timeout",
    "stream_timeout",
    "max_parallel_requests",
    "aws_region_name",
    "aws_role_name",
    "aws_session_name",
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "aws_bedrock_runtime_endpoint",
    "vertex_project",
    "vertex_location",
    "vertex_ai_project",
    "vertex_ai_location",
    "vertex_credentials",
    "extra_headers",
    "input_cost_per_token",
    "output_cost_per_token",
];
/// `model_info` keys that are descriptions only (accepted without a word).
const INFO: [&str; 8] = [
    "id",
    "mode",
    "base_model",
    "description",
    "db_model",
    "input_cost_per_token",
    "output_cost_per_token",
    "max_tokens",
];
/// Keys that spend money on LiteLLM's own accounting: refused rather than ignored.
const BUDGET_KEYS: [&str; 2] = ["max_budget", "budget_duration"];
/// Default `api_version` of Azure entries without one (LiteLLM reads `AZURE_API_VERSION`).
const AZURE_API_VERSION: &str = "${AZURE_API_VERSION:-2024-10-21}";
/// LiteLLM's costs are per token, ours per million.
const TOKENS_PER_MILLION: f64 = 1_000_000.0;

/// What `model_list` became.
#[derive(Default)]
pub(crate) struct Models {
    /// Providers by name, in order of first use.
    pub providers: Vec<(String, Mapping)>,
    /// Model groups: name and deployments, in order of first appearance.
    pub groups: Vec<(String, Vec<Value>)>,
    /// Prices by upstream model.
    pub pricing: Mapping,
    /// `model_info.id` of entries → their group (a fallback may name a deployment by id).
    pub ids: BTreeMap<String, String>,
}

/// Translates `model_list`.
pub(crate) fn translate(list: Option<&Value>, ctx: &mut Ctx<'_>) -> Result<Models, ConfigError> {
    let mut models = Models::default();
    let Some(list) = list else {
        return Ok(models);
    };
    let entries = list
        .as_sequence()
        .ok_or_else(|| ConfigError::whole("model_list: must be a list of models"))?;
    for (i, entry) in entries.iter().enumerate() {
        entry_of(i, entry, ctx, &mut models)?;
    }
    Ok(models)
}

/// One `model_list[]` entry; an entry we cannot serve is skipped with a warning, so the rest of
/// the file still serves.
fn entry_of(
    i: usize,
    entry: &Value,
    ctx: &mut Ctx<'_>,
    models: &mut Models,
) -> Result<(), ConfigError> {
    let at = format!("model_list[{i}]");
    let name = entry
        .get("model_name")
        .and_then(values::scalar_text)
        .ok_or_else(|| ConfigError::whole(format!("{at}.model_name: required")))?;
    let empty = Mapping::new();
    let params = entry
        .get("litellm_params")
        .and_then(Value::as_mapping)
        .ok_or_else(|| ConfigError::whole(format!("{at}.litellm_params: required")))?;
    let info = entry
        .get("model_info")
        .and_then(Value::as_mapping)
        .unwrap_or(&empty);
    refuse_budgets(params, &format!("{at}.litellm_params"))?;
    let model = params
        .get("model")
        .and_then(values::scalar_text)
        .ok_or_else(|| ConfigError::whole(format!("{at}.litellm_params.model: required")))?;
    let custom = params.get("custom_llm_provider").and_then(Value::as_str);
    let route = match route(&model, custom) {
        Ok(route) => route,
        Err(why) => {
            ctx.warnings.push(format!("{at} (`{name}`) skipped: {why}"));
            return Ok(());
        }
    };
    if let Err(why) = pattern::check(&name) {
        ctx.warnings.push(format!("{at} skipped: {why}"));
        return Ok(());
    }
    if let Some(note) = &route.note {
        ctx.warnings.push(format!("{at}: {note}"));
    }
    note_ignored(entry, params, info, &at, ctx);
    let provider = provider_of(&route, params, &at, ctx);
    let provider_name = share(&mut models.providers, route.kind, provider);
    let deployment = deployment(entry, params, &provider_name, &route);
    match models.groups.iter_mut().find(|(group, _)| *group == name) {
        Some((_, deployments)) => deployments.push(deployment),
        None => models.groups.push((name.clone(), vec![deployment])),
    }
    if let Some(id) = info.get("id").and_then(values::scalar_text) {
        models.ids.insert(id, name);
    }
    price(params, info, &route, &mut models.pricing);
    Ok(())
}

/// Budgets are LiteLLM's spend accounting: running without them would spend without the limit
/// the file asks for, so a file with them is refused with where to put them instead.
fn refuse_budgets(map: &Mapping, at: &str) -> Result<(), ConfigError> {
    match BUDGET_KEYS.iter().find(|k| map.contains_key(**k)) {
        Some(key) => Err(ConfigError::whole(format!(
            "{at}.{key}: LiteLLM budgets are not translated (they would be ignored and the money spent); set `budget_usd` and `budget_period` on keys or teams in llm-sidecar's format, or remove it"
        ))),
        None => Ok(()),
    }
}

/// Lists the keys of an entry this translation does not read.
fn note_ignored(entry: &Value, params: &Mapping, info: &Mapping, at: &str, ctx: &mut Ctx<'_>) {
    let known_entry = ["model_name", "litellm_params", "model_info", "rpm", "tpm"];
    if let Some(map) = entry.as_mapping() {
        for key in map.keys().filter_map(Value::as_str) {
            if !known_entry.contains(&key) {
                ctx.ignored.push(format!("{at}.{key}"));
            }
        }
    }
    for key in params.keys().filter_map(Value::as_str) {
        if !PARAMS.contains(&key) {
            ctx.ignored.push(format!("{at}.litellm_params.{key}"));
        }
    }
    for key in info.keys().filter_map(Value::as_str) {
        if !INFO.contains(&key) {
            ctx.ignored.push(format!("{at}.model_info.{key}"));
        }
    }
}

/// The provider an entry needs, as our `providers[]` entry (without its name).
fn provider_of(route: &Route, params: &Mapping, at: &str, ctx: &mut Ctx<'_>) -> Mapping {
    let mut provider = Mapping::new();
    set(&mut provider, "type", route.kind);
    let base = params.get("api_base").or_else(|| params.get("base_url"));
    match base.and_then(|v| text(v, &format!("{at}.litellm_params.api_base"), ctx)) {
        Some(base) => set(&mut provider, "base_url", base),
        None => {
            if let Some(base) = route.base_url {
                set(&mut provider, "base_url", base);
            }
        }
    }
    copy_text(params, "api_key", &mut provider, "api_key", at, ctx);
    match route.kind {
        "azure" => {
            let version = params
                .get("api_version")
                .and_then(|v| text(v, &format!("{at}.litellm_params.api_version"), ctx));
            set(
                &mut provider,
                "api_version",
                version.unwrap_or_else(|| AZURE_API_VERSION.to_owned()),
            );
        }
        "bedrock" => bedrock(params, &mut provider, at, ctx),
        "vertex" => vertex(params, &mut provider, at, ctx),
        _ => {}
    }
    headers(params, &mut provider, at, ctx);
    if let Some(timeout) = params.get("timeout").and_then(values::seconds) {
        set(&mut provider, "timeout", timeout);
    }
    if let Some(timeout) = params.get("stream_timeout").and_then(values::seconds) {
        ctx.warnings.push(format!(
            "{at}.litellm_params.stream_timeout: applied as the longest silence between stream chunks (stream_idle_timeout)"
        ));
        set(&mut provider, "stream_idle_timeout", timeout);
    }
    provider
}

/// Bedrock's region, role and static keys.
fn bedrock(params: &Mapping, provider: &mut Mapping, at: &str, ctx: &mut Ctx<'_>) {
    let pairs = [
        ("aws_region_name", "region"),
        ("aws_role_name", "role_arn"),
        ("aws_session_name", "role_session_name"),
        ("aws_access_key_id", "aws_access_key_id"),
        ("aws_secret_access_key", "aws_secret_access_key"),
        ("aws_session_token", "aws_session_token"),
        ("aws_bedrock_runtime_endpoint", "base_url"),
    ];
    for (from, to) in pairs {
        copy_text(params, from, provider, to, at, ctx);
    }
}

/// Vertex's project, location and credentials file.
fn vertex(params: &Mapping, provider: &mut Mapping, at: &str, ctx: &mut Ctx<'_>) {
    for (from, to) in [
        ("vertex_project", "project"),
        ("vertex_ai_project", "project"),
        ("vertex_location", "location"),
        ("vertex_ai_location", "location"),
    ] {
        copy_text(params, from, provider, to, at, ctx);
    }
    let Some(credentials) = params.get("vertex_credentials") else {
        return;
    };
    let inline = credentials.is_mapping()
        || ctx
            .env
            .now(credentials)
            .is_some_and(|c| c.trim_start().starts_with('{'));
    if inline {
        ctx.warnings.push(format!(
            "{at}.litellm_params.vertex_credentials: inline JSON credentials are not read; mount the key file and give its path (or use the pod's Workload Identity)"
        ));
    } else {
        copy_text(
            params,
            "vertex_credentials",
            provider,
            "credentials_file",
            at,
            ctx,
        );
    }
}

/// `extra_headers` and `organization` (OpenAI's header).
fn headers(params: &Mapping, provider: &mut Mapping, at: &str, ctx: &mut Ctx<'_>) {
    let mut headers = Mapping::new();
    if let Some(extra) = params.get("extra_headers").and_then(Value::as_mapping) {
        for (name, value) in extra {
            let Some(name) = name.as_str() else { continue };
            let path = format!("{at}.litellm_params.extra_headers.{name}");
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                ctx.warnings
                    .push(format!("{path}: not a valid HTTP header name; left out"));
                continue;
            }
            if let Some(value) = text(value, &path, ctx) {
                set(&mut headers, name, value);
            }
        }
    }
    if let Some(org) = params
        .get("organization")
        .and_then(|v| text(v, &format!("{at}.litellm_params.organization"), ctx))
    {
        set(&mut headers, "OpenAI-Organization", org);
    }
    if !headers.is_empty() {
        set(provider, "extra_headers", headers);
    }
}

/// Copies `from` of `params` to `to` of `out` as config text.
fn copy_text(
    params: &Mapping,
    from: &str,
    out: &mut Mapping,
    to: &str,
    at: &str,
    ctx: &mut Ctx<'_>,
) {
    if let Some(value) = params
        .get(from)
        .and_then(|v| text(v, &format!("{at}.litellm_params.{from}"), ctx))
    {
        set(out, to, value);
    }
}

/// A value as config text; an `os.environ/` reference to an unset variable is left out with a
/// warning (LiteLLM reads it as nothing).
fn text(value: &Value, path: &str, ctx: &mut Ctx<'_>) -> Option<String> {
    match ctx.env.text(value)? {
        Resolved::Text(text) => Some(text),
        Resolved::Unset(name) => {
            ctx.warnings.push(format!(
                "{path}: environment variable {name} is not set; left out"
            ));
            None
        }
    }
}

/// The provider with these settings: an existing one with identical settings, else a new one
/// named after its type (`openai`, `openai-2`, …).
fn share(providers: &mut Vec<(String, Mapping)>, kind: &str, settings: Mapping) -> String {
    if let Some((name, _)) = providers.iter().find(|(_, s)| *s == settings) {
        return name.clone();
    }
    let same_kind = providers
        .iter()
        .filter(|(_, s)| s.get("type").and_then(Value::as_str) == Some(kind))
        .count();
    let name = match same_kind {
        0 => kind.to_owned(),
        n => format!("{kind}-{}", n + 1),
    };
    providers.push((name.clone(), settings));
    name
}

/// The deployment of an entry in its group.
fn deployment(entry: &Value, params: &Mapping, provider: &str, route: &Route) -> Value {
    let mut d = Mapping::new();
    set(&mut d, "provider", provider);
    set(&mut d, "model", route.model.clone());
    let from = |key: &str| params.get(key).or_else(|| entry.get(key));
    if let Some(weight) = from("weight").and_then(values::count).filter(|w| *w > 0) {
        set(&mut d, "weight", weight);
    }
    if let Some(rpm) = from("rpm").and_then(values::count) {
        set(&mut d, "rpm", rpm);
    }
    if let Some(tpm) = from("tpm").and_then(values::count) {
        set(&mut d, "tpm", tpm);
    }
    if let Some(max) = from("max_parallel_requests").and_then(values::count) {
        set(&mut d, "max_concurrency", max);
    }
    Value::Mapping(d)
}

/// Costs per token (in `litellm_params` or `model_info`) as our price of the upstream model.
fn price(params: &Mapping, info: &Mapping, route: &Route, pricing: &mut Mapping) {
    let cost = |key: &str| {
        params
            .get(key)
            .or_else(|| info.get(key))
            .and_then(values::number)
    };
    let (Some(input), Some(output)) = (cost("input_cost_per_token"), cost("output_cost_per_token"))
    else {
        return;
    };
    if pattern::prefix(&route.model).is_some() {
        return;
    }
    let mut price = Mapping::new();
    set(&mut price, "input_per_million", input * TOKENS_PER_MILLION);
    set(
        &mut price,
        "output_per_million",
        output * TOKENS_PER_MILLION,
    );
    set(pricing, &route.model, price);
}
