//! Scheduler benches: a worker's pop (matching, batching, and serialising the
//! changed records as the HTTP path does) with 1,000 workers registered and
//! 100 to 100,000 requests queued; and a `/check` computation.
//!
//! Run: `cargo bench -p horde_benches --bench scheduler`.

#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use horde_core::api::{ImageGenerateRequest, ImageParams, ImagePopRequest, PopCommon};
use horde_core::coordinator::clock::SystemClock;
use horde_core::coordinator::horde::{Caller, Horde, NewUser, Settings, StoredSources};
use horde_core::coordinator::reference::ModelReference;

const WORKERS: usize = 1000;

fn horde() -> Horde {
    let settings = Settings {
        request_ttl: 1200.0,
        max_job_ttl: None,
        default_concurrency: 1_000_000,
        anonymous_concurrency: 500,
        maintenance_mode: false,
        prompt_filter: Vec::new(),
        public_url: "http://127.0.0.1:7001".into(),
        key_salt: "bench".into(),
        models: Arc::new(ModelReference::defaults()),
        news: Vec::new(),
    };
    Horde::from_rows(settings, Arc::new(SystemClock), Vec::new()).unwrap()
}

fn user(h: &mut Horde, name: &str) -> Caller {
    let (u, _) = h
        .create_user(NewUser {
            alias: name.into(),
            kudos: 1e9,
            trusted: true,
            ..Default::default()
        })
        .unwrap();
    h.operator_update(u.id, |u| {
        u.concurrency = 10_000_000;
        u.worker_invited = 10_000;
    })
    .unwrap();
    Caller::User(u.id)
}

fn pop_request(i: usize) -> ImagePopRequest {
    ImagePopRequest {
        common: PopCommon {
            name: format!("worker-{i}"),
            models: Some(vec!["stable_diffusion".into()]),
            ..Default::default()
        },
        max_pixels: Some(1024 * 1024),
        ..Default::default()
    }
}

fn enqueue(h: &mut Horde, requester: &Caller) {
    let mut req = ImageGenerateRequest::new("a red apple");
    req.params = Some(ImageParams {
        steps: Some(20),
        ..Default::default()
    });
    let id = format!("{:032x}", rand_id());
    h.create_image(requester, req, id, StoredSources::default())
        .unwrap();
}

fn rand_id() -> u128 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    u128::from(N.fetch_add(1, Ordering::Relaxed))
}

fn pop_latency(c: &mut Criterion) {
    let mut group = c.benchmark_group("pop_with_1000_workers");
    group.measurement_time(Duration::from_secs(5));
    for queued in [100usize, 10_000, 100_000] {
        let mut h = horde();
        let requester = user(&mut h, "requester");
        let owner = user(&mut h, "owner");
        for i in 0..WORKERS {
            h.pop_image(&owner, &pop_request(i), None).unwrap();
        }
        for _ in 0..queued {
            enqueue(&mut h, &requester);
        }
        h.take_changes();
        let pops: Vec<_> = (0..WORKERS).map(pop_request).collect();
        group.bench_with_input(BenchmarkId::from_parameter(queued), &queued, |b, _| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                for i in 0..iters as usize {
                    let start = Instant::now();
                    let job = h.pop_image(&owner, &pops[i % WORKERS], None).unwrap();
                    let _ = std::hint::black_box(h.take_changes());
                    timed += start.elapsed();
                    assert!(job.id.is_some());
                    // Keep the queue at its size, outside the timing.
                    enqueue(&mut h, &requester);
                    h.take_changes();
                }
                timed
            });
        });
    }
    group.finish();
}

fn check(c: &mut Criterion) {
    let mut h = horde();
    let requester = user(&mut h, "requester");
    for _ in 0..10_000 {
        enqueue(&mut h, &requester);
    }
    let mut req = ImageGenerateRequest::new("watched");
    req.params = Some(ImageParams::default());
    h.create_image(&requester, req, "watched".into(), StoredSources::default())
        .unwrap();
    h.take_changes();
    c.bench_function("check_with_10000_queued", |b| {
        b.iter(|| std::hint::black_box(h.check("watched").unwrap()))
    });
}

criterion_group!(benches, pop_latency, check);
criterion_main!(benches);
