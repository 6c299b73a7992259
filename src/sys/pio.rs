// SPDX-License-Identifier: GPL-2.0
//! Peer I/O: the pages of a block the peer sent, received straight from the socket, and the
//! bio that writes them (or discards, or zeroes the range) on the backing device.
//!
//! C counterpart: drbd_alloc_pages() and read_in_block() of drbd_receiver.c, and
//! drbd_submit_peer_request() with drbd_peer_request_endio() of drbd_worker.c.

use super::bdev::Bdev;
use super::bindings;
use super::net::Socket;
use kernel::page::{Page, PAGE_SIZE};
use kernel::prelude::*;
use kernel::sync::Arc;

const REQ_FUA: u32 = 1 << bindings::req_flag_bits___REQ_FUA;
const REQ_PREFLUSH: u32 = 1 << bindings::req_flag_bits___REQ_PREFLUSH;
/// `BLK_STS_OK`, and `BLK_STS_RESOURCE` for a bio that could not be built.
pub(crate) const BLK_STS_OK: u8 = 0;
const BLK_STS_RESOURCE: u8 = 9;

/// A block's data, in whole pages (lowmem: they are addressed directly).
pub(crate) struct PeerBuf {
    pages: KVec<Page>,
    len: usize,
}

impl PeerBuf {
    /// Room for `len` bytes. Callers run in a memalloc_noio scope.
    pub(crate) fn new(len: usize) -> Result<Self> {
        let n = len.div_ceil(PAGE_SIZE);
        let mut pages = KVec::with_capacity(n, GFP_KERNEL)?;
        for _ in 0..n {
            pages.push(Page::alloc_page(GFP_KERNEL)?, GFP_KERNEL)?;
        }
        Ok(Self { pages, len })
    }

    /// The bytes of each page in use, in order.
    fn chunks(&mut self) -> impl Iterator<Item = &mut [u8]> {
        let mut left = self.len;
        self.pages.iter().map(move |page| {
            let n = left.min(PAGE_SIZE);
            left -= n;
            // SAFETY: alloc_page() without __GFP_HIGHMEM gives a lowmem page, mapped at its
            // page_address() for PAGE_SIZE bytes and owned by us alone; `&mut self` keeps any
            // other access out while the slice lives.
            unsafe {
                let at = bindings::drbd_rs_page_address(page.as_ptr().cast()).cast::<u8>();
                core::slice::from_raw_parts_mut(at, n)
            }
        })
    }

    /// Fills the buffer from `sock`.
    pub(crate) fn recv(&mut self, sock: &Socket) -> Result {
        self.chunks().try_for_each(|bytes| sock.recv(bytes))
    }

    /// Sends the buffer on `sock` without copying it, all but the last page with MSG_MORE:
    /// the packet ends here. The socket keeps a reference to each page until TCP is done
    /// with it, so the buffer is consumed: it must not be written again.
    pub(crate) fn send(self, sock: &Socket) -> Result {
        let mut pages = KVec::with_capacity(self.pages.len(), GFP_KERNEL)?;
        for p in self.pages.iter() {
            pages.push(p.as_ptr().cast::<bindings::page>(), GFP_KERNEL)?;
        }
        // SAFETY: the pages are ours, lowmem, not slab, and hold `len` bytes; the socket takes
        // its own references to those it keeps, so freeing ours afterwards is safe.
        kernel::error::to_result(unsafe {
            bindings::drbd_rs_sock_send_pages(
                sock.raw(),
                pages.as_mut_ptr(),
                pages.len() as u32,
                self.len as u32,
            )
        })
    }

