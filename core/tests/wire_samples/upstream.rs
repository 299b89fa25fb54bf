//! Every response body recorded from a real upstream AI Horde (5.1.5, in
//! `fixtures/upstream/`, copied from `shared/reference/upstream-captures/`)
//! parses into the `horde_core::api` type our client reads it with, and the
//! parse → serialise → parse round trip keeps every value upstream sent. A
//! wire type changed back to refuse a `null`, a missing field or an integer
//! where it expects a float fails here.
//!
//! Files are `<endpoint>__<variant>.json`, indexed with the HTTP status
//! upstream answered in the corpus's `README.md`; bodies of a 4xx or 5xx
//! are error bodies. Endpoints our API has no types for yet (styles, teams, filters,
//! IP operations, worker messages: the moderation issue) are listed in
//! [`UNTYPED`] and only their error bodies are parsed.

use std::fmt::Debug;
use std::path::{Path, PathBuf};

use horde_core::api::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upstream")
}

/// Endpoints whose success bodies have no type in `horde_core::api` yet.
const UNTYPED: &[&str] = &[
    "collection_by_name",
    "collection_delete",
    "collection_patch",
    "collection_post",
    "collection_single",
    "collections_list",
    "filter_check",
    "filter_delete",
    "filter_patch",
    "filter_put",
    "filter_single",
    "filters_list",
    "filters_regex",
    "operations_ipaddr_delete",
    "operations_ipaddr_list",
    "operations_ipaddr_post",
    "operations_ipaddr_single",
    "style_image_by_name",
    "style_image_delete",
    "style_image_example_post",
    "style_image_patch",
    "style_image_post",
    "style_image_single",
    "style_text_by_name",
    "style_text_delete",
    "style_text_post",
    "style_text_single",
    "styles_image_list",
    "styles_text_list",
    "team_delete",
    "team_patch",
    "team_post",
    "team_single",
    "teams_list",
    "worker_message_delete",
    "worker_message_single",
    "worker_messages_list",
    "worker_messages_post",
];

/// Where `back` loses or changes a value `original` holds. `null` in the
/// original may come back as absent; numbers compare by value (`8` = `8.0`).
fn lost_values(path: &str, original: &Value, back: Option<&Value>, out: &mut Vec<String>) {
    match (original, back) {
        (Value::Null, None | Some(Value::Null)) => {}
        (Value::Object(o), Some(Value::Object(b))) => {
            for (k, v) in o {
                lost_values(&format!("{path}.{k}"), v, b.get(k), out);
            }
        }
        // An empty object upstream may come back as absent.
        (Value::Object(o), None) if o.is_empty() => {}
        (Value::Array(o), Some(Value::Array(b))) if o.len() == b.len() => {
            for (i, v) in o.iter().enumerate() {
                lost_values(&format!("{path}[{i}]"), v, b.get(i), out);
            }
        }
        (Value::Number(o), Some(Value::Number(b))) if o.as_f64() == b.as_f64() => {}
        (o, Some(b)) if o == b => {}
        (o, b) => out.push(format!("{path}: {o} came back as {b:?}")),
    }
}

/// Parses `body` as `T`, serialises it and parses that again: the values
/// must survive both ways. Answers what went wrong.
fn check<T: DeserializeOwned + Serialize + PartialEq + Debug>(
    name: &str,
    body: &Value,
) -> Result<(), String> {
    let ty = std::any::type_name::<T>();
    let parsed: T =
        serde_json::from_value(body.clone()).map_err(|e| format!("{name} ({ty}): {e}"))?;
    let back = serde_json::to_value(&parsed).expect("serialises");
    let mut lost = Vec::new();
    lost_values("$", body, Some(&back), &mut lost);
    if !lost.is_empty() {
        return Err(format!("{name} ({ty}): the round trip lost {lost:?}"));
    }
    let again: T = serde_json::from_value(back)
        .map_err(|e| format!("{name} ({ty}): our own output does not parse: {e}"))?;
    if again != parsed {
        return Err(format!("{name} ({ty}): the second parse differs"));
    }
    Ok(())
}

/// The HTTP status of each capture, from the README's tables
/// (`| \`file\` | method | path | variant | who | status | …`).
fn statuses() -> std::collections::HashMap<String, u16> {
    let readme = std::fs::read_to_string(fixture_dir().join("README.md")).expect("README.md");
    readme
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let file = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            let status = cells.get(6)?.parse().ok()?;
            Some((file.to_owned(), status))
        })
        .collect()
}

