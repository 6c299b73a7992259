// SPDX-License-Identifier: GPL-2.0
//! drbd-rs: DRBD 8.4 (Distributed Replicated Block Device) for Linux 6.12, in Rust.
//!
//! Crate root of `drbd.ko`, a drop-in replacement for the in-tree C module
//! (drivers/block/drbd): block major 147, `/proc/drbd`, and the generic netlink family `drbd`
//! that stock drbd-utils drive. See Documentation/ for what works so far.
//!
//! # Layout
//!
//! - `src/model/`, `src/meta/`, `src/bitmap/`, `src/actlog/`: pure logic (`core` only): states
//!   and C's transition rules, attach decisions, writes in flight, the v08 superblock, bitmap
//!   math, activity log transactions; also compiled by the host tests in tests/host.
//! - `src/genl/`, `src/proc/`: netlink admin interface (requests decoded, then handed to the
//!   devices and connections) and `/proc/drbd`; their pure parts (schema, attribute coding,
//!   configuration structs, text rendering) are host-tested too.
//! - `src/device/`: the configuration (resources, devices, attached disks) with the one place
//!   a volume's state changes (`Device::enter`), a device's disk (`attach.rs`: attach, detach,
//!   resize, disk options, with their meta data I/O), its role and data generations
//!   (`role.rs`) and its data path (`io.rs`: block layer callbacks, activity log, writes in
//!   flight).
//! - `src/net/`: a resource's connection (`mod.rs`) and its receiver thread: the handshake
//!   (`handshake.rs`), an established connection's data socket (`receiver.rs`), what
//!   replication runs on (`link.rs`: sends, transfer log, acks, pings), and leaving the peer
//!   (`disconnect.rs`).
//! - `src/resync/`: the bitmap exchange and the resync on either side.
//! - `src/sys/`: the FFI layer, the one place for code the compiler cannot check.
//!
//! # Lock order
//!
//! genl_mutex (generic netlink serialises all commands and dumps of the family, which is not
//! `parallel_ops`) → `Drbd::config` (src/device/mod.rs) → a device's queue freeze (`Disk::freeze`,
//! which waits for its requests) → `Link::data_lock` (the data socket) → `Link::tl` (irq-safe) →
//! `DevIo::ldev` (irq-safe spinlock, also taken by request completions) → `DevIo::deferred`,
//! `DevIo::postponed` or `DevIo::link` (irq-safe spinlocks). `config` → `Link::resyncs` or
//! `Link::verifies` → `DevIo::ldev`; nothing is sent holding `resyncs` or `verifies` (a writer
//! holding the data socket may wait for acks that need them). `Link::meta_lock`, `Link::acks`,
//! `Link::reply` and `Link::volumes` are taken alone. `/proc/drbd` readers take `config`, then
//! `ldev` or `resyncs`. A detach waits for the requests at its disk without `config`
//! (`genl::finish_detach`; `down` waits under it). Only a detach takes the disk out of `ldev`:
//! a bitmap rewritten or resized is written page by page, each copied under `ldev`, and the
//! activity log's buffers (`IoLdev::al_bufs`) are the token for its I/O, which a transaction
//! waits for while a resize initializes the log.
//!
//! The data path never takes `config`; it sleeps (activity log I/O, waiting for room in the
//! active set or for an overlapping write in flight to complete) only in the submitter work,
//! holding no lock, and in `queue_rq` only for the data socket and room in the transfer log,
//! never for its own I/O (whose bios may be queued on the submitter's bio list behind it). A
//! connection's threads take `config` briefly for state changes and never hold a link lock
//! meanwhile; they clear the transfer log before they wait for `config` (a command holding it
//! may wait for those writes). A command holding `config` may send and wait for the peer's
//! reply, which the ack receiver thread delivers without `config`, but never for ever: control
//! packets wait for the data socket ko-count × timeout at most (`timeout` with ko-count 0), the
//! reply 10 s; a peer's request to disconnect while our own waits is answered without
//! `config`. Threads are joined only after `config` is released (`Drbd::reap`; a connection's
//! fence-peer thread by its receiver thread, which holds nothing then).

