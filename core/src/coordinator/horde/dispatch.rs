//! Handing jobs to workers and taking their results: worker check-in on
//! pop, the eligibility rules (with the `skipped` breakdown of an empty
//! pop), batching, seeds and ttls, and image and text submits with their
//! rewards and charges.

use super::{Caller, Horde, MAX_RESTARTS, TEXT_JOB_TTL_SECS};
use crate::api::{
    GenerationState, ImagePopPayload, ImagePopRequest, ImagePopResponse, ImageSettings,
    ImageSubmitRequest, JobId, MetadataType, MetadataValue, PopCommon, Rc, Sampler, SkippedReasons,
    SourceProcessing, TextPopPayload, TextPopRequest, TextPopResponse, TextSubmitRequest,
    WorkerType,
};
use crate::coordinator::error::ApiError;
use crate::coordinator::model::{Capabilities, Job, JobState, Request, RequestBody, Worker};
use crate::coordinator::store::Table;
use crate::kudos::{
    self, ImageChargeFactors, ImageJob, TextJob, image_charge, image_reward, rewarded_tokens,
    split_job_reward, text_charge, text_reward,
};

/// Most waiting requests one pop examines.
pub const MAX_SCAN: usize = 10_000;
/// A worker's record is written at most this often by check-ins alone.
const CHECK_IN_PERSIST_SECS: f64 = 30.0;
/// Pixel-steps per second below which a worker is "slow" (`slow_workers: false`).
const FAST_WORKER_PIXELSTEPS: f64 = 500_000.0;
/// Tokens per second below which a text worker is "slow".
const FAST_WORKER_TOKENS: f64 = 3.0;
/// Accurate steps allowed to workers that limit steps.
const LIMITED_MAX_STEPS: f64 = 40.0;
/// Ttl floor of an image job, seconds.
const MIN_IMAGE_TTL: f64 = 150.0;
/// An untrusted owner with more image and text workers than this gets no
/// new one (so, as upstream counts, four are allowed and the fifth refused).
const MAX_WORKERS_UNTRUSTED: usize = 3;
/// The same for a trusted owner, unless invited for more.
const MAX_WORKERS_TRUSTED: usize = 20;
/// A model upstream keeps out of requests that name no model.
const SDXL_BETA: &str = "SDXL_beta::stability.ai#6901";
/// Bridges whose text backends upstream counts as validated.
const VALIDATED_TEXT_BRIDGES: &[&str] = &[
    "AI Horde Worker",
    "AI Horde Worker~aphrodite~oai",
    "AI Horde Worker~aphrodite~kai",
    "KoboldCppEmbedWorker",
    "TabbyAPI",
    "horde-rs",
];

/// Why a worker may not take a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Skip {
    /// Not reported (maintenance, a stale worker).
    Hidden,
    WorkerId,
    Performance,
    Nsfw,
    Blacklist,
    Untrusted,
    Models,
    Kudos,
    MaxPixels,
    Img2img,
    Painting,
    PostProcessing,
    Lora,
    Controlnet,
    StepCount,
    MaxContextLength,
    MaxLength,
    MatchingSoftprompt,
}

fn tally(s: &mut SkippedReasons, skip: Skip) {
    let slot = match skip {
        Skip::Hidden => return,
        Skip::WorkerId => &mut s.worker_id,
        Skip::Performance => &mut s.performance,
        Skip::Nsfw => &mut s.nsfw,
        Skip::Blacklist => &mut s.blacklist,
        Skip::Untrusted => &mut s.untrusted,
        Skip::Models => &mut s.models,
        Skip::Kudos => &mut s.kudos,
        Skip::MaxPixels => &mut s.max_pixels,
        Skip::Img2img => &mut s.img2img,
        Skip::Painting => &mut s.painting,
        Skip::PostProcessing => &mut s.post_processing,
        Skip::Lora => &mut s.lora,
        Skip::Controlnet => &mut s.controlnet,
        Skip::StepCount => &mut s.step_count,
        Skip::MaxContextLength => &mut s.max_context_length,
        Skip::MaxLength => &mut s.max_length,
        Skip::MatchingSoftprompt => &mut s.matching_softprompt,
    };
    *slot = Some(slot.unwrap_or(0) + 1);
}

fn image_skipped_template() -> SkippedReasons {
    SkippedReasons {
        worker_id: Some(0),
        performance: Some(0),
        nsfw: Some(0),
        untrusted: Some(0),
        models: Some(0),
        bridge_version: Some(0),
        unsafe_ip: Some(0),
        img2img: Some(0),
        painting: Some(0),
        post_processing: Some(0),
        lora: Some(0),
        controlnet: Some(0),
        ..Default::default()
    }
}

/// Seed for a text seed: numeric seeds as they are, others hashed below 2³².
fn seed_from_text(seed: &str) -> i64 {
    if let Ok(n) = seed.trim().parse::<i64>() {
        return n;
    }
    // FNV-1a: stable across runs and platforms.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h % (1 << 32)) as i64
}

fn random_seed() -> i64 {
    let b = uuid::Uuid::new_v4().into_bytes();
    i64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

pub(crate) fn is_validated(bridge_agent: &str) -> bool {
    let name = bridge_agent.split(':').next().unwrap_or("");
    VALIDATED_TEXT_BRIDGES.contains(&name)
}

/// What the HTTP layer learns before writing a submitted base64 image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubmitCheck {
    /// The blob the result goes to.
    pub blob: String,
}

