//! Prometheus metrics at `/metrics`: HTTP requests by method, route and
//! status, and gauges of the queue and the workers online.

use std::collections::HashMap;
use std::fmt::Write;

use axum::extract::State;
use axum::http::{Method, header};
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;

use super::AppState;

/// Request counters, keyed by method, route and status.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<HashMap<(Method, String, u16), u64>>,
}

impl Metrics {
    /// Counts one answered request.
    pub fn count(&self, method: Method, route: String, status: u16) {
        *self
            .requests
            .lock()
            .entry((method, route, status))
            .or_default() += 1;
    }
}

/// A route with ids replaced by `{id}`, so counters stay few.
pub fn route_of(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for (i, seg) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        let idlike =
            seg.len() >= 16 || (seg.contains('-') && seg.bytes().any(|b| b.is_ascii_digit()));
        out.push_str(if idlike { "{id}" } else { seg });
    }
    out
}

/// `GET /metrics`.
pub async fn handler(State(state): State<AppState>) -> Response {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP horde_http_requests_total HTTP requests answered."
    );
    let _ = writeln!(out, "# TYPE horde_http_requests_total counter");
    let mut counters: Vec<_> = state
        .metrics
        .requests
        .lock()
        .iter()
        .map(|((m, r, s), n)| (m.as_str().to_owned(), r.clone(), *s, *n))
        .collect();
    counters.sort();
    for (method, route, status, n) in counters {
        let _ = writeln!(
            out,
            "horde_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
        );
    }
    let p = match state.read(|h| h.performance()).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let gauges = [
        (
            "horde_queued_image_requests",
            "Image requests waiting or processing.",
            p.queued_requests as f64,
        ),
        (
            "horde_queued_text_requests",
            "Text requests waiting or processing.",
            p.queued_text_requests as f64,
        ),
        (
            "horde_queued_forms",
            "Interrogation forms waiting or processing.",
            p.queued_forms,
        ),
        (
            "horde_queued_megapixelsteps",
            "Megapixelsteps waiting or processing.",
            p.queued_megapixelsteps,
        ),
        (
            "horde_image_workers_online",
            "Image workers online.",
            p.worker_count as f64,
        ),
        (
            "horde_text_workers_online",
            "Text workers online.",
            p.text_worker_count as f64,
        ),
        (
            "horde_alchemists_online",
            "Alchemists online.",
            p.interrogator_count as f64,
        ),
    ];
    for (name, help, value) in gauges {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
        );
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}

#[cfg(test)]
mod tests {
    use super::route_of;

    #[test]
    fn ids_are_folded() {
        assert_eq!(
            route_of("/api/v2/generate/check/51a893a4-12b1-4f3b-add4-380c87e83c19"),
            "/api/v2/generate/check/{id}"
        );
        assert_eq!(route_of("/api/v2/users/12"), "/api/v2/users/12");
    }
}
