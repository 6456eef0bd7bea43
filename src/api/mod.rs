//! The HTTP surface: axum routers for the API listeners (OpenAI and Anthropic Messages routes,
//! with and without `/v1`) and the admin listener (probes, metrics), the shared state handlers
//! read, and the mapping of errors to each inbound format's error body.

pub mod admin;
pub mod anthropic;
pub mod gauges;
pub mod health;
pub mod model_info;
pub mod openai;
pub mod passthrough;
pub mod pipeline;
pub mod respond;
pub mod responses;
pub mod usage;

use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::Router;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::{get, post};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::error::GatewayError;
use crate::lifecycle::Lifecycle;
use crate::limits::store::Store;
use crate::runtime::Runtime;
use crate::telemetry::genai::ServerSpan;
use crate::telemetry::json_log::{self, RequestIds};
use crate::telemetry::logging::LogControl;
use crate::telemetry::{logging, otel};
use pipeline::Operation;
use respond::Inbound;
use tracing::Instrument as _;

/// What every handler can reach.
pub struct Services {
    /// The current config generation; handlers load it once per request.
    pub runtime: ArcSwap<Runtime>,
    /// The process phase (probes read it).
    pub lifecycle: Lifecycle,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// Rate buckets, usage and spend (outlives config generations).
    pub store: Arc<dyn Store>,
    /// The log filter (`PUT /admin/log-level`).
    pub log: LogControl,
}

/// Cheaply clonable handle to [`Services`].
pub type AppState = Arc<Services>;

/// The handler of an [`Operation`]: every admitted endpoint is one declaration.
fn operation<O: Operation + Send + 'static>(op: O) -> axum::routing::MethodRouter<AppState> {
    let op = Arc::new(op);
    post(move |State(state): State<AppState>, request: Request| {
        let op = Arc::clone(&op);
        async move { pipeline::serve(&state, request, op.as_ref()).await }
    })
}

/// The API router. `with_probes` adds `/health/*`, `/metrics` and `/admin/*` (when no admin
/// listener is set).
pub fn api_router(state: AppState, with_probes: bool) -> Router {
    let mut router = Router::new();
    for prefix in ["/v1", ""] {
        router = router
            .route(
                &format!("{prefix}/chat/completions"),
                operation(openai::Chat),
            )
            .route(
                &format!("{prefix}/embeddings"),
                operation(openai::Embeddings),
            )
            .route(
                &format!("{prefix}/{}", responses::NAME),
                operation(responses::Responses),
            )
            .route(
                &format!("{prefix}/{}/{{id}}", responses::NAME),
                get(responses::retrieve::get).delete(responses::retrieve::delete),
            )
            .route(
                &format!("{prefix}/{}/{{id}}/input_items", responses::NAME),
                get(responses::retrieve::input_items),
            )
            .route(
                &format!("{prefix}/messages"),
                operation(anthropic::Messages),
            )
            .route(
                &format!("{prefix}/messages/count_tokens"),
                operation(anthropic::CountTokens),
            )
            .route(&format!("{prefix}/models"), get(openai::list_models))
            .route(&format!("{prefix}/models/{{*id}}"), get(openai::get_model))
            .route(&format!("{prefix}/key/info"), get(usage::own_info))
            .route(&format!("{prefix}/model/info"), get(model_info::model_info));
        for op in passthrough::OPERATIONS {
            let route = operation(passthrough::Passthrough(op));
            router = router.route(&format!("{prefix}/{op}"), route);
        }
    }
    router = router.route_layer(axum::middleware::from_fn(traced));
    if with_probes {
        router = router.merge(probe_routes());
    }
    finish(router, state)
}

/// The admin router: probes, metrics and `/admin/*`.
pub fn admin_router(state: AppState) -> Router {
    finish(probe_routes(), state)
}

fn probe_routes() -> Router<AppState> {
    Router::new()
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        // LiteLLM's probe paths, so a migrated Deployment's probes keep working.
        .route("/health/liveliness", get(health::live))
        .route("/health/liveness", get(health::live))
        .route("/health/readiness", get(health::ready))
        .route("/metrics", get(health::metrics))
        .route("/admin/config", get(admin::config))
        .route("/admin/usage", get(usage::admin_usage))
        .route(
            "/admin/log-level",
            get(admin::log_level).put(admin::set_log_level),
        )
}

fn finish(router: Router<AppState>, state: AppState) -> Router {
    router
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// Opens the request's SERVER span (child of the client's `traceparent`) for the handler's
/// record, and runs the handler with the trace and span ids on every line it logs (a task-local
/// the JSON lines read; text lines get them from a log span, which costs more). A rejection by
/// an extractor (axum answers those in plain text) is turned into the client's own error format
/// on the way out.
async fn traced(mut request: Request, next: axum::middleware::Next) -> Response {
    let span = ServerSpan::start(request.method(), request.uri().path(), request.headers());
    let (trace_id, span_id) = otel::ids(span.context()).unwrap_or_default();
    let inbound = Inbound::of_path(request.uri().path());
    request.extensions_mut().insert(span);
    let log_span = if logging::writes_json() {
        tracing::Span::none()
    } else {
        tracing::info_span!(
            "request",
            trace_id = trace_id.as_str(),
            span_id = span_id.as_str()
        )
    };
    let ids = RequestIds { trace_id, span_id };
    let response = json_log::in_request(ids, next.run(request))
        .instrument(log_span)
        .await;
    if is_rejection(&response) {
        return in_client_format(response, inbound).await;
    }
    response
}

/// Longest rejection text kept (axum's are a sentence).
const MAX_REJECTION_BYTES: usize = 4096;

/// Whether `response` is an error the gateway did not render: every error of ours is JSON, a
/// plain-text one comes from an extractor's rejection.
fn is_rejection(response: &Response) -> bool {
    let status = response.status();
    (status.is_client_error() || status.is_server_error())
        && response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("text/plain"))
}

/// `response` (a rejection) as an error body of the `inbound` format, with its status.
async fn in_client_format(response: Response, inbound: Inbound) -> Response {
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), MAX_REJECTION_BYTES)
        .await
        .unwrap_or_default();
    let message = String::from_utf8_lossy(&body).trim().to_owned();
    inbound.error_response(&GatewayError::Rejected { status, message })
}

async fn unknown_route(request: Request) -> Response {
    let path = request.uri().path();
    Inbound::of_path(path).error_response(&GatewayError::UnknownRoute {
        method: request.method().to_string(),
        path: path.to_owned(),
    })
}

async fn method_not_allowed(request: Request) -> Response {
    Inbound::of_path(request.uri().path()).error_response(&GatewayError::MethodNotAllowed(
        request.method().to_string(),
    ))
}
