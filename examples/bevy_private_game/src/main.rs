//! A headless Bevy game that hosts its own private AI Horde and serves it
//! with three workers of its own: a painter (images), a storyteller (text)
//! and a critic (captions). It asks its horde for two pictures of a potion
//! and a story, then for a caption of the first picture, prints what
//! arrives, and exits when every request has ended (exit status 1 when one
//! failed or nothing ended within a minute).
//!
//! ```text
//! cargo run -p bevy_private_game -- [DATA_DIR]
//! ```
//!
//! `DATA_DIR` (default: `bevy-private-game` in the system's temporary
//! directory) keeps the horde's accounts and the game's key between runs.
//! Everything horde-related is one line each: the plugin, each worker, each
//! request, each answer.

use std::time::Duration;

use bevy::MinimalPlugins;
use bevy::app::ScheduleRunnerPlugin;
use bevy::asset::AssetPlugin;
use bevy::image::ImagePlugin;
use bevy::prelude::*;
use bevy_horde::horde_core::api::{ImageGenerateRequest, TextGenerateRequest};
use bevy_horde::prelude::*;

const AGENT: &str = "bevy-private-game:0.1:https://example.invalid";
/// Frames before the game gives up (a minute at 60 Hz).
const GIVE_UP_FRAMES: u32 = 60 * 60;

fn main() -> AppExit {
    let dir = std::env::args_os()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("bevy-private-game"));
    let plugin = match HordePlugin::private(AGENT, &dir) {
        Ok(plugin) => plugin,
        Err(e) => {
            eprintln!("cannot host the horde in {}: {e}", dir.display());
            return AppExit::error();
        }
    };
    App::new()
        .add_plugins((
            MinimalPlugins.set(ScheduleRunnerPlugin::run_loop(Duration::from_secs_f64(
                1.0 / 60.0,
            ))),
            AssetPlugin::default(),
            ImagePlugin::default(),
            plugin
                .with_worker(HordeWorker::new("painter", game(WorkKind::Image)))
                .with_worker(HordeWorker::new("storyteller", game(WorkKind::Text)))
                .with_worker(HordeWorker::new("critic", game(WorkKind::Alchemy))),
        ))
        // The player is away: the game's workers may take jobs.
        .insert_resource(HordeIdle(true))
        .init_resource::<Progress>()
        .add_systems(Startup, ask)
        .add_systems(
            Update,
            (paint, tell, criticise, caption_first_picture, report).chain(),
        )
        .run()
}

/// A worker whose jobs this game answers.
fn game(kind: WorkKind) -> WorkerBackend {
    let offer = match kind {
        WorkKind::Image => Offer {
            models: vec!["potion-painter".into()],
            ..Offer::default()
        },
        WorkKind::Text => Offer {
            models: vec!["koboldcpp/storyteller".into()],
            ..Offer::default()
        },
        WorkKind::Alchemy => Offer {
            forms: vec![FormName::CAPTION],
            ..Offer::default()
        },
    };
    WorkerBackend::Game { kind, offer }
}

/// The requests still running, and what the game learnt.
#[derive(Resource, Default)]
struct Progress {
    running: Vec<Entity>,
    captioned: bool,
    failed: bool,
    frames: u32,
}

fn ask(mut horde: Horde, mut progress: ResMut<Progress>) {
    let pictures = horde.request_image(
        ImageGenerateRequest::new("a red potion on a wooden table")
            .size(64, 64)
            .n(2)
            .allow_nsfw(false),
    );
    let story = horde.request_text(TextGenerateRequest::new("Once upon a time").max_length(40));
    progress.running.extend([pictures, story]);
}

/// The painter: a picture tinted by the prompt, handed over without a copy.
fn paint(mut jobs: MessageReader<HordeWorkerJob>, horde: Horde) {
    for job in jobs.read() {
        let Job::Image(image) = &job.job else {
            continue;
        };
        let tint = if image.prompt.contains("red") {
            [200, 30, 30, 255]
        } else {
            [30, 30, 200, 255]
        };
        let pictures = (0..image.count.max(1))
            .map(|_| SourceImage {
                width: image.width,
                height: image.height,
                rgba: tint.repeat((image.width * image.height) as usize),
            })
            .collect();
        if let Err(why) = horde.answer_images_owned(job, pictures) {
            eprintln!("painter: {why}");
        }
    }
}

/// The storyteller.
fn tell(mut jobs: MessageReader<HordeWorkerJob>, horde: Horde) {
    for job in jobs.read() {
        if matches!(job.job, Job::Text(_)) {
            let _ = horde.answer_text(job, " there was a potion nobody dared to drink.");
        }
    }
}

/// The critic: names the picture's strongest colour.
fn criticise(mut jobs: MessageReader<HordeWorkerJob>, horde: Horde) {
    for job in jobs.read() {
        let Job::Form(_) = job.job else { continue };
        let caption = match &job.source {
            Some(picture) => {
                let mut sum = [0u64; 3];
                for px in picture.rgba.chunks_exact(4) {
                    for (s, &c) in sum.iter_mut().zip(px) {
                        *s += u64::from(c);
                    }
                }
                let names = ["red", "green", "blue"];
                let strongest = (0..3).max_by_key(|&i| sum[i]).unwrap_or(0);
                format!("a mostly {} picture", names[strongest])
            }
            None => "a picture I could not see".into(),
        };
        let _ = horde.answer_form(job, serde_json::json!(caption));
    }
}

/// Once the first picture is in `Assets<Image>`, asks the horde to caption it.
fn caption_first_picture(
    mut ready: MessageReader<HordeImageReady>,
    images: Res<Assets<Image>>,
    mut horde: Horde,
    mut progress: ResMut<Progress>,
) {
    for r in ready.read() {
        println!(
            "picture {} of the potion: {}x{} by {}",
            r.index + 1,
            images.get(&r.image).map_or(0, Image::width),
            images.get(&r.image).map_or(0, Image::height),
            r.worker
        );
        if progress.captioned {
            continue;
        }
        let Some(image) = images.get(&r.image) else {
            continue;
        };
        match horde.interrogate_image(image, vec![FormName::CAPTION]) {
            Ok(e) => {
                progress.captioned = true;
                progress.running.push(e);
            }
            Err(why) => {
                eprintln!("cannot caption the picture: {why}");
                progress.failed = true;
            }
        }
    }
}

/// Prints what arrives; exits once every request ended.
fn report(
    mut texts: MessageReader<HordeTextReady>,
    mut forms: MessageReader<HordeInterrogationReady>,
    mut ended: MessageReader<HordeRequestEnded>,
    mut progress: ResMut<Progress>,
    mut exit: MessageWriter<AppExit>,
) {
    for t in texts.read() {
        println!("story by {}: Once upon a time{}", t.worker, t.text);
    }
    for f in forms.read() {
        println!("caption: {}", f.result["caption"]);
    }
    for e in ended.read() {
        if e.state != HordeRequestState::Done {
            eprintln!("a request ended {:?}", e.state);
            progress.failed = true;
        }
        progress.running.retain(|r| *r != e.entity);
    }
    progress.frames += 1;
    if progress.running.is_empty() && progress.captioned {
        println!("every request ended");
        exit.write(if progress.failed {
            AppExit::error()
        } else {
            AppExit::Success
        });
    } else if progress.frames > GIVE_UP_FRAMES {
        eprintln!("gave up: {} requests still running", progress.running.len());
        exit.write(AppExit::error());
    }
}
