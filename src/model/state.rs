// SPDX-License-Identifier: GPL-2.0
//! Device state: roles, connection and disk states, and the 32-bit `union drbd_state` word.
//!
//! C counterpart: include/linux/drbd.h (`enum drbd_role`, `enum drbd_conns`,
//! `enum drbd_disk_state`, `union drbd_state`), drbd_strings.c (the names) and drbd_main.c
//! (`drbd_set_defaults`, the state of a new minor).
//!
//! The numbers are ABI: they travel in P_STATE packets, netlink replies and events, and the code
//! compares ranges of them (e.g. `>= SyncSource && <= PausedSyncT`), so the discriminants are
//! spelled out rather than left to declaration order.

/// A node's role (`enum drbd_role`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub(crate) enum Role {
    /// The peer's role while it is not connected.
    Unknown = 0,
    Primary = 1,
    Secondary = 2,
}

impl DiskState {
    /// The state of number `n` (`enum drbd_disk_state`).
    pub(crate) const fn from_u8(n: u8) -> Option<Self> {
        use DiskState::*;
        const ALL: [DiskState; 9] = [
            Diskless,
            Attaching,
            Failed,
            Negotiating,
            Inconsistent,
            Outdated,
            Unknown,
            Consistent,
            UpToDate,
        ];
        if (n as usize) < ALL.len() {
            Some(ALL[n as usize])
        } else {
            None
        }
    }
}

impl Role {
    /// The name drbd_strings.c gives the role, as /proc/drbd and drbdsetup print it.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Role::Unknown => "Unknown",
            Role::Primary => "Primary",
            Role::Secondary => "Secondary",
        }
    }
}

/// A connection state (`enum drbd_conns`).
///
/// Below `WfReportParams` there is no socket; from `Unconnected` on a net config exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
// The whole state space of drbd.h: variants are constructed as the state machine comes.
#[allow(dead_code)]
pub(crate) enum ConnState {
    StandAlone = 0,
    /// Temporary, on the way to StandAlone.
    Disconnecting = 1,
    Unconnected = 2,
    // The "disconnect reason" states, passed through on the way from Connected to Unconnected.
    Timeout = 3,
    BrokenPipe = 4,
    NetworkFailure = 5,
    ProtocolError = 6,
    TearDown = 7,
    WfConnection = 8,
    WfReportParams = 9,
    Connected = 10,
    StartingSyncS = 11,
    StartingSyncT = 12,
    WfBitMapS = 13,
    WfBitMapT = 14,
    WfSyncUuid = 15,
    // The resync states, which C tests as the range SyncSource..=PausedSyncT.
    SyncSource = 16,
    SyncTarget = 17,
    VerifyS = 18,
    VerifyT = 19,
    PausedSyncS = 20,
    PausedSyncT = 21,
    Ahead = 22,
    Behind = 23,
}

impl ConnState {
    /// The state of number `n` (`enum drbd_conns`).
    pub(crate) const fn from_u8(n: u8) -> Option<Self> {
        use ConnState::*;
        const ALL: [ConnState; 24] = [
            StandAlone,
            Disconnecting,
            Unconnected,
            Timeout,
            BrokenPipe,
            NetworkFailure,
            ProtocolError,
            TearDown,
            WfConnection,
            WfReportParams,
            Connected,
            StartingSyncS,
            StartingSyncT,
            WfBitMapS,
            WfBitMapT,
            WfSyncUuid,
            SyncSource,
            SyncTarget,
            VerifyS,
            VerifyT,
            PausedSyncS,
            PausedSyncT,
            Ahead,
            Behind,
        ];
        if (n as usize) < ALL.len() {
            Some(ALL[n as usize])
        } else {
            None
        }
    }

