//! `horde demo`: the whole horde in one process. A private coordinator on a
//! temporary SQLite, workers lent by a "game" through the runtime (the
//! built-in picture and caption backends, and with `--text-model` a GGUF
//! run by candle), and that game requesting an image, its caption and a
//! text through the same runtime — exactly as a game would.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use horde_core::api::{
    ImageGenerateRequest, ImageParams, ImageSettings, InterrogationRequest, TextGenerateRequest,
    TextParams,
};
use horde_core::client::ClientConfig;
use horde_core::coordinator::config::Config;
use horde_core::coordinator::horde::NewUser;
use horde_core::coordinator::server::Coordinator;
use horde_core::runtime::{Event, RequestId, Runtime, RuntimeConfig, WorkerBackend};
use horde_core::worker::backends::procedural::{PROCEDURAL_MODEL, to_webp};
use horde_core::worker::{BackendConfig, WorkerConfig, WorkerEvent};

/// What `horde demo` was asked.
pub struct Demo {
    /// The prompt of the picture.
    pub prompt: String,
    /// Where the picture goes.
    pub output: PathBuf,
    /// A GGUF text model for the text request (needs the `candle` feature).
    pub text_model: Option<PathBuf>,
}

/// A directory that is removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn run(demo: Demo) -> Result<(), String> {
    let text_backend = demo
        .text_model
        .as_deref()
        .map(|path| {
            eprintln!("loading {}…", path.display());
            BackendConfig::Candle {
                path: path.to_owned(),
                model: None,
            }
            .build()
            .map_err(|e| e.to_string())
        })
        .transpose()?;
    let dir = TempDir(std::env::temp_dir().join(format!(
        "horde-demo-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    )));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let (api, key, stop, server) = rt.block_on(start_horde(&dir.0))?;
    eprintln!(
        "a private horde is serving at {api} (data in {})",
        dir.0.display()
    );
    let result = play(&api, &key, &demo, text_backend);
    let _ = stop.send(());
    let _ = rt.block_on(server);
    result
}

type Server = tokio::task::JoinHandle<Result<(), String>>;

async fn start_horde(
    dir: &Path,
) -> Result<(String, String, tokio::sync::oneshot::Sender<()>, Server), String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let config = Config {
        data_dir: dir.to_owned(),
        listen: addr,
        ..Config::default()
    };
    let coordinator = Coordinator::open(config, addr).map_err(|e| e.to_string())?;
    let (_, key) = coordinator
        .app()
        .run(|h| {
            h.create_user(NewUser {
                alias: "player".into(),
                kudos: 100.0,
                trusted: true,
                ..NewUser::default()
            })
        })
        .await
        .map_err(|e| e.body.message)?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        coordinator
            .serve(listener, async {
                let _ = stopped.await;
            })
            .await
            .map_err(|e| e.to_string())
    });
    Ok((format!("http://{addr}/api"), key, stop, server))
}

fn worker(name: &str) -> WorkerConfig {
    WorkerConfig {
        nsfw: true,
        ..WorkerConfig::named(name)
    }
}

