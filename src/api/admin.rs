//! `/admin/*`: operator endpoints, guarded by `auth.master_key`; without a master key they do
//! not exist (404), so an unconfigured gateway exposes nothing.

use std::time::UNIX_EPOCH;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::HeaderMap;
use serde::Serialize;

use super::AppState;
use crate::config::RawConfig;
use crate::error::GatewayError;
use crate::runtime::Runtime;

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The credential a request presents: `Authorization: Bearer …` or `x-api-key`.
pub fn presented_key(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    bearer.or_else(|| {
        headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    })
}

/// Admits a request carrying the master key; 404 when none is configured, 401 otherwise.
fn require_master(runtime: &Runtime, request: &Request) -> Result<(), GatewayError> {
    let Some(master) = &runtime.config.raw.auth.master_key else {
        return Err(GatewayError::UnknownRoute {
            method: request.method().to_string(),
            path: request.uri().path().to_owned(),
        });
    };
    match presented_key(request.headers()) {
        Some(key) if constant_time_eq(key.as_bytes(), master.expose().as_bytes()) => Ok(()),
        _ => Err(GatewayError::Unauthorized(
            "This endpoint needs the gateway's master key (Authorization: Bearer …).".to_owned(),
        )),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_keys() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }

    #[test]
    fn reads_presented_keys() {
        let mut headers = HeaderMap::new();
        assert_eq!(presented_key(&headers), None);
        headers.insert("x-api-key", "k1".parse().unwrap());
        assert_eq!(presented_key(&headers), Some("k1"));
        headers.insert("authorization", "Bearer k2".parse().unwrap());
        assert_eq!(presented_key(&headers), Some("k2"));
    }
}
