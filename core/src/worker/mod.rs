//! The worker side of the horde (feature `worker`): contribute a GPU while
//! the player is idle.
//!
//! - [`job`] — jobs read from pop answers, and what backends hand back;
//! - [`backends`] — the [`Backend`] trait and the backends shipped with it;
//! - [`config`] — [`WorkerConfig`]: what every pop says, and the pacing;
//! - [`run`] — the [`Worker`] loop: pop → generate → upload → submit;
//! - [`events`] — [`WorkerEvent`]s out, [`WorkerHandle`] controls in;
//! - [`calls`] — the worker's endpoints on [`crate::client::HordeClient`];
//! - [`speed`] — the measured speed that keeps pops within their ttl;
//! - [`describe`] — jobs and events as JSON, for the C and Godot surfaces.

pub mod backends;
pub mod calls;
pub mod config;
pub mod describe;
pub mod events;
pub mod job;
pub mod run;
pub mod speed;

pub use backends::choice::BackendConfig;
pub use backends::{Backend, BackendError, Offer};
pub use config::{Pacing, WorkerConfig, bridge_agent};
pub use events::{WorkerControl, WorkerEvent, WorkerHandle, WorkerStats, control_pair};
pub use job::{
    FormJob, FormResult, ImageJob, ImageResult, Job, Output, TextJob, TextResult, WorkKind,
};
pub use run::{Worker, WorkerError};
