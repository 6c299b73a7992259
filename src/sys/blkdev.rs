// SPDX-License-Identifier: GPL-2.0
//! A registered block device major number.

use super::bindings;
use kernel::error::{to_result, Result};
use kernel::str::CStr;

/// Holds a block major number registered with the block layer.
///
/// # Invariants
///
/// `major` is registered under `name` until this value is dropped.
pub(crate) struct Major {
    major: u32,
    name: &'static CStr,
}

impl Major {
    /// Registers `major` (not 0: we never ask for a dynamic one) under `name`.
    pub(crate) fn register(major: u32, name: &'static CStr) -> Result<Self> {
        // SAFETY: `name` is a static NUL-terminated string; no probe callback is given.
        to_result(unsafe { bindings::__register_blkdev(major, name.as_char_ptr(), None) })?;
        // INVARIANT: registration succeeded just above.
        Ok(Self { major, name })
    }
}

impl Drop for Major {
    fn drop(&mut self) {
        // SAFETY: by the type invariant the major is registered under this name.
        unsafe { bindings::unregister_blkdev(self.major, self.name.as_char_ptr()) };
    }
}
