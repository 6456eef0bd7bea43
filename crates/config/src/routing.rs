//! Routing and resilience config: model groups and their deployments, strategies, retries,
//! fallbacks, circuit breakers, health checks and the in-flight token budget.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::schema::{d_queue_timeout, d_true};
use super::units;

/// Default number of retries after the first attempt.
pub const DEFAULT_RETRY_COUNT: u32 = 2;
/// Default first retry delay.
pub const DEFAULT_RETRY_INITIAL: Duration = Duration::from_millis(100);
/// Default longest retry delay.
pub const DEFAULT_RETRY_MAX: Duration = Duration::from_secs(5);
/// Default deadline for all attempts of one request together.
pub const DEFAULT_ROUTING_TIMEOUT: Duration = Duration::from_secs(600);
/// Default consecutive failures that open a breaker.
pub const DEFAULT_FAILURE_THRESHOLD: u32 = 5;
/// Default failure ratio over the window that opens a breaker.
pub const DEFAULT_FAILURE_RATIO: f64 = 0.5;
/// Default window of the failure ratio.
pub const DEFAULT_BREAKER_WINDOW: Duration = Duration::from_secs(60);
/// Default requests in the window before the ratio counts.
pub const DEFAULT_MIN_REQUESTS: u32 = 20;
/// Default time a breaker stays open.
pub const DEFAULT_OPEN_FOR: Duration = Duration::from_secs(30);
/// Default health check period.
pub const DEFAULT_HEALTH_INTERVAL: Duration = Duration::from_secs(10);

/// `models[]` — a client-facing model name and where it is served.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// The name clients send in `model`.
    pub name: String,
    /// How a deployment is picked.
    #[serde(default)]
    pub strategy: Strategy,
    /// Upstream deployments serving this name.
    pub deployments: Vec<DeploymentConfig>,
    /// Other model names to try, in order, when this one fails.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fallbacks: Vec<String>,
    /// Model names with larger context windows to try on `context_length_exceeded`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub context_window_fallbacks: Vec<String>,
    /// Second names clients may use for this model (LiteLLM's `model_group_alias`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<AliasConfig>,
}

/// `models[].aliases[]`: a name (listed in `/v1/models`), or `{name, hidden: true}` for one that
/// routes but is not listed (an old name kept for clients that still send it).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum AliasConfig {
    /// A listed alias.
    Name(String),
    /// An alias with its listing switch.
    Full {
        /// The second name.
        name: String,
        /// Route it but leave it out of `/v1/models`.
        #[serde(default)]
        hidden: bool,
    },
}

impl AliasConfig {
    /// The second name.
    pub fn name(&self) -> &str {
        match self {
            Self::Name(name) | Self::Full { name, .. } => name,
        }
    }

    /// Whether `/v1/models` leaves it out.
    pub fn hidden(&self) -> bool {
        matches!(self, Self::Full { hidden: true, .. })
    }
}

/// Load-balancing strategies.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Each deployment in turn (weights ignored).
    #[default]
    RoundRobin,
    /// Smooth weighted round robin.
    Weighted,
    /// The deployment with the fewest requests in flight.
    LeastInflight,
    /// The faster of two random deployments by latency EWMA (power of two choices).
    LowestLatency,
}

/// `models[].deployments[]` — one provider + upstream model.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DeploymentConfig {
    /// Name of a configured provider.
    pub provider: String,
    /// Upstream model name (defaults to the served name).
    #[serde(default)]
    pub model: Option<String>,
    /// Relative share of traffic.
    #[serde(default = "d_weight")]
    pub weight: u32,
    /// Upstream request quota per minute; the router steers away near it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u32>,
    /// Upstream token quota per minute; the router steers away near it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpm: Option<u64>,
    /// Requests in flight to this deployment at most.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<usize>,
    /// Vertex AI only: who publishes the model (`google` or `anthropic`), when its name does not
    /// say (`claude-*` is Anthropic's, anything else Google's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publisher: Option<super::providers::Publisher>,
    /// The upstream API chat requests take to this deployment: `chat` (default) or
    /// `responses`, for models an OpenAI-style upstream serves only through the Responses API
    /// (chat clients are then translated chat → Responses → chat, streams included).
    #[serde(default, skip_serializing_if = "DeploymentApi::is_chat")]
    pub api: DeploymentApi,
}

/// `models[].deployments[].api` — which upstream API serves chat requests.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DeploymentApi {
    /// `/chat/completions` (or the provider's own translation of it).
    #[default]
    Chat,
    /// OpenAI's `/responses`.
    Responses,
}

impl DeploymentApi {
    /// Whether this is the default.
    pub fn is_chat(&self) -> bool {
        *self == Self::Chat
    }
}

