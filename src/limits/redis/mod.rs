//! The Redis [`Store`]: rate buckets, usage counters and spend shared by every replica, in a
//! standalone Redis or a Redis Cluster (`connect` has how it connects: TLS, ACL; `cluster` finds the master of the keys' slot).
//!
//! Every operation is one Lua script run atomically on the server (EVALSHA, loaded on first use),
//! so concurrent replicas never read-then-write past each other. Time comes from Redis `TIME`, so
//! replicas with skewed clocks agree on buckets and budget periods. The scripts count microseconds
//! (Lua numbers are doubles: epoch microseconds are exact, nanoseconds would not be) and run the
//! same GCRA as [`super::store::gcra`].
//!
//! Key layout, under the key prefix `P` (the configured prefix; in cluster mode the hash tag
//! `{prefix}`):
//!
//! | key | type | holds | expires |
//! |---|---|---|---|
//! | `P:tat:{take.key}` | string | the bucket's theoretical arrival time, µs since the epoch | when that time passes (the bucket is full again) |
//! | `P:usage:{scope}` | hash | `requests`, `input_tokens`, `output_tokens`, `cached_tokens`, `spend_micros` since the counters began | never |
//! | `P:spend:{scope}:{period_secs}:{start}` | string | micro-dollars spent in the period starting at `start` (epoch seconds) | [`SPEND_MARGIN`] after the period ends |
//! | `P:doc:{key}` | string | a stored document (a Responses API response with its conversation, JSON) | its time to live (`responses.ttl`) |
//!
//! Every key a script touches is in its KEYS (spend keys as their base, which the script
//! completes with the period start from Redis time). In a cluster one script's keys must share a
//! slot, and an admission spans a key's and its team's buckets and budgets atomically, so every
//! key of a deployment carries the same hash tag, `{prefix}`: its limits live on one shard (a
//! few small scripts per request, far below one shard's capacity); deployments with different
//! prefixes spread over the cluster.
//!
//! Every call is bounded by [`CALL_TIMEOUT`]: a hung Redis turns into a [`StoreError`] quickly,
//! and [`super::shared::SharedStore`] decides what the request gets then.

mod cluster;
mod connect;

use std::sync::LazyLock;
use std::time::Duration;

use ::redis::{FromRedisValue, Script, ScriptInvocation};
use bytes::Bytes;

use super::store::{
    Admission, BucketState, Budget, Charge, Counters, DocLimits, ScopeUsage, Store, StoreError,
    Take,
};
use crate::config::expand::Secret;
use crate::config::schema::{StoreConfig, StoreMode};
use crate::task::BoxFuture;
use connect::Connector;

/// The longest one store call may take, connecting included: a hung Redis must not hang requests.
pub const CALL_TIMEOUT: Duration = Duration::from_millis(250);
/// How long a spend key outlives its period.
pub const SPEND_MARGIN: Duration = Duration::from_secs(3600);

/// Reply tags of `admit.lua`.
const ADMITTED: i64 = 0;
const LIMITED: i64 = 1;
const OVER_BUDGET: i64 = 2;
/// Values per take in a reply: remaining, reset.
const BUCKET_FIELDS: usize = 2;
/// Fields of a usage hash (`Counters`) in a `usage.lua` reply, before the period spend.
const COUNTER_FIELDS: usize = 5;

/// The scripts, each with the shared GCRA prelude.
struct Scripts {
    admit: Script,
    charge: Script,
    usage: Script,
    peek: Script,
}

/// The document scripts: plain GET, SET with an expiry and DEL, run as scripts so they take
/// the same connection path (cluster slot, reconnects, timeouts) as the limit scripts.
struct DocScripts {
    get: Script,
    put: Script,
    delete: Script,
}

static DOC_SCRIPTS: LazyLock<DocScripts> = LazyLock::new(|| DocScripts {
    get: Script::new("return redis.call('GET', KEYS[1])"),
    put: Script::new("redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1"),
    delete: Script::new("return redis.call('DEL', KEYS[1])"),
});

