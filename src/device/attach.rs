// SPDX-License-Identifier: GPL-2.0
//! A device's backing disk: attached with its meta data and bitmap, and the disk states and
//! device size that follow from them; detached; resized; its options changed.
//!
//! The functions take requests as [`crate::genl`] decodes them (the disk configuration, the
//! resize parameters) and answer with the reply's result code and info text.
//!
//! C counterpart: the device side of drbd_adm_attach(), adm_detach(), drbd_adm_resize() and
//! drbd_adm_disk_opts(), with open_backing_devices() and drbd_determine_dev_size(), of
//! drbd_nl.c, and drbd_md_read() of drbd_main.c; the meta data I/O is in [`crate::meta::io`].
//! Not yet: resync-after, on-io-error.

use super::helper::call_device_announced;
use super::{AlBufs, Config, Device, Drbd, IoLdev, Ldev};
use crate::actlog::lru::{ActLog, Slot};
use crate::bitmap::math::{bits_for_capacity, words_for_bits, Bits};
use crate::genl::config::{Conf, Name};
use crate::genl::retcode::RetCode;
use crate::meta::io::{block, initialize_al, read_bitmap, write_bitmap, write_superblock};
use crate::meta::layout::{check, Layout, MetaIndex, Superblock, MDF_AL_DISABLED, MDF_FULL_SYNC};
use crate::model::attach::{
    attach_disk_states, crashed_primary, md_flags, new_dev_size, sanitize_al_extents,
    use_degraded_wfc, SizeInputs,
};
use crate::model::attach::{
    diskless_size, grow_source, io_error, io_error_action, DisklessSize, IoErrorAction,
};
use crate::model::conflict::InFlight;
use crate::model::helper::Helper;
use crate::model::role::StateRv;
use crate::model::state::{ConnState, DevState, DiskState, Role, StateReq};
use crate::model::transition::{self, Fact};
use crate::net::link::Link;
use crate::proc::render::PpSize;
use crate::sys::bdev::Bdev;
use crate::sys::genl::{broadcast, Events};
use crate::wire::packet;
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::ffi::c_void;
use kernel::prelude::*;
use kernel::str::CStr;
use kernel::sync::lock::{mutex::MutexBackend, Guard};
use kernel::sync::Arc;

/// The claim of meta data devices that several minors may share (indexed external meta data),
/// as the C module's `drbd_m_holder`.
static SHARED_MD_HOLDER: u8 = 0;

/// Numbers the attachments of backing disks ([`IoLdev::id`]).
static LDEV_IDS: AtomicU64 = AtomicU64::new(0);

/// The largest bio the peer takes before we know better (`DRBD_MAX_BIO_SIZE_SAFE`).
const MAX_BIO_SIZE_SAFE: u32 = 4096;

