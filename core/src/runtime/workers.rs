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
    /// Stops the worker of that name (if any) and starts this one once it
    /// has stopped.
    Restart {
        config: Box<WorkerConfig>,
        backend: WorkerBackend,
    },
    /// A restart's start, once the old worker stopped: in the idle state
    /// of that moment.
    Resume {
        config: Box<WorkerConfig>,
        backend: WorkerBackend,
    },
    Idle(bool),
    TakeGpuBack,
    Stop,
    /// Stops the worker of that name.
    StopOne(String),
    Answer(JobTicket, super::surface::Answer),
}

/// A running worker's controls, and a receiver that closes when its task ends.
struct Running {
    name: String,
    handle: WorkerHandle,
    ended: tokio::sync::watch::Receiver<()>,
}

/// A worker waiting for the one of its name to stop.
type Queued = Arc<Mutex<HashMap<String, (WorkerConfig, WorkerBackend)>>>;

/// The workers of one runtime, on its I/O thread.
pub(crate) struct Workers {
    client: HordeClient,
    out: Sender<Delivery>,
    /// Where a restarted worker's start is sent once the old one stopped.
    commands: tokio::sync::mpsc::WeakUnboundedSender<super::Command>,
    handles: Vec<Running>,
    /// Restarts waiting for their name to be free.
    queued: Queued,
    /// Whether the player is idle, as last said: a restarted worker starts so.
    idle: bool,
    /// Names of the workers still running (a stopped one's name is free
    /// again once its task ended).
    names: Arc<Mutex<Vec<String>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    pending: Arc<Mutex<HashMap<JobTicket, GameJob>>>,
    next_ticket: Arc<Mutex<u64>>,
}

impl Workers {
    pub(crate) fn new(
        client: HordeClient,
        out: Sender<Delivery>,
        commands: tokio::sync::mpsc::WeakUnboundedSender<super::Command>,
    ) -> Self {
        Self {
            client,
            out,
            commands,
            handles: Vec::new(),
            queued: Arc::default(),
            idle: false,
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
            } => {
                self.idle = idle;
                self.start(*config, backend, idle);
            }
            WorkerCommand::Restart { config, backend } => self.restart(*config, backend),
            WorkerCommand::Resume { config, backend } => self.start(*config, backend, self.idle),
            WorkerCommand::Idle(idle) => {
                self.idle = idle;
                self.handles.iter().for_each(|r| r.handle.set_idle(idle));
            }
            WorkerCommand::TakeGpuBack => {
                self.handles.iter().for_each(|r| r.handle.take_gpu_back());
            }
            WorkerCommand::Stop => {
                self.queued.lock().clear();
                self.handles.iter().for_each(|r| r.handle.stop());
            }
            WorkerCommand::StopOne(name) => {
                self.queued.lock().remove(&name);
                self.handles
                    .iter()
                    .filter(|r| r.name == name)
                    .for_each(|r| r.handle.stop());
            }
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

    /// Stops the worker named as `config` says and starts `config` once it
    /// has stopped (at once when none runs): its job is finished and
    /// submitted first, so nothing popped is lost.
    fn restart(&mut self, config: WorkerConfig, backend: WorkerBackend) {
        self.handles.retain(|r| r.ended.has_changed().is_ok());
        let name = config.name.clone();
        let Some(old) = self.handles.iter().find(|r| r.name == name) else {
            self.start(config, backend, self.idle);
            return;
        };
        old.handle.stop();
        // A restart already waiting for this name is replaced; only the
        // first one waits.
        if self
            .queued
            .lock()
            .insert(name.clone(), (config, backend))
            .is_some()
        {
            return;
        }
        let (mut ended, queued, commands) = (
            old.ended.clone(),
            self.queued.clone(),
            self.commands.clone(),
        );
        self.tasks.push(tokio::task::spawn_local(async move {
            while ended.changed().await.is_ok() {}
            let Some((config, backend)) = queued.lock().remove(&name) else {
                return;
            };
            if let Some(commands) = commands.upgrade() {
                let _ = commands.send(super::Command::Worker(WorkerCommand::Resume {
                    config: Box::new(config),
                    backend,
                }));
            }
        }));
    }

    fn start(&mut self, config: WorkerConfig, backend: WorkerBackend, idle: bool) {
        self.handles.retain(|r| r.ended.has_changed().is_ok());
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
        let (alive, ended) = tokio::sync::watch::channel(());
        self.handles.push(Running {
            name: name.clone(),
            handle,
            ended,
        });
        let worker = Worker::new(self.client.clone(), config, backend).start_idle(idle);
        let out = self.out.clone();
        let names = self.names.clone();
        self.tasks.push(tokio::task::spawn_local(async move {
            // Dropped when the task ends: a restart waiting on it goes on.
            let _alive = alive;
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
        self.queued.lock().clear();
        for r in &self.handles {
            r.handle.take_gpu_back();
            r.handle.stop();
        }
        self.pending.lock().clear();
        std::mem::take(&mut self.tasks)
    }
}
