// SPDX-License-Identifier: GPL-2.0
//! Role changes of a device, and the UUID bookkeeping that goes with
//! them and with `new-current-uuid`.
//!
//! C counterpart: drbd_set_role() of drbd_nl.c, and the UUID functions of drbd_main.c
//! (drbd_uuid_new_current(), drbd_uuid_set(), drbd_uuid_move_history()).

use super::state::{ConnState, DevState, DiskState, Role};
use super::transition::{self, Env};

/// Index of the current, bitmap and first history UUID in the meta data (`enum drbd_uuid_index`).
pub(crate) const UI_CURRENT: usize = 0;
pub(crate) const UI_BITMAP: usize = 1;
pub(crate) const UI_HISTORY_START: usize = 2;
pub(crate) const UI_HISTORY_END: usize = 3;

/// The outcome of a state change request (`enum drbd_state_rv`), as drbdsetup reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub(crate) enum StateRv {
    NothingToDo = 2,
    Success = 1,
    UnknownError = 0,
    TwoPrimaries = -1,
    NoUpToDateDisk = -2,
    NoLocalDisk = -4,
    NoRemoteDisk = -5,
    ConnectedOutdates = -6,
    PrimaryNop = -7,
    ResyncRunning = -8,
    AlreadyStandAlone = -9,
    CwFailedByPeer = -10,
    IsDiskless = -11,
    DeviceInUse = -12,
    NoNetConfig = -13,
    NoVerifyAlg = -14,
    NeedConnection = -15,
    LowerThanOutdated = -16,
    NotSupported = -17,
    InTransientState = -18,
    ConcurrentStChg = -19,
    OutdateWoConn = -21,
}

impl StateRv {
    /// Every value, for the mapping from numbers.
    const ALL: [StateRv; 22] = [
        StateRv::NothingToDo,
        StateRv::Success,
        StateRv::UnknownError,
        StateRv::TwoPrimaries,
        StateRv::NoUpToDateDisk,
        StateRv::NoLocalDisk,
        StateRv::NoRemoteDisk,
        StateRv::ConnectedOutdates,
        StateRv::PrimaryNop,
        StateRv::ResyncRunning,
        StateRv::AlreadyStandAlone,
        StateRv::CwFailedByPeer,
        StateRv::IsDiskless,
        StateRv::DeviceInUse,
        StateRv::NoNetConfig,
        StateRv::NoVerifyAlg,
        StateRv::NeedConnection,
        StateRv::LowerThanOutdated,
        StateRv::NotSupported,
        StateRv::InTransientState,
        StateRv::ConcurrentStChg,
        StateRv::OutdateWoConn,
    ];

    /// A peer's reply to a state change request of ours; numbers we do not know are the
    /// peer's refusal.
    pub(crate) fn from_peer(rv: i32) -> Self {
        Self::ALL
            .iter()
            .copied()
            .find(|&r| r as i32 == rv)
            .unwrap_or(StateRv::CwFailedByPeer)
    }

    /// Whether the change was made (or there was nothing to do).
    pub(crate) fn is_success(self) -> bool {
        self as i32 >= StateRv::Success as i32
    }

    /// The text of drbd_set_st_err_str() for a refusal, as the C module logs it.
    pub(crate) fn text(self) -> &'static str {
        match self {
            StateRv::NothingToDo | StateRv::Success => "",
            StateRv::UnknownError => "Unknown error",
            StateRv::TwoPrimaries => "Multiple primaries not allowed by config",
            StateRv::NoUpToDateDisk => "Need access to UpToDate data",
            StateRv::NoLocalDisk => "Can not resync without local disk",
            StateRv::NoRemoteDisk => "Can not resync without remote disk",
            StateRv::ConnectedOutdates => "Refusing to be Outdated while Connected",
            StateRv::PrimaryNop => "Refusing to be Primary while peer is not outdated",
            StateRv::ResyncRunning => "Can not start OV/resync since it is already active",
            StateRv::AlreadyStandAlone => "Can not disconnect a StandAlone device",
            StateRv::CwFailedByPeer => "State change was refused by peer node",
            StateRv::IsDiskless => "Device is diskless, the requested operation requires a disk",
            StateRv::DeviceInUse => "Device is held open by someone",
            StateRv::NoNetConfig => "Have no net/connection configuration",
            StateRv::NoVerifyAlg => "Need a verify algorithm to start online verify",
            StateRv::NeedConnection => "Need a connection to start verify or resync",
            StateRv::LowerThanOutdated => "Disk state is lower than outdated",
            StateRv::NotSupported => "Peer does not support protocol",
            StateRv::InTransientState => "In transient state, retry after next state change",
            StateRv::ConcurrentStChg => "Concurrent state changes detected and aborted",
            StateRv::OutdateWoConn => "Need a connection for a graceful disconnect/outdate peer",
        }
    }
}

