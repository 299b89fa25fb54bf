//! The horde's model reference: which text models it knows and their size,
//! which image models and their baseline. It is the operator's data
//! (`defaults.toml` beside this file, extended or replaced under `[models]`
//! in `horde.toml`), used for text rewards, uptime, estimates and image
//! reward factors, as upstream uses its reference. A model name a worker or
//! requester sends is only ever looked up here: a name such as
//! `Llama-100000B` states no size the horde believes.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::kudos::Baseline;

/// The reference shipped with the coordinator.
pub const DEFAULTS: &str = include_str!("defaults.toml");

/// Largest parameter count an entry may state (10 trillion): far above any
/// real model, small enough that every price stays finite and bounded.
pub const MAX_PARAMETERS: u64 = 10_000_000_000_000;

/// A text model's entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextModel {
    /// Parameter count.
    pub parameters: u64,
}

/// An image model's entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageModel {
    /// Baseline as upstream's image reference names it (`stable_diffusion_1`,
    /// `stable_diffusion_xl`, `stable_cascade`, `flux_1`, …).
    pub baseline: String,
}

/// The model reference as written in TOML: `[text]` and `[image]` tables.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReferenceFile {
    /// Text models by name.
    pub text: BTreeMap<String, TextModel>,
    /// Image models by name.
    pub image: BTreeMap<String, ImageModel>,
}

/// The operator's `[models]` section of `horde.toml`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelsConfig {
    /// A reference file used instead of the shipped defaults.
    pub file: Option<PathBuf>,
    /// Text models added to (or replacing entries of) the reference.
    pub text: BTreeMap<String, TextModel>,
    /// Image models added to (or replacing entries of) the reference.
    pub image: BTreeMap<String, ImageModel>,
}

/// A reference that could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    /// The file could not be read.
    #[error("cannot read the model reference {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a model reference.
    #[error("invalid model reference {origin}: {source}")]
    Parse {
        /// Where it came from.
        origin: String,
        /// Why.
        source: Box<toml::de::Error>,
    },
    /// An entry is out of bounds.
    #[error("model reference entry {name:?}: {message}")]
    Entry {
        /// The model.
        name: String,
        /// Why.
        message: String,
    },
}

/// The reference in force, indexed by normalised name.
#[derive(Clone, Debug, Default)]
pub struct ModelReference {
    text: HashMap<String, f64>,
    image: HashMap<String, Baseline>,
}

impl ModelReference {
    /// The shipped defaults.
    pub fn defaults() -> Self {
        Self::from_file(parse(DEFAULTS, "shipped defaults").unwrap_or_default()).unwrap_or_default()
    }

    /// The reference an operator's `[models]` section describes.
    pub fn from_config(config: &ModelsConfig) -> Result<Self, ReferenceError> {
        let mut base = match &config.file {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| ReferenceError::Read {
                        path: path.clone(),
                        source,
                    })?;
                parse(&text, &path.display().to_string())?
            }
            None => parse(DEFAULTS, "shipped defaults")?,
        };
        base.text.extend(config.text.clone());
        base.image.extend(config.image.clone());
        Self::from_file(base)
    }

    /// Indexes a reference, refusing entries out of bounds.
    pub fn from_file(file: ReferenceFile) -> Result<Self, ReferenceError> {
        let mut reference = Self::default();
        for (name, model) in file.text {
            if model.parameters == 0 || model.parameters > MAX_PARAMETERS {
                return Err(ReferenceError::Entry {
                    name,
                    message: format!("parameters must be within 1..={MAX_PARAMETERS}"),
                });
            }
            reference
                .text
                .insert(normalise(&name), model.parameters as f64 / 1e9);
        }
        for (name, model) in file.image {
            reference
                .image
                .insert(normalise(&name), Baseline::from_reference(&model.baseline));
        }
        Ok(reference)
    }

    /// Billions of parameters of a text model the reference knows.
    pub fn text_billions(&self, name: &str) -> Option<f64> {
        self.text.get(&normalise(name)).copied()
    }

    /// Whether the reference knows a text model.
    pub fn knows_text(&self, name: &str) -> bool {
        self.text_billions(name).is_some()
    }

    /// Whether the reference knows an image model.
    pub fn knows_image(&self, name: &str) -> bool {
        self.image.contains_key(&normalise(name))
    }

    /// The baseline of an image model (unknown models count as Stable
    /// Diffusion 1, factor 1).
    pub fn image_baseline(&self, name: &str) -> Baseline {
        self.image
            .get(&normalise(name))
            .copied()
            .unwrap_or(Baseline::StableDiffusion)
    }
}