    /// The digest of hash `alg` over the buffer (`data-integrity-alg`), its length in `out`.
    pub(crate) fn digest(
        &self,
        alg: &[u8],
        out: &mut [u8; super::crypto::MAX_DIGEST],
    ) -> Result<usize> {
        let name = super::crypto::c_name(alg)?;
        let mut pages = KVec::with_capacity(self.pages.len(), GFP_KERNEL)?;
        for p in self.pages.iter() {
            pages.push(p.as_ptr().cast::<bindings::page>(), GFP_KERNEL)?;
        }
        // SAFETY: the pages are ours and lowmem; `name` is NUL-terminated, `out` has MAX_DIGEST
        // bytes.
        let n = unsafe {
            bindings::drbd_rs_digest_pages(
                name.as_ptr().cast(),
                pages.as_mut_ptr(),
                pages.len() as u32,
                self.len as u32,
                out.as_mut_ptr(),
                super::crypto::MAX_DIGEST as u32,
            )
        };
        if n < 0 {
            return Err(kernel::error::Error::from_errno(n));
        }
        Ok(n as usize)
    }

    /// Fills the buffer from `bdev` at `sector`, synchronously.
    pub(crate) fn read_from(&mut self, bdev: &Bdev, sector: u64) -> Result {
        let mut pages = KVec::with_capacity(self.pages.len(), GFP_KERNEL)?;
        for p in self.pages.iter() {
            pages.push(p.as_ptr().cast::<bindings::page>(), GFP_KERNEL)?;
        }
        // SAFETY: the pages are ours for the whole synchronous read; a NULL end_io is what
        // submit_bio_wait() expects to set itself.
        unsafe {
            let bio = bindings::drbd_rs_peer_bio(
                bdev.raw(),
                sector,
                bindings::req_op_REQ_OP_READ,
                pages.as_mut_ptr(),
                pages.len() as u32,
                self.len as u32,
                None,
                core::ptr::null_mut(),
            );
            if bio.is_null() {
                return Err(ENOMEM);
            }
            let err = bindings::submit_bio_wait(bio);
            bindings::bio_put(bio);
            kernel::error::to_result(err)
        }
    }
}

/// What a peer request does on the backing device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PeerOp {
    /// Write the buffer; with FUA and a preceding cache flush as the peer's request had them.
    Write { fua: bool, flush: bool },
    /// Discard `len` bytes (no buffer).
    Discard,
    /// Zero `len` bytes (no buffer).
    Zeroes,
    /// Read into the buffer (a SyncSource's resync read).
    Read,
}

/// Told when a submitted peer request finished.
pub(crate) trait PeerDone: Send + Sized + 'static {
    /// Runs in any context, interrupts included: must not sleep. `status` is the bio's
    /// (`BLK_STS_OK` when it succeeded).
    fn done(io: KBox<PeerIo<Self>>, status: u8);
}

/// A request of the peer, with what its completion needs (`ctx`).
pub(crate) struct PeerIo<C> {
    pub(crate) ctx: C,
    buf: Option<PeerBuf>,
    /// Bytes the request covers.
    len: u32,
    /// Held until the bio completes.
    bdev: Option<Arc<Bdev>>,
    /// The next in a [`DoneList`].
    next: Option<KBox<PeerIo<C>>>,
}

/// Peer requests done and waiting for the thread that answers them: pushed as their bios
/// complete (in any context, under its owner's spin lock), taken out all at once and answered
/// in the order they completed.
pub(crate) struct DoneList<C>(Option<KBox<PeerIo<C>>>);

impl<C> DoneList<C> {
    pub(crate) const fn new() -> Self {
        Self(None)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// Adds a request done (it comes out of [`Self::take`] last).
    pub(crate) fn push(&mut self, mut io: KBox<PeerIo<C>>) {
        io.next = self.0.take();
        self.0 = Some(io);
    }

    /// The next request: of a list from [`Self::take`], the one that completed first.
    pub(crate) fn pop(&mut self) -> Option<KBox<PeerIo<C>>> {
        let mut io = self.0.take()?;
        self.0 = io.next.take();
        Some(io)
    }

    /// All of them, oldest first; the list is left empty. Drops nothing (the caller may hold
    /// a spin lock).
    pub(crate) fn take(&mut self) -> Self {
        let mut ordered = Self::new();
        while let Some(io) = self.pop() {
            ordered.push(io);
        }
        ordered
    }

    /// The contexts of the requests in the list.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &C> {
        core::iter::successors(self.0.as_deref(), |io| io.next.as_deref()).map(|io| &io.ctx)
    }
}

