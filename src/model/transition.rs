// SPDX-License-Identifier: GPL-2.0
//! State transitions as the C module checks them: a requested state is sanitized
//! (sanitize_state()), then accepted or refused with C's `drbd_state_rv` by is_valid_state(),
//! is_valid_soft_transition() and is_valid_transition(), in the order _drbd_set_state() applies
//! them. Pure: the shell asks here and applies what comes back in one place.
//!
//! C counterpart: drbd_state.c. Not modelled (drbd-rs has no such states yet): D_NEGOTIATING
//! after a lost connection, verify, the suspend flags, and STATE_SENT.

use super::helper::Fenced;
use super::role::StateRv;
use super::state::{
    convert_peer_word, ConnState, DevState, DiskState, Role, CONN_MASK, DISK_MASK, PDSK_MASK,
    PEER_ISP_MASK, PEER_MASK,
};

/// What the checks know besides the two states.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Env {
    /// `allow-two-primaries` (a net configuration exists and allows it).
    pub(crate) two_primaries: bool,
    /// `fencing resource-only` or `resource-and-stonith` (FP_RESOURCE and above).
    pub(crate) fencing_resource: bool,
    /// `/dev/drbdN` is open.
    pub(crate) open: bool,
    /// A `verify-alg` is configured, and the protocol version agreed with the peer (0 without
    /// a connection).
    pub(crate) verify_alg: bool,
    pub(crate) protocol: u32,
}

/// sanitize_state(): the implied changes of a requested state `ns` (coming from `os`): no peer
/// role or disk without a connection, resync states only with the disks they need,
/// Consistent/Outdated resolved when connected, paused resyncs.
pub(crate) fn sanitize(ns: DevState) -> DevState {
    use ConnState::*;
    use DiskState::*;
    let mut ns = ns;
    if ns.conn < Connected {
        ns.peer_isp = false;
        ns.peer = Role::Unknown;
        if ns.pdsk > Unknown || ns.pdsk < Inconsistent {
            ns.pdsk = Unknown;
        }
    }
    if ns.conn == StandAlone && ns.disk == Diskless && ns.role == Role::Secondary {
        ns.aftr_isp = false;
    }
    // a resync ends when a disk fails or goes
    if ns.conn > Connected && (ns.disk <= Failed || ns.pdsk <= Failed) {
        ns.conn = Connected;
    }
    if ns.conn >= Connected && ns.conn < Ahead {
        for d in [&mut ns.disk, &mut ns.pdsk] {
            if matches!(*d, Consistent | Outdated) {
                *d = UpToDate;
            }
        }
    }
    let (disk, pdsk) = match ns.conn {
        WfBitMapT | PausedSyncT | StartingSyncT | WfSyncUuid | Behind => {
            (Inconsistent..=Outdated, UpToDate..=UpToDate)
        }
        VerifyS | VerifyT => (UpToDate..=UpToDate, UpToDate..=UpToDate),
        Connected => (Diskless..=UpToDate, Diskless..=UpToDate),
        WfBitMapS | PausedSyncS | StartingSyncS | Ahead => {
            (UpToDate..=UpToDate, Inconsistent..=Consistent)
        }
        SyncTarget => (Inconsistent..=Inconsistent, UpToDate..=UpToDate),
        SyncSource => (UpToDate..=UpToDate, Inconsistent..=Inconsistent),
        _ => (Diskless..=UpToDate, Inconsistent..=Unknown),
    };
    ns.disk = ns.disk.clamp(*disk.start(), *disk.end());
    ns.pdsk = ns.pdsk.clamp(*pdsk.start(), *pdsk.end());
    let paused = ns.aftr_isp || ns.peer_isp || ns.user_isp;
    ns.conn = match (ns.conn, paused) {
        (SyncSource, true) => PausedSyncS,
        (SyncTarget, true) => PausedSyncT,
        (PausedSyncS, false) => SyncSource,
        (PausedSyncT, false) => SyncTarget,
        (c, _) => c,
    };
    ns
}

