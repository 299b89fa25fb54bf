//! Asking the horde: image, text and interrogation requests as C structs or
//! as the horde's own JSON bodies, plus kudos estimates and the model list.
//! Each answers a request id; what happens to it arrives as events.

use std::ffi::c_char;

use horde_core::api::{
    ImageGenerateRequest, InterrogationRequest, ModelType, TextGenerateRequest, validate,
};
use serde_json::{Map, json};

use crate::boundary::{
    Versioned, arg, bytes, guard, handle, opt_str, out, slice, str_arg, versioned,
};
use crate::client::horde_client;
use crate::status::{Failure, horde_status};

/// An image request. Fill it with `horde_image_request_init`, then set the
/// prompt and what differs; zeros and NULLs mean the horde's defaults.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct horde_image_request {
    /// `sizeof(horde_image_request)`, for forward compatibility.
    pub struct_size: usize,
    /// What to draw. Required, not empty.
    pub prompt: *const c_char,
    /// What to keep out of the picture; NULL for nothing.
    pub negative_prompt: *const c_char,
    /// The model; NULL lets any worker's model serve it.
    pub model: *const c_char,
    /// Width in pixels, a multiple of 64 from 64 to 3072; 0 is 512.
    pub width: u32,
    /// Height in pixels, a multiple of 64 from 64 to 3072; 0 is 512.
    pub height: u32,
    /// Sampling steps, 1 to 500; 0 is the horde's default (30).
    pub steps: u32,
    /// Images to make, 1 to 20; 0 is 1.
    pub count: u32,
    /// Prompt guidance, 0 to 100; 0 is the horde's default.
    pub cfg_scale: f64,
    /// The sampler (`k_euler_a`, …); NULL for the default.
    pub sampler: *const c_char,
    /// The seed; NULL for a random one.
    pub seed: *const c_char,
    /// Allow NSFW results.
    pub nsfw: bool,
    /// Have workers censor NSFW results.
    pub censor_nsfw: bool,
    /// Only trusted workers may serve it.
    pub trusted_workers: bool,
}

impl Versioned for horde_image_request {
    const MIN_SIZE: usize = std::mem::size_of::<horde_image_request>();
    fn defaults() -> Self {
        Self {
            struct_size: std::mem::size_of::<Self>(),
            prompt: std::ptr::null(),
            negative_prompt: std::ptr::null(),
            model: std::ptr::null(),
            width: 0,
            height: 0,
            steps: 0,
            count: 0,
            cfg_scale: 0.0,
            sampler: std::ptr::null(),
            seed: std::ptr::null(),
            nsfw: false,
            censor_nsfw: false,
            trusted_workers: false,
        }
    }
}

/// A text request. Fill it with `horde_text_request_init`, then set the
/// prompt and what differs; zeros and NULLs mean the horde's defaults.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct horde_text_request {
    /// `sizeof(horde_text_request)`, for forward compatibility.
    pub struct_size: usize,
    /// The prompt, context included. Required, not empty.
    pub prompt: *const c_char,
    /// The model; NULL lets any worker's model serve it.
    pub model: *const c_char,
    /// Tokens to generate, 16 to 1024; 0 is the horde's default (80).
    pub max_length: u32,
    /// Context tokens, 80 to 1 048 576; 0 is the horde's default (1024).
    pub max_context_length: u32,
    /// Sampling temperature, 0 to 5; a negative value is the horde's default.
    pub temperature: f64,
    /// Only trusted workers may serve it.
    pub trusted_workers: bool,
}

impl Versioned for horde_text_request {
    const MIN_SIZE: usize = std::mem::size_of::<horde_text_request>();
    fn defaults() -> Self {
        Self {
            struct_size: std::mem::size_of::<Self>(),
            prompt: std::ptr::null(),
            model: std::ptr::null(),
            max_length: 0,
            max_context_length: 0,
            temperature: -1.0,
            trusted_workers: false,
        }
    }
}

/// Which body `horde_client_submit_json` sends. Values are never reused.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum horde_request_kind {
    /// `POST /v2/generate/async`.
    HORDE_REQUEST_IMAGE = 1,
    /// `POST /v2/generate/text/async`.
    HORDE_REQUEST_TEXT = 2,
    /// `POST /v2/interrogate/async`.
    HORDE_REQUEST_INTERROGATION = 3,
}

fn within(name: &str, value: u32, zero_means: u32, min: u32, max: u32) -> Result<u32, Failure> {
    let v = if value == 0 { zero_means } else { value };
    if v < min || v > max {
        return Err(Failure::invalid(format!(
            "`{name}` is {value}; it must be 0 or from {min} to {max}"
        )));
    }
    Ok(v)
}

