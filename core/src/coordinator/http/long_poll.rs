//! `?wait=SECONDS` on the status routes (image `check`, text `status`,
//! interrogation `status`) — beyond upstream, which ignores the parameter.
//! The answer is held until the request moved (a job taken, finished,
//! restarted; the queue position changed), ended, or the seconds passed,
//! so a client learns of a finished result at once with fewer calls. Every
//! answer to a call that asked carries [`LONG_POLL_HEADER`], which is how a
//! client knows the wait was heard; against upstream it is absent and the
//! client keeps polling at its own cadence.
//!
//! Held answers are bounded: at most [`MAX_WAIT_SECS`] each, at most
//! [`MAX_LONG_POLLS`] at once (more are answered at once, as a poll), and
//! all are answered at once when the server shuts down. Changes made by
//! another process sharing the store are seen within a second.

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::AppState;
pub use crate::api::LONG_POLL_HEADER;
use crate::coordinator::error::ApiError;
use crate::coordinator::horde::Horde;

/// The longest a status answer is held.
pub const MAX_WAIT_SECS: f64 = 20.0;
/// Most answers held at once.
pub const MAX_LONG_POLLS: usize = 1024;
/// How often a held answer looks again without being woken (changes by
/// other processes sharing the store do not wake it).
const RECHECK: Duration = Duration::from_secs(1);

/// Reads `wait` from a raw query string: `None` when absent, an error
/// naming the parameter when it is not a number of seconds ≥ 0.
pub fn wait_of(query: Option<&str>) -> Result<Option<Duration>, ApiError> {
    let Some(value) = query
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix("wait="))
    else {
        return Ok(None);
    };
    match value.parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs >= 0.0 => {
            Ok(Some(Duration::from_secs_f64(secs.min(MAX_WAIT_SECS))))
        }
        _ => Err(ApiError::bad_request(format!(
            "wait: {value:?} is not a number of seconds (0 to {MAX_WAIT_SECS})"
        ))),
    }
}

/// Answers `read`'s body, held while `wait` allows until `progress` of the
/// body changes or `settled` says the request ended.
pub async fn answer<T, K>(
    state: &AppState,
    wait: Option<Duration>,
    read: impl Fn(&mut Horde) -> Result<T, ApiError>,
    progress: impl Fn(&T) -> K,
    settled: impl Fn(&T) -> bool,
) -> Result<Response, ApiError>
where
    T: Serialize,
    K: PartialEq,
{
    let Some(wait) = wait else {
        let body = state.read(&read).await??;
        return Ok(axum::Json(body).into_response());
    };
    // Subscribed before the first read, so no change is missed between.
    let mut changes = state.changes.subscribe();
    let mut body = state.read(&read).await??;
    // Beyond the bound, answered at once and unmarked: the client polls.
    let permit = state.long_polls.clone().try_acquire_owned();
    let held = permit.is_ok() && !wait.is_zero();
    if held && !settled(&body) {
        let first = progress(&body);
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if state.closing.load(Ordering::SeqCst) {
                break;
            }
            let woken = tokio::select! {
                changed = changes.changed() => changed.is_ok(),
                () = tokio::time::sleep(RECHECK) => true,
                () = tokio::time::sleep_until(deadline) => false,
            };
            body = state.read(&read).await??;
            if !woken
                || settled(&body)
                || progress(&body) != first
                || tokio::time::Instant::now() >= deadline
            {
                break;
            }
        }
    }
    let mut response = axum::Json(body).into_response();
    if held {
        response
            .headers_mut()
            .insert(LONG_POLL_HEADER, HeaderValue::from_static("1"));
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_parameter_is_read_capped_and_refused_when_not_seconds() {
        assert_eq!(wait_of(None).unwrap(), None);
        assert_eq!(wait_of(Some("x=1")).unwrap(), None);
        assert_eq!(
            wait_of(Some("x=1&wait=2.5")).unwrap(),
            Some(Duration::from_millis(2500))
        );
        assert_eq!(
            wait_of(Some("wait=3600")).unwrap(),
            Some(Duration::from_secs_f64(MAX_WAIT_SECS))
        );
        for bad in ["wait=-1", "wait=NaN", "wait=inf", "wait=soon", "wait="] {
            let e = wait_of(Some(bad)).unwrap_err();
            assert_eq!(e.status, 400, "{bad}");
            assert!(e.body.message.starts_with("wait:"), "{}", e.body.message);
        }
    }
}
