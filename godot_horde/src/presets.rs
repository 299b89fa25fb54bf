//! Generation settings as plain Rust values (no Godot types): what a
//! `HordeImageParams` / `HordeTextParams` resource holds, with upstream's
//! defaults, and how it becomes a checked AI Horde request. The resources
//! in `classes::params` copy their fields into these, so everything that
//! decides what is sent is testable without the engine.

use base64::Engine;
use horde_core::api::validate::{validate_image_request, validate_text_request};
use horde_core::api::{
    ImageGenerateRequest, ImageParams, ImageSettings, Lora, PostProcessor, RequestOptions, Sampler,
    TextGenerateRequest, TextParams,
};

use crate::logic::Rejected;

/// An image request's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct ImagePreset {
    /// What the picture must not show (sent after `###`, as upstream does).
    pub negative_prompt: String,
    /// Models to use, any of them; empty: any model the horde has.
    pub models: Vec<String>,
    /// Width in pixels (64 to 3072, a multiple of 64).
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Sampling steps.
    pub steps: u32,
    /// Prompt guidance.
    pub cfg_scale: f64,
    /// The sampler.
    pub sampler: Sampler,
    /// Karras noise schedule.
    pub karras: bool,
    /// A seed; empty: random.
    pub seed: String,
    /// Images to make.
    pub count: u32,
    /// CLIP layers to skip.
    pub clip_skip: u32,
    /// High-resolution fix.
    pub hires_fix: bool,
    /// Seamless tiling (textures).
    pub tiling: bool,
    /// Post-processors to run on each image (upscalers, face fixers).
    pub post_processing: Vec<PostProcessor>,
    /// LoRAs to apply.
    pub loras: Vec<Lora>,
    /// An image to start from (img2img), PNG or WebP bytes.
    pub source_image: Option<Vec<u8>>,
    /// How far from the source image to go (img2img), 0 to 1.
    pub denoising_strength: f64,
    /// NSFW allowed.
    pub nsfw: bool,
    /// Censor NSFW images when `nsfw` is off.
    pub censor_nsfw: bool,
    /// Trusted workers only.
    pub trusted_workers: bool,
    /// Slow workers allowed (cheaper queue, longer waits).
    pub slow_workers: bool,
    /// Let the horde shrink the request when kudos are short.
    pub allow_downgrade: bool,
}

impl Default for ImagePreset {
    fn default() -> Self {
        Self {
            negative_prompt: String::new(),
            models: Vec::new(),
            width: 512,
            height: 512,
            steps: 30,
            cfg_scale: 7.5,
            sampler: Sampler::KEulerA,
            karras: true,
            seed: String::new(),
            count: 1,
            clip_skip: 1,
            hires_fix: false,
            tiling: false,
            post_processing: Vec::new(),
            loras: Vec::new(),
            source_image: None,
            denoising_strength: 0.75,
            nsfw: false,
            censor_nsfw: true,
            trusted_workers: false,
            slow_workers: true,
            allow_downgrade: false,
        }
    }
}

/// A blank prompt is a game's mistake, never a request worth kudos.
fn check_prompt(prompt: &str) -> Result<(), Rejected> {
    if prompt.trim().is_empty() {
        return Err(Rejected::new("BadRequest", "the prompt is empty"));
    }
    Ok(())
}

fn prompt_with_negative(prompt: &str, negative: &str) -> String {
    if negative.trim().is_empty() {
        prompt.to_owned()
    } else {
        format!("{prompt} ### {negative}")
    }
}

fn options(models: &[String], trusted: bool, slow: bool, downgrade: bool) -> RequestOptions {
    RequestOptions {
        models: (!models.is_empty()).then(|| models.to_vec()),
        trusted_workers: Some(trusted),
        slow_workers: Some(slow),
        allow_downgrade: Some(downgrade),
        ..RequestOptions::default()
    }
}

impl ImagePreset {
    /// The request for `prompt`, checked by upstream's rules.
    pub fn request(&self, prompt: &str) -> Result<ImageGenerateRequest, Rejected> {
        check_prompt(prompt)?;
        let img2img = self.source_image.is_some();
        let settings = ImageSettings {
            sampler_name: Some(self.sampler.clone()),
            cfg_scale: Some(self.cfg_scale),
            denoising_strength: img2img.then_some(self.denoising_strength),
            seed: (!self.seed.trim().is_empty()).then(|| self.seed.trim().to_owned()),
            width: Some(self.width),
            height: Some(self.height),
            post_processing: (!self.post_processing.is_empty())
                .then(|| self.post_processing.clone()),
            karras: Some(self.karras),
            tiling: Some(self.tiling),
            hires_fix: Some(self.hires_fix),
            clip_skip: Some(self.clip_skip),
            loras: (!self.loras.is_empty()).then(|| self.loras.clone()),
            ..ImageSettings::default()
        };
        let req = ImageGenerateRequest {
            prompt: prompt_with_negative(prompt, &self.negative_prompt),
            params: Some(ImageParams {
                settings,
                steps: Some(self.steps),
                n: Some(self.count),
                ..ImageParams::default()
            }),
            options: options(
                &self.models,
                self.trusted_workers,
                self.slow_workers,
                self.allow_downgrade,
            ),
            nsfw: Some(self.nsfw),
            censor_nsfw: Some(self.censor_nsfw),
            source_image: self
                .source_image
                .as_ref()
                .map(|b| base64::engine::general_purpose::STANDARD.encode(b)),
            ..ImageGenerateRequest::default()
        };
        validate_image_request(&req).map_err(|e| Rejected::from(e.to_error_body()))?;
        Ok(req)
    }
}

