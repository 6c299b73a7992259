// SPDX-License-Identifier: GPL-2.0
//! Online verify on its target (C_VERIFY_T): the source asks for the digest of one 4 KiB block
//! after the other (P_OV_REQUEST) and tells the result of each (P_OV_RESULT). The target counts
//! the blocks left, and logs runs of blocks found out of sync as C does.
//!
//! C counterpart: set_ov_position(), receive_DataRequest() for P_OV_REQUEST, got_OVResult(),
//! drbd_ov_out_of_sync_found() and ov_out_of_sync_print() of drbd_state.c, drbd_receiver.c and
//! drbd_worker.c.

/// Sectors per bitmap bit (4 KiB).
const SECT_PER_BIT: u64 = 8;

/// The verify a target is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct VerifyTarget {
    /// Bitmap bits of the device.
    bits: u64,
    /// Protocol 90 and later: the first request tells where the source starts.
    start_told: bool,
    /// Where it started (sectors), once known.
    pub(crate) start: Option<u64>,
    /// Blocks still to be verified (`ov_left`).
    pub(crate) left: u64,
    /// The run of out-of-sync sectors not logged yet (`ov_last_oos_start`, `ov_last_oos_size`).
    run: (u64, u64),
}

/// What the result of one block makes the target do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// Log "Out of sync: start=…, size=… (sectors)" for this run.
    pub(crate) print: Option<(u64, u64)>,
    /// The last block was verified: "Online verify done".
    pub(crate) done: bool,
}

impl VerifyTarget {
    /// Entering VerifyT on a device of `bits` bitmap bits, at protocol version `apv`.
    pub(crate) fn new(bits: u64, apv: u32) -> Self {
        Self {
            bits,
            start_told: apv >= 90,
            start: (apv < 90).then_some(0),
            left: bits,
            run: (0, 0),
        }
    }

    /// A P_OV_REQUEST for `sector`: the first one (from protocol 90 on) sets where the verify
    /// starts, and returns it for "Online Verify start sector: …".
    pub(crate) fn request(&mut self, sector: u64) -> Option<u64> {
        if self.start.is_some() || !self.start_told {
            return None;
        }
        self.start = Some(sector);
        self.left = self.bits.saturating_sub(sector / SECT_PER_BIT);
        Some(sector)
    }

    /// A P_OV_RESULT for `sectors` from `sector`: `in_sync` or not (then the caller marks the
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
        if self.left == 0 {
            out.done = true;
            if out.print.is_none() {
                out.print = self.take_run();
            }
        }
        out
    }

    /// The bits verified so far, for the speed in "Online verify done".
    pub(crate) fn verified(&self) -> u64 {
        let start_bit = self.start.unwrap_or(0) / SECT_PER_BIT;
        self.bits
            .saturating_sub(start_bit)
            .saturating_sub(self.left)
    }

    fn take_run(&mut self) -> Option<(u64, u64)> {
        let run = core::mem::take(&mut self.run);
        (run.1 > 0).then_some(run)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_from_the_first_request() {
        let mut v = VerifyTarget::new(100, 101);
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
        let mut old = VerifyTarget::new(4, 89);
        assert_eq!(old.request(0), None);
        assert_eq!(old.left, 4);
    }

    #[test]
    fn runs_out_of_sync_are_logged_as_c_logs_them() {
        let mut v = VerifyTarget::new(10, 101);
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
}
