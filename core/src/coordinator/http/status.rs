//! Status and statistics routes: heartbeat, models, performance, modes, totals.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use super::AppState;
use super::extract::{ApiKey, JsonBody, bad_query};
use crate::api::{
    Heartbeat, HordeModes, ModelState, ModelStatsQuery, ModelsQuery, Rc, WorkerType, paths,
};
use crate::coordinator::error::ApiError;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(paths::HEARTBEAT, get(heartbeat))
        .route(paths::STATUS_MODELS, get(models))
        .route(paths::STATUS_MODEL, get(model))
        .route(paths::STATUS_PERFORMANCE, get(performance))
        .route(paths::STATUS_MODES, get(modes).put(set_modes))
        .route(
            paths::STATUS_NEWS,
            get(|State(s): State<AppState>| async move {
                s.read(|h| h.settings().news.clone()).await.map(Json)
            }),
        )
        .route(
            paths::STATS_IMG_TOTALS,
            get(|State(s): State<AppState>| async move { s.read(|h| h.image_totals()).await.map(Json) }),
        )
        .route(
            paths::STATS_TEXT_TOTALS,
            get(|State(s): State<AppState>| async move { s.read(|h| h.text_totals()).await.map(Json) }),
        )
        .route(
            paths::STATS_IMG_MODELS,
            get(
                |State(s): State<AppState>, q: Result<Query<ModelStatsQuery>, QueryRejection>| async move {
                    let Query(q) = q.map_err(bad_query)?;
                    check_model_state(q.model_state.as_ref())?;
                    s.read(|h| h.model_stats(WorkerType::Image)).await.map(Json)
                },
            ),
        )
        .route(
            paths::STATS_TEXT_MODELS,
            get(|State(s): State<AppState>| async move {
                s.read(|h| h.model_stats(WorkerType::Text)).await.map(Json)
            }),
        )
}

async fn heartbeat(State(state): State<AppState>) -> Result<Json<Heartbeat>, ApiError> {
    let (queue, threads) = state
        .read(|h| {
            let p = h.performance();
            (
                p.queued_requests + p.queued_text_requests,
                p.thread_count + p.text_thread_count + p.interrogator_thread_count,
            )
        })
        .await?;
    Ok(Json(Heartbeat {
        message: "OK".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        queue: Some(queue),
        threads: Some(threads),
        active_count: Some(queue),
        db_connection: Some(true),
    }))
}

async fn models(
    State(state): State<AppState>,
    q: Result<Query<ModelsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(bad_query)?;
    check_model_state(q.model_state.as_ref())?;
    Ok(Json(state.read(|h| h.active_models(&q)).await?).into_response())
}

/// Refuses a `model_state` other than known, custom or all, as upstream.
fn check_model_state(state: Option<&ModelState>) -> Result<(), ApiError> {
    match state {
        Some(ModelState::Other(_)) => Err(ApiError::bad_request(
            "'model_state' needs to be one of ['known', 'custom', 'all']",
        )),
        _ => Ok(()),
    }
}

async fn model(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    // Upstream routes on the decoded path, so a `%2F` in the name is a
    // path that matches no route there.
    if name.contains('/') {
        return Err(ApiError::new(
            Rc::Unknown("NotFound".into()),
            format!("No model named '{name}' can exist: model names have no '/'."),
        )
        .with_status(404));
    }
    let found = state
        .read(|h| {
            ["image", "text"]
                .into_iter()
                .flat_map(|kind| {
                    h.active_models(&ModelsQuery {
                        kind: Some(kind.into()),
                        ..Default::default()
                    })
                })
                .filter(|m| m.name == name)
                .collect::<Vec<_>>()
        })
        .await?;
    Ok(Json(found).into_response())
}

async fn performance(State(state): State<AppState>) -> Result<Response, ApiError> {
    Ok(Json(state.read(|h| h.performance()).await?).into_response())
}

async fn modes(State(state): State<AppState>) -> Result<Json<HordeModes>, ApiError> {
    Ok(Json(HordeModes {
        maintenance_mode: Some(state.read(|h| h.settings().maintenance_mode).await?),
        invite_only_mode: Some(false),
        raid_mode: None,
    }))
}

async fn set_modes(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    JsonBody(req): JsonBody<HordeModes>,
) -> Result<Response, ApiError> {
    let caller = state.caller(key.as_deref(), false).await?;
    let Some(on) = req.maintenance_mode else {
        return Err(ApiError::new(
            Rc::NoHordeModSelected,
            "No horde mode selected!",
        ));
    };
    let is_admin = state.read(|h| h.is_admin(caller.user_id())).await?;
    if !is_admin {
        return Err(ApiError::new(
            Rc::NotAdmin,
            "Only admins may switch maintenance mode.",
        ));
    }
    state.read(|h| h.set_maintenance(on)).await?;
    Ok(Json(HordeModes {
        maintenance_mode: Some(on),
        ..Default::default()
    })
    .into_response())
}
