// SPDX-License-Identifier: GPL-2.0
//! `attach` and `detach`: a backing disk with its meta data, its bitmap, and the disk states
//! and device size that follow from them.
//!
//! C counterpart: drbd_adm_attach(), open_backing_devices() and adm_detach() of drbd_nl.c,
//! drbd_md_read() of drbd_main.c; the meta data I/O is in [`crate::meta::io`]. Not yet:
//! resync-after, on-io-error.

use super::config::{Conf, Name, OUT_OF_RANGE};
use super::nla::{Fields, TopLevel, Value};
use super::retcode::RetCode;
use super::structs::{DISK_CONF, RESIZE_PARMS};
use crate::actlog::lru::{ActLog, Slot};
use crate::bitmap::math::{bits_for_capacity, words_for_bits, Bits};
use crate::device::{AlBufs, Device, IoLdev, Ldev};
use crate::meta::io::{block, initialize_al, read_bitmap, write_bitmap, write_superblock};
use crate::meta::layout::{check, Layout, MetaIndex, Superblock, MDF_AL_DISABLED, MDF_FULL_SYNC};
use crate::model::attach::{
    attach_disk_states, crashed_primary, md_flags, new_dev_size, sanitize_al_extents, SizeInputs,
};
use crate::model::conflict::InFlight;
use crate::model::state::{ConnState, DiskState, Role};
use crate::model::transition::Fact;
use crate::sys::bdev::Bdev;
use kernel::ffi::c_void;
use kernel::prelude::*;
use kernel::str::CStr;
use kernel::sync::Arc;

/// The claim of meta data devices that several minors may share (indexed external meta data),
/// as the C module's `drbd_m_holder`.
static SHARED_MD_HOLDER: u8 = 0;

/// The largest bio the peer takes before we know better (`DRBD_MAX_BIO_SIZE_SAFE`).
const MAX_BIO_SIZE_SAFE: u32 = 4096;

/// Logs a line about a device as drbd_err() does ("drbd <res>/<vol> drbd<minor>: ...").
pub(crate) fn log(res: &Name, d: &Device, what: &dyn core::fmt::Display) {
    pr_err!("{}/{} drbd{}: {}\n", res, d.volume, d.minor, what);
}

/// A device path from the request, NUL-terminated for the kernel.
fn path(bytes: &[u8]) -> Result<KVec<u8>, RetCode> {
    let mut v = KVec::with_capacity(bytes.len() + 1, GFP_KERNEL).map_err(|_| RetCode::NoMem)?;
    v.extend_from_slice(bytes, GFP_KERNEL)
        .map_err(|_| RetCode::NoMem)?;
    v.push(0, GFP_KERNEL).map_err(|_| RetCode::NoMem)?;
    Ok(v)
}

/// Opens `path` as open_backing_dev() does, logging a failure like the C module.
fn open(res: &Name, d: &Device, path: &[u8], holder: *const c_void) -> Option<Bdev> {
    let name = CStr::from_bytes_with_nul(path).ok()?;
    match Bdev::open(name, holder) {
        Ok(bdev) => Some(bdev),
        Err(e) => {
            let msg = kernel::fmt!(
                "open(\"{}\") failed with {}",
                name.to_str().unwrap_or("?"),
                e.to_errno()
            );
            log(res, d, &msg);
            None
        }
    }
}

/// The disk configuration of an attach request, on the heap (`disk_conf_from_attrs`). Not
/// inlined: its 1 KiB of decoded fields must not stay on the stack of the rest of attach.
#[inline(never)]
fn disk_conf(top: &TopLevel<'_>) -> Result<KBox<Conf>, (RetCode, &'static str)> {
    let missing = (RetCode::MandatoryTag, "required attribute missing");
    let invalid = (RetCode::MandatoryTag, "invalid attribute value");
    let nest = top.get(DISK_CONF.tla).ok_or(missing)?;
    let fields = Fields::parse(&DISK_CONF, nest.payload).map_err(|_| invalid)?;
    fields.require().map_err(|_| missing)?;
    let mut conf =
        KBox::new(Conf::defaults(&DISK_CONF), GFP_KERNEL).map_err(|_| (RetCode::NoMem, ""))?;
    conf.update(&fields).map_err(|_| invalid)?;
    check_range(&conf)?;
    Ok(conf)
}

