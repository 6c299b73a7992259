// SPDX-License-Identifier: GPL-2.0
//! Establishing a connection as the C module does: both nodes listen and connect, the first
//! packet on each socket says which it is; then the protocol version (P_CONNECTION_FEATURES),
//! authentication, the settings (P_PROTOCOL), and each volume's parameters, sizes, UUIDs and
//! state, with the sync decided as drbd_sync_handshake() does.
//!
//! C counterpart: conn_connect(), drbd_try_connect(), prepare_listen_socket(),
//! drbd_wait_for_connect(), receive_first_packet(), drbd_do_features(), drbd_do_auth(),
//! receive_protocol(), drbd_connected(), receive_sizes() and drbd_sync_handshake() of
//! drbd_receiver.c.

use super::{
    eproto, jiffies, with_resource, with_volume, ConnShared, Settings, VolInfo, CONNECTING, DATA,
    LISTEN, META,
};
use crate::device::helper::{self, Subject};
use crate::device::Drbd;
use crate::genl::config::Name;
use crate::model::attach::{
    connect_size, differ_considerably, diskless_size, ConnectSize, DisklessSize, SizeInputs,
};
use crate::model::helper::Helper;
use crate::model::state::{ConnState, DevState, DiskState, Role};
use crate::sys::crypto;
use crate::sys::net::Socket;
use crate::sys::print::ratelimit;
use crate::sys::sleep_ms;
use crate::sys::thread::should_stop;
use crate::wire::packet;
use crate::wire::sync::{self, AfterSb, Decision};
use core::sync::atomic::Ordering;
use kernel::prelude::*;
use kernel::str::BStr;
use kernel::sync::Arc;

/// A connection whose handshake succeeded.
pub(crate) struct Peer {
    pub(crate) data: Arc<Socket>,
    pub(crate) meta: Arc<Socket>,
    pub(crate) agreed: packet::Agreed,
    pub(crate) vols: KVec<Negotiated>,
    /// We received P_INITIAL_META: ties are ours to break (RESOLVE_CONFLICTS).
    pub(crate) resolve: bool,
}

/// How far a connection got.
pub(crate) enum Outcome {
    /// Protocol version and settings agree, the sync is decided for every volume.
    Agreed(Peer),
    /// The peer's settings differ (receive_protocol()): connecting again would not help.
    Incompatible,
}

