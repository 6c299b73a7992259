// SPDX-License-Identifier: GPL-2.0
//! A hostile DRBD peer for the tests, in two modes.
//!
//! Hostile connections (the default): against a node that waits for its peer, it connects to
//! the node's address and accepts the node's connections on the peer's address, and on each
//! connection sends something a real peer never would: garbage, truncated or oversized headers,
//! wrong first packets, incompatible or malformed feature and protocol packets, random bytes.
//! The node must drop each such connection (with a kernel log line) and keep waiting; the test
//! checks the kernel log and that the node still works afterwards.
//!
//! Connected rounds (`--connected-rounds N`): N times, it accepts the node's two connections,
//! completes the handshake as a well-behaved Secondary (it mirrors the node's UUIDs, so that the
//! node goes Connected without a resync), acknowledges the writes, barriers and pings the node
//! sends for a moment, and then turns hostile in one way, chosen by the round number (see
//! [`ABUSES`]). The node must drop the connection or shrug the abuse off and keep replicating;
//! it must never oops or hang. One line per round tells what was sent and how the node reacted;
//! the exit status is non-zero if the node never connected, dropped a well-behaved peer again
//! and again, did not notice a silent peer, or stopped answering while still connected.
//!
//! Scripted rounds (`--stale-size GO_FILE`, `--stop-reading GO_FILE`, `--neg-ack GO_FILE`):
//! one connection on which it behaves until the test on the node's side creates GO_FILE, then
//! turns hostile (or refuses writes) in one way the test prepared the node for (see
//! [`Scripted`]).
//!
//!     wire-abuse NODE_ADDR:PORT PEER_ADDR:PORT [--rounds N | --connected-rounds N |
//!                                               --stale-size GO_FILE | --stop-reading GO_FILE |
//!                                               --neg-ack GO_FILE]

use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

const DRBD_MAGIC: u32 = 0x8374_0267;
const DRBD_MAGIC_100: u32 = 0x8620_ec20;
const P_DATA: u16 = 0x00;
const P_BARRIER: u16 = 0x03;
const P_SYNC_PARAM: u16 = 0x0a;
const P_PROTOCOL: u16 = 0x0b;
const P_UUIDS: u16 = 0x0c;
const P_SIZES: u16 = 0x0d;
const P_STATE: u16 = 0x0e;
const P_STATE_CHG_REQ: u16 = 0x12;
const P_PING: u16 = 0x13;
const P_PING_ACK: u16 = 0x14;
const P_RECV_ACK: u16 = 0x15;
const P_WRITE_ACK: u16 = 0x16;
const P_NEG_ACK: u16 = 0x19;
const P_BARRIER_ACK: u16 = 0x1c;
const P_STATE_CHG_REPLY: u16 = 0x1d;
const P_SYNC_PARAM89: u16 = 0x23;
const P_CONN_ST_CHG_REQ: u16 = 0x2a;
const P_CONN_ST_CHG_REPLY: u16 = 0x2b;
const P_TRIM: u16 = 0x31;
const P_ZEROES: u16 = 0x36;
const P_INITIAL_META: u16 = 0xfff1;
const P_INITIAL_DATA: u16 = 0xfff2;
const P_CONNECTION_FEATURES: u16 = 0xfffe;

/// `p_data.dp_flags`: the ack the writer asks for (protocol B, protocol C).
const DP_SEND_RECEIVE_ACK: u32 = 128;
const DP_SEND_WRITE_ACK: u32 = 256;
/// The feature flags a 6.12 peer announces: TRIM, THIN_RESYNC, WSAME, WZEROES.
const PRO_FEATURES: u32 = 0xf;
/// `union drbd_state` values.
const R_PRIMARY: u32 = 1;
const R_SECONDARY: u32 = 2;
const C_WF_REPORT_PARAMS: u32 = 9;
const C_CONNECTED: u32 = 10;
const D_UP_TO_DATE: u32 = 8;
/// `drbd_state_rv` SS_SUCCESS, our answer to the node's state change requests.
const SS_SUCCESS: i32 = 1;

/// A pseudo-random generator (xorshift64*), seeded per run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn h80(cmd: u16, len: u16) -> Vec<u8> {
    let mut v = DRBD_MAGIC.to_be_bytes().to_vec();
    v.extend_from_slice(&cmd.to_be_bytes());
    v.extend_from_slice(&len.to_be_bytes());
    v
}

/// An h100 header (protocol 100 and later) for `volume`.
fn h100v(volume: u16, cmd: u16, len: u32) -> Vec<u8> {
    let mut v = DRBD_MAGIC_100.to_be_bytes().to_vec();
    v.extend_from_slice(&volume.to_be_bytes());
    v.extend_from_slice(&cmd.to_be_bytes());
    v.extend_from_slice(&len.to_be_bytes());
    v.extend_from_slice(&0u32.to_be_bytes());
    v
}

fn h100(cmd: u16, len: u32) -> Vec<u8> {
    h100v(0, cmd, len)
}

/// A P_CONNECTION_FEATURES packet with this version range.
fn features(min: u32, max: u32) -> Vec<u8> {
    features_with(min, max, 0)
}

/// A P_CONNECTION_FEATURES packet with this version range and these feature flags.
fn features_with(min: u32, max: u32, flags: u32) -> Vec<u8> {
    let mut v = h80(P_CONNECTION_FEATURES, 72);
    v.extend_from_slice(&min.to_be_bytes());
    v.extend_from_slice(&flags.to_be_bytes());
    v.extend_from_slice(&max.to_be_bytes());
    v.extend_from_slice(&[0; 60]);
    v
}

/// What one hostile connection sends; `first` is the first packet a real peer would send on it.
fn attack(kind: usize, rng: &mut Rng, first: u16) -> Vec<u8> {
    let good_first = h80(first, 0);
    let n = (rng.next() % 200) as usize;
    let mut v = match kind % 12 {
        0 => rng.bytes(1 + n),
        1 => h80(first, 0)[..5].to_vec(),
        2 => h80(first, 40000),
        3 => h80(0x1234, 0),
        4 => [good_first.clone(), h80(P_CONNECTION_FEATURES, 70)].concat(),
        5 => [good_first.clone(), features(200, 300)].concat(),
        6 => [good_first.clone(), features(86, 0)].concat(),
        7 => [
            good_first.clone(),
            h80(P_CONNECTION_FEATURES, 65535),
            rng.bytes(100),
        ]
        .concat(),
        8 => [
            good_first.clone(),
            features(86, 101),
            h100(P_PROTOCOL, 0x10_0000),
        ]
        .concat(),
        9 => [good_first.clone(), features(86, 101), h100(P_PROTOCOL, 20)].concat(),
        10 => {
            let mut v = [
                good_first.clone(),
                features(86, 101),
                h100(P_PROTOCOL, 24 + 80),
            ]
            .concat();
            v.extend_from_slice(&rng.bytes(104));
            v
        }
        _ => [good_first, rng.bytes(8 + n % 64)].concat(),
    };
    if kind % 5 == 4 {
        // and sometimes a trailing stream of noise
        v.extend_from_slice(&rng.bytes(300));
    }
    v
}

