//! The built-in deterministic mock: its knobs live under `mock:`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Options, ProviderKind, ProviderSettings, SettingsError, Type, fields, read};
use crate::units;

/// The mock.
pub const TYPE: Type = Type {
    kind: ProviderKind::Mock,
    name: "mock",
    default_base_url: None,
    needs_base_url: false,
    genai_system: "mock",
    openai_style: true,
    recognise: |_, _| false,
    keys: fields::of::<MockSettings>,
    settings,
};

/// `providers[]` keys of `type: mock`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MockSettings {
    /// The mock's knobs.
    #[serde(default)]
    pub mock: MockConfig,
}

/// `providers[].mock` — knobs of the deterministic mock provider.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MockConfig {
    /// Delay before the response (or the first stream chunk).
    #[serde(default, with = "units::opt_duration")]
    pub latency: Option<Duration>,
    /// Delay between stream chunks.
    #[serde(default, with = "units::opt_duration")]
    pub chunk_delay: Option<Duration>,
    /// Text the mock answers with.
    #[serde(default)]
    pub reply: Option<String>,
    /// Length of mock embedding vectors.
    #[serde(default)]
    pub dimensions: Option<usize>,
}

fn settings(options: &Options) -> Result<ProviderSettings, SettingsError> {
    read(options).map(ProviderSettings::Mock)
}
