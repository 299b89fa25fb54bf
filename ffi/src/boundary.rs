//! The boundary every export crosses: the panic guard, and the only places
//! that turn raw pointers from C into references, strings and slices —
//! each checking NULL, UTF-8 and `struct_size` and answering a
//! [`Failure`] instead of undefined behaviour.

use std::ffi::{CStr, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::status::{Failure, fail, horde_status};

/// Runs an export's body: `Ok` → `HORDE_STATUS_OK`; a failure is recorded
/// for `horde_last_error`; a panic becomes `HORDE_STATUS_PANIC`.
pub(crate) fn guard(body: impl FnOnce() -> Result<(), Failure>) -> horde_status {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => horde_status::HORDE_STATUS_OK,
        Ok(Err(failure)) => fail(failure),
        Err(_) => fail(Failure::new(
            horde_status::HORDE_STATUS_PANIC,
            "libhorde panicked (a bug: please report it)",
        )),
    }
}

/// Runs an export that answers a value; a panic answers `default`.
pub(crate) fn guard_value<T>(default: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(default)
}

fn null(name: &str) -> Failure {
    Failure::new(
        horde_status::HORDE_STATUS_NULL_PARAM,
        format!("`{name}` must not be NULL"),
    )
}

/// A shared reference to a caller's object.
///
/// # Safety
/// `p` is NULL or points to a valid `T` that outlives `'a`.
pub(crate) unsafe fn arg<'a, T>(p: *const T, name: &str) -> Result<&'a T, Failure> {
    // SAFETY: non-NULL pointers are valid by the caller's contract.
    unsafe { p.as_ref() }.ok_or_else(|| null(name))
}

/// A `horde_client` or `horde_server` handle: NULL, or one that is not
/// live (freed already, never made by libhorde), is refused before it is
/// read.
///
/// # Safety
/// `p` is NULL, or a pointer libhorde handed out (live or freed).
pub(crate) unsafe fn handle<'a, T>(p: *const T, name: &str) -> Result<&'a T, Failure> {
    if p.is_null() {
        return Err(null(name));
    }
    if !crate::handles::is_live(p) {
        return Err(Failure::new(
            horde_status::HORDE_STATUS_INVALID_HANDLE,
            format!(
                "`{name}` is not a live handle: it was freed already, or never made by libhorde"
            ),
        ));
    }
    // SAFETY: a live handle points to its object until its free, which the
    // caller does not run concurrently with this call (the contract).
    Ok(unsafe { &*p })
}

/// A place to write an output.
///
/// # Safety
/// `p` is NULL or points to writable memory for a `T`.
pub(crate) unsafe fn out<'a, T>(p: *mut T, name: &str) -> Result<&'a mut T, Failure> {
    // SAFETY: non-NULL pointers are valid and unaliased by the caller's contract.
    unsafe { p.as_mut() }.ok_or_else(|| null(name))
}

/// A required UTF-8 string.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string that outlives `'a`.
pub(crate) unsafe fn str_arg<'a>(p: *const c_char, name: &str) -> Result<&'a str, Failure> {
    // SAFETY: as above.
    unsafe { opt_str(p, name) }?.ok_or_else(|| null(name))
}

/// An optional UTF-8 string: NULL is `None`.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string that outlives `'a`.
pub(crate) unsafe fn opt_str<'a>(p: *const c_char, name: &str) -> Result<Option<&'a str>, Failure> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: a non-NULL pointer is a NUL-terminated string by the caller's contract.
    let bytes = unsafe { CStr::from_ptr(p) };
    bytes.to_str().map(Some).map_err(|e| {
        Failure::new(
            horde_status::HORDE_STATUS_INVALID_UTF8,
            format!("`{name}` is not UTF-8: {e}"),
        )
    })
}

/// `len` bytes at `p`; NULL is allowed only with `len` 0.
///
/// # Safety
/// `p` is NULL or points to `len` readable bytes that outlive `'a`.
pub(crate) unsafe fn bytes<'a>(p: *const u8, len: usize, name: &str) -> Result<&'a [u8], Failure> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(null(name));
    }
    // SAFETY: the caller promises `len` readable bytes at `p`.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// `len` elements at `p`; NULL is allowed only with `len` 0.
///
/// # Safety
/// `p` is NULL or points to `len` valid `T`s that outlive `'a`.
pub(crate) unsafe fn slice<'a, T>(p: *const T, len: usize, name: &str) -> Result<&'a [T], Failure> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(null(name));
    }
    // SAFETY: the caller promises `len` valid elements at `p`.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// A struct that C hands in and that starts with `size_t struct_size`.
pub(crate) trait Versioned: Copy {
    /// The smallest `struct_size` any released header declares.
    const MIN_SIZE: usize;
    /// The value fields missing from an older caller's struct take.
    fn defaults() -> Self;
}

/// Reads a versioned struct: at least `MIN_SIZE` bytes and at most this
/// library's size are read; fields an older caller's struct lacks keep
/// their defaults; a larger (newer) struct is refused.
///
/// # Safety
/// `p` is NULL or points to a struct of the size its first field states.
pub(crate) unsafe fn versioned<T: Versioned>(p: *const T, name: &str) -> Result<T, Failure> {
    if p.is_null() {
        return Err(null(name));
    }
    // SAFETY: every versioned struct starts with `size_t struct_size`.
    let size = unsafe { p.cast::<usize>().read_unaligned() };
    let ours = std::mem::size_of::<T>();
    if size < T::MIN_SIZE || size > ours {
        return Err(Failure::new(
            horde_status::HORDE_STATUS_STRUCT_SIZE,
            format!(
                "`{name}->struct_size` is {size}; this libhorde reads {} to {ours} bytes \
                 (set it with sizeof, or call the struct's _init function)",
                T::MIN_SIZE
            ),
        ));
    }
    let mut value = T::defaults();
    // SAFETY: `size` bytes are readable at `p` (the caller's contract) and
    // fit in `value` (checked above); every field is plain old data.
    unsafe {
        std::ptr::copy_nonoverlapping(p.cast::<u8>(), (&raw mut value).cast::<u8>(), size);
    }
    Ok(value)
}
