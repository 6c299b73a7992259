// SPDX-License-Identifier: GPL-2.0
//! The sync decision of the connection handshake: from both nodes' UUID sets and states, who
//! resyncs from whom, split brain, unrelated data, or nothing to do.
//!
//! C counterpart: drbd_uuid_compare(), drbd_sync_handshake() and drbd_asb_recover_0p/1p/2p()
//! of drbd_receiver.c, the `uuid_flags` of _drbd_send_uuids() (drbd_main.c), and the
//! `enum drbd_after_sb_p` / `enum drbd_uuid_index` numbers of include/linux/drbd.h.
//!
//! # How the kernel uses it
//!
//! receive_state() builds a [`Side`] for each node ([`Side::from_p_uuids`] for the peer's
//! P_UUIDS words) and calls [`sync_handshake`], which logs through [`Env`] exactly the lines the
//! C module logs, runs the usermode helpers and gives up the Primary role where an after-split-
//! brain policy says so, and corrects the UUIDs in place when [`uuid_compare`] asks for it (our
//! own meta data then needs writing). What stays with the caller, because it is I/O:
//! - [`Decision::SyncSource`] / [`Decision::SyncTarget`] with `full`: set and write the whole
//!   bitmap (drbd_bmio_set_n_write); should that fail, C gives up as for [`Decision::Abort`].
//! - [`Decision::Connected`]: C logs "No resync, but %lu bits in bitmap!" when the bitmap's
//!   live weight is not 0.
//!
//! # The values of `uuid_compare()` (`hg`)
//!
//! | hg        | meaning                                                    |
//! |-----------|------------------------------------------------------------|
//! | 2 / -2    | become SyncSource / SyncTarget, full sync (set the bitmap) |
//! | 1 / -1    | become SyncSource / SyncTarget, by the bitmap              |
//! | 0         | no resync                                                  |
//! | 100       | split brain, try the after-sb policies                     |
//! | -100      | split brain, disconnect (unless `always-asbp`)             |
//! | -1000     | unrelated data                                             |
//! | -1091     | needs protocol 91 on both sides                            |
//! | -0x10465  | needs protocol 101 and feature flag `DRBD_FF_WSAME` (4)    |
//!
//! C's comment also lists -1096 ("requires proto 96"), which no rule returns: below 96 rules 51
//! and 71 use an older test instead.

use crate::model::helper::Helper;
use crate::model::role::{UI_BITMAP, UI_CURRENT, UI_HISTORY_END, UI_HISTORY_START};
use crate::model::state::{ConnState, DiskState, Role};
use crate::model::version::PRO_VERSION_MAX;
use crate::wire::packet::{
    FF_WSAME as DRBD_FF_WSAME, UI_EXTENDED_SIZE, UI_FLAGS, UI_SIZE, UUID_FLAG_CRASHED_PRIMARY,
    UUID_FLAG_DISCARD_MY_DATA, UUID_FLAG_INCONSISTENT, UUID_FLAG_SKIP_INITIAL_SYNC,
};
use core::fmt;

/// The current UUID of meta data that `create-md` has just written.
pub(crate) const UUID_JUST_CREATED: u64 = 4;
/// What a sync source adds to its bitmap UUID to make the sync UUID (drbd_int.h).
pub(crate) const UUID_NEW_BM_OFFSET: u64 = 0x0001_0000_0000_0000;

/// The value rule 41 returns when the peer lacks `DRBD_FF_WSAME`:
/// `-(0x10000 | PRO_VERSION_MAX | (DRBD_FF_WSAME << 8))`.
pub(crate) const HG_NEED_WSAME: i32 =
    -(0x10000 | PRO_VERSION_MAX as i32 | (DRBD_FF_WSAME << 8) as i32);

/// The `after-sb-0pri`, `after-sb-1pri`, `after-sb-2pri` and `rr-conflict` policies
/// (`enum drbd_after_sb_p`); the numbers travel in P_PROTOCOL and netlink.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum AfterSb {
    Disconnect = 0,
    DiscardYoungerPri = 1,
    DiscardOlderPri = 2,
    DiscardZeroChg = 3,
    DiscardLeastChg = 4,
    DiscardLocal = 5,
    DiscardRemote = 6,
    Consensus = 7,
    DiscardSecondary = 8,
    CallHelper = 9,
    Violently = 10,
}

impl AfterSb {
    /// The policy a number names. Netlink does not range-check these fields; `None`, a number
    /// drbd.h does not name, is ignored by every switch of the C module.
    pub(crate) const fn from_u32(v: u32) -> Option<Self> {
        Some(match v {
            0 => AfterSb::Disconnect,
            1 => AfterSb::DiscardYoungerPri,
            2 => AfterSb::DiscardOlderPri,
            3 => AfterSb::DiscardZeroChg,
            4 => AfterSb::DiscardLeastChg,
            5 => AfterSb::DiscardLocal,
            6 => AfterSb::DiscardRemote,
            7 => AfterSb::Consensus,
            8 => AfterSb::DiscardSecondary,
            9 => AfterSb::CallHelper,
            10 => AfterSb::Violently,
            _ => return None,
        })
    }

    /// convert_after_sb(): the peer's policy number as it reads from our side, which
    /// receive_protocol() then requires to equal ours: discard-local and discard-remote swap.
    pub(crate) const fn peer_view(v: u32) -> u32 {
        if v == AfterSb::DiscardRemote as u32 {
            AfterSb::DiscardLocal as u32
        } else if v == AfterSb::DiscardLocal as u32 {
            AfterSb::DiscardRemote as u32
        } else {
            v
        }
    }
}

/// The `uuid[UI_FLAGS]` word _drbd_send_uuids() sends (`skip_initial_sync` is
/// drbd_send_uuids_skip_initial_sync()).
pub(crate) fn uuid_flags(
    discard_my_data: bool,
    crashed_primary: bool,
    attaching_inconsistent: bool,
    skip_initial_sync: bool,
) -> u64 {
    let flag = |on: bool, bit: u64| if on { bit } else { 0 };
    flag(discard_my_data, UUID_FLAG_DISCARD_MY_DATA)
        | flag(crashed_primary, UUID_FLAG_CRASHED_PRIMARY)
        | flag(attaching_inconsistent, UUID_FLAG_INCONSISTENT)
        | flag(skip_initial_sync, UUID_FLAG_SKIP_INITIAL_SYNC)
}

/// receive_state(): the peer's disk state to decide with. A peer still Negotiating (attaching)
/// told in its UUID flags whether its disk will be Inconsistent; otherwise it counts as
/// Consistent.
pub(crate) fn real_peer_disk(peer_disk: DiskState, peer_flags: u64) -> DiskState {
    match peer_disk {
        DiskState::Negotiating if peer_flags & UUID_FLAG_INCONSISTENT != 0 => {
            DiskState::Inconsistent
        }
        DiskState::Negotiating => DiskState::Consistent,
        d => d,
    }
}

/// receive_uuids(): whether a peer's P_UUIDS makes us take its current UUID and skip the
/// initial sync ("Accepted new current UUID, preparing to skip initial sync"): we are connected
/// over protocol 90 or later, our meta data is just created (compared with the Primary bit,
/// as C does) and the peer sent [`UUID_FLAG_SKIP_INITIAL_SYNC`].
pub(crate) fn accepts_skip_initial_sync(
    connected: bool,
    agreed_pro_version: u32,
    my_current: u64,
    peer_flags: u64,
) -> bool {
    connected
        && agreed_pro_version >= 90
        && my_current == UUID_JUST_CREATED
        && peer_flags & UUID_FLAG_SKIP_INITIAL_SYNC != 0
}

/// One node as the handshake sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Side {
    /// Current, bitmap and two history UUIDs (`UI_CURRENT..=UI_HISTORY_END`). The lowest bit
    /// of a UUID that was current says whether the node was Primary then.
    pub(crate) uuids: [u64; 4],
    /// Out-of-sync bits: the peer's `uuid[UI_SIZE]`; ours as we sent them (`comm_bm_set`).
    /// discard-zero-changes and discard-least-changes compare these.
    pub(crate) bits: u64,
    /// `UUID_FLAG_*`: the peer's `uuid[UI_FLAGS]`. Ours are built with [`uuid_flags`] from the
    /// device now: its DISCARD_MY_DATA and CRASHED_PRIMARY flags (C tests those, not what was
    /// sent).
    pub(crate) flags: u64,
    /// The peer's role from its P_STATE; ours (`device->state.role`).
    pub(crate) role: Role,
    /// The peer's disk as [`real_peer_disk`] gives it; ours (`device->state.disk`), which may
    /// be Negotiating while attaching.
    pub(crate) disk: DiskState,
}

impl Side {
    /// The peer from its P_UUIDS words (`device->p_uuid`, host order) and the role and disk
    /// of its P_STATE (a Negotiating disk resolved by [`real_peer_disk`]).
    pub(crate) fn from_p_uuids(p: &[u64; UI_EXTENDED_SIZE], role: Role, disk: DiskState) -> Self {
        Side {
            uuids: [p[0], p[1], p[2], p[3]],
            bits: p[UI_SIZE],
            flags: p[UI_FLAGS],
            role,
            disk: real_peer_disk(disk, p[UI_FLAGS]),
        }
    }
}

/// The connection's agreements and net options the decision depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Net {
    pub(crate) agreed_pro_version: u32,
    /// `DRBD_FF_*` both sides have.
    pub(crate) agreed_features: u32,
    /// The RESOLVE_CONFLICTS connection flag: set on exactly one node of a pair (the one whose
    /// connect won), the tie-breaker of rule 40 and of the change-count policies.
    pub(crate) resolve_conflicts: bool,
    /// [`AfterSb`] numbers from the net config.
    pub(crate) after_sb_0p: u32,
    pub(crate) after_sb_1p: u32,
    pub(crate) after_sb_2p: u32,
    pub(crate) rr_conflict: u32,
    /// `always-asbp`: try the policies also when the UUIDs are ambiguous (hg -100).
    pub(crate) always_asbp: bool,
    /// `tentative`, or the peer asked for a dry run (CONN_DRY_RUN).
    pub(crate) dry_run: bool,
}

impl Net {
    /// Defaults of a net config (all policies disconnect) over the given protocol, with every
    /// feature.
    pub(crate) const fn new(agreed_pro_version: u32, resolve_conflicts: bool) -> Self {
        Net {
            agreed_pro_version,
            agreed_features: 0xf,
            resolve_conflicts,
            after_sb_0p: AfterSb::Disconnect as u32,
            after_sb_1p: AfterSb::Disconnect as u32,
            after_sb_2p: AfterSb::Disconnect as u32,
            rr_conflict: AfterSb::Disconnect as u32,
            always_asbp: false,
            dry_run: false,
        }
    }
}

/// What uuid_compare() logs; the corrections come with a [`Fixup`] and a dump of the
/// corrected set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Note {
    /// Rule 34 (info).
    SourceCorrectedSelf,
    /// Rule 36 (info).
    SourcePeerFailed,
    /// Rule 35 (info).
    TargetCorrectedPeer,
    /// Rule 37 (info).
    TargetFailed,
    /// Rule 41, peer lacks DRBD_FF_WSAME (warn, on the peer device).
    UnrotatedWithPrimary,
    /// Rule 41, both Primary (err, on the peer device).
    UnrotatedBothPrimary,
    /// Rule 51 (info).
    LostSyncUuid,
    /// Rule 71 (info).
    SyncUuidNotThrough,
}

impl Note {
    pub(crate) const fn text(self) -> &'static str {
        match self {
            Note::SourceCorrectedSelf => {
                "was SyncSource, missed the resync finished event, corrected myself:"
            }
            Note::SourcePeerFailed => "was SyncSource (peer failed to write sync_uuid)",
            Note::TargetCorrectedPeer => {
                "was SyncTarget, peer missed the resync finished event, corrected peer:"
            }
            Note::TargetFailed => "was SyncTarget (failed to write sync_uuid)",
            Note::UnrotatedWithPrimary => {
                "Equivalent unrotated UUIDs, but current primary present."
            }
            Note::UnrotatedBothPrimary => {
                "Equivalent unrotated UUIDs, but both are primary. Can not resolve this."
            }
            Note::LostSyncUuid => "Lost last syncUUID packet, corrected:",
            Note::SyncUuidNotThrough => "Last syncUUID did not get through, corrected:",
        }
    }

    pub(crate) const fn level(self) -> Level {
        match self {
            Note::UnrotatedWithPrimary => Level::Warn,
            Note::UnrotatedBothPrimary => Level::Err,
            _ => Level::Info,
        }
    }
}

