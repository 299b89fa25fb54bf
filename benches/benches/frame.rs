//! A busy game frame through libhorde's C ABI: what the game's thread pays
//! per call and per frame while the runtime works — results arriving,
//! a game-answered dreamer submitting 1024×1024 images, a game-answered
//! alchemist getting jobs with source images — against an embedded horde
//! (`horde_server_start(NULL, …)`) in the same process, at 60 frames a
//! second.
//!
//! Each frame tops up the requests in flight (4 images of 1024², 2
//! captions of a 512² picture), polls until no event is left, and answers
//! the jobs it got. Every call is timed; the report gives p50, p99 and max
//! per kind of call and per frame. Targets (README): p99 < 100 µs and
//! max < 1 ms for the poll and submit calls.
//!
//! Run: `cargo bench -p horde_benches --bench frame` (`HORDE_BENCH_SECS`,
//! default 20, sets how long).

#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs, unsafe_code)]

use std::collections::HashSet;
use std::ffi::{CStr, c_char};
use std::time::{Duration, Instant};

use horde::client::{
    horde_client, horde_client_free, horde_client_new, horde_client_poll_event, horde_config_init,
};
use horde::request::{horde_client_generate_image, horde_client_interrogate};
use horde::server::{
    horde_server_add_user, horde_server_api_url, horde_server_free, horde_server_start,
};
use horde::worker::{
    horde_client_start_worker, horde_client_submit_job_form, horde_client_submit_job_images_lent,
    horde_worker_config_init,
};
use horde::{
    HORDE_API_KEY_BUF, horde_config, horde_event, horde_event_kind as K, horde_image_request,
    horde_image_view, horde_status, horde_work_kind, horde_worker_config,
};

const SIDE: u32 = 1024;
const IMAGES_IN_FLIGHT: usize = 4;
const FORMS_IN_FLIGHT: usize = 2;
const FRAME: Duration = Duration::from_micros(16_667);

/// Lent buffers given back by libhorde.
static RELEASED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

unsafe extern "C" fn released(_: *mut std::ffi::c_void) {
    RELEASED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}

fn ok(s: horde_status, what: &str) {
    assert_eq!(s, horde_status::HORDE_STATUS_OK, "{what}");
}

/// Durations of one kind of call.
#[derive(Default)]
struct Timings(Vec<Duration>);

impl Timings {
    fn time<T>(&mut self, call: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let out = call();
        self.0.push(start.elapsed());
        out
    }

    fn report(&mut self, name: &str) {
        if self.0.is_empty() {
            println!("{name:<34} no calls");
            return;
        }
        self.0.sort();
        let at = |q: f64| self.0[((self.0.len() - 1) as f64 * q).round() as usize];
        println!(
            "{name:<34} {:>7} calls  p50 {:>8.1?}  p99 {:>8.1?}  max {:>8.1?}",
            self.0.len(),
            at(0.5),
            at(0.99),
            self.0[self.0.len() - 1]
        );
    }
}

fn source_webp() -> Vec<u8> {
    let img = image::RgbaImage::from_fn(512, 512, |x, y| {
        image::Rgba([(x / 2) as u8, (y / 2) as u8, 128, 255])
    });
    let mut out = Vec::new();
    image::codecs::webp::WebPEncoder::new_lossless(&mut out)
        .encode(img.as_raw(), 512, 512, image::ExtendedColorType::Rgba8)
        .unwrap();
    out
}

