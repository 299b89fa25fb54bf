//! `HordeNode`'s logic as a plain Rust struct, free of Godot types, so it
//! is tested with `cargo test` against our coordinator: which ids are
//! pending and what each is, the runtime's events turned into the payload
//! of the signal each becomes ([`Emit`]), cancel on exit, the worker's idle
//! gating, and the tickets of jobs the game answers.
//!
//! The node (`classes::node`) owns one [`NodeLogic`], drains it in
//! `process()` on the main thread, and turns each [`Emit`] into a signal;
//! no Godot value ever reaches the runtime's threads.

use std::collections::{HashMap, HashSet};

use horde_core::api::{ErrorBody, InterrogationRequest, ModelType};
use horde_core::client::ClientConfig;
use horde_core::runtime::surface::{Answer, JobShape, WorkerSpec};
use horde_core::runtime::{
    Connection, Event, JobTicket, RequestId, RetryCause, Runtime, RuntimeConfig,
};
use horde_core::worker::{BackendError, WorkerEvent};
use serde_json::Value;

use crate::presets::{ImagePreset, TextPreset};

/// Why a call was refused before anything was sent: the `rc` and
/// `message` that `request_failed` carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected {
    /// Upstream's return code, or the node's own (`BadConfig`, `UnknownId`, …).
    pub rc: String,
    /// What is wrong, in plain words.
    pub message: String,
}

impl Rejected {
    /// A refusal with the node's own `rc`.
    pub fn new(rc: &str, message: impl Into<String>) -> Self {
        Self {
            rc: rc.to_owned(),
            message: message.into(),
        }
    }
}

impl From<ErrorBody> for Rejected {
    fn from(e: ErrorBody) -> Self {
        Self {
            rc: e
                .rc
                .as_ref()
                .map_or_else(|| "Unknown".to_owned(), |rc| rc.as_str().to_owned()),
            message: e.message,
        }
    }
}

/// When the node's worker may take jobs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WorkerMode {
    /// No worker: `start_worker` is refused.
    #[default]
    Off,
    /// Jobs only while the game says the player is idle (`set_idle(true)`).
    WhenIdle,
    /// Jobs whenever the worker runs (a dedicated machine).
    Always,
}

/// The node's exported settings, read when the runtime starts (the first
/// request) and, for the worker, when it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeSettings {
    /// The horde's API root (`https://aihorde.net/api`, or a private horde).
    pub base_url: String,
    /// The API key (`0000000000` is anonymous).
    pub api_key: String,
    /// `name:version:contact`, as the horde asks of every client.
    pub client_agent: String,
    /// Requests sent to the horde at once; more wait their turn.
    pub max_in_flight: u32,
    /// Seconds before a request that has not finished fails (0: never).
    pub request_timeout_secs: f64,
    /// Seconds the horde may stay unreachable before requests fail with
    /// `ServerUnreachable` (calls are retried until then).
    pub give_up_after_secs: f64,
    /// Seconds between status checks while a job may finish: a result
    /// arrives at most this long after it is done.
    pub poll_interval_secs: f64,
    /// Cancel every pending request when the node leaves the tree.
    pub cancel_on_exit: bool,
    /// When the worker may take jobs.
    pub worker_mode: WorkerMode,
}

impl Default for NodeSettings {
    fn default() -> Self {
        Self {
            base_url: "https://aihorde.net/api".into(),
            api_key: "0000000000".into(),
            client_agent: "godot_horde:0.1:unknown".into(),
            max_in_flight: 4,
            request_timeout_secs: 600.0,
            give_up_after_secs: 30.0,
            poll_interval_secs: 1.0,
            cancel_on_exit: true,
            worker_mode: WorkerMode::Off,
        }
    }
}

/// What an id stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Asked {
    /// An image request.
    Image,
    /// A text request.
    Text,
    /// An interrogation.
    Interrogation,
    /// A kudos estimate.
    Estimate,
    /// The model list.
    Models,
    /// The key's user.
    User,
}

