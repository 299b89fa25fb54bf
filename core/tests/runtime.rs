//! The runtime against our coordinator: every event kind, cancel midway
//! (finished images kept, the server saw the cancel), failures, and a
//! shutdown with requests in flight.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail by panicking

mod common;

use std::time::{Duration, Instant};

use common::TestHorde;
use horde_core::api::{ImageGenerateRequest, ImageParams, Rc, TextGenerateRequest};
use horde_core::client::ClientConfig;
use horde_core::client::lifecycle::Policy;
use horde_core::runtime::{Connection, Event, RequestId, RetryCause, Runtime, RuntimeConfig};
use serde_json::json;

fn runtime(api: &str, key: &str) -> Runtime {
    let mut client = ClientConfig::new("horde-rs-tests:0.1:https://example.invalid");
    client.base_url = api.to_owned();
    client.api_key = key.to_owned();
    let mut config = RuntimeConfig::new(client);
    config.policy = Policy {
        min_poll: 0.02,
        max_poll: 0.05,
        backoff: 0.01,
        max_backoff: 0.05,
        ..Policy::default()
    };
    Runtime::start(config).unwrap()
}

/// A real 64×48 WebP.
fn webp() -> Vec<u8> {
    let img = image::RgbaImage::from_fn(64, 48, |x, _| image::Rgba([x as u8 * 4, 0, 200, 255]));
    let mut out = Vec::new();
    image::codecs::webp::WebPEncoder::new_lossless(&mut out)
        .encode(img.as_raw(), 64, 48, image::ExtendedColorType::Rgba8)
        .unwrap();
    out
}

/// Waits (bounded) until `done` accepts the events seen so far.
async fn events_until(rt: &Runtime, mut done: impl FnMut(&[Event]) -> bool) -> Vec<Event> {
    let start = Instant::now();
    let mut all = Vec::new();
    while !done(&all) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out; events so far: {all:?}"
        );
        rt.drain_events(&mut all);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    all
}

fn ended(id: RequestId) -> impl FnMut(&[Event]) -> bool {
    move |events| {
        events.iter().any(|e| {
            matches!(e, Event::Completed { id: i } | Event::Cancelled { id: i } if *i == id)
                || matches!(e, Event::Failed { id: i, .. } if *i == id)
        })
    }
}

