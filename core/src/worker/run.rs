//! The worker loop: pop → fetch sources → run the backend → upload → submit,
//! for one worker name and one kind of work. It pops only while the game
//! says the player is idle, never takes what its measured speed cannot
//! finish within the job's ttl, submits every popped job (as `faulted` when
//! it failed or the game took its GPU back), and enters maintenance on stop.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use tokio::task::JoinSet;

use super::backends::{Backend, BackendError};
use super::config::{PopOutcome, WorkerConfig};
use super::events::{Control, WorkerControl, WorkerEvent, WorkerStats};
use super::job::{
    FormJob, FormResult, ImageJob, ImageResult, Job, Output, SourceImage, TextJob, WorkKind,
};
use super::speed::Speed;
use crate::api::{
    ErrorBody, FormName, GenMetadata, GenerationState, ImagePopResponse, ImageSubmitRequest,
    InterrogationPopForm, InterrogationSubmitRequest, MetadataType, MetadataValue,
    ModifyWorkerRequest, R2_SUBMITTED, Rc, SkippedReasons, SubmitResponse, TextPopResponse,
    TextSubmitRequest,
};
use crate::client::{CancelHandle, CancelSignal, ClientError, HordeClient, cancel_pair};

/// Why a worker could not run.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum WorkerError {
    /// The configuration cannot work.
    #[error("invalid worker configuration: {0}")]
    Config(String),
    /// The backend is not ready (a bridge's server is down, a model will not load).
    #[error("the backend is not ready: {0}")]
    Backend(BackendError),
    /// The horde refused this worker for good (wrong key, a name taken by
    /// another user, the anonymous key).
    #[error("the horde refused this worker: {}", .0.message)]
    Refused(ErrorBody),
}

/// Upstream's `max_pixels` grain: the horde sizes images in 64-pixel steps.
const PIXEL_GRAIN: u64 = 64 * 64;
/// The shortest ttl the horde gives any job, in seconds.
const MIN_TTL: f64 = 150.0;
/// Steps assumed for the largest job when sizing `max_pixels` from the speed.
const SIZING_STEPS: f64 = 50.0;
/// The share of a ttl a job may take by estimate.
const TTL_MARGIN: f64 = 0.8;

/// A worker: one name, one backend, one kind of work.
pub struct Worker {
    ctx: Arc<Ctx>,
    offering: bool,
}

/// What every job task shares.
struct Ctx {
    client: HordeClient,
    config: WorkerConfig,
    backend: Arc<dyn Backend>,
}

/// How one job ended, as the job task reports it to the loop.
struct Report {
    job: String,
    state: GenerationState,
    reward: f64,
    seconds: f64,
    /// Work done (for the speed estimate), when the backend produced a result.
    work: Option<f64>,
    error: Option<String>,
}

impl Worker {
    /// A worker for `backend`, talking to the horde of `client`, offering
    /// work from the start (see [`Worker::start_idle`]).
    pub fn new(client: HordeClient, config: WorkerConfig, backend: Arc<dyn Backend>) -> Self {
        Self {
            ctx: Arc::new(Ctx {
                client,
                config,
                backend,
            }),
            offering: true,
        }
    }

    /// Whether to pop from the start (`true`, a dedicated worker) or wait
    /// for [`super::WorkerHandle::set_idle`] (`false`, a game while played).
    pub fn start_idle(mut self, idle: bool) -> Self {
        self.offering = idle;
        self
    }

