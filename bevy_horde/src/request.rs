//! Requests as entities: what the game spawns, the state component that
//! follows each request, the result components, and the messages and
//! entity events that announce them.

use bevy_asset::Handle;
use bevy_ecs::prelude::*;
use bevy_image::Image;
use horde_core::api::{ErrorBody, ImageGenerateRequest, InterrogationRequest, TextGenerateRequest};
use horde_core::runtime::{Connection, JobTicket, RequestId, SourceImage};
use horde_core::worker::{Job, WorkerEvent};

/// Spawn to request images.
#[derive(Component, Clone, Debug)]
pub struct HordeImageRequest(pub ImageGenerateRequest);

/// Spawn to request text.
#[derive(Component, Clone, Debug)]
pub struct HordeTextRequest(pub TextGenerateRequest);

/// Spawn to request an interrogation (caption, nsfw, interrogation, post-processing).
#[derive(Component, Clone, Debug)]
pub struct HordeInterrogationRequest(pub InterrogationRequest);

/// The runtime's id of the request on this entity (inserted when sent;
/// removing it, or despawning the entity, cancels the request).
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq)]
pub struct HordeRequestId(pub RequestId);

/// Where a request stands.
#[derive(Component, Clone, Debug, Default, PartialEq)]
pub enum HordeRequestState {
    /// Sent to the runtime; no word from the horde yet.
    #[default]
    Submitted,
    /// Waiting for one of the plugin's `max_in_flight` slots.
    WaitingForSlot,
    /// A call failed for a passing reason (rate limited, no answer, a 5xx)
    /// and is tried again; past the plugin's `give_up_after` the request
    /// fails with `ServerUnreachable`.
    Retrying {
        /// Why, in words.
        message: String,
        /// Seconds until the next attempt.
        retry_in: f64,
    },
    /// Waiting in the horde's queue (a worker has none of its jobs yet).
    Queued {
        /// 1-based position.
        position: u32,
        /// Expected seconds to completion.
        wait_time: i64,
    },
    /// Jobs are being worked on.
    Processing {
        /// Jobs not yet handed out.
        waiting: u32,
        /// Jobs in flight.
        processing: u32,
        /// Jobs with results.
        finished: u32,
    },
    /// Every result arrived.
    Done,
    /// The request failed; results that arrived before stay.
    Failed {
        /// Upstream's return code, when the horde gave one.
        rc: Option<String>,
        /// Why, in words.
        message: String,
    },
    /// Cancelled as asked.
    Cancelled,
}

impl HordeRequestState {
    /// Whether the request has ended (done, failed or cancelled).
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Done | Self::Failed { .. } | Self::Cancelled)
    }

    pub(crate) fn failed(error: &ErrorBody) -> Self {
        Self::Failed {
            rc: error.rc.as_ref().map(|rc| rc.as_str().to_owned()),
            message: error.message.clone(),
        }
    }
}

/// The images of a request so far, in the order they arrived.
#[derive(Component, Clone, Debug, Default, PartialEq)]
pub struct HordeImages(pub Vec<Handle<Image>>);

/// The texts of a request so far.
#[derive(Component, Clone, Debug, Default, PartialEq)]
pub struct HordeTexts(pub Vec<String>);

/// The finished forms of an interrogation, keyed by form name.
#[derive(Component, Clone, Debug, Default, PartialEq)]
pub struct HordeInterrogation(pub serde_json::Map<String, serde_json::Value>);

/// An image arrived (message).
#[derive(Message, Clone, Debug)]
pub struct HordeImageReady {
    /// The request entity.
    pub entity: Entity,
    /// Its index among the request's images.
    pub index: usize,
    /// The image, already in `Assets<Image>`.
    pub image: Handle<Image>,
    /// The seed it was made with.
    pub seed: String,
    /// The worker that made it.
    pub worker: String,
}

/// A text arrived (message).
#[derive(Message, Clone, Debug)]
pub struct HordeTextReady {
    /// The request entity.
    pub entity: Entity,
    /// The text.
    pub text: String,
    /// The worker that wrote it.
    pub worker: String,
}

