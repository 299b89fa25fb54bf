//! Prometheus metrics at `/metrics`: HTTP requests by method, route and
//! status, and gauges of the queue and the workers online.

use std::collections::HashMap;
use std::fmt::Write;

use axum::extract::State;
use axum::http::{Method, header};
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;

use super::AppState;

/// Request counters, by route template, then method and status (looked
/// up by `&str`, so counting allocates nothing once a series exists).
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<HashMap<String, ByMethodAndStatus>>,
}

/// One route's counters, by method label and status.
type ByMethodAndStatus = HashMap<(&'static str, u16), u64>;

impl Metrics {
    /// Counts one answered request under its route template.
    pub fn count(&self, method: &Method, route: &str, status: u16) {
        let mut requests = self.requests.lock();
        let by_route = match requests.get_mut(route) {
            Some(m) => m,
            None => requests.entry(route.to_owned()).or_default(),
        };
        *by_route.entry((method_label(method), status)).or_default() += 1;
    }
}

/// A label value as the Prometheus text format needs it.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The method as a label: the standard ones by name, anything else `other`
/// (a client chooses the method; it must not choose new series).
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
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
        .flat_map(|(r, by)| by.iter().map(move |((m, s), n)| (*m, escape(r), *s, *n)))
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
    use super::*;

    #[test]
    fn labels_are_escaped_and_methods_bounded() {
        assert_eq!(escape(r#"/a"b\c"#), r#"/a\"b\\c"#);
        assert_eq!(escape("x\ny"), "x\\ny");
        let odd = Method::from_bytes(b"BREW").expect("a method");
        assert_eq!(method_label(&odd), "other");
    }
}
