//! `horde_event`: what `horde_client_poll_event` hands out. A flat struct
//! whose fields each kind documents; its pointers borrow from the
//! [`EventSlot`] the client keeps, so they stay valid until the next poll
//! on that client (or its free) and C never frees them.

use std::ffi::{CStr, CString, c_char};

use horde_core::runtime::surface::JobShape;
use horde_core::runtime::{Connection, Event, RetryCause};
use horde_core::worker::{Job, WorkKind, WorkerEvent};

use crate::status::horde_status;

/// Which event a `horde_event` holds. Values are never reused.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum horde_event_kind {
    /// Nothing was pending; no other field is set.
    HORDE_EVENT_NONE = 0,
    /// The request waits in the horde's queue: `position`, `wait_time`.
    HORDE_EVENT_QUEUED = 1,
    /// Jobs moved: `waiting`, `processing`, `finished`, `restarted`.
    HORDE_EVENT_PROGRESS = 2,
    /// One image: `index`, `rgba` (`width` × `height` × 4 bytes, RGBA8, row
    /// by row), `seed`, `model`, `worker`, `censored`.
    HORDE_EVENT_IMAGE = 3,
    /// One text: `index`, `text`/`text_len`, `seed`, `model`, `worker`.
    HORDE_EVENT_TEXT = 4,
    /// One interrogation form: `text` is the form's name, `json` its result.
    HORDE_EVENT_INTERROGATION = 5,
    /// Every result of the request was delivered; the id is done.
    HORDE_EVENT_COMPLETED = 6,
    /// The request failed (results delivered before stay valid): `status`,
    /// `rc` (the horde's code, or libhorde's own), `message`. The id is done.
    HORDE_EVENT_FAILED = 7,
    /// The request was cancelled as asked. The id is done.
    HORDE_EVENT_CANCELLED = 8,
    /// What an image request would cost: `kudos`. The id is done.
    HORDE_EVENT_ESTIMATED = 9,
    /// The models served now: `json`, an array of the horde's model objects.
    /// The id is done.
    HORDE_EVENT_MODELS = 10,
    /// One of the client's workers did something: `worker` (its name),
    /// `worker_event`, `json` (the event's fields), `message` (errors and
    /// maintenance reasons), `kudos` (totals, on kudos and stop events).
    HORDE_EVENT_WORKER = 11,
    /// A job for the game to do (a worker started with no backend): `id` is
    /// the job's ticket, `job_kind`; `text` the prompt (image and text
    /// jobs); `model`; `seed`; image jobs: `width`, `height`, `steps`,
    /// `count`; `rgba` the decoded source image (img2img, or the image a
    /// form works on) of `source_width` × `source_height`; `json` every
    /// setting. Answer with `horde_client_submit_job_*` or
    /// `horde_client_fail_job`.
    HORDE_EVENT_WORKER_JOB = 12,
    /// Who the client's API key belongs to: `json`, the horde's user object
    /// (`username`, `kudos`, …), `kudos`. The id is done.
    HORDE_EVENT_USER = 13,
    /// A call for the request failed for a passing reason and is tried
    /// again: `status` is `HORDE_STATUS_RATE_LIMITED` (the horde answered
    /// 429) or `HORDE_STATUS_NETWORK` (no answer, or a 5xx), `rc`
    /// `RateLimited` or `ServerUnreachable`, `message` the cause,
    /// `wait_time` the whole seconds until the next attempt (rounded up),
    /// `json` `{"retry_in": SECONDS}` exactly. The id is not done.
    HORDE_EVENT_RETRYING = 14,
    /// Whether the horde answers changed (`id` is 0): `rc` is `Reachable`
    /// (`status` `HORDE_STATUS_OK`), `Retrying` (calls fail and are retried)
    /// or `Unreachable` (they failed for `give_up_after_ms`; requests fail
    /// with `HORDE_STATUS_NETWORK` — show the player "offline"), both with
    /// `status` `HORDE_STATUS_NETWORK` and `message` the cause.
    HORDE_EVENT_CONNECTION = 15,
    /// The request waits for one of the client's `max_in_flight` slots
    /// (`processing` requests are at the horde) and is sent when one ends.
    /// The id is not done.
    HORDE_EVENT_WAITING_FOR_SLOT = 16,
}

