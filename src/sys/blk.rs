// SPDX-License-Identifier: GPL-2.0
//! A blk-mq disk, `/dev/drbdN`, with the open rules and request handling a safe
//! [`DiskOps`] implementation decides.
//!
//! C counterpart: drbd_create_device() and drbd_delete_device() of drbd_main.c. The C module is
//! bio-based; drbd-rs uses blk-mq (see Documentation/status.rst). 6.12's `kernel::block::mq`
//! cannot end a request with an error nor set block_device_operations, hence the raw API.

use super::bindings;
use crate::model::version::DRBD_MAJOR;
use core::fmt::Write;
use core::marker::PhantomData;
use kernel::error::{from_err_ptr, to_result, Error, Result};
use kernel::ffi::{c_int, c_void};
use kernel::prelude::*;
use kernel::sync::Arc;
use kernel::types::Opaque;

/// `BLK_OPEN_WRITE` (include/linux/blkdev.h), a macro bindgen cannot read.
const BLK_OPEN_WRITE: u32 = 1 << 1;
/// `BLK_STS_OK` and `BLK_STS_IOERR` (include/linux/blk_types.h).
const BLK_STS_OK: u8 = 0;
const BLK_STS_IOERR: u8 = 10;

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
}

/// The tables the block layer keeps pointers to.
struct Tables {
    tag_set: bindings::blk_mq_tag_set,
    mq_ops: bindings::blk_mq_ops,
    fops: bindings::block_device_operations,
}

/// `/dev/drbd<minor>`, registered with the block layer until dropped.
///
/// # Invariants
///
/// `disk` is a live gendisk added with `device_add_disk`, whose `private_data` holds a
/// reference to the `T` (from `Arc::into_raw`) that its `free_disk` callback releases;
/// `tables` holds its initialised tag set and operation tables and does not move.
pub(crate) struct Disk<T: DiskOps> {
    disk: *mut bindings::gendisk,
    tables: KBox<Opaque<Tables>>,
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
unsafe fn ops<'a, T: DiskOps>(disk: *mut bindings::gendisk) -> &'a T {
    // SAFETY: `private_data` came from `Arc::<T>::into_raw` and is released only in
    // free_disk, after the last open and request.
    unsafe { &*((*disk).private_data as *const T) }
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
    // SAFETY: the last reference to the disk is gone: no callback runs any more, and the
    // reference `private_data` holds is released exactly once, here.
    drop(unsafe { Arc::from_raw((*disk).private_data as *const T) });
}

/// There is no data path yet: every device is Diskless and without peer, whose I/O the C
/// module fails too.
///
/// # Safety
///
/// Called by blk-mq with a valid request of one of our queues.
unsafe extern "C" fn queue_rq(
    _hctx: *mut bindings::blk_mq_hw_ctx,
    bd: *const bindings::blk_mq_queue_data,
) -> bindings::blk_status_t {
    // SAFETY: the block layer passes a valid request, which we own until we end it.
    unsafe {
        let rq = (*bd).rq;
        bindings::blk_mq_start_request(rq);
        bindings::blk_mq_end_request(rq, BLK_STS_IOERR);
    }
    BLK_STS_OK
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
        let mut t = Tables {
            tag_set: Default::default(),
            mq_ops: Default::default(),
            fops: Default::default(),
        };
        t.mq_ops.queue_rq = Some(queue_rq);
        t.fops.owner = super::module::this_module();
        t.fops.open = Some(open::<T>);
        t.fops.release = Some(release::<T>);
        t.fops.free_disk = Some(free_disk::<T>);
        t.tag_set.nr_hw_queues = 1;
        t.tag_set.queue_depth = 128;
        t.tag_set.numa_node = -1; // NUMA_NO_NODE
        let tables = KBox::new(Opaque::new(t), GFP_KERNEL)?;
        let raw = tables.get();
        // SAFETY: `raw` points to initialised tables that stay put until `drop`, after the
        // tag set is freed.
        to_result(unsafe {
            (*raw).tag_set.ops = &(*raw).mq_ops;
            bindings::blk_mq_alloc_tag_set(&mut (*raw).tag_set)
        })?;
        // SAFETY: the tag set was just allocated; NULL limits mean the defaults.
        let disk = match from_err_ptr(unsafe {
            bindings::drbd_rs_blk_mq_alloc_disk(&mut (*raw).tag_set, core::ptr::null_mut())
        }) {
            Ok(disk) => disk,
            Err(e) => {
                // SAFETY: allocated above and used by nothing.
                unsafe { bindings::blk_mq_free_tag_set(&mut (*raw).tag_set) };
                return Err(e);
            }
        };
        // SAFETY: `disk` is a fresh gendisk not yet visible to anyone; the fops live in
        // `tables`. On failure of device_add_disk, put_disk releases it (and `private_data` by
        // free_disk).
        unsafe {
            (*disk).major = DRBD_MAJOR as c_int;
            (*disk).first_minor = minor as c_int;
            (*disk).minors = 1;
            (*disk).fops = &(*raw).fops;
            (*disk).flags |= bindings::GENHD_FL_NO_PART as c_int;
            (*disk).private_data = Arc::into_raw(ops) as *mut c_void;
            disk_name(&mut (*disk).disk_name, minor);
            bindings::set_disk_ro(disk, true);
            bindings::set_capacity(disk, 0);
            let err = bindings::device_add_disk(core::ptr::null_mut(), disk, core::ptr::null_mut());
            if err != 0 {
                bindings::put_disk(disk);
                bindings::blk_mq_free_tag_set(&mut (*raw).tag_set);
                return Err(Error::from_errno(err));
            }
        }
        // INVARIANT: added just above, with the tables in `tables`.
        Ok(Self {
            disk,
            tables,
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
}

impl<T: DiskOps> Drop for Disk<T> {
    fn drop(&mut self) {
        // SAFETY: by the type invariant the disk is live and ours. del_gendisk stops new opens
        // and drains the queue; put_disk drops our reference (free_disk runs with the last
        // one); the tag set goes after the queue that used it, as every blk-mq driver does.
        unsafe {
            bindings::del_gendisk(self.disk);
            bindings::put_disk(self.disk);
            bindings::blk_mq_free_tag_set(&mut (*self.tables.get()).tag_set);
        }
    }
}
