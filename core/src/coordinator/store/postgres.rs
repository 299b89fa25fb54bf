//! The PostgreSQL store (feature `postgres`): one database shared by several
//! coordinator processes.
//!
//! Records live in one table, `horde_records`, each stamped with the version
//! of the turn that last wrote it (deletions leave a tombstone). A turn is a
//! transaction that first bumps the version in `horde_cluster`: that row lock
//! is the cluster's write lock, so turns commit one at a time, in version
//! order, and "every record with a version above the last one I saw" is
//! exactly what other processes changed. Blobs live in `horde_blobs` so any
//! process serves any image.
//!
//! The store runs its own small Tokio runtime: the [`Store`] methods are
//! synchronous (the CLI has no runtime) and must not block the caller's
//! runtime. Turn commands go, in order, to one task that owns the open
//! transaction; lookups, blobs and the sweep lease use the pool directly.

use std::collections::HashMap;
use std::future::Future;
use std::str::FromStr;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use parking_lot::Mutex;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Executor as _, PgPool, Postgres, Row as _, Transaction};
use tokio::sync::{mpsc, oneshot};

use super::{Change, Pending, Row, Store, StoreError, SweepClaim, Table, Ticket};

/// Schema migrations, applied in order; `horde_schema` counts them.
const MIGRATIONS: &[&str] = &[include_str!("../../../migrations/postgres/0001_init.sql")];

/// The advisory lock that keeps two processes from migrating at once.
const MIGRATION_LOCK: i64 = 0x686f_7264_655f_6d69;

/// Connections each process keeps at most.
const MAX_CONNECTIONS: u32 = 8;

type Reply<T> = oneshot::Sender<Result<T, String>>;

/// What the turn task is asked to do, in order.
enum Command {
    Load(std_mpsc::SyncSender<Result<Vec<Row>, String>>),
    Begin(Reply<Vec<Change>>),
    Write(Vec<Change>, Reply<()>),
    End(Reply<()>),
    CatchUp(Reply<Vec<Change>>),
}

/// PostgreSQL storage.
pub struct PgStore {
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
    handle: tokio::runtime::Handle,
    pool: PgPool,
    turns: Mutex<Option<mpsc::UnboundedSender<Command>>>,
    turn_task_done: Mutex<Option<std_mpsc::Receiver<()>>>,
}

fn db_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Database(e.to_string())
}

fn kind_of(table: Table) -> i16 {
    match table {
        Table::Users => 0,
        Table::SharedKeys => 1,
        Table::Workers => 2,
        Table::Requests => 3,
        Table::Interrogations => 4,
    }
}

fn table_of(kind: i16) -> Option<Table> {
    Table::ALL.into_iter().find(|t| kind_of(*t) == kind)
}

impl PgStore {
    /// Connects to `url` (`postgres://user@host:port/db`; libpq's
    /// `?options=-csearch_path%3Dschema` picks a schema) and migrates the
    /// schema when needed.
    pub fn open(url: &str) -> Result<Self, StoreError> {
        // A process that stalls inside a turn would hold the cluster's write
        // lock: PostgreSQL ends such a session, the turn fails, and the
        // process rebuilds its state when it wakes.
        let options = PgConnectOptions::from_str(url)
            .map_err(db_err)?
            .options([("idle_in_transaction_session_timeout", "10000")]);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("horde-postgres")
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let pool = call(&handle, async move {
            let pool = PgPoolOptions::new()
                .max_connections(MAX_CONNECTIONS)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(options)
                .await?;
            migrate(&pool).await?;
            Ok::<_, sqlx::Error>(pool)
        })?;
        let (turns, commands) = mpsc::unbounded_channel();
        let (done_tx, done_rx) = std_mpsc::channel();
        let task = TurnTask {
            pool: pool.clone(),
            seen: 0,
            turn: None,
        };
        handle.spawn(async move {
            task.run(commands).await;
            let _ = done_tx.send(());
        });
        Ok(Self {
            runtime: Mutex::new(Some(runtime)),
            handle,
            pool,
            turns: Mutex::new(Some(turns)),
            turn_task_done: Mutex::new(Some(done_rx)),
        })
    }

    fn command(&self, command: Command) -> bool {
        self.turns
            .lock()
            .as_ref()
            .is_some_and(|tx| tx.send(command).is_ok())
    }

