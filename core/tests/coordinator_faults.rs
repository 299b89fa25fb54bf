//! What failing storage does to the coordinator, with real faults where the
//! machine allows them: a full filesystem under SQLite, a PostgreSQL session
//! lost while a turn commits, SQLite's own "database or disk is full", and a
//! store that fails on demand. Every answer must be true: a 503 means
//! nothing changed (in memory, on disk, after a restart), a 2xx means the
//! change is durable, and the horde takes changes again once storage does.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail by panicking

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use common::faults::FaultyStore;
use common::{TINY_WEBP, TestHorde};
use horde_core::coordinator::blobs::BlobStore;
use horde_core::coordinator::store::Store;
use horde_core::coordinator::store::postgres::PgStore;
use horde_core::coordinator::store::sqlite::SqliteStore;
use serde_json::json;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A horde on SQLite in `dir` (whatever `HORDE_TEST_STORE` says: these
/// faults are SQLite's).
async fn sqlite_horde(
    dir: std::path::PathBuf,
    wrap: impl FnOnce(Arc<SqliteStore>) -> Arc<dyn Store>,
) -> TestHorde {
    let sqlite = Arc::new(SqliteStore::open(&dir.join("horde.sqlite")).unwrap());
    let blobs = BlobStore::open(&dir.join("blobs")).unwrap();
    TestHorde::start_on_store(dir, wrap(sqlite), blobs).await
}

/// A horde on real SQLite behind a store that fails on demand.
async fn faulty_horde() -> (TestHorde, Arc<FaultyStore>) {
    let mut store = None;
    let h = sqlite_horde(common::temp_dir("faults"), |sqlite| {
        let faulty = FaultyStore::new(sqlite);
        store = Some(faulty.clone());
        faulty
    })
    .await;
    (h, store.unwrap())
}

#[tokio::test]
async fn an_operation_answered_with_a_storage_error_changed_nothing() {
    let (h, store) = faulty_horde().await;
    let alice = h.user("alice", 1000.0, false).await;
    let bob = h.user("bob", 100.0, false).await;
    let (_, b) = h.get("/v2/find_user", Some(&bob)).await;
    let bob_name = b["username"].as_str().unwrap().to_owned();
    let worker = h.user("worker", 0.0, true).await;

    store.fail(true);
    let transfer = json!({"username": bob_name, "amount": 200});
    let answer = h
        .post("/v2/kudos/transfer", Some(&alice), transfer.clone())
        .await;
    assert_eq!(answer.0, 503, "{}", answer.1);
    let retry = h
        .post("/v2/kudos/transfer", Some(&alice), transfer.clone())
        .await;
    assert_eq!(retry.0, 503);
    let queued = h
        .post(
            "/v2/generate/async",
            Some(&alice),
            json!({"prompt": "refused"}),
        )
        .await;
    assert_eq!(queued.0, 503, "{}", queued.1);
    assert!(store.failures() >= 3);

    // Nothing of it happened, in memory either.
    store.fail(false);
    assert_eq!(h.kudos(&alice).await, 1000.0);
    assert_eq!(h.kudos(&bob).await, 100.0);
    let pop = h.pop(&worker, "painter", json!({})).await;
    assert!(
        pop["id"].is_null(),
        "a request answered 503 was queued: {pop}"
    );

    // And storage takes changes again, which then survive a restart.
    let ok = h.post("/v2/kudos/transfer", Some(&alice), transfer).await;
    assert_eq!(ok.0, 200, "{}", ok.1);
    let dir = h.stop().await;
    let h = sqlite_horde(dir, |s| s).await;
    assert_eq!(h.kudos(&alice).await, 800.0);
    assert_eq!(h.kudos(&bob).await, 300.0);
}

#[tokio::test]
async fn a_full_database_refuses_requests_without_queueing_or_charging_them() {
    let mut store = None;
    let h = sqlite_horde(common::temp_dir("full"), |sqlite| {
        store = Some(sqlite.clone());
        sqlite
    })
    .await;
    let sqlite = store.unwrap();
    let alice = h.user("alice", 10_000.0, false).await;
    let worker = h.user("worker", 0.0, true).await;
    // The disk is full: the database cannot grow by another page.
    sqlite.limit_size(Some(sqlite.size_bytes()));
    let mut accepted = Vec::new();
    let mut refused = 0;
    for i in 0..25 {
        let (s, v) = h
            .post(
                "/v2/generate/async",
                Some(&alice),
                json!({"prompt": format!("request {i} {}", "padding ".repeat(100))}),
            )
            .await;
        match s {
            202 => accepted.push(v["id"].as_str().unwrap().to_owned()),
            503 => refused += 1,
            _ => panic!("{s} {v}"),
        }
    }
    assert!(refused > 0, "the cap never filled the database");
    let balance = h.kudos(&alice).await;
    let charged = 10_000.0 - balance;
    // Each accepted request paid its activation tax; no refused one did.
    assert_eq!(charged, 3.0 * accepted.len() as f64, "{accepted:?}");
    sqlite.limit_size(None);
    let mut served = Vec::new();
    loop {
        let pop = h.pop(&worker, "painter", json!({})).await;
        if pop["id"].is_null() {
            break;
        }
        served.push(pop["id"].as_str().unwrap().to_owned());
        assert!(
            served.len() <= accepted.len(),
            "a refused request was served"
        );
    }
    assert_eq!(served.len(), accepted.len());
    let dir = h.stop().await;
    let h = sqlite_horde(dir, |s| s).await;
    assert_eq!(h.kudos(&alice).await, balance);
}

/// A small tmpfs mounted on a fresh directory, unmounted when dropped.
struct SmallDisk {
    dir: PathBuf,
}

impl SmallDisk {
    /// `None` where this process may not mount one (not root, no mount(8),
    /// a container without the capability).
    fn mount(bytes: u64) -> Option<Self> {
        let dir = common::temp_dir("disk");
        let mounted = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={bytes},mode=0700"),
                "tmpfs",
            ])
            .arg(&dir)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            let _ = std::fs::remove_dir(&dir);
            return None;
        }
        Some(Self { dir })
    }

    /// Fills the filesystem to its last byte and inode with files under
    /// `filler/`: big writes first, then ever smaller ones.
    fn fill(&self) {
        let filler = self.dir.join("filler");
        std::fs::create_dir_all(&filler).unwrap();
        let mut chunk = 1 << 16;
        let mut n = 0;
        while chunk > 0 {
            let path = filler.join(n.to_string());
            n += 1;
            let Ok(mut file) = std::fs::File::create(&path) else {
                break; // not even an inode left
            };
            let block = vec![0xA5u8; chunk];
            while file.write_all(&block).is_ok() {}
            chunk /= 4;
        }
        assert!(
            std::fs::write(self.dir.join("one-more"), b"x").is_err(),
            "the filesystem is not full"
        );
    }

    /// Frees what [`SmallDisk::fill`] took.
    fn free(&self) {
        std::fs::remove_dir_all(self.dir.join("filler")).unwrap();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.dir)
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Temporary files a failed blob write could leave in `dir`.
fn temporary_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| name.ends_with(".tmp"))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_full_filesystem_refuses_changes_truthfully_and_the_horde_recovers() {
    let Some(disk) = SmallDisk::mount(4 << 20) else {
        eprintln!("SKIPPED: mounting a small tmpfs needs root (CI runs as root)");
        return;
    };
    let data = disk.dir.join("data");
    let h = sqlite_horde(data.clone(), |s| s).await;
    let alice = h.user("alice", 10_000.0, false).await;
    let bob = h.user("bob", 100.0, false).await;
    let (_, b) = h.get("/v2/find_user", Some(&bob)).await;
    let bob_name = b["username"].as_str().unwrap().to_owned();
    let worker = h.user("worker", 0.0, true).await;
    // A job in flight before the disk fills, for its result to arrive after.
    let first = h
        .image(&alice, json!({"prompt": "before the disk filled"}))
        .await;
    let pop = h.pop(&worker, "painter", json!({})).await;
    let job = pop["id"].as_str().unwrap().to_owned();
    let charged_before = 10_000.0 - h.kudos(&alice).await;

    disk.fill();
    // The result cannot be stored: refused, and the job stays in flight.
    let submit = json!({"id": job, "generation": b64(TINY_WEBP), "seed": 1});
    let (s, v) = h
        .post("/v2/generate/submit", Some(&worker), submit.clone())
        .await;
    assert_eq!(s, 503, "{v}");
    assert_eq!(v["rc"], "StorageUnavailable", "{v}");
    // A source image cannot be stored either.
    let (s, v) = h
        .post(
            "/v2/generate/async",
            Some(&alice),
            json!({"prompt": "img2img", "source_image": b64(TINY_WEBP)}),
        )
        .await;
    assert_eq!(s, 503, "{v}");
    assert!(
        temporary_files(&data.join("blobs")).is_empty(),
        "a failed blob write left {:?}",
        temporary_files(&data.join("blobs"))
    );
    // Transfers and requests: each is refused or durable, never half.
    let (mut transferred, mut queued, mut refused) = (0.0, Vec::new(), 0);
    for i in 0..40 {
        let transfer = json!({"username": bob_name, "amount": 1});
        let (s, v) = h.post("/v2/kudos/transfer", Some(&alice), transfer).await;
        match s {
            200 => transferred += 1.0,
            503 => refused += 1,
            _ => panic!("transfer answered {s} {v}"),
        }
        let prompt = format!("request {i} {}", "on a full disk ".repeat(400));
        let (s, v) = h
            .post(
                "/v2/generate/async",
                Some(&alice),
                json!({"prompt": prompt}),
            )
            .await;
        match s {
            202 => queued.push(v["id"].as_str().unwrap().to_owned()),
            503 => refused += 1,
            _ => panic!("request answered {s} {v}"),
        }
    }
    assert!(refused > 0, "the full disk refused nothing");
    let alice_kudos = h.kudos(&alice).await;
    // Each queued request paid its activation tax (3); nothing refused did.
    let charged = charged_before + transferred + 3.0 * queued.len() as f64;
    assert_eq!(10_000.0 - alice_kudos, charged);
    assert_eq!(h.kudos(&bob).await, 100.0 + transferred);

    // Space comes back: the horde takes changes again without a restart.
    disk.free();
    let (s, v) = h.post("/v2/generate/submit", Some(&worker), submit).await;
    assert_eq!(s, 200, "the result refused on a full disk: {v}");
    let mut served = 0;
    loop {
        let pop = h.pop(&worker, "painter", json!({})).await;
        if pop["id"].is_null() {
            break;
        }
        served += 1;
        assert!(served <= queued.len(), "a refused request was served");
    }
    assert_eq!(served, queued.len());
    let bob_kudos = h.kudos(&bob).await;
    let alice_kudos = h.kudos(&alice).await;
    let dir = h.stop().await;
    let h = sqlite_horde(dir, |s| s).await;
    assert_eq!(h.kudos(&alice).await, alice_kudos);
    assert_eq!(h.kudos(&bob).await, bob_kudos);
    let done = h.check(&first).await;
    assert_eq!(done["finished"], 1, "{done}");
    drop(h);
    drop(disk);
}

