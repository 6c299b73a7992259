// SPDX-License-Identifier: GPL-2.0
//! Usermode helpers: the program the `usermode_helper` parameter names, run with
//! call_usermodehelper() until it exits.
//!
//! C counterpart: the call_usermodehelper() of drbd_khelper() and conn_khelper() (drbd_nl.c).

use super::bindings;
use kernel::ffi::c_char;
use kernel::prelude::*;

/// Size of the `usermode_helper` parameter's buffer, with its NUL (C: `drbd_usermode_helper[80]`).
const PATH_LEN: usize = 80;

/// The `usermode_helper` parameter as it is now (`/sbin/drbdadm` by default).
pub(crate) struct HelperPath {
    buf: [u8; PATH_LEN],
}

impl HelperPath {
    pub(crate) fn get() -> Self {
        let mut buf = [0u8; PATH_LEN];
        // SAFETY: `buf` is writable for its length; the shim writes a NUL-terminated string
        // of at most that many bytes.
        unsafe { bindings::drbd_rs_param_usermode_helper(buf.as_mut_ptr().cast(), PATH_LEN) };
        Self { buf }
    }

    /// The path without its NUL.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        let end = self.buf.iter().position(|&b| b == 0).unwrap_or(PATH_LEN);
        &self.buf[..end]
    }
}

impl core::fmt::Display for HelperPath {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(core::str::from_utf8(self.as_bytes()).unwrap_or("?"))
    }
}

/// Runs `path` with the arguments `args` (after argv[0], the path) and the environment `env`
/// (`NAME=value` each), and waits until it exits: its wait status, or a negative errno when it
/// could not run. Strings with a NUL inside are cut there.
pub(crate) fn run(path: &HelperPath, args: &[&[u8]], env: &[&[u8]]) -> i32 {
    // every string, NUL-terminated, in one buffer; then the two NULL-terminated pointer arrays
    let mut strings = KVec::new();
    let mut ends = KVec::new();
    let argv = Iterator::chain(core::iter::once(path.as_bytes()), args.iter().copied());
    for s in Iterator::chain(argv, env.iter().copied()) {
        let s = s.split(|&b| b == 0).next().unwrap_or(&[]);
        if strings.extend_from_slice(s, GFP_KERNEL).is_err()
            || strings.push(0, GFP_KERNEL).is_err()
            || ends.push(strings.len(), GFP_KERNEL).is_err()
        {
            return ENOMEM.to_errno();
        }
    }
    let base = strings.as_mut_ptr().cast::<c_char>();
    let mut ptrs: KVec<*mut c_char> = KVec::new();
    let mut start = 0;
    for (i, &end) in ends.iter().enumerate() {
        // argv is path and args, then NULL; envp follows, then NULL
        if i == 1 + args.len() && ptrs.push(core::ptr::null_mut(), GFP_KERNEL).is_err() {
            return ENOMEM.to_errno();
        }
        // `start` is within `strings` (an offset it recorded).
        if ptrs.push(base.wrapping_add(start), GFP_KERNEL).is_err() {
            return ENOMEM.to_errno();
        }
        start = end;
    }
    // the end of envp (and of argv too, without an environment)
    for _ in 0..if env.is_empty() { 2 } else { 1 } {
        if ptrs.push(core::ptr::null_mut(), GFP_KERNEL).is_err() {
            return ENOMEM.to_errno();
        }
    }
    let argv = ptrs.as_mut_ptr();
    let envp = argv.wrapping_add(2 + args.len());
    // SAFETY: `argv` (path, args, NULL) and `envp` (env, NULL) point to NUL-terminated strings
    // in `strings`; both vectors live until the helper has exited (UMH_WAIT_PROC), and the
    // kernel only reads them.
    unsafe { bindings::drbd_rs_call_helper(base, argv, envp) }
}
