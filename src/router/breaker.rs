//! Circuit breaker per deployment: the `failsafe` state machine (consecutive failures, or a
//! failure ratio — failsafe's success-rate moving average whose mean lifetime is the window — once
//! a window has passed and at least `min_requests` were seen, then open for `open_for`) with two
//! things failsafe leaves to the caller: half-open admits **one** probe at a time (failsafe would
//! let every caller through and stampede a recovering upstream), and the state is published as
//! `llm_circuit_state{provider,model}` and readable by the router without side effects.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use failsafe::backoff::{self, Constant};
use failsafe::failure_policy::{
    self, ConsecutiveFailures, FailurePolicy, OrElse, SuccessRateOverTimeWindow,
};
use failsafe::{Config, Instrument, StateMachine};

use crate::config::schema::BreakerConfig;
use crate::telemetry::metrics::CIRCUIT_STATE;

/// Breaker states, as published in the gauge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Calls flow.
    Closed = 0,
    /// One probe at a time decides.
    HalfOpen = 1,
    /// Calls are refused until `open_for` passed.
    Open = 2,
}

pub use crate::config::routing::MIN_BREAKER_WINDOW as MIN_WINDOW;

type Policy = OrElse<ConsecutiveFailures<Constant>, SuccessRateOverTimeWindow<Constant>>;

/// Tracks failsafe's transitions (failsafe exposes them only through an instrument).
struct Tracker {
    state: Arc<AtomicU8>,
    opened_at: Arc<AtomicU64>,
    epoch: Instant,
    gauge: metrics::Gauge,
}

impl Tracker {
    fn set(&self, state: State) {
        self.state.store(state as u8, Ordering::Release);
        self.gauge.set(state as u8 as f64);
    }
}

impl Instrument for Tracker {
    fn on_call_rejected(&self) {}

    fn on_open(&self) {
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.opened_at.store(now, Ordering::Release);
        self.set(State::Open);
    }

    fn on_half_open(&self) {
        self.set(State::HalfOpen);
    }

    fn on_closed(&self) {
        self.set(State::Closed);
    }
}

/// One deployment's breaker.
pub struct Breaker {
    machine: StateMachine<Policy, Tracker>,
    state: Arc<AtomicU8>,
    opened_at: Arc<AtomicU64>,
    epoch: Instant,
    open_for: Duration,
    probing: AtomicBool,
}

/// Permission to call a deployment; report the outcome with [`Permit::record`]. Dropped
/// without an outcome (the client went away), a half-open probe slot is given back.
#[must_use = "report the outcome with Permit::record"]
pub struct Permit<'a> {
    breaker: &'a Breaker,
    probe: bool,
}

impl Permit<'_> {
    /// Reports the outcome of the call.
    pub fn record(self, success: bool) {
        if success {
            self.breaker.machine.on_success();
        } else {
            self.breaker.machine.on_error();
        }
        // Drop releases the probe slot.
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.probe {
            self.breaker.probing.store(false, Ordering::Release);
        }
    }
}

impl Breaker {
    /// A closed breaker for `provider`/`model` with `config`'s thresholds.
    pub fn new(config: &BreakerConfig, provider: &str, model: &str) -> Self {
        let open = backoff::constant(config.open_for);
        let success_rate = (1.0 - config.failure_ratio).clamp(0.0, 1.0);
        let policy =
            failure_policy::consecutive_failures(config.failure_threshold.max(1), open.clone())
                .or_else(failure_policy::success_rate_over_time_window(
                    success_rate,
                    config.min_requests,
                    config.window,
                    open,
                ));
        let state = Arc::new(AtomicU8::new(State::Closed as u8));
        let opened_at = Arc::new(AtomicU64::new(0));
        let epoch = Instant::now();
        let tracker = Tracker {
            state: Arc::clone(&state),
            opened_at: Arc::clone(&opened_at),
            epoch,
            gauge: metrics::gauge!(CIRCUIT_STATE, "provider" => provider.to_owned(), "model" => model.to_owned()),
        };
        Self {
            machine: Config::new()
                .failure_policy(policy)
                .instrument(tracker)
                .build(),
            state,
            opened_at,
            epoch,
            open_for: config.open_for,
            probing: AtomicBool::new(false),
        }
    }

    /// The state as last transitioned (an open breaker whose time is up reads as open until
    /// someone asks for a permit).
    pub fn state(&self) -> State {
        match self.state.load(Ordering::Acquire) {
            0 => State::Closed,
            1 => State::HalfOpen,
            _ => State::Open,
        }
    }

