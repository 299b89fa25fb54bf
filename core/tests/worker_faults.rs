//! A worker as a good citizen when things go wrong: killed mid-job (the job
//! comes back after its ttl and another worker finishes it), stopped
//! mid-job (it finishes, submits, enters maintenance), and the game taking
//! its GPU back mid-job (faulted at once, requeued, finished later).

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail by panicking

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::TestHorde;
use common::workers::{self, config, spawn};
use horde_core::api::GenerationState;
use horde_core::worker::backends::channel::{ChannelBackend, GameJob};
use horde_core::worker::backends::procedural::{PROCEDURAL_MODEL, ProceduralImages};
use horde_core::worker::{Job, Offer, Output, WorkKind, WorkerEvent};
use serde_json::{Value, json};

/// A backend whose jobs the test holds and answers when it likes.
fn held_backend() -> (
    Arc<ChannelBackend>,
    tokio::sync::mpsc::UnboundedReceiver<GameJob>,
) {
    let offer = Offer {
        models: vec![PROCEDURAL_MODEL.into()],
        ..Offer::default()
    };
    let (b, jobs) = ChannelBackend::new(WorkKind::Image, offer);
    (Arc::new(b), jobs)
}

fn answer_with_pictures(job: GameJob) {
    let Job::Image(j) = &job.job else {
        panic!("an image job")
    };
    let images = ProceduralImages::images(j).map(Output::Images);
    job.answer(images);
}

async fn queue_image(h: &TestHorde, key: &str) -> String {
    h.image(
        key,
        json!({"prompt": "a bridge", "models": [PROCEDURAL_MODEL],
               "params": {"width": 64, "height": 64, "steps": 8}}),
    )
    .await
}

async fn next_job(jobs: &mut tokio::sync::mpsc::UnboundedReceiver<GameJob>) -> GameJob {
    tokio::time::timeout(Duration::from_secs(30), jobs.recv())
        .await
        .expect("a job is popped")
        .expect("the worker runs")
}