/// Refuses a disk configuration with a value outside drbd_limits.h, with a log line.
fn check_range(conf: &Conf) -> Result<(), (RetCode, &'static str)> {
    match conf.out_of_range() {
        Some(bad) => {
            pr_info!("disk options refused: {}\n", bad);
            Err((RetCode::MandatoryTag, OUT_OF_RANGE))
        }
        None => Ok(()),
    }
}

/// `drbd_adm_attach`. Not inlined, to keep its frame off the handler's.
#[inline(never)]
pub(crate) fn attach(res: &Name, dev: &mut Device, top: &TopLevel<'_>) -> (RetCode, &'static str) {
    // if you want to reconfigure, tear down first
    if dev.state.disk != DiskState::Diskless {
        return (RetCode::DiskConfigured, "");
    }
    let mut conf = match disk_conf(top) {
        Ok(conf) => conf,
        Err(answer) => return answer,
    };
    let (Some(Value::Str(backing)), Some(Value::Str(meta)), Some(Value::S32(idx))) = (
        conf.value("backing_dev"),
        conf.value("meta_dev"),
        conf.value("meta_dev_idx"),
    ) else {
        return (RetCode::MandatoryTag, "required attribute missing");
    };
    let disk_size = conf.num("disk_size") as u64;
    let Some(index) = MetaIndex::from_idx(idx) else {
        return (RetCode::MdIdxInvalid, "");
    };
    let (backing, meta) = match (path(backing), path(meta)) {
        (Ok(b), Ok(m)) => (b, m),
        _ => return (RetCode::NoMem, ""),
    };

    // Both claims are the device's own, but for indexed meta data, which minors may share.
    let holder = dev.holder();
    let Some(backing) = open(res, dev, &backing, holder) else {
        return (RetCode::OpenDisk, "");
    };
    let md_holder = match index {
        MetaIndex::Indexed(_) => core::ptr::addr_of!(SHARED_MD_HOLDER).cast(),
        _ => holder,
    };
    let Some(md) = open(res, dev, &meta, md_holder) else {
        return (RetCode::OpenMdDisk, "");
    };
    if backing.same_device(&md) != (index == MetaIndex::Internal) {
        return (RetCode::MdIdxInvalid, "");
    }

    // drbd_md_read()
    let md_capacity = md.capacity();
    let Ok(mut buf) = block() else {
        return (RetCode::NoMem, "");
    };
    let read = index
        .superblock_sector(md_capacity)
        .map(|s| md.read_4k(s, &mut buf));
    if !matches!(read, Some(Ok(()))) {
        log(res, dev, &"Error while reading metadata.");
        return (RetCode::IoMdDisk, "");
    }
    let mut sb = Superblock::decode(&buf);
    let layout = match check(&sb, index, md_capacity) {
        Ok(layout) => layout,
        Err(e) => {
            log(res, dev, &e);
            let ret = if e.unclean() {
                RetCode::MdUnclean
            } else {
                RetCode::MdInvalid
            };
            return (ret, "");
        }
    };
    let max = layout.max_capacity(backing.capacity());
    if max < disk_size {
        log(res, dev, &"max capacity smaller than disk size");
        return (RetCode::DiskTooSmall, "");
    }
    if md_capacity < Layout::min_md_device(index) {
        log(res, dev, &"refusing attach: md-device too small");
        return (RetCode::MdDiskTooSmall, "");
    }

    // From here on the disk is Attaching (C: NS(disk, D_ATTACHING)); a failure makes it
    // Diskless again.
    dev.apply(res, Fact::Disk(DiskState::Attaching));
    let answer = 'attaching: {
        // The device's size, and its bitmap.
        let size = new_dev_size(SizeInputs {
            la_size: sb.la_size_sect,
            my_max: max,
            peer: 0,
            user: disk_size,
        });
        if size.user_too_big {
            let msg = kernel::fmt!(
                "Requested disk size is too big ({} > {})",
                disk_size / 2,
                size.sectors / 2
            );
            log(res, dev, &msg);
        }
        let bits = bits_for_capacity(size.sectors);
        let Ok(words) = usize::try_from(words_for_bits(bits)) else {
            break 'attaching (RetCode::NoMemBitmap, "");
        };
        let Ok(mut bitmap) = KVVec::from_elem(0u64, words, GFP_KERNEL) else {
            break 'attaching (RetCode::NoMemBitmap, "");
        };
        let mut bits_set = match read_bitmap(&md, &layout, bitmap.as_mut_slice(), bits) {
            Ok(n) => n,
            Err(ret) => break 'attaching (ret, ""),
        };
        if sb.flags & MDF_FULL_SYNC != 0 {
            pr_info!(
                "{}/{} drbd{}: Assuming that all blocks are out of sync (aka FullSync)\n",
                res,
                dev.volume,
                dev.minor
            );
            if let Ok(mut view) = Bits::new(bitmap.as_mut_slice(), bits) {
                view.set_range(0..bits);
                bits_set = bits;
            }
        }

        // A grown device: the new part is out of sync (drbd_bm_resize(..., set_new_bits)).
        let old_bits = bits_for_capacity(sb.la_size_sect).min(bits);
        let size_changed = sb.la_size_sect != size.sectors;
        if size_changed {
            if let Ok(mut view) = Bits::new(bitmap.as_mut_slice(), bits) {
                bits_set += view.set_range(old_bits..bits);
            }
        }

        // The disk states, and the meta data that records them.
        let fencing_dont_care = conf.num("fencing") == 0;
        let (disk, pdsk) = attach_disk_states(sb.flags, fencing_dont_care);
        let pdsk = pdsk.unwrap_or(dev.state.pdsk);
        let crashed = crashed_primary(sb.flags);
        let al_updates = conf.num("al_updates") != 0;
        sb.flags = md_flags(sb.flags, false, disk, pdsk, crashed, al_updates);
        sb.la_size_sect = size.sectors;
        sb.uuid[0] &= !1; // not Primary
        sb.al_nr_extents = conf.num("al_extents") as u32;
        sb.al_stripes = layout.al_stripes;
        sb.al_stripe_size_4k = layout.al_stripe_size_4k;
        sb.la_peer_max_bio_size = sb.la_peer_max_bio_size.max(MAX_BIO_SIZE_SAFE);
        let (Ok(backing), Ok(md)) = (Arc::new(backing, GFP_KERNEL), Arc::new(md, GFP_KERNEL))
        else {
            break 'attaching (RetCode::NoMem, "");
        };
        let al_extents = sanitize_al_extents(conf.num("al_extents"), layout.al_size_4k);
        conf.set_num("al_extents", i64::from(al_extents));
        let al_extents = al_extents as usize;
        let (Ok(slots), Ok(al_bufs)) = (
            KVec::from_elem(Slot::FREE, al_extents, GFP_KERNEL),
            AlBufs::new(),
        ) else {
            break 'attaching (RetCode::NoMem, "");
        };
        let Ok(al) = ActLog::new(slots, 0) else {
            break 'attaching (RetCode::NoMem, "");
        };
        // every request the queue holds may be a write in flight
        let Ok(writes) = KVec::from_elem(None, crate::sys::blk::QUEUE_DEPTH, GFP_KERNEL) else {
            break 'attaching (RetCode::NoMem, "");
        };
        let writes = InFlight::new(writes);
        let io = IoLdev {
            data: backing.clone(),
            md: md.clone(),
            layout,
            bitmap,
            bits,
            sectors: size.sectors,
            bits_set,
            al_writes: 0,
            // all out of sync: nothing for the log to track (drbd_suspend_al())
            al_suspended: bits_set == bits,
            al_updates,
            al,
            al_bufs: Some(al_bufs),
            writes,
        };
        let ldev = Ldev {
            _backing: backing,
            md,
            layout,
            sb,
            written: None,
            conf,
            crashed,
            al_updates,
        };
        let (Ok(mut io), Ok(mut ldev)) = (KBox::new(io, GFP_KERNEL), KBox::new(ldev, GFP_KERNEL))
        else {
            break 'attaching (RetCode::NoMem, "");
        };
        // drbd_determine_dev_size(): a new size rewrites the activity log and the whole bitmap.
        let written = if size_changed {
            initialize_al(&mut io).and_then(|()| write_bitmap(&mut io))
        } else {
            Ok(())
        };
        if let Err(ret) = written.and_then(|()| write_superblock(&mut ldev)) {
            log(res, dev, &"meta data write failed");
            break 'attaching (ret, "");
        }
        {
            // no request in flight while the disk and its limits change
            let frozen = dev.disk.freeze();
            let max = crate::wire::packet::DRBD_MAX_BIO_SIZE;
            if dev.disk.stack_limits(&frozen, &io.data, max).is_err() {
                log(
                    res,
                    dev,
                    &"could not take the backing device's queue limits",
                );
            }
            *dev.io.ldev.lock() = Some(io);
        }
        dev.apply(res, Fact::Attached { disk, pdsk });
        dev.size = size.sectors;
        dev.disk.set_capacity(size.sectors);
        dev.ldev = Some(ldev);
        (RetCode::NoError, "")
    };
    if answer.0 != RetCode::NoError {
        dev.apply(res, Fact::Disk(DiskState::Diskless));
    }
    answer
}

