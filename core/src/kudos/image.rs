//! Image pricing: the per-image base price (legacy formula), the worker's
//! reward, the requester's charge, and the dry-run estimate.

use crate::api::{ImageGenerateRequest, PostProcessor, Sampler, SourceProcessing};

use super::round2;

/// Price per (accurate) step of the legacy formula (upstream `0.1232`).
pub const LEGACY_STEP_PRICE: f64 = 0.1232;
/// How much more a full 1024² image costs per step than the resolution-free
/// part (upstream `8.75`).
pub const LEGACY_RESOLUTION_WEIGHT: f64 = 8.75;
/// Exponent of the resolution term: cost grows faster than pixels (upstream `1.75`).
pub const LEGACY_RESOLUTION_EXPONENT: f64 = 1.75;
/// Pixels that cost nothing in the resolution term (64², upstream).
pub const LEGACY_FREE_PIXELS: f64 = 64.0 * 64.0;
/// The resolution the resolution term is normalised to (1024², upstream).
pub const LEGACY_REFERENCE_PIXELS: f64 = 1024.0 * 1024.0;
/// Each post-processor multiplies the base price by this (compounding).
pub const POST_PROCESSOR_PRICE_FACTOR: f64 = 1.2;
/// ControlNet multiplies the base price by this, unless only the map is returned.
pub const CONTROLNET_PRICE_FACTOR: f64 = 3.0;
/// Surcharge per LoRA on the base price (upstream adds it after the base price).
pub const LORA_SURCHARGE: f64 = 3.0;
/// Surcharge when any textual inversion is used.
pub const TI_SURCHARGE: f64 = 1.0;
/// `k_dpm_adaptive` chooses its own steps; it is priced as this many.
pub const ADAPTIVE_SAMPLER_STEPS: f64 = 50.0;
/// Denoising strength assumed for img2img when none is given.
pub const DEFAULT_DENOISING_STRENGTH: f64 = 0.8;

/// The requester pays this much more for jobs with a source image.
pub const SOURCE_IMAGE_CHARGE_FACTOR: f64 = 1.3;
/// The requester pays this much more per upscaler (face fixers and
/// background removal are free of it).
pub const UPSCALER_CHARGE_FACTOR: f64 = 1.05;
/// The horde tax added to every image job's charge (hard-wired to 1 since 2023).
pub const HORDE_TAX: f64 = 1.0;
/// Charged once when an image request is activated (upstream: 1 plus the
/// style surcharge of 2, which image requests always add).
pub const IMAGE_ACTIVATION_TAX: f64 = 3.0;
/// Charged once when a text request is activated.
pub const TEXT_ACTIVATION_TAX: f64 = 1.0;
/// Requesting fast workers only (`slow_workers: false`) costs this much more.
pub const FAST_WORKERS_CHARGE_FACTOR: f64 = 1.2;
/// Using `workers` as a deny-list costs this much more.
pub const DENY_LIST_CHARGE_FACTOR: f64 = 1.1;

/// Reward factor for a worker running the latest official bridge.
pub const BRIDGE_FACTOR_OFFICIAL: f64 = 1.0;
/// Reward factor for an outdated official bridge.
pub const BRIDGE_FACTOR_OUTDATED: f64 = 0.9;
/// Reward factor for any other bridge.
pub const BRIDGE_FACTOR_OTHER: f64 = 0.75;

/// What an image job costs to run, for pricing: the parts of a request that
/// change the price and nothing else.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageJob {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Requested steps.
    pub steps: u32,
    /// The sampler.
    pub sampler: Sampler,
    /// Whether a source image is sent.
    pub has_source_image: bool,
    /// How the source image is used.
    pub source_processing: SourceProcessing,
    /// img2img strength, when given.
    pub denoising_strength: Option<f64>,
    /// Post-processors, in order.
    pub post_processors: Vec<PostProcessor>,
    /// Whether ControlNet is used.
    pub controlnet: bool,
    /// Whether only the ControlNet map is returned (no generation).
    pub return_control_map: bool,
    /// Number of LoRAs.
    pub loras: usize,
    /// Number of textual inversions.
    pub tis: usize,
}

