// SPDX-License-Identifier: GPL-2.0
//! Text of `/proc/drbd`, byte for byte as the C module prints it.
//!
//! C counterpart: drbd_proc.c (`drbd_seq_show`) and drbd_buildtag.c. drbd-utils parses the first
//! line to choose its 8.4 tools, and LINBIT's test suite matches both header lines.

use crate::model::state::{ConnState, DevState, DiskState, Role};
use crate::model::version::{GENL_VERSION, PRO_VERSION_MAX, PRO_VERSION_MIN, REL_VERSION};
use core::fmt::{self, Write};

/// What the second header line is built from.
#[derive(Clone, Copy, Debug)]
pub(crate) enum BuildTag<'a> {
    /// A loadable module: modpost's srcversion hash of its sources.
    Module { srcversion: &'a str },
    /// Built into the kernel image.
    BuiltIn,
}

/// Writes the two header lines.
pub(crate) fn render_header(out: &mut impl Write, tag: BuildTag<'_>) -> fmt::Result {
    writeln!(
        out,
        "version: {REL_VERSION} (api:{GENL_VERSION}/proto:{PRO_VERSION_MIN}-{PRO_VERSION_MAX})"
    )?;
    match tag {
        // C: sprintf("srcversion: %-24s", THIS_MODULE->srcversion)
        BuildTag::Module { srcversion } => writeln!(out, "srcversion: {srcversion:<24}"),
        BuildTag::BuiltIn => writeln!(out, "built-in"),
    }
}

/// A size in KiB the way C's ppsize() prints it in log lines: "16 MB", "9999 KB" (below 10000
/// of a unit, rounded to the nearest).
#[derive(Clone, Copy, Debug)]
pub(crate) struct PpSize(pub(crate) u64);

impl fmt::Display for PpSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut size = self.0;
        let mut units = ['K', 'M', 'G', 'T', 'P', 'E'].iter().peekable();
        let mut unit = 'K';
        while let Some(&u) = units.next() {
            unit = u;
            if size < 10000 || units.peek().is_none() {
                break;
            }
            size = (size >> 10) + u64::from(size & (1 << 9) != 0);
        }
        // (C prints an unsigned int)
        write!(f, "{} {unit}B", size as u32)
    }
}

/// What /proc/drbd shows of one minor, snapshotted under the locks the caller needs.
///
/// The counters hold the values as printed, already converted where C converts them; their
/// types follow C's format (`%u` or `%d`), so a snapshot prints exactly what C would.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DeviceLine {
    pub(crate) minor: u32,
    /// The device state merged with the resource's suspend flags, as `drbd_read_state()` gives.
    pub(crate) state: DevState,
    /// 'A', 'B' or 'C' from the net config's wire protocol; `None` without a net config.
    pub(crate) protocol: Option<char>,
    /// The resource's write ordering: 'n' (none), 'd' (drain) or 'f' (flush).
    pub(crate) write_ordering: char,
    /// `device->congestion_reason`; `None` for C's 0. Older kernels' `drbd_congested()` set it
    /// to 'd' (DRBD froze I/O), 'c' (callback pending), 'b' (backing device), 'n' (network) or
    /// 'a' (both); 6.12 removed that callback and never sets it, so C prints '-'.
    pub(crate) congestion: Option<char>,
    /// The AL_SUSPENDED device flag.
    pub(crate) al_suspended: bool,
    /// KiB sent to the peer (`send_cnt / 2`: C counts sectors).
    pub(crate) ns: u32,
    /// KiB received from the peer (`recv_cnt / 2`).
    pub(crate) nr: u32,
    /// KiB written to the backing disk (`writ_cnt / 2`).
    pub(crate) dw: u32,
    /// KiB read from the backing disk (`read_cnt / 2`).
    pub(crate) dr: u32,
    /// Activity log writes (`al_writ_cnt`).
    pub(crate) al: u32,
    /// Bitmap writes (`bm_writ_cnt`).
    pub(crate) bm: u32,
    /// Local I/O in flight (`local_cnt`).
    pub(crate) lo: i32,
    /// Requests waiting for the peer (`ap_pending_cnt + rs_pending_cnt`).
    pub(crate) pe: i32,
    /// Acks or data replies we still owe the peer (`unacked_cnt`).
    pub(crate) ua: i32,
    /// Application bios accepted but not completed (`ap_bio_cnt`).
    pub(crate) ap: i32,
    /// Epochs awaiting P_BARRIER_ACK (the connection's `epochs`, which C prints with `%d`).
    pub(crate) ep: i32,
    /// Known out-of-sync KiB (`Bit2KB(drbd_bm_total_weight())`, 4 KiB per bit).
    pub(crate) oos_kib: u64,
}

