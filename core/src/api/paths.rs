//! The v2 endpoint paths, relative to the API base (`…/api`), written once
//! for the client that calls them and the coordinator that routes them.
//! Path parameters are written `{name}`; [`fill`] substitutes them.

/// Request images.
pub const GENERATE_ASYNC: &str = "/v2/generate/async";
/// Poll an image request (no auth).
pub const GENERATE_CHECK: &str = "/v2/generate/check/{id}";
/// Image request status with results (GET), or cancel it (DELETE).
pub const GENERATE_STATUS: &str = "/v2/generate/status/{id}";
/// A dreamer asks for work.
pub const GENERATE_POP: &str = "/v2/generate/pop";
/// A dreamer hands in one image.
pub const GENERATE_SUBMIT: &str = "/v2/generate/submit";
/// Request text.
pub const TEXT_ASYNC: &str = "/v2/generate/text/async";
/// Text request status with results (GET), or cancel it (DELETE).
pub const TEXT_STATUS: &str = "/v2/generate/text/status/{id}";
/// A scribe asks for work.
pub const TEXT_POP: &str = "/v2/generate/text/pop";
/// A scribe hands in one text.
pub const TEXT_SUBMIT: &str = "/v2/generate/text/submit";
/// Request interrogation forms on an image.
pub const INTERROGATE_ASYNC: &str = "/v2/interrogate/async";
/// Interrogation status with results (GET), or cancel it (DELETE).
pub const INTERROGATE_STATUS: &str = "/v2/interrogate/status/{id}";
/// An alchemist asks for work.
pub const INTERROGATE_POP: &str = "/v2/interrogate/pop";
/// An alchemist hands in one form.
pub const INTERROGATE_SUBMIT: &str = "/v2/interrogate/submit";
/// The user owning the `apikey` header.
pub const FIND_USER: &str = "/v2/find_user";
/// List users (`?page&sort`).
pub const USERS: &str = "/v2/users";
/// One user (GET), or modify it (PUT).
pub const USER: &str = "/v2/users/{id}";
/// List workers (`?type&name`).
pub const WORKERS: &str = "/v2/workers";
/// One worker (GET), modify it (PUT), or delete it (DELETE).
pub const WORKER: &str = "/v2/workers/{id}";
/// One worker by name.
pub const WORKER_BY_NAME: &str = "/v2/workers/name/{name}";
/// Send kudos.
pub const KUDOS_TRANSFER: &str = "/v2/kudos/transfer";
/// Create a shared key.
pub const SHARED_KEYS: &str = "/v2/sharedkeys";
/// One shared key (GET), modify it (PATCH), or delete it (DELETE).
pub const SHARED_KEY: &str = "/v2/sharedkeys/{id}";
/// Is the horde up.
pub const HEARTBEAT: &str = "/v2/status/heartbeat";
/// Models being served (`?type&min_count&max_count&model_state`).
pub const STATUS_MODELS: &str = "/v2/status/models";
/// One model being served.
pub const STATUS_MODEL: &str = "/v2/status/models/{name}";
/// Horde-wide load.
pub const STATUS_PERFORMANCE: &str = "/v2/status/performance";
/// Maintenance, invite-only and raid modes.
pub const STATUS_MODES: &str = "/v2/status/modes";
/// `GET`: the horde's news.
pub const STATUS_NEWS: &str = "/v2/status/news";
/// Image totals per period.
pub const STATS_IMG_TOTALS: &str = "/v2/stats/img/totals";
/// Images per model.
pub const STATS_IMG_MODELS: &str = "/v2/stats/img/models";
/// Text totals per period.
pub const STATS_TEXT_TOTALS: &str = "/v2/stats/text/totals";
/// Texts per model.
pub const STATS_TEXT_MODELS: &str = "/v2/stats/text/models";

/// Substitutes a path parameter, percent-encoding what cannot stand in a path
/// segment: `fill(GENERATE_CHECK, "id", "abc")` → `/v2/generate/check/abc`.
pub fn fill(pattern: &str, name: &str, value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            encoded.push(char::from(b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    pattern.replace(&format!("{{{name}}}"), &encoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_filled_and_encoded() {
        assert_eq!(
            fill(GENERATE_CHECK, "id", "ab-1"),
            "/v2/generate/check/ab-1"
        );
        assert_eq!(
            fill(WORKER_BY_NAME, "name", "my worker/1#2"),
            "/v2/workers/name/my%20worker%2F1%232"
        );
        assert_eq!(fill(STATUS_MODEL, "name", "é"), "/v2/status/models/%C3%A9");
    }
}
