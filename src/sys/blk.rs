// SPDX-License-Identifier: GPL-2.0
//! A blk-mq disk, `/dev/drbdN`, with the open rules and request handling a safe
//! [`DiskOps`] implementation decides.
//!
//! C counterpart: drbd_create_device() and drbd_delete_device() of drbd_main.c. The C module is
//! bio-based; drbd-rs uses blk-mq (see Documentation/status.rst). 6.12's `kernel::block::mq`
//! cannot end a request with an error nor set block_device_operations, hence the raw API.

use super::bdev::Bdev;
use super::bindings;
use crate::model::version::DRBD_MAJOR;
use core::fmt::Write;
use core::marker::PhantomData;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU8, Ordering};
use kernel::error::{from_err_ptr, to_result, Error, Result};
use kernel::ffi::{c_int, c_void};
use kernel::prelude::*;
use kernel::sync::Arc;
use kernel::types::Opaque;

/// `BLK_OPEN_WRITE` (include/linux/blkdev.h), a macro bindgen cannot read.
const BLK_OPEN_WRITE: u32 = 1 << 1;
/// `BLK_STS_OK`, `BLK_STS_NOTSUPP` and `BLK_STS_IOERR` (include/linux/blk_types.h).
const BLK_STS_OK: u8 = 0;
const BLK_STS_NOTSUPP: u8 = 1;
const BLK_STS_IOERR: u8 = 10;
/// `BLK_FEAT_WRITE_CACHE | BLK_FEAT_FUA` (include/linux/blkdev.h): flushes and FUA writes reach
/// the driver, which passes them on to the backing device, as the C module announces.
const FEATURES: u32 = (1 << 0) | (1 << 1);
/// `DRBD_MAX_BIO_SIZE` (drbd_int.h) in sectors: the largest request, 1 MiB.
const MAX_REQUEST_SECTORS: u32 = 1 << (20 - 9);
/// `REQ_OP_MASK` (include/linux/blk_types.h).
const REQ_OP_MASK: u32 = (1 << bindings::REQ_OP_BITS) - 1;
const REQ_FUA: u32 = 1 << bindings::req_flag_bits___REQ_FUA;
const REQ_PREFLUSH: u32 = 1 << bindings::req_flag_bits___REQ_PREFLUSH;
const REQ_RAHEAD: u32 = 1 << bindings::req_flag_bits___REQ_RAHEAD;

/// Why an open of the disk is refused.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Refusal {
    /// `EROFS`: opened for writing where that is not allowed.
    ReadOnly,
    /// `EMEDIUMTYPE`: the C module's answer to opening a Secondary at all.
    WrongMediumType,
}

impl Refusal {
    fn errno(self) -> c_int {
        let e = match self {
            Refusal::ReadOnly => kernel::bindings::EROFS,
            Refusal::WrongMediumType => kernel::bindings::EMEDIUMTYPE,
        };
        -(e as c_int)
    }
}

/// What a disk's callbacks ask of the device behind it.
pub(crate) trait DiskOps: Send + Sync + 'static {
    /// Whether the disk may be opened, for writing or only for reading (C: drbd_open()).
    fn open(&self, write: bool) -> core::result::Result<(), Refusal>;
    /// A successful open ended.
    fn release(&self);
    /// Serves a request: [`Request::forward`] it, [`Request::end`] it, or keep it (in a
    /// [`RequestList`]) to do so later. Runs in process context, but possibly inside the
    /// submitter's submit_bio(), where bios of its own are only queued: it must not wait for
    /// I/O (the tag set is `BLK_MQ_F_BLOCKING` only so that allocations may sleep).
    fn queue(this: &Arc<Self>, rq: Request<Self>)
    where
        Self: Sized;
    /// A forwarded request with a local part ended (its local and remote parts done), the local
    /// part successfully or not (`ok`), with the tag it was forwarded with. Runs in any context,
    /// interrupts included: must not sleep.
    fn completed(&self, tag: u64, ok: bool);
    /// The local part of a forwarded request (all its clones) finished, for the first time or
    /// after [`Remote::restart`]. Runs in any context: must not sleep.
    fn local_done(&self) {}
    /// The local write of a request that [`Remote::mark_sent`] found in flight completed. Runs
    /// in any context: must not sleep.
    fn sent_write_done(&self) {}
    /// A request [`DiskOps::queue`] was given ended (C: dec_ap_bio()). Runs in any context:
    /// must not sleep.
    fn request_ended(&self) {}
    /// A read failed at the backing disk, and the peer did not provide the data either: serve
    /// it again (from the peer) or end it. Runs in any context: must not sleep.
    fn read_failed(_this: &Arc<Self>, rq: Request<Self>)
    where
        Self: Sized,
    {
        rq.end(false);
    }
}

/// What a request is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Read,
    Write,
    /// A cache flush, without data.
    Flush,
    Discard,
    WriteZeroes,
    /// Anything else (secure erase, zone operations, driver-private): refused.
    Other,
}

impl Op {
    /// The operation of a request's `cmd_flags`.
    fn of(cmd_flags: u32) -> Self {
        match cmd_flags & REQ_OP_MASK {
            bindings::req_op_REQ_OP_READ => Op::Read,
            bindings::req_op_REQ_OP_WRITE => Op::Write,
            bindings::req_op_REQ_OP_FLUSH => Op::Flush,
            bindings::req_op_REQ_OP_DISCARD => Op::Discard,
            bindings::req_op_REQ_OP_WRITE_ZEROES => Op::WriteZeroes,
            _ => Op::Other,
        }
    }
}

