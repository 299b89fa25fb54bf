//! The async client against our coordinator over real HTTP, and against stub
//! servers for what a healthy coordinator never does (429s, malformed JSON,
//! vanishing).

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail by panicking

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{TINY_WEBP, TestHorde};
use horde_core::api::{ImageGenerateRequest, ImageParams, Rc, TextGenerateRequest};
use horde_core::client::lifecycle::{Note, Policy};
use horde_core::client::{ClientConfig, HordeClient};
use serde_json::json;

fn client(api: &str, key: &str) -> HordeClient {
    let mut config = ClientConfig::new("horde-rs-tests:0.1:https://example.invalid");
    config.base_url = api.to_owned();
    config.api_key = key.to_owned();
    HordeClient::new(config).unwrap()
}

fn fast() -> Policy {
    Policy {
        min_poll: 0.02,
        max_poll: 0.05,
        backoff: 0.01,
        max_backoff: 0.05,
        ..Policy::default()
    }
}

/// Plays an image worker: serves `count` jobs, uploading a WebP each.
fn image_worker(h: &TestHorde, key: String, count: usize) -> tokio::task::JoinHandle<()> {
    let api = h.api.clone();
    tokio::spawn(async move {
        let http = reqwest::Client::new();
        let mut served = 0;
        while served < count {
            let pop: serde_json::Value = http
                .post(format!("{api}/v2/generate/pop"))
                .header("apikey", &key)
                .json(&json!({"name": "tester", "models": ["stable_diffusion"]}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let Some(id) = pop["id"].as_str() else {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            };
            http.put(pop["r2_upload"].as_str().unwrap())
                .body(TINY_WEBP)
                .send()
                .await
                .unwrap();
            http.post(format!("{api}/v2/generate/submit"))
                .header("apikey", &key)
                .json(&json!({"id": id, "generation": "R2", "seed": 9}))
                .send()
                .await
                .unwrap();
            served += 1;
        }
    })
}

/// Plays a text worker: serves one job with `generation`.
fn text_worker(
    h: &TestHorde,
    key: String,
    generation: &'static str,
) -> tokio::task::JoinHandle<()> {
    let api = h.api.clone();
    tokio::spawn(async move {
        let http = reqwest::Client::new();
        loop {
            let pop: serde_json::Value = http
                .post(format!("{api}/v2/generate/text/pop"))
                .header("apikey", &key)
                .json(&json!({"name": "scribe", "models": ["m-7B"]}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if let Some(id) = pop["id"].as_str() {
                http.post(format!("{api}/v2/generate/text/submit"))
                    .header("apikey", &key)
                    .json(&json!({"id": id, "generation": generation}))
                    .send()
                    .await
                    .unwrap();
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
}

#[tokio::test]
async fn images_and_texts_run_to_completion() {
    let h = TestHorde::start().await;
    let requester = h.user("req", 100.0, false).await;
    let owner = h.user("owner", 0.0, true).await;
    let c = client(&h.api, &requester);
    let worker = image_worker(&h, owner.clone(), 2);
    let mut req = ImageGenerateRequest::new("a potion");
    req.params = Some(ImageParams {
        n: Some(2),
        ..Default::default()
    });
    let mut notes = Vec::new();
    let status = c
        .generate_image(&req, fast(), None, |n| notes.push(n.clone()))
        .await
        .unwrap();
    worker.await.unwrap();
    assert_eq!(status.generations.len(), 2);
    assert_eq!(notes.last(), Some(&Note::Completed));
    assert!(
        notes
            .iter()
            .any(|n| matches!(n, Note::Progress { finished: 2, .. })),
        "{notes:?}"
    );
    let bytes = c.download(&status.generations[0].img).await.unwrap();
    assert_eq!(bytes, TINY_WEBP);
    assert!(c.estimate_image(&req).await.unwrap().kudos > 0.0);
    assert_eq!(c.find_user().await.unwrap().username, "req#1");

    // Text: no /check; the status is polled until done.
    let scribe = text_worker(&h, owner, "once upon a time");
    let status = c
        .generate_text(&TextGenerateRequest::new("Tell me"), fast(), None, |_| {})
        .await
        .unwrap();
    scribe.await.unwrap();
    assert_eq!(status.generations[0].text, "once upon a time");
    let models = c.models("image").await.unwrap();
    assert!(models.iter().any(|m| m.name == "stable_diffusion"));
}

#[tokio::test]
async fn refusals_and_expiry_fail_clearly() {
    let h = TestHorde::start().await;
    let bad = client(&h.api, "not-a-key");
    let err = bad
        .generate_image(&ImageGenerateRequest::new("x"), fast(), None, |_| {})
        .await
        .unwrap_err();
    assert_eq!(err.rc, Some(Rc::InvalidAPIKey));

    // Expired: the request vanishes 20 minutes after its last activity.
    let key = h.user("req", 100.0, false).await;
    let c = client(&h.api, &key);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let run = tokio::spawn(async move {
        c.generate_image(
            &ImageGenerateRequest::new("forgotten"),
            fast(),
            None,
            move |n| {
                let _ = tx.send(n.clone());
            },
        )
        .await
    });
    while !matches!(rx.recv().await, Some(Note::Queued { .. })) {}
    h.advance(21.0 * 60.0).await;
    let err = run.await.unwrap().unwrap_err();
    assert_eq!(err.rc, Some(Rc::Unknown("RequestExpired".into())), "{err}");
}

#[tokio::test]
async fn a_vanished_server_fails_without_hanging() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener); // nothing listens there now
    let c = client(&format!("http://{addr}/api"), "0000000000");
    let policy = Policy {
        give_up_after: 0.3,
        ..fast()
    };
    let mut notes = Vec::new();
    let err = c
        .generate_image(&ImageGenerateRequest::new("x"), policy, None, |n| {
            notes.push(n.clone())
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.rc,
        Some(Rc::Unknown("ServerUnreachable".into())),
        "{err}"
    );
    assert!(err.message.contains("onnect"), "the cause is kept: {err}");
    let (last, retries) = notes.split_last().unwrap();
    assert!(matches!(last, Note::Failed(_)), "{notes:?}");
    assert!(
        !retries.is_empty()
            && retries.iter().all(|n| matches!(
                n,
                Note::Retrying {
                    cause: horde_core::client::lifecycle::RetryCause::Unreachable(_),
                    ..
                }
            )),
        "{notes:?}"
    );
}

/// A stub horde: the first async call is rate-limited, later ones succeed;
/// checks say done; the status body is malformed when `malformed` is set.
async fn stub(malformed: bool) -> (String, Arc<AtomicUsize>) {
    use axum::routing::{get, post};
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let app = axum::Router::new()
        .route(
            "/api/v2/generate/async",
            post(move || {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n == 0 {
                        (axum::http::StatusCode::TOO_MANY_REQUESTS, [("retry-after", "0")], "{\"message\": \"2 per 1 second\"}")
                            .into_response_parts()
                    } else {
                        (axum::http::StatusCode::ACCEPTED, [("retry-after", "0")], "{\"id\": \"stub-1\", \"kudos\": 3.0}").into_response_parts()
                    }
                }
            }),
        )
        .route(
            "/api/v2/generate/check/{id}",
            get(|| async {
                "{\"finished\": 1, \"processing\": 0, \"restarted\": 0, \"waiting\": 0, \"done\": true, \"faulted\": false, \"wait_time\": 0, \"queue_position\": 0, \"kudos\": 4.0, \"is_possible\": true}"
            }),
        )
        .route(
            "/api/v2/generate/status/{id}",
            get(move || async move {
                if malformed {
                    "{\"generations\": \"not a list\""
                } else {
                    "{\"generations\": [], \"shared\": false, \"finished\": 1, \"processing\": 0, \"restarted\": 0, \"waiting\": 0, \"done\": true, \"faulted\": false, \"wait_time\": 0, \"queue_position\": 0, \"kudos\": 4.0, \"is_possible\": true}"
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/api"), calls)
}

trait Parts {
    fn into_response_parts(self) -> axum::response::Response;
}

impl<T: axum::response::IntoResponse> Parts for T {
    fn into_response_parts(self) -> axum::response::Response {
        self.into_response()
    }
}

#[tokio::test]
async fn rate_limits_are_waited_out_and_malformed_answers_are_reported() {
    let (api, calls) = stub(false).await;
    let c = client(&api, "0000000000");
    let status = c
        .generate_image(&ImageGenerateRequest::new("x"), fast(), None, |_| {})
        .await
        .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2, "429, then accepted");
    assert!(status.check.done);

    let (api, _) = stub(true).await;
    let c = client(&api, "0000000000");
    let err = c
        .generate_image(&ImageGenerateRequest::new("x"), fast(), None, |_| {})
        .await
        .unwrap_err();
    assert_eq!(
        err.rc,
        Some(Rc::Unknown("MalformedResponse".into())),
        "{err}"
    );
    assert!(err.message.contains("not a list"), "{err}");
}

#[tokio::test]
async fn faulted_requests_and_bad_client_agents_fail_clearly() {
    let h = TestHorde::start().await;
    let key = h.user("req", 100.0, false).await;
    let owner = h.user("owner", 0.0, true).await;
    let c = client(&h.api, &key);
    let api = h.api.clone();
    let saboteur = tokio::spawn(async move {
        let http = reqwest::Client::new();
        let mut faults = 0;
        // An n=1 request faulted twice is over, as upstream ends it.
        while faults < 2 {
            let pop: serde_json::Value = http
                .post(format!("{api}/v2/generate/pop"))
                .header("apikey", &owner)
                .json(&json!({"name": "broken", "models": ["stable_diffusion"]}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if let Some(id) = pop["id"].as_str() {
                http.post(format!("{api}/v2/generate/submit"))
                    .header("apikey", &owner)
                    .json(&json!({"id": id, "state": "faulted", "seed": 0}))
                    .send()
                    .await
                    .unwrap();
                faults += 1;
            } else {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        }
    });
    let mut notes = Vec::new();
    let err = c
        .generate_image(&ImageGenerateRequest::new("cursed"), fast(), None, |n| {
            notes.push(n.clone())
        })
        .await
        .unwrap_err();
    saboteur.await.unwrap();
    assert_eq!(err.rc, Some(Rc::Unknown("RequestFaulted".into())), "{err}");
    assert!(matches!(notes.last(), Some(Note::Failed(_))), "{notes:?}");

    for agent in ["", "no-colons", "a::c", "name:1:"] {
        let mut config = ClientConfig::new(agent);
        config.base_url = h.api.clone();
        assert!(
            HordeClient::new(config).is_err(),
            "{agent:?} should be refused"
        );
    }
}

/// A stand-in answering with bodies recorded from a real upstream horde:
/// `async`, then each `check` in turn (the last repeats), then `status`.
async fn replay(accepted: &str, checks: &[&str], status: &str, text: bool) -> String {
    let capture = |name: &str| common::capture(name).to_string();
    let accepted = capture(accepted);
    let checks: Arc<Vec<String>> = Arc::new(checks.iter().map(|c| capture(c)).collect());
    let status = if status.is_empty() {
        String::new()
    } else {
        capture(status)
    };
    let polls = Arc::new(AtomicUsize::new(0));
    let check = move || {
        let n = polls.fetch_add(1, Ordering::SeqCst).min(checks.len() - 1);
        let body = checks[n].clone();
        async move { body }
    };
    let (base, check_path, status_path) = if text {
        (
            "/api/v2/generate/text",
            "/api/v2/generate/text/status/{id}",
            "",
        )
    } else {
        (
            "/api/v2/generate",
            "/api/v2/generate/check/{id}",
            "/api/v2/generate/status/{id}",
        )
    };
    let accepted_route = move || {
        let body = accepted.clone();
        async move { (axum::http::StatusCode::ACCEPTED, body) }
    };
    let mut app = axum::Router::new()
        .route(
            &format!("{base}/async"),
            axum::routing::post(accepted_route),
        )
        .route(check_path, axum::routing::get(check));
    if !text {
        app = app.route(
            status_path,
            axum::routing::get(move || {
                let body = status.clone();
                async move { body }
            }),
        );
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/api")
}

#[tokio::test]
async fn requests_end_as_against_upstream_on_its_recorded_answers() {
    // An image request that waits, is partly done, then done (r2: true).
    let api = replay(
        "image_async__accepted_r2_true",
        &["image_check__partial_1_of_2", "image_check__done"],
        "image_status__done_r2_true",
        false,
    )
    .await;
    let c = client(&api, "0000000000");
    let status = c
        .generate_image(&ImageGenerateRequest::new("x"), fast(), None, |_| {})
        .await
        .unwrap();
    assert!(status.check.done && !status.generations.is_empty());

    // n=1, faulted twice: upstream calls it done with nothing made; the
    // client reports a failure, not an empty success.
    let api = replay(
        "image_async__accepted_r2_true",
        &["image_check__n1_after_two_faults"],
        "image_status__n1_after_two_faults",
        false,
    )
    .await;
    let err = client(&api, "0000000000")
        .generate_image(&ImageGenerateRequest::new("x"), fast(), None, |_| {})
        .await
        .unwrap_err();
    assert_eq!(err.rc, Some(Rc::Unknown("RequestFaulted".into())), "{err}");

    // A text request: waiting, processing, done (text polls its status).
    let api = replay(
        "text_async__accepted",
        &[
            "text_status__waiting",
            "text_status__processing",
            "text_status__done",
        ],
        "",
        true,
    )
    .await;
    let status = client(&api, "0000000000")
        .generate_text(&TextGenerateRequest::new("Once"), fast(), None, |_| {})
        .await
        .unwrap();
    assert!(status.check.done);
    assert!(!status.generations[0].text.is_empty());
}

/// Beyond upstream: `?wait=` holds a status answer until the request moves.
/// With polls 30 s apart, only held answers deliver within the test's bound;
/// the recorded-upstream stand-ins above (which ignore the parameter and
/// send no header) show the same client polling at its cadence there.
#[tokio::test]
async fn held_status_answers_deliver_results_as_soon_as_they_are_done() {
    let h = TestHorde::start().await;
    let requester = h.user("req", 100.0, false).await;
    let owner = h.user("owner", 0.0, true).await;
    let c = client(&h.api, &requester);
    let slow_polls = Policy {
        min_poll: 30.0,
        max_poll: 30.0,
        long_poll: 10.0,
        ..Policy::default()
    };
    let dreamer = image_worker(&h, owner.clone(), 1);
    let bound = std::time::Duration::from_secs(25);
    let status = tokio::time::timeout(
        bound,
        c.generate_image(
            &ImageGenerateRequest::new("a potion"),
            slow_polls.clone(),
            None,
            |_| {},
        ),
    )
    .await
    .expect("delivered by held answers, not 30-second polls")
    .unwrap();
    dreamer.await.unwrap();
    assert_eq!(status.generations.len(), 1);

    // The route itself: held answers are marked; a bad wait is a 400.
    let http = reqwest::Client::new();
    let queued = c
        .submit_image(&ImageGenerateRequest::new("never served"))
        .await
        .unwrap()
        .id
        .0;
    let check = format!("{}/v2/generate/check/{queued}", h.api);
    let plain = http.get(&check).send().await.unwrap();
    assert!(
        !plain
            .headers()
            .contains_key(horde_core::api::LONG_POLL_HEADER)
    );
    let held = http.get(format!("{check}?wait=0.5")).send().await.unwrap();
    assert_eq!(held.status(), 200);
    assert!(
        held.headers()
            .contains_key(horde_core::api::LONG_POLL_HEADER)
    );
    let body: serde_json::Value = held.json().await.unwrap();
    assert_eq!(
        body["waiting"], 1,
        "nothing moved: the same answer, after the wait"
    );
    let bad = http.get(format!("{check}?wait=soon")).send().await.unwrap();
    assert_eq!(bad.status(), 400);
    let body: serde_json::Value = bad.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().starts_with("wait:"),
        "{body}"
    );
    assert_eq!(body["rc"], "BadRequest");
    // An id the horde does not know is answered at once, never held.
    let unknown = format!(
        "{}/v2/generate/check/00000000-0000-0000-0000-000000000000?wait=20",
        h.api
    );
    let gone = tokio::time::timeout(std::time::Duration::from_secs(10), http.get(unknown).send())
        .await
        .expect("not held")
        .unwrap();
    assert_eq!(gone.status(), 404);
    assert!(
        !gone
            .headers()
            .contains_key(horde_core::api::LONG_POLL_HEADER)
    );
    let body: serde_json::Value = gone.json().await.unwrap();
    assert_eq!(body["rc"], "RequestNotFound");

    // Text is held the same way (its status is its check).
    let scribe = text_worker(&h, owner, "held");
    let text = tokio::time::timeout(
        bound,
        c.generate_text(
            &TextGenerateRequest::new("Tell me"),
            slow_polls,
            None,
            |_| {},
        ),
    )
    .await
    .expect("delivered by held answers")
    .unwrap();
    scribe.await.unwrap();
    assert_eq!(text.generations[0].text, "held");
}