/// Writes one minor's lines, preceded by a blank line when the minors are not contiguous.
///
/// `prev_minor` is the minor printed before this one, `None` for the first: C starts its
/// `prev_i` at -1, so the first device gets a blank line unless it is minor 0.
///
/// The resync/verify progress lines that C prints next (`drbd_syncer_progress`) are written by
/// [`write_syncer_progress`] when [`shows_syncer_progress`] says so. The lines C adds only when
/// its `proc_details` module parameter is raised from the default 0 (LRU statistics, "blocked on
/// activity log") are left out.
pub(crate) fn render_device(
    out: &mut impl Write,
    prev_minor: Option<u32>,
    d: &DeviceLine,
) -> fmt::Result {
    let contiguous = match prev_minor {
        None => d.minor == 0,
        Some(p) => p.checked_add(1) == Some(d.minor),
    };
    if !contiguous {
        out.write_char('\n')?;
    }

    let s = &d.state;
    // C tests exactly these three fields; the peer's role and disk do not matter.
    if s.conn == ConnState::StandAlone && s.disk == DiskState::Diskless && s.role == Role::Secondary
    {
        return writeln!(out, "{:2}: cs:Unconfigured", d.minor);
    }

    // drbd_suspended() reads the resource's three suspend flags, which DevState carries.
    let suspended = s.suspended();
    let flag = |on: bool, c: char| if on { c } else { '-' };
    writeln!(
        out,
        "{:2}: cs:{} ro:{}/{} ds:{}/{} {} {}{}{}{}{}{}",
        d.minor,
        s.conn.name(),
        s.role.name(),
        s.peer.name(),
        s.disk.name(),
        s.pdsk.name(),
        d.protocol.unwrap_or(' '),
        if suspended { 's' } else { 'r' },
        flag(s.aftr_isp, 'a'),
        flag(s.peer_isp, 'p'),
        flag(s.user_isp, 'u'),
        d.congestion.unwrap_or('-'),
        flag(d.al_suspended, 's'),
    )?;
    writeln!(
        out,
        "    ns:{} nr:{} dw:{} dr:{} al:{} bm:{} lo:{} pe:{} ua:{} ap:{} ep:{} wo:{} oos:{}",
        d.ns,
        d.nr,
        d.dw,
        d.dr,
        d.al,
        d.bm,
        d.lo,
        d.pe,
        d.ua,
        d.ap,
        d.ep,
        d.write_ordering,
        d.oos_kib,
    )
}

/// Whether C prints the resync/verify progress lines under a device in this connection state.
///
/// C counterpart: the test before `drbd_syncer_progress()` in `drbd_seq_show()`. The paused
/// resync states (PausedSyncS/PausedSyncT) print none.
pub(crate) const fn shows_syncer_progress(conn: ConnState) -> bool {
    matches!(
        conn,
        ConnState::SyncSource | ConnState::SyncTarget | ConnState::VerifyS | ConnState::VerifyT
    )
}

/// What the resync/verify progress lines are computed from, read from the device under the
/// same locks as its [`DeviceLine`].
///
/// C does this arithmetic in `unsigned long`, 64 bits wide on the architectures the kernel crate
/// builds for; the fields are `u64` and the caller forms them with wrapping arithmetic, exactly
/// as C does, so that even racy or odd counters print what C would. Times are in whole seconds,
/// C's `… / HZ` of a jiffies difference. Bit counts are bitmap bits of 4 KiB.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SyncProgress {
    /// The connection state: VerifyS/VerifyT print "verified:", SyncTarget and VerifyS print
    /// the `want:` rate.
    pub(crate) conn: ConnState,
    /// `device->rs_total`: bits this resync or verify run covers.
    pub(crate) rs_total: u64,
    /// Bits still to do, before `drbd_get_syncer_progress()` clamps them to `rs_total`:
    /// `ov_left` when verifying, else `drbd_bm_total_weight() - rs_failed` (wrapping).
    pub(crate) bits_left: u64,
    /// `rs_mark_left[i]` of the rolling mark C estimates from, `i = (rs_last_mark + 2) %
    /// DRBD_SYNC_MARKS`: the bits left when that mark (about 18 s old) was set.
    pub(crate) mark_left: u64,
    /// `(jiffies - rs_mark_time[i]) / HZ` for the same mark: its age. Above 180 the resync is
    /// "(stalled)".
    pub(crate) mark_age_secs: u64,
    /// `(jiffies - rs_start - rs_paused) / HZ`: how long the run has gone on, paused periods
    /// left out; the long-term average speed divides by it.
    pub(crate) run_secs: u64,
    /// `device->c_sync_rate`: the resync rate the controller currently aims at, in KiB/s
    /// (C's `int`).
    pub(crate) c_sync_rate: i32,
}

