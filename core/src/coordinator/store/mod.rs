//! Durable storage behind the coordinator's in-memory state.
//!
//! The state is authoritative while the coordinator runs; every change to a
//! record is handed to a [`Store`] as a whole-record [`Change`], in the order
//! the changes happened, and a request is acknowledged only once its changes
//! are durable ([`Ticket::durable`]). On start the state is rebuilt from
//! [`Store::load`]. SQLite ([`sqlite::SqliteStore`]) is the embedded default.
//!
//! A *shared* store ([`postgres::PgStore`]) is one database behind several
//! coordinator processes. Each process still holds the whole state in
//! memory, but changes it only inside a *turn* ([`Store::begin_turn`] ..
//! [`Store::end_turn`]): a transaction holding the database's write lock
//! that starts by handing over what other processes committed since this one
//! last looked. [`super::turns`] drives turns; a store a process has alone
//! keeps the default no-op turn methods.

#[cfg(feature = "postgres")]
pub mod postgres;
pub mod sqlite;

use tokio::sync::oneshot;

/// The kinds of record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// [`super::model::User`]
    Users,
    /// [`super::model::SharedKey`]
    SharedKeys,
    /// [`super::model::Worker`]
    Workers,
    /// [`super::model::Request`]
    Requests,
    /// [`super::model::Interrogation`]
    Interrogations,
}

impl Table {
    /// The table's name in SQL.
    pub fn name(self) -> &'static str {
        match self {
            Table::Users => "users",
            Table::SharedKeys => "shared_keys",
            Table::Workers => "workers",
            Table::Requests => "requests",
            Table::Interrogations => "interrogations",
        }
    }

    /// Every table, in load order.
    pub const ALL: [Table; 5] = [
        Table::Users,
        Table::SharedKeys,
        Table::Workers,
        Table::Requests,
        Table::Interrogations,
    ];
}

/// One change to one record.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// Insert or replace a record.
    Put {
        /// Which kind.
        table: Table,
        /// Its id.
        id: String,
        /// The user's key hash (users only), indexed for lookups.
        key_hash: Option<String>,
        /// The record as JSON.
        body: String,
    },
    /// Remove a record.
    Delete {
        /// Which kind.
        table: Table,
        /// Its id.
        id: String,
    },
}

impl Change {
    /// Which kind of record it changes.
    pub fn table(&self) -> Table {
        match self {
            Change::Put { table, .. } | Change::Delete { table, .. } => *table,
        }
    }

    /// The id of the record it changes.
    pub fn id(&self) -> &str {
        match self {
            Change::Put { id, .. } | Change::Delete { id, .. } => id,
        }
    }
}

/// A stored record.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Which kind.
    pub table: Table,
    /// Its id.
    pub id: String,
    /// The record as JSON.
    pub body: String,
}

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused.
    #[error("database: {0}")]
    Database(String),
    /// The writer has stopped.
    #[error("the storage writer has stopped")]
    Stopped,
    /// A file could not be used.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Resolves when the changes it was issued for are durable.
#[derive(Debug)]
pub struct Ticket(pub(crate) oneshot::Receiver<Result<(), String>>);

impl Ticket {
    /// A ticket for no changes.
    pub fn done() -> Self {
        let (tx, rx) = oneshot::channel();
        let _ = tx.send(Ok(()));
        Ticket(rx)
    }

    /// A ticket for changes the store could not commit.
    pub fn failed(message: &str) -> Self {
        let (tx, rx) = oneshot::channel();
        let _ = tx.send(Err(message.to_owned()));
        Ticket(rx)
    }

    /// Waits until the changes are durable.
    pub async fn durable(self) -> Result<(), StoreError> {
        match self.0.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StoreError::Database(e)),
            Err(_) => Err(StoreError::Stopped),
        }
    }
}

/// Resolves with a store's answer (sent from the store's own thread).
#[derive(Debug)]
pub struct Pending<T>(oneshot::Receiver<Result<T, String>>);

impl<T> Pending<T> {
    /// A pending answer and the sender that gives it.
    pub fn channel() -> (oneshot::Sender<Result<T, String>>, Self) {
        let (tx, rx) = oneshot::channel();
        (tx, Pending(rx))
    }

    /// An answer that is already there.
    pub fn ready(value: T) -> Self {
        let (tx, rx) = Self::channel();
        let _ = tx.send(Ok(value));
        rx
    }

    /// Waits for the answer.
    pub async fn wait(self) -> Result<T, StoreError> {
        match self.0.await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(StoreError::Database(e)),
            Err(_) => Err(StoreError::Stopped),
        }
    }
}

/// Durable storage for coordinator records.
pub trait Store: Send + Sync + 'static {
    /// Every stored record.
    fn load(&self) -> Result<Vec<Row>, StoreError>;
    /// Queues changes, in order after every change submitted before; the
    /// ticket resolves once they are durable. Must not block.
    fn submit(&self, changes: Vec<Change>) -> Ticket;
    /// The user stored under a key hash, for users added while running.
    fn user_by_key_hash(&self, key_hash: &str) -> Result<Option<String>, StoreError>;
    /// The user stored under an id, for users added while running (a store
    /// shared by several processes hands them over in its turns instead).
    fn user_by_id(&self, id: u64) -> Result<Option<String>, StoreError> {
        let _ = id;
        Ok(None)
    }
    /// A value from the store's metadata.
    fn meta(&self, key: &str) -> Result<Option<String>, StoreError>;
    /// Sets a value in the store's metadata, durably.
    fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError>;
    /// Writes everything queued and stops the writer.
    fn close(&self);

    /// Whether a commit failed since the last [`Store::recover`]. Memory
    /// then holds changes storage refused, and the store refuses every
    /// change queued after the failure, until memory has been rebuilt from
    /// [`Store::load`] and `recover` is called.
    fn failed(&self) -> bool {
        false
    }

    /// Accepts changes again, once memory was rebuilt from [`Store::load`]
    /// (called under the horde's lock, so every change submitted before it
    /// is refused and every one after it is built on the rebuilt memory).
    fn recover(&self) {}

    /// Whether other coordinator processes share this store, so that
    /// changes need turns and reads need [`Store::catch_up`].
    fn is_shared(&self) -> bool {
        false
    }

    /// Starts a turn: waits for the database's write lock and answers with
    /// what other processes committed since this one last looked. Changes
    /// submitted until [`Store::end_turn`] commit together.
    fn begin_turn(&self) -> Pending<Vec<Change>> {
        Pending::ready(Vec::new())
    }

    /// Commits the turn; every ticket of its changes resolves with the result.
    fn end_turn(&self) -> Pending<()> {
        Pending::ready(())
    }

    /// What other processes committed since this one last looked (outside
    /// a turn).
    fn catch_up(&self) -> Pending<Vec<Change>> {
        Pending::ready(Vec::new())
    }

    /// Claims the periodic sweep at `now` unless some process swept less
    /// than `every` seconds ago, so that a cluster sweeps once per interval.
    /// A store a process has alone always grants it.
    fn claim_sweep(&self, now: f64, every: f64) -> Pending<SweepClaim> {
        let _ = (now, every);
        Pending::ready(SweepClaim::Mine { last: None })
    }
}

/// The answer to [`Store::claim_sweep`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SweepClaim {
    /// This process sweeps now.
    Mine {
        /// When the cluster last swept (`None`: this process's own memory is right).
        last: Option<f64>,
    },
    /// Another process swept recently.
    Theirs,
}