    fn spawn<T, F>(&self, work: impl FnOnce(PgPool) -> F) -> Pending<T>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, sqlx::Error>> + Send + 'static,
    {
        let (tx, pending) = Pending::channel();
        let fut = work(self.pool.clone());
        self.handle.spawn(async move {
            let _ = tx.send(fut.await.map_err(|e| e.to_string()));
        });
        pending
    }

    fn block<T, F>(&self, work: impl FnOnce(PgPool) -> F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, sqlx::Error>> + Send + 'static,
    {
        call(&self.handle, work(self.pool.clone()))
    }

    /// A blob, or `None` when there is none.
    pub fn blob(&self, name: &str) -> Pending<Option<Vec<u8>>> {
        let name = name.to_owned();
        self.spawn(|pool| async move {
            sqlx::query_scalar("SELECT bytes FROM horde_blobs WHERE name = $1")
                .bind(name)
                .fetch_optional(&pool)
                .await
        })
    }

    /// Stores a blob, replacing one of the same name.
    pub fn put_blob(&self, name: &str, bytes: Vec<u8>) -> Pending<()> {
        let name = name.to_owned();
        self.spawn(|pool| async move {
            sqlx::query(
                "INSERT INTO horde_blobs (name, bytes) VALUES ($1, $2)
                 ON CONFLICT (name) DO UPDATE SET bytes = excluded.bytes",
            )
            .bind(name)
            .bind(bytes)
            .execute(&pool)
            .await
            .map(|_| ())
        })
    }

    /// Removes a blob (no error when absent).
    pub fn delete_blob(&self, name: &str) -> Pending<()> {
        let name = name.to_owned();
        self.spawn(|pool| async move {
            sqlx::query("DELETE FROM horde_blobs WHERE name = $1")
                .bind(name)
                .execute(&pool)
                .await
                .map(|_| ())
        })
    }
}

/// Runs `fut` on the store's runtime and waits for it from any thread,
/// inside another runtime or not.
fn call<T: Send + 'static, E: std::fmt::Display + Send + 'static>(
    handle: &tokio::runtime::Handle,
    fut: impl Future<Output = Result<T, E>> + Send + 'static,
) -> Result<T, StoreError> {
    let (tx, rx) = std_mpsc::sync_channel(1);
    handle.spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv().map_err(|_| StoreError::Stopped)?.map_err(db_err)
}

async fn migrate(pool: &PgPool) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    let conn: &mut sqlx::PgConnection = &mut tx;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *conn)
        .await?;
    sqlx::query("CREATE TABLE IF NOT EXISTS horde_schema (version integer NOT NULL)")
        .execute(&mut *conn)
        .await?;
    let done: Option<i32> = sqlx::query_scalar("SELECT max(version) FROM horde_schema")
        .fetch_one(&mut *conn)
        .await?;
    let done = usize::try_from(done.unwrap_or(0)).unwrap_or(0);
    for (i, sql) in MIGRATIONS.iter().copied().enumerate().skip(done) {
        conn.execute(sql).await?;
        sqlx::query("INSERT INTO horde_schema (version) VALUES ($1)")
            .bind(i as i32 + 1)
            .execute(&mut *conn)
            .await?;
    }
    tx.commit().await
}

/// An open turn.
struct Turn {
    tx: Transaction<'static, Postgres>,
    version: i64,
    changes: Vec<Change>,
    acks: Vec<Reply<()>>,
}

/// The one task that owns turns and knows which version this process has seen.
struct TurnTask {
    pool: PgPool,
    seen: i64,
    turn: Option<Turn>,
}

