//! The process lifecycle as a state machine published on a `watch` channel — Starting → Ready →
//! Draining → Stopped — and the Unix signals that drive it. Knows nothing about HTTP.

use std::sync::Arc;

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::watch;

use crate::telemetry::metrics::LIFECYCLE_PHASE;

/// Where the process is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Config loaded, listeners binding: live, not ready.
    Starting,
    /// Serving: live and ready.
    Ready,
    /// SIGTERM seen: not ready, finishing in-flight work.
    Draining,
    /// Done: flushing and exiting.
    Stopped,
}

impl Phase {
    /// The name used in logs and probe bodies.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Ready => "ready",
            Self::Draining => "draining",
            Self::Stopped => "stopped",
        }
    }

    fn gauge(self) -> f64 {
        match self {
            Self::Starting => 0.0,
            Self::Ready => 1.0,
            Self::Draining => 2.0,
            Self::Stopped => 3.0,
        }
    }
}

/// The shared phase. Cloning shares the same channel.
#[derive(Clone)]
pub struct Lifecycle {
    tx: Arc<watch::Sender<Phase>>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self::new()
    }
}

impl Lifecycle {
    /// Starts in [`Phase::Starting`].
    pub fn new() -> Self {
        metrics::gauge!(LIFECYCLE_PHASE).set(Phase::Starting.gauge());
        Self {
            tx: Arc::new(watch::Sender::new(Phase::Starting)),
        }
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        *self.tx.borrow()
    }

    /// Moves forward to `phase`; the lifecycle never goes back (a late `Ready` after a drain
    /// began is ignored).
    pub fn advance(&self, phase: Phase) {
        let changed = self.tx.send_if_modified(|current| {
            if phase > *current {
                *current = phase;
                true
            } else {
                false
            }
        });
        if changed {
            metrics::gauge!(LIFECYCLE_PHASE).set(phase.gauge());
            tracing::info!(phase = phase.as_str(), "lifecycle phase changed");
        }
    }

    /// A receiver that sees every later change.
    pub fn subscribe(&self) -> watch::Receiver<Phase> {
        self.tx.subscribe()
    }
}

/// What a signal asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// SIGTERM or SIGINT.
    Shutdown,
    /// SIGHUP.
    Reload,
}

/// The signals the gateway reacts to.
pub struct Signals {
    term: Signal,
    int: Signal,
    hup: Signal,
}

impl Signals {
    /// Registers the handlers (before the process reports ready, so no signal is missed).
    pub fn new() -> std::io::Result<Self> {
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// The next signal.
    pub async fn next(&mut self) -> Request {
        tokio::select! {
            _ = self.term.recv() => Request::Shutdown,
            _ = self.int.recv() => Request::Shutdown,
            _ = self.hup.recv() => Request::Reload,
        }
    }

    /// The next SIGTERM/SIGINT (SIGHUP is ignored here).
    pub async fn shutdown(&mut self) {
        while self.next().await != Request::Shutdown {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_only_move_forward() {
        let lifecycle = Lifecycle::new();
        let mut rx = lifecycle.subscribe();
        lifecycle.advance(Phase::Ready);
        lifecycle.advance(Phase::Draining);
        lifecycle.advance(Phase::Ready);
        assert_eq!(lifecycle.phase(), Phase::Draining);
        assert!(rx.has_changed().unwrap());
        assert_eq!(*rx.borrow_and_update(), Phase::Draining);
        lifecycle.advance(Phase::Stopped);
        assert_eq!(lifecycle.phase(), Phase::Stopped);
    }
}
