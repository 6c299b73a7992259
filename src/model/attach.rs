// SPDX-License-Identifier: GPL-2.0
//! The decisions attach makes from the meta data: the device's size and its disk states; and
//! what a local I/O error does to the disk (`on-io-error`).
//!
//! C counterpart: drbd_new_dev_size() and the disk-state part of drbd_adm_attach() (drbd_nl.c),
//! __drbd_chk_io_error_() (drbd_int.h).
//! The `MDF_*` flags are the superblock's, in meta/layout.rs.

use crate::meta::layout::{
    MDF_AL_CLEAN, MDF_AL_DISABLED, MDF_CONNECTED_IND, MDF_CONSISTENT, MDF_CRASHED_PRIMARY,
    MDF_PEER_OUT_DATED, MDF_PRIMARY_IND, MDF_WAS_UP_TO_DATE,
};
use crate::model::state::{DiskState, Role};

/// The inputs of drbd_new_dev_size(), in sectors; 0 means unknown or none.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SizeInputs {
    /// Last agreed size, from the superblock.
    pub(crate) la_size: u64,
    /// What the backing device can hold with its meta data (`drbd_get_max_capacity()`).
    pub(crate) my_max: u64,
    /// The peer's size, once connected.
    pub(crate) peer: u64,
    /// The size the user asked for (`disk-size`).
    pub(crate) user: u64,
}

/// What drbd_new_dev_size() decided, and what it logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NewSize {
    pub(crate) sectors: u64,
    /// "Both nodes diskless!": no size known at all.
    pub(crate) both_diskless: bool,
    /// "Requested disk size is too big": the user's size was ignored.
    pub(crate) user_too_big: bool,
}

/// drbd_new_dev_size(): the size the device gets.
pub(crate) fn new_dev_size(i: SizeInputs) -> NewSize {
    let size = match (i.peer, i.my_max) {
        (p, m) if p != 0 && m != 0 => p.min(m),
        // Without both sizes, the last agreed size holds, unless a known size is smaller.
        (p, m) if i.la_size != 0 => [p, m]
            .into_iter()
            .filter(|&s| s != 0)
            .fold(i.la_size, u64::min),
        (p, m) => {
            if p != 0 {
                p
            } else {
                m
            }
        }
    };
    let user_too_big = i.user != 0 && i.user > size;
    NewSize {
        sectors: if i.user != 0 && !user_too_big {
            i.user
        } else {
            size
        },
        both_diskless: size == 0,
        user_too_big,
    }
}

/// What receive_sizes() decides when a connection is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ConnectSize {
    /// The device takes `size`; `user` is the user size (`disk-size`) both sides now keep: the
    /// smaller one that is set.
    Agreed { size: NewSize, user: u64 },
    /// "The peer's disk size is too small!": a disk with usable data (Outdated or better) never
    /// shrinks while connecting; the connection is given up.
    TooSmall { new: u64, cur: u64 },
    /// We are Diskless: the device takes the peer's size.
    Peer(u64),
}

/// What a Diskless device does with the peer's sizes (receive_sizes() without a disk).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DisklessSize {
    /// Nothing: the peer knows no size, or the same.
    Keep,
    /// "Ignored diskless peer device size": the peer is Diskless too.
    IgnoredDiskless,
    /// "The peer's device size is too small! ...; demote me first!": a Primary does not shrink;
    /// the connection goes.
    TooSmall,
    /// The device takes this size (the peer's current size, else its requested size, else its
    /// backing size).
    Take(u64),
}

/// receive_sizes() of a Diskless device of `cur` sectors and `role`, from the peer's P_SIZES
/// `d_size`, `u_size` and `c_size`.
pub(crate) fn diskless_size(
    cur: u64,
    role: Role,
    peer_d: u64,
    peer_u: u64,
    peer_c: u64,
) -> DisklessSize {
    let new = [peer_c, peer_u, peer_d]
        .into_iter()
        .find(|&s| s != 0)
        .unwrap_or(0);
    if new == 0 || new == cur {
        DisklessSize::Keep
    } else if cur != 0 && peer_d == 0 {
        DisklessSize::IgnoredDiskless
    } else if new < cur && role == Role::Primary {
        DisklessSize::TooSmall
    } else {
        DisklessSize::Take(new)
    }
}

