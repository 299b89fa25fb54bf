//! The lifecycle of one request as a sans-IO state machine: it says what to
//! do next ([`Lifecycle::next`]) and learns from each answer
//! ([`Lifecycle::on_reply`]), on a clock the caller passes in. No network,
//! no timers: every path (queued, progress, restarted, faulted, expired,
//! cancelled, deadline passed, rate-limited, server errors) is tested
//! without either. The async client drives it over HTTP.

use crate::api::{ErrorBody, Rc, RequestStatusCheck};

/// How a lifecycle polls and retries.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    /// Seconds between two polls while a job may finish (a worker runs it,
    /// or the queue is short): a result arrives at most this long after it
    /// is done. Upstream caches `check` for a second, so less gains nothing.
    pub min_poll: f64,
    /// Most seconds between two polls of a request waiting in a long queue
    /// (it is polled at a quarter of the horde's wait estimate, within
    /// `min_poll..=max_poll`).
    pub max_poll: f64,
    /// First back-off after a failure, in seconds; doubles per attempt.
    pub backoff: f64,
    /// Longest back-off, in seconds.
    pub max_backoff: f64,
    /// How long the horde may stay unreachable (no connection, timeouts,
    /// 5xx answers, in a row) before the request fails with
    /// `ServerUnreachable` and the last cause. Retries stop at this bound.
    pub give_up_after: f64,
    /// Seconds after the start when the request is cancelled and fails.
    pub deadline: Option<f64>,
    /// Seconds a status poll asks the horde to hold its answer until the
    /// request moves (`?wait=`, offered by our coordinator, ignored by
    /// upstream, where polling goes on at `min_poll`); 0 never asks. A held
    /// answer is followed by the next poll at once, so a finished result
    /// arrives as soon as it is done, with one call per change.
    pub long_poll: f64,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            min_poll: 1.0,
            max_poll: 5.0,
            backoff: 1.0,
            max_backoff: 60.0,
            give_up_after: 30.0,
            deadline: None,
            long_poll: 10.0,
        }
    }
}

/// Why the same call is tried again later.
#[derive(Clone, Debug, PartialEq)]
pub enum RetryCause {
    /// The horde answered 429: too many calls.
    RateLimited,
    /// No answer (connection refused or reset, a timeout) or a 5xx: the
    /// cause as the transport or the server said it.
    Unreachable(String),
}

/// What to do next.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Send the async request.
    Submit,
    /// Poll progress (`/check` for images, status otherwise).
    Poll(String),
    /// Fetch the final status with results.
    Fetch(String),
    /// Cancel on the server (its answer carries finished results).
    Cancel(String),
    /// Nothing to do before this time.
    Sleep(f64),
    /// Finished; nothing more to do.
    Done,
}

/// What the server answered to the last action.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// The request was accepted under this id.
    Accepted(String),
    /// Progress from a poll.
    Progress(RequestStatusCheck),
    /// Progress from a poll the horde held until the request moved (or
    /// its wait passed): poll again at once.
    Held(RequestStatusCheck),
    /// The final status (with results) was fetched.
    Fetched,
    /// The cancel was answered (its body carries finished results).
    Cancelled,
    /// 429: wait `retry_after` seconds when given.
    RateLimited(Option<f64>),
    /// A 5xx, a timeout, or no connection: worth retrying.
    Transient(String),
    /// 404 for a known id: the request expired (or never existed).
    NotFound,
    /// Any other refusal: final.
    Refused(ErrorBody),
}

/// What the caller should tell its user.
#[derive(Clone, Debug, PartialEq)]
pub enum Note {
    /// The last call failed for a passing reason; it is tried again in
    /// `retry_in` seconds.
    Retrying {
        /// Why.
        cause: RetryCause,
        /// Seconds until the next attempt.
        retry_in: f64,
    },
    /// Waiting in the queue.
    Queued {
        /// 1-based queue position.
        position: u32,
        /// Expected seconds to completion.
        wait_time: i64,
    },
    /// Jobs moved.
    Progress {
        /// Jobs not yet handed out.
        waiting: u32,
        /// Jobs in flight.
        processing: u32,
        /// Jobs with results.
        finished: u32,
        /// Jobs that failed and were requeued.
        restarted: u32,
    },
    /// Every job is done; the results are in the last fetched status.
    Completed,
    /// The request failed for good.
    Failed(ErrorBody),
    /// The request was cancelled as asked; finished results are in the cancel's answer.
    Cancelled,
}

