//! What the router knows about each deployment beyond config: its circuit breaker, requests in
//! flight, a latency moving average, and its provider's health. Keyed by (provider name,
//! upstream model) so a reload that keeps the deployment keeps its state.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use super::breaker::Breaker;
use super::quota::MinuteWindow;
use crate::config::schema::BreakerConfig;

/// Weight of a new latency sample in the moving average (higher reacts faster).
const EWMA_ALPHA: f64 = 0.3;

/// One deployment's live state.
pub struct DeploymentState {
    /// Circuit breaker.
    pub breaker: Breaker,
    /// The breaker settings it was built with (a change gives a new breaker).
    breaker_config: BreakerConfig,
    inflight: AtomicU32,
    /// Latency moving average in microseconds; 0 while unknown.
    latency_us: AtomicU64,
    /// The provider's active health check verdict (shared by all its deployments).
    healthy: Arc<AtomicBool>,
    /// What was sent over the trailing minute (against the deployment's upstream quota).
    pub window: MinuteWindow,
}

/// Counts a request in flight until dropped.
pub struct InflightGuard(Arc<DeploymentState>);

impl Drop for InflightGuard {
    fn drop(&mut self) {
        self.0.inflight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl DeploymentState {
    /// Fresh state for `provider`/`model`.
    pub fn new(
        config: &BreakerConfig,
        provider: &str,
        model: &str,
        healthy: Arc<AtomicBool>,
    ) -> Self {
        Self {
            breaker: Breaker::new(config, provider, model),
            breaker_config: *config,
            inflight: AtomicU32::new(0),
            latency_us: AtomicU64::new(0),
            healthy,
            window: MinuteWindow::default(),
        }
    }

    /// Whether this state can be carried into a generation with `config`'s breaker settings.
    pub fn compatible(&self, config: &BreakerConfig) -> bool {
        self.breaker_config == *config
    }

    /// Requests in flight now.
    pub fn inflight(&self) -> u32 {
        self.inflight.load(Ordering::Relaxed)
    }

    /// Counts one more request in flight until the guard drops.
    pub fn start(self: &Arc<Self>) -> InflightGuard {
        self.inflight.fetch_add(1, Ordering::Relaxed);
        InflightGuard(Arc::clone(self))
    }

    /// Folds a latency sample (time to first byte) into the moving average.
    pub fn observe(&self, latency: Duration) {
        let sample = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        let _ = self
            .latency_us
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                Some(if old == 0 {
                    sample
                } else {
                    (old as f64 * (1.0 - EWMA_ALPHA) + sample as f64 * EWMA_ALPHA) as u64
                })
            });
    }

    /// The latency moving average, when any sample was seen.
    pub fn latency(&self) -> Option<Duration> {
        match self.latency_us.load(Ordering::Relaxed) {
            0 => None,
            us => Some(Duration::from_micros(us)),
        }
    }

    /// Whether the provider's health check passes.
    pub fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// Whether the router may pick this deployment now.
    pub fn available(&self) -> bool {
        self.healthy() && self.breaker.available()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> Arc<DeploymentState> {
        Arc::new(DeploymentState::new(
            &BreakerConfig::default(),
            "p",
            "m",
            Arc::new(AtomicBool::new(true)),
        ))
    }

    #[test]
    fn counts_inflight_and_averages_latency() {
        let s = state();
        assert_eq!(s.latency(), None);
        {
            let _a = s.start();
            let _b = s.start();
            assert_eq!(s.inflight(), 2);
        }
        assert_eq!(s.inflight(), 0);
        s.observe(Duration::from_millis(100));
        assert_eq!(s.latency(), Some(Duration::from_millis(100)));
        s.observe(Duration::from_millis(200));
        assert_eq!(s.latency(), Some(Duration::from_millis(130)));
    }

    #[test]
    fn health_gates_availability() {
        let flag = Arc::new(AtomicBool::new(true));
        let s = DeploymentState::new(&BreakerConfig::default(), "p", "m", Arc::clone(&flag));
        assert!(s.available());
        flag.store(false, Ordering::Relaxed);
        assert!(!s.available());
    }
}
