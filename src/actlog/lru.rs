// SPDX-License-Identifier: GPL-2.0
//! The activity log's active set: which 4 MiB extents may be written without a transaction
//! first, how many writes each one has in flight, and which idle extent makes room for one that
//! is not in the set.
//!
//! The set has `al-extents` slots. A write asks [`ActLog::begin`]: when all its extents are
//! active it takes a reference on each and goes ahead. Otherwise [`ActLog::prepare`] assigns
//! slots to the missing extents, free ones first, then those of the least recently used idle
//! extents. The caller writes out the bitmap pages of the evicted extents
//! ([`ActLog::evicted`]), then the transaction ([`ActLog::transaction`]), and only then
//! [`ActLog::commit`]s, which activates the new extents and takes the write's references.
//! [`ActLog::complete`] drops them again when the write is done.
//!
//! Pure logic on storage the caller provides: no allocation, no locking. The caller serializes
//! all calls (the kernel under `al_lock`), and at most one transaction is prepared at a time,
//! as the C code's `LC_LOCKED` allows. Writes whose extents are all active go ahead meanwhile.
//!
//! C counterpart: lib/lru_cache.c (lc_get(), lc_put(), lc_committed(), lc_del(), as far as
//! drbd uses them for `device->act_log`), and drbd_al_begin_io_prepare(), _fastpath() and
//! _commit(), __al_write_transaction() with `al_tr_cycle`, drbd_al_complete_io() and
//! drbd_al_shrink() of drbd_actlog.c. Deliberate differences: a write takes its references all
//! at once or not at all (C takes them one extent at a time, and waits holding the first); a
//! transaction never evicts an idle extent the same write needs; there is no `LC_STARVING`
//! (fairness is the caller's business).

use core::fmt;
use core::ops::{DerefMut, RangeInclusive};

use super::transaction::{
    Transaction, AL_CONTEXT_PER_TRANSACTION, AL_TR_UPDATE, AL_UPDATES_PER_TRANSACTION, FREE_EXTENT,
    FREE_SLOT,
};

/// The most slots the active set can have (`DRBD_AL_EXTENTS_MAX`): slot numbers are 16 bits on
/// disk, and [`FREE_SLOT`] is taken.
pub(crate) const MAX_SLOTS: usize = 65534;

/// End of a list or hash chain: no slot has this number.
const NIL: u16 = FREE_SLOT;

/// How far `al_tr_cycle` moves per transaction.
const CONTEXT_STEP: u32 = AL_CONTEXT_PER_TRANSACTION as u32;
const _: () = assert!(CONTEXT_STEP as usize == AL_CONTEXT_PER_TRANSACTION);

/// One slot of the active set (`struct lc_element`), plus the head of one hash chain. The
/// caller allocates `al-extents` of them, any value: [`ActLog::new`] initializes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Slot {
    /// The extent as of the last commit (`lc_number`), [`FREE_EXTENT`] if none.
    extent: u32,
    /// The extent lookups find here (`lc_new_number`). Differs from `extent` only while a
    /// prepared transaction puts a new extent into this slot.
    key: u32,
    /// Writes in flight to `extent` (`refcnt`).
    refs: u32,
    /// Links of the list the slot is on: free (a stack, `next` only), LRU (both), or the
    /// changes of the prepared transaction (a stack, `next` only). Slots with references are
    /// on none.
    prev: u16,
    next: u16,
    /// Next slot whose `key` hashes to the same chain.
    chain: u16,
    /// First slot of hash chain number "this slot's number".
    head: u16,
}

impl Slot {
    /// A slot without extent; what the caller fills its storage with.
    pub(crate) const FREE: Slot = Slot {
        extent: FREE_EXTENT,
        key: FREE_EXTENT,
        refs: 0,
        prev: NIL,
        next: NIL,
        chain: NIL,
        head: NIL,
    };

    /// Active, unchanged by the prepared transaction.
    fn committed(&self) -> bool {
        self.key != FREE_EXTENT && self.extent == self.key
    }

    /// On the LRU list: active and idle.
    fn evictable(&self) -> bool {
        self.committed() && self.refs == 0
    }
}

impl Default for Slot {
    fn default() -> Self {
        Self::FREE
    }
}

/// What a write has to do before it may proceed, from [`ActLog::begin`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Begin {
    /// All extents are active; the write holds a reference on each, to drop with
    /// [`ActLog::complete`].
    Hot,
    /// Some extent is missing and there is room for it: [`ActLog::prepare`] a transaction.
    NeedTransaction,
    /// Some extent is missing but cannot be placed now: too few idle slots, or another
    /// transaction is in progress (perhaps pulling in this very extent). Retry after a
    /// [`ActLog::complete`], [`ActLog::commit`] or [`ActLog::cancel`]. No reference is held.
    Busy,
}

/// What [`ActLog::prepare`] did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Prepared {
    /// Nothing to prepare after all: the extents are active, and referenced as by
    /// [`Begin::Hot`].
    Hot,
    /// As [`Begin::Busy`]: nothing changed.
    Busy,
    /// The transaction to write, then [`ActLog::commit`] (or [`ActLog::cancel`]).
    Transaction(Plan),
}

/// A prepared transaction: the extents of the write that asked for it, and how many of them
/// go into new slots. Only good for the [`ActLog`] that made it, until it is committed or
/// cancelled.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    seq: u32,
    first: u32,
    last: u32,
    n_updates: u16,
}

impl Plan {
    /// The extents of the write, which [`ActLog::commit`] references.
    #[cfg(test)]
    pub(crate) fn extents(&self) -> RangeInclusive<u32> {
        self.first..=self.last
    }

    /// The slots the transaction changes: its `n_updates`.
    #[cfg(test)]
    pub(crate) fn n_updates(&self) -> u16 {
        self.n_updates
    }
}

/// The prepared transaction, as the [`ActLog`] keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pending {
    seq: u32,
    first: u32,
    last: u32,
    n_updates: u16,
    /// First slot of the change stack, linked through [`Slot::next`].
    head: u16,
}

impl Pending {
    fn is(&self, plan: &Plan) -> bool {
        (self.seq, self.first, self.last, self.n_updates)
            == (plan.seq, plan.first, plan.last, plan.n_updates)
    }
}

/// One change of a prepared transaction: `new` goes into `slot`, replacing `old` (evicted, or
/// [`FREE_EXTENT`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Change {
    pub(crate) slot: u16,
    pub(crate) old: u32,
    pub(crate) new: u32,
}

/// An extent of the active set, from [`ActLog::active`].
#[cfg(test)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ActiveExtent {
    pub(crate) slot: u16,
    pub(crate) extent: u32,
    /// Writes in flight.
    pub(crate) refs: u32,
}

