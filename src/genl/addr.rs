// SPDX-License-Identifier: GPL-2.0
//! Connection endpoints: the `struct sockaddr_in` / `sockaddr_in6` bytes drbdsetup sends as
//! `my_addr` and `peer_addr` of a connection's context, checked before any socket sees them.
//!
//! C counterpart: the `my_addr`/`peer_addr` of `struct drbd_connection` and their use in
//! drbd_try_connect() and prepare_listen_socket() (drbd_receiver.c).

use core::fmt;

/// `AF_INET` and `AF_INET6` (include/linux/socket.h).
pub(crate) const AF_INET: u16 = 2;
pub(crate) const AF_INET6: u16 = 10;
/// `sizeof(struct sockaddr_in)` and `sizeof(struct sockaddr_in6)`.
const SOCKADDR_IN_LEN: usize = 16;
const SOCKADDR_IN6_LEN: usize = 28;

/// A checked IPv4 or IPv6 socket address, kept in its C form for the socket calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Endpoint {
    bytes: [u8; SOCKADDR_IN6_LEN],
    len: u8,
}

/// Why address bytes are not an endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AddrError {
    /// Not AF_INET or AF_INET6 (DRBD 8.4 also knows SDP and SSOCKS, which Linux no longer has).
    Family(u16),
    /// Not the size of the family's `struct sockaddr_*`.
    Length(usize),
}

impl Endpoint {
    /// Checks `bytes` as C's connect would read them: the family in the first two bytes
    /// (host order), then exactly the family's structure.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, AddrError> {
        let family = match bytes.get(..2) {
            Some(f) => u16::from_ne_bytes([f[0], f[1]]),
            None => return Err(AddrError::Length(bytes.len())),
        };
        let want = match family {
            AF_INET => SOCKADDR_IN_LEN,
            AF_INET6 => SOCKADDR_IN6_LEN,
            other => return Err(AddrError::Family(other)),
        };
        if bytes.len() != want {
            return Err(AddrError::Length(bytes.len()));
        }
        let mut ep = Endpoint {
            bytes: [0; SOCKADDR_IN6_LEN],
            len: want as u8,
        };
        ep.bytes[..want].copy_from_slice(bytes);
        Ok(ep)
    }

    /// The C structure, for bind() and connect().
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    pub(crate) fn family(&self) -> u16 {
        u16::from_ne_bytes([self.bytes[0], self.bytes[1]])
    }

    /// The port (network order on the wire, a number here).
    pub(crate) fn port(&self) -> u16 {
        u16::from_be_bytes([self.bytes[2], self.bytes[3]])
    }

    /// The same address with port 0: where drbd_try_connect() binds its outgoing sockets.
    pub(crate) fn any_port(&self) -> Self {
        let mut ep = *self;
        ep.bytes[2] = 0;
        ep.bytes[3] = 0;
        ep
    }
}

/// As the C module prints addresses: `10.0.0.1:7789`, `[fd00::1]:7789`.
impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.bytes;
        if self.family() == AF_INET {
            return write!(f, "{}.{}.{}.{}:{}", b[4], b[5], b[6], b[7], self.port());
        }
        // sin6_addr at offset 8: eight groups, without zero compression
        f.write_str("[")?;
        for g in 0..8 {
            let v = u16::from_be_bytes([b[8 + 2 * g], b[9 + 2 * g]]);
            if g > 0 {
                f.write_str(":")?;
            }
            write!(f, "{v:x}")?;
        }
        write!(f, "]:{}", self.port())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;
    use std::vec::Vec;

    fn v4(a: [u8; 4], port: u16) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&AF_INET.to_ne_bytes());
        b.extend_from_slice(&port.to_be_bytes());
        b.extend_from_slice(&a);
        b.extend_from_slice(&[0; 8]);
        b
    }

    #[test]
    fn ipv4_and_ipv6() {
        let ep = Endpoint::parse(&v4([10, 0, 0, 1], 7789)).unwrap();
        assert_eq!((ep.family(), ep.port()), (AF_INET, 7789));
        assert_eq!(format!("{ep}"), "10.0.0.1:7789");
        assert_eq!(ep.any_port().port(), 0);
        assert_eq!(ep.as_bytes().len(), 16);

        let mut b = Vec::new();
        b.extend_from_slice(&AF_INET6.to_ne_bytes());
        b.extend_from_slice(&7789u16.to_be_bytes());
        b.extend_from_slice(&[0; 4]); // flowinfo
        let mut a = [0u8; 16];
        a[0] = 0xfd;
        a[15] = 1;
        b.extend_from_slice(&a);
        b.extend_from_slice(&[0; 4]); // scope id
        let ep = Endpoint::parse(&b).unwrap();
        assert_eq!(format!("{ep}"), "[fd00:0:0:0:0:0:0:1]:7789");
    }

    #[test]
    fn refusals() {
        assert_eq!(Endpoint::parse(&[]), Err(AddrError::Length(0)));
        assert_eq!(Endpoint::parse(&[2]), Err(AddrError::Length(1)));
        let mut b = v4([1, 2, 3, 4], 1);
        b.pop();
        assert_eq!(Endpoint::parse(&b), Err(AddrError::Length(15)));
        let mut b = v4([1, 2, 3, 4], 1);
        b[0] = 27; // AF_INET_SDP of DRBD 8.4
        b[1] = 0;
        assert_eq!(
            Endpoint::parse(&b),
            Err(AddrError::Family(u16::from_ne_bytes([27, 0])))
        );
    }
}
