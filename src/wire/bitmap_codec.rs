// SPDX-License-Identifier: GPL-2.0
//! The bitmap exchange: after the sync handshake each node sends its whole bitmap, as a sequence
//! of `P_BITMAP` (plain) and `P_COMPRESSED_BITMAP` (run-length, VLI coded) packets, and ORs what
//! it receives into its own bitmap.
//!
//! C counterpart: fill_bitmap_rle_bits(), send_bitmap_rle_or_plain() and _drbd_send_bitmap()
//! (drbd_main.c); receive_bitmap(), receive_bitmap_plain(), recv_bm_rle_bits(),
//! decode_bitmap_c() and INFO_bm_xfer_stats() (drbd_receiver.c); the VLI code and the bit stream
//! of drbd_vli.h; `struct p_compressed_bm` (drbd_protocol.h).
//!
//! # Wire format
//!
//! Both packet kinds carry a payload after the usual packet header; a payload is at most
//! `DRBD_SOCKET_BUFFER_SIZE - header_size` bytes ([`Framing::max_payload`]).
//!
//! - `P_BITMAP`: `n` bitmap words as little-endian 64-bit integers (C sends its `unsigned long`
//!   words, aligned to 64 bits also on 32-bit hosts), starting at the word that holds the
//!   current position; `n = min(max_payload / 8, words left)`. The receiver knows `n` and
//!   rejects any other size. A plain packet that reaches the end does not finish the exchange:
//!   the sender follows it with an empty `P_BITMAP`, and that one finishes it.
//! - `P_COMPRESSED_BITMAP`: one encoding byte, then a bit stream. The encoding byte: bits 0..3
//!   are the code ([`RLE_VLI_BITS`] = 2 is the only one), bits 4..6 the number of padding bits
//!   at the end of the last byte, bit 7 whether the first run is of set bits. The bit stream is
//!   filled least significant bit first within each byte, and a multi-bit value is stored least
//!   significant bit first. It holds run lengths (each at least 1), VLI coded, alternating
//!   between runs of clear and set bits, starting at the current position; the packet finishes
//!   the exchange when the runs reach the end of the bitmap. After a compressed packet the
//!   position is the bit where its last run ended; a following plain packet restarts at the
//!   word holding that bit (bm_xfer_ctx_bit_to_word_offset()), resending a few bits, which the
//!   OR makes harmless.
//!
//! # Plain or RLE (send side)
//!
//! As fill_bitmap_rle_bits(): when RLE may be used (`net_conf->use_rle` and an agreed protocol
//! of 90 or later) and the position is before the end, the sender encodes runs from the
//! position into the `max_payload - 1` code bytes until the next code does not fit (or the end
//! is reached). With `code_bytes` the bytes the encoded runs take (the last one maybe
//! partial) and `plain_bits` the bitmap bits they cover, the packet is compressed exactly when
//! `code_bytes > 0 && plain_bits >= 8 * code_bytes`: at least as many bitmap bits as code bits,
//! the encoding byte and the packet header not counted. Otherwise it sends a plain packet from
//! the word holding the position. (A run longer than the VLI code can express, above 2^56,
//! also makes C fall back to plain; it cannot occur for real devices.)
//!
//! # Hostile peers (receive side)
//!
//! Every inconsistency is an error and the receiver refuses everything after one (C drops the
//! connection): a plain packet of another size than expected, a compressed packet of at most one
//! byte or more than `max_payload` bytes, an unknown code, a code word cut off by the end of the
//! valid bits, a run past the end of the bitmap. Valid bits left after the last complete run
//! are decoded as further runs, as in C, so any garbage there ends in one of these errors; the
//! padding bits themselves are not checked (C does not either). Zero-length runs cannot be
//! expressed (the smallest VLI value is 1). Differences from C, all on input C would also
//! reject or that leaves C in an inconsistent state: C checks only runs of set bits against the
//! end (a run of clear bits past the end goes unnoticed and the transfer never finishes
//! cleanly); here every run is checked. C applies a run of set bits before it notices that its
//! code word was cut off; here nothing of a cut-off code word is applied.

use crate::bitmap::math::{words_for_bits, Bits};
use core::fmt;

/// `DRBD_SOCKET_BUFFER_SIZE`: header and payload of a bitmap packet fit into this.
pub(crate) const SOCKET_BUFFER_SIZE: u32 = 4096;
/// `RLE_VLI_Bits` of `enum drbd_bitmap_code`: the only encoding of compressed bitmap packets.
pub(crate) const RLE_VLI_BITS: u8 = 2;

/// Fields of the encoding byte (`dcbp_get_*()`, `dcbp_set_*()`).
const ENC_CODE_MASK: u8 = 0x0f;
const ENC_PAD_SHIFT: u32 = 4;
const ENC_PAD_MASK: u8 = 0x07;
const ENC_START_SET: u8 = 0x80;

/// Bytes of 64-bit words.
const WORD_BYTES: usize = 8;

// ---------------------------------------------------------------------------------------------
// VLI code (drbd_vli.h)
// ---------------------------------------------------------------------------------------------

/// One level of the VLI code: `total` bits in all, the lowest `prefix_bits` of which are
/// `prefix`; the data bits above the prefix hold the value minus the values of the lower
/// levels. The data bit counts follow Fibonacci (1, 1, 2, 3, 5, 8, 13, 21, 34) except the last,
/// which fills 64 bits (56).
struct Level {
    total: u32,
    prefix_bits: u32,
    prefix: u64,
}

const fn level(total: u32, prefix_bits: u32, prefix: u64) -> Level {
    Level {
        total,
        prefix_bits,
        prefix,
    }
}

/// `VLI_L_1_1`, sorted by code length.
const LEVELS: [Level; 10] = [
    level(2, 1, 0x00),
    level(3, 2, 0x01),
    level(5, 3, 0x03),
    level(7, 4, 0x07),
    level(10, 5, 0x0f),
    level(14, 6, 0x1f),
    level(21, 8, 0x3f),
    level(29, 8, 0x7f),
    level(42, 8, 0xbf),
    level(64, 8, 0xff),
];

/// The largest value the VLI code can express, `2^56 + 0x400202130`.
#[cfg(test)]
pub(crate) const VLI_MAX: u64 = 0x0100_0004_0020_2130;

/// The lowest `bits` bits set (all for 64 or more).
fn low_mask(bits: u32) -> u64 {
    1u64.checked_shl(bits)
        .map_or(u64::MAX, |b| b.wrapping_sub(1))
}

/// `2^bits`, 0 when that does not fit.
fn pow2(bits: u32) -> u64 {
    1u64.checked_shl(bits).unwrap_or(0)
}

/// `__vli_encode_bits()`: the code word for `value` (in its low bits) and its length in bits;
/// `None` for 0 (`-EINVAL`) and above `VLI_MAX` (`-EOVERFLOW`).
pub(crate) fn vli_encode(value: u64) -> Option<(u64, u32)> {
    if value == 0 {
        return None;
    }
    // The smallest value of the current level.
    let mut first = 1u64;
    for level in &LEVELS {
        let data_bits = level.total.wrapping_sub(level.prefix_bits);
        let next = first.saturating_add(pow2(data_bits));
        if value < next {
            let data = value.wrapping_sub(first);
            let code = data.checked_shl(level.prefix_bits).unwrap_or(0) | level.prefix;
            return Some((code, level.total));
        }
        first = next;
    }
    None
}

