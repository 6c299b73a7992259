// SPDX-License-Identifier: GPL-2.0
//! Identity of the driver as userspace and peers see it.
//!
//! C counterpart: include/linux/drbd_config.h, drbd_genl_api.h, drbd.h (DRBD_MAJOR) and the
//! minor_count limits of drbd_limits.h. drbd-utils picks its 8.4 tools from [`REL_VERSION`].

/// The DRBD release we are compatible with, as `/proc/drbd` and `modinfo` report it.
pub(crate) const REL_VERSION: &str = "8.4.11";
/// Version of the generic netlink family `drbd` (`GENL_MAGIC_VERSION`).
pub(crate) const GENL_VERSION: u32 = 1;
/// Oldest wire protocol version we speak.
pub(crate) const PRO_VERSION_MIN: u32 = 86;
/// Newest wire protocol version we speak.
pub(crate) const PRO_VERSION_MAX: u32 = 101;

/// Block device major of `/dev/drbdN`.
pub(crate) const DRBD_MAJOR: u32 = 147;

/// Range of the `minor_count` module parameter (its default, 32, is set in helpers.c).
pub(crate) const MINOR_COUNT_MIN: u32 = 1;
pub(crate) const MINOR_COUNT_MAX: u32 = 255;

/// Whether `minor_count` is one the C module would accept at load time.
pub(crate) fn minor_count_valid(count: u32) -> bool {
    (MINOR_COUNT_MIN..=MINOR_COUNT_MAX).contains(&count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minor_count_limits_match_drbd_limits_h() {
        assert!(!minor_count_valid(0));
        assert!(minor_count_valid(1));
        assert!(minor_count_valid(32));
        assert!(minor_count_valid(255));
        assert!(!minor_count_valid(256));
    }
}