/// A correction of a UUID set that uuid_compare() makes when a resync's start or end did not
/// reach one node. Ours goes to the meta data; the peer's only to our copy of its UUIDs (it
/// makes the mirror correction of its own).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fixup {
    /// Rule 34: we finished as SyncSource without noticing: bitmap UUID into the history.
    SelfResyncFinished,
    /// Rule 35: the peer finished as SyncSource without noticing.
    PeerResyncFinished,
    /// Rule 51: our P_SYNC_UUID as target was lost; undo the peer's sync-UUID rotation.
    PeerUndoSyncUuid,
    /// Rule 71: the peer never got our P_SYNC_UUID; undo our sync-UUID rotation.
    SelfUndoSyncUuid,
}

impl Fixup {
    /// Whether it corrects our own UUIDs (else our copy of the peer's).
    pub(crate) const fn on_self(self) -> bool {
        matches!(self, Fixup::SelfResyncFinished | Fixup::SelfUndoSyncUuid)
    }

    /// The correction, on our UUIDs or the peer's.
    pub(crate) fn apply(self, me: &mut [u64; 4], peer: &mut [u64; 4]) {
        let u = if self.on_self() { me } else { peer };
        match self {
            Fixup::SelfResyncFinished | Fixup::PeerResyncFinished => {
                // drbd_uuid_move_history(), then the bitmap UUID becomes the newest history.
                u[UI_HISTORY_END] = u[UI_HISTORY_START];
                u[UI_HISTORY_START] = u[UI_BITMAP];
                u[UI_BITMAP] = 0;
            }
            Fixup::PeerUndoSyncUuid | Fixup::SelfUndoSyncUuid => {
                u[UI_BITMAP] = u[UI_HISTORY_START];
                u[UI_HISTORY_START] = u[UI_HISTORY_END];
            }
        }
    }
}

/// The result of [`uuid_compare`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Compare {
    /// `hg`, see the module's table.
    pub(crate) value: i32,
    /// The rule that decided, as C logs it ("uuid_compare()=%d by rule %d").
    pub(crate) rule_nr: u32,
    pub(crate) note: Option<Note>,
    /// A correction the caller must make (before anything else reads the UUIDs).
    pub(crate) fixup: Option<Fixup>,
}

const fn by(rule_nr: u32, value: i32) -> Compare {
    Compare {
        value,
        rule_nr,
        note: None,
        fixup: None,
    }
}

const fn noted(rule_nr: u32, value: i32, note: Note, fixup: Option<Fixup>) -> Compare {
    Compare {
        value,
        rule_nr,
        note: Some(note),
        fixup,
    }
}

/// A UUID without its Primary bit.
const fn id(u: u64) -> u64 {
    u & !1
}

/// drbd_uuid_compare(): how our data relates to the peer's. Pure: a correction of the UUIDs is
/// returned in [`Compare::fixup`], not made.
///
/// Rules, first match wins (ids compared without the Primary bit; "cur", "bm", "h0", "h1"):
/// - 10: both cur just created → 0.
/// - 20: our cur just created or 0, the peer's is not just created → -2.
/// - 30: ours not just created, the peer's just created or 0 → 2.
/// - cur equal, only our bm set: below protocol 91 → -1091 (logged as rule 30); 34 if our bm
///   and h0 are the peer's h0 and h1 (it finished, we missed it: [`Fixup::SelfResyncFinished`])
///   else 36 → 1. Only the peer's bm set: the mirror, 35 / 37 → -1.
/// - 40: cur equal otherwise: no crashed Primary → 0; both Secondary: the one that crashed as
///   Primary is source, both crashed → RESOLVE_CONFLICTS decides (set: -1).
/// - 41: ... but one is Primary now: without DRBD_FF_WSAME [`HG_NEED_WSAME`]; both Primary
///   → -100; else the Primary is source (±1).
/// - 50: our cur is the peer's bm → -1.
/// - 51: our cur is the peer's h0, and the peer rotated for a sync start we never saw (from 96:
///   its bm is its h0 + [`UUID_NEW_BM_OFFSET`]; before: our h0 is its h1): below 91 → -1091,
///   else -1 with [`Fixup::PeerUndoSyncUuid`]. Otherwise on.
/// - 60: our cur in the peer's history → -2.
/// - 70: our bm is the peer's cur → 1.
/// - 71: mirror of 51 → 1 with [`Fixup::SelfUndoSyncUuid`] (or -1091).
/// - 80: the peer's cur in our history → 2.
/// - 90: bm equal and not 0 → 100.
/// - 100: any history UUID in common (0 included, as in C) → -100; else -1000.
pub(crate) fn uuid_compare(me: &Side, peer: &Side, net: &Net) -> Compare {
    let m = &me.uuids;
    let p = &peer.uuids;
    let pro = net.agreed_pro_version;
    let my_cur = id(m[UI_CURRENT]);
    let peer_cur = id(p[UI_CURRENT]);

    if my_cur == UUID_JUST_CREATED && peer_cur == UUID_JUST_CREATED {
        return by(10, 0);
    }
    if (my_cur == UUID_JUST_CREATED || my_cur == 0) && peer_cur != UUID_JUST_CREATED {
        return by(20, -2);
    }
    if my_cur != UUID_JUST_CREATED && (peer_cur == UUID_JUST_CREATED || peer_cur == 0) {
        return by(30, 2);
    }

    if my_cur == peer_cur {
        if p[UI_BITMAP] == 0 && m[UI_BITMAP] != 0 {
            if pro < 91 {
                return by(30, -1091);
            }
            if id(m[UI_BITMAP]) == id(p[UI_HISTORY_START])
                && id(m[UI_HISTORY_START]) == id(p[UI_HISTORY_END])
            {
                return noted(
                    34,
                    1,
                    Note::SourceCorrectedSelf,
                    Some(Fixup::SelfResyncFinished),
                );
            }
            return noted(36, 1, Note::SourcePeerFailed, None);
        }
        if m[UI_BITMAP] == 0 && p[UI_BITMAP] != 0 {
            if pro < 91 {
                return by(30, -1091);
            }
            if id(m[UI_HISTORY_START]) == id(p[UI_BITMAP])
                && id(m[UI_HISTORY_END]) == id(p[UI_HISTORY_START])
            {
                return noted(
                    35,
                    -1,
                    Note::TargetCorrectedPeer,
                    Some(Fixup::PeerResyncFinished),
                );
            }
            return noted(37, -1, Note::TargetFailed, None);
        }

        // Roles at crash time: weight 1 we, weight 2 the peer crashed as Primary.
        let rct = u64::from(me.flags & UUID_FLAG_CRASHED_PRIMARY != 0)
            + (peer.flags & UUID_FLAG_CRASHED_PRIMARY);
        if rct == 0 {
            // only a replication link hiccup
            return by(40, 0);
        }
        let me_primary = me.role == Role::Primary;
        let peer_primary = peer.role == Role::Primary;
        if me_primary || peer_primary {
            // Equal and unrotated, maybe because I/O was frozen: needs a new enough peer.
            if net.agreed_features & DRBD_FF_WSAME == 0 {
                return noted(41, HG_NEED_WSAME, Note::UnrotatedWithPrimary, None);
            }
            if me_primary && peer_primary {
                return noted(41, -100, Note::UnrotatedBothPrimary, None);
            }
            return by(41, if me_primary { 1 } else { -1 });
        }
        // Both Secondary: recovery from a simultaneous hard crash.
        return by(
            40,
            match rct {
                1 => 1,
                2 => -1,
                _ if net.resolve_conflicts => -1,
                _ => 1,
            },
        );
    }

    if my_cur == id(p[UI_BITMAP]) {
        return by(50, -1);
    }

    let peer_h0 = id(p[UI_HISTORY_START]);
    if my_cur == peer_h0 {
        let rotated = if pro < 96 {
            id(m[UI_HISTORY_START]) == id(p[UI_HISTORY_END])
        } else {
            peer_h0.wrapping_add(UUID_NEW_BM_OFFSET) == id(p[UI_BITMAP])
        };
        if rotated {
            if pro < 91 {
                return by(51, -1091);
            }
            return noted(51, -1, Note::LostSyncUuid, Some(Fixup::PeerUndoSyncUuid));
        }
    }

    if p[UI_HISTORY_START..=UI_HISTORY_END]
        .iter()
        .any(|&h| id(h) == my_cur)
    {
        return by(60, -2);
    }

    if id(m[UI_BITMAP]) == peer_cur {
        return by(70, 1);
    }

    let my_h0 = id(m[UI_HISTORY_START]);
    if my_h0 == peer_cur {
        let rotated = if pro < 96 {
            id(m[UI_HISTORY_END]) == id(p[UI_HISTORY_START])
        } else {
            my_h0.wrapping_add(UUID_NEW_BM_OFFSET) == id(m[UI_BITMAP])
        };
        if rotated {
            if pro < 91 {
                return by(71, -1091);
            }
            return noted(
                71,
                1,
                Note::SyncUuidNotThrough,
                Some(Fixup::SelfUndoSyncUuid),
            );
        }
    }

    if m[UI_HISTORY_START..=UI_HISTORY_END]
        .iter()
        .any(|&h| id(h) == peer_cur)
    {
        return by(80, 2);
    }

    let my_bm = id(m[UI_BITMAP]);
    if my_bm == id(p[UI_BITMAP]) && my_bm != 0 {
        return by(90, 100);
    }

    let mine = &m[UI_HISTORY_START..=UI_HISTORY_END];
    let theirs = &p[UI_HISTORY_START..=UI_HISTORY_END];
    if mine.iter().any(|&a| theirs.iter().any(|&b| id(a) == id(b))) {
        return by(100, -100);
    }
    by(100, -1000)
}

/// Severity of a log line (`drbd_info` .. `drbd_alert`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Level {
    Info,
    Warn,
    Err,
    Alert,
}

/// A line drbd_sync_handshake() logs. `Display` gives C's text without the trailing newline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Msg {
    /// "drbd_sync_handshake:"
    Start,
    /// drbd_uuid_dump(): "self" or "peer", the UUIDs, bits and flags.
    Dump {
        peer: bool,
        uuids: [u64; 4],
        bits: u64,
        flags: u64,
    },
    /// One of uuid_compare()'s.
    Note(Note),
    /// "uuid_compare()=%d by rule %d"
    Compared {
        hg: i32,
        rule_nr: u32,
    },
    Unrelated,
    NeedProtocolFeatures {
        proto: i32,
        features: i32,
    },
    NeedProtocol {
        proto: i32,
    },
    /// "Becoming sync source/target due to disk states."
    DiskStates {
        source: bool,
    },
    /// An after-sb policy not valid for the number of primaries.
    ConfigurationError,
    YoungerOlderUndecided,
    GaveUpPrimary,
    AutoSolved {
        primaries: u32,
        from_peer: bool,
    },
    FullSyncAmbiguous,
    ManuallySolved {
        from_peer: bool,
    },
    Unresolved,
    InconsistentSource,
    PrimaryTarget,
    ViolentlyTarget,
    DryRunNoResync,
    DryRunWould {
        source: bool,
        full: bool,
    },
    WriteWholeBitmap,
}

impl Msg {
    pub(crate) const fn level(&self) -> Level {
        match self {
            Msg::Note(n) => n.level(),
            Msg::Unrelated
            | Msg::NeedProtocolFeatures { .. }
            | Msg::NeedProtocol { .. }
            | Msg::Unresolved => Level::Alert,
            Msg::ConfigurationError | Msg::InconsistentSource | Msg::PrimaryTarget => Level::Err,
            Msg::YoungerOlderUndecided
            | Msg::GaveUpPrimary
            | Msg::AutoSolved { .. }
            | Msg::FullSyncAmbiguous
            | Msg::ManuallySolved { .. }
            | Msg::ViolentlyTarget => Level::Warn,
            _ => Level::Info,
        }
    }

