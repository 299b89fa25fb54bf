//! Kudos pricing as pure functions: what a job costs its requester, what it
//! earns its worker, when kudos must be available upfront, and the balance
//! rules around them. The coordinator charges with these; the client uses
//! them for estimates. Nothing here touches storage or the network.
//!
//! Every constant is named and says where it comes from: upstream AI Horde
//! 5.1.5 as described in `shared/reference/horde-api-v2.md` §4, and the
//! FAQ's reference points (a 50-step 512² image ≈ 10 kudos, 1024² ≈ 60,
//! 2048² ≈ 600, before tax). Upstream's current image base price is a frozen
//! neural network whose weights we do not ship; we price with its documented
//! fallback, the legacy formula, which meets those reference points.

mod balance;
mod image;
mod interrogation;
mod text;
mod upfront;

pub use balance::*;
pub use image::*;
pub use interrogation::*;
pub use text::*;
pub use upfront::*;

/// Rounds to two decimals, as upstream stores prices.
pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