/// The bits left, clamped to `rs_total`, and the per-mille done.
///
/// C counterpart: `drbd_get_syncer_progress()`. The totals are shifted right before the
/// division (by 16 above `UINT_MAX` bits, else by 10), and 1 is added to the divisor, so a run
/// of fewer than 1024 bits always shows 100.0% and a fresh run at least 0.1%; 0.0% comes only
/// from the clamp.
fn syncer_progress(rs_total: u64, bits_left: u64) -> (u64, u32) {
    if bits_left > rs_total {
        // "Maybe a logic bug somewhere. More likely just a race between state change and
        // reset of rs_total."
        return (rs_total, if rs_total != 0 { 0 } else { 1000 });
    }
    let shift = if rs_total > u64::from(u32::MAX) {
        16
    } else {
        10
    };
    let left = bits_left >> shift;
    let total = 1 + (rs_total >> shift);
    // left < total, so this is at most 999 and the result at least 1
    (bits_left, (1000 - left * 1000 / total) as u32)
}

/// KiB of `bits` bitmap bits, shifting bits out at the top as C's `Bit2KB()` does.
const fn bit2kb(bits: u64) -> u64 {
    bits << 2
}

/// Writes a rate in KiB/s with commas between groups of three digits.
///
/// C counterpart: `seq_printf_with_thousands_grouping()`, which takes a `long`: it groups at
/// most two commas (so 10^9 and up print as "1000,000,000") and prints negatives plainly.
fn write_grouped(out: &mut impl Write, v: i64) -> fmt::Result {
    if v >= 1_000_000 {
        let rest = v % 1_000_000;
        write!(
            out,
            "{},{:03},{:03}",
            v / 1_000_000,
            rest / 1000,
            rest % 1000
        )
    } else if v >= 1000 {
        write!(out, "{},{:03}", v / 1000, v % 1000)
    } else {
        write!(out, "{v}")
    }
}

/// Writes the two progress lines of a resync or online verify:
///
/// ```text
/// \t[=====>..............] sync'ed: 33.5% (23456/123456)K
/// \tfinish: 2:20:20 speed: 6,345 (6,456) K/sec
/// ```
///
/// The bar has `permille / 50 - 1` '=', one '>' and `20 - permille / 50` '.'. Above 4 GiB of
/// bits the sizes are in MiB. `finish` and the first speed are estimated from the rolling mark,
/// the speed in parentheses is the average since the start; SyncTarget and VerifyS add
/// " want: <c_sync_rate>", and a mark older than 180 s adds " (stalled)".
///
/// C counterpart: `drbd_syncer_progress()` with `proc_details` 0, down to its integer
/// arithmetic.
pub(crate) fn write_syncer_progress(out: &mut impl Write, p: &SyncProgress) -> fmt::Result {
    let (rs_left, per_mil) = syncer_progress(p.rs_total, p.bits_left);
    let verify = matches!(p.conn, ConnState::VerifyS | ConnState::VerifyT);

    let x = per_mil / 50;
    out.write_str("\t[")?;
    for _ in 1..x {
        out.write_char('=')?;
    }
    out.write_char('>')?;
    for _ in x..20 {
        out.write_char('.')?;
    }
    out.write_str("] ")?;
    out.write_str(if verify { "verified:" } else { "sync'ed:" })?;
    write!(out, "{:3}.{}% ", per_mil / 10, per_mil % 10)?;
    // "if more than a few GB, display in MB"
    if p.rs_total > 1 << 20 {
        write!(
            out,
            "({}/{})M",
            bit2kb(rs_left >> 10),
            bit2kb(p.rs_total >> 10)
        )?;
    } else {
        write!(out, "({}/{})K", bit2kb(rs_left), bit2kb(p.rs_total))?;
    }
    out.write_str("\n\t")?;

    // From the mark about 18 s old: bits done since (wrapping when bits were added meanwhile)
    // and the remaining time, divided so that nothing overflows.
    let stalled = p.mark_age_secs > 180;
    let dt = p.mark_age_secs.max(1);
    let db = p.mark_left.wrapping_sub(rs_left);
    let rt = dt.wrapping_mul(rs_left / (db / 100 + 1)) / 100;
    write!(
        out,
        "finish: {}:{:02}:{:02}",
        rt / 3600,
        (rt % 3600) / 60,
        rt % 60
    )?;
    out.write_str(" speed: ")?;
    // C hands its unsigned long to a `long` parameter.
    write_grouped(out, bit2kb(db / dt) as i64)?;
    out.write_str(" (")?;
    // The mean speed since the start, paused periods left out.
    let dt = p.run_secs.max(1);
    write_grouped(out, bit2kb((p.rs_total - rs_left) / dt) as i64)?;
    out.write_char(')')?;
    if matches!(p.conn, ConnState::SyncTarget | ConnState::VerifyS) {
        out.write_str(" want: ")?;
        write_grouped(out, i64::from(p.c_sync_rate))?;
    }
    writeln!(out, " K/sec{}", if stalled { " (stalled)" } else { "" })
}