/// is_valid_state(): whether `ns` may be entered by a request (the first rule that applies,
/// in C's order).
pub(crate) fn is_valid_state(ns: &DevState, env: &Env) -> StateRv {
    use ConnState::*;
    use DiskState::*;
    let primary = ns.role == Role::Primary;
    let rules = [
        (
            primary && ns.peer == Role::Primary && !env.two_primaries,
            StateRv::TwoPrimaries,
        ),
        (ns.role == Role::Secondary && env.open, StateRv::DeviceInUse),
        (
            primary && ns.conn < Connected && ns.disk < UpToDate,
            StateRv::NoUpToDateDisk,
        ),
        (
            env.fencing_resource && primary && ns.conn < Connected && ns.pdsk >= Unknown,
            StateRv::PrimaryNop,
        ),
        (
            primary && ns.disk <= Inconsistent && ns.pdsk <= Inconsistent,
            StateRv::NoUpToDateDisk,
        ),
        (
            ns.conn > Connected && ns.disk < Inconsistent,
            StateRv::NoLocalDisk,
        ),
        (
            ns.conn > Connected && ns.pdsk < Inconsistent,
            StateRv::NoRemoteDisk,
        ),
        (
            ns.conn > Connected && ns.disk < UpToDate && ns.pdsk < UpToDate,
            StateRv::NoUpToDateDisk,
        ),
        (
            matches!(ns.conn, Connected | WfBitMapS | SyncSource | PausedSyncS)
                && ns.disk == Outdated,
            StateRv::ConnectedOutdates,
        ),
        (
            matches!(ns.conn, VerifyS | VerifyT) && !env.verify_alg,
            StateRv::NoVerifyAlg,
        ),
        (
            matches!(ns.conn, VerifyS | VerifyT) && env.protocol < 88,
            StateRv::NotSupported,
        ),
        (
            primary && ns.disk < UpToDate && ns.pdsk < UpToDate,
            StateRv::NoUpToDateDisk,
        ),
        (
            matches!(ns.conn, StartingSyncS | StartingSyncT) && ns.pdsk == Unknown,
            StateRv::NeedConnection,
        ),
        (
            ns.conn >= Connected && ns.pdsk == Unknown,
            StateRv::ConnectedOutdates,
        ),
    ];
    first(&rules)
}

/// The result of the first rule that applies; success if none does.
fn first(rules: &[(bool, StateRv)]) -> StateRv {
    rules
        .iter()
        .find(|(applies, _)| *applies)
        .map_or(StateRv::Success, |&(_, rv)| rv)
}

/// is_valid_soft_transition(): the changes a request may not make (a fact, CS_HARD, may).
pub(crate) fn is_valid_soft_transition(os: &DevState, ns: &DevState) -> StateRv {
    use ConnState::*;
    use DiskState::*;
    // C checks them all and keeps the last that applies
    let rules = [
        (
            matches!(ns.conn, StartingSyncT | StartingSyncS) && os.conn > Connected,
            StateRv::ResyncRunning,
        ),
        (
            ns.conn == Disconnecting && os.conn == StandAlone,
            StateRv::AlreadyStandAlone,
        ),
        (
            ns.disk > Attaching && os.disk == Diskless,
            StateRv::IsDiskless,
        ),
        (
            ns.conn == WfConnection && os.conn < Unconnected,
            StateRv::NoNetConfig,
        ),
        (
            ns.disk == Outdated && os.disk < Outdated && os.disk != Attaching,
            StateRv::LowerThanOutdated,
        ),
        (
            ns.conn == Disconnecting && os.conn == Unconnected,
            StateRv::InTransientState,
        ),
        (
            os.role != Role::Primary
                && ns.role == Role::Primary
                && ns.pdsk == UpToDate
                && ns.disk != UpToDate
                && ns.disk != Diskless
                && (ns.conn <= WfSyncUuid || ns.conn != os.conn),
            StateRv::InTransientState,
        ),
        (
            matches!(ns.conn, VerifyS | VerifyT) && os.conn < Connected,
            StateRv::NeedConnection,
        ),
        (
            matches!(ns.conn, VerifyS | VerifyT) && ns.conn != os.conn && os.conn > Connected,
            StateRv::ResyncRunning,
        ),
        (
            matches!(ns.conn, StartingSyncS | StartingSyncT) && os.conn < Connected,
            StateRv::NeedConnection,
        ),
        (
            matches!(ns.conn, SyncTarget | SyncSource) && os.conn < WfReportParams,
            StateRv::NeedConnection,
        ),
        (
            ns.conn == Disconnecting
                && ns.pdsk == Outdated
                && os.conn < Connected
                && os.pdsk > Outdated,
            StateRv::OutdateWoConn,
        ),
    ];
    rules
        .iter()
        .rev()
        .find(|(applies, _)| *applies)
        .map_or(StateRv::Success, |&(_, rv)| rv)
}

/// is_valid_conn_transition() and is_valid_transition(): what even a fact cannot change.
pub(crate) fn is_valid_transition(os: &DevState, ns: &DevState) -> StateRv {
    use ConnState::*;
    let (oc, nc) = (os.conn, ns.conn);
    if ns.disk == DiskState::Failed && os.disk == DiskState::Diskless {
        return StateRv::IsDiskless;
    }
    let rules = [
        (oc == nc, StateRv::NothingToDo),
        (
            oc == StandAlone && nc == Disconnecting,
            StateRv::AlreadyStandAlone,
        ),
        (
            oc == StandAlone && nc != Unconnected,
            StateRv::NeedConnection,
        ),
        (
            oc < WfReportParams && nc >= Connected,
            StateRv::NeedConnection,
        ),
        (
            (Timeout..=TearDown).contains(&oc) && nc != Unconnected && nc != Disconnecting,
            StateRv::InTransientState,
        ),
        (
            oc == Disconnecting && nc != StandAlone,
            StateRv::InTransientState,
        ),
    ];
    first(&rules)
}