/// Most models one worker may advertise (a pop naming 200,000 stalled the
/// horde's lock for every other client).
pub const MAX_POP_MODELS: usize = 1000;

/// Most `priority_usernames` a pop may name.
pub const MAX_PRIORITY_USERNAMES: usize = 100;

impl Horde {
    /// The rule that keeps a worker from a request, if any.
    pub(super) fn skip_reason(&self, w: &Worker, r: &Request) -> Option<Skip> {
        let owner_request = r.user_id == w.owner;
        if w.maintenance && !owner_request {
            return Some(Skip::Hidden);
        }
        let requester_trusted_workers = match &r.body {
            RequestBody::Image(b) => b.options.trusted_workers(),
            RequestBody::Text(b) => b.options.trusted_workers(),
        };
        let owner_trusted = self.users.get(&w.owner).is_some_and(|u| u.is_trusted());
        let options = match &r.body {
            RequestBody::Image(b) => &b.options,
            RequestBody::Text(b) => &b.options,
        };
        let prompt = match &r.body {
            RequestBody::Image(b) => b.prompt.as_str(),
            RequestBody::Text(b) => b.prompt.as_str(),
        };
        if let RequestBody::Image(b) = &r.body
            && b.nsfw()
            && !w.nsfw
        {
            return Some(Skip::Nsfw);
        }
        if requester_trusted_workers && !owner_trusted {
            return Some(Skip::Untrusted);
        }
        if !w.caps.blacklist.is_empty() {
            let lower = prompt.to_lowercase();
            if w.caps
                .blacklist
                .iter()
                .any(|word| !word.is_empty() && lower.contains(word.as_str()))
            {
                return Some(Skip::Blacklist);
            }
        }
        let named = options.workers();
        if !named.is_empty() {
            let listed = named
                .iter()
                .take(super::generate::MAX_NAMED_WORKERS)
                .any(|id| id.as_str() == w.id);
            if listed == options.worker_blacklist() {
                return Some(Skip::WorkerId);
            }
        }
        if self.model_for(w, r).is_none() {
            return Some(Skip::Models);
        }
        let speed = w.speed();
        match &r.body {
            RequestBody::Image(b) => {
                let p = b.params();
                if u64::from(p.width()) * u64::from(p.height()) > w.caps.max_pixels {
                    return Some(Skip::MaxPixels);
                }
                let source = b.source_image.is_some();
                let processing = b.source_processing();
                if source && processing == SourceProcessing::Img2img && !w.caps.img2img {
                    return Some(Skip::Img2img);
                }
                if source
                    && matches!(
                        processing,
                        SourceProcessing::Inpainting | SourceProcessing::Outpainting
                    )
                    && !w.caps.painting
                {
                    return Some(Skip::Painting);
                }
                if !p.post_processing().is_empty() && !w.caps.post_processing {
                    return Some(Skip::PostProcessing);
                }
                if p.settings.loras.as_ref().is_some_and(|l| !l.is_empty()) && !w.caps.lora {
                    return Some(Skip::Lora);
                }
                if p.settings.control_type.is_some() && !w.caps.controlnet {
                    return Some(Skip::Controlnet);
                }
                if w.caps.limit_max_steps
                    && ImageJob::from_request(b).accurate_steps() > LIMITED_MAX_STEPS
                {
                    return Some(Skip::StepCount);
                }
                if !b.options.slow_workers() && speed.is_none_or(|s| s < FAST_WORKER_PIXELSTEPS) {
                    return Some(Skip::Performance);
                }
                if w.caps.extra_slow && b.options.extra_slow_workers != Some(true) {
                    return Some(Skip::Performance);
                }
            }
            RequestBody::Text(b) => {
                let p = b.params();
                if p.max_context_length() > w.caps.max_context_length {
                    return Some(Skip::MaxContextLength);
                }
                if p.max_length() > w.caps.max_length {
                    return Some(Skip::MaxLength);
                }
                if b.options.validated_backends == Some(true) && !is_validated(&w.bridge_agent) {
                    return Some(Skip::Performance);
                }
                if let Some(sp) = b.softprompt.as_deref().filter(|s| !s.is_empty())
                    && !w.caps.softprompts.iter().any(|s| s == sp)
                {
                    return Some(Skip::MatchingSoftprompt);
                }
                if !b.options.slow_workers() && speed.is_none_or(|s| s < FAST_WORKER_TOKENS) {
                    return Some(Skip::Performance);
                }
            }
        }
        if w.caps.require_upfront_kudos && !owner_request {
            let requester = self.users.get(&r.user_id);
            let ok = requester.is_some_and(|u| {
                u.is_trusted() || u.kudos - kudos::min_kudos(u.account_kind()) >= r.base_kudos
            });
            if !ok {
                return Some(Skip::Kudos);
            }
        }
        None
    }

    /// The model a worker would use for a request, if it serves one of them.
    fn model_for(&self, w: &Worker, r: &Request) -> Option<String> {
        let wanted: Vec<String> = match &r.body {
            RequestBody::Image(b) => b.models().to_vec(),
            RequestBody::Text(b) => b.models().to_vec(),
        };
        if wanted.is_empty() {
            // Any worker's model serves a request that names none, except
            // (as upstream) an image worker offering special models.
            let special = |m: &String| m.contains("horde_special") || m == SDXL_BETA;
            if r.kind() == WorkerType::Image && w.models.iter().any(special) {
                return None;
            }
            return w.models.first().cloned();
        }
        wanted
            .into_iter()
            .find(|m| w.models.iter().any(|wm| wm == m))
    }

