//! Lending the GPU: starting a worker on a client, gating it on the
//! player's idleness, stopping it, and answering the jobs of a worker whose
//! backend is the game itself.

use std::ffi::c_char;

use horde_core::runtime::JobTicket;
use horde_core::runtime::surface::{Answer, JobShape, MAX_ANSWER_SIDE, Rgba, WorkerSpec};
use horde_core::worker::{BackendError, WorkKind};

use crate::boundary::{Versioned, arg, guard, handle, opt_str, out, slice, str_arg, versioned};
use crate::client::horde_client;
use crate::status::{Failure, horde_status};

/// A worker to start. Fill it with `horde_worker_config_init`, then set the
/// name and what differs; zeros mean the defaults.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct horde_worker_config {
    /// `sizeof(horde_worker_config)`, for forward compatibility.
    pub struct_size: usize,
    /// The worker's name, unique across the horde. Required.
    pub name: *const c_char,
    /// NULL: the game does the work — jobs arrive as
    /// `HORDE_EVENT_WORKER_JOB` and are answered with
    /// `horde_client_submit_job_*`. Otherwise a backend in TOML, the body
    /// of `worker.toml`'s `[backend]` table: `kind = "procedural"`,
    /// `kind = "koboldcpp"` with `url = "http://127.0.0.1:5001"`, and so on.
    pub backend: *const c_char,
    /// What a game-answered worker does: a `horde_work_kind`. Ignored when
    /// `backend` is set (the backend knows).
    pub kind: u32,
    /// The models served (the forms, for `HORDE_WORK_ALCHEMY`). Required
    /// for a game-answered worker; with a backend, NULL offers the
    /// backend's own.
    pub models: *const *const c_char,
    /// Entries at `models`.
    pub models_len: usize,
    /// Start offering at once (the player is idle); otherwise wait for
    /// `horde_client_set_idle(client, true)`.
    pub start_idle: bool,
    /// Accept NSFW requests.
    pub nsfw: bool,
    /// Largest image (width × height) accepted; 0 is 512 × 512.
    pub max_pixels: u64,
    /// Most tokens a text job may ask; 0 is the default (512).
    pub max_length: u32,
    /// Largest context a text job may send; 0 is the default (2048).
    pub max_context_length: u32,
}

impl Versioned for horde_worker_config {
    const MIN_SIZE: usize = std::mem::size_of::<horde_worker_config>();
    fn defaults() -> Self {
        Self {
            struct_size: std::mem::size_of::<Self>(),
            name: std::ptr::null(),
            backend: std::ptr::null(),
            kind: 0,
            models: std::ptr::null(),
            models_len: 0,
            start_idle: false,
            nsfw: false,
            max_pixels: 0,
            max_length: 0,
            max_context_length: 0,
        }
    }
}

/// One image handed to libhorde: `width` × `height` RGBA8 pixels, row by row.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct horde_image_view {
    /// `width * height * 4` bytes.
    pub rgba: *const u8,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

fn work_kind(kind: u32) -> Result<Option<WorkKind>, Failure> {
    match kind {
        0 => Ok(None),
        1 => Ok(Some(WorkKind::Image)),
        2 => Ok(Some(WorkKind::Text)),
        3 => Ok(Some(WorkKind::Alchemy)),
        other => Err(Failure::invalid(format!(
            "`config->kind` is {other}; it must be a horde_work_kind (0 to 3)"
        ))),
    }
}

fn start(client: &horde_client, c: &horde_worker_config) -> Result<(), Failure> {
    // SAFETY: the caller's contract covers the strings inside its struct.
    let name = unsafe { str_arg(c.name, "config->name") }?;
    // SAFETY: as above.
    let models = unsafe { slice(c.models, c.models_len, "config->models") }?;
    let mut names = Vec::with_capacity(models.len());
    for (i, &m) in models.iter().enumerate() {
        // SAFETY: as above.
        names.push(unsafe { str_arg(m, &format!("config->models[{i}]")) }?.to_owned());
    }
    let spec = WorkerSpec {
        name: name.to_owned(),
        // SAFETY: as above.
        backend: unsafe { opt_str(c.backend, "config->backend") }?.map(str::to_owned),
        kind: work_kind(c.kind)?,
        models: names,
        nsfw: c.nsfw,
        max_pixels: Some(c.max_pixels),
        max_length: Some(c.max_length),
        max_context_length: Some(c.max_context_length),
    };
    let (config, backend) = spec.build().map_err(Failure::invalid)?;
    if !client.workers.lock().insert(name.to_owned()) {
        return Err(Failure::new(
            horde_status::HORDE_STATUS_BUSY,
            format!("a worker named {name:?} was already started on this client"),
        ));
    }
    client.runtime.start_worker(config, backend, c.start_idle);
    Ok(())
}

