// SPDX-License-Identifier: GPL-2.0
//! The disk commands `attach`, `resize` and `disk-options`: their requests decoded for the
//! device functions of [`crate::device::attach`], which do the rest (`detach` carries nothing to
//! decode, and goes there directly).
//!
//! C counterpart: the decoding parts of drbd_adm_attach(), drbd_adm_resize() and
//! drbd_adm_disk_opts() of drbd_nl.c, with `disk_conf_from_attrs()` and
//! `resize_parms_from_attrs()` of genl_magic_func.h.

use super::config::{Conf, Name, OUT_OF_RANGE};
use super::nla::{Fields, TopLevel, Value};
use super::retcode::RetCode;
use super::structs::{DISK_CONF, RESIZE_PARMS};
use crate::device::attach::{self, AttachParms, ResizeParms};
use crate::device::Device;
use crate::meta::layout::MetaIndex;
use kernel::prelude::*;

/// A device path from the request, NUL-terminated for the kernel.
fn path(bytes: &[u8]) -> Result<KVec<u8>, RetCode> {
    let mut v = KVec::with_capacity(bytes.len() + 1, GFP_KERNEL).map_err(|_| RetCode::NoMem)?;
    v.extend_from_slice(bytes, GFP_KERNEL)
        .map_err(|_| RetCode::NoMem)?;
    v.push(0, GFP_KERNEL).map_err(|_| RetCode::NoMem)?;
    Ok(v)
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

/// Decodes an attach request: its disk configuration, the devices it names and where the meta
/// data are.
fn attach_parms(top: &TopLevel<'_>) -> Result<AttachParms, (RetCode, &'static str)> {
    let conf = disk_conf(top)?;
    let (Some(Value::Str(backing)), Some(Value::Str(meta)), Some(Value::S32(idx))) = (
        conf.value("backing_dev"),
        conf.value("meta_dev"),
        conf.value("meta_dev_idx"),
    ) else {
        return Err((RetCode::MandatoryTag, "required attribute missing"));
    };
    let Some(index) = MetaIndex::from_idx(idx) else {
        return Err((RetCode::MdIdxInvalid, ""));
    };
    let (backing, meta) = match (path(backing), path(meta)) {
        (Ok(b), Ok(m)) => (b, m),
        _ => return Err((RetCode::NoMem, "")),
    };
    Ok(AttachParms {
        conf,
        backing,
        meta,
        index,
    })
}

/// `attach` (drbd_adm_attach()). Not inlined, to keep its frame off the handler's.
#[inline(never)]
pub(super) fn attach(res: &Name, dev: &mut Device, top: &TopLevel<'_>) -> (RetCode, &'static str) {
    if let Err(ret) = attach::attachable(dev) {
        return (ret, "");
    }
    match attach_parms(top) {
        Ok(parms) => attach::attach(res, dev, parms),
        Err(answer) => answer,
    }
}

/// `disk-options` (drbd_adm_disk_opts()): the disk's configuration, back to its defaults with
/// `--set-defaults` (`set_defaults`), with the request's changes. Not inlined, to keep its frame
/// off the handler's.
#[inline(never)]
pub(super) fn disk_options(
    res: &Name,
    dev: &mut Device,
    top: &TopLevel<'_>,
    set_defaults: bool,
) -> (RetCode, &'static str) {
    let mut conf = match attach::disk_conf(dev) {
        Ok(conf) => conf,
        Err(ret) => return (ret, ""),
    };
    if set_defaults {
        conf.reset_changeable();
    }
    if let Err(answer) = conf.apply(top, true).and_then(|()| check_range(&conf)) {
        return answer;
    }
    attach::disk_options(res, dev, conf)
}

/// Decodes the resize parameters (`resize_parms_from_attrs()`) onto `rs`. Not inlined: the
/// decoded fields stay off the handler's frame.
#[inline(never)]
fn resize_parms(top: &TopLevel<'_>, rs: &mut ResizeParms) -> Result<(), &'static str> {
    let Some(nest) = top.get(RESIZE_PARMS.tla) else {
        return Ok(());
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
    Ok(())
}

/// `resize` (drbd_adm_resize()): the request's parameters on top of the device's (the current
/// activity log layout). Not inlined, to keep its frame off the handler's.
#[inline(never)]
pub(super) fn resize(res: &Name, dev: &mut Device, top: &TopLevel<'_>) -> (RetCode, &'static str) {
    let mut rs = match attach::resize_defaults(dev) {
        Ok(rs) => rs,
        Err(ret) => return (ret, ""),
    };
    if let Err(text) = resize_parms(top, &mut rs) {
        return (RetCode::MandatoryTag, text);
    }
    attach::resize(res, dev, &rs)
}