/// Calls the active set refuses; none changes anything, but see [`ActLog::complete`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AlError {
    /// The storage does not have 1..=[`MAX_SLOTS`] slots.
    SlotCount(usize),
    /// An empty range, or one reaching [`FREE_EXTENT`], which no extent can have.
    BadRange,
    /// More extents than one transaction can carry, or than the set has slots.
    TooManyExtents,
    /// The plan is not the transaction in progress.
    StalePlan,
    /// [`ActLog::complete`]: this extent held no reference.
    NotActive(u32),
}

impl fmt::Display for AlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            AlError::SlotCount(n) => {
                write!(f, "activity log: {n} slots, not 1..={MAX_SLOTS}")
            }
            AlError::BadRange => f.write_str("activity log: bad extent range"),
            AlError::TooManyExtents => f.write_str("activity log: too many extents for one write"),
            AlError::StalePlan => f.write_str("activity log: not the pending transaction"),
            AlError::NotActive(enr) => {
                write!(f, "al_complete_io() called on inactive extent {enr}")
            }
        }
    }
}

/// How begin() and prepare() find the extents of a write.
enum Class {
    Hot,
    Missing,
    Busy,
}

/// The active set (`device->act_log` with `al_tr_number` and `al_tr_cycle`), on the caller's
/// storage `S` (a `Vec<Slot>`, a `KVec<Slot>`, a slice): its length is the number of slots.
///
/// Lookups go through a hash of `al-extents` chains (extent modulo slot count, as lc_find()),
/// so each costs O(1) on average.
pub(crate) struct ActLog<S> {
    slots: S,
    nr: u16,
    tr_number: u32,
    context_start: u16,
    /// The free stack: lc_create() pushes slot 0 first, so the last slot goes first.
    free_head: u16,
    free_len: u16,
    /// Most recently released idle extent ...
    lru_head: u16,
    /// ... and the least recently released one, which is evicted first.
    lru_tail: u16,
    lru_len: u16,
    /// Slots with a committed extent.
    used: u16,
    /// Slots with references (C's `lc->used`).
    in_use: u16,
    pending: Option<Pending>,
    seq: u32,
}

impl<S: DerefMut<Target = [Slot]>> ActLog<S> {
    /// An empty active set on `slots`, whatever they held; the next transaction gets number
    /// `tr_number` and carries the context from slot 0 on.
    pub(crate) fn new(mut slots: S, tr_number: u32) -> Result<Self, AlError> {
        let len = slots.len();
        let nr = match u16::try_from(len) {
            Ok(nr) if nr >= 1 && len <= MAX_SLOTS => nr,
            _ => return Err(AlError::SlotCount(len)),
        };
        let mut below = NIL;
        for (i, s) in (0..nr).zip(slots.iter_mut()) {
            *s = Slot::FREE;
            s.next = below;
            below = i;
        }
        Ok(Self {
            slots,
            nr,
            tr_number,
            context_start: 0,
            free_head: below,
            free_len: nr,
            lru_head: NIL,
            lru_tail: NIL,
            lru_len: 0,
            used: 0,
            in_use: 0,
            pending: None,
            seq: 0,
        })
    }

    /// Slots in the set: `al-extents`, and every transaction's `context_size`.
    #[cfg(test)]
    pub(crate) fn nr_slots(&self) -> u16 {
        self.nr
    }

    /// The number the next transaction gets (`al_tr_number`).
    pub(crate) fn tr_number(&self) -> u32 {
        self.tr_number
    }

    /// The first slot the next transaction's context shows (`al_tr_cycle`).
    #[cfg(test)]
    pub(crate) fn context_start(&self) -> u16 {
        self.context_start
    }

    /// Active extents (unlike C's `lc->used`, which counts the referenced ones).
    #[cfg(test)]
    pub(crate) fn used(&self) -> u16 {
        self.used
    }

    /// Active extents with writes in flight (C's `lc->used`).
    pub(crate) fn in_use(&self) -> u16 {
        self.in_use
    }

    /// No write in flight and no transaction in progress: the set may be shrunk or replaced.
    pub(crate) fn idle(&self) -> bool {
        self.in_use == 0 && self.pending.is_none()
    }

    /// A transaction is prepared and neither committed nor cancelled yet.
    #[cfg(test)]
    pub(crate) fn is_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Whether `enr` is in the set as of the last commit (an extent the prepared transaction
    /// evicts still is, one it brings in is not yet).
    #[cfg(test)]
    pub(crate) fn is_active(&self, enr: u32) -> bool {
        self.refs(enr).is_some()
    }

    /// Writes in flight to `enr`, or `None` if it is not active (as [`Self::is_active`]).
    #[cfg(test)]
    pub(crate) fn refs(&self, enr: u32) -> Option<u32> {
        if let Some(s) = self.find(enr).map(|i| self.at(i)) {
            if s.committed() {
                return Some(s.refs);
            }
        }
        // an extent the prepared transaction evicts is found under its new number only
        let mut changes = self.changes_of(self.pending);
        changes.any(|c| c.old == enr).then_some(0)
    }

    /// The extents of the set as of the last commit, by slot: what the on-disk log describes
    /// once the last transaction is written.
    #[cfg(test)]
    pub(crate) fn active(&self) -> impl Iterator<Item = ActiveExtent> + '_ {
        (0..self.nr)
            .zip(self.slots.iter())
            .filter(|(_, s)| s.extent != FREE_EXTENT)
            .map(|(slot, s)| ActiveExtent {
                slot,
                extent: s.extent,
                refs: s.refs,
            })
    }

    /// The fast path (drbd_al_begin_io_fastpath(), and the first look of _prepare()): for a
    /// write to extents `first..=last`, takes a reference on each if all are active, else
    /// says whether a transaction can make room. Takes all references or none.
    pub(crate) fn begin(&mut self, extents: RangeInclusive<u32>) -> Result<Begin, AlError> {
        let (first, last) = self.span(&extents)?;
        Ok(match self.classify(first, last) {
            Class::Hot => {
                self.take_refs(first, last);
                Begin::Hot
            }
            Class::Missing => Begin::NeedTransaction,
            Class::Busy => Begin::Busy,
        })
    }

