//! `POST /v2/kudos/transfer`: send kudos to another user or a shared key.

use serde::{Deserialize, Serialize};

/// Upstream's default transfer amount.
pub const DEFAULT_TRANSFER_AMOUNT: f64 = 100.0;

/// A transfer to a user (`alias#id`) or a shared key id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KudosTransferRequest {
    /// The recipient: `alias#id` or a shared key's id.
    pub username: String,
    /// Whole kudos to send (default 100; must be a positive integer). A
    /// number on the wire, as clients send it: the Python SDK sends `10.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<f64>,
}

impl KudosTransferRequest {
    /// The amount to send (default 100).
    pub fn amount(&self) -> f64 {
        self.amount.unwrap_or(DEFAULT_TRANSFER_AMOUNT)
    }
}

/// The answer to a transfer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KudosTransferResponse {
    /// Kudos transferred.
    pub transferred: f64,
}