#[derive(Clone, Debug, PartialEq)]
enum Phase {
    Submitting,
    Polling(String),
    Fetching(String),
    Cancelling(String, Ending),
    Finished,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Ending {
    /// The user asked.
    Asked,
    /// The deadline passed.
    Deadline,
}

/// One request's lifecycle.
#[derive(Clone, Debug)]
pub struct Lifecycle {
    policy: Policy,
    /// Whether progress comes from a separate `/check` (images) or from the
    /// status itself (text, interrogation): then a done poll is the result.
    has_check: bool,
    phase: Phase,
    started: f64,
    wake: f64,
    /// Transient failures in a row (429s excluded), for the message.
    failures: u32,
    /// When the current run of transient failures began: past the
    /// policy's `give_up_after` the request fails.
    unreachable_since: Option<f64>,
    /// The last transient failure's cause.
    cause: String,
    /// Back-offs in a row (429s included): the exponent of the next delay.
    backoffs: u32,
    cancel_asked: bool,
    last: Option<RequestStatusCheck>,
    /// Polls answered without being held, and whether any was held: the
    /// second poll is tried at once, held, to learn whether the horde
    /// holds answers (ours does; upstream answers at once and is polled at
    /// the cadence from then on).
    plain_answers: u32,
    holds: bool,
    jitter: u64,
}

/// An error body for failures the client itself decides on.
pub fn client_error(rc: &str, message: impl Into<String>) -> ErrorBody {
    ErrorBody::new(Rc::Unknown(rc.to_owned()), message)
}

impl Lifecycle {
    /// A new lifecycle started at `now`; `has_check` for image requests.
    pub fn new(policy: Policy, has_check: bool, now: f64, seed: u64) -> Self {
        Self {
            policy,
            has_check,
            phase: Phase::Submitting,
            started: now,
            wake: now,
            failures: 0,
            unreachable_since: None,
            cause: String::new(),
            backoffs: 0,
            cancel_asked: false,
            last: None,
            plain_answers: 0,
            holds: false,
            jitter: seed | 1,
        }
    }

    /// The server's id, once accepted.
    pub fn id(&self) -> Option<&str> {
        match &self.phase {
            Phase::Polling(id) | Phase::Fetching(id) | Phase::Cancelling(id, _) => Some(id),
            Phase::Submitting | Phase::Finished => None,
        }
    }

    /// Whether the lifecycle is over.
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Finished
    }

    /// Asks to cancel: on the server once the request has an id.
    pub fn cancel(&mut self) {
        self.cancel_asked = true;
    }

    /// What to do at `now`.
    pub fn next(&mut self, now: f64) -> Action {
        if self.phase == Phase::Finished {
            return Action::Done;
        }
        if let Phase::Polling(id) = &self.phase {
            let deadline_passed = self
                .policy
                .deadline
                .is_some_and(|d| now - self.started >= d);
            if self.cancel_asked || deadline_passed {
                let why = if self.cancel_asked {
                    Ending::Asked
                } else {
                    Ending::Deadline
                };
                self.phase = Phase::Cancelling(id.clone(), why);
                self.wake = now;
            }
        }
        if now < self.wake {
            return Action::Sleep(self.wake);
        }
        match &self.phase {
            Phase::Submitting => Action::Submit,
            Phase::Polling(id) => Action::Poll(id.clone()),
            Phase::Fetching(id) => Action::Fetch(id.clone()),
            Phase::Cancelling(id, _) => Action::Cancel(id.clone()),
            Phase::Finished => Action::Done,
        }
    }