/// Logs a line about a device as drbd_err() does ("drbd <res>/<vol> drbd<minor>: ...").
pub(crate) fn log(res: &Name, d: &Device, what: &dyn core::fmt::Display) {
    pr_err!("{}/{} drbd{}: {}\n", res, d.volume, d.minor, what);
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

/// An attach request, decoded (`disk_conf_from_attrs()`).
pub(crate) struct AttachParms {
    /// The disk configuration, checked against drbd_limits.h; `attach()` sanitizes its
    /// `al-extents` for the meta data's activity log.
    pub(crate) conf: KBox<Conf>,
    /// The backing device's path (`backing_dev`), NUL-terminated.
    pub(crate) backing: KVec<u8>,
    /// The meta data device's path (`meta_dev`), NUL-terminated.
    pub(crate) meta: KVec<u8>,
    /// Where on it the meta data are (`meta_dev_idx`).
    pub(crate) index: MetaIndex,
}

/// Whether the device can take a disk: only a Diskless one can (checked before the request is
/// decoded, as drbd_adm_attach() does).
pub(crate) fn attachable(dev: &Device) -> Result<(), RetCode> {
    // if you want to reconfigure, tear down first
    if dev.state.disk != DiskState::Diskless {
        return Err(RetCode::DiskConfigured);
    }
    Ok(())
}

/// `drbd_adm_attach` once the request is decoded. Not inlined, to keep its frame off the
/// handler's.
#[inline(never)]
pub(crate) fn attach(res: &Name, dev: &mut Device, parms: AttachParms) -> (RetCode, &'static str) {
    if let Err(ret) = attachable(dev) {
        return (ret, "");
    }
    let AttachParms {
        mut conf,
        backing,
        meta,
        index,
    } = parms;
    let disk_size = conf.num("disk_size") as u64;

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
    md.set_md_flushes(conf.num("md_flushes") != 0);
    dev.io
        .set_disk_timeout(u64::try_from(conf.num("disk_timeout")).unwrap_or(0));
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
        let degraded_wfc = use_degraded_wfc(dev.state.role == Role::Primary, sb.flags);
        sb.flags = md_flags(sb.flags, false, false, disk, pdsk, crashed, al_updates);
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
        // every request the queue holds may be a write in flight, and a SyncTarget's resync
        // requests are there too
        let slots = crate::sys::blk::QUEUE_DEPTH + crate::net::link::RS_PENDING_MAX;
        let Ok(writes) = KVec::from_elem(None, slots, GFP_KERNEL) else {
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
            id: LDEV_IDS.fetch_add(1, Ordering::Relaxed),
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
            read_error: false,
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
        // connected, the disk is Negotiating until the peer's report decides (C: the last
        // part of the attaching process in after_state_ch())
        let link = dev
            .io
            .link()
            .filter(|_| dev.state.conn >= ConnState::Connected);
        let fact = match link {
            Some(_) => {
                dev.pending_disk = Some(disk);
                Fact::Attached {
                    disk: DiskState::Negotiating,
                    pdsk: dev.state.pdsk,
                }
            }
            None => Fact::Attached { disk, pdsk },
        };
        dev.apply(res, fact);
        dev.degraded_wfc = degraded_wfc;
        dev.size = size.sectors;
        dev.disk.set_capacity(size.sectors);
        dev.ldev = Some(ldev);
        if let Some((l, volume)) = link {
            tell_attached(res, &l, volume, dev);
        }
        (RetCode::NoError, "")
    };
    if answer.0 != RetCode::NoError {
        dev.apply(res, Fact::Disk(DiskState::Diskless));
    }
    answer
}

/// A disk attached under a connection: the peer learns its sizes, UUIDs and state
/// (Negotiating), and answers with its own report, which decides a resync.
fn tell_attached(res: &Name, l: &Link, volume: u16, dev: &Device) {
    let sizes = crate::net::handshake::sizes(l.agreed, &dev.vol_info());
    let features = l.agreed.features;
    let st = packet::State {
        state: dev.state.to_u32(),
    };
    let sent = l
        .send_data(packet::P_SIZES, volume, |out| sizes.encode(features, out))
        .and_then(|()| super::role::send_uuids(l, volume, dev, 0))
        .and_then(|()| l.send_data(packet::P_STATE, volume, |out| st.encode(out)));
    if sent.is_err() {
        log(res, dev, &"could not tell the peer of the new disk");
    }
}

/// `adm_detach`: the disk goes Failed, then Diskless once no request is at it any more, the
/// bitmap and the meta data written back ([`go_diskless`]; right here if it is idle, else when
/// its last request comes back: the caller may wait for that without the configuration lock).
/// Checked as C checks the change to Failed (a Primary keeps access to UpToDate data:
/// SS_NO_UP_TO_DATE_DISK); while connected the peer must agree (cluster-wide) and learns both
/// states. `--force` makes the disk Failed without either (C: drbd_force_state()), for a disk
/// that does not answer. Connected to a peer with a disk, the device keeps its size and serves
/// its I/O through the peer. Detaching a Diskless device has nothing to do, and succeeds.
pub(crate) fn detach(res: &Name, dev: &mut Device, force: bool) -> (RetCode, &'static str) {
    if dev.ldev.is_none() || detaching(dev) {
        // (Failed already: the caller waits for it as for its own)
        return (RetCode::NoError, "");
    }
    if force {
        dev.apply(res, Fact::Disk(DiskState::Failed));
        tell_peer_state(dev);
        go_diskless(res, dev);
        return (RetCode::NoError, "");
    }
    let failed = DevState {
        disk: DiskState::Failed,
        ..dev.state
    };
    if let Err(rv) = transition::change(dev.state, failed, &dev.env(), false) {
        return super::role::refused(res, dev, rv);
    }
    let link = dev
        .io
        .link()
        .filter(|_| dev.state.conn >= ConnState::Connected);
    if let Some((l, volume)) = &link {
        let rv = l
            .request_state(*volume, StateReq::default().disk(DiskState::Failed), false)
            .map_or(StateRv::CwFailedByPeer, StateRv::from_peer);
        if rv != StateRv::Success {
            return super::role::refused(res, dev, rv);
        }
    }
    dev.apply(res, Fact::Disk(DiskState::Failed));
    tell_peer_state(dev);
    go_diskless(res, dev);
    (RetCode::NoError, "")
}

/// Whether the disk of `dev` is Failed and still attached: a detach waits for its requests.
pub(crate) fn detaching(dev: &Device) -> bool {
    dev.state.disk == DiskState::Failed && dev.ldev.is_some()
}

/// A connected peer learns our state (drbd_send_state()).
fn tell_peer_state(dev: &Device) {
    if dev.state.conn < ConnState::Connected {
        return;
    }
    if let Some((l, volume)) = dev.io.link() {
        let st = packet::State {
            state: dev.state.to_u32(),
        };
        let _ = l.send_data(packet::P_STATE, volume, |out| st.encode(out));
    }
}

/// go_diskless(): a Failed disk is released once no request is at it (new ones go to the peer,
/// or fail), the bitmap and the meta data written back as far as they can be (a bitmap that
/// cannot be written after a read error asks for a full sync); the device goes Diskless,
/// connected to a peer with a disk it keeps its size. Returns whether it was released: while
/// requests are at the disk it is not, and the last one to come back has the module's work
/// call again ([`DevIo::kick_detach`]). The requests of other paths (peer writes, resync) hold
/// the backing device open until they are done.
pub(crate) fn go_diskless(res: &Name, dev: &mut Device) -> bool {
    if !detaching(dev) {
        return dev.ldev.is_none();
    }
    let io = {
        let mut guard = dev.io.ldev.lock();
        if !dev.io.local_idle_now(&guard) {
            return false;
        }
        guard.take()
    };
    let Some(mut ldev) = dev.ldev.take() else {
        return true;
    };
    let bitmap = io.map_or(Ok(()), |mut io| write_bitmap(&mut io));
    if bitmap.is_err() && ldev.read_error {
        ldev.sb.flags |= MDF_FULL_SYNC;
    }
    if bitmap.and_then(|()| write_superblock(&mut ldev)).is_err() {
        log(res, dev, &"meta data write failed while detaching");
    }
    drop(ldev);
    dev.apply(res, Fact::Detached);
    tell_peer_state(dev);
    if dev.state.conn < ConnState::Connected || dev.state.pdsk < DiskState::Inconsistent {
        dev.size = 0;
        dev.disk.set_capacity(0);
    }
    true
}

/// A Diskless device takes the peer's size (receive_sizes(): drbd_set_my_capacity()).
pub(crate) fn take_peer_size(res: &Name, dev: &mut Device, sectors: u64) {
    if dev.ldev.is_some() || sectors == dev.size {
        return;
    }
    dev.size = sectors;
    dev.disk.set_capacity(sectors);
    pr_info!(
        "{}/{} drbd{}: size = {} ({} KB)\n",
        res,
        dev.volume,
        dev.minor,
        PpSize(sectors / 2),
        sectors / 2
    );
}

/// The events work: every device's local I/O errors under its `on-io-error` policy
/// (__drbd_chk_io_error_(), after_state_ch() for a disk gone Failed, go_diskless()). `pass_on`
/// makes the disk Inconsistent; `detach` and `call-local-io-error` make it Failed (told to the
/// peer), call the local-io-error helper for the latter without the configuration lock, and
/// then detach it ([`go_diskless`], also for a disk a detach made Failed, once its last
/// request came back). The pri-on-incon-degr calls state changes owe are made here too, and
/// the state changes of a congested link (`on-congestion`, [`Device::pull_ahead`]).
pub(crate) fn apply_io_errors(drbd: &Drbd) {
    let mut helpers = KVec::new();
    let mut any_detaching = false;
    {
        let mut config = drbd.config.lock();
        config.sync_conn_states();
        for res in config.resources.as_mut_slice() {
            let name = res.name;
            let peer = res.conn.as_ref().map(|c| c.peer);
            for d in res.devices.as_mut_slice() {
                if let Some(c) = d.io.take_congestion() {
                    d.pull_ahead(&name, c);
                }
                let bits = d.io.take_errors();
                let Some(policy) = d.ldev.as_ref().map(|l| l.conf.num("on_io_error")) else {
                    continue;
                };
                let origin = io_error::origin(bits);
                let action = io_error_action(policy, bits, d.state.disk);
                let detach = matches!(action, IoErrorAction::Detach { .. });
                if let Some(l) = d
                    .ldev
                    .as_mut()
                    .filter(|_| detach || d.state.disk == DiskState::Failed)
                {
                    l.read_error |= io_error::read(bits);
                }
                match action {
                    IoErrorAction::Nothing => {}
                    IoErrorAction::PassOn { inconsistent } => {
                        log(&name, d, &kernel::fmt!("Local IO failed in {}.", origin));
                        if inconsistent {
                            d.apply(&name, Fact::Disk(DiskState::Inconsistent));
                            tell_peer_state(d);
                        }
                    }
                    IoErrorAction::Detach { helper } => {
                        d.apply(&name, Fact::Disk(DiskState::Failed));
                        log(
                            &name,
                            d,
                            &kernel::fmt!("Local IO failed in {}. Detaching...", origin),
                        );
                        if helper {
                            let call = (name, d.volume, d.minor, peer, Helper::LocalIoError);
                            let _ = helpers.push(call, GFP_KERNEL);
                        }
                        tell_peer_state(d);
                    }
                }
                any_detaching |= detaching(d);
            }
        }
        // after the errors' own changes, which may owe it too
        for res in config.resources.as_slice() {
            let peer = res.conn.as_ref().map(|c| c.peer);
            for d in res.devices.iter().filter(|d| d.io.take_degraded_helper()) {
                let call = (res.name, d.volume, d.minor, peer, Helper::PriOnInconDegr);
                let _ = helpers.push(call, GFP_KERNEL);
            }
        }
        announce_all(config);
    }
    for (name, volume, minor, peer, helper) in helpers {
        call_device_announced(drbd, &name, volume, minor, helper, peer.as_ref());
    }
    if !any_detaching {
        return;
    }
    let mut config = drbd.config.lock();
    for res in config.resources.as_mut_slice() {
        let name = res.name;
        for d in res.devices.as_mut_slice() {
            go_diskless(&name, d);
        }
    }
    announce_all(config);
}

/// The state changes made under `config` go to the events group, once it is released.
fn announce_all(mut config: Guard<'_, Config, MutexBackend>) {
    let mut events = Events::new();
    for r in 0..config.resources.len() {
        crate::genl::announce_resource(&mut config, r, &mut events);
    }
    drop(config);
    broadcast(events);
}

/// The disk configuration a `disk-options` request changes: a copy of the attached disk's, on
/// the heap. Not inlined: the copy passes through its frame.
#[inline(never)]
pub(crate) fn disk_conf(dev: &Device) -> Result<KBox<Conf>, RetCode> {
    let Some(ldev) = dev.ldev.as_ref() else {
        return Err(RetCode::NoDisk);
    };
    KBox::new(*ldev.conf, GFP_KERNEL).map_err(|_| RetCode::NoMem)
}

/// `drbd_adm_disk_opts` once the request is decoded into `conf` (the disk's [`disk_conf`] with
/// the request's changes, checked against drbd_limits.h): changes the options of an attached
/// disk. The devices (invariant) stay; a new `al-extents` gets a new, empty active set once no
/// write is in flight, as drbd_check_al_size() swaps in a new cache; `al-updates` is recorded in
/// the meta data flags.
#[inline(never)]
pub(crate) fn disk_options(
    res: &Name,
    dev: &mut Device,
    mut conf: KBox<Conf>,
) -> (RetCode, &'static str) {
    let Some(ldev) = dev.ldev.as_mut() else {
        return (RetCode::NoDisk, "");
    };
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
    ldev.md.set_md_flushes(conf.num("md_flushes") != 0);
    dev.io
        .set_disk_timeout(u64::try_from(conf.num("disk_timeout")).unwrap_or(0));
    ldev.conf = conf;
    ldev.al_updates = al_updates;
    let _ = dev.md_sync(res);
    // a running resync goes on at the new pace, and the peer takes the settings over
    if let Some((link, volume)) = dev.io.link() {
        link.set_rate_conf(volume, dev.rate_conf());
        let _ = link.send_sync_param(volume, dev.vol_info().resync);
    }
    (RetCode::NoError, "")
}

/// receive_SyncParam(): the peer's resync settings replace ours (resync-rate; from protocol 95
/// on also the controller's), within the ranges `disk-options` allows (C takes any value), and
/// reach a running resync.
pub(crate) fn adopt_sync_param(
    dev: &mut Device,
    sp: &crate::wire::packet::SyncParam<'_>,
    apv: u32,
) {
    let Some(ldev) = dev.ldev.as_mut() else {
        return;
    };
    let mut set = |name: &str, value: u32| {
        let v = crate::genl::config::clamp_to_limits(name, i64::from(value));
        ldev.conf.set_num(name, v);
    };
    set("resync_rate", sp.resync_rate);
    if apv >= 95 {
        set("c_plan_ahead", sp.c_plan_ahead);
        set("c_delay_target", sp.c_delay_target);
        set("c_fill_target", sp.c_fill_target);
        set("c_max_rate", sp.c_max_rate);
    }
    if let Some((link, volume)) = dev.io.link() {
        link.set_rate_conf(volume, dev.rate_conf());
    }
}

/// The parameters of a `resize` request (`struct resize_parms`).
pub(crate) struct ResizeParms {
    /// `--size`, sectors; 0 for "as large as possible".
    pub(crate) size: u64,
    pub(crate) force: bool,
    pub(crate) no_resync: bool,
    pub(crate) al_stripes: u32,
    /// KiB.
    pub(crate) al_stripe_size: u32,
}

/// The parameters of a `resize` request before its attributes are decoded: the activity log
/// layout stays the current one. Only an attached disk can be resized.
pub(crate) fn resize_defaults(dev: &Device) -> Result<ResizeParms, RetCode> {
    let Some(ldev) = dev.ldev.as_ref() else {
        return Err(RetCode::NoDisk);
    };
    let layout = &ldev.layout;
    Ok(ResizeParms {
        size: 0,
        force: false,
        no_resync: false,
        al_stripes: layout.al_stripes,
        al_stripe_size: layout.al_stripe_size_4k.saturating_mul(4),
    })
}

/// `drbd_adm_resize` once the request is decoded (on [`resize_defaults`]): the device takes the
/// size `--size` asks for (0: all the backing device offers, with internal meta data moved to
/// the end of a grown backing device), as far as the peer's disk allows. A new size gets a
/// resized bitmap (new blocks out of sync; `--assume-clean` needs a peer of protocol 93, as in
/// C), a rewritten activity log and bitmap, and the new size in the superblock
/// (drbd_determine_dev_size()). Not yet: changing the activity log layout.
#[inline(never)]
pub(crate) fn resize(res: &Name, dev: &mut Device, rs: &ResizeParms) -> (RetCode, &'static str) {
    let state = dev.state;
    let Some(ldev) = dev.ldev.as_mut() else {
        return (RetCode::NoDisk, "");
    };
    if state.conn > ConnState::Connected {
        return (RetCode::ResizeResync, "");
    }
    if state.role == Role::Secondary && state.peer == Role::Secondary {
        return (RetCode::NoPrimary, "");
    }
    let link = dev.io.link().filter(|_| state.conn == ConnState::Connected);
    // the peer must agree on protocol 93 or later; without one there is no agreement
    if rs.no_resync && link.as_ref().map_or(true, |(l, _)| l.agreed.version < 93) {
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
    let backing = ldev._backing.capacity();
    let moved = l.relocated(backing);
    let size = new_dev_size(SizeInputs {
        la_size: ldev.sb.la_size_sect,
        my_max: moved.unwrap_or(l).max_capacity(backing),
        peer: if link.is_some() { dev.peer_max } else { 0 },
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
    let grew = new_sectors > dev.size;
    if moved.is_none() && new_sectors == dev.size && new_sectors == ldev.sb.la_size_sect {
        let _ = write_superblock(ldev);
    } else if let Err(ret) = change_size(res, dev, new_sectors, !rs.no_resync, moved) {
        return (ret, "");
    }
    // the peer learns the new sizes and answers with its own (it may grow too); the resync of
    // the new blocks begins with that answer
    if let Some((l, volume)) = link {
        dev.resize_pending |= grew;
        let flags = if rs.no_resync {
            packet::DDSF_NO_RESYNC
        } else {
            0
        } | if rs.force { packet::DDSF_FORCED } else { 0 };
        let sent = super::role::send_uuids(&l, volume, dev, 0)
            .and_then(|()| send_sizes(&l, volume, dev, true, flags));
        if sent.is_err() {
            log(res, dev, &"could not tell the peer of the new size");
        }
    }
    (RetCode::NoError, "")
}

/// drbd_send_sizes(): our sizes, with `dds_flags`; `trigger_reply` (a current size of 0) asks
/// the peer to answer with its own.
fn send_sizes(l: &Link, volume: u16, dev: &Device, trigger_reply: bool, flags: u16) -> Result {
    let mut sizes = crate::net::handshake::sizes(l.agreed, &dev.vol_info());
    if trigger_reply {
        sizes.c_size = 0;
    }
    sizes.dds_flags = flags;
    let features = l.agreed.features;
    l.send_data(packet::P_SIZES, volume, |out| sizes.encode(features, out))
}

/// receive_sizes() while connected: the peer's backing size (`d_size`) and requested size
/// (`u_size`, which we take over, as C does) may change ours (drbd_determine_dev_size(); the
/// new blocks out of sync unless `--assume-clean`); a peer whose current size differs from ours
/// learns our sizes. When the device grew, here or by our own `resize`, the new blocks are
/// resynced (resync_after_online_grow()): the Primary, or with two Secondaries the side that
/// resolves conflicts, becomes SyncSource (from the sender thread), the other waits for the
/// sync UUID. Returns the device's size; `None` drops the connection: a disk that attached
/// under the connection may not shrink our device (C: "The peer's disk size is too small!").
pub(crate) fn peer_sizes(
    res: &Name,
    dev: &mut Device,
    l: &Link,
    volume: u16,
    sz: &packet::Sizes,
) -> Option<u64> {
    dev.peer_max = sz.d_size;
    let old = dev.size;
    let Some(ldev) = dev.ldev.as_mut() else {
        match diskless_size(old, dev.state.role, sz.d_size, sz.u_size, sz.c_size) {
            DisklessSize::Keep => {}
            DisklessSize::IgnoredDiskless => {
                let msg = kernel::fmt!(
                    "Ignored diskless peer device size (peer:{} != me:{} sectors)!",
                    sz.c_size,
                    old
                );
                log(res, dev, &msg);
            }
            DisklessSize::TooSmall => {
                let msg = kernel::fmt!(
                    "The peer's device size is too small! ({} < {} sectors); demote me first!",
                    sz.c_size,
                    old
                );
                log(res, dev, &msg);
                return None;
            }
            DisklessSize::Take(sectors) => take_peer_size(res, dev, sectors),
        }
        return Some(dev.size);
    };
    let my_user = u64::try_from(ldev.conf.num("disk_size")).unwrap_or(0);
    if my_user != sz.u_size {
        pr_info!(
            "{}/{} drbd{}: Peer sets u_size to {} sectors (old: {})\n",
            res,
            dev.volume,
            dev.minor,
            sz.u_size,
            my_user
        );
        ldev.conf
            .set_num("disk_size", i64::try_from(sz.u_size).unwrap_or(0));
    }
    let backing = ldev._backing.capacity();
    let moved = ldev.layout.relocated(backing);
    let size = new_dev_size(SizeInputs {
        la_size: ldev.sb.la_size_sect,
        my_max: moved.unwrap_or(ldev.layout).max_capacity(backing),
        peer: sz.d_size,
        user: sz.u_size,
    });
    if size.user_too_big {
        let msg = kernel::fmt!(
            "Requested disk size is too big ({} > {})",
            sz.u_size / 2,
            size.sectors / 2
        );
        log(res, dev, &msg);
    }
    let s = dev.state;
    if size.sectors < old && s.disk >= DiskState::Outdated && s.pdsk == DiskState::Diskless {
        let msg = kernel::fmt!(
            "The peer's disk size is too small! ({} < {} sectors)",
            size.sectors,
            old
        );
        log(res, dev, &msg);
        return None;
    }
    let no_resync = sz.dds_flags & packet::DDSF_NO_RESYNC != 0;
    let changed = size.sectors != old || moved.is_some();
    if changed && change_size(res, dev, size.sectors, !no_resync, moved).is_err() {
        return Some(dev.size);
    }
    if sz.c_size != dev.size {
        // the peer needs to know our new size
        let _ = send_sizes(l, volume, dev, false, sz.dds_flags);
    }
    let grew = dev.size > old;
    let pending = core::mem::take(&mut dev.resize_pending);
    if (pending || grew) && s.conn == ConnState::Connected {
        if s.pdsk < DiskState::Inconsistent || s.disk < DiskState::Inconsistent {
            // (C resyncs after the next handshake: RESYNC_AFTER_NEG)
        } else if no_resync {
            pr_info!(
                "{}/{} drbd{}: Resync of new storage suppressed with --assume-clean\n",
                res,
                dev.volume,
                dev.minor
            );
        } else {
            pr_info!(
                "{}/{} drbd{}: Resync of new storage after online grow\n",
                res,
                dev.volume,
                dev.minor
            );
            if grow_source(s.role, s.peer, l.resolves_conflicts()) {
                l.queue_source_start(volume);
            } else {
                dev.apply(res, Fact::Resync(ConnState::WfSyncUuid));
            }
        }
    }
    Some(dev.size)
}

/// drbd_determine_dev_size() for a size or meta data place that changes: a bitmap of the new size
/// (new blocks out of sync unless `--assume-clean`: `set_new_bits` false), the activity log and
/// the whole bitmap rewritten, at the `moved` layout if there is one, the size in the
/// superblock, and the new capacity, with no request in flight meanwhile. A crash in between
/// finds the superblock at its new place asking for a full sync, or still at the old one.
pub(crate) fn change_size(
    res: &Name,
    dev: &mut Device,
    new_sectors: u64,
    set_new_bits: bool,
    moved: Option<Layout>,
) -> Result<(), RetCode> {
    // A bitmap of the new size, allocated outside the lock.
    let new_bits = bits_for_capacity(new_sectors);
    let Ok(words) = usize::try_from(words_for_bits(new_bits)) else {
        return Err(RetCode::NoMemBitmap);
    };
    let Ok(bitmap) = KVVec::from_elem(0u64, words, GFP_KERNEL) else {
        return Err(RetCode::NoMemBitmap);
    };
    let frozen = dev.disk.freeze();
    // the disk stays attached: the peer's writes go on meanwhile
    let io = dev.io.clone();
    let Some((md, layout, old)) =
        io.resize_bitmap(bitmap, new_bits, new_sectors, set_new_bits, moved)
    else {
        return Err(RetCode::NoDisk);
    };
    drop(old);
    let size_changed = new_sectors != dev.size
        || dev
            .ldev
            .as_ref()
            .is_some_and(|l| l.sb.la_size_sect != new_sectors);
    let why = match (size_changed, moved.is_some()) {
        (true, true) => "size changed and md moved",
        (true, false) => "size changed",
        _ => "md moved",
    };
    pr_info!(
        "{}/{} drbd{}: Writing the whole bitmap, {}\n",
        res,
        dev.volume,
        dev.minor,
        why
    );

    // The on-disk bitmap and log are unreliable until rewritten (drbd_determine_dev_size()).
    let written = match dev.ldev.as_mut() {
        Some(ldev) => {
            if moved.is_some() {
                ldev.layout = layout;
                ldev.sb.place(&layout);
                // the superblock is written at its new place even if it reads the same
                ldev.written = None;
            }
            let flags = ldev.sb.flags;
            ldev.sb.flags |= MDF_FULL_SYNC | MDF_AL_DISABLED;
            ldev.sb.la_size_sect = new_sectors;
            let w = write_superblock(ldev)
                .and_then(|()| io.initialize_al())
                .and_then(|()| io.write_bitmap(&md, &layout, new_bits));
            ldev.sb.flags = flags;
            w.and_then(|()| write_superblock(ldev))
        }
        None => Err(RetCode::NoDisk),
    };
    drop(frozen);
    dev.size = new_sectors;
    dev.disk.set_capacity(new_sectors);
    pr_info!(
        "{}/{} drbd{}: size = {} ({} KB)\n",
        res,
        dev.volume,
        dev.minor,
        PpSize(new_sectors / 2),
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