/// Sends `bytes` and waits (a while) for the node to close the connection.
fn play(mut s: TcpStream, bytes: &[u8]) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(4)));
    let _ = s.write_all(bytes);
    let mut sink = [0u8; 512];
    while let Ok(n) = s.read(&mut sink) {
        if n == 0 {
            break;
        }
    }
    let _ = s.shutdown(Shutdown::Both);
}

/// The hostile connections mode: `rounds` connections to the node and as many answers to the
/// node's own attempts, each abusive from its first bytes. Returns the exit status.
fn hostile_connections(node: SocketAddr, peer: SocketAddr, rounds: usize, seed: u64) -> i32 {
    println!("wire-abuse: {rounds} rounds, seed {seed:#x}");

    // The node's own attempts arrive at the peer's address: answer them with abuse too.
    let listener = match TcpListener::bind(peer) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("wire-abuse: cannot listen on {peer}: {e}");
            return 1;
        }
    };
    let accepted = thread::spawn(move || {
        let mut rng = Rng(seed ^ 0x5555);
        let mut n = 0;
        for s in listener.incoming().take(rounds).flatten() {
            let bytes = attack(n, &mut rng, P_INITIAL_META);
            play(s, &bytes);
            n += 1;
        }
        n
    });

    let mut rng = Rng(seed);
    let mut sent = 0;
    for kind in 0..rounds {
        // the node listens only while it waits for its peer, not while it pauses after a
        // failed attempt: try again for a while
        for _ in 0..100 {
            match TcpStream::connect_timeout(&node, Duration::from_secs(5)) {
                Ok(s) => {
                    let first = if kind % 2 == 0 {
                        P_INITIAL_DATA
                    } else {
                        P_INITIAL_META
                    };
                    play(s, &attack(kind, &mut rng, first));
                    sent += 1;
                    break;
                }
                Err(_) => thread::sleep(Duration::from_millis(100)),
            }
        }
    }
    println!("wire-abuse: {sent} hostile connections made");
    // the accepting side may still wait for the node's next attempt: do not wait for it
    if accepted.is_finished() {
        let n = accepted.join().unwrap_or(0);
        println!("wire-abuse: {n} of the node's connections answered with abuse");
    }
    if sent < rounds {
        eprintln!("wire-abuse: only {sent} of {rounds} connections got through");
        return 1;
    }
    0
}

// ---------------------------------------------------------------------------------------------
// Connected rounds: a well-behaved peer that turns hostile

/// The abuses of the connected rounds, in the order the rounds go through them (the numbers
/// printed are these plus one). What exactly each sends, and why, is in [`Session::abuse`].
const ABUSES: [&str; 16] = [
    "P_DATA beyond the end of the device",
    "P_DATA of a size that is no multiple of 512",
    "P_DATA header announcing a huge payload",
    "truncated P_DATA, then the data socket closed",
    "P_WRITE_ACK for a request never sent",
    "P_BARRIER_ACK that does not match",
    "unknown packet on the data socket",
    "meta socket packet on the data socket",
    "P_STATE with an invalid state",
    "random bytes on the data socket",
    "random bytes on the meta socket",
    "silence: pings, writes and barriers unanswered",
    "state change request with a garbage mask and value",
    "packets for volume 7, which does not exist",
    "pings answered, writes and barriers never acknowledged",
    "zero-length P_DATA, P_TRIM and P_ZEROES",
];
/// The abuse that is silence: the node must drop the connection by its ping timeout.
const SILENT: usize = 11;
/// The abuse that answers pings only: the node must drop the connection by its request timeout
/// (ko-count × timeout), the pings keep it alive otherwise.
const ACKLESS: usize = 14;
/// The abuse of writes of no bytes: harmless, each must be acknowledged (C does no I/O for them;
/// a zero-sized discard may mean "to the end of the device" to a driver).
const ZERO_LEN: usize = 15;
/// The block id of the writes we make up (see [`p_data`]).
const OUR_BLOCK_ID: u64 = 0x0bad_cafe;

/// How long a round waits for the node to connect (it tries every `connect-int` seconds, and
/// after a failed attempt it pauses as long).
const CONNECT_WAIT: Duration = Duration::from_secs(30);
/// The well-behaved part of a round: at least this long, and until the node replicated a write
/// or [`GOOD_MAX`] passed.
const GOOD_MIN: Duration = Duration::from_millis(1000);
const GOOD_MAX: Duration = Duration::from_millis(2000);
/// How long the node has to drop the connection after an abuse; after silence (its ping-int
/// and ping-timeout, with room for slow guests).
const CLOSE_WAIT: Duration = Duration::from_secs(4);
const SILENT_WAIT: Duration = Duration::from_secs(20);
/// How long a node that kept the connection has to answer our P_PING.
const PING_WAIT: Duration = Duration::from_secs(3);
/// How long the wrong barrier ack waits for a barrier to answer (see [`BadBarrier`]).
const BARRIER_WAIT: Duration = Duration::from_secs(3);
/// The read timeout of a socket: one thread serves both sockets in turns of at most this long,
/// and no read ever blocks longer.
const POLL: Duration = Duration::from_millis(10);
/// A send that cannot go out within this long (the node stopped reading) ends the connection.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest packet the node may send: 1 MiB of data, `p_data`, a digest, and slack.
const MAX_PACKET: usize = 2 << 20;

fn be16(b: &[u8], at: usize) -> u16 {
    b.get(at..at + 2)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u16::from_be_bytes)
}

fn be32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u32::from_be_bytes)
}

fn be64(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u64::from_be_bytes)
}

/// A `union drbd_state` word: role bits 0-1, peer 2-3, conn 4-8, disk 9-12, pdsk 13-16.
fn state_word(role: u32, peer: u32, conn: u32, disk: u32, pdsk: u32) -> u32 {
    role | (peer << 2) | (conn << 4) | (disk << 9) | (pdsk << 13)
}

/// A packet with an h100 header for `volume`.
fn packet(volume: u16, cmd: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = h100v(volume, cmd, payload.len() as u32);
    v.extend_from_slice(payload);
    v
}

