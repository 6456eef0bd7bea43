//! `store:` — where limits, spend and usage live: in memory, or in a standalone Redis or a Redis
//! Cluster, over TLS and with ACL credentials from `file:` secrets (managed Redis: ElastiCache,
//! Azure Cache, Memorystore). The shape and its consistency checks; connecting is
//! `limits::redis`'s.

use serde::{Deserialize, Serialize};

use super::expand::{self, Secret};
use super::{ConfigError, FieldPath};

/// URL schemes of a TCP Redis (plain and TLS).
const TCP_SCHEMES: [&str; 2] = ["redis", "rediss"];
/// URL schemes of a Redis on a Unix socket (standalone only: a cluster announces TCP addresses).
const UNIX_SCHEMES: [&str; 2] = ["redis+unix", "unix"];
/// The scheme that turns TLS on.
pub const TLS_SCHEME: &str = "rediss";

/// What to do when the shared store cannot be reached.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// Keep serving with this replica's local limits.
    #[default]
    Open,
    /// Refuse requests (503) until the store is back.
    Closed,
}

/// `store.mode` — how the Redis is deployed.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StoreMode {
    /// One Redis (or a primary with replicas behind one endpoint): `store.url`.
    #[default]
    Standalone,
    /// A Redis Cluster found from seed nodes (`store.url` and/or `store.nodes`): the client
    /// finds the master of the keys' one slot and follows it through failovers and resharding.
    Cluster,
}

/// `store.tls` — trust and client identity for `rediss://` (without it: the embedded public
/// roots, no client certificate).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct StoreTls {
    /// PEM bundle of the CAs to trust instead of the public roots (a private CA).
    #[serde(
        default,
        deserialize_with = "expand::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub ca_file: Option<String>,
    /// PEM client certificate chain, for servers that require mutual TLS.
    #[serde(
        default,
        deserialize_with = "expand::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub cert_file: Option<String>,
    /// PEM private key of `cert_file`.
    #[serde(
        default,
        deserialize_with = "expand::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub key_file: Option<String>,
}

/// `store:` — where limits, spend and usage live.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `redis://host:port/db` (`rediss://` for TLS) to share limits across replicas; in cluster
    /// mode, one seed node. Absent (and no `nodes`) keeps them in memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<Secret>,
    /// Standalone (default) or cluster.
    #[serde(default)]
    pub mode: StoreMode,
    /// Cluster mode: more seed nodes (`redis://host:port` or `rediss://…`), tried in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<Secret>,
    /// ACL user (`${VAR}` or `file:/path`); overrides one in the URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<Secret>,
    /// Password (`${VAR}` or `file:/path`, e.g. a mounted Kubernetes Secret); overrides one in
    /// the URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// TLS settings for `rediss://`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<StoreTls>,
    /// In-memory store: file that spend and usage are saved to, so a restart keeps budgets.
    #[serde(
        default,
        deserialize_with = "expand::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub snapshot_path: Option<String>,
    /// Behaviour while Redis is unreachable.
    #[serde(default)]
    pub on_error: OnError,
    /// Prefix of every Redis key.
    #[serde(default = "d_prefix")]
    pub prefix: String,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            url: None,
            mode: StoreMode::Standalone,
            nodes: Vec::new(),
            username: None,
            password: None,
            tls: None,
            snapshot_path: None,
            on_error: OnError::Open,
            prefix: d_prefix(),
        }
    }
}

impl StoreConfig {
    /// Whether limits live in Redis (a URL or seed nodes are set) rather than in memory.
    pub fn is_shared(&self) -> bool {
        self.url.is_some() || !self.nodes.is_empty()
    }

    /// The Redis endpoints to connect to: the URL, then the seed nodes.
    pub fn endpoints(&self) -> impl Iterator<Item = &Secret> {
        self.url.iter().chain(&self.nodes)
    }

    /// The store's secrets (endpoint URLs may hold a password, and the password), for the log
    /// redactor to mask by value. Not the username: it names an identity, and masking a name
    /// like `llm-sidecar` would mangle every log line that says it.
    pub fn secrets(&self) -> impl Iterator<Item = &Secret> {
        self.endpoints().chain(self.password.as_ref())
    }

