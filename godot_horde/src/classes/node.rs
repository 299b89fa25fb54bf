//! `HordeNode`: the Node a Godot game adds. Its exported properties are
//! the connection and worker settings; its methods queue requests and
//! answer jobs; its signals report everything. All decisions live in
//! [`NodeLogic`]; this file converts Godot values and emits signals.

use godot::classes::{INode, Image, ImageTexture, Node, image::Format};
use godot::prelude::*;
use horde_core::api::ModelType;
use horde_core::runtime::surface::{Rgba, WorkerSpec};

use super::enums::{HordeWorkKind, HordeWorkerMode};
use super::info::HordeResultInfo;
use super::params::{HordeImageParams, HordeTextParams};
use super::variant::{dictionary_of, from_json, to_json};
use crate::logic::{Emit, NodeLogic, NodeSettings, Rejected};
use crate::presets::{ImagePreset, TextPreset};

/// Requests images, text and interrogations from an AI Horde (the public
/// one, or a private one), and lends the player's GPU to it while the game
/// is idle. Requests run concurrently, each with its own id; results and
/// progress arrive as signals, emitted during `_process` on the main thread.
///
/// ```gdscript
/// @onready var horde: HordeNode = $HordeNode
///
/// func _ready() -> void:
///     horde.image_generated.connect(_on_image)
///     var id := horde.generate_image("a lighthouse at dusk")
///
/// func _on_image(id: int, texture: ImageTexture, info: HordeResultInfo) -> void:
///     $Picture.texture = texture
///     info.save_png("user://lighthouse.png")
/// ```
///
/// Connection settings are read when the first request is made.
/// A request refused before it is sent (an invalid size, an empty prompt)
/// answers id 0 and emits `request_failed(0, rc, message)` next frame.
#[derive(GodotClass)]
#[class(base = Node)]
pub struct HordeNode {
    /// The horde's API root: `https://aihorde.net/api`, or a private horde.
    #[export]
    base_url: GString,
    /// The API key; `0000000000` is anonymous (lowest priority).
    #[export]
    api_key: GString,
    /// `name:version:contact` of your game; the horde asks it of every client.
    #[export]
    client_agent: GString,
    /// Requests sent to the horde at once; more wait their turn.
    #[export(range = (1.0, 64.0, 1.0))]
    max_in_flight: i64,
    /// Seconds before an unfinished request fails (0: never).
    #[export(range = (0.0, 3600.0, 1.0, or_greater))]
    request_timeout: f64,
    /// Seconds the horde may stay unreachable before requests fail
    /// (`request_failed` with `ServerUnreachable`; `connection_changed`
    /// says "unreachable").
    #[export]
    give_up_after: f64,
    /// Seconds between status checks while a job may finish.
    #[export]
    poll_interval: f64,
    /// Cancel pending requests when the node leaves the scene tree.
    #[export]
    cancel_on_exit: bool,
    /// Settings used when `generate_image` gets no params.
    #[export]
    image_params: Option<Gd<HordeImageParams>>,
    /// Settings used when `generate_text` gets no params.
    #[export]
    text_params: Option<Gd<HordeTextParams>>,
    /// When the worker may take jobs: Off, WhenIdle (`set_idle(true)`), Always.
    #[export_group(name = "Worker", prefix = "worker_")]
    #[export]
    worker_mode: HordeWorkerMode,
    /// The worker's name on the horde (unique).
    #[export]
    worker_name: GString,
    /// The worker's backend in TOML (`kind = "procedural"`, a bridge to a
    /// local server, …); empty: the game answers jobs (`worker_job`).
    #[export(multiline)]
    worker_backend: GString,
    /// The kind of jobs a game-answered worker takes.
    #[export]
    worker_kind: HordeWorkKind,
    /// The models (alchemy: the forms) the worker serves.
    #[export]
    worker_models: PackedStringArray,
    /// The worker accepts NSFW requests.
    #[export]
    worker_nsfw: bool,
    logic: NodeLogic,
    emits: Vec<Emit>,
    /// The runtime's log lines waiting for the console.
    logs: &'static crate::logs::LogQueue,
    base: Base<Node>,
}

