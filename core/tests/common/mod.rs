//! A coordinator on 127.0.0.1 with an ephemeral port, SQLite in a temporary
//! directory (or, with `HORDE_TEST_STORE=postgres`, a fresh schema on the
//! tests' PostgreSQL: see [`postgres`]) and a hand-driven clock, plus small
//! HTTP helpers.

#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)]

pub mod faults;
pub mod postgres;
pub mod process;
pub mod python;
pub mod workers;

use std::path::PathBuf;
use std::sync::Arc;

use horde_core::coordinator::clock::ManualClock;
use horde_core::coordinator::config::Config;
use horde_core::coordinator::horde::NewUser;
use horde_core::coordinator::http::AppState;
use horde_core::coordinator::server::Coordinator;
use serde_json::{Value, json};

/// A running test horde.
pub struct TestHorde {
    /// `http://127.0.0.1:PORT/api`.
    pub api: String,
    /// Its clock.
    pub clock: ManualClock,
    /// Its state.
    pub app: AppState,
    /// Its data directory.
    pub dir: PathBuf,
    http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// A fresh temporary directory.
pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("horde-{tag}-{}", uuid_like()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn uuid_like() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{nanos:x}-{}", std::process::id())
}

impl TestHorde {
    /// A horde with rate limits off.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// A horde with an edited configuration.
    pub async fn start_with(edit: impl FnOnce(&mut Config)) -> Self {
        let dir = temp_dir("test");
        Self::start_in(dir, edit).await
    }

    /// A horde on an existing data directory.
    pub async fn start_in(dir: PathBuf, edit: impl FnOnce(&mut Config)) -> Self {
        // The TLS provider reqwest needs (the client feature builds it without one).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut config = Config {
            data_dir: dir.clone(),
            database: postgres::database_of(&dir),
            ..Config::default()
        };
        config.rate_limits.enabled = false;
        edit(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let clock = ManualClock::new();
        let coordinator =
            Coordinator::open_with_clock(config, addr, Arc::new(clock.clone())).unwrap();
        Self::serve(coordinator, listener, clock, dir)
    }

    /// A horde (rate limits off) on a store and blobs the test made, for
    /// injecting storage faults.
    pub async fn start_on_store(
        dir: PathBuf,
        store: Arc<dyn horde_core::coordinator::store::Store>,
        blobs: horde_core::coordinator::blobs::BlobStore,
    ) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut config = Config {
            data_dir: dir.clone(),
            ..Config::default()
        };
        config.rate_limits.enabled = false;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let clock = ManualClock::new();
        let coordinator =
            Coordinator::open_on_store(config, addr, Arc::new(clock.clone()), store, blobs)
                .unwrap();
        Self::serve(coordinator, listener, clock, dir)
    }

