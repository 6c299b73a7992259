// SPDX-License-Identifier: GPL-2.0
//! A resource's connection to its peer: the net configuration, and the receiver thread that
//! establishes the data and meta sockets as the C module does (both nodes listen and connect;
//! the first packet on each socket says which it is), negotiates the protocol version and
//! settings, exchanges each volume's parameters and decides the sync.
//!
//! C counterpart: conn_connect(), drbd_try_connect(), prepare_listen_socket(),
//! drbd_wait_for_connect(), receive_first_packet(), drbd_do_features(), receive_protocol(),
//! drbd_connected(), receive_sizes() and drbd_sync_handshake() of drbd_receiver.c; once
//! connected, drbdd() and the resync of the same file (replication itself is in link.rs).

use crate::genl::addr::Endpoint;
use crate::genl::config::{Conf, Name};
use crate::genl::nla::Value;
use crate::link::{Link, LinkConf, PeerWrite, Resync, Tunables};
use crate::model::attach::{connect_size, differ_considerably, ConnectSize, SizeInputs};
use crate::model::role::StateRv;
use crate::model::state::{ConnState, DevState, DiskState, Role};
use crate::model::transition;
use crate::resource::{take_at, DevIo, Drbd, PeerRange, Resource};
use crate::sys::crypto;
use crate::sys::genl::{broadcast, Events};
use crate::sys::net::Socket;
use crate::sys::pio::{self, PeerBuf, PeerIo, PeerOp};
use crate::sys::print::ratelimit;
use crate::sys::thread::{should_stop, Thread};
use crate::sys::{sleep_ms, without_io_reclaim};
use crate::wire::sync::{self, AfterSb, Decision};
use crate::wire::{bitmap_codec, packet};
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use kernel::c_str;
use kernel::error::Error;
use kernel::prelude::*;
use kernel::sync::{new_mutex, Arc, Mutex};

