//! The C tests: `tests/c/api_test.c` compiled with
//! `gcc -std=c99 -Wall -Wextra -Wpedantic -Werror` and run, case by case,
//! against a coordinator and two workers this test starts on 127.0.0.1 —
//! once built with `-fsanitize=address,undefined` and once under
//! `valgrind --error-exitcode=1 --leak-check=full`, each demanding zero
//! errors and zero leaks. Also: the header compiles alone as C++17 and as
//! C twice included, the program links statically too, and the exported
//! symbols equal `ffi/abi/symbols.txt` and are all in the header.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use horde_core::client::{CancelSignal, ClientConfig, HordeClient};
use horde_core::coordinator::config::Config;
use horde_core::coordinator::horde::NewUser;
use horde_core::coordinator::http::AppState;
use horde_core::coordinator::server::Coordinator;
use horde_core::worker::backends::BoxFuture;
use horde_core::worker::backends::procedural::ProceduralImages;
use horde_core::worker::{
    Backend, BackendError, Job, Offer, Output, Pacing, TextResult, WorkKind, Worker, WorkerConfig,
    control_pair,
};

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `target/<profile>/deps`, where `cargo test` builds this crate's
/// `libhorde.so` and `libhorde.a` (only `cargo build` copies them up to
/// `target/<profile>`, so those may be stale).
fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().to_owned()
}

fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    if !out.status.success() {
        panic!(
            "{cmd:?} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

const STRICT: [&str; 5] = ["-std=c99", "-Wall", "-Wextra", "-Wpedantic", "-Werror"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flavour {
    /// `-fsanitize=address,undefined`, run directly.
    Sanitized,
    /// No instrumentation, run under valgrind.
    Valgrind,
    /// Linked against `libhorde.a`.
    Static,
}

/// Compiles api_test.c once per flavour.
fn program(flavour: Flavour) -> PathBuf {
    static BUILT: [OnceLock<PathBuf>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    BUILT[flavour as usize]
        .get_or_init(|| {
            let dir = lib_dir().join("c-tests");
            std::fs::create_dir_all(&dir).unwrap();
            let exe = dir.join(format!("api_test-{flavour:?}").to_lowercase());
            let mut cmd = Command::new("gcc");
            cmd.args(STRICT)
                .args(["-g", "-O1", "-D_POSIX_C_SOURCE=200809L"])
                .arg("-I")
                .arg(manifest().join("../include"))
                .arg(manifest().join("tests/c/api_test.c"))
                .arg("-o")
                .arg(&exe);
            match flavour {
                Flavour::Sanitized | Flavour::Valgrind => {
                    if flavour == Flavour::Sanitized {
                        cmd.args([
                            "-fsanitize=address,undefined",
                            "-fno-sanitize-recover=all",
                            "-fno-omit-frame-pointer",
                        ]);
                    }
                    cmd.arg("-L")
                        .arg(lib_dir())
                        .arg(format!("-Wl,-rpath,{}", lib_dir().display()))
                        .arg("-lhorde");
                }
                Flavour::Static => {
                    cmd.arg(lib_dir().join("libhorde.a"))
                        .args(["-lpthread", "-ldl", "-lm"]);
                }
            }
            run(&mut cmd);
            exe
        })
        .clone()
}

/// A text backend that echoes the prompt.
struct Echo;

impl Backend for Echo {
    fn name(&self) -> &str {
        "echo"
    }
    fn kind(&self) -> WorkKind {
        WorkKind::Text
    }
    fn offer(&self) -> BoxFuture<'_, Result<Offer, BackendError>> {
        Box::pin(async {
            Ok(Offer {
                models: vec!["test/echo".into()],
                ..Offer::default()
            })
        })
    }
    fn run<'a>(
        &'a self,
        job: &'a Job,
        _cancel: CancelSignal,
    ) -> BoxFuture<'a, Result<Output, BackendError>> {
        Box::pin(async move {
            let Job::Text(j) = job else {
                return Err(BackendError::wrong_kind("echo", job));
            };
            Ok(Output::Text(TextResult {
                text: format!("echo: {}", j.prompt),
                tokens: None,
                seed: None,
            }))
        })
    }
}

/// The horde every case talks to, with a procedural dreamer and an echo scribe.
struct Horde {
    api: String,
    app: AppState,
    runtime: tokio::runtime::Runtime,
}

fn pacing() -> Pacing {
    Pacing {
        empty_secs: 0.05,
        quiet_secs: 0.05,
        idle_secs: 0.1,
        ..Pacing::default()
    }
}

fn horde() -> &'static Horde {
    static HORDE: OnceLock<Horde> = OnceLock::new();
    HORDE.get_or_init(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let dir = std::env::temp_dir().join(format!("libhorde-c-api-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (api, app) = runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let mut config = Config {
                data_dir: dir,
                listen: addr,
                ..Config::default()
            };
            config.rate_limits.enabled = false;
            let coordinator = Coordinator::open(config, addr).unwrap();
            let app = coordinator.app();
            tokio::spawn(async move {
                coordinator
                    .serve(listener, std::future::pending::<()>())
                    .await
                    .unwrap();
            });
            (format!("http://{addr}/api"), app)
        });
        let horde = Horde { api, app, runtime };
        let key = horde.user("rust-workers");
        let backends: [(&str, Arc<dyn Backend>); 2] = [
            ("rust-dreamer", Arc::new(ProceduralImages)),
            ("rust-scribe", Arc::new(Echo)),
        ];
        for (name, backend) in backends {
            let mut c = ClientConfig::new("libhorde-c-api-tests:0.1:https://example.invalid");
            c.base_url = horde.api.clone();
            c.api_key = key.clone();
            let client = HordeClient::new(c).unwrap();
            let config = WorkerConfig {
                pacing: pacing(),
                max_pixels: 1024 * 1024,
                ..WorkerConfig::named(name)
            };
            let worker = Worker::new(client, config, backend).start_idle(true);
            let (handle, control) = control_pair();
            std::mem::forget(handle);
            horde.runtime.spawn(async move {
                let _ = worker.run(control, |_| {}).await;
            });
        }
        horde
    })
}

