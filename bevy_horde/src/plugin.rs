//! The plugin, its resources, its system sets, and the [`Horde`] system
//! parameter games use for one-line requests.

use std::sync::Arc;

use bevy_app::{App, Plugin, PreUpdate};
use bevy_ecs::prelude::*;
use bevy_ecs::system::SystemParam;
use horde_core::api::{ImageGenerateRequest, TextGenerateRequest};
use horde_core::client::ClientConfig;
use horde_core::runtime::surface::{Answer, JobShape, Rgba};
use horde_core::runtime::{Event, JobTicket, Runtime, RuntimeConfig, WorkerBackend};
use horde_core::worker::WorkerConfig;

use crate::request::{
    HordeEstimate, HordeImageReady, HordeImageRequest, HordeInterrogationReady, HordeModels,
    HordeQuestionFailed, HordeRequestEnded, HordeTextReady, HordeTextRequest, HordeUser,
    HordeWorkerJob, HordeWorkerStatus,
};
use crate::systems;

/// The plugin: where the horde is, as whom, and (optionally) a worker.
#[derive(Clone)]
pub struct HordePlugin {
    /// The API base (`https://aihorde.net/api`, or a private horde's).
    pub base_url: String,
    /// The API key (the anonymous key by default).
    pub api_key: String,
    /// `name:version:contact` of the game; the horde requires one.
    pub client_agent: String,
    /// Requests sent at once; more wait their turn locally.
    pub max_in_flight: usize,
    /// Workers to start with the plugin (spawned as [`HordeWorker`] entities).
    pub workers: Vec<HordeWorker>,
    /// Polling, retries and the give-up bound of every request (see
    /// [`horde_core::client::lifecycle::Policy`]; results arrive within
    /// `min_poll` seconds of being done, an unreachable horde fails
    /// requests after `give_up_after` seconds).
    pub policy: horde_core::client::lifecycle::Policy,
    /// The private horde this plugin's requests go to, kept running while
    /// the App lives (see [`HordePlugin::private`]).
    #[cfg(feature = "private")]
    pub horde: Option<Arc<horde_core::coordinator::embedded::EmbeddedHorde>>,
}

impl HordePlugin {
    /// The public horde, anonymously, as `client_agent`.
    pub fn public(client_agent: impl Into<String>) -> Self {
        let client = ClientConfig::new(client_agent);
        Self {
            base_url: client.base_url,
            api_key: client.api_key,
            client_agent: client.client_agent,
            max_in_flight: 8,
            workers: Vec::new(),
            policy: horde_core::client::lifecycle::Policy::default(),
            #[cfg(feature = "private")]
            horde: None,
        }
    }

    /// A private horde inside the game (feature `private`): a coordinator
    /// keeping its data in `dir` (accounts, kudos, the game's key survive a
    /// restart), on a free loopback port, never rate-limiting the game's own
    /// traffic, with requests sent as the game's own trusted user. It stops
    /// when the App is dropped. Answers why it could not start (another
    /// process holds `dir`, a disk error) instead of failing in `build`.
    ///
    /// ```no_run
    /// # use bevy_app::prelude::*;
    /// # use bevy_horde::prelude::*;
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// App::new().add_plugins(HordePlugin::private("my-game:1.0:https://example.invalid", "saves/horde")?);
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "private")]
    pub fn private(
        client_agent: impl Into<String>,
        dir: impl Into<std::path::PathBuf>,
    ) -> Result<Self, horde_core::coordinator::embedded::EmbeddedError> {
        let horde = horde_core::coordinator::embedded::EmbeddedHorde::in_dir(dir)?;
        Self::with_horde(client_agent, horde)
    }

    /// The same with a horde the game started itself (its own
    /// [`horde_core::coordinator::config::Config`], or
    /// `EmbeddedHorde::start(Config::embedded())` for one that forgets
    /// everything when dropped).
    #[cfg(feature = "private")]
    pub fn with_horde(
        client_agent: impl Into<String>,
        horde: horde_core::coordinator::embedded::EmbeddedHorde,
    ) -> Result<Self, horde_core::coordinator::embedded::EmbeddedError> {
        let key = horde.game_key()?;
        let mut plugin = Self::public(client_agent).at(horde.api_url(), key);
        plugin.horde = Some(Arc::new(horde));
        Ok(plugin)
    }

    /// The horde at `base_url` with `api_key`.
    pub fn at(mut self, base_url: impl Into<String>, api_key: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self.api_key = api_key.into();
        self
    }

    /// Starts `worker` with the plugin, as a [`HordeWorker`] entity; call
    /// it once per worker (an image, a text and an alchemy worker side by
    /// side, each with its own name).
    pub fn with_worker(mut self, worker: HordeWorker) -> Self {
        self.workers.push(worker);
        self
    }
}

