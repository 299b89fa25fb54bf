//! Jobs as backends see them, read from pop answers, and what backends hand
//! back. Nothing here talks to the network: the worker loop downloads source
//! images before a job reaches a backend, and uploads results after.

use crate::api::{
    FormName, GenMetadata, GenerationState, ImagePopResponse, ImageSettings, InterrogationPopForm,
    SourceProcessing, TextParams, TextPopResponse,
};

/// Which kind of work a worker does: one worker (one name) does one kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WorkKind {
    /// Images (a "dreamer").
    Image,
    /// Text (a "scribe").
    Text,
    /// Interrogation and post-processing forms (an "alchemist").
    Alchemy,
}

impl WorkKind {
    /// The horde's word for this kind of worker.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkKind::Image => "image",
            WorkKind::Text => "text",
            WorkKind::Alchemy => "interrogation",
        }
    }
}

/// A source image for img2img, inpainting or an alchemy form, already fetched.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceImage {
    /// The encoded image (WebP, PNG or JPEG).
    pub bytes: Vec<u8>,
    /// The inpainting mask, when one came.
    pub mask: Option<Vec<u8>>,
    /// What to do with it.
    pub processing: SourceProcessing,
}

/// One image job: `count` images of one request.
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
    /// Every other setting of the payload (sampler, cfg, karras, loras, …).
    pub settings: ImageSettings,
    /// The source image for img2img and painting.
    pub source: Option<SourceImage>,
}

impl ImageJob {
    /// The job a pop answer describes, or `None` when the pop found no work.
    /// Source images are attached later, once fetched.
    pub fn from_pop(pop: &ImagePopResponse) -> Option<Self> {
        pop.id.as_ref()?;
        let p = &pop.payload;
        let (prompt, negative) = split_prompt(p.prompt.as_deref().unwrap_or_default());
        Some(Self {
            prompt,
            negative,
            width: p.settings.width.unwrap_or(512),
            height: p.settings.height.unwrap_or(512),
            steps: p.ddim_steps.unwrap_or(30),
            // Upstream always sends an integer; a worker given none picks one
            // (reGen does the same), kept below 2^32 as the horde expects.
            seed: p.seed_number().unwrap_or_else(random_seed),
            count: pop.ids.len().max(1) as u32,
            model: pop.model.clone().unwrap_or_default(),
            settings: p.settings.clone(),
            source: None,
        })
    }

    /// Pixel-steps of the whole job: the unit the worker measures image speed in.
    pub fn work(&self) -> f64 {
        f64::from(self.width)
            * f64::from(self.height)
            * f64::from(self.steps.max(1))
            * f64::from(self.count.max(1))
    }
}

/// Splits the horde's `positive###negative` prompt.
pub fn split_prompt(prompt: &str) -> (String, Option<String>) {
    match prompt.split_once("###") {
        Some((pos, neg)) => (pos.trim().to_owned(), Some(neg.trim().to_owned())),
        None => (prompt.to_owned(), None),
    }
}

fn random_seed() -> i64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    (h.finish() & 0xffff_ffff) as i64
}

/// One text job.
#[derive(Clone, Debug, PartialEq)]
pub struct TextJob {
    /// The prompt, context included.
    pub prompt: String,
    /// The model asked for.
    pub model: String,
    /// The request's sampling settings.
    pub params: TextParams,
    /// Tokens to generate at most.
    pub max_length: u32,
    /// Context tokens the prompt may fill at most.
    pub max_context_length: u32,
}

impl TextJob {
    /// The job a pop answer describes, or `None` when the pop found no work.
    pub fn from_pop(pop: &TextPopResponse) -> Option<Self> {
        pop.id.as_ref()?;
        let params = pop.payload.params.clone();
        Some(Self {
            prompt: pop.payload.prompt.clone().unwrap_or_default(),
            model: pop.model.clone().unwrap_or_default(),
            max_length: params.max_length.unwrap_or(80),
            max_context_length: params.max_context_length.unwrap_or(1024),
            params,
        })
    }

    /// Tokens asked for: the unit the worker measures text speed in.
    pub fn work(&self) -> f64 {
        f64::from(self.max_length.max(1))
    }
}

/// One alchemy form on a fetched image.
#[derive(Clone, Debug, PartialEq)]
pub struct FormJob {
    /// Which form.
    pub form: FormName,
    /// Form-specific settings.
    pub payload: serde_json::Map<String, serde_json::Value>,
    /// The image to work on.
    pub image: Vec<u8>,
}

impl FormJob {
    /// The job a popped form describes, with its fetched image.
    pub fn from_pop(form: &InterrogationPopForm, image: Vec<u8>) -> Self {
        Self {
            form: form.form.clone(),
            payload: form.payload.clone().unwrap_or_default(),
            image,
        }
    }
}

/// A job of any kind.
#[derive(Clone, Debug, PartialEq)]
pub enum Job {
    /// Images.
    Image(ImageJob),
    /// Text.
    Text(TextJob),
    /// An alchemy form.
    Form(FormJob),
}

impl Job {
    /// The kind of work this is.
    pub fn kind(&self) -> WorkKind {
        match self {
            Job::Image(_) => WorkKind::Image,
            Job::Text(_) => WorkKind::Text,
            Job::Form(_) => WorkKind::Alchemy,
        }
    }

