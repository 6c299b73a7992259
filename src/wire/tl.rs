// SPDX-License-Identifier: GPL-2.0
//! The transfer log of a Primary: the writes sent to the peer, grouped into epochs, until the
//! peer acknowledges their epoch's barrier.
//!
//! Each write gets a block id (the cookie the peer echoes in its acks) that names its slot and
//! a sequence number, so an ack a peer made up never reaches the wrong write. An epoch is closed
//! when one of its writes completes to the upper layer, or when it holds `max-epoch-size`
//! writes; the next write (or the idle sender) then sends a P_BARRIER with the epoch's number,
//! and the peer's P_BARRIER_ACK must name the oldest open barrier and the number of writes in
//! its epoch, as tl_release() checks.
//!
//! The reads a peer serves for us ([`Reads`]) are kept apart: they belong to no epoch.
//!
//! C counterpart: the transfer log of drbd_req.c/drbd_main.c (start_new_tl_epoch(),
//! maybe_send_barrier(), tl_release(), tl_clear()) and the request lookup of got_BlockAck()
//! and receive_DataReply().

use core::fmt;
use core::ops::DerefMut;

/// A write in the log.
pub(crate) struct Write<H> {
    /// Its block id on the wire.
    pub(crate) id: u64,
    pub(crate) epoch: u32,
    /// The volume written to.
    pub(crate) volume: u32,
    pub(crate) sector: u64,
    /// Bytes.
    pub(crate) size: u32,
    /// What completes the write for the upper layer once the peer acknowledged it (per the
    /// protocol); `None` once released.
    pub(crate) hold: Option<H>,
    /// When it entered the log (the caller's clock, jiffies in the kernel).
    pub(crate) started: u64,
    /// Two Primaries: the peer did not write it (see [`Conflict`]).
    pub(crate) conflict: Option<Conflict>,
    /// The slot of the write started after it ([`NONE`] for the newest).
    next: usize,
}

/// No slot: the end of the log's list of writes.
const NONE: usize = usize::MAX;

/// Why the peer did not write a write of ours (two Primaries).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Conflict {
    /// P_SUPERSEDED: its own write covers ours. Counted in the epoch's barrier ack unless only
    /// superseded writes (or retried ones) come before it in its epoch: the C module's
    /// tl_release() looks for the first write it has not done with, and superseded ones are.
    Superseded,
    /// P_RETRY_WRITE: to be done again, as a new write (the C module takes it out of its log):
    /// never counted.
    Retried,
}

/// A slot of the log's storage.
pub(crate) type Slot<H> = Option<Write<H>>;

/// Why an ack does not fit the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TlError {
    /// The block id names no write in the log (or one already acknowledged).
    UnknownBlock { block_id: u64, sector: u64 },
    /// A barrier ack for another barrier than the oldest one sent.
    BarrierNumber { got: u32, expected: u32 },
    /// A barrier ack whose write count is not that of its epoch.
    BarrierSize {
        barrier: u32,
        got: u32,
        expected: u32,
    },
}

impl fmt::Display for TlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            TlError::UnknownBlock { block_id, sector } => write!(
                f,
                "ack for an unknown request (block_id {:#x}, sector {})",
                block_id, sector
            ),
            TlError::BarrierNumber { got, expected } => write!(
                f,
                "BAD! BarrierAck #{} received, expected #{}!",
                got, expected
            ),
            TlError::BarrierSize {
                barrier,
                got,
                expected,
            } => write!(
                f,
                "BAD! BarrierAck #{} received with n_writes={}, expected n_writes={}!",
                barrier, got, expected
            ),
        }
    }
}

/// A write entered into the log, to be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Started {
    pub(crate) block_id: u64,
    /// Its P_DATA sequence number.
    pub(crate) seq_num: u32,
    /// A P_BARRIER with this number goes first: it closes the previous epoch.
    pub(crate) barrier: Option<u32>,
}

/// What request_timer_fn() finds about the oldest write in the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Overdue {
    /// The peer has not acknowledged the write for `age` (RQ_NET_PENDING).
    Ack { age: u64 },
    /// The write is acknowledged, but the barrier of its epoch, sent `age` ago, is not.
    BarrierAck { age: u64 },
}