#[godot_api]
impl INode for HordeNode {
    fn init(base: Base<Node>) -> Self {
        let d = NodeSettings::default();
        Self {
            base_url: GString::from(d.base_url.as_str()),
            api_key: GString::from(d.api_key.as_str()),
            client_agent: GString::from(d.client_agent.as_str()),
            max_in_flight: i64::from(d.max_in_flight),
            request_timeout: d.request_timeout_secs,
            give_up_after: d.give_up_after_secs,
            poll_interval: d.poll_interval_secs,
            cancel_on_exit: d.cancel_on_exit,
            image_params: None,
            text_params: None,
            worker_mode: HordeWorkerMode::Off,
            worker_name: GString::new(),
            worker_backend: GString::new(),
            worker_kind: HordeWorkKind::Image,
            worker_models: PackedStringArray::new(),
            worker_nsfw: false,
            logic: NodeLogic::new(d),
            emits: Vec::new(),
            logs: crate::logs::console(),
            base,
        }
    }

    fn process(&mut self, _delta: f64) {
        self.print_logs();
        self.logic.drain(&mut self.emits);
        for emit in std::mem::take(&mut self.emits) {
            self.emit(emit);
        }
    }

    fn exit_tree(&mut self) {
        self.logic.exit_tree();
    }
}

impl HordeNode {
    /// The runtime's warnings and errors (from any thread), into Godot's
    /// output and debugger panels, here on the main thread.
    fn print_logs(&self) {
        let (lines, dropped) = self.logs.drain();
        for line in lines {
            match line.level {
                tracing::Level::ERROR => godot_error!("{}", line.text),
                tracing::Level::WARN => godot_warn!("{}", line.text),
                _ => godot_print!("{}", line.text),
            }
        }
        if dropped > 0 {
            godot_warn!("horde: {dropped} older log lines were dropped");
        }
    }
}

#[godot_api]
impl HordeNode {
    /// A request is waiting in the horde's queue.
    #[signal]
    fn request_queued(id: i64, position: i64, wait_time: i64);
    /// Jobs of a request moved.
    #[signal]
    fn request_progress(id: i64, finished: i64, processing: i64, waiting: i64);
    /// One image arrived.
    #[signal]
    fn image_generated(id: i64, texture: Gd<ImageTexture>, info: Gd<HordeResultInfo>);
    /// One text arrived.
    #[signal]
    fn text_generated(id: i64, text: GString, info: Gd<HordeResultInfo>);
    /// One interrogation form finished (`result` keyed by the form's name).
    #[signal]
    fn interrogation_completed(id: i64, form: GString, result: VarDictionary);
    /// Every result of the request arrived; the id is done.
    #[signal]
    fn request_completed(id: i64);
    /// The request failed (`rc`: the horde's code, or the node's own);
    /// results that arrived before stay valid. The id is done.
    #[signal]
    fn request_failed(id: i64, rc: GString, message: GString);
    /// The request was cancelled as asked. The id is done.
    #[signal]
    fn request_cancelled(id: i64);
    /// What an image request would cost (`estimate_kudos`).
    #[signal]
    fn kudos_estimated(id: i64, kudos: f64);
    /// The models served now (`fetch_models`); empty when the question failed.
    #[signal]
    fn models_fetched(models: VarArray);
    /// Who the API key belongs to (`fetch_user`); empty when it failed.
    #[signal]
    fn user_fetched(user: VarDictionary);
    /// A worker did something: `state` is `started`, `job_received`,
    /// `job_finished`, `kudos_earned`, `nothing_to_do`, `maintenance`,
    /// `offering`, `error` or `stopped`; `details` holds its fields.
    /// `started` comes once the horde answered; `nothing_to_do` when pops
    /// find nothing, then again only when the reasons (`skipped`) change.
    #[signal]
    fn worker_state_changed(worker: GString, state: GString, details: VarDictionary);
    /// A job for the game to do (a worker with no backend): answer with
    /// `submit_job_images`, `submit_job_text`, `submit_job_form`,
    /// `submit_job_form_image` or `fail_job`. `job.worker` names the
    /// node's worker that popped it. `source` is the image to start from
    /// (img2img, alchemy), or null.
    #[signal]
    fn worker_job(ticket: i64, job: VarDictionary, source: Option<Gd<Image>>);
    /// A call for the request failed for a passing reason and is tried
    /// again in `retry_in` seconds (`rc`: `RateLimited` or `ServerUnreachable`).
    #[signal]
    fn request_retrying(id: i64, rc: GString, message: GString, retry_in: f64);
    /// Whether the horde answers changed: `state` is `reachable`,
    /// `retrying` or `unreachable` (requests then fail with
    /// `ServerUnreachable`: show the player "offline"); `cause` says why.
    #[signal]
    fn connection_changed(state: GString, cause: GString);
    /// The request waits for a free slot: `in_flight` requests (the node's
    /// `max_in_flight`) are at the horde.
    #[signal]
    fn request_waiting(id: i64, in_flight: i64);

