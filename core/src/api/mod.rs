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
//!
//! ```
//! use horde_core::api::{validate, ImageGenerateRequest, ImageParams, RequestStatusCheck};
//!
//! let mut req = ImageGenerateRequest::new("a red potion on a wooden table");
//! req.params = Some(ImageParams { n: Some(2), ..Default::default() });
//! validate::validate_image_request(&req).expect("a valid request");
//! // Only what was set goes on the wire; upstream's defaults apply to the rest.
//! assert_eq!(
//!     serde_json::to_string(&req).unwrap(),
//!     r#"{"prompt":"a red potion on a wooden table","params":{"n":2}}"#
//! );
//! assert!(req.nsfw() && req.r2()); // upstream's effective defaults
//!
//! let check: RequestStatusCheck = serde_json::from_str(
//!     r#"{"finished": 0, "processing": 0, "restarted": 0, "waiting": 2, "done": false,
//!         "faulted": false, "wait_time": 10, "queue_position": 1, "kudos": 3.0,
//!         "is_possible": false}"#,
//! ).unwrap();
//! assert_eq!(check.queue_position, 1);
//! ```

#[macro_use]
mod macros;

mod builders;
mod common;
mod error;
mod ids;
mod image;
mod interrogation;
mod kudos_transfer;
mod lenient;
pub mod paths;
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

/// Beyond upstream: the header our coordinator sets on a status answer
/// to a call that asked `?wait=SECONDS`, saying the answer was held until
/// the request moved (so the client may ask again at once). Upstream
/// ignores the parameter and never sends the header.
pub const LONG_POLL_HEADER: &str = "x-horde-long-poll";

/// The name of the header that identifies the client as `name:version:contact`.
pub const CLIENT_AGENT_HEADER: &str = "Client-Agent";

/// The client agent upstream assumes when a client sends none.
pub const UNKNOWN_CLIENT_AGENT: &str = "unknown:0:unknown";
