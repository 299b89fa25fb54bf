//! The built-in image backend: deterministic procedural pictures drawn from
//! the prompt and the seed (colour fields, bands and discs), encoded as
//! lossless WebP. It runs no model; it exists for demos and tests, and says
//! so in its name.

use super::{Backend, BackendError, BoxFuture, Offer};
use crate::client::CancelSignal;
use crate::worker::job::{ImageJob, ImageResult, Job, Output, WorkKind};

/// The model name this backend serves.
pub const PROCEDURAL_MODEL: &str = "horde-rs/procedural";

/// Deterministic pictures from prompt and seed.
#[derive(Clone, Debug, Default)]
pub struct ProceduralImages;

fn fnv(bytes: impl IntoIterator<Item = u8>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Draws one picture; the same prompt, seed and size give the same pixels.
pub fn draw(prompt: &str, seed: i64, width: u32, height: u32) -> image::RgbaImage {
    let h = fnv(prompt.bytes().chain(seed.to_le_bytes()));
    let pick = |shift: u32| ((h >> shift) & 0xff) as u8;
    let (base, accent) = ([pick(0), pick(8), pick(16)], [pick(24), pick(32), pick(40)]);
    let discs: Vec<(f32, f32, f32)> = (0..4)
        .map(|i| {
            let k = fnv(h.to_le_bytes().into_iter().chain([i]));
            (
                (k & 0xffff) as f32 / 65535.0,
                ((k >> 16) & 0xffff) as f32 / 65535.0,
                0.08 + ((k >> 32) & 0xff) as f32 / 255.0 * 0.2,
            )
        })
        .collect();
    let bands = 2.0 + (pick(48) % 6) as f32;
    image::RgbaImage::from_fn(width, height, |x, y| {
        let (u, v) = (
            x as f32 / width.max(1) as f32,
            y as f32 / height.max(1) as f32,
        );
        let t = ((u + v) * 0.5 * bands).fract();
        let mix = |a: u8, b: u8| (f32::from(a) * (1.0 - t) + f32::from(b) * t) as u8;
        let mut px = [
            mix(base[0], accent[0]),
            mix(base[1], accent[1]),
            mix(base[2], accent[2]),
        ];
        for (cx, cy, r) in &discs {
            if (u - cx).powi(2) + (v - cy).powi(2) < r * r {
                px = [255 - px[0], 255 - px[1], 255 - px[2]];
            }
        }
        image::Rgba([px[0], px[1], px[2], 255])
    })
}

/// Encodes an image as lossless WebP.
pub fn to_webp(img: &image::RgbaImage) -> Result<Vec<u8>, BackendError> {
    let mut out = Vec::new();
    image::codecs::webp::WebPEncoder::new_lossless(&mut out)
        .encode(
            img.as_raw(),
            img.width(),
            img.height(),
            image::ExtendedColorType::Rgba8,
        )
        .map_err(|e| BackendError(format!("cannot encode WebP: {e}")))?;
    Ok(out)
}

impl ProceduralImages {
    /// Draws every image of `job`, one per seed.
    pub fn images(job: &ImageJob) -> Result<Vec<ImageResult>, BackendError> {
        if job.width == 0 || job.height == 0 || job.width > 4096 || job.height > 4096 {
            return Err(BackendError(format!(
                "cannot draw {}x{}",
                job.width, job.height
            )));
        }
        (0..i64::from(job.count.max(1)))
            .map(|i| {
                let seed = job.seed + i;
                to_webp(&draw(&job.prompt, seed, job.width, job.height))
                    .map(|webp| ImageResult::new(webp, seed))
            })
            .collect()
    }
}

impl Backend for ProceduralImages {
    fn name(&self) -> &str {
        "procedural (built-in, no model)"
    }

    fn kind(&self) -> WorkKind {
        WorkKind::Image
    }

    fn offer(&self) -> BoxFuture<'_, Result<Offer, BackendError>> {
        Box::pin(async {
            Ok(Offer {
                models: vec![PROCEDURAL_MODEL.to_owned()],
                ..Offer::default()
            })
        })
    }

    fn speed_hint(&self) -> Option<f64> {
        // Drawing is far quicker than any model: a 512² picture in ~10 ms.
        Some(1e9)
    }

    fn run<'a>(
        &'a self,
        job: &'a Job,
        _cancel: CancelSignal,
    ) -> BoxFuture<'a, Result<Output, BackendError>> {
        Box::pin(async move {
            match job {
                Job::Image(j) => Self::images(j).map(Output::Images),
                other => Err(BackendError::wrong_kind(self.name(), other)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(prompt: &str, seed: i64) -> ImageJob {
        ImageJob {
            prompt: prompt.into(),
            negative: None,
            width: 64,
            height: 48,
            steps: 20,
            seed,
            count: 2,
            model: PROCEDURAL_MODEL.into(),
            settings: Default::default(),
            source: None,
        }
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    #[test]
    fn pictures_are_deterministic_and_depend_on_prompt_and_seed() {
        assert_eq!(
            draw("a red apple", 1, 32, 32),
            draw("a red apple", 1, 32, 32)
        );
        assert_ne!(
            draw("a red apple", 1, 32, 32),
            draw("a red apple", 2, 32, 32)
        );
        assert_ne!(
            draw("a red apple", 1, 32, 32),
            draw("a green pear", 1, 32, 32)
        );
        let out = ProceduralImages::images(&job("a red apple", 10)).expect("images");
        assert_eq!(out.len(), 2);
        assert_eq!((out[0].seed, out[1].seed), (10, 11));
        let decoded = image::load_from_memory(&out[0].webp)
            .expect("valid WebP")
            .into_rgba8();
        assert_eq!(decoded, draw("a red apple", 10, 64, 48), "lossless");
        let bad = ImageJob {
            width: 0,
            ..job("x", 1)
        };
        assert!(ProceduralImages::images(&bad).is_err());
        let (_handle, cancel) = crate::client::cancel_pair();
        let out = block_on(ProceduralImages.run(&Job::Image(job("x", 3)), cancel)).expect("runs");
        assert!(matches!(out, Output::Images(v) if v.len() == 2));
    }
}
