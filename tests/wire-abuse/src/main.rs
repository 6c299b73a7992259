// SPDX-License-Identifier: GPL-2.0
//! A hostile DRBD peer for the tests: against a node that waits for its peer, it connects to the
//! node's address and accepts the node's connections on the peer's address, and on each
//! connection sends something a real peer never would: garbage, truncated or oversized headers,
//! wrong first packets, incompatible or malformed feature and protocol packets, random bytes.
//! The node must drop each such connection (with a kernel log line) and keep waiting; the test
//! checks the kernel log and that the node still works afterwards.
//!
//!     wire-abuse NODE_ADDR:PORT PEER_ADDR:PORT [--rounds N]

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

const DRBD_MAGIC: u32 = 0x8374_0267;
const DRBD_MAGIC_100: u32 = 0x8620_ec20;
const P_PROTOCOL: u16 = 0x0b;
const P_INITIAL_META: u16 = 0xfff1;
const P_INITIAL_DATA: u16 = 0xfff2;
const P_CONNECTION_FEATURES: u16 = 0xfffe;

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

fn h100(cmd: u16, len: u32) -> Vec<u8> {
    let mut v = DRBD_MAGIC_100.to_be_bytes().to_vec();
    v.extend_from_slice(&0u16.to_be_bytes());
    v.extend_from_slice(&cmd.to_be_bytes());
    v.extend_from_slice(&len.to_be_bytes());
    v.extend_from_slice(&0u32.to_be_bytes());
    v
}

/// A P_CONNECTION_FEATURES packet with this version range.
fn features(min: u32, max: u32) -> Vec<u8> {
    let mut v = h80(P_CONNECTION_FEATURES, 72);
    v.extend_from_slice(&min.to_be_bytes());
    v.extend_from_slice(&0u32.to_be_bytes());
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

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: wire-abuse NODE_ADDR:PORT PEER_ADDR:PORT [--rounds N]");
        std::process::exit(2);
    }
    let node: SocketAddr = args[1].parse().expect("node address");
    let peer: SocketAddr = args[2].parse().expect("peer address");
    let rounds: usize = match args.get(3).map(String::as_str) {
        Some("--rounds") => args.get(4).and_then(|n| n.parse().ok()).unwrap_or(24),
        _ => 24,
    };
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        | 1;
    println!("wire-abuse: {rounds} rounds, seed {seed:#x}");

    // The node's own attempts arrive at the peer's address: answer them with abuse too.
    let listener = TcpListener::bind(peer).expect("listen on the peer address");
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
        std::process::exit(1);
    }
}
