//! The store the gateway runs with ([`connect`]), and [`SharedStore`]: the Redis store behind the
//! `store.on_error` policy.
//!
//! While Redis answers, every replica shares its buckets, usage and spend. When a call fails or
//! times out, [`OnError::Open`] serves the request from a local [`MemoryStore`] (this replica's
//! limits: requests keep flowing, limits are per replica until Redis is back) and
//! [`OnError::Closed`] returns the error (the caller answers 503). Each failed Redis call counts
//! in `llm_store_errors_total{operation}`; the log says so once when Redis goes away and once when
//! it is back, not per request.
//!
//! While Redis is down, at most one call per [`RETRY_INTERVAL`] tries it; the others go straight
//! to the fallback (or fail), so a Redis that hangs rather than refuses does not add
//! [`CALL_TIMEOUT`](super::redis::CALL_TIMEOUT) to every request. The first call that succeeds
//! switches back: the connection manager reconnects by itself.
//!
//! Usage and spend charged to the local store during an outage are kept in a [`Backlog`] and
//! replayed to Redis in the background when it is back, so shared budgets count them. Rate
//! buckets are not replayed (they refill within their window): during an outage each replica
//! enforces the limits on its own.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::backlog::Backlog;
use super::memory::MemoryStore;
use super::redis::RedisStore;
use super::store::{
    Admission, BucketState, Budget, Charge, DocLimits, ScopeUsage, Store, StoreError, Take,
};
use crate::config::expand::Secret;
use crate::config::schema::{OnError, StoreConfig};
use crate::task::BoxFuture;
use crate::telemetry::metrics::STORE_ERRORS;

/// While Redis is down, how often one call tries it again.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// The bucket the start-up probe peeks at (a read: it creates no key).
const PROBE_KEY: &str = "startup-probe";

/// Whether Redis answered the last time it was tried.
#[derive(Debug)]
struct Health {
    down: bool,
    last_try: Instant,
}

/// A store (Redis) behind the fail-open/fail-closed policy.
pub struct SharedStore {
    primary: Arc<dyn Store>,
    /// The local store under [`OnError::Open`]; none under [`OnError::Closed`].
    fallback: Option<MemoryStore>,
    /// Charges the fallback took, for Redis.
    backlog: Arc<Backlog>,
    health: Mutex<Health>,
}

impl std::fmt::Debug for SharedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedStore")
            .field("fail_open", &self.fallback.is_some())
            .field("health", &self.health)
            .finish_non_exhaustive()
    }
}

impl SharedStore {
    /// Wraps `primary` (the Redis store) with the `on_error` policy.
    pub fn new(primary: Arc<dyn Store>, on_error: OnError) -> Self {
        Self {
            primary,
            fallback: match on_error {
                OnError::Open => Some(MemoryStore::new(None)),
                OnError::Closed => None,
            },
            backlog: Arc::default(),
            health: Mutex::new(Health {
                down: false,
                last_try: Instant::now(),
            }),
        }
    }

    /// Redis at `url` (keys under `prefix:`) behind the `on_error` policy, probed once: under
    /// `open` an unreachable Redis means local limits from the start, under `closed` refused
    /// requests until it answers; either way the store is returned. Fails only on a malformed URL.
    pub async fn open(url: &Secret, prefix: &str, on_error: OnError) -> Result<Self, StoreError> {
        Self::connect(&StoreConfig {
            url: Some(url.clone()),
            prefix: prefix.to_owned(),
            on_error,
            ..StoreConfig::default()
        })
        .await
    }

    /// The Redis `store:` describes (standalone or cluster, TLS, ACL) behind its `on_error`
    /// policy, probed once, as [`SharedStore::open`].
    pub async fn connect(config: &StoreConfig) -> Result<Self, StoreError> {
        let redis = RedisStore::connect(config).await?;
        let shared = Self::new(Arc::new(redis), config.on_error);
        shared.probe().await;
        Ok(shared)
    }

    /// Whether the shared store answered its last call (false: serving locally or refusing).
    pub fn is_up(&self) -> bool {
        !self.health().down
    }

