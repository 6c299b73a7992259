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
use core::sync::atomic::{AtomicPtr, Ordering};
use kernel::error::{code::*, to_result, Result};
use kernel::ffi::{c_char, c_int};
use kernel::prelude::*;
use kernel::sync::Arc;
use kernel::types::Opaque;

/// `NLMSG_HDRLEN` and `GENL_HDRLEN`: what precedes the user header in a request.
const NLMSG_HDRLEN: usize = 16;
const GENL_HDRLEN: usize = 4;

/// One request, as far as genl core has checked it: the headers are complete. The family has
/// `maxattr == 0`, so genl core leaves the attributes alone and the handler parses them.
pub(crate) struct Request<'a> {
    pub(crate) cmd: u8,
    /// `nlmsg_flags` (`NLM_F_EXCL` and the like).
    flags: u16,
    pub(crate) minor: u32,
    /// `drbd_genlmsghdr.flags` (`DRBD_GENL_F_SET_DEFAULTS`).
    pub(crate) user_flags: u32,
    /// The attribute stream after the user header, unchecked.
    pub(crate) attrs: &'a [u8],
}

impl Request<'_> {
    /// `NLM_F_EXCL`: create only, fail if it exists.
    pub(crate) fn exclusive(&self) -> bool {
        self.flags & bindings::NLM_F_EXCL as u16 != 0
    }
}

/// Where a dump continues: kept by genl core between the calls of one dump.
pub(crate) type DumpCursor = [u64; 3];

/// One item of a dump: the minor it is about (`!0` for none) and whether it was written.
pub(crate) type DumpItem = Option<u32>;

/// Serves the family's requests.
pub(crate) trait Handler {
    /// The driver state the handlers work on.
    type Ctx: Send + Sync;

    /// Answers a request with a DRBD result code, and attributes written to `reply` after the
    /// reply's user header; or refuses it with a negative errno, which genl core sends back as
    /// a netlink error instead of a reply.
    fn doit(
        ctx: &Arc<Self::Ctx>,
        req: &Request<'_>,
        reply: &mut NlaWriter<'_>,
        events: &mut Events,
    ) -> Result<RetCode, i32>;

    /// Writes the attributes of the dump item at `cursor` to `out` and advances `cursor`;
    /// returns the item's minor, or `None` at the end of the dump. `cursor` starts zeroed.
    fn dump(
        ctx: &Arc<Self::Ctx>,
        req: &Request<'_>,
        cursor: &mut DumpCursor,
        out: &mut NlaWriter<'_>,
    ) -> Result<DumpItem, i32>;
}

/// `DRBD_EVENT`, the family's notification (drbd_genl.h).
const DRBD_EVENT: u8 = 1;

/// A notification for the `events` group: one minor's attributes, with its sequence number.
pub(crate) struct Event {
    pub(crate) seq: u32,
    pub(crate) minor: u32,
    pub(crate) attrs: KVec<u8>,
}

/// The notifications a request caused, multicast after its reply.
pub(crate) struct Events {
    list: KVec<Event>,
}

/// The registered family, for events outside a request (the connections' threads).
static EVENTS_FAMILY: AtomicPtr<bindings::genl_family> = AtomicPtr::new(core::ptr::null_mut());

/// Multicasts `events` outside a request, while the family is registered (the connections'
/// threads, which stop before the module unregisters it).
pub(crate) fn broadcast(events: Events) {
    let family = EVENTS_FAMILY.load(Ordering::Acquire);
    if family.is_null() {
        return;
    }
    for event in events.list.iter() {
        // SAFETY: the pointer is set while the family is registered (see Family::register
        // and drop), and its hdrsize is USER_HDR_LEN.
        unsafe { multicast(family, event) };
    }
}

impl Events {
    pub(crate) fn new() -> Self {
        Self { list: KVec::new() }
    }

