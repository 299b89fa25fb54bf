//! The `worker` scenario: our worker's own cost per job, inference excluded.
//! A queue is filled first; the worker then runs job after job against the
//! real server (pop → backend → upload → submit on loopback), and each job's
//! overhead is the time between two submits minus the backend's own time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use horde_benches::{Server, percentiles};
use horde_core::client::{ClientConfig, HordeClient};
use horde_core::worker::backends::procedural::{PROCEDURAL_MODEL, ProceduralImages};
use horde_core::worker::backends::{Backend, BackendError, BoxFuture, Offer};
use horde_core::worker::{
    Job, Output, TextResult, WorkKind, Worker, WorkerConfig, WorkerEvent, control_pair,
};
use parking_lot::Mutex;
use serde_json::{Value, json};

const TEXT_MODEL: &str = "bench/instant";

/// A text backend that answers at once: what is measured is the worker.
struct Instant_;

impl Backend for Instant_ {
    fn name(&self) -> &str {
        "instant"
    }
    fn kind(&self) -> WorkKind {
        WorkKind::Text
    }
    fn offer(&self) -> BoxFuture<'_, Result<Offer, BackendError>> {
        Box::pin(async {
            Ok(Offer {
                models: vec![TEXT_MODEL.into()],
                ..Offer::default()
            })
        })
    }
    fn run<'a>(
        &'a self,
        _job: &'a Job,
        _cancel: horde_core::client::CancelSignal,
    ) -> BoxFuture<'a, Result<Output, BackendError>> {
        Box::pin(async {
            Ok(Output::Text(TextResult {
                text: " and so on.".into(),
                tokens: Some(4),
                seed: None,
            }))
        })
    }
}

async fn fill(api: &str, key: &str, body: Value, path: &str, count: usize) {
    let c = reqwest::Client::new();
    for _ in 0..count {
        let res = c
            .post(format!("{api}{path}"))
            .header("apikey", key)
            .json(&body)
            .send()
            .await
            .expect("queue");
        assert!(
            res.status().is_success(),
            "{}",
            res.text().await.unwrap_or_default()
        );
    }
}

/// Runs `jobs` queued jobs through a worker; answers each job's overhead.
async fn measure(
    api: &str,
    key: &str,
    name: &str,
    backend: Arc<dyn Backend>,
    jobs: usize,
) -> Vec<Duration> {
    let mut client = ClientConfig::new("horde-rs-loadgen:0.1:https://example.invalid");
    client.base_url = api.to_owned();
    client.api_key = key.to_owned();
    let client = HordeClient::new(client).expect("client");
    let mut config = WorkerConfig::named(name);
    config.nsfw = true;
    config.pacing.empty_secs = 0.01;
    let (handle, control) = control_pair();
    let finished: Arc<Mutex<Vec<(Instant, f64)>>> = Arc::default();
    let sink = finished.clone();
    let task = tokio::spawn(Worker::new(client, config, backend).run(control, move |e| {
        if let WorkerEvent::JobFinished { seconds, error, .. } = e {
            assert!(error.is_none(), "{error:?}");
            sink.lock().push((Instant::now(), seconds));
        }
    }));
    while finished.lock().len() < jobs {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    handle.stop();
    task.await.expect("task").expect("worker");
    let done = finished.lock().clone();
    done.windows(2)
        .map(|w| (w[1].0 - w[0].0).saturating_sub(Duration::from_secs_f64(w[1].1)))
        .collect()
}

fn report(name: &str, lat: Vec<Duration>) {
    let n = lat.len();
    let (p50, p99) = percentiles(lat);
    println!(
        "| {name} | {n} jobs | p50 {:.3} ms | p99 {:.3} ms |",
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3
    );
}

pub async fn worker(horde: &std::path::Path, jobs: usize) {
    let (server, keys) = Server::start(
        horde,
        &[("requester", 1e9, 100_000), ("volunteer", 0.0, 10)],
    )
    .expect("server");
    let api = server.api.clone();
    fill(
        &api,
        &keys[0],
        json!({"prompt": "Once upon a time", "models": [TEXT_MODEL], "params": {"max_length": 16}}),
        "/v2/generate/text/async",
        jobs + 1,
    )
    .await;
    let lat = measure(&api, &keys[1], "bench-scribe", Arc::new(Instant_), jobs + 1).await;
    report("worker overhead per text job (pop → submit)", lat);
    fill(
        &api,
        &keys[0],
        json!({"prompt": "a tree", "models": [PROCEDURAL_MODEL],
               "params": {"width": 64, "height": 64, "steps": 1}}),
        "/v2/generate/async",
        jobs + 1,
    )
    .await;
    let lat = measure(
        &api,
        &keys[1],
        "bench-dreamer",
        Arc::new(ProceduralImages),
        jobs + 1,
    )
    .await;
    report("worker overhead per image job (pop → upload → submit)", lat);
}
