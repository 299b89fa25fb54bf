//! The enums the inspector shows as drop-downs, and their plain Rust twins.

use godot::prelude::{Export, GodotConvert, Var};
use horde_core::api::Sampler;
use horde_core::worker::WorkKind;

use crate::logic::WorkerMode;

/// The sampler of an image request (`HordeImageParams.sampler`).
#[derive(GodotConvert, Var, Export, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[godot(via = i64)]
pub enum HordeSampler {
    /// `k_euler_a` (the horde's default).
    #[default]
    EulerA,
    /// `k_euler`.
    Euler,
    /// `k_lms`.
    Lms,
    /// `k_heun` (second order: priced double).
    Heun,
    /// `k_dpm_2` (second order).
    Dpm2,
    /// `k_dpm_2_a` (second order).
    Dpm2A,
    /// `k_dpm_fast`.
    DpmFast,
    /// `k_dpm_adaptive`.
    DpmAdaptive,
    /// `k_dpmpp_2s_a` (second order).
    Dpmpp2sA,
    /// `k_dpmpp_2m`.
    Dpmpp2m,
    /// `dpmsolver`.
    DpmSolver,
    /// `k_dpmpp_sde` (second order).
    DpmppSde,
    /// `DDIM`.
    Ddim,
    /// `lcm` (latent consistency).
    Lcm,
}

impl HordeSampler {
    /// The horde's sampler.
    pub fn sampler(self) -> Sampler {
        match self {
            Self::EulerA => Sampler::KEulerA,
            Self::Euler => Sampler::KEuler,
            Self::Lms => Sampler::KLms,
            Self::Heun => Sampler::KHeun,
            Self::Dpm2 => Sampler::KDpm2,
            Self::Dpm2A => Sampler::KDpm2A,
            Self::DpmFast => Sampler::KDpmFast,
            Self::DpmAdaptive => Sampler::KDpmAdaptive,
            Self::Dpmpp2sA => Sampler::KDpmpp2sA,
            Self::Dpmpp2m => Sampler::KDpmpp2m,
            Self::DpmSolver => Sampler::Dpmsolver,
            Self::DpmppSde => Sampler::KDpmppSde,
            Self::Ddim => Sampler::Ddim,
            Self::Lcm => Sampler::Lcm,
        }
    }
}

/// When `HordeNode`'s worker may take jobs.
#[derive(GodotConvert, Var, Export, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[godot(via = i64)]
pub enum HordeWorkerMode {
    /// No worker.
    #[default]
    Off,
    /// Jobs only while `set_idle(true)`.
    WhenIdle,
    /// Jobs whenever the worker runs.
    Always,
}

impl From<HordeWorkerMode> for WorkerMode {
    fn from(m: HordeWorkerMode) -> Self {
        match m {
            HordeWorkerMode::Off => WorkerMode::Off,
            HordeWorkerMode::WhenIdle => WorkerMode::WhenIdle,
            HordeWorkerMode::Always => WorkerMode::Always,
        }
    }
}

/// The kind of jobs a worker the game answers takes.
#[derive(GodotConvert, Var, Export, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[godot(via = i64)]
pub enum HordeWorkKind {
    /// Images (a dreamer).
    #[default]
    Image,
    /// Text (a scribe).
    Text,
    /// Interrogation and post-processing (an alchemist).
    Alchemy,
}

impl From<HordeWorkKind> for WorkKind {
    fn from(k: HordeWorkKind) -> Self {
        match k {
            HordeWorkKind::Image => WorkKind::Image,
            HordeWorkKind::Text => WorkKind::Text,
            HordeWorkKind::Alchemy => WorkKind::Alchemy,
        }
    }
}
