//! The in-memory [`Store`]: one replica's buckets and counters behind one mutex (each operation
//! is a few map lookups, far below the cost of contention). Spend and usage can be snapshotted
//! to a file, so a restart does not hand every key a fresh budget.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use serde::{Deserialize, Serialize};

use super::documents::Documents;
use super::store::{
    Admission, BucketState, Budget, Charge, Counters, DocLimits, ScopeUsage, Store, StoreError,
    Take, gcra, period_start,
};
use crate::task::BoxFuture;

/// Nanoseconds since the epoch (the same clock the Redis store reads with `TIME`).
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

const NS_PER_SEC: u64 = 1_000_000_000;

/// Spend of one scope in one period.
#[derive(Debug, Clone, Hash, PartialEq, Eq, Serialize, Deserialize)]
struct PeriodKey {
    scope: String,
    period_secs: u64,
    start: u64,
}

#[derive(Debug, Default)]
struct State {
    tats: HashMap<String, u64>,
    usage: HashMap<String, Counters>,
    spend: HashMap<PeriodKey, u64>,
    dirty: bool,
}

/// What a snapshot file holds.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Snapshot {
    usage: HashMap<String, Counters>,
    spend: Vec<(PeriodKey, u64)>,
}

/// The in-memory store.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    /// Stored documents, under their own lock: a large document's copy never delays admission.
    documents: Mutex<Documents>,
    snapshot: Option<PathBuf>,
}

impl MemoryStore {
    /// A store that saves spend and usage to `snapshot` (loading what is there now).
    pub fn new(snapshot: Option<PathBuf>) -> Self {
        let mut state = State::default();
        if let Some(path) = &snapshot {
            match std::fs::read(path) {
                Ok(bytes) => match serde_json::from_slice::<Snapshot>(&bytes) {
                    Ok(saved) => {
                        state.usage = saved.usage;
                        state.spend = saved.spend.into_iter().collect();
                    }
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "ignoring an unreadable usage snapshot")
                    }
                },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "cannot read the usage snapshot")
                }
            }
        }
        Self {
            state: Mutex::new(state),
            documents: Mutex::default(),
            snapshot,
        }
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, State>, StoreError> {
        self.state
            .lock()
            .map_err(|_| StoreError("memory store lock poisoned".to_owned()))
    }

    fn documents(&self) -> Result<std::sync::MutexGuard<'_, Documents>, StoreError> {
        self.documents
            .lock()
            .map_err(|_| StoreError("memory store documents lock poisoned".to_owned()))
    }

    /// Writes the snapshot when something changed since the last one (atomically: a temp file
    /// renamed over the old one). Blocking file I/O: call it off the request workers.
    pub fn save(&self) -> Result<(), StoreError> {
        let Some(path) = &self.snapshot else {
            return Ok(());
        };
        let snapshot = {
            let mut state = self.lock()?;
            if !state.dirty {
                return Ok(());
            }
            state.dirty = false;
            Snapshot {
                usage: state.usage.clone(),
                spend: state.spend.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            }
        };
        write_atomically(path, &snapshot)
            .map_err(|e| StoreError(format!("cannot save {}: {e}", path.display())))
    }

    /// Admission at an explicit time (for tests).
    pub fn admit_at(
        &self,
        takes: &[Take],
        budgets: &[Budget],
        now: u64,
    ) -> Result<Admission, StoreError> {
        let mut state = self.lock()?;
        for (index, budget) in budgets.iter().enumerate() {
            let spent = state
                .spend
                .get(&period_key(&budget.scope, budget.period, now))
                .copied()
                .unwrap_or(0);
            if spent >= budget.limit_micros {
                return Ok(Admission::OverBudget {
                    index,
                    spent_micros: spent,
                });
            }
        }
        let mut new_tats = Vec::with_capacity(takes.len());
        for (index, take) in takes.iter().enumerate() {
            let tat = state.tats.get(&take.key).copied().unwrap_or(0);
            match gcra::take(tat, now, take.limit, take.window, take.cost) {
                Ok(new_tat) => new_tats.push(new_tat),
                Err(retry_after) => {
                    let buckets = takes.iter().map(|t| bucket(&state, t, now)).collect();
                    return Ok(Admission::Limited {
                        index,
                        retry_after,
                        buckets,
                    });
                }
            }
        }
        let buckets = takes
            .iter()
            .zip(new_tats)
            .map(|(take, tat)| {
                state.tats.insert(take.key.clone(), tat);
                gcra::state(tat, now, take.limit, take.window)
            })
            .collect();
        Ok(Admission::Admitted { buckets })
    }

    /// Charging at an explicit time (for tests).
    pub fn charge_at(&self, charge: &Charge, now: u64) -> Result<(), StoreError> {
        let mut state = self.lock()?;
        for scope in &charge.scopes {
            state
                .usage
                .entry(scope.clone())
                .or_default()
                .add(&charge.counters);
        }
        if charge.counters.spend_micros > 0 {
            for (scope, period) in &charge.periods {
                let spend = state
                    .spend
                    .entry(period_key(scope, *period, now))
                    .or_default();
                *spend = spend.saturating_add(charge.counters.spend_micros);
            }
            // Keep only current periods: old ones can never be read again.
            let now_secs = now / NS_PER_SEC;
            state
                .spend
                .retain(|k, _| k.start + k.period_secs > now_secs.saturating_sub(k.period_secs));
        }
        for (take, delta) in &charge.corrections {
            let tat = state.tats.get(&take.key).copied().unwrap_or(0);
            let moved = gcra::adjust(tat, now, take.limit, take.window, *delta);
            state.tats.insert(take.key.clone(), moved);
        }
        state.dirty = true;
        Ok(())
    }
}