/// `struct p_block_ack`: P_RECV_ACK, P_WRITE_ACK.
fn block_ack(volume: u16, cmd: u16, sector: u64, block_id: u64, size: u32, seq: u32) -> Vec<u8> {
    let mut p = sector.to_be_bytes().to_vec();
    p.extend_from_slice(&block_id.to_be_bytes());
    p.extend_from_slice(&size.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    packet(volume, cmd, &p)
}

/// `struct p_barrier_ack`: P_BARRIER_ACK.
fn barrier_ack(barrier: u32, set_size: u32) -> Vec<u8> {
    let p = [barrier.to_be_bytes(), set_size.to_be_bytes()].concat();
    packet(0, P_BARRIER_ACK, &p)
}

/// `struct p_data` of a write we make up (protocol C: it asks for P_WRITE_ACK).
fn p_data(sector: u64) -> Vec<u8> {
    let mut p = sector.to_be_bytes().to_vec();
    p.extend_from_slice(&OUR_BLOCK_ID.to_be_bytes());
    p.extend_from_slice(&1u32.to_be_bytes());
    p.extend_from_slice(&DP_SEND_WRITE_ACK.to_be_bytes());
    p
}

/// P_DATA for `volume` with `size` bytes of random data.
fn data_packet(volume: u16, sector: u64, size: usize, rng: &mut Rng) -> Vec<u8> {
    let mut v = h100v(volume, P_DATA, (24 + size) as u32);
    v.extend_from_slice(&p_data(sector));
    v.extend_from_slice(&rng.bytes(size));
    v
}

/// `struct p_req_state`: P_STATE_CHG_REQ, P_CONN_ST_CHG_REQ.
fn req_state(volume: u16, cmd: u16, mask: u32, val: u32) -> Vec<u8> {
    packet(
        volume,
        cmd,
        &[mask.to_be_bytes(), val.to_be_bytes()].concat(),
    )
}

/// Noise that does not start with a header's magic.
fn noise(rng: &mut Rng) -> Vec<u8> {
    let n = 64 + (rng.next() % 448) as usize;
    let mut v = rng.bytes(n);
    v[0] = 0x42;
    v
}

/// A packet as received.
struct Packet {
    volume: u16,
    cmd: u16,
    payload: Vec<u8>,
}

/// One of the two sockets of a connection, with what was read from it and not yet parsed.
/// Reads wait at most [`POLL`], so one thread serves both sockets and never blocks for long.
struct Wire {
    name: &'static str,
    s: TcpStream,
    buf: Vec<u8>,
    chunk: Vec<u8>,
    /// Why the connection ended (the node closed or reset it, a send failed, the node sent
    /// something that is no packet), once it did.
    closed: Option<String>,
}

impl Wire {
    fn new(name: &'static str, s: TcpStream) -> io::Result<Self> {
        s.set_nonblocking(false)?;
        s.set_read_timeout(Some(POLL))?;
        s.set_write_timeout(Some(SEND_TIMEOUT))?;
        s.set_nodelay(true)?;
        Ok(Self {
            name,
            s,
            buf: Vec::new(),
            chunk: vec![0; 64 << 10],
            closed: None,
        })
    }

    /// Reads what has arrived, waiting at most [`POLL`] for it.
    fn fill(&mut self) {
        if self.closed.is_some() {
            return;
        }
        match self.s.read(&mut self.chunk) {
            Ok(0) => self.closed = Some("closed by the node".into()),
            Ok(n) => self.buf.extend_from_slice(&self.chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => self.closed = Some(format!("receive failed: {e}")),
        }
    }

    /// The next whole packet read, with an h100 header or (before the version is agreed) an
    /// h80 one; an error if the node sent something that is no packet.
    fn packet(&mut self, h100: bool) -> Result<Option<Packet>, String> {
        let b = &self.buf;
        let hlen = if h100 { 16 } else { 8 };
        if b.len() < hlen {
            return Ok(None);
        }
        let (volume, cmd, len) = if h100 {
            if be32(b, 0) != DRBD_MAGIC_100 || be32(b, 12) != 0 {
                return Err(format!("no h100 header: {:02x?}", &b[..hlen]));
            }
            (be16(b, 4), be16(b, 6), be32(b, 8) as usize)
        } else {
            if be32(b, 0) != DRBD_MAGIC {
                return Err(format!("no h80 header: {:02x?}", &b[..hlen]));
            }
            (0, be16(b, 4), usize::from(be16(b, 6)))
        };
        if len > MAX_PACKET {
            return Err(format!("packet {cmd:#x} of {len} bytes"));
        }
        if b.len() < hlen + len {
            return Ok(None);
        }
        let payload = b[hlen..hlen + len].to_vec();
        self.buf.drain(..hlen + len);
        Ok(Some(Packet {
            volume,
            cmd,
            payload,
        }))
    }

    /// The next packet, waiting for it until `until` (handshake).
    fn recv(&mut self, h100: bool, until: Instant) -> Result<Packet, String> {
        loop {
            if let Some(p) = self.packet(h100)? {
                return Ok(p);
            }
            if let Some(why) = &self.closed {
                return Err(format!("{} socket: {why}", self.name));
            }
            if Instant::now() >= until {
                return Err(format!(
                    "{} socket: nothing from the node in time",
                    self.name
                ));
            }
            self.fill();
        }
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        if let Some(why) = &self.closed {
            return Err(format!("{} socket: {why}", self.name));
        }
        self.s.write_all(bytes).map_err(|e| {
            let why = format!("send failed: {e}");
            self.closed = Some(why.clone());
            format!("{} socket: {why}", self.name)
        })
    }
}

/// The first packet on a connection the node made: P_INITIAL_DATA or P_INITIAL_META (h80,
/// no payload); an error for anything else, and for a connection the node closed already (one
/// of an attempt it gave up, left in our listen queue).
fn first_packet(s: &TcpStream) -> Result<u16, String> {
    let io = |e: io::Error| format!("{e}");
    s.set_nonblocking(false).map_err(io)?;
    s.set_read_timeout(Some(Duration::from_secs(3)))
        .map_err(io)?;
    let mut h = [0u8; 8];
    let mut r: &TcpStream = s;
    r.read_exact(&mut h).map_err(io)?;
    if be32(&h, 0) != DRBD_MAGIC || be16(&h, 6) != 0 {
        return Err(format!("it began with {h:02x?}"));
    }
    s.set_nonblocking(true).map_err(io)?;
    let closed = matches!(s.peek(&mut [0u8; 1]), Ok(0));
    s.set_nonblocking(false).map_err(io)?;
    if closed {
        return Err("closed by the node already".into());
    }
    Ok(be16(&h, 4))
}

/// Accepts the node's data and meta connections on the peer's address: the node connects to
/// its peer as well as listening, and says in the first packet which socket is which. It
/// connects the data socket first and then the meta socket (conn_connect()): a meta connection
/// before a data one, or a data connection after another, is left over from an attempt the node
/// gave up, and pairing it would leave the node's real socket unanswered.
fn accept_pair(l: &TcpListener, node_ip: IpAddr, until: Instant) -> Result<(Wire, Wire), String> {
    let (mut data, mut meta) = (None, None);
    let mut seen = 0;
    loop {
        match (data, meta) {
            (Some(d), Some(m)) => {
                let wire = |name, s| Wire::new(name, s).map_err(|e| format!("socket setup: {e}"));
                return Ok((wire("data", d)?, wire("meta", m)?));
            }
            (d, m) => (data, meta) = (d, m),
        }
        if Instant::now() >= until {
            return Err(format!(
                "the node did not connect to us within {} s ({seen} connections of it seen): is \
                 it up, with this address as its peer's?",
                CONNECT_WAIT.as_secs()
            ));
        }
        let (s, from) = match l.accept() {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(20));
                continue;
            }
            Err(e) => return Err(format!("accept failed: {e}")),
        };
        if from.ip() != node_ip {
            println!("wire-abuse: ignoring a connection from {from}");
            continue;
        }
        seen += 1;
        match first_packet(&s) {
            Ok(P_INITIAL_DATA) => (data, meta) = (Some(s), None),
            Ok(P_INITIAL_META) if data.is_some() => meta = Some(s),
            Ok(P_INITIAL_META) => println!("wire-abuse: dropped a meta connection before data"),
            Ok(cmd) => println!("wire-abuse: dropped a connection beginning with packet {cmd:#x}"),
            Err(why) => println!("wire-abuse: dropped a connection of the node: {why}"),
        }
    }
}