fn play(
    api: &str,
    key: &str,
    demo: &Demo,
    text_backend: Option<Arc<dyn horde_core::worker::Backend>>,
) -> Result<(), String> {
    let mut client = ClientConfig::new(format!(
        "horde-rs-demo:{}:https://example.invalid/horde-rs",
        env!("CARGO_PKG_VERSION")
    ));
    client.base_url = api.to_owned();
    client.api_key = key.to_owned();
    let game = Runtime::start(RuntimeConfig::new(client)).map_err(|e| e.to_string())?;
    // The player is away: the game lends its GPU.
    game.start_worker(
        worker("demo-dreamer"),
        WorkerBackend::Backend(
            BackendConfig::Procedural
                .build()
                .map_err(|e| e.to_string())?,
        ),
        true,
    );
    game.start_worker(
        worker("demo-alchemist"),
        WorkerBackend::Backend(
            BackendConfig::ImageFacts
                .build()
                .map_err(|e| e.to_string())?,
        ),
        true,
    );
    let text_model = text_backend.as_ref().map(|_| ());
    if let Some(b) = text_backend {
        game.start_worker(worker("demo-scribe"), WorkerBackend::Backend(b), true);
    }

    let mut image = ImageGenerateRequest::new(demo.prompt.clone());
    image.params = Some(ImageParams {
        settings: ImageSettings {
            width: Some(512),
            height: Some(512),
            seed: Some("2026".into()),
            ..ImageSettings::default()
        },
        steps: Some(20),
        ..ImageParams::default()
    });
    image.options.models = Some(vec![PROCEDURAL_MODEL.into()]);
    let image_id = game.submit_image(image);
    let mut waiting = vec![image_id];
    let text_id = text_model.map(|()| {
        let mut req =
            TextGenerateRequest::new("Once upon a time, in a lighthouse on a cliff,".to_owned());
        req.params = Some(TextParams {
            max_length: Some(48),
            temperature: Some(0.7),
            ..TextParams::default()
        });
        game.submit_text(req)
    });
    waiting.extend(text_id);
    let mut caption_id: Option<RequestId> = None;
    let started = Instant::now();
    while !waiting.is_empty() {
        if started.elapsed() > Duration::from_secs(600) {
            return Err("the demo took more than 10 minutes".into());
        }
        while let Some(e) = game.try_event() {
            match e {
                Event::ImageReady {
                    id,
                    width,
                    height,
                    rgba,
                    seed,
                    worker,
                    ..
                } if id == image_id => {
                    image::save_buffer(
                        &demo.output,
                        &rgba,
                        width,
                        height,
                        image::ExtendedColorType::Rgba8,
                    )
                    .map_err(|e| format!("cannot write {}: {e}", demo.output.display()))?;
                    println!(
                        "image: {} ({width}x{height}, seed {seed}, by {worker})",
                        demo.output.display()
                    );
                    // Ask the horde what it sees in it.
                    let img = image::RgbaImage::from_raw(width, height, rgba).ok_or("bad image")?;
                    let webp = to_webp(&img).map_err(|e| e.to_string())?;
                    let req: InterrogationRequest = serde_json::from_value(serde_json::json!({
                        "source_image": base64::engine::general_purpose::STANDARD.encode(webp),
                        "forms": [{"name": "caption"}],
                    }))
                    .map_err(|e| e.to_string())?;
                    let id = game.submit_interrogation(req);
                    caption_id = Some(id);
                    waiting.push(id);
                }
                Event::InterrogationReady { result, .. } => {
                    println!(
                        "caption: {}",
                        result
                            .get("caption")
                            .and_then(|c| c.as_str())
                            .unwrap_or("?")
                    );
                }
                Event::TextReady { text, worker, .. } => {
                    println!(
                        "text (by {worker}): Once upon a time, in a lighthouse on a cliff,{text}"
                    );
                }
                Event::Completed { id } | Event::Cancelled { id } => waiting.retain(|w| *w != id),
                Event::Failed { id, error } => {
                    let what = if id == image_id {
                        "image"
                    } else if Some(id) == caption_id {
                        "caption"
                    } else {
                        "text"
                    };
                    return Err(format!("the {what} request failed: {}", error.message));
                }
                Event::Worker {
                    name,
                    event: WorkerEvent::KudosEarned { amount, .. },
                } => {
                    eprintln!("{name} earned {amount:.1} kudos");
                }
                Event::Worker {
                    name,
                    event: WorkerEvent::Error { message, .. },
                } => {
                    eprintln!("{name}: {message}");
                }
                _ => {}
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if text_id.is_none() {
        println!(
            "text: none (run with --text-model FILE.gguf and the `candle` feature for a text worker)"
        );
    }
    // The player is back: workers finish, enter maintenance and stop.
    game.shutdown();
    Ok(())
}
