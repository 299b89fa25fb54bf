//! The engine-neutral runtime (feature `runtime`): the handle Bevy, Godot and
//! C wrap. It owns exactly two threads: `horde-io` (a single-threaded tokio
//! runtime doing all HTTP) and `horde-decode` (decoding result images to
//! RGBA8 and delivering every event, in order). The caller's thread never
//! waits: submitting is a channel send and receiving is a `try_recv`.
//!
//! Commands go in ([`Runtime::submit_image`], [`Runtime::cancel`], …) and
//! [`Event`]s come out ([`Runtime::try_event`], [`Runtime::drain_events`]).
//! The same runtime lends the GPU: [`Runtime::start_worker`] runs a worker
//! on the I/O thread, [`Runtime::set_idle`] and [`Runtime::take_gpu_back`]
//! gate it, and jobs the game answers itself arrive as
//! [`Event::WorkerJob`]. Dropping the runtime (or [`Runtime::shutdown`])
//! cancels outstanding requests on the server, hands jobs in hand back,
//! puts workers in maintenance, and joins both threads.

mod events;
mod io;
pub mod surface;
mod workers;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

pub use crate::client::lifecycle::RetryCause;
pub use events::decode as decode_image;
pub use events::{Connection, Event, SourceImage};
pub use workers::{JobTicket, WorkerBackend};

use workers::WorkerCommand;

use crate::api::{ImageGenerateRequest, TextGenerateRequest};
use crate::client::ClientConfig;
use crate::client::lifecycle::Policy;

/// The runtime's own id for a request, unique per runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// How a runtime talks to its horde.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// The horde and the credentials.
    pub client: ClientConfig,
    /// Polling and retries of each request.
    pub policy: Policy,
    /// Requests sent to the horde at once; more wait their turn locally.
    pub max_in_flight: usize,
    /// Longest the shutdown (dropping the runtime) waits for cancels to
    /// reach the server and workers to enter maintenance; a game's quit
    /// never blocks longer. Zero: do not wait.
    pub shutdown_grace: std::time::Duration,
}

impl RuntimeConfig {
    /// Defaults for `client`: 8 requests in flight, upstream-friendly
    /// polling, requests failing after 30 s without an answer from the
    /// horde, and a quit that waits at most a second.
    pub fn new(client: ClientConfig) -> Self {
        Self {
            client,
            policy: Policy::default(),
            max_in_flight: 8,
            shutdown_grace: std::time::Duration::from_secs(1),
        }
    }
}