/// _drbd_set_state()'s checks of a requested change from `os` to `ns` (sanitized here):
/// the state to enter, or C's refusal. `hard` (CS_HARD) skips the request checks.
pub(crate) fn change(
    os: DevState,
    ns: DevState,
    env: &Env,
    hard: bool,
) -> Result<DevState, StateRv> {
    let ns = sanitize(ns);
    if ns == os {
        return Err(StateRv::NothingToDo);
    }
    let rv = is_valid_transition(&os, &ns);
    if !rv.is_success() {
        return Err(rv);
    }
    if !hard {
        let mut rv = is_valid_state(&ns, env);
        // a state that was invalid already may stay so (as long as the change is allowed)
        if rv == StateRv::Success || is_valid_state(&os, env) == rv {
            rv = is_valid_soft_transition(&os, &ns);
        }
        if rv != StateRv::Success {
            return Err(rv);
        }
    }
    Ok(ns)
}

/// The fields of our state a peer's state change request may set: its role (our `peer`), its
/// disk (our `pdsk`), the connection and its resync pause flag; of our own, only the disk.
/// (C lets the peer ask for anything valid; no C peer asks for more than this.)
const PEER_CHANGEABLE: u32 = PEER_MASK | CONN_MASK | PDSK_MASK | PEER_ISP_MASK | DISK_MASK;

/// receive_req_state() / receive_req_conn_state(): a P_STATE_CHG_REQ or P_CONN_ST_CHG_REQ
/// with the peer's `mask` and `val` (its view; converted here) applied to our state `os`.
/// The state to enter, or the refusal to reply with.
pub(crate) fn peer_request(
    os: DevState,
    mask: u32,
    val: u32,
    env: &Env,
) -> Result<DevState, StateRv> {
    let (mask, val) = (convert_peer_word(mask), convert_peer_word(val));
    if mask & !PEER_CHANGEABLE != 0 {
        return Err(StateRv::CwFailedByPeer);
    }
    let ns = os.masked(mask, val).ok_or(StateRv::UnknownError)?;
    // of our own disk, a peer may only make us Outdated
    if ns.disk != os.disk && ns.disk != DiskState::Outdated {
        return Err(StateRv::CwFailedByPeer);
    }
    match change(os, ns, env, false) {
        Err(StateRv::NothingToDo) => Ok(os),
        r => r,
    }
}

/// The volume's state once the connection's state is `cs` (the receiver thread moves the
/// connection): a connection below Connected takes every volume with it; a Connected one leaves
/// each volume's own state (Connected, or a resync) alone.
pub(crate) fn follow_connection(s: DevState, cs: ConnState) -> DevState {
    if cs < ConnState::Connected || s.conn < ConnState::Connected {
        sanitize(DevState { conn: cs, ..s })
    } else {
        s
    }
}

/// Which disk goes Outdated with a graceful disconnect (conn_try_disconnect()).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outdate {
    Neither,
    Ours,
    Peers,
}

/// What happened to a volume, as the shell learns it; [`next`] makes the state it leads to.
/// (C: the NS() changes that the receiver, the resync and the admin commands request with
/// CS_HARD, each sanitized.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fact {
    /// The connection is in `cs` now (see [`follow_connection`]).
    Conn(ConnState),
    /// The handshake, or the peer's later report, settled the peer's role and disk and the
    /// volume's connection state (Connected, or a resync about to start).
    Peer {
        conn: ConnState,
        peer: Role,
        pdsk: DiskState,
    },
    /// The volume's own connection state moves with the resync (WFSyncUUID, SyncSource,
    /// SyncTarget); the disks follow (sanitize).
    Resync(ConnState),
    /// The resync ended, on its `target` or on its source; `ok`: every block is in sync.
    ResyncDone { target: bool, ok: bool },
    /// Both disks declared in sync without a resync ("skip initial sync").
    InSync,
    /// Our disk is in `disk` now (Attaching, Failed, Inconsistent by `invalidate`).
    Disk(DiskState),
    /// An attach ended: our disk, and what the meta data tell of the peer's.
    Attached { disk: DiskState, pdsk: DiskState },
    /// The disk went: Diskless, and without a connection the peer's disk unknown to us.
    Detached,
    /// `disconnect`: the connection goes Disconnecting, outdating one disk or neither.
    Disconnecting(Outdate),
    /// The fence-peer helper outdated the unreachable peer, or told us to outdate ourselves.
    Fenced(Fenced),
    /// Our writes outran the link (`on-congestion pull-ahead`): Ahead, the peer's disk no
    /// longer UpToDate (sanitize: Consistent) until the resync that follows.
    Ahead,
    /// `pause-sync`/`resume-sync` here (`user_isp`), the peer's report of its own pause
    /// (`peer_isp`: its `user_isp` or `aftr_isp`), or a `resync-after` dependency resyncing
    /// (`aftr_isp`); a resync pauses while any is set.
    Pause {
        user: Option<bool>,
        peer: Option<bool>,
        after: Option<bool>,
    },
}

