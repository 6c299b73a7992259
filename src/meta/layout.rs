// SPDX-License-Identifier: GPL-2.0
//! The v08 meta data superblock (`struct meta_data_on_disk`): where it lies, its encoding, and the
//! checks a superblock must pass before a disk is attached.
//!
//! C counterpart: drbd_md_ss(), drbd_md_first_sector() (drbd_int.h), drbd_md_read(),
//! check_activity_log_stripe_size() and check_offsets_and_sizes() (drbd_main.c). `drbdmeta
//! create-md` of drbd-utils writes what this reads. All sizes are in 512-byte sectors.

/// Size of the superblock, and the unit of meta data I/O.
pub(crate) const SUPERBLOCK_BYTES: usize = 4096;

const MD_4KB_SECT: u64 = 8;
const MD_32KB_SECT: u64 = 64;
/// An indexed external meta data slot: 128 MiB.
const MD_128MB_SECT: u64 = 128 << 11;
/// Bytes of data per bitmap bit (`BM_BLOCK_SIZE`).
pub(crate) const BM_BLOCK_SIZE: u32 = 4096;

/// `DRBD_MAGIC` + 3, + 4, + 5 (drbd.h).
pub(crate) const MAGIC_07: u32 = 0x8374_026a;
pub(crate) const MAGIC_08: u32 = 0x8374_026b;
pub(crate) const MAGIC_84_UNCLEAN: u32 = 0x8374_026c;

/// `MDF_*` superblock flags (drbd.h).
pub(crate) const MDF_CONSISTENT: u32 = 1 << 0;
pub(crate) const MDF_PRIMARY_IND: u32 = 1 << 1;
pub(crate) const MDF_CONNECTED_IND: u32 = 1 << 2;
pub(crate) const MDF_FULL_SYNC: u32 = 1 << 3;
pub(crate) const MDF_WAS_UP_TO_DATE: u32 = 1 << 4;
pub(crate) const MDF_PEER_OUT_DATED: u32 = 1 << 5;
pub(crate) const MDF_CRASHED_PRIMARY: u32 = 1 << 6;
/// The activity log was closed cleanly.
pub(crate) const MDF_AL_CLEAN: u32 = 1 << 7;
pub(crate) const MDF_AL_DISABLED: u32 = 1 << 8;

/// `enum drbd_uuid_index`: current, bitmap, two history UUIDs.
pub(crate) const UI_SIZE: usize = 4;

/// Where the meta data is (`meta_dev_idx` of the disk configuration).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MetaIndex {
    /// At the end of the backing device (-1), or the same with flexible size (-3).
    Internal,
    /// On its own device, from sector 0 (-2).
    FlexExternal,
    /// Slot `n` of 128 MiB on a meta data device (0, 1, ...).
    Indexed(u32),
}

impl MetaIndex {
    /// From `meta_dev_idx` (`DRBD_MD_INDEX_*`); `None` for a value drbd never uses.
    pub(crate) fn from_idx(idx: i32) -> Option<Self> {
        match idx {
            -1 | -3 => Some(MetaIndex::Internal),
            -2 => Some(MetaIndex::FlexExternal),
            n => u32::try_from(n).ok().map(MetaIndex::Indexed),
        }
    }

    /// The sector of the superblock on a meta data device of `capacity` sectors (drbd_md_ss).
    pub(crate) fn superblock_sector(self, capacity: u64) -> Option<u64> {
        match self {
            MetaIndex::FlexExternal => Some(0),
            MetaIndex::Internal => (capacity & !7).checked_sub(MD_4KB_SECT),
            MetaIndex::Indexed(n) => MD_128MB_SECT.checked_mul(u64::from(n)),
        }
    }
}

