//! The config file's shape: raw serde structs with `deny_unknown_fields` and defaults. Values are
//! checked for consistency in `validate`; nothing here does I/O beyond secret files.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use super::access::{
    KeyConfig, OnError, PriceConfig, Pricing, StoreConfig, TeamConfig, UnixPeerConfig,
};
use super::expand::{self, Secret};
pub use super::providers::{
    BedrockSettings, MockConfig, Options, ProviderKind, ProviderSettings, process_env,
};
pub use super::responses::ResponsesConfig;
pub use super::routing::{
    AliasConfig, BreakerConfig, DeploymentApi, DeploymentConfig, HealthCheckConfig, LimitsConfig,
    ModelConfig, RetryBackoff, RoutingConfig, Strategy,
};
pub use super::store::{StoreMode, StoreTls};
pub use super::telemetry::TelemetryConfig;
use super::units;

/// Default bound on reading one request (headers and body).
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Default bound on one blocked write to a slow client.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default time to keep accepting after SIGTERM while Kubernetes removes the endpoint.
pub const DEFAULT_DRAIN_DELAY: Duration = Duration::from_secs(5);
/// Default time in-flight requests get to finish after accepting stops.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(60);
/// Default time a connection may stay open with no request in flight. Longer than the
/// keep-alive of common clients (httpx 5 s, undici 4 s), so the client closes first and never
/// sends a request on a connection the gateway is closing.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default request body limit.
pub const DEFAULT_MAX_REQUEST_BYTES: u64 = 10 << 20;
/// Default mode of the socket file: owner and group may connect.
pub const DEFAULT_UNIX_MODE: u32 = 0o660;
/// Default whole-request timeout towards an upstream (long generations are slow).
pub const DEFAULT_PROVIDER_TIMEOUT: Duration = Duration::from_secs(600);
/// Default TCP/TLS connect timeout towards an upstream.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default quiet time after the last config file event before reloading.
pub const DEFAULT_RELOAD_DEBOUNCE: Duration = Duration::from_millis(200);
/// Default longest silence between stream chunks.
pub const DEFAULT_STREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Default bulkhead size per provider.
pub const DEFAULT_MAX_CONCURRENCY: usize = 1000;
/// Default longest wait for a bulkhead slot.
pub const DEFAULT_QUEUE_TIMEOUT: Duration = Duration::from_secs(1);
/// Whether logs mask e-mail addresses, phone numbers and card numbers unless told otherwise.
pub const DEFAULT_REDACT_PII: bool = true;
/// TCP address used when the config names no listener at all.
pub const DEFAULT_TCP_LISTEN: &str = "127.0.0.1:8080";

/// The whole config file.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Listeners, timeouts and limits of the serving side.
    #[serde(default)]
    pub server: ServerConfig,
    /// Upstream LLM providers.
    #[serde(default)]
    pub providers: Vec<ProviderConfig>,
    /// Client-facing model names and the deployments that serve them.
    #[serde(default)]
    pub models: Vec<ModelConfig>,
    /// Routing policy (default provider, fallbacks, retries).
    #[serde(default)]
    pub routing: RoutingConfig,
    /// The seed's global request rate limit.
    #[serde(default)]
    pub rate_limit: RateLimitConfig,
    /// Log level and format.
    #[serde(default)]
    pub logging: LoggingConfig,
    /// Gateway-level credentials.
    #[serde(default)]
    pub auth: AuthConfig,
    /// How config changes are picked up.
    #[serde(default)]
    pub reload: ReloadConfig,
    /// Gateway-wide admission limits.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// Virtual keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<KeyConfig>,
    /// Teams and their shared limits.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub teams: Vec<TeamConfig>,
    /// Price overrides, USD per million tokens, by model name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pricing: Pricing,
    /// Where limits, spend and usage live.
    #[serde(default)]
    pub store: StoreConfig,
    /// OpenTelemetry trace export.
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    /// Responses API responses the gateway stores (`previous_response_id`, `GET`).
    #[serde(default)]
    pub responses: ResponsesConfig,
}

/// `auth:` — gateway-level credentials.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// May call everything, including `/admin/*` (which does not exist without it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_key: Option<Secret>,
    /// Processes on the Unix socket authenticated by their uid/gid (never over TCP).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unix_peers: Vec<UnixPeerConfig>,
    /// With no keys, master key or peers: serve anonymous callers from outside the pod too
    /// (without it they are served only on the Unix socket and loopback). Also what lets a
    /// reload remove every credential.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_anonymous: bool,
}

impl AuthConfig {
    /// Whether any credential is configured besides virtual keys (which live in `keys:`).
    pub fn has_credentials(&self) -> bool {
        self.master_key.is_some() || !self.unix_peers.is_empty()
    }
}

/// `reload:` — live config reload.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReloadConfig {
    /// Watch the config file's directory (and those of `file:` secrets); SIGHUP works either way.
    #[serde(default = "d_true")]
    pub watch: bool,
    /// Quiet time after the last file event before reloading (a ConfigMap swap is several events).
    #[serde(default = "d_debounce", with = "units::duration")]
    pub debounce: Duration,
}