    fn serve(
        coordinator: Coordinator,
        listener: tokio::net::TcpListener,
        clock: ManualClock,
        dir: PathBuf,
    ) -> Self {
        let addr = listener.local_addr().unwrap();
        let app = coordinator.app();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            coordinator
                .serve(listener, async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        TestHorde {
            api: format!("http://{addr}/api"),
            clock,
            app,
            dir,
            http: reqwest::Client::new(),
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops the server (flushing storage) and keeps the data directory.
    pub async fn stop(mut self) -> PathBuf {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
        std::mem::take(&mut self.dir)
    }

    /// Creates a user and returns its API key.
    pub async fn user(&self, alias: &str, kudos: f64, trusted: bool) -> String {
        self.app
            .run(|h| {
                h.create_user(NewUser {
                    alias: alias.into(),
                    kudos,
                    trusted,
                    ..Default::default()
                })
            })
            .await
            .unwrap()
            .1
    }

    /// Creates an admin and returns its API key.
    pub async fn admin(&self, alias: &str) -> String {
        self.app
            .run(|h| {
                h.create_user(NewUser {
                    alias: alias.into(),
                    admin: true,
                    ..Default::default()
                })
            })
            .await
            .unwrap()
            .1
    }

    /// Moves time forward and sweeps.
    pub async fn advance(&self, secs: f64) {
        self.clock.advance(secs);
        self.app.run(|h| Ok(h.sweep())).await.unwrap();
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.api));
        if let Some(k) = key {
            req = req.header("apikey", k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    /// POST JSON.
    pub async fn post(&self, path: &str, key: Option<&str>, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, key, Some(body))
            .await
    }

    /// PUT JSON.
    pub async fn put(&self, path: &str, key: Option<&str>, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::PUT, path, key, Some(body)).await
    }

    /// PATCH JSON.
    pub async fn patch(&self, path: &str, key: Option<&str>, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::PATCH, path, key, Some(body))
            .await
    }

    /// GET.
    pub async fn get(&self, path: &str, key: Option<&str>) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, key, None).await
    }

    /// DELETE.
    pub async fn delete(&self, path: &str, key: Option<&str>) -> (u16, Value) {
        self.send(reqwest::Method::DELETE, path, key, None).await
    }

    /// Raw bytes PUT to a full URL.
    pub async fn put_bytes(&self, url: &str, bytes: Vec<u8>) -> u16 {
        self.http
            .put(url)
            .body(bytes)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// Raw GET of a full URL.
    pub async fn get_bytes(&self, url: &str) -> (u16, Vec<u8>) {
        let res = self.http.get(url).send().await.unwrap();
        (res.status().as_u16(), res.bytes().await.unwrap().to_vec())
    }

    /// A user's balance.
    pub async fn kudos(&self, key: &str) -> f64 {
        let (s, v) = self.get("/v2/find_user", Some(key)).await;
        assert_eq!(s, 200, "{v}");
        v["kudos"].as_f64().unwrap()
    }

    /// Requests images; answers the request id.
    pub async fn image(&self, key: &str, body: Value) -> String {
        let (s, v) = self.post("/v2/generate/async", Some(key), body).await;
        assert_eq!(s, 202, "{v}");
        v["id"].as_str().unwrap().to_owned()
    }

    /// Pops as an SFW-and-NSFW image worker serving stable_diffusion.
    pub async fn pop(&self, key: &str, name: &str, extra: Value) -> Value {
        let mut body = json!({"name": name, "models": ["stable_diffusion"], "max_pixels": 4194304, "nsfw": true});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        let (s, v) = self.post("/v2/generate/pop", Some(key), body).await;
        assert_eq!(s, 200, "{v}");
        v
    }

    /// A check body.
    pub async fn check(&self, id: &str) -> Value {
        let (s, v) = self.get(&format!("/v2/generate/check/{id}"), None).await;
        assert_eq!(s, 200, "{v}");
        v
    }
}

impl Drop for TestHorde {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if !self.dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A tiny valid WebP (1×1, lossless).
pub const TINY_WEBP: &[u8] = &[
    0x52, 0x49, 0x46, 0x46, 0x1a, 0x00, 0x00, 0x00, 0x57, 0x45, 0x42, 0x50, 0x56, 0x50, 0x38, 0x4c,
    0x0d, 0x00, 0x00, 0x00, 0x2f, 0x00, 0x00, 0x00, 0x10, 0x07, 0x10, 0x11, 0x11, 0x88, 0x88, 0xfe,
    0x07, 0x00,
];

/// A body recorded from a real upstream horde: `fixtures/upstream/NAME.json`.
pub fn capture(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/upstream")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

/// Asserts an error answer's status and rc.
#[track_caller]
pub fn assert_error(answer: &(u16, Value), status: u16, rc: &str) {
    assert_eq!(answer.0, status, "{}", answer.1);
    assert_eq!(answer.1["rc"], rc, "{}", answer.1);
    assert!(
        answer.1["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{}",
        answer.1
    );
}