/// What the receiver sends of a volume in the handshake and decides the sync with, copied out
/// of the configuration when the handshake begins.
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
    /// The net options that take effect at once when changed.
    pub(crate) tunables: Arc<Tunables>,
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

    /// `net-options` changed: the data socket's send timeout follows ko-count × timeout (no
    /// limit with ko-count 0), as the link's other timeouts do by themselves.
    pub(crate) fn retune(&self) {
        if let Some(data) = self.sockets.lock()[DATA].as_ref() {
            if self.state() >= ConnState::Connected {
                data.set_timeouts(isize::MAX, send_timeout(&self.tunables));
            }
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

/// The settings the thread works with, copied out of the net configuration at each attempt to
/// connect (those that may change while connected are [`Tunables`]).
struct Settings {
    name: Name,
    my: Endpoint,
    peer: Endpoint,
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
    /// `cram-hmac-alg` (empty: no authentication) and `shared-secret`.
    cram_alg: KVec<u8>,
    secret: KVec<u8>,
    max_epoch_size: u32,
}

impl Settings {
    fn new(name: &Name, c: &Connection) -> Result<Self> {
        let conf = &c.net_conf;
        let num = |n: &str| u32::try_from(conf.num(n)).unwrap_or(0);
        Ok(Self {
            name: *name,
            my: c.my,
            peer: c.peer,
            sndbuf: num("sndbuf_size"),
            rcvbuf: num("rcvbuf_size"),
            wire_protocol: num("wire_protocol"),
            after_sb: [num("after_sb_0p"), num("after_sb_1p"), num("after_sb_2p")],
            two_primaries: num("two_primaries"),
            discard_my_data: num("discard_my_data") != 0,
            dry_run: num("tentative") != 0,
            rr_conflict: num("rr_conflict"),
            always_asbp: num("always_asbp") != 0,
            max_epoch_size: num("max_epoch_size"),
            integrity_alg: string(conf, "integrity_alg")?,
            cram_alg: string(conf, "cram_hmac_alg")?,
            secret: string(conf, "shared_secret")?,
        })
    }
}

/// The data socket's send timeout while connected: a peer that stops reading is given up after
/// ko-count × timeout; never with ko-count 0.
fn send_timeout(t: &Tunables) -> isize {
    match t.ko_limit_ms() {
        0 => isize::MAX,
        ms => jiffies(ms),
    }
}

/// A configured connection (`connect` ran; `disconnect` ends it).
pub(crate) struct Connection {
    pub(crate) net_conf: KBox<Conf>,
    pub(crate) my: Endpoint,
    pub(crate) peer: Endpoint,
    pub(crate) shared: Arc<ConnShared>,
    thread: Option<Thread>,
}

/// A string option of the net configuration (empty if unset).
fn string(conf: &Conf, name: &str) -> Result<KVec<u8>> {
    let mut v = KVec::new();
    if let Some(Value::Str(bytes)) = conf.value(name) {
        v.extend_from_slice(bytes, GFP_KERNEL)?;
    }
    Ok(v)
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
        drbd: Arc<Drbd>,
    ) -> Result<Self> {
        let tunables = Arc::new(Tunables::new(&net_conf), GFP_KERNEL)?;
        let shared = Arc::pin_init(
            pin_init!(ConnShared {
                cstate: AtomicU8::new(ConnState::Unconnected as u8),
                stopping: AtomicBool::new(false),
                sockets <- new_mutex!([None, None, None, None], "drbd_conn_sockets"),
                tunables,
            }),
            GFP_KERNEL,
        )?;
        let thread_shared = shared.clone();
        let name = *name;
        shared.set_state(ConnState::WfConnection);
        let thread = Thread::spawn(c_str!("drbd_r"), move || {
            // the receiver writes what the peer sends: its allocations must not recurse into
            // block I/O
            without_io_reclaim(|| receiver(drbd, thread_shared, name))
        })?;
        Ok(Self {
            net_conf,
            my,
            peer,
            shared,
            thread: Some(thread),
        })
    }

    /// Makes the thread give up: its sockets are shut down, its changes of the configuration
    /// are not made any more. [`Connection::stop`] then waits for it, without the configuration
    /// lock.
    pub(crate) fn shutdown(&self) {
        self.shared.set_state(ConnState::Disconnecting);
        self.shared.shutdown_all();
    }

    /// Stops the thread and closes the sockets: StandAlone again. Must not run under the
    /// configuration lock, which the thread takes.
    pub(crate) fn stop(mut self) {
        self.shutdown();
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

/// The receiver thread: connect, negotiate, replicate while connected, and start over when
/// the connection breaks; with the net configuration as it is at each attempt.
fn receiver(drbd: Arc<Drbd>, shared: Arc<ConnShared>, name: Name) {
    while !should_stop() {
        let s = match with_resource(&drbd, &shared, &name, |res| {
            res.conn.as_ref().map(|c| Settings::new(&name, c))
        }) {
            Some(Some(Ok(s))) => s,
            // the connection was removed
            None | Some(None) => break,
            Some(Some(Err(_))) => {
                sleep_ms(shared.tunables.connect_int_ms());
                continue;
            }
        };
        shared.set_state(ConnState::WfConnection);
        match connect(&drbd, &shared, &s) {
            Ok(Some(Outcome::Agreed(peer))) => {
                if all_decided(&peer.vols) {
                    established(&drbd, &shared, &s, peer);
                    // a lost connection is looked for again at once, as C does
                    shared.release_all();
                    continue;
                } else {
                    // drbd_sync_handshake() said C_MASK: split brain or unrelated data
                    pr_err!(
                        "{}: the sync handshake failed; dropping the connection\n",
                        s.name
                    );
                    drain(&peer.data);
                }
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
            Err(_) if should_stop() || shared.stopping.load(Ordering::Acquire) => break,
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
            sleep_ms(shared.tunables.connect_int_ms());
        }
    }
}

/// Whether every volume may connect (with or without a resync).
fn all_decided(vols: &[Negotiated]) -> bool {
    vols.iter()
        .all(|v| !matches!(v.decision, Decision::Abort(_)))
}

/// A connection whose handshake succeeded.
struct Peer {
    data: Arc<Socket>,
    meta: Arc<Socket>,
    agreed: packet::Agreed,
    vols: KVec<Negotiated>,
    /// We received P_INITIAL_META: ties are ours to break (RESOLVE_CONFLICTS).
    resolve: bool,
}

/// How far a connection got.
enum Outcome {
    /// Protocol version and settings agree, the sync is decided for every volume.
    Agreed(Peer),
    /// The peer's settings differ (receive_protocol()): connecting again would not help.
    Incompatible,
}

/// One round of conn_connect(): until the thread is stopped, connect to the peer and accept
/// from it until a data and a meta socket exist, agree on the protocol version, then exchange
/// and compare P_PROTOCOL. `None` when the round ended without a peer.
fn connect(drbd: &Drbd, shared: &ConnShared, s: &Settings) -> Result<Option<Outcome>> {
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
    if vols
        .iter()
        .any(|v| matches!(v.size, Some(ConnectSize::TooSmall { .. })))
    {
        // receive_sizes(): C_DISCONNECTING, CS_HARD
        drain(&data);
        return Ok(Some(Outcome::Incompatible));
    }
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
        max_bio_size: packet::DRBD_MAX_BIO_SIZE
            .min(packet::max_bio_size_for_protocol(agreed.version)),
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
    /// Its backing disk's size and the size its user asked for, in sectors (P_SIZES `d_size`,
    /// `u_size`).
    d_size: u64,
    u_size: u64,
    /// The largest request it takes (P_SIZES `max_bio_size`).
    max_bio: u32,
}

/// A volume after the handshake.
#[derive(Clone, Copy)]
struct Negotiated {
    volume: u32,
    decision: Decision,
    peer_role: Role,
    /// The peer's disk as this side takes it (D_NEGOTIATING resolved by its UUID flags).
    peer_disk: DiskState,
    /// Our UUIDs after the handshake's fixups.
    uuids: [u64; 4],
    /// The peer's UUIDs (current, bitmap, history).
    peer_uuids: [u64; 4],
    /// The size both sides take (receive_sizes()); `None` without both disks.
    size: Option<ConnectSize>,
    /// The largest request to send the peer: its `max_bio_size`, and what the protocol allows.
    max_bio: u32,
    /// The disk options' resync controller settings (see [`VolInfo::resync`]).
    resync: [u32; 5],
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
    drbd: &Drbd,
    shared: &ConnShared,
    data: &Socket,
    s: &Settings,
    agreed: packet::Agreed,
    resolve_conflicts: bool,
) -> Result<KVec<Negotiated>> {
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
                peers[i].max_bio = sz.max_bio_size;
            }
            packet::P_STATE => {
                let st = packet::State::decode(body).map_err(bad)?;
                peers[i].state = Some(st.state);
                let n = decide(
                    s,
                    &vols[i],
                    &peers[i],
                    apv,
                    agreed.features,
                    resolve_conflicts,
                )?;
                decided.push(n, GFP_KERNEL)?;
            }
            // the sync parameters matter once resync exists
            _ => {}
        }
    }
    Ok(decided)
}

/// drbd_sync_handshake() for one volume with what the peer sent (receive_state() of a new
/// connection).
fn decide(
    s: &Settings,
    v: &VolInfo,
    peer: &PeerVol,
    apv: u32,
    features: u32,
    resolve: bool,
) -> Result<Negotiated> {
    let Some((peer_role, peer_disk)) = peer.state.and_then(DevState::role_and_disk) else {
        pr_err!("{}: handshake: invalid peer state\n", s.name);
        return Err(eproto());
    };
    let flags = peer.uuids.map_or(0, |u| u[packet::UI_FLAGS]);
    let real_peer_disk = if peer_disk == DiskState::Negotiating {
        if flags & packet::UUID_FLAG_INCONSISTENT != 0 {
            DiskState::Inconsistent
        } else {
            DiskState::Consistent
        }
    } else {
        peer_disk
    };
    let mut n = Negotiated {
        volume: v.volume,
        decision: Decision::Connected,
        peer_role,
        peer_disk: real_peer_disk,
        uuids: v.uuids,
        peer_uuids: [0; 4],
        size: agree_size(s, v, peer),
        max_bio: match peer.max_bio {
            0 => packet::DRBD_MAX_BIO_SIZE,
            m => m.min(packet::DRBD_MAX_BIO_SIZE),
        }
        .min(packet::max_bio_size_for_protocol(apv)),
        resync: v.resync,
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
    let mut log = Log { s, v };
    let hs = sync::sync_handshake(&mut me, &mut them, &net, v.state.disk, &mut log);
    n.decision = hs.decision;
    n.uuids = me.uuids;
    Ok(n)
}

/// receive_sizes() of a new connection for one volume, with its log lines.
fn agree_size(s: &Settings, v: &VolInfo, peer: &PeerVol) -> Option<ConnectSize> {
    if !v.attached || peer.d_size == 0 {
        // C: a diskless peer leaves the last agreed size; diskless, we take the peer's size
        // (not yet: drbd-rs connects only with a disk)
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

// ---------------------------------------------------------------------------------------------
// Connected

/// What the receiver knows of a connected volume.
struct Vol {
    volume: u16,
    io: Arc<DevIo>,
    /// The device's size in sectors when the connection began (peer requests are checked
    /// against the disk attached at the time they come).
    size: u64,
    decision: Decision,
    peer_uuids: [u64; 4],
    resync: [u32; 5],
}

/// Runs `f` on the resource of this connection under the configuration lock; `None` if the
/// connection was removed meanwhile (`disconnect`, `down`).
fn with_resource<R>(
    drbd: &Drbd,
    shared: &ConnShared,
    name: &Name,
    f: impl FnOnce(&mut Resource) -> R,
) -> Option<R> {
    let mut config = drbd.config.lock();
    let i = config.find(name.as_bytes())?;
    let res = config.resources.as_mut_slice().get_mut(i)?;
    let ours = res
        .conn
        .as_ref()
        .is_some_and(|c| core::ptr::eq(&*c.shared, shared));
    if !ours || shared.stopping.load(Ordering::Acquire) {
        return None;
    }
    let r = f(res);
    // the state changes go to the events group at once, not with the next command
    let mut events = Events::new();
    crate::genl::announce_resource(&mut config, i, &mut events);
    drop(config);
    broadcast(events);
    Some(r)
}

/// The connection is up: the volumes go Connected, the ack threads start, and this thread
/// serves the data socket until the connection breaks; then the volumes go back to Unconnected
/// and what the peer did not acknowledge is out of sync.
fn established(drbd: &Arc<Drbd>, shared: &Arc<ConnShared>, s: &Settings, peer: Peer) {
    let mut integrity = KVec::new();
    if integrity
        .extend_from_slice(&s.integrity_alg, GFP_KERNEL)
        .is_err()
    {
        return;
    }
    let conf = LinkConf {
        protocol: s.wire_protocol,
        tunables: shared.tunables.clone(),
        max_epoch_size: s.max_epoch_size,
        two_primaries: s.two_primaries != 0,
        integrity,
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
    // writes the peer did not acknowledge are out of sync, and complete; without the
    // configuration lock, which a command may hold while it waits for them (detach, down)
    link.clear(|volume, sector, size| {
        if let Some(v) = vols.iter().find(|v| u32::from(v.volume) == volume) {
            v.io.mark_out_of_sync(sector, u64::from(size >> 9));
        }
    });
    shared.set_state(ConnState::NetworkFailure);
    with_resource(drbd, shared, &s.name, |res| {
        let name = res.name;
        for d in res.devices.as_mut_slice() {
            d.io.set_link(None);
            d.peer_uuids = None;
            d.consider_resync = false;
            let before = d.state;
            d.set_state(transition::sanitize(DevState {
                conn: ConnState::Unconnected,
                ..d.state
            }));
            crate::genl::role::peer_lost(&name, d, before);
        }
    });
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
        let new = transition::sanitize(DevState {
            conn: n.decision.conn_state().unwrap_or(ConnState::Connected),
            peer: n.peer_role,
            pdsk: n.peer_disk,
            ..d.state
        });
        if let Some(ConnectSize::Agreed { size, user }) = n.size {
            agree(&res.name, d, size.sectors, user);
        }
        limit_requests(&res.name, d, n.max_bio);
        if let Decision::SyncSource { full: true } | Decision::SyncTarget { full: true } =
            n.decision
        {
            // the handshake logged "Writing the whole bitmap, full sync required ..."
            if crate::genl::role::rewrite_bitmap(d, true).is_err() {
                pr_err!(
                    "{}/{} drbd{}: Writing bitmap failed\n",
                    res.name,
                    d.volume,
                    d.minor
                );
            }
        }
        if let Some(l) = d.ldev.as_mut() {
            l.sb.uuid = n.uuids;
        }
        d.set_state(new);
        md_sync(&res.name, d);
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
                resync: n.resync,
            },
            GFP_KERNEL,
        )?;
    }
    Ok(vols)
}

/// The size of a new connection takes effect (receive_sizes(), drbd_determine_dev_size()).
fn agree(name: &Name, d: &mut crate::resource::Device, sectors: u64, user: u64) {
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
        let _ = crate::genl::attach::change_size(name, d, sectors);
    }
}

/// drbd_reconsider_queue_parameters() of a new connection: no request larger than the peer
/// takes (an older protocol's header cannot carry more).
fn limit_requests(name: &Name, d: &mut crate::resource::Device, max: u32) {
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
    // writes received since the last barrier
    let mut epoch_size: u32 = 0;
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
        let with_data = data_like || h.command == packet::P_RS_DATA_REPLY;
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
                match &vol {
                    Some(v) => receive_data(s, link, v, h.command, body, split.extra),
                    None => false,
                }
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
                (Some(v), Ok(u)) => begin_resync(drbd, shared, &s.name, link, v, Some(u.uuid)),
                _ => false,
            },
            // a thin-resync request is answered with the data too (the blocks are read)
            packet::P_RS_DATA_REQUEST | packet::P_RS_THIN_REQ => {
                match (&vol, packet::BlockReq::decode(body)) {
                    (Some(v), Ok(r)) => serve_resync_request(s, link, v, &r),
                    _ => false,
                }
            }
            packet::P_BARRIER => {
                let ok = receive_barrier(link, vols, body, epoch_size);
                epoch_size = 0;
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
                receive_state_packet(drbd, shared, s, link, h.command, h.volume, body)
            }
            // settings that matter once resizing and the resync controller exist; hints
            packet::P_SIZES
            | packet::P_SYNC_PARAM
            | packet::P_SYNC_PARAM89
            | packet::P_PROTOCOL_UPDATE
            | packet::P_UNPLUG_REMOTE
            | packet::P_DELAY_PROBE => true,
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
        if data_like && ok {
            epoch_size = epoch_size.wrapping_add(1);
        }
        if !ok {
            break;
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
) -> bool {
    let decoded = if cmd == packet::P_DATA || cmd == packet::P_RS_DATA_REPLY {
        packet::Data::decode(body).map(|d| (d, extra as u32))
    } else {
        packet::Trim::decode(body).map(|t| (t.data, t.size))
    };
    let Ok((d, size)) = decoded else {
        return false;
    };
    // data-integrity-alg: the digest comes first (not with P_TRIM and P_ZEROES)
    let mut digest = [0u8; crypto::MAX_DIGEST];
    let (size, dn) = if cmd == packet::P_DATA || cmd == packet::P_RS_DATA_REPLY {
        let dn = link.digest_size;
        let Some(data) = size.checked_sub(dn as u32) else {
            pr_err!("{}: data packet shorter than its digest\n", s.name);
            return false;
        };
        if link.data.recv(&mut digest[..dn]).is_err() {
            return false;
        }
        (data, dn)
    } else {
        (size, 0)
    };
    let cmd_kind = packet::Command::from_u16(cmd);
    if let Some(c) = cmd_kind {
        if packet::check_block_size(c, size).is_err() {
            pr_err!("{}: peer sent a write of invalid size {}\n", s.name, size);
            return false;
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
            return false;
        }
        Err(PeerRange::Diskless) => None,
        Ok(bdev) => Some(bdev),
    };
    // a resync reply answers a request of ours; while resyncing, writes of the peer wait for
    // the resync writes before them (overlapping ones must land in order)
    let resync = if cmd == packet::P_RS_DATA_REPLY {
        let Some(io) = link.resync_answered(v.volume, d.sector, size) else {
            pr_err!(
                "{}/{}: resync data for sector {} that was not asked for\n",
                s.name,
                v.volume,
                d.sector
            );
            return false;
        };
        Some(io)
    } else {
        if link.resync_target() && !link.drain_peer_writes() {
            return false;
        }
        None
    };
    let buf = if cmd == packet::P_DATA || cmd == packet::P_RS_DATA_REPLY {
        let Ok(mut buf) = PeerBuf::new(size as usize) else {
            return false;
        };
        if buf.recv(&link.data).is_err() {
            return false;
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
                return false;
            }
        }
        Some(buf)
    } else {
        None
    };
    let (write_ack, recv_ack) = if link.agreed.version >= 100 {
        (
            d.dp_flags & packet::DP_SEND_WRITE_ACK != 0,
            d.dp_flags & packet::DP_SEND_RECEIVE_ACK != 0,
        )
    } else {
        (
            link.protocol == packet::DRBD_PROT_C,
            link.protocol == packet::DRBD_PROT_B,
        )
    };
    let ack = packet::BlockAck {
        sector: d.sector,
        block_id: d.block_id,
        blksize: size,
        seq_num: d.seq_num,
    };
    let Some(bdev) = target else {
        // diskless: nothing to write to
        return link
            .send_meta(packet::P_NEG_ACK, v.volume, |out| ack.encode(out))
            .is_ok();
    };
    if !link.reserve_peer_write(size) {
        return false;
    }
    if recv_ack && cmd != packet::P_RS_DATA_REPLY {
        if link
            .send_meta(packet::P_RECV_ACK, v.volume, |out| ack.encode(out))
            .is_err()
        {
            return false;
        }
    }
    v.io.count_received(size);
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
    w.resync = resync;
    match PeerIo::new(w, buf, size) {
        Ok(io) => PeerIo::submit(io, bdev, d.sector, op),
        Err(_) => return false,
    }
    true
}