impl Asked {
    /// Whether the id is a generation (cancellable, ends in
    /// `request_completed`), not a question.
    pub fn is_generation(self) -> bool {
        matches!(self, Self::Image | Self::Text | Self::Interrogation)
    }
}

/// Where a result came from: what `HordeResultInfo` carries.
#[derive(Clone, Debug, PartialEq)]
pub struct ResultInfo {
    /// The request.
    pub id: u64,
    /// The result's index in its request.
    pub index: u32,
    /// The seed it was made with.
    pub seed: String,
    /// The model.
    pub model: String,
    /// The worker's name.
    pub worker: String,
    /// Replaced by the worker's safety check.
    pub censored: bool,
}

/// One signal to emit, with its payload in plain Rust values.
#[derive(Clone, Debug, PartialEq)]
pub enum Emit {
    /// `request_queued(id, position, wait_time)`.
    Queued {
        /// The request.
        id: u64,
        /// 1-based position in the horde's queue.
        position: u32,
        /// Expected seconds to completion.
        wait_time: i64,
    },
    /// `request_progress(id, finished, processing, waiting)`.
    Progress {
        /// The request.
        id: u64,
        /// Results done.
        finished: u32,
        /// Results in the works.
        processing: u32,
        /// Results not started.
        waiting: u32,
    },
    /// `image_generated(id, texture, info)`.
    Image {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
        /// RGBA8 pixels.
        rgba: Vec<u8>,
        /// Seed, model, worker.
        info: ResultInfo,
    },
    /// `text_generated(id, text, info)`.
    Text {
        /// The text.
        text: String,
        /// Seed, model, worker.
        info: ResultInfo,
    },
    /// `interrogation_completed(id, form, result)`.
    Interrogation {
        /// The request.
        id: u64,
        /// The form (`caption`, `nsfw`, …).
        form: String,
        /// Its result, keyed as the horde keys it.
        result: Value,
    },
    /// `request_completed(id)`.
    Completed {
        /// The request.
        id: u64,
    },
    /// `request_failed(id, rc, message)`; id 0 when the call was refused.
    Failed {
        /// The request (0: refused before it had one).
        id: u64,
        /// Why.
        why: Rejected,
    },
    /// `request_cancelled(id)`.
    Cancelled {
        /// The request.
        id: u64,
    },
    /// `kudos_estimated(id, kudos)`.
    Estimated {
        /// The question.
        id: u64,
        /// Kudos for the whole request.
        kudos: f64,
    },
    /// `models_fetched(models)`; an empty list when the question failed.
    Models {
        /// The question.
        id: u64,
        /// The horde's model objects.
        models: Value,
    },
    /// `user_fetched(user)`; an empty object when the question failed.
    User {
        /// The question.
        id: u64,
        /// The horde's user object.
        user: Value,
    },
    /// `worker_state_changed(worker, state, details)`.
    Worker {
        /// The worker's name.
        worker: String,
        /// What happened (`started`, `job_received`, `kudos_earned`, …).
        state: String,
        /// The event's fields.
        details: Value,
    },
    /// `request_retrying(id, rc, message, retry_in)`: a call failed for a
    /// passing reason (`RateLimited`, `ServerUnreachable`) and is retried.
    Retrying {
        /// The request.
        id: u64,
        /// Why.
        why: Rejected,
        /// Seconds until the next attempt.
        retry_in: f64,
    },
    /// `connection_changed(state, cause)`: `reachable`, `retrying` or
    /// `unreachable` (requests now fail: show the player "offline").
    Connection {
        /// The new state.
        state: String,
        /// The transport's or the server's words ("" when reachable).
        cause: String,
    },
    /// `request_waiting(id, in_flight)`: the request waits for a free slot
    /// (`in_flight` requests are at the horde).
    WaitingForSlot {
        /// The request.
        id: u64,
        /// Requests at the horde.
        in_flight: u32,
    },
    /// `worker_job(ticket, job, source)`: a job for the game to do.
    Job {
        /// Answer with this.
        ticket: u64,
        /// The job: kind, prompt, model, sizes, every setting.
        job: Value,
        /// The decoded source image (img2img, or the image a form works
        /// on): width, height, RGBA8.
        source: Option<(u32, u32, Vec<u8>)>,
    },
}