/// An accepted role change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RoleChange {
    /// The state after the change.
    pub(crate) state: DevState,
    /// `--force` made the local disk UpToDate ("Forced to consider local data as UpToDate!").
    pub(crate) forced: bool,
    /// `--force` outdated the unreachable peer ("Forced into split brain situation!").
    pub(crate) split_brain: bool,
}

/// drbd_set_role(): whether `role` may be taken, and in which state, by C's transition rules
/// ([`transition::change`]). `force` is `--force` (`assume_uptodate`): a disk from
/// Inconsistent up is then taken as UpToDate, and with resource fencing an unreachable peer as
/// Outdated. Without a fence-peer helper the peer can never be outdated otherwise, so a
/// Consistent disk needs `--force` too. Without UpToDate data of its own, a Primary reads
/// from its connected UpToDate peer: Diskless, or a SyncTarget (whose writes and resync
/// requests wait for each other, [`crate::model::conflict`]).
pub(crate) fn set_role(
    cur: DevState,
    role: Role,
    force: bool,
    env: &Env,
) -> Result<RoleChange, StateRv> {
    let mut change = RoleChange {
        state: DevState { role, ..cur },
        forced: false,
        split_brain: false,
    };
    loop {
        let rv = match transition::change(cur, change.state, env, false) {
            Ok(ns) => {
                return Ok(RoleChange {
                    state: ns,
                    ..change
                })
            }
            Err(rv) => rv,
        };
        match rv {
            StateRv::NoUpToDateDisk
                if force
                    && !change.forced
                    && change.state.disk >= DiskState::Inconsistent
                    && change.state.disk < DiskState::UpToDate =>
            {
                change.state.disk = DiskState::UpToDate;
                change.forced = true;
            }
            StateRv::PrimaryNop if force && !change.split_brain => {
                change.state.pdsk = DiskState::Outdated;
                change.split_brain = true;
            }
            refused => return Err(refused),
        }
    }
}

/// drbd_set_role(): a promotion refused because the unreachable peer is not known to be
/// outdated (SS_PRIMARY_NOP, under resource fencing) asks the fence-peer helper first, then
/// tries again (and only then, with `--force`, forces the split brain).
pub(crate) fn wants_fence(cur: DevState, role: Role, env: &Env) -> bool {
    role == Role::Primary
        && matches!(
            transition::change(cur, DevState { role, ..cur }, env, false),
            Err(StateRv::PrimaryNop)
        )
}

/// drbd_uuid_set(): sets UUID `idx`, moving its old value, if any, into the history.
pub(crate) fn uuid_set(uuids: &mut [u64; 4], idx: usize, val: u64, primary: bool) {
    let Some(&old) = uuids.get(idx) else {
        return;
    };
    if old != 0 {
        uuids[UI_HISTORY_END] = uuids[UI_HISTORY_START];
        uuids[UI_HISTORY_START] = old;
    }
    raw_set(uuids, idx, val, primary);
}

/// drbd_uuid_set_bm(0) at the end of a resync: the bitmap UUID goes into the history (nothing
/// happens without one). A later promotion without a peer then starts a new data generation,
/// which the next handshake tells apart.
pub(crate) fn uuid_clear_bitmap(uuids: &mut [u64; 4]) {
    if uuids[UI_BITMAP] == 0 {
        return;
    }
    uuids[UI_HISTORY_END] = uuids[UI_HISTORY_START];
    uuids[UI_HISTORY_START] = uuids[UI_BITMAP];
    uuids[UI_BITMAP] = 0;
}

/// __drbd_uuid_set(): the current UUID's lowest bit says whether the data was Primary.
fn raw_set(uuids: &mut [u64; 4], idx: usize, val: u64, primary: bool) {
    let val = match (idx, primary) {
        (UI_CURRENT, true) => val | 1,
        (UI_CURRENT, false) => val & !1,
        _ => val,
    };
    if let Some(slot) = uuids.get_mut(idx) {
        *slot = val;
    }
}

/// drbd_uuid_new_current(): the data begins a new generation `random`; the old one becomes the
/// bitmap UUID, the base of the changes the bitmap records. Returns the bitmap UUID it replaced,
/// which should have been 0 (the C module warns "bm UUID was already set").
pub(crate) fn uuid_new_current(uuids: &mut [u64; 4], random: u64, primary: bool) -> u64 {
    let replaced = uuids[UI_BITMAP];
    uuids[UI_BITMAP] = uuids[UI_CURRENT];
    raw_set(uuids, UI_CURRENT, random, primary);
    replaced
}

