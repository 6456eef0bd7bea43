//! `router_settings`, `litellm_settings` and `general_settings` → our `routing:`, the groups'
//! strategy, fallbacks and aliases, `store:` and `auth:`. `router_settings` wins over
//! `litellm_settings` where both set a key, as in LiteLLM's router.

use serde_yaml::{Mapping, Value};

use super::model_list::Models;
use super::values::{self, Resolved};
use super::{Ctx, set};
use crate::{ConfigError, pattern};

/// `router_settings`/`litellm_settings` keys translated here.
const ROUTING_KEYS: [&str; 16] = [
    "routing_strategy",
    "num_retries",
    "timeout",
    "request_timeout",
    "retry_after",
    "allowed_fails",
    "cooldown_time",
    "fallbacks",
    "context_window_fallbacks",
    "default_fallbacks",
    "model_group_alias",
    "redis_host",
    "redis_port",
    "redis_password",
    "redis_url",
    "drop_params",
];
/// Callbacks that are always on here (metrics and traces), accepted without a word.
const BUILT_IN_CALLBACKS: [&str; 3] = ["prometheus", "otel", "opentelemetry"];
/// Callback keys of `litellm_settings`.
const CALLBACK_KEYS: [&str; 3] = ["callbacks", "success_callback", "failure_callback"];
/// Budget keys: refused, never ignored (see `model_list::refuse_budgets`).
const BUDGET_KEYS: [&str; 4] = [
    "max_budget",
    "budget_duration",
    "max_internal_user_budget",
    "max_end_user_budget",
];
/// Redis's port when the settings give a host only.
const DEFAULT_REDIS_PORT: &str = "6379";

/// Builds `routing`, `models`, `providers`, `pricing`, `store` and `auth` into `native`.
pub(crate) fn translate(
    doc: &Mapping,
    models: Models,
    native: &mut Mapping,
    ctx: &mut Ctx<'_>,
) -> Result<(), ConfigError> {
    let empty = Mapping::new();
    let section = |name: &str| doc.get(name).and_then(Value::as_mapping).unwrap_or(&empty);
    let (router, litellm, general) = (
        section("router_settings"),
        section("litellm_settings"),
        section("general_settings"),
    );
    for (name, map) in [("litellm_settings", litellm), ("router_settings", router)] {
        if let Some(key) = BUDGET_KEYS.iter().find(|k| map.contains_key(**k)) {
            return Err(ConfigError::whole(format!(
                "{name}.{key}: LiteLLM's proxy budget is not translated (it would be ignored and the money spent); set `budget_usd` and `budget_period` on keys or teams in llm-sidecar's format, or remove it"
            )));
        }
    }
    let get = |key: &str| router.get(key).or_else(|| litellm.get(key));
    note_ignored(router, "router_settings", ctx, &[]);
    note_ignored(litellm, "litellm_settings", ctx, &CALLBACK_KEYS);
    callbacks(litellm, ctx);
    let strategy = strategy(get("routing_strategy"), ctx);
    set(native, "routing", routing(&get, ctx));
    set(native, "providers", providers(&models));
    set(native, "models", groups(&models, strategy, &get, ctx));
    if !models.pricing.is_empty() {
        set(native, "pricing", models.pricing.clone());
    }
    if let Some(store) = store(&get, ctx) {
        set(native, "store", store);
    }
    auth(general, native, ctx)
}

/// Lists the keys of a settings section this translation does not read.
fn note_ignored(map: &Mapping, name: &str, ctx: &mut Ctx<'_>, also_known: &[&str]) {
    for key in map.keys().filter_map(Value::as_str) {
        if !ROUTING_KEYS.contains(&key) && !also_known.contains(&key) {
            ctx.ignored.push(format!("{name}.{key}"));
        }
    }
}