async fn wait_check(h: &TestHorde, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let start = std::time::Instant::now();
    loop {
        let c = h.check(id).await;
        if done(&c) {
            return c;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "stuck at {c}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_job_loses_it_to_another_worker_after_the_ttl() {
    let h = TestHorde::start().await;
    let requester = h.user("requester", 1000.0, true).await;
    let owner = h.user("owner", 0.0, true).await;
    let id = queue_image(&h, &requester).await;
    let (backend, mut jobs) = held_backend();
    let doomed = spawn(&h, &owner, config("doomed"), backend);
    let held = next_job(&mut jobs).await;
    let ttl = doomed
        .wait_for(|e| match e {
            WorkerEvent::JobReceived { ttl, .. } => Some(*ttl),
            _ => None,
        })
        .await;
    // The process dies: no submit, no maintenance, nothing. The abort only
    // takes effect when the runtime next schedules the worker, and its job
    // task would answer a dropped job with a fault; so wait until the worker
    // (and with it the job task) is gone before letting go of the job.
    doomed.task.abort();
    let ended = tokio::time::timeout(Duration::from_secs(30), doomed.task)
        .await
        .expect("the aborted worker ends");
    assert!(
        ended.is_err_and(|e| e.is_cancelled()),
        "killed, not finished"
    );
    drop(held);
    let c = h.check(&id).await;
    assert_eq!(
        (c["processing"].as_u64(), c["done"].as_bool()),
        (Some(1), Some(false))
    );
    let rescuer = spawn(&h, &owner, config("rescuer"), Arc::new(ProceduralImages));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        h.check(&id).await["processing"],
        1,
        "still held until the ttl ends"
    );
    h.advance(f64::from(ttl) + 1.0).await;
    let c = wait_check(&h, &id, |c| c["done"] == true).await;
    assert_eq!(c["restarted"], 1);
    let (_, status) = h.get(&format!("/v2/generate/status/{id}"), None).await;
    assert_eq!(status["generations"][0]["worker_name"], "rescuer");
    rescuer.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_worker_finishes_its_job_then_enters_maintenance() {
    let h = TestHorde::start().await;
    let requester = h.user("requester", 1000.0, true).await;
    let owner = h.user("owner", 0.0, true).await;
    let id = queue_image(&h, &requester).await;
    let (backend, mut jobs) = held_backend();
    let w = spawn(&h, &owner, config("leaving"), backend);
    let held = next_job(&mut jobs).await;
    w.handle.stop();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!w.task.is_finished(), "it waits for the job it holds");
    let (_, details) = h.get("/v2/workers/name/leaving", None).await;
    assert_eq!(details["maintenance_mode"], false);
    answer_with_pictures(held);
    let stats = tokio::time::timeout(Duration::from_secs(30), w.task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!((stats.jobs_done, stats.jobs_faulted), (1, 0));
    let c = h.check(&id).await;
    assert_eq!(
        (c["done"].as_bool(), c["restarted"].as_u64()),
        (Some(true), Some(0))
    );
    let (_, details) = h.get("/v2/workers/name/leaving", None).await;
    assert_eq!(details["maintenance_mode"], true);
    let events = w.events.lock().clone();
    let order: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            WorkerEvent::JobFinished { .. } => Some("finished"),
            WorkerEvent::Maintenance { on: true, .. } => Some("maintenance"),
            WorkerEvent::Stopped { .. } => Some("stopped"),
            _ => None,
        })
        .collect();
    assert_eq!(order, ["finished", "maintenance", "stopped"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_game_taking_its_gpu_back_faults_the_job_at_once_and_it_is_requeued() {
    let h = TestHorde::start().await;
    let requester = h.user("requester", 1000.0, true).await;
    let owner = h.user("owner", 0.0, true).await;
    let id = queue_image(&h, &requester).await;
    let (backend, mut jobs) = held_backend();
    let w = spawn(&h, &owner, config("gamer"), backend);
    let held = next_job(&mut jobs).await;
    w.handle.take_gpu_back();
    let state = w
        .wait_for(|e| match e {
            WorkerEvent::JobFinished { state, .. } => Some(state.clone()),
            _ => None,
        })
        .await;
    assert_eq!(state, GenerationState::Faulted);
    // The answer comes too late: it is dropped, not submitted.
    answer_with_pictures(held);
    let c = wait_check(&h, &id, |c| c["restarted"] == 1).await;
    assert_eq!(
        (c["waiting"].as_u64(), c["processing"].as_u64()),
        (Some(1), Some(0))
    );
    // Not idle: no new pops.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(jobs.try_recv().is_err());
    assert_eq!(h.check(&id).await["waiting"], 1);
    // Idle again: the same worker takes the job back and finishes it.
    w.handle.set_idle(true);
    answer_with_pictures(next_job(&mut jobs).await);
    wait_check(&h, &id, |c| c["done"] == true).await;
    let events = w.events.clone();
    let stats = w.stop().await.unwrap();
    assert_eq!((stats.jobs_done, stats.jobs_faulted), (1, 1));
    assert_eq!(workers_offering(&events.lock()), [false, true]);
}

fn workers_offering(events: &[WorkerEvent]) -> Vec<bool> {
    events
        .iter()
        .filter_map(|e| match e {
            WorkerEvent::Offering { on } => Some(*on),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_not_idle_from_the_start_pops_nothing_until_told() {
    let h = TestHorde::start().await;
    let requester = h.user("requester", 1000.0, true).await;
    let owner = h.user("owner", 0.0, true).await;
    let id = queue_image(&h, &requester).await;
    let (handle, control) = horde_core::worker::control_pair();
    let worker = horde_core::worker::Worker::new(
        workers::client(&h, &owner),
        config("patient"),
        Arc::new(ProceduralImages),
    )
    .start_idle(false);
    let events = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let sink = events.clone();
    let task = tokio::spawn(worker.run(control, move |e| sink.lock().push(e)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(h.check(&id).await["waiting"], 1);
    handle.set_idle(true);
    wait_check(&h, &id, |c| c["done"] == true).await;
    handle.stop();
    task.await.unwrap().unwrap();
    assert_eq!(workers_offering(&events.lock()), [true]);
}
