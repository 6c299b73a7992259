// SPDX-License-Identifier: GPL-2.0
//! Usermode helpers: which the module calls, with what arguments and environment, and what the
//! fence-peer helper's exit code means.
//!
//! C counterpart: drbd_khelper(), conn_khelper(), setup_khelper_env() and
//! conn_try_outdate_peer() of drbd_nl.c. The helper (the `usermode_helper` parameter,
//! `/sbin/drbdadm` by default) runs the handler of the resource's `handlers` section.

use super::state::{DevState, DiskState, Role};
use crate::genl::addr::{Endpoint, AF_INET, AF_INET6};
use core::fmt;

/// A helper command: the first argument of the usermode helper.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Helper {
    /// The connection to a Primary's peer is lost, or an unconnected node is to be promoted:
    /// the peer is to be outdated (resource-wide: its argument is the resource name).
    FencePeer,
    /// Before a SyncTarget's data become Inconsistent (e.g. to take a snapshot).
    BeforeResyncTarget,
    /// Before a SyncSource begins.
    BeforeResyncSource,
    /// A SyncTarget finished its resync.
    AfterResyncTarget,
    /// An online verify found blocks out of sync.
    OutOfSync,
    /// A SyncSource with a fencing policy brought every volume back in sync: the constraint
    /// fence-peer placed may go (resource-wide).
    UnfencePeer,
    /// The handshake found a split brain (first of all, resolved or not).
    InitialSplitBrain,
    /// A split brain the after-sb policies did not resolve.
    SplitBrain,
    /// call-pri-lost-after-sb: the Primary whose data the policy discards.
    PriLostAfterSb,
    /// A Primary whose data are to be discarded (rr-conflict call-pri-lost).
    PriLost,
    /// `on-io-error call-local-io-error`: the backing disk failed, it is being detached.
    LocalIoError,
    /// A Primary lost access to UpToDate data: neither its disk nor its peer's has them.
    PriOnInconDegr,
}

impl Helper {
    /// The command as drbdadm knows it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Helper::FencePeer => "fence-peer",
            Helper::BeforeResyncTarget => "before-resync-target",
            Helper::BeforeResyncSource => "before-resync-source",
            Helper::AfterResyncTarget => "after-resync-target",
            Helper::OutOfSync => "out-of-sync",
            Helper::UnfencePeer => "unfence-peer",
            Helper::InitialSplitBrain => "initial-split-brain",
            Helper::SplitBrain => "split-brain",
            Helper::PriLostAfterSb => "pri-lost-after-sb",
            Helper::PriLost => "pri-lost",
            Helper::LocalIoError => "local-io-error",
            Helper::PriOnInconDegr => "pri-on-incon-degr",
        }
    }
}

/// after_state_ch(): whether the change from `os` to `ns` makes a Primary lose access to
/// UpToDate data, its own and its peer's (the pri-on-incon-degr helper is called then).
pub(crate) fn degraded_primary(os: &DevState, ns: &DevState) -> bool {
    let degraded = |s: &DevState| {
        s.role == Role::Primary && s.disk < DiskState::UpToDate && s.pdsk < DiskState::UpToDate
    };
    !degraded(os) && degraded(ns)
}

/// The exit code in the wait status call_usermodehelper() returns (C: `(ret >> 8) & 0xff`).
pub(crate) fn exit_code(status: i32) -> u8 {
    ((status >> 8) & 0xff) as u8
}

/// What a resync helper's status means (drbd_start_resync()): `true` to go on; a non-zero exit
/// drops the connection, except `before-resync-source`'s 3 ("Old userland tools?"). Errors
/// of the call itself (a negative status) are ignored, as C ignores them.
pub(crate) fn resync_may_start(helper: Helper, status: i32) -> bool {
    if status < 0 {
        return true;
    }
    match exit_code(status) {
        0 => true,
        3 => helper == Helper::BeforeResyncSource,
        _ => false,
    }
}

/// `DRBD_PEER_AF`: the peer's address family as drbdadm names it.
pub(crate) fn peer_af(peer: &Endpoint) -> &'static str {
    match peer.family() {
        AF_INET6 => "ipv6",
        AF_INET => "ipv4",
        _ => "ssocks",
    }
}

/// `DRBD_PEER_ADDRESS`: the peer's address without port, as `%pI4` and `%pI6` print it
/// (IPv6 in eight groups of four hex digits).
pub(crate) struct PeerAddress<'a>(pub(crate) &'a Endpoint);

impl fmt::Display for PeerAddress<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0.as_bytes();
        if self.0.family() != AF_INET6 {
            return write!(f, "{}.{}.{}.{}", b[4], b[5], b[6], b[7]);
        }
        for g in 0..8 {
            if g > 0 {
                f.write_str(":")?;
            }
            write!(f, "{:02x}{:02x}", b[8 + 2 * g], b[9 + 2 * g])?;
        }
        Ok(())
    }
}