/// One round of conn_connect(): until the thread is stopped, connect to the peer and accept
/// from it until a data and a meta socket exist, agree on the protocol version, then exchange
/// and compare P_PROTOCOL. `None` when the round ended without a peer.
pub(crate) fn connect(drbd: &Drbd, shared: &ConnShared, s: &Settings) -> Result<Option<Outcome>> {
    let listen = Arc::new(Socket::tcp(s.my.family())?, GFP_KERNEL)?;
    listen.reuse_addr();
    listen.bind(s.my.as_bytes())?;
    listen.listen(5)?;
    shared.hold(LISTEN, Some(listen.clone()));
    let connect_int_ms = shared.tunables.connect_int_ms();
    listen.set_timeouts(jiffies(connect_int_ms), jiffies(connect_int_ms));

    let mut data: Option<Arc<Socket>> = None;
    let mut meta: Option<Arc<Socket>> = None;
    // whoever receives P_INITIAL_META breaks ties (RESOLVE_CONFLICTS)
    let mut resolve_conflicts = false;
    while !should_stop()
        && !shared.stopping.load(Ordering::Acquire)
        && (data.is_none() || meta.is_none())
    {
        // drbd_try_connect(): from our address, any port, to the peer
        if let Ok(sock) = try_connect(shared, s) {
            if data.is_none() {
                send_first(&sock, packet::P_INITIAL_DATA)?;
                data = Some(sock);
            } else {
                send_first(&sock, packet::P_INITIAL_META)?;
                resolve_conflicts = false;
                meta = Some(sock);
            }
            shared.hold(DATA, data.clone());
            shared.hold(META, meta.clone());
            if data.is_some() && meta.is_some() {
                break;
            }
        }
        // drbd_wait_for_connect(): the peer's connections, told apart by their first packet
        let accepted = listen.accept();
        if let Err(e) = &accepted {
            // waited for connect-int, or failed at once (shut down, no network): never spin
            if *e != EAGAIN {
                sleep_ms(100);
            }
        }
        if let Ok(sock) = accepted {
            let sock = Arc::new(sock, GFP_KERNEL)?;
            let t = jiffies(shared.tunables.ping_timeo_ms().saturating_mul(4));
            sock.set_timeouts(t, t);
            match receive_first(&sock) {
                Ok(packet::P_INITIAL_DATA) => {
                    if data.is_some() {
                        pr_warn!("{}: initial packet S crossed\n", s.name);
                    }
                    data = Some(sock);
                }
                Ok(packet::P_INITIAL_META) => {
                    resolve_conflicts = true;
                    if meta.is_some() {
                        pr_warn!("{}: initial packet M crossed\n", s.name);
                    }
                    meta = Some(sock);
                }
                _ => {
                    if ratelimit() {
                        pr_warn!("{}: Error receiving initial packet\n", s.name);
                    }
                }
            }
            shared.hold(DATA, data.clone());
            shared.hold(META, meta.clone());
        }
    }
    let (Some(data), Some(meta)) = (data, meta) else {
        return Ok(None);
    };
    shared.hold(LISTEN, None);
    drop(listen);
    data.reuse_addr();
    meta.reuse_addr();
    data.tune(s.sndbuf, s.rcvbuf);
    meta.tune(s.sndbuf, s.rcvbuf);
    let t = jiffies(shared.tunables.ping_timeo_ms().saturating_mul(4));
    data.set_timeouts(t, t);
    let agreed = features(&data, &s.name)?;
    pr_info!(
        "{}: Handshake successful: Agreed network protocol version {}\n",
        s.name,
        agreed.version
    );
    if !s.cram_alg.is_empty() && !authenticate(&data, s, agreed.version)? {
        pr_err!("{}: Authentication of peer failed\n", s.name);
        drain(&data);
        return Ok(Some(Outcome::Incompatible));
    }
    send_protocol(&data, s, agreed.version)?;
    if !receive_protocol(&data, s, agreed.version)? {
        // Let the peer read what we sent before the connection goes: closing with its packets
        // unread would reset the connection under its feet (its P_PROTOCOL check included).
        drain(&data);
        return Ok(Some(Outcome::Incompatible));
    }
    let vols = exchange(drbd, shared, &data, s, agreed, resolve_conflicts)?;
    let Some(vols) = vols.filter(|vols| {
        !vols
            .iter()
            .any(|v| matches!(v.size, Some(ConnectSize::TooSmall { .. })))
    }) else {
        // receive_sizes(), receive_SyncParam(): C_DISCONNECTING, CS_HARD
        drain(&data);
        return Ok(Some(Outcome::Incompatible));
    };
    Ok(Some(Outcome::Agreed(Peer {
        data,
        meta,
        agreed,
        vols,
        resolve: resolve_conflicts,
    })))
}

/// Sends one packet: header (the agreed format, for `volume`) and payload.
fn send_packet(
    data: &Socket,
    agreed: u32,
    cmd: u16,
    volume: u32,
    payload: impl FnOnce(&mut [u8]) -> core::result::Result<usize, packet::WireError>,
) -> Result {
    let mut buf = [0u8; 256];
    let hlen = packet::header_size(agreed);
    let n = payload(buf.get_mut(hlen..).ok_or(EINVAL)?).map_err(|_| EINVAL)?;
    let vol = u16::try_from(volume).map_err(|_| EINVAL)?;
    let len = u32::try_from(n).map_err(|_| EINVAL)?;
    packet::encode_header(agreed, cmd, vol, len, &mut buf).map_err(|_| EINVAL)?;
    data.send(buf.get(..hlen + n).ok_or(EINVAL)?, false)
}

