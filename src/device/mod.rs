// SPDX-License-Identifier: GPL-2.0
//! The module's configuration: the DRBD resources, their options and their volumes (minors),
//! each with its attached disk, and [`Device::enter`], the one place a volume's state changes.
//! `attach.rs` attaches and detaches a disk, resizes it and changes its options (its meta data
//! read and written with [`crate::meta::io`]); `role.rs` changes the role and the data
//! generations; `io.rs` is a device's data path.
//!
//! C counterpart: the `drbd_resources` list with conn_create(), drbd_create_device(),
//! drbd_delete_device() and drbd_free_resource() of drbd_main.c.

pub(crate) mod attach;
pub(crate) mod helper;
mod io;
pub(crate) mod role;
pub(crate) mod twopri;

pub(crate) use io::{AlBufs, Claim, DevIo, IoCounters, IoLdev, PeerRange};

use crate::genl::config::{Conf, Name, ResOpts, WriteOrdering};
use crate::genl::retcode::RetCode;
use crate::meta::io::write_superblock;
use crate::meta::layout::{Layout, Superblock};
use crate::model::after;
use crate::model::attach::md_flags;
use crate::model::helper::Fencing;
use crate::model::request::{Congestion, OnCongestion};
use crate::model::role::{uuid_new_current, UI_BITMAP};
use crate::model::state::{ConnState, DevState, DiskState, Role};
use crate::model::transition::{self, Fact};
use crate::net::{Connection, VolInfo};
use crate::sys::bdev::Bdev;
use crate::sys::blk::Disk;
use crate::sys::random_u64;
use attach::log;
use kernel::alloc::AllocError;
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::lock::Guard;
use kernel::sync::{Arc, Mutex};
use kernel::workqueue::{impl_has_work, new_work, Work, WorkItem};

/// An attached backing disk with its meta data (C: `struct drbd_backing_dev`), the part the
/// configuration keeps; the data path's part is in [`DevIo::ldev`].
pub(crate) struct Ldev {
    /// Held for its claim.
    pub(crate) _backing: Arc<Bdev>,
    /// The same device as the backing one for internal meta data, opened a second time.
    pub(crate) md: Arc<Bdev>,
    pub(crate) layout: Layout,
    /// The meta data as in memory; written back by [`Device::md_sync`].
    pub(crate) sb: Superblock,
    /// The superblock as last written, if it was (C: MD_DIRTY is `sb` differing from it).
    pub(crate) written: Option<Superblock>,
    /// The disk configuration (`disk_conf`).
    pub(crate) conf: KBox<Conf>,
    /// The meta data told of a crashed Primary (C: the CRASHED_PRIMARY device flag).
    pub(crate) crashed: bool,
    /// `al-updates`: the activity log is written.
    pub(crate) al_updates: bool,
    /// A read failed since the disk was attached (C: WAS_READ_ERROR): a bitmap that cannot be
    /// written back at the detach asks for a full sync.
    pub(crate) read_error: bool,
}

impl Ldev {
    /// The superblock flags for the device's state (C: __drbd_set_state()).
    pub(crate) fn update_flags(&mut self, s: &DevState) {
        let primary = s.role == Role::Primary;
        let connected = s.conn > ConnState::WfReportParams;
        self.sb.flags = md_flags(
            self.sb.flags,
            primary,
            connected,
            s.disk,
            s.pdsk,
            self.crashed,
            self.al_updates,
        );
    }
}

