//! OpenTelemetry plumbing: the tracer provider (OTLP/HTTP protobuf export in batches from the
//! SDK's own thread, so a dead collector never slows a request), W3C trace context in and out,
//! and the exporter's HTTP client. Spans are always given ids, even when nothing is exported, so
//! logs and usage records carry the client's trace id and upstreams receive `traceparent`;
//! without an endpoint the sampler drops everything and no attribute is ever built.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::AtomicBool;
use std::sync::{LazyLock, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;
use http_body_util::{BodyExt, Full, Limited};
use opentelemetry::Context;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TraceFlags, TracerProvider as _};
use opentelemetry_http::{HeaderExtractor, HttpClient, HttpError};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracer, SdkTracerProvider};

use super::ids::{hex, push_hex};
use crate::config::telemetry::TelemetryConfig;

/// Instrumentation scope of every span.
const SCOPE: &str = env!("CARGO_PKG_NAME");
/// The OTLP/HTTP path of traces under a collector's base URL.
const TRACES_PATH: &str = "/v1/traces";
/// Largest collector answer read (it is a small protobuf status).
const MAX_COLLECTOR_REPLY_BYTES: usize = 64 * 1024;
/// Environment variables that name an export endpoint; any of them enables export.
const ENDPOINT_VARS: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
];

static TRACER: OnceLock<SdkTracer> = OnceLock::new();
/// Set by [`init`] when spans go to an exporter.
static EXPORTING: AtomicBool = AtomicBool::new(false);
static PROPAGATOR: LazyLock<TraceContextPropagator> = LazyLock::new(TraceContextPropagator::new);

/// The installed tracer provider; shut it down after the drain to flush what is queued.
pub struct Tracing {
    provider: SdkTracerProvider,
    /// Where spans go, when anywhere (for the startup log).
    pub exporting_to: Option<String>,
}

fn env_set(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.trim().is_empty())
}

/// Whether the environment turns tracing off (`OTEL_SDK_DISABLED`, `OTEL_TRACES_EXPORTER=none`).
fn disabled_by_env() -> bool {
    std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.eq_ignore_ascii_case("true"))
        || std::env::var("OTEL_TRACES_EXPORTER").is_ok_and(|v| v.eq_ignore_ascii_case("none"))
}

/// The endpoint spans go to: the environment's, else the config's; `None` exports nothing.
fn export_target(config: &TelemetryConfig) -> Option<Target> {
    if disabled_by_env() {
        return None;
    }
    if let Some(var) = ENDPOINT_VARS.iter().find(|v| env_set(v)) {
        return Some(Target::Env(std::env::var(var).unwrap_or_default()));
    }
    config
        .otlp_endpoint
        .as_ref()
        .map(|base| Target::Config(format!("{}{TRACES_PATH}", base.trim_end_matches('/'))))
}

enum Target {
    /// The SDK reads the endpoint itself (signal-specific variable first).
    Env(String),
    /// The full traces URL from the config.
    Config(String),
}

/// Installs the tracer provider for `config` (and the `OTEL_*` environment). Call once, inside
/// the Tokio runtime (the exporter's client spawns its requests on it).
pub fn init(config: &TelemetryConfig) -> Result<Tracing, String> {
    let mut resource = Resource::builder();
    if !env_set("OTEL_SERVICE_NAME") {
        resource = resource.with_service_name(config.service_name.clone());
    }
    let mut builder = SdkTracerProvider::builder().with_resource(resource.build());
    let target = export_target(config);
    let exporting_to = match target {
        None => {
            // Ids are still generated (for logs and propagation); nothing is recorded.
            builder = builder.with_sampler(Sampler::AlwaysOff);
            None
        }
        Some(target) => {
            EXPORTING.store(true, std::sync::atomic::Ordering::Relaxed);
            if !env_set("OTEL_TRACES_SAMPLER") {
                builder = builder.with_sampler(Sampler::ParentBased(Box::new(
                    Sampler::TraceIdRatioBased(config.sample_ratio),
                )));
            }
            let (exporter, shown) = exporter(config, target)?;
            builder = builder.with_batch_exporter(exporter);
            Some(shown)
        }
    };
    let provider = builder.build();
    // A second init (tests in one process) keeps the first tracer.
    let _ = TRACER.set(provider.tracer(SCOPE));
    Ok(Tracing {
        provider,
        exporting_to,
    })
}

