//! Image generation ("dreamer") wire types: the async request and its
//! `params`, the status body, and the worker's pop and submit.
//!
//! Note the seed: a string in requests, pop payloads and status bodies, an
//! integer in the worker's submit — exactly as upstream.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::common::{
    ExtraSourceImage, GenMetadata, GenerationState, PopCommon, RequestOptions, RequestStatusCheck,
    SkippedReasons, WorkerMessage,
};
use super::ids::{JobId, WorkerId};

string_enum! {
    /// A sampler name as the horde spells it.
    pub enum Sampler / Other {
        /// LMS.
        KLms => "k_lms",
        /// Heun (second order: counts double).
        KHeun => "k_heun",
        /// Euler.
        KEuler => "k_euler",
        /// Euler ancestral (the default).
        KEulerA => "k_euler_a",
        /// DPM2 (second order).
        KDpm2 => "k_dpm_2",
        /// DPM2 ancestral (second order).
        KDpm2A => "k_dpm_2_a",
        /// DPM fast.
        KDpmFast => "k_dpm_fast",
        /// DPM adaptive (chooses its own steps).
        KDpmAdaptive => "k_dpm_adaptive",
        /// DPM++ 2S ancestral (second order).
        KDpmpp2sA => "k_dpmpp_2s_a",
        /// DPM++ 2M.
        KDpmpp2m => "k_dpmpp_2m",
        /// DPM-Solver.
        Dpmsolver => "dpmsolver",
        /// DPM++ SDE (second order).
        KDpmppSde => "k_dpmpp_sde",
        /// DDIM.
        Ddim => "DDIM",
        /// Latent consistency.
        Lcm => "lcm",
    }
}

impl Sampler {
    /// Second-order samplers run two model evaluations per step, so pricing
    /// and step limits count their steps double.
    pub fn is_second_order(&self) -> bool {
        matches!(
            self,
            Self::KHeun | Self::KDpm2 | Self::KDpm2A | Self::KDpmpp2sA | Self::KDpmppSde
        )
    }
}

string_enum! {
    /// A post-processor (also an alchemy form of the same name).
    pub enum PostProcessor / Other {
        /// GFPGAN face fixer.
        Gfpgan => "GFPGAN",
        /// GFPGAN 1.3 face fixer.
        GfpganV13 => "GFPGANv1.3",
        /// CodeFormers face fixer.
        CodeFormers => "CodeFormers",
        /// RestoreFormer face fixer.
        RestoreFormer => "RestoreFormer",
        /// RealESRGAN ×4 upscaler.
        RealEsrganX4plus => "RealESRGAN_x4plus",
        /// RealESRGAN ×2 upscaler.
        RealEsrganX2plus => "RealESRGAN_x2plus",
        /// RealESRGAN ×4 anime upscaler.
        RealEsrganX4plusAnime6b => "RealESRGAN_x4plus_anime_6B",
        /// NMKD Siax upscaler.
        NmkdSiax => "NMKD_Siax",
        /// 4x AnimeSharp upscaler.
        AnimeSharp4x => "4x_AnimeSharp",
        /// 4x Nomos8kSC upscaler.
        Nomos8kSc4x => "4xNomos8kSC",
        /// 4x LSDIRplus upscaler.
        LsdirPlus4x => "4xLSDIRplus",
        /// 4x NomosWebPhoto RealPLKSR upscaler.
        NomosWebPhotoRealPlksr4x => "4xNomosWebPhoto_RealPLKSR",
        /// 4x Nomos2 realplksr dysample upscaler.
        Nomos2RealplksrDysample4x => "4xNomos2_realplksr_dysample",
        /// 4x Nomos2 hq dat2 upscaler.
        Nomos2HqDat2x4 => "4xNomos2_hq_dat2",
        /// 2x ModernSpanimation upscaler.
        ModernSpanimationV1x2 => "2xModernSpanimationV1",
        /// Background removal.
        StripBackground => "strip_background",
    }
}

impl PostProcessor {
    /// Whether this post-processor is an upscaler (at most one per request).
    pub fn is_upscaler(&self) -> bool {
        matches!(
            self,
            Self::RealEsrganX4plus
                | Self::RealEsrganX2plus
                | Self::RealEsrganX4plusAnime6b
                | Self::NmkdSiax
                | Self::AnimeSharp4x
                | Self::Nomos8kSc4x
                | Self::LsdirPlus4x
                | Self::NomosWebPhotoRealPlksr4x
                | Self::Nomos2RealplksrDysample4x
                | Self::Nomos2HqDat2x4
                | Self::ModernSpanimationV1x2
        )
    }

    /// Whether this post-processor fixes faces.
    pub fn is_face_fixer(&self) -> bool {
        matches!(
            self,
            Self::Gfpgan | Self::GfpganV13 | Self::CodeFormers | Self::RestoreFormer
        )
    }
}

