// SPDX-License-Identifier: GPL-2.0
//! A resource's connection to its peer: the net configuration, and the receiver thread that
//! establishes the data and meta sockets as the C module does (both nodes listen and connect;
//! the first packet on each socket says which it is), negotiates the protocol version and
//! settings, exchanges each volume's parameters and decides the sync.
//!
//! C counterpart: conn_connect(), drbd_try_connect(), prepare_listen_socket(),
//! drbd_wait_for_connect(), receive_first_packet(), drbd_do_features(), receive_protocol(),
//! drbd_connected() and drbd_sync_handshake() of drbd_receiver.c. Not yet: authentication,
//! the bitmap exchange, resync and replication (issue 4); once the sync is decided the
//! connection is dropped with a log line and tried again.

use crate::genl::addr::Endpoint;
use crate::genl::config::{Conf, Name};
use crate::genl::nla::Value;
use crate::model::state::{ConnState, DevState, DiskState};
use crate::sys::net::Socket;
use crate::sys::print::ratelimit;
use crate::sys::sleep_ms;
use crate::sys::thread::{should_stop, Thread};
use crate::wire::packet;
use crate::wire::sync::{self, AfterSb};
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use kernel::c_str;
use kernel::error::Error;
use kernel::prelude::*;
use kernel::sync::{new_mutex, Arc, Mutex};

/// What the receiver sends of a volume in the handshake and decides the sync with: a copy the
/// configuration hands over after every command (the thread never takes the configuration
/// lock: `disconnect` holds it while stopping the thread).
#[derive(Clone, Copy)]
pub(crate) struct VolInfo {
    pub(crate) volume: u32,
    pub(crate) minor: u32,
    pub(crate) state: DevState,
    /// Attached (D_NEGOTIATING or better): the sizes and UUIDs are there to send.
    pub(crate) attached: bool,
    pub(crate) uuids: [u64; 4],
    pub(crate) bits_set: u64,
    pub(crate) crashed: bool,
    /// Sectors: what the backing disk can hold, what the user asked for, the current size.
    pub(crate) d_size: u64,
    pub(crate) u_size: u64,
    pub(crate) c_size: u64,
    /// The resync controller settings of the disk configuration (P_SYNC_PARAM).
    pub(crate) resync: [u32; 5],
}

/// What the receiver thread shares with the configuration.
#[pin_data]
pub(crate) struct ConnShared {
    /// The connection state (`cstate`), as the thread moves it.
    cstate: AtomicU8,
    /// Set once `disconnect` began: sockets are shut down as soon as they are held.
    stopping: AtomicBool,
    /// The sockets in use (listening, data, meta, connecting), for `disconnect` to shut down.
    #[pin]
    sockets: Mutex<[Option<Arc<Socket>>; SLOTS]>,
    /// The volumes as of the last command.
    #[pin]
    volumes: Mutex<KVec<VolInfo>>,
}

/// Socket slots of [`ConnShared`].
const LISTEN: usize = 0;
const DATA: usize = 1;
const META: usize = 2;
const CONNECTING: usize = 3;
const SLOTS: usize = 4;

impl ConnShared {
    pub(crate) fn state(&self) -> ConnState {
        ConnState::from_u8(self.cstate.load(Ordering::Acquire)).unwrap_or(ConnState::StandAlone)
    }

    fn set_state(&self, s: ConnState) {
        self.cstate.store(s as u8, Ordering::Release);
    }

    /// Keeps `sock` where `disconnect` finds it; once disconnecting, shuts it down at once.
    fn hold(&self, slot: usize, sock: Option<Arc<Socket>>) {
        let mut sockets = self.sockets.lock();
        if self.stopping.load(Ordering::Acquire) {
            if let Some(s) = &sock {
                s.shutdown();
            }
        }
        if let Some(s) = sockets.get_mut(slot) {
            *s = sock;
        }
    }

    /// Lets go of every socket (they close once the thread drops its own references).
    fn release_all(&self) {
        for slot in 0..SLOTS {
            self.hold(slot, None);
        }
    }

    /// Makes every blocked socket call of the thread return, now and from now on.
    fn shutdown_all(&self) {
        let sockets = self.sockets.lock();
        self.stopping.store(true, Ordering::Release);
        for s in sockets.iter().flatten() {
            s.shutdown();
        }
    }
}

/// The settings the thread works with, copied out of the net configuration.
struct Settings {
    name: Name,
    my: Endpoint,
    peer: Endpoint,
    /// Seconds between connection attempts.
    connect_int: u32,
    /// Tenths of a second to wait for a peer's packet during the handshake.
    ping_timeo: u32,
    sndbuf: u32,
    rcvbuf: u32,
    /// What P_PROTOCOL says of us, and what the peer's must match.
    wire_protocol: u32,
    after_sb: [u32; 3],
    two_primaries: u32,
    discard_my_data: bool,
    dry_run: bool,
    rr_conflict: u32,
    always_asbp: bool,
    integrity_alg: KVec<u8>,
}

