//! The PROXY protocol's rewrites of one TCP segment, on bytes: inserting
//! the header in front of the payload, and moving sequence numbers,
//! acknowledgements and SACK edges by its length. Checksums are updated
//! incrementally; nothing here reads the payload.

use crate::frame::Frame;
use crate::pipeline::synproxy::splice::{map_ack, map_seq};
use crate::wire::checksum::{add, pseudo_header_sum, sum, update16};
use crate::wire::tcp_options::{clamp_mss, mss, shift_sack};
use crate::wire::PROTO_TCP;
use std::net::Ipv4Addr;

#[inline]
fn rd16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Inserts `header` between the TCP header and the payload of the IPv4
/// packet at `ip` in `f` (which ends where the packet ends), growing the
/// frame at its tail; false, with the frame unchanged, when it has no
/// tailroom for it or is not a whole TCP segment.
///
/// The TCP checksum is recomputed from the headers alone: the old
/// checksum gives the payload's sum (total − pseudo header − TCP header),
/// and after an odd-length header the payload's words are byte-swapped,
/// whose one's-complement sum is the old sum byte-swapped (RFC 1071
/// 2(B)).
pub fn insert<F: Frame>(f: &mut F, ip: usize, header: &[u8]) -> bool {
    let n = header.len();
    let (ihl, total, tcp, payload) = {
        let b = f.bytes();
        let Some(&vihl) = b.get(ip) else {
            return false;
        };
        let ihl = usize::from(vihl & 0x0f) * 4;
        let total = match b.get(ip + 2..ip + 4) {
            Some(t) => usize::from(u16::from_be_bytes([t[0], t[1]])),
            None => return false,
        };
        let tcp = ip + ihl;
        let doff = b.get(tcp + 12).map_or(0, |o| usize::from(o >> 4) * 4);
        if ihl < 20 || doff < 20 || tcp + doff > ip + total || ip + total != b.len() {
            return false;
        }
        if total + n > usize::from(u16::MAX) {
            return false;
        }
        (ihl, total, tcp, tcp + doff)
    };
    let end = ip + total;
    if !f.append(n) {
        return false;
    }
    let b = f.bytes_mut();
    let src = Ipv4Addr::new(b[ip + 12], b[ip + 13], b[ip + 14], b[ip + 15]);
    let dst = Ipv4Addr::new(b[ip + 16], b[ip + 17], b[ip + 18], b[ip + 19]);
    let old_l4 = total - ihl;
    // The payload's sum, from what the checksum says of the whole segment.
    let header_sum = add(sum(&b[tcp..tcp + 16]), sum(&b[tcp + 18..payload]));
    let stored = rd16(b, tcp + 16);
    let known = add(
        add(pseudo_header_sum(src, dst, PROTO_TCP, old_l4), header_sum),
        stored,
    );
    let payload_sum = !known;
    b.copy_within(payload..end, payload + n);
    b[payload..payload + n].copy_from_slice(header);
    let mut moved = payload_sum;
    if n % 2 == 1 {
        moved = moved.rotate_left(8);
    }
    let mut s = add(
        add(
            pseudo_header_sum(src, dst, PROTO_TCP, old_l4 + n),
            header_sum,
        ),
        add(sum(header), moved),
    );
    if s == 0 {
        // One's-complement zero as a from-scratch sum writes it.
        s = 0xffff;
    }
    b[tcp + 16..tcp + 18].copy_from_slice(&(!s).to_be_bytes());
    // IPv4 total length, and its header checksum.
    let new_total = (total + n) as u16;
    let c = update16(rd16(b, ip + 10), total as u16, new_total);
    b[ip + 2..ip + 4].copy_from_slice(&new_total.to_be_bytes());
    b[ip + 10..ip + 12].copy_from_slice(&c.to_be_bytes());
    true
}

/// Terminal → server: the sequence number gains `inserted`.
#[inline]
pub fn shift_to_server(tcp: &mut [u8], inserted: u32) {
    map_seq(tcp, |s| s.wrapping_add(inserted));
}

/// Server → terminal: the acknowledgement becomes `client_ack(ack)` and
/// SACK edges lose the `inserted` bytes; a SYN-ACK's MSS is lowered by
/// them so that a full-size segment with the header still fits the path.
#[inline]
pub fn to_client(tcp: &mut [u8], client_ack: impl FnOnce(u32) -> u32, inserted: u32) {
    map_ack(tcp, client_ack);
    let options = tcp.get(12).is_some_and(|o| o >> 4 > 5);
    if options {
        shift_sack(tcp, 0u32.wrapping_sub(inserted));
        let syn = tcp.get(13).is_some_and(|f| f & 0x02 != 0);
        if syn {
            if let Some(m) = mss(tcp) {
                clamp_mss(tcp, m.saturating_sub(inserted as u16));
            }
        }
    }
}