fn exporter(
    config: &TelemetryConfig,
    target: Target,
) -> Result<(opentelemetry_otlp::SpanExporter, String), String> {
    let headers = config
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), v.expose().to_owned()))
        .collect();
    let mut builder = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_http_client(OtlpClient::new(config.export_timeout)?)
        .with_timeout(config.export_timeout)
        .with_headers(headers);
    let shown = match target {
        Target::Env(endpoint) => endpoint,
        Target::Config(url) => {
            builder = builder.with_endpoint(url.clone());
            url
        }
    };
    builder
        .build()
        .map(|exporter| (exporter, shown))
        .map_err(|e| format!("cannot build the OTLP exporter: {e}"))
}

impl Tracing {
    /// Flushes queued spans and stops the exporter (blocking: call off the request workers).
    pub fn shutdown(self) {
        if let Err(e) = self.provider.shutdown() {
            tracing::warn!(error = %e, "could not flush traces at shutdown");
        }
    }
}

/// The tracer, once [`init`] ran.
pub fn tracer() -> Option<&'static SdkTracer> {
    TRACER.get()
}

/// The trace context a client sent (`traceparent`/`tracestate`), or an empty one.
pub fn extract(headers: &HeaderMap) -> Context {
    PROPAGATOR.extract(&HeaderExtractor(headers))
}

/// The W3C trace context version written.
const TRACEPARENT_VERSION: &[u8] = b"00";
/// Upstream trace context headers.
const TRACEPARENT: http::HeaderName = http::HeaderName::from_static("traceparent");
const TRACESTATE: http::HeaderName = http::HeaderName::from_static("tracestate");

/// Writes the current context's `traceparent` (and `tracestate`, when the client sent one) into
/// an upstream request; nothing when there is no span, e.g. a health check. Written by hand, not
/// through the SDK's propagator: that one formats through `format!`, parses the header name back
/// and always adds an empty `tracestate`, on every upstream request.
pub fn inject_current(headers: &mut HeaderMap) {
    let cx = Context::current();
    let span = cx.span();
    let sc = span.span_context();
    if !sc.is_valid() {
        return;
    }
    let mut value = Vec::with_capacity(TRACEPARENT_LEN);
    value.extend_from_slice(TRACEPARENT_VERSION);
    value.push(b'-');
    push_hex(&mut value, &sc.trace_id().to_bytes());
    value.push(b'-');
    push_hex(&mut value, &sc.span_id().to_bytes());
    value.push(b'-');
    push_hex(
        &mut value,
        &[(sc.trace_flags() & TraceFlags::SAMPLED).to_u8()],
    );
    if let Ok(value) = http::HeaderValue::from_bytes(&value) {
        headers.insert(TRACEPARENT, value);
    }
    let state = sc.trace_state().header();
    if !state.is_empty()
        && let Ok(value) = http::HeaderValue::from_str(&state)
    {
        headers.insert(TRACESTATE, value);
    }
}

/// Length of a version 00 `traceparent`.
const TRACEPARENT_LEN: usize = 55;
/// `(trace_id, span_id)` of `cx`'s span in hex, when it has a valid one.
pub fn ids(cx: &Context) -> Option<(String, String)> {
    let span = cx.span();
    let sc = span.span_context();
    sc.is_valid().then(|| {
        (
            hex(&sc.trace_id().to_bytes()),
            hex(&sc.span_id().to_bytes()),
        )
    })
}

