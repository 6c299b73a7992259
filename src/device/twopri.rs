// SPDX-License-Identifier: GPL-2.0
//! Two Primaries: the peer's writes enter the table of writes in flight, and a peer write that
//! meets a write of ours is resolved as `model/conflict.rs` decides; the writes of ours the
//! peer asked to do again (P_RETRY_WRITE) wait here, postponed, for the peer's write that
//! conflicted with them, and are then done again by the device's worker.
//!
//! C counterpart: handle_write_conflicts(), restart_conflicting_writes() and
//! fail_postponed_requests() of drbd_receiver.c; POSTPONE_WRITE, CONFLICT_RESOLVED and
//! drbd_restart_request() of drbd_req.c.

use super::io::{Claim, DevIo, IoGuard};
use crate::genl::config::Name;
use crate::model::conflict::{Kind, PeerVerdict, Tag};
use crate::net::link::Link;
use crate::sys::blk::{Op, Remote};
use crate::sys::print::ratelimit;
use crate::sys::{jiffies, msecs_to_jiffies};
use crate::wire::packet;
use kernel::prelude::*;
use kernel::sync::Arc;

/// What becomes of a peer write that arrived while we are Primary too.
pub(crate) enum PeerBegin {
    /// Write it, holding `claim` (its slot in the table) until its ack is sent; `restart`: then
    /// do the postponed writes of ours it overlaps again ([`DevIo::peer_write_done`]).
    Write { claim: Option<Claim>, restart: bool },
    /// We resolve conflicts, and our write in flight (`local`: start, end) covers it: not
    /// written, P_SUPERSEDED.
    Superseded { local: (u64, u64) },
    /// We resolve conflicts, and our write in flight overlaps it: not written, the peer is to
    /// write it again after ours (P_RETRY_WRITE).
    Retry { local: (u64, u64) },
}

impl DevIo {
    /// handle_write_conflicts(): enters a peer write of `sectors` from `sector` in the table
    /// and waits until the writes of ours it overlaps let it go, or resolves the conflict if
    /// we resolve conflicts. `None` when the connection broke, or is given up because the
    /// conflict was not resolved within ko-count × timeout (C: C_TIMEOUT).
    pub(crate) fn peer_write_begin(
        this: &Arc<Self>,
        link: &Link,
        sector: u64,
        sectors: u64,
    ) -> Option<PeerBegin> {
        let resolver = link.resolves_conflicts();
        let limit = link.ko_limit_ms();
        let deadline = (limit != 0).then(|| jiffies() + msecs_to_jiffies(limit));
        // (attachment, slot) of the write's claim
        let mut held: Option<(u64, u16)> = None;
        let mut guard = this.ldev.lock();
        loop {
            let Some(io) = guard.as_mut() else {
                // detached meanwhile: the write fails at the disk that is gone
                return Some(PeerBegin::Write {
                    claim: None,
                    restart: false,
                });
            };
            if held.is_some_and(|(id, _)| id != io.id) {
                held = None;
            }
            if held.is_none() {
                held = io
                    .writes
                    .insert(sector, sectors, Kind::Peer)
                    .map(|slot| (io.id, slot));
            }
            if let Some((ldev, slot)) = held {
                let postponed = this.postponed.lock();
                let local_done = |s: u16| {
                    postponed
                        .iter()
                        .flatten()
                        .any(|(p, h)| *p == s && h.local_done())
                };
                let verdict = io.writes.peer_write(slot, resolver, local_done);
                drop(postponed);
                let begin = match verdict {
                    PeerVerdict::Wait => None,
                    PeerVerdict::Write { restart } => Some(PeerBegin::Write {
                        claim: Some(Claim {
                            io: this.clone(),
                            ldev,
                            slot,
                        }),
                        restart,
                    }),
                    PeerVerdict::Superseded { local } => {
                        io.writes.leave(slot);
                        Some(PeerBegin::Superseded { local })
                    }
                    PeerVerdict::Retry { local } => {
                        io.writes.leave(slot);
                        Some(PeerBegin::Retry { local })
                    }
                };
                if let Some(begin) = begin {
                    drop(guard);
                    // our writes that overlap it wait for its claim, if it has one
                    this.al_wait.notify_all();
                    return Some(begin);
                }
            }
            let late = deadline.is_some_and(|d| jiffies() > d);
            if link.is_broken() || late {
                if let Some((_, slot)) = held.filter(|(id, _)| *id == io.id) {
                    io.writes.leave(slot);
                }
                drop(guard);
                this.al_wait.notify_all();
                if late {
                    pr_err!(
                        "drbd{}: a write conflicting with the peer's was not resolved within {} ms\n",
                        this.minor,
                        limit
                    );
                    link.fail();
                }
                return None;
            }
            // a table change wakes us; a full table frees up as peer writes complete
            let _ = this
                .al_wait
                .wait_interruptible_timeout(&mut guard, msecs_to_jiffies(10) as _);
        }
    }