fn main() {
    // Cargo passes `--bench`; nothing to parse.
    let secs: u64 = std::env::var("HORDE_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let mut server = std::ptr::null_mut();
    // SAFETY: NULL config (the embedded defaults) and a writable out-pointer.
    ok(
        unsafe { horde_server_start(std::ptr::null(), &mut server) },
        "server",
    );
    let mut key = [0 as c_char; HORDE_API_KEY_BUF];
    // SAFETY: a live server, a NUL-terminated alias and a key buffer of its size.
    ok(
        unsafe {
            horde_server_add_user(
                server,
                c"bench".as_ptr(),
                1e9,
                true,
                key.as_mut_ptr(),
                key.len(),
            )
        },
        "user",
    );
    let mut config: horde_config = unsafe { std::mem::zeroed() };
    // SAFETY: writable.
    ok(unsafe { horde_config_init(&mut config) }, "config");
    // SAFETY: the server is live; its URL lives until horde_server_free.
    config.base_url = unsafe { horde_server_api_url(server) };
    config.api_key = key.as_ptr();
    config.client_agent = c"horde-benches:0.1:https://example.invalid".as_ptr();
    config.max_in_flight = 16;
    let mut client: *mut horde_client = std::ptr::null_mut();
    // SAFETY: valid config and out-pointer.
    ok(unsafe { horde_client_new(&config, &mut client) }, "client");

    let dreamer_models = [c"bench/dreamer".as_ptr()];
    let caption = [c"caption".as_ptr()];
    for (name, kind, models) in [
        (
            c"bench-dreamer",
            horde_work_kind::HORDE_WORK_IMAGE,
            &dreamer_models,
        ),
        (
            c"bench-alchemist",
            horde_work_kind::HORDE_WORK_ALCHEMY,
            &caption,
        ),
    ] {
        let mut w: horde_worker_config = unsafe { std::mem::zeroed() };
        // SAFETY: writable.
        ok(unsafe { horde_worker_config_init(&mut w) }, "worker config");
        w.name = name.as_ptr();
        w.kind = kind as u32;
        w.models = models.as_ptr();
        w.models_len = 1;
        w.start_idle = true;
        w.max_pixels = u64::from(SIDE * SIDE);
        // SAFETY: a live client and a valid worker config.
        ok(unsafe { horde_client_start_worker(client, &w) }, "worker");
    }

    let source = source_webp();
    let answer = vec![200u8; (SIDE * SIDE * 4) as usize];
    let mut image_req: horde_image_request = unsafe { std::mem::zeroed() };
    // SAFETY: writable.
    ok(
        unsafe { horde::request::horde_image_request_init(&mut image_req) },
        "request",
    );
    image_req.prompt = c"a busy frame".as_ptr();
    image_req.model = dreamer_models[0];
    (image_req.width, image_req.height, image_req.steps) = (SIDE, SIDE, 1);

    let (mut polls, mut submits, mut forms, mut requests, mut frames) = (
        Timings::default(),
        Timings::default(),
        Timings::default(),
        Timings::default(),
        Timings::default(),
    );
    let (mut images, mut captions) = (HashSet::new(), HashSet::new());
    let (mut delivered, mut failed) = (0usize, 0usize);
    let mut event = horde_event::none();
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        let frame = Instant::now();
        while images.len() < IMAGES_IN_FLIGHT {
            let mut id = 0;
            // SAFETY: a live client, a valid request and out-pointer.
            let s = requests
                .time(|| unsafe { horde_client_generate_image(client, &image_req, &mut id) });
            ok(s, "generate");
            images.insert(id);
        }
        while captions.len() < FORMS_IN_FLIGHT {
            let mut id = 0;
            // SAFETY: `source` is readable for its length; one form name.
            let s = requests.time(|| unsafe {
                horde_client_interrogate(
                    client,
                    source.as_ptr(),
                    source.len(),
                    caption.as_ptr(),
                    1,
                    &mut id,
                )
            });
            ok(s, "interrogate");
            captions.insert(id);
        }
        loop {
            // SAFETY: a live client and a writable event.
            let s = polls.time(|| unsafe { horde_client_poll_event(client, &mut event) });
            ok(s, "poll");
            match event.kind {
                K::HORDE_EVENT_NONE => break,
                K::HORDE_EVENT_WORKER_JOB
                    if event.job_kind == horde_work_kind::HORDE_WORK_IMAGE =>
                {
                    let view = horde_image_view {
                        rgba: answer.as_ptr(),
                        width: event.width,
                        height: event.height,
                    };
                    let ticket = event.id;
                    // SAFETY: `answer` holds SIDE² RGBA pixels, the job's
                    // size, and outlives the client; `released` counts.
                    let s = submits.time(|| unsafe {
                        horde_client_submit_job_images_lent(
                            client,
                            ticket,
                            &view,
                            1,
                            Some(released),
                            std::ptr::null_mut(),
                        )
                    });
                    ok(s, "submit images");
                }
                K::HORDE_EVENT_WORKER_JOB => {
                    assert!(event.source_width == 512 && !event.rgba.is_null());
                    let ticket = event.id;
                    // SAFETY: a NUL-terminated JSON value.
                    let s = forms.time(|| unsafe {
                        horde_client_submit_job_form(client, ticket, c"\"a gradient\"".as_ptr())
                    });
                    ok(s, "submit form");
                }
                K::HORDE_EVENT_IMAGE | K::HORDE_EVENT_INTERROGATION => delivered += 1,
                K::HORDE_EVENT_FAILED => {
                    failed += 1;
                    // SAFETY: the event's strings live until the next poll.
                    let why = unsafe { CStr::from_ptr(event.message) };
                    eprintln!("request {} failed: {why:?}", event.id);
                    images.remove(&event.id);
                    captions.remove(&event.id);
                }
                K::HORDE_EVENT_COMPLETED | K::HORDE_EVENT_CANCELLED => {
                    images.remove(&event.id);
                    captions.remove(&event.id);
                }
                _ => {}
            }
        }
        frames.0.push(frame.elapsed());
        std::thread::sleep(FRAME.saturating_sub(frame.elapsed()));
    }
    println!(
        "{secs} s at 60 Hz: {} frames, {delivered} results delivered, {failed} failed",
        frames.0.len()
    );
    polls.report("horde_client_poll_event");
    submits.report("horde_client_submit_job_images_lent 1024²");
    forms.report("horde_client_submit_job_form");
    requests.report("generate_image / interrogate");
    frames.report("whole frame (all calls)");
    let lent = submits.0.len();
    // SAFETY: both are live and no longer used.
    unsafe {
        horde_client_free(client);
        horde_server_free(server);
    }
    assert_eq!(
        RELEASED.load(std::sync::atomic::Ordering::SeqCst),
        lent,
        "every lent buffer given back once, by the time the client is freed"
    );
}
