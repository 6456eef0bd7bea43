//! Second stage of config loading: checks that the raw structs make sense together (unique
//! names, references that resolve, addresses that parse) and derives the model groups.
//!
//! This file owns the validated [`Config`] and the order the checks run in; each concern lives
//! in its own submodule so a new rule lands next to the rules it interacts with.

mod groups;
mod providers;
mod routing;
mod server;

use std::net::SocketAddr;
use std::path::PathBuf;

use super::schema::{DeploymentApi, RawConfig};
use super::{ConfigError, FieldPath};

/// A validated config: the raw file plus what was derived from it.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file as parsed (secrets resolved), kept for `/admin/config` and reload diffs.
    pub raw: RawConfig,
    /// Where the gateway listens.
    pub listeners: Listeners,
    /// Client-facing model names with their deployments, merged from `models[]` and
    /// `providers[].models`, in config order.
    pub groups: Vec<GroupSpec>,
    /// The file this config came from (none in env-only mode).
    pub source: Option<PathBuf>,
    /// The YAML text, for locating errors found after parsing.
    pub text: Option<std::sync::Arc<str>>,
    /// What loading had to say without refusing the file (a translated LiteLLM file's
    /// approximations and ignored keys), logged at every (re)load and printed by `--check`.
    pub warnings: Vec<String>,
}

impl Config {
    /// Files that secrets were read from (`file:`), which a reload must watch too.
    pub fn secret_files(&self) -> Vec<PathBuf> {
        let providers = self
            .raw
            .providers
            .iter()
            .flat_map(|p| p.api_key.iter().chain(p.settings.secrets()));
        let keys = self.raw.keys.iter().filter_map(|k| k.key.as_ref());
        providers
            .chain(keys)
            .chain(self.raw.auth.master_key.as_ref())
            .chain(self.raw.store.secret_sources())
            .filter_map(|s| s.file().map(std::path::Path::to_path_buf))
            .collect()
    }

    /// Every secret value in this config (provider keys and extra header values, virtual keys,
    /// the master key, the store URLs and credentials), for the log redactor to mask by value.
    pub fn secret_values(&self) -> impl Iterator<Item = &str> {
        let providers = self.raw.providers.iter().flat_map(|p| {
            p.api_key
                .iter()
                .chain(p.extra_headers.values())
                .chain(p.settings.secrets())
        });
        let keys = self.raw.keys.iter().filter_map(|k| k.key.as_ref());
        providers
            .chain(keys)
            .chain(self.raw.auth.master_key.as_ref())
            .chain(self.raw.store.secrets())
            .map(super::Secret::expose)
    }

    /// Whether every API call needs an identity: keys, a master key or Unix peers are set.
    pub fn requires_identity(&self) -> bool {
        !self.raw.keys.is_empty() || self.raw.auth.has_credentials()
    }

    /// An error about the value at `path`, with this config's file and line.
    pub fn error_at(&self, path: &FieldPath, message: impl Into<String>) -> ConfigError {
        let mut error = ConfigError::at(path, message);
        error.file.clone_from(&self.source);
        error.line = self
            .text
            .as_deref()
            .and_then(|t| super::locate::line_of(t, path));
        error
    }
}

/// Listener addresses; these cannot change on reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listeners {
    /// API over TCP.
    pub tcp: Option<SocketAddr>,
    /// API over a Unix domain socket.
    pub unix: Option<PathBuf>,
    /// Mode applied to the socket file.
    pub unix_mode: u32,
    /// Probes + metrics (+ admin) listener.
    pub admin: Option<SocketAddr>,
}

/// One model group: a client-facing name and where it is served.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSpec {
    /// The name clients send.
    pub name: String,
    /// Deployments serving it.
    pub deployments: Vec<DeploymentSpec>,
    /// Model names to fall back to.
    pub fallbacks: Vec<String>,
}

/// One deployment of a group.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentSpec {
    /// Index into `RawConfig::providers`.
    pub provider: usize,
    /// Model name sent upstream.
    pub upstream_model: String,
    /// Relative share of traffic.
    pub weight: u32,
    /// The upstream API chat requests take.
    pub api: DeploymentApi,
}

/// Checks a raw config and derives listeners and model groups.
pub fn validate(mut raw: RawConfig) -> Result<Config, ConfigError> {
    // Order matters: the first error is the one reported, and later checks rely on the
    // provider index and groups built by earlier ones.
    let listeners = server::listeners(&raw.server)?;
    server::limits(&raw.server)?;
    let provider_index = providers::providers(&mut raw.providers)?;
    let groups = groups::groups(&raw, &provider_index)?;
    routing::routing(&raw, &provider_index, &groups)?;
    routing::breaker(&raw.routing.circuit_breaker)?;
    super::access::validate(&raw)?;
    super::telemetry::validate(&raw.telemetry)?;
    rate_limit_and_logging(&raw)?;
    Ok(Config {
        raw,
        listeners,
        groups,
        source: None,
        text: None,
        warnings: Vec::new(),
    })
}