/// The state `fact` leads to from `s`, sanitized.
pub(crate) fn next(s: DevState, fact: Fact) -> DevState {
    use DiskState::{Diskless, Inconsistent, Unknown, UpToDate};
    let ns = match fact {
        Fact::Conn(cs) => return follow_connection(s, cs),
        Fact::Peer { conn, peer, pdsk } => DevState {
            conn,
            peer,
            pdsk,
            ..s
        },
        Fact::Resync(conn) => DevState { conn, ..s },
        Fact::Ahead => DevState {
            conn: ConnState::Ahead,
            ..s
        },
        Fact::ResyncDone { target, ok } => {
            let (disk, pdsk) = match (target, ok) {
                (true, true) => (UpToDate, UpToDate),
                (true, false) => (Inconsistent, UpToDate),
                (false, true) => (s.disk, UpToDate),
                (false, false) => (s.disk, Inconsistent),
            };
            DevState {
                conn: ConnState::Connected,
                disk,
                pdsk,
                ..s
            }
        }
        Fact::InSync => DevState {
            disk: UpToDate,
            pdsk: UpToDate,
            ..s
        },
        Fact::Disk(disk) => DevState { disk, ..s },
        Fact::Attached { disk, pdsk } => DevState { disk, pdsk, ..s },
        // connected, the peer's disk stays what it reported
        Fact::Detached => DevState {
            disk: Diskless,
            pdsk: if s.conn >= ConnState::Connected {
                s.pdsk
            } else {
                Unknown
            },
            ..s
        },
        Fact::Disconnecting(outdate) => {
            let (disk, pdsk) = match outdate {
                Outdate::Neither => (s.disk, s.pdsk),
                // (a disk without the data cannot be outdated: SS_LOWER_THAN_OUTDATED)
                Outdate::Ours if s.disk >= DiskState::Outdated => (DiskState::Outdated, s.pdsk),
                Outdate::Ours => (s.disk, s.pdsk),
                Outdate::Peers => (s.disk, DiskState::Outdated),
            };
            DevState {
                conn: ConnState::Disconnecting,
                disk,
                pdsk,
                ..s
            }
        }
        Fact::Fenced(Fenced::Peer(pdsk)) => DevState { pdsk, ..s },
        // (a disk without the data cannot be outdated: SS_LOWER_THAN_OUTDATED)
        Fact::Fenced(Fenced::Myself) if s.disk > DiskState::Outdated => DevState {
            disk: DiskState::Outdated,
            ..s
        },
        Fact::Fenced(_) => s,
        Fact::Pause { user, peer, after } => DevState {
            user_isp: user.unwrap_or(s.user_isp),
            peer_isp: peer.unwrap_or(s.peer_isp),
            aftr_isp: after.unwrap_or(s.aftr_isp),
            ..s
        },
    };
    sanitize(ns)
}

/// after_state_ch(): both disks were Inconsistent and the peer became Primary, so it was
/// forced UpToDate: its next state report decides a sync (C: CONSIDER_RESYNC).
pub(crate) fn peer_forced_up_to_date(os: &DevState, ns: &DevState) -> bool {
    os.disk == DiskState::Inconsistent
        && os.pdsk == DiskState::Inconsistent
        && os.peer == Role::Secondary
        && ns.peer == Role::Primary
}

/// sanitize_state() under `fencing resource-and-stonith`: a Primary that loses its peer,
/// whose disk is not known to be outdated, suspends I/O while the fence-peer helper runs
/// (`susp_fen`).
pub(crate) fn fence_freeze(os: &DevState, ns: &DevState) -> bool {
    let exposed = |s: &DevState| {
        s.role == Role::Primary && s.conn < ConnState::Connected && s.pdsk > DiskState::Outdated
    };
    exposed(ns) && !exposed(os)
}

/// lost_contact_to_peer_data(): the peer's copy of the data is out of reach from now on.
fn lost_contact_to_peer_data(os: DiskState, ns: DiskState) -> bool {
    use DiskState::*;
    let had = os >= Inconsistent && os != Unknown && os != Outdated;
    let lost = ns < Inconsistent || ns == Unknown || ns == Outdated;
    (had && lost) || (os == Unknown && matches!(ns, Diskless | Failed | Outdated))
}

