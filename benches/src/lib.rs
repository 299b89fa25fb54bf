//! Shared pieces of the benches and the load generator: starting a real
//! `horde serve` process on loopback with its users, and latency summaries.

#![allow(clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A `horde serve` process on 127.0.0.1, killed when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT/api`.
    pub api: String,
    /// Its data directory (removed when dropped).
    pub dir: PathBuf,
}

impl Server {
    /// Creates a data directory with users (`name → (kudos, concurrency)`),
    /// starts the server with rate limits off, and answers it with the keys.
    pub fn start(horde: &Path, users: &[(&str, f64, u32)]) -> std::io::Result<(Self, Vec<String>)> {
        let (mut servers, keys) = Self::start_many(horde, None, users, 1)?;
        let server = servers
            .pop()
            .ok_or_else(|| std::io::Error::other("no server"))?;
        Ok((server, keys))
    }

    /// The same with `nodes` servers on one store: SQLite in the data
    /// directory (one node only) or the PostgreSQL `database`.
    pub fn start_many(
        horde: &Path,
        database: Option<&str>,
        users: &[(&str, f64, u32)],
        nodes: usize,
    ) -> std::io::Result<(Vec<Self>, Vec<String>)> {
        let dir = std::env::temp_dir().join(format!("horde-loadgen-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut store = vec!["--data-dir".to_owned(), dir.to_string_lossy().into_owned()];
        if let Some(url) = database {
            store.extend(["--database".to_owned(), url.to_owned()]);
        }
        let mut keys = Vec::new();
        for (name, kudos, concurrency) in users {
            let out = Command::new(horde)
                .args(&store)
                .args(["user", "add", name, "--trusted"])
                .args([
                    "--kudos",
                    &kudos.to_string(),
                    "--concurrency",
                    &concurrency.to_string(),
                    "--workers",
                    "1000",
                ])
                .stderr(Stdio::null())
                .output()?;
            if !out.status.success() {
                return Err(std::io::Error::other(format!("user add {name} failed")));
            }
            keys.push(String::from_utf8_lossy(&out.stdout).trim().to_owned());
        }
        let mut servers = Vec::new();
        for _ in 0..nodes {
            let mut child = Command::new(horde)
                .args(&store)
                .args(["serve", "--listen", "127.0.0.1:0"])
                .env("HORDE_RATE_LIMITS", "off")
                .env("RUST_LOG", "warn,horde=info")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()?;
            let stderr = child
                .stderr
                .take()
                .ok_or_else(|| std::io::Error::other("no stderr"))?;
            let mut lines = BufReader::new(stderr).lines();
            let api = loop {
                let line = lines
                    .next()
                    .ok_or_else(|| std::io::Error::other("server exited before listening"))??;
                if let Some(rest) = line.split("horde serving at ").nth(1) {
                    break rest
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                }
            };
            std::thread::spawn(move || for _ in lines {});
            servers.push(Self {
                child,
                api,
                dir: dir.clone(),
            });
        }
        Ok((servers, keys))
    }

    /// The server's resident memory in bytes (Linux).
    pub fn rss_bytes(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()?;
        Some(kb * 1024)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Median and 99th percentile of latencies.
pub fn percentiles(mut samples: Vec<Duration>) -> (Duration, Duration) {
    if samples.is_empty() {
        return (Duration::ZERO, Duration::ZERO);
    }
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99))
}