/// The node's state: settings, the runtime once started, and the books.
pub struct NodeLogic {
    /// The exported settings; the node copies its properties here.
    pub settings: NodeSettings,
    runtime: Option<Runtime>,
    pending: HashMap<u64, Asked>,
    jobs: HashMap<u64, JobShape>,
    workers: HashSet<String>,
    idle: bool,
    refused: Vec<Emit>,
    events: Vec<Event>,
}

impl NodeLogic {
    /// A node's logic; nothing starts until the first request.
    pub fn new(settings: NodeSettings) -> Self {
        Self {
            settings,
            runtime: None,
            pending: HashMap::new(),
            jobs: HashMap::new(),
            workers: HashSet::new(),
            idle: false,
            refused: Vec::new(),
            events: Vec::new(),
        }
    }

    /// The runtime, started with the current settings on first use.
    fn runtime(&mut self) -> Result<&Runtime, Rejected> {
        if self.runtime.is_none() {
            let s = &self.settings;
            if s.client_agent.trim().is_empty() {
                return Err(Rejected::new(
                    "BadConfig",
                    "client_agent is empty; the horde asks for name:version:contact",
                ));
            }
            let mut client = ClientConfig::new(s.client_agent.clone());
            client.base_url = s.base_url.clone();
            client.api_key = s.api_key.clone();
            let mut config = RuntimeConfig::new(client);
            config.max_in_flight = s.max_in_flight.max(1) as usize;
            if s.give_up_after_secs > 0.0 && s.give_up_after_secs.is_finite() {
                config.policy.give_up_after = s.give_up_after_secs;
            }
            if s.poll_interval_secs > 0.0 && s.poll_interval_secs.is_finite() {
                config.policy.min_poll = s.poll_interval_secs;
                config.policy.max_poll = config.policy.max_poll.max(s.poll_interval_secs);
            }
            if s.request_timeout_secs > 0.0 && s.request_timeout_secs.is_finite() {
                config.policy.deadline = Some(s.request_timeout_secs);
            }
            let runtime =
                Runtime::start(config).map_err(|e| Rejected::new("BadConfig", e.to_string()))?;
            self.runtime = Some(runtime);
        }
        self.runtime
            .as_ref()
            .ok_or_else(|| Rejected::new("BadConfig", "the runtime did not start"))
    }

    fn track(
        &mut self,
        asked: Asked,
        ask: impl FnOnce(&Runtime) -> RequestId,
    ) -> Result<u64, Rejected> {
        let id = ask(self.runtime()?).0;
        self.pending.insert(id, asked);
        Ok(id)
    }

    /// Keeps a refusal for the next drain (as `request_failed(0, …)`) and
    /// answers 0, the id no request has.
    pub fn refuse(&mut self, why: Rejected) -> u64 {
        self.refused.push(Emit::Failed { id: 0, why });
        0
    }

    fn or_refuse(&mut self, r: Result<u64, Rejected>) -> u64 {
        r.unwrap_or_else(|why| self.refuse(why))
    }

    /// Queues an image request; 0 when refused (the reason follows as
    /// `request_failed(0, …)`).
    pub fn generate_image(&mut self, prompt: &str, preset: &ImagePreset) -> u64 {
        let r = preset
            .request(prompt)
            .and_then(|req| self.track(Asked::Image, |rt| rt.submit_image(req)));
        self.or_refuse(r)
    }

    /// Queues a text request.
    pub fn generate_text(&mut self, prompt: &str, preset: &TextPreset) -> u64 {
        let r = preset
            .request(prompt)
            .and_then(|req| self.track(Asked::Text, |rt| rt.submit_text(req)));
        self.or_refuse(r)
    }

