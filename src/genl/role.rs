// SPDX-License-Identifier: GPL-2.0
//! `primary`, `secondary`, `new-current-uuid` and `invalidate` of a device without a
//! connection: role changes, data generations (UUIDs) and the bitmap as a whole.
//!
//! C counterpart: drbd_adm_set_role() and drbd_set_role(), drbd_adm_new_c_uuid() and
//! drbd_adm_invalidate() of drbd_nl.c. The decisions are in the pure [`crate::model::role`].

use super::attach::log;
use super::config::Name;
use super::nla::{Fields, TopLevel, Value};
use super::retcode::RetCode;
use super::schema::StructDef;
use crate::bitmap::math::Bits;
use crate::device::Device;
use crate::meta::io::{write_bitmap, write_superblock};
use crate::model::role::{self, StateRv, UI_BITMAP};
use crate::model::state::{ConnState, DevState, DiskState, Role, StateReq};
use crate::model::transition;
use crate::net::link::Link;
use crate::sys::random_u64;
use crate::wire::packet;
use crate::wire::sync::{self, UUID_JUST_CREATED};
use kernel::prelude::*;

/// A flag of an optional parameter struct (`set_role_parms_from_attrs()` and the like): false
/// when the struct is absent. Not inlined: the decoded fields stay off the handler's frame.
#[inline(never)]
pub(crate) fn flag(
    top: &TopLevel<'_>,
    def: &'static StructDef,
    name: &str,
) -> Result<bool, (RetCode, &'static str)> {
    let Some(nest) = top.get(def.tla) else {
        return Ok(false);
    };
    let fields = Fields::parse(def, nest.payload)
        .map_err(|_| (RetCode::MandatoryTag, "invalid attribute value"))?;
    Ok(matches!(fields.get(name), Some(Value::Flag(true))))
}

/// Logs the UUIDs after a change, as drbd_print_uuids().
pub(crate) fn print_uuids(res: &Name, dev: &Device, text: &str) {
    if let Some(l) = &dev.ldev {
        let u = l.sb.uuid;
        pr_info!(
            "{}/{} drbd{}: {} {:016X}:{:016X}:{:016X}:{:016X}\n",
            res,
            dev.volume,
            dev.minor,
            text,
            u[0],
            u[1],
            u[2],
            u[3]
        );
    }
}

/// Writes the superblock, logging a failure (drbd_md_sync()).
pub(crate) fn md_sync(res: &Name, dev: &mut Device) -> Result<(), RetCode> {
    let Some(ldev) = dev.ldev.as_mut() else {
        return Ok(());
    };
    let written = write_superblock(ldev);
    if written.is_err() {
        log(res, dev, &"meta data write failed");
    }
    written
}

/// drbd_set_role(): Primary (`force`: even without UpToDate data) or Secondary.
pub(crate) fn set_role(
    res: &Name,
    dev: &mut Device,
    role: Role,
    force: bool,
) -> (RetCode, &'static str) {
    let fencing = dev.fencing_resource();
    let link = dev.io.link();
    if let Some((l, _)) = &link {
        if role == Role::Primary && dev.state.peer == Role::Primary && !l.two_primaries {
            let rv = StateRv::TwoPrimaries;
            log(
                res,
                dev,
                &kernel::fmt!("State change failed: {}", rv.text()),
            );
            return (rv.into(), "");
        }
    }
    let change = match role::set_role(dev.state, role, force, fencing, dev.is_open()) {
        Ok(change) => change,
        Err(StateRv::NothingToDo) => return (RetCode::StateNothingToDo, ""),
        Err(rv) => {
            log(
                res,
                dev,
                &kernel::fmt!("State change failed: {}", rv.text()),
            );
            return (rv.into(), "");
        }
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
            log(
                res,
                dev,
                &kernel::fmt!("State change failed: {}", rv.text()),
            );
            return (rv.into(), "");
        }
    }
    dev.set_state(change.state);
    let primary = role == Role::Primary;
    let mut new_uuid = false;
    if let Some(ldev) = dev.ldev.as_mut() {
        new_uuid = role::role_uuids(&mut ldev.sb.uuid, &change, random_u64());
        ldev.update_flags(&change.state);
    }
    if new_uuid {
        print_uuids(res, dev, "new current UUID");
    }
    // a failed meta data write leaves the role changed, as in C
    let _ = md_sync(res, dev);
    dev.disk.set_read_only(!primary);
    dev.set_primary(primary);
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

