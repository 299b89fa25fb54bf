//! What a worker reports while it runs ([`WorkerEvent`]), the controls it
//! takes ([`WorkerHandle`]), and its running totals ([`WorkerStats`]).

use crate::api::{GenerationState, SkippedReasons};

/// Something a running worker did.
#[derive(Clone, Debug, PartialEq)]
pub enum WorkerEvent {
    /// The horde answered (the start-up lookup, or else the first pop it
    /// answers): the worker is connected, and serves these models (or
    /// forms). Never sent while the horde cannot be reached.
    Started {
        /// The worker's name.
        name: String,
        /// What it offers.
        models: Vec<String>,
    },
    /// A job was popped and handed to the backend.
    JobReceived {
        /// The job id (the first id of a batch).
        job: String,
        /// The model asked for (or the form).
        model: String,
        /// A short description.
        summary: String,
        /// Seconds the horde gives before it requeues the job.
        ttl: u32,
    },
    /// A job was submitted.
    JobFinished {
        /// The job id.
        job: String,
        /// `ok`, `censored`, `csam`, or `faulted`.
        state: GenerationState,
        /// Kudos the horde paid for it.
        reward: f64,
        /// Seconds the backend took.
        seconds: f64,
        /// Why, when it faulted.
        error: Option<String>,
    },
    /// Kudos were earned; `total` is this session's sum.
    KudosEarned {
        /// This job's reward.
        amount: f64,
        /// Everything earned since the worker started.
        total: f64,
    },
    /// Pops find no work; non-zero counts say which requests this worker
    /// was not eligible for (the best tuning signal an operator has).
    /// Sent for the first empty pop after start or after a job, and then
    /// only when the reasons change, not once per pop.
    NothingToDo {
        /// Why requests were skipped.
        skipped: Box<SkippedReasons>,
    },
    /// Maintenance mode changed: set on stop, cleared on start, or reported
    /// by the horde (then pops are refused until it is cleared).
    Maintenance {
        /// Whether the worker is in maintenance now.
        on: bool,
        /// Why, in words.
        reason: String,
    },
    /// Offering work started or stopped (`set_idle`).
    Offering {
        /// Whether the worker pops now.
        on: bool,
    },
    /// Something went wrong; a fatal error stops the worker.
    Error {
        /// What went wrong.
        message: String,
        /// Whether the worker stopped because of it.
        fatal: bool,
    },
    /// The worker stopped; nothing it popped is left unsubmitted.
    Stopped {
        /// The totals.
        stats: WorkerStats,
    },
}

/// A worker's running totals.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WorkerStats {
    /// Jobs submitted with a result.
    pub jobs_done: u64,
    /// Jobs submitted as faulted.
    pub jobs_faulted: u64,
    /// Kudos earned.
    pub kudos: f64,
    /// Measured speed (pixel-steps/s for images, tokens/s for text), once known.
    pub speed: Option<f64>,
}

/// A command to a running worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Control {
    Idle(bool),
    TakeGpuBack,
    Stop,
}

/// Controls a running worker from any thread.
#[derive(Clone, Debug)]
pub struct WorkerHandle(tokio::sync::mpsc::UnboundedSender<Control>);

/// The receiving end a [`super::Worker`] runs with.
#[derive(Debug)]
pub struct WorkerControl(pub(crate) tokio::sync::mpsc::UnboundedReceiver<Control>);

/// A handle and the control end it drives.
pub fn control_pair() -> (WorkerHandle, WorkerControl) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    (WorkerHandle(tx), WorkerControl(rx))
}

impl WorkerHandle {
    /// Whether the player is away: idle → pop for work; not idle → no new
    /// pops, the current job finishes.
    pub fn set_idle(&self, idle: bool) {
        let _ = self.0.send(Control::Idle(idle));
    }

    /// The game needs its GPU now: stop popping and submit the current jobs
    /// as faulted at once, so the horde requeues them for another worker.
    pub fn take_gpu_back(&self) {
        let _ = self.0.send(Control::TakeGpuBack);
    }

    /// Finish what was popped, submit it, enter maintenance, and stop.
    pub fn stop(&self) {
        let _ = self.0.send(Control::Stop);
    }
}
