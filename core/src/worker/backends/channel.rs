//! A backend the game answers: each job is handed out as a [`GameJob`]
//! (the runtime turns it into an event Bevy, Godot and C can see) and the
//! worker waits for [`GameJob::answer`]. A Rust game can implement
//! [`super::Backend`] directly instead.

use super::{Backend, BackendError, BoxFuture, Offer, cancellable};
use crate::client::CancelSignal;
use crate::worker::job::{Job, Output, WorkKind};

/// One job waiting for the game's answer.
#[derive(Debug)]
pub struct GameJob {
    /// The job.
    pub job: Job,
    reply: tokio::sync::oneshot::Sender<Result<Output, BackendError>>,
}

impl GameJob {
    /// Hands the result (or why there is none) back to the worker. An
    /// answer to a job the worker gave up on (cancelled) is dropped.
    pub fn answer(self, result: Result<Output, BackendError>) {
        let _ = self.reply.send(result);
    }
}

/// Jobs handed to the game over a channel.
#[derive(Debug)]
pub struct ChannelBackend {
    kind: WorkKind,
    offer: Offer,
    jobs: tokio::sync::mpsc::UnboundedSender<GameJob>,
}

impl ChannelBackend {
    /// A backend doing `kind` work and offering `offer`; jobs arrive on the
    /// returned receiver.
    pub fn new(
        kind: WorkKind,
        offer: Offer,
    ) -> (Self, tokio::sync::mpsc::UnboundedReceiver<GameJob>) {
        let (jobs, rx) = tokio::sync::mpsc::unbounded_channel();
        (Self { kind, offer, jobs }, rx)
    }
}

impl Backend for ChannelBackend {
    fn name(&self) -> &str {
        "game"
    }

    fn kind(&self) -> WorkKind {
        self.kind
    }

    fn offer(&self) -> BoxFuture<'_, Result<Offer, BackendError>> {
        Box::pin(async move { Ok(self.offer.clone()) })
    }

    fn run<'a>(
        &'a self,
        job: &'a Job,
        cancel: CancelSignal,
    ) -> BoxFuture<'a, Result<Output, BackendError>> {
        Box::pin(async move {
            if job.kind() != self.kind {
                return Err(BackendError::wrong_kind(self.name(), job));
            }
            let (reply, answer) = tokio::sync::oneshot::channel();
            self.jobs
                .send(GameJob {
                    job: job.clone(),
                    reply,
                })
                .map_err(|_| BackendError::new("the game no longer takes jobs"))?;
            cancellable(cancel, async {
                answer
                    .await
                    .map_err(|_| BackendError::new("the game dropped the job unanswered"))?
            })
            .await
        })
    }
}