/// receive_Barrier(): once the epoch's writes are on disk (and flushed), P_BARRIER_ACK.
fn receive_barrier(link: &Link, vols: &[Vol], body: &[u8], epoch_size: u32) -> bool {
    let Ok(b) = packet::Barrier::decode(body) else {
        return false;
    };
    if !link.drain_peer_writes() {
        return false;
    }
    if epoch_size != 0 {
        for v in vols {
            if let Some(bdev) = v.io.backing() {
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
        if let Some(rv) = link.answer_at_once(conn_wide, r.mask, r.val) {
            if rv == StateRv::Success {
                shared.set_state(ConnState::TearDown);
            }
            return reply_state(link, cmd, volume, rv as i32);
        }
    }
    let outcome = with_resource(drbd, shared, &s.name, |res| -> Option<i32> {
        let name = res.name;
        let two_primaries = s.two_primaries != 0;
        let mut reply = None;
        for d in res.devices.as_mut_slice() {
            if !conn_wide && d.volume != u32::from(volume) {
                continue;
            }
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
                _ => {
                    let r = packet::ReqState::decode(body).ok()?;
                    let env = transition::Env {
                        two_primaries,
                        fencing_resource: d.fencing_resource(),
                        open: d.is_open(),
                    };
                    let rv = match transition::peer_request(d.state, r.mask, r.val, &env) {
                        Ok(new) => {
                            // the peer was forced UpToDate and Primary (after_state_ch())
                            if d.state.disk == DiskState::Inconsistent
                                && d.state.pdsk == DiskState::Inconsistent
                                && d.state.peer == Role::Secondary
                                && new.peer == Role::Primary
                            {
                                d.consider_resync = true;
                            }
                            let before = d.state;
                            d.set_state(new);
                            crate::genl::role::peer_lost(&name, d, before);
                            if new.disk != before.disk {
                                md_sync(&name, d);
                            }
                            SS_SUCCESS
                        }
                        Err(rv) => {
                            pr_info!(
                                "{}/{} drbd{}: Refusing the peer's state change: {}\n",
                                name,
                                d.volume,
                                d.minor,
                                rv.text()
                            );
                            rv as i32
                        }
                    };
                    reply = Some(reply.map_or(rv, |r: i32| r.min(rv)));
                }
            }
        }
        if reply.is_none()
            && !conn_wide
            && !res.devices.iter().any(|d| d.volume == u32::from(volume))
        {
            pr_err!("{}: packet for unknown volume {}\n", name, volume);
            return None;
        }
        reply.or(Some(SS_SUCCESS))
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
fn skip_initial_sync(name: &Name, d: &mut crate::resource::Device, u: &packet::Uuids, apv: u32) {
    let skip = d.state.conn == ConnState::Connected
        && apv >= 90
        && d.ldev
            .as_ref()
            .is_some_and(|l| l.sb.uuid[0] == sync::UUID_JUST_CREATED)
        && u.flags & packet::UUID_FLAG_SKIP_INITIAL_SYNC != 0;
    if !skip {
        return;
    }
    pr_info!(
        "{}/{} drbd{}: Accepted new current UUID, preparing to skip initial sync\n",
        name,
        d.volume,
        d.minor
    );
    if crate::genl::role::rewrite_bitmap(d, false).is_err() {
        pr_err!(
            "{}/{} drbd{}: Writing bitmap failed\n",
            name,
            d.volume,
            d.minor
        );
    }
    let Some(l) = d.ldev.as_mut() else {
        return;
    };
    l.sb.uuid[0] = u.uuid[0];
    l.sb.uuid[1] = 0;
    let new = DevState {
        disk: DiskState::UpToDate,
        pdsk: DiskState::UpToDate,
        ..d.state
    };
    d.set_state(new);
    md_sync(name, d);
}

// ---------------------------------------------------------------------------------------------
// Resync

/// The sender thread: acks, barriers, and the SyncTarget's resync requests; it ends a target's
/// resync once every block arrived.
fn sender(link: &Link, drbd: &Drbd, shared: &ConnShared, name: &Name) {
    let mut check_at = 0;
    while !should_stop() && !link.is_broken() {
        link.sender_step();
        let now = crate::sys::jiffies();
        if now >= check_at {
            link.check_timeout();
            check_at = now + crate::sys::hz() / 4;
        }
        for volume in link.request_resync(crate::sys::jiffies(), crate::sys::hz()) {
            with_resource(drbd, shared, name, |res| {
                if let Some(d) = res
                    .devices
                    .as_mut_slice()
                    .iter_mut()
                    .find(|d| d.volume == u32::from(volume))
                {
                    finish_target(name, link, d);
                }
            });
        }
    }
}

/// Writes the superblock after a state or UUID change (drbd_md_sync()), with the flags of the
/// device's state.
fn md_sync(name: &Name, d: &mut crate::resource::Device) {
    let state = d.state;
    if let Some(l) = d.ldev.as_mut() {
        l.update_flags(&state);
    }
    // a failed write is logged by it
    let _ = crate::genl::role::md_sync(name, d);
}

/// receive_bitmap(): one bitmap packet of the peer. Once the whole bitmap is in, the SyncTarget
/// answers with its own and waits for the sync UUID; the SyncSource begins the resync.
#[allow(clippy::too_many_arguments)]
fn receive_bitmap(
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
                    let new = DevState {
                        conn: ConnState::WfSyncUuid,
                        ..d.state
                    };
                    d.set_state(new);
                }
            })
            .is_some()
        }
        _ => begin_resync(drbd, shared, &s.name, link, v, None),
    }
}

