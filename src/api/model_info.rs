//! `GET /model/info` and `/v1/model/info`, as LiteLLM's proxy answers them: one entry per
//! deployment of each model the caller may use, with the upstream's provider type and model.
//! Clients and dashboards written for LiteLLM read it to learn what a name is served by. It
//! carries no secrets: no keys, no base URLs (which can hold tokens), only the upstream host.

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::AppState;
use crate::request::identify;
use crate::router::{Deployment, Router};

#[derive(Serialize)]
struct Info<'a> {
    data: Vec<Entry<'a>>,
}

#[derive(Serialize)]
struct Entry<'a> {
    model_name: &'a str,
    litellm_params: Params,
    model_info: Details<'a>,
}

/// LiteLLM's `provider/model` string of the deployment.
#[derive(Serialize)]
struct Params {
    model: String,
}

#[derive(Serialize)]
struct Details<'a> {
    /// `provider/model` as `x-llm-deployment` shows it.
    id: String,
    /// Our provider type (`openai`, `azure`, `bedrock`, …).
    litellm_provider: &'static str,
    /// The configured provider's name.
    provider: &'a str,
    /// The upstream host.
    server_address: &'a str,
}

/// The model info of every name the caller may use (aliases that are listed included).
pub async fn model_info(State(state): State<AppState>, request: Request) -> Response {
    let runtime = state.runtime.load();
    let identity = match identify(&runtime, request.headers(), request.extensions()) {
        Ok(identity) => identity,
        Err(e) => return e.into_response(),
    };
    let router = &runtime.router;
    let names = router
        .model_names()
        .iter()
        .chain(router.group_names().iter().filter(|n| is_pattern(n)));
    let data = names
        .filter(|name| identity.allows(name))
        .flat_map(|name| entries(router, name))
        .collect();
    axum::Json(Info { data }).into_response()
}

fn is_pattern(name: &str) -> bool {
    crate::config::pattern::prefix(name).is_some()
}

fn entries<'r>(router: &'r Router, name: &'r str) -> Vec<Entry<'r>> {
    let Some(group) = router.group(name) else {
        return Vec::new();
    };
    group.deployments.iter().map(|d| entry(name, d)).collect()
}

fn entry<'r>(name: &'r str, deployment: &'r Deployment) -> Entry<'r> {
    let kind = deployment.provider.kind().as_str();
    Entry {
        model_name: name,
        litellm_params: Params {
            model: format!("{kind}/{}", deployment.upstream_model),
        },
        model_info: Details {
            id: deployment.label(),
            litellm_provider: kind,
            provider: deployment.provider.name(),
            server_address: deployment.provider.server_address(),
        },
    }
}
