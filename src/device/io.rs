// SPDX-License-Identifier: GPL-2.0
//! A device's data path: the block layer's callbacks (open rules, `queue_rq`), writes through
//! the activity log and the submitter work, the writes in flight, replication over the link,
//! and the bitmap and counters the requests update.
//!
//! C counterpart: drbd_make_request() / drbd_submit_bio() and the request paths of drbd_req.c,
//! drbd_al_begin_io() and drbd_al_complete_io() of drbd_actlog.c, drbd_set_out_of_sync() and
//! drbd_set_in_sync().

use crate::actlog::lru::{ActLog, Begin, Prepared, Slot};
use crate::actlog::transaction::{
    al_tr_number_to_on_disk_sector, Transaction, AL_TRANSACTION_BYTES,
};
use crate::bitmap::math::{
    al_extent_bits, al_extents, bit_to_page, in_sync_bits, sect_to_bit, Bits, PAGE_BYTES,
    SECT_PER_BIT,
};
use crate::device::Drbd;
use crate::genl::retcode::RetCode;
use crate::meta::io::{bitmap_start, initialize_al_with, write_bitmap_pages};
use crate::meta::layout::Layout;
use crate::model::attach::io_error;
use crate::model::conflict::{self, InFlight, Kind, Tag};
use crate::model::request::{paths, Congestion, Need, Paths};
use crate::model::state::{DevState, DiskState};
use crate::net::link::Link;
use crate::sys::bdev::Bdev;
use crate::sys::blk::{DiskOps, Op, Refusal, Remote, Request, RequestList};
use crate::sys::lock::{new_irq_spinlock, IrqSpinLock, IrqSpinLockBackend};
use crate::sys::print::ratelimit;
use crate::sys::without_io_reclaim;
use crate::sys::wq::{events_queue, submit_queue};
use crate::wire::{bitmap_codec, packet};
use core::ops::RangeInclusive;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, AtomicU8, Ordering};
use kernel::prelude::*;
use kernel::sync::lock::Guard;
use kernel::sync::Arc;
use kernel::sync::{new_condvar, CondVar};
use kernel::workqueue::{impl_has_work, new_work, Work, WorkItem};

/// What the block layer's callbacks share with the configuration of a device: the open rules,
/// and while attached the backing disk with the bitmap and activity log its writes update.
#[pin_data]
pub(crate) struct DevIo {
    /// The device's minor, for the log.
    pub(super) minor: u32,
    /// The module's state, whose work applies the local I/O errors (`on-io-error`).
    owner: Arc<Drbd>,
    /// Local I/O errors not applied yet ([`io_error`] bits).
    errors: AtomicU8,
    /// A state change owes the pri-on-incon-degr helper a call.
    degraded: AtomicBool,
    /// The link is congested (`on-congestion`): bit 0 congestion-fill, bit 1
    /// congestion-extents reached; the module's work changes the state.
    congestion: AtomicU8,
    /// The device is Primary: it may be opened, also for writing.
    primary: AtomicBool,
    /// The backing device is flushed at the peer's barriers (the resource's write ordering is
    /// `flush`: `disk-flushes`).
    barrier_flush: AtomicBool,
    /// The device's state (`DevState::to_u32`), for the choice of where requests go.
    state: AtomicU32,
    /// Opens of a Secondary for reading are allowed (module parameter `allow_oos`).
    allow_oos: bool,
    /// Current opens (C: `open_cnt`).
    opens: AtomicU32,
    /// Sectors read from and written to the backing disk (`/proc/drbd` dr and dw, in KiB),
    /// wrapping at 32 bits as C's `read_cnt` and `writ_cnt` do.
    read_sectors: AtomicU32,
    write_sectors: AtomicU32,
    /// Requests forwarded to the backing disk, until they end (`local_cnt`, `/proc/drbd` lo),
    /// and activity log writes; counted up under the `ldev` lock: a detach that takes the disk
    /// under it finds each request that still refers to it.
    local: AtomicU32,
    /// Of those, the ones whose I/O is at the disk now (their local part not done).
    at_disk: AtomicU32,
    /// When the backing disk last made progress (jiffies): its last completion, or the first
    /// request after it was idle.
    disk_since: AtomicU64,
    /// `disk-timeout`, in jiffies (0: none): the disk is given up when requests wait at it
    /// without progress for longer.
    disk_timeout: AtomicU64,
    /// Requests of the upper layers in this device, from queueing to their end (`ap_bio_cnt`,
    /// `/proc/drbd` ap).
    upper: AtomicU32,
    /// Peer writes whose ack we owe (`unacked_cnt`, `/proc/drbd` ua).
    unacked: AtomicU32,
    /// Writes sent to the peer whose local write is still in flight.
    sent_in_flight: AtomicI32,
    /// Woken when the last write sent to the peer completes locally.
    #[pin]
    writes_idle: CondVar,
    /// Sectors sent to and received from the peer (`/proc/drbd` ns and nr, in KiB).
    net_sent_sectors: AtomicU32,
    net_recv_sectors: AtomicU32,
    /// Of the sectors read and written, those of a resync or verify (C: `rs_sect_ev`): the
    /// others are application I/O, which a resync above c-min-rate yields to.
    resync_sectors: AtomicU32,
    /// The established connection writes are replicated over, with our volume number on it.
    #[pin]
    link: IrqSpinLock<Option<(Arc<Link>, u16)>>,
    /// The attached disk as the data path uses it; `None` while Diskless. Taken with interrupts
    /// off, as completions update it.
    #[pin]
    pub(crate) ldev: IrqSpinLock<Option<KBox<IoLdev>>>,
    /// Writers waiting for the active set: for room, or for another's transaction; and for
    /// the writes in flight they overlap.
    #[pin]
    pub(super) al_wait: CondVar,
    /// Writes of ours the peer told us to do again (P_RETRY_WRITE), with their table slots
    /// (see `twopri.rs`).
    #[pin]
    pub(super) postponed: IrqSpinLock<KVec<Option<(u16, Remote<DevIo>)>>>,
    /// Writes for the worker: they need an activity log transaction first, or came after one
    /// that does.
    #[pin]
    deferred: IrqSpinLock<RequestList<DevIo>>,
    /// Reads that failed at the backing disk, for the worker to ask the peer for.
    #[pin]
    retries: IrqSpinLock<RequestList<DevIo>>,
    #[pin]
    work: Work<DevIo>,
}

/// The I/O counters of a device, in KiB and requests, as `/proc/drbd` shows them.
pub(crate) struct IoCounters {
    pub(crate) sent_kib: u32,
    pub(crate) received_kib: u32,
    pub(crate) read_kib: u32,
    pub(crate) write_kib: u32,
    pub(crate) local: u32,
    pub(crate) upper: u32,
    pub(crate) unacked: u32,
}