#[cfg(test)]
mod tests {

    #[test]
    fn sizes_in_log_lines_as_ppsize() {
        let pp = |kib| std::format!("{}", PpSize(kib));
        assert_eq!(pp(8192), "8192 KB");
        assert_eq!(pp(9999), "9999 KB");
        assert_eq!(pp(16384), "16 MB");
        // shift and round: 10239 KiB is 9.9990... MiB, 10751 KiB 10.499 MiB, 10752 10.5
        assert_eq!(pp(10239), "10 MB");
        assert_eq!(pp(10751), "10 MB");
        assert_eq!(pp(10752), "11 MB");
        assert_eq!(pp(1 << 30), "1024 GB");
        assert_eq!(pp(u64::MAX), "16384 EB");
    }
    use super::*;
    use std::string::String;

    #[test]
    fn header_is_the_c_modules() {
        let mut s = String::new();
        let tag = BuildTag::Module {
            srcversion: "9B671CCC1F00886BA069043",
        };
        render_header(&mut s, tag).unwrap();
        assert_eq!(
            s,
            "version: 8.4.11 (api:1/proto:86-101)\nsrcversion: 9B671CCC1F00886BA069043 \n"
        );
    }

    #[test]
    fn built_in_tag() {
        let mut s = String::new();
        render_header(&mut s, BuildTag::BuiltIn).unwrap();
        assert_eq!(s.lines().nth(1), Some("built-in"));
    }

    fn line(minor: u32, state: DevState) -> DeviceLine {
        DeviceLine {
            minor,
            state,
            protocol: None,
            write_ordering: 'f',
            congestion: None,
            al_suspended: false,
            ns: 0,
            nr: 0,
            dw: 0,
            dr: 0,
            al: 0,
            bm: 0,
            lo: 0,
            pe: 0,
            ua: 0,
            ap: 0,
            ep: 0,
            oos_kib: 0,
        }
    }

    fn render(prev: Option<u32>, d: &DeviceLine) -> String {
        let mut s = String::new();
        render_device(&mut s, prev, d).unwrap();
        s
    }

    fn connected() -> DevState {
        DevState::connected_primary()
    }

    #[test]
    fn unconfigured_minor_0_has_no_blank_line() {
        let d = line(0, DevState::new_minor());
        assert_eq!(render(None, &d), " 0: cs:Unconfigured\n");
    }

    #[test]
    fn unconfigured_minor_5_after_a_gap() {
        let d = line(5, DevState::new_minor());
        assert_eq!(render(None, &d), "\n 5: cs:Unconfigured\n");
        assert_eq!(render(Some(3), &d), "\n 5: cs:Unconfigured\n");
        assert_eq!(render(Some(4), &d), " 5: cs:Unconfigured\n");
    }

    #[test]
    fn wide_minor_and_last_minor_do_not_overflow() {
        let d = line(1000, DevState::new_minor());
        assert_eq!(render(Some(999), &d), "1000: cs:Unconfigured\n");
        let d = line(0, DevState::new_minor());
        assert_eq!(render(Some(u32::MAX), &d), "\n 0: cs:Unconfigured\n");
    }

