//! Anthropic's Messages API: beta flags and the `max_tokens` sent when a client gives none.

use serde::{Deserialize, Serialize};

use super::{Options, ProviderKind, ProviderSettings, SettingsError, Type, fields, read};

/// Anthropic.
pub const TYPE: Type = Type {
    kind: ProviderKind::Anthropic,
    name: "anthropic",
    default_base_url: Some("https://api.anthropic.com"),
    needs_base_url: false,
    genai_system: "anthropic",
    openai_style: false,
    recognise: |name, url| name == "anthropic" || url.contains("api.anthropic.com"),
    keys: fields::of::<AnthropicSettings>,
    settings,
};

/// `providers[]` keys of `type: anthropic`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AnthropicSettings {
    /// Beta feature flags, sent as `anthropic-beta`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub anthropic_beta: Vec<String>,
    /// `max_tokens` when the client gave none (Anthropic requires one); else the model's
    /// output limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_max_tokens: Option<u64>,
}

fn settings(options: &Options) -> Result<ProviderSettings, SettingsError> {
    let settings: AnthropicSettings = read(options)?;
    if settings.default_max_tokens == Some(0) {
        return Err(SettingsError::key(
            "default_max_tokens",
            "must be at least 1",
        ));
    }
    Ok(ProviderSettings::Anthropic(settings))
}
