// SPDX-License-Identifier: GPL-2.0
//! On-disk meta data, v08: superblock layout (pure, host-tested). Attach reads and checks it.

pub(crate) mod layout;
