// SPDX-License-Identifier: GPL-2.0
//! Text of `/proc/drbd`, byte for byte as the C module prints it.
//!
//! C counterpart: drbd_proc.c (`drbd_seq_show`) and drbd_buildtag.c. drbd-utils parses the first
//! line to choose its 8.4 tools, and LINBIT's test suite matches both header lines.

use crate::model::version::{GENL_VERSION, PRO_VERSION_MAX, PRO_VERSION_MIN, REL_VERSION};
use core::fmt::{self, Write};

/// What the second header line is built from.
#[derive(Clone, Copy, Debug)]
pub(crate) enum BuildTag<'a> {
    /// A loadable module: modpost's srcversion hash of its sources.
    Module { srcversion: &'a str },
    /// Built into the kernel image.
    BuiltIn,
}

/// Writes the two header lines.
pub(crate) fn render_header(out: &mut impl Write, tag: BuildTag<'_>) -> fmt::Result {
    writeln!(
        out,
        "version: {REL_VERSION} (api:{GENL_VERSION}/proto:{PRO_VERSION_MIN}-{PRO_VERSION_MAX})"
    )?;
    match tag {
        // C: sprintf("srcversion: %-24s", THIS_MODULE->srcversion)
        BuildTag::Module { srcversion } => writeln!(out, "srcversion: {srcversion:<24}"),
        BuildTag::BuiltIn => writeln!(out, "built-in"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;

    #[test]
    fn header_is_the_c_modules() {
        let mut s = String::new();
        let tag = BuildTag::Module {
            srcversion: "9B671CCC1F00886BA069043",
        };
        render_header(&mut s, tag).unwrap();
        assert_eq!(
            s,
            "version: 8.4.11 (api:1/proto:86-101)\nsrcversion: 9B671CCC1F00886BA069043 \n"
        );
    }

    #[test]
    fn built_in_tag() {
        let mut s = String::new();
        render_header(&mut s, BuildTag::BuiltIn).unwrap();
        assert_eq!(s.lines().nth(1), Some("built-in"));
    }
}
