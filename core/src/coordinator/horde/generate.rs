//! Image and text requests: admission (validation, limits, shared keys,
//! upfront kudos, the activation tax), progress (`check`/`status`) and cancel.

use super::{Caller, Horde, TEXT_JOB_TTL_SECS};
use crate::api::validate::{validate_image_request, validate_text_request};
use crate::api::{
    ImageGenerateRequest, ImageGeneration, ImageStatus, JobId, KudosEstimate, Rc,
    RequestAsyncResponse, RequestId, RequestStatusCheck, TextGenerateRequest, TextGeneration,
    TextStatus, Warning, WarningCode, WorkerId, WorkerType,
};
use crate::coordinator::error::ApiError;
use crate::coordinator::model::{JobState, Request, RequestBody, User};
use crate::coordinator::store::Table;
use crate::kudos::{
    self, ImageChargeFactors, ImageJob, ImageUpfrontRules, available_kudos, image_base_price,
    image_estimate, image_needs_upfront, max_free_resolution, max_free_tokens, text_estimate,
    text_needs_upfront,
};

/// Most workers a request may name; extra ones are dropped, as upstream does.
pub const MAX_NAMED_WORKERS: usize = 5;
/// Assumed speed of a horde with no measured workers, in pixel-steps per second.
const FALLBACK_IMAGE_SPEED: f64 = 1_000_000.0;
/// Assumed speed of a horde with no measured workers, in tokens per second.
const FALLBACK_TEXT_SPEED: f64 = 10.0;
/// Seconds an `is_possible` verdict is reused.
const POSSIBLE_MEMO_SECS: f64 = 60.0;

/// What an accepted async request returns.
#[derive(Clone, Debug, PartialEq)]
pub enum Admission {
    /// Queued (HTTP 202).
    Queued(RequestAsyncResponse),
    /// `dry_run`: the estimate only (HTTP 200).
    Estimate(KudosEstimate),
}

/// What a shared key's check decided for a request.
#[derive(Clone, Copy, Debug, Default)]
struct KeyAdmission {
    /// The request runs downgraded (the key could not cover it).
    downgraded: bool,
    /// Kudos the request reserves on the key until it ends.
    reserve: f64,
}

const NO_WORKER_IMAGE: &str = "Warning: No available workers can fulfill this request. It will expire in 20 minutes unless a worker appears. Please confider reducing its size of the request or choosing a different model.";
const NO_WORKER_TEXT: &str = "Warning: No available workers can fulfill this request. It will expire in 20 minutes. Consider reducing the amount of tokens to generate.";

impl Horde {
    /// The reward factor of an image model's baseline, from the model reference.
    pub(super) fn image_reward_factor(
        &self,
        model: Option<&str>,
        req: &ImageGenerateRequest,
    ) -> f64 {
        let params = req.params();
        // A request naming no model may get any worker's: estimated as
        // upstream estimates it, at the SDXL baseline.
        let baseline = match model {
            Some(m) => self.settings.models.image_baseline(m),
            None => crate::kudos::Baseline::StableDiffusionXl,
        };
        baseline.reward_factor(
            params.settings.hires_fix.unwrap_or(false),
            params.settings.workflow.as_deref() == Some("qr_code"),
        )
    }

    fn check_can_request(&self, caller: &Caller, prompt: &str, jobs: u32) -> Result<(), ApiError> {
        if self.settings.maintenance_mode {
            return Err(ApiError::new(
                Rc::MaintenanceMode,
                "This horde is in maintenance mode and accepts no new requests.",
            ));
        }
        for filter in &self.settings.prompt_filter {
            if filter.is_match(prompt) {
                return Err(ApiError::new(
                    Rc::CorruptPrompt,
                    "This prompt appears to violate our terms of service and will be reported. Please contact us if you think this is an error.",
                ));
            }
        }
        let user = self.user(caller.user_id())?;
        let waiting = self.image_queue.user_jobs(user.id) + self.text_queue.user_jobs(user.id);
        if waiting + u64::from(jobs) > u64::from(user.concurrency) {
            return Err(ApiError::new(
                Rc::TooManyPrompts,
                format!(
                    "Parallel requests ({waiting} waiting, {jobs} asked) exceed your concurrency of {}.",
                    user.concurrency
                ),
            ));
        }
        Ok(())
    }

