//! What the plugin costs a frame.
//!
//! - Idle (criterion): one `App::update` of a headless app (MinimalPlugins,
//!   AssetPlugin, ImagePlugin) with HordePlugin and nothing happening,
//!   against the same app without it.
//! - Busy: a game hosting its own horde ([`HordePlugin::with_horde`]) with a
//!   game-answered dreamer painting 1024² images, four 1024² requests kept
//!   in flight, at 60 frames a second; twice: the game painting a picture
//!   every 15 frames (4 a second), then every frame (60 a second, each a
//!   whole request's life: submitted, queued, done, its 4 MB result an
//!   asset, despawned). Bevy's asset tracking is ordered before the clock
//!   starts. A stopwatch around the plugin's
//!   sets (`HordeSet::Submit` to `HordeSet::Apply`), with `PreUpdate` on
//!   the single-threaded executor, times the plugin's own systems each
//!   frame (an upper bound: other `PreUpdate` systems the schedule places
//!   between the sets are counted too) — states, results turned into `Image` assets,
//!   messages; the game's `answer_images_owned` call (its buffers moved,
//!   not copied) is timed apart. p50, p99 and max are printed.
//!
//! Run: `cargo bench -p bevy_horde --bench frame` (`HORDE_BENCH_SECS`,
//! default 20, sets how long each busy part runs).

#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use bevy::MinimalPlugins;
use bevy::prelude::*;
use bevy_asset::AssetPlugin;
use bevy_horde::prelude::*;
use bevy_image::ImagePlugin;
use criterion::{Criterion, criterion_group};
use horde_core::api::ImageGenerateRequest;
use horde_core::coordinator::config::Config;
use horde_core::coordinator::embedded::EmbeddedHorde;
use std::time::{Duration, Instant};

fn base() -> App {
    let mut app = App::new();
    app.add_plugins((
        MinimalPlugins,
        AssetPlugin::default(),
        ImagePlugin::default(),
    ));
    app.finish();
    app.cleanup();
    app
}

fn frame(c: &mut Criterion) {
    let mut without = base();
    let mut with = App::new();
    with.add_plugins((
        MinimalPlugins,
        AssetPlugin::default(),
        ImagePlugin::default(),
        // Nothing requested, no worker: the plugin's idle cost.
        HordePlugin::public("bevy-horde-bench:0.1:https://example.invalid")
            .at("http://127.0.0.1:9/api", "0000000000"),
    ));
    with.finish();
    with.cleanup();
    for _ in 0..10 {
        without.update();
        with.update();
    }
    let mut g = c.benchmark_group("App::update");
    g.bench_function("without HordePlugin", |b| b.iter(|| without.update()));
    g.bench_function("with HordePlugin, idle", |b| b.iter(|| with.update()));
    g.finish();
}

criterion_group!(benches, frame);

const SIDE: u32 = 1024;
const IN_FLIGHT: usize = 4;

/// Durations of one kind of work.
#[derive(Resource, Default)]
struct Timings {
    plugin: Vec<Duration>,
    /// The same, for frames in which an image arrived.
    arriving: Vec<Duration>,
    answer: Vec<Duration>,
    started: Option<Instant>,
    images: usize,
}

fn report(name: &str, d: &mut [Duration]) {
    if d.is_empty() {
        println!("{name:<44} none");
        return;
    }
    d.sort();
    let at = |q: f64| d[((d.len() - 1) as f64 * q).round() as usize];
    println!(
        "{name:<44} {:>6}  p50 {:>8.1?}  p99 {:>8.1?}  max {:>8.1?}",
        d.len(),
        at(0.5),
        at(0.99),
        d[d.len() - 1]
    );
}

fn start_clock(mut t: ResMut<Timings>) {
    t.started = Some(Instant::now());
}

fn stop_clock(mut t: ResMut<Timings>, mut ready: MessageReader<HordeImageReady>) {
    if let Some(s) = t.started.take() {
        let took = s.elapsed();
        t.plugin.push(took);
        if ready.read().count() > 0 {
            t.arriving.push(took);
        }
    }
}

/// Frames between two answers of the game's painter (a resource, so one
/// bench runs both paces).
#[derive(Resource, Clone, Copy)]
struct FramesPerAnswer(u32);

