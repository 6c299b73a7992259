// SPDX-License-Identifier: GPL-2.0
//! The DRBD 8.4 packet format (protocol versions 86 to 101): packet numbers, the three header
//! formats, the fixed payloads, the payload length rules of the receiver, and the feature
//! handshake's decision.
//!
//! C counterpart: drbd_protocol.h (layouts), drbd_main.c (prepare_header(), drbd_send_*()),
//! drbd_receiver.c (decode_header(), drbdd() with `drbd_cmd_handler[]`, drbd_ack_receiver() with
//! `ack_receiver_tbl[]`, drbd_do_features(), drbd_do_auth(), the receive_*() functions).
//!
//! Everything is big-endian on the wire, except `block_id` and the barrier numbers: those are
//! the sender's own cookies (pointers or host-endian counters) that the peer only echoes. They
//! are carried here as opaque integers that decode and encode back to the very same bytes.
//!
//! Peer bytes are never trusted: every decoder checks the length first and every value it
//! relies on, and returns a [`WireError`] rather than panicking. Where the C receiver is lax
//! (it would read past a packet, or allocate what the peer asks for), the rule here is the
//! strict one and says so.

use core::fmt;

// ---------------------------------------------------------------------------------------------
// Constants

/// `DRBD_MAGIC` (drbd.h): the magic of [`HeaderKind::H80`].
pub(crate) const DRBD_MAGIC: u32 = 0x8374_0267;
/// `DRBD_MAGIC_BIG`: the 16-bit magic of [`HeaderKind::H95`].
pub(crate) const DRBD_MAGIC_BIG: u16 = 0x835a;
/// `DRBD_MAGIC_100`: the magic of [`HeaderKind::H100`].
pub(crate) const DRBD_MAGIC_100: u32 = 0x8620_ec20;

/// The protocol versions this driver speaks (drbd_config.h), defined with the module's version.
pub(crate) use crate::model::version::{PRO_VERSION_MAX, PRO_VERSION_MIN};
/// The version conn_connect() assumes until drbd_do_features() agreed on one: the first packets
/// of a connection (P_INITIAL_DATA/META, P_CONNECTION_FEATURES) travel with 8-byte headers.
pub(crate) const PRE_AGREEMENT_VERSION: u32 = 80;

/// Size of [`HeaderKind::H80`] (`struct p_header80`).
pub(crate) const HEADER_H80_LEN: usize = 8;
/// Size of [`HeaderKind::H95`] (`struct p_header95`), the same as h80 on purpose: below
/// protocol 100 the receiver reads 8 bytes and then looks at the magic.
pub(crate) const HEADER_H95_LEN: usize = 8;
/// Size of [`HeaderKind::H100`] (`struct p_header100`).
pub(crate) const HEADER_H100_LEN: usize = 16;
/// The largest header, for buffers.
pub(crate) const HEADER_MAX: usize = HEADER_H100_LEN;

/// `DRBD_MAX_SIZE_H80_PACKET` (drbd_int.h): payloads up to this size go in an h80 header
/// below protocol 100, and below protocol 95 no request is larger.
pub(crate) const DRBD_MAX_SIZE_H80_PACKET: u32 = 1 << 15;
/// `DRBD_MAX_BIO_SIZE_P95`: the largest request of protocols 95 to 99.
pub(crate) const DRBD_MAX_BIO_SIZE_P95: u32 = 1 << 17;
/// `DRBD_MAX_BIO_SIZE`: the largest request (data block) on the wire, 1 MiB.
pub(crate) const DRBD_MAX_BIO_SIZE: u32 = 1 << 20;
/// `DRBD_MAX_BATCH_BIO_SIZE` = `AL_UPDATES_PER_TRANSACTION / 2 * AL_EXTENT_SIZE`, 128 MiB: the
/// largest P_TRIM / P_ZEROES the receiver accepts (read_in_block()).
pub(crate) const DRBD_MAX_BATCH_BIO_SIZE: u32 = 64 / 2 * (1 << 22);
/// `DRBD_SOCKET_BUFFER_SIZE` (drbd_protocol.h): a bitmap packet, header included, fits in it.
pub(crate) const DRBD_SOCKET_BUFFER_SIZE: usize = 4096;
/// `SHARED_SECRET_MAX` (drbd.h): the size of every algorithm name field, NUL included.
pub(crate) const SHARED_SECRET_MAX: usize = 64;
/// `CHALLENGE_LEN` (drbd_receiver.c): the size of the challenge drbd_do_auth() sends.
pub(crate) const CHALLENGE_LEN: usize = 64;
/// `HASH_MAX_DIGESTSIZE` (crypto/hash.h): the largest digest the kernel's crypto API produces,
/// and so the largest integrity, csums or verify digest a packet can carry.
pub(crate) const MAX_DIGEST_SIZE: usize = 64;
/// The largest payload (bytes after the header) this receiver accepts in any packet: a 1 MiB
/// P_DATA with its `p_data` and the largest integrity digest. The C receiver does not check the
/// header's length as such; every handler bounds it (P_DATA by `DRBD_MAX_BIO_SIZE` after the
/// digest), so nothing legitimate is longer.
pub(crate) const MAX_PAYLOAD: u32 = DRBD_MAX_BIO_SIZE + Data::SIZE as u32 + MAX_DIGEST_SIZE as u32;

/// `DRBD_FF_TRIM`: discards travel as P_TRIM.
pub(crate) const FF_TRIM: u32 = 1;
/// `DRBD_FF_THIN_RESYNC`: P_RS_THIN_REQ and P_RS_DEALLOCATED may be used.
pub(crate) const FF_THIN_RESYNC: u32 = 2;
/// `DRBD_FF_WSAME`: overloaded; for 8.4 on 6.12 it means 128 MiB batch bios and the
/// [`Qlim`] tail of P_SIZES (the kernel no longer has REQ_WRITE_SAME, P_WSAME is never sent).
pub(crate) const FF_WSAME: u32 = 4;
/// `DRBD_FF_WZEROES`: zero-outs travel as P_ZEROES.
pub(crate) const FF_WZEROES: u32 = 8;
/// `PRO_FEATURES` (drbd_receiver.c): what the 6.12 driver advertises, all four.
pub(crate) const PRO_FEATURES: u32 = FF_TRIM | FF_THIN_RESYNC | FF_WSAME | FF_WZEROES;

/// `DP_*` flags of [`Data::dp_flags`] (drbd_protocol.h; the bits without a constant are listed
/// there). Equals REQ_SYNC.
#[cfg(test)]
pub(crate) const DP_RW_SYNC: u32 = 2;
/// The write happens during resync: the receiver may mark the block in sync.
#[cfg(test)]
pub(crate) const DP_MAY_SET_IN_SYNC: u32 = 4;
/// Equals REQ_FUA.
pub(crate) const DP_FUA: u32 = 16;
/// Equals REQ_PREFLUSH.
pub(crate) const DP_FLUSH: u32 = 32;
/// A protocol B write: answer with P_RECV_ACK (protocol 100 and later).
pub(crate) const DP_SEND_RECEIVE_ACK: u32 = 128;
/// A protocol C write (or any resync-time write): answer with P_WRITE_ACK (100 and later).
pub(crate) const DP_SEND_WRITE_ACK: u32 = 256;

/// `DRBD_PROT_A/B/C` (drbd.h): the values of [`Protocol::protocol`].
pub(crate) const DRBD_PROT_A: u32 = 1;
pub(crate) const DRBD_PROT_B: u32 = 2;
pub(crate) const DRBD_PROT_C: u32 = 3;

/// `enum drbd_conn_flags`: bits of [`Protocol::conn_flags`].
pub(crate) const CF_DISCARD_MY_DATA: u32 = 1;
pub(crate) const CF_DRY_RUN: u32 = 2;

/// `enum drbd_uuid_index` (drbd.h; the indexes in `crate::model::role`): the four UUIDs proper
/// (`UI_SIZE`, as the meta data keeps them); on the wire `uuid[UI_SIZE]` is the number of set
/// bitmap bits and `uuid[UI_FLAGS]` the flags ([`Uuids::bitmap_bits`], [`Uuids::flags`]).
pub(crate) use crate::meta::layout::UI_SIZE;
/// P_UUIDS' word with the `UUID_FLAG_*` bits.
pub(crate) const UI_FLAGS: usize = 5;
/// Number of words of P_UUIDS.
pub(crate) const UI_EXTENDED_SIZE: usize = 6;

/// Bits of [`Uuids::flags`] (_drbd_send_uuids(), receive_uuids(), drbd_sync_handshake()):
/// the sender has `discard-my-data` set ...
pub(crate) const UUID_FLAG_DISCARD_MY_DATA: u64 = 1;
/// ... the sender crashed while primary ...
pub(crate) const UUID_FLAG_CRASHED_PRIMARY: u64 = 2;
/// ... the sender's disk is (about to be) Inconsistent ...
pub(crate) const UUID_FLAG_INCONSISTENT: u64 = 4;
/// ... the sender asks to skip the initial full sync (`new-current-uuid --clear-bitmap`).
pub(crate) const UUID_FLAG_SKIP_INITIAL_SYNC: u64 = 8;

/// Special `block_id` values (drbd_int.h). `ID_SYNCER` marks resync requests and replies; it
/// is all ones, so its byte order does not matter. The others are the `block_id` of
/// P_OV_RESULT, sent big-endian (drbd_send_ack_ex()): [`ID_IN_SYNC`], the block verified
/// equal; [`ID_OUT_OF_SYNC`], it differs.
pub(crate) const ID_SYNCER: u64 = u64::MAX;
pub(crate) const ID_IN_SYNC: u64 = 4711;
pub(crate) const ID_OUT_OF_SYNC: u64 = 4712;

/// `RLE_VLI_Bits` (`enum drbd_bitmap_code`): the one bitmap encoding there is.
#[cfg(test)]
pub(crate) const RLE_VLI_BITS: u8 = 2;

/// `P_MAY_IGNORE` and `P_MAX_OPT_CMD`: once the range of optional packets, those strictly
/// between the two, which a receiver without a handler would skip. The range is empty and
/// cmdname() calls both "obsoleted": 8.4 treats every packet it has no handler for as an error.
#[cfg(test)]
pub(crate) const P_MAY_IGNORE: u16 = 0x100;
#[cfg(test)]
pub(crate) const P_MAX_OPT_CMD: u16 = 0x101;

/// The size of a request the driver sends, as drbd_send_sizes() clamps `max_bio_size` for an
/// agreed protocol: 32 KiB below 95 (h80 packets), 128 KiB below 100, 1 MiB from 100 on.
pub(crate) fn max_bio_size_for_protocol(agreed: u32) -> u32 {
    if agreed <= 94 {
        DRBD_MAX_SIZE_H80_PACKET
    } else if agreed < 100 {
        DRBD_MAX_BIO_SIZE_P95
    } else {
        DRBD_MAX_BIO_SIZE
    }
}

// ---------------------------------------------------------------------------------------------
// Errors

/// Why bytes are not a valid packet, or a value cannot be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WireError {
    /// Fewer bytes than a header needs.
    Truncated { need: usize, got: usize },
    /// A payload of a size the format does not allow.
    BadSize { min: usize, max: usize, got: usize },
    /// The output buffer is too small for what is to be encoded.
    BufferTooSmall { need: usize, got: usize },
    /// A header magic that is not valid at the agreed protocol version (the first four bytes).
    BadMagic { magic: u32, agreed: u32 },
    /// An h100 header whose padding is not zero.
    BadPad(u32),
    /// A packet number 8.4 does not know.
    UnknownCommand(u16),
    /// A known packet this receiver has no handler for (or not on this path).
    UnexpectedCommand(Command),
    /// A header length above what the receiver accepts ([`MAX_PAYLOAD`]) or the header format
    /// can carry (65535 in h80).
    LengthTooLarge { length: u32, max: u32 },
    /// A payload length the command's rule does not allow ([`check_payload_len`]).
    BadPayloadLength { command: Command, length: u32 },
    /// A volume number other than 0 below protocol 100, whose headers have no volume field.
    VolumeNotEncodable(u16),
    /// An algorithm name longer than 63 bytes, or with a NUL inside, to be encoded.
    BadString,
    /// A P_COMPRESSED_BITMAP in an encoding other than [`RLE_VLI_BITS`].
    #[cfg(test)]
    UnknownBitmapEncoding(u8),
    /// A request or data size that is zero, not a multiple of 512, or too large.
    BadBlockSize { command: Command, size: u32 },
    /// The peer's protocol range does not overlap ours.
    Incompatible { peer_min: u32, peer_max: u32 },
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            WireError::Truncated { need, got } => {
                write!(f, "packet truncated: need {need} bytes, got {got}")
            }
            WireError::BadSize { min, max, got } => {
                write!(f, "payload of {got} bytes, expected {min}..={max}")
            }
            WireError::BufferTooSmall { need, got } => {
                write!(f, "buffer of {got} bytes too small, need {need}")
            }
            WireError::BadMagic { magic, agreed } => write!(
                f,
                "wrong magic value 0x{magic:08x} in protocol version {agreed}"
            ),
            WireError::BadPad(pad) => write!(f, "header padding 0x{pad:08x} is not zero"),
            WireError::UnknownCommand(c) => write!(f, "unknown packet 0x{c:04x}"),
            WireError::UnexpectedCommand(c) => {
                write!(f, "unexpected packet {} (0x{:04x})", c.name(), c.as_u16())
            }
            WireError::LengthTooLarge { length, max } => {
                write!(f, "packet length {length} above {max}")
            }
            WireError::BadPayloadLength { command, length } => {
                write!(f, "{}: unexpected packet size {length}", command.name())
            }
            WireError::VolumeNotEncodable(v) => {
                write!(f, "volume {v} needs protocol 100 or later")
            }
            WireError::BadString => f.write_str("algorithm name too long or not a C string"),
            #[cfg(test)]
            WireError::UnknownBitmapEncoding(e) => write!(f, "unknown bitmap encoding {e}"),
            WireError::BadBlockSize { command, size } => {
                write!(f, "{}: bad block size {size}", command.name())
            }
            WireError::Incompatible { peer_min, peer_max } => write!(
                f,
                "incompatible DRBD dialects: I support {PRO_VERSION_MIN}-{PRO_VERSION_MAX}, \
                 peer supports {peer_min}-{peer_max}"
            ),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Byte helpers

/// Reads big-endian fields from the front of a slice, never past its end.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let got = self.rest.len();
        let head = self
            .rest
            .get(..n)
            .ok_or(WireError::Truncated { need: n, got })?;
        self.rest = self.rest.get(n..).unwrap_or(&[]);
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let got = self.rest.len();
        <[u8; N]>::try_from(self.take(N)?).map_err(|_| WireError::Truncated { need: N, got })
    }

    fn be16(&mut self) -> Result<u16, WireError> {
        self.array().map(u16::from_be_bytes)
    }

    fn be32(&mut self) -> Result<u32, WireError> {
        self.array().map(u32::from_be_bytes)
    }

    fn be64(&mut self) -> Result<u64, WireError> {
        self.array().map(u64::from_be_bytes)
    }

    fn u8(&mut self) -> Result<u8, WireError> {
        self.array::<1>().map(|[b]| b)
    }
}

/// A reader over `bytes`, which must be exactly `size` long: the fixed payloads, whose
/// receivers (expect_payload 0, or the ack receiver) refuse anything longer or shorter.
fn exact(bytes: &[u8], size: usize) -> Result<Reader<'_>, WireError> {
    if bytes.len() == size {
        Ok(Reader::new(bytes))
    } else {
        Err(WireError::BadSize {
            min: size,
            max: size,
            got: bytes.len(),
        })
    }
}

/// Writes big-endian fields into the first `len` bytes of an output buffer, zeroed first (so
/// padding and reserved fields are zero, as the C senders memset them).
struct Writer<'a> {
    out: &'a mut [u8],
    pos: usize,
}

impl<'a> Writer<'a> {
    fn new(out: &'a mut [u8], len: usize) -> Result<Self, WireError> {
        let got = out.len();
        let out = out
            .get_mut(..len)
            .ok_or(WireError::BufferTooSmall { need: len, got })?;
        out.fill(0);
        Ok(Self { out, pos: 0 })
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), WireError> {
        let got = self.out.len();
        let end = self
            .pos
            .checked_add(bytes.len())
            .ok_or(WireError::BufferTooSmall {
                need: usize::MAX,
                got,
            })?;
        self.out
            .get_mut(self.pos..end)
            .ok_or(WireError::BufferTooSmall { need: end, got })?
            .copy_from_slice(bytes);
        self.pos = end;
        Ok(())
    }

    fn be16(&mut self, v: u16) -> Result<(), WireError> {
        self.put(&v.to_be_bytes())
    }

