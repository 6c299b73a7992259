// SPDX-License-Identifier: GPL-2.0
//! A resource's connection to its peer: the net configuration, the options that change while
//! connected, and the receiver thread's loop (connect, replicate, start over), with the one way
//! its threads reach the configuration ([`with_resource`]).
//!
//! - `handshake.rs`: the sockets, the protocol version and settings, each volume's parameters
//!   and the sync decision;
//! - `receiver.rs`: an established connection's data socket (peer writes, barriers, the peer's
//!   state and state change requests);
//! - `link.rs`: what replication runs on (sends, the transfer log, acks, the meta socket).
//!
//! C counterpart: conn_connect() and drbd_receiver() of drbd_receiver.c, and the connection's
//! part of drbd_nl.c.

mod disconnect;
pub(crate) mod handshake;
pub(crate) mod link;
pub(crate) mod receiver;

use crate::device::{Drbd, Resource};
use crate::genl::addr::Endpoint;
use crate::genl::config::{change_while_connected, Conf, ConnectedChange, Name};
use crate::genl::nla::Value;
use crate::genl::retcode::RetCode;
use crate::model::state::{ConnState, DevState, DiskState};
use crate::net::link::{Link, Tunables};
use crate::sys::genl::{broadcast, Events};
use crate::sys::net::Socket;
use crate::sys::print::ratelimit;
use crate::sys::thread::{should_stop, Thread};
use crate::sys::{sleep_ms, without_io_reclaim};
use crate::wire::packet;
use crate::wire::sync::{Abort, Decision};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, Ordering};
use handshake::{connect, drain, Negotiated, Outcome};
use kernel::c_str;
use kernel::error::Error;
use kernel::prelude::*;
use kernel::sync::{new_mutex, Arc, Mutex};
use receiver::established;

pub(crate) use disconnect::disconnect;

/// What the receiver sends of a volume in the handshake and decides the sync with, copied out
/// of the configuration when the handshake begins.
#[derive(Clone, Copy)]
pub(crate) struct VolInfo {
    pub(crate) volume: u32,
    pub(crate) minor: u32,
    pub(crate) state: DevState,
    /// While the disk is Negotiating (attached under a connection): what attach found, for the
    /// sync handshake (C: `new_state_tmp.disk`); else the disk's state.
    pub(crate) attach_disk: DiskState,
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
    /// Connections established so far (C: `connect_cnt`).
    connects: AtomicU32,
    /// Our side gave the connection up (a resync helper refused): StandAlone once it is down.
    give_up: AtomicBool,
    /// The sockets in use (listening, data, meta, connecting), for `disconnect` to shut down.
    #[pin]
    sockets: Mutex<[Option<Arc<Socket>>; SLOTS]>,
    /// The net options that take effect at once when changed.
    pub(crate) tunables: Arc<Tunables>,
}

/// Socket slots of [`ConnShared`].
pub(crate) const LISTEN: usize = 0;

pub(crate) const DATA: usize = 1;

pub(crate) const META: usize = 2;

pub(crate) const CONNECTING: usize = 3;

const SLOTS: usize = 4;

impl ConnShared {
    pub(crate) fn state(&self) -> ConnState {
        ConnState::from_u8(self.cstate.load(Ordering::Acquire)).unwrap_or(ConnState::StandAlone)
    }

    fn set_state(&self, s: ConnState) {
        self.cstate.store(s as u8, Ordering::Release);
    }

    /// Connections established so far.
    pub(crate) fn connects(&self) -> u32 {
        self.connects.load(Ordering::Acquire)
    }

    /// The connection is dropped and not looked for again (C: conn_request_state(C_DISCONNECTING,
    /// CS_HARD) from a helper's answer): StandAlone once it is down.
    pub(crate) fn give_up(&self) {
        self.give_up.store(true, Ordering::Release);
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
pub(crate) struct Settings {
    pub(crate) name: Name,
    pub(crate) my: Endpoint,
    pub(crate) peer: Endpoint,
    pub(crate) sndbuf: u32,
    pub(crate) rcvbuf: u32,
    /// What P_PROTOCOL says of us, and what the peer's must match.
    pub(crate) wire_protocol: u32,
    pub(crate) after_sb: [u32; 3],
    pub(crate) two_primaries: u32,
    pub(crate) discard_my_data: bool,
    pub(crate) dry_run: bool,
    pub(crate) rr_conflict: u32,
    pub(crate) always_asbp: bool,
    pub(crate) integrity_alg: KVec<u8>,
    /// `verify-alg` and `csums-alg` (empty: none), which the peer's must match.
    pub(crate) verify_alg: KVec<u8>,
    pub(crate) csums_alg: KVec<u8>,
    /// `cram-hmac-alg` (empty: no authentication) and `shared-secret`.
    pub(crate) cram_alg: KVec<u8>,
    pub(crate) secret: KVec<u8>,
    pub(crate) max_epoch_size: u32,
}

impl Settings {
    pub(crate) fn new(name: &Name, c: &Connection) -> Result<Self> {
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
            verify_alg: string(conf, "verify_alg")?,
            csums_alg: string(conf, "csums_alg")?,
            cram_alg: string(conf, "cram_hmac_alg")?,
            secret: string(conf, "shared_secret")?,
        })
    }
}

