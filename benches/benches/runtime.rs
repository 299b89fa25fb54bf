//! Runtime benches: what a game pays per frame when nothing happened
//! (draining an empty event queue, with allocations counted), and decoding
//! a 512×512 WebP result (done on the runtime's decode thread, never the
//! game's).
//!
//! Run: `cargo bench -p horde_benches --bench runtime`.

#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs, unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use criterion::{Criterion, criterion_group, criterion_main};
use horde_core::client::ClientConfig;
use horde_core::runtime::{Runtime, RuntimeConfig, decode_image};

/// Counts allocations made on the measuring thread (the game's), to show an
/// idle frame allocates nothing; the runtime's own threads are not counted.
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static COUNTED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

// SAFETY: forwards to the system allocator, only counting calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTED.with(std::cell::Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn idle_frame(c: &mut Criterion) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = Runtime::start(RuntimeConfig::new(ClientConfig::new("bench:0:none"))).unwrap();
    let mut out = Vec::new();
    // Allocations of one million idle frames.
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    COUNTED.with(|c| c.set(true));
    for _ in 0..1_000_000 {
        std::hint::black_box(rt.drain_events(&mut out));
    }
    COUNTED.with(|c| c.set(false));
    let allocated = ALLOCATIONS.load(Ordering::Relaxed) - before;
    println!("allocations in 1,000,000 idle drain_events calls: {allocated}");
    assert_eq!(allocated, 0);
    c.bench_function("drain_events_empty", |b| {
        b.iter(|| std::hint::black_box(rt.drain_events(&mut out)))
    });
    c.bench_function("try_event_empty", |b| {
        b.iter(|| std::hint::black_box(rt.try_event()))
    });
    rt.shutdown();
}

fn decode(c: &mut Criterion) {
    let img = image::RgbaImage::from_fn(512, 512, |x, y| {
        image::Rgba([x as u8, y as u8, (x ^ y) as u8, 255])
    });
    let mut webp = Vec::new();
    image::codecs::webp::WebPEncoder::new_lossless(&mut webp)
        .encode(img.as_raw(), 512, 512, image::ExtendedColorType::Rgba8)
        .unwrap();
    c.bench_function("decode_webp_512x512_to_rgba8", |b| {
        b.iter(|| std::hint::black_box(decode_image(&webp).unwrap()))
    });
}

criterion_group!(benches, idle_frame, decode);
criterion_main!(benches);
