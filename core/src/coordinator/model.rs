//! The coordinator's records: users, shared keys, workers, requests with
//! their jobs, and interrogations with their forms. They are plain data,
//! serialised as they are to storage; the rules that change them live in
//! [`super::horde`].

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::api::{
    FormName, GenMetadata, ImageGenerateRequest, InterrogationState, TextGenerateRequest,
    UserAmountRecords, UserKudosDetails, UserThingRecords, WorkerType,
};
use crate::kudos::AccountKind;

/// The anonymous user's id.
pub const ANONYMOUS_ID: u64 = 0;

/// The roles a user holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Roles {
    /// May change kudos, grant moderator, set horde modes.
    pub admin: bool,
    /// May moderate users and workers (implies trusted).
    pub moderator: bool,
    /// Trusted: no escrow, may serve trusted-only requests.
    pub trusted: bool,
    /// Flagged: may not pop or transfer; priority crushed.
    pub flagged: bool,
    /// May serve custom image models.
    pub customizer: bool,
    /// A service account.
    pub service: bool,
    /// An education account.
    pub education: bool,
    /// May send special payloads.
    pub special: bool,
    /// May run workers behind a VPN.
    pub vpn: bool,
    /// Disabled.
    pub deleted: bool,
}

/// A user account.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct User {
    /// Numeric id (0 = anonymous).
    pub id: u64,
    /// The alias; the public name is `alias#id`.
    pub alias: String,
    /// Hash of the API key (see [`super::keys::hash_key`]).
    pub key_hash: String,
    /// Spendable balance, which is also queue priority.
    pub kudos: f64,
    /// Escrow of an untrusted worker owner.
    #[serde(default)]
    pub evaluating_kudos: f64,
    /// Where the kudos came from.
    #[serde(default)]
    pub kudos_details: UserKudosDetails,
    /// Roles.
    #[serde(default)]
    pub roles: Roles,
    /// Jobs the user may have waiting at once.
    pub concurrency: u32,
    /// Workers the user may add in invite-only mode.
    #[serde(default)]
    pub worker_invited: u32,
    /// Show worker ids publicly.
    #[serde(default)]
    pub public_workers: bool,
    /// Contact details.
    #[serde(default)]
    pub contact: Option<String>,
    /// Moderators' note.
    #[serde(default)]
    pub admin_comment: Option<String>,
    /// When the account was created.
    pub created: f64,
    /// What the user requested.
    #[serde(default)]
    pub usage: UserThingRecords,
    /// What the user's workers generated.
    #[serde(default)]
    pub contribution: UserThingRecords,
    /// Jobs the user's workers fulfilled.
    #[serde(default)]
    pub fulfillment: UserAmountRecords,
    /// Jobs the user requested.
    #[serde(default)]
    pub requested: UserAmountRecords,
    /// Monthly grant.
    #[serde(default)]
    pub monthly_kudos: i64,
    /// Multiplier of what the user is charged.
    #[serde(default = "one")]
    pub usage_multiplier: f64,
    /// Suspicion score.
    #[serde(default)]
    pub suspicion: u32,
    /// Recent transfers sent: (recipient, when), for the reverse-direction rule.
    #[serde(default)]
    pub recent_transfers: Vec<(u64, f64)>,
    /// Idempotency keys of recent transfers: (key, amount, recipient, when).
    #[serde(default)]
    pub idempotency: Vec<(String, i64, String, f64)>,
    /// Kudos the balance floor created: what lifting the balance to its
    /// floor added over time (not on the wire; the ledger's audit).
    #[serde(default)]
    pub floor_grants: f64,
}

fn one() -> f64 {
    1.0
}

impl User {
    /// A new account with no history.
    pub fn new(id: u64, alias: String, key_hash: String, concurrency: u32, created: f64) -> Self {
        Self {
            id,
            alias,
            key_hash,
            kudos: 0.0,
            evaluating_kudos: 0.0,
            kudos_details: UserKudosDetails::default(),
            roles: Roles::default(),
            concurrency,
            worker_invited: 0,
            public_workers: false,
            contact: None,
            admin_comment: None,
            created,
            usage: UserThingRecords::default(),
            contribution: UserThingRecords::default(),
            fulfillment: UserAmountRecords::default(),
            requested: UserAmountRecords::default(),
            monthly_kudos: 0,
            usage_multiplier: 1.0,
            suspicion: 0,
            recent_transfers: Vec::new(),
            idempotency: Vec::new(),
            floor_grants: 0.0,
        }
    }

