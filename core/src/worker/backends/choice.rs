//! Choosing a backend by configuration (a `[backend]` table in
//! `worker.toml`, or the same fields from an engine's settings), so the
//! command line and the engine surfaces build backends the same way.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Backend, BackendError};

/// Which backend a worker runs, and where its server is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum BackendConfig {
    /// The built-in procedural pictures (no model; demos and tests).
    Procedural,
    /// The built-in captioning alchemist (no model; demos and tests).
    #[serde(rename = "image-facts")]
    ImageFacts,
    /// A KoboldCpp or KoboldAI server.
    KoboldCpp {
        /// Its URL (`http://127.0.0.1:5001`).
        url: String,
        /// Its password, when protected.
        #[serde(default)]
        password: Option<String>,
    },
    /// A llama.cpp `llama-server`.
    LlamaCpp {
        /// Its URL.
        url: String,
        /// The model name offered to the horde (default `koboldcpp/<gguf name>`).
        #[serde(default)]
        model: Option<String>,
    },
    /// An OpenAI-compatible completions server.
    OpenAi {
        /// Its URL, without `/v1`.
        url: String,
        /// Its API key, if it wants one.
        #[serde(default)]
        api_key: Option<String>,
        /// The model to ask the server for (default: the first it lists).
        #[serde(default)]
        model: Option<String>,
        /// The name offered to the horde (default: the server's model id).
        #[serde(default)]
        horde_model: Option<String>,
    },
    /// An AUTOMATIC1111, Forge or SD.Next server (`--api`).
    A1111 {
        /// Its URL (`http://127.0.0.1:7860`).
        url: String,
        /// `user:password` for `--api-auth`.
        #[serde(default)]
        auth: Option<String>,
        /// Horde model name → local checkpoint title (default: the local names).
        #[serde(default)]
        models: BTreeMap<String, String>,
    },
    /// A ComfyUI server.
    ComfyUi {
        /// Its URL (`http://127.0.0.1:8188`).
        url: String,
        /// Horde model name → checkpoint file (default: the local files).
        #[serde(default)]
        models: BTreeMap<String, String>,
    },
    /// A GGUF text model run in this process with candle (feature `candle`).
    Candle {
        /// The `.gguf` file.
        path: PathBuf,
        /// The model name offered to the horde (default `koboldcpp/<file name>`).
        #[serde(default)]
        model: Option<String>,
    },
}

impl BackendConfig {
    /// Builds the backend (a candle model is loaded here, which takes a while).
    pub fn build(&self) -> Result<Arc<dyn Backend>, BackendError> {
        Ok(match self {
            Self::Procedural => Arc::new(super::procedural::ProceduralImages),
            Self::ImageFacts => Arc::new(super::image_facts::ImageFacts),
            Self::KoboldCpp { url, password } => {
                Arc::new(super::kobold::KoboldCpp::new(url, password.as_deref())?)
            }
            Self::LlamaCpp { url, model } => {
                Arc::new(super::llamacpp::LlamaCppServer::new(url, model.clone())?)
            }
            Self::OpenAi {
                url,
                api_key,
                model,
                horde_model,
            } => {
                let mut b = super::openai::OpenAiCompletions::new(url, api_key.as_deref())?;
                if let Some(m) = model {
                    b = b.with_model(m);
                }
                if let Some(m) = horde_model {
                    b = b.with_horde_model(m);
                }
                Arc::new(b)
            }
            Self::A1111 { url, auth, models } => {
                let mut b = super::a1111::Automatic1111::new(url, auth.as_deref())?;
                for (horde, ckpt) in models {
                    b = b.map_model(horde, ckpt);
                }
                Arc::new(b)
            }
            Self::ComfyUi { url, models } => {
                let mut b = super::comfyui::ComfyUi::new(url)?;
                for (horde, file) in models {
                    b = b.map_model(horde, file);
                }
                Arc::new(b)
            }
            #[cfg(feature = "candle")]
            Self::Candle { path, model } => {
                Arc::new(super::candle::CandleText::load(path, model.clone())?)
            }
            #[cfg(not(feature = "candle"))]
            Self::Candle { .. } => {
                return Err(BackendError::new(
                    "this build has no candle backend: build horde_core with the `candle` feature",
                ));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_are_chosen_by_kind() {
        let b: BackendConfig =
            toml::from_str("kind = \"koboldcpp\"\nurl = \"http://127.0.0.1:5001\"")
                .expect("kobold");
        assert_eq!(b.build().expect("built").name(), "KoboldCpp");
        let b: BackendConfig = toml::from_str(
            "kind = \"a1111\"\nurl = \"http://127.0.0.1:7860\"\n[models]\nDeliberate = \"deliberate_v2\"",
        )
        .expect("a1111");
        assert!(matches!(&b, BackendConfig::A1111 { models, .. } if models.len() == 1));
        assert_eq!(
            toml::from_str::<BackendConfig>("kind = \"procedural\"")
                .expect("procedural")
                .build()
                .expect("built")
                .name(),
            "procedural (built-in, no model)"
        );
        assert!(toml::from_str::<BackendConfig>("kind = \"dalle\"").is_err());
        assert!(
            toml::from_str::<BackendConfig>("kind = \"candle\"\npath = \"/nonexistent.gguf\"")
                .expect("candle")
                .build()
                .is_err()
        );
    }
}
