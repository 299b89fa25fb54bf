//! Turns: how one coordinator process keeps its in-memory horde right when
//! other processes share its database (see [`super::store`]).
//!
//! Operations change the horde only while this process holds a turn. The
//! first operation that finds no turn open starts one (waiting for the
//! cluster's write lock and taking in what others committed); operations
//! arriving while it is open join it, and their changes commit together
//! when the turn closes — once operations stop arriving for a moment, or
//! after [`MAX_TURN`], so other processes get their turn. Nobody is answered
//! before that commit. Reads first take in what others committed since the
//! read arrived (one catch-up serves every read waiting for it).
//!
//! A store a process has alone needs none of this; [`super::http::App`]
//! only builds [`Turns`] for a shared store.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::RwLock;

use super::horde::Horde;
use super::store::{Store, StoreError, Ticket};

/// A turn ends this long after it opened, however busy it is.
pub const MAX_TURN: Duration = Duration::from_millis(20);

/// A turn ends once no operation joined it for this long.
const QUIET: Duration = Duration::from_micros(300);

/// The gate's state: whether a turn is open, and whether memory must be
/// rebuilt from the database first (a turn failed to commit).
#[derive(Debug, Default)]
struct Gate {
    open: bool,
    stale: bool,
}

struct Inner {
    gate: RwLock<Gate>,
    store: Arc<dyn Store>,
    /// Catch-ups (turn openings included) started, numbered from 1.
    started: AtomicU64,
    /// The number of the last catch-up that succeeded.
    caught_up: AtomicU64,
    /// Operations that joined turns.
    joined: AtomicU64,
}

/// The turn-taking of one process on a shared store.
#[derive(Clone)]
pub struct Turns {
    inner: Arc<Inner>,
}

/// What an operation run in a turn leaves to its caller.
pub struct Joined<T> {
    /// The operation's result.
    pub out: T,
    /// Resolves when the turn's changes are committed.
    pub ticket: Ticket,
    /// Blobs its changes made unreachable.
    pub dead_blobs: Vec<String>,
}

impl Turns {
    /// Turn-taking on `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            inner: Arc::new(Inner {
                gate: RwLock::new(Gate::default()),
                store,
                started: AtomicU64::new(0),
                caught_up: AtomicU64::new(0),
                joined: AtomicU64::new(0),
            }),
        }
    }

    /// Runs `op` inside a turn (opening one when none is).
    pub async fn change<T>(
        &self,
        horde: &Mutex<Horde>,
        op: impl FnOnce(&mut Horde) -> T,
    ) -> Result<Joined<T>, StoreError> {
        let mut op = Some(op);
        loop {
            {
                let gate = self.inner.gate.read().await;
                if gate.open
                    && let Some(op) = op.take()
                {
                    // Submitted under the horde's lock, so changes reach the
                    // store in the order they were made (the last write of a
                    // record wins).
                    let (out, ticket, dead_blobs) = {
                        let mut h = horde.lock();
                        let out = op(&mut h);
                        let (changes, dead) = h.take_changes();
                        (out, self.inner.store.submit(changes), dead)
                    };
                    self.inner.joined.fetch_add(1, Ordering::Relaxed);
                    return Ok(Joined {
                        out,
                        ticket,
                        dead_blobs,
                    });
                }
            }
            self.open(horde).await?;
        }
    }

    /// Runs `op` on a horde that holds everything committed anywhere before
    /// this call.
    pub async fn read<T>(
        &self,
        horde: &Mutex<Horde>,
        op: impl FnOnce(&mut Horde) -> T,
    ) -> Result<T, StoreError> {
        let arrived = self.inner.started.load(Ordering::Acquire);
        let fresh =
            |gate: &Gate| gate.open || self.inner.caught_up.load(Ordering::Acquire) > arrived;
        {
            let gate = self.inner.gate.read().await;
            if fresh(&gate) {
                return Ok(op(&mut horde.lock()));
            }
        }
        let mut gate = self.inner.gate.write().await;
        if !fresh(&gate) {
            self.prepare(&mut gate, horde).await?;
            let n = self.inner.started.fetch_add(1, Ordering::AcqRel) + 1;
            let changes = self.inner.store.catch_up().wait().await?;
            horde.lock().absorb(changes);
            self.inner.caught_up.store(n, Ordering::Release);
        }
        let _gate = gate.downgrade();
        Ok(op(&mut horde.lock()))
    }

    /// Rebuilds memory from the database when a turn failed.
    async fn prepare(&self, gate: &mut Gate, horde: &Mutex<Horde>) -> Result<(), StoreError> {
        if gate.stale {
            let store = self.inner.store.clone();
            let rows = tokio::task::spawn_blocking(move || store.load())
                .await
                .map_err(|_| StoreError::Stopped)??;
            horde
                .lock()
                .reload(rows)
                .map_err(|e| StoreError::Database(e.to_string()))?;
            gate.stale = false;
        }
        Ok(())
    }

    async fn open(&self, horde: &Mutex<Horde>) -> Result<(), StoreError> {
        let mut gate = self.inner.gate.write().await;
        if gate.open {
            return Ok(());
        }
        self.prepare(&mut gate, horde).await?;
        let n = self.inner.started.fetch_add(1, Ordering::AcqRel) + 1;
        let changes = self.inner.store.begin_turn().wait().await?;
        horde.lock().absorb(changes);
        self.inner.caught_up.store(n, Ordering::Release);
        gate.open = true;
        tokio::spawn(close_when_quiet(self.inner.clone()));
        Ok(())
    }
}

/// Ends the open turn once operations stop joining it (or at [`MAX_TURN`]).
async fn close_when_quiet(inner: Arc<Inner>) {
    let opened = Instant::now();
    let mut joined = inner.joined.load(Ordering::Relaxed);
    loop {
        tokio::time::sleep(QUIET).await;
        let now = inner.joined.load(Ordering::Relaxed);
        if now == joined || opened.elapsed() >= MAX_TURN {
            break;
        }
        joined = now;
    }
    let mut gate = inner.gate.write().await;
    gate.open = false;
    if let Err(e) = inner.store.end_turn().wait().await {
        tracing::error!(error = %e, "a turn failed to commit; reloading from the database");
        gate.stale = true;
    }
}
