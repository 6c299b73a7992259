// SPDX-License-Identifier: GPL-2.0
//! An established connection: the data and meta sockets after the handshake, and what
//! replication runs on them.
//!
//! - The Primary sends each write as P_DATA (with P_BARRIERs between epochs) from the data path
//!   itself, and keeps it in the transfer log until the peer acknowledges it as the protocol
//!   says: A once sent, B on P_RECV_ACK, C on P_WRITE_ACK.
//! - The Secondary writes what P_DATA brings (the receiver thread, in src/net/receiver.rs) and the
//!   sender thread here sends the acks once the writes completed; a P_BARRIER waits for the
//!   epoch's writes, flushes, and is acknowledged.
//! - The ack receiver thread reads the meta socket: acks, barrier acks, state change replies,
//!   and pings, and sends a ping when the peer is quiet for `ping-int`; no answer within
//!   `ping-timeout` breaks the connection.
//!
//! C counterpart: drbd_send_dblock(), maybe_send_barrier(), the asender (drbd_ack_receiver(),
//! got_BlockAck(), got_BarrierAck(), got_RqSReply(), got_Ping()) and e_end_block(),
//! receive_Barrier() of drbd_receiver.c. Lock order (see drbd_rs.rs): `data_lock` →
//! `tl` → a device's `ldev`; `acks` alone.

use crate::device::{Claim, DevIo};
use crate::genl::config::{Conf, Name};
use crate::model::attach::io_error;
use crate::model::conflict::{seq_greater, seq_max};
use crate::model::controller::{self, AppIo, Controller, Marks, RateConf};
use crate::model::request::{self, Congestion, CongestionConf, Effect, OnCongestion};
use crate::model::role::StateRv;
use crate::model::state::{ConnState, DevState, StateReq};
use crate::model::verify;
use crate::sys::blk::Remote;
use crate::sys::crypto;
use crate::sys::lock::{new_irq_spinlock, IrqSpinLock};
use crate::sys::net::{RecvBuf, Socket};
use crate::sys::pio::{DoneList, PeerBuf, PeerDone, PeerIo, PeerOp, BLK_STS_OK};
use crate::sys::print::ratelimit;
use crate::sys::thread::should_stop;
use crate::sys::{jiffies as jiffies_now, msecs_to_jiffies};
use crate::wire::bitmap_codec;
use crate::wire::packet::{self, Agreed};
use crate::wire::tl::{Conflict, Overdue, Read, Reads, Slot, TransferLog};
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use kernel::prelude::*;
use kernel::sync::{new_condvar, new_mutex, Arc, CondVar, CondVarTimeoutResult, Mutex};

/// The largest packet body sent through `send_locked`: P_SYNC_PARAM89 of protocol 95 and later
/// (148 bytes), a block request with a digest (P_CSUM_RS_REQUEST, P_OV_REPLY: 88).
const CONTROL_MAX: usize =
    if packet::SyncParam::SIZE_95 > packet::BlockReq::SIZE + packet::MAX_DIGEST_SIZE {
        packet::SyncParam::SIZE_95
    } else {
        packet::BlockReq::SIZE + packet::MAX_DIGEST_SIZE
    };

/// Acks sent in one message at most.
const ACK_BATCH: usize = 16;

/// Writes in flight to the peer at most (the transfer log's size).
const TL_SLOTS: usize = 4096;

/// The transfer log as the link keeps it.
type Tl = TransferLog<Remote<DevIo>, KVec<Slot<Remote<DevIo>>>>;

/// Reads in flight to the peer at most (a device queue holds 128 requests).
const READ_SLOTS: usize = 1024;

/// The reads the peer serves, as the link keeps them.
type ReadTable = Reads<Remote<DevIo>, KVec<Option<Read<Remote<DevIo>>>>>;

/// A peer write, from its P_DATA to its ack.
pub(crate) struct PeerWrite {
    pub(crate) link: Arc<Link>,
    pub(crate) volume: u16,
    pub(crate) sector: u64,
    pub(crate) block_id: u64,
    pub(crate) seq_num: u32,
    pub(crate) size: u32,
    /// P_WRITE_ACK is owed once written (protocol C).
    pub(crate) write_ack: bool,
    /// A resync write (P_RS_DATA_REPLY): its blocks go in sync once written, and
    /// P_RS_WRITE_ACK is owed; writes under them wait until it is dropped.
    pub(crate) resync: Option<Claim>,
    /// The volume whose `ua:` counts this write while its ack is owed (see
    /// [`PeerWrite::owe_ack`]).
    owed: Option<Arc<DevIo>>,
    /// The activity log extents it holds (see [`DevIo::peer_al_begin`]).
    pub(crate) logged: Option<(Arc<DevIo>, core::ops::RangeInclusive<u32>)>,
    /// Two Primaries: its slot among the writes in flight, until its ack is sent; and whether
    /// postponed writes of ours wait for it to be done again.
    pub(crate) claim: Option<Claim>,
    pub(crate) restart: bool,
    /// A discard or write-zeroes, not a write of data (for the log of a failure).
    pub(crate) discard: bool,
    /// How the write ended (a `BLK_STS_*`).
    status: u8,
}

impl PeerWrite {
    pub(crate) fn new(
        link: Arc<Link>,
        volume: u16,
        d: &packet::Data,
        size: u32,
        write_ack: bool,
    ) -> Self {
        Self {
            link,
            volume,
            sector: d.sector,
            block_id: d.block_id,
            seq_num: d.seq_num,
            size,
            write_ack,
            resync: None,
            owed: None,
            logged: None,
            claim: None,
            restart: false,
            discard: false,
            status: BLK_STS_OK,
        }
    }

    /// An ack is owed for this write (P_WRITE_ACK or P_RS_WRITE_ACK): `io` counts it among
    /// its unacknowledged peer requests until the write is done with (C: inc_unacked()).
    pub(crate) fn owe_ack(&mut self, io: Arc<DevIo>) {
        io.unacked(true);
        self.owed = Some(io);
    }
}

impl Drop for PeerWrite {
    fn drop(&mut self) {
        // acknowledged, or given up with the connection
        if let Some(io) = self.owed.take() {
            io.unacked(false);
        }
        if let Some((io, ext)) = self.logged.take() {
            io.al_complete(ext);
        }
    }
}

impl PeerDone for PeerWrite {
    /// e_end_block(): the sender thread sends the ack.
    fn done(mut io: KBox<PeerIo<Self>>, status: u8) {
        io.ctx.status = status;
        let link = io.ctx.link.clone();
        link.acks.lock().done.push(io);
        link.wake.notify_all();
    }
}

/// A SyncSource's read for a resync request, from its P_RS_DATA_REQUEST (P_RS_THIN_REQ,
/// P_CSUM_RS_REQUEST) to its reply, which the sender thread sends (w_e_end_rsdata_req(),
/// w_e_end_csum_rs_req()).
pub(crate) struct ResyncRead {
    link: Arc<Link>,
    volume: u16,
    io: Arc<DevIo>,
    req: packet::BlockReq,
    /// P_CSUM_RS_REQUEST: the target's digest of its block (`csums-alg`).
    csum: Option<([u8; crypto::MAX_DIGEST], usize)>,
    /// The lock on its blocks (see [`DevIo::resync_read_lock`]), dropped once the reply is
    /// sent: writes under it wait until then.
    lock: Option<Claim>,
    status: u8,
}

impl PeerDone for ResyncRead {
    /// drbd_peer_request_endio(): the sender thread sends the reply.
    fn done(mut io: KBox<PeerIo<Self>>, status: u8) {
        io.ctx.status = status;
        let link = io.ctx.link.clone();
        link.acks.lock().read.push(io);
        link.wake.notify_all();
    }
}

impl Drop for ResyncRead {
    /// Answered, or given up with the connection: its lock goes, and its count.
    fn drop(&mut self) {
        drop(self.lock.take());
        self.io.unacked(false);
        let mut acks = self.link.acks.lock();
        acks.reads = acks.reads.saturating_sub(1);
        acks.read_bytes = acks.read_bytes.saturating_sub(u64::from(self.req.blksize));
        drop(acks);
        self.link.wake.notify_all();
    }
}

/// The Secondary's writes in flight and completed; the SyncSource's resync reads.
struct Acks {
    /// Completed, ack not sent yet.
    done: DoneList<PeerWrite>,
    /// Submitted and not yet acknowledged (or dropped).
    in_flight: u32,
    in_flight_bytes: u64,
    /// Resync reads done, reply not sent yet.
    read: DoneList<ResyncRead>,
    /// Resync reads submitted and not yet answered (or dropped), and their bytes.
    reads: u32,
    read_bytes: u64,
}

/// A volume's sequence numbers, which order its data packets and acks across the two sockets
/// (see `model/conflict.rs`).
struct Seqs {
    volume: u16,
    /// Of our last data packet or ack (C: `packet_seq`).
    ours: u32,
    /// The latest of the peer's we know, kept when we resolve conflicts (C: `peer_seq`).
    peer: u32,
}

/// The resyncs the sender thread begins as SyncSource.
#[derive(Default)]
struct SourceStarts {
    /// Volumes whose full sync was asked for while connected.
    full: KVec<u16>,
    /// Volumes Ahead of the peer with nothing in flight, and since when (jiffies).
    ahead_idle: KVec<(u16, u64)>,
}

/// What a state change request of ours came back with.
#[derive(Clone, Copy)]
enum Reply {
    None,
    Got(i32),
}

/// The net options a connection reads at each use, so that `net-options` changes them at once
/// (C reads `net_conf` at each use, under RCU). Their ranges are drbd_limits.h's, checked
/// when configured.
pub(crate) struct Tunables {
    /// `connect-int` and `ping-int` (seconds), `ping-timeout` and `timeout` (tenths of a
    /// second), `ko-count`, `max-buffers`.
    connect_int: AtomicU32,
    ping_int: AtomicU32,
    ping_timeo: AtomicU32,
    timeout: AtomicU32,
    ko_count: AtomicU32,
    max_buffers: AtomicU32,
    /// The replication protocol (`DRBD_PROT_*`) and `allow-two-primaries`, which the peers
    /// agree on (P_PROTOCOL, then P_PROTOCOL_UPDATE).
    protocol: AtomicU32,
    two_primaries: AtomicBool,
    /// `on-congestion`, `congestion-fill` (sectors) and `congestion-extents`.
    on_congestion: AtomicU32,
    cong_fill: AtomicU32,
    cong_extents: AtomicU32,
}

impl Tunables {
    pub(crate) fn new(conf: &Conf) -> Self {
        let t = Self {
            connect_int: AtomicU32::new(0),
            ping_int: AtomicU32::new(0),
            ping_timeo: AtomicU32::new(0),
            timeout: AtomicU32::new(0),
            ko_count: AtomicU32::new(0),
            max_buffers: AtomicU32::new(0),
            protocol: AtomicU32::new(0),
            two_primaries: AtomicBool::new(false),
            on_congestion: AtomicU32::new(0),
            cong_fill: AtomicU32::new(0),
            cong_extents: AtomicU32::new(0),
        };
        t.set(conf);
        t
    }

    /// Takes the values of `conf`.
    pub(crate) fn set(&self, conf: &Conf) {
        let num = |n: &str| u32::try_from(conf.num(n)).unwrap_or(0);
        for (field, name, min) in [
            (&self.connect_int, "connect_int", 1),
            (&self.ping_int, "ping_int", 1),
            (&self.ping_timeo, "ping_timeo", 1),
            (&self.timeout, "timeout", 1),
            (&self.ko_count, "ko_count", 0),
            (&self.max_buffers, "max_buffers", 32),
            (&self.on_congestion, "on_congestion", 0),
            (&self.cong_fill, "cong_fill", 0),
            (&self.cong_extents, "cong_extents", 0),
        ] {
            field.store(num(name).max(min), Ordering::Relaxed);
        }
        self.set_agreed(num("wire_protocol"), num("two_primaries") != 0);
    }

    /// The settings the peers agree on: ours, or the peer's P_PROTOCOL_UPDATE.
    pub(crate) fn set_agreed(&self, protocol: u32, two_primaries: bool) {
        self.protocol.store(protocol, Ordering::Relaxed);
        self.two_primaries.store(two_primaries, Ordering::Relaxed);
    }

    pub(crate) fn connect_int_ms(&self) -> u32 {
        self.connect_int
            .load(Ordering::Relaxed)
            .saturating_mul(1000)
    }

    fn ping_int_ms(&self) -> u32 {
        self.ping_int.load(Ordering::Relaxed).saturating_mul(1000)
    }

    pub(crate) fn ping_timeo_ms(&self) -> u32 {
        self.ping_timeo.load(Ordering::Relaxed).saturating_mul(100)
    }

    /// `ko-count` and `timeout` (tenths of a second).
    fn ko(&self) -> (u32, u32) {
        (
            self.ko_count.load(Ordering::Relaxed),
            self.timeout.load(Ordering::Relaxed),
        )
    }

