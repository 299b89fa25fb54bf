//! bevy_gallery: type a prompt, press Enter, watch the request's progress,
//! and see the images appear in a grid — with `bevy_horde` and no async
//! code of the game's own.
//!
//! ```text
//! cargo run -p bevy_gallery                       # a window, the public horde
//! cargo run -p bevy_gallery -- [--model NAME] "a prompt" …   # requested at start
//! HORDE_URL=http://127.0.0.1:7001/api HORDE_API_KEY=… cargo run -p bevy_gallery
//! cargo run -p bevy_gallery -- --headless --frames 600 [--model NAME] "a red potion"
//! ```
//!
//! Headless, it requests the prompt given on the command line, runs at most
//! `--frames` frames without a window or renderer, and prints what happened.

use bevy::input::ButtonState;
use bevy::input::keyboard::{Key, KeyboardInput};
use bevy::prelude::*;
use bevy_horde::prelude::*;

const AGENT: &str = "bevy_gallery:0.1:https://example.invalid/horde-rs";

fn plugin() -> HordePlugin {
    let mut p = HordePlugin::public(AGENT);
    if let Ok(url) = std::env::var("HORDE_URL") {
        p.base_url = url;
    }
    if let Ok(key) = std::env::var("HORDE_API_KEY") {
        p.api_key = key;
    }
    p
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--headless") {
        headless(&args);
        return;
    }
    App::new()
        .add_plugins((
            DefaultPlugins.set(WindowPlugin {
                primary_window: Some(Window {
                    title: "horde gallery".into(),
                    ..default()
                }),
                ..default()
            }),
            plugin(),
        ))
        .init_resource::<Prompt>()
        .insert_resource(StartWith(args))
        .add_systems(Startup, (setup, start_with))
        .add_systems(Update, (type_prompt, show_progress, add_images))
        .run();
}

/// Prompts given on the command line (`--model NAME` picks the model),
/// requested at start.
#[derive(Resource)]
struct StartWith(Vec<String>);

fn start_with(start: Res<StartWith>, mut horde: Horde) {
    let mut model = None;
    let mut it = start.0.iter();
    while let Some(a) = it.next() {
        if a == "--model" {
            model = it.next().cloned();
            continue;
        }
        let mut req = bevy_horde::horde_core::api::ImageGenerateRequest::new(a.clone());
        req.params = Some(bevy_horde::horde_core::api::ImageParams {
            n: Some(2),
            ..default()
        });
        req.options.models = model.clone().map(|m| vec![m]);
        horde.request_image(req);
    }
}

/// The prompt being typed.
#[derive(Resource, Default)]
struct Prompt(String);

#[derive(Component)]
struct PromptText;

#[derive(Component)]
struct StatusText;

#[derive(Component)]
struct Grid;

fn setup(mut commands: Commands) {
    commands.spawn(Camera2d);
    commands
        .spawn(Node {
            width: Val::Percent(100.0),
            height: Val::Percent(100.0),
            flex_direction: FlexDirection::Column,
            padding: UiRect::all(Val::Px(12.0)),
            row_gap: Val::Px(8.0),
            ..default()
        })
        .with_children(|root| {
            root.spawn((Text::new("Type a prompt and press Enter: "), PromptText));
            root.spawn((Text::new(""), StatusText));
            root.spawn((
                Node {
                    flex_wrap: FlexWrap::Wrap,
                    column_gap: Val::Px(8.0),
                    row_gap: Val::Px(8.0),
                    ..default()
                },
                Grid,
            ));
        });
}

