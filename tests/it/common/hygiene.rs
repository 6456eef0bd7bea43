//! The log hygiene every integration test gets for free: when a gateway the test started stops,
//! each line it wrote must be one JSON object, and none may hold a credential (an `sk-…` key, a
//! secret from its config or environment) or an e-mail address. Run from [`Gateway`]'s drop, so
//! the whole suite is the corpus.
//!
//! [`Gateway`]: super::Gateway

use std::path::Path;

/// Secrets shorter than this are not masked by the gateway (too many false positives), so they
/// are not looked for either.
const MIN_SECRET_LEN: usize = 8;
/// Characters after `sk-` that make a string look like a provider key.
const MIN_SK_KEY_BODY: usize = 20;
/// Config keys whose string values are secrets.
const SECRET_KEYS: [&str; 5] = ["api_key", "key", "master_key", "password", "token"];
/// Environment variable name parts that mark a secret.
const SECRET_ENV: [&str; 3] = ["KEY", "SECRET", "TOKEN"];
/// Output that is not the gateway's own (coverage runtime warnings).
const FOREIGN_PREFIXES: [&str; 1] = ["LLVM Profile"];

/// What the gateway must never print.
#[derive(Debug, Default)]
pub struct Forbidden {
    secrets: Vec<String>,
}

impl Forbidden {
    /// The secrets in the config file at `config` (values of secret-named keys, and the contents
    /// of `file:` secrets) and in the secret-named variables of `env`.
    pub fn of(config: &Path, env: &[(&str, String)]) -> Self {
        let mut secrets = Vec::new();
        if let Some(yaml) = std::fs::read_to_string(config)
            .ok()
            .and_then(|text| serde_yaml::from_str::<serde_yaml::Value>(&text).ok())
        {
            collect(&yaml, false, &mut secrets);
        }
        for (name, value) in env {
            if SECRET_ENV.iter().any(|part| name.contains(part)) {
                secrets.push(value.clone());
            }
        }
        secrets.retain(|s| s.len() >= MIN_SECRET_LEN);
        Self { secrets }
    }

    /// Panics with every offending line of `lines`.
    pub fn check(&self, lines: &[String]) {
        let offences: Vec<String> = lines
            .iter()
            .filter(|line| !FOREIGN_PREFIXES.iter().any(|p| line.starts_with(p)))
            .filter_map(|line| self.offence(line).map(|why| format!("{why}: {line}")))
            .collect();
        assert!(
            offences.is_empty(),
            "log hygiene violated:\n{}",
            offences.join("\n")
        );
    }

    fn offence(&self, line: &str) -> Option<&'static str> {
        if serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(line).is_err() {
            return Some("not a JSON object");
        }
        if self.secrets.iter().any(|s| line.contains(s.as_str())) {
            return Some("configured secret");
        }
        if has_sk_key(line) {
            return Some("API key");
        }
        has_email(line).then_some("e-mail address")
    }
}

/// Secret-named string values anywhere in `value`; `file:` ones are read.
fn collect(value: &serde_yaml::Value, secret: bool, out: &mut Vec<String>) {
    match value {
        serde_yaml::Value::String(s) if secret => match s.strip_prefix("file:") {
            Some(path) => out.extend(std::fs::read_to_string(path).map(|s| s.trim().to_owned())),
            None if !s.starts_with("${") => out.push(s.clone()),
            None => {}
        },
        serde_yaml::Value::Sequence(items) => items.iter().for_each(|i| collect(i, secret, out)),
        serde_yaml::Value::Mapping(map) => {
            for (key, item) in map {
                let named = key.as_str().is_some_and(|k| SECRET_KEYS.contains(&k));
                collect(item, named, out);
            }
        }
        _ => {}
    }
}

fn has_sk_key(line: &str) -> bool {
    line.match_indices("sk-").any(|(at, _)| {
        let body = &line[at + 3..];
        let run = body
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
            .count();
        run >= MIN_SK_KEY_BODY
    })
}

/// Whether `line` holds `local@domain.tld` (a simple, conservative shape).
fn has_email(line: &str) -> bool {
    let bytes = line.as_bytes();
    bytes.iter().enumerate().any(|(at, &b)| {
        if b != b'@' {
            return false;
        }
        let local = bytes[..at]
            .iter()
            .rev()
            .take_while(|c| c.is_ascii_alphanumeric() || b"._%+-".contains(c))
            .count();
        let domain: Vec<u8> = bytes[at + 1..]
            .iter()
            .copied()
            .take_while(|c| c.is_ascii_alphanumeric() || b".-".contains(c))
            .collect();
        let tld = domain.rsplit(|&c| c == b'.').next().unwrap_or_default();
        local > 0
            && domain.contains(&b'.')
            && tld.len() >= 2
            && tld.iter().all(u8::is_ascii_alphabetic)
    })
}

#[test]
fn hygiene_finds_what_it_must() {
    let forbidden = Forbidden {
        secrets: vec!["configured-secret".to_owned()],
    };
    let cases = [
        (r#"{"msg":"ok","caller":"key:app"}"#, None),
        ("plain text", Some("not a JSON object")),
        (r#"{"k":"configured-secret"}"#, Some("configured secret")),
        (
            r#"{"k":"Bearer sk-proj-abcdefghijklmnopqrstuv"}"#,
            Some("API key"),
        ),
        (r#"{"k":"sk-short"}"#, None),
        (r#"{"u":"jane.doe@example.com"}"#, Some("e-mail address")),
        (r#"{"u":"[email]","v":"pkg@1.2.3"}"#, None),
    ];
    for (line, want) in cases {
        assert_eq!(forbidden.offence(line), want, "{line}");
    }
}