/// drbd_send_sizes(): a volume's sizes, and the largest request it takes.
pub(crate) fn sizes(agreed: packet::Agreed, v: &VolInfo) -> packet::Sizes {
    let qlim = (agreed.features & packet::FF_WSAME != 0).then_some(packet::Qlim {
        physical_block_size: 512,
        logical_block_size: 512,
        alignment_offset: 0,
        io_min: 512,
        io_opt: 0,
        discard_enabled: 0,
        discard_zeroes_data: 0,
        write_same_capable: 0,
    });
    packet::Sizes {
        d_size: v.d_size,
        u_size: v.u_size,
        c_size: v.c_size,
        max_bio_size: packet::DRBD_MAX_BIO_SIZE
            .min(packet::max_bio_size_for_protocol(agreed.version)),
        queue_order_type: 0,
        dds_flags: 0,
        qlim,
    }
}

/// drbd_connected(): what a volume tells its peer (sync parameters, sizes, UUIDs, state).
fn send_volume(data: &Socket, s: &Settings, agreed: packet::Agreed, v: &VolInfo) -> Result {
    let apv = agreed.version;
    let sp = packet::SyncParam {
        resync_rate: v.resync[0],
        verify_alg: &s.verify_alg,
        csums_alg: &s.csums_alg,
        c_plan_ahead: v.resync[1],
        c_delay_target: v.resync[2],
        c_fill_target: v.resync[3],
        c_max_rate: v.resync[4],
    };
    let cmd = packet::SyncParam::command(apv).as_u16();
    send_packet(data, apv, cmd, v.volume, |out| sp.encode(apv, out))?;
    let sizes = sizes(agreed, v);
    send_packet(data, apv, packet::P_SIZES, v.volume, |out| {
        sizes.encode(agreed.features, out)
    })?;
    if v.attached {
        let inconsistent = v.state.disk == DiskState::Inconsistent;
        let uuids = packet::Uuids {
            uuid: v.uuids,
            bitmap_bits: v.bits_set,
            flags: sync::uuid_flags(s.discard_my_data, v.crashed, inconsistent, false),
        };
        send_packet(data, apv, packet::P_UUIDS, v.volume, |out| {
            uuids.encode(out)
        })?;
    }
    let state = DevState {
        conn: ConnState::WfReportParams,
        ..v.state
    };
    let st = packet::State {
        state: state.to_u32(),
    };
    send_packet(data, apv, packet::P_STATE, v.volume, |out| st.encode(out))
}

/// What the peer told of one volume.
#[derive(Clone, Copy, Default)]
pub(crate) struct PeerVol {
    pub(crate) uuids: Option<[u64; 6]>,
    pub(crate) state: Option<u32>,
    /// Its backing disk's size, the size its user asked for and its current size, in sectors
    /// (P_SIZES `d_size`, `u_size`, `c_size`).
    pub(crate) d_size: u64,
    pub(crate) u_size: u64,
    pub(crate) c_size: u64,
    /// The largest request it takes (P_SIZES `max_bio_size`).
    pub(crate) max_bio: u32,
}

/// A volume after the handshake.
#[derive(Clone, Copy)]
pub(crate) struct Negotiated {
    pub(crate) volume: u32,
    pub(crate) decision: Decision,
    pub(crate) peer_role: Role,
    /// The peer's disk as this side takes it (D_NEGOTIATING resolved by its UUID flags).
    pub(crate) peer_disk: DiskState,
    /// Our UUIDs after the handshake's fixups.
    pub(crate) uuids: [u64; 4],
    /// The peer's UUIDs (current, bitmap, history).
    pub(crate) peer_uuids: [u64; 4],
    /// The size both sides take (receive_sizes()); `None` without both disks.
    pub(crate) size: Option<ConnectSize>,
    /// What the peer's backing disk can hold (its P_SIZES `d_size`; C: `p_size`).
    pub(crate) peer_max: u64,
    /// The largest request to send the peer: its `max_bio_size`, and what the protocol allows.
    pub(crate) max_bio: u32,
}

/// Logs the handshake's lines as the C module does, prefixed with the device; `demote` gives
/// the Primary role up for call-pri-lost-after-sb.
struct Log<'a> {
    s: &'a Settings,
    v: &'a VolInfo,
    demote: &'a mut dyn FnMut() -> bool,
}