    /// Queues an image request; answers its id (0 when refused).
    /// `params` null: the node's `image_params`, or the defaults.
    #[func]
    fn generate_image(&mut self, prompt: GString, params: Option<Gd<HordeImageParams>>) -> i64 {
        let preset = self.image_preset(params);
        self.sync();
        let id = self.logic.generate_image(&prompt.to_string(), &preset);
        to_id(id)
    }

    /// Queues a text request; answers its id (0 when refused).
    /// `params` null: `text_params`, or the defaults.
    #[func]
    fn generate_text(&mut self, prompt: GString, params: Option<Gd<HordeTextParams>>) -> i64 {
        let preset = params
            .or_else(|| self.text_params.clone())
            .map_or_else(TextPreset::default, |p| p.bind().preset());
        self.sync();
        let id = self.logic.generate_text(&prompt.to_string(), &preset);
        to_id(id)
    }

    /// Asks the horde to look at an image: `forms` among `caption`,
    /// `nsfw`, `interrogation`, and the post-processors. Answers its id.
    #[func]
    fn interrogate(&mut self, image: Option<Gd<Image>>, forms: PackedStringArray) -> i64 {
        let Some(image) = image.filter(|i| !i.is_empty()) else {
            return to_id(
                self.logic
                    .refuse(Rejected::new("BadRequest", "interrogate needs an image")),
            );
        };
        let png = image.save_png_to_buffer().to_vec();
        let forms: Vec<String> = forms.as_slice().iter().map(|f| f.to_string()).collect();
        self.sync();
        to_id(self.logic.interrogate(&png, &forms))
    }

    /// Cancels a pending request; false when `id` is not one. Finished
    /// results still arrive, then `request_cancelled`.
    #[func]
    fn cancel(&mut self, id: i64) -> bool {
        u64::try_from(id).is_ok_and(|id| self.logic.cancel(id))
    }

    /// Cancels every pending request.
    #[func]
    fn cancel_all(&mut self) {
        self.logic.cancel_all();
    }

    /// Whether `id` has not ended yet.
    #[func]
    fn is_pending(&self, id: i64) -> bool {
        u64::try_from(id).is_ok_and(|id| self.logic.is_pending(id))
    }

    /// Ids that have not ended yet.
    #[func]
    fn pending_requests(&self) -> PackedInt64Array {
        self.logic.pending_ids().into_iter().map(to_id).collect()
    }

    /// Asks what an image request would cost; `kudos_estimated` answers
    /// the returned id. Nothing is queued.
    #[func]
    fn estimate_kudos(&mut self, prompt: GString, params: Option<Gd<HordeImageParams>>) -> i64 {
        let preset = self.image_preset(params);
        self.sync();
        to_id(self.logic.estimate_kudos(&prompt.to_string(), &preset))
    }

    /// The models served now: `var models = await horde.fetch_models()`
    /// (`text` true: text models). Each is a Dictionary of the horde's
    /// fields (`name`, `count`, `queued`, `eta`, …).
    #[func]
    fn fetch_models(&mut self, #[opt(default = false)] text: bool) -> Signal {
        self.sync();
        let kind = if text {
            ModelType::Text
        } else {
            ModelType::Image
        };
        self.logic.fetch_models(kind);
        Signal::from_object_signal(&self.to_gd(), "models_fetched")
    }

    /// Who the API key belongs to: `var user = await horde.fetch_user()`
    /// (`username`, `kudos`, …).
    #[func]
    fn fetch_user(&mut self) -> Signal {
        self.sync();
        self.logic.fetch_user();
        Signal::from_object_signal(&self.to_gd(), "user_fetched")
    }

    /// Starts the worker described by the `worker_*` properties; false
    /// (and `request_failed(0, …)`) when `worker_mode` is Off or the
    /// settings are wrong.
    #[func]
    fn start_worker(&mut self) -> bool {
        self.sync();
        let backend = self.worker_backend.to_string();
        let spec = WorkerSpec {
            name: self.worker_name.to_string(),
            backend: (!backend.trim().is_empty()).then_some(backend),
            kind: Some(self.worker_kind.into()),
            models: self
                .worker_models
                .as_slice()
                .iter()
                .map(|m| m.to_string())
                .collect(),
            nsfw: self.worker_nsfw,
            ..WorkerSpec::default()
        };
        let r = self.logic.start_worker(&spec);
        self.result(r)
    }

