// SPDX-License-Identifier: GPL-2.0
//! One activity log transaction (`struct al_transaction_on_disk`): a 4 KiB block of the on-disk
//! ring buffer, its crc32c, and which block of the (striped) ring a transaction number goes to.
//!
//! C counterpart: struct al_transaction_on_disk, __al_write_transaction() and
//! al_tr_number_to_on_disk_sector() (drbd_actlog.c); crc32c() (lib/libcrc32c.c). The in-kernel
//! module only writes the log. `drbdmeta apply-al` (drbd-utils) reads it back, and accepts a block
//! on magic and crc alone; `drbdmeta create-md` fills every block of the ring with the same
//! `AL_TR_INITIALIZED` block whose other fields are all zero.

#[cfg(test)]
use core::fmt;
use core::num::NonZeroU64;

/// `DRBD_AL_MAGIC` (drbd.h).
pub(crate) const AL_MAGIC: u32 = 0x69cb_65a2;
/// Size of one transaction, the unit of activity log I/O.
pub(crate) const AL_TRANSACTION_BYTES: usize = 4096;
/// Changes of the active set one transaction can carry (drbd_int.h).
pub(crate) const AL_UPDATES_PER_TRANSACTION: usize = 64;
/// Slots of the active set each transaction repeats, so that the last few transactions of the
/// ring rebuild all of it: what is left of 4 KiB, (4096 - 36 - 6 * 64) / 4 (drbd_int.h).
pub(crate) const AL_CONTEXT_PER_TRANSACTION: usize = 919;

/// `enum al_transaction_types`: a change of the active set (the only type the kernel writes) ...
pub(crate) const AL_TR_UPDATE: u16 = 0;
/// ... and a block that drbdmeta initialized, which carries nothing.
#[cfg(test)]
pub(crate) const AL_TR_INITIALIZED: u16 = 0xffff;

/// `LC_FREE` (lru_cache.h): the extent number the kernel writes into unused update entries and
/// context slots.
pub(crate) const FREE_EXTENT: u32 = u32::MAX;
/// `(u16)-1`: the slot number the kernel writes into unused update entries. Also the reason the
/// active set (`al-extents`) has at most 65534 slots.
pub(crate) const FREE_SLOT: u16 = u16::MAX;

// Byte offsets of the fields, all big-endian.
const OFF_MAGIC: usize = 0;
const OFF_TR_NUMBER: usize = 4;
const OFF_CRC: usize = 8;
const OFF_TYPE: usize = 12;
const OFF_N_UPDATES: usize = 14;
const OFF_CONTEXT_SIZE: usize = 16;
const OFF_CONTEXT_START: usize = 18;
// 20..36: `__reserved[4]`, written as zero and never read
const OFF_UPDATE_SLOT: usize = 36;
const OFF_UPDATE_EXTENT: usize = OFF_UPDATE_SLOT + 2 * AL_UPDATES_PER_TRANSACTION;
const OFF_CONTEXT: usize = OFF_UPDATE_EXTENT + 4 * AL_UPDATES_PER_TRANSACTION;
const _: () = assert!(OFF_CONTEXT + 4 * AL_CONTEXT_PER_TRANSACTION == AL_TRANSACTION_BYTES);

/// The Castagnoli polynomial, bit-reversed (`CRC32C_POLY_LE`).
const CRC32C_POLY_LE: u32 = 0x82f6_3b78;

