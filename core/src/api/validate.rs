//! Validation of async requests against upstream's rules, as pure functions.
//!
//! Each check answers with a [`ValidationError`] naming the field (as a dotted
//! path such as `params.width`) and upstream's return code. Where upstream's
//! JSON schema rejects a value before its own code runs (ranges, enums), it
//! answers "Input payload validation failed" with no `rc`; we use
//! [`Rc::BadRequest`], upstream's generic 400 code, and keep the field in
//! `errors` exactly as the schema failure does.
//!
//! Checks that need state (the model reference, the user's roles, kudos)
//! belong to the coordinator, not here.

use std::collections::HashSet;

use super::error::{ErrorBody, Rc};
use super::image::{ImageGenerateRequest, ImageParams, SourceProcessing};
use super::interrogation::InterrogationRequest;
use super::text::{TextGenerateRequest, TextParams};

/// Smallest image side in pixels.
pub const MIN_IMAGE_SIDE: u32 = 64;
/// Largest image side in pixels.
pub const MAX_IMAGE_SIDE: u32 = 3072;
/// Image sides must be multiples of this.
pub const IMAGE_SIDE_MULTIPLE: u32 = 64;
/// Most sampling steps a request may ask for.
pub const MAX_STEPS: u32 = 500;
/// Most images or texts in one request.
pub const MAX_N: u32 = 20;
/// Largest cfg_scale.
pub const MAX_CFG_SCALE: f64 = 100.0;
/// Most words in an image prompt.
pub const MAX_PROMPT_WORDS: usize = 7500;
/// Most bytes of an image prompt (7,500 words of up to 8 bytes; upstream
/// counts only words, so one 10 MB "word" would pass its check).
pub const MAX_IMAGE_PROMPT_BYTES: usize = MAX_PROMPT_WORDS * 8;
/// Bytes of text prompt allowed per token of `max_context_length` (a token
/// is about 4 characters, a character at most 4 bytes): what a worker could
/// ever read of a longer prompt is cut by it anyway.
pub const TEXT_PROMPT_BYTES_PER_TOKEN: usize = 16;
/// Most models a request may name.
pub const MAX_REQUEST_MODELS: usize = 200;
/// Most characters of a model name.
pub const MAX_MODEL_NAME: usize = 255;
/// Most LoRAs per image.
pub const MAX_LORAS: usize = 5;
/// Most textual inversions per image.
pub const MAX_TIS: usize = 20;
/// Most extra source images.
pub const MAX_EXTRA_SOURCE_IMAGES: usize = 5;
/// Bounds of a LoRA's or TI's strength.
pub const MAX_ADAPTER_STRENGTH: f64 = 5.0;
/// Most characters of a LoRA or TI name.
pub const MAX_ADAPTER_NAME: usize = 255;
/// Most characters of a LoRA's inject_trigger.
pub const MAX_INJECT_TRIGGER: usize = 30;
/// Most stop sequences in a text request.
pub const MAX_STOP_SEQUENCES: usize = 128;
/// Most characters of all stop sequences together.
pub const MAX_STOP_SEQUENCE_CHARS: usize = 2000;
/// Fewest distinct entries of a given `sampler_order`.
pub const MIN_SAMPLER_ORDER: usize = 7;
/// Webhook URL length bounds.
pub const WEBHOOK_LEN: std::ops::RangeInclusive<usize> = 10..=1024;

/// A request that breaks one of upstream's rules.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message} ({rc})")]
pub struct ValidationError {
    /// The offending field, as a dotted path (`params.width`).
    pub field: String,
    /// Upstream's return code for this rule.
    pub rc: Rc,
    /// What is wrong, in plain words.
    pub message: String,
}

impl ValidationError {
    fn new(field: impl Into<String>, rc: Rc, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            rc,
            message: message.into(),
        }
    }

    fn schema(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(field, Rc::BadRequest, message)
    }

    /// The HTTP error body for this failure. Schema-level failures carry the
    /// `errors` map upstream sends; named rules carry their message.
    pub fn to_error_body(&self) -> ErrorBody {
        if self.rc == Rc::BadRequest {
            ErrorBody {
                message: "Input payload validation failed".to_owned(),
                rc: Some(Rc::BadRequest),
                errors: Some([(self.field.clone(), self.message.clone())].into()),
            }
        } else {
            ErrorBody::new(self.rc.clone(), format!("{}: {}", self.field, self.message))
        }
    }

    /// The body a client reports before sending anything: upstream's code,
    /// the `errors` map, and a message that names the field for every rule
    /// (a schema failure's message alone would not).
    pub fn explained(&self) -> ErrorBody {
        ErrorBody {
            message: format!("{}: {}", self.field, self.message),
            rc: Some(self.rc.clone()),
            errors: Some([(self.field.clone(), self.message.clone())].into()),
        }
    }
}

