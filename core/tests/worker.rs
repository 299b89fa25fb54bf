//! Our worker against our coordinator, end to end with our client: images
//! through the upload path and the base64 path, text and interrogation
//! through the runtime (the game answers text jobs itself), the captured
//! pop payloads of wire-samples.md driving jobs, maintenance on stop and
//! its clearing on start, and a refused worker.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail by panicking

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use common::TestHorde;
use common::workers::{self, config, generate_image, spawn};
use horde_core::api::{InterrogationRequest, Rc};
use horde_core::runtime::{Event, Runtime, RuntimeConfig, WorkerBackend};
use horde_core::worker::backends::image_facts::ImageFacts;
use horde_core::worker::backends::procedural::{PROCEDURAL_MODEL, ProceduralImages, draw, to_webp};
use horde_core::worker::{
    Job, Offer, Output, TextResult, WorkKind, WorkerError, WorkerEvent, bridge_agent,
};
use serde_json::{Value, json};

fn decode(bytes: &[u8]) -> image::RgbaImage {
    image::load_from_memory(bytes).unwrap().into_rgba8()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_go_through_the_upload_url_and_pay_the_worker() {
    let h = TestHorde::start().await;
    let requester = h.user("requester", 1000.0, true).await;
    let owner = h.user("owner", 0.0, true).await;
    let mut cfg = config("attic-gpu");
    cfg.amount = 2;
    let w = spawn(&h, &owner, cfg, Arc::new(ProceduralImages));
    let status = generate_image(
        &h,
        &requester,
        json!({"prompt": "a lighthouse ### fog", "models": [PROCEDURAL_MODEL],
               "params": {"width": 128, "height": 64, "steps": 10, "seed": "77", "n": 2}}),
    )
    .await;
    assert_eq!(status.generations.len(), 2);
    for g in &status.generations {
        assert!(g.img.starts_with("http://"), "an upload URL: {}", g.img);
        let (code, bytes) = h.get_bytes(&g.img).await;
        assert_eq!(code, 200);
        let seed: i64 = g.seed.parse().unwrap();
        assert_eq!(
            decode(&bytes),
            draw("a lighthouse", seed, 128, 64),
            "prompt without the negative, the job's seed"
        );
        assert_eq!(g.worker_name, "attic-gpu");
    }
    let received = w
        .wait_for(|e| match e {
            WorkerEvent::JobReceived { model, ttl, .. } => Some((model.clone(), *ttl)),
            _ => None,
        })
        .await;
    assert_eq!(received.0, PROCEDURAL_MODEL);
    assert!(received.1 >= 150);
    let earned = w
        .wait_for(|e| match e {
            WorkerEvent::KudosEarned { total, .. } => Some(*total),
            _ => None,
        })
        .await;
    assert!(earned > 0.0);
    let (_, details) = h.get("/v2/workers/name/attic-gpu", None).await;
    assert_eq!(details["bridge_agent"], bridge_agent());
    let stats = w.stop().await.unwrap();
    assert_eq!(
        (stats.jobs_done, stats.jobs_faulted),
        (1, 0),
        "one batch of two"
    );
    assert!(h.kudos(&owner).await >= earned);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_fall_back_to_base64_when_the_upload_url_fails() {
    // A coordinator whose public URL nobody can reach: the upload URLs it
    // hands out are dead, so the worker submits the image inline.
    let h = TestHorde::start_with(|c| c.public_url = Some("http://127.0.0.1:9/api".into())).await;
    let requester = h.user("requester", 1000.0, true).await;
    let owner = h.user("owner", 0.0, true).await;
    let w = spawn(&h, &owner, config("no-r2"), Arc::new(ProceduralImages));
    let status = generate_image(
        &h,
        &requester,
        json!({"prompt": "a cat", "models": [PROCEDURAL_MODEL], "r2": false,
               "params": {"width": 64, "height": 64, "steps": 5, "seed": "5"}}),
    )
    .await;
    let g = &status.generations[0];
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&g.img)
        .expect("inline base64");
    assert_eq!(decode(&bytes), draw("a cat", 5, 64, 64));
    let stats = w.stop().await.unwrap();
    assert_eq!(stats.jobs_done, 1);
}

fn runtime(h: &TestHorde, key: &str) -> Runtime {
    let mut client =
        horde_core::client::ClientConfig::new("horde-rs-tests:0.1:https://example.invalid");
    client.base_url = h.api.clone();
    client.api_key = key.to_owned();
    let mut config = RuntimeConfig::new(client);
    config.policy = workers::policy();
    Runtime::start(config).unwrap()
}

/// Collects runtime events until `done` says so (60 s at most); `on` may
/// answer events as they come.
async fn events_until(
    rt: &Runtime,
    mut on: impl FnMut(&Runtime, &Event),
    mut done: impl FnMut(&[Event]) -> bool,
) -> Vec<Event> {
    let start = Instant::now();
    let mut seen = Vec::new();
    loop {
        while let Some(e) = rt.try_event() {
            on(rt, &e);
            seen.push(e);
        }
        if done(&seen) {
            return seen;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out; saw {seen:#?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_game_answers_text_jobs_and_requests_text_through_one_runtime() {
    let h = TestHorde::start().await;
    let key = h.user("player", 500.0, true).await;
    let rt = runtime(&h, &key);
    let offer = Offer {
        models: vec!["koboldcpp/game-model".into()],
        ..Offer::default()
    };
    rt.start_worker(
        config("game-scribe"),
        WorkerBackend::Game {
            kind: WorkKind::Text,
            offer,
        },
        true,
    );
    let id = rt.submit_text(workers::text_request(json!({
        "prompt": "The dragon said",
        "models": ["koboldcpp/game-model"],
        "params": {"max_length": 16, "max_context_length": 512}
    })));
    let events = events_until(
        &rt,
        |rt, e| {
            if let Event::WorkerJob { ticket, job, .. } = e
                && let Job::Text(t) = &**job
            {
                assert_eq!(t.max_length, 16);
                let text = format!("{} hello.", t.prompt);
                rt.answer_job(
                    *ticket,
                    Ok(Output::Text(TextResult {
                        text,
                        tokens: Some(3),
                        seed: None,
                    })),
                );
            }
        },
        |seen| {
            seen.iter()
                .any(|e| matches!(e, Event::Completed { id: i } if *i == id))
        },
    )
    .await;
    let text = events
        .iter()
        .find_map(|e| match e {
            Event::TextReady { text, worker, .. } => Some((text.clone(), worker.clone())),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        text,
        ("The dragon said hello.".into(), "game-scribe".into())
    );
    let worker_events: Vec<&WorkerEvent> = events
        .iter()
        .filter_map(|e| match e {
            Event::Worker { name, event } if name == "game-scribe" => Some(event),
            _ => None,
        })
        .collect();
    assert!(
        matches!(worker_events[0], WorkerEvent::Started { .. }),
        "{worker_events:?}"
    );
    assert!(
        worker_events
            .iter()
            .any(|e| matches!(e, WorkerEvent::JobReceived { .. }))
    );
    // Stopping the workers enters maintenance.
    rt.stop_workers();
    events_until(
        &rt,
        |_, _| {},
        |seen| {
            seen.iter().any(|e| {
                matches!(
                    e,
                    Event::Worker {
                        event: WorkerEvent::Stopped { .. },
                        ..
                    }
                )
            })
        },
    )
    .await;
    let (_, w) = h.get("/v2/workers/name/game-scribe", None).await;
    assert_eq!(w["maintenance_mode"], true);
    rt.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runtime_runs_image_and_alchemy_workers_for_its_own_requests() {
    let h = TestHorde::start().await;
    let key = h.user("player", 500.0, true).await;
    let rt = runtime(&h, &key);
    rt.start_worker(
        config("rt-dreamer"),
        WorkerBackend::Backend(Arc::new(ProceduralImages)),
        true,
    );
    rt.start_worker(
        config("rt-alchemist"),
        WorkerBackend::Backend(Arc::new(ImageFacts)),
        true,
    );
    // A second worker under a name already running is refused, not started.
    rt.start_worker(
        config("rt-dreamer"),
        WorkerBackend::Backend(Arc::new(ProceduralImages)),
        true,
    );
    let img = rt.submit_image(workers::image_request(json!({
        "prompt": "a forest", "models": [PROCEDURAL_MODEL],
        "params": {"width": 64, "height": 64, "steps": 4, "seed": "3"}
    })));
    let blue = image::RgbaImage::from_pixel(64, 48, image::Rgba([35, 65, 210, 255]));
    let source = base64::engine::general_purpose::STANDARD.encode(to_webp(&blue).unwrap());
    let req: InterrogationRequest =
        serde_json::from_value(json!({"source_image": source, "forms": [{"name": "caption"}]}))
            .unwrap();
    let cap = rt.submit_interrogation(req);
    let events = events_until(
        &rt,
        |_, _| {},
        |seen| {
            // The alchemist hears of its kudos when its submit is answered,
            // which may come after the requester saw the form done.
            [img, cap].iter().all(|id| {
                seen.iter()
                    .any(|e| matches!(e, Event::Completed { id: i } if i == id))
            }) && seen.iter().any(|e| {
                matches!(e, Event::Worker { name, event: WorkerEvent::KudosEarned { .. } } if name == "rt-alchemist")
            })
        },
    )
    .await;
    let (w, hgt, rgba) = events
        .iter()
        .find_map(|e| match e {
            Event::ImageReady {
                width,
                height,
                rgba,
                ..
            } => Some((*width, *height, rgba.clone())),
            _ => None,
        })
        .unwrap();
    assert_eq!((w, hgt), (64, 64));
    assert_eq!(rgba, draw("a forest", 3, 64, 64).into_raw());
    let caption = events
        .iter()
        .find_map(|e| match e {
            Event::InterrogationReady { result, .. } => Some(result["caption"].clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(caption, "a 64x48 image, mostly blue");
    let refused = events
        .iter()
        .filter(|e| matches!(e, Event::Worker { name, event: WorkerEvent::Error { fatal: true, .. } } if name == "rt-dreamer"))
        .count();
    assert_eq!(refused, 1);
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Worker { name, event: WorkerEvent::KudosEarned { .. } } if name == "rt-alchemist"
    )));
    rt.shutdown();
    // Shutting the runtime down put both workers in maintenance.
    for name in ["rt-dreamer", "rt-alchemist"] {
        let (_, w) = h.get(&format!("/v2/workers/name/{name}"), None).await;
        assert_eq!(w["maintenance_mode"], true, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_is_cleared_on_start_and_a_wrong_key_stops_the_worker() {
    let h = TestHorde::start().await;
    let requester = h.user("requester", 1000.0, true).await;
    let owner = h.user("owner", 0.0, true).await;
    let w = spawn(&h, &owner, config("comeback"), Arc::new(ProceduralImages));
    generate_image(
        &h,
        &requester,
        json!({"prompt": "x", "models": [PROCEDURAL_MODEL],
        "params": {"width": 64, "height": 64, "steps": 1}}),
    )
    .await;
    w.stop().await.unwrap();
    let (_, details) = h.get("/v2/workers/name/comeback", None).await;
    assert_eq!(details["maintenance_mode"], true);

    let w = spawn(&h, &owner, config("comeback"), Arc::new(ProceduralImages));
    w.wait_for(|e| matches!(e, WorkerEvent::Maintenance { on: false, .. }).then_some(()))
        .await;
    generate_image(
        &h,
        &requester,
        json!({"prompt": "y", "models": [PROCEDURAL_MODEL],
        "params": {"width": 64, "height": 64, "steps": 1}}),
    )
    .await;
    w.stop().await.unwrap();

    // Someone else's worker name: the horde refuses, the worker says why and stops.
    let intruder = h.user("intruder", 0.0, true).await;
    let w = spawn(
        &h,
        &intruder,
        config("comeback"),
        Arc::new(ProceduralImages),
    );
    let err = tokio::time::timeout(Duration::from_secs(30), w.task)
        .await
        .unwrap()
        .unwrap();
    match err {
        Err(WorkerError::Refused(body)) => assert_eq!(body.rc, Some(Rc::WrongCredentials)),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let w = spawn(&h, "0000000000", config("anon"), Arc::new(ProceduralImages));
    let err = tokio::time::timeout(Duration::from_secs(30), w.task)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(err, Err(WorkerError::Refused(_))), "{err:?}");
}

/// A stand-in horde answering pops with the captured payloads of
/// wire-samples.md and recording what the worker uploads and submits.
mod stand_in {
    use std::sync::Arc;

    use axum::Router;
    use axum::extract::{Path, State};
    use axum::http::StatusCode;
    use axum::routing::{get, post, put};
    use parking_lot::Mutex;
    use serde_json::{Value, json};

    #[derive(Default)]
    pub struct Seen {
        pub pops: Vec<Value>,
        pub submits: Vec<Value>,
        pub uploads: Vec<(String, Vec<u8>)>,
        pub job: Option<Value>,
        /// What an empty pop answers, when not the default.
        pub empty: Option<Value>,
    }

    pub type Shared = Arc<Mutex<Seen>>;

    async fn pop(
        State(s): State<Shared>,
        axum::Json(body): axum::Json<Value>,
    ) -> axum::Json<Value> {
        let mut seen = s.lock();
        seen.pops.push(body);
        let empty = seen.empty.clone().unwrap_or_else(
            || json!({"id": null, "ids": [], "skipped": {"models": 1}, "payload": {}}),
        );
        axum::Json(seen.job.take().unwrap_or(empty))
    }

    async fn submit(
        State(s): State<Shared>,
        axum::Json(body): axum::Json<Value>,
    ) -> axum::Json<Value> {
        s.lock().submits.push(body);
        axum::Json(json!({"reward": 12.5}))
    }

    async fn upload(
        State(s): State<Shared>,
        Path(name): Path<String>,
        body: axum::body::Bytes,
    ) -> StatusCode {
        s.lock().uploads.push((name, body.to_vec()));
        StatusCode::OK
    }

    async fn no_worker() -> (StatusCode, axum::Json<Value>) {
        (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"message": "Worker not found", "rc": "WorkerNotFound"})),
        )
    }

    /// Serves on 127.0.0.1; answers the base URL.
    pub async fn serve(seen: Shared) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        serve_on(seen, listener)
    }

    /// Serves on `listener`; answers the base URL.
    pub fn serve_on(seen: Shared, listener: tokio::net::TcpListener) -> String {
        let app = Router::new()
            .route("/api/v2/generate/pop", post(pop))
            .route("/api/v2/generate/text/pop", post(pop))
            .route("/api/v2/generate/submit", post(submit))
            .route("/api/v2/generate/text/submit", post(submit))
            .route("/upload/{name}", put(upload))
            .route("/api/v2/workers/name/{name}", get(no_worker))
            .with_state(seen);
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn started_waits_for_the_horde_and_idle_pops_report_only_changes() {
    // A port nothing listens on yet: the horde is down when the worker starts.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = port.local_addr().unwrap();
    drop(port);
    let mut c = horde_core::client::ClientConfig::new("horde-rs-tests:0.1:https://example.invalid");
    c.base_url = format!("http://{addr}/api");
    c.api_key = "0123456789abcdefghijkl".into();
    let client = horde_core::client::HordeClient::new(c).unwrap();
    let mut cfg = config("patient-dreamer");
    cfg.models = vec!["stable_diffusion".into()];
    let (handle, control) = horde_core::worker::control_pair();
    let events = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let sink = events.clone();
    let task = tokio::spawn(
        horde_core::worker::Worker::new(client, cfg, Arc::new(ProceduralImages))
            .run(control, move |e| sink.lock().push(e)),
    );
    let until = |what: &str, done: &dyn Fn(&[WorkerEvent]) -> bool| {
        let start = Instant::now();
        loop {
            if done(&events.lock()) {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{what}: {:?}",
                events.lock()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    let errors = |e: &[WorkerEvent]| {
        e.iter()
            .filter(|e| matches!(e, WorkerEvent::Error { fatal: false, .. }))
            .count()
    };
    until("three failed pops", &|e| errors(e) >= 3);
    assert!(
        !events
            .lock()
            .iter()
            .any(|e| matches!(e, WorkerEvent::Started { .. })),
        "started before the horde answered: {:?}",
        events.lock()
    );

    // The horde comes up on that port: the next pop it answers starts the
    // worker, and pops that keep finding nothing, for the same reasons,
    // say so once.
    let seen: stand_in::Shared = Arc::default();
    stand_in::serve_on(
        seen.clone(),
        tokio::net::TcpListener::bind(addr).await.unwrap(),
    );
    let nothing = |e: &[WorkerEvent]| {
        e.iter()
            .filter(|e| matches!(e, WorkerEvent::NothingToDo { .. }))
            .count()
    };
    until("started and one empty pop", &|e| nothing(e) >= 1);
    let pops_then = seen.lock().pops.len();
    {
        let e = events.lock();
        let started = e
            .iter()
            .position(|e| matches!(e, WorkerEvent::Started { .. }))
            .expect("started");
        let first_empty = e
            .iter()
            .position(|e| matches!(e, WorkerEvent::NothingToDo { .. }))
            .unwrap();
        assert!(started < first_empty, "{e:?}");
    }
    let start = Instant::now();
    while seen.lock().pops.len() < pops_then + 10 {
        assert!(start.elapsed() < Duration::from_secs(30), "pops stopped");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(nothing(&events.lock()), 1, "{:?}", events.lock());

    // Other reasons: said once more.
    seen.lock().empty = Some(json!({"id": null, "ids": [], "payload": {},
        "skipped": {"models": 1, "nsfw": 2}}));
    until("the new reasons", &|e| nothing(e) >= 2);
    let pops_then = seen.lock().pops.len();
    while seen.lock().pops.len() < pops_then + 10 {
        assert!(start.elapsed() < Duration::from_secs(60), "pops stopped");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let e = events.lock().clone();
    assert_eq!(nothing(&e), 2, "{e:?}");
    match e
        .iter()
        .rev()
        .find(|e| matches!(e, WorkerEvent::NothingToDo { .. }))
    {
        Some(WorkerEvent::NothingToDo { skipped }) => assert_eq!(skipped.nsfw, Some(2)),
        other => panic!("{other:?}"),
    }
    handle.stop();
    task.await.unwrap().unwrap();
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/wire/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

async fn drive_fixture(
    job: Value,
    backend: Arc<dyn horde_core::worker::Backend>,
    mut cfg: horde_core::worker::WorkerConfig,
) -> (stand_in::Seen, horde_core::worker::WorkerStats) {
    let seen: stand_in::Shared = Arc::default();
    let base = stand_in::serve(seen.clone()).await;
    let mut job = job;
    if job.get("r2_upload").is_some_and(|u| !u.is_null()) {
        let id = job["id"].as_str().unwrap().to_owned();
        job["r2_upload"] = json!(format!("{base}/upload/{id}.webp"));
        job["r2_uploads"] = json!([format!("{base}/upload/{id}.webp")]);
    }
    seen.lock().job = Some(job);
    let mut c = horde_core::client::ClientConfig::new("horde-rs-tests:0.1:https://example.invalid");
    c.base_url = format!("{base}/api");
    c.api_key = "0123456789abcdefghijkl".into();
    let client = horde_core::client::HordeClient::new(c).unwrap();
    cfg.models = vec!["stable_diffusion".into()];
    let (handle, control) = horde_core::worker::control_pair();
    let events = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let sink = events.clone();
    let task = tokio::spawn(
        horde_core::worker::Worker::new(client, cfg, backend)
            .run(control, move |e| sink.lock().push(e)),
    );
    let start = Instant::now();
    while seen.lock().submits.is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no submit; events {:?}",
            events.lock()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    handle.stop();
    let stats = task.await.unwrap().unwrap();
    let seen = std::mem::take(&mut *seen.lock());
    (seen, stats)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn captured_image_pops_drive_a_job_through_both_delivery_paths() {
    let pop = fixture("image_pop_response.json");
    // With an upload URL: PUT the WebP, submit "R2" with the job's seed.
    let (seen, stats) = drive_fixture(
        pop.clone(),
        Arc::new(ProceduralImages),
        config("fixture-dreamer"),
    )
    .await;
    assert_eq!((stats.jobs_done, stats.kudos), (1, 12.5));
    let first = &seen.pops[0];
    assert_eq!(first["name"], "fixture-dreamer");
    assert_eq!(first["bridge_agent"], bridge_agent());
    assert_eq!(first["models"], json!(["stable_diffusion"]));
    assert_eq!(first["max_pixels"], 1024 * 1024);
    let s = &seen.submits[0];
    assert_eq!(s["id"], pop["id"]);
    assert_eq!(s["generation"], "R2");
    assert_eq!(s["seed"], 181_876_399);
    assert_eq!(s["state"], "ok");
    let (name, bytes) = &seen.uploads[0];
    assert_eq!(name, &format!("{}.webp", pop["id"].as_str().unwrap()));
    assert_eq!(
        decode(bytes),
        draw("a red apple on a wooden table", 181_876_399, 512, 512)
    );

    // Without one: the image goes inline as base64.
    let mut bare = pop.clone();
    bare["r2_upload"] = Value::Null;
    bare["r2_uploads"] = Value::Null;
    let (seen, _) =
        drive_fixture(bare, Arc::new(ProceduralImages), config("fixture-dreamer")).await;
    assert!(seen.uploads.is_empty());
    let inline = base64::engine::general_purpose::STANDARD
        .decode(seen.submits[0]["generation"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        decode(&inline),
        draw("a red apple on a wooden table", 181_876_399, 512, 512)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn captured_text_pops_drive_a_job_and_failures_submit_faulted() {
    let pop = fixture("text_pop_response.json");
    let (backend, mut jobs) = horde_core::worker::backends::channel::ChannelBackend::new(
        WorkKind::Text,
        Offer::default(),
    );
    tokio::spawn(async move {
        let mut first = true;
        while let Some(job) = jobs.recv().await {
            let Job::Text(t) = &job.job else {
                panic!("a text job")
            };
            assert_eq!(t.prompt, "Once upon a time in a quiet village,");
            assert_eq!((t.max_length, t.max_context_length), (80, 1024));
            assert_eq!(t.params.temperature, Some(0.7));
            let answer = if first {
                Ok(Output::Text(TextResult {
                    text: " there lived a smith.".into(),
                    tokens: None,
                    seed: None,
                }))
            } else {
                Err(horde_core::worker::BackendError::new("out of memory"))
            };
            first = false;
            job.answer(answer);
        }
    });
    let backend = Arc::new(backend);
    let mut cfg = config("fixture-scribe");
    cfg.max_length = 80;
    let (seen, stats) = drive_fixture(pop.clone(), backend.clone(), cfg.clone()).await;
    assert_eq!((stats.jobs_done, stats.kudos), (1, 12.5));
    assert_eq!(seen.pops[0]["max_length"], 80);
    let s = &seen.submits[0];
    assert_eq!(s["id"], pop["id"]);
    assert_eq!(s["generation"], " there lived a smith.");
    assert_eq!(s["state"], "ok");

    let (seen, stats) = drive_fixture(pop.clone(), backend, cfg).await;
    let s = &seen.submits[0];
    assert_eq!(
        (s["state"].as_str(), s["generation"].as_str()),
        (Some("faulted"), Some("faulted"))
    );
    assert_eq!(
        (stats.jobs_done, stats.jobs_faulted, stats.kudos),
        (0, 1, 0.0)
    );
}

/// A stand-in that answers with the bodies recorded from a real upstream
/// horde (`fixtures/upstream/`): null-laden worker details, empty pops as
/// upstream sends them (`"forms": null` for alchemists), a captured job of
/// the worker's kind, upstream's submit and maintenance answers.
mod replay {
    use std::sync::Arc;

    use axum::Router;
    use axum::extract::{Path, State};
    use axum::http::StatusCode;
    use axum::routing::{get, post, put};
    use parking_lot::Mutex;
    use serde_json::Value;

    pub use crate::common::capture;

    /// Which kind of worker the stand-in serves, and its captures.
    #[derive(Clone, Copy, Debug)]
    pub enum Kind {
        Image,
        Text,
        Alchemy,
    }

    impl Kind {
        fn empty_pop(self) -> &'static str {
            match self {
                Kind::Image => "image_pop__empty_nothing_queued",
                Kind::Text => "text_pop__empty_first_pop",
                Kind::Alchemy => "interrogate_pop__empty_nothing_queued",
            }
        }
        pub fn job(self) -> &'static str {
            match self {
                Kind::Image => "image_pop__with_job",
                Kind::Text => "text_pop__with_job",
                Kind::Alchemy => "interrogate_pop__with_job",
            }
        }
        fn submitted(self) -> &'static str {
            match self {
                Kind::Image => "image_submit__r2_ok",
                Kind::Text => "text_submit__ok",
                Kind::Alchemy => "interrogate_submit__ok",
            }
        }
        /// Upstream's details of such a worker that has earned nothing yet
        /// or only by generating (`uptime: null`, and for some `generated:
        /// null` too).
        fn details(self) -> &'static str {
            match self {
                Kind::Image => "worker_single__image_no_jobs_unknown_bridge",
                Kind::Text => "worker_single__text_anonymous",
                Kind::Alchemy => "worker_single__interrogation_anonymous",
            }
        }
    }

    pub struct Seen {
        pub kind: Kind,
        pub base: String,
        pub pops: usize,
        pub job_sent: bool,
        pub submits: Vec<Value>,
        pub uploads: Vec<String>,
        pub worker_puts: Vec<Value>,
        pub in_maintenance: bool,
    }

    pub type Shared = Arc<Mutex<Seen>>;

    /// Empty pops first, then the captured job (its URLs pointed here),
    /// then empty pops again.
    async fn pop(State(s): State<Shared>) -> axum::Json<Value> {
        let mut seen = s.lock();
        seen.pops += 1;
        if seen.pops > 3 && !seen.job_sent {
            seen.job_sent = true;
            let mut job = capture(seen.kind.job());
            match seen.kind {
                Kind::Alchemy => {
                    job["forms"][0]["source_image"] = format!("{}/source.webp", seen.base).into();
                }
                Kind::Image => {
                    let url = format!("{}/upload/{}.webp", seen.base, job["id"].as_str().unwrap());
                    job["r2_upload"] = url.clone().into();
                    job["r2_uploads"] = vec![url].into();
                }
                Kind::Text => {}
            }
            return axum::Json(job);
        }
        axum::Json(capture(seen.kind.empty_pop()))
    }

    async fn submit(
        State(s): State<Shared>,
        axum::Json(body): axum::Json<Value>,
    ) -> axum::Json<Value> {
        let mut seen = s.lock();
        seen.submits.push(body);
        axum::Json(capture(seen.kind.submitted()))
    }

    async fn details(State(s): State<Shared>, Path(name): Path<String>) -> axum::Json<Value> {
        let seen = s.lock();
        let mut w = capture(seen.kind.details());
        w["name"] = name.into();
        w["maintenance_mode"] = seen.in_maintenance.into();
        axum::Json(w)
    }

    async fn modify(
        State(s): State<Shared>,
        axum::Json(body): axum::Json<Value>,
    ) -> axum::Json<Value> {
        let mut seen = s.lock();
        let on = body["maintenance"].as_bool().unwrap_or(false);
        seen.in_maintenance = on;
        seen.worker_puts.push(body);
        axum::Json(capture(if on {
            "worker_put__owner_maintenance_on"
        } else {
            "worker_put__owner_maintenance_off"
        }))
    }

    async fn upload(State(s): State<Shared>, Path(name): Path<String>) -> StatusCode {
        s.lock().uploads.push(name);
        StatusCode::OK
    }

    async fn source() -> Vec<u8> {
        super::to_webp(&super::draw("a source", 3, 64, 64)).unwrap()
    }

    /// Serves on 127.0.0.1, starting in maintenance; answers the base URL.
    pub async fn serve(kind: Kind) -> (String, Shared) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Seen {
            kind,
            base: base.clone(),
            pops: 0,
            job_sent: false,
            submits: Vec::new(),
            uploads: Vec::new(),
            worker_puts: Vec::new(),
            in_maintenance: true,
        }));
        let app = Router::new()
            .route("/api/v2/generate/pop", post(pop))
            .route("/api/v2/generate/text/pop", post(pop))
            .route("/api/v2/interrogate/pop", post(pop))
            .route("/api/v2/generate/submit", post(submit))
            .route("/api/v2/generate/text/submit", post(submit))
            .route("/api/v2/interrogate/submit", post(submit))
            .route("/api/v2/workers/name/{name}", get(details))
            .route("/api/v2/workers/{id}", put(modify))
            .route("/upload/{name}", put(upload))
            .route("/source.webp", get(source))
            .with_state(seen.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (base, seen)
    }
}

/// Runs a worker against the replaying stand-in until it has submitted the
/// captured job and popped empty again, then stops it; checks what every
/// kind must do against upstream, answers what the stand-in saw.
async fn against_upstream(
    kind: replay::Kind,
    backend: Arc<dyn horde_core::worker::Backend>,
    models: &[&str],
) -> replay::Shared {
    let (base, seen) = replay::serve(kind).await;
    let mut c = horde_core::client::ClientConfig::new("horde-rs-tests:0.1:https://example.invalid");
    c.base_url = format!("{base}/api");
    c.api_key = "0123456789abcdefghijkl".into();
    let client = horde_core::client::HordeClient::new(c).unwrap();
    let mut cfg = config("replayed-worker");
    cfg.models = models.iter().map(|m| (*m).to_owned()).collect();
    let (handle, control) = horde_core::worker::control_pair();
    let events = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let sink = events.clone();
    let task = tokio::spawn(
        horde_core::worker::Worker::new(client, cfg, backend)
            .run(control, move |e| sink.lock().push(e)),
    );
    let start = Instant::now();
    while seen.lock().submits.is_empty() || seen.lock().pops < 6 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{kind:?} stuck; events {:?}",
            events.lock()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    handle.stop();
    task.await.unwrap().unwrap();
    {
        let seen = seen.lock();
        // Upstream's `null`s parsed: no error anywhere.
        let errors: Vec<_> = events
            .lock()
            .iter()
            .filter(|e| matches!(e, WorkerEvent::Error { .. }))
            .cloned()
            .collect();
        assert!(errors.is_empty(), "{kind:?}: {errors:?}");
        // Maintenance cleared on start and entered on stop, read through
        // upstream's details.
        let puts: Vec<_> = seen
            .worker_puts
            .iter()
            .map(|p| p["maintenance"].clone())
            .collect();
        assert_eq!(puts, [false, true], "{kind:?}");
        let job = replay::capture(kind.job());
        let id = match kind {
            replay::Kind::Alchemy => job["forms"][0]["id"].clone(),
            _ => job["id"].clone(),
        };
        assert_eq!(seen.submits[0]["id"], id, "{kind:?}");
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_of_each_kind_work_against_upstreams_recorded_answers() {
    let seen = against_upstream(replay::Kind::Alchemy, Arc::new(ImageFacts), &[]).await;
    let submit = seen.lock().submits[0].clone();
    assert!(submit["result"]["caption"].is_string(), "{submit}");

    let seen = against_upstream(
        replay::Kind::Image,
        Arc::new(ProceduralImages),
        &[PROCEDURAL_MODEL],
    )
    .await;
    {
        let seen = seen.lock();
        assert_eq!(seen.submits[0]["generation"], "R2");
        assert_eq!(seen.submits[0]["seed"], 3_112_291_535_u64);
        assert_eq!(seen.uploads.len(), 1);
    }

    let (backend, mut jobs) = horde_core::worker::backends::channel::ChannelBackend::new(
        WorkKind::Text,
        Offer::default(),
    );
    tokio::spawn(async move {
        while let Some(job) = jobs.recv().await {
            job.answer(Ok(Output::Text(TextResult {
                text: " and then it was cancelled.".into(),
                tokens: None,
                seed: None,
            })));
        }
    });
    let seen = against_upstream(
        replay::Kind::Text,
        Arc::new(backend),
        &["koboldcpp/stand-in-1B"],
    )
    .await;
    assert_eq!(
        seen.lock().submits[0]["generation"],
        " and then it was cancelled."
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_worker_can_start_again_under_its_name() {
    let h = TestHorde::start().await;
    let key = h.user("player", 500.0, true).await;
    let rt = runtime(&h, &key);
    let game = || WorkerBackend::Game {
        kind: WorkKind::Text,
        offer: Offer {
            models: vec!["koboldcpp/game-model".into()],
            ..Offer::default()
        },
    };
    let started = |seen: &[Event]| {
        seen.iter()
            .filter(|e| {
                matches!(
                    e,
                    Event::Worker {
                        event: WorkerEvent::Started { .. },
                        ..
                    }
                )
            })
            .count()
    };
    rt.start_worker(config("again"), game(), true);
    events_until(&rt, |_, _| {}, |seen| started(seen) == 1).await;
    rt.stop_workers();
    events_until(
        &rt,
        |_, _| {},
        |seen| {
            seen.iter().any(|e| {
                matches!(
                    e,
                    Event::Worker {
                        event: WorkerEvent::Stopped { .. },
                        ..
                    }
                )
            })
        },
    )
    .await;
    rt.start_worker(config("again"), game(), true);
    let seen = events_until(&rt, |_, _| {}, |seen| started(seen) == 1).await;
    assert!(
        !seen.iter().any(|e| matches!(
            e,
            Event::Worker {
                event: WorkerEvent::Error { fatal: true, .. },
                ..
            }
        )),
        "{seen:?}"
    );
}