/// Fills `config` with the defaults and its `struct_size`.
///
/// # Safety
/// `config` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn horde_worker_config_init(
    config: *mut horde_worker_config,
) -> horde_status {
    guard(|| {
        // SAFETY: the caller's contract.
        *unsafe { out(config, "config") }? = horde_worker_config::defaults();
        Ok(())
    })
}

/// Starts a worker that contributes this machine to the client's horde
/// with the client's API key (a registered user's: the anonymous key
/// cannot work). It pops only while idle. What it does arrives as
/// `HORDE_EVENT_WORKER`; a game-answered worker's jobs as
/// `HORDE_EVENT_WORKER_JOB`. Building a configured backend may take a
/// while (a model is loaded). `HORDE_STATUS_BUSY` when a worker of that
/// name was already started on this client.
///
/// # Safety
/// `client` is NULL or live; `config` is NULL or a valid struct of its
/// `struct_size`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn horde_client_start_worker(
    client: *const horde_client,
    config: *const horde_worker_config,
) -> horde_status {
    guard(|| {
        // SAFETY: the caller's contract.
        let (client, config) = unsafe { (handle(client, "client")?, versioned(config, "config")?) };
        start(client, &config)
    })
}

/// Tells the client's workers whether the player is away: idle → they pop
/// for work; not idle → no new pops, jobs in hand finish.
///
/// # Safety
/// `client` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn horde_client_set_idle(
    client: *const horde_client,
    idle: bool,
) -> horde_status {
    guard(|| {
        // SAFETY: the caller's contract.
        unsafe { handle(client, "client") }?.runtime.set_idle(idle);
        Ok(())
    })
}

/// The game needs the GPU now: workers stop popping and hand their jobs
/// back to the horde at once.
///
/// # Safety
/// `client` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn horde_client_take_gpu_back(client: *const horde_client) -> horde_status {
    guard(|| {
        // SAFETY: the caller's contract.
        unsafe { handle(client, "client") }?.runtime.take_gpu_back();
        Ok(())
    })
}

/// Workers finish and submit what they popped, enter maintenance and stop;
/// each reports `HORDE_WORKER_STOPPED`.
///
/// # Safety
/// `client` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn horde_client_stop_workers(client: *const horde_client) -> horde_status {
    guard(|| {
        // SAFETY: the caller's contract.
        unsafe { handle(client, "client") }?.runtime.stop_workers();
        Ok(())
    })
}

/// The worker started under `name` finishes and submits what it popped,
/// enters maintenance and stops (it reports `HORDE_WORKER_STOPPED`); the
/// others go on. A name no worker runs under changes nothing.
///
/// # Safety
/// `client` is NULL or live; `name` is NULL or a NUL-terminated string
/// (read during the call only).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn horde_client_stop_worker(
    client: *const horde_client,
    name: *const c_char,
) -> horde_status {
    guard(|| {
        // SAFETY: the caller's contract.
        let client = unsafe { handle(client, "client") }?;
        // SAFETY: the caller's contract.
        let name = unsafe { str_arg(name, "name") }?;
        client.runtime.stop_worker(name);
        Ok(())
    })
}