/// `vli_decode_bits()`: decodes the code word in the low bits of `input` (bits beyond the
/// stream read as zero) into its value and length in bits. Every input has a valid prefix, so
/// `None` cannot happen; it stands for C's `BUG()`.
pub(crate) fn vli_decode(input: u64) -> Option<(u64, u32)> {
    let mut first = 1u64;
    for level in &LEVELS {
        if input & low_mask(level.prefix_bits) == level.prefix {
            let data = (input & low_mask(level.total))
                .checked_shr(level.prefix_bits)
                .unwrap_or(0);
            return Some((data.wrapping_add(first), level.total));
        }
        first = first.saturating_add(pow2(level.total.wrapping_sub(level.prefix_bits)));
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Bit stream (drbd_vli.h)
// ---------------------------------------------------------------------------------------------

/// The code does not fit into the rest of the bit stream (`-ENOBUFS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StreamFull;

/// A bit stream being written into a byte buffer (`struct bitstream` for output): bit `n` of
/// the stream is bit `n % 8` of byte `n / 8`.
pub(crate) struct BitWriter<'a> {
    buf: &'a mut [u8],
    /// Bits written.
    pos: usize,
}

impl<'a> BitWriter<'a> {
    /// An empty stream over `buf`, which is zeroed (bitstream_init() plus the memset() of
    /// fill_bitmap_rle_bits()).
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        buf.fill(0);
        BitWriter { buf, pos: 0 }
    }

    /// `bitstream_put_bits()`: appends the low `bits` (at most 64) bits of `val`; leaves the
    /// stream unchanged when they do not fit.
    pub(crate) fn put_bits(&mut self, val: u64, bits: u32) -> Result<(), StreamFull> {
        let bits = bits.min(64);
        let capacity = self.buf.len().saturating_mul(8);
        let end = self
            .pos
            .checked_add(bits as usize)
            .filter(|&end| end <= capacity)
            .ok_or(StreamFull)?;
        let val = val & low_mask(bits);
        let mut done = 0u32;
        while done < bits {
            let at = self.pos.wrapping_add(done as usize);
            let shift = (at % 8) as u32;
            let take = (8 - shift).min(bits - done);
            let chunk = val.checked_shr(done).unwrap_or(0) & low_mask(take);
            if let Some(byte) = self.buf.get_mut(at / 8) {
                // chunk < 2^take and shift + take <= 8, so this fits a byte.
                *byte |= (chunk << shift) as u8;
            }
            done = done.wrapping_add(take);
        }
        self.pos = end;
        Ok(())
    }

    /// Bits written so far.
    #[cfg(test)]
    pub(crate) fn bits(&self) -> usize {
        self.pos
    }

    /// Bytes holding the bits written, the last one maybe partial.
    pub(crate) fn bytes_used(&self) -> usize {
        self.pos.div_ceil(8)
    }

    /// Zero bits that pad the last byte (0..=7).
    pub(crate) fn pad_bits(&self) -> u8 {
        ((8 - self.pos % 8) % 8) as u8
    }
}

/// A bit stream being read (`struct bitstream` for input): the bytes of `buf` minus
/// `pad_bits` bits at the end.
pub(crate) struct BitReader<'a> {
    buf: &'a [u8],
    /// Bits read.
    pos: usize,
    /// Valid bits.
    end: usize,
}

impl<'a> BitReader<'a> {
    /// A stream of the bits of `buf` except the last `pad_bits`.
    pub(crate) fn new(buf: &'a [u8], pad_bits: u32) -> Self {
        let end = buf
            .len()
            .saturating_mul(8)
            .saturating_sub(pad_bits as usize);
        BitReader { buf, pos: 0, end }
    }

    /// Valid bits not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.end.saturating_sub(self.pos)
    }

    /// `bitstream_get_bits()`: reads the next `bits` bits (at most 64), or all that are left
    /// when fewer; returns them (first bit lowest) and how many were read.
    pub(crate) fn get_bits(&mut self, bits: u32) -> (u64, u32) {
        let bits = (bits.min(64) as usize).min(self.remaining()) as u32;
        let mut val = 0u64;
        let mut done = 0u32;
        while done < bits {
            let at = self.pos.wrapping_add(done as usize);
            let shift = (at % 8) as u32;
            let take = (8 - shift).min(bits - done);
            let byte = self.buf.get(at / 8).copied().unwrap_or(0);
            let chunk = u64::from(byte >> shift) & low_mask(take);
            val |= chunk.checked_shl(done).unwrap_or(0);
            done = done.wrapping_add(take);
        }
        self.pos = self.pos.saturating_add(bits as usize);
        (val, bits)
    }
}

// ---------------------------------------------------------------------------------------------
// Transfer state
// ---------------------------------------------------------------------------------------------

/// Packet sizes of the exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Framing {
    /// Bytes of the packet header (8 for `p_header80`/`p_header95`, 16 for `p_header100` from
    /// protocol 100 on); only the statistics count it.
    pub(crate) header_size: u32,
    /// Largest payload of one packet; the sender fills plain packets up to it and the receiver
    /// relies on the same value, so both sides must use the same.
    pub(crate) max_payload: u32,
}

impl Framing {
    /// The sizes C uses: payloads up to `DRBD_SOCKET_BUFFER_SIZE - header_size`.
    pub(crate) const fn socket_buffer(header_size: u32) -> Self {
        Framing {
            header_size,
            max_payload: SOCKET_BUFFER_SIZE.saturating_sub(header_size),
        }
    }

    /// At least one word per plain packet, or the exchange could not make progress.
    fn check(self) -> Result<Self, XferError> {
        if (self.max_payload as usize) < WORD_BYTES {
            return Err(XferError::PayloadTooSmall);
        }
        Ok(self)
    }

    fn max_payload(self) -> usize {
        self.max_payload as usize
    }

    /// Words of a plain packet from `word_offset` on (`num_words` of C).
    fn plain_words(self, bm_words: u64, word_offset: u64) -> u64 {
        (self.max_payload() / WORD_BYTES)
            .try_into()
            .unwrap_or(u64::MAX)
            .min(bm_words.saturating_sub(word_offset))
    }
}

/// The two packet kinds of the exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `P_BITMAP`: plain little-endian words.
    Plain,
    /// `P_COMPRESSED_BITMAP`: encoding byte and VLI coded runs.
    Compressed,
}

/// One packet produced by [`Sender::next_packet`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Packet {
    /// The command to send it as.
    pub(crate) kind: Kind,
    /// Payload bytes, at the start of the caller's buffer.
    pub(crate) len: usize,
    /// The last packet of the exchange.
    pub(crate) done: bool,
}

/// What the receiver expects after a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Progress {
    /// More bitmap packets follow.
    More,
    /// The whole bitmap was received.
    Done,
}

/// Why a step of the exchange failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum XferError {
    /// [`Framing::max_payload`] cannot hold one word.
    PayloadTooSmall,
    /// The caller's output buffer is shorter than [`Framing::max_payload`].
    BufferTooSmall,
    /// The bitmap words are fewer than the bit count needs, or the [`Bits`] given to the
    /// receiver has another bit count than the receiver was made for.
    BitmapMismatch,
    /// The exchange is already complete.
    Finished,
    /// A previous packet failed; the exchange cannot continue (C drops the connection).
    Aborted,
    /// Two runs of the same polarity while encoding (C: "unexpected zero runlength"); cannot
    /// happen with the words borrowed for the whole packet.
    ZeroRun,
    /// A plain packet of another size than the position and framing give (C: "want != size").
    PlainSize {
        /// Bytes expected.
        want: usize,
        /// Bytes received.
        got: usize,
    },
    /// A compressed packet larger than the maximum payload ("packet too large").
    CompressedTooLarge,
    /// A compressed packet without any code byte ("packet too small").
    CompressedTooSmall,
    /// A compressed packet with an unknown code in its encoding byte (the whole byte).
    UnknownEncoding(u8),
    /// A code word cut off by the end of the valid bits ("bitmap decoding error").
    TruncatedCode,
    /// A run reaching past the end of the bitmap ("bitmap overflow").
    RunOverflow,
}

/// Packets and bytes (header included) of each kind (`bm_xfer_ctx.packets`, `.bytes`); `u32`
/// and wrapping as C's `unsigned`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Stats {
    /// `P_BITMAP` packets (`packets[1]`).
    pub(crate) plain_packets: u32,
    /// Their bytes (`bytes[1]`).
    pub(crate) plain_bytes: u32,
    /// `P_COMPRESSED_BITMAP` packets (`packets[0]`).
    pub(crate) rle_packets: u32,
    /// Their bytes (`bytes[0]`).
    pub(crate) rle_bytes: u32,
}

impl Stats {
    fn record(&mut self, kind: Kind, framing: Framing, payload: usize) {
        let bytes = framing
            .header_size
            .wrapping_add(u32::try_from(payload).unwrap_or(u32::MAX));
        let (packets, total) = match kind {
            Kind::Plain => (&mut self.plain_packets, &mut self.plain_bytes),
            Kind::Compressed => (&mut self.rle_packets, &mut self.rle_bytes),
        };
        *packets = packets.wrapping_add(1);
        *total = total.wrapping_add(bytes);
    }

