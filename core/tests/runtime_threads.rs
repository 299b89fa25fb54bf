//! The runtime owns exactly two threads, and gives them back on shutdown.
//! (Its own test binary, so no other test's threads are counted.)

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail by panicking

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use horde_core::api::ImageGenerateRequest;
use horde_core::client::ClientConfig;
use horde_core::client::lifecycle::Policy;
use horde_core::runtime::{Connection, Event, Runtime, RuntimeConfig};

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn two_threads_a_wake_callback_and_a_clean_shutdown() {
    let before = threads();
    // Nothing listens on this port: the request fails, which is all we need
    // to see the threads work and the wake callback fire.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut client = ClientConfig::new("horde-rs-tests:0.1:https://example.invalid");
    client.base_url = format!("http://{addr}/api");
    let mut config = RuntimeConfig::new(client);
    config.policy = Policy {
        give_up_after: 0.0,
        backoff: 0.01,
        ..Policy::default()
    };
    let wakes = Arc::new(AtomicUsize::new(0));
    let counter = wakes.clone();
    let rt = Runtime::start_with_wake(
        config,
        Some(Arc::new(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        })),
    )
    .unwrap();
    assert_eq!(threads(), before + 2, "horde-io and horde-decode");
    let id = rt.submit_image(ImageGenerateRequest::new("x"));
    // The request fails, and the runtime says the horde is unreachable;
    // those may come in either order, each with one wake.
    let start = std::time::Instant::now();
    let mut seen = Vec::new();
    let ended = |seen: &[Event]| {
        seen.iter()
            .any(|e| matches!(e, Event::Failed { id: i, .. } if *i == id))
            && seen.iter().any(|e| {
                matches!(
                    e,
                    Event::Connection {
                        state: Connection::Unreachable { .. }
                    }
                )
            })
    };
    while !ended(&seen) {
        rt.drain_events(&mut seen);
        assert!(start.elapsed().as_secs() < 20, "no ending: {seen:?}");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // The wake is called just after an event is handed over.
    while wakes.load(Ordering::SeqCst) < seen.len() && start.elapsed().as_secs() < 20 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(
        wakes.load(Ordering::SeqCst),
        seen.len(),
        "one wake per event: {seen:?}"
    );
    let mut none = Vec::new();
    assert_eq!(rt.drain_events(&mut none), 0);
    assert_eq!(none.capacity(), 0, "draining nothing allocates nothing");
    rt.shutdown();
    // A thread the kernel is still tearing down (tokio's blocking pool,
    // used for the address lookup, lets its threads go without waiting) can
    // linger in /proc for a moment on a loaded machine: give it up to 10 s.
    let settle = std::time::Instant::now();
    while threads() != before && settle.elapsed().as_secs() < 10 {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(threads(), before, "both threads joined");
}