    /// Adds a notification; one that cannot be kept is logged and dropped, as C logs a failed
    /// broadcast.
    pub(crate) fn push(&mut self, event: Event) {
        if self.list.push(event, GFP_KERNEL).is_err() {
            pr_err!("drbd: out of memory for a state change event\n");
        }
    }
}

/// Multicasts `event` to the `events` group (drbd_bcast_event()). Nobody listening is fine.
///
/// # Safety
///
/// `family` is a registered family with `hdrsize == USER_HDR_LEN`.
unsafe fn multicast(family: *const bindings::genl_family, event: &Event) {
    // SAFETY: no preconditions.
    let skb = unsafe { bindings::drbd_rs_genlmsg_new(USER_HDR_LEN + event.attrs.len()) };
    if skb.is_null() {
        pr_err!(
            "drbd: out of memory while broadcasting event {}\n",
            event.seq
        );
        return;
    }
    let to = (0, event.seq, 0);
    // SAFETY: `skb` is a fresh message sized for the headers and the attributes; the family is
    // registered (the function's contract).
    let err = unsafe {
        match put_message(
            skb,
            family,
            to,
            DRBD_EVENT,
            event.minor,
            RetCode::NoError,
            &event.attrs,
        ) {
            // consumes `skb`
            Ok(()) => bindings::drbd_rs_genlmsg_multicast_events(family, skb),
            Err(e) => {
                bindings::drbd_rs_nlmsg_free(skb);
                e.to_errno()
            }
        }
    };
    if err != 0 && err != -(kernel::bindings::ESRCH as c_int) {
        pr_err!(
            "drbd: Error {} while broadcasting event. Event seq:{}\n",
            err,
            event.seq
        );
    }
}

/// The structures genl core keeps pointers to while the family is registered, and the state
/// the handlers serve. `family` comes first: callbacks find the tables from the family pointer
/// genl core hands them.
#[repr(C)]
struct Tables<C> {
    family: bindings::genl_family,
    ops: [bindings::genl_ops; OPS.len()],
    mcgrps: [bindings::genl_multicast_group; 1],
    ctx: Arc<C>,
}

/// A registered generic netlink family.
///
/// # Invariants
///
/// `tables.family` is registered with genl core, and its pointers refer into `tables`, which is
/// heap-allocated and therefore does not move.
pub(crate) struct Family<H: Handler> {
    tables: KBox<Opaque<Tables<H::Ctx>>>,
    _handler: PhantomData<H>,
}

/// The handlers' state, from the family pointer of a callback.
///
/// # Safety
///
/// `family` is the registered family of a live `Family<H>`.
unsafe fn ctx_of<'a, H: Handler>(family: *const bindings::genl_family) -> &'a Arc<H::Ctx> {
    // SAFETY: `Tables` is `repr(C)` with `family` first, so the family's address is the tables'
    // address; they live until the family is unregistered, which waits for all callbacks.
    unsafe { &(*family.cast::<Tables<H::Ctx>>()).ctx }
}

// SAFETY: after registration genl core owns the tables' mutable parts; Rust only passes their
// address to genl_unregister_family, which may be called from any thread. The context is
// `Send + Sync`.
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
    /// Registers the `drbd` family with the commands of [`OPS`] and the `events` group; its
    /// handlers serve `ctx`.
    pub(crate) fn register(ctx: Arc<H::Ctx>) -> Result<Self> {
        let mut t = Tables {
            family: Default::default(),
            ops: [Default::default(); OPS.len()],
            mcgrps: [Default::default()],
            ctx,
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
                    slot.dumpit = Some(dumpit::<H>);
                }
                OpKind::Dump => slot.dumpit = Some(dumpit::<H>),
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
        if let Err(e) = to_result(ret) {
            // SAFETY: not registered: nothing else refers to the tables. `Opaque` does not drop
            // its contents, so the context reference is released here.
            unsafe { core::ptr::drop_in_place(&mut (*raw).ctx) };
            return Err(e);
        }
        // SAFETY: `raw` points to the registered tables; only the family's address is taken.
        EVENTS_FAMILY.store(
            unsafe { core::ptr::addr_of_mut!((*raw).family) },
            Ordering::Release,
        );
        // INVARIANT: registered just above, with pointers into `tables`.
        Ok(Self {
            tables,
            _handler: PhantomData,
        })
    }
}

