//! Interrogations ("alchemy"): requests of forms on one image, their queue,
//! alchemist pops and submits, status and cancel.

use super::{Caller, Horde};
use crate::api::validate::validate_interrogation_request;
use crate::api::{
    GenerationState, InterrogationAsyncResponse, InterrogationFormStatus, InterrogationPopForm,
    InterrogationPopRequest, InterrogationPopResponse, InterrogationRequest, InterrogationState,
    InterrogationStatus, InterrogationSubmitRequest, JobId, PopCommon, Rc, RequestId,
    SkippedReasons, WorkerId, WorkerType,
};
use crate::coordinator::error::ApiError;
use crate::coordinator::model::{Capabilities, Form, Interrogation};
use crate::coordinator::store::Table;
use crate::kudos::{MAX_SOURCE_TILES, form_charge, form_price, tiles};

/// Seconds an alchemist has for one form.
pub const FORM_TTL_SECS: f64 = 180.0;
/// Aborts after which a form fails for good.
pub const MAX_FORM_ABORTS: u32 = 3;
/// Forms a user may have waiting, per unit of concurrency.
const FORMS_PER_CONCURRENCY: u32 = 10;

/// Where the HTTP layer put an interrogation's image.
#[derive(Clone, Debug, Default)]
pub struct StoredImage {
    /// The stored blob, when the image came as base64.
    pub blob: Option<String>,
    /// Its size, when it could be read.
    pub size: Option<(u32, u32)>,
}

impl Horde {
    /// Puts an interrogation into, or takes it out of, the form queue.
    pub(super) fn reindex_interrogation(&mut self, id: &str) {
        match self.interrogations.get(id) {
            Some(i)
                if i.forms
                    .iter()
                    .any(|f| f.state == InterrogationState::Waiting) =>
            {
                let waiting = i
                    .forms
                    .iter()
                    .filter(|f| f.state == InterrogationState::Waiting)
                    .count();
                self.form_queue.upsert(
                    id,
                    i.user_id,
                    i.priority,
                    i.created,
                    i.seq,
                    waiting as u64,
                    waiting as f64,
                );
            }
            _ => self.form_queue.remove(id),
        }
    }

    /// `POST /v2/interrogate/async`.
    pub fn create_interrogation(
        &mut self,
        caller: &Caller,
        req: &InterrogationRequest,
        id: String,
        stored: StoredImage,
    ) -> Result<InterrogationAsyncResponse, ApiError> {
        if caller.shared_key().is_some() {
            return Err(ApiError::new(
                Rc::InvalidAPIKey,
                "Shared keys cannot request interrogations.",
            ));
        }
        validate_interrogation_request(req)?;
        if self.settings.maintenance_mode {
            return Err(ApiError::new(
                Rc::MaintenanceMode,
                "This horde is in maintenance mode.",
            ));
        }
        if let Some((w, h)) = stored.size
            && tiles(w, h) > MAX_SOURCE_TILES
        {
            return Err(ApiError::new(
                Rc::SourceImageResolutionExceeded,
                format!(
                    "The source image is {w}x{h}: at most {MAX_SOURCE_TILES} tiles of 512x512 may be interrogated."
                ),
            ));
        }
        let user = self.user(caller.user_id())?.clone();
        let mut names = Vec::new();
        for f in &req.forms {
            if !names.iter().any(|(n, _)| n == &f.name) {
                names.push((f.name.clone(), f.payload.clone()));
            }
        }
        let waiting: usize = self
            .interrogations
            .values()
            .filter(|i| i.user_id == user.id)
            .flat_map(|i| &i.forms)
            .filter(|f| f.state == InterrogationState::Waiting)
            .count();
        if waiting + names.len() > (user.concurrency * FORMS_PER_CONCURRENCY) as usize {
            return Err(ApiError::new(
                Rc::TooManyPrompts,
                "Too many interrogation forms waiting; wait for some to finish.",
            ));
        }
        let now = self.now();
        let seq = self.next_seq();
        let (width, height) = stored.size.unwrap_or((512, 512));
        let forms = names
            .into_iter()
            .map(|(name, payload)| Form {
                id: Horde::new_id(),
                name,
                payload,
                state: InterrogationState::Waiting,
                result: None,
                worker_id: None,
                worker_name: None,
                started: 0.0,
                aborts: 0,
                upload_token: uuid::Uuid::new_v4().simple().to_string(),
                reward: 0.0,
            })
            .collect::<Vec<_>>();
        for f in &forms {
            self.form_index.insert(f.id.clone(), id.clone());
        }
        let interrogation = Interrogation {
            id: id.clone(),
            user_id: user.id,
            source_url: stored.blob.is_none().then(|| req.source_image.clone()),
            source_blob: stored.blob,
            width,
            height,
            trusted_workers: req.trusted_workers.unwrap_or(false),
            slow_workers: req.slow_workers(),
            forms,
            priority: user.kudos,
            created: now,
            expiry: now + self.settings.request_ttl,
            consumed_kudos: 0.0,
            seq,
        };
        self.interrogations.insert(id.clone(), interrogation);
        if let Some(u) = self.users.get_mut(&user.id) {
            u.requested.interrogation += req.forms.len() as u64;
        }
        self.reindex_interrogation(&id);
        self.mark(Table::Interrogations, id.clone());
        self.mark(Table::Users, user.id.to_string());
        Ok(InterrogationAsyncResponse {
            id: RequestId(id),
            message: None,
        })
    }

