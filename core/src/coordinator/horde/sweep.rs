//! The periodic sweep: jobs past their ttl are faulted and requeued, forms
//! whose alchemist went silent return to the queue, requests idle past their
//! expiry are removed with their results, and online workers earn uptime.

use super::Horde;
use crate::api::WorkerType;
use crate::coordinator::model::JobState;
use crate::coordinator::store::Table;
use crate::kudos::{
    ALCHEMIST_UPTIME, UPTIME_INTERVAL_SECS, image_uptime_reward, text_uptime_reward,
};

/// What one sweep did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Jobs faulted for exceeding their ttl.
    pub timed_out_jobs: usize,
    /// Requests and interrogations removed after expiry.
    pub expired: usize,
    /// Uptime rewards paid.
    pub uptime_rewards: usize,
}

impl Horde {
    /// Runs one sweep at the current time.
    pub fn sweep(&mut self) -> SweepReport {
        let now = self.now();
        let mut report = SweepReport::default();

        let stale: Vec<(String, String)> = self
            .requests
            .values()
            .flat_map(|r| {
                r.jobs
                    .iter()
                    .filter(move |j| j.state == JobState::Processing && now - j.started > j.ttl)
                    .map(move |j| (r.id.clone(), j.id.clone()))
            })
            .collect();
        report.timed_out_jobs = stale.len();
        for (rid, jid) in stale {
            self.fault_job(&rid, &jid, super::dispatch::FaultCause::TimedOut);
        }
        self.sweep_forms(now);

        let expired: Vec<String> = self
            .requests
            .values()
            .filter(|r| r.expiry < now)
            .map(|r| r.id.clone())
            .collect();
        for id in expired {
            self.holds.remove(&id);
            self.key_holds.remove(&id);
            if let Some(r) = self.requests.remove(&id) {
                for j in &r.jobs {
                    self.job_index.remove(&j.id);
                    self.deleted_blobs.push(format!("{}.webp", j.id));
                }
                self.deleted_blobs.extend(r.source_blob.iter().cloned());
                self.deleted_blobs.extend(r.mask_blob.iter().cloned());
                self.possible.remove(&id);
                self.reindex(&id);
                self.mark(Table::Requests, id);
                report.expired += 1;
            }
        }
        let expired: Vec<String> = self
            .interrogations
            .values()
            .filter(|i| i.expiry < now)
            .map(|i| i.id.clone())
            .collect();
        for id in expired {
            if let Some(i) = self.interrogations.remove(&id) {
                for f in &i.forms {
                    self.form_index.remove(&f.id);
                    self.deleted_blobs.push(format!("{}.webp", f.id));
                }
                self.deleted_blobs.extend(i.source_blob.iter().cloned());
                self.reindex_interrogation(&id);
                self.mark(Table::Interrogations, id);
                report.expired += 1;
            }
        }

        let requests = &self.requests;
        self.holds
            .retain(|id, _| requests.get(id).is_some_and(|r| !r.is_done()));
        report.uptime_rewards = self.reward_uptime(now);
        // Workers may have gone offline: forget the "can anyone serve it" verdicts.
        self.possible.clear();
        self.last_sweep = now;
        report
    }

    fn reward_uptime(&mut self, now: f64) -> usize {
        let elapsed = if self.last_sweep > 0.0 {
            now - self.last_sweep
        } else {
            0.0
        };
        let mut paid = Vec::new();
        let models = self.settings.models.clone();
        for w in self.workers.values_mut() {
            if !w.is_online(now) || w.maintenance || w.paused {
                w.unrewarded_uptime = 0.0;
                continue;
            }
            w.uptime += elapsed;
            w.unrewarded_uptime += elapsed;
            while w.unrewarded_uptime >= UPTIME_INTERVAL_SECS as f64 {
                w.unrewarded_uptime -= UPTIME_INTERVAL_SECS as f64;
                let reward = match w.kind {
                    WorkerType::Image => image_uptime_reward(w.models.len(), w.caps.lora),
                    WorkerType::Text => text_uptime_reward(
                        w.caps.max_context_length,
                        w.models.first().and_then(|m| models.text_billions(m)),
                        super::dispatch_is_validated(&w.bridge_agent),
                    ),
                    _ => ALCHEMIST_UPTIME,
                };
                w.kudos_uptime += reward;
                paid.push((w.id.clone(), w.owner, reward, w.kind.clone()));
            }
        }
        for (worker, owner, reward, kind) in &paid {
            if let Some(u) = self.users.get_mut(owner) {
                // Untrusted owners earn uptime into escrow (alchemists excepted).
                if u.is_trusted() || *kind == WorkerType::Interrogation {
                    u.move_kudos(*reward);
                } else {
                    u.evaluating_kudos += reward;
                }
                u.kudos_details.accumulated += reward;
            }
            self.mark(Table::Users, owner.to_string());
            self.mark(Table::Workers, worker.clone());
        }
        paid.len()
    }
}