/// The disk options' `fencing` policy (`enum drbd_fencing_p`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Fencing {
    DontCare = 0,
    ResourceOnly = 1,
    ResourceAndStonith = 2,
}

impl Fencing {
    pub(crate) fn from_num(n: i64) -> Self {
        match n {
            1 => Fencing::ResourceOnly,
            2 => Fencing::ResourceAndStonith,
            _ => Fencing::DontCare,
        }
    }
}

/// What conn_try_outdate_peer() does before calling the fence-peer helper, from the highest
/// fencing policy of the volumes with at least a Consistent disk (`None`: no such volume).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FenceStart {
    /// "Not fencing peer, I'm not even Consistent myself.": the peer is not outdated.
    NotConsistent,
    /// `fencing dont-care`: the peer counts as outdated without a helper.
    DontCare,
    /// The helper is called.
    Call(Fencing),
}

pub(crate) fn fence_start(highest: Option<Fencing>) -> FenceStart {
    match highest {
        None => FenceStart::NotConsistent,
        Some(Fencing::DontCare) => FenceStart::DontCare,
        Some(fp) => FenceStart::Call(fp),
    }
}

/// drbd_resync_finished() of a SyncSource: under a fencing policy, once every volume is UpToDate
/// on both sides (`(disk, pdsk)` of each), the unfence-peer helper is called.
pub(crate) fn unfence(
    fp: Fencing,
    mut volumes: impl Iterator<Item = (DiskState, DiskState)>,
) -> bool {
    fp != Fencing::DontCare
        && volumes.all(|(disk, pdsk)| disk == DiskState::UpToDate && pdsk == DiskState::UpToDate)
}

/// The change the fence-peer helper's exit code asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fenced {
    /// The peer's disk is `pdsk` now (Inconsistent or Outdated).
    Peer(DiskState),
    /// The peer is Primary: our own disk is outdated.
    Myself,
    /// Nothing changes.
    Nothing,
}

/// The meaning of a fence-peer exit code (conn_try_outdate_peer()).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FenceOutcome {
    /// C's words for the exit code, logged as "fence-peer helper returned N (TEXT)".
    pub(crate) text: &'static str,
    pub(crate) change: Fenced,
    /// Exit code 7 without `resource-and-stonith`: C logs "fence-peer() = 7 && fencing !=
    /// Stonith !!!" and goes on.
    pub(crate) stonith_mismatch: bool,
}

