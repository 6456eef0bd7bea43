//! Gauges read from live state when `/metrics` is scraped, not kept up to date per request: how
//! full the in-flight token budget and each provider's bulkhead are, and every configured
//! budget with what its key or team spent in the current period. Reading them at scrape time
//! costs nothing on the request path, and a budget's spend comes from the store, so with Redis
//! every replica reports the shared figure (dashboards and alerts take the `max` across pods).

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use crate::auth::Limits;
use crate::limits::store::Store;
use crate::pricing::MICROS_PER_USD;
use crate::runtime::Runtime;
use crate::telemetry::metrics::{
    BUDGET_LIMIT, BUDGET_SPENT, BULKHEAD_CAPACITY, INFLIGHT_TOKENS, INFLIGHT_TOKENS_LIMIT, NO_TEAM,
};

/// The labels of one budget series: `scope` (`key` or `team`), `name`, `team`.
type BudgetLabels = [String; 3];

/// Budget series exported by earlier scrapes: a key or team removed by a reload is set to 0
/// rather than left at its last value, which an alert would keep reading.
static EXPORTED: Mutex<Option<HashSet<BudgetLabels>>> = Mutex::new(None);

/// Sets every scrape-time gauge from `runtime` and `store`.
pub async fn refresh(runtime: &Runtime, store: &dyn Store) {
    saturation(runtime);
    budgets(runtime, store).await;
}

/// The in-flight token budget and each provider's bulkhead size (requests in flight per provider
/// are `llm_inflight_requests`, kept per request).
fn saturation(runtime: &Runtime) {
    if let Some(budget) = &runtime.token_budget {
        let total = budget.total();
        let free = u64::try_from(budget.free()).unwrap_or(u64::MAX);
        metrics::gauge!(INFLIGHT_TOKENS_LIMIT).set(total as f64);
        metrics::gauge!(INFLIGHT_TOKENS).set(total.saturating_sub(free) as f64);
    }
    for provider in &runtime.config.raw.providers {
        if let Some(bulkhead) = runtime.router.bulkhead(&provider.name) {
            metrics::gauge!(BULKHEAD_CAPACITY, "provider" => provider.name.clone())
                .set(bulkhead.size() as f64);
        }
    }
}

/// Every key's and team's budget and its spend this period. A store that cannot answer leaves
/// the spend at its last value (the store counts its own errors).
async fn budgets(runtime: &Runtime, store: &dyn Store) {
    let access = &runtime.access;
    let keys = access.keys().map(|k| {
        let team = k.team.as_deref().unwrap_or(NO_TEAM);
        (format!("key:{}", k.name), ["key", &k.name, team], &k.limits)
    });
    let teams = access.teams().map(|t| {
        (
            format!("team:{}", t.name),
            ["team", &t.name, &t.name],
            &t.limits,
        )
    });
    let mut current = HashSet::new();
    for (scope, labels, limits) in keys.chain(teams) {
        let Some(labels) = budget(store, &scope, labels, limits).await else {
            continue;
        };
        current.insert(labels);
    }
    let mut exported = EXPORTED.lock().unwrap_or_else(PoisonError::into_inner);
    for gone in exported.iter().flatten().filter(|l| !current.contains(*l)) {
        set(BUDGET_LIMIT, gone, 0.0);
        set(BUDGET_SPENT, gone, 0.0);
    }
    *exported = Some(current);
}

/// Exports one scope's budget, if it has one; returns its labels.
async fn budget(
    store: &dyn Store,
    scope: &str,
    labels: [&str; 3],
    limits: &Limits,
) -> Option<BudgetLabels> {
    let spec = limits.budget?;
    let labels = labels.map(str::to_owned);
    set(BUDGET_LIMIT, &labels, spec.usd);
    if let Ok(usage) = store.usage(scope, Some(spec.period)).await {
        set(
            BUDGET_SPENT,
            &labels,
            usage.period_spend_micros as f64 / MICROS_PER_USD,
        );
    }
    Some(labels)
}

fn set(name: &'static str, [scope, name_label, team]: &BudgetLabels, value: f64) {
    metrics::gauge!(name, "scope" => scope.clone(), "name" => name_label.clone(), "team" => team.clone())
        .set(value);
}
