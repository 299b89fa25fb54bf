//! `bevy_horde`: the AI Horde in a Bevy 0.19 game, with no async code of the
//! game's own. Add [`HordePlugin`]; spawn a request as an entity; its
//! images arrive as `Handle<Image>`s, its text as strings.
//!
//! ```no_run
//! use bevy_app::prelude::*;
//! use bevy_horde::prelude::*;
//!
//! fn ask(mut horde: Horde) {
//!     horde.generate_image("a red potion on a wooden table");
//! }
//!
//! fn show(mut ready: MessageReader<HordeImageReady>) {
//!     for r in ready.read() {
//!         println!("{:?} got {:?}", r.entity, r.image);
//!     }
//! }
//! # fn main() {
//! App::new()
//!     .add_plugins(HordePlugin::public("my-game:1.0:https://example.invalid"))
//!     .add_systems(Update, (ask, show));
//! # }
//! ```
//!
//! # How it runs
//!
//! The plugin owns a [`horde_core::runtime::Runtime`] (two threads of its
//! own; the game's threads never wait). Its systems run in `PreUpdate`, in
//! three sets, in this order:
//!
//! 1. [`HordeSet::Submit`] — new request entities ([`HordeImageRequest`],
//!    [`HordeTextRequest`], [`HordeInterrogationRequest`]) are sent, and the
//!    worker is told whether the player is idle ([`HordeIdle`]);
//! 2. [`HordeSet::Poll`] — the runtime's events are drained (nothing is
//!    allocated when there are none);
//! 3. [`HordeSet::Apply`] — each request's [`HordeRequestState`] follows the
//!    horde (queued with position and wait, processing, done, failed with
//!    upstream's `rc`, cancelled); results are inserted as components
//!    ([`HordeImages`], [`HordeTexts`], [`HordeInterrogation`]) and
//!    announced twice: as messages ([`HordeImageReady`], [`HordeTextReady`],
//!    [`HordeRequestEnded`], …) for `MessageReader` systems, and as entity
//!    events ([`ImageArrived`], [`TextArrived`], [`FormArrived`], [`RequestEnded`]) for
//!    `.observe(...)` callbacks on the request entity.
//!
//! Despawning a request entity cancels the request on the server.
//!
//! # Lending the GPU
//!
//! Spawn a [`HordeWorker`] entity per worker (or give them to the plugin
//! with [`HordePlugin::with_worker`]: an image, a text and an alchemy
//! worker side by side, each under its own name) and say when the player
//! is idle by setting [`HordeIdle`] (from a run condition, a state, window
//! focus…). Workers pop only while idle; when the player comes back the
//! current job finishes ([`HordeIdle`] `false`) or is handed back at once
//! ([`Horde::take_gpu_back`]). Changing a [`HordeWorker`] restarts its
//! worker with the new settings; removing it or despawning its entity
//! stops that worker. What they do arrives as [`HordeWorkerStatus`]
//! messages; with [`WorkerBackend::Game`], jobs arrive as
//! [`HordeWorkerJob`] messages that a system answers with
//! [`Horde::answer_job`].

mod plugin;
mod request;
mod systems;

pub use horde_core;
pub use horde_core::runtime::surface::{Answer, Rgba};
pub use horde_core::runtime::{Connection, JobTicket, SourceImage, WorkerBackend};
#[cfg(feature = "private")]
pub use plugin::HordePrivate;
pub use plugin::{
    Horde, HordeConnection, HordeIdle, HordePlugin, HordeRuntime, HordeSet, HordeUnavailable,
    HordeWorker,
};
pub use request::{
    FormArrived, HordeConnectionChanged, HordeEstimate, HordeImageReady, HordeImageRequest,
    HordeImages, HordeInterrogation, HordeInterrogationReady, HordeInterrogationRequest,
    HordeModels, HordeQuestionFailed, HordeRequestEnded, HordeRequestId, HordeRequestState,
    HordeTextReady, HordeTextRequest, HordeTexts, HordeUser, HordeWorkerJob, HordeWorkerStatus,
    ImageArrived, RequestEnded, TextArrived,
};

/// Everything a game needs, with the Bevy message reader.
pub mod prelude {
    pub use super::{
        Answer, Connection, FormArrived, Horde, HordeConnection, HordeConnectionChanged,
        HordeEstimate, HordeIdle, HordeImageReady, HordeImageRequest, HordeImages,
        HordeInterrogation, HordeInterrogationReady, HordeInterrogationRequest, HordeModels,
        HordePlugin, HordeQuestionFailed, HordeRequestEnded, HordeRequestId, HordeRequestState,
        HordeRuntime, HordeSet, HordeTextReady, HordeTextRequest, HordeTexts, HordeUnavailable,
        HordeUser, HordeWorker, HordeWorkerJob, HordeWorkerStatus, ImageArrived, JobTicket,
        RequestEnded, Rgba, SourceImage, TextArrived, WorkerBackend,
    };
    pub use bevy_ecs::message::MessageReader;
    pub use horde_core::api::FormName;
    pub use horde_core::worker::{
        BackendError, ImageResult, Job, Offer, Output, WorkKind, WorkerConfig,
    };
}
