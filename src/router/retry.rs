//! Retry timing: exponential backoff with full jitter between `initial` and `max`, stretched to
//! the upstream's `Retry-After` when that is longer, never past the request's deadline.

use std::time::{Duration, Instant};

use crate::config::schema::RetryBackoff;
use crate::telemetry::ids::random_u64;

/// The delay before retry number `retry` (1 = the first retry).
pub fn delay(backoff: &RetryBackoff, retry: u32, hint: Option<Duration>) -> Duration {
    let exponent = retry.saturating_sub(1).min(16);
    let ceiling = backoff
        .initial
        .saturating_mul(1 << exponent)
        .min(backoff.max);
    // Full jitter spreads retries of many clients apart; keep at least half the step so a
    // retry is never immediate.
    let half = ceiling / 2;
    let jitter = if half.is_zero() {
        Duration::ZERO
    } else {
        Duration::from_nanos(
            random_u64() % u64::try_from(half.as_nanos()).unwrap_or(u64::MAX).max(1),
        )
    };
    let backoff = half + jitter;
    hint.map_or(backoff, |hint| hint.max(backoff))
}

/// Whether waiting `delay` still leaves time before `deadline`.
pub fn fits(delay: Duration, deadline: Instant) -> bool {
    Instant::now() + delay < deadline
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_within_bounds_and_honours_hints() {
        let b = RetryBackoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        for _ in 0..100 {
            let first = delay(&b, 1, None);
            assert!(
                first >= Duration::from_millis(50) && first <= Duration::from_millis(100),
                "{first:?}"
            );
            let third = delay(&b, 3, None);
            assert!(
                third >= Duration::from_millis(200) && third <= Duration::from_millis(400),
                "{third:?}"
            );
            let tenth = delay(&b, 10, None);
            assert!(tenth <= Duration::from_secs(1), "{tenth:?}");
        }
        assert_eq!(
            delay(&b, 1, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert!(delay(&b, 5, Some(Duration::from_millis(1))) >= Duration::from_millis(500));
        assert!(!fits(
            Duration::from_secs(10),
            Instant::now() + Duration::from_secs(1)
        ));
        assert!(fits(
            Duration::from_millis(1),
            Instant::now() + Duration::from_secs(1)
        ));
    }
}
