// SPDX-License-Identifier: GPL-2.0
//! What `primary`, `secondary`, `new-current-uuid` and `invalidate` do to a device: role
//! changes, data generations (UUIDs) and the bitmap as a whole.
//!
//! C counterpart: drbd_adm_set_role() and drbd_set_role(), drbd_adm_new_c_uuid() and
//! drbd_adm_invalidate() of drbd_nl.c. The decisions are in the pure [`crate::model::role`].

use super::attach::log;
use super::Device;
use crate::genl::config::Name;
use crate::genl::retcode::RetCode;
use crate::model::role::{self, StateRv, UI_BITMAP};
use crate::model::state::{ConnState, DevState, DiskState, Role, StateReq};
use crate::model::transition::{self, Fact};
use crate::net::link::Link;
use crate::sys::random_u64;
use crate::wire::packet;
use crate::wire::sync::{self, UUID_JUST_CREATED};
use kernel::prelude::*;

/// A refused state change: C's log line and the code drbdsetup prints.
pub(crate) fn refused(res: &Name, dev: &Device, rv: StateRv) -> (RetCode, &'static str) {
    log(
        res,
        dev,
        &kernel::fmt!("State change failed: {}", rv.text()),
    );
    (rv.into(), "")
}

/// drbd_change_state(role Secondary) of the call-pri-lost-after-sb policy, during a sync
/// handshake: whether this Primary gave its role up (not while the device is open).
pub(crate) fn give_up_primary(res: &Name, dev: &mut Device) -> bool {
    set_role(res, dev, Role::Secondary, false).0 == RetCode::StateSuccess
}

/// drbd_set_role(): Primary (`force`: even without UpToDate data) or Secondary.
pub(crate) fn set_role(
    res: &Name,
    dev: &mut Device,
    role: Role,
    force: bool,
) -> (RetCode, &'static str) {
    let link = dev.io.link();
    let change = match role::set_role(dev.state, role, force, &dev.env()) {
        Ok(change) => change,
        Err(StateRv::NothingToDo) => return (RetCode::StateNothingToDo, ""),
        Err(rv) => return refused(res, dev, rv),
    };
    if change.forced {
        pr_warn!(
            "{}/{} drbd{}: Forced to consider local data as UpToDate!\n",
            res,
            dev.volume,
            dev.minor
        );
    }
    if change.split_brain {
        pr_warn!(
            "{}/{} drbd{}: Forced into split brain situation!\n",
            res,
            dev.volume,
            dev.minor
        );
    }
    // becoming Primary while connected is a cluster-wide state change (cl_wide_st_chg())
    if let (Some((l, volume)), Role::Primary) = (&link, role) {
        // a forced promotion also makes the disk UpToDate, which the peer must see
        let mut req = StateReq::default().role(Role::Primary);
        if change.forced {
            req = req.disk(DiskState::UpToDate);
        }
        let rv = l
            .request_state(*volume, req, false)
            .map_or(StateRv::CwFailedByPeer, StateRv::from_peer);
        if rv != StateRv::Success {
            return refused(res, dev, rv);
        }
    }
    let new_uuid = dev
        .ldev
        .as_mut()
        .is_some_and(|l| role::role_uuids(&mut l.sb.uuid, &change, random_u64()));
    if new_uuid {
        dev.print_uuids(res, "new current UUID");
    }
    // a failed meta data write leaves the role changed, as in C
    dev.enter(res, change.state);
    if let Some((l, volume)) = link {
        // the peer learns the new role (drbd_send_current_state()), and after --force the
        // new data generation
        if change.forced {
            let _ = send_uuids(&l, volume, dev, 0);
        }
        let st = packet::State {
            state: dev.state.to_u32(),
        };
        let _ = l.send_data(packet::P_STATE, volume, |out| st.encode(out));
    }
    (RetCode::StateSuccess, "")
}

/// drbd_send_uuids(): the device's UUIDs with the flags of `_drbd_send_uuids()` and `extra`.
pub(crate) fn send_uuids(l: &Link, volume: u16, dev: &Device, extra: u64) -> Result {
    let Some(ldev) = &dev.ldev else {
        return Ok(());
    };
    let inconsistent = dev.own_disk() == DiskState::Inconsistent;
    let u = packet::Uuids {
        uuid: ldev.sb.uuid,
        bitmap_bits: dev.counters().map_or(0, |c| c.bits_set),
        flags: sync::uuid_flags(false, ldev.crashed, inconsistent, false) | extra,
    };
    l.send_data(packet::P_UUIDS, volume, |out| u.encode(out))
}

