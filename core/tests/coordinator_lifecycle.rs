//! The request lifecycle over real HTTP: image, text and interrogation round
//! trips, batching, uploads and inline results, cancel, ttl requeue, repeated
//! faults and expiry.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail by panicking

mod common;

use base64::Engine;
use common::{TINY_WEBP, TestHorde, assert_error};
use serde_json::json;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn image_round_trip_with_upload_and_inline_results() {
    let h = TestHorde::start().await;
    let requester = h.user("req", 100.0, false).await;
    // At the registered floor: a credit to a balance below it would lift it
    // there (as upstream), which is tested on its own.
    let owner = h.user("owner", 25.0, true).await;
    let id = h
        .image(
            &requester,
            json!({"prompt": "a red apple", "params": {"n": 2, "steps": 20}, "nsfw": false}),
        )
        .await;
    let c = h.check(&id).await;
    assert_eq!(
        (
            c["waiting"].as_u64(),
            c["queue_position"].as_u64(),
            c["done"].as_bool()
        ),
        (Some(2), Some(1), Some(false))
    );
    assert_eq!(c["kudos"], 3.0, "the activation tax is charged at once");

    let pop = h.pop(&owner, "dreamer", json!({"amount": 2})).await;
    assert_eq!(pop["ids"].as_array().unwrap().len(), 2, "{pop}");
    assert_eq!(pop["payload"]["n_iter"], 2);
    assert_eq!(pop["payload"]["use_nsfw_censor"], true);
    assert!(pop["payload"]["seed"].is_string());
    assert_eq!(pop["ttl"], 150);
    let (first, second) = (
        pop["ids"][0].as_str().unwrap(),
        pop["ids"][1].as_str().unwrap(),
    );
    let c = h.check(&id).await;
    assert_eq!(
        (
            c["processing"].as_u64(),
            c["waiting"].as_u64(),
            c["queue_position"].as_u64()
        ),
        (Some(2), Some(0), Some(0))
    );

    // Job 1: uploaded, then submitted as "R2".
    let upload = pop["r2_uploads"][0].as_str().unwrap();
    assert_eq!(h.put_bytes(upload, TINY_WEBP.to_vec()).await, 200);
    assert_eq!(
        h.put_bytes(&upload.replace("token=", "token=x"), TINY_WEBP.to_vec())
            .await,
        403
    );
    let (s, v) = h
        .post(
            "/v2/generate/submit",
            Some(&owner),
            json!({"id": first, "generation": "R2", "state": "ok", "seed": 7}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let reward = v["reward"].as_f64().unwrap();
    assert!(reward > 0.0);
    // Job 2: inline base64.
    let (s, _) = h
        .post(
            "/v2/generate/submit",
            Some(&owner),
            json!({"id": second, "generation": b64(TINY_WEBP), "seed": 8}),
        )
        .await;
    assert_eq!(s, 200);
    assert_error(
        &h.post(
            "/v2/generate/submit",
            Some(&owner),
            json!({"id": second, "generation": "R2", "seed": 8}),
        )
        .await,
        400,
        "DuplicateGen",
    );
    // An upload after the submit is refused: the job is no longer in flight.
    assert_eq!(h.put_bytes(upload, TINY_WEBP.to_vec()).await, 403);

    let c = h.check(&id).await;
    assert_eq!(
        (c["finished"].as_u64(), c["done"].as_bool()),
        (Some(2), Some(true))
    );
    let (s, status) = h.get(&format!("/v2/generate/status/{id}"), None).await;
    assert_eq!(s, 200);
    let gens = status["generations"].as_array().unwrap();
    assert_eq!(gens.len(), 2);
    assert_eq!(gens[0]["seed"], "7", "seeds are strings in status");
    assert_eq!(gens[0]["worker_name"], "dreamer");
    assert_eq!(status["shared"], false);
    for g in gens {
        let (s, bytes) = h.get_bytes(g["img"].as_str().unwrap()).await;
        assert_eq!((s, bytes.as_slice()), (200, TINY_WEBP));
    }
    // The requester paid tax + two charges; the trusted owner earned both rewards.
    let paid = 100.0 - h.kudos(&requester).await;
    assert!(
        (paid - (3.0 + 2.0 * (reward + 1.0))).abs() < 0.02,
        "paid {paid}"
    );
    assert!((h.kudos(&owner).await - 25.0 - 2.0 * reward).abs() < 0.02);

    // r2: false inlines base64.
    let id2 = h
        .image(&requester, json!({"prompt": "b", "r2": false}))
        .await;
    let pop = h.pop(&owner, "dreamer", json!({})).await;
    let job = pop["id"].as_str().unwrap();
    h.post(
        "/v2/generate/submit",
        Some(&owner),
        json!({"id": job, "generation": b64(TINY_WEBP), "seed": 1}),
    )
    .await;
    let (_, status) = h.get(&format!("/v2/generate/status/{id2}"), None).await;
    assert_eq!(status["generations"][0]["img"], b64(TINY_WEBP));
}

#[tokio::test]
async fn text_round_trip() {
    // The upstream server the reward below was captured from knew this
    // model as 7B in its model reference; so does this horde's.
    let h = TestHorde::start_with(|c| {
        c.models.text.insert(
            "test-7B".into(),
            horde_core::coordinator::reference::TextModel {
                parameters: 7_000_000_000,
            },
        );
    })
    .await;
    let requester = h.user("req", 50.0, false).await;
    let owner = h.user("scribe-owner", 25.0, false).await;
    let (s, v) = h
        .post(
            "/v2/generate/text/async",
            Some(&requester),
            json!({"prompt": "Once upon a time", "params": {"n": 2, "max_length": 80, "max_context_length": 1024}, "models": ["koboldcpp/test-7B"]}),
        )
        .await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["kudos"], 0.0);
    assert!(v.get("warnings").is_none());
    let id = v["id"].as_str().unwrap();
    let (_, st) = h.get(&format!("/v2/generate/text/status/{id}"), None).await;
    assert_eq!(
        (
            st["waiting"].as_u64(),
            st["generations"].as_array().map(Vec::len)
        ),
        (Some(2), Some(0))
    );
    // A worker whose context is too short is skipped, and told why.
    let (s, pop) = h
        .post(
            "/v2/generate/text/pop",
            Some(&owner),
            json!({"name": "short", "models": ["koboldcpp/test-7B"], "max_context_length": 512}),
        )
        .await;
    assert_eq!(s, 200);
    assert!(pop["id"].is_null());
    assert_eq!(pop["skipped"]["max_context_length"], 2 / 2);
    for seed in [42, 43] {
        let (s, pop) = h
            .post(
                "/v2/generate/text/pop",
                Some(&owner),
                json!({"name": "scribe", "models": ["koboldcpp/test-7B"], "max_length": 512, "max_context_length": 4096, "bridge_agent": "KoboldAI Client:11:x"}),
            )
            .await;
        assert_eq!(s, 200, "{pop}");
        assert_eq!(pop["payload"]["prompt"], "Once upon a time");
        assert_eq!(pop["payload"]["n"], 1);
        assert_eq!(pop["model"], "koboldcpp/test-7B");
        let (s, v) = h
            .post(
                "/v2/generate/text/submit",
                Some(&owner),
                json!({"id": pop["id"], "generation": " there lived an old clockmaker who repaired every clock but his own.", "state": "ok", "seed": seed}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["reward"], 0.41, "upstream's captured reward for this job");
    }
    let (_, st) = h.get(&format!("/v2/generate/text/status/{id}"), None).await;
    assert_eq!(st["done"], true);
    assert_eq!(st["generations"][1]["seed"], 43);
    assert_eq!(
        st["generations"][0]["text"],
        " there lived an old clockmaker who repaired every clock but his own."
    );
    assert_eq!(st["kudos"], 4.0);
    // Untrusted owners get half into escrow.
    assert!((h.kudos(&owner).await - 25.41).abs() < 0.02);
}

#[tokio::test]
async fn interrogation_round_trip_with_post_processor_upload() {
    let h = TestHorde::start().await;
    let requester = h.user("req", 50.0, false).await;
    let owner = h.user("alch", 0.0, true).await;
    let (s, v) = h
        .post(
            "/v2/interrogate/async",
            Some(&requester),
            json!({"forms": [{"name": "caption"}, {"name": "caption"}, {"name": "RealESRGAN_x4plus"}], "source_image": b64(TINY_WEBP)}),
        )
        .await;
    assert_eq!(s, 202, "{v}");
    let id = v["id"].as_str().unwrap();
    let (_, st) = h.get(&format!("/v2/interrogate/status/{id}"), None).await;
    assert_eq!(st["state"], "waiting");
    assert_eq!(
        st["forms"].as_array().unwrap().len(),
        2,
        "duplicate forms are dropped"
    );
    let (s, pop) = h
        .post(
            "/v2/interrogate/pop",
            Some(&owner),
            json!({"name": "alchemist", "forms": ["caption", "RealESRGAN_x4plus"], "amount": 2}),
        )
        .await;
    assert_eq!(s, 200, "{pop}");
    let forms = pop["forms"].as_array().unwrap();
    assert_eq!(forms.len(), 2);
    let (s, src) = h
        .get_bytes(forms[0]["source_image"].as_str().unwrap())
        .await;
    assert_eq!((s, src.as_slice()), (200, TINY_WEBP));
    for f in forms {
        let fid = f["id"].as_str().unwrap();
        let result = if f["form"] == "caption" {
            assert!(f.get("r2_upload").is_none());
            json!({"caption": "a tiny picture"})
        } else {
            assert_eq!(
                h.put_bytes(f["r2_upload"].as_str().unwrap(), TINY_WEBP.to_vec())
                    .await,
                200
            );
            json!({"RealESRGAN_x4plus": "R2"})
        };
        let (s, v) = h
            .post(
                "/v2/interrogate/submit",
                Some(&owner),
                json!({"id": fid, "result": result, "state": "ok"}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        assert!(v["reward"].as_f64().unwrap() >= 1.0);
    }
    let (_, st) = h.get(&format!("/v2/interrogate/status/{id}"), None).await;
    assert_eq!(st["state"], "done");
    let caption = st["forms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["form"] == "caption")
        .unwrap();
    assert_eq!(caption["result"]["caption"], "a tiny picture");
    let up = st["forms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["form"] == "RealESRGAN_x4plus")
        .unwrap();
    let url = up["result"]["RealESRGAN_x4plus"].as_str().unwrap();
    assert_eq!(h.get_bytes(url).await.1, TINY_WEBP);
    assert!(h.kudos(&requester).await < 50.0);
}

#[tokio::test]
async fn cancel_keeps_finished_results_and_in_flight_jobs() {
    let h = TestHorde::start().await;
    let requester = h.user("req", 100.0, false).await;
    let owner = h.user("owner", 0.0, true).await;
    let id = h
        .image(&requester, json!({"prompt": "p", "params": {"n": 4}}))
        .await;
    let a = h.pop(&owner, "w", json!({})).await;
    h.post(
        "/v2/generate/submit",
        Some(&owner),
        json!({"id": a["id"], "generation": "R2", "seed": 1}),
    )
    .await;
    let b = h.pop(&owner, "w", json!({})).await;
    let (s, before) = h.delete(&format!("/v2/generate/status/{id}"), None).await;
    assert_eq!(s, 200);
    assert_eq!(
        (
            before["finished"].as_u64(),
            before["processing"].as_u64(),
            before["waiting"].as_u64()
        ),
        (Some(1), Some(1), Some(2))
    );
    assert_eq!(before["generations"].as_array().unwrap().len(), 1);
    let c = h.check(&id).await;
    assert_eq!(
        (c["waiting"].as_u64(), c["done"].as_bool()),
        (Some(0), Some(false))
    );
    // Nothing more is handed out; the job in flight still lands.
    assert!(h.pop(&owner, "w", json!({})).await["id"].is_null());
    let (s, _) = h
        .post(
            "/v2/generate/submit",
            Some(&owner),
            json!({"id": b["id"], "generation": "R2", "seed": 2}),
        )
        .await;
    assert_eq!(s, 200);
    let c = h.check(&id).await;
    assert_eq!(
        (c["finished"].as_u64(), c["done"].as_bool()),
        (Some(2), Some(true))
    );
    let (s, _) = h
        .delete(&format!("/v2/generate/text/status/{id}"), None)
        .await;
    assert_eq!(s, 404, "an image id is not a text request");
}

#[tokio::test]
async fn stale_jobs_are_requeued_and_repeated_faults_fail_the_request() {
    let h = TestHorde::start().await;
    let requester = h.user("req", 100.0, false).await;
    let owner = h.user("owner", 0.0, true).await;
    let id = h.image(&requester, json!({"prompt": "p"})).await;
    let first = h.pop(&owner, "slow", json!({})).await;
    let ttl = first["ttl"].as_f64().unwrap();
    h.advance(ttl - 1.0).await;
    assert_eq!(h.check(&id).await["processing"], 1, "not yet stale");
    h.advance(2.0).await;
    let c = h.check(&id).await;
    assert_eq!(
        (
            c["restarted"].as_u64(),
            c["waiting"].as_u64(),
            c["processing"].as_u64()
        ),
        (Some(1), Some(1), Some(0))
    );
    // The late worker's submit is refused; another worker finishes the job.
    assert_error(
        &h.post(
            "/v2/generate/submit",
            Some(&owner),
            json!({"id": first["id"], "generation": "R2", "seed": 1}),
        )
        .await,
        400,
        "AbortedGen",
    );
    let second = h.pop(&owner, "fast", json!({})).await;
    assert!(second["id"].is_string());
    let (s, _) = h
        .post(
            "/v2/generate/submit",
            Some(&owner),
            json!({"id": second["id"], "generation": "R2", "seed": 1}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(h.check(&id).await["done"], true);

    // As upstream: an n=1 request whose worker faulted it twice is over,
    // done with no image and not faulted.
    let id = h.image(&requester, json!({"prompt": "unlucky"})).await;
    fault_jobs(&h, &owner, 2).await;
    let c = h.check(&id).await;
    assert_eq!(
        (
            c["faulted"].as_bool(),
            c["done"].as_bool(),
            c["restarted"].as_u64()
        ),
        (Some(false), Some(true), Some(2))
    );
    assert!(h.pop(&owner, "fast", json!({})).await["id"].is_null());

    // Three faults of a request that asked for more fail it for good.
    let id = h
        .image(&requester, json!({"prompt": "doomed", "params": {"n": 3}}))
        .await;
    fault_jobs(&h, &owner, 3).await;
    let c = h.check(&id).await;
    assert_eq!(
        (
            c["faulted"].as_bool(),
            c["done"].as_bool(),
            c["restarted"].as_u64()
        ),
        (Some(true), Some(true), Some(3))
    );
    assert!(h.pop(&owner, "fast", json!({})).await["id"].is_null());
}

/// Pops `times` jobs as the worker "fast" and submits each as faulted.
async fn fault_jobs(h: &TestHorde, owner: &str, times: usize) {
    for _ in 0..times {
        let pop = h.pop(owner, "fast", json!({})).await;
        let (s, v) = h
            .post(
                "/v2/generate/submit",
                Some(owner),
                json!({"id": pop["id"], "state": "faulted", "seed": 0}),
            )
            .await;
        assert_eq!((s, v["reward"].as_f64()), (200, Some(0.0)));
    }
}

#[tokio::test]
async fn requests_expire_twenty_minutes_after_their_last_activity() {
    let h = TestHorde::start().await;
    let requester = h.user("req", 100.0, false).await;
    let owner = h.user("owner", 0.0, true).await;
    let id = h
        .image(&requester, json!({"prompt": "p", "params": {"n": 2}}))
        .await;
    h.advance(15.0 * 60.0).await;
    let pop = h.pop(&owner, "w", json!({})).await; // activity: pushes expiry
    h.post(
        "/v2/generate/submit",
        Some(&owner),
        json!({"id": pop["id"], "generation": "R2", "seed": 1}),
    )
    .await;
    h.advance(15.0 * 60.0).await;
    assert_eq!(
        h.check(&id).await["finished"],
        1,
        "still there 30 minutes after creation"
    );
    let img = h.get(&format!("/v2/generate/status/{id}"), None).await.1["generations"][0]["img"]
        .as_str()
        .unwrap()
        .to_owned();
    h.advance(6.0 * 60.0).await;
    assert_error(
        &h.get(&format!("/v2/generate/check/{id}"), None).await,
        404,
        "RequestNotFound",
    );
    assert_error(
        &h.get(&format!("/v2/generate/status/{id}"), None).await,
        404,
        "RequestNotFound",
    );
    let (s, body) = h.get_bytes(&img).await;
    assert_eq!(
        s,
        404,
        "its images are gone too: {}",
        String::from_utf8_lossy(&body)
    );
}

#[tokio::test]
async fn source_images_reach_the_worker_and_named_workers_are_respected() {
    let h = TestHorde::start().await;
    let req = h.user("req", 100.0, false).await;
    let owner = h.user("owner", 0.0, true).await;
    // Two workers; the request names the second.
    h.pop(&owner, "first", json!({})).await;
    h.pop(&owner, "second", json!({})).await;
    let (_, workers) = h.get("/v2/workers?name=second", None).await;
    let second = workers[0]["id"].as_str().unwrap().to_owned();
    let id = h
        .image(&req, json!({"prompt": "p", "source_image": b64(TINY_WEBP), "workers": [second], "params": {"denoising_strength": 0.5}}))
        .await;
    let skipped = h.pop(&owner, "first", json!({})).await;
    assert!(skipped["id"].is_null());
    assert_eq!(skipped["skipped"]["worker_id"], 1);
    let pop = h.pop(&owner, "second", json!({})).await;
    assert_eq!(pop["source_processing"], "img2img");
    assert_eq!(pop["payload"]["denoising_strength"], 0.5);
    let (s, bytes) = h.get_bytes(pop["source_image"].as_str().unwrap()).await;
    assert_eq!((s, bytes.as_slice()), (200, TINY_WEBP));
    // A deny-list keeps the named worker away instead.
    let id2 = h
        .image(
            &req,
            json!({"prompt": "q", "workers": [second], "worker_blacklist": true}),
        )
        .await;
    assert!(h.pop(&owner, "second", json!({})).await["id"].is_null());
    assert!(h.pop(&owner, "first", json!({})).await["id"].is_string());
    assert_error(
        &h.post(
            "/v2/generate/async",
            Some(&req),
            json!({"prompt": "p", "workers": ["no-such-worker"]}),
        )
        .await,
        404,
        "WorkerNotFound",
    );
    assert_error(
        &h.post(
            "/v2/generate/async",
            Some(&req),
            json!({"prompt": "p", "source_image": "%%%"}),
        )
        .await,
        400,
        "ImageValidationFailed",
    );
    let _ = (id, id2);
}

#[tokio::test]
async fn online_workers_earn_uptime() {
    let h = TestHorde::start().await;
    let owner = h.user("owner", 0.0, true).await;
    let untrusted = h.user("newcomer", 0.0, false).await;
    h.pop(
        &owner,
        "steady",
        json!({"models": ["a-model", "b-model"], "allow_lora": true}),
    )
    .await;
    h.pop(&untrusted, "fresh", json!({})).await;
    // Workers stay online by popping; ten minutes of it earn one reward.
    for _ in 0..11 {
        h.advance(60.0).await;
        h.pop(
            &owner,
            "steady",
            json!({"models": ["a-model", "b-model"], "allow_lora": true}),
        )
        .await;
        h.pop(&untrusted, "fresh", json!({})).await;
    }
    assert_eq!(h.kudos(&owner).await, 50.0 + 2.0 * 2.0 + 30.0);
    // Untrusted owners earn uptime into escrow, not into their balance.
    assert_eq!(h.kudos(&untrusted).await, 0.0);
    let (_, d) = h.get("/v2/workers?name=steady", None).await;
    assert_eq!(d[0]["kudos_details"]["uptime"], 84);
    assert!(d[0]["uptime"].as_u64().unwrap() >= 600);
}

#[tokio::test]
async fn interrogation_errors_and_cancel() {
    let h = TestHorde::start().await;
    let req = h.user("req", 100.0, false).await;
    let owner = h.user("alch", 0.0, false).await;
    assert_error(
        &h.get("/v2/interrogate/status/nope", None).await,
        404,
        "RequestNotFound",
    );
    assert_error(
        &h.delete("/v2/interrogate/status/nope", None).await,
        404,
        "RequestNotFound",
    );
    assert_error(
        &h.post(
            "/v2/interrogate/async",
            Some(&req),
            json!({"forms": [], "source_image": "https://x/y.png"}),
        )
        .await,
        400,
        "BadRequest",
    );
    assert_error(
        &h.post(
            "/v2/interrogate/async",
            Some(&req),
            json!({"forms": [{"name": "telepathy"}], "source_image": "https://x/y.png"}),
        )
        .await,
        400,
        "BadRequest",
    );
    assert_error(
        &h.post(
            "/v2/interrogate/async",
            Some(&req),
            json!({"forms": [{"name": "caption"}], "source_image": b64(b"not an image")}),
        )
        .await,
        400,
        "ImageValidationFailed",
    );
    assert_error(
        &h.post(
            "/v2/interrogate/pop",
            Some(&owner),
            json!({"name": "a", "forms": ["caption"], "max_tiles": 0}),
        )
        .await,
        400,
        "BadRequest",
    );
    assert_error(
        &h.post(
            "/v2/interrogate/submit",
            Some(&owner),
            json!({"id": "nope", "result": {}}),
        )
        .await,
        404,
        "InvalidJobID",
    );
    let (_, v) = h.post("/v2/interrogate/async", Some(&req), json!({"forms": [{"name": "caption"}, {"name": "nsfw"}], "source_image": "https://example.invalid/cat.png"})).await;
    let id = v["id"].as_str().unwrap();
    let (_, pop) = h
        .post(
            "/v2/interrogate/pop",
            Some(&owner),
            json!({"name": "a", "forms": ["nsfw"]}),
        )
        .await;
    assert_eq!(
        pop["forms"][0]["source_image"],
        "https://example.invalid/cat.png"
    );
    let owner_before = h.kudos(&owner).await;
    let (s, before) = h
        .delete(&format!("/v2/interrogate/status/{id}"), None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(before["state"], "processing");
    let (_, after) = h.get(&format!("/v2/interrogate/status/{id}"), None).await;
    let states: Vec<_> = after["forms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["state"].as_str().unwrap().to_owned())
        .collect();
    // As upstream: the form in flight is cancelled too and settled at the
    // cancel (its alchemist paid), so its later submit is a duplicate.
    assert_eq!(states, ["cancelled", "cancelled"]);
    let fid = pop["forms"][0]["id"].as_str().unwrap();
    assert!(
        h.kudos(&owner).await > owner_before,
        "the alchemist was not paid"
    );
    assert_error(
        &h.post(
            "/v2/interrogate/submit",
            Some(&owner),
            json!({"id": fid, "result": {"nsfw": false}, "state": "ok"}),
        )
        .await,
        400,
        "DuplicateGen",
    );
    let (_, done) = h.get(&format!("/v2/interrogate/status/{id}"), None).await;
    assert_eq!(done["state"], "partial");
    // A silent alchemist's form returns to the queue after its ttl.
    let (_, v) = h.post("/v2/interrogate/async", Some(&req), json!({"forms": [{"name": "caption"}], "source_image": "https://example.invalid/dog.png"})).await;
    let id = v["id"].as_str().unwrap();
    h.post(
        "/v2/interrogate/pop",
        Some(&owner),
        json!({"name": "a", "forms": ["caption"]}),
    )
    .await;
    h.advance(181.0).await;
    let (_, st) = h.get(&format!("/v2/interrogate/status/{id}"), None).await;
    assert_eq!(st["forms"][0]["state"], "waiting");
}
