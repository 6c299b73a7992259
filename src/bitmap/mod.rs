// SPDX-License-Identifier: GPL-2.0
//! The resync bitmap: one bit per 4 KiB block of the device (C counterpart: drbd_bitmap.c).

pub(crate) mod math;
