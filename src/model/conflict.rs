// SPDX-License-Identifier: GPL-2.0
//! Conflicting writes: a write that overlaps one still in flight waits until that one has
//! completed, locally and on the peer, before it goes anywhere. Two overlapping writes in
//! flight at once could reach the local disk in one order and the peer's in the other, and the
//! replicas would differ where they overlap. A SyncTarget's resync requests are in the same
//! table, from before they are sent until their answer is written: a write waits for the
//! resync data under it, and a resync request for a write under it to be done, so that the
//! SyncSource reads that write's data (C's resync extents, drbd_try_rs_begin_io(), at the
//! granularity of requests).
//!
//! With two Primaries the peer's writes are in the table too, from their arrival until their
//! ack is sent, and a peer write that meets a write of ours in flight is resolved as C's
//! handle_write_conflicts() resolves it (see [`InFlight::peer_write`]): the node that resolves
//! conflicts answers P_SUPERSEDED (our write covers the peer's: it is not written) or
//! P_RETRY_WRITE (the peer is to write it again after ours); the other waits for its own
//! write's fate and writes the peer's after it, then does its postponed write again. The
//! sequence numbers of data packets and acks ([`seq_greater`]) let the resolving node see
//! the peer's acks before a data packet the peer sent after them.
//!
//! C counterpart: the `write_requests` interval tree of drbd_req.c (drbd_insert_interval(),
//! complete_conflicting_writes()), handle_write_conflicts() and wait_for_and_update_peer_seq()
//! of drbd_receiver.c. The writes in flight are few (the queue depth bounds ours, a table slot
//! each of the peer's), so a table searched in full does.

use core::ops::{DerefMut, RangeInclusive};

/// What occupies a slot of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A write of ours, in flight.
    Local,
    /// A write of ours the peer has acknowledged, its local part still at our disk: a peer
    /// write that overlaps it came after it, and waits for it.
    Acked,
    /// A write of ours the peer told us to do again (P_RETRY_WRITE, C: RQ_POSTPONED); it
    /// waits for the peer's write that conflicted with it.
    Postponed,
    /// A postponed write whose conflicting peer write is done: to be done again.
    Restart,
    /// A write of the peer (two Primaries only), until its ack is sent.
    Peer,
    /// A SyncTarget's resync request.
    Resync,
}

/// A slot in use: its first sector, the sector after its last, and what it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) kind: Kind,
}

/// A slot of the table.
pub(crate) type Range = Option<Entry>;

/// The writes in flight of a device, in the caller's storage (its length bounds them).
pub(crate) struct InFlight<S> {
    slots: S,
}

/// The range from `sector` of `sectors`, saturated at the end of the sector space.
fn range(sector: u64, sectors: u64) -> (u64, u64) {
    (sector, sector.saturating_add(sectors))
}

/// What a peer write that arrived while we are Primary too does about the writes in flight it
/// overlaps (handle_write_conflicts()).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PeerVerdict {
    /// Write it; `restart`: it overlaps postponed writes of ours, to be done again after it
    /// (C: EE_RESTART_REQUESTS).
    Write { restart: bool },
    /// Wait until the table changes: an earlier peer write is still in flight, or (not
    /// resolving) a write of ours whose fate the peer has not told yet, or whose local part
    /// is still at the disk.
    Wait,
    /// We resolve conflicts and a write of ours in flight (`local`: start, end) covers the
    /// peer's: it is not written; P_SUPERSEDED.
    Superseded { local: (u64, u64) },
    /// We resolve conflicts and a write of ours in flight overlaps the peer's without covering
    /// it: the peer is to write it again after ours; P_RETRY_WRITE.
    Retry { local: (u64, u64) },
}

impl<S: DerefMut<Target = [Range]>> InFlight<S> {
    /// An empty table in `slots` (all `None`).
    pub(crate) fn new(slots: S) -> Self {
        Self { slots }
    }

