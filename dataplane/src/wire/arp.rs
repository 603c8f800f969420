//! ARP for IPv4 over Ethernet (RFC 826): how the appliance learns next-hop
//! MACs and answers for its own addresses.

use super::bytes::{read_u16, write_u16};
use super::{MacAddr, WireError, ETHERTYPE_IPV4};
use std::net::Ipv4Addr;

/// Length of an Ethernet/IPv4 ARP packet.
pub const ARP_LEN: usize = 28;

const HTYPE: usize = 0;
const PTYPE: usize = 2;
const HLEN: usize = 4;
const PLEN: usize = 5;
const OPER: usize = 6;
const SHA: usize = 8;
const SPA: usize = 14;
const THA: usize = 18;
const TPA: usize = 24;

const HTYPE_ETHERNET: u16 = 1;

/// The two ARP operations this code speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArpOp {
    Request,
    Reply,
}

impl ArpOp {
    pub const fn code(self) -> u16 {
        match self {
            ArpOp::Request => 1,
            ArpOp::Reply => 2,
        }
    }

    pub const fn from_code(code: u16) -> Option<ArpOp> {
        match code {
            1 => Some(ArpOp::Request),
            2 => Some(ArpOp::Reply),
            _ => None,
        }
    }
}

/// A view of an ARP packet. `new_checked` only checks the length;
/// [`ArpRepr::parse`] checks it is Ethernet/IPv4.
#[derive(Debug, Clone)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        ArpPacket { buffer }
    }

    /// Wraps after checking the 28 bytes are there (padding may follow).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        if buffer.as_ref().len() < ARP_LEN {
            return Err(WireError::Truncated);
        }
        Ok(ArpPacket { buffer })
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    pub fn hardware_type(&self) -> u16 {
        read_u16(self.buffer.as_ref(), HTYPE)
    }

    #[inline]
    pub fn protocol_type(&self) -> u16 {
        read_u16(self.buffer.as_ref(), PTYPE)
    }

    #[inline]
    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[HLEN]
    }

    #[inline]
    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[PLEN]
    }

    /// The raw operation code (1 request, 2 reply).
    #[inline]
    pub fn operation(&self) -> u16 {
        read_u16(self.buffer.as_ref(), OPER)
    }

    #[inline]
    pub fn sender_mac(&self) -> MacAddr {
        self.mac_at(SHA)
    }

    #[inline]
    pub fn sender_ip(&self) -> Ipv4Addr {
        self.ip_at(SPA)
    }

    #[inline]
    pub fn target_mac(&self) -> MacAddr {
        self.mac_at(THA)
    }

    #[inline]
    pub fn target_ip(&self) -> Ipv4Addr {
        self.ip_at(TPA)
    }

    fn mac_at(&self, at: usize) -> MacAddr {
        let mut octets = [0u8; 6];
        octets.copy_from_slice(&self.buffer.as_ref()[at..at + 6]);
        MacAddr(octets)
    }

    fn ip_at(&self, at: usize) -> Ipv4Addr {
        let b = self.buffer.as_ref();
        Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    /// Writes hardware type 1, protocol IPv4, lengths 6 and 4.
    pub fn set_ethernet_ipv4_format(&mut self) {
        let b = self.buffer.as_mut();
        write_u16(b, HTYPE, HTYPE_ETHERNET);
        write_u16(b, PTYPE, ETHERTYPE_IPV4);
        b[HLEN] = 6;
        b[PLEN] = 4;
    }

    #[inline]
    pub fn set_operation(&mut self, code: u16) {
        write_u16(self.buffer.as_mut(), OPER, code);
    }

    #[inline]
    pub fn set_sender_mac(&mut self, mac: MacAddr) {
        self.buffer.as_mut()[SHA..SHA + 6].copy_from_slice(&mac.0);
    }

    #[inline]
    pub fn set_sender_ip(&mut self, ip: Ipv4Addr) {
        self.buffer.as_mut()[SPA..SPA + 4].copy_from_slice(&ip.octets());
    }

    #[inline]
    pub fn set_target_mac(&mut self, mac: MacAddr) {
        self.buffer.as_mut()[THA..THA + 6].copy_from_slice(&mac.0);
    }

    #[inline]
    pub fn set_target_ip(&mut self, ip: Ipv4Addr) {
        self.buffer.as_mut()[TPA..TPA + 4].copy_from_slice(&ip.octets());
    }
}

/// An Ethernet/IPv4 ARP packet as plain values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpRepr {
    pub op: ArpOp,
    pub sender_mac: MacAddr,
    pub sender_ip: Ipv4Addr,
    pub target_mac: MacAddr,
    pub target_ip: Ipv4Addr,
}

