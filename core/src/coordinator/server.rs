//! Wiring: a [`Coordinator`] opens its store and blobs — SQLite in its data
//! directory (locked against a second server), or a PostgreSQL database it
//! may share with other coordinator processes — rebuilds the horde's state,
//! and serves the router until told to stop, sweeping periodically (once per
//! interval across all processes sharing a database).

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use fs2::FileExt;
use regex::RegexBuilder;

use super::blobs::BlobStore;
use super::clock::{Clock, SystemClock};
use super::config::Config;
use super::horde::{Horde, Settings};
use super::http::{self, App, AppState};
use super::reference::ModelReference;
use super::store::sqlite::SqliteStore;
use super::store::{Store, StoreError, SweepClaim};

/// The database file inside the data directory.
pub const DATABASE_FILE: &str = "horde.sqlite";
/// The blob folder inside the data directory.
pub const BLOB_DIR: &str = "blobs";
/// The lock file a running server holds.
pub const LOCK_FILE: &str = "serve.lock";

/// Why a coordinator could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Another server uses the data directory.
    #[error("another `horde serve` is using {0}")]
    Locked(PathBuf),
    /// The data directory or a file in it is unusable.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The store refused.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// A stored record is unreadable.
    #[error("{0}")]
    Corrupt(#[from] super::horde::CorruptRecord),
    /// The database URL is not one this build can use.
    #[error(
        "unsupported database {0:?}: expected postgres://… (a build with the `postgres` feature), or none for SQLite"
    )]
    Database(String),
    /// The model reference is unusable.
    #[error("{0}")]
    Reference(#[from] super::reference::ReferenceError),
    /// A prompt filter is not a valid regex.
    #[error("invalid prompt filter {pattern:?}: {message}")]
    Filter {
        /// The pattern.
        pattern: String,
        /// Why.
        message: String,
    },
}

/// A horde ready to serve.
pub struct Coordinator {
    app: AppState,
    config: Config,
    _lock: Option<std::fs::File>,
}

/// Opens the store and blobs of a data directory and rebuilds the state;
/// used by the server and by offline operator commands.
pub fn open_state(
    config: &Config,
    clock: Arc<dyn Clock>,
    public_url: String,
) -> Result<(Horde, Arc<dyn Store>, BlobStore), StartError> {
    let (store, blobs) = open_store(config)?;
    let horde = state_on(config, clock, public_url, store.as_ref())?;
    Ok((horde, store, blobs))
}

/// Rebuilds the horde's state from `store` under `config`'s rules.
fn state_on(
    config: &Config,
    clock: Arc<dyn Clock>,
    public_url: String,
    store: &dyn Store,
) -> Result<Horde, StartError> {
    let salt = match store.meta("key_salt")? {
        Some(s) => s,
        None => {
            let s = format!(
                "{}{}",
                uuid::Uuid::new_v4().simple(),
                uuid::Uuid::new_v4().simple()
            );
            store.set_meta("key_salt", &s)?;
            s
        }
    };
    let mut prompt_filter = Vec::new();
    for pattern in &config.prompt_filter {
        let re = RegexBuilder::new(pattern)
            .case_insensitive(true)
            .build()
            .map_err(|e| StartError::Filter {
                pattern: pattern.clone(),
                message: e.to_string(),
            })?;
        prompt_filter.push(re);
    }
    let settings = Settings {
        request_ttl: config.request_ttl_secs,
        max_job_ttl: config.max_job_ttl_secs.filter(|s| *s > 0.0),
        default_concurrency: config.default_concurrency,
        anonymous_concurrency: config.anonymous_concurrency,
        maintenance_mode: config.maintenance_mode,
        prompt_filter,
        public_url,
        key_salt: salt,
        models: Arc::new(ModelReference::from_config(&config.models)?),
        news: config.news.clone(),
    };
    let horde = Horde::from_rows(settings, clock, store.load()?)?;
    for bad in horde.quarantined() {
        tracing::error!(table = ?bad.table, id = %bad.id, error = %bad.message,
            "quarantined an unreadable record: it stays in storage, out of service");
    }
    Ok(horde)
}

/// Opens the configured store and the blobs that go with it.
fn open_store(config: &Config) -> Result<(Arc<dyn Store>, BlobStore), StartError> {
    match config.database.as_deref() {
        None => {
            std::fs::create_dir_all(&config.data_dir)?;
            let store = SqliteStore::open(&config.data_dir.join(DATABASE_FILE))?;
            let blobs = BlobStore::open(&config.data_dir.join(BLOB_DIR))?;
            Ok((Arc::new(store), blobs))
        }
        #[cfg(feature = "postgres")]
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            let store = Arc::new(super::store::postgres::PgStore::open(url)?);
            Ok((store.clone(), BlobStore::Postgres(store)))
        }
        Some(other) => Err(StartError::Database(other.to_owned())),
    }
}

