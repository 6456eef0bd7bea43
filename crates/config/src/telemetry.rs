//! `telemetry:` — OpenTelemetry trace export. The standard `OTEL_*` environment variables are
//! honoured too and win over these keys, so a cluster-wide injection (the OpenTelemetry Operator,
//! a platform default) reaches every sidecar without editing each ConfigMap.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::expand::{self, Secret};
use super::units;

/// Default bound on one export request to the collector.
pub const DEFAULT_EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// `telemetry:` — where traces go and how many.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// OTLP/HTTP base URL of the collector (`http://otel-collector:4318`; `/v1/traces` is
    /// appended). Without it (and without `OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT`) nothing is
    /// exported; trace context is still propagated and logged.
    #[serde(
        default,
        deserialize_with = "expand::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub otlp_endpoint: Option<String>,
    /// `service.name` (`OTEL_SERVICE_NAME` wins).
    #[serde(default = "d_service_name")]
    pub service_name: String,
    /// Share of new traces sampled, 0–1; a client's sampled flag is followed
    /// (`OTEL_TRACES_SAMPLER` wins).
    #[serde(default = "d_ratio")]
    pub sample_ratio: f64,
    /// Extra headers on export requests (e.g. a collector token; values are secrets).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, Secret>,
    /// Longest one export request may take.
    #[serde(default = "d_export_timeout", with = "units::duration")]
    pub export_timeout: Duration,
}

fn d_service_name() -> String {
    env!("CARGO_PKG_NAME").to_owned()
}

fn d_ratio() -> f64 {
    1.0
}

fn d_export_timeout() -> Duration {
    DEFAULT_EXPORT_TIMEOUT
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            service_name: d_service_name(),
            sample_ratio: d_ratio(),
            headers: BTreeMap::new(),
            export_timeout: d_export_timeout(),
        }
    }
}

/// Checks the section.
pub fn validate(config: &TelemetryConfig) -> Result<(), super::ConfigError> {
    let at = super::FieldPath::root("telemetry");
    if !(0.0..=1.0).contains(&config.sample_ratio) {
        return Err(super::ConfigError::at(
            &at.key("sample_ratio"),
            "must be between 0 and 1",
        ));
    }
    if let Some(endpoint) = &config.otlp_endpoint
        && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
    {
        return Err(super::ConfigError::at(
            &at.key("otlp_endpoint"),
            "must be an http:// or https:// URL",
        ));
    }
    Ok(())
}
