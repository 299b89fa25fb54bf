//! In-process text generation with candle (feature `candle`): a quantized
//! Llama-architecture GGUF model (SmolLM, Llama, Mistral, Qwen-as-llama…)
//! loaded from a path, tokenized with the vocabulary inside the file, run
//! on the CPU (or the first CUDA GPU when candle is built with `cuda`).
//! Generation runs on a blocking thread and checks for a cancel every token.

mod bpe;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};
use candle_transformers::generation::{LogitsProcessor, Sampling};
use candle_transformers::models::quantized_llama::ModelWeights;
use parking_lot::Mutex;

pub use bpe::Bpe;

use super::{Backend, BackendError, BoxFuture, Offer};
use crate::client::CancelSignal;
use crate::worker::job::{Job, Output, TextJob, TextResult, WorkKind};

/// A GGUF text model in this process (cheap to clone: the weights are shared).
#[derive(Clone)]
pub struct CandleText(Arc<Loaded>);

/// The loaded model; jobs take turns on it.
struct Loaded {
    name: String,
    model: Mutex<ModelWeights>,
    tokenizer: Bpe,
    eos: Option<u32>,
    bos: Option<u32>,
    context: u32,
    device: Device,
}

impl std::fmt::Debug for CandleText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CandleText")
            .field("name", &self.0.name)
            .field("context", &self.0.context)
            .finish_non_exhaustive()
    }
}

fn err(what: &str) -> impl Fn(candle_core::Error) -> BackendError + '_ {
    move |e| BackendError(format!("{what}: {e}"))
}

impl CandleText {
    /// Loads the model at `path`. It is offered to the horde as
    /// `koboldcpp/<file name>` unless `name` says otherwise.
    pub fn load(path: &Path, name: Option<String>) -> Result<Self, BackendError> {
        let mut file = std::fs::File::open(path)
            .map_err(|e| BackendError(format!("cannot open {}: {e}", path.display())))?;
        let content = gguf_file::Content::read(&mut file)
            .map_err(|e| BackendError(format!("{} is not a GGUF model: {e}", path.display())))?;
        let md = &content.metadata;
        let strings = |key: &str| -> Result<Vec<String>, BackendError> {
            md.get(key)
                .ok_or_else(|| BackendError(format!("the model has no {key}")))?
                .to_vec()
                .map_err(err(key))?
                .iter()
                .map(|v| v.to_string().cloned().map_err(err(key)))
                .collect()
        };
        let kind = md
            .get("tokenizer.ggml.model")
            .and_then(|v| v.to_string().ok())
            .cloned()
            .unwrap_or_default();
        if kind != "gpt2" {
            return Err(BackendError(format!(
                "the model's tokenizer is {kind:?}; only byte-level BPE (gpt2) is supported"
            )));
        }
        let tokenizer = Bpe::new(
            strings("tokenizer.ggml.tokens")?,
            &strings("tokenizer.ggml.merges")?,
        )
        .map_err(BackendError)?;
        let id = |key: &str| md.get(key).and_then(|v| v.to_u32().ok());
        let eos = id("tokenizer.ggml.eos_token_id");
        let add_bos = md
            .get("tokenizer.ggml.add_bos_token")
            .and_then(|v| v.to_bool().ok())
            .unwrap_or(false);
        let bos = id("tokenizer.ggml.bos_token_id").filter(|_| add_bos);
        let context = id("llama.context_length").unwrap_or(2048);
        let device = Device::cuda_if_available(0).map_err(err("no device"))?;
        let model = ModelWeights::from_gguf(content, &mut file, &device)
            .map_err(err("cannot load the model"))?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into());
        Ok(Self(Arc::new(Loaded {
            name: name.unwrap_or_else(|| format!("koboldcpp/{stem}")),
            model: Mutex::new(model),
            tokenizer,
            eos,
            bos,
            context,
            device,
        })))
    }

    /// The model's name as offered to the horde.
    pub fn model_name(&self) -> &str {
        &self.0.name
    }

    /// Generates for `job` on the calling thread, giving up when `stop` is set.
    pub fn generate(&self, job: &TextJob, stop: &AtomicBool) -> Result<TextResult, BackendError> {
        self.0.generate(job, stop)
    }
}

