// SPDX-License-Identifier: GPL-2.0
//! Usermode helpers and the fence-peer policy: the helper runs with C's arguments and
//! environment, is logged as C logs it, and the fence-peer helper's answer outdates the peer
//! (or ourselves).
//!
//! C counterpart: drbd_khelper(), conn_khelper(), setup_khelper_env(),
//! conn_try_outdate_peer() and its callers in drbd_set_role() and conn_disconnect(). The
//! decisions are in the pure [`crate::model::helper`].

use super::{Drbd, Resource};
use crate::genl::addr::Endpoint;
use crate::genl::config::Name;
use crate::model::helper::{
    exit_code, fence_outcome, fence_start, peer_af, FenceStart, Fenced, Helper, PeerAddress,
};
use crate::model::role::wants_fence;
use crate::model::state::{ConnState, DiskState, Role};
use crate::model::transition::Fact;
use crate::net::{with_resource, ConnShared};
use crate::sys::genl::{broadcast, Events};
use crate::sys::thread::Thread;
use crate::sys::umh::{self, HelperPath};
use kernel::c_str;
use kernel::prelude::*;
use kernel::str::CString;
use kernel::sync::Arc;

/// Whom a helper concerns: a resource's connection, or one of its volumes.
#[derive(Clone, Copy)]
pub(crate) enum Subject<'a> {
    Connection(&'a Name),
    /// The resource, volume and minor.
    Device(&'a Name, u32, u32),
}

impl core::fmt::Display for Subject<'_> {
    /// The log prefix: `r0` or `r0/0 drbd0`.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Subject::Connection(name) => write!(f, "{name}"),
            Subject::Device(name, volume, minor) => write!(f, "{name}/{volume} drbd{minor}"),
        }
    }
}

/// drbd_khelper() and conn_khelper(): runs `usermode_helper HELPER ARG` (ARG: the resource
/// name, or `minor-N` for a device) with HOME, TERM, PATH and, with a configured connection,
/// DRBD_PEER_AF and DRBD_PEER_ADDRESS; waits for it and returns its wait status (0 also when
/// it could not run: C ignores errnos).
pub(crate) fn call(who: Subject<'_>, helper: Helper, peer: Option<&Endpoint>) -> i32 {
    let path = HelperPath::get();
    let Ok(arg) = (match who {
        Subject::Connection(name) => CString::try_from_fmt(kernel::fmt!("{name}")),
        Subject::Device(_, _, minor) => CString::try_from_fmt(kernel::fmt!("minor-{minor}")),
    }) else {
        return 0;
    };
    // setup_khelper_env(): the peer's address, with a configured connection
    let peer_env = match peer {
        Some(p) => {
            let af = CString::try_from_fmt(kernel::fmt!("DRBD_PEER_AF={}", peer_af(p)));
            let addr = CString::try_from_fmt(kernel::fmt!("DRBD_PEER_ADDRESS={}", PeerAddress(p)));
            match (af, addr) {
                (Ok(af), Ok(addr)) => Some((af, addr)),
                _ => return 0,
            }
        }
        None => None,
    };
    let arg = arg.as_bytes();
    let text = core::str::from_utf8(arg).unwrap_or("?");
    pr_info!(
        "{}: helper command: {} {} {}\n",
        who,
        path,
        helper.name(),
        text
    );
    let mut env: [&[u8]; 5] = [
        b"HOME=/",
        b"TERM=linux",
        b"PATH=/sbin:/usr/sbin:/bin:/usr/bin",
        b"",
        b"",
    ];
    let n = match &peer_env {
        Some((af, addr)) => {
            env[3] = af.as_bytes();
            env[4] = addr.as_bytes();
            5
        }
        None => 3,
    };
    let status = umh::run(&path, &[helper.name().as_bytes(), arg], &env[..n]);
    let name = helper.name();
    let code = exit_code(status);
    let done =
        format_args!("{who}: helper command: {path} {name} {text} exit code {code} ({status:#x})");
    if status != 0 {
        pr_warn!("{}\n", done);
    } else {
        pr_info!("{}\n", done);
    }
    status.max(0)
}

