//! Text generation ("scribe") wire types: the async request and its `params`,
//! the status body (text has no `/check`), and the worker's pop and submit.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::common::{
    ExtraSourceImage, GenMetadata, GenerationState, PopCommon, RequestOptions, RequestStatusCheck,
    SkippedReasons, WorkerMessage,
};
use super::ids::{JobId, WorkerId};

/// Upstream's default number of tokens to generate.
pub const DEFAULT_MAX_LENGTH: u32 = 80;
/// Upstream's default context length.
pub const DEFAULT_MAX_CONTEXT_LENGTH: u32 = 2048;
/// Upstream's default `max_length` a text worker offers in its pop.
pub const DEFAULT_WORKER_MAX_LENGTH: u32 = 512;

/// Text generation settings: the request's `params`, relayed verbatim to the
/// worker (with `prompt` and `n: 1`). Every field is optional on the wire.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TextParams {
    /// Number of texts, 1–20 (in a pop payload: always 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// Context tokens, 80–1048576 (default 2048).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_context_length: Option<u32>,
    /// Tokens to generate, 16–4096 and ≤ `max_context_length` (default 80).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
    /// Repetition penalty, 1–3.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rep_pen: Option<f64>,
    /// Repetition penalty range, 0–4096.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rep_pen_range: Option<u32>,
    /// Repetition penalty slope, 0–10.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rep_pen_slope: Option<f64>,
    /// Stop at the first newline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub singleline: Option<bool>,
    /// Temperature, 0–5.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Tail-free sampling, 0–1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tfs: Option<f64>,
    /// Top-a sampling, 0–1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_a: Option<f64>,
    /// Top-k sampling, 0–200.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    /// Top-p sampling, 0.001–1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Typical sampling, 0–1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub typical: Option<f64>,
    /// Sampler order (at least 7 distinct entries when given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sampler_order: Option<Vec<u32>>,
    /// Ban the model's default bad-word ids.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_default_badwordsids: Option<bool>,
    /// Stop sequences (at most 128 unique, 2000 characters in total).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_sequence: Option<Vec<String>>,
    /// Min-p sampling, 0–1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_p: Option<f64>,
    /// Quadratic smoothing factor, 0–10.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smoothing_factor: Option<f64>,
    /// Dynamic temperature range, 0–5.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dynatemp_range: Option<f64>,
    /// Dynamic temperature exponent, 0–5.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dynatemp_exponent: Option<f64>,
    /// Input formatting: add a leading space.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frmtadsnsp: Option<bool>,
    /// Output formatting: collapse blank lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frmtrmblln: Option<bool>,
    /// Output formatting: remove special characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frmtrmspch: Option<bool>,
    /// Output formatting: trim incomplete sentences.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frmttriminc: Option<bool>,
}

impl TextParams {
    /// Number of texts (default 1).
    pub fn n(&self) -> u32 {
        self.n.unwrap_or(1)
    }
    /// Tokens to generate (default 80).
    pub fn max_length(&self) -> u32 {
        self.max_length.unwrap_or(DEFAULT_MAX_LENGTH)
    }
    /// Context tokens (default 2048).
    pub fn max_context_length(&self) -> u32 {
        self.max_context_length
            .unwrap_or(DEFAULT_MAX_CONTEXT_LENGTH)
    }
}

/// `POST /v2/generate/text/async`: request text.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TextGenerateRequest {
    /// The prompt.
    pub prompt: String,
    /// Generation settings (top-level settings are ignored upstream; they belong here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<TextParams>,
    /// Models, workers, billing and delivery options shared with image requests
    /// (`extra_source_images` is refused for text; `extra_slow_workers` is ignored).
    #[serde(flatten)]
    pub options: RequestOptions,
    /// Legacy softprompt; matches only workers listing it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub softprompt: Option<String>,
}

impl TextGenerateRequest {
    /// A request for `prompt` with every other field left to the server.
    pub fn new(prompt: impl Into<String>) -> Self {
        Self {
            prompt: prompt.into(),
            ..Self::default()
        }
    }
    /// The params, or the defaults when none were sent.
    pub fn params(&self) -> Cow<'_, TextParams> {
        match &self.params {
            Some(p) => Cow::Borrowed(p),
            None => Cow::Owned(TextParams::default()),
        }
    }
    /// Acceptable models (empty = any).
    pub fn models(&self) -> &[String] {
        self.options.models.as_deref().unwrap_or_default()
    }
}

/// One finished text in a status body.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TextGeneration {
    /// The generated text.
    pub text: String,
    /// The seed, as an integer.
    pub seed: i64,
    /// The job id (upstream omits it in text status bodies).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<JobId>,
    /// The worker's metadata.
    pub gen_metadata: Vec<GenMetadata>,
    /// The worker that made it.
    pub worker_id: WorkerId,
    /// That worker's name.
    pub worker_name: String,
    /// The model used.
    pub model: String,
    /// ok, censored or csam.
    pub state: GenerationState,
}

/// `GET|DELETE /v2/generate/text/status/{id}`: progress plus finished texts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TextStatus {
    /// Finished texts (always present, possibly empty).
    #[serde(default)]
    pub generations: Vec<TextGeneration>,
    /// Progress.
    #[serde(flatten)]
    pub check: RequestStatusCheck,
}

/// `POST /v2/generate/text/pop`: a scribe asks for work.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TextPopRequest {
    /// Name, models, threads, amount and the other fields every pop shares.
    #[serde(flatten)]
    pub common: PopCommon,
    /// Most tokens the worker generates (default 512).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
    /// Longest context the worker reads (default 2048).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_context_length: Option<u32>,
    /// Softprompts the worker has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub softprompts: Option<Vec<String>>,
}

impl TextPopRequest {
    /// Most tokens generated (default 512).
    pub fn max_length(&self) -> u32 {
        self.max_length.unwrap_or(DEFAULT_WORKER_MAX_LENGTH)
    }
    /// Longest context read (default 2048).
    pub fn max_context_length(&self) -> u32 {
        self.max_context_length
            .unwrap_or(DEFAULT_MAX_CONTEXT_LENGTH)
    }
}

/// The job a scribe receives: the prompt plus the request's params.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TextPopPayload {
    /// The prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// The request's settings (with `n: 1`).
    #[serde(flatten)]
    pub params: TextParams,
}

/// The answer to a text pop: a job, or `id: null`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TextPopResponse {
    /// The job's settings.
    pub payload: TextPopPayload,
    /// The first job's id; `null` when there is no work.
    pub id: Option<JobId>,
    /// All job ids of this batch.
    pub ids: Vec<JobId>,
    /// Moderator messages for this worker.
    pub messages: Vec<WorkerMessage>,
    /// Seconds the worker has to submit; `null` when there is no work.
    pub ttl: Option<u32>,
    /// Always `null` for text.
    pub extra_source_images: Option<Vec<ExtraSourceImage>>,
    /// Why nothing was found.
    pub skipped: SkippedReasons,
    /// Always `null` (softprompts are not relayed).
    pub softprompt: Option<String>,
    /// The model to use.
    pub model: Option<String>,
}

/// `POST /v2/generate/text/submit`: a scribe hands in one text.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextSubmitRequest {
    /// The job id.
    pub id: JobId,
    /// The generated text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<String>,
    /// ok, censored, faulted or csam (default ok).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<GenerationState>,
    /// The seed used (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// Metadata about the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gen_metadata: Option<Vec<GenMetadata>>,
}