/// One step of eight bits for each byte value, built at compile time (1 KiB, no allocation).
static CRC32C_TABLE: [u32; 256] = {
    let mut table = [0; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ CRC32C_POLY_LE
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// CRC32C of `data`, continuing from `seed`, with the conventions of the kernel's `crc32c()`:
/// reflected, and no inversion on entry or exit, the register is returned as it stands. So the
/// textbook CRC-32C (check value 0xe3069283) is `!crc32c(!0, data)`, while DRBD's transaction
/// checksum is plainly `crc32c(0, block)`.
pub(crate) fn crc32c(seed: u32, data: &[u8]) -> u32 {
    data.iter().fold(seed, |crc, &b| {
        (crc >> 8) ^ CRC32C_TABLE[usize::from(crc as u8 ^ b)]
    })
}

/// The checksum __al_write_transaction() stores: over the whole block, with the crc field zero.
/// Computed in three pieces rather than over a zeroed copy, to keep 4 KiB off the kernel stack.
fn block_crc(block: &[u8; AL_TRANSACTION_BYTES]) -> u32 {
    let crc = crc32c(0, &block[..OFF_CRC]);
    let crc = crc32c(crc, &[0; 4]);
    crc32c(crc, &block[OFF_CRC + 4..])
}

#[cfg(test)]
fn be16(block: &[u8; AL_TRANSACTION_BYTES], at: usize) -> u16 {
    u16::from_be_bytes([block[at], block[at + 1]])
}

#[cfg(test)]
fn be32(block: &[u8; AL_TRANSACTION_BYTES], at: usize) -> u32 {
    u32::from_be_bytes([block[at], block[at + 1], block[at + 2], block[at + 3]])
}

/// An activity log transaction, decoded.
///
/// Only [`AL_TR_UPDATE`] transactions carry information. Entries past `n_updates`, and context
/// slots past the active set, hold [`FREE_SLOT`] and [`FREE_EXTENT`] when the kernel wrote the
/// block, but zeros when drbdmeta did: only the counts say what is in use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Transaction {
    /// Counts transactions in writing order; the newest block of the ring has the highest.
    pub(crate) tr_number: u32,
    pub(crate) transaction_type: u16,
    /// Entries in use of `update_slot_nr` and `update_extent_nr`.
    pub(crate) n_updates: u16,
    /// Slots in the active set (`al-extents`); 0 in blocks drbdmeta initialized.
    pub(crate) context_size: u16,
    /// The slot `context[0]` describes: the kernel walks the active set 919 slots at a time.
    pub(crate) context_start_slot_nr: u16,
    /// Update `i` puts extent `update_extent_nr[i]` into slot `update_slot_nr[i]`.
    pub(crate) update_slot_nr: [u16; AL_UPDATES_PER_TRANSACTION],
    pub(crate) update_extent_nr: [u32; AL_UPDATES_PER_TRANSACTION],
    /// The extents in slots `context_start_slot_nr..` after this transaction.
    pub(crate) context: [u32; AL_CONTEXT_PER_TRANSACTION],
}

impl Transaction {
    /// Decodes a block read from the activity log. The counts are checked as well as magic and
    /// crc, so that callers can index with them; any bytes give an error, never a panic.
    #[cfg(test)]
    pub(crate) fn decode(block: &[u8; AL_TRANSACTION_BYTES]) -> Result<Self, TrError> {
        let magic = be32(block, OFF_MAGIC);
        if magic != AL_MAGIC {
            return Err(TrError::BadMagic(magic));
        }
        let stored = be32(block, OFF_CRC);
        let computed = block_crc(block);
        if stored != computed {
            return Err(TrError::BadCrc { stored, computed });
        }

        let mut tr = Self {
            tr_number: be32(block, OFF_TR_NUMBER),
            transaction_type: be16(block, OFF_TYPE),
            n_updates: be16(block, OFF_N_UPDATES),
            context_size: be16(block, OFF_CONTEXT_SIZE),
            context_start_slot_nr: be16(block, OFF_CONTEXT_START),
            update_slot_nr: [0; AL_UPDATES_PER_TRANSACTION],
            update_extent_nr: [0; AL_UPDATES_PER_TRANSACTION],
            context: [0; AL_CONTEXT_PER_TRANSACTION],
        };
        // Indexes, not zip(chunks_exact()): see bitmap::math::Bits::load_le.
        for (i, v) in tr.update_slot_nr.iter_mut().enumerate() {
            *v = be16(block, OFF_UPDATE_SLOT + 2 * i);
        }
        for (i, v) in tr.update_extent_nr.iter_mut().enumerate() {
            *v = be32(block, OFF_UPDATE_EXTENT + 4 * i);
        }
        for (i, v) in tr.context.iter_mut().enumerate() {
            *v = be32(block, OFF_CONTEXT + 4 * i);
        }

        if !tr.counts_plausible() {
            return Err(TrError::BadCounts);
        }
        Ok(tr)
    }

    /// What __al_write_transaction() guarantees of every block it writes (and drbdmeta's all-zero
    /// counts satisfy): a block failing this was not written by DRBD, whatever its crc says.
    #[cfg(test)]
    fn counts_plausible(&self) -> bool {
        let n = usize::from(self.n_updates);
        n <= AL_UPDATES_PER_TRANSACTION
            // the active set has at most 65534 slots, as slot 0xffff means "free"
            && self.context_size < FREE_SLOT
            // al_tr_cycle starts at 0, steps by 919 and goes back to 0. It is not necessarily
            // below context_size: shrinking al-extents swaps the active set without resetting it,
            // and the next transaction then carries an empty context from beyond its end.
            && usize::from(self.context_start_slot_nr) % AL_CONTEXT_PER_TRANSACTION == 0
            // every update names a slot of the active set it was written with
            && self
                .update_slot_nr
                .iter()
                .take(n)
                .all(|&slot| slot < self.context_size)
    }

    /// Encodes the transaction into `block`, as __al_write_transaction() lays it out, crc
    /// included. Writes the fields as they are: unused entries must already be free.
    pub(crate) fn encode(&self, block: &mut [u8; AL_TRANSACTION_BYTES]) {
        block.fill(0);
        let mut put = |at: usize, bytes: &[u8]| block[at..at + bytes.len()].copy_from_slice(bytes);
        put(OFF_MAGIC, &AL_MAGIC.to_be_bytes());
        put(OFF_TR_NUMBER, &self.tr_number.to_be_bytes());
        put(OFF_TYPE, &self.transaction_type.to_be_bytes());
        put(OFF_N_UPDATES, &self.n_updates.to_be_bytes());
        put(OFF_CONTEXT_SIZE, &self.context_size.to_be_bytes());
        put(OFF_CONTEXT_START, &self.context_start_slot_nr.to_be_bytes());
        for (i, v) in self.update_slot_nr.iter().enumerate() {
            put(OFF_UPDATE_SLOT + 2 * i, &v.to_be_bytes());
        }
        for (i, v) in self.update_extent_nr.iter().enumerate() {
            put(OFF_UPDATE_EXTENT + 4 * i, &v.to_be_bytes());
        }
        for (i, v) in self.context.iter().enumerate() {
            put(OFF_CONTEXT + 4 * i, &v.to_be_bytes());
        }
        // the crc field is still zero, as the checksum wants it
        let crc = block_crc(block);
        block[OFF_CRC..OFF_CRC + 4].copy_from_slice(&crc.to_be_bytes());
    }
}

/// Encodes a transaction of an empty active set straight into `block`: no updates, every
/// context slot free; what drbd_al_initialize() writes into each slot of the ring. Spares the
/// caller a 4 KiB [`Transaction`] (kernel stacks are small).
#[cfg(test)]
pub(crate) fn encode_empty(
    tr_number: u32,
    context_size: u16,
    context_start_slot_nr: u16,
    block: &mut [u8; AL_TRANSACTION_BYTES],
) {
    block.fill(0xff); // free slots and free extents are all ones
    block[..OFF_UPDATE_SLOT].fill(0);
    block[OFF_MAGIC..OFF_MAGIC + 4].copy_from_slice(&AL_MAGIC.to_be_bytes());
    block[OFF_TR_NUMBER..OFF_TR_NUMBER + 4].copy_from_slice(&tr_number.to_be_bytes());
    block[OFF_TYPE..OFF_TYPE + 2].copy_from_slice(&AL_TR_UPDATE.to_be_bytes());
    block[OFF_CONTEXT_SIZE..OFF_CONTEXT_SIZE + 2].copy_from_slice(&context_size.to_be_bytes());
    block[OFF_CONTEXT_START..OFF_CONTEXT_START + 2]
        .copy_from_slice(&context_start_slot_nr.to_be_bytes());
    let crc = block_crc(block);
    block[OFF_CRC..OFF_CRC + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Why a block is not a usable transaction.
#[cfg(test)]
// `Magic` or `Crc` alone would read like success where callers match on the error
#[allow(clippy::enum_variant_names)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TrError {
    /// Not a transaction at all: never written, or another log format (0.7, DRBD 9 on pmem).
    BadMagic(u32),
    /// A torn or corrupted write.
    BadCrc { stored: u32, computed: u32 },
    /// Intact, but with counts DRBD never writes.
    BadCounts,
}

#[cfg(test)]
impl fmt::Display for TrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            TrError::BadMagic(magic) => {
                write!(f, "activity log transaction: bad magic 0x{magic:08x}")
            }
            TrError::BadCrc { stored, computed } => write!(
                f,
                "activity log transaction: crc32c 0x{stored:08x} does not match \
                 0x{computed:08x}"
            ),
            TrError::BadCounts => f.write_str(
                "activity log transaction: implausible update count or context slot numbers",
            ),
        }
    }
}

