// SPDX-License-Identifier: GPL-2.0
//! Every `GENL_struct` of the `drbd` generic netlink family: its top-level attribute number and
//! its fields' numbers, types, flags and defaults.
//!
//! C counterpart: include/linux/drbd_genl.h, drbd_limits.h
//!
//! Conventions, from genl_magic_struct.h and genl_magic_func.h:
//! - A field's tag is `T_name = attr_nr | (attr_flag & DRBD_GENLA_F_MANDATORY)`: only the
//!   `DRBD_GENLA_F_MANDATORY` bit reaches the wire. `DRBD_F_REQUIRED` (like `DRBD_F_SENSITIVE` and
//!   `DRBD_F_INVARIANT`) is a drbd-internal bit checked by `<struct>_from_attrs`, and does *not*
//!   imply the mandatory bit. So `mandatory` is true exactly where the header names
//!   `DRBD_GENLA_F_MANDATORY`; e.g. `disk_conf.backing_dev` (REQUIRED | INVARIANT) is not mandatory.
//! - String and binary `max` is the header's maxlen; for strings it includes the NUL (the C policy
//!   is `.len = maxlen - 1` for `NLA_NUL_STRING`), 0 means unlimited.
//! - `__str_field_def` takes a maxlen, not a default: `set_<struct>_defaults` clears the string,
//!   so its default is the empty string.
//! - Enum-valued defaults are given as numbers; the comment names the drbd.h constant.

use crate::genl::schema::{
    Default, Field, FieldType, StructDef, F_INVARIANT, F_REQUIRED, F_SENSITIVE,
};

/// Sent with `DRBD_GENLA_F_MANDATORY`.
const MAND: bool = true;
/// `0 /* OPTIONAL */` or flags without `DRBD_GENLA_F_MANDATORY`.
const OPT: bool = false;
/// No `*_def` macro: the field keeps what the struct held before.
const NO_DEF: Default = Default::None;

/// `UI_SIZE` of `enum drbd_uuid_index` (drbd.h).
const UI_SIZE: u16 = 4;
/// `HISTORY_UUIDS` = `MAX_PEERS` (drbd.h).
const HISTORY_UUIDS: u16 = 32;
/// `SHARED_SECRET_MAX` (drbd.h).
const SHARED_SECRET_MAX: u16 = 64;
/// `DRBD_CPU_MASK_SIZE` (drbd.h).
const DRBD_CPU_MASK_SIZE: u16 = 32;
/// `sizeof(__u64)`.
const U64_SIZE: u16 = 8;

const fn field(
    nr: u16,
    name: &'static str,
    ty: FieldType,
    mandatory: bool,
    flags: u8,
    default: Default,
) -> Field {
    Field {
        nr,
        name,
        ty,
        mandatory,
        flags,
        default,
    }
}

/// `__u32_field` / `__u32_field_def`.
const fn u32f(nr: u16, name: &'static str, m: bool, flags: u8, default: Default) -> Field {
    field(nr, name, FieldType::U32, m, flags, default)
}

/// `__s32_field` / `__s32_field_def`.
const fn s32f(nr: u16, name: &'static str, m: bool, flags: u8, default: Default) -> Field {
    field(nr, name, FieldType::S32, m, flags, default)
}

/// `__u64_field` (there is no `__u64_field_def`).
const fn u64f(nr: u16, name: &'static str, m: bool, flags: u8) -> Field {
    field(nr, name, FieldType::U64, m, flags, NO_DEF)
}

/// `__flg_field` / `__flg_field_def`.
const fn flg(nr: u16, name: &'static str, m: bool, flags: u8, default: Default) -> Field {
    field(nr, name, FieldType::Flag, m, flags, default)
}

/// `__str_field` / `__str_field_def`.
const fn strf(nr: u16, name: &'static str, max: u16, m: bool, flags: u8, def: Default) -> Field {
    field(nr, name, FieldType::Str { max }, m, flags, def)
}

/// `__bin_field` (there is no `__bin_field_def`).
const fn binf(nr: u16, name: &'static str, max: u16, m: bool, flags: u8) -> Field {
    field(nr, name, FieldType::Bin { max }, m, flags, NO_DEF)
}

const fn num(v: i64) -> Default {
    Default::Num(v)
}

