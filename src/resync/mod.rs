// SPDX-License-Identifier: GPL-2.0
//! Resync: the bitmap exchange, the sync UUID, the SyncTarget's requests (the sender thread)
//! and the SyncSource's replies, and the end of a resync on either side.
//!
//! C counterpart: receive_bitmap(), receive_sync_uuid(), receive_DataRequest() of
//! drbd_receiver.c; drbd_start_resync(), make_resync_request() and drbd_resync_finished() of
//! drbd_worker.c. The resync's state and its requests on the link are in
//! `crate::net::link` ([`crate::net::link::Resync`]).

use crate::device::helper::call_device;
use crate::device::{take_at, Drbd};
use crate::genl::config::Name;
use crate::genl::retcode::RetCode;
use crate::model::controller::RateConf;
use crate::model::helper::{exit_code, resync_may_start, Helper};
use crate::model::role::StateRv;
use crate::model::state::{ConnState, DevState, Role, StateReq};
use crate::model::transition::{self, Fact};
use crate::net::link::{Link, Resync};
use crate::net::receiver::Vol;
use crate::net::{with_resource, with_volume, ConnShared, Settings};
use crate::sys::thread::should_stop;
use crate::wire::sync::{self, Decision};
use crate::wire::{bitmap_codec, packet};
use kernel::prelude::*;
use kernel::sync::Arc;

/// The sender thread: acks, barriers, the SyncTarget's resync requests and the verify source's
/// requests; it ends a target's resync once every block arrived, and a verify once every
/// result did.
pub(crate) fn sender(link: &Link, drbd: &Drbd, shared: &ConnShared, name: &Name) {
    let mut check_at = 0;
    while !should_stop() && !link.is_broken() {
        link.sender_step();
        let now = crate::sys::jiffies();
        if now >= check_at {
            link.check_timeout();
            link.check_disk_timeouts();
            check_at = now + crate::sys::hz() / 4;
        }
        for volume in link.request_resync(crate::sys::jiffies(), crate::sys::hz()) {
            link.ping_peer();
            if with_volume(drbd, shared, name, volume, |d| finish_target(name, link, d))
                == Some(true)
            {
                call_device(drbd, shared, name, volume, Helper::AfterResyncTarget);
            }
        }
        // a full sync asked for while connected, as its source (abw_start_sync())
        for volume in link.take_source_starts() {
            if let Some(start) =
                with_volume(drbd, shared, name, volume, |d| Start::of_device(d, volume))
            {
                begin_resync(drbd, shared, name, link, &start, None);
            }
        }
        // Ahead of the peer with every write on its disk (start_resync_timer_fn()): the
        // blocks written meanwhile are resynced
        for volume in link.ahead_done(crate::sys::jiffies(), crate::sys::hz()) {
            let start = with_volume(drbd, shared, name, volume, |d| {
                (d.state.conn == ConnState::Ahead).then(|| Start::of_device(d, volume))
            });
            if let Some(Some(start)) = start {
                begin_resync(drbd, shared, name, link, &start, None);
            }
        }
        link.request_verify(crate::sys::jiffies(), crate::sys::hz());
        for volume in link.verifies_done() {
            if with_volume(drbd, shared, name, volume, |d| finish_verify(name, link, d))
                == Some(true)
            {
                call_device(drbd, shared, name, volume, Helper::OutOfSync);
            }
        }
    }
}

