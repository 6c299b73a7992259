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
//! C counterpart: the `write_requests` interval tree of drbd_req.c (drbd_insert_interval(),
//! complete_conflicting_writes()). The writes in flight are few (the queue depth bounds them),
//! so a table searched in full does.

use core::ops::{DerefMut, RangeInclusive};

/// A write in flight: its first sector and the sector after its last.
pub(crate) type Range = Option<(u64, u64)>;

/// The writes in flight of a device, in the caller's storage (its length bounds them).
pub(crate) struct InFlight<S> {
    slots: S,
}

/// The range from `sector` of `sectors`, saturated at the end of the sector space.
fn range(sector: u64, sectors: u64) -> (u64, u64) {
    (sector, sector.saturating_add(sectors))
}

impl<S: DerefMut<Target = [Range]>> InFlight<S> {
    /// An empty table in `slots` (all `None`).
    pub(crate) fn new(slots: S) -> Self {
        Self { slots }
    }

    /// Whether a write of `sectors` from `sector` overlaps one in flight (one of no sectors
    /// overlaps nothing).
    pub(crate) fn conflicts(&self, sector: u64, sectors: u64) -> bool {
        let (start, end) = range(sector, sectors);
        start < end
            && self
                .slots
                .iter()
                .flatten()
                .any(|&(s, e)| start < e && s < end)
    }

    /// Enters a write that conflicts with none in flight: its slot, to leave with; `None` if
    /// it conflicts or the table is full.
    pub(crate) fn enter(&mut self, sector: u64, sectors: u64) -> Option<u16> {
        if self.conflicts(sector, sectors) {
            return None;
        }
        let i = self.slots.iter().position(Option::is_none)?;
        let slot = u16::try_from(i).ok()?;
        self.slots[i] = Some(range(sector, sectors));
        Some(slot)
    }

    /// The write of `slot` completed: its range (first sector, end), if the slot held one.
    pub(crate) fn leave(&mut self, slot: u16) -> Option<(u64, u64)> {
        self.slots.get_mut(usize::from(slot))?.take()
    }

    /// Writes in flight.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.slots.iter().flatten().count()
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
    fn overlapping_writes_wait_adjacent_ones_do_not() {
        let mut t = table(4);
        let a = t.enter(8, 8).unwrap();
        // [8, 16) is in flight: 15 overlaps, 16 and 0..8 do not
        assert!(t.conflicts(15, 1));
        assert!(t.conflicts(0, 9));
        assert!(t.conflicts(10, 2));
        assert!(t.conflicts(0, 100));
        assert!(!t.conflicts(16, 8));
        assert!(!t.conflicts(0, 8));
        assert!(!t.conflicts(12, 0));
        assert_eq!(t.enter(12, 8), None);
        let b = t.enter(16, 8).unwrap();
        assert_ne!(a, b);
        assert_eq!(t.len(), 2);
        t.leave(a);
        assert_eq!(t.enter(12, 4).map(|_| ()), Some(()));
        // a range at the end of the sector space saturates
        assert!(t.enter(u64::MAX - 1, 8).is_some());
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
        let a = t.enter(0, 1).unwrap();
        t.enter(1, 1).unwrap();
        assert_eq!(t.enter(2, 1), None);
        t.leave(a);
        assert!(t.enter(2, 1).is_some());
        // leaving a slot twice, or one beyond the table, changes nothing
        t.leave(9);
        assert_eq!(t.len(), 2);
    }
}