string_enum! {
    /// A ControlNet type.
    pub enum ControlType / Other {
        /// Canny edges.
        Canny => "canny",
        /// HED edges.
        Hed => "hed",
        /// Depth map.
        Depth => "depth",
        /// Normal map.
        Normal => "normal",
        /// OpenPose skeleton.
        Openpose => "openpose",
        /// Segmentation.
        Seg => "seg",
        /// Scribble.
        Scribble => "scribble",
        /// Fake scribbles.
        Fakescribbles => "fakescribbles",
        /// Hough lines.
        Hough => "hough",
    }
}

string_enum! {
    /// How a source image is used.
    pub enum SourceProcessing / Other default Img2img {
        /// Image to image (the default).
        Img2img => "img2img",
        /// Inpainting.
        Inpainting => "inpainting",
        /// Outpainting.
        Outpainting => "outpainting",
        /// Remix (Stable Cascade only).
        Remix => "remix",
    }
}

/// A LoRA to apply.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Lora {
    /// The exact name or CivitAI id (1–255 characters).
    pub name: String,
    /// Strength on the model (−5..5, default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<f64>,
    /// Strength on CLIP (−5..5, default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip: Option<f64>,
    /// A trigger to look for and inject (1–30 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inject_trigger: Option<String>,
    /// Whether `name` is a CivitAI version id (then it must be numeric).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_version: Option<bool>,
}

/// A textual inversion to apply.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TextualInversion {
    /// The exact name or CivitAI id (1–255 characters).
    pub name: String,
    /// Where to inject it: `prompt` or `negprompt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inject_ti: Option<String>,
    /// Strength (−5..5, default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strength: Option<f64>,
}

/// A text and its reference for the `qr_code` workflow.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtraText {
    /// The text.
    pub text: String,
    /// What the text is for.
    pub reference: String,
}

/// The generation settings both the request's `params` and the worker's pop
/// payload carry. Every field is optional on the wire.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImageSettings {
    /// Sampler (default `k_euler_a`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sampler_name: Option<Sampler>,
    /// Classifier-free guidance, 0–100 with at most two decimals.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cfg_scale: Option<f64>,
    /// img2img strength, 0.01–1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub denoising_strength: Option<f64>,
    /// hires-fix second pass strength, 0.01–1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hires_fix_denoising_strength: Option<f64>,
    /// Seed as text (hashed when not numeric); random per image when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<String>,
    /// Height in pixels, 64–3072, a multiple of 64 (default 512).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Width in pixels, 64–3072, a multiple of 64 (default 512).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Post-processors in the order they run (unique; at most one upscaler).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post_processing: Option<Vec<PostProcessor>>,
    /// Karras noise schedule (default true).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub karras: Option<bool>,
    /// Seamless tiling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tiling: Option<bool>,
    /// Generate at base resolution, then upscale and refine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hires_fix: Option<bool>,
    /// CLIP layers to skip, 1–12.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clip_skip: Option<u32>,
    /// ControlNet type (needs a source image).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub control_type: Option<ControlType>,
    /// The source image already is the control map.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_is_control: Option<bool>,
    /// Return the control map instead of an image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_control_map: Option<bool>,
    /// Face fixer strength, 0–1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub facefixer_strength: Option<f64>,
    /// LoRAs (at most 5).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loras: Option<Vec<Lora>>,
    /// Textual inversions (at most 20).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tis: Option<Vec<TextualInversion>>,
    /// Special payload for special users.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub special: Option<serde_json::Map<String, serde_json::Value>>,
    /// Texts for the `qr_code` workflow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_texts: Option<Vec<ExtraText>>,
    /// A named workflow such as `qr_code`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
    /// Transparent background (SD1.5/SDXL txt2img).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transparent: Option<bool>,
}

/// The `params` of an image async request.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageParams {
    /// Settings shared with the pop payload.
    #[serde(flatten)]
    pub settings: ImageSettings,
    /// Seed increment between images of one request, 1–1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed_variation: Option<u32>,
    /// Sampling steps, 1–500 (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<u32>,
    /// Number of images, 1–20 (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
}

/// Upstream's default image size, per side.
pub const DEFAULT_IMAGE_SIZE: u32 = 512;
/// Upstream's default step count.
pub const DEFAULT_IMAGE_STEPS: u32 = 30;
/// Upstream's default cfg_scale for requests (the request parser's default).
pub const DEFAULT_CFG_SCALE: f64 = 5.0;