fn parse(text: &str, origin: &str) -> Result<ReferenceFile, ReferenceError> {
    toml::from_str(text).map_err(|source| ReferenceError::Parse {
        origin: origin.to_owned(),
        source: Box::new(source),
    })
}

/// Quantisation and packaging suffixes stripped before a lookup.
const QUANT_MARKERS: &[&str] = &[
    "-gguf", "-ggml", "-awq", "-gptq", "-exl2", "-fp16", "-bf16", "-fp8", "-int4", "-int8", ".gguf",
];

/// The name a model is indexed and looked up under: lowercase, without a
/// `::alias` suffix, any `backend/organisation/` prefix or a quantisation
/// suffix.
pub fn normalise(name: &str) -> String {
    let name = name.split("::").next().unwrap_or(name).trim();
    let base = name.rsplit('/').next().unwrap_or(name);
    let mut lower = base.to_ascii_lowercase();
    loop {
        let before = lower.len();
        if let Some(cut) = QUANT_MARKERS
            .iter()
            .filter_map(|m| lower.rfind(m))
            .filter(|&at| at > 0)
            .min()
        {
            lower.truncate(cut);
        }
        if let Some(at) = ggml_quant_suffix(&lower) {
            lower.truncate(at);
        }
        if lower.len() == before {
            return lower;
        }
    }
}

/// Where a llama.cpp quantisation suffix (`-q4_k_m`, `.iq3_xs`, `-f16`) starts.
fn ggml_quant_suffix(name: &str) -> Option<usize> {
    let at = name.rfind(['-', '.'])?;
    let tail = &name[at + 1..];
    let rest = tail
        .strip_prefix("iq")
        .or_else(|| tail.strip_prefix("bf"))
        .or_else(|| tail.strip_prefix('q'))
        .or_else(|| tail.strip_prefix('f'))?;
    let quant = rest.starts_with(|c: char| c.is_ascii_digit())
        && tail.len() <= 10
        && tail.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    (quant && at > 0).then_some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_matched_without_prefix_alias_or_quantisation() {
        let r = ModelReference::defaults();
        assert_eq!(
            r.text_billions("koboldcpp/Meta-Llama-3-8B-Instruct-Q4_K_M"),
            Some(8.0)
        );
        assert_eq!(
            r.text_billions("aphrodite/NeverSleep/Noromaid-13b-v0.3"),
            Some(13.0)
        );
        assert_eq!(r.text_billions("Qwen2.5-0.5B-Instruct.gguf"), Some(0.5));
        assert_eq!(r.text_billions("koboldcpp/gemma-2-9b-it::me#1"), Some(9.0));
        assert_eq!(
            r.text_billions("TheBloke/Mistral-7B-Instruct-v0.2-AWQ"),
            Some(7.0)
        );
    }

    #[test]
    fn a_name_stating_a_size_is_not_believed() {
        let r = ModelReference::defaults();
        assert_eq!(r.text_billions("koboldcpp/Llama-100000B"), None);
        let huge = format!("{}B", "9".repeat(254));
        assert_eq!(r.text_billions(&huge), None);
        assert_eq!(r.image_baseline("Flux-9999x"), Baseline::StableDiffusion);
    }

    #[test]
    fn operators_extend_and_bound_the_reference() {
        let mut config = ModelsConfig::default();
        config.text.insert(
            "my-house-model".into(),
            TextModel {
                parameters: 3_000_000_000,
            },
        );
        config.image.insert(
            "House XL".into(),
            ImageModel {
                baseline: "stable_diffusion_xl".into(),
            },
        );
        let r = ModelReference::from_config(&config).expect("valid");
        assert_eq!(r.text_billions("koboldcpp/my-house-model"), Some(3.0));
        assert_eq!(r.image_baseline("House XL"), Baseline::StableDiffusionXl);
        assert_eq!(r.image_baseline("SDXL 1.0"), Baseline::StableDiffusionXl);
        config.text.insert(
            "absurd".into(),
            TextModel {
                parameters: u64::MAX,
            },
        );
        assert!(matches!(
            ModelReference::from_config(&config),
            Err(ReferenceError::Entry { .. })
        ));
    }

    #[test]
    fn the_shipped_defaults_parse() {
        let file = parse(DEFAULTS, "defaults").expect("shipped defaults parse");
        assert!(file.text.len() > 30 && file.image.len() > 10);
        ModelReference::from_file(file).expect("shipped defaults are in bounds");
    }
}
