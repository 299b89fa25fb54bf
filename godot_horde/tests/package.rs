//! The add-on as Godot loads it: the built library exports gdext's entry
//! symbol, and `addons/horde/horde.gdextension` agrees with the crate —
//! the entry symbol, the API level, the library file names, debug lines
//! pointing at debug builds, and one icon per class in the sources.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail by panicking

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `[section]` → key → value of the .gdextension (an INI file).
fn gdextension() -> BTreeMap<String, BTreeMap<String, String>> {
    let text = std::fs::read_to_string(manifest().join("addons/horde/horde.gdextension")).unwrap();
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut section = String::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
            continue;
        }
        let (k, v) = line.split_once('=').expect("key = value");
        out.entry(section.clone())
            .or_default()
            .insert(k.trim().to_owned(), v.trim().trim_matches('"').to_owned());
    }
    out
}

/// Class names declared with `#[derive(GodotClass)]` in the sources.
fn classes_in_source() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut stack = vec![manifest().join("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for chunk in text.split("#[derive(GodotClass)]").skip(1) {
                let name = chunk
                    .split("pub struct ")
                    .nth(1)
                    .and_then(|rest| rest.split([' ', '{', ';', '(']).next())
                    .unwrap();
                names.insert(name.to_owned());
            }
        }
    }
    names
}

#[test]
fn the_gdextension_file_agrees_with_the_crate() {
    let ext = gdextension();
    let config = &ext["configuration"];
    // gdext's default entry symbol: lib.rs's #[gdextension] does not rename it.
    assert_eq!(config["entry_symbol"], "gdext_rust_init");
    let entry = std::fs::read_to_string(manifest().join("src/entry.rs")).unwrap();
    assert!(
        !entry.contains("entry_symbol"),
        "the entry symbol was renamed"
    );
    // The API level the crate builds against is the minimum it declares.
    let cargo = std::fs::read_to_string(manifest().join("Cargo.toml")).unwrap();
    let minimum = &config["compatibility_minimum"];
    assert!(
        cargo.contains(&format!("\"api-{}\"", minimum.replace('.', "-"))),
        "compatibility_minimum {minimum} is not the gdext api feature in Cargo.toml"
    );

    let libraries = &ext["libraries"];
    assert!(libraries.contains_key("linux.debug.x86_64"));
    for (key, path) in libraries {
        let file = Path::new(path).file_name().unwrap().to_str().unwrap();
        let expected = if key.starts_with("windows") {
            "godot_horde.dll"
        } else if key.starts_with("macos") {
            "libgodot_horde.dylib"
        } else {
            "libgodot_horde.so"
        };
        assert_eq!(file, expected, "{key}");
        assert!(
            path.starts_with("res://addons/horde/bin/"),
            "{key} = {path}"
        );
        let profile = if key.contains(".debug") {
            "/debug/"
        } else {
            "/release/"
        };
        assert!(
            path.contains(profile),
            "{key} must point at a {profile} build: {path}"
        );
    }
    // Every library the release build makes has a debug twin.
    for key in libraries.keys().filter(|k| k.contains(".release")) {
        assert!(
            libraries.contains_key(&key.replace(".release", ".debug")),
            "{key}"
        );
    }

    let icons: BTreeSet<String> = ext["icons"].keys().cloned().collect();
    assert_eq!(icons, classes_in_source(), "one icon per class");
    for path in ext["icons"].values() {
        let local = path.replace("res://addons/horde/", "addons/horde/");
        assert!(manifest().join(&local).is_file(), "{path} is missing");
    }
    assert!(manifest().join("addons/horde/LICENSE").is_file());
}

#[test]
fn the_library_exports_the_entry_symbol() {
    // `cargo test` builds the crate's cdylib next to the test binary.
    let dir = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .to_owned();
    let lib = dir.join("libgodot_horde.so");
    assert!(lib.is_file(), "{} was not built", lib.display());
    let out = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(&lib)
        .output()
        .expect("nm (binutils; scripts/c-tools installs it)");
    assert!(out.status.success());
    let symbols = String::from_utf8_lossy(&out.stdout);
    assert!(
        symbols
            .lines()
            .any(|l| l.split_whitespace().last() == Some("gdext_rust_init")),
        "gdext_rust_init is not exported by {}",
        lib.display()
    );
}
