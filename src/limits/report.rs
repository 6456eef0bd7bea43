//! What a scope (a key, team or peer) has used and how its limits stand now, for `/admin/usage`
//! and `/v1/key/info`. Reads only: peeking at a bucket takes nothing from it.

use serde::Serialize;

use super::admission::rate_take;
use super::store::{Store, StoreError};
use crate::auth::Limits;
use crate::clock::go_duration;
use crate::pricing::MICROS_PER_USD;

/// A rate limit as it stands.
#[derive(Debug, Serialize, PartialEq)]
pub struct RateState {
    /// Units per minute.
    pub limit: u64,
    /// Units left now.
    pub remaining: u64,
    /// Until the bucket is full again, as a Go duration (`12.5s`), like `x-ratelimit-reset-*`.
    pub reset: String,
}

/// A budget as it stands.
#[derive(Debug, Serialize, PartialEq)]
pub struct BudgetState {
    /// Allowed spend per period.
    pub limit_usd: f64,
    /// The period (`720h0m0s` for 30d).
    pub period: String,
    /// Spent in the current period.
    pub spent_usd: f64,
    /// Left in the current period.
    pub remaining_usd: f64,
}

/// One scope's usage and limits.
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct ScopeReport {
    /// Requests served since the counters began.
    pub requests: u64,
    /// Input tokens (cached included).
    pub input_tokens: u64,
    /// Generated tokens (reasoning included).
    pub output_tokens: u64,
    /// Cached input tokens.
    pub cached_tokens: u64,
    /// Spend since the counters began.
    pub spend_usd: f64,
    /// The requests-per-minute limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rpm: Option<RateState>,
    /// The tokens-per-minute limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tpm: Option<RateState>,
    /// The spend budget.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget: Option<BudgetState>,
}

fn usd(micros: u64) -> f64 {
    micros as f64 / MICROS_PER_USD
}

/// Reads `scope`'s usage and, when it has `limits`, how they stand.
pub async fn report(
    store: &dyn Store,
    scope: &str,
    limits: Option<&Limits>,
) -> Result<ScopeReport, StoreError> {
    let budget = limits.and_then(|l| l.budget);
    let usage = store.usage(scope, budget.map(|b| b.period)).await?;
    let mut out = ScopeReport {
        requests: usage.total.requests,
        input_tokens: usage.total.input_tokens,
        output_tokens: usage.total.output_tokens,
        cached_tokens: usage.total.cached_tokens,
        spend_usd: usd(usage.total.spend_micros),
        ..ScopeReport::default()
    };
    let Some(limits) = limits else {
        return Ok(out);
    };
    for (limit, unit) in [(limits.rpm, "rpm"), (limits.tpm, "tpm")] {
        let Some(limit) = limit else { continue };
        let state = store.peek(&rate_take(scope, unit, limit, 0)).await?;
        let rate = Some(RateState {
            limit,
            remaining: state.remaining,
            reset: go_duration(state.reset),
        });
        match unit {
            "rpm" => out.rpm = rate,
            _ => out.tpm = rate,
        }
    }
    out.budget = budget.map(|b| {
        let spent = usd(usage.period_spend_micros);
        BudgetState {
            limit_usd: b.usd,
            period: go_duration(b.period),
            spent_usd: spent,
            remaining_usd: (b.usd - spent).max(0.0),
        }
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::auth::BudgetSpec;
    use crate::limits::memory::MemoryStore;
    use crate::limits::store::{Charge, Counters};

    #[tokio::test]
    async fn reports_usage_remaining_rates_and_budget() {
        let store = MemoryStore::new(None);
        let limits = Limits {
            rpm: Some(10),
            tpm: None,
            budget: Some(BudgetSpec {
                usd: 5.0,
                period: Duration::from_secs(86_400),
            }),
        };
        let taken = [rate_take("key:a", "rpm", 10, 1)];
        for _ in 0..2 {
            store.admit(&taken, &[]).await.unwrap();
        }
        let charge = Charge {
            scopes: vec!["key:a".into()],
            counters: Counters {
                requests: 2,
                input_tokens: 30,
                output_tokens: 5,
                cached_tokens: 10,
                spend_micros: 1_500_000,
            },
            periods: vec![("key:a".into(), Duration::from_secs(86_400))],
            corrections: vec![],
        };
        store.charge(&charge).await.unwrap();
        let got = report(&store, "key:a", Some(&limits)).await.unwrap();
        assert_eq!(
            (got.requests, got.input_tokens, got.cached_tokens),
            (2, 30, 10)
        );
        assert_eq!(
            got.rpm.as_ref().map(|r| (r.limit, r.remaining)),
            Some((10, 8))
        );
        assert!(got.tpm.is_none());
        let budget = got.budget.unwrap();
        assert_eq!((budget.spent_usd, budget.remaining_usd), (1.5, 3.5));
        assert_eq!(budget.period, "24h0m0s");
        let unlimited = report(&store, "key:b", None).await.unwrap();
        assert_eq!(unlimited, ScopeReport::default());
    }
}