/// `routing:` — routing policy.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RoutingConfig {
    /// Provider that serves model names configured nowhere, unchanged.
    #[serde(default)]
    pub default_provider: Option<String>,
    /// Whether `models[].fallbacks` are followed.
    #[serde(default = "d_true")]
    pub fallback_enabled: bool,
    /// Retries after the first attempt, per model (each fallback gets its own).
    #[serde(default = "d_retry_count")]
    pub retry_count: u32,
    /// Exponential backoff between retries (with jitter; `Retry-After` wins when longer).
    #[serde(default)]
    pub retry_backoff: RetryBackoff,
    /// Deadline for all attempts of one request together.
    #[serde(default = "d_routing_timeout", with = "units::duration")]
    pub timeout: Duration,
    /// Longest wait for the first chunk of a stream before failing over.
    #[serde(
        default,
        with = "units::opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub ttft_timeout: Option<Duration>,
    /// Circuit breaker per deployment.
    #[serde(default)]
    pub circuit_breaker: BreakerConfig,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        Self {
            default_provider: None,
            fallback_enabled: true,
            retry_count: DEFAULT_RETRY_COUNT,
            retry_backoff: RetryBackoff::default(),
            timeout: DEFAULT_ROUTING_TIMEOUT,
            ttft_timeout: None,
            circuit_breaker: BreakerConfig::default(),
        }
    }
}

/// `routing.retry_backoff`.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RetryBackoff {
    /// First delay.
    #[serde(default = "d_retry_initial", with = "units::duration")]
    pub initial: Duration,
    /// Longest delay.
    #[serde(default = "d_retry_max", with = "units::duration")]
    pub max: Duration,
}

impl Default for RetryBackoff {
    fn default() -> Self {
        Self {
            initial: DEFAULT_RETRY_INITIAL,
            max: DEFAULT_RETRY_MAX,
        }
    }
}

/// The shortest ratio window the breaker handles (failsafe counts whole seconds).
pub const MIN_BREAKER_WINDOW: Duration = Duration::from_secs(1);

/// `routing.circuit_breaker`.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BreakerConfig {
    /// Consecutive failures that open the breaker.
    #[serde(default = "d_failure_threshold")]
    pub failure_threshold: u32,
    /// Failure ratio over `window` that opens the breaker.
    #[serde(default = "d_failure_ratio")]
    pub failure_ratio: f64,
    /// Window of the ratio.
    #[serde(default = "d_breaker_window", with = "units::duration")]
    pub window: Duration,
    /// Requests in the window before the ratio counts.
    #[serde(default = "d_min_requests")]
    pub min_requests: u32,
    /// Time the breaker stays open before half-open probes.
    #[serde(default = "d_open_for", with = "units::duration")]
    pub open_for: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: DEFAULT_FAILURE_THRESHOLD,
            failure_ratio: DEFAULT_FAILURE_RATIO,
            window: DEFAULT_BREAKER_WINDOW,
            min_requests: DEFAULT_MIN_REQUESTS,
            open_for: DEFAULT_OPEN_FOR,
        }
    }
}

/// `providers[].health_check`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckConfig {
    /// Path under the provider's origin, e.g. `/health` (vLLM).
    pub path: String,
    /// Time between checks.
    #[serde(default = "d_health_interval", with = "units::duration")]
    pub interval: Duration,
}

/// `limits:` — gateway-wide admission limits.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Estimated tokens (prompt + `max_tokens`) in flight at most, across all requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_inflight_tokens: Option<u64>,
    /// How long a request may wait for room in the token budget.
    #[serde(default = "d_queue_timeout", with = "units::duration")]
    pub queue_timeout: Duration,
    /// Answer `count_tokens` with tiktoken's `o200k_base` counts, building the tokenizer on
    /// first need (about 40 MiB resident while it lives). `false` answers with the calibrated
    /// estimate and keeps that memory free.
    #[serde(default = "super::schema::d_true")]
    pub tokenizer: bool,
    /// How long the tokenizer lives without a count before it is released and its memory
    /// returned.
    #[serde(default = "d_tokenizer_idle", with = "units::duration")]
    pub tokenizer_idle: Duration,
}

/// Default of `limits.tokenizer_idle`: long enough that a client counting before each request
/// keeps it, short enough that a pod that counted once does not pay for it all day.
pub const DEFAULT_TOKENIZER_IDLE: Duration = Duration::from_secs(5 * 60);

fn d_tokenizer_idle() -> Duration {
    DEFAULT_TOKENIZER_IDLE
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_inflight_tokens: None,
            queue_timeout: d_queue_timeout(),
            tokenizer: true,
            tokenizer_idle: DEFAULT_TOKENIZER_IDLE,
        }
    }
}

fn d_weight() -> u32 {
    1
}
fn d_retry_count() -> u32 {
    DEFAULT_RETRY_COUNT
}
fn d_retry_initial() -> Duration {
    DEFAULT_RETRY_INITIAL
}
fn d_retry_max() -> Duration {
    DEFAULT_RETRY_MAX
}
fn d_routing_timeout() -> Duration {
    DEFAULT_ROUTING_TIMEOUT
}
fn d_failure_threshold() -> u32 {
    DEFAULT_FAILURE_THRESHOLD
}
fn d_failure_ratio() -> f64 {
    DEFAULT_FAILURE_RATIO
}
fn d_breaker_window() -> Duration {
    DEFAULT_BREAKER_WINDOW
}
fn d_min_requests() -> u32 {
    DEFAULT_MIN_REQUESTS
}
fn d_open_for() -> Duration {
    DEFAULT_OPEN_FOR
}
fn d_health_interval() -> Duration {
    DEFAULT_HEALTH_INTERVAL
}
