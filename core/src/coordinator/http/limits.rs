//! Rate limits with upstream's defaults: fixed windows per client IP and
//! path class, and per API key on the generate endpoints. Switched off by
//! configuration for benchmarks.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;

use crate::api::{ANONYMOUS_API_KEY, ErrorBody, Rc};
use crate::coordinator::config::RateLimits;

/// Windows older than this many seconds are forgotten.
const FORGET_AFTER_SECS: u64 = 120;

/// The rate limiter.
pub struct Limiter {
    config: RateLimits,
    start: Instant,
    windows: Mutex<HashMap<String, (u64, u32)>>,
}

/// A limit that was exceeded: how many per how long, and when to retry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exceeded {
    /// Allowed calls per window.
    pub limit: u32,
    /// The window in seconds.
    pub per_secs: u64,
    /// Seconds until the window ends.
    pub retry_after: u64,
}

impl Limiter {
    /// A limiter with these limits.
    pub fn new(config: RateLimits) -> Self {
        Self {
            config,
            start: Instant::now(),
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one call against `key`; refuses it past `limit` per `per_secs`.
    pub fn hit(&self, key: String, limit: u32, per_secs: u64) -> Result<(), Exceeded> {
        let now = self.start.elapsed().as_secs();
        let window = now / per_secs;
        let mut windows = self.windows.lock();
        if windows.len() > 100_000 {
            windows.retain(|_, (w, _)| now.saturating_sub(*w * per_secs) < FORGET_AFTER_SECS);
        }
        let entry = windows.entry(key).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        if entry.1 >= limit {
            return Err(Exceeded {
                limit,
                per_secs,
                retry_after: (window + 1) * per_secs - now,
            });
        }
        entry.1 += 1;
        Ok(())
    }

    /// Whether calls from `ip` are never limited: loopback, when
    /// `exempt_loopback` is set (an embedded horde and its own game).
    pub fn exempt(&self, ip: IpAddr) -> bool {
        !self.config.enabled || (self.config.exempt_loopback && ip.to_canonical().is_loopback())
    }

    /// Applies every limit that covers a call.
    pub fn check(
        &self,
        method: &Method,
        path: &str,
        ip: &str,
        apikey: Option<&str>,
    ) -> Result<(), Exceeded> {
        let c = &self.config;
        if !c.enabled
            || path == "/metrics"
            || path.starts_with("/api/v2/blobs/")
            || path.ends_with("/status/heartbeat")
        {
            return Ok(());
        }
        let key = |suffix: &str| format!("{ip}@{method}@{suffix}");
        let post = method == Method::POST;
        if post && (path == "/api/v2/generate/async" || path == "/api/v2/generate/text/async") {
            self.hit(key(path), c.generate_per_minute, 60)?;
            self.hit(format!("{}s", key(path)), c.generate_per_second, 1)?;
            if let Some(k) = apikey {
                let per_key = if k == ANONYMOUS_API_KEY {
                    c.generate_anonymous_per_second
                } else {
                    c.generate_per_key_per_second
                };
                self.hit(format!("key:{k}@{path}"), per_key, 1)?;
            }
            return Ok(());
        }
        if path.starts_with("/api/v2/generate/check/") {
            return self.hit(key(path), c.check_per_second, 1);
        }
        if path.starts_with("/api/v2/generate/text/status/") {
            return self.hit(key(path), c.text_status_per_minute, 60);
        }
        if path.starts_with("/api/v2/generate/status/") {
            return self.hit(key(path), c.image_status_per_minute, 60);
        }
        if post && (path.ends_with("/pop") || path.ends_with("/submit")) {
            return self.hit(format!("{ip}@worker"), c.worker_per_second, 1);
        }
        self.hit(key(path), c.default_per_minute, 60)
    }
}

/// Applies the limits that cover a request; a refusal becomes a 429 with
/// `Retry-After` and a JSON body.
/// `route` is the template the request matched (`/api/v2/generate/check/{id}`):
/// windows are kept per client and route, as upstream's limiter keys them.
pub fn check(
    limiter: &Limiter,
    req: &Request,
    route: &str,
    addr: SocketAddr,
) -> Result<(), Refused> {
    if limiter.exempt(addr.ip()) {
        return Ok(());
    }
    let apikey = req.headers().get("apikey").and_then(|v| v.to_str().ok());
    limiter
        .check(req.method(), route, &addr.ip().to_string(), apikey)
        .map_err(Refused)
}

/// A call refused by a rate limit.
#[derive(Debug)]
pub struct Refused(pub Exceeded);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let e = self.0;
        let unit = if e.per_secs == 1 {
            "1 second".to_owned()
        } else {
            format!("{} seconds", e.per_secs)
        };
        let body = ErrorBody::new(
            Rc::Unknown("TooManyRequests".into()),
            format!("{} per {unit}", e.limit),
        );
        let mut res = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
        let headers = res.headers_mut();
        headers.insert("retry-after", HeaderValue::from(e.retry_after.max(1)));
        headers.insert("x-ratelimit-limit", HeaderValue::from(e.limit));
        headers.insert("x-ratelimit-remaining", HeaderValue::from(0u32));
        res
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn windows_fill_and_are_per_ip_and_route() {
        let l = Limiter::new(RateLimits::default());
        let check = "/api/v2/generate/check/{id}";
        for _ in 0..10 {
            assert!(l.check(&Method::GET, check, "1.1.1.1", None).is_ok());
        }
        let e = l
            .check(&Method::GET, check, "1.1.1.1", None)
            .expect_err("11th");
        assert_eq!((e.limit, e.per_secs), (10, 1));
        assert!(l.check(&Method::GET, check, "2.2.2.2", None).is_ok());
        assert!(
            l.check(
                &Method::GET,
                "/api/v2/generate/status/{id}",
                "1.1.1.1",
                None
            )
            .is_ok()
        );
        assert!(
            l.check(&Method::GET, "/api/v2/status/heartbeat", "1.1.1.1", None)
                .is_ok()
        );
        let off = Limiter::new(RateLimits {
            enabled: false,
            ..RateLimits::default()
        });
        for _ in 0..100 {
            assert!(off.check(&Method::GET, check, "1.1.1.1", None).is_ok());
        }
    }

    #[test]
    fn loopback_is_exempt_only_when_asked() {
        let ips: [IpAddr; 4] = [
            "127.0.0.1".parse().unwrap(),
            "127.3.4.5".parse().unwrap(),
            "::1".parse().unwrap(),
            "::ffff:127.0.0.1".parse().unwrap(),
        ];
        let strict = Limiter::new(RateLimits::default());
        let embedded = Limiter::new(RateLimits {
            exempt_loopback: true,
            ..RateLimits::default()
        });
        for ip in ips {
            assert!(!strict.exempt(ip), "{ip}");
            assert!(embedded.exempt(ip), "{ip}");
        }
        assert!(!embedded.exempt("10.0.0.1".parse().unwrap()));
        assert!(!embedded.exempt("::ffff:10.0.0.1".parse().unwrap()));
    }
}