/// Checks one capture with the type its endpoint answers with; `None`
/// when the endpoint is not one this table knows.
fn check_capture(
    endpoint: &str,
    variant: &str,
    status: u16,
    name: &str,
    body: &Value,
) -> Option<Result<(), String>> {
    if status >= 400 {
        return Some(check::<ErrorBody>(name, body));
    }
    Some(match endpoint {
        "find_user" | "user_single" => check::<UserDetails>(name, body),
        "users_list" => check::<Vec<UserDetails>>(name, body),
        "user_put" => check::<ModifyUserResponse>(name, body),
        "user_delete" | "sharedkey_delete" => check::<SimpleResponse>(name, body),
        "image_async" | "text_async" if variant == "dry_run" => check::<KudosEstimate>(name, body),
        "image_async" | "text_async" => check::<RequestAsyncResponse>(name, body),
        "image_check" => check::<RequestStatusCheck>(name, body),
        "image_status" | "image_status_delete" => check::<ImageStatus>(name, body),
        "image_pop" => check::<ImagePopResponse>(name, body),
        "image_submit" | "text_submit" | "interrogate_submit" => {
            check::<SubmitResponse>(name, body)
        }
        "text_status" | "text_status_delete" => check::<TextStatus>(name, body),
        "text_pop" => check::<TextPopResponse>(name, body),
        "interrogate_async" => check::<InterrogationAsyncResponse>(name, body),
        "interrogate_pop" => check::<InterrogationPopResponse>(name, body),
        "interrogate_status" | "interrogate_status_delete" => {
            check::<InterrogationStatus>(name, body)
        }
        "kudos_transfer" => check::<KudosTransferResponse>(name, body),
        "sharedkey_get" | "sharedkey_put" | "sharedkey_patch" => {
            check::<SharedKeyDetails>(name, body)
        }
        "stats_img_models" | "stats_text_models" => check::<ModelStats>(name, body),
        "stats_img_totals" => check::<ImageStatsTotals>(name, body),
        "stats_text_totals" => check::<TextStatsTotals>(name, body),
        "status_heartbeat" => check::<Heartbeat>(name, body),
        "status_models" | "status_model_single" => check::<Vec<ActiveModel>>(name, body),
        "status_modes" | "status_modes_put" => check::<HordeModes>(name, body),
        "status_performance" => check::<HordePerformance>(name, body),
        "worker_single" | "worker_by_name" => check::<WorkerDetails>(name, body),
        "workers_list" => check::<Vec<WorkerDetails>>(name, body),
        "worker_put" => check::<ModifyWorkerResponse>(name, body),
        "worker_delete" => check::<DeletedWorker>(name, body),
        e if UNTYPED.contains(&e) => Ok(()),
        _ => return None,
    })
}

#[test]
fn every_captured_upstream_body_parses_and_round_trips() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixture_dir())
        .expect("fixture dir")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    let statuses = statuses();
    files.sort();
    assert!(files.len() > 350, "captures missing: {}", files.len());
    let (mut unknown, mut failed) = (Vec::new(), Vec::new());
    for path in &files {
        let name = path.file_name().unwrap().to_str().unwrap();
        let stem = name.strip_suffix(".json").expect("only JSON bodies");
        let (endpoint, variant) = stem.split_once("__").expect("endpoint__variant");
        let text = std::fs::read_to_string(path).unwrap();
        let body: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let status = *statuses
            .get(name)
            .unwrap_or_else(|| panic!("{name} is not in README.md"));
        match check_capture(endpoint, variant, status, name, &body) {
            None => unknown.push(name.to_owned()),
            Some(Err(e)) => failed.push(e),
            Some(Ok(())) => {}
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} captures fail:\n{}",
        failed.len(),
        files.len(),
        failed.join("\n")
    );
    assert!(
        unknown.is_empty(),
        "captures of endpoints this test does not know: {unknown:?}"
    );
}

#[test]
fn the_nulls_upstream_sends_are_read_as_absent() {
    let load = |name: &str| -> Value {
        let text = std::fs::read_to_string(fixture_dir().join(name)).unwrap();
        serde_json::from_str(&text).unwrap()
    };
    // An idle alchemist's pop: no forms, not an error.
    let pop: InterrogationPopResponse =
        serde_json::from_value(load("interrogate_pop__empty_nothing_queued.json")).unwrap();
    assert!(pop.forms.is_empty());
    // A worker that has earned nothing yet, as the maintenance switch reads it.
    let worker: WorkerDetails =
        serde_json::from_value(load("worker_single__interrogation_anonymous.json")).unwrap();
    assert_eq!(worker.kudos_details.generated, None);
    assert_eq!(worker.kudos_details.uptime, None);
}
