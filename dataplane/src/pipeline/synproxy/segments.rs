//! The handshake segments the SYN proxy writes itself: the cookie SYN-ACK
//! to the terminal, the SYN and the final ACK to the server. Each is a
//! whole new frame (Ethernet header with MACs left for the sender to set,
//! IPv4, TCP with at most an MSS option), checksummed from scratch: these
//! are the rare packets, the per-segment work is in `splice`.

use crate::wire::checksum::{checksum, l4_checksum};
use crate::wire::{ETHERNET_HEADER_LEN, ETHERTYPE_IPV4, PROTO_TCP};
use std::net::Ipv4Addr;

/// Length of the longest segment written here (TCP header with MSS).
pub const MAX_LEN: usize = ETHERNET_HEADER_LEN + 20 + 24;

pub const FLAG_SYN: u8 = 0x02;
pub const FLAG_ACK: u8 = 0x10;

/// The window the proxy announces in the segments it writes: no window
/// scaling is negotiated on either side, so it is a plain 16-bit window;
/// the real one of each end follows in its next segment.
pub const WINDOW: u16 = 64_240;

/// One handshake segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    /// The only option ever written (SACK, timestamps and window scaling
    /// are never offered, so neither end uses them).
    pub mss: Option<u16>,
    /// IPv4 TOS byte, copied from the segment that caused this one.
    pub tos: u8,
}

/// Writes `s` as a frame into `out`; returns its length.
pub fn write(s: &Segment, out: &mut [u8; MAX_LEN]) -> usize {
    let tcp_len = if s.mss.is_some() { 24 } else { 20 };
    let len = ETHERNET_HEADER_LEN + 20 + tcp_len;
    out.fill(0);
    out[12..14].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
    let ip = &mut out[ETHERNET_HEADER_LEN..len];
    ip[0] = 0x45;
    ip[1] = s.tos;
    ip[2..4].copy_from_slice(&((20 + tcp_len) as u16).to_be_bytes());
    ip[6] = 0x40; // DF
    ip[8] = 64;
    ip[9] = PROTO_TCP;
    ip[12..16].copy_from_slice(&s.src.octets());
    ip[16..20].copy_from_slice(&s.dst.octets());
    let c = checksum(&ip[..20]);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let tcp = &mut ip[20..];
    tcp[0..2].copy_from_slice(&s.src_port.to_be_bytes());
    tcp[2..4].copy_from_slice(&s.dst_port.to_be_bytes());
    tcp[4..8].copy_from_slice(&s.seq.to_be_bytes());
    tcp[8..12].copy_from_slice(&s.ack.to_be_bytes());
    tcp[12] = ((tcp_len / 4) as u8) << 4;
    tcp[13] = s.flags;
    tcp[14..16].copy_from_slice(&s.window.to_be_bytes());
    if let Some(mss) = s.mss {
        tcp[20] = 2;
        tcp[21] = 4;
        tcp[22..24].copy_from_slice(&mss.to_be_bytes());
    }
    let c = l4_checksum(s.src, s.dst, PROTO_TCP, tcp);
    tcp[16..18].copy_from_slice(&c.to_be_bytes());
    len
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::checksum::l4_verifies;

    #[test]
    fn written_segment_parses_back_with_valid_checksums() {
        let s = Segment {
            src: Ipv4Addr::new(10, 9, 0, 1),
            dst: Ipv4Addr::new(10, 8, 0, 100),
            src_port: 80,
            dst_port: 40000,
            seq: 0xdead_beef,
            ack: 1001,
            flags: FLAG_SYN | FLAG_ACK,
            window: WINDOW,
            mss: Some(1440),
            tos: 0x10,
        };
        let mut out = [0u8; MAX_LEN];
        let n = write(&s, &mut out);
        assert_eq!(n, MAX_LEN);
        let ip = &out[14..n];
        assert_eq!(checksum(&ip[..20]), 0);
        assert!(l4_verifies(s.src, s.dst, PROTO_TCP, &ip[20..]));
        assert_eq!(crate::wire::tcp_options::mss(&ip[20..]), Some(1440));
        let n = write(&Segment { mss: None, ..s }, &mut out);
        assert_eq!(n, MAX_LEN - 4);
        assert_eq!(crate::wire::tcp_options::mss(&out[34..n]), None);
    }
}