/// receive_sizes() on a new connection (C_WF_REPORT_PARAMS): `my` has our sizes and the peer's
/// backing size (`peer`, its P_SIZES `d_size`); `peer_user` is its `u_size`, `cur` our current
/// size, `usable` whether our disk is Outdated or better.
pub(crate) fn connect_size(my: SizeInputs, peer_user: u64, cur: u64, usable: bool) -> ConnectSize {
    let user = match (my.user, peer_user) {
        (0, p) => p,
        (m, 0) => m,
        (m, p) => m.min(p),
    };
    let size = new_dev_size(SizeInputs { user, ..my });
    if size.sectors < cur && usable {
        return ConnectSize::TooSmall {
            new: size.sectors,
            cur,
        };
    }
    ConnectSize::Agreed { size, user }
}

/// warn_if_differ_considerably(): two sizes, both known, that differ by more than an eighth of
/// either.
pub(crate) fn differ_considerably(a: u64, b: u64) -> bool {
    let d = a.abs_diff(b);
    a != 0 && b != 0 && (d > a >> 3 || d > b >> 3)
}

/// The disk states an attached disk starts in, from its superblock flags: Inconsistent without
/// `MDF_CONSISTENT`, Outdated unless it was also UpToDate, else Consistent, which becomes
/// UpToDate when the peer is known to be outdated or fencing is off (`fencing dont-care`).
/// Returns the local and the peer's disk state (`None`: the peer's stays unknown).
pub(crate) fn attach_disk_states(
    md_flags: u32,
    fencing_dont_care: bool,
) -> (DiskState, Option<DiskState>) {
    let pdsk = (md_flags & MDF_PEER_OUT_DATED != 0).then_some(DiskState::Outdated);
    let disk = if md_flags & MDF_CONSISTENT == 0 {
        DiskState::Inconsistent
    } else if md_flags & MDF_WAS_UP_TO_DATE == 0 {
        DiskState::Outdated
    } else if pdsk == Some(DiskState::Outdated) || fencing_dont_care {
        DiskState::UpToDate
    } else {
        DiskState::Consistent
    };
    (disk, pdsk)
}

/// drbd_adm_attach(): a Secondary whose meta data tell of a Primary that was not connected when
/// it stopped (a degraded cluster that crashed) waits `degr-wfc-timeout` for its peer, not
/// `wfc-timeout` (C: USE_DEGR_WFC_T, until the next connection).
pub(crate) fn use_degraded_wfc(primary: bool, md_flags: u32) -> bool {
    !primary && md_flags & MDF_PRIMARY_IND != 0 && md_flags & MDF_CONNECTED_IND == 0
}

/// `enum drbd_timeout_flag` (drbd.h): which timeout `wait-connect` applies.
pub(crate) const UT_DEFAULT: u32 = 0;
pub(crate) const UT_DEGRADED: u32 = 1;
pub(crate) const UT_PEER_OUTDATED: u32 = 2;

/// drbd_adm_get_timeout_type(): the outdate-wfc-timeout for a peer known Outdated, else the
/// degraded one after a degraded crash ([`use_degraded_wfc`]), else the default.
pub(crate) fn timeout_type(pdsk: DiskState, degraded_wfc: bool) -> u32 {
    if pdsk == DiskState::Outdated {
        UT_PEER_OUTDATED
    } else if degraded_wfc {
        UT_DEGRADED
    } else {
        UT_DEFAULT
    }
}

/// `DRBD_AL_EXTENTS_MIN` and `DRBD_AL_EXTENTS_MAX` (drbd_limits.h).
pub(crate) const AL_EXTENTS_MIN: i64 = 7;
pub(crate) const AL_EXTENTS_MAX: i64 = 0xfffe;

/// `al-extents` as sanitize_disk_conf() corrects it: at least 7, and no more than the on-disk
/// ring can describe (919 slots of context per 4 KiB transaction, one transaction may be torn).
pub(crate) fn sanitize_al_extents(requested: i64, al_size_4k: u64) -> u32 {
    const CONTEXT: u64 = 919;
    let sufficient_on_disk = (AL_EXTENTS_MAX as u64).div_ceil(CONTEXT);
    let max = if al_size_4k > sufficient_on_disk {
        AL_EXTENTS_MAX
    } else {
        (al_size_4k.saturating_sub(1) * CONTEXT) as i64
    };
    requested.max(AL_EXTENTS_MIN).min(max).max(0) as u32
}

