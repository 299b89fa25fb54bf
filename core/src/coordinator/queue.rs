//! The waiting-request index: requests that still hand out jobs, ordered by
//! priority with ageing, with a per-user view for the priority pass and
//! cached queue positions for `/check`.
//!
//! Ageing adds a fixed amount per second of waiting to every request, so
//! ordering by `priority + AGEING·(now − created)` equals ordering by the
//! time-independent key `priority − AGEING·created`: the index never needs
//! re-sorting as time passes.

use std::collections::{BTreeSet, HashMap};

/// Priority gained per second of waiting (upstream: +50 every 10 s).
pub const AGEING_PER_SEC: f64 = 5.0;

/// Queues larger than this refresh their position cache at most once a second.
const EXACT_POSITIONS_UP_TO: usize = 4096;

type Key = (i64, u64);

#[derive(Clone, Debug)]
struct Entry {
    key: Key,
    user: u64,
    things: f64,
    jobs: u64,
}

/// An ordered index of waiting requests of one kind.
#[derive(Debug, Default)]
pub struct Queue {
    order: BTreeSet<Key>,
    ids: HashMap<u64, String>,
    entries: HashMap<String, Entry>,
    by_user: HashMap<u64, BTreeSet<Key>>,
    jobs_by_user: HashMap<u64, u64>,
    jobs_total: u64,
    positions: HashMap<String, (u32, f64)>,
    positions_dirty: bool,
    positions_built: f64,
}

fn key(priority: f64, created: f64, seq: u64) -> Key {
    (
        -((priority - AGEING_PER_SEC * created) * 1000.0).round() as i64,
        seq,
    )
}

impl Queue {
    /// Adds or moves a request with `jobs` left to hand out and `things`
    /// of remaining work (for wait times).
    #[allow(clippy::too_many_arguments)]
    pub fn upsert(
        &mut self,
        id: &str,
        user: u64,
        priority: f64,
        created: f64,
        seq: u64,
        jobs: u64,
        things: f64,
    ) {
        let k = key(priority, created, seq);
        if let Some(old) = self.entries.get(id) {
            if old.key == k && old.user == user {
                let old_jobs = old.jobs;
                if let Some(e) = self.entries.get_mut(id) {
                    e.things = things;
                    e.jobs = jobs;
                }
                self.count_jobs(user, old_jobs, jobs);
                self.positions_dirty = true;
                return;
            }
            self.remove(id);
        }
        self.order.insert(k);
        self.ids.insert(k.1, id.to_owned());
        self.by_user.entry(user).or_default().insert(k);
        self.entries.insert(
            id.to_owned(),
            Entry {
                key: k,
                user,
                things,
                jobs,
            },
        );
        self.count_jobs(user, 0, jobs);
        self.positions_dirty = true;
    }

    fn count_jobs(&mut self, user: u64, old: u64, new: u64) {
        self.jobs_total = self.jobs_total + new - old;
        let slot = self.jobs_by_user.entry(user).or_default();
        *slot = *slot + new - old;
        if *slot == 0 {
            self.jobs_by_user.remove(&user);
        }
    }

    /// Jobs still to hand out, over all queued requests.
    pub fn jobs(&self) -> u64 {
        self.jobs_total
    }

    /// Jobs still to hand out of one user's queued requests.
    pub fn user_jobs(&self, user: u64) -> u64 {
        self.jobs_by_user.get(&user).copied().unwrap_or(0)
    }

    /// Removes a request (no-op when absent).
    pub fn remove(&mut self, id: &str) {
        if let Some(e) = self.entries.remove(id) {
            self.count_jobs(e.user, e.jobs, 0);
            self.order.remove(&e.key);
            self.ids.remove(&e.key.1);
            if let Some(set) = self.by_user.get_mut(&e.user) {
                set.remove(&e.key);
                if set.is_empty() {
                    self.by_user.remove(&e.user);
                }
            }
            self.positions.remove(id);
            self.positions_dirty = true;
        }
    }

    /// Whether the request is queued.
    pub fn contains(&self, id: &str) -> bool {
        self.entries.contains_key(id)
    }

    /// Number of queued requests.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Request ids in priority order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.order
            .iter()
            .filter_map(|k| self.ids.get(&k.1).map(String::as_str))
    }

    /// One user's request ids in priority order.
    pub fn iter_user(&self, user: u64) -> impl Iterator<Item = &str> {
        self.by_user
            .get(&user)
            .into_iter()
            .flat_map(|set| set.iter())
            .filter_map(|k| self.ids.get(&k.1).map(String::as_str))
    }

    /// Total remaining work of all queued requests.
    pub fn total_things(&self) -> f64 {
        self.entries.values().map(|e| e.things).sum()
    }

    /// 1-based position and the work queued up to and including this
    /// request, or `None` when it is not queued.
    pub fn position(&mut self, id: &str, now: f64) -> Option<(u32, f64)> {
        if !self.entries.contains_key(id) {
            return None;
        }
        let stale = self.positions_dirty
            && (self.entries.len() <= EXACT_POSITIONS_UP_TO || now - self.positions_built >= 1.0);
        if stale || !self.positions.contains_key(id) {
            self.rebuild_positions(now);
        }
        self.positions.get(id).copied()
    }

    fn rebuild_positions(&mut self, now: f64) {
        self.positions.clear();
        let mut ahead = 0.0;
        for (i, k) in self.order.iter().enumerate() {
            if let Some(id) = self.ids.get(&k.1) {
                ahead += self.entries.get(id).map_or(0.0, |e| e.things);
                self.positions.insert(id.clone(), (i as u32 + 1, ahead));
            }
        }
        self.positions_dirty = false;
        self.positions_built = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_by_priority_then_age_then_arrival() {
        let mut q = Queue::default();
        q.upsert("poor", 1, 0.0, 1000.0, 1, 1, 1.0);
        q.upsert("rich", 2, 500.0, 1000.0, 2, 1, 1.0);
        q.upsert("old-poor", 3, 0.0, 800.0, 3, 1, 1.0); // 200 s older: +1000 ageing
        q.upsert("twin", 1, 0.0, 1000.0, 4, 1, 1.0);
        assert_eq!((q.jobs(), q.user_jobs(1), q.user_jobs(9)), (4, 2, 0));
        let order: Vec<_> = q.iter().collect();
        assert_eq!(order, ["old-poor", "rich", "poor", "twin"]);
        assert_eq!(q.iter_user(1).collect::<Vec<_>>(), ["poor", "twin"]);
        assert_eq!(q.position("rich", 0.0), Some((2, 2.0)));
        q.remove("old-poor");
        assert_eq!(q.position("rich", 0.0), Some((1, 1.0)));
        assert_eq!(q.position("old-poor", 0.0), None);
        q.upsert("rich", 2, 500.0, 1000.0, 2, 3, 3.0);
        assert_eq!(q.position("twin", 0.0), Some((3, 5.0)));
        assert_eq!(q.len(), 3);
        assert_eq!((q.jobs(), q.user_jobs(2)), (5, 3));
    }
}
