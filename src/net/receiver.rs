// SPDX-License-Identifier: GPL-2.0
//! An established connection's data socket: the volumes go Connected, the peer's writes are
//! checked and written, barriers answered, the peer's state and state change requests applied
//! by the transition rules of [`crate::model::transition`].
//!
//! C counterpart: drbd_connected(), drbdd(), receive_Data(), receive_Barrier(),
//! receive_state(), receive_req_state(), receive_uuids() and receive_out_of_sync() of
//! drbd_receiver.c.

use super::handshake::{decide, recv_header, Negotiated, Peer, PeerVol};
use super::{send_timeout, with_resource, ConnShared, Settings};
use crate::device::helper::{call, call_device, Subject};
use crate::device::twopri::PeerBegin;
use crate::device::{DevIo, Drbd, PeerRange, Resource};
use crate::genl::config::Name;
use crate::model::attach::ConnectSize;
use crate::model::helper::{self, Helper};
use crate::model::role::StateRv;
use crate::model::state::{ConnState, DevState, DiskState};
use crate::model::transition::{self, Fact};
use crate::net::link::{Link, LinkConf, PeerWrite};
use crate::resync::{
    begin_resync, finish_source, finish_verify, receive_bitmap, sender, serve_resync_request,
    serve_verify_reply, serve_verify_request, start_full_sync, Start,
};
use crate::sys::crypto;
use crate::sys::pio::{self, PeerBuf, PeerIo, PeerOp};
use crate::sys::print::ratelimit;
use crate::sys::thread::{should_stop, Thread};
use crate::sys::{sleep_ms, without_io_reclaim};
use crate::wire::packet;
use crate::wire::sync::{self, AfterSb, Decision};
use kernel::c_str;
use kernel::prelude::*;
use kernel::str::BStr;
use kernel::sync::Arc;

/// What the receiver knows of a connected volume.
pub(crate) struct Vol {
    pub(crate) volume: u16,
    pub(crate) io: Arc<DevIo>,
    /// The device's size in sectors when the connection began (peer requests are checked
    /// against the disk attached at the time they come).
    pub(crate) size: u64,
    pub(crate) decision: Decision,
    pub(crate) peer_uuids: [u64; 4],
}

/// The connection is up: the volumes go Connected, the ack threads start, and this thread
/// serves the data socket until the connection breaks; then the volumes go back to Unconnected
/// and what the peer did not acknowledge is out of sync.
pub(crate) fn established(drbd: &Arc<Drbd>, shared: &Arc<ConnShared>, s: &Settings, peer: Peer) {
    let copy = |bytes: &[u8]| -> Option<KVec<u8>> {
        let mut v = KVec::new();
        v.extend_from_slice(bytes, GFP_KERNEL).ok()?;
        Some(v)
    };
    let (Some(integrity), Some(verify_alg), Some(csums_alg)) = (
        copy(&s.integrity_alg),
        copy(&s.verify_alg),
        copy(&s.csums_alg),
    ) else {
        return;
    };
    let conf = LinkConf {
        tunables: shared.tunables.clone(),
        max_epoch_size: s.max_epoch_size,
        integrity,
        verify_alg,
        csums_alg,
        resolve_conflicts: peer.resolve,
    };
    let Ok(link) = Link::new(
        s.name,
        peer.data.clone(),
        peer.meta.clone(),
        peer.agreed,
        conf,
    ) else {
        return;
    };
    peer.data.set_noio();
    peer.meta.set_noio();
    // no receive timeout on the data socket while connected: the meta socket's pings watch the
    // peer; a peer that stops reading is given up after ko-count times the timeout
    peer.data
        .set_timeouts(isize::MAX, send_timeout(&shared.tunables));
    let vols = with_resource(drbd, shared, &s.name, |res| {
        connect_volumes(res, &link, &peer.vols)
    });
    let Some(Ok(mut vols)) = vols else {
        return;
    };
    shared.set_state(ConnState::Connected);
    shared
        .connects
        .fetch_add(1, core::sync::atomic::Ordering::AcqRel);
    let (l1, l2) = (link.clone(), link.clone());
    let (d2, sh2, name) = (drbd.clone(), shared.clone(), s.name);
    let acker = Thread::spawn(c_str!("drbd_a"), move || l1.ack_receiver());
    let sender = Thread::spawn(c_str!("drbd_w"), move || {
        without_io_reclaim(|| sender(&l2, &d2, &sh2, &name))
    });
    if let (Ok(_), Ok(_)) = (&acker, &sender) {
        // the SyncSource sends its bitmap first (after_state_ch() entering WFBitMapS)
        let mut ok = true;
        for v in vols
            .iter()
            .filter(|v| matches!(v.decision, Decision::SyncSource { .. }))
        {
            ok = ok && link.send_bitmap(v.volume, &v.io).is_ok();
        }
        if ok {
            serve(drbd, shared, s, &link, &mut vols, peer.resolve);
        }
    }
    link.fail();
    for t in [acker, sender].into_iter().flatten() {
        t.stop();
    }
    link.forget_peer_writes();
    link.forget_resync_requests();
    // writes the peer did not acknowledge are out of sync, and complete; without the
    // configuration lock, which a command may hold while it waits for them (detach, down)
    link.clear(|volume, sector, size| {
        if let Some(v) = vols.iter().find(|v| u32::from(v.volume) == volume) {
            v.io.mark_out_of_sync(sector, u64::from(size >> 9));
        }
    });
    for v in vols.iter() {
        v.io.fail_postponed();
    }
    shared.set_state(ConnState::NetworkFailure);
    with_resource(drbd, shared, &s.name, |res| {
        let name = res.name;
        for d in res.devices.as_mut_slice() {
            d.peer_gone(&name, Fact::Conn(ConnState::Unconnected));
        }
        // a volume frozen for fencing freezes the resource (susp_fen is resource-wide)
        if res.devices.iter().any(|d| d.state.susp_fen) {
            res.set_suspend(|s| s.susp_fen = true);
        }
    });
    shared.set_state(ConnState::Unconnected);
    pr_info!("{}: Connection closed\n", s.name);
}