impl Horde {
    /// A trusted user with kudos; answers its key.
    fn user(&self, alias: &str) -> String {
        let user = NewUser {
            alias: alias.into(),
            kudos: 1000.0,
            trusted: true,
            ..NewUser::default()
        };
        self.runtime
            .block_on(self.app.run(move |h| h.create_user(user)))
            .unwrap()
            .1
    }

    fn queued(&self) -> u64 {
        let url = format!("{}/v2/status/performance", self.api);
        let body: serde_json::Value = self.runtime.block_on(async { reqwest_get(&url).await });
        body["queued_requests"].as_u64().unwrap()
    }
}

async fn reqwest_get(url: &str) -> serde_json::Value {
    // A bare GET with tokio's TCP: the test has no HTTP client of its own.
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(format!("GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let body = answer.split_once("\r\n\r\n").unwrap().1;
    serde_json::from_str(body).unwrap()
}

/// Runs one case of the C program in `flavour`; extra arguments follow
/// the horde's URL and a fresh user's key.
fn case(flavour: Flavour, name: &str, extra: &[&Path]) {
    let exe = program(flavour);
    let mut cmd = match flavour {
        Flavour::Valgrind => {
            let mut c = Command::new("valgrind");
            c.args([
                "--quiet",
                "--error-exitcode=1",
                "--leak-check=full",
                "--show-leak-kinds=definite,indirect,possible",
                "--errors-for-leak-kinds=definite,indirect,possible",
            ])
            .arg(&exe);
            c
        }
        _ => {
            let mut c = Command::new(&exe);
            c.env("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
                .env("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1");
            c
        }
    };
    // cargo's own LD_LIBRARY_PATH names target/<profile> first, where a
    // stale libhorde.so from an earlier `cargo build` may lie: point the
    // loader at this build's.
    cmd.env("LD_LIBRARY_PATH", lib_dir());
    cmd.arg(name);
    // The server case hosts its own horde: its arguments are a data directory and a PNG path.
    if name != "server" {
        let h = horde();
        cmd.arg(&h.api)
            .arg(h.user(&format!("c-{name}-{flavour:?}")));
    }
    cmd.args(extra);
    let out = run(&mut cmd);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("{name}: ok")), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("ERROR SUMMARY: ") || stderr.contains("ERROR SUMMARY: 0 errors"),
        "{stderr}"
    );
}

fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    let img = horde_core::runtime::decode_image(&bytes).unwrap();
    (img.0, img.1)
}