/// Checks a ticket, answers it with what `make` builds, and forgets it;
/// a failed check leaves the ticket answerable. The exports read their
/// pointer arguments before calling this, so a NULL is reported as such
/// whatever the ticket.
fn answer(
    client: &horde_client,
    ticket: u64,
    make: impl FnOnce(JobShape) -> Result<Answer, String>,
) -> Result<(), Failure> {
    let info = client.jobs.lock().get(&ticket).copied().ok_or_else(|| {
        Failure::new(
            horde_status::HORDE_STATUS_NOT_FOUND,
            format!("no unanswered job has ticket {ticket}"),
        )
    })?;
    let result = make(info).map_err(Failure::invalid)?;
    client.jobs.lock().remove(&ticket);
    client.runtime.answer_job(JobTicket(ticket), result);
    Ok(())
}

/// Reads a view's pixels, checking its sides before touching them.
fn view<'a>(view: &horde_image_view, name: &str) -> Result<Rgba<'a>, Failure> {
    let (w, h) = (view.width, view.height);
    if w == 0 || h == 0 || w > MAX_ANSWER_SIDE || h > MAX_ANSWER_SIDE {
        return Err(Failure::invalid(format!(
            "`{name}` is {w}×{h}; sides must be 1 to {MAX_ANSWER_SIDE}"
        )));
    }
    let len = view.width as usize * view.height as usize * 4;
    // SAFETY: the callers' contracts: `rgba` holds width × height × 4 bytes.
    let pixels = unsafe { crate::boundary::bytes(view.rgba, len, &format!("{name}.rgba")) }?;
    Ok(Rgba {
        width: view.width,
        height: view.height,
        pixels,
    })
}