/// receive_bitmap(): one bitmap packet of the peer. Once the whole bitmap is in, the SyncTarget
/// answers with its own and waits for the sync UUID; the SyncSource begins the resync.
#[allow(clippy::too_many_arguments)]
pub(crate) fn receive_bitmap(
    drbd: &Drbd,
    shared: &ConnShared,
    s: &Settings,
    link: &Link,
    v: &Vol,
    rx: &mut Option<bitmap_codec::Receiver>,
    cmd: u16,
    body: &[u8],
) -> bool {
    if matches!(v.decision, Decision::Connected) {
        pr_err!(
            "{}/{}: bitmap packet while not negotiating a resync\n",
            s.name,
            v.volume
        );
        return false;
    }
    if rx.is_none() {
        let hlen = packet::header_size(link.agreed.version) as u32;
        match bitmap_codec::Receiver::new(
            v.io.bitmap_bits(),
            bitmap_codec::Framing::socket_buffer(hlen),
        ) {
            Ok(r) => *rx = Some(r),
            Err(_) => return false,
        }
    }
    let Some(r) = rx.as_mut() else {
        return false;
    };
    let kind = if cmd == packet::P_BITMAP {
        bitmap_codec::Kind::Plain
    } else {
        bitmap_codec::Kind::Compressed
    };
    match v.io.receive_bitmap(r, kind, body) {
        Some(Ok(bitmap_codec::Progress::More)) => return true,
        Some(Ok(bitmap_codec::Progress::Done)) => {}
        Some(Err(e)) => {
            pr_err!("{}/{}: receive_bitmap: {:?}\n", s.name, v.volume, e);
            return false;
        }
        None => return false,
    }
    if let Some(summary) = r.summary() {
        pr_info!("{}/{}: {}\n", s.name, v.volume, summary);
    }
    // the next exchange on this connection (a disk attached again) begins anew
    *rx = None;
    match v.decision {
        Decision::SyncTarget { .. } => {
            if link.send_bitmap(v.volume, &v.io).is_err() {
                return false;
            }
            with_resource(drbd, shared, &s.name, |res| {
                if let Some(d) = res
                    .devices
                    .as_mut_slice()
                    .iter_mut()
                    .find(|d| d.volume == u32::from(v.volume))
                {
                    d.apply(&s.name, Fact::Resync(ConnState::WfSyncUuid));
                }
            })
            .is_some()
        }
        _ => begin_resync(drbd, shared, &s.name, link, &Start::of(v), None),
    }
}

/// What a resync's start needs of its volume: from the receiver's [`Vol`] (the handshake's
/// decision), or from the device (a full sync asked for while connected).
pub(crate) struct Start {
    pub(crate) volume: u16,
    /// The device size in sectors.
    pub(crate) size: u64,
    /// The peer's UUIDs (current, bitmap, history), which the target takes over at the end.
    pub(crate) peer_uuids: [u64; 4],
}

impl Start {
    pub(crate) fn of(v: &Vol) -> Self {
        Self {
            volume: v.volume,
            size: v.size,
            peer_uuids: v.peer_uuids,
        }
    }

    /// From the device as it is now, with the peer's last UUIDs.
    fn of_device(d: &crate::device::Device, volume: u16) -> Self {
        let mut peer_uuids = [0; 4];
        if let Some(p) = d.peer_uuids {
            peer_uuids.copy_from_slice(&p[..4]);
        }
        Self {
            volume,
            size: d.size,
            peer_uuids,
        }
    }
}

/// Whether a resync may begin from connection state `conn`: the target once it waits for the
/// sync UUID or is Behind, the source after the bitmap exchange, a full sync's bitmap write, an
/// online grow (Connected), or Ahead.
fn may_begin(conn: ConnState, target: bool) -> bool {
    if target {
        matches!(conn, ConnState::WfSyncUuid | ConnState::Behind)
    } else {
        matches!(
            conn,
            ConnState::WfBitMapS
                | ConnState::StartingSyncS
                | ConnState::Connected
                | ConnState::Ahead
        )
    }
}