/// receive_state() of a new connection, for every volume: the connection state, the peer's
/// role and disk, the UUIDs the handshake fixed up; and the data path starts replicating.
fn connect_volumes(
    res: &mut Resource,
    link: &Arc<Link>,
    negotiated: &[Negotiated],
) -> Result<KVec<Vol>> {
    let mut vols = KVec::new();
    for n in negotiated {
        let Some(d) = res
            .devices
            .as_mut_slice()
            .iter_mut()
            .find(|d| d.volume == n.volume)
        else {
            continue;
        };
        match n.size {
            Some(ConnectSize::Agreed { size, user }) => agree(&res.name, d, size.sectors, user),
            Some(ConnectSize::Peer(sectors)) => {
                crate::device::attach::take_peer_size(&res.name, d, sectors)
            }
            _ => {}
        }
        d.peer_max = n.peer_max;
        limit_requests(&res.name, d, n.max_bio);
        if let Decision::SyncSource { full: true } | Decision::SyncTarget { full: true } =
            n.decision
        {
            // the handshake logged "Writing the whole bitmap, full sync required ..."
            crate::device::role::rewrite_bitmap_logged(&res.name, d, true);
        }
        if let Some(l) = d.ldev.as_mut() {
            l.sb.uuid = n.uuids;
        }
        d.apply(
            &res.name,
            Fact::Peer {
                conn: n.decision.conn_state().unwrap_or(ConnState::Connected),
                peer: n.peer_role,
                pdsk: n.peer_disk,
            },
        );
        let volume = u16::try_from(d.volume).map_err(|_| EINVAL)?;
        link.add_volume(volume, d.io.clone())?;
        d.io.set_link(Some((link.clone(), volume)));
        vols.push(
            Vol {
                volume,
                io: d.io.clone(),
                size: d.size,
                decision: n.decision,
                peer_uuids: n.peer_uuids,
            },
            GFP_KERNEL,
        )?;
    }
    // the peer is back while I/O was frozen for fencing: it resumes, with the data generation
    // it had (C: after_state_ch(), "case2")
    if res.devices.iter().any(|d| d.state.susp_fen) {
        for d in res.devices.as_mut_slice() {
            d.keep_generation();
        }
        res.set_suspend(|s| s.susp_fen = false);
    }
    Ok(vols)
}

/// The size of a new connection takes effect (receive_sizes(), drbd_determine_dev_size()).
fn agree(name: &Name, d: &mut crate::device::Device, sectors: u64, user: u64) {
    if let Some(l) = d.ldev.as_mut() {
        let old = u64::try_from(l.conf.num("disk_size")).unwrap_or(0);
        if old != user {
            l.conf
                .set_num("disk_size", i64::try_from(user).unwrap_or(0));
            pr_info!(
                "{}/{} drbd{}: Peer sets u_size to {} sectors (old: {})\n",
                name,
                d.volume,
                d.minor,
                user,
                old
            );
        }
    }
    if sectors != d.size {
        // change_size() logs the new size, or its failure
        let _ = crate::device::attach::change_size(name, d, sectors, true, None);
    }
}

/// drbd_reconsider_queue_parameters() of a new connection: no request larger than the peer
/// takes (an older protocol's header cannot carry more).
fn limit_requests(name: &Name, d: &mut crate::device::Device, max: u32) {
    let Some(backing) = d.io.backing() else {
        return;
    };
    let frozen = d.disk.freeze();
    if d.disk.stack_limits(&frozen, &backing, max).is_err() {
        pr_warn!(
            "{}/{} drbd{}: could not limit requests to {} bytes\n",
            name,
            d.volume,
            d.minor,
            max
        );
    }
}

