//! `HordeImageParams` and `HordeTextParams`: generation settings as
//! Resources, so they are edited in the inspector (ranges, drop-downs) and
//! saved as `.tres` presets. Each converts into its plain twin in
//! [`crate::presets`], which builds and checks the request.

use godot::classes::{IResource, Image, Resource};
use godot::prelude::*;
use horde_core::api::{Lora, PostProcessor};

use super::enums::HordeSampler;
use crate::presets::{ImagePreset, TextPreset};

fn strings(list: &PackedStringArray) -> Vec<String> {
    list.as_slice()
        .iter()
        .map(|s| s.to_string().trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Settings of an image request: size, steps, sampler, models, LoRAs,
/// img2img. Save one as a `.tres` preset and pass it to
/// `HordeNode.generate_image(prompt, params)`.
#[derive(GodotClass)]
#[class(tool, base = Resource)]
pub struct HordeImageParams {
    /// What the picture must not show.
    #[export(multiline)]
    negative_prompt: GString,
    /// Models to use (any of them); empty: any model the horde has.
    #[export]
    models: PackedStringArray,
    /// Width in pixels (a multiple of 64).
    #[export(range = (64.0, 3072.0, 64.0))]
    width: i64,
    /// Height in pixels (a multiple of 64).
    #[export(range = (64.0, 3072.0, 64.0))]
    height: i64,
    /// Sampling steps.
    #[export(range = (1.0, 500.0, 1.0))]
    steps: i64,
    /// Prompt guidance.
    #[export(range = (0.0, 100.0, 0.5))]
    cfg_scale: f64,
    /// The sampler.
    #[export]
    sampler: HordeSampler,
    /// Karras noise schedule.
    #[export]
    karras: bool,
    /// A seed; empty: random.
    #[export]
    seed: GString,
    /// Images to make.
    #[export(range = (1.0, 20.0, 1.0))]
    count: i64,
    /// CLIP layers to skip.
    #[export(range = (1.0, 12.0, 1.0))]
    clip_skip: i64,
    /// High-resolution fix.
    #[export]
    hires_fix: bool,
    /// Seamless tiling, for textures.
    #[export]
    tiling: bool,
    /// Post-processors for each image: `RealESRGAN_x4plus`, `GFPGAN`,
    /// `CodeFormers`, `strip_background`, …
    #[export]
    post_processing: PackedStringArray,
    /// LoRA names (or CivitAI ids) to apply, at `lora_strength`.
    #[export]
    loras: PackedStringArray,
    /// Strength of the LoRAs.
    #[export(range = (-5.0, 5.0, 0.05))]
    lora_strength: f64,
    /// An image to start from (img2img); null: text to image.
    #[export]
    source_image: Option<Gd<Image>>,
    /// How far from the source image to go (img2img).
    #[export(range = (0.0, 1.0, 0.01))]
    denoising_strength: f64,
    /// NSFW allowed.
    #[export]
    nsfw: bool,
    /// Censor NSFW images when `nsfw` is off.
    #[export]
    censor_nsfw: bool,
    /// Trusted workers only.
    #[export]
    trusted_workers: bool,
    /// Slow workers allowed (a longer wait, a shorter queue).
    #[export]
    slow_workers: bool,
    /// Let the horde shrink the request when kudos are short.
    #[export]
    allow_downgrade: bool,
    base: Base<Resource>,
}

#[godot_api]
impl IResource for HordeImageParams {
    fn init(base: Base<Resource>) -> Self {
        let d = ImagePreset::default();
        Self {
            negative_prompt: GString::new(),
            models: PackedStringArray::new(),
            width: i64::from(d.width),
            height: i64::from(d.height),
            steps: i64::from(d.steps),
            cfg_scale: d.cfg_scale,
            sampler: HordeSampler::EulerA,
            karras: d.karras,
            seed: GString::new(),
            count: i64::from(d.count),
            clip_skip: i64::from(d.clip_skip),
            hires_fix: d.hires_fix,
            tiling: d.tiling,
            post_processing: PackedStringArray::new(),
            loras: PackedStringArray::new(),
            lora_strength: 1.0,
            source_image: None,
            denoising_strength: d.denoising_strength,
            nsfw: d.nsfw,
            censor_nsfw: d.censor_nsfw,
            trusted_workers: d.trusted_workers,
            slow_workers: d.slow_workers,
            allow_downgrade: d.allow_downgrade,
            base,
        }
    }
}

/// A count from the inspector: out-of-range values become 0, which the
/// request's checks refuse with a clear message.
fn count(v: i64) -> u32 {
    u32::try_from(v).unwrap_or(0)
}

impl HordeImageParams {
    /// The plain settings these hold.
    pub fn preset(&self) -> ImagePreset {
        let source_image = self
            .source_image
            .as_ref()
            .filter(|img| !img.is_empty())
            .map(|img| img.save_png_to_buffer().to_vec());
        ImagePreset {
            negative_prompt: self.negative_prompt.to_string(),
            models: strings(&self.models),
            width: count(self.width),
            height: count(self.height),
            steps: count(self.steps),
            cfg_scale: self.cfg_scale,
            sampler: self.sampler.sampler(),
            karras: self.karras,
            seed: self.seed.to_string(),
            count: count(self.count),
            clip_skip: count(self.clip_skip),
            hires_fix: self.hires_fix,
            tiling: self.tiling,
            post_processing: strings(&self.post_processing)
                .into_iter()
                .map(|p| PostProcessor::from(p.as_str()))
                .collect(),
            loras: strings(&self.loras)
                .into_iter()
                .map(|name| Lora {
                    name,
                    model: Some(self.lora_strength),
                    ..Lora::default()
                })
                .collect(),
            source_image,
            denoising_strength: self.denoising_strength,
            nsfw: self.nsfw,
            censor_nsfw: self.censor_nsfw,
            trusted_workers: self.trusted_workers,
            slow_workers: self.slow_workers,
            allow_downgrade: self.allow_downgrade,
        }
    }
}

/// Settings of a text request: length, sampling, models, stop sequences.
/// Save one as a `.tres` preset and pass it to
/// `HordeNode.generate_text(prompt, params)`.
#[derive(GodotClass)]
#[class(tool, base = Resource)]
pub struct HordeTextParams {
    /// Models to use (any of them); empty: any model the horde has.
    #[export]
    models: PackedStringArray,
    /// Tokens to generate.
    #[export(range = (16.0, 1024.0, 1.0))]
    max_length: i64,
    /// Tokens of prompt the model reads.
    #[export(range = (80.0, 32000.0, 1.0))]
    max_context_length: i64,
    /// Randomness.
    #[export(range = (0.0, 5.0, 0.01))]
    temperature: f64,
    /// Nucleus sampling.
    #[export(range = (0.001, 1.0, 0.001))]
    top_p: f64,
    /// Top-k sampling (0: off).
    #[export(range = (0.0, 100.0, 1.0))]
    top_k: i64,
    /// Repetition penalty.
    #[export(range = (1.0, 3.0, 0.01))]
    rep_pen: f64,
    /// Texts to make.
    #[export(range = (1.0, 20.0, 1.0))]
    count: i64,
    /// Generation stops at any of these.
    #[export]
    stop_sequence: PackedStringArray,
    /// Stop at the first new line.
    #[export]
    singleline: bool,
    /// Trusted workers only.
    #[export]
    trusted_workers: bool,
    /// Slow workers allowed.
    #[export]
    slow_workers: bool,
    /// Let the horde shrink the request when kudos are short.
    #[export]
    allow_downgrade: bool,
    base: Base<Resource>,
}

#[godot_api]
impl IResource for HordeTextParams {
    fn init(base: Base<Resource>) -> Self {
        let d = TextPreset::default();
        Self {
            models: PackedStringArray::new(),
            max_length: i64::from(d.max_length),
            max_context_length: i64::from(d.max_context_length),
            temperature: d.temperature,
            top_p: d.top_p,
            top_k: i64::from(d.top_k),
            rep_pen: d.rep_pen,
            count: i64::from(d.count),
            stop_sequence: PackedStringArray::new(),
            singleline: d.singleline,
            trusted_workers: d.trusted_workers,
            slow_workers: d.slow_workers,
            allow_downgrade: d.allow_downgrade,
            base,
        }
    }
}

impl HordeTextParams {
    /// The plain settings these hold.
    pub fn preset(&self) -> TextPreset {
        TextPreset {
            models: strings(&self.models),
            max_length: count(self.max_length),
            max_context_length: count(self.max_context_length),
            temperature: self.temperature,
            top_p: self.top_p,
            top_k: count(self.top_k),
            rep_pen: self.rep_pen,
            count: count(self.count),
            stop_sequence: self
                .stop_sequence
                .as_slice()
                .iter()
                .map(|s| s.to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            singleline: self.singleline,
            trusted_workers: self.trusted_workers,
            slow_workers: self.slow_workers,
            allow_downgrade: self.allow_downgrade,
        }
    }
}