    #[test]
    fn connected_primary_as_in_the_field() {
        // ClusterLabs/ha_cluster_exporter#141, DRBD 8.4.10.
        let d = DeviceLine {
            protocol: Some('C'),
            ep: 1,
            ..line(1, connected())
        };
        assert_eq!(
            render(Some(0), &d),
            " 1: cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate C r-----\n    \
             ns:0 nr:0 dw:0 dr:0 al:0 bm:0 lo:0 pe:0 ua:0 ap:0 ep:1 wo:f oos:0\n"
        );
    }

    #[test]
    fn counters_in_order() {
        let d = DeviceLine {
            protocol: Some('A'),
            write_ordering: 'd',
            ns: 1,
            nr: 2,
            dw: 3,
            dr: 4,
            al: 5,
            bm: 6,
            lo: 7,
            pe: -8,
            ua: 9,
            ap: 10,
            ep: 11,
            oos_kib: 1 << 40,
            ..line(0, connected())
        };
        assert_eq!(
            render(None, &d).lines().nth(1),
            Some(
                "    ns:1 nr:2 dw:3 dr:4 al:5 bm:6 lo:7 pe:-8 ua:9 ap:10 ep:11 wo:d \
                 oos:1099511627776"
            )
        );
    }

    fn flags(d: &DeviceLine) -> String {
        let s = render(Some(d.minor.wrapping_sub(1)), d);
        let first = s.lines().next().unwrap_or("");
        String::from(&first[first.len() - 6..])
    }

    #[test]
    fn flag_characters() {
        let base = DeviceLine {
            protocol: Some('B'),
            ..line(2, connected())
        };
        assert_eq!(flags(&base), "r-----");
        // The flags of `base` with one state field changed.
        let with = |set: fn(&mut DevState)| {
            let mut d = base;
            set(&mut d.state);
            flags(&d)
        };
        assert_eq!(with(|s| s.susp = true), "s-----");
        assert_eq!(with(|s| s.susp_nod = true), "s-----");
        assert_eq!(with(|s| s.susp_fen = true), "s-----");
        assert_eq!(with(|s| s.aftr_isp = true), "ra----");
        assert_eq!(with(|s| s.peer_isp = true), "r-p---");
        assert_eq!(with(|s| s.user_isp = true), "r--u--");
        let congested = DeviceLine {
            congestion: Some('b'),
            ..base
        };
        assert_eq!(flags(&congested), "r---b-");
        // clustervision/trinity#433 shows `C r---a-`: backing device and network congested.
        let both = DeviceLine {
            congestion: Some('a'),
            ..base
        };
        assert_eq!(flags(&both), "r---a-");
        let al = DeviceLine {
            al_suspended: true,
            ..base
        };
        assert_eq!(flags(&al), "r----s");
        let all = DeviceLine {
            state: DevState {
                susp: true,
                aftr_isp: true,
                peer_isp: true,
                user_isp: true,
                ..connected()
            },
            congestion: Some('n'),
            al_suspended: true,
            ..base
        };
        assert_eq!(flags(&all), "sapuns");
    }

    #[test]
    fn standalone_without_net_config() {
        let d = DeviceLine {
            state: DevState {
                disk: DiskState::UpToDate,
                ..DevState::new_minor()
            },
            write_ordering: 'f',
            oos_kib: 4,
            ..line(0, DevState::new_minor())
        };
        assert_eq!(
            render(None, &d),
            " 0: cs:StandAlone ro:Secondary/Unknown ds:UpToDate/DUnknown   r-----\n    \
             ns:0 nr:0 dw:0 dr:0 al:0 bm:0 lo:0 pe:0 ua:0 ap:0 ep:0 wo:f oos:4\n"
        );
    }

    #[test]
    fn unconfigured_needs_secondary() {
        // A Primary is never Unconfigured, even when StandAlone and Diskless.
        let d = line(
            0,
            DevState {
                role: Role::Primary,
                ..DevState::new_minor()
            },
        );
        assert!(render(None, &d)
            .starts_with(" 0: cs:StandAlone ro:Primary/Unknown ds:Diskless/DUnknown   r-----\n"));
    }

