//! Running our worker against a test horde: quick pacing, events collected
//! for assertions, and requests made with our client.

use std::sync::Arc;
use std::time::{Duration, Instant};

use horde_core::api::{ImageGenerateRequest, ImageStatus, TextGenerateRequest, TextStatus};
use horde_core::client::lifecycle::Policy;
use horde_core::client::{ClientConfig, HordeClient};
use horde_core::worker::{
    Backend, Pacing, Worker, WorkerConfig, WorkerError, WorkerEvent, WorkerHandle, WorkerStats,
    control_pair,
};
use parking_lot::Mutex;
use serde_json::Value;

use super::TestHorde;

/// A client of `h` as the owner of `key`.
pub fn client(h: &TestHorde, key: &str) -> HordeClient {
    let mut c = ClientConfig::new("horde-rs-tests:0.1:https://example.invalid");
    c.base_url = h.api.clone();
    c.api_key = key.to_owned();
    HordeClient::new(c).unwrap()
}

/// Polling fit for tests.
pub fn policy() -> Policy {
    Policy {
        min_poll: 0.02,
        max_poll: 0.05,
        backoff: 0.01,
        max_backoff: 0.05,
        ..Policy::default()
    }
}

/// Worker pacing fit for tests: the same rules, in milliseconds.
pub fn pacing() -> Pacing {
    Pacing {
        empty_secs: 0.02,
        quiet_secs: 0.03,
        idle_secs: 0.05,
        error_secs: 0.05,
        error_max_secs: 0.2,
        maintenance_secs: 0.1,
        faults_to_pause: 1000,
        fault_pause_secs: 0.1,
        submit_tries: 3,
        submit_retry_secs: 0.02,
    }
}

/// A worker configuration named `name` with test pacing.
pub fn config(name: &str) -> WorkerConfig {
    WorkerConfig {
        nsfw: true,
        max_pixels: 1024 * 1024,
        pacing: pacing(),
        ..WorkerConfig::named(name)
    }
}

/// A worker running on the test's runtime.
pub struct Running {
    pub handle: WorkerHandle,
    pub events: Arc<Mutex<Vec<WorkerEvent>>>,
    pub task: tokio::task::JoinHandle<Result<WorkerStats, WorkerError>>,
}

/// Starts a worker for the owner of `key`.
pub fn spawn(h: &TestHorde, key: &str, config: WorkerConfig, backend: Arc<dyn Backend>) -> Running {
    let (handle, control) = control_pair();
    let events: Arc<Mutex<Vec<WorkerEvent>>> = Arc::default();
    let sink = events.clone();
    let worker = Worker::new(client(h, key), config, backend);
    let task = tokio::spawn(worker.run(control, move |e| sink.lock().push(e)));
    Running {
        handle,
        events,
        task,
    }
}

impl Running {
    /// Waits (at most 60 s) for an event `pick` accepts; answers what it picked.
    pub async fn wait_for<T>(&self, mut pick: impl FnMut(&WorkerEvent) -> Option<T>) -> T {
        let start = Instant::now();
        loop {
            if let Some(t) = self.events.lock().iter().find_map(&mut pick) {
                return t;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "no such event; saw {:#?}",
                self.events.lock()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops the worker and answers its totals.
    pub async fn stop(self) -> Result<WorkerStats, WorkerError> {
        self.handle.stop();
        tokio::time::timeout(Duration::from_secs(60), self.task)
            .await
            .expect("the worker stops")
            .unwrap()
    }
}

/// An image request from JSON.
pub fn image_request(body: Value) -> ImageGenerateRequest {
    serde_json::from_value(body).unwrap()
}

/// A text request from JSON.
pub fn text_request(body: Value) -> TextGenerateRequest {
    serde_json::from_value(body).unwrap()
}

/// Runs an image request to its end.
pub async fn generate_image(h: &TestHorde, key: &str, body: Value) -> ImageStatus {
    let req = image_request(body);
    tokio::time::timeout(
        Duration::from_secs(120),
        client(h, key).generate_image(&req, policy(), None, |_| {}),
    )
    .await
    .expect("the image request ends")
    .unwrap()
}

/// Runs a text request to its end.
pub async fn generate_text(h: &TestHorde, key: &str, body: Value) -> TextStatus {
    let req = text_request(body);
    tokio::time::timeout(
        Duration::from_secs(300),
        client(h, key).generate_text(&req, policy(), None, |_| {}),
    )
    .await
    .expect("the text request ends")
    .unwrap()
}