impl TurnTask {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        while let Some(command) = commands.recv().await {
            match command {
                Command::Load(reply) => {
                    let _ = reply.send(self.load().await.map_err(|e| e.to_string()));
                }
                Command::Begin(reply) => {
                    let result = if self.turn.is_some() {
                        Err("a turn is already open".to_owned())
                    } else {
                        self.begin().await.map_err(|e| e.to_string())
                    };
                    let _ = reply.send(result);
                }
                Command::Write(changes, ack) => match self.turn.as_mut() {
                    Some(turn) => {
                        turn.changes.extend(changes);
                        turn.acks.push(ack);
                    }
                    None => {
                        let result = self.write_alone(&changes).await;
                        let _ = ack.send(result.map_err(|e| e.to_string()));
                    }
                },
                Command::End(reply) => {
                    let _ = reply.send(self.end().await);
                }
                Command::CatchUp(reply) => {
                    let result = fetch_since(&self.pool, self.seen)
                        .await
                        .map(|(changes, top)| {
                            self.seen = self.seen.max(top);
                            changes
                        });
                    let _ = reply.send(result.map_err(|e| e.to_string()));
                }
            }
        }
        // Closing with a turn open: what it holds was acknowledged to nobody
        // yet, but commit it rather than drop it.
        let _ = self.end().await;
    }

    async fn load(&mut self) -> Result<Vec<Row>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let version: i64 = sqlx::query_scalar("SELECT version FROM horde_cluster")
            .fetch_one(&mut *tx)
            .await?;
        let found = sqlx::query(
            "SELECT kind, id, body FROM horde_records WHERE body IS NOT NULL ORDER BY kind, id",
        )
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut rows = Vec::with_capacity(found.len());
        for r in found {
            let kind: i16 = r.try_get(0)?;
            let Some(table) = table_of(kind) else {
                tracing::warn!(kind, "skipping a record of an unknown kind");
                continue;
            };
            rows.push(Row {
                table,
                id: r.try_get(1)?,
                body: r.try_get(2)?,
            });
        }
        self.seen = version;
        Ok(rows)
    }

    async fn begin(&mut self) -> Result<Vec<Change>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let version = bump(&mut tx).await?;
        let (changes, _) = fetch_since(&mut *tx, self.seen).await?;
        self.turn = Some(Turn {
            tx,
            version,
            changes: Vec::new(),
            acks: Vec::new(),
        });
        Ok(changes)
    }

    async fn end(&mut self) -> Result<(), String> {
        let Some(mut turn) = self.turn.take() else {
            return Ok(());
        };
        let written = write(&mut turn.tx, turn.version, &turn.changes).await;
        let result = match written {
            Ok(()) => turn.tx.commit().await,
            Err(e) => Err(e),
        }
        .map_err(|e| {
            tracing::error!(error = %e, "commit of a turn failed");
            e.to_string()
        });
        if result.is_ok() {
            self.seen = self.seen.max(turn.version);
        }
        for ack in turn.acks {
            let _ = ack.send(result.clone());
        }
        result
    }

    /// Changes submitted outside a turn commit in a turn of their own; what
    /// they were computed from is the caller's business.
    async fn write_alone(&mut self, changes: &[Change]) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let version = bump(&mut tx).await?;
        write(&mut tx, version, changes).await?;
        tx.commit().await
    }
}

/// Takes the cluster's write lock and the new turn's version.
async fn bump(tx: &mut Transaction<'static, Postgres>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("UPDATE horde_cluster SET version = version + 1 WHERE one RETURNING version")
        .fetch_one(&mut **tx)
        .await
}

/// Every record written after version `seen`, and the highest version found.
async fn fetch_since<'c, E>(conn: E, seen: i64) -> Result<(Vec<Change>, i64), sqlx::Error>
where
    E: sqlx::Executor<'c, Database = Postgres>,
{
    let found = sqlx::query(
        "SELECT kind, id, key_hash, body, version FROM horde_records
         WHERE version > $1 ORDER BY version",
    )
    .bind(seen)
    .fetch_all(conn)
    .await?;
    let mut top = seen;
    let mut changes = Vec::with_capacity(found.len());
    for r in found {
        let kind: i16 = r.try_get(0)?;
        let id: String = r.try_get(1)?;
        let key_hash: Option<String> = r.try_get(2)?;
        let body: Option<String> = r.try_get(3)?;
        top = top.max(r.try_get(4)?);
        let Some(table) = table_of(kind) else {
            tracing::warn!(kind, "skipping a record of an unknown kind");
            continue;
        };
        changes.push(match body {
            Some(body) => Change::Put {
                table,
                id,
                key_hash,
                body,
            },
            None => Change::Delete { table, id },
        });
    }
    Ok((changes, top))
}

