//! The worker side of the horde (feature `worker`): backends that turn a
//! popped job into results. The pop → generate → upload → submit loop, idle
//! gating and the HTTP bridges build on these (see the worker issue).
//!
//! - [`backends`] — the [`backends::ImageBackend`] trait and the built-in
//!   deterministic image backend.

pub mod backends;
