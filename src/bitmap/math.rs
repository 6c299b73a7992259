// SPDX-License-Identifier: GPL-2.0
//! Bitmap arithmetic and a view of the in-memory bitmap words: which bits a device size, a write,
//! an activity log extent or a resync extent maps to, and how the words are laid out on disk.
//!
//! C counterpart: the `BM_*` macros and `Bit2KB` of drbd_int.h; drbd_bm_resize(),
//! bm_clear_surplus(), bm_count_bits(), __bm_change_bits_to(), drbd_bm_count_bits(),
//! __bm_find_next() and bm_page_io_async() of drbd_bitmap.c; the rounding of
//! __drbd_change_sync() and al_extent_to_bm_page() of drbd_actlog.c.
//!
//! Units: a sector is 512 bytes, a bit covers 4 KiB (8 sectors) of the device, an on-disk bitmap
//! page is 4 KiB (32768 bits). C uses `PAGE_SIZE` for bitmap pages; the on-disk bytes are the same
//! for any page size, so 4 KiB is fixed here.
//!
//! Out-of-range input never panics: conversions saturate (only absurd inputs near `u64::MAX` are
//! affected), [`Bits`] clamps bit ranges to the device as __bm_change_bits_to() does, and page
//! indexes or storage that do not fit are reported as [`BitmapError`].

use core::ops::Range;

/// `BM_BLOCK_SHIFT`: one bit covers 4 KiB of the device.
const BM_BLOCK_SHIFT: u32 = 12;
/// `BM_SECT_PER_BIT`.
pub(crate) const SECT_PER_BIT: u64 = 1 << (BM_BLOCK_SHIFT - 9);
/// `BM_EXT_SHIFT`: a resync extent (the unit of the resync LRU) covers 16 MiB.
const BM_EXT_SHIFT: u32 = 24;
/// `BM_BITS_PER_EXT`.
pub(crate) const BITS_PER_EXT: u64 = 1 << (BM_EXT_SHIFT - BM_BLOCK_SHIFT);
/// `AL_EXTENT_SHIFT`: an activity log extent covers 4 MiB.
const AL_EXTENT_SHIFT: u32 = 22;
/// Bits per activity log extent.
pub(crate) const BITS_PER_AL_EXTENT: u64 = 1 << (AL_EXTENT_SHIFT - BM_BLOCK_SHIFT);
/// Bytes of one on-disk bitmap page, the unit of bitmap I/O.
pub(crate) const PAGE_BYTES: usize = 4096;
/// Bits per on-disk bitmap page.
pub(crate) const BITS_PER_PAGE: u64 = PAGE_BYTES as u64 * 8;
const WORDS_PER_PAGE: usize = PAGE_BYTES / 8;
#[cfg(test)]
const SECT_PER_PAGE: u64 = PAGE_BYTES as u64 / 512;
/// Bits per 512-byte sector of on-disk bitmap.
#[cfg(test)]
const BITS_PER_BM_SECT: u64 = 512 * 8;
/// `DRBD_MAX_BATCH_BIO_SIZE` = `AL_UPDATES_PER_TRANSACTION / 2 * AL_EXTENT_SIZE`: larger sync
/// updates are nonsense and ignored (plausible_request_size()).
const MAX_BATCH_BIO_SIZE: u32 = 64 / 2 * (1 << AL_EXTENT_SHIFT);

/// `BM_SECT_TO_BIT`: the bit covering `sector`.
pub(crate) fn sect_to_bit(sector: u64) -> u64 {
    sector >> (BM_BLOCK_SHIFT - 9)
}

/// `BM_BIT_TO_SECT`: the first sector covered by `bit` (saturating).
#[cfg(test)]
pub(crate) fn bit_to_sect(bit: u64) -> u64 {
    bit.saturating_mul(SECT_PER_BIT)
}

/// `Bit2KB`: KiB covered by `bits` (saturating); /proc/drbd and the resync messages report this.
pub(crate) fn bit_to_kib(bits: u64) -> u64 {
    bits.saturating_mul(1 << (BM_BLOCK_SHIFT - 10))
}

/// Bits for a device of `capacity` sectors, `BM_SECT_TO_BIT(ALIGN(capacity, BM_SECT_PER_BIT))` in
/// drbd_bm_resize(): a partial last 4 KiB block gets a bit of its own.
pub(crate) fn bits_for_capacity(capacity: u64) -> u64 {
    capacity.div_ceil(SECT_PER_BIT)
}

/// 64-bit words holding `bits` (`bm_words`). drbd_bm_resize() aligns to 64 even on 32-bit hosts so
/// that both sides of a connection agree on the word count.
pub(crate) fn words_for_bits(bits: u64) -> u64 {
    bits.div_ceil(64)
}

/// 4 KiB pages holding `bits` (`bm_number_of_pages`): the pages drbd_bm_read() reads and
/// drbd_bm_write() considers, in order 0, 1, ...
pub(crate) fn pages_for_bits(bits: u64) -> u64 {
    bits.div_ceil(BITS_PER_PAGE)
}

/// Sectors of on-disk bitmap that hold `bits`: the meta data bitmap area must have at least this
/// many, or drbd_bm_resize() fails with -ENOSPC. The last page is transferred only up to the end
/// of the area (see [`page_io_bytes`]).
#[cfg(test)]
pub(crate) fn sectors_for_bits(bits: u64) -> u64 {
    bits.div_ceil(BITS_PER_BM_SECT)
}

