//! HordePlugin in a headless `App` (MinimalPlugins, AssetPlugin,
//! ImagePlugin) against our coordinator on 127.0.0.1, with our worker's
//! built-in backend: images arrive as `Handle<Image>`s of the requested
//! size, text arrives (answered by a game system), despawning cancels on
//! the server, failures show in the state and as messages, observers fire,
//! and the worker pops only while the game says the player is idle.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail by panicking

use std::sync::Arc;
use std::time::{Duration, Instant};

use bevy::MinimalPlugins;
use bevy::prelude::*;
use bevy_asset::{AssetPlugin, Assets};
use bevy_horde::prelude::*;
use bevy_horde::{HordePrivate, HordeWorkerJob, Rgba, WorkerBackend};
use bevy_image::{Image, ImagePlugin};
use horde_core::api::{ImageGenerateRequest, TextGenerateRequest};
use horde_core::coordinator::config::Config;
use horde_core::coordinator::embedded::EmbeddedHorde;
use horde_core::coordinator::horde::NewUser;
use horde_core::worker::backends::procedural::{PROCEDURAL_MODEL, ProceduralImages, draw};
use horde_core::worker::{Job, Offer, Output, TextResult, WorkKind, WorkerConfig, WorkerEvent};

/// A private horde on 127.0.0.1 with one user; dropped with the test.
struct TestHorde {
    api: String,
    key: String,
    _horde: EmbeddedHorde,
}

fn horde() -> TestHorde {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let horde = EmbeddedHorde::start(Config::embedded()).unwrap();
    let key = horde
        .add_user(NewUser {
            alias: "player".into(),
            kudos: 1000.0,
            trusted: true,
            ..NewUser::default()
        })
        .unwrap();
    TestHorde {
        api: horde.api_url().to_owned(),
        key,
        _horde: horde,
    }
}

fn worker(name: &str, backend: WorkerBackend) -> bevy_horde::HordeWorker {
    let mut w = bevy_horde::HordeWorker::new(name, backend);
    w.config = WorkerConfig {
        nsfw: true,
        ..WorkerConfig::named(name)
    };
    w.config.pacing.empty_secs = 0.02;
    w.config.pacing.quiet_secs = 0.02;
    w.config.pacing.idle_secs = 0.02;
    w
}

fn app(h: &TestHorde, workers: impl IntoIterator<Item = bevy_horde::HordeWorker>) -> App {
    let mut plugin = HordePlugin::public("bevy-horde-tests:0.1:https://example.invalid")
        .at(h.api.clone(), h.key.clone());
    plugin.workers = workers.into_iter().collect();
    let mut app = App::new();
    app.add_plugins((
        MinimalPlugins,
        AssetPlugin::default(),
        ImagePlugin::default(),
        plugin,
    ));
    app.init_resource::<Seen>().add_systems(Update, record);
    app
}

/// Everything the messages said.
#[derive(Resource, Default)]
struct Seen {
    images: Vec<HordeImageReady>,
    texts: Vec<HordeTextReady>,
    ended: Vec<HordeRequestEnded>,
    worker: Vec<WorkerEvent>,
    /// The same, with the worker's name.
    status: Vec<HordeWorkerStatus>,
}

fn record(
    mut seen: ResMut<Seen>,
    mut images: MessageReader<HordeImageReady>,
    mut texts: MessageReader<HordeTextReady>,
    mut ended: MessageReader<HordeRequestEnded>,
    mut status: MessageReader<HordeWorkerStatus>,
) {
    seen.images.extend(images.read().cloned());
    seen.texts.extend(texts.read().cloned());
    seen.ended.extend(ended.read().cloned());
    for s in status.read() {
        seen.worker.push(s.event.clone());
        seen.status.push(s.clone());
    }
}

