//! Azure OpenAI: OpenAI's wire format under deployment paths, with a required `api_version`, and
//! either an `api-key` or an Entra ID identity (`auth:`): the pod's workload identity, a managed
//! identity, or a service principal's client secret, whose bearer tokens replace the key.

use serde::{Deserialize, Serialize};

use super::{Options, ProviderKind, ProviderSettings, SettingsError, Type, fields, read};
use crate::expand::{self, Secret};

/// `api_version` value that selects Azure's version-less `/openai/v1/` API.
pub const AZURE_V1: &str = "v1";

/// Azure OpenAI.
pub const TYPE: Type = Type {
    kind: ProviderKind::Azure,
    name: "azure",
    default_base_url: None,
    needs_base_url: true,
    genai_system: "azure.ai.openai",
    openai_style: false,
    recognise: |name, url| name.starts_with("azure") || url.contains(".openai.azure.com"),
    keys: fields::of::<AzureSettings>,
    settings,
};

/// `providers[]` keys of `type: azure`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AzureSettings {
    /// `api-version` (`"2024-10-21"` style), or `v1` for the `/openai/v1/` API.
    #[serde(deserialize_with = "expand::string")]
    pub api_version: String,
    /// An Entra ID identity instead of `api_key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<EntraAuth>,
}

/// How the Entra ID identity is had.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum EntraKind {
    /// Workload identity when its environment is there, else the managed identity.
    #[default]
    Entra,
    /// AKS workload identity: the projected service-account token as a client assertion.
    WorkloadIdentity,
    /// The VM's or App Service's managed identity (IMDS, `IDENTITY_ENDPOINT`).
    ManagedIdentity,
    /// A service principal's client secret.
    ClientSecret,
}

/// `providers[].auth` of `type: azure`: every field but `type` overrides what the Azure SDKs
/// read from the environment (`AZURE_CLIENT_ID`, `AZURE_TENANT_ID`,
/// `AZURE_FEDERATED_TOKEN_FILE`, `AZURE_AUTHORITY_HOST`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EntraAuth {
    /// The kind of identity.
    #[serde(rename = "type")]
    pub kind: EntraKind,
    /// The application (client) ID; for a managed identity, the user-assigned one's.
    #[serde(default, deserialize_with = "expand::opt_string")]
    pub client_id: Option<String>,
    /// The directory (tenant) ID.
    #[serde(default, deserialize_with = "expand::opt_string")]
    pub tenant_id: Option<String>,
    /// The client secret (`client_secret` only; `file:/path` or `${VAR}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<Secret>,
    /// The federated token file (workload identity).
    #[serde(default, deserialize_with = "expand::opt_string")]
    pub token_file: Option<String>,
    /// The Entra ID authority (`https://login.microsoftonline.com`, sovereign clouds, tests).
    #[serde(default, deserialize_with = "expand::opt_string")]
    pub authority_host: Option<String>,
    /// The token scope (default `https://cognitiveservices.azure.com/.default`).
    #[serde(default, deserialize_with = "expand::opt_string")]
    pub scope: Option<String>,
}

impl AzureSettings {
    /// The secrets these settings hold (for the redactor and the secret-file watcher).
    pub fn secrets(&self) -> impl Iterator<Item = &Secret> {
        self.auth
            .iter()
            .filter_map(|auth| auth.client_secret.as_ref())
    }
}

fn settings(options: &Options) -> Result<ProviderSettings, SettingsError> {
    if !options.contains_key("api_version") {
        return Err(SettingsError::key(
            "api_version",
            "required for type `azure` (e.g. \"2024-10-21\", or \"v1\")",
        ));
    }
    let settings: AzureSettings = read(options)?;
    if let Some(auth) = &settings.auth {
        let secret = auth.kind == EntraKind::ClientSecret;
        if secret != auth.client_secret.is_some() {
            return Err(SettingsError::key(
                "auth",
                "client_secret is given with, and only with, `type: client_secret`",
            ));
        }
    }
    Ok(ProviderSettings::Azure(settings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entra_auth_is_checked() {
        let cases = [
            ("api_version: v1", Ok(None)),
            (
                "api_version: v1\nauth: {type: entra}",
                Ok(Some(EntraKind::Entra)),
            ),
            (
                "api_version: v1\nauth: {type: workload_identity, client_id: c, tenant_id: t}",
                Ok(Some(EntraKind::WorkloadIdentity)),
            ),
            (
                "api_version: v1\nauth: {type: managed_identity, client_id: c}",
                Ok(Some(EntraKind::ManagedIdentity)),
            ),
            (
                "api_version: v1\nauth: {type: client_secret, client_id: c, tenant_id: t, client_secret: s}",
                Ok(Some(EntraKind::ClientSecret)),
            ),
            (
                "api_version: v1\nauth: {type: client_secret}",
                Err("client_secret"),
            ),
            (
                "api_version: v1\nauth: {type: entra, client_secret: s}",
                Err("client_secret"),
            ),
            (
                "api_version: v1\nauth: {type: kerberos}",
                Err("unknown variant"),
            ),
            (
                "api_version: v1\nauth: {type: entra, tenant: t}",
                Err("unknown field"),
            ),
            ("auth: {type: entra}", Err("required")),
        ];
        for (yaml, want) in cases {
            let options: Options = serde_yaml::from_str(yaml).unwrap();
            match (settings(&options), want) {
                (Ok(ProviderSettings::Azure(s)), Ok(kind)) => {
                    assert_eq!(s.auth.map(|a| a.kind), kind, "{yaml}");
                }
                (Err(e), Err(text)) => assert!(e.message.contains(text), "{yaml}: {}", e.message),
                (got, _) => panic!("{yaml}: {got:?}"),
            }
        }
    }
}
