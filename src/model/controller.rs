// SPDX-License-Identifier: GPL-2.0
//! How fast a SyncTarget asks for blocks, in steps of 100 ms: the fixed `resync-rate`, or the
//! dynamic controller (`c-plan-ahead` > 0), which keeps enough requests in flight to fill the
//! pipe (`c-fill-target`, or the data that arrives within `c-delay-target`) and spreads the
//! correction over the steps it plans ahead, never above `c-max-rate`; and the rolling sync
//! marks the speed in /proc/drbd is measured against.
//!
//! C counterpart: drbd_rs_controller(), drbd_rs_number_requests() (drbd_worker.c), struct
//! fifo_buffer, drbd_advance_rs_marks() and drbd_syncer_progress() (drbd_proc.c).

/// Steps a second (C: SLEEP_TIME is HZ / 10).
pub(crate) const STEPS_PER_SEC: u32 = 10;
/// Sectors per bitmap bit (4 KiB).
const SECT_PER_BIT: u32 = 8;
/// `DRBD_C_PLAN_AHEAD_MAX`: the longest plan, in steps (0.1 s each).
pub(crate) const PLAN_MAX: usize = 300;

/// The disk options that set the pace, in their own units.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RateConf {
    /// `resync-rate`, KiB/s: the fixed rate, and the start of a controlled resync.
    pub(crate) resync_rate: u32,
    /// `c-plan-ahead`, 0.1 s: steps the controller plans ahead; 0 turns it off.
    pub(crate) plan_ahead: u32,
    /// `c-delay-target`, 0.1 s: how long requests may take, used without a fill target.
    pub(crate) delay_target: u32,
    /// `c-fill-target`, sectors: what to keep in flight (0: from the delay target).
    pub(crate) fill_target: u32,
    /// `c-max-rate`, KiB/s.
    pub(crate) max_rate: u32,
    /// `c-min-rate`, KiB/s: below it a resync is never slowed for application I/O.
    pub(crate) min_rate: u32,
}

impl RateConf {
    /// From the disk options `[resync-rate, c-plan-ahead, c-delay-target, c-fill-target,
    /// c-max-rate, c-min-rate]`.
    pub(crate) fn from_options(o: [u32; 6]) -> Self {
        let [resync_rate, plan_ahead, delay_target, fill_target, max_rate, min_rate] = o;
        Self {
            resync_rate,
            plan_ahead,
            delay_target,
            fill_target,
            max_rate,
            min_rate,
        }
    }

    /// The plan's length in steps (0: the fixed rate).
    fn steps(&self) -> usize {
        (self.plan_ahead as usize).min(PLAN_MAX)
    }
}

/// The controller's state for one resync (C: `rs_plan_s`), its plan kept in `S` (at least
/// [`PLAN_MAX`] entries; the caller's storage, off the stack).
#[derive(Clone, Debug)]
pub(crate) struct Controller<S> {
    /// Corrections planned for the next steps (a ring of `size` entries from `head`).
    plan: S,
    head: usize,
    size: usize,
    /// The sum of the planned corrections.
    total: i32,
}

impl<S: core::ops::DerefMut<Target = [i32]>> Controller<S> {
    /// A controller with an empty plan in `plan`.
    pub(crate) fn new(mut plan: S) -> Self {
        plan.fill(0);
        Self {
            plan,
            head: 0,
            size: 0,
            total: 0,
        }
    }

    /// Starts again with an empty plan (a new c-plan-ahead, a pause ended).
    pub(crate) fn reset(&mut self) {
        self.plan.fill(0);
        self.head = 0;
        self.size = 0;
        self.total = 0;
    }