    /// Creates or updates the popping worker; answers its id.
    pub(super) fn check_in(
        &mut self,
        caller: &Caller,
        kind: WorkerType,
        common: &PopCommon,
        caps: Capabilities,
        ip: Option<&str>,
    ) -> Result<String, ApiError> {
        let user = self.user(caller.user_id())?;
        if user.is_anonymous() {
            return Err(ApiError::new(
                Rc::AnonForbiddenWorker,
                "Anonymous users cannot run workers.",
            ));
        }
        if user.roles.flagged {
            return Err(ApiError::new(
                Rc::WorkerFlaggedMaintenance,
                "Your account is flagged; your workers cannot take jobs.",
            ));
        }
        let name = common.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(ApiError::new(
                Rc::TooLongWorkerName,
                "A worker name must be 1 to 100 characters.",
            ));
        }
        let threads = common.threads();
        if !(1..=50).contains(&threads) {
            return Err(ApiError::bad_request("threads must be between 1 and 50"));
        }
        if !(1..=20).contains(&common.amount()) {
            return Err(ApiError::bad_request("amount must be between 1 and 20"));
        }
        if common.models().len() > MAX_POP_MODELS {
            return Err(ApiError::bad_request(format!(
                "A worker may serve at most {MAX_POP_MODELS} models."
            )));
        }
        if common.models().iter().any(|m| m.chars().count() > 255) {
            return Err(ApiError::bad_request(
                "model names must be at most 255 characters",
            ));
        }
        if common
            .priority_usernames
            .as_ref()
            .is_some_and(|p| p.len() > MAX_PRIORITY_USERNAMES)
        {
            return Err(ApiError::bad_request(format!(
                "priority_usernames may hold at most {MAX_PRIORITY_USERNAMES} names."
            )));
        }
        let mut priority_users = Vec::new();
        for alias in common.priority_usernames.iter().flatten() {
            let id = alias
                .rsplit_once('#')
                .and_then(|(_, id)| id.parse::<u64>().ok())
                .filter(|id| self.users.contains_key(id))
                .ok_or_else(|| {
                    ApiError::new(
                        Rc::InvalidPriorityUsername,
                        format!("Priority usernames must be existing 'alias#id' users: '{alias}'."),
                    )
                })?;
            priority_users.push(id);
        }
        let owner = user.id;
        let owner_trusted = user.is_trusted();
        let invited = user.worker_invited as usize;
        let now = self.now();
        let key = name.to_lowercase();
        let id = match self.workers_by_name.get(&key) {
            Some(id) => {
                let w = &self.workers[id];
                if w.owner != owner {
                    return Err(ApiError::new(
                        Rc::WrongCredentials,
                        "Wrong credentials to submit as this worker.",
                    ));
                }
                if w.kind != kind {
                    return Err(ApiError::new(
                        Rc::PolymorphicNameConflict,
                        format!(
                            "The specified name '{name}' is already taken by a different type of worker."
                        ),
                    ));
                }
                id.clone()
            }
            None => {
                // Counted as upstream counts them: before the new one,
                // alchemists left out, an invitation raising only the
                // trusted limit.
                let owned = self
                    .workers
                    .values()
                    .filter(|w| w.owner == owner && w.kind != WorkerType::Interrogation)
                    .count();
                if !owner_trusted && owned > MAX_WORKERS_UNTRUSTED {
                    return Err(ApiError::new(
                        Rc::TooManyWorkers,
                        "To avoid abuse, untrusted users can only have up to 3 distinct workers.",
                    ));
                }
                if owned > MAX_WORKERS_TRUSTED && owned > invited {
                    return Err(ApiError::new(
                        Rc::TooManyWorkersTrusted,
                        "To avoid abuse, you cannot onboard more than 20 workers as a trusted user.",
                    ));
                }
                let id = Horde::new_id();
                self.workers.insert(
                    id.clone(),
                    Worker {
                        id: id.clone(),
                        name: name.to_owned(),
                        kind: kind.clone(),
                        owner,
                        bridge_agent: String::new(),
                        models: Vec::new(),
                        nsfw: true,
                        threads: 1,
                        caps: Capabilities::default(),
                        priority_users: Vec::new(),
                        maintenance: false,
                        maintenance_msg: None,
                        paused: false,
                        info: None,
                        team: None,
                        created: now,
                        last_seen: now,
                        uptime: 0.0,
                        unrewarded_uptime: 0.0,
                        kudos_generated: 0.0,
                        kudos_uptime: 0.0,
                        fulfilled: 0,
                        uncompleted: 0,
                        speeds: Default::default(),
                        megapixelsteps: 0.0,
                        tokens: 0.0,
                        ipaddr: None,
                    },
                );
                self.workers_by_name.insert(key, id.clone());
                self.mark(Table::Workers, id.clone());
                id
            }
        };
        let persist_due = self
            .persisted_at
            .get(&id)
            .is_none_or(|at| now - at >= CHECK_IN_PERSIST_SECS);
        let Some(w) = self.workers.get_mut(&id) else {
            return Err(ApiError::new(Rc::WorkerNotFound, "Worker vanished."));
        };
        let changed = w.models != common.models()
            || w.threads != threads
            || w.nsfw != common.nsfw()
            || w.bridge_agent != common.bridge_agent()
            || w.priority_users != priority_users;
        w.bridge_agent = common.bridge_agent().to_owned();
        w.models = common.models().to_vec();
        w.nsfw = common.nsfw();
        w.threads = threads;
        w.caps = caps;
        w.priority_users = priority_users;
        w.last_seen = now;
        w.ipaddr = ip.map(str::to_owned);
        if changed {
            // Who can serve what may have changed.
            self.possible.clear();
        }
        if changed || persist_due {
            self.persisted_at.insert(id.clone(), now);
            self.mark(Table::Workers, id.clone());
        }
        Ok(id)
    }

    /// The first request a worker may take, looking at its owner's requests
    /// first, then its priority users', then everyone's (unless in
    /// maintenance), and counting why the others were skipped. Walks the
    /// queue lazily: a pop that matches early costs the same however long
    /// the queue is.
    fn find_request_for(&self, worker_id: &str, skipped: &mut SkippedReasons) -> Option<String> {
        let w = self.workers.get(worker_id)?;
        let queue = match w.kind {
            WorkerType::Image => &self.image_queue,
            _ => &self.text_queue,
        };
        let preferred = std::iter::once(w.owner)
            .chain(w.priority_users.iter().copied())
            .flat_map(|user| queue.iter_user(user));
        let everyone = queue.iter().take(if w.maintenance { 0 } else { MAX_SCAN });
        let mut seen_preferred = std::collections::HashSet::new();
        for (pass, id) in preferred
            .map(|id| (0, id))
            .chain(everyone.map(|id| (1, id)))
        {
            if pass == 0 {
                seen_preferred.insert(id);
            } else if seen_preferred.contains(id) {
                continue;
            }
            let Some(r) = self.requests.get(id) else {
                continue;
            };
            if !r.is_waiting() {
                continue;
            }
            match self.skip_reason(w, r) {
                None => return Some(id.to_owned()),
                Some(s) => tally(skipped, s),
            }
        }
        None
    }

    /// Hands `k` jobs of a request to a worker.
    fn start_jobs(&mut self, worker_id: &str, request_id: &str, k: u32) -> Vec<Job> {
        let now = self.now();
        let Some(w) = self.workers.get(worker_id) else {
            return Vec::new();
        };
        let (worker_name, extra_slow) = (w.name.clone(), w.caps.extra_slow);
        let Some(r) = self.requests.get(request_id) else {
            return Vec::new();
        };
        let model = self.model_for(w, r).unwrap_or_default();
        let (ttl, seed_base, variation) = match &r.body {
            RequestBody::Image(b) => {
                let p = b.params();
                let job = ImageJob::from_request(b);
                let mut ttl = 30.0
                    + 2.0 * job.accurate_steps() * f64::from(p.width()) * f64::from(p.height())
                        / (512.0 * 512.0);
                if p.settings.control_type.is_some() {
                    ttl *= 2.0;
                }
                ttl = ttl.max(MIN_IMAGE_TTL);
                if extra_slow {
                    ttl *= 3.0;
                }
                (
                    ttl,
                    p.settings.seed.as_deref().map(seed_from_text),
                    p.seed_variation,
                )
            }
            RequestBody::Text(_) => (TEXT_JOB_TTL_SECS, None, None),
        };
        let ttl = self.settings.max_job_ttl.map_or(ttl, |cap| ttl.min(cap));
        let handed_out = r.jobs.len() as i64;
        let mut jobs = Vec::with_capacity(k as usize);
        for i in 0..k {
            let seed = match (seed_base, variation) {
                (Some(s), Some(v)) => s + i64::from(v) * (handed_out + i64::from(i)),
                (Some(s), None) => s,
                (None, _) => random_seed(),
            };
            jobs.push(Job {
                id: Horde::new_id(),
                worker_id: worker_id.to_owned(),
                worker_name: worker_name.clone(),
                model: model.clone(),
                seed,
                started: now,
                ttl: ttl.round(),
                upload_token: uuid::Uuid::new_v4().simple().to_string(),
                state: JobState::Processing,
                result: None,
                censored: false,
                gen_metadata: Vec::new(),
                reward: 0.0,
                reported_state: None,
            });
        }
        let ttl_extend = self.settings.request_ttl;
        if let Some(r) = self.requests.get_mut(request_id) {
            r.n -= k;
            r.expiry = r.expiry.max(now + ttl_extend);
            r.jobs.extend(jobs.iter().cloned());
        }
        for j in &jobs {
            self.job_index.insert(j.id.clone(), request_id.to_owned());
        }
        self.possible.remove(request_id);
        self.reindex(request_id);
        self.mark(Table::Requests, request_id.to_owned());
        jobs
    }

    fn maintenance_error(&self, worker_id: &str) -> ApiError {
        let msg = self
            .workers
            .get(worker_id)
            .and_then(|w| w.maintenance_msg.clone())
            .unwrap_or_else(|| {
                "This worker has been put into maintenance mode by its owner.".into()
            });
        ApiError::new(Rc::WorkerMaintenance, msg)
    }

    /// `POST /v2/generate/pop`.
    pub fn pop_image(
        &mut self,
        caller: &Caller,
        req: &ImagePopRequest,
        ip: Option<&str>,
    ) -> Result<ImagePopResponse, ApiError> {
        let caps = Capabilities {
            max_pixels: req.max_pixels(),
            blacklist: req
                .blacklist
                .iter()
                .flatten()
                .map(|w| w.to_lowercase())
                .collect(),
            img2img: req.allow_img2img(),
            painting: req.allow_painting(),
            unsafe_ipaddr: req.allow_unsafe_ipaddr(),
            post_processing: req.allow_post_processing(),
            controlnet: req.allow_controlnet(),
            sdxl_controlnet: req.allow_sdxl_controlnet.unwrap_or(false),
            lora: req.allow_lora(),
            limit_max_steps: req.limit_max_steps.unwrap_or(false),
            require_upfront_kudos: req.common.require_upfront_kudos.unwrap_or(false),
            extra_slow: req.common.extra_slow_worker.unwrap_or(false),
            ..Default::default()
        };
        if caps.blacklist.len() > 200 {
            return Err(ApiError::bad_request(
                "A blacklist may hold at most 200 words.",
            ));
        }
        let worker_id = self.check_in(caller, WorkerType::Image, &req.common, caps, ip)?;
        let mut skipped = image_skipped_template();
        let Some(request_id) = self.find_request_for(&worker_id, &mut skipped) else {
            if self.workers.get(&worker_id).is_some_and(|w| w.maintenance) {
                return Err(self.maintenance_error(&worker_id));
            }
            return Ok(ImagePopResponse {
                payload: ImagePopPayload {
                    ddim_steps: Some(30),
                    n_iter: Some(1),
                    settings: ImageSettings {
                        image_is_control: Some(false),
                        return_control_map: Some(false),
                        sampler_name: Some(Sampler::KEulerA),
                        cfg_scale: Some(7.5),
                        height: Some(512),
                        width: Some(512),
                        karras: Some(false),
                        tiling: Some(false),
                        hires_fix: Some(false),
                        transparent: Some(false),
                        ..Default::default()
                    },
                    ..Default::default()
                },
                skipped,
                ..Default::default()
            });
        };
        let (k, body) = {
            let r = &self.requests[&request_id];
            let RequestBody::Image(b) = &r.body else {
                return Err(ApiError::bad_request("not an image request"));
            };
            let p = b.params();
            let amount = req.common.amount();
            let pp = 1.0 + 0.4 * p.post_processing().len() as f64;
            let safe = ((req.max_pixels() as f64 / 3.5) * f64::from(amount)
                / (f64::from(p.width()) * f64::from(p.height()) * pp))
                .round()
                .clamp(1.0, f64::from(amount)) as u32;
            let k = if b.options.disable_batching == Some(true) {
                1
            } else {
                amount.min(r.n).min(safe).max(1)
            };
            (k, b.clone())
        };
        let jobs = self.start_jobs(&worker_id, &request_id, k);
        let r = &self.requests[&request_id];
        let p = body.params();
        let s = &p.settings;
        let first = &jobs[0];
        let payload = ImagePopPayload {
            prompt: Some(body.prompt.clone()),
            ddim_steps: Some(p.steps()),
            n_iter: Some(k),
            use_nsfw_censor: Some(!body.nsfw() && body.censor_nsfw()),
            settings: ImageSettings {
                seed: Some(first.seed.to_string()),
                image_is_control: Some(s.image_is_control.unwrap_or(false)),
                return_control_map: Some(s.return_control_map.unwrap_or(false)),
                sampler_name: Some(p.sampler()),
                cfg_scale: Some(p.cfg_scale()),
                height: Some(p.height()),
                width: Some(p.width()),
                karras: Some(p.karras()),
                tiling: Some(s.tiling.unwrap_or(false)),
                hires_fix: Some(s.hires_fix.unwrap_or(false)),
                transparent: Some(s.transparent.unwrap_or(false)),
                ..s.clone()
            },
        };
        let source_image = match (&r.source_blob, &body.source_image) {
            (Some(blob), _) => Some(self.blob_url(blob)),
            (None, url) => url.clone(),
        };
        let source_mask = match (&r.mask_blob, &body.source_mask) {
            (Some(blob), _) => Some(self.blob_url(blob)),
            (None, url) => url.clone(),
        };
        let uploads: Vec<String> = jobs
            .iter()
            .map(|j| self.upload_url(&format!("{}.webp", j.id), &j.upload_token))
            .collect();
        Ok(ImagePopResponse {
            payload,
            id: Some(JobId(first.id.clone())),
            ids: jobs.iter().map(|j| JobId(j.id.clone())).collect(),
            messages: Vec::new(),
            ttl: Some(first.ttl as u32),
            skipped: SkippedReasons::default(),
            model: Some(first.model.clone()),
            source_image,
            source_processing: body.source_processing(),
            source_mask,
            extra_source_images: body.options.extra_source_images.clone(),
            r2_upload: uploads.first().cloned(),
            r2_uploads: Some(uploads),
        })
    }

    /// `POST /v2/generate/text/pop`.
    pub fn pop_text(
        &mut self,
        caller: &Caller,
        req: &TextPopRequest,
        ip: Option<&str>,
    ) -> Result<TextPopResponse, ApiError> {
        let caps = Capabilities {
            max_length: req.max_length(),
            max_context_length: req.max_context_length(),
            softprompts: req.softprompts.clone().unwrap_or_default(),
            require_upfront_kudos: req.common.require_upfront_kudos.unwrap_or(false),
            ..Default::default()
        };
        let worker_id = self.check_in(caller, WorkerType::Text, &req.common, caps, ip)?;
        let mut skipped = SkippedReasons::default();
        let Some(request_id) = self.find_request_for(&worker_id, &mut skipped) else {
            if self.workers.get(&worker_id).is_some_and(|w| w.maintenance) {
                return Err(self.maintenance_error(&worker_id));
            }
            let mut payload = TextPopPayload::default();
            payload.params.max_context_length = Some(crate::api::DEFAULT_MAX_CONTEXT_LENGTH);
            payload.params.max_length = Some(crate::api::DEFAULT_MAX_LENGTH);
            with_sampler_defaults(&mut payload.params);
            return Ok(TextPopResponse {
                payload,
                skipped,
                ..Default::default()
            });
        };
        let (k, body) = {
            let r = &self.requests[&request_id];
            let RequestBody::Text(b) = &r.body else {
                return Err(ApiError::bad_request("not a text request"));
            };
            let k = if b.options.disable_batching == Some(true) {
                1
            } else {
                req.common.amount().min(r.n).max(1)
            };
            (k, b.clone())
        };
        let jobs = self.start_jobs(&worker_id, &request_id, k);
        let mut params = body.params().into_owned();
        params.n = Some(1);
        params.max_length = Some(params.max_length());
        params.max_context_length = Some(params.max_context_length());
        with_sampler_defaults(&mut params);
        let first = &jobs[0];
        Ok(TextPopResponse {
            payload: TextPopPayload {
                prompt: Some(body.prompt.clone()),
                params,
            },
            id: Some(JobId(first.id.clone())),
            ids: jobs.iter().map(|j| JobId(j.id.clone())).collect(),
            messages: Vec::new(),
            ttl: Some(first.ttl as u32),
            extra_source_images: None,
            skipped: SkippedReasons::default(),
            softprompt: None,
            model: Some(first.model.clone()),
        })
    }

    fn job_for_submit(
        &self,
        caller: &Caller,
        job_id: &str,
        kind: WorkerType,
    ) -> Result<(&Request, &Job), ApiError> {
        let not_found = || {
            ApiError::new(
                Rc::InvalidJobID,
                format!("Processing Job with ID {job_id} does not exist."),
            )
        };
        let r = self
            .job_index
            .get(job_id)
            .and_then(|rid| self.requests.get(rid))
            .ok_or_else(not_found)?;
        if r.kind() != kind {
            return Err(not_found());
        }
        let job = r
            .jobs
            .iter()
            .find(|j| j.id == job_id)
            .ok_or_else(not_found)?;
        let owner = self.workers.get(&job.worker_id).map(|w| w.owner);
        if owner != Some(caller.user_id()) {
            return Err(ApiError::new(
                Rc::WrongCredentials,
                "Wrong credentials to submit as this worker.",
            ));
        }
        Ok((r, job))
    }

    /// Whether an image job accepts a result now; tells where to write it.
    pub fn check_image_submit(
        &self,
        caller: &Caller,
        job_id: &str,
    ) -> Result<SubmitCheck, ApiError> {
        let (_, job) = self.job_for_submit(caller, job_id, WorkerType::Image)?;
        match job.state {
            JobState::Processing => Ok(SubmitCheck {
                blob: format!("{}.webp", job.id),
            }),
            JobState::Done => Err(duplicate(job_id)),
            JobState::Faulted => Err(aborted(job_id)),
        }
    }

    /// Whether an upload with `token` may write blob `name`.
    pub fn upload_allowed(&self, name: &str, token: &str) -> bool {
        let Some(job_id) = name.strip_suffix(".webp") else {
            return false;
        };
        if let Some(r) = self
            .job_index
            .get(job_id)
            .and_then(|rid| self.requests.get(rid))
        {
            return r.jobs.iter().any(|j| {
                j.id == job_id && j.state == JobState::Processing && j.upload_token == token
            });
        }
        self.form_upload_allowed(job_id, token)
    }

    /// Marks a job faulted and requeues its slot (the request fails for good
    /// after too many faults).
    pub(super) fn fault_job(&mut self, request_id: &str, job_id: &str, cause: FaultCause) {
        let Some(r) = self.requests.get_mut(request_id) else {
            return;
        };
        let Some(job) = r.jobs.iter_mut().find(|j| j.id == job_id) else {
            return;
        };
        if job.state != JobState::Processing {
            return;
        }
        job.state = JobState::Faulted;
        let worker_id = job.worker_id.clone();
        // Upstream requeues a job that timed out, and a text job its worker
        // faulted, always; an image job its worker faulted only while the
        // jobs that ended (done or faulted, this one aside) are fewer than
        // the request's, so an n=1 image request faulted twice is done.
        let ended_before = r
            .jobs
            .iter()
            .filter(|j| j.id != job_id && matches!(j.state, JobState::Done | JobState::Faulted))
            .count() as u32;
        let requeue = match cause {
            FaultCause::Submitted if r.kind() == WorkerType::Image => ended_before < r.jobs_total,
            _ => true,
        };
        if requeue
            && r.finished() < r.jobs_total
            && r.n + r.processing() + r.finished() < r.jobs_total
        {
            r.n += 1;
        }
        if r.restarted() > MAX_RESTARTS {
            r.faulted = true;
            r.n = 0;
        }
        if let Some(w) = self.workers.get_mut(&worker_id) {
            w.uncompleted += 1;
            self.mark(Table::Workers, worker_id);
        }
        self.possible.remove(request_id);
        self.reindex(request_id);
        self.mark(Table::Requests, request_id.to_owned());
    }

    fn credit_worker(
        &mut self,
        worker_id: &str,
        reward: f64,
        things: f64,
        kind: &WorkerType,
        elapsed: f64,
    ) {
        let Some(w) = self.workers.get_mut(worker_id) else {
            return;
        };
        w.fulfilled += 1;
        w.kudos_generated += reward;
        if elapsed > 0.0 {
            w.speeds.push_back(things / elapsed);
            while w.speeds.len() > 20 {
                w.speeds.pop_front();
            }
        }
        match kind {
            WorkerType::Image => w.megapixelsteps += things / 1e6,
            _ => w.tokens += things,
        }
        let owner = w.owner;
        self.mark(Table::Workers, worker_id.to_owned());
        if let Some(u) = self.users.get_mut(&owner) {
            let split = split_job_reward(reward, u.is_trusted());
            u.move_kudos(split.spendable);
            u.evaluating_kudos += split.escrow;
            u.kudos_details.accumulated += reward;
            match kind {
                WorkerType::Image => {
                    u.contribution.megapixelsteps += things / 1e6;
                    u.fulfillment.image += 1;
                }
                _ => {
                    u.contribution.tokens += things as u64;
                    u.fulfillment.text += 1;
                }
            }
            self.mark(Table::Users, owner.to_string());
        }
    }

    /// Checks a submit against its job: answers the submission to record,
    /// or the reward already settled (a faulted report answers 0).
    fn begin_submit(
        &mut self,
        caller: &Caller,
        job_id: &str,
        kind: WorkerType,
        state: Option<&GenerationState>,
    ) -> Result<Begun, ApiError> {
        let (request_id, job) = {
            let (r, job) = self.job_for_submit(caller, job_id, kind)?;
            (r.id.clone(), job.clone())
        };
        let state = state.cloned().unwrap_or(GenerationState::Ok);
        match job.state {
            JobState::Done => return Err(duplicate(&job.id)),
            JobState::Faulted if state == GenerationState::Faulted => {
                return Ok(Begun::Settled(0.0));
            }
            JobState::Faulted => return Err(aborted(&job.id)),
            JobState::Processing => {}
        }
        if state == GenerationState::Faulted {
            self.fault_job(&request_id, &job.id, FaultCause::Submitted);
            return Ok(Begun::Settled(0.0));
        }
        if !state.is_known() {
            return Err(ApiError::bad_request(format!(
                "'{state}' is not a valid state"
            )));
        }
        Ok(Begun::Record(Box::new(Submission {
            request_id,
            job,
            state,
        })))
    }

    /// Records a finished job: the result on the request, the charge to the
    /// requester, the reward to the worker's owner, and statistics.
    fn finish_submit(&mut self, sub: Box<Submission>, done: Finished) -> f64 {
        let now = self.now();
        let (user_id, shared) = match self.requests.get(&sub.request_id) {
            Some(r) => (r.user_id, r.shared_key.clone()),
            None => return 0.0,
        };
        let charged = self.charge(user_id, shared.as_deref(), done.charge);
        let ttl_extend = self.settings.request_ttl;
        let kind = if let Some(r) = self.requests.get_mut(&sub.request_id) {
            r.consumed_kudos += charged;
            r.expiry = r.expiry.max(now + ttl_extend);
            if let Some(j) = r.jobs.iter_mut().find(|j| j.id == sub.job.id) {
                j.state = JobState::Done;
                j.result = Some(done.result);
                j.seed = done.seed;
                j.censored = done.censored;
                j.gen_metadata = done.metadata;
                j.reward = done.reward;
                j.reported_state = Some(sub.state.as_str().to_owned());
            }
            r.kind()
        } else {
            WorkerType::Image
        };
        if let Some(u) = self.users.get_mut(&user_id) {
            match kind {
                WorkerType::Image => u.usage.megapixelsteps += done.things / 1e6,
                _ => u.usage.tokens += done.things as u64,
            }
            self.mark(Table::Users, user_id.to_string());
        }
        self.credit_worker(
            &sub.job.worker_id,
            done.reward,
            done.things,
            &kind,
            now - sub.job.started,
        );
        self.stats.record(now, kind, &sub.job.model, done.things);
        self.reindex(&sub.request_id);
        self.mark(Table::Requests, sub.request_id);
        done.reward
    }

    /// `POST /v2/generate/submit`. A base64 result must already be written
    /// to the blob [`Self::check_image_submit`] named.
    pub fn submit_image(
        &mut self,
        caller: &Caller,
        req: &ImageSubmitRequest,
    ) -> Result<f64, ApiError> {
        let sub = match self.begin_submit(
            caller,
            req.id.as_str(),
            WorkerType::Image,
            req.state.as_ref(),
        )? {
            Begun::Settled(reward) => return Ok(reward),
            Begun::Record(sub) => sub,
        };
        if req.generation.as_deref().is_none_or(str::is_empty) {
            return Err(ApiError::bad_request(
                "A submit needs a generation ('R2' or base64).",
            ));
        }
        let metadata = req.gen_metadata.clone().unwrap_or_default();
        if metadata.len() > 50 {
            return Err(ApiError::bad_request(
                "gen_metadata may hold at most 50 entries",
            ));
        }
        let censored = sub.state != GenerationState::Ok
            || req.censored == Some(true)
            || metadata.iter().any(|m| m.kind == MetadataType::Censorship);
        let (body, things, base) = {
            let r = &self.requests[&sub.request_id];
            let RequestBody::Image(b) = &r.body else {
                return Err(ApiError::bad_request("not an image job"));
            };
            (b.clone(), r.things, r.base_kudos)
        };
        // A censored result costs its requester nothing, as upstream; unlike
        // upstream it pays its worker nothing either: a reward nobody is
        // charged for would let a member mint kudos by serving their own
        // requests with `state: censored` (README, differences).
        let (reward, charge) = if censored {
            (0.0, 0.0)
        } else {
            let factor = self.image_reward_factor(Some(&sub.job.model), &body);
            let reward = image_reward(base, factor, 1.0);
            (
                reward,
                image_charge(reward, &ImageChargeFactors::from_request(&body)),
            )
        };
        Ok(self.finish_submit(
            sub,
            Finished {
                result: crate::api::R2_SUBMITTED.to_owned(),
                seed: req.seed,
                censored,
                metadata,
                reward,
                charge,
                things,
            },
        ))
    }

    /// `POST /v2/generate/text/submit`.
    pub fn submit_text(
        &mut self,
        caller: &Caller,
        req: &TextSubmitRequest,
    ) -> Result<f64, ApiError> {
        let sub = match self.begin_submit(
            caller,
            req.id.as_str(),
            WorkerType::Text,
            req.state.as_ref(),
        )? {
            Begun::Settled(reward) => return Ok(reward),
            Begun::Record(sub) => sub,
        };
        let text = req.generation.clone().unwrap_or_default();
        let metadata = req.gen_metadata.clone().unwrap_or_default();
        let csam = sub.state == GenerationState::Csam
            || metadata
                .iter()
                .any(|m| m.kind == MetadataType::Censorship && m.value == MetadataValue::Csam);
        let censored = csam || sub.state == GenerationState::Censored;
        let max_length = match &self.requests[&sub.request_id].body {
            RequestBody::Text(b) => b.params().max_length(),
            RequestBody::Image(_) => return Err(ApiError::bad_request("not a text job")),
        };
        let (bridge, owner_trusted) = self
            .workers
            .get(&sub.job.worker_id)
            .map(|w| {
                (
                    w.bridge_agent.clone(),
                    self.users.get(&w.owner).is_some_and(|u| u.is_trusted()),
                )
            })
            .unwrap_or_default();
        let tokens = rewarded_tokens(text.chars().count(), max_length);
        // Censored results are neither paid nor charged (see submit_image).
        let reward = if censored {
            0.0
        } else {
            text_reward(&TextJob {
                tokens,
                model_billions: self.settings.models.text_billions(&sub.job.model),
                context_tokens: f64::from(tokens),
                validated_backend: is_validated(&bridge),
                trusted_worker: owner_trusted,
            })
        };
        Ok(self.finish_submit(
            sub,
            Finished {
                result: if csam { String::new() } else { text },
                seed: req.seed.unwrap_or(0),
                censored,
                metadata,
                reward,
                charge: if censored { 0.0 } else { text_charge(reward) },
                things: f64::from(tokens),
            },
        ))
    }
}