    /// While the horde does not have the request yet (the submit is being
    /// retried, say against an unreachable server), a cancel or a passed
    /// deadline ends it here: there is nothing to cancel on the server.
    /// Answers the ending's note, or nothing while the request goes on.
    pub fn end_unsubmitted(&mut self, now: f64) -> Vec<Note> {
        if self.phase != Phase::Submitting {
            return Vec::new();
        }
        if self.cancel_asked {
            return self.finish(Note::Cancelled);
        }
        if self.deadline().is_some_and(|d| now >= d) {
            if self.unreachable_since.is_some() {
                return self.finish(Note::Failed(
                    self.unreachable(now, " before the request's deadline"),
                ));
            }
            return self.finish(Note::Failed(client_error(
                "DeadlineExceeded",
                "The horde could not take the request before its deadline.",
            )));
        }
        Vec::new()
    }

    /// The failure of a request whose horde stayed unreachable, with the cause.
    fn unreachable(&self, now: f64, when: &str) -> ErrorBody {
        let since = self.unreachable_since.unwrap_or(now);
        client_error(
            "ServerUnreachable",
            format!(
                "The horde could not be reached {when} ({:.1} s, {} attempt(s)): {}",
                now - since,
                self.failures,
                self.cause
            ),
        )
    }

    /// The horde answered: the run of transient failures is over.
    fn reached(&mut self) {
        self.failures = 0;
        self.unreachable_since = None;
    }

    /// When the request's deadline passes, if it has one.
    pub fn deadline(&self) -> Option<f64> {
        self.policy.deadline.map(|d| self.started + d)
    }

    /// How it polls and retries.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Whether a poll was answered yet (the first one is never held, so
    /// the queue position is known at once).
    pub fn polled(&self) -> bool {
        self.last.is_some()
    }

    fn backoff(&mut self, now: f64, retry_after: Option<f64>) -> f64 {
        // xorshift: a deterministic jitter of up to a quarter of the delay.
        self.jitter ^= self.jitter << 13;
        self.jitter ^= self.jitter >> 7;
        self.jitter ^= self.jitter << 17;
        self.backoffs += 1;
        let exp = self.policy.backoff * 2f64.powi(self.backoffs.saturating_sub(1).min(16) as i32);
        let base = retry_after.unwrap_or(exp).min(self.policy.max_backoff);
        let jitter = base * 0.25 * (self.jitter % 1000) as f64 / 1000.0;
        self.wake = now + base + jitter;
        // The last attempt lands on the give-up bound, not after it.
        if let Some(since) = self.unreachable_since {
            self.wake = self.wake.min(since + self.policy.give_up_after).max(now);
        }
        self.wake - now
    }

    /// Seconds until the next poll: `min_poll` while a job may finish
    /// soon, a quarter of the wait estimate while the request only queues.
    fn poll_interval(&self, check: &RequestStatusCheck) -> f64 {
        let (lo, hi) = (
            self.policy.min_poll,
            self.policy.max_poll.max(self.policy.min_poll),
        );
        if check.processing > 0 || check.finished > 0 {
            return lo;
        }
        (check.wait_time.max(0) as f64 * 0.25).clamp(lo, hi)
    }

    /// Learns a poll's progress; `held` when the horde held the answer.
    fn progress(&mut self, now: f64, check: RequestStatusCheck, held: bool) -> Vec<Note> {
        self.reached();
        self.backoffs = 0;
        let mut notes = Vec::new();
        if check.queue_position > 0 && check.processing == 0 && check.finished == 0 {
            notes.push(Note::Queued {
                position: check.queue_position,
                wait_time: check.wait_time,
            });
        }
        let moved = self.last.as_ref().is_none_or(|l| {
            (l.waiting, l.processing, l.finished, l.restarted)
                != (
                    check.waiting,
                    check.processing,
                    check.finished,
                    check.restarted,
                )
        });
        if moved {
            notes.push(Note::Progress {
                waiting: check.waiting,
                processing: check.processing,
                finished: check.finished,
                restarted: check.restarted,
            });
        }
        let id = self.id().unwrap_or_default().to_owned();
        self.last = Some(check.clone());
        // Upstream stops requeueing an image request whose jobs
        // faulted as often as it asked for images: it is then "done"
        // with nothing generated, which is a failure here too.
        let faulted_out = check.done && check.finished == 0 && check.restarted > 0;
        if check.faulted || faulted_out {
            notes.extend(self.finish(Note::Failed(client_error(
                "RequestFaulted",
                "The request failed on the horde after repeated worker faults.",
            ))));
        } else if check.done && !self.has_check {
            notes.extend(self.finish(Note::Completed));
        } else if check.done {
            self.phase = Phase::Fetching(id);
            self.wake = now;
        } else {
            if held {
                self.holds = true;
            } else {
                self.plain_answers += 1;
            }
            let try_a_hold = self.policy.long_poll > 0.0 && !self.holds && self.plain_answers == 1;
            self.wake = if held || try_a_hold {
                now
            } else {
                now + self.poll_interval(&check)
            };
        }
        notes
    }