    fn be32(&mut self, v: u32) -> Result<(), WireError> {
        self.put(&v.to_be_bytes())
    }

    fn be64(&mut self, v: u64) -> Result<(), WireError> {
        self.put(&v.to_be_bytes())
    }

    fn u8(&mut self, v: u8) -> Result<(), WireError> {
        self.put(&[v])
    }

    /// Leaves `n` bytes as they are (zero).
    fn skip(&mut self, n: usize) -> Result<(), WireError> {
        let got = self.out.len();
        match self.pos.checked_add(n) {
            Some(end) if end <= got => {
                self.pos = end;
                Ok(())
            }
            _ => Err(WireError::BufferTooSmall {
                need: self.pos.saturating_add(n),
                got,
            }),
        }
    }

    fn done(self) -> usize {
        self.pos
    }
}

/// The C string at the start of `bytes`: up to the first NUL, or all of it.
fn until_nul(bytes: &[u8]) -> &[u8] {
    bytes.split(|&b| b == 0).next().unwrap_or(&[])
}

/// An algorithm name as the C code reads a `char [SHARED_SECRET_MAX]` field it forces to end in
/// NUL: at most 63 bytes, up to the first NUL.
fn alg_field(field: &[u8]) -> &[u8] {
    until_nul(field.get(..SHARED_SECRET_MAX - 1).unwrap_or(field))
}

/// Checks an algorithm name the driver is about to send: it must fit a 64-byte field with its
/// NUL (the netlink configuration guarantees that) and must not contain NUL itself.
fn check_alg(name: &[u8]) -> Result<(), WireError> {
    if name.len() < SHARED_SECRET_MAX && !name.contains(&0) {
        Ok(())
    } else {
        Err(WireError::BadString)
    }
}

// ---------------------------------------------------------------------------------------------
// Packet numbers

/// The packet numbers of `enum drbd_packet` (drbd_protocol.h) under their C names, for headers;
/// [`Command`] is the same set as a type.
pub(crate) const P_DATA: u16 = 0x00;
pub(crate) const P_DATA_REPLY: u16 = 0x01;
pub(crate) const P_RS_DATA_REPLY: u16 = 0x02;
pub(crate) const P_BARRIER: u16 = 0x03;
pub(crate) const P_BITMAP: u16 = 0x04;
pub(crate) const P_BECOME_SYNC_TARGET: u16 = 0x05;
pub(crate) const P_BECOME_SYNC_SOURCE: u16 = 0x06;
pub(crate) const P_UNPLUG_REMOTE: u16 = 0x07;
pub(crate) const P_DATA_REQUEST: u16 = 0x08;
pub(crate) const P_RS_DATA_REQUEST: u16 = 0x09;
pub(crate) const P_SYNC_PARAM: u16 = 0x0a;
pub(crate) const P_PROTOCOL: u16 = 0x0b;
pub(crate) const P_UUIDS: u16 = 0x0c;
pub(crate) const P_SIZES: u16 = 0x0d;
pub(crate) const P_STATE: u16 = 0x0e;
pub(crate) const P_SYNC_UUID: u16 = 0x0f;
pub(crate) const P_AUTH_CHALLENGE: u16 = 0x10;
pub(crate) const P_AUTH_RESPONSE: u16 = 0x11;
pub(crate) const P_STATE_CHG_REQ: u16 = 0x12;
pub(crate) const P_PING: u16 = 0x13;
pub(crate) const P_PING_ACK: u16 = 0x14;
pub(crate) const P_RECV_ACK: u16 = 0x15;
pub(crate) const P_WRITE_ACK: u16 = 0x16;
pub(crate) const P_RS_WRITE_ACK: u16 = 0x17;
pub(crate) const P_SUPERSEDED: u16 = 0x18;
pub(crate) const P_NEG_ACK: u16 = 0x19;
pub(crate) const P_NEG_DREPLY: u16 = 0x1a;
pub(crate) const P_NEG_RS_DREPLY: u16 = 0x1b;
pub(crate) const P_BARRIER_ACK: u16 = 0x1c;
pub(crate) const P_STATE_CHG_REPLY: u16 = 0x1d;
pub(crate) const P_OV_REQUEST: u16 = 0x1e;
pub(crate) const P_OV_REPLY: u16 = 0x1f;
pub(crate) const P_OV_RESULT: u16 = 0x20;
pub(crate) const P_CSUM_RS_REQUEST: u16 = 0x21;
pub(crate) const P_RS_IS_IN_SYNC: u16 = 0x22;
pub(crate) const P_SYNC_PARAM89: u16 = 0x23;
pub(crate) const P_COMPRESSED_BITMAP: u16 = 0x24;
pub(crate) const P_DELAY_PROBE: u16 = 0x27;
pub(crate) const P_OUT_OF_SYNC: u16 = 0x28;
pub(crate) const P_RS_CANCEL: u16 = 0x29;
pub(crate) const P_CONN_ST_CHG_REQ: u16 = 0x2a;
pub(crate) const P_CONN_ST_CHG_REPLY: u16 = 0x2b;
pub(crate) const P_RETRY_WRITE: u16 = 0x2c;
pub(crate) const P_PROTOCOL_UPDATE: u16 = 0x2d;
pub(crate) const P_TRIM: u16 = 0x31;
pub(crate) const P_RS_THIN_REQ: u16 = 0x32;
pub(crate) const P_RS_DEALLOCATED: u16 = 0x33;
pub(crate) const P_WSAME: u16 = 0x34;
pub(crate) const P_ZEROES: u16 = 0x36;
pub(crate) const P_INITIAL_META: u16 = 0xfff1;
pub(crate) const P_INITIAL_DATA: u16 = 0xfff2;
pub(crate) const P_CONNECTION_FEATURES: u16 = 0xfffe;

/// Which connection socket a packet travels on (the comments of `enum drbd_packet`, and which
/// of `drbd_cmd_handler[]` / `ack_receiver_tbl[]` handles it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SocketKind {
    /// The data socket: the receiver thread (drbdd()) and the handshake.
    Data,
    /// The meta socket: the ack receiver (acks, pings, replies).
    Meta,
    /// Either (P_DELAY_PROBE, which 6.12 only skips).
    Both,
}

/// `enum drbd_packet` (drbd_protocol.h): every packet number of DRBD 8.4. Numbers 0x25, 0x26
/// (protocol D, never used), 0x2e..=0x30, 0x35 and 0x40..=0x48 (DRBD 9) are not packets here.
#[repr(u16)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Command {
    /// P_DATA: a write, `p_data` + digest + data.
    Data = P_DATA,
    /// P_DATA_REPLY: the answer to P_DATA_REQUEST.
    DataReply = P_DATA_REPLY,
    /// P_RS_DATA_REPLY: the answer to P_RS_DATA_REQUEST.
    RsDataReply = P_RS_DATA_REPLY,
    /// P_BARRIER: closes a write epoch.
    Barrier = P_BARRIER,
    /// P_BITMAP: a chunk of the plain bitmap.
    Bitmap = P_BITMAP,
    /// P_BECOME_SYNC_TARGET: obsolete, no handler.
    BecomeSyncTarget = P_BECOME_SYNC_TARGET,
    /// P_BECOME_SYNC_SOURCE: obsolete, no handler.
    BecomeSyncSource = P_BECOME_SYNC_SOURCE,
    /// P_UNPLUG_REMOTE: a hint to the peer, no payload.
    UnplugRemote = P_UNPLUG_REMOTE,
    /// P_DATA_REQUEST: a read for a diskless primary.
    DataRequest = P_DATA_REQUEST,
    /// P_RS_DATA_REQUEST: a resync read.
    RsDataRequest = P_RS_DATA_REQUEST,
    /// P_SYNC_PARAM: resync parameters before protocol 89.
    SyncParam = P_SYNC_PARAM,
    /// P_PROTOCOL: the net settings that must match.
    Protocol = P_PROTOCOL,
    /// P_UUIDS.
    Uuids = P_UUIDS,
    /// P_SIZES.
    Sizes = P_SIZES,
    /// P_STATE.
    State = P_STATE,
    /// P_SYNC_UUID: the new bitmap UUID at resync start.
    SyncUuid = P_SYNC_UUID,
    /// P_AUTH_CHALLENGE.
    AuthChallenge = P_AUTH_CHALLENGE,
    /// P_AUTH_RESPONSE.
    AuthResponse = P_AUTH_RESPONSE,
    /// P_STATE_CHG_REQ: a per-volume state change request.
    StateChgReq = P_STATE_CHG_REQ,
    /// P_PING.
    Ping = P_PING,
    /// P_PING_ACK.
    PingAck = P_PING_ACK,
    /// P_RECV_ACK: protocol B.
    RecvAck = P_RECV_ACK,
    /// P_WRITE_ACK: protocol C.
    WriteAck = P_WRITE_ACK,
    /// P_RS_WRITE_ACK: a write ack that also sets the block in sync.
    RsWriteAck = P_RS_WRITE_ACK,
    /// P_SUPERSEDED: two-primaries conflict resolution.
    Superseded = P_SUPERSEDED,
    /// P_NEG_ACK: a write failed.
    NegAck = P_NEG_ACK,
    /// P_NEG_DREPLY: a read failed.
    NegDReply = P_NEG_DREPLY,
    /// P_NEG_RS_DREPLY: a resync read failed.
    NegRsDReply = P_NEG_RS_DREPLY,
    /// P_BARRIER_ACK.
    BarrierAck = P_BARRIER_ACK,
    /// P_STATE_CHG_REPLY.
    StateChgReply = P_STATE_CHG_REPLY,
    /// P_OV_REQUEST: online verify, data socket.
    OvRequest = P_OV_REQUEST,
    /// P_OV_REPLY: online verify, with the digest.
    OvReply = P_OV_REPLY,
    /// P_OV_RESULT: online verify result, meta socket.
    OvResult = P_OV_RESULT,
    /// P_CSUM_RS_REQUEST: checksum-based resync request, with the digest.
    CsumRsRequest = P_CSUM_RS_REQUEST,
    /// P_RS_IS_IN_SYNC: checksum-based resync found the block equal.
    RsIsInSync = P_RS_IS_IN_SYNC,
    /// P_SYNC_PARAM89: resync parameters from protocol 89 on.
    SyncParam89 = P_SYNC_PARAM89,
    /// P_COMPRESSED_BITMAP.
    CompressedBitmap = P_COMPRESSED_BITMAP,
    /// P_DELAY_PROBE: either socket, only skipped by 6.12.
    DelayProbe = P_DELAY_PROBE,
    /// P_OUT_OF_SYNC: Ahead/Behind mode.
    OutOfSync = P_OUT_OF_SYNC,
    /// P_RS_CANCEL: the sync source cancels a resync request.
    RsCancel = P_RS_CANCEL,
    /// P_CONN_ST_CHG_REQ: a connection-wide state change request (100 and later).
    ConnStChgReq = P_CONN_ST_CHG_REQ,
    /// P_CONN_ST_CHG_REPLY.
    ConnStChgReply = P_CONN_ST_CHG_REPLY,
    /// P_RETRY_WRITE: protocol C, retry a conflicting write.
    RetryWrite = P_RETRY_WRITE,
    /// P_PROTOCOL_UPDATE: P_PROTOCOL on an established connection.
    ProtocolUpdate = P_PROTOCOL_UPDATE,
    /// P_TRIM: a discard.
    Trim = P_TRIM,
    /// P_RS_THIN_REQ: resync request that may be answered by P_RS_DEALLOCATED.
    RsThinReq = P_RS_THIN_REQ,
    /// P_RS_DEALLOCATED: the block reads as zeros on the sync source.
    RsDeallocated = P_RS_DEALLOCATED,
    /// P_WSAME: write same; defined, but neither sent nor received by 6.12.
    Wsame = P_WSAME,
    /// P_ZEROES: a zero-out.
    Zeroes = P_ZEROES,
    /// P_INITIAL_META: the first packet on the meta socket.
    InitialMeta = P_INITIAL_META,
    /// P_INITIAL_DATA: the first packet on the data socket.
    InitialData = P_INITIAL_DATA,
    /// P_CONNECTION_FEATURES: the version and feature handshake.
    ConnectionFeatures = P_CONNECTION_FEATURES,
}

impl Command {
    /// Every packet number, in numeric order.
    #[cfg(test)]
    pub(crate) const ALL: [Command; 52] = [
        Command::Data,
        Command::DataReply,
        Command::RsDataReply,
        Command::Barrier,
        Command::Bitmap,
        Command::BecomeSyncTarget,
        Command::BecomeSyncSource,
        Command::UnplugRemote,
        Command::DataRequest,
        Command::RsDataRequest,
        Command::SyncParam,
        Command::Protocol,
        Command::Uuids,
        Command::Sizes,
        Command::State,
        Command::SyncUuid,
        Command::AuthChallenge,
        Command::AuthResponse,
        Command::StateChgReq,
        Command::Ping,
        Command::PingAck,
        Command::RecvAck,
        Command::WriteAck,
        Command::RsWriteAck,
        Command::Superseded,
        Command::NegAck,
        Command::NegDReply,
        Command::NegRsDReply,
        Command::BarrierAck,
        Command::StateChgReply,
        Command::OvRequest,
        Command::OvReply,
        Command::OvResult,
        Command::CsumRsRequest,
        Command::RsIsInSync,
        Command::SyncParam89,
        Command::CompressedBitmap,
        Command::DelayProbe,
        Command::OutOfSync,
        Command::RsCancel,
        Command::ConnStChgReq,
        Command::ConnStChgReply,
        Command::RetryWrite,
        Command::ProtocolUpdate,
        Command::Trim,
        Command::RsThinReq,
        Command::RsDeallocated,
        Command::Wsame,
        Command::Zeroes,
        Command::InitialMeta,
        Command::InitialData,
        Command::ConnectionFeatures,
    ];

    /// The packet with number `n`, or `None` for a number 8.4 does not define.
    pub(crate) fn from_u16(n: u16) -> Option<Self> {
        use Command as C;
        Some(match n {
            0x00 => C::Data,
            0x01 => C::DataReply,
            0x02 => C::RsDataReply,
            0x03 => C::Barrier,
            0x04 => C::Bitmap,
            0x05 => C::BecomeSyncTarget,
            0x06 => C::BecomeSyncSource,
            0x07 => C::UnplugRemote,
            0x08 => C::DataRequest,
            0x09 => C::RsDataRequest,
            0x0a => C::SyncParam,
            0x0b => C::Protocol,
            0x0c => C::Uuids,
            0x0d => C::Sizes,
            0x0e => C::State,
            0x0f => C::SyncUuid,
            0x10 => C::AuthChallenge,
            0x11 => C::AuthResponse,
            0x12 => C::StateChgReq,
            0x13 => C::Ping,
            0x14 => C::PingAck,
            0x15 => C::RecvAck,
            0x16 => C::WriteAck,
            0x17 => C::RsWriteAck,
            0x18 => C::Superseded,
            0x19 => C::NegAck,
            0x1a => C::NegDReply,
            0x1b => C::NegRsDReply,
            0x1c => C::BarrierAck,
            0x1d => C::StateChgReply,
            0x1e => C::OvRequest,
            0x1f => C::OvReply,
            0x20 => C::OvResult,
            0x21 => C::CsumRsRequest,
            0x22 => C::RsIsInSync,
            0x23 => C::SyncParam89,
            0x24 => C::CompressedBitmap,
            0x27 => C::DelayProbe,
            0x28 => C::OutOfSync,
            0x29 => C::RsCancel,
            0x2a => C::ConnStChgReq,
            0x2b => C::ConnStChgReply,
            0x2c => C::RetryWrite,
            0x2d => C::ProtocolUpdate,
            0x31 => C::Trim,
            0x32 => C::RsThinReq,
            0x33 => C::RsDeallocated,
            0x34 => C::Wsame,
            0x36 => C::Zeroes,
            0xfff1 => C::InitialMeta,
            0xfff2 => C::InitialData,
            0xfffe => C::ConnectionFeatures,
            _ => return None,
        })
    }

    /// The packet number.
    pub(crate) fn as_u16(self) -> u16 {
        self as u16
    }