/// The default of a `__str_field_def`: cleared.
const EMPTY: Default = Default::Str("");

/// `DRBD_NLA_CFG_REPLY`: human-readable text sent with errors.
pub(crate) const CFG_REPLY: StructDef = StructDef {
    tla: 1,
    name: "drbd_cfg_reply",
    fields: &[strf(1, "info_text", 0, MAND, 0, NO_DEF)],
};

/// `DRBD_NLA_CFG_CONTEXT`: the object a request addresses.
pub(crate) const CFG_CONTEXT: StructDef = StructDef {
    tla: 2,
    name: "drbd_cfg_context",
    fields: &[
        u32f(1, "ctx_volume", MAND, 0, NO_DEF),
        strf(2, "ctx_resource_name", 128, MAND, 0, NO_DEF),
        binf(3, "ctx_my_addr", 128, MAND, 0),
        binf(4, "ctx_peer_addr", 128, MAND, 0),
    ],
};

/// `DRBD_NLA_DISK_CONF`, in the header's order (not sorted by number).
pub(crate) const DISK_CONF: StructDef = StructDef {
    tla: 3,
    name: "disk_conf",
    fields: &[
        strf(1, "backing_dev", 128, OPT, F_REQUIRED | F_INVARIANT, NO_DEF),
        strf(2, "meta_dev", 128, OPT, F_REQUIRED | F_INVARIANT, NO_DEF),
        s32f(3, "meta_dev_idx", OPT, F_REQUIRED | F_INVARIANT, NO_DEF),
        u64f(4, "disk_size", MAND, F_INVARIANT),
        u32f(5, "max_bio_bvecs", MAND, F_INVARIANT, NO_DEF),
        u32f(6, "on_io_error", MAND, 0, num(2)), // EP_DETACH
        u32f(7, "fencing", MAND, 0, num(0)),     // FP_DONT_CARE
        u32f(8, "resync_rate", MAND, 0, num(250)),
        s32f(9, "resync_after", MAND, 0, num(-1)), // DRBD_MINOR_NUMBER_DEF
        u32f(10, "al_extents", MAND, 0, num(1237)),
        u32f(11, "c_plan_ahead", MAND, 0, num(20)),
        u32f(12, "c_delay_target", MAND, 0, num(10)),
        u32f(13, "c_fill_target", MAND, 0, num(100)),
        u32f(14, "c_max_rate", MAND, 0, num(102400)),
        u32f(15, "c_min_rate", MAND, 0, num(250)),
        u32f(20, "disk_timeout", MAND, 0, num(0)),
        u32f(21, "read_balancing", OPT, 0, num(0)), // RB_PREFER_LOCAL
        u32f(25, "rs_discard_granularity", OPT, 0, num(0)),
        flg(16, "disk_barrier", MAND, 0, num(0)),
        flg(17, "disk_flushes", MAND, 0, num(1)),
        flg(18, "disk_drain", MAND, 0, num(1)),
        flg(19, "md_flushes", MAND, 0, num(1)),
        flg(23, "al_updates", OPT, 0, num(1)),
        flg(24, "discard_zeroes_if_aligned", OPT, 0, num(1)),
        flg(26, "disable_write_same", OPT, 0, num(0)),
    ],
};

/// `DRBD_NLA_RESOURCE_OPTS`.
pub(crate) const RESOURCE_OPTS: StructDef = StructDef {
    tla: 4,
    name: "res_opts",
    fields: &[
        strf(1, "cpu_mask", DRBD_CPU_MASK_SIZE, MAND, 0, EMPTY),
        u32f(2, "on_no_data", MAND, 0, num(0)), // OND_IO_ERROR
    ],
};