    /// Queues an interrogation of an encoded image (PNG or WebP) for `forms`.
    pub fn interrogate(&mut self, image: &[u8], forms: &[String]) -> u64 {
        let r = interrogation(image, forms)
            .and_then(|req| self.track(Asked::Interrogation, |rt| rt.submit_interrogation(req)));
        self.or_refuse(r)
    }

    /// Asks what an image request would cost (`kudos_estimated`).
    pub fn estimate_kudos(&mut self, prompt: &str, preset: &ImagePreset) -> u64 {
        let r = preset
            .request(prompt)
            .and_then(|req| self.track(Asked::Estimate, |rt| rt.estimate_image(req)));
        self.or_refuse(r)
    }

    /// Asks for the models served now (`models_fetched`).
    pub fn fetch_models(&mut self, kind: ModelType) -> u64 {
        let r = self.track(Asked::Models, |rt| rt.models(kind));
        self.or_refuse(r)
    }

    /// Asks who the API key belongs to (`user_fetched`).
    pub fn fetch_user(&mut self) -> u64 {
        let r = self.track(Asked::User, Runtime::find_user);
        self.or_refuse(r)
    }

    /// Cancels a pending generation; false when `id` is not one.
    pub fn cancel(&mut self, id: u64) -> bool {
        match (self.pending.get(&id), &self.runtime) {
            (Some(asked), Some(rt)) if asked.is_generation() => {
                rt.cancel(RequestId(id));
                true
            }
            _ => false,
        }
    }

    /// Cancels every pending generation.
    pub fn cancel_all(&mut self) {
        if let Some(rt) = &self.runtime {
            rt.cancel_all();
        }
    }

    /// Whether `id` has not ended yet.
    pub fn is_pending(&self, id: u64) -> bool {
        self.pending.contains_key(&id)
    }

    /// What `id` stands for, while it is pending.
    pub fn asked(&self, id: u64) -> Option<Asked> {
        self.pending.get(&id).copied()
    }

    /// Ids that have not ended yet.
    pub fn pending_ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self.pending.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// Starts a worker, gated by [`NodeSettings::worker_mode`].
    pub fn start_worker(&mut self, spec: &WorkerSpec) -> Result<(), Rejected> {
        let mode = self.settings.worker_mode;
        if mode == WorkerMode::Off {
            return Err(Rejected::new(
                "WorkerOff",
                "worker_mode is Off: set it to WhenIdle or Always to lend the GPU",
            ));
        }
        if self.workers.contains(&spec.name) {
            return Err(Rejected::new(
                "WorkerExists",
                format!("a worker named {:?} already runs on this node", spec.name),
            ));
        }
        let (config, backend) = spec.build().map_err(|m| Rejected::new("BadWorker", m))?;
        let idle = self.gate();
        self.runtime()?.start_worker(config, backend, idle);
        self.workers.insert(spec.name.clone());
        Ok(())
    }

    /// Whether the workers may pop jobs now.
    pub fn gate(&self) -> bool {
        match self.settings.worker_mode {
            WorkerMode::Off => false,
            WorkerMode::WhenIdle => self.idle,
            WorkerMode::Always => true,
        }
    }

    /// The game says whether the player is away; in `WhenIdle` mode the
    /// workers take jobs only while this is true.
    pub fn set_idle(&mut self, idle: bool) {
        self.idle = idle;
        let gate = self.gate();
        if let Some(rt) = &self.runtime {
            rt.set_idle(gate);
        }
    }

    /// Whether the game last said the player is away.
    pub fn is_idle(&self) -> bool {
        self.idle
    }

    /// The names of the workers started on this node.
    pub fn workers(&self) -> Vec<String> {
        let mut names: Vec<String> = self.workers.iter().cloned().collect();
        names.sort();
        names
    }

    /// The game needs the GPU now: current jobs go back as faulted.
    pub fn take_gpu_back(&mut self) {
        self.idle = false;
        if let Some(rt) = &self.runtime {
            rt.take_gpu_back();
        }
    }

