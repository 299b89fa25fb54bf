//! Worker routes: list, details (by id or name), modify, delete.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use super::AppState;
use super::extract::{ApiKey, JsonBody, bad_query};
use crate::api::{ModifyWorkerRequest, WorkersQuery, paths};
use crate::coordinator::error::ApiError;
use crate::coordinator::horde::Caller;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(paths::WORKERS, get(list))
        .route(paths::WORKER, get(details).put(modify).delete(delete))
        .route(paths::WORKER_BY_NAME, get(by_name))
}

async fn optional_caller(state: &AppState, key: Option<String>) -> Option<Caller> {
    match key {
        Some(k) => state.caller(Some(&k), false).await.ok(),
        None => None,
    }
}

async fn list(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    q: Result<Query<WorkersQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(bad_query)?;
    let caller = optional_caller(&state, key).await;
    Ok(Json(state.read(|h| h.list_workers(&q, caller.as_ref())).await?).into_response())
}

async fn details(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let caller = optional_caller(&state, key).await;
    state
        .read(|h| h.worker_details(&id, caller.as_ref()))
        .await?
        .map(|w| Json(w).into_response())
}

async fn by_name(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let caller = optional_caller(&state, key).await;
    state
        .read(|h| h.worker_by_name(&name, caller.as_ref()))
        .await?
        .map(|w| Json(w).into_response())
}

async fn modify(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<ModifyWorkerRequest>,
) -> Result<Response, ApiError> {
    let caller = state.caller(key.as_deref(), false).await?;
    state
        .run(|h| h.modify_worker(&caller, &id, &req))
        .await
        .map(|r| Json(r).into_response())
}

async fn delete(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let caller = state.caller(key.as_deref(), false).await?;
    state
        .run(|h| h.delete_worker(&caller, &id))
        .await
        .map(|r| Json(r).into_response())
}
