//! The runtime's workers: each runs as a task on the I/O thread, reports
//! [`WorkerEvent`]s as [`Event::Worker`], and — for a game-answered backend
//! — hands its jobs out as [`Event::WorkerJob`] and waits for
//! [`super::Runtime::answer_job`].

use std::collections::HashMap;
use std::sync::Arc;

use crossbeam_channel::Sender;
use parking_lot::Mutex;

use super::events::{Delivery, Event, SourceImage};
use crate::client::HordeClient;
use crate::worker::backends::channel::{ChannelBackend, GameJob};
use crate::worker::{
    Backend, BackendError, Offer, WorkKind, Worker, WorkerConfig, WorkerHandle, control_pair,
};

/// The runtime's ticket for a job the game answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobTicket(pub u64);

/// Which backend a runtime worker uses.
#[derive(Clone)]
pub enum WorkerBackend {
    /// A backend in this process (the built-in procedural images, a bridge,
    /// candle, or the game's own trait object).
    Backend(Arc<dyn Backend>),
    /// Jobs are handed to the game as [`Event::WorkerJob`]; it answers with
    /// [`super::Runtime::answer_job`].
    Game {
        /// The kind of jobs the game does.
        kind: WorkKind,
        /// The models (or forms) it serves.
        offer: Offer,
    },
}

impl std::fmt::Debug for WorkerBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Backend(b) => write!(f, "Backend({})", b.name()),
            Self::Game { kind, offer } => write!(f, "Game({kind:?}, {offer:?})"),
        }
    }
}

/// What the runtime's worker commands carry.
pub(crate) enum WorkerCommand {
    Start {
        config: Box<WorkerConfig>,
        backend: WorkerBackend,
        idle: bool,
    },
    Idle(bool),
    TakeGpuBack,
    Stop,
    Answer(JobTicket, super::surface::Answer),
}

/// The workers of one runtime, on its I/O thread.
pub(crate) struct Workers {
    client: HordeClient,
    out: Sender<Delivery>,
    handles: Vec<WorkerHandle>,
    /// Names of the workers still running (a stopped one's name is free
    /// again once its task ended).
    names: Arc<Mutex<Vec<String>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    pending: Arc<Mutex<HashMap<JobTicket, GameJob>>>,
    next_ticket: Arc<Mutex<u64>>,
}

impl Workers {
    pub(crate) fn new(client: HordeClient, out: Sender<Delivery>) -> Self {
        Self {
            client,
            out,
            handles: Vec::new(),
            names: Arc::default(),
            tasks: Vec::new(),
            pending: Arc::default(),
            next_ticket: Arc::new(Mutex::new(1)),
        }
    }

    pub(crate) fn command(&mut self, command: WorkerCommand) {
        match command {
            WorkerCommand::Start {
                config,
                backend,
                idle,
            } => self.start(*config, backend, idle),
            WorkerCommand::Idle(idle) => self.handles.iter().for_each(|h| h.set_idle(idle)),
            WorkerCommand::TakeGpuBack => self.handles.iter().for_each(WorkerHandle::take_gpu_back),
            WorkerCommand::Stop => self.handles.iter().for_each(WorkerHandle::stop),
            WorkerCommand::Answer(ticket, answer) => {
                // An answer to a job the worker gave up on finds nothing.
                let Some(job) = self.pending.lock().remove(&ticket) else {
                    return;
                };
                if !answer.needs_encoding() {
                    job.answer(answer.into_output());
                    return;
                }
                // Encoding takes milliseconds: on the blocking pool, so
                // neither the game nor this thread's HTTP waits for it.
                self.tasks.retain(|t| !t.is_finished());
                self.tasks.push(tokio::task::spawn_local(async move {
                    let output = tokio::task::spawn_blocking(move || answer.into_output())
                        .await
                        .unwrap_or_else(|e| Err(BackendError::new(e.to_string())));
                    job.answer(output);
                }));
            }
        }
    }