static SCRIPTS: LazyLock<Scripts> = LazyLock::new(|| {
    let with_prelude = |body: &str| Script::new(&format!("{}\n{body}", include_str!("gcra.lua")));
    Scripts {
        admit: with_prelude(include_str!("admit.lua")),
        charge: with_prelude(include_str!("charge.lua")),
        usage: with_prelude(include_str!("usage.lua")),
        peek: with_prelude(include_str!("peek.lua")),
    }
});

/// Rate buckets, usage and spend in Redis.
pub struct RedisStore {
    connector: Connector,
    /// The key prefix: the configured one, or in cluster mode its hash tag `{prefix}`.
    prefix: String,
}

impl std::fmt::Debug for RedisStore {
    // The URL may hold a password: show only the prefix.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store on a standalone Redis at `url` (`redis://[:password@]host:port/db`, `rediss://…`
    /// or `redis+unix:///path`) whose keys start with `prefix:`. See [`RedisStore::connect`].
    pub async fn open(url: &Secret, prefix: &str) -> Result<Self, StoreError> {
        Self::connect(&StoreConfig {
            url: Some(url.clone()),
            prefix: prefix.to_owned(),
            ..StoreConfig::default()
        })
        .await
    }

    /// The store `store:` describes (standalone or cluster, TLS, ACL credentials). Does not
    /// connect: the first call does, and calls after a failure reconnect. Fails only on a
    /// malformed URL or an unusable TLS file (the message never quotes a URL or credential).
    pub async fn connect(config: &StoreConfig) -> Result<Self, StoreError> {
        let prefix = match config.mode {
            StoreMode::Standalone => config.prefix.clone(),
            StoreMode::Cluster => format!("{{{}}}", config.prefix),
        };
        let connector = Connector::new(config, &prefix)?;
        Ok(Self { connector, prefix })
    }

