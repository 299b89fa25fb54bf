//! Runs the example game as a player would (`cargo run -p
//! bevy_private_game -- DIR`): it must host its horde, serve its own three
//! requests with its own three workers, print what arrived and exit 0; run
//! again on the same directory, it finds its horde's data and does it again.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail by panicking

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs the game on `dir`; its output, once it exited (killed after two
/// minutes: the game itself gives up after one).
fn play(dir: &std::path::Path) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bevy_private_game"))
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the game starts");
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_example_game_serves_its_own_requests_and_exits_cleanly_twice() {
    let dir = tempfile::tempdir().unwrap();
    for run in ["first", "second"] {
        let (ok, out, err) = play(dir.path());
        assert!(ok, "{run} run failed\nstdout:\n{out}\nstderr:\n{err}");
        for line in [
            "picture 1 of the potion: 64x64 by painter",
            "picture 2 of the potion: 64x64 by painter",
            "story by storyteller: Once upon a time there was a potion nobody dared to drink.",
            "caption: \"a mostly red picture\"",
            "every request ended",
        ] {
            assert!(
                out.contains(line),
                "{run} run: no {line:?} in\n{out}\n{err}"
            );
        }
    }
    assert!(
        dir.path().join("game.key").exists(),
        "the horde keeps its data"
    );
}
