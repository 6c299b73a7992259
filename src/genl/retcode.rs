// SPDX-License-Identifier: GPL-2.0
//! `enum drbd_ret_code`: the result a netlink reply carries in `drbd_genlmsghdr.ret_code`.
//!
//! C counterpart: include/linux/drbd.h. drbd-utils turns each code into its message, so the
//! numbers must be exactly the C module's. Variants are added as handlers come to use them.
//! State changes answer in the same field with their `enum drbd_state_rv`, below 100.

use crate::model::role::StateRv;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub(crate) enum RetCode {
    NoError = 101,
    LocalAddr = 102,
    AuthAlg = 120,
    IntegrityAlg = 141,
    CsumsAlg = 144,
    VerifyAlg = 146,
    PeerAddr = 103,
    OpenDisk = 104,
    OpenMdDisk = 105,
    DiskTooSmall = 111,
    MdDiskTooSmall = 112,
    MdIdxInvalid = 116,
    IoMdDisk = 118,
    MdInvalid = 119,
    NoMem = 122,
    /// Interrupted by a signal (a `detach` waiting for its disk).
    Intr = 129,
    DiskConfigured = 124,
    NetConfigured = 125,
    NoMemBitmap = 140,
    MandatoryTag = 126,
    MinorInvalid = 127,
    ResNotKnown = 158,
    ResInUse = 159,
    MinorConfigured = 160,
    MinorOrVolumeExists = 161,
    MdUnclean = 165,
    InvalidRequest = 162,
    NoDisk = 138,
    ResizeResync = 130,
    NoPrimary = 131,
    ResyncAfter = 132,
    ResyncAfterCycle = 133,
    NeedApv93 = 153,
    NeedApv100 = 163,
    MdLayoutConnected = 166,
    MdLayoutTooBig = 167,
    MdLayoutTooSmall = 168,
    MdLayoutNoFit = 169,
    Connected = 151,
    PauseIsSet = 134,
    PauseIsClear = 135,
    PicAfterDep = 156,
    PicPeerDep = 157,
    DiscardImpossible = 123,
    NotProtoC = 139,
    StonithAndProtA = 154,
    CongNotProtoA = 155,
    NeedAllowTwoPri = 164,
    /// State changes (`enum drbd_state_rv`, see [`crate::model::role::StateRv`]).
    StateNothingToDo = 2,
    StateSuccess = 1,
    StateTwoPrimaries = -1,
    StateNoUpToDateDisk = -2,
    StatePrimaryNop = -7,
    StateCwFailedByPeer = -10,
    StateDeviceInUse = -12,
    StateNeedConnection = -15,
    StateUnknownError = 0,
    StateNoLocalDisk = -4,
    StateNoRemoteDisk = -5,
    StateConnectedOutdates = -6,
    StateResyncRunning = -8,
    StateAlreadyStandAlone = -9,
    StateIsDiskless = -11,
    StateNoNetConfig = -13,
    StateNoVerifyAlg = -14,
    StateLowerThanOutdated = -16,
    StateNotSupported = -17,
    StateInTransientState = -18,
    StateConcurrentStChg = -19,
    StateOutdateWoConn = -21,
}

impl From<StateRv> for RetCode {
    fn from(rv: StateRv) -> Self {
        match rv {
            StateRv::NothingToDo => RetCode::StateNothingToDo,
            StateRv::Success => RetCode::StateSuccess,
            StateRv::TwoPrimaries => RetCode::StateTwoPrimaries,
            StateRv::CwFailedByPeer => RetCode::StateCwFailedByPeer,
            StateRv::NoUpToDateDisk => RetCode::StateNoUpToDateDisk,
            StateRv::PrimaryNop => RetCode::StatePrimaryNop,
            StateRv::DeviceInUse => RetCode::StateDeviceInUse,
            StateRv::NeedConnection => RetCode::StateNeedConnection,
            StateRv::UnknownError => RetCode::StateUnknownError,
            StateRv::NoLocalDisk => RetCode::StateNoLocalDisk,
            StateRv::NoRemoteDisk => RetCode::StateNoRemoteDisk,
            StateRv::ConnectedOutdates => RetCode::StateConnectedOutdates,
            StateRv::ResyncRunning => RetCode::StateResyncRunning,
            StateRv::AlreadyStandAlone => RetCode::StateAlreadyStandAlone,
            StateRv::IsDiskless => RetCode::StateIsDiskless,
            StateRv::NoNetConfig => RetCode::StateNoNetConfig,
            StateRv::NoVerifyAlg => RetCode::StateNoVerifyAlg,
            StateRv::LowerThanOutdated => RetCode::StateLowerThanOutdated,
            StateRv::NotSupported => RetCode::StateNotSupported,
            StateRv::InTransientState => RetCode::StateInTransientState,
            StateRv::ConcurrentStChg => RetCode::StateConcurrentStChg,
            StateRv::OutdateWoConn => RetCode::StateOutdateWoConn,
        }
    }
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
        assert_eq!(RetCode::NoDisk.code(), 138);
        assert_eq!(RetCode::LocalAddr.code(), 102);
        assert_eq!(RetCode::PeerAddr.code(), 103);
        assert_eq!(RetCode::NetConfigured.code(), 125);
        assert_eq!(RetCode::ResizeResync.code(), 130);
        assert_eq!(RetCode::NoPrimary.code(), 131);
        assert_eq!(RetCode::NeedApv93.code(), 153);
        assert_eq!(RetCode::NeedApv100.code(), 163);
        assert_eq!(RetCode::MdLayoutConnected.code(), 166);
        assert_eq!(RetCode::MdLayoutTooBig.code(), 167);
        assert_eq!(RetCode::MdLayoutTooSmall.code(), 168);
        assert_eq!(RetCode::MdLayoutNoFit.code(), 169);
        assert_eq!(RetCode::Connected.code(), 151);
        assert_eq!(RetCode::IntegrityAlg.code(), 141);
        assert_eq!(RetCode::CsumsAlg.code(), 144);
        assert_eq!(RetCode::VerifyAlg.code(), 146);
        for n in -30..=3 {
            let rv = StateRv::from_peer(n);
            assert_eq!(RetCode::from(rv).code(), rv as i32);
        }
    }
}