/// drbd_start_resync(): the SyncSource (`sync_uuid` None: it makes one, drbd_gen_and_send_sync_uuid())
/// or the SyncTarget (with the source's sync UUID, receive_sync_uuid()) begins.
pub(crate) fn begin_resync(
    drbd: &Drbd,
    shared: &ConnShared,
    name: &Name,
    link: &Link,
    v: &Start,
    sync_uuid: Option<u64>,
) -> bool {
    let target = sync_uuid.is_some();
    let in_turn = with_volume(drbd, shared, name, v.volume, |d| {
        may_begin(d.state.conn, target)
    });
    if in_turn != Some(true) {
        pr_err!("{}/{}: sync UUID out of turn\n", name, v.volume);
        return false;
    }
    // before the data become Inconsistent (say, a snapshot), or before we serve them
    let helper = if target {
        Helper::BeforeResyncTarget
    } else {
        Helper::BeforeResyncSource
    };
    let status = call_device(drbd, shared, name, v.volume, helper).unwrap_or(0);
    if !resync_may_start(helper, status) {
        pr_info!(
            "{}/{}: {} handler returned {}, dropping connection.\n",
            name,
            v.volume,
            helper.name(),
            exit_code(status)
        );
        shared.give_up();
        return false;
    }
    if exit_code(status) == 3 {
        pr_info!(
            "{}/{}: {} handler returned 3, ignoring. Old userland tools?\n",
            name,
            v.volume,
            helper.name()
        );
    }
    let now = crate::sys::jiffies();
    let begun = with_resource(drbd, shared, name, |res| -> Option<u64> {
        let d = res
            .devices
            .as_mut_slice()
            .iter_mut()
            .find(|d| d.volume == u32::from(v.volume))?;
        if !may_begin(d.state.conn, target) {
            return None;
        }
        let primary = d.state.role == Role::Primary;
        let l = d.ldev.as_mut()?;
        let uuid = match sync_uuid {
            Some(u) => {
                l.sb.uuid[0] = if primary { u | 1 } else { u & !1 };
                l.sb.uuid[1] = 0;
                u
            }
            None => {
                let b = l.sb.uuid[1];
                let u = if b != 0 && b != sync::UUID_JUST_CREATED {
                    b.wrapping_add(sync::UUID_NEW_BM_OFFSET)
                } else {
                    crate::sys::random_u64()
                };
                crate::model::role::uuid_set(&mut l.sb.uuid, 1, u, primary);
                u
            }
        };
        d.apply(
            name,
            Fact::Resync(if target {
                ConnState::SyncTarget
            } else {
                ConnState::SyncSource
            }),
        );
        d.print_uuids(
            name,
            if target {
                "updated sync uuid"
            } else {
                "updated sync UUID"
            },
        );
        let rs = Resync::new(
            v.volume,
            d.io.clone(),
            target,
            v.size,
            v.peer_uuids,
            d.rate_conf(),
            now,
        )
        .ok()?;
        pr_info!(
            "{}/{} drbd{}: Began resync as {} (will sync {} KB [{} bits set]).\n",
            name,
            d.volume,
            d.minor,
            if target { "SyncTarget" } else { "SyncSource" },
            rs.total << 2,
            rs.total
        );
        link.resyncs.lock().push(rs, GFP_KERNEL).ok()?;
        // paused from the start (pause-sync before, or the peer's pause)
        if matches!(
            d.state.conn,
            ConnState::PausedSyncS | ConnState::PausedSyncT
        ) {
            link.pause_resync(v.volume, true);
        }
        Some(uuid)
    });
    let Some(Some(uuid)) = begun else {
        return false;
    };
    if target {
        link.kick();
        return true;
    }
    let u = packet::RsUuid { uuid };
    link.send_data(packet::P_SYNC_UUID, v.volume, |out| u.encode(out))
        .is_ok()
}

/// after_state_ch() entering StartingSyncS or StartingSyncT (`invalidate`, `invalidate-remote`,
/// asked here or by the peer): every block out of sync, the bitmap written; then the target
/// waits for the sync UUID and the source begins, from the sender thread (abw_start_sync()).
pub(crate) fn start_full_sync(name: &Name, d: &mut crate::device::Device) {
    let target = d.state.conn == ConnState::StartingSyncT;
    if crate::device::role::rewrite_bitmap(d, true).is_err() {
        crate::device::attach::log(name, d, &"Writing the bitmap failed not starting resync.");
        d.apply(name, Fact::Resync(ConnState::Connected));
        return;
    }
    if target {
        d.apply(name, Fact::Resync(ConnState::WfSyncUuid));
    } else if let Some((link, volume)) = d.io.link() {
        link.queue_source_start(volume);
    }
}

