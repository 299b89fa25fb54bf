//! Interrogation and post-processing ("alchemist") wire types: the async
//! request with its forms, the status body, and the worker's pop and submit.

use serde::{Deserialize, Serialize};

use super::common::SkippedReasons;
use super::ids::{JobId, RequestId, WorkerId};
use super::image::PostProcessor;

string_enum! {
    /// An analysis form: what an alchemist reports about an image.
    pub enum AnalysisForm / Other default Caption {
        /// A caption.
        Caption => "caption",
        /// CLIP interrogation (tags, artists, mediums, …).
        Interrogation => "interrogation",
        /// NSFW detection.
        Nsfw => "nsfw",
        /// A description.
        Describe => "describe",
        /// A colour palette.
        Palette => "palette",
        /// Vectorisation.
        Vectorize => "vectorize",
        /// An aesthetic score.
        Aesthetic => "aesthetic",
    }
}

/// An alchemy form: an analysis of the image, or one of the image
/// post-processors run on it alone. On the wire it is the bare name; a name
/// this version does not know parses as `Analysis(AnalysisForm::Other(..))`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FormName {
    /// An analysis (caption, nsfw, …).
    Analysis(AnalysisForm),
    /// A post-processor; its result is a new image.
    PostProcess(PostProcessor),
}

impl FormName {
    /// `caption`: a sentence describing the image.
    pub const CAPTION: Self = Self::Analysis(AnalysisForm::Caption);
    /// `nsfw`: whether the image is NSFW.
    pub const NSFW: Self = Self::Analysis(AnalysisForm::Nsfw);
    /// `interrogation`: CLIP tags, artists, mediums.
    pub const INTERROGATION: Self = Self::Analysis(AnalysisForm::Interrogation);

    /// The wire form of this name.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Analysis(a) => a.as_str(),
            Self::PostProcess(p) => p.as_str(),
        }
    }

    /// Whether this is a form this version knows.
    pub fn is_known(&self) -> bool {
        match self {
            Self::Analysis(a) => a.is_known(),
            Self::PostProcess(p) => p.is_known(),
        }
    }

    /// Whether this form is a post-processor (its result is an image to upload).
    pub fn is_post_processor(&self) -> bool {
        matches!(self, Self::PostProcess(_))
    }

    /// Every form this version knows, as it appears on the wire.
    pub fn known() -> impl Iterator<Item = &'static str> {
        AnalysisForm::KNOWN
            .iter()
            .chain(PostProcessor::KNOWN)
            .copied()
    }
}

impl Default for FormName {
    fn default() -> Self {
        Self::Analysis(AnalysisForm::Caption)
    }
}

impl From<&str> for FormName {
    fn from(s: &str) -> Self {
        match PostProcessor::from(s) {
            PostProcessor::Other(_) => Self::Analysis(AnalysisForm::from(s)),
            known => Self::PostProcess(known),
        }
    }
}

impl From<String> for FormName {
    fn from(s: String) -> Self {
        Self::from(s.as_str())
    }
}

impl std::fmt::Display for FormName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for FormName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for FormName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Ok(Self::from(name.as_ref()))
    }
}

string_enum! {
    /// The state of an interrogation request or of one of its forms.
    pub enum InterrogationState / Other {
        /// Not yet handed to a worker.
        Waiting => "waiting",
        /// Handed to a worker.
        Processing => "processing",
        /// Finished.
        Done => "done",
        /// Failed for good.
        Faulted => "faulted",
        /// Some forms finished, none pending, not all succeeded.
        Partial => "partial",
        /// Cancelled by the requester.
        Cancelled => "cancelled",
    }
}

/// A form requested, with its optional settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InterrogationFormRequest {
    /// Which form.
    pub name: FormName,
    /// Form-specific settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<serde_json::Map<String, serde_json::Value>>,
}

/// `POST /v2/interrogate/async`: request forms on one image.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InterrogationRequest {
    /// The forms wanted (duplicates are dropped).
    pub forms: Vec<InterrogationFormRequest>,
    /// The image: a URL or base64 WebP.
    pub source_image: String,
    /// Trusted workers only (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_workers: Option<bool>,
    /// Allow slow workers (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slow_workers: Option<bool>,
    /// An https URL called per finished form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<String>,
}

impl InterrogationRequest {
    /// A request for `forms` on `source_image` (base64 WebP, or a URL),
    /// every other field left to the server.
    pub fn of(forms: impl IntoIterator<Item = FormName>, source_image: String) -> Self {
        Self {
            forms: forms
                .into_iter()
                .map(|name| InterrogationFormRequest {
                    name,
                    payload: None,
                })
                .collect(),
            source_image,
            ..Self::default()
        }
    }

    /// Slow workers allowed (default true).
    pub fn slow_workers(&self) -> bool {
        self.slow_workers.unwrap_or(true)
    }
}

/// The answer to an accepted interrogation (HTTP 202).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterrogationAsyncResponse {
    /// The id to poll the request with.
    pub id: RequestId,
    /// Extra information.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One form's progress and result in a status body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InterrogationFormStatus {
    /// Which form.
    pub form: FormName,
    /// Its state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<InterrogationState>,
    /// The result, keyed by form name (for example `{"caption": "…"}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Map<String, serde_json::Value>>,
    /// The worker that ran it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_id: Option<WorkerId>,
    /// That worker's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_name: Option<String>,
}

/// `GET|DELETE /v2/interrogate/status/{id}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InterrogationStatus {
    /// The request's overall state.
    pub state: InterrogationState,
    /// Each form.
    #[serde(default)]
    pub forms: Vec<InterrogationFormStatus>,
}

/// `POST /v2/interrogate/pop`: an alchemist asks for work.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterrogationPopRequest {
    /// The worker's name.
    pub name: String,
    /// Users (`alias#id`) served first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_usernames: Option<Vec<String>>,
    /// Forms the worker can run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forms: Option<Vec<FormName>>,
    /// Forms to take at once (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<u32>,
    /// `name:version:url` of the worker software.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge_agent: Option<String>,
    /// Concurrent forms (1–100, default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<u32>,
    /// Largest image in 512×512 tiles (1–256, default 80).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tiles: Option<u32>,
}

/// One form handed to an alchemist.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InterrogationPopForm {
    /// The form's job id.
    pub id: JobId,
    /// Which form.
    pub form: FormName,
    /// Form-specific settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<serde_json::Map<String, serde_json::Value>>,
    /// Where to download the image from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_image: Option<String>,
    /// Where to PUT a post-processed image before submitting `"R2"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r2_upload: Option<String>,
}

/// The answer to an alchemist's pop.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InterrogationPopResponse {
    /// Forms to run (empty when there is no work; upstream then sends
    /// `null`, and so do we).
    #[serde(
        deserialize_with = "super::lenient::null_as_default",
        serialize_with = "super::lenient::empty_as_null"
    )]
    pub forms: Vec<InterrogationPopForm>,
    /// Why nothing was found.
    pub skipped: SkippedReasons,
}

/// `POST /v2/interrogate/submit`: an alchemist hands in one form.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InterrogationSubmitRequest {
    /// The form's job id.
    pub id: JobId,
    /// The result: an object keyed by form name (`{"caption": "…"}`; a
    /// post-processor sends `"R2"` as its value), or the bare value, as the
    /// Python SDK's alchemist model sends it (`"…"`).
    #[serde(default)]
    pub result: serde_json::Value,
    /// ok or faulted (default ok).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<super::common::GenerationState>,
}
