//! The llama.cpp `llama-server` text bridge: `POST /completion` with the
//! horde's sampling settings renamed (worker.md §3), `GET /props` for the
//! model and its context size. The model is offered as
//! `koboldcpp/<gguf name>`, as the LlamaCpp horde bridge names it, so the
//! horde's text model reference prices it.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::http::{Body, Server};
use super::{Backend, BackendError, BoxFuture, Offer, cancellable};
use crate::client::CancelSignal;
use crate::worker::job::{Job, Output, TextJob, TextResult, WorkKind};

/// A llama.cpp server (`llama-server --port …`).
#[derive(Clone, Debug)]
pub struct LlamaCppServer {
    server: Server,
    model: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Props {
    default_generation_settings: GenerationSettings,
    model_path: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct GenerationSettings {
    n_ctx: Option<u32>,
    model: Option<String>,
}

#[derive(Deserialize)]
struct Completion {
    content: String,
    tokens_predicted: Option<u32>,
}

impl LlamaCppServer {
    /// A bridge to the server at `url`; `model` overrides the offered name.
    pub fn new(url: &str, model: Option<String>) -> Result<Self, BackendError> {
        Ok(Self {
            server: Server::new("llama.cpp server", url, None, Duration::from_secs(300))?,
            model,
        })
    }

    /// The `/completion` body for `job`.
    pub fn body(job: &TextJob) -> Value {
        let p = &job.params;
        Body::default()
            .set("prompt", &job.prompt)
            .set("n_predict", job.max_length)
            .set(
                "n_keep",
                job.max_context_length.saturating_sub(job.max_length),
            )
            .opt("temperature", p.temperature)
            .opt("top_k", p.top_k)
            .opt("top_p", p.top_p)
            .opt("min_p", p.min_p)
            .opt("typical_p", p.typical)
            .opt("repeat_penalty", p.rep_pen)
            .opt("repeat_last_n", p.rep_pen_range)
            .opt("dynatemp_range", p.dynatemp_range)
            .opt("dynatemp_exponent", p.dynatemp_exponent)
            .opt("ignore_eos", p.use_default_badwordsids)
            .set("stop", stops(job))
            .set("cache_prompt", true)
            .build()
    }
}

/// The stop sequences, with a newline when the request wants one line.
pub(crate) fn stops(job: &TextJob) -> Vec<String> {
    let mut stop = job.params.stop_sequence.clone().unwrap_or_default();
    if job.params.singleline == Some(true) {
        stop.push("\n".into());
    }
    stop
}

fn gguf_name(path: &str) -> String {
    let file = path.rsplit(['/', '\\']).next().unwrap_or(path);
    file.strip_suffix(".gguf").unwrap_or(file).to_owned()
}

impl Backend for LlamaCppServer {
    fn name(&self) -> &str {
        "llama.cpp server"
    }

    fn kind(&self) -> WorkKind {
        WorkKind::Text
    }

    fn offer(&self) -> BoxFuture<'_, Result<Offer, BackendError>> {
        Box::pin(async move {
            let props: Props = self.server.get("/props").await?;
            let path = props
                .model_path
                .or(props.default_generation_settings.model)
                .unwrap_or_default();
            let model = match &self.model {
                Some(m) => m.clone(),
                None if path.is_empty() => {
                    return Err(BackendError::new("the llama.cpp server names no model"));
                }
                None => format!("koboldcpp/{}", gguf_name(&path)),
            };
            Ok(Offer {
                models: vec![model],
                max_context_length: props.default_generation_settings.n_ctx,
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
            let Job::Text(t) = job else {
                return Err(BackendError::wrong_kind(self.name(), job));
            };
            let body = Self::body(t);
            // llama-server stops a generation when its connection closes,
            // which is what dropping the request on cancel does.
            cancellable(cancel, async {
                let c: Completion = self.server.post("/completion", &body).await?;
                Ok(Output::Text(TextResult {
                    text: c.content,
                    tokens: c.tokens_predicted,
                    seed: None,
                }))
            })
            .await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_are_named_after_the_gguf_file() {
        assert_eq!(
            gguf_name("/models/SmolLM2-135M-Q4_1.gguf"),
            "SmolLM2-135M-Q4_1"
        );
        assert_eq!(gguf_name("C:\\m\\x.gguf"), "x");
    }
}
