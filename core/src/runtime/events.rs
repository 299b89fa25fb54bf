//! Events the runtime reports, and the decode thread that delivers them in
//! order, turning result images into RGBA8 on the way.

use crossbeam_channel::{Receiver, Sender};

use super::{RequestId, Wake};
use crate::api::ErrorBody;

/// What happened to a request.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
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
        /// The job.
        job: Box<crate::worker::Job>,
    },
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
    for delivery in rx {
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
                Err(why) => Event::Failed {
                    id,
                    error: crate::client::lifecycle::client_error("ImageUndecodable", why),
                },
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
