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

use super::{SourceImage, WorkerBackend};
use crate::worker::BackendError;

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
    /// The image job's width and height, which every answered image must
    /// have; `(0, 0)` for other jobs.
    pub size: (u32, u32),
}

impl JobShape {
    /// The shape of `job`.
    pub fn of(job: &Job) -> Self {
        match job {
            Job::Image(j) => Self {
                kind: WorkKind::Image,
                seed: j.seed,
                count: j.count.max(1),
                size: (j.width, j.height),
            },
            Job::Text(_) => Self {
                kind: WorkKind::Text,
                seed: 0,
                count: 1,
                size: (0, 0),
            },
            Job::Form(_) => Self {
                kind: WorkKind::Alchemy,
                seed: 0,
                count: 1,
                size: (0, 0),
            },
        }
    }

    fn expect(&self, kind: WorkKind) -> Result<(), String> {
        if self.kind != kind {
            return Err(format!("the job is {:?} work, not {kind:?}", self.kind));
        }
        Ok(())
    }

    /// The answer to an image job: exactly `count` images of the job's
    /// width × height; seeds are the job's seed plus the image's index.
    /// The pixels are checked and copied here (cheap); they are encoded to
    /// WebP on the runtime's threads, never on the caller's.
    pub fn images(&self, images: &[Rgba<'_>]) -> Result<Answer, String> {
        self.check_images(images)?;
        Ok(Answer(Pending::Images {
            seed: self.seed,
            images: images.iter().map(|img| img.to_owned_image()).collect(),
        }))
    }

    /// The answer to an image job from pixels the game hands over instead
    /// of having them copied ([`Pixels`]): checked here like
    /// [`Self::images`]; read on the runtime's threads to be encoded and
    /// dropped there (where a surface gives the game its buffer back).
    /// Refused, the pixels come back with the reason.
    pub fn images_handed_over(
        &self,
        pixels: Box<dyn Pixels>,
    ) -> Result<Answer, (String, Box<dyn Pixels>)> {
        if let Err(why) = self.check_images(&pixels.images()) {
            return Err((why, pixels));
        }
        Ok(Answer(Pending::HandedOver {
            seed: self.seed,
            pixels,
        }))
    }

    /// Checks an image answer — exactly `count` images of the job's width ×
    /// height, each with its bytes — without copying it.
    pub fn check_images(&self, images: &[Rgba<'_>]) -> Result<(), String> {
        self.expect(WorkKind::Image)?;
        if images.len() != self.count as usize {
            return Err(format!(
                "the job asks for {} image(s); {} were given",
                self.count,
                images.len()
            ));
        }
        let (w, h) = self.size;
        for (i, img) in images.iter().enumerate() {
            img.check().map_err(|e| format!("image {i}: {e}"))?;
            if (img.width, img.height) != (w, h) {
                return Err(format!(
                    "image {i} is {}×{}; the job asks for {w}×{h}",
                    img.width, img.height
                ));
            }
        }
        Ok(())
    }

    /// The answer to a text job (the generated text, the prompt not repeated).
    pub fn text(&self, text: &str) -> Result<Answer, String> {
        self.expect(WorkKind::Text)?;
        Ok(Answer::ready(Ok(Output::Text(TextResult {
            text: text.to_owned(),
            tokens: None,
            seed: None,
        }))))
    }

    /// The answer to an analysis form (`caption`, `nsfw`, `interrogation`).
    pub fn form(&self, value: serde_json::Value) -> Result<Answer, String> {
        self.expect(WorkKind::Alchemy)?;
        Ok(Answer::ready(Ok(Output::Form(FormResult::Value(value)))))
    }

    /// The answer to a post-processing form (an upscaler, a face fixer):
    /// checked and copied here, encoded on the runtime's threads.
    pub fn form_image(&self, image: &Rgba<'_>) -> Result<Answer, String> {
        self.expect(WorkKind::Alchemy)?;
        image.check()?;
        Ok(Answer(Pending::FormImage(image.to_owned_image())))
    }
}

/// A game's answer to a job, checked against the job: either the worker's
/// output as it is, or pixels the runtime encodes on its own threads
/// before the worker uploads them.
#[derive(Debug)]
pub struct Answer(Pending);

#[derive(Debug)]
enum Pending {
    Ready(Result<Output, BackendError>),
    Images { seed: i64, images: Vec<SourceImage> },
    HandedOver { seed: i64, pixels: Box<dyn Pixels> },
    FormImage(SourceImage),
}

/// Images a game hands over without a copy (see
/// [`JobShape::images_handed_over`]): the runtime reads them on its own
/// threads, then drops them there — a surface that lent the game's own
/// buffer gives it back in `Drop`.
pub trait Pixels: Send + std::fmt::Debug + 'static {
    /// The images, each `width × height × 4` bytes, row by row.
    fn images(&self) -> Vec<Rgba<'_>>;
}

impl Pixels for Vec<SourceImage> {
    fn images(&self) -> Vec<Rgba<'_>> {
        self.iter()
            .map(|img| Rgba {
                width: img.width,
                height: img.height,
                pixels: &img.rgba,
            })
            .collect()
    }
}

