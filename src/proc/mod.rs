// SPDX-License-Identifier: GPL-2.0
//! `/proc/drbd`.
//!
//! C counterpart: drbd_proc.c. The text itself comes from the pure [`render`] module.

pub(crate) mod render;

use crate::sys::proc::{SeqFile, Show};
use core::fmt;
use render::BuildTag;

/// Contents of `/proc/drbd`.
pub(crate) struct DrbdProc;

impl Show for DrbdProc {
    fn show(out: &mut SeqFile) -> fmt::Result {
        render::render_header(out, build_tag())
    }
}

/// The module's build tag; "built-in" only if modpost gave us no srcversion.
pub(crate) fn build_tag() -> BuildTag<'static> {
    match crate::sys::module::srcversion() {
        Some(srcversion) => BuildTag::Module { srcversion },
        None => BuildTag::BuiltIn,
    }
}
