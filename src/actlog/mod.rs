// SPDX-License-Identifier: GPL-2.0
//! Activity log: the on-disk transaction format (pure, host-tested). C counterpart: drbd_actlog.c.

pub(crate) mod lru;
pub(crate) mod transaction;