    /// As [`Self::begin`], but where that says [`Begin::NeedTransaction`], prepares the
    /// transaction (lc_get() for each missing extent): each missing extent gets a free slot,
    /// else the slot of the least recently used idle extent. Nothing is referenced yet, but
    /// the chosen slots can neither be found under their old extents nor evicted twice, until
    /// the plan is committed or cancelled.
    pub(crate) fn prepare(&mut self, extents: RangeInclusive<u32>) -> Result<Prepared, AlError> {
        let (first, last) = self.span(&extents)?;
        match self.classify(first, last) {
            Class::Hot => {
                self.take_refs(first, last);
                return Ok(Prepared::Hot);
            }
            Class::Busy => return Ok(Prepared::Busy),
            Class::Missing => {}
        }
        let mut head = NIL;
        let mut n_updates = 0u16;
        for enr in first..=last {
            if self.find(enr).is_some() {
                continue;
            }
            let Some(i) = self.victim(first, last) else {
                // classify() counted the room, so this does not happen; but all or nothing
                self.undo(head);
                return Ok(Prepared::Busy);
            };
            let old = self.at(i).key;
            if old != FREE_EXTENT {
                self.hash_del(i, old);
            }
            self.edit(i, |s| {
                s.key = enr;
                s.prev = NIL;
                s.next = head;
            });
            self.hash_add(i, enr);
            head = i;
            n_updates = n_updates.saturating_add(1);
        }
        self.seq = self.seq.wrapping_add(1);
        let pending = Pending {
            seq: self.seq,
            first,
            last,
            n_updates,
            head,
        };
        self.pending = Some(pending);
        Ok(Prepared::Transaction(Plan {
            seq: pending.seq,
            first,
            last,
            n_updates,
        }))
    }

