//! `godot_horde`: the AI Horde in Godot 4 — a GDExtension whose `HordeNode`
//! requests images (as `ImageTexture`s), text and interrogations, lends the
//! player's GPU while the game is idle, and reports everything as signals.
//!
//! ```gdscript
//! @onready var horde: HordeNode = $HordeNode
//!
//! func _ready() -> void:
//!     horde.client_agent = "my-game:1.0:me@example.com"
//!     horde.image_generated.connect(func(id, texture, info): $Picture.texture = texture)
//!     horde.request_failed.connect(func(id, rc, message): push_warning(message))
//!     horde.generate_image("a red potion on a wooden table", preload("res://potion.tres"))
//! ```
//!
//! # Layout
//! - [`logic`] and [`presets`]: the node's logic and the generation
//!   settings as plain Rust, with no Godot type, tested with `cargo test`
//!   against our coordinator.
//! - [`logs`]: the runtime's `tracing` warnings and errors, queued from
//!   any thread for the node to print in Godot's console each frame.
//! - `classes`: the Godot classes — `HordeNode` (a thin adapter over
//!   [`logic::NodeLogic`]), the `HordeImageParams` / `HordeTextParams`
//!   resources, `HordeResultInfo`, their enums, and JSON ↔ Variant.
//!
//! Godot types never cross threads: the runtime's threads hand plain Rust
//! events over a channel, and the node turns them into signals in
//! `process()`, on the main thread.

pub mod logic;
pub mod logs;
pub mod presets;

mod classes;
mod entry;
