//! The client side of the horde (feature `client`).
//!
//! - [`lifecycle`] — one request's lifecycle as a sans-IO state machine;
//! - [`http`] — the async HTTP client, and drivers that run a request
//!   through its lifecycle.
//!
//! The engine-neutral runtime builds on these.

pub mod http;
pub mod lifecycle;

pub use http::{
    CancelHandle, CancelSignal, ClientConfig, ClientError, HordeClient, Link, cancel_pair,
};
