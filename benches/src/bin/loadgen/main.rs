//! The load generator behind the README's performance table: starts a real
//! `horde serve` (release build) on loopback and drives it over HTTP.
//!
//! ```text
//! cargo build --release -p horde_core --features cli
//! cargo run --release -p horde_benches --bin loadgen -- --horde target/release/horde
//! ```
//!
//! Scenarios: `check` (GET /generate/check at concurrency 8), `cycle` (async →
//! pop → upload → submit → status at concurrency 4), `empty-pop` (pops on an
//! empty queue at concurrency 8), `rss` (resident memory with 100,000 queued
//! requests), `worker` (our worker's cost per job, inference excluded),
//! `cluster` (the image cycle at concurrency 6 over 1, 2 and 3 `horde serve`
//! processes sharing the PostgreSQL at `--database URL`; each client sticks
//! to one node). `--seconds N` sets each timed scenario's length.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod worker;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use horde_benches::{Server, percentiles};
use serde_json::{Value, json};

const WEBP: &[u8] = b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00\x2f\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00";

struct Args {
    horde: PathBuf,
    database: Option<String>,
    scenarios: Vec<String>,
    seconds: u64,
}

fn args() -> Args {
    let mut out = Args {
        horde: PathBuf::from("target/release/horde"),
        database: None,
        scenarios: Vec::new(),
        seconds: 10,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--horde" => out.horde = it.next().map(PathBuf::from).expect("--horde PATH"),
            "--database" => out.database = it.next(),
            "--scenario" => out.scenarios.push(it.next().expect("--scenario NAME")),
            "--seconds" => {
                out.seconds = it.next().and_then(|s| s.parse().ok()).expect("--seconds N")
            }
            other => panic!("unknown argument {other}"),
        }
    }
    if out.scenarios.is_empty() {
        out.scenarios = ["check", "cycle", "empty-pop", "rss", "worker"]
            .map(String::from)
            .to_vec();
    }
    out
}

async fn post(c: &reqwest::Client, url: String, key: &str, body: &Value) -> Value {
    let res = c
        .post(url)
        .header("apikey", key)
        .json(body)
        .send()
        .await
        .expect("post");
    let status = res.status();
    let v: Value = res.json().await.expect("json");
    assert!(status.is_success(), "{status}: {v}");
    v
}

/// Runs `tasks` copies of `step` for `seconds`; answers operations per
/// second and the per-operation latencies.
async fn timed<F, Fut>(tasks: usize, seconds: u64, step: F) -> (f64, Vec<Duration>)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let step = Arc::new(step);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let mut handles = Vec::new();
    for t in 0..tasks {
        let step = step.clone();
        handles.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while Instant::now() < deadline {
                let s = Instant::now();
                step(t).await;
                lat.push(s.elapsed());
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.expect("task"));
    }
    (all.len() as f64 / start.elapsed().as_secs_f64(), all)
}

fn report(name: &str, rate: f64, unit: &str, lat: Vec<Duration>) {
    let (p50, p99) = percentiles(lat);
    println!(
        "| {name} | {rate:.0} {unit}/s | p50 {:.3} ms | p99 {:.3} ms |",
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3
    );
}

/// One keep-alive HTTP/1.1 connection, as lean as the server allows.
struct Conn {
    send: hyper::client::conn::http1::SendRequest<http_body_util::Full<bytes::Bytes>>,
    authority: String,
}

impl Conn {
    async fn open(api: &str) -> Conn {
        let authority = api
            .trim_start_matches("http://")
            .split('/')
            .next()
            .expect("host")
            .to_owned();
        let stream = tokio::net::TcpStream::connect(&authority)
            .await
            .expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        let (send, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .expect("handshake");
        tokio::spawn(conn);
        Conn { send, authority }
    }

    async fn request(
        &mut self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: bytes::Bytes,
    ) -> (u16, bytes::Bytes) {
        use http_body_util::BodyExt;
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.authority)
            .header("content-type", "application/json");
        if let Some(k) = key {
            req = req.header("apikey", k);
        }
        let res = self
            .send
            .send_request(req.body(http_body_util::Full::new(body)).expect("request"))
            .await
            .expect("send");
        let status = res.status().as_u16();
        (
            status,
            res.into_body().collect().await.expect("body").to_bytes(),
        )
    }
}