    /// Checks a shared key's expiry and budget against a request's
    /// estimate: the key's kudos less what its admitted, unfinished requests
    /// still reserve must cover it. Answers whether the request is
    /// downgraded and how much it reserves on the key.
    fn check_shared_key(
        &self,
        caller: &Caller,
        estimate: f64,
        downgrade: bool,
    ) -> Result<KeyAdmission, ApiError> {
        let Some(key) = caller.shared_key().and_then(|k| self.shared_keys.get(k)) else {
            return Ok(KeyAdmission::default());
        };
        let downgraded = KeyAdmission {
            downgraded: true,
            reserve: 0.0,
        };
        if key.expiry.is_some_and(|e| e < self.now()) {
            return Err(ApiError::new(
                Rc::SharedKeyExpired,
                "This shared key has expired.",
            ));
        }
        if key.kudos == 0 {
            if downgrade {
                return Ok(downgraded);
            }
            return Err(ApiError::new(
                Rc::SharedKeyEmpty,
                "This shared key has no kudos left.",
            ));
        }
        if key.kudos < 0 {
            return Ok(KeyAdmission::default());
        }
        let remaining = (key.kudos as f64 - self.reserved_on_key(&key.id)).max(0.0);
        if estimate > remaining {
            if downgrade {
                return Ok(downgraded);
            }
            return Err(ApiError::new(
                Rc::SharedKeyInsufficientKudos,
                format!(
                    "This shared key does not have enough remaining kudos ({}) to fulfill this request ({estimate}).",
                    kudos::round2(remaining)
                ),
            ));
        }
        Ok(KeyAdmission {
            downgraded: false,
            reserve: estimate,
        })
    }

    /// Kudos a shared key's unfinished requests still reserve: each
    /// reserved its estimate at admission, less what it has been charged.
    pub(super) fn reserved_on_key(&self, key: &str) -> f64 {
        self.key_holds
            .iter()
            .filter(|(_, k)| k.as_str() == key)
            .filter_map(|(id, _)| self.requests.get(id))
            .filter(|r| !r.is_done())
            .map(|r| (r.key_reserved - r.consumed_kudos).max(0.0))
            .sum()
    }

    fn check_named_workers(&self, workers: &[WorkerId]) -> Result<(), ApiError> {
        for w in workers.iter().take(MAX_NAMED_WORKERS) {
            if !self.workers.contains_key(w.as_str()) {
                return Err(ApiError::new(
                    Rc::WorkerNotFound,
                    format!("Worker with ID '{w}' not found."),
                ));
            }
        }
        Ok(())
    }

    /// Kudos reserved by a user's requests that needed them upfront.
    pub(super) fn held_kudos(&self, user_id: u64) -> f64 {
        self.holds
            .iter()
            .filter(|(_, user)| **user == user_id)
            .filter_map(|(id, _)| self.requests.get(id))
            .filter(|r| !r.is_done())
            .map(|r| r.upfront_hold)
            .sum()
    }

    fn available(&self, user: &User) -> f64 {
        available_kudos(
            user.kudos,
            kudos::min_kudos(user.account_kind()),
            self.held_kudos(user.id),
            0.0,
        )
    }

    fn priority_of(&self, user: &User, downgraded: bool) -> f64 {
        if downgraded {
            return kudos::ANONYMOUS_FLOOR;
        }
        if user.roles.flagged {
            return if user.kudos > 10.0 {
                user.kudos / 1000.0
            } else {
                -100.0
            };
        }
        user.kudos
    }

    /// Charges a user (and the shared key used) `amount` kudos.
    pub(super) fn charge(&mut self, user_id: u64, shared_key: Option<&str>, amount: f64) -> f64 {
        let Some(user) = self.users.get_mut(&user_id) else {
            return 0.0;
        };
        let amount = kudos::round2(amount * user.usage_multiplier);
        user.move_kudos(-amount);
        user.kudos_details.accumulated -= amount;
        self.mark(Table::Users, user_id.to_string());
        if let Some(key) = shared_key.and_then(|k| self.shared_keys.get_mut(k)) {
            if key.kudos > 0 {
                key.kudos = (key.kudos - amount.ceil() as i64).max(0);
            }
            key.utilized += amount;
            let id = key.id.clone();
            self.mark(Table::SharedKeys, id);
        }
        amount
    }

    fn online_threads(&self, kind: &WorkerType) -> u32 {
        let now = self.now();
        self.workers
            .values()
            .filter(|w| &w.kind == kind && w.is_online(now))
            .map(|w| w.threads)
            .sum()
    }

