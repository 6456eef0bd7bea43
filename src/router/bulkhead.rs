//! Bulkhead per provider: a semaphore of `max_concurrency` slots with a bounded wait, so a hung
//! provider fills its own slots and nobody else's. Kept across reloads while its size is the same.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::GatewayError;
use crate::telemetry::metrics::BULKHEAD_REJECTIONS;

/// When a client refused by a full bulkhead should try again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// One provider's slots.
#[derive(Debug)]
pub struct Bulkhead {
    provider: String,
    slots: Arc<Semaphore>,
    size: usize,
    queue_timeout: Duration,
}

impl Bulkhead {
    /// `size` slots for `provider`; a request waits at most `queue_timeout` for one.
    pub fn new(provider: &str, size: usize, queue_timeout: Duration) -> Self {
        let size = size.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            provider: provider.to_owned(),
            slots: Arc::new(Semaphore::new(size)),
            size,
            queue_timeout,
        }
    }

    /// This bulkhead with a new wait bound (the slots, and who holds them, stay).
    pub fn with_queue_timeout(&self, queue_timeout: Duration) -> Self {
        Self {
            provider: self.provider.clone(),
            slots: Arc::clone(&self.slots),
            size: self.size,
            queue_timeout,
        }
    }

    /// The number of slots.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Slots free now.
    pub fn free(&self) -> usize {
        self.slots.available_permits()
    }

    /// Takes a slot, waiting at most the queue timeout: else 503 `overloaded`.
    pub async fn enter(&self) -> Result<OwnedSemaphorePermit, GatewayError> {
        match tokio::time::timeout(self.queue_timeout, Arc::clone(&self.slots).acquire_owned())
            .await
        {
            Ok(Ok(permit)) => Ok(permit),
            _ => {
                metrics::counter!(BULKHEAD_REJECTIONS, "provider" => self.provider.clone())
                    .increment(1);
                Err(GatewayError::Unavailable {
                    message: format!(
                        "Provider `{}` is at its concurrency limit ({} requests in flight); try again shortly.",
                        self.provider, self.size
                    ),
                    retry_after: Some(RETRY_AFTER),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn waits_a_bounded_time_then_refuses() {
        let bulkhead = Bulkhead::new("p", 2, Duration::from_millis(500));
        let a = bulkhead.enter().await.unwrap();
        let _b = bulkhead.enter().await.unwrap();
        assert_eq!(bulkhead.free(), 0);
        let refused = bulkhead.enter().await.unwrap_err();
        assert_eq!(refused.status().as_u16(), 503);
        assert_eq!(refused.error_type(), "overloaded");
        drop(a);
        assert!(bulkhead.enter().await.is_ok());
        let kept = bulkhead.with_queue_timeout(Duration::from_secs(1));
        assert_eq!(kept.free(), bulkhead.free(), "the same slots");
    }
}
