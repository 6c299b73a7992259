// SPDX-License-Identifier: GPL-2.0
//! The `drbd` generic netlink family: the 8.4 admin ABI that drbdsetup-84 speaks.
//!
//! C counterpart: drbd_nl.c. The pure parts (schema, attribute coding, configuration structs,
//! result codes) are compiled by the host tests too.

pub(crate) mod config;
pub(crate) mod nla;
pub(crate) mod retcode;
pub(crate) mod schema;
pub(crate) mod structs;

use crate::resource::{Config, Drbd, Resource};
use crate::sys::genl::{DumpCursor, DumpItem, Handler, Request};
use crate::sys::print::ratelimit;
use config::{
    check_name, context_name, put_context, put_resource_status, BadName, ResOpts, Role,
    WriteOrdering,
};
use kernel::prelude::*;
use nla::{Fields, NlaWriter, ParseError, TopLevel};
use retcode::RetCode;
use schema::{Needs, Op, T_INFO_TEXT};

/// Serves the family's commands.
pub(crate) struct Admin;

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
struct Prepared<'a> {
    top: TopLevel<'a>,
    /// The resource the context names, if it does.
    name: Option<&'a [u8]>,
}

/// Checks a request's attributes, decodes its context (`DRBD_NLA_CFG_CONTEXT`) and copies the
/// context into the reply, as `drbd_adm_prepare` does.
fn prepare<'a>(
    op: &Op,
    attrs: &'a [u8],
    reply: &mut NlaWriter<'_>,
) -> Result<Prepared<'a>, ParseError> {
    let top = TopLevel::parse(attrs)?;
    let Some(ctx) = top.get(structs::CFG_CONTEXT.tla) else {
        return Ok(Prepared { top, name: None });
    };
    let fields = Fields::parse(&structs::CFG_CONTEXT, ctx.payload)?;
    fields.require()?;
    if reply.put_raw(ctx.raw).is_err() {
        pr_warn!("{}: netlink reply too small for the context\n", op.name);
    }
    let name = context_name(&fields);
    Ok(Prepared { top, name })
}

/// The options a request carries for a resource, on top of `base`.
fn res_opts(p: &Prepared<'_>, base: ResOpts) -> Result<ResOpts, ParseError> {
    match p.top.get(structs::RESOURCE_OPTS.tla) {
        Some(nla) => base.updated(&Fields::parse(&structs::RESOURCE_OPTS, nla.payload)?),
        None => Ok(base),
    }
}

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
        if req.flags & kernel::bindings::NLM_F_EXCL as u16 != 0 {
            return (RetCode::InvalidRequest, "resource exists");
        }
        return (RetCode::NoError, "");
    }
    match config.resources.push(Resource { name, opts }, GFP_KERNEL) {
        Ok(()) => (RetCode::NoError, ""),
        Err(_) => (RetCode::NoMem, ""),
    }
}

