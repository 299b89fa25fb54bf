//! `libhorde`: the C ABI over `horde_core` — request images, text and
//! interrogations from an AI Horde, run a worker while the player is idle,
//! or host a private horde — for C and C++ engines and anything with a C
//! FFI. The header, `include/horde.h`, is generated from this crate by a
//! pinned cbindgen and checked in; a test fails when it drifts.
//!
//! # Conventions (the contract with C)
//! - **Handles** are opaque (`horde_client`, `horde_server`), made by
//!   `*_new`/`*_start` and released by `*_free`, which accept NULL.
//! - **Status**: every fallible call answers a `horde_status`; values are
//!   never reused. On failure, outputs are left untouched and
//!   `horde_last_error` holds the message (per thread).
//! - **Arguments**: inputs first, outputs last (`*_out`). NULL where a
//!   pointer is required answers `HORDE_STATUS_NULL_PARAM`, a string that
//!   is not UTF-8 `HORDE_STATUS_INVALID_UTF8`, a value out of range
//!   `HORDE_STATUS_INVALID_ARG` — never undefined behaviour. Enum-typed
//!   parameters and fields are passed as `uint32_t` and checked.
//! - **Structs C fills** start with `size_t struct_size`; their `*_init`
//!   function sets it and the defaults. A struct from an older header is
//!   read up to its size; one larger than this library knows is refused.
//! - **Strings** are UTF-8 and NUL-terminated, in and out. libhorde copies
//!   what it is given before the call returns.
//! - **Events** are polled on the game's thread (`horde_client_poll_event`,
//!   which never blocks). An event's pointers stay valid until the next
//!   poll on that client or its free; C never frees them.
//! - **Threads**: libhorde runs its own (HTTP, image decoding, the
//!   coordinator) and joins them on free. It calls into the game from one
//!   of them only through the optional wake callback, which must not call
//!   libhorde.
//! - **Panics** never cross the boundary: each export catches them and
//!   answers `HORDE_STATUS_PANIC`.
//!
//! # Which generator does what
//! The header comes from cbindgen alone (pinned to 0.29.4 in the dev
//! dependencies: its output changes between releases). The project's
//! design also names safer-ffi; we use none of its types, because its
//! `repr_c` strings, boxes and slices bring their own ABI and header
//! generator and would fight cbindgen, while the unsafe they would save is
//! already confined: every raw pointer from C is read in [`boundary`]
//! (NULL, UTF-8 and `struct_size` checks), and each export only calls
//! those helpers.
//!
//! # Modules
//! [`status`] (the status enum and last error), [`boundary`] (panic guard
//! and pointer reads), [`version`], [`client`] (handle, config, poll,
//! cancel), [`request`] (image, text, interrogation, JSON, estimates,
//! models), [`event`] (the event struct), [`worker`] (workers and
//! game-answered jobs), [`server`] (the embedded coordinator), [`png`].

// The crate is the FFI boundary: exports carry `#[unsafe(no_mangle)]` and
// take raw pointers, which the workspace's `unsafe_code = "deny"` forbids
// elsewhere. Every pointer from C is read in `boundary`.
#![allow(unsafe_code, non_camel_case_types)]

pub mod boundary;
pub mod client;
pub mod event;
mod handles;
pub mod png;
pub mod request;
pub mod server;
pub mod status;
pub mod version;
pub mod worker;

/// The major version of this library (`MAJOR.MINOR.PATCH`).
pub const HORDE_VERSION_MAJOR: u32 = 0;
/// The minor version of this library.
pub const HORDE_VERSION_MINOR: u32 = 1;
/// The patch version of this library.
pub const HORDE_VERSION_PATCH: u32 = 0;
/// The ABI this header describes; compare with `horde_abi_version()`.
/// Raised when an existing function, struct or enum value changes
/// incompatibly; adding functions or enum values does not raise it.
pub const HORDE_ABI_VERSION: u32 = 2;
/// Bytes a buffer for an API key needs (`horde_server_add_user`).
pub const HORDE_API_KEY_BUF: usize = 64;
/// The request id that no request has.
pub const HORDE_NO_REQUEST: u64 = 0;

pub use client::{horde_client, horde_config};
pub use event::{horde_event, horde_event_kind, horde_work_kind, horde_worker_event};
pub use request::{horde_image_request, horde_request_kind, horde_text_request};
pub use server::{horde_server, horde_server_config};
pub use status::horde_status;
pub use worker::{horde_image_view, horde_worker_config};