/// The superblock as stored (big-endian on disk).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Superblock {
    /// Last agreed size of the device.
    pub(crate) la_size_sect: u64,
    pub(crate) uuid: [u64; UI_SIZE],
    pub(crate) device_uuid: u64,
    pub(crate) flags: u32,
    pub(crate) magic: u32,
    pub(crate) md_size_sect: u32,
    /// Relative to the superblock.
    pub(crate) al_offset: i32,
    pub(crate) al_nr_extents: u32,
    /// Relative to the superblock.
    pub(crate) bm_offset: i32,
    pub(crate) bm_bytes_per_bit: u32,
    pub(crate) la_peer_max_bio_size: u32,
    pub(crate) al_stripes: u32,
    pub(crate) al_stripe_size_4k: u32,
}

fn be64(b: &[u8], at: usize) -> u64 {
    let mut w = [0; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(w)
}

fn be32(b: &[u8], at: usize) -> u32 {
    let mut w = [0; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_be_bytes(w)
}

impl Superblock {
    /// Decodes the first bytes of a superblock block; the rest is reserved.
    pub(crate) fn decode(b: &[u8; SUPERBLOCK_BYTES]) -> Self {
        let mut uuid = [0; UI_SIZE];
        for (i, u) in uuid.iter_mut().enumerate() {
            *u = be64(b, 8 + 8 * i);
        }
        Self {
            la_size_sect: be64(b, 0),
            uuid,
            device_uuid: be64(b, 40),
            // 48: reserved u64
            flags: be32(b, 56),
            magic: be32(b, 60),
            md_size_sect: be32(b, 64),
            al_offset: be32(b, 68) as i32,
            al_nr_extents: be32(b, 72),
            bm_offset: be32(b, 76) as i32,
            bm_bytes_per_bit: be32(b, 80),
            la_peer_max_bio_size: be32(b, 84),
            al_stripes: be32(b, 88),
            al_stripe_size_4k: be32(b, 92),
        }
    }

    /// Records where the meta data areas of `l` are.
    pub(crate) fn place(&mut self, l: &Layout) {
        self.md_size_sect = l.md_size_sect;
        self.al_offset = l.al_offset;
        self.bm_offset = l.bm_offset;
        self.al_stripes = l.al_stripes;
        self.al_stripe_size_4k = l.al_stripe_size_4k;
    }

    /// Encodes into a zeroed block, as drbd_md_write() does.
    pub(crate) fn encode(&self, b: &mut [u8; SUPERBLOCK_BYTES]) {
        b.fill(0);
        let mut put = |at: usize, bytes: &[u8]| b[at..at + bytes.len()].copy_from_slice(bytes);
        put(0, &self.la_size_sect.to_be_bytes());
        for (i, u) in self.uuid.iter().enumerate() {
            put(8 + 8 * i, &u.to_be_bytes());
        }
        put(40, &self.device_uuid.to_be_bytes());
        put(56, &self.flags.to_be_bytes());
        put(60, &self.magic.to_be_bytes());
        put(64, &self.md_size_sect.to_be_bytes());
        put(68, &self.al_offset.to_be_bytes());
        put(72, &self.al_nr_extents.to_be_bytes());
        put(76, &self.bm_offset.to_be_bytes());
        put(80, &self.bm_bytes_per_bit.to_be_bytes());
        put(84, &self.la_peer_max_bio_size.to_be_bytes());
        put(88, &self.al_stripes.to_be_bytes());
        put(92, &self.al_stripe_size_4k.to_be_bytes());
    }
}

/// The meta data areas of an attached disk, checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    pub(crate) index: MetaIndex,
    /// Sector of the superblock on the meta data device.
    pub(crate) md_offset: u64,
    pub(crate) md_size_sect: u32,
    pub(crate) al_offset: i32,
    pub(crate) bm_offset: i32,
    pub(crate) al_stripes: u32,
    pub(crate) al_stripe_size_4k: u32,
    /// Activity log size in 4 KiB transaction slots.
    pub(crate) al_size_4k: u64,
}

impl Layout {
    /// The first sector of the activity log ring.
    pub(crate) fn al_start(&self) -> u64 {
        self.md_offset
            .saturating_add_signed(i64::from(self.al_offset))
    }

    /// The first sector of meta data on its device (drbd_md_first_sector()): for internal meta
    /// data, where the bitmap begins, which ends the data area.
    pub(crate) fn first_sector(&self) -> u64 {
        match self.index {
            MetaIndex::Internal => self
                .md_offset
                .saturating_add_signed(i64::from(self.bm_offset)),
            _ => self.md_offset,
        }
    }
}

/// Largest device flexible meta data supports (`DRBD_MAX_SECTORS_FLEX` on 64-bit).
const MAX_SECTORS_FLEX: u64 = 1 << 51;
/// Largest device the fixed 128 MiB layout supports (`DRBD_MAX_SECTORS`): its bitmap sectors,
/// each covering 16 MiB.
const MAX_SECTORS_FIXED: u64 = (MD_128MB_SECT - MD_32KB_SECT - MD_4KB_SECT) << 15;

impl Layout {
    /// The most data the backing device of `backing_capacity` sectors can hold with this meta
    /// data (drbd_get_max_capacity()).
    pub(crate) fn max_capacity(&self, backing_capacity: u64) -> u64 {
        match self.index {
            MetaIndex::Internal if backing_capacity == 0 => 0,
            MetaIndex::Internal => self.first_sector().min(MAX_SECTORS_FLEX),
            MetaIndex::FlexExternal => {
                // one bitmap sector covers 16 MiB, 32768 sectors
                let bm_sect = i64::from(self.md_size_sect) - i64::from(self.bm_offset);
                let bm_cover = u64::try_from(bm_sect).unwrap_or(0) << 15;
                backing_capacity.min(MAX_SECTORS_FLEX).min(bm_cover)
            }
            MetaIndex::Indexed(_) => backing_capacity.min(MAX_SECTORS_FIXED),
        }
    }

    /// Where internal meta data belongs on a backing device that is now `backing_capacity`
    /// sectors (drbd_md_set_sector_offsets()): the superblock in the last 4 KiB block, the
    /// activity log before it, and before that a bitmap for the whole device, whole sectors of
    /// 4096 bits, 4 KiB aligned. `None` where the meta data stays: external meta data, a backing
    /// device too small, and a relocation that would leave less room for data than now (a backing
    /// device that shrank under us: moving the meta data would overwrite data).
    pub(crate) fn relocated(&self, backing_capacity: u64) -> Option<Layout> {
        if self.index != MetaIndex::Internal {
            return None;
        }
        let al_sect = self.al_size_4k.checked_mul(MD_4KB_SECT)?;
        // one bitmap sector per 16 MiB of backing device, rounded up to whole 4 KiB
        let bm_sect = backing_capacity
            .div_ceil(1 << 15)
            .next_multiple_of(MD_4KB_SECT);
        let md_size = bm_sect.checked_add(MD_4KB_SECT + al_sect)?;
        let md_size_sect = u32::try_from(md_size).ok()?;
        let placed = Layout {
            md_offset: self.index.superblock_sector(backing_capacity)?,
            md_size_sect,
            al_offset: -i32::try_from(al_sect).ok()?,
            bm_offset: -i32::try_from(md_size - MD_4KB_SECT).ok()?,
            ..*self
        };
        (placed.first_sector() > self.first_sector()).then_some(placed)
    }

    /// The smallest meta data device this kind of meta data needs: 1 MiB for flexible ones,
    /// all slots up to this one for indexed ones.
    pub(crate) fn min_md_device(index: MetaIndex) -> u64 {
        match index {
            MetaIndex::Indexed(n) => MD_128MB_SECT * (u64::from(n) + 1),
            _ => 2 << 10,
        }
    }
}

/// Why a superblock is refused. Each carries the C module's log line; [`MdError::unclean`]
/// tells which `drbd_ret_code` answers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MdError {
    /// The activity log was not cleanly closed (ERR_MD_UNCLEAN).
    Unclean,
    /// 0.7 meta data (ERR_MD_INVALID, as the rest).
    Magic07,
    NoMagic,
    BytesPerBit(u32),
    AlStriping {
        stripes: u32,
        stripe_size_4k: u32,
    },
    Offsets,
    /// The superblock does not fit the meta data device at all.
    DeviceTooSmall,
}

