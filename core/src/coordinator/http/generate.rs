//! Image and text generation routes: async, check, status, cancel, pop, submit.

use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use std::net::SocketAddr;

use super::extract::{ApiKey, JsonBody};
use super::{AppState, long_poll};
use crate::api::{
    ImageGenerateRequest, ImagePopRequest, ImageStatus, ImageSubmitRequest, RequestStatusCheck,
    SubmitResponse, TextGenerateRequest, TextPopRequest, TextSubmitRequest, WorkerType, paths,
};
use crate::coordinator::error::ApiError;
use crate::coordinator::horde::{Admission, CancelledStatus, StoredSources};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(paths::GENERATE_ASYNC, post(image_async))
        .route(paths::GENERATE_CHECK, get(check))
        .route(
            paths::GENERATE_STATUS,
            get(image_status).delete(image_cancel),
        )
        .route(paths::GENERATE_POP, post(image_pop))
        .route(paths::GENERATE_SUBMIT, post(image_submit))
        .route(paths::TEXT_ASYNC, post(text_async))
        .route(paths::TEXT_STATUS, get(text_status).delete(text_cancel))
        .route(paths::TEXT_POP, post(text_pop))
        .route(paths::TEXT_SUBMIT, post(text_submit))
}

fn admission(a: Admission) -> Response {
    match a {
        Admission::Queued(r) => (StatusCode::ACCEPTED, Json(r)).into_response(),
        Admission::Estimate(e) => (StatusCode::OK, Json(e)).into_response(),
    }
}

/// Decodes a source image sent inline; URLs are kept as they are.
pub(super) fn inline_image(field: &str, value: &str) -> Result<Option<Vec<u8>>, ApiError> {
    if value.starts_with("http://") || value.starts_with("https://") {
        return Ok(None);
    }
    let data = value.split_once(";base64,").map_or(value, |(_, d)| d);
    base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map(Some)
        .map_err(|_| {
            ApiError::new(
                crate::api::Rc::ImageValidationFailed,
                format!("Image validation failed. {field} is neither a URL nor valid base64."),
            )
        })
}

/// Largest source image, in pixels per side.
const MAX_SOURCE_SIDE: u32 = 3072;

async fn store_inline(
    state: &AppState,
    name: &str,
    field: &str,
    value: Option<&str>,
) -> Result<Option<String>, ApiError> {
    let Some(value) = value else { return Ok(None) };
    let Some(bytes) = inline_image(field, value)? else {
        return Ok(None);
    };
    if let Some((w, h)) = crate::coordinator::blobs::image_size(&bytes)
        && (w > MAX_SOURCE_SIDE || h > MAX_SOURCE_SIDE)
    {
        return Err(ApiError::new(
            crate::api::Rc::SourceImageResolutionExceeded,
            "Source images may be at most 3072 pixels on each side.",
        ));
    }
    state.blobs.put(name, &bytes).await.map_err(|e| {
        tracing::error!(error = %e, "cannot store source image");
        ApiError::storage_unavailable()
    })?;
    Ok(Some(name.to_owned()))
}

async fn image_async(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    JsonBody(req): JsonBody<ImageGenerateRequest>,
) -> Result<Response, ApiError> {
    let caller = state.caller(key.as_deref(), true).await?;
    let id = uuid::Uuid::new_v4().to_string();
    // Blob names are random, not the request's id: a worker handed a
    // source image's URL must not learn which request it belongs to.
    let blob = uuid::Uuid::new_v4().simple().to_string();
    let stored = if req.options.dry_run() {
        StoredSources::default()
    } else {
        StoredSources {
            source: store_inline(
                &state,
                &format!("{blob}_src.webp"),
                "source_image",
                req.source_image.as_deref(),
            )
            .await?,
            mask: store_inline(
                &state,
                &format!("{blob}_msk.webp"),
                "source_mask",
                req.source_mask.as_deref(),
            )
            .await?,
        }
    };
    let cleanup = stored.clone();
    let result = state
        .run(|h| h.create_image(&caller, req, id, stored))
        .await;
    if result.is_err() {
        for blob in cleanup.source.iter().chain(cleanup.mask.iter()) {
            let _ = state.blobs.delete(blob).await;
        }
    }
    result.map(admission)
}

async fn text_async(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    JsonBody(req): JsonBody<TextGenerateRequest>,
) -> Result<Response, ApiError> {
    let caller = state.caller(key.as_deref(), true).await?;
    let id = uuid::Uuid::new_v4().to_string();
    state
        .run(|h| h.create_text(&caller, req, id))
        .await
        .map(admission)
}

async fn check(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let wait = long_poll::wait_of(query.as_deref())?;
    long_poll::answer(
        &state,
        wait,
        |h| h.check(&id),
        |c: &RequestStatusCheck| progress(c),
        |c| c.done || c.faulted,
    )
    .await
}

/// What a held status answer waits to see change (not the wait estimate,
/// which moves with the clock).
fn progress(c: &RequestStatusCheck) -> (u32, u32, u32, u32, u32, bool, bool) {
    (
        c.finished,
        c.processing,
        c.restarted,
        c.waiting,
        c.queue_position,
        c.done,
        c.faulted,
    )
}

