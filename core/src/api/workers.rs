//! Workers: `GET /v2/workers`, `GET|PUT|DELETE /v2/workers/{id}`.

use serde::{Deserialize, Deserializer, Serialize};

use super::common::WorkerMessage;
use super::ids::{TeamId, WorkerId};

string_enum! {
    /// The kind of work a worker does.
    pub enum WorkerType / Other default Image {
        /// A dreamer (images).
        Image => "image",
        /// A scribe (text).
        Text => "text",
        /// An alchemist (interrogation and post-processing).
        Interrogation => "interrogation",
    }
}

/// A team, as a worker's details name it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TeamDetailsLite {
    /// The team's name.
    pub name: Option<String>,
    /// The team's id.
    pub id: Option<TeamId>,
}

/// How a worker earned its kudos. Upstream sends both keys always, each
/// `null` until the worker first earned that way (`generated` stays `null`
/// for alchemists, whose rewards upstream books elsewhere).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkerKudosDetails {
    /// For generating.
    pub generated: Option<f64>,
    /// For staying online.
    pub uptime: Option<i64>,
}

/// Accepts a team object or anything else (upstream has sent the string
/// `"None"` for no team) as "no team".
fn lenient_team<'de, D: Deserializer<'de>>(d: D) -> Result<Option<TeamDetailsLite>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(serde_json::from_value(v).ok())
}

/// A worker as the workers endpoints return it. Fields that only some worker
/// types or privileged callers see are optional.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkerDetails {
    /// image, text or interrogation.
    #[serde(rename = "type")]
    pub kind: WorkerType,
    /// The worker's name.
    pub name: String,
    /// The worker's id.
    pub id: WorkerId,
    /// Checked in within the last 5 minutes.
    #[serde(default)]
    pub online: bool,
    /// Jobs completed.
    #[serde(default)]
    pub requests_fulfilled: u64,
    /// Jobs popped and never completed.
    #[serde(default)]
    pub uncompleted_jobs: u64,
    /// Kudos earned in total.
    #[serde(default)]
    pub kudos_rewards: f64,
    /// How the kudos were earned.
    #[serde(default)]
    pub kudos_details: WorkerKudosDetails,
    /// Average speed, human readable.
    #[serde(default)]
    pub performance: String,
    /// Concurrent jobs.
    #[serde(default)]
    pub threads: u32,
    /// Seconds online.
    #[serde(default)]
    pub uptime: u64,
    /// In maintenance: takes only its owner's jobs.
    #[serde(default)]
    pub maintenance_mode: bool,
    /// (Privileged) paused by a moderator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,
    /// The owner's public note (absent when there is none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<String>,
    /// Accepts NSFW requests.
    #[serde(default)]
    pub nsfw: bool,
    /// The owner's `alias#id` (privileged, or public when the owner allows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// (Privileged) last IP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipaddr: Option<String>,
    /// The owner is trusted.
    #[serde(default)]
    pub trusted: bool,
    /// The owner is flagged.
    #[serde(default)]
    pub flagged: bool,
    /// (Privileged) suspicion score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspicious: Option<u32>,
    /// The team the worker works for.
    #[serde(default, deserialize_with = "lenient_team")]
    pub team: Option<TeamDetailsLite>,
    /// (Privileged) contact details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    /// `name:version:url` of the worker software.
    #[serde(default)]
    pub bridge_agent: String,
    /// Models served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<String>>,
    /// (Alchemist) forms served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forms: Option<Vec<String>>,
    /// (Image) largest width×height.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_pixels: Option<u64>,
    /// (Image) megapixelsteps generated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub megapixelsteps_generated: Option<f64>,
    /// (Image) accepts img2img.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub img2img: Option<bool>,
    /// (Image) accepts painting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub painting: Option<bool>,
    /// (Image) accepts post-processing.
    #[serde(
        default,
        rename = "post-processing",
        skip_serializing_if = "Option::is_none"
    )]
    pub post_processing: Option<bool>,
    /// (Image) accepts ControlNet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controlnet: Option<bool>,
    /// (Image) accepts SDXL ControlNet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdxl_controlnet: Option<bool>,
    /// (Image) accepts LoRAs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lora: Option<bool>,
    /// (Text) most tokens generated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
    /// (Text) longest context read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_context_length: Option<u32>,
    /// (Text) tokens generated. Upstream does not send it; kept for
    /// servers that do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_generated: Option<f64>,
    /// (Moderators, or public when the owner allows) the worker's messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<WorkerMessage>>,
}

/// `PUT /v2/workers/{id}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModifyWorkerRequest {
    /// (Owner or mod) maintenance on/off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance: Option<bool>,
    /// (Owner or mod) message shown to the worker while in maintenance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance_msg: Option<String>,
    /// (Mod) paused on/off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,
    /// (Owner or mod) public note, at most 1000 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<String>,
    /// (Owner or mod) new name, 5–100 characters, unique.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// (Owner or mod) team id, or `""` for none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
}

/// The answer to `PUT /v2/workers/{id}`: the fields that changed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModifyWorkerResponse {
    /// New maintenance state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance: Option<bool>,
    /// New paused state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,
    /// New info.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<String>,
    /// New name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New team.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
}

/// The answer to `DELETE /v2/workers/{id}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletedWorker {
    /// The deleted worker's id.
    pub deleted_id: WorkerId,
    /// The deleted worker's name.
    pub deleted_name: String,
}

/// The query of `GET /v2/workers`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkersQuery {
    /// Only workers of this type.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<WorkerType>,
    /// Only the worker with this name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}
