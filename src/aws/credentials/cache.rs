//! One layer of the credential chain with its cache: the credentials in use, refreshed ahead of
//! expiry. Requests never wait for a refresh while the cached credentials are valid; inside the
//! refresh window one background refresh runs; only expired (or no) credentials make a request
//! wait, and then for the one refresh in flight.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Instant, SystemTime};

use arc_swap::ArcSwapOption;

use super::container::Container;
use super::sts::{AssumeRole, WebIdentity};
use super::{CredentialError, REFRESH_FAILURES, RefreshTiming};
use crate::aws::sigv4::Credentials;

/// Where a layer's credentials come from.
pub enum Fetch {
    /// Fixed keys: never refreshed.
    Static,
    /// IRSA.
    WebIdentity(WebIdentity),
    /// EKS Pod Identity or ECS.
    Container(Container),
    /// A role assumed with the credentials of another layer.
    AssumeRole {
        /// The layer whose credentials sign the `AssumeRole` call.
        base: Arc<Cached>,
        /// The call.
        role: AssumeRole,
    },
}

/// A layer: its fetcher, the cached credentials, the refresh lock.
pub struct Cached {
    fetch: Fetch,
    name: &'static str,
    provider: String,
    timing: RefreshTiming,
    current: ArcSwapOption<Credentials>,
    /// Held by the one refresh in flight.
    refresh: Arc<tokio::sync::Mutex<()>>,
    /// The last failed refresh, answered again for `timing.failure_backoff` instead of asking
    /// the endpoint at the request rate while it fails.
    failure: Mutex<Option<(Instant, CredentialError)>>,
}

/// How the cached credentials stand.
enum Freshness {
    /// Valid beyond the refresh window (or never expiring).
    Fresh,
    /// Valid, but inside the refresh window.
    Refreshable,
    /// Expired, or none yet.
    Expired,
}

impl Cached {
    /// A layer named `name` (its credential source) for the provider `provider` (metrics).
    pub fn new(
        fetch: Fetch,
        name: &'static str,
        provider: String,
        timing: RefreshTiming,
        initial: Option<Credentials>,
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

    /// The credentials to sign with now.
    pub async fn get(self: &Arc<Self>) -> Result<Arc<Credentials>, CredentialError> {
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

    fn freshness(&self, credentials: &Credentials) -> Freshness {
        let Some(expires_at) = credentials.expires_at else {
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
                // still-valid credentials.
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

    /// Fetches, stores and returns fresh credentials; on failure counts it and keeps it.
    async fn fetch_and_store(&self) -> Result<Arc<Credentials>, CredentialError> {
        let fetched = match &self.fetch {
            Fetch::Static => Err(CredentialError::new(
                self.name,
                "static keys cannot be refreshed".into(),
            )),
            Fetch::WebIdentity(source) => source.fetch().await,
            Fetch::Container(source) => source.fetch().await,
            Fetch::AssumeRole { base, role } => {
                let base_credentials = Box::pin(base.get()).await?;
                role.fetch(&base_credentials).await
            }
        };
        let mut failure = self.failure.lock().unwrap_or_else(PoisonError::into_inner);
        match fetched {
            Ok(credentials) => {
                let credentials = Arc::new(credentials);
                self.current.store(Some(Arc::clone(&credentials)));
                *failure = None;
                Ok(credentials)
            }
            Err(error) => {
                // A base layer's failure was counted by that layer.
                if error.source == self.name {
                    metrics::counter!(REFRESH_FAILURES, "provider" => self.provider.clone(), "source" => self.name)
                        .increment(1);
                }
                tracing::warn!(provider = %self.provider, source = error.source, error = %error, "AWS credential refresh failed");
                *failure = Some((Instant::now(), error.clone()));
                Err(error)
            }
        }
    }
}
