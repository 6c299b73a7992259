// SPDX-License-Identifier: GPL-2.0
//! Netlink attributes (`struct nlattr`: u16 length, u16 type, payload padded to 4 bytes, host
//! byte order): encoding into a caller-provided buffer, and strict decoding of what userspace
//! sent against the family's schema. Nothing here allocates.
//!
//! C counterpart: the `nla_put*` and `nla_parse*` families of include/net/netlink.h, as
//! genl_magic_func.h and drbd_nla.c use them. Decoding is stricter than the C module's: a field of
//! the wrong length, a duplicate, a string without its NUL or trailing garbage is refused, never
//! guessed at.

use crate::genl::schema::{Field, FieldType, StructDef, F_REQUIRED, GENLA_F_MANDATORY, TLA_MAX};
use crate::genl::structs;

/// The buffer is too small for what was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Overflow;

const NLA_HDRLEN: usize = 4;
/// `NLA_F_NESTED`; userspace may set it on nests, the C module ignores it on input and sets it
/// on the nests `*_to_skb` writes.
pub(crate) const NLA_F_NESTED: u16 = 1 << 15;

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

    /// Appends one attribute with the given payload, as `nla_put` does.
    pub(crate) fn put(&mut self, ty: u16, payload: &[u8]) -> Result<(), Overflow> {
        let total = NLA_HDRLEN + payload.len();
        let at = self.reserve(total)?;
        self.write_header(at, ty, total)?;
        self.buf[at + NLA_HDRLEN..at + total].copy_from_slice(payload);
        Ok(())
    }

    /// Appends `bytes` with a NUL added, as `nla_put_string` does for a C string.
    pub(crate) fn put_bytes_nul(&mut self, ty: u16, bytes: &[u8]) -> Result<(), Overflow> {
        let total = NLA_HDRLEN + bytes.len() + 1;
        let at = self.reserve(total)?;
        self.write_header(at, ty, total)?;
        self.buf[at + NLA_HDRLEN..at + total - 1].copy_from_slice(bytes);
        Ok(())
    }

    /// Appends a NUL-terminated string attribute, as `nla_put_string` does.
    pub(crate) fn put_str(&mut self, ty: u16, s: &str) -> Result<(), Overflow> {
        self.put_bytes_nul(ty, s.as_bytes())
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

impl NlaWriter<'_> {
    /// Appends an attribute exactly as received (header included), as `nla_put_nohdr` does.
    pub(crate) fn put_raw(&mut self, attr: &[u8]) -> Result<(), Overflow> {
        let at = self.reserve(attr.len())?;
        self.buf[at..at + attr.len()].copy_from_slice(attr);
        Ok(())
    }
}

/// Why a request's attributes were refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ParseError {
    /// Attribute headers do not add up: a length shorter than the header, longer than what is
    /// left, or bytes left over.
    Malformed,
    /// An attribute flagged mandatory that this family does not know.
    UnknownMandatory { nr: u16 },
    /// A field whose payload does not fit its type, or that appears twice.
    BadField { name: &'static str },
    /// A required field is missing.
    Missing { name: &'static str },
}

impl ParseError {
    /// The errno the C module returns for it (`drbd_nla_parse_nested`, `*_from_attrs`).
    pub(crate) fn errno(self) -> i32 {
        match self {
            ParseError::Malformed | ParseError::BadField { .. } => -22, // EINVAL
            ParseError::UnknownMandatory { .. } => -95,                 // EOPNOTSUPP
            ParseError::Missing { .. } => -42,                          // ENOMSG
        }
    }
}

/// One attribute as received.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Nla<'a> {
    /// Type without the nested and mandatory flag bits.
    pub(crate) nr: u16,
    pub(crate) mandatory: bool,
    pub(crate) payload: &'a [u8],
    /// The whole attribute, header included, without padding.
    pub(crate) raw: &'a [u8],
}

/// Iterates over a stream of attributes, refusing any that does not add up.
pub(crate) struct NlaIter<'a> {
    rest: &'a [u8],
}

impl<'a> NlaIter<'a> {
    pub(crate) fn new(stream: &'a [u8]) -> Self {
        Self { rest: stream }
    }
}

