//! Backends: what actually makes an image for a popped job. A backend is a
//! trait object so a game can supply its own; the built-in
//! [`procedural::ProceduralImages`] draws deterministic pictures from the
//! prompt and seed, for demos and tests (it runs no model).

pub mod procedural;

use std::future::Future;
use std::pin::Pin;

use crate::api::ImagePopResponse;

/// One image job as a backend sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageJob {
    /// The positive prompt.
    pub prompt: String,
    /// The negative prompt (after `###`), if any.
    pub negative: Option<String>,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Sampling steps.
    pub steps: u32,
    /// The seed of the first image; image `i` uses `seed + i`.
    pub seed: i64,
    /// Images to make.
    pub count: u32,
    /// The model asked for.
    pub model: String,
}

impl ImageJob {
    /// The job a pop answer describes, or `None` when the pop found no work.
    pub fn from_pop(pop: &ImagePopResponse) -> Option<Self> {
        pop.id.as_ref()?;
        let p = &pop.payload;
        let prompt = p.prompt.clone().unwrap_or_default();
        let (prompt, negative) = match prompt.split_once("###") {
            Some((pos, neg)) => (pos.trim().to_owned(), Some(neg.trim().to_owned())),
            None => (prompt, None),
        };
        Some(Self {
            prompt,
            negative,
            width: p.settings.width.unwrap_or(512),
            height: p.settings.height.unwrap_or(512),
            steps: p.ddim_steps.unwrap_or(30),
            seed: p.seed_number().unwrap_or(0),
            count: pop.ids.len().max(1) as u32,
            model: pop.model.clone().unwrap_or_default(),
        })
    }
}

/// One finished image.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageResult {
    /// The image as WebP.
    pub webp: Vec<u8>,
    /// The seed it was made with.
    pub seed: i64,
}

/// Why a backend could not finish a job (the job is then submitted as faulted).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BackendError(pub String);

/// A boxed future, so backends can be trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Makes images for image jobs.
pub trait ImageBackend: Send + Sync {
    /// A short name for logs and `bridge_agent`.
    fn name(&self) -> &str;
    /// Models this backend serves (what the worker offers in its pops).
    fn models(&self) -> Vec<String>;
    /// Makes the job's images, one per seed.
    fn generate<'a>(
        &'a self,
        job: &'a ImageJob,
    ) -> BoxFuture<'a, Result<Vec<ImageResult>, BackendError>>;
}
