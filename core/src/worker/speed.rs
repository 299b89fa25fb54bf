//! The worker's measured speed: work units per second (pixel-steps for
//! images, tokens for text), smoothed over recent jobs, starting from the
//! backend's own hint.

/// A smoothed speed estimate.
#[derive(Clone, Debug, PartialEq)]
pub struct Speed {
    estimate: Option<f64>,
}

/// Weight of the newest job in the estimate.
const NEWEST: f64 = 0.3;

impl Speed {
    /// Starts from `hint` (unknown when `None`).
    pub fn new(hint: Option<f64>) -> Self {
        Self {
            estimate: hint.filter(|h| h.is_finite() && *h > 0.0),
        }
    }

    /// Books a job that did `work` units in `seconds`.
    pub fn record(&mut self, work: f64, seconds: f64) {
        if !(work > 0.0 && seconds > 0.0) {
            return;
        }
        // Jobs quicker than a millisecond say nothing about the backend.
        let measured = work / seconds.max(1e-3);
        self.estimate = Some(match self.estimate {
            Some(old) => old * (1.0 - NEWEST) + measured * NEWEST,
            None => measured,
        });
    }

    /// Units per second, once known.
    pub fn get(&self) -> Option<f64> {
        self.estimate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speed_moves_toward_what_jobs_measure() {
        let mut s = Speed::new(None);
        assert_eq!(s.get(), None);
        s.record(100.0, 2.0);
        assert_eq!(s.get(), Some(50.0));
        s.record(100.0, 1.0);
        assert_eq!(s.get(), Some(65.0));
        s.record(0.0, 1.0);
        s.record(10.0, 0.0);
        assert_eq!(s.get(), Some(65.0));
        assert_eq!(Speed::new(Some(-1.0)).get(), None);
    }
}