/// Callbacks other than the built-in metrics and traces are listed as ignored.
fn callbacks(litellm: &Mapping, ctx: &mut Ctx<'_>) {
    for key in CALLBACK_KEYS {
        let Some(list) = litellm.get(key).and_then(Value::as_sequence) else {
            continue;
        };
        for callback in list.iter().filter_map(Value::as_str) {
            if !BUILT_IN_CALLBACKS.contains(&callback) {
                ctx.ignored
                    .push(format!("litellm_settings.{key}: {callback}"));
            }
        }
    }
}

/// `routing_strategy` → our strategy for every group.
fn strategy(value: Option<&Value>, ctx: &mut Ctx<'_>) -> &'static str {
    let name = value.and_then(Value::as_str).unwrap_or("simple-shuffle");
    match name.trim() {
        "simple-shuffle" => "weighted",
        "least-busy" => "least_inflight",
        "latency-based-routing" => "lowest_latency",
        "usage-based-routing" | "usage-based-routing-v2" => {
            ctx.warnings.push(format!(
                "router_settings.routing_strategy `{name}`: routed to the deployment with the fewest requests in flight, steering away from deployments near their rpm/tpm"
            ));
            "least_inflight"
        }
        other => {
            ctx.warnings.push(format!(
                "router_settings.routing_strategy `{other}`: not available; weighted (simple-shuffle) is used"
            ));
            "weighted"
        }
    }
}

/// `routing:` from the retry, timeout and cooldown settings.
fn routing<'a>(get: &impl Fn(&str) -> Option<&'a Value>, ctx: &mut Ctx<'_>) -> Mapping {
    let mut routing = Mapping::new();
    if let Some(n) = get("num_retries").and_then(values::count) {
        set(&mut routing, "retry_count", n);
    }
    if let Some(t) = get("timeout")
        .or_else(|| get("request_timeout"))
        .and_then(values::seconds)
    {
        set(&mut routing, "timeout", t);
    }
    if let Some(wait) = get("retry_after").and_then(values::seconds) {
        let mut backoff = Mapping::new();
        set(&mut backoff, "initial", wait.clone());
        set(&mut backoff, "max", wait);
        set(&mut routing, "retry_backoff", backoff);
        ctx.warnings.push(
            "router_settings.retry_after: used as the wait between retries (our backoff has jitter)"
                .to_owned(),
        );
    }
    let mut breaker = Mapping::new();
    if let Some(fails) = get("allowed_fails").and_then(values::count) {
        // LiteLLM cools a deployment down once it fails *more* than `allowed_fails` times.
        set(&mut breaker, "failure_threshold", fails.saturating_add(1));
    }
    if let Some(cooldown) = get("cooldown_time").and_then(values::seconds) {
        set(&mut breaker, "open_for", cooldown);
    }
    if !breaker.is_empty() {
        set(&mut routing, "circuit_breaker", breaker);
    }
    routing
}

/// `providers:` in order of first use.
fn providers(models: &Models) -> Value {
    let list = models
        .providers
        .iter()
        .map(|(name, settings)| {
            let mut provider = Mapping::new();
            set(&mut provider, "name", name.clone());
            for (k, v) in settings {
                provider.insert(k.clone(), v.clone());
            }
            Value::Mapping(provider)
        })
        .collect();
    Value::Sequence(list)
}

