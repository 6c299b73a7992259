// SPDX-License-Identifier: GPL-2.0
//! The `drbd` generic netlink family: the 8.4 admin ABI that drbdsetup-84 speaks.
//!
//! C counterpart: drbd_nl.c. The pure parts (schema, attribute coding, configuration structs,
//! result codes) are compiled by the host tests too.

pub(crate) mod addr;
pub(crate) mod config;
pub(crate) mod connect;
mod disk;
pub(crate) mod nla;
pub(crate) mod retcode;
pub(crate) mod schema;
pub(crate) mod structs;

use crate::device::attach;
use crate::device::{insert_at, take_at, Config, DevIo, Device, Drbd, Resource};
use crate::model::state::{ConnState, DiskState, Role, StateChange};
use crate::sys::genl::{DumpCursor, DumpItem, Event, Events, Handler, Request};
use crate::sys::print::ratelimit;
use config::{
    check_name, context_addrs, context_name, context_volume, put_context, put_device_status,
    put_resource_status, put_state_info, BadName, ResOpts, StateInfo, SIB_GET_STATUS_REPLY,
    SIB_STATE_CHANGE,
};
use core::sync::atomic::{AtomicU32, Ordering};
use kernel::prelude::*;
use kernel::sync::Arc;
use nla::{Fields, NlaWriter, ParseError, TopLevel, Value};
use retcode::RetCode;
use schema::{Needs, Op, StructDef, T_INFO_TEXT};

/// Serves the family's commands.
pub(crate) struct Admin;

/// Errnos the dumps answer with, negative as genl core takes them.
const ENODEV: i32 = -19;
const EINVAL: i32 = -22;
const EMSGSIZE: i32 = -90;

/// Adds the text drbdsetup prints as "additional info from kernel", as `drbd_msg_put_info`.
fn put_info(reply: &mut NlaWriter<'_>, text: &str) {
    // A reply buffer too small for a short text is a bug of ours, not of the caller; the result
    // code alone still tells userspace what happened.
    if reply
        .nest(structs::CFG_REPLY.tla, |w| w.put_str(T_INFO_TEXT, text))
        .is_err()
    {
        pr_warn!("netlink reply too small for its info text\n");
    }
}

/// A refused request: logged (rate-limited) and answered with the C module's errno.
fn refuse(op: &Op, e: ParseError) -> i32 {
    if ratelimit() {
        pr_info!("{}: refused attributes: {:?}\n", op.name, e);
    }
    e.errno()
}

/// A request after `drbd_adm_prepare`: its attributes checked, its context decoded.
pub(crate) struct Prepared<'a> {
    top: TopLevel<'a>,
    /// The resource the context names, if it does.
    name: Option<&'a [u8]>,
    /// The volume the context names, if it does.
    volume: Option<u32>,
    /// The connection endpoints the context names (`struct sockaddr_*` bytes), if it does.
    my_addr: Option<&'a [u8]>,
    peer_addr: Option<&'a [u8]>,
}

/// Checks a request's attributes, decodes its context (`DRBD_NLA_CFG_CONTEXT`) and copies the
/// context into the reply, as `drbd_adm_prepare` does.
// Not inlined: its decoded attributes (about 1 KiB) stay off the handler's frame.
#[inline(never)]
fn prepare<'a>(
    op: &Op,
    attrs: &'a [u8],
    reply: &mut NlaWriter<'_>,
) -> Result<Prepared<'a>, ParseError> {
    let top = TopLevel::parse(attrs)?;
    let Some(ctx) = top.get(structs::CFG_CONTEXT.tla) else {
        return Ok(Prepared {
            top,
            name: None,
            volume: None,
            my_addr: None,
            peer_addr: None,
        });
    };
    let fields = Fields::parse(&structs::CFG_CONTEXT, ctx.payload)?;
    fields.require()?;
    if reply.put_raw(ctx.raw).is_err() {
        pr_warn!("{}: netlink reply too small for the context\n", op.name);
    }
    let (my_addr, peer_addr) = context_addrs(&fields);
    Ok(Prepared {
        top,
        name: context_name(&fields),
        volume: context_volume(&fields),
        my_addr,
        peer_addr,
    })
}

/// The options a request carries for a resource, on top of `base`.
// Not inlined: its decoded attributes (about 1 KiB) stay off the handler's frame.
#[inline(never)]
fn res_opts(p: &Prepared<'_>, base: ResOpts) -> Result<ResOpts, ParseError> {
    match p.top.get(structs::RESOURCE_OPTS.tla) {
        Some(nla) => base.updated(&Fields::parse(&structs::RESOURCE_OPTS, nla.payload)?),
        None => Ok(base),
    }
}

// Not inlined: its decoded attributes (about 1 KiB) stay off the handler's frame.
#[inline(never)]
fn new_resource(
    config: &mut Config,
    req: &Request<'_>,
    p: &Prepared<'_>,
) -> (RetCode, &'static str) {
    let Ok(opts) = res_opts(p, ResOpts::defaults()) else {
        return (RetCode::MandatoryTag, "invalid attribute value");
    };
    let name = match check_name(p.name) {
        Ok(name) => name,
        Err(BadName::Missing) => return (RetCode::MandatoryTag, "resource name missing"),
        Err(BadName::Invalid) => return (RetCode::InvalidRequest, "invalid resource name"),
    };
    if config.find(name.as_bytes()).is_some() {
        if req.exclusive() {
            return (RetCode::InvalidRequest, "resource exists");
        }
        return (RetCode::NoError, "");
    }
    match config.resources.push(Resource::new(name, opts), GFP_KERNEL) {
        Ok(()) => (RetCode::NoError, ""),
        Err(_) => (RetCode::NoMem, ""),
    }
}

