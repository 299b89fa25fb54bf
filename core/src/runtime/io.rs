//! The I/O thread: a single-threaded tokio runtime that runs each request
//! through the client's lifecycle driver, at most `max_in_flight` at once,
//! and hands every outcome to the decode thread.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use crossbeam_channel::Sender;
use parking_lot::Mutex;

use super::events::{Delivery, Event};
use super::workers::Workers;
use super::{Command, RequestId, RuntimeConfig};
use crate::client::lifecycle::Note;
use crate::client::{CancelHandle, HordeClient, cancel_pair};

type Cancels = Arc<Mutex<HashMap<RequestId, CancelHandle>>>;

pub(crate) fn run(
    client: HordeClient,
    config: RuntimeConfig,
    (mut commands, weak): (
        tokio::sync::mpsc::UnboundedReceiver<Command>,
        tokio::sync::mpsc::WeakUnboundedSender<Command>,
    ),
    out: Sender<Delivery>,
) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        // The blocking pool encodes and decodes images: background too.
        .on_thread_start(crate::priority::background)
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
        tokio::task::spawn_local(watch_connection(
            client.link(),
            config.policy.give_up_after,
            out.clone(),
        ));
        let mut running = Vec::new();
        let mut workers = Workers::new(client.clone(), out.clone(), weak);
        while let Some(command) = commands.recv().await {
            match command {
                Command::Worker(c) => workers.command(c),
                Command::Estimate(id, req) => {
                    let (client, out) = (client.clone(), out.clone());
                    running.push(tokio::task::spawn_local(async move {
                        // Checked here first, as a request is: a field that
                        // breaks a rule is named before anything is sent.
                        let event = match crate::api::validate::validate_image_request(&req) {
                            Err(e) => Event::Failed {
                                id,
                                error: e.explained(),
                            },
                            Ok(()) => match client.estimate_image(&req).await {
                                Ok(e) => Event::Estimated { id, kudos: e.kudos },
                                Err(e) => Event::Failed {
                                    id,
                                    error: failure(&e),
                                },
                            },
                        };
                        let _ = out.send(Delivery::Event(event));
                    }));
                }
                Command::Models(id, kind) => {
                    let (client, out) = (client.clone(), out.clone());
                    running.push(tokio::task::spawn_local(async move {
                        let event = match client.models(kind.as_str()).await {
                            Ok(models) => Event::Models { id, models },
                            Err(e) => Event::Failed {
                                id,
                                error: failure(&e),
                            },
                        };
                        let _ = out.send(Delivery::Event(event));
                    }));
                }
                Command::User(id) => {
                    let (client, out) = (client.clone(), out.clone());
                    running.push(tokio::task::spawn_local(async move {
                        let event = match client.find_user().await {
                            Ok(user) => Event::User {
                                id,
                                user: Box::new(user),
                            },
                            Err(e) => Event::Failed {
                                id,
                                error: failure(&e),
                            },
                        };
                        let _ = out.send(Delivery::Event(event));
                    }));
                }
                Command::Cancel(id) => {
                    if let Some(c) = cancels.lock().get(&id) {
                        c.cancel();
                    }
                }
                Command::CancelAll => cancels.lock().values().for_each(CancelHandle::cancel),
                Command::Image(id, req) => {
                    let t = task(id, &client, &config, &cancels, &out);
                    running.push(tokio::task::spawn_local(image(t, *req, slots.clone())));
                }
                Command::Interrogation(id, req) => {
                    let t = task(id, &client, &config, &cancels, &out);
                    running.push(tokio::task::spawn_local(interrogation(
                        t,
                        *req,
                        slots.clone(),
                    )));
                }
                Command::InterrogatePixels(id, forms, pixels) => {
                    let t = task(id, &client, &config, &cancels, &out);
                    running.push(tokio::task::spawn_local(interrogation_of_pixels(
                        t,
                        forms,
                        *pixels,
                        slots.clone(),
                    )));
                }
                Command::InterrogateEncoded(id, req, image) => {
                    let t = task(id, &client, &config, &cancels, &out);
                    running.push(tokio::task::spawn_local(interrogation_of_encoded(
                        t,
                        *req,
                        image,
                        slots.clone(),
                    )));
                }
                Command::Text(id, req) => {
                    let t = task(id, &client, &config, &cancels, &out);
                    running.push(tokio::task::spawn_local(text(t, *req, slots.clone())));
                }
            }
            running.retain(|t| !t.is_finished());
        }
        // The handle is gone: cancel what is outstanding, within the grace.
        cancels.lock().values().for_each(CancelHandle::cancel);
        running.extend(workers.shut_down());
        let all = futures_all(running);
        let _ = tokio::time::timeout(config.shutdown_grace, all).await;
    });
}

