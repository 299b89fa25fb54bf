//! What every engine surface (Bevy, Godot, C) does the same way around the
//! runtime's workers: turning a worker described in plain values (a name,
//! a backend in TOML or none, models) into a [`WorkerConfig`] and a
//! [`WorkerBackend`], and turning a game's answer to a job (RGBA pixels, a
//! text, a form value) into the worker's [`Output`], checked against the
//! job it answers. Engine types never appear here; each surface converts
//! its own pixels and strings and calls these.

use crate::api::FormName;
use crate::worker::backends::procedural::to_webp;
use crate::worker::{
    BackendConfig, FormResult, ImageResult, Job, Offer, Output, TextResult, WorkKind, WorkerConfig,
};

use super::WorkerBackend;

/// A worker as a surface describes it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WorkerSpec {
    /// The worker's name on the horde (unique per owner).
    pub name: String,
    /// A backend in the worker's TOML (`kind = "procedural"`, a bridge, …);
    /// `None`: the game answers the jobs itself.
    pub backend: Option<String>,
    /// The kind of jobs a game-answered worker takes (ignored with a backend).
    pub kind: Option<WorkKind>,
    /// The models (or, for alchemy, the forms) it serves; a backend may
    /// name its own when this is empty.
    pub models: Vec<String>,
    /// Whether it accepts NSFW requests.
    pub nsfw: bool,
    /// Largest image in pixels (width × height); `None`: the default.
    pub max_pixels: Option<u64>,
    /// Longest text it generates, in tokens; `None`: the default.
    pub max_length: Option<u32>,
    /// Longest prompt it reads, in tokens; `None`: the default.
    pub max_context_length: Option<u32>,
}

impl WorkerSpec {
    /// The worker's configuration and backend, or why they cannot be built.
    pub fn build(&self) -> Result<(WorkerConfig, WorkerBackend), String> {
        if self.name.trim().is_empty() {
            return Err("the worker needs a name".into());
        }
        if let Some(i) = self.models.iter().position(|m| m.trim().is_empty()) {
            return Err(format!("model {i} of the worker is empty"));
        }
        let mut config = WorkerConfig::named(&self.name);
        config.nsfw = self.nsfw;
        if let Some(p) = self.max_pixels.filter(|&p| p > 0) {
            config.max_pixels = p;
        }
        if let Some(l) = self.max_length.filter(|&l| l > 0) {
            config.max_length = l;
        }
        if let Some(l) = self.max_context_length.filter(|&l| l > 0) {
            config.max_context_length = l;
        }
        let backend = match self.backend.as_deref() {
            Some(toml_text) => {
                let chosen: BackendConfig =
                    toml::from_str(toml_text).map_err(|e| format!("the worker's backend: {e}"))?;
                let backend = chosen
                    .build()
                    .map_err(|e| format!("the worker's backend: {e}"))?;
                if backend.kind() == WorkKind::Alchemy {
                    config.forms = forms(&self.models)?;
                } else {
                    config.models = self.models.clone();
                }
                WorkerBackend::Backend(backend)
            }
            None => {
                let kind = self.kind.ok_or(
                    "a worker the game answers needs its kind of work (image, text or alchemy)",
                )?;
                if self.models.is_empty() {
                    return Err(
                        "a worker the game answers needs its models (or, for alchemy, its forms)"
                            .into(),
                    );
                }
                let mut offer = Offer::default();
                if kind == WorkKind::Alchemy {
                    offer.forms = forms(&self.models)?;
                    config.forms = offer.forms.clone();
                } else {
                    offer.models = self.models.clone();
                    config.models = self.models.clone();
                }
                WorkerBackend::Game { kind, offer }
            }
        };
        if let Some(problem) = config.problem() {
            return Err(problem);
        }
        Ok((config, backend))
    }
}

fn forms(names: &[String]) -> Result<Vec<FormName>, String> {
    names
        .iter()
        .map(|n| {
            serde_json::from_value(serde_json::Value::String(n.clone()))
                .map_err(|e| format!("form {n:?}: {e}"))
        })
        .collect()
}

/// What an answer to a job is checked against: kept by the surface from
/// the [`super::Event::WorkerJob`] until the game answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JobShape {
    /// Image, text or alchemy.
    pub kind: WorkKind,
    /// The image job's seed (the `i`-th image gets `seed + i`); 0 otherwise.
    pub seed: i64,
    /// Images the job asks for (1 for text and forms).
    pub count: u32,
}

impl JobShape {
    /// The shape of `job`.
    pub fn of(job: &Job) -> Self {
        match job {
            Job::Image(j) => Self {
                kind: WorkKind::Image,
                seed: j.seed,
                count: j.count.max(1),
            },
            Job::Text(_) => Self {
                kind: WorkKind::Text,
                seed: 0,
                count: 1,
            },
            Job::Form(_) => Self {
                kind: WorkKind::Alchemy,
                seed: 0,
                count: 1,
            },
        }
    }

    fn expect(&self, kind: WorkKind) -> Result<(), String> {
        if self.kind != kind {
            return Err(format!("the job is {:?} work, not {kind:?}", self.kind));
        }
        Ok(())
    }

