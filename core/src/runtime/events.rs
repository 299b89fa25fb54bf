//! Events the runtime reports, and the decode thread that delivers them in
//! order, turning result images into RGBA8 on the way.

use crossbeam_channel::{Receiver, Sender};

use super::{RequestId, Wake};
use crate::api::ErrorBody;

/// A decoded image: RGBA8 pixels, row by row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width × height × 4` bytes.
    pub rgba: Vec<u8>,
}

/// Whether the runtime reaches its horde ([`Event::Connection`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Connection {
    /// The horde answers.
    Reachable,
    /// The horde stopped answering; calls are retried with back-off.
    Retrying {
        /// The first failure's cause (connection refused, a timeout, a 5xx).
        cause: String,
    },
    /// The horde has not answered for the policy's `give_up_after`:
    /// requests fail with `ServerUnreachable` (the game is offline, or the
    /// horde is down). Back to [`Connection::Reachable`] once a call is answered.
    Unreachable {
        /// The cause, as [`Connection::Retrying`] said it.
        cause: String,
    },
}

/// What happened to a request.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// The request waits for one of the runtime's `max_in_flight` slots:
    /// that many requests are at the horde now, and it is sent when one ends.
    WaitingForSlot {
        /// The request.
        id: RequestId,
        /// Requests in flight (the runtime's `max_in_flight`).
        in_flight: usize,
    },
    /// A call for this request failed for a passing reason (429, no
    /// answer, a 5xx) and is tried again in `retry_in` seconds.
    Retrying {
        /// The request.
        id: RequestId,
        /// Why.
        cause: crate::client::lifecycle::RetryCause,
        /// Seconds until the next attempt.
        retry_in: f64,
    },
    /// Whether the horde answers changed (not tied to one request).
    Connection {
        /// The new state.
        state: Connection,
    },
    /// Waiting in the horde's queue.
    Queued {
        /// The request.
        id: RequestId,
        /// 1-based position.
        position: u32,
        /// Expected seconds to completion.
        wait_time: i64,
    },
    /// Jobs moved.
    Progress {
        /// The request.
        id: RequestId,
        /// Jobs not yet handed out.
        waiting: u32,
        /// Jobs in flight.
        processing: u32,
        /// Jobs with results.
        finished: u32,
        /// Jobs that failed and were requeued.
        restarted: u32,
    },
    /// One image, decoded.
    ImageReady {
        /// The request.
        id: RequestId,
        /// Its index among the request's images.
        index: usize,
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
        /// RGBA8 pixels, row by row.
        rgba: Vec<u8>,
        /// The seed.
        seed: String,
        /// The model.
        model: String,
        /// The worker's name.
        worker: String,
        /// Censored by the worker's safety check.
        censored: bool,
    },
    /// One text.
    TextReady {
        /// The request.
        id: RequestId,
        /// Its index among the request's texts.
        index: usize,
        /// The text.
        text: String,
        /// The seed.
        seed: i64,
        /// The model.
        model: String,
        /// The worker's name.
        worker: String,
    },
    /// One finished interrogation form.
    InterrogationReady {
        /// The request.
        id: RequestId,
        /// The form.
        form: String,
        /// Its result, keyed by form name (post-processors: a download URL).
        result: serde_json::Map<String, serde_json::Value>,
    },
    /// Every result of the request was delivered.
    Completed {
        /// The request.
        id: RequestId,
    },
    /// The request failed; results delivered before stay valid.
    Failed {
        /// The request.
        id: RequestId,
        /// Why, with upstream's rc when the horde said it.
        error: ErrorBody,
    },
    /// The request was cancelled as asked.
    Cancelled {
        /// The request.
        id: RequestId,
    },
    /// What an image request would cost ([`super::Runtime::estimate_image`]).
    Estimated {
        /// The question.
        id: RequestId,
        /// Kudos for the whole request.
        kudos: f64,
    },
    /// The models served now ([`super::Runtime::models`]).
    Models {
        /// The question.
        id: RequestId,
        /// Each model with its workers, queue and speed.
        models: Vec<crate::api::ActiveModel>,
    },
    /// The key's user ([`super::Runtime::find_user`]).
    User {
        /// The question.
        id: RequestId,
        /// The user as `find_user` answers.
        user: Box<crate::api::UserDetails>,
    },
    /// One of the runtime's workers did something.
    Worker {
        /// The worker's name.
        name: String,
        /// What it did.
        event: crate::worker::WorkerEvent,
    },
    /// A job for the game to do (a worker started with
    /// [`super::WorkerBackend::Game`]); answer with [`super::Runtime::answer_job`].
    WorkerJob {
        /// The ticket to answer with.
        ticket: super::JobTicket,
        /// The name of the game's worker that popped it.
        worker: String,
        /// The job.
        job: Box<crate::worker::Job>,
        /// The job's source image (img2img, or the image a form works on),
        /// decoded on the runtime's threads; `None` when the job has none.
        /// A job whose source cannot be decoded never arrives: it is handed
        /// back to the horde as faulted, and an [`Event::Worker`] error says why.
        source: Option<SourceImage>,
    },
}