/// `models:` with the strategy, fallbacks and aliases of each group.
fn groups<'a>(
    models: &Models,
    strategy: &str,
    get: &impl Fn(&str) -> Option<&'a Value>,
    ctx: &mut Ctx<'_>,
) -> Value {
    let names: Vec<&str> = models.groups.iter().map(|(n, _)| n.as_str()).collect();
    let fallbacks = pairs(get("fallbacks"), "fallbacks", models, &names, ctx);
    let context = pairs(
        get("context_window_fallbacks"),
        "context_window_fallbacks",
        models,
        &names,
        ctx,
    );
    let defaults = list(
        get("default_fallbacks"),
        "default_fallbacks",
        models,
        &names,
        ctx,
    );
    let aliases = aliases(get("model_group_alias"), &names, ctx);
    let list = models
        .groups
        .iter()
        .map(|(name, deployments)| {
            let mut group = Mapping::new();
            set(&mut group, "name", name.clone());
            set(&mut group, "strategy", strategy);
            set(&mut group, "deployments", weighted(deployments, strategy));
            let mut own: Vec<String> = fallbacks.get(name).cloned().unwrap_or_default();
            for default in defaults.iter().filter(|d| *d != name) {
                if !own.contains(default) {
                    own.push(default.clone());
                }
            }
            if !own.is_empty() {
                set(&mut group, "fallbacks", own);
            }
            if let Some(context) = context.get(name) {
                set(&mut group, "context_window_fallbacks", context.clone());
            }
            let mine: Vec<Value> = aliases
                .iter()
                .filter(|(_, target, _)| target == name)
                .map(|(alias, _, hidden)| alias_value(alias, *hidden))
                .chain(id_aliases(models, name, &names))
                .collect();
            if !mine.is_empty() {
                set(&mut group, "aliases", mine);
            }
            Value::Mapping(group)
        })
        .collect();
    Value::Sequence(list)
}

/// Simple-shuffle weighs by `weight`, else by `rpm`, else `tpm`: without weights, the rates
/// become our weights so traffic splits as it did.
fn weighted(deployments: &[Value], strategy: &str) -> Value {
    let has = |key: &str| deployments.iter().any(|d| d.get(key).is_some());
    let by = ["rpm", "tpm"].into_iter().find(|k| has(k));
    let Some(by) = by.filter(|_| strategy == "weighted" && !has("weight")) else {
        return Value::Sequence(deployments.to_vec());
    };
    let list = deployments
        .iter()
        .map(|d| {
            let mut d = d.clone();
            if let (Some(rate), Some(map)) = (d.get(by).and_then(Value::as_u64), d.as_mapping_mut())
            {
                set(map, "weight", rate.max(1));
            }
            d
        })
        .collect();
    Value::Sequence(list)
}

/// `model_info.id`s become hidden aliases of their group, so fallbacks naming a deployment by
/// id still resolve (to its group).
fn id_aliases<'m>(
    models: &'m Models,
    group: &'m str,
    names: &'m [&str],
) -> impl Iterator<Item = Value> + 'm {
    models
        .ids
        .iter()
        .filter(move |(id, target)| *target == group && !names.contains(&id.as_str()))
        .map(|(id, _)| alias_value(id, true))
}

fn alias_value(name: &str, hidden: bool) -> Value {
    if !hidden {
        return Value::String(name.to_owned());
    }
    let mut alias = Mapping::new();
    set(&mut alias, "name", name);
    set(&mut alias, "hidden", true);
    Value::Mapping(alias)
}

/// Whether `name` reaches a group: a group name, a deployment id, or a pattern match.
fn reachable(name: &str, models: &Models, names: &[&str]) -> bool {
    names.iter().any(|g| {
        *g == name || pattern::prefix(g).is_some_and(|p| pattern::capture(p, name).is_some())
    }) || models.ids.contains_key(name)
}

/// `[{group: [fallback, …]}, …]` → fallbacks by group; names that reach nothing are dropped
/// with a warning.
fn pairs(
    value: Option<&Value>,
    key: &str,
    models: &Models,
    names: &[&str],
    ctx: &mut Ctx<'_>,
) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut out = std::collections::BTreeMap::new();
    for item in value.and_then(Value::as_sequence).into_iter().flatten() {
        for (group, targets) in item.as_mapping().into_iter().flatten() {
            let Some(group) = group.as_str() else {
                continue;
            };
            let targets = list(Some(targets), key, models, names, ctx);
            if group == "*" {
                ctx.warnings.push(format!(
                    "{key}: `*` applies to every model group here (default_fallbacks)"
                ));
                for name in names {
                    out.entry((*name).to_owned())
                        .or_insert_with(Vec::new)
                        .extend(targets.iter().filter(|t| t != name).cloned());
                }
            } else if names.contains(&group) {
                out.entry(group.to_owned())
                    .or_insert_with(Vec::new)
                    .extend(targets);
            } else {
                ctx.warnings.push(format!(
                    "{key}: `{group}` is not a model_name of this file; its fallbacks are dropped"
                ));
            }
        }
    }
    out
}

