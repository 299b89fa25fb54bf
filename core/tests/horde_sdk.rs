//! The official Python SDK (horde-sdk 0.18.0, the newest that runs on Python
//! 3.11) drives our coordinator unchanged: image, text and interrogation round
//! trips, a cancel, a kudos transfer and a shared key
//! (`tests/sdk/horde_sdk_round_trips.py`).
//!
//! The SDK is installed from PyPI into a virtual environment under Cargo's
//! target directory on first run (`tests/python/horde-sdk.txt`), so the
//! README's test command needs nothing installed by hand but Python 3.11.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail by panicking

mod common;

use std::path::Path;
use std::process::Command;

use common::TestHorde;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_python_sdk_works_unchanged() {
    let python =
        tokio::task::spawn_blocking(|| common::python::venv("horde-sdk").join("bin/python"))
            .await
            .unwrap();
    let h = TestHorde::start().await;
    let requester = h.user("requester", 1000.0, true).await;
    let worker = h.user("worker", 0.0, true).await;
    h.user("friend", 0.0, false).await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/horde_sdk_round_trips.py");
    let api = format!("{}/", h.api);
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .env("AI_HORDE_URL", api)
            .env("HORDE_REQUESTER_KEY", requester)
            .env("HORDE_WORKER_KEY", worker)
            .env("HORDE_RECIPIENT", "friend#3")
            .env("PYTHONUNBUFFERED", "1")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("horde-sdk: all scenarios passed"),
        "the SDK scenarios failed:\n{stdout}\n{stderr}"
    );
}
