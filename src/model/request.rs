// SPDX-License-Identifier: GPL-2.0
//! The life of a replicated write: which acknowledgement the writer asks for, which the peer
//! owes, and what each one does to the write on the Primary, by replication protocol.
//!
//! - Protocol A: the write is done for the peer once sent; the peer sends no ack.
//! - Protocol B: done on P_RECV_ACK (the peer has the data in memory).
//! - Protocol C: done on P_WRITE_ACK (the peer wrote it); a P_RECV_ACK releases nothing.
//! - P_NEG_ACK, in any protocol: the peer failed to write it; the write is done for the upper
//!   layer, its blocks out of sync with the peer.
//!
//! Where a request goes ([`paths`]): to the backing disk, to the peer, or both; a Diskless
//! Primary serves everything through its peer. While Ahead of its peer (`on-congestion
//! pull-ahead`, when [`congestion`] finds the link congested) a write goes to the backing disk
//! alone, and the peer is told its blocks are out of sync (P_OUT_OF_SYNC).
//!
//! The epochs the writes are grouped in, and the barrier acks that release them, are in
//! [`crate::wire::tl`]. C counterpart: the RQ_NET_* transitions of __req_mod() (drbd_req.c)
//! and the dp_flags of drbd_send_dblock() / receive_Data().

use crate::model::state::{ConnState, DevState, DiskState};
use crate::wire::packet::{
    DP_SEND_RECEIVE_ACK, DP_SEND_WRITE_ACK, DRBD_PROT_A, DRBD_PROT_B, DRBD_PROT_C, P_NEG_ACK,
    P_RECV_ACK, P_WRITE_ACK,
};

/// The `dp_flags` a P_DATA of `protocol` carries to ask for its ack (protocol 100 and later;
/// before, the peer knows from its own configuration).
pub(crate) fn ack_flags(protocol: u32, agreed_version: u32) -> u32 {
    if agreed_version < 100 {
        return 0;
    }
    match protocol {
        DRBD_PROT_C => DP_SEND_WRITE_ACK,
        DRBD_PROT_B => DP_SEND_RECEIVE_ACK,
        _ => 0,
    }
}

/// The acks a peer write owes its writer: (P_WRITE_ACK once written, P_RECV_ACK at once), from
/// its `dp_flags` (protocol 100 and later) or the connection's protocol (before).
pub(crate) fn acks_owed(dp_flags: u32, protocol: u32, agreed_version: u32) -> (bool, bool) {
    if agreed_version >= 100 {
        (
            dp_flags & DP_SEND_WRITE_ACK != 0,
            dp_flags & DP_SEND_RECEIVE_ACK != 0,
        )
    } else {
        (protocol == DRBD_PROT_C, protocol == DRBD_PROT_B)
    }
}

/// What an event does to a write of ours in the transfer log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Effect {
    /// Nothing yet (a P_RECV_ACK of protocol C; the send of protocol B or C).
    Nothing,
    /// The write is done for the peer: its hold on the upper layer goes, its epoch closes.
    Done,
    /// Done as well, but the peer does not have the data: its blocks are out of sync.
    DoneOutOfSync,
}

/// The event of a write of ours: its send (`None`), or the peer's ack packet `cmd`.
pub(crate) fn on_event(protocol: u32, cmd: Option<u16>) -> Effect {
    match (protocol, cmd) {
        (_, Some(P_NEG_ACK)) => Effect::DoneOutOfSync,
        (DRBD_PROT_A, None) => Effect::Done,
        (DRBD_PROT_C, Some(P_RECV_ACK)) => Effect::Nothing,
        (_, Some(P_RECV_ACK | P_WRITE_ACK)) => Effect::Done,
        _ => Effect::Nothing,
    }
}

/// What a request does to the disks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Need {
    Read,
    /// A write, discard or zeroing.
    Write,
}

/// Where a request is served: the backing disk, the peer, or both (a write).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Paths {
    pub(crate) local: bool,
    pub(crate) remote: bool,
    /// A write not sent to the peer, whose blocks the peer is told are out of sync
    /// (drbd_should_send_out_of_sync(): while Ahead).
    pub(crate) out_of_sync: bool,
}

/// drbd_send_and_submit()'s choice for a request while the device is in state `s`, with a disk
/// attached (`attached`) and a connection to send on (`linked`). A read goes to the backing
/// disk if its data are good there (drbd_may_do_local_read(): UpToDate, or Inconsistent with
/// the blocks in sync, `in_sync` being asked only then), else to an UpToDate peer. A write goes
/// to the backing disk if attached and not Failed (being detached after an I/O error), and to
/// the peer if it has a disk (drbd-rs replicates to a
/// peer of any disk state from Inconsistent up, as it did before this choice existed; C
/// restricts that to UpToDate peers and resyncs, and sends P_OUT_OF_SYNC otherwise). Neither:
/// the request fails ("neither local nor remote data").
pub(crate) fn paths(
    s: &DevState,
    need: Need,
    attached: bool,
    linked: bool,
    in_sync: impl FnOnce() -> bool,
) -> Paths {
    let connected = linked && s.conn >= ConnState::Connected;
    match need {
        Need::Read => {
            let local = attached
                && match s.disk {
                    DiskState::UpToDate => true,
                    DiskState::Inconsistent => in_sync(),
                    _ => false,
                };
            Paths {
                local,
                remote: !local && connected && s.pdsk >= DiskState::UpToDate,
                out_of_sync: false,
            }
        }
        Need::Write => {
            let ahead = s.conn == ConnState::Ahead;
            Paths {
                local: attached && s.disk != DiskState::Failed,
                remote: connected && s.pdsk >= DiskState::Inconsistent && !ahead,
                out_of_sync: connected && ahead,
            }
        }
    }
}