    /// Workers finish their jobs, enter maintenance and stop.
    #[func]
    fn stop_worker(&mut self) {
        self.logic.stop_workers();
    }

    /// The worker started as `name` finishes its job, enters maintenance
    /// and stops; the others go on. Answers `false` (and changes nothing)
    /// when no worker of that name was started on this node.
    #[func]
    fn stop_worker_named(&mut self, name: GString) -> bool {
        self.logic.stop_worker(&name.to_string())
    }

    /// Whether the player is away: in `WhenIdle` mode the worker takes
    /// jobs only while this is true (current jobs finish either way).
    #[func]
    fn set_idle(&mut self, idle: bool) {
        self.logic.set_idle(idle);
    }

    /// The game needs the GPU now: the worker's current jobs go back to
    /// the horde at once.
    #[func]
    fn take_gpu_back(&mut self) {
        self.logic.take_gpu_back();
    }

    /// Answers an image job with its images (as many as `job.count`).
    #[func]
    fn submit_job_images(&mut self, ticket: i64, images: Array<Gd<Image>>) -> bool {
        let pixels: Vec<(u32, u32, Vec<u8>)> = images.iter_shared().map(|i| rgba(&i)).collect();
        let views: Vec<Rgba<'_>> = pixels
            .iter()
            .map(|(w, h, p)| Rgba {
                width: *w,
                height: *h,
                pixels: p,
            })
            .collect();
        let r = self
            .logic
            .answer_job(to_ticket(ticket), |shape| shape.images(&views));
        self.result(r)
    }

    /// Answers a text job with the generated text.
    #[func]
    fn submit_job_text(&mut self, ticket: i64, text: GString) -> bool {
        let text = text.to_string();
        let r = self
            .logic
            .answer_job(to_ticket(ticket), |shape| shape.text(&text));
        self.result(r)
    }

    /// Answers an analysis form (`caption`: a String, `nsfw`: a bool,
    /// `interrogation`: a Dictionary).
    #[func]
    fn submit_job_form(&mut self, ticket: i64, value: Variant) -> bool {
        let r = to_json(&value)
            .map_err(|m| Rejected::new("BadAnswer", m))
            .and_then(|value| {
                self.logic
                    .answer_job(to_ticket(ticket), |shape| shape.form(value))
            });
        self.result(r)
    }

    /// Answers a post-processing form with the processed image.
    #[func]
    fn submit_job_form_image(&mut self, ticket: i64, image: Gd<Image>) -> bool {
        let (width, height, pixels) = rgba(&image);
        let view = Rgba {
            width,
            height,
            pixels: &pixels,
        };
        let r = self
            .logic
            .answer_job(to_ticket(ticket), |shape| shape.form_image(&view));
        self.result(r)
    }

    /// Gives a job up: it goes back to the horde as faulted.
    #[func]
    fn fail_job(&mut self, ticket: i64, message: GString) -> bool {
        let r = self.logic.fail_job(to_ticket(ticket), &message.to_string());
        self.result(r)
    }
}

/// An id as GDScript's int.
fn to_id(id: u64) -> i64 {
    i64::try_from(id).unwrap_or(0)
}

/// A ticket from GDScript (negative ones match nothing).
fn to_ticket(ticket: i64) -> u64 {
    u64::try_from(ticket).unwrap_or(0)
}

/// An image's pixels as RGBA8, converted on a copy when needed.
fn rgba(image: &Gd<Image>) -> (u32, u32, Vec<u8>) {
    let mut copy = image.clone();
    if image.get_format() != Format::RGBA8 {
        copy = image.duplicate_resource();
        copy.convert(Format::RGBA8);
    }
    let w = u32::try_from(copy.get_width()).unwrap_or(0);
    let h = u32::try_from(copy.get_height()).unwrap_or(0);
    (w, h, copy.get_data().to_vec())
}

/// An RGBA8 image as a Godot Image, or None if Godot refuses the data.
fn image(width: u32, height: u32, rgba: &[u8]) -> Option<Gd<Image>> {
    let (w, h) = (i32::try_from(width).ok()?, i32::try_from(height).ok()?);
    Image::create_from_data(w, h, false, Format::RGBA8, &PackedByteArray::from(rgba))
}

