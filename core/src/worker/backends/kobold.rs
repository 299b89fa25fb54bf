//! The KoboldAI / KoboldCpp text bridge: `POST /api/v1/generate` takes the
//! horde's text payload almost as it is; `/api/v1/model` names the model and
//! `/api/extra/abort` stops a generation (matched by its `genkey`).

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::http::Server;
use super::{Backend, BackendError, BoxFuture, Offer, cancellable_or};
use crate::client::CancelSignal;
use crate::worker::job::{Job, Output, TextJob, TextResult, WorkKind};

/// A KoboldCpp (port 5001) or KoboldAI (port 5000) server.
#[derive(Clone, Debug)]
pub struct KoboldCpp {
    server: Server,
}

#[derive(Deserialize)]
struct Value1<T> {
    result: Option<T>,
    value: Option<T>,
}

#[derive(Deserialize)]
struct Generated {
    results: Vec<GeneratedText>,
}

#[derive(Deserialize)]
struct GeneratedText {
    text: String,
}

impl KoboldCpp {
    /// A bridge to the server at `url`; `password` when it is protected.
    pub fn new(url: &str, password: Option<&str>) -> Result<Self, BackendError> {
        let auth = password.map(|p| format!("Bearer {p}"));
        Ok(Self {
            server: Server::new("KoboldCpp", url, auth, Duration::from_secs(300))?,
        })
    }

    /// The request body: the horde payload, with KoboldCpp's extras.
    pub fn body(job: &TextJob, genkey: &str) -> Value {
        let mut body = match serde_json::to_value(&job.params) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        body.remove("n");
        body.insert("prompt".into(), json!(job.prompt));
        body.insert("max_length".into(), json!(job.max_length));
        body.insert("max_context_length".into(), json!(job.max_context_length));
        body.insert("genkey".into(), json!(genkey));
        body.insert("quiet".into(), json!(true));
        body.insert("trim_stop".into(), json!(true));
        Value::Object(body)
    }
}

impl Backend for KoboldCpp {
    fn name(&self) -> &str {
        "KoboldCpp"
    }

    fn kind(&self) -> WorkKind {
        WorkKind::Text
    }

    fn offer(&self) -> BoxFuture<'_, Result<Offer, BackendError>> {
        Box::pin(async move {
            let model: Value1<String> = self.server.get("/api/v1/model").await?;
            let model = model
                .result
                .filter(|m| !m.is_empty() && m != "ReadOnly")
                .ok_or_else(|| BackendError::new("KoboldCpp has no model loaded"))?;
            let ctx: Option<Value1<u32>> = self
                .server
                .get("/api/v1/config/max_context_length")
                .await
                .ok();
            Ok(Offer {
                models: vec![model],
                max_context_length: ctx.and_then(|c| c.value.or(c.result)),
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
            let genkey = format!("HORDEREQ_{:016x}", rand_key());
            let body = Self::body(t, &genkey);
            let work = async {
                let g: Generated = self.server.post("/api/v1/generate", &body).await?;
                let text = g
                    .results
                    .into_iter()
                    .next()
                    .ok_or_else(|| BackendError::new("KoboldCpp answered no text"))?
                    .text;
                Ok(Output::Text(TextResult {
                    text,
                    tokens: None,
                    seed: None,
                }))
            };
            let abort = json!({ "genkey": genkey });
            let abort = self.server.poke("/api/extra/abort", &abort);
            cancellable_or(cancel, work, abort).await
        })
    }
}

/// A key unique enough to tell this worker's generations apart.
pub(crate) fn rand_key() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}