/// The counters of an attached disk that status and `/proc/drbd` show.
pub(crate) struct DiskCounters {
    pub(crate) bits: u64,
    pub(crate) bits_set: u64,
    pub(crate) al_writes: u32,
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
    /// State changes not yet announced on the `events` group: (before, after).
    pub(crate) changes: KVec<(DevState, DevState)>,
    /// While connected: the peer's last P_UUIDS (current, bitmap, history, bits, flags).
    pub(crate) peer_uuids: Option<[u64; 6]>,
    /// The peer was forced UpToDate and Primary while both were Inconsistent: its next state
    /// report decides a sync (C: CONSIDER_RESYNC).
    pub(crate) consider_resync: bool,
    /// The disk state an attach under a connection found, kept while the disk is Negotiating:
    /// the peer's report decides between it and a resync (C: `new_state_tmp.disk`).
    pub(crate) pending_disk: Option<DiskState>,
    /// What the peer's backing disk can hold, as its last P_SIZES said (C: `p_size`); 0
    /// without a connection.
    pub(crate) peer_max: u64,
    /// `resize` grew the device under the connection: the peer's answer starts the resync of
    /// the new blocks (C: RESIZE_PENDING).
    pub(crate) resize_pending: bool,
    /// Where the next online verify we run starts without `--start`: where the last one got
    /// to (C: `ov_start_sector`).
    pub(crate) verify_from: u64,
    /// The peer's data were lost while I/O was suspended: the new data generation begins when
    /// I/O resumes (C: NEW_CUR_UUID).
    new_cur_uuid: bool,
    /// `wait-connect` applies degr-wfc-timeout: attached after a degraded Primary's crash, not
    /// connected since (C: USE_DEGR_WFC_T).
    pub(crate) degraded_wfc: bool,
    /// Removes `/dev/drbdN` when dropped.
    pub(crate) disk: Disk<DevIo>,
    pub(crate) io: Arc<DevIo>,
}

impl Device {
    /// drbd_create_device(): a Diskless, StandAlone Secondary with its `/dev/drbd<minor>`.
    pub(crate) fn new(minor: u32, volume: u32, allow_oos: bool, owner: Arc<Drbd>) -> Result<Self> {
        let state = DevState::new_minor();
        let io = Arc::pin_init(DevIo::new(minor, &state, allow_oos, owner), GFP_KERNEL)?;
        let disk = Disk::new(minor, io.clone())?;
        Ok(Self {
            minor,
            volume,
            state,
            size: 0,
            ldev: None,
            changes: KVec::new(),
            peer_uuids: None,
            consider_resync: false,
            pending_disk: None,
            peer_max: 0,
            resize_pending: false,
            verify_from: 0,
            new_cur_uuid: false,
            degraded_wfc: false,
            disk,
            io,
        })
    }

    /// The claim this device holds its backing devices with: an address unique to it for as
    /// long as it lives.
    pub(crate) fn holder(&self) -> *const core::ffi::c_void {
        let io: &DevIo = &self.io;
        (io as *const DevIo).cast()
    }

    /// Makes the change `fact` tells of (see [`transition::next`]).
    pub(crate) fn apply(&mut self, res: &Name, fact: Fact) {
        self.enter(res, transition::next(self.state, fact));
    }