    fn finish(&mut self, note: Note) -> Vec<Note> {
        self.phase = Phase::Finished;
        vec![note]
    }

    /// Learns the answer to the last action, at `now`; answers what to tell the user.
    pub fn on_reply(&mut self, now: f64, reply: Reply) -> Vec<Note> {
        match reply {
            Reply::RateLimited(retry_after) => {
                self.reached();
                let retry_in = self.backoff(now, retry_after);
                vec![Note::Retrying {
                    cause: RetryCause::RateLimited,
                    retry_in,
                }]
            }
            Reply::Transient(why) => {
                self.failures += 1;
                let since = *self.unreachable_since.get_or_insert(now);
                self.cause = why.clone();
                if now - since >= self.policy.give_up_after {
                    let failure = self.unreachable(now, "");
                    return self.finish(Note::Failed(failure));
                }
                let retry_in = self.backoff(now, None);
                vec![Note::Retrying {
                    cause: RetryCause::Unreachable(why),
                    retry_in,
                }]
            }
            Reply::Refused(body) => {
                self.reached();
                self.finish(Note::Failed(body))
            }
            Reply::NotFound => {
                self.reached();
                let expired = client_error(
                    "RequestExpired",
                    "The request expired on the server (20 minutes without activity) or never existed.",
                );
                self.finish(Note::Failed(expired))
            }
            Reply::Accepted(id) => {
                self.reached();
                self.backoffs = 0;
                self.phase = Phase::Polling(id);
                self.wake = now;
                Vec::new()
            }
            Reply::Progress(check) => self.progress(now, check, false),
            Reply::Held(check) => self.progress(now, check, true),
            Reply::Fetched => {
                self.reached();
                self.backoffs = 0;
                self.finish(Note::Completed)
            }
            Reply::Cancelled => {
                self.reached();
                let ending = match &self.phase {
                    Phase::Cancelling(_, e) => *e,
                    _ => Ending::Asked,
                };
                match ending {
                    Ending::Asked => self.finish(Note::Cancelled),
                    Ending::Deadline => self.finish(Note::Failed(client_error(
                        "DeadlineExceeded",
                        "The request did not finish before its deadline and was cancelled.",
                    ))),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_passed_while_the_horde_is_unreachable_says_so() {
        let policy = Policy {
            deadline: Some(5.0),
            ..Policy::default()
        };
        let mut l = Lifecycle::new(policy, true, 0.0, 1);
        assert_eq!(l.next(0.0), Action::Submit);
        l.on_reply(0.1, Reply::Transient("connection refused".into()));
        let notes = l.end_unsubmitted(5.0);
        assert!(
            matches!(&notes[..], [Note::Failed(e)] if e.rc == Some(Rc::Unknown("ServerUnreachable".into())) && e.message.contains("connection refused")),
            "{notes:?}"
        );
    }

    #[test]
    fn cancels_and_deadlines_end_a_request_the_horde_never_took() {
        let policy = Policy {
            deadline: Some(5.0),
            ..Policy::default()
        };
        let mut l = Lifecycle::new(policy.clone(), true, 0.0, 1);
        assert_eq!(l.next(0.0), Action::Submit);
        // Rate-limited: the horde is there, it only asks to wait.
        assert!(matches!(
            &l.on_reply(0.1, Reply::RateLimited(Some(10.0)))[..],
            [Note::Retrying { .. }]
        ));
        assert!(l.end_unsubmitted(1.0).is_empty());
        assert_eq!(l.deadline(), Some(5.0));
        let notes = l.end_unsubmitted(5.0);
        assert!(
            matches!(&notes[..], [Note::Failed(e)] if e.rc == Some(Rc::Unknown("DeadlineExceeded".into())))
        );
        assert_eq!(l.next(5.0), Action::Done);

        let mut l = Lifecycle::new(policy, true, 0.0, 1);
        assert_eq!(l.next(0.0), Action::Submit);
        assert!(matches!(
            &l.on_reply(0.1, Reply::Transient("refused".into()))[..],
            [Note::Retrying { .. }]
        ));
        l.cancel();
        assert_eq!(l.end_unsubmitted(0.2), vec![Note::Cancelled]);
        assert_eq!(l.next(0.2), Action::Done);
    }

    fn check(json: &str) -> RequestStatusCheck {
        serde_json::from_str(json).expect("a check body")
    }

    const QUEUED: &str = r#"{"finished": 0, "processing": 0, "restarted": 0, "waiting": 2, "done": false, "faulted": false, "wait_time": 10, "queue_position": 1, "kudos": 3.0, "is_possible": false}"#;
    const DONE: &str = r#"{"finished": 2, "processing": 0, "restarted": 0, "waiting": 0, "done": true, "faulted": false, "wait_time": 0, "queue_position": 0, "kudos": 17.0, "is_possible": false}"#;

    #[test]
    fn an_image_request_runs_through_upstreams_captured_bodies() {
        // Polling alone, as against upstream once it showed it holds nothing.
        let polling = Policy {
            long_poll: 0.0,
            ..Policy::default()
        };
        let mut l = Lifecycle::new(polling, true, 0.0, 7);
        assert_eq!(l.next(0.0), Action::Submit);
        assert!(l.on_reply(0.1, Reply::Accepted("r1".into())).is_empty());
        assert_eq!(l.next(0.1), Action::Poll("r1".into()));
        let notes = l.on_reply(0.2, Reply::Progress(check(QUEUED)));
        assert_eq!(
            notes[0],
            Note::Queued {
                position: 1,
                wait_time: 10
            }
        );
        assert!(matches!(notes[1], Note::Progress { waiting: 2, .. }));
        assert_eq!(
            l.next(0.3),
            Action::Sleep(2.7),
            "a quarter of the wait time while only queued, at least a second"
        );
        assert_eq!(l.next(2.7), Action::Poll("r1".into()));
        assert!(
            l.on_reply(5.3, Reply::Progress(check(QUEUED)))
                .iter()
                .all(|n| matches!(n, Note::Queued { .. })),
            "no progress note when nothing moved"
        );
        assert_eq!(l.next(10.4), Action::Poll("r1".into()));
        // A worker runs a job: poll every `min_poll`, to deliver within a second.
        let mut running = check(QUEUED);
        (running.processing, running.waiting, running.queue_position) = (1, 1, 0);
        l.on_reply(10.4, Reply::Progress(running));
        assert_eq!(l.next(10.5), Action::Sleep(11.4));
        l.on_reply(10.5, Reply::Progress(check(DONE)));
        assert_eq!(l.next(10.5), Action::Fetch("r1".into()));
        assert_eq!(l.on_reply(10.6, Reply::Fetched), vec![Note::Completed]);
        assert_eq!(l.next(11.0), Action::Done);
        assert!(l.is_finished());
    }

    #[test]
    fn a_held_answer_is_followed_by_the_next_poll_at_once() {
        let mut l = Lifecycle::new(Policy::default(), true, 0.0, 1);
        l.on_reply(0.0, Reply::Accepted("r1".into()));
        assert_eq!(l.next(0.0), Action::Poll("r1".into()));
        l.on_reply(0.1, Reply::Progress(check(QUEUED)));
        assert_eq!(
            l.next(0.1),
            Action::Poll("r1".into()),
            "after the first plain answer, a held poll is tried at once"
        );
        l.on_reply(8.0, Reply::Held(check(QUEUED)));
        assert_eq!(
            l.next(8.0),
            Action::Poll("r1".into()),
            "the horde waited already: ask again now"
        );
        l.on_reply(9.0, Reply::Held(check(DONE)));
        assert_eq!(l.next(9.0), Action::Fetch("r1".into()));

        // Upstream ignores the wait: one poll at once, then the cadence.
        let mut l = Lifecycle::new(Policy::default(), true, 0.0, 1);
        l.on_reply(0.0, Reply::Accepted("r1".into()));
        l.on_reply(0.1, Reply::Progress(check(QUEUED)));
        assert_eq!(l.next(0.1), Action::Poll("r1".into()));
        l.on_reply(0.2, Reply::Progress(check(QUEUED)));
        assert!(matches!(l.next(0.2), Action::Sleep(_)), "then the cadence");
    }

    fn fixture(name: &str) -> String {
        let path = format!(
            "{}/tests/fixtures/wire/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(path).expect("fixture")
    }

    #[test]
    fn upstreams_captured_status_bodies_drive_the_lifecycle() {
        // Image: the captured check bodies, then the captured status body.
        let mut l = Lifecycle::new(Policy::default(), true, 0.0, 1);
        l.on_reply(0.0, Reply::Accepted("301f84f4".into()));
        l.on_reply(0.0, Reply::Progress(check(&fixture("image_check_queued"))));
        let status: crate::api::ImageStatus =
            serde_json::from_str(&fixture("image_status_done")).expect("status");
        let notes = l.on_reply(2.0, Reply::Progress(status.check));
        assert!(notes.contains(&Note::Progress {
            waiting: 0,
            processing: 0,
            finished: 2,
            restarted: 0
        }));
        assert_eq!(l.next(2.0), Action::Fetch("301f84f4".into()));
        // Text: the captured status bodies are the polls.
        let mut l = Lifecycle::new(Policy::default(), false, 0.0, 1);
        l.on_reply(0.0, Reply::Accepted("c77e6945".into()));
        let queued: crate::api::TextStatus =
            serde_json::from_str(&fixture("text_status_queued")).expect("status");
        let notes = l.on_reply(0.1, Reply::Progress(queued.check));
        assert_eq!(
            notes[0],
            Note::Queued {
                position: 1,
                wait_time: 0
            }
        );
        let done: crate::api::TextStatus =
            serde_json::from_str(&fixture("text_status_done")).expect("status");
        assert!(
            l.on_reply(1.0, Reply::Progress(done.check))
                .contains(&Note::Completed)
        );
    }

    #[test]
    fn text_polls_its_status_and_a_done_poll_is_the_result() {
        let mut l = Lifecycle::new(Policy::default(), false, 0.0, 7);
        l.on_reply(0.0, Reply::Accepted("t".into()));
        assert_eq!(l.next(0.0), Action::Poll("t".into()));
        assert!(
            l.on_reply(0.1, Reply::Progress(check(DONE)))
                .contains(&Note::Completed)
        );
        assert!(l.is_finished());
    }

    #[test]
    fn restarts_show_and_faults_fail() {
        let mut l = Lifecycle::new(Policy::default(), true, 0.0, 7);
        l.on_reply(0.0, Reply::Accepted("r".into()));
        let mut c = check(QUEUED);
        c.restarted = 1;
        c.queue_position = 0;
        c.processing = 1;
        c.waiting = 1;
        let notes = l.on_reply(1.0, Reply::Progress(c.clone()));
        assert_eq!(
            notes,
            vec![Note::Progress {
                waiting: 1,
                processing: 1,
                finished: 0,
                restarted: 1
            }]
        );
        c.faulted = true;
        c.done = true;
        let notes = l.on_reply(2.0, Reply::Progress(c));
        assert!(
            matches!(notes.last(), Some(Note::Failed(e)) if e.rc == Some(Rc::Unknown("RequestFaulted".into())))
        );
        assert_eq!(l.next(3.0), Action::Done);
    }

    #[test]
    fn expiry_refusals_and_cancels_end_the_request() {
        let mut l = Lifecycle::new(Policy::default(), true, 0.0, 7);
        l.on_reply(0.0, Reply::Accepted("r".into()));
        let notes = l.on_reply(1.0, Reply::NotFound);
        assert!(
            matches!(&notes[0], Note::Failed(e) if e.rc == Some(Rc::Unknown("RequestExpired".into())))
        );

        let mut l = Lifecycle::new(Policy::default(), true, 0.0, 7);
        let refused = ErrorBody::new(Rc::KudosUpfront, "no");
        assert_eq!(
            l.on_reply(0.0, Reply::Refused(refused.clone())),
            vec![Note::Failed(refused)]
        );

        let mut l = Lifecycle::new(Policy::default(), true, 0.0, 7);
        l.cancel();
        assert_eq!(
            l.next(0.0),
            Action::Submit,
            "nothing to cancel before the server has it"
        );
        l.on_reply(0.1, Reply::Accepted("r".into()));
        assert_eq!(l.next(0.1), Action::Cancel("r".into()));
        assert_eq!(l.on_reply(0.2, Reply::Cancelled), vec![Note::Cancelled]);
    }

    #[test]
    fn a_passed_deadline_cancels_and_fails() {
        let policy = Policy {
            deadline: Some(30.0),
            long_poll: 0.0,
            ..Policy::default()
        };
        let mut l = Lifecycle::new(policy, true, 100.0, 7);
        l.on_reply(100.0, Reply::Accepted("r".into()));
        l.on_reply(101.0, Reply::Progress(check(QUEUED)));
        assert!(matches!(l.next(102.0), Action::Sleep(_)));
        assert_eq!(l.next(130.0), Action::Cancel("r".into()));
        let notes = l.on_reply(130.1, Reply::Cancelled);
        assert!(
            matches!(&notes[0], Note::Failed(e) if e.rc == Some(Rc::Unknown("DeadlineExceeded".into())))
        );
    }

    #[test]
    fn rate_limits_and_server_errors_back_off_with_jitter_then_give_up() {
        let mut l = Lifecycle::new(Policy::default(), true, 0.0, 7);
        let notes = l.on_reply(0.0, Reply::RateLimited(Some(3.0)));
        assert!(
            matches!(&notes[..], [Note::Retrying { cause: RetryCause::RateLimited, retry_in }] if (3.0..=3.75).contains(retry_in)),
            "{notes:?}"
        );
        match l.next(0.0) {
            Action::Sleep(t) => assert!((3.0..=3.75).contains(&t), "Retry-After plus jitter: {t}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(l.next(4.0), Action::Submit, "then the same action again");
        let mut now = 4.0;
        let mut delays = Vec::new();
        loop {
            let notes = l.on_reply(now, Reply::Transient("connection refused".into()));
            match &notes[..] {
                [
                    Note::Retrying {
                        cause: RetryCause::Unreachable(why),
                        retry_in,
                    },
                ] => {
                    assert_eq!(why, "connection refused");
                    let Action::Sleep(t) = l.next(now) else {
                        panic!("backs off")
                    };
                    assert!((t - now - retry_in).abs() < 1e-9);
                    delays.push(t - now);
                    now = t;
                }
                [Note::Failed(e)] => {
                    assert_eq!(e.rc, Some(Rc::Unknown("ServerUnreachable".into())));
                    assert!(e.message.contains("connection refused"), "{e}");
                    break;
                }
                other => panic!("{other:?}"),
            }
        }
        // Doubling back-off, and the last attempt exactly on the bound:
        // the request fails 30 s after the horde stopped answering.
        assert!(
            delays[..delays.len() - 1]
                .windows(2)
                .all(|w| w[1] >= w[0] * 1.5),
            "{delays:?}"
        );
        assert!((now - 4.0 - 30.0).abs() < 1e-9, "failed at {now}");
        // A success resets the count.
        let mut l = Lifecycle::new(Policy::default(), true, 0.0, 7);
        l.on_reply(0.0, Reply::Transient("x".into()));
        l.on_reply(2.0, Reply::Accepted("r".into()));
        l.on_reply(2.0, Reply::Transient("x".into()));
        assert!(matches!(l.next(2.0), Action::Sleep(t) if t < 3.3));
    }
}
