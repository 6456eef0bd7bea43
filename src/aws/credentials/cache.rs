//! The AWS sources as fetchers of the shared credential cache ([`crate::cloud::token`]): IRSA,
//! the container endpoint, and `AssumeRole` signed with the credentials of a base layer (itself
//! cached, so the base is refreshed on its own schedule).

use std::sync::Arc;
use std::time::SystemTime;

use super::container::Container;
use super::sts::{AssumeRole, WebIdentity};
use crate::aws::sigv4::Credentials;
use crate::cloud::CredentialError;
use crate::cloud::token::{self, Expiring, Fetch};
use crate::task::BoxFuture;

/// One layer of the chain: a cached AWS source.
pub type Cached = token::Cached<Credentials>;

impl Expiring for Credentials {
    fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at
    }
}

impl Fetch<Credentials> for WebIdentity {
    fn fetch(&self) -> BoxFuture<'_, Result<Credentials, CredentialError>> {
        Box::pin(WebIdentity::fetch(self))
    }
}

impl Fetch<Credentials> for Container {
    fn fetch(&self) -> BoxFuture<'_, Result<Credentials, CredentialError>> {
        Box::pin(Container::fetch(self))
    }
}

/// A role assumed with the credentials of another layer.
pub struct Assume {
    /// The layer whose credentials sign the `AssumeRole` call.
    pub base: Arc<Cached>,
    /// The call.
    pub role: AssumeRole,
}

impl Fetch<Credentials> for Assume {
    fn fetch(&self) -> BoxFuture<'_, Result<Credentials, CredentialError>> {
        Box::pin(async move {
            let base = self.base.get().await?;
            self.role.fetch(&base).await
        })
    }
}
