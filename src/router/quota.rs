//! A deployment's upstream quota (`rpm` / `tpm` in `models[].deployments[]`): what this replica
//! sent it over the trailing minute, so the router can steer away before the upstream answers 429.
//! The count is a sliding-window estimate (the previous fixed minute weighted by how much of it
//! still overlaps the window, plus the current minute): exact enough to steer by, two numbers of
//! state. Tokens are charged like Azure counts them at admission: estimated prompt plus
//! `max_tokens`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::limits::MINUTE;

/// A deployment's configured upstream quota.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quota {
    /// Requests per minute.
    pub rpm: Option<u64>,
    /// Tokens per minute.
    pub tpm: Option<u64>,
}

impl Quota {
    /// Whether any limit is set.
    pub fn is_set(&self) -> bool {
        self.rpm.is_some() || self.tpm.is_some()
    }
}

/// Requests and tokens in one fixed minute.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    requests: u64,
    tokens: u64,
}

#[derive(Debug)]
struct Windows {
    /// Index of the current fixed minute since `epoch`.
    minute: u64,
    current: Counts,
    previous: Counts,
}

/// What one deployment was sent over the trailing minute.
#[derive(Debug)]
pub struct MinuteWindow {
    epoch: Instant,
    windows: Mutex<Windows>,
}

impl Default for MinuteWindow {
    fn default() -> Self {
        Self {
            epoch: Instant::now(),
            windows: Mutex::new(Windows {
                minute: 0,
                current: Counts::default(),
                previous: Counts::default(),
            }),
        }
    }
}

impl MinuteWindow {
    /// Whether one more request of `tokens` stays within `quota` at `now`.
    pub fn fits(&self, quota: &Quota, tokens: u64, now: Instant) -> bool {
        if !quota.is_set() {
            return true;
        }
        let (requests, used) = self.estimate(now);
        quota.rpm.is_none_or(|limit| requests < limit)
            && quota
                .tpm
                .is_none_or(|limit| used.saturating_add(tokens) <= limit)
    }

    /// Counts one request of `tokens` sent at `now`.
    pub fn record(&self, tokens: u64, now: Instant) {
        let Ok(mut windows) = self.windows.lock() else {
            return;
        };
        self.roll(&mut windows, now);
        windows.current.requests = windows.current.requests.saturating_add(1);
        windows.current.tokens = windows.current.tokens.saturating_add(tokens);
    }

    /// (requests, tokens) over the minute ending at `now`.
    fn estimate(&self, now: Instant) -> (u64, u64) {
        let Ok(mut windows) = self.windows.lock() else {
            return (0, 0);
        };
        self.roll(&mut windows, now);
        let into = self.elapsed(now).as_nanos() % MINUTE.as_nanos();
        // The share of the previous minute that still lies inside the trailing window.
        let overlap = 1.0 - into as f64 / MINUTE.as_nanos() as f64;
        // Rounded up: steering early is cheap, a 429 is not.
        let weigh = |previous: u64, current: u64| {
            ((previous as f64 * overlap).ceil() as u64).saturating_add(current)
        };
        (
            weigh(windows.previous.requests, windows.current.requests),
            weigh(windows.previous.tokens, windows.current.tokens),
        )
    }

    fn elapsed(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.epoch)
    }

    fn roll(&self, windows: &mut Windows, now: Instant) {
        let minute = (self.elapsed(now).as_secs()) / MINUTE.as_secs();
        match minute.saturating_sub(windows.minute) {
            0 => {}
            1 => {
                windows.previous = windows.current;
                windows.current = Counts::default();
            }
            _ => {
                windows.previous = Counts::default();
                windows.current = Counts::default();
            }
        }
        windows.minute = windows.minute.max(minute);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RPM_3: Quota = Quota {
        rpm: Some(3),
        tpm: None,
    };
    const TPM_100: Quota = Quota {
        rpm: None,
        tpm: Some(100),
    };

    #[test]
    fn limits_fill_then_the_window_slides() {
        let w = MinuteWindow::default();
        let t0 = w.epoch;
        let cases: [(Quota, u64, usize); 2] = [(RPM_3, 1, 3), (TPM_100, 40, 2)];
        for (quota, tokens, fit) in cases {
            let w = MinuteWindow::default();
            let t0 = w.epoch;
            for _ in 0..fit {
                assert!(w.fits(&quota, tokens, t0));
                w.record(tokens, t0);
            }
            assert!(!w.fits(&quota, tokens, t0), "{quota:?}");
            // Just into the next minute, nearly all of the old minute still counts.
            assert!(!w.fits(&quota, tokens, t0 + MINUTE + Duration::from_secs(1)));
            assert!(w.fits(&quota, tokens, t0 + MINUTE * 2));
        }
        assert!(w.fits(&Quota::default(), u64::MAX, t0));
    }

    #[test]
    fn the_previous_minute_fades_out_linearly() {
        let w = MinuteWindow::default();
        let t0 = w.epoch;
        for _ in 0..10 {
            w.record(0, t0);
        }
        let quota = |rpm| Quota {
            rpm: Some(rpm),
            tpm: None,
        };
        let late = t0 + MINUTE + MINUTE * 3 / 4;
        // A quarter of the old minute overlaps: 2.5 of 10 requests count, rounded up.
        assert!(w.fits(&quota(4), 0, late));
        assert!(!w.fits(&quota(3), 0, late));
    }
}