/// Why a round got no connected session.
enum NoSession {
    /// The node did not connect at all: no later round would fare better.
    NoNode(String),
    /// It connected, but the handshake failed.
    Handshake(String),
}

/// What the peer counted of the node's traffic.
#[derive(Clone, Copy, Default)]
struct Stats {
    /// P_DATA, P_TRIM, P_ZEROES received.
    writes: u32,
    barriers: u32,
    /// P_PING received; those left unanswered.
    pings: u32,
    pings_ignored: u32,
}

/// How the wrong barrier ack of abuse 6 is wrong.
#[derive(Clone, Copy)]
enum BadBarrier {
    /// The right barrier number, one write too many.
    SetSize,
    /// Another barrier's number.
    Number,
}

/// A connection the handshake completed, and how the peer behaves on it.
struct Session {
    data: Wire,
    meta: Wire,
    /// The device's size in sectors, as the node's P_SIZES told.
    size: u64,
    /// Well-behaved: answer pings, acknowledge writes and barriers, grant state changes.
    answer: bool,
    /// Answer pings even when not [`Session::answer`]ing.
    answer_pings: bool,
    /// Abuse 6, armed: the next barrier is acknowledged wrongly.
    bad_barrier: Option<BadBarrier>,
    /// Writes received since the last barrier.
    epoch_writes: u32,
    last_barrier: Option<u32>,
    /// A P_PING_ACK came (the answer to our liveness check).
    ping_acked: bool,
    stats: Stats,
    /// What else the node said, for the round's line.
    notes: Vec<String>,
    /// The node sent something that is no packet: a bug of the node.
    node_error: Option<String>,
    /// P_WRITE_ACKs (and P_NEG_ACKs) of the node for the writes we made up.
    ours_acked: u32,
    ours_neg_acked: u32,
    /// Read the data socket; when not, the node's sends stall once the buffers are full.
    read_data: bool,
    /// Refuse the node's writes: P_NEG_ACK where they ask for P_WRITE_ACK.
    refuse_writes: bool,
    refused: u32,
}

/// The handshake as a well-behaved Secondary peer: accept the node's two connections, agree on
/// protocol 100 or 101, echo the node's P_PROTOCOL (the settings must be equal), and answer its
/// volume's parameters (drbd_connected()) so that it goes Connected without a resync: its own
/// sync parameters and sizes, its UUIDs with no bitmap bits and no flags, and a P_STATE of an
/// UpToDate Secondary. One volume only: the node's first (the tests have no other).
fn handshake(l: &TcpListener, node_ip: IpAddr, until: Instant) -> Result<Session, NoSession> {
    let (mut data, meta) = accept_pair(l, node_ip, until).map_err(NoSession::NoNode)?;
    let hs = NoSession::Handshake;
    data.send(&features_with(86, 101, PRO_FEATURES))
        .map_err(hs)?;
    let f = data.recv(false, until).map_err(hs)?;
    if f.cmd != P_CONNECTION_FEATURES || f.payload.len() != 72 {
        return Err(hs(format!(
            "expected P_CONNECTION_FEATURES, got packet {:#x} of {} bytes",
            f.cmd,
            f.payload.len()
        )));
    }
    let min = be32(&f.payload, 0);
    let max = match be32(&f.payload, 8) {
        0 => min,
        max => max,
    };
    if max < 100 || min > 101 {
        return Err(hs(format!(
            "the node speaks protocols {min}..={max}; this peer only 100 and 101"
        )));
    }

    let p = data.recv(true, until).map_err(hs)?;
    if p.cmd != P_PROTOCOL {
        return Err(hs(format!("expected P_PROTOCOL, got packet {:#x}", p.cmd)));
    }
    data.send(&packet(0, P_PROTOCOL, &p.payload)).map_err(hs)?;

    let (mut sync, mut sizes, mut uuids) = (None, None, None);
    let state = loop {
        let p = data.recv(true, until).map_err(hs)?;
        match p.cmd {
            P_SYNC_PARAM | P_SYNC_PARAM89 => sync = Some(p),
            P_SIZES => sizes = Some(p),
            P_UUIDS => uuids = Some(p),
            P_STATE => break p,
            c => return Err(hs(format!("unexpected packet {c:#x} in the handshake"))),
        }
    };
    let (Some(sync), Some(sizes), Some(uuids)) = (sync, sizes, uuids) else {
        return Err(hs(
            "the node sent no sync parameters, sizes or UUIDs: is it diskless?".into(),
        ));
    };
    let vol = state.volume;
    // the node's current, bitmap and history UUIDs; no bits set, no flags
    let mut mirrored = uuids.payload.get(..32).unwrap_or(&[0; 32]).to_vec();
    mirrored.extend_from_slice(&[0; 16]);
    // the node is our peer: its role (bits 0-1) is our peer's
    let word = state_word(
        R_SECONDARY,
        be32(&state.payload, 0) & 3,
        C_WF_REPORT_PARAMS,
        D_UP_TO_DATE,
        D_UP_TO_DATE,
    );
    let reply = [
        packet(vol, sync.cmd, &sync.payload),
        packet(vol, P_SIZES, &sizes.payload),
        packet(vol, P_UUIDS, &mirrored),
        packet(vol, P_STATE, &word.to_be_bytes()),
    ]
    .concat();
    data.send(&reply).map_err(hs)?;
    // p_sizes: d_size, u_size, c_size (the current size)
    let size = match be64(&sizes.payload, 16) {
        0 => be64(&sizes.payload, 0),
        c => c,
    };
    Ok(Session {
        data,
        meta,
        size,
        answer: true,
        answer_pings: true,
        bad_barrier: None,
        epoch_writes: 0,
        last_barrier: None,
        ping_acked: false,
        stats: Stats::default(),
        notes: Vec::new(),
        node_error: None,
        ours_acked: 0,
        ours_neg_acked: 0,
        read_data: true,
        refuse_writes: false,
        refused: 0,
    })
}

