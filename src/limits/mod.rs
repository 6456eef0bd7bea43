//! Admission limits: the seed's global request rate (`rate_limit`), a lock-free GCRA whose burst
//! equals the per-minute limit (a fresh limiter admits a whole minute at once), and the in-flight
//! token budget (`budget`).

pub mod admission;
pub mod backlog;
pub mod budget;
pub mod documents;
pub mod memory;
pub mod redis;
pub mod report;
pub mod shared;
pub mod store;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The window a per-minute limit refers to.
pub const MINUTE: Duration = Duration::from_secs(60);

/// A generic cell rate limiter: `limit` requests per `period`, burst = `limit`.
#[derive(Debug)]
pub struct Gcra {
    /// Theoretical arrival time of the next request, in ns since `epoch`.
    tat: AtomicU64,
    interval_ns: u64,
    tolerance_ns: u64,
    epoch: Instant,
    limit: u32,
}

impl Gcra {
    /// A limiter for `limit` requests per `period` (`limit` ≥ 1).
    pub fn new(limit: u32, period: Duration) -> Self {
        let limit = limit.max(1);
        let period_ns = u64::try_from(period.as_nanos()).unwrap_or(u64::MAX);
        let interval_ns = period_ns / u64::from(limit);
        Self {
            tat: AtomicU64::new(0),
            interval_ns,
            tolerance_ns: period_ns.saturating_sub(interval_ns),
            epoch: Instant::now(),
            limit,
        }
    }

    /// The configured limit.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Takes one unit now, or says how long until one is free.
    pub fn check(&self) -> Result<(), Duration> {
        self.check_at(Instant::now())
    }

    /// [`Gcra::check`] at a given instant (for tests).
    pub fn check_at(&self, now: Instant) -> Result<(), Duration> {
        let now_ns =
            u64::try_from(now.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX);
        let mut current = self.tat.load(Ordering::Relaxed);
        loop {
            let tat = current.max(now_ns);
            let earliest = tat.saturating_sub(self.tolerance_ns);
            if earliest > now_ns {
                return Err(Duration::from_nanos(earliest - now_ns));
            }
            match self.tat.compare_exchange_weak(
                current,
                tat + self.interval_ns,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(()),
                Err(actual) => current = actual,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_equals_limit_then_refills_evenly() {
        let gcra = Gcra::new(6, MINUTE);
        let t0 = Instant::now();
        for _ in 0..6 {
            assert!(gcra.check_at(t0).is_ok());
        }
        let wait = gcra.check_at(t0).unwrap_err();
        assert!(
            wait <= Duration::from_secs(10) && wait > Duration::from_secs(9),
            "{wait:?}"
        );
        assert!(gcra.check_at(t0 + Duration::from_secs(10)).is_ok());
        assert!(gcra.check_at(t0 + Duration::from_secs(10)).is_err());
    }

    #[test]
    fn concurrent_takers_never_exceed_the_burst() {
        let gcra = std::sync::Arc::new(Gcra::new(100, MINUTE));
        let t0 = Instant::now();
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let g = gcra.clone();
                std::thread::spawn(move || (0..100).filter(|_| g.check_at(t0).is_ok()).count())
            })
            .collect();
        let admitted: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(admitted, 100);
    }
}