    /// The worker started as `name` finishes its job, enters maintenance
    /// and stops (a `stopped` worker signal says when); the others go on.
    /// Answers whether a worker of that name was started on this node.
    pub fn stop_worker(&mut self, name: &str) -> bool {
        if !self.workers.remove(name) {
            return false;
        }
        if let Some(rt) = &self.runtime {
            rt.stop_worker(name);
        }
        true
    }

    /// Workers finish their jobs, enter maintenance and stop.
    pub fn stop_workers(&mut self) {
        if let Some(rt) = &self.runtime {
            rt.stop_workers();
        }
        self.workers.clear();
    }

    /// Answers a `worker_job` with what `make` builds from the job's shape.
    pub fn answer_job(
        &mut self,
        ticket: u64,
        make: impl FnOnce(JobShape) -> Result<Answer, String>,
    ) -> Result<(), Rejected> {
        let shape = *self.jobs.get(&ticket).ok_or_else(|| {
            Rejected::new(
                "UnknownId",
                format!("no unanswered job has ticket {ticket}"),
            )
        })?;
        let answer = make(shape).map_err(|m| Rejected::new("BadAnswer", m))?;
        self.answered(ticket, answer);
        Ok(())
    }

    /// Gives a job up: it goes back to the horde as faulted.
    pub fn fail_job(&mut self, ticket: u64, message: &str) -> Result<(), Rejected> {
        if !self.jobs.contains_key(&ticket) {
            return Err(Rejected::new(
                "UnknownId",
                format!("no unanswered job has ticket {ticket}"),
            ));
        }
        let message = if message.trim().is_empty() {
            "the game gave the job up"
        } else {
            message
        };
        self.answered(ticket, Answer::ready(Err(BackendError::new(message))));
        Ok(())
    }

    fn answered(&mut self, ticket: u64, result: Answer) {
        self.jobs.remove(&ticket);
        if let Some(rt) = &self.runtime {
            rt.answer_job(JobTicket(ticket), result);
        }
    }

    /// Moves every ready signal into `out`, in order; never blocks.
    pub fn drain(&mut self, out: &mut Vec<Emit>) {
        out.append(&mut self.refused);
        let Some(rt) = &self.runtime else { return };
        rt.drain_events(&mut self.events);
        for event in std::mem::take(&mut self.events) {
            self.translate(event, out);
        }
    }

    /// The node left the tree: with `cancel_on_exit`, every pending
    /// generation is cancelled (finished results still arrive when the
    /// node processes again); workers are not touched.
    pub fn exit_tree(&mut self) {
        if self.settings.cancel_on_exit {
            self.cancel_all();
        }
    }