/// The log, in the caller's storage (its length bounds the writes in flight).
pub(crate) struct TransferLog<H, S> {
    slots: S,
    /// The epoch new writes join, and how many it holds.
    current: u32,
    current_writes: u32,
    /// The current epoch takes no more writes: its barrier goes before the next one.
    closed: bool,
    /// The oldest barrier sent and not yet acknowledged; `current` when none is.
    oldest: u32,
    max_epoch_size: u32,
    seq: u32,
    used: usize,
    /// Sectors in the log, of all volumes.
    sectors: u64,
    /// Where the search for a free slot starts.
    hint: usize,
    /// The writes in the order they started, oldest first, linked through their slots. Epochs
    /// only grow along it, and leave it from its head: a barrier ack looks at its epoch's
    /// writes only.
    head: usize,
    tail: usize,
    /// When the last barrier was taken to be sent.
    barrier_at: u64,
    _hold: core::marker::PhantomData<H>,
}

impl<H, S: DerefMut<Target = [Slot<H>]>> TransferLog<H, S> {
    /// An empty log in `slots` (all `None`), numbering epochs from `first_epoch`.
    pub(crate) fn new(slots: S, first_epoch: u32, max_epoch_size: u32) -> Self {
        Self {
            slots,
            current: first_epoch,
            current_writes: 0,
            closed: false,
            oldest: first_epoch,
            max_epoch_size: max_epoch_size.max(1),
            seq: 0,
            used: 0,
            sectors: 0,
            hint: 0,
            head: NONE,
            tail: NONE,
            barrier_at: 0,
            _hold: core::marker::PhantomData,
        }
    }

