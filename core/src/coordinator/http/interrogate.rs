//! Interrogation routes: async, status, cancel, pop, submit.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use super::AppState;
use super::extract::{ApiKey, JsonBody};
use crate::api::{
    InterrogationPopRequest, InterrogationRequest, InterrogationSubmitRequest, SubmitResponse,
    paths,
};
use crate::coordinator::error::ApiError;
use crate::coordinator::horde::StoredImage;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(paths::INTERROGATE_ASYNC, post(create))
        .route(paths::INTERROGATE_STATUS, get(status).delete(cancel))
        .route(paths::INTERROGATE_POP, post(pop))
        .route(paths::INTERROGATE_SUBMIT, post(submit))
}

async fn create(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    JsonBody(req): JsonBody<InterrogationRequest>,
) -> Result<Response, ApiError> {
    let caller = state.caller(key.as_deref(), false).await?;
    let id = uuid::Uuid::new_v4().to_string();
    let mut stored = StoredImage::default();
    if let Some(bytes) = super::generate::inline_image("source_image", &req.source_image)? {
        let size = crate::coordinator::blobs::image_size(&bytes);
        if size.is_none() {
            return Err(ApiError::new(
                crate::api::Rc::ImageValidationFailed,
                "Image validation failed. The source image is not a PNG, JPEG or WebP image.",
            ));
        }
        // A random name: the worker handed its URL must not learn the id.
        let name = format!("{}_src.webp", uuid::Uuid::new_v4().simple());
        state.blobs.put(&name, &bytes).await.map_err(|e| {
            tracing::error!(error = %e, "cannot store source image");
            ApiError::storage_unavailable()
        })?;
        stored = StoredImage {
            blob: Some(name),
            size,
        };
    }
    let blob = stored.blob.clone();
    let result = state
        .run(|h| h.create_interrogation(&caller, &req, id, stored))
        .await;
    if result.is_err()
        && let Some(blob) = blob
    {
        let _ = state.blobs.delete(&blob).await;
    }
    result.map(|r| (StatusCode::ACCEPTED, Json(r)).into_response())
}

async fn status(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    use crate::api::{InterrogationState as S, InterrogationStatus};
    let wait = super::long_poll::wait_of(query.as_deref())?;
    super::long_poll::answer(
        &state,
        wait,
        |h| h.interrogation_status(&id),
        |s: &InterrogationStatus| {
            (
                s.state.clone(),
                s.forms.iter().map(|f| f.state.clone()).collect::<Vec<_>>(),
            )
        },
        |s| matches!(s.state, S::Done | S::Faulted | S::Partial | S::Cancelled),
    )
    .await
}

async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    state
        .run(|h| h.cancel_interrogation(&id))
        .await
        .map(|s| Json(s).into_response())
}

async fn pop(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ApiKey(key): ApiKey,
    JsonBody(req): JsonBody<InterrogationPopRequest>,
) -> Result<Response, ApiError> {
    let caller = state.caller(key.as_deref(), false).await?;
    let ip = addr.ip().to_string();
    state
        .run(|h| h.pop_interrogation(&caller, &req, Some(&ip)))
        .await
        .map(|r| Json(r).into_response())
}

async fn submit(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    JsonBody(req): JsonBody<InterrogationSubmitRequest>,
) -> Result<Response, ApiError> {
    let caller = state.caller(key.as_deref(), false).await?;
    let reward = state.run(|h| h.submit_interrogation(&caller, &req)).await?;
    Ok(Json(SubmitResponse { reward }).into_response())
}
