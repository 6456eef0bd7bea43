//! Entra ID's token endpoint (`{authority}/{tenant}/oauth2/v2.0/token`), client-credentials
//! grant: with workload identity the client assertion is the projected service-account token,
//! read anew at every refresh because the kubelet rotates it; with a service principal it is the
//! client secret.

use std::path::PathBuf;

use http::{Method, Uri};

use super::super::http::form;
use super::super::oauth::{self, BearerToken, FORM};
use super::super::token::Fetch;
use super::super::{CredentialError, client, read_token_file};
use super::{CLIENT_SECRET, CLOUD, WORKLOAD_IDENTITY};
use crate::task::BoxFuture;
use crate::transport::HttpsClient;

/// The assertion type of a federated token (RFC 7523).
pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Longest tenant accepted: a GUID is 36 characters, a domain name at most 253.
const MAX_TENANT_BYTES: usize = 253;

/// What proves the application's identity.
pub enum Secret {
    /// The federated token file (workload identity).
    Assertion(PathBuf),
    /// A client secret.
    Value(String),
}

/// A tenant's token endpoint for one application and scope.
pub struct Entra {
    client: HttpsClient,
    uri: Uri,
    client_id: String,
    scope: String,
    secret: Secret,
}

impl Entra {
    /// The endpoint of `tenant` at `authority`.
    pub fn new(
        authority: &str,
        tenant: &str,
        client_id: String,
        scope: String,
        secret: Secret,
    ) -> Result<Self, String> {
        // The tenant becomes a path segment: a GUID or a domain name, nothing that could add one.
        let tenant_ok = !tenant.is_empty()
            && tenant.len() <= MAX_TENANT_BYTES
            && tenant
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
        if !tenant_ok || tenant == "." || tenant == ".." {
            return Err(format!(
                "Entra ID tenant `{tenant}` is not a tenant ID or domain"
            ));
        }
        let url = format!(
            "{}/{tenant}/oauth2/v2.0/token",
            authority.trim_end_matches('/')
        );
        Ok(Self {
            client: client()?,
            uri: oauth::endpoint(&url, "Entra ID token endpoint")?,
            client_id,
            scope,
            secret,
        })
    }

    fn source(&self) -> &'static str {
        match self.secret {
            Secret::Assertion(_) => WORKLOAD_IDENTITY,
            Secret::Value(_) => CLIENT_SECRET,
        }
    }

    async fn token(&self) -> Result<BearerToken, String> {
        let mut params = vec![
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("scope", self.scope.as_str()),
        ];
        let assertion;
        match &self.secret {
            Secret::Assertion(path) => {
                assertion = read_token_file(path, "federated token file").await?;
                params.push(("client_assertion_type", JWT_BEARER_ASSERTION));
                params.push(("client_assertion", &assertion));
            }
            Secret::Value(secret) => params.push(("client_secret", secret)),
        }
        let request = oauth::request(Method::POST, &self.uri, &[], Some((FORM, form(&params))))?;
        oauth::fetch(&self.client, request).await
    }
}

impl Fetch<BearerToken> for Entra {
    fn fetch(&self) -> BoxFuture<'_, Result<BearerToken, CredentialError>> {
        Box::pin(async move {
            self.token().await.map_err(|detail| {
                CredentialError::new(
                    CLOUD,
                    self.source(),
                    format!("Entra ID token endpoint: {detail}"),
                )
            })
        })
    }
}