    /// Writes in the log.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.used
    }

    pub(crate) fn is_full(&self) -> bool {
        self.used == self.slots.len()
    }

    /// The epoch a new write would join.
    pub(crate) fn current_epoch(&self) -> u32 {
        self.current
    }

    /// Writes of `volume` the peer has not acknowledged yet (C: `ap_pending_cnt`).
    pub(crate) fn unacked(&self, volume: u32) -> usize {
        self.slots
            .iter()
            .flatten()
            .filter(|w| w.volume == volume && w.hold.is_some())
            .count()
    }

    /// Sectors sent and not yet on the peer's disk, of all volumes (see
    /// [`TransferLog::in_flight_sectors`]).
    pub(crate) fn in_flight_total(&self) -> u64 {
        self.sectors
    }

    /// Sectors of `volume` sent and not yet on the peer's disk: their epoch's barrier is not
    /// acknowledged (C: `ap_in_flight`, which a write leaves with RQ_NET_DONE).
    pub(crate) fn in_flight_sectors(&self, volume: u32) -> u64 {
        self.slots
            .iter()
            .flatten()
            .filter(|w| w.volume == volume)
            .map(|w| u64::from(w.size >> 9))
            .sum()
    }

    /// Enters a write at time `now` (`Err` gives the hold back when the log is full).
    pub(crate) fn start(
        &mut self,
        volume: u32,
        sector: u64,
        size: u32,
        hold: H,
        now: u64,
    ) -> Result<Started, H> {
        let n = self.slots.len();
        let Some(index) = (0..n)
            .map(|i| (self.hint + i) % n)
            .find(|&i| self.slots[i].is_none())
        else {
            return Err(hold);
        };
        let barrier = self.take_barrier(now);
        self.seq = self.seq.wrapping_add(1);
        let id = (u64::from(self.seq) << 32) | index as u64;
        self.slots[index] = Some(Write {
            id,
            epoch: self.current,
            volume,
            sector,
            size,
            hold: Some(hold),
            started: now,
            conflict: None,
            next: NONE,
        });
        match self.slots.get_mut(self.tail) {
            Some(Some(last)) => last.next = index,
            _ => self.head = index,
        }
        self.tail = index;
        self.used += 1;
        self.sectors += u64::from(size >> 9);
        self.hint = (index + 1) % n;
        self.current_writes += 1;
        if self.current_writes >= self.max_epoch_size {
            self.closed = true;
        }
        Ok(Started {
            block_id: id,
            seq_num: self.seq,
            barrier,
        })
    }

    /// Closes `epoch` if it is the current one (start_new_tl_epoch(), as a write of it
    /// completes to the upper layer).
    pub(crate) fn close(&mut self, epoch: u32) {
        if epoch == self.current && self.current_writes > 0 {
            self.closed = true;
        }
    }

    /// The barrier to send at `now`, if the current epoch is closed and has writes; the epoch
    /// after it becomes the current one.
    pub(crate) fn take_barrier(&mut self, now: u64) -> Option<u32> {
        if !self.closed || self.current_writes == 0 {
            return None;
        }
        self.barrier_at = now;
        let nr = self.current;
        self.current = self.current.wrapping_add(1);
        self.current_writes = 0;
        self.closed = false;
        Some(nr)
    }

    /// The write an ack names: its slot, if the id and sector are those of a write in the log.
    fn find(&mut self, block_id: u64, sector: u64) -> Result<&mut Write<H>, TlError> {
        let index = (block_id & 0xffff_ffff) as usize;
        match self.slots.get_mut(index) {
            Some(Some(w)) if w.id == block_id && w.sector == sector => Ok(w),
            _ => Err(TlError::UnknownBlock { block_id, sector }),
        }
    }

    /// An ack of a write (P_RECV_ACK, P_WRITE_ACK; P_NEG_ACK: the peer failed to write it, out
    /// of sync from now on; P_RETRY_WRITE: to be done again), which stays in its epoch, whose
    /// barrier ack still counts it: the write's range (volume, sector, bytes) and its hold, the
    /// first time (`None` for a repeated ack).
    pub(crate) fn take(
        &mut self,
        block_id: u64,
        sector: u64,
    ) -> Result<(u32, u64, u32, Option<H>), TlError> {
        let w = self.find(block_id, sector)?;
        Ok((w.volume, w.sector, w.size, w.hold.take()))
    }

    /// P_SUPERSEDED or P_RETRY_WRITE (`why`): as [`TransferLog::take`], and the write counts
    /// in its epoch as [`Conflict`] says.
    pub(crate) fn conflicted(
        &mut self,
        block_id: u64,
        sector: u64,
        why: Conflict,
    ) -> Result<(u32, u64, u32, Option<H>), TlError> {
        let w = self.find(block_id, sector)?;
        w.conflict = Some(why);
        Ok((w.volume, w.sector, w.size, w.hold.take()))
    }

    /// The epoch of a write in the log.
    pub(crate) fn epoch_of(&mut self, block_id: u64, sector: u64) -> Result<u32, TlError> {
        Ok(self.find(block_id, sector)?.epoch)
    }

    /// P_BARRIER_ACK: the oldest epoch is on the peer's stable storage; its writes leave the
    /// log (`release` gets the holds still held).
    pub(crate) fn barrier_acked(
        &mut self,
        barrier: u32,
        set_size: u32,
        mut release: impl FnMut(H),
    ) -> Result<(), TlError> {
        // an epoch that counts no write (all superseded or to be done again) has nothing on
        // the peer's disk: its ack may not come (the C module sends none), the next one's does
        // for it
        while barrier != self.oldest
            && self.oldest != self.current
            && self.oldest_writes().next().is_some()
            && self.expected() == 0
        {
            self.drop_oldest(&mut release);
            self.oldest = self.oldest.wrapping_add(1);
        }
        // only barriers sent can be acknowledged: oldest..current
        if barrier != self.oldest || self.oldest == self.current {
            return Err(TlError::BarrierNumber {
                got: barrier,
                expected: self.oldest,
            });
        }
        let count = self.expected();
        if count != set_size {
            return Err(TlError::BarrierSize {
                barrier,
                got: set_size,
                expected: count,
            });
        }
        self.drop_oldest(&mut release);
        self.oldest = self.oldest.wrapping_add(1);
        Ok(())
    }

    /// The writes of the oldest epoch in the log, as they started: the head of its list.
    fn oldest_writes(&self) -> impl Iterator<Item = &Write<H>> {
        let mut at = self.head;
        core::iter::from_fn(move || {
            let w = self.slots.get(at)?.as_ref()?;
            at = w.next;
            Some(w)
        })
        .take_while(|w| w.epoch == self.oldest)
    }

    /// The write count the barrier ack of the oldest epoch must name (see [`Conflict`]): its
    /// writes from the first one the peer wrote on (they started in sequence number order),
    /// but not those to be done again.
    fn expected(&self) -> u32 {
        let mut written = false;
        self.oldest_writes()
            .filter(|w| {
                written |= w.conflict.is_none();
                match w.conflict {
                    None => true,
                    Some(Conflict::Retried) => false,
                    Some(Conflict::Superseded) => written,
                }
            })
            .count() as u32
            * u32::from(written)
    }

    /// The writes of the oldest epoch leave the log (`release` gets the holds still held).
    fn drop_oldest(&mut self, release: &mut impl FnMut(H)) {
        while let Some(slot) = self.slots.get_mut(self.head) {
            if !slot.as_ref().is_some_and(|w| w.epoch == self.oldest) {
                break;
            }
            let Some(w) = slot.take() else {
                break;
            };
            self.head = w.next;
            self.sectors -= u64::from(w.size >> 9);
            self.used -= 1;
            if let Some(h) = w.hold {
                release(h);
            }
        }
        if self.head == NONE {
            self.tail = NONE;
        }
    }

    /// request_timer_fn() / net_timeout_reached(): whether the oldest write the peer has not
    /// acknowledged, or else the oldest write in the log, is older than `limit` at `now`, and
    /// why. A write whose barrier is not sent yet is the sender's to send, not the peer's fault.
    pub(crate) fn overdue(&self, now: u64, limit: u64) -> Option<Overdue> {
        let writes = || self.slots.iter().flatten();
        let oldest = writes()
            .filter(|w| w.hold.is_some())
            .min_by_key(|w| w.started)
            .or_else(|| writes().min_by_key(|w| w.started))?;
        let age = now.saturating_sub(oldest.started);
        if age <= limit {
            return None;
        }
        if oldest.hold.is_some() {
            return Some(Overdue::Ack { age });
        }
        let barrier_age = now.saturating_sub(self.barrier_at);
        (oldest.epoch != self.current && barrier_age > limit)
            .then_some(Overdue::BarrierAck { age: barrier_age })
    }

    /// The connection is gone (tl_clear()): every write still in the log is handed to `f`
    /// (volume, sector, bytes: its blocks are out of sync with the peer) with its hold, if
    /// still held; but not a write the peer superseded (its own covers it on both disks) or
    /// asked for again (done again, or failed, elsewhere). The epochs go on after the current
    /// one.
    pub(crate) fn clear(&mut self, mut f: impl FnMut(u32, u64, u32, Option<H>)) {
        for slot in self.slots.iter_mut() {
            if let Some(w) = slot.take().filter(|w| w.conflict.is_none()) {
                f(w.volume, w.sector, w.size, w.hold);
            }
        }
        self.used = 0;
        self.sectors = 0;
        self.head = NONE;
        self.tail = NONE;
        self.current = self.current.wrapping_add(1);
        self.current_writes = 0;
        self.closed = false;
        self.oldest = self.current;
    }
}

