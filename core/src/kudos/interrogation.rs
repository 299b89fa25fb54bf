//! Interrogation (alchemy) pricing: per-form prices and charges.

use crate::api::{AnalysisForm, FormName};

/// Price of the CLIP `interrogation` form.
pub const INTERROGATION_FORM_PRICE: f64 = 3.0;
/// Price of a post-processor form per 512×512 tile.
pub const POST_PROCESSOR_TILE_PRICE: f64 = 3.0;
/// Price of every other form (caption, nsfw, …).
pub const SIMPLE_FORM_PRICE: f64 = 1.0;
/// Side of the tiles post-processor forms are priced by.
pub const TILE_SIDE: u32 = 512;
/// Most 512×512 tiles a source image may cover (upstream's limit).
pub const MAX_SOURCE_TILES: u64 = 255;
/// The per-form tax on interrogation charges.
pub const FORM_TAX: f64 = 1.0;
/// Extra charge upstream adds when `slow_workers` is **true** (sic).
pub const SLOW_WORKERS_FORM_SURCHARGE: f64 = 1.0;

/// 512×512 tiles covering an image: `ceil(w/512)·ceil(h/512)` (exact for
/// any `u32` sides: a header may claim 4e9 × 4e9 pixels).
pub fn tiles(width: u32, height: u32) -> u64 {
    u64::from(width.div_ceil(TILE_SIDE).max(1)) * u64::from(height.div_ceil(TILE_SIDE).max(1))
}

/// What one form earns its worker, on an image of the given size.
pub fn form_price(form: &FormName, width: u32, height: u32) -> f64 {
    if *form == FormName::Analysis(AnalysisForm::Interrogation) {
        INTERROGATION_FORM_PRICE
    } else if form.is_post_processor() {
        POST_PROCESSOR_TILE_PRICE * tiles(width, height) as f64
    } else {
        SIMPLE_FORM_PRICE
    }
}

/// What one form costs its requester: price + 1, + 1 more when slow workers
/// are allowed (upstream's rule, kept as-is).
pub fn form_charge(price: f64, slow_workers: bool) -> f64 {
    price
        + FORM_TAX
        + if slow_workers {
            SLOW_WORKERS_FORM_SURCHARGE
        } else {
            0.0
        }
}
