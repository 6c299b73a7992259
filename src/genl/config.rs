// SPDX-License-Identifier: GPL-2.0
//! Configuration structs as requests carry them: decoding with defaults, validation, encoding.
//!
//! C counterpart: the `*_from_attrs`, `set_*_defaults` and `*_to_skb` functions that
//! genl_magic_func.h generates, and drbd_check_resource_name() of drbd_nl.c.

use crate::genl::nla::{Fields, NlaWriter, Overflow, ParseError, TopLevel, Value, NLA_F_NESTED};
use crate::genl::retcode::RetCode;
use crate::genl::schema::{Default, StructDef, GENLA_F_MANDATORY};
use crate::genl::schema::{FieldType, F_INVARIANT, F_SENSITIVE};
use crate::genl::structs::{
    CFG_CONTEXT, DEVICE_INFO, DEVICE_STATISTICS, RESOURCE_INFO, RESOURCE_OPTS, RESOURCE_STATISTICS,
    STATE_INFO,
};
use crate::model::state::{DiskState, Role};

/// Longest resource name, without the NUL (`ctx_resource_name` holds 128 bytes).
pub(crate) const NAME_MAX: usize = 127;

/// A resource name as the C module stores it: up to [`NAME_MAX`] bytes, no NUL.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Name {
    buf: [u8; NAME_MAX],
    len: u8,
}

impl Name {
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }
}

impl core::fmt::Display for Name {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for &b in self.as_bytes() {
            if b.is_ascii_graphic() {
                write!(f, "{}", b as char)?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

/// Why a resource name is refused, with the C module's info text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BadName {
    /// "resource name missing": answered with `ERR_MANDATORY_TAG`.
    Missing,
    /// "invalid resource name": answered with `ERR_INVALID_REQUEST`.
    Invalid,
}

/// Checks a resource name as `drbd_check_resource_name` does: present, not empty, no '/'.
pub(crate) fn check_name(name: Option<&[u8]>) -> Result<Name, BadName> {
    let name = name.filter(|n| !n.is_empty()).ok_or(BadName::Missing)?;
    if name.contains(&b'/') || name.len() > NAME_MAX {
        return Err(BadName::Invalid);
    }
    let mut buf = [0; NAME_MAX];
    buf[..name.len()].copy_from_slice(name);
    Ok(Name {
        buf,
        len: name.len() as u8,
    })
}

/// The resource name in a decoded `CFG_CONTEXT`.
pub(crate) fn context_name<'a>(ctx: &Fields<'a>) -> Option<&'a [u8]> {
    match ctx.get("ctx_resource_name") {
        Some(Value::Str(s)) => Some(s),
        _ => None,
    }
}

/// A connection's endpoints (`my_addr`, `peer_addr`) as `struct sockaddr_*` bytes, if any.
pub(crate) type Addrs<'a> = Option<(&'a [u8], &'a [u8])>;

/// Writes a `CFG_CONTEXT` naming a resource (and a volume, and a connection's endpoints), as
/// nla_put_drbd_cfg_context().
pub(crate) fn put_context(
    out: &mut NlaWriter<'_>,
    name: &Name,
    volume: Option<u32>,
    addrs: Addrs<'_>,
) -> Result<(), Overflow> {
    out.nest(CFG_CONTEXT.tla, |w| {
        if let Some(v) = volume {
            w.put(1 | GENLA_F_MANDATORY, &v.to_ne_bytes())?;
        }
        w.put_bytes_nul(2 | GENLA_F_MANDATORY, name.as_bytes())?;
        if let Some((my, peer)) = addrs {
            w.put(3 | GENLA_F_MANDATORY, my)?;
            w.put(4 | GENLA_F_MANDATORY, peer)?;
        }
        Ok(())
    })
}

/// The endpoints of a connection's context (`ctx_my_addr`, `ctx_peer_addr`), as sent.
pub(crate) fn context_addrs<'a>(ctx: &Fields<'a>) -> (Option<&'a [u8]>, Option<&'a [u8]>) {
    let bin = |name| match ctx.get(name) {
        Some(Value::Bin(b)) => Some(b),
        _ => None,
    };
    (bin("ctx_my_addr"), bin("ctx_peer_addr"))
}

/// Longest string field of a configuration struct, without its NUL (backing_dev, meta_dev).
const CONF_STR_MAX: usize = 127;
/// Most string fields in one configuration struct (net_conf has five).
const CONF_STRS: usize = 5;

/// The values of a configuration struct (disk_conf, net_conf): every field, from the request
/// or from its default, as `*_from_attrs` fills the C struct.
#[derive(Clone, Copy)]
pub(crate) struct Conf {
    def: &'static StructDef,
    /// Numbers and flags, by field position (u32 and flag values as their numbers).
    nums: [i64; crate::genl::nla::MAX_FIELDS],
    /// Strings, in the order of the string fields.
    strs: [([u8; CONF_STR_MAX], u8); CONF_STRS],
}

impl Conf {
    /// A struct of defaults (`set_*_defaults`): numbers and flags from drbd_limits.h, empty
    /// strings, 0 where there is no default.
    pub(crate) fn defaults(def: &'static StructDef) -> Self {
        let mut nums = [0; crate::genl::nla::MAX_FIELDS];
        for (n, f) in nums.iter_mut().zip(def.fields.iter()) {
            if let Default::Num(v) = f.default {
                *n = v;
            }
        }
        Self {
            def,
            nums,
            strs: [([0; CONF_STR_MAX], 0); CONF_STRS],
        }
    }