/// Runs `tasks` connections, each repeating `step` for `seconds`.
async fn timed_conns<F>(api: &str, tasks: usize, seconds: u64, step: F) -> (f64, Vec<Duration>)
where
    F: for<'a> Fn(
            usize,
            &'a mut Conn,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>>
        + Send
        + Sync
        + 'static,
{
    let step = Arc::new(step);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let mut handles = Vec::new();
    for t in 0..tasks {
        let step = step.clone();
        let mut conn = Conn::open(api).await;
        handles.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while Instant::now() < deadline {
                let s = Instant::now();
                step(t, &mut conn).await;
                lat.push(s.elapsed());
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.expect("task"));
    }
    (all.len() as f64 / start.elapsed().as_secs_f64(), all)
}

async fn check(a: &Args) {
    let (server, keys) = Server::start(&a.horde, &[("requester", 1e6, 1000)]).expect("server");
    let c = reqwest::Client::new();
    let v = post(
        &c,
        format!("{}/v2/generate/async", server.api),
        &keys[0],
        &json!({"prompt": "watched"}),
    )
    .await;
    let path: &'static str = Box::leak(
        format!("/api/v2/generate/check/{}", v["id"].as_str().expect("id")).into_boxed_str(),
    );
    let (rate, lat) = timed_conns(&server.api, 8, a.seconds, move |_, conn| {
        Box::pin(async move {
            let (status, _) = conn.request("GET", path, None, bytes::Bytes::new()).await;
            assert_eq!(status, 200);
        })
    })
    .await;
    report("check, concurrency 8", rate, "req", lat);
}

async fn cycle(a: &Args) {
    let users: Vec<(String, f64, u32)> = (0..4)
        .map(|i| (format!("player{i}"), 1e9, 100_000))
        .collect();
    let refs: Vec<(&str, f64, u32)> = users.iter().map(|(n, k, c)| (n.as_str(), *k, *c)).collect();
    let (server, keys) = Server::start(&a.horde, &refs).expect("server");
    let (rate, lat) = image_cycles(vec![server.api.clone()], keys, 4, a.seconds).await;
    report(
        "full image cycle (async → pop → upload → submit → status), concurrency 4",
        rate,
        "cycles",
        lat,
    );
}

/// The image cycle on 1, 2 and 3 nodes sharing one PostgreSQL database.
async fn cluster(a: &Args) {
    let db = a
        .database
        .as_deref()
        .expect("the cluster scenario needs --database postgres://…");
    for nodes in 1..=3 {
        let users: Vec<(String, f64, u32)> = (0..6)
            .map(|i| (format!("player{i}-{nodes}"), 1e9, 100_000))
            .collect();
        let refs: Vec<(&str, f64, u32)> =
            users.iter().map(|(n, k, c)| (n.as_str(), *k, *c)).collect();
        let (servers, keys) =
            Server::start_many(&a.horde, Some(db), &refs, nodes).expect("servers");
        let apis = servers.iter().map(|s| s.api.clone()).collect();
        let (rate, lat) = image_cycles(apis, keys, 6, a.seconds).await;
        report(
            &format!("image cycle on {nodes} node(s), one PostgreSQL, concurrency 6"),
            rate,
            "cycles",
            lat,
        );
    }
}

