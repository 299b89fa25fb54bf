//! `include/horde.h` is what the pinned cbindgen generates from the code:
//! regenerating it must not change it (`HORDE_BLESS=1` rewrites it).

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::PathBuf;

fn generate() -> String {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).unwrap();
    let bindings = cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen");
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn the_checked_in_header_is_what_the_code_generates() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../include/horde.h");
    let fresh = generate();
    if std::env::var_os("HORDE_BLESS").is_some() {
        std::fs::write(&path, &fresh).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "include/horde.h is stale: run `HORDE_BLESS=1 cargo test -p ffi --test header` and commit it"
    );
}
