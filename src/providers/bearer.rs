//! Upstream authorization with a cloud identity's bearer token (Vertex AI, Azure OpenAI with
//! Entra ID): the token of a cached source ([`crate::cloud::token`]) as `Authorization: Bearer`, and
//! the one answer of a provider whose identity could not be set up. Sources are kept across
//! config reloads while a provider's identity settings are unchanged, so a reload neither drops
//! a valid token nor makes requests wait for a new one.

use std::sync::{Arc, Mutex, PoisonError, Weak};

use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue, Method, Uri};

use super::auth::Authorize;
use crate::cloud::oauth::BearerToken;
use crate::cloud::token::Cached;
use crate::error::GatewayError;
use crate::task::BoxFuture;

/// Authorizes requests with the current token of one cached source.
pub struct Bearer {
    provider: String,
    source: Arc<Cached<BearerToken>>,
}

impl Bearer {
    /// The authorizer of `provider` with tokens of `source`.
    pub fn new(provider: &str, source: Arc<Cached<BearerToken>>) -> Self {
        Self {
            provider: provider.to_owned(),
            source,
        }
    }

    /// The source's name (`service_account`, `metadata`, `workload_identity`, …).
    pub fn source(&self) -> &'static str {
        self.source.source()
    }
}

impl Authorize for Bearer {
    fn authorize<'a>(
        &'a self,
        _: &'a Method,
        _: &'a Uri,
        headers: &'a mut HeaderMap,
        _: &'a [u8],
    ) -> BoxFuture<'a, Result<(), GatewayError>> {
        Box::pin(async move {
            let unavailable = |detail: String| GatewayError::UpstreamCredentials {
                provider: self.provider.clone(),
                source_name: self.source().to_owned(),
                detail,
            };
            let token = self
                .source
                .get()
                .await
                .map_err(|e| unavailable(e.to_string()))?;
            let mut value = HeaderValue::try_from(format!("Bearer {}", token.token))
                .map_err(|_| unavailable("the token is not a valid header value".into()))?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
            Ok(())
        })
    }
}

/// The authorizer of a provider whose credentials could not be set up: every request fails with
/// the reason (the provider stays configured, readiness is unaffected, and the operator sees why
/// in the answer and the log).
pub struct Unavailable {
    /// The provider.
    pub provider: String,
    /// What was looked for (`the pod's environment`, …).
    pub source: String,
    /// Why nothing usable was found.
    pub detail: String,
}

impl Authorize for Unavailable {
    fn authorize<'a>(
        &'a self,
        _: &'a Method,
        _: &'a Uri,
        _: &'a mut HeaderMap,
        _: &'a [u8],
    ) -> BoxFuture<'a, Result<(), GatewayError>> {
        Box::pin(std::future::ready(Err(GatewayError::UpstreamCredentials {
            provider: self.provider.clone(),
            source_name: self.source.clone(),
            detail: self.detail.clone(),
        })))
    }
}

/// The bearer authorizers serving now, by provider name and a key of its identity settings.
/// Held weakly: a provider that leaves the config takes its source with it.
static BEARERS: Mutex<Vec<(String, String, Weak<Bearer>)>> = Mutex::new(Vec::new());

/// The authorizer of `provider` whose identity settings are summed up by `key` (which must
/// change whenever a secret does; hash secrets into it, never put them in): the one already
/// serving, else one `make` builds.
pub fn shared(
    provider: &str,
    key: &str,
    make: impl FnOnce() -> Result<Bearer, String>,
) -> Result<Arc<Bearer>, String> {
    let mut bearers = BEARERS.lock().unwrap_or_else(PoisonError::into_inner);
    bearers.retain(|(_, _, bearer)| bearer.strong_count() > 0);
    let found = bearers
        .iter()
        .find(|(p, k, _)| p == provider && k == key)
        .and_then(|(_, _, bearer)| bearer.upgrade());
    if let Some(bearer) = found {
        return Ok(bearer);
    }
    let bearer = Arc::new(make()?);
    bearers.push((provider.to_owned(), key.to_owned(), Arc::downgrade(&bearer)));
    Ok(bearer)
}

/// An authorizer for `provider`: a bearer of the source `make` sets up (shared as [`shared`]
/// does), or, when the identity cannot be set up, one that answers every request with the
/// reason (logged once).
pub fn or_unavailable(
    provider: &str,
    key: &str,
    cloud: &str,
    make: impl FnOnce() -> Result<Arc<Cached<BearerToken>>, String>,
) -> Arc<dyn Authorize> {
    match shared(provider, key, || {
        make().map(|source| Bearer::new(provider, source))
    }) {
        Ok(bearer) => bearer,
        Err(detail) => {
            tracing::warn!(provider, %detail, "{cloud} provider has no credentials; its requests fail until it has");
            Arc::new(Unavailable {
                provider: provider.to_owned(),
                source: "the pod's environment".to_owned(),
                detail,
            })
        }
    }
}