/// Runs device helper `helper` for `volume` of the connection's resource, without the
/// configuration lock (a helper may take long); its wait status, `None` without the volume.
pub(crate) fn call_device(
    drbd: &Drbd,
    shared: &ConnShared,
    name: &Name,
    volume: u16,
    helper: Helper,
) -> Option<i32> {
    let (minor, peer) = with_resource(drbd, shared, name, |res| {
        let d = res.devices.iter().find(|d| d.volume == u32::from(volume))?;
        Some((d.minor, res.conn.as_ref().map(|c| c.peer)))
    })??;
    Some(call_device_announced(
        drbd,
        name,
        u32::from(volume),
        minor,
        helper,
        peer.as_ref(),
    ))
}

/// drbd_khelper() of a device: [`call`], announced on the `events` group before (UH) and after
/// (UH-post, with the wait status), without the configuration lock held.
pub(crate) fn call_device_announced(
    drbd: &Drbd,
    name: &Name,
    volume: u32,
    minor: u32,
    helper: Helper,
    peer: Option<&Endpoint>,
) -> i32 {
    announce_helper(drbd, minor, helper, None);
    let status = call(Subject::Device(name, volume, minor), helper, peer);
    announce_helper(drbd, minor, helper, Some(status as u32));
    status
}

fn announce_helper(drbd: &Drbd, minor: u32, helper: Helper, status: Option<u32>) {
    let event = crate::genl::helper_event(&drbd.config.lock(), minor, helper.name(), status);
    if let Some(e) = event {
        let mut events = Events::new();
        events.push(e);
        broadcast(events);
    }
}

/// What conn_try_outdate_peer() reads before it calls the helper.
#[derive(Clone)]
struct FenceCall {
    start: FenceStart,
    highest_disk: DiskState,
    peer: Option<Endpoint>,
    /// Connections established so far: an answer that comes after a reconnect is ignored.
    connects: u32,
}

/// The fencing policy and the rest of [`FenceCall`]; `None` while connected.
fn fence_call(res: &Resource) -> Option<FenceCall> {
    let conn = res.conn.as_ref();
    if res.conn_state() >= ConnState::WfReportParams {
        pr_err!("{}: Expected cstate < C_WF_REPORT_PARAMS\n", res.name);
        return None;
    }
    let highest = res
        .devices
        .iter()
        .filter(|d| d.state.disk >= DiskState::Consistent)
        .map(|d| d.fencing())
        .max();
    Some(FenceCall {
        start: fence_start(highest),
        highest_disk: res
            .devices
            .iter()
            .map(|d| d.state.disk)
            .max()
            .unwrap_or(DiskState::Diskless),
        peer: conn.map(|c| c.peer),
        connects: conn.map_or(0, |c| c.shared.connects()),
    })
}

/// Runs the fence-peer helper for `call` and reads its answer; `None`: nothing changes.
fn run_fence(name: &Name, fence: &FenceCall) -> Option<Fenced> {
    let fp = match fence.start {
        FenceStart::NotConsistent => {
            pr_warn!(
                "{}: Not fencing peer, I'm not even Consistent myself.\n",
                name
            );
            return None;
        }
        FenceStart::DontCare => return None,
        FenceStart::Call(fp) => fp,
    };
    let status = call(
        Subject::Connection(name),
        Helper::FencePeer,
        fence.peer.as_ref(),
    );
    let code = exit_code(status);
    let Some(outcome) = fence_outcome(code, fp, fence.highest_disk) else {
        pr_err!("{}: fence-peer helper broken, returned {}\n", name, code);
        return None;
    };
    if outcome.stonith_mismatch {
        pr_err!("{}: fence-peer() = 7 && fencing != Stonith !!!\n", name);
    }
    if outcome.change == Fenced::Myself {
        pr_warn!("{}: Peer is primary, outdating myself.\n", name);
    }
    pr_info!(
        "{}: fence-peer helper returned {} ({})\n",
        name,
        code,
        outcome.text
    );
    Some(outcome.change)
}