    /// A run's progress with no time passed, `bits_left` of `rs_total` to do.
    fn progress(conn: ConnState, rs_total: u64, bits_left: u64) -> SyncProgress {
        SyncProgress {
            conn,
            rs_total,
            bits_left,
            mark_left: bits_left,
            mark_age_secs: 0,
            run_secs: 0,
            c_sync_rate: 0,
        }
    }

    fn sync_lines(p: &SyncProgress) -> String {
        let mut s = String::new();
        write_syncer_progress(&mut s, p).unwrap();
        s
    }

    // The expected lines were computed by drbd_syncer_progress()'s code, compiled on x86_64
    // with seq_printf() replaced by printf(), and checked by hand where noted.

    #[test]
    fn progress_states() {
        use ConnState::*;
        for conn in [SyncSource, SyncTarget, VerifyS, VerifyT] {
            assert!(shows_syncer_progress(conn));
        }
        for conn in [
            Connected,
            PausedSyncS,
            PausedSyncT,
            StartingSyncT,
            WfSyncUuid,
            Ahead,
        ] {
            assert!(!shows_syncer_progress(conn));
        }
    }

    #[test]
    fn progress_at_the_start_is_clamped_to_0_0() {
        // More bits left than the run's total: C clamps them and shows 0.0%. With no mark age
        // and no bits done: dt 1, db 0, rt = 1 * (1000000 / 1) / 100 s = 2:46:40.
        let p = SyncProgress {
            mark_left: 1_000_000,
            c_sync_rate: 10240,
            ..progress(ConnState::SyncTarget, 1_000_000, 1_000_001)
        };
        assert_eq!(
            sync_lines(&p),
            "\t[>....................] sync'ed:  0.0% (4000000/4000000)K\n\
             \tfinish: 2:46:40 speed: 0 (0) want: 10,240 K/sec\n"
        );
    }

    #[test]
    fn progress_in_the_middle() {
        // By hand: left 41152 >> 10 = 40, total 1 + 123456 >> 10 = 121, 1000 - 40000 / 121 =
        // 670; x 13: 12 '=', '>', 7 '.'. db = 60000 - 41152 = 18848, rt = 18 * (41152 / 189)
        // / 100 = 39 s; speed 18848 / 18 * 4 = 4188; mean 82304 / 100 * 4 = 3292.
        let p = SyncProgress {
            mark_left: 60000,
            mark_age_secs: 18,
            run_secs: 100,
            c_sync_rate: 10240,
            ..progress(ConnState::SyncSource, 123_456, 41_152)
        };
        assert_eq!(
            sync_lines(&p),
            "\t[============>.......] sync'ed: 67.0% (164608/493824)K\n\
             \tfinish: 0:00:39 speed: 4,188 (3,292) K/sec\n"
        );
    }

    #[test]
    fn progress_at_99_9_in_mib() {
        // Above 1 << 20 bits (4 GiB) the sizes are MiB: (20000 >> 10) * 4 = 76.
        let p = SyncProgress {
            mark_left: 80_000,
            mark_age_secs: 21,
            run_secs: 3000,
            c_sync_rate: 250,
            ..progress(ConnState::SyncSource, 10_000_000, 20_000)
        };
        assert_eq!(
            sync_lines(&p),
            "\t[==================>.] sync'ed: 99.9% (76/39060)M\n\
             \tfinish: 0:00:06 speed: 11,428 (13,304) K/sec\n"
        );
    }

    #[test]
    fn progress_units_switch_above_4_gib() {
        let at = |rs_total| SyncProgress {
            mark_left: 600_000,
            mark_age_secs: 18,
            run_secs: 60,
            c_sync_rate: 1_000_000,
            ..progress(ConnState::SyncTarget, rs_total, 524_288)
        };
        assert_eq!(
            sync_lines(&at(1 << 20)),
            "\t[=========>..........] sync'ed: 50.1% (2097152/4194304)K\n\
             \tfinish: 0:02:04 speed: 16,824 (34,952) want: 1,000,000 K/sec\n"
        );
        let p = SyncProgress {
            c_sync_rate: 999_999,
            ..at((1 << 20) + 1)
        };
        assert_eq!(
            sync_lines(&p),
            "\t[=========>..........] sync'ed: 50.1% (2048/4096)M\n\
             \tfinish: 0:02:04 speed: 16,824 (34,952) want: 999,999 K/sec\n"
        );
    }