/// A started request of one of our queues, owned until it is ended or forwarded. Dropping it
/// ends it with an I/O error.
///
/// # Invariants
///
/// `rq` is a request of a `Disk`'s queue that blk_mq_start_request() started and that nobody
/// ended yet; its PDU is a [`Pdu`].
pub(crate) struct Request<T: DiskOps> {
    rq: *mut bindings::request,
    _ops: PhantomData<T>,
}

/// Per-request driver data (the tag set's `cmd_size`), written before the request is forwarded
/// or listed.
#[repr(C)]
struct Pdu {
    /// The next request of the [`RequestList`] this one is on.
    next: AtomicPtr<bindings::request>,
    /// Clone bios in flight, plus one while they are being submitted.
    pending: AtomicU32,
    /// The first error status of a clone, or BLK_STS_OK.
    status: AtomicU8,
    /// The caller's tag, handed back to [`DiskOps::completed`].
    tag: u64,
    /// Clone bios in flight, plus one while they are being submitted: the local part.
    local: AtomicU32,
    /// [`LOCAL_DONE`], [`SENT`], [`NET_OK`] and [`NO_LOCAL`].
    flags: AtomicU8,
}

/// The local clones of a forwarded request completed.
const LOCAL_DONE: u8 = 1;
/// A forwarded request was sent to the peer ([`Remote::mark_sent`]).
const SENT: u8 = 2;
/// The peer has the request's data, or gave us its data (C: RQ_NET_OK): the request succeeds
/// whatever its local part did.
const NET_OK: u8 = 4;
/// A request the peer alone serves: no local part to complete, and its failure is final.
const NO_LOCAL: u8 = 8;

/// The PDU of `rq`.
///
/// # Safety
///
/// `rq` is a live request of a tag set whose `cmd_size` is that of [`Pdu`].
unsafe fn pdu<'a>(rq: *mut bindings::request) -> &'a Pdu {
    // SAFETY: blk-mq allocates `cmd_size` bytes after each request, suitably aligned; every
    // field of Pdu is valid for any bit pattern until forward() initialises it.
    unsafe { &*bindings::drbd_rs_rq_to_pdu(rq).cast::<Pdu>() }
}

impl<T: DiskOps> Request<T> {
    fn cmd_flags(&self) -> u32 {
        // SAFETY: by the type invariant the request is live.
        unsafe { (*self.rq).cmd_flags }
    }

    /// What the request asks for.
    pub(crate) fn op(&self) -> Op {
        Op::of(self.cmd_flags())
    }

    /// First sector.
    pub(crate) fn sector(&self) -> u64 {
        // SAFETY: by the type invariant the request is live.
        unsafe { (*self.rq).__sector }
    }

    /// Length in sectors.
    pub(crate) fn sectors(&self) -> u64 {
        // SAFETY: by the type invariant the request is live.
        u64::from(unsafe { (*self.rq).__data_len }) >> 9
    }

    /// Ends the request now, as not supported (`ok == false` on an op the device cannot do) or
    /// successfully.
    pub(crate) fn end(self, ok: bool) {
        let status = if ok { BLK_STS_OK } else { BLK_STS_IOERR };
        self.finish(status);
    }

    /// Ends the request as not supported by the device.
    pub(crate) fn end_not_supported(self) {
        self.finish(BLK_STS_NOTSUPP);
    }

    fn finish(self, status: u8) {
        let rq = self.rq;
        core::mem::forget(self);
        // SAFETY: by the type invariant the request is a started one of our queues, not ended;
        // it is ended once.
        unsafe { end_request::<T>(rq, status) };
    }

    /// Whether the request is a FUA write.
    pub(crate) fn fua(&self) -> bool {
        self.cmd_flags() & REQ_FUA != 0
    }

    /// Whether the request is a read-ahead, which may fail without being retried.
    pub(crate) fn read_ahead(&self) -> bool {
        self.cmd_flags() & REQ_RAHEAD != 0
    }

    /// Sends the request's bios, cloned, to the same sectors of `to`; a flush becomes an empty
    /// flush bio. When the last clone completes, [`DiskOps::completed`] runs with `tag`, then
    /// the request ends with the first error of its clones.
    pub(crate) fn forward(self, to: &Bdev, tag: u64) {
        self.forward_holding(to, tag, 1);
    }

    /// As [`Request::forward`], but the request also waits for the two returned [`Remote`]s:
    /// the one its data is sent with, and the one the peer's acknowledgement releases.
    pub(crate) fn forward_replicated(self, to: &Bdev, tag: u64) -> (Remote<T>, Remote<T>) {
        let rq = self.rq;
        self.forward_holding(to, tag, 3);
        // INVARIANT: the second and third pending references are the Remotes'.
        let remote = || Remote {
            rq,
            _ops: PhantomData,
        };
        (remote(), remote())
    }

    /// A write for the peer alone (a Diskless Primary's): as [`Request::forward_replicated`]
    /// without a local part; the request succeeds if the peer takes the data.
    pub(crate) fn send_only(self, tag: u64) -> (Remote<T>, Remote<T>) {
        let rq = self.into_remote(tag, 2);
        // INVARIANT: the two pending references are the Remotes'.
        let remote = || Remote {
            rq,
            _ops: PhantomData,
        };
        (remote(), remote())
    }