    /// ko-count × timeout: how long the peer may take to read what we send, to acknowledge a
    /// write or a barrier (0: forever).
    pub(crate) fn ko_limit_ms(&self) -> u32 {
        let (ko, timeout) = self.ko();
        ko.saturating_mul(timeout).saturating_mul(100)
    }

    /// `on-congestion` and its thresholds.
    pub(crate) fn congestion(&self) -> CongestionConf {
        CongestionConf {
            on: OnCongestion::from_u32(self.on_congestion.load(Ordering::Relaxed)),
            fill: self.cong_fill.load(Ordering::Relaxed),
            extents: self.cong_extents.load(Ordering::Relaxed),
        }
    }

    /// `max-buffers`, in bytes of peer writes in flight.
    fn max_buffer_bytes(&self) -> u64 {
        u64::from(self.max_buffers.load(Ordering::Relaxed)) * 4096
    }
}

/// The net options a link works by.
pub(crate) struct LinkConf {
    /// The options that may change while connected.
    pub(crate) tunables: Arc<Tunables>,
    pub(crate) max_epoch_size: u32,
    /// `data-integrity-alg` (empty: none).
    pub(crate) integrity: KVec<u8>,
    /// `verify-alg` and `csums-alg` (empty: none), told with the resync settings.
    pub(crate) verify_alg: KVec<u8>,
    pub(crate) csums_alg: KVec<u8>,
    /// We received P_INITIAL_META: concurrent state changes are ours to break
    /// (RESOLVE_CONFLICTS).
    pub(crate) resolve_conflicts: bool,
}

/// An established connection.
#[pin_data]
pub(crate) struct Link {
    pub(crate) name: Name,
    pub(crate) data: Arc<Socket>,
    pub(crate) meta: Arc<Socket>,
    pub(crate) agreed: Agreed,
    /// `verify-alg` and `csums-alg` (empty: none; they cannot change while connected).
    pub(crate) verify_alg: KVec<u8>,
    pub(crate) csums_alg: KVec<u8>,
    /// `data-integrity-alg` (empty: none) and the size of its digests.
    pub(crate) integrity: KVec<u8>,
    pub(crate) digest_size: usize,
    /// Timeouts, `ko-count`, `max-buffers`, the protocol, as configured now.
    tunables: Arc<Tunables>,
    broken: AtomicBool,
    /// RESOLVE_CONFLICTS (see [`LinkConf::resolve_conflicts`]).
    resolve_conflicts: bool,
    /// A state change request of ours waits for the peer's reply (C: the state mutex is held).
    awaiting_reply: AtomicBool,
    /// Our graceful disconnect is under way: the peer's own request to disconnect is agreed to
    /// at once, without waiting for the configuration our disconnect holds.
    leaving: AtomicBool,
    /// An epoch was closed: the sender thread sends its barrier.
    barrier_due: AtomicBool,
    /// P_PING_ACKs received, for [`Link::ping_peer`].
    ping_acks: AtomicU32,
    /// The resyncs the sender thread begins as SyncSource.
    #[pin]
    source_starts: Mutex<SourceStarts>,
    /// Serialises the packets on the data socket.
    #[pin]
    data_lock: SendLock,
    /// Serialises the packets on the meta socket.
    #[pin]
    meta_lock: Mutex<()>,
    #[pin]
    tl: IrqSpinLock<Tl>,
    /// The reads a Diskless Primary (or one without good data) asked the peer for.
    #[pin]
    reads: IrqSpinLock<ReadTable>,
    /// Writers waiting for room in the transfer log.
    #[pin]
    tl_wait: CondVar,
    #[pin]
    acks: IrqSpinLock<Acks>,
    /// The sender thread's wake-up, and the receiver's wait for the writes of an epoch.
    #[pin]
    wake: CondVar,
    /// The resyncs running, one per volume at most.
    #[pin]
    pub(crate) resyncs: Mutex<KVec<KBox<Resync>>>,
    /// The online verifies the peer runs on our volumes (we are VerifyT).
    #[pin]
    verifies: Mutex<KVec<Verify>>,
    /// The volumes replicated over this link (for the blocks a P_NEG_ACK leaves out of sync).
    #[pin]
    volumes: Mutex<KVec<(u16, Arc<DevIo>)>>,
    /// Each volume's sequence numbers (see [`Seqs`]).
    #[pin]
    seqs: Mutex<KVec<Seqs>>,
    /// Woken when the peer's sequence number of a volume moves on.
    #[pin]
    seq_wait: CondVar,
    #[pin]
    reply: Mutex<Reply>,
    #[pin]
    reply_wait: CondVar,
}

/// The data socket's lock. The data path takes it for as long as it takes (a write waits for
/// room in the transfer log holding it); the control packets (state changes, UUIDs, resync
/// requests), whose senders may hold the configuration lock, wait a limited time only: a
/// command must never wait for a peer forever.
#[pin_data]
struct SendLock {
    #[pin]
    busy: Mutex<bool>,
    #[pin]
    free: CondVar,
}

/// The data socket, held (see [`SendLock`]).
struct SendGuard<'a>(&'a SendLock);

impl Drop for SendGuard<'_> {
    fn drop(&mut self) {
        *self.0.busy.lock() = false;
        self.0.free.notify_one();
    }
}

impl SendLock {
    fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            busy <- new_mutex!(false, "drbd_link_data"),
            free <- new_condvar!("drbd_link_data_free"),
        })
    }

    fn lock(&self) -> SendGuard<'_> {
        let mut busy = self.busy.lock();
        while *busy {
            self.free.wait(&mut busy);
        }
        *busy = true;
        SendGuard(self)
    }

    /// The lock within `ms`; `None` after that, or on a signal.
    fn lock_within(&self, ms: u32) -> Option<SendGuard<'_>> {
        let mut left = msecs_to_jiffies(ms) as kernel::time::Jiffies;
        let mut busy = self.busy.lock();
        while *busy {
            match self.free.wait_interruptible_timeout(&mut busy, left) {
                CondVarTimeoutResult::Woken { jiffies } => left = jiffies,
                _ if !*busy => break,
                _ => return None,
            }
        }
        *busy = true;
        Some(SendGuard(self))
    }
}

/// A socket timeout in jiffies.
fn jiffies(ms: u32) -> isize {
    msecs_to_jiffies(ms) as isize
}

/// A wait's timeout in jiffies.
fn ticks(ms: u32) -> kernel::time::Jiffies {
    msecs_to_jiffies(ms) as kernel::time::Jiffies
}

impl Link {
    pub(crate) fn new(
        name: Name,
        data: Arc<Socket>,
        meta: Arc<Socket>,
        agreed: Agreed,
        c: LinkConf,
    ) -> Result<Arc<Self>> {
        let digest_size = if c.integrity.is_empty() {
            0
        } else {
            crate::sys::crypto::digest_size(&c.integrity)?
        };
        let mut slots = KVec::with_capacity(TL_SLOTS, GFP_KERNEL)?;
        for _ in 0..TL_SLOTS {
            slots.push(None, GFP_KERNEL)?;
        }
        let first_epoch = crate::sys::random_u64() as u32;
        let mut read_slots = KVec::with_capacity(READ_SLOTS, GFP_KERNEL)?;
        for _ in 0..READ_SLOTS {
            read_slots.push(None, GFP_KERNEL)?;
        }
        Arc::pin_init(
            pin_init!(Self {
                name,
                data,
                meta,
                agreed,
                verify_alg: c.verify_alg,
                csums_alg: c.csums_alg,
                integrity: c.integrity,
                digest_size,
                tunables: c.tunables,
                broken: AtomicBool::new(false),
                resolve_conflicts: c.resolve_conflicts,
                awaiting_reply: AtomicBool::new(false),
                leaving: AtomicBool::new(false),
                barrier_due: AtomicBool::new(false),
                ping_acks: AtomicU32::new(0),
                source_starts <- new_mutex!(SourceStarts::default(), "drbd_link_source_starts"),
                data_lock <- SendLock::new(),
                meta_lock <- new_mutex!((), "drbd_link_meta"),
                tl <- new_irq_spinlock!(
                    TransferLog::new(slots, first_epoch, c.max_epoch_size),
                    "drbd_tl"
                ),
                reads <- new_irq_spinlock!(Reads::new(read_slots), "drbd_reads"),
                tl_wait <- new_condvar!("drbd_tl_wait"),
                acks <- new_irq_spinlock!(
                    Acks {
                        done: DoneList::new(),
                        in_flight: 0,
                        in_flight_bytes: 0,
                        read: DoneList::new(),
                        reads: 0,
                        read_bytes: 0,
                    },
                    "drbd_acks"
                ),
                wake <- new_condvar!("drbd_link_wake"),
                resyncs <- new_mutex!(KVec::new(), "drbd_link_resyncs"),
                verifies <- new_mutex!(KVec::new(), "drbd_link_verifies"),
                volumes <- new_mutex!(KVec::new(), "drbd_link_volumes"),
                seqs <- new_mutex!(KVec::new(), "drbd_link_seqs"),
                seq_wait <- new_condvar!("drbd_link_seq_wait"),
                reply <- new_mutex!(Reply::None, "drbd_link_reply"),
                reply_wait <- new_condvar!("drbd_link_reply_wait"),
            }),
            GFP_KERNEL,
        )
    }

    /// The replication protocol (`DRBD_PROT_*`) now.
    pub(crate) fn protocol(&self) -> u32 {
        self.tunables.protocol.load(Ordering::Relaxed)
    }

    /// `allow-two-primaries` now.
    pub(crate) fn two_primaries(&self) -> bool {
        self.tunables.two_primaries.load(Ordering::Relaxed)
    }

    /// We resolve conflicts (RESOLVE_CONFLICTS, see [`LinkConf::resolve_conflicts`]).
    pub(crate) fn resolves_conflicts(&self) -> bool {
        self.resolve_conflicts
    }

    pub(crate) fn is_broken(&self) -> bool {
        self.broken.load(Ordering::Acquire)
    }

    /// Breaks the connection: every blocked socket call returns, every waiter wakes up.
    pub(crate) fn fail(&self) {
        {
            let _tl = self.tl.lock();
            self.broken.store(true, Ordering::Release);
        }
        self.data.shutdown();
        self.meta.shutdown();
        self.tl_wait.notify_all();
        self.wake.notify_all();
        self.reply_wait.notify_all();
    }

    /// Sends one packet whose payload `payload` writes (at most 64 bytes) on `sock`, holding
    /// that socket's lock already.
    fn send_locked(
        &self,
        sock: &Socket,
        cmd: u16,
        volume: u16,
        payload: impl FnOnce(&mut [u8]) -> core::result::Result<usize, packet::WireError>,
        more: bool,
    ) -> Result {
        let mut buf = [0u8; packet::HEADER_MAX + CONTROL_MAX];
        let hlen = packet::header_size(self.agreed.version);
        let mut len = 0;
        self.encode_into(&mut buf, &mut len, hlen, cmd, volume, payload)?;
        sock.send(buf.get(..len).ok_or(EINVAL)?, more)
    }

    /// Sends a packet on the meta socket; a failure breaks the connection.
    pub(crate) fn send_meta(
        &self,
        cmd: u16,
        volume: u16,
        payload: impl FnOnce(&mut [u8]) -> core::result::Result<usize, packet::WireError>,
    ) -> Result {
        let _g = self.meta_lock.lock();
        let sent = self.send_locked(&self.meta, cmd, volume, payload, false);
        if sent.is_err() {
            self.fail();
        }
        sent
    }

    /// Sends an ack (`cmd` with a `p_block_ack`) of `volume` on the meta socket, with the
    /// volume's next sequence number (_drbd_send_ack()); a failure breaks the connection.
    pub(crate) fn send_ack(&self, cmd: u16, volume: u16, a: packet::BlockAck) -> Result {
        self.send_acks(&[(cmd, volume, a)])
    }

    /// Sends `acks` (command, volume, ack) back to back in one message on the meta socket,
    /// each with its volume's next sequence number (C corks the meta socket while it sends
    /// the acks of the peer writes done); a failure breaks the connection.
    fn send_acks(&self, acks: &[(u16, u16, packet::BlockAck)]) -> Result {
        let hlen = packet::header_size(self.agreed.version);
        let _g = self.meta_lock.lock();
        let sent = acks.chunks(ACK_BATCH).try_for_each(|chunk| {
            let mut buf = [0u8; ACK_BATCH * (packet::HEADER_MAX + packet::BlockAck::SIZE)];
            let mut len = 0;
            for &(cmd, volume, mut a) in chunk {
                a.seq_num = self.next_seq(volume);
                self.encode_into(&mut buf, &mut len, hlen, cmd, volume, |out| a.encode(out))?;
            }
            self.meta.send(buf.get(..len).ok_or(EINVAL)?, false)
        });
        if sent.is_err() {
            self.fail();
        }
        sent
    }

