//! libhorde's idle frame: `horde_client_poll_event` with no event pending,
//! called through its C ABI exactly as a C or C++ game calls it once per
//! frame (the panic guard, the NULL checks, the slot lock and the empty
//! queue included). The README's target is < 100 ns.
//!
//! Run: `cargo bench -p horde_benches --bench c_poll`.

#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs, unsafe_code)]

use criterion::{Criterion, criterion_group, criterion_main};
use horde::client::{horde_client, horde_client_free, horde_client_new, horde_client_poll_event};
use horde::{horde_config, horde_event, horde_event_kind, horde_status};

fn idle_poll(c: &mut Criterion) {
    let mut config: horde_config = unsafe { std::mem::zeroed() };
    // SAFETY: `config` is a valid, writable horde_config.
    assert_eq!(
        unsafe { horde::client::horde_config_init(&mut config) },
        horde_status::HORDE_STATUS_OK
    );
    // Nothing listens there and nothing is asked: the queue stays empty.
    config.base_url = c"http://127.0.0.1:9/api".as_ptr();
    config.client_agent = c"horde-benches:0.1:https://example.invalid".as_ptr();
    let mut client: *mut horde_client = std::ptr::null_mut();
    // SAFETY: valid config and out-pointer.
    assert_eq!(
        unsafe { horde_client_new(&config, &mut client) },
        horde_status::HORDE_STATUS_OK
    );
    let mut event: horde_event = horde_event::none();
    c.bench_function("horde_client_poll_event, nothing pending", |b| {
        b.iter(|| {
            // SAFETY: a live client and a writable event.
            let s = unsafe { horde_client_poll_event(client, &mut event) };
            assert_eq!(s, horde_status::HORDE_STATUS_OK);
            std::hint::black_box(event.kind == horde_event_kind::HORDE_EVENT_NONE)
        });
    });
    // SAFETY: the client is live and no longer used.
    unsafe { horde_client_free(client) };
}

criterion_group!(benches, idle_poll);
criterion_main!(benches);