    /// `POST /v2/generate/async`. `id` is the new request's id; when the
    /// HTTP layer stored a base64 source image or mask, `stored` names them.
    pub fn create_image(
        &mut self,
        caller: &Caller,
        mut req: ImageGenerateRequest,
        id: String,
        stored: StoredSources,
    ) -> Result<Admission, ApiError> {
        validate_image_request(&req)?;
        let mut params = req.params().into_owned();
        let n = params.n();
        self.check_named_workers(req.options.workers())?;
        if let Some(key) = caller.shared_key().and_then(|k| self.shared_keys.get(k)) {
            let pixels = i64::from(params.width()) * i64::from(params.height());
            if key.max_image_pixels >= 0 && pixels > key.max_image_pixels {
                return Err(ApiError::bad_request(format!(
                    "This shared key allows at most {} pixels per image.",
                    key.max_image_pixels
                )));
            }
            if key.max_image_steps >= 0 && i64::from(params.steps()) > key.max_image_steps {
                return Err(ApiError::bad_request(format!(
                    "This shared key allows at most {} steps per image.",
                    key.max_image_steps
                )));
            }
        }
        let factors = ImageChargeFactors::from_request(&req);
        let mut job = ImageJob::from_request(&req);
        let baseline = self.image_reward_factor(req.models().first().map(String::as_str), &req);
        let estimate = image_estimate(&job, n, baseline, &factors);
        // The dry run answers whole kudos, as upstream; a shared key is
        // checked against (and reserves) exactly what the dry run said.
        if req.options.dry_run() {
            return Ok(Admission::Estimate(KudosEstimate {
                kudos: estimate.round(),
            }));
        }
        self.check_can_request(caller, &req.prompt, n)?;
        let downgrade = req.options.allow_downgrade();
        let key = self.check_shared_key(caller, estimate.round(), downgrade)?;
        let user = self.user(caller.user_id())?.clone();
        let max_res = max_free_resolution(
            self.online_threads(&WorkerType::Image),
            self.image_queue.jobs(),
            false,
        );
        let rules = ImageUpfrontRules {
            max_resolution: max_res,
            fast_workers_only: !req.options.slow_workers(),
            ..ImageUpfrontRules::default()
        };
        let mut hold = 0.0;
        if image_needs_upfront(&job, &rules) {
            if estimate <= self.available(&user) {
                hold = estimate;
            } else if downgrade {
                let (w, h) = kudos::downgrade_size(job.width, job.height, max_res);
                let steps = kudos::downgrade_steps(
                    job.steps,
                    job.controlnet,
                    job.sampler == crate::api::Sampler::Lcm,
                );
                params.settings.width = Some(w);
                params.settings.height = Some(h);
                params.steps = Some(steps);
                req.options.slow_workers = Some(true);
                req.params = Some(params.clone());
                job = ImageJob::from_request(&req);
            } else {
                return Err(ApiError::new(
                    Rc::KudosUpfront,
                    format!(
                        "Due to heavy demand, for requests over {max_res}x{max_res} or over 40 steps the client needs to already have the required kudos ({estimate}) to fulfil this request."
                    ),
                ));
            }
        }
        let now = self.now();
        let base = image_base_price(&job);
        let priority = self.priority_of(&user, key.downgraded);
        let seq = self.next_seq();
        if let Some(blob) = &stored.source {
            req.source_image = Some(blob.clone());
        }
        if let Some(blob) = &stored.mask {
            req.source_mask = Some(blob.clone());
        }
        let request = Request {
            id: id.clone(),
            body: RequestBody::Image(Box::new(req)),
            user_id: user.id,
            shared_key: caller.shared_key().map(str::to_owned),
            n,
            jobs_total: n,
            things: job.pixelsteps(),
            base_kudos: base,
            consumed_kudos: 0.0,
            priority,
            created: now,
            expiry: now + self.settings.request_ttl,
            faulted: false,
            jobs: Vec::new(),
            source_blob: stored.source,
            mask_blob: stored.mask,
            seq,
            upfront_hold: hold,
            key_reserved: key.reserve,
        };
        let possible = self.admit(request, kudos::IMAGE_ACTIVATION_TAX);
        let message = (!possible).then(|| NO_WORKER_IMAGE.to_owned());
        Ok(Admission::Queued(RequestAsyncResponse {
            id: RequestId(id),
            kudos: base.round(),
            warnings: message.as_ref().map(|m| {
                vec![Warning {
                    code: WarningCode::NoAvailableWorker,
                    message: m.clone(),
                }]
            }),
            message,
        }))
    }