/// Writes the last change of each record, stamped with `version`.
async fn write(
    tx: &mut Transaction<'static, Postgres>,
    version: i64,
    changes: &[Change],
) -> Result<(), sqlx::Error> {
    if changes.is_empty() {
        return Ok(());
    }
    let mut last: HashMap<(i16, &str), &Change> = HashMap::with_capacity(changes.len());
    for change in changes {
        last.insert((kind_of(change.table()), change.id()), change);
    }
    let mut kinds = Vec::with_capacity(last.len());
    let mut ids = Vec::with_capacity(last.len());
    let mut hashes = Vec::with_capacity(last.len());
    let mut bodies = Vec::with_capacity(last.len());
    for ((kind, id), change) in last {
        kinds.push(kind);
        ids.push(id.to_owned());
        match change {
            Change::Put { key_hash, body, .. } => {
                hashes.push(key_hash.clone());
                bodies.push(Some(body.clone()));
            }
            Change::Delete { .. } => {
                hashes.push(None);
                bodies.push(None);
            }
        }
    }
    sqlx::query(
        "INSERT INTO horde_records (kind, id, version, key_hash, body)
         SELECT t.kind, t.id, $1, t.key_hash, t.body
         FROM UNNEST($2::smallint[], $3::text[], $4::text[], $5::text[]) AS t(kind, id, key_hash, body)
         ON CONFLICT (kind, id) DO UPDATE
         SET version = excluded.version, key_hash = excluded.key_hash, body = excluded.body",
    )
    .bind(version)
    .bind(kinds)
    .bind(ids)
    .bind(hashes)
    .bind(bodies)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

impl Store for PgStore {
    fn load(&self) -> Result<Vec<Row>, StoreError> {
        let (tx, rx) = std_mpsc::sync_channel(1);
        if !self.command(Command::Load(tx)) {
            return Err(StoreError::Stopped);
        }
        rx.recv()
            .map_err(|_| StoreError::Stopped)?
            .map_err(StoreError::Database)
    }

    fn submit(&self, changes: Vec<Change>) -> Ticket {
        if changes.is_empty() {
            return Ticket::done();
        }
        let (ack, rx) = oneshot::channel();
        self.command(Command::Write(changes, ack));
        Ticket(rx)
    }

    fn user_by_key_hash(&self, key_hash: &str) -> Result<Option<String>, StoreError> {
        let key_hash = key_hash.to_owned();
        self.block(|pool| async move {
            sqlx::query_scalar(
                "SELECT body FROM horde_records
                 WHERE kind = $1 AND key_hash = $2 AND body IS NOT NULL",
            )
            .bind(kind_of(Table::Users))
            .bind(key_hash)
            .fetch_optional(&pool)
            .await
        })
    }

    fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        let key = key.to_owned();
        self.block(|pool| async move {
            sqlx::query_scalar("SELECT value FROM horde_meta WHERE key = $1")
                .bind(key)
                .fetch_optional(&pool)
                .await
        })
    }

    fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.block(|pool| async move {
            sqlx::query(
                "INSERT INTO horde_meta (key, value) VALUES ($1, $2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )
            .bind(key)
            .bind(value)
            .execute(&pool)
            .await
            .map(|_| ())
        })
    }

    fn close(&self) {
        self.turns.lock().take();
        if let Some(done) = self.turn_task_done.lock().take() {
            let _ = done.recv_timeout(Duration::from_secs(30));
        }
        if let Some(runtime) = self.runtime.lock().take() {
            runtime.shutdown_background();
        }
    }

    fn is_shared(&self) -> bool {
        true
    }

    fn begin_turn(&self) -> Pending<Vec<Change>> {
        let (tx, pending) = Pending::channel();
        self.command(Command::Begin(tx));
        pending
    }

    fn end_turn(&self) -> Pending<()> {
        let (tx, pending) = Pending::channel();
        self.command(Command::End(tx));
        pending
    }

    fn catch_up(&self) -> Pending<Vec<Change>> {
        let (tx, pending) = Pending::channel();
        self.command(Command::CatchUp(tx));
        pending
    }

    fn claim_sweep(&self, now: f64, every: f64) -> Pending<SweepClaim> {
        self.spawn(move |pool| async move {
            let mut tx = pool.begin().await?;
            let last: f64 = sqlx::query_scalar("SELECT swept_at FROM horde_sweep FOR UPDATE")
                .fetch_one(&mut *tx)
                .await?;
            if now - last < every * 0.9 {
                return Ok(SweepClaim::Theirs);
            }
            sqlx::query("UPDATE horde_sweep SET swept_at = $1 WHERE one")
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(SweepClaim::Mine {
                last: (last > 0.0).then_some(last),
            })
        })
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.close();
    }
}