/// `adm_detach`: write the bitmap and the meta data back, release the disk, go Diskless.
/// Detaching a Diskless device has nothing to do, and succeeds.
pub(crate) fn detach(res: &Name, dev: &mut Device) -> (RetCode, &'static str) {
    let Some(mut ldev) = dev.ldev.take() else {
        return (RetCode::NoError, "");
    };
    // wait for the requests in flight; later ones fail, as on a Diskless device
    let io = {
        let _frozen = dev.disk.freeze();
        let io = dev.io.ldev.lock().take();
        io
    };
    let bitmap = io.map_or(Ok(()), |mut io| write_bitmap(&mut io));
    if bitmap.and_then(|()| write_superblock(&mut ldev)).is_err() {
        log(res, dev, &"meta data write failed while detaching");
    }
    drop(ldev);
    // C goes through Failed, announcing both changes
    dev.apply(res, Fact::Disk(DiskState::Failed));
    dev.apply(res, Fact::Detached);
    dev.size = 0;
    dev.disk.set_capacity(0);
    (RetCode::NoError, "")
}

/// `drbd_adm_disk_opts`: changes the options of an attached disk. The devices (invariant) stay;
/// a new `al-extents` gets a new, empty active set once no write is in flight, as
/// drbd_check_al_size() swaps in a new cache; `al-updates` is recorded in the meta data flags.
#[inline(never)]
pub(crate) fn disk_options(
    res: &Name,
    dev: &mut Device,
    top: &TopLevel<'_>,
    set_defaults: bool,
) -> (RetCode, &'static str) {
    let Some(ldev) = dev.ldev.as_mut() else {
        return (RetCode::NoDisk, "");
    };
    let Ok(mut conf) = KBox::new(*ldev.conf, GFP_KERNEL) else {
        return (RetCode::NoMem, "");
    };
    if set_defaults {
        conf.reset_changeable();
    }
    if let Err(answer) = conf.apply(top, true).and_then(|()| check_range(&conf)) {
        return answer;
    }
    let al_extents = sanitize_al_extents(conf.num("al_extents"), ldev.layout.al_size_4k);
    conf.set_num("al_extents", i64::from(al_extents));
    let al_updates = conf.num("al_updates") != 0;

    // A new active set of the new size, swapped in with no write in flight.
    let resize = ldev.conf.num("al_extents") != i64::from(al_extents);
    let new_slots = if resize {
        match KVec::from_elem(Slot::FREE, al_extents as usize, GFP_KERNEL) {
            Ok(slots) => Some(slots),
            Err(_) => return (RetCode::NoMem, ""),
        }
    } else {
        None
    };
    {
        let _frozen = dev.disk.freeze();
        let mut guard = dev.io.ldev.lock();
        if let Some(io) = guard.as_mut() {
            if let Some(slots) = new_slots {
                match ActLog::new(slots, io.al.tr_number()) {
                    Ok(al) if io.al.idle() => io.al = al,
                    _ => {
                        return (
                            RetCode::NoMem,
                            "Try again without changing current al-extents setting",
                        )
                    }
                }
            }
            io.al_updates = al_updates;
        }
    }
    ldev.conf = conf;
    ldev.al_updates = al_updates;
    let _ = dev.md_sync(res);
    (RetCode::NoError, "")
}

