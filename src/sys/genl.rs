// SPDX-License-Identifier: GPL-2.0
//! A generic netlink family whose requests a safe [`Handler`] serves.
//!
//! C counterpart: the genl_family set-up of genl_magic_func.h and the reply plumbing of
//! drbd_nl.c (`drbd_adm_prepare`, `drbd_adm_finish`).

use super::bindings;
use crate::genl::nla::NlaWriter;
use crate::genl::retcode::RetCode;
use crate::genl::schema::{self, OpKind, OPS, USER_HDR_LEN};
use core::marker::PhantomData;
use kernel::error::{code::*, to_result, Result};
use kernel::ffi::{c_char, c_int};
use kernel::prelude::*;
use kernel::types::Opaque;

/// `NLMSG_HDRLEN` and `GENL_HDRLEN`: what precedes the user header in a request.
const NLMSG_HDRLEN: usize = 16;
const GENL_HDRLEN: usize = 4;

/// One request, as far as genl core has checked it: the headers are complete. The family has
/// `maxattr == 0`, so genl core leaves the attributes alone and the handler parses them.
pub(crate) struct Request<'a> {
    pub(crate) cmd: u8,
    pub(crate) minor: u32,
    /// The attribute stream after the user header, unchecked.
    pub(crate) attrs: &'a [u8],
}

/// Serves the family's requests.
pub(crate) trait Handler {
    /// Answers a request with a DRBD result code, and attributes written to `reply` after the
    /// reply's user header; or refuses it with a negative errno, which genl core sends back as
    /// a netlink error instead of a reply.
    fn doit(req: &Request<'_>, reply: &mut NlaWriter<'_>) -> Result<RetCode, i32>;
}

/// The structures genl core keeps pointers to while the family is registered.
struct Tables {
    family: bindings::genl_family,
    ops: [bindings::genl_ops; OPS.len()],
    mcgrps: [bindings::genl_multicast_group; 1],
}

/// A registered generic netlink family.
///
/// # Invariants
///
/// `tables.family` is registered with genl core, and its pointers refer into `tables`, which is
/// heap-allocated and therefore does not move.
pub(crate) struct Family<H: Handler> {
    tables: KBox<Opaque<Tables>>,
    _handler: PhantomData<H>,
}

// SAFETY: after registration genl core owns the tables' mutable parts; Rust only passes their
// address to genl_unregister_family, which may be called from any thread.
unsafe impl<H: Handler> Send for Family<H> {}
// SAFETY: a shared `Family` offers no methods.
unsafe impl<H: Handler> Sync for Family<H> {}

fn copy_name(dst: &mut [c_char], name: &str) {
    // Leaves at least one NUL; names are compile-time constants that fit.
    let room = dst.len().saturating_sub(1);
    for (d, s) in dst.iter_mut().take(room).zip(name.bytes()) {
        *d = s;
    }
}

fn emsgsize() -> Error {
    Error::from_errno(-(kernel::bindings::EMSGSIZE as i32))
}

impl<H: Handler> Family<H> {
    /// Registers the `drbd` family with the commands of [`OPS`] and the `events` group.
    pub(crate) fn register() -> Result<Self> {
        let mut t = Tables {
            family: Default::default(),
            ops: [Default::default(); OPS.len()],
            mcgrps: [Default::default()],
        };
        for (slot, op) in t.ops.iter_mut().zip(OPS.iter()) {
            slot.cmd = op.cmd;
            match op.kind {
                OpKind::Admin => {
                    slot.doit = Some(doit::<H>);
                    slot.flags = bindings::GENL_ADMIN_PERM as u8;
                }
                OpKind::StatusDoitDump => {
                    slot.doit = Some(doit::<H>);
                    slot.dumpit = Some(dumpit);
                }
                OpKind::Dump => slot.dumpit = Some(dumpit),
            }
        }
        copy_name(&mut t.mcgrps[0].name, schema::MCGRP_EVENTS);
        copy_name(&mut t.family.name, schema::FAMILY_NAME);
        t.family.version = crate::model::version::GENL_VERSION;
        t.family.hdrsize = USER_HDR_LEN as u32;
        t.family.resv_start_op = schema::RESV_START_OP;
        t.family.n_ops = OPS.len() as u8;
        t.family.n_mcgrps = 1;
        t.family.module = super::module::this_module();

        let tables = KBox::new(Opaque::new(t), GFP_KERNEL)?;
        let raw = tables.get();
        // SAFETY: `raw` points to initialised tables on the heap, which do not move while the
        // box lives. The box is kept in `Self` until after genl_unregister_family in `drop`.
        let ret = unsafe {
            (*raw).family.ops = (*raw).ops.as_ptr();
            (*raw).family.mcgrps = (*raw).mcgrps.as_ptr();
            bindings::genl_register_family(&mut (*raw).family)
        };
        to_result(ret)?;
        // INVARIANT: registered just above, with pointers into `tables`.
        Ok(Self {
            tables,
            _handler: PhantomData,
        })
    }
}