    /// The changes of `plan`, in the order __al_write_transaction() writes them (the last
    /// prepared first, as `to_be_changed` is a stack); nothing for a stale plan.
    pub(crate) fn changes(&self, plan: &Plan) -> Changes<'_> {
        self.changes_of(self.pending.filter(|p| p.is(plan)))
    }

    /// The extents `plan` evicts: their bitmap pages must be written before the transaction
    /// (drbd_bm_mark_for_writeout() in __al_write_transaction()).
    pub(crate) fn evicted(&self, plan: &Plan) -> impl Iterator<Item = u32> + '_ {
        self.changes(plan)
            .map(|c| c.old)
            .filter(|&old| old != FREE_EXTENT)
    }

    /// Fills `out` with the transaction of `plan`, as __al_write_transaction() does. The
    /// context shows the slots as of the last commit, without this transaction's updates: C
    /// reads `lc_number`, which only lc_committed() sets to `lc_new_number`, after the write.
    /// `drbdmeta apply-al` applies each transaction's context, then its updates.
    pub(crate) fn transaction(&self, plan: &Plan, out: &mut Transaction) -> Result<(), AlError> {
        let pending = self.check(plan)?;
        self.fill(Some(pending), out);
        Ok(())
    }

    /// Fills `out` with a transaction without updates, only context: what drbd_al_initialize()
    /// writes into the ring. Follow it with [`Self::commit_empty`] once written.
    pub(crate) fn empty_transaction(&self, out: &mut Transaction) {
        self.fill(None, out);
    }

    /// Applies `plan` after its transaction is written (lc_committed()): the new extents are
    /// active, the write holds a reference on each of its extents, and the next transaction
    /// gets the next number and context.
    pub(crate) fn commit(&mut self, plan: Plan) -> Result<(), AlError> {
        self.apply(&plan)?;
        self.advance();
        Ok(())
    }

    /// As [`Self::commit`], for a set whose transactions are not written (`al-updates no`):
    /// transaction number and context stay.
    pub(crate) fn commit_unlogged(&mut self, plan: Plan) -> Result<(), AlError> {
        self.apply(&plan)
    }

    /// Records that a transaction from [`Self::empty_transaction`] is written.
    pub(crate) fn commit_empty(&mut self) {
        self.advance();
    }

    /// Undoes `plan`, whose transaction could not be written (the `lc_cancel` C lacks): the
    /// evicted extents are back in their slots, as idle as before, the free slots free again.
    pub(crate) fn cancel(&mut self, plan: Plan) -> Result<(), AlError> {
        let pending = self.check(&plan)?;
        self.undo(pending.head);
        self.pending = None;
        Ok(())
    }

    /// Drops the reference of a finished write on each of its extents (drbd_al_complete_io()).
    /// As C, an extent without reference is skipped and the others are still dropped; the
    /// first such extent is the error.
    pub(crate) fn complete(&mut self, extents: RangeInclusive<u32>) -> Result<(), AlError> {
        let (first, last) = self.span(&extents)?;
        let mut inactive = None;
        for enr in first..=last {
            match self.find(enr) {
                Some(i) if self.at(i).committed() && self.at(i).refs > 0 => self.drop_ref(i),
                _ => {
                    inactive.get_or_insert(enr);
                }
            }
        }
        inactive.map_or(Ok(()), |enr| Err(AlError::NotActive(enr)))
    }

    /// Removes every idle extent from the set (drbd_al_shrink(), one pass): true once the set
    /// is empty. Nothing is removed while a transaction is in progress. Like C, this writes
    /// no transaction: the log on disk still names the removed extents.
    #[cfg(test)]
    pub(crate) fn shrink(&mut self) -> bool {
        if self.pending.is_some() {
            return false;
        }
        for i in 0..self.nr {
            let s = self.at(i);
            if !s.evictable() {
                continue;
            }
            self.lru_unlink(i);
            self.hash_del(i, s.key);
            self.edit(i, |s| {
                s.extent = FREE_EXTENT;
                s.key = FREE_EXTENT;
            });
            // lc_del() pushes onto the free list: the last slot removed goes first
            self.push_free(i);
            self.used = self.used.saturating_sub(1);
        }
        self.used == 0
    }

    // --- internals ---

    /// Slot `i` (a free one should the storage have shrunk, so that walks end).
    fn at(&self, i: u16) -> Slot {
        self.slots
            .get(usize::from(i))
            .copied()
            .unwrap_or(Slot::FREE)
    }

    fn edit(&mut self, i: u16, f: impl FnOnce(&mut Slot)) {
        if let Some(s) = self.slots.get_mut(usize::from(i)) {
            f(s);
        }
    }

    /// The extents of a write, checked.
    fn span(&self, extents: &RangeInclusive<u32>) -> Result<(u32, u32), AlError> {
        let (first, last) = (*extents.start(), *extents.end());
        if extents.is_empty() || last == FREE_EXTENT {
            return Err(AlError::BadRange);
        }
        // first <= last < FREE_EXTENT: the count fits even in u32
        let count = u64::from(last.saturating_sub(first)).saturating_add(1);
        if count > AL_UPDATES_PER_TRANSACTION as u64 || count > u64::from(self.nr) {
            return Err(AlError::TooManyExtents);
        }
        Ok((first, last))
    }

    fn classify(&self, first: u32, last: u32) -> Class {
        let mut missing = 0u16;
        // idle extents of this write, which must not make room for its others
        let mut own_idle = 0u16;
        for enr in first..=last {
            match self.find(enr).map(|i| self.at(i)) {
                None => missing = missing.saturating_add(1),
                // being pulled in by the transaction in progress, or out of references
                Some(s) if !s.committed() || s.refs == u32::MAX => return Class::Busy,
                Some(s) if s.refs == 0 => own_idle = own_idle.saturating_add(1),
                Some(_) => {}
            }
        }
        if missing == 0 {
            return Class::Hot;
        }
        let room = self
            .free_len
            .saturating_add(self.lru_len)
            .saturating_sub(own_idle);
        if self.pending.is_some() || missing > room {
            return Class::Busy;
        }
        Class::Missing
    }

    fn take_refs(&mut self, first: u32, last: u32) {
        for enr in first..=last {
            if let Some(i) = self.find(enr) {
                self.take_ref(i);
            }
        }
    }

    /// lc_get() on an active extent: off the LRU list while referenced.
    fn take_ref(&mut self, i: u16) {
        let s = self.at(i);
        if s.evictable() {
            self.lru_unlink(i);
        }
        if s.refs == 0 {
            self.in_use = self.in_use.saturating_add(1);
        }
        // in-flight writes, each a request in memory, do not reach 2^32 - 1; classify() says
        // Busy before
        self.edit(i, |s| s.refs = s.refs.saturating_add(1));
    }

    /// lc_put(): the last reference puts the extent at the young end of the LRU list.
    fn drop_ref(&mut self, i: u16) {
        let refs = self.at(i).refs.saturating_sub(1);
        self.edit(i, |s| s.refs = refs);
        if refs == 0 {
            self.in_use = self.in_use.saturating_sub(1);
            self.lru_push_head(i);
        }
    }

    /// lc_prepare_for_change(): a free slot, else the least recently used idle one that does
    /// not hold an extent of `first..=last`. Off its list.
    fn victim(&mut self, first: u32, last: u32) -> Option<u16> {
        if let Some(i) = self.pop_free() {
            return Some(i);
        }
        let mut i = self.lru_tail;
        let mut steps = 0u16;
        while i != NIL && steps < self.nr {
            let s = self.at(i);
            if !(first..=last).contains(&s.key) {
                self.lru_unlink(i);
                return Some(i);
            }
            i = s.prev;
            steps = steps.saturating_add(1);
        }
        None
    }

    /// Puts the slots of a change stack back as they were, in reverse order of preparation,
    /// so that free stack and LRU list get back their order.
    fn undo(&mut self, head: u16) {
        let mut i = head;
        let mut steps = 0u16;
        while i != NIL && steps < self.nr {
            let s = self.at(i);
            self.hash_del(i, s.key);
            self.edit(i, |s| {
                s.key = s.extent;
                s.next = NIL;
            });
            if s.extent == FREE_EXTENT {
                self.push_free(i);
            } else {
                self.hash_add(i, s.extent);
                self.lru_push_tail(i);
            }
            i = s.next;
            steps = steps.saturating_add(1);
        }
    }

    fn check(&self, plan: &Plan) -> Result<Pending, AlError> {
        self.pending
            .filter(|p| p.is(plan))
            .ok_or(AlError::StalePlan)
    }

    /// lc_committed(), and the references of the write.
    fn apply(&mut self, plan: &Plan) -> Result<(), AlError> {
        let pending = self.check(plan)?;
        self.pending = None;
        // the extents of the write that were active already ...
        for enr in pending.first..=pending.last {
            if let Some(i) = self.find(enr) {
                if self.at(i).committed() {
                    self.take_ref(i);
                }
            }
        }
        // ... and the new ones, idle until now and on no list
        let mut i = pending.head;
        let mut steps = 0u16;
        while i != NIL && steps < pending.n_updates {
            let s = self.at(i);
            if s.extent == FREE_EXTENT {
                self.used = self.used.saturating_add(1);
            }
            self.edit(i, |s| {
                s.extent = s.key;
                s.refs = 1;
                s.prev = NIL;
                s.next = NIL;
            });
            self.in_use = self.in_use.saturating_add(1);
            i = s.next;
            steps = steps.saturating_add(1);
        }
        Ok(())
    }

    /// After a transaction is written: `al_tr_number++`, and `al_tr_cycle` moves on by one
    /// context, back to 0 at the end of the set.
    fn advance(&mut self) {
        self.tr_number = self.tr_number.wrapping_add(1);
        let next = u32::from(self.context_start) + CONTEXT_STEP;
        self.context_start = if next >= u32::from(self.nr) {
            0
        } else {
            u16::try_from(next).unwrap_or(0)
        };
    }

    fn fill(&self, pending: Option<Pending>, out: &mut Transaction) {
        out.tr_number = self.tr_number;
        out.transaction_type = AL_TR_UPDATE;
        out.update_slot_nr.fill(FREE_SLOT);
        out.update_extent_nr.fill(FREE_EXTENT);
        let mut n_updates = 0u16;
        let updates = out
            .update_slot_nr
            .iter_mut()
            .zip(out.update_extent_nr.iter_mut());
        for ((slot_nr, extent_nr), c) in updates.zip(self.changes_of(pending)) {
            *slot_nr = c.slot;
            *extent_nr = c.new;
            n_updates = n_updates.saturating_add(1);
        }
        out.n_updates = n_updates;
        out.context_size = self.nr;
        out.context_start_slot_nr = self.context_start;
        let mut context = self
            .slots
            .iter()
            .take(usize::from(self.nr))
            .skip(usize::from(self.context_start));
        for c in out.context.iter_mut() {
            *c = context.next().map_or(FREE_EXTENT, |s| s.extent);
        }
    }

    fn changes_of(&self, pending: Option<Pending>) -> Changes<'_> {
        let (next, left) = pending.map_or((NIL, 0), |p| (p.head, p.n_updates));
        Changes {
            slots: &self.slots,
            next,
            left,
        }
    }

    // hash chains

    fn bucket(&self, enr: u32) -> u16 {
        let b = enr.checked_rem(u32::from(self.nr)).unwrap_or(0);
        u16::try_from(b).unwrap_or(0)
    }

    /// The slot an extent is found in (lc_find() with `include_changing`): by `key`, so a
    /// slot the prepared transaction fills is found under its new extent.
    fn find(&self, enr: u32) -> Option<u16> {
        if enr == FREE_EXTENT {
            return None;
        }
        let mut i = self.at(self.bucket(enr)).head;
        let mut steps = 0u16;
        while i != NIL && steps < self.nr {
            let s = self.at(i);
            if s.key == enr {
                return Some(i);
            }
            i = s.chain;
            steps = steps.saturating_add(1);
        }
        None
    }

    fn hash_add(&mut self, i: u16, key: u32) {
        let b = self.bucket(key);
        let first = self.at(b).head;
        self.edit(i, |s| s.chain = first);
        self.edit(b, |s| s.head = i);
    }

    fn hash_del(&mut self, i: u16, key: u32) {
        let b = self.bucket(key);
        let after = self.at(i).chain;
        self.edit(i, |s| s.chain = NIL);
        let mut p = self.at(b).head;
        if p == i {
            self.edit(b, |s| s.head = after);
            return;
        }
        let mut steps = 0u16;
        while p != NIL && steps < self.nr {
            let next = self.at(p).chain;
            if next == i {
                self.edit(p, |s| s.chain = after);
                return;
            }
            p = next;
            steps = steps.saturating_add(1);
        }
    }

    // free stack

    fn pop_free(&mut self) -> Option<u16> {
        let i = self.free_head;
        if i == NIL {
            return None;
        }
        self.free_head = self.at(i).next;
        self.free_len = self.free_len.saturating_sub(1);
        self.edit(i, |s| s.next = NIL);
        Some(i)
    }

    fn push_free(&mut self, i: u16) {
        let head = self.free_head;
        self.edit(i, |s| {
            s.prev = NIL;
            s.next = head;
        });
        self.free_head = i;
        self.free_len = self.free_len.saturating_add(1);
    }

    // LRU list: head the most recently released, tail the next to evict

    fn lru_push_head(&mut self, i: u16) {
        let head = self.lru_head;
        self.edit(i, |s| {
            s.prev = NIL;
            s.next = head;
        });
        if head == NIL {
            self.lru_tail = i;
        } else {
            self.edit(head, |s| s.prev = i);
        }
        self.lru_head = i;
        self.lru_len = self.lru_len.saturating_add(1);
    }

    fn lru_push_tail(&mut self, i: u16) {
        let tail = self.lru_tail;
        self.edit(i, |s| {
            s.prev = tail;
            s.next = NIL;
        });
        if tail == NIL {
            self.lru_head = i;
        } else {
            self.edit(tail, |s| s.next = i);
        }
        self.lru_tail = i;
        self.lru_len = self.lru_len.saturating_add(1);
    }

    fn lru_unlink(&mut self, i: u16) {
        let Slot { prev, next, .. } = self.at(i);
        if prev == NIL {
            self.lru_head = next;
        } else {
            self.edit(prev, |s| s.next = next);
        }
        if next == NIL {
            self.lru_tail = prev;
        } else {
            self.edit(next, |s| s.prev = prev);
        }
        self.edit(i, |s| {
            s.prev = NIL;
            s.next = NIL;
        });
        self.lru_len = self.lru_len.saturating_sub(1);
    }
}