    /// Runs until stopped (or refused for good), reporting to `on_event`.
    /// Answers the totals; nothing popped is left unsubmitted.
    pub async fn run(
        self,
        mut control: WorkerControl,
        mut on_event: impl FnMut(WorkerEvent),
    ) -> Result<WorkerStats, WorkerError> {
        let ctx = self.ctx;
        if let Some(problem) = ctx.config.problem() {
            return Err(WorkerError::Config(problem));
        }
        let offer = ctx.backend.offer().await.map_err(WorkerError::Backend)?;
        let kind = ctx.backend.kind();
        let models = if ctx.config.models.is_empty() {
            offer.models.clone()
        } else {
            ctx.config.models.clone()
        };
        let forms: Vec<FormName> = if ctx.config.forms.is_empty() {
            offer.forms.clone()
        } else {
            ctx.config.forms.clone()
        };
        let offered: Vec<String> = match kind {
            WorkKind::Alchemy => forms.iter().map(|f| f.as_str().to_owned()).collect(),
            _ => models.clone(),
        };
        if offered.is_empty() {
            return Err(WorkerError::Config(format!(
                "the {} backend offers no {}",
                ctx.backend.name(),
                if kind == WorkKind::Alchemy {
                    "forms"
                } else {
                    "models"
                }
            )));
        }
        let max_context = offer
            .max_context_length
            .map_or(ctx.config.max_context_length, |c| {
                c.min(ctx.config.max_context_length)
            });
        // `Started` means the horde answered: at once when the start-up
        // lookup got an answer, else with the first pop it answers.
        let started = WorkerEvent::Started {
            name: ctx.config.name.clone(),
            models: offered,
        };
        let unstarted = if clear_maintenance(&ctx, &mut on_event).await {
            on_event(started);
            None
        } else {
            Some(started)
        };

        let mut state = LoopState {
            unstarted,
            last_skipped: None,
            offering: self.offering,
            stopping: false,
            refused: None,
            stats: WorkerStats::default(),
            speed: Speed::new(ctx.backend.speed_hint()),
            next_pop: Instant::now(),
            empty_streak: 0,
            error_streak: 0,
            fault_streak: 0,
        };
        let mut jobs: JoinSet<Report> = JoinSet::new();
        let mut cancels: HashMap<tokio::task::Id, CancelHandle> = HashMap::new();
        let threads = ctx.config.threads.max(1) as usize;
        loop {
            if (state.stopping || state.refused.is_some()) && jobs.is_empty() {
                break;
            }
            let may_pop = state.offering
                && !state.stopping
                && state.refused.is_none()
                && jobs.len() < threads;
            let wait = state.next_pop.saturating_duration_since(Instant::now());
            tokio::select! {
                biased;
                command = control.0.recv() => match command {
                    Some(Control::Idle(idle)) => {
                        if idle != state.offering {
                            state.offering = idle;
                            on_event(WorkerEvent::Offering { on: idle });
                        }
                    }
                    Some(Control::TakeGpuBack) => {
                        if state.offering {
                            state.offering = false;
                            on_event(WorkerEvent::Offering { on: false });
                        }
                        cancels.values().for_each(CancelHandle::cancel);
                    }
                    Some(Control::Stop) | None => state.stopping = true,
                },
                Some(done) = jobs.join_next_with_id(), if !jobs.is_empty() => {
                    let report = match done {
                        Ok((id, report)) => {
                            cancels.remove(&id);
                            report
                        }
                        Err(e) => {
                            cancels.remove(&e.id());
                            on_event(WorkerEvent::Error {
                                message: format!("a job task failed: {e}"),
                                fatal: false,
                            });
                            continue;
                        }
                    };
                    state.finish(report, &ctx, &mut on_event);
                }
                () = pause(wait), if may_pop => {
                    let popped = pop(&ctx, kind, &models, &forms, &state.speed, max_context).await;
                    for job in state.popped(popped, &ctx, &mut on_event) {
                        let (handle, signal) = cancel_pair();
                        let speed = state.speed.get();
                        let task = jobs.spawn(run_job(ctx.clone(), job, signal, speed));
                        cancels.insert(task.id(), handle);
                    }
                }
            }
        }
        set_maintenance(&ctx, "the worker stopped", &mut on_event).await;
        let stats = state.stats.clone();
        on_event(WorkerEvent::Stopped {
            stats: stats.clone(),
        });
        match state.refused {
            Some(body) => Err(WorkerError::Refused(body)),
            None => Ok(stats),
        }
    }
}

struct LoopState {
    /// `Started`, held until the horde first answers.
    unstarted: Option<WorkerEvent>,
    /// The reasons the last empty pop gave, while pops stay empty: a
    /// `NothingToDo` is reported only when they change.
    last_skipped: Option<Box<SkippedReasons>>,
    offering: bool,
    stopping: bool,
    refused: Option<ErrorBody>,
    stats: WorkerStats,
    speed: Speed,
    next_pop: Instant,
    empty_streak: u32,
    error_streak: u32,
    fault_streak: u32,
}

