//! Probes and metrics: `/health/live` (the process answers), `/health/ready` (phase is Ready),
//! `/metrics` (Prometheus text).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};

use super::AppState;
use crate::lifecycle::Phase;

/// Liveness: 200 while the process can answer at all.
pub async fn live(State(state): State<AppState>) -> Response {
    status_body(StatusCode::OK, state.lifecycle.phase())
}

/// Readiness: 200 only in [`Phase::Ready`]; 503 while starting and from the first SIGTERM on.
pub async fn ready(State(state): State<AppState>) -> Response {
    let phase = state.lifecycle.phase();
    let status = if phase == Phase::Ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    status_body(status, phase)
}

/// Prometheus exposition, after the gauges read from live state are set.
pub async fn metrics(State(state): State<AppState>) -> Response {
    super::gauges::refresh(&state.runtime.load_full(), state.store.as_ref()).await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::telemetry::metrics::render(&state.metrics),
    )
        .into_response()
}

fn status_body(status: StatusCode, phase: Phase) -> Response {
    let body = format!("{{\"status\":\"{}\"}}", phase.as_str());
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}