    /// Whether a call could be admitted now, without changing anything (for routing).
    pub fn available(&self) -> bool {
        match self.state() {
            State::Closed => true,
            State::HalfOpen => !self.probing.load(Ordering::Acquire),
            State::Open => self.remaining_open().is_zero() && !self.probing.load(Ordering::Acquire),
        }
    }

    /// How long the breaker stays open (zero when it is not open).
    pub fn remaining_open(&self) -> Duration {
        if self.state() != State::Open {
            return Duration::ZERO;
        }
        let opened = Duration::from_millis(self.opened_at.load(Ordering::Acquire));
        (opened + self.open_for).saturating_sub(self.epoch.elapsed())
    }

    /// Asks to call: `None` while open, or half-open with a probe already out.
    pub fn try_acquire(&self) -> Option<Permit<'_>> {
        if !self.machine.is_call_permitted() {
            return None;
        }
        if self.state() == State::HalfOpen {
            // Exactly one probe: the first caller flips the flag, the rest are refused.
            return self
                .probing
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .ok()
                .map(|_| Permit {
                    breaker: self,
                    probe: true,
                });
        }
        Some(Permit {
            breaker: self,
            probe: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(threshold: u32, open_for: Duration) -> BreakerConfig {
        BreakerConfig {
            failure_threshold: threshold,
            failure_ratio: 0.5,
            window: Duration::from_secs(60),
            min_requests: 1000,
            open_for,
        }
    }

    #[test]
    fn opens_after_consecutive_failures_then_half_opens_with_one_probe() {
        let breaker = Breaker::new(&config(3, Duration::from_millis(50)), "p", "m");
        for _ in 0..3 {
            breaker.try_acquire().unwrap().record(false);
        }
        assert_eq!(breaker.state(), State::Open);
        assert!(!breaker.available());
        assert!(breaker.try_acquire().is_none());
        assert!(breaker.remaining_open() > Duration::ZERO);
        std::thread::sleep(Duration::from_millis(60));
        assert!(breaker.available());
        let probe = breaker.try_acquire().unwrap();
        assert_eq!(breaker.state(), State::HalfOpen);
        assert!(breaker.try_acquire().is_none(), "a second probe must wait");
        assert!(!breaker.available());
        probe.record(true);
        assert_eq!(breaker.state(), State::Closed);
        assert!(breaker.try_acquire().is_some());
    }

    #[test]
    fn a_failed_probe_reopens_and_successes_reset_the_count() {
        let breaker = Breaker::new(&config(2, Duration::from_millis(20)), "p", "m");
        let ok = |b: &Breaker, success| b.try_acquire().unwrap().record(success);
        ok(&breaker, false);
        ok(&breaker, true);
        ok(&breaker, false);
        assert_eq!(
            breaker.state(),
            State::Closed,
            "failures were not consecutive"
        );
        ok(&breaker, false);
        assert_eq!(breaker.state(), State::Open);
        std::thread::sleep(Duration::from_millis(30));
        breaker.try_acquire().unwrap().record(false);
        assert_eq!(breaker.state(), State::Open);
    }

    #[test]
    fn the_failure_ratio_opens_with_enough_requests() {
        let mut cfg = config(1000, Duration::from_secs(30));
        cfg.min_requests = 10;
        cfg.window = MIN_WINDOW;
        let breaker = Breaker::new(&cfg, "p", "m");
        // failsafe judges the ratio only once a whole window has passed.
        std::thread::sleep(MIN_WINDOW + Duration::from_millis(50));
        for i in 0..40 {
            let Some(permit) = breaker.try_acquire() else {
                break;
            };
            permit.record(i % 4 == 3);
        }
        // failsafe's ratio is a time-decayed average (mean lifetime = window): a burst within
        // one instant keeps the first outcome's weight, here a failure.
        assert_eq!(breaker.state(), State::Open, "75% failures over the window");
    }

    #[test]
    fn a_dropped_probe_lets_the_next_one_through() {
        let breaker = Breaker::new(&config(1, Duration::from_millis(10)), "p", "m");
        breaker.try_acquire().unwrap().record(false);
        std::thread::sleep(Duration::from_millis(20));
        let probe = breaker.try_acquire().unwrap();
        drop(probe);
        assert!(breaker.try_acquire().is_some());
    }
}
