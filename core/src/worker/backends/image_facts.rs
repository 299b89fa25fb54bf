//! The built-in alchemist: answers `caption` forms with what can be measured
//! in the image itself — its size and dominant colour — without any model.
//! It exists for demos and tests and says so in its name; real captions
//! need a model (a bridge or a game-supplied backend).

use super::{Backend, BackendError, BoxFuture, Offer};
use crate::api::{AnalysisForm, FormName};
use crate::client::CancelSignal;
use crate::worker::job::{FormResult, Job, Output, WorkKind};

/// Captions from image statistics.
#[derive(Clone, Debug, Default)]
pub struct ImageFacts;

const COLOURS: [(&str, [u8; 3]); 11] = [
    ("black", [0, 0, 0]),
    ("white", [255, 255, 255]),
    ("grey", [128, 128, 128]),
    ("red", [200, 30, 30]),
    ("orange", [240, 140, 20]),
    ("yellow", [230, 220, 40]),
    ("green", [40, 170, 60]),
    ("teal", [30, 150, 150]),
    ("blue", [40, 70, 200]),
    ("purple", [130, 50, 170]),
    ("pink", [240, 130, 180]),
];

/// The caption for an encoded image.
pub fn caption(bytes: &[u8]) -> Result<String, BackendError> {
    let img = image::load_from_memory(bytes)
        .map_err(|e| BackendError(format!("cannot read the image: {e}")))?
        .into_rgb8();
    let mut votes = [0u64; COLOURS.len()];
    for px in img.pixels() {
        let nearest = COLOURS
            .iter()
            .enumerate()
            .min_by_key(|(_, (_, c))| {
                (0..3)
                    .map(|i| (i32::from(px[i]) - i32::from(c[i])).pow(2))
                    .sum::<i32>()
            })
            .map_or(0, |(i, _)| i);
        votes[nearest] += 1;
    }
    let top = votes
        .iter()
        .enumerate()
        .max_by_key(|(_, v)| **v)
        .map_or(0, |(i, _)| i);
    Ok(format!(
        "a {}x{} image, mostly {}",
        img.width(),
        img.height(),
        COLOURS[top].0
    ))
}

impl Backend for ImageFacts {
    fn name(&self) -> &str {
        "image facts (built-in, no model)"
    }

    fn kind(&self) -> WorkKind {
        WorkKind::Alchemy
    }

    fn offer(&self) -> BoxFuture<'_, Result<Offer, BackendError>> {
        Box::pin(async {
            Ok(Offer {
                forms: vec![FormName::Analysis(AnalysisForm::Caption)],
                ..Offer::default()
            })
        })
    }

    fn run<'a>(
        &'a self,
        job: &'a Job,
        _cancel: CancelSignal,
    ) -> BoxFuture<'a, Result<Output, BackendError>> {
        Box::pin(async move {
            match job {
                Job::Form(f) if f.form == FormName::Analysis(AnalysisForm::Caption) => {
                    Ok(Output::Form(FormResult::Value(caption(&f.image)?.into())))
                }
                Job::Form(f) => Err(BackendError(format!(
                    "the built-in alchemist only captions, not {}",
                    f.form.as_str()
                ))),
                other => Err(BackendError::wrong_kind(self.name(), other)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captions_name_size_and_dominant_colour() {
        let img = image::RgbaImage::from_pixel(40, 30, image::Rgba([35, 65, 210, 255]));
        let webp = super::super::procedural::to_webp(&img).expect("webp");
        assert_eq!(
            caption(&webp).expect("caption"),
            "a 40x30 image, mostly blue"
        );
        assert!(caption(b"junk").is_err());
    }
}
