//! Azure Entra ID identities, as the Azure SDKs' credentials find them: workload identity (AKS:
//! `AZURE_CLIENT_ID`, `AZURE_TENANT_ID`, `AZURE_FEDERATED_TOKEN_FILE`, `AZURE_AUTHORITY_HOST`),
//! a managed identity (IMDS, or App Service's `IDENTITY_ENDPOINT`/`IDENTITY_HEADER`), or a
//! service principal's client secret. `type: entra` takes workload identity when its
//! environment is there, else the managed identity. Each is a fetcher of the shared cache
//! ([`crate::cloud::token`]); the provider's `auth:` settings override the environment.

mod entra;
mod managed;

use std::path::PathBuf;
use std::sync::Arc;

use super::oauth::BearerToken;
use super::token::{Cached, Fetch};
use super::{Env, RefreshTiming};
use crate::config::providers::{EntraAuth, EntraKind};

/// The cloud named in errors.
pub const CLOUD: &str = "Azure";
/// The scope of Azure OpenAI (Cognitive Services) tokens.
pub const COGNITIVE_SERVICES_SCOPE: &str = "https://cognitiveservices.azure.com/.default";
/// Source name of workload identity.
pub const WORKLOAD_IDENTITY: &str = "workload_identity";
/// Source name of a managed identity.
pub const MANAGED_IDENTITY: &str = "managed_identity";
/// Source name of a client secret.
pub const CLIENT_SECRET: &str = "client_secret";
/// Entra ID's public-cloud authority.
const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";

/// The source of `provider`'s tokens for `auth`. Errors are config errors: the identity's
/// environment is missing or a value cannot be used.
pub fn source(
    provider: &str,
    auth: &EntraAuth,
    env: Env<'_>,
    timing: RefreshTiming,
) -> Result<Arc<Cached<BearerToken>>, String> {
    let scope = auth
        .scope
        .clone()
        .unwrap_or_else(|| COGNITIVE_SERVICES_SCOPE.to_owned());
    let pick = |name: &str, configured: &Option<String>| configured.clone().or_else(|| env(name));
    let client_id = pick("AZURE_CLIENT_ID", &auth.client_id);
    let tenant = pick("AZURE_TENANT_ID", &auth.tenant_id);
    let token_file = pick("AZURE_FEDERATED_TOKEN_FILE", &auth.token_file);
    let authority = pick("AZURE_AUTHORITY_HOST", &auth.authority_host)
        .unwrap_or_else(|| DEFAULT_AUTHORITY.to_owned());
    let kind = match auth.kind {
        EntraKind::Entra if token_file.is_some() => EntraKind::WorkloadIdentity,
        EntraKind::Entra => EntraKind::ManagedIdentity,
        kind => kind,
    };
    let needed = |value: Option<String>, what: &str| {
        value.ok_or_else(|| format!("Entra ID {what} is not set (in `auth:` or the environment)"))
    };
    let (fetch, name): (Box<dyn Fetch<BearerToken>>, &'static str) = match kind {
        EntraKind::WorkloadIdentity => {
            let token_file = needed(
                token_file,
                "federated token file (AZURE_FEDERATED_TOKEN_FILE)",
            )?;
            let secret = entra::Secret::Assertion(PathBuf::from(token_file));
            let client_id = needed(client_id, "client ID (AZURE_CLIENT_ID)")?;
            let tenant = needed(tenant, "tenant ID (AZURE_TENANT_ID)")?;
            let endpoint = entra::Entra::new(&authority, &tenant, client_id, scope, secret)?;
            (Box::new(endpoint), WORKLOAD_IDENTITY)
        }
        EntraKind::ClientSecret => {
            let secret = auth
                .client_secret
                .as_ref()
                .map(|s| entra::Secret::Value(s.expose().to_owned()));
            let secret = secret.ok_or("client_secret is not set")?;
            let client_id = needed(client_id, "client ID (AZURE_CLIENT_ID)")?;
            let tenant = needed(tenant, "tenant ID (AZURE_TENANT_ID)")?;
            let endpoint = entra::Entra::new(&authority, &tenant, client_id, scope, secret)?;
            (Box::new(endpoint), CLIENT_SECRET)
        }
        EntraKind::ManagedIdentity | EntraKind::Entra => {
            let identity = managed::Managed::new(env, &scope, client_id)?;
            (Box::new(identity), MANAGED_IDENTITY)
        }
    };
    Ok(Cached::new(fetch, name, provider.to_owned(), timing, None))
}

#[cfg(test)]
mod tests;