/// `on-congestion`: what a Primary does when its writes outrun the link (C: enum
/// drbd_on_congestion).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OnCongestion {
    /// Writes wait for the link.
    Block,
    /// Writes go on locally, Ahead of the peer, which is resynced once the link is idle.
    PullAhead,
    /// The connection is dropped.
    Disconnect,
}

impl OnCongestion {
    /// From its netlink value (OC_BLOCK, OC_PULL_AHEAD, OC_DISCONNECT).
    pub(crate) fn from_u32(v: u32) -> Self {
        match v {
            1 => Self::PullAhead,
            2 => Self::Disconnect,
            _ => Self::Block,
        }
    }
}

/// The congestion thresholds of the net options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CongestionConf {
    pub(crate) on: OnCongestion,
    /// `congestion-fill`: sectors in flight to the peer (0: not checked).
    pub(crate) fill: u32,
    /// `congestion-extents`: activity log extents with writes in flight.
    pub(crate) extents: u32,
}

/// Which thresholds a write found reached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Congestion {
    pub(crate) fill: bool,
    pub(crate) extents: bool,
}

/// maybe_pull_ahead(): whether a write to a device in state `s`, with `in_flight` sectors sent
/// to the peer and not yet on its disk (their barrier not acknowledged: C's `ap_in_flight`)
/// and `al_in_use` activity log extents with writes in flight, finds the link congested, under
/// `conf` and the agreed protocol version `apv` (96 and later know Ahead/Behind). Only an
/// UpToDate disk can pull ahead; drbd-rs does so only from Connected (not during a resync).
pub(crate) fn congestion(
    conf: &CongestionConf,
    apv: u32,
    s: &DevState,
    in_flight: u64,
    al_in_use: u32,
) -> Option<Congestion> {
    let watched = match conf.on {
        OnCongestion::Block => false,
        OnCongestion::PullAhead => s.conn == ConnState::Connected,
        OnCongestion::Disconnect => s.conn >= ConnState::Connected,
    };
    if !watched || apv < 96 || s.disk != DiskState::UpToDate {
        return None;
    }
    let c = Congestion {
        fill: conf.fill != 0 && in_flight >= u64::from(conf.fill),
        extents: al_in_use >= conf.extents,
    };
    (c.fill || c.extents).then_some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_completes_a_write_by_protocol() {
        use Effect::*;
        // (protocol, sent, P_RECV_ACK, P_WRITE_ACK, P_NEG_ACK)
        for (p, sent, recv, write) in [
            (DRBD_PROT_A, Done, Done, Done),
            (DRBD_PROT_B, Nothing, Done, Done),
            (DRBD_PROT_C, Nothing, Nothing, Done),
        ] {
            assert_eq!(on_event(p, None), sent);
            assert_eq!(on_event(p, Some(P_RECV_ACK)), recv);
            assert_eq!(on_event(p, Some(P_WRITE_ACK)), write);
            assert_eq!(on_event(p, Some(P_NEG_ACK)), DoneOutOfSync);
        }
    }

    #[test]
    fn ack_flags_and_the_acks_owed_agree() {
        for p in [DRBD_PROT_A, DRBD_PROT_B, DRBD_PROT_C] {
            for apv in [86, 96, 100, 101] {
                let owed = acks_owed(ack_flags(p, apv), p, apv);
                assert_eq!(owed, (p == DRBD_PROT_C, p == DRBD_PROT_B), "{p} {apv}");
            }
        }
        // from 100 on the writer's flags count, not the peer's protocol
        assert_eq!(
            acks_owed(DP_SEND_WRITE_ACK, DRBD_PROT_A, 101),
            (true, false)
        );
        assert_eq!(acks_owed(0, DRBD_PROT_C, 101), (false, false));
    }

    fn state(disk: DiskState, pdsk: DiskState, conn: ConnState) -> DevState {
        DevState {
            disk,
            pdsk,
            conn,
            ..DevState::new_minor()
        }
    }

    #[test]
    fn reads_go_where_the_good_data_are() {
        use ConnState::*;
        use DiskState::*;
        let p = |s: &DevState, attached, linked, in_sync| {
            let Paths { local, remote, .. } = paths(s, Need::Read, attached, linked, || in_sync);
            (local, remote)
        };
        let up = state(UpToDate, UpToDate, Connected);
        assert_eq!(p(&up, true, true, false), (true, false));
        // a Diskless Primary reads from its peer, if the peer is UpToDate
        let diskless = state(Diskless, UpToDate, Connected);
        assert_eq!(p(&diskless, false, true, true), (false, true));
        let diskless_outdated_peer = state(Diskless, Inconsistent, Connected);
        assert_eq!(
            p(&diskless_outdated_peer, false, true, true),
            (false, false)
        );
        // a SyncTarget reads blocks not yet resynced from the SyncSource
        let target = state(Inconsistent, UpToDate, SyncTarget);
        assert_eq!(p(&target, true, true, true), (true, false));
        assert_eq!(p(&target, true, true, false), (false, true));
        // an Outdated disk alone has no good data (C's drbd_may_do_local_read())
        let outdated = state(Outdated, Unknown, StandAlone);
        assert_eq!(p(&outdated, true, false, true), (false, false));
        // no connection to send on
        assert_eq!(p(&diskless, false, false, true), (false, false));
    }

    #[test]
    fn writes_go_to_every_disk_there_is() {
        use ConnState::*;
        use DiskState::*;
        let p = |s: &DevState, attached, linked| {
            let Paths { local, remote, .. } = paths(s, Need::Write, attached, linked, || true);
            (local, remote)
        };
        assert_eq!(
            p(&state(UpToDate, UpToDate, Connected), true, true),
            (true, true)
        );
        assert_eq!(
            p(&state(Diskless, UpToDate, Connected), false, true),
            (false, true)
        );
        assert_eq!(
            p(&state(UpToDate, Diskless, Connected), true, true),
            (true, false)
        );
        assert_eq!(
            p(&state(UpToDate, Inconsistent, SyncSource), true, true),
            (true, true)
        );
        assert_eq!(
            p(&state(UpToDate, Unknown, StandAlone), true, false),
            (true, false)
        );
        assert_eq!(
            p(&state(Diskless, Unknown, StandAlone), false, false),
            (false, false)
        );
        // a failed disk is being detached: no more writes for it
        assert_eq!(
            p(&state(Failed, UpToDate, Connected), true, true),
            (false, true)
        );
    }

    #[test]
    fn ahead_writes_stay_local_and_tell_the_peer() {
        use ConnState::*;
        use DiskState::*;
        let ahead = state(UpToDate, Consistent, Ahead);
        let p = paths(&ahead, Need::Write, true, true, || true);
        assert_eq!(
            p,
            Paths {
                local: true,
                remote: false,
                out_of_sync: true
            }
        );
        // reads stay local: the peer's copy is behind
        let r = paths(&ahead, Need::Read, true, true, || true);
        assert!(r.local && !r.remote && !r.out_of_sync);
        // the Behind node still replicates its writes (two Primaries)
        let behind = state(Outdated, UpToDate, Behind);
        assert!(paths(&behind, Need::Write, true, true, || true).remote);
        let connected = state(UpToDate, UpToDate, Connected);
        assert!(!paths(&connected, Need::Write, true, true, || true).out_of_sync);
    }

    #[test]
    fn congestion_by_fill_and_by_extents() {
        use ConnState::*;
        use DiskState::*;
        let conf = CongestionConf {
            on: OnCongestion::PullAhead,
            fill: 2048,
            extents: 100,
        };
        let up = state(UpToDate, UpToDate, Connected);
        assert_eq!(congestion(&conf, 101, &up, 2047, 99), None);
        let fill = Congestion {
            fill: true,
            extents: false,
        };
        assert_eq!(congestion(&conf, 101, &up, 2048, 99), Some(fill));
        let both = Congestion {
            fill: true,
            extents: true,
        };
        assert_eq!(congestion(&conf, 101, &up, 4096, 100), Some(both));
        // congestion-fill 0 is not checked
        let no_fill = CongestionConf { fill: 0, ..conf };
        assert_eq!(congestion(&no_fill, 101, &up, 1 << 30, 0), None);
        // block, an old peer, a disk that is not UpToDate, already Ahead, in a resync
        let block = CongestionConf {
            on: OnCongestion::Block,
            ..conf
        };
        assert_eq!(congestion(&block, 101, &up, 4096, 100), None);
        assert_eq!(congestion(&conf, 95, &up, 4096, 100), None);
        let incons = state(Inconsistent, UpToDate, Connected);
        assert_eq!(congestion(&conf, 101, &incons, 4096, 100), None);
        let ahead = state(UpToDate, Consistent, Ahead);
        assert_eq!(congestion(&conf, 101, &ahead, 4096, 100), None);
        let source = state(UpToDate, Inconsistent, SyncSource);
        assert_eq!(congestion(&conf, 101, &source, 4096, 100), None);
        // disconnect watches a resync too, and Ahead
        let disconnect = CongestionConf {
            on: OnCongestion::Disconnect,
            ..conf
        };
        assert_eq!(congestion(&disconnect, 101, &source, 4096, 0), Some(fill));
        assert_eq!(OnCongestion::from_u32(1), OnCongestion::PullAhead);
        assert_eq!(OnCongestion::from_u32(2), OnCongestion::Disconnect);
        assert_eq!(OnCongestion::from_u32(7), OnCongestion::Block);
    }
}
