//! The PROXY protocol version 2 header (haproxy's `proxy-protocol.txt`,
//! section 2.2): what a full-NAT gateway puts in front of the first bytes
//! it sends to a server so the server learns the terminal's address and
//! port, which translation hides. Tandem adds the mobile session ID as a
//! custom TLV.
//!
//! The header is binary: a 12-byte signature, version/command, family and
//! transport, a length, the addresses, then TLVs. [`ProxyHeader::emit`]
//! writes it; [`ProxyHeader::parse`] reads one back (for tests and tools; a
//! gateway never receives one). Neither allocates.

use super::WireError;
use std::net::IpAddr;

/// The signature every version 2 header starts with.
pub const SIGNATURE: [u8; 12] = [
    0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
];
/// Version 2, command PROXY.
const VERSION_PROXY: u8 = 0x21;
/// Address family and transport: TCP over IPv4 / IPv6.
const TCP4: u8 = 0x11;
const TCP6: u8 = 0x21;
/// Fixed part: signature, version/command, family, length.
const FIXED_LEN: usize = 16;
/// The first of the custom TLV types (`PP2_TYPE_MIN_CUSTOM`); Tandem's
/// session ID is carried under it, 8 bytes, big-endian.
pub const TLV_SESSION_ID: u8 = 0xe0;
const TLV_SESSION_ID_LEN: usize = 3 + 8;

/// What the header says: the terminal's address and port as the gateway
/// received them, the address and port it was going to, and the session ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProxyHeader {
    pub src: IpAddr,
    pub src_port: u16,
    pub dst: IpAddr,
    pub dst_port: u16,
    pub session_id: Option<u64>,
}

impl ProxyHeader {
    /// Bytes [`emit`](Self::emit) writes, or `None` when the two addresses
    /// are of different versions (the header cannot say that: a NAT64
    /// service sends the IPv6 terminal's address with an IPv6 destination).
    pub fn wire_len(&self) -> Option<usize> {
        let addrs = match (self.src, self.dst) {
            (IpAddr::V4(_), IpAddr::V4(_)) => 12,
            (IpAddr::V6(_), IpAddr::V6(_)) => 36,
            _ => return None,
        };
        let tlv = if self.session_id.is_some() {
            TLV_SESSION_ID_LEN
        } else {
            0
        };
        Some(FIXED_LEN + addrs + tlv)
    }

