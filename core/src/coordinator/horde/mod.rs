//! The horde's state and every rule that changes it: accounts and keys,
//! requests and their jobs, workers and matching, kudos, expiry. Plain
//! synchronous code over in-memory maps, driven by the HTTP layer under one
//! lock; each operation marks the records it changed, and
//! [`Horde::take_changes`] hands them to storage in order.
//!
//! Submodules hold one area each: [`accounts`] (users, shared keys,
//! transfers), [`generate`] (image and text requests), [`dispatch`] (worker
//! pops and submits), [`alchemy`] (interrogations), [`sweep`] (timeouts,
//! expiry, uptime), [`workers`] (worker records and views), [`stats`].

mod absorb;
mod accounts;
mod alchemy;
mod dispatch;
mod generate;
mod stats;
mod sweep;
mod workers;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use regex::Regex;

use super::clock::Clock;
use super::error::ApiError;
use super::keys;
use super::model::{ANONYMOUS_ID, Interrogation, Request, SharedKey, User, Worker};
use super::queue::Queue;
use super::reference::ModelReference;
use super::store::{Change, Row, Table};
use crate::api::{ANONYMOUS_API_KEY, Rc};

pub use accounts::NewUser;
pub use alchemy::StoredImage;
pub use dispatch::SubmitCheck;
pub use generate::{Admission, CancelledStatus, StoredSources};
pub use sweep::SweepReport;

pub(crate) use dispatch::is_validated as dispatch_is_validated;

/// Seconds since its last pop within which a worker counts as online.
pub const ONLINE_WINDOW_SECS: f64 = 300.0;

/// How long a popped job may remain unsubmitted when nothing else says (text).
pub const TEXT_JOB_TTL_SECS: f64 = 150.0;

/// Restarts after which a request fails for good (the third fault).
pub const MAX_RESTARTS: u32 = 2;

/// The settings the rules need from the operator's configuration.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Seconds a request lives after its last activity.
    pub request_ttl: f64,
    /// Cap on the seconds a popped job may stay unsubmitted (upstream's
    /// per-job ttl when `None`).
    pub max_job_ttl: Option<f64>,
    /// Jobs a registered user may have waiting.
    pub default_concurrency: u32,
    /// Jobs all anonymous clients may have waiting.
    pub anonymous_concurrency: u32,
    /// Refuse new requests.
    pub maintenance_mode: bool,
    /// Prompt filter.
    pub prompt_filter: Vec<Regex>,
    /// Base URL for upload and download links (no trailing slash).
    pub public_url: String,
    /// Salt of stored key hashes.
    pub key_salt: String,
    /// The model reference prices are computed from.
    pub models: Arc<ModelReference>,
    /// The operator's news.
    pub news: Vec<crate::api::NewsItem>,
}

/// Who is calling, once their key is checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// A user, by their own key (or the anonymous key).
    User(u64),
    /// A user's shared key.
    Shared {
        /// The owner.
        user: u64,
        /// The shared key.
        key: String,
    },
}

impl Caller {
    /// The user the call acts as.
    pub fn user_id(&self) -> u64 {
        match self {
            Caller::User(id) | Caller::Shared { user: id, .. } => *id,
        }
    }

    /// The shared key used, if any.
    pub fn shared_key(&self) -> Option<&str> {
        match self {
            Caller::Shared { key, .. } => Some(key),
            Caller::User(_) => None,
        }
    }
}

/// The whole state of a horde.
pub struct Horde {
    settings: Settings,
    clock: Arc<dyn Clock>,
    users: HashMap<u64, User>,
    users_by_hash: HashMap<String, u64>,
    next_user_id: u64,
    shared_keys: HashMap<String, SharedKey>,
    workers: HashMap<String, Worker>,
    workers_by_name: HashMap<String, String>,
    requests: HashMap<String, Request>,
    job_index: HashMap<String, String>,
    interrogations: HashMap<String, Interrogation>,
    form_index: HashMap<String, String>,
    image_queue: Queue,
    text_queue: Queue,
    form_queue: Queue,
    possible: HashMap<String, (bool, f64)>,
    seq: u64,
    dirty: BTreeSet<(Table, String)>,
    deleted_blobs: Vec<String>,
    stats: stats::Stats,
    persisted_at: HashMap<String, f64>,
    last_sweep: f64,
    holds: HashMap<String, u64>,
    key_holds: HashMap<String, String>,
    speed_cache: HashMap<crate::api::WorkerType, (f64, f64)>,
    quarantined: Vec<CorruptRecord>,
    /// Requests not done and interrogations with forms still to serve: what
    /// the status endpoints walk, so their cost follows the live queue, not
    /// the retained history. Kept right as records are written or taken in.
    live_requests: std::collections::HashSet<String>,
    live_interrogations: std::collections::HashSet<String>,
}