impl<H: Handler> Drop for Family<H> {
    fn drop(&mut self) {
        EVENTS_FAMILY.store(core::ptr::null_mut(), Ordering::Release);
        let raw = self.tables.get();
        // SAFETY: by the type invariant the family is registered; unregistering waits for
        // running callbacks, so the tables are unused once it returns. `Opaque` does not drop its
        // contents: the context reference is released here, once.
        unsafe {
            bindings::genl_unregister_family(&(*raw).family);
            core::ptr::drop_in_place(&mut (*raw).ctx);
        }
    }
}

/// Reads a request out of its netlink message.
///
/// # Safety
///
/// `nlh` is a request of a family with `hdrsize == USER_HDR_LEN` that genl core has checked to
/// hold at least the genl and user headers (genl_family_rcv_msg), valid for `'a`.
unsafe fn request<'a>(nlh: *const bindings::nlmsghdr) -> Request<'a> {
    let attrs_at = NLMSG_HDRLEN + GENL_HDRLEN + USER_HDR_LEN;
    // SAFETY: by the function's contract the message is `nlmsg_len >= attrs_at` bytes, with the
    // genl header after the netlink header and the user header after that; the user header may
    // be unaligned, hence read_unaligned.
    unsafe {
        let base: *const u8 = nlh.cast();
        let len = ((*nlh).nlmsg_len as usize).max(attrs_at);
        let minor: *const u32 = base.add(NLMSG_HDRLEN + GENL_HDRLEN).cast();
        Request {
            cmd: *base.add(NLMSG_HDRLEN),
            flags: (*nlh).nlmsg_flags,
            minor: minor.read_unaligned(),
            user_flags: minor.add(1).read_unaligned(),
            attrs: core::slice::from_raw_parts(base.add(attrs_at), len - attrs_at),
        }
    }
}

/// Appends one message of the family to `skb`: the genl and user headers (`minor`,
/// `ret_code`) and `attrs`.
///
/// # Safety
///
/// `skb` is a valid message buffer with room for the headers and `attrs`, and `family` a
/// registered family with `hdrsize == USER_HDR_LEN`.
#[allow(clippy::too_many_arguments)]
unsafe fn put_message(
    skb: *mut bindings::sk_buff,
    family: *const bindings::genl_family,
    (portid, seq, flags): (u32, u32, c_int),
    cmd: u8,
    minor: u32,
    ret: RetCode,
    attrs: &[u8],
) -> Result {
    let len = u32::try_from(attrs.len()).map_err(|_| emsgsize())?;
    // SAFETY: by the function's contract; genlmsg_put reserves `hdrsize` bytes after the genl
    // header and returns their address (or NULL without room); skb_put returns `len` bytes of
    // the tailroom the caller guaranteed.
    unsafe {
        let hdr = bindings::genlmsg_put(skb, portid, seq, family, flags, cmd);
        if hdr.is_null() {
            return Err(emsgsize());
        }
        let uh: *mut u32 = hdr.cast();
        uh.write_unaligned(minor);
        uh.add(1).write_unaligned(ret.code() as u32);
        let dst: *mut u8 = bindings::skb_put(skb, len).cast();
        core::ptr::copy_nonoverlapping(attrs.as_ptr(), dst, attrs.len());
        bindings::drbd_rs_genlmsg_end(skb, hdr);
    }
    Ok(())
}