    /// What INFO_bm_xfer_stats() logs after the exchange, or `None` when it logs nothing (no
    /// bytes, or not fewer bytes than a plain transfer). `bm_words` counts 64-bit words.
    ///
    /// The plain size is C's estimate, `header_size * (DIV_ROUND_UP(bm_words, data_size) + 1)`
    /// plus `bm_words * 8`, with `data_size = max_payload`; it divides words by bytes, so it
    /// undercounts the headers, and it is truncated to 32 bits. Kept as is: it only feeds the
    /// log line.
    pub(crate) fn summary(
        &self,
        direction: &'static str,
        bm_words: u64,
        framing: Framing,
    ) -> Option<Summary> {
        let data_size = u64::from(framing.max_payload);
        let packets = bm_words.div_ceil(data_size.max(1)).wrapping_add(1);
        let plain = u64::from(framing.header_size)
            .wrapping_mul(packets)
            .wrapping_add(bm_words.wrapping_mul(8)) as u32;
        let total = self.rle_bytes.wrapping_add(self.plain_bytes);
        if total == 0 || total >= plain {
            return None;
        }
        let used = if total > u32::MAX / 1000 {
            total.checked_div(plain / 1000).unwrap_or(1000)
        } else {
            (1000 * total).checked_div(plain).unwrap_or(1000)
        };
        Some(Summary {
            direction,
            stats: *self,
            total,
            saved_permille: 1000 - used.min(1000),
        })
    }
}

/// The statistics line of INFO_bm_xfer_stats(); its [`fmt::Display`] is C's message without
/// the device prefix and newline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Summary {
    /// "send" or "receive".
    pub(crate) direction: &'static str,
    /// The counters.
    pub(crate) stats: Stats,
    /// All bytes of both kinds.
    pub(crate) total: u32,
    /// Bytes saved against a plain transfer, in tenths of a percent.
    pub(crate) saved_permille: u32,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} bitmap stats [Bytes(packets)]: plain {}({}), RLE {}({}), total {}; \
             compression: {}.{}%",
            self.direction,
            self.stats.plain_bytes,
            self.stats.plain_packets,
            self.stats.rle_bytes,
            self.stats.rle_packets,
            self.total,
            self.saved_permille / 10,
            self.saved_permille % 10
        )
    }
}

/// The first bit at or after `from` that is set (`set`) or clear, or `nbits` when there is
/// none before the end (_drbd_bm_find_next(), _drbd_bm_find_next_zero()). Bits from `nbits` on
/// are ignored, whatever the words hold there.
fn find_next(words: &[u64], nbits: u64, from: u64, set: bool) -> u64 {
    if from >= nbits {
        return nbits;
    }
    let load = |w: u64| {
        let word = usize::try_from(w)
            .ok()
            .and_then(|i| words.get(i))
            .copied()
            .unwrap_or(0);
        if set {
            word
        } else {
            !word
        }
    };
    let mut w = from / 64;
    let mut word = load(w) & (u64::MAX << (from % 64));
    while word == 0 {
        w += 1;
        if w.saturating_mul(64) >= nbits {
            return nbits;
        }
        word = load(w);
    }
    w.saturating_mul(64)
        .saturating_add(u64::from(word.trailing_zeros()))
        .min(nbits)
}

/// The sending side: produces the packets of one bitmap, one at a time (`bm_xfer_ctx` of
/// _drbd_send_bitmap()).
pub(crate) struct Sender {
    nbits: u64,
    bm_words: u64,
    framing: Framing,
    use_rle: bool,
    /// The first bit not sent yet (`bit_offset`).
    next_bit: u64,
    /// The word the next plain packet starts at (`word_offset`).
    next_word: u64,
    done: bool,
    stats: Stats,
}

impl Sender {
    /// A transfer of a bitmap of `nbits` bits. `use_rle` is C's `net_conf->use_rle &&
    /// agreed_pro_version >= 90`; without it all packets are plain.
    pub(crate) fn new(nbits: u64, framing: Framing, use_rle: bool) -> Result<Self, XferError> {
        Ok(Sender {
            nbits,
            bm_words: words_for_bits(nbits),
            framing: framing.check()?,
            use_rle,
            next_bit: 0,
            next_word: 0,
            done: false,
            stats: Stats::default(),
        })
    }

    /// The first bit not sent yet.
    #[cfg(test)]
    pub(crate) fn next_bit(&self) -> u64 {
        self.next_bit
    }

    /// Whether the last packet was produced.
    #[cfg(test)]
    pub(crate) fn is_done(&self) -> bool {
        self.done
    }

    /// The counters so far.
    #[cfg(test)]
    pub(crate) fn stats(&self) -> Stats {
        self.stats
    }

    /// The "send" statistics line, see [`Stats::summary`].
    pub(crate) fn summary(&self) -> Option<Summary> {
        self.stats.summary("send", self.bm_words, self.framing)
    }

    /// send_bitmap_rle_or_plain(): writes the next packet's payload to the start of `out`
    /// (at least [`Framing::max_payload`] bytes) from the bitmap `words` (at least
    /// [`words_for_bits`] of the bit count; bits beyond the bit count are not sent).
    pub(crate) fn next_packet(
        &mut self,
        words: &[u64],
        out: &mut [u8],
    ) -> Result<Packet, XferError> {
        if self.done {
            return Err(XferError::Finished);
        }
        let have = u64::try_from(words.len()).unwrap_or(u64::MAX);
        if have < self.bm_words {
            return Err(XferError::BitmapMismatch);
        }
        let out = out
            .get_mut(..self.framing.max_payload())
            .ok_or(XferError::BufferTooSmall)?;
        if let Some(code_bytes) = self.fill_rle(words, out)? {
            let len = code_bytes.saturating_add(1);
            self.stats.record(Kind::Compressed, self.framing, len);
            self.done = self.next_bit >= self.nbits;
            return Ok(Packet {
                kind: Kind::Compressed,
                len,
                done: self.done,
            });
        }
        // Not compressible (or RLE not allowed): a buffer full of plain words.
        let num_words = self.framing.plain_words(self.bm_words, self.next_word);
        let mut len = 0usize;
        for i in 0..num_words {
            let w = self.next_word.saturating_add(i);
            let mut word = usize::try_from(w)
                .ok()
                .and_then(|w| words.get(w))
                .copied()
                .unwrap_or(0);
            // Bits past the end, which C keeps clear (bm_clear_surplus()).
            let first = w.saturating_mul(64);
            if self.nbits.saturating_sub(first) < 64 {
                word &= low_mask((self.nbits.saturating_sub(first)) as u32);
            }
            if let Some(dst) = out
                .get_mut(len..)
                .and_then(|rest| rest.first_chunk_mut::<WORD_BYTES>())
            {
                *dst = word.to_le_bytes();
            }
            len = len.saturating_add(WORD_BYTES);
        }
        self.next_word = self.next_word.saturating_add(num_words);
        self.next_bit = self.next_word.saturating_mul(64).min(self.nbits);
        self.stats.record(Kind::Plain, self.framing, len);
        self.done = len == 0;
        Ok(Packet {
            kind: Kind::Plain,
            len,
            done: self.done,
        })
    }