    /// The name cmdname() prints.
    pub(crate) fn name(self) -> &'static str {
        use Command as C;
        match self {
            C::Data => "Data",
            C::DataReply => "DataReply",
            C::RsDataReply => "RSDataReply",
            C::Barrier => "Barrier",
            C::Bitmap => "ReportBitMap",
            C::BecomeSyncTarget => "BecomeSyncTarget",
            C::BecomeSyncSource => "BecomeSyncSource",
            C::UnplugRemote => "UnplugRemote",
            C::DataRequest => "DataRequest",
            C::RsDataRequest => "RSDataRequest",
            C::SyncParam => "SyncParam",
            C::Protocol => "ReportProtocol",
            C::Uuids => "ReportUUIDs",
            C::Sizes => "ReportSizes",
            C::State => "ReportState",
            C::SyncUuid => "ReportSyncUUID",
            C::AuthChallenge => "AuthChallenge",
            C::AuthResponse => "AuthResponse",
            C::StateChgReq => "StateChgRequest",
            C::Ping => "Ping",
            C::PingAck => "PingAck",
            C::RecvAck => "RecvAck",
            C::WriteAck => "WriteAck",
            C::RsWriteAck => "RSWriteAck",
            C::Superseded => "Superseded",
            C::NegAck => "NegAck",
            C::NegDReply => "NegDReply",
            C::NegRsDReply => "NegRSDReply",
            C::BarrierAck => "BarrierAck",
            C::StateChgReply => "StateChgReply",
            C::OvRequest => "OVRequest",
            C::OvReply => "OVReply",
            C::OvResult => "OVResult",
            C::CsumRsRequest => "CsumRSRequest",
            C::RsIsInSync => "CsumRSIsInSync",
            C::SyncParam89 => "SyncParam89",
            C::CompressedBitmap => "CBitmap",
            C::DelayProbe => "DelayProbe",
            C::OutOfSync => "OutOfSync",
            C::RsCancel => "RSCancel",
            C::ConnStChgReq => "conn_st_chg_req",
            C::ConnStChgReply => "conn_st_chg_reply",
            C::ProtocolUpdate => "protocol_update",
            C::RetryWrite => "RetryWrite",
            C::Trim => "Trim",
            C::RsThinReq => "rs_thin_req",
            C::RsDeallocated => "rs_deallocated",
            C::Wsame => "WriteSame",
            C::Zeroes => "Zeroes",
            C::InitialMeta => "InitialMeta",
            C::InitialData => "InitialData",
            C::ConnectionFeatures => "ConnectionFeatures",
        }
    }

    /// Whether the packet is an ack with a `p_block_ack` (whose sequence number orders it
    /// with the data packets: update_peer_seq()).
    pub(crate) fn is_block_ack(self) -> bool {
        use Command as C;
        matches!(
            self,
            C::RecvAck
                | C::WriteAck
                | C::RsWriteAck
                | C::Superseded
                | C::NegAck
                | C::NegDReply
                | C::NegRsDReply
                | C::OvResult
                | C::RsIsInSync
                | C::RsCancel
                | C::RetryWrite
        )
    }

    /// The socket the packet travels on.
    pub(crate) fn socket(self) -> SocketKind {
        use Command as C;
        match self {
            C::Ping
            | C::PingAck
            | C::RecvAck
            | C::WriteAck
            | C::RsWriteAck
            | C::Superseded
            | C::NegAck
            | C::NegDReply
            | C::NegRsDReply
            | C::BarrierAck
            | C::StateChgReply
            | C::OvResult
            | C::RsIsInSync
            | C::RsCancel
            | C::ConnStChgReply
            | C::RetryWrite
            | C::InitialMeta => SocketKind::Meta,
            C::DelayProbe => SocketKind::Both,
            _ => SocketKind::Data,
        }
    }

    /// Whether a receiver may skip the packet when it has no handler (`cmd > P_MAY_IGNORE`,
    /// below `P_MAX_OPT_CMD`). No 8.4 packet is in that range, so this is always false; kept so
    /// the rule is written down once.
    #[cfg(test)]
    pub(crate) fn may_ignore(self) -> bool {
        may_ignore(self.as_u16())
    }
}

/// Whether packet number `n` is in the (empty) range of optional packets; see [`P_MAY_IGNORE`].
/// Unknown numbers outside it must end the connection with a protocol error.
#[cfg(test)]
pub(crate) fn may_ignore(n: u16) -> bool {
    n > P_MAY_IGNORE && n < P_MAX_OPT_CMD
}

// ---------------------------------------------------------------------------------------------
// Headers

/// The three header formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HeaderKind {
    /// `p_header80 { u32 magic; u16 command; u16 length }`.
    H80,
    /// `p_header95 { u16 magic; u16 command; u32 length }`: protocols 95..=99, payloads above
    /// 32 KiB.
    H95,
    /// `p_header100 { u32 magic; u16 volume; u16 command; u32 length; u32 pad }`.
    H100,
}

impl HeaderKind {
    /// The size of the header on the wire.
    pub(crate) fn size(self) -> usize {
        match self {
            HeaderKind::H80 => HEADER_H80_LEN,
            HeaderKind::H95 => HEADER_H95_LEN,
            HeaderKind::H100 => HEADER_H100_LEN,
        }
    }
}

/// A packet header, decoded: what C keeps in `struct packet_info`.
///
/// The command stays the raw number, as in C: decode_header() does not judge it, and the
/// receiver reports an unknown one with its number ([`Header::known_command`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    /// The packet number (`P_*`, [`Command`]).
    pub(crate) command: u16,
    /// The volume number; always 0 below protocol 100.
    pub(crate) volume: u16,
    /// Bytes of payload after the header.
    pub(crate) length: u32,
}

impl Header {
    /// The packet, or [`WireError::UnknownCommand`] for a number 8.4 does not define (C's
    /// receivers refuse those: "Unexpected data packet", "Unexpected meta packet").
    pub(crate) fn known_command(&self) -> Result<Command, WireError> {
        Command::from_u16(self.command).ok_or(WireError::UnknownCommand(self.command))
    }

    /// [`encode_header`] of this header.
    #[cfg(test)]
    pub(crate) fn encode(&self, agreed: u32, out: &mut [u8]) -> Result<usize, WireError> {
        encode_header(agreed, self.command, self.volume, self.length, out)
    }
}

/// The header size both sides use at an agreed protocol version (drbd_header_size()): 16 from
/// 100 on, 8 before (h80 and h95 are the same size). Pass [`PRE_AGREEMENT_VERSION`] before the
/// handshake.
pub(crate) fn header_size(agreed: u32) -> usize {
    if agreed >= 100 {
        HEADER_H100_LEN
    } else {
        HEADER_H80_LEN
    }
}

/// The header prepare_header() chooses for a payload of `length` bytes: h100 from protocol 100
/// on; h95 in 95..=99 for payloads above 32 KiB; h80 otherwise.
pub(crate) fn header_kind(agreed: u32, length: u32) -> HeaderKind {
    if agreed >= 100 {
        HeaderKind::H100
    } else if agreed >= 95 && length > DRBD_MAX_SIZE_H80_PACKET {
        HeaderKind::H95
    } else {
        HeaderKind::H80
    }
}

/// Encodes the header of a packet `command` for `volume` with `length` bytes of payload, as
/// prepare_header() does at protocol `agreed`, into the front of `out`, and returns its size.
/// Where C would silently truncate, this refuses: a length above [`MAX_PAYLOAD`] (or above
/// 65535 in an h80, which C sends below protocol 95 whatever the size), or a volume other than
/// 0 in a header without a volume field.
pub(crate) fn encode_header(
    agreed: u32,
    command: u16,
    volume: u16,
    length: u32,
    out: &mut [u8],
) -> Result<usize, WireError> {
    if length > MAX_PAYLOAD {
        return Err(WireError::LengthTooLarge {
            length,
            max: MAX_PAYLOAD,
        });
    }
    let kind = header_kind(agreed, length);
    if kind != HeaderKind::H100 && volume != 0 {
        return Err(WireError::VolumeNotEncodable(volume));
    }
    let mut w = Writer::new(out, kind.size())?;
    match kind {
        HeaderKind::H80 => {
            let short = u16::try_from(length).map_err(|_| WireError::LengthTooLarge {
                length,
                max: u16::MAX.into(),
            })?;
            w.be32(DRBD_MAGIC)?;
            w.be16(command)?;
            w.be16(short)?;
        }
        HeaderKind::H95 => {
            w.be16(DRBD_MAGIC_BIG)?;
            w.be16(command)?;
            w.be32(length)?;
        }
        HeaderKind::H100 => {
            w.be32(DRBD_MAGIC_100)?;
            w.be16(volume)?;
            w.be16(command)?;
            w.be32(length)?;
            w.be32(0)?;
        }
    }
    Ok(w.done())
}

/// Decodes the header at the front of `bytes` as decode_header() does at protocol `agreed`. It
/// is [`header_size`]`(agreed)` bytes long; bytes after it are not looked at.
///
/// From protocol 100 on only an h100 with zero padding is valid. Below 100 (and before the
/// handshake, [`PRE_AGREEMENT_VERSION`]) the receiver reads 8 bytes and takes either an h95 or
/// an h80, whatever the version: C does not tie h95 to protocol 95 on the receiving side
/// either. On top of decode_header(), lengths above [`MAX_PAYLOAD`] are refused here; the
/// command is left for [`Header::known_command`] and [`check_payload_len`].
pub(crate) fn decode_header(agreed: u32, bytes: &[u8]) -> Result<Header, WireError> {
    let size = header_size(agreed);
    let head = bytes.get(..size).ok_or(WireError::Truncated {
        need: size,
        got: bytes.len(),
    })?;
    let mut r = Reader::new(head);
    let magic = r.be32()?;
    let header = if size == HEADER_H100_LEN {
        if magic != DRBD_MAGIC_100 {
            return Err(WireError::BadMagic { magic, agreed });
        }
        let volume = r.be16()?;
        let command = r.be16()?;
        let length = r.be32()?;
        let pad = r.be32()?;
        if pad != 0 {
            return Err(WireError::BadPad(pad));
        }
        Header {
            command,
            volume,
            length,
        }
    } else if (magic >> 16) as u16 == DRBD_MAGIC_BIG {
        Header {
            command: magic as u16,
            volume: 0,
            length: r.be32()?,
        }
    } else if magic == DRBD_MAGIC {
        Header {
            command: r.be16()?,
            volume: 0,
            length: u32::from(r.be16()?),
        }
    } else {
        return Err(WireError::BadMagic { magic, agreed });
    };
    if header.length > MAX_PAYLOAD {
        return Err(WireError::LengthTooLarge {
            length: header.length,
            max: MAX_PAYLOAD,
        });
    }
    Ok(header)
}

// ---------------------------------------------------------------------------------------------
// Payload length rules

/// How long a packet's payload may be: `fixed` bytes of sub-header (the `pkt_size` C reads
/// before calling the handler), then between `extra_min` and `extra_max` bytes of trailing data
/// (digest, data block, string, bitmap words), a multiple of `extra_align`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PayloadRule {
    pub(crate) fixed: usize,
    pub(crate) extra_min: usize,
    pub(crate) extra_max: usize,
    pub(crate) extra_align: usize,
}

impl PayloadRule {
    const fn exact(fixed: usize) -> Self {
        Self {
            fixed,
            extra_min: 0,
            extra_max: 0,
            extra_align: 1,
        }
    }

    const fn with_extra(fixed: usize, extra_min: usize, extra_max: usize) -> Self {
        Self {
            fixed,
            extra_min,
            extra_max,
            extra_align: 1,
        }
    }
}

/// A payload length split by its [`PayloadRule`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PayloadSplit {
    /// Bytes to read and decode first.
    pub(crate) fixed: usize,
    /// Bytes that follow.
    pub(crate) extra: usize,
}

/// The payload rule of `command` at protocol `agreed` with the agreed `features`, or `None` for
/// a packet 8.4 on 6.12 has no receive handler for (P_BECOME_SYNC_*, P_WSAME).
///
/// Mirrors `drbd_cmd_handler[]` (data socket: `pkt_size`, and with `expect_payload` 0 nothing may
/// follow), `ack_receiver_tbl[]` (meta socket: always exact) and the handshake's own checks,
/// made strict where the handlers are not:
/// * P_DATA, P_DATA_REPLY, P_RS_DATA_REPLY: `p_data`, then digest and data up to 1 MiB + 64.
/// * P_SYNC_PARAM(89) by version, as receive_SyncParam() (`pkt_size` 0): 4 bytes up to 87; at 88
///   4 bytes and a 1..=64 byte verify-alg; `p_rs_param_89` (132) up to 94; `p_rs_param_95` (148)
///   from 95. C accepts shorter ones and then reads past the packet; here they are refused.
/// * P_PROTOCOL(_UPDATE): `p_protocol`, then from 87 an integrity-alg of at most 64 bytes;
///   before 87 nothing (C would leave such bytes in the stream).
/// * P_SIZES: `p_sizes`, plus `o_qlim` when [`FF_WSAME`] was agreed; exact.
/// * P_CSUM_RS_REQUEST, P_OV_REPLY: `p_block_req` and a digest of at most 64 bytes (C allocates
///   whatever length the peer announces).
/// * P_BITMAP: 8-byte words, at most a socket buffer minus the header; P_COMPRESSED_BITMAP:
///   2 bytes up to the same limit (receive_bitmap()).
/// * P_CONNECTION_FEATURES: exactly 72; P_AUTH_CHALLENGE 64..=128; P_AUTH_RESPONSE 1..=64 (the
///   exact size is the local HMAC's, see [`check_auth_response_len`]); P_INITIAL_DATA/META and
///   P_PING(_ACK), P_UNPLUG_REMOTE: nothing (C never reads an initial packet's payload).
pub(crate) fn payload_rule(command: Command, agreed: u32, features: u32) -> Option<PayloadRule> {
    use Command as C;
    let bitmap_max = DRBD_SOCKET_BUFFER_SIZE - header_size(agreed);
    Some(match command {
        C::Data | C::DataReply | C::RsDataReply => {
            PayloadRule::with_extra(Data::SIZE, 0, DRBD_MAX_BIO_SIZE as usize + MAX_DIGEST_SIZE)
        }
        C::Barrier => PayloadRule::exact(Barrier::SIZE),
        C::Bitmap => PayloadRule {
            fixed: 0,
            extra_min: 0,
            extra_max: bitmap_max,
            extra_align: BITMAP_WORD_SIZE,
        },
        C::CompressedBitmap => PayloadRule::with_extra(0, CompressedBm::MIN_SIZE, bitmap_max),
        C::UnplugRemote | C::Ping | C::PingAck | C::InitialData | C::InitialMeta => {
            PayloadRule::exact(0)
        }
        C::DataRequest | C::RsDataRequest | C::OvRequest | C::RsThinReq => {
            PayloadRule::exact(BlockReq::SIZE)
        }
        C::OvReply | C::CsumRsRequest => {
            PayloadRule::with_extra(BlockReq::SIZE, 0, MAX_DIGEST_SIZE)
        }
        C::SyncParam | C::SyncParam89 => {
            if agreed <= 87 {
                PayloadRule::exact(SyncParam::SIZE_80)
            } else if agreed == 88 {
                PayloadRule::with_extra(SyncParam::SIZE_80, 1, SHARED_SECRET_MAX)
            } else if agreed <= 94 {
                PayloadRule::exact(SyncParam::SIZE_89)
            } else {
                PayloadRule::exact(SyncParam::SIZE_95)
            }
        }
        C::Protocol | C::ProtocolUpdate => {
            let max = if agreed >= 87 { SHARED_SECRET_MAX } else { 0 };
            PayloadRule::with_extra(Protocol::FIXED_SIZE, 0, max)
        }
        C::Uuids => PayloadRule::exact(Uuids::SIZE),
        C::Sizes => PayloadRule::exact(Sizes::size(features)),
        C::State => PayloadRule::exact(State::SIZE),
        C::StateChgReq | C::ConnStChgReq => PayloadRule::exact(ReqState::SIZE),
        C::SyncUuid => PayloadRule::exact(RsUuid::SIZE),
        C::DelayProbe => PayloadRule::exact(DelayProbe::SIZE),
        C::OutOfSync | C::RsDeallocated => PayloadRule::exact(BlockDesc::SIZE),
        C::Trim | C::Zeroes => PayloadRule::exact(Trim::SIZE),
        C::RecvAck
        | C::WriteAck
        | C::RsWriteAck
        | C::Superseded
        | C::NegAck
        | C::NegDReply
        | C::NegRsDReply
        | C::OvResult
        | C::RsIsInSync
        | C::RsCancel
        | C::RetryWrite => PayloadRule::exact(BlockAck::SIZE),
        C::BarrierAck => PayloadRule::exact(BarrierAck::SIZE),
        C::StateChgReply | C::ConnStChgReply => PayloadRule::exact(ReqStateReply::SIZE),
        C::ConnectionFeatures => PayloadRule::exact(ConnectionFeatures::SIZE),
        C::AuthChallenge => PayloadRule::with_extra(0, CHALLENGE_LEN, 2 * CHALLENGE_LEN),
        C::AuthResponse => PayloadRule::with_extra(0, 1, MAX_DIGEST_SIZE),
        C::BecomeSyncTarget | C::BecomeSyncSource | C::Wsame => return None,
    })
}