    /// Every value that may come from a `file:` secret, for the secret-file watcher.
    pub fn secret_sources(&self) -> impl Iterator<Item = &Secret> {
        self.secrets().chain(self.username.as_ref())
    }
}

impl StoreConfig {
    /// The first connection setting that differs from `other`'s (`url`, `mode`, …): the store is
    /// connected once at start, so a reload cannot apply it.
    pub fn start_only_change(&self, other: &Self) -> Option<&'static str> {
        [
            ("url", self.url != other.url),
            ("mode", self.mode != other.mode),
            ("nodes", self.nodes != other.nodes),
            ("username", self.username != other.username),
            ("password", self.password != other.password),
            ("tls", self.tls != other.tls),
            ("prefix", self.prefix != other.prefix),
        ]
        .into_iter()
        .find_map(|(key, changed)| changed.then_some(key))
    }
}

fn d_prefix() -> String {
    "llm-sidecar".to_owned()
}

/// The scheme of a Redis URL (`redis`, `rediss`, …), if it has one.
pub fn scheme(url: &Secret) -> Option<&str> {
    url.expose().split_once("://").map(|(s, _)| s)
}

/// Checks the store section: URL schemes per mode, seed nodes, TLS files, the prefix.
pub fn validate(store: &StoreConfig) -> Result<(), ConfigError> {
    let at = FieldPath::root("store");
    let allowed: &[&str] = match store.mode {
        StoreMode::Standalone => &[
            TCP_SCHEMES[0],
            TCP_SCHEMES[1],
            UNIX_SCHEMES[0],
            UNIX_SCHEMES[1],
        ],
        StoreMode::Cluster => &TCP_SCHEMES,
    };
    let hint = match store.mode {
        StoreMode::Standalone => {
            "must be redis://host:port/db, rediss://… (TLS) or redis+unix:///path"
        }
        StoreMode::Cluster => "must be redis://host:port or rediss://host:port (TLS)",
    };
    if let Some(url) = &store.url
        && !scheme(url).is_some_and(|s| allowed.contains(&s))
    {
        return Err(ConfigError::at(&at.key("url"), hint));
    }
    for (i, node) in store.nodes.iter().enumerate() {
        if !scheme(node).is_some_and(|s| allowed.contains(&s)) {
            return Err(ConfigError::at(&at.key("nodes").index(i), hint));
        }
    }
    match store.mode {
        StoreMode::Standalone if !store.nodes.is_empty() => {
            return Err(ConfigError::at(
                &at.key("nodes"),
                "seed nodes need `mode: cluster` (a standalone Redis is `url`)",
            ));
        }
        StoreMode::Cluster => cluster(store, &at)?,
        StoreMode::Standalone => {}
    }
    tls(store, &at)?;
    if store.is_shared() && store.snapshot_path.is_some() {
        return Err(ConfigError::at(
            &at.key("snapshot_path"),
            "only applies to the in-memory store (no url)",
        ));
    }
    if store.prefix.trim().is_empty() {
        return Err(ConfigError::at(&at.key("prefix"), "must not be empty"));
    }
    Ok(())
}

/// Cluster mode: at least one seed, one scheme for all, and a prefix that can be a hash tag.
fn cluster(store: &StoreConfig, at: &FieldPath) -> Result<(), ConfigError> {
    let mut schemes = store.endpoints().filter_map(scheme);
    let Some(first) = schemes.next() else {
        return Err(ConfigError::at(
            &at.key("nodes"),
            "cluster mode needs at least one seed node (`url` or `nodes`)",
        ));
    };
    if schemes.any(|s| s != first) {
        return Err(ConfigError::at(
            &at.key("nodes"),
            "every seed node must use the same scheme (all redis:// or all rediss://)",
        ));
    }
    // The prefix becomes the hash tag `{prefix}` that keeps every key in one slot.
    if store.prefix.contains(['{', '}']) {
        return Err(ConfigError::at(
            &at.key("prefix"),
            "must not contain `{` or `}` in cluster mode (the prefix is the keys' hash tag)",
        ));
    }
    Ok(())
}