    /// Sectors to ask for in this step, given the sectors that came in since the last step
    /// (`sect_in`) and those still in flight (`in_flight`, not counting `sect_in`). Also
    /// returns the rate this amounts to (KiB/s, for /proc's "want:").
    pub(crate) fn step(&mut self, conf: &RateConf, sect_in: u32, in_flight: u32) -> (u32, u32) {
        let steps = conf.steps().min(self.plan.len());
        if steps == 0 {
            // the fixed rate
            let sect = conf.resync_rate.saturating_mul(2) / STEPS_PER_SEC;
            return (sect, conf.resync_rate);
        }
        if steps != self.size {
            // a new c-plan-ahead: a new, empty plan (C allocates one)
            self.reset();
            self.size = steps;
        }
        let plan = &mut self.plan[..steps];
        let steps_i = steps as i64;
        let want: i64 = if in_flight == 0 && sect_in == 0 {
            // the start: resync-rate over the whole plan
            i64::from(conf.resync_rate) * 2 / i64::from(STEPS_PER_SEC) * steps_i
        } else if conf.fill_target != 0 {
            i64::from(conf.fill_target)
        } else {
            i64::from(sect_in) * i64::from(conf.delay_target)
        };
        let correction = want - i64::from(in_flight) - i64::from(self.total);
        let per_step = clamp_i32(correction / steps_i);
        for v in plan.iter_mut() {
            *v = v.saturating_add(per_step);
        }
        self.total = clamp_i32(i64::from(self.total) + i64::from(per_step) * steps_i);
        // this step's share leaves the plan
        let now = core::mem::replace(&mut plan[self.head], 0);
        self.head = (self.head + 1) % steps;
        self.total = self.total.saturating_sub(now);
        let max_sect = i64::from(conf.max_rate) * 2 / i64::from(STEPS_PER_SEC);
        let sect = (i64::from(sect_in) + i64::from(now)).clamp(0, max_sect) as u32;
        let blocks = sect / SECT_PER_BIT;
        (sect, blocks * STEPS_PER_SEC * 4)
    }
}

fn clamp_i32(v: i64) -> i32 {
    v.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// drbd_rs_number_requests(): 4 KiB requests to send in a step that may ask for `sect`
/// sectors, with `in_flight` sectors outstanding and room for `max_buffers` pages at the
/// peer, of which a resync may fill half.
pub(crate) fn requests(sect: u32, in_flight: u32, max_buffers: u32) -> u32 {
    let room = (max_buffers / 2).saturating_sub(in_flight / SECT_PER_BIT);
    (sect / SECT_PER_BIT).min(room)
}

/// Sectors of application I/O since the last look above which a resync counts as competing
/// with it (C: 64 in drbd_rs_c_min_rate_throttle()).
pub(crate) const APP_EVENTS_MIN: u32 = 64;

/// Application I/O as c-min-rate sees it. C asks before each resync request whether more
/// than [`APP_EVENTS_MIN`] sectors of it came since it last found so, and sends a few
/// requests at a time; drbd-rs plans a step of up to 4 MiB every 100 ms, so I/O found within
/// the last second counts: a step that saw fewer new sectors would let a whole step's
/// requests through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AppIo {
    /// The application sectors counted when last found above the minimum, and when.
    seen: u32,
    at: Option<u64>,
}

impl AppIo {
    /// From the application sectors so far (a wrapping count).
    pub(crate) fn new(sectors: u32) -> Self {
        Self {
            seen: sectors,
            at: None,
        }
    }

    /// With `sectors` of application I/O so far at `now`: whether it competes with the resync.
    pub(crate) fn active(&mut self, sectors: u32, now: u64, hz: u64) -> bool {
        if sectors.wrapping_sub(self.seen) > APP_EVENTS_MIN {
            self.seen = sectors;
            self.at = Some(now);
        }
        self.at.is_some_and(|t| now.wrapping_sub(t) < hz)
    }
}

/// drbd_rs_c_min_rate_throttle(): whether the SyncTarget holds its requests back for a step:
/// application I/O competes (`app`, see [`AppIo`]) and the resync's recent speed (`recent`:
/// bits done and seconds, over the last two marks) is above c-min-rate (0: never).
pub(crate) fn throttle(min_rate_kib: u32, app: bool, recent: (u64, u64)) -> bool {
    if min_rate_kib == 0 || !app {
        return false;
    }
    let (bits, secs) = recent;
    let kib_per_sec = bits / secs.max(1) * 4;
    kib_per_sec > u64::from(min_rate_kib)
}