impl sync::Env for Log<'_> {
    fn log(&mut self, msg: sync::Msg) {
        let (name, vol, minor) = (&self.s.name, self.v.volume, self.v.minor);
        match msg.level() {
            sync::Level::Info => pr_info!("{}/{} drbd{}: {}\n", name, vol, minor, msg),
            sync::Level::Warn => pr_warn!("{}/{} drbd{}: {}\n", name, vol, minor, msg),
            _ => pr_err!("{}/{} drbd{}: {}\n", name, vol, minor, msg),
        }
    }

    fn helper(&mut self, helper: Helper) {
        // (the handshake runs without the configuration lock)
        let who = Subject::Device(&self.s.name, self.v.volume, self.v.minor);
        helper::call(who, helper, Some(&self.s.peer));
    }

    fn demote(&mut self) -> bool {
        (self.demote)()
    }
}

/// The per-volume part of the handshake: send each volume's parameters, read the peer's,
/// and decide the sync as drbd_sync_handshake() does, logging what C logs. `None` when the
/// peer's `verify-alg` or `csums-alg` differs from ours (the peers cannot connect).
fn exchange(
    drbd: &Drbd,
    shared: &ConnShared,
    data: &Socket,
    s: &Settings,
    agreed: packet::Agreed,
    resolve_conflicts: bool,
) -> Result<Option<KVec<Negotiated>>> {
    // the volumes as they are now (taken under the configuration lock)
    let vols = with_resource(drbd, shared, &s.name, |res| -> Result<KVec<VolInfo>> {
        let mut vols = KVec::new();
        for d in res.devices.iter() {
            vols.push(d.vol_info(), GFP_KERNEL)?;
        }
        Ok(vols)
    })
    .ok_or(EINTR)??;
    for v in vols.iter() {
        send_volume(data, s, agreed, v)?;
    }
    let apv = agreed.version;
    let mut peers = KVec::from_elem(PeerVol::default(), vols.len(), GFP_KERNEL)?;
    let mut decided = KVec::new();
    let mut payload = KVec::from_elem(0u8, packet::DRBD_SOCKET_BUFFER_SIZE, GFP_KERNEL)?;
    while decided.len() < vols.len() {
        let h = recv_header(data, apv, &s.name, "handshake")?;
        let bad = |e: packet::WireError| {
            pr_err!("{}: handshake: {}\n", s.name, e);
            eproto()
        };
        let cmd = h.known_command().map_err(bad)?;
        let split = packet::check_payload_len(cmd, apv, agreed.features, h.length).map_err(bad)?;
        let len = split.fixed + split.extra;
        let body = payload.get_mut(..len).ok_or_else(|| {
            pr_err!("{}: handshake: {} packet too large\n", s.name, cmd.name());
            eproto()
        })?;
        data.recv(body)?;
        let Some(i) = vols.iter().position(|v| u32::from(h.volume) == v.volume) else {
            pr_err!(
                "{}: handshake: packet for unknown volume {}\n",
                s.name,
                h.volume
            );
            return Err(eproto());
        };
        match h.command {
            packet::P_UUIDS => {
                let u = packet::Uuids::decode(body).map_err(bad)?;
                let mut all = [0u64; 6];
                all[..4].copy_from_slice(&u.uuid);
                all[4] = u.bitmap_bits;
                all[5] = u.flags;
                peers[i].uuids = Some(all);
            }
            packet::P_SIZES => {
                let sz = packet::Sizes::decode(agreed.features, body).map_err(bad)?;
                peers[i].d_size = sz.d_size;
                peers[i].u_size = sz.u_size;
                peers[i].c_size = sz.c_size;
                peers[i].max_bio = sz.max_bio_size;
            }
            packet::P_STATE => {
                let st = packet::State::decode(body).map_err(bad)?;
                peers[i].state = Some(st.state);
                let volume = u16::try_from(vols[i].volume).unwrap_or(u16::MAX);
                let mut demote = || {
                    with_volume(drbd, shared, &s.name, volume, |d| {
                        crate::device::role::give_up_primary(&s.name, d)
                    }) == Some(true)
                };
                let n = decide(
                    s,
                    &vols[i],
                    &peers[i],
                    apv,
                    agreed.features,
                    resolve_conflicts,
                    &mut demote,
                )?;
                decided.push(n, GFP_KERNEL)?;
            }
            packet::P_SYNC_PARAM | packet::P_SYNC_PARAM89 => {
                let sp = packet::SyncParam::decode(apv, body).map_err(bad)?;
                if let Some((what, peers)) = sp.differing_alg(apv, &s.verify_alg, &s.csums_alg) {
                    let ours = if what == "verify-alg" {
                        &s.verify_alg
                    } else {
                        &s.csums_alg
                    };
                    pr_err!(
                        "{}/{} drbd{}: Different {} settings. me=\"{}\" peer=\"{}\"\n",
                        s.name,
                        vols[i].volume,
                        vols[i].minor,
                        what,
                        BStr::from_bytes(ours),
                        BStr::from_bytes(peers)
                    );
                    return Ok(None);
                }
                // receive_SyncParam(): the peer's resync settings are taken over
                let volume = u16::try_from(vols[i].volume).unwrap_or(u16::MAX);
                with_volume(drbd, shared, &s.name, volume, |d| {
                    crate::device::attach::adopt_sync_param(d, &sp, apv);
                });
            }
            _ => {}
        }
    }
    Ok(Some(decided))
}