/// `tls:` applies only to `rediss://`; a client certificate needs its key and vice versa.
fn tls(store: &StoreConfig, at: &FieldPath) -> Result<(), ConfigError> {
    let Some(tls) = &store.tls else {
        return Ok(());
    };
    let at = at.key("tls");
    if !store.endpoints().any(|e| scheme(e) == Some(TLS_SCHEME)) {
        return Err(ConfigError::at(
            &at,
            "only applies to a TLS Redis (a rediss:// url)",
        ));
    }
    match (&tls.cert_file, &tls.key_file) {
        (Some(_), None) => Err(ConfigError::at(
            &at.key("key_file"),
            "a client certificate needs its key",
        )),
        (None, Some(_)) => Err(ConfigError::at(
            &at.key("cert_file"),
            "a client key needs its certificate",
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> StoreConfig {
        serde_yaml::from_str(yaml).unwrap()
    }

    fn error(yaml: &str) -> String {
        let error = validate(&parse(yaml)).unwrap_err();
        format!("{error}")
    }

    #[test]
    fn standalone_tls_and_acl_settings_parse() {
        let store = parse(
            "url: rediss://cache.example:6380/0\nusername: app\npassword: pw\ntls: {ca_file: /ca.pem}\n",
        );
        validate(&store).unwrap();
        assert!(store.is_shared());
        assert_eq!(store.mode, StoreMode::Standalone);
        assert_eq!(
            store.secrets().count(),
            2,
            "the url and the password, not the user"
        );
        assert_eq!(store.secret_sources().count(), 3);
        assert_eq!(store.tls.unwrap().ca_file.as_deref(), Some("/ca.pem"));
    }

    #[test]
    fn cluster_seeds_come_from_url_and_nodes() {
        let store = parse("mode: cluster\nnodes: [redis://a:7000, redis://b:7000]\n");
        validate(&store).unwrap();
        assert!(store.is_shared());
        assert_eq!(store.endpoints().count(), 2);
        validate(&parse("mode: cluster\nurl: rediss://config.example:6379\n")).unwrap();
    }

    #[test]
    fn inconsistent_store_settings_are_refused() {
        for (yaml, wanted) in [
            ("url: http://x\n", "rediss://"),
            ("nodes: [redis://a:1]\n", "mode: cluster"),
            ("mode: cluster\n", "at least one seed"),
            ("mode: cluster\nurl: redis+unix:///s\n", "redis://host:port"),
            (
                "mode: cluster\nnodes: [redis://a:1, rediss://b:1]\n",
                "same scheme",
            ),
            (
                "mode: cluster\nnodes: [redis://a:1]\nprefix: '{x}'\n",
                "hash tag",
            ),
            ("url: redis://a:1\ntls: {ca_file: /ca.pem}\n", "rediss://"),
            (
                "url: rediss://a:1\ntls: {cert_file: /c.pem}\n",
                "needs its key",
            ),
            (
                "url: rediss://a:1\ntls: {key_file: /k.pem}\n",
                "needs its certificate",
            ),
            ("url: redis://a:1\nsnapshot_path: /s\n", "in-memory"),
        ] {
            let message = error(yaml);
            assert!(message.contains(wanted), "{yaml}: {message}");
        }
    }

    #[test]
    fn connection_settings_are_start_only() {
        let base = parse("url: rediss://a:1\n");
        assert_eq!(base.start_only_change(&base.clone()), None);
        let tls = parse("url: rediss://a:1\ntls: {ca_file: /ca.pem}\n");
        assert_eq!(base.start_only_change(&tls), Some("tls"));
        let closed = parse("url: rediss://a:1\non_error: closed\n");
        assert_eq!(base.start_only_change(&closed), None);
    }

    #[test]
    fn secrets_never_serialize() {
        let store = parse("url: redis://:pw@a:1\npassword: pw2\n");
        let yaml = serde_yaml::to_string(&store).unwrap();
        assert!(!yaml.contains("pw"), "{yaml}");
    }
}
