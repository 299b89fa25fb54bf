//! proptest over every endpoint's JSON body: whatever arrives, the server
//! answers (never a 5xx, never a hang), and a refused request leaves every
//! balance as it was.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail by panicking

mod common;

use common::TestHorde;
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Field names the endpoints read, so random bodies reach deep into parsing.
const FIELDS: &[&str] = &[
    "prompt",
    "params",
    "n",
    "width",
    "height",
    "steps",
    "sampler_name",
    "cfg_scale",
    "seed",
    "seed_variation",
    "post_processing",
    "loras",
    "tis",
    "name",
    "models",
    "nsfw",
    "r2",
    "source_image",
    "source_mask",
    "source_processing",
    "workers",
    "worker_blacklist",
    "trusted_workers",
    "slow_workers",
    "dry_run",
    "allow_downgrade",
    "webhook",
    "amount",
    "threads",
    "max_pixels",
    "max_length",
    "max_context_length",
    "id",
    "generation",
    "state",
    "gen_metadata",
    "username",
    "forms",
    "result",
    "kudos",
    "expiry",
    "maintenance",
    "paused",
    "info",
    "team",
    "concurrency",
    "trusted",
    "priority_usernames",
    "blacklist",
    "stop_sequence",
    "sampler_order",
    "temperature",
    "control_type",
    "maintenance_mode",
    "censored",
];

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-3i64..3000).prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |x| x.is_finite())
            .prop_map(Value::from),
        any::<String>().prop_map(Value::from),
        prop::sample::select(vec![
            "R2",
            "ok",
            "faulted",
            "csam",
            "k_euler",
            "stable_diffusion",
            "caption",
            "0000000000",
            "alice#1",
            "GFPGAN",
            "inpainting",
            ""
        ])
        .prop_map(Value::from),
    ]
}

fn json() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 48, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (prop::sample::select(FIELDS).prop_map(str::to_owned), inner),
                0..8
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

const ENDPOINTS: &[(&str, &str)] = &[
    ("POST", "/v2/generate/async"),
    ("POST", "/v2/generate/text/async"),
    ("POST", "/v2/interrogate/async"),
    ("POST", "/v2/generate/pop"),
    ("POST", "/v2/generate/text/pop"),
    ("POST", "/v2/interrogate/pop"),
    ("POST", "/v2/generate/submit"),
    ("POST", "/v2/generate/text/submit"),
    ("POST", "/v2/interrogate/submit"),
    ("POST", "/v2/kudos/transfer"),
    ("PUT", "/v2/sharedkeys"),
    ("PUT", "/v2/users/2"),
    ("PUT", "/v2/workers/unknown"),
    ("PUT", "/v2/status/modes"),
    ("PATCH", "/v2/sharedkeys/unknown"),
];

#[test]
fn no_body_breaks_the_server_or_moves_kudos_when_refused() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let h = rt.block_on(TestHorde::start());
    let keys: Vec<String> = rt.block_on(async {
        vec![
            h.user("alice", 1000.0, false).await,
            h.user("bob", 50.0, true).await,
            "0000000000".to_owned(),
        ]
    });
    let client = reqwest::Client::new();
    let balances = |rt: &tokio::runtime::Runtime| -> Vec<f64> {
        rt.block_on(async { futures_balances(&h, &keys[..2]).await })
    };
    let config = ProptestConfig {
        cases: 400,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(endpoint in 0..ENDPOINTS.len(), who in 0..3usize, body in json(), raw in prop::option::weighted(0.1, any::<Vec<u8>>()))| {
        let (method, path) = ENDPOINTS[endpoint];
        let before = balances(&rt);
        let (status, answer) = rt.block_on(async {
            let req = client
                .request(method.parse().unwrap(), format!("{}{path}", h.api))
                .header("apikey", &keys[who])
                .header("content-type", "application/json");
            let req = match &raw {
                Some(bytes) => req.body(bytes.clone()),
                None => req.body(body.to_string()),
            };
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            (status, res.text().await.unwrap())
        });
        prop_assert!(status < 500, "{method} {path} {body} → {status} {answer}");
        if status >= 400 {
            let v: Value = serde_json::from_str(&answer).unwrap_or(Value::Null);
            prop_assert!(v["message"].is_string() && v["rc"].is_string(), "{status} {answer}");
            prop_assert_eq!(balances(&rt), before, "refused {} {} {} moved kudos", method, path, body);
        }
    });
}

async fn futures_balances(h: &TestHorde, keys: &[String]) -> Vec<f64> {
    let mut out = Vec::new();
    for k in keys {
        out.push(h.kudos(k).await);
    }
    out
}