/// Checks a header's payload length against [`payload_rule`], before any of the payload is
/// read, and splits it; errors for packets without a handler and lengths out of the rule.
/// Which socket the packet came in on is the caller's to check ([`Command::socket`]).
pub(crate) fn check_payload_len(
    command: Command,
    agreed: u32,
    features: u32,
    length: u32,
) -> Result<PayloadSplit, WireError> {
    let rule =
        payload_rule(command, agreed, features).ok_or(WireError::UnexpectedCommand(command))?;
    let bad = WireError::BadPayloadLength { command, length };
    let len = usize::try_from(length).map_err(|_| bad)?;
    let extra = len.checked_sub(rule.fixed).ok_or(bad)?;
    if extra < rule.extra_min || extra > rule.extra_max || extra % rule.extra_align.max(1) != 0 {
        return Err(bad);
    }
    Ok(PayloadSplit {
        fixed: rule.fixed,
        extra,
    })
}

/// Checks the size a request or data packet announces, as the receiver does before it allocates:
/// * requests (P_DATA_REQUEST, P_RS_DATA_REQUEST, P_RS_THIN_REQ, P_OV_REQUEST, P_OV_REPLY,
///   P_CSUM_RS_REQUEST; [`BlockReq::blksize`]): not zero, a multiple of 512, at most 1 MiB
///   (receive_DataRequest());
/// * data (P_DATA, P_DATA_REPLY, P_RS_DATA_REPLY; the payload after `p_data` and digest): a
///   multiple of 512, at most 1 MiB (read_in_block());
/// * P_TRIM, P_ZEROES ([`Trim::size`]): a multiple of 512, at most 128 MiB.
///
/// Whether the range lies within the device is for the caller, who knows the capacity.
pub(crate) fn check_block_size(command: Command, size: u32) -> Result<(), WireError> {
    use Command as C;
    let max = match command {
        C::DataRequest
        | C::RsDataRequest
        | C::RsThinReq
        | C::OvRequest
        | C::OvReply
        | C::CsumRsRequest => {
            if size == 0 {
                return Err(WireError::BadBlockSize { command, size });
            }
            DRBD_MAX_BIO_SIZE
        }
        C::Data | C::DataReply | C::RsDataReply => DRBD_MAX_BIO_SIZE,
        C::Trim | C::Zeroes => DRBD_MAX_BATCH_BIO_SIZE,
        _ => return Err(WireError::UnexpectedCommand(command)),
    };
    if size % 512 != 0 || size > max {
        return Err(WireError::BadBlockSize { command, size });
    }
    Ok(())
}

/// Checks the length of the peer's P_AUTH_CHALLENGE: 64 to 128 bytes (drbd_do_auth()).
pub(crate) fn check_auth_challenge_len(length: u32) -> Result<(), WireError> {
    check_payload_len(Command::AuthChallenge, PRO_VERSION_MIN, 0, length).map(|_| ())
}

/// Checks the length of the peer's P_AUTH_RESPONSE: exactly the digest size of the local
/// `cram-hmac-alg` (drbd_do_auth()).
pub(crate) fn check_auth_response_len(length: u32, digest_size: usize) -> Result<(), WireError> {
    if usize::try_from(length).ok() == Some(digest_size) {
        Ok(())
    } else {
        Err(WireError::BadPayloadLength {
            command: Command::AuthResponse,
            length,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The handshake

/// `struct p_connection_features`: the payload of P_CONNECTION_FEATURES, 72 bytes, always
/// sent in an h80 header (80 bytes on the wire). The pad and `reserved[7]` are sent as zero
/// and ignored on receipt.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ConnectionFeatures {
    pub(crate) protocol_min: u32,
    pub(crate) feature_flags: u32,
    /// 0 from peers that predate the field: then it means `protocol_min`.
    pub(crate) protocol_max: u32,
}

impl ConnectionFeatures {
    pub(crate) const SIZE: usize = 72;

    /// What drbd_send_features() sends, offering versions up to `max` (at most
    /// [`PRO_VERSION_MAX`]).
    pub(crate) fn ours(max: u32) -> Self {
        Self {
            protocol_min: PRO_VERSION_MIN,
            feature_flags: PRO_FEATURES,
            protocol_max: max.clamp(PRO_VERSION_MIN, PRO_VERSION_MAX),
        }
    }

    pub(crate) fn encode(&self, out: &mut [u8]) -> Result<usize, WireError> {
        let mut w = Writer::new(out, Self::SIZE)?;
        w.be32(self.protocol_min)?;
        w.be32(self.feature_flags)?;
        w.be32(self.protocol_max)?;
        w.skip(4 + 7 * 8)?;
        Ok(w.done())
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = exact(bytes, Self::SIZE)?;
        Ok(Self {
            protocol_min: r.be32()?,
            feature_flags: r.be32()?,
            protocol_max: r.be32()?,
        })
    }
}

/// `sizeof(struct p_connection_features)`.
pub(crate) const FEATURES_LEN: usize = ConnectionFeatures::SIZE;
/// P_CONNECTION_FEATURES on the wire, h80 header included.
pub(crate) const FEATURES_PACKET_LEN: usize = HEADER_H80_LEN + FEATURES_LEN;

/// drbd_send_features(): our whole P_CONNECTION_FEATURES packet, offering versions up to `max`,
/// header included, into `out` ([`FEATURES_PACKET_LEN`] bytes).
pub(crate) fn encode_features(max: u32, out: &mut [u8]) -> Result<usize, WireError> {
    let n = encode_header(
        PRE_AGREEMENT_VERSION,
        P_CONNECTION_FEATURES,
        0,
        FEATURES_LEN as u32,
        out,
    )?;
    let rest = out.get_mut(n..).unwrap_or(&mut []);
    Ok(n + ConnectionFeatures::ours(max).encode(rest)?)
}

/// drbd_do_features() on the peer's payload ([`FEATURES_LEN`] bytes): the agreed protocol
/// version. The agreed features are in [`agree_with_peer`]'s answer.
#[cfg(test)]
pub(crate) fn agree(payload: &[u8]) -> Result<u32, WireError> {
    agree_with_peer(PRO_VERSION_MAX, &ConnectionFeatures::decode(payload)?).map(|a| a.version)
}

/// The outcome of the feature handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Agreed {
    /// `agreed_pro_version`.
    pub(crate) version: u32,
    /// `agreed_features`.
    pub(crate) features: u32,
}

/// drbd_do_features()'s decision, for a local range `ours_min..=ours_max` advertising
/// `ours_features`: a peer `protocol_max` of 0 stands for its `protocol_min`; ranges that do not
/// overlap are refused (the connection goes StandAlone); otherwise the version is the lower of
/// the two maxima and the features are those both sides advertise. Like C, a peer whose min is
/// above its max is judged by the two bounds alone; the result is within our range either way.
pub(crate) fn agree_features(
    ours_min: u32,
    ours_max: u32,
    ours_features: u32,
    peer: &ConnectionFeatures,
) -> Result<Agreed, WireError> {
    let peer_min = peer.protocol_min;
    let peer_max = if peer.protocol_max == 0 {
        peer_min
    } else {
        peer.protocol_max
    };
    if ours_max < peer_min || ours_min > peer_max || ours_min > ours_max {
        return Err(WireError::Incompatible { peer_min, peer_max });
    }
    Ok(Agreed {
        version: ours_max.min(peer_max),
        features: ours_features & peer.feature_flags,
    })
}

/// [`agree_features`] with this driver's features and range, up to `max` (see
/// [`ConnectionFeatures::ours`]).
pub(crate) fn agree_with_peer(max: u32, peer: &ConnectionFeatures) -> Result<Agreed, WireError> {
    let ours = ConnectionFeatures::ours(max);
    agree_features(ours.protocol_min, ours.protocol_max, PRO_FEATURES, peer)
}

// ---------------------------------------------------------------------------------------------
// Data path payloads

/// `struct p_data`: the fixed part of P_DATA, P_DATA_REPLY and P_RS_DATA_REPLY. The integrity
/// digest (if an integrity-alg was agreed) and the data follow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Data {
    pub(crate) sector: u64,
    /// Opaque cookie of the request sender, echoed in the ack.
    pub(crate) block_id: u64,
    /// Write ordering sequence number (P_DATA); 0 in replies.
    pub(crate) seq_num: u32,
    /// `DP_*` flags; 0 in replies. Besides the `DP_*` constants, drbd_protocol.h defines
    /// `DP_HARDBARRIER` = 1 and `DP_UNPLUG` = 8 (no longer sent), `DP_DISCARD` = 64 (equals
    /// REQ_OP_DISCARD, also set for a zero-out that may unmap), `DP_WSAME` = 512 (equals
    /// REQ_WRITE_SAME) and `DP_ZEROES` = 1024 (equals REQ_OP_WRITE_ZEROES).
    pub(crate) dp_flags: u32,
}

impl Data {
    pub(crate) const SIZE: usize = 24;

    pub(crate) fn encode(&self, out: &mut [u8]) -> Result<usize, WireError> {
        let mut w = Writer::new(out, Self::SIZE)?;
        self.put(&mut w)?;
        Ok(w.done())
    }

    fn put(&self, w: &mut Writer<'_>) -> Result<(), WireError> {
        w.be64(self.sector)?;
        w.be64(self.block_id)?;
        w.be32(self.seq_num)?;
        w.be32(self.dp_flags)
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        Self::get(&mut exact(bytes, Self::SIZE)?)
    }

    fn get(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Self {
            sector: r.be64()?,
            block_id: r.be64()?,
            seq_num: r.be32()?,
            dp_flags: r.be32()?,
        })
    }
}

/// `struct p_trim` (and `p_wsame`, the same layout): P_TRIM and P_ZEROES, a `p_data` and the
/// size of the range, with no data after it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Trim {
    pub(crate) data: Data,
    /// Bytes affected (`bi_size`).
    pub(crate) size: u32,
}

impl Trim {
    pub(crate) const SIZE: usize = Data::SIZE + 4;

    pub(crate) fn encode(&self, out: &mut [u8]) -> Result<usize, WireError> {
        let mut w = Writer::new(out, Self::SIZE)?;
        self.data.put(&mut w)?;
        w.be32(self.size)?;
        Ok(w.done())
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = exact(bytes, Self::SIZE)?;
        Ok(Self {
            data: Data::get(&mut r)?,
            size: r.be32()?,
        })
    }
}

/// `struct p_block_ack`: P_RECV_ACK, P_WRITE_ACK, P_RS_WRITE_ACK, P_SUPERSEDED, P_NEG_ACK,
/// P_NEG_DREPLY, P_NEG_RS_DREPLY, P_OV_RESULT, P_RS_IS_IN_SYNC, P_RS_CANCEL, P_RETRY_WRITE.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct BlockAck {
    pub(crate) sector: u64,
    /// The request's cookie, echoed; or [`ID_SYNCER`], or in P_OV_RESULT `ID_IN_SYNC` or
    /// `ID_OUT_OF_SYNC` (see [`ID_SYNCER`]).
    pub(crate) block_id: u64,
    pub(crate) blksize: u32,
    pub(crate) seq_num: u32,
}

impl BlockAck {
    pub(crate) const SIZE: usize = 24;

    pub(crate) fn encode(&self, out: &mut [u8]) -> Result<usize, WireError> {
        let mut w = Writer::new(out, Self::SIZE)?;
        w.be64(self.sector)?;
        w.be64(self.block_id)?;
        w.be32(self.blksize)?;
        w.be32(self.seq_num)?;
        Ok(w.done())
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = exact(bytes, Self::SIZE)?;
        Ok(Self {
            sector: r.be64()?,
            block_id: r.be64()?,
            blksize: r.be32()?,
            seq_num: r.be32()?,
        })
    }
}

/// `struct p_block_req`: P_DATA_REQUEST, P_RS_DATA_REQUEST, P_RS_THIN_REQ, P_OV_REQUEST, and
/// the fixed part of P_OV_REPLY and P_CSUM_RS_REQUEST (a digest follows). The pad is sent as
/// zero and not looked at (drbd_send_drequest() does not even clear it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct BlockReq {
    pub(crate) sector: u64,
    pub(crate) block_id: u64,
    pub(crate) blksize: u32,
}

impl BlockReq {
    pub(crate) const SIZE: usize = 24;

    pub(crate) fn encode(&self, out: &mut [u8]) -> Result<usize, WireError> {
        self.encode_with_digest(&[], out)
    }

    /// The request followed by a digest (drbd_send_drequest_csum(): P_CSUM_RS_REQUEST,
    /// P_OV_REPLY).
    pub(crate) fn encode_with_digest(
        &self,
        digest: &[u8],
        out: &mut [u8],
    ) -> Result<usize, WireError> {
        let mut w = Writer::new(out, Self::SIZE + digest.len())?;
        w.be64(self.sector)?;
        w.be64(self.block_id)?;
        w.be32(self.blksize)?;
        w.skip(4)?;
        w.put(digest)?;
        Ok(w.done())
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = exact(bytes, Self::SIZE)?;
        Ok(Self {
            sector: r.be64()?,
            block_id: r.be64()?,
            blksize: r.be32()?,
        })
    }

    /// A request followed by a digest (P_CSUM_RS_REQUEST, P_OV_REPLY): the request and the
    /// digest's bytes.
    pub(crate) fn decode_with_digest(bytes: &[u8]) -> Result<(Self, &[u8]), WireError> {
        let (req, digest) = bytes.split_at(bytes.len().min(Self::SIZE));
        Ok((Self::decode(req)?, digest))
    }
}

/// `struct p_block_desc`: P_OUT_OF_SYNC and P_RS_DEALLOCATED. The pad is ignored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct BlockDesc {
    pub(crate) sector: u64,
    pub(crate) blksize: u32,
}

impl BlockDesc {
    pub(crate) const SIZE: usize = 16;

    pub(crate) fn encode(&self, out: &mut [u8]) -> Result<usize, WireError> {
        let mut w = Writer::new(out, Self::SIZE)?;
        w.be64(self.sector)?;
        w.be32(self.blksize)?;
        w.skip(4)?;
        Ok(w.done())
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = exact(bytes, Self::SIZE)?;
        Ok(Self {
            sector: r.be64()?,
            blksize: r.be32()?,
        })
    }
}

/// `struct p_barrier`: P_BARRIER. The number is the sender's host-endian epoch counter, only
/// echoed by P_BARRIER_ACK: opaque here (decode and encode keep its bytes). The pad is ignored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Barrier {
    pub(crate) barrier: u32,
}

impl Barrier {
    pub(crate) const SIZE: usize = 8;

    pub(crate) fn encode(&self, out: &mut [u8]) -> Result<usize, WireError> {
        let mut w = Writer::new(out, Self::SIZE)?;
        w.be32(self.barrier)?;
        w.skip(4)?;
        Ok(w.done())
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = exact(bytes, Self::SIZE)?;
        Ok(Self { barrier: r.be32()? })
    }
}

/// `struct p_barrier_ack`: P_BARRIER_ACK. `barrier` is the opaque number of the P_BARRIER it
/// answers; `set_size` (big-endian) the number of writes in that epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct BarrierAck {
    pub(crate) barrier: u32,
    pub(crate) set_size: u32,
}

impl BarrierAck {
    pub(crate) const SIZE: usize = 8;

    pub(crate) fn encode(&self, out: &mut [u8]) -> Result<usize, WireError> {
        let mut w = Writer::new(out, Self::SIZE)?;
        w.be32(self.barrier)?;
        w.be32(self.set_size)?;
        Ok(w.done())
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = exact(bytes, Self::SIZE)?;
        Ok(Self {
            barrier: r.be32()?,
            set_size: r.be32()?,
        })
    }
}

/// `struct p_delay_probe93`: P_DELAY_PROBE, which 6.12 never sends and skips on receipt.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct DelayProbe {
    pub(crate) seq_num: u32,
    /// Microseconds after the reference time point.
    pub(crate) offset: u32,
}

impl DelayProbe {
    pub(crate) const SIZE: usize = 8;

    #[cfg(test)]
    pub(crate) fn encode(&self, out: &mut [u8]) -> Result<usize, WireError> {
        let mut w = Writer::new(out, Self::SIZE)?;
        w.be32(self.seq_num)?;
        w.be32(self.offset)?;
        Ok(w.done())
    }