/// `DRBD_SYNC_MARKS`, and a mark every `SYNC_MARK_STEP` (3 s).
pub(crate) const SYNC_MARKS: usize = 8;
pub(crate) const MARK_STEP_SECS: u64 = 3;

/// The rolling marks of a resync's progress: bits left at a time (C: `rs_mark_left`,
/// `rs_mark_time`, `rs_last_mark`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Marks {
    left: [u64; SYNC_MARKS],
    time: [u64; SYNC_MARKS],
    last: usize,
}

impl Marks {
    /// All marks at the start: `left` bits at `now` (jiffies).
    pub(crate) fn new(left: u64, now: u64) -> Self {
        Self {
            left: [left; SYNC_MARKS],
            time: [now; SYNC_MARKS],
            last: 0,
        }
    }

    /// drbd_advance_rs_marks(): a new mark once the last is a step old and bits were done.
    pub(crate) fn advance(&mut self, left: u64, now: u64, hz: u64) {
        let age = now.wrapping_sub(self.time[self.last]);
        if age >= MARK_STEP_SECS * hz && self.left[self.last] != left {
            self.last = (self.last + 1) % SYNC_MARKS;
            self.left[self.last] = left;
            self.time[self.last] = now;
        }
    }

    /// Bits done since the mark before the last, and its age in seconds: the speed
    /// c-min-rate is compared with (about the last 6 s).
    pub(crate) fn recent(&self, left: u64, now: u64, hz: u64) -> (u64, u64) {
        let i = (self.last + SYNC_MARKS - 1) % SYNC_MARKS;
        (
            self.left[i].saturating_sub(left),
            now.wrapping_sub(self.time[i]) / hz.max(1),
        )
    }