/// The changes of a prepared transaction, from [`ActLog::changes`].
pub(crate) struct Changes<'a> {
    slots: &'a [Slot],
    next: u16,
    left: u16,
}

impl Iterator for Changes<'_> {
    type Item = Change;

    fn next(&mut self) -> Option<Change> {
        if self.left == 0 {
            return None;
        }
        let s = self.slots.get(usize::from(self.next))?;
        let change = Change {
            slot: self.next,
            old: s.extent,
            new: s.key,
        };
        self.next = s.next;
        self.left = self.left.saturating_sub(1);
        Some(change)
    }
}

#[cfg(test)]
mod tests {
    use super::super::transaction::{AL_TRANSACTION_BYTES, AL_TR_INITIALIZED};
    use super::*;
    use std::vec;
    use std::vec::Vec;

    type Al = ActLog<Vec<Slot>>;

    fn al(nr: usize) -> Al {
        ActLog::new(vec![Slot::FREE; nr], 0).expect("valid slot count")
    }

    /// Brings `extents` in with one transaction and references them.
    fn bring_in(al: &mut Al, extents: RangeInclusive<u32>) -> Vec<Change> {
        let Ok(Prepared::Transaction(plan)) = al.prepare(extents.clone()) else {
            panic!("no transaction for {extents:?}");
        };
        let changes: Vec<Change> = al.changes(&plan).collect();
        al.commit(plan).expect("the pending plan");
        changes
    }

    /// Checks the internal bookkeeping against the slots.
    fn consistent(al: &Al) {
        let free = al.slots.iter().filter(|s| s.key == FREE_EXTENT).count();
        let lru = al.slots.iter().filter(|s| s.evictable()).count();
        let used = al.slots.iter().filter(|s| s.extent != FREE_EXTENT).count();
        let in_use = al.slots.iter().filter(|s| s.refs > 0).count();
        assert_eq!(usize::from(al.free_len), free);
        assert_eq!(usize::from(al.lru_len), lru);
        assert_eq!(usize::from(al.used), used);
        assert_eq!(usize::from(al.in_use), in_use);
        // every key is found where it is
        for (i, s) in (0..al.nr).zip(al.slots.iter()) {
            if s.key != FREE_EXTENT {
                assert_eq!(al.find(s.key), Some(i));
            }
        }
        // the LRU list, walked both ways
        let mut forward = Vec::new();
        let mut i = al.lru_head;
        while i != NIL {
            forward.push(i);
            i = al.at(i).next;
        }
        let mut backward = Vec::new();
        let mut i = al.lru_tail;
        while i != NIL {
            backward.push(i);
            i = al.at(i).prev;
        }
        backward.reverse();
        assert_eq!(forward, backward);
        assert_eq!(forward.len(), lru);
    }

    #[test]
    fn slot_counts() {
        assert_eq!(
            ActLog::new(Vec::<Slot>::new(), 0).err(),
            Some(AlError::SlotCount(0))
        );
        assert_eq!(
            ActLog::new(vec![Slot::FREE; 65535], 0).err(),
            Some(AlError::SlotCount(65535))
        );
        let al = ActLog::new(vec![Slot::default(); 65534], 7).expect("the largest set");
        assert_eq!((al.nr_slots(), al.tr_number(), al.used()), (65534, 7, 0));
        // whatever the storage held
        let mut junk = Slot::FREE;
        junk.extent = 5;
        junk.refs = 3;
        let al = ActLog::new(vec![junk; 10], 0).expect("valid");
        assert!(al.active().next().is_none());
        assert!(al.idle());
    }

    #[test]
    fn ranges_are_checked() {
        let mut al = al(67);
        #[allow(clippy::reversed_empty_ranges)]
        let backwards = 5..=3;
        assert_eq!(al.begin(backwards), Err(AlError::BadRange));
        assert_eq!(al.begin(FREE_EXTENT..=FREE_EXTENT), Err(AlError::BadRange));
        assert_eq!(al.begin(0..=64), Err(AlError::TooManyExtents));
        assert_eq!(al.begin(0..=63), Ok(Begin::NeedTransaction));
        assert_eq!(
            al.begin(u32::MAX - 64..=u32::MAX - 1),
            Ok(Begin::NeedTransaction)
        );
        // more extents than slots could never be active together
        let mut small = self::al(7);
        assert_eq!(small.begin(0..=7), Err(AlError::TooManyExtents));
        assert_eq!(small.complete(0..=7), Err(AlError::TooManyExtents));
        assert_eq!(small.begin(0..=6), Ok(Begin::NeedTransaction));
    }