/// A form of an interrogation finished (message).
#[derive(Message, Clone, Debug)]
pub struct HordeInterrogationReady {
    /// The request entity.
    pub entity: Entity,
    /// The form.
    pub form: String,
    /// Its result.
    pub result: serde_json::Map<String, serde_json::Value>,
}

/// A request ended: done, failed or cancelled (message). Exactly one per
/// request, cancelled ones included (a despawned entity's request ends as
/// `Cancelled`, a replaced request too).
#[derive(Message, Clone, Debug)]
pub struct HordeRequestEnded {
    /// The request entity (already despawned when it was cancelled that way).
    pub entity: Entity,
    /// How it ended.
    pub state: HordeRequestState,
}

/// An image arrived (entity event, for `.observe(...)` on the request).
#[derive(EntityEvent, Clone, Debug)]
pub struct ImageArrived {
    /// The request entity.
    pub entity: Entity,
    /// The image.
    pub image: Handle<Image>,
}

/// A text arrived (entity event).
#[derive(EntityEvent, Clone, Debug)]
pub struct TextArrived {
    /// The request entity.
    pub entity: Entity,
    /// The text.
    pub text: String,
}

/// A form of an interrogation finished (entity event).
#[derive(EntityEvent, Clone, Debug)]
pub struct FormArrived {
    /// The request entity.
    pub entity: Entity,
    /// The form.
    pub form: String,
    /// Its result.
    pub result: serde_json::Map<String, serde_json::Value>,
}

/// The request ended (entity event).
#[derive(EntityEvent, Clone, Debug)]
pub struct RequestEnded {
    /// The request entity.
    pub entity: Entity,
    /// How it ended.
    pub state: HordeRequestState,
}

/// What the worker did (message): jobs received and finished, kudos
/// earned, maintenance, errors.
#[derive(Message, Clone, Debug)]
pub struct HordeWorkerStatus {
    /// The worker's name.
    pub worker: String,
    /// What happened.
    pub event: WorkerEvent,
}

/// A job for the game to do, for a worker started with
/// [`horde_core::runtime::WorkerBackend::Game`] (message); answer with
/// [`crate::Horde::answer_job`].
#[derive(Message, Clone, Debug)]
pub struct HordeWorkerJob {
    /// The ticket to answer with.
    pub ticket: JobTicket,
    /// The name of the game's worker that popped it.
    pub worker: String,
    /// The job.
    pub job: Job,
    /// The job's source image (img2img, or the image a form works on),
    /// already decoded on the runtime's threads.
    pub source: Option<SourceImage>,
}

/// Whether the horde answers changed (message); the current state is in
/// the [`crate::HordeConnection`] resource.
#[derive(Message, Clone, Debug)]
pub struct HordeConnectionChanged {
    /// Reachable, retrying, or unreachable (requests then fail: show the
    /// player "offline").
    pub state: Connection,
}

/// What an image request would cost: the answer to [`crate::Horde::estimate_image`] (message).
#[derive(Message, Clone, Debug)]
pub struct HordeEstimate {
    /// The id [`crate::Horde::estimate_image`] answered.
    pub request: RequestId,
    /// Kudos for the whole request.
    pub kudos: f64,
}

/// The models served now: the answer to [`crate::Horde::models`] (message).
#[derive(Message, Clone, Debug)]
pub struct HordeModels {
    /// The id [`crate::Horde::models`] answered.
    pub request: RequestId,
    /// Each model with its workers, queue and speed.
    pub models: Vec<horde_core::api::ActiveModel>,
}

/// Who the API key belongs to: the answer to [`crate::Horde::find_user`] (message).
#[derive(Message, Clone, Debug)]
pub struct HordeUser {
    /// The id [`crate::Horde::find_user`] answered.
    pub request: RequestId,
    /// The user: name, kudos, usage, workers.
    pub user: Box<horde_core::api::UserDetails>,
}

/// An estimate, a model list or the user could not be had (message).
#[derive(Message, Clone, Debug)]
pub struct HordeQuestionFailed {
    /// The id the question answered.
    pub request: RequestId,
    /// Why, with upstream's rc when the horde gave one.
    pub state: HordeRequestState,
}
