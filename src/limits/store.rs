//! Where rate-limit buckets, usage counters and spend live, and the documents the gateway keeps
//! for clients (stored Responses API responses): the [`Store`] trait, shared by the in-memory
//! store (one replica; spend optionally snapshotted to a file) and the Redis store (every
//! replica; atomic server-side scripts). All bucket math is the GCRA in [`gcra`], so both stores
//! agree to the nanosecond on what a limit means.

use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::task::BoxFuture;

/// Units taken from one rate bucket: `cost` of a `limit`-per-`window` allowance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Take {
    /// Bucket key, e.g. `key:marketing-app:rpm`.
    pub key: String,
    /// Units per window (the bucket's capacity).
    pub limit: u64,
    /// The window (a minute for rpm/tpm).
    pub window: Duration,
    /// Units this request takes (capped at `limit`: a request larger than the whole allowance
    /// runs alone rather than never).
    pub cost: u64,
}

/// A spend budget to check before admitting.
#[derive(Debug, Clone, PartialEq)]
pub struct Budget {
    /// Scope, e.g. `key:marketing-app` or `team:marketing`.
    pub scope: String,
    /// Budget period; periods start at multiples of it since the epoch.
    pub period: Duration,
    /// Allowed spend per period, in micro-dollars.
    pub limit_micros: u64,
}

/// How a rate bucket stands after an admission.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketState {
    /// Units left now.
    pub remaining: u64,
    /// Time until the bucket is full again.
    pub reset: Duration,
}

/// The answer to an admission.
#[derive(Debug, Clone, PartialEq)]
pub enum Admission {
    /// Every bucket had room and every budget was under its limit; the units were taken.
    Admitted {
        /// Each take's bucket afterwards, in order.
        buckets: Vec<BucketState>,
    },
    /// Take number `index` had no room; nothing was taken.
    Limited {
        /// Which take.
        index: usize,
        /// When it will have room.
        retry_after: Duration,
        /// Each take's bucket as it stands (nothing taken).
        buckets: Vec<BucketState>,
    },
    /// Budget number `index` is spent for this period; nothing was taken.
    OverBudget {
        /// Which budget.
        index: usize,
        /// Spent this period, in micro-dollars.
        spent_micros: u64,
    },
}

/// What a finished request adds to its scopes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Requests admitted and settled.
    pub requests: u64,
    /// Input tokens (cached included).
    pub input_tokens: u64,
    /// Generated tokens (reasoning included).
    pub output_tokens: u64,
    /// Cached input tokens.
    pub cached_tokens: u64,
    /// Spend, in micro-dollars.
    pub spend_micros: u64,
}

impl Counters {
    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &Counters) {
        // Saturating: the numbers come from upstream usage reports, which nothing bounds.
        self.requests = self.requests.saturating_add(other.requests);
        self.input_tokens = self.input_tokens.saturating_add(other.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(other.output_tokens);
        self.cached_tokens = self.cached_tokens.saturating_add(other.cached_tokens);
        self.spend_micros = self.spend_micros.saturating_add(other.spend_micros);
    }
}

/// A finished request's charge.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Charge {
    /// Scopes the usage rolls up to (`key:…`, `team:…`).
    pub scopes: Vec<String>,
    /// What to add to each.
    pub counters: Counters,
    /// Budget periods the spend counts against: (scope, period).
    pub periods: Vec<(String, Duration)>,
    /// Token corrections: the bucket and actual − estimated tokens (negative refunds).
    pub corrections: Vec<(Take, i64)>,
}

/// A scope's usage report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScopeUsage {
    /// Since the counters began.
    pub total: Counters,
    /// Spent in the current budget period, in micro-dollars (when a period was asked for).
    pub period_spend_micros: u64,
}

/// How long a stored document lives, and (in memory) how many bytes all of them may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocLimits {
    /// Time to live from the write.
    pub ttl: Duration,
    /// The in-memory store's bound on all documents (Redis is bounded by its own `maxmemory`).
    pub max_bytes: u64,
}

/// A store failure (Redis unreachable, script error).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(pub String);

/// Rate buckets, usage counters and spend.
pub trait Store: Send + Sync {
    /// Takes every take's cost and checks every budget, all or nothing.
    fn admit<'a>(
        &'a self,
        takes: &'a [Take],
        budgets: &'a [Budget],
    ) -> BoxFuture<'a, Result<Admission, StoreError>>;
    /// Applies a finished request's usage, spend and token corrections.
    fn charge<'a>(&'a self, charge: &'a Charge) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Reads a scope's usage; `period` asks for the current period's spend too.
    fn usage<'a>(
        &'a self,
        scope: &'a str,
        period: Option<Duration>,
    ) -> BoxFuture<'a, Result<ScopeUsage, StoreError>>;
    /// How a bucket stands now, without taking anything.
    fn peek<'a>(&'a self, take: &'a Take) -> BoxFuture<'a, Result<BucketState, StoreError>>;
    /// The stored document under `key` (a stored response), if it is there and has not expired.
    fn doc_get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Bytes>, StoreError>>;
    /// Stores `value` under `key` within `limits`; `false` when it is too large to keep.
    fn doc_put<'a>(
        &'a self,
        key: &'a str,
        value: Bytes,
        limits: DocLimits,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
    /// Deletes the document under `key`; whether there was one.
    fn doc_delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, StoreError>>;
    /// Persists what must survive a restart (a no-op for stores that persist on every write).
    fn flush(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(std::future::ready(Ok(())))
    }
}