impl MdError {
    /// Answered with ERR_MD_UNCLEAN rather than ERR_MD_INVALID.
    pub(crate) fn unclean(self) -> bool {
        self == MdError::Unclean
    }
}

impl core::fmt::Display for MdError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            MdError::Unclean => {
                f.write_str("Found unclean meta data. Did you \"drbdadm apply-al\"?")
            }
            MdError::Magic07 => {
                f.write_str("Found old (0.7) meta data magic. Did you \"drbdadm create-md\"?")
            }
            MdError::NoMagic => {
                f.write_str("Meta data magic not found. Did you \"drbdadm create-md\"?")
            }
            MdError::BytesPerBit(b) => write!(
                f,
                "unexpected bm_bytes_per_bit: {b} (expected {BM_BLOCK_SIZE})"
            ),
            MdError::AlStriping {
                stripes,
                stripe_size_4k,
            } => write!(
                f,
                "invalid activity log striping: al_stripes={stripes}, \
                 al_stripe_size_4k={stripe_size_4k}"
            ),
            MdError::Offsets => f.write_str("meta data offsets don't make sense"),
            MdError::DeviceTooSmall => f.write_str("meta data device too small"),
        }
    }
}

/// Checks a superblock read from `index` on a meta data device of `md_capacity` sectors, as
/// drbd_md_read() does, and returns where the meta data areas are.
pub(crate) fn check(
    sb: &Superblock,
    index: MetaIndex,
    md_capacity: u64,
) -> Result<Layout, MdError> {
    if sb.magic == MAGIC_84_UNCLEAN || (sb.magic == MAGIC_08 && sb.flags & MDF_AL_CLEAN == 0) {
        return Err(MdError::Unclean);
    }
    match sb.magic {
        MAGIC_08 => {}
        MAGIC_07 => return Err(MdError::Magic07),
        _ => return Err(MdError::NoMagic),
    }
    if sb.bm_bytes_per_bit != BM_BLOCK_SIZE {
        return Err(MdError::BytesPerBit(sb.bm_bytes_per_bit));
    }

    // check_activity_log_stripe_size(): both unset means the old fixed 32 KiB log.
    let (stripes, stripe_size_4k) = match (sb.al_stripes, sb.al_stripe_size_4k) {
        (0, 0) => (1, (MD_32KB_SECT / 8) as u32),
        s => s,
    };
    let al_size_4k = u64::from(stripes) * u64::from(stripe_size_4k);
    // at least the 8 slots of 32 KiB; at most 16 GiB, against overflows later on
    if stripes == 0 || stripe_size_4k == 0 || !(MD_32KB_SECT / 8..=4 << 20).contains(&al_size_4k) {
        return Err(MdError::AlStriping {
            stripes: sb.al_stripes,
            stripe_size_4k: sb.al_stripe_size_4k,
        });
    }

    let md_offset = index
        .superblock_sector(md_capacity)
        .ok_or(MdError::DeviceTooSmall)?;
    let layout = Layout {
        index,
        md_offset,
        md_size_sect: sb.md_size_sect,
        al_offset: sb.al_offset,
        bm_offset: sb.bm_offset,
        al_stripes: stripes,
        al_stripe_size_4k: stripe_size_4k,
        al_size_4k,
    };
    check_offsets_and_sizes(&layout, sb.la_size_sect, md_capacity)?;
    Ok(layout)
}