/// Bits a bitmap area of `area_sectors` can hold (drbd_md_on_disk_bits(), saturating).
#[cfg(test)]
pub(crate) fn bits_for_area(area_sectors: u64) -> u64 {
    area_sectors.saturating_mul(BITS_PER_BM_SECT)
}

/// Bytes to transfer for bitmap page `page` when the bitmap area is `area_sectors` long, as
/// bm_page_io_async() computes it: a whole page, or less when the area ends inside it. `None` when
/// the page starts beyond the area; C fails that page with -EIO.
#[cfg(test)]
pub(crate) fn page_io_bytes(page: u64, area_sectors: u64) -> Option<u32> {
    let first = page.checked_mul(SECT_PER_PAGE)?;
    let left = area_sectors.checked_sub(first).filter(|&n| n > 0)?;
    // At most SECT_PER_PAGE * 512 = PAGE_BYTES, which fits.
    u32::try_from(left.min(SECT_PER_PAGE) * 512).ok()
}

/// The bitmap page holding `bit`. Pages whose bits changed must be written back (C flags them
/// in __bm_change_bits_to()); an AL transaction hints the page of each extent it touches
/// (al_extent_to_bm_page() is `bit_to_page(al_extent_bits(enr).start)`).
pub(crate) fn bit_to_page(bit: u64) -> u64 {
    bit / BITS_PER_PAGE
}

/// `BM_BIT_TO_EXT`: the resync extent holding `bit`.
#[cfg(test)]
pub(crate) fn bit_to_ext(bit: u64) -> u64 {
    bit >> (BM_EXT_SHIFT - BM_BLOCK_SHIFT)
}

/// Bits of resync extent `enr` (saturating); [`Bits`] clamps the end to the device, as the
/// per-extent weight drbd_bm_e_weight() does.
#[cfg(test)]
pub(crate) fn ext_bits(enr: u64) -> Range<u64> {
    enr.saturating_mul(BITS_PER_EXT)..enr.saturating_add(1).saturating_mul(BITS_PER_EXT)
}

/// Bits of activity log extent `enr`: what must be marked out of sync when the extent was hot at
/// a crash, and where its bitmap page lies.
pub(crate) fn al_extent_bits(enr: u32) -> Range<u64> {
    let first = u64::from(enr) * BITS_PER_AL_EXTENT;
    first..first + BITS_PER_AL_EXTENT
}

/// The activity log extents a write of `sectors` (at least one) from `sector` touches, as
/// drbd_al_begin_io_prepare() computes them; `None` beyond the last possible extent.
pub(crate) fn al_extents(sector: u64, sectors: u64) -> Option<core::ops::RangeInclusive<u32>> {
    const SECT_PER_AL_EXTENT_SHIFT: u32 = AL_EXTENT_SHIFT - 9;
    let last = sector.checked_add(sectors.checked_sub(1)?)?;
    let first = u32::try_from(sector >> SECT_PER_AL_EXTENT_SHIFT).ok()?;
    let last = u32::try_from(last >> SECT_PER_AL_EXTENT_SHIFT).ok()?;
    Some(first..=last)
}

/// Why a write of `size` bytes at `sector` maps to no bits at all; C logs these and changes nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SyncRangeError {
    /// Not a multiple of 512, zero (for in-sync), or above `DRBD_MAX_BATCH_BIO_SIZE` ("nonsense!").
    Implausible,
    /// The start sector is at or beyond the device capacity.
    BeyondEnd,
}

/// The last sector of a write, clamped to the device (__drbd_change_sync()).
fn last_sector(sector: u64, size: u32, capacity: u64) -> Result<u64, SyncRangeError> {
    if size == 0 || size > MAX_BATCH_BIO_SIZE || size % 512 != 0 {
        return Err(SyncRangeError::Implausible);
    }
    let cap_last = capacity
        .checked_sub(1)
        .filter(|&last| sector <= last)
        .ok_or(SyncRangeError::BeyondEnd)?;
    // size >= 512 here, so the subtraction cannot underflow.
    Ok(sector
        .saturating_add(u64::from(size / 512) - 1)
        .min(cap_last))
}

/// Bits to set out of sync for a write of `size` bytes at `sector` on a device of `capacity`
/// sectors (drbd_set_out_of_sync()): rounded outward, every block the write touches even
/// partially. An empty flush (size 0) touches nothing and is not an error.
#[cfg(test)]
pub(crate) fn out_of_sync_bits(
    sector: u64,
    size: u32,
    capacity: u64,
) -> Result<Range<u64>, SyncRangeError> {
    if size == 0 {
        return Ok(0..0);
    }
    let last = last_sector(sector, size, capacity)?;
    Ok(sect_to_bit(sector)..sect_to_bit(last) + 1)
}

/// Bits to clear in sync after `size` bytes at `sector` were synced (drbd_set_in_sync()): rounded
/// inward, only whole 4 KiB blocks, except that a write reaching the end of the device also
/// clears the partial last block. The range may be empty.
pub(crate) fn in_sync_bits(
    sector: u64,
    size: u32,
    capacity: u64,
) -> Result<Range<u64>, SyncRangeError> {
    let last = last_sector(sector, size, capacity)?;
    if last < SECT_PER_BIT - 1 {
        return Ok(0..0);
    }
    let end = if last == capacity - 1 {
        sect_to_bit(last) + 1
    } else {
        // The block containing `last` is whole only if `last` is its final sector.
        sect_to_bit(last - (SECT_PER_BIT - 1)) + 1
    };
    let start = sect_to_bit(sector.saturating_add(SECT_PER_BIT - 1));
    Ok(start..end.max(start))
}