async fn serve_one_image(h: &TestHorde, key: &str, bytes: Vec<u8>) {
    loop {
        let pop = h.pop(key, "painter", json!({})).await;
        if let Some(job) = pop["id"].as_str() {
            assert_eq!(
                h.put_bytes(pop["r2_upload"].as_str().unwrap(), bytes).await,
                200
            );
            h.post(
                "/v2/generate/submit",
                Some(key),
                json!({"id": job, "generation": "R2", "seed": 77}),
            )
            .await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_and_texts_arrive_as_events() {
    let h = TestHorde::start().await;
    let key = h.user("player", 100.0, false).await;
    let owner = h.user("owner", 0.0, true).await;
    let rt = runtime(&h.api, &key);
    let mut req = ImageGenerateRequest::new("a dragon");
    req.params = Some(ImageParams {
        n: Some(2),
        ..Default::default()
    });
    let id = rt.submit_image(req);
    let queued = events_until(&rt, |e| e.iter().any(|e| matches!(e, Event::Queued { .. }))).await;
    let mut queued = queued;
    queued.retain(|e| !matches!(e, Event::Connection { .. }));
    assert!(
        matches!(queued[0], Event::Queued { id: i, position: 1, .. } if i == id),
        "{queued:?}"
    );
    serve_one_image(&h, &owner, webp()).await;
    serve_one_image(&h, &owner, webp()).await;
    let events = events_until(&rt, ended(id)).await;
    let images: Vec<_> = events
        .iter()
        .filter(|e| matches!(e, Event::ImageReady { .. }))
        .collect();
    assert_eq!(images.len(), 2, "{events:?}");
    let Event::ImageReady {
        width,
        height,
        rgba,
        seed,
        worker,
        ..
    } = images[0]
    else {
        unreachable!()
    };
    assert_eq!((*width, *height, rgba.len()), (64, 48, 64 * 48 * 4));
    assert_eq!(&rgba[4..8], &[4, 0, 200, 255]);
    assert_eq!((seed.as_str(), worker.as_str()), ("77", "painter"));
    assert!(
        matches!(events.last(), Some(Event::Completed { id: i }) if *i == id),
        "results come before the ending"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Progress { finished: 2, .. }))
    );

    let tid = rt.submit_text(TextGenerateRequest::new("a riddle"));
    loop {
        let (_, pop) = h
            .post(
                "/v2/generate/text/pop",
                Some(&owner),
                json!({"name": "scribe", "models": ["m-7B"]}),
            )
            .await;
        if let Some(job) = pop["id"].as_str() {
            h.post(
                "/v2/generate/text/submit",
                Some(&owner),
                json!({"id": job, "generation": "what has keys but no locks?", "seed": 3}),
            )
            .await;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let events = events_until(&rt, ended(tid)).await;
    assert!(events.iter().any(|e| matches!(e, Event::TextReady { text, seed: 3, .. } if text == "what has keys but no locks?")), "{events:?}");
    rt.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_midway_keeps_finished_images_and_reaches_the_server() {
    let h = TestHorde::start().await;
    let key = h.user("player", 100.0, false).await;
    let owner = h.user("owner", 0.0, true).await;
    let rt = runtime(&h.api, &key);
    let mut req = ImageGenerateRequest::new("three dragons");
    req.params = Some(ImageParams {
        n: Some(3),
        ..Default::default()
    });
    let id = rt.submit_image(req);
    events_until(&rt, |e| e.iter().any(|e| matches!(e, Event::Queued { .. }))).await;
    serve_one_image(&h, &owner, webp()).await;
    events_until(&rt, |e| {
        e.iter()
            .any(|e| matches!(e, Event::Progress { finished: 1, .. }))
    })
    .await;
    rt.cancel(id);
    rt.cancel(RequestId(999_999)); // unknown ids are ignored
    let events = events_until(&rt, ended(id)).await;
    assert!(
        matches!(events.last(), Some(Event::Cancelled { .. })),
        "{events:?}"
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::ImageReady { .. }))
            .count(),
        1
    );
    // The server saw the DELETE: nothing more is handed out.
    assert!(h.pop(&owner, "painter", json!({})).await["id"].is_null());
    let (_, users) = h.get("/v2/status/performance", None).await;
    assert_eq!(users["queued_requests"], 0);
    rt.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_arrive_as_events_and_shutdown_cancels_in_flight_requests() {
    let h = TestHorde::start().await;
    let bad = runtime(&h.api, "not-a-key");
    let id = bad.submit_image(ImageGenerateRequest::new("x"));
    let events = events_until(&bad, ended(id)).await;
    assert!(
        matches!(&events[0], Event::Failed { error, .. } if error.rc == Some(Rc::InvalidAPIKey)),
        "{events:?}"
    );
    drop(bad);

    let key = h.user("player", 100.0, false).await;
    let rt = runtime(&h.api, &key);
    rt.submit_image(ImageGenerateRequest::new("left behind"));
    events_until(&rt, |e| e.iter().any(|e| matches!(e, Event::Queued { .. }))).await;
    let (_, perf) = h.get("/v2/status/performance", None).await;
    assert_eq!(perf["queued_requests"], 1);
    let start = Instant::now();
    rt.shutdown();
    assert!(start.elapsed() < Duration::from_secs(5));
    let (_, perf) = h.get("/v2/status/performance", None).await;
    assert_eq!(
        perf["queued_requests"], 0,
        "the shutdown cancelled the request on the server"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_generates_pngs_and_text() {
    let h = TestHorde::start().await;
    let key = h.user("player", 100.0, false).await;
    let owner = h.user("owner", 0.0, true).await;
    let out = common::temp_dir("cli").join("dragon.png");
    let (api, k, o) = (h.api.clone(), key.clone(), out.clone());
    let cli = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_horde"))
            .args([
                "generate", "a dragon", "--n", "2", "--width", "64", "--height", "64", "-o",
            ])
            .arg(&o)
            .args(["--url", &api, "--key", &k])
            .output()
            .unwrap()
    });
    serve_one_image(&h, &owner, webp()).await;
    serve_one_image(&h, &owner, webp()).await;
    let output = cli.await.unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("dragon-1.png") && stdout.contains("dragon-2.png"),
        "{stdout}"
    );
    let png = image::open(out.with_file_name("dragon-2.png")).unwrap();
    assert_eq!(
        (png.width(), png.height()),
        (64, 48),
        "the worker's image, as PNG"
    );

    let (api, k) = (h.api.clone(), key.clone());
    let cli = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_horde"))
            .args(["text", "a riddle", "--url", &api, "--key", &k])
            .output()
            .unwrap()
    });
    loop {
        let (_, pop) = h
            .post(
                "/v2/generate/text/pop",
                Some(&owner),
                json!({"name": "scribe", "models": ["m-7B"]}),
            )
            .await;
        if let Some(job) = pop["id"].as_str() {
            h.post(
                "/v2/generate/text/submit",
                Some(&owner),
                json!({"id": job, "generation": "an echo"}),
            )
            .await;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let output = cli.await.unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "an echo");
    // A refusal is a clear error and a failing exit code.
    let api = h.api.clone();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_horde"))
            .args(["generate", "x", "--url", &api, "--key", "wrong-key"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("InvalidAPIKey"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrogations_arrive_as_events() {
    use base64::Engine;
    let h = TestHorde::start().await;
    let key = h.user("player", 100.0, false).await;
    let owner = h.user("alch", 0.0, true).await;
    let rt = runtime(&h.api, &key);
    let req: horde_core::api::InterrogationRequest = serde_json::from_value(json!({
        "forms": [{"name": "caption"}],
        "source_image": base64::engine::general_purpose::STANDARD.encode(webp()),
    }))
    .unwrap();
    let id = rt.submit_interrogation(req);
    loop {
        let (_, pop) = h
            .post(
                "/v2/interrogate/pop",
                Some(&owner),
                json!({"name": "alchemist", "forms": ["caption"]}),
            )
            .await;
        if let Some(form) = pop["forms"].as_array().and_then(|f| f.first()) {
            h.post(
                "/v2/interrogate/submit",
                Some(&owner),
                json!({"id": form["id"], "result": {"caption": "a gradient"}}),
            )
            .await;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let events = events_until(&rt, ended(id)).await;
    assert!(
        events.iter().any(|e| matches!(e, Event::InterrogationReady { form, result, .. } if form == "caption" && result["caption"] == "a gradient")),
        "{events:?}"
    );
    assert!(matches!(events.last(), Some(Event::Completed { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_in_flight_are_bounded_and_cancel_all_ends_everything() {
    let h = TestHorde::start().await;
    let key = h.user("player", 100.0, false).await;
    let mut client = ClientConfig::new("horde-rs-tests:0.1:https://example.invalid");
    client.base_url = h.api.clone();
    client.api_key = key;
    let mut config = RuntimeConfig::new(client);
    config.max_in_flight = 1;
    config.policy = Policy {
        min_poll: 0.02,
        max_poll: 0.05,
        ..Policy::default()
    };
    let rt = Runtime::start(config).unwrap();
    let a = rt.submit_image(ImageGenerateRequest::new("first"));
    let b = rt.submit_image(ImageGenerateRequest::new("second"));
    events_until(&rt, |e| {
        e.iter()
            .any(|e| matches!(e, Event::Queued { id, .. } if *id == a))
    })
    .await;
    // Give the second request every chance to (wrongly) reach the server.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, perf) = h.get("/v2/status/performance", None).await;
    assert_eq!(
        perf["queued_requests"], 1,
        "one request in flight at a time"
    );
    rt.cancel_all();
    let events = events_until(&rt, |e| {
        e.iter()
            .filter(|e| matches!(e, Event::Cancelled { .. }))
            .count()
            == 2
    })
    .await;
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Cancelled { id } if *id == a))
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Cancelled { id } if *id == b))
    );
    let (_, perf) = h.get("/v2/status/performance", None).await;
    assert_eq!(perf["queued_requests"], 0);
    rt.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_sent_right_after_the_submit_is_not_lost() {
    let h = TestHorde::start().await;
    let key = h.user("player", 100.0, false).await;
    let rt = runtime(&h.api, &key);
    // Nobody serves the request; the cancel follows before the I/O thread
    // has even started the request's task.
    let a = rt.submit_image(ImageGenerateRequest::new("cancelled at once"));
    let _c = rt.submit_image(ImageGenerateRequest::new("not cancelled"));
    rt.cancel(a);
    let b = rt.submit_text(TextGenerateRequest::new(
        "also cancelled at once".to_owned(),
    ));
    rt.cancel(b);
    let events = events_until(&rt, |e| {
        e.iter()
            .filter(|e| matches!(e, Event::Cancelled { .. }))
            .count()
            == 2
    })
    .await;
    assert!(!events.iter().any(|e| matches!(e, Event::Failed { .. })));
    let (_, perf) = h.get("/v2/status/performance", None).await;
    assert_eq!(perf["queued_requests"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn find_user_answers_with_the_keys_user_and_a_wrong_key_fails() {
    let h = TestHorde::start().await;
    let key = h.user("player", 42.0, false).await;
    let rt = runtime(&h.api, &key);
    let id = rt.find_user();
    let reachable = |e: &Event| {
        matches!(
            e,
            Event::Connection {
                state: Connection::Reachable
            }
        )
    };
    let mut events = events_until(&rt, |e| {
        e.iter().any(|e| matches!(e, Event::User { .. })) && e.iter().any(reachable)
    })
    .await;
    // The first answer also says the horde is reachable (in either order).
    events.retain(|e| !reachable(e));
    match &events[..] {
        [Event::User { id: got, user }] => {
            assert_eq!(*got, id);
            assert!(user.username.starts_with("player#"), "{user:?}");
            assert_eq!(user.kudos, 42.0);
        }
        other => panic!("expected one User event, got {other:?}"),
    }

    let stranger = runtime(&h.api, "not-a-key-of-this-horde");
    let id = stranger.find_user();
    let mut events = events_until(&stranger, ended(id)).await;
    // A refusal is an answer: the horde is reachable.
    events.retain(|e| !reachable(e));
    assert!(
        matches!(&events[..], [Event::Failed { id: got, .. }] if *got == id),
        "{events:?}"
    );
}

/// A loopback address nothing listens on.
fn nobody_listens() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/api")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_horde_ends_every_request_with_the_network_cause_and_says_so() {
    let mut client = ClientConfig::new("horde-rs-tests:0.1:https://example.invalid");
    client.base_url = nobody_listens();
    let mut config = RuntimeConfig::new(client);
    config.policy = Policy {
        backoff: 0.02,
        max_backoff: 0.1,
        give_up_after: 0.5,
        ..Policy::default()
    };
    config.max_in_flight = 2;
    config.shutdown_grace = Duration::from_millis(200);
    let rt = Runtime::start(config).unwrap();
    let ids = [
        rt.submit_image(ImageGenerateRequest::new("offline")),
        rt.submit_text(horde_core::api::TextGenerateRequest::new("offline")),
        rt.submit_interrogation(horde_core::api::InterrogationRequest {
            source_image: "https://example.invalid/a.webp".into(),
            forms: vec![horde_core::api::InterrogationFormRequest {
                name: horde_core::api::FormName::Analysis(horde_core::api::AnalysisForm::Caption),
                payload: None,
            }],
            trusted_workers: None,
            slow_workers: None,
            webhook: None,
        }),
    ];
    let question = rt.find_user();
    let all = events_until(&rt, |e| {
        ids.iter().chain([&question]).all(|id| {
            e.iter()
                .any(|e| e.request() == Some(*id) && e.ends_request())
        }) && e.iter().any(|e| {
            matches!(
                e,
                Event::Connection {
                    state: Connection::Unreachable { .. }
                }
            )
        })
    })
    .await;
    for id in ids {
        let mine: Vec<&Event> = all.iter().filter(|e| e.request() == Some(id)).collect();
        let (last, before) = mine.split_last().unwrap();
        match last {
            Event::Failed { error, .. } => {
                assert_eq!(
                    error.rc.as_ref().map(|rc| rc.as_str()),
                    Some("ServerUnreachable")
                );
                assert!(
                    error.message.to_lowercase().contains("connect"),
                    "the cause is kept: {error}"
                );
            }
            other => panic!("{id:?} ended as {other:?}"),
        }
        assert!(
            before.iter().any(|e| matches!(
                e,
                Event::Retrying {
                    cause: RetryCause::Unreachable(_),
                    ..
                }
            )),
            "{id:?} retried before failing: {mine:?}"
        );
        assert_eq!(mine.iter().filter(|e| e.ends_request()).count(), 1);
        assert!(!rt.is_pending(id));
    }
    // The third request waited for one of the two slots.
    assert!(
        all.iter()
            .any(|e| matches!(e, Event::WaitingForSlot { in_flight: 2, .. })),
        "{all:?}"
    );
    // The connection went from retrying to unreachable, once each.
    let states: Vec<&Connection> = all
        .iter()
        .filter_map(|e| match e {
            Event::Connection { state } => Some(state),
            _ => None,
        })
        .collect();
    assert!(
        matches!(
            &states[..],
            [Connection::Retrying { .. }, Connection::Unreachable { cause }] if cause.to_lowercase().contains("connect")
        ),
        "{states:?}"
    );
    // Quitting with nothing reachable does not hang on cancels.
    let pending = rt.submit_image(ImageGenerateRequest::new("left behind"));
    assert!(rt.is_pending(pending));
    let quit = Instant::now();
    drop(rt);
    assert!(
        quit.elapsed() < Duration::from_secs(10),
        "{:?}",
        quit.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_breaks_a_rule_fails_at_once_naming_the_field() {
    // Nothing listens: a refusal that arrives without a retry was made
    // before anything was sent.
    let rt = runtime(&nobody_listens(), "0000000000");
    let text = rt.submit_text(
        serde_json::from_value(json!({"prompt": "Once", "params": {"temperature": 9.5}})).unwrap(),
    );
    let mut nan = TextGenerateRequest::new("Once");
    nan.params.get_or_insert_default().temperature = Some(f64::NAN);
    let nan = rt.submit_text(nan);
    let sampler = rt.submit_image(
        serde_json::from_value(json!({"prompt": "x", "params": {"sampler_name": "k_imaginary"}}))
            .unwrap(),
    );
    // JSON has no NaN: set it on the typed request.
    let mut cfg = ImageGenerateRequest::new("x");
    cfg.params.get_or_insert_default().settings.cfg_scale = Some(f64::NAN);
    let estimate = rt.estimate_image(cfg);
    let form = rt.submit_interrogation(
        serde_json::from_value(json!({"source_image": "https://example.invalid/a.webp",
            "forms": [{"name": "telepathy"}]}))
        .unwrap(),
    );
    // Upstream's rc for each rule: a schema failure, or its own code.
    let cases = [
        (text, "params.temperature", Rc::BadRequest),
        (nan, "params.temperature", Rc::BadRequest),
        (sampler, "params.sampler_name", Rc::BadRequest),
        (estimate, "params.cfg_scale", Rc::BadCFGNumber),
        (form, "forms.0.name", Rc::BadRequest),
    ];
    let all = events_until(&rt, |e| {
        cases.iter().all(|(id, ..)| {
            e.iter()
                .any(|e| e.request() == Some(*id) && e.ends_request())
        })
    })
    .await;
    for (id, field, rc) in cases {
        let mine: Vec<&Event> = all.iter().filter(|e| e.request() == Some(id)).collect();
        match mine.as_slice() {
            [Event::Failed { error, .. }] => {
                assert_eq!(error.rc, Some(rc), "{error}");
                assert!(error.message.starts_with(field), "{field}: {error}");
                assert!(error.errors.as_ref().is_some_and(|e| e.contains_key(field)));
            }
            other => panic!("{field}: {other:?}"),
        }
    }
}

/// Dropping the runtime (a game quitting) with requests out to a horde that
/// accepts connections and never answers waits no longer than the shutdown
/// grace for the cancels, however long the calls would hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quitting_with_requests_out_to_a_horde_that_never_answers_is_bounded_by_the_grace() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // Accepts every connection, reads nothing, answers nothing.
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            held.push(conn);
            let _ = held_tx.send(held.len());
        }
    });
    let mut client = ClientConfig::new("horde-rs-tests:0.1:https://example.invalid");
    client.base_url = format!("http://{addr}/api");
    let mut config = RuntimeConfig::new(client);
    config.shutdown_grace = Duration::from_millis(100);
    let rt = Runtime::start(config).unwrap();
    for i in 0..4 {
        rt.submit_image(ImageGenerateRequest::new(format!("never answered {i}")));
    }
    // The calls are out: the horde holds their connections.
    let wait = tokio::task::spawn_blocking(move || held_rx.recv_timeout(Duration::from_secs(30)));
    assert!(wait.await.unwrap().is_ok(), "no request reached the horde");
    let quit = tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        drop(rt);
        start.elapsed()
    })
    .await
    .unwrap();
    // 100 ms of grace; the calls themselves would hang for the HTTP timeout.
    assert!(
        quit < Duration::from_secs(5),
        "dropping the runtime took {quit:?}"
    );
}
