//! The `horde` binary as a worker and as the demo: `horde worker --config
//! worker.toml` serves requests with a status line and, on Ctrl-C (SIGINT),
//! finishes, enters maintenance and exits cleanly; `horde demo` writes its
//! picture and prints the caption; a bad worker file is refused clearly.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail by panicking

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::TestHorde;
use common::workers::generate_image;
use horde_core::worker::backends::procedural::{PROCEDURAL_MODEL, draw};
use serde_json::json;

const EXE: &str = env!("CARGO_BIN_EXE_horde");

/// The child, killed if the test fails before it exits.
struct Guard(std::process::Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn horde_worker_serves_until_ctrl_c_then_enters_maintenance() {
    let h = TestHorde::start().await;
    let requester = h.user("requester", 1000.0, true).await;
    let owner = h.user("owner", 0.0, true).await;
    let dir = common::temp_dir("cli-worker");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("worker.toml");
    std::fs::write(
        &file,
        format!(
            "url = \"{}\"\n\n[worker]\nname = \"cli-dreamer\"\nnsfw = true\n\n[worker.pacing]\nempty_secs = 0.05\n\n[backend]\nkind = \"procedural\"\n",
            h.api
        ),
    )
    .unwrap();
    let child = Command::new(EXE)
        .args(["worker", "--config"])
        .arg(&file)
        .env("HORDE_API_KEY", &owner)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Guard(child);
    let status = generate_image(
        &h,
        &requester,
        json!({"prompt": "a mill", "models": [PROCEDURAL_MODEL],
               "params": {"width": 64, "height": 64, "steps": 3, "seed": "9"}}),
    )
    .await;
    let (_, bytes) = h.get_bytes(&status.generations[0].img).await;
    assert_eq!(
        image::load_from_memory(&bytes).unwrap().into_rgba8(),
        draw("a mill", 9, 64, 64)
    );
    let pid = child.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let out = tokio::task::spawn_blocking(move || {
        let start = std::time::Instant::now();
        loop {
            if let Some(status) = child.0.try_wait().unwrap() {
                let mut err = String::new();
                std::io::Read::read_to_string(child.0.stderr.as_mut().unwrap(), &mut err).unwrap();
                return (status, err);
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the worker did not exit"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .unwrap();
    assert!(out.0.success(), "{}", out.1);
    assert!(
        out.1.contains("1 jobs, 0 faulted"),
        "status line: {}",
        out.1
    );
    assert!(out.1.contains("stopped: 1 jobs"), "{}", out.1);
    let (_, w) = h.get("/v2/workers/name/cli-dreamer", None).await;
    assert_eq!(w["maintenance_mode"], true);
}

#[test]
fn horde_worker_refuses_a_bad_file_clearly() {
    let dir = common::temp_dir("cli-bad-worker");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("worker.toml");
    std::fs::write(
        &file,
        "[worker]\nname = \"x\"\nthreds = 2\n[backend]\nkind = \"procedural\"\n",
    )
    .unwrap();
    let out = Command::new(EXE)
        .args(["worker", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("threds"), "{err}");
    let out = Command::new(EXE)
        .args(["worker", "--config"])
        .arg(dir.join("missing.toml"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
}

#[test]
fn horde_demo_makes_a_picture_and_captions_it() {
    let dir = common::temp_dir("cli-demo");
    std::fs::create_dir_all(&dir).unwrap();
    let png = dir.join("demo.png");
    let out = Command::new(EXE)
        .args(["demo", "--prompt", "a red barn", "-o"])
        .arg(&png)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let img = image::open(&png).unwrap().into_rgba8();
    assert_eq!(img, draw("a red barn", 2026, 512, 512));
    assert!(stdout.contains("caption: a 512x512 image"), "{stdout}");
}

#[test]
fn the_example_worker_file_is_valid() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/worker.toml");
    let file: toml::Table = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let worker: horde_core::worker::WorkerConfig = file["worker"].clone().try_into().unwrap();
    assert_eq!(worker.problem(), None);
    let backend: horde_core::worker::BackendConfig = file["backend"].clone().try_into().unwrap();
    assert_eq!(backend, horde_core::worker::BackendConfig::Procedural);
}