    /// Replaces the fields `fields` carries (`*_from_attrs`), in place: a `Conf` is 1 KiB, too
    /// much to copy around on a kernel stack. A string longer than this struct can hold is
    /// refused, and leaves `self` partly updated.
    pub(crate) fn update(&mut self, fields: &Fields<'_>) -> Result<(), ParseError> {
        let mut str_index = 0;
        for (i, f) in self.def.fields.iter().enumerate() {
            let is_str = matches!(f.ty, FieldType::Str { .. });
            match fields.get(f.name) {
                Some(Value::U32(v)) => self.nums[i] = i64::from(v),
                Some(Value::S32(v)) => self.nums[i] = i64::from(v),
                Some(Value::U64(v)) => self.nums[i] = v as i64,
                Some(Value::Flag(v)) => self.nums[i] = i64::from(v),
                Some(Value::Str(s)) => {
                    let slot = self
                        .strs
                        .get_mut(str_index)
                        .filter(|_| s.len() <= CONF_STR_MAX);
                    let slot = slot.ok_or(ParseError::BadField { name: f.name })?;
                    slot.0 = [0; CONF_STR_MAX];
                    slot.0[..s.len()].copy_from_slice(s);
                    slot.1 = s.len() as u8;
                }
                _ => {}
            }
            str_index += usize::from(is_str);
        }
        Ok(())
    }

    /// The fields the request's nest of this struct carries, if it has one (`*_from_attrs()`);
    /// for a configuration in use (`for_change`, `*_from_attrs_for_change()`) a field that
    /// cannot change refuses the request. Answers as drbd_nl.c does. Not inlined: the decoded
    /// fields (about 1 KiB) stay off the handler's frame.
    #[inline(never)]
    pub(crate) fn apply(
        &mut self,
        top: &TopLevel<'_>,
        for_change: bool,
    ) -> Result<(), (RetCode, &'static str)> {
        let invalid = (RetCode::MandatoryTag, "invalid attribute value");
        let Some(nest) = top.get(self.def.tla) else {
            return Ok(());
        };
        let fields = Fields::parse(self.def, nest.payload).map_err(|_| invalid)?;
        if for_change
            && self
                .def
                .fields
                .iter()
                .any(|f| f.flags & F_INVARIANT != 0 && fields.get(f.name).is_some())
        {
            return Err((RetCode::MandatoryTag, "can not change invariant setting"));
        }
        self.update(&fields).map_err(|_| invalid)
    }

    /// A field's value as the generated `*_to_skb` writes it.
    pub(crate) fn value(&self, name: &str) -> Option<Value<'_>> {
        let mut str_index = 0;
        for (i, f) in self.def.fields.iter().enumerate() {
            if f.name == name {
                let n = self.nums[i];
                return Some(match f.ty {
                    FieldType::U32 => Value::U32(n as u32),
                    FieldType::S32 => Value::S32(n as i32),
                    FieldType::U64 => Value::U64(n as u64),
                    FieldType::Flag => Value::Flag(n != 0),
                    FieldType::Str { .. } => {
                        let (buf, len) = self.strs.get(str_index)?;
                        Value::Str(&buf[..usize::from(*len)])
                    }
                    FieldType::Bin { .. } => Value::Bin(&[]),
                });
            }
            str_index += usize::from(matches!(f.ty, FieldType::Str { .. }));
        }
        None
    }

    /// Sets a number or flag field (an unknown name changes nothing).
    pub(crate) fn set_num(&mut self, name: &str, value: i64) {
        if let Some(i) = self.def.fields.iter().position(|f| f.name == name) {
            if let Some(n) = self.nums.get_mut(i) {
                *n = value;
            }
        }
    }

    /// `set_*_defaults` for a change (`--set-defaults`): every field that may change goes back
    /// to its default; the invariant ones (the devices of a disk) stay.
    pub(crate) fn reset_changeable(&mut self) {
        let mut str_index = 0;
        for (i, f) in self.def.fields.iter().enumerate() {
            let is_str = matches!(f.ty, FieldType::Str { .. });
            if f.flags & F_INVARIANT == 0 {
                if is_str {
                    if let Some(slot) = self.strs.get_mut(str_index) {
                        *slot = ([0; CONF_STR_MAX], 0);
                    }
                } else if let Some(n) = self.nums.get_mut(i) {
                    *n = match f.default {
                        Default::Num(v) => v,
                        _ => 0,
                    };
                }
            }
            str_index += usize::from(is_str);
        }
    }

    /// A number or flag field's value (0 for an unknown name).
    pub(crate) fn num(&self, name: &str) -> i64 {
        self.def
            .fields
            .iter()
            .position(|f| f.name == name)
            .map_or(0, |i| self.nums[i])
    }

    /// Writes the struct as `*_to_skb` does, without its sensitive fields.
    pub(crate) fn put(&self, out: &mut NlaWriter<'_>) -> Result<(), Overflow> {
        put_struct(out, self.def, |name| self.value(name))
    }

    /// Writes the struct with its sensitive fields too (for a caller with CAP_SYS_ADMIN).
    pub(crate) fn put_all(&self, out: &mut NlaWriter<'_>) -> Result<(), Overflow> {
        put_struct_with(out, self.def, true, |name| self.value(name))
    }
}

/// A configuration value outside the range drbd_limits.h gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OutOfRange {
    pub(crate) field: &'static str,
    pub(crate) value: i64,
    pub(crate) min: i64,
    pub(crate) max: i64,
}

impl core::fmt::Display for OutOfRange {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{} {} out of range [{}, {}]",
            self.field, self.value, self.min, self.max
        )
    }
}

/// The info text of a request refused for an [`OutOfRange`] value.
pub(crate) const OUT_OF_RANGE: &str = "option value out of range";