    /// A read for the peer to serve (P_DATA_REQUEST): the returned [`Remote`] receives the
    /// data into the request ([`Remote::recv_data`]) and ends it when released.
    pub(crate) fn read_remote(self, tag: u64) -> Remote<T> {
        let rq = self.into_remote(tag, 1);
        // INVARIANT: the one pending reference is this Remote's.
        Remote {
            rq,
            _ops: PhantomData,
        }
    }

    /// Initialises the PDU of a request the peer alone serves, with `refs` pending references.
    fn into_remote(self, tag: u64, refs: u32) -> *mut bindings::request {
        let rq = self.rq;
        core::mem::forget(self);
        // SAFETY: the request is started and ours (type invariant); its PDU is a Pdu, not
        // shared yet.
        unsafe { init_pdu(rq, tag, refs, 0, LOCAL_DONE | NO_LOCAL) };
        rq
    }

    fn forward_holding(self, to: &Bdev, tag: u64, refs: u32) {
        let rq = self.rq;
        core::mem::forget(self);
        // SAFETY: the request is started and ours (type invariant); its PDU is a Pdu, not
        // shared yet.
        unsafe { init_pdu(rq, tag, refs, 1, 0) };
        // SAFETY: the PDU is initialised with one local and one pending reference, the caller's.
        unsafe { submit_clones::<T>(rq, to) };
    }
}

/// Submits the clones of `rq`'s bios to `to`, then drops the caller's local and pending
/// reference.
///
/// # Safety
///
/// `rq` is a forwarded request whose PDU is initialised, and the caller holds one of its local
/// and one of its pending references.
unsafe fn submit_clones<T: DiskOps>(rq: *mut bindings::request, to: &Bdev) {
    // SAFETY: the request is ours until the last clone completes (pending holds it), the
    // bio set and queue data are the Disk's, which outlive its requests.
    unsafe {
        let q = (*rq).q;
        let bs = (*q).queuedata.cast::<bindings::bio_set>();
        let bdev = to.raw();
        let mut src = (*rq).bio;
        if src.is_null() {
            // a flush: no data, only the cache
            let op = bindings::req_op_REQ_OP_WRITE | REQ_PREFLUSH;
            let bio = bindings::bio_alloc_bioset(bdev, 0, op, bindings::DRBD_RS_GFP_NOIO, bs);
            submit_clone::<T>(rq, bio);
        }
        while !src.is_null() {
            let bio = bindings::bio_alloc_clone(bdev, src, bindings::DRBD_RS_GFP_NOIO, bs);
            if !bio.is_null() {
                // the flush sequence already sent a preflush; FUA as the request has it
                let keep = (*bio).bi_opf & !(REQ_PREFLUSH | REQ_FUA);
                (*bio).bi_opf = keep | ((*rq).cmd_flags & REQ_FUA);
            }
            submit_clone::<T>(rq, bio);
            src = (*src).bi_next;
        }
    }
    // SAFETY: the caller's reference, dropped now that the clones are submitted.
    unsafe {
        put_local::<T>(rq);
        put_request::<T>(rq);
    }
}

/// Initialises the PDU of a request about to be forwarded or sent.
///
/// # Safety
///
/// `rq` is a started request of ours whose PDU nobody else uses yet.
unsafe fn init_pdu(rq: *mut bindings::request, tag: u64, refs: u32, local: u32, flags: u8) {
    // SAFETY: per the function's contract.
    unsafe {
        let p = bindings::drbd_rs_rq_to_pdu(rq).cast::<Pdu>();
        (*p).tag = tag;
        let pdu = &*p;
        pdu.pending.store(refs, Ordering::Relaxed);
        pdu.local.store(local, Ordering::Relaxed);
        pdu.flags.store(flags, Ordering::Relaxed);
        pdu.status.store(BLK_STS_OK, Ordering::Relaxed);
    }
}

/// The peer's part of a forwarded request: the request ends only once this is released too,
/// and its data stays readable (or, for a remote read, writable) until then.
///
/// # Invariants
///
/// `rq` is a forwarded request of which this holds one pending reference.
pub(crate) struct Remote<T: DiskOps> {
    rq: *mut bindings::request,
    _ops: PhantomData<T>,
}

// SAFETY: the reference may be released from any thread, interrupts included.
unsafe impl<T: DiskOps> Send for Remote<T> {}

impl<T: DiskOps> Remote<T> {
    /// Sends the request's data on `sock`; with `zero_copy`, from its pages themselves (only
    /// when the request ends after the peer has them: protocols B and C, see
    /// `drbd_rs_sock_send_rq()`).
    pub(crate) fn send_data(&self, sock: &super::net::Socket, zero_copy: bool) -> Result {
        // SAFETY: the request and its bios live until this reference is released (type
        // invariant); the socket is open. Pages sent without copying are referenced by the
        // socket for as long as it needs them.
        to_result(unsafe { bindings::drbd_rs_sock_send_rq(sock.raw(), self.rq, zero_copy) })
    }

    /// The digest of hash `alg` over the request's data (`data-integrity-alg`), its length in
    /// `out`.
    pub(crate) fn digest(
        &self,
        alg: &[u8],
        out: &mut [u8; super::crypto::MAX_DIGEST],
    ) -> Result<usize> {
        let name = super::crypto::c_name(alg)?;
        // SAFETY: the request and its bios live while this reference is held (type invariant);
        // `name` is NUL-terminated, `out` has MAX_DIGEST bytes.
        let n = unsafe {
            bindings::drbd_rs_digest_rq(
                name.as_ptr().cast(),
                self.rq,
                out.as_mut_ptr(),
                super::crypto::MAX_DIGEST as u32,
            )
        };
        if n < 0 {
            return Err(Error::from_errno(n));
        }
        Ok(n as usize)
    }