impl<C> Drop for DoneList<C> {
    /// One at a time (recursion along the chain could overflow the stack).
    fn drop(&mut self) {
        while self.pop().is_some() {}
    }
}

impl<C: PeerDone> PeerIo<C> {
    pub(crate) fn new(ctx: C, buf: Option<PeerBuf>, len: u32) -> Result<KBox<Self>> {
        Ok(KBox::new(
            Self {
                ctx,
                buf,
                len,
                bdev: None,
                next: None,
            },
            GFP_KERNEL,
        )?)
    }

    /// The buffer, taken out (a read's data, once it is done).
    pub(crate) fn take_buf(&mut self) -> Option<PeerBuf> {
        self.buf.take()
    }

    /// Submits the request at `sector` of `bdev`; [`PeerDone::done`] follows, also when the bio
    /// cannot be built. A request of no bytes does no I/O (a zero-sized discard may mean "to
    /// the end" to a driver) and succeeds at once, unless it asks for a flush, which it then is
    /// (an empty P_DATA with DP_FLUSH, as C submits it).
    pub(crate) fn submit(mut io: KBox<Self>, bdev: Arc<Bdev>, sector: u64, op: PeerOp) {
        if io.len == 0 && !matches!(op, PeerOp::Write { flush: true, .. }) {
            C::done(io, BLK_STS_OK);
            return;
        }
        let opf = match op {
            PeerOp::Write { fua, flush } => {
                bindings::req_op_REQ_OP_WRITE
                    | if fua { REQ_FUA } else { 0 }
                    | if flush { REQ_PREFLUSH } else { 0 }
            }
            PeerOp::Discard => bindings::req_op_REQ_OP_DISCARD,
            PeerOp::Zeroes => bindings::req_op_REQ_OP_WRITE_ZEROES,
            PeerOp::Read => bindings::req_op_REQ_OP_READ,
        };
        let mut pages = KVec::new();
        if let (PeerOp::Write { .. } | PeerOp::Read, Some(buf)) = (op, &io.buf) {
            if pages.reserve(buf.pages.len(), GFP_KERNEL).is_err() {
                C::done(io, BLK_STS_RESOURCE);
                return;
            }
            for p in buf.pages.iter() {
                // within the capacity reserved
                let _ = pages.push(p.as_ptr().cast::<bindings::page>(), GFP_KERNEL);
            }
        }
        let raw = bdev.raw();
        io.bdev = Some(bdev);
        let len = io.len;
        let private = KBox::into_raw(io);
        // SAFETY: the pages belong to `io`, which lives (leaked into `private`) until the end_io
        // callback takes it back; the block device is held by `io.bdev` until then.
        let bio = unsafe {
            bindings::drbd_rs_peer_bio(
                raw,
                sector,
                opf,
                pages.as_mut_ptr(),
                pages.len() as u32,
                len,
                Some(peer_endio::<C>),
                private.cast(),
            )
        };
        if bio.is_null() {
            // SAFETY: `private` came from KBox::into_raw just above and was not handed out.
            let io = unsafe { KBox::from_raw(private) };
            C::done(io, BLK_STS_RESOURCE);
            return;
        }
        // SAFETY: a fresh, complete bio; its completion frees it.
        unsafe { bindings::drbd_rs_submit_bio_unplugged(bio) };
    }
}

/// # Safety
///
/// Called by the block layer once for a bio made by [`PeerIo::submit`].
unsafe extern "C" fn peer_endio<C: PeerDone>(bio: *mut bindings::bio) {
    // SAFETY: `bi_private` is the leaked PeerIo, ours again now that the bio is done.
    let (io, status) = unsafe {
        let io = KBox::from_raw((*bio).bi_private.cast::<PeerIo<C>>());
        let status = (*bio).bi_status;
        bindings::bio_put(bio);
        (io, status)
    };
    C::done(io, status);
}

/// Flushes the volatile cache of `bdev` (blkdev_issue_flush()), synchronously.
pub(crate) fn flush(bdev: &Bdev) -> Result {
    // SAFETY: the block device is open.
    kernel::error::to_result(unsafe { bindings::blkdev_issue_flush(bdev.raw()) })
}