/// drbdd(): the packets of the data socket while connected.
fn serve(
    drbd: &Drbd,
    shared: &ConnShared,
    s: &Settings,
    link: &Arc<Link>,
    vols: &mut [Vol],
    resolve: bool,
) {
    let apv = link.agreed.version;
    let Ok(mut payload) = KVec::from_elem(0u8, packet::DRBD_SOCKET_BUFFER_SIZE, GFP_KERNEL) else {
        return;
    };
    // the writes received since the last barrier
    let mut epoch = Epoch::default();
    // the peer's bitmap of each volume, while it comes in
    let mut bitmaps = KVec::new();
    for _ in vols.iter() {
        if bitmaps.push(None, GFP_KERNEL).is_err() {
            return;
        }
    }
    while !should_stop() && !link.is_broken() {
        let Ok(h) = recv_header(&link.data, apv, &s.name, "receiver") else {
            break;
        };
        let bad = |e: packet::WireError| {
            if ratelimit() {
                pr_err!("{}: receiver: {}\n", s.name, e);
            }
        };
        let Ok(cmd) = h.known_command().map_err(bad) else {
            break;
        };
        if cmd.socket() == packet::SocketKind::Meta {
            bad(packet::WireError::UnexpectedCommand(cmd));
            break;
        }
        let Ok(split) =
            packet::check_payload_len(cmd, apv, link.agreed.features, h.length).map_err(bad)
        else {
            break;
        };
        let vol_index = vols.iter().position(|v| v.volume == h.volume);
        let vol = vol_index.and_then(|i| vols.get(i)).map(|v| Vol {
            io: v.io.clone(),
            ..*v
        });
        let data_like = matches!(
            h.command,
            packet::P_DATA | packet::P_TRIM | packet::P_ZEROES
        );
        // the payload after the fixed part is read here only for packets other than data
        let with_data =
            data_like || matches!(h.command, packet::P_RS_DATA_REPLY | packet::P_DATA_REPLY);
        let rest = if with_data { 0 } else { split.extra };
        let Some(body) = payload.get_mut(..split.fixed + rest) else {
            if ratelimit() {
                pr_err!("{}: receiver: {} packet too large\n", s.name, cmd.name());
            }
            break;
        };
        if link.data.recv(body).is_err() {
            break;
        }
        let ok = match h.command {
            packet::P_DATA | packet::P_TRIM | packet::P_ZEROES | packet::P_RS_DATA_REPLY => {
                let got = match &vol {
                    Some(v) => receive_data(s, link, v, h.command, body, split.extra),
                    None => None,
                };
                if data_like {
                    if let Some(w) = got {
                        epoch.count(w);
                    }
                }
                got.is_some()
            }
            packet::P_BITMAP | packet::P_COMPRESSED_BITMAP => {
                match (&vol, vol_index.and_then(|i| bitmaps.get_mut(i))) {
                    (Some(v), Some(rx)) => {
                        receive_bitmap(drbd, shared, s, link, v, rx, h.command, body)
                    }
                    _ => false,
                }
            }
            packet::P_SYNC_UUID => match (&vol, packet::RsUuid::decode(body)) {
                (Some(v), Ok(u)) => {
                    begin_resync(drbd, shared, &s.name, link, &Start::of(v), Some(u.uuid))
                }
                _ => false,
            },
            packet::P_DATA_REPLY => match (&vol, packet::Data::decode(body)) {
                (Some(v), Ok(d)) => link.data_reply(v.volume, &d, split.extra as u32),
                _ => false,
            },
            packet::P_DATA_REQUEST => match (&vol, packet::BlockReq::decode(body)) {
                (Some(v), Ok(r)) => serve_data_request(s, link, v, &r),
                _ => false,
            },
            // a thin-resync request is answered with the data too (the blocks are read)
            packet::P_RS_DATA_REQUEST | packet::P_RS_THIN_REQ => {
                match (&vol, packet::BlockReq::decode(body)) {
                    (Some(v), Ok(r)) => serve_resync_request(s, link, v, &r, None),
                    _ => false,
                }
            }
            packet::P_OV_REQUEST => match (&vol, packet::BlockReq::decode(body)) {
                (Some(v), Ok(r)) => serve_verify_request(s, link, v, &r),
                _ => false,
            },
            // the digest of a block we verify follows the request
            packet::P_OV_REPLY => match (&vol, packet::BlockReq::decode_with_digest(body)) {
                (Some(v), Ok((r, digest))) => serve_verify_reply(s, link, v, &r, digest),
                _ => false,
            },
            // checksum-based resync: the target's digest of its block follows the request
            packet::P_CSUM_RS_REQUEST => match (&vol, packet::BlockReq::decode_with_digest(body)) {
                (Some(v), Ok((r, digest))) => serve_resync_request(s, link, v, &r, Some(digest)),
                _ => false,
            },
            packet::P_BARRIER => {
                let ok = receive_barrier(link, vols, body, &epoch);
                epoch = Epoch::default();
                ok
            }
            packet::P_STATE => match vol_index {
                Some(i) => receive_peer_state(drbd, shared, s, link, &mut vols[i], body, resolve),
                None => false,
            },
            packet::P_UUIDS
            | packet::P_STATE_CHG_REQ
            | packet::P_CONN_ST_CHG_REQ
            | packet::P_OUT_OF_SYNC => {
                let ok = receive_state_packet(drbd, shared, s, link, h.command, h.volume, body);
                // the peer's UUIDs a resync's end takes over are its latest (C: p_uuid)
                if ok && h.command == packet::P_UUIDS {
                    if let (Some(v), Ok(u)) = (
                        vol_index.and_then(|i| vols.get_mut(i)),
                        packet::Uuids::decode(body),
                    ) {
                        v.peer_uuids = u.uuid;
                    }
                }
                ok
            }
            packet::P_SYNC_PARAM | packet::P_SYNC_PARAM89 => {
                receive_sync_param(drbd, shared, s, link, h.volume, body)
            }
            packet::P_SIZES => match (vol_index, packet::Sizes::decode(link.agreed.features, body))
            {
                (Some(i), Ok(sz)) => {
                    let (name, volume) = (&s.name, h.volume);
                    let size = crate::net::with_volume(drbd, shared, name, volume, |d| {
                        crate::device::attach::peer_sizes(name, d, link, volume, &sz)
                    });
                    if let (Some(Some(size)), Some(v)) = (size, vols.get_mut(i)) {
                        v.size = size;
                    }
                    matches!(size, Some(Some(_)))
                }
                _ => false,
            },
            packet::P_PROTOCOL_UPDATE => receive_protocol_update(drbd, shared, s, link, body),
            // hints
            packet::P_UNPLUG_REMOTE | packet::P_DELAY_PROBE => true,
            _ => {
                if ratelimit() {
                    pr_err!(
                        "{}: unexpected data packet {} (0x{:04x})\n",
                        s.name,
                        cmd.name(),
                        h.command
                    );
                }
                false
            }
        };
        if !ok {
            break;
        }
    }
}