    /// The one place a volume's state changes, to `ns`, which the models made (C:
    /// __drbd_set_state() and after_state_ch()). The change is kept for the `events` group
    /// (and still made if it cannot be kept), the block device learns the role and whether
    /// I/O is suspended, a Primary that loses its peer's copy of the data starts a new data
    /// generation (once I/O resumes, if suspended), and the meta data are written when they
    /// changed (flags, UUIDs). Under `resource-and-stonith` a Primary that loses its peer
    /// suspends I/O until the peer is fenced (`susp_fen`).
    pub(crate) fn enter(&mut self, res: &Name, ns: DevState) {
        let os = self.state;
        let mut ns = ns;
        if self.fencing() == Fencing::ResourceAndStonith && transition::fence_freeze(&os, &ns) {
            ns.susp_fen = true;
        }
        if ns != os {
            let _ = self.changes.push((os, ns), GFP_KERNEL);
            self.state = ns;
        }
        if ns.conn >= ConnState::Connected {
            self.degraded_wfc = false;
        }
        if ns.role != os.role {
            self.disk.set_read_only(ns.role != Role::Primary);
        }
        self.io.set_state(&ns);
        if crate::model::helper::degraded_primary(&os, &ns) {
            self.io.owe_degraded_helper();
        }
        // a disk that fails or goes ends the resync (sanitize); its requests are cancelled
        // (after_state_ch(): drbd_rs_cancel_all())
        let syncing = |s: &DevState| {
            matches!(
                s.conn,
                ConnState::SyncSource
                    | ConnState::SyncTarget
                    | ConnState::PausedSyncS
                    | ConnState::PausedSyncT
            )
        };
        let lost_disk = ns.disk < DiskState::Inconsistent || ns.pdsk < DiskState::Inconsistent;
        if syncing(&os) && !syncing(&ns) && lost_disk {
            if let Some((l, volume)) = self.io.link() {
                let _ = crate::resync::end_resync(&l, volume);
            }
        }
        let paused =
            |s: &DevState| matches!(s.conn, ConnState::PausedSyncS | ConnState::PausedSyncT);
        if paused(&ns) != paused(&os) {
            if let Some((l, volume)) = self.io.link() {
                l.pause_resync(volume, paused(&ns));
            }
        }
        // after_state_ch(): the peer learns of our pause (its peer_isp)
        let ours = |s: &DevState| (s.user_isp, s.aftr_isp);
        if ours(&ns) != ours(&os) && ns.conn >= ConnState::Connected {
            if let Some((l, volume)) = self.io.link() {
                let st = crate::wire::packet::State { state: ns.to_u32() };
                let _ = l.send_data(crate::wire::packet::P_STATE, volume, |out| st.encode(out));
            }
        }
        if ns.suspended() != os.suspended() {
            // conn_pr_state_change(): on the resource's line
            pr_info!(
                "{}: susp( {} -> {} ) \n",
                res,
                u8::from(os.suspended()),
                u8::from(ns.suspended())
            );
            self.disk.suspend(ns.suspended());
        }
        let bitmap_uuid = self
            .ldev
            .as_ref()
            .map_or(u64::MAX, |l| l.sb.uuid[UI_BITMAP]);
        let lost = transition::new_generation_on_loss(&os, &ns, bitmap_uuid);
        let resumed = os.suspended() && !ns.suspended() && self.new_cur_uuid;
        if lost && ns.suspended() {
            self.new_cur_uuid = true;
        } else if lost || resumed {
            self.new_cur_uuid = false;
            if let Some(l) = self.ldev.as_mut() {
                uuid_new_current(&mut l.sb.uuid, random_u64(), ns.role == Role::Primary);
            }
            self.print_uuids(res, "new current UUID");
        }
        let _ = self.md_sync(res);
    }

    /// maybe_pull_ahead()'s state change, which the data path asked for
    /// ([`DevIo::take_congestion`]): under `on-congestion pull-ahead` a Connected volume with
    /// an UpToDate disk goes Ahead (the peer learns it before the first P_OUT_OF_SYNC, and the
    /// current epoch closes, so the last writes replicated get their barrier); under
    /// `disconnect` the connection is dropped, and made again.
    pub(crate) fn pull_ahead(&mut self, res: &Name, c: Congestion) {
        let Some((link, volume)) = self.io.link() else {
            return;
        };
        let s = self.state;
        let on = link.on_congestion();
        let act = match on {
            OnCongestion::PullAhead => {
                s.conn == ConnState::Connected && s.disk == DiskState::UpToDate
            }
            OnCongestion::Disconnect => s.conn >= ConnState::Connected,
            OnCongestion::Block => false,
        };
        if !act {
            return;
        }
        for (reached, what) in [(c.fill, "fill"), (c.extents, "extents")] {
            if reached {
                pr_info!(
                    "{}/{} drbd{}: Congestion-{} threshold reached\n",
                    res,
                    self.volume,
                    self.minor,
                    what
                );
            }
        }
        link.close_epoch();
        if on == OnCongestion::Disconnect {
            link.fail();
            return;
        }
        let ns = transition::next(s, Fact::Ahead);
        let st = crate::wire::packet::State { state: ns.to_u32() };
        let _ = link.send_data(crate::wire::packet::P_STATE, volume, |out| st.encode(out));
        self.enter(res, ns);
    }

    /// The peer came back while I/O was suspended for fencing: the data generation goes on (C:
    /// NEW_CUR_UUID cleared when the connection is established again).
    pub(crate) fn keep_generation(&mut self) {
        self.new_cur_uuid = false;
    }

    /// The connection to the peer went (lost, or `disconnect`): the data path stops
    /// replicating, what was learnt of the peer is forgotten, and the state follows `fact`.
    pub(crate) fn peer_gone(&mut self, res: &Name, fact: Fact) {
        let verify = self.io.link().and_then(|(l, volume)| l.end_verify(volume));
        if let Some(v) = verify {
            self.verify_ended(res, &v.run);
        }
        self.io.set_link(None);
        self.peer_uuids = None;
        self.consider_resync = false;
        self.peer_max = 0;
        self.resize_pending = false;
        // the connection broke before the peer's report decided: the disk is what attach found
        if let Some(disk) = self.pending_disk.take() {
            if self.state.disk == DiskState::Negotiating {
                self.apply(res, Fact::Disk(disk));
            }
        }
        self.apply(res, fact);
    }