    /// The name drbd_strings.c gives the state, as /proc/drbd and drbdsetup print it.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            ConnState::StandAlone => "StandAlone",
            ConnState::Disconnecting => "Disconnecting",
            ConnState::Unconnected => "Unconnected",
            ConnState::Timeout => "Timeout",
            ConnState::BrokenPipe => "BrokenPipe",
            ConnState::NetworkFailure => "NetworkFailure",
            ConnState::ProtocolError => "ProtocolError",
            ConnState::TearDown => "TearDown",
            ConnState::WfConnection => "WFConnection",
            ConnState::WfReportParams => "WFReportParams",
            ConnState::Connected => "Connected",
            ConnState::StartingSyncS => "StartingSyncS",
            ConnState::StartingSyncT => "StartingSyncT",
            ConnState::WfBitMapS => "WFBitMapS",
            ConnState::WfBitMapT => "WFBitMapT",
            ConnState::WfSyncUuid => "WFSyncUUID",
            ConnState::SyncSource => "SyncSource",
            ConnState::SyncTarget => "SyncTarget",
            ConnState::VerifyS => "VerifyS",
            ConnState::VerifyT => "VerifyT",
            ConnState::PausedSyncS => "PausedSyncS",
            ConnState::PausedSyncT => "PausedSyncT",
            ConnState::Ahead => "Ahead",
            ConnState::Behind => "Behind",
        }
    }
}

/// A disk state (`enum drbd_disk_state`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
// The whole state space of drbd.h: variants are constructed as the state machine comes.
#[allow(dead_code)]
pub(crate) enum DiskState {
    Diskless = 0,
    /// Reading the meta-data.
    Attaching = 1,
    /// Becomes Diskless once the peer has been told; from here up the backing device is usable.
    Failed = 2,
    /// Attached late, must talk to the peer before deciding.
    Negotiating = 3,
    Inconsistent = 4,
    Outdated = 5,
    /// Only ever the peer's disk state, never our own.
    Unknown = 6,
    /// Could be Outdated or UpToDate; not decided yet.
    Consistent = 7,
    /// The only state that allows application I/O.
    UpToDate = 8,
}

impl DiskState {
    /// The name drbd_strings.c gives the state, as /proc/drbd and drbdsetup print it.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            DiskState::Diskless => "Diskless",
            DiskState::Attaching => "Attaching",
            DiskState::Failed => "Failed",
            DiskState::Negotiating => "Negotiating",
            DiskState::Inconsistent => "Inconsistent",
            DiskState::Outdated => "Outdated",
            // "D" keeps it apart from the role name "Unknown".
            DiskState::Unknown => "DUnknown",
            DiskState::Consistent => "Consistent",
            DiskState::UpToDate => "UpToDate",
        }
    }
}

/// A device's state as `drbd_read_state()` returns it: the per-device fields plus the
/// resource-wide suspend flags (`union drbd_state`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DevState {
    pub(crate) role: Role,
    pub(crate) peer: Role,
    pub(crate) conn: ConnState,
    pub(crate) disk: DiskState,
    pub(crate) pdsk: DiskState,
    /// I/O suspended by the user (resource-wide).
    pub(crate) susp: bool,
    /// Resync paused because a resync-after dependency is syncing.
    pub(crate) aftr_isp: bool,
    /// Resync paused by the peer.
    pub(crate) peer_isp: bool,
    /// Resync paused by the user.
    pub(crate) user_isp: bool,
    /// I/O suspended because no data is accessible (resource-wide).
    pub(crate) susp_nod: bool,
    /// I/O suspended while the fence-peer handler runs (resource-wide).
    pub(crate) susp_fen: bool,
}

// Bit offsets of `union drbd_state` under __LITTLE_ENDIAN_BITFIELD (x86_64): gcc fills the
// `unsigned` unit from bit 0 in declaration order. role:2, peer:2, conn:5, disk:4, pdsk:4, then
// six 1-bit flags, then _pad:9 in bits 23..=31, which stays zero.
const PEER_SHIFT: u32 = 2;
const CONN_SHIFT: u32 = 4;
const DISK_SHIFT: u32 = 9;
const PDSK_SHIFT: u32 = 13;
const SUSP_SHIFT: u32 = 17;
const AFTR_ISP_SHIFT: u32 = 18;
const PEER_ISP_SHIFT: u32 = 19;
const USER_ISP_SHIFT: u32 = 20;
const SUSP_NOD_SHIFT: u32 = 21;
const SUSP_FEN_SHIFT: u32 = 22;

