// SPDX-License-Identifier: GPL-2.0
//! The FFI layer: the only place in drbd-rs with `unsafe`.
//!
//! Each file wraps one kernel subsystem in safe types. The raw API comes from our own bindgen run
//! over include/drbd_bindings.h (see Kbuild) and from the C shims in helpers.c, for the parts the
//! 6.12 `kernel` crate does not bind.

#[allow(
    non_camel_case_types,
    non_upper_case_globals,
    non_snake_case,
    improper_ctypes,
    missing_docs,
    dead_code,
    unused_imports,
    unsafe_op_in_unsafe_fn,
    unreachable_pub,
    unknown_lints,
    unnecessary_transmutes,
    clippy::all,
    clippy::undocumented_unsafe_blocks,
    clippy::as_underscore,
    clippy::ptr_as_ptr
)]
mod bindings {
    // rust/bindgen_parameters blocklists these; rust/bindings/lib.rs defines them the same way.
    type __kernel_size_t = usize;
    type __kernel_ssize_t = isize;
    type __kernel_ptrdiff_t = isize;
    include!("../../drbd_bindings_generated.rs");
}

pub(crate) mod bdev;
pub(crate) mod blk;
pub(crate) mod blkdev;
pub(crate) mod crypto;
pub(crate) mod genl;
pub(crate) mod lock;
pub(crate) mod module;
pub(crate) mod net;
pub(crate) mod pio;
pub(crate) mod print;
pub(crate) mod proc;
pub(crate) mod thread;
pub(crate) mod umh;
pub(crate) mod wq;

/// 64 random bits from the kernel's generator (C: get_random_bytes()), for UUIDs.
pub(crate) fn random_u64() -> u64 {
    // SAFETY: callable from any context, no preconditions.
    unsafe { bindings::get_random_u64() }
}

// SAFETY: a Transaction is integers and arrays of integers: all zeroes is a valid value.
unsafe impl kernel::init::Zeroable for crate::actlog::transaction::Transaction {}
// SAFETY: a Transaction (see above) and byte arrays: all zeroes is a valid value.
unsafe impl kernel::init::Zeroable for crate::device::AlBufs {}

/// Sleeps `ms` milliseconds, or until the current kernel thread is told to stop (a signal
/// ends the sleep of a command's process).
pub(crate) fn sleep_ms(ms: u32) {
    // SAFETY: process context (a kernel thread's or a command's), nothing held.
    unsafe { bindings::drbd_rs_sleep_ms(ms) };
}

/// The current time in jiffies.
pub(crate) fn jiffies() -> u64 {
    // SAFETY: reads a counter.
    unsafe { bindings::drbd_rs_jiffies() as u64 }
}

/// Jiffies per second.
pub(crate) fn hz() -> u64 {
    // SAFETY: a constant.
    u64::from(unsafe { bindings::drbd_rs_hz() })
}

/// `ms` milliseconds in jiffies.
pub(crate) fn msecs_to_jiffies(ms: u32) -> u64 {
    // SAFETY: a pure computation.
    let j = unsafe { bindings::drbd_rs_msecs_to_jiffies(ms) };
    j as u64
}

/// Runs `f` with every allocation it makes implicitly `GFP_NOIO` (memalloc_noio_save()): for
/// the data path, whose allocations must not wait for I/O to our own device.
pub(crate) fn without_io_reclaim<R>(f: impl FnOnce() -> R) -> R {
    // SAFETY: saves and sets a flag of the current task; restored below in the same task.
    let flags = unsafe { bindings::drbd_rs_noio_save() };
    let r = f();
    // SAFETY: the flags saved above, in the same task, in LIFO order.
    unsafe { bindings::drbd_rs_noio_restore(flags) };
    r
}

/// Whether the current task has CAP_SYS_ADMIN (who may see the shared secret in `show`).
pub(crate) fn capable_sys_admin() -> bool {
    /// `CAP_SYS_ADMIN` (include/uapi/linux/capability.h).
    const CAP_SYS_ADMIN: i32 = 21;
    // SAFETY: a check of the current task's credentials, from process context.
    unsafe { bindings::capable(CAP_SYS_ADMIN) }
}