/// after_state_ch(): a change from `os` to `ns` that loses the peer's copy of the data while
/// either side is Primary starts a new data generation on an UpToDate disk whose bitmap has
/// no base yet (`bitmap_uuid` 0), so that the peer later resyncs what it missed.
pub(crate) fn new_generation_on_loss(os: &DevState, ns: &DevState, bitmap_uuid: u64) -> bool {
    lost_contact_to_peer_data(os.pdsk, ns.pdsk)
        && (ns.role == Role::Primary || ns.peer == Role::Primary)
        && bitmap_uuid == 0
        && ns.disk >= DiskState::UpToDate
}

#[cfg(test)]
mod tests {
    use super::*;
    use ConnState::*;
    use DiskState::*;

    fn secondary(conn: ConnState, disk: DiskState, pdsk: DiskState) -> DevState {
        DevState {
            role: Role::Secondary,
            peer: Role::Primary,
            conn,
            disk,
            pdsk,
            ..DevState::new_minor()
        }
    }

    /// The peer's request as it sends it: NS2(conn, C_DISCONNECTING, pdsk, D_OUTDATED)
    /// in its view (its pdsk is our disk).
    fn peer_outdates_us() -> (u32, u32) {
        use crate::model::state::StateReq;
        let r = StateReq::default().conn(Disconnecting).pdsk(Outdated);
        (r.mask, r.val)
    }

    #[test]
    fn a_peer_outdates_only_a_disk_with_data() {
        let env = Env::default();
        let (mask, val) = peer_outdates_us();
        let ok = peer_request(secondary(Connected, UpToDate, UpToDate), mask, val, &env).unwrap();
        assert_eq!(
            (ok.conn, ok.disk, ok.peer),
            (TearDown, Outdated, Role::Unknown)
        );
        // defect: an Inconsistent or Diskless disk was moved to Outdated
        assert_eq!(
            peer_request(
                secondary(Connected, Inconsistent, UpToDate),
                mask,
                val,
                &env
            ),
            Err(StateRv::LowerThanOutdated)
        );
        assert_eq!(
            peer_request(secondary(Connected, Diskless, UpToDate), mask, val, &env),
            Err(StateRv::LowerThanOutdated)
        );
        // while Connected, Outdated vanishes: nothing to do
        let plain = crate::model::state::StateReq::default().pdsk(Outdated);
        let s = secondary(Connected, UpToDate, UpToDate);
        assert_eq!(peer_request(s, plain.mask, plain.val, &env), Ok(s));
    }

    #[test]
    fn a_peer_verifies_us() {
        use crate::model::state::StateReq;
        let env = Env {
            verify_alg: true,
            protocol: 101,
            ..Env::default()
        };
        // its VerifyS is our VerifyT
        let r = StateReq::default().conn(VerifyS);
        let s = secondary(Connected, UpToDate, UpToDate);
        assert_eq!(
            peer_request(s, r.mask, r.val, &env).map(|n| n.conn),
            Ok(VerifyT)
        );
        // not during a resync, not without verify-alg, not before protocol 88
        let syncing = secondary(SyncTarget, Inconsistent, UpToDate);
        assert!(peer_request(syncing, r.mask, r.val, &env).is_err());
        assert_eq!(
            peer_request(s, r.mask, r.val, &Env::default()),
            Err(StateRv::NoVerifyAlg)
        );
        let old = Env {
            protocol: 87,
            ..env
        };
        assert_eq!(
            peer_request(s, r.mask, r.val, &old),
            Err(StateRv::NotSupported)
        );
    }

    #[test]
    fn we_verify() {
        let env = Env {
            verify_alg: true,
            protocol: 101,
            ..Env::default()
        };
        let verify = |s: DevState| change(s, DevState { conn: VerifyS, ..s }, &env, false);
        let s = secondary(Connected, UpToDate, UpToDate);
        assert_eq!(verify(s).map(|n| n.conn), Ok(VerifyS));
        // drbd_adm_start_ov()'s refusals: a resync running, no connection, a disk not UpToDate
        assert_eq!(
            verify(secondary(SyncSource, UpToDate, Inconsistent)),
            Err(StateRv::ResyncRunning)
        );
        assert_eq!(
            verify(secondary(WfConnection, UpToDate, Unknown)),
            Err(StateRv::NeedConnection)
        );
    }