impl<'a> Iterator for NlaIter<'a> {
    type Item = Result<Nla<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let Some(hdr) = self.rest.get(..NLA_HDRLEN) else {
            self.rest = &[];
            return Some(Err(ParseError::Malformed));
        };
        let len = usize::from(u16::from_ne_bytes([hdr[0], hdr[1]]));
        let ty = u16::from_ne_bytes([hdr[2], hdr[3]]);
        if len < NLA_HDRLEN || len > self.rest.len() {
            self.rest = &[];
            return Some(Err(ParseError::Malformed));
        }
        let raw = &self.rest[..len];
        // The last attribute's padding may be missing, as the kernel's nla_next() allows.
        self.rest = self.rest.get(align4(len)..).unwrap_or(&[]);
        Some(Ok(Nla {
            nr: ty & !(NLA_F_NESTED | GENLA_F_MANDATORY),
            mandatory: ty & GENLA_F_MANDATORY != 0,
            payload: &raw[NLA_HDRLEN..],
            raw,
        }))
    }
}

/// The top-level attributes of a request, by number; each is a nest of fields.
pub(crate) struct TopLevel<'a> {
    tlas: [Option<Nla<'a>>; TLA_MAX as usize + 1],
}

impl<'a> TopLevel<'a> {
    /// Splits a request's attribute stream and checks every nest it knows against its schema.
    /// Unknown attributes are skipped unless flagged mandatory, as the C module does. Required
    /// fields are the handler's business ([`Fields::require`]): a change of options leaves them
    /// out.
    pub(crate) fn parse(stream: &'a [u8]) -> Result<Self, ParseError> {
        let mut tlas = [None; TLA_MAX as usize + 1];
        for nla in NlaIter::new(stream) {
            let nla = nla?;
            let Some(def) = structs::by_tla(nla.nr) else {
                if nla.mandatory {
                    return Err(ParseError::UnknownMandatory { nr: nla.nr });
                }
                continue;
            };
            check_nest(def, nla.payload)?;
            let slot = tlas
                .get_mut(usize::from(nla.nr))
                .ok_or(ParseError::Malformed)?;
            if slot.replace(nla).is_some() {
                return Err(ParseError::Malformed);
            }
        }
        Ok(Self { tlas })
    }

    /// The top-level attribute `tla`, if the request carries it.
    pub(crate) fn get(&self, tla: u16) -> Option<Nla<'a>> {
        self.tlas.get(usize::from(tla)).copied().flatten()
    }
}

/// A decoded field value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Value<'a> {
    U32(u32),
    S32(i32),
    U64(u64),
    Flag(bool),
    /// The bytes before the terminating NUL.
    Str(&'a [u8]),
    Bin(&'a [u8]),
}

/// More fields than any `GENL_struct` of the family has (net_conf has 33).
pub(crate) const MAX_FIELDS: usize = 40;

/// The fields of one top-level attribute, decoded and checked against its [`StructDef`].
pub(crate) struct Fields<'a> {
    def: &'static StructDef,
    values: [Option<Value<'a>>; MAX_FIELDS],
}

fn decode<'a>(field: &Field, payload: &'a [u8]) -> Option<Value<'a>> {
    let bad = payload.len();
    match field.ty {
        FieldType::U32 => Some(Value::U32(u32::from_ne_bytes(payload.try_into().ok()?))),
        FieldType::S32 => Some(Value::S32(i32::from_ne_bytes(payload.try_into().ok()?))),
        FieldType::U64 => Some(Value::U64(u64::from_ne_bytes(payload.try_into().ok()?))),
        FieldType::Flag => match payload {
            [b] => Some(Value::Flag(*b != 0)),
            _ => None,
        },
        FieldType::Str { max } => {
            // The NUL must come within `max` bytes, as validate_nla() checks for NLA_NUL_STRING.
            let limit = if max == 0 {
                bad
            } else {
                bad.min(usize::from(max))
            };
            let nul = payload[..limit].iter().position(|&b| b == 0)?;
            Some(Value::Str(&payload[..nul]))
        }
        FieldType::Bin { max } => {
            (max == 0 || bad <= usize::from(max)).then_some(Value::Bin(payload))
        }
    }
}

