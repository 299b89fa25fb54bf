//! The ledger under random operations and random storage failures: image
//! and text requests (some through a shared key), pops, submits (ok,
//! censored, csam, faulted), cancels, transfers and admin changes, with
//! commits failing at random points. After every operation answered 503
//! memory is exactly what it was before; kudos are conserved throughout;
//! after a restart from the database every acknowledged change is there.
//! Runs on SQLite, or on PostgreSQL with `HORDE_TEST_STORE=postgres`
//! (there, failures are turns that cannot open).

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail by panicking

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use common::TestHorde;
use common::faults::FaultyStore;
use horde_core::coordinator::blobs::BlobStore;
use horde_core::coordinator::store::sqlite::SqliteStore;
use horde_core::coordinator::store::{Row, Store, Table};
use proptest::prelude::*;
use serde_json::{Value, json};

#[derive(Clone, Debug)]
enum Op {
    Image {
        user: usize,
        n: u32,
        keyed: bool,
    },
    Text {
        user: usize,
    },
    Pop {
        worker: usize,
        text: bool,
    },
    Submit {
        job: usize,
        state: usize,
    },
    Cancel {
        request: usize,
    },
    Transfer {
        from: usize,
        to: usize,
        amount: u32,
    },
    Admin {
        user: usize,
        delta: i32,
    },
    Storage {
        failing: bool,
    },
    /// The next commit fails: on PostgreSQL its session is ended while the
    /// turn is open, its changes made.
    LoseCommit,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..3usize, 1..3u32, any::<bool>()).prop_map(|(user, n, keyed)| Op::Image { user, n, keyed }),
        2 => (0..3usize).prop_map(|user| Op::Text { user }),
        4 => (0..2usize, any::<bool>()).prop_map(|(worker, text)| Op::Pop { worker, text }),
        4 => (0..8usize, 0..4usize).prop_map(|(job, state)| Op::Submit { job, state }),
        1 => (0..8usize).prop_map(|request| Op::Cancel { request }),
        2 => (0..3usize, 0..3usize, 1..50u32).prop_map(|(from, to, amount)| Op::Transfer { from, to, amount }),
        1 => (0..3usize, -500..500i32).prop_map(|(user, delta)| Op::Admin { user, delta }),
        2 => any::<bool>().prop_map(|failing| Op::Storage { failing }),
        1 => Just(Op::LoseCommit),
    ]
}

/// The store the horde under test runs on, behind the fault injector.
fn open_store(dir: &std::path::Path) -> (Arc<dyn Store>, BlobStore) {
    match common::postgres::database_of(dir) {
        Some(url) => {
            let pg =
                Arc::new(horde_core::coordinator::store::postgres::PgStore::open(&url).unwrap());
            (pg.clone(), BlobStore::Postgres(pg))
        }
        None => (
            Arc::new(SqliteStore::open(&dir.join("horde.sqlite")).unwrap()),
            BlobStore::open(&dir.join("blobs")).unwrap(),
        ),
    }
}

async fn start(dir: PathBuf) -> (TestHorde, Arc<FaultyStore>) {
    let (inner, blobs) = open_store(&dir);
    let store = FaultyStore::new(inner);
    (
        TestHorde::start_on_store(dir, store.clone(), blobs).await,
        store,
    )
}

/// What the ledger is: users, shared keys and requests whole, workers by
/// what they earned (their check-in times are written lazily, by design).
fn ledger(rows: Vec<Row>) -> Vec<(Table, String, String)> {
    rows.into_iter()
        .map(|r| {
            let body = if r.table == Table::Workers {
                let w: Value = serde_json::from_str(&r.body).unwrap();
                w["kudos_generated"].to_string()
            } else {
                r.body
            };
            (r.table, r.id, body)
        })
        .collect()
}

/// Σ balances and escrow − Σ admin grants − Σ floor grants + Σ charged −
/// Σ rewarded: zero
/// when no kudos were minted or lost (no uptime: the clock stands still).
fn imbalance(rows: &[Row]) -> f64 {
    let mut sum = 0.0;
    for r in rows {
        let v: Value = serde_json::from_str(&r.body).unwrap();
        let f = |x: &Value| x.as_f64().unwrap_or(0.0);
        match r.table {
            Table::Users => {
                sum += f(&v["kudos"]) + f(&v["evaluating_kudos"])
                    - f(&v["kudos_details"]["admin"])
                    - f(&v["floor_grants"]);
            }
            Table::Requests => sum += f(&v["consumed_kudos"]),
            Table::Workers => sum -= f(&v["kudos_generated"]),
            _ => {}
        }
    }
    sum
}

struct World {
    h: TestHorde,
    store: Arc<FaultyStore>,
    users: Vec<(String, String)>,
    shared: Vec<String>,
    workers: Vec<String>,
    requests: Vec<(String, bool)>,
    jobs: Vec<(String, bool, usize)>,
}