/// Sets (`all`) or clears every bit of the bitmap and writes it, with no request in flight
/// (drbd_bmio_set_n_write() and drbd_bmio_clear_n_write()).
pub(crate) fn rewrite_bitmap(dev: &mut Device, all: bool) -> Result<(), RetCode> {
    let _frozen = dev.disk.freeze();
    // the disk stays attached meanwhile: the peer's writes and resync go on
    let (md, layout, bits) = dev.io.fill_bitmap(all).ok_or(RetCode::NoDisk)?;
    dev.io.write_bitmap(&md, &layout, bits)
}

/// [`rewrite_bitmap`], with C's log line when the bitmap cannot be written.
pub(crate) fn rewrite_bitmap_logged(res: &Name, dev: &mut Device, all: bool) {
    if rewrite_bitmap(dev, all).is_err() {
        log(res, dev, &"Writing bitmap failed");
    }
}

/// drbd_adm_new_c_uuid(): a new data generation, the old one into the bitmap UUID's place and
/// history; `--clear-bitmap` also forgets all out-of-sync marks.
pub(crate) fn new_current_uuid(
    res: &Name,
    dev: &mut Device,
    clear_bm: bool,
) -> (RetCode, &'static str) {
    if dev.ldev.is_none() {
        return (RetCode::NoDisk, "");
    }
    // "skip initial sync": fresh meta data on both sides, connected, declared clean
    let link = dev.io.link().filter(|(l, _)| {
        dev.state.conn == ConnState::Connected
            && l.agreed.version >= 90
            && dev
                .ldev
                .as_ref()
                .is_some_and(|l| l.sb.uuid[0] == UUID_JUST_CREATED)
            && clear_bm
    });
    if link.is_some() {
        pr_info!(
            "{}/{} drbd{}: Preparing to skip initial sync\n",
            res,
            dev.volume,
            dev.minor
        );
    } else if dev.state.conn != ConnState::StandAlone {
        return (RetCode::Connected, "");
    }
    let primary = dev.state.role == Role::Primary;
    if let Some(ldev) = dev.ldev.as_mut() {
        role::uuid_set(&mut ldev.sb.uuid, UI_BITMAP, 0, primary);
        role::uuid_new_current(&mut ldev.sb.uuid, random_u64(), primary);
    }
    dev.print_uuids(res, "new current UUID");
    let mut ret = RetCode::NoError;
    if clear_bm && rewrite_bitmap(dev, false).is_err() {
        log(res, dev, &"Writing bitmap failed");
        ret = RetCode::IoMdDisk;
    }
    if let Some((l, volume)) = link {
        let _ = send_uuids(&l, volume, dev, packet::UUID_FLAG_SKIP_INITIAL_SYNC);
        if let Some(ldev) = dev.ldev.as_mut() {
            ldev.sb.uuid[UI_BITMAP] = 0;
        }
        dev.print_uuids(res, "cleared bitmap UUID");
        dev.apply(res, Fact::InSync);
    }
    if dev.md_sync(res).is_err() {
        ret = RetCode::IoMdDisk;
    }
    (ret, "")
}

/// drbd_adm_outdate(): the disk is marked Outdated, so that its data are not taken for the
/// newest (promotion needs `--force` then). Refused as C refuses it for a Primary, without a
/// disk, or below Outdated. While connected, sanitize() makes Outdated UpToDate again: C answers
/// SS_NOTHING_TO_DO, which drbdsetup reports as success, and so do we.
pub(crate) fn outdate(res: &Name, dev: &mut Device) -> (RetCode, &'static str) {
    let ns = DevState {
        disk: DiskState::Outdated,
        ..dev.state
    };
    match transition::change(dev.state, ns, &dev.env(), false) {
        Ok(ns) => {
            dev.enter(res, ns);
            (RetCode::StateSuccess, "")
        }
        Err(StateRv::NothingToDo) => (RetCode::StateNothingToDo, ""),
        Err(rv) => refused(res, dev, rv),
    }
}

