//! `HordeNode`'s logic (`NodeLogic`, no Godot types) against our
//! coordinator on 127.0.0.1: every event kind becomes its signal payload,
//! ids are tracked until they end, refusals and failures arrive as
//! `request_failed`, the node cancels on exit when told to, and its worker
//! takes jobs only while the game says the player is idle.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail by panicking

use std::sync::Arc;
use std::time::{Duration, Instant};

use godot_horde::logic::{Asked, Emit, NodeLogic, NodeSettings, WorkerMode};
use godot_horde::presets::{ImagePreset, TextPreset};
use horde_core::api::ModelType;
use horde_core::client::ClientConfig;
use horde_core::coordinator::config::Config;
use horde_core::coordinator::horde::NewUser;
use horde_core::coordinator::server::Coordinator;
use horde_core::runtime::surface::WorkerSpec;
use horde_core::runtime::{Runtime, RuntimeConfig, WorkerBackend};
use horde_core::worker::backends::image_facts::ImageFacts;
use horde_core::worker::backends::procedural::{PROCEDURAL_MODEL, ProceduralImages, to_webp};
use horde_core::worker::{Pacing, WorkKind, WorkerConfig};

/// A private horde on 127.0.0.1 with one trusted user; dropped with the test.
struct TestHorde {
    api: String,
    key: String,
    _rt: tokio::runtime::Runtime,
}

fn horde(tag: &str) -> TestHorde {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("godot-horde-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (api, key) = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut config = Config {
            data_dir: dir,
            listen: addr,
            ..Config::default()
        };
        config.rate_limits.enabled = false;
        let coordinator = Coordinator::open(config, addr).unwrap();
        let (_, key) = coordinator
            .app()
            .run(|h| {
                h.create_user(NewUser {
                    alias: "player".into(),
                    kudos: 1000.0,
                    trusted: true,
                    ..NewUser::default()
                })
            })
            .await
            .unwrap();
        tokio::spawn(async move {
            coordinator
                .serve(listener, std::future::pending())
                .await
                .unwrap();
        });
        (format!("http://{addr}/api"), key)
    });
    TestHorde { api, key, _rt: rt }
}

fn settings(h: &TestHorde, mode: WorkerMode) -> NodeSettings {
    NodeSettings {
        base_url: h.api.clone(),
        api_key: h.key.clone(),
        client_agent: "godot-horde-tests:0.1:https://example.invalid".into(),
        worker_mode: mode,
        ..NodeSettings::default()
    }
}

/// Workers of another machine (a runtime of their own, quick pacing): a
/// procedural dreamer and an alchemist that describes images.
fn helpers(h: &TestHorde) -> Runtime {
    let mut client = ClientConfig::new("godot-horde-helpers:0.1:https://example.invalid");
    client.base_url = h.api.clone();
    client.api_key = h.key.clone();
    let rt = Runtime::start(RuntimeConfig::new(client)).unwrap();
    let quick = Pacing {
        empty_secs: 0.05,
        quiet_secs: 0.05,
        idle_secs: 0.1,
        ..Pacing::default()
    };
    for (name, backend) in [
        (
            "godot-test-dreamer",
            WorkerBackend::Backend(Arc::new(ProceduralImages)),
        ),
        (
            "godot-test-alchemist",
            WorkerBackend::Backend(Arc::new(ImageFacts)),
        ),
    ] {
        let mut config = WorkerConfig::named(name);
        config.nsfw = true;
        config.pacing = quick.clone();
        rt.start_worker(config, backend, true);
    }
    rt
}