/// The UUID updates of a successful role change without a connection (drbd_set_role()): a new
/// Primary starts a new data generation unless the bitmap already has a base, or when forced;
/// the current UUID's lowest bit follows the role. Returns whether a new current UUID was made.
pub(crate) fn role_uuids(uuids: &mut [u64; 4], change: &RoleChange, random: u64) -> bool {
    if change.state.role == Role::Secondary {
        uuids[UI_CURRENT] &= !1;
        return false;
    }
    // a connected peer with a disk keeps the generation: its copy is the same data
    let alone = change.state.conn < ConnState::Connected || change.state.pdsk <= DiskState::Failed;
    let new = (alone && uuids[UI_BITMAP] == 0) || change.forced;
    if new {
        uuid_new_current(uuids, random, true);
    }
    uuids[UI_CURRENT] |= 1;
    new
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(fencing_resource: bool, open: bool) -> Env {
        Env {
            fencing_resource,
            open,
            ..Env::default()
        }
    }

    fn attached(disk: DiskState) -> DevState {
        DevState {
            disk,
            ..DevState::new_minor()
        }
    }

    #[test]
    fn primary_needs_up_to_date_data_or_force() {
        use DiskState::*;
        let s = attached(UpToDate);
        let ok = set_role(s, Role::Primary, false, &env(false, false)).unwrap();
        assert_eq!((ok.state.role, ok.forced), (Role::Primary, false));
        for disk in [Inconsistent, Outdated, Consistent] {
            assert_eq!(
                set_role(attached(disk), Role::Primary, false, &env(false, false)),
                Err(StateRv::NoUpToDateDisk)
            );
            let forced = set_role(attached(disk), Role::Primary, true, &env(false, false)).unwrap();
            assert_eq!((forced.state.disk, forced.forced), (UpToDate, true));
        }
        // force never makes up data where there is no disk
        assert_eq!(
            set_role(attached(Diskless), Role::Primary, true, &env(false, false)),
            Err(StateRv::NoUpToDateDisk)
        );
        assert_eq!(
            set_role(s, Role::Secondary, false, &env(false, false)),
            Err(StateRv::NothingToDo)
        );
    }

    #[test]
    fn resource_fencing_and_open_devices() {
        let s = attached(DiskState::UpToDate);
        assert_eq!(
            set_role(s, Role::Primary, false, &env(true, false)),
            Err(StateRv::PrimaryNop)
        );
        let forced = set_role(s, Role::Primary, true, &env(true, false)).unwrap();
        assert!(forced.split_brain && !forced.forced);
        assert_eq!(forced.state.pdsk, DiskState::Outdated);
        // the fence-peer helper is asked first; once it outdated the peer, no force is needed
        assert!(wants_fence(s, Role::Primary, &env(true, false)));
        assert!(!wants_fence(s, Role::Primary, &env(false, false)));
        assert!(!wants_fence(s, Role::Secondary, &env(true, false)));
        let fenced = transition::next(
            s,
            transition::Fact::Fenced(crate::model::helper::Fenced::Peer(DiskState::Outdated)),
        );
        assert!(!wants_fence(fenced, Role::Primary, &env(true, false)));
        let ok = set_role(fenced, Role::Primary, false, &env(true, false)).unwrap();
        assert!(!ok.split_brain && !ok.forced);
        // "peer is active": our disk is outdated, and the promotion fails
        let myself = transition::next(
            s,
            transition::Fact::Fenced(crate::model::helper::Fenced::Myself),
        );
        assert_eq!(myself.disk, DiskState::Outdated);
        assert_eq!(
            set_role(myself, Role::Primary, false, &env(true, false)),
            Err(StateRv::NoUpToDateDisk)
        );
        // connected to an UpToDate peer: nothing to fence
        let connected = DevState {
            conn: ConnState::Connected,
            pdsk: DiskState::UpToDate,
            ..s
        };
        assert!(set_role(connected, Role::Primary, false, &env(true, false)).is_ok());
        // a SyncTarget may be Primary on its peer's data (an Inconsistent Connected one is
        // refused as transient), and so may a Diskless node
        let behind = DevState {
            disk: DiskState::Inconsistent,
            ..connected
        };
        assert_eq!(
            set_role(behind, Role::Primary, false, &env(false, false)),
            Err(StateRv::InTransientState)
        );
        let target = DevState {
            conn: ConnState::SyncTarget,
            ..behind
        };
        let ok = set_role(target, Role::Primary, false, &env(false, false)).unwrap();
        assert_eq!((ok.state.disk, ok.forced), (DiskState::Inconsistent, false));
        let diskless = DevState {
            disk: DiskState::Diskless,
            ..connected
        };
        let ok = set_role(diskless, Role::Primary, false, &env(false, false)).unwrap();
        assert_eq!(
            (ok.state.role, ok.state.disk),
            (Role::Primary, DiskState::Diskless)
        );
        let alone = DevState {
            conn: ConnState::StandAlone,
            pdsk: DiskState::Unknown,
            ..diskless
        };
        assert_eq!(
            set_role(alone, Role::Primary, true, &env(false, false)),
            Err(StateRv::NoUpToDateDisk)
        );
        // a Primary peer without allow-two-primaries
        let peer_primary = DevState {
            peer: Role::Primary,
            ..connected
        };
        assert_eq!(
            set_role(peer_primary, Role::Primary, false, &env(false, false)),
            Err(StateRv::TwoPrimaries)
        );
        let two = Env {
            two_primaries: true,
            ..env(false, false)
        };
        assert!(set_role(peer_primary, Role::Primary, false, &two).is_ok());
        let primary = DevState {
            role: Role::Primary,
            ..s
        };
        assert_eq!(
            set_role(primary, Role::Secondary, false, &env(false, true)),
            Err(StateRv::DeviceInUse)
        );
        assert!(set_role(primary, Role::Secondary, false, &env(false, false)).is_ok());
        assert_eq!(StateRv::DeviceInUse as i32, -12);
    }

    #[test]
    fn a_finished_resync_clears_the_bitmap_uuid() {
        // the SyncTarget takes the source's UUIDs (drbd_resync_finished()), then
        // drbd_uuid_set_bm(0), as C: no bitmap UUID left, so a promotion while split starts a
        // new data generation
        let (sync, cur, hist) = (0x9F46, 0xE174, [0xB776, 0x0BD4]);
        let mut u = [sync, 0, 0x0BD0, 0];
        u[1..4].copy_from_slice(&[sync, hist[0], hist[1]]);
        uuid_set(&mut u, UI_BITMAP, sync, false);
        u[UI_CURRENT] = cur;
        uuid_clear_bitmap(&mut u);
        assert_eq!(u, [cur, 0, sync, sync]);
        // nothing without a bitmap UUID
        let mut v = [cur, 0, 7, 8];
        uuid_clear_bitmap(&mut v);
        assert_eq!(v, [cur, 0, 7, 8]);
    }

    #[test]
    fn uuids_as_drbd_main() {
        // after create-md: UUID_JUST_CREATED, nothing else
        let mut u = [4, 0, 0, 0];
        let change = set_role(
            attached(DiskState::Inconsistent),
            Role::Primary,
            true,
            &env(false, false),
        )
        .unwrap();
        assert!(role_uuids(&mut u, &change, 0xabcd_0000));
        assert_eq!(u, [0xabcd_0001, 4, 0, 0]);
        // Secondary again: only the Primary bit goes
        let back = RoleChange {
            state: DevState {
                role: Role::Secondary,
                ..change.state
            },
            forced: false,
            split_brain: false,
        };
        assert!(!role_uuids(&mut u, &back, 0));
        assert_eq!(u, [0xabcd_0000, 4, 0, 0]);
        // Primary again with a bitmap UUID set: same generation
        let again = RoleChange {
            forced: false,
            ..change
        };
        assert!(!role_uuids(&mut u, &again, 0x1234));
        assert_eq!(u, [0xabcd_0001, 4, 0, 0]);
        // connected to a peer with a disk: no new generation, even with a clear bitmap UUID
        let mut c = [0x42, 0, 0, 0];
        let connected = RoleChange {
            state: DevState {
                conn: ConnState::Connected,
                pdsk: DiskState::UpToDate,
                ..change.state
            },
            forced: false,
            split_brain: false,
        };
        assert!(!role_uuids(&mut c, &connected, 0x1234));
        assert_eq!(c, [0x43, 0, 0, 0]);
        // new-current-uuid: bitmap UUID into history, new generation
        uuid_set(&mut u, UI_BITMAP, 0, true);
        assert_eq!(u, [0xabcd_0001, 0, 4, 0]);
        assert_eq!(uuid_new_current(&mut u, 0x5678, true), 0);
        assert_eq!(u, [0x5679, 0xabcd_0001, 4, 0]);
        uuid_set(&mut u, UI_BITMAP, 0, true);
        assert_eq!(u, [0x5679, 0, 0xabcd_0001, 4]);
        // out-of-range indexes are ignored
        uuid_set(&mut u, 9, 1, true);
        assert_eq!(u, [0x5679, 0, 0xabcd_0001, 4]);
    }
}