fn period_key(scope: &str, period: Duration, now: u64) -> PeriodKey {
    PeriodKey {
        scope: scope.to_owned(),
        period_secs: period.as_secs().max(1),
        start: period_start(now / NS_PER_SEC, period),
    }
}

fn bucket(state: &State, take: &Take, now: u64) -> BucketState {
    gcra::state(
        state.tats.get(&take.key).copied().unwrap_or(0),
        now,
        take.limit,
        take.window,
    )
}

fn write_atomically(path: &Path, snapshot: &Snapshot) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(snapshot).map_err(std::io::Error::other)?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

impl Store for MemoryStore {
    fn admit<'a>(
        &'a self,
        takes: &'a [Take],
        budgets: &'a [Budget],
    ) -> BoxFuture<'a, Result<Admission, StoreError>> {
        Box::pin(std::future::ready(self.admit_at(takes, budgets, now_ns())))
    }

    fn charge<'a>(&'a self, charge: &'a Charge) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(std::future::ready(self.charge_at(charge, now_ns())))
    }

    fn usage<'a>(
        &'a self,
        scope: &'a str,
        period: Option<Duration>,
    ) -> BoxFuture<'a, Result<ScopeUsage, StoreError>> {
        let read = || -> Result<ScopeUsage, StoreError> {
            let state = self.lock()?;
            let total = state.usage.get(scope).cloned().unwrap_or_default();
            let period_spend_micros = period
                .and_then(|p| state.spend.get(&period_key(scope, p, now_ns())).copied())
                .unwrap_or(0);
            Ok(ScopeUsage {
                total,
                period_spend_micros,
            })
        };
        Box::pin(std::future::ready(read()))
    }

    fn peek<'a>(&'a self, take: &'a Take) -> BoxFuture<'a, Result<BucketState, StoreError>> {
        let read =
            || -> Result<BucketState, StoreError> { Ok(bucket(&*self.lock()?, take, now_ns())) };
        Box::pin(std::future::ready(read()))
    }

    fn doc_get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Bytes>, StoreError>> {
        Box::pin(std::future::ready(
            self.documents()
                .map(|mut docs| docs.get(key, Instant::now())),
        ))
    }

    fn doc_put<'a>(
        &'a self,
        key: &'a str,
        value: Bytes,
        limits: DocLimits,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let max_bytes = usize::try_from(limits.max_bytes).unwrap_or(usize::MAX);
        Box::pin(std::future::ready(self.documents().map(|mut docs| {
            docs.put(key.to_owned(), value, limits.ttl, max_bytes, Instant::now())
        })))
    }

    fn doc_delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(std::future::ready(
            self.documents().map(|mut docs| docs.remove(key)),
        ))
    }

    fn flush(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        // Small JSON, written rarely; a blocking write on a worker is cheaper than a handoff
        // that would need the store to be `'static`.
        Box::pin(std::future::ready(self.save()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    fn take(key: &str, limit: u64, cost: u64) -> Take {
        Take {
            key: key.into(),
            limit,
            window: MIN,
            cost,
        }
    }

    #[test]
    fn takes_are_all_or_nothing() {
        let store = MemoryStore::new(None);
        let now = 100 * NS_PER_SEC;
        let takes = [take("key:a:rpm", 10, 1), take("team:t:rpm", 2, 1)];
        assert!(matches!(
            store.admit_at(&takes, &[], now),
            Ok(Admission::Admitted { .. })
        ));
        assert!(matches!(
            store.admit_at(&takes, &[], now),
            Ok(Admission::Admitted { .. })
        ));
        let Ok(Admission::Limited {
            index,
            retry_after,
            buckets,
        }) = store.admit_at(&takes, &[], now)
        else {
            panic!()
        };
        assert_eq!(index, 1, "the team bucket is the one that is full");
        assert_eq!(retry_after, Duration::from_secs(30));
        assert_eq!(
            buckets[0].remaining, 8,
            "the key's bucket was not charged for the refused request"
        );
    }

    #[test]
    fn budgets_stop_admission_once_spent_and_reset_next_period() {
        let store = MemoryStore::new(None);
        let day = Duration::from_secs(86_400);
        let now = 10 * 86_400 * NS_PER_SEC;
        let budget = [Budget {
            scope: "key:a".into(),
            period: day,
            limit_micros: 1_000,
        }];
        let charge = Charge {
            scopes: vec!["key:a".into(), "team:t".into()],
            counters: Counters {
                requests: 1,
                spend_micros: 1_500,
                ..Counters::default()
            },
            periods: vec![("key:a".into(), day)],
            corrections: vec![],
        };
        store.charge_at(&charge, now).unwrap();
        assert!(matches!(
            store.admit_at(&[], &budget, now),
            Ok(Admission::OverBudget {
                spent_micros: 1_500,
                ..
            })
        ));
        let tomorrow = now + 86_400 * NS_PER_SEC;
        assert!(matches!(
            store.admit_at(&[], &budget, tomorrow),
            Ok(Admission::Admitted { .. })
        ));
    }

    #[test]
    fn corrections_move_token_buckets() {
        let store = MemoryStore::new(None);
        let now = 100 * NS_PER_SEC;
        let tpm = take("key:a:tpm", 1000, 800);
        store
            .admit_at(std::slice::from_ref(&tpm), &[], now)
            .unwrap();
        let charge = Charge {
            corrections: vec![(tpm.clone(), -500)],
            ..Charge::default()
        };
        store.charge_at(&charge, now).unwrap();
        let Ok(Admission::Admitted { buckets }) =
            store.admit_at(&[take("key:a:tpm", 1000, 600)], &[], now)
        else {
            panic!("the refund made room")
        };
        assert_eq!(buckets[0].remaining, 100);
    }

    #[test]
    fn snapshots_keep_spend_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usage.json");
        let store = MemoryStore::new(Some(path.clone()));
        let charge = Charge {
            scopes: vec!["key:a".into()],
            counters: Counters {
                requests: 3,
                input_tokens: 10,
                spend_micros: 42,
                ..Counters::default()
            },
            periods: vec![("key:a".into(), Duration::from_secs(86_400))],
            corrections: vec![],
        };
        store.charge_at(&charge, now_ns()).unwrap();
        store.save().unwrap();
        let reloaded = MemoryStore::new(Some(path));
        let usage = futures_lite(reloaded.usage("key:a", Some(Duration::from_secs(86_400))));
        assert_eq!(usage.total.requests, 3);
        assert_eq!(usage.period_spend_micros, 42);
    }

    /// Memory store futures are ready at once.
    fn futures_lite<T>(future: BoxFuture<'_, Result<T, StoreError>>) -> T {
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut future = future;
        match future.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(result) => result.unwrap(),
            std::task::Poll::Pending => panic!("memory store futures are ready at once"),
        }
    }
}
