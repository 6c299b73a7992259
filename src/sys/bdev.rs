// SPDX-License-Identifier: GPL-2.0
//! A backing or meta data block device, opened for reading and writing with an exclusive claim,
//! and synchronous 4 KiB meta data I/O on it.
//!
//! C counterpart: open_backing_dev()/close_backing_dev() of drbd_nl.c and drbd_md_sync_page_io()
//! of drbd_actlog.c.

use super::bindings;
use core::sync::atomic::{AtomicBool, Ordering};
use kernel::error::{from_err_ptr, to_result, Result};
use kernel::ffi::c_void;
use kernel::page::{Page, PAGE_SIZE};
use kernel::prelude::*;
use kernel::str::CStr;

/// `BLK_OPEN_READ | BLK_OPEN_WRITE` (include/linux/blkdev.h), macros bindgen cannot read.
const BLK_OPEN_READ_WRITE: u32 = (1 << 0) | (1 << 1);

/// Size of one meta data I/O.
pub(crate) const MD_IO_BYTES: usize = 4096;

/// An open block device.
///
/// # Invariants
///
/// `file` was returned by `bdev_file_open_by_path` and is released only by `drop`.
pub(crate) struct Bdev {
    file: *mut bindings::file,
    /// Meta data writes flush the cache before and force unit access after (`md-flushes`;
    /// C: not MD_NO_FUA).
    md_flushes: AtomicBool,
}

// SAFETY: the file may be used and released from any thread.
unsafe impl Send for Bdev {}
// SAFETY: the shared methods submit I/O and read the size, which may run concurrently.
unsafe impl Sync for Bdev {}

impl Bdev {
    /// Opens `path` for reading and writing, claimed by `holder`: another holder's claim makes
    /// it fail with `EBUSY`, the same holder may open it again (internal meta data).
    pub(crate) fn open(path: &CStr, holder: *const c_void) -> Result<Self> {
        // SAFETY: `path` is NUL-terminated; the holder is only compared by the block layer.
        let file = from_err_ptr(unsafe {
            bindings::bdev_file_open_by_path(
                path.as_char_ptr(),
                BLK_OPEN_READ_WRITE,
                holder as *mut c_void,
                core::ptr::null(),
            )
        })?;
        // INVARIANT: opened just above.
        Ok(Self {
            file,
            md_flushes: AtomicBool::new(true),
        })
    }

    /// `md-flushes`: whether meta data writes flush and force unit access.
    pub(crate) fn set_md_flushes(&self, on: bool) {
        self.md_flushes.store(on, Ordering::Relaxed);
    }

    /// The block device, for the rest of the FFI layer.
    pub(super) fn raw(&self) -> *mut bindings::block_device {
        self.bdev()
    }

    fn bdev(&self) -> *mut bindings::block_device {
        // SAFETY: by the type invariant `file` is an open block device file.
        unsafe { bindings::file_bdev(self.file) }
    }

    /// Whether `self` and `other` are the same block device.
    pub(crate) fn same_device(&self, other: &Bdev) -> bool {
        self.bdev() == other.bdev()
    }

    /// Size in 512-byte sectors.
    pub(crate) fn capacity(&self) -> u64 {
        // SAFETY: the block device is open.
        unsafe { bindings::drbd_rs_bdev_nr_sectors(self.bdev()) }
    }

    /// Reads the 4 KiB at `sector` into `buf`, synchronously.
    pub(crate) fn read_4k(&self, sector: u64, buf: &mut [u8; MD_IO_BYTES]) -> Result {
        let page = Page::alloc_page(GFP_KERNEL)?;
        self.page_io(sector, &page, false)?;
        // SAFETY: `buf` is MD_IO_BYTES writable bytes, within the page.
        unsafe { page.read_raw(buf.as_mut_ptr(), 0, MD_IO_BYTES) }
    }

    /// Writes `buf` to the 4 KiB at `sector`, synchronously and durably (after a flush, with
    /// FUA), as the C module writes meta data.
    pub(crate) fn write_4k(&self, sector: u64, buf: &[u8; MD_IO_BYTES]) -> Result {
        let page = Page::alloc_page(GFP_KERNEL)?;
        // SAFETY: `buf` is MD_IO_BYTES readable bytes, within the page.
        unsafe { page.write_raw(buf.as_ptr(), 0, MD_IO_BYTES)? };
        self.page_io(sector, &page, true)
    }

    /// One synchronous page of meta data I/O.
    fn page_io(&self, sector: u64, page: &Page, write: bool) -> Result {
        const _: () = assert!(MD_IO_BYTES <= PAGE_SIZE);
        let op = if write && self.md_flushes.load(Ordering::Relaxed) {
            bindings::req_op_REQ_OP_WRITE
                | (1 << bindings::req_flag_bits___REQ_FUA)
                | (1 << bindings::req_flag_bits___REQ_PREFLUSH)
        } else if write {
            bindings::req_op_REQ_OP_WRITE
        } else {
            bindings::req_op_REQ_OP_READ
        } | (1 << bindings::req_flag_bits___REQ_SYNC)
            | (1 << bindings::req_flag_bits___REQ_META)
            | (1 << bindings::req_flag_bits___REQ_PRIO);
        // SAFETY: the device is open; GFP_NOIO as meta data I/O may run under memory pressure;
        // fs_bio_set is the kernel's general bio set.
        let bio = unsafe {
            bindings::bio_alloc_bioset(
                self.bdev(),
                1,
                op,
                bindings::DRBD_RS_GFP_NOIO,
                core::ptr::addr_of_mut!(bindings::fs_bio_set),
            )
        };
        if bio.is_null() {
            return Err(ENOMEM);
        }
        // SAFETY: `bio` is ours until bio_put; the page outlives the synchronous I/O; a fresh
        // bio with one vector always takes one page.
        unsafe {
            (*bio).bi_iter.bi_sector = sector;
            if bindings::bio_add_page(bio, page.as_ptr().cast(), MD_IO_BYTES as u32, 0)
                != MD_IO_BYTES as i32
            {
                bindings::bio_put(bio);
                return Err(EIO);
            }
            let ret = bindings::submit_bio_wait(bio);
            bindings::bio_put(bio);
            to_result(ret)
        }
    }
}

impl Drop for Bdev {
    fn drop(&mut self) {
        // SAFETY: by the type invariant the file is open and ours.
        unsafe { bindings::bdev_fput(self.file) };
    }
}
