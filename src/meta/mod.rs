// SPDX-License-Identifier: GPL-2.0
//! On-disk meta data, v08: the superblock layout (pure, host-tested) and the meta data I/O of
//! an attached disk (`io.rs`).

pub(crate) mod io;
pub(crate) mod layout;
