// SPDX-License-Identifier: GPL-2.0
//! `resync-after`: a device resyncs only once the device it follows (by minor, and that one's
//! own dependency, along the chain) is not resyncing; meanwhile its resync is paused by the
//! dependency (`aftr_isp`, the `a` flag in /proc/drbd). Dependency loops are refused.
//!
//! C counterpart: _drbd_may_sync_now(), drbd_pause_after(), drbd_resume_next() and
//! drbd_resync_after_valid() of drbd_worker.c.

use super::state::{ConnState, DevState, DiskState};

/// What the chain needs of a device: its `resync-after` minor (`None`: -1, or no disk) and
/// its state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Link {
    pub(crate) after: Option<u32>,
    pub(crate) state: DevState,
}

/// How `resync-after` is checked: fine, a minor out of range, or a loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Valid {
    Ok,
    OutOfRange,
    Cycle,
}

/// `MINORMASK`: the largest minor.
const MINOR_MAX: i64 = (1 << 20) - 1;

/// The device `minor` may resync now: no device up its chain is resyncing or has its resync
/// paused. `device` looks a minor up (`None`: no such device). A chain longer than `limit`
/// devices is a loop, which [`valid`] keeps out; it counts as free to go.
pub(crate) fn may_sync_now(minor: u32, limit: usize, device: impl Fn(u32) -> Option<Link>) -> bool {
    let mut at = device(minor);
    for _ in 0..limit {
        let Some(link) = at else {
            return true;
        };
        if link.state.disk == DiskState::Diskless {
            return true;
        }
        let Some(next) = link.after.and_then(&device) else {
            return true;
        };
        let s = next.state;
        let syncing = (ConnState::SyncSource..=ConnState::PausedSyncT).contains(&s.conn);
        if syncing || s.aftr_isp || s.peer_isp || s.user_isp {
            return false;
        }
        at = Some(next);
    }
    true
}

/// drbd_resync_after_valid(): may `minor` resync after `after` (-1: after none)? The chain
/// from `after` must not come back to `minor`; it may end at a minor that does not exist, or
/// has no disk.
pub(crate) fn valid(
    minor: u32,
    after: i64,
    limit: usize,
    device: impl Fn(u32) -> Option<Link>,
) -> Valid {
    if after == -1 {
        return Valid::Ok;
    }
    if !(0..=MINOR_MAX).contains(&after) {
        return Valid::OutOfRange;
    }
    let mut at = after as u32;
    for _ in 0..=limit {
        if at == minor {
            return Valid::Cycle;
        }
        let Some(link) = device(at) else {
            return Valid::Ok;
        };
        if link.state.disk == DiskState::Diskless {
            return Valid::Ok;
        }
        match link.after {
            Some(next) => at = next,
            None => return Valid::Ok,
        }
    }
    // longer than the devices there are: a loop that does not pass `minor`
    Valid::Cycle
}

/// The `resync-after` disk option as the chain takes it: -1 (and anything negative) is none.
pub(crate) fn after_minor(option: i64) -> Option<u32> {
    u32::try_from(option).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(after: Option<u32>, conn: ConnState) -> Link {
        Link {
            after,
            state: DevState {
                conn,
                disk: DiskState::UpToDate,
                ..DevState::new_minor()
            },
        }
    }

    #[test]
    fn a_device_waits_for_the_chain_it_follows() {
        // 2 after 1 after 0; 0 resyncs
        let devs = [
            dev(None, ConnState::SyncTarget),
            dev(Some(0), ConnState::Connected),
            dev(Some(1), ConnState::Connected),
        ];
        let look = |m: u32| devs.get(m as usize).copied();
        assert!(may_sync_now(0, 3, look));
        assert!(!may_sync_now(1, 3, look));
        assert!(!may_sync_now(2, 3, look));
        // 0 done: 1 goes; 2 waits while 1 resyncs
        let devs = [
            dev(None, ConnState::Connected),
            dev(Some(0), ConnState::SyncTarget),
            dev(Some(1), ConnState::Connected),
        ];
        let look = |m: u32| devs.get(m as usize).copied();
        assert!(may_sync_now(1, 3, look));
        assert!(!may_sync_now(2, 3, look));
    }

    #[test]
    fn a_paused_dependency_holds_the_chain_too() {
        let mut paused = dev(None, ConnState::Connected);
        paused.state.aftr_isp = true;
        let devs = [paused, dev(Some(0), ConnState::Connected)];
        assert!(!may_sync_now(1, 2, |m| devs.get(m as usize).copied()));
    }

    #[test]
    fn missing_or_diskless_dependencies_do_not_hold() {
        let devs = [dev(Some(7), ConnState::Connected)];
        assert!(may_sync_now(0, 1, |m| devs.get(m as usize).copied()));
        let mut diskless = dev(Some(0), ConnState::Connected);
        diskless.state.disk = DiskState::Diskless;
        let devs = [dev(None, ConnState::SyncSource), diskless];
        assert!(may_sync_now(1, 2, |m| devs.get(m as usize).copied()));
    }

    #[test]
    fn loops_are_refused() {
        let devs = [
            dev(Some(1), ConnState::Connected),
            dev(None, ConnState::Connected),
        ];
        let look = |m: u32| devs.get(m as usize).copied();
        // 1 after 0, which follows 1
        assert_eq!(valid(1, 0, 2, look), Valid::Cycle);
        assert_eq!(valid(1, 1, 2, look), Valid::Cycle);
        assert_eq!(valid(1, -1, 2, look), Valid::Ok);
        // a minor that does not exist (yet) is fine
        assert_eq!(valid(1, 5, 2, look), Valid::Ok);
        assert_eq!(valid(1, -2, 2, look), Valid::OutOfRange);
        assert_eq!(valid(1, 1 << 20, 2, look), Valid::OutOfRange);
        // a loop that does not pass the device ends too
        let devs = [
            dev(Some(1), ConnState::Connected),
            dev(Some(0), ConnState::Connected),
        ];
        let look = |m: u32| devs.get(m as usize).copied();
        assert_eq!(valid(2, 0, 2, look), Valid::Cycle);
        assert!(may_sync_now(0, 2, look));
        assert_eq!(after_minor(-1), None);
        assert_eq!(after_minor(3), Some(3));
    }
}