/// The ranges of drbd_limits.h (`DRBD_*_MIN`, `DRBD_*_MAX`) of the disk and net options, in
/// the units the structs carry. drbdsetup keeps to them; the module must not trust that every
/// client does (the time arithmetic of a connection needs them). `al-extents` is not here: it
/// is clamped, as sanitize_disk_conf() does.
const LIMITS: &[(&str, i64, i64)] = &[
    // disk_conf
    ("disk_size", 0, 2 << 40),
    ("max_bio_bvecs", 0, 128),
    ("on_io_error", 0, 2),
    ("fencing", 0, 2),
    ("resync_rate", 1, 4 << 20),
    ("c_plan_ahead", 0, 300),
    ("c_delay_target", 1, 100),
    ("c_fill_target", 0, 1 << 20),
    ("c_max_rate", 250, 4 << 20),
    ("c_min_rate", 0, 4 << 20),
    ("disk_timeout", 0, 6000),
    ("rs_discard_granularity", 0, 1 << 20),
    // net_conf
    ("wire_protocol", 1, 3),
    ("connect_int", 1, 120),
    ("timeout", 1, 600),
    ("ping_int", 1, 120),
    ("ping_timeo", 1, 300),
    ("sndbuf_size", 0, 10 << 20),
    ("rcvbuf_size", 0, 10 << 20),
    ("ko_count", 0, 200),
    ("max_buffers", 32, 131072),
    ("max_epoch_size", 1, 20000),
    ("unplug_watermark", 1, 131072),
    ("cong_fill", 0, 10 << 21),
    ("cong_extents", 67, 0xfffe),
    ("sock_check_timeo", 0, 300),
];

/// `value` of the field `name` brought into its drbd_limits.h range (as is if it has none).
pub(crate) fn clamp_to_limits(name: &str, value: i64) -> i64 {
    match LIMITS.iter().find(|(n, _, _)| *n == name) {
        Some(&(_, min, max)) => value.clamp(min, max),
        None => value,
    }
}

impl Conf {
    /// The first field whose value is outside its drbd_limits.h range, if any.
    pub(crate) fn out_of_range(&self) -> Option<OutOfRange> {
        self.def.fields.iter().enumerate().find_map(|(i, f)| {
            let &(_, min, max) = LIMITS.iter().find(|(name, _, _)| *name == f.name)?;
            let value = self.nums[i];
            (value < min || value > max).then_some(OutOfRange {
                field: f.name,
                value,
                min,
                max,
            })
        })
    }
}

/// `cpu_mask` holds 32 bytes with its NUL.
const CPU_MASK_MAX: usize = 31;

/// Resource options (`struct res_opts`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ResOpts {
    cpu_mask: [u8; CPU_MASK_MAX],
    cpu_mask_len: u8,
    /// `enum drbd_on_no_data`.
    pub(crate) on_no_data: u32,
}

fn default_num(def: &StructDef, name: &str) -> i64 {
    match def
        .fields
        .iter()
        .find(|f| f.name == name)
        .map(|f| f.default)
    {
        Some(Default::Num(n)) => n,
        _ => 0,
    }
}

impl ResOpts {
    /// The defaults of drbd_limits.h (`set_res_opts_defaults`).
    pub(crate) fn defaults() -> Self {
        Self {
            cpu_mask: [0; CPU_MASK_MAX],
            cpu_mask_len: 0,
            on_no_data: default_num(&RESOURCE_OPTS, "on_no_data") as u32,
        }
    }

    /// `self` with the fields `fields` carries replaced, as `res_opts_from_attrs`.
    pub(crate) fn updated(&self, fields: &Fields<'_>) -> Result<Self, ParseError> {
        let mut new = *self;
        if let Some(Value::Str(mask)) = fields.get("cpu_mask") {
            // bitmap_parse() syntax: hex digits in comma-separated groups
            if mask.len() > CPU_MASK_MAX
                || !mask.iter().all(|c| c.is_ascii_hexdigit() || *c == b',')
            {
                return Err(ParseError::BadField { name: "cpu_mask" });
            }
            new.cpu_mask = [0; CPU_MASK_MAX];
            new.cpu_mask[..mask.len()].copy_from_slice(mask);
            new.cpu_mask_len = mask.len() as u8;
        }
        if let Some(Value::U32(v)) = fields.get("on_no_data") {
            new.on_no_data = v;
        }
        Ok(new)
    }
}

/// Writes a whole struct as the generated `*_to_skb` does: a flagged nest holding every field
/// in schema order under its plain number, with the value `value` gives it, zero (or empty) for
/// `None`. Sensitive fields are left out.
pub(crate) fn put_struct<'v>(
    out: &mut NlaWriter<'_>,
    def: &StructDef,
    value: impl Fn(&str) -> Option<Value<'v>>,
) -> Result<(), Overflow> {
    put_struct_with(out, def, false, value)
}

/// [`put_struct`], with the sensitive fields (the shared secret) too when `sensitive`: what
/// `*_to_skb(skb, s, exclude_sensitive)` sends to a caller with CAP_SYS_ADMIN.
pub(crate) fn put_struct_with<'v>(
    out: &mut NlaWriter<'_>,
    def: &StructDef,
    sensitive: bool,
    value: impl Fn(&str) -> Option<Value<'v>>,
) -> Result<(), Overflow> {
    out.nest(def.tla | NLA_F_NESTED, |w| {
        for f in def
            .fields
            .iter()
            .filter(|f| sensitive || f.flags & F_SENSITIVE == 0)
        {
            match (f.ty, value(f.name)) {
                (FieldType::U32, v) => {
                    let n = if let Some(Value::U32(n)) = v { n } else { 0 };
                    w.put(f.nr, &n.to_ne_bytes())?
                }
                (FieldType::S32, v) => {
                    let n = if let Some(Value::S32(n)) = v { n } else { 0 };
                    w.put(f.nr, &n.to_ne_bytes())?
                }
                (FieldType::U64, v) => {
                    let n = if let Some(Value::U64(n)) = v { n } else { 0 };
                    w.put(f.nr, &n.to_ne_bytes())?
                }
                (FieldType::Flag, v) => w.put(f.nr, &[u8::from(v == Some(Value::Flag(true)))])?,
                (FieldType::Str { .. }, Some(Value::Str(s))) => w.put_bytes_nul(f.nr, s)?,
                (FieldType::Str { .. }, _) => w.put_bytes_nul(f.nr, b"")?,
                (FieldType::Bin { .. }, Some(Value::Bin(b))) => w.put(f.nr, b)?,
                (FieldType::Bin { .. }, _) => w.put(f.nr, &[])?,
            }
        }
        Ok(())
    })
}

