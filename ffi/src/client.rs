//! `horde_client`: the handle a game holds — its configuration, creation and
//! free, cancelling, and the event poll. Requests live in `request.rs`,
//! workers in `worker.rs`.

use std::collections::{HashMap, HashSet};
use std::ffi::{c_char, c_void};
use std::sync::Arc;
use std::time::Duration;

use horde_core::client::ClientConfig;
use horde_core::runtime::{RequestId, Runtime, RuntimeConfig, RuntimeError};
use parking_lot::Mutex;

use crate::boundary::{self, Versioned, guard, handle, opt_str, out, str_arg, versioned};
use crate::event::{EventSlot, horde_event};
use crate::status::{Failure, horde_status};
use horde_core::runtime::surface::JobShape;

/// A function libhorde calls when an event becomes ready.
pub type horde_wake_fn = Option<unsafe extern "C" fn(userdata: *mut c_void)>;

/// How a client talks to its horde. Fill it with `horde_config_init`, then
/// set what differs.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct horde_config {
    /// `sizeof(horde_config)`, for forward compatibility.
    pub struct_size: usize,
    /// The API base (`https://aihorde.net/api`, or a private horde's
    /// `http://HOST:PORT/api`); NULL is the public horde.
    pub base_url: *const c_char,
    /// The API key; NULL is the anonymous key.
    pub api_key: *const c_char,
    /// `name:version:contact` of the game. Required: the horde asks for one.
    pub client_agent: *const c_char,
    /// Requests sent to the horde at once (more wait their turn); 0 is 8.
    pub max_in_flight: u32,
    /// Longest one HTTP call may take, in milliseconds; 0 is 30 000.
    pub timeout_ms: u32,
    /// A request still unfinished this many milliseconds after it was
    /// queued is cancelled and fails with `HORDE_STATUS_TIMEOUT`; 0 for no
    /// deadline.
    pub request_timeout_ms: u32,
    /// Called after each event is queued, so a game that sleeps can wake
    /// its loop; NULL for none. It runs on libhorde's delivery thread — the
    /// only call libhorde ever makes from a thread of its own — so it must
    /// be thread-safe, return quickly, and not call libhorde.
    pub wake: horde_wake_fn,
    /// Passed to `wake`.
    pub wake_userdata: *mut c_void,
    // Added later: an older caller's smaller struct leaves them at their defaults.
    /// How long the horde may stay unreachable (no connection, timeouts,
    /// 5xx answers in a row) before a request fails with
    /// `HORDE_STATUS_NETWORK` and the cause, in milliseconds; 0 is 30 000.
    /// Calls are retried with back-off until then (`HORDE_EVENT_RETRYING`).
    pub give_up_after_ms: u32,
    /// Milliseconds between status checks while a request's job may
    /// finish (a result is delivered at most this long after it is done);
    /// 0 is 1 000. A request only queued is checked less often (a quarter
    /// of the horde's wait estimate, at most 5 s).
    pub poll_interval_ms: u32,
    /// Longest `horde_client_free` waits for cancels and maintenance to
    /// reach the horde, in milliseconds; 0 is 1 000. `UINT32_MAX`: do not wait.
    pub shutdown_grace_ms: u32,
}

impl Versioned for horde_config {
    const MIN_SIZE: usize = std::mem::offset_of!(horde_config, give_up_after_ms);
    fn defaults() -> Self {
        Self {
            struct_size: std::mem::size_of::<Self>(),
            base_url: std::ptr::null(),
            api_key: std::ptr::null(),
            client_agent: std::ptr::null(),
            max_in_flight: 0,
            timeout_ms: 0,
            request_timeout_ms: 0,
            wake: None,
            wake_userdata: std::ptr::null_mut(),
            give_up_after_ms: 0,
            poll_interval_ms: 0,
            shutdown_grace_ms: 0,
        }
    }
}

/// The client: a runtime with its two threads (which also knows the ids
/// not yet ended), the job tickets not yet answered, and the storage of the
/// last polled event.
pub struct horde_client {
    pub(crate) runtime: Runtime,
    pub(crate) jobs: Mutex<HashMap<u64, JobShape>>,
    pub(crate) workers: Mutex<HashSet<String>>,
    slot: Mutex<EventSlot>,
}

impl horde_client {
    /// The C id of a request the runtime tracks until its final event is polled.
    pub(crate) fn track(&self, id: RequestId) -> u64 {
        id.0
    }

    fn poll(&self, ev: &mut horde_event) {
        let mut slot = self.slot.lock();
        slot.clear();
        let Some(event) = self.runtime.try_event() else {
            *ev = horde_event::none();
            return;
        };
        if let Some(info) = slot.fill(event, ev) {
            self.jobs.lock().insert(ev.id, info);
        }
    }
}

