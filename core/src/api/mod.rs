//! The AI Horde v2 wire protocol: serde types for requests and responses, the
//! error body and its return codes, and request validation.
//!
//! These types are the one source of truth for the wire: the client, the
//! worker and the coordinator all speak through them. Field names, optionality
//! and JSON types follow upstream (AI Horde 5.1.5, API 2.5) exactly:
//!
//! - **Requests** keep every optional field as `Option`, skipped when `None`,
//!   so a body that left a field out serialises without it; the effective
//!   upstream defaults are exposed by accessor methods (for example
//!   [`ImageGenerateRequest::nsfw`] is `true` when not sent).
//! - **Responses** always carry the keys upstream always sends (as `null` when
//!   empty) and skip the keys upstream skips.
//! - **Tolerance**: unknown fields are ignored, and string enums that upstream
//!   grows (samplers, post-processors, return codes, …) keep unknown values in
//!   an `Other`/`Unknown` variant instead of failing to parse.
//!
//! HTTP transport, routing and persistence live elsewhere; this module holds
//! data shapes and pure checks only.

#[macro_use]
mod macros;

mod common;
mod error;
mod ids;
mod image;
mod interrogation;
mod kudos_transfer;
mod shared_keys;
mod status;
mod text;
mod users;
pub mod validate;
mod workers;

pub use common::*;
pub use error::{ErrorBody, Rc};
pub use ids::*;
pub use image::*;
pub use interrogation::*;
pub use kudos_transfer::*;
pub use shared_keys::*;
pub use status::*;
pub use text::*;
pub use users::*;
pub use workers::*;

/// The public horde's API base URL, which clients use unless told otherwise.
pub const PUBLIC_HORDE_URL: &str = "https://aihorde.net/api";

/// The anonymous user's API key: every client may use it, at the lowest priority.
pub const ANONYMOUS_API_KEY: &str = "0000000000";

/// The name of the header that carries the API key (or a shared key).
pub const APIKEY_HEADER: &str = "apikey";

/// The name of the header that identifies the client as `name:version:contact`.
pub const CLIENT_AGENT_HEADER: &str = "Client-Agent";

/// The client agent upstream assumes when a client sends none.
pub const UNKNOWN_CLIENT_AGENT: &str = "unknown:0:unknown";
