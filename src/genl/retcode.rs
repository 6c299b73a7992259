// SPDX-License-Identifier: GPL-2.0
//! `enum drbd_ret_code`: the result a netlink reply carries in `drbd_genlmsghdr.ret_code`.
//!
//! C counterpart: include/linux/drbd.h. drbd-utils turns each code into its message, so the
//! numbers must be exactly the C module's. Variants are added as handlers come to use them.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub(crate) enum RetCode {
    NoError = 101,
    OpenDisk = 104,
    OpenMdDisk = 105,
    DiskTooSmall = 111,
    MdDiskTooSmall = 112,
    MdIdxInvalid = 116,
    IoMdDisk = 118,
    MdInvalid = 119,
    NoMem = 122,
    DiskConfigured = 124,
    NoMemBitmap = 140,
    MandatoryTag = 126,
    MinorInvalid = 127,
    ResNotKnown = 158,
    ResInUse = 159,
    MinorConfigured = 160,
    MinorOrVolumeExists = 161,
    MdUnclean = 165,
    InvalidRequest = 162,
}

impl RetCode {
    pub(crate) fn code(self) -> i32 {
        self as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_drbd_h() {
        assert_eq!(RetCode::NoError.code(), 101);
        assert_eq!(RetCode::MinorInvalid.code(), 127);
        assert_eq!(RetCode::OpenDisk.code(), 104);
        assert_eq!(RetCode::OpenMdDisk.code(), 105);
        assert_eq!(RetCode::DiskTooSmall.code(), 111);
        assert_eq!(RetCode::MdDiskTooSmall.code(), 112);
        assert_eq!(RetCode::MdIdxInvalid.code(), 116);
        assert_eq!(RetCode::IoMdDisk.code(), 118);
        assert_eq!(RetCode::MdInvalid.code(), 119);
        assert_eq!(RetCode::NoMem.code(), 122);
        assert_eq!(RetCode::DiskConfigured.code(), 124);
        assert_eq!(RetCode::NoMemBitmap.code(), 140);
        assert_eq!(RetCode::MdUnclean.code(), 165);
        assert_eq!(RetCode::MandatoryTag.code(), 126);
        assert_eq!(RetCode::ResNotKnown.code(), 158);
        assert_eq!(RetCode::ResInUse.code(), 159);
        assert_eq!(RetCode::MinorConfigured.code(), 160);
        assert_eq!(RetCode::MinorOrVolumeExists.code(), 161);
        assert_eq!(RetCode::InvalidRequest.code(), 162);
    }
}
