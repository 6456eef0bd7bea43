//! Prometheus metrics: names (DESIGN.md §6), histogram buckets, and the recorder install. Labels
//! are bounded: configured model names or `other`, configured provider names or `none`.

use std::sync::{LazyLock, OnceLock};
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use super::handles::Handles;

use crate::types::Usage;

/// Requests by outcome: `{model,provider,team,status}`.
pub const REQUESTS_TOTAL: &str = "llm_requests_total";
/// Whole-request latency: `{model,provider,stream}`.
pub const REQUEST_LATENCY: &str = "llm_request_latency_seconds";
/// Time to the first streamed chunk: `{model,provider}`.
pub const TTFT: &str = "llm_time_to_first_token_seconds";
/// Tokens: `{team,model,provider,type}`.
pub const TOKEN_USAGE: &str = "llm_token_usage_total";
/// Upstream failures: `{provider,error_type}`.
pub const UPSTREAM_ERRORS: &str = "llm_upstream_error_total";
/// Requests in flight: `{provider}`.
pub const INFLIGHT: &str = "llm_inflight_requests";
/// Lifecycle phase (0 starting, 1 ready, 2 draining, 3 stopped).
pub const LIFECYCLE_PHASE: &str = "llm_lifecycle_phase";
/// Rejections by the global rate limit: `{team,limit}`.
pub const RATELIMIT_REJECTIONS: &str = "llm_ratelimit_rejections_total";

/// Spend in US dollars: `{team,model,key}` (`key`: the key's or Unix peer's configured name).
/// A gauge that only grows (the metrics crate counts integers; spend is fractional).
pub const COST_USD: &str = "llm_cost_usd_total";
/// Circuit breaker state: `{provider,model}` (0 closed, 1 half-open, 2 open).
pub const CIRCUIT_STATE: &str = "llm_circuit_state";
/// Requests refused by a full provider bulkhead: `{provider}`.
pub const BULKHEAD_REJECTIONS: &str = "llm_bulkhead_rejections_total";
/// Whether a provider's active health check passes: `{provider}` (1 healthy, 0 failing).
pub const PROVIDER_HEALTHY: &str = "llm_provider_healthy";
/// Failed calls to the shared store (Redis): `{operation="admit"|"charge"|"usage"|"peek"|"probe"}`.
pub const STORE_ERRORS: &str = "llm_store_errors_total";
/// Config reload attempts: `{result="ok"|"error"}`.
pub const CONFIG_RELOADS: &str = "llm_config_reloads_total";
/// When a config was last applied successfully (start included).
pub const CONFIG_LAST_SUCCESS: &str = "llm_config_last_reload_success_timestamp_seconds";
/// The generation number of the config in use.
pub const CONFIG_GENERATION: &str = "llm_config_generation";
/// 1 when the last reload applied (or found nothing to change), 0 when it was rejected and the
/// previous config keeps serving (like Prometheus's own `prometheus_config_last_reload_successful`).
pub const CONFIG_LAST_RELOAD_OK: &str = "llm_config_last_reload_successful";

/// A key's or team's spend budget per period: `{scope="key"|"team",name,team}` (set when
/// `/metrics` is scraped, see `api::gauges`).
pub const BUDGET_LIMIT: &str = "llm_budget_limit_usd";
/// What the key or team spent in its current budget period: `{scope,name,team}`.
pub const BUDGET_SPENT: &str = "llm_budget_spent_usd";
/// Tokens held by requests in flight against `limits.max_inflight_tokens`.
pub const INFLIGHT_TOKENS: &str = "llm_inflight_tokens";
/// The in-flight token budget (`limits.max_inflight_tokens`), when configured.
pub const INFLIGHT_TOKENS_LIMIT: &str = "llm_inflight_tokens_limit";
/// A provider's bulkhead size (`max_concurrency`): `{provider}`.
pub const BULKHEAD_CAPACITY: &str = "llm_bulkhead_capacity";