/// drbd_sync_handshake() for one volume with what the peer sent (receive_state() of a new
/// connection); `demote` gives the Primary role up (call-pri-lost-after-sb), `true` if it did.
pub(crate) fn decide(
    s: &Settings,
    v: &VolInfo,
    peer: &PeerVol,
    apv: u32,
    features: u32,
    resolve: bool,
    demote: &mut dyn FnMut() -> bool,
) -> Result<Negotiated> {
    let Some((peer_role, peer_disk)) = peer.state.and_then(DevState::role_and_disk) else {
        pr_err!("{}: handshake: invalid peer state\n", s.name);
        return Err(eproto());
    };
    let flags = peer.uuids.map_or(0, |u| u[packet::UI_FLAGS]);
    let real_peer_disk = sync::real_peer_disk(peer_disk, flags);
    let mut n = Negotiated {
        volume: v.volume,
        decision: Decision::Connected,
        peer_role,
        peer_disk: real_peer_disk,
        uuids: v.uuids,
        peer_uuids: [0; 4],
        size: agree_size(s, v, peer),
        peer_max: peer.d_size,
        max_bio: match peer.max_bio {
            0 => packet::DRBD_MAX_BIO_SIZE,
            m => m.min(packet::DRBD_MAX_BIO_SIZE),
        }
        .min(packet::max_bio_size_for_protocol(apv)),
    };
    let (Some(pu), true) = (peer.uuids, v.attached) else {
        // a diskless side has nothing to sync
        return Ok(n);
    };
    n.peer_uuids.copy_from_slice(&pu[..4]);
    if peer_disk < DiskState::Negotiating {
        return Ok(n);
    }
    let mut me = sync::Side {
        uuids: v.uuids,
        bits: v.bits_set,
        flags: sync::uuid_flags(s.discard_my_data, v.crashed, false, false),
        role: v.state.role,
        disk: v.state.disk,
    };
    let mut them = sync::Side::from_p_uuids(&pu, peer_role, real_peer_disk);
    let net = sync::Net {
        agreed_features: features,
        after_sb_0p: s.after_sb[0],
        after_sb_1p: s.after_sb[1],
        after_sb_2p: s.after_sb[2],
        rr_conflict: s.rr_conflict,
        always_asbp: s.always_asbp,
        dry_run: s.dry_run,
        ..sync::Net::new(apv, resolve)
    };
    let mut log = Log { s, v, demote };
    let hs = sync::sync_handshake(&mut me, &mut them, &net, v.attach_disk, &mut log);
    n.decision = hs.decision;
    n.uuids = me.uuids;
    Ok(n)
}

