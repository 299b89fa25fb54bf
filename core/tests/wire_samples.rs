//! Every body captured from upstream parses into our types and serialises back
//! to the same JSON value (key order aside); [`upstream`] does the same for
//! the whole corpus recorded from a real upstream server.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail by panicking

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use horde_core::api::*;
use serde::Serialize;
use serde::de::DeserializeOwned;

#[path = "wire_samples/upstream.rs"]
mod upstream;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/wire")
}

fn load(name: &str) -> serde_json::Value {
    let path = fixture_dir().join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

/// Parses the fixture as `T` and checks the round trip; returns the value.
fn round_trip<T: DeserializeOwned + Serialize>(name: &str) -> T {
    let original = load(name);
    let parsed: T = serde_json::from_value(original.clone()).unwrap_or_else(|e| {
        panic!(
            "{name} does not parse as {}: {e}",
            std::any::type_name::<T>()
        )
    });
    let back = serde_json::to_value(&parsed).expect("serialises");
    assert_eq!(back, original, "{name} does not round-trip");
    parsed
}

macro_rules! fixtures {
    ($($name:ident => $ty:ty),+ $(,)?) => {
        $(
            #[test]
            fn $name() {
                let _: $ty = round_trip(stringify!($name));
            }
        )+

        #[test]
        fn every_fixture_is_covered() {
            let covered: BTreeSet<&str> = [$(stringify!($name)),+].into();
            let on_disk: BTreeSet<String> = std::fs::read_dir(fixture_dir())
                .expect("fixture dir")
                .filter_map(|e| {
                    let p = e.ok()?.path();
                    (p.extension()? == "json").then(|| p.file_stem()?.to_str().map(str::to_owned))?
                })
                .collect();
            let on_disk: BTreeSet<&str> = on_disk.iter().map(String::as_str).collect();
            assert_eq!(covered, on_disk);
        }
    };
}

fixtures! {
    image_async_request => ImageGenerateRequest,
    image_async_response => RequestAsyncResponse,
    image_check_queued => RequestStatusCheck,
    image_pop_request => ImagePopRequest,
    image_pop_response => ImagePopResponse,
    image_submit_r2_request => ImageSubmitRequest,
    image_submit_base64_request => ImageSubmitRequest,
    image_submit_response => SubmitResponse,
    image_check_done => RequestStatusCheck,
    image_status_done => ImageStatus,
    image_pop_empty => ImagePopResponse,
    text_async_request => TextGenerateRequest,
    text_async_response => RequestAsyncResponse,
    text_status_queued => TextStatus,
    text_pop_request => TextPopRequest,
    text_pop_response => TextPopResponse,
    text_submit_request => TextSubmitRequest,
    text_submit_response => SubmitResponse,
    text_status_done => TextStatus,
    text_pop_empty => TextPopResponse,
    error_request_not_found => ErrorBody,
    error_invalid_api_key => ErrorBody,
    error_duplicate_gen => ErrorBody,
    error_invalid_job_id => ErrorBody,
    error_validation_missing_prompt => ErrorBody,
    error_rate_limited => ErrorBody,
    heartbeat => Heartbeat,
}

#[test]
fn typed_values_are_what_upstream_meant() {
    let req: ImageGenerateRequest = round_trip("image_async_request");
    let params = req.params();
    assert_eq!((params.width(), params.height(), params.n()), (512, 512, 2));
    assert_eq!(params.sampler(), Sampler::KEuler);
    assert!(!req.nsfw() && req.r2());

    let pop: ImagePopResponse = round_trip("image_pop_response");
    assert_eq!(pop.payload.settings.seed.as_deref(), Some("181876399"));
    assert_eq!(pop.payload.seed_number(), Some(181_876_399));
    assert_eq!(pop.ids.len(), 1);
    assert_eq!(pop.ttl, Some(150));
    assert_eq!(pop.source_processing, SourceProcessing::Img2img);
    assert!(pop.r2_upload.is_some());

    let empty: ImagePopResponse = round_trip("image_pop_empty");
    assert!(empty.id.is_none() && empty.ids.is_empty());
    assert_eq!(empty.skipped.models, Some(0));
    assert_eq!(empty.skipped.post_processing, Some(0));

    let submit: ImageSubmitRequest = round_trip("image_submit_r2_request");
    assert_eq!(submit.seed, 181_876_399);
    assert_eq!(submit.generation.as_deref(), Some(R2_SUBMITTED));

    let status: ImageStatus = round_trip("image_status_done");
    assert!(status.check.done);
    assert_eq!(status.generations[1].seed, "12345");
    assert_eq!(status.check.kudos, 17.0);

    let text: TextStatus = round_trip("text_status_done");
    assert_eq!(text.generations[0].seed, 42);
    assert_eq!(text.generations[0].id, None);

    let err: ErrorBody = round_trip("error_duplicate_gen");
    assert_eq!(err.rc, Some(Rc::DuplicateGen));
    assert_eq!(err.http_status(), 400);
    let err: ErrorBody = round_trip("error_invalid_api_key");
    assert_eq!(err.http_status(), 401);
    let err: ErrorBody = round_trip("error_validation_missing_prompt");
    assert_eq!(err.rc, None);
    assert!(err.errors.is_some_and(|e| e.contains_key("prompt")));
}

#[test]
fn unknown_codes_and_fields_are_tolerated() {
    let err: ErrorBody =
        serde_json::from_str(r#"{"message":"x","rc":"BrandNewCode","extra":1}"#).expect("parses");
    assert_eq!(err.rc, Some(Rc::Unknown("BrandNewCode".into())));
    assert_eq!(
        serde_json::to_string(&err).expect("serialises"),
        r#"{"message":"x","rc":"BrandNewCode"}"#
    );
    let dotted: Rc = serde_json::from_str(r#""InvalidExtraSourceImages.""#).expect("parses");
    assert_eq!(dotted, Rc::InvalidExtraSourceImages);

    let mut pop = load("image_pop_response");
    pop["payload"]["sampler_name"] = "k_future_sampler".into();
    pop["brand_new_field"] = serde_json::json!({"a": 1});
    let parsed: ImagePopResponse = serde_json::from_value(pop).expect("parses");
    assert_eq!(
        parsed.payload.settings.sampler_name,
        Some(Sampler::Other("k_future_sampler".into()))
    );
}

#[test]
fn return_codes_travel_with_upstreams_status() {
    let cases = [
        (Rc::MissingPrompt, 400),
        (Rc::MaintenanceMode, 400),
        (Rc::InvalidAPIKey, 401),
        (Rc::WrongCredentials, 403),
        (Rc::KudosUpfront, 403),
        (Rc::AnonForbiddenWorker, 403),
        (Rc::RequestNotFound, 404),
        (Rc::InvalidJobID, 404),
        (Rc::RequestExpired, 410),
        (Rc::Locked, 423),
        (Rc::TooManyPrompts, 429),
        (Rc::Unknown("Whatever".into()), 400),
    ];
    for (rc, status) in cases {
        assert_eq!(rc.http_status(), status, "{rc}");
        assert_eq!(ErrorBody::new(rc, "m").http_status(), status);
    }
    for name in Rc::KNOWN {
        let rc = Rc::from(*name);
        assert!(rc.is_known());
        assert_eq!(rc.as_str(), *name);
        assert!((400..500).contains(&rc.http_status()));
    }
}

#[test]
fn paths_cover_the_endpoints_the_samples_use() {
    assert_eq!(
        paths::fill(paths::GENERATE_STATUS, "id", "abc"),
        "/v2/generate/status/abc"
    );
    assert_eq!(paths::TEXT_POP, "/v2/generate/text/pop");
}
