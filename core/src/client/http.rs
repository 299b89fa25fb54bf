//! The async HTTP client of the AI Horde v2 API (reqwest, rustls with ring):
//! one method per endpoint a game needs, errors mapped to [`ClientError`],
//! and drivers that run a whole request through its [`Lifecycle`].

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::lifecycle::{Action, Lifecycle, Note, Policy, Reply, client_error};
use crate::api::{
    ActiveModel, ErrorBody, ImageGenerateRequest, ImageStatus, InterrogationAsyncResponse,
    InterrogationRequest, InterrogationStatus, KudosEstimate, RequestAsyncResponse,
    RequestStatusCheck, SharedKeyDetails, TextGenerateRequest, TextStatus, UserDetails, paths,
    validate,
};

/// Where and as whom a client talks.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// The API base, such as `https://aihorde.net/api` or a self-hosted `http://127.0.0.1:7001/api`.
    pub base_url: String,
    /// The API key (the anonymous key by default).
    pub api_key: String,
    /// `name:version:contact` of the game; upstream requires one.
    pub client_agent: String,
    /// Longest a single HTTP call may take.
    pub timeout: Duration,
}

impl ClientConfig {
    /// The public horde, anonymously, as `client_agent`.
    pub fn new(client_agent: impl Into<String>) -> Self {
        Self {
            base_url: crate::api::PUBLIC_HORDE_URL.to_owned(),
            api_key: crate::api::ANONYMOUS_API_KEY.to_owned(),
            client_agent: client_agent.into(),
            timeout: Duration::from_secs(30),
        }
    }
}

/// A failed call.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ClientError {
    /// The horde refused (a 4xx with `{message, rc}`).
    #[error("the horde refused ({status}): {body}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The error body.
        body: ErrorBody,
    },
    /// 429: too many calls; retry after this many seconds when given.
    #[error("rate limited")]
    RateLimited(Option<f64>),
    /// A 5xx answer.
    #[error("server error {0}")]
    Server(u16),
    /// No answer: connection refused, reset, or timed out.
    #[error("transport: {0}")]
    Transport(String),
    /// An answer that is not what the API promises.
    #[error("malformed answer: {0}")]
    Malformed(String),
    /// The configuration is unusable (a client agent or key that is not a valid header).
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl ClientError {
    /// How the lifecycle sees this failure.
    pub fn reply(&self) -> Reply {
        match self {
            ClientError::Api { status: 404, .. } => Reply::NotFound,
            ClientError::Api { body, .. } => Reply::Refused(body.clone()),
            ClientError::RateLimited(after) => Reply::RateLimited(*after),
            ClientError::Server(status) => Reply::Transient(format!("server error {status}")),
            ClientError::Transport(why) => Reply::Transient(why.clone()),
            ClientError::Malformed(why) => {
                Reply::Refused(client_error("MalformedResponse", why.clone()))
            }
            ClientError::Config(why) => {
                Reply::Refused(client_error("InvalidConfiguration", why.clone()))
            }
        }
    }
}

/// Whether the horde answers, as the client's last call saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Link {
    /// No call has been answered or failed yet.
    Unknown,
    /// The horde answered (any HTTP answer below 500, a refusal included).
    Up,
    /// The last call got no answer (connection refused or reset, a timeout)
    /// or a 5xx; `cause` says which, as the first failure of the run said it.
    Down {
        /// The transport's or the server's words.
        cause: String,
    },
}

/// An error with the chain of its causes (`error sending request: client
/// error (Connect): tcp connect error: Connection refused`): reqwest's own
/// words leave out the cause a player or developer needs.
pub(crate) fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}

/// A client of one horde.
#[derive(Clone, Debug)]
pub struct HordeClient {
    config: ClientConfig,
    http: reqwest::Client,
    link: std::sync::Arc<tokio::sync::watch::Sender<Link>>,
}

