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

/// Longest `PUT /admin/log-level` body (a filter is a short line).
const MAX_LEVEL_BYTES: u64 = 4096;

#[derive(Serialize, serde::Deserialize)]
struct Level {
    level: String,
}

/// `GET /admin/log-level`: the log filter in force.
pub async fn log_level(State(state): State<AppState>, request: Request) -> Response {
    let runtime = state.runtime.load_full();
    if let Err(e) = require_master(&runtime, &request) {
        return e.into_response();
    }
    axum::Json(Level {
        level: state.log.current(),
    })
    .into_response()
}

/// `PUT /admin/log-level`: sets the log filter — `{"level": "debug"}` or the bare filter
/// (`info,llm_sidecar::router=debug`) — until the next one or a config reload that changes
/// `logging.level`.
pub async fn set_log_level(State(state): State<AppState>, request: Request) -> Response {
    let runtime = state.runtime.load_full();
    if let Err(e) = require_master(&runtime, &request) {
        return e.into_response();
    }
    let (parts, body) = request.into_parts();
    let timeout = runtime.config.raw.server.read_timeout;
    let bytes =
        match crate::request::body::read(&parts.headers, body, MAX_LEVEL_BYTES, timeout).await {
            Ok(bytes) => bytes,
            Err(e) => return e.into_response(),
        };
    let filter = match serde_json::from_slice::<Level>(&bytes) {
        Ok(level) => level.level,
        Err(_) => String::from_utf8_lossy(&bytes).trim().to_owned(),
    };
    if filter.is_empty() {
        return GatewayError::invalid("give a level, e.g. {\"level\": \"debug\"}", Some("level"))
            .into_response();
    }
    match state.log.force_level(&filter) {
        Ok(()) => {
            tracing::info!(level = %filter, "log level changed");
            axum::Json(Level {
                level: state.log.current(),
            })
            .into_response()
        }
        Err(e) => {
            GatewayError::invalid(format!("invalid log filter: {e}"), Some("level")).into_response()
        }
    }
}
