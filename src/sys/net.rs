// SPDX-License-Identifier: GPL-2.0
//! Kernel TCP sockets for the data and meta connections: created in the initial network
//! namespace, bound, listening, accepting, connecting, and blocking sends and receives with
//! timeouts. 6.12's `kernel` crate has no socket API.
//!
//! C counterpart: drbd_try_connect(), prepare_listen_socket(), drbd_wait_for_connect(),
//! drbd_setbufsize() of drbd_receiver.c and drbd_send()/drbd_recv_short() of drbd_main.c.
//!
//! Addresses are the raw `struct sockaddr_in`/`sockaddr_in6` bytes drbdsetup sends in the
//! netlink request; the caller checks them (length, family) before they come here.

use super::bindings;
use kernel::error::{to_result, Error, Result};
use kernel::ffi::c_int;
use kernel::prelude::*;

/// An open kernel socket, released when dropped.
///
/// # Invariants
///
/// `sock` was created by `sock_create_kern` or `kernel_accept` and is released only by `drop`.
pub(crate) struct Socket {
    sock: *mut bindings::socket,
}

// SAFETY: a socket may be used and released from any thread; the kernel serialises each
// direction internally (one thread sends, another receives, as the C module does).
unsafe impl Send for Socket {}
// SAFETY: see above: concurrent send, receive and shutdown are what kernel sockets allow.
unsafe impl Sync for Socket {}

fn check(ret: c_int) -> Result {
    to_result(ret)
}

/// What a receive that returned `n` got: how many bytes, or `None` for EAGAIN (the receive
/// timeout passed, or nothing had arrived for one that does not wait); a closed connection
/// is `ECONNRESET`.
fn received(n: c_int) -> Result<Option<usize>> {
    if n == -(kernel::bindings::EAGAIN as c_int) {
        return Ok(None);
    }
    if n < 0 {
        return Err(Error::from_errno(n));
    }
    if n == 0 {
        return Err(Error::from_errno(-(kernel::bindings::ECONNRESET as c_int)));
    }
    Ok(Some(n as usize))
}

impl Socket {
    /// A TCP socket of the family of `addr` (AF_INET or AF_INET6, its first two bytes).
    pub(crate) fn tcp(family: u16) -> Result<Self> {
        let mut sock = core::ptr::null_mut();
        // SAFETY: `sock` is written on success; init_net lives as long as the kernel.
        check(unsafe { bindings::drbd_rs_sock_create_tcp(c_int::from(family), &mut sock) })?;
        // INVARIANT: created just above.
        Ok(Self { sock })
    }

    /// Allows binding an address still in TIME_WAIT (SO_REUSEADDR).
    pub(crate) fn reuse_addr(&self) {
        // SAFETY: the socket is open.
        unsafe { bindings::drbd_rs_sock_reuse(self.sock) };
    }

    /// Binds to `addr`, a `struct sockaddr_*` as bytes.
    pub(crate) fn bind(&self, addr: &[u8]) -> Result {
        let len = c_int::try_from(addr.len()).map_err(|_| EINVAL)?;
        // SAFETY: the socket is open; the kernel copies at most `len` bytes of `addr`.
        check(unsafe { bindings::kernel_bind(self.sock, addr.as_ptr() as *mut _, len) })
    }

    /// Listens with room for `backlog` pending connections.
    pub(crate) fn listen(&self, backlog: i32) -> Result {
        // SAFETY: the socket is open and bound.
        check(unsafe { bindings::kernel_listen(self.sock, backlog) })
    }

    /// Waits (up to the receive timeout) for a connection and returns it.
    pub(crate) fn accept(&self) -> Result<Socket> {
        let mut sock = core::ptr::null_mut();
        // SAFETY: the socket is listening; `sock` is written on success.
        check(unsafe { bindings::kernel_accept(self.sock, &mut sock, 0) })?;
        // INVARIANT: created by kernel_accept.
        Ok(Socket { sock })
    }

    /// Connects to `addr` (blocking, up to the send timeout).
    pub(crate) fn connect(&self, addr: &[u8]) -> Result {
        let len = c_int::try_from(addr.len()).map_err(|_| EINVAL)?;
        // SAFETY: the socket is open; the kernel copies at most `len` bytes of `addr`.
        check(unsafe { bindings::kernel_connect(self.sock, addr.as_ptr() as *mut _, len, 0) })
    }

    /// Receive and send timeouts in jiffies (`MAX_SCHEDULE_TIMEOUT` for none).
    pub(crate) fn set_timeouts(&self, rcv: isize, snd: isize) {
        // SAFETY: the socket is open.
        unsafe { bindings::drbd_rs_sock_set_timeouts(self.sock, rcv, snd) };
    }

    /// TCP_NODELAY, and the buffer sizes of `sndbuf-size`/`rcvbuf-size` (0: automatic).
    pub(crate) fn tune(&self, sndbuf: u32, rcvbuf: u32) {
        // SAFETY: the socket is open.
        unsafe { bindings::drbd_rs_sock_tune(self.sock, sndbuf, rcvbuf) };
    }

