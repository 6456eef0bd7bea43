//! The in-flight token budget (`limits.max_inflight_tokens`): a weighted semaphore where each
//! request holds its estimated prompt tokens plus its `max_tokens` until it ends. It bounds the
//! work (and upstream spend) in flight, not just the request count. A request larger than the
//! whole budget takes all of it, so it runs alone rather than never.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::GatewayError;

/// When a client refused by a full budget should try again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The budget.
#[derive(Debug)]
pub struct TokenBudget {
    tokens: Arc<Semaphore>,
    total: u32,
    queue_timeout: Duration,
}

impl TokenBudget {
    /// A budget of `total` tokens (capped at `u32::MAX`); a request waits at most
    /// `queue_timeout` for room.
    pub fn new(total: u64, queue_timeout: Duration) -> Self {
        let total = u32::try_from(total).unwrap_or(u32::MAX).max(1);
        Self {
            tokens: Arc::new(Semaphore::new(total as usize)),
            total,
            queue_timeout,
        }
    }

    /// The same tokens (and their holders) with a new wait bound.
    pub fn with_queue_timeout(&self, queue_timeout: Duration) -> Self {
        Self {
            tokens: Arc::clone(&self.tokens),
            total: self.total,
            queue_timeout,
        }
    }

    /// The budget's size.
    pub fn total(&self) -> u64 {
        u64::from(self.total)
    }

    /// Tokens free now.
    pub fn free(&self) -> usize {
        self.tokens.available_permits()
    }

    /// Takes `cost` tokens (at most the whole budget) for the request's lifetime, waiting at
    /// most the queue timeout: else 503 `overloaded`.
    pub async fn admit(&self, cost: u64) -> Result<OwnedSemaphorePermit, GatewayError> {
        let cost = u32::try_from(cost).unwrap_or(u32::MAX).clamp(1, self.total);
        match tokio::time::timeout(
            self.queue_timeout,
            Arc::clone(&self.tokens).acquire_many_owned(cost),
        )
        .await
        {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(GatewayError::Unavailable {
                message: format!(
                    "The gateway is at its in-flight token budget ({} tokens, limits.max_inflight_tokens); try again shortly.",
                    self.total
                ),
                retry_after: Some(RETRY_AFTER),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn holds_tokens_until_dropped_and_caps_big_requests() {
        let budget = TokenBudget::new(1000, Duration::from_millis(100));
        let a = budget.admit(600).await.unwrap();
        assert_eq!(budget.free(), 400);
        let refused = budget.admit(500).await.unwrap_err();
        assert_eq!(refused.status().as_u16(), 503);
        drop(a);
        let whole = budget.admit(50_000).await.unwrap();
        assert_eq!(
            budget.free(),
            0,
            "a request larger than the budget takes all of it"
        );
        drop(whole);
        assert_eq!(budget.free(), 1000);
    }
}
