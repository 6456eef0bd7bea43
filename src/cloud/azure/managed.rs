//! A managed identity's token: App Service and Functions answer at `IDENTITY_ENDPOINT` (API
//! version 2019-08-01, the `IDENTITY_HEADER` secret sent back as `X-IDENTITY-HEADER`); VMs and
//! AKS nodes at IMDS (`/metadata/identity/oauth2/token`, API version 2018-02-01, with
//! `Metadata: true`, which IMDS requires so that no redirected or browser request gets a token).
//! `AZURE_POD_IDENTITY_AUTHORITY_HOST` moves IMDS, as in the Azure SDKs. Both take the resource,
//! not a scope, and a user-assigned identity's `client_id`.

use http::{Method, Uri};

use super::super::http::form;
use super::super::oauth::{self, BearerToken};
use super::super::token::Fetch;
use super::super::{CredentialError, Env, client};
use super::{CLOUD, MANAGED_IDENTITY};
use crate::task::BoxFuture;
use crate::transport::HttpsClient;

/// IMDS's address.
const IMDS_HOST: &str = "http://169.254.169.254";
/// The variable moving IMDS.
const IMDS_ENV: &str = "AZURE_POD_IDENTITY_AUTHORITY_HOST";
/// IMDS's token path.
const IMDS_PATH: &str = "/metadata/identity/oauth2/token";
/// IMDS's API version.
const IMDS_API_VERSION: &str = "2018-02-01";
/// App Service's API version.
const APP_SERVICE_API_VERSION: &str = "2019-08-01";

/// Which service answers.
enum Service {
    /// IMDS.
    Imds,
    /// App Service, with its identity header's value.
    AppService(String),
}

/// A managed identity endpoint.
pub struct Managed {
    client: HttpsClient,
    uri: Uri,
    service: Service,
}

impl Managed {
    /// The endpoint of the environment for `scope` (its resource: the scope without
    /// `/.default`), for the user-assigned identity `client_id` when given.
    pub fn new(env: Env<'_>, scope: &str, client_id: Option<String>) -> Result<Self, String> {
        let resource = scope.strip_suffix("/.default").unwrap_or(scope);
        let (base, version, service) = match (env("IDENTITY_ENDPOINT"), env("IDENTITY_HEADER")) {
            (Some(endpoint), Some(header)) => (
                endpoint,
                APP_SERVICE_API_VERSION,
                Service::AppService(header),
            ),
            _ => {
                let host = env(IMDS_ENV).unwrap_or_else(|| IMDS_HOST.to_owned());
                let base = format!("{}{IMDS_PATH}", host.trim_end_matches('/'));
                (base, IMDS_API_VERSION, Service::Imds)
            }
        };
        let mut params = vec![("api-version", version), ("resource", resource)];
        if let Some(id) = &client_id {
            params.push(("client_id", id));
        }
        let url = format!("{base}?{}", form(&params));
        Ok(Self {
            client: client()?,
            uri: oauth::endpoint(&url, "managed identity endpoint")?,
            service,
        })
    }

    async fn token(&self) -> Result<BearerToken, String> {
        let headers: [(&'static str, &str); 1] = match &self.service {
            Service::Imds => [("metadata", "true")],
            Service::AppService(secret) => [("x-identity-header", secret)],
        };
        let request = oauth::request(Method::GET, &self.uri, &headers, None)?;
        oauth::fetch(&self.client, request).await
    }
}

impl Fetch<BearerToken> for Managed {
    fn fetch(&self) -> BoxFuture<'_, Result<BearerToken, CredentialError>> {
        Box::pin(async move {
            self.token().await.map_err(|detail| {
                CredentialError::new(
                    CLOUD,
                    MANAGED_IDENTITY,
                    format!("managed identity endpoint: {detail}"),
                )
            })
        })
    }
}