type Check = Result<(), ValidationError>;

fn in_range_f64(field: &str, v: Option<f64>, lo: f64, hi: f64) -> Check {
    match v {
        Some(x) if !x.is_finite() || x < lo || x > hi => Err(ValidationError::schema(
            field,
            format!("{x} is not between {lo} and {hi}"),
        )),
        _ => Ok(()),
    }
}

fn in_range_u32(field: &str, v: Option<u32>, lo: u32, hi: u32) -> Check {
    match v {
        Some(x) if x < lo || x > hi => Err(ValidationError::schema(
            field,
            format!("{x} is not between {lo} and {hi}"),
        )),
        _ => Ok(()),
    }
}

fn check_prompt(prompt: &str) -> Check {
    if prompt.is_empty() {
        return Err(ValidationError::new(
            "prompt",
            Rc::MissingPrompt,
            "You cannot specify an empty prompt.",
        ));
    }
    if prompt.contains('\0') {
        return Err(ValidationError::new(
            "prompt",
            Rc::NulByteInPayload,
            "The prompt contains a NUL byte.",
        ));
    }
    Ok(())
}

fn check_models(models: &[String]) -> Check {
    if models.len() > MAX_REQUEST_MODELS {
        return Err(ValidationError::schema(
            "models",
            format!("a request may name at most {MAX_REQUEST_MODELS} models"),
        ));
    }
    if let Some(i) = models
        .iter()
        .position(|m| m.chars().count() > MAX_MODEL_NAME)
    {
        return Err(ValidationError::schema(
            format!("models.{i}"),
            format!("model names are at most {MAX_MODEL_NAME} characters"),
        ));
    }
    Ok(())
}

fn check_webhook(webhook: Option<&str>) -> Check {
    let Some(url) = webhook else { return Ok(()) };
    if !url.starts_with("https://") || !WEBHOOK_LEN.contains(&url.len()) {
        return Err(ValidationError::schema(
            "webhook",
            "webhooks must be https URLs of 10 to 1024 characters",
        ));
    }
    Ok(())
}

/// Checks an image async request against every stateless rule upstream enforces.
pub fn validate_image_request(req: &ImageGenerateRequest) -> Check {
    check_prompt(&req.prompt)?;
    if req.prompt.len() > MAX_IMAGE_PROMPT_BYTES
        || req.prompt.split_whitespace().count() > MAX_PROMPT_WORDS
    {
        return Err(ValidationError::new(
            "prompt",
            Rc::InvalidPromptSize,
            "Too large prompt. Please reduce the amount of tokens contained.",
        ));
    }
    check_models(req.options.models.as_deref().unwrap_or_default())?;
    for (i, model) in req.options.models.iter().flatten().enumerate() {
        if super::image::PostProcessor::from(model.as_str()).is_known() {
            return Err(ValidationError::new(
                format!("models.{i}"),
                Rc::UnexpectedModelName,
                format!("'{model}' is a post-processor, not a model"),
            ));
        }
    }
    if req.source_image.is_none() && req.source_mask.is_some() {
        return Err(ValidationError::new(
            "source_mask",
            Rc::SourceMaskUnnecessary,
            "Please do not pass a source_mask unless you are sending a source_image as well",
        ));
    }
    if let Some(sp) = &req.source_processing
        && !sp.is_known()
    {
        return Err(ValidationError::schema(
            "source_processing",
            format!("'{sp}' is not one of {:?}", SourceProcessing::KNOWN),
        ));
    }
    if let Some(extra) = req
        .options
        .extra_source_images
        .as_ref()
        .filter(|e| !e.is_empty())
    {
        if extra.len() > MAX_EXTRA_SOURCE_IMAGES {
            return Err(ValidationError::new(
                "extra_source_images",
                Rc::TooManyExtraSourceImages,
                "You can send a maximum of 5 extra source images.",
            ));
        }
        if req.source_processing() != SourceProcessing::Remix {
            return Err(ValidationError::new(
                "extra_source_images",
                Rc::InvalidExtraSourceImages,
                "This request type does not accept extra source images.",
            ));
        }
    }
    check_webhook(req.options.webhook.as_deref())?;
    if let Some(params) = &req.params {
        validate_image_params(params, req)?;
    }
    Ok(())
}

