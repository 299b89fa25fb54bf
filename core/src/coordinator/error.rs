//! The coordinator's error: an upstream return code, a message, and the HTTP
//! status they travel with. Every refusal a handler can give is one of these;
//! the HTTP layer turns it into `{"message", "rc"}` with a 4xx status.

use crate::api::validate::ValidationError;
use crate::api::{ErrorBody, Rc};

/// A refused request.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{} ({status})", body)]
pub struct ApiError {
    /// The HTTP status.
    pub status: u16,
    /// The body sent back.
    pub body: ErrorBody,
}

impl ApiError {
    /// An error with upstream's status for `rc`.
    pub fn new(rc: Rc, message: impl Into<String>) -> Self {
        Self {
            status: rc.http_status(),
            body: ErrorBody::new(rc, message),
        }
    }

    /// A 400 `BadRequest`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(Rc::BadRequest, message)
    }

    /// The key matches nobody (401).
    pub fn invalid_key() -> Self {
        Self::new(
            Rc::InvalidAPIKey,
            "No user matching sent API Key. Have you remembered to register at this horde?",
        )
    }

    /// Storage failed, so the operation was not carried out (503).
    pub fn storage_unavailable() -> Self {
        Self {
            status: 503,
            body: ErrorBody::new(
                Rc::Unknown("StorageUnavailable".into()),
                "Storage is unavailable; nothing was changed. Try again.",
            ),
        }
    }

    /// The same error with another HTTP status (for codes upstream lacks).
    pub fn with_status(self, status: u16) -> Self {
        Self { status, ..self }
    }

    /// The return code.
    pub fn rc(&self) -> Option<&Rc> {
        self.body.rc.as_ref()
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        let body = e.to_error_body();
        Self {
            status: body.http_status(),
            body,
        }
    }
}
