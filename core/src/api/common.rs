//! Wire types shared by several endpoint families: request warnings, job
//! metadata, submit states, worker messages, the `skipped` breakdown of an
//! empty pop, the common part of every pop request, and small bodies such as
//! `{"message": "OK"}` and `{"reward": …}`.

use serde::{Deserialize, Serialize};

use super::ids::{RequestId, WorkerId};

string_enum! {
    /// The code of a warning attached to an accepted request.
    pub enum WarningCode / Other {
        /// No live worker can serve the request (it stays queued).
        NoAvailableWorker => "NoAvailableWorker",
        /// A requested model expects another clip_skip.
        ClipSkipMismatch => "ClipSkipMismatch",
        /// Fewer steps than a requested model needs.
        StepsTooFew => "StepsTooFew",
        /// More steps than a requested model supports.
        StepsTooMany => "StepsTooMany",
        /// A requested model expects another cfg_scale.
        CfgScaleMismatch => "CfgScaleMismatch",
        /// cfg_scale below a requested model's minimum.
        CfgScaleTooSmall => "CfgScaleTooSmall",
        /// cfg_scale above a requested model's maximum.
        CfgScaleTooLarge => "CfgScaleTooLarge",
        /// A requested model expects another sampler.
        SamplerMismatch => "SamplerMismatch",
        /// A requested model expects another scheduler.
        SchedulerMismatch => "SchedulerMismatch",
    }
}

/// One warning attached to an accepted request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    /// What the warning is about.
    pub code: WarningCode,
    /// The warning in plain text.
    pub message: String,
}

/// The options image and text async requests share: which models and
/// workers may serve the request, how it is billed, and where results go.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestOptions {
    /// Acceptable models (images default to `["stable_diffusion"]`, text to any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<String>>,
    /// Trusted workers only (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_workers: Option<bool>,
    /// Validated text backends only (effective default false; ignored for images).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validated_backends: Option<bool>,
    /// Allow slow workers (default true; false costs more and is always upfront).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slow_workers: Option<bool>,
    /// Allow extra-slow workers (default false; ignored for text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_slow_workers: Option<bool>,
    /// Only these workers (at most 5), or none of them with `worker_blacklist`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workers: Option<Vec<WorkerId>>,
    /// Treat `workers` as a deny-list (images: costs ×1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_blacklist: Option<bool>,
    /// Extra source images (image remix only, at most 5; refused for text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_source_images: Option<Vec<ExtraSourceImage>>,
    /// Only return the kudos estimate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
    /// The account a service account proxies for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxied_account: Option<String>,
    /// One job per pop (n>1 needs trust).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_batching: Option<bool>,
    /// Shrink the request instead of failing the upfront-kudos check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_downgrade: Option<bool>,
    /// An https URL called per finished job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<String>,
    /// A style id or name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub style: Option<String>,
}

impl RequestOptions {
    /// Trusted workers only (default false).
    pub fn trusted_workers(&self) -> bool {
        self.trusted_workers.unwrap_or(false)
    }
    /// Slow workers allowed (default true).
    pub fn slow_workers(&self) -> bool {
        self.slow_workers.unwrap_or(true)
    }
    /// `workers` is a deny-list (default false).
    pub fn worker_blacklist(&self) -> bool {
        self.worker_blacklist.unwrap_or(false)
    }
    /// The named workers (none by default).
    pub fn workers(&self) -> &[WorkerId] {
        self.workers.as_deref().unwrap_or_default()
    }
    /// Estimate only (default false).
    pub fn dry_run(&self) -> bool {
        self.dry_run.unwrap_or(false)
    }
    /// Shrink instead of refusing (default false).
    pub fn allow_downgrade(&self) -> bool {
        self.allow_downgrade.unwrap_or(false)
    }
}