fn check_side(field: &str, v: Option<u32>) -> Check {
    match v {
        Some(x)
            if !(MIN_IMAGE_SIDE..=MAX_IMAGE_SIDE).contains(&x) || x % IMAGE_SIDE_MULTIPLE != 0 =>
        {
            Err(ValidationError::new(
                field,
                Rc::InvalidSize,
                format!(
                    "{x} is invalid: image dimensions have to be multiples of 64 between 64 and 3072"
                ),
            ))
        }
        _ => Ok(()),
    }
}

fn validate_image_params(p: &ImageParams, req: &ImageGenerateRequest) -> Check {
    let s = &p.settings;
    check_side("params.width", s.width)?;
    check_side("params.height", s.height)?;
    match p.steps {
        Some(0) => return Err(ValidationError::schema("params.steps", "0 is less than 1")),
        Some(x) if x > MAX_STEPS => {
            return Err(ValidationError::new(
                "params.steps",
                Rc::TooManySteps,
                "Too many sampling steps. To allow resources for everyone, we allow only up to 500 steps.",
            ));
        }
        _ => {}
    }
    in_range_u32("params.n", p.n, 1, MAX_N)?;
    if let Some(cfg) = s.cfg_scale {
        if !cfg.is_finite() {
            return Err(ValidationError::new(
                "params.cfg_scale",
                Rc::BadCFGNumber,
                "cfg_scale must be a valid number",
            ));
        }
        in_range_f64("params.cfg_scale", Some(cfg), 0.0, MAX_CFG_SCALE)?;
        if (cfg * 100.0).round() / 100.0 != cfg {
            return Err(ValidationError::new(
                "params.cfg_scale",
                Rc::BadCFGDecimals,
                "cfg_scale must be rounded to 2 decimal places",
            ));
        }
    }
    in_range_f64("params.denoising_strength", s.denoising_strength, 0.01, 1.0)?;
    in_range_f64(
        "params.hires_fix_denoising_strength",
        s.hires_fix_denoising_strength,
        0.01,
        1.0,
    )?;
    in_range_f64("params.facefixer_strength", s.facefixer_strength, 0.0, 1.0)?;
    in_range_u32("params.seed_variation", p.seed_variation, 1, 1000)?;
    in_range_u32("params.clip_skip", s.clip_skip, 1, 12)?;
    if let Some(sampler) = &s.sampler_name
        && !sampler.is_known()
    {
        return Err(ValidationError::schema(
            "params.sampler_name",
            format!("'{sampler}' is not a known sampler"),
        ));
    }
    if let Some(seed) = &s.seed
        && seed.contains('\0')
    {
        return Err(ValidationError::new(
            "params.seed",
            Rc::NulByteInPayload,
            "The seed contains a NUL byte.",
        ));
    }
    let mut seen = HashSet::new();
    let mut upscalers = 0;
    for pp in p.post_processing() {
        if !pp.is_known() {
            return Err(ValidationError::schema(
                "params.post_processing",
                format!("'{pp}' is not a known post-processor"),
            ));
        }
        if !seen.insert(pp) {
            return Err(ValidationError::schema(
                "params.post_processing",
                format!("'{pp}' is listed twice"),
            ));
        }
        upscalers += usize::from(pp.is_upscaler());
    }
    if upscalers > 1 {
        return Err(ValidationError::new(
            "params.post_processing",
            Rc::TooManyUpscalers,
            "Cannot use more than 1 upscaler at a time.",
        ));
    }
    validate_adapters(p)?;
    if let Some(ct) = &s.control_type {
        if !ct.is_known() {
            return Err(ValidationError::schema(
                "params.control_type",
                format!("'{ct}' is not a known control type"),
            ));
        }
        if req.source_image.is_none() {
            return Err(ValidationError::new(
                "params.control_type",
                Rc::ControlNetSourceMissing,
                "Controlnet Requires a source image.",
            ));
        }
        if req.source_processing() == SourceProcessing::Inpainting {
            return Err(ValidationError::new(
                "params.control_type",
                Rc::ControlNetInpaintingMismatch,
                "ControlNet cannot be used with inpainting at this time",
            ));
        }
    }
    if s.image_is_control == Some(true) && s.return_control_map == Some(true) {
        return Err(ValidationError::new(
            "params.return_control_map",
            Rc::ControlNetInvalidPayload,
            "Invalid ControlNet parameters - cannot send inital map and return the same map",
        ));
    }
    Ok(())
}