impl Event {
    /// The request (or question) the event is about; `None` for worker,
    /// job and connection events.
    pub fn request(&self) -> Option<RequestId> {
        match self {
            Event::WaitingForSlot { id, .. }
            | Event::Retrying { id, .. }
            | Event::Queued { id, .. }
            | Event::Progress { id, .. }
            | Event::ImageReady { id, .. }
            | Event::TextReady { id, .. }
            | Event::InterrogationReady { id, .. }
            | Event::Completed { id }
            | Event::Failed { id, .. }
            | Event::Cancelled { id }
            | Event::Estimated { id, .. }
            | Event::Models { id, .. }
            | Event::User { id, .. } => Some(*id),
            Event::Connection { .. } | Event::Worker { .. } | Event::WorkerJob { .. } => None,
        }
    }

    /// Whether this is the request's (or question's) last event: exactly
    /// one per id, and nothing about that id follows it.
    pub fn ends_request(&self) -> bool {
        matches!(
            self,
            Event::Completed { .. }
                | Event::Failed { .. }
                | Event::Cancelled { .. }
                | Event::Estimated { .. }
                | Event::Models { .. }
                | Event::User { .. }
        )
    }
}

/// What the I/O thread hands the decode thread.
pub(crate) enum Delivery {
    /// An event, passed on as it is.
    Event(Event),
    /// An encoded image to decode into an [`Event::ImageReady`].
    Image {
        id: RequestId,
        index: usize,
        bytes: Vec<u8>,
        seed: String,
        model: String,
        worker: String,
        censored: bool,
    },
}

/// The decode thread: delivers every event in the order it was handed over.
pub(crate) fn deliver(rx: Receiver<Delivery>, tx: Sender<Event>, wake: Option<Wake>) {
    // Requests that already ended with a failure here (an undecodable
    // image): their later results and ending are not passed on.
    let mut ended = std::collections::HashSet::new();
    for delivery in rx {
        let (about, ends) = match &delivery {
            Delivery::Event(e) => (e.request(), e.ends_request()),
            Delivery::Image { id, .. } => (Some(*id), false),
        };
        if let Some(id) = about
            && ended.contains(&id)
        {
            if ends {
                ended.remove(&id);
            }
            continue;
        }
        let event = match delivery {
            Delivery::Event(e) => e,
            Delivery::Image {
                id,
                index,
                bytes,
                seed,
                model,
                worker,
                censored,
            } => match decode(&bytes) {
                Ok((width, height, rgba)) => Event::ImageReady {
                    id,
                    index,
                    width,
                    height,
                    rgba,
                    seed,
                    model,
                    worker,
                    censored,
                },
                Err(why) => {
                    ended.insert(id);
                    Event::Failed {
                        id,
                        error: crate::client::lifecycle::client_error("ImageUndecodable", why),
                    }
                }
            },
        };
        if tx.send(event).is_err() {
            return;
        }
        if let Some(wake) = &wake {
            wake();
        }
    }
}

/// Decodes a WebP (or PNG) image to RGBA8.
pub fn decode(bytes: &[u8]) -> Result<(u32, u32, Vec<u8>), String> {
    let img =
        image::load_from_memory(bytes).map_err(|e| format!("cannot decode the image: {e}"))?;
    let rgba = img.into_rgba8();
    Ok((rgba.width(), rgba.height(), rgba.into_raw()))
}
