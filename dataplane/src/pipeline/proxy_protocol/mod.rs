//! The terminal's address for servers behind full NAT (issue 15 item 5): a
//! PROXY protocol v2 header (`wire::proxy_v2`) in front of the bytes a
//! terminal sends on each TCP user session of a service with
//! `proxy_protocol: V2`.
//!
//! The header (39 bytes: the terminal's address and port, the VIP and
//! port it addressed, and the session ID as TLV 0xE0) occupies the
//! server's sequence numbers `client ISN + 1 ..= client ISN + 39`, so:
//!
//! - **Placement.** It rides on the first terminal segment after the SYN,
//!   which on Linux and every common stack is the ACK that completes the
//!   handshake: the header travels in its own segment, the request after
//!   it is not delayed or enlarged, and a server that speaks first (SMTP,
//!   SSH) gets it before it answers.
//! - **Re-sending.** Until the server has acknowledged the whole header,
//!   the header goes again in front of a terminal segment that starts at
//!   the terminal's first byte (`ISN + 1`) and is either empty (a repeated
//!   handshake ACK, answering a repeated SYN-ACK when the first was lost)
//!   or a retransmission of the first data (the segment at `ISN + 1` with
//!   data seen a second time). The first transmission of the first data
//!   goes shifted, right after the header: if the header was lost, the
//!   server holds that data out of order until the retransmission fills
//!   the gap. A server that already has the header drops a repeated one
//!   as a duplicate.
//! - **MTU.** A segment that carries the header grows by 39 bytes, so the
//!   MSS the server's SYN-ACK announces to the terminal is lowered by 39
//!   (with the port's `mss_clamp`, if any, applied after).
//! - **Shifting.** Every other terminal segment after the SYN has its
//!   sequence number raised by 39; every server segment has its
//!   acknowledgement (and SACK edges) lowered by 39, an acknowledgement
//!   inside the header meaning none of the terminal's data
//!   (`wire::proxy_v2::InsertedBytes`). Window tracking sees the terminal's
//!   numbers. Each rewrite updates the checksums incrementally: the
//!   insertion sums the TCP header, never the payload
//!   ([`segment::insert`]).
//!
//! The SYN proxy answers handshakes itself and holds the terminal's first
//! segments, so a service cannot have both (config refuses it).
//!
//! State: one 8-byte slot per user-session slab index (the terminal's ISN,
//! how far the header has got), allocated with the table like the SYN
//! proxy's, and two flag bits in the user session (`PROXY_V2`, and
//! `PROXY_V2_ACKED` once the server has acknowledged the header);
//! `UserSession` stays 128 bytes. The established path (header
//! acknowledged) reads only the flags: a shift costs no extra memory
//! access. `PROXY_V2` is set when the user session is created, from the service that serves it:
//! a reload that changes `proxy_protocol` applies to new connections.

pub(super) mod segment;

#[cfg(test)]
mod tests;

use super::parse::L4Info;
use super::Worker;
use crate::counters::DropReason;
use crate::frame::Frame;
use crate::tier2::user_sessions::SessionFlags;
use crate::tier2::{TcpFlags, UserSession};
use crate::wire::proxy_v2::{InsertedBytes, ProxyHeader};
use crate::wire::{ETHERNET_HEADER_LEN, PROTO_TCP};
use std::net::IpAddr;

const IP: usize = ETHERNET_HEADER_LEN;

/// Bytes of the header Tandem sends: IPv4 addresses and the session ID
/// TLV (16 fixed + 12 addresses and ports + 11 TLV).
pub const HEADER_LEN: u32 = 39;

/// What the proxy keeps for one user session of a PROXY service until the
/// server has acknowledged the header (then the session's
/// `PROXY_V2_ACKED` flag says all, and the slot is not read again).
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    /// The sequence number of the terminal's SYN.
    client_isn: u32,
    /// `SENT`, `FIRST_DATA`.
    progress: u8,
}