impl HordeClient {
    /// A client for `config`. The client agent must be `name:version:contact`.
    pub fn new(config: ClientConfig) -> Result<Self, ClientError> {
        let parts: Vec<&str> = config.client_agent.splitn(3, ':').collect();
        if parts.len() != 3 || parts.iter().any(|p| p.trim().is_empty()) {
            return Err(ClientError::Config(format!(
                "the client agent must be 'name:version:contact', not {:?}",
                config.client_agent
            )));
        }
        // One process-wide TLS provider; a second install is refused harmlessly.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .user_agent(format!("horde-rs/{}", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Config(e.to_string()))?;
        let (link, _) = tokio::sync::watch::channel(Link::Unknown);
        Ok(Self {
            config,
            http,
            link: std::sync::Arc::new(link),
        })
    }

    /// Watches whether the horde answers: it changes when a call of this
    /// client (or of any clone) succeeds after failures, or fails after
    /// successes.
    pub fn link(&self) -> tokio::sync::watch::Receiver<Link> {
        self.link.subscribe()
    }

    /// Records what a call's outcome says about the link.
    fn observe<T>(&self, outcome: &Result<T, ClientError>) {
        let down = match outcome {
            Err(ClientError::Transport(why)) => Some(why.clone()),
            Err(ClientError::Server(status)) => Some(format!("server error {status}")),
            Err(ClientError::Config(_)) => return,
            _ => None,
        };
        self.link.send_if_modified(|link| match (&*link, down) {
            (Link::Up, None) | (Link::Down { .. }, Some(_)) => false,
            (_, None) => {
                *link = Link::Up;
                true
            }
            (_, Some(cause)) => {
                *link = Link::Down { cause };
                true
            }
        });
    }

    /// The configuration in use.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The HTTP client underneath, for calls outside the API (uploads, downloads).
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<T, ClientError> {
        let outcome = self.call_unobserved(method, path, body).await;
        self.observe(&outcome);
        outcome
    }

    async fn call_unobserved<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<T, ClientError> {
        self.exchange(method, path, body).await.map(|(t, _)| t)
    }

    /// A status GET that asks the horde to hold its answer for `hold`
    /// seconds (`?wait=`); answers the body and whether the horde says it
    /// held it ([`crate::api::LONG_POLL_HEADER`]; upstream never does).
    async fn get_held<T: DeserializeOwned>(
        &self,
        path: &str,
        hold: Option<f64>,
    ) -> Result<(T, bool), ClientError> {
        let path = match hold {
            Some(secs) => format!("{path}?wait={secs:.1}"),
            None => path.to_owned(),
        };
        let outcome = self
            .exchange(reqwest::Method::GET, &path, None::<&()>)
            .await;
        self.observe(&outcome);
        outcome
    }

