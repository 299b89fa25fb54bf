//! The embedded SQLite store: one database file in the data directory,
//! created and migrated on first open, in WAL mode. A single writer thread
//! takes every queued change, commits them together in one transaction
//! (group commit) and then acknowledges each batch, so throughput grows with
//! load while every acknowledged change survives a `kill -9`.
//!
//! A failed commit (a full disk) changes nothing on disk, but memory already
//! holds what it refused, and every change queued after it was built on that
//! memory: so from that failure on the writer refuses every batch until
//! [`Store::recover`] says memory was rebuilt from the database.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;

use parking_lot::Mutex;
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::oneshot;

use super::{Change, Row, Store, StoreError, Table, Ticket};

/// Schema migrations, applied in order; `PRAGMA user_version` counts them.
const MIGRATIONS: &[&str] = &[include_str!("../../../migrations/sqlite/0001_init.sql")];

/// Most changes committed in one transaction.
const MAX_BATCH: usize = 20_000;

type Batch = (Vec<Change>, oneshot::Sender<Result<(), String>>);

/// What the writer thread is told.
enum Message {
    /// Commit these changes.
    Batch(Batch),
    /// Memory was rebuilt from the database: accept batches again.
    Recover,
    /// Cap the database at this many pages (`None`: no cap).
    MaxPages(Option<u64>),
}

/// SQLite storage.
pub struct SqliteStore {
    tx: Mutex<Option<mpsc::Sender<Message>>>,
    failed: Arc<AtomicBool>,
    writer: Mutex<Option<thread::JoinHandle<()>>>,
    reader: Mutex<Connection>,
}

fn db_err(e: rusqlite::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(db_err)?;
    // WAL + NORMAL: a commit is in the OS once it returns, which is what
    // surviving a killed process needs; `busy_timeout` lets the CLI and the
    // server share the file.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;",
    )
    .map_err(db_err)?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(db_err)?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
        let tx = conn.transaction().map_err(db_err)?;
        tx.execute_batch(sql).map_err(db_err)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)
            .map_err(db_err)?;
        tx.commit().map_err(db_err)?;
    }
    Ok(())
}

fn apply(conn: &mut Connection, changes: &[Change]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    for change in changes {
        match change {
            Change::Put {
                table: Table::Users,
                id,
                key_hash,
                body,
            } => {
                tx.prepare_cached(
                    "INSERT INTO users (id, key_hash, body) VALUES (?1, ?2, ?3)
                     ON CONFLICT(id) DO UPDATE SET key_hash = excluded.key_hash, body = excluded.body",
                )?
                .execute(params![id, key_hash, body])?;
            }
            Change::Put {
                table, id, body, ..
            } => {
                let sql = format!(
                    "INSERT INTO {} (id, body) VALUES (?1, ?2)
                     ON CONFLICT(id) DO UPDATE SET body = excluded.body",
                    table.name()
                );
                tx.prepare_cached(&sql)?.execute(params![id, body])?;
            }
            Change::Delete { table, id } => {
                let sql = format!("DELETE FROM {} WHERE id = ?1", table.name());
                tx.prepare_cached(&sql)?.execute(params![id])?;
            }
        }
    }
    tx.commit()
}

/// The message every batch refused after a failed commit is answered with.
const REFUSED: &str = "an earlier commit failed; changes are refused until memory is rebuilt";

fn writer_loop(mut conn: Connection, rx: mpsc::Receiver<Message>, failed: Arc<AtomicBool>) {
    let mut refusing = false;
    let mut next = None;
    loop {
        let Some(message) = next.take().or_else(|| rx.recv().ok()) else {
            return;
        };
        let first = match message {
            Message::Batch(batch) => batch,
            Message::Recover => {
                refusing = false;
                continue;
            }
            Message::MaxPages(pages) => {
                let pages = pages.unwrap_or(i64::MAX as u64).min(i64::MAX as u64) as i64;
                if let Err(e) = conn.pragma_update(None, "max_page_count", pages) {
                    tracing::error!(error = %e, "cannot cap the database size");
                }
                continue;
            }
        };
        let mut changes = first.0;
        let mut acks = vec![first.1];
        while changes.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(Message::Batch((more, ack))) => {
                    changes.extend(more);
                    acks.push(ack);
                }
                Ok(other) => {
                    next = Some(other);
                    break;
                }
                Err(_) => break,
            }
        }
        let result = if refusing {
            Err(REFUSED.to_owned())
        } else {
            apply(&mut conn, &changes).map_err(|e| {
                tracing::error!(error = %e, "storage commit failed; refusing changes until memory is rebuilt");
                refusing = true;
                failed.store(true, Ordering::SeqCst);
                e.to_string()
            })
        };
        for ack in acks {
            let _ = ack.send(result.clone());
        }
    }
}

