// SPDX-License-Identifier: GPL-2.0
//! A file in /proc whose contents a `show` function renders through a seq_file.

use super::bindings;
use core::fmt;
use core::marker::PhantomData;
use kernel::error::{code::ENOMEM, Result};
use kernel::ffi::{c_int, c_void};
use kernel::str::CStr;
use kernel::sync::Arc;

/// Renders the contents of a proc file from some driver state.
pub(crate) trait Show {
    type Ctx: Send + Sync;
    fn show(ctx: &Self::Ctx, out: &mut SeqFile) -> fmt::Result;
}

/// The seq_file a [`Show`] implementation writes to.
///
/// # Invariants
///
/// `0` is a valid seq_file for the duration of the `show` call that created this value.
pub(crate) struct SeqFile(*mut bindings::seq_file);

impl fmt::Write for SeqFile {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // SAFETY: by the type invariant the seq_file is valid, and `s` is `s.len()` readable
        // bytes. On overflow seq_write marks the buffer full and seq_read calls show again with a
        // larger one, so its result needs no handling here.
        unsafe { bindings::seq_write(self.0, s.as_ptr().cast(), s.len()) };
        Ok(())
    }
}

/// # Safety
///
/// Called by the seq_file core with a valid seq_file.
unsafe extern "C" fn show_trampoline<T: Show>(
    m: *mut bindings::seq_file,
    _v: *mut c_void,
) -> c_int {
    // SAFETY: single_open() stored the entry's data, our `Arc<T::Ctx>`'s pointer, in `private`;
    // the `ProcEntry` holds that reference until proc_remove() has waited for all readers.
    let ctx = unsafe { &*((*m).private as *const T::Ctx) };
    // INVARIANT: the seq_file core passes a valid seq_file for the duration of this call.
    let mut out = SeqFile(m);
    // A formatting error cannot come from SeqFile; whatever was written stays.
    let _ = T::show(ctx, &mut out);
    0
}

/// A `/proc/<name>` entry, removed on drop.
///
/// # Invariants
///
/// `entry` is a live proc entry created by `proc_create_single_data`.
pub(crate) struct ProcEntry<T: Show> {
    entry: *mut bindings::proc_dir_entry,
    _ctx: Arc<T::Ctx>,
    _show: PhantomData<T>,
}

// SAFETY: the entry pointer is only passed to proc_remove, which may be called from any thread;
// the context is `Send + Sync`.
unsafe impl<T: Show> Send for ProcEntry<T> {}
// SAFETY: a shared `ProcEntry` offers no methods.
unsafe impl<T: Show> Sync for ProcEntry<T> {}

impl<T: Show> ProcEntry<T> {
    /// Creates `/proc/<name>`, readable by everyone, showing `ctx`.
    pub(crate) fn create(name: &'static CStr, ctx: Arc<T::Ctx>) -> Result<Self> {
        // S_IFREG | 0444, as drbd_init() creates /proc/drbd
        const MODE: u16 = 0o100444;
        let data: *const T::Ctx = &*ctx;
        // SAFETY: `name` is a static NUL-terminated string, the show callback has the required
        // signature and reads the data as the `T::Ctx` that `_ctx` keeps alive.
        let entry = unsafe {
            bindings::proc_create_single_data(
                name.as_char_ptr(),
                MODE,
                core::ptr::null_mut(),
                Some(show_trampoline::<T>),
                data as *mut c_void,
            )
        };
        if entry.is_null() {
            return Err(ENOMEM);
        }
        // INVARIANT: the entry was just created.
        Ok(Self {
            entry,
            _ctx: ctx,
            _show: PhantomData,
        })
    }
}

impl<T: Show> Drop for ProcEntry<T> {
    fn drop(&mut self) {
        // SAFETY: by the type invariant the entry is live; proc_remove waits for readers.
        unsafe { bindings::proc_remove(self.entry) };
    }
}