/// The header has been sent at least once.
const SENT: u8 = 1;
/// A segment with data at the terminal's first byte has gone out.
const FIRST_DATA: u8 = 2;

/// One worker's PROXY protocol state: a slot per user-session slab index.
#[derive(Debug)]
pub(super) struct ProxyV2 {
    slots: Box<[Slot]>,
}

/// What a terminal segment of a PROXY user session needs on its way out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Upstream {
    /// Unchanged (the SYN, and anything at the SYN's sequence number).
    AsIs,
    /// Sequence number raised by the header length.
    Shift,
    /// The header goes in front of its payload (it starts at the
    /// terminal's first byte and the server has not acknowledged the
    /// header).
    Insert,
}

impl ProxyV2 {
    pub(super) fn new(capacity: u32) -> ProxyV2 {
        ProxyV2 {
            slots: vec![Slot::default(); capacity as usize].into_boxed_slice(),
        }
    }

    /// Bytes [`new`](ProxyV2::new) allocates for `capacity` user sessions.
    pub(super) fn preallocated_bytes(capacity: u32) -> u64 {
        u64::from(capacity) * std::mem::size_of::<Slot>() as u64
    }

    /// A new PROXY user session at slab index `idx`, opened by a SYN with
    /// sequence number `client_isn`.
    pub(super) fn open(&mut self, idx: u32, client_isn: u32) {
        if let Some(s) = self.slots.get_mut(idx as usize) {
            *s = Slot {
                client_isn,
                progress: 0,
            };
        }
    }

    /// A terminal segment of PROXY session `idx`, with its own sequence
    /// number and payload length.
    #[inline]
    pub(super) fn client_segment(
        &mut self,
        idx: u32,
        flags: TcpFlags,
        seq: u32,
        payload: u32,
    ) -> Upstream {
        let Some(s) = self.slots.get_mut(idx as usize) else {
            return Upstream::AsIs;
        };
        if flags.syn() && !flags.ack() {
            // A SYN again (retransmitted, or the 4-tuple reopened): the
            // header goes ahead of this connection's first byte.
            *s = Slot {
                client_isn: seq,
                progress: 0,
            };
            return Upstream::AsIs;
        }
        if seq == s.client_isn {
            return Upstream::AsIs;
        }
        if flags.rst() || seq != s.client_isn.wrapping_add(1) {
            return Upstream::Shift;
        }
        let before = s.progress;
        s.progress |= SENT;
        if payload == 0 {
            return Upstream::Insert;
        }
        s.progress |= FIRST_DATA;
        if before == SENT {
            // The first data, after the header went on its own: shifted.
            Upstream::Shift
        } else {
            // The header has not gone yet, or this is the first data again.
            Upstream::Insert
        }
    }

    /// A server segment of PROXY session `idx`, whose header is not known
    /// to be acknowledged, with acknowledgement number `ack` (server
    /// space): how to move its numbers back, and whether it acknowledges
    /// the whole header.
    #[inline]
    pub(super) fn server_segment(&self, idx: u32, flags: TcpFlags, ack: u32) -> (Downstream, bool) {
        let Some(s) = self.slots.get(idx as usize) else {
            return (Downstream::Acked, false);
        };
        let past = ack.wrapping_sub(s.client_isn.wrapping_add(1));
        let acked = flags.ack() && (HEADER_LEN..1 << 31).contains(&past);
        let shift = InsertedBytes {
            client_isn: s.client_isn,
            inserted: HEADER_LEN,
        };
        (Downstream::Early(shift), acked)
    }
}