/// The lock file operator commands that change accounts hold, one at a time.
pub const ADMIN_LOCK_FILE: &str = "admin.lock";

/// Waits for the data directory's operator lock: `horde user …` commands
/// run one after another, each seeing what the one before it stored (eight
/// concurrent `horde user add` once handed out one id eight times).
pub fn lock_admin(config: &Config) -> Result<std::fs::File, StartError> {
    let file = lock_file(config, ADMIN_LOCK_FILE)?;
    file.lock_exclusive()?;
    Ok(file)
}

/// Takes the data directory's server lock, or says who holds it.
pub fn lock_data_dir(config: &Config) -> Result<std::fs::File, StartError> {
    let file = lock_file(config, LOCK_FILE)?;
    file.try_lock_exclusive()
        .map_err(|_| StartError::Locked(config.data_dir.clone()))?;
    Ok(file)
}

/// Opens (creating) a lock file in the data directory.
fn lock_file(config: &Config, name: &str) -> Result<std::fs::File, StartError> {
    std::fs::create_dir_all(&config.data_dir)?;
    Ok(std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(config.data_dir.join(name))?)
}

impl Coordinator {
    /// Opens a coordinator on the system clock, for the address it will be
    /// served on (used for upload and download links).
    pub fn open(config: Config, bound: SocketAddr) -> Result<Self, StartError> {
        Self::open_with_clock(config, bound, Arc::new(SystemClock))
    }

    /// Opens a coordinator on a given clock (tests drive time by hand).
    pub fn open_with_clock(
        config: Config,
        bound: SocketAddr,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StartError> {
        // A shared database is the lock-free case: other processes are welcome.
        let lock = match config.database {
            None => Some(lock_data_dir(&config)?),
            Some(_) => None,
        };
        let (horde, store, blobs) = open_state(&config, clock, config.public_url(bound))?;
        Self::assemble(config, horde, store, blobs, lock)
    }

    /// Opens a coordinator on a store and blobs the caller made (an
    /// embedding with storage of its own; tests that inject storage faults).
    pub fn open_on_store(
        config: Config,
        bound: SocketAddr,
        clock: Arc<dyn Clock>,
        store: Arc<dyn Store>,
        blobs: BlobStore,
    ) -> Result<Self, StartError> {
        let horde = state_on(&config, clock, config.public_url(bound), store.as_ref())?;
        Self::assemble(config, horde, store, blobs, None)
    }

    fn assemble(
        config: Config,
        mut horde: Horde,
        store: Arc<dyn Store>,
        blobs: BlobStore,
        lock: Option<std::fs::File>,
    ) -> Result<Self, StartError> {
        let (changes, _) = horde.take_changes();
        store.submit(changes);
        let limits = http::limits::Limiter::new(config.rate_limits.clone());
        let mut app = App::new(horde, store, blobs, limits);
        app.inline_answers = Arc::new(tokio::sync::Semaphore::new(
            config.connections.max_inline_answers.max(1),
        ));
        let app = Arc::new(app);
        Ok(Self {
            app,
            config,
            _lock: lock,
        })
    }

    /// The shared state (for tests and embedding).
    pub fn app(&self) -> AppState {
        self.app.clone()
    }

    /// Runs one sweep now and waits until its changes are durable.
    pub async fn sweep(&self) -> super::horde::SweepReport {
        self.app.run(|h| Ok(h.sweep())).await.unwrap_or_default()
    }

    /// Serves until `shutdown` resolves, then finishes requests in flight
    /// and flushes storage.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let router = http::router(self.app.clone(), self.config.max_body_bytes);
        let sweeper = {
            let app = self.app.clone();
            let every = Duration::from_secs_f64(self.config.sweep_interval_secs.max(0.05));
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    let now = app.horde.lock().now();
                    let claim = app.store.claim_sweep(now, every.as_secs_f64()).wait().await;
                    let last = match claim {
                        Ok(SweepClaim::Mine { last }) => last,
                        Ok(SweepClaim::Theirs) => continue,
                        Err(e) => {
                            tracing::warn!(error = %e, "could not claim the sweep");
                            continue;
                        }
                    };
                    let report = app
                        .run(move |h| {
                            if let Some(last) = last {
                                h.resume_sweeps_from(last);
                            }
                            Ok(h.sweep())
                        })
                        .await;
                    if let Ok(r) = report
                        && (r.timed_out_jobs > 0 || r.expired > 0)
                    {
                        tracing::info!(timed_out = r.timed_out_jobs, expired = r.expired, "sweep");
                    }
                }
            })
        };
        // Held status answers are given at once when shutdown starts, so
        // they never hold the graceful shutdown for their seconds.
        let app = self.app.clone();
        let shutdown = async move {
            shutdown.await;
            app.close_long_polls();
        };
        let result =
            http::connections::serve(listener, router, self.config.connections.clone(), shutdown)
                .await;
        sweeper.abort();
        self.app.store.close();
        result
    }
}
