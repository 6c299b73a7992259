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
/// The resync/verify progress lines (`drbd_syncer_progress`) come with resync. The lines C adds
/// only when its `proc_details` module parameter is raised from the default 0 (LRU statistics,
/// "blocked on activity log") are left out.
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
    let suspended = s.susp || s.susp_nod || s.susp_fen;
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

#[cfg(test)]
mod tests {
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
        DevState {
            role: Role::Primary,
            peer: Role::Secondary,
            conn: ConnState::Connected,
            disk: DiskState::UpToDate,
            pdsk: DiskState::UpToDate,
            ..DevState::new_minor()
        }
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
}