impl ImageParams {
    /// Width in pixels (default 512).
    pub fn width(&self) -> u32 {
        self.settings.width.unwrap_or(DEFAULT_IMAGE_SIZE)
    }
    /// Height in pixels (default 512).
    pub fn height(&self) -> u32 {
        self.settings.height.unwrap_or(DEFAULT_IMAGE_SIZE)
    }
    /// Steps (default 30).
    pub fn steps(&self) -> u32 {
        self.steps.unwrap_or(DEFAULT_IMAGE_STEPS)
    }
    /// Number of images (default 1).
    pub fn n(&self) -> u32 {
        self.n.unwrap_or(1)
    }
    /// Sampler (default `k_euler_a`).
    pub fn sampler(&self) -> Sampler {
        self.settings
            .sampler_name
            .clone()
            .unwrap_or(Sampler::KEulerA)
    }
    /// cfg_scale (default 5.0).
    pub fn cfg_scale(&self) -> f64 {
        self.settings.cfg_scale.unwrap_or(DEFAULT_CFG_SCALE)
    }
    /// Karras schedule (default true).
    pub fn karras(&self) -> bool {
        self.settings.karras.unwrap_or(true)
    }
    /// Post-processors (none by default).
    pub fn post_processing(&self) -> &[PostProcessor] {
        self.settings.post_processing.as_deref().unwrap_or_default()
    }
}

/// `POST /v2/generate/async`: request images.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageGenerateRequest {
    /// The prompt; a negative prompt follows `###`.
    pub prompt: String,
    /// Generation settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<ImageParams>,
    /// Models, workers, billing and delivery options shared with text requests.
    #[serde(flatten)]
    pub options: RequestOptions,
    /// NSFW allowed; only NSFW workers pick it up (default **true**, though the schema says false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nsfw: Option<bool>,
    /// Censor accidental NSFW in an SFW request (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub censor_nsfw: Option<bool>,
    /// Source image for img2img/inpainting (base64 WebP or URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_image: Option<String>,
    /// How to use the source image (default img2img).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_processing: Option<SourceProcessing>,
    /// Inpainting mask (needs a source image).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_mask: Option<String>,
    /// Results as download URLs (true, the default) or inline base64 WebP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r2: Option<bool>,
    /// Share with LAION (ignored: always false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared: Option<bool>,
    /// Sanitise suspicious prompts instead of rejecting them (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replacement_filter: Option<bool>,
}

impl ImageGenerateRequest {
    /// A request for `prompt` with every other field left to the server.
    pub fn new(prompt: impl Into<String>) -> Self {
        Self {
            prompt: prompt.into(),
            ..Self::default()
        }
    }
    /// The params, or the defaults when none were sent.
    pub fn params(&self) -> Cow<'_, ImageParams> {
        match &self.params {
            Some(p) => Cow::Borrowed(p),
            None => Cow::Owned(ImageParams::default()),
        }
    }
    /// Acceptable models; none (not sent, or empty) lets any worker serve
    /// it with a model of its own, as upstream does.
    pub fn models(&self) -> &[String] {
        self.options.models.as_deref().unwrap_or(&[])
    }
    /// NSFW allowed (upstream's effective default: true).
    pub fn nsfw(&self) -> bool {
        self.nsfw.unwrap_or(true)
    }
    /// Censor accidental NSFW (default true).
    pub fn censor_nsfw(&self) -> bool {
        self.censor_nsfw.unwrap_or(true)
    }
    /// Results as URLs (default true).
    pub fn r2(&self) -> bool {
        self.r2.unwrap_or(true)
    }
    /// Replacement filter on (default true).
    pub fn replacement_filter(&self) -> bool {
        self.replacement_filter.unwrap_or(true)
    }
    /// How the source image is used (default img2img).
    pub fn source_processing(&self) -> SourceProcessing {
        self.source_processing.clone().unwrap_or_default()
    }
}

/// One finished image in a status body.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImageGeneration {
    /// A download URL (`r2: true`) or base64 WebP (`r2: false`).
    pub img: String,
    /// The seed, as a string.
    pub seed: String,
    /// The job id.
    pub id: JobId,
    /// Whether the worker's safety check censored it.
    pub censored: bool,
    /// The worker's metadata.
    pub gen_metadata: Vec<GenMetadata>,
    /// The worker that made it.
    pub worker_id: WorkerId,
    /// That worker's name.
    pub worker_name: String,
    /// The model used.
    pub model: String,
    /// Obsolete state (`ok` or `censored`).
    pub state: GenerationState,
}

/// `GET|DELETE /v2/generate/status/{id}`: progress plus finished images.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageStatus {
    /// Finished images.
    #[serde(default)]
    pub generations: Vec<ImageGeneration>,
    /// Always false (LAION sharing is gone).
    #[serde(default)]
    pub shared: bool,
    /// Progress.
    #[serde(flatten)]
    pub check: RequestStatusCheck,
}

