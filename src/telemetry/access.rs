//! What telemetry makes of one finished request: its metrics, the end of its spans, its one log
//! line (the usage record, also the access log) and, with `logging.log_content`, its
//! transcript. It reads a plain [`Summary`] the request module hands it and imports nothing
//! above telemetry.

use std::time::Duration;

use super::content::Transcript;
use super::genai::{self, AttemptSpan, ResponseFacts, ServerSpan, SpanEnd};
use super::metrics::{self as m, NO_PROVIDER};
use super::usage::UsageRecord;
use crate::config::schema::ProviderKind;
use crate::types::Usage;

/// `status` label of a status code that is not one (never expected: every status the gateway
/// sends is valid).
const INVALID_STATUS: &str = "invalid";

/// A finished request, as telemetry reports it.
#[derive(Debug)]
pub struct Summary<'a> {
    /// The id the client got in `x-request-id`.
    pub request_id: &'a str,
    /// Trace id, when there is one.
    pub trace_id: Option<&'a str>,
    /// The SERVER span's id.
    pub span_id: Option<&'a str>,
    /// HTTP method.
    pub method: &'a str,
    /// Request path.
    pub path: &'a str,
    /// `chat`, `embeddings`, `messages`, …
    pub endpoint: &'static str,
    /// `gen_ai.operation.name`.
    pub operation: &'static str,
    /// Model label (a configured name or `other`).
    pub model: &'a str,
    /// Provider label (a configured name or `none`).
    pub provider: &'a str,
    /// Type of the provider that answered.
    pub provider_kind: Option<ProviderKind>,
    /// Whether any upstream attempt was made.
    pub routed: bool,
    /// Whether the client asked for a stream.
    pub stream: bool,
    /// Who called (a key's, peer's name, `anonymous`, `master`).
    pub caller: &'a str,
    /// The caller's team label.
    pub team: &'a str,
    /// The end user the client named (`user`, `safety_identifier`).
    pub end_user: Option<&'a str>,
    /// `provider/model` of the deployment that answered.
    pub deployment: Option<&'a str>,
    /// Upstream attempts made.
    pub attempts: u32,
    /// HTTP status the client got.
    pub status: u16,
    /// Tokens used (reported, or estimated when `tokens_estimated`).
    pub usage: Option<Usage>,
    /// Whether `usage` is an estimate.
    pub tokens_estimated: bool,
    /// Cost charged, in US dollars.
    pub cost_usd: f64,
    /// Time from arrival to the end.
    pub elapsed: Duration,
    /// Time to the first streamed byte.
    pub ttft: Option<Duration>,
    /// `error.type` (a bounded label) when it failed.
    pub error_type: Option<&'static str>,
    /// The error's OpenAI `code`.
    pub error_code: Option<&'a str>,
    /// Whether a stream ended with an in-band error (after its first byte).
    pub failed_in_band: bool,
    /// `completed`, `failed`, `client_closed` or `drain_cut`.
    pub outcome: &'static str,
}

/// Reports a finished request: metrics, the attempt span that answered (with the response's
/// facts) and the server span, the transcript when one was kept, and the usage line.
pub fn record(
    summary: &Summary<'_>,
    span: &ServerSpan,
    attempt: Option<AttemptSpan>,
    response: &ResponseFacts,
    transcript: Option<&Transcript>,
) {
    record_metrics(summary);
    if let Some(attempt) = attempt {
        attempt.finish(summary.usage.as_ref(), response, summary.error_type);
    }
    span.end(&SpanEnd {
        status: summary.status,
        operation: summary.operation,
        model: summary.model,
        error_type: summary.error_type,
    });
    if let Some(transcript) = transcript {
        transcript.log(summary.request_id, summary.trace_id);
    }
    let usage = summary.usage.unwrap_or_default();
    // One line per request: the usage record is also the access log.
    UsageRecord {
        request_id: summary.request_id,
        trace_id: summary.trace_id,
        span_id: summary.span_id,
        method: summary.method,
        path: summary.path,
        endpoint: summary.endpoint,
        provider: summary.provider,
        stream: summary.stream,
        error_code: summary.error_code,
        key: summary.caller,
        team: summary.team,
        end_user: summary.end_user,
        model: summary.model,
        deployment: summary.deployment,
        attempts: summary.attempts,
        input_tokens: usage.input,
        cached_tokens: usage.cached,
        output_tokens: usage.output,
        tokens_estimated: summary.tokens_estimated,
        cost_usd: summary.cost_usd,
        latency_ms: summary.elapsed.as_secs_f64() * 1e3,
        ttft_ms: summary.ttft.map(|t| t.as_secs_f64() * 1e3),
        status: summary.status,
        outcome: summary.outcome,
    }
    .emit();
}

fn record_metrics(summary: &Summary<'_>) {
    let status = http::StatusCode::from_u16(summary.status).ok();
    let status = status
        .as_ref()
        .map_or(INVALID_STATUS, http::StatusCode::as_str);
    let (model, provider) = (summary.model, summary.provider);
    m::count_request(model, provider, summary.team, status);
    m::request_latency(model, provider, summary.stream).record(summary.elapsed.as_secs_f64());
    if let Some(ttft) = summary.ttft {
        m::time_to_first_token(model, provider).record(ttft.as_secs_f64());
    }
    if let Some(usage) = &summary.usage {
        m::record_tokens(summary.team, model, provider, usage);
    }
    if summary.failed_in_band {
        // Failures before the first byte were counted per attempt; this one came mid-stream.
        if let Some(error_type) = summary.error_type {
            m::count_upstream_error(provider, error_type);
        }
    }
    if summary.routed {
        m::record_genai(&m::GenAiOperation {
            operation: summary.operation,
            provider: summary
                .provider_kind
                .map_or(NO_PROVIDER, genai::provider_name),
            model,
            duration: summary.elapsed,
            first_chunk: summary.ttft,
            error_type: summary.error_type,
            usage: summary.usage.as_ref(),
        });
    }
}
