//! The stored-response endpoints: `GET /v1/responses/{id}`, `DELETE /v1/responses/{id}` and
//! `GET /v1/responses/{id}/input_items`, each answering only from the caller's own stored
//! responses (someone else's id is not found, exactly like an id that never existed).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, Request, State};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::state::{ItemsQuery, Shelf, items_page, not_found};
use crate::api::AppState;
use crate::error::GatewayError;
use crate::request::identify;

/// The caller's shelf, or the authentication error.
fn shelf(state: &AppState, request: &Request) -> Result<Shelf, GatewayError> {
    let runtime = state.runtime.load();
    let identity = identify(&runtime, request.headers(), request.extensions())?;
    Ok(Shelf::new(
        Arc::clone(&state.store),
        &identity,
        &runtime.config.raw.responses,
    ))
}

/// Answers `result`, or its error in OpenAI's format.
fn answer(result: Result<Response, GatewayError>) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `GET /v1/responses/{id}`: the response as it was answered.
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    let shelf = shelf(&state, &request);
    drop(request);
    answer(
        async {
            let stored = shelf?.load(&id).await?;
            let stored = stored.ok_or_else(|| not_found(&id, None))?;
            Ok(Json(stored.response).into_response())
        }
        .await,
    )
}

/// `DELETE /v1/responses/{id}`.
pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    let shelf = shelf(&state, &request);
    drop(request);
    answer(
        async {
            if !shelf?.delete(&id).await? {
                return Err(not_found(&id, None));
            }
            Ok(Json(json!({"id": id, "object": "response", "deleted": true})).into_response())
        }
        .await,
    )
}

/// `GET /v1/responses/{id}/input_items`: the items the model saw, earlier turns included.
pub async fn input_items(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<ItemsQuery>,
    request: Request,
) -> Response {
    let shelf = shelf(&state, &request);
    drop(request);
    answer(
        async {
            let stored = shelf?.load(&id).await?;
            let stored = stored.ok_or_else(|| not_found(&id, None))?;
            Ok(Json(items_page(stored.input, &query)?).into_response())
        }
        .await,
    )
}