fn scratch(tag: &str) -> PathBuf {
    let dir = lib_dir()
        .join("c-tests")
        .join(format!("{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

macro_rules! cases {
    ($($test:ident: $flavour:expr, $name:literal;)*) => {$(
        #[test]
        fn $test() {
            case($flavour, $name, &[]);
        }
    )*};
}

cases! {
    abi_sanitized: Flavour::Sanitized, "abi";
    abi_static: Flavour::Static, "abi";
    abi_valgrind: Flavour::Valgrind, "abi";
    misuse_sanitized: Flavour::Sanitized, "misuse";
    misuse_valgrind: Flavour::Valgrind, "misuse";
    text_sanitized: Flavour::Sanitized, "text";
    text_valgrind: Flavour::Valgrind, "text";
    failure_sanitized: Flavour::Sanitized, "failure";
    failure_valgrind: Flavour::Valgrind, "failure";
    worker_sanitized: Flavour::Sanitized, "worker";
    worker_valgrind: Flavour::Valgrind, "worker";
}

fn image(flavour: Flavour) {
    let dir = scratch(&format!("image-{flavour:?}"));
    let png = dir.join("image.png");
    case(flavour, "image", &[&png]);
    assert_eq!(png_size(&png), (128, 64));
}

#[test]
fn image_sanitized() {
    image(Flavour::Sanitized);
}

#[test]
fn image_valgrind() {
    image(Flavour::Valgrind);
}

fn cancel(flavour: Flavour) {
    case(flavour, "cancel", &[]);
    // Everything the C program queued was cancelled on the horde, the last
    // request by horde_client_free.
    let h = horde();
    let start = Instant::now();
    while h.queued() != 0 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "requests left queued"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn cancel_sanitized() {
    cancel(Flavour::Sanitized);
}

#[test]
fn cancel_valgrind() {
    cancel(Flavour::Valgrind);
}

fn server(flavour: Flavour) {
    let dir = scratch(&format!("server-{flavour:?}"));
    let data = dir.join("data");
    let png = dir.join("private.png");
    case(flavour, "server", &[&data, &png]);
    assert_eq!(png_size(&png), (64, 64));
    assert!(data.join("horde.sqlite").exists() || data.read_dir().unwrap().next().is_some());
}

#[test]
fn server_sanitized() {
    server(Flavour::Sanitized);
}

#[test]
fn server_valgrind() {
    server(Flavour::Valgrind);
}

/// The header alone: C++17 and C99, each included twice in one unit.
#[test]
fn the_header_compiles_alone_in_c_and_cpp() {
    let dir = scratch("header");
    let unit = dir.join("twice.c");
    std::fs::write(
        &unit,
        "#include \"horde.h\"\n#include \"horde.h\"\nint main(void) { return HORDE_STATUS_OK; }\n",
    )
    .unwrap();
    let include = manifest().join("../include");
    run(Command::new("gcc")
        .args(STRICT)
        .arg("-I")
        .arg(&include)
        .arg("-c")
        .arg(&unit)
        .arg("-o")
        .arg(dir.join("twice-c.o")));
    let cpp = dir.join("twice.cpp");
    std::fs::copy(&unit, &cpp).unwrap();
    run(Command::new("g++")
        .args(["-std=c++17", "-Wall", "-Wextra", "-Wpedantic", "-Werror"])
        .arg("-I")
        .arg(&include)
        .arg("-c")
        .arg(&cpp)
        .arg("-o")
        .arg(dir.join("twice-cpp.o")));
}

fn exported() -> Vec<String> {
    let out = run(Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(lib_dir().join("libhorde.so")));
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let (_, kind, name) = (parts.next()?, parts.next()?, parts.next()?);
            (kind == "T").then(|| name.to_owned())
        })
        .collect();
    names.sort();
    names
}

/// The exported functions are exactly `abi/symbols.txt` (HORDE_BLESS=1
/// rewrites it), and each is declared in the header.
#[test]
fn exported_symbols_equal_the_committed_list_and_the_header() {
    let names = exported();
    let list = manifest().join("abi/symbols.txt");
    let text = names.join("\n") + "\n";
    if std::env::var_os("HORDE_BLESS").is_some() {
        std::fs::write(&list, &text).unwrap();
    }
    let committed = std::fs::read_to_string(&list).unwrap_or_default();
    assert_eq!(
        committed, text,
        "ffi/abi/symbols.txt differs from libhorde.so's exports"
    );
    let header = std::fs::read_to_string(manifest().join("../include/horde.h")).unwrap();
    for name in &names {
        assert!(name.starts_with("horde_"), "{name} is exported");
        assert!(
            header.contains(&format!("{name}(")),
            "{name} is not in horde.h"
        );
    }
}
