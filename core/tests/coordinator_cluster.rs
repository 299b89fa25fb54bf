//! Several coordinator processes on one PostgreSQL: three `horde serve`
//! processes share a database; ten requesters and ten workers, spread over
//! them, push 2,000 text jobs through; one process is killed with SIGKILL
//! midway and its clients move to another. Every job is done exactly once,
//! no result is lost, and kudos are conserved: what requesters paid equals
//! what workers earned plus the horde's tax.
//!
//! A second test changes one record from three processes at once (in
//! process, through the coordinator's own API): no change is lost.
//!
//! Always on PostgreSQL (`HORDE_TEST_DATABASE_URL`, or the throwaway cluster
//! of `scripts/pg-cluster`), whatever `HORDE_TEST_STORE` says.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail by panicking

mod common;

use common::process;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::{Connection, Row};

const NODES: usize = 3;
const REQUESTERS: usize = 10;
const WORKERS: usize = 10;
const JOBS_EACH: usize = 200;
const IN_FLIGHT: usize = 10;
const MODEL: &str = "koboldcpp/cluster-test-7B";
const START_KUDOS: f64 = 1_000_000.0;
/// A registered account's balance floor.
const FLOOR: f64 = horde_core::kudos::REGISTERED_FLOOR;
/// The horde's tax on a one-text request: the activation tax plus the job tax.
const TAX_PER_REQUEST: f64 =
    horde_core::kudos::TEXT_ACTIVATION_TAX + horde_core::kudos::TEXT_JOB_TAX;

/// The CLI arguments that select the shared store.
fn store(db: &str, dir: &Path) -> Vec<String> {
    ["--data-dir", dir.to_str().unwrap(), "--database", db]
        .map(String::from)
        .to_vec()
}

/// The nodes' API URLs and one HTTP client.
struct Cluster {
    apis: Vec<String>,
    http: reqwest::Client,
}