    /// One call: the parsed body, and whether the answer was held.
    async fn exchange<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<(T, bool), ClientError> {
        let url = format!("{}{path}", self.config.base_url.trim_end_matches('/'));
        let mut req = self
            .http
            .request(method, url)
            .header(crate::api::APIKEY_HEADER, &self.config.api_key)
            .header(crate::api::CLIENT_AGENT_HEADER, &self.config.client_agent);
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req.send().await.map_err(|e| {
            if e.is_builder() {
                ClientError::Config(e.to_string())
            } else {
                ClientError::Transport(with_causes(&e))
            }
        })?;
        let status = res.status().as_u16();
        let held = res.headers().contains_key(crate::api::LONG_POLL_HEADER);
        let retry_after = res
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok());
        let bytes = res
            .bytes()
            .await
            .map_err(|e| ClientError::Transport(with_causes(&e)))?;
        match status {
            200..=299 => serde_json::from_slice(&bytes)
                .map(|t| (t, held))
                .map_err(|e| {
                    ClientError::Malformed(format!(
                        "{e} in {}",
                        String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
                    ))
                }),
            429 => Err(ClientError::RateLimited(retry_after)),
            500..=599 => Err(ClientError::Server(status)),
            _ => {
                let mut body =
                    serde_json::from_slice::<ErrorBody>(&bytes).unwrap_or_else(|_| ErrorBody {
                        message: String::from_utf8_lossy(&bytes).chars().take(500).collect(),
                        rc: None,
                        errors: None,
                    });
                // A schema failure's message ("Input payload validation
                // failed") names no field; its `errors` map does.
                if let Some(errors) = body.errors.as_ref().filter(|e| !e.is_empty()) {
                    let fields: Vec<String> = errors
                        .iter()
                        .map(|(f, why)| format!("{f}: {why}"))
                        .collect();
                    body.message = format!("{} ({})", body.message, fields.join("; "));
                }
                Err(ClientError::Api { status, body })
            }
        }
    }

    pub(crate) async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.call(reqwest::Method::GET, path, None::<&()>).await
    }

    async fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.call(reqwest::Method::DELETE, path, None::<&()>).await
    }

    /// Queues an image request.
    pub async fn submit_image(
        &self,
        req: &ImageGenerateRequest,
    ) -> Result<RequestAsyncResponse, ClientError> {
        self.call(reqwest::Method::POST, paths::GENERATE_ASYNC, Some(req))
            .await
    }

    /// What an image request would cost (`dry_run`).
    pub async fn estimate_image(
        &self,
        req: &ImageGenerateRequest,
    ) -> Result<KudosEstimate, ClientError> {
        let mut req = req.clone();
        req.options.dry_run = Some(true);
        self.call(reqwest::Method::POST, paths::GENERATE_ASYNC, Some(&req))
            .await
    }

    /// An image request's progress.
    pub async fn check(&self, id: &str) -> Result<RequestStatusCheck, ClientError> {
        self.get(&paths::fill(paths::GENERATE_CHECK, "id", id))
            .await
    }

    /// An image request's status with finished images.
    pub async fn image_status(&self, id: &str) -> Result<ImageStatus, ClientError> {
        self.get(&paths::fill(paths::GENERATE_STATUS, "id", id))
            .await
    }

    /// Cancels an image request; answers its status (finished images stay).
    pub async fn cancel_image(&self, id: &str) -> Result<ImageStatus, ClientError> {
        self.delete(&paths::fill(paths::GENERATE_STATUS, "id", id))
            .await
    }

    /// Queues a text request.
    pub async fn submit_text(
        &self,
        req: &TextGenerateRequest,
    ) -> Result<RequestAsyncResponse, ClientError> {
        self.call(reqwest::Method::POST, paths::TEXT_ASYNC, Some(req))
            .await
    }

    /// A text request's status with finished texts.
    pub async fn text_status(&self, id: &str) -> Result<TextStatus, ClientError> {
        self.get(&paths::fill(paths::TEXT_STATUS, "id", id)).await
    }

    /// Cancels a text request; answers its status.
    pub async fn cancel_text(&self, id: &str) -> Result<TextStatus, ClientError> {
        self.delete(&paths::fill(paths::TEXT_STATUS, "id", id))
            .await
    }

    /// Queues an interrogation.
    pub async fn submit_interrogation(
        &self,
        req: &InterrogationRequest,
    ) -> Result<InterrogationAsyncResponse, ClientError> {
        self.call(reqwest::Method::POST, paths::INTERROGATE_ASYNC, Some(req))
            .await
    }

    /// An interrogation's status with finished forms.
    pub async fn interrogation_status(&self, id: &str) -> Result<InterrogationStatus, ClientError> {
        self.get(&paths::fill(paths::INTERROGATE_STATUS, "id", id))
            .await
    }

    /// Cancels an interrogation.
    pub async fn cancel_interrogation(&self, id: &str) -> Result<InterrogationStatus, ClientError> {
        self.delete(&paths::fill(paths::INTERROGATE_STATUS, "id", id))
            .await
    }

    /// The user owning the API key.
    pub async fn find_user(&self) -> Result<UserDetails, ClientError> {
        self.get(paths::FIND_USER).await
    }

    /// Models served now (`"image"` or `"text"`).
    pub async fn models(&self, kind: &str) -> Result<Vec<ActiveModel>, ClientError> {
        let path = format!(
            "{}?type={}",
            paths::STATUS_MODELS,
            paths::fill("{k}", "k", kind)
        );
        self.get(&path).await
    }

    /// A shared key's remaining budget and use.
    pub async fn shared_key(&self, id: &str) -> Result<SharedKeyDetails, ClientError> {
        self.get(&paths::fill(paths::SHARED_KEY, "id", id)).await
    }

    /// Downloads a result (an `img` URL).
    pub async fn download(&self, url: &str) -> Result<Vec<u8>, ClientError> {
        let res = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| ClientError::Transport(with_causes(&e)))?;
        let status = res.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(ClientError::Api {
                status,
                body: client_error(
                    "DownloadFailed",
                    format!("downloading {url} answered {status}"),
                ),
            });
        }
        Ok(res
            .bytes()
            .await
            .map_err(|e| ClientError::Transport(with_causes(&e)))?
            .to_vec())
    }

    /// Runs an image request to its end, telling `on_note` what happens;
    /// answers the final status (with finished images, also after a cancel
    /// or a deadline) or why it failed.
    pub async fn generate_image(
        &self,
        req: &ImageGenerateRequest,
        policy: Policy,
        cancel: Option<CancelSignal>,
        mut on_note: impl FnMut(&Note),
    ) -> Result<ImageStatus, ErrorBody> {
        refuse_early(validate::validate_image_request(req), &mut on_note)?;
        let mut driver = Driver::new(policy, true, cancel);
        let mut last = None;
        while let Some(action) = driver.next(&mut on_note).await {
            let reply = match action {
                Action::Submit => self
                    .submit_image(req)
                    .await
                    .map(|r| Reply::Accepted(r.id.0)),
                Action::Poll(id) => {
                    let hold = driver.hold(self.config.timeout);
                    let path = paths::fill(paths::GENERATE_CHECK, "id", &id);
                    match driver.unless_cancelled(self.get_held(&path, hold)).await {
                        Some(r) => r.map(|(check, held)| progress(check, held)),
                        None => continue,
                    }
                }
                Action::Fetch(id) => self.image_status(&id).await.map(|s| {
                    last = Some(s);
                    Reply::Fetched
                }),
                Action::Cancel(id) => self.cancel_image(&id).await.map(|s| {
                    last = Some(s);
                    Reply::Cancelled
                }),
                Action::Sleep(_) | Action::Done => continue,
            };
            driver.feed(reply.unwrap_or_else(|e| e.reply()), &mut on_note);
        }
        driver.outcome()?;
        last.ok_or_else(|| client_error("NoResult", "the request ended without a status"))
    }

    /// Runs a text request to its end; answers the final status or why it failed.
    pub async fn generate_text(
        &self,
        req: &TextGenerateRequest,
        policy: Policy,
        cancel: Option<CancelSignal>,
        mut on_note: impl FnMut(&Note),
    ) -> Result<TextStatus, ErrorBody> {
        refuse_early(validate::validate_text_request(req), &mut on_note)?;
        let mut driver = Driver::new(policy, false, cancel);
        let mut last = None;
        while let Some(action) = driver.next(&mut on_note).await {
            let polling = matches!(action, Action::Poll(_));
            let reply = match action {
                Action::Submit => self.submit_text(req).await.map(|r| Reply::Accepted(r.id.0)),
                Action::Poll(id) | Action::Fetch(id) => {
                    let hold = polling.then(|| driver.hold(self.config.timeout)).flatten();
                    let path = paths::fill(paths::TEXT_STATUS, "id", &id);
                    let answer = driver
                        .unless_cancelled(self.get_held::<TextStatus>(&path, hold))
                        .await;
                    let Some(answer) = answer else { continue };
                    answer.map(|(s, held)| {
                        let check = s.check.clone();
                        last = Some(s);
                        progress(check, held)
                    })
                }
                Action::Cancel(id) => self.cancel_text(&id).await.map(|s| {
                    last = Some(s);
                    Reply::Cancelled
                }),
                Action::Sleep(_) | Action::Done => continue,
            };
            driver.feed(reply.unwrap_or_else(|e| e.reply()), &mut on_note);
        }
        driver.outcome()?;
        last.ok_or_else(|| client_error("NoResult", "the request ended without a status"))
    }
}