    /// The public `alias#id`.
    pub fn username(&self) -> String {
        format!("{}#{}", self.alias, self.id)
    }

    /// The anonymous user.
    pub fn is_anonymous(&self) -> bool {
        self.id == ANONYMOUS_ID
    }

    /// Moderators count as trusted.
    pub fn is_trusted(&self) -> bool {
        self.roles.trusted || self.roles.moderator || self.roles.admin
    }

    /// Moderators and admins.
    pub fn is_moderator(&self) -> bool {
        self.roles.moderator || self.roles.admin
    }

    /// Moves the balance by `delta` as upstream moves every balance: never
    /// below the account's floor ([`crate::kudos::settle`]).
    pub fn move_kudos(&mut self, delta: f64) {
        let settled = crate::kudos::settle(
            self.kudos,
            delta,
            crate::kudos::min_kudos(self.account_kind()),
        );
        self.kudos = settled.balance;
        self.floor_grants += settled.floor_grant;
    }

    /// The kind of account, for its balance floor.
    pub fn account_kind(&self) -> AccountKind {
        if self.is_anonymous() {
            AccountKind::Anonymous
        } else {
            AccountKind::Registered
        }
    }
}

/// A shared key: an id that spends its owner's kudos, up to a limit.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SharedKey {
    /// The key (a UUID; also its id).
    pub id: String,
    /// The owner.
    pub user_id: u64,
    /// A descriptive name.
    pub name: Option<String>,
    /// Kudos left to spend (−1 unlimited).
    pub kudos: i64,
    /// When it expires.
    pub expiry: Option<f64>,
    /// Kudos spent through it.
    pub utilized: f64,
    /// Most pixels per image job (−1 unlimited).
    pub max_image_pixels: i64,
    /// Most steps per image job (−1 unlimited).
    pub max_image_steps: i64,
    /// Most tokens per text job (−1 unlimited).
    pub max_text_tokens: i64,
}

/// A worker, created by its first pop.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Worker {
    /// Its id.
    pub id: String,
    /// Its unique name.
    pub name: String,
    /// What it does.
    pub kind: WorkerType,
    /// The owning user.
    pub owner: u64,
    /// `name:version:url` as it last said.
    pub bridge_agent: String,
    /// Models it serves.
    pub models: Vec<String>,
    /// Accepts NSFW.
    pub nsfw: bool,
    /// Concurrent jobs.
    pub threads: u32,
    /// What it accepts and can do.
    pub caps: Capabilities,
    /// Users whose requests it serves first (ids), after its owner's.
    #[serde(default)]
    pub priority_users: Vec<u64>,
    /// In maintenance: only its owner's jobs.
    #[serde(default)]
    pub maintenance: bool,
    /// Message shown while in maintenance.
    #[serde(default)]
    pub maintenance_msg: Option<String>,
    /// Paused by a moderator.
    #[serde(default)]
    pub paused: bool,
    /// Public note.
    #[serde(default)]
    pub info: Option<String>,
    /// Team id.
    #[serde(default)]
    pub team: Option<String>,
    /// When it was created.
    pub created: f64,
    /// Its last pop.
    pub last_seen: f64,
    /// Seconds online.
    #[serde(default)]
    pub uptime: f64,
    /// Online seconds not yet rewarded.
    #[serde(default)]
    pub unrewarded_uptime: f64,
    /// Kudos from jobs.
    #[serde(default)]
    pub kudos_generated: f64,
    /// Kudos from uptime.
    #[serde(default)]
    pub kudos_uptime: f64,
    /// Jobs completed.
    #[serde(default)]
    pub fulfilled: u64,
    /// Jobs popped and never completed.
    #[serde(default)]
    pub uncompleted: u64,
    /// Recent speeds in things per second, newest last (at most 20).
    #[serde(default)]
    pub speeds: VecDeque<f64>,
    /// Megapixelsteps generated.
    #[serde(default)]
    pub megapixelsteps: f64,
    /// Tokens generated.
    #[serde(default)]
    pub tokens: f64,
    /// Last IP address.
    #[serde(default)]
    pub ipaddr: Option<String>,
}