/// What became of a peer write (`None` from [`receive_data`]: the connection cannot go on).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Written {
    /// Submitted (or refused: it counts in its epoch all the same, as in C).
    Yes,
    /// Not written, two Primaries' conflict we resolved: P_SUPERSEDED.
    Superseded,
    /// Not written, the peer is to write it again: P_RETRY_WRITE.
    Retried,
}

/// The writes of the peer's current epoch, counted for its barrier ack as the peer's transfer
/// log counts them (`wire::tl::Conflict`: a superseded write counts after a written one, a
/// retried one never).
#[derive(Default)]
struct Epoch {
    size: u32,
    conflicts: u32,
    written: bool,
}

impl Epoch {
    fn count(&mut self, w: Written) {
        match w {
            Written::Yes => {
                self.written = true;
                self.size = self.size.wrapping_add(1);
            }
            Written::Superseded if self.written => {
                self.conflicts = self.conflicts.wrapping_add(1);
                self.size = self.size.wrapping_add(1);
            }
            Written::Superseded | Written::Retried => {
                self.conflicts = self.conflicts.wrapping_add(1);
            }
        }
    }
}

/// receive_Data(), and P_TRIM/P_ZEROES: the write is checked against the device, submitted,
/// and acknowledged as the protocol asks (P_RECV_ACK now, P_WRITE_ACK once written).
fn receive_data(
    s: &Settings,
    link: &Arc<Link>,
    v: &Vol,
    cmd: u16,
    body: &[u8],
    extra: usize,
) -> Option<Written> {
    let decoded = if cmd == packet::P_DATA || cmd == packet::P_RS_DATA_REPLY {
        packet::Data::decode(body).map(|d| (d, extra as u32))
    } else {
        packet::Trim::decode(body).map(|t| (t.data, t.size))
    };
    let Ok((d, size)) = decoded else {
        return None;
    };
    // data-integrity-alg: the digest comes first (not with P_TRIM and P_ZEROES)
    let mut digest = [0u8; crypto::MAX_DIGEST];
    let (size, dn) = if cmd == packet::P_DATA || cmd == packet::P_RS_DATA_REPLY {
        let dn = link.digest_size;
        let Some(data) = size.checked_sub(dn as u32) else {
            pr_err!("{}: data packet shorter than its digest\n", s.name);
            return None;
        };
        if link.data.recv(&mut digest[..dn]).is_err() {
            return None;
        }
        (data, dn)
    } else {
        (size, 0)
    };
    let cmd_kind = packet::Command::from_u16(cmd);
    if let Some(c) = cmd_kind {
        if packet::check_block_size(c, size).is_err() {
            pr_err!("{}: peer sent a write of invalid size {}\n", s.name, size);
            return None;
        }
    }
    // the disk attached now, whatever size it had when the connection began
    let target = match v.io.peer_target(d.sector, u64::from(size >> 9)) {
        Err(PeerRange::Beyond(sectors)) => {
            pr_err!(
                "{}/{}: peer wrote beyond the end of the device (sector {} + {} bytes > {} sectors)\n",
                s.name,
                v.volume,
                d.sector,
                size,
                sectors
            );
            return None;
        }
        Err(PeerRange::Diskless) => None,
        Ok(bdev) => Some(bdev),
    };
    // a resync reply answers a request of ours (unless our disk went meanwhile: it is refused
    // below, as C's "Can not write resync data to local disk"); while resyncing, writes of the
    // peer wait for the resync writes before them (overlapping ones must land in order)
    let resync = if cmd == packet::P_RS_DATA_REPLY && target.is_none() {
        None
    } else if cmd == packet::P_RS_DATA_REPLY {
        let Some(io) = link.resync_answered(v.volume, d.sector, size) else {
            pr_err!(
                "{}/{}: resync data for sector {} that was not asked for\n",
                s.name,
                v.volume,
                d.sector
            );
            return None;
        };
        Some(io)
    } else {
        if link.resync_target() && !link.drain_peer_writes() {
            return None;
        }
        None
    };
    let buf = if cmd == packet::P_DATA || cmd == packet::P_RS_DATA_REPLY {
        let Ok(mut buf) = PeerBuf::new(size as usize) else {
            return None;
        };
        if buf.recv(&link.data).is_err() {
            return None;
        }
        if dn > 0 {
            let mut mine = [0u8; crypto::MAX_DIGEST];
            if buf.digest(&link.integrity, &mut mine).ok() != Some(dn) || mine[..dn] != digest[..dn]
            {
                pr_err!(
                    "{}/{}: Digest integrity check FAILED: {}s +{}\n",
                    s.name,
                    v.volume,
                    d.sector,
                    size
                );
                return None;
            }
        }
        Some(buf)
    } else {
        None
    };
    let (write_ack, recv_ack) =
        crate::model::request::acks_owed(d.dp_flags, link.protocol(), link.agreed.version);
    let ack = packet::BlockAck {
        sector: d.sector,
        block_id: d.block_id,
        blksize: size,
        seq_num: 0,
    };
    // the peer's writes are taken in the order it sent them and its acks (with two
    // Primaries, the resolving node waits for the acks sent before)
    let app_write = cmd != packet::P_RS_DATA_REPLY;
    if app_write {
        if link.two_primaries() {
            if !link.wait_peer_seq(v.volume, d.seq_num) {
                return None;
            }
        } else {
            link.update_peer_seq(v.volume, d.seq_num);
        }
    }
    let Some(bdev) = target else {
        // diskless: nothing to write to
        let sent = link.send_ack(packet::P_NEG_ACK, v.volume, ack);
        return sent.is_ok().then_some(Written::Yes);
    };
    // two Primaries: a write of ours in flight that it overlaps goes first
    let mut claim = None;
    let mut restart = false;
    if link.two_primaries() && app_write {
        let sectors = u64::from(size >> 9);
        match DevIo::peer_write_begin(&v.io, link, d.sector, sectors) {
            None => return None,
            Some(PeerBegin::Write {
                claim: c,
                restart: r,
            }) => (claim, restart) = (c, r),
            Some(PeerBegin::Superseded { local }) => {
                return not_written(s, link, v, ack, local, true);
            }
            Some(PeerBegin::Retry { local }) => {
                return not_written(s, link, v, ack, local, false);
            }
        }
    }
    if !link.reserve_peer_write(size) {
        return None;
    }
    if recv_ack && app_write && link.send_ack(packet::P_RECV_ACK, v.volume, ack).is_err() {
        return None;
    }
    v.io.count_peer_write(size, cmd == packet::P_RS_DATA_REPLY);
    // the writes of a Diskless Primary: we have the only disk, its blocks are out of sync, and
    // the activity log covers them as our own writes (receive_Data())
    let logged = if resync.is_none() && v.io.state().pdsk < DiskState::Inconsistent {
        v.io.mark_out_of_sync(d.sector, u64::from(size >> 9));
        v.io.peer_al_begin(d.sector, u64::from(size >> 9))
            .map(|ext| (v.io.clone(), ext))
    } else {
        None
    };
    let op = match cmd {
        packet::P_TRIM => PeerOp::Discard,
        packet::P_ZEROES => PeerOp::Zeroes,
        _ => PeerOp::Write {
            fua: d.dp_flags & packet::DP_FUA != 0,
            flush: d.dp_flags & packet::DP_FLUSH != 0,
        },
    };
    let mut w = PeerWrite::new(
        link.clone(),
        v.volume,
        &d,
        size,
        write_ack && resync.is_none(),
    );
    if w.write_ack || resync.is_some() {
        w.owe_ack(v.io.clone());
    }
    w.resync = resync;
    w.logged = logged;
    w.claim = claim;
    w.restart = restart;
    w.discard = !matches!(op, PeerOp::Write { .. });
    match PeerIo::new(w, buf, size) {
        Ok(io) => PeerIo::submit(io, bdev, d.sector, op),
        Err(_) => return None,
    }
    Some(Written::Yes)
}