/// The userdata pointer, sent to the delivery thread as the C caller asked.
struct WakeTarget(unsafe extern "C" fn(*mut c_void), *mut c_void);
// SAFETY: the caller of horde_client_new promised a thread-safe callback
// and userdata (horde_config.wake's contract).
unsafe impl Send for WakeTarget {}
// SAFETY: as above.
unsafe impl Sync for WakeTarget {}

fn client_config(config: &horde_config) -> Result<RuntimeConfig, Failure> {
    // SAFETY: the caller's contract covers the strings inside its struct.
    let agent = unsafe { str_arg(config.client_agent, "config->client_agent") }?;
    if agent.trim().is_empty() {
        return Err(Failure::invalid("`config->client_agent` is empty"));
    }
    let mut client = ClientConfig::new(agent);
    // SAFETY: as above.
    if let Some(url) = unsafe { opt_str(config.base_url, "config->base_url") }? {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(Failure::invalid(format!(
                "`config->base_url` must start with http:// or https://, not {url:?}"
            )));
        }
        client.base_url = url.trim_end_matches('/').to_owned();
    }
    // SAFETY: as above.
    if let Some(key) = unsafe { opt_str(config.api_key, "config->api_key") }? {
        client.api_key = key.to_owned();
    }
    if config.timeout_ms > 0 {
        client.timeout = Duration::from_millis(u64::from(config.timeout_ms));
    }
    let mut runtime = RuntimeConfig::new(client);
    if config.request_timeout_ms > 0 {
        runtime.policy.deadline = Some(f64::from(config.request_timeout_ms) / 1000.0);
    }
    if config.give_up_after_ms > 0 {
        runtime.policy.give_up_after = f64::from(config.give_up_after_ms) / 1000.0;
    }
    if config.poll_interval_ms > 0 {
        runtime.policy.min_poll = f64::from(config.poll_interval_ms) / 1000.0;
        runtime.policy.max_poll = runtime.policy.max_poll.max(runtime.policy.min_poll);
    }
    match config.shutdown_grace_ms {
        0 => {}
        u32::MAX => runtime.shutdown_grace = Duration::ZERO,
        ms => runtime.shutdown_grace = Duration::from_millis(u64::from(ms)),
    }
    if config.max_in_flight > 0 {
        runtime.max_in_flight = config.max_in_flight as usize;
    }
    Ok(runtime)
}

/// Fills `config` with the defaults (the public horde, anonymously, no wake
/// callback) and its `struct_size`; `client_agent` is left NULL and must be
/// set.
///
/// # Safety
/// `config` is NULL or points to a writable `horde_config`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn horde_config_init(config: *mut horde_config) -> horde_status {
    guard(|| {
        // SAFETY: the caller's contract.
        *unsafe { out(config, "config") }? = horde_config::defaults();
        Ok(())
    })
}

/// Creates a client and starts its two threads (HTTP and image decoding).
/// On success `*client_out` is a new client the caller owns and must free
/// with `horde_client_free`; on failure it is left untouched.
///
/// The strings in `config` are copied; `config` may be freed on return.
///
/// # Safety
/// `config` is NULL or a valid `horde_config` of its `struct_size`;
/// `client_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn horde_client_new(
    config: *const horde_config,
    client_out: *mut *mut horde_client,
) -> horde_status {
    guard(|| {
        // SAFETY: the caller's contract.
        let config = unsafe { versioned(config, "config") }?;
        // SAFETY: the caller's contract.
        let client_out = unsafe { out(client_out, "client_out") }?;
        let runtime_config = client_config(&config)?;
        let wake = config.wake.map(|f| {
            let target = WakeTarget(f, config.wake_userdata);
            Arc::new(move || {
                let target = &target;
                // SAFETY: the caller provided a callable function and its userdata.
                unsafe { (target.0)(target.1) }
            }) as horde_core::runtime::Wake
        });
        let runtime = Runtime::start_with_wake(runtime_config, wake).map_err(|e| match e {
            RuntimeError::Client(e) => Failure::invalid(e.to_string()),
            RuntimeError::Start(e) => Failure::new(horde_status::HORDE_STATUS_IO, e.to_string()),
        })?;
        let client = Box::new(horde_client {
            runtime,
            jobs: Mutex::new(HashMap::new()),
            workers: Mutex::new(HashSet::new()),
            slot: Mutex::new(EventSlot::default()),
        });
        let client = Box::into_raw(client);
        crate::handles::register(client);
        *client_out = client;
        Ok(())
    })
}