impl Worker {
    /// Mean of recent speeds, in things per second.
    pub fn speed(&self) -> Option<f64> {
        (!self.speeds.is_empty())
            .then(|| self.speeds.iter().sum::<f64>() / self.speeds.len() as f64)
    }

    /// Online: popped within the last five minutes.
    pub fn is_online(&self, now: f64) -> bool {
        now - self.last_seen <= super::horde::ONLINE_WINDOW_SECS
    }
}

/// A worker's pop-time settings.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Capabilities {
    /// Largest width×height.
    pub max_pixels: u64,
    /// Words it refuses in prompts (lowercase).
    pub blacklist: Vec<String>,
    /// img2img accepted.
    pub img2img: bool,
    /// Inpainting/outpainting accepted.
    pub painting: bool,
    /// Requesters from unsafe IPs accepted.
    pub unsafe_ipaddr: bool,
    /// Post-processing accepted.
    pub post_processing: bool,
    /// ControlNet accepted.
    pub controlnet: bool,
    /// SDXL ControlNet accepted.
    pub sdxl_controlnet: bool,
    /// LoRAs accepted.
    pub lora: bool,
    /// Refuses requests with more steps than usual.
    pub limit_max_steps: bool,
    /// Only requests whose owner has the kudos upfront.
    pub require_upfront_kudos: bool,
    /// An extra-slow worker.
    pub extra_slow: bool,
    /// Text: most tokens generated.
    pub max_length: u32,
    /// Text: longest context read.
    pub max_context_length: u32,
    /// Text: softprompts it has.
    pub softprompts: Vec<String>,
    /// Alchemy: forms it runs.
    pub forms: Vec<FormName>,
    /// Alchemy: largest image in 512² tiles.
    pub max_tiles: u32,
}

/// What a request asks for.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum RequestBody {
    /// Images.
    Image(Box<ImageGenerateRequest>),
    /// Text.
    Text(Box<TextGenerateRequest>),
}

/// Where a job is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobState {
    /// Handed to a worker, not yet submitted.
    Processing,
    /// Submitted with a result.
    Done,
    /// Timed out or reported faulted; its slot was requeued.
    Faulted,
}

/// One job: one image or one text, handed to one worker.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Job {
    /// Its id.
    pub id: String,
    /// The worker.
    pub worker_id: String,
    /// The worker's name then.
    pub worker_name: String,
    /// The model used.
    pub model: String,
    /// The seed handed out.
    pub seed: i64,
    /// When it was popped.
    pub started: f64,
    /// Seconds the worker has.
    pub ttl: f64,
    /// Secret for the upload URL.
    pub upload_token: String,
    /// Where it is.
    pub state: JobState,
    /// The text (text jobs), or whether an image blob exists (`Some("R2")`).
    pub result: Option<String>,
    /// Censored by the worker's safety check.
    #[serde(default)]
    pub censored: bool,
    /// The worker's metadata.
    #[serde(default)]
    pub gen_metadata: Vec<GenMetadata>,
    /// Kudos the worker earned.
    #[serde(default)]
    pub reward: f64,
    /// Submitted state as the worker reported it (`ok`, `censored`, `csam`).
    #[serde(default)]
    pub reported_state: Option<String>,
}

