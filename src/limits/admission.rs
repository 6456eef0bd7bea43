//! Admission against a caller's limits and the settlement of what its request used: builds the
//! rate buckets (key and team rpm/tpm) and budgets for an identity, asks the store for all of
//! them at once, maps a refusal to the client's error with OpenAI-style `x-ratelimit-*`
//! headers, and — when the response ends — charges the real usage: tokens corrected from the
//! estimate, spend priced, usage counted per key and team.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue};

use super::MINUTE;
use super::store::{Admission, BucketState, Budget, Charge, Counters, Store, Take};
use crate::auth::{Identity, Limits};
use crate::clock::go_duration;
use crate::error::GatewayError;
use crate::pricing::{MICROS_PER_USD, Prices};
use crate::telemetry::metrics::{COST_USD, NO_TEAM, RATELIMIT_REJECTIONS};
use crate::types::Usage;

/// One bucket of the admission, with what to call it.
struct Bucket {
    take: Take,
    /// `key_rpm`, `team_tpm`, … (the metric's `limit` label).
    label: &'static str,
    /// `key `x``, `team `y``, for messages.
    owner: String,
    tokens: bool,
}

/// Headers describing the caller's limits (set on every response, like OpenAI's).
pub type LimitHeaders = Vec<(HeaderName, HeaderValue)>;

/// What an admitted request carries to its end.
pub struct Settlement {
    store: Arc<dyn Store>,
    prices: Arc<Prices>,
    scopes: Vec<String>,
    periods: Vec<(String, Duration)>,
    token_takes: Vec<Take>,
    estimate: u64,
    team: String,
    /// The key's or peer's name (the cost metric's `key` label).
    key: String,
}

/// The outcome of admitting a request.
pub struct Admitted {
    /// `x-ratelimit-*` headers.
    pub headers: LimitHeaders,
    /// Charges the request's usage when it ends (`None` for the open, anonymous API).
    pub settlement: Option<Settlement>,
}

/// The store scope of an identity's own usage (`key:…`, `peer:…`), if it has one.
pub fn scope_of(identity: &Identity) -> Option<String> {
    match identity {
        Identity::Key(key) => Some(format!("key:{}", key.name)),
        Identity::Peer { name, .. } => Some(format!("peer:{name}")),
        Identity::Anonymous | Identity::Master => None,
    }
}

/// Admits a request costing `estimate` tokens (prompt estimate + `max_tokens`).
pub async fn admit(
    store: &Arc<dyn Store>,
    prices: &Arc<Prices>,
    identity: &Identity,
    team: Option<&Limits>,
    estimate: u64,
) -> Result<Admitted, GatewayError> {
    let Some(scope) = scope_of(identity) else {
        return Ok(Admitted {
            headers: Vec::new(),
            settlement: None,
        });
    };
    let team_name = identity.team().map(str::to_owned);
    let team_scope = team_name.as_ref().map(|t| format!("team:{t}"));
    let key_limits = identity.key().map(|k| &k.limits);
    let mut buckets = Vec::new();
    let mut budgets: Vec<(Budget, String)> = Vec::new();
    let owners = [
        (
            key_limits,
            scope.as_str(),
            "key",
            format!("key `{}`", identity.name()),
        ),
        (
            team,
            team_scope.as_deref().unwrap_or(""),
            "team",
            format!("team `{}`", team_name.as_deref().unwrap_or("")),
        ),
    ];
    for (limits, scope, kind, owner) in owners {
        let Some(limits) = limits else { continue };
        push_buckets(&mut buckets, limits, scope, kind, &owner, estimate);
        if let Some(b) = limits.budget {
            let budget = Budget {
                scope: scope.to_owned(),
                period: b.period,
                limit_micros: (b.usd * MICROS_PER_USD) as u64,
            };
            budgets.push((
                budget,
                format!(
                    "{owner}'s budget of ${:.2} per {}",
                    b.usd,
                    go_duration(b.period)
                ),
            ));
        }
    }
    let takes: Vec<Take> = buckets.iter().map(|b| b.take.clone()).collect();
    let plain: Vec<Budget> = budgets.iter().map(|(b, _)| b.clone()).collect();
    let team_label = team_name.clone().unwrap_or_else(|| NO_TEAM.to_owned());
    let answer = store
        .admit(&takes, &plain)
        .await
        .map_err(|e| GatewayError::Unavailable {
            message: format!(
                "The usage store is unavailable ({e}); requests are refused until it is back."
            ),
            retry_after: Some(Duration::from_secs(1)),
        })?;
    match answer {
        Admission::Admitted { buckets: states } => {
            let mut scopes = vec![scope];
            scopes.extend(team_scope);
            let periods = plain.iter().map(|b| (b.scope.clone(), b.period)).collect();
            let token_takes = buckets
                .iter()
                .filter(|b| b.tokens)
                .map(|b| b.take.clone())
                .collect();
            Ok(Admitted {
                headers: headers(&buckets, &states),
                settlement: Some(Settlement {
                    store: Arc::clone(store),
                    prices: Arc::clone(prices),
                    scopes,
                    periods,
                    token_takes,
                    estimate,
                    team: team_label,
                    key: identity.name().to_owned(),
                }),
            })
        }
        Admission::Limited {
            index,
            retry_after,
            buckets: states,
        } => {
            let bucket = &buckets[index];
            metrics::counter!(RATELIMIT_REJECTIONS, "team" => team_label, "limit" => bucket.label)
                .increment(1);
            let unit = if bucket.tokens { "tokens" } else { "requests" };
            Err(GatewayError::RateLimited {
                message: format!(
                    "Rate limit reached for {} on {unit} per min: Limit {}, Requested {}. Please try again in {}.",
                    bucket.owner,
                    bucket.take.limit,
                    bucket.take.cost,
                    go_duration(retry_after)
                ),
                retry_after,
                headers: headers(&buckets, &states),
            })
        }
        Admission::OverBudget {
            index,
            spent_micros,
        } => {
            let (budget, description) = &budgets[index];
            let label = if budget.scope.starts_with("team:") {
                "team_budget"
            } else {
                "key_budget"
            };
            metrics::counter!(RATELIMIT_REJECTIONS, "team" => team_label, "limit" => label)
                .increment(1);
            Err(GatewayError::QuotaExceeded(format!(
                "You exceeded {description} (spent ${:.2} this period).",
                spent_micros as f64 / MICROS_PER_USD
            )))
        }
    }
}