/// Why a runtime could not start.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The client configuration is unusable.
    #[error("{0}")]
    Client(#[from] crate::client::ClientError),
    /// A thread or the async runtime could not start.
    #[error("cannot start the runtime: {0}")]
    Start(#[from] std::io::Error),
}

/// A command to the I/O thread.
pub(crate) enum Command {
    Image(RequestId, Box<ImageGenerateRequest>),
    Text(RequestId, Box<TextGenerateRequest>),
    Interrogation(RequestId, Box<crate::api::InterrogationRequest>),
    InterrogatePixels(RequestId, Vec<crate::api::FormName>, Box<SourceImage>),
    /// An interrogation whose source is an encoded image still to be
    /// base64-encoded into `source_image`.
    InterrogateEncoded(RequestId, Box<crate::api::InterrogationRequest>, Vec<u8>),
    Cancel(RequestId),
    CancelAll,
    Estimate(RequestId, Box<ImageGenerateRequest>),
    Models(RequestId, crate::api::ModelType),
    User(RequestId),
    Worker(WorkerCommand),
}

/// A callback run on the runtime's thread whenever an event is ready.
pub type Wake = Arc<dyn Fn() + Send + Sync>;

/// The handle games hold.
pub struct Runtime {
    commands: Option<tokio::sync::mpsc::UnboundedSender<Command>>,
    events: crossbeam_channel::Receiver<Event>,
    next_id: AtomicU64,
    /// Ids handed out whose last event was not yet taken.
    pending: parking_lot::Mutex<std::collections::HashSet<RequestId>>,
    threads: Vec<JoinHandle<()>>,
}

impl Runtime {
    /// Starts the two threads.
    pub fn start(config: RuntimeConfig) -> Result<Self, RuntimeError> {
        Self::start_with_wake(config, None)
    }

    /// Starts the two threads; `wake` is called (on the decode thread)
    /// after each event is queued — the only call from a foreign thread.
    pub fn start_with_wake(
        config: RuntimeConfig,
        wake: Option<Wake>,
    ) -> Result<Self, RuntimeError> {
        let client = crate::client::HordeClient::new(config.client.clone())?;
        let (commands, command_rx) = tokio::sync::mpsc::unbounded_channel();
        let (deliver_tx, deliver_rx) = crossbeam_channel::unbounded();
        let (events_tx, events) = crossbeam_channel::unbounded();
        let decode = std::thread::Builder::new()
            .name("horde-decode".into())
            .spawn(move || {
                crate::priority::background();
                events::deliver(deliver_rx, events_tx, wake);
            })?;
        let weak = commands.downgrade();
        let io = std::thread::Builder::new()
            .name("horde-io".into())
            .spawn(move || {
                crate::priority::background();
                io::run(client, config, (command_rx, weak), deliver_tx);
            })?;
        Ok(Self {
            commands: Some(commands),
            events,
            next_id: AtomicU64::new(1),
            pending: parking_lot::Mutex::default(),
            threads: vec![io, decode],
        })
    }

    fn send(&self, command: Command) {
        if let Some(tx) = &self.commands {
            let _ = tx.send(command);
        }
    }

    fn id(&self) -> RequestId {
        let id = RequestId(self.next_id.fetch_add(1, Ordering::Relaxed));
        self.pending.lock().insert(id);
        id
    }

    /// Whether `id` was handed out by this runtime and its last event
    /// ([`Event::ends_request`]) has not been taken yet.
    pub fn is_pending(&self, id: RequestId) -> bool {
        self.pending.lock().contains(&id)
    }

    /// Forgets an ended request, as the event is handed to the game.
    fn taken(&self, event: &Event) {
        if event.ends_request()
            && let Some(id) = event.request()
        {
            self.pending.lock().remove(&id);
        }
    }

    /// Queues an image request; its events carry the returned id.
    pub fn submit_image(&self, req: ImageGenerateRequest) -> RequestId {
        let id = self.id();
        self.send(Command::Image(id, Box::new(req)));
        id
    }

    /// Queues a text request.
    pub fn submit_text(&self, req: TextGenerateRequest) -> RequestId {
        let id = self.id();
        self.send(Command::Text(id, Box::new(req)));
        id
    }

    /// Queues an interrogation (caption, nsfw, interrogation, post-processors).
    pub fn submit_interrogation(&self, req: crate::api::InterrogationRequest) -> RequestId {
        let id = self.id();
        self.send(Command::Interrogation(id, Box::new(req)));
        id
    }

    /// Queues an interrogation of RGBA8 pixels (a frame the game holds in
    /// memory): checked and copied here, encoded to lossless WebP on the
    /// runtime's threads, so no disk round trip and no encoding on the
    /// caller's. `Err` (nothing queued) names what is wrong.
    pub fn interrogate_pixels(
        &self,
        forms: Vec<crate::api::FormName>,
        image: surface::Rgba<'_>,
    ) -> Result<RequestId, String> {
        image.check()?;
        if forms.is_empty() {
            return Err("no form: name at least one (caption, nsfw, interrogation, …)".into());
        }
        if let Some(f) = forms.iter().find(|f| !f.is_known()) {
            return Err(format!("'{f}' is not a known form"));
        }
        let id = self.id();
        let pixels = SourceImage {
            width: image.width,
            height: image.height,
            rgba: image.pixels.to_vec(),
        };
        self.send(Command::InterrogatePixels(id, forms, Box::new(pixels)));
        Ok(id)
    }

    /// Queues `req` (its `source_image` left empty) on `image`, an encoded
    /// picture (PNG, WebP, JPEG) the caller hands over: it is base64-encoded
    /// into `source_image` on the runtime's threads, so the caller's thread
    /// only moves the bytes. `Err` (nothing queued) when `image` is empty
    /// or a form breaks a rule.
    pub fn interrogate_encoded(
        &self,
        req: crate::api::InterrogationRequest,
        image: Vec<u8>,
    ) -> Result<RequestId, crate::api::validate::ValidationError> {
        crate::api::validate::validate_forms(&req.forms)?;
        if image.is_empty() {
            return Err(crate::api::validate::ValidationError {
                field: "source_image".into(),
                rc: crate::api::Rc::ImageValidationFailed,
                message: "Image validation failed. A source image is required.".into(),
            });
        }
        let id = self.id();
        self.send(Command::InterrogateEncoded(id, Box::new(req), image));
        Ok(id)
    }

    /// Asks what an image request would cost (nothing is queued); the
    /// answer arrives as [`Event::Estimated`] (or [`Event::Failed`]).
    pub fn estimate_image(&self, req: ImageGenerateRequest) -> RequestId {
        let id = self.id();
        self.send(Command::Estimate(id, Box::new(req)));
        id
    }

    /// Asks which models of `kind` the horde serves now; the answer
    /// arrives as [`Event::Models`] (or [`Event::Failed`]).
    pub fn models(&self, kind: crate::api::ModelType) -> RequestId {
        let id = self.id();
        self.send(Command::Models(id, kind));
        id
    }

    /// Asks who the runtime's API key belongs to (kudos, usage, workers);
    /// the answer arrives as [`Event::User`] (or [`Event::Failed`]).
    pub fn find_user(&self) -> RequestId {
        let id = self.id();
        self.send(Command::User(id));
        id
    }

    /// Cancels a request (on the server once it reached it); finished
    /// results still arrive, then `Cancelled`. Unknown ids are ignored.
    pub fn cancel(&self, id: RequestId) {
        self.send(Command::Cancel(id));
    }

    /// Cancels every request.
    pub fn cancel_all(&self) {
        self.send(Command::CancelAll);
    }

    /// Starts a worker contributing this machine to the horde under
    /// `config.name`, with the runtime's API key. It pops only while idle
    /// (see [`Runtime::set_idle`]); `idle` is the state it starts in. Its
    /// doings arrive as [`Event::Worker`]; a [`WorkerBackend::Game`] worker's
    /// jobs arrive as [`Event::WorkerJob`].
    pub fn start_worker(
        &self,
        config: crate::worker::WorkerConfig,
        backend: WorkerBackend,
        idle: bool,
    ) {
        self.send(Command::Worker(WorkerCommand::Start {
            config: Box::new(config),
            backend,
            idle,
        }));
    }

    /// Whether the player is away: idle → workers pop for work; not idle →
    /// no new pops, current jobs finish.
    pub fn set_idle(&self, idle: bool) {
        self.send(Command::Worker(WorkerCommand::Idle(idle)));
    }

    /// The game needs its GPU now: workers stop popping and hand their
    /// current jobs back to the horde as faulted at once.
    pub fn take_gpu_back(&self) {
        self.send(Command::Worker(WorkerCommand::TakeGpuBack));
    }

    /// Workers finish and submit what they popped, enter maintenance, and stop.
    pub fn stop_workers(&self) {
        self.send(Command::Worker(WorkerCommand::Stop));
    }

    /// The worker named `name` finishes and submits what it popped, enters
    /// maintenance, and stops (its [`crate::worker::WorkerEvent::Stopped`]
    /// says when); the others go on. An unknown name changes nothing.
    pub fn stop_worker(&self, name: &str) {
        self.send(Command::Worker(WorkerCommand::StopOne(name.to_owned())));
    }

    /// Replaces the worker named `config.name` with one running `config`
    /// and `backend` (new settings, models, backend): the old one finishes
    /// and submits its job, enters maintenance and stops, then the new one
    /// starts, in the idle state of that moment. With no worker of that
    /// name running, it starts at once.
    pub fn restart_worker(&self, config: crate::worker::WorkerConfig, backend: WorkerBackend) {
        self.send(Command::Worker(WorkerCommand::Restart {
            config: Box::new(config),
            backend,
        }));
    }

    /// Answers a [`Event::WorkerJob`]: the result, or why there is none
    /// (the job is then submitted as faulted). Stale tickets are ignored.
    ///
    /// `answer` is the worker's output (`Ok(Output)`, or `Err(why)`), or a
    /// [`surface::Answer`] from [`surface::JobShape`], whose pixels are
    /// encoded on the runtime's threads.
    pub fn answer_job(&self, ticket: JobTicket, answer: impl Into<surface::Answer>) {
        self.send(Command::Worker(WorkerCommand::Answer(
            ticket,
            answer.into(),
        )));
    }

    /// The next event, if one is ready. Never blocks.
    pub fn try_event(&self) -> Option<Event> {
        let event = self.events.try_recv().ok()?;
        self.taken(&event);
        Some(event)
    }

    /// Moves every ready event into `out`; answers how many. Never blocks,
    /// and allocates nothing when no event is ready.
    pub fn drain_events(&self, out: &mut Vec<Event>) -> usize {
        let before = out.len();
        while let Ok(e) = self.events.try_recv() {
            self.taken(&e);
            out.push(e);
        }
        out.len() - before
    }

    /// Cancels outstanding requests on the server (within the configured
    /// grace) and joins the runtime's threads.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        // Closing the command channel tells the I/O thread to wind down.
        self.commands.take();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop();
    }
}