/// Process-wide switches that have no module of their own in `config`.
fn rate_limit_and_logging(raw: &RawConfig) -> Result<(), ConfigError> {
    if raw.rate_limit.enabled && raw.rate_limit.requests_per_minute == 0 {
        return Err(ConfigError::at(
            &FieldPath::root("rate_limit").key("requests_per_minute"),
            "must be at least 1 when rate_limit.enabled is true",
        ));
    }
    if tracing_subscriber::EnvFilter::try_new(&raw.logging.level).is_err() {
        return Err(ConfigError::at(
            &FieldPath::root("logging").key("level"),
            format!(
                "invalid level `{}`: use error, warn, info, debug or trace",
                raw.logging.level
            ),
        ));
    }
    Ok(())
}

/// Shared by the per-concern test tables: every case is a whole config run through `parse`, so
/// the error path and message are checked exactly as a user would see them.
#[cfg(test)]
mod test_support {
    use super::super::parse;

    /// A minimal valid config that each case extends.
    pub(super) const BASE: &str = "providers:\n  - name: p\n    type: mock\n    models: [m]\n";

    /// Asserts each `(yaml, path, message)` case is rejected at `path` with a message containing
    /// `message`. Cases starting with `providers:` replace `BASE` instead of extending it.
    pub(super) fn assert_rejects(cases: &[(&str, &str, &str)]) {
        for &(extra, path, message) in cases {
            let text = if extra.starts_with("providers:") {
                extra.to_owned()
            } else {
                format!("{BASE}{extra}")
            };
            let err = parse(&text, None).unwrap_err();
            assert_eq!(err.path, path, "{extra}");
            assert!(err.message.contains(message), "{extra}: {}", err.message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::assert_rejects;

    #[test]
    fn rejects_ambiguous_cloud_settings() {
        assert_rejects(&[
            (
                "providers:\n  - {name: az, type: azure, base_url: 'https://r.openai.azure.com', api_version: v1, api_key: k, auth: {type: entra}}\n",
                "providers[0].api_key",
                "not both",
            ),
            (
                "providers:\n  - {name: m, type: mock}\nmodels:\n  - {name: c, deployments: [{provider: m, publisher: anthropic}]}\n",
                "models[0].deployments[0].publisher",
                "only applies to deployments on a `vertex` provider",
            ),
            (
                "providers:\n  - {name: v, type: vertex, project: p, location: global}\nmodels:\n  - {name: c, deployments: [{provider: v, publisher: meta}]}\n",
                "models[0].deployments[0].publisher",
                "unknown variant",
            ),
        ]);
    }

    /// Access rules live in `config::access`, but are exercised here because `validate` is what
    /// decides they run and in which order.
    #[test]
    fn rejects_bad_access_limits_and_logging() {
        assert_rejects(&[
            (
                "rate_limit:\n  enabled: true\n",
                "rate_limit.requests_per_minute",
                "at least 1",
            ),
            ("keys:\n  - {name: k}\n", "keys[0]", "exactly one of"),
            (
                "keys:\n  - {name: k, key_sha256: ABC}\n",
                "keys[0].key_sha256",
                "64 lowercase hex",
            ),
            (
                "keys:\n  - {name: k, key: a}\n  - {name: k, key: b}\n",
                "keys[1].name",
                "unique",
            ),
            (
                "keys:\n  - {name: k, key: a, rpm: 0}\n",
                "keys[0].rpm",
                "at least 1",
            ),
            (
                "keys:\n  - {name: k, key: a, expires_at: tomorrow}\n",
                "keys[0].expires_at",
                "RFC 3339",
            ),
            (
                "teams:\n  - {name: t}\nkeys:\n  - {name: k, key: a, team: x}\n",
                "keys[0].team",
                "unknown team",
            ),
            (
                "auth:\n  unix_peers: [{uid: 1}, {uid: 1}]\n",
                "auth.unix_peers[1]",
                "twice",
            ),
            (
                "pricing:\n  m: {input_per_million: -1, output_per_million: 1}\n",
                "pricing.m",
                "non-negative",
            ),
            ("store:\n  url: http://x\n", "store.url", "redis://"),
            (
                "logging:\n  level: 'info,,=x=y'\n",
                "logging.level",
                "invalid level",
            ),
        ]);
    }
}