/// What one pop brought.
enum Popped {
    Image(Box<ImagePopResponse>),
    Text(Box<TextPopResponse>),
    Forms(Vec<InterrogationPopForm>),
    Nothing(Box<SkippedReasons>),
}

/// A popped job handed to a job task.
enum Work {
    Image(Box<ImagePopResponse>),
    Text(Box<TextPopResponse>),
    Form(InterrogationPopForm),
}

impl LoopState {
    fn after(&mut self, outcome: PopOutcome, ctx: &Ctx) {
        self.next_pop = Instant::now() + ctx.config.pacing.wait(outcome);
    }

    /// Books a pop's answer; answers the jobs to start.
    fn popped(
        &mut self,
        popped: Result<Popped, ClientError>,
        ctx: &Ctx,
        on_event: &mut impl FnMut(WorkerEvent),
    ) -> Vec<Work> {
        let answered = match &popped {
            Ok(_) => true,
            Err(e @ ClientError::Api { .. }) => !Self::lasting(e),
            Err(_) => false,
        };
        if answered && let Some(started) = self.unstarted.take() {
            on_event(started);
        }
        let popped = match popped {
            Ok(p) => p,
            Err(e) => {
                self.pop_failed(e, ctx, on_event);
                return Vec::new();
            }
        };
        self.error_streak = 0;
        let work = match popped {
            Popped::Nothing(skipped) => {
                self.empty_streak += 1;
                self.after(
                    PopOutcome::Empty {
                        streak: self.empty_streak,
                    },
                    ctx,
                );
                if self.last_skipped.as_ref() != Some(&skipped) {
                    self.last_skipped = Some(skipped.clone());
                    on_event(WorkerEvent::NothingToDo { skipped });
                }
                return Vec::new();
            }
            Popped::Image(p) => vec![Work::Image(p)],
            Popped::Text(p) => vec![Work::Text(p)],
            Popped::Forms(forms) => forms.into_iter().map(Work::Form).collect(),
        };
        self.empty_streak = 0;
        self.last_skipped = None;
        self.after(PopOutcome::Job, ctx);
        for w in &work {
            let (job, model, summary, ttl) = match w {
                Work::Image(p) => (
                    p.id.as_ref().map(|i| i.to_string()).unwrap_or_default(),
                    p.model.clone().unwrap_or_default(),
                    ImageJob::from_pop(p).map(|j| Job::Image(j).summary()),
                    p.ttl.unwrap_or(150),
                ),
                Work::Text(p) => (
                    p.id.as_ref().map(|i| i.to_string()).unwrap_or_default(),
                    p.model.clone().unwrap_or_default(),
                    TextJob::from_pop(p).map(|j| Job::Text(j).summary()),
                    p.ttl.unwrap_or(150),
                ),
                Work::Form(f) => (
                    f.id.to_string(),
                    f.form.as_str().to_owned(),
                    Some(format!("form {}", f.form.as_str())),
                    150,
                ),
            };
            on_event(WorkerEvent::JobReceived {
                job,
                model,
                summary: summary.unwrap_or_default(),
                ttl,
            });
        }
        work
    }

    /// A refusal about who we are or what we sent: it will not change by
    /// asking again.
    fn lasting(e: &ClientError) -> bool {
        let ClientError::Api { status, body } = e else {
            return false;
        };
        let rc = body.rc.clone();
        rc != Some(Rc::WorkerMaintenance)
            && (matches!(status, 400 | 401 | 403)
                || matches!(
                    rc,
                    Some(Rc::InvalidAPIKey | Rc::WrongCredentials | Rc::AnonForbiddenWorker)
                ))
    }

