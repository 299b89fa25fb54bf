//! `libhorde`: the C ABI over `horde_core::runtime`, with a generated header in
//! `include/horde.h`.
//!
//! Not built yet: this crate is filled by the C ABI issue. It exists now so the
//! workspace has its final shape.