/// A read the peer serves for us (P_DATA_REQUEST), until its P_DATA_REPLY or P_NEG_DREPLY.
pub(crate) struct Read<H> {
    id: u64,
    volume: u32,
    sector: u64,
    size: u32,
    /// What the reply fills and ends.
    hold: H,
}

/// The reads in flight to the peer (C: `read_requests`), in the caller's storage. Block ids are
/// made as the transfer log makes them (a slot and a sequence number), so that a reply the peer
/// made up finds no read.
pub(crate) struct Reads<H, S> {
    slots: S,
    seq: u32,
    hint: usize,
    _hold: core::marker::PhantomData<H>,
}

impl<H, S: DerefMut<Target = [Option<Read<H>>]>> Reads<H, S> {
    /// No reads, in `slots` (all `None`).
    pub(crate) fn new(slots: S) -> Self {
        Self {
            slots,
            seq: 0,
            hint: 0,
            _hold: core::marker::PhantomData,
        }
    }

    /// Enters a read of `size` bytes from `sector` of `volume`: its block id (`Err` gives the
    /// hold back when every slot is taken).
    pub(crate) fn start(&mut self, volume: u32, sector: u64, size: u32, hold: H) -> Result<u64, H> {
        let n = self.slots.len();
        let hint = self.hint.min(n);
        let Some(index) = (hint..n)
            .chain(0..hint)
            .find(|&i| self.slots.get(i).is_some_and(Option::is_none))
        else {
            return Err(hold);
        };
        self.seq = self.seq.wrapping_add(1);
        let id = (u64::from(self.seq) << 32) | index as u64;
        self.slots[index] = Some(Read {
            id,
            volume,
            sector,
            size,
            hold,
        });
        self.hint = index + 1;
        Ok(id)
    }

