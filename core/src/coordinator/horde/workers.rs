//! Worker records as the API shows and changes them: lists, details,
//! maintenance and info changes, deletion.

use super::{Caller, Horde};
use crate::api::{
    DeletedWorker, ModifyWorkerRequest, ModifyWorkerResponse, Rc, TeamDetailsLite, TeamId,
    WorkerDetails, WorkerId, WorkerKudosDetails, WorkerType, WorkersQuery,
};
use crate::coordinator::error::ApiError;
use crate::coordinator::model::{JobState, Worker};
use crate::coordinator::store::Table;

fn performance(w: &Worker) -> String {
    match (w.speed(), &w.kind) {
        (None, _) => "No requests fulfilled yet".into(),
        (Some(s), WorkerType::Image) => format!("{:.1} megapixelsteps per second", s / 1e6),
        (Some(s), WorkerType::Text) => format!("{s:.1} tokens per second"),
        (Some(s), _) => format!("{s:.1} forms per second"),
    }
}

impl Horde {
    /// A worker as `caller` sees it: its owner and moderators see the
    /// privileged fields, moderators also its messages (as upstream shows
    /// them to moderators).
    fn worker_view(&self, w: &Worker, caller: Option<&Caller>) -> WorkerDetails {
        let moderator = caller.is_some_and(|c| {
            self.users
                .get(&c.user_id())
                .is_some_and(|u| u.is_moderator())
        });
        let privileged = moderator || caller.is_some_and(|c| c.user_id() == w.owner);
        let now = self.now();
        let owner = self.users.get(&w.owner);
        let image = w.kind == WorkerType::Image;
        let text = w.kind == WorkerType::Text;
        WorkerDetails {
            kind: w.kind.clone(),
            name: w.name.clone(),
            id: WorkerId(w.id.clone()),
            online: w.is_online(now),
            requests_fulfilled: w.fulfilled,
            uncompleted_jobs: w.uncompleted,
            kudos_rewards: crate::kudos::round2(w.kudos_generated + w.kudos_uptime),
            // `null` until earned, as upstream sends them (alchemists'
            // rewards are booked elsewhere upstream: always `null`).
            kudos_details: WorkerKudosDetails {
                generated: (w.kind != WorkerType::Interrogation && w.fulfilled > 0)
                    .then(|| crate::kudos::round2(w.kudos_generated)),
                uptime: (w.kudos_uptime > 0.0).then(|| w.kudos_uptime.round() as i64),
            },
            performance: performance(w),
            threads: w.threads,
            uptime: w.uptime as u64,
            maintenance_mode: w.maintenance,
            paused: privileged.then_some(w.paused),
            info: w.info.clone().filter(|i| !i.is_empty()),
            // Alchemists do no NSFW filtering; upstream shows its default.
            nsfw: w.nsfw && w.kind != WorkerType::Interrogation,
            owner: (privileged || owner.is_some_and(|u| u.public_workers))
                .then(|| owner.map(|u| u.username()).unwrap_or_default()),
            ipaddr: if privileged { w.ipaddr.clone() } else { None },
            trusted: owner.is_some_and(|u| u.is_trusted()),
            flagged: owner.is_some_and(|u| u.roles.flagged),
            suspicious: privileged.then_some(0),
            // Upstream always sends the object, its members `null` when the
            // worker has no team.
            team: Some(TeamDetailsLite {
                name: None,
                id: w.team.clone().map(TeamId),
            }),
            contact: if privileged {
                owner.and_then(|u| u.contact.clone())
            } else {
                None
            },
            bridge_agent: w.bridge_agent.clone(),
            models: (w.kind != WorkerType::Interrogation).then(|| w.models.clone()),
            forms: (w.kind == WorkerType::Interrogation)
                .then(|| w.caps.forms.iter().map(|f| f.as_str().to_owned()).collect()),
            max_pixels: image.then_some(w.caps.max_pixels),
            // A whole number, as upstream stores it (the SDK reads an int).
            megapixelsteps_generated: image.then_some(w.megapixelsteps.round()),
            img2img: image.then_some(w.caps.img2img),
            painting: image.then_some(w.caps.painting),
            post_processing: image.then_some(w.caps.post_processing),
            controlnet: image.then_some(w.caps.controlnet),
            sdxl_controlnet: image.then_some(w.caps.sdxl_controlnet),
            lora: image.then_some(w.caps.lora),
            max_length: text.then_some(w.caps.max_length),
            max_context_length: text.then_some(w.caps.max_context_length),
            // Upstream does not send it (and the SDK reads an int).
            tokens_generated: None,
            messages: moderator.then(Vec::new),
        }
    }

