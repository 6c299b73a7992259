// SPDX-License-Identifier: GPL-2.0
//! `connect`, `disconnect` and `net-options`: a resource's connection configuration and its
//! receiver thread.
//!
//! C counterpart: drbd_adm_connect(), drbd_adm_disconnect() / conn_try_disconnect() and
//! drbd_adm_net_opts() of drbd_nl.c. Not yet: check_net_options().

use super::addr::Endpoint;
use super::config::{Conf, OUT_OF_RANGE};
use super::nla::{TopLevel, Value};
use super::retcode::RetCode;
use super::structs::{DISCONNECT_PARMS, NET_CONF};
use crate::device::{Config, Drbd, Resource};
use crate::model::role::StateRv;
use crate::model::state::{ConnState, DiskState, Role, StateReq};
use crate::model::transition::{Fact, Outdate};
use crate::net::Connection;
use kernel::prelude::*;
use kernel::sync::Arc;

/// The net configuration of a request: defaults, then the request's fields; `None` for a
/// malformed one. Not inlined: the decoded fields stay off the handler's frame.
#[inline(never)]
fn net_conf(
    top: &TopLevel<'_>,
    base: Option<&Conf>,
) -> Result<KBox<Conf>, (RetCode, &'static str)> {
    let mut conf = match base {
        Some(b) => KBox::new(*b, GFP_KERNEL),
        None => KBox::new(Conf::defaults(&NET_CONF), GFP_KERNEL),
    }
    .map_err(|_| (RetCode::NoMem, ""))?;
    conf.apply(top, base.is_some())?;
    if let Some(bad) = conf.out_of_range() {
        pr_info!("net options refused: {}\n", bad);
        return Err((RetCode::MandatoryTag, OUT_OF_RANGE));
    }
    Ok(conf)
}

/// `drbd_adm_connect`: configures the connection to the peer and starts connecting to it.
pub(crate) fn connect(
    config: &mut Config,
    index: usize,
    top: &TopLevel<'_>,
    (my, peer): (Option<&[u8]>, Option<&[u8]>),
    drbd: &Arc<Drbd>,
) -> (RetCode, &'static str) {
    let (Some(my), Some(peer)) = (my, peer) else {
        return (RetCode::InvalidRequest, "connection endpoint(s) missing");
    };
    // Endpoints in use by another connection.
    for r in config.resources.iter() {
        if let Some(c) = &r.conn {
            if c.my.as_bytes() == my {
                return (RetCode::LocalAddr, "");
            }
            if c.peer.as_bytes() == peer {
                return (RetCode::PeerAddr, "");
            }
        }
    }
    let (Ok(my), Ok(peer)) = (Endpoint::parse(my), Endpoint::parse(peer)) else {
        return (RetCode::InvalidRequest, "invalid connection endpoint");
    };
    let Some(res) = config.resources.as_mut_slice().get_mut(index) else {
        return (RetCode::ResNotKnown, "unknown resource");
    };
    if res.conn.is_some() {
        return (RetCode::NetConfigured, "");
    }
    let conf = match net_conf(top, None) {
        Ok(conf) => conf,
        Err(answer) => return answer,
    };
    // alloc_crypto(): the algorithm must exist
    if let Some(Value::Str(alg)) = conf.value("cram_hmac_alg") {
        let mut digest = [0u8; crate::sys::crypto::MAX_DIGEST];
        if !alg.is_empty() && crate::sys::crypto::hmac(alg, b"", b"", &mut digest).is_err() {
            return (RetCode::AuthAlg, "");
        }
    }
    if let Some(Value::Str(alg)) = conf.value("integrity_alg") {
        if !alg.is_empty() && crate::sys::crypto::digest_size(alg).is_err() {
            return (RetCode::IntegrityAlg, "");
        }
    }
    res.follow_connection(ConnState::Unconnected);
    match Connection::start(&res.name, conf, my, peer, drbd.clone()) {
        Ok(conn) => {
            res.conn = Some(conn);
            res.follow_connection(ConnState::WfConnection);
            (RetCode::NoError, "")
        }
        Err(_) => {
            res.follow_connection(ConnState::StandAlone);
            (RetCode::NoMem, "")
        }
    }
}

/// conn_try_disconnect(): tells a connected peer (a cluster-wide change to Disconnecting),
/// then stops the connection; the volumes are StandAlone again. The receiver thread is joined
/// once the configuration lock is released (it may be waiting for it).
pub(crate) fn disconnect(
    config: &mut Config,
    index: usize,
    force: bool,
) -> (RetCode, &'static str) {
    let Some(res) = config.resources.as_mut_slice().get_mut(index) else {
        return (RetCode::ResNotKnown, "");
    };
    let Some(conn) = res.conn.take() else {
        return (RetCode::NoError, "");
    };
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
    config.retire(conn);
    (RetCode::NoError, "")
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

/// `--force` of `disconnect`: no request to the peer (CS_HARD).
pub(crate) fn force_disconnect(top: &TopLevel<'_>) -> bool {
    top.get(DISCONNECT_PARMS.tla)
        .and_then(|nest| super::nla::Fields::parse(&DISCONNECT_PARMS, nest.payload).ok())
        .is_some_and(|f| matches!(f.get("force_disconnect"), Some(Value::Flag(true))))
}

/// The net options the peers agree on in the handshake (P_PROTOCOL), and the other settings
/// of the handshake: C sends P_PROTOCOL_UPDATE when they change while connected; drbd-rs does
/// not yet.
const HANDSHAKE_OPTIONS: [&str; 12] = [
    "wire_protocol",
    "after_sb_0p",
    "after_sb_1p",
    "after_sb_2p",
    "rr_conflict",
    "two_primaries",
    "discard_my_data",
    "tentative",
    "always_asbp",
    "integrity_alg",
    "cram_hmac_alg",
    "shared_secret",
];

/// `drbd_adm_net_opts`: changes the options of a configured connection. The timeouts,
/// `ko-count` and `max-buffers` take effect at once, the others at the next attempt to connect;
/// those the peers agree on are refused while connected.
pub(crate) fn net_options(
    res: &mut Resource,
    top: &TopLevel<'_>,
    set_defaults: bool,
) -> (RetCode, &'static str) {
    let connected = res.conn_state() >= ConnState::WfReportParams;
    let Some(conn) = res.conn.as_mut() else {
        return (RetCode::InvalidRequest, "unknown connection");
    };
    let base = if set_defaults {
        let mut d = *conn.net_conf;
        d.reset_changeable();
        d
    } else {
        *conn.net_conf
    };
    let conf = match net_conf(top, Some(&base)) {
        Ok(conf) => conf,
        Err(answer) => return answer,
    };
    if let Some(name) = HANDSHAKE_OPTIONS
        .iter()
        .find(|n| connected && conf.value(n) != conn.net_conf.value(n))
    {
        pr_info!(
            "{}: net-options: {} cannot change while connected (not implemented yet by drbd-rs)\n",
            res.name,
            name
        );
        return (RetCode::InvalidRequest, "not implemented yet by drbd-rs");
    }
    conn.shared.tunables.set(&conf);
    conn.shared.retune();
    conn.net_conf = conf;
    (RetCode::NoError, "")
}