impl Default for ImageJob {
    fn default() -> Self {
        Self {
            width: crate::api::DEFAULT_IMAGE_SIZE,
            height: crate::api::DEFAULT_IMAGE_SIZE,
            steps: crate::api::DEFAULT_IMAGE_STEPS,
            sampler: Sampler::KEulerA,
            has_source_image: false,
            source_processing: SourceProcessing::Img2img,
            denoising_strength: None,
            post_processors: Vec::new(),
            controlnet: false,
            return_control_map: false,
            loras: 0,
            tis: 0,
        }
    }
}

impl ImageJob {
    /// The pricing view of one image of `req`.
    pub fn from_request(req: &ImageGenerateRequest) -> Self {
        let p = req.params();
        let s = &p.settings;
        Self {
            width: p.width(),
            height: p.height(),
            steps: p.steps(),
            sampler: p.sampler(),
            has_source_image: req.source_image.is_some(),
            source_processing: req.source_processing(),
            denoising_strength: s.denoising_strength,
            post_processors: p.post_processing().to_vec(),
            controlnet: s.control_type.is_some(),
            return_control_map: s.return_control_map.unwrap_or(false),
            loras: s.loras.as_ref().map_or(0, Vec::len),
            tis: s.tis.as_ref().map_or(0, Vec::len),
        }
    }

    /// Steps as the GPU runs them: second-order samplers count double,
    /// `k_dpm_adaptive` counts 50, img2img scales by denoising strength.
    pub fn accurate_steps(&self) -> f64 {
        if self.sampler == Sampler::KDpmAdaptive {
            return ADAPTIVE_SAMPLER_STEPS;
        }
        let mut steps = f64::from(self.steps);
        if self.sampler.is_second_order() {
            steps *= 2.0;
        }
        if self.has_source_image && self.source_processing == SourceProcessing::Img2img {
            steps *= self
                .denoising_strength
                .unwrap_or(DEFAULT_DENOISING_STRENGTH);
        }
        steps
    }

    /// Pixel-steps of this job (width × height × accurate steps): the unit
    /// worker speed and queue sizes are measured in.
    pub fn pixelsteps(&self) -> f64 {
        f64::from(self.width) * f64::from(self.height) * self.accurate_steps()
    }
}

/// The per-image base price (upstream's `wp.kudos`), before any model,
/// bridge or requester factor: the legacy formula, then post-processors,
/// ControlNet and LoRA/TI surcharges. Rounded to two decimals.
pub fn image_base_price(job: &ImageJob) -> f64 {
    let pixels = f64::from(job.width) * f64::from(job.height);
    let resolution = ((pixels - LEGACY_FREE_PIXELS).max(0.0)
        / (LEGACY_REFERENCE_PIXELS - LEGACY_FREE_PIXELS))
        .powf(LEGACY_RESOLUTION_EXPONENT);
    let steps = job.accurate_steps();
    let mut price = round2(
        LEGACY_STEP_PRICE * steps
            + resolution * LEGACY_STEP_PRICE * steps * LEGACY_RESOLUTION_WEIGHT,
    );
    for _ in &job.post_processors {
        price = round2(price * POST_PROCESSOR_PRICE_FACTOR);
    }
    if job.controlnet && !job.return_control_map {
        price = round2(price * CONTROLNET_PRICE_FACTOR);
    }
    price += LORA_SURCHARGE * job.loras as f64;
    if job.tis > 0 {
        price += TI_SURCHARGE;
    }
    round2(price)
}