fn type_prompt(
    mut keys: MessageReader<KeyboardInput>,
    mut prompt: ResMut<Prompt>,
    mut text: Query<&mut Text, With<PromptText>>,
    mut horde: Horde,
) {
    for k in keys.read() {
        if k.state != ButtonState::Pressed {
            continue;
        }
        match &k.logical_key {
            Key::Enter if !prompt.0.trim().is_empty() => {
                let mut req =
                    bevy_horde::horde_core::api::ImageGenerateRequest::new(prompt.0.clone());
                req.params = Some(bevy_horde::horde_core::api::ImageParams {
                    n: Some(2),
                    ..default()
                });
                horde.request_image(req);
                prompt.0.clear();
            }
            Key::Backspace => {
                prompt.0.pop();
            }
            Key::Space => prompt.0.push(' '),
            Key::Character(c) => prompt.0.push_str(c),
            _ => {}
        }
    }
    if prompt.is_changed()
        && let Ok(mut t) = text.single_mut()
    {
        t.0 = format!("Type a prompt and press Enter: {}", prompt.0);
    }
}

fn describe(state: &HordeRequestState) -> String {
    match state {
        HordeRequestState::Submitted => "sent".into(),
        HordeRequestState::WaitingForSlot => "waiting for a free slot".into(),
        HordeRequestState::Retrying { message, retry_in } => {
            format!("horde not answering ({message}); retrying in {retry_in:.0} s")
        }
        HordeRequestState::Queued {
            position,
            wait_time,
        } => {
            format!("queued at {position}, about {wait_time} s")
        }
        HordeRequestState::Processing {
            waiting,
            processing,
            finished,
        } => {
            format!("{finished} done, {processing} in progress, {waiting} waiting")
        }
        HordeRequestState::Done => "done".into(),
        HordeRequestState::Failed { rc, message } => {
            format!("failed ({}): {message}", rc.as_deref().unwrap_or("?"))
        }
        HordeRequestState::Cancelled => "cancelled".into(),
    }
}

fn show_progress(
    requests: Query<&HordeRequestState, Changed<HordeRequestState>>,
    mut text: Query<&mut Text, With<StatusText>>,
) {
    if let (Some(state), Ok(mut t)) = (requests.iter().last(), text.single_mut()) {
        t.0 = describe(state);
    }
}

fn add_images(
    mut ready: MessageReader<HordeImageReady>,
    grid: Query<Entity, With<Grid>>,
    mut commands: Commands,
) {
    let Ok(grid) = grid.single() else { return };
    for r in ready.read() {
        let cell = commands
            .spawn((
                ImageNode::new(r.image.clone()),
                Node {
                    width: Val::Px(192.0),
                    height: Val::Px(192.0),
                    ..default()
                },
            ))
            .id();
        commands.entity(grid).add_child(cell);
    }
}

/// No window, no renderer: request the prompt, run at most `--frames`
/// frames (about 60 a second), print progress and the images' sizes.
fn headless(args: &[String]) {
    let mut frames: u32 = 600;
    let mut prompt = "a red potion on a wooden table".to_owned();
    let mut model = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--headless" => {}
            "--frames" => frames = it.next().and_then(|f| f.parse().ok()).unwrap_or(frames),
            "--model" => model = it.next().cloned(),
            other => prompt = other.to_owned(),
        }
    }
    let mut app = App::new();
    app.add_plugins((
        MinimalPlugins,
        bevy::asset::AssetPlugin::default(),
        bevy::image::ImagePlugin::default(),
        plugin(),
    ));
    let mut req = bevy_horde::horde_core::api::ImageGenerateRequest::new(prompt.clone());
    req.options.models = model.map(|m| vec![m]);
    let request = app.world_mut().spawn(HordeImageRequest(req)).id();
    let mut last = String::new();
    for _ in 0..frames {
        app.update();
        let Some(state) = app.world().get::<HordeRequestState>(request).cloned() else {
            continue;
        };
        let now = describe(&state);
        if now != last {
            println!("{prompt:?}: {now}");
            last = now;
        }
        if state.is_final() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(16));
    }
    if let Some(images) = app.world().get::<HordeImages>(request) {
        let assets = app.world().resource::<Assets<Image>>();
        for h in &images.0 {
            if let Some(img) = assets.get(h) {
                println!("image {}x{}", img.width(), img.height());
            }
        }
    }
}