/// Inlines each image as base64 WebP for requests that asked for `r2: false`.
async fn inline_results(state: &AppState, mut status: ImageStatus) -> ImageStatus {
    for g in &mut status.generations {
        let blob = format!("{}.webp", g.id);
        g.img = match state.blobs.get(&blob).await {
            Ok(Some(bytes)) => base64::engine::general_purpose::STANDARD.encode(bytes),
            _ => "N/A".into(),
        };
    }
    status
}

/// Answers an image status. With `r2: false` the images travel inline as
/// base64 (up to tens of megabytes): at most `max_inline_answers`
/// such answers are held in memory at once, each until it is sent or its
/// connection is gone, so clients that never read theirs cannot pile them
/// up. A status call waits a moment for its turn, then answers 503
/// (nothing was changed); a cancel, which has changed the request, waits.
async fn status_answer(
    state: &AppState,
    status: ImageStatus,
    r2: bool,
    may_refuse: bool,
) -> Result<Response, ApiError> {
    if r2 {
        return Ok(Json(status).into_response());
    }
    let permits = state.inline_answers.clone();
    let permit = if may_refuse {
        tokio::time::timeout(
            std::time::Duration::from_secs(5),
            permits.acquire_owned(),
        )
        .await
        .map_err(|_| {
            ApiError::new(
                crate::api::Rc::Unknown("TooManyInlineAnswers".into()),
                "Too many r2:false answers are being sent; try again shortly, or request with r2: true.",
            )
            .with_status(503)
        })?
    } else {
        permits.acquire_owned().await
    }
    .map_err(|_| ApiError::storage_unavailable())?;
    let status = inline_results(state, status).await;
    let body = serde_json::to_vec(&status).map_err(|e| {
        tracing::error!(error = %e, "cannot serialise a status");
        ApiError::bad_request("The status could not be serialised.")
    })?;
    let mut res = Response::new(axum::body::Body::new(super::HeldBody::new(body, permit)));
    res.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    Ok(res)
}

async fn image_status(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (status, r2) = state.read(|h| h.image_status(&id)).await??;
    status_answer(&state, status, r2, true).await
}

async fn image_cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    match state.run(|h| h.cancel(&id, WorkerType::Image)).await? {
        CancelledStatus::Image(status, r2) => status_answer(&state, status, r2, false).await,
        CancelledStatus::Text(status) => Ok(Json(status).into_response()),
    }
}

async fn text_status(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let wait = long_poll::wait_of(query.as_deref())?;
    long_poll::answer(
        &state,
        wait,
        |h| h.text_status(&id),
        |s: &crate::api::TextStatus| (progress(&s.check), s.generations.len()),
        |s| s.check.done || s.check.faulted,
    )
    .await
}

async fn text_cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    match state.run(|h| h.cancel(&id, WorkerType::Text)).await? {
        CancelledStatus::Text(status) => Ok(Json(status).into_response()),
        CancelledStatus::Image(status, _) => Ok(Json(status).into_response()),
    }
}

async fn image_pop(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ApiKey(key): ApiKey,
    JsonBody(req): JsonBody<ImagePopRequest>,
) -> Result<Response, ApiError> {
    let caller = state.caller(key.as_deref(), false).await?;
    let ip = addr.ip().to_string();
    state
        .run(|h| h.pop_image(&caller, &req, Some(&ip)))
        .await
        .map(|r| Json(r).into_response())
}

async fn text_pop(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ApiKey(key): ApiKey,
    JsonBody(req): JsonBody<TextPopRequest>,
) -> Result<Response, ApiError> {
    let caller = state.caller(key.as_deref(), false).await?;
    let ip = addr.ip().to_string();
    state
        .run(|h| h.pop_text(&caller, &req, Some(&ip)))
        .await
        .map(|r| Json(r).into_response())
}

async fn image_submit(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    JsonBody(req): JsonBody<ImageSubmitRequest>,
) -> Result<Response, ApiError> {
    let caller = state.caller(key.as_deref(), false).await?;
    let generation = req.generation.as_deref().unwrap_or("");
    let faulted = req
        .state
        .as_ref()
        .is_some_and(|s| s == &crate::api::GenerationState::Faulted);
    if !faulted && !generation.is_empty() && generation != crate::api::R2_SUBMITTED {
        // An inline result: check the job takes it, then store it before the
        // submit is recorded, so a recorded result always has its image.
        let check = state
            .read(|h| h.check_image_submit(&caller, req.id.as_str()))
            .await??;
        let bytes = inline_image("generation", generation)?
            .ok_or_else(|| ApiError::bad_request("generation must be 'R2' or base64 WebP"))?;
        state.blobs.put(&check.blob, &bytes).await.map_err(|e| {
            tracing::error!(error = %e, "cannot store result");
            ApiError::storage_unavailable()
        })?;
    }
    let reward = state.run(|h| h.submit_image(&caller, &req)).await?;
    Ok(Json(SubmitResponse { reward }).into_response())
}

async fn text_submit(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    JsonBody(req): JsonBody<TextSubmitRequest>,
) -> Result<Response, ApiError> {
    let caller = state.caller(key.as_deref(), false).await?;
    let reward = state.run(|h| h.submit_text(&caller, &req)).await?;
    Ok(Json(SubmitResponse { reward }).into_response())
}
