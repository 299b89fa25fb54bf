//! The GDScript we ship — the demo (`examples/godot_demo`) and the engine
//! tests (`tests/godot`) — parses and lints clean with gdtoolkit (from
//! PyPI, in a venv `scripts/python-envs gdtoolkit` builds), so a typo is
//! caught here even though no Godot 4 runs on our machines.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail by panicking

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// gdtoolkit's venv, built when missing (same place and lock as scripts/test).
fn gdtoolkit() -> PathBuf {
    let bin = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("venvs/gdtoolkit/bin");
    let status = Command::new(root().join("scripts/python-envs"))
        .arg("gdtoolkit")
        .env("CARGO_TARGET_DIR", root().join("target"))
        .status()
        .expect("scripts/python-envs");
    assert!(status.success(), "building gdtoolkit's venv failed");
    assert!(
        bin.join("gdparse").is_file(),
        "{} has no gdparse",
        bin.display()
    );
    bin
}

fn scripts() -> Vec<PathBuf> {
    let mut found = Vec::new();
    for dir in ["examples/godot_demo", "godot_horde/tests/godot"] {
        for entry in std::fs::read_dir(root().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "gd") {
                found.push(path);
            }
        }
    }
    assert!(found.len() >= 2, "{found:?}");
    found
}

#[test]
fn the_demo_and_the_engine_tests_parse_and_lint_clean() {
    let bin = gdtoolkit();
    for tool in ["gdparse", "gdlint"] {
        let out = Command::new(bin.join(tool))
            .args(scripts())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{tool} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn the_scenes_use_the_extensions_classes_by_their_names() {
    let demo = std::fs::read_to_string(root().join("examples/godot_demo/main.tscn")).unwrap();
    assert!(demo.contains("type=\"HordeNode\""));
    assert!(demo.contains("type=\"TextureRect\"") && demo.contains("type=\"Label\""));
    let script = std::fs::read_to_string(root().join("examples/godot_demo/main.gd")).unwrap();
    for used in [
        "generate_image",
        "generate_text",
        "image_generated",
        "text_generated",
    ] {
        assert!(script.contains(used), "the demo does not use {used}");
        let node = std::fs::read_to_string(root().join("godot_horde/src/classes/node.rs")).unwrap();
        assert!(
            node.contains(&format!("fn {used}(")),
            "HordeNode has no {used}"
        );
    }
}
