//! OpenAI-compatible handlers: chat completions (whole and SSE), embeddings, and the model list.
//! Each request reads one runtime snapshot at its start and keeps it to its end.

use std::time::UNIX_EPOCH;

use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::AppState;
use super::intake::{Ask, admit, caller, identify, read, request_id};
use super::respond::{Inbound, respond};
use crate::error::GatewayError;
use crate::providers::Reply;
use crate::router::attempt;
use crate::runtime::Runtime;
use crate::telemetry::access::RequestRecord;
use crate::telemetry::genai::RequestFacts;
use crate::types::{ChatRequest, EmbeddingsRequest};

/// `POST /v1/chat/completions`.
pub async fn chat_completions(State(state): State<AppState>, request: Request) -> Response {
    let runtime = state.runtime.load_full();
    let (parts, body) = request.into_parts();
    let mut record = RequestRecord::start("chat", request_id(&parts), &parts);
    let result = async {
        let identity = identify(&runtime, &parts, &mut record)?;
        let bytes = read(&runtime, &parts, body).await?;
        let request = ChatRequest::parse(&bytes)?;
        record.stream = request.stream;
        record.facts = RequestFacts::read(&request.top, request.max_tokens);
        let ask = Ask {
            model: &request.model,
            body: &bytes,
            max_tokens: request.max_tokens,
        };
        admit(&state, &runtime, &identity, &ask, &mut record).await?;
        let routed = attempt::Request {
            runtime: &runtime,
            model: &request.model,
            record: &mut record,
        };
        let request = &request;
        attempt::run(routed, |provider, model| {
            Box::pin(async move { provider.chat(request, &model).await })
        })
        .await
    }
    .await;
    respond(result, record, Inbound::OpenAi)
}

/// `POST /v1/embeddings`.
pub async fn embeddings(State(state): State<AppState>, request: Request) -> Response {
    let runtime = state.runtime.load_full();
    let (parts, body) = request.into_parts();
    let mut record = RequestRecord::start("embeddings", request_id(&parts), &parts);
    let result = async {
        let identity = identify(&runtime, &parts, &mut record)?;
        let bytes = read(&runtime, &parts, body).await?;
        let request = EmbeddingsRequest::parse(&bytes)?;
        record.facts = RequestFacts::read(&request.top, None);
        let ask = Ask {
            model: &request.model,
            body: &bytes,
            max_tokens: None,
        };
        admit(&state, &runtime, &identity, &ask, &mut record).await?;
        let routed = attempt::Request {
            runtime: &runtime,
            model: &request.model,
            record: &mut record,
        };
        let request = &request;
        attempt::run(routed, |provider, model| {
            Box::pin(async move {
                provider
                    .embeddings(request, &model)
                    .await
                    .map(Reply::Complete)
            })
        })
        .await
    }
    .await;
    respond(result, record, Inbound::OpenAi)
}

#[derive(Serialize)]
struct ModelObject<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    owned_by: &'a str,
}

#[derive(Serialize)]
struct ModelList<'a> {
    object: &'static str,
    data: Vec<ModelObject<'a>>,
}

fn model_object<'a>(runtime: &'a Runtime, name: &'a str) -> Option<ModelObject<'a>> {
    let group = runtime.router.group(name)?;
    let owned_by = group
        .deployments
        .first()
        .map_or("llm-sidecar", |d| d.provider.name());
    let created = runtime
        .applied_at
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Some(ModelObject {
        id: &group.name,
        object: "model",
        created,
        owned_by,
    })
}

/// `GET /v1/models`: the configured model names the caller may use.
pub async fn list_models(State(state): State<AppState>, request: Request) -> Response {
    let runtime = state.runtime.load();
    let identity = match caller(&runtime, request.headers(), request.extensions()) {
        Ok(identity) => identity,
        Err(e) => return e.into_response(),
    };
    let data = runtime
        .router
        .model_names()
        .iter()
        .filter(|name| identity.allows(name))
        .filter_map(|name| model_object(&runtime, name))
        .collect();
    axum::Json(ModelList {
        object: "list",
        data,
    })
    .into_response()
}

/// `GET /v1/models/{id}`; a model the caller may not use does not exist for it.
pub async fn get_model(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    let runtime = state.runtime.load();
    let identity = match caller(&runtime, request.headers(), request.extensions()) {
        Ok(identity) => identity,
        Err(e) => return e.into_response(),
    };
    match model_object(&runtime, &id).filter(|_| identity.allows(&id)) {
        Some(model) => axum::Json(model).into_response(),
        None => GatewayError::ModelNotFound(id).into_response(),
    }
}