/// Reports [`Event::Connection`] whenever the link changes: `Retrying` when
/// calls start failing, `Unreachable` once they kept failing for
/// `give_up_after` seconds, `Reachable` when a call is answered again.
async fn watch_connection(
    mut link: tokio::sync::watch::Receiver<crate::client::Link>,
    give_up_after: f64,
    out: Sender<Delivery>,
) {
    use super::events::Connection;
    use crate::client::Link;
    let report = |state| {
        let _ = out.send(Delivery::Event(Event::Connection { state }));
    };
    loop {
        let now = link.borrow_and_update().clone();
        match now {
            Link::Unknown => {}
            Link::Up => report(Connection::Reachable),
            Link::Down { cause } => {
                report(Connection::Retrying {
                    cause: cause.clone(),
                });
                let bound = std::time::Duration::from_secs_f64(give_up_after.max(0.0));
                tokio::select! {
                    changed = link.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        continue;
                    }
                    () = tokio::time::sleep(bound) => report(Connection::Unreachable { cause }),
                }
            }
        }
        if link.changed().await.is_err() {
            return;
        }
    }
}

/// A failed one-shot question, worded as the horde's errors are.
fn failure(e: &crate::client::ClientError) -> crate::api::ErrorBody {
    match e {
        crate::client::ClientError::Api { body, .. } => body.clone(),
        other => crate::client::lifecycle::client_error("RequestFailed", other.to_string()),
    }
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
        Note::Retrying { cause, retry_in } => Some(Event::Retrying {
            id,
            cause: cause.clone(),
            retry_in: *retry_in,
        }),
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

/// One request's task on the I/O thread: where its events go and how it
/// is cancelled.
struct Task {
    id: RequestId,
    client: HordeClient,
    policy: crate::client::lifecycle::Policy,
    cancels: Cancels,
    out: Sender<Delivery>,
    /// The lifecycle's notes so far; the last one is the ending.
    notes: Vec<Note>,
    /// Set by a cancel; registered when the command arrives, so a cancel
    /// sent right after the submit is not lost.
    signal: Option<crate::client::CancelSignal>,
    /// The runtime's `max_in_flight`, for [`Event::WaitingForSlot`].
    max_in_flight: usize,
}

impl Task {
    /// Registers the cancel handle and waits for a slot; `None` (after
    /// reporting `Cancelled`) when cancelled before the horde heard of it.
    async fn begin(
        &mut self,
        slots: Arc<tokio::sync::Semaphore>,
    ) -> Option<(
        tokio::sync::OwnedSemaphorePermit,
        crate::client::CancelSignal,
    )> {
        let signal = self.signal.take()?;
        let permit = match slots.clone().try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => {
                self.send(Event::WaitingForSlot {
                    id: self.id,
                    in_flight: self.max_in_flight,
                });
                // A cancel while waiting ends the request at once.
                let mut watch = signal.clone();
                tokio::select! {
                    permit = slots.acquire_owned() => Some(permit.ok()?),
                    () = watch.cancelled() => None,
                }
            }
        };
        let Some(permit) = permit else {
            self.send(Event::Cancelled { id: self.id });
            self.cancels.lock().remove(&self.id);
            return None;
        };
        if signal.is_set() {
            self.send(Event::Cancelled { id: self.id });
            self.cancels.lock().remove(&self.id);
            return None;
        }
        Some((permit, signal))
    }

    fn send(&self, event: Event) {
        let _ = self.out.send(Delivery::Event(event));
    }

    /// Reports a lifecycle note as it happens (endings wait for the results).
    fn note(&mut self, n: &Note) {
        if let Some(e) = note_event(self.id, n) {
            self.send(e);
        }
        self.notes.push(n.clone());
    }

    /// Reports the ending, after every result.
    fn end(self) {
        self.cancels.lock().remove(&self.id);
        self.send(ending(self.id, &self.notes));
    }
}

