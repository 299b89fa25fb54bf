//! Workers and matching over real HTTP: identity and capability rules, the
//! `skipped` breakdown, queue order (kudos, ageing, own and priority users),
//! maintenance, worker details, modification and deletion.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail by panicking

mod common;

use common::{TestHorde, assert_error};
use serde_json::json;

#[tokio::test]
async fn worker_identity_rules() {
    let h = TestHorde::start().await;
    let alice = h.user("alice", 0.0, false).await;
    let bob = h.user("bob", 0.0, false).await;
    h.pop(&alice, "alpha", json!({})).await;
    assert_error(
        &h.post("/v2/generate/pop", Some(&bob), json!({"name": "alpha"}))
            .await,
        403,
        "WrongCredentials",
    );
    assert_error(
        &h.post(
            "/v2/generate/text/pop",
            Some(&alice),
            json!({"name": "alpha"}),
        )
        .await,
        400,
        "PolymorphicNameConflict",
    );
    assert_error(
        &h.post("/v2/generate/pop", Some(&alice), json!({"name": ""}))
            .await,
        400,
        "TooLongWorkerName",
    );
    assert_error(
        &h.post(
            "/v2/generate/pop",
            Some(&alice),
            json!({"name": "x", "threads": 51}),
        )
        .await,
        400,
        "BadRequest",
    );
    assert_error(
        &h.post(
            "/v2/generate/pop",
            Some(&alice),
            json!({"name": "x", "amount": 21}),
        )
        .await,
        400,
        "BadRequest",
    );
    assert_error(
        &h.post(
            "/v2/generate/pop",
            Some(&alice),
            json!({"name": "x", "priority_usernames": ["bob"]}),
        )
        .await,
        400,
        "InvalidPriorityUsername",
    );
    assert_error(
        &h.post("/v2/generate/pop", Some(&alice), json!({})).await,
        400,
        "BadRequest",
    );
    h.pop(&alice, "beta", json!({})).await;
    h.pop(&alice, "gamma", json!({})).await;
    // As upstream counts: an untrusted owner's fourth worker is taken, the
    // fifth refused; alchemists are not counted.
    let (s, v) = h
        .post(
            "/v2/interrogate/pop",
            Some(&alice),
            json!({"name": "alchemist", "forms": ["caption"]}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    h.pop(&alice, "delta", json!({})).await;
    assert_error(
        &h.post("/v2/generate/pop", Some(&alice), json!({"name": "epsilon"}))
            .await,
        403,
        "TooManyWorkers",
    );
}

#[tokio::test]
async fn empty_pops_say_why() {
    let h = TestHorde::start().await;
    let req = h.user("req", 100.0, false).await;
    let owner = h.user("owner", 0.0, false).await;
    let empty = h.pop(&owner, "w", json!({})).await;
    assert!(empty["id"].is_null() && empty["ids"].as_array().unwrap().is_empty());
    assert_eq!(
        empty["skipped"]["models"], 0,
        "an empty queue reports every key at 0"
    );
    assert_eq!(empty["ttl"], serde_json::Value::Null);
    h.image(&req, json!({"prompt": "needs nsfw"})).await;
    h.image(
        &req,
        json!({"prompt": "p", "models": ["other_model"], "nsfw": false}),
    )
    .await;
    h.image(
        &req,
        json!({"prompt": "p", "params": {"width": 1024, "height": 1024}, "nsfw": false}),
    )
    .await;
    h.image(
        &req,
        json!({"prompt": "p", "source_image": "https://example.invalid/x.png", "nsfw": false}),
    )
    .await;
    h.image(
        &req,
        json!({"prompt": "p", "params": {"post_processing": ["GFPGAN"]}, "nsfw": false}),
    )
    .await;
    h.image(
        &req,
        json!({"prompt": "p", "params": {"loras": [{"name": "x"}]}, "nsfw": false}),
    )
    .await;
    h.image(
        &req,
        json!({"prompt": "p", "trusted_workers": true, "nsfw": false}),
    )
    .await;
    h.image(&req, json!({"prompt": "forbidden word", "nsfw": false}))
        .await;
    let (s, pop) = h
        .post(
            "/v2/generate/pop",
            Some(&owner),
            json!({"name": "w", "models": ["stable_diffusion"], "nsfw": false, "max_pixels": 262144,
                   "allow_img2img": false, "allow_post_processing": false, "allow_lora": false, "blacklist": ["Forbidden"]}),
        )
        .await;
    assert_eq!(s, 200);
    assert!(pop["id"].is_null(), "{pop}");
    let sk = &pop["skipped"];
    for (key, n) in [
        ("nsfw", 1),
        ("models", 1),
        ("max_pixels", 1),
        ("img2img", 1),
        ("post-processing", 1),
        ("lora", 1),
        ("untrusted", 1),
        ("blacklist", 1),
    ] {
        assert_eq!(sk[key], n, "{key}: {sk}");
    }
}

#[tokio::test]
async fn the_queue_orders_by_kudos_age_and_owner() {
    let h = TestHorde::start().await;
    let poor = h.user("poor", 0.0, false).await;
    let rich = h.user("rich", 1000.0, false).await;
    let owner = h.user("owner", 0.0, false).await;
    let friend = h.user("friend", 0.0, false).await;
    let a = h.image(&poor, json!({"prompt": "poor"})).await;
    let b = h.image(&rich, json!({"prompt": "rich"})).await;
    assert_eq!(h.check(&b).await["queue_position"], 1, "more kudos first");
    assert_eq!(h.check(&a).await["queue_position"], 2);
    // Ageing: 5 priority per second; after 400 s the older poor request leads.
    h.advance(400.0).await;
    let c = h.image(&rich, json!({"prompt": "rich later"})).await;
    assert_eq!(h.check(&a).await["queue_position"], 2);
    assert_eq!(h.check(&c).await["queue_position"], 3);
    // The owner's and the priority users' requests come first for its worker.
    let mine = h.image(&owner, json!({"prompt": "mine"})).await;
    let theirs = h.image(&friend, json!({"prompt": "friend's"})).await;
    let pop = h
        .pop(&owner, "w", json!({"priority_usernames": ["friend#4"]}))
        .await;
    assert_eq!(pop["payload"]["prompt"], "mine");
    let pop = h
        .pop(&owner, "w", json!({"priority_usernames": ["friend#4"]}))
        .await;
    assert_eq!(pop["payload"]["prompt"], "friend's");
    let pop = h.pop(&owner, "w", json!({})).await;
    assert_eq!(pop["payload"]["prompt"], "rich");
    let _ = (mine, theirs);
}

#[tokio::test]
async fn maintenance_drains_a_worker() {
    let h = TestHorde::start().await;
    let owner = h.user("owner", 0.0, false).await;
    let other = h.user("other", 100.0, false).await;
    let mod_key = h.admin("mod").await;
    let first = h.pop(&owner, "w", json!({})).await;
    assert!(first["id"].is_null());
    let (_, list) = h.get("/v2/workers?type=image", None).await;
    let id = list[0]["id"].as_str().unwrap().to_owned();
    assert_error(
        &h.put(
            &format!("/v2/workers/{id}"),
            Some(&other),
            json!({"maintenance": true}),
        )
        .await,
        403,
        "NotOwner",
    );
    assert_error(
        &h.put(
            &format!("/v2/workers/{id}"),
            Some(&owner),
            json!({"paused": true}),
        )
        .await,
        403,
        "NotModerator",
    );
    assert_error(
        &h.put(&format!("/v2/workers/{id}"), Some(&owner), json!({}))
            .await,
        400,
        "NoWorkerModSelected",
    );
    let (s, v) = h
        .put(
            &format!("/v2/workers/{id}"),
            Some(&owner),
            json!({"maintenance": true, "maintenance_msg": "upgrading"}),
        )
        .await;
    assert_eq!((s, v["maintenance"].as_bool()), (200, Some(true)));
    h.image(&other, json!({"prompt": "someone else's"})).await;
    let answer = h
        .post(
            "/v2/generate/pop",
            Some(&owner),
            json!({"name": "w", "models": ["stable_diffusion"]}),
        )
        .await;
    assert_error(&answer, 403, "WorkerMaintenance");
    assert_eq!(answer.1["message"], "upgrading");
    h.image(&owner, json!({"prompt": "own"})).await;
    let pop = h.pop(&owner, "w", json!({})).await;
    assert_eq!(
        pop["payload"]["prompt"], "own",
        "maintenance still serves the owner"
    );
    let (s, v) = h
        .put(
            &format!("/v2/workers/{id}"),
            Some(&mod_key),
            json!({"paused": true, "maintenance": false}),
        )
        .await;
    assert_eq!((s, v["paused"].as_bool()), (200, Some(true)));
    let (_, d) = h.get(&format!("/v2/workers/{id}"), Some(&mod_key)).await;
    assert_eq!(
        (d["maintenance_mode"].as_bool(), d["paused"].as_bool()),
        (Some(false), Some(true))
    );
    let (_, public) = h.get(&format!("/v2/workers/{id}"), None).await;
    assert!(public.get("paused").is_none(), "paused is privileged");
}

#[tokio::test]
async fn worker_details_changes_and_deletion() {
    let h = TestHorde::start().await;
    let owner = h.user("owner", 0.0, false).await;
    let req = h.user("req", 100.0, false).await;
    h.pop(
        &owner,
        "painter",
        json!({"bridge_agent": "horde-rs:0.1.0:https://example.invalid", "threads": 2}),
    )
    .await;
    let (s, _) = h
        .post(
            "/v2/generate/text/pop",
            Some(&owner),
            json!({"name": "writer", "models": ["m-7B"]}),
        )
        .await;
    assert_eq!(s, 200);
    let (_, all) = h.get("/v2/workers", None).await;
    assert_eq!(all.as_array().unwrap().len(), 2);
    let (_, text) = h.get("/v2/workers?type=text", None).await;
    assert_eq!(text[0]["name"], "writer");
    assert_eq!(text[0]["max_length"], 512);
    assert!(text[0].get("max_pixels").is_none());
    let (_, named) = h.get("/v2/workers?name=painter", None).await;
    let painter = &named[0];
    assert_eq!(
        (painter["type"].as_str(), painter["threads"].as_u64()),
        (Some("image"), Some(2))
    );
    assert_eq!(
        painter["bridge_agent"],
        "horde-rs:0.1.0:https://example.invalid"
    );
    assert_eq!(painter["online"], true);
    let id = painter["id"].as_str().unwrap().to_owned();
    let (s, by_name) = h.get("/v2/workers/name/painter", None).await;
    assert_eq!((s, by_name["id"].as_str()), (200, Some(id.as_str())));
    assert_error(
        &h.get("/v2/workers/nope", None).await,
        404,
        "WorkerNotFound",
    );
    assert_error(
        &h.get("/v2/workers/name/nope", None).await,
        404,
        "WorkerNotFound",
    );
    assert_error(
        &h.put(
            &format!("/v2/workers/{id}"),
            Some(&owner),
            json!({"info": "x".repeat(1001)}),
        )
        .await,
        400,
        "TooLong",
    );
    assert_error(
        &h.put(
            &format!("/v2/workers/{id}"),
            Some(&owner),
            json!({"name": "writer"}),
        )
        .await,
        400,
        "NameAlreadyExists",
    );
    let (s, v) = h
        .put(
            &format!("/v2/workers/{id}"),
            Some(&owner),
            json!({"info": "my GPU", "name": "painter2"}),
        )
        .await;
    assert_eq!((s, v["name"].as_str()), (200, Some("painter2")));
    let (_, d) = h.get(&format!("/v2/workers/{id}"), None).await;
    assert_eq!(
        (d["info"].as_str(), d["name"].as_str()),
        (Some("my GPU"), Some("painter2"))
    );
    // Busy workers cannot be deleted.
    h.image(&req, json!({"prompt": "p"})).await;
    let job = h.pop(&owner, "painter2", json!({})).await;
    assert_error(
        &h.delete(&format!("/v2/workers/{id}"), Some(&owner)).await,
        423,
        "Locked",
    );
    assert_error(
        &h.delete(&format!("/v2/workers/{id}"), Some(&req)).await,
        403,
        "NotOwner",
    );
    h.post(
        "/v2/generate/submit",
        Some(&owner),
        json!({"id": job["id"], "generation": "R2", "seed": 1}),
    )
    .await;
    let (_, d) = h.get(&format!("/v2/workers/{id}"), None).await;
    assert_eq!(d["requests_fulfilled"], 1);
    let (s, v) = h.delete(&format!("/v2/workers/{id}"), Some(&owner)).await;
    assert_eq!((s, v["deleted_name"].as_str()), (200, Some("painter2")));
    assert_error(
        &h.get(&format!("/v2/workers/{id}"), None).await,
        404,
        "WorkerNotFound",
    );
    // A worker goes offline after five minutes without a pop.
    h.advance(301.0).await;
    let (_, all) = h.get("/v2/workers", None).await;
    assert!(all.as_array().unwrap().is_empty());
}

#[tokio::test]
async fn submits_are_checked() {
    let h = TestHorde::start().await;
    let owner = h.user("owner", 0.0, false).await;
    let thief = h.user("thief", 0.0, false).await;
    let req = h.user("req", 100.0, false).await;
    let id = h.image(&req, json!({"prompt": "p"})).await;
    let pop = h.pop(&owner, "w", json!({})).await;
    let job = pop["id"].as_str().unwrap();
    assert_error(
        &h.post(
            "/v2/generate/submit",
            Some(&thief),
            json!({"id": job, "generation": "R2", "seed": 1}),
        )
        .await,
        403,
        "WrongCredentials",
    );
    assert_error(
        &h.post(
            "/v2/generate/submit",
            Some(&owner),
            json!({"id": "unknown", "generation": "R2", "seed": 1}),
        )
        .await,
        404,
        "InvalidJobID",
    );
    assert_error(
        &h.post(
            "/v2/generate/text/submit",
            Some(&owner),
            json!({"id": job, "generation": "x"}),
        )
        .await,
        404,
        "InvalidJobID",
    );
    assert_error(
        &h.post(
            "/v2/generate/submit",
            Some(&owner),
            json!({"id": job, "seed": 1}),
        )
        .await,
        400,
        "BadRequest",
    );
    assert_error(
        &h.post(
            "/v2/generate/submit",
            Some(&owner),
            json!({"id": job, "generation": "!!not base64!!", "seed": 1}),
        )
        .await,
        400,
        "ImageValidationFailed",
    );
    assert_error(
        &h.post(
            "/v2/generate/submit",
            Some(&owner),
            json!({"id": job, "generation": "R2"}),
        )
        .await,
        400,
        "BadRequest",
    );
    assert_eq!(
        h.check(&id).await["processing"],
        1,
        "failed submits changed nothing"
    );
    // A censored result costs the requester nothing, and (unlike upstream,
    // see the README) pays the worker nothing either.
    let before = h.kudos(&req).await;
    let (s, v) = h
        .post(
            "/v2/generate/submit",
            Some(&owner),
            json!({"id": job, "generation": "R2", "seed": 1, "state": "censored"}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["reward"].as_f64(), Some(0.0));
    assert_eq!(h.kudos(&req).await, before);
    let (_, st) = h.get(&format!("/v2/generate/status/{id}"), None).await;
    assert_eq!(
        (
            st["generations"][0]["censored"].as_bool(),
            st["generations"][0]["state"].as_str()
        ),
        (Some(true), Some("censored"))
    );
}