/// The fields of `union drbd_state` as masks.
pub(crate) const ROLE_MASK: u32 = 0x3;
pub(crate) const PEER_MASK: u32 = 0x3 << PEER_SHIFT;
pub(crate) const CONN_MASK: u32 = 0x1f << CONN_SHIFT;
pub(crate) const DISK_MASK: u32 = 0xf << DISK_SHIFT;
pub(crate) const PDSK_MASK: u32 = 0xf << PDSK_SHIFT;
pub(crate) const PEER_ISP_MASK: u32 = 1 << PEER_ISP_SHIFT;

/// The mask and value of a state change request (NS(), NS2() of drbd_state.h).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct StateReq {
    pub(crate) mask: u32,
    pub(crate) val: u32,
}

impl StateReq {
    const fn with(self, mask: u32, shift: u32, v: u32) -> Self {
        StateReq {
            mask: self.mask | mask,
            val: (self.val & !mask) | ((v << shift) & mask),
        }
    }

    pub(crate) const fn role(self, r: Role) -> Self {
        self.with(ROLE_MASK, 0, r as u32)
    }

    pub(crate) const fn conn(self, c: ConnState) -> Self {
        self.with(CONN_MASK, CONN_SHIFT, c as u32)
    }

    pub(crate) const fn disk(self, d: DiskState) -> Self {
        self.with(DISK_MASK, DISK_SHIFT, d as u32)
    }

    pub(crate) const fn pdsk(self, d: DiskState) -> Self {
        self.with(PDSK_MASK, PDSK_SHIFT, d as u32)
    }
}

impl DevState {
    /// The state `drbd_set_defaults()` gives a freshly created minor, with the resource's
    /// suspend flags zero as kzalloc leaves them. drbd_create_device() then copies the
    /// connection's cstate into `conn`, which is StandAlone unless the resource already has a
    /// net config.
    pub(crate) const fn new_minor() -> Self {
        DevState {
            role: Role::Secondary,
            peer: Role::Unknown,
            conn: ConnState::StandAlone,
            disk: DiskState::Diskless,
            pdsk: DiskState::Unknown,
            susp: false,
            aftr_isp: false,
            peer_isp: false,
            user_isp: false,
            susp_nod: false,
            susp_fen: false,
        }
    }

    /// `union drbd_state.i` on a little-endian machine: the value netlink carries as is and
    /// P_STATE carries big-endian. The enums all fit their fields, so no masking is needed.
    /// The role and disk state a peer's P_STATE word reports of itself (`union drbd_state`
    /// bits 0-1 and 9-12); `None` for numbers no state has.
    pub(crate) fn role_and_disk(word: u32) -> Option<(Role, DiskState)> {
        let role = match word & 3 {
            0 => Role::Unknown,
            1 => Role::Primary,
            2 => Role::Secondary,
            _ => return None,
        };
        let disk = DiskState::from_u8(((word >> DISK_SHIFT) & 0xf) as u8)?;
        Some((role, disk))
    }

    pub(crate) fn to_u32(self) -> u32 {
        // role sits at bit 0.
        (self.role as u32)
            | ((self.peer as u32) << PEER_SHIFT)
            | ((self.conn as u32) << CONN_SHIFT)
            | ((self.disk as u32) << DISK_SHIFT)
            | ((self.pdsk as u32) << PDSK_SHIFT)
            | (u32::from(self.susp) << SUSP_SHIFT)
            | (u32::from(self.aftr_isp) << AFTR_ISP_SHIFT)
            | (u32::from(self.peer_isp) << PEER_ISP_SHIFT)
            | (u32::from(self.user_isp) << USER_ISP_SHIFT)
            | (u32::from(self.susp_nod) << SUSP_NOD_SHIFT)
            | (u32::from(self.susp_fen) << SUSP_FEN_SHIFT)
    }
}

