//! What a worker tells the horde about itself in every pop, and how often it
//! asks: [`WorkerConfig`] (one per worker name) and its [`Pacing`].

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::api::{FormName, ImagePopRequest, InterrogationPopRequest, PopCommon, TextPopRequest};

/// The `bridge_agent` every pop carries: `horde-rs:VERSION:URL`.
pub fn bridge_agent() -> String {
    format!(
        "horde-rs:{}:{}",
        env!("CARGO_PKG_VERSION"),
        env!("CARGO_PKG_REPOSITORY")
    )
}

/// One worker's settings. Defaults suit a game lending its GPU: one job at
/// a time, 512² images, no img2img/painting/LoRA/ControlNet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerConfig {
    /// The worker's name: unique across the horde (the first pop creates it).
    pub name: String,
    /// Models to offer; empty offers everything the backend serves.
    pub models: Vec<String>,
    /// Users (`alias#id`) served first, after the owner.
    pub priority_usernames: Vec<String>,
    /// Accept NSFW requests.
    pub nsfw: bool,
    /// Words that make the worker refuse a prompt (images).
    pub blacklist: Vec<String>,
    /// Largest width×height (images); lowered further when the measured
    /// speed says a job that large could not finish within its ttl.
    pub max_pixels: u64,
    /// Accept img2img.
    pub allow_img2img: bool,
    /// Accept inpainting and outpainting.
    pub allow_painting: bool,
    /// Accept post-processing.
    pub allow_post_processing: bool,
    /// Accept LoRAs.
    pub allow_lora: bool,
    /// Accept ControlNet.
    pub allow_controlnet: bool,
    /// Accept SDXL ControlNet.
    pub allow_sdxl_controlnet: bool,
    /// Accept requests from unsafe IP addresses.
    pub allow_unsafe_ipaddr: bool,
    /// Serve only requests whose owner has the kudos upfront.
    pub require_upfront_kudos: bool,
    /// Declare the worker extra slow (the horde triples its ttl).
    pub extra_slow_worker: bool,
    /// Refuse requests with more steps than the model usually needs.
    pub limit_max_steps: bool,
    /// Jobs run at once.
    pub threads: u32,
    /// Jobs (images or forms) taken per pop.
    pub amount: u32,
    /// Most tokens generated (text); lowered when the measured speed says so.
    pub max_length: u32,
    /// Longest context read (text).
    pub max_context_length: u32,
    /// Alchemy forms to offer; empty offers everything the backend does.
    pub forms: Vec<FormName>,
    /// Largest image in 512² tiles (alchemy).
    pub max_tiles: u32,
    /// How often to ask for work.
    pub pacing: Pacing,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            name: String::new(),
            models: Vec::new(),
            priority_usernames: Vec::new(),
            nsfw: false,
            blacklist: Vec::new(),
            max_pixels: 512 * 512,
            allow_img2img: false,
            allow_painting: false,
            allow_post_processing: false,
            allow_lora: false,
            allow_controlnet: false,
            allow_sdxl_controlnet: false,
            allow_unsafe_ipaddr: true,
            require_upfront_kudos: false,
            extra_slow_worker: false,
            limit_max_steps: false,
            threads: 1,
            amount: 1,
            max_length: 512,
            max_context_length: 2048,
            forms: Vec::new(),
            max_tiles: 80,
            pacing: Pacing::default(),
        }
    }
}

impl WorkerConfig {
    /// Defaults under `name`.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    /// Why this configuration cannot work, if it cannot.
    pub fn problem(&self) -> Option<String> {
        if self.name.trim().is_empty() {
            return Some("a worker needs a name, unique across the horde".into());
        }
        if !(1..=50).contains(&self.threads) {
            return Some(format!("threads must be 1–50, not {}", self.threads));
        }
        if !(1..=20).contains(&self.amount) {
            return Some(format!("amount must be 1–20, not {}", self.amount));
        }
        if self.max_pixels < 64 * 64 {
            return Some(format!("max_pixels {} is below 64×64", self.max_pixels));
        }
        None
    }

    fn common(&self, models: &[String]) -> PopCommon {
        PopCommon {
            name: self.name.clone(),
            priority_usernames: Some(self.priority_usernames.clone()),
            nsfw: Some(self.nsfw),
            models: Some(models.to_vec()),
            bridge_agent: Some(bridge_agent()),
            threads: Some(self.threads),
            require_upfront_kudos: Some(self.require_upfront_kudos),
            amount: Some(self.amount),
            extra_slow_worker: Some(self.extra_slow_worker),
        }
    }

    /// The image pop for `models`, asking for at most `max_pixels`.
    pub fn image_pop(&self, models: &[String], max_pixels: u64) -> ImagePopRequest {
        ImagePopRequest {
            common: self.common(models),
            max_pixels: Some(max_pixels),
            blacklist: Some(self.blacklist.clone()),
            allow_img2img: Some(self.allow_img2img),
            allow_painting: Some(self.allow_painting),
            allow_unsafe_ipaddr: Some(self.allow_unsafe_ipaddr),
            allow_post_processing: Some(self.allow_post_processing),
            allow_controlnet: Some(self.allow_controlnet),
            allow_sdxl_controlnet: Some(self.allow_sdxl_controlnet),
            allow_lora: Some(self.allow_lora),
            limit_max_steps: Some(self.limit_max_steps),
        }
    }