/// Walks the fields of `nest` against `def`, handing each decoded value with its position to
/// `store`: unknown fields are skipped unless mandatory; a field twice, or one that does not fit
/// its type, is refused.
fn walk<'a>(
    def: &'static StructDef,
    nest: &'a [u8],
    mut store: impl FnMut(usize, Value<'a>),
) -> Result<(), ParseError> {
    // one bit per field: no struct has more than MAX_FIELDS < 64
    let mut seen: u64 = 0;
    for nla in NlaIter::new(nest) {
        let nla = nla?;
        let Some(i) = def.fields.iter().position(|f| f.nr == nla.nr) else {
            if nla.mandatory {
                return Err(ParseError::UnknownMandatory { nr: nla.nr });
            }
            continue;
        };
        let field = &def.fields[i];
        let bad = ParseError::BadField { name: field.name };
        let bit = 1u64.checked_shl(i as u32).ok_or(bad)?;
        if seen & bit != 0 {
            return Err(bad);
        }
        seen |= bit;
        store(i, decode(field, nla.payload).ok_or(bad)?);
    }
    Ok(())
}

/// Checks `nest` against `def` without keeping its values, on a small stack frame.
pub(crate) fn check_nest(def: &'static StructDef, nest: &[u8]) -> Result<(), ParseError> {
    walk(def, nest, |_, _| {})
}

impl<'a> Fields<'a> {
    /// Decodes the nest `nest` (the payload of top-level attribute `def.tla`).
    pub(crate) fn parse(def: &'static StructDef, nest: &'a [u8]) -> Result<Self, ParseError> {
        let mut values = [None; MAX_FIELDS];
        walk(def, nest, |i, v| {
            if let Some(slot) = values.get_mut(i) {
                *slot = Some(v);
            }
        })?;
        Ok(Self { def, values })
    }

    /// Checks that every required field is there (`DRBD_F_REQUIRED`).
    pub(crate) fn require(&self) -> Result<(), ParseError> {
        let fields = self.def.fields.iter().zip(self.values.iter());
        match fields
            .into_iter()
            .find(|(f, v)| f.flags & F_REQUIRED != 0 && v.is_none())
        {
            Some((f, _)) => Err(ParseError::Missing { name: f.name }),
            None => Ok(()),
        }
    }

    /// The value of the field named `name`, if the request carries it.
    pub(crate) fn get(&self, name: &str) -> Option<Value<'a>> {
        let i = self.def.fields.iter().position(|f| f.name == name)?;
        self.values.get(i).copied().flatten()
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

    use crate::genl::schema::{Default, Field, FieldType, StructDef, F_REQUIRED};
    use std::vec::Vec;

    const fn field(nr: u16, name: &'static str, ty: FieldType, flags: u8) -> Field {
        Field {
            nr,
            name,
            ty,
            mandatory: true,
            flags,
            default: Default::None,
        }
    }

    static TEST: StructDef = StructDef {
        tla: 2,
        name: "test",
        fields: &[
            field(1, "num", FieldType::U32, 0),
            field(2, "name", FieldType::Str { max: 8 }, F_REQUIRED),
            field(3, "flag", FieldType::Flag, 0),
            field(4, "big", FieldType::U64, 0),
            field(5, "blob", FieldType::Bin { max: 4 }, 0),
            field(6, "signed", FieldType::S32, 0),
        ],
    };

