//! `horde_server`: an embedded coordinator — a private horde inside the
//! game's own process, for a dedicated server written in C or C++. With the
//! `coordinator` feature off the functions stay (the ABI does not change)
//! and answer `HORDE_STATUS_UNSUPPORTED`.

use std::ffi::c_char;

use crate::boundary::{Versioned, guard, handle, out, versioned};
#[cfg(not(feature = "coordinator"))]
use crate::status::Failure;
use crate::status::horde_status;

/// Where and how an embedded coordinator serves. Fill it with
/// `horde_server_config_init`; NULLs mean the defaults.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct horde_server_config {
    /// `sizeof(horde_server_config)`, for forward compatibility.
    pub struct_size: usize,
    /// A coordinator configuration file (the TOML `horde serve --config`
    /// reads); NULL for the defaults.
    pub config_path: *const c_char,
    /// The address to listen on, such as `0.0.0.0:7001`; NULL is the file's
    /// (or, without a file, `127.0.0.1:0`: a free port on loopback).
    pub listen: *const c_char,
    /// The data directory (SQLite and result images); NULL is the file's
    /// (or, when the file names none or there is no file, a fresh temporary
    /// directory removed on free).
    pub data_dir: *const c_char,
    /// A `horde_rate_limits`. The default, `HORDE_RATE_LIMITS_LOOPBACK_FREE`,
    /// never limits the game's own loopback traffic (unless the file sets
    /// `rate_limits.exempt_loopback = false`).
    pub rate_limits: u32,
}

/// How an embedded coordinator rate-limits (`horde_server_config.rate_limits`).
/// Values are never reused.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum horde_rate_limits {
    /// Upstream's limits (or the file's) for other machines; none for
    /// loopback, where the game's own requests and workers come from.
    HORDE_RATE_LIMITS_LOOPBACK_FREE = 0,
    /// Upstream's limits (or the file's) for everyone, loopback included,
    /// as `horde serve` applies them.
    HORDE_RATE_LIMITS_EVERYONE = 1,
    /// No rate limit at all.
    HORDE_RATE_LIMITS_OFF = 2,
}

impl Versioned for horde_server_config {
    // Older callers' structs end before `rate_limits`.
    const MIN_SIZE: usize = std::mem::offset_of!(horde_server_config, rate_limits);
    fn defaults() -> Self {
        Self {
            struct_size: std::mem::size_of::<Self>(),
            config_path: std::ptr::null(),
            listen: std::ptr::null(),
            data_dir: std::ptr::null(),
            rate_limits: horde_rate_limits::HORDE_RATE_LIMITS_LOOPBACK_FREE as u32,
        }
    }
}

/// A running embedded coordinator.
pub struct horde_server {
    #[cfg(feature = "coordinator")]
    inner: running::Running,
}

/// Fills `config` with the defaults and its `struct_size`.
///
/// # Safety
/// `config` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn horde_server_config_init(
    config: *mut horde_server_config,
) -> horde_status {
    guard(|| {
        // SAFETY: the caller's contract.
        *unsafe { out(config, "config") }? = horde_server_config::defaults();
        Ok(())
    })
}

/// Starts a coordinator on its own threads; it serves until
/// `horde_server_free`. On success `*server_out` is owned by the caller.
/// A NULL `config` is the defaults: a free loopback port, a temporary data
/// directory, and no rate limit on the game's own loopback traffic.
/// `HORDE_STATUS_BUSY` when another coordinator holds the data directory,
/// `HORDE_STATUS_IO` when the address or directory cannot be used.
///
/// # Safety
/// `config` is NULL or a valid struct of its `struct_size`; `server_out`
/// is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn horde_server_start(
    config: *const horde_server_config,
    server_out: *mut *mut horde_server,
) -> horde_status {
    guard(|| {
        // SAFETY: the caller's contract.
        let server_out = unsafe { out(server_out, "server_out") }?;
        let config = if config.is_null() {
            horde_server_config::defaults()
        } else {
            // SAFETY: the caller's contract.
            unsafe { versioned(config, "config") }?
        };
        #[cfg(feature = "coordinator")]
        {
            let inner = running::Running::start(&config)?;
            let server = Box::into_raw(Box::new(horde_server { inner }));
            crate::handles::register(server);
            *server_out = server;
            Ok(())
        }
        #[cfg(not(feature = "coordinator"))]
        {
            let _ = (config, server_out);
            Err(unsupported())
        }
    })
}