    /// Receives the data of a remote read from `sock` into the request (as many bytes as it
    /// reads).
    pub(crate) fn recv_data(&self, sock: &super::net::Socket) -> Result {
        // SAFETY: the request and its bios live until this reference is released (type
        // invariant); a read's pages are ours to fill until it ends; the socket is open.
        to_result(unsafe { bindings::drbd_rs_sock_recv_rq(sock.raw(), self.rq) })
    }

    /// Records that the request was sent to the peer. `true` if its local write is still in
    /// flight: [`DiskOps::sent_write_done`] then follows when it completes.
    pub(crate) fn mark_sent(&self) -> bool {
        // SAFETY: the request is forwarded and alive while this reference is held.
        let pdu = unsafe { pdu(self.rq) };
        pdu.flags.fetch_or(SENT, Ordering::AcqRel) & LOCAL_DONE == 0
    }

    /// The tag the request was forwarded with.
    pub(crate) fn tag(&self) -> u64 {
        // SAFETY: the request is alive while this reference is held.
        unsafe { pdu(self.rq) }.tag
    }

    /// Whether the request's local part is done (or it has none).
    pub(crate) fn local_done(&self) -> bool {
        // SAFETY: the request is alive while this reference is held.
        unsafe { pdu(self.rq) }.flags.load(Ordering::Acquire) & LOCAL_DONE != 0
    }

    /// Whether [`Remote::restart`] writes to the disk again: the request has a local part,
    /// and it is done.
    pub(crate) fn local_again(&self) -> bool {
        // SAFETY: the request is alive while this reference is held.
        let flags = unsafe { pdu(self.rq) }.flags.load(Ordering::Acquire);
        flags & (NO_LOCAL | LOCAL_DONE) == LOCAL_DONE
    }

    /// The request's operation and whether it asks for FUA.
    pub(crate) fn op_fua(&self) -> (Op, bool) {
        // SAFETY: the request is alive while this reference is held.
        let flags = unsafe { (*self.rq).cmd_flags };
        (Op::of(flags), flags & REQ_FUA != 0)
    }

    /// Does a write once more, its local part done (the peer asked for it again,
    /// P_RETRY_WRITE): its local write, if it has one, goes to `to` again, and it is to be
    /// sent again: the two [`Remote`]s of [`Request::forward_replicated`], this one among
    /// them.
    pub(crate) fn restart(self, to: &Bdev) -> (Remote<T>, Remote<T>) {
        let rq = self.rq;
        core::mem::forget(self);
        // SAFETY: the request is alive while our reference is held.
        let pdu = unsafe { pdu(rq) };
        // the second Remote's reference
        pdu.pending.fetch_add(1, Ordering::AcqRel);
        let flags = pdu.flags.fetch_and(!SENT, Ordering::AcqRel);
        if flags & (NO_LOCAL | LOCAL_DONE) == LOCAL_DONE {
            // a local and a pending reference while the clones are submitted
            pdu.pending.fetch_add(1, Ordering::AcqRel);
            pdu.local.store(1, Ordering::Release);
            pdu.flags.fetch_and(!LOCAL_DONE, Ordering::AcqRel);
            // SAFETY: the PDU is initialised; its local part was done, so nobody else uses
            // `local`; the references taken above are dropped by submit_clones().
            unsafe { submit_clones::<T>(rq, to) };
        }
        // INVARIANT: ours, and the one taken above.
        let remote = || Remote {
            rq,
            _ops: PhantomData,
        };
        (remote(), remote())
    }

    /// The peer is done with the request: `ok` if it has the data (acknowledged a write, or
    /// sent a read's data), which makes the request succeed whatever its local part did.
    pub(crate) fn release(self, ok: bool) {
        let rq = self.rq;
        core::mem::forget(self);
        if ok {
            // SAFETY: the request is alive while this reference is held.
            unsafe { pdu(rq) }.flags.fetch_or(NET_OK, Ordering::AcqRel);
        }
        // SAFETY: we hold one pending reference (type invariant), given up here.
        unsafe { put_request::<T>(rq) };
    }
}

impl<T: DiskOps> Drop for Remote<T> {
    /// The peer's part ends without the peer having the data.
    fn drop(&mut self) {
        // SAFETY: as in release().
        unsafe { put_request::<T>(self.rq) };
    }
}

/// Requests kept for later, first in first out, linked through their PDUs (no allocation).
pub(crate) struct RequestList<T: DiskOps> {
    head: *mut bindings::request,
    tail: *mut bindings::request,
    _ops: PhantomData<T>,
}

// SAFETY: the listed requests are owned by the list and may be ended from any thread.
unsafe impl<T: DiskOps> Send for RequestList<T> {}

