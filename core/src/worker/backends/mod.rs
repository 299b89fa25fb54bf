//! Backends: what turns a popped [`Job`] into an [`Output`]. A backend is a
//! trait object, so a game can supply its own; the ones shipped here are
//!
//! - [`procedural::ProceduralImages`] — deterministic pictures from prompt and
//!   seed, for demos and tests (it runs no model);
//! - [`kobold::KoboldCpp`], [`llamacpp::LlamaCppServer`], [`openai::OpenAiCompletions`]
//!   — text bridges to local HTTP servers;
//! - [`a1111::Automatic1111`], [`comfyui::ComfyUi`] — image bridges;
//! - [`image_facts::ImageFacts`] — captions from image statistics (no model);
//! - [`channel::ChannelBackend`] — jobs handed to the game as events (the runtime uses it);
//! - `candle::CandleText` (feature `candle`) — in-process GGUF text models.
//!
//! [`choice::BackendConfig`] picks one of them from configuration.

pub mod a1111;
#[cfg(feature = "candle")]
pub mod candle;
pub mod channel;
pub mod choice;
pub mod comfyui;
mod http;
pub mod image_facts;
pub mod kobold;
pub mod llamacpp;
pub mod openai;
pub mod procedural;
pub mod samplers;

use std::future::Future;
use std::pin::Pin;

use super::job::{Job, Output, WorkKind};
use crate::client::CancelSignal;

/// Why a backend could not finish a job (the job is then submitted as faulted).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BackendError(pub String);

impl BackendError {
    /// An error with this message.
    pub fn new(why: impl Into<String>) -> Self {
        Self(why.into())
    }

    /// The job was cancelled (the game took its GPU back).
    pub fn cancelled() -> Self {
        Self("cancelled".into())
    }

    /// A job of a kind this backend does not do.
    pub fn wrong_kind(backend: &str, job: &Job) -> Self {
        Self(format!(
            "the {backend} backend does not do {} jobs",
            job.kind().as_str()
        ))
    }
}

/// A boxed future, so backends can be trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a backend offers, learned once when the worker starts (bridges ask
/// their server).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Offer {
    /// Models served (image and text); the worker pops for these.
    pub models: Vec<String>,
    /// Alchemy forms served.
    pub forms: Vec<crate::api::FormName>,
    /// Longest context the model reads (text), when the server says.
    pub max_context_length: Option<u32>,
}

/// Turns jobs into results.
///
/// `run` must give up promptly once `cancel` is set (answering
/// [`BackendError::cancelled`]); bridges also ask their server to stop.
pub trait Backend: Send + Sync {
    /// A short name for logs.
    fn name(&self) -> &str;
    /// The kind of jobs this backend does.
    fn kind(&self) -> WorkKind;
    /// Connects (bridges check their server is up) and says what it offers.
    fn offer(&self) -> BoxFuture<'_, Result<Offer, BackendError>>;
    /// The backend's own idea of its speed before any job ran, in the
    /// worker's units (pixel-steps per second for images, tokens per second
    /// for text); the worker replaces it with what it measures.
    fn speed_hint(&self) -> Option<f64> {
        None
    }
    /// Runs one job.
    fn run<'a>(
        &'a self,
        job: &'a Job,
        cancel: CancelSignal,
    ) -> BoxFuture<'a, Result<Output, BackendError>>;
}

/// Runs `work` unless `cancel` is set first; then runs `abort` (a bridge
/// telling its server to stop) and answers [`BackendError::cancelled`].
pub(crate) async fn cancellable_or<T>(
    cancel: CancelSignal,
    work: impl Future<Output = Result<T, BackendError>>,
    abort: impl Future<Output = ()>,
) -> Result<T, BackendError> {
    let out = cancellable(cancel, work).await;
    if out.as_ref().err() == Some(&BackendError::cancelled()) {
        abort.await;
    }
    out
}

/// The models an image bridge offers: the horde names of `checkpoints`
/// (each must be among the server's, as `is_local` says), or the server's
/// own names when nothing is mapped.
pub(crate) fn offered_models(
    checkpoints: &std::collections::BTreeMap<String, String>,
    local: Vec<String>,
    is_local: impl Fn(&str) -> bool,
) -> Result<Vec<String>, BackendError> {
    if checkpoints.is_empty() {
        return Ok(local);
    }
    for (horde, file) in checkpoints {
        if !is_local(file) {
            return Err(BackendError(format!(
                "checkpoint {file:?} (for {horde}) is not on the server"
            )));
        }
    }
    Ok(checkpoints.keys().cloned().collect())
}

/// Runs `work` unless `cancel` is set first.
pub(crate) async fn cancellable<T>(
    mut cancel: CancelSignal,
    work: impl Future<Output = Result<T, BackendError>>,
) -> Result<T, BackendError> {
    tokio::select! {
        r = work => r,
        () = cancel.cancelled() => Err(BackendError::cancelled()),
    }
}