impl Session {
    fn note(&mut self, s: String) {
        if self.notes.len() < 6 && !self.notes.contains(&s) {
            self.notes.push(s);
        }
    }

    /// Sends on the data socket; a failure shows as the connection's end.
    fn send_data(&mut self, bytes: &[u8]) {
        let _ = self.data.send(bytes);
    }

    fn send_meta(&mut self, bytes: &[u8]) {
        let _ = self.meta.send(bytes);
    }

    /// Why the connection ended, once either socket did.
    fn closed(&self) -> Option<String> {
        [&self.data, &self.meta].iter().find_map(|w| {
            w.closed
                .as_ref()
                .map(|why| format!("{} socket {why}", w.name))
        })
    }

    /// Serves both sockets as [`Session::answer`] says, for at most `limit` and until `done`
    /// (given the time so far) says so; `Some(why)` once the connection ended.
    fn run(
        &mut self,
        limit: Duration,
        done: impl Fn(&Session, Duration) -> bool,
    ) -> Option<String> {
        let start = Instant::now();
        loop {
            let t = start.elapsed();
            if t >= limit || done(self, t) {
                return None;
            }
            if let (Some(_), true) = (self.bad_barrier, t >= BARRIER_WAIT) {
                // no barrier came to answer wrongly: acknowledge one that never was
                self.bad_barrier = None;
                let nr = self
                    .last_barrier
                    .map_or(0x0bad_ba77, |n| n.wrapping_add(1000));
                self.send_meta(&barrier_ack(nr, 1));
                self.note(format!(
                    "no P_BARRIER came: sent P_BARRIER_ACK #{nr}, never sent"
                ));
            }
            if self.read_data {
                self.data.fill();
                self.on_packets(true);
            }
            self.meta.fill();
            self.on_packets(false);
            if let Some(why) = self.closed() {
                return Some(why);
            }
        }
    }

    /// Handles the whole packets read on the data (or meta) socket.
    fn on_packets(&mut self, data: bool) {
        loop {
            let wire = if data { &mut self.data } else { &mut self.meta };
            match wire.packet(true) {
                Ok(Some(p)) if data => self.on_data(p),
                Ok(Some(p)) => self.on_meta(p),
                Ok(None) => return,
                Err(e) => {
                    let why = format!("sent something that is no packet: {e}");
                    wire.closed = Some(why.clone());
                    self.node_error = Some(format!("{} socket: {why}", wire.name));
                    return;
                }
            }
        }
    }

    /// A packet of the node's data socket: replicated writes and barriers to acknowledge (as
    /// the writes' dp_flags ask: P_WRITE_ACK for protocol C, P_RECV_ACK for B), state change
    /// requests to grant; the rest (state, UUID and size updates) is taken note of only.
    fn on_data(&mut self, p: Packet) {
        match p.cmd {
            P_DATA | P_TRIM | P_ZEROES => {
                let b = &p.payload;
                let (sector, block_id, seq, flags) =
                    (be64(b, 0), be64(b, 8), be32(b, 16), be32(b, 20));
                let size = if p.cmd == P_DATA {
                    b.len().saturating_sub(24) as u32
                } else {
                    be32(b, 24)
                };
                self.stats.writes += 1;
                self.epoch_writes += 1;
                let ack = if flags & DP_SEND_WRITE_ACK != 0 && self.refuse_writes {
                    self.refused += 1;
                    println!("wire-abuse: refused the write of {size} bytes at sector {sector}");
                    Some(P_NEG_ACK)
                } else if flags & DP_SEND_WRITE_ACK != 0 {
                    Some(P_WRITE_ACK)
                } else if flags & DP_SEND_RECEIVE_ACK != 0 {
                    Some(P_RECV_ACK)
                } else {
                    None
                };
                if let (Some(cmd), true) = (ack, self.answer) {
                    self.send_meta(&block_ack(p.volume, cmd, sector, block_id, size, seq));
                }
            }
            P_BARRIER => {
                let nr = be32(&p.payload, 0);
                let n = std::mem::take(&mut self.epoch_writes);
                self.stats.barriers += 1;
                self.last_barrier = Some(nr);
                if let Some(bad) = self.bad_barrier.take() {
                    let (nr2, n2) = match bad {
                        BadBarrier::SetSize => (nr, n + 1),
                        BadBarrier::Number => (nr.wrapping_add(7), n),
                    };
                    self.send_meta(&barrier_ack(nr2, n2));
                    self.note(format!(
                        "answered P_BARRIER #{nr} of {n} writes with P_BARRIER_ACK #{nr2} of {n2}"
                    ));
                } else if self.answer {
                    self.send_meta(&barrier_ack(nr, n));
                }
            }
            P_STATE_CHG_REQ | P_CONN_ST_CHG_REQ => {
                let reply = if p.cmd == P_STATE_CHG_REQ {
                    P_STATE_CHG_REPLY
                } else {
                    P_CONN_ST_CHG_REPLY
                };
                if self.answer {
                    self.send_meta(&packet(p.volume, reply, &SS_SUCCESS.to_be_bytes()));
                }
            }
            _ => {}
        }
    }