    /// Writes the header at the start of `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        let len = self.wire_len().ok_or(WireError::BadVersion)?;
        let out = buf.get_mut(..len).ok_or(WireError::BufferTooSmall)?;
        out[..12].copy_from_slice(&SIGNATURE);
        out[12] = VERSION_PROXY;
        out[14..16].copy_from_slice(&((len - FIXED_LEN) as u16).to_be_bytes());
        let mut at = FIXED_LEN;
        match (self.src, self.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                out[13] = TCP4;
                out[at..at + 4].copy_from_slice(&s.octets());
                out[at + 4..at + 8].copy_from_slice(&d.octets());
                at += 8;
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                out[13] = TCP6;
                out[at..at + 16].copy_from_slice(&s.octets());
                out[at + 16..at + 32].copy_from_slice(&d.octets());
                at += 32;
            }
            _ => return Err(WireError::BadVersion),
        }
        out[at..at + 2].copy_from_slice(&self.src_port.to_be_bytes());
        out[at + 2..at + 4].copy_from_slice(&self.dst_port.to_be_bytes());
        at += 4;
        if let Some(id) = self.session_id {
            out[at] = TLV_SESSION_ID;
            out[at + 1..at + 3].copy_from_slice(&8u16.to_be_bytes());
            out[at + 3..at + 11].copy_from_slice(&id.to_be_bytes());
        }
        Ok(len)
    }

    /// Reads a header from the start of `buf`; returns it and its length.
    /// TLVs other than the session ID are skipped.
    pub fn parse(buf: &[u8]) -> Result<(ProxyHeader, usize), WireError> {
        let fixed = buf.get(..FIXED_LEN).ok_or(WireError::Truncated)?;
        if fixed[..12] != SIGNATURE || fixed[12] != VERSION_PROXY {
            return Err(WireError::BadVersion);
        }
        let len = FIXED_LEN + usize::from(u16::from_be_bytes([fixed[14], fixed[15]]));
        let body = buf.get(FIXED_LEN..len).ok_or(WireError::Truncated)?;
        let (src, dst, rest) = match fixed[13] {
            TCP4 if body.len() >= 12 => {
                let a = |o: usize| IpAddr::from([body[o], body[o + 1], body[o + 2], body[o + 3]]);
                (a(0), a(4), 8)
            }
            TCP6 if body.len() >= 36 => {
                let a = |o: usize| {
                    let mut b = [0u8; 16];
                    b.copy_from_slice(&body[o..o + 16]);
                    IpAddr::from(b)
                };
                (a(0), a(16), 32)
            }
            TCP4 | TCP6 => return Err(WireError::Truncated),
            _ => return Err(WireError::UnsupportedProtocol),
        };
        let port = |o: usize| u16::from_be_bytes([body[o], body[o + 1]]);
        let mut h = ProxyHeader {
            src,
            src_port: port(rest),
            dst,
            dst_port: port(rest + 2),
            session_id: None,
        };
        let mut tlvs = &body[rest + 4..];
        while tlvs.len() >= 3 {
            let t_len = usize::from(u16::from_be_bytes([tlvs[1], tlvs[2]]));
            let value = tlvs.get(3..3 + t_len).ok_or(WireError::Truncated)?;
            if tlvs[0] == TLV_SESSION_ID && t_len == 8 {
                let mut id = [0u8; 8];
                id.copy_from_slice(value);
                h.session_id = Some(u64::from_be_bytes(id));
            }
            tlvs = &tlvs[3 + t_len..];
        }
        if !tlvs.is_empty() {
            return Err(WireError::Truncated);
        }
        Ok((h, len))
    }
}

/// How a connection's sequence numbers move when the gateway inserts
/// `inserted` bytes (the header) right after the terminal's SYN: the server
/// sees the terminal's bytes `inserted` further on. Terminal → server
/// sequence numbers after the SYN gain `inserted`; server → terminal
/// acknowledgements (and SACK edges) lose it, and an acknowledgement that
/// covers only part of the inserted bytes is reported as acknowledging none
/// of the terminal's data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InsertedBytes {
    /// The terminal's initial sequence number (its SYN's).
    pub client_isn: u32,
    /// Bytes inserted after the SYN.
    pub inserted: u32,
}

impl InsertedBytes {
    /// A terminal → server sequence number as the server must see it.
    #[inline]
    pub fn to_server_seq(&self, seq: u32) -> u32 {
        if seq == self.client_isn {
            seq
        } else {
            seq.wrapping_add(self.inserted)
        }
    }

