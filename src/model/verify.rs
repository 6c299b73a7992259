// SPDX-License-Identifier: GPL-2.0
//! Online verify (C_VERIFY_S and C_VERIFY_T). The source asks for the digest of one 4 KiB
//! block after the other (P_OV_REQUEST), compares it with its own and tells the target the
//! result of each (P_OV_RESULT). Both sides count the blocks left, and log runs of blocks found
//! out of sync as C does.
//!
//! C counterpart: set_ov_position(), make_ov_request(), w_e_end_ov_reply(),
//! receive_DataRequest() for P_OV_REQUEST, got_OVResult(), drbd_ov_out_of_sync_found() and
//! ov_out_of_sync_print() of drbd_state.c, drbd_receiver.c and drbd_worker.c.

/// Sectors per bitmap bit (4 KiB).
const SECT_PER_BIT: u64 = 8;

/// One online verify run, on its source or its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Verify {
    /// Bitmap bits of the device.
    bits: u64,
    /// Target, protocol 90 and later: the first request tells where the source starts.
    start_told: bool,
    /// Where it started (sectors), once known.
    pub(crate) start: Option<u64>,
    /// Blocks this run covers (`rs_total`), and those still to be verified (`ov_left`).
    pub(crate) total: u64,
    pub(crate) left: u64,
    /// Source: the next sector to ask for (`ov_position`), and where to stop (`ov_stop_sector`;
    /// `u64::MAX`: at the end); whether a request went out yet.
    position: u64,
    stop: u64,
    asked: bool,
    /// The run of out-of-sync sectors not logged yet (`ov_last_oos_start`, `ov_last_oos_size`).
    run: (u64, u64),
}

/// What the result of one block makes either side do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// Log "Out of sync: start=…, size=… (sectors)" for this run.
    pub(crate) print: Option<(u64, u64)>,
    /// The last block was verified (or the stop sector reached): "Online verify done".
    pub(crate) done: bool,
}

/// verify_can_do_stop_sector(): whether a peer at protocol `apv` knows that a verify may end
/// before the end of the device.
pub(crate) const fn can_stop_early(apv: u32) -> bool {
    apv >= 97 && apv != 100
}

impl Verify {
    /// Entering VerifyT on a device of `bits` bitmap bits, at protocol version `apv`.
    pub(crate) fn target(bits: u64, apv: u32) -> Self {
        Self {
            bits,
            start_told: apv >= 90,
            start: (apv < 90).then_some(0),
            total: bits,
            left: bits,
            position: 0,
            stop: u64::MAX,
            asked: false,
            run: (0, 0),
        }
    }

    /// Entering VerifyS (set_ov_position()): from `start` (sectors, rounded down to a block;
    /// from the start before protocol 90) to `stop` (ignored by a peer that cannot stop early).
    /// A start beyond the end verifies the last block.
    pub(crate) fn source(bits: u64, start: u64, stop: u64, apv: u32) -> Self {
        let mut bit = if apv < 90 { 0 } else { start / SECT_PER_BIT };
        if bits > 0 && bit >= bits {
            bit = bits - 1;
        }
        let total = bits - bit.min(bits);
        Self {
            bits,
            start_told: false,
            start: Some(bit * SECT_PER_BIT),
            total,
            left: total,
            position: bit * SECT_PER_BIT,
            stop: if can_stop_early(apv) { stop } else { u64::MAX },
            asked: false,
            run: (0, 0),
        }
    }

    /// Target: a P_OV_REQUEST for `sector`: the first one (from protocol 90 on) sets where the
    /// verify starts, and returns it for "Online Verify start sector: …".
    pub(crate) fn request(&mut self, sector: u64) -> Option<u64> {
        if self.start.is_some() || !self.start_told {
            return None;
        }
        self.start = Some(sector);
        self.left = self.bits.saturating_sub(sector / SECT_PER_BIT);
        self.total = self.left;
        Some(sector)
    }

    /// Source (make_ov_request()): the next block to ask for on a device of `capacity`
    /// sectors, as (sector, bytes); `None` at the end or the stop sector (the first request
    /// always goes out).
    pub(crate) fn next_request(&mut self, capacity: u64) -> Option<(u64, u32)> {
        let sector = self.position;
        if sector >= capacity || (self.asked && sector >= self.stop) {
            return None;
        }
        let sectors = SECT_PER_BIT.min(capacity - sector);
        self.position = sector + SECT_PER_BIT;
        self.asked = true;
        Some((sector, (sectors << 9) as u32))
    }

    /// The result for `sectors` from `sector`: `in_sync` or not (then the caller marks the
    /// blocks out of sync). C extends the current run by a block that follows it and otherwise
    /// starts a new one (the old one then goes unlogged, as in C); an in-sync block, and the end,
    /// log the run.
    pub(crate) fn result(&mut self, sector: u64, sectors: u64, in_sync: bool) -> Outcome {
        let mut out = Outcome::default();
        if in_sync {
            out.print = self.take_run();
        } else if self.run.0 + self.run.1 == sector {
            self.run.1 += sectors;
        } else {
            self.run = (sector, sectors);
        }
        self.left = self.left.saturating_sub(1);
        if self.left == 0 || sector.saturating_add(sectors) >= self.stop {
            out.done = true;
            if out.print.is_none() {
                out.print = self.take_run();
            }
        }
        out
    }