/// What a submit's check decided.
enum Begun {
    /// Nothing more to record; answer this reward.
    Settled(f64),
    /// Record this result.
    Record(Box<Submission>),
}

/// A submit accepted for its job.
struct Submission {
    request_id: String,
    job: Job,
    state: GenerationState,
}

/// A job's result, as recorded.
struct Finished {
    result: String,
    seed: i64,
    censored: bool,
    metadata: Vec<crate::api::GenMetadata>,
    reward: f64,
    charge: f64,
    things: f64,
}

fn duplicate(job_id: &str) -> ApiError {
    ApiError::new(
        Rc::DuplicateGen,
        format!("Processing Generation with ID {job_id} already submitted."),
    )
}

fn aborted(job_id: &str) -> ApiError {
    ApiError::new(
        Rc::AbortedGen,
        format!(
            "Processing Generation with ID {job_id} took too long to process and has been aborted."
        ),
    )
}

/// Fills the samplers upstream's text pop always carries (its model's
/// defaults: they leave the sampler off) where the request left them out.
fn with_sampler_defaults(params: &mut crate::api::TextParams) {
    params.min_p.get_or_insert(0.0);
    params.smoothing_factor.get_or_insert(0.0);
    params.dynatemp_range.get_or_insert(0.0);
    params.dynatemp_exponent.get_or_insert(1.0);
}

/// Why a job in flight ended without a result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum FaultCause {
    /// Its worker submitted it as faulted.
    Submitted,
    /// Its worker went silent past the job's ttl.
    TimedOut,
}