impl HordeClient {
    /// Runs an interrogation to its end; answers the final status or why it failed.
    pub async fn interrogate(
        &self,
        req: &InterrogationRequest,
        policy: Policy,
        cancel: Option<CancelSignal>,
        mut on_note: impl FnMut(&Note),
    ) -> Result<InterrogationStatus, ErrorBody> {
        refuse_early(validate::validate_interrogation_request(req), &mut on_note)?;
        let mut driver = Driver::new(policy, false, cancel);
        let mut last = None;
        while let Some(action) = driver.next(&mut on_note).await {
            let polling = matches!(action, Action::Poll(_));
            let reply = match action {
                Action::Submit => self
                    .submit_interrogation(req)
                    .await
                    .map(|r| Reply::Accepted(r.id.0)),
                Action::Poll(id) | Action::Fetch(id) => {
                    let hold = polling.then(|| driver.hold(self.config.timeout)).flatten();
                    let path = paths::fill(paths::INTERROGATE_STATUS, "id", &id);
                    let answer = driver
                        .unless_cancelled(self.get_held::<InterrogationStatus>(&path, hold))
                        .await;
                    let Some(answer) = answer else { continue };
                    answer.map(|(s, held)| {
                        let check = progress_of(&s);
                        last = Some(s);
                        progress(check, held)
                    })
                }
                Action::Cancel(id) => self.cancel_interrogation(&id).await.map(|s| {
                    last = Some(s);
                    Reply::Cancelled
                }),
                Action::Sleep(_) | Action::Done => continue,
            };
            driver.feed(reply.unwrap_or_else(|e| e.reply()), &mut on_note);
        }
        driver.outcome()?;
        last.ok_or_else(|| client_error("NoResult", "the request ended without a status"))
    }
}

