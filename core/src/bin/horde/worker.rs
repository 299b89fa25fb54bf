//! `horde worker --config worker.toml`: a dedicated worker with a live
//! status line. Ctrl-C finishes the current job, enters maintenance and
//! exits; a second Ctrl-C hands the job back as faulted first.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use horde_core::client::{ClientConfig, HordeClient};
use horde_core::worker::{BackendConfig, Worker, WorkerConfig, WorkerEvent, control_pair};
use serde::Deserialize;

/// `worker.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerFile {
    /// The horde's API base URL.
    #[serde(default = "public_horde")]
    pub url: String,
    /// The owner's API key (or `HORDE_API_KEY`).
    #[serde(default)]
    pub api_key: Option<String>,
    /// What the worker tells the horde.
    pub worker: WorkerConfig,
    /// What does the work.
    pub backend: BackendConfig,
}

fn public_horde() -> String {
    horde_core::api::PUBLIC_HORDE_URL.to_owned()
}

impl WorkerFile {
    /// Reads `path`.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// The live status line's state.
#[derive(Default)]
struct Status {
    done: u64,
    faulted: u64,
    kudos: f64,
    current: Option<String>,
    note: String,
}

impl Status {
    fn apply(&mut self, e: &WorkerEvent) {
        match e {
            WorkerEvent::Started { name, models } => {
                self.note = format!("{name} serving {}", models.join(", "));
            }
            WorkerEvent::JobReceived { summary, .. } => self.current = Some(summary.clone()),
            WorkerEvent::JobFinished { state, error, .. } => {
                self.current = None;
                match error {
                    Some(why) => {
                        self.faulted +=
                            u64::from(*state == horde_core::api::GenerationState::Faulted);
                        self.note = format!("last job: {why}");
                    }
                    None => {
                        self.done += 1;
                        self.note.clear();
                    }
                }
            }
            WorkerEvent::KudosEarned { total, .. } => self.kudos = *total,
            WorkerEvent::NothingToDo { skipped } => {
                let skipped = serde_json::to_string(skipped).unwrap_or_default();
                self.note = if skipped == "{}" {
                    "waiting for work".into()
                } else {
                    format!("waiting; skipped {skipped}")
                };
            }
            WorkerEvent::Maintenance { on, reason } => {
                self.note = format!("maintenance {}: {reason}", if *on { "on" } else { "off" });
            }
            WorkerEvent::Error { message, .. } => self.note = message.clone(),
            WorkerEvent::Offering { .. } | WorkerEvent::Stopped { .. } => {}
        }
    }

    fn line(&self, since: Instant) -> String {
        let now = match &self.current {
            Some(job) => format!("working on {job}"),
            None => self.note.clone(),
        };
        format!(
            "{} jobs, {} faulted, {:.1} kudos in {:.0} min | {now}",
            self.done,
            self.faulted,
            self.kudos,
            since.elapsed().as_secs_f64() / 60.0
        )
    }
}

/// Runs the worker of `file` until Ctrl-C.
pub fn run(file: WorkerFile, key: Option<String>) -> Result<(), String> {
    let key = key
        .or(file.api_key.clone())
        .ok_or("no API key: set api_key in the file or HORDE_API_KEY")?;
    let mut client = ClientConfig::new(format!(
        "horde-rs-worker:{}:https://example.invalid/horde-rs",
        env!("CARGO_PKG_VERSION")
    ));
    client.base_url = file.url.clone();
    client.api_key = key;
    client.timeout = std::time::Duration::from_secs(60);
    let client = HordeClient::new(client).map_err(|e| e.to_string())?;
    eprintln!("loading the {:?} backend…", backend_kind(&file.backend));
    let backend = file.backend.build().map_err(|e| e.to_string())?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let (handle, control) = control_pair();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("\nstopping after the current job (Ctrl-C again to hand it back now)…");
                handle.stop();
            }
            if tokio::signal::ctrl_c().await.is_ok() {
                handle.take_gpu_back();
            }
        });
        let since = Instant::now();
        let mut status = Status::default();
        let worker = Worker::new(client, file.worker, backend);
        let result = worker
            .run(control, |e| {
                status.apply(&e);
                if let WorkerEvent::Stopped { stats } = &e {
                    eprintln!(
                        "\r\x1b[2Kstopped: {} jobs, {} faulted, {:.1} kudos",
                        stats.jobs_done, stats.jobs_faulted, stats.kudos
                    );
                } else {
                    eprint!("\r\x1b[2K{}", status.line(since));
                    let _ = std::io::stderr().flush();
                }
            })
            .await;
        result.map(|_| ()).map_err(|e| e.to_string())
    })
}

fn backend_kind(b: &BackendConfig) -> &'static str {
    match b {
        BackendConfig::Procedural => "procedural",
        BackendConfig::ImageFacts => "image-facts",
        BackendConfig::KoboldCpp { .. } => "koboldcpp",
        BackendConfig::LlamaCpp { .. } => "llamacpp",
        BackendConfig::OpenAi { .. } => "openai",
        BackendConfig::A1111 { .. } => "a1111",
        BackendConfig::ComfyUi { .. } => "comfyui",
        BackendConfig::Candle { .. } => "candle",
    }
}