    #[cfg(test)]
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = exact(bytes, Self::SIZE)?;
        Ok(Self {
            seq_num: r.be32()?,
            offset: r.be32()?,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Connection and state payloads

/// `struct p_protocol` and the integrity-alg string after it: P_PROTOCOL, P_PROTOCOL_UPDATE.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Protocol<'a> {
    /// [`DRBD_PROT_A`], B or C.
    pub(crate) protocol: u32,
    pub(crate) after_sb_0p: u32,
    pub(crate) after_sb_1p: u32,
    pub(crate) after_sb_2p: u32,
    /// [`CF_DISCARD_MY_DATA`], [`CF_DRY_RUN`].
    pub(crate) conn_flags: u32,
    pub(crate) two_primaries: u32,
    /// The data-integrity-alg without its NUL; empty for none. Sent from protocol 87 on.
    pub(crate) integrity_alg: &'a [u8],
}

impl<'a> Protocol<'a> {
    /// The fixed part, `sizeof(struct p_protocol)`.
    pub(crate) const FIXED_SIZE: usize = 24;

    /// The payload size __drbd_send_protocol() sends at `agreed`.
    pub(crate) fn wire_size(&self, agreed: u32) -> usize {
        if agreed >= 87 {
            Self::FIXED_SIZE + self.integrity_alg.len() + 1
        } else {
            Self::FIXED_SIZE
        }
    }

    /// Encodes the payload for protocol `agreed`: the name, NUL-terminated, follows from 87 on.
    pub(crate) fn encode(&self, agreed: u32, out: &mut [u8]) -> Result<usize, WireError> {
        if agreed >= 87 {
            check_alg(self.integrity_alg)?;
        }
        let mut w = Writer::new(out, self.wire_size(agreed))?;
        w.be32(self.protocol)?;
        w.be32(self.after_sb_0p)?;
        w.be32(self.after_sb_1p)?;
        w.be32(self.after_sb_2p)?;
        w.be32(self.conn_flags)?;
        w.be32(self.two_primaries)?;
        if agreed >= 87 {
            w.put(self.integrity_alg)?;
            w.skip(1)?;
        }
        Ok(w.done())
    }

    /// Decodes a whole payload received at protocol `agreed`, as receive_protocol(): from 87 on
    /// at most 64 bytes of name may follow, of which at most 63 count, up to the first NUL
    /// (C forces the last byte of its 64-byte buffer to NUL); before 87 nothing may follow.
    /// The values are not checked: comparing them with the local settings is the caller's.
    pub(crate) fn decode(agreed: u32, bytes: &'a [u8]) -> Result<Self, WireError> {
        let max_extra = if agreed >= 87 { SHARED_SECRET_MAX } else { 0 };
        if bytes.len() < Self::FIXED_SIZE || bytes.len() > Self::FIXED_SIZE + max_extra {
            return Err(WireError::BadSize {
                min: Self::FIXED_SIZE,
                max: Self::FIXED_SIZE + max_extra,
                got: bytes.len(),
            });
        }
        let mut r = Reader::new(bytes);
        Ok(Self {
            protocol: r.be32()?,
            after_sb_0p: r.be32()?,
            after_sb_1p: r.be32()?,
            after_sb_2p: r.be32()?,
            conn_flags: r.be32()?,
            two_primaries: r.be32()?,
            integrity_alg: alg_field(r.rest),
        })
    }
}

/// `struct p_uuids`: P_UUIDS, `u64 uuid[UI_EXTENDED_SIZE]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Uuids {
    /// `[UI_CURRENT, UI_BITMAP, UI_HISTORY_START, UI_HISTORY_END]`.
    pub(crate) uuid: [u64; UI_SIZE],
    /// `uuid[UI_SIZE]`: the number of bits set in the sender's bitmap (`comm_bm_set`).
    pub(crate) bitmap_bits: u64,
    /// `uuid[UI_FLAGS]`: `UUID_FLAG_*`.
    pub(crate) flags: u64,
}

impl Uuids {
    pub(crate) const SIZE: usize = 48;

    pub(crate) fn encode(&self, out: &mut [u8]) -> Result<usize, WireError> {
        let mut w = Writer::new(out, Self::SIZE)?;
        for uuid in self.uuid {
            w.be64(uuid)?;
        }
        w.be64(self.bitmap_bits)?;
        w.be64(self.flags)?;
        Ok(w.done())
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = exact(bytes, Self::SIZE)?;
        let mut uuid = [0; UI_SIZE];
        for u in uuid.iter_mut() {
            *u = r.be64()?;
        }
        Ok(Self {
            uuid,
            bitmap_bits: r.be64()?,
            flags: r.be64()?,
        })
    }
}

/// `struct p_rs_uuid`: P_SYNC_UUID.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RsUuid {
    pub(crate) uuid: u64,
}

impl RsUuid {
    pub(crate) const SIZE: usize = 8;

    pub(crate) fn encode(&self, out: &mut [u8]) -> Result<usize, WireError> {
        let mut w = Writer::new(out, Self::SIZE)?;
        w.be64(self.uuid)?;
        Ok(w.done())
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = exact(bytes, Self::SIZE)?;
        Ok(Self { uuid: r.be64()? })
    }
}

/// `struct o_qlim`: the queue limits P_SIZES carries when [`FF_WSAME`] was agreed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Qlim {
    pub(crate) physical_block_size: u32,
    pub(crate) logical_block_size: u32,
    pub(crate) alignment_offset: u32,
    pub(crate) io_min: u32,
    pub(crate) io_opt: u32,
    pub(crate) discard_enabled: u8,
    pub(crate) discard_zeroes_data: u8,
    pub(crate) write_same_capable: u8,
}

impl Qlim {
    pub(crate) const SIZE: usize = 24;
}

/// `dds_flags` of P_SIZES: a resize forced while not connected, and one whose new blocks are
/// not to be resynced (`--assume-clean`).
pub(crate) const DDSF_FORCED: u16 = 1;
pub(crate) const DDSF_NO_RESYNC: u16 = 2;

/// `struct p_sizes`: P_SIZES, sizes in sectors, and the queue limits with [`FF_WSAME`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Sizes {
    /// Size of the sender's backing disk (0 when diskless).
    pub(crate) d_size: u64,
    /// The user requested size (`disk-size`).
    pub(crate) u_size: u64,
    /// The sender's current exported size; 0 asks for a reply (`trigger_reply`).
    pub(crate) c_size: u64,
    pub(crate) max_bio_size: u32,
    pub(crate) queue_order_type: u16,
    /// `enum dds_flags` ([`DDSF_FORCED`], [`DDSF_NO_RESYNC`]).
    pub(crate) dds_flags: u16,
    /// Present on the wire exactly when [`FF_WSAME`] was agreed; encoded as zeros if `None`
    /// then, and dropped if the feature was not agreed.
    pub(crate) qlim: Option<Qlim>,
}

impl Sizes {
    /// `sizeof(struct p_sizes)`, without the queue limits.
    pub(crate) const BASE_SIZE: usize = 32;

    /// The payload size with the agreed `features`.
    pub(crate) fn size(features: u32) -> usize {
        if features & FF_WSAME != 0 {
            Self::BASE_SIZE + Qlim::SIZE
        } else {
            Self::BASE_SIZE
        }
    }

    pub(crate) fn encode(&self, features: u32, out: &mut [u8]) -> Result<usize, WireError> {
        let mut w = Writer::new(out, Self::size(features))?;
        w.be64(self.d_size)?;
        w.be64(self.u_size)?;
        w.be64(self.c_size)?;
        w.be32(self.max_bio_size)?;
        w.be16(self.queue_order_type)?;
        w.be16(self.dds_flags)?;
        if features & FF_WSAME != 0 {
            let q = self.qlim.unwrap_or_default();
            w.be32(q.physical_block_size)?;
            w.be32(q.logical_block_size)?;
            w.be32(q.alignment_offset)?;
            w.be32(q.io_min)?;
            w.be32(q.io_opt)?;
            w.u8(q.discard_enabled)?;
            w.u8(q.discard_zeroes_data)?;
            w.u8(q.write_same_capable)?;
            w.skip(1)?;
        }
        Ok(w.done())
    }

    /// Decodes a payload of exactly [`Sizes::size`] bytes for the agreed `features`. The values
    /// are the peer's claims; judging them (receive_sizes()) is the caller's.
    pub(crate) fn decode(features: u32, bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = exact(bytes, Self::size(features))?;
        let mut sizes = Self {
            d_size: r.be64()?,
            u_size: r.be64()?,
            c_size: r.be64()?,
            max_bio_size: r.be32()?,
            queue_order_type: r.be16()?,
            dds_flags: r.be16()?,
            qlim: None,
        };
        if features & FF_WSAME != 0 {
            sizes.qlim = Some(Qlim {
                physical_block_size: r.be32()?,
                logical_block_size: r.be32()?,
                alignment_offset: r.be32()?,
                io_min: r.be32()?,
                io_opt: r.be32()?,
                discard_enabled: r.u8()?,
                discard_zeroes_data: r.u8()?,
                write_same_capable: r.u8()?,
            });
        }
        Ok(sizes)
    }
}

/// `struct p_state`: P_STATE, the raw `union drbd_state`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct State {
    pub(crate) state: u32,
}

impl State {
    pub(crate) const SIZE: usize = 4;

    pub(crate) fn encode(&self, out: &mut [u8]) -> Result<usize, WireError> {
        let mut w = Writer::new(out, Self::SIZE)?;
        w.be32(self.state)?;
        Ok(w.done())
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = exact(bytes, Self::SIZE)?;
        Ok(Self { state: r.be32()? })
    }
}

/// `struct p_req_state`: P_STATE_CHG_REQ and P_CONN_ST_CHG_REQ, raw `union drbd_state` mask and
/// value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ReqState {
    pub(crate) mask: u32,
    pub(crate) val: u32,
}

impl ReqState {
    pub(crate) const SIZE: usize = 8;

    /// The packet conn_send_state_req() uses: the connection-wide one from protocol 100 on.
    pub(crate) fn conn_command(agreed: u32) -> Command {
        if agreed < 100 {
            Command::StateChgReq
        } else {
            Command::ConnStChgReq
        }
    }

    pub(crate) fn encode(&self, out: &mut [u8]) -> Result<usize, WireError> {
        let mut w = Writer::new(out, Self::SIZE)?;
        w.be32(self.mask)?;
        w.be32(self.val)?;
        Ok(w.done())
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = exact(bytes, Self::SIZE)?;
        Ok(Self {
            mask: r.be32()?,
            val: r.be32()?,
        })
    }
}

/// `struct p_req_state_reply`: P_STATE_CHG_REPLY and P_CONN_ST_CHG_REPLY. The code is an
/// `enum drbd_state_rv`, negative for failures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ReqStateReply {
    pub(crate) retcode: i32,
}

impl ReqStateReply {
    pub(crate) const SIZE: usize = 4;

    /// The packet conn_send_sr_reply() uses: the connection-wide one from protocol 100 on.
    pub(crate) fn conn_command(agreed: u32) -> Command {
        if agreed < 100 {
            Command::StateChgReply
        } else {
            Command::ConnStChgReply
        }
    }

    pub(crate) fn encode(&self, out: &mut [u8]) -> Result<usize, WireError> {
        let mut w = Writer::new(out, Self::SIZE)?;
        w.put(&self.retcode.to_be_bytes())?;
        Ok(w.done())
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = exact(bytes, Self::SIZE)?;
        Ok(Self {
            retcode: i32::from_be_bytes(r.array()?),
        })
    }
}

/// The resync parameters: `struct p_rs_param` (up to 88, with the verify-alg as a string of
/// its own length at 88), `p_rs_param_89` (89..=94, two 64-byte name fields) and
/// `p_rs_param_95` (95 on, plus the resync controller settings). Sent as P_SYNC_PARAM below 89
/// and P_SYNC_PARAM89 from 89 on; the receiver takes either command and goes by the version.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SyncParam<'a> {
    pub(crate) resync_rate: u32,
    /// Without NUL; carried from 88 on.
    pub(crate) verify_alg: &'a [u8],
    /// Without NUL; carried from 89 on.
    pub(crate) csums_alg: &'a [u8],
    /// The dynamic resync controller, carried from 95 on (0 when decoded below).
    pub(crate) c_plan_ahead: u32,
    pub(crate) c_delay_target: u32,
    pub(crate) c_fill_target: u32,
    pub(crate) c_max_rate: u32,
}

impl<'a> SyncParam<'a> {
    /// `sizeof(struct p_rs_param)`.
    pub(crate) const SIZE_80: usize = 4;
    /// `sizeof(struct p_rs_param_89)`.
    pub(crate) const SIZE_89: usize = 4 + 2 * SHARED_SECRET_MAX;
    /// `sizeof(struct p_rs_param_95)`.
    pub(crate) const SIZE_95: usize = Self::SIZE_89 + 16;

    /// The packet drbd_send_sync_param() uses at `agreed`.
    pub(crate) fn command(agreed: u32) -> Command {
        if agreed >= 89 {
            Command::SyncParam89
        } else {
            Command::SyncParam
        }
    }

    /// The payload size drbd_send_sync_param() sends at `agreed`.
    pub(crate) fn wire_size(&self, agreed: u32) -> usize {
        if agreed <= 87 {
            Self::SIZE_80
        } else if agreed == 88 {
            Self::SIZE_80 + self.verify_alg.len() + 1
        } else if agreed <= 94 {
            Self::SIZE_89
        } else {
            Self::SIZE_95
        }
    }

    /// Encodes the payload for `agreed`; what that version does not carry is left out, as C
    /// does. Names must be at most 63 bytes without NUL.
    pub(crate) fn encode(&self, agreed: u32, out: &mut [u8]) -> Result<usize, WireError> {
        if agreed >= 88 {
            check_alg(self.verify_alg)?;
        }
        if agreed >= 89 {
            check_alg(self.csums_alg)?;
        }
        let mut w = Writer::new(out, self.wire_size(agreed))?;
        w.be32(self.resync_rate)?;
        if agreed == 88 {
            w.put(self.verify_alg)?;
            w.skip(1)?;
        } else if agreed >= 89 {
            w.put(self.verify_alg)?;
            w.skip(SHARED_SECRET_MAX.saturating_sub(self.verify_alg.len()))?;
            w.put(self.csums_alg)?;
            w.skip(SHARED_SECRET_MAX.saturating_sub(self.csums_alg.len()))?;
            if agreed >= 95 {
                w.be32(self.c_plan_ahead)?;
                w.be32(self.c_delay_target)?;
                w.be32(self.c_fill_target)?;
                w.be32(self.c_max_rate)?;
            }
        }
        Ok(w.done())
    }

    /// receive_SyncParam() of a new connection (WFReportParams): the first algorithm the peer
    /// names differently from ours (`verify-alg` from 88 on, `csums-alg` from 89 on), with the
    /// peer's name; C then logs "Different verify-alg settings. me=... peer=..." and
    /// disconnects.
    pub(crate) fn differing_alg(
        &self,
        agreed: u32,
        verify: &[u8],
        csums: &[u8],
    ) -> Option<(&'static str, &'a [u8])> {
        if agreed >= 88 && self.verify_alg != verify {
            Some(("verify-alg", self.verify_alg))
        } else if agreed >= 89 && self.csums_alg != csums {
            Some(("csums-alg", self.csums_alg))
        } else {
            None
        }
    }

    /// Decodes a whole payload received at `agreed` (either command), with the sizes of
    /// [`payload_rule`]. Names end at the first NUL and have at most 63 bytes: C forces the last
    /// byte of each field (at 88, of the string the peer sent) to NUL.
    pub(crate) fn decode(agreed: u32, bytes: &'a [u8]) -> Result<Self, WireError> {
        let (min, max) = if agreed <= 87 {
            (Self::SIZE_80, Self::SIZE_80)
        } else if agreed == 88 {
            (Self::SIZE_80 + 1, Self::SIZE_80 + SHARED_SECRET_MAX)
        } else if agreed <= 94 {
            (Self::SIZE_89, Self::SIZE_89)
        } else {
            (Self::SIZE_95, Self::SIZE_95)
        };
        if bytes.len() < min || bytes.len() > max {
            return Err(WireError::BadSize {
                min,
                max,
                got: bytes.len(),
            });
        }
        let mut r = Reader::new(bytes);
        let mut p = Self {
            resync_rate: r.be32()?,
            ..Self::default()
        };
        if agreed == 88 {
            // the string, its last byte forced to NUL
            let sent = r.rest;
            p.verify_alg = until_nul(sent.get(..sent.len().saturating_sub(1)).unwrap_or(&[]));
        } else if agreed >= 89 {
            p.verify_alg = alg_field(r.take(SHARED_SECRET_MAX)?);
            p.csums_alg = alg_field(r.take(SHARED_SECRET_MAX)?);
            if agreed >= 95 {
                p.c_plan_ahead = r.be32()?;
                p.c_delay_target = r.be32()?;
                p.c_fill_target = r.be32()?;
                p.c_max_rate = r.be32()?;
            }
        }
        Ok(p)
    }
}

