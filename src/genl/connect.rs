// SPDX-License-Identifier: GPL-2.0
//! `connect`, `disconnect` and `net-options`: a resource's connection configuration and its
//! receiver thread.
//!
//! C counterpart: drbd_adm_connect(), drbd_adm_disconnect() / conn_try_disconnect() and
//! drbd_adm_net_opts() of drbd_nl.c. Not yet: the crypto checks of alloc_crypto() (algorithm
//! names are stored, not tried) and check_net_options().

use super::addr::Endpoint;
use super::config::Conf;
use super::nla::{TopLevel, Value};
use super::retcode::RetCode;
use super::structs::NET_CONF;
use crate::conn::Connection;
use crate::model::state::{ConnState, DevState};
use crate::resource::{Config, Drbd, Resource};
use kernel::prelude::*;
use kernel::sync::Arc;

/// Records a connection state change on every volume (C: the state change of the connection,
/// announced per device).
fn set_conn(res: &mut Resource, cs: ConnState) {
    for d in res.devices.as_mut_slice() {
        let mut new = DevState {
            conn: cs,
            ..d.state
        };
        // without a connection nothing is known of the peer (sanitize_state())
        if cs < ConnState::Connected {
            new.peer = crate::model::state::Role::Unknown;
            new.pdsk = crate::model::state::DiskState::Unknown;
        }
        d.set_state(new);
    }
}

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
    set_conn(res, ConnState::Unconnected);
    match Connection::start(&res.name, conf, my, peer, drbd.clone()) {
        Ok(conn) => {
            res.conn = Some(conn);
            set_conn(res, ConnState::WfConnection);
            (RetCode::NoError, "")
        }
        Err(_) => {
            set_conn(res, ConnState::StandAlone);
            (RetCode::NoMem, "")
        }
    }
}

/// conn_try_disconnect(): tells a connected peer (a cluster-wide change to Disconnecting),
/// then stops the connection; the volumes are StandAlone again. The receiver thread is joined
/// once the configuration lock is released (it may be waiting for it).
pub(crate) fn disconnect(config: &mut Config, index: usize) -> (RetCode, &'static str) {
    let Some(res) = config.resources.as_mut_slice().get_mut(index) else {
        return (RetCode::ResNotKnown, "");
    };
    let Some(conn) = res.conn.take() else {
        return (RetCode::NoError, "");
    };
    if let Some((link, volume)) = res.devices.iter().find_map(|d| d.io.link()) {
        let mask = CONN_MASK;
        let val = (ConnState::Disconnecting as u32) << CONN_SHIFT;
        // a peer that does not answer is left anyway
        let _ = link.request_state(volume, mask, val, true);
    }
    let name = res.name;
    for d in res.devices.as_mut_slice() {
        d.io.set_link(None);
        super::role::peer_lost(&name, d);
        d.peer_uuids = None;
        d.consider_resync = false;
    }
    set_conn(res, ConnState::Disconnecting);
    conn.shutdown();
    set_conn(res, ConnState::StandAlone);
    config.retire(conn);
    (RetCode::NoError, "")
}

/// The connection field of a state word (`union drbd_state` bits 4-8).
const CONN_SHIFT: u32 = 4;
const CONN_MASK: u32 = 0x1f << CONN_SHIFT;

/// `drbd_adm_net_opts`: changes the options of a configured connection; the new values take
/// effect at the next connection attempt.
pub(crate) fn net_options(
    res: &mut Resource,
    top: &TopLevel<'_>,
    set_defaults: bool,
) -> (RetCode, &'static str) {
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
    match net_conf(top, Some(&base)) {
        Ok(conf) => {
            conn.net_conf = conf;
            (RetCode::NoError, "")
        }
        Err(answer) => answer,
    }
}