impl<H: Handler> Drop for Family<H> {
    fn drop(&mut self) {
        // SAFETY: by the type invariant the family is registered; unregistering waits for
        // running callbacks, so the tables are unused once it returns and may be freed.
        unsafe { bindings::genl_unregister_family(&(*self.tables.get()).family) };
    }
}

/// Reads the request out of `info`.
///
/// # Safety
///
/// `info` is the valid genl_info of a request of a family with `hdrsize == USER_HDR_LEN`, which
/// genl core has checked to hold at least the genl and user headers.
unsafe fn request(info: &bindings::genl_info) -> Request<'_> {
    let attrs_at = NLMSG_HDRLEN + GENL_HDRLEN + USER_HDR_LEN;
    // SAFETY: genl core sets both headers for every request it passes to doit, and checked that
    // the message of `nlmsg_len` bytes holds the user header after the genl header
    // (genl_family_rcv_msg), so `attrs_at <= nlmsg_len`. The user header may be unaligned, hence
    // read_unaligned. The message outlives the call, which the borrow of `info` bounds.
    unsafe {
        let base: *const u8 = info.nlhdr.cast();
        let len = ((*info.nlhdr).nlmsg_len as usize).max(attrs_at);
        let minor: *const u32 = base.add(NLMSG_HDRLEN + GENL_HDRLEN).cast();
        Request {
            cmd: (*info.genlhdr).cmd,
            minor: minor.read_unaligned(),
            attrs: core::slice::from_raw_parts(base.add(attrs_at), len - attrs_at),
        }
    }
}

/// Sends the reply to `info`'s request: the user header (`minor`, `ret_code`) and `attrs`.
///
/// # Safety
///
/// `info` is the valid genl_info of the request being served.
unsafe fn send_reply(info: &bindings::genl_info, minor: u32, ret: RetCode, attrs: &[u8]) -> Result {
    // SAFETY: no preconditions.
    let skb = unsafe { bindings::drbd_rs_genlmsg_new(USER_HDR_LEN + attrs.len()) };
    if skb.is_null() {
        return Err(ENOMEM);
    }
    // SAFETY: `skb` is a fresh message sized for the headers and `attrs`; `info` is valid, so
    // are its family and header pointers. genlmsg_put reserves `hdrsize` bytes after the genl
    // header and returns their address; skb_put returns `attrs.len()` bytes of tailroom.
    unsafe {
        let hdr = bindings::genlmsg_put(
            skb,
            info.snd_portid,
            info.snd_seq,
            info.family,
            0,
            (*info.genlhdr).cmd,
        );
        if hdr.is_null() {
            bindings::drbd_rs_nlmsg_free(skb);
            return Err(emsgsize());
        }
        let uh: *mut u32 = hdr.cast();
        uh.write_unaligned(minor);
        uh.add(1).write_unaligned(ret.code() as u32);
        if !attrs.is_empty() {
            let len = u32::try_from(attrs.len()).map_err(|_| emsgsize())?;
            let dst: *mut u8 = bindings::skb_put(skb, len).cast();
            core::ptr::copy_nonoverlapping(attrs.as_ptr(), dst, attrs.len());
        }
        bindings::drbd_rs_genlmsg_end(skb, hdr);
        // Consumes `skb` whatever the result.
        to_result(bindings::drbd_rs_genlmsg_reply(
            skb,
            info as *const _ as *mut _,
        ))
    }
}

/// Room for a reply's attributes. Replies of the commands implemented so far are small; a
/// handler that needs more is told so by `NlaWriter` (Overflow), never by a truncated reply.
const REPLY_ROOM: usize = 4096;

/// # Safety
///
/// Called by genl core for a registered `Family<H>` with a valid request.
unsafe extern "C" fn doit<H: Handler>(
    _skb: *mut bindings::sk_buff,
    info: *mut bindings::genl_info,
) -> c_int {
    // SAFETY: genl core passes a valid genl_info for the duration of the call.
    let info = unsafe { &*info };
    // SAFETY: `info` is a request of our family, whose hdrsize is USER_HDR_LEN.
    let req = unsafe { request(info) };
    let mut buf = match KVec::from_elem(0u8, REPLY_ROOM, GFP_KERNEL) {
        Ok(buf) => buf,
        Err(_) => return ENOMEM.to_errno(),
    };
    let mut reply = NlaWriter::new(&mut buf);
    let ret = match H::doit(&req, &mut reply) {
        Ok(ret) => ret,
        Err(errno) => return errno,
    };
    // SAFETY: `info` is the request being served.
    match unsafe { send_reply(info, req.minor, ret, reply.as_bytes()) } {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// Dumps list resources, devices and connections. None exist until new-resource and new-minor are
/// implemented, so every dump ends at once: the answer the C module gives on an unconfigured
/// node.
///
/// # Safety
///
/// Called by genl core; ignores its arguments.
unsafe extern "C" fn dumpit(
    _skb: *mut bindings::sk_buff,
    _cb: *mut bindings::netlink_callback,
) -> c_int {
    0
}