impl Loaded {
    fn generate(&self, job: &TextJob, stop: &AtomicBool) -> Result<TextResult, BackendError> {
        let p = &job.params;
        let max_new = job.max_length.max(1) as usize;
        let window = (job.max_context_length.min(self.context) as usize)
            .saturating_sub(max_new)
            .max(1);
        let mut prompt: Vec<u32> = self.bos.into_iter().collect();
        prompt.extend(self.tokenizer.encode(&job.prompt));
        if prompt.len() > window {
            // Keep the end of the context: that is what is being continued.
            prompt.drain(..prompt.len() - window);
        }
        if prompt.is_empty() {
            return Err(BackendError::new("the prompt is empty"));
        }
        let seed = super::kobold::rand_key();
        let temperature = p.temperature.unwrap_or(0.7);
        let sampling = if temperature <= 1e-7 {
            Sampling::ArgMax
        } else {
            match (
                p.top_k.filter(|k| *k > 0),
                p.top_p.filter(|p| *p > 0.0 && *p < 1.0),
            ) {
                (Some(k), Some(tp)) => Sampling::TopKThenTopP {
                    k: k as usize,
                    p: tp,
                    temperature,
                },
                (Some(k), None) => Sampling::TopK {
                    k: k as usize,
                    temperature,
                },
                (None, Some(tp)) => Sampling::TopP { p: tp, temperature },
                (None, None) => Sampling::All { temperature },
            }
        };
        let mut sampler = LogitsProcessor::from_sampling(seed, sampling);
        let rep_pen = p.rep_pen.unwrap_or(1.0) as f32;
        let rep_range = p.rep_pen_range.unwrap_or(64) as usize;
        let ban_eos = p.use_default_badwordsids.unwrap_or(false);
        let stops = super::llamacpp::stops(job);

        let mut model = self.model.lock();
        let mut all = prompt.clone();
        let mut out: Vec<u32> = Vec::new();
        let mut input = prompt;
        let mut pos = 0usize;
        let mut text = String::new();
        while out.len() < max_new {
            if stop.load(Ordering::Relaxed) {
                return Err(BackendError::cancelled());
            }
            let x = Tensor::new(input.as_slice(), &self.device)
                .and_then(|t| t.unsqueeze(0))
                .map_err(err("cannot make the input"))?;
            let logits = model
                .forward(&x, pos)
                .and_then(|l| l.squeeze(0))
                .map_err(err("the model failed"))?;
            pos += input.len();
            let mut logits = logits;
            if rep_pen != 1.0 {
                let from = all.len().saturating_sub(rep_range);
                logits = candle_transformers::utils::apply_repeat_penalty(
                    &logits,
                    rep_pen,
                    &all[from..],
                )
                .map_err(err("repetition penalty"))?;
            }
            let eos = self.eos;
            let next = sampler
                .sample_f(&logits, |l| {
                    if let (true, Some(e)) = (ban_eos, eos)
                        && let Some(v) = l.get_mut(e as usize)
                    {
                        *v = f32::NEG_INFINITY;
                    }
                })
                .map_err(err("sampling failed"))?;
            if Some(next) == self.eos {
                break;
            }
            out.push(next);
            all.push(next);
            input = vec![next];
            text = self.tokenizer.decode(&out);
            if let Some(cut) = stops.iter().filter_map(|s| text.find(s.as_str())).min() {
                // The stop sequence itself is not returned (as llama.cpp does).
                text.truncate(cut);
                break;
            }
        }
        drop(model);
        Ok(TextResult {
            text,
            tokens: Some(out.len() as u32),
            seed: Some(seed as i64 & 0x7fff_ffff),
        })
    }
}

impl Backend for CandleText {
    fn name(&self) -> &str {
        "candle (in-process)"
    }

    fn kind(&self) -> WorkKind {
        WorkKind::Text
    }

    fn offer(&self) -> BoxFuture<'_, Result<Offer, BackendError>> {
        Box::pin(async move {
            Ok(Offer {
                models: vec![self.0.name.clone()],
                max_context_length: Some(self.0.context),
                ..Offer::default()
            })
        })
    }

    fn run<'a>(
        &'a self,
        job: &'a Job,
        mut cancel: CancelSignal,
    ) -> BoxFuture<'a, Result<Output, BackendError>> {
        Box::pin(async move {
            let Job::Text(t) = job else {
                return Err(BackendError::wrong_kind(self.name(), job));
            };
            let stop = Arc::new(AtomicBool::new(false));
            let this = self.clone();
            let (job, flag) = (t.clone(), stop.clone());
            let mut work = tokio::task::spawn_blocking(move || this.generate(&job, &flag));
            tokio::select! {
                r = &mut work => r.map_err(|e| BackendError(format!("generation panicked: {e}")))?.map(Output::Text),
                () = cancel.cancelled() => {
                    stop.store(true, Ordering::Relaxed);
                    let _ = work.await;
                    Err(BackendError::cancelled())
                }
            }
        })
    }
}