impl DevIo {
    /// The data path of new device `minor` in state `s` (Diskless and unconnected), whose
    /// local I/O errors `owner` applies.
    pub(crate) fn new(
        minor: u32,
        s: &DevState,
        allow_oos: bool,
        owner: Arc<Drbd>,
    ) -> impl PinInit<Self> {
        let primary = s.role == crate::model::state::Role::Primary;
        let state = s.to_u32();
        pin_init!(DevIo {
            minor,
            owner,
            errors: AtomicU8::new(0),
            degraded: AtomicBool::new(false),
            congestion: AtomicU8::new(0),
            primary: AtomicBool::new(primary),
            barrier_flush: AtomicBool::new(true),
            state: AtomicU32::new(state),
            allow_oos,
            opens: AtomicU32::new(0),
            read_sectors: AtomicU32::new(0),
            write_sectors: AtomicU32::new(0),
            local: AtomicU32::new(0),
            at_disk: AtomicU32::new(0),
            disk_since: AtomicU64::new(0),
            disk_timeout: AtomicU64::new(0),
            upper: AtomicU32::new(0),
            unacked: AtomicU32::new(0),
            sent_in_flight: AtomicI32::new(0),
            writes_idle <- new_condvar!("drbd_writes_idle"),
            net_sent_sectors: AtomicU32::new(0),
            net_recv_sectors: AtomicU32::new(0),
            resync_sectors: AtomicU32::new(0),
            link <- new_irq_spinlock!(None, "drbd_io_link"),
            ldev <- new_irq_spinlock!(None, "drbd_io"),
            al_wait <- new_condvar!("drbd_al_wait"),
            postponed <- new_irq_spinlock!(KVec::new(), "drbd_postponed"),
            deferred <- new_irq_spinlock!(RequestList::new(), "drbd_deferred"),
            retries <- new_irq_spinlock!(RequestList::new(), "drbd_retries"),
            work <- new_work!("drbd_submit"),
        })
    }

    /// Whether `/dev/drbdN` is open.
    pub(crate) fn is_open(&self) -> bool {
        self.opens.load(Ordering::Acquire) != 0
    }

    /// Lets the open rules know the role, and the data path the state.
    pub(crate) fn set_state(&self, s: &DevState) {
        self.primary.store(
            s.role == crate::model::state::Role::Primary,
            Ordering::Release,
        );
        self.state.store(s.to_u32(), Ordering::Release);
    }

    /// Records local I/O errors (`bits` of [`io_error`]) for the module's events work to apply
    /// (`on-io-error`). Any context.
    pub(crate) fn local_error(&self, bits: u8) {
        if self.errors.fetch_or(bits, Ordering::AcqRel) & bits != bits {
            // already queued: it will find these too
            let _ = events_queue().enqueue(self.owner.clone());
        }
    }

    /// A Primary lost access to UpToDate data: the module's work calls pri-on-incon-degr
    /// (after_state_ch(); the helper must not run under the configuration lock).
    pub(crate) fn owe_degraded_helper(&self) {
        self.degraded.store(true, Ordering::Release);
        let _ = events_queue().enqueue(self.owner.clone());
    }

    /// maybe_pull_ahead() found the link congested: the module's work pulls ahead or
    /// disconnects (a state change takes `config`, which the data path may not).
    fn congested(&self, c: Congestion) {
        let bits = u8::from(c.fill) | (u8::from(c.extents) << 1);
        if self.congestion.fetch_or(bits, Ordering::AcqRel) == 0 {
            let _ = events_queue().enqueue(self.owner.clone());
        }
    }

    /// The congestion found since the last call, if any.
    pub(crate) fn take_congestion(&self) -> Option<Congestion> {
        let bits = self.congestion.swap(0, Ordering::AcqRel);
        (bits != 0).then_some(Congestion {
            fill: bits & 1 != 0,
            extents: bits & 2 != 0,
        })
    }

    /// Whether pri-on-incon-degr is owed a call since the last time asked.
    pub(crate) fn take_degraded_helper(&self) -> bool {
        self.degraded.swap(false, Ordering::AcqRel)
    }

    /// The local I/O errors recorded since the last call.
    pub(crate) fn take_errors(&self) -> u8 {
        self.errors.swap(0, Ordering::AcqRel)
    }

    /// drbd_al_begin_io() for a peer write while the peer is Diskless (we hold the only disk):
    /// the extents it writes are made active, as for our own writes, so that a crash leaves
    /// them out of sync. The extents to complete once written, if references were taken.
    /// Sleeps.
    pub(crate) fn peer_al_begin(&self, sector: u64, sectors: u64) -> Option<RangeInclusive<u32>> {
        let ext = al_extents(sector, sectors)?;
        let guard = self.ldev.lock();
        let (guard, began) = self.al_begin(guard, ext.clone());
        drop(guard);
        matches!(began, Ok(true)).then_some(ext)
    }

    /// drbd_al_complete_io() of [`DevIo::peer_al_begin`].
    pub(crate) fn al_complete(&self, ext: RangeInclusive<u32>) {
        if let Some(io) = self.ldev.lock().as_mut() {
            if let Err(e) = io.al.complete(ext) {
                if ratelimit() {
                    pr_err!("activity log: {}\n", e);
                }
            }
        }
        self.al_wait.notify_all();
    }

    /// Whether the peer's barriers flush the backing device (see [`DevIo::barrier_flush`]).
    pub(crate) fn set_barrier_flush(&self, on: bool) {
        self.barrier_flush.store(on, Ordering::Relaxed);
    }

    pub(crate) fn barrier_flush(&self) -> bool {
        self.barrier_flush.load(Ordering::Relaxed)
    }

    /// The device's state, as the data path last learnt it.
    pub(crate) fn state(&self) -> DevState {
        DevState::from_u32(self.state.load(Ordering::Acquire)).unwrap_or_else(DevState::new_minor)
    }

    /// The I/O counters.
    pub(crate) fn counters(&self) -> IoCounters {
        IoCounters {
            sent_kib: self.net_sent_sectors.load(Ordering::Relaxed) / 2,
            received_kib: self.net_recv_sectors.load(Ordering::Relaxed) / 2,
            read_kib: self.read_sectors.load(Ordering::Relaxed) / 2,
            write_kib: self.write_sectors.load(Ordering::Relaxed) / 2,
            local: self.local.load(Ordering::Relaxed),
            upper: self.upper.load(Ordering::Relaxed),
            unacked: self.unacked.load(Ordering::Relaxed),
        }
    }
}