impl ProxyV2 {
    /// The sequence number of a TCP header quoted in an ICMP error from the
    /// server side (`tcp`: its first 8 bytes at least; the ICMP checksum
    /// is recomputed by the caller) moved back into the terminal's
    /// numbers: a segment that carried the header starts at the terminal's
    /// first byte as it is, any other lost the header's length.
    pub(super) fn quoted_to_client(&self, idx: u32, tcp: &mut [u8]) {
        let (Some(s), Some(q)) = (self.slots.get(idx as usize), tcp.get_mut(4..8)) else {
            return;
        };
        let seq = u32::from_be_bytes([q[0], q[1], q[2], q[3]]);
        let first = s.client_isn.wrapping_add(1);
        if seq != s.client_isn && seq != first {
            q.copy_from_slice(&seq.wrapping_sub(HEADER_LEN).to_be_bytes());
        }
    }
}

/// How a server segment's acknowledgement moves back to the terminal's
/// numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Downstream {
    /// The header may not all be acknowledged yet: an acknowledgement
    /// inside it means no data.
    Early(InsertedBytes),
    /// The server has the header: every acknowledgement loses its length.
    Acked,
}

impl Downstream {
    /// A server acknowledgement as the terminal must see it.
    #[inline]
    pub(super) fn client_ack(self, ack: u32) -> u32 {
        match self {
            Downstream::Early(s) => s.to_client_ack(ack),
            Downstream::Acked => ack.wrapping_sub(HEADER_LEN),
        }
    }
}

/// The header for user session `e`: the terminal's address and port as it
/// sent them, the VIP and port it addressed, its session ID.
fn header_of(e: &UserSession) -> [u8; HEADER_LEN as usize] {
    let h = ProxyHeader {
        src: IpAddr::V4(e.client_ip),
        src_port: e.client_port,
        dst: IpAddr::V4(e.orig_dst_ip),
        dst_port: e.orig_dst_port,
        session_id: Some(e.session_id),
    };
    let mut out = [0u8; HEADER_LEN as usize];
    // IPv4 to IPv4 into a buffer of exactly its length: cannot fail.
    let _ = h.emit(&mut out);
    out
}

impl Worker {
    /// Terminal → server, before translation: inserts the
    /// header or shifts the sequence number of PROXY session `idx`'s
    /// segment; `flags`: the session's `PROXY_V2` and `PROXY_V2_ACKED`
    /// bits. `Err`: the frame has no room for the header
    /// (`proxy_no_room`). Out of line: a session without the option pays
    /// only its caller's flag test.
    #[inline(never)]
    pub(super) fn proxy_to_server<F: Frame>(
        &mut self,
        f: &mut F,
        idx: u32,
        l4: &L4Info,
        flags: u16,
    ) -> Result<(), DropReason> {
        if l4.proto != PROTO_TCP {
            return Ok(());
        }
        let tcp = IP + l4.ihl();
        let acked = SessionFlags::PROXY_V2.0 | SessionFlags::PROXY_V2_ACKED.0;
        if flags == acked && !l4.flags.syn() {
            // Established: only the shift, no slot read.
            if let Some(t) = f.bytes_mut().get_mut(tcp..) {
                segment::shift_to_server(t, HEADER_LEN);
            }
            return Ok(());
        }
        if l4.flags.syn() && !l4.flags.ack() {
            if let Some(e) = self.gw.table.get_mut(idx) {
                e.flags.remove(SessionFlags::PROXY_V2_ACKED);
            }
        }
        match self
            .gw
            .proxy
            .client_segment(idx, l4.flags, l4.seg.seq, l4.seg.payload)
        {
            Upstream::AsIs => Ok(()),
            Upstream::Shift => {
                if let Some(t) = f.bytes_mut().get_mut(tcp..) {
                    segment::shift_to_server(t, HEADER_LEN);
                }
                Ok(())
            }
            Upstream::Insert => {
                let Some(e) = self.gw.table.get(idx) else {
                    return Err(DropReason::NoUserSession);
                };
                let header = header_of(e);
                if !segment::insert(f, IP, &header) {
                    return Err(DropReason::ProxyNoRoom);
                }
                self.counters.proxy_headers_inserted.inc();
                Ok(())
            }
        }
    }
}