    /// fill_bitmap_rle_bits(): encodes runs from the position into `out` (encoding byte and
    /// code) and returns the code bytes, or `None` for a plain packet, with the position set
    /// back to the word holding it.
    fn fill_rle(&mut self, words: &[u64], out: &mut [u8]) -> Result<Option<usize>, XferError> {
        if !self.use_rle || self.next_bit >= self.nbits {
            return Ok(None);
        }
        let Some((header, code)) = out.split_first_mut() else {
            return Ok(None);
        };
        let mut stream = BitWriter::new(code);
        let start = self.next_bit;
        let mut pos = start;
        let mut plain_bits = 0u64;
        let mut first = true;
        let mut start_set = false;
        let mut run_of_set = false;
        let mut fits = true;
        while pos < self.nbits {
            // A run of clear bits ends at the next set bit and vice versa.
            let end = find_next(words, self.nbits, pos, !run_of_set);
            let run = end.saturating_sub(pos);
            if first {
                first = false;
                if run == 0 {
                    // The first bit is set: say so in the encoding byte, encode no empty run.
                    start_set = true;
                    run_of_set = true;
                    continue;
                }
            }
            if run == 0 {
                return Err(XferError::ZeroRun);
            }
            let Some((code, bits)) = vli_encode(run) else {
                fits = false;
                break;
            };
            if stream.put_bits(code, bits).is_err() {
                break;
            }
            run_of_set = !run_of_set;
            plain_bits = plain_bits.saturating_add(run);
            pos = end;
        }
        let code_bytes = stream.bytes_used();
        let code_bits = u64::try_from(code_bytes)
            .unwrap_or(u64::MAX)
            .saturating_mul(8);
        if !fits || code_bytes == 0 || plain_bits < code_bits {
            // Incompressible: plain from the word holding the position.
            self.next_word = start / 64;
            self.next_bit = self.next_word.saturating_mul(64);
            return Ok(None);
        }
        *header = (if start_set { ENC_START_SET } else { 0 })
            | (stream.pad_bits() << ENC_PAD_SHIFT)
            | RLE_VLI_BITS;
        self.next_bit = pos;
        self.next_word = pos / 64;
        Ok(Some(code_bytes))
    }
}

/// The receiving side: applies the packets of the peer's bitmap (receive_bitmap()).
pub(crate) struct Receiver {
    nbits: u64,
    bm_words: u64,
    framing: Framing,
    /// The first bit not received yet (`bit_offset`).
    next_bit: u64,
    /// The word the next plain packet starts at (`word_offset`).
    next_word: u64,
    done: bool,
    failed: bool,
    newly_set: u64,
    stats: Stats,
}

impl Receiver {
    /// A transfer into a bitmap of `nbits` bits; `framing` must be the sender's.
    pub(crate) fn new(nbits: u64, framing: Framing) -> Result<Self, XferError> {
        Ok(Receiver {
            nbits,
            bm_words: words_for_bits(nbits),
            framing: framing.check()?,
            next_bit: 0,
            next_word: 0,
            done: false,
            failed: false,
            newly_set: 0,
            stats: Stats::default(),
        })
    }

    /// The first bit not received yet.
    #[cfg(test)]
    pub(crate) fn next_bit(&self) -> u64 {
        self.next_bit
    }

    /// Whether the whole bitmap was received.
    #[cfg(test)]
    pub(crate) fn is_done(&self) -> bool {
        self.done
    }

    /// Bits that the exchange set and that were clear before (for the bitmap's set count).
    pub(crate) fn newly_set(&self) -> u64 {
        self.newly_set
    }

    /// The counters so far.
    #[cfg(test)]
    pub(crate) fn stats(&self) -> Stats {
        self.stats
    }

    /// The "receive" statistics line, see [`Stats::summary`].
    pub(crate) fn summary(&self) -> Option<Summary> {
        self.stats.summary("receive", self.bm_words, self.framing)
    }

    /// Applies one packet's `payload` to `bm` (ORs the peer's bits in). After an error the
    /// exchange is dead: all further packets fail with [`XferError::Aborted`].
    pub(crate) fn receive(
        &mut self,
        kind: Kind,
        payload: &[u8],
        bm: &mut Bits<'_>,
    ) -> Result<Progress, XferError> {
        if self.failed {
            return Err(XferError::Aborted);
        }
        if self.done {
            return Err(XferError::Finished);
        }
        let result = if bm.nbits() != self.nbits {
            Err(XferError::BitmapMismatch)
        } else {
            match kind {
                Kind::Plain => self.receive_plain(payload, bm),
                Kind::Compressed => self.receive_rle(payload, bm),
            }
        };
        match result {
            Ok(progress) => {
                self.stats.record(kind, self.framing, payload.len());
                self.done = progress == Progress::Done;
            }
            Err(_) => self.failed = true,
        }
        result
    }

    /// receive_bitmap_plain().
    fn receive_plain(&mut self, payload: &[u8], bm: &mut Bits<'_>) -> Result<Progress, XferError> {
        let num_words = self.framing.plain_words(self.bm_words, self.next_word);
        let want = usize::try_from(num_words)
            .unwrap_or(usize::MAX)
            .saturating_mul(WORD_BYTES);
        if payload.len() != want {
            return Err(XferError::PlainSize {
                want,
                got: payload.len(),
            });
        }
        if want == 0 {
            return Ok(Progress::Done);
        }
        let mut w = self.next_word;
        for chunk in payload.chunks(WORD_BYTES) {
            let mut le = [0u8; WORD_BYTES];
            if let Some(dst) = le.get_mut(..chunk.len()) {
                dst.copy_from_slice(chunk);
            }
            self.merge_word(bm, w, u64::from_le_bytes(le));
            w = w.saturating_add(1);
        }
        self.next_word = self.next_word.saturating_add(num_words);
        self.next_bit = self.next_word.saturating_mul(64).min(self.nbits);
        Ok(Progress::More)
    }

    /// ORs `word` into word `w` of `bm` (drbd_bm_merge_lel()); bits past the end are dropped
    /// (bm_clear_surplus()).
    fn merge_word(&mut self, bm: &mut Bits<'_>, w: u64, word: u64) {
        let base = w.saturating_mul(64);
        let mut rest = word;
        while rest != 0 {
            let lo = rest.trailing_zeros();
            let ones = rest.checked_shr(lo).unwrap_or(0).trailing_ones();
            let hi = lo.saturating_add(ones);
            let range = base.saturating_add(u64::from(lo))..base.saturating_add(u64::from(hi));
            self.newly_set = self.newly_set.saturating_add(bm.set_range(range));
            rest &= !low_mask(hi);
        }
    }