/// The answer to an accepted image or text async request (HTTP 202).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RequestAsyncResponse {
    /// The id to poll the request with.
    pub id: RequestId,
    /// For images, the rounded per-image base price; for text, 0 (text is priced per job).
    pub kudos: f64,
    /// Extra information, such as "no worker can serve this yet".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Machine-readable warnings (image requests only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warnings: Option<Vec<Warning>>,
}

/// The answer to a `dry_run` request (HTTP 200): the full kudos estimate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KudosEstimate {
    /// What the whole request is expected to cost.
    pub kudos: f64,
}

/// The progress of an image or text request: the body of `/generate/check`,
/// and the common part of every status body.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RequestStatusCheck {
    /// Jobs with a result.
    pub finished: u32,
    /// Jobs handed to a worker and not yet submitted.
    pub processing: u32,
    /// Jobs that timed out or were reported faulted, and were requeued.
    pub restarted: u32,
    /// Jobs not yet handed to a worker.
    pub waiting: u32,
    /// Whether the request is finished (successfully or not).
    pub done: bool,
    /// Whether the request failed for good.
    pub faulted: bool,
    /// Expected seconds until every job is done.
    pub wait_time: i64,
    /// 1-based position among requests still handing out jobs; 0 when none are left.
    pub queue_position: u32,
    /// Kudos consumed so far (rounded).
    pub kudos: f64,
    /// Whether some worker can serve this request.
    pub is_possible: bool,
}

/// The answer to a job submit: what the worker earned.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubmitResponse {
    /// Kudos earned by this job.
    pub reward: f64,
}

/// The plain `{"message": "OK"}` answer of delete-like endpoints.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimpleResponse {
    /// The outcome, usually `OK`.
    pub message: String,
}

impl SimpleResponse {
    /// The usual `{"message": "OK"}`.
    pub fn ok() -> Self {
        Self {
            message: "OK".to_owned(),
        }
    }
}

string_enum! {
    /// The state a worker reports for one finished job, and that status
    /// bodies report for each generation.
    pub enum GenerationState / Other default Ok {
        /// A normal result.
        Ok => "ok",
        /// The result was censored by the worker's safety check.
        Censored => "censored",
        /// The worker could not produce a result; the job is requeued.
        Faulted => "faulted",
        /// The worker detected CSAM; the result is censored and reported.
        Csam => "csam",
    }
}

string_enum! {
    /// What a `gen_metadata` entry is about.
    pub enum MetadataType / Other {
        /// A LoRA.
        Lora => "lora",
        /// A textual inversion.
        Ti => "ti",
        /// Censorship of the result.
        Censorship => "censorship",
        /// The source image.
        SourceImage => "source_image",
        /// The source mask.
        SourceMask => "source_mask",
        /// The extra source images.
        ExtraSourceImages => "extra_source_images",
        /// The index of the image in its batch.
        BatchIndex => "batch_index",
        /// Plain information.
        Information => "information",
        /// An aesthetic score.
        AestheticScore => "aesthetic_score",
    }
}

string_enum! {
    /// What happened to the thing a `gen_metadata` entry is about.
    pub enum MetadataValue / Other {
        /// It could not be downloaded.
        DownloadFailed => "download_failed",
        /// It could not be parsed.
        ParseFailed => "parse_failed",
        /// It does not match the model's baseline.
        BaselineMismatch => "baseline_mismatch",
        /// CSAM was detected.
        Csam => "csam",
        /// NSFW content was detected.
        Nsfw => "nsfw",
        /// See `ref`.
        SeeRef => "see_ref",
    }
}

/// One metadata entry a worker attaches to a job, returned as-is in status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenMetadata {
    /// What this entry is about.
    #[serde(rename = "type")]
    pub kind: MetadataType,
    /// What happened.
    pub value: MetadataValue,
    /// An optional reference (for example a LoRA id), at most 255 characters.
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// A moderator's message to a worker, carried along in every pop answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkerMessage {
    /// The message's id (absent in a worker's details).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// The worker it is for (in a worker's details).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker_id: Option<String>,
    /// The user who owns that worker, as a string (in a worker's details).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The text.
    pub message: String,
    /// Who sent it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// When it was sent (in a worker's details).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// When it expires (RFC 822 date).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiry: Option<String>,
}