/// `adm_del_resource`: only a resource without volumes and connections can go, and none has
/// any yet.
fn del_resource(config: &mut Config, index: usize) -> (RetCode, &'static str) {
    match config.remove(index) {
        Ok(()) => (RetCode::NoError, ""),
        Err(_) => (RetCode::NoMem, ""),
    }
}

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

    fn doit(ctx: &Drbd, req: &Request<'_>, reply: &mut NlaWriter<'_>) -> Result<RetCode, i32> {
        // genl core only calls us for registered commands, all of which are in the table.
        let Some(op) = schema::op(req.cmd) else {
            return Ok(RetCode::InvalidRequest);
        };
        let p = prepare(op, req.attrs, reply).map_err(|e| refuse(op, e))?;
        let mut config = ctx.config.lock();
        let resource = p.name.and_then(|n| config.find(n));
        // The checks of drbd_adm_prepare, in its order. No minor or connection exists yet.
        let (ret, text) = match op.needs {
            Needs::Minor => (RetCode::MinorInvalid, "unknown minor"),
            Needs::Resource if resource.is_none() => match p.name {
                Some(_) => (RetCode::ResNotKnown, "unknown resource"),
                None => (RetCode::InvalidRequest, "unknown resource"),
            },
            Needs::Connection if resource.is_some() => {
                (RetCode::InvalidRequest, "no resource name expected")
            }
            Needs::Connection => (RetCode::InvalidRequest, "unknown connection"),
            Needs::Resource | Needs::Nothing => match (op.cmd, resource) {
                (schema::NEW_RESOURCE, _) => new_resource(&mut config, req, &p),
                // With no volumes and connections, down is del-resource.
                (schema::DEL_RESOURCE | schema::DOWN, Some(i)) => del_resource(&mut config, i),
                (schema::RESOURCE_OPTS, Some(i)) => resource_options(&mut config, i, req, &p),
                _ => {
                    if ratelimit() {
                        pr_info!("{}: not implemented yet\n", op.name);
                    }
                    (RetCode::InvalidRequest, "not implemented yet by drbd-rs")
                }
            },
        };
        if !text.is_empty() {
            put_info(reply, text);
        }
        Ok(ret)
    }

    /// `get-status` and `get-resources` dumps. The dumps of devices, connections and peer
    /// devices come back empty, which is right while none can exist; `get-initial-state` (for
    /// `events2`) is not implemented yet and comes back empty too.
    fn dump(
        ctx: &Drbd,
        req: &Request<'_>,
        cursor: &mut DumpCursor,
        out: &mut NlaWriter<'_>,
    ) -> Result<DumpItem, i32> {
        let config = ctx.config.lock();
        match req.cmd {
            schema::GET_STATUS => dump_status(&config, req, cursor, out),
            schema::GET_RESOURCES => dump_resources(&config, cursor, out),
            _ => Ok(None),
        }
    }
}

/// `drbd_adm_dump_resources`: each resource with its options, role and statistics.
fn dump_resources(
    config: &Config,
    cursor: &mut DumpCursor,
    out: &mut NlaWriter<'_>,
) -> Result<DumpItem, i32> {
    const EMSGSIZE: i32 = -90;
    let Some(r) = usize::try_from(cursor[0])
        .ok()
        .and_then(|i| config.resources.get(i))
    else {
        return Ok(None);
    };
    put_context(out, &r.name, None)
        .and_then(|()| r.opts.put(out))
        // No volume exists yet: the highest role is Secondary, as conn_highest_role() starts.
        .and_then(|()| put_resource_status(out, Role::Secondary, WriteOrdering::BdevFlush))
        .map_err(|_| EMSGSIZE)?;
    cursor[0] += 1;
    Ok(Some(!0))
}

/// `drbd_adm_get_status_all`: one message per volume, or per resource without volumes; all
/// resources, or the one the request's context names.
fn dump_status(
    config: &Config,
    req: &Request<'_>,
    cursor: &mut DumpCursor,
    out: &mut NlaWriter<'_>,
) -> Result<DumpItem, i32> {
    const ENODEV: i32 = -19;
    const EINVAL: i32 = -22;
    // cursor: [next resource + 1, volume, filtered resource + 1 or 0]
    if cursor[0] == 0 {
        let op = schema::op(req.cmd).ok_or(EINVAL)?;
        let top = TopLevel::parse(req.attrs).map_err(|e| refuse(op, e))?;
        cursor[0] = 1;
        if let Some(ctx) = top.get(structs::CFG_CONTEXT.tla) {
            let fields =
                Fields::parse(&structs::CFG_CONTEXT, ctx.payload).map_err(|e| refuse(op, e))?;
            let name = context_name(&fields).ok_or(EINVAL)?;
            let index = config.find(name).ok_or(ENODEV)?;
            cursor[0] = index as u64 + 1;
            cursor[2] = cursor[0];
        }
    }
    if cursor[2] != 0 && cursor[2] != cursor[0] {
        return Ok(None);
    }
    let Some(resource) = usize::try_from(cursor[0] - 1)
        .ok()
        .and_then(|i| config.resources.get(i))
    else {
        return Ok(None);
    };
    put_context(out, &resource.name, None).map_err(|_| EINVAL)?;
    cursor[0] += 1;
    Ok(Some(!0))
}
