//! Account routes: find_user, users, shared keys, kudos transfers.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};

use super::AppState;
use super::extract::{ApiKey, IdempotencyKey, JsonBody, bad_query};
use crate::api::{
    KudosTransferRequest, KudosTransferResponse, ModifyUserRequest, Rc, SharedKeyInput,
    SimpleResponse, UserSort, UsersQuery, paths,
};
use crate::coordinator::error::ApiError;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(paths::FIND_USER, get(find_user))
        .route(paths::USERS, get(list_users))
        .route(paths::USER, get(user).put(modify_user))
        .route(paths::KUDOS_TRANSFER, post(transfer))
        .route(paths::SHARED_KEYS, put(create_key))
        .route(
            paths::SHARED_KEY,
            get(key).patch(modify_key).delete(delete_key),
        )
}

fn user_id(raw: &str) -> Result<u64, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::new(Rc::UserNotFound, format!("User with ID '{raw}' not found.")))
}

async fn find_user(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
) -> Result<Response, ApiError> {
    // As upstream: a key that names nobody is "not found" here (404), not
    // "invalid" (401); no key at all stays 401.
    let caller = match state.caller(key.as_deref(), true).await {
        Err(e)
            if e.rc() == Some(&Rc::InvalidAPIKey)
                && key.as_deref().is_some_and(|k| !k.is_empty()) =>
        {
            return Err(ApiError::new(
                Rc::UserNotFound,
                "No user matching the sent API key was found.",
            ));
        }
        // As upstream: a deleted account still finds itself (`deleted: true`).
        Err(e) if e.rc() == Some(&Rc::DeletedUser) => {
            let key = key.unwrap_or_default();
            return state
                .read(|h| match h.deleted_account_of(&key) {
                    Some(id) => h.user_view(id, 1),
                    None => Err(e),
                })
                .await?
                .map(|u| Json(u).into_response());
        }
        other => other?,
    };
    state
        .read(|h| h.find_user(&caller))
        .await?
        .map(|u| Json(u).into_response())
}

async fn list_users(
    State(state): State<AppState>,
    q: Result<Query<UsersQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(bad_query)?;
    let sort = q.sort.unwrap_or(UserSort::Kudos);
    let users = state
        .read(|h| h.list_users(q.page.unwrap_or(1), &sort))
        .await?;
    Ok(Json(users.iter().map(as_listed).collect::<Vec<_>>()).into_response())
}

/// A user as upstream's list shows it: its model is marshalled without
/// leaving out empty fields, so the privileged ones are there as `null`
/// and the maps as `{}`.
fn as_listed(user: &crate::api::UserDetails) -> serde_json::Value {
    let mut v = serde_json::to_value(user).unwrap_or_default();
    if let Some(map) = v.as_object_mut() {
        for key in [
            "evaluating_kudos",
            "worker_ids",
            "sharedkey_ids",
            "vpn",
            "special",
            "suspicious",
            "contact",
            "admin_comment",
            "proxy_passkey",
        ] {
            map.entry(key).or_insert(serde_json::Value::Null);
        }
        for key in ["active_generations", "monthly_kudos"] {
            map.entry(key).or_insert_with(|| serde_json::json!({}));
        }
    }
    v
}

async fn user(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    let id = user_id(&raw)?;
    state.adopt_stored_user(id).await;
    let caller = match key.as_deref() {
        Some(k) => state.caller(Some(k), false).await.ok(),
        None => None,
    };
    state
        .read(|h| {
            let privilege = h.privilege(caller.as_ref(), id);
            h.user_view(id, privilege)
        })
        .await?
        .map(|u| Json(u).into_response())
}

async fn modify_user(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    Path(raw): Path<String>,
    JsonBody(req): JsonBody<ModifyUserRequest>,
) -> Result<Response, ApiError> {
    let caller = state.caller(key.as_deref(), false).await?;
    let id = user_id(&raw)?;
    state.adopt_stored_user(id).await;
    state
        .run(|h| h.modify_user(&caller, id, &req))
        .await
        .map(|r| Json(r).into_response())
}

async fn transfer(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    IdempotencyKey(idem): IdempotencyKey,
    JsonBody(req): JsonBody<KudosTransferRequest>,
) -> Result<Response, ApiError> {
    let caller = state.caller(key.as_deref(), false).await?;
    if let Some(id) = req
        .username
        .rsplit_once('#')
        .and_then(|(_, id)| id.parse::<u64>().ok())
    {
        state.adopt_stored_user(id).await;
    }
    let transferred = state
        .run(|h| h.transfer(&caller, &req, idem.as_deref()))
        .await?;
    Ok(Json(KudosTransferResponse { transferred }).into_response())
}

async fn create_key(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    JsonBody(req): JsonBody<SharedKeyInput>,
) -> Result<Response, ApiError> {
    let caller = state.caller(key.as_deref(), false).await?;
    state
        .run(|h| h.create_shared_key(&caller, &req))
        .await
        .map(|k| Json(k).into_response())
}

async fn key(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    state
        .read(|h| h.shared_key_view(&id))
        .await?
        .map(|k| Json(k).into_response())
}

async fn modify_key(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<SharedKeyInput>,
) -> Result<Response, ApiError> {
    let caller = state.caller(key.as_deref(), false).await?;
    state
        .run(|h| h.modify_shared_key(&caller, &id, &req))
        .await
        .map(|k| Json(k).into_response())
}

async fn delete_key(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let caller = state.caller(key.as_deref(), false).await?;
    state.run(|h| h.delete_shared_key(&caller, &id)).await?;
    Ok(Json(SimpleResponse::ok()).into_response())
}
