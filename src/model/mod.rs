// SPDX-License-Identifier: GPL-2.0
//! Pure DRBD logic: `core` only, never `kernel::`, compiled unchanged by the host test crate.

pub(crate) mod after;
pub(crate) mod attach;
pub(crate) mod conflict;
pub(crate) mod controller;
pub(crate) mod helper;
pub(crate) mod request;
pub(crate) mod role;
pub(crate) mod state;
pub(crate) mod transition;
pub(crate) mod verify;
pub(crate) mod version;
