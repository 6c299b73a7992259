// SPDX-License-Identifier: GPL-2.0
//! Rate limiting of kernel log lines that userspace or a peer can trigger at will.

use super::bindings;
use kernel::c_str;

/// Whether a log line may be printed now: the kernel's global printk rate limit
/// (`printk_ratelimit()`, 10 lines per 5 s by default), so that a flood of bad requests cannot
/// flood the log.
pub(crate) fn ratelimit() -> bool {
    // SAFETY: the argument is a static NUL-terminated string, used only in the "callbacks
    // suppressed" message.
    unsafe { bindings::__printk_ratelimit(c_str!("drbd").as_char_ptr()) != 0 }
}