    fn pop_failed(&mut self, e: ClientError, ctx: &Ctx, on_event: &mut impl FnMut(WorkerEvent)) {
        let lasting = Self::lasting(&e);
        if let ClientError::Api { body, .. } = &e {
            if body.rc == Some(Rc::WorkerMaintenance) {
                self.after(PopOutcome::Maintenance, ctx);
                on_event(WorkerEvent::Maintenance {
                    on: true,
                    reason: body.message.clone(),
                });
                return;
            }
            // Stop, with the horde's own words.
            if lasting {
                on_event(WorkerEvent::Error {
                    message: body.message.clone(),
                    fatal: true,
                });
                self.refused = Some(body.clone());
                return;
            }
        }
        self.error_streak += 1;
        self.after(
            PopOutcome::Error {
                streak: self.error_streak,
            },
            ctx,
        );
        on_event(WorkerEvent::Error {
            message: format!("pop failed: {e}"),
            fatal: false,
        });
    }

    fn finish(&mut self, r: Report, ctx: &Ctx, on_event: &mut impl FnMut(WorkerEvent)) {
        if let Some(work) = r.work {
            self.speed.record(work, r.seconds);
            self.stats.speed = self.speed.get();
        }
        if r.state == GenerationState::Faulted {
            self.stats.jobs_faulted += 1;
            self.fault_streak += 1;
            let wait = ctx.config.pacing.wait(PopOutcome::Faulted {
                streak: self.fault_streak,
            });
            self.next_pop = self.next_pop.max(Instant::now() + wait);
        } else {
            self.stats.jobs_done += 1;
            self.fault_streak = 0;
        }
        self.stats.kudos += r.reward;
        let reward = r.reward;
        on_event(WorkerEvent::JobFinished {
            job: r.job,
            state: r.state,
            reward,
            seconds: r.seconds,
            error: r.error,
        });
        if reward > 0.0 {
            on_event(WorkerEvent::KudosEarned {
                amount: reward,
                total: self.stats.kudos,
            });
        }
    }
}

/// Waits `wait`; a zero wait is no wait at all (a timer would round it up
/// to the timer's next millisecond tick).
async fn pause(wait: Duration) {
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
}

/// One pop of the right kind, sized by the measured speed.
async fn pop(
    ctx: &Ctx,
    kind: WorkKind,
    models: &[String],
    forms: &[FormName],
    speed: &Speed,
    max_context: u32,
) -> Result<Popped, ClientError> {
    let c = &ctx.client;
    let config = &ctx.config;
    match kind {
        WorkKind::Image => {
            let p = c
                .pop_image(&config.image_pop(models, max_pixels(config, speed)))
                .await?;
            Ok(match p.id {
                Some(_) => Popped::Image(Box::new(p)),
                None => Popped::Nothing(Box::new(p.skipped)),
            })
        }
        WorkKind::Text => {
            let mut req = config.text_pop(models, max_length(config, speed));
            req.max_context_length = Some(max_context);
            let p = c.pop_text(&req).await?;
            Ok(match p.id {
                Some(_) => Popped::Text(Box::new(p)),
                None => Popped::Nothing(Box::new(p.skipped)),
            })
        }
        WorkKind::Alchemy => {
            let p = c.pop_forms(&config.form_pop(forms)).await?;
            Ok(if p.forms.is_empty() {
                Popped::Nothing(Box::new(p.skipped))
            } else {
                Popped::Forms(p.forms)
            })
        }
    }
}

/// The largest image the worker can finish within the shortest ttl at its
/// measured speed (pixel-steps/s), assuming long jobs of 50 steps; the
/// configured `max_pixels` when faster or not yet measured.
fn max_pixels(config: &WorkerConfig, speed: &Speed) -> u64 {
    let ttl = if config.extra_slow_worker {
        MIN_TTL * 3.0
    } else {
        MIN_TTL
    };
    match speed.get() {
        Some(s) => {
            let fits = (s * ttl * TTL_MARGIN / SIZING_STEPS) as u64 / PIXEL_GRAIN * PIXEL_GRAIN;
            fits.clamp(PIXEL_GRAIN, config.max_pixels)
        }
        None => config.max_pixels,
    }
}

/// The most tokens the worker can generate within the text ttl (150 s).
fn max_length(config: &WorkerConfig, speed: &Speed) -> u32 {
    match speed.get() {
        Some(s) => ((s * MIN_TTL * TTL_MARGIN) as u32).clamp(16, config.max_length),
        None => config.max_length,
    }
}