/// A model family, which scales what a job earns its worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Baseline {
    /// Stable Diffusion 1.x, 2.x and anything unrecognised: factor 1.
    StableDiffusion,
    /// SDXL: factor 2 (4 with the qr_code workflow).
    StableDiffusionXl,
    /// Stable Cascade: factor 4 (7 with hires_fix).
    StableCascade,
    /// Flux: factor 8.
    Flux,
    /// Z-Image: factor 8.
    ZImage,
    /// Qwen image: factor 12.
    Qwen,
}

impl Baseline {
    /// Reads a baseline as the image model reference names it
    /// (`stable_diffusion_xl`, `stable_cascade`, `flux_1`, `qwen_image`, `z_image_turbo`, …).
    pub fn from_reference(baseline: &str) -> Self {
        let b = baseline.to_ascii_lowercase();
        if b.starts_with("stable_diffusion_xl") {
            Self::StableDiffusionXl
        } else if b.starts_with("stable_cascade") {
            Self::StableCascade
        } else if b.starts_with("flux") {
            Self::Flux
        } else if b.starts_with("z_image") {
            Self::ZImage
        } else if b.starts_with("qwen") {
            Self::Qwen
        } else {
            Self::StableDiffusion
        }
    }

    /// The reward factor for this baseline.
    pub fn reward_factor(self, hires_fix: bool, qr_code_workflow: bool) -> f64 {
        match self {
            Self::StableDiffusion => 1.0,
            Self::StableDiffusionXl if qr_code_workflow => 4.0,
            Self::StableDiffusionXl => 2.0,
            Self::StableCascade if hires_fix => 7.0,
            Self::StableCascade => 4.0,
            Self::Flux | Self::ZImage => 8.0,
            Self::Qwen => 12.0,
        }
    }
}

/// What one image earns its worker: base price × baseline factor × bridge factor.
pub fn image_reward(base_price: f64, baseline_factor: f64, bridge_factor: f64) -> f64 {
    round2(base_price * baseline_factor * bridge_factor)
}

/// The requester-side factors of an image request.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImageChargeFactors {
    /// A source image is sent.
    pub source_image: bool,
    /// Post-processors, in order.
    pub post_processors: Vec<PostProcessor>,
    /// `slow_workers` is false.
    pub fast_workers_only: bool,
    /// `workers` is a deny-list.
    pub deny_list: bool,
}

impl ImageChargeFactors {
    /// The requester-side factors of `req`.
    pub fn from_request(req: &ImageGenerateRequest) -> Self {
        Self {
            source_image: req.source_image.is_some(),
            post_processors: req.params().post_processing().to_vec(),
            fast_workers_only: !req.options.slow_workers(),
            deny_list: req.options.worker_blacklist() && !req.options.workers().is_empty(),
        }
    }
}

/// What one image costs its requester, given what it earned its worker:
/// ×1.3 with a source image, ×1.05 per upscaler, +1 horde tax, ×1.2 for
/// fast workers only, ×1.1 for a deny-list.
pub fn image_charge(reward: f64, f: &ImageChargeFactors) -> f64 {
    let mut kudos = reward;
    if f.source_image {
        kudos *= SOURCE_IMAGE_CHARGE_FACTOR;
    }
    for pp in &f.post_processors {
        if pp.is_upscaler() {
            kudos *= UPSCALER_CHARGE_FACTOR;
        }
    }
    kudos += HORDE_TAX;
    if f.fast_workers_only {
        kudos *= FAST_WORKERS_CHARGE_FACTOR;
    }
    if f.deny_list {
        kudos *= DENY_LIST_CHARGE_FACTOR;
    }
    round2(kudos)
}

/// The dry-run (and upfront) estimate of a whole image request, as upstream
/// computes it: the charge of one base-priced image × n × the first model's
/// baseline factor, + 1.
pub fn image_estimate(job: &ImageJob, n: u32, baseline_factor: f64, f: &ImageChargeFactors) -> f64 {
    let per_image = image_charge(image_base_price(job), f);
    round2(per_image * f64::from(n) * baseline_factor + HORDE_TAX)
}
