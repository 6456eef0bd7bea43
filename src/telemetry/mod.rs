//! Telemetry: structured logging (every line redacted), Prometheus metrics, request ids,
//! OpenTelemetry traces with the GenAI conventions, and the per-request record that turns each
//! finished request into its access log line, usage record, metrics and spans.

pub mod access;
#[cfg(test)]
mod captured;
pub mod content;
pub mod genai;
pub mod handles;
pub mod ids;
pub mod json_log;
pub mod logging;
pub mod logsink;
pub mod metrics;
pub mod otel;
pub mod redact;
pub mod span_fields;
pub mod usage;