    fn start(&mut self, config: WorkerConfig, backend: WorkerBackend, idle: bool) {
        let name = config.name.clone();
        if self.names.lock().contains(&name) {
            let _ = self.out.send(Delivery::Event(Event::Worker {
                name,
                event: crate::worker::WorkerEvent::Error {
                    message: "a worker of this name already runs in this runtime".into(),
                    fatal: true,
                },
            }));
            return;
        }
        self.names.lock().push(name.clone());
        let backend: Arc<dyn Backend> = match backend {
            WorkerBackend::Backend(b) => b,
            WorkerBackend::Game { kind, offer } => {
                let (backend, mut jobs) = ChannelBackend::new(kind, offer);
                let (pending, next, out, worker) = (
                    self.pending.clone(),
                    self.next_ticket.clone(),
                    self.out.clone(),
                    name.clone(),
                );
                self.tasks.push(tokio::task::spawn_local(async move {
                    while let Some(job) = jobs.recv().await {
                        // Decoding takes milliseconds: off the game's thread
                        // and off this one's HTTP.
                        let source = match job.job.source_image().map(<[u8]>::to_vec) {
                            None => None,
                            Some(bytes) => {
                                match tokio::task::spawn_blocking(move || super::decode_image(&bytes))
                                    .await
                                {
                                    Ok(Ok((width, height, rgba))) => Some(SourceImage {
                                        width,
                                        height,
                                        rgba,
                                    }),
                                    failed => {
                                        let why = match failed {
                                            Ok(Err(why)) => why,
                                            Err(e) => e.to_string(),
                                            Ok(Ok(_)) => String::new(),
                                        };
                                        let message = format!(
                                            "the job's source image cannot be decoded ({why}); it goes back to the horde as faulted"
                                        );
                                        job.answer(Err(BackendError::new(message.clone())));
                                        let _ = out.send(Delivery::Event(Event::Worker {
                                            name: worker.clone(),
                                            event: crate::worker::WorkerEvent::Error {
                                                message,
                                                fatal: false,
                                            },
                                        }));
                                        continue;
                                    }
                                }
                            }
                        };
                        let ticket = {
                            let mut n = next.lock();
                            *n += 1;
                            JobTicket(*n - 1)
                        };
                        let event = Event::WorkerJob {
                            ticket,
                            worker: worker.clone(),
                            job: Box::new(job.job.clone()),
                            source,
                        };
                        pending.lock().insert(ticket, job);
                        let _ = out.send(Delivery::Event(event));
                    }
                }));
                Arc::new(backend)
            }
        };
        let (handle, control) = control_pair();
        self.handles.push(handle);
        let worker = Worker::new(self.client.clone(), config, backend).start_idle(idle);
        let out = self.out.clone();
        let names = self.names.clone();
        self.tasks.push(tokio::task::spawn_local(async move {
            let report = |event: crate::worker::WorkerEvent| {
                // Freed before the game hears "stopped", so a start that
                // follows the event finds the name free.
                if matches!(event, crate::worker::WorkerEvent::Stopped { .. }) {
                    names.lock().retain(|n| *n != name);
                }
                let _ = out.send(Delivery::Event(Event::Worker {
                    name: name.clone(),
                    event,
                }));
            };
            if let Err(e) = worker.run(control, report).await {
                let _ = out.send(Delivery::Event(Event::Worker {
                    name: name.clone(),
                    event: crate::worker::WorkerEvent::Error {
                        message: e.to_string(),
                        fatal: true,
                    },
                }));
            }
            // Stopped: the name may start a worker again.
            names.lock().retain(|n| *n != name);
        }));
    }

    /// The runtime is closing: jobs in flight go back to the horde as
    /// faulted, every worker enters maintenance; answers the tasks to await.
    pub(crate) fn shut_down(&mut self) -> Vec<tokio::task::JoinHandle<()>> {
        for h in &self.handles {
            h.take_gpu_back();
            h.stop();
        }
        self.pending.lock().clear();
        std::mem::take(&mut self.tasks)
    }
}
