//! Horde-wide status and statistics: heartbeat, models, performance, modes,
//! and the image/text totals and per-model counts (`/v2/status/*`, `/v2/stats/*`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

string_enum! {
    /// Which kind of model a model-status entry is about.
    pub enum ModelType / Other default Image {
        /// Image models.
        Image => "image",
        /// Text models.
        Text => "text",
    }
}

string_enum! {
    /// Which models `/v2/status/models` and `/v2/stats/*/models` list.
    pub enum ModelState / Other {
        /// Models in the model reference.
        Known => "known",
        /// Models outside it.
        Custom => "custom",
        /// Both (the default).
        All => "all",
    }
}

/// `GET /v2/status/heartbeat`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// `OK`, `DOWN` or `OVERLOADED`.
    pub message: String,
    /// The server's version.
    pub version: String,
    /// Requests queued on this node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<u64>,
    /// Worker threads online.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<u64>,
    /// Requests being served right now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_count: Option<u64>,
    /// Whether the node reaches its database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db_connection: Option<bool>,
}

/// One entry of `GET /v2/status/models`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ActiveModel {
    /// The model's name.
    pub name: String,
    /// Worker threads serving it.
    pub count: u64,
    /// Average speed (megapixelsteps/s or tokens/s).
    pub performance: f64,
    /// Work waiting (megapixelsteps or tokens).
    pub queued: f64,
    /// Jobs waiting.
    pub jobs: f64,
    /// Seconds to clear the queue (10000 when nobody serves it).
    pub eta: i64,
    /// image or text.
    #[serde(rename = "type")]
    pub kind: ModelType,
}

/// `GET /v2/status/performance`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HordePerformance {
    /// Image requests waiting or processing.
    pub queued_requests: u64,
    /// Text requests waiting or processing.
    pub queued_text_requests: u64,
    /// Image workers online.
    pub worker_count: u64,
    /// Image worker threads online.
    pub thread_count: u64,
    /// Text workers online.
    pub text_worker_count: u64,
    /// Text worker threads online.
    pub text_thread_count: u64,
    /// Alchemists online.
    pub interrogator_count: u64,
    /// Alchemist threads online.
    pub interrogator_thread_count: u64,
    /// Megapixelsteps waiting or processing.
    pub queued_megapixelsteps: f64,
    /// Tokens waiting or processing.
    pub queued_tokens: f64,
    /// Forms waiting or processing.
    pub queued_forms: f64,
    /// Megapixelsteps generated in the past minute.
    pub past_minute_megapixelsteps: f64,
    /// Tokens generated in the past minute.
    pub past_minute_tokens: f64,
}

/// `GET|PUT /v2/status/modes`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HordeModes {
    /// No new requests are accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance_mode: Option<bool>,
    /// Only invited workers may join.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite_only_mode: Option<bool>,
    /// (Mods) raid countermeasures on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raid_mode: Option<bool>,
}

/// Images made and megapixelsteps spent in one period.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImagePeriodTotals {
    /// Images made.
    pub images: u64,
    /// Megapixelsteps spent.
    pub ps: u64,
}

/// Texts made and tokens generated in one period.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TextPeriodTotals {
    /// Texts made.
    pub requests: u64,
    /// Tokens generated.
    pub tokens: u64,
}

/// `GET /v2/stats/img/totals` and `/v2/stats/text/totals`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StatsTotals<T> {
    /// The past minute.
    pub minute: T,
    /// The past hour.
    pub hour: T,
    /// The past day.
    pub day: T,
    /// The past month.
    pub month: T,
    /// Ever.
    pub total: T,
}

/// Image totals per period.
pub type ImageStatsTotals = StatsTotals<ImagePeriodTotals>;
/// Text totals per period.
pub type TextStatsTotals = StatsTotals<TextPeriodTotals>;

/// `GET /v2/stats/img/models` and `/v2/stats/text/models`: jobs per model.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelStats {
    /// The past day.
    pub day: BTreeMap<String, u64>,
    /// The past month.
    pub month: BTreeMap<String, u64>,
    /// Ever.
    pub total: BTreeMap<String, u64>,
}

/// The query of `GET /v2/status/models`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelsQuery {
    /// image (the default) or text.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<ModelType>,
    /// Only models with at least this many threads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_count: Option<u64>,
    /// Only models with at most this many threads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_count: Option<u64>,
    /// known, custom or all (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_state: Option<ModelState>,
}

/// The query of `GET /v2/stats/*/models`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelStatsQuery {
    /// known, custom or all (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_state: Option<ModelState>,
}

/// One item of `GET /v2/status/news`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NewsItem {
    /// When it was published (`YYYY-MM-DD`).
    pub date_published: String,
    /// The news itself (Markdown).
    pub newspiece: String,
    /// `Information`, `Workers`, `Crisis`, …
    pub importance: String,
    /// Tags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// A headline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Links to more.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub more_info_urls: Vec<String>,
}