/// Why a [`Bits`] operation was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BitmapError {
    /// The word slice is shorter than [`words_for_bits`] of the bit count.
    StorageTooSmall,
    /// A page index at or beyond [`pages_for_bits`] of the bit count.
    PageOutOfRange,
}

/// A bitmap of `nbits` bits in caller-owned 64-bit words; bit `n` is bit `n % 64` of word
/// `n / 64`, the little-endian bit order C uses (`__test_and_set_bit_le`).
///
/// Changing bits returns how many changed, so the owner can keep the running total (C's
/// `bm_set`) and the per-extent `rs_left` without rescanning; [`Bits::count`] scans everything.
///
/// # Invariants
///
/// `words.len() == words_for_bits(nbits)`, and the surplus bits (from `nbits` to the end of the
/// last word) are zero, so counting and searching never see blocks beyond the device
/// (bm_clear_surplus()).
pub(crate) struct Bits<'a> {
    words: &'a mut [u64],
    nbits: u64,
}

/// The (word index, mask) pairs covering bits `start..end`; `start <= end` is the caller's duty.
fn word_masks(start: u64, end: u64) -> impl Iterator<Item = (u64, u64)> {
    (start / 64..end.div_ceil(64)).map(move |w| {
        let base = w * 64;
        let lo = start.max(base) - base;
        let hi = end.min(base + 64) - base;
        let below_hi = if hi == 64 { !0 } else { (1u64 << hi) - 1 };
        (w, below_hi & !((1u64 << lo) - 1))
    })
}

impl<'a> Bits<'a> {
    /// A view of the first [`words_for_bits`]`(nbits)` words of `words`; words after those are
    /// not touched. Clears the surplus bits, so storage from any source is safe to use.
    pub(crate) fn new(words: &'a mut [u64], nbits: u64) -> Result<Self, BitmapError> {
        let need =
            usize::try_from(words_for_bits(nbits)).map_err(|_| BitmapError::StorageTooSmall)?;
        let words = words.get_mut(..need).ok_or(BitmapError::StorageTooSmall)?;
        let mut bits = Bits { words, nbits };
        bits.clear_surplus();
        Ok(bits)
    }

    /// The number of bits (`bm_bits`).
    pub(crate) fn nbits(&self) -> u64 {
        self.nbits
    }

    /// The number of on-disk pages (`bm_number_of_pages`).
    #[cfg(test)]
    pub(crate) fn pages(&self) -> u64 {
        pages_for_bits(self.nbits)
    }

    fn clear_surplus(&mut self) {
        let used = self.nbits % 64;
        if used != 0 {
            if let Some(last) = self.words.last_mut() {
                *last &= (1u64 << used) - 1;
            }
        }
    }

    fn word_mut(&mut self, w: u64) -> Option<&mut u64> {
        self.words.get_mut(usize::try_from(w).ok()?)
    }

    fn word(&self, w: u64) -> Option<u64> {
        self.words.get(usize::try_from(w).ok()?).copied()
    }

    /// `range` cut to the device; C logs an out-of-range end and clamps it the same way.
    fn clamp(&self, range: Range<u64>) -> (u64, u64) {
        let end = range.end.min(self.nbits);
        (range.start.min(end), end)
    }

    /// Sets the bits of `range` (clamped to the device); returns how many were clear before.
    pub(crate) fn set_range(&mut self, range: Range<u64>) -> u64 {
        let (start, end) = self.clamp(range);
        let mut changed = 0;
        for (w, mask) in word_masks(start, end) {
            if let Some(word) = self.word_mut(w) {
                changed += u64::from((!*word & mask).count_ones());
                *word |= mask;
            }
        }
        changed
    }

    /// Clears the bits of `range` (clamped to the device); returns how many were set before.
    pub(crate) fn clear_range(&mut self, range: Range<u64>) -> u64 {
        let (start, end) = self.clamp(range);
        let mut changed = 0;
        for (w, mask) in word_masks(start, end) {
            if let Some(word) = self.word_mut(w) {
                changed += u64::from((*word & mask).count_ones());
                *word &= !mask;
            }
        }
        changed
    }

    /// Whether `bit` is set; `false` beyond the device, where there is nothing to resync
    /// (drbd_bm_test_bit() returns -1 or 0 there).
    pub(crate) fn test(&self, bit: u64) -> bool {
        bit < self.nbits
            && self
                .word(bit / 64)
                .is_some_and(|w| w & (1u64 << (bit % 64)) != 0)
    }

    /// Set bits in `range`, clamped to the device (drbd_bm_count_bits(), drbd_bm_e_weight()).
    pub(crate) fn count_range(&self, range: Range<u64>) -> u64 {
        let (start, end) = self.clamp(range);
        word_masks(start, end)
            .filter_map(|(w, mask)| {
                self.word(w)
                    .map(|word| u64::from((word & mask).count_ones()))
            })
            .sum()
    }