    #[test]
    fn verify_shows_want_only_on_the_source() {
        // A fresh run of 123456 bits is at 0.9%, not 0.0%.
        let p = SyncProgress {
            mark_age_secs: 5,
            run_secs: 5,
            c_sync_rate: 4096,
            ..progress(ConnState::VerifyS, 123_456, 123_456)
        };
        assert_eq!(
            sync_lines(&p),
            "\t[>....................] verified:  0.9% (493824/493824)K\n\
             \tfinish: 1:42:52 speed: 0 (0) want: 4,096 K/sec\n"
        );
        let p = SyncProgress {
            mark_left: 33_456,
            mark_age_secs: 18,
            run_secs: 30,
            c_sync_rate: 4096,
            ..progress(ConnState::VerifyT, 123_456, 23_456)
        };
        assert_eq!(
            sync_lines(&p),
            "\t[===============>....] verified: 81.9% (93824/493824)K\n\
             \tfinish: 0:00:41 speed: 2,220 (13,332) K/sec\n"
        );
    }

    #[test]
    fn stalled_after_180_seconds() {
        let p = SyncProgress {
            mark_left: 33_456,
            mark_age_secs: 180,
            run_secs: 400,
            c_sync_rate: 100,
            ..progress(ConnState::SyncTarget, 123_456, 23_456)
        };
        assert_eq!(
            sync_lines(&p),
            "\t[===============>....] sync'ed: 81.9% (93824/493824)K\n\
             \tfinish: 0:06:57 speed: 220 (1,000) want: 100 K/sec\n"
        );
        let p = SyncProgress {
            mark_age_secs: 181,
            ..p
        };
        assert_eq!(
            sync_lines(&p).lines().nth(1),
            Some("\tfinish: 0:06:59 speed: 220 (1,000) want: 100 K/sec (stalled)")
        );
    }

    #[test]
    fn done_and_huge_rates() {
        // 2^40 bits done in a second: 2^42 KiB/s, grouped with two commas only.
        let p = SyncProgress {
            mark_left: 1 << 40,
            mark_age_secs: 1,
            run_secs: 1,
            c_sync_rate: 1_234_567,
            ..progress(ConnState::SyncSource, 1 << 40, 0)
        };
        assert_eq!(
            sync_lines(&p),
            "\t[===================>] sync'ed:100.0% (0/4294967296)M\n\
             \tfinish: 0:00:00 speed: 4398046,511,104 (4398046,511,104) K/sec\n"
        );
        // Above UINT_MAX bits the per-mille shifts by 16.
        let p = SyncProgress {
            mark_left: 3_100_000_000,
            mark_age_secs: 18,
            run_secs: 7000,
            ..progress(ConnState::SyncSource, 6_000_000_000, 3_000_000_000)
        };
        assert_eq!(
            sync_lines(&p),
            "\t[=========>..........] sync'ed: 50.1% (11718748/23437500)M\n\
             \tfinish: 0:08:59 speed: 22,222,220 (1,714,284) K/sec\n"
        );
    }

    #[test]
    fn progress_quirks_kept() {
        // Under 1024 bits the shifted count left is 0: 100.0% with bits to do.
        let p = SyncProgress {
            mark_left: 1000,
            mark_age_secs: 3,
            run_secs: 3,
            ..progress(ConnState::SyncSource, 1000, 999)
        };
        assert_eq!(
            sync_lines(&p),
            "\t[===================>] sync'ed:100.0% (3996/4000)K\n\
             \tfinish: 0:00:29 speed: 0 (0) K/sec\n"
        );
        // Bits set since the mark: C's unsigned difference wraps into a huge speed.
        let p = SyncProgress {
            mark_left: 40_000,
            mark_age_secs: 18,
            run_secs: 100,
            ..progress(ConnState::SyncSource, 123_456, 50_000)
        };
        assert_eq!(
            sync_lines(&p),
            "\t[===========>........] sync'ed: 60.4% (200000/493824)K\n\
             \tfinish: 0:00:00 speed: 4099276460824,342,580 (2,936) K/sec\n"
        );
        // An empty run is done; a negative rate prints as C's %ld does.
        let p = SyncProgress {
            c_sync_rate: -1,
            ..progress(ConnState::SyncTarget, 0, 0)
        };
        assert_eq!(
            sync_lines(&p),
            "\t[===================>] sync'ed:100.0% (0/0)K\n\
             \tfinish: 0:00:00 speed: 0 (0) want: -1 K/sec\n"
        );
    }
}
