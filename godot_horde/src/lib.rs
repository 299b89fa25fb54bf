//! `godot_horde`: a Godot 4 GDExtension exposing `HordeNode`.
//!
//! Not built yet: this crate is filled by the Godot issue, on top of
//! `horde_core::runtime`. It exists now so the workspace has its final shape.