    /// The mark the current speed is measured from (drbd_syncer_progress(): two after the
    /// last, i.e. the oldest but one): bits left then, and its age in seconds.
    pub(crate) fn reference(&self, now: u64, hz: u64) -> (u64, u64) {
        let i = (self.last + 2) % SYNC_MARKS;
        (self.left[i], now.wrapping_sub(self.time[i]) / hz.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctl() -> Controller<std::vec::Vec<i32>> {
        Controller::new(std::vec![7; PLAN_MAX])
    }

    fn conf(plan_ahead: u32, fill_target: u32) -> RateConf {
        RateConf {
            resync_rate: 250,
            plan_ahead,
            delay_target: 10,
            fill_target,
            max_rate: 102400,
            min_rate: 250,
        }
    }

    #[test]
    fn the_fixed_rate_without_a_plan() {
        let mut c = ctl();
        // 250 KiB/s: 50 sectors each 100 ms
        assert_eq!(c.step(&conf(0, 0), 0, 0), (50, 250));
        assert_eq!(c.step(&conf(0, 0), 50, 50), (50, 250));
    }

    #[test]
    fn the_controller_fills_to_the_fill_target_and_follows_what_comes_in() {
        let cf = conf(20, 100 << 1); // c-fill-target 100 KiB = 200 sectors
        let mut c = ctl();
        // the start: resync-rate over the plan (50 sectors a step, 20 steps: 1000 wanted),
        // 1/20 of it now
        let (first, _) = c.step(&cf, 0, 0);
        assert_eq!(first, 50);
        // a pipe whose answers take 5 steps: the controller converges on keeping the fill
        // target in flight, besides what arrives in a step (C counts in flight after
        // subtracting it) and a correction smaller than one per step (integer division)
        let mut pipe = [0u32; 5];
        pipe[0] = first;
        let mut in_flight = first;
        for step in 1..300 {
            let sect_in = core::mem::take(&mut pipe[step % 5]);
            in_flight -= sect_in;
            let (sect, _) = c.step(&cf, sect_in, in_flight);
            pipe[step % 5] = sect;
            in_flight += sect;
        }
        let last = pipe[299 % 5];
        assert!(
            (200..=200 + last + cf.plan_ahead).contains(&in_flight),
            "in flight {in_flight}"
        );
    }

    #[test]
    fn an_instant_pipe_is_filled_up_to_c_max_rate() {
        let mut cf = conf(20, 200);
        cf.max_rate = 4000; // 800 sectors a step
        let mut c = ctl();
        let mut sect = c.step(&cf, 0, 0).0;
        for _ in 0..100 {
            // everything answered within the step
            sect = c.step(&cf, sect, 0).0;
        }
        assert_eq!(sect, 800);
    }

    #[test]
    fn the_delay_target_sizes_the_pipe_without_a_fill_target() {
        // 1000 sectors came in during the last step: c-delay-target 1 s keeps ten steps' worth
        let cf = conf(10, 0);
        let mut c = ctl();
        c.step(&cf, 0, 0);
        let mut in_flight = 0u32;
        for _ in 0..300 {
            let (sect, _) = c.step(&cf, 1000, in_flight);
            in_flight = (in_flight + sect).saturating_sub(1000);
        }
        assert!((9000..=11000).contains(&in_flight), "in flight {in_flight}");
    }

    #[test]
    fn never_above_c_max_rate_and_never_negative() {
        let mut cf = conf(20, 1 << 20);
        cf.max_rate = 1000; // 200 sectors a step
        let mut c = ctl();
        for _ in 0..50 {
            let (sect, rate) = c.step(&cf, 0, 10);
            assert!(sect <= 200);
            assert!(rate <= 1000);
        }
        // far too much in flight: nothing asked for
        let mut c = ctl();
        assert_eq!(c.step(&conf(20, 100), 0, 50_000).0, 0);
    }

    #[test]
    fn a_new_plan_ahead_starts_a_new_plan() {
        let mut c = ctl();
        c.step(&conf(20, 1000), 10, 10);
        assert_eq!(c.size, 20);
        c.step(&conf(5, 1000), 10, 10);
        assert_eq!(c.size, 5);
        assert!(c.plan[5..].iter().all(|&v| v == 0));
        c.reset();
        assert_eq!((c.size, c.total), (0, 0));
        assert!(c.plan.iter().all(|&v| v == 0));
    }

    #[test]
    fn requests_leave_the_peer_half_its_buffers() {
        assert_eq!(requests(800, 0, 2048), 100);
        // max-buffers 2048 pages: at most 1024 of them for the resync
        assert_eq!(requests(800, 1020 * 8, 2048), 4);
        assert_eq!(requests(800, 2000 * 8, 2048), 0);
    }

    #[test]
    fn c_min_rate_throttles_only_a_fast_resync_competing_with_application_io() {
        // 1000 bits (4000 KiB) in 4 s: 1000 KiB/s
        assert!(throttle(250, true, (1000, 4)));
        // no application I/O, or c-min-rate 0: never
        assert!(!throttle(250, false, (1000, 4)));
        assert!(!throttle(0, true, (1000, 4)));
        // at or below c-min-rate: goes on
        assert!(!throttle(1000, true, (1000, 4)));
        assert!(!throttle(250, true, (10, 4)));
    }

    #[test]
    fn application_io_counts_for_a_second() {
        let hz = 100;
        let mut app = AppIo::new(u32::MAX - 10);
        // hardly any yet
        assert!(!app.active(u32::MAX, 0, hz));
        // more than 64 sectors (across the wrap): active, for a second
        assert!(app.active(60, 10, hz));
        assert!(app.active(70, 50, hz));
        assert!(app.active(100, 109, hz));
        assert!(!app.active(100, 110, hz));
        // 64 more since it was last found so: active again
        assert!(app.active(125, 120, hz));
    }

    #[test]
    fn marks_measure_the_recent_speed() {
        let hz = 100;
        let mut m = Marks::new(1000, 0);
        // nothing done yet: no new mark
        m.advance(1000, 5 * hz, hz);
        assert_eq!(m.last, 0);
        // a mark every 3 s while bits are done
        for s in 1..=8u64 {
            m.advance(1000 - s * 10, s * 3 * hz, hz);
        }
        assert_eq!(m.last, 0);
        // two after the last (index 2): left 980 at 6 s, 18 s before 24 s
        assert_eq!(m.reference(24 * hz, hz), (980, 18));
        // the mark before the last (index 7): left 930 at 21 s
        assert_eq!(m.recent(900, 24 * hz, hz), (30, 3));
    }
}