/// `DRBD_NLA_NET_CONF`. Numbers 30..32 are DRBD 9 only and absent here.
pub(crate) const NET_CONF: StructDef = StructDef {
    tla: 5,
    name: "net_conf",
    fields: &[
        strf(
            1,
            "shared_secret",
            SHARED_SECRET_MAX,
            MAND,
            F_SENSITIVE,
            EMPTY,
        ),
        strf(2, "cram_hmac_alg", SHARED_SECRET_MAX, MAND, 0, EMPTY),
        strf(3, "integrity_alg", SHARED_SECRET_MAX, MAND, 0, EMPTY),
        strf(4, "verify_alg", SHARED_SECRET_MAX, MAND, 0, EMPTY),
        strf(5, "csums_alg", SHARED_SECRET_MAX, MAND, 0, EMPTY),
        u32f(6, "wire_protocol", MAND, 0, num(3)), // DRBD_PROT_C
        u32f(7, "connect_int", MAND, 0, num(10)),
        u32f(8, "timeout", MAND, 0, num(60)),
        u32f(9, "ping_int", MAND, 0, num(10)),
        u32f(10, "ping_timeo", MAND, 0, num(5)),
        u32f(11, "sndbuf_size", MAND, 0, num(0)),
        u32f(12, "rcvbuf_size", MAND, 0, num(0)),
        u32f(13, "ko_count", MAND, 0, num(7)),
        u32f(14, "max_buffers", MAND, 0, num(2048)),
        u32f(15, "max_epoch_size", MAND, 0, num(2048)),
        u32f(16, "unplug_watermark", MAND, 0, num(128)), // DRBD_MAX_BUFFERS_DEF / 16
        u32f(17, "after_sb_0p", MAND, 0, num(0)),        // ASB_DISCONNECT
        u32f(18, "after_sb_1p", MAND, 0, num(0)),        // ASB_DISCONNECT
        u32f(19, "after_sb_2p", MAND, 0, num(0)),        // ASB_DISCONNECT
        u32f(20, "rr_conflict", MAND, 0, num(0)),        // ASB_DISCONNECT
        u32f(21, "on_congestion", MAND, 0, num(0)),      // OC_BLOCK
        u32f(22, "cong_fill", MAND, 0, num(0)),
        u32f(23, "cong_extents", MAND, 0, num(1237)), // DRBD_AL_EXTENTS_DEF
        flg(24, "two_primaries", MAND, 0, num(0)),
        flg(25, "discard_my_data", MAND, F_INVARIANT, NO_DEF),
        flg(26, "tcp_cork", MAND, 0, num(1)),
        flg(27, "always_asbp", MAND, 0, num(0)),
        flg(28, "tentative", MAND, F_INVARIANT, NO_DEF),
        flg(29, "use_rle", MAND, 0, num(1)),
        flg(33, "csums_after_crash_only", OPT, 0, num(0)),
        u32f(34, "sock_check_timeo", OPT, 0, num(0)),
    ],
};

/// `DRBD_NLA_SET_ROLE_PARMS`.
pub(crate) const SET_ROLE_PARMS: StructDef = StructDef {
    tla: 6,
    name: "set_role_parms",
    fields: &[flg(1, "assume_uptodate", MAND, 0, NO_DEF)],
};

/// `DRBD_NLA_RESIZE_PARMS`.
pub(crate) const RESIZE_PARMS: StructDef = StructDef {
    tla: 7,
    name: "resize_parms",
    fields: &[
        u64f(1, "resize_size", MAND, 0),
        flg(2, "resize_force", MAND, 0, NO_DEF),
        flg(3, "no_resync", MAND, 0, NO_DEF),
        u32f(4, "al_stripes", OPT, 0, num(1)),
        u32f(5, "al_stripe_size", OPT, 0, num(32)),
    ],
};

/// `DRBD_NLA_STATE_INFO`, sent with `DRBD_EVENT` broadcasts.
pub(crate) const STATE_INFO: StructDef = StructDef {
    tla: 8,
    name: "state_info",
    fields: &[
        u32f(1, "sib_reason", MAND, 0, NO_DEF),
        u32f(2, "current_state", OPT, F_REQUIRED, NO_DEF),
        u64f(3, "capacity", MAND, 0),
        u64f(4, "ed_uuid", MAND, 0),
        u32f(5, "prev_state", MAND, 0, NO_DEF),
        u32f(6, "new_state", MAND, 0, NO_DEF),
        binf(7, "uuids", UI_SIZE * U64_SIZE, MAND, 0),
        u32f(8, "disk_flags", MAND, 0, NO_DEF),
        u64f(9, "bits_total", MAND, 0),
        u64f(10, "bits_oos", MAND, 0),
        u64f(11, "bits_rs_total", MAND, 0),
        u64f(12, "bits_rs_failed", MAND, 0),
        strf(13, "helper", 32, MAND, 0, NO_DEF),
        u32f(14, "helper_exit_code", MAND, 0, NO_DEF),
        u64f(15, "send_cnt", OPT, 0),
        u64f(16, "recv_cnt", OPT, 0),
        u64f(17, "read_cnt", OPT, 0),
        u64f(18, "writ_cnt", OPT, 0),
        u64f(19, "al_writ_cnt", OPT, 0),
        u64f(20, "bm_writ_cnt", OPT, 0),
        u32f(21, "ap_bio_cnt", OPT, 0, NO_DEF),
        u32f(22, "ap_pending_cnt", OPT, 0, NO_DEF),
        u32f(23, "rs_pending_cnt", OPT, 0, NO_DEF),
    ],
};

