//! `horde_status`, the numbered result of every fallible call, its text,
//! and the thread-local message of the last failure on each thread.

use std::cell::RefCell;
use std::ffi::c_char;

/// The result of a libhorde call. Values are stable and never reused: a
/// retired status keeps its number, and new ones are added at the end.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(non_camel_case_types)]
pub enum horde_status {
    /// Success.
    HORDE_STATUS_OK = 0,
    /// A pointer parameter that must not be NULL was NULL.
    HORDE_STATUS_NULL_PARAM = 1,
    /// A value is out of range or malformed (see the last error message).
    HORDE_STATUS_INVALID_ARG = 2,
    /// A string parameter is not UTF-8.
    HORDE_STATUS_INVALID_UTF8 = 3,
    /// A struct's `struct_size` is smaller than any version of it, or larger
    /// than this library knows (the caller is newer than the library).
    HORDE_STATUS_STRUCT_SIZE = 4,
    /// No request, job or worker has this id.
    HORDE_STATUS_NOT_FOUND = 5,
    /// The resource is in use (a data directory another coordinator holds).
    HORDE_STATUS_BUSY = 6,
    /// The horde could not be reached, or a transfer failed.
    HORDE_STATUS_NETWORK = 7,
    /// The request expired or ran past its deadline.
    HORDE_STATUS_TIMEOUT = 8,
    /// The horde asked to slow down and retries ran out.
    HORDE_STATUS_RATE_LIMITED = 9,
    /// The horde refused; `rc` and `message` say why.
    HORDE_STATUS_API = 10,
    /// An answer or image could not be decoded.
    HORDE_STATUS_DECODE = 11,
    /// The horde gave up on the request after its workers failed it.
    HORDE_STATUS_FAULTED = 12,
    /// The handle is shutting down.
    HORDE_STATUS_SHUT_DOWN = 13,
    /// A thread, socket or file could not be opened.
    HORDE_STATUS_IO = 14,
    /// This build of libhorde leaves the feature out.
    HORDE_STATUS_UNSUPPORTED = 15,
    /// libhorde panicked; the handle may be unusable. Please report it.
    HORDE_STATUS_PANIC = 16,
    /// A `horde_client` or `horde_server` pointer is not a live handle: it
    /// was freed already, or was never made by libhorde.
    HORDE_STATUS_INVALID_HANDLE = 17,
}

use horde_status::*;

impl horde_status {
    /// Every status, in numeric order.
    pub const ALL: [horde_status; 18] = [
        HORDE_STATUS_OK,
        HORDE_STATUS_NULL_PARAM,
        HORDE_STATUS_INVALID_ARG,
        HORDE_STATUS_INVALID_UTF8,
        HORDE_STATUS_STRUCT_SIZE,
        HORDE_STATUS_NOT_FOUND,
        HORDE_STATUS_BUSY,
        HORDE_STATUS_NETWORK,
        HORDE_STATUS_TIMEOUT,
        HORDE_STATUS_RATE_LIMITED,
        HORDE_STATUS_API,
        HORDE_STATUS_DECODE,
        HORDE_STATUS_FAULTED,
        HORDE_STATUS_SHUT_DOWN,
        HORDE_STATUS_IO,
        HORDE_STATUS_UNSUPPORTED,
        HORDE_STATUS_PANIC,
        HORDE_STATUS_INVALID_HANDLE,
    ];

    /// A NUL-terminated, static description.
    fn text(self) -> &'static str {
        match self {
            HORDE_STATUS_OK => "ok\0",
            HORDE_STATUS_NULL_PARAM => "a required pointer was NULL\0",
            HORDE_STATUS_INVALID_ARG => "invalid argument\0",
            HORDE_STATUS_INVALID_UTF8 => "a string was not valid UTF-8\0",
            HORDE_STATUS_STRUCT_SIZE => "struct_size does not match this library\0",
            HORDE_STATUS_NOT_FOUND => "no such request, job or worker\0",
            HORDE_STATUS_BUSY => "the resource is in use\0",
            HORDE_STATUS_NETWORK => "the horde could not be reached\0",
            HORDE_STATUS_TIMEOUT => "the request timed out\0",
            HORDE_STATUS_RATE_LIMITED => "rate limited by the horde\0",
            HORDE_STATUS_API => "the horde refused the request\0",
            HORDE_STATUS_DECODE => "an answer could not be decoded\0",
            HORDE_STATUS_FAULTED => "the request faulted on the horde\0",
            HORDE_STATUS_SHUT_DOWN => "the handle is shutting down\0",
            HORDE_STATUS_IO => "a thread, socket or file could not be opened\0",
            HORDE_STATUS_UNSUPPORTED => "not supported by this build of libhorde\0",
            HORDE_STATUS_PANIC => "libhorde panicked\0",
            HORDE_STATUS_INVALID_HANDLE => "not a live handle (freed already?)\0",
        }
    }

    /// The status a request failure with this upstream `rc` is reported as.
    pub(crate) fn of_rc(rc: &str) -> Self {
        match rc {
            "ServerUnreachable" | "RequestFailed" | "DownloadFailed" | "UploadRefused" => {
                HORDE_STATUS_NETWORK
            }
            "DeadlineExceeded" | "RequestExpired" => HORDE_STATUS_TIMEOUT,
            "ImageUndecodable" | "MalformedResponse" => HORDE_STATUS_DECODE,
            "RequestFaulted" => HORDE_STATUS_FAULTED,
            "RateLimited" => HORDE_STATUS_RATE_LIMITED,
            _ => HORDE_STATUS_API,
        }
    }
}

/// A failed call: its status and what went wrong, for `horde_last_error`.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) status: horde_status,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(status: horde_status, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(HORDE_STATUS_INVALID_ARG, message)
    }
}

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Records `failure` as this thread's last error and answers its status.
pub(crate) fn fail(failure: Failure) -> horde_status {
    LAST_ERROR.with(|last| {
        let mut last = last.borrow_mut();
        last.clear();
        last.push_str(&failure.message);
    });
    failure.status
}

/// Describes `status`: a static NUL-terminated string, never NULL. Unknown
/// values (from a newer header) answer "unknown status".
///
/// Ownership: the string is static; do not free it.
#[unsafe(no_mangle)]
pub extern "C" fn horde_status_str(status: u32) -> *const c_char {
    let text = horde_status::ALL
        .iter()
        .find(|s| **s as u32 == status)
        .map_or("unknown status\0", |s| s.text());
    text.as_ptr().cast()
}

/// Copies the message of the last failed call on this thread into `buf`
/// (at most `len` bytes, always NUL-terminated when `len > 0`) and answers
/// the message's full length without the NUL, so a caller can size a buffer
/// and ask again. Answers 0 when no call has failed on this thread. `buf`
/// may be NULL when `len` is 0.
///
/// Ownership: `buf` stays the caller's; libhorde only writes into it.
///
/// # Safety
/// `buf` must point to `len` writable bytes (or be NULL with `len` 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn horde_last_error(buf: *mut c_char, len: usize) -> usize {
    crate::boundary::guard_value(0, || {
        LAST_ERROR.with(|last| {
            let last = last.borrow();
            if !buf.is_null() && len > 0 {
                let n = last.len().min(len - 1);
                // SAFETY: the caller promises `len` writable bytes at `buf`; n < len.
                unsafe {
                    std::ptr::copy_nonoverlapping(last.as_ptr(), buf.cast::<u8>(), n);
                    *buf.add(n) = 0;
                }
            }
            last.len()
        })
    })
}