    /// A peer write whose claim is gone (its ack was sent): with `restart`, the postponed
    /// writes of ours it overlaps are done again (restart_conflicting_writes()).
    pub(crate) fn peer_write_done(this: &Arc<Self>, sector: u64, sectors: u64, restart: bool) {
        if !restart {
            return;
        }
        let any = this
            .ldev
            .lock()
            .as_mut()
            .is_some_and(|io| io.writes.restart_postponed(sector, sectors));
        if any {
            let _ = crate::sys::wq::submit_queue().enqueue(this.clone());
        }
    }

    /// The peer acknowledged (or superseded) the write of `hold`, about to be released: a
    /// peer write that overlaps it now comes after it (see [`Kind::Acked`]).
    pub(crate) fn peer_acked(&self, hold: &Remote<DevIo>) {
        if let Some(slot) = Tag::decode(hold.tag()).slot {
            if let Some(io) = self.ldev.lock().as_mut() {
                io.writes.peer_acked(slot);
            }
        }
    }

    /// got_BlockAck() with P_RETRY_WRITE (POSTPONE_WRITE): the peer resolved a conflict with
    /// one of its writes by asking us to do `hold`'s write again once its own is written. A
    /// write that is not in the table (a Diskless Primary's) cannot wait for that: it fails
    /// towards the peer, its blocks out of sync.
    pub(crate) fn postpone(&self, hold: Remote<DevIo>) {
        let slot = Tag::decode(hold.tag()).slot;
        let mut guard = self.ldev.lock();
        let kept = match (slot, guard.as_mut()) {
            (Some(slot), Some(io)) if io.writes.get(slot).is_some() => {
                let mut postponed = self.postponed.lock();
                let free = match postponed.iter().position(Option::is_none) {
                    Some(i) => Some(i),
                    None => {
                        // (room first: a hold must not be dropped under these locks)
                        let room = postponed.reserve(1, GFP_ATOMIC).is_ok();
                        room.then(|| {
                            let _ = postponed.push(None, GFP_ATOMIC);
                            postponed.len() - 1
                        })
                    }
                };
                match free.and_then(|i| postponed.get_mut(i)) {
                    Some(free) => {
                        *free = Some((slot, hold));
                        io.writes.set_kind(slot, Kind::Postponed);
                        None
                    }
                    None => Some(hold),
                }
            }
            _ => Some(hold),
        };
        drop(guard);
        if let Some(hold) = kept {
            if ratelimit() {
                pr_warn!(
                    "drbd{}: a write the peer wants again cannot be postponed\n",
                    self.minor
                );
            }
            self.fail_write(hold);
        }
        self.al_wait.notify_all();
    }

    /// A postponed write that cannot be done again: out of sync with the peer; it completes
    /// with what its local part did.
    fn fail_write(&self, hold: Remote<DevIo>) {
        if let Some(slot) = Tag::decode(hold.tag()).slot {
            if let Some(io) = self.ldev.lock().as_mut() {
                if let Some(e) = io.writes.get(slot) {
                    io.writes.set_kind(slot, Kind::Local);
                    io.mark_out_of_sync(e.start, e.end - e.start);
                }
            }
        }
        hold.release(false);
    }