    /// The slots in use that overlap `sectors` from `sector`, but `except` (one of no sectors
    /// overlaps nothing).
    fn overlapping(
        &self,
        sector: u64,
        sectors: u64,
        except: Option<u16>,
    ) -> impl Iterator<Item = (u16, &Entry)> + '_ {
        let (start, end) = range(sector, sectors);
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, e)| Some((u16::try_from(i).ok()?, e.as_ref()?)))
            .filter(move |&(i, e)| {
                Some(i) != except && start < end && start < e.end && e.start < end
            })
    }

    /// Whether a write of `sectors` from `sector` overlaps one in flight (one of no sectors
    /// overlaps nothing).
    pub(crate) fn conflicts(&self, sector: u64, sectors: u64) -> bool {
        self.overlapping(sector, sectors, None).next().is_some()
    }

    /// Whether anything in flight but the write in `slot` overlaps it.
    pub(crate) fn others_overlap(&self, slot: u16) -> bool {
        match self.get(slot) {
            Some(e) => self
                .overlapping(e.start, e.end - e.start, Some(slot))
                .next()
                .is_some(),
            None => false,
        }
    }

    /// Whether a write overlaps the resync read in `slot` that the read must wait for: one of
    /// ours still in flight (its P_DATA may be on the wire ahead of the reply: the read must
    /// see its data), or a peer write not yet done. Postponed writes are not waited for: the
    /// peer write they wait for may come behind the resync request.
    pub(crate) fn read_waits(&self, slot: u16) -> bool {
        let Some(me) = self.get(slot) else {
            return false;
        };
        self.overlapping(me.start, me.end - me.start, Some(slot))
            .any(|(_, e)| matches!(e.kind, Kind::Local | Kind::Acked | Kind::Peer))
    }

    /// Enters a write of `kind` that conflicts with none in flight: its slot, to leave with;
    /// `None` if it conflicts or the table is full.
    pub(crate) fn enter(&mut self, sector: u64, sectors: u64, kind: Kind) -> Option<u16> {
        if self.conflicts(sector, sectors) {
            return None;
        }
        self.insert(sector, sectors, kind)
    }

    /// Enters a write of `kind` whatever it overlaps (a peer write, whose conflicts are
    /// resolved afterwards): its slot; `None` if the table is full.
    pub(crate) fn insert(&mut self, sector: u64, sectors: u64, kind: Kind) -> Option<u16> {
        let i = self.slots.iter().position(Option::is_none)?;
        let slot = u16::try_from(i).ok()?;
        let (start, end) = range(sector, sectors);
        self.slots[i] = Some(Entry { start, end, kind });
        Some(slot)
    }

    /// What `slot` holds.
    pub(crate) fn get(&self, slot: u16) -> Option<Entry> {
        *self.slots.get(usize::from(slot))?
    }

    /// The peer acknowledged our write in `slot` (see [`Kind::Acked`]).
    pub(crate) fn peer_acked(&mut self, slot: u16) {
        if let Some(Some(e)) = self.slots.get_mut(usize::from(slot)) {
            if e.kind == Kind::Local {
                e.kind = Kind::Acked;
            }
        }
    }

    /// Changes what `slot` holds, if it is in use.
    pub(crate) fn set_kind(&mut self, slot: u16, kind: Kind) {
        if let Some(Some(e)) = self.slots.get_mut(usize::from(slot)) {
            e.kind = kind;
        }
    }

    /// The postponed writes that overlap `sectors` from `sector` are to be done again (the
    /// peer write that conflicted with them is done: restart_conflicting_writes()).
    pub(crate) fn restart_postponed(&mut self, sector: u64, sectors: u64) -> bool {
        let (start, end) = range(sector, sectors);
        let mut any = false;
        for e in self.slots.iter_mut().flatten() {
            if e.kind == Kind::Postponed && start < end && start < e.end && e.start < end {
                e.kind = Kind::Restart;
                any = true;
            }
        }
        any
    }

    /// A slot whose write is to be done again, if any.
    pub(crate) fn first_restart(&self) -> Option<u16> {
        self.slots
            .iter()
            .position(|e| {
                matches!(
                    e,
                    Some(Entry {
                        kind: Kind::Restart,
                        ..
                    })
                )
            })
            .and_then(|i| u16::try_from(i).ok())
    }

    /// handle_write_conflicts(): what the peer write in `slot` does about the writes in flight
    /// it overlaps, when both nodes are Primary. `resolver`: we resolve conflicts
    /// (RESOLVE_CONFLICTS); `local_done(slot)`: the local part of our postponed write in
    /// `slot` completed. Resync requests are not waited for here: their answers come behind
    /// this write on the same socket.
    pub(crate) fn peer_write(
        &self,
        slot: u16,
        resolver: bool,
        local_done: impl Fn(u16) -> bool,
    ) -> PeerVerdict {
        let Some(me) = self.get(slot) else {
            return PeerVerdict::Write { restart: false };
        };
        let sectors = me.end - me.start;
        let mut restart = false;
        let overlapping = || self.overlapping(me.start, sectors, Some(slot));
        // an earlier peer write (not seen with two nodes): it completes on its own
        if overlapping().any(|(_, e)| e.kind == Kind::Peer) {
            return PeerVerdict::Wait;
        }
        for (i, e) in overlapping() {
            match e.kind {
                Kind::Peer | Kind::Resync => {}
                Kind::Acked => return PeerVerdict::Wait,
                Kind::Local | Kind::Postponed | Kind::Restart if resolver => {
                    let local = (e.start, e.end);
                    return if e.start <= me.start && me.end <= e.end {
                        PeerVerdict::Superseded { local }
                    } else {
                        PeerVerdict::Retry { local }
                    };
                }
                Kind::Local => return PeerVerdict::Wait,
                Kind::Postponed | Kind::Restart => {
                    if !local_done(i) {
                        return PeerVerdict::Wait;
                    }
                    restart = true;
                }
            }
        }
        PeerVerdict::Write { restart }
    }

    /// The write of `slot` completed: its range (first sector, end), if the slot held one.
    pub(crate) fn leave(&mut self, slot: u16) -> Option<(u64, u64)> {
        let e = self.slots.get_mut(usize::from(slot))?.take()?;
        Some((e.start, e.end))
    }

    /// Writes in flight.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.slots.iter().flatten().count()
    }
}

