//! PostgreSQL for the tests. The coordinator's tests run on SQLite unless
//! `HORDE_TEST_STORE=postgres`; then each test horde gets a fresh schema on
//! the server at `HORDE_TEST_DATABASE_URL`, or, when that is unset, on a
//! throwaway cluster that `scripts/pg-cluster start` makes (installing
//! Debian's postgresql when missing). Tests that always need PostgreSQL
//! (several coordinator processes on one database) use [`fresh_database`].

use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::{Connection, Executor, Row};

/// Whether the coordinator tests run on PostgreSQL.
pub fn on_postgres() -> bool {
    std::env::var("HORDE_TEST_STORE").is_ok_and(|v| v == "postgres")
}

/// The tests' PostgreSQL server.
pub fn server() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(url) = std::env::var("HORDE_TEST_DATABASE_URL")
            && !url.is_empty()
        {
            return url;
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/pg-cluster");
        let out = std::process::Command::new(script)
            .arg("start")
            .output()
            .expect("scripts/pg-cluster runs");
        assert!(
            out.status.success(),
            "scripts/pg-cluster start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .expect("a URL")
            .trim()
            .to_owned()
    })
    .clone()
}

/// A new, empty schema on the tests' server, as a URL that selects it.
pub fn fresh_database() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let server = server();
    let schema = format!(
        "horde_test_{}_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros())
            .unwrap_or(0),
        N.fetch_add(1, Ordering::Relaxed)
    );
    on_server(format!("CREATE SCHEMA {schema}"));
    let sep = if server.contains('?') { '&' } else { '?' };
    format!("{server}{sep}options=-csearch_path%3D{schema}")
}

/// The database of the horde in `dir`: `None` on SQLite; on PostgreSQL a
/// fresh schema made on first use and remembered in the directory, so a
/// restart on the same directory finds the same data.
pub fn database_of(dir: &Path) -> Option<String> {
    if !on_postgres() {
        return None;
    }
    let file = dir.join("test-database-url");
    if let Ok(url) = std::fs::read_to_string(&file) {
        return Some(url);
    }
    let url = fresh_database();
    std::fs::create_dir_all(dir).expect("dir");
    std::fs::write(&file, &url).expect("remember the database");
    Some(url)
}

/// `horde` command-line arguments that select the store of `dir`.
pub fn store_args(dir: &Path) -> Vec<String> {
    let mut args = vec!["--data-dir".to_owned(), dir.display().to_string()];
    if let Some(url) = database_of(dir) {
        args.extend(["--database".to_owned(), url]);
    }
    args
}

/// The schema a [`fresh_database`] URL selects.
pub fn schema_of(url: &str) -> &str {
    url.rsplit_once("search_path%3D")
        .map(|(_, schema)| schema.split('&').next().unwrap_or(schema))
        .expect("a URL from fresh_database")
}

/// Ends, from outside, the PostgreSQL session that holds an open turn of
/// the coordinator on `schema` (the one holding the row lock on its
/// `horde_cluster`), as a lost connection or a restarted server would.
/// Answers how many sessions it ended.
pub fn end_turn_sessions(schema: &str) -> i64 {
    let rows = on_server(format!(
        "SELECT count(pg_terminate_backend(l.pid)) FROM pg_locks l
         JOIN pg_class c ON c.oid = l.relation
         JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = '{schema}' AND c.relname = 'horde_cluster'
           AND l.mode = 'RowExclusiveLock' AND l.pid <> pg_backend_pid()"
    ));
    rows[0].get(0)
}

/// Runs `sql` (the tests' own statements, with identifiers they made) on
/// the tests' server, on its own thread and runtime so that it works inside
/// and outside a runtime; answers the rows.
fn on_server(sql: String) -> Vec<sqlx::postgres::PgRow> {
    let server = server();
    let run = move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let mut conn = sqlx::PgConnection::connect(&server)
                .await
                .expect("the tests' PostgreSQL accepts connections");
            conn.fetch_all(sql.as_str()).await.expect(&sql)
        })
    };
    std::thread::spawn(run).join().expect("the statement ran")
}
