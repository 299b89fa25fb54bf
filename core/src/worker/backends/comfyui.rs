//! The ComfyUI image bridge (port 8188): the job becomes an API-format
//! graph (checkpoint → prompts → empty latent → KSampler → VAE decode →
//! save), queued with `POST /prompt`, awaited on `GET /history/{id}`, and
//! fetched with `GET /view`. `POST /interrupt` on cancel. Text-to-image
//! only: img2img needs `/upload/image` and is not offered.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::http::Server;
use super::samplers;
use super::{Backend, BackendError, BoxFuture, Offer, cancellable_or, offered_models};
use crate::api::Sampler;
use crate::client::CancelSignal;
use crate::worker::job::{ImageJob, ImageResult, Job, Output, WorkKind};

/// A ComfyUI server.
#[derive(Clone, Debug)]
pub struct ComfyUi {
    server: Server,
    /// Horde model name → checkpoint file; empty offers the local files.
    checkpoints: BTreeMap<String, String>,
    /// How often to ask whether a prompt finished.
    poll: Duration,
    client_id: String,
}

#[derive(Deserialize)]
struct Queued {
    prompt_id: String,
    #[serde(default)]
    node_errors: Value,
}

#[derive(Deserialize)]
struct OutputImage {
    filename: String,
    #[serde(default)]
    subfolder: String,
    #[serde(default, rename = "type")]
    kind: String,
}

/// The id of the save node in the graphs this bridge builds.
const SAVE_NODE: &str = "9";

impl ComfyUi {
    /// A bridge to `url`.
    pub fn new(url: &str) -> Result<Self, BackendError> {
        Ok(Self {
            server: Server::new("ComfyUI", url, None, Duration::from_secs(60))?,
            checkpoints: BTreeMap::new(),
            poll: Duration::from_millis(250),
            client_id: format!("horde-rs-{:016x}", super::kobold::rand_key()),
        })
    }

    /// Serves horde model `horde_name` with the checkpoint file `file`.
    pub fn map_model(mut self, horde_name: impl Into<String>, file: impl Into<String>) -> Self {
        self.checkpoints.insert(horde_name.into(), file.into());
        self
    }

    /// The API-format graph for `job` with checkpoint `file`.
    pub fn graph(job: &ImageJob, file: &str) -> Value {
        let s = &job.settings;
        let sampler = s.sampler_name.clone().unwrap_or(Sampler::KEulerA);
        let karras = s.karras.unwrap_or(true);
        // ComfyUI counts CLIP skip as a negative layer index.
        let clip_skip = -(i64::from(s.clip_skip.unwrap_or(1).max(1)));
        json!({
            "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": file}},
            "10": {"class_type": "CLIPSetLastLayer",
                   "inputs": {"clip": ["4", 1], "stop_at_clip_layer": clip_skip}},
            "6": {"class_type": "CLIPTextEncode", "inputs": {"text": job.prompt, "clip": ["10", 0]}},
            "7": {"class_type": "CLIPTextEncode",
                  "inputs": {"text": job.negative.clone().unwrap_or_default(), "clip": ["10", 0]}},
            "5": {"class_type": "EmptyLatentImage",
                  "inputs": {"width": job.width, "height": job.height, "batch_size": job.count.max(1)}},
            "3": {"class_type": "KSampler", "inputs": {
                "seed": job.seed,
                "steps": job.steps,
                "cfg": s.cfg_scale.unwrap_or(7.5),
                "sampler_name": samplers::comfyui(&sampler),
                "scheduler": samplers::comfyui_scheduler(karras),
                "denoise": 1.0,
                "model": ["4", 0],
                "positive": ["6", 0],
                "negative": ["7", 0],
                "latent_image": ["5", 0],
            }},
            "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
            SAVE_NODE: {"class_type": "SaveImage", "inputs": {"filename_prefix": "horde", "images": ["8", 0]}},
        })
    }

    async fn finished_images(
        &self,
        prompt_id: &str,
    ) -> Result<Option<Vec<OutputImage>>, BackendError> {
        let history: Value = self.server.get(&format!("/history/{prompt_id}")).await?;
        let Some(entry) = history.get(prompt_id) else {
            return Ok(None);
        };
        if let Some(status) = entry.get("status")
            && status.get("status_str").and_then(Value::as_str) == Some("error")
        {
            return Err(BackendError(format!("ComfyUI failed the prompt: {status}")));
        }
        let images = entry
            .pointer(&format!("/outputs/{SAVE_NODE}/images"))
            .cloned()
            .unwrap_or(Value::Null);
        match serde_json::from_value::<Vec<OutputImage>>(images) {
            Ok(list) if !list.is_empty() => Ok(Some(list)),
            _ => Ok(None),
        }
    }
}

fn query(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Backend for ComfyUi {
    fn name(&self) -> &str {
        "ComfyUI"
    }

    fn kind(&self) -> WorkKind {
        WorkKind::Image
    }

    fn offer(&self) -> BoxFuture<'_, Result<Offer, BackendError>> {
        Box::pin(async move {
            let info: Value = self
                .server
                .get("/object_info/CheckpointLoaderSimple")
                .await?;
            let files: Vec<String> = info
                .pointer("/CheckpointLoaderSimple/input/required/ckpt_name/0")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let is_local = |f: &str| files.iter().any(|l| l == f);
            let models = offered_models(&self.checkpoints, files.clone(), is_local)?;
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
            if j.source.is_some() {
                return Err(BackendError::new(
                    "the ComfyUI bridge does text-to-image only",
                ));
            }
            let file = self.checkpoints.get(&j.model).unwrap_or(&j.model);
            let body = json!({"prompt": Self::graph(j, file), "client_id": self.client_id});
            let nothing = json!({});
            let interrupt = self.server.poke("/interrupt", &nothing);
            cancellable_or(
                cancel,
                async {
                    let queued: Queued = self.server.post("/prompt", &body).await?;
                    if queued
                        .node_errors
                        .as_object()
                        .is_some_and(|e| !e.is_empty())
                    {
                        return Err(BackendError(format!(
                            "ComfyUI refused the graph: {}",
                            queued.node_errors
                        )));
                    }
                    let images = loop {
                        if let Some(images) = self.finished_images(&queued.prompt_id).await? {
                            break images;
                        }
                        tokio::time::sleep(self.poll).await;
                    };
                    let mut out = Vec::new();
                    for (i, img) in images.iter().enumerate() {
                        let path = format!(
                            "/view?filename={}&subfolder={}&type={}",
                            query(&img.filename),
                            query(&img.subfolder),
                            query(if img.kind.is_empty() {
                                "output"
                            } else {
                                &img.kind
                            })
                        );
                        let png = self.server.get_bytes(&path).await?;
                        out.push(ImageResult::new(png, j.seed + i as i64));
                    }
                    Ok(Output::Images(out))
                },
                interrupt,
            )
            .await
        })
    }
}
