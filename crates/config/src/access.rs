//! Access config: virtual keys, teams, Unix-socket peer identities, prices and the shared store.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::expand::Secret;
use super::units;

/// Budget period when a budget names none.
pub const DEFAULT_BUDGET_PERIOD: Duration = Duration::from_secs(30 * 86_400);

/// `keys[]` — a virtual key clients present.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    /// Unique name, used in metrics, logs and usage reports (never the key itself).
    pub name: String,
    /// The key (`${VAR}`, `file:/path`); or give `key_sha256`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Secret>,
    /// Lowercase hex SHA-256 of the key, so plaintext keys stay out of ConfigMaps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_sha256: Option<String>,
    /// Team the key's usage and limits roll up to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// Model names the key may use (globs with `*`); empty allows all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<String>,
    /// Requests per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u64>,
    /// Tokens per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpm: Option<u64>,
    /// Spend allowed per budget period, in US dollars.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_usd: Option<f64>,
    /// Length of a budget period (`1d`, `30d`); periods start at multiples of it since the epoch.
    #[serde(
        default,
        with = "units::opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub budget_period: Option<Duration>,
    /// RFC 3339 time after which the key is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// `teams[]` — limits shared by every key of a team.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TeamConfig {
    /// Team name, as keys refer to it.
    pub name: String,
    /// Requests per minute across the team.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u64>,
    /// Tokens per minute across the team.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpm: Option<u64>,
    /// Spend allowed per budget period, in US dollars.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_usd: Option<f64>,
    /// Length of a budget period.
    #[serde(
        default,
        with = "units::opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub budget_period: Option<Duration>,
}

/// `auth.unix_peers[]` — a process on the socket authenticated by its kernel-verified uid/gid.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UnixPeerConfig {
    /// Peer user id.
    pub uid: u32,
    /// Peer group id (any when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
    /// Team the peer's usage rolls up to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// Name in metrics and logs (default `uid-<uid>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `pricing.<model>` — USD per million tokens.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PriceConfig {
    /// Uncached input tokens.
    pub input_per_million: f64,
    /// Cached input tokens (default: the input price).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input_per_million: Option<f64>,
    /// Output tokens (reasoning included).
    pub output_per_million: f64,
}

/// Prices by model name.
pub type Pricing = BTreeMap<String, PriceConfig>;

pub use super::store::{OnError, StoreConfig};

/// Length of a SHA-256 digest in lowercase hex.
const SHA256_HEX_LEN: usize = 64;

/// Checks keys, teams, peers, prices and the store.
pub fn validate(raw: &super::RawConfig) -> Result<(), super::ConfigError> {
    use super::{ConfigError, FieldPath};
    let team_names: Vec<&str> = raw.teams.iter().map(|t| t.name.as_str()).collect();
    let known_team = |team: &Option<String>, at: &FieldPath| match team {
        Some(name) if !team_names.is_empty() && !team_names.contains(&name.as_str()) => {
            Err(ConfigError::at(
                &at.key("team"),
                format!(
                    "unknown team `{name}` (configured: {})",
                    team_names.join(", ")
                ),
            ))
        }
        _ => Ok(()),
    };
    let mut names = std::collections::HashSet::new();
    for (i, key) in raw.keys.iter().enumerate() {
        let at = FieldPath::root("keys").index(i);
        if key.name.trim().is_empty() || !names.insert(key.name.as_str()) {
            return Err(ConfigError::at(
                &at.key("name"),
                format!("must be unique and not empty: `{}`", key.name),
            ));
        }
        match (&key.key, &key.key_sha256) {
            (Some(k), None) if !k.expose().is_empty() => {}
            (None, Some(hex)) if is_sha256_hex(hex) => {}
            (None, Some(_)) => {
                return Err(ConfigError::at(
                    &at.key("key_sha256"),
                    "must be 64 lowercase hex characters",
                ));
            }
            _ => {
                return Err(ConfigError::at(
                    &at,
                    "give exactly one of `key` or `key_sha256`",
                ));
            }
        }
        limits(key.rpm, key.tpm, key.budget_usd, key.budget_period, &at)?;
        if let Some(expires) = &key.expires_at
            && crate::clock::unix_from_rfc3339(expires).is_none()
        {
            return Err(ConfigError::at(
                &at.key("expires_at"),
                "must be an RFC 3339 time, e.g. 2026-12-31T23:59:59Z",
            ));
        }
        if let Some(j) = key.models.iter().position(|m| m.trim().is_empty()) {
            return Err(ConfigError::at(
                &at.key("models").index(j),
                "must not be empty",
            ));
        }
        known_team(&key.team, &at)?;
    }
    let mut teams = std::collections::HashSet::new();
    for (i, team) in raw.teams.iter().enumerate() {
        let at = FieldPath::root("teams").index(i);
        if team.name.trim().is_empty() || !teams.insert(team.name.as_str()) {
            return Err(ConfigError::at(
                &at.key("name"),
                format!("must be unique and not empty: `{}`", team.name),
            ));
        }
        limits(team.rpm, team.tpm, team.budget_usd, team.budget_period, &at)?;
    }
    for (i, peer) in raw.auth.unix_peers.iter().enumerate() {
        let at = FieldPath::root("auth").key("unix_peers").index(i);
        let duplicate = raw.auth.unix_peers[..i]
            .iter()
            .any(|p| p.uid == peer.uid && p.gid == peer.gid);
        if duplicate {
            return Err(ConfigError::at(&at, "the same uid/gid is listed twice"));
        }
        known_team(&peer.team, &at)?;
    }
    for (model, price) in &raw.pricing {
        let at = FieldPath::root("pricing").key(model);
        let cached = price.cached_input_per_million.unwrap_or(0.0);
        if [price.input_per_million, price.output_per_million, cached]
            .iter()
            .any(|p| !p.is_finite() || *p < 0.0)
        {
            return Err(ConfigError::at(&at, "prices must be non-negative numbers"));
        }
    }
    super::store::validate(&raw.store)
}

fn limits(
    rpm: Option<u64>,
    tpm: Option<u64>,
    budget: Option<f64>,
    period: Option<Duration>,
    at: &super::FieldPath,
) -> Result<(), super::ConfigError> {
    use super::ConfigError;
    for (key, value) in [("rpm", rpm), ("tpm", tpm)] {
        if value == Some(0) {
            return Err(ConfigError::at(&at.key(key), "must be at least 1"));
        }
    }
    if budget.is_some_and(|b| !b.is_finite() || b < 0.0) {
        return Err(ConfigError::at(
            &at.key("budget_usd"),
            "must be a non-negative number",
        ));
    }
    if period.is_some_and(|p| p.as_secs() == 0) {
        return Err(ConfigError::at(
            &at.key("budget_period"),
            "must be at least 1s",
        ));
    }
    Ok(())
}

/// Whether `text` is a lowercase hex SHA-256 digest.
pub fn is_sha256_hex(text: &str) -> bool {
    text.len() == SHA256_HEX_LEN
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