    /// An online verify ended, done or cut short (after_state_ch() and drbd_resync_finished()):
    /// the next one starts where this one got to, or from the start after a complete run.
    pub(crate) fn verify_ended(&mut self, res: &Name, run: &crate::model::verify::Verify) {
        self.verify_from = run.reached();
        if run.left > 0 {
            pr_info!(
                "{}/{} drbd{}: Online Verify reached sector {}\n",
                res,
                self.volume,
                self.minor,
                self.verify_from
            );
        }
    }

    /// drbd_md_sync(): writes the superblock, with the flags of the state, if it changed since
    /// it was last written; a failure is logged.
    pub(crate) fn md_sync(&mut self, res: &Name) -> Result<(), RetCode> {
        let state = self.state;
        // (a Failed disk may not answer: its detach writes the superblock back once its
        // requests came back)
        let Some(ldev) = self
            .ldev
            .as_mut()
            .filter(|_| state.disk != DiskState::Failed)
        else {
            return Ok(());
        };
        ldev.update_flags(&state);
        let written = write_superblock(ldev);
        if written.is_err() {
            log(res, self, &"meta data write failed");
            // the disk is detached for it (drbd_md_write())
            self.io
                .local_error(crate::model::attach::io_error::SUPERBLOCK);
        }
        written
    }

    /// Logs the UUIDs after a change, as drbd_print_uuids().
    pub(crate) fn print_uuids(&self, res: &Name, text: &str) {
        if let Some(l) = &self.ldev {
            let u = l.sb.uuid;
            pr_info!(
                "{}/{} drbd{}: {} {:016X}:{:016X}:{:016X}:{:016X}\n",
                res,
                self.volume,
                self.minor,
                text,
                u[0],
                u[1],
                u[2],
                u[3]
            );
        }
    }

    /// What the connection's thread needs of the volume for a handshake (see [`VolInfo`]).
    /// Our disk's state as a sync handshake sees it: while Negotiating, what attach found.
    pub(crate) fn own_disk(&self) -> DiskState {
        match (self.state.disk, self.pending_disk) {
            (DiskState::Negotiating, Some(disk)) => disk,
            (disk, _) => disk,
        }
    }

    pub(crate) fn vol_info(&self) -> VolInfo {
        let bits_set = self.counters().map_or(0, |c| c.bits_set);
        let l = self.ldev.as_ref();
        let num = |n: &str, default: u32| {
            l.map_or(default, |l| u32::try_from(l.conf.num(n)).unwrap_or(0))
        };
        VolInfo {
            volume: self.volume,
            minor: self.minor,
            state: self.state,
            attach_disk: self.own_disk(),
            attached: l.is_some(),
            uuids: l.map_or([0; 4], |l| l.sb.uuid),
            bits_set,
            crashed: l.is_some_and(|l| l.crashed),
            d_size: l.map_or(0, |l| l.layout.max_capacity(l._backing.capacity())),
            u_size: l.map_or(0, |l| l.conf.num("disk_size") as u64),
            c_size: self.size,
            // drbd_limits.h defaults without a disk
            resync: [
                num("resync_rate", 250),
                num("c_plan_ahead", 20),
                num("c_delay_target", 10),
                num("c_fill_target", 100),
                num("c_max_rate", 102400),
            ],
        }
    }

    /// The disk options that pace a resync (drbd_limits.h defaults without a disk).
    pub(crate) fn rate_conf(&self) -> crate::model::controller::RateConf {
        let [rate, plan_ahead, delay, fill, max_rate] = self.vol_info().resync;
        let min_rate = self.ldev.as_ref().map_or(250, |l| {
            u32::try_from(l.conf.num("c_min_rate")).unwrap_or(0)
        });
        crate::model::controller::RateConf::from_options([
            rate, plan_ahead, delay, fill, max_rate, min_rate,
        ])
    }

