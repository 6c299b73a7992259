// SPDX-License-Identifier: GPL-2.0
//! The DRBD 8.4 wire protocol, pure and host-tested: packet headers and payloads, the
//! connection handshake's decisions, and the bitmap exchange codec. C counterpart:
//! drbd_protocol.h, drbd_receiver.c, drbd_main.c (the send side), drbd_vli.h.

pub(crate) mod bitmap_codec;
pub(crate) mod packet;
pub(crate) mod sync;
pub(crate) mod tl;
