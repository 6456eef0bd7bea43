//! Usage endpoints: `GET /admin/usage` (master key) reports every key, team and Unix peer;
//! `GET /v1/key/info` reports the caller's own usage and limits (and its team's).

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::AppState;
use super::admin::require_master;
use crate::auth::{Identity, Limits};
use crate::clock::format_rfc3339;
use crate::error::GatewayError;
use crate::limits::admission::scope_of;
use crate::limits::report::{ScopeReport, report};
use crate::limits::store::{Store, StoreError};
use crate::request::identify;
use crate::runtime::Runtime;

/// One identity or team with its usage.
#[derive(Serialize)]
struct Entry<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    team: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    models: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<String>,
    #[serde(flatten)]
    usage: ScopeReport,
}

#[derive(Serialize)]
struct Usage<'a> {
    keys: Vec<Entry<'a>>,
    teams: Vec<Entry<'a>>,
    peers: Vec<Entry<'a>>,
}

fn store_down(e: StoreError) -> GatewayError {
    GatewayError::Unavailable {
        message: format!("The usage store is unavailable ({e})."),
        retry_after: None,
    }
}

fn team_limits<'r>(runtime: &'r Runtime, team: Option<&str>) -> Option<&'r Limits> {
    team.and_then(|t| runtime.access.team(t)).map(|t| &t.limits)
}

async fn entry<'a>(
    store: &dyn Store,
    scope: String,
    limits: Option<&Limits>,
    name: &'a str,
    team: Option<&'a str>,
) -> Result<Entry<'a>, GatewayError> {
    Ok(Entry {
        name,
        team,
        models: None,
        expires_at: None,
        usage: report(store, &scope, limits).await.map_err(store_down)?,
    })
}

async fn everything<'a>(
    runtime: &'a Runtime,
    store: &dyn Store,
) -> Result<Usage<'a>, GatewayError> {
    let access = &runtime.access;
    let mut usage = Usage {
        keys: Vec::new(),
        teams: Vec::new(),
        peers: Vec::new(),
    };
    for key in access.keys() {
        let scope = format!("key:{}", key.name);
        let mut e = entry(
            store,
            scope,
            Some(&key.limits),
            &key.name,
            key.team.as_deref(),
        )
        .await?;
        e.models = Some(&key.models);
        e.expires_at = key.expires_at.map(format_rfc3339);
        usage.keys.push(e);
    }
    for team in access.teams() {
        let scope = format!("team:{}", team.name);
        usage
            .teams
            .push(entry(store, scope, Some(&team.limits), &team.name, None).await?);
    }
    for (name, team) in access.peers() {
        usage
            .peers
            .push(entry(store, format!("peer:{name}"), None, name, team).await?);
    }
    for list in [&mut usage.keys, &mut usage.teams, &mut usage.peers] {
        list.sort_by(|a, b| a.name.cmp(b.name));
    }
    Ok(usage)
}

/// `GET /admin/usage`: every key's, team's and peer's usage and remaining limits.
pub async fn admin_usage(State(state): State<AppState>, request: Request) -> Response {
    let runtime = state.runtime.load_full();
    if let Err(e) = require_master(&runtime, &request) {
        return e.into_response();
    }
    match everything(&runtime, state.store.as_ref()).await {
        Ok(usage) => axum::Json(usage).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Serialize)]
struct KeyInfo<'a> {
    #[serde(flatten)]
    own: Entry<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    team_usage: Option<ScopeReport>,
}

async fn key_info<'a>(
    runtime: &'a Runtime,
    store: &dyn Store,
    identity: &'a Identity,
) -> Result<KeyInfo<'a>, GatewayError> {
    let team = identity.team();
    let own = match scope_of(identity) {
        Some(scope) => {
            let limits = identity.key().map(|k| &k.limits);
            let mut own = entry(store, scope, limits, identity.name(), team).await?;
            if let Some(key) = identity.key() {
                own.models = Some(&key.models);
                own.expires_at = key.expires_at.map(format_rfc3339);
            }
            own
        }
        // The master key and the open API have no limits and no usage of their own.
        None => Entry {
            name: identity.name(),
            team,
            models: None,
            expires_at: None,
            usage: ScopeReport::default(),
        },
    };
    let team_usage = match team {
        Some(name) => Some(
            report(store, &format!("team:{name}"), team_limits(runtime, team))
                .await
                .map_err(store_down)?,
        ),
        None => None,
    };
    Ok(KeyInfo { own, team_usage })
}

/// `GET /v1/key/info`: the calling key's (or peer's) own usage and limits.
pub async fn own_info(State(state): State<AppState>, request: Request) -> Response {
    let runtime = state.runtime.load_full();
    let identity = match identify(&runtime, request.headers(), request.extensions()) {
        Ok(identity) => identity,
        Err(e) => return e.into_response(),
    };
    match key_info(&runtime, state.store.as_ref(), &identity).await {
        Ok(info) => axum::Json(info).into_response(),
        Err(e) => e.into_response(),
    }
}
