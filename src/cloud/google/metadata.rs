//! The metadata server's token: what GKE Workload Identity (and any GCE VM) gives the pod. A GET
//! with `Metadata-Flavor: Google` (the server refuses requests without it, which keeps browsers
//! and redirected requests out); the host is `GCE_METADATA_HOST` when set, as in Google's
//! libraries.

use http::{Method, Uri};

use super::super::oauth::{self, BearerToken};
use super::super::token::Fetch;
use super::super::{CredentialError, Env, client};
use super::{CLOUD, METADATA};
use crate::task::BoxFuture;
use crate::transport::HttpsClient;

/// The metadata server's name.
const DEFAULT_HOST: &str = "metadata.google.internal";
/// The variable overriding it.
const HOST_ENV: &str = "GCE_METADATA_HOST";
/// The token of the pod's (or VM's) default service account.
const TOKEN_PATH: &str = "/computeMetadata/v1/instance/service-accounts/default/token";

/// The metadata server.
pub struct Metadata {
    client: HttpsClient,
    uri: Uri,
}

impl Metadata {
    /// The server of the environment.
    pub fn new(env: Env<'_>) -> Result<Self, String> {
        let host = env(HOST_ENV).unwrap_or_else(|| DEFAULT_HOST.to_owned());
        let uri = oauth::endpoint(&format!("http://{host}{TOKEN_PATH}"), HOST_ENV)?;
        Ok(Self {
            client: client()?,
            uri,
        })
    }
}

impl Fetch<BearerToken> for Metadata {
    fn fetch(&self) -> BoxFuture<'_, Result<BearerToken, CredentialError>> {
        Box::pin(async move {
            let request = oauth::request(
                Method::GET,
                &self.uri,
                &[("metadata-flavor", "Google")],
                None,
            );
            let token = match request {
                Ok(request) => oauth::fetch(&self.client, request).await,
                Err(e) => Err(e),
            };
            token.map_err(|detail| {
                CredentialError::new(CLOUD, METADATA, format!("metadata server: {detail}"))
            })
        })
    }
}