/// GenAI client token usage histogram: `{gen_ai_operation_name,gen_ai_provider_name,
/// gen_ai_request_model,gen_ai_token_type}`.
pub const GENAI_TOKEN_USAGE: &str = "gen_ai_client_token_usage";
/// GenAI client operation duration: `{gen_ai_operation_name,gen_ai_provider_name,
/// gen_ai_request_model,error_type}`.
pub const GENAI_DURATION: &str = "gen_ai_client_operation_duration_seconds";
/// GenAI time to the first chunk of a stream: `{gen_ai_operation_name,gen_ai_provider_name,
/// gen_ai_request_model}`.
pub const GENAI_TTFC: &str = "gen_ai_client_operation_time_to_first_chunk_seconds";

/// The GenAI conventions' recommended buckets for `gen_ai.client.token.usage` (powers of 4).
const GENAI_TOKEN_BUCKETS: [f64; 14] = [
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0,
    16777216.0, 67108864.0,
];
/// The GenAI conventions' recommended buckets for durations (`operation.duration`,
/// `time_to_first_chunk`): doubling from 10 ms.
const GENAI_SECONDS_BUCKETS: [f64; 14] = [
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];

/// Latency buckets: LLM calls span milliseconds (cache hits, embeddings) to minutes.
const LATENCY_BUCKETS: [f64; 16] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0,
];
/// Time-to-first-token buckets.
const TTFT_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0,
];
/// How often histogram samples are folded into buckets.
pub const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// The team label before authentication exists.
pub const NO_TEAM: &str = "none";
/// The provider label before routing.
pub const NO_PROVIDER: &str = "none";

/// The Prometheus text of `handle`, with the fractional counters typed as counters.
///
/// The `metrics` crate's counters count whole units, so fractional totals (dollars) are kept in
/// gauges that only ever increase; Prometheus must still see them as counters for `rate()` and
/// `increase()` to handle restarts.
pub fn render(handle: &PrometheusHandle) -> String {
    let text = handle.render();
    FRACTIONAL_COUNTERS.iter().fold(text, |text, name| {
        text.replacen(
            &format!("# TYPE {name} gauge"),
            &format!("# TYPE {name} counter"),
            1,
        )
    })
}

/// Monotonic totals with fractional increments, recorded as gauges (see [`render`]).
const FRACTIONAL_COUNTERS: [&str; 1] = [COST_USD];

/// The recorder, once [`install`] ran.
static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();

/// Installs the global Prometheus recorder once and returns its handle.
pub fn install() -> Result<PrometheusHandle, String> {
    HANDLE
        .get_or_init(|| {
            let buckets: [(&str, &[f64]); 5] = [
                (REQUEST_LATENCY, &LATENCY_BUCKETS),
                (TTFT, &TTFT_BUCKETS),
                (GENAI_TOKEN_USAGE, &GENAI_TOKEN_BUCKETS),
                (GENAI_DURATION, &GENAI_SECONDS_BUCKETS),
                (GENAI_TTFC, &GENAI_SECONDS_BUCKETS),
            ];
            let mut builder = PrometheusBuilder::new();
            for (name, bounds) in buckets {
                builder = builder
                    .set_buckets_for_metric(Matcher::Full(name.to_owned()), bounds)
                    .map_err(|e| e.to_string())?;
            }
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).map_err(|e| e.to_string())?;
            super::handles::start_recording();
            describe();
            Ok(handle)
        })
        .clone()
}