#[cfg(not(feature = "coordinator"))]
fn unsupported() -> Failure {
    Failure::new(
        horde_status::HORDE_STATUS_UNSUPPORTED,
        "this libhorde was built without the `coordinator` feature",
    )
}

/// The API base clients and workers use (`http://127.0.0.1:PORT/api`), as
/// a NUL-terminated string owned by the server: valid until
/// `horde_server_free`. NULL when `server` is NULL or not a live server.
///
/// # Safety
/// `server` is NULL or a server from `horde_server_start`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn horde_server_api_url(server: *const horde_server) -> *const c_char {
    crate::boundary::guard_value(std::ptr::null(), || {
        // SAFETY: the caller's contract.
        match unsafe { crate::boundary::handle(server, "server") } {
            #[cfg(feature = "coordinator")]
            Ok(s) => s.inner.api.as_ptr(),
            _ => std::ptr::null(),
        }
    })
}

/// Registers a user with `kudos` to spend (`trusted` users' workers serve
/// trusted-only requests) and writes its new API key, NUL-terminated, into
/// `key_buf`, which must hold at least `HORDE_API_KEY_BUF` bytes.
///
/// # Safety
/// `server` is NULL or live; `alias` is NULL or a NUL-terminated string;
/// `key_buf` is NULL or `key_buf_len` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn horde_server_add_user(
    server: *const horde_server,
    alias: *const c_char,
    kudos: f64,
    trusted: bool,
    key_buf: *mut c_char,
    key_buf_len: usize,
) -> horde_status {
    guard(|| {
        // SAFETY: the caller's contract.
        let server = unsafe { handle(server, "server") }?;
        // SAFETY: the caller's contract.
        let alias = unsafe { crate::boundary::str_arg(alias, "alias") }?;
        if key_buf.is_null() {
            return Err(crate::status::Failure::new(
                horde_status::HORDE_STATUS_NULL_PARAM,
                "`key_buf` must not be NULL",
            ));
        }
        #[cfg(feature = "coordinator")]
        {
            let key = server.inner.add_user(alias, kudos, trusted, key_buf_len)?;
            // SAFETY: the caller promises key_buf_len bytes; add_user checked the key fits.
            unsafe {
                std::ptr::copy_nonoverlapping(key.as_ptr(), key_buf.cast::<u8>(), key.len());
                *key_buf.add(key.len()) = 0;
            }
            Ok(())
        }
        #[cfg(not(feature = "coordinator"))]
        {
            let _ = (server, alias, kudos, trusted, key_buf_len);
            Err(unsupported())
        }
    })
}

/// Stops the coordinator (finishing what is in flight and flushing its
/// storage), joins its threads, and removes its temporary data directory
/// if it made one. The API URL string becomes invalid. NULL is a no-op; a
/// server freed already is not freed again (`horde_last_error` says so).
///
/// # Safety
/// `server` is NULL or a server from `horde_server_start`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn horde_server_free(server: *mut horde_server) {
    crate::boundary::guard_value((), || {
        if server.is_null() {
            return;
        }
        if !crate::handles::release(server) {
            let _ = crate::status::fail(crate::status::Failure::new(
                crate::status::horde_status::HORDE_STATUS_INVALID_HANDLE,
                "horde_server_free: `server` is not a live handle (freed twice?); nothing freed",
            ));
            return;
        }
        // SAFETY: a live handle came from Box::into_raw in horde_server_start,
        // and `release` let only this call free it.
        drop(unsafe { Box::from_raw(server) });
    });
}

#[cfg(feature = "coordinator")]
mod running {
    //! The C settings turned into an [`EmbeddedHorde`], and its errors into statuses.

    use std::ffi::CString;
    use std::path::{Path, PathBuf};

    use horde_core::coordinator::config::Config;
    use horde_core::coordinator::embedded::{EmbeddedError, EmbeddedHorde};
    use horde_core::coordinator::horde::NewUser;
    use horde_core::coordinator::server::StartError;