impl Default for ReloadConfig {
    fn default() -> Self {
        Self {
            watch: true,
            debounce: DEFAULT_RELOAD_DEBOUNCE,
        }
    }
}

/// `server:` — how the gateway listens and bounds client I/O.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// The seed's shorthand for `listen.tcp: "0.0.0.0:PORT"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// API listeners.
    #[serde(default)]
    pub listen: ListenConfig,
    /// `host:port` of the probes + metrics (+ admin) listener.
    #[serde(default, deserialize_with = "expand::opt_string")]
    pub admin: Option<String>,
    /// Bound on reading one request (headers and body).
    #[serde(default = "d_read_timeout", with = "units::duration")]
    pub read_timeout: Duration,
    /// Bound on one blocked write to a slow client, never a whole stream.
    #[serde(default = "d_write_timeout", with = "units::duration")]
    pub write_timeout: Duration,
    /// Time to keep accepting after SIGTERM.
    #[serde(default = "d_drain_delay", with = "units::duration")]
    pub drain_delay: Duration,
    /// Time in-flight requests get to finish once accepting stopped.
    #[serde(default = "d_drain_timeout", with = "units::duration")]
    pub drain_timeout: Duration,
    /// Largest accepted request body.
    #[serde(default = "d_max_request_bytes", with = "units::bytes")]
    pub max_request_bytes: u64,
    /// How long a connection may stay open with no request in flight.
    #[serde(default = "d_idle_timeout", with = "units::duration")]
    pub idle_timeout: Duration,
    /// Most API connections open at once; more are closed as they arrive (default: 1024, or
    /// less when the process's open-file limit would not hold them and their upstreams).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<usize>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            port: None,
            listen: ListenConfig::default(),
            admin: None,
            read_timeout: DEFAULT_READ_TIMEOUT,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            drain_delay: DEFAULT_DRAIN_DELAY,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: None,
        }
    }
}

/// `server.listen:` — the API's TCP and Unix-socket listeners (either may be omitted).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ListenConfig {
    /// `host:port` of the TCP listener.
    #[serde(default, deserialize_with = "expand::opt_string")]
    pub tcp: Option<String>,
    /// Path of the Unix domain socket.
    #[serde(default, deserialize_with = "expand::opt_string")]
    pub unix: Option<String>,
    /// File mode of the socket (octal, e.g. `"0660"`).
    #[serde(default, with = "unix_mode")]
    pub unix_mode: Option<u32>,
}

/// `providers[]` — one upstream endpoint and its credentials. The keys every type shares are
/// fields here; the keys only one type takes are read by that type (`config::providers`) during
/// validation, which also refuses unknown keys (serde's `deny_unknown_fields` cannot be combined
/// with the flattened rest).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct ProviderConfig {
    /// Unique name, referenced by `models[].deployments[].provider`.
    pub name: String,
    /// Wire format; when absent it is inferred (see [`ProviderConfig::kind`]).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<ProviderKind>,
    /// Upstream credential (`${VAR}` or `file:/path`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<Secret>,
    /// Upstream base URL (OpenAI-style types include `/v1`).
    #[serde(default, deserialize_with = "expand::opt_string")]
    pub base_url: Option<String>,
    /// Reach the upstream over this Unix socket instead of TCP.
    #[serde(default, deserialize_with = "expand::opt_string")]
    pub unix_socket: Option<String>,
    /// Model names served 1:1 by this provider.
    #[serde(default)]
    pub models: Vec<String>,
    /// Whole-request timeout towards this upstream.
    #[serde(default = "d_provider_timeout", with = "units::duration")]
    pub timeout: Duration,
    /// Connect (TCP + TLS) timeout towards this upstream.
    #[serde(default = "d_connect_timeout", with = "units::duration")]
    pub connect_timeout: Duration,
    /// Longest silence between two stream chunks before the stream is ended with an error.
    #[serde(default = "d_stream_idle_timeout", with = "units::duration")]
    pub stream_idle_timeout: Duration,
    /// Bulkhead: requests in flight to this provider at most.
    #[serde(default = "d_max_concurrency")]
    pub max_concurrency: usize,
    /// How long a request may wait for a bulkhead slot before it is rejected.
    #[serde(default = "d_queue_timeout", with = "units::duration")]
    pub queue_timeout: Duration,
    /// Active health check of the upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheckConfig>,
    /// Headers added to every upstream request (values may use `${VAR}`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra_headers: BTreeMap<String, HeaderValueText>,
    /// Private CA and client certificate (mTLS) for this upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
    /// The keys the fields above did not take, as written: the type's own settings (and any
    /// unknown key), read during validation.
    #[serde(flatten, skip_serializing)]
    pub options: Options,
    /// The type's own settings, read from `options` during validation.
    #[serde(flatten, skip_deserializing)]
    pub settings: ProviderSettings,
}