/// drbd_start_resync(): the SyncSource (`sync_uuid` None: it makes one, drbd_gen_and_send_sync_uuid())
/// or the SyncTarget (with the source's sync UUID, receive_sync_uuid()) begins.
fn begin_resync(
    drbd: &Drbd,
    shared: &ConnShared,
    name: &Name,
    link: &Link,
    v: &Vol,
    sync_uuid: Option<u64>,
) -> bool {
    let target = sync_uuid.is_some();
    if target != matches!(v.decision, Decision::SyncTarget { .. }) {
        pr_err!("{}/{}: sync UUID out of turn\n", name, v.volume);
        return false;
    }
    let [rate, plan_ahead, _, fill, max_rate] = v.resync;
    let now = crate::sys::jiffies();
    let begun = with_resource(drbd, shared, name, |res| -> Option<u64> {
        let d = res
            .devices
            .as_mut_slice()
            .iter_mut()
            .find(|d| d.volume == u32::from(v.volume))?;
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
                    b.wrapping_add(UUID_NEW_BM_OFFSET)
                } else {
                    crate::sys::random_u64()
                };
                crate::model::role::uuid_set(&mut l.sb.uuid, 1, u, primary);
                u
            }
        };
        let new = if target {
            DevState {
                conn: ConnState::SyncTarget,
                disk: DiskState::Inconsistent,
                ..d.state
            }
        } else {
            DevState {
                conn: ConnState::SyncSource,
                pdsk: DiskState::Inconsistent,
                ..d.state
            }
        };
        d.set_state(new);
        crate::genl::role::print_uuids(
            name,
            d,
            if target {
                "updated sync uuid"
            } else {
                "updated sync UUID"
            },
        );
        md_sync(name, d);
        let rs = Resync::new(
            v.volume,
            d.io.clone(),
            target,
            v.size,
            v.peer_uuids,
            if plan_ahead == 0 { rate } else { max_rate },
            fill,
            now,
        );
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