    fn interrogation(&self, id: &str) -> Result<&Interrogation, ApiError> {
        self.interrogations.get(id).ok_or_else(|| {
            ApiError::new(
                Rc::RequestNotFound,
                format!("Interrogation with ID '{id}' not found."),
            )
        })
    }

    /// `GET /v2/interrogate/status/{id}`.
    pub fn interrogation_status(&self, id: &str) -> Result<InterrogationStatus, ApiError> {
        let i = self.interrogation(id)?;
        let forms: Vec<InterrogationFormStatus> = i
            .forms
            .iter()
            .map(|f| {
                let result = f.result.as_ref().map(|r| {
                    r.iter()
                        .map(|(k, v)| {
                            let v = if v.as_str() == Some(crate::api::R2_SUBMITTED) {
                                serde_json::Value::from(self.blob_url(&format!("{}.webp", f.id)))
                            } else {
                                v.clone()
                            };
                            (k.clone(), v)
                        })
                        .collect()
                });
                InterrogationFormStatus {
                    form: f.name.clone(),
                    state: Some(f.state.clone()),
                    result,
                    worker_id: f.worker_id.clone().map(WorkerId),
                    worker_name: f.worker_name.clone(),
                }
            })
            .collect();
        let all = |s: InterrogationState| i.forms.iter().all(|f| f.state == s);
        let any = |s: InterrogationState| i.forms.iter().any(|f| f.state == s);
        let state = if all(InterrogationState::Faulted) {
            InterrogationState::Faulted
        } else if all(InterrogationState::Done) {
            InterrogationState::Done
        } else if any(InterrogationState::Processing) {
            InterrogationState::Processing
        } else if any(InterrogationState::Waiting) {
            InterrogationState::Waiting
        } else {
            InterrogationState::Partial
        };
        Ok(InterrogationStatus { state, forms })
    }

    /// `DELETE /v2/interrogate/status/{id}`: every form not done is
    /// cancelled; as upstream, a form in flight is settled now (its
    /// alchemist paid, the requester charged) and its later submit refused.
    /// Answers with the status before the cancel.
    pub fn cancel_interrogation(&mut self, id: &str) -> Result<InterrogationStatus, ApiError> {
        let before = self.interrogation_status(id)?;
        let mut in_flight = Vec::new();
        if let Some(i) = self.interrogations.get_mut(id) {
            for f in &mut i.forms {
                match f.state {
                    InterrogationState::Waiting => f.state = InterrogationState::Cancelled,
                    InterrogationState::Processing => {
                        f.state = InterrogationState::Cancelled;
                        in_flight.push(f.id.clone());
                    }
                    _ => {}
                }
            }
        }
        for fid in in_flight {
            self.settle_form(id, &fid);
        }
        self.reindex_interrogation(id);
        self.mark(Table::Interrogations, id.to_owned());
        Ok(before)
    }