impl<T: DiskOps> RequestList<T> {
    pub(crate) const fn new() -> Self {
        Self {
            head: core::ptr::null_mut(),
            tail: core::ptr::null_mut(),
            _ops: PhantomData,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.head.is_null()
    }

    /// Appends `rq`.
    pub(crate) fn push(&mut self, rq: Request<T>) {
        let raw = rq.rq;
        core::mem::forget(rq);
        // SAFETY: `raw` is a started request of ours (Request's invariant), owned by the list
        // from here; the tail, if any, is too.
        unsafe {
            pdu(raw)
                .next
                .store(core::ptr::null_mut(), Ordering::Relaxed);
            if self.tail.is_null() {
                self.head = raw;
            } else {
                pdu(self.tail).next.store(raw, Ordering::Relaxed);
            }
        }
        self.tail = raw;
    }

    /// Takes the first request.
    pub(crate) fn pop(&mut self) -> Option<Request<T>> {
        if self.head.is_null() {
            return None;
        }
        let raw = self.head;
        // SAFETY: listed requests are started requests of ours, owned by the list.
        self.head = unsafe { pdu(raw).next.load(Ordering::Relaxed) };
        if self.head.is_null() {
            self.tail = core::ptr::null_mut();
        }
        // INVARIANT: started, not ended, and no longer listed.
        Some(Request {
            rq: raw,
            _ops: PhantomData,
        })
    }
}

impl<T: DiskOps> Drop for RequestList<T> {
    fn drop(&mut self) {
        // ends what is left with an I/O error
        while self.pop().is_some() {}
    }
}

impl<T: DiskOps> Drop for Request<T> {
    fn drop(&mut self) {
        // SAFETY: by the type invariant the request is a started one of our queues, not ended.
        unsafe { end_request::<T>(self.rq, BLK_STS_IOERR) };
    }
}

/// Ends a request with `status`, telling [`DiskOps::request_ended`] first.
///
/// # Safety
///
/// `rq` is a started request of one of our queues, not ended yet; it is ended once.
unsafe fn end_request<T: DiskOps>(rq: *mut bindings::request, status: u8) {
    // SAFETY: the request still holds its queue, so the disk and its private data are live; it
    // is ended once, per the function's contract.
    unsafe {
        ops::<T>((*(*rq).q).disk).request_ended();
        bindings::blk_mq_end_request(rq, status);
    }
}

/// Submits one clone of `rq`, or records the failure to allocate it.
///
/// # Safety
///
/// `rq` is a forwarded request whose PDU is initialised; `bio` is NULL or a fresh bio.
unsafe fn submit_clone<T: DiskOps>(rq: *mut bindings::request, bio: *mut bindings::bio) {
    // SAFETY: per the function's contract.
    let pdu = unsafe { pdu(rq) };
    if bio.is_null() {
        let _ = pdu.status.compare_exchange(
            BLK_STS_OK,
            BLK_STS_IOERR,
            Ordering::AcqRel,
            Ordering::Relaxed,
        );
        return;
    }
    pdu.pending.fetch_add(1, Ordering::AcqRel);
    pdu.local.fetch_add(1, Ordering::AcqRel);
    // SAFETY: `bio` is fresh and ours until submitted; its end_io gets `rq` back.
    unsafe {
        (*bio).bi_private = rq.cast();
        (*bio).bi_end_io = Some(clone_endio::<T>);
        bindings::drbd_rs_submit_bio_unplugged(bio);
    }
}

/// # Safety
///
/// Called by the block layer once per submitted clone.
unsafe extern "C" fn clone_endio<T: DiskOps>(bio: *mut bindings::bio) {
    // SAFETY: submit_clone() set `bi_private` to the request, which waits for this clone.
    unsafe {
        let rq = (*bio).bi_private.cast::<bindings::request>();
        let status = (*bio).bi_status;
        bindings::bio_put(bio);
        if status != BLK_STS_OK {
            let _ = pdu(rq).status.compare_exchange(
                BLK_STS_OK,
                status,
                Ordering::AcqRel,
                Ordering::Relaxed,
            );
        }
        put_local::<T>(rq);
        put_request::<T>(rq);
    }
}

/// Drops one local reference of a forwarded request; with the last one its local part is done,
/// and [`DiskOps::sent_write_done`] runs if it was sent to the peer already.
///
/// # Safety
///
/// `rq` is a forwarded request and the caller holds one of its local references (and one of
/// its pending references, which keeps it alive).
unsafe fn put_local<T: DiskOps>(rq: *mut bindings::request) {
    // SAFETY: per the function's contract.
    let pdu = unsafe { pdu(rq) };
    if pdu.local.fetch_sub(1, Ordering::AcqRel) != 1 {
        return;
    }
    // SAFETY: the request still holds its queue, so the disk and its private data are live.
    let ops = unsafe { ops::<T>((*(*rq).q).disk) };
    ops.local_done();
    if pdu.flags.fetch_or(LOCAL_DONE, Ordering::AcqRel) & SENT != 0 {
        ops.sent_write_done();
    }
}

/// Drops one pending reference of a forwarded request; the last one completes it: it succeeds
/// if its local part did or the peer has the data (C: RQ_LOCAL_OK or RQ_NET_OK); a failed
/// local read goes to [`DiskOps::read_failed`].
///
/// # Safety
///
/// `rq` is a forwarded request and the caller holds one of its pending references.
unsafe fn put_request<T: DiskOps>(rq: *mut bindings::request) {
    // SAFETY: per the function's contract.
    let pdu = unsafe { pdu(rq) };
    if pdu.pending.fetch_sub(1, Ordering::AcqRel) != 1 {
        return;
    }
    let status = pdu.status.load(Ordering::Acquire);
    let flags = pdu.flags.load(Ordering::Acquire);
    let has_local = flags & NO_LOCAL == 0;
    let ok = (has_local && status == BLK_STS_OK) || flags & NET_OK != 0;
    // SAFETY: the request still holds its queue, so the disk and its private data are live.
    let ops = unsafe { ops::<T>((*(*rq).q).disk) };
    if has_local {
        ops.completed(pdu.tag, status == BLK_STS_OK);
    }
    if ok {
        // SAFETY: the last pending reference is gone: the request is ours to end, once.
        unsafe { end_request::<T>(rq, BLK_STS_OK) };
        return;
    }
    // INVARIANT: started, not ended, its clones and remote parts all done.
    let rq = Request::<T> {
        rq,
        _ops: PhantomData,
    };
    let status = if status == BLK_STS_OK {
        BLK_STS_IOERR
    } else {
        status
    };
    if rq.op() == Op::Read && has_local && !rq.read_ahead() {
        T::read_failed(ops, rq);
    } else {
        rq.finish(status);
    }
}

/// Requests a device's queue holds at most (one hardware queue).
pub(crate) const QUEUE_DEPTH: usize = 128;

/// What the gendisk owns through its `private_data`, freed by its `free_disk` callback when its
/// last reference goes: its operation table and the device. The gendisk may outlive `Disk` (a
/// reference from a block device inode, say), so these must not live in `Disk`.
struct DiskPrivate<T> {
    fops: bindings::block_device_operations,
    ops: Arc<T>,
}

/// The tag set and the operations it calls, used until the tag set is freed in `Disk::drop`
/// (blk_mq_free_tag_set() still calls through `ops`), which may be after free_disk.
#[repr(C)]
struct TagSet {
    set: bindings::blk_mq_tag_set,
    mq_ops: bindings::blk_mq_ops,
    /// The bio set of the clones that forward requests (the queue's `queuedata` points here).
    clones: bindings::bio_set,
}

/// `/dev/drbd<minor>`, registered with the block layer until dropped.
///
/// # Invariants
///
/// `disk` is a live gendisk added with `device_add_disk`, whose `private_data` is a
/// `KBox<DiskPrivate<T>>` (raw) that its `free_disk` callback frees, and whose fops point into
/// it. `tag_set` holds the initialised tag set of the disk's queue and the operations it points
/// to, and does not move.
pub(crate) struct Disk<T: DiskOps> {
    disk: *mut bindings::gendisk,
    tag_set: KBox<Opaque<TagSet>>,
    /// The queue is quiesced by [`Disk::suspend`].
    suspended: AtomicBool,
    _ops: PhantomData<T>,
}

// SAFETY: the gendisk may be deleted and the tag set freed from any thread.
unsafe impl<T: DiskOps> Send for Disk<T> {}
// SAFETY: the shared methods call block-layer functions that may run concurrently.
unsafe impl<T: DiskOps> Sync for Disk<T> {}

/// The `T` behind a gendisk.
///
/// # Safety
///
/// `disk` is a gendisk of a `Disk<T>` whose `free_disk` has not run.
unsafe fn ops<'a, T: DiskOps>(disk: *mut bindings::gendisk) -> &'a Arc<T> {
    // SAFETY: `private_data` is a `DiskPrivate<T>` freed only by free_disk, after the last
    // open and request.
    unsafe { &(*((*disk).private_data as *const DiskPrivate<T>)).ops }
}

/// # Safety
///
/// Called by the block layer with a live disk of a `Disk<T>`.
unsafe extern "C" fn open<T: DiskOps>(disk: *mut bindings::gendisk, mode: u32) -> c_int {
    // SAFETY: the block layer passes a live disk of ours.
    match unsafe { ops::<T>(disk) }.open(mode & BLK_OPEN_WRITE != 0) {
        Ok(()) => 0,
        Err(refusal) => refusal.errno(),
    }
}

/// # Safety
///
/// Called by the block layer with a live disk of a `Disk<T>`.
unsafe extern "C" fn release<T: DiskOps>(disk: *mut bindings::gendisk) {
    // SAFETY: the block layer passes a live disk of ours.
    unsafe { ops::<T>(disk) }.release();
}

/// # Safety
///
/// Called by the block layer once, when the last reference to a disk of a `Disk<T>` goes.
unsafe extern "C" fn free_disk<T: DiskOps>(disk: *mut bindings::gendisk) {
    // SAFETY: the last reference to the disk is gone: no callback runs any more, and
    // disk_release() does not use the fops after this call. `private_data` is freed once, here.
    drop(unsafe { KBox::from_raw((*disk).private_data as *mut DiskPrivate<T>) });
}

/// Starts a request and hands it to the device.
///
/// # Safety
///
/// Called by blk-mq with a valid request of one of our queues.
unsafe extern "C" fn queue_rq<T: DiskOps>(
    _hctx: *mut bindings::blk_mq_hw_ctx,
    bd: *const bindings::blk_mq_queue_data,
) -> bindings::blk_status_t {
    // SAFETY: the block layer passes a valid request, which we own until we end it; the disk
    // and its private data are live while it has requests.
    let (rq, ops) = unsafe {
        let rq = (*bd).rq;
        bindings::blk_mq_start_request(rq);
        let private = (*(*(*rq).q).disk).private_data as *const DiskPrivate<T>;
        (rq, &(*private).ops)
    };
    // INVARIANT: started just above, and the PDU size is Pdu's (Disk::new).
    T::queue(
        ops,
        Request {
            rq,
            _ops: PhantomData,
        },
    );
    BLK_STS_OK
}

/// Gives the flush queue of our queue a lock class of its own: our flush requests end inside
/// the backing device's flush completion, under its flush lock of the same default class, which
/// lockdep would take for recursion (as nvme-loop and dm do).
///
/// # Safety
///
/// Called by blk-mq with a hardware context of one of our queues.
unsafe extern "C" fn init_hctx(
    hctx: *mut bindings::blk_mq_hw_ctx,
    _data: *mut c_void,
    _index: kernel::ffi::c_uint,
) -> c_int {
    // SAFETY: blk-mq passes a hardware context with its flush queue.
    unsafe { bindings::drbd_rs_set_fq_lock_class(hctx) };
    0
}

/// Writes "drbd<minor>" into a C name buffer, NUL-terminated.
fn disk_name(dst: &mut [kernel::ffi::c_char], minor: u32) {
    struct Buf<'a>(&'a mut [kernel::ffi::c_char], usize);
    impl Write for Buf<'_> {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            for b in s.bytes() {
                // keep the last byte for the NUL
                if self.1 + 1 >= self.0.len() {
                    return Err(core::fmt::Error);
                }
                self.0[self.1] = b;
                self.1 += 1;
            }
            Ok(())
        }
    }
    let mut buf = Buf(dst, 0);
    // "drbd" and ten digits fit DISK_NAME_LEN (32).
    let _ = write!(buf, "drbd{minor}");
}