fn task(
    id: RequestId,
    client: &HordeClient,
    config: &RuntimeConfig,
    cancels: &Cancels,
    out: &Sender<Delivery>,
) -> Task {
    let (handle, signal) = cancel_pair();
    cancels.lock().insert(id, handle);
    Task {
        id,
        client: client.clone(),
        policy: config.policy.clone(),
        cancels: cancels.clone(),
        out: out.clone(),
        notes: Vec::new(),
        signal: Some(signal),
        max_in_flight: config.max_in_flight.max(1),
    }
}

async fn image(
    mut t: Task,
    req: crate::api::ImageGenerateRequest,
    slots: Arc<tokio::sync::Semaphore>,
) {
    let Some((_slot, signal)) = t.begin(slots).await else {
        return;
    };
    let client = t.client.clone();
    let result = client
        .generate_image(&req, t.policy.clone(), Some(signal), |n| t.note(n))
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
                    let _ = t.out.send(Delivery::Image {
                        id: t.id,
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
                    t.notes.push(Note::Failed(error));
                    break;
                }
            }
        }
    }
    t.end();
}

async fn text(
    mut t: Task,
    req: crate::api::TextGenerateRequest,
    slots: Arc<tokio::sync::Semaphore>,
) {
    let Some((_slot, signal)) = t.begin(slots).await else {
        return;
    };
    let client = t.client.clone();
    let result = client
        .generate_text(&req, t.policy.clone(), Some(signal), |n| t.note(n))
        .await;
    if let Ok(status) = &result {
        for (index, g) in status.generations.iter().enumerate() {
            t.send(Event::TextReady {
                id: t.id,
                index,
                text: g.text.clone(),
                seed: g.seed,
                model: g.model.clone(),
                worker: g.worker_name.clone(),
            });
        }
    }
    t.end();
}

/// Base64-encodes the caller's encoded image on the blocking pool (a few
/// hundred µs for a large picture), then interrogates it.
async fn interrogation_of_encoded(
    t: Task,
    mut req: crate::api::InterrogationRequest,
    image: Vec<u8>,
    slots: Arc<tokio::sync::Semaphore>,
) {
    use base64::Engine as _;
    let encoded = tokio::task::spawn_blocking(move || {
        base64::engine::general_purpose::STANDARD.encode(image)
    })
    .await;
    match encoded {
        Ok(source) => {
            req.source_image = source;
            interrogation(t, req, slots).await;
        }
        // Only a panic in the encoder lands here.
        Err(e) => {
            t.cancels.lock().remove(&t.id);
            t.send(Event::Failed {
                id: t.id,
                error: crate::client::lifecycle::client_error(
                    "RequestFailed",
                    format!("the source image could not be encoded: {e}"),
                ),
            });
        }
    }
}

/// Encodes the game's pixels on the blocking pool, then interrogates them.
async fn interrogation_of_pixels(
    t: Task,
    forms: Vec<crate::api::FormName>,
    pixels: super::SourceImage,
    slots: Arc<tokio::sync::Semaphore>,
) {
    use base64::Engine as _;
    let encoded = tokio::task::spawn_blocking(move || {
        super::surface::Rgba {
            width: pixels.width,
            height: pixels.height,
            pixels: &pixels.rgba,
        }
        .to_webp()
        .map(|webp| base64::engine::general_purpose::STANDARD.encode(webp))
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r);
    match encoded {
        Ok(source) => {
            let req = crate::api::InterrogationRequest::of(forms, source);
            interrogation(t, req, slots).await;
        }
        Err(why) => {
            t.cancels.lock().remove(&t.id);
            t.send(Event::Failed {
                id: t.id,
                error: crate::client::lifecycle::client_error(
                    "RequestFailed",
                    format!("the image could not be encoded: {why}"),
                ),
            });
        }
    }
}

async fn interrogation(
    mut t: Task,
    req: crate::api::InterrogationRequest,
    slots: Arc<tokio::sync::Semaphore>,
) {
    let Some((_slot, signal)) = t.begin(slots).await else {
        return;
    };
    let client = t.client.clone();
    let result = client
        .interrogate(&req, t.policy.clone(), Some(signal), |n| t.note(n))
        .await;
    if let Ok(status) = &result {
        for f in &status.forms {
            if let Some(result) = &f.result {
                t.send(Event::InterrogationReady {
                    id: t.id,
                    form: f.form.as_str().to_owned(),
                    result: result.clone(),
                });
            }
        }
    }
    t.end();
}
