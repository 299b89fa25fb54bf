//! Writing RGBA8 pixels as a PNG file: what a C program does with an image
//! event when it has no image library of its own.

use std::ffi::c_char;

use crate::boundary::{bytes, guard, str_arg};
use crate::status::{Failure, horde_status};

/// Writes `width` × `height` RGBA8 pixels (such as an image event's
/// `rgba`) to `path` as a PNG. `HORDE_STATUS_IO` when the file cannot be
/// written.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string; `rgba` is NULL or
/// `width * height * 4` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn horde_write_png(
    path: *const c_char,
    rgba: *const u8,
    width: u32,
    height: u32,
) -> horde_status {
    guard(|| {
        // SAFETY: the caller's contract.
        let path = unsafe { str_arg(path, "path") }?;
        if width == 0 || height == 0 || width > 16384 || height > 16384 {
            return Err(Failure::invalid(format!(
                "{width}×{height}: sides must be 1 to 16384"
            )));
        }
        if rgba.is_null() {
            return Err(Failure::new(
                horde_status::HORDE_STATUS_NULL_PARAM,
                "`rgba` must not be NULL",
            ));
        }
        let len = width as usize * height as usize * 4;
        // SAFETY: the caller promises width × height × 4 bytes.
        let pixels = unsafe { bytes(rgba, len, "rgba") }?;
        image::save_buffer_with_format(
            path,
            pixels,
            width,
            height,
            image::ExtendedColorType::Rgba8,
            image::ImageFormat::Png,
        )
        .map_err(|e| Failure::new(horde_status::HORDE_STATUS_IO, format!("{path}: {e}")))
    })
}