/// The start (seconds since the epoch) of the budget period containing `now_secs`.
pub fn period_start(now_secs: u64, period: Duration) -> u64 {
    let length = period.as_secs().max(1);
    now_secs - now_secs % length
}

/// GCRA over nanosecond timestamps: the bucket's theoretical arrival time `tat`.
pub mod gcra {
    use super::BucketState;
    use std::time::Duration;

    /// Nanoseconds one unit of a `limit`-per-`window` allowance takes to come back.
    pub fn interval_ns(limit: u64, window: Duration) -> u64 {
        u64::try_from(window.as_nanos()).unwrap_or(u64::MAX) / limit.max(1)
    }

    /// Takes `cost` units at `now` from a bucket whose arrival time is `tat` (0 when new):
    /// `Ok(new tat)` or `Err(wait)`. The bucket holds `limit` units, so a fresh one admits a
    /// whole window at once.
    pub fn take(
        tat: u64,
        now: u64,
        limit: u64,
        window: Duration,
        cost: u64,
    ) -> Result<u64, Duration> {
        let interval = interval_ns(limit, window);
        let window_ns = u64::try_from(window.as_nanos()).unwrap_or(u64::MAX);
        let cost = cost.clamp(1, limit.max(1));
        let new_tat = tat.max(now).saturating_add(cost.saturating_mul(interval));
        let ahead = new_tat - now;
        if ahead <= window_ns {
            Ok(new_tat)
        } else {
            Err(Duration::from_nanos(ahead - window_ns))
        }
    }

    /// How a bucket with arrival time `tat` stands at `now`.
    pub fn state(tat: u64, now: u64, limit: u64, window: Duration) -> BucketState {
        let interval = interval_ns(limit, window).max(1);
        let window_ns = u64::try_from(window.as_nanos()).unwrap_or(u64::MAX);
        let ahead = tat.saturating_sub(now);
        BucketState {
            remaining: (window_ns.saturating_sub(ahead) / interval).min(limit),
            reset: Duration::from_nanos(ahead),
        }
    }

    /// Moves a bucket's arrival time by `delta` units (a refund when negative), never before `now`.
    pub fn adjust(tat: u64, now: u64, limit: u64, window: Duration, delta: i64) -> u64 {
        let shift = interval_ns(limit, window).saturating_mul(delta.unsigned_abs());
        if delta >= 0 {
            tat.max(now).saturating_add(shift)
        } else {
            tat.saturating_sub(shift).max(now)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::gcra;
    use super::*;

    const MIN: Duration = Duration::from_secs(60);
    const S: u64 = 1_000_000_000;

    #[test]
    fn a_fresh_bucket_admits_its_whole_window_then_refills_evenly() {
        let now = 1000 * S;
        let mut tat = 0;
        for _ in 0..6 {
            tat = gcra::take(tat, now, 6, MIN, 1).unwrap();
        }
        let wait = gcra::take(tat, now, 6, MIN, 1).unwrap_err();
        assert_eq!(wait, Duration::from_secs(10));
        assert!(gcra::take(tat, now + 10 * S, 6, MIN, 1).is_ok());
        assert_eq!(
            gcra::state(tat, now, 6, MIN),
            BucketState {
                remaining: 0,
                reset: MIN
            }
        );
    }

    #[test]
    fn weighted_takes_corrections_and_oversized_requests() {
        let now = 1000 * S;
        let tat = gcra::take(0, now, 1000, MIN, 600).unwrap();
        assert_eq!(gcra::state(tat, now, 1000, MIN).remaining, 400);
        assert!(gcra::take(tat, now, 1000, MIN, 500).is_err());
        let refunded = gcra::adjust(tat, now, 1000, MIN, -300);
        assert_eq!(gcra::state(refunded, now, 1000, MIN).remaining, 700);
        assert_eq!(
            gcra::adjust(tat, now, 1000, MIN, -5000),
            now,
            "a refund never makes credit"
        );
        let all = gcra::take(0, now, 1000, MIN, 50_000).unwrap();
        assert_eq!(
            gcra::state(all, now, 1000, MIN).remaining,
            0,
            "capped at the limit"
        );
    }

    #[test]
    fn periods_align_to_the_epoch() {
        let day = Duration::from_secs(86_400);
        assert_eq!(period_start(86_400 * 3 + 5, day), 86_400 * 3);
        assert_eq!(period_start(59, Duration::from_secs(60)), 0);
    }
}