    /// Stops everything: cancels on the server, hands jobs back, stops
    /// workers, joins the runtime's threads (within its grace period).
    pub fn shutdown(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown();
        }
        self.pending.clear();
        self.jobs.clear();
        self.workers.clear();
    }

    fn translate(&mut self, event: Event, out: &mut Vec<Emit>) {
        // Which events end a request is the runtime's rule, not ours.
        let asked = match event.request() {
            Some(id) if event.ends_request() => self.pending.remove(&id.0),
            _ => None,
        };
        let emit = match event {
            Event::Queued {
                id,
                position,
                wait_time,
            } => Emit::Queued {
                id: id.0,
                position,
                wait_time,
            },
            Event::Progress {
                id,
                waiting,
                processing,
                finished,
                ..
            } => Emit::Progress {
                id: id.0,
                finished,
                processing,
                waiting,
            },
            Event::ImageReady {
                id,
                index,
                width,
                height,
                rgba,
                seed,
                model,
                worker,
                censored,
            } => Emit::Image {
                width,
                height,
                rgba,
                info: ResultInfo {
                    id: id.0,
                    index: index as u32,
                    seed,
                    model,
                    worker,
                    censored,
                },
            },
            Event::TextReady {
                id,
                index,
                text,
                seed,
                model,
                worker,
            } => Emit::Text {
                text,
                info: ResultInfo {
                    id: id.0,
                    index: index as u32,
                    seed: seed.to_string(),
                    model,
                    worker,
                    censored: false,
                },
            },
            Event::InterrogationReady { id, form, result } => Emit::Interrogation {
                id: id.0,
                form,
                result: Value::Object(result),
            },
            Event::Completed { id } => Emit::Completed { id: id.0 },
            Event::Cancelled { id } => Emit::Cancelled { id: id.0 },
            Event::Failed { id, error } => {
                // A failed question still answers its awaited signal (with
                // an empty value) so an `await` never hangs; the failure
                // itself comes first.
                out.push(Emit::Failed {
                    id: id.0,
                    why: Rejected::from(error),
                });
                match asked {
                    Some(Asked::Models) => Emit::Models {
                        id: id.0,
                        models: Value::Array(Vec::new()),
                    },
                    Some(Asked::User) => Emit::User {
                        id: id.0,
                        user: Value::Object(serde_json::Map::new()),
                    },
                    _ => return,
                }
            }
            Event::Estimated { id, kudos } => Emit::Estimated { id: id.0, kudos },
            Event::Models { id, models } => Emit::Models {
                id: id.0,
                models: serde_json::to_value(models).unwrap_or(Value::Array(Vec::new())),
            },
            Event::User { id, user } => Emit::User {
                id: id.0,
                user: serde_json::to_value(user).unwrap_or(Value::Null),
            },
            Event::Worker { name, event } => {
                if matches!(event, WorkerEvent::Stopped { .. }) {
                    self.workers.remove(&name);
                }
                Emit::Worker {
                    worker: name,
                    state: event.name().to_owned(),
                    details: event.describe(),
                }
            }
            Event::WorkerJob {
                ticket,
                worker,
                job,
                source,
            } => {
                // Decoded on the runtime's threads; here it only moves.
                self.jobs.insert(ticket.0, JobShape::of(&job));
                let mut described = job.describe();
                if let Some(fields) = described.as_object_mut() {
                    fields.insert("worker".into(), worker.into());
                }
                Emit::Job {
                    ticket: ticket.0,
                    job: described,
                    source: source.map(|s| (s.width, s.height, s.rgba)),
                }
            }
            Event::Retrying {
                id,
                cause,
                retry_in,
            } => {
                let (rc, message) = match cause {
                    RetryCause::RateLimited => {
                        ("RateLimited", "the horde asked to slow down".to_owned())
                    }
                    RetryCause::Unreachable(why) => ("ServerUnreachable", why),
                };
                Emit::Retrying {
                    id: id.0,
                    why: Rejected::new(rc, message),
                    retry_in,
                }
            }
            Event::Connection { state } => {
                let (state, cause) = match state {
                    Connection::Reachable => ("reachable", String::new()),
                    Connection::Retrying { cause } => ("retrying", cause),
                    Connection::Unreachable { cause } => ("unreachable", cause),
                };
                Emit::Connection {
                    state: state.to_owned(),
                    cause,
                }
            }
            Event::WaitingForSlot { id, in_flight } => Emit::WaitingForSlot {
                id: id.0,
                in_flight: in_flight as u32,
            },
        };
        out.push(emit);
    }
}

impl Drop for NodeLogic {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn interrogation(image: &[u8], forms: &[String]) -> Result<InterrogationRequest, Rejected> {
    use base64::Engine;
    if image.is_empty() {
        return Err(Rejected::new(
            "BadRequest",
            "the image to interrogate is empty",
        ));
    }
    if forms.is_empty() {
        return Err(Rejected::new(
            "BadRequest",
            "name at least one form (caption, nsfw, interrogation, or a post-processor)",
        ));
    }
    let body = serde_json::json!({
        "forms": forms.iter().map(|f| serde_json::json!({"name": f})).collect::<Vec<_>>(),
        "source_image": base64::engine::general_purpose::STANDARD.encode(image),
    });
    let req: InterrogationRequest = serde_json::from_value(body)
        .map_err(|e| Rejected::new("BadRequest", format!("the forms: {e}")))?;
    horde_core::api::validate::validate_interrogation_request(&req)
        .map_err(|e| Rejected::from(e.to_error_body()))?;
    Ok(req)
}
