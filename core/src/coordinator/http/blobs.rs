//! Blob routes: workers PUT results to the upload URL a pop handed out;
//! clients and workers GET results and source images.

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AppState;
use crate::api::Rc;
use crate::coordinator::blobs::valid_name;
use crate::coordinator::error::ApiError;

/// Where blobs are served, under `/api`.
pub const BLOBS: &str = "/v2/blobs/{name}";

pub(super) fn routes() -> Router<AppState> {
    Router::new().route(BLOBS, get(download).put(upload))
}

fn not_found(name: &str) -> ApiError {
    ApiError::new(
        Rc::Unknown("BlobNotFound".into()),
        format!("No stored image named '{name}'."),
    )
    .with_status(404)
}

async fn download(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    if !valid_name(&name) {
        return Err(not_found(&name));
    }
    match state.blobs.get(&name).await {
        Ok(Some(bytes)) => Ok(([(header::CONTENT_TYPE, "image/webp")], bytes).into_response()),
        Ok(None) => Err(not_found(&name)),
        Err(e) => {
            tracing::error!(error = %e, %name, "cannot read blob");
            Err(not_found(&name))
        }
    }
}

async fn upload(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let token = q.get("token").map(String::as_str).unwrap_or("");
    if !valid_name(&name) || !state.read(|h| h.upload_allowed(&name, token)).await? {
        return Err(ApiError::new(
            Rc::Forbidden,
            "This upload URL is not valid (wrong token, or the job is no longer in progress).",
        ));
    }
    if body.is_empty() {
        return Err(ApiError::bad_request("An upload needs a body."));
    }
    state.blobs.put(&name, &body).await.map_err(|e| {
        tracing::error!(error = %e, %name, "cannot store upload");
        ApiError::storage_unavailable()
    })?;
    Ok(StatusCode::OK.into_response())
}
