//! The Godot classes: thin adapters over the engine-free [`crate::logic`]
//! and [`crate::presets`]. Nothing here decides what is sent to the horde;
//! it converts between Godot values and plain Rust ones.

mod enums;
mod info;
mod node;
mod params;
mod variant;