/// receive_sizes() of a new connection for one volume, with its log lines.
fn agree_size(s: &Settings, v: &VolInfo, peer: &PeerVol) -> Option<ConnectSize> {
    if !v.attached {
        // diskless, we take the peer's size
        return match diskless_size(
            v.c_size,
            v.state.role,
            peer.d_size,
            peer.u_size,
            peer.c_size,
        ) {
            DisklessSize::Take(sectors) => Some(ConnectSize::Peer(sectors)),
            _ => None,
        };
    }
    if peer.d_size == 0 {
        // a diskless peer leaves the last agreed size
        return None;
    }
    let (name, vol, minor) = (&s.name, v.volume, v.minor);
    for (what, a, b) in [
        ("lower level device sizes", peer.d_size, v.d_size),
        ("user requested size", peer.u_size, v.u_size),
    ] {
        if differ_considerably(a, b) {
            pr_warn!(
                "{}/{} drbd{}: Considerable difference in {}: {}s vs. {}s\n",
                name,
                vol,
                minor,
                what,
                a,
                b
            );
        }
    }
    let my = SizeInputs {
        la_size: v.c_size,
        my_max: v.d_size,
        peer: peer.d_size,
        user: v.u_size,
    };
    let size = connect_size(
        my,
        peer.u_size,
        v.c_size,
        v.state.disk >= DiskState::Outdated,
    );
    if let ConnectSize::TooSmall { new, cur } = size {
        pr_err!(
            "{}/{} drbd{}: The peer's disk size is too small! ({} < {} sectors)\n",
            name,
            vol,
            minor,
            new,
            cur
        );
    }
    Some(size)
}

/// Reads and drops what the peer sends until it closes or a second passes.
pub(crate) fn drain(data: &Socket) {
    data.set_timeouts(jiffies(1000), jiffies(1000));
    let mut sink = [0u8; 64];
    while !should_stop() && data.recv(&mut sink).is_ok() {}
}

/// __drbd_send_protocol(): our replication protocol and split-brain settings.
fn send_protocol(data: &Socket, s: &Settings, agreed: u32) -> Result {
    let p = protocol_of(s, agreed)?;
    let mut buf = [0u8; packet::HEADER_MAX + packet::Protocol::FIXED_SIZE + 64];
    let size = p.wire_size(agreed);
    let len = u32::try_from(size).map_err(|_| EINVAL)?;
    let h =
        packet::encode_header(agreed, packet::P_PROTOCOL, 0, len, &mut buf).map_err(|_| EINVAL)?;
    let n = p
        .encode(agreed, buf.get_mut(h..).ok_or(EINVAL)?)
        .map_err(|_| EINVAL)?;
    data.send(buf.get(..h + n).ok_or(EINVAL)?, false)
}

/// P_PROTOCOL (and P_PROTOCOL_UPDATE) of settings `s` at protocol `agreed`.
pub(crate) fn protocol_of(s: &Settings, agreed: u32) -> Result<packet::Protocol<'_>> {
    let mut conn_flags = 0;
    if s.discard_my_data {
        conn_flags |= packet::CF_DISCARD_MY_DATA;
    }
    if s.dry_run {
        if agreed < 92 {
            pr_err!("{}: --dry-run is not supported by peer\n", s.name);
            return Err(EINVAL);
        }
        conn_flags |= packet::CF_DRY_RUN;
    }
    Ok(packet::Protocol {
        protocol: s.wire_protocol,
        after_sb_0p: s.after_sb[0],
        after_sb_1p: s.after_sb[1],
        after_sb_2p: s.after_sb[2],
        conn_flags,
        two_primaries: s.two_primaries,
        integrity_alg: &s.integrity_alg,
    })
}