/// Clears maintenance at start, when a worker of this name is in it.
/// Answers whether the horde answered the lookup (a worker not created
/// yet is an answer too: the first pop creates it).
async fn clear_maintenance(ctx: &Ctx, on_event: &mut impl FnMut(WorkerEvent)) -> bool {
    let w = match ctx.client.worker_by_name(&ctx.config.name).await {
        Ok(w) => w,
        Err(ClientError::Api { status: 404, .. }) => return true,
        // Not reachable, or refused: the pop will say.
        Err(_) => return false,
    };
    if !w.maintenance_mode {
        return true;
    }
    let req = ModifyWorkerRequest {
        maintenance: Some(false),
        ..ModifyWorkerRequest::default()
    };
    match ctx.client.modify_worker(w.id.as_str(), &req).await {
        Ok(_) => on_event(WorkerEvent::Maintenance {
            on: false,
            reason: "cleared on start".into(),
        }),
        Err(e) => on_event(WorkerEvent::Error {
            message: format!("cannot clear maintenance: {e}"),
            fatal: false,
        }),
    }
    true
}

/// Enters maintenance on stop, so the horde stops routing work here.
async fn set_maintenance(ctx: &Ctx, why: &str, on_event: &mut impl FnMut(WorkerEvent)) {
    let w = match ctx.client.worker_by_name(&ctx.config.name).await {
        Ok(w) => w,
        Err(ClientError::Api { status: 404, .. }) => return,
        Err(e) => {
            on_event(WorkerEvent::Error {
                message: format!("cannot enter maintenance: {e}"),
                fatal: false,
            });
            return;
        }
    };
    let req = ModifyWorkerRequest {
        maintenance: Some(true),
        maintenance_msg: Some(why.to_owned()),
        ..ModifyWorkerRequest::default()
    };
    match ctx.client.modify_worker(w.id.as_str(), &req).await {
        Ok(_) => on_event(WorkerEvent::Maintenance {
            on: true,
            reason: why.to_owned(),
        }),
        Err(e) => on_event(WorkerEvent::Error {
            message: format!("cannot enter maintenance: {e}"),
            fatal: false,
        }),
    }
}

/// One job from pop to submit.
async fn run_job(ctx: Arc<Ctx>, work: Work, cancel: CancelSignal, speed: Option<f64>) -> Report {
    match work {
        Work::Image(p) => image_job(&ctx, &p, cancel, speed).await,
        Work::Text(p) => text_job(&ctx, &p, cancel, speed).await,
        Work::Form(f) => form_job(&ctx, &f, cancel).await,
    }
}

/// Runs the backend, unless the measured speed says the job cannot finish
/// within its ttl (then it goes back at once rather than when the ttl ends).
async fn execute(
    ctx: &Ctx,
    job: &Job,
    work: f64,
    ttl: u32,
    speed: Option<f64>,
    cancel: CancelSignal,
) -> (Result<Output, BackendError>, f64) {
    if let Some(s) = speed
        && s > 0.0
        && work / s > f64::from(ttl) * 0.95
    {
        let why = format!(
            "at the measured {s:.0} units/s this job needs {:.0} s, past its ttl of {ttl} s",
            work / s
        );
        return (Err(BackendError(why)), 0.0);
    }
    let started = Instant::now();
    let out = ctx.backend.run(job, cancel).await;
    (out, started.elapsed().as_secs_f64())
}

