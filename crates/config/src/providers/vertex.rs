//! Google Vertex AI: the project and location every URL names, where the pod's Google identity
//! comes from when it is not the environment's (`credentials_file`), and which publisher serves
//! the models (by default from the model name: `claude-*` is Anthropic's, anything else Google's).
//! The usual GKE setup gives no credentials at all: Workload Identity answers on the metadata
//! server. The field names are the ones LiteLLM's `vertex_project`/`vertex_location` translate to.

use serde::{Deserialize, Serialize};

use super::{Options, ProviderKind, ProviderSettings, SettingsError, Type, fields, read};
use crate::expand;

/// The location whose endpoint has no regional prefix.
pub const GLOBAL_LOCATION: &str = "global";
/// The endpoint of the `global` location.
pub const GLOBAL_BASE_URL: &str = "https://aiplatform.googleapis.com";
/// Longest location name accepted (real ones are under 25 characters).
const MAX_LOCATION_BYTES: usize = 32;
/// Longest project accepted: IDs are at most 30 characters, domain-scoped ones a little more.
const MAX_PROJECT_BYTES: usize = 100;

/// Google Vertex AI (Gemini and partner models such as Claude).
pub const TYPE: Type = Type {
    kind: ProviderKind::Vertex,
    name: "vertex",
    default_base_url: None,
    needs_base_url: false,
    genai_system: "gcp.vertex_ai",
    openai_style: false,
    recognise: |name, url| name.starts_with("vertex") || url.contains("aiplatform.googleapis.com"),
    keys: fields::of::<VertexSettings>,
    settings,
};

/// Who publishes a model on Vertex: the path segment `publishers/{publisher}` and the wire
/// format (Gemini's `generateContent` or Anthropic's Messages through `rawPredict`).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Publisher {
    /// Gemini and Google's embedding models.
    Google,
    /// Claude.
    Anthropic,
}

impl Publisher {
    /// Its path segment.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Google => "google",
            Self::Anthropic => "anthropic",
        }
    }

    /// The publisher of a model named `model` when none is configured.
    pub fn of_model(model: &str) -> Self {
        if model.starts_with("claude") {
            Self::Anthropic
        } else {
            Self::Google
        }
    }
}

/// `providers[]` keys of `type: vertex`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VertexSettings {
    /// The Google Cloud project (ID or number).
    #[serde(deserialize_with = "expand::string")]
    pub project: String,
    /// The location: a region (`us-central1`, `europe-west4`) or `global`.
    #[serde(deserialize_with = "expand::string")]
    pub location: String,
    /// A service-account key or `external_account` JSON file; else
    /// `GOOGLE_APPLICATION_CREDENTIALS`; else the metadata server (GKE Workload Identity).
    #[serde(default, deserialize_with = "expand::opt_string")]
    pub credentials_file: Option<String>,
    /// The publisher of every model of this provider; by model name when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publisher: Option<Publisher>,
}

impl VertexSettings {
    /// The endpoint of the location (the checks made it a host-name label).
    pub fn default_base_url(&self) -> String {
        if self.location == GLOBAL_LOCATION {
            GLOBAL_BASE_URL.to_owned()
        } else {
            format!("https://{}-aiplatform.googleapis.com", self.location)
        }
    }
}

fn settings(options: &Options) -> Result<ProviderSettings, SettingsError> {
    for key in ["project", "location"] {
        if !options.contains_key(key) {
            return Err(SettingsError::key(key, "required for type `vertex`"));
        }
    }
    let settings: VertexSettings = read(options)?;
    // The location becomes part of the endpoint's host name.
    let location_ok = !settings.location.is_empty()
        && settings.location.len() <= MAX_LOCATION_BYTES
        && settings
            .location
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !location_ok {
        return Err(SettingsError::key(
            "location",
            format!(
                "`{}` is not a Vertex AI location (e.g. us-central1, or global)",
                settings.location
            ),
        ));
    }
    let project_ok = !settings.project.is_empty()
        && settings.project.len() <= MAX_PROJECT_BYTES
        && settings
            .project
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b':' | b'_'));
    if !project_ok {
        return Err(SettingsError::key(
            "project",
            format!(
                "`{}` is not a Google Cloud project ID or number",
                settings.project
            ),
        ));
    }
    if settings.credentials_file.as_deref() == Some("") {
        return Err(SettingsError::key("credentials_file", "must not be empty"));
    }
    Ok(ProviderSettings::Vertex(settings))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(yaml: &str) -> Options {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn settings_are_checked() {
        let cases = [
            ("project: p-1\nlocation: us-central1", Ok(())),
            ("project: \"123456\"\nlocation: global", Ok(())),
            (
                "project: example.com:p\nlocation: europe-west4\ncredentials_file: /k.json\npublisher: anthropic",
                Ok(()),
            ),
            ("location: us-central1", Err("required")),
            ("project: p", Err("required")),
            (
                "project: p\nlocation: us-central1.evil.example",
                Err("not a Vertex AI location"),
            ),
            ("project: p\nlocation: US", Err("not a Vertex AI location")),
            (
                "project: a/b\nlocation: global",
                Err("not a Google Cloud project"),
            ),
            (
                "project: p\nlocation: global\npublisher: meta",
                Err("unknown variant"),
            ),
            (
                "project: p\nlocation: global\nregion: x",
                Err("unknown field"),
            ),
        ];
        for (yaml, want) in cases {
            match (settings(&options(yaml)), want) {
                (Ok(ProviderSettings::Vertex(_)), Ok(())) => {}
                (Err(e), Err(text)) => assert!(e.message.contains(text), "{yaml}: {}", e.message),
                (got, _) => panic!("{yaml}: {got:?}"),
            }
        }
    }

    #[test]
    fn base_urls_and_publishers_follow_the_location_and_model() {
        let at = |location: &str| VertexSettings {
            project: "p".into(),
            location: location.into(),
            ..VertexSettings::default()
        };
        assert_eq!(
            at("us-central1").default_base_url(),
            "https://us-central1-aiplatform.googleapis.com"
        );
        assert_eq!(at("global").default_base_url(), GLOBAL_BASE_URL);
        let cases = [
            ("claude-sonnet-4@20250514", Publisher::Anthropic),
            ("claude-3-5-haiku", Publisher::Anthropic),
            ("gemini-2.5-flash", Publisher::Google),
            ("text-embedding-005", Publisher::Google),
        ];
        for (model, want) in cases {
            assert_eq!(Publisher::of_model(model), want, "{model}");
        }
    }
}