    /// Runs one script within [`CALL_TIMEOUT`].
    async fn run<T: FromRedisValue>(
        &self,
        operation: &str,
        invocation: ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(CALL_TIMEOUT, self.connector.invoke(&invocation)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                self.connector.after_error(&e);
                Err(StoreError(format!("redis {operation}: {e}")))
            }
            Err(_) => {
                self.connector.after_timeout();
                Err(StoreError(format!(
                    "redis {operation}: no answer within {CALL_TIMEOUT:?}"
                )))
            }
        }
    }

    fn tat_key(&self, take: &Take) -> String {
        format!("{}:tat:{}", self.prefix, take.key)
    }

    fn doc_key(&self, key: &str) -> String {
        format!("{}:doc:{key}", self.prefix)
    }

    async fn doc_get_script(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        let mut invocation = DOC_SCRIPTS.get.prepare_invoke();
        invocation.key(self.doc_key(key));
        let value: Option<Vec<u8>> = self.run("doc_get", invocation).await?;
        Ok(value.map(Bytes::from))
    }

    async fn doc_put_script(
        &self,
        key: &str,
        value: &[u8],
        limits: DocLimits,
    ) -> Result<bool, StoreError> {
        let mut invocation = DOC_SCRIPTS.put.prepare_invoke();
        let ttl_ms = u64::try_from(limits.ttl.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        invocation.key(self.doc_key(key)).arg(value).arg(ttl_ms);
        let _: i64 = self.run("doc_put", invocation).await?;
        Ok(true)
    }

    async fn doc_delete_script(&self, key: &str) -> Result<bool, StoreError> {
        let mut invocation = DOC_SCRIPTS.delete.prepare_invoke();
        invocation.key(self.doc_key(key));
        let deleted: i64 = self.run("doc_delete", invocation).await?;
        Ok(deleted > 0)
    }

    fn usage_key(&self, scope: &str) -> String {
        format!("{}:usage:{scope}", self.prefix)
    }

    /// The spend key without its period start, which the scripts append from Redis time.
    fn spend_base(&self, scope: &str, period_secs: u64) -> String {
        format!("{}:spend:{scope}:{period_secs}", self.prefix)
    }

    async fn admit_script(
        &self,
        takes: &[Take],
        budgets: &[Budget],
    ) -> Result<Admission, StoreError> {
        let mut invocation = SCRIPTS.admit.prepare_invoke();
        invocation.arg(budgets.len());
        for budget in budgets {
            let period = period_secs(budget.period);
            invocation
                .key(self.spend_base(&budget.scope, period))
                .arg(period)
                .arg(budget.limit_micros);
        }
        for take in takes {
            invocation
                .key(self.tat_key(take))
                .arg(take.limit)
                .arg(micros(take.window))
                .arg(take.cost);
        }
        let reply: Vec<i64> = self.run("admit", invocation).await?;
        decode_admission(&reply, takes.len())
    }

    async fn charge_script(&self, charge: &Charge) -> Result<(), StoreError> {
        let mut invocation = SCRIPTS.charge.prepare_invoke();
        let counters = &charge.counters;
        invocation.arg(charge.scopes.len());
        for scope in &charge.scopes {
            invocation.key(self.usage_key(scope));
        }
        invocation
            .arg(counters.requests)
            .arg(counters.input_tokens)
            .arg(counters.output_tokens)
            .arg(counters.cached_tokens)
            .arg(counters.spend_micros)
            .arg(SPEND_MARGIN.as_secs())
            .arg(charge.periods.len());
        for (scope, period) in &charge.periods {
            let period = period_secs(*period);
            invocation.key(self.spend_base(scope, period)).arg(period);
        }
        for (take, delta) in &charge.corrections {
            invocation
                .key(self.tat_key(take))
                .arg(take.limit)
                .arg(micros(take.window))
                .arg(*delta);
        }
        let _: i64 = self.run("charge", invocation).await?;
        Ok(())
    }

    async fn usage_script(
        &self,
        scope: &str,
        period: Option<Duration>,
    ) -> Result<ScopeUsage, StoreError> {
        let mut invocation = SCRIPTS.usage.prepare_invoke();
        let period = period.map_or(0, period_secs);
        invocation
            .key(self.usage_key(scope))
            .key(self.spend_base(scope, period))
            .arg(period);
        let reply: Vec<Option<u64>> = self.run("usage", invocation).await?;
        let field = |i: usize| reply.get(i).copied().flatten().unwrap_or(0);
        if reply.len() != COUNTER_FIELDS + 1 {
            return Err(unexpected("usage", reply.len()));
        }
        Ok(ScopeUsage {
            total: Counters {
                requests: field(0),
                input_tokens: field(1),
                output_tokens: field(2),
                cached_tokens: field(3),
                spend_micros: field(4),
            },
            period_spend_micros: field(COUNTER_FIELDS),
        })
    }

    async fn peek_script(&self, take: &Take) -> Result<BucketState, StoreError> {
        let mut invocation = SCRIPTS.peek.prepare_invoke();
        invocation
            .key(self.tat_key(take))
            .arg(take.limit)
            .arg(micros(take.window));
        let reply: Vec<i64> = self.run("peek", invocation).await?;
        decode_buckets("peek", &reply, 1)
            .and_then(|b| b.into_iter().next().ok_or_else(|| unexpected("peek", 0)))
    }
}

impl Store for RedisStore {
    fn admit<'a>(
        &'a self,
        takes: &'a [Take],
        budgets: &'a [Budget],
    ) -> BoxFuture<'a, Result<Admission, StoreError>> {
        Box::pin(self.admit_script(takes, budgets))
    }

    fn charge<'a>(&'a self, charge: &'a Charge) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.charge_script(charge))
    }

    fn usage<'a>(
        &'a self,
        scope: &'a str,
        period: Option<Duration>,
    ) -> BoxFuture<'a, Result<ScopeUsage, StoreError>> {
        Box::pin(self.usage_script(scope, period))
    }

    fn peek<'a>(&'a self, take: &'a Take) -> BoxFuture<'a, Result<BucketState, StoreError>> {
        Box::pin(self.peek_script(take))
    }

    fn doc_get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Bytes>, StoreError>> {
        Box::pin(self.doc_get_script(key))
    }

    fn doc_put<'a>(
        &'a self,
        key: &'a str,
        value: Bytes,
        limits: DocLimits,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move { self.doc_put_script(key, &value, limits).await })
    }

    fn doc_delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(self.doc_delete_script(key))
    }
}