fn nonempty<'a>(p: *const c_char, name: &str) -> Result<&'a str, Failure> {
    // SAFETY: the callers' contracts cover the strings inside their structs.
    let s = unsafe { str_arg(p, name) }?;
    if s.trim().is_empty() {
        return Err(Failure::invalid(format!("`{name}` is empty")));
    }
    Ok(s)
}

fn optional<'a>(p: *const c_char, name: &str) -> Result<Option<&'a str>, Failure> {
    // SAFETY: the callers' contracts cover the strings inside their structs.
    unsafe { opt_str(p, name) }
}

fn image_body(r: &horde_image_request) -> Result<ImageGenerateRequest, Failure> {
    let prompt = nonempty(r.prompt, "request->prompt")?;
    let mut prompt = prompt.to_owned();
    if let Some(neg) = optional(r.negative_prompt, "request->negative_prompt")? {
        prompt = format!("{prompt} ### {neg}");
    }
    let size = |name: &str, v: u32| {
        let v = within(name, v, 512, 64, 3072)?;
        if v % 64 != 0 {
            return Err(Failure::invalid(format!(
                "`{name}` ({v}) is not a multiple of 64"
            )));
        }
        Ok(v)
    };
    let mut params = Map::new();
    params.insert("width".into(), size("request->width", r.width)?.into());
    params.insert("height".into(), size("request->height", r.height)?.into());
    params.insert(
        "n".into(),
        within("request->count", r.count, 1, 1, 20)?.into(),
    );
    if r.steps != 0 {
        params.insert(
            "steps".into(),
            within("request->steps", r.steps, 0, 1, 500)?.into(),
        );
    }
    if r.cfg_scale != 0.0 {
        if !(0.0..=100.0).contains(&r.cfg_scale) {
            return Err(Failure::invalid(format!(
                "`request->cfg_scale` is {}; it must be from 0 to 100",
                r.cfg_scale
            )));
        }
        params.insert("cfg_scale".into(), r.cfg_scale.into());
    }
    if let Some(sampler) = optional(r.sampler, "request->sampler")? {
        params.insert("sampler_name".into(), sampler.into());
    }
    if let Some(seed) = optional(r.seed, "request->seed")? {
        params.insert("seed".into(), seed.into());
    }
    let mut body = json!({
        "prompt": prompt,
        "params": params,
        "nsfw": r.nsfw,
        "censor_nsfw": r.censor_nsfw,
        "trusted_workers": r.trusted_workers,
    });
    if let Some(model) = optional(r.model, "request->model")? {
        body["models"] = json!([model]);
    }
    let req = serde_json::from_value(body).map_err(|e| Failure::invalid(e.to_string()))?;
    validate::validate_image_request(&req).map_err(refused)?;
    Ok(req)
}

fn text_body(r: &horde_text_request) -> Result<TextGenerateRequest, Failure> {
    let prompt = nonempty(r.prompt, "request->prompt")?;
    let mut params = Map::new();
    if r.max_length != 0 {
        let (lo, hi) = validate::MAX_LENGTH_RANGE;
        let v = within("request->max_length", r.max_length, 0, lo, hi)?;
        params.insert("max_length".into(), v.into());
    }
    if r.max_context_length != 0 {
        let (lo, hi) = validate::CONTEXT_LENGTH_RANGE;
        let v = within(
            "request->max_context_length",
            r.max_context_length,
            0,
            lo,
            hi,
        )?;
        params.insert("max_context_length".into(), v.into());
    }
    // Negative means "the horde's default"; NaN is not a temperature.
    if r.temperature >= 0.0 || r.temperature.is_nan() {
        if r.temperature > 5.0 || r.temperature.is_nan() {
            return Err(Failure::invalid(format!(
                "`request->temperature` is {}; it must be from 0 to 5",
                r.temperature
            )));
        }
        params.insert("temperature".into(), r.temperature.into());
    }
    let mut body = json!({
        "prompt": prompt,
        "params": params,
        "trusted_workers": r.trusted_workers,
    });
    if let Some(model) = optional(r.model, "request->model")? {
        body["models"] = json!([model]);
    }
    let req = serde_json::from_value(body).map_err(|e| Failure::invalid(e.to_string()))?;
    validate::validate_text_request(&req).map_err(refused)?;
    Ok(req)
}

/// A request that breaks one of upstream's rules, refused before it is
/// sent, naming the field (`params.sampler_name: …`).
fn refused(e: validate::ValidationError) -> Failure {
    Failure::invalid(format!("the request breaks a rule: {e}"))
}

/// Fills `request` with the defaults and its `struct_size`.
///
/// # Safety
/// `request` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn horde_image_request_init(
    request: *mut horde_image_request,
) -> horde_status {
    guard(|| {
        // SAFETY: the caller's contract.
        *unsafe { out(request, "request") }? = horde_image_request::defaults();
        Ok(())
    })
}