    /// C prints it with the peer device's prefix (`drbd_warn(peer_device, …)`), not the
    /// device's.
    #[cfg(test)]
    pub(crate) const fn on_peer_device(&self) -> bool {
        matches!(
            self,
            Msg::Note(Note::UnrotatedWithPrimary | Note::UnrotatedBothPrimary)
        )
    }
}

fn peer_or_this(from_peer: bool) -> &'static str {
    if from_peer {
        "peer"
    } else {
        "this"
    }
}

impl fmt::Display for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Msg::Start => f.write_str("drbd_sync_handshake:"),
            Msg::Dump {
                peer,
                uuids: u,
                bits,
                flags,
            } => write!(
                f,
                "{} {:016X}:{:016X}:{:016X}:{:016X} bits:{} flags:{:X}",
                if peer { "peer" } else { "self" },
                u[0],
                u[1],
                u[2],
                u[3],
                bits,
                flags
            ),
            Msg::Note(n) => f.write_str(n.text()),
            Msg::Compared { hg, rule_nr } => write!(f, "uuid_compare()={hg} by rule {rule_nr}"),
            Msg::Unrelated => f.write_str("Unrelated data, aborting!"),
            Msg::NeedProtocolFeatures { proto, features } => write!(
                f,
                "To resolve this both sides have to support at least protocol {proto} and \
                 feature flags 0x{features:x}"
            ),
            Msg::NeedProtocol { proto } => write!(
                f,
                "To resolve this both sides have to support at least protocol {proto}"
            ),
            Msg::DiskStates { source } => write!(
                f,
                "Becoming sync {} due to disk states.",
                if source { "source" } else { "target" }
            ),
            Msg::ConfigurationError => f.write_str("Configuration error."),
            Msg::YoungerOlderUndecided => f.write_str(
                "Discard younger/older primary did not find a decision\n\
                 Using discard-least-changes instead",
            ),
            Msg::GaveUpPrimary => f.write_str("Successfully gave up primary role."),
            Msg::AutoSolved {
                primaries,
                from_peer,
            } => write!(
                f,
                "Split-Brain detected, {primaries} primaries, automatically solved. Sync from {} \
                 node",
                peer_or_this(from_peer)
            ),
            Msg::FullSyncAmbiguous => {
                f.write_str("Doing a full sync, since UUIDs where ambiguous.")
            }
            Msg::ManuallySolved { from_peer } => write!(
                f,
                "Split-Brain detected, manually solved. Sync from {} node",
                peer_or_this(from_peer)
            ),
            Msg::Unresolved => {
                f.write_str("Split-Brain detected but unresolved, dropping connection!")
            }
            Msg::InconsistentSource => {
                f.write_str("I shall become SyncSource, but I am inconsistent!")
            }
            Msg::PrimaryTarget => f.write_str("I shall become SyncTarget, but I am primary!"),
            // sic: C's string literals join without a space
            Msg::ViolentlyTarget => {
                f.write_str("Becoming SyncTarget, violating the stable-dataassumption")
            }
            Msg::DryRunNoResync => {
                f.write_str("dry-run connect: No resync, would become Connected immediately.")
            }
            Msg::DryRunWould { source, full } => write!(
                f,
                "dry-run connect: Would become {}, doing a {} resync.",
                if source {
                    ConnState::SyncSource.name()
                } else {
                    ConnState::SyncTarget.name()
                },
                if full { "full" } else { "bit-map based" }
            ),
            Msg::WriteWholeBitmap => f.write_str(
                "Writing the whole bitmap, full sync required after drbd_sync_handshake.",
            ),
        }
    }
}

/// What the handshake needs from the device, in the order C does it.
pub(crate) trait Env {
    /// Logs a line at [`Msg::level`].
    fn log(&mut self, msg: Msg);
    /// Runs a usermode helper and waits for it (its exit code does not matter here).
    fn helper(&mut self, helper: Helper);
    /// drbd_change_state(CS_VERBOSE, role Secondary) for the call-pri-lost-after-sb policy;
    /// true on SS_SUCCESS.
    fn demote(&mut self) -> bool;
}

/// Why the handshake gives up (C returns C_MASK): the connection is dropped, or the attach in
/// progress on either side is aborted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Abort {
    Unrelated,
    /// The UUIDs need a newer protocol (and feature flags) on both sides.
    Protocol {
        proto: i32,
        features: Option<i32>,
    },
    SplitBrain,
    /// "I shall become SyncSource, but I am inconsistent!"
    InconsistentSource,
    /// "I shall become SyncTarget, but I am primary!" (rr-conflict).
    PrimaryTarget,
    /// A dry run (`tentative` or the peer's CF_DRY_RUN) stops after deciding.
    DryRun,
}

/// What drbd_sync_handshake() decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// C_CONNECTED: no resync.
    Connected,
    /// C_WF_BITMAP_S; `full`: set and write the whole bitmap first.
    SyncSource { full: bool },
    /// C_WF_BITMAP_T; `full`: set and write the whole bitmap first.
    SyncTarget { full: bool },
    /// C_MASK.
    Abort(Abort),
}

impl Decision {
    /// The connection state to go to; `None` for C_MASK.
    pub(crate) const fn conn_state(self) -> Option<ConnState> {
        match self {
            Decision::Connected => Some(ConnState::Connected),
            Decision::SyncSource { .. } => Some(ConnState::WfBitMapS),
            Decision::SyncTarget { .. } => Some(ConnState::WfBitMapT),
            Decision::Abort(_) => None,
        }
    }
}

/// The handshake's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Handshake {
    /// What uuid_compare() said (its fixup is already applied).
    pub(crate) compare: Compare,
    /// `hg` after the disk states and split-brain policies.
    pub(crate) hg: i32,
    pub(crate) decision: Decision,
    /// The call-pri-lost-after-sb policy made us Secondary.
    pub(crate) demoted: bool,
}

fn primary(role: Role) -> bool {
    role == Role::Primary
}

/// drbd_asb_recover_0p(): split brain, no Primary left (also the base of the 1p/2p policies).
/// The Primary bit of each bitmap UUID tells who was Primary when the data diverged.
fn asb_recover_0p<E: Env + ?Sized>(me: &Side, peer: &Side, net: &Net, env: &mut E) -> i32 {
    use AfterSb::*;
    let self_pri = me.uuids[UI_BITMAP] & 1;
    let peer_pri = peer.uuids[UI_BITMAP] & 1;
    let (ch_self, ch_peer) = (me.bits, peer.bits);
    let tie = if net.resolve_conflicts { -1 } else { 1 };
    let policy = match AfterSb::from_u32(net.after_sb_0p) {
        Some(Consensus | DiscardSecondary | CallHelper | Violently) => {
            env.log(Msg::ConfigurationError);
            return -100;
        }
        None | Some(Disconnect) => return -100,
        Some(DiscardLocal) => return -1,
        Some(DiscardRemote) => return 1,
        Some(p) => p,
    };
    if policy == DiscardYoungerPri {
        match (self_pri, peer_pri) {
            (0, 1) => return -1,
            (1, 0) => return 1,
            _ => {}
        }
    }
    if matches!(policy, DiscardYoungerPri | DiscardOlderPri) {
        match (self_pri, peer_pri) {
            (0, 1) => return 1,
            (1, 0) => return -1,
            _ => env.log(Msg::YoungerOlderUndecided),
        }
    }
    if policy != DiscardLeastChg {
        if ch_peer == 0 && ch_self == 0 {
            return tie;
        }
        if ch_peer == 0 {
            return 1;
        }
        if ch_self == 0 {
            return -1;
        }
        if policy == DiscardZeroChg {
            return -100;
        }
    }
    match ch_self.cmp(&ch_peer) {
        core::cmp::Ordering::Less => -1,
        core::cmp::Ordering::Greater => 1,
        core::cmp::Ordering::Equal => tie,
    }
}

/// call-pri-lost-after-sb with a result that discards our data while we are Primary: give up
/// the role, or run the helper and stay split.
fn give_up_primary<E: Env + ?Sized>(hg: i32, role: &mut Role, env: &mut E) -> i32 {
    if env.demote() {
        *role = Role::Secondary;
        env.log(Msg::GaveUpPrimary);
        hg
    } else {
        env.helper(Helper::PriLostAfterSb);
        -100
    }
}

/// drbd_asb_recover_1p(): split brain, one Primary. `role` is ours, updated on demotion.
fn asb_recover_1p<E: Env + ?Sized>(
    me: &Side,
    peer: &Side,
    net: &Net,
    role: &mut Role,
    env: &mut E,
) -> i32 {
    use AfterSb::*;
    match AfterSb::from_u32(net.after_sb_1p) {
        Some(
            DiscardYoungerPri | DiscardOlderPri | DiscardLeastChg | DiscardLocal | DiscardRemote
            | DiscardZeroChg,
        ) => {
            env.log(Msg::ConfigurationError);
            -100
        }
        None | Some(Disconnect) => -100,
        Some(Consensus) => match asb_recover_0p(me, peer, net, env) {
            -1 if *role == Role::Secondary => -1,
            1 if *role == Role::Primary => 1,
            _ => -100,
        },
        Some(Violently) => asb_recover_0p(me, peer, net, env),
        Some(DiscardSecondary) => {
            if primary(*role) {
                1
            } else {
                -1
            }
        }
        Some(CallHelper) => {
            let hg = asb_recover_0p(me, peer, net, env);
            if hg == -1 && primary(*role) {
                give_up_primary(hg, role, env)
            } else {
                hg
            }
        }
    }
}

/// drbd_asb_recover_2p(): split brain, both Primary.
fn asb_recover_2p<E: Env + ?Sized>(
    me: &Side,
    peer: &Side,
    net: &Net,
    role: &mut Role,
    env: &mut E,
) -> i32 {
    use AfterSb::*;
    match AfterSb::from_u32(net.after_sb_2p) {
        Some(
            DiscardYoungerPri | DiscardOlderPri | DiscardLeastChg | DiscardLocal | DiscardRemote
            | Consensus | DiscardSecondary | DiscardZeroChg,
        ) => {
            env.log(Msg::ConfigurationError);
            -100
        }
        Some(Violently) => asb_recover_0p(me, peer, net, env),
        None | Some(Disconnect) => -100,
        Some(CallHelper) => {
            let hg = asb_recover_0p(me, peer, net, env);
            if hg == -1 {
                give_up_primary(hg, role, env)
            } else {
                hg
            }
        }
    }
}

