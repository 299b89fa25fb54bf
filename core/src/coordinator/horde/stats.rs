//! Horde statistics: work done per period (for `/v2/stats/*` and
//! `/v2/status/performance`), and date formatting for views.

use std::collections::{BTreeMap, VecDeque};

use super::Horde;
use crate::api::{
    ActiveModel, HordePerformance, ImagePeriodTotals, ImageStatsTotals, ModelState, ModelStats,
    ModelType, ModelsQuery, StatsTotals, TextPeriodTotals, TextStatsTotals, WorkerType,
};

/// One finished job, as statistics remember it.
#[derive(Clone, Debug)]
struct Done {
    at: f64,
    kind: WorkerType,
    model: String,
    things: f64,
}

/// Finished jobs of the last 30 days, and totals since start.
#[derive(Debug, Default)]
pub struct Stats {
    recent: VecDeque<Done>,
    images_total: u64,
    pixelsteps_total: f64,
    texts_total: u64,
    tokens_total: f64,
    models_total: BTreeMap<(bool, String), u64>,
}

const MONTH: f64 = 30.0 * 86400.0;

impl Stats {
    /// Remembers a finished job.
    pub fn record(&mut self, now: f64, kind: WorkerType, model: &str, things: f64) {
        while self.recent.front().is_some_and(|d| now - d.at > MONTH) {
            self.recent.pop_front();
        }
        match kind {
            WorkerType::Image => {
                self.images_total += 1;
                self.pixelsteps_total += things;
            }
            _ => {
                self.texts_total += 1;
                self.tokens_total += things;
            }
        }
        *self
            .models_total
            .entry((kind == WorkerType::Image, model.to_owned()))
            .or_default() += 1;
        self.recent.push_back(Done {
            at: now,
            kind,
            model: model.to_owned(),
            things,
        });
    }

    fn within(&self, now: f64, secs: f64, kind: &WorkerType) -> impl Iterator<Item = &Done> {
        self.recent
            .iter()
            .rev()
            .take_while(move |d| now - d.at <= secs)
            .filter(move |d| &d.kind == kind)
    }
}

/// Formats a Unix time as an RFC 822 date, as upstream's datetimes are.
pub fn rfc822(ts: f64) -> String {
    let secs = ts.max(0.0) as i64;
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} -0000",
        DAYS[days.rem_euclid(7) as usize],
        d,
        MONTHS[(m - 1) as usize],
        y,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

impl Horde {
    /// `GET /v2/status/performance`.
    pub fn performance(&self) -> HordePerformance {
        let now = self.now();
        let mut p = HordePerformance::default();
        for w in self.workers.values().filter(|w| w.is_online(now)) {
            match w.kind {
                WorkerType::Image => {
                    p.worker_count += 1;
                    p.thread_count += u64::from(w.threads);
                }
                WorkerType::Text => {
                    p.text_worker_count += 1;
                    p.text_thread_count += u64::from(w.threads);
                }
                _ => {
                    p.interrogator_count += 1;
                    p.interrogator_thread_count += u64::from(w.threads);
                }
            }
        }
        let live = self
            .live_requests
            .iter()
            .filter_map(|id| self.requests.get(id));
        for r in live.filter(|r| !r.is_done()) {
            let remaining = f64::from(r.n + r.processing()) * r.things;
            match r.kind() {
                WorkerType::Image => {
                    p.queued_requests += 1;
                    p.queued_megapixelsteps += remaining / 1e6;
                }
                _ => {
                    p.queued_text_requests += 1;
                    p.queued_tokens += remaining;
                }
            }
        }
        p.queued_forms = self
            .live_interrogations
            .iter()
            .filter_map(|id| self.interrogations.get(id))
            .flat_map(|i| &i.forms)
            .filter(|f| {
                matches!(
                    f.state,
                    crate::api::InterrogationState::Waiting
                        | crate::api::InterrogationState::Processing
                )
            })
            .count() as f64;
        p.past_minute_megapixelsteps = self
            .stats
            .within(now, 60.0, &WorkerType::Image)
            .map(|d| d.things)
            .sum::<f64>()
            / 1e6;
        p.past_minute_tokens = self
            .stats
            .within(now, 60.0, &WorkerType::Text)
            .map(|d| d.things)
            .sum();
        p.queued_megapixelsteps = crate::kudos::round2(p.queued_megapixelsteps);
        p
    }