/// Whether the superblock flags tell of a Primary that crashed: its Primary indicator was left
/// on disk, or an earlier attach found one (drbd_adm_attach()).
pub(crate) fn crashed_primary(flags: u32) -> bool {
    flags & (MDF_CRASHED_PRIMARY | MDF_PRIMARY_IND) != 0
}

/// The superblock flags for a device in these states (the flag update of __drbd_set_state() in
/// drbd_state.c, and `al-updates` from attach): PRIMARY_IND while Primary, CONNECTED_IND while
/// connected (past the handshake), CONSISTENT above Inconsistent, WAS_UP_TO_DATE above Outdated, PEER_OUT_DATED for a peer known
/// Inconsistent or Outdated, CRASHED_PRIMARY while a crash is not resolved, AL_CLEAN dropped (the
/// log is in use while attached), AL_DISABLED without `al-updates`. A disk below Inconsistent
/// (Failed, being detached) keeps the flags it had: C updates them only under get_ldev().
pub(crate) fn md_flags(
    old: u32,
    primary: bool,
    connected: bool,
    disk: DiskState,
    pdsk: DiskState,
    crashed: bool,
    al_updates: bool,
) -> u32 {
    if disk < DiskState::Inconsistent {
        return old;
    }
    let mut f = old
        & !(MDF_CONSISTENT
            | MDF_PRIMARY_IND
            | MDF_CONNECTED_IND
            | MDF_WAS_UP_TO_DATE
            | MDF_PEER_OUT_DATED
            | MDF_CRASHED_PRIMARY
            | MDF_AL_CLEAN
            | MDF_AL_DISABLED);
    if crashed {
        f |= MDF_CRASHED_PRIMARY;
    }
    if primary {
        f |= MDF_PRIMARY_IND;
    }
    if connected {
        f |= MDF_CONNECTED_IND;
    }
    if disk > DiskState::Inconsistent {
        f |= MDF_CONSISTENT;
    }
    if disk > DiskState::Outdated {
        f |= MDF_WAS_UP_TO_DATE;
    }
    if (DiskState::Inconsistent..=DiskState::Outdated).contains(&pdsk) {
        f |= MDF_PEER_OUT_DATED;
    }
    if !al_updates {
        f |= MDF_AL_DISABLED;
    }
    f
}

/// resync_after_online_grow(): whether this side is the SyncSource of the blocks an online
/// grow added: the Primary; with two Secondaries (or two Primaries), the side that resolves
/// conflicts.
pub(crate) fn grow_source(role: Role, peer: Role, resolves_conflicts: bool) -> bool {
    if role != peer {
        role == Role::Primary
    } else {
        resolves_conflicts
    }
}

/// Local I/O errors, as a set of bits: where they happened.
pub(crate) mod io_error {
    /// A read or write of the upper layers.
    pub(crate) const READ: u8 = 1;
    pub(crate) const WRITE: u8 = 2;
    /// A read for the peer (resync, verify, a Diskless peer's read) or a write of the peer's.
    pub(crate) const PEER_READ: u8 = 4;
    pub(crate) const PEER_WRITE: u8 = 8;
    /// Meta data writes (C: DRBD_META_IO_ERROR): an activity log transaction, the superblock.
    pub(crate) const META: u8 = 16;
    pub(crate) const SUPERBLOCK: u8 = 32;
    /// Requests waited at the disk longer than `disk-timeout` (C: DRBD_FORCE_DETACH).
    pub(crate) const TIMEOUT: u8 = 64;
    const FORCE: u8 = META | SUPERBLOCK | TIMEOUT;

    /// Whether a meta data write failed or the disk timed out: the disk is detached whatever
    /// the policy.
    pub(crate) fn forced(bits: u8) -> bool {
        bits & FORCE != 0
    }

    /// The C function whose name the log line carries ("Local IO failed in ..."), for the
    /// first error of `bits`.
    pub(crate) fn origin(bits: u8) -> &'static str {
        if bits & TIMEOUT != 0 {
            "request_timer_fn"
        } else if bits & META != 0 {
            "__al_write_transaction"
        } else if bits & SUPERBLOCK != 0 {
            "drbd_md_write"
        } else if bits & (READ | WRITE) != 0 {
            "__req_mod"
        } else if bits & PEER_READ != 0 {
            "drbd_endio_read_sec_final"
        } else {
            "drbd_endio_write_sec_final"
        }
    }

    /// Whether a read failed (C: WAS_READ_ERROR: a bitmap that cannot be written then asks
    /// for a full sync).
    pub(crate) fn read(bits: u8) -> bool {
        bits & (READ | PEER_READ) != 0
    }
}