/// seq_greater(): whether sequence number `a` comes after `b`, with 32-bit wrap-around.
pub(crate) fn seq_greater(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// seq_max(): the later of two sequence numbers.
pub(crate) fn seq_max(a: u32, b: u32) -> u32 {
    if seq_greater(a, b) {
        a
    } else {
        b
    }
}

/// What the block layer's completion gets back of a forwarded request (a `u64`): the activity log extents it
/// holds references to (the first and how many follow it: a request spans at most 33 extents
/// of 4 MiB, a 128 MiB discard), its slot among the writes in flight, and whether it writes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Tag {
    pub(crate) ext: Option<RangeInclusive<u32>>,
    pub(crate) slot: Option<u16>,
    pub(crate) write: bool,
}

impl Tag {
    const EXT: u64 = 1 << 63;
    const SLOT: u64 = 1 << 62;
    const WRITE: u64 = 1 << 61;

    pub(crate) fn encode(&self) -> u64 {
        let mut tag = 0;
        if let Some(ext) = &self.ext {
            let more = ext.end().saturating_sub(*ext.start()).min(0xff);
            tag |= Self::EXT | u64::from(*ext.start()) | (u64::from(more) << 32);
        }
        if let Some(slot) = self.slot {
            tag |= Self::SLOT | (u64::from(slot) << 40);
        }
        if self.write {
            tag |= Self::WRITE;
        }
        tag
    }

