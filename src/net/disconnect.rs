// SPDX-License-Identifier: GPL-2.0
//! Leaving the peer: `disconnect` asks it to let the connection go, outdating a disk where
//! fencing wants it, then the connection is shut down.
//!
//! C counterpart: conn_try_disconnect() of drbd_nl.c.

use super::Connection;
use crate::device::Resource;
use crate::model::role::StateRv;
use crate::model::state::{ConnState, DiskState, Role, StateReq};
use crate::model::transition::{Fact, Outdate};

/// conn_try_disconnect(): tells a connected peer (a cluster-wide change to Disconnecting;
/// not with `force`), then shuts the connection down; the volumes are StandAlone again. The
/// connection is returned to be stopped once the configuration lock is released (its thread
/// may be waiting for it).
pub(crate) fn disconnect(res: &mut Resource, force: bool) -> Option<Connection> {
    let conn = res.conn.take()?;
    let outdate = if force {
        Outdate::Neither
    } else {
        graceful(res)
    };
    let name = res.name;
    for d in res.devices.as_mut_slice() {
        d.peer_gone(&name, Fact::Disconnecting(outdate));
    }
    conn.shutdown();
    res.follow_connection(ConnState::StandAlone);
    Some(conn)
}

/// conn_try_disconnect() while connected: the peer is asked to let the connection go. A
/// Primary with resource fencing must leave its peer Outdated (SS_PRIMARY_NOP otherwise), so it
/// asks for that too; a peer that refuses (such a Primary itself) wants to see us Outdated.
/// A peer that does not answer is left anyway. Returns whose disk the peer agreed to outdate.
fn graceful(res: &Resource) -> Outdate {
    let Some((link, volume)) = res.devices.iter().find_map(|d| d.io.link()) else {
        return Outdate::Neither;
    };
    let bye = StateReq::default().conn(ConnState::Disconnecting);
    let fenced_primary = res.devices.iter().any(|d| {
        d.state.role == Role::Primary && d.fencing_resource() && d.state.pdsk >= DiskState::Unknown
    });
    link.set_leaving();
    // a peer busy with a change of its own refuses ours as concurrent: ask again a few times
    // (the peer's own request, if it is to disconnect too, is agreed with meanwhile)
    let ask = |req| {
        let mut rv = None;
        for _ in 0..5 {
            rv = link
                .request_state(volume, req, true)
                .map(StateRv::from_peer);
            if rv != Some(StateRv::ConcurrentStChg) {
                break;
            }
            crate::sys::sleep_ms(100);
        }
        rv
    };
    // whose disk goes Outdated with the disconnect: the peer's, or ours
    let peers = if fenced_primary {
        true
    } else {
        match ask(bye) {
            Some(StateRv::Success | StateRv::ConcurrentStChg) | None => return Outdate::Neither,
            // refused: outdate ourselves, unless there is nothing to outdate (C: CS_HARD then)
            Some(_)
                if res
                    .devices
                    .iter()
                    .any(|d| d.state.disk < DiskState::Outdated) =>
            {
                return Outdate::Neither
            }
            Some(_) => false,
        }
    };
    let req = if peers {
        bye.pdsk(DiskState::Outdated)
    } else {
        bye.disk(DiskState::Outdated)
    };
    match ask(req) {
        Some(StateRv::Success) if peers => Outdate::Peers,
        Some(StateRv::Success) => Outdate::Ours,
        _ => Outdate::Neither,
    }
}
