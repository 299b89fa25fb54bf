//! The HTTP face of the coordinator: an axum router under `/api` with one
//! module per API area, plus `/metrics`. Handlers authenticate, run one
//! operation on the [`Horde`] under its lock, hand the changed records to
//! storage in order, and answer only once those are durable.

mod accounts;
mod blobs;
pub mod connections;
pub mod extract;
mod generate;
mod interrogate;
pub mod limits;
pub mod long_poll;
pub mod metrics;
mod status;
mod workers;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use tower_http::cors::{Any, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;

use super::blobs::BlobStore;
use super::error::ApiError;
use super::horde::{Caller, Horde};
use super::store::{Store, StoreError};
use super::turns::{Joined, Turns};
use crate::api::Rc;

/// Everything a handler reaches.
pub struct App {
    /// The horde's state.
    pub horde: Mutex<Horde>,
    /// Durable storage.
    pub store: Arc<dyn Store>,
    /// Result and source images.
    pub blobs: BlobStore,
    /// Rate limits.
    pub limits: limits::Limiter,
    /// Request counters for `/metrics`.
    pub metrics: metrics::Metrics,
    /// Turn-taking, when other processes share the store.
    pub turns: Option<Turns>,
    /// Permits for `r2: false` answers held in memory
    /// ([`connections::ConnectionLimits::max_inline_answers`]).
    pub inline_answers: Arc<tokio::sync::Semaphore>,
    /// Bumped after every durable change: wakes held status answers
    /// ([`long_poll`]).
    pub changes: tokio::sync::watch::Sender<u64>,
    /// Permits for held status answers ([`long_poll::MAX_LONG_POLLS`]).
    pub long_polls: Arc<tokio::sync::Semaphore>,
    /// Set when the server shuts down: held answers are given at once.
    pub closing: std::sync::atomic::AtomicBool,
}

/// A response body that holds a permit until it is dropped: sent whole,
/// or abandoned with its connection.
pub struct HeldBody {
    data: Option<bytes::Bytes>,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl HeldBody {
    /// `data`, holding `permit` for as long as it lives.
    pub fn new(data: Vec<u8>, permit: tokio::sync::OwnedSemaphorePermit) -> Self {
        Self {
            data: (!data.is_empty()).then(|| data.into()),
            _permit: permit,
        }
    }
}

impl hyper::body::Body for HeldBody {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, Self::Error>>> {
        // In slices: hyper asks for the next one only once the last was
        // written out, so the permit is held while the client reads.
        const SLICE: usize = 64 * 1024;
        let Some(data) = self.data.as_mut() else {
            return std::task::Poll::Ready(None);
        };
        let slice = data.split_to(data.len().min(SLICE));
        if data.is_empty() {
            self.data = None;
        }
        std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(slice))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::SizeHint::with_exact(self.data.as_ref().map_or(0, |d| d.len() as u64))
    }
}

/// Shared handle to the [`App`].
pub type AppState = Arc<App>;

fn storage_unavailable(e: StoreError) -> ApiError {
    tracing::error!(error = %e, "storage failed");
    ApiError::storage_unavailable()
}

impl App {
    /// The state of a horde on `store` (turn-taking included when the store
    /// is shared).
    pub fn new(
        horde: Horde,
        store: Arc<dyn Store>,
        blobs: BlobStore,
        limits: limits::Limiter,
    ) -> Self {
        Self {
            horde: Mutex::new(horde),
            turns: store.is_shared().then(|| Turns::new(store.clone())),
            store,
            blobs,
            limits,
            metrics: metrics::Metrics::default(),
            inline_answers: Arc::new(tokio::sync::Semaphore::new(
                connections::ConnectionLimits::default().max_inline_answers,
            )),
            changes: tokio::sync::watch::Sender::new(0),
            long_polls: Arc::new(tokio::sync::Semaphore::new(long_poll::MAX_LONG_POLLS)),
            closing: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Runs `op` on the horde, queues the records it changed (in the order
    /// of operations, under the lock), then waits until they are durable.
    pub async fn run<T>(
        &self,
        op: impl FnOnce(&mut Horde) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let Joined {
            out,
            ticket,
            dead_blobs,
        } = match &self.turns {
            Some(turns) => turns
                .change(&self.horde, op)
                .await
                .map_err(storage_unavailable)?,
            None => {
                let mut horde = self.horde.lock();
                let out = op(&mut horde);
                let (changes, dead_blobs) = horde.take_changes();
                Joined {
                    out,
                    ticket: self.store.submit(changes),
                    dead_blobs,
                }
            }
        };
        if let Err(e) = ticket.durable().await {
            self.rebuild_after_failure();
            return Err(storage_unavailable(e));
        }
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
        for blob in dead_blobs {
            if let Err(e) = self.blobs.delete(&blob).await {
                tracing::warn!(%blob, error = %e, "could not delete blob");
            }
        }
        out
    }

    /// After a failed commit: rebuilds memory from the database, so that
    /// what storage refused is undone and every caller it was refused for
    /// is told the truth ("nothing was changed"). Until that succeeds the
    /// store keeps refusing changes (see [`Store::failed`]). A shared store
    /// rebuilds in its turns instead.
    fn rebuild_after_failure(&self) {
        if self.turns.is_some() {
            return;
        }
        let mut horde = self.horde.lock();
        if !self.store.failed() {
            return; // rebuilt already, by the first caller to notice
        }
        match self.store.load() {
            Ok(rows) => match horde.reload(rows) {
                Ok(()) => {
                    self.store.recover();
                    tracing::warn!("memory rebuilt from the database after a failed commit");
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot rebuild memory after a failed commit")
                }
            },
            Err(e) => tracing::error!(error = %e, "cannot read the database after a failed commit"),
        }
    }

    /// Answers every held status answer now (the server is shutting down).
    pub fn close_long_polls(&self) {
        self.closing
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Reads the horde without changing it, once it holds everything
    /// committed before the call (by any process sharing the store).
    pub async fn read<T>(&self, op: impl FnOnce(&mut Horde) -> T) -> Result<T, ApiError> {
        match &self.turns {
            Some(turns) => turns
                .read(&self.horde, op)
                .await
                .map_err(storage_unavailable),
            None => Ok(op(&mut self.horde.lock())),
        }
    }

    /// Takes in a user the operator added (`horde user add`) while this
    /// server ran, so that it can be looked up and paid before its first
    /// request. A no-op for users already known.
    pub async fn adopt_stored_user(&self, id: u64) {
        if self.horde.lock().knows_user(id) {
            return;
        }
        let store = self.store.clone();
        let found = tokio::task::spawn_blocking(move || store.user_by_id(id))
            .await
            .ok()
            .and_then(Result::ok)
            .flatten();
        if let Some(body) = found
            && let Err(e) = self.horde.lock().adopt_user(&body)
        {
            tracing::error!(id, error = %e, "stored user is unreadable");
        }
    }

    /// Authenticates an `apikey` header; keys of users added by the operator
    /// while the server runs are found in storage on first use. On a shared
    /// store the check sees every key change committed before the call.
    pub async fn caller(&self, apikey: Option<&str>, shared_ok: bool) -> Result<Caller, ApiError> {
        let err = match self.read(|h| h.authenticate(apikey, shared_ok)).await? {
            Ok(c) => return Ok(c),
            Err(e) => e,
        };
        let Some(key) = apikey.filter(|_| err.rc() == Some(&Rc::InvalidAPIKey)) else {
            return Err(err);
        };
        let hash = self.horde.lock().key_hash(key);
        let store = self.store.clone();
        let found = tokio::task::spawn_blocking(move || store.user_by_key_hash(&hash))
            .await
            .ok()
            .and_then(Result::ok)
            .flatten();
        match found {
            Some(body) => {
                let mut horde = self.horde.lock();
                if let Err(e) = horde.adopt_user(&body) {
                    tracing::error!(error = %e, "stored user is unreadable");
                }
                horde.authenticate(apikey, shared_ok)
            }
            None => Err(err),
        }
    }
}

async fn not_found() -> Response {
    ApiError {
        status: 404,
        body: crate::api::ErrorBody::new(Rc::Unknown("NotFound".into()), "No such endpoint."),
    }
    .into_response()
}

/// The route template a request matched (`/api/v2/generate/check/{id}`),
/// handed from [`guard`] to [`edge`] on the response.
#[derive(Clone)]
struct RouteLabel(axum::extract::MatchedPath);

/// Runs on every matched route, before its handler: rate limits, keyed by
/// client and route template (never by the raw path, so unique paths make
/// no new keys), and the route's label for metrics.
async fn guard(
    axum::extract::State(state): axum::extract::State<AppState>,
    axum::extract::ConnectInfo(addr): axum::extract::ConnectInfo<std::net::SocketAddr>,
    matched: axum::extract::MatchedPath,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let mut res = match limits::check(&state.limits, &req, matched.as_str(), addr) {
        Err(e) => e.into_response(),
        Ok(()) => next.run(req).await,
    };
    res.extensions_mut().insert(RouteLabel(matched));
    res
}

/// The one middleware every request passes, matched or not: errors made
/// outside our handlers (a path that does not decode, a body over the
/// limit, a wrong method) become `{message, rc}` JSON like every other,
/// then the answer is counted for metrics under its route template.
async fn edge(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let method = req.method().clone();
    let mut res = next.run(req).await;
    let route = res.extensions_mut().remove::<RouteLabel>();
    if res.status().as_u16() >= 400 && !is_json(&res) {
        res = as_json_error(res).await;
    }
    let route = route.as_ref().map_or("unmatched", |r| r.0.as_str());
    state.metrics.count(&method, route, res.status().as_u16());
    res
}

fn is_json(res: &Response) -> bool {
    res.headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// Rewrites a plain-text error (an axum rejection) as `{message, rc}`.
async fn as_json_error(res: Response) -> Response {
    let status = res.status();
    let text = match axum::body::to_bytes(res.into_body(), 4096).await {
        Ok(b) => String::from_utf8_lossy(&b).trim().to_owned(),
        Err(_) => String::new(),
    };
    let rc = match status {
        StatusCode::NOT_FOUND => "NotFound",
        StatusCode::METHOD_NOT_ALLOWED => "MethodNotAllowed",
        StatusCode::PAYLOAD_TOO_LARGE => "PayloadTooLarge",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "UnsupportedMediaType",
        StatusCode::REQUEST_TIMEOUT => "RequestTimeout",
        s if s.is_server_error() => "ServerError",
        _ => "BadRequest",
    };
    let message = match (status, text.is_empty()) {
        (StatusCode::METHOD_NOT_ALLOWED, _) => "This method is not allowed here.".to_owned(),
        (_, true) => status.canonical_reason().unwrap_or("Error").to_owned(),
        (_, false) => text,
    };
    ApiError {
        status: status.as_u16(),
        body: crate::api::ErrorBody::new(Rc::Unknown(rc.into()), message),
    }
    .into_response()
}

/// The whole router, `/api/v2/...` and `/metrics`.
pub fn router(app: AppState, max_body_bytes: usize) -> Router {
    let node = HeaderValue::from_str(&format!("horde-rs:{}", env!("CARGO_PKG_VERSION")))
        .unwrap_or(HeaderValue::from_static("horde-rs"));
    let api = Router::new()
        .merge(generate::routes())
        .merge(interrogate::routes())
        .merge(accounts::routes())
        .merge(workers::routes())
        .merge(status::routes())
        .merge(blobs::routes());
    Router::new()
        .nest("/api", api)
        .route("/metrics", axum::routing::get(metrics::handler))
        .route_layer(axum::middleware::from_fn_with_state(app.clone(), guard))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(app.clone(), edge))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("horde-node"),
            node,
        ))
        .layer(
            CorsLayer::new()
                .allow_origin(Any)
                .allow_methods(Any)
                .allow_headers(Any),
        )
        .with_state(app)
}
