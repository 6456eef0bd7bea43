//! Provider types: what each `type:` of `providers[]` is (its name, default base URL, GenAI
//! system name, whether it speaks OpenAI's wire format, how it is recognised without a `type`)
//! and the settings only that type takes, read and checked here so that one type's keys never
//! mean anything to another. The adapters in `providers/` read their type's settings.
//!
//! Adding a type: a file here with its [`Type`] descriptor (and settings, if it has any), a
//! variant of [`ProviderKind`] and an entry in [`TYPES`] (and in [`ProviderSettings`] when it has
//! settings), then its adapter in `providers/` with one arm in `providers::build`.

mod anthropic;
mod azure;
mod bedrock;
mod mock;
mod plain;
mod vertex;

mod fields;

pub use anthropic::AnthropicSettings;
pub use azure::{AZURE_V1, AzureSettings, EntraAuth, EntraKind};
pub use bedrock::{BedrockSettings, process_env};
pub use mock::{MockConfig, MockSettings};
pub use plain::OPENAI_DEFAULT_BASE_URL;
pub use vertex::{Publisher, VertexSettings};

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{ConfigError, FieldPath};

/// A provider's type (`type:`).
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// OpenAI itself.
    #[default]
    Openai,
    /// Azure OpenAI.
    Azure,
    /// Anthropic Messages API.
    Anthropic,
    /// Google Gemini API.
    Gemini,
    /// Ollama's native API.
    Ollama,
    /// vLLM's OpenAI-compatible server.
    Vllm,
    /// Any OpenAI-compatible server.
    OpenaiCompatible,
    /// The built-in deterministic mock.
    Mock,
    /// Amazon Bedrock.
    Bedrock,
    /// Google Vertex AI.
    Vertex,
}

/// What a provider type is.
#[derive(Debug)]
pub struct Type {
    /// The type.
    pub kind: ProviderKind,
    /// Its `type:` value.
    pub name: &'static str,
    /// Where it is when `base_url` is not given.
    pub default_base_url: Option<&'static str>,
    /// Whether `base_url` (or `unix_socket`) must be given: there is no public endpoint.
    pub needs_base_url: bool,
    /// `gen_ai.provider.name` of its spans and metrics (the conventions' well-known values).
    pub genai_system: &'static str,
    /// Whether it speaks OpenAI's wire format (its base URL then includes `/v1`).
    pub openai_style: bool,
    /// Whether a provider without `type` is this one, by its lowercased name and base URL.
    pub recognise: fn(name: &str, base_url: &str) -> bool,
    /// The keys only this type takes.
    pub keys: fn() -> &'static [&'static str],
    /// Reads its settings from those keys (only those are passed).
    pub settings: fn(&Options) -> Result<ProviderSettings, SettingsError>,
}

/// Every type, in the order a provider without `type` is recognised (the last, OpenAI, takes
/// anything).
pub const TYPES: [&Type; 10] = [
    &anthropic::TYPE,
    &plain::GEMINI,
    &azure::TYPE,
    &bedrock::TYPE,
    &vertex::TYPE,
    &plain::OLLAMA,
    &plain::VLLM,
    &plain::OPENAI_COMPATIBLE,
    &mock::TYPE,
    &plain::OPENAI,
];

impl ProviderKind {
    /// What this type is.
    pub fn info(self) -> &'static Type {
        TYPES
            .iter()
            .find(|t| t.kind == self)
            .copied()
            .unwrap_or(&plain::OPENAI)
    }

    /// The name used in config and logs.
    pub fn as_str(self) -> &'static str {
        self.info().name
    }

    /// Whether the upstream speaks OpenAI's wire format (its base URL includes `/v1`).
    pub fn is_openai_style(self) -> bool {
        self.info().openai_style
    }

    /// The base URL used when none is configured.
    pub fn default_base_url(self) -> Option<&'static str> {
        self.info().default_base_url
    }

    /// `gen_ai.provider.name` of this type.
    pub fn genai_system(self) -> &'static str {
        self.info().genai_system
    }

    /// The type of a provider without `type:`, from its name or base URL (the seed's config
    /// names providers but gives no types); OpenAI when nothing else fits.
    pub fn recognise(name: &str, base_url: Option<&str>) -> Self {
        let name = name.to_ascii_lowercase();
        let url = base_url.unwrap_or_default().to_ascii_lowercase();
        TYPES
            .iter()
            .find(|t| (t.recognise)(&name, &url))
            .map_or(Self::Openai, |t| t.kind)
    }
}

/// The keys of a provider that its common fields did not take, as written.
pub type Options = BTreeMap<String, serde_yaml::Value>;

/// Settings only one type takes (read from [`Options`] by the type).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ProviderSettings {
    /// A type without settings of its own.
    #[default]
    None,
    /// Azure OpenAI's.
    Azure(AzureSettings),
    /// Anthropic's.
    Anthropic(AnthropicSettings),
    /// The mock's.
    Mock(MockSettings),
    /// Bedrock's.
    Bedrock(BedrockSettings),
    /// Vertex AI's.
    Vertex(VertexSettings),
}

impl ProviderSettings {
    /// The secrets a type's settings hold (for the redactor and the secret-file watcher).
    pub fn secrets(&self) -> Box<dyn Iterator<Item = &crate::Secret> + '_> {
        match self {
            Self::Bedrock(settings) => Box::new(settings.secrets()),
            Self::Azure(settings) => Box::new(settings.secrets()),
            _ => Box::new(std::iter::empty()),
        }
    }
}