    /// `POST /v2/interrogate/pop`.
    pub fn pop_interrogation(
        &mut self,
        caller: &Caller,
        req: &InterrogationPopRequest,
        ip: Option<&str>,
    ) -> Result<InterrogationPopResponse, ApiError> {
        let max_tiles = req.max_tiles.unwrap_or(80);
        if !(1..=256).contains(&max_tiles) {
            return Err(ApiError::bad_request("max_tiles must be between 1 and 256"));
        }
        let common = PopCommon {
            name: req.name.clone(),
            priority_usernames: req.priority_usernames.clone(),
            nsfw: None,
            models: None,
            bridge_agent: req.bridge_agent.clone(),
            threads: req.threads.map(|t| t.min(50)),
            require_upfront_kudos: None,
            amount: Some(req.amount.unwrap_or(1).clamp(1, 20)),
            extra_slow_worker: None,
        };
        let forms = req.forms.clone().unwrap_or_default();
        let caps = Capabilities {
            forms: forms.clone(),
            max_tiles,
            ..Default::default()
        };
        let worker_id = self.check_in(caller, WorkerType::Interrogation, &common, caps, ip)?;
        let (worker_name, owner) = {
            let w = &self.workers[&worker_id];
            (w.name.clone(), w.owner)
        };
        let owner_trusted = self.users.get(&owner).is_some_and(|u| u.is_trusted());
        let amount = common.amount() as usize;
        let now = self.now();
        let mut skipped = SkippedReasons::default();
        let mut taken: Vec<(String, String)> = Vec::new();
        let candidates: Vec<String> = self
            .form_queue
            .iter()
            .take(super::dispatch::MAX_SCAN)
            .map(str::to_owned)
            .collect();
        for iid in candidates {
            if taken.len() >= amount {
                break;
            }
            let Some(i) = self.interrogations.get(&iid) else {
                continue;
            };
            if i.trusted_workers && !owner_trusted {
                skipped.untrusted = Some(skipped.untrusted.unwrap_or(0) + 1);
                continue;
            }
            if tiles(i.width, i.height) > u64::from(max_tiles) {
                skipped.bridge_version = Some(skipped.bridge_version.unwrap_or(0) + 1);
                continue;
            }
            for f in &i.forms {
                if taken.len() >= amount {
                    break;
                }
                if f.state == InterrogationState::Waiting && forms.contains(&f.name) {
                    taken.push((iid.clone(), f.id.clone()));
                }
            }
        }
        let mut out = Vec::new();
        let ttl_extend = self.settings.request_ttl;
        for (iid, fid) in taken {
            let Some(i) = self.interrogations.get_mut(&iid) else {
                continue;
            };
            i.expiry = i.expiry.max(now + ttl_extend);
            let source = i.source_url.clone();
            let blob = i.source_blob.clone();
            let Some(f) = i.forms.iter_mut().find(|f| f.id == fid) else {
                continue;
            };
            f.state = InterrogationState::Processing;
            f.worker_id = Some(worker_id.clone());
            f.worker_name = Some(worker_name.clone());
            f.started = now;
            let form = InterrogationPopForm {
                id: JobId(f.id.clone()),
                form: f.name.clone(),
                payload: f.payload.clone(),
                source_image: blob
                    .map(|b| self.settings.public_url.clone() + "/api/v2/blobs/" + &b)
                    .or(source),
                r2_upload: None,
            };
            let upload = f
                .name
                .is_post_processor()
                .then(|| (format!("{}.webp", f.id), f.upload_token.clone()));
            out.push(InterrogationPopForm {
                r2_upload: upload.map(|(name, token)| self.upload_url(&name, &token)),
                ..form
            });
            self.reindex_interrogation(&iid);
            self.mark(Table::Interrogations, iid);
        }
        Ok(InterrogationPopResponse {
            forms: out,
            skipped,
        })
    }

    pub(super) fn form_upload_allowed(&self, form_id: &str, token: &str) -> bool {
        self.form_index
            .get(form_id)
            .and_then(|iid| self.interrogations.get(iid))
            .and_then(|i| i.forms.iter().find(|f| f.id == form_id))
            .is_some_and(|f| f.state == InterrogationState::Processing && f.upload_token == token)
    }

