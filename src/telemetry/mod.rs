//! Telemetry: structured logging, Prometheus metrics, request ids, and the per-request record
//! that turns each finished request into one access log line and its metrics.

pub mod access;
pub mod ids;
pub mod logging;
pub mod metrics;