    /// What C's transition rules know of the device besides its state.
    pub(crate) fn env(&self) -> transition::Env {
        transition::Env {
            two_primaries: self.io.link().is_some_and(|(l, _)| l.two_primaries()),
            verify_alg: self
                .io
                .link()
                .is_some_and(|(l, _)| !l.verify_alg.is_empty()),
            protocol: self.io.link().map_or(0, |(l, _)| l.agreed.version),
            fencing_resource: self.fencing_resource(),
            open: self.is_open(),
        }
    }

    /// `fencing resource-only` or `resource-and-stonith` (FP_RESOURCE and above).
    pub(crate) fn fencing_resource(&self) -> bool {
        self.fencing() >= Fencing::ResourceOnly
    }

    /// The disk's fencing policy (`dont-care` while Diskless).
    pub(crate) fn fencing(&self) -> Fencing {
        Fencing::from_num(self.ldev.as_ref().map_or(0, |l| l.conf.num("fencing")))
    }

    /// Whether `/dev/drbdN` is open.
    pub(crate) fn is_open(&self) -> bool {
        self.io.is_open()
    }

    /// The I/O counters.
    pub(crate) fn io_counters(&self) -> IoCounters {
        self.io.counters()
    }

    /// The bitmap and activity log counters, while attached.
    pub(crate) fn counters(&self) -> Option<DiskCounters> {
        let guard = self.io.ldev.lock();
        guard.as_ref().map(|io| DiskCounters {
            bits: io.bits,
            bits_set: io.bits_set,
            al_writes: io.al_writes,
            al_suspended: io.al_suspended,
        })
    }
}

/// A resource: a named group of volumes replicated over one connection.
pub(crate) struct Resource {
    pub(crate) name: Name,
    pub(crate) opts: ResOpts,
    /// How writes are ordered (`/proc/drbd` wo:), see [`Resource::bump_write_ordering`].
    pub(crate) write_ordering: WriteOrdering,
    /// The connection to the peer, once `connect` configured it.
    pub(crate) conn: Option<Connection>,
    /// Ordered by volume number.
    pub(crate) devices: KVec<Device>,
}

impl Resource {
    pub(crate) fn new(name: Name, opts: ResOpts) -> Self {
        Self {
            name,
            opts,
            write_ordering: WriteOrdering::BdevFlush,
            conn: None,
            devices: KVec::new(),
        }
    }

    /// The connection state (`cstate`): StandAlone without a connection.
    pub(crate) fn conn_state(&self) -> ConnState {
        self.conn
            .as_ref()
            .map_or(ConnState::StandAlone, |c| c.shared.state())
    }

    /// The state of the volume `d` as shown: the connection's state (which its thread moves),
    /// or while connected the volume's own (a resync).
    pub(crate) fn volume_state(&self, d: &Device) -> DevState {
        transition::follow_connection(d.state, self.conn_state())
    }

    /// The connection's endpoints, for the context of replies.
    pub(crate) fn addrs(&self) -> Option<(&[u8], &[u8])> {
        self.conn
            .as_ref()
            .map(|c| (c.my.as_bytes(), c.peer.as_bytes()))
    }

    /// Brings the volumes' connection state up to date with the connection's (which its
    /// thread moves), recording the changes for the `events` group.
    /// A connection its thread ended (incompatible peer) goes with its configuration: it is
    /// returned, to be stopped.
    pub(crate) fn sync_conn_state(&mut self) -> Option<Connection> {
        let cs = self.conn_state();
        let ended = if cs == ConnState::StandAlone {
            self.conn.take()
        } else {
            None
        };
        self.follow_connection(cs);
        ended
    }

    /// Changes the resource-wide suspend flags (C: `resource->susp`, `susp_nod`, `susp_fen`),
    /// which every volume's state carries: `set` changes them in each.
    pub(crate) fn set_suspend(&mut self, set: impl Fn(&mut DevState)) {
        let name = self.name;
        for d in self.devices.as_mut_slice() {
            let mut ns = d.state;
            set(&mut ns);
            d.enter(&name, ns);
        }
    }

    /// The volumes follow the connection into `cs`.
    pub(crate) fn follow_connection(&mut self, cs: ConnState) {
        let name = self.name;
        for d in self.devices.as_mut_slice() {
            d.apply(&name, Fact::Conn(cs));
        }
    }