    /// All set bits (bm_count_bits(), after reading the bitmap from disk).
    pub(crate) fn count(&self) -> u64 {
        self.words.iter().map(|w| u64::from(w.count_ones())).sum()
    }

    /// The first set bit at or after `from`, `None` for none (C's `DRBD_END_OF_BITMAP`): where
    /// the resync continues.
    pub(crate) fn find_next_set(&self, from: u64) -> Option<u64> {
        if from >= self.nbits {
            return None;
        }
        let mut w = from / 64;
        let mut word = self.word(w)? & (!0u64 << (from % 64));
        while word == 0 {
            w += 1;
            word = self.word(w)?;
        }
        // The surplus bits are zero, so a set bit found is below nbits.
        Some(w * 64 + u64::from(word.trailing_zeros()))
    }

    /// The next resync request from `from` (make_resync_request()): the first set bit and the
    /// number of set bits after it that one request takes, at most `max_bytes` (a multiple of
    /// 4 KiB), a larger request always aligned to its size, never crossing a 16 MiB resync
    /// extent. `None` when no bit is set from `from` on.
    pub(crate) fn resync_request(&self, from: u64, max_bytes: u32) -> Option<(u64, u64)> {
        let first = self.find_next_set(from)?;
        let max_bits = (u64::from(max_bytes) >> BM_BLOCK_SHIFT).max(1);
        let mut bits = 1;
        let mut align = 1;
        while bits < max_bits && first % (1 << align) == 0 {
            let next = first + bits;
            if next % BITS_PER_EXT == 0 || !self.test(next) {
                break;
            }
            bits += 1;
            if 1 << align <= bits {
                align += 1;
            }
        }
        Some((first, bits))
    }

    /// The words of on-disk page `page`: 512, or fewer for the last page.
    fn page_range(&self, page: u64) -> Result<Range<usize>, BitmapError> {
        let start = usize::try_from(page)
            .ok()
            .and_then(|p| p.checked_mul(WORDS_PER_PAGE))
            .filter(|&s| s < self.words.len())
            .ok_or(BitmapError::PageOutOfRange)?;
        Ok(start..start.saturating_add(WORDS_PER_PAGE).min(self.words.len()))
    }

    /// Loads on-disk page `page` (little-endian 64-bit words, as 64-bit C stores `unsigned long`).
    /// Bytes of a partial last page beyond the bitmap and surplus bits are ignored; the caller
    /// recounts after reading all pages, as bm_rw() does.
    pub(crate) fn load_le(
        &mut self,
        page: u64,
        bytes: &[u8; PAGE_BYTES],
    ) -> Result<(), BitmapError> {
        let range = self.page_range(page)?;
        if let Some(words) = self.words.get_mut(range) {
            // Indexes, not zip(chunks_exact()): objtool (6.12) does not know a noreturn call in
            // rustc 1.96's zip of chunks and warns that the code falls through.
            for (i, word) in words.iter_mut().enumerate() {
                if let Some(Ok(le)) = bytes.get(i * 8..i * 8 + 8).map(<[u8; 8]>::try_from) {
                    *word = u64::from_le_bytes(le);
                }
            }
        }
        self.clear_surplus();
        Ok(())
    }

