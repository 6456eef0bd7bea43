//! Who is calling: virtual keys (`Authorization: Bearer` or `x-api-key`, compared as SHA-256
//! digests in constant time), the master key, and kernel-verified Unix-socket peers
//! (SO_PEERCRED; never over TCP). Once any of keys, the master key or Unix peers is configured,
//! every call needs an identity. With none configured the API is open to callers inside the pod
//! (the Unix socket, loopback TCP), the pod being the trust boundary; callers from elsewhere are
//! served anonymously only when `auth.allow_anonymous: true` says so.

pub mod credentials;
pub mod glob;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderMap;
use sha2::{Digest, Sha256};

use crate::config::access::DEFAULT_BUDGET_PERIOD;
use crate::config::{Config, ConfigError, FieldPath};
use crate::error::GatewayError;
use crate::server::ConnInfo;

/// A SHA-256 digest.
pub type Digest32 = [u8; 32];

/// A spend budget.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BudgetSpec {
    /// US dollars per period.
    pub usd: f64,
    /// Period length.
    pub period: Duration,
}

/// Limits shared by a key or a team.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Limits {
    /// Requests per minute.
    pub rpm: Option<u64>,
    /// Tokens per minute.
    pub tpm: Option<u64>,
    /// Spend budget.
    pub budget: Option<BudgetSpec>,
}

/// A configured virtual key.
#[derive(Debug)]
pub struct KeyEntry {
    /// Its name (never the key).
    pub name: String,
    /// The team whose limits and budget it shares, if any.
    pub team: Option<String>,
    /// Model globs it may use (empty: every model).
    pub models: Vec<String>,
    /// Its own rate limits and budget (its team's apply too).
    pub limits: Limits,
    /// When it stops working (Unix seconds).
    pub expires_at: Option<u64>,
}

/// A configured team.
#[derive(Debug)]
pub struct TeamEntry {
    /// Team name.
    pub name: String,
    /// Its shared limits.
    pub limits: Limits,
}

#[derive(Debug)]
struct Peer {
    uid: u32,
    gid: Option<u32>,
    name: String,
    team: Option<String>,
}

/// Who a request comes from.
#[derive(Debug, Clone)]
pub enum Identity {
    /// Nobody in particular: the API is open.
    Anonymous,
    /// The master key: everything, no limits.
    Master,
    /// A virtual key.
    Key(Arc<KeyEntry>),
    /// A Unix-socket peer.
    Peer {
        /// Name for metrics and logs.
        name: String,
        /// The team whose limits it shares, if any.
        team: Option<String>,
    },
}

impl Identity {
    /// Name for logs and usage (`anonymous`, `master`, the key's or peer's name).
    pub fn name(&self) -> &str {
        match self {
            Self::Anonymous => "anonymous",
            Self::Master => "master",
            Self::Key(key) => &key.name,
            Self::Peer { name, .. } => name,
        }
    }

    /// The team, when the identity has one.
    pub fn team(&self) -> Option<&str> {
        match self {
            Self::Key(key) => key.team.as_deref(),
            Self::Peer { team, .. } => team.as_deref(),
            Self::Anonymous | Self::Master => None,
        }
    }

    /// Whether the identity may use `model` (the client-facing name).
    pub fn allows(&self, model: &str) -> bool {
        match self {
            Self::Key(key) => {
                key.models.is_empty() || key.models.iter().any(|p| glob::matches(p, model))
            }
            _ => true,
        }
    }

    /// The key entry, for a key identity.
    pub fn key(&self) -> Option<&KeyEntry> {
        match self {
            Self::Key(key) => Some(key),
            _ => None,
        }
    }
}

/// Keys, teams and peers of one config generation.
#[derive(Debug, Default)]
pub struct Access {
    keys: HashMap<Digest32, Arc<KeyEntry>>,
    teams: HashMap<String, Arc<TeamEntry>>,
    peers: Vec<Peer>,
    master: Option<Digest32>,
    /// `auth.allow_anonymous`: anonymous callers from outside the pod too.
    allow_anonymous: bool,
}

/// SHA-256 of a key's bytes.
pub fn digest(key: &str) -> Digest32 {
    Sha256::digest(key.as_bytes()).into()
}