    /// Encodes packet `cmd` (header of `hlen` bytes) at `*len` of `buf`, and advances `*len`.
    fn encode_into(
        &self,
        buf: &mut [u8],
        len: &mut usize,
        hlen: usize,
        cmd: u16,
        volume: u16,
        payload: impl FnOnce(&mut [u8]) -> core::result::Result<usize, packet::WireError>,
    ) -> Result {
        let at = buf.get_mut(*len..).ok_or(EINVAL)?;
        let n = payload(at.get_mut(hlen..).ok_or(EINVAL)?).map_err(|_| EINVAL)?;
        let plen = u32::try_from(n).map_err(|_| EINVAL)?;
        packet::encode_header(self.agreed.version, cmd, volume, plen, at).map_err(|_| EINVAL)?;
        *len += hlen + n;
        Ok(())
    }

    /// The sequence numbers of `volume`, for `f`.
    fn with_seqs<R>(&self, volume: u16, f: impl FnOnce(&mut Seqs) -> R) -> R {
        let mut seqs = self.seqs.lock();
        if !seqs.iter().any(|s| s.volume == volume) {
            let _ = seqs.push(
                Seqs {
                    volume,
                    ours: 0,
                    peer: 0,
                },
                GFP_KERNEL,
            );
        }
        let mut spare = Seqs {
            volume,
            ours: 0,
            peer: 0,
        };
        let s = seqs
            .iter_mut()
            .find(|s| s.volume == volume)
            .unwrap_or(&mut spare);
        f(s)
    }

    /// The sequence number of our next data packet or ack of `volume` (C: `packet_seq`).
    fn next_seq(&self, volume: u16) -> u32 {
        self.with_seqs(volume, |s| {
            s.ours = s.ours.wrapping_add(1);
            s.ours
        })
    }

    /// update_peer_seq(): a packet of the peer's for `volume` carried `seq` (kept only when we
    /// resolve conflicts).
    pub(crate) fn update_peer_seq(&self, volume: u16, seq: u32) {
        if !self.resolve_conflicts {
            return;
        }
        self.with_seqs(volume, |s| s.peer = seq_max(s.peer, seq));
        let _g = self.seqs.lock();
        self.seq_wait.notify_all();
    }

    /// wait_for_and_update_peer_seq(): with two Primaries, the node that resolves conflicts
    /// handles a peer write with sequence number `seq` only after the peer's acks sent before
    /// it (on the meta socket, which a data packet may overtake): then a write of ours the
    /// peer had acknowledged is done with, not taken for a conflict. `false` when the
    /// connection broke, or the acks did not come within ping-timeout ("Timed out waiting for
    /// missing ack packets"): the caller gives the connection up.
    pub(crate) fn wait_peer_seq(&self, volume: u16, seq: u32) -> bool {
        if !self.resolve_conflicts {
            return true;
        }
        let deadline = jiffies_now() + msecs_to_jiffies(self.tunables.ping_timeo_ms());
        loop {
            let ready = self.with_seqs(volume, |s| {
                let ready = !seq_greater(seq.wrapping_sub(1), s.peer);
                if ready {
                    s.peer = seq_max(s.peer, seq);
                }
                ready
            });
            if ready || !self.two_primaries() {
                return true;
            }
            if self.is_broken() {
                return false;
            }
            if jiffies_now() > deadline {
                pr_err!(
                    "{}/{}: Timed out waiting for missing ack packets; disconnecting\n",
                    self.name,
                    volume
                );
                return false;
            }
            let mut g = self.seqs.lock();
            let _ = self.seq_wait.wait_interruptible_timeout(&mut g, ticks(10));
        }
    }

    /// `ko-count` × `timeout` in milliseconds (0: no limit).
    pub(crate) fn ko_limit_ms(&self) -> u32 {
        self.tunables.ko_limit_ms()
    }

    /// Sends a control packet on the data socket; a failure breaks the connection. Its sender
    /// may hold the configuration lock, so it waits for the socket at most ko-count × timeout
    /// (when a peer that does not read is given up anyway), or `timeout` with ko-count 0: a
    /// peer that takes nothing for so long while a command needs it is given up (C would let
    /// the command, and every other one, wait forever).
    pub(crate) fn send_data(
        &self,
        cmd: u16,
        volume: u16,
        payload: impl FnOnce(&mut [u8]) -> core::result::Result<usize, packet::WireError>,
    ) -> Result {
        let t = &self.tunables;
        let unlimited = t.ko_limit_ms() == 0;
        let limit_ms = if unlimited {
            t.ko().1.saturating_mul(100)
        } else {
            t.ko_limit_ms()
        };
        let Some(_g) = self.data_lock.lock_within(limit_ms) else {
            if !self.is_broken() {
                pr_warn!(
                    "{}: the peer took no data for {} ms: connection dropped\n",
                    self.name,
                    limit_ms
                );
            }
            self.fail();
            return Err(EAGAIN);
        };
        if unlimited {
            self.data.set_timeouts(isize::MAX, jiffies(limit_ms));
        }
        let sent = self.send_locked(&self.data, cmd, volume, payload, false);
        if unlimited {
            self.data.set_timeouts(isize::MAX, isize::MAX);
        }
        if sent.is_err() {
            self.fail();
        }
        sent
    }

