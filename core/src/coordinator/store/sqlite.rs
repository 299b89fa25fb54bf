//! The embedded SQLite store: one database file in the data directory,
//! created and migrated on first open, in WAL mode. A single writer thread
//! takes every queued change, commits them together in one transaction
//! (group commit) and then acknowledges each batch, so throughput grows with
//! load while every acknowledged change survives a `kill -9`.

use std::path::Path;
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

/// SQLite storage.
pub struct SqliteStore {
    tx: Mutex<Option<mpsc::Sender<Batch>>>,
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

fn writer_loop(mut conn: Connection, rx: mpsc::Receiver<Batch>) {
    while let Ok(first) = rx.recv() {
        let mut changes = first.0;
        let mut acks = vec![first.1];
        while changes.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok((more, ack)) => {
                    changes.extend(more);
                    acks.push(ack);
                }
                Err(_) => break,
            }
        }
        let result = apply(&mut conn, &changes).map_err(|e| {
            tracing::error!(error = %e, "storage commit failed");
            e.to_string()
        });
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
        let handle = thread::Builder::new()
            .name("horde-sqlite-writer".into())
            .spawn(move || writer_loop(writer, rx))?;
        Ok(Self {
            tx: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(handle)),
            reader: Mutex::new(reader),
        })
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
            let _ = tx.send((changes, ack));
        }
        Ticket(rx)
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