/// Sends the reply to `info`'s request.
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
    let to = (info.snd_portid, info.snd_seq, 0);
    // SAFETY: `skb` is a fresh message sized for the headers and `attrs`; `info` is valid, so
    // are its family and header pointers.
    unsafe {
        let put = put_message(skb, info.family, to, (*info.genlhdr).cmd, minor, ret, attrs);
        if let Err(e) = put {
            bindings::drbd_rs_nlmsg_free(skb);
            return Err(e);
        }
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
    // SAFETY: `info` is a checked request of our family, whose hdrsize is USER_HDR_LEN.
    let req = unsafe { request(info.nlhdr) };
    // SAFETY: genl core calls us only for our registered family.
    let ctx = unsafe { ctx_of::<H>(info.family) };
    let mut buf = match KVec::from_elem(0u8, REPLY_ROOM, GFP_KERNEL) {
        Ok(buf) => buf,
        Err(_) => return ENOMEM.to_errno(),
    };
    let mut reply = NlaWriter::new(&mut buf);
    let mut events = Events { list: KVec::new() };
    let ret = match H::doit(ctx, &req, &mut reply, &mut events) {
        Ok(ret) => ret,
        Err(errno) => return errno,
    };
    // SAFETY: `info` is the request being served.
    let sent = match unsafe { send_reply(info, req.minor, ret, reply.as_bytes()) } {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    };
    for event in events.list.iter() {
        // SAFETY: the family of the request being served is ours and registered.
        unsafe { multicast(info.family, event) };
    }
    sent
}

/// Fills one skb of a dump with as many items as fit; genl core calls again until an empty one.
///
/// # Safety
///
/// Called by genl core for a dump request of a registered `Family<H>`.
unsafe extern "C" fn dumpit<H: Handler>(
    skb: *mut bindings::sk_buff,
    cb: *mut bindings::netlink_callback,
) -> c_int {
    // SAFETY: genl core passes a valid callback whose dump info names our family (genl_start),
    // and a checked request message.
    let family = unsafe { bindings::drbd_rs_dump_family(cb) };
    // SAFETY: as above.
    let (ctx, req, portid, seq) = unsafe {
        (
            ctx_of::<H>(family),
            request((*cb).nlh),
            bindings::drbd_rs_dump_portid(cb),
            (*(*cb).nlh).nlmsg_seq,
        )
    };
    let mut buf = match KVec::from_elem(0u8, REPLY_ROOM, GFP_KERNEL) {
        Ok(buf) => buf,
        Err(_) => return ENOMEM.to_errno(),
    };
    // SAFETY: the callback's args are ours between the calls of one dump; genl core zeroes them
    // at its start.
    let args = unsafe { &mut (*cb).__bindgen_anon_1.args };
    let mut cursor: DumpCursor = [args[0] as u64, args[1] as u64, args[2] as u64];
    let mut items = 0;
    loop {
        let mut out = NlaWriter::new(&mut buf);
        let mut next = cursor;
        let minor = match H::dump(ctx, &req, &mut next, &mut out) {
            Ok(Some(minor)) => minor,
            Ok(None) => break,
            Err(errno) => return errno,
        };
        let attrs = out.as_bytes();
        // SAFETY: `skb` is the dump's message buffer for the duration of the call.
        let room = unsafe { bindings::drbd_rs_skb_tailroom(skb) } as usize;
        if room < NLMSG_HDRLEN + GENL_HDRLEN + USER_HDR_LEN + attrs.len() {
            if items == 0 {
                return emsgsize().to_errno();
            }
            break; // the next call continues at `cursor`
        }
        let to = (portid, seq, bindings::NLM_F_MULTI as c_int);
        // SAFETY: as above, with the tailroom checked; the family is ours.
        let put = unsafe { put_message(skb, family, to, req.cmd, minor, RetCode::NoError, attrs) };
        if let Err(e) = put {
            return e.to_errno();
        }
        cursor = next;
        items += 1;
    }
    for (arg, c) in args.iter_mut().zip(cursor) {
        *arg = c as _;
    }
    // SAFETY: as above.
    unsafe { bindings::drbd_rs_skb_len(skb) as c_int }
}