/// A budget period in whole seconds, at least one (as `store::period_start` counts it).
fn period_secs(period: Duration) -> u64 {
    period.as_secs().max(1)
}

fn micros(window: Duration) -> u64 {
    u64::try_from(window.as_micros()).unwrap_or(u64::MAX)
}

fn unexpected(operation: &str, length: usize) -> StoreError {
    StoreError(format!(
        "redis {operation}: unexpected script reply ({length} values)"
    ))
}

fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// Reads `count` (remaining, reset µs) pairs.
fn decode_buckets(
    operation: &str,
    values: &[i64],
    count: usize,
) -> Result<Vec<BucketState>, StoreError> {
    if values.len() != count * BUCKET_FIELDS {
        return Err(unexpected(operation, values.len()));
    }
    Ok(values
        .chunks_exact(BUCKET_FIELDS)
        .map(|pair| BucketState {
            remaining: to_u64(pair[0]),
            reset: Duration::from_micros(to_u64(pair[1])),
        })
        .collect())
}

/// Reads `admit.lua`'s reply for `takes` takes.
fn decode_admission(reply: &[i64], takes: usize) -> Result<Admission, StoreError> {
    let index = |i: i64| usize::try_from(i).map_err(|_| unexpected("admit", reply.len()));
    match reply {
        [ADMITTED, rest @ ..] => Ok(Admission::Admitted {
            buckets: decode_buckets("admit", rest, takes)?,
        }),
        [LIMITED, at, wait, rest @ ..] => Ok(Admission::Limited {
            index: index(*at)?,
            retry_after: Duration::from_micros(to_u64(*wait)),
            buckets: decode_buckets("admit", rest, takes)?,
        }),
        [OVER_BUDGET, at, spent] => Ok(Admission::OverBudget {
            index: index(*at)?,
            spent_micros: to_u64(*spent),
        }),
        _ => Err(unexpected("admit", reply.len())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_decode_and_malformed_ones_are_errors() {
        let admitted = decode_admission(&[ADMITTED, 3, 20_000_000], 1).unwrap();
        let bucket = BucketState {
            remaining: 3,
            reset: Duration::from_secs(20),
        };
        assert_eq!(
            admitted,
            Admission::Admitted {
                buckets: vec![bucket]
            }
        );
        let limited = decode_admission(&[LIMITED, 0, 1_500, 0, 60_000_000], 1).unwrap();
        assert!(
            matches!(limited, Admission::Limited { index: 0, retry_after, .. } if retry_after.as_micros() == 1_500)
        );
        let over = decode_admission(&[OVER_BUDGET, 1, 42], 0).unwrap();
        assert_eq!(
            over,
            Admission::OverBudget {
                index: 1,
                spent_micros: 42
            }
        );
        assert!(
            decode_admission(&[ADMITTED, 3], 1).is_err(),
            "half a bucket"
        );
        assert!(
            decode_admission(&[OVER_BUDGET, -1, 0], 0).is_err(),
            "negative index"
        );
        assert!(decode_admission(&[7], 0).is_err(), "unknown tag");
        assert!(decode_admission(&[], 0).is_err());
    }

    #[test]
    fn scripts_carry_the_prelude() {
        for script in [
            &SCRIPTS.admit,
            &SCRIPTS.charge,
            &SCRIPTS.usage,
            &SCRIPTS.peek,
        ] {
            assert_eq!(script.get_hash().len(), 40);
        }
        assert_ne!(SCRIPTS.admit.get_hash(), SCRIPTS.peek.get_hash());
    }
}
