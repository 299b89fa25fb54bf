//! The I/O thread: a single-threaded tokio runtime that runs each request
//! through the client's lifecycle driver, at most `max_in_flight` at once,
//! and hands every outcome to the decode thread.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use crossbeam_channel::Sender;
use parking_lot::Mutex;

use super::events::{Delivery, Event};
use super::{Command, RequestId, RuntimeConfig};
use crate::client::lifecycle::Note;
use crate::client::{CancelHandle, HordeClient, cancel_pair};

type Cancels = Arc<Mutex<HashMap<RequestId, CancelHandle>>>;

pub(crate) fn run(
    client: HordeClient,
    config: RuntimeConfig,
    mut commands: tokio::sync::mpsc::UnboundedReceiver<Command>,
    out: Sender<Delivery>,
) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the horde runtime");
            return;
        }
    };
    let cancels: Cancels = Arc::default();
    let slots = Arc::new(tokio::sync::Semaphore::new(config.max_in_flight.max(1)));
    let tasks = tokio::task::LocalSet::new();
    tasks.block_on(&rt, async {
        let mut running = Vec::new();
        while let Some(command) = commands.recv().await {
            match command {
                Command::Cancel(id) => {
                    if let Some(c) = cancels.lock().get(&id) {
                        c.cancel();
                    }
                }
                Command::CancelAll => cancels.lock().values().for_each(CancelHandle::cancel),
                Command::Image(id, req) => {
                    running.push(tokio::task::spawn_local(image(
                        id,
                        *req,
                        client.clone(),
                        config.clone(),
                        cancels.clone(),
                        slots.clone(),
                        out.clone(),
                    )));
                }
                Command::Interrogation(id, req) => {
                    running.push(tokio::task::spawn_local(interrogation(
                        id,
                        *req,
                        client.clone(),
                        config.clone(),
                        cancels.clone(),
                        slots.clone(),
                        out.clone(),
                    )));
                }
                Command::Text(id, req) => {
                    running.push(tokio::task::spawn_local(text(
                        id,
                        *req,
                        client.clone(),
                        config.clone(),
                        cancels.clone(),
                        slots.clone(),
                        out.clone(),
                    )));
                }
            }
            running.retain(|t| !t.is_finished());
        }
        // The handle is gone: cancel what is outstanding, within the grace.
        cancels.lock().values().for_each(CancelHandle::cancel);
        let all = futures_all(running);
        let _ = tokio::time::timeout(config.shutdown_grace, all).await;
    });
}

async fn futures_all(tasks: Vec<tokio::task::JoinHandle<()>>) {
    for t in tasks {
        let _ = t.await;
    }
}

fn note_event(id: RequestId, note: &Note) -> Option<Event> {
    match note {
        Note::Queued {
            position,
            wait_time,
        } => Some(Event::Queued {
            id,
            position: *position,
            wait_time: *wait_time,
        }),
        Note::Progress {
            waiting,
            processing,
            finished,
            restarted,
        } => Some(Event::Progress {
            id,
            waiting: *waiting,
            processing: *processing,
            finished: *finished,
            restarted: *restarted,
        }),
        // Endings are sent after the results.
        Note::Completed | Note::Failed(_) | Note::Cancelled => None,
    }
}

fn ending(id: RequestId, notes: &[Note]) -> Event {
    match notes.last() {
        Some(Note::Cancelled) => Event::Cancelled { id },
        Some(Note::Failed(e)) => Event::Failed {
            id,
            error: e.clone(),
        },
        _ => Event::Completed { id },
    }
}