/// The private horde of [`HordePlugin::private`], to register players
/// ([`EmbeddedHorde::add_user`](horde_core::coordinator::embedded::EmbeddedHorde::add_user))
/// or read its address.
#[cfg(feature = "private")]
#[derive(Resource, Clone, Debug)]
pub struct HordePrivate(pub Arc<horde_core::coordinator::embedded::EmbeddedHorde>);

/// The runtime the plugin owns.
#[derive(Resource)]
pub struct HordeRuntime(pub Runtime);

/// A worker lending this machine to the horde while the player is idle,
/// as a component: spawning an entity with one starts the worker (once a
/// worker of the same name, despawned but still finishing its job, has
/// stopped), changing
/// it restarts the worker with the new settings (the old one finishes its
/// job first), removing it or despawning the entity stops the worker. A
/// game runs as many as it likes, each under its own name; all of them
/// pop only while [`HordeIdle`] is `true`, and their doings arrive as
/// [`crate::HordeWorkerStatus`] messages naming the worker.
#[derive(Component, Clone)]
pub struct HordeWorker {
    /// What the worker tells the horde (its name must be unique).
    pub config: WorkerConfig,
    /// What does the work.
    pub backend: WorkerBackend,
}

impl std::fmt::Debug for HordeWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HordeWorker")
            .field("name", &self.config.name)
            .field("backend", &self.backend)
            .finish()
    }
}

impl HordeWorker {
    /// A worker named `name` running `backend`.
    pub fn new(name: impl Into<String>, backend: WorkerBackend) -> Self {
        Self {
            config: WorkerConfig::named(name),
            backend,
        }
    }

    /// A worker running a backend in this process.
    pub fn with_backend(
        name: impl Into<String>,
        backend: Arc<dyn horde_core::worker::Backend>,
    ) -> Self {
        Self::new(name, WorkerBackend::Backend(backend))
    }
}

/// Whether the player is away, so the worker may pop for work. Set it from
/// any system (paused, in a menu, window unfocused); the worker follows at
/// the next [`HordeSet::Submit`].
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HordeIdle(pub bool);

/// The plugin's systems, all in `PreUpdate`, in this order.
#[derive(SystemSet, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HordeSet {
    /// New requests are sent; the worker learns whether the player is idle.
    Submit,
    /// The runtime's events are drained.
    Poll,
    /// States, results, messages and entity events are applied.
    Apply,
}

/// Why the plugin has no runtime: it could not start (the client agent is
/// not `name:version:contact`, a thread could not start). The plugin logs
/// it once at start; every request then fails with this message (its
/// [`crate::HordeRequestEnded`] says so) instead of the App panicking.
#[derive(Resource, Clone, Debug, PartialEq, Eq)]
pub struct HordeUnavailable(pub String);

/// Whether the horde answers, as last reported (`None` until the first
/// call was answered or failed). Changes also arrive as
/// [`crate::HordeConnectionChanged`] messages.
#[derive(Resource, Clone, Debug, Default, PartialEq, Eq)]
pub struct HordeConnection(pub Option<horde_core::runtime::Connection>);

/// Runtime events drained this frame (kept between frames so no frame allocates).
#[derive(Resource, Default)]
pub(crate) struct Drained(pub Vec<Event>);

impl Plugin for HordePlugin {
    fn build(&self, app: &mut App) {
        let mut client = ClientConfig::new(self.client_agent.clone());
        client.base_url = self.base_url.clone();
        client.api_key = self.api_key.clone();
        let mut config = RuntimeConfig::new(client);
        config.max_in_flight = self.max_in_flight;
        config.policy = self.policy.clone();
        match Runtime::start(config) {
            Ok(runtime) => {
                app.insert_resource(HordeRuntime(runtime));
            }
            // A configuration the game must fix: said in the log and in
            // every request's end, never as a panic in `build`.
            Err(e) => {
                let why = format!("the horde plugin cannot start: {e}");
                tracing::error!("{why}");
                app.insert_resource(HordeUnavailable(why));
            }
        }
        for w in &self.workers {
            app.world_mut().spawn(w.clone());
        }
        #[cfg(feature = "private")]
        if let Some(horde) = &self.horde {
            app.insert_resource(HordePrivate(horde.clone()));
        }
        app.init_resource::<HordeIdle>()
            .init_resource::<systems::WorkerNames>()
            .init_resource::<Drained>()
            .init_resource::<systems::Owners>()
            .init_resource::<HordeConnection>()
            .add_message::<crate::request::HordeConnectionChanged>()
            .add_message::<HordeImageReady>()
            .add_message::<HordeTextReady>()
            .add_message::<HordeInterrogationReady>()
            .add_message::<HordeRequestEnded>()
            .add_message::<HordeWorkerStatus>()
            .add_message::<HordeWorkerJob>()
            .add_message::<HordeEstimate>()
            .add_message::<HordeModels>()
            .add_message::<HordeUser>()
            .add_message::<HordeQuestionFailed>()
            .configure_sets(
                PreUpdate,
                (HordeSet::Submit, HordeSet::Poll, HordeSet::Apply).chain(),
            )
            .add_systems(
                PreUpdate,
                (
                    (
                        // The runtime hears the idle state before a worker
                        // starts, so it starts in it.
                        (systems::follow_idle, systems::start_workers).chain(),
                        systems::submit,
                    )
                        .in_set(HordeSet::Submit),
                    systems::poll.in_set(HordeSet::Poll),
                    systems::apply.in_set(HordeSet::Apply),
                ),
            )
            .add_observer(systems::cancel_removed)
            .add_observer(systems::stop_removed_worker);
    }
}