/// Answers an image job with its images: `count` must equal the job's
/// `count`, and each image must be the job's `width` × `height`
/// (`HORDE_STATUS_INVALID_ARG` otherwise, and the ticket stays
/// answerable). The pixels are copied; libhorde encodes them on its own
/// threads and the worker uploads them. Seeds are the job's seed plus the
/// image's index.
///
/// # Safety
/// `client` is NULL or live; `images` is NULL or `count` views whose
/// pixels are readable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn horde_client_submit_job_images(
    client: *const horde_client,
    ticket: u64,
    images: *const horde_image_view,
    count: usize,
) -> horde_status {
    guard(|| {
        // SAFETY: the caller's contract.
        let client = unsafe { handle(client, "client") }?;
        // SAFETY: the caller's contract.
        let images = unsafe { slice(images, count, "images") }?;
        let images = images
            .iter()
            .enumerate()
            .map(|(i, v)| view(v, &format!("images[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        answer(client, ticket, |shape| shape.images(&images))
    })
}

/// Called by libhorde, once, when it no longer reads pixels it was lent
/// (`horde_client_submit_job_images_lent`), with the caller's `user_data`.
#[allow(non_camel_case_types)]
pub type horde_release_fn = Option<unsafe extern "C" fn(user_data: *mut std::ffi::c_void)>;

/// Pixels a game lent: read on libhorde's threads, released on drop.
#[derive(Debug)]
struct Lent {
    views: Vec<horde_image_view>,
    release: horde_release_fn,
    user_data: *mut std::ffi::c_void,
    armed: bool,
}

// SAFETY: the caller of `horde_client_submit_job_images_lent` promises the
// pixels stay valid and unchanged, from any thread, until `release`, and
// that `release` may be called from a libhorde thread.
unsafe impl Send for Lent {}

impl horde_core::runtime::surface::Pixels for Lent {
    fn images(&self) -> Vec<Rgba<'_>> {
        self.views
            .iter()
            .map(|v| {
                let len = v.width as usize * v.height as usize * 4;
                Rgba {
                    width: v.width,
                    height: v.height,
                    // SAFETY: checked non-NULL with its sides at the call;
                    // the caller keeps `len` bytes valid until `release`.
                    pixels: unsafe { std::slice::from_raw_parts(v.rgba, len) },
                }
            })
            .collect()
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        if let (true, Some(release)) = (self.armed, self.release) {
            // SAFETY: the caller's callback, called once with its own data.
            unsafe { release(self.user_data) };
        }
    }
}

/// Answers an image job as `horde_client_submit_job_images` does, without
/// copying the pixels: libhorde reads them on its own threads (to encode
/// them) and then calls `release(user_data)` — exactly once, from a
/// libhorde thread, at the latest during `horde_client_free` — after which
/// the buffers are the caller's again. Until then they must stay valid and
/// unchanged. Only the pixels are lent: the `images` array itself is copied.
/// On any status but `HORDE_STATUS_OK` nothing was lent and `release` is
/// not called. `release` may be NULL (buffers that outlive the client).
/// Costs the caller's thread microseconds whatever the images' size.
///
/// # Safety
/// As `horde_client_submit_job_images`; each view's pixels stay readable
/// until `release` is called; `release` is NULL or safe to call from any
/// thread with `user_data`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn horde_client_submit_job_images_lent(
    client: *const horde_client,
    ticket: u64,
    images: *const horde_image_view,
    count: usize,
    release: horde_release_fn,
    user_data: *mut std::ffi::c_void,
) -> horde_status {
    guard(|| {
        // SAFETY: the caller's contract.
        let client = unsafe { handle(client, "client") }?;
        // SAFETY: the caller's contract.
        let views = unsafe { slice(images, count, "images") }?;
        let checked = views
            .iter()
            .enumerate()
            .map(|(i, v)| view(v, &format!("images[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        let lent = Box::new(Lent {
            views: views.to_vec(),
            release,
            user_data,
            armed: false,
        });
        answer(client, ticket, move |shape| {
            shape.check_images(&checked)?;
            let mut lent = lent;
            lent.armed = true;
            shape.images_handed_over(lent).map_err(|(why, back)| {
                // Checked just above, so not reached; were it, nothing was
                // lent and `release` must not run: the small box is leaked.
                std::mem::forget(back);
                why
            })
        })
    })
}

/// Answers a text job with its generated text (the prompt not repeated).
///
/// # Safety
/// `client` is NULL or live; `text` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn horde_client_submit_job_text(
    client: *const horde_client,
    ticket: u64,
    text: *const c_char,
) -> horde_status {
    guard(|| {
        // SAFETY: the caller's contract.
        let client = unsafe { handle(client, "client") }?;
        // SAFETY: the caller's contract.
        let text = unsafe { str_arg(text, "text") }?;
        answer(client, ticket, |shape| shape.text(text))
    })
}

/// Answers an analysis form (`caption`, `nsfw`, `interrogation`) with its
/// value as JSON (`"a red boat"`, `false`, an object).
///
/// # Safety
/// `client` is NULL or live; `json` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn horde_client_submit_job_form(
    client: *const horde_client,
    ticket: u64,
    json: *const c_char,
) -> horde_status {
    guard(|| {
        // SAFETY: the caller's contract.
        let client = unsafe { handle(client, "client") }?;
        // SAFETY: the caller's contract.
        let json = unsafe { str_arg(json, "json") }?;
        let value = serde_json::from_str(json)
            .map_err(|e| Failure::invalid(format!("`json` is not JSON: {e}")))?;
        answer(client, ticket, |shape| shape.form(value))
    })
}

/// Answers a post-processing form (an upscaler, a face fixer) with the
/// processed image.
///
/// # Safety
/// `client` is NULL or live; `image` is NULL or a view whose pixels are readable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn horde_client_submit_job_form_image(
    client: *const horde_client,
    ticket: u64,
    image: *const horde_image_view,
) -> horde_status {
    guard(|| {
        // SAFETY: the caller's contract.
        let client = unsafe { handle(client, "client") }?;
        // SAFETY: the caller's contract.
        let image = view(unsafe { arg(image, "image") }?, "image")?;
        answer(client, ticket, |shape| shape.form_image(&image))
    })
}

/// Gives a job up: it goes back to the horde as faulted, with `message`
/// (NULL for none) in the worker's log.
///
/// # Safety
/// `client` is NULL or live; `message` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn horde_client_fail_job(
    client: *const horde_client,
    ticket: u64,
    message: *const c_char,
) -> horde_status {
    guard(|| {
        // SAFETY: the caller's contract.
        let client = unsafe { handle(client, "client") }?;
        // SAFETY: the caller's contract.
        let message = unsafe { opt_str(message, "message") }?.unwrap_or("the game gave the job up");
        answer(client, ticket, |_| {
            Ok(Answer::ready(Err(BackendError::new(message))))
        })
    })
}