impl<T: DiskOps> Disk<T> {
    /// Creates and adds `/dev/drbd<minor>`: read-only, of size 0, served by `ops`.
    pub(crate) fn new(minor: u32, ops: Arc<T>) -> Result<Self> {
        let mut private = DiskPrivate {
            fops: Default::default(),
            ops,
        };
        private.fops.owner = super::module::this_module();
        private.fops.open = Some(open::<T>);
        private.fops.release = Some(release::<T>);
        private.fops.free_disk = Some(free_disk::<T>);
        let private = KBox::into_raw(KBox::new(private, GFP_KERNEL)?);
        // Frees `private` on the error paths before the disk owns it.
        // SAFETY: `private` came from KBox::into_raw just above and nothing else frees it.
        let free_private = || drop(unsafe { KBox::from_raw(private) });

        let tag_set = TagSet {
            set: bindings::blk_mq_tag_set {
                nr_hw_queues: 1,
                queue_depth: QUEUE_DEPTH as u32,
                numa_node: -1, // NUMA_NO_NODE
                cmd_size: core::mem::size_of::<Pdu>() as u32,
                // as loop: no I/O scheduler of its own (the backing device has one, C's
                // bio-based device has none), and a stacking device need not be drained when
                // a CPU goes offline
                flags: bindings::BLK_MQ_F_SHOULD_MERGE
                    | bindings::BLK_MQ_F_BLOCKING
                    | bindings::BLK_MQ_F_NO_SCHED_BY_DEFAULT
                    | bindings::BLK_MQ_F_STACKING,
                ..Default::default()
            },
            mq_ops: bindings::blk_mq_ops {
                queue_rq: Some(queue_rq::<T>),
                init_hctx: Some(init_hctx),
                ..Default::default()
            },
            clones: Default::default(),
        };
        let tag_set = match KBox::new(Opaque::new(tag_set), GFP_KERNEL) {
            Ok(t) => t,
            Err(e) => {
                free_private();
                return Err(e.into());
            }
        };
        let t = tag_set.get();
        // SAFETY: `t` is initialised and stays put until `drop`; the set's ops point next to it.
        let set = unsafe {
            (*t).set.ops = &(*t).mq_ops;
            &mut (*t).set as *mut bindings::blk_mq_tag_set
        };
        // SAFETY: `t` stays put until `drop`, which exits the bio set.
        let clones = unsafe { core::ptr::addr_of_mut!((*t).clones) };
        // SAFETY: as above; BIO_POOL_SIZE (2) clones in reserve, no front pad, clones need no
        // vectors of their own.
        if let Err(e) = to_result(unsafe { bindings::bioset_init(clones, 2, 0, 0) }) {
            free_private();
            return Err(e);
        }
        // SAFETY: `set` is an initialised tag set that stays put until `drop`.
        if let Err(e) = to_result(unsafe { bindings::blk_mq_alloc_tag_set(set) }) {
            // SAFETY: initialised above and used by nothing.
            unsafe { bindings::bioset_exit(clones) };
            free_private();
            return Err(e);
        }
        let mut lim = bindings::queue_limits {
            features: FEATURES,
            max_hw_sectors: MAX_REQUEST_SECTORS,
            ..Default::default()
        };
        // SAFETY: the tag set was just allocated; zero limits mean the defaults.
        let disk = match from_err_ptr(unsafe { bindings::drbd_rs_blk_mq_alloc_disk(set, &mut lim) })
        {
            Ok(disk) => disk,
            Err(e) => {
                // SAFETY: allocated above and used by nothing.
                unsafe {
                    bindings::blk_mq_free_tag_set(set);
                    bindings::bioset_exit(clones);
                }
                free_private();
                return Err(e);
            }
        };
        // SAFETY: `disk` is a fresh gendisk not yet visible to anyone. If device_add_disk
        // fails, put_disk releases it without calling free_disk (the disk was not added), so
        // `private` is freed here.
        unsafe {
            (*disk).major = DRBD_MAJOR as c_int;
            (*disk).first_minor = minor as c_int;
            (*disk).minors = 1;
            (*disk).fops = &(*private).fops;
            (*disk).flags |= bindings::GENHD_FL_NO_PART as c_int;
            (*disk).private_data = private.cast::<c_void>();
            (*(*disk).queue).queuedata = clones.cast::<c_void>();
            disk_name(&mut (*disk).disk_name, minor);
            bindings::set_disk_ro(disk, true);
            bindings::set_capacity(disk, 0);
            let err = bindings::device_add_disk(core::ptr::null_mut(), disk, core::ptr::null_mut());
            if err != 0 {
                bindings::put_disk(disk);
                bindings::blk_mq_free_tag_set(set);
                bindings::bioset_exit(clones);
                free_private();
                return Err(Error::from_errno(err));
            }
        }
        // INVARIANT: added just above; `private` belongs to the disk now.
        Ok(Self {
            disk,
            tag_set,
            suspended: AtomicBool::new(false),
            _ops: PhantomData,
        })
    }
}

