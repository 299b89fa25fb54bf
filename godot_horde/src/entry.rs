//! The extension's entry point: gdext exports `gdext_rust_init`, the
//! symbol `addons/horde/horde.gdextension` names, and registers every
//! class of this crate when Godot loads the library.

// gdext's `ExtensionLibrary` is an unsafe trait; this is the crate's only
// unsafe code.
#![allow(unsafe_code)]

use godot::prelude::{ExtensionLibrary, gdextension};

/// The library Godot loads.
struct HordeExtension;

// SAFETY: gdext's contract: one ExtensionLibrary per cdylib, and this is it.
#[gdextension]
unsafe impl ExtensionLibrary for HordeExtension {}