impl World {
    async fn apply(&mut self, op: &Op) -> Option<(u16, Value)> {
        let h = &self.h;
        let answer = match op {
            Op::Storage { failing } => {
                self.store.fail(*failing);
                return None;
            }
            Op::LoseCommit => {
                match common::postgres::database_of(&h.dir) {
                    Some(url) => {
                        let schema = common::postgres::schema_of(&url).to_owned();
                        self.store.before_next_commit(move || {
                            common::postgres::end_turn_sessions(&schema);
                        });
                    }
                    None => self.store.fail_next(),
                }
                return None;
            }
            Op::Image { user, n, keyed } => {
                let key = if *keyed {
                    &self.shared[*user]
                } else {
                    &self.users[*user].0
                };
                let a = h
                    .post(
                        "/v2/generate/async",
                        Some(key),
                        json!({"prompt": "a castle", "params": {"n": n}}),
                    )
                    .await;
                if a.0 == 202 {
                    self.requests
                        .push((a.1["id"].as_str().unwrap().to_owned(), false));
                }
                a
            }
            Op::Text { user } => {
                let a = h
                    .post(
                        "/v2/generate/text/async",
                        Some(&self.users[*user].0),
                        json!({"prompt": "Once", "params": {"max_length": 64}}),
                    )
                    .await;
                if a.0 == 202 {
                    self.requests
                        .push((a.1["id"].as_str().unwrap().to_owned(), true));
                }
                a
            }
            Op::Pop { worker, text } => {
                let key = &self.workers[*worker];
                let a = if *text {
                    h.post(
                        "/v2/generate/text/pop",
                        Some(key),
                        json!({"name": format!("scribe{worker}"), "models": ["koboldcpp/Meta-Llama-3-8B-Instruct"], "max_length": 512,
                               "bridge_agent": "KoboldCppEmbedWorker:1:x"}),
                    )
                    .await
                } else {
                    h.post(
                        "/v2/generate/pop",
                        Some(key),
                        json!({"name": format!("painter{worker}"), "models": ["stable_diffusion"], "max_pixels": 4194304, "nsfw": true}),
                    )
                    .await
                };
                if let Some(id) = a.1["id"].as_str() {
                    self.jobs.push((id.to_owned(), *text, *worker));
                }
                a
            }
            Op::Submit { job, state } => {
                let (id, text, worker) = self.jobs.get(*job % self.jobs.len().max(1)).cloned()?;
                let state = ["ok", "censored", "csam", "faulted"][*state];
                let (path, body) = if text {
                    (
                        "/v2/generate/text/submit",
                        json!({"id": id, "generation": "x".repeat(200), "state": state}),
                    )
                } else {
                    (
                        "/v2/generate/submit",
                        json!({"id": id, "generation": "R2", "seed": 3, "state": state}),
                    )
                };
                h.post(path, Some(&self.workers[worker]), body).await
            }
            Op::Cancel { request } => {
                let (id, text) = self
                    .requests
                    .get(*request % self.requests.len().max(1))
                    .cloned()?;
                let path = if text { "text/status" } else { "status" };
                h.delete(&format!("/v2/generate/{path}/{id}"), None).await
            }
            Op::Transfer { from, to, amount } => {
                h.post(
                    "/v2/kudos/transfer",
                    Some(&self.users[*from].0),
                    json!({"username": self.users[*to].1, "amount": amount}),
                )
                .await
            }
            Op::Admin { user, delta } => {
                let id = self.users[*user].1.rsplit_once('#').unwrap().1.to_owned();
                h.put(
                    &format!("/v2/users/{id}"),
                    Some(&self.users[0].0),
                    json!({"kudos": delta}),
                )
                .await
            }
        };
        Some(answer)
    }
}

async fn run(ops: Vec<Op>) {
    let dir = common::temp_dir("props");
    let (h, store) = start(dir).await;
    let mut users = Vec::new();
    for (i, name) in ["admin", "bea", "cai"].iter().enumerate() {
        let key = if i == 0 {
            h.admin(name).await
        } else {
            h.user(name, 1_000_000.0, i == 2).await
        };
        let (_, me) = h.get("/v2/find_user", Some(&key)).await;
        users.push((key, me["username"].as_str().unwrap().to_owned()));
    }
    h.app
        .run(|hd| {
            hd.operator_update(1, |u| u.kudos_details.admin = 1_000_000.0)?;
            hd.operator_update(1, |u| u.kudos = 1_000_000.0)
        })
        .await
        .unwrap();
    let mut shared = Vec::new();
    for (key, _) in &users {
        let (s, v) = h
            .put(
                "/v2/sharedkeys",
                Some(key),
                json!({"kudos": 40, "name": "budget"}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        shared.push(v["id"].as_str().unwrap().to_owned());
    }
    let workers = vec![
        h.user("wanda", 0.0, false).await,
        h.user("walt", 0.0, true).await,
    ];
    let mut world = World {
        h,
        store,
        users,
        shared,
        workers,
        requests: Vec::new(),
        jobs: Vec::new(),
    };
    // The horde as a caller sees it (on PostgreSQL memory is rebuilt after
    // a failed turn by the next call, before it reads anything).
    let seen = async |h: &TestHorde| h.app.read(|hd| hd.rows()).await.unwrap();
    for op in &ops {
        let before = ledger(seen(&world.h).await);
        let Some((status, body)) = world.apply(op).await else {
            continue;
        };
        if std::env::var("PROPS_DEBUG").is_ok() {
            eprintln!(
                "{op:?} -> {status} {}",
                body.to_string().chars().take(100).collect::<String>()
            );
        }
        assert!(status < 500 || status == 503, "{op:?}: {status} {body}");
        let rows = seen(&world.h).await;
        if status == 503 {
            assert_eq!(
                ledger(rows.clone()),
                before,
                "{op:?} was answered 503 but changed the ledger"
            );
        }
        let off = imbalance(&rows);
        assert!(
            off.abs() < 0.01,
            "after {op:?} ({status} {body}): kudos off by {off}"
        );
    }
    world.store.fail(false);
    let end = ledger(seen(&world.h).await);
    let dir = world.h.stop().await;
    let (h, _) = start(dir).await;
    let reloaded = ledger(h.app.horde.lock().rows());
    assert_eq!(
        reloaded.len(),
        end.len(),
        "records lost or invented across the restart"
    );
    for (a, b) in reloaded.iter().zip(&end) {
        assert_eq!(a, b, "a record differs after the restart");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn the_ledger_holds_under_random_operations_and_storage_failures(ops in proptest::collection::vec(op(), 1..40)) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(run(ops));
    }
}