/// `UUID_NEW_BM_OFFSET` (drbd_int.h): how a new sync UUID derives from the bitmap UUID.
const UUID_NEW_BM_OFFSET: u64 = 0x0001_0000_0000_0000;

/// The SyncSource answers a resync request with the blocks (receive_DataRequest()).
fn serve_resync_request(s: &Settings, link: &Link, v: &Vol, r: &packet::BlockReq) -> bool {
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
    link.send_resync_reply(v.volume, &v.io, r).is_ok()
}

/// Removes the volume's resync; returns its start time and total.
fn end_resync(link: &Link, volume: u16) -> Option<Resync> {
    let mut resyncs = link.resyncs.lock();
    let i = resyncs.iter().position(|r| r.volume == volume)?;
    take_at(&mut resyncs, i).ok().flatten()
}

/// "Resync done (...)" as drbd_resync_finished() logs it.
fn log_done(name: &Name, d: &crate::resource::Device, rs: &Resync) {
    let hz = crate::sys::hz().max(1);
    let dt = (crate::sys::jiffies().wrapping_sub(rs.started) / hz).max(1);
    pr_info!(
        "{}/{} drbd{}: Resync done (total {} sec; paused 0 sec; {} K/sec)\n",
        name,
        d.volume,
        d.minor,
        dt,
        (rs.total / dt) << 2
    );
}