impl DevState {
    /// drbd_suspended(): I/O is suspended, by the user, for lack of data, or while fencing.
    pub(crate) fn suspended(&self) -> bool {
        self.susp || self.susp_nod || self.susp_fen
    }
}

/// A state change as drbd_pr_state_change() logs it: `role( Secondary -> Primary ) ` and so on
/// for each field that changed (each part ends in a space, as in C); empty if none did.
pub(crate) struct StateChange(pub(crate) DevState, pub(crate) DevState);

impl StateChange {
    /// Whether there is nothing to log: no field it prints changed (susp_* are not printed).
    pub(crate) fn is_empty(&self) -> bool {
        let key = |s: &DevState| {
            let (r, p, c, d, k) = (s.role, s.peer, s.conn, s.disk, s.pdsk);
            (r, p, c, d, k, s.aftr_isp, s.peer_isp, s.user_isp)
        };
        key(&self.0) == key(&self.1)
    }
}

impl core::fmt::Display for StateChange {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let (o, n) = (&self.0, &self.1);
        let names = [
            ("role", o.role.name(), n.role.name()),
            ("peer", o.peer.name(), n.peer.name()),
            ("conn", o.conn.name(), n.conn.name()),
            ("disk", o.disk.name(), n.disk.name()),
            ("pdsk", o.pdsk.name(), n.pdsk.name()),
        ];
        for (field, was, is) in names {
            if was != is {
                write!(f, "{field}( {was} -> {is} ) ")?;
            }
        }
        let flags = [
            ("aftr_isp", o.aftr_isp, n.aftr_isp),
            ("peer_isp", o.peer_isp, n.peer_isp),
            ("user_isp", o.user_isp, n.user_isp),
        ];
        for (field, was, is) in flags {
            if was != is {
                write!(f, "{field}( {} -> {} ) ", u8::from(was), u8::from(is))?;
            }
        }
        Ok(())
    }
}

/// The bits of one field of `union drbd_state`.
const fn field(word: u32, shift: u32, bits: u32) -> u32 {
    (word >> shift) & ((1 << bits) - 1)
}

/// convert_state(): a state word of the peer (a P_STATE_CHG_REQ mask or value) as seen from
/// this side: role and peer, disk and pdsk swap; the peer's resync pause becomes `peer_isp`;
/// connection states map as C's table does (Disconnecting becomes TearDown; states the table
/// lacks become StandAlone, 0).
pub(crate) const fn convert_peer_word(word: u32) -> u32 {
    let conn = match field(word, CONN_SHIFT, 5) {
        c if c == ConnState::WfReportParams as u32 => c,
        c if c == ConnState::Connected as u32 => c,
        c if c == ConnState::StartingSyncS as u32 => ConnState::StartingSyncT as u32,
        c if c == ConnState::StartingSyncT as u32 => ConnState::StartingSyncS as u32,
        c if c == ConnState::Disconnecting as u32 => ConnState::TearDown as u32,
        c if c == ConnState::VerifyS as u32 => ConnState::VerifyT as u32,
        0x1f => 0x1f,
        _ => 0,
    };
    let role = field(word, 0, 2);
    let peer = field(word, PEER_SHIFT, 2);
    let disk = field(word, DISK_SHIFT, 4);
    let pdsk = field(word, PDSK_SHIFT, 4);
    let isp = field(word, AFTR_ISP_SHIFT, 1) | field(word, USER_ISP_SHIFT, 1);
    let kept = word
        & !(0x3 | (0x3 << PEER_SHIFT) | (0x1f << CONN_SHIFT) | (0xf << DISK_SHIFT))
        & !((0xf << PDSK_SHIFT) | (1 << PEER_ISP_SHIFT));
    kept | peer
        | (role << PEER_SHIFT)
        | (conn << CONN_SHIFT)
        | (pdsk << DISK_SHIFT)
        | (disk << PDSK_SHIFT)
        | (isp << PEER_ISP_SHIFT)
}