/// One-line requests and the worker's controls, as a system parameter.
#[derive(SystemParam)]
pub struct Horde<'w, 's> {
    commands: Commands<'w, 's>,
    runtime: Option<Res<'w, HordeRuntime>>,
    owners: ResMut<'w, systems::Owners>,
}

impl Horde<'_, '_> {
    /// Requests one 512² safe-for-work image of `prompt` from any model;
    /// answers the request entity. Safe for work (`nsfw: false`), as the
    /// Godot and C surfaces ask by default, so that a default worker (which
    /// takes no NSFW work) in the same game serves it.
    pub fn generate_image(&mut self, prompt: impl Into<String>) -> Entity {
        let mut req = ImageGenerateRequest::new(prompt);
        req.nsfw = Some(false);
        self.request_image(req)
    }

    /// Requests images as `req` says; answers the request entity. A field
    /// left out takes upstream's default: `nsfw` unset means NSFW allowed,
    /// which a worker with `nsfw = false` skips.
    pub fn request_image(&mut self, req: ImageGenerateRequest) -> Entity {
        self.commands.spawn(HordeImageRequest(req)).id()
    }

    /// Requests text continuing `prompt` from any model; answers the
    /// request entity.
    pub fn generate_text(&mut self, prompt: impl Into<String>) -> Entity {
        self.request_text(TextGenerateRequest::new(prompt.into()))
    }

    /// Requests text as `req` says (`TextGenerateRequest::new(prompt)
    /// .max_length(120).temperature(0.7)`); answers the request entity.
    pub fn request_text(&mut self, req: TextGenerateRequest) -> Entity {
        self.commands.spawn(HordeTextRequest(req)).id()
    }

    /// Interrogates an image the game holds (a frame, a texture it drew):
    /// `forms` such as [`FormName::CAPTION`](horde_core::api::FormName) and
    /// `Nsfw`. Its pixels must be RGBA8 (`Rgba8UnormSrgb` or `Rgba8Unorm`,
    /// as `Assets<Image>` holds loaded PNGs and the plugin's own results);
    /// they are copied here and encoded on the runtime's threads. Answers
    /// the request entity, which then behaves as one holding a
    /// [`crate::HordeInterrogationRequest`] (states, [`crate::HordeInterrogation`],
    /// [`crate::FormArrived`], one end message); `Err` (nothing sent) says
    /// why the image cannot be sent.
    pub fn interrogate_image(
        &mut self,
        image: &bevy_image::Image,
        forms: Vec<horde_core::api::FormName>,
    ) -> Result<Entity, String> {
        use wgpu_types::TextureFormat;
        let format = image.texture_descriptor.format;
        if !matches!(
            format,
            TextureFormat::Rgba8UnormSrgb | TextureFormat::Rgba8Unorm
        ) {
            return Err(format!(
                "the image is {format:?}; only RGBA8 images can be interrogated"
            ));
        }
        let pixels = image
            .data
            .as_deref()
            .ok_or("the image has no pixels in memory (it lives only on the GPU)")?;
        let runtime = self.runtime.as_ref().ok_or_else(|| self.unavailable())?;
        let id = runtime.0.interrogate_pixels(
            forms,
            Rgba {
                width: image.width(),
                height: image.height(),
                pixels,
            },
        )?;
        let entity = self
            .commands
            .spawn((
                crate::HordeRequestId(id),
                crate::HordeRequestState::Submitted,
            ))
            .id();
        self.owners.0.insert(id, entity);
        Ok(entity)
    }