fn check_adapter_name(field: &str, name: &str) -> Check {
    let len = name.chars().count();
    if len == 0 || len > MAX_ADAPTER_NAME {
        return Err(ValidationError::schema(
            field,
            "names must be 1 to 255 characters",
        ));
    }
    Ok(())
}

fn check_strength(field: &str, v: Option<f64>) -> Check {
    in_range_f64(field, v, -MAX_ADAPTER_STRENGTH, MAX_ADAPTER_STRENGTH)
}

fn validate_adapters(p: &ImageParams) -> Check {
    let s = &p.settings;
    let loras = s.loras.as_deref().unwrap_or_default();
    if loras.len() > MAX_LORAS {
        return Err(ValidationError::new(
            "params.loras",
            Rc::TooManyLoras,
            "You cannot request more than 5 loras per generation.",
        ));
    }
    for (i, lora) in loras.iter().enumerate() {
        let at = |f: &str| format!("params.loras.{i}.{f}");
        check_adapter_name(&at("name"), &lora.name)?;
        check_strength(&at("model"), lora.model)?;
        check_strength(&at("clip"), lora.clip)?;
        if let Some(t) = &lora.inject_trigger {
            let len = t.chars().count();
            if len == 0 || len > MAX_INJECT_TRIGGER {
                return Err(ValidationError::schema(
                    at("inject_trigger"),
                    "inject_trigger must be 1 to 30 characters",
                ));
            }
        }
        if lora.is_version == Some(true) && !lora.name.chars().all(|c| c.is_ascii_digit()) {
            return Err(ValidationError::new(
                at("name"),
                Rc::BadLoraVersion,
                "explicit LoRa version requests have to be a version ID (i.e integer).",
            ));
        }
    }
    let tis = s.tis.as_deref().unwrap_or_default();
    if tis.len() > MAX_TIS {
        return Err(ValidationError::new(
            "params.tis",
            Rc::TooManyTIs,
            "You cannot request more than 20 Textual Inversions per generation.",
        ));
    }
    for (i, ti) in tis.iter().enumerate() {
        let at = |f: &str| format!("params.tis.{i}.{f}");
        check_adapter_name(&at("name"), &ti.name)?;
        check_strength(&at("strength"), ti.strength)?;
        if let Some(inject) = &ti.inject_ti
            && inject != "prompt"
            && inject != "negprompt"
        {
            return Err(ValidationError::schema(
                at("inject_ti"),
                "inject_ti must be 'prompt' or 'negprompt'",
            ));
        }
    }
    Ok(())
}

/// Checks a text async request against every stateless rule upstream enforces.
pub fn validate_text_request(req: &TextGenerateRequest) -> Check {
    check_prompt(&req.prompt)?;
    let context = req.params.as_ref().map_or(2048, |p| p.max_context_length());
    let limit = (context as usize).saturating_mul(TEXT_PROMPT_BYTES_PER_TOKEN);
    if req.prompt.len() > limit {
        return Err(ValidationError::new(
            "prompt",
            Rc::InvalidPromptSize,
            format!(
                "Too large prompt: {} bytes for a context of {context} tokens (at most {limit}).",
                req.prompt.len()
            ),
        ));
    }
    check_models(req.options.models.as_deref().unwrap_or_default())?;
    if req
        .options
        .extra_source_images
        .as_ref()
        .is_some_and(|e| !e.is_empty())
    {
        return Err(ValidationError::new(
            "extra_source_images",
            Rc::InvalidExtraSourceImages,
            "This request type does not accept extra source images.",
        ));
    }
    check_webhook(req.options.webhook.as_deref())?;
    if let Some(params) = &req.params {
        validate_text_params(params)?;
    }
    Ok(())
}