    /// A server → terminal acknowledgement as the terminal must see it.
    #[inline]
    pub fn to_client_ack(&self, ack: u32) -> u32 {
        let first_data = self.client_isn.wrapping_add(1);
        // How far past the terminal's first byte the server acknowledges.
        let past = ack.wrapping_sub(first_data);
        if past <= self.inserted {
            first_data
        } else if past < 1 << 31 {
            ack.wrapping_sub(self.inserted)
        } else {
            // Before the first byte (the SYN's ack, or garbage): unchanged.
            ack
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn writes_the_ipv4_header_byte_by_byte() {
        let h = ProxyHeader {
            src: IpAddr::V4(Ipv4Addr::new(10, 8, 0, 1)),
            src_port: 40000,
            dst: IpAddr::V4(Ipv4Addr::new(10, 9, 0, 1)),
            dst_port: 80,
            session_id: Some(0x0a08_0001),
        };
        let mut b = [0u8; 64];
        let n = h.emit(&mut b).unwrap();
        assert_eq!(n, 16 + 12 + 11);
        let want: [u8; 39] = [
            0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54,
            0x0a, // signature
            0x21, 0x11, 0x00, 23, // v2 PROXY, TCP4, 12 + 11 bytes follow
            10, 8, 0, 1, 10, 9, 0, 1, // addresses
            0x9c, 0x40, 0x00, 0x50, // ports 40000, 80
            0xe0, 0x00, 0x08, 0, 0, 0, 0, 0x0a, 0x08, 0x00, 0x01, // session ID TLV
        ];
        assert_eq!(&b[..n], &want[..]);
        assert_eq!(ProxyHeader::parse(&b[..n]), Ok((h, n)));
    }

    #[test]
    fn mixed_versions_cannot_be_written() {
        let h = ProxyHeader {
            src: IpAddr::V6(Ipv6Addr::LOCALHOST),
            src_port: 1,
            dst: IpAddr::V4(Ipv4Addr::LOCALHOST),
            dst_port: 2,
            session_id: None,
        };
        assert_eq!(h.wire_len(), None);
        assert_eq!(h.emit(&mut [0u8; 64]), Err(WireError::BadVersion));
    }

    #[test]
    fn a_short_buffer_is_refused_not_overrun() {
        let h = ProxyHeader {
            src: IpAddr::V6(Ipv6Addr::LOCALHOST),
            src_port: 1,
            dst: IpAddr::V6(Ipv6Addr::LOCALHOST),
            dst_port: 2,
            session_id: None,
        };
        assert_eq!(h.wire_len(), Some(52));
        assert_eq!(h.emit(&mut [0u8; 51]), Err(WireError::BufferTooSmall));
    }

    #[test]
    fn an_ack_inside_the_header_acknowledges_no_data() {
        let s = InsertedBytes {
            client_isn: 1000,
            inserted: 39,
        };
        assert_eq!(s.to_client_ack(1001), 1001);
        assert_eq!(s.to_client_ack(1020), 1001);
        assert_eq!(s.to_client_ack(1040), 1001);
        assert_eq!(s.to_client_ack(1041), 1002);
        assert_eq!(s.to_server_seq(1000), 1000);
        assert_eq!(s.to_server_seq(1001), 1040);
    }

    fn addr(v6: bool, bits: u128) -> IpAddr {
        if v6 {
            IpAddr::V6(Ipv6Addr::from(bits))
        } else {
            IpAddr::V4(Ipv4Addr::from(bits as u32))
        }
    }

    proptest! {
        #[test]
        fn any_header_parses_back(v6 in any::<bool>(), s in any::<u128>(), d in any::<u128>(),
                                  sp in any::<u16>(), dp in any::<u16>(), id in any::<Option<u64>>()) {
            let h = ProxyHeader { src: addr(v6, s), src_port: sp, dst: addr(v6, d), dst_port: dp, session_id: id };
            let mut b = [0u8; 80];
            let n = h.emit(&mut b).unwrap();
            prop_assert_eq!(Some(n), h.wire_len());
            prop_assert_eq!(ProxyHeader::parse(&b[..n]), Ok((h, n)));
        }

        #[test]
        fn parse_never_panics(b in proptest::collection::vec(any::<u8>(), 0..80), sig in any::<bool>()) {
            let mut b = b;
            if sig && b.len() >= 16 {
                b[..12].copy_from_slice(&SIGNATURE);
                b[12] = 0x21;
            }
            let _ = ProxyHeader::parse(&b);
        }

        /// Any terminal data byte's sequence number, moved to the server's
        /// space, is acknowledged back as exactly itself.
        #[test]
        fn sequence_shift_round_trips(isn in any::<u32>(), inserted in 1u32..200, off in 1u32..(1 << 30)) {
            let s = InsertedBytes { client_isn: isn, inserted };
            let seq = isn.wrapping_add(off);
            prop_assert_eq!(s.to_client_ack(s.to_server_seq(seq)), seq);
        }
    }
}