/// A request that breaks one of upstream's rules ends before anything is
/// sent: told as the lifecycle tells a failure, then answered.
fn refuse_early(
    checked: Result<(), validate::ValidationError>,
    on_note: &mut impl FnMut(&Note),
) -> Result<(), ErrorBody> {
    checked.map_err(|e| {
        let body = e.explained();
        on_note(&Note::Failed(body.clone()));
        body
    })
}

/// An interrogation's forms seen as a request's jobs, for the lifecycle.
fn progress_of(s: &InterrogationStatus) -> RequestStatusCheck {
    use crate::api::InterrogationState as S;
    let count = |want: S| {
        s.forms
            .iter()
            .filter(|f| f.state.as_ref() == Some(&want))
            .count() as u32
    };
    let waiting = count(S::Waiting);
    let processing = count(S::Processing);
    RequestStatusCheck {
        finished: count(S::Done),
        processing,
        restarted: 0,
        waiting,
        done: waiting == 0 && processing == 0,
        faulted: s.state == S::Faulted,
        wait_time: 0,
        queue_position: u32::from(waiting > 0 && processing == 0),
        kudos: 0.0,
        is_possible: true,
    }
}

/// A poll's progress as the lifecycle learns it.
fn progress(check: RequestStatusCheck, held: bool) -> Reply {
    if held {
        Reply::Held(check)
    } else {
        Reply::Progress(check)
    }
}

/// Runs a [`Lifecycle`] on the tokio clock: sleeps when told, hands out the
/// actions to perform, and keeps the verdict.
struct Driver {
    life: Lifecycle,
    start: tokio::time::Instant,
    failure: Option<ErrorBody>,
    cancel: Option<CancelSignal>,
}

/// Asks a running request to cancel: created in pairs by [`cancel_pair`].
#[derive(Debug)]
pub struct CancelHandle(tokio::sync::watch::Sender<bool>);