impl HordeNode {
    /// Copies the exported properties into the logic's settings.
    fn sync(&mut self) {
        let s = &mut self.logic.settings;
        s.base_url = self.base_url.to_string();
        s.api_key = self.api_key.to_string();
        s.client_agent = self.client_agent.to_string();
        s.max_in_flight = u32::try_from(self.max_in_flight).unwrap_or(1).max(1);
        s.request_timeout_secs = self.request_timeout;
        s.give_up_after_secs = self.give_up_after;
        s.poll_interval_secs = self.poll_interval;
        s.cancel_on_exit = self.cancel_on_exit;
        s.worker_mode = self.worker_mode.into();
    }

    fn image_preset(&self, params: Option<Gd<HordeImageParams>>) -> ImagePreset {
        params
            .or_else(|| self.image_params.clone())
            .map_or_else(ImagePreset::default, |p| p.bind().preset())
    }

    /// true, or false with the reason as `request_failed(0, …)` and in
    /// Godot's error log.
    fn result(&mut self, r: Result<(), Rejected>) -> bool {
        match r {
            Ok(()) => true,
            Err(why) => {
                godot_error!("HordeNode: {} ({})", why.message, why.rc);
                self.logic.refuse(why);
                false
            }
        }
    }

    fn emit(&mut self, emit: Emit) {
        match emit {
            Emit::Queued {
                id,
                position,
                wait_time,
            } => self
                .signals()
                .request_queued()
                .emit(to_id(id), i64::from(position), wait_time),
            Emit::Progress {
                id,
                finished,
                processing,
                waiting,
            } => self.signals().request_progress().emit(
                to_id(id),
                i64::from(finished),
                i64::from(processing),
                i64::from(waiting),
            ),
            Emit::Image {
                width,
                height,
                rgba,
                info,
            } => {
                let picture = image(width, height, &rgba);
                let texture = picture.as_ref().and_then(ImageTexture::create_from_image);
                match texture {
                    Some(texture) => {
                        let id = to_id(info.id);
                        let info = HordeResultInfo::create(&info, picture);
                        self.signals().image_generated().emit(id, &texture, &info);
                    }
                    None => godot_error!(
                        "HordeNode: image {} of request {} ({width}×{height}) could not become a texture",
                        info.index,
                        info.id
                    ),
                }
            }
            Emit::Text { text, info } => {
                let id = to_id(info.id);
                let info = HordeResultInfo::create(&info, None);
                self.signals().text_generated().emit(
                    to_id(id as u64),
                    &GString::from(text.as_str()),
                    &info,
                );
            }
            Emit::Interrogation { id, form, result } => {
                self.signals().interrogation_completed().emit(
                    to_id(id),
                    &GString::from(form.as_str()),
                    &dictionary_of(&result),
                );
            }
            Emit::Completed { id } => self.signals().request_completed().emit(to_id(id)),
            Emit::Retrying { id, why, retry_in } => self.signals().request_retrying().emit(
                to_id(id),
                &GString::from(why.rc.as_str()),
                &GString::from(why.message.as_str()),
                retry_in,
            ),
            Emit::Connection { state, cause } => self.signals().connection_changed().emit(
                &GString::from(state.as_str()),
                &GString::from(cause.as_str()),
            ),
            Emit::WaitingForSlot { id, in_flight } => self
                .signals()
                .request_waiting()
                .emit(to_id(id), i64::from(in_flight)),
            Emit::Failed { id, why } => self.signals().request_failed().emit(
                to_id(id),
                &GString::from(why.rc.as_str()),
                &GString::from(why.message.as_str()),
            ),
            Emit::Cancelled { id } => self.signals().request_cancelled().emit(to_id(id)),
            Emit::Estimated { id, kudos } => {
                self.signals().kudos_estimated().emit(to_id(id), kudos);
            }
            Emit::Models { models, .. } => {
                let list = from_json(&models).try_to::<VarArray>().unwrap_or_default();
                self.signals().models_fetched().emit(&list);
            }
            Emit::User { user, .. } => {
                self.signals().user_fetched().emit(&dictionary_of(&user));
            }
            Emit::Worker {
                worker,
                state,
                details,
            } => self.signals().worker_state_changed().emit(
                &GString::from(worker.as_str()),
                &GString::from(state.as_str()),
                &dictionary_of(&details),
            ),
            Emit::Job {
                ticket,
                job,
                source,
            } => {
                let source = source.and_then(|(w, h, px)| image(w, h, &px));
                self.signals().worker_job().emit(
                    to_id(ticket),
                    &dictionary_of(&job),
                    source.as_ref(),
                );
            }
        }
    }
}
