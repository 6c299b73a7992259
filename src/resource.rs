// SPDX-License-Identifier: GPL-2.0
//! The module's configuration: the DRBD resources, their options and their volumes (minors).
//!
//! C counterpart: the `drbd_resources` list with conn_create(), drbd_create_device(),
//! drbd_delete_device() and drbd_free_resource() of drbd_main.c. Connections and the state
//! machine join as they are implemented.

use crate::genl::config::{Conf, Name, ResOpts};
use crate::meta::layout::{Layout, Superblock};
use crate::model::state::{DevState, Role};
use crate::sys::bdev::Bdev;
use crate::sys::blk::{Disk, DiskOps, Refusal};
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use kernel::alloc::AllocError;
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::{Arc, Mutex};

/// What `/dev/drbdN`'s open and release need of its device, readable without the config lock.
pub(crate) struct OpenGate {
    /// The device is Primary: it may be opened, also for writing.
    primary: AtomicBool,
    /// Opens of a Secondary for reading are allowed (module parameter `allow_oos`).
    allow_oos: bool,
    /// Current opens (C: `open_cnt`).
    opens: AtomicU32,
}

impl DiskOps for OpenGate {
    /// drbd_open(): only a Primary may be opened, unless `allow_oos` lets a Secondary be read.
    fn open(&self, write: bool) -> Result<(), Refusal> {
        if !self.primary.load(Ordering::Acquire) {
            if write {
                return Err(Refusal::ReadOnly);
            }
            if !self.allow_oos {
                return Err(Refusal::WrongMediumType);
            }
        }
        self.opens.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    fn release(&self) {
        self.opens.fetch_sub(1, Ordering::AcqRel);
    }
}

/// An attached backing disk with its meta data (C: `struct drbd_backing_dev`).
pub(crate) struct Ldev {
    /// Held for its claim; the data path will do its I/O here.
    pub(crate) _backing: Bdev,
    /// The same device as the backing one for internal meta data, opened a second time.
    pub(crate) md: Bdev,
    pub(crate) layout: Layout,
    /// The meta data as in memory; written back with [`crate::genl::attach`]'s md sync.
    pub(crate) sb: Superblock,
    /// The disk configuration (`disk_conf`).
    pub(crate) conf: KBox<Conf>,
    /// The bitmap: one bit per 4 KiB of the device, set where the peer's copy may differ.
    pub(crate) bitmap: KVec<u64>,
    /// Bits of the bitmap in use: the device size in 4 KiB blocks.
    pub(crate) bits: u64,
    /// Bits set, kept up to date with every change (C: `bm_set`).
    pub(crate) bits_set: u64,
    /// Number of the next activity log transaction.
    pub(crate) al_tr_number: u32,
    /// Activity log transactions written (`al_writ_cnt`).
    pub(crate) al_writes: u32,
    /// The activity log is suspended: everything is out of sync anyway.
    pub(crate) al_suspended: bool,
}

/// A volume of a resource: one minor, `/dev/drbd<minor>`.
pub(crate) struct Device {
    pub(crate) minor: u32,
    pub(crate) volume: u32,
    pub(crate) state: DevState,
    /// The size of `/dev/drbdN` in sectors.
    pub(crate) size: u64,
    /// The backing disk, while attached. Dropped before `disk`: the claims go first.
    pub(crate) ldev: Option<KBox<Ldev>>,
    /// Removes `/dev/drbdN` when dropped.
    pub(crate) disk: Disk<OpenGate>,
    gate: Arc<OpenGate>,
}

impl Device {
    /// drbd_create_device(): a Diskless, StandAlone Secondary with its `/dev/drbd<minor>`.
    pub(crate) fn new(minor: u32, volume: u32, allow_oos: bool) -> Result<Self> {
        let state = DevState::new_minor();
        let gate = Arc::new(
            OpenGate {
                primary: AtomicBool::new(state.role == Role::Primary),
                allow_oos,
                opens: AtomicU32::new(0),
            },
            GFP_KERNEL,
        )?;
        let disk = Disk::new(minor, gate.clone())?;
        Ok(Self {
            minor,
            volume,
            state,
            size: 0,
            ldev: None,
            disk,
            gate,
        })
    }

    /// The claim this device holds its backing devices with: an address unique to it for as
    /// long as it lives.
    pub(crate) fn holder(&self) -> *const core::ffi::c_void {
        let gate: &OpenGate = &self.gate;
        (gate as *const OpenGate).cast()
    }

    /// Whether `/dev/drbdN` is open.
    pub(crate) fn is_open(&self) -> bool {
        self.gate.opens.load(Ordering::Acquire) != 0
    }
}

/// A resource: a named group of volumes replicated over one connection.
pub(crate) struct Resource {
    pub(crate) name: Name,
    pub(crate) opts: ResOpts,
    /// Ordered by volume number.
    pub(crate) devices: KVec<Device>,
}

impl Resource {
    pub(crate) fn new(name: Name, opts: ResOpts) -> Self {
        Self {
            name,
            opts,
            devices: KVec::new(),
        }
    }
}

/// Everything configured, behind [`Drbd::config`].
pub(crate) struct Config {
    /// In creation order, which is the order the C module lists them in.
    pub(crate) resources: KVec<Resource>,
}

/// Removes `v[index]`, keeping the others in order (6.12's KVec has no remove()).
pub(crate) fn remove_at<T>(v: &mut KVec<T>, index: usize) -> Result<(), AllocError> {
    let mut kept = KVec::with_capacity(v.len(), GFP_KERNEL)?;
    let old = core::mem::take(v);
    for (i, item) in old.into_iter().enumerate() {
        if i != index {
            // Within the capacity reserved above: push does not allocate, cannot fail.
            let _ = kept.push(item, GFP_KERNEL);
        }
    }
    *v = kept;
    Ok(())
}

/// Inserts `item` at `index`, keeping the others in order.
pub(crate) fn insert_at<T>(v: &mut KVec<T>, index: usize, item: T) -> Result<(), AllocError> {
    v.push(item, GFP_KERNEL)?;
    v.as_mut_slice()[index..].rotate_right(1);
    Ok(())
}

impl Config {
    /// The index of the resource named `name`.
    pub(crate) fn find(&self, name: &[u8]) -> Option<usize> {
        self.resources
            .iter()
            .position(|r| r.name.as_bytes() == name)
    }

    /// The resource and volume index of `minor`.
    pub(crate) fn find_minor(&self, minor: u32) -> Option<(usize, usize)> {
        self.resources.iter().enumerate().find_map(|(r, res)| {
            let v = res.devices.iter().position(|d| d.minor == minor)?;
            Some((r, v))
        })
    }
}

/// The state of the module, shared by the netlink handlers and `/proc/drbd`.
#[pin_data]
pub(crate) struct Drbd {
    /// All configuration. Admin commands hold it for their whole run (they are serialised by
    /// genl_mutex already); readers hold it briefly.
    #[pin]
    pub(crate) config: Mutex<Config>,
}

impl Drbd {
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            config <- new_mutex!(Config { resources: KVec::new() }, "drbd_config"),
        })
    }
}