    #[test]
    fn hot_path() {
        let mut al = al(67);
        assert_eq!(al.begin(10..=10), Ok(Begin::NeedTransaction));
        // C's free list hands out the last slot first
        let changes = bring_in(&mut al, 10..=10);
        assert_eq!(
            changes,
            [Change {
                slot: 66,
                old: FREE_EXTENT,
                new: 10
            }]
        );
        assert_eq!(al.refs(10), Some(1));
        assert_eq!((al.used(), al.in_use(), al.tr_number()), (1, 1, 1));
        for n in 2..=5 {
            assert_eq!(al.begin(10..=10), Ok(Begin::Hot));
            assert_eq!(al.refs(10), Some(n));
        }
        for n in (0..5).rev() {
            assert_eq!(al.complete(10..=10), Ok(()));
            assert_eq!(al.refs(10), Some(n));
        }
        // idle, but still active: no transaction
        assert!(al.is_active(10));
        assert!(al.idle());
        assert_eq!(al.begin(10..=10), Ok(Begin::Hot));
        assert_eq!(al.tr_number(), 1);
        // one reference too many
        assert_eq!(al.complete(10..=10), Ok(()));
        assert_eq!(al.complete(10..=10), Err(AlError::NotActive(10)));
        assert_eq!(al.complete(11..=11), Err(AlError::NotActive(11)));
        assert_eq!(al.refs(10), Some(0));
        consistent(&al);
    }

    #[test]
    fn fill_then_evict_least_recently_used() {
        let mut al = al(8);
        for enr in 0..8 {
            bring_in(&mut al, enr..=enr);
        }
        assert_eq!(al.used(), 8);
        // slots from the top of the free stack down
        let by_slot: Vec<u32> = al.active().map(|a| a.extent).collect();
        assert_eq!(by_slot, [7, 6, 5, 4, 3, 2, 1, 0]);
        // release in the order 3, 0, 5, then the rest
        for enr in [3, 0, 5, 1, 2, 4, 6, 7] {
            al.complete(enr..=enr).unwrap();
        }
        // a hit makes 3 young again once released
        assert_eq!(al.begin(3..=3), Ok(Begin::Hot));
        al.complete(3..=3).unwrap();
        consistent(&al);

        let mut evicted = Vec::new();
        for enr in 100..104 {
            let Ok(Prepared::Transaction(plan)) = al.prepare(enr..=enr) else {
                panic!("no plan");
            };
            evicted.extend(al.evicted(&plan));
            al.commit(plan).unwrap();
            al.complete(enr..=enr).unwrap();
        }
        assert_eq!(evicted, [0, 5, 1, 2]);
        assert!(!al.is_active(0) && al.is_active(3) && al.is_active(100));
        assert_eq!(al.used(), 8);
        consistent(&al);
    }

    #[test]
    fn referenced_extents_are_never_evicted() {
        let mut al = al(7);
        bring_in(&mut al, 0..=1);
        bring_in(&mut al, 2..=3);
        bring_in(&mut al, 4..=5);
        bring_in(&mut al, 6..=6);
        assert_eq!((al.used(), al.in_use()), (7, 7));
        assert_eq!(al.begin(10..=10), Ok(Begin::Busy));
        assert_eq!(al.prepare(10..=10), Ok(Prepared::Busy));
        // one slot idle: enough for one extent, not for two
        al.complete(4..=4).unwrap();
        assert_eq!(al.begin(10..=11), Ok(Begin::Busy));
        assert_eq!(al.begin(10..=10), Ok(Begin::NeedTransaction));
        // an idle extent of the write itself does not make room for its other extent: with 6
        // the only idle one, 6..=7 must wait
        assert_eq!(al.begin(4..=4), Ok(Begin::Hot));
        al.complete(6..=6).unwrap();
        assert_eq!(al.begin(6..=7), Ok(Begin::Busy));
        assert_eq!(al.prepare(6..=7), Ok(Prepared::Busy));
        assert_eq!(al.refs(6), Some(0));
        // while 7 alone evicts 6
        let Ok(Prepared::Transaction(plan)) = al.prepare(7..=7) else {
            panic!("no plan");
        };
        assert_eq!(al.evicted(&plan).collect::<Vec<_>>(), [6]);
        al.commit(plan).unwrap();
        assert!(!al.is_active(6));
        consistent(&al);
    }

    #[test]
    fn all_or_nothing() {
        let mut al = al(7);
        for enr in 0..6 {
            bring_in(&mut al, enr..=enr);
        }
        // free: one slot; idle: none
        assert_eq!(al.begin(5..=7), Ok(Begin::Busy));
        // no reference was taken on 5
        assert_eq!(al.refs(5), Some(1));
        // 5 hot, 6 missing but placeable: nothing referenced either
        assert_eq!(al.begin(5..=6), Ok(Begin::NeedTransaction));
        assert_eq!(al.refs(5), Some(1));
        consistent(&al);

        // the write's idle extent is kept, the other idle one is evicted
        al.complete(0..=0).unwrap();
        al.complete(5..=5).unwrap();
        assert_eq!(al.begin(5..=7), Ok(Begin::NeedTransaction));
        let Ok(Prepared::Transaction(plan)) = al.prepare(5..=7) else {
            panic!("no plan");
        };
        assert_eq!(plan.n_updates(), 2);
        assert_eq!(plan.extents(), 5..=7);
        let changes: Vec<Change> = al.changes(&plan).collect();
        // the last prepared comes first, as on C's to_be_changed list
        assert_eq!(changes[0].new, 7);
        assert_eq!(changes[1].new, 6);
        assert_eq!(changes[1].old, FREE_EXTENT);
        assert_eq!(changes[0].old, 0);
        assert_eq!(al.evicted(&plan).collect::<Vec<_>>(), [0]);
        al.commit(plan).unwrap();
        for (enr, refs) in [(5, 1), (6, 1), (7, 1), (1, 1)] {
            assert_eq!(al.refs(enr), Some(refs), "extent {enr}");
        }
        assert!(!al.is_active(0));
        consistent(&al);
    }