impl DiskOps for DevIo {
    /// drbd_open(): only a Primary may be opened, unless `allow_oos` lets a Secondary be read.
    fn open(&self, write: bool) -> Result<(), Refusal> {
        if !self.primary.load(Ordering::Acquire) {
            if write {
                return Err(Refusal::ReadOnly);
            }
            if !self.allow_oos {
                return Err(Refusal::WrongMediumType);
            }
        }
        self.opens.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    fn release(&self) {
        self.opens.fetch_sub(1, Ordering::AcqRel);
    }

    fn request_ended(&self) {
        self.upper.fetch_sub(1, Ordering::AcqRel);
    }

    /// drbd_req_complete()'s retry of a failed read (C: RQ_POSTPONED): its blocks are out of
    /// sync with the peer from now on, and the peer is asked for them if it has good data.
    fn read_failed(this: &Arc<Self>, rq: Request<Self>) {
        this.mark_out_of_sync(rq.sector(), rq.sectors());
        if ratelimit() {
            pr_warn!(
                "drbd{}: local READ IO error sector {}+{}\n",
                this.minor,
                rq.sector(),
                rq.sectors()
            );
        }
        let st = this.state();
        let linked = this.link.lock().is_some();
        if !paths(&st, Need::Read, false, linked, || false).remote {
            rq.end(false);
            return;
        }
        this.retries.lock().push(rq);
        let _ = submit_queue().enqueue(this.clone());
    }

    /// drbd_make_request(): a write first makes its activity log extents active; then the
    /// request goes where [`paths`] says (see [`DevIo::submit`]). A write that needs an activity
    /// log transaction, or waits for room in the active set, goes to the device's worker (C: the
    /// submitter work): meta data I/O cannot be waited for here. A Diskless device serves its
    /// requests through a connected peer with good data, and fails them without one, as C's.
    fn queue(this: &Arc<Self>, rq: Request<Self>) {
        this.upper.fetch_add(1, Ordering::AcqRel);
        // (without a connection, whose sender looks every 250 ms, only new requests do)
        this.check_disk_timeout(crate::sys::jiffies());
        if rq.op() == Op::Other {
            rq.end_not_supported();
            return;
        }
        let ext = write_extents(&rq);
        let mut guard = this.ldev.lock();
        let mut logged = false;
        // (a Failed disk's activity log is not written: C's get_ldev() fails)
        let failed = this.disk_failed();
        if let Some(ext) = ext.as_ref().filter(|_| !failed) {
            if let Some(io) = guard.as_mut() {
                // lock order: ldev, then deferred; writes queue up behind deferred ones, and
                // behind writes in flight they overlap
                let first_in_line = this.deferred.lock().is_empty();
                let conflict = io.writes.conflicts(rq.sector(), rq.sectors());
                let hot = |io: &mut IoLdev| {
                    io.al_suspended || matches!(io.al.begin(ext.clone()), Ok(Begin::Hot))
                };
                if !first_in_line || conflict || !hot(io) {
                    drop(guard);
                    this.deferred.lock().push(rq);
                    // already queued: the worker will find this one too
                    let _ = submit_queue().enqueue(this.clone());
                    return;
                }
                logged = !io.al_suspended;
            }
        }
        this.submit(guard, rq, ext, logged);
    }

    fn local_done(&self) {
        self.disk_done();
    }

    fn sent_write_done(&self) {
        // the count may go below zero for a moment (see Link::send_write)
        if self.sent_in_flight.fetch_sub(1, Ordering::AcqRel) <= 1 {
            self.writes_idle.notify_all();
        }
        // a peer write may wait for a postponed write's local part
        self.al_wait.notify_all();
    }

    /// drbd_al_complete_io(): the write's extents may go idle again, and writes that overlap it
    /// may go. A write that failed here leaves its blocks out of sync (the peer may have them:
    /// then the write succeeds for the upper layer).
    fn completed(&self, tag: u64, ok: bool) {
        self.local_put();

        let tag = Tag::decode(tag);
        if !ok {
            self.local_error(if tag.write {
                io_error::WRITE
            } else {
                io_error::READ
            });
        }
        if tag.ext.is_none() && tag.slot.is_none() {
            return;
        }
        if let Some(io) = self.ldev.lock().as_mut() {
            if let Some((start, end)) = tag.slot.and_then(|slot| io.writes.leave(slot)) {
                if !ok {
                    io.mark_out_of_sync(start, end - start);
                    if ratelimit() {
                        pr_warn!(
                            "drbd{}: local WRITE IO error sector {}+{}\n",
                            self.minor,
                            start,
                            end - start
                        );
                    }
                }
            }
            if let Some(ext) = tag.ext {
                if let Err(e) = io.al.complete(ext) {
                    if ratelimit() {
                        pr_err!("activity log: {}\n", e);
                    }
                }
            }
        }
        self.al_wait.notify_all();
    }
}

/// Why a peer request has no place on the disk.
pub(crate) enum PeerRange {
    Diskless,
    /// It does not fit the device of this many sectors.
    Beyond(u64),
}

/// The activity log extents of a request that writes, if any.
fn write_extents(rq: &Request<DevIo>) -> Option<RangeInclusive<u32>> {
    let writes = matches!(rq.op(), Op::Write | Op::Discard | Op::WriteZeroes);
    if writes && rq.sectors() != 0 {
        al_extents(rq.sector(), rq.sectors())
    } else {
        None
    }
}

impl_has_work! {
    impl HasWork<Self> for DevIo { self.work }
}

impl WorkItem for DevIo {
    type Pointer = Arc<DevIo>;

    /// The submitter: the deferred writes, in order, each after its activity log transaction,
    /// and the failed reads, for the peer. Its meta data I/O allocates: never with reclaim that
    /// could write to this device.
    fn run(this: Arc<DevIo>) {
        without_io_reclaim(|| {
            // postponed writes are older than the deferred ones
            this.restart_postponed();
            this.submit_deferred();
            loop {
                // (the lock is not held while the read is sent)
                let Some(rq) = this.retries.lock().pop() else {
                    break;
                };
                match this.link() {
                    Some((link, volume)) => this.read_from_peer(&link, volume, rq),
                    None => rq.end(false),
                }
            }
        });
    }
}

impl DevIo {
    /// The deferred writes, in order.
    fn submit_deferred(&self) {
        loop {
            let Some(rq) = self.deferred.lock().pop() else {
                return;
            };
            let ext = write_extents(&rq);
            let guard = self.ldev.lock();
            let (mut guard, began) = match &ext {
                Some(ext) => self.al_begin(guard, ext.clone()),
                None => (guard, Ok(false)),
            };
            // a write waits for the writes in flight it overlaps (complete_conflicting_writes());
            // a postponed one among them is done again by this worker meanwhile
            while ext.is_some()
                && guard
                    .as_ref()
                    .is_some_and(|io| io.writes.conflicts(rq.sector(), rq.sectors()))
            {
                if guard
                    .as_ref()
                    .is_some_and(|io| io.writes.first_restart().is_some())
                {
                    drop(guard);
                    self.restart_postponed();
                    guard = self.ldev.lock();
                    continue;
                }
                self.al_wait.wait(&mut guard);
            }
            match began {
                Ok(logged) => self.submit(guard, rq, ext, logged),
                Err(()) => {
                    drop(guard);
                    rq.end(false);
                }
            }
        }
    }

