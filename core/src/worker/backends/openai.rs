//! The OpenAI-compatible completions bridge (vLLM, Aphrodite, TabbyAPI,
//! llama-cpp-python, LM Studio, text-generation-webui): `POST /v1/completions`
//! with the horde's settings renamed as the old scribe did (worker.md §3),
//! the model from `GET /v1/models`.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::http::{Body, Server};
use super::llamacpp::stops;
use super::{Backend, BackendError, BoxFuture, Offer, cancellable};
use crate::client::CancelSignal;
use crate::worker::job::{Job, Output, TextJob, TextResult, WorkKind};

/// An OpenAI-compatible server.
#[derive(Clone, Debug)]
pub struct OpenAiCompletions {
    server: Server,
    /// The model to ask the server for; the first it lists when `None`.
    model: Option<String>,
    /// The name offered to the horde; the server's model id when `None`.
    horde_model: Option<String>,
}

#[derive(Deserialize)]
struct Models {
    data: Vec<ModelEntry>,
}

#[derive(Deserialize)]
struct ModelEntry {
    id: String,
}

#[derive(Deserialize)]
struct Completions {
    choices: Vec<Choice>,
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Choice {
    text: String,
}

#[derive(Deserialize)]
struct Usage {
    completion_tokens: Option<u32>,
}

impl OpenAiCompletions {
    /// A bridge to `url` (the part before `/v1`), with an optional API key.
    pub fn new(url: &str, api_key: Option<&str>) -> Result<Self, BackendError> {
        let auth = api_key.map(|k| format!("Bearer {k}"));
        Ok(Self {
            server: Server::new(
                "the OpenAI-compatible server",
                url,
                auth,
                Duration::from_secs(300),
            )?,
            model: None,
            horde_model: None,
        })
    }

    /// Asks the server for `model` instead of the first it lists.
    pub fn with_model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// Offers the model to the horde as `name` (for example
    /// `koboldcpp/SmolLM2-135M-Instruct`, so the horde's reference prices it).
    pub fn with_horde_model(mut self, name: impl Into<String>) -> Self {
        self.horde_model = Some(name.into());
        self
    }

    /// The `/v1/completions` body for `job`.
    pub fn body(job: &TextJob, model: &str) -> Value {
        let p = &job.params;
        let stop = stops(job);
        Body::default()
            .set("model", model)
            .set("prompt", &job.prompt)
            .set("max_tokens", job.max_length)
            .set(
                "truncate_prompt_tokens",
                job.max_context_length.saturating_sub(job.max_length).max(1),
            )
            .opt("temperature", p.temperature)
            .opt("top_p", p.top_p)
            // 0 is "off" for the horde, llama.cpp (llama-cpp-python refuses
            // -1) and vLLM since 0.8; older vLLM builds wanted -1.
            .opt("top_k", p.top_k)
            .opt("min_p", p.min_p)
            .opt("typical_p", p.typical)
            .opt("repetition_penalty", p.rep_pen)
            .opt("ignore_eos", p.use_default_badwordsids)
            .opt("stop", (!stop.is_empty()).then_some(stop))
            .build()
    }

    async fn served_model(&self) -> Result<String, BackendError> {
        if let Some(m) = &self.model {
            return Ok(m.clone());
        }
        let models: Models = self.server.get("/v1/models").await?;
        models
            .data
            .into_iter()
            .next()
            .map(|m| m.id)
            .ok_or_else(|| BackendError::new("the OpenAI-compatible server lists no model"))
    }
}

impl Backend for OpenAiCompletions {
    fn name(&self) -> &str {
        "OpenAI-compatible"
    }

    fn kind(&self) -> WorkKind {
        WorkKind::Text
    }

    fn offer(&self) -> BoxFuture<'_, Result<Offer, BackendError>> {
        Box::pin(async move {
            let served = self.served_model().await?;
            Ok(Offer {
                models: vec![self.horde_model.clone().unwrap_or(served)],
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
            cancellable(cancel, async {
                let model = self.served_model().await?;
                let c: Completions = self
                    .server
                    .post("/v1/completions", &Self::body(t, &model))
                    .await?;
                let text = c
                    .choices
                    .into_iter()
                    .next()
                    .ok_or_else(|| BackendError::new("the server answered no choice"))?
                    .text;
                Ok(Output::Text(TextResult {
                    text,
                    tokens: c.usage.and_then(|u| u.completion_tokens),
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
    use serde_json::json;

    use crate::api::TextParams;

    #[test]
    fn horde_settings_are_renamed_for_openai_servers() {
        let job = TextJob {
            prompt: "Hi".into(),
            model: "m".into(),
            params: TextParams {
                top_k: Some(0),
                rep_pen: Some(1.1),
                typical: Some(0.9),
                singleline: Some(true),
                stop_sequence: Some(vec!["You:".into()]),
                ..TextParams::default()
            },
            max_length: 80,
            max_context_length: 1024,
        };
        let b = OpenAiCompletions::body(&job, "local");
        assert_eq!(b["max_tokens"], 80);
        assert_eq!(b["top_k"], 0);
        assert_eq!(b["repetition_penalty"], 1.1);
        assert_eq!(b["typical_p"], 0.9);
        assert_eq!(b["truncate_prompt_tokens"], 944);
        assert_eq!(b["stop"], json!(["You:", "\n"]));
    }
}