    /// `POST /v2/generate/text/async`.
    pub fn create_text(
        &mut self,
        caller: &Caller,
        req: TextGenerateRequest,
        id: String,
    ) -> Result<Admission, ApiError> {
        validate_text_request(&req)?;
        let mut params = req.params().into_owned();
        let n = params.n();
        self.check_named_workers(req.options.workers())?;
        if let Some(key) = caller.shared_key().and_then(|k| self.shared_keys.get(k))
            && key.max_text_tokens >= 0
            && i64::from(params.max_length()) > key.max_text_tokens
        {
            return Err(ApiError::bad_request(format!(
                "This shared key allows at most {} tokens per text.",
                key.max_text_tokens
            )));
        }
        let billions = req
            .models()
            .iter()
            .filter_map(|m| self.settings.models.text_billions(m))
            .reduce(f64::max);
        let estimate = text_estimate(
            params.max_length(),
            billions,
            params.max_context_length(),
            n,
        );
        if req.options.dry_run() {
            return Ok(Admission::Estimate(KudosEstimate { kudos: estimate }));
        }
        self.check_can_request(caller, &req.prompt, n)?;
        let downgrade = req.options.allow_downgrade();
        let key = self.check_shared_key(caller, estimate, downgrade)?;
        let user = self.user(caller.user_id())?.clone();
        let free_tokens = max_free_tokens(
            self.online_threads(&WorkerType::Text),
            self.text_queue.jobs(),
        );
        let mut req = req;
        let mut hold = 0.0;
        if text_needs_upfront(params.max_length(), req.options.slow_workers(), free_tokens) {
            let upfront = kudos::text_upfront_kudos(params.max_length(), billions, n);
            if upfront <= self.available(&user) {
                hold = upfront;
            } else if downgrade {
                params.max_length = Some(params.max_length().min(free_tokens));
                req.options.slow_workers = Some(true);
                req.params = Some(params.clone());
            } else {
                return Err(ApiError::new(
                    Rc::KudosUpfront,
                    format!(
                        "Due to heavy demand, for requests over {free_tokens} tokens the client needs to already have the required kudos ({upfront}) to fulfil this request."
                    ),
                ));
            }
        }
        let now = self.now();
        let priority = self.priority_of(&user, key.downgraded);
        let seq = self.next_seq();
        let request = Request {
            id: id.clone(),
            body: RequestBody::Text(Box::new(req)),
            user_id: user.id,
            shared_key: caller.shared_key().map(str::to_owned),
            n,
            jobs_total: n,
            things: f64::from(params.max_length()),
            base_kudos: 0.0,
            consumed_kudos: 0.0,
            priority,
            created: now,
            expiry: now + self.settings.request_ttl,
            faulted: false,
            jobs: Vec::new(),
            source_blob: None,
            mask_blob: None,
            seq,
            upfront_hold: hold,
            key_reserved: key.reserve,
        };
        let possible = self.admit(request, kudos::TEXT_ACTIVATION_TAX);
        Ok(Admission::Queued(RequestAsyncResponse {
            id: RequestId(id),
            kudos: 0.0,
            message: (!possible).then(|| NO_WORKER_TEXT.to_owned()),
            warnings: None,
        }))
    }

    /// Queues an accepted request: records its upfront hold, charges the
    /// activation tax, counts it for its user; answers whether some worker
    /// can serve it now.
    fn admit(&mut self, request: Request, tax: f64) -> bool {
        let (id, user_id, n, kind) = (
            request.id.clone(),
            request.user_id,
            request.n,
            request.kind(),
        );
        let shared = request.shared_key.clone();
        if request.upfront_hold > 0.0 {
            self.holds.insert(id.clone(), user_id);
        }
        if let Some(key) = shared.clone().filter(|_| request.key_reserved > 0.0) {
            self.key_holds.insert(id.clone(), key);
        }
        self.requests.insert(id.clone(), request);
        let charged = self.charge(user_id, shared.as_deref(), tax);
        if let Some(r) = self.requests.get_mut(&id) {
            r.consumed_kudos += charged;
        }
        if let Some(u) = self.users.get_mut(&user_id) {
            match kind {
                WorkerType::Image => u.requested.image += u64::from(n),
                _ => u.requested.text += u64::from(n),
            }
        }
        self.reindex(&id);
        self.mark(Table::Requests, id.clone());
        self.is_possible(&id)
    }

