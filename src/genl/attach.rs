// SPDX-License-Identifier: GPL-2.0
//! `attach`: open the backing and meta data devices and check the meta data.
//!
//! C counterpart: drbd_adm_attach() and open_backing_devices() of drbd_nl.c, drbd_md_read() of
//! drbd_main.c. What is here runs every check the C module runs before it changes the device's
//! state, with its result codes and log lines. Attaching itself (bitmap, activity log, state
//! change, the data path) is not implemented yet: a disk that passes the checks is released
//! again and the request refused with "not implemented yet".

use super::nla::{Fields, TopLevel, Value};
use super::retcode::RetCode;
use super::structs::DISK_CONF;
use crate::meta::layout::{check, Layout, MetaIndex, Superblock, SUPERBLOCK_BYTES};
use crate::model::state::DiskState;
use crate::resource::{Config, Device, Resource};
use crate::sys::bdev::Bdev;
use kernel::ffi::c_void;
use kernel::prelude::*;
use kernel::str::CStr;

/// The claim of meta data devices that several minors may share (indexed external meta data),
/// as the C module's `drbd_m_holder`.
static SHARED_MD_HOLDER: u8 = 0;

/// A device path from the request, NUL-terminated for the kernel.
fn path(bytes: &[u8]) -> Result<KVec<u8>, RetCode> {
    let mut v = KVec::with_capacity(bytes.len() + 1, GFP_KERNEL).map_err(|_| RetCode::NoMem)?;
    v.extend_from_slice(bytes, GFP_KERNEL)
        .map_err(|_| RetCode::NoMem)?;
    v.push(0, GFP_KERNEL).map_err(|_| RetCode::NoMem)?;
    Ok(v)
}

/// Opens `path` as open_backing_dev() does, logging a failure like the C module.
fn open(r: &Resource, d: &Device, path: &[u8], holder: *const c_void) -> Option<Bdev> {
    let name = CStr::from_bytes_with_nul(path).ok()?;
    match Bdev::open(name, holder) {
        Ok(bdev) => Some(bdev),
        Err(e) => {
            pr_err!(
                "{}/{} drbd{}: open(\"{}\") failed with {}\n",
                r.name,
                d.volume,
                d.minor,
                name.to_str().unwrap_or("?"),
                e.to_errno()
            );
            None
        }
    }
}

/// `drbd_adm_attach` up to the point where the C module changes the device's state.
pub(crate) fn attach(
    config: &Config,
    (r, v): (usize, usize),
    top: &TopLevel<'_>,
) -> (RetCode, &'static str) {
    let Some((res, dev)) = config
        .resources
        .get(r)
        .and_then(|res| Some((res, res.devices.get(v)?)))
    else {
        return (RetCode::MinorInvalid, "unknown minor");
    };
    // if you want to reconfigure, tear down first
    if dev.state.disk != DiskState::Diskless {
        return (RetCode::DiskConfigured, "");
    }
    let Some(conf) = top.get(DISK_CONF.tla) else {
        return (RetCode::MandatoryTag, "required attribute missing");
    };
    let Ok(conf) = Fields::parse(&DISK_CONF, conf.payload) else {
        return (RetCode::MandatoryTag, "invalid attribute value");
    };
    if conf.require().is_err() {
        return (RetCode::MandatoryTag, "required attribute missing");
    }
    let (Some(Value::Str(backing)), Some(Value::Str(meta)), Some(Value::S32(idx))) = (
        conf.get("backing_dev"),
        conf.get("meta_dev"),
        conf.get("meta_dev_idx"),
    ) else {
        return (RetCode::MandatoryTag, "required attribute missing");
    };
    let disk_size = match conf.get("disk_size") {
        Some(Value::U64(s)) => s,
        _ => 0,
    };
    let Some(index) = MetaIndex::from_idx(idx) else {
        return (RetCode::MdIdxInvalid, "");
    };
    let (backing, meta) = match (path(backing), path(meta)) {
        (Ok(b), Ok(m)) => (b, m),
        _ => return (RetCode::NoMem, ""),
    };

    // Both claims are the device's own (its open gate lives as long as it), but for indexed
    // meta data, which other minors may share.
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

    let log = |what: &dyn core::fmt::Display| {
        pr_err!("{}/{} drbd{}: {}\n", res.name, dev.volume, dev.minor, what);
    };
    let md_capacity = md.capacity();
    let mut block = [0u8; SUPERBLOCK_BYTES];
    let read = index
        .superblock_sector(md_capacity)
        .map(|s| md.read_4k(s, &mut block));
    if !matches!(read, Some(Ok(()))) {
        log(&"Error while reading metadata.");
        return (RetCode::IoMdDisk, "");
    }
    let layout: Layout = match check(&Superblock::decode(&block), index, md_capacity) {
        Ok(layout) => layout,
        Err(e) => {
            log(&e);
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
        log(&"max capacity smaller than disk size");
        return (RetCode::DiskTooSmall, "");
    }
    if md_capacity < Layout::min_md_device(index) {
        log(&"refusing attach: md-device too small");
        return (RetCode::MdDiskTooSmall, "");
    }

    pr_info!(
        "{}/{} drbd{}: meta data valid ({} sectors of data); attaching is not implemented yet\n",
        res.name,
        dev.volume,
        dev.minor,
        max
    );
    (RetCode::InvalidRequest, "not implemented yet by drbd-rs")
}