/// Fills `request` with the defaults and its `struct_size`.
///
/// # Safety
/// `request` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn horde_text_request_init(request: *mut horde_text_request) -> horde_status {
    guard(|| {
        // SAFETY: the caller's contract.
        *unsafe { out(request, "request") }? = horde_text_request::defaults();
        Ok(())
    })
}

/// Queues an image request; `*id_out` is its id (never 0), which its events
/// carry. The request's strings are copied before the call returns.
///
/// # Safety
/// `client` is NULL or live; `request` is NULL or a valid struct of its
/// `struct_size`; `id_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn horde_client_generate_image(
    client: *const horde_client,
    request: *const horde_image_request,
    id_out: *mut u64,
) -> horde_status {
    guard(|| {
        // SAFETY: the caller's contract.
        let (client, request, id_out) = unsafe {
            (
                handle(client, "client")?,
                versioned(request, "request")?,
                out(id_out, "id_out")?,
            )
        };
        let body = image_body(&request)?;
        *id_out = client.track(client.runtime.submit_image(body));
        Ok(())
    })
}

/// Queues a text request; `*id_out` is its id (never 0).
///
/// # Safety
/// As `horde_client_generate_image`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn horde_client_generate_text(
    client: *const horde_client,
    request: *const horde_text_request,
    id_out: *mut u64,
) -> horde_status {
    guard(|| {
        // SAFETY: the caller's contract.
        let (client, request, id_out) = unsafe {
            (
                handle(client, "client")?,
                versioned(request, "request")?,
                out(id_out, "id_out")?,
            )
        };
        let body = text_body(&request)?;
        *id_out = client.track(client.runtime.submit_text(body));
        Ok(())
    })
}

/// The forms a caller named, each a non-empty string.
fn form_names(forms: &[*const c_char]) -> Result<Vec<horde_core::api::FormName>, Failure> {
    forms
        .iter()
        .enumerate()
        .map(|(i, &form)| nonempty(form, &format!("forms[{i}]")).map(Into::into))
        .collect()
}

/// Asks for `forms_len` interrogation forms (`caption`, `nsfw`,
/// `interrogation`, or a post-processor such as `RealESRGAN_x4plus`) on an
/// encoded image (PNG, WebP or JPEG, `image_len` bytes); `*id_out` is the
/// request's id. The bytes are copied before the call returns and
/// base64-encoded on the runtime's threads, not the caller's.
///
/// # Safety
/// `client` is NULL or live; `image` is NULL or `image_len` readable bytes;
/// `forms` is NULL or `forms_len` string pointers; `id_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn horde_client_interrogate(
    client: *const horde_client,
    image: *const u8,
    image_len: usize,
    forms: *const *const c_char,
    forms_len: usize,
    id_out: *mut u64,
) -> horde_status {
    guard(|| {
        // SAFETY: the caller's contract.
        let (client, image, forms, id_out) = unsafe {
            (
                handle(client, "client")?,
                bytes(image, image_len, "image")?,
                slice(forms, forms_len, "forms")?,
                out(id_out, "id_out")?,
            )
        };
        if image.is_empty() {
            return Err(Failure::invalid("`image` is empty"));
        }
        if forms.is_empty() {
            return Err(Failure::invalid("`forms` is empty: name at least one form"));
        }
        // Copied here; base64-encoded on the runtime's threads.
        let body = InterrogationRequest::of(form_names(forms)?, String::new());
        let id = client
            .runtime
            .interrogate_encoded(body, image.to_vec())
            .map_err(refused)?;
        *id_out = client.track(id);
        Ok(())
    })
}