/// `adm_del_resource`: only a resource without volumes (and connections, of which none can
/// exist yet) can go.
fn del_resource(config: &mut Config, index: usize) -> (RetCode, &'static str) {
    match config.resources.get(index) {
        Some(r) if r.conn.is_some() => return (RetCode::NetConfigured, ""),
        Some(r) if !r.devices.is_empty() => return (RetCode::ResInUse, ""),
        _ => {}
    }
    match take_at(&mut config.resources, index) {
        Ok(_) => (RetCode::NoError, ""),
        Err(_) => (RetCode::NoMem, ""),
    }
}

/// Highest minor number (`MINORMASK`) and volume number (`DRBD_VOLUME_MAX`) there can be.
const MINOR_MAX: u32 = (1 << 20) - 1;
const VOLUME_MAX: u32 = 65535;

/// `drbd_adm_new_minor` and `drbd_create_device`.
// Not inlined: its decoded attributes (about 1 KiB) stay off the handler's frame.
#[inline(never)]
fn new_minor(
    drbd: &Arc<Drbd>,
    config: &mut Config,
    index: usize,
    req: &Request<'_>,
    p: &Prepared<'_>,
    exists: bool,
) -> (RetCode, &'static str) {
    if req.minor > MINOR_MAX {
        return (RetCode::InvalidRequest, "requested minor out of range");
    }
    let volume = match p.volume {
        Some(v) if v <= VOLUME_MAX => v,
        _ => return (RetCode::InvalidRequest, "requested volume id out of range"),
    };
    if exists {
        if req.exclusive() {
            return (RetCode::MinorOrVolumeExists, "");
        }
        return (RetCode::NoError, "");
    }
    let Some(resource) = config.resources.as_mut_slice().get_mut(index) else {
        return (RetCode::ResNotKnown, "unknown resource");
    };
    let at = resource.devices.iter().position(|d| d.volume >= volume);
    if at.is_some_and(|i| resource.devices[i].volume == volume) {
        return (RetCode::MinorOrVolumeExists, "");
    }
    let allow_oos = crate::sys::module::allow_oos();
    let device = match Device::new(req.minor, volume, allow_oos, drbd.clone()) {
        Ok(device) => device,
        Err(_) => return (RetCode::NoMem, ""),
    };
    let at = at.unwrap_or(resource.devices.len());
    match insert_at(&mut resource.devices, at, device) {
        Ok(()) => (RetCode::NoError, ""),
        Err(_) => (RetCode::NoMem, ""),
    }
}

/// `adm_del_minor`: only an unconfigured minor (Diskless, StandAlone, Secondary) can go.
fn del_minor(config: &mut Config, (r, v): (usize, usize)) -> (RetCode, &'static str) {
    let Some(resource) = config.resources.as_mut_slice().get_mut(r) else {
        return (RetCode::MinorInvalid, "unknown minor");
    };
    let Some(d) = resource.devices.get(v) else {
        return (RetCode::MinorInvalid, "unknown minor");
    };
    let s = d.state;
    if s.disk != DiskState::Diskless
        || s.conn != ConnState::StandAlone
        || s.role != Role::Secondary
        || d.is_open()
    {
        return (RetCode::MinorConfigured, "");
    }
    match take_at(&mut resource.devices, v) {
        Ok(_) => (RetCode::NoError, ""),
        Err(_) => (RetCode::NoMem, ""),
    }
}