fn push_buckets(
    buckets: &mut Vec<Bucket>,
    limits: &Limits,
    scope: &str,
    kind: &str,
    owner: &str,
    estimate: u64,
) {
    let specs = [
        (limits.rpm, "rpm", 1, false),
        (limits.tpm, "tpm", estimate, true),
    ];
    for (limit, unit, cost, tokens) in specs {
        let Some(limit) = limit else { continue };
        let label = match (kind, tokens) {
            ("key", false) => "key_rpm",
            ("key", true) => "key_tpm",
            (_, false) => "team_rpm",
            (_, true) => "team_tpm",
        };
        buckets.push(Bucket {
            take: rate_take(scope, unit, limit, cost),
            label,
            owner: owner.to_owned(),
            tokens,
        });
    }
}

/// The take of `cost` from `scope`'s per-minute `unit` (`rpm`/`tpm`) bucket.
pub fn rate_take(scope: &str, unit: &str, limit: u64, cost: u64) -> Take {
    Take {
        key: format!("{scope}:{unit}"),
        limit,
        window: MINUTE,
        cost,
    }
}

/// OpenAI's headers, from the first (most specific) request and token buckets.
fn headers(buckets: &[Bucket], states: &[BucketState]) -> LimitHeaders {
    let mut out = Vec::new();
    for (tokens, unit) in [(false, "requests"), (true, "tokens")] {
        let Some((bucket, state)) = buckets.iter().zip(states).find(|(b, _)| b.tokens == tokens)
        else {
            continue;
        };
        let values = [
            (
                format!("x-ratelimit-limit-{unit}"),
                bucket.take.limit.to_string(),
            ),
            (
                format!("x-ratelimit-remaining-{unit}"),
                state.remaining.to_string(),
            ),
            (
                format!("x-ratelimit-reset-{unit}"),
                go_duration(state.reset),
            ),
        ];
        for (name, value) in values {
            if let (Ok(name), Ok(value)) =
                (HeaderName::try_from(name), HeaderValue::try_from(value))
            {
                out.push((name, value));
            }
        }
    }
    out
}

impl Settlement {
    /// Charges `usage` of the request served by `priced_model` (the upstream model, whose price
    /// applies), labelled `model_label` in metrics. Returns the cost in US dollars. The store
    /// write happens in the background: it must never delay or fail a finished response.
    pub fn settle(self, usage: &Usage, priced_model: &str, model_label: &str) -> f64 {
        let micros = self
            .prices
            .lookup(priced_model)
            .map_or(0, |p| p.cost_micros(usage));
        let cost = micros as f64 / MICROS_PER_USD;
        if cost > 0.0 {
            metrics::gauge!(COST_USD, "team" => self.team.clone(), "model" => model_label.to_owned(),
                "key" => self.key.clone())
            .increment(cost);
        }
        // Upstream numbers: summed without wrapping, whatever an upstream reports.
        let actual = usage.input.saturating_add(usage.output);
        let delta = i64::try_from(actual).unwrap_or(i64::MAX)
            - i64::try_from(self.estimate).unwrap_or(i64::MAX);
        let charge = Charge {
            scopes: self.scopes,
            counters: Counters {
                requests: 1,
                input_tokens: usage.input,
                output_tokens: usage.output,
                cached_tokens: usage.cached,
                spend_micros: micros,
            },
            periods: self.periods,
            corrections: self.token_takes.into_iter().map(|t| (t, delta)).collect(),
        };
        let store = self.store;
        // A record can close while its connection is dropped; without a runtime to run the
        // write on (never expected), the charge is lost rather than the process.
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if let Err(e) = store.charge(&charge).await {
                        tracing::warn!(error = %e, "could not record usage in the store");
                    }
                });
            }
            Err(_) => tracing::warn!("could not record usage in the store: no async runtime"),
        }
        cost
    }
}