/// A configured connection (`connect` ran; `disconnect` ends it).
pub(crate) struct Connection {
    pub(crate) net_conf: KBox<Conf>,
    pub(crate) my: Endpoint,
    pub(crate) peer: Endpoint,
    pub(crate) shared: Arc<ConnShared>,
    thread: Option<Thread>,
}

/// `EPROTO`: the peer broke the protocol.
fn eproto() -> Error {
    Error::from_errno(-(kernel::bindings::EPROTO as i32))
}

/// A timeout in jiffies.
fn jiffies(ms: u32) -> isize {
    crate::sys::msecs_to_jiffies(ms) as isize
}

impl Connection {
    /// Starts trying to connect: the state becomes WFConnection.
    pub(crate) fn start(
        name: &Name,
        net_conf: KBox<Conf>,
        my: Endpoint,
        peer: Endpoint,
    ) -> Result<Self> {
        let shared = Arc::pin_init(
            pin_init!(ConnShared {
                cstate: AtomicU8::new(ConnState::Unconnected as u8),
                stopping: AtomicBool::new(false),
                sockets <- new_mutex!([None, None, None, None], "drbd_conn_sockets"),
                volumes <- new_mutex!(KVec::new(), "drbd_conn_volumes"),
            }),
            GFP_KERNEL,
        )?;
        let num = |n: &str| u32::try_from(net_conf.num(n)).unwrap_or(0);
        let settings = Settings {
            name: *name,
            my,
            peer,
            connect_int: num("connect_int").max(1),
            ping_timeo: num("ping_timeo").max(1),
            sndbuf: num("sndbuf_size"),
            rcvbuf: num("rcvbuf_size"),
            wire_protocol: num("wire_protocol"),
            after_sb: [num("after_sb_0p"), num("after_sb_1p"), num("after_sb_2p")],
            two_primaries: num("two_primaries"),
            discard_my_data: num("discard_my_data") != 0,
            dry_run: num("tentative") != 0,
            rr_conflict: num("rr_conflict"),
            always_asbp: num("always_asbp") != 0,
            integrity_alg: match net_conf.value("integrity_alg") {
                Some(Value::Str(alg)) => {
                    let mut v = KVec::new();
                    v.extend_from_slice(alg, GFP_KERNEL)?;
                    v
                }
                _ => KVec::new(),
            },
        };
        let thread_shared = shared.clone();
        shared.set_state(ConnState::WfConnection);
        let thread = Thread::spawn(c_str!("drbd_r"), move || receiver(thread_shared, settings))?;
        Ok(Self {
            net_conf,
            my,
            peer,
            shared,
            thread: Some(thread),
        })
    }

    /// Hands the volumes' current state to the thread.
    pub(crate) fn publish(&self, volumes: KVec<VolInfo>) {
        *self.shared.volumes.lock() = volumes;
    }

    /// Stops the thread and closes the sockets: StandAlone again.
    pub(crate) fn stop(mut self) {
        self.shared.set_state(ConnState::Disconnecting);
        self.shared.shutdown_all();
        if let Some(t) = self.thread.take() {
            t.stop();
        }
        self.shared.set_state(ConnState::StandAlone);
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.shared.shutdown_all();
        if let Some(t) = self.thread.take() {
            t.stop();
        }
    }
}

/// The receiver thread: connect, negotiate, and (until replication exists) start over.
fn receiver(shared: Arc<ConnShared>, s: Settings) {
    while !should_stop() {
        shared.set_state(ConnState::WfConnection);
        match connect(&shared, &s) {
            Ok(Some(Outcome::Agreed)) => {
                pr_warn!(
                    "{}: drbd-rs cannot replicate yet (no bitmap exchange, resync or data \
                     after the sync decision); dropping the connection\n",
                    s.name
                );
            }
            Ok(Some(Outcome::Incompatible)) => {
                // as C: Disconnecting, then StandAlone; the net configuration is discarded
                // with the next command (Resource::sync_conn_state)
                shared.set_state(ConnState::Disconnecting);
                shared.release_all();
                shared.set_state(ConnState::StandAlone);
                pr_info!("{}: Discarding network configuration.\n", s.name);
                return;
            }
            Ok(None) => {}
            // disconnect shut the sockets down
            Err(_) if should_stop() => break,
            // every failure is logged, but a peer failing in a loop does not flood the log
            Err(e) => {
                if ratelimit() {
                    pr_err!("{}: connecting failed: {:?}\n", s.name, e);
                }
            }
        }
        shared.release_all();
        shared.set_state(ConnState::Unconnected);
        if !should_stop() {
            sleep_ms(s.connect_int.saturating_mul(1000));
        }
    }
}