// ---------------------------------------------------------------------------------------------
// Bitmap framing

/// Bytes per word of a P_BITMAP: the bitmap travels as little-endian 64-bit words (C sends
/// `unsigned long`s, and the bitmap is kept a multiple of 64 bits).
pub(crate) const BITMAP_WORD_SIZE: usize = 8;

/// The most payload a bitmap packet has at `agreed`: a socket buffer minus the header.
#[cfg(test)]
pub(crate) fn bitmap_payload_max(agreed: u32) -> usize {
    DRBD_SOCKET_BUFFER_SIZE - header_size(agreed)
}

/// The payload size of the next P_BITMAP, with `words_left` words of the bitmap still to go
/// (send_bitmap_rle_or_plain() and receive_bitmap_plain() agree on it; 0 ends the transfer).
#[cfg(test)]
pub(crate) fn bitmap_plain_len(agreed: u32, words_left: u64) -> usize {
    let per_packet = bitmap_payload_max(agreed) / BITMAP_WORD_SIZE;
    let words = usize::try_from(words_left).map_or(per_packet, |w| w.min(per_packet));
    words * BITMAP_WORD_SIZE
}

/// Checks a received P_BITMAP's length against the one expected with `words_left` words to go,
/// as receive_bitmap_plain() does, and returns the number of words it carries.
#[cfg(test)]
pub(crate) fn check_bitmap_plain_len(
    agreed: u32,
    words_left: u64,
    length: u32,
) -> Result<usize, WireError> {
    let want = bitmap_plain_len(agreed, words_left);
    if usize::try_from(length).ok() == Some(want) {
        Ok(want / BITMAP_WORD_SIZE)
    } else {
        Err(WireError::BadPayloadLength {
            command: Command::Bitmap,
            length,
        })
    }
}

/// `struct p_compressed_bm`: P_COMPRESSED_BITMAP, an encoding byte and the code bytes (which
/// bitmap_codec decodes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CompressedBm<'a> {
    /// Bits 0..=3 the encoding (`RLE_VLI_BITS`), bits 4..=6 the number of padding bits at the
    /// end of the code, bit 7 whether the first run is of set bits.
    pub(crate) encoding: u8,
    pub(crate) code: &'a [u8],
}

impl<'a> CompressedBm<'a> {
    /// The shortest payload receive_bitmap() takes: the encoding byte and one code byte.
    pub(crate) const MIN_SIZE: usize = 2;

    /// The encoding byte for [`RLE_VLI_BITS`] code (dcbp_set_code/start/pad_bits()).
    #[cfg(test)]
    pub(crate) fn rle_encoding(first_run_set: bool, pad_bits: u8) -> u8 {
        let start = if first_run_set { 0x80 } else { 0 };
        RLE_VLI_BITS | ((pad_bits & 7) << 4) | start
    }

    /// The encoding (dcbp_get_code()).
    #[cfg(test)]
    pub(crate) fn code_kind(&self) -> u8 {
        self.encoding & 0x0f
    }

    /// Whether the first run length counts set bits (dcbp_get_start()).
    #[cfg(test)]
    pub(crate) fn first_run_set(&self) -> bool {
        self.encoding & 0x80 != 0
    }

    /// Unused bits at the end of the last code byte (dcbp_get_pad_bits()).
    #[cfg(test)]
    pub(crate) fn pad_bits(&self) -> u8 {
        (self.encoding >> 4) & 7
    }

    /// The most code bytes one packet carries at `agreed`.
    #[cfg(test)]
    pub(crate) fn max_code_len(agreed: u32) -> usize {
        bitmap_payload_max(agreed) - 1
    }

    #[cfg(test)]
    pub(crate) fn encode(&self, agreed: u32, out: &mut [u8]) -> Result<usize, WireError> {
        let len = 1 + self.code.len();
        if self.code.is_empty() || self.code.len() > Self::max_code_len(agreed) {
            return Err(WireError::BadSize {
                min: Self::MIN_SIZE,
                max: bitmap_payload_max(agreed),
                got: len,
            });
        }
        let mut w = Writer::new(out, len)?;
        w.u8(self.encoding)?;
        w.put(self.code)?;
        Ok(w.done())
    }

    /// Decodes a payload received at `agreed` as receive_bitmap() and decode_bitmap_c() check it:
    /// more than the encoding byte, at most a socket buffer with the header, RLE_VLI_Bits.
    #[cfg(test)]
    pub(crate) fn decode(agreed: u32, bytes: &'a [u8]) -> Result<Self, WireError> {
        let max = bitmap_payload_max(agreed);
        if bytes.len() < Self::MIN_SIZE || bytes.len() > max {
            return Err(WireError::BadSize {
                min: Self::MIN_SIZE,
                max,
                got: bytes.len(),
            });
        }
        let (&encoding, code) = bytes.split_first().ok_or(WireError::BadSize {
            min: Self::MIN_SIZE,
            max,
            got: 0,
        })?;
        let p = Self { encoding, code };
        if p.code_kind() != RLE_VLI_BITS {
            return Err(WireError::UnknownBitmapEncoding(encoding));
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;
    use std::vec::Vec;

    /// xorshift64: deterministic pseudo-random bytes without crates.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }

        fn bytes(&mut self, len: usize) -> Vec<u8> {
            (0..len).map(|_| self.next() as u8).collect()
        }
    }

    const VERSIONS: [u32; 8] = [80, 86, 87, 88, 89, 94, 95, 101];

    fn header_bytes(agreed: u32, command: Command, volume: u16, length: u32) -> Vec<u8> {
        let mut out = vec![0; HEADER_MAX];
        let n = encode_header(agreed, command.as_u16(), volume, length, &mut out).unwrap();
        out.truncate(n);
        out
    }

    // --- packet numbers

    #[test]
    fn command_numbers() {
        let mut known = 0;
        for n in 0..=u16::MAX {
            if let Some(c) = Command::from_u16(n) {
                assert_eq!(c.as_u16(), n);
                assert!(!c.may_ignore());
                known += 1;
            }
            assert!(!may_ignore(n));
        }
        assert_eq!(known, Command::ALL.len());
        for pair in Command::ALL.windows(2) {
            assert!(pair[0].as_u16() < pair[1].as_u16());
        }
        for n in [
            0x25, 0x26, 0x2e, 0x2f, 0x30, 0x35, 0x37, 0x40, 0x48, 0x100, 0x101, 0xffff,
        ] {
            assert_eq!(Command::from_u16(n), None, "0x{n:x}");
        }
        assert_eq!(Command::from_u16(0xfffe), Some(Command::ConnectionFeatures));
        assert_eq!(Command::from_u16(0xfff1), Some(Command::InitialMeta));
        assert_eq!(Command::from_u16(0xfff2), Some(Command::InitialData));
        assert_eq!(Command::Zeroes.as_u16(), 0x36);
        assert_eq!(Command::Bitmap.name(), "ReportBitMap");
    }

    #[test]
    fn sockets() {
        // ack_receiver_tbl[] and the first packet on the meta socket
        let meta = [
            Command::Ping,
            Command::PingAck,
            Command::RecvAck,
            Command::WriteAck,
            Command::RsWriteAck,
            Command::Superseded,
            Command::NegAck,
            Command::NegDReply,
            Command::NegRsDReply,
            Command::OvResult,
            Command::BarrierAck,
            Command::StateChgReply,
            Command::RsIsInSync,
            Command::RsCancel,
            Command::ConnStChgReply,
            Command::RetryWrite,
            Command::InitialMeta,
        ];
        for c in Command::ALL {
            let want = if meta.contains(&c) {
                SocketKind::Meta
            } else if c == Command::DelayProbe {
                SocketKind::Both
            } else {
                SocketKind::Data
            };
            assert_eq!(c.socket(), want, "{c:?}");
        }
    }

    // --- headers

    #[test]
    fn header_choice() {
        use HeaderKind::*;
        let lengths = [0, 32767, 32768, 32769, 65535, 65536, MAX_PAYLOAD];
        let table: [(u32, [Option<HeaderKind>; 7]); 6] = [
            (
                86,
                [
                    Some(H80),
                    Some(H80),
                    Some(H80),
                    Some(H80),
                    Some(H80),
                    None,
                    None,
                ],
            ),
            (
                94,
                [
                    Some(H80),
                    Some(H80),
                    Some(H80),
                    Some(H80),
                    Some(H80),
                    None,
                    None,
                ],
            ),
            (
                95,
                [
                    Some(H80),
                    Some(H80),
                    Some(H80),
                    Some(H95),
                    Some(H95),
                    Some(H95),
                    Some(H95),
                ],
            ),
            (
                99,
                [
                    Some(H80),
                    Some(H80),
                    Some(H80),
                    Some(H95),
                    Some(H95),
                    Some(H95),
                    Some(H95),
                ],
            ),
            (100, [Some(H100); 7]),
            (101, [Some(H100); 7]),
        ];
        for (agreed, kinds) in table {
            for (length, want) in lengths.into_iter().zip(kinds) {
                let header = Header {
                    command: P_DATA,
                    volume: 0,
                    length,
                };
                let mut out = [0u8; HEADER_MAX];
                match want {
                    Some(kind) => {
                        assert_eq!(header_kind(agreed, length), kind);
                        let n = header.encode(agreed, &mut out).unwrap();
                        assert_eq!(n, kind.size());
                        assert_eq!(n, header_size(agreed));
                        assert_eq!(decode_header(agreed, &out[..n]), Ok(header));
                    }
                    None => assert_eq!(
                        header.encode(agreed, &mut out),
                        Err(WireError::LengthTooLarge { length, max: 65535 })
                    ),
                }
            }
        }
        assert_eq!(header_size(PRE_AGREEMENT_VERSION), 8);
        assert_eq!(header_size(99), 8);
        assert_eq!(header_size(100), 16);
    }

    #[test]
    fn header_round_trips() {
        for agreed in [80, 86, 94, 95, 99, 100, 101] {
            for c in Command::ALL {
                for length in [0, 8, 4088, 32768, 32769, 65535] {
                    let volume = if agreed >= 100 { 7 } else { 0 };
                    let header = Header {
                        command: c.as_u16(),
                        volume,
                        length,
                    };
                    let mut out = [0u8; HEADER_MAX];
                    let n = match header.encode(agreed, &mut out) {
                        Ok(n) => n,
                        Err(e) => {
                            assert!(agreed < 95 && length > 65535, "{e}");
                            continue;
                        }
                    };
                    assert_eq!(decode_header(agreed, &out), Ok(header));
                    assert_eq!(n, header_size(agreed));
                }
            }
        }
    }

    /// P_CONNECTION_FEATURES as drbd_send_features() sends it: h80 (the version is still 80),
    /// 72 bytes of payload, 80 on the wire.
    #[test]
    fn connection_features_layout() {
        let mut packet = [0xaau8; 80];
        let h = Header {
            command: P_CONNECTION_FEATURES,
            volume: 0,
            length: ConnectionFeatures::SIZE as u32,
        };
        let n = h.encode(PRE_AGREEMENT_VERSION, &mut packet).unwrap();
        let m = ConnectionFeatures::ours(PRO_VERSION_MAX)
            .encode(&mut packet[n..])
            .unwrap();
        assert_eq!(n + m, 80);
        let mut want = [0u8; 80];
        want[..20].copy_from_slice(&[
            0x83, 0x74, 0x02, 0x67, 0xff, 0xfe, 0x00, 0x48, // h80: magic, command, length 72
            0, 0, 0, 86, // protocol_min
            0, 0, 0, 0x0f, // feature_flags
            0, 0, 0, 101, // protocol_max; then _pad and reserved[7], zero
        ]);
        assert_eq!(packet, want);
        let header = decode_header(PRE_AGREEMENT_VERSION, &packet).unwrap();
        assert_eq!(header, h);
        let n = header_size(PRE_AGREEMENT_VERSION);
        let command = header.known_command().unwrap();
        check_payload_len(command, PRE_AGREEMENT_VERSION, 0, header.length).unwrap();
        let mut whole = [0u8; FEATURES_PACKET_LEN];
        assert_eq!(encode_features(PRO_VERSION_MAX, &mut whole), Ok(80));
        assert_eq!(whole, want);
        assert_eq!(agree(&whole[8..]), Ok(101));
        assert!(agree(&whole[8..79]).is_err());
        assert!(matches!(
            encode_features(PRO_VERSION_MAX, &mut whole[..79]),
            Err(WireError::BufferTooSmall { .. })
        ));
        let peer = ConnectionFeatures::decode(&packet[n..]).unwrap();
        assert_eq!(peer, ConnectionFeatures::ours(PRO_VERSION_MAX));
        assert_eq!(
            agree_with_peer(PRO_VERSION_MAX, &peer),
            Ok(Agreed {
                version: 101,
                features: PRO_FEATURES
            })
        );
    }

    /// A 4 KiB P_DATA at protocol 86 (h80), as drbd_send_dblock() lays it out.
    #[test]
    fn data_packet_layout() {
        let data = Data {
            sector: 0x0102_0304_0506_0708,
            block_id: 0x1122_3344_5566_7788,
            seq_num: 42,
            dp_flags: DP_RW_SYNC | DP_FUA,
        };
        let mut packet = [0u8; 8 + 24];
        let h = Header {
            command: P_DATA,
            volume: 0,
            length: 24 + 4096,
        };
        let n = h.encode(86, &mut packet).unwrap();
        data.encode(&mut packet[n..]).unwrap();
        assert_eq!(
            packet,
            [
                0x83, 0x74, 0x02, 0x67, 0x00, 0x00, 0x10, 0x18, // h80, P_DATA, 4120
                1, 2, 3, 4, 5, 6, 7, 8, // sector
                0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, // block_id, as it was
                0, 0, 0, 42, // seq_num
                0, 0, 0, 0x12, // DP_RW_SYNC | DP_FUA
            ]
        );
        let header = decode_header(86, &packet).unwrap();
        let n = header_size(86);
        let split =
            check_payload_len(header.known_command().unwrap(), 86, 0, header.length).unwrap();
        assert_eq!(
            split,
            PayloadSplit {
                fixed: 24,
                extra: 4096
            }
        );
        assert_eq!(Data::decode(&packet[n..n + split.fixed]), Ok(data));
        check_block_size(Command::Data, 4096).unwrap();
    }

    #[test]
    fn h100_and_h95_layouts() {
        assert_eq!(
            header_bytes(100, Command::State, 3, 4),
            [0x86, 0x20, 0xec, 0x20, 0, 3, 0, 0x0e, 0, 0, 0, 4, 0, 0, 0, 0]
        );
        assert_eq!(
            header_bytes(95, Command::Data, 0, 32768 + 24 + 1),
            [0x83, 0x5a, 0, 0, 0, 0, 0x80, 0x19]
        );
        assert_eq!(
            header_bytes(95, Command::Data, 0, 32768),
            [0x83, 0x74, 0x02, 0x67, 0, 0, 0x80, 0x00]
        );
        assert_eq!(
            header_bytes(86, Command::InitialMeta, 0, 0),
            [0x83, 0x74, 0x02, 0x67, 0xff, 0xf1, 0, 0]
        );
    }

    #[test]
    fn header_errors() {
        let h80 = header_bytes(86, Command::Ping, 0, 0);
        let h95 = header_bytes(95, Command::Data, 0, 40000);
        let h100 = header_bytes(100, Command::Ping, 0, 0);
        // truncated
        for agreed in [80, 86, 99, 100] {
            let size = header_size(agreed);
            let long = if size == 16 { &h100 } else { &h80 };
            for len in 0..size {
                assert_eq!(
                    decode_header(agreed, &long[..len]),
                    Err(WireError::Truncated {
                        need: size,
                        got: len
                    })
                );
            }
        }
        // which magic at which version: h80 and h95 below 100, even before 95
        assert!(decode_header(PRE_AGREEMENT_VERSION, &h95).is_ok());
        assert!(decode_header(86, &h95).is_ok());
        assert!(decode_header(99, &h80).is_ok());
        assert_eq!(
            decode_header(86, &h100),
            Err(WireError::BadMagic {
                magic: DRBD_MAGIC_100,
                agreed: 86
            })
        );
        let mut h80_padded = h80.clone();
        h80_padded.resize(16, 0);
        assert_eq!(
            decode_header(100, &h80_padded),
            Err(WireError::BadMagic {
                magic: DRBD_MAGIC,
                agreed: 100
            })
        );
        let mut h95_padded = h95.clone();
        h95_padded.resize(16, 0);
        assert!(matches!(
            decode_header(101, &h95_padded),
            Err(WireError::BadMagic { .. })
        ));
        assert!(matches!(
            decode_header(86, &[0x83, 0x74, 0x02, 0x68, 0, 0, 0, 0]),
            Err(WireError::BadMagic { .. })
        ));
        // pad
        let mut bad = h100.clone();
        bad[15] = 1;
        assert_eq!(decode_header(100, &bad), Err(WireError::BadPad(1)));
        // unknown command
        let mut bad = h80.clone();
        bad[4..6].copy_from_slice(&0x25u16.to_be_bytes());
        // unknown commands pass the header (as in C) and are refused by number after it
        let h = decode_header(86, &bad).unwrap();
        assert_eq!(h.command, 0x25);
        assert_eq!(h.known_command(), Err(WireError::UnknownCommand(0x25)));
        let mut bad = h100.clone();
        bad[6..8].copy_from_slice(&0x100u16.to_be_bytes());
        let h = decode_header(100, &bad).unwrap();
        assert_eq!(h.known_command(), Err(WireError::UnknownCommand(0x100)));
        // oversized lengths
        let mut bad = h95.clone();
        bad[4..8].copy_from_slice(&(MAX_PAYLOAD + 1).to_be_bytes());
        assert_eq!(
            decode_header(95, &bad),
            Err(WireError::LengthTooLarge {
                length: MAX_PAYLOAD + 1,
                max: MAX_PAYLOAD
            })
        );
        let mut bad = h100.clone();
        bad[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            decode_header(100, &bad),
            Err(WireError::LengthTooLarge { .. })
        ));
        bad[8..12].copy_from_slice(&MAX_PAYLOAD.to_be_bytes());
        assert!(decode_header(100, &bad).is_ok());
        // encoding
        let h = Header {
            command: P_DATA,
            volume: 1,
            length: 0,
        };
        assert_eq!(
            h.encode(99, &mut [0; 16]),
            Err(WireError::VolumeNotEncodable(1))
        );
        assert_eq!(
            h.encode(100, &mut [0; 15]),
            Err(WireError::BufferTooSmall { need: 16, got: 15 })
        );
        let h = Header {
            command: P_DATA,
            volume: 0,
            length: MAX_PAYLOAD + 1,
        };
        assert!(matches!(
            h.encode(101, &mut [0; 16]),
            Err(WireError::LengthTooLarge { .. })
        ));
    }

