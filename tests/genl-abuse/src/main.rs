// SPDX-License-Identifier: GPL-2.0
//! genl-abuse: sends the `drbd` generic netlink family malformed, truncated, oversized, unknown
//! and random requests, and a flood, and checks that every one gets an answer (a DRBD reply or a
//! netlink error) with the expected error where one is defined. Runs as root inside a test guest.
//!
//! Usage: genl-abuse [--flood N] [--random N]

use std::io;
use std::mem::size_of;
use std::process::ExitCode;
use std::time::Duration;

const NETLINK_GENERIC: i32 = 16;
const GENL_ID_CTRL: u16 = 0x10;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const MANDATORY: u16 = 1 << 14;
const NESTED: u16 = 1 << 15;

/// drbd_genl.h: command numbers used here.
const GET_STATUS: u8 = 2;
const NEW_MINOR: u8 = 5;
const NEW_RESOURCE: u8 = 7;
const DEL_RESOURCE: u8 = 8;
const CONNECT: u8 = 10;
const PRIMARY: u8 = 14;
const DOWN: u8 = 27;
const CFG_CONTEXT: u16 = 2;
const CTX_VOLUME: u16 = 1;
const CTX_RESOURCE_NAME: u16 = 2;
const CTX_MY_ADDR: u16 = 3;
const CTX_PEER_ADDR: u16 = 4;
const NET_CONF: u16 = 5;
/// `net_conf` fields: `ping_timeo` (tenths of a second, 1..=300) and `ko_count` (0..=200).
const NET_PING_TIMEO: u16 = 10;
const NET_KO_COUNT: u16 = 13;

const EINVAL: i32 = 22;
const EOPNOTSUPP: i32 = 95;

struct Socket {
    fd: i32,
    seq: u32,
}

/// What the kernel answered.
#[derive(Debug, PartialEq)]
enum Answer {
    /// A message of the family: its DRBD `ret_code`.
    Reply(i32),
    /// A netlink error (negative errno) or, for 0, an ACK.
    Error(i32),
}

fn attr(ty: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(payload.len() + 8);
    v.extend_from_slice(&((payload.len() + 4) as u16).to_ne_bytes());
    v.extend_from_slice(&ty.to_ne_bytes());
    v.extend_from_slice(payload);
    while v.len() % 4 != 0 {
        v.push(0);
    }
    v
}

fn ctx(fields: &[Vec<u8>]) -> Vec<u8> {
    attr(CFG_CONTEXT | NESTED, &fields.concat())
}