    /// The reply to a read (find_request() of receive_DataReply() and got_NegDReply()): the
    /// read's size and hold, taken out, if the block id, volume and sector are a read's.
    pub(crate) fn take(
        &mut self,
        volume: u32,
        block_id: u64,
        sector: u64,
    ) -> Result<(u32, H), TlError> {
        let index = (block_id & 0xffff_ffff) as usize;
        let slot = self
            .slots
            .get_mut(index)
            .filter(|s| {
                s.as_ref()
                    .is_some_and(|r| r.id == block_id && r.volume == volume && r.sector == sector)
            })
            .ok_or(TlError::UnknownBlock { block_id, sector })?;
        let r = slot
            .take()
            .ok_or(TlError::UnknownBlock { block_id, sector })?;
        Ok((r.size, r.hold))
    }

    /// Reads of `volume` in flight.
    pub(crate) fn in_flight(&self, volume: u32) -> usize {
        self.slots
            .iter()
            .flatten()
            .filter(|r| r.volume == volume)
            .count()
    }

    /// Takes out a read in flight, any (the connection is gone: each fails).
    pub(crate) fn pop(&mut self) -> Option<H> {
        self.slots
            .iter_mut()
            .find_map(|slot| slot.take())
            .map(|r| r.hold)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;
    use std::vec::Vec;

    fn log(n: usize, max_epoch: u32) -> TransferLog<u32, Vec<Slot<u32>>> {
        TransferLog::new((0..n).map(|_| None).collect(), 7, max_epoch)
    }

    #[test]
    fn barrier_acks_release_writes_in_start_order_across_reused_slots() {
        // epochs of two writes; six slots, reused out of order
        let mut tl = log(6, 2);
        let ids: Vec<u64> = (0..4)
            .map(|i| tl.start(0, i * 8, 4096, i as u32, 0).unwrap().block_id)
            .collect();
        let mut released = vec![];
        assert_eq!(tl.barrier_acked(7, 2, |h| released.push(h)), Ok(()));
        assert_eq!(released, [0, 1]);
        // epoch 9 takes slots 4 and 5, epoch 10 slot 0
        let late: Vec<u64> = (4..7)
            .map(|i| tl.start(0, i * 8, 4096, i as u32, 0).unwrap().block_id)
            .collect();
        assert_eq!(late[2] & 0xffff_ffff, 0);
        released.clear();
        assert_eq!(tl.barrier_acked(8, 2, |h| released.push(h)), Ok(()));
        assert_eq!(released, [2, 3]);
        assert_eq!(tl.epoch_of(late[2], 48), Ok(10));
        assert!(tl.epoch_of(ids[0], 0).is_err());
        released.clear();
        assert_eq!(tl.barrier_acked(9, 2, |h| released.push(h)), Ok(()));
        assert_eq!(released, [4, 5]);
        // epoch 10 holds the third late write, and nothing is left after its ack
        tl.close(10);
        assert_eq!(tl.take_barrier(0), Some(10));
        assert_eq!(tl.barrier_acked(10, 1, |h| released.push(h)), Ok(()));
        assert_eq!((tl.len(), released.last()), (0, Some(&6)));
    }

    #[test]
    fn a_neg_ack_names_the_range_ours_not_the_peers() {
        let mut tl = log(8, 100);
        let a = tl.start(3, 64, 8192, 1, 0).unwrap();
        assert_eq!(tl.take(a.block_id, 64), Ok((3, 64, 8192, Some(1))));
        // once released, a second ack finds the write but no hold
        assert_eq!(tl.take(a.block_id, 64), Ok((3, 64, 8192, None)));
        assert!(tl.take(a.block_id, 65).is_err());
        assert!(tl.take(a.block_id ^ (1 << 40), 64).is_err());
        assert_eq!(tl.len(), 1);
    }

    #[test]
    fn writes_join_the_current_epoch_until_it_closes() {
        let mut tl = log(8, 100);
        let a = tl.start(0, 0, 4096, 1, 0).unwrap();
        let b = tl.start(0, 8, 4096, 2, 0).unwrap();
        assert_eq!((a.barrier, b.barrier), (None, None));
        assert_ne!(a.block_id, b.block_id);
        tl.close(7);
        let c = tl.start(0, 16, 4096, 3, 0).unwrap();
        assert_eq!(c.barrier, Some(7));
        assert_eq!(tl.current_epoch(), 8);
        // closing an old epoch does nothing
        tl.close(7);
        assert_eq!(tl.take_barrier(0), None);
    }

    #[test]
    fn overdue_as_net_timeout_reached() {
        let mut tl = log(8, 100);
        assert_eq!(tl.overdue(1000, 10), None);
        let a = tl.start(0, 0, 4096, 1, 100).unwrap();
        tl.start(0, 8, 4096, 2, 105).unwrap();
        assert_eq!(tl.overdue(110, 10), None);
        // the oldest write is not acknowledged
        assert_eq!(tl.overdue(111, 10), Some(Overdue::Ack { age: 11 }));
        // acknowledged, its barrier not sent: the sender's business
        tl.take(a.block_id, 0).map(|w| w.3).unwrap();
        assert_eq!(tl.overdue(111, 10), None);
        // the second write is acknowledged too; the barrier goes at 112
        let b = tl.start(0, 16, 4096, 3, 112);
        tl.close(7);
        assert_eq!(tl.take_barrier(112), Some(7));
        assert!(b.is_ok());
        assert_eq!(tl.overdue(122, 10), Some(Overdue::Ack { age: 17 }));
    }

    #[test]
    fn overdue_barrier_ack() {
        let mut tl = log(8, 100);
        let a = tl.start(0, 0, 4096, 1, 100).unwrap();
        tl.take(a.block_id, 0).map(|w| w.3).unwrap();
        tl.close(7);
        assert_eq!(tl.take_barrier(200), Some(7));
        // the write is old, the barrier young
        assert_eq!(tl.overdue(205, 10), None);
        assert_eq!(tl.overdue(211, 10), Some(Overdue::BarrierAck { age: 11 }));
        tl.barrier_acked(7, 1, |_| {}).unwrap();
        assert_eq!(tl.overdue(1000, 10), None);
    }

    #[test]
    fn max_epoch_size_closes_the_epoch() {
        let mut tl = log(8, 2);
        tl.start(0, 0, 512, 1, 0).unwrap();
        tl.start(0, 1, 512, 2, 0).unwrap();
        assert_eq!(tl.start(0, 2, 512, 3, 0).unwrap().barrier, Some(7));
    }

    #[test]
    fn unacked_counts_the_writes_still_held() {
        let mut tl = log(4, 100);
        let a = tl.start(0, 0, 4096, 1, 0).unwrap();
        tl.start(0, 8, 4096, 2, 0).unwrap();
        tl.start(1, 0, 4096, 3, 0).unwrap();
        assert_eq!((tl.unacked(0), tl.unacked(1)), (2, 1));
        assert_eq!(tl.take(a.block_id, 0).map(|w| w.3), Ok(Some(1)));
        assert_eq!((tl.unacked(0), tl.unacked(1)), (1, 1));
        // acknowledged, it is still in flight until its barrier is
        assert_eq!((tl.in_flight_sectors(0), tl.in_flight_sectors(1)), (16, 8));
        assert_eq!(tl.in_flight_total(), 24);
        let epoch = tl.current_epoch();
        tl.close(epoch);
        let nr = tl.take_barrier(0).unwrap();
        tl.barrier_acked(nr, 3, |_| {}).unwrap();
        assert_eq!((tl.in_flight_sectors(0), tl.in_flight_sectors(1)), (0, 0));
        assert_eq!(tl.in_flight_total(), 0);
    }

    #[test]
    fn acks_release_holds_once_and_check_the_block() {
        let mut tl = log(4, 100);
        let a = tl.start(0, 40, 4096, 11, 0).unwrap();
        assert_eq!(tl.take(a.block_id, 40).map(|w| w.3), Ok(Some(11)));
        assert_eq!(tl.take(a.block_id, 40).map(|w| w.3), Ok(None));
        assert!(tl.take(a.block_id, 41).map(|w| w.3).is_err());
        assert!(tl.take(a.block_id ^ (1 << 40), 40).map(|w| w.3).is_err());
        assert!(tl.take(u64::MAX, 40).map(|w| w.3).is_err());
        assert!(tl.take(3, 0).map(|w| w.3).is_err());
    }

    #[test]
    fn barrier_ack_checks_number_and_size_and_frees_the_epoch() {
        let mut tl = log(4, 100);
        let a = tl.start(0, 0, 4096, 1, 0).unwrap();
        tl.start(0, 8, 4096, 2, 0).unwrap();
        // nothing sent yet: no barrier can be acknowledged
        assert!(tl.barrier_acked(7, 2, |_| {}).is_err());
        tl.close(7);
        assert_eq!(tl.take_barrier(0), Some(7));
        tl.start(0, 16, 4096, 3, 0).unwrap();
        assert_eq!(
            tl.barrier_acked(8, 1, |_| {}),
            Err(TlError::BarrierNumber {
                got: 8,
                expected: 7
            })
        );
        assert_eq!(
            tl.barrier_acked(7, 3, |_| {}),
            Err(TlError::BarrierSize {
                barrier: 7,
                got: 3,
                expected: 2
            })
        );
        assert_eq!(tl.take(a.block_id, 0).map(|w| w.3), Ok(Some(1)));
        let mut released = vec![];
        tl.barrier_acked(7, 2, |h| released.push(h)).unwrap();
        assert_eq!(released, vec![2]);
        assert_eq!(tl.len(), 1);
        assert!(tl.take(a.block_id, 0).map(|w| w.3).is_err());
    }

    #[test]
    fn a_full_log_refuses_and_slots_are_reused() {
        let mut tl = log(2, 100);
        tl.start(0, 0, 512, 1, 0).unwrap();
        tl.start(0, 1, 512, 2, 0).unwrap();
        assert!(tl.is_full());
        assert_eq!(tl.start(0, 2, 512, 3, 0), Err(3));
        tl.close(7);
        assert_eq!(tl.take_barrier(0), Some(7));
        tl.barrier_acked(7, 2, |_| {}).unwrap();
        let c = tl.start(0, 2, 512, 3, 0).unwrap();
        assert!(tl.take(c.block_id, 2).map(|w| w.3).is_ok());
    }

    #[test]
    fn clear_hands_back_every_write() {
        let mut tl = log(4, 100);
        let a = tl.start(0, 0, 4096, 1, 0).unwrap();
        tl.start(0, 8, 8192, 2, 0).unwrap();
        tl.take(a.block_id, 0).map(|w| w.3).unwrap();
        let mut seen = vec![];
        tl.clear(|_, s, n, h| seen.push((s, n, h)));
        seen.sort();
        assert_eq!(seen, vec![(0, 4096, None), (8, 8192, Some(2))]);
        assert_eq!(tl.len(), 0);
        assert!(tl.barrier_acked(7, 2, |_| {}).is_err());
        // epochs go on after the one cleared
        assert_eq!(tl.current_epoch(), 8);
    }

    #[test]
    fn reads_match_id_volume_and_sector_once() {
        let mut r: Reads<u32, Vec<Option<Read<u32>>>> = Reads::new((0..2).map(|_| None).collect());
        let a = r.start(1, 64, 4096, 10).unwrap();
        let b = r.start(1, 72, 512, 11).unwrap();
        assert_eq!(r.start(1, 80, 512, 12), Err(12));
        assert!(r.take(0, a, 64).is_err());
        assert!(r.take(1, a, 65).is_err());
        assert!(r.take(1, a ^ (1 << 40), 64).is_err());
        assert_eq!(r.take(1, a, 64), Ok((4096, 10)));
        assert!(r.take(1, a, 64).is_err());
        let c = r.start(1, 80, 512, 12).unwrap();
        assert_ne!(a, c);
        assert_eq!((r.in_flight(1), r.in_flight(0)), (2, 0));
        let mut left: Vec<u32> = core::iter::from_fn(|| r.pop()).collect();
        left.sort();
        assert_eq!(left, vec![11, 12]);
        assert!(r.take(1, b, 72).is_err());
    }

    #[test]
    fn random_acks_never_panic() {
        let mut tl = log(16, 3);
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for i in 0..20_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            match x % 5 {
                0 => {
                    let _ = tl.start(0, i, 512, i as u32, 0);
                }
                1 => {
                    let _ = tl.take(x >> 8, x & 0xff).map(|w| w.3);
                }
                2 => {
                    let _ = tl.barrier_acked((x >> 3) as u32 % 12, (x >> 40) as u32 % 4, |_| {});
                }
                3 => tl.close((x >> 5) as u32 % 12),
                _ => {
                    let _ = tl.take_barrier(0);
                }
            }
            assert!(tl.len() <= 16);
        }
    }

