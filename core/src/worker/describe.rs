//! JSON descriptions of jobs and worker events, for the surfaces that carry
//! no Rust enums (the C ABI hands them out as strings, Godot as
//! Dictionaries). Pixels are not described: an image job's source and a
//! form's image travel beside the description, decoded, where a surface
//! wants them.

use serde_json::{Value, json};

use super::{Job, WorkerEvent};

impl Job {
    /// Every setting of the job as a JSON object; `kind` says which job it is.
    pub fn describe(&self) -> Value {
        match self {
            Job::Image(j) => json!({
                "kind": "image",
                "prompt": j.prompt,
                "negative_prompt": j.negative,
                "width": j.width,
                "height": j.height,
                "steps": j.steps,
                "seed": j.seed,
                "count": j.count,
                "model": j.model,
                "settings": serde_json::to_value(&j.settings).unwrap_or(Value::Null),
                "source_processing": j.source.as_ref().map(|s| s.processing.as_str().to_owned()),
                "has_mask": j.source.as_ref().is_some_and(|s| s.mask.is_some()),
            }),
            Job::Text(j) => json!({
                "kind": "text",
                "prompt": j.prompt,
                "model": j.model,
                "max_length": j.max_length,
                "max_context_length": j.max_context_length,
                "params": serde_json::to_value(&j.params).unwrap_or(Value::Null),
            }),
            Job::Form(j) => json!({
                "kind": "alchemy",
                "form": j.form.as_str(),
                "payload": j.payload,
            }),
        }
    }

    /// The encoded image the job works on: an image job's source, a form's image.
    pub fn source_image(&self) -> Option<&[u8]> {
        match self {
            Job::Image(j) => j.source.as_ref().map(|s| s.bytes.as_slice()),
            Job::Text(_) => None,
            Job::Form(j) => Some(&j.image),
        }
    }
}

impl WorkerEvent {
    /// The event's name, in snake case (`job_finished`, `kudos_earned`, …).
    pub fn name(&self) -> &'static str {
        match self {
            WorkerEvent::Started { .. } => "started",
            WorkerEvent::JobReceived { .. } => "job_received",
            WorkerEvent::JobFinished { .. } => "job_finished",
            WorkerEvent::KudosEarned { .. } => "kudos_earned",
            WorkerEvent::NothingToDo { .. } => "nothing_to_do",
            WorkerEvent::Maintenance { .. } => "maintenance",
            WorkerEvent::Offering { .. } => "offering",
            WorkerEvent::Error { .. } => "error",
            WorkerEvent::Stopped { .. } => "stopped",
        }
    }

    /// The event as a JSON object: `event` names it, the rest are its fields.
    pub fn describe(&self) -> Value {
        let fields = match self {
            WorkerEvent::Started { name, models } => json!({"name": name, "models": models}),
            WorkerEvent::JobReceived {
                job,
                model,
                summary,
                ttl,
            } => json!({"job": job, "model": model, "summary": summary, "ttl": ttl}),
            WorkerEvent::JobFinished {
                job,
                state,
                reward,
                seconds,
                error,
            } => json!({
                "job": job,
                "state": state.as_str(),
                "reward": reward,
                "seconds": seconds,
                "error": error,
            }),
            WorkerEvent::KudosEarned { amount, total } => json!({"amount": amount, "total": total}),
            WorkerEvent::NothingToDo { skipped } => {
                json!({"skipped": serde_json::to_value(skipped).unwrap_or(Value::Null)})
            }
            WorkerEvent::Maintenance { on, reason } => json!({"on": on, "reason": reason}),
            WorkerEvent::Offering { on } => json!({"on": on}),
            WorkerEvent::Error { message, fatal } => json!({"message": message, "fatal": fatal}),
            WorkerEvent::Stopped { stats } => json!({
                "jobs_done": stats.jobs_done,
                "jobs_faulted": stats.jobs_faulted,
                "kudos": stats.kudos,
                "speed": stats.speed,
            }),
        };
        let mut object = json!({"event": self.name()});
        if let (Some(out), Value::Object(fields)) = (object.as_object_mut(), fields) {
            out.extend(fields);
        }
        object
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::GenerationState;
    use crate::worker::{TextJob, WorkerStats};

    #[test]
    fn worker_events_are_described_by_name_and_fields() {
        let e = WorkerEvent::JobFinished {
            job: "j1".into(),
            state: GenerationState::Ok,
            reward: 12.5,
            seconds: 0.5,
            error: None,
        };
        assert_eq!(
            e.describe(),
            json!({"event": "job_finished", "job": "j1", "state": "ok", "reward": 12.5,
                   "seconds": 0.5, "error": null})
        );
        let stopped = WorkerEvent::Stopped {
            stats: WorkerStats {
                jobs_done: 3,
                jobs_faulted: 1,
                kudos: 30.0,
                speed: None,
            },
        };
        assert_eq!(stopped.describe()["jobs_done"], 3);
        assert_eq!(stopped.describe()["event"], "stopped");
    }

    #[test]
    fn text_jobs_are_described_with_their_params() {
        let job = Job::Text(TextJob {
            prompt: "Once".into(),
            model: "m".into(),
            params: Default::default(),
            max_length: 40,
            max_context_length: 1024,
        });
        let d = job.describe();
        assert_eq!(
            (d["kind"].as_str(), d["max_length"].as_u64()),
            (Some("text"), Some(40))
        );
        assert!(job.source_image().is_none());
    }
}