    #[test]
    fn a_peer_sets_only_its_own_fields() {
        use crate::model::state::StateReq;
        let env = Env::default();
        let s = secondary(Connected, UpToDate, UpToDate);
        // its "peer" field is our role
        let r = StateReq::default().conn(Connected);
        let role_of_ours = (0x3 << 2, (Role::Primary as u32) << 2);
        assert_eq!(
            peer_request(s, r.mask | role_of_ours.0, role_of_ours.1 | r.val, &env),
            Err(StateRv::CwFailedByPeer)
        );
        // its disk UpToDate is our pdsk; its disk Diskless while connected is fine
        let r = StateReq::default().disk(Diskless);
        let n = peer_request(s, r.mask, r.val, &env).unwrap();
        assert_eq!((n.pdsk, n.disk), (Diskless, UpToDate));
        // an invalid word
        assert_eq!(
            peer_request(s, 0xffff_ffff, 0xdead_beef, &env),
            Err(StateRv::CwFailedByPeer)
        );
        let r = StateReq::default().role(Role::Primary);
        assert_eq!(
            peer_request(s, r.mask, 0x3, &env),
            Err(StateRv::UnknownError)
        );
    }

    #[test]
    fn two_primaries_and_fencing() {
        use crate::model::state::StateReq;
        let me = DevState {
            role: Role::Primary,
            peer: Role::Secondary,
            ..secondary(Connected, UpToDate, UpToDate)
        };
        let r = StateReq::default().role(Role::Primary);
        assert_eq!(
            peer_request(me, r.mask, r.val, &Env::default()),
            Err(StateRv::TwoPrimaries)
        );
        let two = Env {
            two_primaries: true,
            ..Env::default()
        };
        assert_eq!(
            peer_request(me, r.mask, r.val, &two).unwrap().peer,
            Role::Primary
        );
        // a fenced Primary does not let a peer go that is not Outdated
        let bye = StateReq::default().conn(Disconnecting);
        let fenced = Env {
            fencing_resource: true,
            ..Env::default()
        };
        assert_eq!(
            peer_request(me, bye.mask, bye.val, &fenced),
            Err(StateRv::PrimaryNop)
        );
        let n = peer_request(me, bye.mask, bye.val, &Env::default()).unwrap();
        assert_eq!((n.conn, n.pdsk, n.peer), (TearDown, Unknown, Role::Unknown));
        // going with its disk Outdated is fine
        let bye_outdated = bye.disk(Outdated);
        let n = peer_request(me, bye_outdated.mask, bye_outdated.val, &fenced).unwrap();
        assert_eq!(n.pdsk, Outdated);
    }

    #[test]
    fn sanitize_as_c() {
        let s = sanitize(secondary(SyncTarget, UpToDate, Inconsistent));
        assert_eq!((s.disk, s.pdsk), (Inconsistent, UpToDate));
        let s = sanitize(secondary(Connected, Consistent, Outdated));
        assert_eq!((s.disk, s.pdsk), (UpToDate, UpToDate));
        let s = sanitize(DevState {
            user_isp: true,
            ..secondary(SyncSource, UpToDate, Inconsistent)
        });
        assert_eq!(s.conn, PausedSyncS);
        // a resync ends with a disk that went
        let s = sanitize(secondary(SyncSource, UpToDate, Diskless));
        assert_eq!((s.conn, s.pdsk), (Connected, Diskless));
        let s = sanitize(secondary(Unconnected, UpToDate, UpToDate));
        assert_eq!((s.peer, s.pdsk), (Role::Unknown, Unknown));
        let s = sanitize(secondary(Unconnected, UpToDate, Outdated));
        assert_eq!(s.pdsk, Outdated);
    }

    #[test]
    fn transitions_as_c() {
        let env = Env::default();
        let alone = sanitize(secondary(StandAlone, UpToDate, Unknown));
        assert_eq!(
            change(
                alone,
                DevState {
                    conn: Disconnecting,
                    ..alone
                },
                &env,
                false
            ),
            Err(StateRv::AlreadyStandAlone)
        );
        assert_eq!(
            change(
                alone,
                DevState {
                    conn: Connected,
                    ..alone
                },
                &env,
                true
            ),
            Err(StateRv::NeedConnection)
        );
        let failed = secondary(Timeout, UpToDate, Unknown);
        assert_eq!(
            change(
                failed,
                DevState {
                    conn: Connected,
                    ..failed
                },
                &env,
                true
            ),
            Err(StateRv::NeedConnection)
        );
        assert_eq!(
            change(
                failed,
                DevState {
                    conn: WfConnection,
                    ..failed
                },
                &env,
                true
            ),
            Err(StateRv::InTransientState)
        );
        assert_eq!(change(alone, alone, &env, false), Err(StateRv::NothingToDo));
        // an invalid state may stay invalid the same way
        let open = Env { open: true, ..env };
        let s = secondary(Connected, UpToDate, UpToDate);
        assert!(change(
            s,
            DevState {
                pdsk: Inconsistent,
                ..s
            },
            &open,
            false
        )
        .is_ok());
    }

