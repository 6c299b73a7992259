// SPDX-License-Identifier: GPL-2.0
//! Netlink attribute encoding (`struct nlattr`: u16 length, u16 type, payload padded to 4 bytes,
//! host byte order), into a caller-provided buffer so that it is usable without allocation.
//!
//! C counterpart: the `nla_put*` family of include/net/netlink.h as genl_magic_func.h uses it.

/// The buffer is too small for what was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Overflow;

const NLA_HDRLEN: usize = 4;

const fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Appends attributes to a byte buffer.
pub(crate) struct NlaWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> NlaWriter<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, len: 0 }
    }

    /// The attributes written so far.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    fn reserve(&mut self, n: usize) -> Result<usize, Overflow> {
        let start = self.len;
        let end = start.checked_add(align4(n)).ok_or(Overflow)?;
        let area = self.buf.get_mut(start..end).ok_or(Overflow)?;
        area.fill(0);
        self.len = end;
        Ok(start)
    }

    fn write_header(&mut self, at: usize, ty: u16, len: usize) -> Result<(), Overflow> {
        let len = u16::try_from(len).map_err(|_| Overflow)?;
        self.buf[at..at + 2].copy_from_slice(&len.to_ne_bytes());
        self.buf[at + 2..at + 4].copy_from_slice(&ty.to_ne_bytes());
        Ok(())
    }

    /// Appends a NUL-terminated string attribute, as `nla_put_string` does.
    pub(crate) fn put_str(&mut self, ty: u16, s: &str) -> Result<(), Overflow> {
        let total = NLA_HDRLEN + s.len() + 1;
        let at = self.reserve(total)?;
        self.write_header(at, ty, total)?;
        self.buf[at + NLA_HDRLEN..at + total - 1].copy_from_slice(s.as_bytes());
        Ok(())
    }

    /// Appends a nested attribute whose children `fill` writes. On error nothing is kept.
    pub(crate) fn nest(
        &mut self,
        ty: u16,
        fill: impl FnOnce(&mut Self) -> Result<(), Overflow>,
    ) -> Result<(), Overflow> {
        let at = self.reserve(NLA_HDRLEN)?;
        let res = fill(self).and_then(|()| self.write_header(at, ty, self.len - at));
        if res.is_err() {
            self.len = at;
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_in_nest_matches_nla_put_string() {
        let mut buf = [0xffu8; 64];
        let mut w = NlaWriter::new(&mut buf);
        w.nest(1, |w| w.put_str(0x4001, "abc")).unwrap();
        let b = w.as_bytes();
        // nest: len 4 + (4 + 4 "abc\0") = 12, type 1
        assert_eq!(b.len(), 12);
        assert_eq!(u16::from_ne_bytes([b[0], b[1]]), 12);
        assert_eq!(u16::from_ne_bytes([b[2], b[3]]), 1);
        assert_eq!(u16::from_ne_bytes([b[4], b[5]]), 8);
        assert_eq!(u16::from_ne_bytes([b[6], b[7]]), 0x4001);
        assert_eq!(&b[8..12], b"abc\0");
    }

    #[test]
    fn padding_is_zeroed() {
        let mut buf = [0xffu8; 16];
        let mut w = NlaWriter::new(&mut buf);
        w.put_str(2, "ab").unwrap();
        let b = w.as_bytes();
        assert_eq!(u16::from_ne_bytes([b[0], b[1]]), 7);
        assert_eq!(&b[4..], b"ab\0\0");
    }

    #[test]
    fn overflow_keeps_buffer_consistent() {
        let mut buf = [0u8; 12];
        let mut w = NlaWriter::new(&mut buf);
        assert_eq!(
            w.nest(1, |w| w.put_str(1, "too long for it")),
            Err(Overflow)
        );
        assert!(w.as_bytes().is_empty());
        w.put_str(3, "abc").unwrap();
        assert_eq!(w.as_bytes().len(), 8);
        assert_eq!(w.put_str(3, "abcdefg"), Err(Overflow));
        assert_eq!(w.as_bytes().len(), 8);
    }
}