    /// drbd_send_dblock(): replicates a write of `volume` as `kind` (P_DATA with the data of
    /// `send`, or P_TRIM/P_ZEROES), its completion held by `ack` until the peer acknowledges it. `false` when the write could not be sent
    /// (the connection is gone): its blocks are then out of sync.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn send_write(
        &self,
        io: &DevIo,
        volume: u16,
        kind: u16,
        send: Remote<DevIo>,
        ack: Remote<DevIo>,
        sector: u64,
        size: u32,
        fua: bool,
    ) -> bool {
        // one protocol for the whole write, should the peers change it meanwhile
        let protocol = self.protocol();
        let guard = self.data_lock.lock();
        let mut hold = ack;
        let started = loop {
            let mut tl = self.tl.lock();
            if self.is_broken() {
                return false;
            }
            match tl.start(u32::from(volume), sector, size, hold, jiffies_now()) {
                Ok(s) => break s,
                Err(h) => hold = h,
            }
            // full: make sure the oldest epochs get their barriers, then wait for acks
            let current = tl.current_epoch();
            tl.close(current);
            let barrier = tl.take_barrier(jiffies_now());
            drop(tl);
            if let Some(nr) = barrier {
                if self.send_barrier_locked(nr).is_err() {
                    return false;
                }
            }
            let mut tl = self.tl.lock();
            if tl.is_full() && !self.is_broken() {
                let _ = self.tl_wait.wait_interruptible_timeout(&mut tl, ticks(100));
            }
        };
        let sent = (|| -> Result {
            if let Some(nr) = started.barrier {
                self.send_barrier_locked(nr)?;
            }
            let fua = if fua { packet::DP_FUA } else { 0 };
            let dp_flags = fua | request::ack_flags(protocol, self.agreed.version);
            let d = packet::Data {
                sector,
                block_id: started.block_id,
                // under the data socket's lock: in the order the peer receives them
                seq_num: self.next_seq(volume),
                dp_flags,
            };
            let apv = self.agreed.version;
            let mut buf = [0u8; packet::HEADER_MAX + packet::Trim::SIZE];
            let hlen = packet::header_size(apv);
            if kind != packet::P_DATA {
                let t = packet::Trim { data: d, size };
                let n = t.encode(&mut buf[hlen..]).map_err(|_| EINVAL)?;
                packet::encode_header(apv, kind, volume, n as u32, &mut buf).map_err(|_| EINVAL)?;
                return self.data.send(&buf[..hlen + n], false);
            }
            let n = d.encode(&mut buf[hlen..]).map_err(|_| EINVAL)?;
            let mut digest = [0u8; crypto::MAX_DIGEST];
            let dn = if self.digest_size > 0 {
                send.digest(&self.integrity, &mut digest)?
            } else {
                0
            };
            let len = (n + dn) as u32;
            let len = len.checked_add(size).ok_or(EINVAL)?;
            packet::encode_header(apv, packet::P_DATA, volume, len, &mut buf)
                .map_err(|_| EINVAL)?;
            self.data.send(&buf[..hlen + n], true)?;
            self.data.send(&digest[..dn], true)?;
            // _drbd_send_zc_bio(): the pages themselves, unless the write may end before the
            // peer has its data (protocol A) or a digest was taken of them
            let zero_copy = request::on_event(protocol, None) != Effect::Done && dn == 0;
            send.send_data(&self.data, zero_copy)
        })();
        // still under the data socket's lock: a resync reply sees the count include it
        io.sent_write(send.mark_sent());
        drop(send);
        drop(guard);
        if sent.is_err() {
            self.fail();
            return false;
        }
        if request::on_event(protocol, None) == Effect::Done {
            // protocol A: done once sent, the hold goes, and with it the epoch
            self.acked(started.block_id, sector);
        }
        true
    }

    /// Asks the peer for a read of `volume` (P_DATA_REQUEST); `hold` receives the data and ends
    /// the request when the P_DATA_REPLY comes, or fails it with a P_NEG_DREPLY or the
    /// connection's end.
    pub(crate) fn send_read(&self, volume: u16, hold: Remote<DevIo>, sector: u64, size: u32) {
        let guard = self.data_lock.lock();
        if self.is_broken() {
            return;
        }
        let Ok(block_id) = self
            .reads
            .lock()
            .start(u32::from(volume), sector, size, hold)
        else {
            if ratelimit() {
                pr_err!(
                    "{}/{}: too many reads in flight to the peer\n",
                    self.name,
                    volume
                );
            }
            return;
        };
        let r = packet::BlockReq {
            sector,
            block_id,
            blksize: size,
        };
        let sent = self.send_locked(
            &self.data,
            packet::P_DATA_REQUEST,
            volume,
            |out| r.encode(out),
            false,
        );
        drop(guard);
        if sent.is_err() {
            // the read fails now, or with the connection's end if clear() took it already
            let hold = self.reads.lock().take(u32::from(volume), block_id, sector);
            drop(hold);
            self.fail();
        }
    }

    /// receive_DataReply(): the data of a read we asked for, `size` bytes (with the digest of
    /// `data-integrity-alg` first) after its header `d`, received into the read's request,
    /// which ends. `false` when the connection cannot go on: a reply to no read of ours, of
    /// another size, or a digest that does not match.
    pub(crate) fn data_reply(&self, volume: u16, d: &packet::Data, size: u32) -> bool {
        let mut digest = [0u8; crypto::MAX_DIGEST];
        let dn = self.digest_size;
        if self.data.recv(&mut digest[..dn]).is_err() {
            return false;
        }
        let Ok((want, hold)) = self
            .reads
            .lock()
            .take(u32::from(volume), d.block_id, d.sector)
        else {
            pr_err!(
                "{}/{}: data reply for no read of ours (sector {})\n",
                self.name,
                volume,
                d.sector
            );
            return false;
        };
        if size.checked_sub(dn as u32) != Some(want) {
            pr_err!("{}/{}: Invalid data reply size\n", self.name, volume);
            return false;
        }
        if hold.recv_data(&self.data).is_err() {
            return false;
        }
        if dn > 0 {
            let mut mine = [0u8; crypto::MAX_DIGEST];
            if hold.digest(&self.integrity, &mut mine).ok() != Some(dn)
                || mine[..dn] != digest[..dn]
            {
                pr_err!(
                    "{}/{}: Digest integrity check FAILED. Broken NICs?\n",
                    self.name,
                    volume
                );
                return false;
            }
        }
        if let Some(io) = self.volume_io(volume) {
            // C counts it as received (recv_cnt), not as the peer's write
            io.count_received(want);
        }
        hold.release(true);
        true
    }

    /// Sends P_BARRIER `nr`, holding the data socket's lock.
    fn send_barrier_locked(&self, nr: u32) -> Result {
        let b = packet::Barrier { barrier: nr };
        self.send_locked(&self.data, packet::P_BARRIER, 0, |out| b.encode(out), false)
    }

    /// A write of ours is acknowledged: its hold goes, and its epoch is closed (as C closes it
    /// when the write completes to the upper layer). `false` for an ack of no write we sent.
    fn acked(&self, block_id: u64, sector: u64) -> bool {
        self.acked_as(block_id, sector, false)
    }

    /// [`Link::acked`]; `superseded`: by P_SUPERSEDED, the peer did not write it.
    fn acked_as(&self, block_id: u64, sector: u64, superseded: bool) -> bool {
        let mut tl = self.tl.lock();
        let Ok(epoch) = tl.epoch_of(block_id, sector) else {
            return false;
        };
        let taken = if superseded {
            tl.conflicted(block_id, sector, Conflict::Superseded)
        } else {
            tl.take(block_id, sector)
        };
        tl.close(epoch);
        drop(tl);
        self.barrier_due.store(true, Ordering::Release);
        self.wake.notify_all();
        if let Ok((volume, _, _, Some(h))) = taken {
            if self.two_primaries() {
                // before the peer's next data packet is looked at (see update_peer_seq())
                if let Some(io) = u16::try_from(volume).ok().and_then(|v| self.volume_io(v)) {
                    io.peer_acked(&h);
                }
            }
            h.release(true);
        }
        true
    }

    /// A write of ours the peer failed to write (P_NEG_ACK): its blocks are out of sync, and
    /// it is done as if acknowledged. `false` for no write we sent.
    fn neg_acked(&self, block_id: u64, sector: u64) -> bool {
        let Ok((volume, sector, size, hold)) = self.tl.lock().take(block_id, sector) else {
            return false;
        };
        let io = self
            .volumes
            .lock()
            .iter()
            .find(|(v, _)| u32::from(*v) == volume)
            .map(|(_, io)| io.clone());
        if let Some(io) = io {
            io.mark_out_of_sync(sector, u64::from(size >> 9));
        }
        if let Some(h) = hold {
            // acked() below finds the write again, without its hold
            h.release(false);
        }
        self.acked(block_id, sector)
    }

    /// P_RETRY_WRITE: the peer will write a write of ours again once its own conflicting
    /// write is done; it no longer counts in its epoch, and waits, postponed, on its device
    /// to be sent again as a new write. `false` for no write we sent.
    fn retry_write(&self, block_id: u64, sector: u64) -> bool {
        let mut tl = self.tl.lock();
        let Ok(epoch) = tl.epoch_of(block_id, sector) else {
            return false;
        };
        let taken = tl.conflicted(block_id, sector, Conflict::Retried);
        tl.close(epoch);
        drop(tl);
        self.barrier_due.store(true, Ordering::Release);
        self.wake.notify_all();
        if let Ok((volume, _, _, Some(hold))) = taken {
            match u16::try_from(volume).ok().and_then(|v| self.volume_io(v)) {
                Some(io) => io.postpone(hold),
                None => hold.release(false),
            }
        }
        true
    }

    /// maybe_pull_ahead(): whether a write of `volume`, in state `s` with `al_in_use` activity
    /// log extents in use, finds the link congested (see [`request::congestion`]).
    pub(crate) fn congestion(
        &self,
        volume: u16,
        s: &DevState,
        al_in_use: u32,
    ) -> Option<Congestion> {
        let conf = self.tunables.congestion();
        if conf.on == OnCongestion::Block {
            return None;
        }
        let tl = self.tl.lock();
        let total = tl.in_flight_total();
        // a volume has no more than all volumes: only near the threshold is it counted alone
        let in_flight = if conf.fill != 0 && total >= u64::from(conf.fill) {
            tl.in_flight_sectors(u32::from(volume))
        } else {
            total
        };
        drop(tl);
        request::congestion(&conf, self.agreed.version, s, in_flight, al_in_use)
    }

    /// `on-congestion` as configured now.
    pub(crate) fn on_congestion(&self) -> OnCongestion {
        self.tunables.congestion().on
    }

    /// drbd_send_out_of_sync(): a write of `volume` while Ahead, `size` bytes from `sector`,
    /// which the peer is told are out of sync (P_OUT_OF_SYNC) instead of getting them.
    pub(crate) fn send_out_of_sync(&self, volume: u16, sector: u64, size: u32) -> Result {
        let b = packet::BlockDesc {
            sector,
            blksize: size,
        };
        self.send_data(packet::P_OUT_OF_SYNC, volume, |out| b.encode(out))
    }

    /// got_BarrierAck() and start_resync_timer_fn(): the volumes Ahead of the peer whose
    /// writes have all been on the peer's disk for a second by `now`, and nothing of a resync
    /// pending: each begins a resync as SyncSource (its state is asked again then).
    pub(crate) fn ahead_done(&self, now: u64, hz: u64) -> KVec<u16> {
        let mut done = KVec::new();
        let ahead: KVec<u16> = {
            let volumes = self.volumes.lock();
            let mut v = KVec::new();
            for (volume, io) in volumes.iter() {
                if io.state().conn == ConnState::Ahead {
                    let _ = v.push(*volume, GFP_KERNEL);
                }
            }
            v
        };
        let mut quiet = KVec::new();
        for volume in ahead {
            let q = self.tl.lock().in_flight_sectors(u32::from(volume)) == 0
                && self.pending(volume) == 0;
            let _ = quiet.push((volume, q), GFP_KERNEL);
        }
        // the volumes Ahead and quiet since when, the others forgotten
        let mut starts = self.source_starts.lock();
        let idle = &mut starts.ahead_idle;
        let mut kept = KVec::new();
        for (volume, quiet) in quiet {
            if !quiet {
                continue;
            }
            let since = idle
                .iter()
                .find(|(v, _)| *v == volume)
                .map_or(now, |(_, t)| *t);
            let _ = if now.wrapping_sub(since) >= hz {
                done.push(volume, GFP_KERNEL)
            } else {
                kept.push((volume, since), GFP_KERNEL)
            };
        }
        *idle = kept;
        done
    }

    /// Replicates `volume`'s writes, from `io`, over this link.
    pub(crate) fn add_volume(&self, volume: u16, io: Arc<DevIo>) -> Result {
        self.volumes.lock().push((volume, io), GFP_KERNEL)?;
        Ok(())
    }

    /// An upper-layer flush: the current epoch ends, its barrier is sent.
    pub(crate) fn close_epoch(&self) {
        let mut tl = self.tl.lock();
        let current = tl.current_epoch();
        tl.close(current);
        drop(tl);
        self.barrier_due.store(true, Ordering::Release);
        self.wake.notify_all();
    }

    /// tl_clear(): the connection is gone; every write still in the log is handed to `f`
    /// (volume, sector, bytes) to be marked out of sync, and completes; the reads the peer did
    /// not answer fail.
    pub(crate) fn clear(&self, mut f: impl FnMut(u32, u64, u32)) {
        loop {
            let Some(h) = self.reads.lock().pop() else {
                break;
            };
            h.release(false);
        }
        let mut holds = KVec::new();
        let mut tl = self.tl.lock();
        tl.clear(|vol, sector, size, hold| {
            f(vol, sector, size);
            if let Some(h) = hold {
                // a hold that cannot be kept aside is released under the lock (TL → ldev)
                let _ = holds.push(h, GFP_ATOMIC);
            }
        });
        drop(tl);
        self.tl_wait.notify_all();
        for h in holds {
            h.release(false);
        }
    }

    // -----------------------------------------------------------------------------------------
    // The Secondary's side

    /// Waits until a new peer write of `size` bytes fits `max-buffers`, then counts it in
    /// flight. `false` once the connection broke.
    pub(crate) fn reserve_peer_write(&self, size: u32) -> bool {
        let mut acks = self.acks.lock();
        while acks.in_flight > 0
            && acks.in_flight_bytes + u64::from(size) > self.tunables.max_buffer_bytes()
            && !self.is_broken()
        {
            let _ = self.wake.wait_interruptible_timeout(&mut acks, ticks(100));
        }
        acks.in_flight += 1;
        acks.in_flight_bytes += u64::from(size);
        !self.is_broken()
    }

    /// receive_Barrier(): waits until every peer write so far completed and was acknowledged.
    /// `false` once the connection broke.
    pub(crate) fn drain_peer_writes(&self) -> bool {
        let mut acks = self.acks.lock();
        while acks.in_flight > 0 && !self.is_broken() {
            let _ = self.wake.wait_interruptible_timeout(&mut acks, ticks(100));
        }
        !self.is_broken()
    }

    /// After the connection broke and the sender stopped: waits for the peer writes and the
    /// resync reads still at the disk, and drops them unanswered.
    pub(crate) fn forget_peer_writes(&self) {
        loop {
            let mut acks = self.acks.lock();
            let done = acks.done.take();
            // counted off under the lock, dropped after it: a last reference to a device or
            // its backing disk must not go with interrupts off
            for w in done.iter() {
                acks.in_flight = acks.in_flight.saturating_sub(1);
                acks.in_flight_bytes = acks.in_flight_bytes.saturating_sub(u64::from(w.size));
            }
            let read = acks.read.take();
            // (a read counts itself off when it is dropped, below)
            let reads_done = read.iter().count();
            let idle = acks.in_flight == 0 && acks.reads as usize == reads_done;
            if !idle && done.is_empty() && read.is_empty() {
                let _ = self.wake.wait_interruptible_timeout(&mut acks, ticks(100));
            }
            drop(acks);
            drop(done);
            drop(read);
            if idle {
                return;
            }
        }
    }

    /// One round of the sender thread (src/resync/mod.rs runs it): acks for completed peer writes,
    /// barriers for closed epochs, resync requests. Waits up to 100 ms for work first.
    pub(crate) fn sender_step(&self) {
        let mut acks = self.acks.lock();
        if acks.done.is_empty() && acks.read.is_empty() && !self.barrier_due.load(Ordering::Acquire)
        {
            let _ = self.wake.wait_interruptible_timeout(&mut acks, ticks(100));
        }
        let mut done = acks.done.take();
        let read = acks.read.take();
        drop(acks);
        self.send_resync_replies(read);
        while !done.is_empty() {
            // up to ACK_BATCH acks in one message
            let mut batch = [(0, 0, packet::BlockAck::default()); ACK_BATCH];
            let mut n = 0;
            let mut acked = DoneList::new();
            while let Some(slot) = batch.get_mut(n) {
                let Some(io) = done.pop() else {
                    break;
                };
                if let Some(ack) = self.peer_write_ack(&io.ctx) {
                    *slot = ack;
                    n += 1;
                }
                acked.push(io);
            }
            let _ = self.send_acks(batch.get(..n).unwrap_or(&[]));
            let mut acked = acked.take();
            while let Some(mut io) = acked.pop() {
                // its claim goes after the ack, so the peer sees them in this order
                // (e_end_block()); then the writes of ours it held up may go
                if let Some(claim) = io.ctx.claim.take() {
                    let dev = claim.io.clone();
                    drop(claim);
                    let (sector, sectors) = (io.ctx.sector, u64::from(io.ctx.size >> 9));
                    DevIo::peer_write_done(&dev, sector, sectors, io.ctx.restart);
                }
                let mut acks = self.acks.lock();
                acks.in_flight = acks.in_flight.saturating_sub(1);
                acks.in_flight_bytes = acks.in_flight_bytes.saturating_sub(u64::from(io.ctx.size));
                drop(acks);
                self.wake.notify_all();
            }
        }
        if self.barrier_due.swap(false, Ordering::AcqRel) {
            let _g = self.data_lock.lock();
            let barrier = self.tl.lock().take_barrier(jiffies_now());
            if let Some(nr) = barrier {
                if self.send_barrier_locked(nr).is_err() {
                    self.fail();
                }
            }
        }
    }

    /// request_timer_fn() of each volume: its backing disk must answer within `disk-timeout`.
    pub(crate) fn check_disk_timeouts(&self) {
        let now = jiffies_now();
        for (_, io) in self.volumes.lock().iter() {
            io.check_disk_timeout(now);
        }
    }

    /// request_timer_fn(): the peer must acknowledge each write, and the barrier after it,
    /// within ko-count × timeout; else the connection is given up (C_TIMEOUT).
    pub(crate) fn check_timeout(&self) {
        let limit_ms = self.tunables.ko_limit_ms();
        if limit_ms == 0 {
            return;
        }
        let now = jiffies_now();
        let overdue = self.tl.lock().overdue(now, msecs_to_jiffies(limit_ms));
        let (what, age) = match overdue {
            None => return,
            Some(Overdue::Ack { age }) => ("finish a request", age),
            Some(Overdue::BarrierAck { age }) => ("answer a P_BARRIER", age),
        };
        pr_warn!(
            "{}: Remote failed to {} within {}ms > ko-count ({}) * timeout ({} * 0.1s)\n",
            self.name,
            what,
            age.saturating_mul(1000) / crate::sys::hz().max(1),
            self.tunables.ko().0,
            self.tunables.ko().1
        );
        self.fail();
    }

    /// e_end_block() / e_end_resync_block(): the ack (command, volume, ack) a written peer
    /// write is owed, if any.
    fn peer_write_ack(&self, w: &PeerWrite) -> Option<(u16, u16, packet::BlockAck)> {
        let ok = w.status == BLK_STS_OK;
        if !ok {
            // drbd_peer_request_endio()
            if ratelimit() {
                pr_warn!(
                    "{}/{}: {}: error={} s={}s\n",
                    self.name,
                    w.volume,
                    if w.discard { "discard" } else { "write" },
                    w.status,
                    w.sector
                );
            }
            if let Some(io) = self.volume_io(w.volume) {
                io.local_error(io_error::PEER_WRITE);
            }
        }
        let mut a = packet::BlockAck {
            sector: w.sector,
            block_id: w.block_id,
            blksize: w.size,
            seq_num: w.seq_num,
        };
        let cmd = match (&w.resync, ok) {
            (Some(lock), true) => {
                lock.io.set_in_sync(w.sector, u64::from(w.size >> 9));
                a.block_id = packet::ID_SYNCER;
                if self.agreed.version >= 96 {
                    packet::P_RS_WRITE_ACK
                } else {
                    packet::P_WRITE_ACK
                }
            }
            (Some(_), false) => {
                // the blocks stay out of sync; the resync must not wait for them
                if let Some(rs) = self
                    .resyncs
                    .lock()
                    .iter_mut()
                    .find(|r| r.volume == w.volume && r.target)
                {
                    rs.failed += u64::from(w.size >> 12).max(1);
                }
                a.block_id = packet::ID_SYNCER;
                packet::P_NEG_ACK
            }
            (None, true) if w.write_ack => packet::P_WRITE_ACK,
            (None, true) => return None,
            (None, false) => packet::P_NEG_ACK,
        };
        Some((cmd, w.volume, a))
    }

    /// Wakes the sender thread (a resync began).
    pub(crate) fn kick(&self) {
        self.wake.notify_all();
    }

    /// ping_peer(): a P_PING behind every ack sent so far on the meta socket, and the wait
    /// for its P_PING_ACK (at most ping-timeout): once it is back, the peer has processed
    /// those acks. The end of a resync is announced only then, as a SyncSource finishes when
    /// the target's state arrives and no bit is left.
    pub(crate) fn ping_peer(&self) {
        let before = self.ping_acks.load(Ordering::Acquire);
        if self.send_meta(packet::P_PING, 0, |_| Ok(0)).is_err() {
            return;
        }
        let deadline = jiffies_now() + msecs_to_jiffies(self.tunables.ping_timeo_ms());
        let mut acks = self.acks.lock();
        while self.ping_acks.load(Ordering::Acquire) == before
            && !self.is_broken()
            && jiffies_now() < deadline
        {
            let _ = self.wake.wait_interruptible_timeout(&mut acks, ticks(10));
        }
    }

    /// Whether no peer write is in flight or waiting for its ack.
    pub(crate) fn peer_writes_idle(&self) -> bool {
        self.acks.lock().in_flight == 0
    }

    // -----------------------------------------------------------------------------------------
    // State changes

    /// Sends a state change request (P_STATE_CHG_REQ, or P_CONN_ST_CHG_REQ for the connection)
    /// and waits for the peer's reply: its `drbd_state_rv`, or `None` without one.
    pub(crate) fn request_state(&self, volume: u16, req: StateReq, conn: bool) -> Option<i32> {
        self.awaiting_reply.store(true, Ordering::Release);
        let rv = self.request_state_wait(volume, req, conn);
        self.awaiting_reply.store(false, Ordering::Release);
        rv
    }

    /// Our graceful disconnect begins (see [`Link::answer_at_once`]).
    pub(crate) fn set_leaving(&self) {
        self.leaving.store(true, Ordering::Release);
    }

    /// receive_req_state()'s answers that cannot wait for the configuration lock, which a
    /// command of ours holds while it waits for the peer's reply to its own request: a peer
    /// that asks to disconnect while we do is agreed with; any other request is refused as
    /// concurrent by the side that resolves conflicts (C: SS_CONCURRENT_ST_CHG while the state
    /// mutex is held). `None`: the request is to be evaluated.
    pub(crate) fn answer_at_once(&self, mask: u32, val: u32) -> Option<StateRv> {
        // (before protocol 90 the connection's requests come as P_STATE_CHG_REQ too)
        let bye = StateReq::default().conn(crate::model::state::ConnState::Disconnecting);
        if self.leaving.load(Ordering::Acquire) && mask == bye.mask && val == bye.val {
            return Some(StateRv::Success);
        }
        (self.resolve_conflicts && self.awaiting_reply.load(Ordering::Acquire))
            .then_some(StateRv::ConcurrentStChg)
    }

    fn request_state_wait(&self, volume: u16, req: StateReq, conn: bool) -> Option<i32> {
        *self.reply.lock() = Reply::None;
        let cmd = if conn {
            packet::ReqState::conn_command(self.agreed.version)
        } else {
            packet::Command::StateChgReq
        };
        let r = packet::ReqState {
            mask: req.mask,
            val: req.val,
        };
        self.send_data(cmd.as_u16(), volume, |out| r.encode(out))
            .ok()?;
        let mut reply = self.reply.lock();
        // C waits without a limit; the ping timeout ends a dead connection sooner than this
        for _ in 0..100 {
            if let Reply::Got(rv) = *reply {
                return Some(rv);
            }
            if self.is_broken() {
                return None;
            }
            let _ = self
                .reply_wait
                .wait_interruptible_timeout(&mut reply, ticks(100));
        }
        None
    }

    // -----------------------------------------------------------------------------------------
    // The meta socket

    /// The ack receiver thread (drbd_ack_receiver()).
    pub(crate) fn ack_receiver(self: Arc<Self>) {
        let apv = self.agreed.version;
        let hlen = packet::header_size(apv);
        let mut ping_pending = false;
        let t = &self.tunables;
        // idle for ping-int: a ping; while it is pending, ping-timeout
        let idle = || {
            (
                jiffies(t.ping_int_ms()),
                jiffies(t.ping_timeo_ms().saturating_mul(4)),
            )
        };
        let pinging = || (jiffies(t.ping_timeo_ms()), jiffies(t.ping_timeo_ms()));
        let (r, w) = idle();
        self.meta.set_timeouts(r, w);
        let mut rb = RecvBuf::new();
        while !should_stop() && !self.is_broken() {
            let mut hdr = [0u8; packet::HEADER_MAX];
            let got = rb.recv_or_idle(&self.meta, &mut hdr[..hlen]);
            match got {
                Ok(Some(())) => {}
                Ok(None) if ping_pending => {
                    pr_err!("{}: PingAck did not arrive in time.\n", self.name);
                    break;
                }
                Ok(None) => {
                    if self.send_meta(packet::P_PING, 0, |_| Ok(0)).is_err() {
                        break;
                    }
                    ping_pending = true;
                    let (r, w) = pinging();
                    self.meta.set_timeouts(r, w);
                    continue;
                }
                Err(e) => {
                    if !should_stop() && !self.is_broken() && ratelimit() {
                        pr_err!(
                            "{}: meta connection shut down by peer ({:?})\n",
                            self.name,
                            e
                        );
                    }
                    break;
                }
            }
            if let Err(e) = self.got_packet(&mut rb, &hdr[..hlen], &mut ping_pending) {
                if ratelimit() {
                    pr_err!("{}: meta socket: {}\n", self.name, e);
                }
                break;
            }
            if !ping_pending {
                // the ping answered, or still idle: as configured now
                let (r, w) = idle();
                self.meta.set_timeouts(r, w);
            }
        }
        self.fail();
    }

    /// One packet on the meta socket, its header in `hdr`, its body next in `rb`.
    fn got_packet(
        &self,
        rb: &mut RecvBuf,
        hdr: &[u8],
        ping_pending: &mut bool,
    ) -> core::result::Result<(), Bad> {
        let apv = self.agreed.version;
        let h = packet::decode_header(apv, hdr).map_err(Bad::Wire)?;
        let cmd = h.known_command().map_err(Bad::Wire)?;
        if cmd.socket() == packet::SocketKind::Data {
            return Err(Bad::Unexpected(h.command));
        }
        let split = packet::check_payload_len(cmd, apv, self.agreed.features, h.length)
            .map_err(Bad::Wire)?;
        let mut payload = [0u8; 64];
        let body = payload
            .get_mut(..split.fixed + split.extra)
            .ok_or(Bad::Unexpected(h.command))?;
        rb.recv(&self.meta, body).map_err(|_| Bad::Io)?;
        self.meta_packet(&h, body, ping_pending)?;
        // after the ack is applied: a peer write sent after it finds our write acknowledged
        if cmd.is_block_ack() {
            if let Ok(a) = packet::BlockAck::decode(body) {
                self.update_peer_seq(h.volume, a.seq_num);
            }
        }
        Ok(())
    }

    /// Applies a packet of the meta socket, `h` with payload `body`.
    fn meta_packet(
        &self,
        h: &packet::Header,
        body: &[u8],
        ping_pending: &mut bool,
    ) -> core::result::Result<(), Bad> {
        match h.command {
            packet::P_PING => {
                self.send_meta(packet::P_PING_ACK, 0, |_| Ok(0))
                    .map_err(|_| Bad::Io)?;
            }
            packet::P_PING_ACK => {
                *ping_pending = false;
                self.ping_acks.fetch_add(1, Ordering::AcqRel);
                let _g = self.acks.lock();
                self.wake.notify_all();
            }
            packet::P_WRITE_ACK | packet::P_NEG_ACK
                if packet::BlockAck::decode(body)
                    .is_ok_and(|a| a.block_id == packet::ID_SYNCER) =>
            {
                // the resync acks of protocols before 96 (got_BlockAck(), got_NegAck())
                let a = packet::BlockAck::decode(body).map_err(Bad::Wire)?;
                self.resync_acked(h.volume, &a, h.command == packet::P_WRITE_ACK)?;
            }
            packet::P_RECV_ACK | packet::P_WRITE_ACK | packet::P_NEG_ACK => {
                let a = packet::BlockAck::decode(body).map_err(Bad::Wire)?;
                if h.command == packet::P_NEG_ACK && ratelimit() {
                    pr_warn!(
                        "{}/{}: the peer failed to write sector {}+{}\n",
                        self.name,
                        h.volume,
                        a.sector,
                        a.blksize >> 9
                    );
                }
                let known = match request::on_event(self.protocol(), Some(h.command)) {
                    // a P_RECV_ACK before the P_WRITE_ACK of protocol C
                    Effect::Nothing => true,
                    Effect::Done => self.acked(a.block_id, a.sector),
                    Effect::DoneOutOfSync => self.neg_acked(a.block_id, a.sector),
                };
                if !known {
                    return Err(Bad::Block(a.block_id, a.sector));
                }
            }
            // two Primaries: the peer did not write ours, covered by its own write in flight
            // (CONFLICT_RESOLVED: done), or wants it again after its own (POSTPONE_WRITE)
            packet::P_SUPERSEDED => {
                let a = packet::BlockAck::decode(body).map_err(Bad::Wire)?;
                if !self.acked_as(a.block_id, a.sector, true) {
                    return Err(Bad::Block(a.block_id, a.sector));
                }
            }
            packet::P_RETRY_WRITE => {
                let a = packet::BlockAck::decode(body).map_err(Bad::Wire)?;
                if !self.retry_write(a.block_id, a.sector) {
                    return Err(Bad::Block(a.block_id, a.sector));
                }
            }
            // got_BlockAck(): a P_RS_WRITE_ACK of an application write acknowledges it (and
            // its blocks are in sync, which they are)
            packet::P_RS_WRITE_ACK
                if packet::BlockAck::decode(body)
                    .is_ok_and(|a| a.block_id != packet::ID_SYNCER) =>
            {
                let a = packet::BlockAck::decode(body).map_err(Bad::Wire)?;
                if !self.acked(a.block_id, a.sector) {
                    return Err(Bad::Block(a.block_id, a.sector));
                }
            }
            packet::P_RS_WRITE_ACK | packet::P_NEG_RS_DREPLY => {
                let a = packet::BlockAck::decode(body).map_err(Bad::Wire)?;
                self.resync_acked(h.volume, &a, h.command == packet::P_RS_WRITE_ACK)?;
            }
            packet::P_NEG_DREPLY => {
                let a = packet::BlockAck::decode(body).map_err(Bad::Wire)?;
                pr_err!(
                    "{}/{}: Got NegDReply; Sector {}s, len {}.\n",
                    self.name,
                    h.volume,
                    a.sector,
                    a.blksize
                );
                let (_, hold) = self
                    .reads
                    .lock()
                    .take(u32::from(h.volume), a.block_id, a.sector)
                    .map_err(Bad::Tl)?;
                hold.release(false);
            }
            packet::P_OV_RESULT => {
                let a = packet::BlockAck::decode(body).map_err(Bad::Wire)?;
                self.verify_result(h.volume, &a)?;
            }
            packet::P_RS_IS_IN_SYNC => {
                let a = packet::BlockAck::decode(body).map_err(Bad::Wire)?;
                self.resync_in_sync(h.volume, &a)?;
            }
            packet::P_BARRIER_ACK => {
                let b = packet::BarrierAck::decode(body).map_err(Bad::Wire)?;
                let mut holds = KVec::new();
                let mut tl = self.tl.lock();
                let r = tl.barrier_acked(b.barrier, b.set_size, |h| {
                    let _ = holds.push(h, GFP_ATOMIC);
                });
                drop(tl);
                self.tl_wait.notify_all();
                // the peer has the whole epoch
                for h in holds {
                    h.release(true);
                }
                r.map_err(Bad::Tl)?;
            }
            packet::P_STATE_CHG_REPLY | packet::P_CONN_ST_CHG_REPLY => {
                let r = packet::ReqStateReply::decode(body).map_err(Bad::Wire)?;
                *self.reply.lock() = Reply::Got(r.retcode);
                self.reply_wait.notify_all();
            }
            _ => return Err(Bad::Unexpected(h.command)),
        }
        Ok(())
    }

    /// The SyncTarget wrote a resync reply (`written`), or could not have it: the SyncSource
    /// failed to read it, or the target to write it.
    fn resync_acked(
        &self,
        volume: u16,
        a: &packet::BlockAck,
        written: bool,
    ) -> core::result::Result<(), Bad> {
        let mut resyncs = self.resyncs.lock();
        let Some(rs) = resyncs.iter_mut().find(|r| r.volume == volume) else {
            // late: the resync ended with the target's report, which the receiver read first
            return Ok(());
        };
        let end = a.sector.checked_add(u64::from(a.blksize >> 9));
        if end.map_or(true, |e| e > rs.capacity) {
            return Err(Bad::Block(a.block_id, a.sector));
        }
        if written {
            // drbd_set_in_sync() of the SyncSource
            rs.io.set_in_sync(a.sector, u64::from(a.blksize >> 9));
        } else {
            // the blocks stay out of sync
            rs.failed += u64::from(a.blksize >> 12).max(1);
            drop(rs.pending.take(a.sector, a.blksize));
            self.wake.notify_all();
        }
        Ok(())
    }
}

