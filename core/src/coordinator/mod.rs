//! The self-hostable coordinator (feature `coordinator`): a private horde
//! that serves the AI Horde v2 API to existing clients and workers.
//!
//! - [`horde`] — the state and every rule (accounts, requests, matching, kudos, expiry);
//! - [`store`] — durable storage behind it (SQLite embedded);
//! - [`http`] — the axum routes, one module per API area;
//! - [`server`] — wiring: configuration in, a running server out.
//! - [`embedded`] — a private horde inside a game's process.

pub mod blobs;
pub mod clock;
pub mod config;
pub mod embedded;
pub mod error;
pub mod horde;
pub mod http;
pub mod keys;
pub mod model;
pub mod queue;
pub mod reference;
pub mod server;
pub mod store;
pub mod turns;
