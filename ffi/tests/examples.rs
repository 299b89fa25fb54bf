//! `examples/c_client` builds with its Makefile and with CMake, and both
//! programs (C99 and C++17) generate an image into a PNG — against the
//! private horde they host themselves, so nothing else needs to run.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn lib_dir() -> PathBuf {
    // `cargo test` builds this crate's libhorde.so next to the test binary.
    std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .to_owned()
}

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/c_client")
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("cannot run {cmd:?}: {e} (scripts/c-tools installs the C tools)")
    });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{text}",
        out.status
    );
    text
}

fn scratch(tag: &str) -> PathBuf {
    let dir = lib_dir()
        .join("c-examples")
        .join(format!("{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn generates(program: &Path, png: &Path) {
    let out = run(Command::new(program)
        .arg("a lighthouse on a cliff")
        .arg(png)
        .env("LD_LIBRARY_PATH", lib_dir()));
    assert!(out.contains("512x512"), "{out}");
    let img = horde_core::runtime::decode_image(&std::fs::read(png).unwrap()).unwrap();
    assert_eq!((img.0, img.1), (512, 512));
}

#[test]
fn the_examples_build_with_make_and_generate_an_image() {
    let build = scratch("make");
    run(Command::new("make")
        .current_dir(example())
        .arg(format!("BUILD={}", build.display()))
        .arg(format!("HORDE_LIB_DIR={}", lib_dir().display())));
    generates(&build.join("c_client"), &build.join("c.png"));
    generates(&build.join("cpp_client"), &build.join("cpp.png"));
}

#[test]
fn the_examples_build_with_cmake_and_generate_an_image() {
    let build = scratch("cmake");
    run(Command::new("cmake")
        .arg("-S")
        .arg(example())
        .arg("-B")
        .arg(&build)
        .arg(format!("-DHORDE_LIB_DIR={}", lib_dir().display())));
    run(Command::new("cmake").arg("--build").arg(&build));
    generates(&build.join("c_client"), &build.join("c.png"));
    generates(&build.join("cpp_client"), &build.join("cpp.png"));
}