impl Link {
    /// got_IsInSync(): the SyncSource found the block of a checksum-based request equal to
    /// ours: it is in sync, and counted among those the checksums spared.
    fn resync_in_sync(&self, volume: u16, a: &packet::BlockAck) -> core::result::Result<(), Bad> {
        let mut resyncs = self.resyncs.lock();
        let Some(rs) = resyncs.iter_mut().find(|r| r.volume == volume && r.target) else {
            return Err(Bad::Block(a.block_id, a.sector));
        };
        if rs.pending.take(a.sector, a.blksize).is_none() {
            return Err(Bad::Block(a.block_id, a.sector));
        }
        rs.io.set_in_sync(a.sector, u64::from(a.blksize >> 9));
        rs.csums = true;
        rs.same_csum += u64::from(a.blksize).div_ceil(4096);
        rs.sect_in = rs.sect_in.saturating_add(a.blksize >> 9);
        drop(resyncs);
        self.wake.notify_all();
        Ok(())
    }
}

/// An online verify of one of our volumes: we run it (C_VERIFY_S) or the peer does (C_VERIFY_T).
pub(crate) struct Verify {
    pub(crate) volume: u16,
    io: Arc<DevIo>,
    /// When it began (jiffies).
    pub(crate) started: u64,
    pub(crate) run: verify::Verify,
    /// We are the source: we ask for the peer's digests.
    pub(crate) source: bool,
    /// The last result is in (or the stop sector reached).
    done: bool,
    /// Source: the device size (sectors), the pace it asks at, requests not answered yet.
    capacity: u64,
    pace: Pace,
    in_flight: usize,
}

