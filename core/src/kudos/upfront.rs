//! Upfront kudos: when a request must have its estimate available before it
//! is queued, and how `allow_downgrade` shrinks it instead of refusing it.

use crate::api::Sampler;

use super::image::ImageJob;

/// Largest side a request may have without upfront kudos on an idle horde.
pub const MAX_FREE_RESOLUTION: u32 = 1024;
/// Smallest that side ever shrinks to under load.
pub const MIN_FREE_RESOLUTION: u32 = 576;
/// Each online image thread raises the free resolution by this many pixels.
pub const FREE_RESOLUTION_PER_THREAD: f64 = 10.0;
/// Each queued image job lowers it by this many pixels.
pub const FREE_RESOLUTION_PER_QUEUED_JOB: f64 = 0.9;
/// Accurate steps allowed without upfront kudos unless a model says otherwise.
pub const DEFAULT_MAX_FREE_STEPS: f64 = 40.0;
/// Accurate steps allowed for LCM without upfront kudos.
pub const LCM_MAX_FREE_STEPS: f64 = 10.0;
/// Steps allowed with ControlNet without upfront kudos.
pub const CONTROLNET_MAX_FREE_STEPS: f64 = 20.0;
/// Steps a downgrade cuts a request to by default.
pub const DOWNGRADE_STEPS: u32 = 30;
/// Steps a downgrade cuts a ControlNet request to.
pub const DOWNGRADE_STEPS_CONTROLNET: u32 = 20;
/// Steps a downgrade cuts an LCM request to.
pub const DOWNGRADE_STEPS_LCM: u32 = 10;
/// Fewest steps a downgrade leaves.
pub const DOWNGRADE_MIN_STEPS: u32 = 5;
/// Smallest side a downgrade shrinks an image to.
pub const DOWNGRADE_MIN_SIDE: u32 = 512;
/// Most tokens a text request may ask for without upfront kudos on an idle horde.
pub const MAX_FREE_TOKENS: u32 = 512;
/// Fewest free tokens under load.
pub const MIN_FREE_TOKENS: u32 = 256;
/// Each online text thread raises the free tokens by this many.
pub const FREE_TOKENS_PER_THREAD: f64 = 5.0;
/// Each queued text job lowers them by this many.
pub const FREE_TOKENS_PER_QUEUED_JOB: f64 = 0.9;

/// The largest side an image may have before it needs upfront kudos:
/// `clamp(1024 + 10·threads − round(0.9·queued), 576, 1024)`, or 1024 for
/// large-baseline models (SDXL, Cascade, Flux), which cannot go smaller.
pub fn max_free_resolution(
    image_threads: u32,
    queued_image_jobs: u64,
    large_baseline: bool,
) -> u32 {
    if large_baseline {
        return MAX_FREE_RESOLUTION;
    }
    let r = f64::from(MAX_FREE_RESOLUTION) + FREE_RESOLUTION_PER_THREAD * f64::from(image_threads)
        - (FREE_RESOLUTION_PER_QUEUED_JOB * queued_image_jobs as f64).round();
    r.clamp(
        f64::from(MIN_FREE_RESOLUTION),
        f64::from(MAX_FREE_RESOLUTION),
    ) as u32
}

/// What decides whether an image request needs its kudos upfront, beyond the job itself.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageUpfrontRules {
    /// From [`max_free_resolution`].
    pub max_resolution: u32,
    /// The lowest `max_steps` among the requested models' requirements (default 40).
    pub model_max_steps: f64,
    /// `slow_workers` is false.
    pub fast_workers_only: bool,
    /// The job uses an LCM sampler or LCM LoRA.
    pub lcm: bool,
    /// The operator requires upfront kudos for requests with a worker list, and one is given.
    pub worker_list: bool,
}

impl Default for ImageUpfrontRules {
    fn default() -> Self {
        Self {
            max_resolution: MAX_FREE_RESOLUTION,
            model_max_steps: DEFAULT_MAX_FREE_STEPS,
            fast_workers_only: false,
            lcm: false,
            worker_list: false,
        }
    }
}

/// Whether an image request must have its estimate available upfront.
pub fn image_needs_upfront(job: &ImageJob, rules: &ImageUpfrontRules) -> bool {
    let steps = job.accurate_steps();
    let lcm = rules.lcm || job.sampler == Sampler::Lcm;
    let max_pixels = u64::from(rules.max_resolution).pow(2);
    rules.fast_workers_only
        || rules.worker_list
        || (lcm && steps > LCM_MAX_FREE_STEPS)
        || steps > rules.model_max_steps
        || u64::from(job.width) * u64::from(job.height) > max_pixels
        || (job.controlnet && f64::from(job.steps) > CONTROLNET_MAX_FREE_STEPS)
}

/// Shrinks an image to fit `max_resolution²` pixels, keeping its aspect
/// ratio, in multiples of 64, never below 512² in area.
pub fn downgrade_size(width: u32, height: u32, max_resolution: u32) -> (u32, u32) {
    let max_pixels = f64::from(max_resolution).powi(2);
    let pixels = f64::from(width) * f64::from(height);
    if pixels <= max_pixels {
        return (width, height);
    }
    let floor_pixels = f64::from(DOWNGRADE_MIN_SIDE).powi(2);
    let target = max_pixels.max(floor_pixels);
    let scale = (target / pixels).sqrt();
    let fit = |side: u32| ((f64::from(side) * scale / 64.0).floor() as u32).max(1) * 64;
    (fit(width), fit(height))
}

/// Steps a downgrade leaves: the model maximum (30 by default, 20 with
/// ControlNet, 10 for LCM), at least 5, never more than requested.
pub fn downgrade_steps(steps: u32, controlnet: bool, lcm: bool) -> u32 {
    let cap = if lcm {
        DOWNGRADE_STEPS_LCM
    } else if controlnet {
        DOWNGRADE_STEPS_CONTROLNET
    } else {
        DOWNGRADE_STEPS
    };
    steps.min(cap).max(DOWNGRADE_MIN_STEPS.min(steps))
}

/// The most tokens a text request may ask for before it needs upfront kudos:
/// `clamp(512 + 5·threads − round(0.9·queued), 256, 512)`.
pub fn max_free_tokens(text_threads: u32, queued_text_jobs: u64) -> u32 {
    let t = f64::from(MAX_FREE_TOKENS) + FREE_TOKENS_PER_THREAD * f64::from(text_threads)
        - (FREE_TOKENS_PER_QUEUED_JOB * queued_text_jobs as f64).round();
    t.clamp(f64::from(MIN_FREE_TOKENS), f64::from(MAX_FREE_TOKENS)) as u32
}

/// Whether a text request must have its kudos upfront.
pub fn text_needs_upfront(max_length: u32, slow_workers: bool, max_free_tokens: u32) -> bool {
    !slow_workers || max_length > max_free_tokens
}