/// A record that could not be read back from storage.
#[derive(Debug, thiserror::Error)]
#[error("stored {table:?} {id} is unreadable: {message}")]
pub struct CorruptRecord {
    /// Which kind.
    pub table: Table,
    /// Its id.
    pub id: String,
    /// Why.
    pub message: String,
}

impl Horde {
    /// A horde rebuilt from stored rows (empty rows: a new horde). A row
    /// that cannot be read is quarantined (see [`Horde::quarantined`]), not
    /// fatal, so one bad record cannot keep the horde from starting.
    pub fn from_rows(
        settings: Settings,
        clock: Arc<dyn Clock>,
        rows: Vec<Row>,
    ) -> Result<Self, CorruptRecord> {
        let mut horde = Horde {
            settings,
            clock,
            users: HashMap::new(),
            users_by_hash: HashMap::new(),
            next_user_id: 1,
            shared_keys: HashMap::new(),
            workers: HashMap::new(),
            workers_by_name: HashMap::new(),
            requests: HashMap::new(),
            job_index: HashMap::new(),
            interrogations: HashMap::new(),
            form_index: HashMap::new(),
            image_queue: Queue::default(),
            text_queue: Queue::default(),
            form_queue: Queue::default(),
            possible: HashMap::new(),
            seq: 0,
            dirty: BTreeSet::new(),
            deleted_blobs: Vec::new(),
            stats: stats::Stats::default(),
            persisted_at: HashMap::new(),
            last_sweep: 0.0,
            holds: HashMap::new(),
            key_holds: HashMap::new(),
            speed_cache: HashMap::new(),
            quarantined: Vec::new(),
            live_requests: Default::default(),
            live_interrogations: Default::default(),
        };
        for row in rows {
            let (table, id) = (row.table, row.id.clone());
            if let Err(bad) = horde.absorb_row(row) {
                // Quarantined: left as it is in storage for the operator,
                // kept out of memory, and its id never handed out again.
                tracing::error!(?table, %id, error = %bad.message, "stored record is unreadable; quarantined");
                if table == Table::Users
                    && let Ok(n) = id.parse::<u64>()
                {
                    horde.next_user_id = horde.next_user_id.max(n.saturating_add(1));
                }
                horde.quarantined.push(bad);
            }
        }
        if !horde.users.contains_key(&ANONYMOUS_ID) {
            let anon = User::new(
                ANONYMOUS_ID,
                "Anonymous".into(),
                keys::hash_key(&horde.settings.key_salt, ANONYMOUS_API_KEY),
                horde.settings.anonymous_concurrency,
                horde.now(),
            );
            horde.insert_user(anon);
            horde.mark(Table::Users, ANONYMOUS_ID.to_string());
        }
        Ok(horde)
    }

    /// Stored records that could not be read back (by kind and id): kept
    /// in storage untouched, left out of the horde.
    pub fn quarantined(&self) -> &[CorruptRecord] {
        &self.quarantined
    }