    #[test]
    fn pauses() {
        let target = next(
            secondary(Connected, Inconsistent, UpToDate),
            Fact::Resync(SyncTarget),
        );
        let user = |on| Fact::Pause {
            user: Some(on),
            peer: None,
            after: None,
        };
        let peer = |on| Fact::Pause {
            user: None,
            peer: Some(on),
            after: None,
        };
        let paused = next(target, user(true));
        assert_eq!((paused.conn, paused.user_isp), (PausedSyncT, true));
        // both paused: it goes on once both resumed
        let both = next(paused, peer(true));
        assert_eq!(next(both, user(false)).conn, PausedSyncT);
        assert_eq!(next(next(both, user(false)), peer(false)).conn, SyncTarget);
        let source = next(
            secondary(Connected, UpToDate, Inconsistent),
            Fact::Resync(SyncSource),
        );
        assert_eq!(next(source, peer(true)).conn, PausedSyncS);
        // without a connection the peer's pause is forgotten
        assert!(!next(both, Fact::Conn(Unconnected)).peer_isp);
    }

    #[test]
    fn stonith_freezes_a_primary_that_loses_its_peer() {
        let p = DevState {
            role: Role::Primary,
            peer: Role::Secondary,
            ..secondary(Connected, UpToDate, UpToDate)
        };
        let lost = next(p, Fact::Conn(Unconnected));
        assert!(fence_freeze(&p, &lost));
        // once: still exposed, already frozen
        assert!(!fence_freeze(&lost, &next(lost, Fact::Conn(WfConnection))));
        // the fence-peer helper outdated the peer: nothing to guard any more
        let fenced = next(lost, Fact::Fenced(Fenced::Peer(Outdated)));
        assert!(!fence_freeze(&lost, &fenced));
        // a Secondary, or a peer outdated before it went, is no risk
        let s = secondary(Connected, UpToDate, UpToDate);
        assert!(!fence_freeze(&s, &next(s, Fact::Conn(Unconnected))));
        let outdated = DevState {
            pdsk: Outdated,
            ..p
        };
        assert!(!fence_freeze(
            &outdated,
            &next(outdated, Fact::Disconnecting(Outdate::Neither))
        ));
    }

    #[test]
    fn a_primary_losing_its_peer_starts_a_generation() {
        let p = DevState {
            role: Role::Primary,
            peer: Role::Secondary,
            ..secondary(Connected, UpToDate, UpToDate)
        };
        // a graceful disconnect the peer asked for: TearDown, sanitized at once
        let bye = crate::model::state::StateReq::default().conn(Disconnecting);
        let torn = peer_request(p, bye.mask, bye.val, &Env::default()).unwrap();
        assert_eq!(torn.pdsk, Unknown);
        assert!(new_generation_on_loss(&p, &torn, 0));
        // once only: the next change starts from DUnknown
        assert!(!new_generation_on_loss(
            &torn,
            &sanitize(DevState {
                conn: Unconnected,
                ..torn
            }),
            0
        ));
        // a bitmap with a base already, a Secondary, an Outdated peer kept
        assert!(!new_generation_on_loss(&p, &torn, 0x1234));
        let s = secondary(Connected, UpToDate, UpToDate);
        assert!(!new_generation_on_loss(
            &s,
            &sanitize(DevState {
                conn: TearDown,
                ..s
            }),
            0
        ));
        let outdated = DevState {
            pdsk: Outdated,
            ..p
        };
        assert!(!new_generation_on_loss(
            &outdated,
            &DevState {
                conn: TearDown,
                ..outdated
            },
            0
        ));
        // our peer, Primary, goes: the Secondary starts one too (C: role or peer Primary)
        let sp = DevState {
            peer: Role::Primary,
            ..secondary(Connected, UpToDate, UpToDate)
        };
        let lost = sanitize(DevState {
            conn: NetworkFailure,
            ..sp
        });
        assert_eq!(lost.peer, Role::Unknown);
        assert!(!new_generation_on_loss(&sp, &lost, 0));
    }

    #[test]
    fn status_polls_leave_a_resync_alone() {
        let syncing = secondary(SyncTarget, Inconsistent, UpToDate);
        assert_eq!(follow_connection(syncing, Connected), syncing);
        let lost = follow_connection(syncing, NetworkFailure);
        assert_eq!(
            (lost.conn, lost.peer, lost.pdsk, lost.disk),
            (NetworkFailure, Role::Unknown, Unknown, Inconsistent)
        );
        let waiting = secondary(WfConnection, UpToDate, Unknown);
        assert_eq!(
            follow_connection(waiting, WfReportParams).conn,
            WfReportParams
        );
    }

