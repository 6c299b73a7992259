// SPDX-License-Identifier: GPL-2.0
//! The generic netlink family `drbd`, version 1: its header, commands and top-level attributes.
//!
//! C counterpart: include/linux/drbd_genl.h, drbd_genl_api.h and genl_magic_func.h. This table is
//! the single source of truth for the family that src/genl/ registers.

/// Family name and multicast group, as drbd-utils resolves them.
pub(crate) const FAMILY_NAME: &str = "drbd";
pub(crate) const MCGRP_EVENTS: &str = "events";

/// Size of `struct drbd_genlmsghdr` (`u32 minor; union { u32 flags; s32 ret_code; }`), the user
/// header that follows the genl header in every message.
pub(crate) const USER_HDR_LEN: usize = 8;

/// The family validates commands below this number leniently, as the C module's family does
/// (`.resv_start_op = 42`).
pub(crate) const RESV_START_OP: u8 = 42;

/// Set in an attribute's type: the receiver must understand it or refuse the message.
pub(crate) const GENLA_F_MANDATORY: u16 = 1 << 14;

/// `T_info_text` inside `DRBD_NLA_CFG_REPLY`.
pub(crate) const T_INFO_TEXT: u16 = 1 | GENLA_F_MANDATORY;

/// The highest top-level attribute number (`DRBD_NLA_HELPER`).
pub(crate) const TLA_MAX: u16 = 24;

/// Type of a field inside a top-level attribute (the `__*_field` macros of genl_magic_struct.h).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FieldType {
    /// `NLA_U32`, 4 bytes.
    U32,
    /// `NLA_U32` read as a signed value, 4 bytes.
    S32,
    /// `NLA_U64`, 8 bytes.
    U64,
    /// A boolean: `NLA_U8`, one byte, non-zero for true (`__flg_field`).
    Flag,
    /// `NLA_NUL_STRING` of at most `max` bytes including the NUL (`max == 0`: unlimited).
    Str { max: u16 },
    /// `NLA_BINARY` of at most `max` bytes.
    Bin { max: u16 },
}

/// `DRBD_F_*` field flags.
pub(crate) const F_REQUIRED: u8 = 1;
pub(crate) const F_SENSITIVE: u8 = 2;
pub(crate) const F_INVARIANT: u8 = 4;

/// The value a field takes when the request does not carry it (the `*_field_def` macros and
/// drbd_limits.h), or none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Default {
    None,
    /// For U32, S32, U64 and Flag (0 or 1) fields.
    Num(i64),
    Str(&'static str),
}

/// One field of a top-level attribute.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Field {
    /// Attribute number inside the nest, without flag bits.
    pub(crate) nr: u16,
    /// The C struct member's name.
    pub(crate) name: &'static str,
    pub(crate) ty: FieldType,
    /// Sent with `DRBD_GENLA_F_MANDATORY`: a receiver that does not know it must refuse. Part
    /// of the wire contract with drbd-utils, checked by the host tests; the kernel never sends
    /// the bit (replies carry plain numbers).
    #[allow(dead_code)]
    pub(crate) mandatory: bool,
    /// `F_REQUIRED | F_SENSITIVE | F_INVARIANT`.
    pub(crate) flags: u8,
    // Read once handlers fill in configuration structs (set_*_defaults).
    #[allow(dead_code)]
    pub(crate) default: Default,
}

/// A top-level attribute and its fields (a `GENL_struct`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct StructDef {
    /// The top-level attribute number (`DRBD_NLA_*`).
    pub(crate) tla: u16,
    /// The C struct's name, for the host tests' checks against drbd_genl.h.
    #[allow(dead_code)]
    pub(crate) name: &'static str,
    pub(crate) fields: &'static [Field],
}

/// How a command is served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OpKind {
    /// A request with one reply; needs CAP_NET_ADMIN (`GENL_doit`).
    Admin,
    /// A request anyone may send, answered by one reply or, as a dump, by many (`GET_STATUS`).
    StatusDoitDump,
    /// A dump anyone may request.
    Dump,
}

/// The object a command addresses, which must exist (the `DRBD_ADM_NEED_*` flags the C handlers
/// pass to `drbd_adm_prepare`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Needs {
    Nothing,
    Minor,
    Resource,
    Connection,
}

/// One command the family accepts.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Op {
    pub(crate) cmd: u8,
    /// The name drbdsetup uses for it, for messages.
    pub(crate) name: &'static str,
    pub(crate) kind: OpKind,
    pub(crate) needs: Needs,
}

const fn admin(cmd: u8, name: &'static str, needs: Needs) -> Op {
    Op {
        cmd,
        name,
        kind: OpKind::Admin,
        needs,
    }
}

const fn dump(cmd: u8, name: &'static str) -> Op {
    Op {
        cmd,
        name,
        kind: OpKind::Dump,
        needs: Needs::Nothing,
    }
}