    /// The current time.
    pub fn now(&self) -> f64 {
        self.clock.now()
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Switches maintenance mode.
    pub fn set_maintenance(&mut self, on: bool) {
        self.settings.maintenance_mode = on;
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn mark(&mut self, table: Table, id: impl Into<String>) {
        self.dirty.insert((table, id.into()));
    }

    fn insert_user(&mut self, user: User) {
        self.next_user_id = self.next_user_id.max(user.id + 1);
        self.users_by_hash.insert(user.key_hash.clone(), user.id);
        self.users.insert(user.id, user);
    }

    /// Whether a user id is in memory.
    pub fn knows_user(&self, id: u64) -> bool {
        self.users.contains_key(&id)
    }

    /// Adopts a user found in storage but not in memory (added by the CLI
    /// while the server ran).
    pub fn adopt_user(&mut self, body: &str) -> Result<u64, serde_json::Error> {
        let user: User = serde_json::from_str(body)?;
        let id = user.id;
        if !self.users.contains_key(&id) {
            self.insert_user(user);
        }
        Ok(id)
    }

    /// Every record as storage holds it (sorted by kind and id): for
    /// checking memory against the database, and for dumps.
    pub fn rows(&self) -> Vec<Row> {
        fn put<T: serde::Serialize>(rows: &mut Vec<Row>, table: Table, id: String, record: &T) {
            if let Ok(body) = serde_json::to_string(record) {
                rows.push(Row { table, id, body });
            }
        }
        let mut rows = Vec::new();
        for u in self.users.values() {
            put(&mut rows, Table::Users, u.id.to_string(), u);
        }
        for k in self.shared_keys.values() {
            put(&mut rows, Table::SharedKeys, k.id.clone(), k);
        }
        for w in self.workers.values() {
            put(&mut rows, Table::Workers, w.id.clone(), w);
        }
        for r in self.requests.values() {
            put(&mut rows, Table::Requests, r.id.clone(), r);
        }
        for i in self.interrogations.values() {
            put(&mut rows, Table::Interrogations, i.id.clone(), i);
        }
        rows.sort_by(|a, b| (a.table, &a.id).cmp(&(b.table, &b.id)));
        rows
    }

    /// Every record changed since the last call, serialised in a stable
    /// order, plus the blobs that may now be deleted.
    pub fn take_changes(&mut self) -> (Vec<Change>, Vec<String>) {
        let dirty = std::mem::take(&mut self.dirty);
        let mut changes = Vec::with_capacity(dirty.len());
        for (table, id) in dirty {
            self.track_live(table, &id);
            let body = match table {
                Table::Users => id
                    .parse::<u64>()
                    .ok()
                    .and_then(|n| self.users.get(&n))
                    .map(|u| (serde_json::to_string(u), Some(u.key_hash.clone()))),
                Table::SharedKeys => self
                    .shared_keys
                    .get(&id)
                    .map(|k| (serde_json::to_string(k), None)),
                Table::Workers => self
                    .workers
                    .get(&id)
                    .map(|w| (serde_json::to_string(w), None)),
                Table::Requests => self
                    .requests
                    .get(&id)
                    .map(|r| (serde_json::to_string(r), None)),
                Table::Interrogations => self
                    .interrogations
                    .get(&id)
                    .map(|i| (serde_json::to_string(i), None)),
            };
            match body {
                Some((Ok(body), key_hash)) => changes.push(Change::Put {
                    table,
                    id,
                    key_hash,
                    body,
                }),
                Some((Err(e), _)) => {
                    tracing::error!(?table, %id, error = %e, "record not serialisable")
                }
                None => changes.push(Change::Delete { table, id }),
            }
        }
        (changes, std::mem::take(&mut self.deleted_blobs))
    }

    /// Keeps [`Horde::live_requests`] and its kin right for one record.
    fn track_live(&mut self, table: Table, id: &str) {
        match table {
            Table::Requests => {
                if self.requests.get(id).is_some_and(|r| !r.is_done()) {
                    self.live_requests.insert(id.to_owned());
                } else {
                    self.live_requests.remove(id);
                }
            }
            Table::Interrogations => {
                let live = self.interrogations.get(id).is_some_and(|i| {
                    i.forms.iter().any(|f| {
                        matches!(
                            f.state,
                            crate::api::InterrogationState::Waiting
                                | crate::api::InterrogationState::Processing
                        )
                    })
                });
                if live {
                    self.live_interrogations.insert(id.to_owned());
                } else {
                    self.live_interrogations.remove(id);
                }
            }
            _ => {}
        }
    }

    /// Checks an `apikey` header. Shared keys are accepted only where
    /// `shared_ok` (the generate endpoints and `find_user`).
    pub fn authenticate(&self, apikey: Option<&str>, shared_ok: bool) -> Result<Caller, ApiError> {
        let key = apikey
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or_else(|| {
                ApiError::new(
                    Rc::InvalidAPIKey,
                    "An API key is required (header 'apikey').",
                )
            })?;
        if let Some(shared) = self.shared_keys.get(key) {
            if !shared_ok {
                return Err(ApiError::new(
                    Rc::InvalidAPIKey,
                    "Shared keys cannot be used on this endpoint.",
                ));
            }
            return Ok(Caller::Shared {
                user: shared.user_id,
                key: shared.id.clone(),
            });
        }
        let hash = keys::hash_key(&self.settings.key_salt, key);
        let user = self
            .users_by_hash
            .get(&hash)
            .and_then(|id| self.users.get(id))
            .filter(|u| keys::hashes_equal(&u.key_hash, &hash))
            .ok_or_else(ApiError::invalid_key)?;
        if user.roles.deleted {
            return Err(ApiError::new(
                Rc::DeletedUser,
                "This account has been deleted.",
            ));
        }
        Ok(Caller::User(user.id))
    }

    /// The id of the deleted account `key` belongs to (`None` when the key
    /// names no account, or one not deleted). Only `find_user` answers a
    /// deleted account, as upstream does.
    pub fn deleted_account_of(&self, key: &str) -> Option<u64> {
        let hash = keys::hash_key(&self.settings.key_salt, key.trim());
        self.users_by_hash
            .get(&hash)
            .and_then(|id| self.users.get(id))
            .filter(|u| keys::hashes_equal(&u.key_hash, &hash) && u.roles.deleted)
            .map(|u| u.id)
    }

    /// The hash a key is stored under.
    pub fn key_hash(&self, key: &str) -> String {
        keys::hash_key(&self.settings.key_salt, key)
    }

    fn user(&self, id: u64) -> Result<&User, ApiError> {
        self.users.get(&id).ok_or_else(|| {
            ApiError::new(Rc::UserNotFound, format!("User with ID '{id}' not found."))
        })
    }

    fn user_mut(&mut self, id: u64) -> Result<&mut User, ApiError> {
        self.users.get_mut(&id).ok_or_else(|| {
            ApiError::new(Rc::UserNotFound, format!("User with ID '{id}' not found."))
        })
    }

    fn new_id() -> String {
        uuid::Uuid::new_v4().to_string()
    }
}
