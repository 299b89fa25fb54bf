//! Result delivery latency: from the moment a worker's result is ready to
//! the moment the game's thread can take its `ImageReady` event.
//!
//! - **ours, polling** and **ours, long-poll**: an embedded horde and a
//!   game-answered dreamer in the same runtime; the clock starts when the
//!   game answers the job (the runtime then encodes, the worker submits,
//!   the client learns of it and fetches). Polling is the cadence the
//!   public horde gets (`long_poll = 0`, `min_poll` 1 s); long-poll asks our
//!   coordinator to hold `check` until the request moves.
//! - **upstream's recorded answers, polling**: a stand-in answering with
//!   bodies recorded from a real upstream horde (`check` says processing,
//!   then done; `status` carries the inline images); the clock starts when
//!   the stand-in starts saying done.
//!
//! Each job is answered (or marked done) after a random 0–1 s, so the
//! result lands at any phase of the poll cadence. p50, p90 and max are
//! printed per scenario.
//!
//! Run: `cargo bench -p horde_benches --bench latency`
//! (`HORDE_BENCH_REQUESTS`, default 20, requests per scenario).

#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use horde_core::api::ImageGenerateRequest;
use horde_core::client::ClientConfig;
use horde_core::coordinator::config::Config;
use horde_core::coordinator::embedded::EmbeddedHorde;
use horde_core::runtime::surface::{JobShape, Rgba};
use horde_core::runtime::{Event, Runtime, RuntimeConfig, WorkerBackend};
use horde_core::worker::{Offer, WorkKind, WorkerConfig};

const MODEL: &str = "bench/latency";

/// A tiny xorshift, so runs are repeatable.
struct Jitter(u64);

impl Jitter {
    fn next(&mut self) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        Duration::from_millis(self.0 % 1000)
    }
}

fn report(name: &str, d: &mut [Duration]) {
    d.sort();
    let at = |q: f64| d[((d.len() - 1) as f64 * q).round() as usize];
    println!(
        "{name:<40} {:>3} results  p50 {:>7.0?}  p90 {:>7.0?}  max {:>7.0?}",
        d.len(),
        at(0.5),
        at(0.9),
        d[d.len() - 1]
    );
}

fn request() -> ImageGenerateRequest {
    ImageGenerateRequest::new("latency")
        .size(64, 64)
        .steps(1)
        .model(MODEL)
        .allow_nsfw(false)
}

/// Waits (polling every millisecond, as a game's loop would far more
/// coarsely) for an event `pick` accepts.
fn wait_for<T>(rt: &Runtime, mut pick: impl FnMut(Event) -> Option<T>) -> T {
    let give_up = Instant::now() + Duration::from_secs(120);
    loop {
        while let Some(e) = rt.try_event() {
            if let Event::Failed { error, .. } = &e {
                panic!("a request failed: {error:?}");
            }
            if let Some(t) = pick(e) {
                return t;
            }
        }
        assert!(Instant::now() < give_up, "no event for two minutes");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn ours(long_poll: f64, requests: usize) -> Vec<Duration> {
    let horde = EmbeddedHorde::start(Config::embedded()).expect("horde");
    let mut client = ClientConfig::new("horde-bench:0.1:https://example.invalid");
    client.base_url = horde.api_url().to_owned();
    client.api_key = horde.game_key().expect("key");
    let mut config = RuntimeConfig::new(client);
    config.policy.long_poll = long_poll;
    let rt = Runtime::start(config).expect("runtime");
    let mut worker = WorkerConfig::named("bench-latency-dreamer");
    worker.pacing.empty_secs = 0.05;
    worker.pacing.idle_secs = 0.05;
    let backend = WorkerBackend::Game {
        kind: WorkKind::Image,
        offer: Offer {
            models: vec![MODEL.into()],
            ..Offer::default()
        },
    };
    rt.start_worker(worker, backend, true);
    let pixels = vec![128u8; 64 * 64 * 4];
    let mut jitter = Jitter(0x2545_f491_4f6c_dd1d);
    let mut out = Vec::with_capacity(requests);
    for _ in 0..requests {
        let id = rt.submit_image(request());
        let (ticket, job) = wait_for(&rt, |e| match e {
            Event::WorkerJob { ticket, job, .. } => Some((ticket, job)),
            _ => None,
        });
        std::thread::sleep(jitter.next());
        let answer = JobShape::of(&job)
            .images(&[Rgba {
                width: 64,
                height: 64,
                pixels: &pixels,
            }])
            .expect("the job's shape");
        let answered = Instant::now();
        rt.answer_job(ticket, answer);
        wait_for(&rt, |e| match e {
            Event::ImageReady { id: got, .. } if got == id => Some(()),
            _ => None,
        });
        out.push(answered.elapsed());
        wait_for(&rt, |e| match e {
            Event::Completed { id: got } if got == id => Some(()),
            _ => None,
        });
    }
    rt.shutdown();
    out
}

fn capture(name: &str) -> String {
    let path = format!(
        "{}/../core/tests/fixtures/upstream/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A stand-in answering with upstream's recorded bodies; `done_at` is when
/// its `check` starts saying done.
fn upstream_stand_in(
    done_at: Arc<parking_lot::Mutex<Option<Instant>>>,
) -> (String, tokio::runtime::Runtime) {
    let (accepted, processing, done, status) = (
        capture("image_async__accepted_r2_false_n2"),
        capture("image_check__processing"),
        capture("image_check__done"),
        capture("image_status__done_r2_false_n2"),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let app = axum::Router::new()
        .route(
            "/api/v2/generate/async",
            axum::routing::post(move || {
                let body = accepted.clone();
                async move { (axum::http::StatusCode::ACCEPTED, body) }
            }),
        )
        .route(
            "/api/v2/generate/check/{id}",
            axum::routing::get(move || {
                let finished = done_at.lock().is_some_and(|t| Instant::now() >= t);
                let body = if finished {
                    done.clone()
                } else {
                    processing.clone()
                };
                async move { body }
            }),
        )
        .route(
            "/api/v2/generate/status/{id}",
            axum::routing::get(move || {
                let body = status.clone();
                async move { body }
            }),
        );
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/api"), rt)
}

fn upstream(requests: usize) -> Vec<Duration> {
    let done_at = Arc::new(parking_lot::Mutex::new(None));
    let (api, _server) = upstream_stand_in(done_at.clone());
    let mut client = ClientConfig::new("horde-bench:0.1:https://example.invalid");
    client.base_url = api;
    let rt = Runtime::start(RuntimeConfig::new(client)).expect("runtime");
    let mut jitter = Jitter(0x9e37_79b9_7f4a_7c15);
    let mut out = Vec::with_capacity(requests);
    for _ in 0..requests {
        *done_at.lock() = None;
        let id = rt.submit_image(request());
        std::thread::sleep(Duration::from_millis(300) + jitter.next());
        let done = Instant::now();
        *done_at.lock() = Some(done);
        wait_for(&rt, |e| match e {
            Event::ImageReady { id: got, .. } if got == id => Some(()),
            _ => None,
        });
        out.push(done.elapsed());
        wait_for(&rt, |e| match e {
            Event::Completed { id: got } if got == id => Some(()),
            _ => None,
        });
    }
    rt.shutdown();
    out
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let requests: usize = std::env::var("HORDE_BENCH_REQUESTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    report("ours, polling (min_poll 1 s)", &mut ours(0.0, requests));
    report("ours, long-poll (?wait=)", &mut ours(10.0, requests));
    report(
        "upstream's recorded answers, polling",
        &mut upstream(requests),
    );
}