/// Asks for `forms_len` interrogation forms (as `horde_client_interrogate`)
/// on RGBA8 pixels the game holds — a frame, a render target read back —
/// with no disk round trip: `image->rgba` is `width * height * 4` bytes,
/// copied before the call returns and encoded on the runtime's threads (the
/// caller's thread does no image coding). `*id_out` is the request's id;
/// its results arrive as `HORDE_EVENT_INTERROGATION` events, whose `text`
/// is the form's name and `json` its result.
///
/// # Safety
/// `client` is NULL or live; `image` is NULL or a readable view whose
/// `rgba` is NULL or `width * height * 4` readable bytes; `forms` is NULL
/// or `forms_len` string pointers; `id_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn horde_client_interrogate_rgba(
    client: *const horde_client,
    image: *const crate::worker::horde_image_view,
    forms: *const *const c_char,
    forms_len: usize,
    id_out: *mut u64,
) -> horde_status {
    guard(|| {
        // SAFETY: the caller's contract.
        let (client, image, forms, id_out) = unsafe {
            (
                handle(client, "client")?,
                arg(image, "image")?,
                slice(forms, forms_len, "forms")?,
                out(id_out, "id_out")?,
            )
        };
        let len = (image.width as usize)
            .checked_mul(image.height as usize)
            .and_then(|n| n.checked_mul(4))
            .ok_or_else(|| Failure::invalid("`image` is too large"))?;
        // SAFETY: the caller's contract: `rgba` holds width × height × 4 bytes.
        let pixels = unsafe { bytes(image.rgba, len, "image->rgba") }?;
        let names = form_names(forms)?;
        let rgba = horde_core::runtime::surface::Rgba {
            width: image.width,
            height: image.height,
            pixels,
        };
        let id = client
            .runtime
            .interrogate_pixels(names, rgba)
            .map_err(|why| Failure::invalid(format!("`image` or `forms`: {why}")))?;
        *id_out = client.track(id);
        Ok(())
    })
}

/// Queues a request given as the horde's own JSON body (every field the
/// AI Horde v2 API documents for that endpoint); `kind` is a
/// `horde_request_kind`. Malformed JSON or unknown kinds answer
/// `HORDE_STATUS_INVALID_ARG` with the parser's message.
///
/// # Safety
/// `client` is NULL or live; `json` is NULL or a NUL-terminated string;
/// `id_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn horde_client_submit_json(
    client: *const horde_client,
    kind: u32,
    json: *const c_char,
    id_out: *mut u64,
) -> horde_status {
    guard(|| {
        // SAFETY: the caller's contract.
        let (client, json, id_out) = unsafe {
            (
                handle(client, "client")?,
                str_arg(json, "json")?,
                out(id_out, "id_out")?,
            )
        };
        let bad =
            |e: serde_json::Error| Failure::invalid(format!("`json` is not a valid body: {e}"));
        let id = match kind {
            1 => client
                .runtime
                .submit_image(serde_json::from_str(json).map_err(bad)?),
            2 => client
                .runtime
                .submit_text(serde_json::from_str(json).map_err(bad)?),
            3 => client
                .runtime
                .submit_interrogation(serde_json::from_str(json).map_err(bad)?),
            other => {
                return Err(Failure::invalid(format!(
                    "`kind` is {other}; it must be a horde_request_kind (1 to 3)"
                )));
            }
        };
        *id_out = client.track(id);
        Ok(())
    })
}

/// Asks what an image request would cost; a `HORDE_EVENT_ESTIMATED` with
/// `kudos` answers `*id_out`. Nothing is queued.
///
/// # Safety
/// As `horde_client_generate_image`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn horde_client_estimate_image(
    client: *const horde_client,
    request: *const horde_image_request,
    id_out: *mut u64,
) -> horde_status {
    guard(|| {
        // SAFETY: the caller's contract.
        let (client, request, id_out) = unsafe {
            (
                handle(client, "client")?,
                versioned(request, "request")?,
                out(id_out, "id_out")?,
            )
        };
        let body = image_body(&request)?;
        *id_out = client.track(client.runtime.estimate_image(body));
        Ok(())
    })
}

/// Asks which models are served now (`kind`: `HORDE_WORK_IMAGE` or
/// `HORDE_WORK_TEXT`); a `HORDE_EVENT_MODELS` answers `*id_out`.
///
/// # Safety
/// `client` is NULL or live; `id_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn horde_client_fetch_models(
    client: *const horde_client,
    kind: u32,
    id_out: *mut u64,
) -> horde_status {
    guard(|| {
        // SAFETY: the caller's contract.
        let (client, id_out) = unsafe { (handle(client, "client")?, out(id_out, "id_out")?) };
        let kind = match kind {
            1 => ModelType::Image,
            2 => ModelType::Text,
            other => {
                return Err(Failure::invalid(format!(
                    "`kind` is {other}; it must be HORDE_WORK_IMAGE (1) or HORDE_WORK_TEXT (2)"
                )));
            }
        };
        *id_out = client.track(client.runtime.models(kind));
        Ok(())
    })
}

/// Asks who the client's API key belongs to; a `HORDE_EVENT_USER` (or
/// `HORDE_EVENT_FAILED`, for a key the horde does not know) answers
/// `*id_out`.
///
/// # Safety
/// `client` is NULL or live; `id_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn horde_client_fetch_user(
    client: *const horde_client,
    id_out: *mut u64,
) -> horde_status {
    guard(|| {
        // SAFETY: the caller's contract.
        let (client, id_out) = unsafe { (handle(client, "client")?, out(id_out, "id_out")?) };
        *id_out = client.track(client.runtime.find_user());
        Ok(())
    })
}