    /// Puts a request into, moves it in, or takes it out of its queue.
    pub(super) fn reindex(&mut self, id: &str) {
        let Some(r) = self.requests.get(id) else {
            self.image_queue.remove(id);
            self.text_queue.remove(id);
            return;
        };
        let queue = match r.kind() {
            WorkerType::Image => &mut self.image_queue,
            _ => &mut self.text_queue,
        };
        if r.is_waiting() {
            queue.upsert(
                id,
                r.user_id,
                r.priority,
                r.created,
                r.seq,
                u64::from(r.n),
                f64::from(r.n) * r.things,
            );
        } else {
            queue.remove(id);
        }
    }

    fn request_of(&self, id: &str, kind: WorkerType) -> Result<&Request, ApiError> {
        let noun = if kind == WorkerType::Image {
            "Image"
        } else {
            "Text"
        };
        self.requests
            .get(id)
            .filter(|r| r.kind() == kind)
            .ok_or_else(|| {
                ApiError::new(
                    Rc::RequestNotFound,
                    format!("{noun} Waiting Prompt with ID '{id}' not found."),
                )
            })
    }

    /// Whether some online worker could take this request now, or a job of
    /// it is in flight (memoised for a minute).
    pub(super) fn is_possible(&mut self, id: &str) -> bool {
        let now = self.now();
        // Verdicts are reused for a minute; they are forgotten sooner when
        // the request is popped or faulted, when a worker joins or changes,
        // and at every sweep (workers going offline).
        if let Some((v, at)) = self.possible.get(id)
            && now - at < POSSIBLE_MEMO_SECS
        {
            return *v;
        }
        let Some(r) = self.requests.get(id) else {
            return false;
        };
        // As upstream: finished requests included (a worker that could
        // serve it is online), faulted ones never.
        let verdict = r.processing() > 0
            || (!r.faulted
                && self
                    .workers
                    .values()
                    .filter(|w| w.kind == r.kind() && w.is_online(now))
                    .any(|w| self.skip_reason(w, r).is_none()));
        self.possible.insert(id.to_owned(), (verdict, now));
        verdict
    }

    /// Work per second of the online workers of a kind, recomputed at most
    /// once a second (every `/check` needs it).
    fn horde_speed(&mut self, kind: &WorkerType, now: f64) -> f64 {
        if let Some((at, speed)) = self.speed_cache.get(kind)
            && now - at < 1.0
        {
            return *speed;
        }
        let speed = self
            .workers
            .values()
            .filter(|w| &w.kind == kind && w.is_online(now))
            .filter_map(|w| w.speed().map(|s| s * f64::from(w.threads)))
            .sum();
        self.speed_cache.insert(kind.clone(), (now, speed));
        speed
    }

    fn progress(&mut self, id: &str) -> RequestStatusCheck {
        let now = self.now();
        let Some(r) = self.requests.get(id) else {
            return RequestStatusCheck::default();
        };
        let (finished, processing, restarted) = (r.finished(), r.processing(), r.restarted());
        let kind = r.kind();
        let waiting = r.n.min(r.jobs_total.saturating_sub(processing + finished));
        let done = r.reported_done();
        let faulted = r.faulted;
        let kudos = r.consumed_kudos.round();
        let in_flight: f64 = r
            .jobs
            .iter()
            .filter(|j| j.state == JobState::Processing)
            .map(|j| {
                let speed = self.workers.get(&j.worker_id).and_then(|w| w.speed());
                speed
                    .map_or(0.0, |s| r.things / s - (now - j.started))
                    .max(0.0)
            })
            .fold(0.0, f64::max);
        let queue = match kind {
            WorkerType::Image => &mut self.image_queue,
            _ => &mut self.text_queue,
        };
        let (position, ahead) = queue.position(id, now).unwrap_or((0, 0.0));
        let speed = self.horde_speed(&kind, now);
        let speed = if speed > 0.0 {
            speed
        } else if kind == WorkerType::Image {
            FALLBACK_IMAGE_SPEED
        } else {
            FALLBACK_TEXT_SPEED
        };
        let wait_time = if done {
            0
        } else {
            (ahead / speed + in_flight).round() as i64
        };
        let is_possible = self.is_possible(id);
        RequestStatusCheck {
            finished,
            processing,
            restarted,
            waiting,
            done,
            faulted,
            wait_time,
            queue_position: position,
            kudos,
            is_possible,
        }
    }