    /// The blocks verified so far, for the speed in "Online verify done".
    pub(crate) fn verified(&self) -> u64 {
        self.total.saturating_sub(self.left)
    }

    /// Where a later verify resumes (C: `ov_start_sector` after the run): the first block not
    /// verified, or the start of the device after a run to its end.
    pub(crate) fn reached(&self) -> u64 {
        if self.left == 0 {
            return 0;
        }
        self.bits.saturating_sub(self.left) * SECT_PER_BIT
    }

    /// The run of out-of-sync sectors not logged yet, taken (ov_out_of_sync_print(): at the end
    /// of a run the source stopped early, the target has not logged its last run).
    pub(crate) fn take_run(&mut self) -> Option<(u64, u64)> {
        let run = core::mem::take(&mut self.run);
        (run.1 > 0).then_some(run)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_from_the_first_request() {
        let mut v = Verify::target(100, 101);
        assert_eq!(v.left, 100);
        assert_eq!(v.request(80), Some(80));
        assert_eq!(v.request(88), None);
        assert_eq!(v.left, 90);
        for i in 0..89 {
            assert!(!v.result(80 + i * 8, 8, true).done);
        }
        assert_eq!(v.verified(), 89);
        assert!(v.result(792, 8, true).done);
        // before protocol 90 the whole device, no start told
        let mut old = Verify::target(4, 89);
        assert_eq!(old.request(0), None);
        assert_eq!(old.left, 4);
    }

    #[test]
    fn runs_out_of_sync_are_logged_as_c_logs_them() {
        let mut v = Verify::target(10, 101);
        v.request(0);
        assert_eq!(v.result(0, 8, false), Outcome::default());
        assert_eq!(v.result(8, 8, false), Outcome::default());
        // an in-sync block ends the run
        assert_eq!(v.result(16, 8, true).print, Some((0, 16)));
        assert_eq!(v.result(24, 8, true).print, None);
        // a run that does not follow replaces the one before, unlogged (C)
        v.result(40, 8, false);
        v.result(56, 8, false);
        assert_eq!(v.result(64, 8, true).print, Some((56, 8)));
        v.result(72, 8, true);
        // the last block logs what is left
        let end = v.result(80, 8, false);
        assert_eq!(end.print, None);
        let end = v.result(88, 8, false);
        assert_eq!(
            end,
            Outcome {
                print: Some((80, 16)),
                done: true
            }
        );
    }

    #[test]
    fn the_source_asks_block_by_block_to_the_end() {
        // 3 blocks and a half: the last request is short
        let mut v = Verify::source(4, 0, u64::MAX, 101);
        assert_eq!((v.total, v.left), (4, 4));
        assert_eq!(v.next_request(28), Some((0, 4096)));
        assert_eq!(v.next_request(28), Some((8, 4096)));
        assert_eq!(v.next_request(28), Some((16, 4096)));
        assert_eq!(v.next_request(28), Some((24, 2048)));
        assert_eq!(v.next_request(28), None);
        for s in [0, 8, 16] {
            assert!(!v.result(s, 8, true).done);
        }
        assert!(v.result(24, 4, true).done);
        assert_eq!(v.reached(), 0);
    }

    #[test]
    fn a_target_whose_source_stopped_early_has_its_last_run_left_to_log() {
        let mut v = Verify::target(100, 101);
        v.request(0);
        assert!(!v.result(0, 8, true).done);
        // the source stops after these two; the target does not know where it stops
        assert_eq!(v.result(8, 8, false), Outcome::default());
        assert_eq!(v.result(16, 8, false), Outcome::default());
        assert_eq!(v.take_run(), Some((8, 16)));
        assert_eq!(v.take_run(), None);
    }

    #[test]
    fn the_source_starts_and_stops_where_told() {
        // the start is rounded down to a block; a peer at 97 or later stops early
        let mut v = Verify::source(100, 83, 120, 101);
        assert_eq!((v.start, v.total), (Some(80), 90));
        for sector in [80, 88, 96, 104, 112] {
            assert_eq!(v.next_request(800), Some((sector, 4096)));
        }
        assert_eq!(v.next_request(800), None);
        for sector in [80, 88, 96, 104] {
            assert!(!v.result(sector, 8, true).done);
        }
        assert!(v.result(112, 8, true).done);
        assert_eq!(v.reached(), 120);
        // protocol 100 and before 97: to the end; before 90: from the start
        assert_eq!(
            Verify::source(100, 83, 120, 100).next_request(800),
            Some((80, 4096))
        );
        assert!(!Verify::source(100, 0, 8, 96).result(0, 8, true).done);
        assert_eq!(Verify::source(100, 83, 120, 89).start, Some(0));
        // a start beyond the end verifies the last block, which is always asked for
        let mut end = Verify::source(100, 10_000, 0, 101);
        assert_eq!((end.start, end.total), (Some(792), 1));
        assert_eq!(end.next_request(800), Some((792, 4096)));
        assert_eq!(end.next_request(800), None);
    }
}
