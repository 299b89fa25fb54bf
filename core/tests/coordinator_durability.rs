//! Durability: the `horde serve` process is killed with SIGKILL in the middle
//! of a load of requests, submits and transfers, and restarted on the same
//! data directory. Everything it acknowledged is still there, and kudos moved
//! by transfers are conserved.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail by panicking

mod common;

use common::process;

use std::path::Path;
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::Mutex;

fn add_user(dir: &Path, name: &str, kudos: u32) -> String {
    process::add_user(&common::postgres::store_args(dir), name, f64::from(kudos))
}

fn serve(dir: &Path) -> (process::Server, String) {
    process::serve(&common::postgres::store_args(dir))
}

#[derive(Default)]
struct Acked {
    requests: Vec<String>,
    submitted: Vec<(String, String)>,
    transfers: u32,
}

async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    key: &str,
    body: Value,
) -> Option<(u16, Value)> {
    let res = client
        .request(method, url)
        .header("apikey", key)
        .json(&body)
        .send()
        .await
        .ok()?;
    let status = res.status().as_u16();
    Some((status, res.json().await.ok()?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_work_survives_sigkill() {
    let dir = common::temp_dir("kill9");
    // Each load task requests with its own account and works with it, so its
    // worker takes its own requests first.
    let players: Vec<String> = (0..3)
        .map(|t| add_user(&dir, &format!("player{t}"), 100_000))
        .collect();
    let alice = add_user(&dir, "alice", 1_000_000);
    // At the registered floor: every transfer to bob adds exactly.
    let bob = add_user(&dir, "bob", 25);
    let (mut child, api) = serve(&dir);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let acked = Arc::new(Mutex::new(Acked::default()));

    let mut tasks = Vec::new();
    for (t, player) in players.iter().enumerate() {
        let (client, api, acked) = (client.clone(), api.clone(), acked.clone());
        let (requester, worker) = (player.clone(), player.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..10_000 {
                let Some((202, v)) = call(
                    &client,
                    reqwest::Method::POST,
                    format!("{api}/v2/generate/async"),
                    &requester,
                    json!({"prompt": format!("p{t}"), "nsfw": false}),
                )
                .await
                else {
                    break;
                };
                let rid = v["id"].as_str().unwrap().to_owned();
                acked.lock().await.requests.push(rid.clone());
                let Some((200, pop)) = call(
                    &client,
                    reqwest::Method::POST,
                    format!("{api}/v2/generate/pop"),
                    &worker,
                    json!({"name": format!("w{t}"), "models": ["stable_diffusion"], "nsfw": false}),
                )
                .await
                else {
                    break;
                };
                let Some(job) = pop["id"].as_str() else {
                    continue;
                };
                assert_eq!(pop["payload"]["prompt"], format!("p{t}"));
                let Some((200, _)) = call(
                    &client,
                    reqwest::Method::POST,
                    format!("{api}/v2/generate/submit"),
                    &worker,
                    json!({"id": job, "generation": "R2", "seed": 1}),
                )
                .await
                else {
                    break;
                };
                let job = job.to_owned();
                acked.lock().await.submitted.push((rid, job));
            }
        }));
    }
    {
        let (client, api, acked) = (client.clone(), api.clone(), acked.clone());
        let alice = alice.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..100_000 {
                let Some((200, _)) = call(
                    &client,
                    reqwest::Method::POST,
                    format!("{api}/v2/kudos/transfer"),
                    &alice,
                    json!({"username": "bob#5", "amount": 1}),
                )
                .await
                else {
                    break;
                };
                acked.lock().await.transfers += 1;
            }
        }));
    }
    // Let the load build up, then kill the server without warning.
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let a = acked.lock().await;
        if a.submitted.len() >= 30 && a.transfers >= 30 {
            break;
        }
    }
    child.kill();
    for t in tasks {
        t.await.unwrap();
    }
    let acked = acked.lock().await;

    let (mut child, api) = serve(&dir);
    for rid in &acked.requests {
        let (s, v) = call(
            &client,
            reqwest::Method::GET,
            format!("{api}/v2/generate/check/{rid}"),
            &alice,
            json!({}),
        )
        .await
        .unwrap();
        assert_eq!(s, 200, "acknowledged request {rid} lost: {v}");
    }
    for (rid, job) in &acked.submitted {
        let (_, status) = call(
            &client,
            reqwest::Method::GET,
            format!("{api}/v2/generate/status/{rid}"),
            &alice,
            json!({}),
        )
        .await
        .unwrap();
        let found = status["generations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["id"] == job.as_str());
        assert!(found, "acknowledged result {job} lost: {status}");
    }
    let balance = |key: String| {
        let (client, api) = (client.clone(), api.clone());
        async move {
            call(
                &client,
                reqwest::Method::GET,
                format!("{api}/v2/find_user"),
                &key,
                json!({}),
            )
            .await
            .unwrap()
            .1["kudos"]
                .as_f64()
                .unwrap()
        }
    };
    let (a, b) = (balance(alice).await, balance(bob).await);
    assert_eq!(a + b, 1_000_025.0, "transfers conserve kudos");
    let b = b - 25.0;
    assert!(
        b >= f64::from(acked.transfers),
        "acknowledged transfers lost: {b} < {}",
        acked.transfers
    );
    assert!(
        b <= f64::from(acked.transfers) + 1.0,
        "at most the one unacknowledged transfer in flight landed"
    );
    child.kill();
    let _ = std::fs::remove_dir_all(&dir);
}