/// Runs `f` on the device at `(resource, volume)` with its resource's name.
fn with_device(
    config: &mut Config,
    (r, v): (usize, usize),
    f: impl FnOnce(&config::Name, &mut Device) -> (RetCode, &'static str),
) -> (RetCode, &'static str) {
    let Some(res) = config.resources.as_mut_slice().get_mut(r) else {
        return (RetCode::MinorInvalid, "unknown minor");
    };
    let name = res.name;
    match res.devices.as_mut_slice().get_mut(v) {
        Some(dev) => f(&name, dev),
        None => (RetCode::MinorInvalid, "unknown minor"),
    }
}

/// drbd_adm_suspend_io() and drbd_adm_resume_io(): the resource's I/O is suspended by the
/// user, or resumes, every suspend flag cleared (also a freeze for fencing whose helper
/// failed; the data generation the lost peer called for begins then).
fn suspend_io(config: &mut Config, r: usize, on: bool) -> (RetCode, &'static str) {
    let Some(res) = config.resources.as_mut_slice().get_mut(r) else {
        return (RetCode::MinorInvalid, "unknown minor");
    };
    let changes = res.devices.iter().any(|d| {
        if on {
            !d.state.susp
        } else {
            d.state.suspended()
        }
    });
    res.set_suspend(|s| {
        s.susp = on;
        if !on {
            s.susp_nod = false;
            s.susp_fen = false;
        }
    });
    if changes {
        (RetCode::StateSuccess, "")
    } else {
        (RetCode::StateNothingToDo, "")
    }
}

/// The rest of a detach whose disk still had requests: once the last came back, the disk is
/// released (unless the module's work did it first); `ERR_INTR` if a signal came first, the
/// disk then being released later all the same.
fn finish_detach(ctx: &Drbd, minor: u32, io: &DevIo, events: &mut Events) -> RetCode {
    if !io.wait_local_idle() {
        return RetCode::Intr;
    }
    let mut config = ctx.config.lock();
    config.sync_conn_states();
    if let Some(at) = config.find_minor(minor) {
        with_device(&mut config, at, |name, dev| {
            attach::go_diskless(name, dev);
            (RetCode::NoError, "")
        });
        announce_resource(&mut config, at.0, events);
    }
    Drbd::reap(config);
    RetCode::NoError
}

/// `drbd_adm_down` as far as there is anything to undo: detach and delete the volumes, then
/// the resource.
fn down(config: &mut Config, index: usize, events: &mut Events) -> (RetCode, &'static str) {
    let minors: KVec<u32> = match config.resources.get(index) {
        Some(r) => {
            let mut minors = KVec::new();
            for d in r.devices.iter() {
                if minors.push(d.minor, GFP_KERNEL).is_err() {
                    return (RetCode::NoMem, "");
                }
            }
            minors
        }
        None => return (RetCode::ResNotKnown, "unknown resource"),
    };
    // demote every volume first: an open device stops it all
    for minor in minors.iter() {
        let Some(at) = config.find_minor(*minor) else {
            continue;
        };
        let (ret, _) = with_device(config, at, |name, dev| {
            crate::device::role::set_role(name, dev, Role::Secondary, false)
        });
        if !matches!(ret, RetCode::StateSuccess | RetCode::StateNothingToDo) {
            return (ret, "failed to demote");
        }
    }
    connect::disconnect(config, index, false);
    for minor in minors.iter() {
        let Some(at) = config.find_minor(*minor) else {
            continue;
        };
        let (ret, _) = with_device(config, at, |name, dev| {
            let ret = attach::detach(name, dev, false);
            // (waiting under the configuration lock: `down` of a disk that does not answer
            // hangs until it does)
            while ret.0 == RetCode::NoError && !attach::go_diskless(name, dev) {
                if !dev.io.wait_local_idle() {
                    return (RetCode::Intr, "");
                }
            }
            ret
        });
        // the volume's changes are announced before it goes
        announce_resource(config, at.0, events);
        if ret != RetCode::NoError {
            return (ret, "failed to detach");
        }
        let (ret, _) = del_minor(config, at);
        if ret != RetCode::NoError {
            return (ret, "failed to delete volume");
        }
    }
    del_resource(config, index)
}

/// `drbd_adm_get_status` of one minor: its status in the reply.
fn get_status(
    config: &Config,
    (r, v): (usize, usize),
    reply: &mut NlaWriter<'_>,
) -> (RetCode, &'static str) {
    match config
        .resources
        .get(r)
        .and_then(|res| Some((res, res.devices.get(v)?)))
    {
        Some((res, d)) if put_status(reply, res, d).is_ok() => (RetCode::NoError, ""),
        Some(_) => (RetCode::NoMem, ""),
        None => (RetCode::MinorInvalid, "unknown minor"),
    }
}

/// drbd_adm_get_timeout_type(): which timeout `wait-connect` applies to this minor.
fn get_timeout_type(
    config: &Config,
    (r, v): (usize, usize),
    reply: &mut NlaWriter<'_>,
) -> (RetCode, &'static str) {
    let Some(d) = config.resources.get(r).and_then(|res| res.devices.get(v)) else {
        return (RetCode::MinorInvalid, "unknown minor");
    };
    let ty = crate::model::attach::timeout_type(d.state.pdsk, d.degraded_wfc);
    let value = |_: &str| Some(Value::U32(ty));
    match config::put_struct(reply, &structs::TIMEOUT_PARMS, value) {
        Ok(()) => (RetCode::NoError, ""),
        Err(_) => (RetCode::NoMem, ""),
    }
}

/// nla_put_status_info() without a connection.
fn put_status(out: &mut NlaWriter<'_>, res: &Resource, d: &Device) -> Result<(), nla::Overflow> {
    put_context(out, &res.name, Some(d.volume), res.addrs())?;
    res.opts.put(out)?;
    if let Some(ldev) = &d.ldev {
        ldev.conf.put(out)?;
    }
    if let Some(conn) = &res.conn {
        // the shared secret only for the administrator (exclude_sensitive in C)
        if crate::sys::capable_sys_admin() {
            conn.net_conf.put_all(out)?;
        } else {
            conn.net_conf.put(out)?;
        }
    }
    let state = res.volume_state(d).to_u32();
    put_state_info_of(out, d, state, SIB_GET_STATUS_REPLY, None, None)
}

/// The state info of `d`, for a status reply or an event.
fn put_state_info_of(
    out: &mut NlaWriter<'_>,
    d: &Device,
    state: u32,
    reason: u32,
    change: Option<(u32, u32)>,
    helper: Option<(&str, Option<u32>)>,
) -> Result<(), nla::Overflow> {
    let counters = d.counters();
    let disk = d
        .ldev
        .as_ref()
        .zip(counters.as_ref())
        .map(|(l, c)| config::DiskStatus {
            uuids: l.sb.uuid,
            flags: l.sb.flags,
            bits_total: c.bits,
            bits_oos: c.bits_set,
        });
    let io = d.io_counters();
    let si = StateInfo {
        reason,
        state,
        capacity: d.size,
        read_cnt: u64::from(io.read_kib) * 2,
        writ_cnt: u64::from(io.write_kib) * 2,
        al_writ_cnt: u64::from(counters.map_or(0, |c| c.al_writes)),
        disk: disk.as_ref(),
        change,
        helper,
    };
    put_state_info(out, &si)
}

/// `drbd_genl_seq`: the sequence numbers of events, the first one 3 as in C.
static EVENT_SEQ: AtomicU32 = AtomicU32::new(2);

/// Announces the recorded state changes of `d` on the `events` group (drbd_bcast_event() with
/// SIB_STATE_CHANGE): what `drbdsetup-84 events` prints as ST-prev, ST-new and ST lines.
fn announce(
    (name, opts, addrs): (&config::Name, &ResOpts, config::Addrs<'_>),
    d: &mut Device,
    events: &mut Events,
) {
    let changes = core::mem::take(&mut d.changes);
    for (prev, new) in changes.iter() {
        let line = StateChange(*prev, *new);
        if !line.is_empty() {
            pr_info!("{}/{} drbd{}: {}\n", name, d.volume, d.minor, line);
        }
        let change = Some((prev.to_u32(), new.to_u32()));
        let e = device_event(
            (name, opts, addrs),
            d,
            new.to_u32(),
            SIB_STATE_CHANGE,
            change,
            None,
        );
        if let Some(e) = e {
            events.push(e);
        }
    }
}

/// One event of device `d` (drbd_bcast_event()): its context, the resource and disk options,
/// and its state info for `reason`.
fn device_event(
    (name, opts, addrs): (&config::Name, &ResOpts, config::Addrs<'_>),
    d: &Device,
    state: u32,
    reason: u32,
    change: Option<(u32, u32)>,
    helper: Option<(&str, Option<u32>)>,
) -> Option<Event> {
    let Ok(mut buf) = KVec::from_elem(0u8, EVENT_ROOM, GFP_KERNEL) else {
        pr_err!("drbd: out of memory for an event\n");
        return None;
    };
    let mut w = NlaWriter::new(&mut buf);
    let put = put_context(&mut w, name, Some(d.volume), addrs)
        .and_then(|()| opts.put(&mut w))
        .and_then(|()| d.ldev.as_ref().map_or(Ok(()), |l| l.conf.put(&mut w)))
        .and_then(|()| put_state_info_of(&mut w, d, state, reason, change, helper));
    let len = w.as_bytes().len();
    let mut attrs = KVec::new();
    if put.is_err() || attrs.extend_from_slice(&buf[..len], GFP_KERNEL).is_err() {
        pr_err!("drbd: event of minor {} too large\n", d.minor);
        return None;
    }
    Some(Event {
        seq: EVENT_SEQ.fetch_add(1, Ordering::Relaxed).wrapping_add(1),
        minor: d.minor,
        attrs,
    })
}

/// drbd_khelper()'s broadcasts (SIB_HELPER_PRE, and SIB_HELPER_POST with the helper's wait
/// `status`) for device `minor`: what `drbdsetup-84 events` prints as UH and UH-post lines.
pub(crate) fn helper_event(
    config: &Config,
    minor: u32,
    helper: &str,
    status: Option<u32>,
) -> Option<Event> {
    let (r, v) = config.find_minor(minor)?;
    let res = config.resources.get(r)?;
    let d = res.devices.get(v)?;
    let addrs = res
        .conn
        .as_ref()
        .map(|c| (c.my.as_bytes(), c.peer.as_bytes()));
    let reason = if status.is_some() {
        config::SIB_HELPER_POST
    } else {
        config::SIB_HELPER_PRE
    };
    let state = d.state.to_u32();
    device_event(
        (&res.name, &res.opts, addrs),
        d,
        state,
        reason,
        None,
        Some((helper, status)),
    )
}

/// Room for one event's attributes: context, resource and disk options, state info.
const EVENT_ROOM: usize = 2048;

/// Announces the state changes of every device of resource `index`.
pub(crate) fn announce_resource(config: &mut Config, index: usize, events: &mut Events) {
    if let Some(res) = config.resources.as_mut_slice().get_mut(index) {
        let Resource {
            name,
            opts,
            devices,
            conn,
            ..
        } = res;
        let addrs = conn.as_ref().map(|c| (c.my.as_bytes(), c.peer.as_bytes()));
        for d in devices.as_mut_slice() {
            announce((name, opts, addrs), d, events);
        }
    }
}

// Not inlined: its decoded attributes (about 1 KiB) stay off the handler's frame.
#[inline(never)]
fn resource_options(
    config: &mut Config,
    index: usize,
    req: &Request<'_>,
    p: &Prepared<'_>,
) -> (RetCode, &'static str) {
    let Some(resource) = config.resources.as_mut_slice().get_mut(index) else {
        return (RetCode::ResNotKnown, "unknown resource");
    };
    let base = if req.user_flags & schema::F_SET_DEFAULTS != 0 {
        ResOpts::defaults()
    } else {
        resource.opts
    };
    match res_opts(p, base) {
        Ok(opts) => {
            resource.opts = opts;
            (RetCode::NoError, "")
        }
        Err(_) => (RetCode::MandatoryTag, "invalid attribute value"),
    }
}

impl Handler for Admin {
    type Ctx = Drbd;

    fn doit(
        ctx: &Arc<Drbd>,
        req: &Request<'_>,
        reply: &mut NlaWriter<'_>,
        events: &mut Events,
    ) -> Result<RetCode, i32> {
        // genl core only calls us for registered commands, all of which are in the table.
        let Some(op) = schema::op(req.cmd) else {
            return Ok(RetCode::InvalidRequest);
        };
        let p = prepare(op, req.attrs, reply).map_err(|e| refuse(op, e))?;
        if op.cmd == schema::PRIMARY {
            // the fence-peer helper runs without the configuration lock
            crate::device::helper::fence_before_promotion(ctx, req.minor);
        }
        let force_detach = match op.cmd {
            schema::DETACH => flag(&p.top, &structs::DETACH_PARMS, "force_detach"),
            _ => Ok(false),
        };
        let mut config = ctx.config.lock();
        // what the receiver threads changed since the last command
        config.sync_conn_states();
        let resource = p.name.and_then(|n| config.find(n));
        let device = config.find_minor(req.minor);
        let connection = match (p.my_addr, p.peer_addr) {
            (Some(my), Some(peer)) => config.find_connection(my, peer),
            _ => None,
        };
        // The checks of drbd_adm_prepare, in its order.
        let (ret, text) = match op.needs {
            Needs::Minor if device.is_none() => (RetCode::MinorInvalid, "unknown minor"),
            _ if device.is_some_and(|(r, _)| resource.is_some_and(|res| res != r)) => (
                RetCode::InvalidRequest,
                "minor exists in different resource",
            ),
            _ if device.is_some_and(|(r, v)| {
                p.volume
                    .is_some_and(|vol| config.resources[r].devices[v].volume != vol)
            }) =>
            {
                (RetCode::InvalidRequest, "minor exists as different volume")
            }
            Needs::Resource if resource.is_none() => match p.name {
                Some(_) => (RetCode::ResNotKnown, "unknown resource"),
                None => (RetCode::InvalidRequest, "unknown resource"),
            },
            Needs::Connection if resource.is_some() => {
                (RetCode::InvalidRequest, "no resource name expected")
            }
            Needs::Connection if device.is_some() => {
                (RetCode::InvalidRequest, "no minor number expected")
            }
            Needs::Connection if connection.is_none() => {
                (RetCode::InvalidRequest, "unknown connection")
            }
            _ => match (op.cmd, resource, device) {
                (schema::NEW_RESOURCE, _, _) => new_resource(&mut config, req, &p),
                (schema::NEW_MINOR, Some(i), d) => {
                    new_minor(ctx, &mut config, i, req, &p, d.is_some())
                }
                (schema::DEL_MINOR, _, Some(d)) => del_minor(&mut config, d),
                (schema::GET_STATUS, _, Some(d)) => get_status(&config, d, reply),
                (schema::GET_TIMEOUT_TYPE, _, Some(d)) => get_timeout_type(&config, d, reply),
                (schema::ATTACH, _, Some(d)) => {
                    match check_resync_after(&config, req.minor, &p.top) {
                        Ok(()) => {
                            with_device(&mut config, d, |name, dev| disk::attach(name, dev, &p.top))
                        }
                        Err(answer) => answer,
                    }
                }
                (schema::DETACH, _, Some(d)) => match force_detach {
                    Ok(force) => {
                        with_device(&mut config, d, |name, dev| attach::detach(name, dev, force))
                    }
                    Err(answer) => answer,
                },
                (schema::PRIMARY, _, Some(d)) => {
                    match flag(&p.top, &structs::SET_ROLE_PARMS, "assume_uptodate") {
                        Ok(force) => with_device(&mut config, d, |name, dev| {
                            crate::device::role::set_role(name, dev, Role::Primary, force)
                        }),
                        Err(answer) => answer,
                    }
                }
                (schema::SECONDARY, _, Some(d)) => with_device(&mut config, d, |name, dev| {
                    crate::device::role::set_role(name, dev, Role::Secondary, false)
                }),
                (schema::NEW_C_UUID, _, Some(d)) => {
                    match flag(&p.top, &structs::NEW_C_UUID_PARMS, "clear_bm") {
                        Ok(clear) => with_device(&mut config, d, |name, dev| {
                            crate::device::role::new_current_uuid(name, dev, clear)
                        }),
                        Err(answer) => answer,
                    }
                }
                (schema::START_OV, _, Some(d)) => match verify_range(&p.top) {
                    Ok((start, stop)) => with_device(&mut config, d, |name, dev| {
                        crate::resync::start_verify(name, dev, start, stop)
                    }),
                    Err(answer) => answer,
                },
                (schema::INVALIDATE_PEER, _, Some(d)) => {
                    with_device(&mut config, d, crate::device::role::invalidate_remote)
                }
                (schema::PAUSE_SYNC, _, Some(d)) => with_device(&mut config, d, |name, dev| {
                    crate::device::role::pause_sync(name, dev, true)
                }),
                (schema::RESUME_SYNC, _, Some(d)) => with_device(&mut config, d, |name, dev| {
                    crate::device::role::pause_sync(name, dev, false)
                }),
                (schema::OUTDATE, _, Some(d)) => {
                    with_device(&mut config, d, crate::device::role::outdate)
                }
                (schema::SUSPEND_IO, _, Some((r, _))) => suspend_io(&mut config, r, true),
                (schema::RESUME_IO, _, Some((r, _))) => suspend_io(&mut config, r, false),
                (schema::INVALIDATE, _, Some(d)) => {
                    with_device(&mut config, d, crate::device::role::invalidate)
                }
                (schema::RESIZE, _, Some(d)) => {
                    with_device(&mut config, d, |name, dev| disk::resize(name, dev, &p.top))
                }
                (schema::CHG_DISK_OPTS, _, Some(d)) => {
                    match check_resync_after(&config, req.minor, &p.top) {
                        Ok(()) => with_device(&mut config, d, |name, dev| {
                            let defaults = req.user_flags & schema::F_SET_DEFAULTS != 0;
                            disk::disk_options(name, dev, &p.top, defaults)
                        }),
                        Err(answer) => answer,
                    }
                }
                (schema::CONNECT, Some(i), _) => {
                    connect::connect(&mut config, i, &p.top, (p.my_addr, p.peer_addr), ctx)
                }
                (schema::DISCONNECT, _, _) => match connection {
                    Some(i) => {
                        let force = connect::force_disconnect(&p.top);
                        connect::disconnect(&mut config, i, force)
                    }
                    None => (RetCode::InvalidRequest, "unknown connection"),
                },
                (schema::CHG_NET_OPTS, _, _) => {
                    match connection.and_then(|i| config.resources.as_mut_slice().get_mut(i)) {
                        Some(res) => {
                            let defaults = req.user_flags & schema::F_SET_DEFAULTS != 0;
                            connect::net_options(res, &p.top, defaults)
                        }
                        None => (RetCode::InvalidRequest, "unknown connection"),
                    }
                }
                (schema::DEL_RESOURCE, Some(i), _) => del_resource(&mut config, i),
                (schema::DOWN, Some(i), _) => down(&mut config, i, events),
                (schema::RESOURCE_OPTS, Some(i), _) => resource_options(&mut config, i, req, &p),
                _ => {
                    if ratelimit() {
                        pr_info!("{}: not implemented yet\n", op.name);
                    }
                    (RetCode::InvalidRequest, "not implemented yet by drbd-rs")
                }
            },
        };
        if ret == RetCode::NoError && matches!(op.cmd, schema::ATTACH | schema::CHG_DISK_OPTS) {
            if let Some(res) = device.and_then(|(r, _)| config.resources.as_mut_slice().get_mut(r))
            {
                res.bump_write_ordering();
            }
        }
        config.resync_after_pass();
        for r in 0..config.resources.len() {
            announce_resource(&mut config, r, events);
        }
        if !text.is_empty() {
            put_info(reply, text);
        }
        // a detach (not forced) returns once the disk is Diskless (C: the wait for the disk to
        // leave D_FAILED), waiting for its requests without the configuration lock
        let wait = op.cmd == schema::DETACH
            && matches!(force_detach, Ok(false))
            && ret == RetCode::NoError;
        let waiting = config
            .find_minor(req.minor)
            .filter(|_| wait)
            .and_then(|(r, v)| config.resources.get(r)?.devices.get(v))
            .filter(|dev| attach::detaching(dev))
            .map(|dev| dev.io.clone());
        Drbd::reap(config);
        match waiting {
            Some(io) => Ok(finish_detach(ctx, req.minor, &io, events)),
            None => Ok(ret),
        }
    }

    /// `get-status`, `get-resources`, `get-devices`, `get-connections` and `get-peer-devices`
    /// dumps; `get-initial-state` (for `events2`) is not implemented yet and comes back empty.
    fn dump(
        ctx: &Arc<Drbd>,
        req: &Request<'_>,
        cursor: &mut DumpCursor,
        out: &mut NlaWriter<'_>,
    ) -> Result<DumpItem, i32> {
        let mut config = ctx.config.lock();
        // a connection its thread gave up is gone (its changes are announced by the next
        // command: dumps have no event sink)
        config.sync_conn_states();
        let item = match req.cmd {
            schema::GET_STATUS => dump_status(&config, req, cursor, out),
            schema::GET_RESOURCES => dump_resources(&config, cursor, out),
            schema::GET_DEVICES => dump_devices(&config, req, cursor, out),
            schema::GET_CONNECTIONS => dump_connections(&config, req, cursor, out),
            schema::GET_PEER_DEVICES => dump_peer_devices(&config, req, cursor, out),
            _ => Ok(None),
        };
        Drbd::reap(config);
        item
    }
}

/// `drbd_adm_dump_resources`: each resource with its options, role and statistics.
fn dump_resources(
    config: &Config,
    cursor: &mut DumpCursor,
    out: &mut NlaWriter<'_>,
) -> Result<DumpItem, i32> {
    let Some(r) = usize::try_from(cursor[0])
        .ok()
        .and_then(|i| config.resources.get(i))
    else {
        return Ok(None);
    };
    put_context(out, &r.name, None, None)
        .and_then(|()| r.opts.put(out))
        .and_then(|()| put_resource_status(out, r.role(), r.write_ordering))
        .map_err(|_| EMSGSIZE)?;
    cursor[0] += 1;
    Ok(Some(!0))
}

/// The context of a dump request, checked: `None` without one, else the resource it names, if
/// any.
// Not inlined: its decoded attributes (about 1 KiB) stay off the handler's frame.
#[inline(never)]
fn dump_context<'a>(req: &Request<'a>) -> Result<Option<Option<&'a [u8]>>, i32> {
    let op = schema::op(req.cmd).ok_or(EINVAL)?;
    let top = TopLevel::parse(req.attrs).map_err(|e| refuse(op, e))?;
    let Some(ctx) = top.get(structs::CFG_CONTEXT.tla) else {
        return Ok(None);
    };
    let fields = Fields::parse(&structs::CFG_CONTEXT, ctx.payload).map_err(|e| refuse(op, e))?;
    Ok(Some(context_name(&fields)))
}

/// `drbd_adm_dump_devices`: every device in minor order, or those of the resource the request's
/// context names in volume order.
fn dump_devices(
    config: &Config,
    req: &Request<'_>,
    cursor: &mut DumpCursor,
    out: &mut NlaWriter<'_>,
) -> Result<DumpItem, i32> {
    // cursor: [the only resource + 1 or 0, next minor (or volume), started]
    let only = match dump_filter(config, req, cursor) {
        Ok(only) => only,
        // an unknown resource has no devices to list
        Err(e) => return e.map_or(Ok(None), Err),
    };
    let next = match only {
        Some(i) => config.resources.get(i).and_then(|r| {
            r.devices
                .iter()
                .find(|d| u64::from(d.volume) >= cursor[1])
                .map(|d| (r, d, d.volume))
        }),
        None => config
            .next_by_minor(cursor[1], |_, _| true)
            .map(|(r, d)| (r, d, d.minor)),
    };
    let Some((res, d, key)) = next else {
        return Ok(None);
    };
    put_context(out, &res.name, Some(d.volume), None)
        .and_then(|()| d.ldev.as_ref().map_or(Ok(()), |l| l.conf.put(out)))
        .and_then(|()| {
            let uuids = d.ldev.as_ref().map(|l| (l.sb.uuid, l.sb.flags));
            put_device_status(out, d.state.disk, d.size, uuids, dev_counters(d))
        })
        .map_err(|_| EMSGSIZE)?;
    cursor[1] = u64::from(key) + 1;
    Ok(Some(d.minor))
}

/// The resource a dump is limited to (`Some(index)`), from its context on the first call
/// (`cursor[2]` 0), kept in `cursor[0]` as index + 1; `Err(None)`: an unknown one, nothing to
/// list.
fn dump_filter(
    config: &Config,
    req: &Request<'_>,
    cursor: &mut DumpCursor,
) -> Result<Option<usize>, Option<i32>> {
    if cursor[2] == 0 {
        cursor[2] = 1;
        if let Some(Some(name)) = dump_context(req).map_err(Some)? {
            cursor[0] = config.find(name).ok_or(None)? as u64 + 1;
        }
    }
    Ok(usize::try_from(cursor[0])
        .ok()
        .and_then(|i| i.checked_sub(1)))
}

/// `drbd_adm_dump_connections`: each resource's connection, if `connect` configured one, with
/// its net options, state, the peer's role and whether it is congested (never, yet).
fn dump_connections(
    config: &Config,
    req: &Request<'_>,
    cursor: &mut DumpCursor,
    out: &mut NlaWriter<'_>,
) -> Result<DumpItem, i32> {
    // cursor: [the only resource + 1 or 0, next resource index, started]
    let only = match dump_filter(config, req, cursor) {
        Ok(only) => only,
        Err(e) => return e.map_or(Ok(None), Err),
    };
    let from = usize::try_from(cursor[1]).unwrap_or(usize::MAX);
    let next = config
        .resources
        .iter()
        .enumerate()
        .skip(from)
        .filter(|(i, _)| only.map_or(true, |o| o == *i))
        .find_map(|(i, r)| Some((i, r, r.conn.as_ref()?)));
    let Some((i, res, conn)) = next else {
        return Ok(None);
    };
    let peer = res
        .devices
        .iter()
        .map(|d| res.volume_state(d).peer)
        .max()
        .unwrap_or(Role::Unknown);
    put_context(out, &res.name, None, res.addrs())
        .and_then(|()| {
            if crate::sys::capable_sys_admin() {
                conn.net_conf.put_all(out)
            } else {
                conn.net_conf.put(out)
            }
        })
        .and_then(|()| {
            config::put_struct(out, &structs::CONNECTION_INFO, |name| match name {
                "conn_connection_state" => Some(Value::U32(res.conn_state() as u32)),
                _ => Some(Value::U32(peer as u32)),
            })
        })
        .and_then(|()| {
            config::put_struct(out, &structs::CONNECTION_STATISTICS, |_| {
                Some(Value::Flag(false))
            })
        })
        .map_err(|_| EMSGSIZE)?;
    cursor[1] = i as u64 + 1;
    Ok(Some(!0))
}

/// `drbd_adm_dump_peer_devices`: each volume of a resource with a configured connection (or of
/// the named resource), in minor order: its replication state, the peer's
/// disk, the resync pause flags, and the peer_device_statistics.
fn dump_peer_devices(
    config: &Config,
    req: &Request<'_>,
    cursor: &mut DumpCursor,
    out: &mut NlaWriter<'_>,
) -> Result<DumpItem, i32> {
    // cursor: [the only resource + 1 or 0, next minor, started]
    let only = match dump_filter(config, req, cursor) {
        Ok(only) => only,
        Err(e) => return e.map_or(Ok(None), Err),
    };
    let next = config.next_by_minor(cursor[1], |i, r| {
        only.map_or(true, |o| o == i) && r.conn.is_some()
    });
    let Some((res, d)) = next else {
        return Ok(None);
    };
    let s = res.volume_state(d);
    put_context(out, &res.name, Some(d.volume), res.addrs())
        .and_then(|()| {
            config::put_struct(out, &structs::PEER_DEVICE_INFO, |name| {
                let v = match name {
                    "peer_repl_state" => s.conn.max(ConnState::WfReportParams) as u32,
                    "peer_disk_state" => s.pdsk as u32,
                    "peer_resync_susp_user" => u32::from(s.user_isp),
                    "peer_resync_susp_peer" => u32::from(s.peer_isp),
                    _ => u32::from(s.aftr_isp),
                };
                Some(Value::U32(v))
            })
        })
        .and_then(|()| put_peer_device_statistics(out, d))
        .map_err(|_| EMSGSIZE)?;
    cursor[1] = u64::from(d.minor) + 1;
    Ok(Some(d.minor))
}

/// peer_device_to_statistics(): sectors sent and received, out of sync and failed in the last
/// resync, requests the peer owes an answer and writes whose ack we owe, the bitmap UUID and
/// the peer flags of the meta data (MDF_PEER_*).
fn put_peer_device_statistics(out: &mut NlaWriter<'_>, d: &Device) -> Result<(), nla::Overflow> {
    use crate::meta::layout::MDF_WAS_UP_TO_DATE;
    use crate::meta::layout::{MDF_CONNECTED_IND, MDF_CONSISTENT, MDF_FULL_SYNC};
    use crate::model::role::UI_BITMAP;
    let io = d.io_counters();
    let pending = d.io.link().map_or(0, |(l, volume)| l.pending(volume));
    let out_of_sync = d.counters().map_or(0, |c| c.bits_set) * 8;
    let failed = d.io.link().map_or(0, |(l, volume)| {
        let resyncs = l.resyncs.lock();
        resyncs
            .iter()
            .find(|r| r.volume == volume)
            .map_or(0, |r| r.failed)
    }) * 8;
    let (bitmap_uuid, flags) = d.ldev.as_ref().map_or((0, 0), |l| {
        let f = l.sb.flags;
        let has = |bit| f & bit != 0;
        let peer_flags = u32::from(has(MDF_CONNECTED_IND))
            | u32::from(has(MDF_CONSISTENT) && !has(MDF_WAS_UP_TO_DATE)) << 1
            | u32::from(has(MDF_FULL_SYNC)) << 3;
        (l.sb.uuid[UI_BITMAP], peer_flags)
    });
    config::put_struct(out, &structs::PEER_DEVICE_STATISTICS, |name| {
        Some(match name {
            "peer_dev_received" => Value::U64(u64::from(io.received_kib) * 2),
            "peer_dev_sent" => Value::U64(u64::from(io.sent_kib) * 2),
            "peer_dev_out_of_sync" => Value::U64(out_of_sync),
            "peer_dev_resync_failed" => Value::U64(failed),
            "peer_dev_pending" => Value::U32(pending),
            "peer_dev_unacked" => Value::U32(io.unacked),
            "peer_dev_bitmap_uuid" => Value::U64(bitmap_uuid),
            "peer_dev_flags" => Value::U32(flags),
            _ => Value::U32(0),
        })
    })
}

/// device_to_statistics(): the device's I/O counters.
fn dev_counters(d: &Device) -> config::DevCounters {
    let io = d.io_counters();
    let disk = d.counters();
    config::DevCounters {
        read: u64::from(io.read_kib) * 2,
        write: u64::from(io.write_kib) * 2,
        al_writes: disk.as_ref().map_or(0, |c| u64::from(c.al_writes)),
        upper_pending: io.upper,
        lower_pending: io.local,
        al_suspended: disk.as_ref().is_some_and(|c| c.al_suspended),
    }
}

/// `drbd_adm_get_status_all`: one message per volume, or per resource without volumes; all
/// resources, or the one the request's context names.
fn dump_status(
    config: &Config,
    req: &Request<'_>,
    cursor: &mut DumpCursor,
    out: &mut NlaWriter<'_>,
) -> Result<DumpItem, i32> {
    // cursor: [resource + 1, next volume number, the only resource + 1 or 0]
    if cursor[0] == 0 {
        cursor[0] = 1;
        if let Some(name) = dump_context(req)? {
            let index = config.find(name.ok_or(EINVAL)?).ok_or(ENODEV)?;
            cursor[0] = index as u64 + 1;
            cursor[2] = cursor[0];
        }
    }
    loop {
        if cursor[2] != 0 && cursor[2] != cursor[0] {
            return Ok(None);
        }
        let Some(res) = usize::try_from(cursor[0] - 1)
            .ok()
            .and_then(|i| config.resources.get(i))
        else {
            return Ok(None);
        };
        let next = res
            .devices
            .iter()
            .find(|d| u64::from(d.volume) >= cursor[1]);
        match next {
            Some(d) => {
                put_status(out, res, d).map_err(|_| EMSGSIZE)?;
                cursor[1] = u64::from(d.volume) + 1;
                return Ok(Some(d.minor));
            }
            // A resource without volumes: one message about the resource.
            None if cursor[1] == 0 => {
                put_context(out, &res.name, None, res.addrs()).map_err(|_| EMSGSIZE)?;
                cursor[0] += 1;
                return Ok(Some(!0));
            }
            None => {
                cursor[0] += 1;
                cursor[1] = 0;
            }
        }
    }
}

/// drbd_resync_after_valid() for the `resync-after` an attach or disk-options request asks
/// for: ERR_RESYNC_AFTER out of range, ERR_RESYNC_AFTER_CYCLE for a loop. (A malformed
/// request is the command's to refuse.) Not inlined, as [`flag`].
#[inline(never)]
fn check_resync_after(
    config: &Config,
    minor: u32,
    top: &TopLevel<'_>,
) -> Result<(), (RetCode, &'static str)> {
    let Some(nest) = top.get(structs::DISK_CONF.tla) else {
        return Ok(());
    };
    let Ok(fields) = Fields::parse(&structs::DISK_CONF, nest.payload) else {
        return Ok(());
    };
    let Some(Value::S32(after)) = fields.get("resync_after") else {
        return Ok(());
    };
    match config.resync_after_valid(minor, i64::from(after)) {
        crate::model::after::Valid::Ok => Ok(()),
        crate::model::after::Valid::OutOfRange => Err((RetCode::ResyncAfter, "")),
        crate::model::after::Valid::Cycle => Err((RetCode::ResyncAfterCycle, "")),
    }
}

/// `verify`'s start_ov_parms: where to start (`None`: where the last verify got to) and stop
/// (sectors; the end of the device if not given). Not inlined, as [`flag`].
#[inline(never)]
fn verify_range(top: &TopLevel<'_>) -> Result<(Option<u64>, u64), (RetCode, &'static str)> {
    let Some(nest) = top.get(structs::START_OV_PARMS.tla) else {
        return Ok((None, u64::MAX));
    };
    let fields = Fields::parse(&structs::START_OV_PARMS, nest.payload)
        .map_err(|_| (RetCode::MandatoryTag, "invalid attribute value"))?;
    let sector = |name| match fields.get(name) {
        Some(Value::U64(v)) => Some(v),
        _ => None,
    };
    Ok((
        sector("ov_start_sector"),
        sector("ov_stop_sector").unwrap_or(u64::MAX),
    ))
}

/// A flag of an optional parameter struct (`set_role_parms_from_attrs()` and the like): false
/// when the struct is absent. Not inlined: the decoded fields stay off the handler's frame.
#[inline(never)]
pub(crate) fn flag(
    top: &TopLevel<'_>,
    def: &'static StructDef,
    name: &str,
) -> Result<bool, (RetCode, &'static str)> {
    let Some(nest) = top.get(def.tla) else {
        return Ok(false);
    };
    let fields = Fields::parse(def, nest.payload)
        .map_err(|_| (RetCode::MandatoryTag, "invalid attribute value"))?;
    Ok(matches!(fields.get(name), Some(Value::Flag(true))))
}