    /// The answer to an image job: exactly `count` images, encoded to WebP
    /// for upload; seeds are the job's seed plus the image's index.
    pub fn images(&self, images: &[Rgba<'_>]) -> Result<Output, String> {
        self.expect(WorkKind::Image)?;
        if images.len() != self.count as usize {
            return Err(format!(
                "the job asks for {} image(s); {} were given",
                self.count,
                images.len()
            ));
        }
        let mut results = Vec::with_capacity(images.len());
        for (i, img) in images.iter().enumerate() {
            let webp = img.to_webp().map_err(|e| format!("image {i}: {e}"))?;
            results.push(ImageResult::new(webp, self.seed.wrapping_add(i as i64)));
        }
        Ok(Output::Images(results))
    }

    /// The answer to a text job (the generated text, the prompt not repeated).
    pub fn text(&self, text: &str) -> Result<Output, String> {
        self.expect(WorkKind::Text)?;
        Ok(Output::Text(TextResult {
            text: text.to_owned(),
            tokens: None,
            seed: None,
        }))
    }

    /// The answer to an analysis form (`caption`, `nsfw`, `interrogation`).
    pub fn form(&self, value: serde_json::Value) -> Result<Output, String> {
        self.expect(WorkKind::Alchemy)?;
        Ok(Output::Form(FormResult::Value(value)))
    }

    /// The answer to a post-processing form (an upscaler, a face fixer).
    pub fn form_image(&self, image: &Rgba<'_>) -> Result<Output, String> {
        self.expect(WorkKind::Alchemy)?;
        Ok(Output::Form(FormResult::Image(image.to_webp()?)))
    }
}

/// RGBA8 pixels a game hands over, row by row.
#[derive(Clone, Copy, Debug)]
pub struct Rgba<'a> {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width × height × 4` bytes.
    pub pixels: &'a [u8],
}

/// The largest side an answered image may have.
pub const MAX_ANSWER_SIDE: u32 = 8192;

impl Rgba<'_> {
    /// Encodes the pixels as lossless WebP, checking the size first.
    pub fn to_webp(&self) -> Result<Vec<u8>, String> {
        let (w, h) = (self.width, self.height);
        if w == 0 || h == 0 || w > MAX_ANSWER_SIDE || h > MAX_ANSWER_SIDE {
            return Err(format!(
                "the image is {w}×{h}; sides must be 1 to {MAX_ANSWER_SIDE}"
            ));
        }
        let need = w as usize * h as usize * 4;
        if self.pixels.len() != need {
            return Err(format!(
                "a {w}×{h} RGBA8 image has {need} bytes, not {}",
                self.pixels.len()
            ));
        }
        let img = image::RgbaImage::from_raw(w, h, self.pixels.to_vec())
            .ok_or("the image has too few bytes")?;
        to_webp(&img).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_game_answered_worker_needs_a_kind_and_models() {
        let mut spec = WorkerSpec {
            name: "w".into(),
            ..WorkerSpec::default()
        };
        assert!(spec.build().unwrap_err().contains("kind of work"));
        spec.kind = Some(WorkKind::Text);
        assert!(spec.build().unwrap_err().contains("models"));
        spec.models = vec!["test/echo".into()];
        let (config, backend) = spec.build().unwrap();
        assert_eq!(config.models, ["test/echo"]);
        assert!(matches!(
            backend,
            WorkerBackend::Game {
                kind: WorkKind::Text,
                ..
            }
        ));
    }

    #[test]
    fn backends_come_from_toml_and_bad_toml_is_an_error() {
        let spec = WorkerSpec {
            name: "w".into(),
            backend: Some("kind = \"procedural\"".into()),
            ..WorkerSpec::default()
        };
        let (_, backend) = spec.build().unwrap();
        assert!(matches!(backend, WorkerBackend::Backend(_)));
        let bad = WorkerSpec {
            backend: Some("kind = \"no-such-backend\"".into()),
            ..spec.clone()
        };
        assert!(bad.build().unwrap_err().starts_with("the worker's backend"));
        let unnamed = WorkerSpec {
            name: " ".into(),
            ..spec
        };
        assert!(unnamed.build().is_err());
    }

    #[test]
    fn answers_are_checked_against_the_job() {
        let shape = JobShape {
            kind: WorkKind::Image,
            seed: 10,
            count: 2,
        };
        let px = [7u8; 4 * 4];
        let img = Rgba {
            width: 2,
            height: 2,
            pixels: &px,
        };
        assert!(shape.text("x").unwrap_err().contains("not Text"));
        assert!(shape.images(&[img]).unwrap_err().contains("2 image(s); 1"));
        match shape.images(&[img, img]).unwrap() {
            Output::Images(r) => assert_eq!(r.iter().map(|r| r.seed).collect::<Vec<_>>(), [10, 11]),
            other => panic!("{other:?}"),
        }
        let short = Rgba {
            width: 3,
            height: 2,
            pixels: &px,
        };
        assert!(short.to_webp().unwrap_err().contains("24 bytes"));
        let empty = Rgba {
            width: 0,
            height: 2,
            pixels: &[],
        };
        assert!(empty.to_webp().is_err());
    }
}