    /// Tries the shared store once (a read), logging whether it answers. Never fails: the gateway
    /// starts whether or not Redis is up.
    pub async fn probe(&self) -> bool {
        let take = Take {
            key: PROBE_KEY.to_owned(),
            limit: 1,
            window: RETRY_INTERVAL,
            cost: 1,
        };
        match self.primary.peek(&take).await {
            Ok(_) => {
                self.succeeded();
                tracing::info!(
                    "redis reachable: limits, usage and spend are shared across replicas"
                );
                true
            }
            Err(error) => {
                self.failed("probe", &error);
                false
            }
        }
    }

    fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        // The guarded state is two plain fields, always consistent: a panic elsewhere cannot
        // leave it half-written.
        self.health.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether this call should go to Redis: always while it is up, once per interval while down.
    fn should_try(&self) -> bool {
        let mut health = self.health();
        if !health.down {
            return true;
        }
        let now = Instant::now();
        if now.duration_since(health.last_try) < RETRY_INTERVAL {
            return false;
        }
        health.last_try = now;
        true
    }

    fn succeeded(&self) {
        let mut health = self.health();
        if health.down {
            health.down = false;
            drop(health);
            tracing::info!("redis back: limits, usage and spend are shared across replicas again");
            self.replay();
        }
    }

    /// Sends the charges the fallback took to Redis, off the request that found it back.
    fn replay(&self) {
        let (charges, dropped) = self.backlog.take();
        if charges.is_empty() && dropped == 0 {
            return;
        }
        let primary = self.primary.clone();
        let backlog = self.backlog.clone();
        tokio::spawn(async move {
            let mut failed = Vec::new();
            for charge in charges {
                if primary.charge(&charge).await.is_err() {
                    failed.push(charge);
                }
            }
            if failed.is_empty() && dropped == 0 {
                tracing::info!("usage and spend charged during the redis outage are shared again");
            } else {
                tracing::warn!(
                    not_replayed = failed.len(),
                    dropped,
                    "some usage charged during the redis outage did not reach redis; kept for the next reconnect"
                );
                backlog.restore(failed);
            }
        });
    }

    fn failed(&self, operation: &'static str, error: &StoreError) {
        metrics::counter!(STORE_ERRORS, "operation" => operation).increment(1);
        let mut health = self.health();
        health.last_try = Instant::now();
        if health.down {
            return;
        }
        health.down = true;
        if self.fallback.is_some() {
            tracing::warn!(%error, "redis unreachable, serving with local limits");
        } else {
            tracing::warn!(%error, "redis unreachable, refusing requests until it is back");
        }
    }

    /// Runs `op` on Redis, then by the policy on the local store or as an error.
    async fn call<'a, T, F>(&'a self, operation: &'static str, op: F) -> Result<T, StoreError>
    where
        F: Fn(&'a dyn Store) -> BoxFuture<'a, Result<T, StoreError>>,
    {
        self.call_where(operation, op).await.map(|(value, _)| value)
    }

    /// [`call`](Self::call), also telling whether the local store answered.
    async fn call_where<'a, T, F>(
        &'a self,
        operation: &'static str,
        op: F,
    ) -> Result<(T, bool), StoreError>
    where
        F: Fn(&'a dyn Store) -> BoxFuture<'a, Result<T, StoreError>>,
    {
        let error = if self.should_try() {
            match op(self.primary.as_ref()).await {
                Ok(value) => {
                    self.succeeded();
                    return Ok((value, false));
                }
                Err(error) => {
                    self.failed(operation, &error);
                    error
                }
            }
        } else {
            StoreError("redis unreachable (retrying)".to_owned())
        };
        match &self.fallback {
            Some(local) => op(local).await.map(|value| (value, true)),
            None => Err(error),
        }
    }
}

impl Store for SharedStore {
    fn admit<'a>(
        &'a self,
        takes: &'a [Take],
        budgets: &'a [Budget],
    ) -> BoxFuture<'a, Result<Admission, StoreError>> {
        Box::pin(self.call("admit", move |store| store.admit(takes, budgets)))
    }

    fn charge<'a>(&'a self, charge: &'a Charge) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let ((), local) = self
                .call_where("charge", move |store| store.charge(charge))
                .await?;
            if local {
                self.backlog.record(charge);
            }
            Ok(())
        })
    }

    fn usage<'a>(
        &'a self,
        scope: &'a str,
        period: Option<Duration>,
    ) -> BoxFuture<'a, Result<ScopeUsage, StoreError>> {
        Box::pin(self.call("usage", move |store| store.usage(scope, period)))
    }

    fn peek<'a>(&'a self, take: &'a Take) -> BoxFuture<'a, Result<BucketState, StoreError>> {
        Box::pin(self.call("peek", move |store| store.peek(take)))
    }

    // While Redis is down, documents are kept and read locally (under `open`): a conversation
    // continued on this replica keeps working; other replicas see it once it is written again.
    fn doc_get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Bytes>, StoreError>> {
        Box::pin(self.call("doc_get", move |store| store.doc_get(key)))
    }

    fn doc_put<'a>(
        &'a self,
        key: &'a str,
        value: Bytes,
        limits: DocLimits,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(self.call("doc_put", move |store| {
            store.doc_put(key, value.clone(), limits)
        }))
    }

    fn doc_delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(self.call("doc_delete", move |store| store.doc_delete(key)))
    }
}

