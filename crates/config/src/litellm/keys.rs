//! LiteLLM's virtual keys live in its database, not in the YAML. An operator exports them
//! (`GET /key/list?return_full_object=true`) and this turns the export into our `keys:` and
//! `teams:`: LiteLLM stores a key as the SHA-256 hex of its text, which is exactly our
//! `key_sha256`, so clients keep their keys without anyone seeing them.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::Value;

use crate::ConfigError;

/// Length of a SHA-256 digest in hex: what LiteLLM's `token` column holds.
const SHA256_HEX_LEN: usize = 64;
/// Longest key name kept (names go into metric labels).
const MAX_NAME_BYTES: usize = 64;

/// `keys:` and `teams:` in our format.
#[derive(Debug, Default, Serialize)]
pub struct Keys {
    /// One entry per exported key.
    pub keys: Vec<Key>,
    /// The teams the keys name (our keys may only name configured teams).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub teams: Vec<Team>,
}

/// One `keys[]` entry.
#[derive(Debug, Serialize, PartialEq)]
pub struct Key {
    /// `key_alias`, else LiteLLM's abbreviated `key_name`, else the hash's first characters.
    pub name: String,
    /// LiteLLM's `token`.
    pub key_sha256: String,
    /// `team_id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// `models` (empty: every model).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<String>,
    /// `rpm_limit`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u64>,
    /// `tpm_limit`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tpm: Option<u64>,
    /// `max_budget`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_usd: Option<f64>,
    /// `budget_duration` (`30d`, `1h`: our duration syntax too).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_period: Option<String>,
    /// `expires`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// One `teams[]` entry (limits are set by the operator afterwards).
#[derive(Debug, Serialize, PartialEq)]
pub struct Team {
    /// `team_id`.
    pub name: String,
}

/// Reads an export: `{"keys": [...]}` as `/key/list` returns it, or a bare list; each key is
/// an object (`return_full_object=true`) or just its hash.
pub fn from_export(json: &str) -> Result<Keys, ConfigError> {
    let doc: Value = serde_json::from_str(json)
        .map_err(|e| ConfigError::whole(format!("not a LiteLLM key export (JSON): {e}")))?;
    let list =
        doc.get("keys").unwrap_or(&doc).as_array().ok_or_else(|| {
            ConfigError::whole("not a LiteLLM key export: expected `keys: [...]`")
        })?;
    let mut out = Keys::default();
    let mut names = BTreeSet::new();
    let mut teams = BTreeSet::new();
    for (i, item) in list.iter().enumerate() {
        let key = key(item).ok_or_else(|| {
            ConfigError::whole(format!(
                "keys[{i}]: no `token` holding a SHA-256 hex digest (export with return_full_object=true)"
            ))
        })?;
        let key = Key {
            name: unique(&key.name, &mut names),
            ..key
        };
        if let Some(team) = &key.team
            && teams.insert(team.clone())
        {
            out.teams.push(Team { name: team.clone() });
        }
        out.keys.push(key);
    }
    Ok(out)
}

fn key(item: &Value) -> Option<Key> {
    let token = item.as_str().or_else(|| item.get("token")?.as_str())?;
    let hash = token.trim().to_ascii_lowercase();
    if hash.len() != SHA256_HEX_LEN || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let text = |field: &str| {
        item.get(field)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let name = text("key_alias")
        .or_else(|| text("key_name"))
        .unwrap_or_else(|| format!("litellm-{}", &hash[..8]));
    let models = item
        .get("models")
        .and_then(Value::as_array)
        .map(|m| {
            m.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    Some(Key {
        name,
        key_sha256: hash,
        team: text("team_id"),
        models,
        rpm: item.get("rpm_limit").and_then(Value::as_u64),
        tpm: item.get("tpm_limit").and_then(Value::as_u64),
        budget_usd: item.get("max_budget").and_then(Value::as_f64),
        budget_period: text("budget_duration"),
        expires_at: text("expires"),
    })
}

/// `name` cut to a label's length and made unique (`name-2`, …).
fn unique(name: &str, seen: &mut BTreeSet<String>) -> String {
    let base = &name[..name.floor_char_boundary(MAX_NAME_BYTES)];
    let mut candidate = base.to_owned();
    let mut n = 1;
    while !seen.insert(candidate.clone()) {
        n += 1;
        candidate = format!("{base}-{n}");
    }
    candidate
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "88ae6f9c3e4e8b2a0c1d2e3f405162738495a6b7c8d9eaf0b1c2d3e4f5061728";

    #[test]
    fn reads_full_objects_and_bare_hashes() {
        let json = format!(
            r#"{{"keys": [
                {{"token": "{HASH}", "key_alias": "web", "team_id": "search", "models": ["gpt-4o"],
                  "rpm_limit": 60, "tpm_limit": 10000, "max_budget": 12.5, "budget_duration": "30d",
                  "expires": "2027-01-01T00:00:00Z", "spend": 3.2}},
                {{"token": "{HASH}", "key_alias": "web"}},
                "{HASH}"
            ], "total_count": 3}}"#
        );
        let keys = from_export(&json).unwrap();
        let names: Vec<_> = keys.keys.iter().map(|k| k.name.as_str()).collect();
        assert_eq!(names, ["web", "web-2", "litellm-88ae6f9c"]);
        let first = &keys.keys[0];
        assert_eq!(first.team.as_deref(), Some("search"));
        assert_eq!((first.rpm, first.tpm), (Some(60), Some(10_000)));
        assert_eq!(first.budget_usd, Some(12.5));
        assert_eq!(first.budget_period.as_deref(), Some("30d"));
        assert_eq!(
            keys.teams,
            [Team {
                name: "search".into()
            }]
        );
    }

    #[test]
    fn refuses_what_is_not_an_export() {
        for json in [
            "{}",
            "not json",
            r#"{"keys": [{"token": "sk-plaintext"}]}"#,
            r#"{"keys": [{"key_alias": "no token"}]}"#,
        ] {
            assert!(from_export(json).is_err(), "{json}");
        }
    }
}