/// The rate a verify asks at (KiB/s): resync-rate without the dynamic controller
/// (c-plan-ahead 0), else c-max-rate (the controller paces resyncs only, yet).
fn verify_rate_kib(c: &RateConf) -> u32 {
    if c.plan_ahead == 0 {
        c.resync_rate
    } else {
        c.max_rate
    }
}

/// The SyncSource answers a resync request with the blocks (receive_DataRequest()).
pub(crate) fn serve_resync_request(
    s: &Settings,
    link: &Arc<Link>,
    v: &Vol,
    r: &packet::BlockReq,
    digest: Option<&[u8]>,
) -> bool {
    let ok_size = packet::check_block_size(packet::Command::RsDataRequest, r.blksize).is_ok();
    if !ok_size
        || v.io
            .peer_target(r.sector, u64::from(r.blksize >> 9))
            .is_err()
    {
        pr_err!(
            "{}/{}: invalid resync request (sector {}, {} bytes)\n",
            s.name,
            v.volume,
            r.sector,
            r.blksize
        );
        return false;
    }
    // a Primary SyncTarget sends a write before any resync request under it: the write is on
    // our disk before the block is read
    if !link.drain_peer_writes() {
        return false;
    }
    link.read_for_resync(v.volume, &v.io, r, digest).is_ok()
}

/// receive_DataRequest() for P_OV_REQUEST: the peer verifies one of our blocks.
pub(crate) fn serve_verify_request(
    s: &Settings,
    link: &Link,
    v: &Vol,
    r: &packet::BlockReq,
) -> bool {
    let ok_size = packet::check_block_size(packet::Command::OvRequest, r.blksize).is_ok();
    if !ok_size
        || s.verify_alg.is_empty()
        || v.io
            .peer_target(r.sector, u64::from(r.blksize >> 9))
            .is_err()
    {
        pr_err!(
            "{}/{}: invalid verify request (sector {}, {} bytes, verify-alg \"{}\")\n",
            s.name,
            v.volume,
            r.sector,
            r.blksize,
            kernel::str::BStr::from_bytes(&s.verify_alg)
        );
        return false;
    }
    link.send_verify_reply(v.volume, &v.io, r, &s.verify_alg)
        .is_ok()
}

/// receive_DataRequest() for P_OV_REPLY: the peer's digest of a block we asked for, compared
/// with ours.
pub(crate) fn serve_verify_reply(
    s: &Settings,
    link: &Link,
    v: &Vol,
    r: &packet::BlockReq,
    digest: &[u8],
) -> bool {
    let ok_size = packet::check_block_size(packet::Command::OvReply, r.blksize).is_ok();
    if !ok_size
        || link
            .verify_reply(v.volume, r, &s.verify_alg, digest)
            .is_err()
    {
        pr_err!(
            "{}/{}: invalid verify reply (sector {}, {} bytes)\n",
            s.name,
            v.volume,
            r.sector,
            r.blksize
        );
        return false;
    }
    true
}

