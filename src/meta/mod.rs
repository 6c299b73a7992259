// SPDX-License-Identifier: GPL-2.0
//! On-disk meta data, v08: superblock layout (pure, host-tested). The kernel crate takes this
//! module in with attach, which reads and writes it; until then only the host tests build it.

pub(crate) mod layout;