    /// The text pop for `models`, asking for at most `max_length` tokens.
    pub fn text_pop(&self, models: &[String], max_length: u32) -> TextPopRequest {
        TextPopRequest {
            common: self.common(models),
            max_length: Some(max_length),
            max_context_length: Some(self.max_context_length),
            softprompts: None,
        }
    }

    /// The alchemy pop for `forms`.
    pub fn form_pop(&self, forms: &[FormName]) -> InterrogationPopRequest {
        InterrogationPopRequest {
            name: self.name.clone(),
            priority_usernames: Some(self.priority_usernames.clone()),
            forms: Some(forms.to_vec()),
            amount: Some(self.amount),
            bridge_agent: Some(bridge_agent()),
            threads: Some(self.threads),
            max_tiles: Some(self.max_tiles),
        }
    }
}

/// How often a worker asks for work, in seconds (upstream workers' cadence
/// by default: see `shared/reference/worker.md` §1.5).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Pacing {
    /// After an empty pop.
    pub empty_secs: f64,
    /// After 10 empty pops in a row.
    pub quiet_secs: f64,
    /// After 25 empty pops in a row ("low power").
    pub idle_secs: f64,
    /// After an error talking to the horde; doubles per error up to `error_max_secs`.
    pub error_secs: f64,
    /// Longest wait after errors.
    pub error_max_secs: f64,
    /// While the horde holds the worker in maintenance.
    pub maintenance_secs: f64,
    /// Faulted jobs in a row that pause the worker…
    pub faults_to_pause: u32,
    /// …for this long.
    pub fault_pause_secs: f64,
    /// Tries for a submit or an upload that fails transiently.
    pub submit_tries: u32,
    /// Between those tries.
    pub submit_retry_secs: f64,
}

impl Default for Pacing {
    fn default() -> Self {
        Self {
            empty_secs: 1.0,
            quiet_secs: 2.0,
            idle_secs: 3.0,
            error_secs: 5.0,
            error_max_secs: 60.0,
            maintenance_secs: 60.0,
            faults_to_pause: 3,
            fault_pause_secs: 180.0,
            submit_tries: 5,
            submit_retry_secs: 2.0,
        }
    }
}

/// What the last pop (or job) was, for [`Pacing::wait`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PopOutcome {
    /// A job came.
    Job,
    /// No work; `streak` empty pops in a row so far.
    Empty {
        /// Empty pops in a row, this one included.
        streak: u32,
    },
    /// The horde could not be reached or failed; `streak` errors in a row.
    Error {
        /// Errors in a row, this one included.
        streak: u32,
    },
    /// The worker is in maintenance.
    Maintenance,
    /// `streak` jobs in a row faulted.
    Faulted {
        /// Faulted jobs in a row.
        streak: u32,
    },
}

impl Pacing {
    /// How long to wait before the next pop after `outcome`.
    pub fn wait(&self, outcome: PopOutcome) -> Duration {
        let secs = match outcome {
            PopOutcome::Job => 0.0,
            PopOutcome::Empty { streak } if streak >= 25 => self.idle_secs,
            PopOutcome::Empty { streak } if streak >= 10 => self.quiet_secs,
            PopOutcome::Empty { .. } => self.empty_secs,
            PopOutcome::Error { streak } => {
                let doublings = streak.saturating_sub(1).min(16) as i32;
                (self.error_secs * 2f64.powi(doublings)).min(self.error_max_secs)
            }
            PopOutcome::Maintenance => self.maintenance_secs,
            PopOutcome::Faulted { streak } if streak >= self.faults_to_pause => {
                self.fault_pause_secs
            }
            PopOutcome::Faulted { .. } => 0.0,
        };
        Duration::from_secs_f64(secs.max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacing_follows_upstream_cadence() {
        let p = Pacing::default();
        let s = |o| p.wait(o).as_secs_f64();
        assert_eq!(s(PopOutcome::Job), 0.0);
        assert_eq!(s(PopOutcome::Empty { streak: 1 }), 1.0);
        assert_eq!(s(PopOutcome::Empty { streak: 10 }), 2.0);
        assert_eq!(s(PopOutcome::Empty { streak: 40 }), 3.0);
        assert_eq!(s(PopOutcome::Error { streak: 1 }), 5.0);
        assert_eq!(s(PopOutcome::Error { streak: 3 }), 20.0);
        assert_eq!(s(PopOutcome::Error { streak: 30 }), 60.0);
        assert_eq!(s(PopOutcome::Faulted { streak: 2 }), 0.0);
        assert_eq!(s(PopOutcome::Faulted { streak: 3 }), 180.0);
    }

    #[test]
    fn configs_read_from_toml_and_fill_pops() {
        let c: WorkerConfig = toml::from_str(
            "name = \"attic-gpu\"\nmax_pixels = 589824\nallow_img2img = true\n[pacing]\nempty_secs = 0.5\n",
        )
        .expect("config");
        assert_eq!(c.problem(), None);
        let pop = c.image_pop(&["m".into()], 300_000);
        assert_eq!(pop.common.name, "attic-gpu");
        assert_eq!(pop.max_pixels, Some(300_000));
        assert_eq!(pop.allow_img2img, Some(true));
        assert!(pop.common.bridge_agent().starts_with("horde-rs:"));
        assert_eq!(c.pacing.empty_secs, 0.5);
        assert!(toml::from_str::<WorkerConfig>("nmae = \"x\"").is_err());
        assert!(WorkerConfig::default().problem().is_some());
    }
}