    // --- payloads

    /// Encodes with `encode`, checks the size, decodes back; then checks that every shorter
    /// and a longer input is refused, and a short output buffer too.
    fn round_trip<T: PartialEq + core::fmt::Debug>(
        value: &T,
        size: usize,
        encode: impl Fn(&T, &mut [u8]) -> Result<usize, WireError>,
        decode: impl Fn(&[u8]) -> Result<T, WireError>,
    ) -> Vec<u8> {
        let mut out = vec![0xa5; size + 8];
        assert_eq!(encode(value, &mut out), Ok(size));
        assert_eq!(&decode(&out[..size]).unwrap(), value);
        for len in 0..size {
            assert!(decode(&out[..len]).is_err(), "{len} of {size} bytes");
            assert!(matches!(
                encode(value, &mut out[..len]),
                Err(WireError::BufferTooSmall { .. })
            ));
        }
        assert!(decode(&out[..size + 1]).is_err());
        out.truncate(size);
        out
    }

    #[test]
    fn fixed_payload_round_trips() {
        let data = Data {
            sector: 1 << 40,
            block_id: 0xdead_beef_0bad_f00d,
            seq_num: 7,
            dp_flags: DP_SEND_WRITE_ACK | DP_MAY_SET_IN_SYNC,
        };
        round_trip(&data, 24, Data::encode, Data::decode);
        let trim = Trim {
            data,
            size: 128 << 20,
        };
        let b = round_trip(&trim, 28, Trim::encode, Trim::decode);
        assert_eq!(b[24..], (128u32 << 20).to_be_bytes());
        let ack = BlockAck {
            sector: 8,
            block_id: ID_SYNCER,
            blksize: 4096,
            seq_num: u32::MAX,
        };
        round_trip(&ack, 24, BlockAck::encode, BlockAck::decode);
        let req = BlockReq {
            sector: 99,
            block_id: 5,
            blksize: 1 << 20,
        };
        let b = round_trip(&req, 24, BlockReq::encode, BlockReq::decode);
        assert_eq!(b[20..], [0; 4]);
        // the pad is not looked at
        let mut b = b;
        b[20..].copy_from_slice(&[1, 2, 3, 4]);
        assert_eq!(BlockReq::decode(&b), Ok(req));
        // with a digest (P_CSUM_RS_REQUEST, P_OV_REPLY); a short request is refused
        let mut out = [0u8; 28];
        assert_eq!(req.encode_with_digest(&[7; 4], &mut out), Ok(28));
        assert_eq!(BlockReq::decode_with_digest(&out), Ok((req, &[7u8; 4][..])));
        assert!(BlockReq::decode_with_digest(&out[..20]).is_err());
        let desc = BlockDesc {
            sector: 12,
            blksize: 512,
        };
        round_trip(&desc, 16, BlockDesc::encode, BlockDesc::decode);
        // the barrier number is opaque: its bytes come back as they went
        let b = round_trip(
            &Barrier {
                barrier: u32::from_be_bytes([5, 0, 0, 0]),
            },
            8,
            Barrier::encode,
            Barrier::decode,
        );
        assert_eq!(b, [5, 0, 0, 0, 0, 0, 0, 0]);
        let back = BarrierAck {
            barrier: Barrier::decode(&b).unwrap().barrier,
            set_size: 3,
        };
        let b = round_trip(&back, 8, BarrierAck::encode, BarrierAck::decode);
        assert_eq!(b, [5, 0, 0, 0, 0, 0, 0, 3]);
        round_trip(
            &DelayProbe {
                seq_num: 1,
                offset: 2,
            },
            8,
            DelayProbe::encode,
            DelayProbe::decode,
        );
        let uuids = Uuids {
            uuid: [0x1111, 0x2222, 0x3333, 0x4444],
            bitmap_bits: 4711,
            flags: UUID_FLAG_CRASHED_PRIMARY | UUID_FLAG_INCONSISTENT,
        };
        let b = round_trip(&uuids, 48, Uuids::encode, Uuids::decode);
        assert_eq!(b[32..40], 4711u64.to_be_bytes());
        assert_eq!(b[40..], 6u64.to_be_bytes());
        round_trip(&RsUuid { uuid: 0xabcd }, 8, RsUuid::encode, RsUuid::decode);
        round_trip(
            &State { state: 0x1234_5678 },
            4,
            State::encode,
            State::decode,
        );
        round_trip(
            &ReqState {
                mask: 0xf,
                val: 0x3,
            },
            8,
            ReqState::encode,
            ReqState::decode,
        );
        let b = round_trip(
            &ReqStateReply { retcode: -10 },
            4,
            ReqStateReply::encode,
            ReqStateReply::decode,
        );
        assert_eq!(b, [0xff, 0xff, 0xff, 0xf6]);
        let features = ConnectionFeatures {
            protocol_min: 86,
            feature_flags: 5,
            protocol_max: 0,
        };
        round_trip(
            &features,
            72,
            ConnectionFeatures::encode,
            ConnectionFeatures::decode,
        );
        assert_eq!(ReqState::conn_command(99), Command::StateChgReq);
        assert_eq!(ReqState::conn_command(100), Command::ConnStChgReq);
        assert_eq!(ReqStateReply::conn_command(99), Command::StateChgReply);
        assert_eq!(ReqStateReply::conn_command(100), Command::ConnStChgReply);
    }

    #[test]
    fn sizes() {
        let qlim = Qlim {
            physical_block_size: 4096,
            logical_block_size: 512,
            alignment_offset: 0,
            io_min: 4096,
            io_opt: 65536,
            discard_enabled: 1,
            discard_zeroes_data: 0,
            write_same_capable: 0,
        };
        let mut sizes = Sizes {
            d_size: 2 << 30,
            u_size: 0,
            c_size: 2 << 30,
            max_bio_size: DRBD_MAX_BIO_SIZE,
            queue_order_type: 0,
            dds_flags: 1,
            qlim: Some(qlim),
        };
        let b = round_trip(
            &sizes,
            56,
            |s, out| s.encode(PRO_FEATURES, out),
            |b| Sizes::decode(PRO_FEATURES, b),
        );
        assert_eq!(b[28..32], [0, 0, 0, 1]);
        assert_eq!(b[52..], [1, 0, 0, 0]);
        assert!(Sizes::decode(0, &b).is_err());
        sizes.qlim = None;
        round_trip(
            &sizes,
            32,
            |s, out| s.encode(FF_TRIM, out),
            |b| Sizes::decode(FF_TRIM, b),
        );
        // no limits to send: zeros
        let mut out = [0xffu8; 56];
        assert_eq!(sizes.encode(FF_WSAME, &mut out), Ok(56));
        assert_eq!(out[32..], [0; 24]);
        assert_eq!(
            Sizes::decode(FF_WSAME, &out).unwrap().qlim,
            Some(Qlim::default())
        );
        assert_eq!(max_bio_size_for_protocol(86), 32 << 10);
        assert_eq!(max_bio_size_for_protocol(94), 32 << 10);
        assert_eq!(max_bio_size_for_protocol(95), 128 << 10);
        assert_eq!(max_bio_size_for_protocol(100), 1 << 20);
    }

    #[test]
    fn protocol() {
        let p = Protocol {
            protocol: DRBD_PROT_C,
            after_sb_0p: 1,
            after_sb_1p: 2,
            after_sb_2p: 0,
            conn_flags: CF_DISCARD_MY_DATA,
            two_primaries: 1,
            integrity_alg: b"sha1",
        };
        let mut out = [0u8; 100];
        // before 87: the fixed part only
        assert_eq!(p.encode(86, &mut out), Ok(24));
        let old = Protocol::decode(86, &out[..24]).unwrap();
        assert_eq!(
            old,
            Protocol {
                integrity_alg: b"",
                ..p
            }
        );
        assert!(Protocol::decode(86, &out[..25]).is_err());
        // from 87: the name and its NUL
        assert_eq!(p.encode(101, &mut out), Ok(29));
        assert_eq!(out[..4], [0, 0, 0, 3]);
        assert_eq!(out[24..29], *b"sha1\0");
        assert_eq!(Protocol::decode(101, &out[..29]), Ok(p));
        assert_eq!(p.wire_size(87), 29);
        for len in 0..24 {
            assert!(Protocol::decode(101, &out[..len]).is_err());
        }
        // a name without NUL counts to 63 bytes; more than 64 bytes are refused
        let mut long = [b'x'; 24 + 65];
        long[..24].copy_from_slice(&out[..24]);
        assert_eq!(
            Protocol::decode(100, &long[..88]).unwrap().integrity_alg,
            &[b'x'; 63]
        );
        assert!(Protocol::decode(100, &long).is_err());
        // no name at all is fine: integrity_alg stays ""
        assert_eq!(
            Protocol::decode(100, &out[..24]).unwrap().integrity_alg,
            b""
        );
        // stops at the first NUL
        let mut odd = out;
        odd[26] = 0;
        assert_eq!(
            Protocol::decode(100, &odd[..29]).unwrap().integrity_alg,
            b"sh"
        );
        // names the driver cannot send
        let bad = Protocol {
            integrity_alg: &[b'y'; 64],
            ..p
        };
        assert_eq!(bad.encode(100, &mut out), Err(WireError::BadString));
        assert_eq!(bad.encode(86, &mut out), Ok(24));
        let bad = Protocol {
            integrity_alg: b"a\0b",
            ..p
        };
        assert_eq!(bad.encode(100, &mut out), Err(WireError::BadString));
        assert!(matches!(
            p.encode(100, &mut out[..28]),
            Err(WireError::BufferTooSmall { .. })
        ));
    }

    #[test]
    fn sync_param() {
        let p = SyncParam {
            resync_rate: 250,
            verify_alg: b"crc32c",
            csums_alg: b"md5",
            c_plan_ahead: 20,
            c_delay_target: 10,
            c_fill_target: 100,
            c_max_rate: 102400,
        };
        let mut out = [0u8; 200];
        for agreed in 86..=101 {
            let size = p.wire_size(agreed);
            assert_eq!(p.encode(agreed, &mut out), Ok(size));
            let back = SyncParam::decode(agreed, &out[..size]).unwrap();
            let mut want = p;
            if agreed < 88 {
                want.verify_alg = b"";
            }
            if agreed < 89 {
                want.csums_alg = b"";
            }
            if agreed < 95 {
                want.c_plan_ahead = 0;
                want.c_delay_target = 0;
                want.c_fill_target = 0;
                want.c_max_rate = 0;
            }
            assert_eq!(back, want, "{agreed}");
            let split =
                check_payload_len(SyncParam::command(agreed), agreed, 0, size as u32).unwrap();
            assert_eq!(split.fixed + split.extra, size);
            // at 88 any shorter string is fine too
            let shortest = if agreed == 88 { 5 } else { size };
            for len in 0..shortest {
                assert!(SyncParam::decode(agreed, &out[..len]).is_err());
            }
            if agreed != 88 {
                assert!(SyncParam::decode(agreed, &out[..size + 1]).is_err());
            }
        }
        // the peers' algorithms must match from the version that carries them
        assert_eq!(p.differing_alg(87, b"sha1", b"sha1"), None);
        assert_eq!(
            p.differing_alg(88, b"", b"sha1"),
            Some(("verify-alg", &b"crc32c"[..]))
        );
        assert_eq!(p.differing_alg(88, b"crc32c", b""), None);
        assert_eq!(
            p.differing_alg(89, b"crc32c", b""),
            Some(("csums-alg", &b"md5"[..]))
        );
        assert_eq!(p.differing_alg(101, b"crc32c", b"md5"), None);
        assert_eq!(p.wire_size(87), 4);
        assert_eq!(p.wire_size(88), 4 + 7);
        assert_eq!(p.wire_size(89), 132);
        assert_eq!(p.wire_size(94), 132);
        assert_eq!(p.wire_size(95), 148);
        assert_eq!(SyncParam::command(88), Command::SyncParam);
        assert_eq!(SyncParam::command(89), Command::SyncParam89);
        // the p_rs_param_95 layout
        p.encode(95, &mut out).unwrap();
        assert_eq!(out[..4], 250u32.to_be_bytes());
        assert_eq!(out[4..11], *b"crc32c\0");
        assert_eq!(out[68..72], *b"md5\0");
        assert_eq!(out[132..136], 20u32.to_be_bytes());
        assert_eq!(out[144..148], 102400u32.to_be_bytes());
        // at 88 the last byte of the string is forced to NUL; 1..=64 bytes of it
        let mut b = [0u8; 4 + 65];
        b[4..].fill(b'v');
        assert_eq!(SyncParam::decode(88, &b[..8]).unwrap().verify_alg, b"vvv");
        assert_eq!(SyncParam::decode(88, &b[..5]).unwrap().verify_alg, b"");
        assert_eq!(
            SyncParam::decode(88, &b[..68]).unwrap().verify_alg,
            &[b'v'; 63]
        );
        assert!(SyncParam::decode(88, &b[..4]).is_err());
        assert!(SyncParam::decode(88, &b).is_err());
        // full 64-byte fields without NUL: 63 bytes count
        let mut b = [b'z'; 148];
        b[..4].copy_from_slice(&[0, 0, 0, 1]);
        let d = SyncParam::decode(95, &b).unwrap();
        assert_eq!((d.verify_alg.len(), d.csums_alg.len()), (63, 63));
        // the older packet at a newer version, and names too long to send
        assert!(SyncParam::decode(95, &b[..132]).is_err());
        let bad = SyncParam {
            csums_alg: &[b'c'; 64],
            ..p
        };
        assert_eq!(bad.encode(89, &mut out), Err(WireError::BadString));
        assert_eq!(bad.encode(88, &mut out), Ok(11));
    }