    /// `GET /v2/stats/img/totals`.
    pub fn image_totals(&self) -> ImageStatsTotals {
        let now = self.now();
        let period = |secs: f64| {
            let (mut images, mut ps) = (0, 0.0);
            for d in self.stats.within(now, secs, &WorkerType::Image) {
                images += 1;
                ps += d.things;
            }
            ImagePeriodTotals {
                images,
                ps: ps as u64,
            }
        };
        StatsTotals {
            minute: period(60.0),
            hour: period(3600.0),
            day: period(86400.0),
            month: period(MONTH),
            total: ImagePeriodTotals {
                images: self.stats.images_total,
                ps: self.stats.pixelsteps_total as u64,
            },
        }
    }

    /// `GET /v2/stats/text/totals`.
    pub fn text_totals(&self) -> TextStatsTotals {
        let now = self.now();
        let period = |secs: f64| {
            let (mut requests, mut tokens) = (0, 0.0);
            for d in self.stats.within(now, secs, &WorkerType::Text) {
                requests += 1;
                tokens += d.things;
            }
            TextPeriodTotals {
                requests,
                tokens: tokens as u64,
            }
        };
        StatsTotals {
            minute: period(60.0),
            hour: period(3600.0),
            day: period(86400.0),
            month: period(MONTH),
            total: TextPeriodTotals {
                requests: self.stats.texts_total,
                tokens: self.stats.tokens_total as u64,
            },
        }
    }

    /// `GET /v2/stats/{img,text}/models`.
    pub fn model_stats(&self, kind: WorkerType) -> ModelStats {
        let now = self.now();
        let count = |secs: f64| {
            let mut m = BTreeMap::new();
            for d in self.stats.within(now, secs, &kind) {
                *m.entry(d.model.clone()).or_default() += 1;
            }
            m
        };
        ModelStats {
            day: count(86400.0),
            month: count(MONTH),
            total: self
                .stats
                .models_total
                .iter()
                .filter(|((image, _), _)| *image == (kind == WorkerType::Image))
                .map(|((_, m), n)| (m.clone(), *n))
                .collect(),
        }
    }

    /// `GET /v2/status/models`: models served by online workers, and models
    /// requested by queued requests.
    pub fn active_models(&self, q: &ModelsQuery) -> Vec<ActiveModel> {
        let now = self.now();
        let kind = q.kind.clone().unwrap_or(ModelType::Image);
        let wtype = if kind == ModelType::Text {
            WorkerType::Text
        } else {
            WorkerType::Image
        };
        let mut models: BTreeMap<String, ActiveModel> = BTreeMap::new();
        for w in self
            .workers
            .values()
            .filter(|w| w.kind == wtype && w.is_online(now))
        {
            for m in &w.models {
                let e = models.entry(m.clone()).or_insert_with(|| ActiveModel {
                    name: m.clone(),
                    kind: kind.clone(),
                    ..Default::default()
                });
                e.count += u64::from(w.threads);
                e.performance += w.speed().unwrap_or(0.0) * f64::from(w.threads);
            }
        }
        for r in self
            .requests
            .values()
            .filter(|r| r.kind() == wtype && r.is_waiting())
        {
            let names: Vec<String> = match &r.body {
                crate::coordinator::model::RequestBody::Image(b) => b.models().to_vec(),
                crate::coordinator::model::RequestBody::Text(b) => b.models().to_vec(),
            };
            for m in names {
                let e = models.entry(m.clone()).or_insert_with(|| ActiveModel {
                    name: m,
                    kind: kind.clone(),
                    ..Default::default()
                });
                e.queued += f64::from(r.n) * r.things;
                e.jobs += f64::from(r.n);
            }
        }
        models
            .into_values()
            .map(|mut m| {
                m.eta = if m.performance > 0.0 {
                    (m.queued / m.performance).round() as i64
                } else if m.queued > 0.0 {
                    10_000
                } else {
                    0
                };
                if kind == ModelType::Image {
                    m.queued = crate::kudos::round2(m.queued / 1e6);
                    m.performance = crate::kudos::round2(m.performance / 1e6);
                }
                m
            })
            .filter(|m| q.min_count.is_none_or(|min| m.count >= min))
            .filter(|m| q.max_count.is_none_or(|max| m.count <= max))
            .filter(|m| {
                let known = || match kind {
                    ModelType::Text => self.settings.models.knows_text(&m.name),
                    _ => self.settings.models.knows_image(&m.name),
                };
                match &q.model_state {
                    Some(ModelState::Known) => known(),
                    Some(ModelState::Custom) => !known(),
                    _ => true,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::rfc822;

    #[test]
    fn dates_are_rfc822() {
        assert_eq!(rfc822(0.0), "Thu, 01 Jan 1970 00:00:00 -0000");
        assert_eq!(rfc822(1_795_312_672.0), "Sun, 22 Nov 2026 01:57:52 -0000");
    }
}