async fn image_job(
    ctx: &Ctx,
    pop: &ImagePopResponse,
    cancel: CancelSignal,
    speed: Option<f64>,
) -> Report {
    let ids: Vec<String> = if pop.ids.is_empty() {
        pop.id.iter().map(|i| i.to_string()).collect()
    } else {
        pop.ids.iter().map(|i| i.to_string()).collect()
    };
    let first = ids.first().cloned().unwrap_or_default();
    let Some(mut job) = ImageJob::from_pop(pop) else {
        return fault_report(first, "the pop carried no job".into(), 0.0);
    };
    let mut metadata = Vec::new();
    if let Some(src) = &pop.source_image {
        match ctx.client.fetch_source(src).await {
            Ok(bytes) => {
                let mask = match &pop.source_mask {
                    Some(m) => match ctx.client.fetch_source(m).await {
                        Ok(b) => Some(b),
                        Err(_) => {
                            metadata.push(meta(
                                MetadataType::SourceMask,
                                MetadataValue::DownloadFailed,
                            ));
                            None
                        }
                    },
                    None => None,
                };
                job.source = Some(SourceImage {
                    bytes,
                    mask,
                    processing: pop.source_processing.clone(),
                });
            }
            // Like reGen: generate anyway and say the source was lost.
            Err(_) => metadata.push(meta(
                MetadataType::SourceImage,
                MetadataValue::DownloadFailed,
            )),
        }
    }
    let work = job.work();
    let (out, seconds) = execute(
        ctx,
        &Job::Image(job.clone()),
        work,
        pop.ttl.unwrap_or(150),
        speed,
        cancel,
    )
    .await;
    let images = match out {
        Ok(Output::Images(images)) if images.len() >= ids.len() => images,
        Ok(Output::Images(images)) => {
            let why = format!("the backend made {} of {} images", images.len(), ids.len());
            return fault_images(ctx, &ids, why, seconds).await;
        }
        Ok(_) => {
            let why = "the backend answered an image job with something else".to_owned();
            return fault_images(ctx, &ids, why, seconds).await;
        }
        Err(e) => return fault_images(ctx, &ids, e.0, seconds).await,
    };
    let uploads = pop
        .r2_uploads
        .clone()
        .or_else(|| pop.r2_upload.clone().map(|u| vec![u]))
        .unwrap_or_default();
    let mut reward = 0.0;
    let mut state = GenerationState::Ok;
    let mut error = None;
    let batch = ids.len() > 1;
    for (i, (id, image)) in ids.iter().zip(images).enumerate() {
        let ImageResult {
            webp,
            seed,
            state: image_state,
            metadata: mut image_meta,
        } = image;
        let webp = match ensure_webp(webp) {
            Ok(w) => w,
            Err(why) => {
                error = Some(why.clone());
                let _ = submit_image(ctx, fault_submit(id)).await;
                state = GenerationState::Faulted;
                continue;
            }
        };
        let generation = deliver(ctx, uploads.get(i).map(String::as_str), webp).await;
        image_meta.extend(metadata.iter().cloned());
        if batch {
            image_meta.push(GenMetadata {
                kind: MetadataType::BatchIndex,
                value: MetadataValue::SeeRef,
                reference: Some(i.to_string()),
            });
        }
        image_meta.truncate(50);
        let req = ImageSubmitRequest {
            id: id.as_str().into(),
            generation: Some(generation),
            state: Some(image_state.clone()),
            seed,
            censored: None,
            gen_metadata: (!image_meta.is_empty()).then_some(image_meta),
        };
        match submit_image(ctx, req).await {
            Ok(r) => reward += r.reward,
            Err(e) => error = Some(e),
        }
        if image_state != GenerationState::Ok {
            state = image_state;
        }
    }
    Report {
        job: first,
        state,
        reward,
        seconds,
        work: Some(work),
        error,
    }
}

fn meta(kind: MetadataType, value: MetadataValue) -> GenMetadata {
    GenMetadata {
        kind,
        value,
        reference: None,
    }
}

/// Backends may hand back PNG or JPEG (bridges do); the horde wants WebP.
fn ensure_webp(bytes: Vec<u8>) -> Result<Vec<u8>, String> {
    if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        return Ok(bytes);
    }
    let img = image::load_from_memory(&bytes)
        .map_err(|e| format!("the backend's image is unreadable: {e}"))?;
    super::backends::procedural::to_webp(&img.into_rgba8()).map_err(|e| e.0)
}

/// Uploads to the job's upload URL and answers `"R2"`; answers the image as
/// base64 when there is no upload URL or the upload keeps failing (every
/// horde accepts inline results and stores them itself).
async fn deliver(ctx: &Ctx, upload: Option<&str>, webp: Vec<u8>) -> String {
    if let Some(url) = upload {
        let pacing = &ctx.config.pacing;
        for attempt in 1..=pacing.submit_tries.max(1) {
            match ctx.client.upload(url, webp.clone()).await {
                Ok(()) => return R2_SUBMITTED.to_owned(),
                Err(e) => {
                    tracing::warn!(attempt, error = %e, "upload failed");
                    if !transient(&e) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_secs_f64(pacing.submit_retry_secs)).await;
                }
            }
        }
    }
    base64::engine::general_purpose::STANDARD.encode(webp)
}