    /// Why there is no runtime, in words.
    fn unavailable(&self) -> String {
        "the horde plugin has no runtime (see the HordeUnavailable resource)".into()
    }

    /// Asks what `req` would cost; the answer comes as a [`HordeEstimate`]
    /// message carrying the returned id (`None`, nothing asked, when the
    /// plugin has no runtime: [`crate::HordeUnavailable`]).
    pub fn estimate_image(
        &self,
        req: ImageGenerateRequest,
    ) -> Option<horde_core::runtime::RequestId> {
        Some(self.runtime.as_ref()?.0.estimate_image(req))
    }

    /// Asks which models of `kind` are served now; the answer comes as a
    /// [`HordeModels`] message carrying the returned id (`None` as for
    /// [`Horde::estimate_image`]).
    pub fn models(
        &self,
        kind: horde_core::api::ModelType,
    ) -> Option<horde_core::runtime::RequestId> {
        Some(self.runtime.as_ref()?.0.models(kind))
    }

    /// Asks who the API key belongs to; the answer comes as a
    /// [`HordeUser`] message carrying the returned id (`None` as for
    /// [`Horde::estimate_image`]).
    pub fn find_user(&self) -> Option<horde_core::runtime::RequestId> {
        Some(self.runtime.as_ref()?.0.find_user())
    }

    /// The worker must give the GPU back now: its current job goes back to
    /// the horde as faulted (set [`HordeIdle`] `false` to let it finish instead).
    pub fn take_gpu_back(&mut self) {
        self.commands.insert_resource(HordeIdle(false));
        if let Some(runtime) = &self.runtime {
            runtime.0.take_gpu_back();
        }
    }

    /// Answers a [`HordeWorkerJob`] with the worker's output, or why there
    /// is none (`Err`: the job goes back to the horde as faulted), or an
    /// [`Answer`] checked by [`horde_core::runtime::surface::JobShape`].
    pub fn answer_job(&self, ticket: JobTicket, answer: impl Into<Answer>) {
        if let Some(runtime) = &self.runtime {
            runtime.0.answer_job(ticket, answer);
        }
    }

    /// Answers an image job with RGBA8 pixels: exactly the job's count of
    /// images, each of the job's size (else `Err` says what is wrong and
    /// nothing is sent: answer again, or fault it with
    /// [`Horde::answer_job`] and an `Err`). The pixels are copied here and
    /// encoded on the runtime's threads, never in the game's frame; seeds
    /// are the job's seed plus the image's index.
    pub fn answer_images(&self, job: &HordeWorkerJob, images: &[Rgba<'_>]) -> Result<(), String> {
        let answer = JobShape::of(&job.job).images(images)?;
        self.answer_job(job.ticket, answer);
        Ok(())
    }

    /// Answers an image job with buffers the game hands over: checked as
    /// [`Horde::answer_images`], but moved, not copied — microseconds
    /// whatever their size; they are encoded and freed on the runtime's
    /// threads. Refused (`Err`), they are dropped and nothing is sent.
    pub fn answer_images_owned(
        &self,
        job: &HordeWorkerJob,
        images: Vec<horde_core::runtime::SourceImage>,
    ) -> Result<(), String> {
        let answer = JobShape::of(&job.job)
            .images_handed_over(Box::new(images))
            .map_err(|(why, _)| why)?;
        self.answer_job(job.ticket, answer);
        Ok(())
    }

    /// Answers a text job with the generated text (the prompt not
    /// repeated); `Err` when the job is not a text job.
    pub fn answer_text(&self, job: &HordeWorkerJob, text: &str) -> Result<(), String> {
        let answer = JobShape::of(&job.job).text(text)?;
        self.answer_job(job.ticket, answer);
        Ok(())
    }

    /// Answers an analysis form with its bare value — a `caption` job with
    /// `json!("a red potion")`, an `nsfw` job with `json!(false)`, an
    /// `interrogation` job with its object; the worker sends it keyed by
    /// the form's name (`{"caption": "a red potion"}`), as upstream's
    /// workers do. `Err` when the job is not alchemy.
    pub fn answer_form(
        &self,
        job: &HordeWorkerJob,
        value: serde_json::Value,
    ) -> Result<(), String> {
        let answer = JobShape::of(&job.job).form(value)?;
        self.answer_job(job.ticket, answer);
        Ok(())
    }

    /// Stops every worker: each finishes its job and enters maintenance
    /// (the [`HordeWorker`] entities stay; despawn one to stop only it).
    pub fn stop_workers(&self) {
        if let Some(runtime) = &self.runtime {
            runtime.0.stop_workers();
        }
    }
}