    /// Serves a request where [`paths`] says: a write goes to the backing disk and the peer (its
    /// blocks marked out of sync where the peer does not get it), a read to the backing disk or
    /// the peer, a flush to both. Its activity log references are taken already if `logged`.
    fn submit(
        &self,
        mut guard: IoGuard<'_>,
        rq: Request<Self>,
        ext: Option<RangeInclusive<u32>>,
        logged: bool,
    ) {
        let link = self.link();
        if rq.op() == Op::Flush {
            // the current epoch ends; the peer flushes at its barrier (C: QUEUE_AS_DRBD_BARRIER)
            if let Some((link, _)) = &link {
                link.close_epoch();
            }
            // (not to a Failed disk: it may not answer)
            let failed = self.disk_failed();
            let Some(to) = guard.as_ref().filter(|_| !failed).map(|io| io.data.clone()) else {
                drop(guard);
                rq.end(link.is_some());
                return;
            };
            self.local_start(&guard);
            drop(guard);
            let flush = Tag {
                write: true,
                ..Tag::default()
            };
            rq.forward(&to, flush.encode());
            return;
        }
        let (sector, sectors) = (rq.sector(), rq.sectors());
        let need = if rq.op() == Op::Read {
            Need::Read
        } else {
            Need::Write
        };
        let st = self.state();
        let Paths {
            local,
            remote,
            out_of_sync,
        } = paths(&st, need, guard.is_some(), link.is_some(), || {
            guard.as_mut().is_some_and(|io| io.in_sync(sector, sectors))
        });
        // while Ahead the peer is told of the write instead (w_send_out_of_sync())
        let tell = link.clone().filter(|_| out_of_sync);
        let link = link.filter(|_| remote);
        if !local && link.is_none() {
            drop(guard);
            if ratelimit() {
                pr_err!(
                    "IO ERROR: neither local nor remote data, sector {}+{}\n",
                    sector,
                    sectors
                );
            }
            rq.end(false);
            return;
        }
        if need == Need::Read {
            match link {
                Some((link, volume)) if !local => {
                    drop(guard);
                    self.read_from_peer(&link, volume, rq);
                }
                _ => self.forward_read(guard, rq),
            }
            return;
        }
        let kind = match rq.op() {
            Op::Discard => packet::P_TRIM,
            Op::WriteZeroes => packet::P_ZEROES,
            _ => packet::P_DATA,
        };
        let fua = rq.fua();
        let Some(io) = guard.as_mut().filter(|_| local) else {
            drop(guard);
            if let Some((link, volume)) = link {
                // a Diskless Primary writes to its peer alone
                let (send, ack) = rq.send_only(0);
                self.replicate(&link, volume, kind, (send, ack), sector, sectors, fua);
            }
            return;
        };
        if link.is_none() {
            io.mark_out_of_sync(sector, sectors);
        }
        // no overlapping write is in flight (the callers made sure): this one is, now
        let slot = ext.as_ref().and_then(|_| {
            let slot = io.writes.enter(sector, sectors, Kind::Local);
            if slot.is_none() && ratelimit() {
                pr_warn!("no room to track a write in flight\n");
            }
            slot
        });
        let to = io.data.clone();
        let al_in_use = u32::from(io.al.in_use());
        self.local_start(&guard);
        drop(guard);
        if let Some((l, volume)) = &link {
            // maybe_pull_ahead(): this write still goes to the peer, the next ones may not
            if let Some(c) = l.congestion(*volume, &st, al_in_use) {
                self.congested(c);
            }
        }
        if let Some((l, volume)) = tell {
            // (marked out of sync here above; if it cannot be sent, the link fails)
            let _ = l.send_out_of_sync(volume, sector, (sectors << 9) as u32);
        }
        // at most 1 MiB (2048 sectors) per request
        self.write_sectors
            .fetch_add(sectors as u32, Ordering::Relaxed);
        let tag = Tag {
            slot,
            ext: ext.filter(|_| logged),
            write: true,
        }
        .encode();
        match link {
            Some((link, volume)) => {
                let remote = rq.forward_replicated(&to, tag);
                self.replicate(&link, volume, kind, remote, sector, sectors, fua);
            }
            None => rq.forward(&to, tag),
        }
    }

    /// drbd_try_rs_begin_io() of make_resync_request(): the SyncTarget's lock on `sectors`
    /// from `sector`, for a resync request; `None` while a write under them is in flight
    /// (until it completed locally and on the peer: the request waits, the SyncSource is to
    /// read that write's data), and without a disk.
    pub(crate) fn resync_lock(this: &Arc<Self>, sector: u64, sectors: u64) -> Option<Claim> {
        let mut guard = this.ldev.lock();
        let io = guard.as_mut()?;
        let slot = io.writes.enter(sector, sectors, Kind::Resync)?;
        let ldev = io.id;
        drop(guard);
        Some(Claim {
            io: this.clone(),
            ldev,
            slot,
        })
    }

    /// drbd_rs_begin_io() of receive_DataRequest(): the SyncSource's lock on `sectors` from
    /// `sector`, for a resync read, held until its reply is sent. Writes that come later wait
    /// for it; the writes in flight under it are waited for first (see
    /// [`InFlight::read_waits`]), so that the read sees the data of every write whose P_DATA
    /// went before the reply. `None` without a disk, or once `gone()` (the connection broke).
    pub(crate) fn resync_read_lock(
        this: &Arc<Self>,
        sector: u64,
        sectors: u64,
        gone: impl Fn() -> bool,
    ) -> Option<Claim> {
        let mut guard = this.ldev.lock();
        let (slot, ldev) = loop {
            let io = guard.as_mut()?;
            // (the table has room for every resync read the link lets in at once)
            if let Some(slot) = io.writes.insert(sector, sectors, Kind::Resync) {
                break (slot, io.id);
            }
            if gone() {
                return None;
            }
            let _ = this
                .al_wait
                .wait_interruptible_timeout(&mut guard, crate::sys::msecs_to_jiffies(10) as _);
        };
        let claim = |guard| {
            drop(guard);
            Claim {
                io: this.clone(),
                ldev,
                slot,
            }
        };
        loop {
            let waits = match guard.as_ref() {
                Some(io) if io.id == ldev => io.writes.read_waits(slot),
                // detached meanwhile: the slot went with its table
                _ => return None,
            };
            if !waits {
                return Some(claim(guard));
            }
            if gone() {
                // dropped as a claim: the slot leaves
                drop(claim(guard));
                return None;
            }
            let _ = this
                .al_wait
                .wait_interruptible_timeout(&mut guard, crate::sys::msecs_to_jiffies(10) as _);
        }
    }