/// drbd_adm_pause_sync() and drbd_adm_resume_sync(): `user_isp`, which pauses a resync here
/// and, told in our state, on the peer. C's answers when nothing changes: ERR_PAUSE_IS_SET,
/// or for a resync still paused by a dependency or the peer ERR_PIC_AFTER_DEP / _PEER_DEP,
/// else ERR_PAUSE_IS_CLEAR.
pub(crate) fn pause_sync(res: &Name, dev: &mut Device, pause: bool) -> (RetCode, &'static str) {
    let fact = Fact::Pause {
        user: Some(pause),
        peer: None,
        after: None,
    };
    let ns = transition::next(dev.state, fact);
    if ns == dev.state {
        let s = &dev.state;
        let paused = matches!(s.conn, ConnState::PausedSyncS | ConnState::PausedSyncT);
        let ret = match (pause, paused) {
            (true, _) => RetCode::PauseIsSet,
            (false, true) if s.aftr_isp => RetCode::PicAfterDep,
            (false, true) if s.peer_isp => RetCode::PicPeerDep,
            (false, _) => RetCode::PauseIsClear,
        };
        return (ret, "");
    }
    // the peer learns of the pause (Device::enter)
    dev.enter(res, ns);
    (RetCode::NoError, "")
}

/// drbd_adm_invalidate(): a StandAlone Secondary becomes Inconsistent with every block out of
/// sync; connected, a full sync from the peer begins (StartingSyncT, cluster-wide). Anything
/// else is refused as C refuses it.
pub(crate) fn invalidate(res: &Name, dev: &mut Device) -> (RetCode, &'static str) {
    if dev.ldev.is_none() {
        return (RetCode::NoDisk, "");
    }
    if dev.state.conn == ConnState::StandAlone && dev.state.role == Role::Secondary {
        dev.apply(res, Fact::Disk(DiskState::Inconsistent));
        return all_out_of_sync(res, dev);
    }
    full_sync(res, dev, ConnState::StartingSyncT)
}

/// drbd_adm_invalidate_peer() (`invalidate-remote`): connected, a full sync to the peer begins
/// (StartingSyncS, cluster-wide); a StandAlone Primary marks the peer's disk Inconsistent and
/// every block out of sync, for a full sync on the next connect. Refused without a disk, and
/// otherwise without a connection (SS_NEED_CONNECTION).
pub(crate) fn invalidate_remote(res: &Name, dev: &mut Device) -> (RetCode, &'static str) {
    if dev.ldev.is_none() {
        return (RetCode::NoDisk, "");
    }
    if dev.state.conn != ConnState::StandAlone || dev.state.role != Role::Primary {
        return full_sync(res, dev, ConnState::StartingSyncS);
    }
    let ns = DevState {
        pdsk: DiskState::Inconsistent,
        ..dev.state
    };
    match transition::change(dev.state, ns, &dev.env(), false) {
        Ok(ns) => dev.enter(res, ns),
        Err(StateRv::NothingToDo) => {}
        Err(rv) => return refused(res, dev, rv),
    }
    all_out_of_sync(res, dev)
}

/// drbd_bmio_set_n_write() for a state change already made: every block out of sync, bitmap
/// and superblock written; ERR_IO_MD_DISK if either write fails.
fn all_out_of_sync(res: &Name, dev: &mut Device) -> (RetCode, &'static str) {
    let mut ret = RetCode::StateSuccess;
    if rewrite_bitmap(dev, true).is_err() {
        log(res, dev, &"Writing bitmap failed");
        ret = RetCode::IoMdDisk;
    }
    if dev.md_sync(res).is_err() {
        ret = RetCode::IoMdDisk;
    }
    (ret, "")
}

/// The cluster-wide change to StartingSyncS or StartingSyncT, checked here, then by the peer;
/// once granted the bitmap is set and written and the resync begins
/// ([`crate::resync::start_full_sync`]).
fn full_sync(res: &Name, dev: &mut Device, conn: ConnState) -> (RetCode, &'static str) {
    let ns = match transition::change(dev.state, DevState { conn, ..dev.state }, &dev.env(), false)
    {
        Ok(ns) => ns,
        Err(rv) => return refused(res, dev, rv),
    };
    let Some((l, volume)) = dev.io.link() else {
        return refused(res, dev, StateRv::NeedConnection);
    };
    let rv = l
        .request_state(volume, StateReq::default().conn(conn), false)
        .map_or(StateRv::CwFailedByPeer, StateRv::from_peer);
    if rv != StateRv::Success {
        return refused(res, dev, rv);
    }
    dev.enter(res, ns);
    crate::resync::start_full_sync(res, dev);
    (RetCode::StateSuccess, "")
}