/// `DRBD_NLA_START_OV_PARMS`.
pub(crate) const START_OV_PARMS: StructDef = StructDef {
    tla: 9,
    name: "start_ov_parms",
    fields: &[
        u64f(1, "ov_start_sector", MAND, 0),
        u64f(2, "ov_stop_sector", MAND, 0),
    ],
};

/// `DRBD_NLA_NEW_C_UUID_PARMS`.
pub(crate) const NEW_C_UUID_PARMS: StructDef = StructDef {
    tla: 10,
    name: "new_c_uuid_parms",
    fields: &[flg(1, "clear_bm", MAND, 0, NO_DEF)],
};

/// `DRBD_NLA_TIMEOUT_PARMS`.
pub(crate) const TIMEOUT_PARMS: StructDef = StructDef {
    tla: 11,
    name: "timeout_parms",
    fields: &[u32f(1, "timeout_type", OPT, F_REQUIRED, NO_DEF)],
};

/// `DRBD_NLA_DISCONNECT_PARMS`.
pub(crate) const DISCONNECT_PARMS: StructDef = StructDef {
    tla: 12,
    name: "disconnect_parms",
    fields: &[flg(1, "force_disconnect", MAND, 0, NO_DEF)],
};

/// `DRBD_NLA_DETACH_PARMS`. Number 14 is unused by DRBD 8.4.
pub(crate) const DETACH_PARMS: StructDef = StructDef {
    tla: 13,
    name: "detach_parms",
    fields: &[flg(1, "force_detach", MAND, 0, NO_DEF)],
};

/// `DRBD_NLA_RESOURCE_INFO`.
pub(crate) const RESOURCE_INFO: StructDef = StructDef {
    tla: 15,
    name: "resource_info",
    fields: &[
        u32f(1, "res_role", OPT, 0, NO_DEF),
        flg(2, "res_susp", OPT, 0, NO_DEF),
        flg(3, "res_susp_nod", OPT, 0, NO_DEF),
        flg(4, "res_susp_fen", OPT, 0, NO_DEF),
    ],
};

/// `DRBD_NLA_DEVICE_INFO`.
pub(crate) const DEVICE_INFO: StructDef = StructDef {
    tla: 16,
    name: "device_info",
    fields: &[u32f(1, "dev_disk_state", OPT, 0, NO_DEF)],
};

/// `DRBD_NLA_CONNECTION_INFO`.
pub(crate) const CONNECTION_INFO: StructDef = StructDef {
    tla: 17,
    name: "connection_info",
    fields: &[
        u32f(1, "conn_connection_state", OPT, 0, NO_DEF),
        u32f(2, "conn_role", OPT, 0, NO_DEF),
    ],
};

/// `DRBD_NLA_PEER_DEVICE_INFO`.
pub(crate) const PEER_DEVICE_INFO: StructDef = StructDef {
    tla: 18,
    name: "peer_device_info",
    fields: &[
        u32f(1, "peer_repl_state", OPT, 0, NO_DEF),
        u32f(2, "peer_disk_state", OPT, 0, NO_DEF),
        u32f(3, "peer_resync_susp_user", OPT, 0, NO_DEF),
        u32f(4, "peer_resync_susp_peer", OPT, 0, NO_DEF),
        u32f(5, "peer_resync_susp_dependency", OPT, 0, NO_DEF),
    ],
};

/// `DRBD_NLA_RESOURCE_STATISTICS`.
pub(crate) const RESOURCE_STATISTICS: StructDef = StructDef {
    tla: 19,
    name: "resource_statistics",
    fields: &[u32f(1, "res_stat_write_ordering", OPT, 0, NO_DEF)],
};