    /// A packet of the node's meta socket: pings to answer, and the answers to ours.
    fn on_meta(&mut self, p: Packet) {
        match p.cmd {
            P_PING => {
                self.stats.pings += 1;
                if self.answer || self.answer_pings {
                    self.send_meta(&h100(P_PING_ACK, 0));
                } else {
                    self.stats.pings_ignored += 1;
                }
            }
            P_PING_ACK => self.ping_acked = true,
            P_WRITE_ACK if be64(&p.payload, 8) == OUR_BLOCK_ID => self.ours_acked += 1,
            P_NEG_ACK if be64(&p.payload, 8) == OUR_BLOCK_ID => self.ours_neg_acked += 1,
            P_STATE_CHG_REPLY | P_CONN_ST_CHG_REPLY => {
                let name = if p.cmd == P_STATE_CHG_REPLY {
                    "P_STATE_CHG_REPLY"
                } else {
                    "P_CONN_ST_CHG_REPLY"
                };
                let rv = be32(&p.payload, 0) as i32;
                self.note(format!("node answered {name} {rv} for volume {}", p.volume));
            }
            c => self.note(format!("node sent packet {c:#x} on the meta socket")),
        }
    }

    /// Abuse `kind` (an index of [`ABUSES`]); `variant` counts how often the rounds went
    /// through all of them, so that a second pass tries another value where there is one.
    /// Returns what was sent.
    fn abuse(&mut self, kind: usize, variant: usize, rng: &mut Rng) -> String {
        let second = variant % 2 == 1;
        match kind {
            // 1. A write the node cannot place: it straddles the end of the device (or starts
            // so far out that sector + size overflows 64 bits). The node must refuse it from
            // p_data ("beyond the end of the device"), before reading the data.
            0 => {
                let sector = if second || self.size < 8 {
                    u64::MAX - 3
                } else {
                    self.size - 4
                };
                self.send_data(&data_packet(0, sector, 4096, rng));
                format!(
                    "P_DATA for sector {sector} + 4096 bytes (the device has {} sectors)",
                    self.size
                )
            }
            // 2. A write of 1000 (513) bytes, no whole number of sectors (read_in_block()).
            1 => {
                let size = if second { 513 } else { 1000 };
                self.send_data(&data_packet(0, 0, size, rng));
                format!("P_DATA of {size} bytes at sector 0")
            }
            // 3. A header announcing 64 MiB (or one byte more than the largest P_DATA: 1 MiB
            // of data, p_data and a 64-byte digest), and p_data: the node must refuse it by
            // the header alone, neither allocate that much nor wait for it.
            2 => {
                let len = if second {
                    (1 << 20) + 24 + 64 + 1
                } else {
                    64 << 20
                };
                let v = [h100(P_DATA, len), p_data(0)].concat();
                self.send_data(&v);
                format!("P_DATA header announcing {len} bytes, and p_data")
            }
            // 4. A write cut short: the header promises 4 KiB, 1000 bytes come, and the data
            // socket is closed for writing. The node's receiver, in the middle of the data,
            // meets the end of the stream and must drop the connection (the meta socket stays
            // open and well-behaved).
            3 => {
                let mut v = data_packet(0, 0, 4096, rng);
                v.truncate(16 + 24 + 1000);
                self.send_data(&v);
                let _ = self.data.s.shutdown(Shutdown::Write);
                "P_DATA of 4096 bytes cut after 1000, then FIN on the data socket".into()
            }
            // 5. An ack for a request the node never sent, a made-up block_id: the node must
            // complete nothing with it (got_BlockAck(): "failed to find request").
            4 => {
                let id = 0x0bad_0000_0000_0000 | (rng.next() & 0xffff_0fff);
                self.send_meta(&block_ack(0, P_WRITE_ACK, 0, id, 4096, 1));
                format!("P_WRITE_ACK for block_id {id:#x}, sector 0 on the meta socket")
            }
            // 6. A barrier ack that does not match the node's epoch (tl_release(): "BAD!
            // BarrierAck"): the next P_BARRIER is answered with one write too many (or with
            // another barrier's number). Armed here, sent when that barrier comes; if none
            // comes in time, a P_BARRIER_ACK for a barrier never sent goes instead.
            5 => {
                let bad = if second {
                    BadBarrier::Number
                } else {
                    BadBarrier::SetSize
                };
                self.bad_barrier = Some(bad);
                match bad {
                    BadBarrier::SetSize => "a P_BARRIER_ACK with the wrong set_size".into(),
                    BadBarrier::Number => "a P_BARRIER_ACK with the wrong barrier number".into(),
                }
            }
            // 7. A packet number DRBD 8.4 does not define (0x3f; 0x25, protocol D's unused
            // number): drbdd() has no handler and must not skip it.
            6 => {
                let cmd = if second { 0x25 } else { 0x3f };
                self.send_data(&h100(cmd, 0));
                format!("packet {cmd:#x} with no payload on the data socket")
            }
            // 8. A packet of the meta socket on the data socket: P_PING_ACK (P_WRITE_ACK).
            7 => {
                if second {
                    self.send_data(&block_ack(0, P_WRITE_ACK, 0, 1, 4096, 1));
                    "P_WRITE_ACK on the data socket".into()
                } else {
                    self.send_data(&h100(P_PING_ACK, 0));
                    "P_PING_ACK on the data socket".into()
                }
            }
            // 9. P_STATE whose role bits are 3, no role (or whose disk is 15, no disk state).
            8 => {
                let word = if second {
                    state_word(R_SECONDARY, R_PRIMARY, C_CONNECTED, 15, D_UP_TO_DATE)
                } else {
                    state_word(3, R_PRIMARY, C_CONNECTED, D_UP_TO_DATE, D_UP_TO_DATE)
                };
                self.send_data(&packet(0, P_STATE, &word.to_be_bytes()));
                format!("P_STATE {word:#x}")
            }
            // 10. and 11. Noise where the next header should come.
            9 => {
                let v = noise(rng);
                self.send_data(&v);
                format!("{} random bytes on the data socket", v.len())
            }
            10 => {
                let v = noise(rng);
                self.send_meta(&v);
                format!("{} random bytes on the meta socket", v.len())
            }
            // 12. Silence: the peer keeps reading but answers nothing, neither pings nor
            // writes nor barriers, as a hung peer would. The node must notice by its ping
            // timeout ("PingAck did not arrive in time") and drop the connection; its writes
            // then complete without the peer.
            SILENT => {
                self.answer = false;
                self.answer_pings = false;
                "nothing more: pings, writes and barriers left unanswered".into()
            }
            // 13. A state change request whose mask is all ones and whose value is 0xdeadbeef:
            // role bits 3, no valid state (P_CONN_ST_CHG_REQ, for the whole connection, the
            // second time). The node must refuse it (its reply says how) or drop the
            // connection, and change nothing.
            12 => {
                let (cmd, name) = if second {
                    (P_CONN_ST_CHG_REQ, "P_CONN_ST_CHG_REQ")
                } else {
                    (P_STATE_CHG_REQ, "P_STATE_CHG_REQ")
                };
                self.send_data(&req_state(0, cmd, 0xffff_ffff, 0xdead_beef));
                format!("{name} mask 0xffffffff val 0xdeadbeef")
            }
            // 14. Packets for volume 7, which the node does not have: a state change request
            // (an empty one), a P_STATE, and a P_DATA. The C module drops the connection at
            // the first ("packet received for volume 7, which is not configured locally").
            13 => {
                let word = state_word(
                    R_SECONDARY,
                    R_PRIMARY,
                    C_CONNECTED,
                    D_UP_TO_DATE,
                    D_UP_TO_DATE,
                );
                let v = [
                    req_state(7, P_STATE_CHG_REQ, 0, 0),
                    packet(7, P_STATE, &word.to_be_bytes()),
                    data_packet(7, 0, 4096, rng),
                ]
                .concat();
                self.send_data(&v);
                "P_STATE_CHG_REQ, P_STATE and P_DATA for volume 7".into()
            }
            // 16. (ZERO_LEN) Writes of no bytes, each asking for P_WRITE_ACK: P_DATA with no
            // data, P_TRIM and P_ZEROES of size 0, at sector 0. The node must do no I/O for
            // them (a zero-sized discard is "to the end" to some drivers) and acknowledge each.
            ZERO_LEN => {
                let mut v = data_packet(0, 0, 0, rng);
                for cmd in [P_TRIM, P_ZEROES] {
                    v.extend_from_slice(&h100(cmd, 28));
                    v.extend_from_slice(&p_data(0));
                    v.extend_from_slice(&0u32.to_be_bytes());
                }
                self.send_data(&v);
                "P_DATA, P_TRIM and P_ZEROES of 0 bytes at sector 0".into()
            }
            // 15. (ACKLESS) Acks withheld: pings are answered (the peer looks alive), the replicated
            // writes and their barriers are read but never acknowledged, as a peer whose disk
            // hangs. The node must give up by its request timeout ("Remote failed to finish a
            // request within ... ko-count ... timeout") and drop the connection.
            _ => {
                self.answer = false;
                "nothing but P_PING_ACK: writes and barriers left unacknowledged".into()
            }
        }
    }

