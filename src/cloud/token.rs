//! The one credential cache of every cloud: the credential in use, refreshed ahead of expiry.
//! Requests never wait for a refresh while the cached credential is valid; inside the refresh
//! window one background refresh runs; only an expired (or missing) credential makes a request
//! wait, and then for the one refresh in flight. A failed refresh is counted
//! ([`super::REFRESH_FAILURES`]), logged without secrets, and answered from memory for
//! [`super::RefreshTiming::failure_backoff`] so a failing endpoint is not asked at request rate.
//! What a credential is and how it is fetched is the cloud's business ([`Fetch`], [`Expiring`]).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Instant, SystemTime};

use arc_swap::ArcSwapOption;

use super::{CredentialError, REFRESH_FAILURES, RefreshTiming};
use crate::task::BoxFuture;

/// A credential that may expire.
pub trait Expiring {
    /// When it stops being valid; `None`: never.
    fn expires_at(&self) -> Option<SystemTime>;
}

/// How one source fetches a fresh credential of type `T`.
pub trait Fetch<T>: Send + Sync {
    /// Fetches a fresh credential; the error names this source.
    fn fetch(&self) -> BoxFuture<'_, Result<T, CredentialError>>;
}

/// The fetcher of a fixed credential (static keys): asked only if the fixed one expired, which
/// it does not, so it only explains that it cannot refresh.
pub struct Fixed {
    /// The cloud, for the error.
    pub cloud: &'static str,
    /// The source name, for the error.
    pub source: &'static str,
}

impl<T: Send + 'static> Fetch<T> for Fixed {
    fn fetch(&self) -> BoxFuture<'_, Result<T, CredentialError>> {
        Box::pin(std::future::ready(Err(CredentialError::new(
            self.cloud,
            self.source,
            "static credentials cannot be refreshed".into(),
        ))))
    }
}

/// A source with its cache: the fetcher, the cached credential, the refresh lock.
pub struct Cached<T> {
    fetch: Box<dyn Fetch<T>>,
    name: &'static str,
    provider: String,
    timing: RefreshTiming,
    current: ArcSwapOption<T>,
    /// Held by the one refresh in flight.
    refresh: Arc<tokio::sync::Mutex<()>>,
    /// The last failed refresh, answered again for `timing.failure_backoff` instead of asking
    /// the endpoint at the request rate while it fails.
    failure: Mutex<Option<(Instant, CredentialError)>>,
}

/// How the cached credential stands.
enum Freshness {
    /// Valid beyond the refresh window (or never expiring).
    Fresh,
    /// Valid, but inside the refresh window.
    Refreshable,
    /// Expired, or none yet.
    Expired,
}

impl<T: Expiring + Send + Sync + 'static> Cached<T> {
    /// A cache of the source `name` (metrics, errors) of the provider `provider`, fetching
    /// with `fetch`, starting with `initial` (static credentials) or nothing.
    pub fn new(
        fetch: Box<dyn Fetch<T>>,
        name: &'static str,
        provider: String,
        timing: RefreshTiming,
        initial: Option<T>,
    ) -> Arc<Self> {
        Arc::new(Self {
            fetch,
            name,
            provider,
            timing,
            current: ArcSwapOption::new(initial.map(Arc::new)),
            refresh: Arc::new(tokio::sync::Mutex::new(())),
            failure: Mutex::new(None),
        })
    }

    /// The source's name.
    pub fn source(&self) -> &'static str {
        self.name
    }

    /// The credential to use now.
    pub async fn get(self: &Arc<Self>) -> Result<Arc<T>, CredentialError> {
        if let Some(current) = self.current.load_full() {
            match self.freshness(&current) {
                Freshness::Fresh => return Ok(current),
                Freshness::Refreshable => {
                    self.refresh_in_background();
                    return Ok(current);
                }
                Freshness::Expired => {}
            }
        }
        let _refreshing = self.refresh.lock().await;
        // Another caller may have refreshed while this one waited for the lock.
        if let Some(current) = self.current.load_full()
            && !matches!(self.freshness(&current), Freshness::Expired)
        {
            return Ok(current);
        }
        if let Some(error) = self.recent_failure() {
            return Err(error);
        }
        self.fetch_and_store().await
    }

    fn freshness(&self, credential: &T) -> Freshness {
        let Some(expires_at) = credential.expires_at() else {
            return Freshness::Fresh;
        };
        match expires_at.duration_since(SystemTime::now()) {
            Ok(left) if left > self.timing.margin => Freshness::Fresh,
            Ok(left) if !left.is_zero() => Freshness::Refreshable,
            _ => Freshness::Expired,
        }
    }

    /// Starts a refresh unless one is running or the last one failed moments ago.
    fn refresh_in_background(self: &Arc<Self>) {
        if self.recent_failure().is_some() {
            return;
        }
        let Ok(guard) = self.refresh.clone().try_lock_owned() else {
            return;
        };
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let _refreshing = guard;
            let still_due = this
                .current
                .load_full()
                .is_none_or(|current| !matches!(this.freshness(&current), Freshness::Fresh));
            if still_due {
                // A failure is counted and kept by `fetch_and_store`; requests go on with the
                // still-valid credential.
                let _ = this.fetch_and_store().await;
            }
        });
    }

    fn recent_failure(&self) -> Option<CredentialError> {
        let failure = self.failure.lock().unwrap_or_else(PoisonError::into_inner);
        failure
            .as_ref()
            .filter(|(at, _)| at.elapsed() < self.timing.failure_backoff)
            .map(|(_, error)| error.clone())
    }

    /// Fetches, stores and returns a fresh credential; on failure counts it and keeps it.
    async fn fetch_and_store(&self) -> Result<Arc<T>, CredentialError> {
        let fetched = self.fetch.fetch().await;
        let mut failure = self.failure.lock().unwrap_or_else(PoisonError::into_inner);
        match fetched {
            Ok(credential) => {
                let credential = Arc::new(credential);
                self.current.store(Some(Arc::clone(&credential)));
                *failure = None;
                Ok(credential)
            }
            Err(error) => {
                // A base layer's failure (a layered source) was counted by that layer.
                if error.source == self.name {
                    metrics::counter!(REFRESH_FAILURES, "provider" => self.provider.clone(), "source" => self.name)
                        .increment(1);
                }
                tracing::warn!(provider = %self.provider, cloud = error.cloud, source = error.source, error = %error, "credential refresh failed");
                *failure = Some((Instant::now(), error.clone()));
                Err(error)
            }
        }
    }
}

#[cfg(test)]
mod tests;