/// Smallest and largest `max_context_length`.
pub const CONTEXT_LENGTH_RANGE: (u32, u32) = (80, 1_048_576);
/// Smallest and largest `max_length`.
pub const MAX_LENGTH_RANGE: (u32, u32) = (16, 4096);

fn validate_text_params(p: &TextParams) -> Check {
    in_range_u32("params.n", p.n, 1, MAX_N)?;
    let (lo, hi) = CONTEXT_LENGTH_RANGE;
    in_range_u32("params.max_context_length", p.max_context_length, lo, hi)?;
    let (lo, hi) = MAX_LENGTH_RANGE;
    in_range_u32("params.max_length", p.max_length, lo, hi)?;
    if p.max_length() > p.max_context_length() {
        return Err(ValidationError::new(
            "params.max_length",
            Rc::TokenOverflow,
            "You cannot request more tokens than your context length.",
        ));
    }
    in_range_f64("params.temperature", p.temperature, 0.0, 5.0)?;
    in_range_f64("params.top_p", p.top_p, 0.001, 1.0)?;
    in_range_u32("params.top_k", p.top_k, 0, 200)?;
    in_range_f64("params.top_a", p.top_a, 0.0, 1.0)?;
    in_range_f64("params.typical", p.typical, 0.0, 1.0)?;
    in_range_f64("params.tfs", p.tfs, 0.0, 1.0)?;
    in_range_f64("params.min_p", p.min_p, 0.0, 1.0)?;
    in_range_f64("params.rep_pen", p.rep_pen, 1.0, 3.0)?;
    in_range_u32("params.rep_pen_range", p.rep_pen_range, 0, 4096)?;
    in_range_f64("params.rep_pen_slope", p.rep_pen_slope, 0.0, 10.0)?;
    in_range_f64("params.smoothing_factor", p.smoothing_factor, 0.0, 10.0)?;
    in_range_f64("params.dynatemp_range", p.dynatemp_range, 0.0, 5.0)?;
    in_range_f64("params.dynatemp_exponent", p.dynatemp_exponent, 0.0, 5.0)?;
    if let Some(order) = &p.sampler_order {
        let distinct: HashSet<_> = order.iter().collect();
        if distinct.len() < MIN_SAMPLER_ORDER {
            return Err(ValidationError::new(
                "params.sampler_order",
                Rc::MissingFullSamplerOrder,
                "When sending a custom sampler order, you need to specify all possible samplers in the order",
            ));
        }
    }
    if let Some(stops) = &p.stop_sequence {
        let unique: HashSet<_> = stops.iter().collect();
        if unique.len() > MAX_STOP_SEQUENCES {
            return Err(ValidationError::new(
                "params.stop_sequence",
                Rc::TooManyStopSequences,
                "Too many stop sequences specified (max allowed is 128).",
            ));
        }
        let chars: usize = unique.iter().map(|s| s.chars().count()).sum();
        if chars > MAX_STOP_SEQUENCE_CHARS {
            return Err(ValidationError::new(
                "params.stop_sequence",
                Rc::ExcessiveStopSequence,
                "Your stop sequences are too long in total (max allowed is 2000 characters).",
            ));
        }
    }
    Ok(())
}

/// Checks an interrogation request: at least one known form and a source image.
pub fn validate_interrogation_request(req: &InterrogationRequest) -> Check {
    validate_forms(&req.forms)?;
    if req.source_image.trim().is_empty() {
        return Err(ValidationError::new(
            "source_image",
            Rc::ImageValidationFailed,
            "Image validation failed. A source image is required.",
        ));
    }
    check_webhook(req.webhook.as_deref())
}

/// The forms of an interrogation request: at least one, each known.
pub fn validate_forms(forms: &[crate::api::InterrogationFormRequest]) -> Check {
    if forms.is_empty() {
        return Err(ValidationError::schema(
            "forms",
            "at least one form is required",
        ));
    }
    for (i, form) in forms.iter().enumerate() {
        if !form.name.is_known() {
            return Err(ValidationError::schema(
                format!("forms.{i}.name"),
                format!("'{}' is not a known form", form.name),
            ));
        }
    }
    Ok(())
}