    #[test]
    fn one_transaction_at_a_time() {
        let mut al = al(67);
        bring_in(&mut al, 1..=1);
        al.complete(1..=1).unwrap();
        let Ok(Prepared::Transaction(plan)) = al.prepare(2..=2) else {
            panic!("no plan");
        };
        assert!(al.is_pending() && !al.idle());
        // hot extents go ahead meanwhile; missing ones, and the one being pulled in, wait
        assert_eq!(al.begin(1..=1), Ok(Begin::Hot));
        assert_eq!(al.begin(3..=3), Ok(Begin::Busy));
        assert_eq!(al.prepare(3..=3), Ok(Prepared::Busy));
        assert_eq!(al.begin(2..=2), Ok(Begin::Busy));
        assert_eq!(al.begin(1..=2), Ok(Begin::Busy));
        assert_eq!(al.refs(1), Some(1));
        assert!(!al.is_active(2));
        assert_eq!(al.complete(2..=2), Err(AlError::NotActive(2)));
        // a plan of another set, or a forged one, is refused
        let forged = Plan {
            seq: plan.seq,
            first: 3,
            last: 3,
            n_updates: 1,
        };
        assert_eq!(al.commit(forged), Err(AlError::StalePlan));
        let mut tr = empty_tr();
        let stale = Plan {
            seq: plan.seq.wrapping_add(1),
            first: 3,
            last: 3,
            n_updates: 1,
        };
        assert_eq!(al.transaction(&stale, &mut tr), Err(AlError::StalePlan));
        assert_eq!(al.changes(&stale).count(), 0);
        assert!(!al.shrink());
        al.commit(plan).unwrap();
        assert_eq!(al.refs(2), Some(1));
        consistent(&al);
    }

    #[test]
    fn cancel_restores_the_set() {
        let mut al = al(7);
        for enr in 0..7 {
            bring_in(&mut al, enr..=enr);
        }
        for enr in [4, 2, 6] {
            al.complete(enr..=enr).unwrap();
        }
        let before: Vec<Slot> = al.slots.clone();
        let (tr_number, start) = (al.tr_number(), al.context_start());
        let Ok(Prepared::Transaction(plan)) = al.prepare(20..=21) else {
            panic!("no plan");
        };
        assert_eq!(al.evicted(&plan).collect::<Vec<_>>(), [2, 4]);
        // evicted extents count as active until the commit
        assert!(al.is_active(4) && !al.is_active(20));
        assert_eq!(al.refs(4), Some(0));
        assert_eq!(al.used(), 7);
        al.cancel(plan).unwrap();
        assert_eq!(al.slots, before);
        assert_eq!((al.tr_number(), al.context_start()), (tr_number, start));
        consistent(&al);
        // and the same choice again
        let Ok(Prepared::Transaction(plan)) = al.prepare(20..=21) else {
            panic!("no plan");
        };
        assert_eq!(al.evicted(&plan).collect::<Vec<_>>(), [2, 4]);
        al.commit_unlogged(plan).unwrap();
        assert_eq!((al.tr_number(), al.context_start()), (tr_number, start));
        assert!(al.is_active(20) && !al.is_active(4));
        consistent(&al);
    }

    #[test]
    fn shrink_waits_for_references() {
        let mut al = al(67);
        bring_in(&mut al, 0..=1);
        bring_in(&mut al, 30..=30);
        al.complete(0..=1).unwrap();
        assert!(!al.shrink());
        assert_eq!(al.used(), 1);
        assert!(al.is_active(30));
        al.complete(30..=30).unwrap();
        assert!(al.idle());
        assert!(al.shrink());
        assert_eq!(al.active().count(), 0);
        consistent(&al);
        // the free stack as lc_del() leaves it: the slot removed last goes first
        let changes = bring_in(&mut al, 5..=5);
        assert_eq!(changes[0].slot, 64);
        let changes = bring_in(&mut al, 6..=6);
        assert_eq!(changes[0].slot, 66);
    }

    fn empty_tr() -> Transaction {
        Transaction {
            tr_number: 0,
            transaction_type: AL_TR_INITIALIZED,
            n_updates: 0,
            context_size: 0,
            context_start_slot_nr: 0,
            update_slot_nr: [0; AL_UPDATES_PER_TRANSACTION],
            update_extent_nr: [0; AL_UPDATES_PER_TRANSACTION],
            context: [0; AL_CONTEXT_PER_TRANSACTION],
        }
    }

    #[test]
    fn transaction_contents_and_round_trip() {
        let mut al: Al = ActLog::new(vec![Slot::FREE; 1237], 41).unwrap();
        bring_in(&mut al, 7..=7);
        let Ok(Prepared::Transaction(plan)) = al.prepare(1000..=1001) else {
            panic!("no plan");
        };
        let mut tr = empty_tr();
        al.transaction(&plan, &mut tr).unwrap();
        assert_eq!(tr.tr_number, 42);
        assert_eq!(tr.transaction_type, AL_TR_UPDATE);
        assert_eq!((tr.n_updates, tr.context_size), (2, 1237));
        assert_eq!(tr.context_start_slot_nr, 919);
        assert_eq!(tr.update_slot_nr[..3], [1234, 1235, FREE_SLOT]);
        assert_eq!(tr.update_extent_nr[..3], [1001, 1000, FREE_EXTENT]);
        assert!(tr.update_slot_nr[2..].iter().all(|&s| s == FREE_SLOT));
        assert!(tr.update_extent_nr[2..].iter().all(|&e| e == FREE_EXTENT));
        // slots 919..1237: 7 in slot 1236 (context index 317); 1234 and 1235 still free,
        // before this transaction's updates; nothing beyond the set
        assert_eq!(tr.context[317], 7);
        assert_eq!(tr.context[315..317], [FREE_EXTENT; 2]);
        assert_eq!(tr.context.iter().filter(|&&c| c != FREE_EXTENT).count(), 1);

        let mut block = [0; AL_TRANSACTION_BYTES];
        tr.encode(&mut block);
        assert_eq!(Transaction::decode(&block), Ok(tr.clone()));
        al.commit(plan).unwrap();

        // the next one starts over at slot 0 (919 + 919 >= 1237) and shows all three
        assert_eq!(al.context_start(), 0);
        al.empty_transaction(&mut tr);
        assert_eq!((tr.tr_number, tr.n_updates), (43, 0));
        assert_eq!(tr.context_start_slot_nr, 0);
        assert!(tr.context.iter().all(|&c| c == FREE_EXTENT));
        al.commit_empty();
        al.empty_transaction(&mut tr);
        assert_eq!((tr.tr_number, tr.context_start_slot_nr), (44, 919));
        assert_eq!(tr.context[315..318], [1001, 1000, 7]);
        // what transaction::encode_empty() writes for an empty set is the same block
        let empty = al_new_empty(1237, 919, 44);
        let mut a = [0; AL_TRANSACTION_BYTES];
        let mut b = [0; AL_TRANSACTION_BYTES];
        empty.encode(&mut a);
        super::super::transaction::encode_empty(44, 1237, 919, &mut b);
        assert_eq!(a[..], b[..]);
    }

    fn al_new_empty(nr: usize, start: u16, tr_number: u32) -> Transaction {
        let mut al: Al = ActLog::new(vec![Slot::FREE; nr], tr_number).unwrap();
        al.context_start = start;
        let mut tr = empty_tr();
        al.empty_transaction(&mut tr);
        tr
    }

