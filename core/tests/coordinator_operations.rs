//! Operations over real HTTP: rate limits, the prompt filter, body limits,
//! malformed input on every endpoint, horde modes, status and statistics,
//! metrics and response headers, and users added by the CLI while serving.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail by panicking

mod common;

use common::{TestHorde, assert_error};
use serde_json::json;

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after() {
    let h = TestHorde::start_with(|c| c.rate_limits.enabled = true).await;
    let key = h.user("u", 100.0, false).await;
    let id = h.image(&key, json!({"prompt": "p"})).await;
    let client = reqwest::Client::new();
    let mut refused = 0;
    // Image status allows 10 calls per minute per IP and request: of 21 calls
    // at most two windows see 10 each, so at least one is refused.
    for _ in 0..21 {
        let res = client
            .get(format!("{}/v2/generate/status/{id}", h.api))
            .send()
            .await
            .unwrap();
        if res.status() == 429 {
            refused += 1;
            assert!(res.headers().get("retry-after").is_some());
            let body: serde_json::Value = res.json().await.unwrap();
            assert_eq!(body["message"], "10 per 60 seconds");
            assert!(body["rc"].is_string());
        } else {
            assert_eq!(res.status(), 200);
        }
    }
    assert!(refused >= 1);
    assert_eq!(
        h.get("/v2/status/heartbeat", None).await.0,
        200,
        "heartbeat is exempt"
    );
}

#[tokio::test]
async fn the_prompt_filter_refuses_matching_prompts() {
    let h =
        TestHorde::start_with(|c| c.prompt_filter = vec![r"\bforbidden\s+thing\b".into()]).await;
    let key = h.user("u", 100.0, false).await;
    assert_error(
        &h.post(
            "/v2/generate/async",
            Some(&key),
            json!({"prompt": "a FORBIDDEN  thing"}),
        )
        .await,
        400,
        "CorruptPrompt",
    );
    assert_error(
        &h.post(
            "/v2/generate/text/async",
            Some(&key),
            json!({"prompt": "forbidden thing"}),
        )
        .await,
        400,
        "CorruptPrompt",
    );
    assert_eq!(h.kudos(&key).await, 100.0);
    let (s, _) = h
        .post(
            "/v2/generate/async",
            Some(&key),
            json!({"prompt": "an allowed thing"}),
        )
        .await;
    assert_eq!(s, 202);
}

#[tokio::test]
async fn oversize_and_malformed_bodies_get_clear_4xx_answers() {
    let h = TestHorde::start_with(|c| c.max_body_bytes = 4096).await;
    let key = h.user("u", 100.0, false).await;
    let owner = h.user("o", 0.0, false).await;
    let client = reqwest::Client::new();
    let big = json!({"prompt": "x".repeat(10_000)});
    let res = client
        .post(format!("{}/v2/generate/async", h.api))
        .header("apikey", &key)
        .json(&big)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    let body: serde_json::Value = res.json().await.unwrap();
    assert!(body["message"].is_string() && body["rc"].is_string());
    for (path, k) in [
        ("/v2/generate/async", &key),
        ("/v2/generate/text/async", &key),
        ("/v2/generate/pop", &owner),
        ("/v2/generate/submit", &owner),
        ("/v2/generate/text/pop", &owner),
        ("/v2/generate/text/submit", &owner),
        ("/v2/interrogate/async", &key),
        ("/v2/interrogate/pop", &owner),
        ("/v2/interrogate/submit", &owner),
        ("/v2/kudos/transfer", &key),
    ] {
        for raw in [
            "{not json",
            "[]",
            "null",
            "",
            "{\"prompt\": \"a\\u0000b\", \"name\": \"x\"}",
            "\"string\"",
        ] {
            let res = client
                .post(format!("{}{path}", h.api))
                .header("apikey", k.as_str())
                .header("content-type", "application/json")
                .body(raw)
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let body: serde_json::Value = res.json().await.unwrap();
            assert!(
                (400..500).contains(&status),
                "{path} {raw:?}: {status} {body}"
            );
            assert!(
                body["rc"].is_string() && body["message"].is_string(),
                "{path} {raw:?}: {body}"
            );
        }
    }
    assert_eq!(h.kudos(&key).await, 100.0, "nothing was charged");
    assert_error(
        &h.get("/v2/users?sort=backwards&page=-1", None).await,
        400,
        "BadRequest",
    );
    let res = client
        .get(format!("{}/v2/find_user", h.api))
        .header("apikey", vec![0xff_u8, 0xfe])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn maintenance_mode_refuses_new_requests_only() {
    let h = TestHorde::start().await;
    let admin = h.admin("root").await;
    let user = h.user("u", 100.0, false).await;
    let owner = h.user("o", 0.0, false).await;
    let id = h.image(&user, json!({"prompt": "before"})).await;
    assert_error(
        &h.put(
            "/v2/status/modes",
            Some(&user),
            json!({"maintenance_mode": true}),
        )
        .await,
        403,
        "NotAdmin",
    );
    assert_error(
        &h.put("/v2/status/modes", Some(&admin), json!({})).await,
        400,
        "NoHordeModSelected",
    );
    let (s, v) = h
        .put(
            "/v2/status/modes",
            Some(&admin),
            json!({"maintenance_mode": true}),
        )
        .await;
    assert_eq!((s, v["maintenance_mode"].as_bool()), (200, Some(true)));
    assert_eq!(
        h.get("/v2/status/modes", None).await.1["maintenance_mode"],
        true
    );
    assert_error(
        &h.post(
            "/v2/generate/async",
            Some(&user),
            json!({"prompt": "during"}),
        )
        .await,
        400,
        "MaintenanceMode",
    );
    let pop = h.pop(&owner, "w", json!({})).await;
    assert_eq!(pop["payload"]["prompt"], "before", "the queue still drains");
    h.put(
        "/v2/status/modes",
        Some(&admin),
        json!({"maintenance_mode": false}),
    )
    .await;
    let _ = id;
}

#[tokio::test]
async fn status_and_statistics_reflect_the_horde() {
    let h = TestHorde::start().await;
    let user = h.user("u", 100.0, false).await;
    let owner = h.user("o", 0.0, false).await;
    // Named: a request naming no model counts under none (as upstream).
    h.image(
        &user,
        json!({"prompt": "p", "models": ["stable_diffusion"], "params": {"n": 2}}),
    )
    .await;
    h.pop(&owner, "w", json!({})).await; // takes one
    let (s, perf) = h.get("/v2/status/performance", None).await;
    assert_eq!(s, 200);
    assert_eq!(
        (
            perf["queued_requests"].as_u64(),
            perf["worker_count"].as_u64(),
            perf["thread_count"].as_u64()
        ),
        (Some(1), Some(1), Some(1))
    );
    assert!(perf["queued_megapixelsteps"].as_f64().unwrap() > 0.0);
    let (_, models) = h.get("/v2/status/models?type=image", None).await;
    let sd = models
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "stable_diffusion")
        .unwrap();
    assert_eq!(
        (
            sd["count"].as_u64(),
            sd["jobs"].as_f64(),
            sd["type"].as_str()
        ),
        (Some(1), Some(1.0), Some("image"))
    );
    let (_, models) = h.get("/v2/status/models?type=text", None).await;
    assert!(models.as_array().unwrap().is_empty());
    assert_eq!(
        h.get("/v2/status/models?type=sideways", None).await.0,
        200,
        "unknown types list nothing harmful"
    );
    let (_, one) = h.get("/v2/status/models/stable_diffusion", None).await;
    assert_eq!(one.as_array().unwrap().len(), 1);
    let (s, hb) = h.get("/v2/status/heartbeat", None).await;
    assert_eq!((s, hb["message"].as_str()), (200, Some("OK")));
    let pop = h.pop(&owner, "w", json!({})).await;
    h.post(
        "/v2/generate/submit",
        Some(&owner),
        json!({"id": pop["id"], "generation": "R2", "seed": 1}),
    )
    .await;
    let (_, totals) = h.get("/v2/stats/img/totals", None).await;
    assert_eq!(
        (
            totals["minute"]["images"].as_u64(),
            totals["total"]["images"].as_u64()
        ),
        (Some(1), Some(1))
    );
    let (_, per_model) = h.get("/v2/stats/img/models", None).await;
    assert_eq!(per_model["total"]["stable_diffusion"], 1);
    let (_, text) = h.get("/v2/stats/text/totals", None).await;
    assert_eq!(text["total"]["requests"], 0);
    assert_eq!(h.get("/v2/stats/text/models", None).await.0, 200);
}

