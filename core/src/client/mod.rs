//! The client side of the horde (feature `client`).
//!
//! - [`lifecycle`] — one request's lifecycle as a sans-IO state machine.
//!
//! The async HTTP client and the engine-neutral runtime build on it.

pub mod lifecycle;
