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
                queue_depth: 128,
                numa_node: -1, // NUMA_NO_NODE
                ..Default::default()
            },
            mq_ops: bindings::blk_mq_ops {
                queue_rq: Some(queue_rq),
                ..Default::default()
            },
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
        // SAFETY: `set` is an initialised tag set that stays put until `drop`.
        if let Err(e) = to_result(unsafe { bindings::blk_mq_alloc_tag_set(set) }) {
            free_private();
            return Err(e);
        }
        // SAFETY: the tag set was just allocated; NULL limits mean the defaults.
        let disk = match from_err_ptr(unsafe {
            bindings::drbd_rs_blk_mq_alloc_disk(set, core::ptr::null_mut())
        }) {
            Ok(disk) => disk,
            Err(e) => {
                // SAFETY: allocated above and used by nothing.
                unsafe { bindings::blk_mq_free_tag_set(set) };
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
            disk_name(&mut (*disk).disk_name, minor);
            bindings::set_disk_ro(disk, true);
            bindings::set_capacity(disk, 0);
            let err = bindings::device_add_disk(core::ptr::null_mut(), disk, core::ptr::null_mut());
            if err != 0 {
                bindings::put_disk(disk);
                bindings::blk_mq_free_tag_set(set);
                free_private();
                return Err(Error::from_errno(err));
            }
        }
        // INVARIANT: added just above; `private` belongs to the disk now.
        Ok(Self {
            disk,
            tag_set,
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
        // and exits the queue; put_disk drops our reference (free_disk runs with the last one,
        // maybe later); the tag set goes after the queue stopped using it, as every blk-mq
        // driver does.
        unsafe {
            bindings::del_gendisk(self.disk);
            bindings::put_disk(self.disk);
            bindings::blk_mq_free_tag_set(&mut (*self.tag_set.get()).set);
        }
    }
}