/// A peer write we resolved a conflict with, `superseded` by our write in flight (`local`:
/// start, end) or to be done again after it: logged, and answered (the data was read).
fn not_written(
    s: &Settings,
    link: &Link,
    v: &Vol,
    ack: packet::BlockAck,
    local: (u64, u64),
    superseded: bool,
) -> Option<Written> {
    v.io.log_conflict(
        &s.name,
        v.volume,
        local,
        ack.sector,
        ack.blksize,
        superseded,
    );
    v.io.count_received(ack.blksize);
    // (before protocol 100 a retried write is answered as superseded, and counted so)
    let cmd = link.conflict_ack(!superseded);
    let w = if cmd == packet::P_SUPERSEDED {
        Written::Superseded
    } else {
        Written::Retried
    };
    link.send_ack(cmd, v.volume, ack).is_ok().then_some(w)
}

/// receive_DataRequest() for P_DATA_REQUEST: a read of our Diskless peer, served from an
/// UpToDate disk; else P_NEG_DREPLY. A request beyond the device breaks the connection.
fn serve_data_request(s: &Settings, link: &Link, v: &Vol, r: &packet::BlockReq) -> bool {
    let sectors = u64::from(r.blksize >> 9);
    let bad_size = packet::check_block_size(packet::Command::DataRequest, r.blksize).is_err();
    if bad_size
        || matches!(
            v.io.peer_target(r.sector, sectors),
            Err(PeerRange::Beyond(_))
        )
    {
        pr_err!(
            "{}/{}: invalid read request (sector {}, {} bytes)\n",
            s.name,
            v.volume,
            r.sector,
            r.blksize
        );
        return false;
    }
    if v.io.state().disk != DiskState::UpToDate {
        if ratelimit() {
            pr_err!(
                "{}/{}: Can not satisfy peer's read request, no local data.\n",
                s.name,
                v.volume
            );
        }
        let a = packet::BlockAck {
            sector: r.sector,
            block_id: r.block_id,
            blksize: r.blksize,
            seq_num: 0,
        };
        return link.send_ack(packet::P_NEG_DREPLY, v.volume, a).is_ok();
    }
    link.send_data_reply(v.volume, &v.io, r).is_ok()
}

/// receive_SyncParam() while connected: the peer's new resync settings (its `disk-options`)
/// become ours, as C takes them over, and reach a running resync. A change of its verify or
/// csums algorithm is not taken over (C would; drbd-rs keeps its own until the next connect).
fn receive_sync_param(
    drbd: &Drbd,
    shared: &ConnShared,
    s: &Settings,
    link: &Link,
    volume: u16,
    body: &[u8],
) -> bool {
    let apv = link.agreed.version;
    let Ok(sp) = packet::SyncParam::decode(apv, body) else {
        pr_err!("{}/{}: invalid sync parameters\n", s.name, volume);
        return false;
    };
    if sp.differing_alg(apv, &s.verify_alg, &s.csums_alg).is_some() && ratelimit() {
        pr_warn!(
            "{}/{}: the peer changed verify-alg or csums-alg; kept until the next connect\n",
            s.name,
            volume
        );
    }
    crate::net::with_volume(drbd, shared, &s.name, volume, |d| {
        crate::device::attach::adopt_sync_param(d, &sp, apv);
    });
    true
}