/// How fast requests go out (a SyncTarget's, a verify source's): `rate_kib` KiB/s, in 100 ms
/// ticks of at least 4 KiB each.
struct Pace {
    rate_kib: u32,
    /// Bytes asked for in the current tick, and when it began (jiffies).
    tick_bytes: u64,
    tick_start: u64,
}

impl Pace {
    fn new(rate_kib: u32, now: u64) -> Self {
        Self {
            rate_kib: rate_kib.max(1),
            tick_bytes: 0,
            tick_start: now,
        }
    }

    /// Begins a new tick once 100 ms passed.
    fn tick(&mut self, now: u64, hz: u64) {
        if now.wrapping_sub(self.tick_start) >= hz / 10 {
            self.tick_start = now;
            self.tick_bytes = 0;
        }
    }

    /// Whether this tick still has room for a request.
    fn room(&self) -> bool {
        self.tick_bytes < ((u64::from(self.rate_kib) << 10) / 10).max(4096)
    }

    fn spend(&mut self, bytes: u32) {
        self.tick_bytes += u64::from(bytes);
    }
}

/// Verify requests in flight at most (1 MiB).
const OV_IN_FLIGHT_MAX: usize = 256;

/// Where the online verify we run goes: from `start` to `stop` (sectors) on a device of
/// `capacity` sectors, asking for `rate_kib` KiB/s.
#[derive(Clone, Copy)]
pub(crate) struct VerifySource {
    pub(crate) start: u64,
    pub(crate) stop: u64,
    pub(crate) capacity: u64,
    pub(crate) rate_kib: u32,
}

impl Link {
    /// The volume entered VerifyT (`source` None: the peer's requests follow) or VerifyS;
    /// where it starts (sectors; 0 for a target until the first request tells).
    pub(crate) fn begin_verify(
        &self,
        volume: u16,
        io: Arc<DevIo>,
        source: Option<VerifySource>,
    ) -> Result<u64> {
        let now = crate::sys::jiffies();
        let (bits, apv) = (io.bitmap_bits(), self.agreed.version);
        let run = match source {
            Some(f) => verify::Verify::source(bits, f.start, f.stop, apv),
            None => verify::Verify::target(bits, apv),
        };
        let v = Verify {
            volume,
            capacity: source.map_or(0, |f| f.capacity),
            io,
            started: now,
            run,
            source: source.is_some(),
            done: false,
            pace: Pace::new(source.map_or(0, |f| f.rate_kib), now),
            in_flight: 0,
        };
        let start = v.run.start.unwrap_or(0);
        let mut verifies = self.verifies.lock();
        match verifies.iter_mut().find(|old| old.volume == volume) {
            Some(old) => *old = v,
            None => verifies.push(v, GFP_KERNEL)?,
        }
        drop(verifies);
        self.kick();
        Ok(start)
    }

    /// The finished verify of `volume`, taken off the link.
    pub(crate) fn end_verify(&self, volume: u16) -> Option<Verify> {
        let mut verifies = self.verifies.lock();
        let i = verifies.iter().position(|v| v.volume == volume)?;
        crate::device::take_at(&mut verifies, i).ok().flatten()
    }

    /// The volumes whose verify is done.
    pub(crate) fn verifies_done(&self) -> KVec<u16> {
        let mut done = KVec::new();
        for v in self.verifies.lock().iter().filter(|v| v.done) {
            let _ = done.push(v.volume, GFP_KERNEL);
        }
        done
    }

    /// The progress of the verify of `volume`: the blocks it covers, those left, when it began
    /// (jiffies) and the rate the source asks at (KiB/s).
    pub(crate) fn verify_progress(&self, volume: u16) -> Option<(u64, u64, u64, u32)> {
        let verifies = self.verifies.lock();
        let v = verifies.iter().find(|v| v.volume == volume)?;
        Some((v.run.total, v.run.left, v.started, v.pace.rate_kib))
    }

    /// make_ov_request(): the source's P_OV_REQUESTs, paced by the resync rate, at most
    /// [`OV_IN_FLIGHT_MAX`] unanswered.
    pub(crate) fn request_verify(&self, now: u64, hz: u64) {
        let mut requests = KVec::new();
        let mut verifies = self.verifies.lock();
        for v in verifies.iter_mut().filter(|v| v.source && !v.done) {
            v.pace.tick(now, hz);
            while v.in_flight < OV_IN_FLIGHT_MAX && v.pace.room() {
                let Some((sector, blksize)) = v.run.next_request(v.capacity) else {
                    break;
                };
                if requests
                    .push((v.volume, sector, blksize), GFP_KERNEL)
                    .is_err()
                {
                    break;
                }
                v.in_flight += 1;
                v.pace.spend(blksize);
            }
        }
        // sent without `verifies`, which the ack receiver takes (see request_resync())
        drop(verifies);
        self.send_block_requests(packet::P_OV_REQUEST, requests);
    }

    /// Sends resync or verify requests (`cmd`) for (volume, sector, bytes), until one fails.
    fn send_block_requests(&self, cmd: u16, requests: KVec<(u16, u64, u32)>) {
        for (volume, sector, blksize) in requests {
            let r = packet::BlockReq {
                sector,
                block_id: packet::ID_SYNCER,
                blksize,
            };
            if self.send_data(cmd, volume, |out| r.encode(out)).is_err() {
                break;
            }
        }
    }

    /// w_e_end_ov_reply(): the source compares the peer's digest of a block (`theirs`) with
    /// its own by `verify-alg` (a block we cannot read is out of sync), marks and logs what
    /// differs, and tells the peer (P_OV_RESULT). `Err`: no verify asked for this block.
    pub(crate) fn verify_reply(
        &self,
        volume: u16,
        r: &packet::BlockReq,
        alg: &[u8],
        theirs: &[u8],
    ) -> Result {
        let sectors = u64::from(r.blksize >> 9);
        let io = {
            let verifies = self.verifies.lock();
            let v = verifies
                .iter()
                .find(|v| v.volume == volume && v.source && v.in_flight > 0)
                .ok_or(EINVAL)?;
            v.io.clone()
        };
        let bdev = io.peer_target(r.sector, sectors).map_err(|_| EINVAL)?;
        let mut ours = [0u8; crypto::MAX_DIGEST];
        let mut buf = crate::sys::pio::PeerBuf::new(r.blksize as usize)?;
        let n = match buf.read_from(&bdev, r.sector) {
            Ok(()) => {
                io.count_peer_read(r.blksize, true);
                buf.digest(alg, &mut ours).unwrap_or(0)
            }
            Err(_) => {
                io.local_error(io_error::PEER_READ);
                0
            }
        };
        let in_sync = n > 0 && ours.get(..n) == Some(theirs);
        if !in_sync {
            io.mark_out_of_sync(r.sector, sectors);
        }
        let mut verifies = self.verifies.lock();
        if let Some(v) = verifies.iter_mut().find(|v| v.volume == volume && v.source) {
            v.in_flight = v.in_flight.saturating_sub(1);
            self.verify_outcome(v, r.sector, sectors, in_sync);
        }
        drop(verifies);
        let a = packet::BlockAck {
            sector: r.sector,
            block_id: if in_sync {
                packet::ID_IN_SYNC
            } else {
                packet::ID_OUT_OF_SYNC
            },
            blksize: r.blksize,
            seq_num: 0,
        };
        self.send_ack(packet::P_OV_RESULT, volume, a)
    }

    /// ov_out_of_sync_print(): a run of blocks an online verify found out of sync.
    pub(crate) fn log_out_of_sync(&self, volume: u16, start: u64, size: u64) {
        pr_err!(
            "{}/{}: Out of sync: start={}, size={} (sectors)\n",
            self.name,
            volume,
            start,
            size
        );
    }

    /// One block's result on either side: the run of blocks out of sync logged as C logs it,
    /// and the end noted.
    fn verify_outcome(&self, v: &mut Verify, sector: u64, sectors: u64, in_sync: bool) {
        let out = v.run.result(sector, sectors, in_sync);
        if let Some((start, size)) = out.print {
            self.log_out_of_sync(v.volume, start, size);
        }
        if out.done {
            v.done = true;
            self.wake.notify_all();
        }
    }

    /// receive_DataRequest() for P_OV_REQUEST, and w_e_end_ov_req(): the digest of our block
    /// with `verify-alg` in P_OV_REPLY (zeros if it cannot be read), on the data socket.
    pub(crate) fn send_verify_reply(
        &self,
        volume: u16,
        io: &DevIo,
        r: &packet::BlockReq,
        alg: &[u8],
    ) -> Result {
        if let Some(v) = self.verifies.lock().iter_mut().find(|v| v.volume == volume) {
            if let Some(start) = v.run.request(r.sector) {
                pr_info!(
                    "{}/{}: Online Verify start sector: {}\n",
                    self.name,
                    volume,
                    start
                );
            }
        }
        let Some(bdev) = io.backing() else {
            let a = packet::BlockAck {
                sector: r.sector,
                block_id: r.block_id,
                blksize: r.blksize,
                seq_num: 0,
            };
            return self.send_ack(packet::P_NEG_RS_DREPLY, volume, a);
        };
        let mut buf = crate::sys::pio::PeerBuf::new(r.blksize as usize)?;
        let mut digest = [0u8; crypto::MAX_DIGEST];
        let n = match buf.read_from(&bdev, r.sector) {
            Ok(()) => {
                io.count_peer_read(r.blksize, true);
                buf.digest(alg, &mut digest)?
            }
            Err(_) => {
                io.local_error(io_error::PEER_READ);
                crypto::digest_size(alg)?
            }
        };
        let reply = packet::BlockReq {
            sector: r.sector,
            block_id: packet::ID_SYNCER,
            blksize: r.blksize,
        };
        let digest = digest.get(..n).ok_or(EINVAL)?;
        self.send_data(packet::P_OV_REPLY, volume, |out| {
            reply.encode_with_digest(digest, out)
        })
    }

    /// got_OVResult(): the source's verdict on one block; one out of sync is marked so and
    /// logged in runs as C logs them.
    fn verify_result(&self, volume: u16, a: &packet::BlockAck) -> core::result::Result<(), Bad> {
        let mut verifies = self.verifies.lock();
        let Some(v) = verifies.iter_mut().find(|v| v.volume == volume) else {
            return Ok(());
        };
        let sectors = u64::from(a.blksize >> 9);
        let in_sync = a.block_id != packet::ID_OUT_OF_SYNC;
        if !in_sync {
            if v.io.peer_target(a.sector, sectors).is_err() {
                return Err(Bad::Block(a.block_id, a.sector));
            }
            v.io.mark_out_of_sync(a.sector, sectors);
        }
        self.verify_outcome(v, a.sector, sectors, in_sync);
        Ok(())
    }
}