/// The parameters of a `resize` request (`resize_parms_from_attrs()`).
struct ResizeParms {
    /// `--size`, sectors; 0 for "as large as possible".
    size: u64,
    force: bool,
    no_resync: bool,
    al_stripes: u32,
    /// KiB.
    al_stripe_size: u32,
}

/// Decodes the resize parameters; the activity log layout defaults to the current one. Not
/// inlined: the decoded fields stay off the handler's frame.
#[inline(never)]
fn resize_parms(top: &TopLevel<'_>, layout: &Layout) -> Result<ResizeParms, &'static str> {
    let mut rs = ResizeParms {
        size: 0,
        force: false,
        no_resync: false,
        al_stripes: layout.al_stripes,
        al_stripe_size: layout.al_stripe_size_4k.saturating_mul(4),
    };
    let Some(nest) = top.get(RESIZE_PARMS.tla) else {
        return Ok(rs);
    };
    let fields =
        Fields::parse(&RESIZE_PARMS, nest.payload).map_err(|_| "invalid attribute value")?;
    if let Some(Value::U64(v)) = fields.get("resize_size") {
        rs.size = v;
    }
    if let Some(Value::Flag(v)) = fields.get("resize_force") {
        rs.force = v;
    }
    if let Some(Value::Flag(v)) = fields.get("no_resync") {
        rs.no_resync = v;
    }
    if let Some(Value::U32(v)) = fields.get("al_stripes") {
        rs.al_stripes = v;
    }
    if let Some(Value::U32(v)) = fields.get("al_stripe_size") {
        rs.al_stripe_size = v;
    }
    Ok(rs)
}

/// `drbd_adm_resize` while not connected: the device takes the size `--size` asks for (0: all the
/// backing device offers with the current meta data layout). A new size gets a resized bitmap
/// (new blocks out of sync; `--assume-clean` needs a peer of protocol 93, as in C), a rewritten
/// activity log and bitmap, and the new size in the superblock (drbd_determine_dev_size()).
/// Not yet: moving internal meta data to the end of a grown backing device, and changing the
/// activity log layout.
#[inline(never)]
pub(crate) fn resize(res: &Name, dev: &mut Device, top: &TopLevel<'_>) -> (RetCode, &'static str) {
    let state = dev.state;
    let Some(ldev) = dev.ldev.as_mut() else {
        return (RetCode::NoDisk, "");
    };
    let rs = match resize_parms(top, &ldev.layout) {
        Ok(rs) => rs,
        Err(text) => return (RetCode::MandatoryTag, text),
    };
    if state.conn > ConnState::Connected {
        return (RetCode::ResizeResync, "");
    }
    if state.conn == ConnState::Connected {
        // C sends the new size (P_SIZES) and the peer follows; drbd-rs agrees on sizes only
        // when connecting
        return (
            RetCode::InvalidRequest,
            "drbd-rs does not resize a connected device yet; disconnect, resize both, connect",
        );
    }
    if state.role == Role::Secondary && state.peer == Role::Secondary {
        return (RetCode::NoPrimary, "");
    }
    if rs.no_resync {
        // the peer must agree on protocol 93 or later; without one there is no agreement
        return (RetCode::NeedApv93, "");
    }
    let l = ldev.layout;
    if l.al_stripes != rs.al_stripes || l.al_stripe_size_4k != rs.al_stripe_size / 4 {
        let al_size_k = u64::from(rs.al_stripes) * u64::from(rs.al_stripe_size);
        if al_size_k > 16 * 1024 * 1024 {
            return (RetCode::MdLayoutTooBig, "");
        }
        if al_size_k < 32 {
            return (RetCode::MdLayoutTooSmall, "");
        }
        if state.conn != ConnState::Connected && !rs.force {
            return (RetCode::MdLayoutConnected, "");
        }
        return (
            RetCode::InvalidRequest,
            "changing the activity log layout is not implemented yet by drbd-rs",
        );
    }
    let max = l.max_capacity(ldev._backing.capacity());
    let size = new_dev_size(SizeInputs {
        la_size: ldev.sb.la_size_sect,
        my_max: max,
        peer: 0,
        user: rs.size,
    });
    let no_fit = size.sectors < ldev.sb.la_size_sect && rs.size > size.sectors;
    if size.user_too_big {
        let msg = kernel::fmt!(
            "Requested disk size is too big ({} > {})",
            rs.size / 2,
            size.sectors / 2
        );
        log(res, dev, &msg);
    }
    if no_fit {
        return (RetCode::MdLayoutNoFit, "");
    }
    let Some(ldev) = dev.ldev.as_mut() else {
        return (RetCode::NoDisk, "");
    };
    ldev.conf.set_num("disk_size", rs.size as i64);
    let new_sectors = size.sectors;
    if new_sectors == dev.size && new_sectors == ldev.sb.la_size_sect {
        let _ = write_superblock(ldev);
        return (RetCode::NoError, "");
    }

    match change_size(res, dev, new_sectors) {
        Ok(()) => (RetCode::NoError, ""),
        Err(ret) => (ret, ""),
    }
}

/// drbd_determine_dev_size() for a size that changes: a bitmap of the new size (new blocks out of
/// sync), the activity log and the whole bitmap rewritten, the size in the superblock, and the
/// new capacity, with no request in flight meanwhile.
pub(crate) fn change_size(res: &Name, dev: &mut Device, new_sectors: u64) -> Result<(), RetCode> {
    // A bitmap of the new size, filled outside the lock.
    let new_bits = bits_for_capacity(new_sectors);
    let Ok(words) = usize::try_from(words_for_bits(new_bits)) else {
        return Err(RetCode::NoMemBitmap);
    };
    let Ok(mut bitmap) = KVVec::from_elem(0u64, words, GFP_KERNEL) else {
        return Err(RetCode::NoMemBitmap);
    };
    let frozen = dev.disk.freeze();
    let Some(mut io) = dev.io.ldev.lock().take() else {
        return Err(RetCode::NoDisk);
    };
    let old_bits = io.bits;
    let keep = words.min(io.bitmap.len());
    bitmap.as_mut_slice()[..keep].copy_from_slice(&io.bitmap.as_slice()[..keep]);
    if let Ok(mut view) = Bits::new(bitmap.as_mut_slice(), new_bits) {
        // (new() clears the bits beyond the new end, left from a larger device); new blocks
        // are out of sync
        view.set_range(old_bits.min(new_bits)..new_bits);
        io.bits_set = view.count();
    }
    io.bitmap = bitmap;
    io.bits = new_bits;
    io.sectors = new_sectors;

    // The on-disk bitmap and log are unreliable until rewritten (drbd_determine_dev_size()).
    let ldev = dev.ldev.as_mut();
    let written = match ldev {
        Some(ldev) => {
            let flags = ldev.sb.flags;
            ldev.sb.flags |= MDF_FULL_SYNC | MDF_AL_DISABLED;
            ldev.sb.la_size_sect = new_sectors;
            let w = write_superblock(ldev)
                .and_then(|()| initialize_al(&mut io))
                .and_then(|()| write_bitmap(&mut io));
            ldev.sb.flags = flags;
            w.and_then(|()| write_superblock(ldev))
        }
        None => Err(RetCode::NoDisk),
    };
    *dev.io.ldev.lock() = Some(io);
    drop(frozen);
    dev.size = new_sectors;
    dev.disk.set_capacity(new_sectors);
    pr_info!(
        "{}/{} drbd{}: size = {} KiB\n",
        res,
        dev.volume,
        dev.minor,
        new_sectors / 2
    );
    match written {
        Ok(()) => Ok(()),
        Err(ret) => {
            log(res, dev, &"meta data write failed while resizing");
            Err(ret)
        }
    }
}