impl Answer {
    /// An answer that needs no encoding (a text, a form value, a failure,
    /// or images the game encoded itself).
    pub fn ready(result: Result<Output, BackendError>) -> Self {
        Self(Pending::Ready(result))
    }

    /// Whether turning it into the worker's output takes encoding work.
    pub(crate) fn needs_encoding(&self) -> bool {
        !matches!(self.0, Pending::Ready(_))
    }

    /// The worker's output: images are encoded to lossless WebP here (run
    /// it on a thread that may spend milliseconds).
    pub fn into_output(self) -> Result<Output, BackendError> {
        match self.0 {
            Pending::Ready(result) => result,
            Pending::Images { seed, images } => {
                let mut results = Vec::with_capacity(images.len());
                for (i, img) in images.into_iter().enumerate() {
                    results.push(ImageResult::new(encode(img)?, seed.wrapping_add(i as i64)));
                }
                Ok(Output::Images(results))
            }
            Pending::HandedOver { seed, pixels } => {
                let mut results = Vec::new();
                for (i, img) in pixels.images().into_iter().enumerate() {
                    let webp = img.to_webp().map_err(BackendError::new)?;
                    results.push(ImageResult::new(webp, seed.wrapping_add(i as i64)));
                }
                // `pixels` is dropped here, on the runtime's thread.
                Ok(Output::Images(results))
            }
            Pending::FormImage(img) => Ok(Output::Form(FormResult::Image(encode(img)?))),
        }
    }
}

impl From<Result<Output, BackendError>> for Answer {
    fn from(result: Result<Output, BackendError>) -> Self {
        Self::ready(result)
    }
}

fn encode(img: SourceImage) -> Result<Vec<u8>, BackendError> {
    let img = image::RgbaImage::from_raw(img.width, img.height, img.rgba)
        .ok_or_else(|| BackendError::new("the image has too few bytes"))?;
    to_webp(&img)
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
    /// Checks the sides and the byte count.
    pub fn check(&self) -> Result<(), String> {
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
        Ok(())
    }

    fn to_owned_image(self) -> SourceImage {
        SourceImage {
            width: self.width,
            height: self.height,
            rgba: self.pixels.to_vec(),
        }
    }

    /// Encodes the pixels as lossless WebP, checking the size first
    /// (milliseconds for large images: not for a game's frame).
    pub fn to_webp(&self) -> Result<Vec<u8>, String> {
        self.check()?;
        let mut out = Vec::new();
        image::codecs::webp::WebPEncoder::new_lossless(&mut out)
            .encode(
                self.pixels,
                self.width,
                self.height,
                image::ExtendedColorType::Rgba8,
            )
            .map_err(|e| format!("cannot encode WebP: {e}"))?;
        Ok(out)
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
            size: (2, 2),
        };
        let px = [7u8; 4 * 4];
        let img = Rgba {
            width: 2,
            height: 2,
            pixels: &px,
        };
        assert!(shape.text("x").unwrap_err().contains("not Text"));
        assert!(shape.images(&[img]).unwrap_err().contains("2 image(s); 1"));
        let small = Rgba {
            width: 1,
            height: 1,
            pixels: &px[..4],
        };
        assert!(
            shape
                .images(&[img, small])
                .unwrap_err()
                .contains("image 1 is 1×1; the job asks for 2×2")
        );
        match shape.images(&[img, img]).unwrap().into_output().unwrap() {
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