/// What a worker event says (`horde_event.worker_event`). Values are never reused.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum horde_worker_event {
    /// Not a worker event.
    HORDE_WORKER_NONE = 0,
    /// The horde answered (never sent while it cannot be reached);
    /// `json.models` are served.
    HORDE_WORKER_STARTED = 1,
    /// A job was popped.
    HORDE_WORKER_JOB_RECEIVED = 2,
    /// A job was submitted (or faulted: `json.state`).
    HORDE_WORKER_JOB_FINISHED = 3,
    /// Kudos were earned: `kudos` is the worker's total.
    HORDE_WORKER_KUDOS_EARNED = 4,
    /// Pops find nothing to do; `json.skipped` says why. Sent for the
    /// first empty pop after start or a job, then only when the reasons
    /// change.
    HORDE_WORKER_NOTHING_TO_DO = 5,
    /// Maintenance went on or off: `message` says why.
    HORDE_WORKER_MAINTENANCE = 6,
    /// The worker started or stopped offering its GPU (idle gating).
    HORDE_WORKER_OFFERING = 7,
    /// Something failed: `message`; `json.fatal` when the worker stopped.
    HORDE_WORKER_ERROR = 8,
    /// The worker stopped: `kudos` earned in all, `json` its totals.
    HORDE_WORKER_STOPPED = 9,
}

/// The kinds of work (`horde_worker_config.kind`, `horde_event.job_kind`).
/// Values are never reused.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum horde_work_kind {
    /// None (not a job event).
    HORDE_WORK_NONE = 0,
    /// Images (a "dreamer").
    HORDE_WORK_IMAGE = 1,
    /// Text (a "scribe").
    HORDE_WORK_TEXT = 2,
    /// Interrogation and post-processing forms (an "alchemist").
    HORDE_WORK_ALCHEMY = 3,
}

impl horde_work_kind {
    pub(crate) fn of(kind: WorkKind) -> Self {
        match kind {
            WorkKind::Image => Self::HORDE_WORK_IMAGE,
            WorkKind::Text => Self::HORDE_WORK_TEXT,
            WorkKind::Alchemy => Self::HORDE_WORK_ALCHEMY,
        }
    }
}

/// One event. Pointers are never NULL except `rgba` (NULL when the event
/// has no pixels); strings are NUL-terminated UTF-8 (empty when the kind
/// does not use them). Everything it points to is owned by the client and
/// stays valid until the next `horde_client_poll_event` on that client or
/// `horde_client_free`.
///
/// Before the first poll, set `struct_size` with `horde_event_init` (or to
/// `sizeof(horde_event)`): a later libhorde that adds fields at the end
/// then writes only the fields this caller's struct has.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct horde_event {
    /// `sizeof(horde_event)` as the caller was compiled; after a poll, the
    /// bytes libhorde wrote (never more than the caller's).
    pub struct_size: usize,
    /// Which event this is; the other fields follow from it.
    pub kind: horde_event_kind,
    /// The request's id (a job's ticket for `HORDE_EVENT_WORKER_JOB`).
    pub id: u64,
    /// The result's index among the request's results.
    pub index: u32,
    /// 1-based position in the horde's queue.
    pub position: u32,
    /// Expected seconds until done.
    pub wait_time: i64,
    /// Jobs not yet handed to a worker.
    pub waiting: u32,
    /// Jobs a worker is running.
    pub processing: u32,
    /// Jobs with results.
    pub finished: u32,
    /// Jobs that failed and were requeued.
    pub restarted: u32,
    /// Image width in pixels (a job's requested width).
    pub width: u32,
    /// Image height in pixels (a job's requested height).
    pub height: u32,
    /// Sampling steps of an image job.
    pub steps: u32,
    /// Images an image job asks for.
    pub count: u32,
    /// RGBA8 pixels, or NULL.
    pub rgba: *const u8,
    /// Bytes at `rgba`.
    pub rgba_len: usize,
    /// Width of a job's source image at `rgba`.
    pub source_width: u32,
    /// Height of a job's source image at `rgba`.
    pub source_height: u32,
    /// A text, a form's name, or a job's prompt (may hold NULs: use `text_len`).
    pub text: *const c_char,
    /// Bytes at `text`, without the terminating NUL.
    pub text_len: usize,
    /// The seed, as the horde writes it.
    pub seed: *const c_char,
    /// The model.
    pub model: *const c_char,
    /// The worker that made the result, or the client's worker the event is
    /// about (`HORDE_EVENT_WORKER`, and the one that popped a
    /// `HORDE_EVENT_WORKER_JOB`).
    pub worker: *const c_char,
    /// The worker's safety check replaced the image.
    pub censored: bool,
    /// Kudos: an estimate, or a worker's total.
    pub kudos: f64,
    /// Why a request failed.
    pub status: horde_status,
    /// The horde's return code of a failure (`KudosUpfront`, …) or libhorde's own.
    pub rc: *const c_char,
    /// A human-readable message.
    pub message: *const c_char,
    /// Structured details as JSON (models, forms, worker events, jobs), or "".
    pub json: *const c_char,
    /// What a worker event says.
    pub worker_event: horde_worker_event,
    /// The kind of a job.
    pub job_kind: horde_work_kind,
}