/// receive_protocol(): the peer's settings must equal ours, as the C module requires.
/// `false` when the settings are incompatible.
fn receive_protocol(data: &Socket, s: &Settings, agreed: u32) -> Result<bool> {
    let h = recv_header(data, agreed, &s.name, "protocol exchange")?;
    if h.command != packet::P_PROTOCOL {
        pr_err!(
            "{}: expected Protocol packet, received: 0x{:04x}\n",
            s.name,
            h.command
        );
        return Err(eproto());
    }
    let cmd = packet::Command::from_u16(h.command).ok_or_else(eproto)?;
    packet::check_payload_len(cmd, agreed, 0, h.length).map_err(|e| {
        pr_err!("{}: protocol exchange: {}\n", s.name, e);
        eproto()
    })?;
    let mut payload = [0u8; packet::Protocol::FIXED_SIZE + packet::SHARED_SECRET_MAX];
    let len = h.length as usize;
    data.recv(payload.get_mut(..len).ok_or_else(eproto)?)?;
    let p = packet::Protocol::decode(agreed, &payload[..len]).map_err(|e| {
        pr_err!("{}: protocol exchange: {}\n", s.name, e);
        eproto()
    })?;
    let incompatible = |what: &str| {
        pr_err!("{}: incompatible {} settings\n", s.name, what);
        Ok(false)
    };
    if p.protocol != s.wire_protocol {
        return incompatible("protocol");
    }
    let names = ["after-sb-0pri", "after-sb-1pri", "after-sb-2pri"];
    let theirs = [p.after_sb_0p, p.after_sb_1p, p.after_sb_2p];
    for i in 0..3 {
        if AfterSb::peer_view(theirs[i]) != s.after_sb[i] {
            return incompatible(names[i]);
        }
    }
    if p.conn_flags & packet::CF_DISCARD_MY_DATA != 0 && s.discard_my_data {
        return incompatible("discard-my-data");
    }
    if p.two_primaries != s.two_primaries {
        return incompatible("allow-two-primaries");
    }
    if p.integrity_alg != &s.integrity_alg[..] {
        return incompatible("data-integrity-alg");
    }
    Ok(true)
}

/// A socket connected from our address to the peer's, or an error after `connect-int`.
fn try_connect(shared: &ConnShared, s: &Settings) -> Result<Arc<Socket>> {
    let sock = Arc::new(Socket::tcp(s.my.family())?, GFP_KERNEL)?;
    let t = jiffies(shared.tunables.connect_int_ms());
    sock.set_timeouts(t, t);
    sock.bind(s.my.any_port().as_bytes())?;
    shared.hold(CONNECTING, Some(sock.clone()));
    let connected = sock.connect(s.peer.as_bytes());
    shared.hold(CONNECTING, None);
    connected.map(|()| sock)
}

/// drbd_recv_header(): one packet header in the format of protocol `agreed`; a malformed one
/// is logged with the handshake step `what` and breaks the connection.
pub(crate) fn recv_header(
    sock: &Socket,
    agreed: u32,
    name: &Name,
    what: &str,
) -> Result<packet::Header> {
    let mut hdr = [0u8; packet::HEADER_MAX];
    let hlen = packet::header_size(agreed);
    sock.recv_quickack(hdr.get_mut(..hlen).ok_or(EINVAL)?)?;
    packet::decode_header(agreed, &hdr[..hlen]).map_err(|e| {
        pr_err!("{}: {}: {}\n", name, what, e);
        eproto()
    })
}

/// send_first_packet(): a bare header of the pre-agreement format.
fn send_first(sock: &Socket, cmd: u16) -> Result {
    let mut hdr = [0u8; packet::HEADER_MAX];
    let len = packet::encode_header(packet::PRE_AGREEMENT_VERSION, cmd, 0, 0, &mut hdr)
        .map_err(|_| EINVAL)?;
    sock.send(&hdr[..len], false)
}

/// receive_first_packet(): the command of the first header on an accepted socket.
fn receive_first(sock: &Socket) -> Result<u16> {
    let mut hdr = [0u8; packet::HEADER_H80_LEN];
    sock.recv(&mut hdr)?;
    let h = packet::decode_header(packet::PRE_AGREEMENT_VERSION, &hdr).map_err(|_| eproto())?;
    Ok(h.command)
}

