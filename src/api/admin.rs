//! `/admin/*`: operator endpoints, guarded by `auth.master_key`; without a master key they do
//! not exist (404), so an unconfigured gateway exposes nothing.

use std::time::UNIX_EPOCH;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::AppState;
use crate::config::RawConfig;
use crate::error::GatewayError;
use crate::runtime::Runtime;

/// Admits a request carrying the master key; 404 when none is configured, 401 otherwise.
pub fn require_master(runtime: &Runtime, request: &Request) -> Result<(), GatewayError> {
    if !runtime.access.has_master() {
        return Err(GatewayError::UnknownRoute {
            method: request.method().to_string(),
            path: request.uri().path().to_owned(),
        });
    }
    if runtime.access.is_master(request.headers()) {
        Ok(())
    } else {
        Err(GatewayError::Unauthorized(
            "This endpoint needs the gateway's master key (Authorization: Bearer …).".to_owned(),
        ))
    }
}

#[derive(Serialize)]
struct ActiveConfig<'a> {
    generation: u64,
    applied_at: u64,
    source: Option<String>,
    config: &'a RawConfig,
}

/// `GET /admin/config`: the active config, every secret shown as `***`.
pub async fn config(State(state): State<AppState>, request: Request) -> Response {
    let runtime = state.runtime.load_full();
    if let Err(e) = require_master(&runtime, &request) {
        return e.into_response();
    }
    let body = ActiveConfig {
        generation: runtime.generation,
        applied_at: runtime
            .applied_at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        source: runtime
            .config
            .source
            .as_ref()
            .map(|p| p.display().to_string()),
        config: &runtime.config.raw,
    };
    axum::Json(body).into_response()
}
