// SPDX-License-Identifier: GPL-2.0
//! `connect`, `disconnect` and `net-options`: the requests decoded and checked, for the
//! connection in [`crate::net`] to act on.
//!
//! C counterpart: drbd_adm_connect(), drbd_adm_disconnect() and drbd_adm_net_opts() of
//! drbd_nl.c, with check_net_options() (in [`super::config`]).

use super::addr::Endpoint;
use super::config::{check_net_options, Conf, NetContext, OUT_OF_RANGE};
use super::nla::{TopLevel, Value};
use super::retcode::RetCode;
use super::structs::{DISCONNECT_PARMS, NET_CONF};
use crate::device::{Config, Drbd, Resource};
use crate::model::helper::Fencing;
use crate::model::state::{ConnState, Role};
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

/// check_net_options() of `conf` against the resource's volumes.
fn checked(res: &Resource, conf: &Conf) -> Result<(), (RetCode, &'static str)> {
    let mut volumes = KVec::new();
    for d in res.devices.iter() {
        let stonith = d.fencing() == Fencing::ResourceAndStonith;
        volumes
            .push((d.state.role == Role::Primary, stonith), GFP_KERNEL)
            .map_err(|_| (RetCode::NoMem, ""))?;
    }
    let ctx = NetContext {
        primary: res.devices.iter().any(|d| d.state.role == Role::Primary),
        peer_primary: res.devices.iter().any(|d| d.state.peer == Role::Primary),
        volumes: &volumes,
    };
    check_net_options(conf, &ctx).map_err(|ret| (ret, ""))
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
    let conf = match net_conf(top, None).and_then(|c| checked(res, &c).map(|()| c)) {
        Ok(conf) => conf,
        Err(answer) => return answer,
    };
    // alloc_crypto(): the algorithms must exist, checked in C's order
    for (option, refusal) in [
        ("csums_alg", RetCode::CsumsAlg),
        ("verify_alg", RetCode::VerifyAlg),
        ("integrity_alg", RetCode::IntegrityAlg),
    ] {
        if let Some(Value::Str(alg)) = conf.value(option) {
            if !alg.is_empty() && crate::sys::crypto::digest_size(alg).is_err() {
                return (refusal, "");
            }
        }
    }
    if let Some(Value::Str(alg)) = conf.value("cram_hmac_alg") {
        let mut digest = [0u8; crate::sys::crypto::MAX_DIGEST];
        if !alg.is_empty() && crate::sys::crypto::hmac(alg, b"", b"", &mut digest).is_err() {
            return (RetCode::AuthAlg, "");
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

/// `drbd_adm_disconnect`: the connection goes (see [`crate::net::disconnect`]); its thread is
/// joined once the configuration lock is released.
pub(crate) fn disconnect(
    config: &mut Config,
    index: usize,
    force: bool,
) -> (RetCode, &'static str) {
    let Some(res) = config.resources.as_mut_slice().get_mut(index) else {
        return (RetCode::ResNotKnown, "");
    };
    if let Some(conn) = crate::net::disconnect(res, force) {
        config.retire(conn);
    }
    (RetCode::NoError, "")
}

/// `--force` of `disconnect`: no request to the peer (CS_HARD).
pub(crate) fn force_disconnect(top: &TopLevel<'_>) -> bool {
    top.get(DISCONNECT_PARMS.tla)
        .and_then(|nest| super::nla::Fields::parse(&DISCONNECT_PARMS, nest.payload).ok())
        .is_some_and(|f| matches!(f.get("force_disconnect"), Some(Value::Flag(true))))
}

/// `drbd_adm_net_opts`: changes the options of a configured connection. The timeouts,
/// `ko-count` and `max-buffers` take effect at once, the others at the next attempt to connect;
/// those the peers agree on are refused while connected.
pub(crate) fn net_options(
    res: &mut Resource,
    top: &TopLevel<'_>,
    set_defaults: bool,
) -> (RetCode, &'static str) {
    let connected = res.conn_state() >= ConnState::WfReportParams;
    // (a connection without volumes has no link to tell the peer on: its agreed options
    // cannot change while connected)
    let link = res.devices.iter().find_map(|d| d.io.link()).map(|(l, _)| l);
    let agreed = connected.then(|| link.as_ref().map_or(0, |l| l.agreed.version));
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
    if let Err(answer) = checked(res, &conf) {
        return answer;
    }
    let Some(conn) = res.conn.as_mut() else {
        return (RetCode::InvalidRequest, "unknown connection");
    };
    match conn.set_options(&res.name, conf, agreed) {
        Ok(tell) => {
            if let (true, Some(l)) = (tell, &link) {
                // a peer that does not take it is given up (see Link::send_data)
                let _ = crate::net::send_protocol_update(&res.name, conn, l);
            }
            (RetCode::NoError, "")
        }
        Err(answer) => answer,
    }
}
