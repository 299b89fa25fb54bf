//! Which `horde_client` and `horde_server` handles are live. Every export
//! checks a handle here before reading through it, so a double free, or a
//! call on a handle already freed, answers `HORDE_STATUS_INVALID_HANDLE`
//! instead of touching freed memory. A debug aid, not a guarantee: once
//! libhorde makes a new handle at the same address, a stale pointer to the
//! old one is indistinguishable from it.

use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard, PoisonError};

static LIVE: Mutex<BTreeSet<usize>> = Mutex::new(BTreeSet::new());

fn live() -> MutexGuard<'static, BTreeSet<usize>> {
    // The set holds plain addresses: a panic elsewhere cannot leave it torn.
    LIVE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A handle libhorde just made and hands to the caller.
pub(crate) fn register<T>(handle: *const T) {
    live().insert(handle as usize);
}

/// Forgets a handle about to be freed; `false` when it was not live (freed
/// already, or never made by libhorde), and must not be freed.
pub(crate) fn release<T>(handle: *const T) -> bool {
    live().remove(&(handle as usize))
}

/// Whether `handle` is one libhorde made and has not freed.
pub(crate) fn is_live<T>(handle: *const T) -> bool {
    live().contains(&(handle as usize))
}
