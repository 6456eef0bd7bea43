//! Azure OpenAI: OpenAI's wire format under deployment paths, with a required `api_version`.

use serde::{Deserialize, Serialize};

use super::{Options, ProviderKind, ProviderSettings, SettingsError, Type, fields, read};
use crate::config::expand;

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
}

fn settings(options: &Options) -> Result<ProviderSettings, SettingsError> {
    if !options.contains_key("api_version") {
        return Err(SettingsError::key(
            "api_version",
            "required for type `azure` (e.g. \"2024-10-21\", or \"v1\")",
        ));
    }
    read(options).map(ProviderSettings::Azure)
}
