//! Handing a quiet gateway's memory back to the pod. jemalloc's background thread returns freed
//! pages within a second, but objects a worker frees go first to that worker's thread cache,
//! which is only trimmed when the same worker allocates again: after a burst the idle workers
//! kept ~1.5 MiB of cached objects, and the pages under them, for as long as the pod stayed
//! quiet. This module notices when requests and connections stop starting and ending, and has
//! each runtime worker flush its cache the next time it parks (BENCHMARKS.md, "memory after a
//! burst").

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tikv_jemalloc_ctl::{Access, AsName};

/// How often the gateway checks whether it has gone quiet: a burst's cached memory is handed
/// back between one and two periods after its last request ends.
pub const QUIET_CHECK: Duration = Duration::from_secs(2);

/// Requests and connections started plus those ended, ever: unchanged over a whole
/// [`QUIET_CHECK`] means quiet.
static EVENTS: AtomicU64 = AtomicU64::new(0);

/// Bumped once per quiet period; a worker whose last flush was under an older value flushes.
static EPOCH: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// The [`EPOCH`] this thread last flushed its cache under.
    static FLUSHED: Cell<u64> = const { Cell::new(0) };
}

/// Records that a request or a connection started or ended (one relaxed increment).
/// Connections count too: a client that keeps its connections open after their last response
/// frees their buffers only when it closes them, which must start a quiet period of its own.
pub fn note_activity() {
    EVENTS.fetch_add(1, Ordering::Relaxed);
}

/// [`EVENTS`] as it stands, for the tests of the modules that note activity.
#[cfg(test)]
pub(crate) fn events() -> u64 {
    EVENTS.load(Ordering::Relaxed)
}

/// The runtime's park hook: flushes this worker's allocator cache once per quiet period. One
/// atomic load per park otherwise.
pub fn on_worker_park() {
    let epoch = EPOCH.load(Ordering::Relaxed);
    if FLUSHED.with(|seen| seen.replace(epoch)) != epoch
        && let Err(e) = flush_thread_cache()
    {
        tracing::debug!(error = %e, "cannot flush the allocator's thread cache");
    }
}

/// Empties the calling thread's jemalloc cache into the arena, where freed pages are purged by
/// the background thread. jemalloc has `thread.tcache.flush` for this, but it takes no value,
/// which the safe interface cannot express; disabling the cache flushes and frees it, and
/// enabling it again starts an empty one.
fn flush_thread_cache() -> Result<(), tikv_jemalloc_ctl::Error> {
    let name = b"thread.tcache.enabled\0".name();
    name.write(false)?;
    name.write(true)
}

/// Watches for quiet: when nothing started or ended during a whole [`QUIET_CHECK`] after
/// some did, starts a new flush epoch and wakes the runtime's workers so each parks again and
/// flushes.
pub async fn trim_when_quiet() {
    let workers = tokio::runtime::Handle::current().metrics().num_workers();
    let mut ticker = tokio::time::interval(QUIET_CHECK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = EVENTS.load(Ordering::Relaxed);
    let mut trimmed = last;
    loop {
        ticker.tick().await;
        let now = EVENTS.load(Ordering::Relaxed);
        if quiet_since_trim(last, now, trimmed) {
            EPOCH.fetch_add(1, Ordering::Relaxed);
            trimmed = now;
            // Parked workers must wake to flush. A task spawned from a worker goes to its LIFO
            // slot without waking anyone; each further spawn pushes the previous one to the
            // shared queue and wakes a parked worker, which steals (or finds nothing), parks
            // again and flushes. So `workers` spawns wake the `workers - 1` others, and this
            // worker flushes when it parks after running the last.
            for _ in 0..workers {
                tokio::spawn(async {});
            }
        }
        last = now;
    }
}

/// Whether a check that saw `now` events, after one that saw `last`, finds the gateway quiet
/// with activity since the flush at `trimmed`.
fn quiet_since_trim(last: u64, now: u64, trimmed: u64) -> bool {
    now == last && now != trimmed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_means_no_events_for_a_period_after_some() {
        let cases = [
            // (last, now, trimmed, quiet)
            (5, 5, 5, false),  // nothing since the last flush: no new epoch
            (5, 9, 5, false),  // busy
            (9, 9, 5, true),   // quiet after activity
            (9, 9, 9, false),  // already flushed for it
            (9, 11, 9, false), // busy again
        ];
        for (last, now, trimmed, want) in cases {
            assert_eq!(
                quiet_since_trim(last, now, trimmed),
                want,
                "{last} {now} {trimmed}"
            );
        }
    }

    #[test]
    fn a_worker_flushes_at_its_first_park_of_each_epoch() {
        // A thread of its own: FLUSHED is per thread, and other tests may bump EPOCH.
        let worker = std::thread::spawn(|| {
            assert!(flush_thread_cache().is_ok(), "jemalloc refused the flush");
            let epoch = EPOCH.fetch_add(1, Ordering::Relaxed) + 1;
            on_worker_park();
            assert!(
                FLUSHED.with(Cell::get) >= epoch,
                "the park after a new epoch flushes"
            );
        });
        assert!(worker.join().is_ok());
    }
}