pub(crate) const GET_STATUS: u8 = 2;
pub(crate) const NEW_MINOR: u8 = 5;
pub(crate) const DEL_MINOR: u8 = 6;
pub(crate) const NEW_RESOURCE: u8 = 7;
pub(crate) const DEL_RESOURCE: u8 = 8;
pub(crate) const RESOURCE_OPTS: u8 = 9;
pub(crate) const CONNECT: u8 = 10;
pub(crate) const DISCONNECT: u8 = 11;
pub(crate) const ATTACH: u8 = 12;
pub(crate) const RESIZE: u8 = 13;
pub(crate) const PRIMARY: u8 = 14;
pub(crate) const SECONDARY: u8 = 15;
pub(crate) const NEW_C_UUID: u8 = 16;
pub(crate) const START_OV: u8 = 17;
pub(crate) const DETACH: u8 = 18;
pub(crate) const INVALIDATE: u8 = 19;
pub(crate) const INVALIDATE_PEER: u8 = 20;
pub(crate) const PAUSE_SYNC: u8 = 21;
pub(crate) const RESUME_SYNC: u8 = 22;
pub(crate) const SUSPEND_IO: u8 = 23;
pub(crate) const RESUME_IO: u8 = 24;
pub(crate) const GET_TIMEOUT_TYPE: u8 = 26;
pub(crate) const OUTDATE: u8 = 25;
pub(crate) const CHG_DISK_OPTS: u8 = 28;
pub(crate) const CHG_NET_OPTS: u8 = 29;
pub(crate) const DOWN: u8 = 27;
pub(crate) const GET_RESOURCES: u8 = 30;
pub(crate) const GET_DEVICES: u8 = 31;
pub(crate) const GET_CONNECTIONS: u8 = 32;
pub(crate) const GET_PEER_DEVICES: u8 = 33;

/// `drbd_genlmsghdr.flags`: reset options not given to their defaults.
pub(crate) const F_SET_DEFAULTS: u32 = 1;

use Needs::{Connection, Minor, Nothing, Resource};

/// Every command of drbd_genl.h that userspace sends, in its order there. Notifications the
/// kernel sends (1, 34..37, 40, 41) are not operations.
pub(crate) const OPS: [Op; 31] = [
    Op {
        cmd: GET_STATUS,
        name: "get-status",
        kind: OpKind::StatusDoitDump,
        needs: Minor,
    },
    admin(NEW_MINOR, "new-minor", Resource),
    admin(DEL_MINOR, "del-minor", Minor),
    admin(NEW_RESOURCE, "new-resource", Nothing),
    admin(DEL_RESOURCE, "del-resource", Resource),
    admin(RESOURCE_OPTS, "resource-options", Resource),
    admin(CONNECT, "connect", Resource),
    admin(CHG_NET_OPTS, "net-options", Connection),
    admin(DISCONNECT, "disconnect", Connection),
    admin(ATTACH, "attach", Minor),
    admin(CHG_DISK_OPTS, "disk-options", Minor),
    admin(RESIZE, "resize", Minor),
    admin(PRIMARY, "primary", Minor),
    admin(SECONDARY, "secondary", Minor),
    admin(NEW_C_UUID, "new-current-uuid", Minor),
    admin(17, "verify", Minor),
    admin(DETACH, "detach", Minor),
    admin(INVALIDATE, "invalidate", Minor),
    admin(INVALIDATE_PEER, "invalidate-remote", Minor),
    admin(PAUSE_SYNC, "pause-sync", Minor),
    admin(RESUME_SYNC, "resume-sync", Minor),
    admin(SUSPEND_IO, "suspend-io", Minor),
    admin(RESUME_IO, "resume-io", Minor),
    admin(OUTDATE, "outdate", Minor),
    admin(GET_TIMEOUT_TYPE, "get-timeout-type", Minor),
    admin(DOWN, "down", Resource),
    dump(GET_RESOURCES, "get-resources"),
    dump(GET_DEVICES, "get-devices"),
    dump(GET_CONNECTIONS, "get-connections"),
    dump(GET_PEER_DEVICES, "get-peer-devices"),
    dump(38, "get-initial-state"),
];

/// Looks a command up by number.
pub(crate) fn op(cmd: u8) -> Option<&'static Op> {
    OPS.iter().find(|op| op.cmd == cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_unique_and_below_resv_start_op() {
        let all: std::vec::Vec<u8> = OPS.iter().map(|o| o.cmd).collect();
        for (i, a) in all.iter().enumerate() {
            assert!(*a < RESV_START_OP);
            assert!(!all[i + 1..].contains(a), "command {a} twice");
        }
    }

    #[test]
    fn numbers_match_drbd_genl_h() {
        let by_name = |n: &str| OPS.iter().find(|o| o.name == n).unwrap().cmd;
        assert_eq!(by_name("new-minor"), 5);
        assert_eq!(by_name("attach"), 12);
        assert_eq!(by_name("down"), 27);
        assert_eq!(by_name("disk-options"), 28);
        assert_eq!(by_name("net-options"), 29);
        assert_eq!(op(38).map(|o| o.kind), Some(OpKind::Dump));
        assert_eq!(op(GET_STATUS).map(|o| o.kind), Some(OpKind::StatusDoitDump));
        // notifications are not operations
        for n in [1, 34, 35, 36, 37, 40, 41] {
            assert!(op(n).is_none());
        }
        let needs = |n: &str| OPS.iter().find(|o| o.name == n).unwrap().needs;
        assert_eq!(needs("new-resource"), Needs::Nothing);
        assert_eq!(needs("primary"), Needs::Minor);
        assert_eq!(needs("connect"), Needs::Resource);
        assert_eq!(needs("disconnect"), Needs::Connection);
        assert_eq!(T_INFO_TEXT, 0x4001);
    }
}
