//! Storage that fails on demand: a [`Store`] around a real one whose
//! commits can be made to fail, as a full disk or a lost database makes
//! them fail. Like a real store after a failed commit, it then refuses every
//! change until the coordinator has rebuilt its memory ([`Store::recover`]).
//! On a shared store a turn's commit can also be made to meet a real fault
//! ([`FaultyStore::before_next_commit`]).

use std::sync::Arc;

use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use horde_core::coordinator::store::{Change, Pending, Row, Store, StoreError, SweepClaim, Ticket};

/// A store whose commits fail while [`FaultyStore::fail`] is on.
pub struct FaultyStore {
    inner: Arc<dyn Store>,
    failing: AtomicBool,
    fail_next: AtomicBool,
    refusing: AtomicBool,
    failures: AtomicU32,
    before_commit: Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl FaultyStore {
    /// Wraps `inner`, healthy.
    pub fn new(inner: Arc<dyn Store>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            failing: AtomicBool::new(false),
            fail_next: AtomicBool::new(false),
            refusing: AtomicBool::new(false),
            failures: AtomicU32::new(0),
            before_commit: Mutex::new(None),
        })
    }

    /// Makes every commit fail (`true`) or succeed again (`false`).
    pub fn fail(&self, on: bool) {
        self.failing.store(on, Ordering::SeqCst);
    }

    /// Makes the next commit fail, and only that one.
    pub fn fail_next(&self) {
        self.fail_next.store(true, Ordering::SeqCst);
    }

    /// Runs `fault` just before the next turn of a shared store commits
    /// (the turn's changes made, its callers waiting), so that the commit
    /// meets it: ending the session, say.
    pub fn before_next_commit(&self, fault: impl FnOnce() + Send + 'static) {
        *self.before_commit.lock() = Some(Box::new(fault));
    }

    /// Commits that failed so far.
    pub fn failures(&self) -> u32 {
        self.failures.load(Ordering::SeqCst)
    }
}

fn failed_ticket(message: &str) -> Ticket {
    Ticket::failed(message)
}

impl Store for FaultyStore {
    fn load(&self) -> Result<Vec<Row>, StoreError> {
        self.inner.load()
    }

    fn submit(&self, changes: Vec<Change>) -> Ticket {
        if changes.is_empty() || self.inner.is_shared() {
            // A shared store fails at its turns (see `begin_turn`).
            return self.inner.submit(changes);
        }
        if self.failing.load(Ordering::SeqCst) || self.fail_next.swap(false, Ordering::SeqCst) {
            self.failures.fetch_add(1, Ordering::SeqCst);
            self.refusing.store(true, Ordering::SeqCst);
            return failed_ticket("disk full (injected)");
        }
        if self.refusing.load(Ordering::SeqCst) {
            return failed_ticket("refused after a failed commit");
        }
        self.inner.submit(changes)
    }

    fn user_by_key_hash(&self, key_hash: &str) -> Result<Option<String>, StoreError> {
        self.inner.user_by_key_hash(key_hash)
    }

    fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.inner.meta(key)
    }

    fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.inner.set_meta(key, value)
    }

    fn close(&self) {
        self.inner.close();
    }

    fn is_shared(&self) -> bool {
        self.inner.is_shared()
    }

    /// On a shared store a failure is a turn that cannot open (the
    /// connection is lost before its transaction): the operation waiting
    /// for it fails before it changes anything.
    fn begin_turn(&self) -> Pending<Vec<Change>> {
        if self.failing.load(Ordering::SeqCst) {
            self.failures.fetch_add(1, Ordering::SeqCst);
            let (tx, pending) = Pending::channel();
            let _ = tx.send(Err("database unreachable (injected)".into()));
            return pending;
        }
        self.inner.begin_turn()
    }

    fn end_turn(&self) -> Pending<()> {
        if let Some(fault) = self.before_commit.lock().take() {
            fault();
        }
        self.inner.end_turn()
    }

    fn catch_up(&self) -> Pending<Vec<Change>> {
        self.inner.catch_up()
    }

    fn claim_sweep(&self, now: f64, every: f64) -> Pending<SweepClaim> {
        self.inner.claim_sweep(now, every)
    }

    fn user_by_id(&self, id: u64) -> Result<Option<String>, StoreError> {
        self.inner.user_by_id(id)
    }

    fn failed(&self) -> bool {
        self.refusing.load(Ordering::SeqCst) || self.inner.failed()
    }

    fn recover(&self) {
        self.refusing.store(false, Ordering::SeqCst);
        self.inner.recover();
    }
}