impl<T: DiskOps> Disk<T> {
    /// Sets the size of `/dev/drbdN` and tells userspace (a change uevent), as the C module does
    /// when the device size is determined.
    pub(crate) fn set_capacity(&self, sectors: u64) {
        // SAFETY: by the type invariant the disk is live.
        unsafe { bindings::set_capacity_and_notify(self.disk, sectors) };
    }

    /// Makes the disk read-only or writable for new opens (a Secondary is read-only).
    pub(crate) fn set_read_only(&self, read_only: bool) {
        // SAFETY: by the type invariant the disk is live.
        unsafe { bindings::set_disk_ro(self.disk, read_only) };
    }

    /// Suspends I/O (C: `drbd_suspended()`): new requests are held in the queue, not failed,
    /// until it is resumed; requests already dispatched go on.
    pub(crate) fn suspend(&self, on: bool) {
        if self.suspended.swap(on, Ordering::AcqRel) == on {
            return;
        }
        // SAFETY: by the type invariant the queue is live; quiesce and unquiesce alternate
        // (the flag above), so they stay balanced.
        unsafe {
            if on {
                bindings::blk_mq_quiesce_queue((*self.disk).queue);
            } else {
                bindings::blk_mq_unquiesce_queue((*self.disk).queue);
            }
        }
    }