    /// Encodes one attribute, padded.
    fn attr(ty: u16, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&((payload.len() + 4) as u16).to_ne_bytes());
        v.extend_from_slice(&ty.to_ne_bytes());
        v.extend_from_slice(payload);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v
    }

    fn fields(nest: &[u8]) -> Result<Fields<'_>, ParseError> {
        Fields::parse(&TEST, nest)
    }

    #[test]
    fn decodes_every_type() {
        let nest = [
            attr(1 | GENLA_F_MANDATORY, &7u32.to_ne_bytes()),
            attr(2, b"r0\0"),
            attr(3, &[1]),
            attr(4, &(1u64 << 40).to_ne_bytes()),
            attr(5, &[1, 2]),
            attr(6, &(-1i32).to_ne_bytes()),
        ]
        .concat();
        let f = fields(&nest).unwrap();
        assert_eq!(f.get("num"), Some(Value::U32(7)));
        assert_eq!(f.get("name"), Some(Value::Str(b"r0")));
        assert_eq!(f.get("flag"), Some(Value::Flag(true)));
        assert_eq!(f.get("big"), Some(Value::U64(1 << 40)));
        assert_eq!(f.get("blob"), Some(Value::Bin(&[1, 2])));
        assert_eq!(f.get("signed"), Some(Value::S32(-1)));
    }

    #[test]
    fn refuses_wrong_lengths_and_contents() {
        let name = attr(2, b"r0\0");
        let bad = |a: Vec<u8>, field: &'static str| {
            let nest = [name.clone(), a].concat();
            assert_eq!(
                fields(&nest).err(),
                Some(ParseError::BadField { name: field })
            );
        };
        bad(attr(1, &[1, 2]), "num");
        bad(attr(1, &[0; 8]), "num");
        bad(attr(4, &[0; 4]), "big");
        bad(attr(3, &[]), "flag");
        bad(attr(3, &[1, 0]), "flag");
        bad(attr(5, &[0; 5]), "blob");
        bad(name.clone(), "name"); // twice
                                   // a string needs its NUL within max (8) bytes
        assert!(fields(&attr(2, b"1234567\0")).is_ok());
        assert_eq!(
            fields(&attr(2, b"12345678\0")).err(),
            Some(ParseError::BadField { name: "name" })
        );
        assert_eq!(
            fields(&attr(2, b"abc")).err(),
            Some(ParseError::BadField { name: "name" })
        );
    }

    #[test]
    fn required_unknown_and_mandatory() {
        let num = attr(1, &[0; 4]);
        let f = fields(&num).unwrap();
        assert_eq!(f.require(), Err(ParseError::Missing { name: "name" }));
        assert!(fields(&attr(2, b"x\0")).unwrap().require().is_ok());
        let name = attr(2, b"x\0");
        // unknown: skipped, unless flagged mandatory
        assert!(fields(&[name.clone(), attr(9, &[1])].concat()).is_ok());
        assert_eq!(
            fields(&[name, attr(9 | GENLA_F_MANDATORY, &[1])].concat()).err(),
            Some(ParseError::UnknownMandatory { nr: 9 })
        );
    }

    #[test]
    fn refuses_malformed_streams() {
        let ok = attr(2, b"x\0");
        let mut short = ok.clone();
        short[0] = 3; // length below the header
        let mut long = ok.clone();
        long[0] = 200; // length past the end
        let mut trailing = ok.clone();
        trailing.extend_from_slice(&[0, 0]);
        for s in [short, long, trailing] {
            assert_eq!(fields(&s).err(), Some(ParseError::Malformed));
            assert_eq!(TopLevel::parse(&s).err(), Some(ParseError::Malformed));
        }
        // the last attribute's padding may be missing
        assert!(fields(&ok[..7]).is_ok());
    }

    #[test]
    fn top_level_split() {
        let ctx = attr(2 | NLA_F_NESTED, &attr(2, b"r0\0"));
        let stream = [ctx.clone(), attr(23, &[])].concat();
        let top = TopLevel::parse(&stream).unwrap();
        let nest = top.get(2).unwrap();
        assert_eq!(nest.raw, &ctx[..]);
        assert_eq!(
            Fields::parse(&TEST, nest.payload).unwrap().get("name"),
            Some(Value::Str(b"r0"))
        );
        assert!(top.get(3).is_none());
        assert!(TopLevel::parse(&[ctx.clone(), ctx.clone()].concat()).is_err());
        assert!(TopLevel::parse(&attr(99, &[])).is_ok());
        assert!(TopLevel::parse(&attr(14, &[])).is_ok()); // no struct has number 14
                                                          // every known nest is checked against its schema, whatever the command
        assert_eq!(
            TopLevel::parse(&attr(2, &attr(2, b"r0"))).err(),
            Some(ParseError::BadField {
                name: "ctx_resource_name"
            })
        );
        assert_eq!(
            TopLevel::parse(&attr(5, &attr(24, &[1, 2]))).err(),
            Some(ParseError::BadField {
                name: "two_primaries"
            })
        );
        assert_eq!(
            TopLevel::parse(&attr(99 | GENLA_F_MANDATORY, &[])).err(),
            Some(ParseError::UnknownMandatory { nr: 99 })
        );
    }

    #[test]
    fn put_raw_copies_and_pads() {
        let a = attr(2, b"r0\0");
        let mut buf = [0xffu8; 16];
        let mut w = NlaWriter::new(&mut buf);
        w.put_raw(&a[..7]).unwrap();
        assert_eq!(w.as_bytes(), &a[..]);
    }

    #[test]
    fn every_struct_fits_the_value_table() {
        for def in structs::STRUCTS.iter() {
            assert!(def.fields.len() <= MAX_FIELDS, "{}", def.name);
        }
    }

    #[test]
    fn every_error_has_the_c_errno() {
        assert_eq!(ParseError::Malformed.errno(), -22);
        assert_eq!(ParseError::UnknownMandatory { nr: 1 }.errno(), -95);
        assert_eq!(ParseError::Missing { name: "x" }.errno(), -42);
    }
}