/// Builds the store `config` asks for: memory (with `snapshot_path`; [`Store::flush`] saves it)
/// without a URL, else Redis behind the `on_error` policy ([`SharedStore::open`]). An unreachable
/// Redis is logged, not an error, so readiness never depends on Redis. Fails only on a malformed
/// URL.
pub async fn connect(config: &StoreConfig) -> Result<Arc<dyn Store>, StoreError> {
    if !config.is_shared() {
        let snapshot = config.snapshot_path.as_ref().map(PathBuf::from);
        return Ok(Arc::new(MemoryStore::new(snapshot)));
    }
    Ok(Arc::new(SharedStore::connect(config).await?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A primary that fails while `down` is set.
    #[derive(Default)]
    struct Flaky {
        down: AtomicBool,
        memory: MemoryStore,
    }

    impl Flaky {
        fn check(&self) -> Result<(), StoreError> {
            if self.down.load(Ordering::SeqCst) {
                Err(StoreError("down".into()))
            } else {
                Ok(())
            }
        }
    }

    impl Store for Flaky {
        fn admit<'a>(
            &'a self,
            t: &'a [Take],
            b: &'a [Budget],
        ) -> BoxFuture<'a, Result<Admission, StoreError>> {
            Box::pin(async move {
                self.check()?;
                self.memory.admit(t, b).await
            })
        }
        fn charge<'a>(&'a self, c: &'a Charge) -> BoxFuture<'a, Result<(), StoreError>> {
            Box::pin(async move {
                self.check()?;
                self.memory.charge(c).await
            })
        }
        fn usage<'a>(
            &'a self,
            s: &'a str,
            p: Option<Duration>,
        ) -> BoxFuture<'a, Result<ScopeUsage, StoreError>> {
            Box::pin(async move {
                self.check()?;
                self.memory.usage(s, p).await
            })
        }
        fn peek<'a>(&'a self, t: &'a Take) -> BoxFuture<'a, Result<BucketState, StoreError>> {
            Box::pin(async move {
                self.check()?;
                self.memory.peek(t).await
            })
        }
        fn doc_get<'a>(&'a self, k: &'a str) -> BoxFuture<'a, Result<Option<Bytes>, StoreError>> {
            Box::pin(async move {
                self.check()?;
                self.memory.doc_get(k).await
            })
        }
        fn doc_put<'a>(
            &'a self,
            k: &'a str,
            v: Bytes,
            l: DocLimits,
        ) -> BoxFuture<'a, Result<bool, StoreError>> {
            Box::pin(async move {
                self.check()?;
                self.memory.doc_put(k, v, l).await
            })
        }
        fn doc_delete<'a>(&'a self, k: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
            Box::pin(async move {
                self.check()?;
                self.memory.doc_delete(k).await
            })
        }
    }

    fn rpm(limit: u64) -> Take {
        Take {
            key: "key:a:rpm".into(),
            limit,
            window: Duration::from_secs(60),
            cost: 1,
        }
    }

    #[tokio::test]
    async fn open_serves_locally_while_down_and_retries_once_per_interval() {
        let primary = Arc::new(Flaky::default());
        let store = SharedStore::new(primary.clone(), OnError::Open);
        let take = [rpm(2)];
        assert!(matches!(
            store.admit(&take, &[]).await,
            Ok(Admission::Admitted { .. })
        ));
        primary.down.store(true, Ordering::SeqCst);
        assert!(
            matches!(
                store.admit(&take, &[]).await,
                Ok(Admission::Admitted { .. })
            ),
            "local fallback"
        );
        assert!(!store.is_up());
        primary.down.store(false, Ordering::SeqCst);
        // Within the interval the primary is not tried: the local bucket (2 per minute) decides.
        assert!(matches!(
            store.admit(&take, &[]).await,
            Ok(Admission::Admitted { .. })
        ));
        assert!(
            matches!(store.admit(&take, &[]).await, Ok(Admission::Limited { .. })),
            "local bucket full"
        );
        assert!(!store.is_up());
        tokio::time::sleep(RETRY_INTERVAL).await;
        assert!(
            matches!(
                store.admit(&take, &[]).await,
                Ok(Admission::Admitted { .. })
            ),
            "the primary's bucket: one of two taken before the outage"
        );
        assert!(store.is_up());
        assert!(matches!(
            store.admit(&take, &[]).await,
            Ok(Admission::Limited { .. })
        ));
        assert!(store.probe().await);
    }

    fn spend(micros: u64) -> Charge {
        Charge {
            scopes: vec!["key:a".into()],
            counters: super::super::store::Counters {
                requests: 1,
                spend_micros: micros,
                ..Default::default()
            },
            periods: vec![("key:a".into(), Duration::from_secs(86_400))],
            corrections: Vec::new(),
        }
    }

    #[tokio::test]
    async fn spend_charged_during_an_outage_reaches_redis_when_it_is_back() {
        let primary = Arc::new(Flaky::default());
        let store = SharedStore::new(primary.clone(), OnError::Open);
        store.charge(&spend(100)).await.unwrap();
        primary.down.store(true, Ordering::SeqCst);
        for micros in [20, 30] {
            store.charge(&spend(micros)).await.unwrap();
        }
        primary.down.store(false, Ordering::SeqCst);
        // Let the retry interval pass without waiting for it.
        store.health().last_try = Instant::now()
            .checked_sub(RETRY_INTERVAL)
            .unwrap_or_else(Instant::now);
        store.charge(&spend(1)).await.unwrap();
        assert!(store.is_up());
        let day = Some(Duration::from_secs(86_400));
        let mut seen = 0;
        for _ in 0..100 {
            // The replay runs on a spawned task: give it turns until it has landed.
            seen = primary
                .memory
                .usage("key:a", day)
                .await
                .unwrap()
                .period_spend_micros;
            if seen == 151 {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(seen, 151, "100 before, 20 + 30 during, 1 after the outage");
        assert_eq!(store.backlog.take().0, []);
    }

    #[tokio::test]
    async fn closed_refuses_while_down() {
        let primary = Arc::new(Flaky::default());
        let store = SharedStore::new(primary.clone(), OnError::Closed);
        primary.down.store(true, Ordering::SeqCst);
        assert!(!store.probe().await);
        assert!(store.admit(&[rpm(2)], &[]).await.is_err());
        assert!(store.charge(&Charge::default()).await.is_err());
        assert!(store.usage("key:a", None).await.is_err());
        assert!(store.peek(&rpm(2)).await.is_err());
    }

    #[tokio::test]
    async fn without_a_url_the_store_is_memory() {
        let store = connect(&StoreConfig::default()).await.unwrap();
        assert!(matches!(
            store.admit(&[rpm(1)], &[]).await,
            Ok(Admission::Admitted { .. })
        ));
    }
}