/// A request for images or texts (upstream's "waiting prompt").
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Request {
    /// Its id.
    pub id: String,
    /// What it asks for.
    pub body: RequestBody,
    /// The requesting user.
    pub user_id: u64,
    /// The shared key it came through.
    pub shared_key: Option<String>,
    /// Jobs not yet handed out.
    pub n: u32,
    /// Jobs the request stands for (upstream `jobs`; cut to `finished` on cancel).
    pub jobs_total: u32,
    /// Work per job: pixel-steps (image) or tokens (text).
    pub things: f64,
    /// Base price per job (image).
    pub base_kudos: f64,
    /// Kudos charged so far.
    pub consumed_kudos: f64,
    /// Queue priority at creation (before ageing).
    pub priority: f64,
    /// When it was created.
    pub created: f64,
    /// When it expires unless something happens.
    pub expiry: f64,
    /// Failed for good.
    pub faulted: bool,
    /// Jobs handed out.
    pub jobs: Vec<Job>,
    /// Stored source image blob, for img2img.
    #[serde(default)]
    pub source_blob: Option<String>,
    /// Stored mask blob.
    #[serde(default)]
    pub mask_blob: Option<String>,
    /// Order of arrival (tie-break in the queue).
    pub seq: u64,
    /// Kudos reserved because the request needed them upfront.
    #[serde(default)]
    pub upfront_hold: f64,
    /// Kudos reserved on its shared key at admission (its estimate); what
    /// it has been charged is counted against it until it ends.
    #[serde(default)]
    pub key_reserved: f64,
}

impl Request {
    /// Image or text.
    pub fn kind(&self) -> WorkerType {
        match self.body {
            RequestBody::Image(_) => WorkerType::Image,
            RequestBody::Text(_) => WorkerType::Text,
        }
    }

    /// Jobs with a result.
    pub fn finished(&self) -> u32 {
        self.count(JobState::Done)
    }

    /// Jobs in flight.
    pub fn processing(&self) -> u32 {
        self.count(JobState::Processing)
    }

    /// Jobs that faulted and were requeued.
    pub fn restarted(&self) -> u32 {
        self.count(JobState::Faulted)
    }

    fn count(&self, state: JobState) -> u32 {
        self.jobs.iter().filter(|j| j.state == state).count() as u32
    }

    /// Whether the request is finished, successfully or not.
    pub fn is_done(&self) -> bool {
        self.faulted || (self.n == 0 && self.processing() == 0)
    }

    /// The `done` a status reports, as upstream computes it: every job
    /// ended (done or faulted) and none waiting. A text request cancelled
    /// while waiting so stays "not done" until it expires, as upstream's
    /// does; its hold and queue place end at the cancel ([`Self::is_done`]).
    pub fn reported_done(&self) -> bool {
        let ended = i64::from(self.finished()) + i64::from(self.restarted());
        self.faulted
            || (self.n == 0 && ended - i64::from(self.processing()) >= i64::from(self.jobs_total))
    }

    /// Whether the request still hands out jobs.
    pub fn is_waiting(&self) -> bool {
        self.n > 0 && !self.faulted
    }
}

/// One form of an interrogation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Form {
    /// Its job id.
    pub id: String,
    /// Which form.
    pub name: FormName,
    /// Its settings.
    pub payload: Option<serde_json::Map<String, serde_json::Value>>,
    /// Where it is.
    pub state: InterrogationState,
    /// The result, keyed by form name.
    pub result: Option<serde_json::Map<String, serde_json::Value>>,
    /// The worker that took it.
    pub worker_id: Option<String>,
    /// That worker's name.
    pub worker_name: Option<String>,
    /// When it was popped.
    pub started: f64,
    /// Times it was abandoned.
    pub aborts: u32,
    /// Secret for the upload URL (post-processors).
    pub upload_token: String,
    /// Kudos the worker earned.
    pub reward: f64,
}

/// An interrogation request.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Interrogation {
    /// Its id.
    pub id: String,
    /// The requesting user.
    pub user_id: u64,
    /// The image as given (URL), or `None` when stored as a blob.
    pub source_url: Option<String>,
    /// The stored image blob.
    pub source_blob: Option<String>,
    /// Image size, when known.
    pub width: u32,
    /// Image size, when known.
    pub height: u32,
    /// Trusted workers only.
    pub trusted_workers: bool,
    /// Slow workers allowed.
    pub slow_workers: bool,
    /// The forms.
    pub forms: Vec<Form>,
    /// Queue priority at creation.
    pub priority: f64,
    /// When it was created.
    pub created: f64,
    /// When it expires unless something happens.
    pub expiry: f64,
    /// Kudos charged so far.
    pub consumed_kudos: f64,
    /// Order of arrival.
    pub seq: u64,
}