/// Runs the full image cycle (async → pop → upload → submit → status) with
/// `tasks` clients, client `t` on node `t % apis.len()`.
async fn image_cycles(
    apis: Vec<String>,
    keys: Vec<String>,
    tasks: usize,
    seconds: u64,
) -> (f64, Vec<Duration>) {
    let c = reqwest::Client::new();
    let (apis, keys) = (Arc::new(apis), Arc::new(keys));
    timed(tasks, seconds, move |t| {
        let (c, apis, keys) = (c.clone(), apis.clone(), keys.clone());
        async move {
            let api = &apis[t % apis.len()];
            let key = &keys[t % keys.len()];
            let req = post(
                &c,
                format!("{api}/v2/generate/async"),
                key,
                &json!({"prompt": "p", "nsfw": false}),
            )
            .await;
            let pop = post(
                &c,
                format!("{api}/v2/generate/pop"),
                key,
                &json!({"name": format!("w{t}-{}", &key[..6]), "models": ["stable_diffusion"], "nsfw": false}),
            )
            .await;
            let job = pop["id"].as_str().expect("a job");
            let upload = pop["r2_upload"].as_str().expect("upload url");
            assert!(
                c.put(upload)
                    .body(WEBP)
                    .send()
                    .await
                    .expect("put")
                    .status()
                    .is_success()
            );
            post(
                &c,
                format!("{api}/v2/generate/submit"),
                key,
                &json!({"id": job, "generation": "R2", "seed": 1}),
            )
            .await;
            let status = c
                .get(format!(
                    "{api}/v2/generate/status/{}",
                    req["id"].as_str().expect("id")
                ))
                .send()
                .await
                .expect("status");
            assert!(status.status().is_success());
            status.bytes().await.expect("body");
        }
    })
    .await
}

async fn empty_pop(a: &Args) {
    let (server, keys) = Server::start(&a.horde, &[("owner", 0.0, 10)]).expect("server");
    let key: &'static str = Box::leak(keys[0].clone().into_boxed_str());
    let bodies: Arc<Vec<bytes::Bytes>> = Arc::new(
        (0..8)
            .map(|t| {
                bytes::Bytes::from(
                    json!({"name": format!("idle{t}"), "models": ["stable_diffusion"]}).to_string(),
                )
            })
            .collect(),
    );
    let (rate, lat) = timed_conns(&server.api, 8, a.seconds, move |t, conn| {
        let body = bodies[t].clone();
        Box::pin(async move {
            let (status, res) = conn
                .request("POST", "/api/v2/generate/pop", Some(key), body)
                .await;
            assert_eq!(status, 200);
            let v: Value = serde_json::from_slice(&res).expect("json");
            assert!(v["id"].is_null(), "the queue is empty: {v}");
        })
    })
    .await;
    report("empty pop, concurrency 8", rate, "req", lat);
}

async fn rss(_: &Args) {
    const QUEUED: usize = 100_000;
    let (server, keys) =
        Server::start(&a_horde(), &[("requester", 1e12, 10_000_000)]).expect("server");
    let before = server.rss_bytes().unwrap_or(0);
    let c = reqwest::Client::new();
    let start = Instant::now();
    let per_task = QUEUED / 8;
    let mut handles = Vec::new();
    for _ in 0..8 {
        let (c, api, key) = (c.clone(), server.api.clone(), keys[0].clone());
        handles.push(tokio::spawn(async move {
            for _ in 0..per_task {
                post(
                    &c,
                    format!("{api}/v2/generate/async"),
                    &key,
                    &json!({"prompt": "a queued request", "params": {"steps": 20}}),
                )
                .await;
            }
        }));
    }
    for h in handles {
        h.await.expect("task");
    }
    let took = start.elapsed();
    let after = server.rss_bytes().unwrap_or(0);
    println!(
        "| RSS with {QUEUED} queued requests | {:.0} MB (at start {:.0} MB) | enqueued in {:.1} s ({:.0} req/s) |",
        after as f64 / 1e6,
        before as f64 / 1e6,
        took.as_secs_f64(),
        QUEUED as f64 / took.as_secs_f64()
    );
}

fn a_horde() -> PathBuf {
    args().horde
}

fn main() {
    // The TLS provider reqwest needs when the workspace builds it without one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let a = args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    println!("| scenario | throughput | latency | |\n|---|---|---|---|");
    for s in &a.scenarios {
        rt.block_on(async {
            match s.as_str() {
                "check" => check(&a).await,
                "cycle" => cycle(&a).await,
                "empty-pop" => empty_pop(&a).await,
                "rss" => rss(&a).await,
                "worker" => worker::worker(&a.horde, 1000).await,
                "cluster" => cluster(&a).await,
                other => panic!("unknown scenario {other}"),
            }
        });
    }
}
