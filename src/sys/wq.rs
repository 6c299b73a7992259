// SPDX-License-Identifier: GPL-2.0
//! The module's submitter workqueue: an ordered `WQ_MEM_RECLAIM` workqueue, so that the work
//! that writes activity log transactions for deferred writes makes progress under memory
//! pressure (it has a rescuer thread), as C's per-device `drbd%u_submit` queues do.

use super::bindings;
use core::sync::atomic::{AtomicPtr, Ordering};
use kernel::prelude::*;
use kernel::workqueue::{self, Queue};

/// The queue while the module is loaded (set by [`SubmitQueue::create`], cleared on drop).
static SUBMIT: AtomicPtr<bindings::workqueue_struct> = AtomicPtr::new(core::ptr::null_mut());

/// Owns the submitter workqueue; destroying it waits for the work still queued.
pub(crate) struct SubmitQueue(());

impl SubmitQueue {
    /// Allocates the queue. Once only, at module init.
    pub(crate) fn create() -> Result<Self> {
        // SAFETY: no preconditions; the name is a static string.
        let wq = unsafe { bindings::drbd_rs_alloc_submit_wq() };
        if wq.is_null() {
            return Err(ENOMEM);
        }
        SUBMIT.store(wq, Ordering::Release);
        Ok(Self(()))
    }
}

impl Drop for SubmitQueue {
    fn drop(&mut self) {
        let wq = SUBMIT.swap(core::ptr::null_mut(), Ordering::AcqRel);
        if !wq.is_null() {
            // SAFETY: allocated by `create`, no longer handed out; called from module exit,
            // never from one of its own workers, after the devices that queue work are gone.
            // destroy_workqueue() drains what is still queued.
            unsafe { bindings::destroy_workqueue(wq) };
        }
    }
}

/// The submitter workqueue (the system one if the module's is not there, which only happens
/// before init finished or after exit began, when no device exists).
pub(crate) fn submit_queue() -> &'static Queue {
    let wq = SUBMIT.load(Ordering::Acquire);
    if wq.is_null() {
        return workqueue::system();
    }
    // SAFETY: the queue lives until `SubmitQueue` drops at module exit, after every device,
    // hence every user of the returned reference, is gone; the two bindings of `struct
    // workqueue_struct` are the same C type.
    unsafe { Queue::from_raw(wq.cast()) }
}
