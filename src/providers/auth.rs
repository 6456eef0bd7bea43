//! Request authorization that depends on the request itself: a signature over the exact bytes
//! sent (AWS SigV4) or a token that expires and is refreshed (cloud identities). Static keys stay
//! plain headers of [`super::UpstreamClient`]; an adapter whose upstream needs more gives its
//! client an [`Authorize`], which [`super::call`] runs on every request just before it is sent,
//! after every other header is in place.

use http::{HeaderMap, Method, Uri};

use crate::error::GatewayError;
use crate::task::BoxFuture;

/// Adds credentials to one upstream request.
pub trait Authorize: Send + Sync {
    /// Adds the authorization headers for a request of `method` to `uri` with `headers` (all
    /// others already set) and exactly `body` as its bytes. Fails when no credentials can be
    /// had (the client then gets the gateway's 502 naming the provider and the source).
    fn authorize<'a>(
        &'a self,
        method: &'a Method,
        uri: &'a Uri,
        headers: &'a mut HeaderMap,
        body: &'a [u8],
    ) -> BoxFuture<'a, Result<(), GatewayError>>;
}
