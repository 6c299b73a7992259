// SPDX-License-Identifier: GPL-2.0
//! Kernel threads running a Rust closure: the connection's receiver, sender and acknowledger
//! threads. 6.12's `kernel` crate has no thread API.
//!
//! C counterpart: drbd_thread_start() and drbd_thread_stop() of drbd_main.c, built on
//! kthread_create() and kthread_stop().

use super::bindings;
use kernel::error::{from_err_ptr, Result};
use kernel::ffi::{c_int, c_void};
use kernel::prelude::*;
use kernel::str::CStr;

/// A running kernel thread. [`Thread::stop`] (or dropping it) tells it to stop and waits until
/// its closure has returned; the closure must check [`should_stop`] and return when told (a
/// thread blocked in a socket call is woken by shutting the socket down first).
///
/// # Invariants
///
/// `task` is a thread created by `spawn`, woken, with a task reference of ours.
pub(crate) struct Thread {
    task: *mut bindings::task_struct,
}

// SAFETY: a thread may be stopped from any thread.
unsafe impl Send for Thread {}
// SAFETY: a shared `Thread` offers no methods.
unsafe impl Sync for Thread {}

/// # Safety
///
/// Called by kthread with the `data` of `Thread::spawn`: a leaked `KBox<F>`.
unsafe extern "C" fn run<F: FnOnce() + Send + 'static>(data: *mut c_void) -> c_int {
    // SAFETY: `spawn` leaked the box for this call, which takes it back once.
    let body = KBox::into_inner(unsafe { KBox::from_raw(data.cast::<F>()) });
    body();
    // kthread_stop() must find the thread; wait for it (kthread_stop wakes us)
    while !should_stop() {
        // SAFETY: sleeping is fine here; we are a kernel thread with nothing held.
        unsafe { bindings::drbd_rs_thread_idle() };
    }
    0
}

impl Thread {
    /// Starts `body` in a new kernel thread called `name` (at most 15 characters show).
    pub(crate) fn spawn<F: FnOnce() + Send + 'static>(name: &CStr, body: F) -> Result<Self> {
        let data = KBox::into_raw(KBox::new(body, GFP_KERNEL)?);
        // SAFETY: `run` takes `data` back exactly once if the thread is created; the name is
        // NUL-terminated and used as a plain format-free string.
        let task = unsafe {
            bindings::drbd_rs_kthread_create(Some(run::<F>), data.cast(), name.as_char_ptr())
        };
        let task = match from_err_ptr(task) {
            Ok(task) => task,
            Err(e) => {
                // SAFETY: the thread was not created: the box is still ours.
                drop(unsafe { KBox::from_raw(data) });
                return Err(e);
            }
        };
        // SAFETY: a fresh thread, not yet running: keep a reference, then let it run.
        unsafe {
            bindings::drbd_rs_get_task_struct(task);
            bindings::wake_up_process(task);
        }
        // INVARIANT: created, referenced and woken just above.
        Ok(Self { task })
    }

    /// Tells the thread to stop and waits for it.
    pub(crate) fn stop(self) {
        drop(self);
    }
}

impl Drop for Thread {
    fn drop(&mut self) {
        // SAFETY: by the type invariant the thread exists and we hold a reference, which
        // kthread_stop_put() drops after the thread has ended.
        unsafe { bindings::kthread_stop_put(self.task) };
    }
}

/// Whether the current kernel thread was told to stop.
pub(crate) fn should_stop() -> bool {
    // SAFETY: no preconditions (false outside kernel threads).
    unsafe { bindings::kthread_should_stop() }
}