/// Why an empty pop found nothing: for each reason, how many waiting requests
/// this worker was not eligible for. Upstream sends only the keys it counted
/// (`{}` when a job was found), so every key is optional.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SkippedReasons {
    /// Requests that named other workers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker_id: Option<u64>,
    /// Requests that need a faster worker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub performance: Option<u64>,
    /// NSFW requests (this worker is SFW).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nsfw: Option<u64>,
    /// Requests whose prompt has a word this worker refuses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blacklist: Option<u64>,
    /// Requests that want trusted workers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub untrusted: Option<u64>,
    /// Requests for models this worker does not serve.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub models: Option<u64>,
    /// Requests that need a bridge capability this worker lacks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bridge_version: Option<u64>,
    /// Requests whose owner lacks the upfront kudos this worker requires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kudos: Option<u64>,
    /// Image: requests larger than `max_pixels`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_pixels: Option<u64>,
    /// Image: requests from unsafe IPs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unsafe_ip: Option<u64>,
    /// Image: img2img requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub img2img: Option<u64>,
    /// Image: inpainting/outpainting requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub painting: Option<u64>,
    /// Image: requests with post-processing.
    #[serde(rename = "post-processing", skip_serializing_if = "Option::is_none")]
    pub post_processing: Option<u64>,
    /// Image: requests with LoRAs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lora: Option<u64>,
    /// Image: requests with ControlNet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub controlnet: Option<u64>,
    /// Image: requests with more steps than this worker allows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_count: Option<u64>,
    /// Text: requests with a longer context than this worker reads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_context_length: Option<u64>,
    /// Text: requests for more tokens than this worker generates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u64>,
    /// Text: requests for a softprompt this worker lacks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matching_softprompt: Option<u64>,
}

/// The fields every image and text pop request shares.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PopCommon {
    /// The worker's name, unique across the horde; the first pop creates the worker.
    pub name: String,
    /// Users (`alias#id`) whose requests this worker serves first, after its owner's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_usernames: Option<Vec<String>>,
    /// Whether the worker accepts NSFW requests (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nsfw: Option<bool>,
    /// The models this worker serves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<String>>,
    /// `name:version:url` of the worker software.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge_agent: Option<String>,
    /// Concurrent jobs the worker runs (1–50, default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<u32>,
    /// Take only requests whose owner has the kudos upfront (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_upfront_kudos: Option<bool>,
    /// Jobs to take at once (1–20, default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<u32>,
    /// Whether this worker is extra slow (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_slow_worker: Option<bool>,
}

impl PopCommon {
    /// Whether the worker accepts NSFW requests (upstream default: true).
    pub fn nsfw(&self) -> bool {
        self.nsfw.unwrap_or(true)
    }
    /// The bridge agent, or `unknown:0:unknown` when none was sent.
    pub fn bridge_agent(&self) -> &str {
        self.bridge_agent
            .as_deref()
            .unwrap_or(super::UNKNOWN_CLIENT_AGENT)
    }
    /// Concurrent jobs (default 1).
    pub fn threads(&self) -> u32 {
        self.threads.unwrap_or(1)
    }
    /// Jobs to take at once (default 1).
    pub fn amount(&self) -> u32 {
        self.amount.unwrap_or(1)
    }
    /// The models served (none when not sent).
    pub fn models(&self) -> &[String] {
        self.models.as_deref().unwrap_or_default()
    }
}

/// An extra source image (Stable Cascade remix).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExtraSourceImage {
    /// The image as base64 WebP or a URL.
    pub image: String,
    /// How strongly to use it (default 1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strength: Option<f64>,
}