/// receive_protocol() of P_PROTOCOL_UPDATE: the peer changed the net options we agree on
/// while connected (`net-options`); we take them over, into our configuration too (`show`).
/// A new data-integrity-alg is not taken (not implemented yet): the connection is dropped.
fn receive_protocol_update(
    drbd: &Drbd,
    shared: &ConnShared,
    s: &Settings,
    link: &Link,
    body: &[u8],
) -> bool {
    let Ok(p) = packet::Protocol::decode(link.agreed.version, body) else {
        pr_err!("{}: invalid protocol update\n", s.name);
        return false;
    };
    let known = [
        packet::DRBD_PROT_A,
        packet::DRBD_PROT_B,
        packet::DRBD_PROT_C,
    ];
    if !known.contains(&p.protocol) {
        pr_err!(
            "{}: protocol update to unknown protocol {}\n",
            s.name,
            p.protocol
        );
        return false;
    }
    if p.integrity_alg != &s.integrity_alg[..] {
        pr_err!(
            "{}: peer data-integrity-alg: {} while connected: not implemented yet by drbd-rs\n",
            s.name,
            BStr::from_bytes(p.integrity_alg)
        );
        return false;
    }
    shared.tunables.set_agreed(p.protocol, p.two_primaries != 0);
    with_resource(drbd, shared, &s.name, |res| {
        if let Some(c) = res.conn.as_mut() {
            let conf = &mut c.net_conf;
            conf.set_num("wire_protocol", i64::from(p.protocol));
            let after = [p.after_sb_0p, p.after_sb_1p, p.after_sb_2p];
            for (name, v) in ["after_sb_0p", "after_sb_1p", "after_sb_2p"]
                .iter()
                .zip(after)
            {
                conf.set_num(name, i64::from(AfterSb::peer_view(v)));
            }
            conf.set_num("two_primaries", i64::from(p.two_primaries != 0));
        }
    })
    .is_some()
}

/// receive_Barrier(): once the epoch's writes are on disk (and flushed, with the write ordering
/// `flush`), P_BARRIER_ACK with the epoch's write count (see [`Epoch`]).
fn receive_barrier(link: &Link, vols: &[Vol], body: &[u8], epoch: &Epoch) -> bool {
    let Ok(b) = packet::Barrier::decode(body) else {
        return false;
    };
    if !link.drain_peer_writes() {
        return false;
    }
    // an epoch that counts no write (only conflicts we resolved) has nothing on our disk: no
    // ack, as the C module sends none; its peer, C or drbd-rs, expects none
    if epoch.size == 0 && epoch.conflicts != 0 {
        return true;
    }
    let epoch_size = epoch.size;
    if epoch_size != 0 {
        for v in vols {
            if let Some(bdev) = v.io.backing().filter(|_| v.io.barrier_flush()) {
                // a failed flush is the backing device's error, reported by it
                let _ = pio::flush(&bdev);
            }
        }
    }
    let ack = packet::BarrierAck {
        barrier: b.barrier,
        set_size: epoch_size,
    };
    link.send_meta(packet::P_BARRIER_ACK, 0, |out| ack.encode(out))
        .is_ok()
}

/// `drbd_state_rv` of a successful reply.
const SS_SUCCESS: i32 = StateRv::Success as i32;

/// The state packets of a connected peer: P_STATE, P_UUIDS (skip initial sync), state change
/// requests (answered on the meta socket), P_OUT_OF_SYNC.
fn receive_state_packet(
    drbd: &Drbd,
    shared: &ConnShared,
    s: &Settings,
    link: &Link,
    cmd: u16,
    volume: u16,
    body: &[u8],
) -> bool {
    let conn_wide = cmd == packet::P_CONN_ST_CHG_REQ;
    if matches!(cmd, packet::P_STATE_CHG_REQ | packet::P_CONN_ST_CHG_REQ) {
        let Ok(r) = packet::ReqState::decode(body) else {
            return false;
        };
        if let Some(rv) = link.answer_at_once(r.mask, r.val) {
            if rv == StateRv::Success {
                shared.set_state(ConnState::TearDown);
            }
            return reply_state(link, cmd, volume, rv as i32);
        }
    }
    let outcome = with_resource(drbd, shared, &s.name, |res| -> Option<i32> {
        let name = res.name;
        let known = conn_wide || res.devices.iter().any(|d| d.volume == u32::from(volume));
        if !known {
            pr_err!("{}: packet for unknown volume {}\n", name, volume);
            return None;
        }
        if matches!(cmd, packet::P_STATE_CHG_REQ | packet::P_CONN_ST_CHG_REQ) {
            let r = packet::ReqState::decode(body).ok()?;
            return Some(grant(res, (!conn_wide).then_some(volume), r));
        }
        let d = res
            .devices
            .as_mut_slice()
            .iter_mut()
            .find(|d| d.volume == u32::from(volume))?;
        match cmd {
            packet::P_UUIDS => {
                let u = packet::Uuids::decode(body).ok()?;
                let mut all = [0u64; 6];
                all[..4].copy_from_slice(&u.uuid);
                all[4] = u.bitmap_bits;
                all[5] = u.flags;
                d.peer_uuids = Some(all);
                skip_initial_sync(&name, d, &u, link.agreed.version);
            }
            packet::P_OUT_OF_SYNC => {
                let b = packet::BlockDesc::decode(body).ok()?;
                let sectors = u64::from(b.blksize >> 9);
                if b.sector.checked_add(sectors).map_or(true, |e| e > d.size) {
                    pr_err!("{}/{}: P_OUT_OF_SYNC beyond the device\n", name, d.volume);
                    return None;
                }
                d.io.mark_out_of_sync(b.sector, sectors);
            }
            _ => return None,
        }
        Some(SS_SUCCESS)
    });
    let Some(Some(rv)) = outcome else {
        // the connection is being removed, or the packet was malformed
        return false;
    };
    if matches!(cmd, packet::P_STATE_CHG_REQ | packet::P_CONN_ST_CHG_REQ) {
        if !reply_state(link, cmd, volume, rv) {
            return false;
        }
        if rv == SS_SUCCESS && conn_wide {
            shared.set_state(ConnState::TearDown);
        }
    }
    true
}