    /// `GET /v2/workers`.
    pub fn list_workers(&self, q: &WorkersQuery, caller: Option<&Caller>) -> Vec<WorkerDetails> {
        let now = self.now();
        let mut out: Vec<_> = self
            .workers
            .values()
            .filter(|w| w.is_online(now))
            .filter(|w| q.kind.as_ref().is_none_or(|k| &w.kind == k))
            .filter(|w| {
                q.name
                    .as_ref()
                    .is_none_or(|n| w.name.eq_ignore_ascii_case(n))
            })
            .map(|w| self.worker_view(w, caller))
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    fn worker(&self, id: &str) -> Result<&Worker, ApiError> {
        self.workers.get(id).ok_or_else(|| {
            ApiError::new(
                Rc::WorkerNotFound,
                format!("Worker with ID '{id}' not found."),
            )
        })
    }

    /// `GET /v2/workers/{id}` (online or not).
    pub fn worker_details(
        &self,
        id: &str,
        caller: Option<&Caller>,
    ) -> Result<WorkerDetails, ApiError> {
        let w = self.worker(id)?;
        Ok(self.worker_view(w, caller))
    }

    /// `GET /v2/workers/name/{name}`.
    pub fn worker_by_name(
        &self,
        name: &str,
        caller: Option<&Caller>,
    ) -> Result<WorkerDetails, ApiError> {
        let id = self
            .workers_by_name
            .get(&name.to_lowercase())
            .ok_or_else(|| {
                ApiError::new(
                    Rc::WorkerNotFound,
                    format!("Worker with name '{name}' not found."),
                )
            })?;
        self.worker_details(id, caller)
    }

    /// `PUT /v2/workers/{id}`.
    pub fn modify_worker(
        &mut self,
        caller: &Caller,
        id: &str,
        m: &ModifyWorkerRequest,
    ) -> Result<ModifyWorkerResponse, ApiError> {
        let w = self.worker(id)?;
        let actor = self.user(caller.user_id())?;
        let is_mod = actor.is_moderator();
        let is_owner = w.owner == actor.id;
        if m == &ModifyWorkerRequest::default() {
            return Err(ApiError::new(
                Rc::NoWorkerModSelected,
                "No valid modification selected!",
            ));
        }
        if m.paused.is_some() && !is_mod {
            return Err(ApiError::new(
                Rc::NotModerator,
                "Only moderators may pause workers.",
            ));
        }
        if (m.maintenance.is_some()
            || m.info.is_some()
            || m.name.is_some()
            || m.team.is_some()
            || m.maintenance_msg.is_some())
            && !(is_owner || is_mod)
        {
            return Err(ApiError::new(
                Rc::NotOwner,
                "Only the owner or a moderator may change this worker.",
            ));
        }
        if let Some(info) = &m.info
            && info.chars().count() > 1000
        {
            return Err(ApiError::new(
                Rc::TooLong,
                "The specified worker info is too long. Please stay below 1000",
            ));
        }
        if let Some(name) = &m.name {
            let len = name.chars().count();
            if !(5..=100).contains(&len) {
                return Err(ApiError::new(
                    Rc::TooLongWorkerName,
                    "A worker name must be 5 to 100 characters.",
                ));
            }
            if let Some(other) = self.workers_by_name.get(&name.to_lowercase())
                && other != id
            {
                return Err(ApiError::new(
                    Rc::NameAlreadyExists,
                    format!("The specified worker name '{name}' is already taken!"),
                ));
            }
        }
        if let Some(team) = &m.team
            && team.chars().count() > 36
        {
            return Err(ApiError::bad_request("team must be a team id or ''"));
        }
        let old_name = w.name.to_lowercase();
        let mut out = ModifyWorkerResponse::default();
        let Some(w) = self.workers.get_mut(id) else {
            return Err(ApiError::new(Rc::WorkerNotFound, "Worker vanished."));
        };
        if let Some(v) = m.maintenance {
            w.maintenance = v;
            if v {
                w.maintenance_msg = m.maintenance_msg.clone();
            } else {
                w.maintenance_msg = None;
            }
            out.maintenance = Some(v);
        }
        if let Some(v) = m.paused {
            w.paused = v;
            out.paused = Some(v);
        }
        if let Some(info) = &m.info {
            w.info = Some(info.clone());
            out.info = Some(info.clone());
        }
        if let Some(team) = &m.team {
            w.team = (!team.is_empty()).then(|| team.clone());
            out.team = Some(team.clone());
        }
        let rename = m.name.clone();
        if let Some(name) = &rename {
            w.name = name.clone();
            out.name = Some(name.clone());
        }
        if let Some(name) = rename {
            self.workers_by_name.remove(&old_name);
            self.workers_by_name
                .insert(name.to_lowercase(), id.to_owned());
        }
        self.persisted_at.remove(id);
        self.mark(Table::Workers, id.to_owned());
        Ok(out)
    }

    /// `DELETE /v2/workers/{id}`: refused (423) while a job of it is in flight.
    pub fn delete_worker(&mut self, caller: &Caller, id: &str) -> Result<DeletedWorker, ApiError> {
        let w = self.worker(id)?;
        let actor = self.user(caller.user_id())?;
        if w.owner != actor.id && !actor.is_moderator() {
            return Err(ApiError::new(
                Rc::NotOwner,
                "Only the owner or a moderator may delete this worker.",
            ));
        }
        let busy = self
            .requests
            .values()
            .flat_map(|r| &r.jobs)
            .any(|j| j.worker_id == id && j.state == JobState::Processing);
        if busy {
            return Err(ApiError::new(
                Rc::Locked,
                "This worker has jobs in flight; try again when they are done.",
            ));
        }
        let out = DeletedWorker {
            deleted_id: WorkerId(w.id.clone()),
            deleted_name: w.name.clone(),
        };
        let key = w.name.to_lowercase();
        self.workers.remove(id);
        self.workers_by_name.remove(&key);
        self.persisted_at.remove(id);
        self.mark(Table::Workers, id.to_owned());
        Ok(out)
    }
}