/// drbd_sync_handshake(): the decision, with its logging, helpers and UUID corrections.
///
/// `me.disk` is our state's disk; while it is Negotiating (attaching), `attach_disk`
/// (`new_state_tmp.disk`) is the disk state to decide with. The peer's `disk` is its real disk
/// state ([`real_peer_disk`]). A [`Fixup`] is applied to `me.uuids` (write the meta data) or
/// `peer.uuids` (our copy of the peer's).
pub(crate) fn sync_handshake<E: Env + ?Sized>(
    me: &mut Side,
    peer: &mut Side,
    net: &Net,
    attach_disk: DiskState,
    env: &mut E,
) -> Handshake {
    let mydisk = if me.disk == DiskState::Negotiating {
        attach_disk
    } else {
        me.disk
    };

    env.log(Msg::Start);
    env.log(Msg::Dump {
        peer: false,
        uuids: me.uuids,
        bits: me.bits,
        flags: 0,
    });
    env.log(Msg::Dump {
        peer: true,
        uuids: peer.uuids,
        bits: peer.bits,
        flags: peer.flags,
    });

    let compare = uuid_compare(me, peer, net);
    if let Some(fixup) = compare.fixup {
        fixup.apply(&mut me.uuids, &mut peer.uuids);
    }
    if let Some(note) = compare.note {
        env.log(Msg::Note(note));
        match compare.fixup {
            // C dumps our set with the bitmap's live weight (0 below Negotiating), flags 0;
            // `bits` stands in for that weight.
            Some(f) if f.on_self() => env.log(Msg::Dump {
                peer: false,
                uuids: me.uuids,
                bits: if me.disk >= DiskState::Negotiating {
                    me.bits
                } else {
                    0
                },
                flags: 0,
            }),
            Some(_) => env.log(Msg::Dump {
                peer: true,
                uuids: peer.uuids,
                bits: peer.bits,
                flags: peer.flags,
            }),
            None => {}
        }
    }
    let mut hg = compare.value;
    env.log(Msg::Compared {
        hg,
        rule_nr: compare.rule_nr,
    });

    let mut out = Handshake {
        compare,
        hg,
        decision: Decision::Connected,
        demoted: false,
    };
    let abort = |mut out: Handshake, hg: i32, why: Abort| {
        out.hg = hg;
        out.decision = Decision::Abort(why);
        out
    };

    if hg == -1000 {
        env.log(Msg::Unrelated);
        return abort(out, hg, Abort::Unrelated);
    }
    if hg < -0x10000 {
        let v = hg.wrapping_neg();
        let (proto, features) = (v & 0xff, (v >> 8) & 0xff);
        env.log(Msg::NeedProtocolFeatures { proto, features });
        return abort(
            out,
            hg,
            Abort::Protocol {
                proto,
                features: Some(features),
            },
        );
    }
    if hg < -1000 {
        let proto = hg.wrapping_neg().wrapping_sub(1000);
        env.log(Msg::NeedProtocol { proto });
        return abort(
            out,
            hg,
            Abort::Protocol {
                proto,
                features: None,
            },
        );
    }

    if (mydisk == DiskState::Inconsistent && peer.disk > DiskState::Inconsistent)
        || (peer.disk == DiskState::Inconsistent && mydisk > DiskState::Inconsistent)
    {
        let full = hg == -100 || hg.unsigned_abs() == 2;
        hg = if mydisk > DiskState::Inconsistent {
            1
        } else {
            -1
        };
        if full {
            hg *= 2;
        }
        env.log(Msg::DiskStates { source: hg > 0 });
    }

    if hg.unsigned_abs() == 100 {
        env.helper(Helper::InitialSplitBrain);
    }

    let mut role = me.role;
    if hg == 100 || (hg == -100 && net.always_asbp) {
        let primaries = u32::from(primary(role)) + u32::from(primary(peer.role));
        let forced = hg == -100;
        hg = match primaries {
            0 => asb_recover_0p(me, peer, net, env),
            1 => asb_recover_1p(me, peer, net, &mut role, env),
            _ => asb_recover_2p(me, peer, net, &mut role, env),
        };
        if hg.unsigned_abs() < 100 {
            env.log(Msg::AutoSolved {
                primaries,
                from_peer: hg < 0,
            });
            if forced {
                env.log(Msg::FullSyncAmbiguous);
                hg *= 2;
            }
        }
    }
    out.demoted = role != me.role;

    if hg == -100 {
        let discard_mine = me.flags & UUID_FLAG_DISCARD_MY_DATA != 0;
        let discard_peers = peer.flags & UUID_FLAG_DISCARD_MY_DATA != 0;
        if discard_mine && !discard_peers {
            hg = -1;
        }
        if !discard_mine && discard_peers {
            hg = 1;
        }
        if hg.unsigned_abs() < 100 {
            env.log(Msg::ManuallySolved { from_peer: hg < 0 });
        }
    }

    if hg == -100 {
        env.log(Msg::Unresolved);
        env.helper(Helper::SplitBrain);
        return abort(out, hg, Abort::SplitBrain);
    }

    if hg > 0 && mydisk <= DiskState::Inconsistent {
        env.log(Msg::InconsistentSource);
        return abort(out, hg, Abort::InconsistentSource);
    }

    // By intention our state's disk, not `mydisk`.
    if hg < 0 && primary(role) && me.disk >= DiskState::Consistent {
        match AfterSb::from_u32(net.rr_conflict) {
            Some(AfterSb::CallHelper) => {
                env.helper(Helper::PriLost);
                env.log(Msg::PrimaryTarget);
                return abort(out, hg, Abort::PrimaryTarget);
            }
            Some(AfterSb::Disconnect) => {
                env.log(Msg::PrimaryTarget);
                return abort(out, hg, Abort::PrimaryTarget);
            }
            Some(AfterSb::Violently) => env.log(Msg::ViolentlyTarget),
            _ => {}
        }
    }

    let full = hg.unsigned_abs() >= 2;
    if net.dry_run {
        env.log(if hg == 0 {
            Msg::DryRunNoResync
        } else {
            Msg::DryRunWould {
                source: hg > 0,
                full,
            }
        });
        return abort(out, hg, Abort::DryRun);
    }

    if full {
        env.log(Msg::WriteWholeBitmap);
    }
    out.hg = hg;
    out.decision = match hg {
        1.. => Decision::SyncSource { full },
        0 => Decision::Connected,
        _ => Decision::SyncTarget { full },
    };
    out
}