impl ResOpts {
    /// Writes them as `res_opts_to_skb` does.
    pub(crate) fn put(&self, out: &mut NlaWriter<'_>) -> Result<(), Overflow> {
        put_struct(out, &RESOURCE_OPTS, |name| match name {
            "cpu_mask" => Some(Value::Str(&self.cpu_mask[..usize::from(self.cpu_mask_len)])),
            "on_no_data" => Some(Value::U32(self.on_no_data)),
            _ => None,
        })
    }
}

/// `enum write_ordering_e`: how the resource orders writes across an epoch, the strongest
/// method every attached disk's options allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum WriteOrdering {
    None = 0,
    DrainIo = 1,
    BdevFlush = 2,
}

impl WriteOrdering {
    /// max_allowed_wo(): flushes need `disk-flushes`, draining needs `disk-drain`.
    pub(crate) fn allowed(self, disk_flushes: bool, disk_drain: bool) -> Self {
        let mut wo = self;
        if wo == WriteOrdering::BdevFlush && !disk_flushes {
            wo = WriteOrdering::DrainIo;
        }
        if wo == WriteOrdering::DrainIo && !disk_drain {
            wo = WriteOrdering::None;
        }
        wo
    }

    /// The `wo:` character of `/proc/drbd`.
    pub(crate) fn proc_char(self) -> char {
        match self {
            WriteOrdering::None => 'n',
            WriteOrdering::DrainIo => 'd',
            WriteOrdering::BdevFlush => 'f',
        }
    }

    /// write_ordering_str[], as the C module logs it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            WriteOrdering::None => "none",
            WriteOrdering::DrainIo => "drain",
            WriteOrdering::BdevFlush => "flush",
        }
    }
}

/// What `drbd_adm_dump_resources` reports of a resource beside its options: `resource_info`
/// (role, no suspension) and `resource_statistics`.
pub(crate) fn put_resource_status(
    out: &mut NlaWriter<'_>,
    role: Role,
    write_ordering: WriteOrdering,
) -> Result<(), Overflow> {
    put_struct(out, &RESOURCE_INFO, |name| {
        (name == "res_role").then_some(Value::U32(role as u32))
    })?;
    put_struct(out, &RESOURCE_STATISTICS, |_| {
        Some(Value::U32(write_ordering as u32))
    })
}

/// The I/O counters `device_statistics` reports (device_to_statistics()).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct DevCounters {
    /// Sectors read and written through the device.
    pub(crate) read: u64,
    pub(crate) write: u64,
    /// Activity log transactions written.
    pub(crate) al_writes: u64,
    /// Requests in the device, and at the backing disk.
    pub(crate) upper_pending: u32,
    pub(crate) lower_pending: u32,
    pub(crate) al_suspended: bool,
}

/// What `drbd_adm_dump_devices` reports of a device beside its context and disk
/// configuration: `device_info` (its disk state) and `device_statistics`: its size, its
/// counters and, with a disk (`uuids_flags`: UUIDs and superblock flags), its current and
/// history UUIDs and flags. (Bitmap writes stay 0, as C counts none either.)
pub(crate) fn put_device_status(
    out: &mut NlaWriter<'_>,
    disk: DiskState,
    size_sectors: u64,
    uuids_flags: Option<([u64; 4], u32)>,
    c: DevCounters,
) -> Result<(), Overflow> {
    put_struct(out, &DEVICE_INFO, |_| Some(Value::U32(disk as u32)))?;
    // HISTORY_UUIDS (32) entries; 8.4 has two history UUIDs, the rest are zero.
    let mut history = [0u8; 32 * 8];
    if let Some((uuids, _)) = uuids_flags {
        for (i, u) in uuids[2..].iter().enumerate() {
            history[i * 8..i * 8 + 8].copy_from_slice(&u.to_ne_bytes());
        }
    }
    put_struct(out, &DEVICE_STATISTICS, |name| match (name, uuids_flags) {
        ("dev_size", _) => Some(Value::U64(size_sectors)),
        ("dev_read", _) => Some(Value::U64(c.read)),
        ("dev_write", _) => Some(Value::U64(c.write)),
        ("dev_al_writes", _) => Some(Value::U64(c.al_writes)),
        ("dev_upper_pending", _) => Some(Value::U32(c.upper_pending)),
        ("dev_lower_pending", _) => Some(Value::U32(c.lower_pending)),
        ("dev_al_suspended", _) => Some(Value::Flag(c.al_suspended)),
        ("dev_current_uuid", Some((u, _))) => Some(Value::U64(u[0])),
        ("dev_disk_flags", Some((_, f))) => Some(Value::U32(f)),
        ("history_uuids", Some(_)) => Some(Value::Bin(&history)),
        _ => None,
    })
}

/// The volume in a decoded `CFG_CONTEXT`.
pub(crate) fn context_volume(ctx: &Fields<'_>) -> Option<u32> {
    match ctx.get("ctx_volume") {
        Some(Value::U32(v)) => Some(v),
        _ => None,
    }
}

