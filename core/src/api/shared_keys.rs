//! Shared keys: API keys a user hands out to others, drawing on the owner's
//! kudos up to a limit (`/v2/sharedkeys`).

use serde::{Deserialize, Serialize};

use super::ids::SharedKeyId;

/// `PUT /v2/sharedkeys` (create) and `PATCH /v2/sharedkeys/{id}` (modify).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedKeyInput {
    /// Kudos limit, −1 (unlimited) to 50,000,000 (default 5000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kudos: Option<i64>,
    /// Days until expiry, −1 for never (default −1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry: Option<i64>,
    /// A descriptive name, 3–255 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Most pixels per image job, −1 (unlimited) to 4,194,304.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_image_pixels: Option<i64>,
    /// Most steps per image job, −1 (unlimited) to 500.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_image_steps: Option<i64>,
    /// Most tokens per text job, −1 (unlimited) to 500.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_text_tokens: Option<i64>,
}

/// A shared key as `GET /v2/sharedkeys/{id}` and the create/modify calls return it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SharedKeyDetails {
    /// The key's id (also the key itself).
    pub id: SharedKeyId,
    /// The owner's `alias#id`.
    pub username: String,
    /// The key's name (absent when it has none, as upstream sends it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Kudos left to use (−1 unlimited).
    pub kudos: i64,
    /// When the key expires (RFC 822); absent for never.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiry: Option<String>,
    /// Kudos used through this key so far.
    pub utilized: i64,
    /// Most pixels per image job (−1 unlimited).
    pub max_image_pixels: i64,
    /// Most steps per image job (−1 unlimited).
    pub max_image_steps: i64,
    /// Most tokens per text job (−1 unlimited).
    pub max_text_tokens: i64,
}