impl DevState {
    /// The state a word encodes (`union drbd_state.i`); `None` for numbers no state has.
    pub(crate) fn from_u32(word: u32) -> Option<Self> {
        let role = |n: u32| match n {
            0 => Some(Role::Unknown),
            1 => Some(Role::Primary),
            2 => Some(Role::Secondary),
            _ => None,
        };
        let bit = |shift: u32| field(word, shift, 1) != 0;
        Some(DevState {
            role: role(field(word, 0, 2))?,
            peer: role(field(word, PEER_SHIFT, 2))?,
            conn: ConnState::from_u8(field(word, CONN_SHIFT, 5) as u8)?,
            disk: DiskState::from_u8(field(word, DISK_SHIFT, 4) as u8)?,
            pdsk: DiskState::from_u8(field(word, PDSK_SHIFT, 4) as u8)?,
            susp: bit(SUSP_SHIFT),
            aftr_isp: bit(AFTR_ISP_SHIFT),
            peer_isp: bit(PEER_ISP_SHIFT),
            user_isp: bit(USER_ISP_SHIFT),
            susp_nod: bit(SUSP_NOD_SHIFT),
            susp_fen: bit(SUSP_FEN_SHIFT),
        })
    }

    /// The state after a state change request: the fields of `mask` taken from `val` (both in
    /// this side's view); `None` if that is no valid state.
    pub(crate) fn masked(self, mask: u32, val: u32) -> Option<Self> {
        Self::from_u32((self.to_u32() & !mask) | (val & mask))
    }
}

