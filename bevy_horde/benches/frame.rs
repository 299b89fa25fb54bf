//! What the plugin costs a frame when nothing is happening: one
//! `App::update` of a headless app (MinimalPlugins, AssetPlugin,
//! ImagePlugin) with HordePlugin idle, against the same app without it.
//!
//! Run: `cargo bench -p bevy_horde --bench frame`.

#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use bevy::MinimalPlugins;
use bevy::prelude::*;
use bevy_asset::AssetPlugin;
use bevy_horde::HordePlugin;
use bevy_image::ImagePlugin;
use criterion::{Criterion, criterion_group, criterion_main};

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
criterion_main!(benches);