    use super::{horde_rate_limits, horde_server_config};
    use crate::status::{Failure, horde_status};

    pub(super) struct Running {
        pub(super) api: CString,
        horde: EmbeddedHorde,
    }

    fn failure(e: EmbeddedError) -> Failure {
        let status = match &e {
            EmbeddedError::Open(StartError::Locked(_)) => horde_status::HORDE_STATUS_BUSY,
            EmbeddedError::Refused(_) => horde_status::HORDE_STATUS_API,
            _ => horde_status::HORDE_STATUS_IO,
        };
        Failure::new(status, e.to_string())
    }

    impl Running {
        pub(super) fn start(c: &horde_server_config) -> Result<Self, Failure> {
            // SAFETY (all three): the caller's contract covers its struct's strings.
            let path = unsafe { crate::boundary::opt_str(c.config_path, "config->config_path") }?;
            let listen = unsafe { crate::boundary::opt_str(c.listen, "config->listen") }?;
            let data_dir = unsafe { crate::boundary::opt_str(c.data_dir, "config->data_dir") }?;
            let limits = match c.rate_limits {
                0 => horde_rate_limits::HORDE_RATE_LIMITS_LOOPBACK_FREE,
                1 => horde_rate_limits::HORDE_RATE_LIMITS_EVERYONE,
                2 => horde_rate_limits::HORDE_RATE_LIMITS_OFF,
                other => {
                    return Err(Failure::invalid(format!(
                        "`config->rate_limits` is {other}; it must be a horde_rate_limits (0 to 2)"
                    )));
                }
            };
            // Under a file, what it leaves out is the embedded default: a
            // free loopback port and a temporary directory, never the
            // command line's 127.0.0.1:7001 and ./horde-data.
            // (An empty data directory is the mark of "not set".)
            let base = Config::embedded();
            let mut config = match path {
                Some(p) => Config::read_over(base, Path::new(p))
                    .map_err(|e| Failure::invalid(e.to_string()))?,
                None => base,
            };
            if let Some(l) = listen {
                config.listen = l.parse().map_err(|e| {
                    Failure::invalid(format!("`config->listen` {l:?} is not an address: {e}"))
                })?;
            }
            match limits {
                horde_rate_limits::HORDE_RATE_LIMITS_LOOPBACK_FREE => {}
                horde_rate_limits::HORDE_RATE_LIMITS_EVERYONE => {
                    config.rate_limits.exempt_loopback = false;
                }
                horde_rate_limits::HORDE_RATE_LIMITS_OFF => config.rate_limits.enabled = false,
            }
            if let Some(d) = data_dir {
                config.data_dir = PathBuf::from(d);
            }
            let horde = EmbeddedHorde::start(config).map_err(failure)?;
            let api = CString::new(horde.api_url())
                .map_err(|e| Failure::new(horde_status::HORDE_STATUS_IO, e.to_string()))?;
            Ok(Self { api, horde })
        }

        pub(super) fn add_user(
            &self,
            alias: &str,
            kudos: f64,
            trusted: bool,
            buf_len: usize,
        ) -> Result<String, Failure> {
            if alias.trim().is_empty() || alias.len() > 100 {
                return Err(Failure::invalid("`alias` must be 1 to 100 bytes"));
            }
            if !kudos.is_finite() || kudos < 0.0 {
                return Err(Failure::invalid(format!(
                    "`kudos` is {kudos}; it must be ≥ 0"
                )));
            }
            if buf_len < crate::HORDE_API_KEY_BUF {
                return Err(Failure::invalid(format!(
                    "`key_buf_len` is {buf_len}; HORDE_API_KEY_BUF ({}) bytes are needed",
                    crate::HORDE_API_KEY_BUF
                )));
            }
            self.horde
                .add_user(NewUser {
                    alias: alias.to_owned(),
                    kudos,
                    trusted,
                    ..NewUser::default()
                })
                .map_err(|e| match e {
                    EmbeddedError::Refused(api) => {
                        Failure::new(horde_status::HORDE_STATUS_API, api.body.message)
                    }
                    other => failure(other),
                })
        }
    }
}