    /// drbd_bump_write_ordering(resource, WO_BDEV_FLUSH): the strongest method the options of
    /// every attached disk allow, logged as C logs it.
    pub(crate) fn bump_write_ordering(&mut self) {
        let wo = self.devices.iter().filter_map(|d| d.ldev.as_ref()).fold(
            WriteOrdering::BdevFlush,
            |wo, l| {
                wo.allowed(
                    l.conf.num("disk_flushes") != 0,
                    l.conf.num("disk_drain") != 0,
                )
            },
        );
        // the Secondary flushes at each barrier only with WO_BDEV_FLUSH (drbd_flush_after_epoch())
        for d in self.devices.iter() {
            d.io.set_barrier_flush(wo == WriteOrdering::BdevFlush);
        }
        let previous = core::mem::replace(&mut self.write_ordering, wo);
        if previous != wo || wo == WriteOrdering::BdevFlush {
            pr_info!(
                "{}: Method to ensure write ordering: {}\n",
                self.name,
                wo.name()
            );
        }
    }

    /// The highest role of the resource's volumes (conn_highest_role()).
    pub(crate) fn role(&self) -> Role {
        if self.devices.iter().any(|d| d.state.role == Role::Primary) {
            Role::Primary
        } else {
            Role::Secondary
        }
    }
}

/// Everything configured, behind [`Drbd::config`].
pub(crate) struct Config {
    /// In creation order, which is the order the C module lists them in.
    pub(crate) resources: KVec<Resource>,
    /// Connections taken down, whose threads are to be joined once the lock is released.
    pub(crate) retired: KVec<Connection>,
}

/// Removes `v[index]` and returns it (`None` beyond the end), keeping the others in order
/// (6.12's KVec has no remove()).
pub(crate) fn take_at<T>(v: &mut KVec<T>, index: usize) -> Result<Option<T>, AllocError> {
    let mut kept = KVec::with_capacity(v.len(), GFP_KERNEL)?;
    let mut taken = None;
    for (i, item) in core::mem::take(v).into_iter().enumerate() {
        if i == index {
            taken = Some(item);
        } else {
            // Within the capacity reserved above: push does not allocate, cannot fail.
            let _ = kept.push(item, GFP_KERNEL);
        }
    }
    *v = kept;
    Ok(taken)
}

/// Inserts `item` at `index`, keeping the others in order.
pub(crate) fn insert_at<T>(v: &mut KVec<T>, index: usize, item: T) -> Result<(), AllocError> {
    v.push(item, GFP_KERNEL)?;
    v.as_mut_slice()[index..].rotate_right(1);
    Ok(())
}

impl Config {
    /// Keeps a connection that was shut down to be stopped without the lock (see
    /// [`Drbd::reap`]); if it cannot be kept, it is stopped at once (its thread does not wait
    /// for the lock once shut down, so this cannot deadlock, only wait longer).
    pub(crate) fn retire(&mut self, conn: Connection) {
        let _ = self.retired.push(conn, GFP_KERNEL);
    }

    /// Brings every resource up to date with its connection's thread.
    pub(crate) fn sync_conn_states(&mut self) {
        for i in 0..self.resources.len() {
            if let Some(conn) = self.resources[i].sync_conn_state() {
                self.retire(conn);
            }
        }
    }

    /// What `resync-after` needs of the device `minor` (see [`after::Link`]).
    fn after_link(&self, minor: u32) -> Option<after::Link> {
        self.resources.iter().find_map(|r| {
            let d = r.devices.iter().find(|d| d.minor == minor)?;
            Some(after::Link {
                after: d
                    .ldev
                    .as_ref()
                    .and_then(|l| after::after_minor(l.conf.num("resync_after"))),
                state: r.volume_state(d),
            })
        })
    }

    /// drbd_resync_after_valid(): whether `minor` may resync after `after` (-1: none).
    pub(crate) fn resync_after_valid(&self, minor: u32, after: i64) -> after::Valid {
        after::valid(minor, after, self.device_count(), |m| self.after_link(m))
    }

    /// Devices of all resources.
    fn device_count(&self) -> usize {
        self.resources.iter().map(|r| r.devices.len()).sum()
    }