/// The sector, counted from the start of the activity log, of the block that transaction
/// `tr_number` goes to (al_tr_number_to_on_disk_sector() without its `md_offset + al_offset`).
/// The ring has `al_stripes * al_stripe_size_4k` blocks, and consecutive transactions go to
/// consecutive stripes.
///
/// Computed in 64 bits, where no geometry overflows (the C code relies on drbd_md_read() keeping
/// the log below 16 GiB); a zero stripe count or size, which `meta::layout::check()` refuses,
/// gives sector 0 rather than a division by zero.
pub(crate) fn al_tr_number_to_on_disk_sector(
    tr_number: u32,
    al_stripes: u32,
    al_stripe_size_4k: u32,
) -> u64 {
    let (Some(stripes), Some(stripe_size)) = (
        NonZeroU64::new(u64::from(al_stripes)),
        NonZeroU64::new(u64::from(al_stripe_size_4k)),
    ) else {
        return 0;
    };
    // two factors below 2^32: the product fits
    let Some(al_size_4k) = stripes.checked_mul(stripe_size) else {
        return 0;
    };
    // position in the ring ...
    let t = u64::from(tr_number) % al_size_4k;
    // ... to a block: t / stripes < stripe_size, so the block is below al_size_4k
    let block = (t % stripes) * stripe_size.get() + t / stripes;
    // ... to 512-byte sectors; saturates only for logs far beyond what check() accepts
    block.saturating_mul(8)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The non-zero bytes of the blocks `drbdmeta --force 0 v08 <64 MiB file> internal
    /// create-md` (drbd-utils 9.22) wrote into the activity log, read back from the file: all 8
    /// blocks of the 32 KiB ring are this same block. Magic, crc 0x709cc651, type
    /// AL_TR_INITIALIZED; tr_number, counts and all entries are zero.
    const CREATE_MD_BLOCK: [(usize, &[u8]); 3] = [
        (0, &[0x69, 0xcb, 0x65, 0xa2]),
        (8, &[0x70, 0x9c, 0xc6, 0x51]),
        (12, &[0xff, 0xff]),
    ];

    fn create_md_block() -> [u8; AL_TRANSACTION_BYTES] {
        let mut block = [0; AL_TRANSACTION_BYTES];
        for (at, bytes) in CREATE_MD_BLOCK {
            block[at..at + bytes.len()].copy_from_slice(bytes);
        }
        block
    }

    /// Stores the right crc, so that a test reaches the checks after it.
    fn seal(block: &mut [u8; AL_TRANSACTION_BYTES]) {
        let crc = block_crc(block);
        block[OFF_CRC..OFF_CRC + 4].copy_from_slice(&crc.to_be_bytes());
    }

    /// An update as the kernel writes it: 3 changes into an active set of 1237 slots (the
    /// default al-extents), on its second round of context (slots 919..1237).
    fn update() -> Transaction {
        let mut tr = Transaction {
            tr_number: 41,
            transaction_type: AL_TR_UPDATE,
            n_updates: 3,
            context_size: 1237,
            context_start_slot_nr: 919,
            update_slot_nr: [FREE_SLOT; AL_UPDATES_PER_TRANSACTION],
            update_extent_nr: [FREE_EXTENT; AL_UPDATES_PER_TRANSACTION],
            context: [FREE_EXTENT; AL_CONTEXT_PER_TRANSACTION],
        };
        for (i, (slot, extent)) in [(0, 7), (1236, 0x0012_3456), (500, 0)]
            .into_iter()
            .enumerate()
        {
            tr.update_slot_nr[i] = slot;
            tr.update_extent_nr[i] = extent;
        }
        for (i, c) in tr.context.iter_mut().take(1237 - 919).enumerate() {
            *c = if i % 3 == 0 {
                FREE_EXTENT
            } else {
                1000 + i as u32
            };
        }
        tr
    }

    #[test]
    fn crc32c_kernel_conventions() {
        // the textbook check value of CRC-32C is 0xe3069283: seed !0, inverted at the end
        assert_eq!(crc32c(!0, b"123456789"), 0x1cf9_6d7c);
        assert_eq!(!crc32c(!0, b"123456789"), 0xe306_9283);
        // DRBD's seed 0, no inversion
        assert_eq!(crc32c(0, b"123456789"), 0x58e3_fa20);
        assert_eq!(crc32c(0x1234_5678, b""), 0x1234_5678);
        // continuing from a seed is the same as one pass
        assert_eq!(crc32c(crc32c(0, b"1234"), b"56789"), 0x58e3_fa20);
    }

    #[test]
    fn create_md_block_decodes() {
        let block = create_md_block();
        assert_eq!(block_crc(&block), 0x709c_c651);
        let tr = Transaction::decode(&block).expect("drbdmeta's block is valid");
        assert_eq!(tr.tr_number, 0);
        assert_eq!(tr.transaction_type, AL_TR_INITIALIZED);
        assert_eq!(
            (tr.n_updates, tr.context_size, tr.context_start_slot_nr),
            (0, 0, 0)
        );
        assert!(tr.update_slot_nr.iter().all(|&s| s == 0));
        assert!(tr.update_extent_nr.iter().all(|&e| e == 0));
        assert!(tr.context.iter().all(|&c| c == 0));

        // and encoding it gives back the very bytes drbdmeta wrote
        let mut again = [0xa5; AL_TRANSACTION_BYTES];
        tr.encode(&mut again);
        assert_eq!(again, block);
    }

    #[test]
    fn round_trip() {
        let tr = update();
        let mut block = [0xa5; AL_TRANSACTION_BYTES];
        tr.encode(&mut block);
        assert_eq!(block[..4], AL_MAGIC.to_be_bytes());
        assert_eq!(block[4..8], 41u32.to_be_bytes());
        // __reserved stays zero
        assert!(block[20..36].iter().all(|&b| b == 0));
        assert_eq!(block[36..38], [0, 0]);
        assert_eq!(block[38..40], 1236u16.to_be_bytes());
        assert_eq!(block[168..172], 0x0012_3456u32.to_be_bytes());
        assert_eq!(
            block[OFF_CONTEXT + 4 * 318..OFF_CONTEXT + 4 * 319],
            [0xff; 4]
        );
        assert_eq!(be32(&block, OFF_CRC), block_crc(&block));
        assert_eq!(Transaction::decode(&block), Ok(tr));
    }

    #[test]
    fn flipped_bit_is_detected() {
        let mut block = [0; AL_TRANSACTION_BYTES];
        update().encode(&mut block);
        for bit in (0..8 * AL_TRANSACTION_BYTES).step_by(7).chain([95, 32767]) {
            let mut bad = block;
            bad[bit / 8] ^= 1 << (bit % 8);
            match Transaction::decode(&bad) {
                Err(TrError::BadMagic(_)) => assert!(bit < 32, "bit {bit}"),
                Err(TrError::BadCrc { stored, computed }) => {
                    assert!(bit >= 32, "bit {bit}");
                    assert_ne!(stored, computed);
                }
                other => panic!("bit {bit}: {other:?}"),
            }
        }
    }

    #[test]
    fn implausible_counts_are_refused() {
        let check = |change: fn(&mut Transaction)| {
            let mut tr = update();
            change(&mut tr);
            let mut block = [0; AL_TRANSACTION_BYTES];
            tr.encode(&mut block);
            Transaction::decode(&block)
        };
        assert!(check(|tr| {
            tr.n_updates = 64;
            tr.update_slot_nr = [1236; AL_UPDATES_PER_TRANSACTION];
        })
        .is_ok());
        assert_eq!(check(|tr| tr.n_updates = 65), Err(TrError::BadCounts));
        assert_eq!(
            check(|tr| tr.context_size = FREE_SLOT),
            Err(TrError::BadCounts)
        );
        assert_eq!(
            check(|tr| tr.context_start_slot_nr = 918),
            Err(TrError::BadCounts)
        );
        assert_eq!(
            check(|tr| tr.update_slot_nr[2] = 1237),
            Err(TrError::BadCounts)
        );
        // unused entries are not looked at
        assert!(check(|tr| tr.update_slot_nr[3] = 4000).is_ok());
        // right after al-extents shrank to 67: an empty context beyond the new active set
        assert_eq!(check(|tr| tr.context_size = 67), Err(TrError::BadCounts));
        assert!(check(|tr| {
            tr.context_size = 67;
            tr.update_slot_nr[..3].copy_from_slice(&[0, 66, 5]);
            tr.context = [FREE_EXTENT; AL_CONTEXT_PER_TRANSACTION];
        })
        .is_ok());
    }

    #[test]
    fn any_bytes_decode_without_panic() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut block = [0; AL_TRANSACTION_BYTES];
        for round in 0..300 {
            for chunk in block.chunks_exact_mut(8) {
                chunk.copy_from_slice(&next().to_be_bytes());
            }
            assert!(matches!(
                Transaction::decode(&block),
                Err(TrError::BadMagic(_))
            ));

            // past magic and crc, so that the counts are checked on random values too; every
            // other round with counts in range, so that some pass
            block[..4].copy_from_slice(&AL_MAGIC.to_be_bytes());
            block[20..36].fill(0);
            if round % 2 == 0 {
                let n = (next() % 65) as u16;
                let size = (next() % 0xffff) as u16;
                let start = (next() % 72) as u16 * 919;
                block[14..16].copy_from_slice(&n.to_be_bytes());
                block[16..18].copy_from_slice(&size.to_be_bytes());
                block[18..20].copy_from_slice(&start.to_be_bytes());
                for i in 0..usize::from(n) {
                    let slot = (next() % u64::from(size.max(1))) as u16;
                    block[OFF_UPDATE_SLOT + 2 * i..][..2].copy_from_slice(&slot.to_be_bytes());
                }
            }
            seal(&mut block);
            match Transaction::decode(&block) {
                Ok(tr) => {
                    let mut again = [0; AL_TRANSACTION_BYTES];
                    tr.encode(&mut again);
                    assert_eq!(again, block);
                }
                Err(e) => assert_eq!(e, TrError::BadCounts),
            }
        }
    }

    #[test]
    fn stripe_mapping() {
        // 1 stripe of 8 blocks (the default 32 KiB): block = t % 8
        for (tr, sector) in [(0, 0), (1, 8), (7, 56), (8, 0), (13, 40), (u32::MAX, 56)] {
            assert_eq!(al_tr_number_to_on_disk_sector(tr, 1, 8), sector, "tr {tr}");
        }
        // 2 stripes of 4 blocks: t = tr % 8, block = (t % 2) * 4 + t / 2, so even transactions
        // fill stripe 0 (blocks 0..4) and odd ones stripe 1 (blocks 4..8)
        let blocks = [0, 4, 1, 5, 2, 6, 3, 7];
        for tr in 0..24u32 {
            let expect = blocks[tr as usize % 8] * 8;
            assert_eq!(al_tr_number_to_on_disk_sector(tr, 2, 4), expect, "tr {tr}");
        }
        // no panic on a geometry drbd_md_read() refuses
        assert_eq!(al_tr_number_to_on_disk_sector(5, 0, 8), 0);
        assert_eq!(al_tr_number_to_on_disk_sector(5, 2, 0), 0);
        // the largest geometry: tr 2^32 - 1 is block 1 (stripe 0, second row) ...
        assert_eq!(
            al_tr_number_to_on_disk_sector(u32::MAX, u32::MAX, u32::MAX),
            8
        );
        // ... and 2^32 - 2 the first row of the second last stripe, beyond 2^61 blocks
        let last = al_tr_number_to_on_disk_sector(u32::MAX - 1, u32::MAX, u32::MAX);
        assert_eq!(last, u64::MAX);
    }

    #[test]
    fn empty_transaction_matches_the_struct_encoding() {
        let tr = Transaction {
            tr_number: 5,
            transaction_type: AL_TR_UPDATE,
            n_updates: 0,
            context_size: 1237,
            context_start_slot_nr: 919,
            update_slot_nr: [FREE_SLOT; AL_UPDATES_PER_TRANSACTION],
            update_extent_nr: [FREE_EXTENT; AL_UPDATES_PER_TRANSACTION],
            context: [FREE_EXTENT; AL_CONTEXT_PER_TRANSACTION],
        };
        let mut a = [0u8; AL_TRANSACTION_BYTES];
        let mut b = [0u8; AL_TRANSACTION_BYTES];
        tr.encode(&mut a);
        encode_empty(5, 1237, 919, &mut b);
        assert_eq!(a[..], b[..]);
        assert!(Transaction::decode(&b).is_ok());
    }
}