    /// `POST /v2/interrogate/submit`.
    pub fn submit_interrogation(
        &mut self,
        caller: &Caller,
        req: &InterrogationSubmitRequest,
    ) -> Result<f64, ApiError> {
        let fid = req.id.as_str();
        let not_found = || {
            ApiError::new(
                Rc::InvalidJobID,
                format!("Processing Job with ID {fid} does not exist."),
            )
        };
        let iid = self.form_index.get(fid).cloned().ok_or_else(not_found)?;
        let (worker_id, state) = {
            let i = self.interrogations.get(&iid).ok_or_else(not_found)?;
            let f = i.forms.iter().find(|f| f.id == fid).ok_or_else(not_found)?;
            (f.worker_id.clone(), f.state.clone())
        };
        let worker_id = worker_id.ok_or_else(not_found)?;
        let owner = self.workers.get(&worker_id).map(|w| w.owner);
        if owner != Some(caller.user_id()) {
            return Err(ApiError::new(
                Rc::WrongCredentials,
                "Wrong credentials to submit as this worker.",
            ));
        }
        if state != InterrogationState::Processing {
            // As upstream: whatever ended the form (done, faulted,
            // cancelled), a submit is a duplicate; a worker in maintenance
            // is answered a reward of 0 instead.
            if self.workers.get(&worker_id).is_some_and(|w| w.maintenance) {
                return Ok(0.0);
            }
            return Err(ApiError::new(
                Rc::DuplicateGen,
                format!("Processing Generation with ID {fid} already submitted."),
            ));
        }
        let now = self.now();
        let submitted = req.state.clone().unwrap_or(GenerationState::Ok);
        if submitted == GenerationState::Faulted {
            if let Some(f) = self
                .interrogations
                .get_mut(&iid)
                .and_then(|i| i.forms.iter_mut().find(|f| f.id == fid))
            {
                // As upstream: a faulted form goes back to the queue for
                // another alchemist, until it has faulted too often.
                abort_form(f);
            }
            self.reindex_interrogation(&iid);
            self.mark(Table::Interrogations, iid);
            return Ok(0.0);
        }
        if let Some(f) = self
            .interrogations
            .get_mut(&iid)
            .and_then(|i| i.forms.iter_mut().find(|f| f.id == fid))
        {
            f.state = InterrogationState::Done;
            f.result = Some(match &req.result {
                serde_json::Value::Object(map) => map.clone(),
                other => [(f.name.as_str().to_owned(), other.clone())]
                    .into_iter()
                    .collect(),
            });
        }
        let ttl_extend = self.settings.request_ttl;
        if let Some(i) = self.interrogations.get_mut(&iid) {
            i.expiry = i.expiry.max(now + ttl_extend);
        }
        Ok(self.settle_form(&iid, fid))
    }

    /// Pays for a form its alchemist worked on: the worker and its owner
    /// are credited its price, the requester charged. Answers the price.
    fn settle_form(&mut self, iid: &str, fid: &str) -> f64 {
        let Some((name, width, height, slow, user_id, worker_id)) =
            self.interrogations.get(iid).and_then(|i| {
                let f = i.forms.iter().find(|f| f.id == fid)?;
                Some((
                    f.name.clone(),
                    i.width,
                    i.height,
                    i.slow_workers,
                    i.user_id,
                    f.worker_id.clone()?,
                ))
            })
        else {
            return 0.0;
        };
        let price = form_price(&name, width, height);
        let charge = form_charge(price, slow);
        let charged = self.charge(user_id, None, charge);
        if let Some(i) = self.interrogations.get_mut(iid) {
            i.consumed_kudos += charged;
            if let Some(f) = i.forms.iter_mut().find(|f| f.id == fid) {
                f.reward = price;
            }
        }
        if let Some(w) = self.workers.get_mut(&worker_id) {
            w.fulfilled += 1;
            w.kudos_generated += price;
            let owner = w.owner;
            self.mark(Table::Workers, worker_id.clone());
            if let Some(u) = self.users.get_mut(&owner) {
                // As a job reward upstream: half into escrow for an
                // untrusted owner.
                let split = crate::kudos::split_job_reward(price, u.is_trusted());
                u.move_kudos(split.spendable);
                u.evaluating_kudos += split.escrow;
                u.kudos_details.accumulated += price;
                u.fulfillment.interrogation += 1;
                self.mark(Table::Users, owner.to_string());
            }
        }
        self.mark(Table::Interrogations, iid.to_owned());
        price
    }

    /// Returns forms whose alchemist went silent to the queue (the last
    /// allowed abort fails them).
    pub(super) fn sweep_forms(&mut self, now: f64) {
        let mut touched = Vec::new();
        for (iid, i) in &mut self.interrogations {
            for f in &mut i.forms {
                if f.state == InterrogationState::Processing && now - f.started > FORM_TTL_SECS {
                    abort_form(f);
                    touched.push(iid.clone());
                }
            }
        }
        touched.dedup();
        for iid in touched {
            self.reindex_interrogation(&iid);
            self.mark(Table::Interrogations, iid);
        }
    }
}

/// Takes a form back from its alchemist: to the queue again, or faulted
/// once it has been aborted more than [`MAX_FORM_ABORTS`] times.
fn abort_form(f: &mut Form) {
    f.aborts += 1;
    f.state = if f.aborts > MAX_FORM_ABORTS {
        InterrogationState::Faulted
    } else {
        InterrogationState::Waiting
    };
    f.worker_id = None;
    f.worker_name = None;
}