    /// drbd_pause_after() and drbd_resume_next(): a device's resync is paused while the device
    /// it resyncs after (along the chain) resyncs or is paused (`aftr_isp`), and goes on once
    /// not. One change at a time, until none is left: each may hold or free the next in a
    /// chain. Run after every command and every change a connection's thread makes.
    pub(crate) fn resync_after_pass(&mut self) {
        let limit = self.device_count();
        for _ in 0..=limit {
            let change = self.resources.iter().enumerate().find_map(|(r, res)| {
                res.devices.iter().enumerate().find_map(|(v, d)| {
                    let may = after::may_sync_now(d.minor, limit, |m| self.after_link(m));
                    let fact = Fact::Pause {
                        user: None,
                        peer: None,
                        after: Some(!may),
                    };
                    (transition::next(d.state, fact) != d.state).then_some((r, v, fact))
                })
            });
            let Some((r, v, fact)) = change else {
                return;
            };
            let res = &mut self.resources[r];
            let name = res.name;
            res.devices[v].apply(&name, fact);
        }
    }

    /// The device with the lowest minor from `from` on, of a resource `keep` accepts (by index):
    /// devices in minor order, as C walks its idr, without allocating under the lock.
    pub(crate) fn next_by_minor(
        &self,
        from: u64,
        keep: impl Fn(usize, &Resource) -> bool,
    ) -> Option<(&Resource, &Device)> {
        self.resources
            .iter()
            .enumerate()
            .filter(|(i, r)| keep(*i, r))
            .flat_map(|(_, r)| r.devices.iter().map(move |d| (r, d)))
            .filter(|(_, d)| u64::from(d.minor) >= from)
            .min_by_key(|(_, d)| d.minor)
    }

    /// The index of the resource named `name`.
    pub(crate) fn find(&self, name: &[u8]) -> Option<usize> {
        self.resources
            .iter()
            .position(|r| r.name.as_bytes() == name)
    }

    /// The resource whose connection has these endpoints (conn_get_by_addrs()).
    pub(crate) fn find_connection(&self, my: &[u8], peer: &[u8]) -> Option<usize> {
        self.resources.iter().position(|r| {
            r.conn
                .as_ref()
                .is_some_and(|c| c.my.as_bytes() == my && c.peer.as_bytes() == peer)
        })
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
    /// Applies the devices' local I/O errors (queued by [`DevIo::local_error`]) and the state
    /// changes of a congested link ([`Device::pull_ahead`]), and calls the helpers state
    /// changes owe ([`DevIo::owe_degraded_helper`]).
    #[pin]
    io_errors: Work<Drbd>,
}

impl_has_work! {
    impl HasWork<Self> for Drbd { self.io_errors }
}

impl WorkItem for Drbd {
    type Pointer = Arc<Drbd>;

    /// The local I/O errors of every device, under its `on-io-error` policy, congestion, and
    /// the helpers owed.
    fn run(this: Arc<Drbd>) {
        attach::apply_io_errors(&this);
    }
}

impl Drbd {
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            config <- new_mutex!(
                Config { resources: KVec::new(), retired: KVec::new() },
                "drbd_config"
            ),
            io_errors <- new_work!("drbd_io_errors"),
        })
    }

    /// Module unload: every resource goes (the devices' data paths refer to the module's
    /// state, which goes only after them).
    pub(crate) fn remove_all(&self) {
        let resources = core::mem::take(&mut self.config.lock().resources);
        drop(resources);
    }

    /// Stops the connections retired under `config`, after releasing it.
    pub(crate) fn reap(mut config: Guard<'_, Config, kernel::sync::lock::mutex::MutexBackend>) {
        let retired = core::mem::take(&mut config.retired);
        drop(config);
        for conn in retired {
            conn.stop();
        }
    }

    /// Module unload: every connection stops.
    pub(crate) fn stop_connections(&self) {
        let mut config = self.config.lock();
        for i in 0..config.resources.len() {
            let res = &mut config.resources.as_mut_slice()[i];
            for d in res.devices.iter() {
                d.io.set_link(None);
            }
            if let Some(conn) = res.conn.take() {
                conn.shutdown();
                config.retire(conn);
            }
        }
        Self::reap(config);
    }
}