/// A text request's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct TextPreset {
    /// Models to use, any of them; empty: any model the horde has.
    pub models: Vec<String>,
    /// Tokens to generate.
    pub max_length: u32,
    /// Tokens of prompt the model reads.
    pub max_context_length: u32,
    /// Randomness.
    pub temperature: f64,
    /// Nucleus sampling.
    pub top_p: f64,
    /// Top-k sampling (0: off).
    pub top_k: u32,
    /// Repetition penalty.
    pub rep_pen: f64,
    /// Texts to make.
    pub count: u32,
    /// Generation stops at any of these.
    pub stop_sequence: Vec<String>,
    /// Stop at the first new line.
    pub singleline: bool,
    /// Trusted workers only.
    pub trusted_workers: bool,
    /// Slow workers allowed.
    pub slow_workers: bool,
    /// Let the horde shrink the request when kudos are short.
    pub allow_downgrade: bool,
}

impl Default for TextPreset {
    fn default() -> Self {
        Self {
            models: Vec::new(),
            max_length: 80,
            max_context_length: 1024,
            temperature: 0.7,
            top_p: 0.92,
            top_k: 100,
            rep_pen: 1.1,
            count: 1,
            stop_sequence: Vec::new(),
            singleline: false,
            trusted_workers: false,
            slow_workers: true,
            allow_downgrade: false,
        }
    }
}

impl TextPreset {
    /// The request for `prompt`, checked by upstream's rules.
    pub fn request(&self, prompt: &str) -> Result<TextGenerateRequest, Rejected> {
        check_prompt(prompt)?;
        let req = TextGenerateRequest {
            prompt: prompt.to_owned(),
            params: Some(TextParams {
                n: Some(self.count),
                max_context_length: Some(self.max_context_length),
                max_length: Some(self.max_length),
                rep_pen: Some(self.rep_pen),
                singleline: Some(self.singleline),
                temperature: Some(self.temperature),
                top_k: Some(self.top_k),
                top_p: Some(self.top_p),
                stop_sequence: (!self.stop_sequence.is_empty()).then(|| self.stop_sequence.clone()),
                ..TextParams::default()
            }),
            options: options(
                &self.models,
                self.trusted_workers,
                self.slow_workers,
                self.allow_downgrade,
            ),
            ..TextGenerateRequest::default()
        };
        validate_text_request(&req).map_err(|e| Rejected::from(e.to_error_body()))?;
        Ok(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_image_preset_is_a_valid_upstream_request() {
        let req = ImagePreset::default().request("a red potion").unwrap();
        let json = serde_json::to_value(&req).unwrap();
        assert_eq!(json["prompt"], "a red potion");
        assert_eq!(json["params"]["width"], 512);
        assert_eq!(json["params"]["sampler_name"], "k_euler_a");
        assert_eq!(json["params"]["n"], 1);
        assert!(json.get("models").is_none(), "no models: any model");
        assert!(json["params"].get("denoising_strength").is_none());
    }

    #[test]
    fn negative_prompts_models_and_sources_are_sent_as_upstream_expects() {
        let preset = ImagePreset {
            negative_prompt: "blurry".into(),
            models: vec!["AlbedoBase XL (SDXL)".into()],
            source_image: Some(vec![1, 2, 3]),
            seed: " 42 ".into(),
            ..ImagePreset::default()
        };
        let json = serde_json::to_value(preset.request("a cliff").unwrap()).unwrap();
        assert_eq!(json["prompt"], "a cliff ### blurry");
        assert_eq!(json["models"][0], "AlbedoBase XL (SDXL)");
        assert_eq!(json["source_image"], "AQID");
        assert_eq!(json["params"]["seed"], "42");
        assert_eq!(json["params"]["denoising_strength"], 0.75);
    }

    #[test]
    fn invalid_settings_are_rejected_with_upstreams_rc() {
        let odd = ImagePreset {
            width: 500,
            ..ImagePreset::default()
        };
        let e = odd.request("x").unwrap_err();
        assert_eq!(e.rc, "InvalidSize", "{e:?}");
        let empty = ImagePreset::default().request("   ").unwrap_err();
        assert_eq!(empty.message, "the prompt is empty");
        assert!(TextPreset::default().request("").is_err());
        let text = TextPreset {
            max_length: 5,
            ..TextPreset::default()
        };
        assert!(text.request("Once").is_err());
        let ok = TextPreset::default().request("Once").unwrap();
        assert_eq!(ok.params.unwrap().max_length, Some(80));
    }
}