fn describe() {
    metrics::describe_counter!(
        REQUESTS_TOTAL,
        "Requests by model, provider, team and HTTP status."
    );
    metrics::describe_histogram!(
        REQUEST_LATENCY,
        metrics::Unit::Seconds,
        "Request latency, start to last byte."
    );
    metrics::describe_histogram!(
        TTFT,
        metrics::Unit::Seconds,
        "Time to the first streamed chunk."
    );
    metrics::describe_counter!(TOKEN_USAGE, "Tokens by team, model, provider and type.");
    metrics::describe_counter!(
        UPSTREAM_ERRORS,
        "Upstream failures by provider and error type."
    );
    metrics::describe_gauge!(INFLIGHT, "Requests in flight per provider.");
    metrics::describe_gauge!(
        LIFECYCLE_PHASE,
        "0 starting, 1 ready, 2 draining, 3 stopped."
    );
    metrics::describe_counter!(RATELIMIT_REJECTIONS, "Requests rejected by a rate limit.");
    metrics::describe_gauge!(
        CIRCUIT_STATE,
        "Circuit breaker state: 0 closed, 1 half-open, 2 open."
    );
    metrics::describe_counter!(
        BULKHEAD_REJECTIONS,
        "Requests refused because a provider's bulkhead was full."
    );
    metrics::describe_gauge!(
        PROVIDER_HEALTHY,
        "1 while the provider's active health check passes."
    );
    metrics::describe_counter!(
        STORE_ERRORS,
        "Failed or timed-out calls to the shared store (Redis), by operation."
    );
    metrics::describe_counter!(CONFIG_RELOADS, "Config reload attempts by result.");
    metrics::describe_counter!(
        crate::cloud::REFRESH_FAILURES,
        "Failed fetches of cloud credentials (STS, Pod Identity, Google and Entra ID token endpoints, metadata servers), by provider and source."
    );
    metrics::describe_gauge!(
        CONFIG_LAST_SUCCESS,
        metrics::Unit::Seconds,
        "Unix time the config was last applied."
    );
    metrics::describe_gauge!(CONFIG_GENERATION, "Generation number of the config in use.");
    metrics::describe_gauge!(
        CONFIG_LAST_RELOAD_OK,
        "1 when the last config reload applied, 0 when it was rejected (a stale config serves)."
    );
    metrics::describe_gauge!(
        BUDGET_LIMIT,
        "Spend budget per period of a key or team, in US dollars."
    );
    metrics::describe_gauge!(
        BUDGET_SPENT,
        "Spent by a key or team in its current budget period, in US dollars."
    );
    metrics::describe_gauge!(
        INFLIGHT_TOKENS,
        "Tokens held by requests in flight (limits.max_inflight_tokens)."
    );
    metrics::describe_gauge!(
        INFLIGHT_TOKENS_LIMIT,
        "The in-flight token budget (limits.max_inflight_tokens)."
    );
    metrics::describe_gauge!(
        BULKHEAD_CAPACITY,
        "Concurrent requests a provider's bulkhead admits (max_concurrency)."
    );
    metrics::describe_histogram!(
        GENAI_TOKEN_USAGE,
        "Tokens per operation (OpenTelemetry GenAI client metric)."
    );
    metrics::describe_histogram!(
        GENAI_DURATION,
        metrics::Unit::Seconds,
        "Operation duration (OpenTelemetry GenAI client metric)."
    );
    metrics::describe_histogram!(
        GENAI_TTFC,
        metrics::Unit::Seconds,
        "Time to the first chunk of a stream (OpenTelemetry GenAI client metric)."
    );
}

/// One finished operation in the GenAI client metrics' terms.
pub struct GenAiOperation<'a> {
    /// `gen_ai.operation.name`.
    pub operation: &'static str,
    /// `gen_ai.provider.name` (`none` when nothing was routed).
    pub provider: &'static str,
    /// Client-facing model label (bounded).
    pub model: &'a str,
    /// Start to last byte.
    pub duration: Duration,
    /// Time to the first chunk of a stream.
    pub first_chunk: Option<Duration>,
    /// `error.type`, when it failed.
    pub error_type: Option<&'static str>,
    /// Tokens, when known.
    pub usage: Option<&'a Usage>,
}

/// Records the GenAI client metrics of one operation.
pub fn record_genai(op: &GenAiOperation<'_>) {
    let (operation, provider, model) = (op.operation, op.provider, op.model);
    let labels = || {
        vec![
            ("gen_ai_operation_name", operation.to_owned()),
            ("gen_ai_provider_name", provider.to_owned()),
            ("gen_ai_request_model", model.to_owned()),
        ]
    };
    let error = op.error_type.unwrap_or_default();
    GENAI_DURATION_HANDLES
        .get(&[operation, provider, model, error], || {
            let mut with_error = labels();
            if let Some(error) = op.error_type {
                with_error.push(("error_type", error.to_owned()));
            }
            metrics::histogram!(GENAI_DURATION, &with_error)
        })
        .record(op.duration.as_secs_f64());
    if let Some(ttfc) = op.first_chunk {
        GENAI_TTFC_HANDLES
            .get(&[operation, provider, model], || {
                metrics::histogram!(GENAI_TTFC, &labels())
            })
            .record(ttfc.as_secs_f64());
    }
    if let Some(usage) = op.usage {
        for (kind, count) in [("input", usage.input), ("output", usage.output)] {
            GENAI_TOKEN_HANDLES
                .get(&[operation, provider, model, kind], || {
                    let mut typed = labels();
                    typed.push(("gen_ai_token_type", kind.to_owned()));
                    metrics::histogram!(GENAI_TOKEN_USAGE, &typed)
                })
                .record(count as f64);
        }
    }
}