/// What local I/O errors do to the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IoErrorAction {
    /// Nothing more (the disk is not above the state the policy leads to).
    Nothing,
    /// `pass_on`: logged; the disk becomes Inconsistent (if it is above that); the errors go to
    /// the upper layers, reads are retried from the peer.
    PassOn { inconsistent: bool },
    /// `detach`, `call-local-io-error`: the disk fails and is detached; `helper` calls the
    /// local-io-error helper first.
    Detach { helper: bool },
}

/// `on-io-error` (`EP_PASS_ON`, `EP_CALL_HELPER`, `EP_DETACH`).
pub(crate) const EP_PASS_ON: i64 = 0;
pub(crate) const EP_CALL_HELPER: i64 = 1;

/// __drbd_chk_io_error_(): what the errors `bits` do to a disk in state `disk` under the
/// `on-io-error` policy. Meta data errors always detach.
pub(crate) fn io_error_action(policy: i64, bits: u8, disk: DiskState) -> IoErrorAction {
    if bits == 0 {
        return IoErrorAction::Nothing;
    }
    if policy == EP_PASS_ON && !io_error::forced(bits) {
        return IoErrorAction::PassOn {
            inconsistent: disk > DiskState::Inconsistent,
        };
    }
    if disk > DiskState::Failed {
        IoErrorAction::Detach {
            helper: policy == EP_CALL_HELPER,
        }
    } else {
        IoErrorAction::Nothing
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::layout::MDF_FULL_SYNC;

    fn size(la_size: u64, my_max: u64, peer: u64, user: u64) -> NewSize {
        new_dev_size(SizeInputs {
            la_size,
            my_max,
            peer,
            user,
        })
    }

    #[test]
    fn sizes_as_drbd_new_dev_size() {
        // first attach after create-md: what the disk can hold
        assert_eq!(size(0, 1000, 0, 0).sectors, 1000);
        // later: the last agreed size, unless the disk shrank
        assert_eq!(size(800, 1000, 0, 0).sectors, 800);
        assert_eq!(size(1200, 1000, 0, 0).sectors, 1000);
        // connected: the smaller of both
        assert_eq!(size(1200, 1000, 900, 0).sectors, 900);
        assert_eq!(size(0, 0, 900, 0).sectors, 900);
        // the user's size, when it fits
        assert_eq!(size(0, 1000, 0, 500).sectors, 500);
        let big = size(0, 1000, 0, 2000);
        assert_eq!((big.sectors, big.user_too_big), (1000, true));
        assert!(size(0, 0, 0, 0).both_diskless);
        assert!(!size(0, 1000, 0, 0).both_diskless);
    }

    #[test]
    fn connect_size_as_receive_sizes() {
        let my = |my_max, peer, user| SizeInputs {
            la_size: 1000,
            my_max,
            peer,
            user,
        };
        // fresh disks of different sizes: both take the smaller one
        let smaller = connect_size(my(1000, 800, 0), 0, 1000, false);
        assert_eq!(
            smaller,
            ConnectSize::Agreed {
                size: size(1000, 1000, 800, 0),
                user: 0
            }
        );
        // the bigger peer changes nothing
        assert!(matches!(connect_size(my(1000, 1200, 0), 0, 1000, true),
                ConnectSize::Agreed { size, .. } if size.sectors == 1000));
        // usable data never shrinks while connecting
        assert_eq!(
            connect_size(my(1000, 800, 0), 0, 1000, true),
            ConnectSize::TooSmall {
                new: 800,
                cur: 1000
            }
        );
        // the smaller user size that is set wins, on both sides
        for (mine, theirs) in [(600, 700), (700, 600), (0, 600), (600, 0)] {
            assert!(matches!(
                connect_size(my(1000, 1000, mine), theirs, 1000, false),
                ConnectSize::Agreed { size, user: 600 } if size.sectors == 600
            ));
        }
        // a diskless peer: the last agreed size holds
        assert!(matches!(
            connect_size(my(1200, 0, 0), 0, 1000, true),
            ConnectSize::Agreed { size, .. } if size.sectors == 1000
        ));
    }

    #[test]
    fn considerable_differences() {
        assert!(!differ_considerably(1000, 900));
        assert!(differ_considerably(1000, 870));
        assert!(differ_considerably(870, 1000));
        assert!(!differ_considerably(0, 1000));
    }

    #[test]
    fn al_extents_as_sanitize_disk_conf() {
        // the default ring: 8 blocks of 4 KiB
        assert_eq!(sanitize_al_extents(1237, 8), 1237);
        assert_eq!(sanitize_al_extents(3, 8), 7);
        assert_eq!(sanitize_al_extents(65534, 8), 7 * 919);
        // beyond 72 blocks (ceil(65534 / 919)) the slot numbers are the limit
        assert_eq!(sanitize_al_extents(65534, 72), 71 * 919);
        assert_eq!(sanitize_al_extents(65534, 73), 65534);
        assert_eq!(sanitize_al_extents(70000, 1000), 65534);
        assert_eq!(sanitize_al_extents(-5, 8), 7);
    }

    #[test]
    fn md_flags_as_the_state_change_writes_them() {
        use DiskState::*;
        // drbdmeta create-md: only AL_CLEAN; attached Inconsistent: nothing
        assert_eq!(
            md_flags(
                MDF_AL_CLEAN,
                false,
                false,
                Inconsistent,
                Unknown,
                false,
                true
            ),
            0
        );
        assert_eq!(
            md_flags(0, false, false, Inconsistent, Unknown, false, false),
            MDF_AL_DISABLED
        );
        assert_eq!(
            md_flags(0, false, false, UpToDate, Outdated, false, true),
            MDF_CONSISTENT | MDF_WAS_UP_TO_DATE | MDF_PEER_OUT_DATED
        );
        // a Primary indicator found on attach is a crash; while Primary it is set
        assert!(crashed_primary(MDF_PRIMARY_IND));
        assert!(!crashed_primary(MDF_CONSISTENT));
        assert_eq!(
            md_flags(MDF_PRIMARY_IND, false, false, Outdated, Unknown, true, true),
            MDF_CRASHED_PRIMARY | MDF_CONSISTENT
        );
        assert_eq!(
            md_flags(0, true, false, UpToDate, Unknown, false, true),
            MDF_PRIMARY_IND | MDF_CONSISTENT | MDF_WAS_UP_TO_DATE
        );
        assert_eq!(
            md_flags(
                MDF_FULL_SYNC,
                false,
                false,
                Consistent,
                Unknown,
                false,
                true
            ) & MDF_FULL_SYNC,
            MDF_FULL_SYNC
        );
        assert_eq!(
            md_flags(
                MDF_CONNECTED_IND,
                true,
                true,
                UpToDate,
                UpToDate,
                false,
                true
            ),
            MDF_PRIMARY_IND | MDF_CONNECTED_IND | MDF_CONSISTENT | MDF_WAS_UP_TO_DATE
        );
        // detaching (UpToDate -> Failed -> Diskless) leaves what the disk was on disk
        let up = MDF_CONSISTENT | MDF_WAS_UP_TO_DATE;
        assert_eq!(md_flags(up, false, false, Failed, Unknown, false, true), up);
        assert_eq!(
            md_flags(up, true, true, Diskless, UpToDate, false, true),
            up
        );
    }

    #[test]
    fn timeout_type_after_a_degraded_crash() {
        use DiskState::*;
        // a Primary that lost its peer and crashed: degr-wfc-timeout on the next attach
        assert!(use_degraded_wfc(false, MDF_PRIMARY_IND | MDF_CONSISTENT));
        // one that crashed while connected, a Secondary, or one still Primary: the default
        assert!(!use_degraded_wfc(
            false,
            MDF_PRIMARY_IND | MDF_CONNECTED_IND
        ));
        assert!(!use_degraded_wfc(false, MDF_CONSISTENT));
        assert!(!use_degraded_wfc(true, MDF_PRIMARY_IND));
        assert_eq!(timeout_type(Unknown, false), UT_DEFAULT);
        assert_eq!(timeout_type(Unknown, true), UT_DEGRADED);
        assert_eq!(timeout_type(Outdated, true), UT_PEER_OUTDATED);
    }

    #[test]
    fn disk_states_from_flags() {
        use DiskState::*;
        assert_eq!(attach_disk_states(0, true), (Inconsistent, None));
        assert_eq!(attach_disk_states(MDF_CONSISTENT, true), (Outdated, None));
        let up = MDF_CONSISTENT | MDF_WAS_UP_TO_DATE;
        assert_eq!(attach_disk_states(up, true), (UpToDate, None));
        assert_eq!(attach_disk_states(up, false), (Consistent, None));
        assert_eq!(
            attach_disk_states(up | MDF_PEER_OUT_DATED, false),
            (UpToDate, Some(Outdated))
        );
    }

    #[test]
    fn io_errors_follow_on_io_error() {
        use io_error::*;
        use DiskState::*;
        let detach = IoErrorAction::Detach { helper: false };
        // detach (2, the default)
        assert_eq!(io_error_action(2, WRITE, UpToDate), detach);
        assert_eq!(io_error_action(2, PEER_READ, Inconsistent), detach);
        assert_eq!(io_error_action(2, READ, Failed), IoErrorAction::Nothing);
        // call-local-io-error
        assert_eq!(
            io_error_action(1, READ, UpToDate),
            IoErrorAction::Detach { helper: true }
        );
        // pass_on: Inconsistent, but meta data errors detach all the same
        assert_eq!(
            io_error_action(0, READ, UpToDate),
            IoErrorAction::PassOn { inconsistent: true }
        );
        assert_eq!(
            io_error_action(0, PEER_WRITE, Inconsistent),
            IoErrorAction::PassOn {
                inconsistent: false
            }
        );
        assert_eq!(io_error_action(0, META | READ, UpToDate), detach);
        assert_eq!(io_error_action(0, SUPERBLOCK, Inconsistent), detach);
        // disk-timeout: detached under every policy, the helper only as asked
        assert_eq!(io_error_action(0, TIMEOUT, UpToDate), detach);
        assert_eq!(
            io_error_action(1, TIMEOUT, Outdated),
            IoErrorAction::Detach { helper: true }
        );
        assert_eq!(io_error_action(2, TIMEOUT, Failed), IoErrorAction::Nothing);
        assert_eq!(origin(TIMEOUT | WRITE), "request_timer_fn");
        assert!(!read(TIMEOUT));
        assert_eq!(origin(SUPERBLOCK | WRITE), "drbd_md_write");
        assert_eq!(io_error_action(2, 0, UpToDate), IoErrorAction::Nothing);
        assert_eq!(origin(META | READ), "__al_write_transaction");
        assert_eq!(origin(PEER_WRITE | WRITE), "__req_mod");
        assert_eq!(origin(PEER_READ | PEER_WRITE), "drbd_endio_read_sec_final");
        assert_eq!(origin(PEER_WRITE), "drbd_endio_write_sec_final");
        assert!(read(PEER_READ) && !read(WRITE | META));
    }

    #[test]
    fn the_primary_resyncs_an_online_grow() {
        use Role::*;
        assert!(grow_source(Primary, Secondary, false));
        assert!(!grow_source(Secondary, Primary, true));
        assert!(grow_source(Secondary, Secondary, true));
        assert!(!grow_source(Secondary, Secondary, false));
    }

    #[test]
    fn a_diskless_device_takes_the_peers_size() {
        use DisklessSize::*;
        use Role::*;
        // current size first, then the requested one, then the backing one
        assert_eq!(diskless_size(0, Secondary, 100, 80, 60), Take(60));
        assert_eq!(diskless_size(0, Secondary, 100, 80, 0), Take(80));
        assert_eq!(diskless_size(0, Secondary, 100, 0, 0), Take(100));
        assert_eq!(diskless_size(60, Primary, 100, 0, 60), Keep);
        assert_eq!(diskless_size(0, Secondary, 0, 0, 0), Keep);
        assert_eq!(diskless_size(60, Secondary, 0, 0, 50), IgnoredDiskless);
        assert_eq!(diskless_size(60, Primary, 100, 0, 50), TooSmall);
        assert_eq!(diskless_size(60, Secondary, 100, 0, 50), Take(50));
        assert_eq!(diskless_size(60, Primary, 100, 0, 80), Take(80));
    }
}