impl ProviderConfig {
    /// The type: `type` when given, else recognised from the name or `base_url` (see
    /// [`ProviderKind::recognise`]). This keeps the seed's config, which names providers but
    /// gives no types, right.
    pub fn kind(&self) -> ProviderKind {
        self.kind
            .unwrap_or_else(|| ProviderKind::recognise(&self.name, self.base_url.as_deref()))
    }
}

/// A header value from config: `${VAR}` expanded, never printed (it may carry a credential).
pub type HeaderValueText = Secret;

/// `providers[].tls` — trust and client identity for an upstream.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM bundle of CAs to trust instead of the built-in web roots.
    #[serde(
        default,
        deserialize_with = "expand::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub ca_file: Option<String>,
    /// PEM client certificate chain (mTLS).
    #[serde(
        default,
        deserialize_with = "expand::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub client_cert_file: Option<String>,
    /// PEM private key of the client certificate.
    #[serde(
        default,
        deserialize_with = "expand::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub client_key_file: Option<String>,
}

/// `rate_limit:` — the seed's global request rate limit.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Whether the limit applies.
    #[serde(default)]
    pub enabled: bool,
    /// Requests per minute across all clients of this replica.
    #[serde(default)]
    pub requests_per_minute: u32,
}

/// Log line formats.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line.
    #[default]
    Json,
    /// Human-readable text.
    Text,
}

/// `logging:` — level, format and what may appear in log lines.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LoggingConfig {
    /// `error`, `warn`, `info`, `debug`, `trace`, or a `RUST_LOG`-style filter.
    #[serde(default = "d_log_level")]
    pub level: String,
    /// Line format.
    #[serde(default)]
    pub format: LogFormat,
    /// Also append every usage record to this file as a JSON line (applies at start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_file: Option<PathBuf>,
    /// Mask e-mail addresses, phone numbers and payment card numbers in every log line
    /// (credentials and configured secrets are always masked).
    #[serde(default = "d_redact_pii")]
    pub redact_pii: bool,
    /// Log prompt and completion text (redacted like everything else); off by default.
    #[serde(default)]
    pub log_content: bool,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self {
            level: d_log_level(),
            format: LogFormat::Json,
            usage_file: None,
            redact_pii: DEFAULT_REDACT_PII,
            log_content: false,
        }
    }
}

fn d_read_timeout() -> Duration {
    DEFAULT_READ_TIMEOUT
}
fn d_idle_timeout() -> Duration {
    DEFAULT_IDLE_TIMEOUT
}
fn d_write_timeout() -> Duration {
    DEFAULT_WRITE_TIMEOUT
}
fn d_drain_delay() -> Duration {
    DEFAULT_DRAIN_DELAY
}
fn d_drain_timeout() -> Duration {
    DEFAULT_DRAIN_TIMEOUT
}
fn d_max_request_bytes() -> u64 {
    DEFAULT_MAX_REQUEST_BYTES
}
fn d_provider_timeout() -> Duration {
    DEFAULT_PROVIDER_TIMEOUT
}
fn d_connect_timeout() -> Duration {
    DEFAULT_CONNECT_TIMEOUT
}
fn d_stream_idle_timeout() -> Duration {
    DEFAULT_STREAM_IDLE_TIMEOUT
}
fn d_max_concurrency() -> usize {
    DEFAULT_MAX_CONCURRENCY
}
pub(crate) fn d_queue_timeout() -> Duration {
    DEFAULT_QUEUE_TIMEOUT
}
pub(crate) fn d_true() -> bool {
    true
}
fn d_debounce() -> Duration {
    DEFAULT_RELOAD_DEBOUNCE
}
fn d_redact_pii() -> bool {
    DEFAULT_REDACT_PII
}
fn d_log_level() -> String {
    "info".to_owned()
}

/// Serde helpers for the socket file mode: `"0660"` (octal text) or an unquoted `0660`, which
/// YAML reads as the decimal number 660 and we read back as the octal digits the user meant.
mod unix_mode {
    use super::*;
    use crate::units::{Scalar, deserialize_scalar};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
        deserialize_scalar(d, "octal permissions like \"0660\"", |s| {
            let digits = match s {
                Scalar::Int(n) => n.to_string(),
                Scalar::Text(t) => t.trim_start_matches("0o").to_owned(),
            };
            match u32::from_str_radix(&digits, 8) {
                Ok(mode) if mode <= 0o777 => Ok(Some(mode)),
                _ => Err(format!(
                    "invalid unix_mode `{digits}`: expected octal permissions like \"0660\""
                )),
            }
        })
    }

    pub fn serialize<S: Serializer>(mode: &Option<u32>, s: S) -> Result<S::Ok, S::Error> {
        match mode {
            Some(mode) => s.serialize_str(&format!("{mode:04o}")),
            None => s.serialize_none(),
        }
    }
}