/// drbd_do_features(): both sides send their version range; the agreed version is the highest
/// both speak.
fn features(data: &Socket, name: &Name) -> Result<packet::Agreed> {
    let mut buf = [0u8; packet::FEATURES_PACKET_LEN];
    let max = crate::sys::module::protocol_version_max();
    let len = packet::encode_features(max, &mut buf).map_err(|_| EINVAL)?;
    data.send(&buf[..len], false)?;
    let h = recv_header(
        data,
        packet::PRE_AGREEMENT_VERSION,
        name,
        "feature exchange",
    )?;
    if h.command != packet::P_CONNECTION_FEATURES || h.length as usize != packet::FEATURES_LEN {
        pr_err!(
            "{}: expected ConnectionFeatures packet, received: {:#x} ({} bytes)\n",
            name,
            h.command,
            h.length
        );
        return Err(eproto());
    }
    let mut payload = [0u8; packet::FEATURES_LEN];
    data.recv(&mut payload)?;
    packet::ConnectionFeatures::decode(&payload)
        .and_then(|f| packet::agree_with_peer(max, &f))
        .map_err(|e| {
            pr_err!("{}: incompatible DRBD dialects: {}\n", name, e);
            eproto()
        })
}

/// drbd_do_auth(): each side sends a random challenge and answers the peer's with the HMAC of
/// `cram-hmac-alg` keyed with the shared secret; `false` when the peer's answer is wrong (or it
/// breaks the exchange in a way C treats as final), an error when the exchange broke off.
fn authenticate(data: &Socket, s: &Settings, apv: u32) -> Result<bool> {
    let mut mine = [0u8; packet::CHALLENGE_LEN];
    for chunk in mine.chunks_mut(8) {
        chunk.copy_from_slice(&crate::sys::random_u64().to_ne_bytes()[..chunk.len()]);
    }
    send_packet(data, apv, packet::P_AUTH_CHALLENGE, 0, |out| {
        let dst = out
            .get_mut(..mine.len())
            .ok_or(packet::WireError::Truncated {
                need: mine.len(),
                got: 0,
            })?;
        dst.copy_from_slice(&mine);
        Ok(mine.len())
    })?;
    let h = recv_header(data, apv, &s.name, "authentication")?;
    if h.command != packet::P_AUTH_CHALLENGE {
        pr_err!(
            "{}: expected AuthChallenge packet, received: 0x{:04x}\n",
            s.name,
            h.command
        );
        return Ok(false);
    }
    if packet::check_auth_challenge_len(h.length).is_err() {
        pr_err!(
            "{}: AuthChallenge payload of wrong size ({})\n",
            s.name,
            h.length
        );
        return Ok(false);
    }
    let mut theirs = [0u8; 2 * packet::CHALLENGE_LEN];
    let theirs = theirs.get_mut(..h.length as usize).ok_or(EINVAL)?;
    data.recv(theirs)?;
    if theirs.get(..mine.len()) == Some(&mine[..]) {
        pr_err!("{}: Peer presented the same challenge!\n", s.name);
        return Ok(false);
    }
    let mut response = [0u8; crypto::MAX_DIGEST];
    let n = crypto::hmac(&s.cram_alg, &s.secret, theirs, &mut response).inspect_err(|e| {
        pr_err!("{}: crypto_hash_digest() failed with {:?}\n", s.name, e);
    })?;
    send_packet(data, apv, packet::P_AUTH_RESPONSE, 0, |out| {
        let dst = out
            .get_mut(..n)
            .ok_or(packet::WireError::Truncated { need: n, got: 0 })?;
        dst.copy_from_slice(&response[..n]);
        Ok(n)
    })?;
    let h = recv_header(data, apv, &s.name, "authentication")?;
    if h.command != packet::P_AUTH_RESPONSE {
        pr_err!(
            "{}: expected AuthResponse packet, received: 0x{:04x}\n",
            s.name,
            h.command
        );
        return Err(eproto());
    }
    if packet::check_auth_response_len(h.length, n).is_err() {
        pr_err!("{}: expected AuthResponse payload of wrong size\n", s.name);
        return Err(eproto());
    }
    let mut got = [0u8; crypto::MAX_DIGEST];
    data.recv(&mut got[..n])?;
    let mut right = [0u8; crypto::MAX_DIGEST];
    crypto::hmac(&s.cram_alg, &s.secret, &mine, &mut right)?;
    if got[..n] != right[..n] {
        return Ok(false);
    }
    pr_info!("{}: Peer authenticated using {} bytes HMAC\n", s.name, n);
    Ok(true)
}