/// For tests: an UpToDate Primary connected to an UpToDate Secondary.
#[cfg(test)]
impl DevState {
    pub(crate) fn connected_primary() -> Self {
        DevState {
            role: Role::Primary,
            peer: Role::Secondary,
            conn: ConnState::Connected,
            disk: DiskState::UpToDate,
            pdsk: DiskState::UpToDate,
            ..DevState::new_minor()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_change_lines_as_drbd_pr_state_change() {
        extern crate std;
        use std::string::ToString;
        let a = DevState::new_minor();
        assert_eq!(StateChange(a, a).to_string(), "");
        assert!(StateChange(a, a).is_empty());
        let suspended = DevState { susp: true, ..a };
        assert!(StateChange(a, suspended).is_empty());
        let b = DevState {
            role: Role::Primary,
            disk: DiskState::UpToDate,
            user_isp: true,
            ..a
        };
        assert!(!StateChange(a, b).is_empty());
        assert_eq!(
            StateChange(a, b).to_string(),
            "role( Secondary -> Primary ) disk( Diskless -> UpToDate ) user_isp( 0 -> 1 ) "
        );
        let c = DevState {
            conn: ConnState::WfConnection,
            pdsk: DiskState::Outdated,
            peer: Role::Secondary,
            ..a
        };
        assert_eq!(
            StateChange(a, c).to_string(),
            "peer( Unknown -> Secondary ) conn( StandAlone -> WFConnection ) \
             pdsk( DUnknown -> Outdated ) "
        );
    }

    #[test]
    fn state_requests_set_their_fields_only() {
        let req = StateReq::default()
            .conn(ConnState::Disconnecting)
            .pdsk(DiskState::Outdated);
        assert_eq!(req.mask, CONN_MASK | PDSK_MASK);
        let before = DevState::connected_primary();
        let after = before.masked(req.mask, req.val).unwrap();
        assert_eq!(
            (after.conn, after.pdsk),
            (ConnState::Disconnecting, DiskState::Outdated)
        );
        assert_eq!(
            (after.role, after.peer, after.disk),
            (before.role, before.peer, before.disk)
        );
        // a field set twice keeps the last value
        let r = StateReq::default()
            .role(Role::Primary)
            .role(Role::Secondary);
        assert_eq!((r.mask, r.val), (ROLE_MASK, Role::Secondary as u32));
        let promote = StateReq::default()
            .role(Role::Primary)
            .disk(DiskState::UpToDate);
        assert_eq!(promote.mask, ROLE_MASK | DISK_MASK);
        assert_eq!(
            DevState::from_u32(promote.val & DISK_MASK).map(|s| s.disk),
            Some(DiskState::UpToDate)
        );
    }

    const ROLES: [(Role, u8, &str); 3] = [
        (Role::Unknown, 0, "Unknown"),
        (Role::Primary, 1, "Primary"),
        (Role::Secondary, 2, "Secondary"),
    ];

    const CONNS: [(ConnState, u8, &str); 24] = [
        (ConnState::StandAlone, 0, "StandAlone"),
        (ConnState::Disconnecting, 1, "Disconnecting"),
        (ConnState::Unconnected, 2, "Unconnected"),
        (ConnState::Timeout, 3, "Timeout"),
        (ConnState::BrokenPipe, 4, "BrokenPipe"),
        (ConnState::NetworkFailure, 5, "NetworkFailure"),
        (ConnState::ProtocolError, 6, "ProtocolError"),
        (ConnState::TearDown, 7, "TearDown"),
        (ConnState::WfConnection, 8, "WFConnection"),
        (ConnState::WfReportParams, 9, "WFReportParams"),
        (ConnState::Connected, 10, "Connected"),
        (ConnState::StartingSyncS, 11, "StartingSyncS"),
        (ConnState::StartingSyncT, 12, "StartingSyncT"),
        (ConnState::WfBitMapS, 13, "WFBitMapS"),
        (ConnState::WfBitMapT, 14, "WFBitMapT"),
        (ConnState::WfSyncUuid, 15, "WFSyncUUID"),
        (ConnState::SyncSource, 16, "SyncSource"),
        (ConnState::SyncTarget, 17, "SyncTarget"),
        (ConnState::VerifyS, 18, "VerifyS"),
        (ConnState::VerifyT, 19, "VerifyT"),
        (ConnState::PausedSyncS, 20, "PausedSyncS"),
        (ConnState::PausedSyncT, 21, "PausedSyncT"),
        (ConnState::Ahead, 22, "Ahead"),
        (ConnState::Behind, 23, "Behind"),
    ];

    const DISKS: [(DiskState, u8, &str); 9] = [
        (DiskState::Diskless, 0, "Diskless"),
        (DiskState::Attaching, 1, "Attaching"),
        (DiskState::Failed, 2, "Failed"),
        (DiskState::Negotiating, 3, "Negotiating"),
        (DiskState::Inconsistent, 4, "Inconsistent"),
        (DiskState::Outdated, 5, "Outdated"),
        (DiskState::Unknown, 6, "DUnknown"),
        (DiskState::Consistent, 7, "Consistent"),
        (DiskState::UpToDate, 8, "UpToDate"),
    ];

    #[test]
    fn numbers_and_names_match_drbd_h_and_drbd_strings_c() {
        for (r, n, s) in ROLES {
            assert_eq!((r as u8, r.name()), (n, s));
        }
        for (c, n, s) in CONNS {
            assert_eq!((c as u8, c.name()), (n, s));
        }
        for (d, n, s) in DISKS {
            assert_eq!((d as u8, d.name()), (n, s));
        }
    }

    #[test]
    fn peer_words() {
        let s = DevState {
            role: Role::Primary,
            disk: DiskState::UpToDate,
            conn: ConnState::WfReportParams,
            ..DevState::new_minor()
        };
        assert_eq!(
            DevState::role_and_disk(s.to_u32()),
            Some((Role::Primary, DiskState::UpToDate))
        );
        assert_eq!(DevState::role_and_disk(3), None);
        assert_eq!(DevState::role_and_disk(2 | (15 << 9)), None);
        for n in 0..9u8 {
            assert_eq!(DiskState::from_u8(n).map(|d| d as u8), Some(n));
        }
    }

    #[test]
    fn conn_states_by_number() {
        for n in 0..24u8 {
            assert_eq!(ConnState::from_u8(n).map(|c| c as u8), Some(n));
        }
        assert_eq!(ConnState::from_u8(24), None);
    }

    #[test]
    fn new_minor_word() {
        // role = R_SECONDARY 2 at bit 0:  2 << 0  = 0x0000_0002
        // peer = R_UNKNOWN 0 at bit 2:    0
        // conn = C_STANDALONE 0 at bit 4: 0
        // disk = D_DISKLESS 0 at bit 9:   0
        // pdsk = D_UNKNOWN 6 at bit 13:   6 << 13 = 0x0000_c000 (49152)
        // flags and _pad:                 0
        // total                           0x0000_c002 (49154)
        assert_eq!(DevState::new_minor().to_u32(), 0xc002);
    }

    #[test]
    fn each_field_lands_in_its_c_bits() {
        let zero = DevState {
            role: Role::Unknown,
            peer: Role::Unknown,
            conn: ConnState::StandAlone,
            disk: DiskState::Diskless,
            pdsk: DiskState::Diskless,
            ..DevState::new_minor()
        };
        assert_eq!(zero.to_u32(), 0);
        // Sets one field on the all-zero word and returns the encoding.
        let bits = |set: fn(&mut DevState)| {
            let mut s = zero;
            set(&mut s);
            s.to_u32()
        };
        assert_eq!(bits(|s| s.role = Role::Secondary), 2);
        assert_eq!(bits(|s| s.peer = Role::Secondary), 2 << 2);
        assert_eq!(bits(|s| s.conn = ConnState::Behind), 23 << 4);
        assert_eq!(bits(|s| s.disk = DiskState::UpToDate), 8 << 9);
        assert_eq!(bits(|s| s.pdsk = DiskState::UpToDate), 8 << 13);
        assert_eq!(bits(|s| s.susp = true), 1 << 17);
        assert_eq!(bits(|s| s.aftr_isp = true), 1 << 18);
        assert_eq!(bits(|s| s.peer_isp = true), 1 << 19);
        assert_eq!(bits(|s| s.user_isp = true), 1 << 20);
        assert_eq!(bits(|s| s.susp_nod = true), 1 << 21);
        assert_eq!(bits(|s| s.susp_fen = true), 1 << 22);
    }

    #[test]
    fn connected_primary_word() {
        // Primary(1) | Secondary(2)<<2 | Connected(10)<<4 | UpToDate(8)<<9 | UpToDate(8)<<13
        // = 0x1 + 0x8 + 0xa0 + 0x1000 + 0x10000 = 0x110a9; _pad (bits 23..=31) stays clear.
        let s = DevState::connected_primary();
        assert_eq!(s.to_u32(), 0x110a9);
        let all_flags = DevState {
            susp: true,
            aftr_isp: true,
            peer_isp: true,
            user_isp: true,
            susp_nod: true,
            susp_fen: true,
            ..s
        };
        assert_eq!(all_flags.to_u32() >> 23, 0);
    }

    #[test]
    fn peer_words_convert_as_c() {
        let peer = DevState {
            role: Role::Primary,
            peer: Role::Secondary,
            conn: ConnState::Disconnecting,
            disk: DiskState::UpToDate,
            pdsk: DiskState::Inconsistent,
            user_isp: true,
            ..DevState::new_minor()
        };
        let mine = DevState::from_u32(convert_peer_word(peer.to_u32())).unwrap();
        assert_eq!(mine.role, Role::Secondary);
        assert_eq!(mine.peer, Role::Primary);
        assert_eq!(mine.conn, ConnState::TearDown);
        assert_eq!(mine.disk, DiskState::Inconsistent);
        assert_eq!(mine.pdsk, DiskState::UpToDate);
        assert!(mine.peer_isp && mine.user_isp);
        // a mask of the role field becomes a mask of the peer field
        assert_eq!(convert_peer_word(0x3), 0x3 << PEER_SHIFT);
        assert_eq!(convert_peer_word(0x1f << CONN_SHIFT), 0x1f << CONN_SHIFT);
        let s = DevState::new_minor()
            .masked(0x3 << PEER_SHIFT, (Role::Primary as u32) << PEER_SHIFT)
            .unwrap();
        assert_eq!(s.peer, Role::Primary);
        assert_eq!(DevState::from_u32(3), None);
    }
}