impl Socket {
    fn open() -> io::Result<Self> {
        // SAFETY: plain socket(2) call.
        let fd = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW, NETLINK_GENERIC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let tv = libc::timeval {
            tv_sec: 5,
            tv_usec: 0,
        };
        // SAFETY: `tv` is a valid timeval for the duration of the call.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                size_of::<libc::timeval>() as u32,
            )
        };
        let big: i32 = 1 << 20;
        // SAFETY: `big` is a valid int for the duration of the call.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&big as *const i32).cast(),
                size_of::<i32>() as u32,
            )
        };
        Ok(Self { fd, seq: 1 })
    }

    /// Sends one message: nlmsghdr, genlmsghdr (cmd, version 1), then `body` as is.
    fn send(&mut self, family: u16, cmd: u8, body: &[u8]) -> io::Result<u32> {
        self.seq += 1;
        let len = 16 + 4 + body.len();
        let mut m = Vec::with_capacity(len);
        m.extend_from_slice(&(len as u32).to_ne_bytes());
        m.extend_from_slice(&family.to_ne_bytes());
        m.extend_from_slice(&(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        m.extend_from_slice(&self.seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(&[cmd, 1, 0, 0]);
        m.extend_from_slice(body);
        // SAFETY: `m` is a valid buffer of `m.len()` bytes; the kernel is the destination
        // (a zeroed sockaddr_nl).
        let n = unsafe {
            let mut sa: libc::sockaddr_nl = std::mem::zeroed();
            sa.nl_family = libc::AF_NETLINK as u16;
            libc::sendto(
                self.fd,
                m.as_ptr().cast(),
                m.len(),
                0,
                (&sa as *const libc::sockaddr_nl).cast(),
                size_of::<libc::sockaddr_nl>() as u32,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(self.seq)
    }

    /// Receives messages until the answer to `seq`: the family's reply (then also its ACK) or an
    /// error. Returns the first answer.
    fn answer(&mut self, seq: u32) -> io::Result<Answer> {
        let mut first = None;
        let mut buf = vec![0u8; 1 << 17];
        loop {
            // SAFETY: `buf` is a valid writable buffer of its length.
            let n = unsafe { libc::recv(self.fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            let mut rest = &buf[..n as usize];
            while rest.len() >= 16 {
                let len = u32::from_ne_bytes(rest[0..4].try_into().unwrap()) as usize;
                let ty = u16::from_ne_bytes(rest[4..6].try_into().unwrap());
                let mseq = u32::from_ne_bytes(rest[8..12].try_into().unwrap());
                if len < 16 || len > rest.len() {
                    return Err(io::Error::other("bad netlink message from the kernel"));
                }
                let msg = &rest[..len];
                rest = rest.get((len + 3) & !3..).unwrap_or(&[]);
                if mseq != seq {
                    continue;
                }
                if ty == NLMSG_ERROR {
                    let err = i32::from_ne_bytes(msg[16..20].try_into().unwrap());
                    return Ok(first.unwrap_or(Answer::Error(err)));
                }
                if msg.len() >= 28 {
                    let ret = i32::from_ne_bytes(msg[24..28].try_into().unwrap());
                    first.get_or_insert(Answer::Reply(ret));
                }
            }
        }
    }

    fn resolve(&mut self, name: &str) -> io::Result<u16> {
        let mut n = name.as_bytes().to_vec();
        n.push(0);
        let seq = self.send(
            GENL_ID_CTRL,
            CTRL_CMD_GETFAMILY,
            &attr(CTRL_ATTR_FAMILY_NAME, &n),
        )?;
        let mut buf = vec![0u8; 1 << 16];
        // SAFETY: `buf` is a valid writable buffer of its length.
        let len = unsafe { libc::recv(self.fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if len < 20 {
            return Err(io::Error::last_os_error());
        }
        let msg = &buf[..len as usize];
        if u32::from_ne_bytes(msg[8..12].try_into().unwrap()) != seq
            || u16::from_ne_bytes(msg[4..6].try_into().unwrap()) == NLMSG_ERROR
        {
            return Err(io::Error::other(format!("family {name} not found")));
        }
        let mut at = 20;
        while at + 4 <= msg.len() {
            let alen = u16::from_ne_bytes(msg[at..at + 2].try_into().unwrap()) as usize;
            let aty = u16::from_ne_bytes(msg[at + 2..at + 4].try_into().unwrap());
            if alen < 4 {
                break;
            }
            if aty == CTRL_ATTR_FAMILY_ID && at + 6 <= msg.len() {
                let id = u16::from_ne_bytes(msg[at + 4..at + 6].try_into().unwrap());
                self.answer(seq).ok(); // drain the ACK
                return Ok(id);
            }
            at += (alen + 3) & !3;
        }
        Err(io::Error::other("no family id"))
    }
}

/// A small deterministic PRNG (xorshift64*), so that failures reproduce.
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

/// drbd_genlmsghdr for minor 0.
fn hdr() -> Vec<u8> {
    vec![0; 8]
}

fn main() -> ExitCode {
    let mut flood = 2000;
    let mut random = 2000;
    let args: Vec<String> = std::env::args().collect();
    for w in args.windows(2) {
        match w[0].as_str() {
            "--flood" => flood = w[1].parse().unwrap_or(flood),
            "--random" => random = w[1].parse().unwrap_or(random),
            _ => {}
        }
    }
    match run(flood, random) {
        Ok(0) => {
            println!("genl-abuse: all answered as expected");
            ExitCode::SUCCESS
        }
        Ok(n) => {
            println!("genl-abuse: {n} unexpected answers");
            ExitCode::FAILURE
        }
        Err(e) => {
            println!("genl-abuse: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(flood: usize, random: usize) -> io::Result<usize> {
    let mut s = Socket::open()?;
    let fam = s.resolve("drbd")?;
    let mut bad = 0;
    let mut check = |s: &mut Socket, name: &str, cmd: u8, body: Vec<u8>, want: Option<Answer>| {
        let got = s.send(fam, cmd, &body).and_then(|seq| s.answer(seq));
        match (&got, &want) {
            (Ok(g), Some(w)) if g == w => println!("ok   {name}: {g:?}"),
            (Ok(g), None) => println!("ok   {name}: {g:?}"),
            _ => {
                println!("FAIL {name}: got {got:?}, want {want:?}");
                bad += 1;
            }
        }
    };
    let name = |n: &[u8]| attr(CTX_RESOURCE_NAME, &[n, b"\0"].concat());

    // headers
    check(
        &mut s,
        "no user header",
        PRIMARY,
        vec![],
        Some(Answer::Error(-EINVAL)),
    );
    check(
        &mut s,
        "half a user header",
        PRIMARY,
        vec![0; 4],
        Some(Answer::Error(-EINVAL)),
    );
    for cmd in [0u8, 1, 3, 4, 34, 39, 41, 42, 100, 255] {
        check(
            &mut s,
            &format!("unknown command {cmd}"),
            cmd,
            hdr(),
            Some(Answer::Error(-EOPNOTSUPP)),
        );
    }
    // top level
    let with = |parts: &[Vec<u8>]| [hdr(), parts.concat()].concat();
    check(
        &mut s,
        "primary, no context",
        PRIMARY,
        hdr(),
        Some(Answer::Reply(127)),
    );
    check(
        &mut s,
        "down r0",
        DOWN,
        with(&[ctx(&[name(b"r0")])]),
        Some(Answer::Reply(158)),
    );
    check(
        &mut s,
        "down without name",
        DOWN,
        with(&[ctx(&[])]),
        Some(Answer::Reply(162)),
    );
    check(
        &mut s,
        "unknown mandatory top-level",
        DOWN,
        with(&[attr(77 | MANDATORY, &[])]),
        Some(Answer::Error(-EOPNOTSUPP)),
    );
    check(
        &mut s,
        "unknown optional top-level",
        DOWN,
        with(&[attr(77, &[1, 2, 3])]),
        Some(Answer::Reply(162)),
    );
    check(
        &mut s,
        "duplicate context",
        DOWN,
        with(&[ctx(&[]), ctx(&[])]),
        Some(Answer::Error(-EINVAL)),
    );
    check(
        &mut s,
        "attribute shorter than its header",
        DOWN,
        with(&[vec![2, 0, 2, 0]]),
        Some(Answer::Error(-EINVAL)),
    );
    check(
        &mut s,
        "attribute longer than the message",
        DOWN,
        with(&[vec![200, 0, 2, 0, 0, 0, 0, 0]]),
        Some(Answer::Error(-EINVAL)),
    );
    check(
        &mut s,
        "trailing bytes",
        DOWN,
        [with(&[ctx(&[])]), vec![1, 2]].concat(),
        Some(Answer::Error(-EINVAL)),
    );
    // inside the context
    check(
        &mut s,
        "name without NUL",
        DOWN,
        with(&[ctx(&[attr(CTX_RESOURCE_NAME, b"r0r0")])]),
        Some(Answer::Error(-EINVAL)),
    );
    check(
        &mut s,
        "name of 200 bytes",
        DOWN,
        with(&[ctx(&[name(&[b'a'; 200])])]),
        Some(Answer::Error(-EINVAL)),
    );
    check(
        &mut s,
        "volume of 2 bytes",
        DOWN,
        with(&[ctx(&[attr(CTX_VOLUME, &[1, 0])])]),
        Some(Answer::Error(-EINVAL)),
    );
    check(
        &mut s,
        "address of 129 bytes",
        DOWN,
        with(&[ctx(&[attr(CTX_MY_ADDR, &[0; 129])])]),
        Some(Answer::Error(-EINVAL)),
    );
    check(
        &mut s,
        "unknown mandatory field",
        DOWN,
        with(&[ctx(&[attr(9 | MANDATORY, &[0; 4])])]),
        Some(Answer::Error(-EOPNOTSUPP)),
    );
    check(
        &mut s,
        "context not a nest",
        DOWN,
        with(&[attr(CFG_CONTEXT, &[1, 2, 3, 4, 5])]),
        Some(Answer::Error(-EINVAL)),
    );
    check(
        &mut s,
        "huge name attribute",
        NEW_RESOURCE,
        with(&[ctx(&[attr(CTX_RESOURCE_NAME, &[b'x'; 60000])])]),
        Some(Answer::Error(-EINVAL)),
    );
    check(
        &mut s,
        "new-minor on unknown resource",
        NEW_MINOR,
        with(&[ctx(&[name(b"nope")])]),
        Some(Answer::Reply(158)),
    );
    check(
        &mut s,
        "get-status of minor 0",
        GET_STATUS,
        hdr(),
        Some(Answer::Reply(127)),
    );

    // options outside drbd_limits.h, which drbdsetup would not send: ERR_MANDATORY_TAG (126),
    // and no connection (a ping timeout of 2^32-1 overflowed the receiver's arithmetic)
    check(
        &mut s,
        "new-resource range",
        NEW_RESOURCE,
        with(&[ctx(&[name(b"range")])]),
        Some(Answer::Reply(101)),
    );
    let sockaddr = |last: u8| {
        let mut a = 2u16.to_ne_bytes().to_vec();
        a.extend_from_slice(&7790u16.to_be_bytes());
        a.extend_from_slice(&[10, 0, 0, last]);
        a.extend_from_slice(&[0; 8]);
        a
    };
    let endpoints = || {
        ctx(&[
            name(b"range"),
            attr(CTX_MY_ADDR, &sockaddr(1)),
            attr(CTX_PEER_ADDR, &sockaddr(2)),
        ])
    };
    for (field, what, value) in [
        (NET_PING_TIMEO, "ping-timeout 2^32-1", u32::MAX),
        (NET_PING_TIMEO, "ping-timeout 0", 0),
        (NET_KO_COUNT, "ko-count 201", 201),
    ] {
        let net = attr(
            NET_CONF | NESTED,
            &attr(field | MANDATORY, &value.to_ne_bytes()),
        );
        check(
            &mut s,
            &format!("connect with {what}"),
            CONNECT,
            with(&[endpoints(), net]),
            Some(Answer::Reply(126)),
        );
    }
    check(
        &mut s,
        "del-resource range: never connected",
        DEL_RESOURCE,
        with(&[ctx(&[name(b"range")])]),
        Some(Answer::Reply(101)),
    );

    // random bodies and commands: any answer will do, but there must be one
    let mut rng = Rng(0x5eed_d8bd);
    for i in 0..random {
        let cmd = (rng.next() % 45) as u8;
        let len = (rng.next() % 256) as usize;
        let body = if i % 2 == 0 {
            [hdr(), rng.bytes(len)].concat()
        } else {
            // plausible structure, random content
            with(&[ctx(&[attr(
                (rng.next() % 6) as u16 | if i % 3 == 0 { MANDATORY } else { 0 },
                &rng.bytes(len % 64),
            )])])
        };
        check(&mut s, &format!("random {i}"), cmd, body, None);
    }

    // flood: send them all, then count the answers
    let body = with(&[ctx(&[name(b"flood")])]);
    let mut seqs = Vec::with_capacity(flood);
    for _ in 0..flood {
        seqs.push(s.send(fam, DOWN, &body)?);
        if seqs.len() % 200 == 0 {
            // keep the socket's receive queue from overflowing: drain what has arrived
            for seq in seqs.drain(..) {
                if s.answer(seq)? != Answer::Reply(158) {
                    bad += 1;
                }
            }
        }
    }
    for seq in seqs {
        if s.answer(seq)? != Answer::Reply(158) {
            bad += 1;
        }
    }
    println!("ok   flood of {flood} down requests answered");
    std::thread::sleep(Duration::from_millis(10));
    Ok(bad)
}