    #[test]
    fn compressed_bitmap() {
        let enc = CompressedBm::rle_encoding(true, 5);
        assert_eq!(enc, 0x80 | 0x50 | 2);
        let p = CompressedBm {
            encoding: enc,
            code: &[0xde, 0xad],
        };
        assert!((p.first_run_set(), p.pad_bits(), p.code_kind()) == (true, 5, RLE_VLI_BITS));
        let mut out = [0u8; 4096];
        assert_eq!(p.encode(86, &mut out), Ok(3));
        assert_eq!(out[..3], [0xd2, 0xde, 0xad]);
        assert_eq!(CompressedBm::decode(86, &out[..3]), Ok(p));
        // too small, too large, by header size
        assert!(CompressedBm::decode(86, &out[..1]).is_err());
        assert!(CompressedBm::decode(86, &[]).is_err());
        out[0] = enc;
        assert!(CompressedBm::decode(86, &out[..4088]).is_ok());
        assert!(CompressedBm::decode(86, &out[..4089]).is_err());
        assert!(CompressedBm::decode(100, &out[..4080]).is_ok());
        assert!(CompressedBm::decode(100, &out[..4081]).is_err());
        assert_eq!(CompressedBm::max_code_len(100), 4079);
        let big = CompressedBm {
            encoding: enc,
            code: &out[1..4081],
        };
        assert!(big.encode(100, &mut [0; 4096]).is_err());
        assert!(CompressedBm { code: &[], ..p }
            .encode(100, &mut out)
            .is_err());
        // unknown encodings
        assert_eq!(
            CompressedBm::decode(86, &[0x80, 1]),
            Err(WireError::UnknownBitmapEncoding(0x80))
        );
        assert_eq!(
            CompressedBm::decode(86, &[0x03, 1]),
            Err(WireError::UnknownBitmapEncoding(3))
        );
    }

    #[test]
    fn bitmap_plain_framing() {
        assert_eq!(bitmap_plain_len(86, 1_000_000), 4088);
        assert_eq!(bitmap_plain_len(100, 1_000_000), 4080);
        assert_eq!(bitmap_plain_len(100, u64::MAX), 4080);
        assert_eq!(bitmap_plain_len(86, 3), 24);
        assert_eq!(bitmap_plain_len(86, 0), 0);
        assert_eq!(check_bitmap_plain_len(86, 1000, 4088), Ok(511));
        assert_eq!(check_bitmap_plain_len(101, 1000, 4080), Ok(510));
        assert_eq!(check_bitmap_plain_len(101, 2, 16), Ok(2));
        assert_eq!(check_bitmap_plain_len(101, 0, 0), Ok(0));
        assert!(check_bitmap_plain_len(101, 2, 8).is_err());
        assert!(check_bitmap_plain_len(101, 1000, 4088).is_err());
        assert!(check_payload_len(Command::Bitmap, 86, 0, 4088).is_ok());
        assert!(check_payload_len(Command::Bitmap, 86, 0, 4084).is_err());
        assert!(check_payload_len(Command::Bitmap, 100, 0, 4088).is_err());
        assert!(check_payload_len(Command::CompressedBitmap, 100, 0, 1).is_err());
        assert!(check_payload_len(Command::CompressedBitmap, 100, 0, 4080).is_ok());
    }

    // --- length rules

    fn ok_len(c: Command, agreed: u32, features: u32, len: u32) -> bool {
        check_payload_len(c, agreed, features, len).is_ok()
    }

    #[test]
    fn payload_lengths() {
        use Command as C;
        // exact sizes
        for (c, size) in [
            (C::Barrier, 8),
            (C::UnplugRemote, 0),
            (C::DataRequest, 24),
            (C::RsDataRequest, 24),
            (C::OvRequest, 24),
            (C::RsThinReq, 24),
            (C::Uuids, 48),
            (C::State, 4),
            (C::StateChgReq, 8),
            (C::ConnStChgReq, 8),
            (C::SyncUuid, 8),
            (C::DelayProbe, 8),
            (C::OutOfSync, 16),
            (C::RsDeallocated, 16),
            (C::Trim, 28),
            (C::Zeroes, 28),
            (C::Ping, 0),
            (C::PingAck, 0),
            (C::RecvAck, 24),
            (C::WriteAck, 24),
            (C::RsWriteAck, 24),
            (C::Superseded, 24),
            (C::NegAck, 24),
            (C::NegDReply, 24),
            (C::NegRsDReply, 24),
            (C::OvResult, 24),
            (C::RsIsInSync, 24),
            (C::RsCancel, 24),
            (C::RetryWrite, 24),
            (C::BarrierAck, 8),
            (C::StateChgReply, 4),
            (C::ConnStChgReply, 4),
            (C::ConnectionFeatures, 72),
            (C::InitialData, 0),
            (C::InitialMeta, 0),
            (C::Sizes, 32),
        ] {
            for agreed in VERSIONS {
                assert!(ok_len(c, agreed, 0, size), "{c:?}");
                assert!(!ok_len(c, agreed, 0, size + 1), "{c:?}");
                if size > 0 {
                    assert!(!ok_len(c, agreed, 0, size - 1), "{c:?}");
                }
            }
        }
        assert!(ok_len(C::Sizes, 101, FF_WSAME, 56));
        assert!(!ok_len(C::Sizes, 101, FF_WSAME, 32));
        assert!(!ok_len(C::Sizes, 101, PRO_FEATURES & !FF_WSAME, 56));
        // data packets: p_data, then up to 1 MiB and a digest
        let most = 24 + (1 << 20) + 64;
        for c in [C::Data, C::DataReply, C::RsDataReply] {
            assert!(!ok_len(c, 101, 0, 23));
            assert_eq!(
                check_payload_len(c, 101, 0, 24),
                Ok(PayloadSplit {
                    fixed: 24,
                    extra: 0
                })
            );
            assert!(ok_len(c, 101, 0, most));
            assert!(!ok_len(c, 101, 0, most + 1));
            assert!(ok_len(c, 94, 0, 24 + 32768 + 20));
        }
        for c in [C::OvReply, C::CsumRsRequest] {
            assert!(ok_len(c, 101, 0, 24));
            assert!(ok_len(c, 101, 0, 24 + 64));
            assert!(!ok_len(c, 101, 0, 24 + 65));
            assert!(!ok_len(c, 101, 0, 23));
        }
        // protocol: the string from 87 on
        assert!(ok_len(C::Protocol, 86, 0, 24));
        assert!(!ok_len(C::Protocol, 86, 0, 25));
        assert!(ok_len(C::ProtocolUpdate, 87, 0, 24 + 64));
        assert!(!ok_len(C::Protocol, 101, 0, 24 + 65));
        assert!(!ok_len(C::Protocol, 101, 0, 23));
        // resync parameters by version, either command
        for c in [C::SyncParam, C::SyncParam89] {
            assert!(ok_len(c, 86, 0, 4) && !ok_len(c, 86, 0, 5));
            assert!(!ok_len(c, 88, 0, 4) && ok_len(c, 88, 0, 5) && ok_len(c, 88, 0, 68));
            assert!(!ok_len(c, 88, 0, 69));
            assert!(ok_len(c, 89, 0, 132) && !ok_len(c, 89, 0, 131) && !ok_len(c, 94, 0, 148));
            assert!(ok_len(c, 95, 0, 148) && !ok_len(c, 95, 0, 132) && !ok_len(c, 101, 0, 149));
        }
        // authentication
        assert!(!ok_len(C::AuthChallenge, 80, 0, 63));
        assert!(ok_len(C::AuthChallenge, 80, 0, 64));
        assert!(ok_len(C::AuthChallenge, 80, 0, 128));
        assert!(!ok_len(C::AuthChallenge, 80, 0, 129));
        assert!(check_auth_challenge_len(100).is_ok());
        assert!(check_auth_challenge_len(0).is_err());
        assert!(check_auth_response_len(32, 32).is_ok());
        assert!(check_auth_response_len(20, 32).is_err());
        assert!(!ok_len(C::AuthResponse, 80, 0, 0));
        assert!(!ok_len(C::AuthResponse, 80, 0, 65));
        // no handler
        for c in [C::BecomeSyncTarget, C::BecomeSyncSource, C::Wsame] {
            assert_eq!(
                check_payload_len(c, 101, PRO_FEATURES, 0),
                Err(WireError::UnexpectedCommand(c))
            );
        }
        // every length of every packet: no panic, and in bounds when accepted
        for c in Command::ALL {
            for agreed in VERSIONS {
                for len in (0..300).chain([4080, 4088, 4096, most, u32::MAX]) {
                    if let Ok(s) = check_payload_len(c, agreed, PRO_FEATURES, len) {
                        assert_eq!((s.fixed + s.extra) as u32, len);
                        assert!(len <= MAX_PAYLOAD);
                    }
                }
            }
        }
    }

    #[test]
    fn block_sizes() {
        use Command as C;
        assert!(check_block_size(C::DataRequest, 0).is_err());
        assert!(check_block_size(C::RsDataRequest, 4096).is_ok());
        assert!(check_block_size(C::CsumRsRequest, 1 << 20).is_ok());
        assert!(check_block_size(C::OvRequest, (1 << 20) + 512).is_err());
        assert!(check_block_size(C::RsThinReq, 4097).is_err());
        assert!(check_block_size(C::Data, 0).is_ok());
        assert!(check_block_size(C::DataReply, 1 << 20).is_ok());
        assert!(check_block_size(C::RsDataReply, 511).is_err());
        assert!(check_block_size(C::Trim, 128 << 20).is_ok());
        assert!(check_block_size(C::Zeroes, (128 << 20) + 512).is_err());
        assert!(check_block_size(C::Zeroes, 0).is_ok());
        assert_eq!(
            check_block_size(C::Ping, 0),
            Err(WireError::UnexpectedCommand(C::Ping))
        );
    }

    // --- the handshake

    #[test]
    fn feature_agreement() {
        let peer = |protocol_min, feature_flags, protocol_max| ConnectionFeatures {
            protocol_min,
            feature_flags,
            protocol_max,
        };
        let agreed = |version, features| Ok(Agreed { version, features });
        assert_eq!(
            agree_with_peer(PRO_VERSION_MAX, &peer(86, 0xf, 101)),
            agreed(101, 0xf)
        );
        assert_eq!(
            agree_with_peer(PRO_VERSION_MAX, &peer(86, 0xff, 110)),
            agreed(101, 0xf)
        );
        assert_eq!(
            agree_with_peer(PRO_VERSION_MAX, &peer(86, 0, 100)),
            agreed(100, 0)
        );
        assert_eq!(
            agree_with_peer(PRO_VERSION_MAX, &peer(86, FF_TRIM, 96)),
            agreed(96, FF_TRIM)
        );
        // 8.3 peers announce only protocol_min
        assert_eq!(
            agree_with_peer(PRO_VERSION_MAX, &peer(94, 0, 0)),
            agreed(94, 0)
        );
        assert_eq!(
            agree_with_peer(PRO_VERSION_MAX, &peer(80, 0, 0)),
            Err(WireError::Incompatible {
                peer_min: 80,
                peer_max: 80
            })
        );
        assert_eq!(
            agree_with_peer(PRO_VERSION_MAX, &peer(102, 0xf, 121)),
            Err(WireError::Incompatible {
                peer_min: 102,
                peer_max: 121
            })
        );
        assert!(agree_with_peer(PRO_VERSION_MAX, &peer(80, 0, 85)).is_err());
        assert!(agree_with_peer(PRO_VERSION_MAX, &peer(0, 0, 0)).is_err());
        assert_eq!(
            agree_with_peer(PRO_VERSION_MAX, &peer(86, 0, 86)),
            agreed(86, 0)
        );
        // DRBD 9 peers: protocol 86..=121 or so, agreed on our maximum
        assert_eq!(
            agree_with_peer(PRO_VERSION_MAX, &peer(86, 0x1f, 121)),
            agreed(101, 0xf)
        );
        // min above max, as C: judged by the bounds, the result is still ours
        assert_eq!(
            agree_with_peer(PRO_VERSION_MAX, &peer(90, 0, 88)),
            agreed(88, 0)
        );
        // offering less (the protocol_version_max parameter), never beyond our range
        assert_eq!(agree_with_peer(96, &peer(86, 0xf, 101)), agreed(96, 0xf));
        assert_eq!(agree_with_peer(200, &peer(86, 0xf, 101)), agreed(101, 0xf));
        assert_eq!(agree_with_peer(0, &peer(86, 0xf, 101)), agreed(86, 0xf));
        assert_eq!(ConnectionFeatures::ours(90).protocol_max, 90);
        // a narrower local range
        assert_eq!(
            agree_features(95, 99, FF_TRIM, &peer(86, 0xf, 101)),
            agreed(99, FF_TRIM)
        );
        let mut rng = Rng(0x1234_5678_9abc_def1);
        for _ in 0..5000 {
            let p = peer(
                rng.below(130) as u32,
                rng.next() as u32,
                rng.below(130) as u32,
            );
            if let Ok(a) = agree_with_peer(PRO_VERSION_MAX, &p) {
                assert!((PRO_VERSION_MIN..=PRO_VERSION_MAX).contains(&a.version));
                assert_eq!(a.features & !PRO_FEATURES, 0);
            }
        }
    }

    // --- never panic

    /// Runs every decoder over `bytes`, checking what must hold of whatever they accept.
    fn decode_everything(bytes: &[u8], agreed: u32, features: u32) {
        if let Ok(h) = decode_header(agreed, bytes) {
            assert!(h.length <= MAX_PAYLOAD);
            if agreed >= 100 {
                // h100 has one encoding: it must come back the same
                let mut out = [0u8; 16];
                assert_eq!(h.encode(agreed, &mut out), Ok(16));
                assert_eq!(out[..], bytes[..16]);
            } else {
                assert_eq!(h.volume, 0);
            }
            if let Ok(c) = h.known_command() {
                let _ = check_payload_len(c, agreed, features, h.length);
            }
        }
        let _ = ConnectionFeatures::decode(bytes);
        let _ = Data::decode(bytes);
        let _ = Trim::decode(bytes);
        let _ = BlockAck::decode(bytes);
        let _ = BlockReq::decode(bytes);
        let _ = BlockDesc::decode(bytes);
        let _ = Barrier::decode(bytes);
        let _ = BarrierAck::decode(bytes);
        let _ = DelayProbe::decode(bytes);
        let _ = Uuids::decode(bytes);
        let _ = RsUuid::decode(bytes);
        let _ = Sizes::decode(features, bytes);
        let _ = State::decode(bytes);
        let _ = ReqState::decode(bytes);
        let _ = ReqStateReply::decode(bytes);
        if let Ok(p) = Protocol::decode(agreed, bytes) {
            assert!(p.integrity_alg.len() < SHARED_SECRET_MAX);
            assert!(!p.integrity_alg.contains(&0));
        }
        if let Ok(p) = SyncParam::decode(agreed, bytes) {
            assert!(p.verify_alg.len() < SHARED_SECRET_MAX && !p.verify_alg.contains(&0));
            assert!(p.csums_alg.len() < SHARED_SECRET_MAX && !p.csums_alg.contains(&0));
            // what was accepted can be sent back at the same version
            let mut out = [0u8; 200];
            assert!(p.encode(agreed, &mut out).is_ok());
        }
        if let Ok(c) = CompressedBm::decode(agreed, bytes) {
            assert_eq!(c.code.len() + 1, bytes.len());
        }
        let len = bytes.len() as u32;
        let _ = check_bitmap_plain_len(agreed, u64::from(len), len);
        let _ = check_auth_challenge_len(len);
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let agreed_choices = [0, 80, 86, 87, 88, 89, 94, 95, 99, 100, 101, 102, u32::MAX];
        for i in 0..6000 {
            let len = match i % 4 {
                0 => rng.below(20) as usize,
                1 => rng.below(200) as usize,
                2 => 4070 + rng.below(30) as usize,
                _ => rng.below(5000) as usize,
            };
            let bytes = rng.bytes(len);
            let agreed = agreed_choices[rng.below(agreed_choices.len() as u64) as usize];
            let features = rng.next() as u32;
            decode_everything(&bytes, agreed, features);
            let command = Command::ALL[rng.below(Command::ALL.len() as u64) as usize];
            let _ = check_payload_len(command, agreed, features, rng.next() as u32);
            let _ = check_block_size(command, rng.next() as u32);
        }
    }

    /// Valid headers with a byte or a bit changed: the likely near misses.
    #[test]
    fn mutated_headers_never_panic() {
        let mut rng = Rng(0xdead_beef_cafe_f00d);
        for i in 0..4000 {
            let agreed = [80, 86, 95, 99, 100, 101][i % 6];
            let c = Command::ALL[rng.below(Command::ALL.len() as u64) as usize];
            let length = rng.below(70000) as u32;
            let volume = if agreed >= 100 { rng.next() as u16 } else { 0 };
            let mut out = [0u8; 16];
            let h = Header {
                command: c.as_u16(),
                volume,
                length,
            };
            let Ok(n) = h.encode(agreed, &mut out) else {
                continue;
            };
            assert_eq!(decode_header(agreed, &out[..n]), Ok(h));
            let at = rng.below(n as u64) as usize;
            if rng.next() & 1 == 0 {
                out[at] ^= 1 << rng.below(8);
            } else {
                out[at] = rng.next() as u8;
            }
            decode_everything(&out[..n], agreed, 0);
            let _ = decode_header(agreed, &out[..at]);
        }
    }
}