/// Applies the helper's answer, unless a connection came meanwhile ("Ignoring fence-peer exit
/// code"); returns whether the peer is outdated now (conn_highest_pdsk() <= D_OUTDATED).
fn apply_fence(res: &mut Resource, call: &FenceCall, fenced: Option<Fenced>) -> bool {
    if let Some(fenced) = fenced {
        let connects = res.conn.as_ref().map_or(0, |c| c.shared.connects());
        if res.conn_state() < ConnState::WfReportParams {
            if connects != call.connects {
                pr_info!("{}: Ignoring fence-peer exit code\n", res.name);
            } else {
                let name = res.name;
                for d in res.devices.as_mut_slice() {
                    d.apply(&name, Fact::Fenced(fenced));
                }
            }
        }
    }
    let outdated = res
        .devices
        .iter()
        .all(|d| d.state.pdsk <= DiskState::Outdated);
    // the peer is fenced: I/O frozen by resource-and-stonith resumes (a failed helper leaves
    // it frozen until resume-io)
    if outdated && res.devices.iter().any(|d| d.state.susp_fen) {
        res.set_suspend(|s| s.susp_fen = false);
    }
    call.start == FenceStart::DontCare || outdated
}

/// conn_try_outdate_peer() for drbd_set_role(): before minor `minor` is promoted, a peer not
/// known to be outdated is fenced under resource fencing (SS_PRIMARY_NOP would refuse the
/// promotion). C holds its state mutex meanwhile; drbd-rs releases the configuration lock while
/// the helper runs, as drbdadm reads /proc/drbd (which takes that lock) before the handler.
pub(crate) fn fence_before_promotion(drbd: &Drbd, minor: u32) {
    let prepared = {
        let mut config = drbd.config.lock();
        config.sync_conn_states();
        let Some((r, v)) = config.find_minor(minor) else {
            return;
        };
        let res = &config.resources[r];
        let d = &res.devices[v];
        if !wants_fence(d.state, Role::Primary, &d.env()) {
            return;
        }
        fence_call(res).map(|call| (res.name, call))
    };
    let Some((name, call)) = prepared else {
        return;
    };
    let fenced = run_fence(&name, &call);
    let mut config = drbd.config.lock();
    config.sync_conn_states();
    if let Some(r) = config.find(name.as_bytes()) {
        apply_fence(&mut config.resources[r], &call, fenced);
    }
}

/// conn_disconnect(): the connection is lost while we are Primary and the peer's disk is not
/// known to be outdated: the fence-peer helper is asked, in a thread of its own (C:
/// conn_try_outdate_peer_async()), while the receiver looks for the peer again; an answer that
/// comes after a reconnect is ignored. The thread, to be joined (not under the configuration
/// lock, which it takes); `None` if no helper is asked, or it ran here for want of a thread.
pub(crate) fn fence_after_loss(
    drbd: &Arc<Drbd>,
    shared: &Arc<ConnShared>,
    name: &Name,
) -> Option<Thread> {
    let call = with_resource(drbd, shared, name, |res| {
        let primary = res.devices.iter().any(|d| d.state.role == Role::Primary);
        let unknown = res
            .devices
            .iter()
            .any(|d| d.state.pdsk >= DiskState::Unknown);
        if primary && unknown {
            fence_call(res)
        } else {
            None
        }
    })??;
    let fence = |drbd: &Drbd, shared: &ConnShared, name: &Name, call: &FenceCall| {
        let fenced = run_fence(name, call);
        with_resource(drbd, shared, name, |res| apply_fence(res, call, fenced));
    };
    let (d, sh, n, c) = (drbd.clone(), shared.clone(), *name, call.clone());
    match Thread::spawn(c_str!("drbd_fence"), move || fence(&d, &sh, &n, &c)) {
        Ok(t) => Some(t),
        Err(_) => {
            fence(drbd, shared, name, &call);
            None
        }
    }
}