    /// A short description for logs and status lines.
    pub fn summary(&self) -> String {
        let clip = |s: &str| -> String {
            let mut c: String = s.chars().take(40).collect();
            if s.chars().count() > 40 {
                c.push('…');
            }
            c
        };
        match self {
            Job::Image(j) => format!(
                "{}×{} image{} {}×{} '{}'",
                j.count,
                j.steps,
                if j.count == 1 { "" } else { "s" },
                j.width,
                j.height,
                clip(&j.prompt)
            ),
            Job::Text(j) => format!("{} tokens of '{}'", j.max_length, clip(&j.prompt)),
            Job::Form(j) => format!("form {}", j.form.as_str()),
        }
    }
}

/// One finished image.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageResult {
    /// The image as WebP (the worker converts other formats before upload).
    pub webp: Vec<u8>,
    /// The seed it was made with.
    pub seed: i64,
    /// `ok`, or `censored`/`csam` when the backend's safety check replaced it.
    pub state: GenerationState,
    /// What the backend wants the requester to know (≤ 50 entries are sent).
    pub metadata: Vec<GenMetadata>,
}

impl ImageResult {
    /// A plain result.
    pub fn new(webp: Vec<u8>, seed: i64) -> Self {
        Self {
            webp,
            seed,
            state: GenerationState::Ok,
            metadata: Vec::new(),
        }
    }

    /// A result from RGBA8 pixels (`width × height × 4` bytes, row by
    /// row), encoded here as lossless WebP. Encoding takes milliseconds for
    /// large images: call it on a backend's thread, never in a game's frame
    /// (a game answering a job hands pixels to the runtime instead, which
    /// encodes on its own threads).
    pub fn from_rgba(
        width: u32,
        height: u32,
        rgba: Vec<u8>,
        seed: i64,
    ) -> Result<Self, crate::worker::BackendError> {
        let need = width as usize * height as usize * 4;
        if width == 0 || height == 0 || rgba.len() != need {
            return Err(crate::worker::BackendError::new(format!(
                "a {width}×{height} RGBA8 image has {need} bytes, not {}",
                rgba.len()
            )));
        }
        let img = image::RgbaImage::from_raw(width, height, rgba)
            .ok_or_else(|| crate::worker::BackendError::new("the image has too few bytes"))?;
        Ok(Self::new(super::backends::procedural::to_webp(&img)?, seed))
    }
}

/// One finished text.
#[derive(Clone, Debug, PartialEq)]
pub struct TextResult {
    /// The generated text (the prompt not repeated).
    pub text: String,
    /// Tokens generated, when the backend counted them.
    pub tokens: Option<u32>,
    /// The seed used, when the backend reports one.
    pub seed: Option<i64>,
}

/// One finished form.
#[derive(Clone, Debug, PartialEq)]
pub enum FormResult {
    /// An analysis value (a caption string, an nsfw bool, an interrogation object).
    Value(serde_json::Value),
    /// A post-processed image (WebP), uploaded before submitting.
    Image(Vec<u8>),
}

/// What a backend hands back for a [`Job`] of the same kind.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// The images of an image job, one per image asked.
    Images(Vec<ImageResult>),
    /// The text of a text job.
    Text(TextResult),
    /// The result of a form.
    Form(FormResult),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_result_from_pixels_is_lossless_webp_and_a_wrong_size_is_refused() {
        let rgba: Vec<u8> = (0..3 * 2 * 4).map(|i| (i * 10) as u8).collect();
        let r = ImageResult::from_rgba(3, 2, rgba.clone(), 7).expect("encoded");
        assert_eq!((r.seed, r.state), (7, GenerationState::Ok));
        let back = image::load_from_memory_with_format(&r.webp, image::ImageFormat::WebP)
            .expect("webp")
            .to_rgba8();
        assert_eq!((back.width(), back.height()), (3, 2));
        assert_eq!(back.into_raw(), rgba, "lossless");
        let short = ImageResult::from_rgba(3, 2, vec![0; 5], 0).unwrap_err();
        assert!(short.to_string().contains("24 bytes, not 5"), "{short}");
        assert!(ImageResult::from_rgba(0, 2, Vec::new(), 0).is_err());
    }

    #[test]
    fn image_jobs_are_read_from_pop_answers() {
        let pop: ImagePopResponse = serde_json::from_str(include_str!(
            "../../tests/fixtures/wire/image_pop_response.json"
        ))
        .expect("pop");
        let job = ImageJob::from_pop(&pop).expect("a job");
        assert_eq!(
            (job.width, job.height, job.steps, job.seed, job.count),
            (512, 512, 20, 181_876_399, 1)
        );
        assert_eq!(job.prompt, "a red apple on a wooden table");
        let empty: ImagePopResponse = serde_json::from_str(include_str!(
            "../../tests/fixtures/wire/image_pop_empty.json"
        ))
        .expect("pop");
        assert!(ImageJob::from_pop(&empty).is_none());
        let mut neg = pop.clone();
        neg.payload.prompt = Some("castle ### fog, blur".into());
        let job = ImageJob::from_pop(&neg).expect("a job");
        assert_eq!(
            (job.prompt.as_str(), job.negative.as_deref()),
            ("castle", Some("fog, blur"))
        );
        let mut unseeded = pop;
        unseeded.payload.settings.seed = None;
        let seed = ImageJob::from_pop(&unseeded).expect("a job").seed;
        assert!((0..1 << 32).contains(&seed));
    }
}