    /// The connection is gone: the postponed writes complete (their blocks out of sync;
    /// fail_postponed_requests()).
    pub(crate) fn fail_postponed(&self) {
        loop {
            let hold = self
                .postponed
                .lock()
                .iter_mut()
                .find_map(|e| e.take())
                .map(|(_, hold)| hold);
            let Some(hold) = hold else {
                self.kick_detach();
                return;
            };
            self.fail_write(hold);
        }
    }

    /// Whether writes wait here to be done again: a detach waits for them too (their slots
    /// are in the disk's table).
    pub(crate) fn has_postponed(&self, _held: &IoGuard<'_>) -> bool {
        self.postponed.lock().iter().any(Option::is_some)
    }

    /// The worker's part (drbd_restart_request()): each postponed write whose conflicting
    /// peer write is done goes to the disk and the peer again, once nothing else in flight
    /// overlaps it.
    pub(crate) fn restart_postponed(&self) {
        loop {
            let mut guard = self.ldev.lock();
            let Some(slot) = guard.as_ref().and_then(|io| io.writes.first_restart()) else {
                return;
            };
            while guard
                .as_ref()
                .is_some_and(|io| io.writes.others_overlap(slot))
            {
                self.al_wait.wait(&mut guard);
            }
            let Some(io) = guard.as_mut() else {
                return;
            };
            // (failed with the connection meanwhile, its slot maybe another write's)
            let Some(entry) = io.writes.get(slot).filter(|e| e.kind == Kind::Restart) else {
                continue;
            };
            io.writes.set_kind(slot, Kind::Local);
            let to = io.data.clone();
            let hold = self
                .postponed
                .lock()
                .iter_mut()
                .find(|e| e.as_ref().is_some_and(|(s, _)| *s == slot))
                .and_then(Option::take)
                .map(|(_, hold)| hold);
            let Some(hold) = hold else {
                continue;
            };
            // lock order: ldev, then link
            let link = self.link();
            if link.is_some() && hold.local_again() {
                // (the request is counted in `local` until it ends, once)
                self.disk_start();
            }
            drop(guard);
            let (sector, sectors) = (entry.start, entry.end - entry.start);
            let Some((link, volume)) = link else {
                self.fail_write(hold);
                continue;
            };
            let (op, fua) = hold.op_fua();
            let kind = match op {
                Op::Discard => packet::P_TRIM,
                Op::WriteZeroes => packet::P_ZEROES,
                _ => packet::P_DATA,
            };
            let remote = hold.restart(&to);
            self.replicate(&link, volume, kind, remote, sector, sectors, fua);
            self.kick_detach();
        }
    }
}

impl Link {
    /// The ack a peer write that was not written gets when we resolve conflicts: P_SUPERSEDED,
    /// or P_RETRY_WRITE from protocol 100 on (before, P_SUPERSEDED for both, as in C).
    pub(crate) fn conflict_ack(&self, retry: bool) -> u16 {
        if retry && self.agreed.version >= 100 {
            packet::P_RETRY_WRITE
        } else {
            packet::P_SUPERSEDED
        }
    }
}

impl DevIo {
    /// The kernel log's line for a conflict we resolved, as handle_write_conflicts() logs it
    /// (not for writes of the same blocks).
    pub(crate) fn log_conflict(
        &self,
        name: &Name,
        volume: u16,
        local: (u64, u64),
        sector: u64,
        size: u32,
        superseded: bool,
    ) {
        let (start, end) = local;
        let local_bytes = (end - start) << 9;
        if start == sector && local_bytes == u64::from(size) {
            return;
        }
        pr_alert!(
            "{}/{} drbd{}: Concurrent writes detected: local={}s +{}, remote={}s +{}, assuming {} came first\n",
            name,
            volume,
            self.minor,
            start,
            local_bytes,
            sector,
            size,
            if superseded { "local" } else { "remote" }
        );
    }
}
