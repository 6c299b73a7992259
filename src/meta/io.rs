// SPDX-License-Identifier: GPL-2.0
//! Meta data I/O: the superblock, the on-disk bitmap and the activity log ring of an attached
//! disk, read and written in 4 KiB blocks (the layout is [`super::layout`]'s, pure).
//!
//! C counterpart: drbd_md_write() of drbd_main.c, drbd_bm_read()/drbd_bm_write() of
//! drbd_bitmap.c, drbd_al_initialize() of drbd_actlog.c.

use super::layout::{Layout, MAGIC_84_UNCLEAN};
use crate::actlog::transaction::{al_tr_number_to_on_disk_sector, Transaction};
use crate::bitmap::math::{pages_for_bits, Bits, PAGE_BYTES};
use crate::device::{AlBufs, IoLdev, Ldev};
use crate::genl::retcode::RetCode;
use crate::sys::bdev::{Bdev, MD_IO_BYTES};
use kernel::prelude::*;

/// A zeroed 4 KiB I/O buffer, initialised in place on the heap: `KBox::new([0; 4096])` would
/// build it on the stack first, and kernel stacks are small (with four such frames in a row
/// attach overflowed the stack).
pub(crate) fn block() -> Result<KBox<[u8; MD_IO_BYTES]>, RetCode> {
    KBox::init(kernel::init::zeroed(), GFP_KERNEL).map_err(|_| RetCode::NoMem)
}

/// The first sector of the on-disk bitmap.
pub(crate) fn bitmap_start(l: &Layout) -> u64 {
    l.md_offset.saturating_add_signed(i64::from(l.bm_offset))
}

/// Reads the on-disk bitmap into `words` (drbd_bm_read()).
pub(crate) fn read_bitmap(
    md: &Bdev,
    l: &Layout,
    words: &mut [u64],
    bits: u64,
) -> Result<u64, RetCode> {
    let mut buf = block()?;
    let mut view = Bits::new(words, bits).map_err(|_| RetCode::NoMem)?;
    for page in 0..pages_for_bits(bits) {
        let sector = bitmap_start(l) + page * (PAGE_BYTES as u64 / 512);
        md.read_4k(sector, &mut buf)
            .map_err(|_| RetCode::IoMdDisk)?;
        view.load_le(page, &buf).map_err(|_| RetCode::IoMdDisk)?;
    }
    Ok(view.count())
}

/// Writes the bitmap back (drbd_bm_write()).
pub(crate) fn write_bitmap(ldev: &mut IoLdev) -> Result<(), RetCode> {
    let (md, layout, bits) = (ldev.md.clone(), ldev.layout, ldev.bits);
    write_bitmap_pages(&md, &layout, bits, |page, buf| {
        ldev.store_bitmap_page(page, buf)
    })
}

/// Writes the on-disk bitmap of `bits` bits, page by page, each filled by `fill` (its number,
/// the buffer) just before it is written.
pub(crate) fn write_bitmap_pages(
    md: &Bdev,
    l: &Layout,
    bits: u64,
    mut fill: impl FnMut(u64, &mut [u8; MD_IO_BYTES]) -> Result<(), RetCode>,
) -> Result<(), RetCode> {
    let mut buf = block()?;
    for page in 0..pages_for_bits(bits) {
        fill(page, &mut buf)?;
        let sector = bitmap_start(l) + page * (PAGE_BYTES as u64 / 512);
        md.write_4k(sector, &buf).map_err(|_| RetCode::IoMdDisk)?;
    }
    Ok(())
}

/// drbd_al_initialize(): writes every slot of the activity log ring with the (empty) active set
/// of `al_extents` slots, one transaction each, as after a size or layout change.
pub(crate) fn initialize_al(ldev: &mut IoLdev) -> Result<(), RetCode> {
    let IoLdev {
        md,
        layout,
        al,
        al_bufs,
        al_writes,
        ..
    } = ldev;
    let bufs = al_bufs.as_deref_mut().ok_or(RetCode::NoMem)?;
    initialize_al_with(md, layout, bufs, |tr| match tr {
        Some(tr) => al.empty_transaction(tr),
        None => {
            al.commit_empty();
            *al_writes += 1;
        }
    })
}

/// [`initialize_al`] with the active set reached through `al`: called with the transaction
/// to fill before each write, and with `None` once it is written.
pub(crate) fn initialize_al_with(
    md: &Bdev,
    l: &Layout,
    bufs: &mut AlBufs,
    mut al: impl FnMut(Option<&mut Transaction>),
) -> Result<(), RetCode> {
    for _ in 0..l.al_size_4k {
        al(Some(&mut bufs.tr));
        bufs.tr.encode(&mut bufs.block);
        let at = l.al_start()
            + al_tr_number_to_on_disk_sector(bufs.tr.tr_number, l.al_stripes, l.al_stripe_size_4k);
        md.write_4k(at, &bufs.block)
            .map_err(|_| RetCode::IoMdDisk)?;
        al(None);
    }
    Ok(())
}

/// Writes the superblock (drbd_md_write()), always "unclean" while attached, unless it is as
/// last written.
pub(crate) fn write_superblock(ldev: &mut Ldev) -> Result<(), RetCode> {
    ldev.sb.magic = MAGIC_84_UNCLEAN;
    if ldev.written == Some(ldev.sb) {
        return Ok(());
    }
    let mut buf = block()?;
    ldev.sb.encode(&mut buf);
    ldev.md
        .write_4k(ldev.layout.md_offset, &buf)
        .map_err(|_| RetCode::IoMdDisk)?;
    ldev.written = Some(ldev.sb);
    Ok(())
}
