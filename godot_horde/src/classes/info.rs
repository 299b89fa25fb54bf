//! `HordeResultInfo`: where a generated image or text came from (request
//! id, index, seed, model, worker, censored), with the image itself and
//! `save_png(path)`.

use godot::classes::{Image, RefCounted};
use godot::global::Error;
use godot::prelude::*;

use crate::logic::ResultInfo;

/// Where a result came from. `image_generated` and `text_generated` pass
/// one; for images, `image` holds the picture and `save_png(path)` writes it.
#[derive(GodotClass)]
#[class(no_init, base = RefCounted)]
pub struct HordeResultInfo {
    /// The request's id, as `generate_image` / `generate_text` answered.
    #[var(no_set)]
    request_id: i64,
    /// The result's index in its request.
    #[var(no_set)]
    index: i64,
    /// The seed it was made with.
    #[var(no_set)]
    seed: GString,
    /// The model.
    #[var(no_set)]
    model: GString,
    /// The worker's name.
    #[var(no_set)]
    worker: GString,
    /// Replaced by the worker's safety check.
    #[var(no_set)]
    censored: bool,
    /// The picture (images only; null for text).
    #[var(no_set)]
    image: Option<Gd<Image>>,
    base: Base<RefCounted>,
}

#[godot_api]
impl HordeResultInfo {
    /// Writes the image as a PNG (`user://…` or an absolute path);
    /// `ERR_UNAVAILABLE` for a text result.
    #[func]
    fn save_png(&self, path: GString) -> Error {
        match &self.image {
            Some(image) => image.save_png(&path),
            None => Error::ERR_UNAVAILABLE,
        }
    }
}

impl HordeResultInfo {
    /// The info of one result.
    pub fn create(info: &ResultInfo, image: Option<Gd<Image>>) -> Gd<Self> {
        Gd::from_init_fn(|base| Self {
            request_id: i64::try_from(info.id).unwrap_or(i64::MAX),
            index: i64::from(info.index),
            seed: GString::from(info.seed.as_str()),
            model: GString::from(info.model.as_str()),
            worker: GString::from(info.worker.as_str()),
            censored: info.censored,
            image,
            base,
        })
    }
}
