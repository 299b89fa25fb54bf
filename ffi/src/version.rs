//! Which libhorde this is: the crate version and the ABI number. The header
//! carries the same values as `HORDE_VERSION_*` and `HORDE_ABI_VERSION`
//! macros, so a program can compare what it was compiled against with what
//! it loaded.

use std::ffi::c_char;

/// The library's version, `MAJOR.MINOR.PATCH`, as a static NUL-terminated
/// string.
///
/// Ownership: static; do not free it.
#[unsafe(no_mangle)]
pub extern "C" fn horde_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The ABI number of the loaded library; compare it with `HORDE_ABI_VERSION`.
#[unsafe(no_mangle)]
pub extern "C" fn horde_abi_version() -> u32 {
    crate::HORDE_ABI_VERSION
}