/// drbd_resync_finished() of the SyncTarget: UpToDate, with the source's data generation.
fn finish_target(name: &Name, link: &Link, d: &mut crate::resource::Device) {
    let Ok(volume) = u16::try_from(d.volume) else {
        return;
    };
    let Some(rs) = end_resync(link, volume) else {
        return;
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
        d.set_state(transition::sanitize(DevState {
            conn: ConnState::Connected,
            disk: DiskState::Inconsistent,
            pdsk: DiskState::UpToDate,
            ..d.state
        }));
        md_sync(name, d);
        let st = packet::State {
            state: d.state.to_u32(),
        };
        let _ = link.send_data(packet::P_STATE, volume, |out| st.encode(out));
        return;
    }
    let primary = d.state.role == Role::Primary;
    if let Some(l) = d.ldev.as_mut() {
        let p = rs.peer_uuids;
        l.sb.uuid[1..4].copy_from_slice(&p[1..4]);
        let current = l.sb.uuid[0];
        crate::model::role::uuid_set(&mut l.sb.uuid, 1, current, primary);
        l.sb.uuid[0] = if primary { p[0] | 1 } else { p[0] & !1 };
    }
    crate::genl::role::print_uuids(name, d, "updated UUIDs");
    let new = DevState {
        conn: ConnState::Connected,
        disk: DiskState::UpToDate,
        pdsk: DiskState::UpToDate,
        ..d.state
    };
    d.set_state(new);
    if crate::genl::role::rewrite_bitmap(d, false).is_err() {
        pr_err!(
            "{}/{} drbd{}: Writing bitmap failed\n",
            name,
            d.volume,
            d.minor
        );
    }
    md_sync(name, d);
    let st = packet::State {
        state: d.state.to_u32(),
    };
    let _ = link.send_data(packet::P_STATE, volume, |out| st.encode(out));
}

