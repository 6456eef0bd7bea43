//! What every API handler does with a request before it is routed, whatever its inbound format:
//! pick the request id, identify the caller, read the body within the server's limits, and admit
//! the request: model allowed for the caller, the global rate, the caller's rate limits and
//! budgets, the in-flight token budget.

use axum::body::Body;
use bytes::Bytes;
use http::request::Parts;

use super::AppState;
use super::body::read_body;
use super::respond::REQUEST_ID;
use crate::auth::Identity;
use crate::error::GatewayError;
use crate::limits::admission;
use crate::runtime::Runtime;
use crate::server::ConnInfo;
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
fn global_rate(runtime: &Runtime) -> Result<(), GatewayError> {
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
            headers: Vec::new(),
        }
    })
}

/// Who is calling, from the credentials and the connection; 401 when credentials are required
/// and missing, unknown or expired.
pub fn caller(
    runtime: &Runtime,
    headers: &http::HeaderMap,
    extensions: &http::Extensions,
) -> Result<Identity, GatewayError> {
    let conn = extensions.get::<ConnInfo>();
    runtime
        .access
        .identify(headers, conn, crate::clock::unix_now())
}

/// Who is calling (see [`caller`]), noted in the record; 401 when credentials are required and missing, unknown or expired.
pub fn identify(
    runtime: &Runtime,
    parts: &Parts,
    record: &mut RequestRecord,
) -> Result<Identity, GatewayError> {
    let identity = caller(runtime, &parts.headers, &parts.extensions)?;
    identity.name().clone_into(&mut record.caller);
    if let Some(team) = identity.team() {
        team.clone_into(&mut record.team);
    }
    Ok(identity)
}

/// What a request asks for, for admission.
pub struct Ask<'a> {
    /// The client-facing model.
    pub model: &'a str,
    /// The prompt-bearing body (its length gives the token estimate).
    pub body: &'a [u8],
    /// The completion limit the client set.
    pub max_tokens: Option<u64>,
}

/// Admits a request for `identity`: the model must be allowed to it, then the global rate, its
/// key's and team's rate limits and budgets, and the in-flight token budget must have room. The
/// guards and the settlement go into `record`, which holds them to the end.
pub async fn admit(
    state: &AppState,
    runtime: &Runtime,
    identity: &Identity,
    ask: &Ask<'_>,
    record: &mut RequestRecord,
) -> Result<(), GatewayError> {
    if !identity.allows(ask.model) {
        return Err(GatewayError::Forbidden(format!(
            "`{}` may not use model `{}`.",
            identity.name(),
            ask.model
        )));
    }
    global_rate(runtime)?;
    if runtime.config.raw.logging.log_content {
        record.keep_content(ask.body);
    }
    record.note_prompt(ask.body);
    // Saturating: client numbers never wrap a sum into a small one (they are bounded at parse,
    // this holds whatever a caller passes).
    let estimate = crate::tokens::estimate_from_bytes(ask.body.len())
        .saturating_add(ask.max_tokens.unwrap_or(0));
    let team = identity
        .team()
        .and_then(|t| runtime.access.team(t))
        .map(|t| &t.limits);
    record.estimate = estimate;
    let admitted =
        admission::admit(&state.store, &runtime.prices, identity, team, estimate).await?;
    record.limit_headers = admitted.headers;
    record.settlement = admitted.settlement;
    reserve_tokens(runtime, record, estimate).await
}

/// Reserves the request's share of the in-flight token budget (estimated prompt tokens plus
/// `max_tokens`) until the request ends, when `limits.max_inflight_tokens` is set.
async fn reserve_tokens(
    runtime: &Runtime,
    record: &mut RequestRecord,
    estimate: u64,
) -> Result<(), GatewayError> {
    let Some(budget) = &runtime.token_budget else {
        return Ok(());
    };
    let permit = budget.admit(estimate).await?;
    record.hold(permit);
    Ok(())
}
