// SPDX-License-Identifier: GPL-2.0
//! The module's configuration: the DRBD resources and their options.
//!
//! C counterpart: the `drbd_resources` list with conn_create() and drbd_free_resource() of
//! drbd_main.c. Minors, connections and their state machines join a resource as they are
//! implemented.

use crate::genl::config::{Name, ResOpts};
use kernel::alloc::AllocError;
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::Mutex;

/// A resource: a named group of volumes replicated over one connection.
pub(crate) struct Resource {
    pub(crate) name: Name,
    pub(crate) opts: ResOpts,
}

/// Everything configured, behind [`Drbd::config`].
pub(crate) struct Config {
    /// In creation order, which is the order the C module lists them in.
    pub(crate) resources: KVec<Resource>,
}

impl Config {
    /// The index of the resource named `name`.
    pub(crate) fn find(&self, name: &[u8]) -> Option<usize> {
        self.resources
            .iter()
            .position(|r| r.name.as_bytes() == name)
    }

    /// Removes the resource at `index`, keeping the others in order (6.12's KVec has no
    /// remove()).
    pub(crate) fn remove(&mut self, index: usize) -> Result<(), AllocError> {
        let mut kept = KVec::with_capacity(self.resources.len(), GFP_KERNEL)?;
        let old = core::mem::take(&mut self.resources);
        for (i, r) in old.into_iter().enumerate() {
            if i != index {
                // Within the capacity reserved above: push does not allocate, cannot fail.
                let _ = kept.push(r, GFP_KERNEL);
            }
        }
        self.resources = kept;
        Ok(())
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