impl ArpRepr {
    /// Reads an ARP packet; `BadArp` unless Ethernet/IPv4,
    /// `UnsupportedArpOp` unless request or reply.
    pub fn parse<T: AsRef<[u8]>>(packet: &ArpPacket<T>) -> Result<Self, WireError> {
        if packet.hardware_type() != HTYPE_ETHERNET
            || packet.protocol_type() != ETHERTYPE_IPV4
            || packet.hardware_len() != 6
            || packet.protocol_len() != 4
        {
            return Err(WireError::BadArp);
        }
        let op = ArpOp::from_code(packet.operation()).ok_or(WireError::UnsupportedArpOp)?;
        Ok(ArpRepr {
            op,
            sender_mac: packet.sender_mac(),
            sender_ip: packet.sender_ip(),
            target_mac: packet.target_mac(),
            target_ip: packet.target_ip(),
        })
    }

    /// Writes the 28-byte packet at the start of `buf`; returns 28.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        let mut packet = ArpPacket::new_checked(buf).map_err(|_| WireError::BufferTooSmall)?;
        packet.set_ethernet_ipv4_format();
        packet.set_operation(self.op.code());
        packet.set_sender_mac(self.sender_mac);
        packet.set_sender_ip(self.sender_ip);
        packet.set_target_mac(self.target_mac);
        packet.set_target_ip(self.target_ip);
        Ok(ARP_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testutil::{arb_ipv4, arb_mac};
    use proptest::prelude::*;

    /// Who has 10.0.0.1? Tell 10.0.0.2 (02:00:00:00:00:02).
    const REQUEST: [u8; ARP_LEN] = [
        0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01, // format, request
        0x02, 0, 0, 0, 0, 0x02, 10, 0, 0, 2, // sender
        0, 0, 0, 0, 0, 0, 10, 0, 0, 1, // target
    ];

    #[test]
    fn parses_a_request() {
        let repr = ArpRepr::parse(&ArpPacket::new_checked(&REQUEST[..]).unwrap()).unwrap();
        assert_eq!(
            repr,
            ArpRepr {
                op: ArpOp::Request,
                sender_mac: MacAddr([2, 0, 0, 0, 0, 2]),
                sender_ip: Ipv4Addr::new(10, 0, 0, 2),
                target_mac: MacAddr::ZERO,
                target_ip: Ipv4Addr::new(10, 0, 0, 1),
            }
        );
    }

    #[test]
    fn rejects_truncated_and_foreign_formats() {
        for len in 0..ARP_LEN {
            assert_eq!(
                ArpPacket::new_checked(&REQUEST[..len]).unwrap_err(),
                WireError::Truncated
            );
        }
        for (at, value) in [(1, 6), (2, 0x86), (4, 8), (5, 16)] {
            let mut bytes = REQUEST;
            bytes[at] = value;
            let packet = ArpPacket::new_checked(&bytes[..]).unwrap();
            assert_eq!(ArpRepr::parse(&packet), Err(WireError::BadArp), "byte {at}");
        }
        let mut bytes = REQUEST;
        bytes[7] = 3; // RARP request
        let packet = ArpPacket::new_checked(&bytes[..]).unwrap();
        assert_eq!(ArpRepr::parse(&packet), Err(WireError::UnsupportedArpOp));
    }

    #[test]
    fn emit_refuses_a_short_buffer() {
        let repr = ArpRepr::parse(&ArpPacket::new_checked(&REQUEST[..]).unwrap()).unwrap();
        assert_eq!(repr.emit(&mut [0; 27]), Err(WireError::BufferTooSmall));
        let mut out = [0u8; 28];
        assert_eq!(repr.emit(&mut out), Ok(28));
        assert_eq!(out, REQUEST);
    }

    proptest! {
        #[test]
        fn emit_then_parse_round_trips(
            reply in any::<bool>(),
            sender_mac in arb_mac(),
            sender_ip in arb_ipv4(),
            target_mac in arb_mac(),
            target_ip in arb_ipv4(),
        ) {
            let op = if reply { ArpOp::Reply } else { ArpOp::Request };
            let repr = ArpRepr { op, sender_mac, sender_ip, target_mac, target_ip };
            let mut buf = [0u8; 60];
            prop_assert_eq!(repr.emit(&mut buf), Ok(ARP_LEN));
            let parsed = ArpRepr::parse(&ArpPacket::new_checked(&buf[..]).unwrap());
            prop_assert_eq!(parsed, Ok(repr));
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            match ArpPacket::new_checked(&bytes[..]) {
                Ok(packet) => { let _ = ArpRepr::parse(&packet); }
                Err(err) => prop_assert_eq!(err, WireError::Truncated),
            }
        }
    }
}