/// The outcome of exit code `code` under policy `fp`, our best disk being `highest_disk`;
/// `None` for a code the helper must not return ("fence-peer helper broken, returned N"):
/// nothing changes, and I/O frozen by `resource-and-stonith` stays frozen.
pub(crate) fn fence_outcome(
    code: u8,
    fp: Fencing,
    highest_disk: DiskState,
) -> Option<FenceOutcome> {
    let (text, change) = match code {
        3 => (
            "peer is inconsistent or worse",
            Fenced::Peer(DiskState::Inconsistent),
        ),
        4 => ("peer was fenced", Fenced::Peer(DiskState::Outdated)),
        5 if highest_disk == DiskState::UpToDate => (
            "peer is unreachable, assumed to be dead",
            Fenced::Peer(DiskState::Outdated),
        ),
        5 => (
            "peer unreachable, doing nothing since disk != UpToDate",
            Fenced::Nothing,
        ),
        6 => ("peer is active", Fenced::Myself),
        7 => ("peer was stonithed", Fenced::Peer(DiskState::Outdated)),
        _ => return None,
    };
    Some(FenceOutcome {
        text,
        change,
        stonith_mismatch: code == 7 && fp != Fencing::ResourceAndStonith,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;
    use std::vec::Vec;

    #[test]
    fn a_primary_without_up_to_date_data_calls_pri_on_incon_degr() {
        use super::super::state::ConnState;
        use DiskState::*;
        let primary = DevState {
            role: Role::Primary,
            conn: ConnState::Connected,
            disk: UpToDate,
            pdsk: UpToDate,
            ..DevState::new_minor()
        };
        let st = |disk, pdsk| DevState {
            disk,
            pdsk,
            ..primary
        };
        // its disk fails while the peer is gone; the peer goes while its disk is Inconsistent
        assert!(degraded_primary(
            &st(UpToDate, Unknown),
            &st(Failed, Unknown)
        ));
        assert!(degraded_primary(
            &st(Inconsistent, UpToDate),
            &st(Inconsistent, Unknown)
        ));
        assert!(degraded_primary(
            &st(Diskless, UpToDate),
            &st(Diskless, Unknown)
        ));
        // once only, and not while either side has UpToDate data, nor for a Secondary
        assert!(!degraded_primary(
            &st(Failed, Unknown),
            &st(Diskless, Unknown)
        ));
        assert!(!degraded_primary(
            &st(UpToDate, UpToDate),
            &st(Failed, UpToDate)
        ));
        assert!(!degraded_primary(
            &st(UpToDate, UpToDate),
            &st(UpToDate, Unknown)
        ));
        let secondary = |disk, pdsk| DevState {
            role: Role::Secondary,
            ..st(disk, pdsk)
        };
        assert!(!degraded_primary(
            &secondary(Inconsistent, UpToDate),
            &secondary(Inconsistent, Unknown)
        ));
        assert_eq!(Helper::PriOnInconDegr.name(), "pri-on-incon-degr");
    }

    fn endpoint(family: u16, addr: &[u8]) -> Endpoint {
        let mut b = Vec::new();
        b.extend_from_slice(&family.to_ne_bytes());
        b.extend_from_slice(&7789u16.to_be_bytes());
        if family == AF_INET6 {
            b.extend_from_slice(&[0; 4]);
        }
        b.extend_from_slice(addr);
        b.resize(if family == AF_INET6 { 28 } else { 16 }, 0);
        Endpoint::parse(&b).unwrap()
    }

    #[test]
    fn environment() {
        let v4 = endpoint(AF_INET, &[10, 0, 0, 2]);
        assert_eq!(peer_af(&v4), "ipv4");
        assert_eq!(format!("{}", PeerAddress(&v4)), "10.0.0.2");
        let mut a = [0u8; 16];
        a[0] = 0xfd;
        a[14] = 0xab;
        a[15] = 2;
        let v6 = endpoint(AF_INET6, &a);
        assert_eq!(peer_af(&v6), "ipv6");
        assert_eq!(
            format!("{}", PeerAddress(&v6)),
            "fd00:0000:0000:0000:0000:0000:0000:ab02"
        );
        assert_eq!(Helper::FencePeer.name(), "fence-peer");
    }

    #[test]
    fn exit_codes() {
        assert_eq!(exit_code(4 << 8), 4);
        assert_eq!(exit_code(0x0105), 1);
        assert!(resync_may_start(Helper::BeforeResyncTarget, 0));
        assert!(resync_may_start(Helper::BeforeResyncTarget, -2)); // ENOENT: no helper
        assert!(!resync_may_start(Helper::BeforeResyncTarget, 1 << 8));
        assert!(!resync_may_start(Helper::BeforeResyncTarget, 3 << 8));
        assert!(resync_may_start(Helper::BeforeResyncSource, 3 << 8));
        assert!(!resync_may_start(Helper::BeforeResyncSource, 20 << 8));
    }

    #[test]
    fn fence_policy_and_exit_codes() {
        use DiskState::*;
        assert_eq!(fence_start(None), FenceStart::NotConsistent);
        assert_eq!(fence_start(Some(Fencing::DontCare)), FenceStart::DontCare);
        assert_eq!(
            fence_start(Some(Fencing::ResourceOnly)),
            FenceStart::Call(Fencing::ResourceOnly)
        );
        assert_eq!(Fencing::from_num(2), Fencing::ResourceAndStonith);

        let ro = Fencing::ResourceOnly;
        let o = |code, disk| fence_outcome(code, ro, disk).map(|o| o.change);
        assert_eq!(o(3, UpToDate), Some(Fenced::Peer(Inconsistent)));
        assert_eq!(o(4, Consistent), Some(Fenced::Peer(Outdated)));
        assert_eq!(o(5, UpToDate), Some(Fenced::Peer(Outdated)));
        assert_eq!(o(5, Consistent), Some(Fenced::Nothing));
        assert_eq!(o(6, UpToDate), Some(Fenced::Myself));
        assert_eq!(o(7, UpToDate), Some(Fenced::Peer(Outdated)));
        for broken in [0, 1, 2, 8, 255] {
            assert_eq!(fence_outcome(broken, ro, UpToDate), None);
        }
        assert!(fence_outcome(7, ro, UpToDate).unwrap().stonith_mismatch);
        assert!(
            !fence_outcome(7, Fencing::ResourceAndStonith, UpToDate)
                .unwrap()
                .stonith_mismatch
        );
        assert_eq!(
            fence_outcome(5, ro, UpToDate).unwrap().text,
            "peer is unreachable, assumed to be dead"
        );
    }

    #[test]
    fn unfence_once_all_in_sync() {
        use DiskState::*;
        let both = [(UpToDate, UpToDate), (UpToDate, UpToDate)];
        assert!(unfence(Fencing::ResourceOnly, both.into_iter()));
        assert!(unfence(Fencing::ResourceAndStonith, both.into_iter()));
        assert!(!unfence(Fencing::DontCare, both.into_iter()));
        let one_behind = [(UpToDate, UpToDate), (UpToDate, Inconsistent)];
        assert!(!unfence(Fencing::ResourceOnly, one_behind.into_iter()));
    }
}