/// A list of model names; names that reach no group are dropped with a warning.
fn list(
    value: Option<&Value>,
    key: &str,
    models: &Models,
    names: &[&str],
    ctx: &mut Ctx<'_>,
) -> Vec<String> {
    let mut out = Vec::new();
    for name in value
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .filter_map(values::scalar_text)
    {
        if reachable(&name, models, names) {
            out.push(name);
        } else {
            ctx.warnings.push(format!(
                "{key}: `{name}` is not a model of this file; dropped"
            ));
        }
    }
    out
}

/// `model_group_alias`: `{alias: group}` or `{alias: {model: group, hidden: true}}`.
fn aliases(
    value: Option<&Value>,
    names: &[&str],
    ctx: &mut Ctx<'_>,
) -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    for (alias, target) in value.and_then(Value::as_mapping).into_iter().flatten() {
        let Some(alias) = alias.as_str() else {
            continue;
        };
        let (group, hidden) = match target {
            Value::String(group) => (group.clone(), false),
            Value::Mapping(m) => (
                m.get("model")
                    .and_then(values::scalar_text)
                    .unwrap_or_default(),
                m.get("hidden").and_then(values::boolean).unwrap_or(false),
            ),
            _ => continue,
        };
        if !names.contains(&group.as_str()) || names.contains(&alias) {
            ctx.warnings.push(format!(
                "router_settings.model_group_alias.{alias}: `{group}` is not a model_name of this file (or the alias is one); dropped"
            ));
            continue;
        }
        out.push((alias.to_owned(), group, hidden));
    }
    out
}

/// `store:` from `redis_url`, or `redis_host` + `redis_port` (+ `redis_password`).
fn store<'a>(get: &impl Fn(&str) -> Option<&'a Value>, ctx: &mut Ctx<'_>) -> Option<Mapping> {
    let mut text = |key: &str| match get(key).and_then(|v| ctx.env.text(v)) {
        Some(Resolved::Text(t)) => Some(t),
        Some(Resolved::Unset(name)) => {
            ctx.warnings.push(format!(
                "router_settings.{key}: environment variable {name} is not set; left out"
            ));
            None
        }
        None => None,
    };
    let url = match text("redis_url") {
        Some(url) => url,
        None => {
            let host = text("redis_host")?;
            let port = text("redis_port").unwrap_or_else(|| DEFAULT_REDIS_PORT.to_owned());
            match text("redis_password") {
                Some(password) => format!("redis://:{password}@{host}:{port}"),
                None => format!("redis://{host}:{port}"),
            }
        }
    };
    let mut store = Mapping::new();
    set(&mut store, "url", url);
    Some(store)
}

/// `general_settings.master_key` → `auth.master_key`; the rest is listed as ignored, with a
/// pointer for the virtual keys that live in LiteLLM's database.
fn auth(general: &Mapping, native: &mut Mapping, ctx: &mut Ctx<'_>) -> Result<(), ConfigError> {
    for key in general.keys().filter_map(Value::as_str) {
        match key {
            "master_key" => {}
            "database_url" => ctx.warnings.push(
                "general_settings.database_url: virtual keys live in LiteLLM's database, which is not read; export them (GET /key/list?return_full_object=true) and run `llm-sidecar convert --from litellm-keys`".to_owned(),
            ),
            other => ctx.ignored.push(format!("general_settings.{other}")),
        }
    }
    let key = general.get("master_key").and_then(|v| ctx.env.text(v));
    match key {
        Some(Resolved::Text(key)) => {
            let mut auth = Mapping::new();
            set(&mut auth, "master_key", key);
            set(native, "auth", auth);
        }
        // Running open because a variable is missing is not a warning's worth of risk.
        Some(Resolved::Unset(name)) => {
            return Err(ConfigError::whole(format!(
                "general_settings.master_key: environment variable {name} is not set"
            )));
        }
        None => {}
    }
    Ok(())
}