/// Equality of digests in time independent of where they differ.
fn same(a: &Digest32, b: &Digest32) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn budget(usd: Option<f64>, period: Option<Duration>) -> Option<BudgetSpec> {
    usd.map(|usd| BudgetSpec {
        usd,
        period: period.unwrap_or(DEFAULT_BUDGET_PERIOD),
    })
}

fn hex_digest(hex: &str) -> Option<Digest32> {
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

impl Access {
    /// Hashes the configured keys (the plaintext is not kept).
    pub fn build(config: &Config) -> Result<Self, ConfigError> {
        let raw = &config.raw;
        let mut keys = HashMap::with_capacity(raw.keys.len());
        for (i, k) in raw.keys.iter().enumerate() {
            let at = FieldPath::root("keys").index(i);
            let hashed = match (&k.key, &k.key_sha256) {
                (Some(key), _) => digest(key.expose()),
                (None, Some(hex)) => hex_digest(hex)
                    .ok_or_else(|| config.error_at(&at.key("key_sha256"), "not hex"))?,
                (None, None) => {
                    return Err(config.error_at(&at, "give exactly one of `key` or `key_sha256`"));
                }
            };
            let entry = KeyEntry {
                name: k.name.clone(),
                team: k.team.clone(),
                models: k.models.clone(),
                limits: Limits {
                    rpm: k.rpm,
                    tpm: k.tpm,
                    budget: budget(k.budget_usd, k.budget_period),
                },
                expires_at: k
                    .expires_at
                    .as_deref()
                    .and_then(crate::clock::unix_from_rfc3339),
            };
            if keys.insert(hashed, Arc::new(entry)).is_some() {
                return Err(config.error_at(&at, "the same key is configured twice"));
            }
        }
        let teams = raw
            .teams
            .iter()
            .map(|t| {
                let limits = Limits {
                    rpm: t.rpm,
                    tpm: t.tpm,
                    budget: budget(t.budget_usd, t.budget_period),
                };
                (
                    t.name.clone(),
                    Arc::new(TeamEntry {
                        name: t.name.clone(),
                        limits,
                    }),
                )
            })
            .collect();
        let peers = raw
            .auth
            .unix_peers
            .iter()
            .map(|p| Peer {
                uid: p.uid,
                gid: p.gid,
                name: p.name.clone().unwrap_or_else(|| format!("uid-{}", p.uid)),
                team: p.team.clone(),
            })
            .collect();
        let master = raw.auth.master_key.as_ref().map(|m| digest(m.expose()));
        Ok(Self {
            keys,
            teams,
            peers,
            master,
            allow_anonymous: raw.auth.allow_anonymous,
        })
    }

    /// Whether a master key is configured.
    pub fn has_master(&self) -> bool {
        self.master.is_some()
    }

    /// Whether `headers` present the master key.
    pub fn is_master(&self, headers: &HeaderMap) -> bool {
        match (&self.master, credentials::presented_key(headers)) {
            (Some(master), Some(key)) => same(master, &digest(key)),
            _ => false,
        }
    }

    /// Whether calls may come without an identity: no keys, no master key and no Unix peers
    /// are configured (who may then call anonymously: [`Access::identify`]).
    pub fn is_open(&self) -> bool {
        self.keys.is_empty() && self.peers.is_empty() && self.master.is_none()
    }

    /// Whether an open API serves anonymous callers from outside the pod
    /// (`auth.allow_anonymous`).
    pub fn allows_remote_anonymous(&self) -> bool {
        self.allow_anonymous
    }

    /// Every configured key.
    pub fn keys(&self) -> impl Iterator<Item = &Arc<KeyEntry>> {
        self.keys.values()
    }

    /// Every configured Unix peer: (name, team).
    pub fn peers(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.peers
            .iter()
            .map(|p| (p.name.as_str(), p.team.as_deref()))
    }

    /// A team's entry.
    pub fn team(&self, name: &str) -> Option<&Arc<TeamEntry>> {
        self.teams.get(name)
    }

    /// Every configured team.
    pub fn teams(&self) -> impl Iterator<Item = &Arc<TeamEntry>> {
        self.teams.values()
    }

    /// Identifies a request from its headers and connection at `now` (Unix seconds). A known
    /// key wins; a Unix-socket peer is accepted even when its client sends a placeholder key
    /// (SDKs insist on one).
    pub fn identify(
        &self,
        headers: &HeaderMap,
        conn: Option<&ConnInfo>,
        now: u64,
    ) -> Result<Identity, GatewayError> {
        let presented = credentials::presented_key(headers);
        if let Some(key) = presented {
            let hashed = digest(key);
            if self.master.as_ref().is_some_and(|m| same(m, &hashed)) {
                return Ok(Identity::Master);
            }
            if let Some((stored, entry)) = self.keys.get_key_value(&hashed)
                && same(stored, &hashed)
            {
                if entry.expires_at.is_some_and(|at| now >= at) {
                    return Err(GatewayError::Unauthorized(
                        "This API key has expired.".to_owned(),
                    ));
                }
                return Ok(Identity::Key(Arc::clone(entry)));
            }
        }
        if let Some(peer) = self.peer(conn) {
            return Ok(peer);
        }
        if self.is_open() && !self.allow_anonymous && !within_pod(conn) {
            return Err(GatewayError::Unauthorized(
                "This gateway serves anonymous callers only on its Unix socket and loopback; configure keys, or set auth.allow_anonymous: true to open it to the network.".to_owned(),
            ));
        }
        match (self.is_open(), presented) {
            (true, _) => Ok(Identity::Anonymous),
            (false, Some(_)) => Err(GatewayError::Unauthorized(
                "Incorrect API key provided. You can find your keys with your gateway's operator.".to_owned(),
            )),
            (false, None) => Err(GatewayError::Unauthorized(
                "You didn't provide an API key. Send it as `Authorization: Bearer <key>` or `x-api-key`.".to_owned(),
            )),
        }
    }

    fn peer(&self, conn: Option<&ConnInfo>) -> Option<Identity> {
        let Some(ConnInfo::Unix { uid, gid }) = conn else {
            return None;
        };
        self.peers
            .iter()
            .find(|p| p.uid == *uid && p.gid.is_none_or(|g| g == *gid))
            .map(|p| Identity::Peer {
                name: p.name.clone(),
                team: p.team.clone(),
            })
    }
}

/// Whether a connection comes from inside the pod: the Unix socket or a loopback peer (an
/// in-process call, with no connection at all, too).
fn within_pod(conn: Option<&ConnInfo>) -> bool {
    match conn {
        None | Some(ConnInfo::Unix { .. }) => true,
        Some(ConnInfo::Tcp { peer }) => peer.ip().to_canonical().is_loopback(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const SHA_OF_HUNTER2: &str = "f52fbd32b2b3b86ff88ef6c490628285f482af15ddcb29541f94bcf526a3f6c7";

    fn access(extra: &str) -> Access {
        let text = format!(
            "providers:\n  - {{name: p, type: mock, models: [gpt-4o, gpt-4o-mini, claude-3]}}\nauth:\n  master_key: sk-master\n  unix_peers:\n    - {{uid: 1000, team: apps, name: web}}\n    - {{uid: 1001, gid: 50}}\nkeys:\n  - {{name: plain, key: sk-plain, team: a, models: ['gpt-4o*']}}\n  - {{name: hashed, key_sha256: {SHA_OF_HUNTER2}}}\n  - {{name: old, key: sk-old, expires_at: '2020-01-01T00:00:00Z'}}\n{extra}"
        );
        Access::build(&crate::config::parse(&text, None).unwrap()).unwrap()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn identifies_keys_master_and_peers() {
        let a = access("");
        let now = 1_800_000_000;
        let tcp = ConnInfo::Tcp {
            peer: "127.0.0.1:1".parse().unwrap(),
        };
        let cases: Vec<(HeaderMap, ConnInfo, Result<&str, u16>)> = vec![
            (
                headers(&[("authorization", "Bearer sk-plain")]),
                tcp,
                Ok("plain"),
            ),
            (headers(&[("x-api-key", "hunter2")]), tcp, Ok("hashed")),
            (
                headers(&[("authorization", "Bearer sk-master")]),
                tcp,
                Ok("master"),
            ),
            (
                headers(&[("authorization", "Bearer sk-old")]),
                tcp,
                Err(401),
            ),
            (
                headers(&[("authorization", "Bearer sk-wrong")]),
                tcp,
                Err(401),
            ),
            (headers(&[]), tcp, Err(401)),
            (
                headers(&[]),
                ConnInfo::Unix { uid: 1000, gid: 7 },
                Ok("web"),
            ),
            (
                headers(&[("authorization", "Bearer unused")]),
                ConnInfo::Unix { uid: 1000, gid: 7 },
                Ok("web"),
            ),
            (
                headers(&[]),
                ConnInfo::Unix { uid: 1001, gid: 50 },
                Ok("uid-1001"),
            ),
            (
                headers(&[]),
                ConnInfo::Unix { uid: 1001, gid: 51 },
                Err(401),
            ),
            (headers(&[]), ConnInfo::Unix { uid: 4242, gid: 0 }, Err(401)),
        ];
        for (h, conn, want) in cases {
            let got = a
                .identify(&h, Some(&conn), now)
                .map(|i| i.name().to_owned())
                .map_err(|e| e.status().as_u16());
            assert_eq!(got.as_deref().map_err(|s| *s), want, "{h:?} {conn:?}");
        }
    }

    #[test]
    fn model_globs_and_teams() {
        let a = access("");
        let id = a
            .identify(&headers(&[("authorization", "Bearer sk-plain")]), None, 0)
            .unwrap();
        assert!(id.allows("gpt-4o") && id.allows("gpt-4o-mini") && !id.allows("claude-3"));
        assert_eq!(id.team(), Some("a"));
        let peer = a
            .identify(
                &headers(&[]),
                Some(&ConnInfo::Unix { uid: 1000, gid: 1 }),
                0,
            )
            .unwrap();
        assert_eq!(peer.team(), Some("apps"));
        assert!(!a.is_open());
        let open = Access::build(
            &crate::config::parse("providers:\n  - {name: p, type: mock, models: [m]}\n", None)
                .unwrap(),
        )
        .unwrap();
        assert!(matches!(
            open.identify(&headers(&[("authorization", "Bearer x")]), None, 0),
            Ok(Identity::Anonymous)
        ));
    }

    #[test]
    fn open_access_is_a_decision() {
        let provider = "providers:\n  - {name: p, type: mock, models: [m]}\n";
        let unix = ConnInfo::Unix { uid: 7, gid: 7 };
        let loopback = ConnInfo::Tcp {
            peer: "127.0.0.1:1".parse().unwrap(),
        };
        let mapped = ConnInfo::Tcp {
            peer: "[::ffff:127.0.0.1]:1".parse().unwrap(),
        };
        let remote = ConnInfo::Tcp {
            peer: "10.1.2.3:1".parse().unwrap(),
        };
        let master_only = "auth: {master_key: sk-master}\n";
        let open_all = "auth: {allow_anonymous: true}\n";
        // (extra config, connection, anonymous call allowed)
        let cases = [
            ("", unix, true),
            ("", loopback, true),
            ("", mapped, true),
            ("", remote, false),
            (open_all, remote, true),
            (master_only, unix, false),
            (master_only, loopback, false),
            ("auth: {unix_peers: [{uid: 1}]}\n", loopback, false),
        ];
        for (extra, conn, allowed) in cases {
            let config = crate::config::parse(&format!("{provider}{extra}"), None).unwrap();
            let access = Access::build(&config).unwrap();
            let got = access.identify(&headers(&[]), Some(&conn), 0);
            assert_eq!(got.is_ok(), allowed, "{extra:?} {conn:?}");
            if let Err(e) = got {
                assert_eq!(e.status().as_u16(), 401);
            }
        }
        let master = Access::build(
            &crate::config::parse(&format!("{provider}{master_only}"), None).unwrap(),
        )
        .unwrap();
        assert!(!master.is_open(), "a master key closes the API");
        assert!(matches!(
            master.identify(
                &headers(&[("authorization", "Bearer sk-master")]),
                Some(&loopback),
                0
            ),
            Ok(Identity::Master)
        ));
    }
}
