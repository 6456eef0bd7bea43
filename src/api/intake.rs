//! What every API handler does with a request before it is routed, whatever its inbound format:
//! pick the request id, read the body within the server's limits, and pass the global rate limit.

use axum::body::Body;
use bytes::Bytes;
use http::request::Parts;

use super::body::read_body;
use super::respond::REQUEST_ID;
use crate::error::GatewayError;
use crate::runtime::Runtime;
use crate::telemetry::access::RequestRecord;
use crate::telemetry::ids;
use crate::telemetry::metrics::{NO_TEAM, RATELIMIT_REJECTIONS};

/// Reads the whole body within `server.max_request_bytes` and `server.read_timeout`.
pub async fn read(runtime: &Runtime, parts: &Parts, body: Body) -> Result<Bytes, GatewayError> {
    let server = &runtime.config.raw.server;
    read_body(
        &parts.headers,
        body,
        server.max_request_bytes,
        server.read_timeout,
    )
    .await
}

/// The client's `x-request-id` when usable, else a fresh one.
pub fn request_id(parts: &Parts) -> String {
    parts
        .headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .and_then(ids::accept_client_id)
        .map_or_else(ids::request_id, str::to_owned)
}

/// The seed's global request rate limit.
pub fn admit(runtime: &Runtime) -> Result<(), GatewayError> {
    let Some(limit) = &runtime.rate_limit else {
        return Ok(());
    };
    limit.check().map_err(|retry_after| {
        metrics::counter!(RATELIMIT_REJECTIONS, "team" => NO_TEAM, "limit" => "global_rpm").increment(1);
        GatewayError::RateLimited {
            message: format!(
                "Rate limit reached: the gateway accepts {} requests per minute (rate_limit.requests_per_minute).",
                limit.limit()
            ),
            retry_after,
        }
    })
}

/// Reserves the request's share of the in-flight token budget (estimated prompt tokens plus
/// `max_tokens`) until the request ends, when `limits.max_inflight_tokens` is set.
pub async fn reserve_tokens(
    runtime: &Runtime,
    record: &mut RequestRecord,
    prompt_bytes: usize,
    max_tokens: Option<u64>,
) -> Result<(), GatewayError> {
    let Some(budget) = &runtime.token_budget else {
        return Ok(());
    };
    let cost = crate::tokens::estimate_from_bytes(prompt_bytes) + max_tokens.unwrap_or(0);
    let permit = budget.admit(cost).await?;
    record.hold(permit);
    Ok(())
}