/// drbd_resync_finished() of the SyncSource, told by the target's state: `synced` when the
/// target is UpToDate now; else blocks failed and the peer stays Inconsistent.
fn finish_source(name: &Name, link: &Link, d: &mut crate::resource::Device, synced: bool) {
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
        d.set_state(DevState {
            conn: ConnState::Connected,
            pdsk: DiskState::Inconsistent,
            ..d.state
        });
        md_sync(name, d);
        return;
    }
    if let Some(l) = d.ldev.as_mut() {
        // drbd_uuid_set_bm(0): the bitmap UUID into the history
        let u = &mut l.sb.uuid;
        u[3] = u[2];
        u[2] = u[1];
        u[1] = 0;
    }
    crate::genl::role::print_uuids(name, d, "updated UUIDs");
    let new = DevState {
        conn: ConnState::Connected,
        pdsk: if left == 0 {
            DiskState::UpToDate
        } else {
            DiskState::Inconsistent
        },
        ..d.state
    };
    d.set_state(new);
    if left == 0 && crate::genl::role::rewrite_bitmap(d, false).is_err() {
        pr_err!(
            "{}/{} drbd{}: Writing bitmap failed\n",
            name,
            d.volume,
            d.minor
        );
    }
    md_sync(name, d);
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
    if matches!(v.decision, Decision::SyncSource { .. })
        && target_done
        && peer.disk == DiskState::UpToDate
    {
        // the target's last acks travel on the meta socket: let the ack receiver apply them
        for _ in 0..500 {
            if v.io.bits_set() == 0 || link.is_broken() {
                break;
            }
            sleep_ms(10);
        }
    }
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
            return Some((Decision::Connected, true));
        }
        let starting = peer.conn >= ConnState::StartingSyncS && peer.conn <= ConnState::WfBitMapT;
        let consider = core::mem::take(&mut d.consider_resync)
            || (d.state.conn == ConnState::Connected && starting);
        let mut decision = Decision::Connected;
        if consider && d.ldev.is_some() && peer.disk >= DiskState::Negotiating {
            let pv = PeerVol {
                uuids: d.peer_uuids,
                state: Some(peer.to_u32()),
                // the size was agreed when connecting
                ..PeerVol::default()
            };
            let n = decide(s, &d.vol_info(), &pv, apv, link.agreed.features, resolve).ok()?;
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
                if crate::genl::role::rewrite_bitmap(d, true).is_err() {
                    pr_err!(
                        "{}/{} drbd{}: Writing bitmap failed\n",
                        name,
                        d.volume,
                        d.minor
                    );
                }
            }
        }
        let new = transition::sanitize(DevState {
            peer: peer.role,
            pdsk: peer.disk,
            conn: decision.conn_state().unwrap_or(d.state.conn),
            ..d.state
        });
        d.set_state(new);
        // a peer that has not decided yet must learn of the resync
        if decision != Decision::Connected && peer.conn <= ConnState::Connected {
            let _ = crate::genl::role::send_uuids(link, v.volume, d, 0);
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