/// receive_req_state() / receive_req_conn_state(): the peer's state change request `r`, for
/// one `volume` or the whole connection (`None`), checked on every volume it concerns before
/// any of them changes (C checks the whole connection's change first, too). The reply.
fn grant(res: &mut Resource, volume: Option<u16>, r: packet::ReqState) -> i32 {
    let name = res.name;
    let concerned = |d: &crate::device::Device| volume.map_or(true, |v| d.volume == u32::from(v));
    for d in res.devices.iter().filter(|d| concerned(d)) {
        if let Err(rv) = transition::peer_request(d.state, r.mask, r.val, &d.env()) {
            pr_info!(
                "{}/{} drbd{}: Refusing the peer's state change: {}\n",
                name,
                d.volume,
                d.minor,
                rv.text()
            );
            return rv as i32;
        }
    }
    for d in res
        .devices
        .as_mut_slice()
        .iter_mut()
        .filter(|d| concerned(d))
    {
        if let Ok(new) = transition::peer_request(d.state, r.mask, r.val, &d.env()) {
            d.consider_resync |= transition::peer_forced_up_to_date(&d.state, &new);
            // the peer starts an online verify of this volume
            if new.conn == ConnState::VerifyT && d.state.conn != ConnState::VerifyT {
                if let Some((link, volume)) = d.io.link() {
                    let _ = link.begin_verify(volume, d.io.clone(), None);
                }
            }
            let starting = |c| matches!(c, ConnState::StartingSyncS | ConnState::StartingSyncT);
            let full_sync = starting(new.conn) && !starting(d.state.conn);
            d.enter(&name, new);
            // the peer runs invalidate or invalidate-remote
            if full_sync {
                start_full_sync(&name, d);
            }
        }
    }
    SS_SUCCESS
}

/// drbd_send_sr_reply() / conn_send_sr_reply(): the answer to the peer's state change request
/// `cmd`, on the meta socket.
fn reply_state(link: &Link, cmd: u16, volume: u16, rv: i32) -> bool {
    let reply_cmd = if cmd == packet::P_CONN_ST_CHG_REQ {
        packet::ReqStateReply::conn_command(link.agreed.version).as_u16()
    } else {
        packet::P_STATE_CHG_REPLY
    };
    let r = packet::ReqStateReply { retcode: rv };
    link.send_meta(reply_cmd, volume, |out| r.encode(out))
        .is_ok()
}

/// receive_uuids() while connected: a peer that created a new current UUID with
/// `--clear-bitmap` on fresh meta data lets both sides skip the initial sync.
fn skip_initial_sync(name: &Name, d: &mut crate::device::Device, u: &packet::Uuids, apv: u32) {
    let skip = d.ldev.as_ref().is_some_and(|l| {
        sync::accepts_skip_initial_sync(
            d.state.conn == ConnState::Connected,
            apv,
            l.sb.uuid[0],
            u.flags,
        )
    });
    if !skip {
        return;
    }
    pr_info!(
        "{}/{} drbd{}: Accepted new current UUID, preparing to skip initial sync\n",
        name,
        d.volume,
        d.minor
    );
    crate::device::role::rewrite_bitmap_logged(name, d, false);
    let Some(l) = d.ldev.as_mut() else {
        return;
    };
    l.sb.uuid[0] = u.uuid[0];
    l.sb.uuid[1] = 0;
    d.apply(name, Fact::InSync);
}