#![recursion_limit = "256"]

#[path = "src/actlog/mod.rs"]
mod actlog;
#[path = "src/bitmap/mod.rs"]
mod bitmap;
#[path = "src/device/mod.rs"]
mod device;
#[path = "src/genl/mod.rs"]
mod genl;
#[path = "src/meta/mod.rs"]
mod meta;
#[path = "src/model/mod.rs"]
mod model;
#[path = "src/net/mod.rs"]
mod net;
#[path = "src/proc/mod.rs"]
mod proc;
#[path = "src/resync/mod.rs"]
mod resync;
#[path = "src/sys/mod.rs"]
mod sys;
#[path = "src/wire/mod.rs"]
mod wire;

use kernel::c_str;
use kernel::prelude::*;
use kernel::sync::Arc;
use model::version::{DRBD_MAJOR, GENL_VERSION, PRO_VERSION_MAX, PRO_VERSION_MIN, REL_VERSION};

module! {
    type: Drbd,
    name: "drbd",
    author: "drbd-rs developers",
    description: "drbd - Distributed Replicated Block Device v8.4.11 (drbd-rs)",
    license: "GPL",
    alias: ["block-major-147-*"],
}

/// The loaded module.
///
/// `drop` stops the connections and removes every resource with its `/dev/drbdN` (each
/// device's data path holds a reference to the module's state). Then the fields drop in
/// declaration order, the reverse of `init`: netlink (no command can arrive while the module
/// goes), `/proc/drbd`, the state, the major, and last the workqueues, drained once no device
/// can queue work any more.
struct Drbd {
    _genl: sys::genl::Family<genl::Admin>,
    _proc: sys::proc::ProcEntry<proc::DrbdProc>,
    _state: Arc<device::Drbd>,
    _major: sys::blkdev::Major,
    _submit: sys::wq::SubmitQueue,
}

impl Drop for Drbd {
    /// The connections' threads stop before anything they use goes; the devices go before the
    /// module's state (they refer to it).
    fn drop(&mut self) {
        self._state.stop_connections();
        self._state.remove_all();
    }
}

impl kernel::Module for Drbd {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let minor_count = sys::module::minor_count();
        if !model::version::minor_count_valid(minor_count) {
            pr_err!("invalid minor_count ({})\n", minor_count);
            return Err(EINVAL);
        }
        let submit = sys::wq::SubmitQueue::create()?;
        let major = sys::blkdev::Major::register(DRBD_MAJOR, c_str!("drbd")).inspect_err(|_| {
            pr_err!("unable to register block device major {}\n", DRBD_MAJOR);
        })?;
        let state = Arc::pin_init(device::Drbd::new(), GFP_KERNEL)?;
        let proc =
            sys::proc::ProcEntry::create(c_str!("drbd"), state.clone()).inspect_err(|_| {
                pr_err!("unable to register proc file\n");
            })?;
        let genl = sys::genl::Family::register(state.clone()).inspect_err(|_| {
            pr_err!("unable to register generic netlink family\n");
        })?;

        pr_info!(
            "initialized. Version: {} (api:{}/proto:{}-{})\n",
            REL_VERSION,
            GENL_VERSION,
            PRO_VERSION_MIN,
            PRO_VERSION_MAX
        );
        match proc::build_tag() {
            proc::render::BuildTag::Module { srcversion } => {
                pr_info!("srcversion: {}\n", srcversion)
            }
            proc::render::BuildTag::BuiltIn => pr_info!("built-in\n"),
        }
        pr_info!("registered as block device major {}\n", DRBD_MAJOR);
        Ok(Drbd {
            _genl: genl,
            _proc: proc,
            _major: major,
            _state: state,
            _submit: submit,
        })
    }
}