/// The type a field is sent with by `nla_put_*(skb, T_name, ...)`: its number, with the
/// mandatory bit where the schema has it.
fn tag(def: &StructDef, name: &str) -> u16 {
    match def.fields.iter().find(|f| f.name == name) {
        Some(f) if f.mandatory => f.nr | GENLA_F_MANDATORY,
        Some(f) => f.nr,
        None => 0,
    }
}

/// What a status reports of an attached disk.
pub(crate) struct DiskStatus {
    /// Current, bitmap and two history UUIDs.
    pub(crate) uuids: [u64; 4],
    /// The superblock flags (`MDF_*`).
    pub(crate) flags: u32,
    pub(crate) bits_total: u64,
    pub(crate) bits_oos: u64,
}

/// `sib_reason` of a status reply and of a state change event (`enum
/// drbd_state_info_bcast_reason`).
pub(crate) const SIB_GET_STATUS_REPLY: u32 = 1;
pub(crate) const SIB_STATE_CHANGE: u32 = 2;
pub(crate) const SIB_HELPER_PRE: u32 = 3;
pub(crate) const SIB_HELPER_POST: u32 = 4;

/// What `DRBD_NLA_STATE_INFO` reports (nla_put_status_info()).
pub(crate) struct StateInfo<'a> {
    /// `SIB_*`.
    pub(crate) reason: u32,
    /// The state word (`union drbd_state`).
    pub(crate) state: u32,
    /// Sectors.
    pub(crate) capacity: u64,
    /// Sectors read and written, activity log transactions.
    pub(crate) read_cnt: u64,
    pub(crate) writ_cnt: u64,
    pub(crate) al_writ_cnt: u64,
    pub(crate) disk: Option<&'a DiskStatus>,
    /// For a state change: the state words before and after.
    pub(crate) change: Option<(u32, u32)>,
    /// For a helper call: its name, and after it its wait status.
    pub(crate) helper: Option<(&'a str, Option<u32>)>,
}

/// What nla_put_status_info() reports of a device: why, its state word, its size, counters
/// (network ones zero while there is no peer), with a disk its UUIDs, flags and bitmap totals,
/// and for a state change the states before and after.
pub(crate) fn put_state_info(out: &mut NlaWriter<'_>, si: &StateInfo<'_>) -> Result<(), Overflow> {
    let def = &STATE_INFO;
    out.nest(def.tla, |w| {
        w.put(tag(def, "sib_reason"), &si.reason.to_ne_bytes())?;
        w.put(tag(def, "current_state"), &si.state.to_ne_bytes())?;
        w.put(tag(def, "ed_uuid"), &0u64.to_ne_bytes())?;
        w.put(tag(def, "capacity"), &si.capacity.to_ne_bytes())?;
        for (counter, value) in [
            ("send_cnt", 0),
            ("recv_cnt", 0),
            ("read_cnt", si.read_cnt),
            ("writ_cnt", si.writ_cnt),
            ("al_writ_cnt", si.al_writ_cnt),
            ("bm_writ_cnt", 0),
        ] {
            w.put(tag(def, counter), &value.to_ne_bytes())?;
        }
        for counter in ["ap_bio_cnt", "ap_pending_cnt", "rs_pending_cnt"] {
            w.put(tag(def, counter), &0u32.to_ne_bytes())?;
        }
        if let Some(d) = si.disk {
            let mut uuids = [0u8; 32];
            for (i, u) in d.uuids.iter().enumerate() {
                uuids[i * 8..i * 8 + 8].copy_from_slice(&u.to_ne_bytes());
            }
            w.put(tag(def, "uuids"), &uuids)?;
            w.put(tag(def, "disk_flags"), &d.flags.to_ne_bytes())?;
            w.put(tag(def, "bits_total"), &d.bits_total.to_ne_bytes())?;
            w.put(tag(def, "bits_oos"), &d.bits_oos.to_ne_bytes())?;
        }
        if let Some((prev, new)) = si.change {
            w.put(tag(def, "prev_state"), &prev.to_ne_bytes())?;
            w.put(tag(def, "new_state"), &new.to_ne_bytes())?;
        }
        if let Some((name, status)) = si.helper {
            if let Some(status) = status {
                w.put(tag(def, "helper_exit_code"), &status.to_ne_bytes())?;
            }
            w.put_str(tag(def, "helper"), name)?;
        }
        Ok(())
    })
}

/// What check_net_options() looks at besides the new net configuration: whether a volume is
/// Primary here and on the peer, and per volume whether it is Primary and fences with
/// `resource-and-stonith`.
pub(crate) struct NetContext<'a> {
    pub(crate) primary: bool,
    pub(crate) peer_primary: bool,
    pub(crate) volumes: &'a [(bool, bool)],
}

/// check_net_options() of `connect` and `net-options`: two Primaries need
/// `allow-two-primaries`, which needs protocol C; `resource-and-stonith` needs more than
/// protocol A; a Primary cannot `discard-my-data`; `on-congestion` other than `block` needs
/// protocol A. The first refusal in C's order.
pub(crate) fn check_net_options(conf: &Conf, ctx: &NetContext<'_>) -> Result<(), RetCode> {
    let num = |n: &str| conf.num(n);
    let two_primaries = num("two_primaries") != 0;
    let protocol = num("wire_protocol");
    if !two_primaries && ctx.primary && ctx.peer_primary {
        return Err(RetCode::NeedAllowTwoPri);
    }
    if two_primaries && protocol != i64::from(crate::wire::packet::DRBD_PROT_C) {
        return Err(RetCode::NotProtoC);
    }
    for &(primary, stonith) in ctx.volumes {
        if protocol == i64::from(crate::wire::packet::DRBD_PROT_A) && stonith {
            return Err(RetCode::StonithAndProtA);
        }
        if primary && num("discard_my_data") != 0 {
            return Err(RetCode::DiscardImpossible);
        }
    }
    // OC_BLOCK
    if num("on_congestion") != 0 && protocol != i64::from(crate::wire::packet::DRBD_PROT_A) {
        return Err(RetCode::CongNotProtoA);
    }
    Ok(())
}