    pub(crate) fn decode(tag: u64) -> Self {
        let first = tag as u32;
        let more = ((tag >> 32) & 0xff) as u32;
        Self {
            ext: (tag & Self::EXT != 0).then(|| first..=first.saturating_add(more)),
            slot: (tag & Self::SLOT != 0).then_some((tag >> 40) as u16),
            write: tag & Self::WRITE != 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn table(n: usize) -> InFlight<Vec<Range>> {
        InFlight::new((0..n).map(|_| None).collect())
    }

    #[test]
    fn a_resync_read_waits_for_writes_in_flight_under_it_and_holds_up_new_ones() {
        let mut t = table(6);
        let local = t.enter(0, 8, Kind::Local).unwrap();
        let peer = t.insert(16, 8, Kind::Peer).unwrap();
        let postponed = t.insert(32, 8, Kind::Postponed).unwrap();
        // a read of [4, 20) waits for our write and for the peer's
        let read = t.insert(4, 16, Kind::Resync).unwrap();
        assert!(t.read_waits(read));
        t.leave(local);
        assert!(t.read_waits(read));
        t.set_kind(peer, Kind::Acked);
        assert!(t.read_waits(read));
        t.leave(peer);
        assert!(!t.read_waits(read));
        // another resync read and a postponed write do not hold it up
        let other = t.insert(0, 40, Kind::Resync).unwrap();
        assert!(!t.read_waits(other));
        assert!(!t.read_waits(read));
        let _ = postponed;
        // a new write under a read waits for it
        assert_eq!(t.enter(8, 8, Kind::Local), None);
        t.leave(read);
        t.leave(other);
        assert!(t.enter(8, 8, Kind::Local).is_some());
        // an empty slot waits for nothing
        assert!(!t.read_waits(5));
    }

    #[test]
    fn overlapping_writes_wait_adjacent_ones_do_not() {
        let mut t = table(4);
        let a = t.enter(8, 8, Kind::Local).unwrap();
        // [8, 16) is in flight: 15 overlaps, 16 and 0..8 do not
        assert!(t.conflicts(15, 1));
        assert!(t.conflicts(0, 9));
        assert!(t.conflicts(10, 2));
        assert!(t.conflicts(0, 100));
        assert!(!t.conflicts(16, 8));
        assert!(!t.conflicts(0, 8));
        assert!(!t.conflicts(12, 0));
        assert_eq!(t.enter(12, 8, Kind::Local), None);
        let b = t.enter(16, 8, Kind::Local).unwrap();
        assert_ne!(a, b);
        assert_eq!(t.len(), 2);
        t.leave(a);
        assert_eq!(t.enter(12, 4, Kind::Local).map(|_| ()), Some(()));
        // a range at the end of the sector space saturates
        assert!(t.enter(u64::MAX - 1, 8, Kind::Local).is_some());
        assert!(t.conflicts(u64::MAX - 1, 1));
    }

    #[test]
    fn tags_round_trip() {
        for tag in [
            Tag {
                ext: None,
                slot: None,
                write: false,
            },
            Tag {
                ext: Some(7..=7),
                slot: None,
                write: false,
            },
            Tag {
                ext: Some(0..=32),
                slot: Some(127),
                write: true,
            },
            Tag {
                ext: Some(u32::MAX - 1..=u32::MAX),
                slot: Some(0),
                write: true,
            },
            Tag {
                ext: None,
                slot: Some(u16::MAX),
                write: false,
            },
        ] {
            assert_eq!(Tag::decode(tag.encode()), tag);
        }
        assert_eq!(Tag::decode(0), Tag::default());
    }

    #[test]
    fn a_full_table_takes_no_more() {
        let mut t = table(2);
        let a = t.enter(0, 1, Kind::Local).unwrap();
        t.enter(1, 1, Kind::Resync).unwrap();
        assert_eq!(t.enter(2, 1, Kind::Local), None);
        t.leave(a);
        assert!(t.enter(2, 1, Kind::Local).is_some());
        // leaving a slot twice, or one beyond the table, changes nothing
        t.leave(9);
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn the_resolver_supersedes_a_covered_peer_write_and_retries_the_rest() {
        let mut t = table(4);
        t.enter(0, 16, Kind::Local).unwrap();
        let p = t.insert(8, 8, Kind::Peer).unwrap();
        let done = |_| true;
        assert_eq!(
            t.peer_write(p, true, done),
            PeerVerdict::Superseded { local: (0, 16) }
        );
        t.leave(p);
        let p = t.insert(8, 16, Kind::Peer).unwrap();
        assert_eq!(
            t.peer_write(p, true, done),
            PeerVerdict::Retry { local: (0, 16) }
        );
        t.leave(p);
        // a write of ours the peer acknowledged already is older: the peer's waits for it
        let mine = t.enter(40, 8, Kind::Local).unwrap();
        let p = t.insert(44, 8, Kind::Peer).unwrap();
        t.peer_acked(mine);
        assert_eq!(t.get(mine).map(|e| e.kind), Some(Kind::Acked));
        assert_eq!(t.peer_write(p, true, done), PeerVerdict::Wait);
        assert_eq!(t.peer_write(p, false, done), PeerVerdict::Wait);
        t.leave(mine);
        assert_eq!(
            t.peer_write(p, true, done),
            PeerVerdict::Write { restart: false }
        );
        t.leave(p);
        // no overlap, or only a resync request's: written
        let p = t.insert(16, 8, Kind::Peer).unwrap();
        t.enter(24, 8, Kind::Resync).unwrap();
        assert_eq!(
            t.peer_write(p, true, done),
            PeerVerdict::Write { restart: false }
        );
        let q = t.insert(20, 8, Kind::Peer).unwrap();
        // a peer write behind an earlier one waits for it
        assert_eq!(t.peer_write(q, true, done), PeerVerdict::Wait);
        t.leave(p);
        assert_eq!(
            t.peer_write(q, true, done),
            PeerVerdict::Write { restart: false }
        );
    }

    #[test]
    fn the_other_node_waits_for_its_write_then_restarts_it_after_the_peers() {
        let mut t = table(4);
        let mine = t.enter(0, 16, Kind::Local).unwrap();
        let p = t.insert(8, 16, Kind::Peer).unwrap();
        // the peer has not told what became of our write
        assert_eq!(t.peer_write(p, false, |_| true), PeerVerdict::Wait);
        // P_RETRY_WRITE: postponed; written once its local part is done
        t.set_kind(mine, Kind::Postponed);
        assert_eq!(t.peer_write(p, false, |_| false), PeerVerdict::Wait);
        assert_eq!(
            t.peer_write(p, false, |s| s == mine),
            PeerVerdict::Write { restart: true }
        );
        // while the peer write is in flight, ours waits for it; then it is done again
        assert!(t.others_overlap(mine));
        assert_eq!(t.first_restart(), None);
        t.leave(p);
        assert!(t.restart_postponed(8, 16));
        assert_eq!(t.first_restart(), Some(mine));
        assert!(!t.others_overlap(mine));
        assert!(!t.restart_postponed(8, 16));
        // P_SUPERSEDED instead: our write completes and leaves, the peer's is written
        t.leave(mine);
        let p = t.insert(8, 8, Kind::Peer).unwrap();
        assert_eq!(
            t.peer_write(p, false, |_| true),
            PeerVerdict::Write { restart: false }
        );
    }

    #[test]
    fn sequence_numbers_wrap() {
        assert!(seq_greater(2, 1));
        assert!(!seq_greater(1, 1));
        assert!(!seq_greater(1, 2));
        assert!(seq_greater(0, u32::MAX));
        assert!(seq_greater(5, u32::MAX - 5));
        assert_eq!(seq_max(u32::MAX, 1), 1);
        assert_eq!(seq_max(7, 3), 7);
        // the first data packet of a connection (1) waits for nothing (peer_seq 0)
        assert!(!seq_greater(1 - 1, 0));
        assert!(seq_greater(3 - 1, 1));
    }
}