/// drbd_adm_start_ov(): `verify` on a connected device: both sides agree to VerifyS/VerifyT
/// (a cluster-wide state change), and we ask for the peer's digests from `start` (or where the
/// last verify got to) to `stop` (sectors).
pub(crate) fn start_verify(
    name: &Name,
    dev: &mut crate::device::Device,
    start: Option<u64>,
    stop: u64,
) -> (RetCode, &'static str) {
    let refuse = |dev: &crate::device::Device, rv: StateRv| {
        crate::device::attach::log(
            name,
            dev,
            &kernel::fmt!("State change failed: {}", rv.text()),
        );
        (rv.into(), "")
    };
    let link = dev.io.link();
    let wanted = DevState {
        conn: ConnState::VerifyS,
        ..dev.state
    };
    let env = dev.env();
    let ns = match transition::change(dev.state, wanted, &env, false) {
        Ok(ns) => ns,
        Err(rv) => return refuse(dev, rv),
    };
    let Some((l, volume)) = link else {
        return refuse(dev, StateRv::NeedConnection);
    };
    let rv = l
        .request_state(volume, StateReq::default().conn(ConnState::VerifyS), false)
        .map_or(StateRv::CwFailedByPeer, StateRv::from_peer);
    if rv != StateRv::Success {
        return refuse(dev, rv);
    }
    let from = crate::net::link::VerifySource {
        start: start.unwrap_or(dev.verify_from),
        stop,
        capacity: dev.size,
        rate_kib: verify_rate_kib(&dev.rate_conf()),
    };
    dev.enter(name, ns);
    match l.begin_verify(volume, dev.io.clone(), Some(from)) {
        Ok(start) => pr_info!(
            "{}/{} drbd{}: Starting Online Verify from sector {}\n",
            name,
            dev.volume,
            dev.minor,
            start
        ),
        Err(_) => {
            dev.apply(name, Fact::Resync(ConnState::Connected));
            return (RetCode::NoMem, "");
        }
    }
    (RetCode::StateSuccess, "")
}

/// drbd_resync_finished() of an online verify: "Online verify done", the blocks found out of
/// sync, and Connected again; a source that stopped before the end tells the peer. Whether
/// blocks out of sync were found (the `out-of-sync` helper is called then).
pub(crate) fn finish_verify(name: &Name, link: &Link, d: &mut crate::device::Device) -> bool {
    let Some(mut v) = u16::try_from(d.volume)
        .ok()
        .and_then(|volume| link.end_verify(volume))
    else {
        return false;
    };
    if let Some((start, size)) = v.run.take_run() {
        link.log_out_of_sync(v.volume, start, size);
    }
    let hz = crate::sys::hz().max(1);
    let dt = (crate::sys::jiffies().wrapping_sub(v.started) / hz).max(1);
    pr_info!(
        "{}/{} drbd{}: Online verify done (total {} sec; paused 0 sec; {} K/sec)\n",
        name,
        d.volume,
        d.minor,
        dt,
        (v.run.verified() / dt) << 2
    );
    let oos = d.io.bits_set();
    if oos > 0 {
        pr_alert!(
            "{}/{} drbd{}: Online verify found {} 4k block out of sync!\n",
            name,
            d.volume,
            d.minor,
            oos
        );
    }
    if matches!(d.state.conn, ConnState::VerifyS | ConnState::VerifyT) {
        d.apply(name, Fact::Resync(ConnState::Connected));
        // the peer did not know where we stopped (after_state_ch())
        if v.source && crate::model::verify::can_stop_early(link.agreed.version) {
            let st = packet::State {
                state: d.state.to_u32(),
            };
            let _ = link.send_data(packet::P_STATE, v.volume, |out| st.encode(out));
        }
    }
    d.verify_ended(name, &v.run);
    oos > 0
}

/// Removes the volume's resync; returns its start time and total.
pub(crate) fn end_resync(link: &Link, volume: u16) -> Option<KBox<Resync>> {
    let mut resyncs = link.resyncs.lock();
    let i = resyncs.iter().position(|r| r.volume == volume)?;
    take_at(&mut resyncs, i).ok().flatten()
}