/// Counts tokens of one finished request.
pub fn record_tokens(team: &str, model: &str, provider: &str, usage: &Usage) {
    let kinds = [
        ("input", usage.input),
        ("output", usage.output),
        ("cached", usage.cached),
        ("reasoning", usage.reasoning),
    ];
    for (kind, value) in kinds {
        if value > 0 {
            TOKEN_HANDLES
                .get(&[team, model, provider, kind], || {
                    metrics::counter!(TOKEN_USAGE, "team" => team.to_owned(), "model" => model.to_owned(),
                        "provider" => provider.to_owned(), "type" => kind)
                })
                .increment(value);
        }
    }
}

/// Counts one finished request under its HTTP status.
pub fn count_request(model: &str, provider: &str, team: &str, status: &str) {
    REQUEST_HANDLES
        .get(&[model, provider, team, status], || {
            metrics::counter!(REQUESTS_TOTAL, "model" => model.to_owned(), "provider" => provider.to_owned(),
                "team" => team.to_owned(), "status" => status.to_owned())
        })
        .increment(1);
}

/// The request latency histogram of a route.
pub fn request_latency(model: &str, provider: &str, stream: bool) -> Histogram {
    let stream = if stream { "true" } else { "false" };
    LATENCY_HANDLES.get(&[model, provider, stream], || {
        metrics::histogram!(REQUEST_LATENCY, "model" => model.to_owned(), "provider" => provider.to_owned(),
            "stream" => stream)
    })
}

/// The time-to-first-token histogram of a route.
pub fn time_to_first_token(model: &str, provider: &str) -> Histogram {
    TTFT_HANDLES.get(&[model, provider], || {
        metrics::histogram!(TTFT, "model" => model.to_owned(), "provider" => provider.to_owned())
    })
}

/// The in-flight gauge of a provider.
fn inflight(provider: &str) -> Gauge {
    INFLIGHT_HANDLES.get(
        &[provider],
        || metrics::gauge!(INFLIGHT, "provider" => provider.to_owned()),
    )
}

/// One request counted in its provider's `llm_inflight_requests` while it lives.
pub struct InflightGauge(Gauge);

impl InflightGauge {
    /// Counts one more request in flight to `provider`.
    pub fn enter(provider: &str) -> Self {
        let gauge = inflight(provider);
        gauge.increment(1.0);
        Self(gauge)
    }
}

impl Drop for InflightGauge {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// Handles of the series every request touches (see [`Handles`]).
static REQUEST_HANDLES: LazyLock<Handles<Counter>> = LazyLock::new(Handles::default);
static LATENCY_HANDLES: LazyLock<Handles<Histogram>> = LazyLock::new(Handles::default);
static TTFT_HANDLES: LazyLock<Handles<Histogram>> = LazyLock::new(Handles::default);
static INFLIGHT_HANDLES: LazyLock<Handles<Gauge>> = LazyLock::new(Handles::default);
static TOKEN_HANDLES: LazyLock<Handles<Counter>> = LazyLock::new(Handles::default);
static GENAI_DURATION_HANDLES: LazyLock<Handles<Histogram>> = LazyLock::new(Handles::default);
static GENAI_TTFC_HANDLES: LazyLock<Handles<Histogram>> = LazyLock::new(Handles::default);
static GENAI_TOKEN_HANDLES: LazyLock<Handles<Histogram>> = LazyLock::new(Handles::default);

/// Counts one failed upstream attempt (`error_type`: `429`, `5xx`, `timeout`, `connect`,
/// `circuit_open`, …).
pub fn count_upstream_error(provider: &str, error_type: &'static str) {
    metrics::counter!(UPSTREAM_ERRORS, "provider" => provider.to_owned(), "error_type" => error_type).increment(1);
}
