//! Interrogation and post-processing ("alchemist") wire types: the async
//! request with its forms, the status body, and the worker's pop and submit.

use serde::{Deserialize, Serialize};

use super::common::SkippedReasons;
use super::ids::{JobId, RequestId, WorkerId};

string_enum! {
    /// An alchemy form: an interrogation, or a post-processor run on its own.
    pub enum FormName / Other default Caption {
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
        /// GFPGAN face fixer.
        Gfpgan => "GFPGAN",
        /// GFPGAN 1.3 face fixer.
        GfpganV13 => "GFPGANv1.3",
        /// CodeFormers face fixer.
        CodeFormers => "CodeFormers",
        /// RestoreFormer face fixer.
        RestoreFormer => "RestoreFormer",
        /// RealESRGAN ×4 upscaler.
        RealEsrganX4plus => "RealESRGAN_x4plus",
        /// RealESRGAN ×2 upscaler.
        RealEsrganX2plus => "RealESRGAN_x2plus",
        /// RealESRGAN ×4 anime upscaler.
        RealEsrganX4plusAnime6b => "RealESRGAN_x4plus_anime_6B",
        /// NMKD Siax upscaler.
        NmkdSiax => "NMKD_Siax",
        /// 4x AnimeSharp upscaler.
        AnimeSharp4x => "4x_AnimeSharp",
        /// 4x Nomos8kSC upscaler.
        Nomos8kSc4x => "4xNomos8kSC",
        /// 4x LSDIRplus upscaler.
        LsdirPlus4x => "4xLSDIRplus",
        /// 4x NomosWebPhoto RealPLKSR upscaler.
        NomosWebPhotoRealPlksr4x => "4xNomosWebPhoto_RealPLKSR",
        /// 4x Nomos2 realplksr dysample upscaler.
        Nomos2RealplksrDysample4x => "4xNomos2_realplksr_dysample",
        /// 4x Nomos2 hq dat2 upscaler.
        Nomos2HqDat2x4 => "4xNomos2_hq_dat2",
        /// 2x ModernSpanimation upscaler.
        ModernSpanimationV1x2 => "2xModernSpanimationV1",
        /// Background removal.
        StripBackground => "strip_background",
    }
}

impl FormName {
    /// Whether this form is a post-processor (its result is an image to upload).
    pub fn is_post_processor(&self) -> bool {
        self.is_known()
            && !matches!(
                self,
                Self::Caption
                    | Self::Interrogation
                    | Self::Nsfw
                    | Self::Describe
                    | Self::Palette
                    | Self::Vectorize
                    | Self::Aesthetic
            )
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
    /// Forms to run (empty when there is no work).
    pub forms: Vec<InterrogationPopForm>,
    /// Why nothing was found.
    pub skipped: SkippedReasons,
}

/// `POST /v2/interrogate/submit`: an alchemist hands in one form.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InterrogationSubmitRequest {
    /// The form's job id.
    pub id: JobId,
    /// The result, keyed by form name; a post-processor sends `"R2"` as its value.
    #[serde(default)]
    pub result: serde_json::Map<String, serde_json::Value>,
    /// ok or faulted (default ok).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<super::common::GenerationState>,
}
