//! The AUTOMATIC1111 / Forge / SD.Next image bridge (`--api`, port 7860):
//! `POST /sdapi/v1/txt2img` or `img2img`, models from `/sdapi/v1/sd-models`,
//! `POST /sdapi/v1/interrupt` on cancel. PNG results become WebP in the loop.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};

use super::http::Server;
use super::samplers;
use super::{Backend, BackendError, BoxFuture, Offer, cancellable_or, offered_models};
use crate::api::{Sampler, SourceProcessing};
use crate::client::CancelSignal;
use crate::worker::job::{ImageJob, ImageResult, Job, Output, WorkKind};

/// An AUTOMATIC1111-compatible server.
#[derive(Clone, Debug)]
pub struct Automatic1111 {
    server: Server,
    /// Horde model name → local checkpoint title; empty offers the local
    /// checkpoints under their own names.
    checkpoints: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct SdModel {
    model_name: String,
    title: String,
}

#[derive(Deserialize)]
struct Generated {
    images: Vec<String>,
    #[serde(default)]
    info: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Info {
    all_seeds: Vec<i64>,
}

impl Automatic1111 {
    /// A bridge to `url`, with `user:password` when `--api-auth` is set.
    pub fn new(url: &str, basic_auth: Option<&str>) -> Result<Self, BackendError> {
        let auth = basic_auth.map(|up| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(up)
            )
        });
        Ok(Self {
            server: Server::new("AUTOMATIC1111", url, auth, Duration::from_secs(600))?,
            checkpoints: BTreeMap::new(),
        })
    }

    /// Serves horde model `horde_name` with the local checkpoint `checkpoint`.
    pub fn map_model(
        mut self,
        horde_name: impl Into<String>,
        checkpoint: impl Into<String>,
    ) -> Self {
        self.checkpoints
            .insert(horde_name.into(), checkpoint.into());
        self
    }

    /// The body for `job` (txt2img, or img2img when it has a source).
    pub fn body(job: &ImageJob, checkpoint: &str) -> Value {
        let s = &job.settings;
        let sampler = s.sampler_name.clone().unwrap_or(Sampler::KEulerA);
        let karras = s.karras.unwrap_or(true);
        let mut b = json!({
            "prompt": job.prompt,
            "negative_prompt": job.negative.clone().unwrap_or_default(),
            "seed": job.seed,
            "sampler_name": samplers::a1111(&sampler),
            "scheduler": samplers::a1111_scheduler(karras),
            "steps": job.steps,
            "cfg_scale": s.cfg_scale.unwrap_or(7.5),
            "width": job.width,
            "height": job.height,
            "batch_size": job.count.max(1),
            "n_iter": 1,
            "tiling": s.tiling.unwrap_or(false),
            "enable_hr": s.hires_fix.unwrap_or(false),
            "send_images": true,
            "save_images": false,
            "override_settings": {
                "sd_model_checkpoint": checkpoint,
                "CLIP_stop_at_last_layers": s.clip_skip.unwrap_or(1),
            },
        });
        if let (Some(src), Some(map)) = (&job.source, b.as_object_mut()) {
            let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
            map.insert("init_images".into(), json!([b64(&src.bytes)]));
            map.insert(
                "denoising_strength".into(),
                json!(s.denoising_strength.unwrap_or(0.75)),
            );
            if let Some(mask) = &src.mask {
                map.insert("mask".into(), json!(b64(mask)));
                map.insert("mask_blur".into(), json!(4));
                // Outpainting fills with latent noise; inpainting keeps the original.
                let fill = if src.processing == SourceProcessing::Outpainting {
                    2
                } else {
                    1
                };
                map.insert("inpainting_fill".into(), json!(fill));
            }
        }
        b
    }

    async fn local_models(&self) -> Result<Vec<SdModel>, BackendError> {
        self.server.get("/sdapi/v1/sd-models").await
    }
}

impl Backend for Automatic1111 {
    fn name(&self) -> &str {
        "AUTOMATIC1111"
    }

    fn kind(&self) -> WorkKind {
        WorkKind::Image
    }

    fn offer(&self) -> BoxFuture<'_, Result<Offer, BackendError>> {
        Box::pin(async move {
            let local = self.local_models().await?;
            let is_local = |c: &str| local.iter().any(|m| m.title == c || m.model_name == c);
            let names = local.iter().map(|m| m.model_name.clone()).collect();
            let models = offered_models(&self.checkpoints, names, is_local)?;
            Ok(Offer {
                models,
                ..Offer::default()
            })
        })
    }

    fn run<'a>(
        &'a self,
        job: &'a Job,
        cancel: CancelSignal,
    ) -> BoxFuture<'a, Result<Output, BackendError>> {
        Box::pin(async move {
            let Job::Image(j) = job else {
                return Err(BackendError::wrong_kind(self.name(), job));
            };
            let checkpoint = self.checkpoints.get(&j.model).unwrap_or(&j.model);
            let path = if j.source.is_some() {
                "/sdapi/v1/img2img"
            } else {
                "/sdapi/v1/txt2img"
            };
            let body = Self::body(j, checkpoint);
            let nothing = json!({});
            let interrupt = self.server.poke("/sdapi/v1/interrupt", &nothing);
            cancellable_or(
                cancel,
                async {
                    let g: Generated = self.server.post(path, &body).await?;
                    let info: Info = g
                        .info
                        .as_deref()
                        .and_then(|i| serde_json::from_str(i).ok())
                        .unwrap_or_default();
                    let count = j.count.max(1) as usize;
                    if g.images.len() < count {
                        return Err(BackendError(format!(
                            "AUTOMATIC1111 made {} of {count} images",
                            g.images.len()
                        )));
                    }
                    g.images
                        .iter()
                        .take(count)
                        .enumerate()
                        .map(|(i, b64)| {
                            let png = base64::engine::general_purpose::STANDARD
                                .decode(b64)
                                .map_err(|e| {
                                    BackendError(format!("an image is not base64: {e}"))
                                })?;
                            let seed = info.all_seeds.get(i).copied().unwrap_or(j.seed + i as i64);
                            Ok(ImageResult::new(png, seed))
                        })
                        .collect::<Result<Vec<_>, _>>()
                        .map(Output::Images)
                },
                interrupt,
            )
            .await
        })
    }
}