/// The net options the peers agree on in P_PROTOCOL, which a change while connected sends the
/// peer in P_PROTOCOL_UPDATE (protocol 100 and later).
const AGREED_OPTIONS: [&str; 5] = [
    "wire_protocol",
    "after_sb_0p",
    "after_sb_1p",
    "after_sb_2p",
    "two_primaries",
];

/// The net options drbd-rs cannot change while connected yet: C sends the data integrity
/// algorithm in P_PROTOCOL_UPDATE (switching digests between two packets) and the verify and
/// checksum algorithms in P_SYNC_PARAM89.
const ALGORITHMS: [&str; 3] = ["integrity_alg", "verify_alg", "csums_alg"];

/// Why `net-options` cannot make a change while connected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ConnectedChange {
    /// An algorithm (see [`ALGORITHMS`]), named.
    NotImplemented(&'static str),
    /// An agreed option with a peer older than protocol 100 (ERR_NEED_APV_100; C refuses only
    /// in WFReportParams, and otherwise leaves the peers disagreeing).
    NeedApv100,
}

/// drbd_adm_net_opts() while connected at protocol `apv`, `changed` telling which options the
/// request changes: `Ok(true)` when the peer is to learn of an agreed option
/// (P_PROTOCOL_UPDATE); the other options take effect at once or at the next connect.
pub(crate) fn change_while_connected(
    changed: impl Fn(&str) -> bool,
    apv: u32,
) -> Result<bool, ConnectedChange> {
    if let Some(alg) = ALGORITHMS.iter().find(|n| changed(n)) {
        return Err(ConnectedChange::NotImplemented(alg));
    }
    let agreed = AGREED_OPTIONS.iter().any(|n| changed(n));
    if agreed && apv < 100 {
        return Err(ConnectedChange::NeedApv100);
    }
    Ok(agreed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    #[test]
    fn agreed_options_change_from_protocol_100_on() {
        let only = |name: &'static str| move |n: &str| n == name;
        assert_eq!(change_while_connected(only("wire_protocol"), 101), Ok(true));
        assert_eq!(change_while_connected(only("two_primaries"), 100), Ok(true));
        assert_eq!(
            change_while_connected(only("after_sb_1p"), 96),
            Err(ConnectedChange::NeedApv100)
        );
        // taken at the next connect, or at once (timeouts): nothing to tell the peer
        for n in [
            "rr_conflict",
            "discard_my_data",
            "ping_int",
            "shared_secret",
        ] {
            assert_eq!(change_while_connected(only(n), 86), Ok(false), "{n}");
        }
        assert_eq!(
            change_while_connected(|n| n == "wire_protocol" || n == "verify_alg", 101),
            Err(ConnectedChange::NotImplemented("verify_alg"))
        );
    }

    fn attr(ty: u16, payload: &[u8]) -> Vec<u8> {
        let mut buf = [0u8; 256];
        let mut w = NlaWriter::new(&mut buf);
        w.put(ty, payload).unwrap();
        w.as_bytes().to_vec()
    }

    #[test]
    fn values_are_clamped_to_the_limits() {
        assert_eq!(clamp_to_limits("c_max_rate", 0), 250);
        assert_eq!(clamp_to_limits("c_plan_ahead", 1 << 30), 300);
        assert_eq!(clamp_to_limits("resync_rate", 1000), 1000);
        assert_eq!(clamp_to_limits("no_such_field", -7), -7);
    }

    #[test]
    fn write_ordering_as_max_allowed_wo() {
        use WriteOrdering::*;
        assert_eq!(BdevFlush.allowed(true, true), BdevFlush);
        assert_eq!(BdevFlush.allowed(false, true), DrainIo);
        assert_eq!(BdevFlush.allowed(false, false), None);
        assert_eq!(BdevFlush.allowed(true, false), BdevFlush);
        assert_eq!(DrainIo.allowed(true, true), DrainIo);
        assert_eq!(
            [None, DrainIo, BdevFlush].map(WriteOrdering::proc_char),
            ['n', 'd', 'f']
        );
    }

    #[test]
    fn helper_calls_carry_the_name_and_the_status() {
        // drbd_khelper()'s SIB_HELPER_POST (SIB_HELPER_PRE has no status)
        let mut buf = [0u8; 512];
        let mut w = NlaWriter::new(&mut buf);
        let post = StateInfo {
            reason: SIB_HELPER_POST,
            helper: Some(("fence-peer", Some(0x400))),
            state: 0,
            capacity: 0,
            read_cnt: 0,
            writ_cnt: 0,
            al_writ_cnt: 0,
            disk: None,
            change: None,
        };
        put_state_info(&mut w, &post).unwrap();
        let top = crate::genl::nla::TopLevel::parse(w.as_bytes()).unwrap();
        let si = Fields::parse(&STATE_INFO, top.get(8).unwrap().payload).unwrap();
        assert_eq!(si.get("sib_reason"), Some(Value::U32(SIB_HELPER_POST)));
        assert_eq!(si.get("helper"), Some(Value::Str(b"fence-peer")));
        assert_eq!(si.get("helper_exit_code"), Some(Value::U32(0x400)));
    }

    #[test]
    fn resource_dump_decodes_with_the_schema() {
        let mut buf = [0u8; 512];
        let mut w = NlaWriter::new(&mut buf);
        ResOpts::defaults().put(&mut w).unwrap();
        put_resource_status(&mut w, Role::Secondary, WriteOrdering::BdevFlush).unwrap();
        let si = StateInfo {
            reason: SIB_STATE_CHANGE,
            helper: None,
            state: 0x1234,
            capacity: 77,
            read_cnt: 8,
            writ_cnt: 16,
            al_writ_cnt: 3,
            disk: None,
            change: Some((0x1000, 0x1234)),
        };
        put_state_info(&mut w, &si).unwrap();
        let top = crate::genl::nla::TopLevel::parse(w.as_bytes()).unwrap();
        let opts = Fields::parse(&RESOURCE_OPTS, top.get(4).unwrap().payload).unwrap();
        assert_eq!(opts.get("cpu_mask"), Some(Value::Str(b"")));
        assert_eq!(opts.get("on_no_data"), Some(Value::U32(0)));
        let info = Fields::parse(&RESOURCE_INFO, top.get(15).unwrap().payload).unwrap();
        assert_eq!(info.get("res_role"), Some(Value::U32(2)));
        assert_eq!(info.get("res_susp"), Some(Value::Flag(false)));
        let stats = Fields::parse(&RESOURCE_STATISTICS, top.get(19).unwrap().payload).unwrap();
        assert_eq!(stats.get("res_stat_write_ordering"), Some(Value::U32(2)));
        let si = Fields::parse(&STATE_INFO, top.get(8).unwrap().payload).unwrap();
        assert_eq!(si.get("current_state"), Some(Value::U32(0x1234)));
        assert_eq!(si.get("capacity"), Some(Value::U64(77)));
        assert_eq!(si.get("rs_pending_cnt"), Some(Value::U32(0)));
        assert_eq!(si.get("sib_reason"), Some(Value::U32(2)));
        assert_eq!(si.get("writ_cnt"), Some(Value::U64(16)));
        assert_eq!(si.get("helper"), None);
        assert_eq!(si.get("prev_state"), Some(Value::U32(0x1000)));
        assert_eq!(si.get("new_state"), Some(Value::U32(0x1234)));
        assert_eq!(tag(&STATE_INFO, "sib_reason"), 1 | GENLA_F_MANDATORY);
        assert_eq!(tag(&STATE_INFO, "current_state"), 2);
        let mut buf = [0u8; 512];
        let mut w = NlaWriter::new(&mut buf);
        let c = DevCounters {
            read: 16,
            upper_pending: 3,
            al_suspended: true,
            ..DevCounters::default()
        };
        put_device_status(&mut w, DiskState::Diskless, 9, None, c).unwrap();
        let top = crate::genl::nla::TopLevel::parse(w.as_bytes()).unwrap();
        let info = Fields::parse(&DEVICE_INFO, top.get(16).unwrap().payload).unwrap();
        assert_eq!(info.get("dev_disk_state"), Some(Value::U32(0)));
        let st = Fields::parse(&DEVICE_STATISTICS, top.get(20).unwrap().payload).unwrap();
        assert_eq!(st.get("dev_size"), Some(Value::U64(9)));
        assert_eq!(st.get("dev_read"), Some(Value::U64(16)));
        assert_eq!(st.get("dev_upper_pending"), Some(Value::U32(3)));
        assert_eq!(st.get("dev_al_suspended"), Some(Value::Flag(true)));
        assert_eq!(st.get("dev_upper_blocked"), Some(Value::Flag(false)));
        assert_eq!(st.get("history_uuids"), Some(Value::Bin(&[])));
    }

    #[test]
    fn conf_defaults_updates_and_encoding() {
        use crate::genl::structs::DISK_CONF;
        let d = Conf::defaults(&DISK_CONF);
        assert_eq!(d.num("al_extents"), 1237);
        assert_eq!(d.num("resync_after"), -1);
        assert_eq!(d.value("backing_dev"), Some(Value::Str(b"")));
        let nest = [
            attr(1, b"/dev/vda\0"),
            attr(2, b"/dev/vdb\0"),
            attr(3, &(-1i32).to_ne_bytes()),
            attr(10 | GENLA_F_MANDATORY, &3001u32.to_ne_bytes()),
            attr(16 | GENLA_F_MANDATORY, &[0]),
        ]
        .concat();
        let mut u = d;
        u.update(&Fields::parse(&DISK_CONF, &nest).unwrap())
            .unwrap();
        assert_eq!(u.value("backing_dev"), Some(Value::Str(b"/dev/vda")));
        assert_eq!(u.value("meta_dev"), Some(Value::Str(b"/dev/vdb")));
        assert_eq!(u.value("meta_dev_idx"), Some(Value::S32(-1)));
        assert_eq!(u.num("al_extents"), 3001);
        assert_eq!(u.value("disk_barrier"), Some(Value::Flag(false)));
        let mut buf = [0u8; 1024];
        let mut w = NlaWriter::new(&mut buf);
        u.put(&mut w).unwrap();
        let top = crate::genl::nla::TopLevel::parse(w.as_bytes()).unwrap();
        let back = Fields::parse(&DISK_CONF, top.get(3).unwrap().payload).unwrap();
        assert_eq!(back.get("meta_dev"), Some(Value::Str(b"/dev/vdb")));
        assert_eq!(back.get("al_extents"), Some(Value::U32(3001)));
        assert_eq!(
            back.get("c_plan_ahead"),
            Some(Value::U32(d.num("c_plan_ahead") as u32))
        );
    }

    #[test]
    fn option_ranges_as_drbd_limits() {
        use crate::genl::structs::{DISK_CONF, NET_CONF};
        let net = Conf::defaults(&NET_CONF);
        assert_eq!(net.out_of_range(), None);
        assert_eq!(Conf::defaults(&DISK_CONF).out_of_range(), None);
        for (field, value, ok) in [
            ("ping_timeo", 0, false),
            ("ping_timeo", 300, true),
            ("ping_timeo", 301, false),
            ("ping_timeo", u32::MAX as i64, false),
            ("timeout", 600, true),
            ("ko_count", 0, true),
            ("ko_count", 201, false),
            ("max_buffers", 31, false),
            ("wire_protocol", 4, false),
            ("connect_int", 0, false),
        ] {
            let mut c = net;
            c.set_num(field, value);
            let r = c.out_of_range();
            assert_eq!(r.is_none(), ok, "{field} = {value}: {r:?}");
            if let Some(r) = r {
                assert_eq!((r.field, r.value), (field, value));
            }
        }
        let mut d = Conf::defaults(&DISK_CONF);
        d.set_num("c_max_rate", 249);
        assert_eq!(
            std::format!("{}", d.out_of_range().unwrap()),
            "c_max_rate 249 out of range [250, 4194304]"
        );
        // al-extents is clamped elsewhere, never refused
        let mut d = Conf::defaults(&DISK_CONF);
        d.set_num("al_extents", 1);
        assert_eq!(d.out_of_range(), None);
    }

    #[test]
    fn names_as_the_c_module_checks_them() {
        assert_eq!(check_name(None).err(), Some(BadName::Missing));
        assert_eq!(check_name(Some(b"")).err(), Some(BadName::Missing));
        assert_eq!(check_name(Some(b"a/b")).err(), Some(BadName::Invalid));
        assert_eq!(check_name(Some(&[b'x'; 128])).err(), Some(BadName::Invalid));
        let n = check_name(Some(b"r0")).unwrap();
        assert_eq!(n.as_bytes(), b"r0");
        assert_eq!(
            std::format!("{}", check_name(Some(b"a\x01")).unwrap()),
            "a\\x01"
        );
    }

    #[test]
    fn context_round_trip() {
        let name = check_name(Some(b"r0")).unwrap();
        let mut buf = [0u8; 64];
        let mut w = NlaWriter::new(&mut buf);
        put_context(&mut w, &name, Some(3), Some((&[2, 0, 1, 2], &[2, 0, 3, 4]))).unwrap();
        let top = crate::genl::nla::TopLevel::parse(w.as_bytes()).unwrap();
        let ctx = Fields::parse(&CFG_CONTEXT, top.get(2).unwrap().payload).unwrap();
        assert_eq!(context_name(&ctx), Some(&b"r0"[..]));
        assert_eq!(ctx.get("ctx_volume"), Some(Value::U32(3)));
        assert_eq!(
            context_addrs(&ctx),
            (Some(&[2u8, 0, 1, 2][..]), Some(&[2u8, 0, 3, 4][..]))
        );
    }

    #[test]
    fn res_opts_defaults_and_updates() {
        let d = ResOpts::defaults();
        assert_eq!(d.on_no_data, 0); // OND_IO_ERROR
        assert_eq!(d.cpu_mask_len, 0);
        let nest = [
            attr(1 | GENLA_F_MANDATORY, b"f,3\0"),
            attr(2, &1u32.to_ne_bytes()),
        ]
        .concat();
        let f = Fields::parse(&RESOURCE_OPTS, &nest).unwrap();
        let u = d.updated(&f).unwrap();
        assert_eq!(&u.cpu_mask[..usize::from(u.cpu_mask_len)], b"f,3");
        assert_eq!(u.on_no_data, 1);
        let bad = attr(1, b"zz\0");
        let f = Fields::parse(&RESOURCE_OPTS, &bad).unwrap();
        assert_eq!(
            d.updated(&f).err(),
            Some(ParseError::BadField { name: "cpu_mask" })
        );
    }

    #[test]
    fn net_options_checked_as_check_net_options() {
        use crate::genl::structs::NET_CONF;
        let conf = |pairs: &[(&str, i64)]| {
            let mut c = Conf::defaults(&NET_CONF);
            for (n, v) in pairs {
                c.set_num(n, *v);
            }
            c
        };
        let none = NetContext {
            primary: false,
            peer_primary: false,
            volumes: &[(false, false)],
        };
        assert_eq!(check_net_options(&conf(&[]), &none), Ok(()));
        let two = conf(&[("two_primaries", 1), ("wire_protocol", 1)]);
        assert_eq!(check_net_options(&two, &none), Err(RetCode::NotProtoC));
        let both = NetContext {
            primary: true,
            peer_primary: true,
            volumes: &[(true, false)],
        };
        assert_eq!(
            check_net_options(&conf(&[]), &both),
            Err(RetCode::NeedAllowTwoPri)
        );
        let stonith = NetContext {
            volumes: &[(false, true)],
            ..none
        };
        let a = conf(&[("wire_protocol", 1)]);
        assert_eq!(
            check_net_options(&a, &stonith),
            Err(RetCode::StonithAndProtA)
        );
        let primary = NetContext {
            primary: true,
            volumes: &[(true, false)],
            ..none
        };
        let discard = conf(&[("discard_my_data", 1)]);
        assert_eq!(
            check_net_options(&discard, &primary),
            Err(RetCode::DiscardImpossible)
        );
        let pull_ahead = conf(&[("on_congestion", 1)]);
        assert_eq!(
            check_net_options(&pull_ahead, &none),
            Err(RetCode::CongNotProtoA)
        );
        let pull_ahead_a = conf(&[("on_congestion", 1), ("wire_protocol", 1)]);
        assert_eq!(check_net_options(&pull_ahead_a, &none), Ok(()));
    }
}
