//! Taking in records written elsewhere: rows loaded on start, and what other
//! coordinator processes sharing the database committed (whole records,
//! replacing ours, with every index kept right). Nothing taken in is marked
//! for storage: it is already there.

use super::{CorruptRecord, Horde};
use crate::coordinator::model::{Interrogation, Request, SharedKey, User, Worker};
use crate::coordinator::store::{Change, Row, Table};

impl Horde {
    /// Replaces the state with stored rows (after a failed turn: memory may
    /// hold changes the database refused). Per-process caches start afresh.
    pub fn reload(&mut self, rows: Vec<Row>) -> Result<(), CorruptRecord> {
        let fresh = Horde::from_rows(self.settings.clone(), self.clock.clone(), rows)?;
        let last_sweep = self.last_sweep;
        *self = fresh;
        self.last_sweep = last_sweep;
        Ok(())
    }

    /// Takes in changes committed by other processes.
    pub fn absorb(&mut self, changes: Vec<Change>) {
        for change in changes {
            let result = match change {
                Change::Put {
                    table, id, body, ..
                } => self.absorb_row(Row { table, id, body }),
                Change::Delete { table, id } => {
                    self.forget(table, &id);
                    Ok(())
                }
            };
            if let Err(e) = result {
                tracing::error!(error = %e, "skipping a record another process wrote");
            }
        }
    }

    /// Sets when the cluster last swept, so uptime is counted once across
    /// the processes that take turns sweeping.
    pub fn resume_sweeps_from(&mut self, last: f64) {
        self.last_sweep = last;
    }

    /// Inserts or replaces one stored record.
    pub(super) fn absorb_row(&mut self, row: Row) -> Result<(), CorruptRecord> {
        let corrupt = |e: serde_json::Error| CorruptRecord {
            table: row.table,
            id: row.id.clone(),
            message: e.to_string(),
        };
        match row.table {
            Table::Users => {
                let user: User = serde_json::from_str(&row.body).map_err(corrupt)?;
                self.forget(Table::Users, &row.id);
                self.insert_user(user);
            }
            Table::SharedKeys => {
                let k: SharedKey = serde_json::from_str(&row.body).map_err(corrupt)?;
                self.shared_keys.insert(k.id.clone(), k);
            }
            Table::Workers => {
                let w: Worker = serde_json::from_str(&row.body).map_err(corrupt)?;
                self.forget(Table::Workers, &row.id);
                self.workers_by_name
                    .insert(w.name.to_lowercase(), w.id.clone());
                self.workers.insert(w.id.clone(), w);
                self.possible.clear();
            }
            Table::Requests => {
                let r: Request = serde_json::from_str(&row.body).map_err(corrupt)?;
                self.forget(Table::Requests, &row.id);
                self.seq = self.seq.max(r.seq);
                for job in &r.jobs {
                    self.job_index.insert(job.id.clone(), r.id.clone());
                }
                let id = r.id.clone();
                if r.upfront_hold > 0.0 && !r.is_done() {
                    self.holds.insert(id.clone(), r.user_id);
                }
                if let Some(key) = r
                    .shared_key
                    .clone()
                    .filter(|_| r.key_reserved > 0.0 && !r.is_done())
                {
                    self.key_holds.insert(id.clone(), key);
                }
                self.requests.insert(id.clone(), r);
                self.reindex(&id);
                self.track_live(Table::Requests, &id);
            }
            Table::Interrogations => {
                let i: Interrogation = serde_json::from_str(&row.body).map_err(corrupt)?;
                self.forget(Table::Interrogations, &row.id);
                self.seq = self.seq.max(i.seq);
                for form in &i.forms {
                    self.form_index.insert(form.id.clone(), i.id.clone());
                }
                let id = i.id.clone();
                self.interrogations.insert(id.clone(), i);
                self.reindex_interrogation(&id);
                self.track_live(Table::Interrogations, &id);
            }
        }
        Ok(())
    }

    /// Removes one record and its index entries (no-op when absent).
    fn forget(&mut self, table: Table, id: &str) {
        match table {
            Table::Users => {
                if let Some(u) = id.parse::<u64>().ok().and_then(|n| self.users.remove(&n))
                    && self.users_by_hash.get(&u.key_hash) == Some(&u.id)
                {
                    self.users_by_hash.remove(&u.key_hash);
                }
            }
            Table::SharedKeys => {
                self.shared_keys.remove(id);
            }
            Table::Workers => {
                if let Some(w) = self.workers.remove(id) {
                    let name = w.name.to_lowercase();
                    if self.workers_by_name.get(&name).map(String::as_str) == Some(id) {
                        self.workers_by_name.remove(&name);
                    }
                    self.persisted_at.remove(id);
                    self.possible.clear();
                }
            }
            Table::Requests => {
                if let Some(r) = self.requests.remove(id) {
                    for job in &r.jobs {
                        self.job_index.remove(&job.id);
                    }
                }
                self.holds.remove(id);
                self.key_holds.remove(id);
                self.live_requests.remove(id);
                self.possible.remove(id);
                self.reindex(id);
            }
            Table::Interrogations => {
                if let Some(i) = self.interrogations.remove(id) {
                    for form in &i.forms {
                        self.form_index.remove(&form.id);
                    }
                }
                self.live_interrogations.remove(id);
                self.reindex_interrogation(id);
            }
        }
    }
}
