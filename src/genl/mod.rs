// SPDX-License-Identifier: GPL-2.0
//! The `drbd` generic netlink family: the 8.4 admin ABI that drbdsetup-84 speaks.
//!
//! C counterpart: drbd_nl.c. The pure parts (schema, attribute coding, result codes) are
//! compiled by the host tests too.

pub(crate) mod nla;
pub(crate) mod retcode;
pub(crate) mod schema;

use crate::sys::genl::{Handler, Request};
use kernel::prelude::*;
use nla::NlaWriter;
use retcode::RetCode;
use schema::{Needs, Tla, T_INFO_TEXT};

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

impl Handler for Admin {
    fn doit(req: &Request, reply: &mut NlaWriter<'_>) -> RetCode {
        // genl core only calls us for registered commands, all of which are in the table.
        let Some(op) = schema::op(req.cmd) else {
            return RetCode::InvalidRequest;
        };
        // No minor can exist before new-minor is implemented, so a command on a minor gets the
        // C module's answer for a minor that does not exist.
        if op.needs == Needs::Minor {
            put_info(reply, "unknown minor");
            return RetCode::MinorInvalid;
        }
        pr_info!("{}: not implemented yet\n", op.name);
        put_info(reply, "not implemented yet by drbd-rs");
        RetCode::InvalidRequest
    }
}