/// How far a connection got.
enum Outcome {
    /// Protocol version and settings agree, the sync is decided: the bitmap exchange would
    /// follow.
    Agreed,
    /// The peer's settings differ (receive_protocol()): connecting again would not help.
    Incompatible,
}

/// One round of conn_connect(): until the thread is stopped, connect to the peer and accept
/// from it until a data and a meta socket exist, agree on the protocol version, then exchange
/// and compare P_PROTOCOL. `None` when the round ended without a peer.
fn connect(shared: &ConnShared, s: &Settings) -> Result<Option<Outcome>> {
    let listen = Arc::new(Socket::tcp(s.my.family())?, GFP_KERNEL)?;
    listen.reuse_addr();
    listen.bind(s.my.as_bytes())?;
    listen.listen(5)?;
    shared.hold(LISTEN, Some(listen.clone()));
    let connect_int_ms = s.connect_int.saturating_mul(1000);
    listen.set_timeouts(jiffies(connect_int_ms), jiffies(connect_int_ms));

    let mut data: Option<Arc<Socket>> = None;
    let mut meta: Option<Arc<Socket>> = None;
    // whoever receives P_INITIAL_META breaks ties (RESOLVE_CONFLICTS)
    let mut resolve_conflicts = false;
    while !should_stop() && (data.is_none() || meta.is_none()) {
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
        if let Ok(sock) = listen.accept() {
            let sock = Arc::new(sock, GFP_KERNEL)?;
            sock.set_timeouts(jiffies(s.ping_timeo * 400), jiffies(s.ping_timeo * 400));
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
    data.set_timeouts(jiffies(s.ping_timeo * 400), jiffies(s.ping_timeo * 400));
    let agreed = features(&data, &s.name)?;
    pr_info!(
        "{}: Handshake successful: Agreed network protocol version {}\n",
        s.name,
        agreed.version
    );
    send_protocol(&data, s, agreed.version)?;
    let mut outcome = receive_protocol(&data, s, agreed.version)?;
    if let Outcome::Agreed = outcome {
        outcome = exchange(shared, &data, s, agreed, resolve_conflicts)?;
    }
    // Let the peer read what we sent before the connection goes: closing with its packets
    // unread would reset the connection under its feet (its P_PROTOCOL check included).
    drain(&data);
    Ok(Some(outcome))
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

/// drbd_connected(): what a volume tells its peer (sync parameters, sizes, UUIDs, state).
fn send_volume(data: &Socket, s: &Settings, agreed: packet::Agreed, v: &VolInfo) -> Result {
    let apv = agreed.version;
    let empty: &[u8] = &[];
    let sp = packet::SyncParam {
        resync_rate: v.resync[0],
        verify_alg: empty,
        csums_alg: empty,
        c_plan_ahead: v.resync[1],
        c_delay_target: v.resync[2],
        c_fill_target: v.resync[3],
        c_max_rate: v.resync[4],
    };
    let cmd = packet::SyncParam::command(apv).as_u16();
    send_packet(data, apv, cmd, v.volume, |out| sp.encode(apv, out))?;
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
    let sizes = packet::Sizes {
        d_size: v.d_size,
        u_size: v.u_size,
        c_size: v.c_size,
        max_bio_size: packet::DRBD_MAX_BIO_SIZE,
        queue_order_type: 0,
        dds_flags: 0,
        qlim,
    };
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
struct PeerVol {
    uuids: Option<[u64; 6]>,
    state: Option<u32>,
}

/// Logs the handshake's lines as the C module does, prefixed with the device.
struct Log<'a> {
    s: &'a Settings,
    v: &'a VolInfo,
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

    fn helper(&mut self, helper: sync::Helper) {
        pr_warn!(
            "{}/{} drbd{}: helper command: {} (usermode helpers are not run by drbd-rs yet)\n",
            self.s.name,
            self.v.volume,
            self.v.minor,
            helper.name()
        );
    }

    fn demote(&mut self) -> bool {
        false
    }
}

/// The per-volume part of the handshake: send each volume's parameters, read the peer's,
/// and decide the sync as drbd_sync_handshake() does, logging what C logs.
fn exchange(
    shared: &ConnShared,
    data: &Socket,
    s: &Settings,
    agreed: packet::Agreed,
    resolve_conflicts: bool,
) -> Result<Outcome> {
    let mut vols = KVec::new();
    for v in shared.volumes.lock().iter() {
        vols.push(*v, GFP_KERNEL)?;
    }
    for v in vols.iter() {
        send_volume(data, s, agreed, v)?;
    }
    let apv = agreed.version;
    let mut peers = KVec::from_elem(PeerVol::default(), vols.len(), GFP_KERNEL)?;
    let mut decided = 0;
    let mut payload = KVec::from_elem(0u8, packet::DRBD_SOCKET_BUFFER_SIZE, GFP_KERNEL)?;
    while decided < vols.len() {
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
            packet::P_STATE => {
                let st = packet::State::decode(body).map_err(bad)?;
                peers[i].state = Some(st.state);
                decide(
                    s,
                    &vols[i],
                    &peers[i],
                    apv,
                    agreed.features,
                    resolve_conflicts,
                );
                decided += 1;
            }
            // sync parameters and sizes: checked above, used once data flows
            _ => {}
        }
    }
    Ok(Outcome::Agreed)
}

/// drbd_sync_handshake() for one volume with what the peer sent.
fn decide(s: &Settings, v: &VolInfo, peer: &PeerVol, apv: u32, features: u32, resolve: bool) {
    let Some((peer_role, peer_disk)) = peer.state.and_then(DevState::role_and_disk) else {
        pr_err!("{}: handshake: invalid peer state\n", s.name);
        return;
    };
    let (Some(pu), true) = (peer.uuids, v.attached) else {
        // a diskless side has nothing to sync (C connects without a handshake decision)
        return;
    };
    let mut me = sync::Side {
        uuids: v.uuids,
        bits: v.bits_set,
        flags: sync::uuid_flags(s.discard_my_data, v.crashed, false, false),
        role: v.state.role,
        disk: v.state.disk,
    };
    let mut them = sync::Side::from_p_uuids(&pu, peer_role, peer_disk);
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
    let mut log = Log { s, v };
    let hs = sync::sync_handshake(&mut me, &mut them, &net, v.state.disk, &mut log);
    pr_info!(
        "{}/{} drbd{}: sync decision: {:?} (drbd-rs does not resync yet)\n",
        s.name,
        v.volume,
        v.minor,
        hs.decision
    );
}

/// Reads and drops what the peer sends until it closes or a second passes.
fn drain(data: &Socket) {
    data.set_timeouts(jiffies(1000), jiffies(1000));
    let mut sink = [0u8; 64];
    while !should_stop() && data.recv(&mut sink).is_ok() {}
}

/// __drbd_send_protocol(): our replication protocol and split-brain settings.
fn send_protocol(data: &Socket, s: &Settings, agreed: u32) -> Result {
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
    let p = packet::Protocol {
        protocol: s.wire_protocol,
        after_sb_0p: s.after_sb[0],
        after_sb_1p: s.after_sb[1],
        after_sb_2p: s.after_sb[2],
        conn_flags,
        two_primaries: s.two_primaries,
        integrity_alg: &s.integrity_alg,
    };
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

/// receive_protocol(): the peer's settings must equal ours, as the C module requires.
fn receive_protocol(data: &Socket, s: &Settings, agreed: u32) -> Result<Outcome> {
    let h = recv_header(data, agreed, &s.name, "protocol exchange")?;
    if h.command != packet::P_PROTOCOL {
        pr_err!(
            "{}: expected P_PROTOCOL, received {:#x}: authentication (cram-hmac) is not \
             implemented yet by drbd-rs\n",
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
        Ok(Outcome::Incompatible)
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
    Ok(Outcome::Agreed)
}

/// A socket connected from our address to the peer's, or an error after `connect-int`.
fn try_connect(shared: &ConnShared, s: &Settings) -> Result<Arc<Socket>> {
    let sock = Arc::new(Socket::tcp(s.my.family())?, GFP_KERNEL)?;
    let t = jiffies(s.connect_int.saturating_mul(1000));
    sock.set_timeouts(t, t);
    sock.bind(s.my.any_port().as_bytes())?;
    shared.hold(CONNECTING, Some(sock.clone()));
    let connected = sock.connect(s.peer.as_bytes());
    shared.hold(CONNECTING, None);
    connected.map(|()| sock)
}

/// drbd_recv_header(): one packet header in the format of protocol `agreed`; a malformed one
/// is logged with the handshake step `what` and breaks the connection.
fn recv_header(sock: &Socket, agreed: u32, name: &Name, what: &str) -> Result<packet::Header> {
    let mut hdr = [0u8; packet::HEADER_MAX];
    let hlen = packet::header_size(agreed);
    sock.recv(hdr.get_mut(..hlen).ok_or(EINVAL)?)?;
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
    let len = packet::encode_features(&mut buf).map_err(|_| EINVAL)?;
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
        .and_then(|f| packet::agree_with_peer(&f))
        .map_err(|e| {
            pr_err!("{}: incompatible DRBD dialects: {}\n", name, e);
            eproto()
        })
}
