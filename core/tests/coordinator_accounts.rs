//! Accounts over real HTTP: authentication errors, users and their views,
//! admin and moderator fields, kudos transfers, shared keys.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail by panicking

mod common;

use common::{TestHorde, assert_error};
use serde_json::json;

#[tokio::test]
async fn keys_are_checked_on_every_authenticated_endpoint() {
    let h = TestHorde::start().await;
    for (method, path) in [
        ("POST", "/v2/generate/async"),
        ("POST", "/v2/generate/text/async"),
        ("POST", "/v2/generate/pop"),
        ("POST", "/v2/generate/submit"),
        ("POST", "/v2/generate/text/pop"),
        ("POST", "/v2/generate/text/submit"),
        ("POST", "/v2/interrogate/async"),
        ("POST", "/v2/interrogate/pop"),
        ("POST", "/v2/interrogate/submit"),
        ("POST", "/v2/kudos/transfer"),
        ("PUT", "/v2/sharedkeys"),
        ("GET", "/v2/find_user"),
    ] {
        let forms = if path == "/v2/interrogate/pop" {
            json!(["caption"])
        } else {
            json!([{"name": "caption"}])
        };
        let body = json!({"prompt": "p", "name": "w", "id": "x", "username": "u#1", "forms": forms, "source_image": "https://x/y.png", "seed": 1});
        for key in [None, Some("not-a-key")] {
            let answer = match method {
                "POST" => h.post(path, key, body.clone()).await,
                "PUT" => h.put(path, key, body.clone()).await,
                _ => h.get(path, key).await,
            };
            if path == "/v2/find_user" && key.is_some() {
                // As upstream: a key that names nobody is not found.
                assert_error(&answer, 404, "UserNotFound");
            } else {
                assert_error(&answer, 401, "InvalidAPIKey");
            }
        }
    }
}

#[tokio::test]
async fn anonymous_requests_but_never_works_or_transfers() {
    let h = TestHorde::start().await;
    let anon = "0000000000";
    let (s, _) = h
        .post("/v2/generate/async", Some(anon), json!({"prompt": "p"}))
        .await;
    assert_eq!(s, 202);
    assert_error(
        &h.post("/v2/generate/pop", Some(anon), json!({"name": "w"}))
            .await,
        403,
        "AnonForbiddenWorker",
    );
    let alice = h.user("alice", 100.0, false).await;
    assert_error(
        &h.post(
            "/v2/kudos/transfer",
            Some(anon),
            json!({"username": "alice#1", "amount": 1}),
        )
        .await,
        400,
        "KudosTransferFromAnon",
    );
    assert_error(
        &h.post(
            "/v2/kudos/transfer",
            Some(&alice),
            json!({"username": "Anonymous#0", "amount": 1}),
        )
        .await,
        400,
        "KudosTransferToAnon",
    );
    assert_error(
        &h.put("/v2/sharedkeys", Some(anon), json!({})).await,
        403,
        "AnonForbidden",
    );
    let (s, me) = h.get("/v2/find_user", Some(anon)).await;
    assert_eq!((s, me["id"].as_u64()), (200, Some(0)));
}