/// The data socket's send timeout while connected: a peer that stops reading is given up after
/// ko-count × timeout; never with ko-count 0.
pub(crate) fn send_timeout(t: &Tunables) -> isize {
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

/// __drbd_send_protocol(P_PROTOCOL_UPDATE): the net options the peers agree on changed while
/// connected (`net-options` of `c`); the peer takes them over.
pub(crate) fn send_protocol_update(name: &Name, c: &Connection, link: &Link) -> Result {
    let s = Settings::new(name, c)?;
    let apv = link.agreed.version;
    let p = handshake::protocol_of(&s, apv)?;
    link.send_data(packet::P_PROTOCOL_UPDATE, 0, |out| p.encode(apv, out))
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
pub(crate) fn eproto() -> Error {
    Error::from_errno(-(kernel::bindings::EPROTO as i32))
}

/// A timeout in jiffies.
pub(crate) fn jiffies(ms: u32) -> isize {
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
                connects: AtomicU32::new(0),
                give_up: AtomicBool::new(false),
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

    /// `net-options` of a configured connection, connected at protocol version `agreed` or
    /// not: the timeouts, `ko-count`, `max-buffers`, the protocol and `allow-two-primaries`
    /// take effect at once, the others at the next attempt to connect. `Ok(true)` when the
    /// peer is to learn of the change (P_PROTOCOL_UPDATE; see
    /// [`crate::genl::config::change_while_connected`]).
    pub(crate) fn set_options(
        &mut self,
        name: &Name,
        conf: KBox<Conf>,
        agreed: Option<u32>,
    ) -> Result<bool, (RetCode, &'static str)> {
        let tell = match agreed {
            None => false,
            Some(apv) => {
                let changed = |n: &str| conf.value(n) != self.net_conf.value(n);
                match change_while_connected(changed, apv) {
                    Ok(tell) => tell,
                    Err(ConnectedChange::NeedApv100) => return Err((RetCode::NeedApv100, "")),
                    Err(ConnectedChange::NotImplemented(option)) => {
                        pr_info!(
                            "{}: net-options: {} cannot change while connected (not implemented yet by drbd-rs)\n",
                            name,
                            option
                        );
                        return Err((RetCode::InvalidRequest, "not implemented yet by drbd-rs"));
                    }
                }
            }
        };
        self.shared.tunables.set(&conf);
        self.shared.retune();
        self.net_conf = conf;
        Ok(tell)
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
    // the fence-peer helper after a lost connection (joined before the next one starts, and
    // when this thread ends)
    let mut fencer: Option<Thread> = None;
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
                    if let Some(t) = fencer.take() {
                        t.stop();
                    }
                    fencer = crate::device::helper::fence_after_loss(&drbd, &shared, &name);
                    if shared.give_up.load(Ordering::Acquire) {
                        shared.set_state(ConnState::Disconnecting);
                        shared.release_all();
                        shared.set_state(ConnState::StandAlone);
                        return;
                    }
                    // a lost connection is looked for again at once, as C does
                    shared.release_all();
                    continue;
                } else {
                    // drbd_sync_handshake() said C_MASK: split brain or unrelated data. As
                    // C: Disconnecting, then StandAlone until the administrator connects
                    // again (a dry run only looks, and connects again)
                    pr_err!(
                        "{}: the sync handshake failed; dropping the connection\n",
                        s.name
                    );
                    drain(&peer.data);
                    if !dry_run(&peer.vols) {
                        shared.set_state(ConnState::Disconnecting);
                        shared.release_all();
                        shared.set_state(ConnState::StandAlone);
                        return;
                    }
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

/// Whether the handshake only gave up because it was a dry run (`connect --dry-run`).
fn dry_run(vols: &[Negotiated]) -> bool {
    vols.iter()
        .any(|v| matches!(v.decision, Decision::Abort(Abort::DryRun)))
}

/// Whether every volume may connect (with or without a resync).
fn all_decided(vols: &[Negotiated]) -> bool {
    vols.iter()
        .all(|v| !matches!(v.decision, Decision::Abort(_)))
}

/// [`with_resource`] for one of its volumes; `None` also when it has no such volume.
pub(crate) fn with_volume<R>(
    drbd: &Drbd,
    shared: &ConnShared,
    name: &Name,
    volume: u16,
    f: impl FnOnce(&mut crate::device::Device) -> R,
) -> Option<R> {
    with_resource(drbd, shared, name, |res| {
        res.devices
            .as_mut_slice()
            .iter_mut()
            .find(|d| d.volume == u32::from(volume))
            .map(f)
    })
    .flatten()
}

/// Runs `f` on the resource of this connection under the configuration lock; `None` if the
/// connection was removed meanwhile (`disconnect`, `down`).
pub(crate) fn with_resource<R>(
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
    // the volumes catch up with the connection's state, which the thread moves without the lock
    res.follow_connection(shared.state());
    let r = f(res);
    // a resync that began or ended holds or frees those that resync after it
    config.resync_after_pass();
    // the state changes go to the events group at once, not with the next command (the pass
    // may have changed other resources' devices)
    let mut events = Events::new();
    for r in 0..config.resources.len() {
        crate::genl::announce_resource(&mut config, r, &mut events);
    }
    drop(config);
    broadcast(events);
    Some(r)
}