const EMPTY: &CStr = c"";

impl horde_event {
    /// An event of kind `HORDE_EVENT_NONE` with every field empty.
    pub fn none() -> Self {
        Self {
            struct_size: std::mem::size_of::<Self>(),
            kind: horde_event_kind::HORDE_EVENT_NONE,
            id: 0,
            index: 0,
            position: 0,
            wait_time: 0,
            waiting: 0,
            processing: 0,
            finished: 0,
            restarted: 0,
            width: 0,
            height: 0,
            steps: 0,
            count: 0,
            rgba: std::ptr::null(),
            rgba_len: 0,
            source_width: 0,
            source_height: 0,
            text: EMPTY.as_ptr(),
            text_len: 0,
            seed: EMPTY.as_ptr(),
            model: EMPTY.as_ptr(),
            worker: EMPTY.as_ptr(),
            censored: false,
            kudos: 0.0,
            status: horde_status::HORDE_STATUS_OK,
            rc: EMPTY.as_ptr(),
            message: EMPTY.as_ptr(),
            json: EMPTY.as_ptr(),
            worker_event: horde_worker_event::HORDE_WORKER_NONE,
            job_kind: horde_work_kind::HORDE_WORK_NONE,
        }
    }
}

/// The storage an event's pointers borrow: kept by the client until the
/// next poll.
#[derive(Default)]
pub(crate) struct EventSlot {
    rgba: Vec<u8>,
    text: Vec<u8>,
    strings: Vec<CString>,
}

/// A string C can read: interior NULs (which C cannot represent) are dropped.
fn c_string(s: &str) -> CString {
    CString::new(s.replace('\0', "")).unwrap_or_default()
}

impl EventSlot {
    /// Forgets the previous event's storage.
    pub(crate) fn clear(&mut self) {
        self.rgba = Vec::new();
        self.text.clear();
        self.strings.clear();
    }

    fn keep(&mut self, s: &str) -> *const c_char {
        if s.is_empty() {
            return EMPTY.as_ptr();
        }
        let c = c_string(s);
        let p = c.as_ptr();
        // The CString's heap buffer does not move when the Vec grows.
        self.strings.push(c);
        p
    }

    fn keep_text(&mut self, s: &str, ev: &mut horde_event) {
        self.text.clear();
        self.text.extend_from_slice(s.as_bytes());
        self.text.push(0);
        ev.text = self.text.as_ptr().cast();
        ev.text_len = s.len();
    }

    fn keep_rgba(&mut self, rgba: Vec<u8>, ev: &mut horde_event) {
        self.rgba = rgba;
        ev.rgba = self.rgba.as_ptr();
        ev.rgba_len = self.rgba.len();
    }

