//! A coordinator a community can trust, tried as an attacker would: no
//! kudos minted by a worker's model name or an absurd number, shared keys
//! that hold their limit, a server that starts again whatever was stored,
//! and no way to starve it of connections. (What failing storage does is in
//! `coordinator_faults`.)

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail by panicking

mod common;

use common::{TestHorde, assert_error};
use horde_core::coordinator::store::{Change, Table};
use serde_json::{Value, json};

/// Pops a text job as `name` serving `models`; answers the job id.
async fn text_pop(h: &TestHorde, key: &str, name: &str, models: Value) -> String {
    let (s, v) = h
        .post(
            "/v2/generate/text/pop",
            Some(key),
            json!({"name": name, "models": models, "max_length": 512, "max_context_length": 2048,
                   "bridge_agent": "KoboldCppEmbedWorker:1:https://example.invalid"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    v["id"].as_str().expect("a job").to_owned()
}

/// Submits a text and answers the reward.
async fn text_submit(h: &TestHorde, key: &str, job: &str, text: &str) -> Value {
    let (s, v) = h
        .post(
            "/v2/generate/text/submit",
            Some(key),
            json!({"id": job, "generation": text, "state": "ok"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    v["reward"].clone()
}

#[tokio::test]
async fn a_worker_cannot_set_its_own_text_reward_by_naming_its_model() {
    let h = TestHorde::start().await;
    let requester = h.user("requester", 1000.0, false).await;
    let worker = h.user("worker", 0.0, true).await;
    let text = "x".repeat(400);
    let huge = format!("{}B", "9".repeat(254));
    for (name, model) in [
        ("boaster", "koboldcpp/Llama-100000B".to_owned()),
        ("infinite", huge),
    ] {
        let (s, v) = h
            .post(
                "/v2/generate/text/async",
                Some(&requester),
                json!({"prompt": "Once upon a time", "params": {"max_length": 512, "max_context_length": 2048}}),
            )
            .await;
        assert_eq!(s, 202, "{v}");
        let job = text_pop(&h, &worker, name, json!([model])).await;
        let reward = text_submit(&h, &worker, &job, &text).await;
        let reward = reward.as_f64().expect("a finite reward");
        // An unknown model is priced as upstream prices one: tokens · 0.027
        // · context factor for a trusted worker (100 tokens here).
        assert!(
            reward < 10.0,
            "{name}: a model name decided the reward: {reward}"
        );
    }
    let left = h.kudos(&requester).await;
    assert!(
        left > 950.0,
        "the requester was drained to {left} by a worker's model name"
    );
    // Every stored balance is a number, so the horde starts again.
    let dir = h.stop().await;
    let h = TestHorde::start_in(dir, |_| {}).await;
    assert!(h.kudos(&requester).await.is_finite());
    assert!(h.app.horde.lock().quarantined().is_empty());
}

#[tokio::test]
async fn known_models_are_priced_from_the_reference_not_the_name() {
    let h = TestHorde::start().await;
    let requester = h.user("requester", 1000.0, false).await;
    let worker = h.user("worker", 0.0, true).await;
    let text = "y".repeat(400);
    let mut rewards = Vec::new();
    for (name, model) in [
        ("small", "koboldcpp/Qwen2.5-0.5B-Instruct-Q4_K_M"),
        ("large", "koboldcpp/Meta-Llama-3-70B-Instruct-Q4_K_M"),
    ] {
        let (s, _) = h
            .post(
                "/v2/generate/text/async",
                Some(&requester),
                json!({"prompt": "p", "models": [model], "params": {"max_length": 512}}),
            )
            .await;
        assert_eq!(s, 202);
        let job = text_pop(&h, &worker, name, json!([model])).await;
        rewards.push(
            text_submit(&h, &worker, &job, &text)
                .await
                .as_f64()
                .unwrap(),
        );
    }
    assert!(
        rewards[1] > rewards[0] * 50.0,
        "70B must earn far more than 0.5B: {rewards:?}"
    );
}

#[tokio::test]
async fn non_finite_and_absurd_kudos_are_refused_and_change_nothing() {
    let h = TestHorde::start().await;
    let admin = h.admin("admin").await;
    let alice = h.user("alice", 100.0, false).await;
    let (_, me) = h.get("/v2/find_user", Some(&alice)).await;
    let id = me["id"].as_u64().unwrap();
    let path = format!("/v2/users/{id}");
    let (s, v) = h.put(&path, Some(&admin), json!({"kudos": 1e308})).await;
    assert_eq!(s, 400, "{v}");
    let (s, v) = h.put(&path, Some(&admin), json!({"kudos": 5e11})).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = h.put(&path, Some(&admin), json!({"kudos": 6e11})).await;
    assert_eq!(s, 400, "a sum past the bound: {v}");
    assert_eq!(h.kudos(&alice).await, 5e11 + 100.0);
    for kudos in [f64::INFINITY, f64::NAN, f64::NEG_INFINITY, 2e12] {
        let made = h
            .app
            .run(|hd| {
                hd.create_user(horde_core::coordinator::horde::NewUser {
                    alias: "bad".into(),
                    kudos,
                    ..Default::default()
                })
            })
            .await;
        assert!(made.is_err(), "a user with {kudos} kudos was created");
    }
    let dir = h.stop().await;
    let h = TestHorde::start_in(dir, |_| {}).await;
    assert_eq!(h.kudos(&alice).await, 5e11 + 100.0);
}

#[tokio::test]
async fn an_unreadable_record_is_quarantined_and_the_horde_still_starts() {
    let h = TestHorde::start().await;
    let alice = h.user("alice", 100.0, false).await;
    // A record this version cannot read (as a `null` balance once was).
    let bad = json!({"id": 7, "alias": "broken", "key_hash": "00", "kudos": null,
                     "concurrency": 30, "created": 0.0})
    .to_string();
    h.app
        .store
        .submit(vec![Change::Put {
            table: Table::Users,
            id: "7".into(),
            key_hash: Some("00".into()),
            body: bad,
        }])
        .durable()
        .await
        .unwrap();
    let dir = h.stop().await;
    let h = TestHorde::start_in(dir, |_| {}).await;
    {
        let horde = h.app.horde.lock();
        let quarantined = horde.quarantined();
        assert_eq!(quarantined.len(), 1);
        assert_eq!(
            (quarantined[0].table, quarantined[0].id.as_str()),
            (Table::Users, "7")
        );
    }
    assert_eq!(h.kudos(&alice).await, 100.0, "the rest is served");
    let bob = h.user("bob", 5.0, false).await;
    let (_, me) = h.get("/v2/find_user", Some(&bob)).await;
    assert!(
        me["id"].as_u64().unwrap() > 7,
        "a quarantined id is never handed out again: {me}"
    );
    // Still stored, for the operator to look at.
    let rows = h.app.store.load().unwrap();
    assert!(rows.iter().any(|r| r.table == Table::Users && r.id == "7"));
}

#[tokio::test]
async fn a_shared_key_never_admits_more_than_its_kudos() {
    let h = TestHorde::start().await;
    let owner = h.user("owner", 10_000.0, false).await;
    let (s, key) = h
        .put(
            "/v2/sharedkeys",
            Some(&owner),
            json!({"kudos": 30, "name": "game key"}),
        )
        .await;
    assert_eq!(s, 200, "{key}");
    let key = key["id"].as_str().unwrap().to_owned();
    let body =
        json!({"prompt": "a lighthouse", "params": {"width": 512, "height": 512, "steps": 30}});
    let mut dry = body.clone();
    dry["dry_run"] = json!(true);
    let (_, estimate) = h.post("/v2/generate/async", Some(&key), dry).await;
    let estimate = estimate["kudos"].as_f64().unwrap();
    assert!(estimate > 0.0 && estimate <= 30.0, "{estimate}");
    let mut admitted = 0;
    for _ in 0..8 {
        let (s, v) = h.post("/v2/generate/async", Some(&key), body.clone()).await;
        match s {
            202 => admitted += 1,
            _ => assert_error(&(s, v), 403, "SharedKeyInsufficientKudos"),
        }
    }
    assert!(
        f64::from(admitted) * estimate <= 30.0,
        "{admitted} requests of {estimate} admitted on a 30-kudos key"
    );
    assert_eq!(admitted, (30.0 / estimate).floor() as u32);
    // A key that holds exactly the estimate admits a request its dry run
    // said it could.
    let (_, exact) = h
        .put(
            "/v2/sharedkeys",
            Some(&owner),
            json!({"kudos": estimate as i64, "name": "exact"}),
        )
        .await;
    let exact = exact["id"].as_str().unwrap().to_owned();
    let (s, v) = h.post("/v2/generate/async", Some(&exact), body).await;
    assert_eq!(s, 202, "the dry run's estimate was refused: {v}");
}

/// Reads until the server closes the connection (or `limit` passes): the
/// bytes it sent, and whether it closed.
async fn until_closed(
    stream: &mut tokio::net::TcpStream,
    limit: std::time::Duration,
) -> (Vec<u8>, bool) {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return (got, false),
            Ok(Ok(0)) | Ok(Err(_)) => return (got, true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

fn addr_of(h: &TestHorde) -> String {
    h.api
        .trim_start_matches("http://")
        .trim_end_matches("/api")
        .to_owned()
}

#[tokio::test]
async fn idle_slow_and_half_sent_connections_are_closed() {
    use tokio::io::AsyncWriteExt;
    let h = TestHorde::start_with(|c| {
        c.connections.header_read_timeout_secs = 0.3;
        c.connections.body_timeout_secs = 0.3;
        c.connections.idle_timeout_secs = 0.3;
    })
    .await;
    let addr = addr_of(&h);
    let limit = std::time::Duration::from_secs(20);
    // Idle: connects and sends nothing.
    let mut idle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    // Slowloris: half a request line, then nothing more.
    let mut slowloris = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slowloris
        .write_all(b"GET /api/v2/status/heartbeat HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    // A body announced and never sent.
    let mut slow_body = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow_body
        .write_all(b"POST /api/v2/generate/async HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\napikey: 0000000000\r\n\r\n{\"prompt\": ")
        .await
        .unwrap();
    // A keep-alive connection that asked once, then went quiet.
    let mut kept = tokio::net::TcpStream::connect(&addr).await.unwrap();
    kept.write_all(b"GET /api/v2/status/heartbeat HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    for (name, stream) in [
        ("idle", &mut idle),
        ("slowloris", &mut slowloris),
        ("slow body", &mut slow_body),
        ("keep-alive", &mut kept),
    ] {
        let (bytes, closed) = until_closed(stream, limit).await;
        assert!(closed, "the {name} connection was left open");
        if name == "keep-alive" {
            assert!(
                bytes.starts_with(b"HTTP/1.1 200"),
                "{}",
                String::from_utf8_lossy(&bytes)
            );
        }
    }
    // New clients are answered all along.
    let (s, _) = h.get("/v2/status/heartbeat", None).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn connections_past_the_cap_are_closed_and_the_server_recovers() {
    use tokio::io::AsyncWriteExt;
    let h = TestHorde::start_with(|c| {
        c.connections.max_connections = 4;
        c.connections.idle_timeout_secs = 0.5;
        c.connections.header_read_timeout_secs = 0.5;
    })
    .await;
    let addr = addr_of(&h);
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    let mut extra = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let _ = extra
        .write_all(b"GET /api/v2/status/heartbeat HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let (bytes, closed) = until_closed(&mut extra, std::time::Duration::from_secs(20)).await;
    assert!(closed);
    // Either refused at once, or (had one of the four already been timed
    // out) answered: never left hanging.
    assert!(bytes.is_empty() || bytes.starts_with(b"HTTP/1.1 200"));
    // Once the idle ones time out, clients are served again.
    for stream in &mut held {
        let (_, closed) = until_closed(stream, std::time::Duration::from_secs(20)).await;
        assert!(closed, "an idle connection was kept past its timeout");
    }
    let (s, _) = h.get("/v2/status/heartbeat", None).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn every_error_is_json_and_unknown_paths_make_no_new_metrics() {
    let h = TestHorde::start_with(|c| c.max_body_bytes = 1024).await;
    let http = reqwest::Client::new();
    let base = h.api.trim_end_matches("/api").to_owned();
    let expect_json = |what: &str, status: u16, res: &reqwest::Response| {
        assert_eq!(res.status().as_u16(), status, "{what}");
        let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with("application/json"), "{what}: {ct}");
    };
    // A path that does not decode.
    let res = http
        .get(format!("{}/v2/generate/check/%FF%FE", h.api))
        .send()
        .await
        .unwrap();
    expect_json("undecodable id", 400, &res);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["message"].as_str().is_some() && body["rc"].as_str().is_some(),
        "{body}"
    );
    // A body over the limit.
    let res = http
        .post(format!("{}/v2/generate/async", h.api))
        .header("apikey", "0000000000")
        .header("content-type", "application/json")
        .body(vec![b' '; 4096])
        .send()
        .await
        .unwrap();
    expect_json("oversized body", 413, &res);
    let res = http
        .put(format!("{}/v2/blobs/abc.webp", h.api))
        .body(vec![0u8; 4096])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_client_error());
    expect_json("oversized blob", res.status().as_u16(), &res);
    // Unknown paths, quotes included, are one series; the text still parses.
    for i in 0..200 {
        let res = http
            .get(format!("{base}/no/such/path/{i}/{}", "x".repeat(64)))
            .send()
            .await
            .unwrap();
        expect_json("unknown path", 404, &res);
    }
    let _ = http.get(format!("{base}/a\"b")).send().await.unwrap();
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series = metrics
        .lines()
        .filter(|l| l.starts_with("horde_http_requests_total{"))
        .count();
    assert!(series < 12, "{series} series:\n{metrics}");
    assert!(!metrics.contains("no/such"), "{metrics}");
    for line in metrics.lines().filter(|l| !l.starts_with('#')) {
        let (_, value) = line.rsplit_once(' ').expect("name value");
        assert!(value.parse::<f64>().is_ok(), "{line}");
        assert_eq!(line.matches('"').count() % 2, 0, "{line}");
    }
    assert!(
        metrics.contains("route=\"/api/v2/generate/check/{id}\""),
        "{metrics}"
    );
}

/// A PNG header claiming `w`×`h` pixels (nothing after it).
fn forged_png(w: u32, h: u32) -> String {
    use base64::Engine;
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.extend(w.to_be_bytes());
    png.extend(h.to_be_bytes());
    png.extend([8, 6, 0, 0, 0, 0, 0, 0, 0]);
    base64::engine::general_purpose::STANDARD.encode(png)
}

#[tokio::test]
async fn forged_source_image_sizes_are_refused_not_wrapped() {
    let h = TestHorde::start().await;
    let alice = h.user("alice", 1000.0, false).await;
    for (w, h_) in [
        (328_192, 3_430_613_504),
        (4_000_000_000, 4_000_000_000),
        (8192, 8192),
    ] {
        let answer = h
            .post(
                "/v2/interrogate/async",
                Some(&alice),
                json!({"forms": [{"name": "RealESRGAN_x4plus"}], "source_image": forged_png(w, h_)}),
            )
            .await;
        assert_error(&answer, 400, "SourceImageResolutionExceeded");
    }
    assert_eq!(h.kudos(&alice).await, 1000.0);
    let (s, v) = h
        .post(
            "/v2/interrogate/async",
            Some(&alice),
            json!({"forms": [{"name": "RealESRGAN_x4plus"}], "source_image": forged_png(2048, 2048)}),
        )
        .await;
    assert_eq!(s, 202, "16 tiles are fine: {v}");
}

#[tokio::test]
async fn oversized_prompts_and_model_lists_are_refused() {
    let h = TestHorde::start().await;
    let alice = h.user("alice", 1000.0, false).await;
    let word = "a".repeat(10 * 1024 * 1024);
    let answer = h
        .post("/v2/generate/async", Some(&alice), json!({"prompt": word}))
        .await;
    assert_error(&answer, 400, "InvalidPromptSize");
    let answer = h
        .post(
            "/v2/generate/text/async",
            Some(&alice),
            json!({"prompt": "b".repeat(1024 * 1024), "params": {"max_context_length": 2048}}),
        )
        .await;
    assert_error(&answer, 400, "InvalidPromptSize");
    let (s, v) = h
        .post(
            "/v2/generate/text/async",
            Some(&alice),
            json!({"prompt": "c".repeat(20_000), "params": {"max_context_length": 2048}}),
        )
        .await;
    assert_eq!(s, 202, "a long history within the context is fine: {v}");
    let many: Vec<String> = (0..2000).map(|i| format!("model-{i}")).collect();
    let answer = h
        .post(
            "/v2/generate/text/async",
            Some(&alice),
            json!({"prompt": "p", "models": many}),
        )
        .await;
    assert_eq!(answer.0, 400, "{}", answer.1);
    let worker = h.user("worker", 0.0, true).await;
    let many: Vec<String> = (0..200_000).map(|i| format!("model-{i}")).collect();
    let answer = h
        .post(
            "/v2/generate/text/pop",
            Some(&worker),
            json!({"name": "hoarder", "models": many}),
        )
        .await;
    assert_eq!(answer.0, 400, "{}", answer.1);
    let (_, workers) = h.get("/v2/workers", None).await;
    assert_eq!(
        workers.as_array().unwrap().len(),
        0,
        "the refused pop registered a worker"
    );
}

#[tokio::test]
async fn status_counts_follow_the_live_queue_across_finished_history() {
    let h = TestHorde::start_with(|c| c.default_concurrency = 100).await;
    let alice = h.user("alice", 10_000.0, false).await;
    let worker = h.user("worker", 0.0, true).await;
    for i in 0..30 {
        h.image(&alice, json!({"prompt": format!("p{i}")})).await;
    }
    for _ in 0..25 {
        let pop = h.pop(&worker, "painter", json!({})).await;
        let (s, v) = h
            .post(
                "/v2/generate/submit",
                Some(&worker),
                json!({"id": pop["id"], "generation": "R2", "seed": 1, "state": "ok"}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
    }
    let queued = |v: &Value| v["queued_requests"].as_u64();
    let (_, p) = h.get("/v2/status/performance", None).await;
    assert_eq!(queued(&p), Some(5), "{p}");
    let (_, beat) = h.get("/v2/status/heartbeat", None).await;
    assert_eq!(beat["queue"], 5, "{beat}");
    let dir = h.stop().await;
    let h = TestHorde::start_in(dir, |_| {}).await;
    let (_, p) = h.get("/v2/status/performance", None).await;
    assert_eq!(queued(&p), Some(5), "after a restart: {p}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_added_while_the_server_runs_are_distinct_and_visible_at_once() {
    let dir = common::temp_dir("cli-users");
    let store = common::postgres::store_args(&dir);
    let (_server, api) = common::process::serve(&store);
    let adders: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            std::thread::spawn(move || {
                common::process::add_user(&store, &format!("member{i}"), 100.0)
            })
        })
        .collect();
    let keys: Vec<String> = adders.into_iter().map(|t| t.join().unwrap()).collect();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    // Visible by id before any request of theirs, and each its own account.
    let mut ids = std::collections::BTreeSet::new();
    let rows = {
        let mut rows = Vec::new();
        for id in 1..=8 {
            let res = http
                .get(format!("{api}/v2/users/{id}"))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200, "user {id} is invisible");
            let v: Value = res.json().await.unwrap();
            ids.insert(v["id"].as_u64().unwrap());
            rows.push(v["username"].as_str().unwrap().to_owned());
        }
        rows
    };
    assert_eq!(ids.len(), 8);
    let names: std::collections::BTreeSet<_> = rows
        .iter()
        .map(|n| n.split('#').next().unwrap().to_owned())
        .collect();
    assert_eq!(names.len(), 8, "ids were reused: {rows:?}");
    // A transfer to a member who never made a request arrives (ids were
    // handed out in whatever order the adders ran).
    let me: Value = http
        .get(format!("{api}/v2/find_user"))
        .header("apikey", &keys[0])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let other = rows.iter().find(|n| **n != me["username"]).unwrap().clone();
    let res = http
        .post(format!("{api}/v2/kudos/transfer"))
        .header("apikey", &keys[0])
        .json(&json!({"username": other, "amount": 10}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    // Every key works.
    for key in &keys {
        let res = http
            .get(format!("{api}/v2/find_user"))
            .header("apikey", key)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
}

#[tokio::test]
async fn censored_results_mint_nothing_for_a_member_serving_itself() {
    let h = TestHorde::start().await;
    let mallory = h.user("mallory", 500.0, true).await;
    let before = h.kudos(&mallory).await;
    for (i, extra) in [
        json!({"state": "censored"}),
        json!({"state": "csam"}),
        json!({"state": "ok", "censored": true}),
        json!({"state": "ok", "gen_metadata": [{"type": "censorship", "value": "csam"}]}),
    ]
    .into_iter()
    .enumerate()
    {
        h.image(&mallory, json!({"prompt": format!("p{i}")})).await;
        let pop = h.pop(&mallory, "self-server", json!({})).await;
        let mut body = json!({"id": pop["id"], "generation": "R2", "seed": 1});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (s, v) = h.post("/v2/generate/submit", Some(&mallory), body).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["reward"], 0.0, "a censored result was paid: {v}");
    }
    for state in ["censored", "csam"] {
        let (s, _) = h
            .post(
                "/v2/generate/text/async",
                Some(&mallory),
                json!({"prompt": "p", "params": {"max_length": 512}}),
            )
            .await;
        assert_eq!(s, 202);
        let job = text_pop(
            &h,
            &mallory,
            "self-scribe",
            json!(["koboldcpp/Meta-Llama-3-70B-Instruct"]),
        )
        .await;
        let (s, v) = h
            .post(
                "/v2/generate/text/submit",
                Some(&mallory),
                json!({"id": job, "generation": "z".repeat(2000), "state": state}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["reward"], 0.0);
    }
    let after = h.kudos(&mallory).await;
    assert!(
        after <= before,
        "{before} → {after}: kudos minted from censored results"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_never_read_inline_results_cannot_pile_them_up() {
    use tokio::io::AsyncWriteExt;
    let h = TestHorde::start_with(|c| {
        c.max_body_bytes = 40 * 1024 * 1024;
        c.connections.max_inline_answers = 2;
        c.connections.idle_timeout_secs = 2.0;
    })
    .await;
    let alice = h.user("alice", 1000.0, false).await;
    let worker = h.user("worker", 0.0, true).await;
    let id = h.image(&alice, json!({"prompt": "big", "r2": false})).await;
    let pop = h.pop(&worker, "painter", json!({})).await;
    // 16 MB of result: more than loopback's socket buffers hold.
    let big: Vec<u8> = (0..16 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    assert_eq!(
        h.put_bytes(pop["r2_uploads"][0].as_str().unwrap(), big)
            .await,
        200
    );
    let (s, v) = h
        .post(
            "/v2/generate/submit",
            Some(&worker),
            json!({"id": pop["id"], "generation": "R2", "seed": 1}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let addr = addr_of(&h);
    let mut stalled = Vec::new();
    for _ in 0..6 {
        let mut c = tokio::net::TcpStream::connect(&addr).await.unwrap();
        c.write_all(
            format!("GET /api/v2/generate/status/{id} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        stalled.push(c); // never read
    }
    let (s, v) = h.get(&format!("/v2/generate/status/{id}"), None).await;
    assert!(
        s == 503 && v["rc"] == "TooManyInlineAnswers" || s == 200,
        "{s} {}",
        v.to_string().chars().take(200).collect::<String>()
    );
    // Once the stalled connections time out, results flow again.
    let mut served = false;
    for _ in 0..40 {
        let (s, v) = h.get(&format!("/v2/generate/status/{id}"), None).await;
        if s == 200 {
            assert!(v["generations"][0]["img"].as_str().unwrap().len() > 20_000_000);
            served = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert!(served, "the inline answers stayed blocked");
    drop(stalled);
}

#[tokio::test]
async fn a_client_dripping_its_headers_is_cut_off_at_the_header_deadline() {
    use tokio::io::AsyncWriteExt;
    let h = TestHorde::start_with(|c| {
        c.connections.header_read_timeout_secs = 0.5;
        c.connections.idle_timeout_secs = 60.0;
    })
    .await;
    let mut drip = tokio::net::TcpStream::connect(addr_of(&h)).await.unwrap();
    drip.write_all(b"GET /api/v2/status/heartbeat HTTP/1.1\r\n")
        .await
        .unwrap();
    let mut closed = false;
    // One header byte every 50 ms keeps it active, never idle; at most 20 s.
    for _ in 0..400 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        if drip.write_all(b"X").await.is_err() {
            closed = true;
            break;
        }
        let (_, gone) = until_closed(&mut drip, std::time::Duration::from_millis(1)).await;
        if gone {
            closed = true;
            break;
        }
    }
    assert!(
        closed,
        "a dripping client held its connection past the header deadline"
    );
    let (s, _) = h.get("/v2/status/heartbeat", None).await;
    assert_eq!(s, 200);
}

#[test]
fn the_cli_refuses_non_finite_starting_kudos() {
    let dir = common::temp_dir("cli-kudos");
    let store = common::postgres::store_args(&dir);
    for kudos in ["inf", "NaN", "-inf", "1e308"] {
        let out = std::process::Command::new(common::process::EXE)
            .args(&store)
            .args(["user", "add", "greedy", "--kudos", kudos])
            .output()
            .unwrap();
        assert!(
            !out.status.success(),
            "`horde user add --kudos {kudos}` succeeded"
        );
        assert!(!String::from_utf8_lossy(&out.stderr).is_empty());
    }
    // Nothing was stored: the next user is the first.
    let key = common::process::add_user(&store, "modest", 10.0);
    assert!(!key.is_empty());
    let out = std::process::Command::new(common::process::EXE)
        .args(&store)
        .args(["user", "list"])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(!listed.contains("greedy"), "{listed}");
    let _ = std::fs::remove_dir_all(dir);
}