    #[test]
    fn context_rotation() {
        for (nr, starts) in [
            (67, &[0, 0, 0][..]),
            (919, &[0, 0]),
            (920, &[0, 919, 0]),
            (1237, &[0, 919, 0, 919]),
            (2757, &[0, 919, 1838, 0]),
            (2758, &[0, 919, 1838, 2757, 0]),
            (65534, &[0, 919, 1838]),
        ] {
            let mut al: Al = ActLog::new(vec![Slot::FREE; nr], u32::MAX).unwrap();
            let mut tr = empty_tr();
            for (k, &start) in starts.iter().enumerate() {
                assert_eq!(al.context_start(), start, "{nr} slots, transaction {k}");
                al.empty_transaction(&mut tr);
                assert_eq!(tr.context_start_slot_nr, start);
                // the context ends with the set
                let shown = (nr - usize::from(start)).min(AL_CONTEXT_PER_TRANSACTION);
                assert!(tr.context[shown..].iter().all(|&c| c == FREE_EXTENT));
                al.commit_empty();
            }
            // tr_number wraps as C's unsigned counter
            assert_eq!(al.tr_number(), starts.len() as u32 - 1);
        }
        // 65534 slots: 71 full contexts and one of 283 slots, then back to 0
        let mut al: Al = ActLog::new(vec![Slot::FREE; 65534], 0).unwrap();
        for _ in 0..71 {
            al.commit_empty();
        }
        assert_eq!(al.context_start(), 65249);
        al.commit_empty();
        assert_eq!(al.context_start(), 0);
    }

    /// A small xorshift generator, for reproducible workloads.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// `drbdmeta apply-al` (replay_al_84()) on the decoded blocks of the ring (`None` for one
    /// that did not decode): the valid update transactions, oldest first; each one's context,
    /// then its updates.
    fn replay(ring: &[Option<Transaction>], nr: usize) -> Vec<u32> {
        let mut trs: Vec<&Transaction> = ring
            .iter()
            .flatten()
            .filter(|tr| tr.transaction_type == AL_TR_UPDATE)
            .collect();
        trs.sort_by_key(|tr| tr.tr_number);
        let mut hot = vec![FREE_EXTENT; nr];
        for tr in trs {
            for (i, &enr) in tr.context.iter().enumerate() {
                let slot = usize::from(tr.context_start_slot_nr) + i;
                if enr == FREE_EXTENT && slot >= usize::from(tr.context_size) {
                    continue;
                }
                hot[slot] = enr;
            }
            for i in 0..usize::from(tr.n_updates) {
                hot[usize::from(tr.update_slot_nr[i])] = tr.update_extent_nr[i];
            }
        }
        hot
    }

    fn in_memory(al: &Al) -> Vec<u32> {
        let mut hot = vec![FREE_EXTENT; usize::from(al.nr_slots())];
        for a in al.active() {
            hot[usize::from(a.slot)] = a.extent;
        }
        hot
    }

    /// Random writes (one or two extents, some in flight for a while) against sets of several
    /// sizes; after each transaction, what drbdmeta would rebuild from the ring equals the set.
    /// Now and then a transaction is torn on its way to disk and cancelled: drbdmeta skips the
    /// block, and the next transaction goes to the same place.
    #[test]
    fn replay_rebuilds_the_active_set() {
        for (nr, ring_len, span, seed) in [
            (7usize, 8usize, 20u64, 1u64),
            (67, 8, 200, 2),
            (1237, 8, 3000, 3),
            (2000, 4, 2600, 4),
        ] {
            let mut al = ActLog::new(vec![Slot::FREE; nr], 0).unwrap();
            let mut block = [0u8; AL_TRANSACTION_BYTES];
            let mut tr = empty_tr();
            // drbdmeta create-md's blocks
            tr.encode(&mut block);
            let mut ring = vec![Transaction::decode(&block).ok(); ring_len];

            let mut rng = Rng(seed);
            let mut in_flight: Vec<RangeInclusive<u32>> = Vec::new();
            let (mut transactions, mut torn) = (0, 0);
            for _ in 0..5_000 {
                // finish some writes
                while !in_flight.is_empty() && rng.below(3) == 0 {
                    let w = in_flight.swap_remove(rng.below(in_flight.len() as u64) as usize);
                    al.complete(w).unwrap();
                }
                let first = rng.below(span) as u32;
                let last = first + u32::from(rng.below(8) == 0);
                match al.begin(first..=last).unwrap() {
                    Begin::Hot => in_flight.push(first..=last),
                    Begin::Busy => {}
                    Begin::NeedTransaction => {
                        let Ok(Prepared::Transaction(plan)) = al.prepare(first..=last) else {
                            panic!("begin said a transaction would do");
                        };
                        al.transaction(&plan, &mut tr).unwrap();
                        assert_eq!(usize::from(tr.n_updates), al.changes(&plan).count());
                        tr.encode(&mut block);
                        let tear = rng.below(20) == 0;
                        if tear {
                            block[2000] ^= 1;
                        }
                        ring[tr.tr_number as usize % ring_len] = Transaction::decode(&block).ok();
                        if tear {
                            al.cancel(plan).unwrap();
                            torn += 1;
                        } else {
                            al.commit(plan).unwrap();
                            in_flight.push(first..=last);
                            transactions += 1;
                        }
                        assert_eq!(replay(&ring, nr), in_memory(&al), "{nr} slots");
                    }
                }
            }
            consistent(&al);
            assert!(
                transactions > 100 && torn > 5,
                "{nr} slots: {transactions} transactions, {torn} torn"
            );
            for w in in_flight.drain(..) {
                al.complete(w).unwrap();
            }
            assert!(al.idle());
            assert_eq!(al.in_use(), 0);
            assert!(al.shrink());
            consistent(&al);
        }
    }

    /// No input sequence panics or breaks the bookkeeping: random calls, stale plans included.
    #[test]
    fn random_calls() {
        let mut rng = Rng(99);
        let mut al = al(9);
        let mut plans: Vec<Plan> = Vec::new();
        let mut tr = empty_tr();
        for _ in 0..50_000 {
            let first = rng.below(30) as u32;
            let last = first + rng.below(3) as u32;
            match rng.below(7) {
                0 => {
                    let _ = al.begin(first..=last);
                }
                1 => {
                    if let Ok(Prepared::Transaction(plan)) = al.prepare(first..=last) {
                        plans.push(plan);
                    }
                }
                2 => {
                    let _ = al.complete(first..=last);
                }
                3 if !plans.is_empty() => {
                    let plan = plans.swap_remove(rng.below(plans.len() as u64) as usize);
                    let _ = al.transaction(&plan, &mut tr);
                    let _ = match rng.below(3) {
                        0 => al.cancel(plan),
                        1 => al.commit_unlogged(plan),
                        _ => al.commit(plan),
                    };
                }
                4 => {
                    let _ = al.shrink();
                }
                _ => {
                    let _ = al.begin(rng.next() as u32..=rng.next() as u32);
                }
            }
            consistent(&al);
        }
    }
}