#[tokio::test]
async fn a_turn_whose_commit_fails_on_postgresql_changed_nothing() {
    let url = common::postgres::fresh_database();
    let schema = common::postgres::schema_of(&url).to_owned();
    let open = |url: &str| {
        let pg = Arc::new(PgStore::open(url).unwrap());
        let store = FaultyStore::new(pg.clone());
        (store, BlobStore::Postgres(pg))
    };
    let (store, blobs) = open(&url);
    let h = TestHorde::start_on_store(common::temp_dir("turn"), store.clone(), blobs).await;
    let alice = h.user("alice", 1000.0, false).await;
    let bob = h.user("bob", 100.0, false).await;
    let (_, b) = h.get("/v2/find_user", Some(&bob)).await;
    let bob_name = b["username"].as_str().unwrap().to_owned();

    // The session holding the turn is ended just before it commits: the
    // transfer was made in memory and its caller is waiting for the commit.
    let ended = Arc::new(std::sync::atomic::AtomicI64::new(0));
    let seen = ended.clone();
    store.before_next_commit(move || {
        let n = common::postgres::end_turn_sessions(&schema);
        seen.store(n, std::sync::atomic::Ordering::SeqCst);
    });
    let transfer = json!({"username": bob_name, "amount": 200});
    let (s, v) = h
        .post("/v2/kudos/transfer", Some(&alice), transfer.clone())
        .await;
    assert_eq!(
        ended.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "no turn was open"
    );
    assert_eq!(s, 503, "{v}");
    assert_eq!(v["rc"], "StorageUnavailable", "{v}");
    // Memory is rebuilt from the database: the transfer is undone there too.
    assert_eq!(h.kudos(&alice).await, 1000.0);
    assert_eq!(h.kudos(&bob).await, 100.0);
    // The next turn commits on a new session.
    let (s, v) = h.post("/v2/kudos/transfer", Some(&alice), transfer).await;
    assert_eq!(s, 200, "{v}");
    let dir = h.stop().await;
    let (store, blobs) = open(&url);
    let h = TestHorde::start_on_store(dir, store, blobs).await;
    assert_eq!(h.kudos(&alice).await, 800.0);
    assert_eq!(h.kudos(&bob).await, 300.0);
}
