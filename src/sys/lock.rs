// SPDX-License-Identifier: GPL-2.0
//! A spinlock taken with interrupts disabled, for state that bio completions share with
//! process context. 6.12's `kernel::sync` has only the plain `SpinLock`, which would deadlock
//! when an interrupt on the same CPU takes it again.
//!
//! C counterpart: `spin_lock_irqsave()`, as the C module takes its `req_lock` (there
//! `spin_lock_irq()`).

use super::bindings;
use kernel::ffi::{c_char, c_ulong};
use kernel::sync::lock::{Backend, Lock};

/// A [`Lock`] taken with `spin_lock_irqsave()`: its guard may be held in any context, and the
/// data may be reached from interrupt handlers. Create one with [`new_irq_spinlock!`].
pub(crate) type IrqSpinLock<T> = Lock<T, IrqSpinLockBackend>;

/// Creates an [`IrqSpinLock`] initialiser with a lock class of its own.
macro_rules! new_irq_spinlock {
    ($inner:expr, $name:literal) => {
        kernel::sync::lock::Lock::<_, $crate::sys::lock::IrqSpinLockBackend>::new(
            $inner,
            kernel::c_str!($name),
            kernel::static_lock_class!(),
        )
    };
}
pub(crate) use new_irq_spinlock;

/// The backend of [`IrqSpinLock`].
pub(crate) struct IrqSpinLockBackend;

// SAFETY: the lock is a spinlock_t initialised by `init`; lock and unlock pair
// spin_lock_irqsave() with spin_unlock_irqrestore() of the saved flags, which the guard keeps.
unsafe impl Backend for IrqSpinLockBackend {
    type State = bindings::spinlock_t;
    type GuardState = c_ulong;

    unsafe fn init(
        ptr: *mut Self::State,
        name: *const c_char,
        key: *mut kernel::bindings::lock_class_key,
    ) {
        // SAFETY: the caller passes valid memory for the lock, a static name and a static key
        // (the two bindings of `struct lock_class_key` are the same C type).
        unsafe { bindings::drbd_rs_spin_lock_init(ptr, name, key.cast()) }
    }

    unsafe fn lock(ptr: *mut Self::State) -> Self::GuardState {
        // SAFETY: the caller passes an initialised lock.
        unsafe { bindings::drbd_rs_spin_lock_irqsave(ptr) }
    }

    unsafe fn unlock(ptr: *mut Self::State, guard_state: &Self::GuardState) {
        // SAFETY: the caller holds the lock, taken with these flags.
        unsafe { bindings::drbd_rs_spin_unlock_irqrestore(ptr, *guard_state) }
    }
}