/// receive_state() while connected: the peer's role and disk; the end of a resync we are the
/// source of; and a sync handshake when the peer was forced UpToDate, or began a resync
/// (`invalidate`, a forced peer's decision).
fn receive_peer_state(
    drbd: &Drbd,
    shared: &ConnShared,
    s: &Settings,
    link: &Link,
    v: &mut Vol,
    body: &[u8],
    resolve: bool,
) -> bool {
    let Some(peer) = packet::State::decode(body)
        .ok()
        .and_then(|st| DevState::from_u32(st.state))
    else {
        pr_err!("{}/{}: invalid peer state\n", s.name, v.volume);
        return false;
    };
    let apv = link.agreed.version;
    let target_done = peer.conn == ConnState::Connected
        && matches!(peer.disk, DiskState::UpToDate | DiskState::Inconsistent);
    if link.is_sync_source(v.volume) && target_done && peer.disk == DiskState::UpToDate {
        // the target's last acks travel on the meta socket: let the ack receiver apply them
        for _ in 0..500 {
            if v.io.bits_set() == 0 || link.is_broken() {
                break;
            }
            sleep_ms(10);
        }
    }
    let mut unfence = false;
    let mut verify_found = false;
    let outcome = with_resource(drbd, shared, &s.name, |res| -> Option<(Decision, bool)> {
        let name = res.name;
        let d = res
            .devices
            .as_mut_slice()
            .iter_mut()
            .find(|d| d.volume == u32::from(v.volume))?;
        // the SyncTarget reports the end of the resync: UpToDate, or Inconsistent when
        // blocks failed
        if d.state.conn == ConnState::SyncSource && target_done {
            finish_source(&name, link, d, peer.disk == DiskState::UpToDate);
            let fp = d.fencing();
            unfence = helper::unfence(fp, res.devices.iter().map(|d| (d.state.disk, d.state.pdsk)));
            return Some((Decision::Connected, true));
        }
        // the verify source reached its stop sector (C: explicit verify finished notification)
        if d.state.conn == ConnState::VerifyT
            && d.state.disk == DiskState::UpToDate
            && peer.conn == ConnState::Connected
            && peer.disk == DiskState::UpToDate
        {
            verify_found = finish_verify(&name, link, d);
            return Some((Decision::Connected, true));
        }
        let starting = peer.conn >= ConnState::StartingSyncS && peer.conn <= ConnState::WfBitMapT;
        // one of us attached a disk under the connection
        let attaching =
            peer.disk == DiskState::Negotiating || d.state.disk == DiskState::Negotiating;
        let consider = core::mem::take(&mut d.consider_resync)
            || (d.state.conn == ConnState::Connected && (starting || attaching));
        let mut decision = Decision::Connected;
        if consider && d.ldev.is_some() && peer.disk >= DiskState::Negotiating {
            let pv = PeerVol {
                uuids: d.peer_uuids,
                state: Some(peer.to_u32()),
                // the size was agreed when connecting
                ..PeerVol::default()
            };
            let info = d.vol_info();
            let mut demote = || crate::device::role::give_up_primary(&name, d);
            let n = decide(
                s,
                &info,
                &pv,
                apv,
                link.agreed.features,
                resolve,
                &mut demote,
            )
            .ok()?;
            decision = n.decision;
            v.peer_uuids = n.peer_uuids;
            if let Some(l) = d.ldev.as_mut() {
                l.sb.uuid = n.uuids;
            }
            if matches!(decision, Decision::Abort(_)) {
                return None;
            }
            if let Decision::SyncSource { full: true } | Decision::SyncTarget { full: true } =
                decision
            {
                crate::device::role::rewrite_bitmap_logged(&name, d, true);
            }
        }
        // without a new handshake the connection state stays (C: ns.conn = os.conn): a report
        // between the bitmap exchange and the resync's end leaves the resync as it is, and
        // Ahead/Behind until the resync that ends it
        let waiting = matches!(
            d.state.conn,
            ConnState::WfBitMapS
                | ConnState::WfBitMapT
                | ConnState::WfSyncUuid
                | ConnState::SyncSource
                | ConnState::SyncTarget
                | ConnState::PausedSyncS
                | ConnState::PausedSyncT
                | ConnState::Ahead
                | ConnState::Behind
        );
        let conn = if peer.conn == ConnState::Ahead {
            // the peer pulled ahead of us: our disk is Outdated until it resyncs us
            ConnState::Behind
        } else if waiting && !consider {
            d.state.conn
        } else {
            decision.conn_state().unwrap_or(d.state.conn)
        };
        // our disk attached under the connection is what attach found, unless a resync
        // makes it a target (C: new_state_tmp)
        let base = match d.pending_disk.take() {
            Some(disk)
                if d.state.disk == DiskState::Negotiating
                    && matches!(conn, ConnState::Connected | ConnState::WfBitMapS) =>
            {
                DevState { disk, ..d.state }
            }
            _ => d.state,
        };
        let flags = d.peer_uuids.map_or(0, |u| u[5]);
        let pdsk = sync::real_peer_disk(peer.disk, flags);
        if peer.disk == DiskState::Negotiating {
            pr_info!(
                "{}/{} drbd{}: real peer disk state = {}\n",
                name,
                d.volume,
                d.minor,
                pdsk.name()
            );
        }
        let reported = transition::next(
            base,
            Fact::Peer {
                conn,
                peer: peer.role,
                pdsk,
            },
        );
        // in the same change, the peer's pause pauses ours (C: peer_isp = aftr_isp | user_isp
        // of the peer)
        let pause = Fact::Pause {
            user: None,
            peer: Some(peer.aftr_isp || peer.user_isp),
            after: None,
        };
        d.enter(&name, transition::next(reported, pause));
        // a peer that has not decided yet must learn of the resync; a peer that attached
        // learns our UUIDs and state in any case (after_state_ch(): attach on the peer)
        let undecided = decision != Decision::Connected && peer.conn <= ConnState::Connected;
        if undecided || peer.disk == DiskState::Negotiating {
            let _ = crate::device::role::send_uuids(link, v.volume, d, 0);
            let st = packet::State {
                state: d.state.to_u32(),
            };
            let _ = link.send_data(packet::P_STATE, v.volume, |out| st.encode(out));
        }
        Some((decision, false))
    });
    let Some(Some((decision, finished))) = outcome else {
        return false;
    };
    if unfence {
        // (the receiver waits for it, as C's worker does)
        call(
            Subject::Connection(&s.name),
            Helper::UnfencePeer,
            Some(&s.peer),
        );
    }
    if verify_found {
        call_device(drbd, shared, &s.name, v.volume, Helper::OutOfSync);
    }
    if finished {
        v.decision = Decision::Connected;
    }
    if decision == Decision::Connected {
        return true;
    }
    v.decision = decision;
    match decision {
        Decision::SyncSource { .. } => link.send_bitmap(v.volume, &v.io).is_ok(),
        _ => true,
    }
}