/// `DRBD_NLA_DEVICE_STATISTICS`. Sizes and I/O in sectors.
pub(crate) const DEVICE_STATISTICS: StructDef = StructDef {
    tla: 20,
    name: "device_statistics",
    fields: &[
        u64f(1, "dev_size", OPT, 0),
        u64f(2, "dev_read", OPT, 0),
        u64f(3, "dev_write", OPT, 0),
        u64f(4, "dev_al_writes", OPT, 0),
        u64f(5, "dev_bm_writes", OPT, 0),
        u32f(6, "dev_upper_pending", OPT, 0, NO_DEF),
        u32f(7, "dev_lower_pending", OPT, 0, NO_DEF),
        flg(8, "dev_upper_blocked", OPT, 0, NO_DEF),
        flg(9, "dev_lower_blocked", OPT, 0, NO_DEF),
        flg(10, "dev_al_suspended", OPT, 0, NO_DEF),
        u64f(11, "dev_exposed_data_uuid", OPT, 0),
        u64f(12, "dev_current_uuid", OPT, 0),
        u32f(13, "dev_disk_flags", OPT, 0, NO_DEF),
        binf(14, "history_uuids", HISTORY_UUIDS * U64_SIZE, OPT, 0),
    ],
};

/// `DRBD_NLA_CONNECTION_STATISTICS`.
pub(crate) const CONNECTION_STATISTICS: StructDef = StructDef {
    tla: 21,
    name: "connection_statistics",
    fields: &[flg(1, "conn_congested", OPT, 0, NO_DEF)],
};

/// `DRBD_NLA_PEER_DEVICE_STATISTICS`. Number 8 is unused.
pub(crate) const PEER_DEVICE_STATISTICS: StructDef = StructDef {
    tla: 22,
    name: "peer_device_statistics",
    fields: &[
        u64f(1, "peer_dev_received", OPT, 0),
        u64f(2, "peer_dev_sent", OPT, 0),
        u32f(3, "peer_dev_pending", OPT, 0, NO_DEF),
        u32f(4, "peer_dev_unacked", OPT, 0, NO_DEF),
        u64f(5, "peer_dev_out_of_sync", OPT, 0),
        u64f(6, "peer_dev_resync_failed", OPT, 0),
        u64f(7, "peer_dev_bitmap_uuid", OPT, 0),
        u32f(9, "peer_dev_flags", OPT, 0, NO_DEF),
    ],
};

/// `DRBD_NLA_NOTIFICATION_HEADER`.
pub(crate) const NOTIFICATION_HEADER: StructDef = StructDef {
    tla: 23,
    name: "drbd_notification_header",
    fields: &[u32f(1, "nh_type", MAND, 0, NO_DEF)],
};

/// `DRBD_NLA_HELPER`.
pub(crate) const HELPER: StructDef = StructDef {
    tla: 24,
    name: "drbd_helper_info",
    fields: &[
        strf(1, "helper_name", 32, MAND, 0, NO_DEF),
        u32f(2, "helper_status", MAND, 0, NO_DEF),
    ],
};

/// All structs, by ascending top-level attribute number.
pub(crate) const STRUCTS: [StructDef; 23] = [
    CFG_REPLY,
    CFG_CONTEXT,
    DISK_CONF,
    RESOURCE_OPTS,
    NET_CONF,
    SET_ROLE_PARMS,
    RESIZE_PARMS,
    STATE_INFO,
    START_OV_PARMS,
    NEW_C_UUID_PARMS,
    TIMEOUT_PARMS,
    DISCONNECT_PARMS,
    DETACH_PARMS,
    RESOURCE_INFO,
    DEVICE_INFO,
    CONNECTION_INFO,
    PEER_DEVICE_INFO,
    RESOURCE_STATISTICS,
    DEVICE_STATISTICS,
    CONNECTION_STATISTICS,
    PEER_DEVICE_STATISTICS,
    NOTIFICATION_HEADER,
    HELPER,
];