impl Cluster {
    /// Sends to node `home`, moving `home` to the next node whenever one
    /// cannot be reached (or answers 5xx), until some node answers.
    async fn send(
        &self,
        home: &mut usize,
        method: reqwest::Method,
        path: &str,
        key: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        for _ in 0..1000 {
            let mut req = self
                .http
                .request(method.clone(), format!("{}{path}", self.apis[*home]))
                .header("apikey", key)
                .timeout(Duration::from_secs(30));
            if let Some(body) = body {
                req = req.json(body);
            }
            if let Ok(res) = req.send().await {
                let status = res.status().as_u16();
                if let Ok(value) = res.json::<Value>().await
                    && status < 500
                {
                    return (status, value);
                }
            }
            *home = (*home + 1) % self.apis.len();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no node answered {path}");
    }
}

fn expected(prompt: &str) -> String {
    format!("echo:{prompt}")
}

/// Queues its share of jobs (a few in flight at a time) and waits for each
/// result; answers how many it saw done.
async fn requester(cluster: Arc<Cluster>, i: usize, key: String, done: Arc<AtomicUsize>) {
    let mut home = i % NODES;
    let mut pending: HashMap<String, String> = HashMap::new();
    let mut next = 0;
    let mut finished = 0;
    while finished < JOBS_EACH {
        while pending.len() < IN_FLIGHT && next < JOBS_EACH {
            let prompt = format!("r{i}-{next}");
            let body = json!({
                "prompt": prompt,
                "params": {"max_length": 16, "max_context_length": 1024},
                "models": [MODEL],
            });
            let (status, answer) = cluster
                .send(
                    &mut home,
                    reqwest::Method::POST,
                    "/v2/generate/text/async",
                    &key,
                    Some(&body),
                )
                .await;
            assert_eq!(status, 202, "{answer}");
            pending.insert(answer["id"].as_str().unwrap().to_owned(), prompt);
            next += 1;
        }
        let ids: Vec<String> = pending.keys().cloned().collect();
        for id in ids {
            let path = format!("/v2/generate/text/status/{id}");
            let (status, answer) = cluster
                .send(&mut home, reqwest::Method::GET, &path, &key, None)
                .await;
            assert_eq!(status, 200, "an acknowledged request was lost: {answer}");
            assert_eq!(answer["faulted"], false, "{answer}");
            if answer["done"] == true {
                let prompt = pending.remove(&id).unwrap();
                let generations = answer["generations"].as_array().unwrap();
                assert_eq!(generations.len(), 1, "{answer}");
                assert_eq!(generations[0]["text"], expected(&prompt), "{answer}");
                finished += 1;
                done.fetch_add(1, Ordering::Relaxed);
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Pops and answers jobs until told to stop.
async fn worker(cluster: Arc<Cluster>, j: usize, key: String, stop: Arc<AtomicBool>) {
    let mut home = j % NODES;
    let pop = json!({
        "name": format!("cluster-worker-{j}"),
        "models": [MODEL],
        "max_length": 512,
        "max_context_length": 2048,
    });
    while !stop.load(Ordering::Relaxed) {
        let (status, job) = cluster
            .send(
                &mut home,
                reqwest::Method::POST,
                "/v2/generate/text/pop",
                &key,
                Some(&pop),
            )
            .await;
        assert_eq!(status, 200, "{job}");
        let Some(id) = job["id"].as_str() else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let prompt = job["payload"]["prompt"].as_str().unwrap();
        let submit = json!({"id": id, "generation": expected(prompt)});
        let (status, answer) = cluster
            .send(
                &mut home,
                reqwest::Method::POST,
                "/v2/generate/text/submit",
                &key,
                Some(&submit),
            )
            .await;
        // A submit retried on another node after the first one committed is
        // refused as a duplicate; a job that outlived its ttl was requeued.
        assert!(status == 200 || status == 400 || status == 404, "{answer}");
    }
}

async fn kudos(cluster: &Cluster, key: &str) -> f64 {
    let mut home = 0;
    let (status, user) = cluster
        .send(&mut home, reqwest::Method::GET, "/v2/find_user", key, None)
        .await;
    assert_eq!(status, 200, "{user}");
    user["kudos"].as_f64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_on_one_database_lose_nothing_and_serve_nothing_twice() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let db = common::postgres::fresh_database();
    let dir = common::temp_dir("cluster");
    let config = dir.join("horde.toml");
    std::fs::write(
        &config,
        "max_job_ttl_secs = 10.0\nsweep_interval_secs = 1.0\n",
    )
    .unwrap();
    let requester_keys: Vec<String> = (0..REQUESTERS)
        .map(|i| process::add_user(&store(&db, &dir), &format!("requester{i}"), START_KUDOS))
        .collect();
    let worker_keys: Vec<String> = (0..WORKERS)
        // At the registered floor, so that every reward adds exactly (a
        // credit below the floor lifts the balance to it, as upstream).
        .map(|j| process::add_user(&store(&db, &dir), &format!("owner{j}"), FLOOR))
        .collect();
    let mut nodes: Vec<Option<process::Server>> = Vec::new();
    let mut apis = Vec::new();
    for _ in 0..NODES {
        let mut args = store(&db, &dir);
        args.extend(["--config".to_owned(), config.display().to_string()]);
        let (node, url) = process::serve(&args);
        nodes.push(Some(node));
        apis.push(url);
    }
    let cluster = Arc::new(Cluster {
        apis,
        http: reqwest::Client::new(),
    });

    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = worker_keys
        .iter()
        .enumerate()
        .map(|(j, key)| tokio::spawn(worker(cluster.clone(), j, key.clone(), stop.clone())))
        .collect();
    let requesters: Vec<_> = requester_keys
        .iter()
        .enumerate()
        .map(|(i, key)| tokio::spawn(requester(cluster.clone(), i, key.clone(), done.clone())))
        .collect();

    // Midway, one node dies without warning.
    while done.load(Ordering::Relaxed) < REQUESTERS * JOBS_EACH / 2
        && !requesters.iter().any(tokio::task::JoinHandle::is_finished)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut victim = nodes[1].take().unwrap();
    victim.kill(); // SIGKILL
    for r in requesters {
        r.await.unwrap();
    }
    assert_eq!(done.load(Ordering::Relaxed), REQUESTERS * JOBS_EACH);

    // Requests sent again after a lost answer, and jobs whose pop answer was
    // lost (requeued after their ttl), finish too.
    let mut home = 0;
    loop {
        let (_, perf) = cluster
            .send(
                &mut home,
                reqwest::Method::GET,
                "/v2/status/performance",
                &requester_keys[0],
                None,
            )
            .await;
        if perf["queued_text_requests"] == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }

    // Every request in the database, acknowledged or not, was done exactly
    // once, with its own result.
    let mut conn = sqlx::PgConnection::connect(&db).await.unwrap();
    let bodies: Vec<String> =
        sqlx::query("SELECT body FROM horde_records WHERE kind = 3 AND body IS NOT NULL")
            .fetch_all(&mut conn)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.get(0))
            .collect();
    assert!(
        bodies.len() >= REQUESTERS * JOBS_EACH,
        "{} requests",
        bodies.len()
    );
    let mut consumed = 0.0;
    for body in &bodies {
        let r: Value = serde_json::from_str(body).unwrap();
        let prompt = r["body"]["Text"]["prompt"].as_str().unwrap();
        let done: Vec<&Value> = r["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|j| j["state"] == "Done")
            .collect();
        assert_eq!(done.len(), 1, "done {} times: {r}", done.len());
        assert_eq!(done[0]["result"], expected(prompt), "{r}");
        consumed += r["consumed_kudos"].as_f64().unwrap();
    }

    // Kudos: requesters paid what workers earned plus the tax.
    let mut paid = 0.0;
    for key in &requester_keys {
        paid += START_KUDOS - kudos(&cluster, key).await;
    }
    let mut earned = 0.0;
    for key in &worker_keys {
        earned += kudos(&cluster, key).await - FLOOR;
    }
    let tax = TAX_PER_REQUEST * bodies.len() as f64;
    assert!(
        (paid - consumed).abs() < 0.01,
        "requesters paid {paid}, requests consumed {consumed}; workers earned {earned}; {} requests",
        bodies.len()
    );
    assert!(
        (paid - earned - tax).abs() < 0.01,
        "paid {paid} != earned {earned} + tax {tax} over {} requests",
        bodies.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_changes_to_one_record_from_three_processes_are_never_lost() {
    use horde_core::coordinator::config::Config;
    use horde_core::coordinator::horde::NewUser;
    use horde_core::coordinator::server::Coordinator;

    let db = common::postgres::fresh_database();
    let coordinators: Vec<Coordinator> = (0..NODES)
        .map(|i| {
            let config = Config {
                data_dir: common::temp_dir(&format!("turns{i}")),
                database: Some(db.clone()),
                ..Config::default()
            };
            Coordinator::open(config, "127.0.0.1:7001".parse().unwrap()).unwrap()
        })
        .collect();
    let apps: Vec<_> = coordinators.iter().map(Coordinator::app).collect();
    let (user, _) = apps[0]
        .run(|h| {
            h.create_user(NewUser {
                alias: "counter".into(),
                ..Default::default()
            })
        })
        .await
        .unwrap();
    let id = user.id;
    let tasks: Vec<_> = (0..30)
        .map(|t| {
            let app = apps[t % NODES].clone();
            tokio::spawn(async move {
                for _ in 0..50 {
                    app.run(move |h| h.operator_update(id, |u| u.kudos += 1.0))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    for app in &apps {
        let kudos = app
            .read(move |h| h.user_view(id, 2).unwrap().kudos)
            .await
            .unwrap();
        assert_eq!(kudos, 1500.0);
    }
}
