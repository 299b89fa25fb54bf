//! The `horde` binary as a separate process: adding users through its CLI
//! and running `horde serve` on an ephemeral port, killed (SIGKILL) on
//! demand or when dropped, so a failing test leaves no server behind.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// The binary under test.
pub const EXE: &str = env!("CARGO_BIN_EXE_horde");

/// `horde <store> user add NAME --trusted --kudos K`; answers the new key.
pub fn add_user(store: &[String], name: &str, kudos: f64) -> String {
    let out = Command::new(EXE)
        .args(store)
        .args(["user", "add", name, "--trusted", "--kudos"])
        .arg(kudos.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A `horde serve` process.
pub struct Server(Child);

impl Server {
    /// Kills it with SIGKILL and reaps it.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts `horde <args> serve --listen 127.0.0.1:0` with rate limits off;
/// answers the process and its API URL. The server's warnings and errors
/// go to the test's output.
pub fn serve(args: &[String]) -> (Server, String) {
    let mut child = Command::new(EXE)
        .args(args)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("HORDE_RATE_LIMITS", "off")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let url: String = loop {
        let line = lines.next().expect("server exited").unwrap();
        if let Some(rest) = line.split("horde serving at ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    let name = url.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if line.contains("WARN") || line.contains("ERROR") {
                eprintln!("{name}: {line}");
            }
        }
    });
    (Server(child), url)
}