/// Looks a struct up by its top-level attribute number.
pub(crate) fn by_tla(tla: u16) -> Option<&'static StructDef> {
    STRUCTS.iter().find(|s| s.tla == tla)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::genl::schema::TLA_MAX;

    fn find(s: &StructDef, name: &str) -> Field {
        *s.fields.iter().find(|f| f.name == name).unwrap()
    }

    #[test]
    fn tlas_ascend_and_match_drbd_genl_h() {
        let expected = [
            (1, "drbd_cfg_reply"),
            (2, "drbd_cfg_context"),
            (3, "disk_conf"),
            (4, "res_opts"),
            (5, "net_conf"),
            (6, "set_role_parms"),
            (7, "resize_parms"),
            (8, "state_info"),
            (9, "start_ov_parms"),
            (10, "new_c_uuid_parms"),
            (11, "timeout_parms"),
            (12, "disconnect_parms"),
            (13, "detach_parms"),
            (15, "resource_info"),
            (16, "device_info"),
            (17, "connection_info"),
            (18, "peer_device_info"),
            (19, "resource_statistics"),
            (20, "device_statistics"),
            (21, "connection_statistics"),
            (22, "peer_device_statistics"),
            (23, "drbd_notification_header"),
            (24, "drbd_helper_info"),
        ];
        for (s, (tla, name)) in STRUCTS.iter().zip(expected) {
            assert_eq!((s.tla, s.name), (tla, name));
        }
        for w in STRUCTS.windows(2) {
            assert!(
                w[0].tla < w[1].tla,
                "{} not before {}",
                w[0].name,
                w[1].name
            );
        }
        assert_eq!(STRUCTS[STRUCTS.len() - 1].tla, TLA_MAX);
        for s in STRUCTS.iter() {
            assert_eq!(by_tla(s.tla).map(|t| t.name), Some(s.name));
        }
        for n in [0, 14, TLA_MAX + 1] {
            assert!(by_tla(n).is_none());
        }
    }

    #[test]
    fn fields_are_unique_and_consistent() {
        for s in STRUCTS.iter() {
            assert!(!s.fields.is_empty());
            for (i, f) in s.fields.iter().enumerate() {
                // numbers index the C policy and nested_attr_tb[128]; 0 is NLA_UNSPEC
                assert!(f.nr > 0 && f.nr < 128, "{}.{}", s.name, f.name);
                assert!(f.flags & !(F_REQUIRED | F_SENSITIVE | F_INVARIANT) == 0);
                for g in &s.fields[i + 1..] {
                    assert_ne!(f.nr, g.nr, "{}: {} and {}", s.name, f.name, g.name);
                    assert_ne!(f.name, g.name, "{}", s.name);
                }
                match (f.ty, f.default) {
                    (_, Default::None) => {}
                    (FieldType::Flag, Default::Num(v)) => assert!(v == 0 || v == 1),
                    (FieldType::U32, Default::Num(v)) => {
                        assert!((0..=u32::MAX as i64).contains(&v))
                    }
                    (FieldType::S32, Default::Num(v)) => assert!(i32::try_from(v).is_ok()),
                    (FieldType::Str { max }, Default::Str(d)) => {
                        assert!(max == 0 || d.len() < max as usize)
                    }
                    _ => panic!("{}.{}: default does not fit the type", s.name, f.name),
                }
            }
        }
        // T_name is unique across the family too (the C enums would clash otherwise)
        let names: std::vec::Vec<&str> = STRUCTS
            .iter()
            .flat_map(|s| s.fields.iter().map(|f| f.name))
            .collect();
        for (i, n) in names.iter().enumerate() {
            assert!(!names[i + 1..].contains(n), "{n} twice");
        }
    }

    #[test]
    fn required_does_not_imply_mandatory() {
        let required: std::vec::Vec<(&str, bool)> = STRUCTS
            .iter()
            .flat_map(|s| s.fields.iter())
            .filter(|f| f.flags & F_REQUIRED != 0)
            .map(|f| (f.name, f.mandatory))
            .collect();
        assert_eq!(
            required,
            [
                ("backing_dev", false),
                ("meta_dev", false),
                ("meta_dev_idx", false),
                ("current_state", false),
                ("timeout_type", false),
            ]
        );
    }

    #[test]
    fn spot_checks_against_drbd_genl_h() {
        let f = find(&CFG_REPLY, "info_text");
        assert_eq!(
            (f.nr, f.ty, f.mandatory),
            (1, FieldType::Str { max: 0 }, true)
        );

        let f = find(&CFG_CONTEXT, "ctx_resource_name");
        assert_eq!(
            (f.nr, f.ty, f.mandatory),
            (2, FieldType::Str { max: 128 }, true)
        );
        assert_eq!(
            find(&CFG_CONTEXT, "ctx_peer_addr").ty,
            FieldType::Bin { max: 128 }
        );

        let f = find(&DISK_CONF, "backing_dev");
        assert_eq!((f.nr, f.ty), (1, FieldType::Str { max: 128 }));
        assert_eq!(f.flags, F_REQUIRED | F_INVARIANT);
        assert_eq!(find(&DISK_CONF, "meta_dev_idx").ty, FieldType::S32);
        let f = find(&DISK_CONF, "disk_size");
        assert_eq!(
            (f.ty, f.mandatory, f.flags),
            (FieldType::U64, true, F_INVARIANT)
        );
        let f = find(&DISK_CONF, "resync_after");
        assert_eq!(
            (f.nr, f.ty, f.default),
            (9, FieldType::S32, Default::Num(-1))
        );
        assert_eq!(find(&DISK_CONF, "al_extents").default, Default::Num(1237));
        assert_eq!(find(&DISK_CONF, "on_io_error").default, Default::Num(2));
        let f = find(&DISK_CONF, "rs_discard_granularity");
        assert_eq!((f.nr, f.mandatory, f.default), (25, false, Default::Num(0)));
        let f = find(&DISK_CONF, "disk_flushes");
        assert_eq!(
            (f.nr, f.ty, f.default),
            (17, FieldType::Flag, Default::Num(1))
        );
        assert_eq!(DISK_CONF.fields.len(), 25);

        let f = find(&RESOURCE_OPTS, "cpu_mask");
        assert_eq!(
            (f.ty, f.default),
            (FieldType::Str { max: 32 }, Default::Str(""))
        );

        let f = find(&NET_CONF, "shared_secret");
        assert_eq!((f.nr, f.ty), (1, FieldType::Str { max: 64 }));
        assert_eq!((f.mandatory, f.flags), (true, F_SENSITIVE));
        let sensitive = STRUCTS
            .iter()
            .flat_map(|s| s.fields.iter())
            .filter(|f| f.flags & F_SENSITIVE != 0)
            .count();
        assert_eq!(sensitive, 1);
        let f = find(&NET_CONF, "sock_check_timeo");
        assert_eq!((f.nr, f.ty, f.mandatory), (34, FieldType::U32, false));
        assert_eq!(f.default, Default::Num(0));
        assert_eq!(find(&NET_CONF, "wire_protocol").default, Default::Num(3));
        assert_eq!(
            find(&NET_CONF, "unplug_watermark").default,
            Default::Num(128)
        );
        let f = find(&NET_CONF, "discard_my_data");
        assert_eq!((f.nr, f.flags, f.default), (25, F_INVARIANT, Default::None));
        assert_eq!(find(&NET_CONF, "csums_after_crash_only").nr, 33);
        assert!(NET_CONF.fields.iter().all(|f| !(30..=32).contains(&f.nr)));

        let f = find(&STATE_INFO, "uuids");
        assert_eq!((f.nr, f.ty), (7, FieldType::Bin { max: 4 * 8 }));
        let f = find(&STATE_INFO, "current_state");
        assert_eq!((f.nr, f.mandatory, f.flags), (2, false, F_REQUIRED));
        assert_eq!(find(&STATE_INFO, "helper").ty, FieldType::Str { max: 32 });
        assert_eq!(STATE_INFO.fields.len(), 23);

        let f = find(&RESIZE_PARMS, "al_stripe_size");
        assert_eq!((f.nr, f.mandatory, f.default), (5, false, Default::Num(32)));

        let f = find(&DEVICE_STATISTICS, "history_uuids");
        assert_eq!((f.nr, f.ty), (14, FieldType::Bin { max: 32 * 8 }));
        assert!(PEER_DEVICE_STATISTICS.fields.iter().all(|f| f.nr != 8));
        assert_eq!(find(&HELPER, "helper_name").ty, FieldType::Str { max: 32 });
    }
}