/// What a running request watches for a cancel.
#[derive(Clone, Debug)]
pub struct CancelSignal(tokio::sync::watch::Receiver<bool>);

/// A handle to cancel a request with, and the signal the request watches.
pub fn cancel_pair() -> (CancelHandle, CancelSignal) {
    let (tx, rx) = tokio::sync::watch::channel(false);
    (CancelHandle(tx), CancelSignal(rx))
}

impl CancelHandle {
    /// Cancels the request (on the server once it has an id).
    pub fn cancel(&self) {
        let _ = self.0.send(true);
    }
}

impl CancelSignal {
    /// Whether a cancel was asked.
    pub fn is_set(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once a cancel is asked (never, if the handle is dropped unused).
    pub async fn cancelled(&mut self) {
        while !self.is_set() {
            if self.0.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

impl Driver {
    fn new(policy: Policy, has_check: bool, cancel: Option<CancelSignal>) -> Self {
        let start = tokio::time::Instant::now();
        let seed = u64::from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos()),
        ) ^ 0x9e37_79b9_7f4a_7c15;
        Self {
            life: Lifecycle::new(policy, has_check, 0.0, seed),
            start,
            failure: None,
            cancel,
        }
    }

    fn now(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// The next action to perform, after any sleep; `None` when finished.
    /// A request ended before the horde took it reports its note here.
    async fn next(&mut self, on_note: &mut impl FnMut(&Note)) -> Option<Action> {
        loop {
            if self.cancel.as_ref().is_some_and(CancelSignal::is_set) {
                self.life.cancel();
            }
            let now = self.now();
            for note in self.life.end_unsubmitted(now) {
                if let Note::Failed(e) = &note {
                    self.failure = Some(e.clone());
                }
                on_note(&note);
            }
            match self.life.next(now) {
                Action::Done => return None,
                Action::Sleep(until) => {
                    // Wake for the deadline too, which ends a request still submitting.
                    let until = self
                        .life
                        .deadline()
                        .map_or(until, |d| until.min(d.max(now)));
                    let nap =
                        tokio::time::sleep(Duration::from_secs_f64((until - self.now()).max(0.0)));
                    match self.cancel.as_mut() {
                        Some(signal) if !signal.is_set() => {
                            tokio::select! {
                                () = nap => {}
                                () = signal.cancelled() => {}
                            }
                        }
                        _ => nap.await,
                    }
                }
                action => return Some(action),
            }
        }
    }

    /// Seconds to ask the horde to hold a status answer: the policy's
    /// `long_poll`, never past the deadline, at most half the HTTP
    /// timeout; `None` for a plain poll, and for the first one (whose
    /// queue position the user wants at once).
    fn hold(&self, timeout: Duration) -> Option<f64> {
        if !self.life.polled() {
            return None;
        }
        let mut secs = self
            .life
            .policy()
            .long_poll
            .min(timeout.as_secs_f64() / 2.0);
        if let Some(deadline) = self.life.deadline() {
            secs = secs.min(deadline - self.now());
        }
        (secs >= 0.5).then_some(secs)
    }

    /// Runs a call, abandoned (`None`) when a cancel is asked meanwhile —
    /// a held status answer must not delay a cancel.
    async fn unless_cancelled<T>(&mut self, call: impl Future<Output = T>) -> Option<T> {
        match self.cancel.as_mut() {
            Some(signal) if !signal.is_set() => tokio::select! {
                out = call => Some(out),
                () = signal.cancelled() => None,
            },
            _ => Some(call.await),
        }
    }

    fn feed(&mut self, reply: Reply, on_note: &mut impl FnMut(&Note)) {
        let now = self.now();
        for note in self.life.on_reply(now, reply) {
            if let Note::Failed(e) = &note {
                self.failure = Some(e.clone());
            }
            on_note(&note);
        }
    }

    fn outcome(self) -> Result<(), ErrorBody> {
        self.failure.map_or(Ok(()), Err)
    }
}