    /// A read of the backing disk (attached: `guard` holds it).
    fn forward_read(&self, guard: IoGuard<'_>, rq: Request<Self>) {
        let Some(to) = guard.as_ref().map(|io| io.data.clone()) else {
            drop(guard);
            rq.end(false);
            return;
        };
        self.local_start(&guard);
        drop(guard);
        // at most 1 MiB (2048 sectors) per request
        self.read_sectors
            .fetch_add(rq.sectors() as u32, Ordering::Relaxed);
        rq.forward(&to, 0);
    }

    /// A request goes to the backing disk (the caller holds the `ldev` lock, `_held`).
    fn local_start(&self, _held: &IoGuard<'_>) {
        self.local.fetch_add(1, Ordering::AcqRel);
        self.disk_start();
    }

    /// A request ended that went to the backing disk.
    fn local_put(&self) {
        if self.local.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.kick_detach();
        }
    }

    /// I/O goes to the backing disk (a request's local part, once more after a restart).
    pub(super) fn disk_start(&self) {
        if self.at_disk.fetch_add(1, Ordering::AcqRel) == 0 {
            self.disk_since
                .store(crate::sys::jiffies(), Ordering::Relaxed);
        }
    }

    /// I/O at the backing disk is done: the disk made progress.
    fn disk_done(&self) {
        self.disk_since
            .store(crate::sys::jiffies(), Ordering::Relaxed);
        self.at_disk.fetch_sub(1, Ordering::AcqRel);
    }

    /// The last request at the backing disk completed (or a postponed write is done): a detach
    /// waiting for it may go on (the lock orders the wake-up after the waiter's look), and a
    /// Failed disk is released by the module's work (C: put_ldev()'s GO_DISKLESS).
    pub(super) fn kick_detach(&self) {
        {
            let _held = self.ldev.lock();
            self.al_wait.notify_all();
        }
        if self.disk_failed() {
            let _ = events_queue().enqueue(self.owner.clone());
        }
    }

    /// Whether the disk is Failed (being detached): it takes no new I/O of ours.
    fn disk_failed(&self) -> bool {
        self.state().disk == DiskState::Failed
    }