    /// Ends the connection from our side.
    fn close(self) {
        let _ = self.data.s.shutdown(Shutdown::Both);
        let _ = self.meta.s.shutdown(Shutdown::Both);
    }
}

/// How a connected round went.
enum Verdict {
    /// The node dropped the connection after the abuse.
    Closed,
    /// The node kept the connection and still answers: the abuse did no harm.
    Harmless,
    Failed(String),
}

/// One connected round: connect and behave, abuse, watch the node. `Err` when the node did not
/// connect at all.
fn connected_round(
    l: &TcpListener,
    node_ip: IpAddr,
    round: usize,
    rng: &mut Rng,
) -> Result<Verdict, String> {
    let kind = round % ABUSES.len();
    let variant = round / ABUSES.len();
    let tag = format!("round {}: abuse {} ({})", round + 1, kind + 1, ABUSES[kind]);

    // A node may drop even a well-behaved peer (a slow guest misses a ping, say): three tries.
    let mut tries = 0;
    let (mut s, good) = loop {
        tries += 1;
        let mut s = match handshake(l, node_ip, Instant::now() + CONNECT_WAIT) {
            Ok(s) => s,
            Err(NoSession::NoNode(why)) => return Err(why),
            Err(NoSession::Handshake(why)) if tries < 3 => {
                println!("{tag}: handshake failed ({why}); again");
                continue;
            }
            Err(NoSession::Handshake(why)) => {
                return Ok(Verdict::Failed(format!(
                    "handshake failed {tries} times, last: {why}"
                )))
            }
        };
        let t = Instant::now();
        match s.run(GOOD_MAX, |s, t| t >= GOOD_MIN && s.stats.writes > 0) {
            None => break (s, t.elapsed()),
            Some(why) if tries < 3 && s.node_error.is_none() => {
                println!("{tag}: the node dropped the well-behaved peer ({why}); again");
            }
            Some(why) => {
                return Ok(Verdict::Failed(format!(
                    "the node dropped a well-behaved peer, {tries} times, last: {why}"
                )))
            }
        }
    };
    let before = s.stats;
    let good = format!(
        "{:.1} s Connected: {} writes, {} barriers, {} pings answered",
        good.as_secs_f64(),
        before.writes,
        before.barriers,
        before.pings
    );

    let what = s.abuse(kind, variant, rng);
    let wait = if kind == SILENT || kind == ACKLESS {
        SILENT_WAIT
    } else {
        CLOSE_WAIT
    };
    let t = Instant::now();
    let closed = s.run(wait, |_, _| false);
    let after = t.elapsed().as_secs_f64();
    let (mut verdict, reaction) = match closed {
        Some(why) => (
            Verdict::Closed,
            format!("the node closed the connection after {after:.2} s ({why})"),
        ),
        None if kind == SILENT || kind == ACKLESS => {
            let why = format!("the node did not notice the silence within {after:.0} s");
            (Verdict::Failed(why.clone()), why)
        }
        None => {
            // still connected: it must still be alive and answer a ping of ours
            s.answer = true;
            s.ping_acked = false;
            s.send_meta(&h100(P_PING, 0));
            match s.run(PING_WAIT, |s, _| s.ping_acked) {
                _ if s.ping_acked => (
                    Verdict::Harmless,
                    format!("the node kept the connection for {after:.0} s and answers pings"),
                ),
                Some(why) => (
                    Verdict::Closed,
                    format!("the node closed the connection after our ping ({why})"),
                ),
                None => {
                    let why = format!(
                        "the node kept the connection but left our P_PING unanswered for {} s",
                        PING_WAIT.as_secs()
                    );
                    (Verdict::Failed(why.clone()), why)
                }
            }
        }
    };
    if kind == SILENT || kind == ACKLESS {
        s.note(format!(
            "{} pings and {} writes unanswered",
            s.stats.pings_ignored,
            s.stats.writes - before.writes
        ));
    }
    if kind == ZERO_LEN {
        s.note(format!(
            "{} of our 3 writes acknowledged, {} refused",
            s.ours_acked, s.ours_neg_acked
        ));
        if !matches!(verdict, Verdict::Harmless) || s.ours_acked != 3 {
            verdict = Verdict::Failed(format!(
                "the writes of no bytes: {} acknowledged, {} refused, connection {}",
                s.ours_acked,
                s.ours_neg_acked,
                if matches!(verdict, Verdict::Harmless) {
                    "kept"
                } else {
                    "dropped"
                }
            ));
        }
    }
    if let Some(e) = &s.node_error {
        verdict = Verdict::Failed(format!("the node sent a malformed packet: {e}"));
    }
    let notes = if s.notes.is_empty() {
        String::new()
    } else {
        format!("; {}", s.notes.join("; "))
    };
    println!("{tag}: {good}; sent {what}; {reaction}{notes}");
    s.close();
    Ok(verdict)
}