    /// Sends all of `buf`; `more` says more follows at once (MSG_MORE).
    pub(crate) fn send(&self, buf: &[u8], more: bool) -> Result {
        let mut sent = 0;
        while sent < buf.len() {
            let rest = &buf[sent..];
            // SAFETY: the socket is open; `rest` is readable for its length.
            let n = unsafe {
                bindings::drbd_rs_sock_send(self.sock, rest.as_ptr().cast(), rest.len(), more)
            };
            if n < 0 {
                return Err(Error::from_errno(n));
            }
            if n == 0 {
                return Err(EPIPE);
            }
            sent += n as usize;
        }
        Ok(())
    }

    /// Receives exactly `buf.len()` bytes; a closed connection is `ECONNRESET`.
    pub(crate) fn recv(&self, buf: &mut [u8]) -> Result {
        let mut got = 0;
        while got < buf.len() {
            let rest = &mut buf[got..];
            // SAFETY: the socket is open; `rest` is writable for its length.
            let n = unsafe {
                bindings::drbd_rs_sock_recv(self.sock, rest.as_mut_ptr().cast(), rest.len())
            };
            got += received(n)?.ok_or(EAGAIN)?;
        }
        Ok(())
    }

    /// As [`Self::recv`], for the receiver's next packet header: if nothing has arrived yet,
    /// the peer's TCP is acknowledged at once before the wait, as C's receiver does, so that a
    /// sender waiting for ACKs is not held up by our delayed ones.
    pub(crate) fn recv_quickack(&self, buf: &mut [u8]) -> Result {
        // SAFETY: the socket is open; `buf` is writable for its length.
        let n = unsafe {
            bindings::drbd_rs_sock_recv_or_quickack(self.sock, buf.as_mut_ptr().cast(), buf.len())
        };
        match self.recv_rest(n, buf)? {
            Some(()) => Ok(()),
            None => self.recv(buf),
        }
    }

    /// Receives what has arrived into `buf`, at least a byte: how many, or `None` if the
    /// receive timeout passes first.
    fn recv_some(&self, buf: &mut [u8]) -> Result<Option<usize>> {
        // SAFETY: the socket is open; `buf` is writable for its length.
        let n = unsafe {
            bindings::drbd_rs_sock_recv_some(self.sock, buf.as_mut_ptr().cast(), buf.len())
        };
        Ok(received(n)?.map(|n| n.min(buf.len())))
    }

    /// After a first receive into `buf` that returned `n`: the rest of `buf`, or `None` if
    /// nothing had arrived (EAGAIN: a timeout or a receive that did not wait).
    fn recv_rest(&self, n: c_int, buf: &mut [u8]) -> Result<Option<()>> {
        let Some(n) = received(n)? else {
            return Ok(None);
        };
        self.recv(buf.get_mut(n..).unwrap_or_default())?;
        Ok(Some(()))
    }

    /// Allocations for this socket never recurse into block I/O (it carries a block device's
    /// writes).
    pub(crate) fn set_noio(&self) {
        // SAFETY: the socket is open.
        unsafe { bindings::drbd_rs_sock_noio(self.sock) };
    }

    /// The socket, for the rest of the FFI layer.
    pub(super) fn raw(&self) -> *mut bindings::socket {
        self.sock
    }

    /// Shuts both directions down: blocked sends and receives return at once.
    pub(crate) fn shutdown(&self) {
        // SAFETY: the socket is open.
        unsafe { bindings::drbd_rs_sock_shutdown(self.sock) };
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        // SAFETY: by the type invariant the socket is ours and released once, here.
        unsafe { bindings::sock_release(self.sock) };
    }
}

/// A receive buffer for a socket of small packets (the meta socket): the acks the peer sends
/// back to back come in with one receive.
pub(crate) struct RecvBuf {
    buf: [u8; 512],
    start: usize,
    end: usize,
}

impl RecvBuf {
    pub(crate) const fn new() -> Self {
        Self {
            buf: [0; 512],
            start: 0,
            end: 0,
        }
    }

    /// Receives exactly `out.len()` bytes, or `None` if nothing is buffered and nothing
    /// arrives before the receive timeout: the connection is idle.
    pub(crate) fn recv_or_idle(&mut self, sock: &Socket, out: &mut [u8]) -> Result<Option<()>> {
        if self.start == self.end && !out.is_empty() {
            match sock.recv_some(&mut self.buf)? {
                None => return Ok(None),
                Some(n) => (self.start, self.end) = (0, n),
            }
        }
        self.recv(sock, out).map(Some)
    }

    /// As [`Socket::recv`]: exactly `out.len()` bytes.
    pub(crate) fn recv(&mut self, sock: &Socket, out: &mut [u8]) -> Result {
        let mut got = 0;
        while got < out.len() {
            if self.start == self.end {
                let n = sock.recv_some(&mut self.buf)?.ok_or(EAGAIN)?;
                (self.start, self.end) = (0, n);
            }
            let n = (self.end - self.start).min(out.len() - got);
            out[got..got + n].copy_from_slice(&self.buf[self.start..self.start + n]);
            self.start += n;
            got += n;
        }
        Ok(())
    }
}
