//! `bevy_horde`: the `HordePlugin` for Bevy games.
//!
//! Not built yet: this crate is filled by the Bevy issue, on top of
//! `horde_core::runtime`. It exists now so the workspace has its final shape.