    /// Waits for every request in flight to end and holds new ones back until the returned
    /// guard is dropped (C: the resource's suspend of I/O around attach and detach). Requests
    /// held by [`Disk::suspend`] are let through first: the freeze would wait for them for ever.
    pub(crate) fn freeze(&self) -> Frozen<'_, T> {
        let held = self.suspended.load(Ordering::Acquire);
        // SAFETY: by the type invariant the disk and its queue are live; the queue is
        // quiesced (by `suspend`) exactly when `held`, and quiesced again after the freeze.
        unsafe {
            let q = (*self.disk).queue;
            if held {
                bindings::blk_mq_unquiesce_queue(q);
            }
            bindings::blk_mq_freeze_queue(q);
            if held {
                bindings::blk_mq_quiesce_queue(q);
            }
        }
        Frozen(self)
    }

    /// Takes the queue limits from `from` (the backing device) for the next requests, capped at
    /// `max_bytes` (at most the C module's largest request, 1 MiB): sizes, alignment, discard
    /// and write-zeroes support (C: drbd_reconsider_queue_parameters()).
    pub(crate) fn stack_limits(
        &self,
        _frozen: &Frozen<'_, T>,
        from: &Bdev,
        max_bytes: u32,
    ) -> Result {
        // SAFETY: the queue is live and frozen (no request sees the limits change); `from` is
        // an open device, whose queue is never NULL.
        unsafe {
            let q = (*self.disk).queue;
            let mut lim = bindings::drbd_rs_queue_limits_start_update(q);
            bindings::blk_set_stacking_limits(&mut lim);
            lim.features = FEATURES;
            lim.max_hw_sectors = MAX_REQUEST_SECTORS.min(max_bytes >> 9).max(8);
            // misalignment is not an error for a stacked device, it only costs speed
            let _ = bindings::blk_stack_limits(&mut lim, &mut (*(*from.raw()).bd_queue).limits, 0);
            to_result(bindings::queue_limits_commit_update(q, &mut lim))
        }
    }
}

/// A frozen queue: no request in flight, none started, until dropped.
pub(crate) struct Frozen<'a, T: DiskOps>(&'a Disk<T>);

impl<T: DiskOps> Drop for Frozen<'_, T> {
    fn drop(&mut self) {
        // SAFETY: frozen by Disk::freeze, unfrozen once.
        unsafe { bindings::blk_mq_unfreeze_queue((*self.0.disk).queue) };
    }
}

impl<T: DiskOps> Drop for Disk<T> {
    fn drop(&mut self) {
        // SAFETY: by the type invariant the disk is live and ours. del_gendisk stops new opens
        // and exits the queue; put_disk drops our reference (free_disk runs with the last one,
        // maybe later); the tag set goes after the queue stopped using it, as every blk-mq
        // driver does.
        unsafe {
            // requests held by a suspend are let through; del_gendisk waits for them
            if self.suspended.load(Ordering::Acquire) {
                bindings::blk_mq_unquiesce_queue((*self.disk).queue);
            }
            bindings::del_gendisk(self.disk);
            bindings::put_disk(self.disk);
            bindings::blk_mq_free_tag_set(&mut (*self.tag_set.get()).set);
            bindings::bioset_exit(&mut (*self.tag_set.get()).clones);
        }
    }
}
