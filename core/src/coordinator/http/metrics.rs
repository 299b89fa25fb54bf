//! Prometheus metrics at `/metrics`: HTTP requests by method, route and
//! status, and gauges of the queue and the workers online.

use std::collections::BTreeMap;
use std::fmt::Write;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;

use super::AppState;

/// Request counters.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
}

/// A route with ids replaced by `{id}`, so counters stay few.
fn route_of(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            let idlike =
                seg.len() >= 16 || (seg.chars().any(|c| c.is_ascii_digit()) && seg.contains('-'));
            if idlike { "{id}" } else { seg }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Counts every request by method, route and status.
pub async fn middleware(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let method = req.method().as_str().to_owned();
    let route = route_of(req.uri().path());
    let res = next.run(req).await;
    let status = res.status().as_u16();
    *state
        .metrics
        .requests
        .lock()
        .entry((method, route, status))
        .or_default() += 1;
    res
}

/// `GET /metrics`.
pub async fn handler(State(state): State<AppState>) -> Response {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP horde_http_requests_total HTTP requests answered."
    );
    let _ = writeln!(out, "# TYPE horde_http_requests_total counter");
    for ((method, route, status), n) in state.metrics.requests.lock().iter() {
        let _ = writeln!(
            out,
            "horde_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
        );
    }
    let p = state.read(|h| h.performance());
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