    /// Writes a meta data block while attached (`guard`), without the lock, counted as a
    /// request at the disk (disk-timeout, detach); whether it was written, and the lock again.
    fn md_write<'a>(
        &'a self,
        guard: IoGuard<'a>,
        md: &Bdev,
        sector: u64,
        buf: &[u8; PAGE_BYTES],
    ) -> (IoGuard<'a>, bool) {
        self.local_start(&guard);
        drop(guard);
        let written = md.write_4k(sector, buf).is_ok();
        self.disk_done();
        self.local_put();
        (self.ldev.lock(), written)
    }

    /// Whether no request is at the backing disk, nor a postponed write waits to go there
    /// again; `held` is the `ldev` lock, under which requests are counted up.
    pub(crate) fn local_idle_now(&self, held: &IoGuard<'_>) -> bool {
        self.local.load(Ordering::Acquire) == 0 && !self.has_postponed(held)
    }

    /// Waits until no request is at the backing disk, or a signal comes; `false` then.
    pub(crate) fn wait_local_idle(&self) -> bool {
        let mut guard = self.ldev.lock();
        while !self.local_idle_now(&guard) {
            if self.al_wait.wait_interruptible(&mut guard) {
                return false;
            }
        }
        true
    }

    /// Sets `disk-timeout` (in tenths of a second; 0: none).
    pub(crate) fn set_disk_timeout(&self, tenths: u64) {
        let jiffies = tenths.saturating_mul(crate::sys::hz()) / 10;
        self.disk_timeout.store(jiffies, Ordering::Relaxed);
    }

    /// request_timer_fn()'s look at the backing disk: requests waited there without progress
    /// for longer than `disk-timeout` (C: the oldest request's age). The disk is given up: the
    /// module's work detaches it, whatever `on-io-error` says (C: DRBD_FORCE_DETACH). The
    /// requests at the disk stay until it answers them: their pages are the upper layers'.
    pub(crate) fn check_disk_timeout(&self, now: u64) {
        let timeout = self.disk_timeout.load(Ordering::Relaxed);
        if timeout == 0 || self.at_disk.load(Ordering::Acquire) == 0 {
            return;
        }
        let since = self.disk_since.load(Ordering::Relaxed);
        if now.wrapping_sub(since) <= timeout || self.errors.load(Ordering::Acquire) != 0 {
            return;
        }
        let st = self.state();
        if st.disk > DiskState::Failed {
            if ratelimit() {
                pr_warn!(
                    "drbd{}: Local backing device failed to meet the disk-timeout\n",
                    self.minor
                );
            }
            self.local_error(io_error::TIMEOUT);
        }
    }

    /// A read the peer serves (P_DATA_REQUEST): the request ends with its P_DATA_REPLY.
    fn read_from_peer(&self, link: &Link, volume: u16, rq: Request<Self>) {
        let (sector, sectors) = (rq.sector(), rq.sectors());
        // at most 1 MiB
        let bytes = (sectors << 9) as u32;
        link.send_read(volume, rq.read_remote(0), sector, bytes);
    }

    /// Sends a write as `kind` (P_DATA, P_TRIM or P_ZEROES) with its two remote parts: the
    /// one sent, and the one the peer's ack releases. Its blocks are out of sync if it could not
    /// be sent.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn replicate(
        &self,
        link: &Link,
        volume: u16,
        kind: u16,
        (send, ack): (Remote<Self>, Remote<Self>),
        sector: u64,
        sectors: u64,
        fua: bool,
    ) {
        // at most 1 MiB, or 128 MiB for a discard
        let bytes = (sectors << 9) as u32;
        if link.send_write(self, volume, kind, send, ack, sector, bytes, fua) {
            self.net_sent_sectors
                .fetch_add(sectors as u32, Ordering::Relaxed);
        } else {
            self.mark_out_of_sync(sector, sectors);
        }
    }

    /// The connection writes are replicated over, if any.
    pub(crate) fn link(&self) -> Option<(Arc<Link>, u16)> {
        self.link.lock().clone()
    }

    /// Starts or stops replicating over `link`.
    pub(crate) fn set_link(&self, link: Option<(Arc<Link>, u16)>) {
        *self.link.lock() = link;
    }

    /// The backing device for a peer request of `sectors` from `sector`, checked against the
    /// disk attached now (not the size of some earlier one).
    pub(crate) fn peer_target(&self, sector: u64, sectors: u64) -> Result<Arc<Bdev>, PeerRange> {
        let guard = self.ldev.lock();
        let io = guard.as_ref().ok_or(PeerRange::Diskless)?;
        match sector.checked_add(sectors) {
            Some(end) if end <= io.sectors => Ok(io.data.clone()),
            _ => Err(PeerRange::Beyond(io.sectors)),
        }
    }

    /// The backing device, while attached.
    pub(crate) fn backing(&self) -> Option<Arc<Bdev>> {
        self.ldev.lock().as_ref().map(|io| io.data.clone())
    }

    /// Marks `sectors` from `sector` out of sync, while attached.
    pub(crate) fn mark_out_of_sync(&self, sector: u64, sectors: u64) {
        if sectors == 0 {
            return;
        }
        if let Some(io) = self.ldev.lock().as_mut() {
            io.mark_out_of_sync(sector, sectors);
        }
    }

    /// Counts a write sent to the peer whose local part is still in flight (`in_flight` from
    /// [`Remote::mark_sent`]).
    pub(crate) fn sent_write(&self, in_flight: bool) {
        if in_flight {
            self.sent_in_flight.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Whether every write sent to the peer also completed locally.
    pub(crate) fn sent_writes_done(&self) -> bool {
        self.sent_in_flight.load(Ordering::Acquire) <= 0
    }

    /// Waits (up to 10 ms) for the writes sent to the peer to complete locally.
    pub(crate) fn wait_sent_writes(&self) {
        let mut guard = self.ldev.lock();
        if !self.sent_writes_done() {
            let _ = self
                .writes_idle
                .wait_interruptible_timeout(&mut guard, crate::sys::msecs_to_jiffies(10) as _);
        }
    }

    /// Sets (`all`) or clears every bit of the bitmap (drbd_bm_set_all(), drbd_bm_clear_all()),
    /// while attached: the meta data device, its layout and the bits, for writing it out with
    /// [`Self::write_bitmap`].
    pub(crate) fn fill_bitmap(&self, all: bool) -> Option<(Arc<Bdev>, Layout, u64)> {
        let mut guard = self.ldev.lock();
        let io = guard.as_mut()?;
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
        Some((io.md.clone(), io.layout, bits))
    }

    /// A new size for the attached disk (drbd_bm_resize()): `bitmap`, zeroed for `bits`, takes
    /// the old bits, and the new blocks are out of sync if `set_new_bits`; its meta data is at
    /// `moved` if that changed. The disk stays attached (the peer's writes go on); the old
    /// bitmap is given back to be freed without the lock. The meta data device and layout.
    pub(crate) fn resize_bitmap(
        &self,
        mut bitmap: KVVec<u64>,
        bits: u64,
        sectors: u64,
        set_new_bits: bool,
        moved: Option<Layout>,
    ) -> Option<(Arc<Bdev>, Layout, KVVec<u64>)> {
        let mut guard = self.ldev.lock();
        let io = guard.as_mut()?;
        let keep = bitmap.len().min(io.bitmap.len());
        bitmap.as_mut_slice()[..keep].copy_from_slice(&io.bitmap.as_slice()[..keep]);
        if let Ok(mut view) = Bits::new(bitmap.as_mut_slice(), bits) {
            // (new() clears the bits beyond the new end, left from a larger device)
            if set_new_bits {
                view.set_range(io.bits.min(bits)..bits);
            }
            io.bits_set = view.count();
        }
        let old = core::mem::replace(&mut io.bitmap, bitmap);
        io.bits = bits;
        io.sectors = sectors;
        if let Some(layout) = moved {
            io.layout = layout;
        }
        Some((io.md.clone(), io.layout, old))
    }

    /// drbd_al_initialize() of the attached disk: the activity log's I/O buffers are taken for
    /// it, so a transaction waits meanwhile; the disk stays attached.
    pub(crate) fn initialize_al(&self) -> Result<(), RetCode> {
        let mut guard = self.ldev.lock();
        let (md, layout, mut bufs) = loop {
            let io = guard.as_mut().ok_or(RetCode::NoDisk)?;
            if let Some(bufs) = io.al_bufs.take() {
                break (io.md.clone(), io.layout, bufs);
            }
            self.al_wait.wait(&mut guard);
        };
        drop(guard);
        let written = initialize_al_with(&md, &layout, &mut bufs, |tr| {
            if let Some(io) = self.ldev.lock().as_mut() {
                match tr {
                    Some(tr) => io.al.empty_transaction(tr),
                    None => {
                        io.al.commit_empty();
                        io.al_writes = io.al_writes.wrapping_add(1);
                    }
                }
            }
        });
        if let Some(io) = self.ldev.lock().as_mut() {
            io.al_bufs = Some(bufs);
        }
        self.al_wait.notify_all();
        written
    }

    /// Writes the bitmap of the attached disk (of `bits` bits, on `md` at `layout`) page by page,
    /// each copied under the lock just before it is written.
    pub(crate) fn write_bitmap(
        &self,
        md: &Bdev,
        layout: &Layout,
        bits: u64,
    ) -> Result<(), RetCode> {
        write_bitmap_pages(md, layout, bits, |page, buf| {
            self.ldev
                .lock()
                .as_mut()
                .ok_or(RetCode::NoDisk)?
                .store_bitmap_page(page, buf)
        })
    }

    /// Marks `sectors` from `sector` in sync (drbd_set_in_sync()): the whole blocks of the range.
    pub(crate) fn set_in_sync(&self, sector: u64, sectors: u64) {
        if let Some(io) = self.ldev.lock().as_mut() {
            // the device's own size: its last block may be partial, and is whole when the
            // range reaches the end (`bits * 8` would never clear it)
            let (capacity, nbits) = (io.sectors, io.bits);
            let Ok(bytes) = u32::try_from(sectors << 9) else {
                return;
            };
            if let Ok(bits) = in_sync_bits(sector, bytes, capacity) {
                if let Ok(mut view) = Bits::new(io.bitmap.as_mut_slice(), nbits) {
                    io.bits_set -= view.clear_range(bits);
                }
            }
        }
    }

    /// The next resync request from bit `from` (see [`Bits::resync_request`]): sector and bytes,
    /// cut at the device's end. The bitmap has exactly the device's bits, so every set bit is
    /// requested (a bit beyond the end, never requested, would restart the pass for ever).
    pub(crate) fn resync_request(&self, from: u64, max_bytes: u32) -> Option<(u64, u32)> {
        let mut guard = self.ldev.lock();
        let io = guard.as_mut()?;
        let nbits = io.bits;
        let view = Bits::new(io.bitmap.as_mut_slice(), nbits).ok()?;
        let (first, n) = view.resync_request(from, max_bytes)?;
        let sector = first * SECT_PER_BIT;
        let end = ((first + n) * SECT_PER_BIT).min(io.sectors);
        let bytes = u32::try_from(end.checked_sub(sector)? << 9).ok()?;
        Some((sector, bytes))
    }

    /// Bits of the bitmap (0 while Diskless).
    pub(crate) fn bitmap_bits(&self) -> u64 {
        self.ldev.lock().as_ref().map_or(0, |io| io.bits)
    }

    /// Runs `f` on the bitmap's words, while attached.
    pub(crate) fn with_bitmap_words<R>(&self, f: impl FnOnce(&[u64]) -> R) -> Option<R> {
        let guard = self.ldev.lock();
        guard.as_ref().map(|io| f(io.bitmap.as_slice()))
    }

    /// ORs a bitmap packet of the peer into the bitmap, while attached.
    pub(crate) fn receive_bitmap(
        &self,
        rx: &mut bitmap_codec::Receiver,
        kind: bitmap_codec::Kind,
        payload: &[u8],
    ) -> Option<Result<bitmap_codec::Progress, bitmap_codec::XferError>> {
        let mut guard = self.ldev.lock();
        let io = guard.as_mut()?;
        let nbits = io.bits;
        let mut view = Bits::new(io.bitmap.as_mut_slice(), nbits).ok()?;
        let before = rx.newly_set();
        let r = rx.receive(kind, payload, &mut view);
        io.bits_set += rx.newly_set().saturating_sub(before);
        Some(r)
    }

    /// Bits set in the bitmap (0 while Diskless).
    pub(crate) fn bits_set(&self) -> u64 {
        self.ldev.lock().as_ref().map_or(0, |io| io.bits_set)
    }

    /// `bytes` of resync data sent to the peer (`/proc/drbd` ns, as C counts it).
    pub(crate) fn count_sent(&self, bytes: u32) {
        self.net_sent_sectors
            .fetch_add(bytes >> 9, Ordering::Relaxed);
    }

    /// A peer write whose ack we owe came (`true`) or is done with.
    pub(crate) fn unacked(&self, owed: bool) {
        if owed {
            self.unacked.fetch_add(1, Ordering::AcqRel);
        } else {
            self.unacked.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// `bytes` received from the peer (`nr:`).
    pub(crate) fn count_received(&self, bytes: u32) {
        self.net_recv_sectors
            .fetch_add(bytes >> 9, Ordering::Relaxed);
    }

    /// `bytes` received and written for the peer, resync data or the peer's own write: they
    /// count in `nr:` and `dw:`, as C counts them.
    pub(crate) fn count_peer_write(&self, bytes: u32, resync: bool) {
        self.count_received(bytes);
        self.write_sectors.fetch_add(bytes >> 9, Ordering::Relaxed);
        if resync {
            self.resync_sectors.fetch_add(bytes >> 9, Ordering::Relaxed);
        }
    }

    /// `bytes` read for the peer (`dr:`): for a resync or verify, or a Diskless peer's read.
    pub(crate) fn count_peer_read(&self, bytes: u32, resync: bool) {
        self.read_sectors.fetch_add(bytes >> 9, Ordering::Relaxed);
        if resync {
            self.resync_sectors.fetch_add(bytes >> 9, Ordering::Relaxed);
        }
    }

    /// Sectors of application I/O so far, wrapping: what the backing disk read and wrote for
    /// this device, less a resync's or verify's (C: the backing disk's sectors less
    /// `rs_sect_ev`).
    pub(crate) fn app_sectors(&self) -> u32 {
        self.read_sectors
            .load(Ordering::Relaxed)
            .wrapping_add(self.write_sectors.load(Ordering::Relaxed))
            .wrapping_sub(self.resync_sectors.load(Ordering::Relaxed))
    }

    /// drbd_al_begin_io(): takes a reference on each of `ext`, making them active first with a
    /// transaction if they are not: the bitmap pages of the extents it evicts are written, then
    /// the transaction, before the write may go ahead. Waits while the active set has no room
    /// or another transaction is under way. Returns whether references were taken (not while
    /// Diskless, with the log suspended, or after a meta data write error, which detaches the
    /// disk); `Err` if the log cannot take the extents.
    fn al_begin<'a>(
        &'a self,
        mut guard: IoGuard<'a>,
        ext: RangeInclusive<u32>,
    ) -> (IoGuard<'a>, Result<bool, ()>) {
        loop {
            let Some(io) = guard.as_mut() else {
                return (guard, Ok(false));
            };
            if io.al_suspended || self.disk_failed() {
                return (guard, Ok(false));
            }
            let plan = match io.al.prepare(ext.clone()) {
                Ok(Prepared::Hot) => return (guard, Ok(true)),
                Ok(Prepared::Busy) => {
                    self.al_wait.wait(&mut guard);
                    continue;
                }
                Ok(Prepared::Transaction(plan)) => plan,
                Err(e) => {
                    if ratelimit() {
                        pr_err!("activity log: {}\n", e);
                    }
                    return (guard, Err(()));
                }
            };
            // Only the holder of the one prepared plan uses the buffers.
            let Some(mut bufs) = io.al_bufs.take() else {
                // the log is being initialized (a resize): this transaction comes after
                let _ = io.al.cancel(plan);
                self.al_wait.wait(&mut guard);
                continue;
            };
            let md = io.md.clone();
            let layout = io.layout;
            let logged = io.al_updates;
            let b = &mut *bufs;
            let mut written = io.al.transaction(&plan, &mut b.tr).is_ok();
            let mut md_failed = false;
            b.tr.encode(&mut b.block);
            // The bitmap pages of the evicted extents go first (drbd_bm_write_hinted()); a
            // request of at most 1 MiB evicts at most two. Without al-updates nothing is written.
            let mut pages = [u64::MAX; 2];
            if logged {
                for (slot, enr) in pages.iter_mut().zip(io.al.evicted(&plan)) {
                    *slot = bit_to_page(al_extent_bits(enr).start);
                }
                written &= io.al.evicted(&plan).nth(2).is_none();
            }
            if pages[0] == pages[1] {
                pages[1] = u64::MAX;
            }
            // The I/O goes without the lock; the plan keeps the slots it changes. A detach
            // may take the disk meanwhile.
            for page in pages {
                if !written || page == u64::MAX {
                    continue;
                }
                let Some(io) = guard.as_mut() else { break };
                let bits = io.bits;
                let Ok(view) = Bits::new(io.bitmap.as_mut_slice(), bits) else {
                    continue;
                };
                if view.store_le(page, &mut bufs.page).is_err() {
                    continue;
                }
                let sector = bitmap_start(&layout) + page * (PAGE_BYTES as u64 / 512);
                (guard, written) = self.md_write(guard, &md, sector, &bufs.page);
                md_failed |= !written;
            }
            if written && logged {
                let at = layout.al_start()
                    + al_tr_number_to_on_disk_sector(
                        bufs.tr.tr_number,
                        layout.al_stripes,
                        layout.al_stripe_size_4k,
                    );
                (guard, written) = self.md_write(guard, &md, at, &bufs.block);
                md_failed |= !written;
            }
            let Some(io) = guard.as_mut() else {
                // detached meanwhile: the write goes on as a Diskless device's
                return (guard, Ok(false));
            };
            io.al_bufs = Some(bufs);
            let committed = if !written {
                let _ = io.al.cancel(plan);
                false
            } else if logged {
                io.al_writes = io.al_writes.wrapping_add(1);
                io.al.commit(plan).is_ok()
            } else {
                io.al.commit_unlogged(plan).is_ok()
            };
            self.al_wait.notify_all();
            if md_failed {
                // the disk is detached for it; the write goes on unlogged (C submits it all the
                // same): the peer may take it
                pr_err!("activity log: meta data write failed\n");
                self.local_error(io_error::META);
                return (guard, Ok(false));
            }
            if !committed {
                pr_err!("activity log: transaction not committed, failing the write\n");
                return (guard, Err(()));
            }
            return (guard, Ok(true));
        }
    }
}

/// The lock of a device's I/O state, held.
pub(super) type IoGuard<'a> = Guard<'a, Option<KBox<IoLdev>>, IrqSpinLockBackend>;

/// The activity log's I/O buffers, one set per attached disk, on the heap (4 KiB frames would
/// not do on kernel stacks).
pub(crate) struct AlBufs {
    pub(crate) tr: Transaction,
    pub(crate) block: [u8; AL_TRANSACTION_BYTES],
    pub(crate) page: [u8; PAGE_BYTES],
}

impl AlBufs {
    pub(crate) fn new() -> Result<KBox<Self>> {
        KBox::init(kernel::init::zeroed(), GFP_KERNEL)
    }
}

/// The part of an attached disk the data path uses.
pub(crate) struct IoLdev {
    /// The backing device the requests go to.
    pub(crate) data: Arc<Bdev>,
    /// The meta data device (the same device as `data` for internal meta data).
    pub(crate) md: Arc<Bdev>,
    pub(crate) layout: Layout,
    /// The bitmap: one bit per 4 KiB of the device, set where the peer's copy may differ.
    pub(crate) bitmap: KVVec<u64>,
    /// Bits of the bitmap in use: the device size in 4 KiB blocks.
    pub(crate) bits: u64,
    /// The device size in sectors: what the peer may write to (the meta data lies beyond).
    pub(crate) sectors: u64,
    /// Bits set, kept up to date with every change (C: `bm_set`).
    pub(crate) bits_set: u64,
    /// Activity log transactions written (`al_writ_cnt`).
    pub(crate) al_writes: u32,
    /// The activity log is suspended: everything is out of sync anyway.
    pub(crate) al_suspended: bool,
    /// `al-updates`: transactions are written (else the active set is only kept in memory).
    pub(crate) al_updates: bool,
    /// The active set (`act_log`), `al-extents` slots.
    pub(crate) al: ActLog<KVec<Slot>>,
    /// This attachment among all (a [`Claim`] leaves its slot in this one only).
    pub(crate) id: u64,
    /// The writes and resync requests in flight, for the writes that overlap them to wait.
    pub(crate) writes: InFlight<KVec<conflict::Range>>,
    /// Free while no transaction is under way.
    pub(crate) al_bufs: Option<KBox<AlBufs>>,
}

/// A slot in the table of writes in flight, held by something other than a write of ours: a
/// SyncTarget's resync request (C: a resync extent), from before it is sent until its answer is
/// written, or none will come, so that writes under it wait for the resync data; or, with two
/// Primaries, a peer write until its ack is sent. Dropping it (from any context) lets the
/// writes it holds up go.
pub(crate) struct Claim {
    pub(crate) io: Arc<DevIo>,
    /// The [`IoLdev::id`] of the disk it was taken on: a disk attached since has its own table.
    pub(super) ldev: u64,
    pub(super) slot: u16,
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Some(io) = self.io.ldev.lock().as_mut().filter(|io| io.id == self.ldev) {
            io.writes.leave(self.slot);
        }
        self.io.al_wait.notify_all();
    }
}

impl IoLdev {
    /// Copies page `page` of the bitmap into `buf`, as it is on disk.
    pub(crate) fn store_bitmap_page(
        &mut self,
        page: u64,
        buf: &mut [u8; PAGE_BYTES],
    ) -> Result<(), RetCode> {
        let view = Bits::new(self.bitmap.as_mut_slice(), self.bits).map_err(|_| RetCode::NoMem)?;
        view.store_le(page, buf).map_err(|_| RetCode::IoMdDisk)
    }

    /// Whether every 4 KiB block `sectors` from `sector` touch is in sync.
    fn in_sync(&mut self, sector: u64, sectors: u64) -> bool {
        let Some(last) = sectors.checked_sub(1).and_then(|n| sector.checked_add(n)) else {
            return true;
        };
        let bits = sect_to_bit(sector)..(sect_to_bit(last) + 1).min(self.bits);
        Bits::new(self.bitmap.as_mut_slice(), self.bits)
            .is_ok_and(|view| view.count_range(bits) == 0)
    }

    /// Marks `sectors` from `sector` out of sync (drbd_set_out_of_sync()): every 4 KiB block
    /// they touch.
    pub(super) fn mark_out_of_sync(&mut self, sector: u64, sectors: u64) {
        let Some(last) = sectors.checked_sub(1).and_then(|n| sector.checked_add(n)) else {
            return;
        };
        let bits = sect_to_bit(sector)..sect_to_bit(last) + 1;
        if let Ok(mut view) = Bits::new(self.bitmap.as_mut_slice(), self.bits) {
            self.bits_set += view.set_range(bits.start..bits.end.min(self.bits));
        }
    }
}