fn transient(e: &ClientError) -> bool {
    matches!(
        e,
        ClientError::Server(_) | ClientError::Transport(_) | ClientError::RateLimited(_)
    )
}

/// Submits with retries; a job the horde no longer has (gone, already
/// submitted, past its ttl) is final and not retried.
async fn submit_with_retries<F, Fut>(ctx: &Ctx, mut send: F) -> Result<SubmitResponse, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<SubmitResponse, ClientError>>,
{
    let pacing = &ctx.config.pacing;
    let mut last = String::new();
    for _ in 0..pacing.submit_tries.max(1) {
        match send().await {
            Ok(r) => return Ok(r),
            Err(e) if transient(&e) => {
                last = e.to_string();
                tokio::time::sleep(Duration::from_secs_f64(pacing.submit_retry_secs)).await;
            }
            Err(ClientError::Api { body, .. }) => return Err(body.message),
            Err(e) => return Err(e.to_string()),
        }
    }
    Err(format!("submit failed: {last}"))
}

async fn submit_image(ctx: &Ctx, req: ImageSubmitRequest) -> Result<SubmitResponse, String> {
    submit_with_retries(ctx, || ctx.client.submit_image_job(&req)).await
}

fn fault_submit(id: &str) -> ImageSubmitRequest {
    ImageSubmitRequest {
        id: id.into(),
        generation: Some("faulted".into()),
        state: Some(GenerationState::Faulted),
        seed: -1,
        censored: None,
        gen_metadata: None,
    }
}

fn fault_report(job: String, why: String, seconds: f64) -> Report {
    Report {
        job,
        state: GenerationState::Faulted,
        reward: 0.0,
        seconds,
        work: None,
        error: Some(why),
    }
}

async fn fault_images(ctx: &Ctx, ids: &[String], why: String, seconds: f64) -> Report {
    tracing::warn!(error = %why, "image job faulted");
    for id in ids {
        if let Err(e) = submit_image(ctx, fault_submit(id)).await {
            tracing::warn!(error = %e, "submitting the fault failed");
        }
    }
    fault_report(ids.first().cloned().unwrap_or_default(), why, seconds)
}

async fn text_job(
    ctx: &Ctx,
    pop: &TextPopResponse,
    cancel: CancelSignal,
    speed: Option<f64>,
) -> Report {
    let id = pop.id.as_ref().map(|i| i.to_string()).unwrap_or_default();
    let Some(job) = TextJob::from_pop(pop) else {
        return fault_report(id, "the pop carried no job".into(), 0.0);
    };
    let work = job.work();
    let (out, seconds) = execute(
        ctx,
        &Job::Text(job),
        work,
        pop.ttl.unwrap_or(150),
        speed,
        cancel,
    )
    .await;
    let (req, done) = match out {
        Ok(Output::Text(t)) => {
            let done = f64::from(t.tokens.unwrap_or_else(|| estimate_tokens(&t.text)));
            (
                TextSubmitRequest {
                    id: id.as_str().into(),
                    generation: Some(t.text),
                    state: Some(GenerationState::Ok),
                    seed: Some(t.seed.unwrap_or(0)),
                    gen_metadata: None,
                },
                Ok(done),
            )
        }
        other => {
            let why = match other {
                Err(e) => e.0,
                _ => "the backend answered a text job with something else".into(),
            };
            (
                TextSubmitRequest {
                    id: id.as_str().into(),
                    generation: Some("faulted".into()),
                    state: Some(GenerationState::Faulted),
                    seed: None,
                    gen_metadata: None,
                },
                Err(why),
            )
        }
    };
    let submitted = submit_with_retries(ctx, || ctx.client.submit_text_job(&req)).await;
    match (done, submitted) {
        (Ok(tokens), Ok(r)) => Report {
            job: id,
            state: GenerationState::Ok,
            reward: r.reward,
            seconds,
            work: Some(tokens),
            error: None,
        },
        (Ok(tokens), Err(e)) => Report {
            job: id,
            state: GenerationState::Ok,
            reward: 0.0,
            seconds,
            work: Some(tokens),
            error: Some(e),
        },
        (Err(why), _) => fault_report(id, why, seconds),
    }
}