/// Updates until `done` (30 s at most).
fn run_until(app: &mut App, mut done: impl FnMut(&mut World) -> bool) {
    let start = Instant::now();
    loop {
        app.update();
        if done(app.world_mut()) {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "timed out");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn state(app: &mut App, e: Entity) -> Option<HordeRequestState> {
    app.world().get::<HordeRequestState>(e).cloned()
}

fn image_request(prompt: &str, w: u32, h: u32) -> ImageGenerateRequest {
    serde_json::from_value(serde_json::json!({
        "prompt": prompt, "models": [PROCEDURAL_MODEL],
        "params": {"width": w, "height": h, "steps": 4, "seed": "11"}
    }))
    .unwrap()
}

#[derive(Resource, Default)]
struct Observed(Vec<String>);

#[test]
fn images_arrive_as_handles_of_the_requested_size_and_observers_fire() {
    let h = horde();
    let w = worker(
        "bevy-dreamer",
        WorkerBackend::Backend(Arc::new(ProceduralImages)),
    );
    let mut app = app(&h, Some(w));
    app.insert_resource(HordeIdle(true));
    app.init_resource::<Observed>();
    let e = app
        .world_mut()
        .spawn(HordeImageRequest(image_request("a tower", 64, 128)))
        .observe(|ev: On<ImageArrived>, mut o: ResMut<Observed>| {
            o.0.push(format!("image for {:?}", ev.entity));
        })
        .observe(|ev: On<RequestEnded>, mut o: ResMut<Observed>| {
            o.0.push(format!("ended {:?}", ev.state));
        })
        .id();
    run_until(&mut app, |w| {
        w.get::<HordeRequestState>(e)
            .is_some_and(HordeRequestState::is_final)
    });
    assert_eq!(state(&mut app, e), Some(HordeRequestState::Done));
    let handle = app.world().get::<HordeImages>(e).unwrap().0[0].clone();
    let assets = app.world().resource::<Assets<Image>>();
    let image = assets.get(&handle).expect("the image is in Assets<Image>");
    assert_eq!((image.width(), image.height()), (64, 128));
    assert_eq!(
        image.data.as_deref().unwrap(),
        draw("a tower", 11, 64, 128).as_raw().as_slice()
    );
    let seen = app.world().resource::<Seen>();
    assert_eq!(seen.images.len(), 1);
    assert_eq!(seen.images[0].entity, e);
    assert_eq!(seen.images[0].worker, "bevy-dreamer");
    assert!(matches!(seen.ended[0].state, HordeRequestState::Done));
    assert!(
        seen.worker
            .iter()
            .any(|w| matches!(w, WorkerEvent::KudosEarned { .. }))
    );
    let observed = &app.world().resource::<Observed>().0;
    assert_eq!(
        observed,
        &[format!("image for {e:?}"), "ended Done".to_owned()]
    );
}

#[derive(Resource, Default)]
struct Requested(Option<Entity>);

fn request_once(mut horde: Horde, mut requested: ResMut<Requested>) {
    if requested.0.is_none() {
        requested.0 = Some(horde.generate_image("a lighthouse"));
    }
}

#[test]
fn the_games_own_default_worker_serves_the_one_line_image_request() {
    // The one-liner names no model and asks for safe-for-work images; a
    // worker with the default configuration (no NSFW) serves it.
    let h = horde();
    let mut w = bevy_horde::HordeWorker::new(
        "bevy-default-dreamer",
        WorkerBackend::Backend(Arc::new(ProceduralImages)),
    );
    w.config.pacing.empty_secs = 0.02;
    w.config.pacing.idle_secs = 0.02;
    assert!(!w.config.nsfw, "the default worker takes no NSFW work");
    let mut app = app(&h, Some(w));
    app.insert_resource(HordeIdle(true));
    app.init_resource::<Requested>();
    app.add_systems(Update, request_once);
    run_until(&mut app, |w| {
        w.resource::<Requested>()
            .0
            .and_then(|e| w.get::<HordeRequestState>(e))
            .is_some_and(HordeRequestState::is_final)
    });
    let e = app.world().resource::<Requested>().0.unwrap();
    assert_eq!(state(&mut app, e), Some(HordeRequestState::Done));
    assert_eq!(app.world().get::<HordeImages>(e).unwrap().0.len(), 1);
}

/// A game system answering text jobs: it "writes" by echoing the prompt.
fn answer_jobs(mut jobs: MessageReader<HordeWorkerJob>, horde: Horde) {
    for j in jobs.read() {
        assert!(j.worker.ends_with("scribe"), "the worker that popped it");
        if let Job::Text(t) = &j.job {
            let text = format!(" ...and {} lived happily.", t.prompt.len());
            horde.answer_job(
                j.ticket,
                Ok(Output::Text(TextResult {
                    text,
                    tokens: Some(5),
                    seed: None,
                })),
            );
        }
    }
}

#[test]
fn text_arrives_answered_by_a_game_system() {
    let h = horde();
    let backend = WorkerBackend::Game {
        kind: WorkKind::Text,
        offer: Offer {
            models: vec!["koboldcpp/bevy-model".into()],
            ..Offer::default()
        },
    };
    let mut app = app(&h, Some(worker("bevy-scribe", backend)));
    app.insert_resource(HordeIdle(true))
        .add_systems(Update, answer_jobs);
    let mut req = TextGenerateRequest::new("Once".to_owned());
    req.options.models = Some(vec!["koboldcpp/bevy-model".into()]);
    let e = app.world_mut().spawn(HordeTextRequest(req)).id();
    run_until(&mut app, |w| {
        w.get::<HordeRequestState>(e)
            .is_some_and(HordeRequestState::is_final)
    });
    assert_eq!(state(&mut app, e), Some(HordeRequestState::Done));
    assert_eq!(
        app.world().get::<HordeTexts>(e).unwrap().0,
        [" ...and 4 lived happily."]
    );
    assert_eq!(
        app.world().resource::<Seen>().texts[0].worker,
        "bevy-scribe"
    );
}

fn queued(api: &str) -> u64 {
    let body: serde_json::Value = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            reqwest::get(format!("{api}/v2/status/performance"))
                .await
                .unwrap()
                .json()
                .await
                .unwrap()
        });
    body["queued_requests"].as_u64().unwrap()
}

