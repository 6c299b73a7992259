// SPDX-License-Identifier: GPL-2.0
//! The kernel crypto API for the peer authentication (`cram-hmac-alg`): HMAC digests.
//!
//! C counterpart: the `cram_hmac_tfm` of drbd_nl.c (alloc_crypto()) and drbd_do_auth().

use super::bindings;
use kernel::error::{Error, Result};
use kernel::prelude::*;

/// The largest digest (`HASH_MAX_DIGESTSIZE`).
pub(crate) const MAX_DIGEST: usize = 64;

/// `alg` as a NUL-terminated C string.
pub(super) fn c_name(alg: &[u8]) -> Result<[u8; 128]> {
    let mut name = [0u8; 128];
    if alg.len() >= name.len() || alg.contains(&0) {
        return Err(EINVAL);
    }
    name[..alg.len()].copy_from_slice(alg);
    Ok(name)
}

/// The digest size of hash `alg` (`data-integrity-alg`); `ENOENT` when the kernel has none.
pub(crate) fn digest_size(alg: &[u8]) -> Result<usize> {
    let name = c_name(alg)?;
    let mut out = [0u8; MAX_DIGEST];
    // SAFETY: `name` is NUL-terminated; no pages are read (`nr` 0), `out` has MAX_DIGEST bytes.
    let n = unsafe {
        bindings::drbd_rs_digest_pages(
            name.as_ptr().cast(),
            core::ptr::null_mut(),
            0,
            0,
            out.as_mut_ptr(),
            MAX_DIGEST as u32,
        )
    };
    if n < 0 {
        return Err(Error::from_errno(n));
    }
    Ok(n as usize)
}

/// HMAC with `alg` (a hash name such as `sha1`) keyed with `key` over `data`: the digest's
/// length in `out`. `ENOENT` when the kernel has no such algorithm.
pub(crate) fn hmac(
    alg: &[u8],
    key: &[u8],
    data: &[u8],
    out: &mut [u8; MAX_DIGEST],
) -> Result<usize> {
    let name = c_name(alg)?;
    let key_len = u32::try_from(key.len()).map_err(|_| EINVAL)?;
    let len = u32::try_from(data.len()).map_err(|_| EINVAL)?;
    // SAFETY: `name` is NUL-terminated; the key, data and output are valid for the lengths
    // passed; the helper does not keep any of them.
    let n = unsafe {
        bindings::drbd_rs_hmac(
            name.as_ptr().cast(),
            key.as_ptr(),
            key_len,
            data.as_ptr(),
            len,
            out.as_mut_ptr(),
            MAX_DIGEST as u32,
        )
    };
    if n < 0 {
        return Err(Error::from_errno(n));
    }
    Ok(n as usize)
}