/// drbd_resync_finished() of a checksum-based resync: the percentage of the `total` bits that
/// had equal checksums (`same`), in C's integer arithmetic.
pub(crate) fn equal_csum_percent(same: u64, total: u64) -> u64 {
    match total {
        0 => 0,
        t if t < 100_000 => same * 100 / t,
        t => same / (t / 100),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;
    use std::vec::Vec;

    const A: u64 = 0xA1A1_0000_0000_00A0;
    const B: u64 = 0xB2B2_0000_0000_00B0;
    const C: u64 = 0xC3C3_0000_0000_00C0;
    const D: u64 = 0xD4D4_0000_0000_00D0;
    const E: u64 = 0xE5E5_0000_0000_00E0;
    const F: u64 = 0xF6F6_0000_0000_00F0;
    const G: u64 = 0x0707_0000_0000_0070;
    const H: u64 = 0x1818_0000_0000_0080;
    const JC: u64 = UUID_JUST_CREATED;
    const OFF: u64 = UUID_NEW_BM_OFFSET;

    fn side(uuids: [u64; 4]) -> Side {
        Side {
            uuids,
            bits: 0,
            flags: 0,
            role: Role::Secondary,
            disk: DiskState::UpToDate,
        }
    }

    fn cmp_at(me: [u64; 4], peer: [u64; 4], pro: u32) -> (i32, u32) {
        let c = uuid_compare(&side(me), &side(peer), &Net::new(pro, false));
        (c.value, c.rule_nr)
    }

    fn cmp(me: [u64; 4], peer: [u64; 4]) -> (i32, u32) {
        cmp_at(me, peer, 101)
    }

    /// An [`Env`] that records what the handshake does.
    #[derive(Default)]
    struct Rec {
        lines: Vec<String>,
        levels: Vec<Level>,
        helpers: Vec<&'static str>,
        demote_ok: bool,
        demotes: u32,
    }

    impl Env for Rec {
        fn log(&mut self, msg: Msg) {
            self.lines.push(std::format!("{msg}"));
            self.levels.push(msg.level());
        }
        fn helper(&mut self, helper: Helper) {
            self.helpers.push(helper.name());
        }
        fn demote(&mut self) -> bool {
            self.demotes += 1;
            self.demote_ok
        }
    }

    impl Rec {
        fn has(&self, line: &str) -> bool {
            self.lines.iter().any(|l| l == line)
        }
    }

    fn shake(me: &mut Side, peer: &mut Side, net: &Net) -> (Handshake, Rec) {
        let mut rec = Rec::default();
        let hs = sync_handshake(me, peer, net, DiskState::Inconsistent, &mut rec);
        (hs, rec)
    }

    #[test]
    fn constants_as_drbd_h() {
        assert_eq!((UI_SIZE, UI_FLAGS, UI_EXTENDED_SIZE), (4, 5, 6));
        assert_eq!(
            (UI_CURRENT, UI_BITMAP, UI_HISTORY_START, UI_HISTORY_END),
            (0, 1, 2, 3)
        );
        assert_eq!(HG_NEED_WSAME, -0x10465);
        let all = [
            AfterSb::Disconnect,
            AfterSb::DiscardYoungerPri,
            AfterSb::DiscardOlderPri,
            AfterSb::DiscardZeroChg,
            AfterSb::DiscardLeastChg,
            AfterSb::DiscardLocal,
            AfterSb::DiscardRemote,
            AfterSb::Consensus,
            AfterSb::DiscardSecondary,
            AfterSb::CallHelper,
            AfterSb::Violently,
        ];
        for (n, p) in all.iter().enumerate() {
            assert_eq!(*p as u32, n as u32);
            assert_eq!(AfterSb::from_u32(n as u32), Some(*p));
        }
        assert_eq!(AfterSb::from_u32(11), None);
        assert_eq!(AfterSb::peer_view(5), 6);
        assert_eq!(AfterSb::peer_view(6), 5);
        assert_eq!(AfterSb::peer_view(7), 7);
        assert_eq!(uuid_flags(true, true, true, true), 15);
        assert_eq!(uuid_flags(false, true, false, false), 2);
    }

    #[test]
    fn peer_side_from_p_uuids() {
        let p = [A | 1, B, C, D, 77, UUID_FLAG_INCONSISTENT];
        let s = Side::from_p_uuids(&p, Role::Primary, DiskState::Negotiating);
        assert_eq!(s.uuids, [A | 1, B, C, D]);
        assert_eq!((s.bits, s.flags), (77, 4));
        assert_eq!(s.disk, DiskState::Inconsistent);
        assert_eq!(
            real_peer_disk(DiskState::Negotiating, 0),
            DiskState::Consistent
        );
        assert_eq!(real_peer_disk(DiskState::Outdated, 4), DiskState::Outdated);
    }

    #[test]
    fn rule_10_both_just_created() {
        assert_eq!(cmp([JC, 0, 0, 0], [JC, 0, 0, 0]), (0, 10));
        // the Primary bit does not count
        assert_eq!(cmp([JC | 1, 0, 0, 0], [JC, 0, 0, 0]), (0, 10));
    }

    #[test]
    fn rule_20_and_30_one_just_created() {
        assert_eq!(cmp([JC, 0, 0, 0], [A, JC, 0, 0]), (-2, 20));
        assert_eq!(cmp([A, JC, 0, 0], [JC, 0, 0, 0]), (2, 30));
        assert_eq!(cmp([0, 0, 0, 0], [A, 0, 0, 0]), (-2, 20));
        assert_eq!(cmp([A, 0, 0, 0], [0, 0, 0, 0]), (2, 30));
        // a zero current UUID against a just created one: the zero side is "source"
        assert_eq!(cmp([0, 0, 0, 0], [JC, 0, 0, 0]), (2, 30));
        assert_eq!(cmp([JC, 0, 0, 0], [0, 0, 0, 0]), (-2, 20));
        // both zero: -2 from both sides (not antisymmetric)
        assert_eq!(cmp([0, 0, 0, 0], [0, 0, 0, 0]), (-2, 20));
    }

    #[test]
    fn rules_34_to_37_equal_current_one_bitmap() {
        // we were SyncSource, the peer finished, we missed it
        let me = side([A, B, C, 0]);
        let peer = side([A, 0, B, C]);
        let c = uuid_compare(&me, &peer, &Net::new(101, false));
        assert_eq!((c.value, c.rule_nr), (1, 34));
        assert_eq!(c.note, Some(Note::SourceCorrectedSelf));
        assert_eq!(c.fixup, Some(Fixup::SelfResyncFinished));
        let (mut m, mut p) = (me.uuids, peer.uuids);
        Fixup::SelfResyncFinished.apply(&mut m, &mut p);
        assert_eq!((m, p), ([A, 0, B, C], [A, 0, B, C]));
        // its mirror
        let c = uuid_compare(&peer, &me, &Net::new(101, false));
        assert_eq!((c.value, c.rule_nr), (-1, 35));
        assert_eq!(c.fixup, Some(Fixup::PeerResyncFinished));
        let (mut m, mut p) = (peer.uuids, me.uuids);
        Fixup::PeerResyncFinished.apply(&mut m, &mut p);
        assert_eq!((m, p), ([A, 0, B, C], [A, 0, B, C]));
        // the peer never got the end of the sync
        let c = uuid_compare(
            &side([A, B, C, 0]),
            &side([A, 0, D, 0]),
            &Net::new(91, false),
        );
        assert_eq!((c.value, c.rule_nr, c.fixup), (1, 36, None));
        assert_eq!(c.note, Some(Note::SourcePeerFailed));
        let c = uuid_compare(
            &side([A, 0, D, 0]),
            &side([A, B, C, 0]),
            &Net::new(91, false),
        );
        assert_eq!((c.value, c.rule_nr, c.fixup), (-1, 37, None));
        assert_eq!(c.note, Some(Note::TargetFailed));
        // the Primary bits do not count
        assert_eq!(cmp([A | 1, B | 1, C, 0], [A, 0, B, C | 1]), (1, 34));
        // below protocol 91: -1091, still "by rule 30"
        assert_eq!(cmp_at([A, B, C, 0], [A, 0, B, C], 90), (-1091, 30));
        assert_eq!(cmp_at([A, 0, B, C], [A, B, C, 0], 90), (-1091, 30));
    }

    fn crashed(mut s: Side) -> Side {
        s.flags |= UUID_FLAG_CRASHED_PRIMARY;
        s
    }

    #[test]
    fn rule_40_equal_current_crashed_primaries() {
        let net = Net::new(101, false);
        let s = side([A, 0, B, 0]);
        let c = |me: &Side, peer: &Side, net: &Net| {
            let c = uuid_compare(me, peer, net);
            (c.value, c.rule_nr)
        };
        assert_eq!(c(&s, &s, &net), (0, 40));
        assert_eq!(c(&crashed(s), &s, &net), (1, 40));
        assert_eq!(c(&s, &crashed(s), &net), (-1, 40));
        // both crashed: RESOLVE_CONFLICTS decides
        assert_eq!(c(&crashed(s), &crashed(s), &net), (1, 40));
        assert_eq!(c(&crashed(s), &crashed(s), &Net::new(101, true)), (-1, 40));
        // both bitmap UUIDs set and equal current: the same
        let s2 = side([A, B, C, 0]);
        assert_eq!(c(&s2, &crashed(s2), &net), (-1, 40));
        // a peer's other flag bits do not count
        let mut odd = s;
        odd.flags = UUID_FLAG_DISCARD_MY_DATA | UUID_FLAG_INCONSISTENT | 8 | 0x100;
        assert_eq!(c(&s, &odd, &net), (0, 40));
    }

    #[test]
    fn rule_41_equal_current_with_a_primary() {
        let net = Net::new(101, false);
        let s = side([A | 1, 0, B, 0]);
        let pri = Side {
            role: Role::Primary,
            ..s
        };
        let c = uuid_compare(&crashed(pri), &s, &net);
        assert_eq!((c.value, c.rule_nr, c.note), (1, 41, None));
        let c = uuid_compare(&s, &crashed(pri), &net);
        assert_eq!((c.value, c.rule_nr), (-1, 41));
        let c = uuid_compare(&crashed(s), &pri, &net);
        assert_eq!((c.value, c.rule_nr), (-1, 41));
        let c = uuid_compare(&crashed(pri), &pri, &net);
        assert_eq!((c.value, c.rule_nr), (-100, 41));
        assert_eq!(c.note, Some(Note::UnrotatedBothPrimary));
        let old = Net {
            agreed_features: 3,
            ..net
        };
        let c = uuid_compare(&crashed(pri), &s, &old);
        assert_eq!((c.value, c.rule_nr), (-0x10465, 41));
        assert_eq!(c.note, Some(Note::UnrotatedWithPrimary));
        assert!(Msg::Note(Note::UnrotatedWithPrimary).on_peer_device());
        // no crash: rule 40 wins, roles do not matter
        let c = uuid_compare(&pri, &pri, &old);
        assert_eq!((c.value, c.rule_nr), (0, 40));
    }

    #[test]
    fn rule_50_peer_wrote_since_our_current() {
        assert_eq!(cmp([A, 0, C, 0], [B | 1, A | 1, C, 0]), (-1, 50));
    }

    #[test]
    fn rule_51_lost_sync_uuid() {
        // from 96: the peer (source) made A+OFF its sync UUID from its bitmap UUID A
        let me = side([A, 0, C, 0]);
        let peer = side([B, A + OFF, A, C]);
        let c = uuid_compare(&me, &peer, &Net::new(96, false));
        assert_eq!((c.value, c.rule_nr), (-1, 51));
        assert_eq!(c.note, Some(Note::LostSyncUuid));
        assert_eq!(c.fixup, Some(Fixup::PeerUndoSyncUuid));
        let (mut m, mut p) = (me.uuids, peer.uuids);
        Fixup::PeerUndoSyncUuid.apply(&mut m, &mut p);
        assert_eq!((m, p), ([A, 0, C, 0], [B, A, C, C]));
        // before 96 the test is our h0 against its h1 (the random sync UUID R)
        let r = D;
        assert_eq!(cmp_at([A, 0, C, 0], [B, r, A, C], 95), (-1, 51));
        assert_eq!(cmp_at([A, 0, C, 0], [B, r, A, C], 91), (-1, 51));
        assert_eq!(cmp_at([A, 0, C, 0], [B, r, A, C], 90), (-1091, 51));
        // the 96 test fails for a random sync UUID: history match, full sync
        assert_eq!(cmp_at([A, 0, C, 0], [B, r, A, C], 96), (-2, 60));
        // and the old test fails for an offset one whose history differs
        assert_eq!(cmp_at([A, 0, E, 0], [B, A + OFF, A, C], 95), (-2, 60));
        assert_eq!(cmp_at([A, 0, E, 0], [B, A + OFF, A, C], 96), (-1, 51));
        // the offset wraps as C's u64 does
        let top = 0xFFFF_0000_0000_1230;
        assert_eq!(
            cmp_at([top, 0, C, 0], [B, top.wrapping_add(OFF), top, C], 101),
            (-1, 51)
        );
    }

    #[test]
    fn rule_60_our_current_in_peer_history() {
        assert_eq!(cmp([A, 0, C, 0], [B, 0, D, A]), (-2, 60));
        assert_eq!(cmp([A, 0, C, 0], [B, 0, A | 1, D]), (-2, 60));
    }

    #[test]
    fn rule_70_we_wrote_since_peer_current() {
        assert_eq!(cmp([B | 1, A | 1, C, 0], [A, 0, C, 0]), (1, 70));
    }

    #[test]
    fn rule_71_sync_uuid_not_through() {
        let me = side([B, A + OFF, A, C]);
        let peer = side([A, 0, C, 0]);
        let c = uuid_compare(&me, &peer, &Net::new(101, false));
        assert_eq!((c.value, c.rule_nr), (1, 71));
        assert_eq!(c.note, Some(Note::SyncUuidNotThrough));
        assert_eq!(c.fixup, Some(Fixup::SelfUndoSyncUuid));
        let (mut m, mut p) = (me.uuids, peer.uuids);
        Fixup::SelfUndoSyncUuid.apply(&mut m, &mut p);
        assert_eq!((m, p), ([B, A, C, C], [A, 0, C, 0]));
        assert_eq!(cmp_at([B, D, A, C], [A, 0, C, 0], 95), (1, 71));
        assert_eq!(cmp_at([B, D, A, C], [A, 0, C, 0], 86), (-1091, 71));
        assert_eq!(cmp_at([B, D, A, C], [A, 0, C, 0], 96), (2, 80));
    }

    #[test]
    fn rule_80_peer_current_in_our_history() {
        assert_eq!(cmp([B, 0, D, A], [A, 0, C, 0]), (2, 80));
    }

    #[test]
    fn rule_90_same_bitmap_uuid() {
        assert_eq!(cmp([B, A, C, 0], [D, A | 1, C, 0]), (100, 90));
        // two independent `primary --force` after create-md
        assert_eq!(cmp([B | 1, JC, 0, 0], [D | 1, JC, 0, 0]), (100, 90));
    }

    #[test]
    fn rule_100_common_history_or_unrelated() {
        assert_eq!(cmp([B, 0, A, C], [D, 0, E, A]), (-100, 100));
        assert_eq!(cmp([B, E, A, C], [D, F, G, A | 1]), (-100, 100));
        // zero history slots count as common, as in C
        assert_eq!(cmp([B, 0, C, 0], [D, 0, E, 0]), (-100, 100));
        assert_eq!(cmp([B, 0, C, D], [E, 0, F, G]), (-1000, 100));
        assert_eq!(cmp([B, A, C, D], [E, H, F, G]), (-1000, 100));
    }

    #[test]
    fn fresh_pair_connects_without_sync() {
        let mut me = Side {
            disk: DiskState::Inconsistent,
            ..side([JC, 0, 0, 0])
        };
        let mut peer = me;
        let (hs, rec) = shake(&mut me, &mut peer, &Net::new(101, false));
        assert_eq!(hs.decision, Decision::Connected);
        assert_eq!(hs.decision.conn_state(), Some(ConnState::Connected));
        assert_eq!(
            rec.lines,
            [
                "drbd_sync_handshake:",
                "self 0000000000000004:0000000000000000:0000000000000000:0000000000000000 bits:0 flags:0",
                "peer 0000000000000004:0000000000000000:0000000000000000:0000000000000000 bits:0 flags:0",
                "uuid_compare()=0 by rule 10",
            ]
        );
        assert!(rec.helpers.is_empty());
    }

    #[test]
    fn initial_full_sync_after_primary_force() {
        // `primary --force` on one node: UpToDate with a new current UUID
        let mut uuids = [JC, 0, 0, 0];
        crate::model::role::uuid_new_current(&mut uuids, A, true);
        let forced = Side {
            uuids,
            bits: 1000,
            flags: 0,
            role: Role::Primary,
            disk: DiskState::UpToDate,
        };
        let fresh = Side {
            bits: 1000,
            disk: DiskState::Inconsistent,
            ..side([JC, 0, 0, 0])
        };
        let (mut me, mut peer) = (forced, fresh);
        let (hs, rec) = shake(&mut me, &mut peer, &Net::new(101, true));
        assert_eq!((hs.compare.value, hs.compare.rule_nr), (2, 30));
        assert_eq!(hs.decision, Decision::SyncSource { full: true });
        assert_eq!(hs.decision.conn_state(), Some(ConnState::WfBitMapS));
        assert!(rec.has("Becoming sync source due to disk states."));
        assert!(rec.has("Writing the whole bitmap, full sync required after drbd_sync_handshake."));
        let (mut me, mut peer) = (fresh, forced);
        let (hs, rec) = shake(&mut me, &mut peer, &Net::new(101, false));
        assert_eq!((hs.compare.value, hs.compare.rule_nr), (-2, 20));
        assert_eq!(hs.decision, Decision::SyncTarget { full: true });
        assert!(rec.has("Becoming sync target due to disk states."));
        assert_eq!(
            rec.lines[2],
            "peer A1A10000000000A1:0000000000000004:0000000000000000:0000000000000000 bits:1000 \
             flags:0"
        );
    }

    #[test]
    fn new_current_uuid_clear_bitmap() {
        // Standalone `new-current-uuid --clear-bitmap` on a just created node: bitmap UUID
        // rotated (0, nothing to rotate), new current; the disk stays Inconsistent. Connecting
        // then is a full sync from an inconsistent node, which C refuses.
        let mut u = [JC, 0, 0, 0];
        crate::model::role::uuid_set(&mut u, UI_BITMAP, 0, false);
        crate::model::role::uuid_new_current(&mut u, A, false);
        assert_eq!(u, [A, JC, 0, 0]);
        let mut me = Side {
            disk: DiskState::Inconsistent,
            ..side(u)
        };
        let mut peer = Side {
            disk: DiskState::Inconsistent,
            ..side([JC, 0, 0, 0])
        };
        let (hs, rec) = shake(&mut me, &mut peer, &Net::new(101, false));
        assert_eq!(hs.compare.value, 2);
        assert_eq!(hs.decision, Decision::Abort(Abort::InconsistentSource));
        assert!(rec.has("I shall become SyncSource, but I am inconsistent!"));
        assert_eq!(rec.levels.last(), Some(&Level::Err));
        // Connected, it is the skip-initial-sync path of receive_uuids() instead: the peer
        // takes our current UUID and no handshake runs.
        let flags = uuid_flags(false, false, false, true);
        assert!(accepts_skip_initial_sync(true, 101, JC, flags));
        assert!(!accepts_skip_initial_sync(true, 89, JC, flags));
        assert!(!accepts_skip_initial_sync(false, 101, JC, flags));
        assert!(!accepts_skip_initial_sync(true, 101, JC | 1, flags));
        assert!(!accepts_skip_initial_sync(true, 101, JC, 0));
        // both then have [A, 0, 0, 0]: nothing to do
        assert_eq!(cmp([A, 0, 0, 0], [A, 0, 0, 0]), (0, 40));
    }

    #[test]
    fn primary_wrote_while_disconnected() {
        let mut me = Side {
            role: Role::Primary,
            bits: 12,
            ..side([B | 1, A | 1, C, 0])
        };
        let mut peer = Side {
            disk: DiskState::Outdated,
            ..side([A, 0, C, 0])
        };
        let net = Net::new(101, false);
        let (hs, rec) = shake(&mut me, &mut peer, &net);
        assert_eq!((hs.compare.value, hs.compare.rule_nr), (1, 70));
        assert_eq!(hs.decision, Decision::SyncSource { full: false });
        assert!(rec.has("uuid_compare()=1 by rule 70"));
        assert!(!rec.lines.iter().any(|l| l.starts_with("Writing")));
        let (mut me, mut peer) = (peer, me);
        let (hs, _) = shake(&mut me, &mut peer, &net);
        assert_eq!((hs.compare.value, hs.compare.rule_nr), (-1, 50));
        assert_eq!(hs.decision, Decision::SyncTarget { full: false });
        assert_eq!(hs.decision.conn_state(), Some(ConnState::WfBitMapT));
    }

    /// Both wrote since the common generation A: we as former Primary (A|1 in the bitmap).
    fn split(my_role: Role, peer_role: Role, my_bits: u64, peer_bits: u64) -> (Side, Side) {
        (
            Side {
                role: my_role,
                bits: my_bits,
                ..side([B | 1, A | 1, C, 0])
            },
            Side {
                role: peer_role,
                bits: peer_bits,
                ..side([D, A, C, 0])
            },
        )
    }

    fn split_brain(pair: (Side, Side), net: &Net, demote_ok: bool) -> (Handshake, Rec) {
        let (mut me, mut peer) = pair;
        let mut rec = Rec {
            demote_ok,
            ..Rec::default()
        };
        let hs = sync_handshake(&mut me, &mut peer, net, DiskState::Inconsistent, &mut rec);
        assert_eq!((hs.compare.value, hs.compare.rule_nr), (100, 90));
        assert_eq!(rec.helpers.first(), Some(&"initial-split-brain"));
        (hs, rec)
    }

    fn policy(p0: AfterSb, p1: AfterSb, p2: AfterSb, resolve_conflicts: bool) -> Net {
        Net {
            after_sb_0p: p0 as u32,
            after_sb_1p: p1 as u32,
            after_sb_2p: p2 as u32,
            ..Net::new(101, resolve_conflicts)
        }
    }

    fn p0(p: AfterSb, rc: bool) -> Net {
        policy(p, AfterSb::Disconnect, AfterSb::Disconnect, rc)
    }

    const SEC: Role = Role::Secondary;
    const PRI: Role = Role::Primary;

    #[test]
    fn split_brain_unresolved() {
        let (hs, rec) = split_brain(split(SEC, SEC, 5, 7), &Net::new(101, false), false);
        assert_eq!(hs.decision, Decision::Abort(Abort::SplitBrain));
        assert_eq!(hs.hg, -100);
        assert!(rec.has("Split-Brain detected but unresolved, dropping connection!"));
        assert_eq!(rec.helpers, ["initial-split-brain", "split-brain"]);
        assert_eq!(hs.decision.conn_state(), None);
    }

    #[test]
    fn split_brain_0p_policies() {
        use AfterSb::*;
        let solved = |from: &str| {
            std::format!(
                "Split-Brain detected, 0 primaries, automatically solved. Sync from {from} node"
            )
        };
        // we were the Primary when it split: the older primary
        let (hs, rec) = split_brain(split(SEC, SEC, 5, 7), &p0(DiscardYoungerPri, false), false);
        assert_eq!(hs.decision, Decision::SyncSource { full: false });
        assert!(rec.has(&solved("this")));
        let (hs, _) = split_brain(split(SEC, SEC, 5, 7), &p0(DiscardOlderPri, false), false);
        assert_eq!(hs.decision, Decision::SyncTarget { full: false });
        // neither or both bitmap UUIDs with the Primary bit: falls to the change counts
        let (mut me, peer) = split(SEC, SEC, 5, 7);
        me.uuids[UI_BITMAP] = A;
        let (hs, rec) = split_brain((me, peer), &p0(DiscardYoungerPri, false), false);
        assert!(rec.has(
            "Discard younger/older primary did not find a decision\nUsing \
             discard-least-changes instead"
        ));
        assert_eq!(rec.levels[rec.lines.len() - 2], Level::Warn);
        assert_eq!(hs.decision, Decision::SyncTarget { full: false });
        // zero changes
        let (hs, _) = split_brain(split(SEC, SEC, 0, 7), &p0(DiscardZeroChg, false), false);
        assert_eq!(hs.decision, Decision::SyncTarget { full: false });
        let (hs, _) = split_brain(split(SEC, SEC, 5, 0), &p0(DiscardZeroChg, false), false);
        assert_eq!(hs.decision, Decision::SyncSource { full: false });
        let (hs, _) = split_brain(split(SEC, SEC, 0, 0), &p0(DiscardZeroChg, true), false);
        assert_eq!(hs.decision, Decision::SyncTarget { full: false });
        let (hs, _) = split_brain(split(SEC, SEC, 0, 0), &p0(DiscardZeroChg, false), false);
        assert_eq!(hs.decision, Decision::SyncSource { full: false });
        let (hs, _) = split_brain(split(SEC, SEC, 5, 7), &p0(DiscardZeroChg, false), false);
        assert_eq!(hs.decision, Decision::Abort(Abort::SplitBrain));
        // least changes
        let (hs, _) = split_brain(split(SEC, SEC, 5, 7), &p0(DiscardLeastChg, false), false);
        assert_eq!(hs.decision, Decision::SyncTarget { full: false });
        let (hs, _) = split_brain(split(SEC, SEC, 9, 7), &p0(DiscardLeastChg, false), false);
        assert_eq!(hs.decision, Decision::SyncSource { full: false });
        let (hs, _) = split_brain(split(SEC, SEC, 7, 7), &p0(DiscardLeastChg, true), false);
        assert_eq!(hs.decision, Decision::SyncTarget { full: false });
        // least changes does not look at zero changes first: 0 < 7 anyway
        let (hs, _) = split_brain(split(SEC, SEC, 0, 7), &p0(DiscardLeastChg, false), false);
        assert_eq!(hs.decision, Decision::SyncTarget { full: false });
        // local / remote
        let (hs, rec) = split_brain(split(SEC, SEC, 5, 7), &p0(DiscardLocal, false), false);
        assert_eq!(hs.decision, Decision::SyncTarget { full: false });
        assert!(rec.has(&solved("peer")));
        let (hs, _) = split_brain(split(SEC, SEC, 5, 7), &p0(DiscardRemote, false), false);
        assert_eq!(hs.decision, Decision::SyncSource { full: false });
        // not valid with no primaries
        for p in [Consensus, DiscardSecondary, CallHelper, Violently] {
            let (hs, rec) = split_brain(split(SEC, SEC, 5, 7), &p0(p, false), false);
            assert_eq!(hs.decision, Decision::Abort(Abort::SplitBrain));
            assert!(rec.has("Configuration error."));
        }
        // a number drbd.h does not name: ignored, like disconnect
        let net = Net {
            after_sb_0p: 42,
            ..Net::new(101, false)
        };
        let (hs, rec) = split_brain(split(SEC, SEC, 5, 7), &net, false);
        assert_eq!(hs.decision, Decision::Abort(Abort::SplitBrain));
        assert!(!rec.has("Configuration error."));
    }

    #[test]
    fn split_brain_1p_policies() {
        use AfterSb::*;
        let net = |p1: AfterSb| policy(DiscardLeastChg, p1, Disconnect, false);
        // we are the Primary with fewer changes
        let (hs, _) = split_brain(split(PRI, SEC, 5, 7), &net(Consensus), false);
        assert_eq!(hs.decision, Decision::Abort(Abort::SplitBrain));
        // ... as the Secondary, consensus agrees
        let (hs, rec) = split_brain(split(SEC, PRI, 5, 7), &net(Consensus), false);
        assert_eq!(hs.decision, Decision::SyncTarget { full: false });
        assert!(
            rec.has("Split-Brain detected, 1 primaries, automatically solved. Sync from peer node")
        );
        let (hs, _) = split_brain(split(PRI, SEC, 9, 7), &net(Consensus), false);
        assert_eq!(hs.decision, Decision::SyncSource { full: false });
        // violently: the 0p result, whoever is Primary (rr-conflict then decides)
        let (hs, rec) = split_brain(split(PRI, SEC, 5, 7), &net(Violently), false);
        assert_eq!(hs.decision, Decision::Abort(Abort::PrimaryTarget));
        assert!(rec.has("I shall become SyncTarget, but I am primary!"));
        let violent = Net {
            rr_conflict: Violently as u32,
            ..net(Violently)
        };
        let (hs, rec) = split_brain(split(PRI, SEC, 5, 7), &violent, false);
        assert_eq!(hs.decision, Decision::SyncTarget { full: false });
        assert!(rec.has("Becoming SyncTarget, violating the stable-dataassumption"));
        // discard-secondary
        let (hs, _) = split_brain(split(PRI, SEC, 5, 7), &net(DiscardSecondary), false);
        assert_eq!(hs.decision, Decision::SyncSource { full: false });
        let (hs, _) = split_brain(split(SEC, PRI, 9, 7), &net(DiscardSecondary), false);
        assert_eq!(hs.decision, Decision::SyncTarget { full: false });
        // call-pri-lost-after-sb: the Primary that loses gives up its role
        let (hs, rec) = split_brain(split(PRI, SEC, 5, 7), &net(CallHelper), true);
        assert_eq!(hs.decision, Decision::SyncTarget { full: false });
        assert!(hs.demoted);
        assert_eq!(rec.demotes, 1);
        assert!(rec.has("Successfully gave up primary role."));
        // ... or cannot, and the helper runs
        let (hs, rec) = split_brain(split(PRI, SEC, 5, 7), &net(CallHelper), false);
        assert_eq!(hs.decision, Decision::Abort(Abort::SplitBrain));
        assert!(!hs.demoted);
        assert_eq!(
            rec.helpers,
            ["initial-split-brain", "pri-lost-after-sb", "split-brain"]
        );
        // the winner needs nothing
        let (hs, rec) = split_brain(split(PRI, SEC, 9, 7), &net(CallHelper), false);
        assert_eq!(hs.decision, Decision::SyncSource { full: false });
        assert_eq!(rec.demotes, 0);
        for p in [
            DiscardYoungerPri,
            DiscardOlderPri,
            DiscardLeastChg,
            DiscardLocal,
            DiscardRemote,
            DiscardZeroChg,
        ] {
            let (hs, rec) = split_brain(split(SEC, PRI, 5, 7), &net(p), false);
            assert_eq!(hs.decision, Decision::Abort(Abort::SplitBrain));
            assert!(rec.has("Configuration error."));
        }
        let (hs, _) = split_brain(split(SEC, PRI, 5, 7), &net(Disconnect), false);
        assert_eq!(hs.decision, Decision::Abort(Abort::SplitBrain));
    }

    #[test]
    fn split_brain_2p_policies() {
        use AfterSb::*;
        let net = |p2: AfterSb| policy(DiscardLeastChg, Disconnect, p2, false);
        let (hs, rec) = split_brain(split(PRI, PRI, 9, 7), &net(Violently), false);
        assert_eq!(hs.decision, Decision::SyncSource { full: false });
        assert!(
            rec.has("Split-Brain detected, 2 primaries, automatically solved. Sync from this node")
        );
        let (hs, rec) = split_brain(split(PRI, PRI, 5, 7), &net(CallHelper), true);
        assert_eq!(hs.decision, Decision::SyncTarget { full: false });
        assert!(hs.demoted && rec.has("Successfully gave up primary role."));
        let (hs, rec) = split_brain(split(PRI, PRI, 5, 7), &net(CallHelper), false);
        assert_eq!(hs.decision, Decision::Abort(Abort::SplitBrain));
        assert!(rec.helpers.contains(&"pri-lost-after-sb"));
        let (hs, _) = split_brain(split(PRI, PRI, 9, 7), &net(Disconnect), false);
        assert_eq!(hs.decision, Decision::Abort(Abort::SplitBrain));
        for p in [Consensus, DiscardSecondary, DiscardLocal] {
            let (_, rec) = split_brain(split(PRI, PRI, 9, 7), &net(p), false);
            assert!(rec.has("Configuration error."));
        }
    }

    #[test]
    fn split_brain_discard_my_data() {
        let (mut me, mut peer) = split(SEC, SEC, 5, 7);
        me.flags = UUID_FLAG_DISCARD_MY_DATA;
        let (hs, rec) = split_brain((me, peer), &Net::new(101, false), false);
        assert_eq!(hs.decision, Decision::SyncTarget { full: false });
        assert!(rec.has("Split-Brain detected, manually solved. Sync from peer node"));
        assert_eq!(rec.helpers, ["initial-split-brain"]);
        me.flags = 0;
        peer.flags = UUID_FLAG_DISCARD_MY_DATA;
        let (hs, rec) = split_brain((me, peer), &Net::new(101, false), false);
        assert_eq!(hs.decision, Decision::SyncSource { full: false });
        assert!(rec.has("Split-Brain detected, manually solved. Sync from this node"));
        // both: no decision
        me.flags = UUID_FLAG_DISCARD_MY_DATA;
        let (hs, _) = split_brain((me, peer), &Net::new(101, false), false);
        assert_eq!(hs.decision, Decision::Abort(Abort::SplitBrain));
    }

    #[test]
    fn ambiguous_uuids_with_always_asbp() {
        // -100 by rule 100: only with always-asbp are the policies tried, then a full sync
        let mut me = side([B, 0, A, C]);
        let mut peer = side([D, 0, E, A]);
        me.bits = 3;
        peer.bits = 8;
        let net = Net {
            always_asbp: true,
            ..p0(AfterSb::DiscardLeastChg, false)
        };
        let (hs, rec) = shake(&mut me, &mut peer, &net);
        assert_eq!((hs.compare.value, hs.compare.rule_nr), (-100, 100));
        assert_eq!(hs.decision, Decision::SyncTarget { full: true });
        assert_eq!(hs.hg, -2);
        assert!(rec.has("Doing a full sync, since UUIDs where ambiguous."));
        assert_eq!(rec.helpers, ["initial-split-brain"]);
        let (hs, _) = shake(&mut me, &mut peer, &p0(AfterSb::DiscardLeastChg, false));
        assert_eq!(hs.decision, Decision::Abort(Abort::SplitBrain));
    }

    #[test]
    fn disk_states_override() {
        // split brain, but the peer is Inconsistent: we are source, full (hg was -100)
        let mut me = side([B, 0, A, C]);
        let mut peer = Side {
            disk: DiskState::Inconsistent,
            ..side([D, 0, E, A])
        };
        let (hs, rec) = shake(&mut me, &mut peer, &Net::new(101, false));
        assert_eq!(hs.decision, Decision::SyncSource { full: true });
        assert!(rec.has("Becoming sync source due to disk states."));
        assert!(rec.helpers.is_empty());
        // rule 100 → 100 split brain turns into a bitmap-based sync
        let mut me = Side {
            disk: DiskState::Negotiating,
            ..side([B, A, C, 0])
        };
        let mut peer = side([D, A, C, 0]);
        let (hs, rec) = shake(&mut me, &mut peer, &Net::new(101, false));
        assert_eq!(hs.compare.value, 100);
        // we attach Inconsistent (attach_disk)
        assert_eq!(hs.decision, Decision::SyncTarget { full: false });
        assert!(rec.has("Becoming sync target due to disk states."));
        // Negotiating to a consistent disk: no override, split brain
        let mut rec = Rec::default();
        let hs = sync_handshake(
            &mut me,
            &mut peer,
            &Net::new(101, false),
            DiskState::UpToDate,
            &mut rec,
        );
        assert_eq!(hs.decision, Decision::Abort(Abort::SplitBrain));
    }

    #[test]
    fn unrelated_data_and_protocols() {
        let mut me = side([B, 0, C, D]);
        let mut peer = side([E, 0, F, G]);
        let (hs, rec) = shake(&mut me, &mut peer, &Net::new(101, false));
        assert_eq!(hs.decision, Decision::Abort(Abort::Unrelated));
        assert_eq!(
            rec.lines.last().map(String::as_str),
            Some("Unrelated data, aborting!")
        );
        assert_eq!(rec.levels.last(), Some(&Level::Alert));
        // -1091
        let mut me = side([A, B, C, 0]);
        let mut peer = side([A, 0, B, C]);
        let (hs, rec) = shake(&mut me, &mut peer, &Net::new(90, false));
        assert_eq!(
            hs.decision,
            Decision::Abort(Abort::Protocol {
                proto: 91,
                features: None
            })
        );
        assert!(rec.has("uuid_compare()=-1091 by rule 30"));
        assert!(rec.has("To resolve this both sides have to support at least protocol 91"));
        // rule 41 without DRBD_FF_WSAME
        let mut me = Side {
            role: Role::Primary,
            ..crashed(side([A | 1, 0, B, 0]))
        };
        let mut peer = side([A, 0, B, 0]);
        let net = Net {
            agreed_features: 0,
            ..Net::new(100, false)
        };
        let (hs, rec) = shake(&mut me, &mut peer, &net);
        assert_eq!(
            hs.decision,
            Decision::Abort(Abort::Protocol {
                proto: 101,
                features: Some(4)
            })
        );
        assert!(rec.has("Equivalent unrotated UUIDs, but current primary present."));
        assert!(rec.has("uuid_compare()=-66661 by rule 41"));
        assert!(rec.has(
            "To resolve this both sides have to support at least protocol 101 and feature flags \
             0x4"
        ));
    }

    #[test]
    fn crashed_primary_becomes_source() {
        let net = Net::new(101, false);
        let mut me = crashed(side([A | 1, 0, B, 0]));
        let mut peer = side([A, 0, B, 0]);
        let (hs, _) = shake(&mut me, &mut peer, &net);
        assert_eq!((hs.compare.value, hs.compare.rule_nr), (1, 40));
        assert_eq!(hs.decision, Decision::SyncSource { full: false });
        let (hs, rec) = shake(&mut peer, &mut me, &net);
        assert_eq!((hs.compare.value, hs.compare.rule_nr), (-1, 40));
        assert_eq!(hs.decision, Decision::SyncTarget { full: false });
        assert_eq!(
            rec.lines[2],
            "peer A1A10000000000A1:0000000000000000:B2B20000000000B0:0000000000000000 bits:0 \
             flags:2"
        );
    }

    #[test]
    fn handshake_applies_fixups() {
        let net = Net::new(101, false);
        // rule 34: our meta data is corrected and dumped again
        let mut me = Side {
            bits: 3,
            ..side([A, B, C, 0])
        };
        let mut peer = side([A, 0, B, C]);
        let (hs, rec) = shake(&mut me, &mut peer, &net);
        assert_eq!(hs.compare.fixup, Some(Fixup::SelfResyncFinished));
        assert_eq!(me.uuids, [A, 0, B, C]);
        assert_eq!(hs.decision, Decision::SyncSource { full: false });
        let i = rec
            .lines
            .iter()
            .position(|l| l == Note::SourceCorrectedSelf.text())
            .unwrap();
        assert_eq!(
            rec.lines[i + 1],
            "self A1A10000000000A0:0000000000000000:B2B20000000000B0:C3C30000000000C0 bits:3 \
             flags:0"
        );
        assert_eq!(rec.lines[i + 2], "uuid_compare()=1 by rule 34");
        // rule 51: our copy of the peer's
        let mut me = side([A, 0, C, 0]);
        let mut peer = Side {
            bits: 9,
            flags: 1,
            ..side([B, A + OFF, A, C])
        };
        let (hs, rec) = shake(&mut me, &mut peer, &net);
        assert_eq!(peer.uuids, [B, A, C, C]);
        assert_eq!(me.uuids, [A, 0, C, 0]);
        assert_eq!(hs.decision, Decision::SyncTarget { full: false });
        assert!(rec.has("Lost last syncUUID packet, corrected:"));
        assert!(rec.has(
            "peer B2B20000000000B0:A1A10000000000A0:C3C30000000000C0:C3C30000000000C0 bits:9 \
             flags:1"
        ));
    }

    #[test]
    fn rr_conflict() {
        // we are Primary and UpToDate, the peer's data is newer
        let pair = || {
            (
                Side {
                    role: Role::Primary,
                    ..side([A | 1, 0, C, 0])
                },
                side([B, A, C, 0]),
            )
        };
        let with = |rr: u32| Net {
            rr_conflict: rr,
            ..Net::new(101, false)
        };
        let (mut me, mut peer) = pair();
        let (hs, rec) = shake(&mut me, &mut peer, &with(AfterSb::Disconnect as u32));
        assert_eq!(hs.decision, Decision::Abort(Abort::PrimaryTarget));
        assert!(rec.helpers.is_empty());
        let (hs, rec) = shake(&mut me, &mut peer, &with(AfterSb::CallHelper as u32));
        assert_eq!(hs.decision, Decision::Abort(Abort::PrimaryTarget));
        assert_eq!(rec.helpers, ["pri-lost"]);
        let (hs, rec) = shake(&mut me, &mut peer, &with(AfterSb::Violently as u32));
        assert_eq!(hs.decision, Decision::SyncTarget { full: false });
        assert_eq!(rec.levels.last(), Some(&Level::Warn));
        // other policies are ignored here
        let (hs, _) = shake(&mut me, &mut peer, &with(AfterSb::Consensus as u32));
        assert_eq!(hs.decision, Decision::SyncTarget { full: false });
        // a diskless-ish Primary (our state's disk below Consistent) is no conflict
        me.disk = DiskState::Outdated;
        let (hs, _) = shake(&mut me, &mut peer, &with(AfterSb::Disconnect as u32));
        assert_eq!(hs.decision, Decision::SyncTarget { full: false });
    }

    #[test]
    fn dry_run() {
        let net = Net {
            dry_run: true,
            ..Net::new(101, false)
        };
        let mut me = side([B, A, C, 0]);
        let mut peer = side([A, 0, C, 0]);
        let (hs, rec) = shake(&mut me, &mut peer, &net);
        assert_eq!(hs.decision, Decision::Abort(Abort::DryRun));
        assert_eq!(hs.hg, 1);
        assert_eq!(
            rec.lines.last().map(String::as_str),
            Some("dry-run connect: Would become SyncSource, doing a bit-map based resync.")
        );
        let mut me = side([A, 0, C, 0]);
        let mut peer = side([B, 0, D, A]);
        let (_, rec) = shake(&mut me, &mut peer, &net);
        assert_eq!(
            rec.lines.last().map(String::as_str),
            Some("dry-run connect: Would become SyncTarget, doing a full resync.")
        );
        let mut peer = me;
        let (hs, rec) = shake(&mut me, &mut peer, &net);
        assert_eq!((hs.hg, hs.decision), (0, Decision::Abort(Abort::DryRun)));
        assert!(rec.has("dry-run connect: No resync, would become Connected immediately."));
    }

    /// xorshift64*: deterministic, no dependencies.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn chance(&mut self, n: u64) -> bool {
            self.below(n) == 0
        }
        /// A fresh UUID as get_random_bytes() gives, without the Primary bit.
        fn uuid(&mut self) -> u64 {
            self.next() & !1
        }
    }

    /// The allowed (value, rule) pairs.
    fn valid(c: &Compare) -> bool {
        matches!(
            (c.value, c.rule_nr),
            (0, 10)
                | (-2, 20)
                | (2, 30)
                | (-1091, 30 | 51 | 71)
                | (1, 34 | 36 | 70 | 71)
                | (-1, 35 | 37 | 50 | 51)
                | (-1..=1, 40)
                | (1 | -1 | -100 | HG_NEED_WSAME, 41)
                | (-2, 60)
                | (2, 80)
                | (100, 90)
                | (-100 | -1000, 100)
        )
    }

    /// Whether a's and b's views of each other agree: opposite signs for a sync, the same value
    /// for split brain, unrelated data and protocol needs.
    fn agree(a: &Compare, b: &Compare) -> bool {
        if a.value.unsigned_abs() >= 100 {
            a.value == b.value
        } else {
            a.value == -b.value
        }
    }

    #[test]
    fn random_inputs_never_panic() {
        let mut rng = Rng(0x1234_5678_9abc_def1);
        let pool = [
            0,
            1,
            JC,
            JC | 1,
            A,
            A | 1,
            B,
            C,
            D,
            A + OFF,
            B + OFF,
            u64::MAX,
            u64::MAX - 1,
        ];
        let roles = [Role::Unknown, Role::Primary, Role::Secondary];
        let disks = [
            DiskState::Diskless,
            DiskState::Negotiating,
            DiskState::Inconsistent,
            DiskState::Outdated,
            DiskState::Unknown,
            DiskState::Consistent,
            DiskState::UpToDate,
        ];
        let pick_side = |rng: &mut Rng| Side {
            uuids: [0; 4].map(|_| pool[rng.below(pool.len() as u64) as usize]),
            bits: [0, 1, 5, u64::MAX][rng.below(4) as usize],
            flags: if rng.chance(4) {
                rng.next()
            } else {
                rng.below(16)
            },
            role: roles[rng.below(3) as usize],
            disk: disks[rng.below(disks.len() as u64) as usize],
        };
        for _ in 0..200_000 {
            let mut me = pick_side(&mut rng);
            let mut peer = pick_side(&mut rng);
            let net = Net {
                agreed_pro_version: [0, 86, 90, 91, 95, 96, 101, u32::MAX][rng.below(8) as usize],
                agreed_features: rng.below(16) as u32,
                resolve_conflicts: rng.chance(2),
                after_sb_0p: rng.below(13) as u32,
                after_sb_1p: rng.below(13) as u32,
                after_sb_2p: rng.below(13) as u32,
                rr_conflict: if rng.chance(10) {
                    u32::MAX
                } else {
                    rng.below(12) as u32
                },
                always_asbp: rng.chance(2),
                dry_run: rng.chance(8),
            };
            let c = uuid_compare(&me, &peer, &net);
            assert!(valid(&c), "{c:?}");
            assert_eq!(
                c.fixup.is_some(),
                matches!(c.rule_nr, 34 | 35 | 51 | 71) && c.value.unsigned_abs() == 1
            );
            let mut rec = Rec {
                demote_ok: rng.chance(2),
                ..Rec::default()
            };
            let attach = disks[rng.below(disks.len() as u64) as usize];
            let hs = sync_handshake(&mut me, &mut peer, &net, attach, &mut rec);
            assert_eq!(hs.compare, c);
            match hs.decision {
                Decision::Connected => assert_eq!(hs.hg, 0),
                Decision::SyncSource { full } => {
                    assert!(hs.hg > 0 && full == (hs.hg >= 2) && hs.hg <= 2)
                }
                Decision::SyncTarget { full } => {
                    assert!(hs.hg < 0 && full == (hs.hg <= -2) && hs.hg >= -2)
                }
                Decision::Abort(_) => {}
            }
            assert_eq!(rec.lines.len(), rec.levels.len());
            assert!(rec.demotes <= 1);
        }
    }

    /// A node of the simulated pair, its UUIDs changed as drbd_main.c and drbd_worker.c do.
    #[derive(Clone, Copy, Debug)]
    struct Node {
        u: [u64; 4],
        primary: bool,
        crashed: bool,
        disk: DiskState,
    }

    impl Node {
        fn fresh() -> Self {
            Node {
                u: [JC, 0, 0, 0],
                primary: false,
                crashed: false,
                disk: DiskState::Inconsistent,
            }
        }
        fn pri(&self, v: u64) -> u64 {
            if self.primary {
                v | 1
            } else {
                v & !1
            }
        }
        /// drbd_uuid_new_current()
        fn new_current(&mut self, rng: &mut Rng) {
            self.u[UI_BITMAP] = self.u[UI_CURRENT];
            self.u[UI_CURRENT] = self.pri(rng.uuid());
        }
        /// drbd_uuid_set()
        fn set(&mut self, idx: usize, v: u64) {
            if self.u[idx] != 0 {
                self.u[UI_HISTORY_END] = self.u[UI_HISTORY_START];
                self.u[UI_HISTORY_START] = self.u[idx];
            }
            self.u[idx] = if idx == UI_CURRENT { self.pri(v) } else { v };
        }
        /// drbd_uuid_set_bm(0)
        fn clear_bm(&mut self) {
            if self.u[UI_BITMAP] != 0 {
                self.u[UI_HISTORY_END] = self.u[UI_HISTORY_START];
                self.u[UI_HISTORY_START] = self.u[UI_BITMAP];
                self.u[UI_BITMAP] = 0;
            }
        }
        fn side(&self) -> Side {
            Side {
                uuids: self.u,
                bits: 0,
                flags: uuid_flags(false, self.crashed, false, false),
                role: if self.primary {
                    Role::Primary
                } else {
                    Role::Secondary
                },
                disk: self.disk,
            }
        }
    }

    /// A resync from `s` to `t`, as far as `stage` gets: 0 the P_SYNC_UUID is lost, 1 the
    /// connection breaks during the sync, 2 the source misses the end, 3 the target misses it,
    /// else both finish.
    fn resync(s: &mut Node, t: &mut Node, stage: u64, rng: &mut Rng) {
        let known = s.u; // what the target knows of the source: its P_UUIDS
                         // drbd_gen_and_send_sync_uuid()
        let bm = s.u[UI_BITMAP];
        let sync = if bm != 0 && bm != JC {
            bm.wrapping_add(OFF)
        } else {
            rng.next()
        };
        s.set(UI_BITMAP, sync);
        if stage == 0 {
            return;
        }
        // receive_sync_uuid()
        t.u[UI_CURRENT] = t.pri(sync);
        t.u[UI_BITMAP] = 0;
        t.disk = DiskState::Inconsistent;
        if stage == 1 {
            return;
        }
        if stage != 3 {
            // drbd_resync_finished() on the target
            t.u[UI_BITMAP..].copy_from_slice(&known[UI_BITMAP..]);
            let cur = t.u[UI_CURRENT];
            t.set(UI_BITMAP, cur);
            t.u[UI_CURRENT] = t.pri(known[UI_CURRENT]);
            t.clear_bm();
            t.disk = DiskState::UpToDate;
        }
        if stage != 2 {
            s.clear_bm();
        }
    }

    /// Realistic histories (the UUID changes of drbd_main.c and drbd_worker.c, with crashes,
    /// lost packets and interrupted resyncs). From protocol 96 on, both nodes' views always
    /// [`agree`]. Below it they may both think they are behind (never both ahead): below 91,
    /// rules 30/51/71 give -1091 on one side while the other's rule 50 matches; below 96, the
    /// older test of rules 51/71 misses a lost sync UUID made with the offset, and after an
    /// admin discards the newer data each current UUID can sit in the other's history (rule
    /// 60 on both sides). The disk states then decide, and in all these histories the two
    /// handshakes never pick the same direction.
    #[test]
    fn simulated_pairs_agree() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut rules = std::collections::BTreeSet::new();
        for _ in 0..20000 {
            let (mut a, mut b) = (Node::fresh(), Node::fresh());
            let pro = [86, 90, 91, 95, 96, 100, 101][rng.below(7) as usize];
            let mut connected = false;
            for _ in 0..40 {
                match rng.below(6) {
                    // a node becomes Primary (forced if need be) and writes while alone
                    0 | 1 if !connected => {
                        let n = if rng.chance(2) { &mut a } else { &mut b };
                        let forced = n.disk != DiskState::UpToDate;
                        n.primary = true;
                        n.disk = DiskState::UpToDate;
                        if n.u[UI_BITMAP] == 0 || forced {
                            n.new_current(&mut rng);
                        }
                        n.u[UI_CURRENT] |= 1;
                    }
                    // a Primary crashes and comes back Secondary
                    2 => {
                        let n = if rng.chance(2) { &mut a } else { &mut b };
                        if n.primary {
                            n.crashed = true;
                            n.primary = false;
                            connected = false;
                        }
                    }
                    // a node becomes Secondary
                    3 => {
                        let n = if rng.chance(2) { &mut a } else { &mut b };
                        n.primary = false;
                        n.u[UI_CURRENT] &= !1;
                    }
                    4 if connected => connected = false,
                    _ if !connected => {
                        connected = connect(&mut a, &mut b, pro, &mut rng, &mut rules);
                    }
                    _ => {}
                }
            }
        }
        // the simulation reaches most rules
        for r in [10, 20, 30, 34, 35, 40, 50, 51, 60, 70, 71, 80, 90] {
            assert!(rules.contains(&r), "rule {r} never hit: {rules:?}");
        }
    }

    /// A connect of the simulated pair: both handshakes, then the resync they (or the admin)
    /// decide on. Returns whether the pair stays connected.
    fn connect(
        a: &mut Node,
        b: &mut Node,
        pro: u32,
        rng: &mut Rng,
        rules: &mut std::collections::BTreeSet<u32>,
    ) -> bool {
        let net_a = Net::new(pro, true);
        let net_b = Net::new(pro, false);
        let (mut sa, mut sb) = (a.side(), b.side());
        let ha = sync_handshake(&mut sa, &mut sb, &net_a, a.disk, &mut Rec::default());
        let (mut sb2, mut sa2) = (b.side(), a.side());
        let hb = sync_handshake(&mut sb2, &mut sa2, &net_b, b.disk, &mut Rec::default());
        let (ca, cb) = (ha.compare, hb.compare);
        assert!(valid(&ca) && valid(&cb));
        if pro >= 96 {
            assert!(agree(&ca, &cb), "{a:x?} {b:x?} {ca:?} {cb:?}");
        } else {
            assert!(
                agree(&ca, &cb) || (ca.value < 0 && cb.value < 0),
                "{a:x?} {b:x?} {ca:?} {cb:?}"
            );
        }
        rules.insert(ca.rule_nr);
        let dir = |d: Decision| match d {
            Decision::SyncSource { .. } => Some(1),
            Decision::SyncTarget { .. } => Some(-1),
            Decision::Connected => Some(0),
            Decision::Abort(_) => None,
        };
        if let (Some(da), Some(db)) = (dir(ha.decision), dir(hb.decision)) {
            assert_eq!(da, -db, "{a:x?} {b:x?} {ha:?} {hb:?}");
        }
        // what each side corrected of its own
        if ha.compare.fixup.is_some_and(Fixup::on_self) {
            a.u = sa.uuids;
        }
        if hb.compare.fixup.is_some_and(Fixup::on_self) {
            b.u = sb2.uuids;
        }
        a.crashed = false;
        b.crashed = false;
        let source_a = match (ha.decision, hb.decision) {
            (Decision::Connected, Decision::Connected) => return true,
            (Decision::SyncSource { .. }, _) => true,
            (Decision::SyncTarget { .. }, _) => false,
            // the admin resolves it (discard-my-data, invalidate, …), keeping the good data
            // if only one node has it
            _ if a.disk != b.disk => a.disk == DiskState::UpToDate,
            _ => rng.chance(2),
        };
        let stage = rng.below(8);
        if source_a {
            resync(a, b, stage, rng);
        } else {
            resync(b, a, stage, rng);
        }
        stage >= 4
    }

    #[test]
    fn equal_checksums_as_c_counts_them() {
        assert_eq!(equal_csum_percent(0, 0), 0);
        assert_eq!(equal_csum_percent(1, 3), 33);
        assert_eq!(equal_csum_percent(16384, 16384), 100);
        assert_eq!(equal_csum_percent(150_000, 300_000), 50);
    }
}