    /// `GET /v2/generate/check/{id}`.
    pub fn check(&mut self, id: &str) -> Result<RequestStatusCheck, ApiError> {
        self.request_of(id, WorkerType::Image).map_err(|mut e| {
            e.body.message = format!("Image Waiting Prompt (Check) with ID '{id}' not found.");
            e
        })?;
        Ok(self.progress(id))
    }

    /// `GET /v2/generate/status/{id}`: progress plus finished images, with
    /// `img` as a download URL. Returns whether the request asked for URLs
    /// (`r2`); when not, the HTTP layer inlines each blob as base64.
    pub fn image_status(&mut self, id: &str) -> Result<(ImageStatus, bool), ApiError> {
        let r = self.request_of(id, WorkerType::Image)?;
        let r2 = match &r.body {
            RequestBody::Image(b) => b.r2(),
            RequestBody::Text(_) => true,
        };
        let generations = r
            .jobs
            .iter()
            .filter(|j| j.state == JobState::Done)
            .map(|j| ImageGeneration {
                img: self.blob_url(&format!("{}.webp", j.id)),
                seed: j.seed.to_string(),
                id: JobId(j.id.clone()),
                censored: j.censored,
                gen_metadata: j.gen_metadata.clone(),
                worker_id: WorkerId(j.worker_id.clone()),
                worker_name: j.worker_name.clone(),
                model: j.model.clone(),
                state: if j.censored {
                    crate::api::GenerationState::Censored
                } else {
                    crate::api::GenerationState::Ok
                },
            })
            .collect();
        let check = self.progress(id);
        Ok((
            ImageStatus {
                generations,
                shared: false,
                check,
            },
            r2,
        ))
    }

    /// `GET /v2/generate/text/status/{id}`.
    pub fn text_status(&mut self, id: &str) -> Result<TextStatus, ApiError> {
        let r = self.request_of(id, WorkerType::Text)?;
        let generations = r
            .jobs
            .iter()
            .filter(|j| j.state == JobState::Done)
            .map(|j| TextGeneration {
                text: j.result.clone().unwrap_or_default(),
                seed: j.seed,
                id: None, // upstream sends no id for text generations
                gen_metadata: j.gen_metadata.clone(),
                worker_id: WorkerId(j.worker_id.clone()),
                worker_name: j.worker_name.clone(),
                model: j.model.clone(),
                state: match j.reported_state.as_deref() {
                    Some("csam") => crate::api::GenerationState::Csam,
                    _ if j.censored => crate::api::GenerationState::Censored,
                    _ => crate::api::GenerationState::Ok,
                },
            })
            .collect();
        let check = self.progress(id);
        Ok(TextStatus { generations, check })
    }

    /// `DELETE /v2/generate/status/{id}` and `…/text/status/{id}`: stops
    /// handing out jobs; finished results stay, jobs in flight finish.
    /// Answers with the status as it was before the cancel.
    pub fn cancel(&mut self, id: &str, kind: WorkerType) -> Result<CancelledStatus, ApiError> {
        self.request_of(id, kind.clone())?;
        let before = match kind {
            WorkerType::Image => {
                let (s, r2) = self.image_status(id)?;
                CancelledStatus::Image(s, r2)
            }
            _ => CancelledStatus::Text(self.text_status(id)?),
        };
        if let Some(r) = self.requests.get_mut(id) {
            r.n = 0;
            if kind == WorkerType::Image {
                r.jobs_total = r.finished();
            }
        }
        self.reindex(id);
        self.mark(Table::Requests, id.to_owned());
        Ok(before)
    }

    /// A download URL for a stored blob.
    pub fn blob_url(&self, name: &str) -> String {
        format!("{}/api/v2/blobs/{name}", self.settings.public_url)
    }

    /// An upload URL for a job's result.
    pub fn upload_url(&self, name: &str, token: &str) -> String {
        format!(
            "{}/api/v2/blobs/{name}?token={token}",
            self.settings.public_url
        )
    }

    /// The default job ttl of a text job.
    pub fn text_ttl() -> f64 {
        TEXT_JOB_TTL_SECS
    }
}

/// The status a cancel answers with.
#[derive(Clone, Debug)]
pub enum CancelledStatus {
    /// An image request, and whether it wants URLs.
    Image(ImageStatus, bool),
    /// A text request.
    Text(TextStatus),
}

/// Blobs the HTTP layer stored for a new image request.
#[derive(Clone, Debug, Default)]
pub struct StoredSources {
    /// The source image's blob name.
    pub source: Option<String>,
    /// The mask's blob name.
    pub mask: Option<String>,
}
