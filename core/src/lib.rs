//! `horde_core`: everything engine-neutral in horde-rs.
//!
//! - [`api`] — the AI Horde v2 wire protocol: every type that crosses the wire,
//!   the `{message, rc}` error body, and validation of async requests.
//! - [`kudos`] — pricing as pure functions, shared by the coordinator (which
//!   charges) and the client (which estimates).
//! - `client` (feature `client`) — the request lifecycle (and, as it grows,
//!   the async SDK and the runtime the engines share).
//! - `runtime` (feature `runtime`) — the engine-neutral handle the Bevy,
//!   Godot and C surfaces wrap.
//! - `worker` (feature `worker`) — backends that turn popped jobs into results.
//! - `coordinator` (feature `coordinator`) — the self-hostable horde.
//!
//! The client, worker, runtime and coordinator layers are added on top of these
//! by later parts of the project; nothing here knows about them.

pub mod api;
#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "coordinator")]
pub mod coordinator;
pub mod kudos;
#[cfg(any(feature = "runtime", feature = "coordinator"))]
mod priority;
#[cfg(feature = "runtime")]
pub mod runtime;
#[cfg(feature = "worker")]
pub mod worker;