#[tokio::test]
async fn metrics_headers_and_unknown_routes() {
    let h = TestHorde::start().await;
    let client = reqwest::Client::new();
    let res = client
        .get(format!("{}/v2/status/heartbeat", h.api))
        .header("origin", "https://game.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers().get("access-control-allow-origin").unwrap(),
        "*"
    );
    assert!(
        res.headers()
            .get("horde-node")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("horde-rs:")
    );
    let metrics_url = h.api.trim_end_matches("/api").to_owned() + "/metrics";
    let text = client
        .get(&metrics_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("horde_http_requests_total{method=\"GET\",route=\"/api/v2/status/heartbeat\",status=\"200\"} 1"), "{text}");
    assert!(text.contains("horde_image_workers_online 0"));
    assert_error(&h.get("/v2/nowhere", None).await, 404, "NotFound");
    assert_error(
        &h.delete("/v2/status/heartbeat", None).await,
        405,
        "MethodNotAllowed",
    );
    let res = client
        .get(format!("{}/v2/blobs/..%2Fhorde.sqlite", h.api))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn users_added_by_the_cli_while_serving_can_use_their_key() {
    let h = TestHorde::start().await;
    let exe = env!("CARGO_BIN_EXE_horde");
    // Off the runtime's thread: the server in this process must keep
    // answering (and, on PostgreSQL, closing its turns) meanwhile.
    let cli = async |dir: &std::path::Path, args: &[&str]| {
        let mut command = std::process::Command::new(exe);
        command.args(common::postgres::store_args(dir)).args(args);
        tokio::task::spawn_blocking(move || command.output().unwrap())
            .await
            .unwrap()
    };
    let out = cli(&h.dir, &["user", "add", "late", "--kudos", "42"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_eq!(key.len(), 22);
    assert_eq!(h.kudos(&key).await, 42.0);
    let (h, out) = if common::postgres::on_postgres() {
        // A shared store: the CLI takes a turn like any coordinator process,
        // and the server sees the new key at once.
        let out = cli(&h.dir, &["user", "rotate-key", "late"]).await;
        (h, out)
    } else {
        // SQLite: rotating a key needs the server stopped.
        let out = cli(&h.dir, &["user", "rotate-key", "late"]).await;
        assert!(!out.status.success());
        let dir = h.stop().await;
        let out = cli(&dir, &["user", "rotate-key", "late"]).await;
        (TestHorde::start_in(dir, |_| {}).await, out)
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let new_key = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_error(
        &h.get("/v2/find_user", Some(&key)).await,
        404,
        "UserNotFound",
    );
    assert_eq!(h.kudos(&new_key).await, 42.0);
}