/// Why the ack receiver gave up.
enum Bad {
    Wire(packet::WireError),
    Tl(crate::wire::tl::TlError),
    Block(u64, u64),
    Unexpected(u16),
    Io,
}

impl core::fmt::Display for Bad {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Bad::Wire(e) => write!(f, "{}", e),
            Bad::Tl(e) => write!(f, "{}", e),
            Bad::Block(id, sector) => write!(
                f,
                "ack for no request of ours (block_id {:#x}, sector {})",
                id, sector
            ),
            Bad::Unexpected(cmd) => write!(f, "unexpected packet {:#x}", cmd),
            Bad::Io => write!(f, "send or receive failed"),
        }
    }
}

/// A volume's resync (C: the rs_* fields of `struct drbd_device` and make_resync_request()).
pub(crate) struct Resync {
    pub(crate) volume: u16,
    pub(crate) io: Arc<DevIo>,
    /// SyncTarget (requests blocks) or SyncSource (serves them).
    pub(crate) target: bool,
    /// The device size in sectors.
    pub(crate) capacity: u64,
    /// The peer's UUIDs from the handshake (the target takes them over at the end).
    pub(crate) peer_uuids: [u64; 4],
    /// Bits out of sync when it began (`rs_total`), and when (jiffies).
    pub(crate) total: u64,
    pub(crate) started: u64,
    /// Paused (PausedSyncS/T) since when (jiffies), and for how long before (`rs_paused`).
    paused_since: Option<u64>,
    pub(crate) paused: u64,
    /// Blocks the source could not read.
    pub(crate) failed: u64,
    /// Checksum-based (`use_csums`: the target asks with checksums); bits found equal that
    /// way (`rs_same_csum`).
    pub(crate) csums: bool,
    pub(crate) same_csum: u64,
    /// Target: where the next request's search starts (`bm_resync_fo`).
    next_bit: u64,
    /// Target: requests sent and not answered yet.
    pending: Pending,
    /// Target: the disk options that pace it, the controller, the step that began last
    /// (jiffies), what it may still ask for in it (bytes), the sectors answered since, and
    /// the rate the controller wants (KiB/s, /proc's "want:", C: `c_sync_rate`).
    conf: RateConf,
    controller: Controller<KVec<i32>>,
    step_start: Option<u64>,
    budget: u64,
    sect_in: u32,
    want_kib: u32,
    /// Target: the application I/O it competes with (C: `rs_last_events`).
    app: AppIo,
    /// Both sides: the rolling marks of its progress, for the speed in /proc.
    pub(crate) marks: Marks,
}

/// Resync requests in flight at most.
pub(crate) const RS_PENDING_MAX: usize = 64;
/// What the SyncTarget's controller wants in flight at least (sectors; 4 MiB), whatever
/// c-fill-target says (C's default is 50 KiB): the next requests are on their way while the
/// SyncSource serves one, and its replies while it reads. max-buffers still limits it.
const RS_FILL_MIN: u32 = 8192;

/// The SyncTarget's requests in flight: (sector, bytes), and the lock on their blocks that
/// goes with the answer's write; on the heap (the slots are large).
struct Pending {
    reqs: KVec<Option<(u64, u32, Claim)>>,
    n: usize,
}

impl Pending {
    fn new() -> Result<Self> {
        let mut reqs = KVec::with_capacity(RS_PENDING_MAX, GFP_KERNEL)?;
        for _ in 0..RS_PENDING_MAX {
            reqs.push(None, GFP_KERNEL)?;
        }
        Ok(Self { reqs, n: 0 })
    }

    /// Forgets every request: the writes under them may go.
    fn clear(&mut self) {
        for r in self.reqs.iter_mut() {
            *r = None;
        }
        self.n = 0;
    }

    fn is_full(&self) -> bool {
        self.n == RS_PENDING_MAX
    }

    fn is_empty(&self) -> bool {
        self.n == 0
    }

    fn bytes(&self) -> u64 {
        self.reqs.iter().flatten().map(|r| u64::from(r.1)).sum()
    }

    /// Adds a request (the caller checked there is room).
    fn add(&mut self, sector: u64, bytes: u32, lock: Claim) {
        if let Some(free) = self.reqs.iter_mut().find(|r| r.is_none()) {
            *free = Some((sector, bytes, lock));
            self.n += 1;
        }
    }

    /// Removes the request: the lock on its blocks, `None` if there is no such request.
    fn take(&mut self, sector: u64, bytes: u32) -> Option<Claim> {
        let entry = self
            .reqs
            .iter_mut()
            .find(|r| matches!(r, Some((s, b, _)) if (*s, *b) == (sector, bytes)))?;
        let (_, _, lock) = entry.take()?;
        self.n -= 1;
        Some(lock)
    }
}

impl Resync {
    /// The rate the SyncTarget requests at, KiB/s.
    pub(crate) fn rate_kib(&self) -> u32 {
        self.want_kib
    }

    /// A resync of `volume` beginning now, paced by `conf`; boxed, as it is large.
    pub(crate) fn new(
        volume: u16,
        io: Arc<DevIo>,
        target: bool,
        capacity: u64,
        peer_uuids: [u64; 4],
        conf: RateConf,
        now: u64,
    ) -> Result<KBox<Self>> {
        let total = io.bits_set();
        let app_sectors = io.app_sectors();
        let plan = KVec::from_elem(0, controller::PLAN_MAX, GFP_KERNEL)?;
        let rs = KBox::new(
            Self {
                volume,
                io,
                target,
                capacity,
                peer_uuids,
                total,
                started: now,
                paused_since: None,
                paused: 0,
                failed: 0,
                csums: false,
                same_csum: 0,
                next_bit: 0,
                pending: Pending::new()?,
                conf,
                controller: Controller::new(plan),
                step_start: None,
                budget: 0,
                sect_in: 0,
                want_kib: conf.resync_rate,
                app: AppIo::new(app_sectors),
                marks: Marks::new(total, now),
            },
            GFP_KERNEL,
        )?;
        Ok(rs)
    }

    /// A new step every 100 ms: what the controller lets it ask for until the next
    /// (drbd_rs_number_requests()), at least one block while nothing is in flight.
    fn step(&mut self, now: u64, hz: u64, max_buffers: u32) {
        let step = (hz / u64::from(controller::STEPS_PER_SEC)).max(1);
        if self.step_start.is_some_and(|t| now.wrapping_sub(t) < step) {
            return;
        }
        self.step_start = Some(now);
        let in_flight = u32::try_from(self.pending.bytes() >> 9).unwrap_or(u32::MAX);
        let mut conf = self.conf;
        if conf.plan_ahead != 0 {
            conf.fill_target = conf.fill_target.max(RS_FILL_MIN);
        }
        let sect_in = core::mem::take(&mut self.sect_in);
        let (sect, want) = self.controller.step(&conf, sect_in, in_flight);
        self.want_kib = want;
        let mut blocks = controller::requests(sect, in_flight, max_buffers);
        if blocks == 0 && in_flight == 0 {
            blocks = 1;
        }
        self.budget = u64::from(blocks) * 4096;
        // c-min-rate: a resync faster than it steps aside for application I/O
        let left = self.io.bits_set().wrapping_sub(self.failed);
        let app = self.app.active(self.io.app_sectors(), now, hz);
        if controller::throttle(self.conf.min_rate, app, self.marks.recent(left, now, hz)) {
            self.budget = 0;
        }
    }
}

impl Link {
    /// make_resync_request(): the SyncTarget's requests for the blocks still out of sync, as
    /// the rate and the in-flight limit allow. Returns the volumes whose resync is complete.
    pub(crate) fn request_resync(&self, now: u64, hz: u64) -> KVec<u16> {
        let mut finished = KVec::new();
        let mut requests = KVec::new();
        let max_buffers = u32::try_from(self.tunables.max_buffer_bytes() / 4096).unwrap_or(0);
        let csums = self.csums_resync();
        let mut resyncs = self.resyncs.lock();
        for rs in resyncs.iter_mut() {
            let left = rs.io.bits_set().wrapping_sub(rs.failed);
            rs.marks.advance(left, now, hz);
        }
        for rs in resyncs
            .iter_mut()
            .filter(|r| r.target && r.paused_since.is_none())
        {
            rs.step(now, hz, max_buffers);
            rs.csums = csums;
            loop {
                if rs.pending.is_full() || rs.budget < 4096 {
                    break;
                }
                let max = packet::DRBD_MAX_BIO_SIZE
                    .min(packet::max_bio_size_for_protocol(self.agreed.version))
                    .min(u32::try_from(rs.budget).unwrap_or(u32::MAX));
                let Some((sector, bytes)) = rs.io.resync_request(rs.next_bit, max) else {
                    if rs.pending.is_empty() && self.peer_writes_idle() {
                        if rs.io.bits_set() <= rs.failed {
                            let _ = finished.push(rs.volume, GFP_KERNEL);
                        } else {
                            // blocks that failed or came back: once more from the start,
                            // counting the failures of this pass only
                            rs.next_bit = 0;
                            rs.failed = 0;
                        }
                    }
                    break;
                };
                // a write in flight under these blocks goes first: the request waits
                let Some(lock) = DevIo::resync_lock(&rs.io, sector, u64::from(bytes >> 9)) else {
                    break;
                };
                if requests
                    .push((rs.volume, sector, bytes), GFP_KERNEL)
                    .is_err()
                {
                    break;
                }
                rs.next_bit = (sector + u64::from(bytes >> 9)).div_ceil(8);
                rs.pending.add(sector, bytes, lock);
                rs.budget = rs.budget.saturating_sub(u64::from(bytes));
            }
        }
        // sent without `resyncs`: a writer waiting for room in the transfer log holds the data
        // socket, and the acks it waits for may need `resyncs`
        drop(resyncs);
        if csums {
            self.send_csum_requests(requests);
        } else {
            self.send_block_requests(packet::P_RS_DATA_REQUEST, requests);
        }
        finished
    }

    /// use_checksum_based_resync(): from protocol 89 on with a `csums-alg`, the SyncTarget
    /// asks with the digest of its own blocks, and the source sends only those that differ.
    /// (`csums-after-crash-only` is not looked at: checksums are always used.)
    fn csums_resync(&self) -> bool {
        self.agreed.version >= 89 && !self.csums_alg.is_empty()
    }

    /// read_for_csum() and w_e_send_csum(): P_CSUM_RS_REQUEST with the digest of our blocks; a
    /// block we cannot read is asked for whole (P_RS_DATA_REQUEST). Read here, one after the
    /// other, in the sender thread (C reads them asynchronously).
    fn send_csum_requests(&self, requests: KVec<(u16, u64, u32)>) {
        for (volume, sector, blksize) in requests {
            let r = packet::BlockReq {
                sector,
                block_id: packet::ID_SYNCER,
                blksize,
            };
            let mut digest = [0u8; crypto::MAX_DIGEST];
            let n = self.volume_io(volume).and_then(|io| {
                let bdev = io.backing()?;
                let mut buf = crate::sys::pio::PeerBuf::new(blksize as usize).ok()?;
                buf.read_from(&bdev, sector).ok()?;
                io.count_peer_read(blksize, true);
                buf.digest(&self.csums_alg, &mut digest).ok()
            });
            let sent = match n.and_then(|n| digest.get(..n)) {
                Some(d) => self.send_data(packet::P_CSUM_RS_REQUEST, volume, |out| {
                    r.encode_with_digest(d, out)
                }),
                None => self.send_data(packet::P_RS_DATA_REQUEST, volume, |out| r.encode(out)),
            };
            if sent.is_err() {
                break;
            }
        }
    }

    /// The data path of `volume` on this link.
    fn volume_io(&self, volume: u16) -> Option<Arc<DevIo>> {
        self.volumes
            .lock()
            .iter()
            .find(|(v, _)| *v == volume)
            .map(|(_, io)| io.clone())
    }

    /// The resync of `volume` pauses or goes on (PausedSyncS/T): a paused SyncTarget sends no
    /// request; the time paused is counted apart.
    pub(crate) fn pause_resync(&self, volume: u16, on: bool) {
        let now = jiffies_now();
        let mut resyncs = self.resyncs.lock();
        let Some(rs) = resyncs.iter_mut().find(|r| r.volume == volume) else {
            return;
        };
        match (on, rs.paused_since) {
            (true, None) => rs.paused_since = Some(now),
            (false, Some(since)) => {
                rs.paused += now.wrapping_sub(since);
                rs.paused_since = None;
                // the speed is measured afresh, the controller starts again
                rs.marks = Marks::new(rs.io.bits_set().wrapping_sub(rs.failed), now);
                rs.controller.reset();
                self.wake.notify_all();
            }
            _ => {}
        }
    }

    /// The SyncTarget received the answer to a request: `false` if it asked for no such block.
    pub(crate) fn resync_answered(&self, volume: u16, sector: u64, bytes: u32) -> Option<Claim> {
        let mut resyncs = self.resyncs.lock();
        let rs = resyncs
            .iter_mut()
            .find(|r| r.volume == volume && r.target)?;
        let lock = rs.pending.take(sector, bytes)?;
        rs.sect_in = rs.sect_in.saturating_add(bytes >> 9);
        self.wake.notify_all();
        Some(lock)
    }