impl SqliteStore {
    /// Opens (creating and migrating when needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut writer = open_connection(path)?;
        migrate(&mut writer)?;
        let reader = open_connection(path)?;
        let (tx, rx) = mpsc::channel();
        let failed = Arc::new(AtomicBool::new(false));
        let flag = failed.clone();
        let handle = thread::Builder::new()
            .name("horde-sqlite-writer".into())
            .spawn(move || writer_loop(writer, rx, flag))?;
        Ok(Self {
            tx: Mutex::new(Some(tx)),
            failed,
            writer: Mutex::new(Some(handle)),
            reader: Mutex::new(reader),
        })
    }
}

impl SqliteStore {
    /// Caps the database file at `bytes` (rounded down to whole pages;
    /// `None` lifts the cap): commits that would grow it further fail as on
    /// a full disk. For operators who bound the horde's disk use, and for
    /// tests of what a full disk does.
    pub fn limit_size(&self, bytes: Option<u64>) {
        let pages = bytes.map(|b| (b / self.page_size()).max(1));
        if let Some(tx) = self.tx.lock().as_ref() {
            let _ = tx.send(Message::MaxPages(pages));
        }
    }

    /// The database's size in bytes (its pages, the write-ahead log's
    /// included once checkpointed or not).
    pub fn size_bytes(&self) -> u64 {
        let pages = self
            .reader
            .lock()
            .query_row("PRAGMA page_count", [], |r| r.get::<_, i64>(0))
            .map_or(0, |p| p.max(0) as u64);
        pages * self.page_size()
    }

    fn page_size(&self) -> u64 {
        self.reader
            .lock()
            .query_row("PRAGMA page_size", [], |r| r.get::<_, i64>(0))
            .map_or(4096, |p| p.max(512) as u64)
    }
}

impl Store for SqliteStore {
    fn load(&self) -> Result<Vec<Row>, StoreError> {
        let conn = self.reader.lock();
        let mut rows = Vec::new();
        for table in Table::ALL {
            let mut stmt = conn
                .prepare(&format!("SELECT id, body FROM {}", table.name()))
                .map_err(db_err)?;
            let found = stmt
                .query_map([], |r| {
                    Ok(Row {
                        table,
                        id: r.get(0)?,
                        body: r.get(1)?,
                    })
                })
                .map_err(db_err)?;
            for row in found {
                rows.push(row.map_err(db_err)?);
            }
        }
        Ok(rows)
    }

    fn submit(&self, changes: Vec<Change>) -> Ticket {
        if changes.is_empty() {
            return Ticket::done();
        }
        let (ack, rx) = oneshot::channel();
        if let Some(tx) = self.tx.lock().as_ref() {
            let _ = tx.send(Message::Batch((changes, ack)));
        }
        Ticket(rx)
    }

    fn failed(&self) -> bool {
        self.failed.load(Ordering::SeqCst)
    }

    fn recover(&self) {
        self.failed.store(false, Ordering::SeqCst);
        if let Some(tx) = self.tx.lock().as_ref() {
            let _ = tx.send(Message::Recover);
        }
    }

    fn user_by_key_hash(&self, key_hash: &str) -> Result<Option<String>, StoreError> {
        self.reader
            .lock()
            .query_row(
                "SELECT body FROM users WHERE key_hash = ?1",
                params![key_hash],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err)
    }

    fn user_by_id(&self, id: u64) -> Result<Option<String>, StoreError> {
        self.reader
            .lock()
            .query_row(
                "SELECT body FROM users WHERE id = ?1",
                params![id.to_string()],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err)
    }

    fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.reader
            .lock()
            .query_row("SELECT value FROM meta WHERE key = ?1", params![key], |r| {
                r.get(0)
            })
            .optional()
            .map_err(db_err)
    }

    fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.reader
            .lock()
            .execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map(|_| ())
            .map_err(db_err)
    }

    fn close(&self) {
        self.tx.lock().take();
        if let Some(handle) = self.writer.lock().take() {
            let _ = handle.join();
        }
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.close();
    }
}
