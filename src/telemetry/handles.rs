//! Metric handles resolved once per label set. A `counter!`/`histogram!` call with owned label
//! values builds a key (a vector and a string per label), hashes it and looks it up in the
//! recorder on every call: a dozen such calls per request were about a tenth of the gateway's
//! CPU (BENCHMARKS.md). Here the label values are hashed as borrowed strings and the handle the
//! recorder gave the first time is reused.
//!
//! Label values are bounded by design (configured models or `other`, configured providers and
//! teams, HTTP statuses), so the cache stays small; [`MAX_CACHED`] caps it anyway.

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{PoisonError, RwLock};

use rustc_hash::{FxHashMap, FxHasher};

/// Label sets one metric caches at most; beyond it handles are built per call, as without cache.
pub const MAX_CACHED: usize = 4096;

/// Whether a recorder is installed: a handle made before records nowhere and must not be kept.
static RECORDING: AtomicBool = AtomicBool::new(false);

/// Says a recorder is installed: handles made from now on are worth keeping.
pub fn start_recording() {
    RECORDING.store(true, Ordering::Release);
}

/// Whether a recorder is installed.
pub fn recording() -> bool {
    RECORDING.load(Ordering::Acquire)
}

/// The label sets whose values hash alike, each with its handle.
type Bucket<H> = Vec<(Box<[String]>, H)>;

/// The handles of one metric, by label values.
pub struct Handles<H> {
    /// Keyed by the values' hash already: hashing it again with SipHash cost more than the
    /// lookup itself.
    map: RwLock<FxHashMap<u64, Bucket<H>>>,
}

impl<H> Default for Handles<H> {
    fn default() -> Self {
        Self {
            map: RwLock::new(FxHashMap::default()),
        }
    }
}

impl<H: Clone> Handles<H> {
    /// The handle for `values`, made by `make` the first time.
    pub fn get(&self, values: &[&str], make: impl FnOnce() -> H) -> H {
        if !recording() {
            // A handle made before the recorder exists records nowhere: never keep one.
            return make();
        }
        let mut hasher = FxHasher::default();
        values.hash(&mut hasher);
        let hash = hasher.finish();
        let same = |(labels, _): &&(Box<[String]>, H)| labels.iter().eq(values.iter());
        {
            // Readers only clone a handle: a poisoned lock still holds whole entries.
            let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
            if let Some((_, handle)) = map.get(&hash).and_then(|bucket| bucket.iter().find(same)) {
                return handle.clone();
            }
        }
        let handle = make();
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        if map.len() < MAX_CACHED {
            let bucket = map.entry(hash).or_default();
            if !bucket.iter().any(|entry| same(&entry)) {
                let labels = values.iter().map(|v| (*v).to_owned()).collect();
                bucket.push((labels, handle.clone()));
            }
        }
        handle
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn one_handle_per_label_set() {
        super::super::metrics::install().unwrap();
        let made = AtomicUsize::new(0);
        let handles = Handles::<usize>::default();
        let get = |values: &[&str]| handles.get(values, || made.fetch_add(1, Ordering::SeqCst));
        let cases: [(&[&str], usize); 5] = [
            (&["m", "p", "200"], 0),
            (&["m", "p", "500"], 1),
            (&["m", "p", "200"], 0),
            (&["m", "p2", "200"], 2),
            // Same strings split differently are another label set.
            (&["mp", "", "200"], 3),
        ];
        for (values, want) in cases {
            assert_eq!(get(values), want, "{values:?}");
        }
        assert_eq!(made.load(Ordering::SeqCst), 4);
    }
}