    /// Stores page `page` in its on-disk form; the part of a partial last page beyond the bitmap
    /// is zero. `out` is untouched on error.
    pub(crate) fn store_le(
        &self,
        page: u64,
        out: &mut [u8; PAGE_BYTES],
    ) -> Result<(), BitmapError> {
        let range = self.page_range(page)?;
        out.fill(0);
        if let Some(words) = self.words.get(range) {
            for (i, word) in words.iter().enumerate() {
                if let Some(chunk) = out.get_mut(i * 8..i * 8 + 8) {
                    chunk.copy_from_slice(&word.to_le_bytes());
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;
    use std::vec::Vec;

    const MIB_SECT: u64 = 2048;
    const TIB_SECT: u64 = 1 << 31;

    fn storage(nbits: u64) -> Vec<u64> {
        vec![0; usize::try_from(words_for_bits(nbits)).expect("test sizes fit")]
    }

    #[test]
    fn al_extents_of_writes() {
        // 8192 sectors (4 MiB) per extent
        assert_eq!(al_extents(0, 8), Some(0..=0));
        assert_eq!(al_extents(8184, 8), Some(0..=0));
        assert_eq!(al_extents(8188, 8), Some(0..=1));
        assert_eq!(al_extents(8192 * 5, 2048), Some(5..=5));
        assert_eq!(al_extents(0, 0), None);
        assert_eq!(al_extents(u64::MAX, 2), None);
        assert_eq!(al_extents(1 << 60, 8), None);
    }

    #[test]
    fn constants_match_c() {
        assert_eq!(SECT_PER_BIT, 8);
        assert_eq!(BITS_PER_EXT, 4096); // 16 MiB / 4 KiB
        assert_eq!(BITS_PER_AL_EXTENT, 1024); // 4 MiB / 4 KiB
        assert_eq!(BITS_PER_PAGE, 32768);
        assert_eq!(MAX_BATCH_BIO_SIZE, 128 << 20);
    }

    /// (capacity, bits, words, pages, bitmap sectors, KiB)
    const SIZES: &[(u64, u64, u64, u64, u64, u64)] = &[
        (0, 0, 0, 0, 0, 0),
        (1, 1, 1, 1, 1, 4),
        (8, 1, 1, 1, 1, 4),
        (9, 2, 1, 1, 1, 8),
        (4095, 512, 8, 1, 1, 2048),
        (4096, 512, 8, 1, 1, 2048),
        (64 * MIB_SECT, 16384, 256, 1, 4, 64 << 10),
        (TIB_SECT, 1 << 28, 1 << 22, 8192, 65536, 1 << 30),
    ];

    #[test]
    fn device_size_conversions() {
        for &(cap, bits, words, pages, sectors, kib) in SIZES {
            assert_eq!(bits_for_capacity(cap), bits, "bits for {cap}");
            assert_eq!(words_for_bits(bits), words, "words for {cap}");
            assert_eq!(pages_for_bits(bits), pages, "pages for {cap}");
            assert_eq!(sectors_for_bits(bits), sectors, "sectors for {cap}");
            assert_eq!(bit_to_kib(bits), kib, "KiB for {cap}");
            // drbd_bm_resize()'s -ENOSPC check passes exactly for an area of this size.
            assert!(bits <= bits_for_area(sectors));
            assert!(sectors == 0 || bits > bits_for_area(sectors - 1));
            // PFN_UP(words * sizeof(long)) in drbd_bm_resize().
            assert_eq!(pages, (words * 8).div_ceil(4096));
        }
        // The last bit of a 4095-sector device covers 7 sectors.
        assert_eq!(sect_to_bit(4094), 511);
        assert_eq!(bit_to_sect(511), 4088);
        assert_eq!(bit_to_sect(bits_for_capacity(TIB_SECT)), TIB_SECT);
        // 1 TiB is 65536 resync extents and 262144 AL extents.
        assert_eq!(bit_to_ext((1 << 28) - 1), 65535);
        assert_eq!(al_extent_bits(262_143).end, 1 << 28);
    }

    #[test]
    fn internal_meta_data_area_holds_the_pages() {
        // drbd_md_set_sector_offsets() reserves ALIGN(BM_SECT_TO_EXT(ALIGN(cap, 32768)), 8)
        // sectors of bitmap for internal meta data; whole pages always fit in that.
        for &(cap, bits, _, pages, _, _) in SIZES {
            let area = cap.div_ceil(32768).next_multiple_of(8);
            for page in 0..pages {
                assert_eq!(page_io_bytes(page, area), Some(4096), "cap {cap}");
            }
            assert_eq!(page_io_bytes(pages, area), None, "cap {cap}");
            assert!(bits <= bits_for_area(area));
        }
    }

    #[test]
    fn page_io_clipped_to_area() {
        // A small external flex area: 3 sectors of bitmap.
        assert_eq!(page_io_bytes(0, 3), Some(1536));
        assert_eq!(page_io_bytes(1, 3), None);
        assert_eq!(page_io_bytes(1, 11), Some(1536));
        assert_eq!(page_io_bytes(0, 0), None);
        assert_eq!(page_io_bytes(u64::MAX, u64::MAX), None);
        assert_eq!(page_io_bytes(u64::MAX / 8, u64::MAX), Some(3584));
    }

    #[test]
    fn extents() {
        assert_eq!(ext_bits(0), 0..4096);
        assert_eq!(ext_bits(3), 12288..16384);
        assert_eq!(bit_to_ext(4095), 0);
        assert_eq!(bit_to_ext(4096), 1);
        assert_eq!(al_extent_bits(0), 0..1024);
        assert_eq!(al_extent_bits(5), 5120..6144);
        // al_extent_to_bm_page(): 32 AL extents per 4 KiB bitmap page.
        assert_eq!(bit_to_page(al_extent_bits(31).start), 0);
        assert_eq!(bit_to_page(al_extent_bits(32).start), 1);
        assert_eq!(bit_to_page(al_extent_bits(31).end - 1), 0);
        // Four AL extents per resync extent.
        assert_eq!(bit_to_ext(al_extent_bits(7).start), 1);
    }

    const BIG: u64 = 64 * MIB_SECT;

    #[test]
    fn sub_block_write_sets_one_bit_clears_none() {
        // 512 bytes at sector 11, inside the 4 KiB block of bit 1.
        assert_eq!(out_of_sync_bits(11, 512, BIG), Ok(1..2));
        assert!(in_sync_bits(11, 512, BIG).expect("plausible").is_empty());
        // Within the first block: C returns early because esector < BM_SECT_PER_BIT - 1.
        assert_eq!(out_of_sync_bits(3, 512, BIG), Ok(0..1));
        assert_eq!(in_sync_bits(3, 512, BIG), Ok(0..0));
    }

    #[test]
    fn aligned_block_write_sets_and_clears_one_bit() {
        assert_eq!(out_of_sync_bits(8, 4096, BIG), Ok(1..2));
        assert_eq!(in_sync_bits(8, 4096, BIG), Ok(1..2));
        assert_eq!(out_of_sync_bits(0, 4096, BIG), Ok(0..1));
        assert_eq!(in_sync_bits(0, 4096, BIG), Ok(0..1));
    }

    #[test]
    fn unaligned_writes_round_outward_to_set_inward_to_clear() {
        // 4 KiB at sector 4 straddles bits 0 and 1 without covering either.
        assert_eq!(out_of_sync_bits(4, 4096, BIG), Ok(0..2));
        assert_eq!(in_sync_bits(4, 4096, BIG), Ok(1..1));
        // 8 KiB at sector 4 covers only bit 1 wholly.
        assert_eq!(out_of_sync_bits(4, 8192, BIG), Ok(0..3));
        assert_eq!(in_sync_bits(4, 8192, BIG), Ok(1..2));
        // 1 MiB aligned.
        assert_eq!(out_of_sync_bits(2048, 1 << 20, BIG), Ok(256..512));
        assert_eq!(in_sync_bits(2048, 1 << 20, BIG), Ok(256..512));
    }

    #[test]
    fn partial_last_block_is_cleared_by_a_write_to_the_end() {
        // 4095 sectors: bit 511 covers sectors 4088..=4094.
        assert_eq!(in_sync_bits(4088, 7 * 512, 4095), Ok(511..512));
        assert_eq!(out_of_sync_bits(4088, 7 * 512, 4095), Ok(511..512));
        // Not starting at the block start: still not whole.
        assert_eq!(in_sync_bits(4090, 5 * 512, 4095), Ok(512..512));
        // A write beyond the end is clamped to the end (C: esector = nr_sectors - 1).
        assert_eq!(in_sync_bits(4088, 4096, 4095), Ok(511..512));
        assert_eq!(out_of_sync_bits(4080, 1 << 20, 4095), Ok(510..512));
        // A device under 4 KiB never has its only bit cleared: C returns early because the last
        // sector is below BM_SECT_PER_BIT - 1, before the end-of-device rule.
        assert_eq!(in_sync_bits(0, 512, 1), Ok(0..0));
        assert_eq!(in_sync_bits(0, 2560, 5), Ok(0..0));
        assert_eq!(out_of_sync_bits(0, 512, 1), Ok(0..1));
    }

    #[test]
    fn implausible_requests() {
        use SyncRangeError::*;
        assert_eq!(out_of_sync_bits(0, 0, BIG), Ok(0..0)); // empty flush
        assert_eq!(in_sync_bits(0, 0, BIG), Err(Implausible));
        assert_eq!(out_of_sync_bits(0, 100, BIG), Err(Implausible));
        assert_eq!(in_sync_bits(0, (128 << 20) + 512, BIG), Err(Implausible));
        assert_eq!(out_of_sync_bits(0, 128 << 20, BIG), Ok(0..16384));
        assert_eq!(out_of_sync_bits(BIG, 512, BIG), Err(BeyondEnd));
        assert_eq!(in_sync_bits(0, 512, 0), Err(BeyondEnd));
        assert_eq!(
            out_of_sync_bits(u64::MAX, u32::MAX, u64::MAX),
            Err(Implausible)
        );
        let huge = out_of_sync_bits(u64::MAX - 1, 4096, u64::MAX);
        assert_eq!(
            huge,
            Ok(sect_to_bit(u64::MAX - 1)..sect_to_bit(u64::MAX - 1) + 1)
        );
        assert!(in_sync_bits(u64::MAX - 1, 4096, u64::MAX).is_ok());
    }

    #[test]
    fn new_checks_storage_and_clears_surplus() {
        let mut w = [!0u64; 3];
        assert_eq!(Bits::new(&mut w, 129).err(), None);
        assert_eq!(w, [!0, !0, 1]);
        let mut w = [!0u64; 2];
        assert_eq!(
            Bits::new(&mut w, 129).err(),
            Some(BitmapError::StorageTooSmall)
        );
        assert_eq!(
            Bits::new(&mut w, u64::MAX).err(),
            Some(BitmapError::StorageTooSmall)
        );
        // Extra storage is not part of the view, and not touched.
        let mut w = [!0u64; 4];
        let b = Bits::new(&mut w, 64).expect("enough words");
        assert_eq!(b.count(), 64);
        assert_eq!(b.find_next_set(64), None);
        assert_eq!(w, [!0; 4]);
        let mut none: [u64; 0] = [];
        let b = Bits::new(&mut none, 0).expect("empty bitmap");
        assert_eq!((b.nbits(), b.pages(), b.count()), (0, 0, 0));
    }

    #[test]
    fn ranges_across_word_boundaries() {
        let mut w = storage(300);
        let mut b = Bits::new(&mut w, 300).expect("sized");
        assert_eq!(b.set_range(60..70), 10);
        assert_eq!(b.set_range(65..130), 60);
        assert_eq!(b.count(), 70);
        assert_eq!(b.count_range(64..128), 64);
        assert_eq!(b.count_range(59..61), 1);
        assert!(!b.test(59) && b.test(60) && b.test(129) && !b.test(130));
        assert_eq!(b.clear_range(62..128), 66);
        assert_eq!(b.count(), 4);
        assert_eq!(b.clear_range(62..128), 0);
        assert!(b.test(61) && !b.test(62) && !b.test(127) && b.test(128));
        assert_eq!(w[0], 3 << 60);
        assert_eq!(w[1], 0);
        assert_eq!(w[2], 3);
        // Whole words and an empty range.
        let mut b = Bits::new(&mut w, 300).expect("sized");
        assert_eq!(b.set_range(0..256), 252);
        assert_eq!(b.set_range(10..10), 0);
        assert_eq!(b.count(), 256);
    }

    #[test]
    fn set_whole_device_and_clear_per_resync_extent() {
        let nbits = bits_for_capacity(BIG + 5);
        let mut w = storage(nbits);
        let mut b = Bits::new(&mut w, nbits).expect("sized");
        // drbd_bm_set_all(): surplus bits stay clear.
        assert_eq!(b.set_range(0..u64::MAX), nbits);
        assert_eq!(b.count(), nbits);
        // update_sync_bits() works one resync extent at a time.
        let mut left = nbits;
        for enr in 0..=bit_to_ext(nbits - 1) {
            assert_eq!(
                b.count_range(ext_bits(enr)),
                BITS_PER_EXT.min(nbits - enr * 4096)
            );
            left -= b.clear_range(ext_bits(enr));
        }
        assert_eq!((left, b.count()), (0, 0));
    }

    #[test]
    fn matches_a_bool_per_bit_model() {
        // Pseudo-random ranges (a fixed LCG, so failures reproduce) against one bool per bit.
        let nbits = 1000;
        let mut w = storage(nbits);
        let mut b = Bits::new(&mut w, nbits).expect("sized");
        let mut model = vec![false; 1000];
        let mut seed = 1u64;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        for round in 0..2000 {
            let start = next(nbits + 10);
            let end = start + next(200);
            let set = round % 3 != 0;
            let expect_changed = (start..end.min(nbits))
                .filter(|&i| model[i as usize] != set)
                .count() as u64;
            for i in start..end.min(nbits) {
                model[i as usize] = set;
            }
            let changed = if set {
                b.set_range(start..end)
            } else {
                b.clear_range(start..end)
            };
            assert_eq!(changed, expect_changed, "round {round}");
            let probe = next(nbits + 10);
            let in_model = (probe..nbits).find(|&i| model[i as usize]);
            assert_eq!(b.find_next_set(probe), in_model, "round {round}");
            assert_eq!(b.test(probe), probe < nbits && model[probe as usize]);
        }
        let ones = model.iter().filter(|&&x| x).count() as u64;
        assert_eq!(b.count(), ones);
        assert_eq!(b.count_range(0..nbits), ones);
    }

    #[test]
    fn find_next_set() {
        let mut w = storage(200);
        let mut b = Bits::new(&mut w, 200).expect("sized");
        assert_eq!(b.find_next_set(0), None);
        b.set_range(3..4);
        b.set_range(64..65);
        b.set_range(199..200);
        assert_eq!(b.find_next_set(0), Some(3));
        assert_eq!(b.find_next_set(3), Some(3));
        assert_eq!(b.find_next_set(4), Some(64));
        assert_eq!(b.find_next_set(65), Some(199));
        assert_eq!(b.find_next_set(199), Some(199));
        assert_eq!(b.find_next_set(200), None);
        assert_eq!(b.find_next_set(u64::MAX), None);
        // The resync walk: every set bit once, in order.
        let mut seen = Vec::new();
        let mut at = 0;
        while let Some(bit) = b.find_next_set(at) {
            seen.push(bit);
            at = bit + 1;
        }
        assert_eq!(seen, [3, 64, 199]);
    }

    #[test]
    fn surplus_bits_stay_clear() {
        let mut w = storage(70);
        let mut b = Bits::new(&mut w, 70).expect("sized");
        assert_eq!(b.set_range(60..1000), 10);
        assert_eq!(b.set_range(70..71), 0);
        assert!(!b.test(70));
        assert_eq!(b.count_range(0..u64::MAX), 10);
        assert_eq!(b.find_next_set(69), Some(69));
        assert_eq!(b.find_next_set(70), None);
        let mut page = [0xffu8; PAGE_BYTES];
        b.load_le(0, &page).expect("page 0");
        assert_eq!(b.count(), 70);
        b.store_le(0, &mut page).expect("page 0");
        assert_eq!(&page[8..16], &[0x3f, 0, 0, 0, 0, 0, 0, 0]);
        assert!(page[16..].iter().all(|&x| x == 0));
        assert_eq!(w[1], 0x3f);
    }

    #[test]
    fn growing_with_new_bits_set() {
        // drbd_bm_resize(set_new_bits): the new storage starts with the old words, then the new
        // bits are set. C's bm_set_surplus() is needed only because it grows pages in place.
        let mut old = storage(100);
        let mut b = Bits::new(&mut old, 100).expect("sized");
        b.set_range(0..1);
        let mut new = storage(300);
        new[..old.len()].copy_from_slice(&old);
        let mut b = Bits::new(&mut new, 300).expect("sized");
        assert_eq!(b.set_range(100..300), 200);
        assert_eq!(b.count(), 201);
        assert!(!b.test(99) && b.test(100));
        // Shrinking: the copied prefix loses its surplus (bits 150..192 of word 2).
        let mut small = [0u64; 3];
        small.copy_from_slice(&new[..3]);
        let b = Bits::new(&mut small, 150).expect("sized");
        assert_eq!(b.count(), 1 + 50);
    }

    #[test]
    fn on_disk_byte_order() {
        let mut w = storage(200);
        let mut b = Bits::new(&mut w, 200).expect("sized");
        b.set_range(0..1);
        b.set_range(9..10);
        b.set_range(64..65);
        b.set_range(199..200);
        let mut page = [0xaau8; PAGE_BYTES];
        b.store_le(0, &mut page).expect("page 0");
        assert_eq!(page[0], 0x01); // bit 0 of the device: bit 0 of byte 0
        assert_eq!(page[1], 0x02); // bit 9: bit 1 of byte 1
        assert_eq!(page[8], 0x01); // bit 64: bit 0 of byte 8
        assert_eq!(page[24], 0x80); // bit 199: bit 7 of byte 24
        let set: usize = page.iter().map(|x| x.count_ones() as usize).sum();
        assert_eq!(set, 4);
        assert_eq!(page[32..], [0u8; PAGE_BYTES - 32]);
    }

    #[test]
    fn store_load_round_trip_over_pages() {
        // Two full pages and a partial third.
        let nbits = 2 * BITS_PER_PAGE + 1000;
        let mut w = storage(nbits);
        let mut b = Bits::new(&mut w, nbits).expect("sized");
        assert_eq!(b.pages(), 3);
        for bit in (0..nbits).step_by(37) {
            b.set_range(bit..bit + 1);
        }
        b.set_range(BITS_PER_PAGE - 3..BITS_PER_PAGE + 3);
        let expected = b.count();
        let mut disk = vec![[0u8; PAGE_BYTES]; 3];
        for (i, page) in disk.iter_mut().enumerate() {
            b.store_le(i as u64, page).expect("in range");
        }
        // Bit 32768 is bit 0 of byte 0 of the second page.
        assert_eq!(disk[1][0] & 1, 1);
        assert!(disk[2][1000 / 8..].iter().all(|&x| x == 0));

        let mut w2 = storage(nbits);
        let mut r = Bits::new(&mut w2, nbits).expect("sized");
        for (i, page) in disk.iter().enumerate() {
            r.load_le(i as u64, page).expect("in range");
        }
        assert_eq!(r.count(), expected);
        assert_eq!(w, w2);
    }

    #[test]
    #[allow(clippy::reversed_empty_ranges)] // reversed ranges are the point
    fn out_of_range_input_does_not_panic() {
        let mut w = storage(100);
        let mut b = Bits::new(&mut w, 100).expect("sized");
        let mut page = [0x55u8; PAGE_BYTES];
        assert_eq!(b.store_le(1, &mut page), Err(BitmapError::PageOutOfRange));
        assert_eq!(page, [0x55; PAGE_BYTES]);
        assert_eq!(
            b.store_le(u64::MAX, &mut page),
            Err(BitmapError::PageOutOfRange)
        );
        assert_eq!(b.load_le(1, &page), Err(BitmapError::PageOutOfRange));
        assert_eq!(b.load_le(u64::MAX, &page), Err(BitmapError::PageOutOfRange));
        assert_eq!(b.count(), 0);
        assert_eq!(b.set_range(u64::MAX - 1..u64::MAX), 0);
        assert_eq!(b.set_range(50..10), 0);
        assert_eq!(b.clear_range(0..u64::MAX), 0);
        assert_eq!(b.count_range(u64::MAX..0), 0);
        assert!(!b.test(u64::MAX));
        assert_eq!(b.find_next_set(u64::MAX), None);
        assert_eq!(bit_to_sect(u64::MAX), u64::MAX);
        assert_eq!(bit_to_kib(u64::MAX), u64::MAX);
        assert_eq!(bits_for_capacity(u64::MAX), u64::MAX / 8 + 1);
        assert_eq!(pages_for_bits(u64::MAX), u64::MAX / BITS_PER_PAGE + 1);
        assert_eq!(bits_for_area(u64::MAX), u64::MAX);
        assert_eq!(ext_bits(u64::MAX), u64::MAX..u64::MAX);
        assert_eq!(al_extent_bits(u32::MAX).end, (1 << 42));
        assert_eq!(bit_to_page(u64::MAX), u64::MAX / BITS_PER_PAGE);
    }

    #[test]
    fn resync_requests_merge_aligned_runs() {
        let mut words = [0u64; 128];
        let mut bm = Bits::new(&mut words, 128 * 64).unwrap();
        assert_eq!(bm.resync_request(0, 1 << 20), None);
        bm.set_range(8..40);
        // from an aligned start the run is taken whole (32 blocks, 128 KiB), in aligned pieces
        assert_eq!(bm.resync_request(0, 1 << 20), Some((8, 8)));
        assert_eq!(bm.resync_request(16, 1 << 20), Some((16, 16)));
        assert_eq!(bm.resync_request(32, 1 << 20), Some((32, 8)));
        // an odd start takes one block
        bm.set_range(101..110);
        assert_eq!(bm.resync_request(100, 1 << 20), Some((101, 1)));
        assert_eq!(bm.resync_request(102, 1 << 20), Some((102, 2)));
        assert_eq!(bm.resync_request(104, 1 << 20), Some((104, 6)));
        // the size limit
        assert_eq!(bm.resync_request(16, 4096 * 4), Some((16, 4)));
        // not across a 16 MiB extent
        let mut big = [0u64; 4096 / 64 * 2];
        let mut bm = Bits::new(&mut big, 8192).unwrap();
        bm.set_range(4000..4200);
        let mut at = 0;
        let mut covered = 0;
        while let Some((first, n)) = bm.resync_request(at, 1 << 20) {
            assert!(first / BITS_PER_EXT == (first + n - 1) / BITS_PER_EXT);
            covered += n;
            at = first + n;
        }
        assert_eq!(covered, 200);
    }
}