/// `POST /v2/generate/pop`: a dreamer asks for work.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ImagePopRequest {
    /// Name, models, threads, amount and the other fields every pop shares.
    #[serde(flatten)]
    pub common: PopCommon,
    /// Largest width×height the worker makes (default 262144 = 512²).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_pixels: Option<u64>,
    /// Words that make the worker refuse a prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blacklist: Option<Vec<String>>,
    /// Accept img2img (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_img2img: Option<bool>,
    /// Accept inpainting/outpainting (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_painting: Option<bool>,
    /// Accept requests from unsafe IPs (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_unsafe_ipaddr: Option<bool>,
    /// Accept post-processing (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_post_processing: Option<bool>,
    /// Accept ControlNet (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_controlnet: Option<bool>,
    /// Accept SDXL ControlNet (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_sdxl_controlnet: Option<bool>,
    /// Accept LoRAs (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_lora: Option<bool>,
    /// Refuse requests with more steps than the model's usual range (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_max_steps: Option<bool>,
}

/// Upstream's default `max_pixels` for a pop (512×512).
pub const DEFAULT_MAX_PIXELS: u64 = 512 * 512;

impl ImagePopRequest {
    /// Largest width×height (default 512²).
    pub fn max_pixels(&self) -> u64 {
        self.max_pixels.unwrap_or(DEFAULT_MAX_PIXELS)
    }
    /// img2img accepted (default true).
    pub fn allow_img2img(&self) -> bool {
        self.allow_img2img.unwrap_or(true)
    }
    /// Painting accepted (default true).
    pub fn allow_painting(&self) -> bool {
        self.allow_painting.unwrap_or(true)
    }
    /// Unsafe-IP requesters accepted (default true).
    pub fn allow_unsafe_ipaddr(&self) -> bool {
        self.allow_unsafe_ipaddr.unwrap_or(true)
    }
    /// Post-processing accepted (default true).
    pub fn allow_post_processing(&self) -> bool {
        self.allow_post_processing.unwrap_or(true)
    }
    /// ControlNet accepted (default false).
    pub fn allow_controlnet(&self) -> bool {
        self.allow_controlnet.unwrap_or(false)
    }
    /// LoRAs accepted (default false).
    pub fn allow_lora(&self) -> bool {
        self.allow_lora.unwrap_or(false)
    }
}

/// The job a dreamer receives: settings renamed for the worker
/// (`ddim_steps`, `n_iter`) plus the prompt, seed and censor flag.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ImagePopPayload {
    /// The prompt (`positive###negative`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// Steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ddim_steps: Option<u32>,
    /// Images in this batch (the length of `ids`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_iter: Option<u32>,
    /// Apply the NSFW censor to the result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_nsfw_censor: Option<bool>,
    /// Everything else, named as in the request.
    #[serde(flatten)]
    pub settings: ImageSettings,
}

impl ImagePopPayload {
    /// The seed as a number, when the coordinator sent a numeric one (it always
    /// does: text seeds are hashed before they reach a worker).
    pub fn seed_number(&self) -> Option<i64> {
        self.settings.seed.as_deref()?.trim().parse().ok()
    }
}

/// The answer to an image pop: a job, or `id: null` with the skip breakdown.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImagePopResponse {
    /// The job's settings.
    pub payload: ImagePopPayload,
    /// The first job's id; `null` when there is no work.
    pub id: Option<JobId>,
    /// All job ids of this batch (length = `payload.n_iter`).
    pub ids: Vec<JobId>,
    /// Moderator messages for this worker.
    pub messages: Vec<WorkerMessage>,
    /// Seconds the worker has to submit; `null` when there is no work.
    pub ttl: Option<u32>,
    /// Why nothing was found (`{}` when a job was).
    pub skipped: SkippedReasons,
    /// The model to use.
    pub model: Option<String>,
    /// Source image (URL or base64) for img2img/inpainting.
    pub source_image: Option<String>,
    /// How to use the source image.
    pub source_processing: SourceProcessing,
    /// Inpainting mask (URL or base64).
    pub source_mask: Option<String>,
    /// Extra source images.
    pub extra_source_images: Option<Vec<ExtraSourceImage>>,
    /// Where to PUT the first job's WebP before submitting `"R2"`.
    pub r2_upload: Option<String>,
    /// Upload URLs, one per job id.
    pub r2_uploads: Option<Vec<String>>,
}

/// `POST /v2/generate/submit`: a dreamer hands in one image.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageSubmitRequest {
    /// The job id.
    pub id: JobId,
    /// `"R2"` after uploading to the job's upload URL, else base64 WebP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<String>,
    /// ok, censored, faulted or csam (default ok).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<GenerationState>,
    /// The seed used, as an integer.
    pub seed: i64,
    /// Obsolete: the result was censored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub censored: Option<bool>,
    /// Metadata about the job (at most 50 entries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gen_metadata: Option<Vec<GenMetadata>>,
}

/// The `generation` value a worker submits after uploading to its upload URL.
pub const R2_SUBMITTED: &str = "R2";