/// check_offsets_and_sizes(): the areas must lie where the superblock says, fit the device and
/// the activity log striping, and the bitmap must cover the last agreed size.
fn check_offsets_and_sizes(l: &Layout, la_size_sect: u64, md_capacity: u64) -> Result<(), MdError> {
    let al = i64::from(l.al_offset);
    let bm = i64::from(l.bm_offset);
    let md_size = i64::from(l.md_size_sect);
    let (al_sect, bm_sect) = if al < 0 {
        // internal: [bitmap][activity log][superblock], offsets negative
        if bm > al {
            return Err(MdError::Offsets);
        }
        (-al, al - bm)
    } else {
        // external: [superblock][activity log][bitmap]
        let al_end = i64::try_from(l.al_size_4k * MD_4KB_SECT).map_err(|_| MdError::Offsets)?;
        if al != MD_4KB_SECT as i64 || bm < al + al_end {
            return Err(MdError::Offsets);
        }
        (bm - MD_4KB_SECT as i64, md_size - bm)
    };
    // the old fixed-size layout is exactly that
    if let MetaIndex::Indexed(_) = l.index {
        if u64::from(l.md_size_sect) != MD_128MB_SECT
            || al != MD_4KB_SECT as i64
            || bm != (MD_4KB_SECT + MD_32KB_SECT) as i64
            || l.al_stripes != 1
            || u64::from(l.al_stripe_size_4k) != MD_32KB_SECT / 8
        {
            return Err(MdError::Offsets);
        }
    }
    let md_size = u64::from(l.md_size_sect);
    if md_capacity < md_size || md_capacity - md_size < l.first_sector() {
        return Err(MdError::Offsets);
    }
    // aligned, at least 32 KiB, and exactly what the striping says
    if al_sect & 7 != 0
        || al_sect < MD_32KB_SECT as i64
        || al_sect as u64 != l.al_size_4k * MD_4KB_SECT
    {
        return Err(MdError::Offsets);
    }
    if bm & 7 != 0 {
        return Err(MdError::Offsets);
    }
    // one bitmap sector (4096 bits of 4 KiB) covers 32768 data sectors
    if bm_sect < 0 || (bm_sect as u64) < la_size_sect.saturating_add(7) / MD_4KB_SECT / 8 / 512 {
        return Err(MdError::Offsets);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `drbdmeta --force 0 v08 <64 MiB file> internal create-md` (drbd-utils 9.22) wrote,
    /// read back from the file: md_size_sect 80, al_offset -64, bm_offset -72, 257 AL extents,
    /// one stripe of 8 slots, current UUID 4 (just created), flags MDF_AL_CLEAN.
    fn created_64m() -> Superblock {
        Superblock {
            la_size_sect: 0,
            uuid: [4, 0, 0, 0],
            device_uuid: 0,
            flags: MDF_AL_CLEAN,
            magic: MAGIC_08,
            md_size_sect: 80,
            al_offset: -64,
            al_nr_extents: 257,
            bm_offset: -72,
            bm_bytes_per_bit: 4096,
            la_peer_max_bio_size: 0,
            al_stripes: 1,
            al_stripe_size_4k: 8,
        }
    }

    const SECTORS_64M: u64 = 64 << 11;

    /// The same, as flexible external meta data: [sb][AL 32 KiB][bitmap], 8 + 64 + 8 sectors.
    fn created_flex() -> Superblock {
        Superblock {
            al_offset: 8,
            bm_offset: 72,
            md_size_sect: 80,
            ..created_64m()
        }
    }

    #[test]
    fn encode_decode_round_trip_at_c_offsets() {
        let sb = created_64m();
        let mut b = [0xffu8; SUPERBLOCK_BYTES];
        sb.encode(&mut b);
        assert_eq!(Superblock::decode(&b), sb);
        assert_eq!(&b[60..64], &[0x83, 0x74, 0x02, 0x6b]); // magic, big-endian
        assert_eq!(&b[68..72], &(-64i32).to_be_bytes()); // al_offset
        assert!(b[96..].iter().all(|&x| x == 0));
    }

    #[test]
    fn internal_layout_of_drbdmeta_create_md() {
        let l = check(&created_64m(), MetaIndex::Internal, SECTORS_64M).unwrap();
        // dump-md: md_offset 67104768 bytes, bm_offset 67067904 bytes
        assert_eq!(l.md_offset * 512, 67_104_768);
        assert_eq!(l.first_sector() * 512, 67_067_904);
        assert_eq!(l.al_size_4k, 8);
    }

    #[test]
    fn capacities() {
        let l = check(&created_64m(), MetaIndex::Internal, SECTORS_64M).unwrap();
        // data ends where the bitmap begins
        assert_eq!(l.max_capacity(SECTORS_64M), 67_067_904 / 512);
        assert_eq!(l.max_capacity(0), 0);
        assert_eq!(Layout::min_md_device(MetaIndex::Internal), 2048);
        assert_eq!(
            Layout::min_md_device(MetaIndex::Indexed(1)),
            2 * (128 << 11)
        );
        let flex = created_flex();
        let l = check(&flex, MetaIndex::FlexExternal, 1 << 11).unwrap();
        // 8 bitmap sectors cover 8 * 16 MiB
        assert_eq!(l.max_capacity(1 << 30), 8 << 15);
    }

    #[test]
    fn internal_meta_data_moves_to_the_end_of_a_grown_device() {
        let l = check(&created_64m(), MetaIndex::Internal, SECTORS_64M).unwrap();
        // where it is, it stays
        assert_eq!(l.relocated(SECTORS_64M), None);
        // 128 MiB: the same 8 bitmap sectors, 40 KiB below the new end
        let l128 = l.relocated(2 * SECTORS_64M).unwrap();
        assert_eq!(
            (l128.md_offset, l128.md_size_sect),
            (2 * SECTORS_64M - 8, 80)
        );
        assert_eq!((l128.al_offset, l128.bm_offset), (-64, -72));
        assert_eq!(l128.max_capacity(2 * SECTORS_64M), 2 * SECTORS_64M - 80);
        // what check() makes of the superblock written there
        let mut sb = Superblock {
            la_size_sect: l128.max_capacity(2 * SECTORS_64M),
            ..created_64m()
        };
        sb.place(&l128);
        assert_eq!(check(&sb, MetaIndex::Internal, 2 * SECTORS_64M), Ok(l128));
        // 1 GiB and 4 KiB more (an odd end): 65 bitmap sectors, 72 with alignment
        let cap = (1 << 21) + 9;
        let big = l.relocated(cap).unwrap();
        assert_eq!(
            (big.md_offset, big.md_size_sect),
            ((1 << 21) + 8 - 8, 72 + 8 + 64)
        );
        assert_eq!(big.first_sector(), (1 << 21) - 72 - 64);
        // 4 KiB more, but a bitmap 4 KiB bigger: no gain, no move; a shrunk device: no move
        assert_eq!(l128.relocated(2 * SECTORS_64M + 8), None);
        assert!(l128.relocated(2 * SECTORS_64M + 16).is_some());
        assert_eq!(l.relocated(SECTORS_64M / 2), None);
        assert_eq!(l.relocated(4), None);
        // external meta data stays where it is
        let f = check(&created_flex(), MetaIndex::FlexExternal, 1 << 11).unwrap();
        assert_eq!(f.relocated(1 << 30), None);
    }

    #[test]
    fn superblock_positions() {
        assert_eq!(MetaIndex::from_idx(-1), Some(MetaIndex::Internal));
        assert_eq!(MetaIndex::from_idx(-3), Some(MetaIndex::Internal));
        assert_eq!(MetaIndex::from_idx(-2), Some(MetaIndex::FlexExternal));
        assert_eq!(MetaIndex::from_idx(2), Some(MetaIndex::Indexed(2)));
        assert_eq!(MetaIndex::from_idx(-4), None);
        // last 4 KiB-aligned 4 KiB block
        assert_eq!(MetaIndex::Internal.superblock_sector(1003), Some(1000 - 8));
        assert_eq!(MetaIndex::Internal.superblock_sector(7), None);
        assert_eq!(
            MetaIndex::Indexed(3).superblock_sector(0),
            Some(3 * (128 << 11))
        );
    }

    #[test]
    fn refuses_what_the_c_module_refuses() {
        let ok = created_64m();
        let refuse = |sb: Superblock, want: MdError| {
            assert_eq!(check(&sb, MetaIndex::Internal, SECTORS_64M), Err(want));
        };
        refuse(
            Superblock {
                magic: MAGIC_84_UNCLEAN,
                ..ok
            },
            MdError::Unclean,
        );
        refuse(Superblock { flags: 0, ..ok }, MdError::Unclean);
        refuse(
            Superblock {
                magic: MAGIC_07,
                ..ok
            },
            MdError::Magic07,
        );
        refuse(Superblock { magic: 0, ..ok }, MdError::NoMagic);
        refuse(
            Superblock {
                bm_bytes_per_bit: 512,
                ..ok
            },
            MdError::BytesPerBit(512),
        );
        refuse(
            Superblock {
                al_stripes: 0,
                ..ok
            },
            MdError::AlStriping {
                stripes: 0,
                stripe_size_4k: 8,
            },
        );
        refuse(
            Superblock {
                al_stripe_size_4k: 4,
                ..ok
            },
            MdError::AlStriping {
                stripes: 1,
                stripe_size_4k: 4,
            },
        );
        refuse(
            Superblock {
                al_offset: -56,
                ..ok
            },
            MdError::Offsets,
        );
        refuse(
            Superblock {
                bm_offset: -60,
                ..ok
            },
            MdError::Offsets,
        );
        refuse(
            Superblock {
                bm_offset: -73,
                ..ok
            },
            MdError::Offsets,
        );
        // the bitmap (8 sectors = 32768 bits) cannot cover 1 GiB
        refuse(
            Superblock {
                la_size_sect: 2 << 20,
                ..ok
            },
            MdError::Offsets,
        );
        assert_eq!(
            check(&ok, MetaIndex::Internal, 4),
            Err(MdError::DeviceTooSmall)
        );
        assert_eq!(check(&ok, MetaIndex::Internal, 64), Err(MdError::Offsets));
        // unset striping means the old 32 KiB log
        let old = Superblock {
            al_stripes: 0,
            al_stripe_size_4k: 0,
            ..ok
        };
        assert!(check(&old, MetaIndex::Internal, SECTORS_64M).is_ok());
        assert!(MdError::Unclean.unclean() && !MdError::Offsets.unclean());
    }

    #[test]
    fn external_layouts() {
        let flex = created_flex();
        let l = check(&flex, MetaIndex::FlexExternal, 1 << 11).unwrap();
        assert_eq!((l.md_offset, l.first_sector()), (0, 0));
        // indexed: fixed 128 MiB slots
        let idx = Superblock {
            md_size_sect: 128 << 11,
            ..flex
        };
        assert!(check(&idx, MetaIndex::Indexed(1), 512 << 11).is_ok());
        assert_eq!(
            check(&flex, MetaIndex::Indexed(0), 512 << 11),
            Err(MdError::Offsets)
        );
        // the last slot fits exactly; one more does not
        assert!(check(&idx, MetaIndex::Indexed(3), 512 << 11).is_ok());
        assert_eq!(
            check(&idx, MetaIndex::Indexed(4), 512 << 11),
            Err(MdError::Offsets)
        );
    }

    #[test]
    fn error_texts_are_the_c_modules() {
        let s = std::format!("{}", MdError::Unclean);
        assert_eq!(s, "Found unclean meta data. Did you \"drbdadm apply-al\"?");
        let s = std::format!("{}", MdError::BytesPerBit(512));
        assert_eq!(s, "unexpected bm_bytes_per_bit: 512 (expected 4096)");
    }
}