/// Why a type's settings could not be read: where (under the provider) and the problem.
#[derive(Debug)]
pub struct SettingsError {
    /// The path of the value at fault, under the provider (empty: the provider itself).
    pub path: Vec<Step>,
    /// What is wrong.
    pub message: String,
}

/// One step of a [`SettingsError`]'s path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A mapping key.
    Key(String),
    /// A list index.
    Index(usize),
}

impl SettingsError {
    /// An error about the provider key `key`.
    fn key(key: &str, message: impl Into<String>) -> Self {
        Self {
            path: vec![Step::Key(key.to_owned())],
            message: message.into(),
        }
    }

    /// As a config error under `provider` (`providers[i]`).
    pub fn at(self, provider: &FieldPath) -> ConfigError {
        let path = self
            .path
            .iter()
            .fold(provider.clone(), |path, step| match step {
                Step::Key(key) => path.key(key),
                Step::Index(i) => path.index(*i),
            });
        ConfigError::at(&path, self.message)
    }
}

/// `options` read as a type's settings `T` (unknown keys refused by its own
/// `deny_unknown_fields`), with the key at fault named.
pub fn read<T: DeserializeOwned>(options: &Options) -> Result<T, SettingsError> {
    let mapping: serde_yaml::Mapping = options
        .iter()
        .map(|(k, v)| (serde_yaml::Value::String(k.clone()), v.clone()))
        .collect();
    serde_path_to_error::deserialize(serde_yaml::Value::Mapping(mapping)).map_err(|e| {
        use serde_path_to_error::Segment;
        let path = e
            .path()
            .iter()
            .filter_map(|segment| match segment {
                Segment::Seq { index } => Some(Step::Index(*index)),
                Segment::Map { key } => Some(Step::Key(key.clone())),
                Segment::Enum { variant } => Some(Step::Key(variant.clone())),
                Segment::Unknown => None,
            })
            .collect();
        SettingsError {
            path,
            message: e.into_inner().to_string(),
        }
    })
}

/// The settings of a type without settings of its own.
fn no_settings(_: &Options) -> Result<ProviderSettings, SettingsError> {
    Ok(ProviderSettings::None)
}

/// The keys of a type without settings of its own.
fn no_keys() -> &'static [&'static str] {
    &[]
}

/// Reads the settings of a provider of type `kind` from `options` (the keys its common fields
/// did not take): a key of another type is refused naming that type, any other unknown key as
/// unknown.
pub fn settings(kind: ProviderKind, options: &Options) -> Result<ProviderSettings, SettingsError> {
    let own = (kind.info().keys)();
    if let Some(key) = options.keys().find(|k| !own.contains(&k.as_str())) {
        let message = match TYPES.iter().find(|t| (t.keys)().contains(&key.as_str())) {
            Some(other) => format!("only applies to type `{}`", other.name),
            None => format!("unknown field `{key}`"),
        };
        return Err(SettingsError::key(key, message));
    }
    (kind.info().settings)(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_is_registered_once_and_round_trips_its_name() {
        for kind in [
            ProviderKind::Openai,
            ProviderKind::Azure,
            ProviderKind::Anthropic,
            ProviderKind::Gemini,
            ProviderKind::Ollama,
            ProviderKind::Vllm,
            ProviderKind::OpenaiCompatible,
            ProviderKind::Mock,
            ProviderKind::Bedrock,
            ProviderKind::Vertex,
        ] {
            assert_eq!(TYPES.iter().filter(|t| t.kind == kind).count(), 1);
            let parsed: ProviderKind = serde_yaml::from_str(kind.as_str()).unwrap();
            assert_eq!(parsed, kind);
        }
    }

    #[test]
    fn types_are_recognised_by_name_or_host() {
        let cases = [
            ("anthropic", None, ProviderKind::Anthropic),
            (
                "claude",
                Some("https://api.anthropic.com"),
                ProviderKind::Anthropic,
            ),
            ("google", None, ProviderKind::Gemini),
            (
                "g",
                Some("https://generativelanguage.googleapis.com"),
                ProviderKind::Gemini,
            ),
            ("azure-eu", None, ProviderKind::Azure),
            (
                "x",
                Some("https://res.openai.azure.com"),
                ProviderKind::Azure,
            ),
            ("ollama", None, ProviderKind::Ollama),
            ("local", Some("http://box:11434"), ProviderKind::Ollama),
            ("bedrock", None, ProviderKind::Bedrock),
            (
                "aws",
                Some("https://bedrock-runtime.us-east-1.amazonaws.com"),
                ProviderKind::Bedrock,
            ),
            ("vertex-eu", None, ProviderKind::Vertex),
            (
                "g",
                Some("https://europe-west4-aiplatform.googleapis.com"),
                ProviderKind::Vertex,
            ),
            ("openai", None, ProviderKind::Openai),
            (
                "whatever",
                Some("http://vllm:8000/v1"),
                ProviderKind::Openai,
            ),
        ];
        for (name, url, want) in cases {
            assert_eq!(ProviderKind::recognise(name, url), want, "{name} {url:?}");
        }
    }
}