/// "Resync done (...)" as drbd_resync_finished() logs it, and how much checksums spared.
fn log_done(name: &Name, d: &crate::device::Device, rs: &Resync) {
    let hz = crate::sys::hz().max(1);
    // C: the rate over the time not paused; the total with the pauses
    let paused = rs.paused / hz;
    let elapsed = crate::sys::jiffies().wrapping_sub(rs.started) / hz;
    let dt = elapsed.saturating_sub(paused).max(1);
    pr_info!(
        "{}/{} drbd{}: Resync done (total {} sec; paused {} sec; {} K/sec)\n",
        name,
        d.volume,
        d.minor,
        dt + paused,
        paused,
        (rs.total / dt) << 2
    );
    if rs.csums {
        pr_info!(
            "{}/{} drbd{}: {} % had equal checksums, eliminated: {}K; transferred {}K total {}K\n",
            name,
            d.volume,
            d.minor,
            sync::equal_csum_percent(rs.same_csum, rs.total),
            rs.same_csum << 2,
            rs.total.saturating_sub(rs.same_csum) << 2,
            rs.total << 2
        );
    }
}

/// drbd_resync_finished() of the SyncTarget: UpToDate, with the source's data generation.
/// Whether the resync ended here (the `after-resync-target` helper is called then, also when
/// blocks failed).
pub(crate) fn finish_target(name: &Name, link: &Link, d: &mut crate::device::Device) -> bool {
    let Ok(volume) = u16::try_from(d.volume) else {
        return false;
    };
    let Some(rs) = end_resync(link, volume) else {
        return false;
    };
    log_done(name, d, &rs);
    if rs.failed > 0 {
        // blocks the source could not read, or we could not write, stay out of sync: the
        // disk stays Inconsistent, the data generation unchanged
        pr_info!(
            "{}/{} drbd{}:             {} failed blocks\n",
            name,
            d.volume,
            d.minor,
            rs.failed
        );
        d.apply(
            name,
            Fact::ResyncDone {
                target: true,
                ok: false,
            },
        );
        let st = packet::State {
            state: d.state.to_u32(),
        };
        let _ = link.send_data(packet::P_STATE, volume, |out| st.encode(out));
        return true;
    }
    let primary = d.state.role == Role::Primary;
    if let Some(l) = d.ldev.as_mut() {
        let p = rs.peer_uuids;
        l.sb.uuid[1..4].copy_from_slice(&p[1..4]);
        let current = l.sb.uuid[0];
        crate::model::role::uuid_set(&mut l.sb.uuid, 1, current, primary);
        l.sb.uuid[0] = if primary { p[0] | 1 } else { p[0] & !1 };
        crate::model::role::uuid_clear_bitmap(&mut l.sb.uuid);
    }
    d.print_uuids(name, "updated UUIDs");
    d.apply(
        name,
        Fact::ResyncDone {
            target: true,
            ok: true,
        },
    );
    crate::device::role::rewrite_bitmap_logged(name, d, false);
    let st = packet::State {
        state: d.state.to_u32(),
    };
    let _ = link.send_data(packet::P_STATE, volume, |out| st.encode(out));
    true
}

/// drbd_resync_finished() of the SyncSource, told by the target's state: `synced` when the
/// target is UpToDate now; else blocks failed and the peer stays Inconsistent.
pub(crate) fn finish_source(name: &Name, link: &Link, d: &mut crate::device::Device, synced: bool) {
    let Ok(volume) = u16::try_from(d.volume) else {
        return;
    };
    let Some(rs) = end_resync(link, volume) else {
        return;
    };
    log_done(name, d, &rs);
    let left = d.io.bits_set();
    if !synced {
        pr_info!(
            "{}/{} drbd{}:             {} failed blocks\n",
            name,
            d.volume,
            d.minor,
            left
        );
        d.apply(
            name,
            Fact::ResyncDone {
                target: false,
                ok: false,
            },
        );
        return;
    }
    if let Some(l) = d.ldev.as_mut() {
        crate::model::role::uuid_clear_bitmap(&mut l.sb.uuid);
    }
    d.print_uuids(name, "updated UUIDs");
    d.apply(
        name,
        Fact::ResyncDone {
            target: false,
            ok: left == 0,
        },
    );
    if left == 0 {
        crate::device::role::rewrite_bitmap_logged(name, d, false);
    }
}