    #[test]
    fn facts_lead_where_c_goes() {
        let connected = secondary(Connected, UpToDate, UpToDate);
        // a resync's disks follow its connection state
        let t = next(connected, Fact::Resync(SyncTarget));
        assert_eq!(
            (t.conn, t.disk, t.pdsk),
            (SyncTarget, Inconsistent, UpToDate)
        );
        // pulled ahead: the peer's copy is Consistent, and Behind it is Outdated; the resync
        // from there makes them Inconsistent
        let ahead = next(connected, Fact::Ahead);
        assert_eq!((ahead.conn, ahead.pdsk), (Ahead, Consistent));
        let behind = next(
            connected,
            Fact::Peer {
                conn: Behind,
                peer: Role::Primary,
                pdsk: UpToDate,
            },
        );
        assert_eq!((behind.conn, behind.disk), (Behind, Outdated));
        assert_eq!(next(ahead, Fact::Resync(SyncSource)).pdsk, Inconsistent);
        assert_eq!(next(behind, Fact::Resync(SyncTarget)).disk, Inconsistent);
        let s = next(connected, Fact::Resync(SyncSource));
        assert_eq!(
            (s.conn, s.disk, s.pdsk),
            (SyncSource, UpToDate, Inconsistent)
        );
        // failed blocks leave the target Inconsistent, and the source knows
        let done = |s, target, ok| {
            let n = next(s, Fact::ResyncDone { target, ok });
            (n.conn, n.disk, n.pdsk)
        };
        assert_eq!(done(t, true, true), (Connected, UpToDate, UpToDate));
        assert_eq!(done(t, true, false), (Connected, Inconsistent, UpToDate));
        assert_eq!(done(s, false, true), (Connected, UpToDate, UpToDate));
        assert_eq!(done(s, false, false), (Connected, UpToDate, Inconsistent));
        // a known Inconsistent peer stays so without a connection; its role goes
        let lost = next(s, Fact::Conn(NetworkFailure));
        assert_eq!(
            (lost.conn, lost.peer, lost.pdsk),
            (NetworkFailure, Role::Unknown, Inconsistent)
        );
        // the peer forced itself UpToDate and Primary while both were Inconsistent
        let both = secondary(Connected, Inconsistent, Inconsistent);
        let forced = DevState {
            peer: Role::Primary,
            pdsk: UpToDate,
            ..both
        };
        let both = DevState {
            peer: Role::Secondary,
            ..both
        };
        assert!(peer_forced_up_to_date(&both, &forced));
        assert!(!peer_forced_up_to_date(&forced, &forced));
        // a lost connection keeps a peer disk known to be behind, and our own
        let p = DevState::connected_primary();
        let lost = next(p, Fact::Conn(Unconnected));
        assert_eq!(
            (lost.role, lost.peer, lost.disk, lost.pdsk),
            (Role::Primary, Role::Unknown, UpToDate, Unknown)
        );
        for pdsk in [Inconsistent, Outdated] {
            assert_eq!(
                next(DevState { pdsk, ..p }, Fact::Conn(StandAlone)).pdsk,
                pdsk
            );
        }
        // a disk that goes ends the resync
        let gone = next(t, Fact::Detached);
        assert_eq!((gone.conn, gone.disk), (Connected, Diskless));
        // Outdated survives a graceful disconnect (it vanishes while connected)
        let p = DevState {
            role: Role::Primary,
            peer: Role::Secondary,
            ..connected
        };
        let d = next(p, Fact::Disconnecting(Outdate::Peers));
        assert_eq!(
            (d.conn, d.peer, d.disk, d.pdsk),
            (Disconnecting, Role::Unknown, UpToDate, Outdated)
        );
        assert!(new_generation_on_loss(&p, &d, 0));
        let d = next(connected, Fact::Disconnecting(Outdate::Ours));
        assert_eq!((d.disk, d.pdsk), (Outdated, Unknown));
        let diskless = secondary(Connected, Diskless, UpToDate);
        let d = next(diskless, Fact::Disconnecting(Outdate::Ours));
        assert_eq!(d.disk, Diskless);
        assert_eq!(
            next(connected, Fact::Disconnecting(Outdate::Neither)).pdsk,
            Unknown
        );
        // an attach without a connection keeps what the meta data say of the peer
        let alone = next(
            DevState::new_minor(),
            Fact::Attached {
                disk: Consistent,
                pdsk: Outdated,
            },
        );
        assert_eq!((alone.disk, alone.pdsk), (Consistent, Outdated));
        let both = next(
            secondary(Connected, Inconsistent, Inconsistent),
            Fact::InSync,
        );
        assert_eq!((both.disk, both.pdsk), (UpToDate, UpToDate));
        let agreed = next(
            secondary(WfReportParams, UpToDate, Unknown),
            Fact::Peer {
                conn: WfBitMapS,
                peer: Role::Secondary,
                pdsk: Outdated,
            },
        );
        // (C: "D_OUTDATED would be nice. But explicit outdate necessary")
        assert_eq!(
            (agreed.conn, agreed.peer, agreed.pdsk),
            (WfBitMapS, Role::Secondary, Consistent)
        );
    }
}
