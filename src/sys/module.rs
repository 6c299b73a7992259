// SPDX-License-Identifier: GPL-2.0
//! Module parameters and module identity, which live in helpers.c because `module!` in 6.12 has
//! no parameters and Rust cannot name `THIS_MODULE`.

use super::bindings;
use kernel::str::CStr;

/// The `minor_count` parameter.
pub(crate) fn minor_count() -> u32 {
    // SAFETY: a plain read of a module parameter; no preconditions.
    unsafe { bindings::drbd_rs_param_minor_count() }
}

/// The `allow_oos` parameter: a Secondary may be opened for reading.
pub(crate) fn allow_oos() -> bool {
    // SAFETY: a plain read of a module parameter; no preconditions.
    unsafe { bindings::drbd_rs_param_allow_oos() }
}

/// The `protocol_version_max` parameter (drbd-rs only): the highest protocol version offered.
pub(crate) fn protocol_version_max() -> u32 {
    // SAFETY: a plain read of a module parameter; no preconditions.
    unsafe { bindings::drbd_rs_param_protocol_version_max() }
}

/// The srcversion modpost computed for this module, if it computed one.
pub(crate) fn srcversion() -> Option<&'static str> {
    // SAFETY: returns `THIS_MODULE->srcversion`, which is NULL or a NUL-terminated string set
    // when the module was loaded and kept until it is unloaded, i.e. longer than any caller.
    let ptr = unsafe { bindings::drbd_rs_srcversion() };
    if ptr.is_null() {
        return None;
    }
    // SAFETY: `ptr` is a valid NUL-terminated string for the module's lifetime (see above).
    unsafe { CStr::from_char_ptr(ptr) }.to_str().ok()
}

/// `THIS_MODULE`, for the kernel structures that hold a module reference.
pub(super) fn this_module() -> *mut bindings::module {
    // SAFETY: no preconditions; returns a pointer that is valid while the module is loaded.
    unsafe { bindings::drbd_rs_this_module() }
}
