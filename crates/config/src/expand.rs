//! `${VAR}` expansion from the environment and `file:/path` secrets, applied while deserializing
//! so that errors carry the YAML line of the offending value.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::units::{Scalar, deserialize_scalar};

/// What a secret prints as anywhere outside the request path.
pub const REDACTED: &str = "***";

/// Prefix that makes a secret value a path to read (a mounted Kubernetes Secret).
const FILE_PREFIX: &str = "file:";

/// Expands `${VAR}` and `${VAR:-default}` in `text`, looking variables up with `lookup`.
///
/// A `$` not followed by `{` is kept as is, so keys and URLs containing `$` survive.
pub fn expand_with(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unclosed `${{` in `{text}`"))?;
        let inner = &after[..end];
        let (name, default) = match inner.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (inner, None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("invalid variable name `{name}` in `${{{inner}}}`"));
        }
        match (lookup(name), default) {
            (Some(value), _) => out.push_str(&value),
            (None, Some(default)) => out.push_str(default),
            (None, None) => return Err(format!("environment variable `{name}` is not set")),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Expands `${VAR}` from the process environment.
pub fn expand_env(text: &str) -> Result<String, String> {
    expand_with(text, |name| std::env::var(name).ok())
}

/// Serde helper: a string with `${VAR}` expanded.
pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    deserialize_scalar(d, "a string", |s| match s {
        Scalar::Text(text) => expand_env(text),
        Scalar::Int(n) => Ok(n.to_string()),
    })
}

/// Serde helper: an optional string with `${VAR}` expanded.
pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    string(d).map(Some)
}

/// A credential from config: expanded from the environment or read from a file, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    value: String,
    file: Option<PathBuf>,
}

impl Secret {
    /// Wraps a literal secret value (env-only mode, tests).
    pub fn new(value: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            file: None,
        }
    }

    /// Resolves config text: `${VAR}` expansion, then `file:/path` reads the file.
    pub fn resolve(text: &str) -> Result<Self, String> {
        let expanded = expand_env(text)?;
        match expanded.strip_prefix(FILE_PREFIX) {
            Some(path) => {
                let path = PathBuf::from(path.trim());
                let content = std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read secret file `{}`: {e}", path.display()))?;
                Ok(Self {
                    value: content.trim_end_matches(['\n', '\r']).to_owned(),
                    file: Some(path),
                })
            }
            None => Ok(Self::new(expanded)),
        }
    }

    /// The secret's value, for the one place that must send it (an upstream header).
    pub fn expose(&self) -> &str {
        &self.value
    }

    /// The file the secret was read from, so the watcher can follow rotations.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(REDACTED)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_scalar(d, "a secret string", |s| match s {
            Scalar::Text(text) => Secret::resolve(text),
            Scalar::Int(n) => Ok(Secret::new(n.to_string())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(name: &str) -> Option<String> {
        match name {
            "KEY" => Some("sk-123".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expansion() {
        let cases: [(&str, Result<&str, &str>); 9] = [
            ("plain", Ok("plain")),
            ("${KEY}", Ok("sk-123")),
            ("Bearer ${KEY}!", Ok("Bearer sk-123!")),
            ("${EMPTY}x", Ok("x")),
            ("${MISSING:-fallback}", Ok("fallback")),
            ("cost $5", Ok("cost $5")),
            (
                "${MISSING}",
                Err("environment variable `MISSING` is not set"),
            ),
            ("${KEY", Err("unclosed")),
            ("${bad-name}", Err("invalid variable name")),
        ];
        for (text, want) in cases {
            match (expand_with(text, lookup), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{text}"),
                (Err(got), Err(want)) => assert!(got.contains(want), "{text}: {got}"),
                (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn secret_reads_file_and_never_prints() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "sk-from-file\n").unwrap();
        let secret = Secret::resolve(&format!("file:{}", path.display())).unwrap();
        assert_eq!(secret.expose(), "sk-from-file");
        assert_eq!(secret.file(), Some(path.as_path()));
        assert_eq!(format!("{secret:?}"), REDACTED);
        assert_eq!(serde_json::to_string(&secret).unwrap(), "\"***\"");
        let missing = Secret::resolve("file:/nonexistent/key").unwrap_err();
        assert!(missing.contains("/nonexistent/key"), "{missing}");
    }
}
