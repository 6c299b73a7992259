// SPDX-License-Identifier: GPL-2.0
//! `/proc/drbd`.
//!
//! C counterpart: drbd_proc.c. The text itself comes from the pure [`render`] module.

pub(crate) mod render;

use crate::bitmap::math::bit_to_kib;
use crate::device::{Device, Drbd, Resource};
use crate::model::state::ConnState;
use crate::sys::proc::{SeqFile, Show};
use core::fmt;
use render::{BuildTag, DeviceLine};

/// Contents of `/proc/drbd`.
pub(crate) struct DrbdProc;

impl Show for DrbdProc {
    type Ctx = Drbd;

    fn show(ctx: &Drbd, out: &mut SeqFile) -> fmt::Result {
        render::render_header(out, build_tag())?;
        let config = ctx.config.lock();
        let mut prev = None;
        while let Some((r, d)) =
            config.next_by_minor(prev.map_or(0, |p: u32| u64::from(p) + 1), |_, _| true)
        {
            let l = line(r, d);
            render::render_device(out, prev, &l)?;
            if render::shows_syncer_progress(l.state.conn) {
                if let Some(p) = progress(d, l.state.conn) {
                    render::write_syncer_progress(out, &p)?;
                }
            }
            prev = Some(d.minor);
        }
        Ok(())
    }
}

/// What a device shows: its I/O counters, its resource's write ordering, `ep` 1 as a new connection's epoch count starts
/// (conn_create()), and `oos` from its bitmap.
fn line(r: &Resource, d: &Device) -> DeviceLine {
    let counters = d.counters();
    let io = d.io_counters();
    DeviceLine {
        minor: d.minor,
        state: r.volume_state(d),
        // the protocol letter once a connection is configured
        protocol: r
            .conn
            .as_ref()
            .filter(|c| c.shared.state() != ConnState::StandAlone)
            .map(|c| match c.net_conf.num("wire_protocol") {
                1 => 'A',
                2 => 'B',
                _ => 'C',
            }),
        write_ordering: r.write_ordering.proc_char(),
        congestion: None,
        al_suspended: counters.as_ref().is_some_and(|c| c.al_suspended),
        ns: io.sent_kib,
        nr: io.received_kib,
        dw: io.write_kib,
        dr: io.read_kib,
        al: counters.as_ref().map_or(0, |c| c.al_writes),
        bm: 0,
        lo: io.local as i32,
        pe: d
            .io
            .link()
            .map_or(0, |(l, volume)| l.pending(volume) as i32),
        ua: io.unacked as i32,
        ap: io.upper as i32,
        ep: 1,
        oos_kib: counters.as_ref().map_or(0, |c| bit_to_kib(c.bits_set)),
    }
}

/// A running resync's or verify's progress lines: the current speed from the rolling sync
/// marks (a verify keeps none yet: its speed is the average since the start).
fn progress(d: &Device, conn: ConnState) -> Option<render::SyncProgress> {
    let (link, volume) = d.io.link()?;
    let hz = crate::sys::hz().max(1);
    let now = crate::sys::jiffies();
    let (total, left, started, rate, mark) =
        if matches!(conn, ConnState::VerifyS | ConnState::VerifyT) {
            let (total, left, started, rate) = link.verify_progress(volume)?;
            let age = (now.wrapping_sub(started) / hz).min(180);
            (total, left, started, rate, (total, age))
        } else {
            let resyncs = link.resyncs.lock();
            let rs = resyncs.iter().find(|r| r.volume == volume)?;
            let left = d.io.bits_set().wrapping_sub(rs.failed);
            let mark = rs.marks.reference(now, hz);
            (rs.total, left, rs.started, rs.rate_kib(), mark)
        };
    let secs = now.wrapping_sub(started) / hz;
    Some(render::SyncProgress {
        conn,
        rs_total: total,
        bits_left: left,
        mark_left: mark.0,
        mark_age_secs: mark.1,
        run_secs: secs,
        c_sync_rate: i32::try_from(rate).unwrap_or(i32::MAX),
    })
}

/// The module's build tag; "built-in" only if modpost gave us no srcversion.
pub(crate) fn build_tag() -> BuildTag<'static> {
    match crate::sys::module::srcversion() {
        Some(srcversion) => BuildTag::Module { srcversion },
        None => BuildTag::BuiltIn,
    }
}