    /// Fills `ev` from `event`, keeping what its pointers borrow; answers
    /// the job's facts for a worker job, so the client can check the answer.
    pub(crate) fn fill(&mut self, event: Event, ev: &mut horde_event) -> Option<JobShape> {
        use horde_event_kind::*;
        *ev = horde_event::none();
        match event {
            Event::Queued {
                id,
                position,
                wait_time,
            } => {
                ev.kind = HORDE_EVENT_QUEUED;
                ev.id = id.0;
                ev.position = position;
                ev.wait_time = wait_time;
            }
            Event::Progress {
                id,
                waiting,
                processing,
                finished,
                restarted,
            } => {
                ev.kind = HORDE_EVENT_PROGRESS;
                ev.id = id.0;
                (ev.waiting, ev.processing, ev.finished, ev.restarted) =
                    (waiting, processing, finished, restarted);
            }
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
            } => {
                ev.kind = HORDE_EVENT_IMAGE;
                ev.id = id.0;
                ev.index = u32::try_from(index).unwrap_or(u32::MAX);
                (ev.width, ev.height) = (width, height);
                self.keep_rgba(rgba, ev);
                ev.seed = self.keep(&seed);
                ev.model = self.keep(&model);
                ev.worker = self.keep(&worker);
                ev.censored = censored;
            }
            Event::TextReady {
                id,
                index,
                text,
                seed,
                model,
                worker,
            } => {
                ev.kind = HORDE_EVENT_TEXT;
                ev.id = id.0;
                ev.index = u32::try_from(index).unwrap_or(u32::MAX);
                self.keep_text(&text, ev);
                ev.seed = self.keep(&seed.to_string());
                ev.model = self.keep(&model);
                ev.worker = self.keep(&worker);
            }
            Event::InterrogationReady { id, form, result } => {
                ev.kind = HORDE_EVENT_INTERROGATION;
                ev.id = id.0;
                self.keep_text(&form, ev);
                ev.json = self.keep(&serde_json::Value::Object(result).to_string());
            }
            Event::Retrying {
                id,
                cause,
                retry_in,
            } => {
                ev.kind = HORDE_EVENT_RETRYING;
                ev.id = id.0;
                let (status, rc, why) = match &cause {
                    RetryCause::RateLimited => (
                        horde_status::HORDE_STATUS_RATE_LIMITED,
                        "RateLimited",
                        "the horde asked to slow down",
                    ),
                    RetryCause::Unreachable(why) => (
                        horde_status::HORDE_STATUS_NETWORK,
                        "ServerUnreachable",
                        why.as_str(),
                    ),
                };
                ev.status = status;
                ev.rc = self.keep(rc);
                ev.message = self.keep(why);
                ev.wait_time = retry_in.max(0.0).ceil() as i64;
                ev.json = self.keep(&serde_json::json!({ "retry_in": retry_in }).to_string());
            }
            Event::Connection { state } => {
                ev.kind = HORDE_EVENT_CONNECTION;
                let (rc, cause) = match &state {
                    Connection::Reachable => ("Reachable", ""),
                    Connection::Retrying { cause } => ("Retrying", cause.as_str()),
                    Connection::Unreachable { cause } => ("Unreachable", cause.as_str()),
                };
                if !cause.is_empty() {
                    ev.status = horde_status::HORDE_STATUS_NETWORK;
                }
                ev.rc = self.keep(rc);
                ev.message = self.keep(cause);
            }
            Event::WaitingForSlot { id, in_flight } => {
                ev.kind = HORDE_EVENT_WAITING_FOR_SLOT;
                ev.id = id.0;
                ev.processing = u32::try_from(in_flight).unwrap_or(u32::MAX);
            }
            Event::Completed { id } => {
                ev.kind = HORDE_EVENT_COMPLETED;
                ev.id = id.0;
            }
            Event::Failed { id, error } => {
                ev.kind = HORDE_EVENT_FAILED;
                ev.id = id.0;
                let rc = error.rc.as_ref().map(|rc| rc.as_str().to_owned());
                let rc = rc.as_deref().unwrap_or("Unknown");
                ev.status = horde_status::of_rc(rc);
                ev.rc = self.keep(rc);
                ev.message = self.keep(&error.message);
            }
            Event::Cancelled { id } => {
                ev.kind = HORDE_EVENT_CANCELLED;
                ev.id = id.0;
            }
            Event::Estimated { id, kudos } => {
                ev.kind = HORDE_EVENT_ESTIMATED;
                ev.id = id.0;
                ev.kudos = kudos;
            }
            Event::Models { id, models } => {
                ev.kind = HORDE_EVENT_MODELS;
                ev.id = id.0;
                let json = serde_json::to_string(&models).unwrap_or_else(|_| "[]".into());
                ev.json = self.keep(&json);
            }
            Event::User { id, user } => {
                ev.kind = HORDE_EVENT_USER;
                ev.id = id.0;
                ev.kudos = user.kudos;
                let json = serde_json::to_string(&user).unwrap_or_else(|_| "{}".into());
                ev.json = self.keep(&json);
            }
            Event::Worker { name, event } => {
                ev.kind = HORDE_EVENT_WORKER;
                ev.worker = self.keep(&name);
                self.fill_worker(&event, ev);
            }
            Event::WorkerJob {
                ticket,
                worker,
                job,
                source,
            } => {
                ev.kind = HORDE_EVENT_WORKER_JOB;
                ev.id = ticket.0;
                ev.worker = self.keep(&worker);
                return Some(self.fill_job(&job, source, ev));
            }
        }
        None
    }

    fn fill_worker(&mut self, event: &WorkerEvent, ev: &mut horde_event) {
        use horde_worker_event::*;
        ev.worker_event = match event {
            WorkerEvent::Started { .. } => HORDE_WORKER_STARTED,
            WorkerEvent::JobReceived { model, .. } => {
                ev.model = self.keep(model);
                HORDE_WORKER_JOB_RECEIVED
            }
            WorkerEvent::JobFinished { .. } => HORDE_WORKER_JOB_FINISHED,
            WorkerEvent::KudosEarned { total, .. } => {
                ev.kudos = *total;
                HORDE_WORKER_KUDOS_EARNED
            }
            WorkerEvent::NothingToDo { .. } => HORDE_WORKER_NOTHING_TO_DO,
            WorkerEvent::Maintenance { reason, .. } => {
                ev.message = self.keep(reason);
                HORDE_WORKER_MAINTENANCE
            }
            WorkerEvent::Offering { .. } => HORDE_WORKER_OFFERING,
            WorkerEvent::Error { message, .. } => {
                ev.message = self.keep(message);
                HORDE_WORKER_ERROR
            }
            WorkerEvent::Stopped { stats } => {
                ev.kudos = stats.kudos;
                HORDE_WORKER_STOPPED
            }
        };
        ev.json = self.keep(&event.describe().to_string());
    }

    fn fill_job(
        &mut self,
        job: &Job,
        source: Option<horde_core::runtime::SourceImage>,
        ev: &mut horde_event,
    ) -> JobShape {
        ev.job_kind = horde_work_kind::of(job.kind());
        ev.json = self.keep(&job.describe().to_string());
        match job {
            Job::Image(j) => {
                self.keep_text(&j.prompt, ev);
                ev.model = self.keep(&j.model);
                ev.seed = self.keep(&j.seed.to_string());
                (ev.width, ev.height, ev.steps, ev.count) = (j.width, j.height, j.steps, j.count);
            }
            Job::Text(j) => {
                self.keep_text(&j.prompt, ev);
                ev.model = self.keep(&j.model);
            }
            Job::Form(j) => self.keep_text(j.form.as_str(), ev),
        }
        // Decoded on the runtime's threads: the poll only moves it.
        if let Some(img) = source {
            (ev.source_width, ev.source_height) = (img.width, img.height);
            self.keep_rgba(img.rgba, ev);
        }
        JobShape::of(job)
    }
}