#[test]
fn despawning_a_request_cancels_it_on_the_server_and_failures_show() {
    let h = horde();
    let mut app = app(&h, None);
    // No worker serves this model: it waits in the queue.
    let e = app
        .world_mut()
        .spawn(HordeImageRequest(image_request("a ship", 64, 64)))
        .id();
    run_until(&mut app, |w| {
        matches!(
            w.get::<HordeRequestState>(e),
            Some(HordeRequestState::Queued { .. })
        )
    });
    assert_eq!(queued(&h.api), 1);
    app.world_mut().despawn(e);
    let start = Instant::now();
    while queued(&h.api) != 0 {
        app.update();
        assert!(start.elapsed() < Duration::from_secs(30), "not cancelled");
        std::thread::sleep(Duration::from_millis(10));
    }

    // An invalid request: the horde's refusal in the state and a message.
    let e = app
        .world_mut()
        .spawn(HordeImageRequest(image_request("a wall", 65, 64)))
        .id();
    run_until(&mut app, |w| {
        w.get::<HordeRequestState>(e)
            .is_some_and(HordeRequestState::is_final)
    });
    match state(&mut app, e) {
        Some(HordeRequestState::Failed { rc, message }) => {
            assert_eq!(rc.as_deref(), Some("InvalidSize"), "{message}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    let seen = app.world().resource::<Seen>();
    assert!(
        seen.ended
            .iter()
            .any(|m| m.entity == e && matches!(m.state, HordeRequestState::Failed { .. }))
    );
}

#[test]
fn the_worker_pops_only_while_the_game_says_the_player_is_idle() {
    let h = horde();
    let w = worker(
        "bevy-idle",
        WorkerBackend::Backend(Arc::new(ProceduralImages)),
    );
    let mut app = app(&h, Some(w));
    let horde_req = |app: &mut App| {
        app.world_mut()
            .spawn(HordeImageRequest(image_request("a field", 64, 64)))
            .id()
    };
    let e = horde_req(&mut app);
    // Playing: half a second of frames, and the request still waits.
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(500) {
        app.update();
        std::thread::sleep(Duration::from_millis(5));
    }
    let waiting = matches!(
        state(&mut app, e),
        Some(
            HordeRequestState::Queued { .. }
                | HordeRequestState::Processing {
                    processing: 0,
                    finished: 0,
                    ..
                }
        )
    );
    assert!(waiting, "{:?}", state(&mut app, e));
    // The player walks away.
    app.insert_resource(HordeIdle(true));
    run_until(&mut app, |w| {
        w.get::<HordeRequestState>(e)
            .is_some_and(HordeRequestState::is_final)
    });
    assert_eq!(state(&mut app, e), Some(HordeRequestState::Done));
    let seen = app.world().resource::<Seen>();
    assert!(
        seen.worker
            .iter()
            .any(|w| matches!(w, WorkerEvent::Offering { on: true }))
    );
}

#[derive(Resource, Default)]
struct Answers {
    asked: Vec<horde_core::runtime::RequestId>,
    estimates: Vec<(horde_core::runtime::RequestId, f64)>,
    models: Vec<(horde_core::runtime::RequestId, Vec<String>)>,
    users: Vec<(horde_core::runtime::RequestId, String, f64)>,
    failed: Vec<String>,
}

fn ask(horde: Horde, mut answers: ResMut<Answers>, mut once: Local<bool>) {
    if !*once {
        *once = true;
        let a = horde.estimate_image(image_request("a cliff", 512, 512));
        let b = horde.models(horde_core::api::ModelType::Image);
        let c = horde.find_user();
        answers.asked = vec![a.unwrap(), b.unwrap(), c.unwrap()];
    }
}

fn collect(
    mut answers: ResMut<Answers>,
    mut estimates: MessageReader<HordeEstimate>,
    mut models: MessageReader<HordeModels>,
    mut users: MessageReader<HordeUser>,
    mut failed: MessageReader<bevy_horde::HordeQuestionFailed>,
) {
    answers
        .failed
        .extend(failed.read().map(|f| format!("{:?}", f.state)));
    for e in estimates.read() {
        answers.estimates.push((e.request, e.kudos));
    }
    for m in models.read() {
        let names = m.models.iter().map(|m| m.name.clone()).collect();
        answers.models.push((m.request, names));
    }
    for u in users.read() {
        answers
            .users
            .push((u.request, u.user.username.clone(), u.user.kudos));
    }
}

#[test]
fn estimates_the_model_list_and_the_user_arrive_as_messages() {
    let h = horde();
    let w = worker(
        "bevy-lister",
        WorkerBackend::Backend(Arc::new(ProceduralImages)),
    );
    let mut app = app(&h, Some(w));
    app.insert_resource(HordeIdle(true))
        .init_resource::<Answers>()
        .add_systems(Update, (ask, collect));
    run_until(&mut app, |w| {
        let a = w.resource::<Answers>();
        assert!(a.failed.is_empty(), "{:?}", a.failed);
        !a.estimates.is_empty() && !a.models.is_empty() && !a.users.is_empty()
    });
    let a = app.world().resource::<Answers>();
    assert_eq!(a.estimates[0].0, a.asked[0]);
    assert!(a.estimates[0].1 > 0.0);
    assert_eq!(a.models[0].0, a.asked[1]);
    assert_eq!(a.users[0].0, a.asked[2]);
    assert!(a.users[0].1.starts_with("player#"), "{:?}", a.users);
    assert!(a.users[0].2 > 0.0);
}

#[test]
fn interrogations_arrive_as_a_component_a_message_and_an_entity_event() {
    use base64::Engine;
    let h = horde();
    let w = worker(
        "bevy-alchemist",
        WorkerBackend::Backend(Arc::new(
            horde_core::worker::backends::image_facts::ImageFacts,
        )),
    );
    let mut app = app(&h, Some(w));
    app.insert_resource(HordeIdle(true));
    app.init_resource::<Observed>();
    let red = image::RgbaImage::from_pixel(64, 64, image::Rgba([200, 30, 30, 255]));
    let webp = horde_core::worker::backends::procedural::to_webp(&red).unwrap();
    let req: horde_core::api::InterrogationRequest = serde_json::from_value(serde_json::json!({
        "source_image": base64::engine::general_purpose::STANDARD.encode(webp),
        "forms": [{"name": "caption"}]
    }))
    .unwrap();
    let e = app
        .world_mut()
        .spawn(HordeInterrogationRequest(req))
        .observe(|ev: On<FormArrived>, mut o: ResMut<Observed>| {
            o.0.push(format!("{}: {}", ev.form, ev.result["caption"]));
        })
        .id();
    run_until(&mut app, |w| {
        w.get::<HordeRequestState>(e)
            .is_some_and(HordeRequestState::is_final)
    });
    assert_eq!(state(&mut app, e), Some(HordeRequestState::Done));
    let got = &app.world().get::<HordeInterrogation>(e).unwrap().0;
    assert_eq!(got["caption"], "a 64x64 image, mostly red");
    assert_eq!(
        app.world().resource::<Observed>().0,
        ["caption: \"a 64x64 image, mostly red\""]
    );
}

fn ends_of(app: &App, e: Entity) -> Vec<HordeRequestState> {
    app.world()
        .resource::<Seen>()
        .ended
        .iter()
        .filter(|m| m.entity == e)
        .map(|m| m.state.clone())
        .collect()
}

#[test]
fn every_result_of_a_frame_stays_and_an_observer_may_despawn_its_request() {
    let h = horde();
    let w = worker(
        "bevy-three",
        WorkerBackend::Backend(Arc::new(ProceduralImages)),
    );
    let mut app = app(&h, Some(w));
    app.insert_resource(HordeIdle(true));
    let mut three = image_request("three ships", 64, 64);
    three.params.as_mut().unwrap().n = Some(3);
    let e = app.world_mut().spawn(HordeImageRequest(three.clone())).id();
    run_until(&mut app, |w| {
        w.get::<HordeRequestState>(e) == Some(&HordeRequestState::Done)
    });
    // All three arrive together (one status fetch) and all three stay.
    assert_eq!(app.world().get::<HordeImages>(e).unwrap().0.len(), 3);
    let assets = app.world().resource::<Assets<Image>>();
    for handle in &app.world().get::<HordeImages>(e).unwrap().0 {
        assert!(assets.get(handle).is_some(), "an image's asset was freed");
    }
    assert_eq!(ends_of(&app, e), [HordeRequestState::Done]);

    // Despawning the request in its own observer, with more results of
    // the same frame still to apply, does not fail the update.
    let doomed = app
        .world_mut()
        .spawn(HordeImageRequest(three))
        .observe(|arrived: On<ImageArrived>, mut commands: Commands| {
            commands.entity(arrived.entity).despawn();
        })
        .id();
    run_until(&mut app, |w| {
        w.resource::<Seen>()
            .ended
            .iter()
            .any(|m| m.entity == doomed)
    });
    assert!(app.world().get_entity(doomed).is_err());
    assert_eq!(ends_of(&app, doomed).len(), 1);
}

#[test]
fn every_request_ends_once_cancels_included_and_removed_resources_do_not_kill_the_app() {
    let h = horde();
    let mut app = app(&h, None);
    // No worker serves it: it queues — and says so, not "processing".
    let e = app
        .world_mut()
        .spawn(HordeImageRequest(image_request("a ship", 64, 64)))
        .id();
    let mut states = Vec::new();
    run_until(&mut app, |w| {
        let s = w.get::<HordeRequestState>(e).cloned().unwrap();
        if states.last() != Some(&s) {
            states.push(s.clone());
        }
        matches!(s, HordeRequestState::Queued { .. })
    });
    assert!(
        matches!(
            &states[..],
            [
                HordeRequestState::Submitted,
                HordeRequestState::Queued { .. }
            ]
        ),
        "{states:?}"
    );
    // Removing the id cancels it, and the request ends as cancelled.
    app.world_mut().entity_mut(e).remove::<HordeRequestId>();
    run_until(&mut app, |w| {
        w.get::<HordeRequestState>(e) == Some(&HordeRequestState::Cancelled)
    });
    assert_eq!(ends_of(&app, e), [HordeRequestState::Cancelled]);
    assert_eq!(queued(&h.api), 0);

    // A despawned request ends once too, as cancelled.
    let gone = app
        .world_mut()
        .spawn(HordeImageRequest(image_request("a boat", 64, 64)))
        .id();
    run_until(&mut app, |w| {
        matches!(
            w.get::<HordeRequestState>(gone),
            Some(HordeRequestState::Queued { .. })
        )
    });
    app.world_mut().despawn(gone);
    run_until(&mut app, |w| {
        w.resource::<Seen>().ended.iter().any(|m| m.entity == gone)
    });
    for _ in 0..5 {
        app.update();
    }
    assert_eq!(ends_of(&app, gone), [HordeRequestState::Cancelled]);

    // A new request on an entity whose request ended starts afresh.
    app.world_mut()
        .entity_mut(e)
        .insert(HordeImageRequest(image_request("again", 64, 64)));
    run_until(&mut app, |w| {
        matches!(
            w.get::<HordeRequestState>(e),
            Some(HordeRequestState::Queued { .. })
        )
    });

    // The game removes the plugin's resources: updates go on.
    app.world_mut().remove_resource::<HordeIdle>();
    app.update();
    app.world_mut()
        .remove_resource::<bevy_horde::HordeRuntime>();
    for _ in 0..3 {
        app.update();
    }
}

#[test]
fn an_unreachable_horde_fails_requests_with_the_cause_and_shows_offline() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut plugin = HordePlugin::public("bevy-horde-tests:0.1:https://example.invalid")
        .at(format!("http://{addr}/api"), "0000000000");
    plugin.policy.backoff = 0.02;
    plugin.policy.max_backoff = 0.1;
    plugin.policy.give_up_after = 0.3;
    // A worker started while the horde is down: errors, never Started.
    plugin.workers = vec![worker(
        "bevy-offline-dreamer",
        WorkerBackend::Backend(Arc::new(ProceduralImages)),
    )];
    let mut app = App::new();
    app.add_plugins((
        MinimalPlugins,
        AssetPlugin::default(),
        ImagePlugin::default(),
        plugin,
    ));
    app.init_resource::<Seen>().add_systems(Update, record);
    app.insert_resource(HordeIdle(true));
    let e = app
        .world_mut()
        .spawn(HordeImageRequest(image_request("offline", 64, 64)))
        .id();
    let mut retried = false;
    run_until(&mut app, |w| {
        retried |= matches!(
            w.get::<HordeRequestState>(e),
            Some(HordeRequestState::Retrying { .. })
        );
        w.get::<HordeRequestState>(e)
            .is_some_and(HordeRequestState::is_final)
            && matches!(
                w.resource::<HordeConnection>().0,
                Some(Connection::Unreachable { .. })
            )
            && w.resource::<Seen>()
                .worker
                .iter()
                .any(|e| matches!(e, WorkerEvent::Error { fatal: false, .. }))
    });
    assert!(retried, "the state showed the retries");
    assert!(
        !app.world()
            .resource::<Seen>()
            .worker
            .iter()
            .any(|e| matches!(e, WorkerEvent::Started { .. })),
        "started while the horde was down"
    );
    match state(&mut app, e) {
        Some(HordeRequestState::Failed { rc, message }) => {
            assert_eq!(rc.as_deref(), Some("ServerUnreachable"), "{message}");
            assert!(message.to_lowercase().contains("connect"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(ends_of(&app, e).len(), 1);
}

/// A game-answered dreamer painting its own pixels: a wrong answer is
/// refused (nothing sent), the right one is handed over in one line.
fn paint_jobs(mut jobs: MessageReader<HordeWorkerJob>, horde: Horde) {
    for j in jobs.read() {
        let Job::Image(img) = &j.job else { continue };
        let pixels = vec![200u8; (img.width * img.height * 4) as usize];
        let wrong = [Rgba {
            width: img.width / 2,
            height: img.height,
            pixels: &pixels[..pixels.len() / 2],
        }];
        let refused = horde.answer_images(j, &wrong).unwrap_err();
        assert!(refused.contains("the job asks for"), "{refused}");
        let frames: Vec<Rgba> = (0..img.count.max(1))
            .map(|_| Rgba {
                width: img.width,
                height: img.height,
                pixels: &pixels,
            })
            .collect();
        if frames.len() > 1 {
            let half = horde.answer_images(j, &frames[..1]);
            assert!(half.unwrap_err().contains("asks for"), "too few images");
            horde.answer_images(j, &frames).unwrap();
            continue;
        }
        // Handed over instead of copied: the same checks, then moved.
        let small = SourceImage {
            width: 8,
            height: 8,
            rgba: vec![0; 8 * 8 * 4],
        };
        let refused = horde.answer_images_owned(j, vec![small]).unwrap_err();
        assert!(refused.contains("the job asks for"), "{refused}");
        let mine = SourceImage {
            width: img.width,
            height: img.height,
            rgba: pixels.clone(),
        };
        horde.answer_images_owned(j, vec![mine]).unwrap();
    }
}

#[test]
fn a_game_hosts_its_own_horde_and_answers_its_own_jobs_with_one_liners() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Removed when dropped, a failing test included.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("horde");
    let painter = {
        let backend = WorkerBackend::Game {
            kind: WorkKind::Image,
            offer: Offer {
                models: vec!["game-painter".into()],
                ..Offer::default()
            },
        };
        let mut w = worker("bevy-painter", backend);
        w.config.nsfw = false;
        w
    };
    let plugin = HordePlugin::private("bevy-horde-tests:0.1:https://example.invalid", &dir)
        .expect("a private horde in the game")
        .with_worker(painter);
    let key = plugin.api_key.clone();
    let mut app = App::new();
    app.add_plugins((
        MinimalPlugins,
        AssetPlugin::default(),
        ImagePlugin::default(),
        plugin,
    ));
    app.insert_resource(HordeIdle(true))
        .add_systems(Update, paint_jobs);
    let req = ImageGenerateRequest::new("a lighthouse")
        .size(64, 128)
        .n(3)
        .model("game-painter")
        .allow_nsfw(false);
    let e = app.world_mut().spawn(HordeImageRequest(req)).id();
    run_until(&mut app, |w| {
        w.get::<HordeRequestState>(e)
            .is_some_and(HordeRequestState::is_final)
    });
    assert_eq!(state(&mut app, e), Some(HordeRequestState::Done));
    let handles = app.world().get::<HordeImages>(e).unwrap().0.clone();
    assert_eq!(handles.len(), 3, "all three of one request are kept");
    let assets = app.world().resource::<Assets<Image>>();
    for h in &handles {
        let image = assets.get(h).expect("in Assets<Image>");
        assert_eq!((image.width(), image.height()), (64, 128));
        assert!(image.data.as_deref().unwrap().iter().all(|&b| b == 200));
    }
    // The private horde is a resource: players can be registered on it.
    let private = app.world().resource::<HordePrivate>().0.clone();
    assert!(private.api_url().starts_with("http://127.0.0.1:"));
    private
        .add_user(NewUser {
            alias: "second-player".into(),
            ..NewUser::default()
        })
        .expect("registered");
    drop(private);
    drop(app);
    // Kept in `dir`: the game's user and its key survive a restart.
    let again = HordePlugin::private("bevy-horde-tests:0.1:https://example.invalid", &dir)
        .expect("restarted");
    assert_eq!(again.api_key, key);
    drop(again);
}

#[derive(Resource, Default)]
struct Asked(Vec<Result<Entity, String>>);

/// Interrogates a picture the game drew in memory, and one it cannot send.
fn interrogate_drawn(mut horde: Horde, mut asked: ResMut<Asked>) {
    use bevy_asset::RenderAssetUsages;
    use wgpu_types::{Extent3d, TextureDimension, TextureFormat};
    if !asked.0.is_empty() {
        return;
    }
    let size = Extent3d {
        width: 48,
        height: 32,
        depth_or_array_layers: 1,
    };
    let red = Image::new(
        size,
        TextureDimension::D2,
        [30u8, 30, 200, 255].repeat(48 * 32),
        TextureFormat::Rgba8UnormSrgb,
        RenderAssetUsages::default(),
    );
    asked
        .0
        .push(horde.interrogate_image(&red, vec![FormName::CAPTION]));
    let float = Image::new(
        size,
        TextureDimension::D2,
        vec![0u8; 48 * 32 * 16],
        TextureFormat::Rgba32Float,
        RenderAssetUsages::default(),
    );
    asked
        .0
        .push(horde.interrogate_image(&float, vec![FormName::CAPTION]));
    asked.0.push(horde.interrogate_image(&red, Vec::new()));
}

#[test]
fn an_image_in_memory_is_interrogated_without_encoding_in_the_frame() {
    let h = horde();
    let w = worker(
        "bevy-frame-alchemist",
        WorkerBackend::Backend(Arc::new(
            horde_core::worker::backends::image_facts::ImageFacts,
        )),
    );
    let mut app = app(&h, Some(w));
    app.insert_resource(HordeIdle(true))
        .init_resource::<Asked>()
        .add_systems(Update, interrogate_drawn);
    run_until(&mut app, |w| {
        let Some(Ok(e)) = w.resource::<Asked>().0.first().cloned() else {
            return false;
        };
        w.get::<HordeRequestState>(e)
            .is_some_and(HordeRequestState::is_final)
    });
    let asked = app.world().resource::<Asked>().0.clone();
    let e = asked[0].clone().unwrap();
    assert_eq!(state(&mut app, e), Some(HordeRequestState::Done));
    let got = &app.world().get::<HordeInterrogation>(e).unwrap().0;
    assert_eq!(got["caption"], "a 48x32 image, mostly blue");
    assert!(
        asked[1].as_ref().unwrap_err().contains("only RGBA8"),
        "{asked:?}"
    );
    assert!(
        asked[2].as_ref().unwrap_err().contains("no form"),
        "{asked:?}"
    );
    assert_eq!(ends_of(&app, e), [HordeRequestState::Done], "one end");
}

#[test]
fn the_games_worker_says_why_it_skips_the_games_own_request() {
    // A request built without `nsfw` allows NSFW (upstream's default), which
    // a default worker (no NSFW) skips: it says so, with the count.
    let h = horde();
    let mut w = bevy_horde::HordeWorker::new(
        "bevy-picky-dreamer",
        WorkerBackend::Backend(Arc::new(ProceduralImages)),
    );
    w.config.pacing.empty_secs = 0.02;
    w.config.pacing.idle_secs = 0.02;
    w.config.pacing.quiet_secs = 0.02;
    let mut app = app(&h, Some(w));
    app.insert_resource(HordeIdle(true));
    let e = app
        .world_mut()
        .spawn(HordeImageRequest(ImageGenerateRequest::new("a lighthouse")))
        .id();
    run_until(&mut app, |w| {
        w.resource::<Seen>().worker.iter().any(|ev| {
            matches!(ev, WorkerEvent::NothingToDo { skipped } if skipped.nsfw.unwrap_or(0) >= 1)
        })
    });
    assert!(
        matches!(state(&mut app, e), Some(HordeRequestState::Queued { .. })),
        "still waiting for a worker that takes NSFW requests"
    );
}

fn red_interrogation() -> horde_core::api::InterrogationRequest {
    use base64::Engine;
    let red = image::RgbaImage::from_pixel(64, 64, image::Rgba([200, 30, 30, 255]));
    let webp = horde_core::worker::backends::procedural::to_webp(&red).unwrap();
    serde_json::from_value(serde_json::json!({
        "source_image": base64::engine::general_purpose::STANDARD.encode(webp),
        "forms": [{"name": "caption"}]
    }))
    .unwrap()
}

fn worker_entity(app: &mut App, name: &str) -> Entity {
    let mut q = app
        .world_mut()
        .query::<(Entity, &bevy_horde::HordeWorker)>();
    q.iter(app.world())
        .find(|(_, w)| w.config.name == name)
        .map(|(e, _)| e)
        .unwrap()
}

fn said(app: &App, name: &str, what: impl Fn(&WorkerEvent) -> bool) -> usize {
    app.world()
        .resource::<Seen>()
        .status
        .iter()
        .filter(|s| s.worker == name && what(&s.event))
        .count()
}

fn run_to_end(app: &mut App, e: Entity) -> Option<HordeRequestState> {
    run_until(app, |w| {
        w.get::<HordeRequestState>(e)
            .is_some_and(HordeRequestState::is_final)
    });
    state(app, e)
}

#[test]
fn three_workers_of_three_kinds_serve_the_game_and_each_stops_or_restarts_alone() {
    let h = horde();
    let (dreamer, scribe, alchemist) = (
        "bevy-trio-dreamer",
        "bevy-trio-scribe",
        "bevy-trio-alchemist",
    );
    let text = WorkerBackend::Game {
        kind: WorkKind::Text,
        offer: Offer {
            models: vec!["koboldcpp/bevy-model".into()],
            ..Offer::default()
        },
    };
    let facts = horde_core::worker::backends::image_facts::ImageFacts;
    let mut app = app(
        &h,
        [
            worker(dreamer, WorkerBackend::Backend(Arc::new(ProceduralImages))),
            worker(scribe, text),
            worker(alchemist, WorkerBackend::Backend(Arc::new(facts))),
        ],
    );
    app.insert_resource(HordeIdle(true))
        .add_systems(Update, answer_jobs);

    // Each kind of request is served by the worker of its kind.
    let image = app
        .world_mut()
        .spawn(HordeImageRequest(image_request("a bridge", 64, 64)))
        .id();
    let mut req = TextGenerateRequest::new("Once".to_owned());
    req.options.models = Some(vec!["koboldcpp/bevy-model".into()]);
    let text = app.world_mut().spawn(HordeTextRequest(req)).id();
    let form = app
        .world_mut()
        .spawn(HordeInterrogationRequest(red_interrogation()))
        .id();
    for e in [image, text, form] {
        assert_eq!(run_to_end(&mut app, e), Some(HordeRequestState::Done));
    }
    let seen = app.world().resource::<Seen>();
    assert_eq!(seen.images[0].worker, dreamer);
    assert_eq!(seen.texts[0].worker, scribe);
    assert_eq!(
        app.world().get::<HordeInterrogation>(form).unwrap().0["caption"],
        "a 64x64 image, mostly red"
    );

    // Despawning one worker's entity stops that worker only.
    let e = worker_entity(&mut app, scribe);
    app.world_mut().despawn(e);
    run_until(&mut app, |w| {
        w.resource::<Seen>()
            .status
            .iter()
            .any(|s| s.worker == scribe && matches!(s.event, WorkerEvent::Stopped { .. }))
    });
    let next = app
        .world_mut()
        .spawn(HordeImageRequest(image_request("a second bridge", 64, 64)))
        .id();
    assert_eq!(run_to_end(&mut app, next), Some(HordeRequestState::Done));
    let stopped = |ev: &WorkerEvent| matches!(ev, WorkerEvent::Stopped { .. });
    assert_eq!(said(&app, dreamer, stopped), 0);
    assert_eq!(said(&app, alchemist, stopped), 0);

    // Changing a worker restarts it with the new settings: a 768² request
    // is beyond the default 512², and served once the worker allows 1024².
    let big = app
        .world_mut()
        .spawn(HordeImageRequest(image_request("a wide bridge", 768, 768)))
        .id();
    for _ in 0..20 {
        app.update();
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!state(&mut app, big).unwrap().is_final(), "too big for now");
    let e = worker_entity(&mut app, dreamer);
    app.world_mut()
        .get_mut::<bevy_horde::HordeWorker>(e)
        .unwrap()
        .config
        .max_pixels = 1024 * 1024;
    assert_eq!(run_to_end(&mut app, big), Some(HordeRequestState::Done));
    assert_eq!(
        said(&app, dreamer, stopped),
        1,
        "stopped once, then started again"
    );
    let started = |ev: &WorkerEvent| matches!(ev, WorkerEvent::Started { .. });
    assert_eq!(said(&app, dreamer, started), 2);
    assert_eq!(said(&app, alchemist, stopped), 0);

    // Despawned and spawned again under the same name in one frame: the
    // old one finishes and stops, then the new one starts and serves.
    let e = worker_entity(&mut app, dreamer);
    app.world_mut().despawn(e);
    app.world_mut().spawn(worker(
        dreamer,
        WorkerBackend::Backend(Arc::new(ProceduralImages)),
    ));
    let again = app
        .world_mut()
        .spawn(HordeImageRequest(image_request("a third bridge", 64, 64)))
        .id();
    assert_eq!(run_to_end(&mut app, again), Some(HordeRequestState::Done));
    run_until(&mut app, |w| {
        w.resource::<Seen>()
            .status
            .iter()
            .filter(|s| s.worker == dreamer && matches!(s.event, WorkerEvent::Started { .. }))
            .count()
            == 3
    });
    assert_eq!(said(&app, dreamer, stopped), 2);
    assert!(
        !app.world()
            .resource::<Seen>()
            .status
            .iter()
            .any(|s| matches!(&s.event, WorkerEvent::Error { fatal: true, .. })),
        "no worker was refused"
    );

    // Removing the component (the entity stays) stops it too.
    let e = worker_entity(&mut app, alchemist);
    app.world_mut()
        .entity_mut(e)
        .remove::<bevy_horde::HordeWorker>();
    run_until(&mut app, |w| {
        w.resource::<Seen>()
            .status
            .iter()
            .any(|s| s.worker == alchemist && matches!(s.event, WorkerEvent::Stopped { .. }))
    });
}

#[test]
fn a_plugin_that_cannot_start_ends_every_request_with_why_instead_of_panicking() {
    // A client agent that is not `name:version:contact`.
    let mut app = App::new();
    app.add_plugins((
        MinimalPlugins,
        AssetPlugin::default(),
        ImagePlugin::default(),
        HordePlugin::public("my game"),
    ));
    app.init_resource::<Seen>().add_systems(Update, record);
    let why = app
        .world()
        .get_resource::<bevy_horde::HordeUnavailable>()
        .expect("the plugin says why it has no runtime")
        .0
        .clone();
    assert!(why.contains("name:version:contact"), "{why}");
    app.init_resource::<Observed>();
    let e = app
        .world_mut()
        .spawn(HordeImageRequest(image_request("a door", 64, 64)))
        .observe(|ev: On<RequestEnded>, mut o: ResMut<Observed>| {
            o.0.push(format!("{:?}", ev.state));
        })
        .id();
    app.add_systems(Update, |horde: Horde, mut asked: Local<bool>| {
        if !*asked {
            *asked = true;
            assert_eq!(horde.find_user(), None, "nothing asked without a runtime");
        }
    });
    app.update();
    app.update();
    let failed = HordeRequestState::Failed {
        rc: None,
        message: why,
    };
    assert_eq!(state(&mut app, e), Some(failed.clone()));
    assert_eq!(
        ends_of(&app, e),
        std::slice::from_ref(&failed),
        "one end message"
    );
    assert_eq!(
        app.world().resource::<Observed>().0,
        [format!("{failed:?}")]
    );
}