    /// After the connection broke: no answer comes for the resync requests in flight, and the
    /// writes under them may go.
    pub(crate) fn forget_resync_requests(&self) {
        for rs in self.resyncs.lock().iter_mut() {
            rs.pending.clear();
        }
    }

    /// Requests of `volume` the peer still owes an answer: writes not acknowledged, reads not
    /// answered, and a SyncTarget's resync requests not answered (C: `ap_pending_cnt` +
    /// `rs_pending_cnt`, /proc's pe).
    pub(crate) fn pending(&self, volume: u16) -> u32 {
        let writes = self.tl.lock().unacked(u32::from(volume));
        let reads = self.reads.lock().in_flight(u32::from(volume));
        let resync = self
            .resyncs
            .lock()
            .iter()
            .find(|r| r.volume == volume && r.target)
            .map_or(0, |r| r.pending.n);
        u32::try_from(writes + reads + resync).unwrap_or(u32::MAX)
    }

    /// drbd_send_sync_param(): tells the peer the resync settings of `volume` (`resync`: see
    /// [`crate::net::VolInfo::resync`]), which it takes over.
    pub(crate) fn send_sync_param(&self, volume: u16, resync: [u32; 5]) -> Result {
        let apv = self.agreed.version;
        let [resync_rate, c_plan_ahead, c_delay_target, c_fill_target, c_max_rate] = resync;
        let sp = packet::SyncParam {
            resync_rate,
            verify_alg: &self.verify_alg,
            csums_alg: &self.csums_alg,
            c_plan_ahead,
            c_delay_target,
            c_fill_target,
            c_max_rate,
        };
        let cmd = packet::SyncParam::command(apv).as_u16();
        self.send_data(cmd, volume, |out| sp.encode(apv, out))
    }

    /// New disk options reach a running resync of `volume` (drbd_adm_disk_opts()).
    pub(crate) fn set_rate_conf(&self, volume: u16, conf: RateConf) {
        if let Some(rs) = self.resyncs.lock().iter_mut().find(|r| r.volume == volume) {
            rs.conf = conf;
        }
        self.wake.notify_all();
    }

    /// The sender thread is to begin a full sync of `volume` as SyncSource.
    pub(crate) fn queue_source_start(&self, volume: u16) {
        if self
            .source_starts
            .lock()
            .full
            .push(volume, GFP_KERNEL)
            .is_ok()
        {
            self.wake.notify_all();
        }
    }

    /// The full syncs to begin as SyncSource (see [`Link::queue_source_start`]).
    pub(crate) fn take_source_starts(&self) -> KVec<u16> {
        core::mem::take(&mut self.source_starts.lock().full)
    }

    /// Whether this node is SyncSource of `volume`.
    pub(crate) fn is_sync_source(&self, volume: u16) -> bool {
        self.resyncs
            .lock()
            .iter()
            .any(|r| r.volume == volume && !r.target)
    }

    /// Whether this node is SyncTarget of any volume (peer writes are then applied in order).
    pub(crate) fn resync_target(&self) -> bool {
        self.resyncs.lock().iter().any(|r| r.target)
    }

    /// receive_DataRequest() for P_RS_DATA_REQUEST, P_RS_THIN_REQ and P_CSUM_RS_REQUEST
    /// (`csum`: the target's digest of its block, by `csums-alg`): locks the blocks (see
    /// [`DevIo::resync_read_lock`]) and submits their read; the sender thread answers once it
    /// is done (see [`Link::send_resync_replies`]). At most [`RS_PENDING_MAX`] reads, and
    /// `max-buffers` of their data, at once: the receiver waits for room first. `Err` when the
    /// connection cannot go on.
    pub(crate) fn read_for_resync(
        self: &Arc<Self>,
        volume: u16,
        io: &Arc<DevIo>,
        r: &packet::BlockReq,
        csum: Option<&[u8]>,
    ) -> Result {
        let bytes = u64::from(r.blksize);
        let mut acks = self.acks.lock();
        while acks.reads > 0
            && (acks.reads as usize >= RS_PENDING_MAX
                || acks.read_bytes + bytes > self.tunables.max_buffer_bytes())
            && !self.is_broken()
        {
            let _ = self.wake.wait_interruptible_timeout(&mut acks, ticks(100));
        }
        acks.reads += 1;
        acks.read_bytes += bytes;
        drop(acks);
        // counted off again when it is dropped
        io.unacked(true);
        let mut read = ResyncRead {
            link: self.clone(),
            volume,
            io: io.clone(),
            req: *r,
            // a digest longer than any we make cannot be equal to ours
            csum: csum.map(|theirs| {
                let mut d = [0u8; crypto::MAX_DIGEST];
                let n = theirs.len().min(d.len());
                d[..n].copy_from_slice(&theirs[..n]);
                (d, theirs.len())
            }),
            lock: None,
            status: BLK_STS_OK,
        };
        let sectors = u64::from(r.blksize >> 9);
        read.lock = DevIo::resync_read_lock(io, r.sector, sectors, || self.is_broken());
        let bdev = io.backing();
        let (Some(bdev), Some(_)) = (bdev, &read.lock) else {
            if self.is_broken() {
                return Err(EPIPE);
            }
            // detached meanwhile (C: no get_ldev(), P_NEG_RS_DREPLY)
            drop(read);
            let a = packet::BlockAck {
                sector: r.sector,
                block_id: r.block_id,
                blksize: r.blksize,
                seq_num: 0,
            };
            return self.send_ack(packet::P_NEG_RS_DREPLY, volume, a);
        };
        let buf = PeerBuf::new(r.blksize as usize)?;
        PeerIo::submit(
            PeerIo::new(read, Some(buf), r.blksize)?,
            bdev,
            r.sector,
            PeerOp::Read,
        );
        Ok(())
    }

    /// w_e_end_rsdata_req(), w_e_end_csum_rs_req(): the replies to the resync reads `done`;
    /// each read's lock goes once its reply is on the socket, so a write under it sends its
    /// P_DATA behind the reply.
    fn send_resync_replies(&self, mut done: DoneList<ResyncRead>) {
        while let Some(mut pio) = done.pop() {
            let buf = pio.take_buf().filter(|_| pio.ctx.status == BLK_STS_OK);
            let r = &pio.ctx;
            let csum = r.csum.as_ref().map(|(d, n)| d.get(..*n).unwrap_or(&[]));
            let guard = self.data_lock.lock();
            let _ = self.answer_block(
                guard,
                packet::P_RS_DATA_REPLY,
                r.volume,
                &r.io,
                &r.req,
                buf,
                csum,
            );
            // (its lock goes, and its count with it)
            drop(pio);
        }
    }

    /// receive_DataRequest() for P_DATA_REQUEST and w_e_end_data_req(): a read of a Diskless
    /// peer, answered with P_DATA_REPLY, or P_NEG_DREPLY if the blocks cannot be read. The
    /// data socket is held from before the read, at a moment when every write already sent to
    /// the peer also completed locally: the read sees those, and the P_DATA of any write still
    /// in flight follows this reply. It never waits holding the lock: a sent write's bio may
    /// be queued behind a writer that waits for the lock.
    pub(crate) fn send_data_reply(&self, volume: u16, io: &DevIo, r: &packet::BlockReq) -> Result {
        let mut buf = PeerBuf::new(r.blksize as usize)?;
        let Some(bdev) = io.backing() else {
            return Err(EIO);
        };
        let guard = loop {
            let guard = self.data_lock.lock();
            if io.sent_writes_done() || self.is_broken() {
                break guard;
            }
            drop(guard);
            io.wait_sent_writes();
        };
        let read = buf.read_from(&bdev, r.sector);
        let buf = read.is_ok().then_some(buf);
        self.answer_block(guard, packet::P_DATA_REPLY, volume, io, r, buf, None)
    }

    /// Answers the request `r` with the blocks read into `buf` as `reply` (P_RS_DATA_REPLY or
    /// P_DATA_REPLY), or P_RS_IS_IN_SYNC when `csum`, the target's digest, equals ours; with
    /// the negative reply when they could not be read (`buf` is `None`). `guard` holds the
    /// data socket; the acks go on the meta socket without it.
    #[allow(clippy::too_many_arguments)]
    fn answer_block(
        &self,
        guard: SendGuard<'_>,
        reply: u16,
        volume: u16,
        io: &DevIo,
        r: &packet::BlockReq,
        buf: Option<PeerBuf>,
        csum: Option<&[u8]>,
    ) -> Result {
        let ack = |cmd, block_id| {
            let a = packet::BlockAck {
                sector: r.sector,
                block_id,
                blksize: r.blksize,
                seq_num: 0,
            };
            self.send_ack(cmd, volume, a)
        };
        let Some(buf) = buf else {
            drop(guard);
            io.local_error(io_error::PEER_READ);
            let neg = if reply == packet::P_DATA_REPLY {
                packet::P_NEG_DREPLY
            } else {
                packet::P_NEG_RS_DREPLY
            };
            return ack(neg, r.block_id);
        };
        io.count_peer_read(r.blksize, reply != packet::P_DATA_REPLY);
        // w_e_end_csum_rs_req(): a block whose digest the target has already is in sync
        // (a digest we cannot make is taken as different: the data is sent)
        if let Some(theirs) = csum {
            let mut ours = [0u8; crypto::MAX_DIGEST];
            let alg = &self.csums_alg;
            let n = if alg.is_empty() {
                0
            } else {
                buf.digest(alg, &mut ours).unwrap_or(0)
            };
            if n > 0 && ours.get(..n) == Some(theirs) {
                drop(guard);
                self.count_csum(volume, r.blksize, true);
                io.set_in_sync(r.sector, u64::from(r.blksize >> 9));
                return ack(packet::P_RS_IS_IN_SYNC, packet::ID_SYNCER);
            }
        }
        let d = packet::Data {
            sector: r.sector,
            block_id: r.block_id,
            seq_num: 0,
            dp_flags: 0,
        };
        let apv = self.agreed.version;
        let mut hdr = [0u8; packet::HEADER_MAX + packet::Data::SIZE];
        let hlen = packet::header_size(apv);
        let sent = (|| -> Result {
            let n = d.encode(&mut hdr[hlen..]).map_err(|_| EINVAL)?;
            let mut digest = [0u8; crypto::MAX_DIGEST];
            let dn = if self.digest_size > 0 {
                buf.digest(&self.integrity, &mut digest)?
            } else {
                0
            };
            let len = ((n + dn) as u32).checked_add(r.blksize).ok_or(EINVAL)?;
            packet::encode_header(apv, reply, volume, len, &mut hdr).map_err(|_| EINVAL)?;
            self.data.send(&hdr[..hlen + n], true)?;
            self.data.send(&digest[..dn], true)?;
            buf.send(&self.data)
        })();
        drop(guard);
        if csum.is_some() {
            self.count_csum(volume, r.blksize, false);
        }
        match sent {
            Ok(()) => io.count_sent(r.blksize),
            Err(_) => self.fail(),
        }
        sent
    }

    /// The SyncSource served a checksum-based request of `bytes`, found `same` or not.
    fn count_csum(&self, volume: u16, bytes: u32, same: bool) {
        if let Some(rs) = self
            .resyncs
            .lock()
            .iter_mut()
            .find(|rs| rs.volume == volume)
        {
            rs.csums = true;
            if same {
                rs.same_csum += u64::from(bytes).div_ceil(4096);
            }
        }
    }

    /// Sends this volume's bitmap (P_BITMAP / P_COMPRESSED_BITMAP, _drbd_send_bitmap()).
    pub(crate) fn send_bitmap(&self, volume: u16, io: &DevIo) -> Result {
        let apv = self.agreed.version;
        let hlen = packet::header_size(apv);
        let framing = bitmap_codec::Framing::socket_buffer(hlen as u32);
        let nbits = io.bitmap_bits();
        let mut sender =
            bitmap_codec::Sender::new(nbits, framing, apv >= 90).map_err(|_| EINVAL)?;
        let mut buf = KVec::from_elem(0u8, packet::DRBD_SOCKET_BUFFER_SIZE, GFP_KERNEL)?;
        let _g = self.data_lock.lock();
        loop {
            let p = io
                .with_bitmap_words(|words| sender.next_packet(words, &mut buf[hlen..]))
                .ok_or(EIO)?
                .map_err(|_| EINVAL)?;
            let cmd = match p.kind {
                bitmap_codec::Kind::Plain => packet::P_BITMAP,
                bitmap_codec::Kind::Compressed => packet::P_COMPRESSED_BITMAP,
            };
            packet::encode_header(apv, cmd, volume, p.len as u32, &mut buf).map_err(|_| EINVAL)?;
            if let Err(e) = self.data.send(&buf[..hlen + p.len], false) {
                self.fail();
                return Err(e);
            }
            if p.done {
                break;
            }
        }
        if let Some(summary) = sender.summary() {
            pr_info!("{}/{}: {}\n", self.name, volume, summary);
        }
        Ok(())
    }
}
