// SPDX-License-Identifier: GPL-2.0
//! The `drbd` generic netlink family: the 8.4 admin ABI that drbdsetup-84 speaks.
//!
//! C counterpart: drbd_nl.c. The pure parts (schema, attribute coding, result codes) are
//! compiled by the host tests too.

pub(crate) mod nla;
pub(crate) mod retcode;
pub(crate) mod schema;
pub(crate) mod structs;

use crate::sys::genl::{Handler, Request};
use crate::sys::print::ratelimit;
use kernel::prelude::*;
use nla::{Fields, NlaWriter, ParseError, TopLevel, Value};
use retcode::RetCode;
use schema::{Needs, Op, Tla, T_INFO_TEXT};

/// Serves the family's commands.
pub(crate) struct Admin;

/// Adds the text drbdsetup prints as "additional info from kernel", as `drbd_msg_put_info`.
fn put_info(reply: &mut NlaWriter<'_>, text: &str) {
    // A reply buffer too small for a short text is a bug of ours, not of the caller; the result
    // code alone still tells userspace what happened.
    if reply
        .nest(Tla::CfgReply as u16, |w| w.put_str(T_INFO_TEXT, text))
        .is_err()
    {
        pr_warn!("netlink reply too small for its info text\n");
    }
}

/// Reads the request's context (`DRBD_NLA_CFG_CONTEXT`) and copies it into the reply, as
/// `drbd_adm_prepare` does. Returns whether it names a resource.
fn prepare(op: &Op, attrs: &[u8], reply: &mut NlaWriter<'_>) -> Result<bool, ParseError> {
    let top = TopLevel::parse(attrs)?;
    let Some(ctx) = top.get(Tla::CfgContext as u16) else {
        return Ok(false);
    };
    let fields = Fields::parse(&structs::CFG_CONTEXT, ctx.payload)?;
    fields.require()?;
    if reply.put_raw(ctx.raw).is_err() {
        pr_warn!("{}: netlink reply too small for the context\n", op.name);
    }
    Ok(matches!(
        fields.get("ctx_resource_name"),
        Some(Value::Str(_))
    ))
}

impl Handler for Admin {
    fn doit(req: &Request<'_>, reply: &mut NlaWriter<'_>) -> Result<RetCode, i32> {
        // genl core only calls us for registered commands, all of which are in the table.
        let Some(op) = schema::op(req.cmd) else {
            return Ok(RetCode::InvalidRequest);
        };
        let named_resource = prepare(op, req.attrs, reply).map_err(|e| {
            if ratelimit() {
                pr_info!("{}: refused attributes: {:?}\n", op.name, e);
            }
            e.errno()
        })?;
        // No resource, minor or connection exists before new-resource is implemented, so
        // commands addressing one get the C module's answer for one that does not exist.
        let (ret, text) = match op.needs {
            Needs::Minor => (RetCode::MinorInvalid, "unknown minor"),
            Needs::Resource if named_resource => (RetCode::ResNotKnown, "unknown resource"),
            Needs::Resource => (RetCode::InvalidRequest, "unknown resource"),
            Needs::Connection => (RetCode::InvalidRequest, "unknown connection"),
            Needs::Nothing => {
                if ratelimit() {
                    pr_info!("{}: not implemented yet\n", op.name);
                }
                (RetCode::InvalidRequest, "not implemented yet by drbd-rs")
            }
        };
        put_info(reply, text);
        Ok(ret)
    }
}