/// About four characters a token, when a backend does not count.
fn estimate_tokens(text: &str) -> u32 {
    (text.chars().count() as u32).div_ceil(4).max(1)
}

async fn form_job(ctx: &Ctx, form: &InterrogationPopForm, cancel: CancelSignal) -> Report {
    let id = form.id.to_string();
    let name = form.form.as_str().to_owned();
    let image = match &form.source_image {
        Some(src) => ctx.client.fetch_source(src).await,
        None => Err(ClientError::Malformed(
            "the form carries no source image".into(),
        )),
    };
    let (out, seconds) = match image {
        Ok(bytes) => {
            let job = Job::Form(FormJob::from_pop(form, bytes));
            execute(ctx, &job, 0.0, 150, None, cancel).await
        }
        Err(e) => (
            Err(BackendError(format!("cannot fetch the source: {e}"))),
            0.0,
        ),
    };
    let result = match out {
        Ok(Output::Form(FormResult::Value(v))) => Ok(v),
        Ok(Output::Form(FormResult::Image(bytes))) => match ensure_webp(bytes) {
            Ok(webp) => Ok(serde_json::Value::String(
                deliver(ctx, form.r2_upload.as_deref(), webp).await,
            )),
            Err(why) => Err(why),
        },
        Ok(_) => Err("the backend answered a form with something else".into()),
        Err(e) => Err(e.0),
    };
    let req = match &result {
        Ok(v) => InterrogationSubmitRequest {
            id: form.id.clone(),
            result: serde_json::json!({ name.clone(): v }),
            state: None,
        },
        Err(_) => InterrogationSubmitRequest {
            id: form.id.clone(),
            result: serde_json::Value::String("faulted".into()),
            state: Some(GenerationState::Faulted),
        },
    };
    let submitted = submit_with_retries(ctx, || ctx.client.submit_form(&req)).await;
    match (result, submitted) {
        (Ok(_), Ok(r)) => Report {
            job: id,
            state: GenerationState::Ok,
            reward: r.reward,
            seconds,
            work: None,
            error: None,
        },
        (Ok(_), Err(e)) => Report {
            job: id,
            state: GenerationState::Ok,
            reward: 0.0,
            seconds,
            work: None,
            error: Some(e),
        },
        (Err(why), _) => fault_report(id, why, seconds),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_shrink_to_what_the_measured_speed_finishes_within_ttl() {
        let config = WorkerConfig {
            max_pixels: 1024 * 1024,
            max_length: 512,
            ..WorkerConfig::named("w")
        };
        assert_eq!(max_pixels(&config, &Speed::new(None)), 1024 * 1024);
        // 200k pixel-steps/s: 50 steps in 120 s → 480k pixels, on the 64² grain.
        let px = max_pixels(&config, &Speed::new(Some(200_000.0)));
        assert_eq!(px, 480_000 / PIXEL_GRAIN * PIXEL_GRAIN);
        assert_eq!(max_pixels(&config, &Speed::new(Some(1.0))), PIXEL_GRAIN);
        assert_eq!(max_pixels(&config, &Speed::new(Some(1e12))), 1024 * 1024);
        // 2 tokens/s: 240 tokens fit 80 % of the 150 s text ttl.
        assert_eq!(max_length(&config, &Speed::new(Some(2.0))), 240);
        assert_eq!(max_length(&config, &Speed::new(Some(100.0))), 512);
    }

    #[test]
    fn results_become_webp_and_tokens_are_estimated() {
        let img = image::RgbaImage::from_pixel(8, 8, image::Rgba([1, 2, 3, 255]));
        let mut png = Vec::new();
        image::DynamicImage::ImageRgba8(img)
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .expect("png");
        let webp = ensure_webp(png).expect("converted");
        assert_eq!(&webp[8..12], b"WEBP");
        assert_eq!(ensure_webp(webp.clone()).expect("kept"), webp);
        assert!(ensure_webp(b"not an image".to_vec()).is_err());
        assert_eq!(estimate_tokens("abcdefgh"), 2);
    }
}