#[tokio::test]
async fn users_views_depend_on_who_asks() {
    let h = TestHorde::start().await;
    let alice = h.user("alice", 10.0, false).await;
    let bob = h.user("bob", 20.0, false).await;
    let admin = h.admin("root").await;
    let (s, me) = h.get("/v2/find_user", Some(&alice)).await;
    assert_eq!((s, me["username"].as_str()), (200, Some("alice#1")));
    assert!(me.get("sharedkey_ids").is_some(), "self view is privileged");
    let (_, public) = h.get("/v2/users/1", None).await;
    assert!(public.get("sharedkey_ids").is_none());
    assert!(public.get("evaluating_kudos").is_none());
    let (_, as_mod) = h.get("/v2/users/1", Some(&admin)).await;
    assert!(as_mod.get("evaluating_kudos").is_some());
    assert_error(&h.get("/v2/users/999", None).await, 404, "UserNotFound");
    assert_error(&h.get("/v2/users/abc", None).await, 404, "UserNotFound");
    let (s, list) = h.get("/v2/users?sort=kudos", None).await;
    assert_eq!(s, 200);
    let names: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(&names[..2], ["bob#2", "alice#1"]);
    assert_eq!(h.get("/v2/users?page=x", None).await.0, 400);

    // Modifications: admin-only, moderator-only, owner.
    assert_error(
        &h.put("/v2/users/1", Some(&bob), json!({"kudos": 5})).await,
        403,
        "NotAdmin",
    );
    assert_error(
        &h.put("/v2/users/1", Some(&bob), json!({"trusted": true}))
            .await,
        403,
        "NotModerator",
    );
    assert_error(
        &h.put(
            "/v2/users/1",
            Some(&bob),
            json!({"contact": "bob@example.com"}),
        )
        .await,
        403,
        "NotOwner",
    );
    assert_error(
        &h.put("/v2/users/1", Some(&alice), json!({})).await,
        400,
        "NoUserModSelected",
    );
    assert_error(
        &h.put(
            "/v2/users/1",
            Some(&alice),
            json!({"username": "x".repeat(31)}),
        )
        .await,
        400,
        "TooLongUserName",
    );
    let (s, v) = h
        .put(
            "/v2/users/1",
            Some(&admin),
            json!({"kudos": 15, "trusted": true, "concurrency": 40}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (
            v["new_kudos"].as_f64(),
            v["trusted"].as_bool(),
            v["concurrency"].as_u64()
        ),
        (Some(25.0), Some(true), Some(40))
    );
    let (s, v) = h
        .put(
            "/v2/users/1",
            Some(&alice),
            json!({"username": "alicia", "public_workers": true}),
        )
        .await;
    assert_eq!((s, v["username"].as_str()), (200, Some("alicia#1")));
    assert_error(
        &h.put("/v2/users/1", Some(&admin), json!({"concurrency": 501}))
            .await,
        400,
        "BadRequest",
    );
}

#[tokio::test]
async fn transfers_move_kudos_exactly_once() {
    let h = TestHorde::start().await;
    let alice = h.user("alice", 100.0, false).await;
    let bob = h.user("bob", 0.0, false).await;
    let (s, v) = h
        .post(
            "/v2/kudos/transfer",
            Some(&alice),
            json!({"username": "bob#2", "amount": 30}),
        )
        .await;
    assert_eq!((s, v["transferred"].as_f64()), (200, Some(30.0)));
    assert_eq!((h.kudos(&alice).await, h.kudos(&bob).await), (70.0, 30.0));
    assert_error(
        &h.post(
            "/v2/kudos/transfer",
            Some(&alice),
            json!({"username": "bob#2", "amount": -1}),
        )
        .await,
        400,
        "NegativeKudosTransfer",
    );
    assert_error(
        &h.post(
            "/v2/kudos/transfer",
            Some(&alice),
            json!({"username": "bob#2", "amount": 0}),
        )
        .await,
        400,
        "InvalidKudosTransferAmount",
    );
    assert_error(
        &h.post(
            "/v2/kudos/transfer",
            Some(&alice),
            json!({"username": "bob#2", "amount": 0.9}), // truncated to 0
        )
        .await,
        400,
        "InvalidKudosTransferAmount",
    );
    assert_error(
        &h.post(
            "/v2/kudos/transfer",
            Some(&alice),
            json!({"username": "alice#1", "amount": 1}),
        )
        .await,
        400,
        "KudosTransferToSelf",
    );
    assert_error(
        &h.post(
            "/v2/kudos/transfer",
            Some(&alice),
            json!({"username": "nobody#99", "amount": 1}),
        )
        .await,
        400,
        "InvalidTargetUsername",
    );
    // Only what is above the floor (25 for a registered account) can go.
    assert_error(
        &h.post(
            "/v2/kudos/transfer",
            Some(&alice),
            json!({"username": "bob#2", "amount": 46}),
        )
        .await,
        400,
        "KudosTransferNotEnough",
    );
    // Sending straight back is refused for a minute.
    assert_error(
        &h.post(
            "/v2/kudos/transfer",
            Some(&bob),
            json!({"username": "alice#1", "amount": 1}),
        )
        .await,
        400,
        "TooFastKudosTransfers",
    );
    h.advance(61.0).await;
    // Idempotency keys make a retried transfer succeed once.
    let mut ok = 0;
    for _ in 0..3 {
        let res = reqwest::Client::new()
            .post(format!("{}/v2/kudos/transfer", h.api))
            .header("apikey", &bob)
            .header("Idempotency-Key", "once")
            .json(&json!({"username": "alice#1", "amount": 1}))
            .send()
            .await
            .unwrap();
        ok += usize::from(res.status() == 200);
    }
    assert_eq!(ok, 3);
    assert_eq!(h.kudos(&alice).await, 71.0);
    assert_eq!(h.kudos(&bob).await, 29.0);
    // Failed transfers changed nothing.
    assert_eq!(h.kudos(&alice).await + h.kudos(&bob).await, 100.0);
}

#[tokio::test]
async fn shared_keys_spend_their_owners_kudos_within_limits() {
    let h = TestHorde::start().await;
    let alice = h.user("alice", 500.0, false).await;
    let (s, key) = h
        .put(
            "/v2/sharedkeys",
            Some(&alice),
            json!({"kudos": 20, "name": "for friends", "max_image_steps": 30}),
        )
        .await;
    assert_eq!(s, 200, "{key}");
    let sk = key["id"].as_str().unwrap().to_owned();
    assert_eq!(
        (
            key["kudos"].as_i64(),
            key["utilized"].as_i64(),
            key["username"].as_str()
        ),
        (Some(20), Some(0), Some("alice#1"))
    );
    let (s, public) = h.get(&format!("/v2/sharedkeys/{sk}"), None).await;
    assert_eq!((s, public["name"].as_str()), (200, Some("for friends")));
    assert_error(
        &h.get("/v2/sharedkeys/00000000-0000-0000-0000-000000000000", None)
            .await,
        401,
        "InvalidAPIKey",
    );

    // Usable where upstream allows, refused elsewhere.
    let (s, me) = h.get("/v2/find_user", Some(&sk)).await;
    assert_eq!(s, 200);
    assert!(
        me["username"]
            .as_str()
            .unwrap()
            .contains("(Shared Key: for friends)")
    );
    let (s, v) = h
        .post(
            "/v2/generate/async",
            Some(&sk),
            json!({"prompt": "p", "params": {"steps": 20}}),
        )
        .await;
    assert_eq!(s, 202, "{v}");
    assert_error(
        &h.post("/v2/generate/pop", Some(&sk), json!({"name": "w"}))
            .await,
        401,
        "InvalidAPIKey",
    );
    assert_error(
        &h.post(
            "/v2/kudos/transfer",
            Some(&sk),
            json!({"username": "alice#1"}),
        )
        .await,
        401,
        "InvalidAPIKey",
    );
    assert_error(
        &h.post(
            "/v2/interrogate/async",
            Some(&sk),
            json!({"forms": [{"name": "caption"}], "source_image": "https://x/y.png"}),
        )
        .await,
        401,
        "InvalidAPIKey",
    );
    // Per-job caps.
    assert_error(
        &h.post(
            "/v2/generate/async",
            Some(&sk),
            json!({"prompt": "p", "params": {"steps": 31}}),
        )
        .await,
        400,
        "BadRequest",
    );
    // The activation tax was charged to the owner and the key.
    assert_eq!(h.kudos(&alice).await, 497.0);
    let (_, k) = h.get(&format!("/v2/sharedkeys/{sk}"), None).await;
    assert_eq!(
        (k["kudos"].as_i64(), k["utilized"].as_i64()),
        (Some(17), Some(3))
    );
    // Estimates above the remaining budget are refused.
    assert_error(
        &h.post(
            "/v2/generate/async",
            Some(&sk),
            json!({"prompt": "p", "params": {"n": 4, "steps": 30, "width": 1024, "height": 1024}}),
        )
        .await,
        403,
        "SharedKeyInsufficientKudos",
    );
    // Owners modify and delete; others may not.
    let bob = h.user("bob", 0.0, false).await;
    assert_error(
        &h.patch(
            &format!("/v2/sharedkeys/{sk}"),
            Some(&bob),
            json!({"kudos": 5}),
        )
        .await,
        403,
        "NotOwner",
    );
    assert_error(
        &h.patch(&format!("/v2/sharedkeys/{sk}"), Some(&alice), json!({}))
            .await,
        400,
        "NoSharedKeyModSelected",
    );
    let (s, k) = h
        .patch(
            &format!("/v2/sharedkeys/{sk}"),
            Some(&alice),
            json!({"kudos": 0}),
        )
        .await;
    assert_eq!((s, k["kudos"].as_i64()), (200, Some(0)));
    assert_error(
        &h.post("/v2/generate/async", Some(&sk), json!({"prompt": "p"}))
            .await,
        403,
        "SharedKeyEmpty",
    );
    let (s, _) = h
        .post(
            "/v2/generate/async",
            Some(&sk),
            json!({"prompt": "p", "allow_downgrade": true}),
        )
        .await;
    assert_eq!(
        s, 202,
        "an empty key with allow_downgrade runs at the lowest priority"
    );
    // Expiry.
    let (_, k2) = h
        .put("/v2/sharedkeys", Some(&alice), json!({"expiry": 1}))
        .await;
    h.advance(2.0 * 86400.0).await;
    assert_error(
        &h.post(
            "/v2/generate/async",
            k2["id"].as_str(),
            json!({"prompt": "p"}),
        )
        .await,
        403,
        "SharedKeyExpired",
    );
    // A transfer to a key credits its owner and raises its budget.
    let (s, _) = h
        .post(
            "/v2/kudos/transfer",
            Some(&bob),
            json!({"username": sk, "amount": 1}),
        )
        .await;
    assert_eq!(s, 400, "bob has nothing above his floor");
    let (s, v) = h
        .delete(&format!("/v2/sharedkeys/{sk}"), Some(&alice))
        .await;
    assert_eq!((s, v["message"].as_str()), (200, Some("OK")));
    assert_error(
        &h.get(&format!("/v2/sharedkeys/{sk}"), None).await,
        401,
        "InvalidAPIKey",
    );
    // Bad inputs.
    assert_error(
        &h.put("/v2/sharedkeys", Some(&alice), json!({"kudos": -2}))
            .await,
        400,
        "BadRequest",
    );
    assert_error(
        &h.put("/v2/sharedkeys", Some(&alice), json!({"name": "ab"}))
            .await,
        400,
        "BadRequest",
    );
    for _ in 0..2 {
        h.put("/v2/sharedkeys", Some(&alice), json!({})).await;
    }
    assert_error(
        &h.put("/v2/sharedkeys", Some(&alice), json!({})).await,
        403,
        "TooManySharedKeys",
    );
}

#[tokio::test]
async fn upfront_kudos_are_required_for_large_requests() {
    let h = TestHorde::start().await;
    let poor = h.user("poor", 0.0, false).await;
    let rich = h.user("rich", 10_000.0, false).await;
    let big = json!({"prompt": "p", "params": {"width": 2048, "height": 2048, "steps": 50}});
    assert_error(
        &h.post("/v2/generate/async", Some(&poor), big.clone()).await,
        403,
        "KudosUpfront",
    );
    assert_eq!(h.kudos(&poor).await, 0.0, "a refused request costs nothing");
    let (s, _) = h.post("/v2/generate/async", Some(&rich), big.clone()).await;
    assert_eq!(s, 202);
    let mut downgrade = big.clone();
    downgrade["allow_downgrade"] = json!(true);
    let (s, v) = h.post("/v2/generate/async", Some(&poor), downgrade).await;
    assert_eq!(s, 202, "{v}");
    let (s, v) = h
        .post(
            "/v2/generate/async",
            Some(&poor),
            json!({"prompt": "p", "dry_run": true}),
        )
        .await;
    assert_eq!(s, 200);
    assert!(v["kudos"].as_f64().unwrap() > 0.0 && v.get("id").is_none());
    let (s, v) = h
        .post(
            "/v2/generate/text/async",
            Some(&poor),
            json!({"prompt": "p", "params": {"max_length": 1024, "max_context_length": 2048}}),
        )
        .await;
    assert_eq!((s, v["rc"].as_str()), (403, Some("KudosUpfront")));
}