/// after_state_ch() of a change from `before` to the device's state now: a Primary (or the
/// Secondary of a Primary) that lost the peer's copy of the data starts a new data generation,
/// so that the peer resyncs the writes it misses meanwhile.
pub(crate) fn peer_lost(res: &Name, dev: &mut Device, before: DevState) {
    let bitmap_uuid = dev.ldev.as_ref().map_or(u64::MAX, |l| l.sb.uuid[UI_BITMAP]);
    if !transition::new_generation_on_loss(&before, &dev.state, bitmap_uuid) {
        return;
    }
    let primary = dev.state.role == Role::Primary;
    if let Some(ldev) = dev.ldev.as_mut() {
        role::uuid_new_current(&mut ldev.sb.uuid, random_u64(), primary);
    }
    print_uuids(res, dev, "new current UUID");
    let _ = md_sync(res, dev);
}

/// drbd_send_uuids(): the device's UUIDs with the flags of `_drbd_send_uuids()` and `extra`.
pub(crate) fn send_uuids(l: &Link, volume: u16, dev: &Device, extra: u64) -> Result {
    let Some(ldev) = &dev.ldev else {
        return Ok(());
    };
    let inconsistent = dev.state.disk == DiskState::Inconsistent;
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
    let Some(mut io) = dev.io.ldev.lock().take() else {
        return Err(RetCode::NoDisk);
    };
    let bits = io.bits;
    if let Ok(mut view) = Bits::new(io.bitmap.as_mut_slice(), bits) {
        if all {
            view.set_range(0..bits);
        } else {
            view.clear_range(0..bits);
        }
        io.bits_set = view.count();
    }
    // a clean bitmap has changes to track again (a full one keeps what the log was doing)
    if !all {
        io.al_suspended = false;
    }
    let written = write_bitmap(&mut io);
    *dev.io.ldev.lock() = Some(io);
    written
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
    print_uuids(res, dev, "new current UUID");
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
        print_uuids(res, dev, "cleared bitmap UUID");
        let state = DevState {
            disk: DiskState::UpToDate,
            pdsk: DiskState::UpToDate,
            ..dev.state
        };
        dev.set_state(state);
        if let Some(ldev) = dev.ldev.as_mut() {
            ldev.update_flags(&state);
        }
    }
    if md_sync(res, dev).is_err() {
        ret = RetCode::IoMdDisk;
    }
    (ret, "")
}

/// drbd_adm_invalidate() without a connection: a StandAlone Secondary becomes Inconsistent with
/// every block out of sync; anything else would need a peer to sync from.
pub(crate) fn invalidate(res: &Name, dev: &mut Device) -> (RetCode, &'static str) {
    if dev.ldev.is_none() {
        return (RetCode::NoDisk, "");
    }
    if dev.state.conn != ConnState::StandAlone || dev.state.role != Role::Secondary {
        let rv = StateRv::NeedConnection;
        log(
            res,
            dev,
            &kernel::fmt!("State change failed: {}", rv.text()),
        );
        return (rv.into(), "");
    }
    let state = DevState {
        disk: DiskState::Inconsistent,
        ..dev.state
    };
    dev.set_state(state);
    if let Some(ldev) = dev.ldev.as_mut() {
        ldev.update_flags(&state);
    }
    let mut ret = RetCode::StateSuccess;
    if rewrite_bitmap(dev, true).is_err() {
        log(res, dev, &"Writing bitmap failed");
        ret = RetCode::IoMdDisk;
    }
    if md_sync(res, dev).is_err() {
        ret = RetCode::IoMdDisk;
    }
    (ret, "")
}