/// Frees a client: cancels its outstanding requests on the horde, hands its
/// workers' jobs back and puts its workers in maintenance — waiting at most
/// `config.shutdown_grace_ms` (1 second by default) for the horde to hear
/// it — and joins its threads. Pointers
/// from its last event become invalid. NULL is a no-op; a client freed
/// already is not freed again (`horde_last_error` says so).
///
/// # Safety
/// `client` is NULL or a client from `horde_client_new`; no other thread
/// uses it during or after the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn horde_client_free(client: *mut horde_client) {
    boundary::guard_value((), || {
        if client.is_null() {
            return;
        }
        if !crate::handles::release(client) {
            let _ = crate::status::fail(crate::status::Failure::new(
                crate::status::horde_status::HORDE_STATUS_INVALID_HANDLE,
                "horde_client_free: `client` is not a live handle (freed twice?); nothing freed",
            ));
            return;
        }
        // SAFETY: a live handle came from Box::into_raw in horde_client_new,
        // and `release` let only this call free it.
        drop(unsafe { Box::from_raw(client) });
    });
}

/// Fills `event` as an empty event (`HORDE_EVENT_NONE`) and sets its
/// `struct_size`: call it once before the first poll.
///
/// # Safety
/// `event` is NULL or points to a writable `horde_event`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn horde_event_init(event: *mut horde_event) -> horde_status {
    guard(|| {
        // SAFETY: the caller's contract.
        *unsafe { out(event, "event") }? = horde_event::none();
        Ok(())
    })
}

/// Writes the next event into `*event`, or an event of kind
/// `HORDE_EVENT_NONE` when none is pending; never blocks. The event's
/// pointers stay valid until the next poll on this client or its free.
/// `event->struct_size` must be set (`horde_event_init`, or a previous
/// poll): smaller than this library's first `horde_event` is
/// `HORDE_STATUS_STRUCT_SIZE` and nothing is written; larger (a caller
/// built against a newer header) gets this library's fields, and
/// `struct_size` then says how many bytes were written.
///
/// Call it from one thread at a time (the game's loop); every other
/// function may be called from any thread.
///
/// # Safety
/// `client` is NULL or a live client; `event` is NULL or points to
/// `event->struct_size` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn horde_client_poll_event(
    client: *mut horde_client,
    event: *mut horde_event,
) -> horde_status {
    guard(|| {
        // SAFETY: the caller's contract.
        let client = unsafe { handle(client.cast_const(), "client") }?;
        if event.is_null() {
            // SAFETY: NULL is answered as such.
            unsafe { out(event, "event") }?;
        }
        // SAFETY: a non-NULL event starts with `size_t struct_size`.
        let size = unsafe { event.cast::<usize>().read_unaligned() };
        let ours = std::mem::size_of::<horde_event>();
        if size < ours {
            return Err(Failure::new(
                horde_status::HORDE_STATUS_STRUCT_SIZE,
                format!(
                    "`event->struct_size` is {size}; this libhorde writes {ours} bytes \
                     (call horde_event_init once before polling)"
                ),
            ));
        }
        // SAFETY: at least `ours` writable bytes (checked above, the
        // caller's contract); a newer caller's extra bytes are left alone.
        let event = unsafe { out(event, "event") }?;
        client.poll(event);
        Ok(())
    })
}

/// Cancels a request: the horde is told, results already delivered stay
/// valid, and a `HORDE_EVENT_CANCELLED` (or the final event that won the
/// race) follows. `HORDE_STATUS_NOT_FOUND` for an id this client never
/// handed out or whose final event was already polled.
///
/// # Safety
/// `client` is NULL or a live client.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn horde_client_cancel(client: *const horde_client, id: u64) -> horde_status {
    guard(|| {
        // SAFETY: the caller's contract.
        let client = unsafe { handle(client, "client") }?;
        if !client.runtime.is_pending(RequestId(id)) {
            return Err(Failure::new(
                horde_status::HORDE_STATUS_NOT_FOUND,
                format!("no pending request has id {id}"),
            ));
        }
        client.runtime.cancel(RequestId(id));
        Ok(())
    })
}

/// Cancels every pending request of this client.
///
/// # Safety
/// `client` is NULL or a live client.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn horde_client_cancel_all(client: *const horde_client) -> horde_status {
    guard(|| {
        // SAFETY: the caller's contract.
        unsafe { handle(client, "client") }?.runtime.cancel_all();
        Ok(())
    })
}

/// Whether a request id still waits for its final event.
///
/// # Safety
/// `client` is NULL or a live client; `pending_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn horde_client_is_pending(
    client: *const horde_client,
    id: u64,
    pending_out: *mut bool,
) -> horde_status {
    guard(|| {
        // SAFETY: the caller's contract.
        let client = unsafe { handle(client, "client") }?;
        // SAFETY: the caller's contract.
        *unsafe { out(pending_out, "pending_out") }? = client.runtime.is_pending(RequestId(id));
        Ok(())
    })
}