/// Whether spans are exported (sampled at all): only then do they need names and attributes.
pub fn exporting() -> bool {
    EXPORTING.load(std::sync::atomic::Ordering::Relaxed)
}

/// The exporter's HTTP client: our hyper stack (rustls with the embedded roots), with each
/// export spawned on the gateway's Tokio runtime — the SDK exports from its own thread, where
/// hyper could not run.
#[derive(Debug, Clone)]
struct OtlpClient {
    client: crate::transport::HttpsClient,
    runtime: Option<tokio::runtime::Handle>,
    timeout: Duration,
}

impl OtlpClient {
    fn new(timeout: Duration) -> Result<Self, String> {
        Ok(Self {
            client: crate::transport::plain_client()?,
            runtime: tokio::runtime::Handle::try_current().ok(),
            timeout,
        })
    }

    async fn send(
        client: crate::transport::HttpsClient,
        request: http::Request<Bytes>,
        timeout: Duration,
    ) -> Result<http::Response<Bytes>, HttpError> {
        let exchange = async {
            let response = client.request(request.map(Full::new)).await?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, MAX_COLLECTOR_REPLY_BYTES)
                .collect()
                .await?
                .to_bytes();
            Ok::<_, HttpError>(http::Response::from_parts(parts, body))
        };
        tokio::time::timeout(timeout, exchange).await.map_err(|_| {
            HttpError::from(format!("the collector did not answer within {timeout:?}"))
        })?
    }
}

type Sent<'a> = Pin<Box<dyn Future<Output = Result<http::Response<Bytes>, HttpError>> + Send + 'a>>;

impl HttpClient for OtlpClient {
    fn send_bytes<'s, 'a>(&'s self, request: http::Request<Bytes>) -> Sent<'a>
    where
        's: 'a,
        Self: 'a,
    {
        let (client, timeout) = (self.client.clone(), self.timeout);
        let runtime = self.runtime.clone();
        Box::pin(async move {
            let Some(runtime) = runtime else {
                return Err(HttpError::from("no Tokio runtime to export on"));
            };
            runtime
                .spawn(Self::send(client, request, timeout))
                .await
                .map_err(|e| HttpError::from(e.to_string()))?
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_context_round_trips_through_headers() {
        let cases = [
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                None,
            ),
            (
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00",
                None,
            ),
            (
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                Some("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"),
            ),
        ];
        for (traceparent, tracestate) in cases {
            let mut incoming = HeaderMap::new();
            incoming.insert("traceparent", traceparent.parse().unwrap());
            if let Some(state) = tracestate {
                incoming.insert("tracestate", state.parse().unwrap());
            }
            let cx = extract(&incoming);
            assert_eq!(
                ids(&cx),
                Some((
                    traceparent[3..35].to_owned(),
                    traceparent[36..52].to_owned()
                ))
            );
            let mut outgoing = HeaderMap::new();
            {
                let _attached = cx.attach();
                inject_current(&mut outgoing);
            }
            assert_eq!(outgoing["traceparent"], traceparent);
            assert_eq!(
                outgoing.get("tracestate").map(|v| v.to_str().unwrap()),
                tracestate,
                "an empty tracestate is not sent"
            );
        }
        let mut none = HeaderMap::new();
        inject_current(&mut none);
        assert!(none.is_empty(), "no span, no header");
        assert_eq!(ids(&extract(&HeaderMap::new())), None);
    }

    #[test]
    fn the_config_endpoint_gets_the_traces_path() {
        let config = TelemetryConfig {
            otlp_endpoint: Some("http://collector:4318/".into()),
            ..TelemetryConfig::default()
        };
        if ENDPOINT_VARS.iter().any(|v| env_set(v)) || disabled_by_env() {
            return; // The environment decides; nothing to check here.
        }
        match export_target(&config) {
            Some(Target::Config(url)) => assert_eq!(url, "http://collector:4318/v1/traces"),
            _ => panic!("expected the config endpoint"),
        }
        assert!(export_target(&TelemetryConfig::default()).is_none());
    }
}