    #[test]
    fn writes_the_peer_did_not_write_are_counted_as_c_counts_them() {
        let mut tl = log(8, 100);
        // epoch 7: a superseded write alone; epoch 8: superseded, written, retried,
        // superseded
        let a = tl.start(0, 0, 4096, 1, 0).unwrap();
        tl.close(7);
        let b = tl.start(0, 8, 4096, 2, 0).unwrap();
        assert_eq!(b.barrier, Some(7));
        let c = tl.start(0, 16, 4096, 3, 0).unwrap();
        let d = tl.start(0, 24, 4096, 4, 0).unwrap();
        let e = tl.start(0, 32, 4096, 5, 0).unwrap();
        tl.close(8);
        let f = tl.start(0, 40, 4096, 6, 0).unwrap();
        assert_eq!(f.barrier, Some(8));
        let superseded = Conflict::Superseded;
        assert_eq!(
            tl.conflicted(a.block_id, 0, superseded),
            Ok((0, 0, 4096, Some(1)))
        );
        tl.conflicted(b.block_id, 8, superseded).unwrap();
        assert_eq!(tl.take(c.block_id, 16).map(|w| w.3), Ok(Some(3)));
        tl.conflicted(d.block_id, 24, Conflict::Retried).unwrap();
        tl.conflicted(e.block_id, 32, superseded).unwrap();
        // no ack for epoch 7; epoch 8 counts the written write and the superseded one after
        // it, not the leading superseded one nor the retried one
        assert_eq!(
            tl.barrier_acked(8, 4, |_| {}),
            Err(TlError::BarrierSize {
                barrier: 8,
                got: 4,
                expected: 2
            })
        );
        let mut released = Vec::new();
        tl.barrier_acked(8, 2, |h| released.push(h)).unwrap();
        assert!(released.is_empty());
        assert_eq!(tl.len(), 1);
        // an epoch with a write the peer wrote is never skipped
        tl.close(9);
        let g = tl.start(0, 48, 4096, 7, 0).unwrap();
        assert_eq!(g.barrier, Some(9));
        assert!(tl.barrier_acked(10, 1, |_| {}).is_err());
        // and a superseded write is not out of sync when the connection goes
        tl.conflicted(g.block_id, 48, superseded).unwrap();
        let mut seen = Vec::new();
        tl.clear(|_, s, _, _| seen.push(s));
        assert_eq!(seen, [40]);
    }
}