    /// The size checks of receive_bitmap(), decode_bitmap_c() and recv_bm_rle_bits().
    fn receive_rle(&mut self, payload: &[u8], bm: &mut Bits<'_>) -> Result<Progress, XferError> {
        if payload.len() > self.framing.max_payload() {
            return Err(XferError::CompressedTooLarge);
        }
        let Some((&encoding, code)) = payload.split_first() else {
            return Err(XferError::CompressedTooSmall);
        };
        if code.is_empty() {
            return Err(XferError::CompressedTooSmall);
        }
        if encoding & ENC_CODE_MASK != RLE_VLI_BITS {
            return Err(XferError::UnknownEncoding(encoding));
        }
        let pad_bits = u32::from((encoding >> ENC_PAD_SHIFT) & ENC_PAD_MASK);
        let mut set = encoding & ENC_START_SET != 0;
        let mut stream = BitReader::new(code, pad_bits);
        let mut pos = self.next_bit;
        // Up to 64 bits of the stream, the next code word in the lowest `have` of them.
        let (mut look_ahead, mut have) = stream.get_bits(64);
        while have > 0 {
            let (run, bits) = vli_decode(look_ahead).ok_or(XferError::TruncatedCode)?;
            if have < bits {
                return Err(XferError::TruncatedCode);
            }
            let end = pos
                .checked_add(run)
                .filter(|&end| end <= self.nbits)
                .ok_or(XferError::RunOverflow)?;
            if set {
                self.newly_set = self.newly_set.saturating_add(bm.set_range(pos..end));
            }
            pos = end;
            set = !set;
            look_ahead = look_ahead.checked_shr(bits).unwrap_or(0);
            have = have.saturating_sub(bits);
            let (more, got) = stream.get_bits(64u32.saturating_sub(have));
            look_ahead |= more.checked_shl(have).unwrap_or(0);
            have = have.saturating_add(got);
        }
        self.next_bit = pos;
        self.next_word = pos / 64;
        Ok(if pos == self.nbits {
            Progress::Done
        } else {
            Progress::More
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;
    use std::vec::Vec;

    /// xorshift64*, so that the tests need no crates.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n.max(1)
        }
    }

    /// (largest value, code bits) of each level, as the table of drbd_vli.h lists them.
    const TABLE: [(u64, u32); 10] = [
        (0x2, 2),
        (0x4, 3),
        (0x8, 5),
        (0x10, 7),
        (0x30, 10),
        (0x130, 14),
        (0x2130, 21),
        (0x20_2130, 29),
        (0x4_0020_2130, 42),
        (0x100_0004_0020_2130, 64),
    ];

    /// Code length of `v` by the table, independent of [`LEVELS`].
    fn table_len(v: u64) -> u32 {
        TABLE
            .iter()
            .find(|&&(max, _)| v <= max)
            .map(|&(_, l)| l)
            .unwrap()
    }

    #[test]
    fn vli_level_boundaries_round_trip() {
        let mut first = 1u64;
        for &(max, len) in &TABLE {
            for v in [first, first + 1, max - 1, max] {
                let (code, bits) = vli_encode(v).unwrap();
                assert_eq!(bits, len, "length of {v:#x}");
                assert!(bits == 64 || code >> bits == 0, "stray bits for {v:#x}");
                assert_eq!(vli_decode(code), Some((v, len)), "decode {v:#x}");
                // Bits after the code word do not matter.
                let junk = if bits == 64 { 0 } else { u64::MAX << bits };
                assert_eq!(vli_decode(code | junk), Some((v, len)));
            }
            first = max + 1;
        }
        assert_eq!(VLI_MAX, TABLE[9].0);
        assert_eq!(vli_encode(0), None);
        assert_eq!(vli_encode(VLI_MAX + 1), None);
        assert_eq!(vli_encode(u64::MAX), None);
    }

    #[test]
    fn vli_exact_codes() {
        // "0 x": 1 -> 0b00, 2 -> 0b10 (prefix bit 0 is the lowest bit).
        assert_eq!(vli_encode(1), Some((0b00, 2)));
        assert_eq!(vli_encode(2), Some((0b10, 2)));
        // "10 x": prefix bits 1 then 0, lowest first: 0b01; 3 -> 0b001, 4 -> 0b101.
        assert_eq!(vli_encode(3), Some((0b001, 3)));
        assert_eq!(vli_encode(4), Some((0b101, 3)));
        // "110 xx": 5 -> 0b00011, 8 -> 0b11011.
        assert_eq!(vli_encode(5), Some((0b00011, 5)));
        assert_eq!(vli_encode(8), Some((0b11011, 5)));
        // "1110 xxx": 9 -> 0b0000111, 16 -> 0b1110111.
        assert_eq!(vli_encode(9), Some((0b000_0111, 7)));
        assert_eq!(vli_encode(16), Some((0b111_0111, 7)));
        // "11110 xxxxx": 17 -> 0x0f, 0x30 -> 31 << 5 | 0x0f.
        assert_eq!(vli_encode(17), Some((0x0f, 10)));
        assert_eq!(vli_encode(0x30), Some((31 << 5 | 0x0f, 10)));
        // "111110 x{8}", "11111100 x{13}", "11111110 x{21}", "11111101 x{34}", "11111111 x{56}"
        assert_eq!(vli_encode(0x31), Some((0x1f, 14)));
        assert_eq!(vli_encode(0x131), Some((0x3f, 21)));
        assert_eq!(vli_encode(0x2131), Some((0x7f, 29)));
        assert_eq!(vli_encode(0x20_2131), Some((0xbf, 42)));
        assert_eq!(vli_encode(0x4_0020_2131), Some((0xff, 64)));
        assert_eq!(vli_encode(VLI_MAX), Some((u64::MAX, 64)));
        // Every input decodes (a complete prefix code); all-zero input is the value 1.
        assert_eq!(vli_decode(0), Some((1, 2)));
        assert_eq!(vli_decode(u64::MAX), Some((VLI_MAX, 64)));
    }

    #[test]
    fn vli_random_round_trip() {
        let mut rng = Rng(0x1234_5678_9abc_def1);
        for _ in 0..20_000 {
            let v = (rng.next() >> rng.below(64)).clamp(1, VLI_MAX);
            let (code, bits) = vli_encode(v).unwrap();
            assert_eq!(bits, table_len(v));
            assert_eq!(vli_decode(code), Some((v, bits)));
        }
        // Decoding arbitrary words never fails and re-encodes to the same code word.
        for _ in 0..20_000 {
            let x = rng.next();
            let (v, bits) = vli_decode(x).unwrap();
            let (code, len) = vli_encode(v).unwrap();
            assert_eq!(len, bits);
            assert_eq!(code, x & low_mask(bits));
        }
    }

    #[test]
    fn bitstream_layout() {
        let mut buf = [0xaau8; 4];
        let mut w = BitWriter::new(&mut buf);
        w.put_bits(0b101, 3).unwrap();
        w.put_bits(0xffff_ffff_ffff_ff3c, 8).unwrap(); // high bits are stripped
        w.put_bits(0b1, 1).unwrap();
        assert_eq!((w.bits(), w.bytes_used(), w.pad_bits()), (12, 2, 4));
        assert_eq!(w.put_bits(0, 21), Err(StreamFull));
        assert_eq!(w.bits(), 12);
        w.put_bits(0xfffff, 20).unwrap();
        assert_eq!((w.bits(), w.bytes_used(), w.pad_bits()), (32, 4, 0));
        assert_eq!(w.put_bits(1, 1), Err(StreamFull));
        // Least significant bit first: 101, then 0x3c, then 1, then twenty ones.
        assert_eq!(buf, [0xe5, 0xf9, 0xff, 0xff]);

        let mut r = BitReader::new(&buf, 4);
        assert_eq!(r.remaining(), 28);
        assert_eq!(r.get_bits(3), (0b101, 3));
        assert_eq!(r.get_bits(8), (0x3c, 8));
        assert_eq!(r.get_bits(1), (1, 1));
        assert_eq!(r.get_bits(64), (0xffff, 16));
        assert_eq!(r.get_bits(64), (0, 0));
        // More padding than bits.
        let mut r = BitReader::new(&buf[..0], 7);
        assert_eq!(r.get_bits(5), (0, 0));
    }

    #[test]
    fn bitstream_random_round_trip() {
        let mut rng = Rng(77);
        let mut buf = vec![0u8; 300];
        for _ in 0..200 {
            let mut fields = Vec::new();
            let mut w = BitWriter::new(&mut buf);
            loop {
                let bits = rng.below(65) as u32;
                let val = rng.next();
                if w.put_bits(val, bits).is_err() {
                    break;
                }
                fields.push((val & low_mask(bits), bits));
            }
            let total: u32 = fields.iter().map(|f| f.1).sum();
            assert_eq!(w.bits(), total as usize);
            let pad = u32::from(w.pad_bits());
            let used = w.bytes_used();
            let mut r = BitReader::new(&buf[..used], pad);
            for &(val, bits) in &fields {
                assert_eq!(r.get_bits(bits), (val, bits));
            }
            assert_eq!(r.remaining(), 0);
        }
    }

    /// Bits `0..nbits` of `words`, one by one.
    fn bit(words: &[u64], n: u64) -> bool {
        words[(n / 64) as usize] >> (n % 64) & 1 != 0
    }

    /// What fill_bitmap_rle_bits() decides at `from`, computed bit by bit: `Some((covered,
    /// code bytes))` for a compressed packet.
    fn expect_rle(words: &[u64], nbits: u64, from: u64, cap_bytes: usize) -> Option<(u64, usize)> {
        let mut pos = from;
        let mut code_bits = 0u64;
        while pos < nbits {
            let polarity = bit(words, pos);
            let mut end = pos;
            while end < nbits && bit(words, end) == polarity {
                end += 1;
            }
            let len = u64::from(table_len(end - pos));
            if code_bits + len > cap_bytes as u64 * 8 {
                break;
            }
            code_bits += len;
            pos = end;
        }
        let bytes = code_bits.div_ceil(8);
        (bytes > 0 && pos - from >= bytes * 8).then_some((pos - from, bytes as usize))
    }

    struct Outcome {
        received: Vec<u64>,
        plain: usize,
        rle: usize,
    }

    /// Sends `words` through packet buffers of `framing` and checks every packet.
    fn exchange(words: &[u64], nbits: u64, framing: Framing, use_rle: bool) -> Outcome {
        let mut sender = Sender::new(nbits, framing, use_rle).unwrap();
        let mut receiver = Receiver::new(nbits, framing).unwrap();
        let mut storage = vec![0u64; words_for_bits(nbits) as usize];
        let mut bm = Bits::new(&mut storage, nbits).unwrap();
        // Garbage after the payload must not matter.
        let mut buf = vec![0x5au8; framing.max_payload as usize + 3];
        let (mut plain, mut rle) = (0, 0);
        for _ in 0..10_000_000 {
            let from = sender.next_bit();
            let expected = if use_rle && from < nbits {
                expect_rle(words, nbits, from, framing.max_payload as usize - 1)
            } else {
                None
            };
            let packet = sender.next_packet(words, &mut buf).unwrap();
            assert!(packet.len <= framing.max_payload as usize);
            match packet.kind {
                Kind::Compressed => {
                    let (covered, bytes) = expected.expect("compressed, but should be plain");
                    assert_eq!(packet.len, bytes + 1);
                    assert_eq!(sender.next_bit(), from + covered);
                    assert_eq!(buf[0] & 0x0f, 2);
                    assert_eq!(buf[0] & 0x80 != 0, bit(words, from));
                    rle += 1;
                }
                Kind::Plain => {
                    assert_eq!(expected, None, "plain, but should be compressed at {from}");
                    assert_eq!(packet.len % 8, 0);
                    plain += 1;
                }
            }
            let progress = receiver
                .receive(packet.kind, &buf[..packet.len], &mut bm)
                .unwrap();
            assert_eq!(progress == Progress::Done, packet.done);
            assert_eq!(receiver.next_bit(), sender.next_bit());
            if packet.done {
                assert!(sender.is_done() && receiver.is_done());
                assert_eq!(
                    sender.next_packet(words, &mut buf),
                    Err(XferError::Finished)
                );
                assert_eq!(
                    receiver.receive(Kind::Plain, &[], &mut bm),
                    Err(XferError::Finished)
                );
                assert_eq!(sender.stats(), receiver.stats());
                assert_eq!(receiver.newly_set(), bm.count());
                let stats = sender.stats();
                assert_eq!(
                    (stats.plain_packets as usize, stats.rle_packets as usize),
                    (plain, rle)
                );
                return Outcome {
                    received: storage,
                    plain,
                    rle,
                };
            }
        }
        panic!("no end");
    }

    fn masked(words: &[u64], nbits: u64) -> Vec<u64> {
        let mut v = words.to_vec();
        Bits::new(&mut v, nbits).unwrap();
        v
    }

    const FRAMINGS: [Framing; 6] = [
        Framing::socket_buffer(16),
        Framing::socket_buffer(8),
        Framing {
            header_size: 8,
            max_payload: 8,
        },
        Framing {
            header_size: 8,
            max_payload: 13,
        },
        Framing {
            header_size: 8,
            max_payload: 100,
        },
        Framing {
            header_size: 16,
            max_payload: 1000,
        },
    ];

    const SIZES: [u64; 8] = [1, 7, 63, 65, 127, 1001, 70_001, 300_007];

    fn check_pattern(
        name: &str,
        make: impl Fn(u64, &mut Rng) -> Vec<u64>,
        want: fn(u64, &Outcome) -> bool,
    ) {
        let mut rng = Rng(0xdead_beef_cafe_f00d);
        for nbits in SIZES {
            let mut words = make(nbits, &mut rng);
            // Garbage in the surplus bits of the sender's last word is not sent.
            if nbits % 64 != 0 {
                *words.last_mut().unwrap() |= u64::MAX << (nbits % 64);
            }
            for framing in FRAMINGS {
                for use_rle in [true, false] {
                    let out = exchange(&words, nbits, framing, use_rle);
                    assert_eq!(out.received, masked(&words, nbits), "{name} {nbits}");
                    if !use_rle {
                        assert_eq!(out.rle, 0);
                    } else {
                        assert!(
                            want(nbits, &out),
                            "{name} {nbits} {framing:?}: {} plain {} rle",
                            out.plain,
                            out.rle
                        );
                    }
                }
            }
        }
    }

    fn words_of(nbits: u64, f: impl FnMut(u64) -> bool) -> Vec<u64> {
        let mut f = f;
        let mut words = vec![0u64; words_for_bits(nbits) as usize];
        for n in 0..nbits {
            if f(n) {
                words[(n / 64) as usize] |= 1 << (n % 64);
            }
        }
        words
    }

    fn one_run(nbits: u64, o: &Outcome) -> bool {
        if nbits < 8 {
            (o.rle, o.plain) == (0, 2)
        } else {
            (o.rle, o.plain) == (1, 0)
        }
    }

    #[test]
    fn exchange_empty() {
        // One compressed packet: a single clear run, except that a bitmap of fewer than 8 bits does
        // not fill the code byte of its run and goes plain (in one packet and the empty one).
        check_pattern("empty", |n, _| words_of(n, |_| false), one_run);
    }

    #[test]
    fn exchange_full() {
        check_pattern("full", |n, _| words_of(n, |_| true), one_run);
    }

    #[test]
    fn exchange_alternating() {
        // Runs of one bit cost two code bits each: never compressed (single bits apart, a
        // bitmap of one bit is a run of 1 in 2 code bits, one byte for one bit).
        check_pattern(
            "alternating",
            |n, _| words_of(n, |b| b % 2 == 1),
            |_, o| o.rle == 0,
        );
    }

    #[test]
    fn exchange_random_sparse() {
        check_pattern(
            "sparse",
            |n, rng| words_of(n, |_| rng.below(300) == 0),
            |n, o| {
                if n < 8 {
                    o.rle == 0
                } else {
                    o.rle >= 1 && o.rle > o.plain
                }
            },
        );
    }

    #[test]
    fn exchange_random_dense() {
        check_pattern(
            "dense",
            |n, rng| words_of(n, |_| rng.below(2) == 0),
            |_, o| o.plain >= 1 && o.rle * 20 <= o.plain,
        );
    }

    #[test]
    fn exchange_mixed_regions() {
        // Noise and long runs in turn: the sender switches between the two kinds, plain packets
        // restarting at the word that holds the position.
        let mut rng = Rng(99);
        let nbits = 1_000_003;
        let words = words_of(nbits, |b| {
            if (b / 100_000) % 2 == 0 {
                rng.below(2) == 0
            } else {
                (b / 5_000) % 2 == 0
            }
        });
        for framing in FRAMINGS {
            let out = exchange(&words, nbits, framing, true);
            assert_eq!(out.received, words);
            assert!(out.rle > 0 && out.plain > 0, "{framing:?}");
        }
    }

    #[test]
    fn exchange_ors_into_the_receivers_bits() {
        let nbits = 1000;
        let framing = Framing::socket_buffer(16);
        let words = words_of(nbits, |b| b < 10);
        let mut sender = Sender::new(nbits, framing, true).unwrap();
        let mut receiver = Receiver::new(nbits, framing).unwrap();
        let mut storage = words_of(nbits, |b| (5..20).contains(&b) || b == 999);
        let mut bm = Bits::new(&mut storage, nbits).unwrap();
        let mut buf = vec![0u8; 4080];
        let p = sender.next_packet(&words, &mut buf).unwrap();
        assert!(p.done && p.kind == Kind::Compressed);
        assert_eq!(
            receiver.receive(p.kind, &buf[..p.len], &mut bm),
            Ok(Progress::Done)
        );
        assert_eq!(receiver.newly_set(), 5);
        assert_eq!(bm.count(), 21);
    }

    #[test]
    fn exact_compressed_packet() {
        // 100 bits, 3..6 set: runs clear 3 ("10" + "0"), set 3, clear 94 (14-bit level,
        // (94 - 49) << 6 | 0x1f); 20 code bits, 3 bytes, 4 padding bits.
        let words = [0b111000u64, 0];
        let mut sender = Sender::new(100, Framing::socket_buffer(16), true).unwrap();
        let mut buf = [0u8; 4080];
        let p = sender.next_packet(&words, &mut buf).unwrap();
        assert_eq!(
            p,
            Packet {
                kind: Kind::Compressed,
                len: 4,
                done: true
            }
        );
        let code: u64 = 0b001 | 0b001 << 3 | ((94 - 49) << 6 | 0x1f) << 6;
        assert_eq!(code, 0x2d7c9);
        assert_eq!(buf[..4], [0x42, 0xc9, 0xd7, 0x02]);

        // The first bit set: bit 7 of the encoding byte, no empty run.
        let words = [0b1u64, 0];
        let mut sender = Sender::new(100, Framing::socket_buffer(16), true).unwrap();
        let p = sender.next_packet(&words, &mut buf).unwrap();
        // set 1 (0b00), clear 99 ((99 - 49) << 6 | 0x1f): 16 bits, no padding.
        assert_eq!(p.len, 3);
        let code: u64 = ((99 - 49) << 6 | 0x1f) << 2;
        assert_eq!(buf[..3], [0x82, code as u8, (code >> 8) as u8]);
    }

    #[test]
    fn plain_wire_words() {
        // use_rle off: little-endian words, then an empty packet ends it.
        let nbits = 130;
        let words = [0x0102_0304_0506_0708u64, u64::MAX, u64::MAX];
        let framing = Framing {
            header_size: 8,
            max_payload: 16,
        };
        let mut sender = Sender::new(nbits, framing, false).unwrap();
        let mut buf = [0u8; 16];
        let p = sender.next_packet(&words, &mut buf).unwrap();
        assert_eq!(
            p,
            Packet {
                kind: Kind::Plain,
                len: 16,
                done: false
            }
        );
        assert_eq!(buf[..8], [8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(sender.next_bit(), 128);
        let p = sender.next_packet(&words, &mut buf).unwrap();
        assert_eq!(
            p,
            Packet {
                kind: Kind::Plain,
                len: 8,
                done: false
            }
        );
        assert_eq!(buf[..8], [3, 0, 0, 0, 0, 0, 0, 0]); // surplus bits masked
        assert_eq!(sender.next_bit(), 130);
        let p = sender.next_packet(&words, &mut buf).unwrap();
        assert_eq!(
            p,
            Packet {
                kind: Kind::Plain,
                len: 0,
                done: true
            }
        );
        let s = sender.stats();
        assert_eq!((s.plain_packets, s.plain_bytes, s.rle_packets), (3, 48, 0));
    }

    #[test]
    fn zero_bits() {
        let framing = Framing::socket_buffer(16);
        for use_rle in [true, false] {
            let out = exchange(&[], 0, framing, use_rle);
            assert_eq!((out.plain, out.rle), (1, 0));
        }
    }

    #[test]
    fn caller_errors() {
        let tiny = Framing {
            header_size: 8,
            max_payload: 7,
        };
        assert_eq!(
            Sender::new(10, tiny, true).err(),
            Some(XferError::PayloadTooSmall)
        );
        assert_eq!(
            Receiver::new(10, tiny).err(),
            Some(XferError::PayloadTooSmall)
        );
        let framing = Framing::socket_buffer(8);
        assert_eq!(framing.max_payload, 4088);
        let mut sender = Sender::new(65, framing, true).unwrap();
        let mut buf = [0u8; 4087];
        assert_eq!(
            sender.next_packet(&[0, 0], &mut buf),
            Err(XferError::BufferTooSmall)
        );
        let mut buf = [0u8; 4088];
        assert_eq!(
            sender.next_packet(&[0], &mut buf),
            Err(XferError::BitmapMismatch)
        );
        assert!(sender.next_packet(&[0, 0], &mut buf).unwrap().done);

        let mut receiver = Receiver::new(65, framing).unwrap();
        let mut storage = [0u64; 2];
        let mut bm = Bits::new(&mut storage, 64).unwrap();
        assert_eq!(
            receiver.receive(Kind::Plain, &[0; 16], &mut bm),
            Err(XferError::BitmapMismatch)
        );
        assert_eq!(
            receiver.receive(Kind::Plain, &[0; 16], &mut bm),
            Err(XferError::Aborted)
        );
    }

    /// A receiver of `nbits` bits fed one packet.
    fn feed(nbits: u64, kind: Kind, payload: &[u8]) -> (Result<Progress, XferError>, Vec<u64>) {
        let mut storage = vec![0u64; words_for_bits(nbits) as usize];
        let mut bm = Bits::new(&mut storage, nbits).unwrap();
        let mut receiver = Receiver::new(nbits, Framing::socket_buffer(16)).unwrap();
        let r = receiver.receive(kind, payload, &mut bm);
        if r.is_err() {
            assert_eq!(
                receiver.receive(kind, payload, &mut bm),
                Err(XferError::Aborted)
            );
        }
        (r, storage)
    }

    /// A compressed payload of the runs `runs`, first polarity `set`.
    fn rle_payload(set: bool, runs: &[u64]) -> Vec<u8> {
        let mut code = vec![0u8; 64];
        let mut w = BitWriter::new(&mut code);
        for &r in runs {
            let (c, b) = vli_encode(r).unwrap();
            w.put_bits(c, b).unwrap();
        }
        let (used, pad) = (w.bytes_used(), w.pad_bits());
        let mut p = vec![u8::from(set) << 7 | pad << 4 | 2];
        p.extend_from_slice(&code[..used]);
        p
    }

    #[test]
    fn hostile_runs() {
        assert_eq!(
            feed(100, Kind::Compressed, &rle_payload(false, &[40, 60])).0,
            Ok(Progress::Done)
        );
        assert_eq!(
            feed(100, Kind::Compressed, &rle_payload(true, &[40, 50])).0,
            Ok(Progress::More)
        );
        let (r, bits) = feed(100, Kind::Compressed, &rle_payload(true, &[40, 60]));
        assert_eq!((r, bits), (Ok(Progress::Done), vec![(1 << 40) - 1, 0]));
        // Runs past the end, of either polarity, and runs after the end.
        for (set, runs) in [
            (true, &[101][..]),
            (false, &[101][..]),
            (false, &[99, 2]),
            (false, &[100, 1]),
            (true, &[100, 1]),
            (false, &[30, 30, 30, 30]),
            (false, &[VLI_MAX]),
        ] {
            let (r, bits) = feed(100, Kind::Compressed, &rle_payload(set, runs));
            assert_eq!(r, Err(XferError::RunOverflow), "{set} {runs:?}");
            assert!(bits[1] >> 36 == 0);
        }
        // A bitmap of no bits takes no run at all.
        assert_eq!(
            feed(0, Kind::Compressed, &rle_payload(false, &[1])).0,
            Err(XferError::RunOverflow)
        );
    }

    #[test]
    fn hostile_truncation_and_encoding() {
        // Too small, too large.
        assert_eq!(
            feed(100, Kind::Compressed, &[]).0,
            Err(XferError::CompressedTooSmall)
        );
        assert_eq!(
            feed(100, Kind::Compressed, &[0x02]).0,
            Err(XferError::CompressedTooSmall)
        );
        let big = vec![0x02u8; 4081];
        assert_eq!(
            feed(100, Kind::Compressed, &big).0,
            Err(XferError::CompressedTooLarge)
        );
        // Bad codes.
        for enc in [0x00u8, 0x01, 0x03, 0x0f, 0x83, 0xf1] {
            assert_eq!(
                feed(100, Kind::Compressed, &[enc, 0, 0]).0,
                Err(XferError::UnknownEncoding(enc))
            );
        }
        // Code words cut off: a 42-bit prefix in one byte, one valid bit, a 5-bit code in 3.
        assert_eq!(
            feed(100, Kind::Compressed, &[0x02, 0xbf]).0,
            Err(XferError::TruncatedCode)
        );
        assert_eq!(
            feed(100, Kind::Compressed, &[0x72, 0x00]).0,
            Err(XferError::TruncatedCode)
        );
        assert_eq!(
            feed(100, Kind::Compressed, &[0x52, 0x03]).0,
            Err(XferError::TruncatedCode)
        );
        // A cut-off code word applies nothing of its run (C would set the bits first).
        let mut p = rle_payload(true, &[0x2131]);
        p.truncate(3);
        let (r, bits) = feed(1 << 20, Kind::Compressed, &p);
        assert_eq!(r, Err(XferError::TruncatedCode));
        assert!(bits.iter().all(|&w| w == 0));
        // Runs of 10 (7 bits) and 90 (14 bits), 3 padding bits; with 2 said, a stray bit
        // decodes as a cut-off code.
        let mut p = rle_payload(false, &[10, 90]);
        assert_eq!(p[0], 0x32);
        assert_eq!(feed(100, Kind::Compressed, &p).0, Ok(Progress::Done));
        p[0] = 0x22;
        assert_eq!(
            feed(100, Kind::Compressed, &p).0,
            Err(XferError::TruncatedCode)
        );
        // Padding bits themselves are not checked, as in C.
        let mut p = rle_payload(false, &[10, 90]);
        *p.last_mut().unwrap() |= 0x80;
        assert_eq!(feed(100, Kind::Compressed, &p).0, Ok(Progress::Done));
        // Plain packets of the wrong size.
        assert_eq!(
            feed(100, Kind::Plain, &[0; 8]).0,
            Err(XferError::PlainSize { want: 16, got: 8 })
        );
        assert_eq!(
            feed(100, Kind::Plain, &[0; 24]).0,
            Err(XferError::PlainSize { want: 16, got: 24 })
        );
        assert_eq!(
            feed(100_000, Kind::Plain, &[0; 4072]).0,
            Err(XferError::PlainSize {
                want: 4080,
                got: 4072
            })
        );
        // Full plain packets, surplus bits dropped; an empty one ends it only at the end.
        let (r, bits) = feed(100, Kind::Plain, &[0xff; 16]);
        assert_eq!(
            (r, bits),
            (Ok(Progress::More), vec![u64::MAX, (1 << 36) - 1])
        );
        assert_eq!(
            feed(100, Kind::Plain, &[]).0,
            Err(XferError::PlainSize { want: 16, got: 0 })
        );
    }

    #[test]
    fn hostile_random_packets() {
        let mut rng = Rng(0x0bad_5eed);
        let framings = [
            Framing::socket_buffer(16),
            Framing {
                header_size: 8,
                max_payload: 24,
            },
        ];
        let mut payload = vec![0u8; 5000];
        let (mut ok, mut err) = (0u32, 0u32);
        for round in 0..3000 {
            let nbits = match round % 4 {
                0 => rng.below(200),
                1 => rng.below(5000),
                2 => rng.below(1 << 20),
                _ => 64 * rng.below(100),
            };
            let framing = framings[round % 2];
            let mut storage = vec![0u64; words_for_bits(nbits) as usize + 1];
            let sentinel = 0x5555_aaaa_5555_aaaa;
            *storage.last_mut().unwrap() = sentinel;
            let mut bm = Bits::new(&mut storage, nbits).unwrap();
            let mut receiver = Receiver::new(nbits, framing).unwrap();
            for _ in 0..8 {
                let kind = if rng.below(3) == 0 {
                    Kind::Plain
                } else {
                    Kind::Compressed
                };
                let len = match rng.below(4) {
                    0 => rng.below(4),
                    1 => rng.below(framing.max_payload as u64 + 10),
                    2 => 8 * (rng.below(framing.max_payload as u64 / 8) + 1),
                    _ => rng.below(20),
                } as usize;
                for b in &mut payload[..len] {
                    *b = rng.next() as u8;
                }
                if kind == Kind::Compressed && len > 0 && rng.below(2) == 0 {
                    payload[0] = payload[0] & 0xf0 | 2;
                }
                match receiver.receive(kind, &payload[..len], &mut bm) {
                    Ok(Progress::Done) => {
                        ok += 1;
                        break;
                    }
                    Ok(Progress::More) => ok += 1,
                    Err(_) => {
                        err += 1;
                        assert_eq!(
                            receiver.receive(kind, &payload[..len], &mut bm),
                            Err(XferError::Aborted)
                        );
                        break;
                    }
                }
                assert!(receiver.next_bit() <= nbits);
            }
            assert_eq!(*storage.last().unwrap(), sentinel);
            if nbits % 64 != 0 {
                assert_eq!(storage[storage.len() - 2] >> (nbits % 64), 0);
            }
        }
        assert!(ok > 100 && err > 100, "ok {ok} err {err}");
    }

    #[test]
    fn hostile_bit_flips_in_valid_streams() {
        let mut rng = Rng(4242);
        let nbits = 50_001;
        let framing = Framing {
            header_size: 8,
            max_payload: 200,
        };
        let words = words_of(nbits, |_| rng.below(40) == 0);
        // Record the packets of a valid exchange.
        let mut sender = Sender::new(nbits, framing, true).unwrap();
        let mut packets = Vec::new();
        let mut buf = vec![0u8; 200];
        loop {
            let p = sender.next_packet(&words, &mut buf).unwrap();
            packets.push((p.kind, buf[..p.len].to_vec()));
            if p.done {
                break;
            }
        }
        for _ in 0..2000 {
            let mut storage = vec![0u64; words_for_bits(nbits) as usize];
            let mut bm = Bits::new(&mut storage, nbits).unwrap();
            let mut receiver = Receiver::new(nbits, framing).unwrap();
            let victim = rng.below(packets.len() as u64) as usize;
            for (i, (kind, p)) in packets.iter().enumerate() {
                let mut p = p.clone();
                if i == victim && !p.is_empty() {
                    for _ in 0..=rng.below(3) {
                        let b = rng.below(p.len() as u64 * 8);
                        p[(b / 8) as usize] ^= 1 << (b % 8);
                    }
                    if rng.below(4) == 0 {
                        p.truncate(rng.below(p.len() as u64) as usize);
                    }
                }
                match receiver.receive(*kind, &p, &mut bm) {
                    Ok(_) => assert!(receiver.next_bit() <= nbits),
                    Err(_) => break,
                }
            }
        }
    }

    #[test]
    fn statistics_as_c() {
        // 1 TiB, all clear, protocol 100 headers: one compressed packet of a 42-bit code.
        let nbits = 1u64 << 28;
        let framing = Framing::socket_buffer(16);
        let words = vec![0u64; words_for_bits(nbits) as usize];
        let out = exchange(&words, nbits, framing, true);
        assert_eq!((out.plain, out.rle), (0, 1));
        let mut sender = Sender::new(nbits, framing, true).unwrap();
        let mut buf = vec![0u8; 4080];
        sender.next_packet(&words, &mut buf).unwrap();
        let s = sender.summary().unwrap();
        assert_eq!(s.total, 16 + 1 + 6);
        assert_eq!(s.saved_permille, 1000);
        assert_eq!(
            std::format!("{s}"),
            "send bitmap stats [Bytes(packets)]: plain 0(0), RLE 23(1), total 23; \
             compression: 100.0%"
        );

        // C's plain estimate for 2^22 words: 16 * (1029 + 1) + 2^25 = 33570912.
        let words = 1u64 << 22;
        let half = Stats {
            plain_packets: 3,
            plain_bytes: 33_570_912 / 2,
            ..Stats::default()
        };
        let s = half.summary("receive", words, framing).unwrap();
        assert_eq!(s.saved_permille, 500);
        assert_eq!(
            std::format!("{s}"),
            "receive bitmap stats [Bytes(packets)]: plain 16785456(3), RLE 0(0), \
             total 16785456; compression: 50.0%"
        );
        // Above UINT_MAX / 1000 C divides by plain / 1000 instead: 2^20 words are
        // 16 * (258 + 1) + 2^23 = 8392752 bytes plain; 5000000 / 8392 = 595.
        let big = Stats {
            rle_packets: 1,
            rle_bytes: 5_000_000,
            ..Stats::default()
        };
        let s = big.summary("receive", 1 << 20, framing).unwrap();
        assert_eq!((s.total, s.saved_permille), (5_000_000, 405));
        // C's plain estimate is truncated to 32 bits: for 2^30 words 16 * (263173 + 1) + 2^33
        // becomes 4210784, so 4300000 bytes count as not compressed.
        let big = Stats {
            rle_packets: 1,
            rle_bytes: 4_300_000,
            ..Stats::default()
        };
        assert_eq!(big.summary("receive", 1 << 30, framing), None);
        let none = Stats {
            plain_packets: 1,
            plain_bytes: 33_570_912,
            ..Stats::default()
        };
        assert_eq!(none.summary("send", words, framing), None);
        assert_eq!(Stats::default().summary("send", words, framing), None);
        // 2999 bytes of a plain 4000: 749 permille used (rounded down, as C), 25.1% saved.
        let small = Framing {
            header_size: 0,
            max_payload: 4096,
        };
        let s = Stats {
            rle_bytes: 2999,
            ..Stats::default()
        }
        .summary("send", 500, small)
        .unwrap();
        assert_eq!((s.saved_permille / 10, s.saved_permille % 10), (25, 1));
        let s = Stats {
            rle_bytes: 1,
            ..Stats::default()
        }
        .summary("send", 500, small)
        .unwrap();
        assert_eq!(s.saved_permille, 1000);
    }
}
