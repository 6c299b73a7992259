// SPDX-License-Identifier: GPL-2.0
//! The module's workqueues. The submitter: an ordered `WQ_MEM_RECLAIM` workqueue, so that the
//! work that writes activity log transactions for deferred writes makes progress under memory
//! pressure (it has a rescuer thread), as C's per-device `drbd%u_submit` queues do. The events
//! queue: the work that applies a device's local I/O errors (it waits for the device's
//! requests, which may need the submitter), drained at module exit as the submitter is.

use super::bindings;
use core::sync::atomic::{AtomicPtr, Ordering};
use kernel::prelude::*;
use kernel::workqueue::{self, Queue};

/// The queues while the module is loaded (set by [`SubmitQueue::create`], cleared on drop).
static SUBMIT: AtomicPtr<bindings::workqueue_struct> = AtomicPtr::new(core::ptr::null_mut());
static EVENTS: AtomicPtr<bindings::workqueue_struct> = AtomicPtr::new(core::ptr::null_mut());

/// Owns the module's workqueues; destroying them waits for the work still queued.
pub(crate) struct SubmitQueue(());

impl SubmitQueue {
    /// Allocates the queues. Once only, at module init.
    pub(crate) fn create() -> Result<Self> {
        // SAFETY: no preconditions; the names are static strings.
        let (submit, events) = unsafe {
            (
                bindings::drbd_rs_alloc_submit_wq(),
                bindings::drbd_rs_alloc_events_wq(),
            )
        };
        // (a queue allocated is destroyed by drop)
        SUBMIT.store(submit, Ordering::Release);
        EVENTS.store(events, Ordering::Release);
        let queues = Self(());
        if submit.is_null() || events.is_null() {
            return Err(ENOMEM);
        }
        Ok(queues)
    }
}

impl Drop for SubmitQueue {
    fn drop(&mut self) {
        // events first: its work may queue on the submitter
        for q in [&EVENTS, &SUBMIT] {
            let wq = q.swap(core::ptr::null_mut(), Ordering::AcqRel);
            if !wq.is_null() {
                // SAFETY: allocated by `create`, no longer handed out; called from module
                // exit, never from one of its own workers, after the devices that queue work
                // are gone. destroy_workqueue() drains what is still queued.
                unsafe { bindings::destroy_workqueue(wq) };
            }
        }
    }
}

/// The submitter workqueue (the system one if the module's is not there, which only happens
/// before init finished or after exit began, when no device exists).
pub(crate) fn submit_queue() -> &'static Queue {
    queue(&SUBMIT)
}

/// The events workqueue (as [`submit_queue`]).
pub(crate) fn events_queue() -> &'static Queue {
    queue(&EVENTS)
}

fn queue(q: &AtomicPtr<bindings::workqueue_struct>) -> &'static Queue {
    let wq = q.load(Ordering::Acquire);
    if wq.is_null() {
        return workqueue::system();
    }
    // SAFETY: the queue lives until `SubmitQueue` drops at module exit, after every device,
    // hence every user of the returned reference, is gone; the two bindings of `struct
    // workqueue_struct` are the same C type.
    unsafe { Queue::from_raw(wq.cast()) }
}