/// The connected rounds mode. Returns the exit status.
fn connected_rounds(node: SocketAddr, peer: SocketAddr, rounds: usize, seed: u64) -> i32 {
    println!("wire-abuse: {rounds} connected rounds, seed {seed:#x}");
    let listener = match TcpListener::bind(peer).and_then(|l| l.set_nonblocking(true).map(|()| l)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("wire-abuse: cannot listen on {peer}: {e}");
            return 1;
        }
    };
    let mut rng = Rng(seed);
    let (mut closed, mut harmless) = (0, 0);
    let mut failed = Vec::new();
    for round in 0..rounds {
        match connected_round(&listener, node.ip(), round, &mut rng) {
            Ok(Verdict::Closed) => closed += 1,
            Ok(Verdict::Harmless) => harmless += 1,
            Ok(Verdict::Failed(why)) => {
                println!("round {}: FAILED: {why}", round + 1);
                failed.push(format!("round {}: {why}", round + 1));
            }
            Err(why) => {
                eprintln!("wire-abuse: round {}: {why}", round + 1);
                return 1;
            }
        }
    }
    println!(
        "wire-abuse: {rounds} connected rounds: the node dropped the connection {closed} times, \
         shrugged {harmless} abuses off, {} rounds failed",
        failed.len()
    );
    for f in &failed {
        eprintln!("wire-abuse: {f}");
    }
    i32::from(!failed.is_empty())
}

/// What a scripted round does once the test tells it to go.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scripted {
    /// Write 4 KiB at the sector the go file names: beyond the disk the node has attached now,
    /// though within the one it had when the connection began. The node must drop the
    /// connection.
    StaleSize,
    /// Stop reading the data socket (pings are still answered): the node's sends stall. With
    /// ko-count 0 it waits for us forever; the test then takes the connection down on the
    /// node's side, which must work.
    StopReading,
    /// Refuse the node's writes with P_NEG_ACK (C: a peer whose disk failed them) until the
    /// file `GO_FILE.done` exists: the node must keep the connection and mark the writes out of
    /// sync.
    NegAck,
}

/// One connected round the test on the node's side takes part in: behave until the file `go`
/// exists (at most 120 s), then do `what`, and watch the node for at most 120 s. Returns the
/// exit status: 0 when the node dropped the connection.
fn scripted_round(node: SocketAddr, peer: SocketAddr, go: &str, what: Scripted, seed: u64) -> i32 {
    let listener = match TcpListener::bind(peer).and_then(|l| l.set_nonblocking(true).map(|()| l)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("wire-abuse: cannot listen on {peer}: {e}");
            return 1;
        }
    };
    let mut s = match handshake(&listener, node.ip(), Instant::now() + CONNECT_WAIT) {
        Ok(s) => s,
        Err(NoSession::NoNode(why) | NoSession::Handshake(why)) => {
            eprintln!("wire-abuse: no session: {why}");
            return 1;
        }
    };
    println!("wire-abuse: connected; waiting for {go}");
    let go_path = std::path::Path::new(go);
    if let Some(why) = s.run(Duration::from_secs(120), |_, _| go_path.exists()) {
        eprintln!("wire-abuse: the node dropped the well-behaved peer: {why}");
        return 1;
    }
    let what_sent = match what {
        Scripted::StaleSize => {
            let sector = std::fs::read_to_string(go_path)
                .ok()
                .and_then(|t| t.trim().parse::<u64>().ok());
            let Some(sector) = sector else {
                eprintln!("wire-abuse: {go} holds no sector number");
                return 1;
            };
            let mut rng = Rng(seed);
            s.send_data(&data_packet(0, sector, 4096, &mut rng));
            format!(
                "P_DATA of 4096 bytes at sector {sector} (the device had {} sectors at connect)",
                s.size
            )
        }
        Scripted::StopReading => {
            s.read_data = false;
            "nothing more read from the data socket; pings answered".into()
        }
        Scripted::NegAck => {
            s.refuse_writes = true;
            println!("wire-abuse: refusing writes now");
            let done = std::path::PathBuf::from(format!("{go}.done"));
            let closed = s.run(Duration::from_secs(120), |_, _| done.exists());
            let refused = s.refused;
            return match closed {
                Some(why) => {
                    println!("wire-abuse: {refused} writes refused; the node dropped the connection ({why})");
                    1
                }
                None => {
                    println!("wire-abuse: {refused} writes refused with P_NEG_ACK; the node kept the connection");
                    0
                }
            };
        }
    };
    let t = Instant::now();
    let closed = s.run(Duration::from_secs(120), |_, _| false);
    let after = t.elapsed().as_secs_f64();
    let notes = s.notes.join("; ");
    match closed {
        Some(why) => {
            println!("wire-abuse: sent {what_sent}; the node closed the connection after {after:.1} s ({why}) {notes}");
            0
        }
        None => {
            println!("wire-abuse: sent {what_sent}; the node kept the connection for {after:.0} s {notes}");
            1
        }
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: wire-abuse NODE_ADDR:PORT PEER_ADDR:PORT [--rounds N | --connected-rounds N | \
         --stale-size GO_FILE | --stop-reading GO_FILE | --neg-ack GO_FILE]"
    );
    std::process::exit(2);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        usage();
    }
    let (Ok(node), Ok(peer)) = (args[1].parse::<SocketAddr>(), args[2].parse::<SocketAddr>())
    else {
        usage();
    };
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        | 1;
    let (mut rounds, mut connected) = (None, None);
    let mut opts = args[3..].iter();
    while let Some(opt) = opts.next() {
        let value = opts.next();
        let scripted = match opt.as_str() {
            "--stale-size" => Some(Scripted::StaleSize),
            "--stop-reading" => Some(Scripted::StopReading),
            "--neg-ack" => Some(Scripted::NegAck),
            _ => None,
        };
        if let (Some(what), Some(go)) = (scripted, value) {
            std::process::exit(scripted_round(node, peer, go, what, seed));
        }
        match (opt.as_str(), value.and_then(|n| n.parse::<usize>().ok())) {
            ("--rounds", Some(n)) => rounds = Some(n),
            ("--connected-rounds", Some(n)) => connected = Some(n),
            _ => usage(),
        }
    }
    let status = match (rounds, connected) {
        (Some(_), Some(_)) => usage(),
        (_, Some(n)) => connected_rounds(node, peer, n, seed),
        (n, None) => hostile_connections(node, peer, n.unwrap_or(24), seed),
    };
    std::process::exit(status);
}
