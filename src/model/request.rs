// SPDX-License-Identifier: GPL-2.0
//! The life of a replicated write: which acknowledgement the writer asks for, which the peer
//! owes, and what each one does to the write on the Primary, by replication protocol.
//!
//! - Protocol A: the write is done for the peer once sent; the peer sends no ack.
//! - Protocol B: done on P_RECV_ACK (the peer has the data in memory).
//! - Protocol C: done on P_WRITE_ACK (the peer wrote it); a P_RECV_ACK releases nothing.
//! - P_NEG_ACK, in any protocol: the peer failed to write it; the write is done for the upper
//!   layer, its blocks out of sync with the peer.
//!
//! The epochs the writes are grouped in, and the barrier acks that release them, are in
//! [`crate::wire::tl`]. C counterpart: the RQ_NET_* transitions of __req_mod() (drbd_req.c)
//! and the dp_flags of drbd_send_dblock() / receive_Data().

use crate::wire::packet::{
    DP_SEND_RECEIVE_ACK, DP_SEND_WRITE_ACK, DRBD_PROT_A, DRBD_PROT_B, DRBD_PROT_C, P_NEG_ACK,
    P_RECV_ACK, P_WRITE_ACK,
};

/// The `dp_flags` a P_DATA of `protocol` carries to ask for its ack (protocol 100 and later;
/// before, the peer knows from its own configuration).
pub(crate) fn ack_flags(protocol: u32, agreed_version: u32) -> u32 {
    if agreed_version < 100 {
        return 0;
    }
    match protocol {
        DRBD_PROT_C => DP_SEND_WRITE_ACK,
        DRBD_PROT_B => DP_SEND_RECEIVE_ACK,
        _ => 0,
    }
}

/// The acks a peer write owes its writer: (P_WRITE_ACK once written, P_RECV_ACK at once), from
/// its `dp_flags` (protocol 100 and later) or the connection's protocol (before).
pub(crate) fn acks_owed(dp_flags: u32, protocol: u32, agreed_version: u32) -> (bool, bool) {
    if agreed_version >= 100 {
        (
            dp_flags & DP_SEND_WRITE_ACK != 0,
            dp_flags & DP_SEND_RECEIVE_ACK != 0,
        )
    } else {
        (protocol == DRBD_PROT_C, protocol == DRBD_PROT_B)
    }
}

/// What an event does to a write of ours in the transfer log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Effect {
    /// Nothing yet (a P_RECV_ACK of protocol C; the send of protocol B or C).
    Nothing,
    /// The write is done for the peer: its hold on the upper layer goes, its epoch closes.
    Done,
    /// Done as well, but the peer does not have the data: its blocks are out of sync.
    DoneOutOfSync,
}

/// The event of a write of ours: its send (`None`), or the peer's ack packet `cmd`.
pub(crate) fn on_event(protocol: u32, cmd: Option<u16>) -> Effect {
    match (protocol, cmd) {
        (_, Some(P_NEG_ACK)) => Effect::DoneOutOfSync,
        (DRBD_PROT_A, None) => Effect::Done,
        (DRBD_PROT_C, Some(P_RECV_ACK)) => Effect::Nothing,
        (_, Some(P_RECV_ACK | P_WRITE_ACK)) => Effect::Done,
        _ => Effect::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_completes_a_write_by_protocol() {
        use Effect::*;
        // (protocol, sent, P_RECV_ACK, P_WRITE_ACK, P_NEG_ACK)
        for (p, sent, recv, write) in [
            (DRBD_PROT_A, Done, Done, Done),
            (DRBD_PROT_B, Nothing, Done, Done),
            (DRBD_PROT_C, Nothing, Nothing, Done),
        ] {
            assert_eq!(on_event(p, None), sent);
            assert_eq!(on_event(p, Some(P_RECV_ACK)), recv);
            assert_eq!(on_event(p, Some(P_WRITE_ACK)), write);
            assert_eq!(on_event(p, Some(P_NEG_ACK)), DoneOutOfSync);
        }
    }

    #[test]
    fn ack_flags_and_the_acks_owed_agree() {
        for p in [DRBD_PROT_A, DRBD_PROT_B, DRBD_PROT_C] {
            for apv in [86, 96, 100, 101] {
                let owed = acks_owed(ack_flags(p, apv), p, apv);
                assert_eq!(owed, (p == DRBD_PROT_C, p == DRBD_PROT_B), "{p} {apv}");
            }
        }
        // from 100 on the writer's flags count, not the peer's protocol
        assert_eq!(
            acks_owed(DP_SEND_WRITE_ACK, DRBD_PROT_A, 101),
            (true, false)
        );
        assert_eq!(acks_owed(0, DRBD_PROT_C, 101), (false, false));
    }
}