fn paint(
    mut jobs: MessageReader<HordeWorkerJob>,
    horde: Horde,
    mut t: ResMut<Timings>,
    mut todo: Local<std::collections::VecDeque<HordeWorkerJob>>,
    mut frames: Local<u32>,
    pace: Res<FramesPerAnswer>,
) {
    static PIXELS: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    let pixels = PIXELS.get_or_init(|| {
        (0..SIDE * SIDE)
            .flat_map(|i| [(i % 251) as u8, (i / 4099) as u8, 90, 255])
            .collect()
    });
    todo.extend(jobs.read().cloned());
    *frames += 1;
    if *frames < pace.0 {
        return;
    }
    let Some(j) = todo.pop_front() else { return };
    *frames = 0;
    let Job::Image(img) = &j.job else { return };
    // The game renders into buffers of its own (untimed), then hands them
    // over.
    let pictures: Vec<SourceImage> = (0..img.count.max(1))
        .map(|_| SourceImage {
            width: SIDE,
            height: SIDE,
            rgba: pixels.clone(),
        })
        .collect();
    let start = Instant::now();
    horde.answer_images_owned(&j, pictures).expect("answered");
    t.answer.push(start.elapsed());
}

fn top_up(
    mut commands: Commands,
    mut ready: MessageReader<HordeImageReady>,
    mut ended: MessageReader<HordeRequestEnded>,
    live: Query<Entity, With<HordeImageRequest>>,
    mut t: ResMut<Timings>,
) {
    t.images += ready.read().count();
    for e in ended.read() {
        commands.entity(e.entity).despawn();
    }
    for _ in live.iter().count()..IN_FLIGHT {
        let req = ImageGenerateRequest::new("a busy frame")
            .size(SIDE, SIDE)
            .steps(1)
            .model("bench-painter")
            .allow_nsfw(false);
        commands.spawn(HordeImageRequest(req));
    }
}

fn busy(pace: FramesPerAnswer) {
    let secs: u64 = std::env::var("HORDE_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let horde = EmbeddedHorde::start(Config::embedded()).expect("a private horde");
    let mut painter = HordeWorker::new(
        "bench-painter",
        WorkerBackend::Game {
            kind: WorkKind::Image,
            offer: Offer {
                models: vec!["bench-painter".into()],
                ..Offer::default()
            },
        },
    );
    painter.config.max_pixels = u64::from(SIDE * SIDE);
    painter.config.pacing.empty_secs = 0.05;
    painter.config.pacing.idle_secs = 0.05;
    let mut plugin = HordePlugin::with_horde("bevy-horde-bench:0.1:https://example.invalid", horde)
        .expect("the game's key")
        .with_worker(painter);
    plugin.policy.min_poll = 0.25;
    let mut app = App::new();
    app.add_plugins((
        MinimalPlugins,
        AssetPlugin::default(),
        ImagePlugin::default(),
        plugin,
    ))
    .insert_resource(HordeIdle(true))
    .init_resource::<Timings>()
    .insert_resource(pace)
    .add_systems(
        PreUpdate,
        (
            // Bevy's asset tracking (which frees the 4 MB images of
            // despawned requests) runs before the clock starts.
            start_clock
                .after(bevy_asset::AssetTrackingSystems)
                .before(HordeSet::Submit),
            stop_clock.after(HordeSet::Apply),
        ),
    )
    .add_systems(Update, (paint, top_up));
    // One thread for `PreUpdate`: the stopwatch then times the systems'
    // own work, not the multi-threaded executor handing each set to a
    // thread (tens of µs each on a loaded 2-core machine).
    app.edit_schedule(PreUpdate, |s| {
        s.set_executor(bevy::ecs::schedule::SingleThreadedExecutor::new());
    });
    app.finish();
    app.cleanup();
    let frame = Duration::from_micros(16_667);
    let end = Instant::now() + Duration::from_secs(secs);
    let mut next = Instant::now();
    while Instant::now() < end {
        app.update();
        next += frame;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    let t = app.world_mut().resource_mut::<Timings>().into_inner();
    println!(
        "busy for {secs} s, the game painting every {} frame(s): {} frames, {} images of {SIDE}² arrived",
        pace.0,
        t.plugin.len(),
        t.images
    );
    report("the plugin's systems, per frame", &mut t.plugin);
    report("  in frames where an image arrived", &mut t.arriving);
    report("Horde::answer_images_owned (1024², moved)", &mut t.answer);
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    // A picture every quarter second: what two cores encode, store and
    // decode with room to spare.
    busy(FramesPerAnswer(15));
    // A picture every frame: the runtime's coding keeps both cores busy.
    busy(FramesPerAnswer(1));
}