/// Drains the logic until `done` accepts what was seen (bounded: 60 s).
fn drain_until(
    logic: &mut NodeLogic,
    seen: &mut Vec<Emit>,
    mut on_each: impl FnMut(&mut NodeLogic, &Emit),
    mut done: impl FnMut(&[Emit]) -> bool,
) {
    let start = Instant::now();
    let mut batch = Vec::new();
    while !done(seen) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out; seen so far: {seen:#?}"
        );
        logic.drain(&mut batch);
        for e in batch.drain(..) {
            on_each(logic, &e);
            seen.push(e);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn ended(id: u64) -> impl FnMut(&[Emit]) -> bool {
    move |seen| {
        seen.iter().any(|e| {
            matches!(e, Emit::Completed { id: i } | Emit::Cancelled { id: i } | Emit::Failed { id: i, .. } if *i == id)
        })
    }
}

fn small(model: &str) -> ImagePreset {
    ImagePreset {
        width: 64,
        height: 64,
        steps: 10,
        models: vec![model.to_owned()],
        ..ImagePreset::default()
    }
}

fn png() -> Vec<u8> {
    let red = image::RgbaImage::from_pixel(64, 64, image::Rgba([200, 30, 30, 255]));
    to_webp(&red).unwrap()
}

#[test]
fn every_event_kind_becomes_its_signal_payload() {
    let h = horde("kinds");
    let _helpers = helpers(&h);
    let mut logic = NodeLogic::new(settings(&h, WorkerMode::WhenIdle));
    // The node's own worker: a scribe the game answers.
    logic
        .start_worker(&WorkerSpec {
            name: "godot-scribe".into(),
            kind: Some(WorkKind::Text),
            models: vec!["test/story".into()],
            ..WorkerSpec::default()
        })
        .unwrap();
    logic.set_idle(true);

    let image = logic.generate_image(
        "a lighthouse",
        &ImagePreset {
            count: 2,
            ..small(PROCEDURAL_MODEL)
        },
    );
    let text = logic.generate_text(
        "Once upon a time",
        &TextPreset {
            models: vec!["test/story".into()],
            max_length: 16,
            ..TextPreset::default()
        },
    );
    let form = logic.interrogate(&png(), &["caption".into()]);
    let estimate = logic.estimate_kudos("a lighthouse", &small(PROCEDURAL_MODEL));
    let models = logic.fetch_models(ModelType::Image);
    let user = logic.fetch_user();
    let ids = [image, text, form, estimate, models, user];
    assert!(ids.iter().all(|&id| id > 0), "{ids:?}");
    assert_eq!(logic.asked(image), Some(Asked::Image));
    assert_eq!(logic.asked(user), Some(Asked::User));
    assert_eq!(logic.pending_ids().len(), 6);
    assert!(!logic.cancel(estimate), "questions are not cancellable");

    let mut seen = Vec::new();
    let mut answered = 0;
    drain_until(
        &mut logic,
        &mut seen,
        |logic, e| {
            if let Emit::Job {
                ticket,
                job,
                source,
            } = e
            {
                assert_eq!(job["kind"], "text");
                assert_eq!(job["prompt"], "Once upon a time");
                assert_eq!(job["worker"], "godot-scribe");
                assert!(source.is_none());
                logic
                    .answer_job(*ticket, |shape| shape.text(" there was a lighthouse."))
                    .unwrap();
                let again = logic.answer_job(*ticket, |shape| shape.text("twice"));
                assert_eq!(again.unwrap_err().rc, "UnknownId");
                answered += 1;
            }
        },
        |seen| {
            [image, text, form].iter().all(|&id| ended(id)(seen))
                && seen.iter().any(|e| matches!(e, Emit::Estimated { .. }))
                && seen.iter().any(|e| matches!(e, Emit::Models { .. }))
                && seen.iter().any(|e| matches!(e, Emit::User { .. }))
        },
    );
    assert_eq!(answered, 1);
    let failures: Vec<_> = seen
        .iter()
        .filter(|e| matches!(e, Emit::Failed { .. }))
        .collect();
    assert!(failures.is_empty(), "{failures:#?}");

    let images: Vec<_> = seen
        .iter()
        .filter_map(|e| match e {
            Emit::Image {
                width,
                height,
                rgba,
                info,
            } => Some((*width, *height, rgba.len(), info.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(images.len(), 2);
    for (w, h, len, info) in &images {
        assert_eq!((*w, *h, *len), (64, 64, 64 * 64 * 4));
        assert_eq!(info.id, image);
        assert_eq!(info.worker, "godot-test-dreamer");
        assert_eq!(info.model, PROCEDURAL_MODEL);
        assert!(!info.seed.is_empty());
    }
    let mut indices: Vec<u32> = images.iter().map(|i| i.3.index).collect();
    indices.sort_unstable();
    assert_eq!(indices, [0, 1]);

    let texts: Vec<_> = seen
        .iter()
        .filter_map(|e| match e {
            Emit::Text { text, info } => Some((text.clone(), info.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(texts.len(), 1);
    assert_eq!(texts[0].0, " there was a lighthouse.");
    assert_eq!(texts[0].1.worker, "godot-scribe");
    assert_eq!(texts[0].1.id, text);

    assert!(seen.iter().any(|e| matches!(
        e,
        Emit::Interrogation { id, form: f, result }
            if *id == form && f == "caption" && result["caption"] == "a 64x64 image, mostly red"
    )));
    assert!(
        seen.iter()
            .any(|e| matches!(e, Emit::Estimated { id, kudos } if *id == estimate && *kudos > 0.0))
    );
    assert!(seen.iter().any(|e| matches!(
        e,
        Emit::Models { id, models: list } if *id == models && list.as_array().unwrap().iter()
            .any(|m| m["name"] == PROCEDURAL_MODEL)
    )));
    assert!(seen.iter().any(|e| matches!(
        e,
        Emit::User { id, user: u } if *id == user
            && u["username"].as_str().unwrap().starts_with("player#")
    )));
    assert!(seen.iter().any(|e| matches!(
        e,
        Emit::Worker { worker, state, details }
            if worker == "godot-scribe" && state == "started" && details["event"] == "started"
    )));
    assert!(
        seen.iter()
            .any(|e| matches!(e, Emit::Progress { id, .. } if *id == image)),
        "progress is reported while the request runs"
    );
    // Every id ended, and the books say so.
    assert!(logic.pending_ids().is_empty(), "{:?}", logic.pending_ids());
    assert!(!logic.is_pending(image));
}

#[test]
fn refusals_and_failures_arrive_as_request_failed_and_lose_nothing() {
    let h = horde("refusals");
    let mut logic = NodeLogic::new(settings(&h, WorkerMode::Off));
    let mut seen = Vec::new();

    // Refused before sending: id 0, then request_failed(0, rc, message).
    let bad = ImagePreset {
        width: 500,
        ..ImagePreset::default()
    };
    assert_eq!(logic.generate_image("a cliff", &bad), 0);
    assert_eq!(logic.interrogate(&[], &["caption".into()]), 0);
    assert_eq!(logic.interrogate(&png(), &[]), 0);
    drain_until(&mut logic, &mut seen, |_, _| {}, |s| s.len() >= 3);
    assert!(matches!(&seen[0], Emit::Failed { id: 0, why } if why.rc == "InvalidSize"));
    assert!(matches!(&seen[1], Emit::Failed { id: 0, why } if why.message.contains("empty")));
    assert!(matches!(&seen[2], Emit::Failed { id: 0, why } if why.message.contains("form")));
    assert!(logic.pending_ids().is_empty());

    // Unknown ids and tickets.
    assert!(!logic.cancel(12345));
    assert!(!logic.is_pending(12345));
    assert_eq!(
        logic.answer_job(7, |shape| shape.text("x")).unwrap_err().rc,
        "UnknownId"
    );
    assert_eq!(logic.fail_job(7, "").unwrap_err().rc, "UnknownId");

    // The worker's mode gates it; bad workers are refused with a reason.
    let scribe = WorkerSpec {
        name: "godot-off".into(),
        kind: Some(WorkKind::Text),
        models: vec!["test/story".into()],
        ..WorkerSpec::default()
    };
    assert_eq!(logic.start_worker(&scribe).unwrap_err().rc, "WorkerOff");
    logic.settings.worker_mode = WorkerMode::Always;
    let no_models = WorkerSpec {
        models: Vec::new(),
        ..scribe.clone()
    };
    assert_eq!(logic.start_worker(&no_models).unwrap_err().rc, "BadWorker");
    logic.start_worker(&scribe).unwrap();
    assert_eq!(logic.start_worker(&scribe).unwrap_err().rc, "WorkerExists");
    assert_eq!(logic.workers(), ["godot-off"]);

    // A key the horde does not know: the failure, then an empty answer
    // so that an `await horde.fetch_user()` never hangs.
    let mut stranger = NodeLogic::new(NodeSettings {
        api_key: "not-a-key-of-this-horde".into(),
        ..settings(&h, WorkerMode::Off)
    });
    let id = stranger.fetch_user();
    let mut seen = Vec::new();
    drain_until(
        &mut stranger,
        &mut seen,
        |_, _| {},
        |s| s.iter().any(|e| matches!(e, Emit::User { .. })),
    );
    // A refusal is an answer: the horde is reachable.
    seen.retain(|e| !matches!(e, Emit::Connection { state, .. } if state == "reachable"));
    assert!(
        matches!(&seen[..], [Emit::Failed { id: a, .. }, Emit::User { id: b, user }]
        if *a == id && *b == id && user.as_object().unwrap().is_empty())
    );
    assert!(!stranger.is_pending(id));

    // An empty client agent is refused before anything starts.
    let mut anonymous = NodeLogic::new(NodeSettings {
        client_agent: " ".into(),
        ..settings(&h, WorkerMode::Off)
    });
    assert_eq!(anonymous.fetch_user(), 0);
    let mut seen = Vec::new();
    drain_until(&mut anonymous, &mut seen, |_, _| {}, |s| !s.is_empty());
    assert!(matches!(&seen[0], Emit::Failed { id: 0, why } if why.rc == "BadConfig"));
}

#[test]
fn leaving_the_tree_cancels_pending_requests_only_when_asked() {
    let h = horde("exit");
    // Nobody serves this horde: requests wait in its queue.
    let mut keep = NodeLogic::new(NodeSettings {
        cancel_on_exit: false,
        ..settings(&h, WorkerMode::Off)
    });
    let kept = keep.generate_image("a ship", &small(PROCEDURAL_MODEL));
    let mut seen = Vec::new();
    drain_until(
        &mut keep,
        &mut seen,
        |_, _| {},
        |s| {
            s.iter()
                .any(|e| matches!(e, Emit::Queued { id, .. } if *id == kept))
        },
    );
    keep.exit_tree();
    std::thread::sleep(Duration::from_millis(300));
    keep.drain(&mut seen);
    assert!(keep.is_pending(kept), "{seen:#?}");
    assert!(!seen.iter().any(|e| matches!(e, Emit::Cancelled { .. })));

    let mut cancel = NodeLogic::new(settings(&h, WorkerMode::Off));
    let a = cancel.generate_image("a ship", &small(PROCEDURAL_MODEL));
    let b = cancel.generate_text("Once", &TextPreset::default());
    let mut seen = Vec::new();
    drain_until(
        &mut cancel,
        &mut seen,
        |_, _| {},
        |s| {
            [a, b].iter().all(|&r| {
                s.iter()
                    .any(|e| matches!(e, Emit::Queued { id, .. } if *id == r))
            })
        },
    );
    cancel.exit_tree();
    drain_until(
        &mut cancel,
        &mut seen,
        |_, _| {},
        |s| ended(a)(s) && ended(b)(s),
    );
    assert!(
        seen.iter()
            .any(|e| matches!(e, Emit::Cancelled { id } if *id == a))
    );
    assert!(
        seen.iter()
            .any(|e| matches!(e, Emit::Cancelled { id } if *id == b))
    );
    assert!(cancel.pending_ids().is_empty());

    // The kept one is still cancellable by hand.
    assert!(keep.cancel(kept));
    let mut seen = Vec::new();
    drain_until(&mut keep, &mut seen, |_, _| {}, ended(kept));
    assert!(
        seen.iter()
            .any(|e| matches!(e, Emit::Cancelled { id } if *id == kept))
    );
}

#[test]
fn the_worker_takes_jobs_only_while_the_game_says_the_player_is_idle() {
    let h = horde("idle");
    let mut logic = NodeLogic::new(settings(&h, WorkerMode::WhenIdle));
    assert!(!logic.gate());
    logic
        .start_worker(&WorkerSpec {
            name: "godot-gated".into(),
            backend: Some("kind = \"procedural\"".into()),
            ..WorkerSpec::default()
        })
        .unwrap();
    let id = logic.generate_image("a forest", &small(PROCEDURAL_MODEL));
    // The player is playing: the only worker of this horde stays out.
    let mut seen = Vec::new();
    let until = Instant::now() + Duration::from_millis(2500);
    drain_until(&mut logic, &mut seen, |_, _| {}, |_| Instant::now() > until);
    assert!(
        !seen.iter().any(|e| matches!(e, Emit::Image { .. })),
        "{seen:#?}"
    );
    assert!(logic.is_pending(id));
    // The player walks away.
    logic.set_idle(true);
    assert!(logic.gate() && logic.is_idle());
    drain_until(&mut logic, &mut seen, |_, _| {}, ended(id));
    assert!(
        seen.iter()
            .any(|e| matches!(e, Emit::Completed { id: c } if *c == id))
    );
    let image = seen
        .iter()
        .find_map(|e| match e {
            Emit::Image { info, .. } => Some(info.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(image.worker, "godot-gated");
    assert!(seen.iter().any(|e| matches!(
        e,
        Emit::Worker { worker, state, .. } if worker == "godot-gated" && state == "offering"
    )));
    // Back in the game: the gate closes; Always ignores it.
    logic.take_gpu_back();
    assert!(!logic.gate());
    logic.settings.worker_mode = WorkerMode::Always;
    assert!(logic.gate());
    assert!(!logic.stop_worker("no-such-worker"), "not started here");
    assert!(logic.stop_worker("godot-gated"));
    drain_until(
        &mut logic,
        &mut seen,
        |_, _| {},
        |s| {
            s.iter()
                .any(|e| matches!(e, Emit::Worker { state, .. } if state == "stopped"))
        },
    );
    assert!(logic.workers().is_empty());
}

#[test]
fn an_unreachable_horde_fails_requests_with_the_cause_and_says_offline() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut logic = NodeLogic::new(NodeSettings {
        base_url: format!("http://{addr}/api"),
        client_agent: "godot-horde-tests:0.1:https://example.invalid".into(),
        give_up_after_secs: 0.3,
        worker_mode: WorkerMode::Always,
        ..NodeSettings::default()
    });
    // A worker started while the horde is down says why it cannot work,
    // and never that it started.
    logic
        .start_worker(&WorkerSpec {
            name: "godot-offline-dreamer".into(),
            backend: Some(r#"kind = "procedural""#.into()),
            ..WorkerSpec::default()
        })
        .unwrap();
    let worker_said = |seen: &[Emit], what: &str| {
        seen.iter()
            .any(|e| matches!(e, Emit::Worker { worker, state, .. } if worker == "godot-offline-dreamer" && state == what))
    };
    let id = logic.generate_image("offline", &small(PROCEDURAL_MODEL));
    let user = logic.fetch_user();
    let mut seen = Vec::new();
    drain_until(
        &mut logic,
        &mut seen,
        |_, _| {},
        |seen| {
            ended(id)(seen)
                && ended(user)(seen)
                && worker_said(seen, "error")
                && seen
                    .iter()
                    .any(|e| matches!(e, Emit::Connection { state, .. } if state == "unreachable"))
        },
    );
    let failure = seen
        .iter()
        .find_map(|e| match e {
            Emit::Failed { id: i, why } if *i == id => Some(why),
            _ => None,
        })
        .unwrap();
    assert_eq!(failure.rc, "ServerUnreachable", "{failure:?}");
    assert!(
        failure.message.to_lowercase().contains("connect"),
        "{failure:?}"
    );
    assert!(
        seen.iter()
            .any(|e| matches!(e, Emit::Retrying { id: i, .. } if *i == id)),
        "{seen:#?}"
    );
    // The awaited answer of a failed question still comes (empty).
    assert!(
        seen.iter()
            .any(|e| matches!(e, Emit::User { id: i, .. } if *i == user))
    );
    assert!(!logic.is_pending(id) && !logic.is_pending(user));
    let states: Vec<&str> = seen
        .iter()
        .filter_map(|e| match e {
            Emit::Connection { state, .. } => Some(state.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(states, ["retrying", "unreachable"]);
    assert!(!worker_said(&seen, "started"), "{seen:#?}");
}