#[allow(clippy::too_many_arguments)]
async fn image(
    id: RequestId,
    req: crate::api::ImageGenerateRequest,
    client: HordeClient,
    config: RuntimeConfig,
    cancels: Cancels,
    slots: Arc<tokio::sync::Semaphore>,
    out: Sender<Delivery>,
) {
    let (handle, signal) = cancel_pair();
    cancels.lock().insert(id, handle);
    let Ok(_slot) = slots.acquire().await else {
        return;
    };
    if signal.is_set() {
        // Cancelled while waiting for a slot: the horde never heard of it.
        cancels.lock().remove(&id);
        let _ = out.send(Delivery::Event(Event::Cancelled { id }));
        return;
    }
    let mut endings = Vec::new();
    let result = client
        .generate_image(&req, config.policy.clone(), Some(signal), |n| {
            if let Some(e) = note_event(id, n) {
                let _ = out.send(Delivery::Event(e));
            }
            endings.push(n.clone());
        })
        .await;
    if let Ok(status) = &result {
        for (index, g) in status.generations.iter().enumerate() {
            let bytes = if g.img.starts_with("http://") || g.img.starts_with("https://") {
                client.download(&g.img).await.map_err(|e| e.to_string())
            } else {
                base64::engine::general_purpose::STANDARD
                    .decode(g.img.trim())
                    .map_err(|e| format!("the image is not base64: {e}"))
            };
            match bytes {
                Ok(bytes) => {
                    let _ = out.send(Delivery::Image {
                        id,
                        index,
                        bytes,
                        seed: g.seed.clone(),
                        model: g.model.clone(),
                        worker: g.worker_name.clone(),
                        censored: g.censored,
                    });
                }
                Err(why) => {
                    let error = crate::client::lifecycle::client_error("DownloadFailed", why);
                    let _ = out.send(Delivery::Event(Event::Failed { id, error }));
                    cancels.lock().remove(&id);
                    return;
                }
            }
        }
    }
    cancels.lock().remove(&id);
    let _ = out.send(Delivery::Event(ending(id, &endings)));
}

#[allow(clippy::too_many_arguments)]
async fn text(
    id: RequestId,
    req: crate::api::TextGenerateRequest,
    client: HordeClient,
    config: RuntimeConfig,
    cancels: Cancels,
    slots: Arc<tokio::sync::Semaphore>,
    out: Sender<Delivery>,
) {
    let (handle, signal) = cancel_pair();
    cancels.lock().insert(id, handle);
    let Ok(_slot) = slots.acquire().await else {
        return;
    };
    if signal.is_set() {
        // Cancelled while waiting for a slot: the horde never heard of it.
        cancels.lock().remove(&id);
        let _ = out.send(Delivery::Event(Event::Cancelled { id }));
        return;
    }
    let mut endings = Vec::new();
    let result = client
        .generate_text(&req, config.policy.clone(), Some(signal), |n| {
            if let Some(e) = note_event(id, n) {
                let _ = out.send(Delivery::Event(e));
            }
            endings.push(n.clone());
        })
        .await;
    if let Ok(status) = &result {
        for (index, g) in status.generations.iter().enumerate() {
            let _ = out.send(Delivery::Event(Event::TextReady {
                id,
                index,
                text: g.text.clone(),
                seed: g.seed,
                model: g.model.clone(),
                worker: g.worker_name.clone(),
            }));
        }
    }
    cancels.lock().remove(&id);
    let _ = out.send(Delivery::Event(ending(id, &endings)));
}

#[allow(clippy::too_many_arguments)]
async fn interrogation(
    id: RequestId,
    req: crate::api::InterrogationRequest,
    client: HordeClient,
    config: RuntimeConfig,
    cancels: Cancels,
    slots: Arc<tokio::sync::Semaphore>,
    out: Sender<Delivery>,
) {
    let (handle, signal) = cancel_pair();
    cancels.lock().insert(id, handle);
    let Ok(_slot) = slots.acquire().await else {
        return;
    };
    if signal.is_set() {
        // Cancelled while waiting for a slot: the horde never heard of it.
        cancels.lock().remove(&id);
        let _ = out.send(Delivery::Event(Event::Cancelled { id }));
        return;
    }
    let mut endings = Vec::new();
    let result = client
        .interrogate(&req, config.policy.clone(), Some(signal), |n| {
            if let Some(e) = note_event(id, n) {
                let _ = out.send(Delivery::Event(e));
            }
            endings.push(n.clone());
        })
        .await;
    if let Ok(status) = &result {
        for f in &status.forms {
            if let Some(result) = &f.result {
                let _ = out.send(Delivery::Event(Event::InterrogationReady {
                    id,
                    form: f.form.as_str().to_owned(),
                    result: result.clone(),
                }));
            }
        }
    }
    cancels.lock().remove(&id);
    let _ = out.send(Delivery::Event(ending(id, &endings)));
}
