//! Reads a frame back layer by layer and verifies each checksum it finds
//! from scratch (not with the incremental code under test).
//!
//! "No checksum found wrong" is the property the targets compare between a
//! frame that went in and the frame that came out: a rewrite may keep a
//! wrong checksum wrong, but must never break a right one.

use dataplane::wire::checksum::{l4_verifies, l4_verifies_v6, udp_v6_verifies, verifies};
use dataplane::wire::{
    EthernetFrame, GtpuPacket, Ipv4Packet, Ipv6Packet, UdpDatagram, ETHERTYPE_IPV4, ETHERTYPE_IPV6,
    GTPU_MSG_G_PDU, GTPU_PORT, PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP, PROTO_UDP, UDP_HEADER_LEN,
};
use std::net::{Ipv4Addr, Ipv6Addr};

/// The verdict on one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checksums {
    /// Not an Ethernet frame with a whole IPv4 or IPv6 packet in it.
    NotIp,
    /// Every checksum present verifies.
    AllValid,
    /// At least one checksum is wrong.
    SomeWrong,
}

/// Verifies the IPv4 header checksum, the TCP/UDP/ICMP checksum of the IPv4
/// payload and, for a GTP-U G-PDU on UDP port 2152, the same for the inner
/// packet. A UDP checksum of 0 ("none") counts as valid over IPv4. An IPv6
/// packet (NAT64's side) has its TCP/UDP/ICMPv6 checksum verified over
/// the IPv6 pseudo header, after its extension headers; over IPv6 a UDP
/// checksum of 0 is wrong (RFC 8200 8.1).
pub fn checksums(frame: &[u8]) -> Checksums {
    let Ok(eth) = EthernetFrame::new_checked(frame) else {
        return Checksums::NotIp;
    };
    let valid = match eth.ethertype() {
        ETHERTYPE_IPV4 => ipv4_valid(eth.payload(), 0),
        ETHERTYPE_IPV6 => ipv6_valid(eth.payload()),
        _ => None,
    };
    match valid {
        None => Checksums::NotIp,
        Some(true) => Checksums::AllValid,
        Some(false) => Checksums::SomeWrong,
    }
}

/// None when `bytes` is not a whole IPv6 packet; else whether its
/// upper-layer checksum verifies (a fragment's, or one behind a chain the
/// walk refuses, cannot be judged: valid).
fn ipv6_valid(bytes: &[u8]) -> Option<bool> {
    let ip = Ipv6Packet::new_checked(bytes).ok()?;
    let Ok(up) = ip.upper_layer() else {
        return Some(true);
    };
    if up.fragment.is_some() {
        return Some(true);
    }
    let l4 = ip.packet().get(up.offset..)?;
    let (src, dst) = (ip.src(), ip.dst());
    Some(match up.protocol {
        PROTO_TCP | PROTO_ICMPV6 => l4_verifies_v6(src, dst, up.protocol, l4),
        PROTO_UDP => udp_v6_verifies(src, dst, l4),
        _ => true,
    })
}

/// None when `bytes` is not a whole IPv4 packet; else whether all its
/// checksums (inner packet included, `depth` tunnels deep) verify.
fn ipv4_valid(bytes: &[u8], depth: u8) -> Option<bool> {
    let ip = Ipv4Packet::new_checked(bytes).ok()?;
    if !ip.verify_checksum() {
        return Some(false);
    }
    if ip.is_fragment() {
        // A fragment's L4 checksum covers bytes that are not all here.
        return Some(true);
    }
    let (src, dst, l4) = (ip.src(), ip.dst(), ip.payload());
    let valid = match ip.protocol() {
        PROTO_TCP => l4_verifies(src, dst, PROTO_TCP, l4),
        PROTO_ICMP => verifies(l4),
        PROTO_UDP => match UdpDatagram::new_checked(l4) {
            Ok(udp) => udp.verify_checksum(src, dst) && inner_valid(&udp, depth).unwrap_or(true),
            // Not a datagram whose checksum can be judged.
            Err(_) => true,
        },
        _ => true,
    };
    Some(valid)
}

/// For a G-PDU, whether the carried packet's checksums verify.
fn inner_valid(udp: &UdpDatagram<&[u8]>, depth: u8) -> Option<bool> {
    if depth > 0 || udp.dst_port() != GTPU_PORT {
        return None;
    }
    let gtp = GtpuPacket::new_checked(udp.payload()).ok()?;
    if gtp.message_type() != GTPU_MSG_G_PDU {
        return None;
    }
    match gtp.payload().first().map(|b| b >> 4) {
        Some(6) => ipv6_valid(gtp.payload()),
        _ => ipv4_valid(gtp.payload(), depth + 1),
    }
}

/// The addressing of a frame's innermost IPv4 packet, with the L2 and
/// tunnel it travels in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Addressing {
    pub vlan: Option<u16>,
    /// The TEID, when the packet is carried in a GTP-U G-PDU.
    pub teid: Option<u32>,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub proto: u8,
    /// TCP/UDP source port, or the ICMP echo identifier.
    pub src_port: u16,
    /// TCP/UDP destination port; 0 for ICMP.
    pub dst_port: u16,
    pub ttl: u8,
    /// Offset of the innermost IPv4 packet in the frame.
    pub ip_offset: usize,
}

/// Reads the addressing of an IPv4 frame, of the packet inside its GTP-U
/// tunnel when `tunnelled` (a plain datagram may use port 2152 too).
pub fn addressing(frame: &[u8], tunnelled: bool) -> Option<Addressing> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != ETHERTYPE_IPV4 {
        return None;
    }
    let outer = Ipv4Packet::new_checked(eth.payload()).ok()?;
    let mut teid = None;
    let mut ip = outer.clone();
    let mut ip_offset = frame.len() - eth.payload().len();
    if tunnelled {
        let (id, start, end) = g_pdu(frame, &eth)?;
        teid = Some(id);
        ip = Ipv4Packet::new_checked(frame.get(start..end)?).ok()?;
        ip_offset = start;
    }
    let l4 = ip.payload();
    let (src_port, dst_port) = match ip.protocol() {
        PROTO_TCP | PROTO_UDP if l4.len() >= 4 => (
            u16::from_be_bytes([l4[0], l4[1]]),
            u16::from_be_bytes([l4[2], l4[3]]),
        ),
        PROTO_ICMP if l4.len() >= 6 => (u16::from_be_bytes([l4[4], l4[5]]), 0),
        _ => return None,
    };
    Some(Addressing {
        vlan: eth.vlan(),
        teid,
        src: ip.src(),
        dst: ip.dst(),
        proto: ip.protocol(),
        src_port,
        dst_port,
        ttl: ip.ttl(),
        ip_offset,
    })
}

/// The TTL of the outer IPv4 header, or the hop limit of the outer IPv6
/// header, if the frame has one.
pub fn outer_ttl(frame: &[u8]) -> Option<u8> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    match eth.ethertype() {
        ETHERTYPE_IPV4 => Some(Ipv4Packet::new_checked_header(eth.payload()).ok()?.ttl()),
        ETHERTYPE_IPV6 => Some(Ipv6Packet::new_checked_header(eth.payload()).ok()?.hop_limit()),
        _ => None,
    }
}

/// The TEID of the G-PDU an IPv4 frame carries (UDP to port 2152) and
/// where in the frame its payload starts and ends.
fn g_pdu(frame: &[u8], eth: &EthernetFrame<&[u8]>) -> Option<(u32, usize, usize)> {
    let outer = Ipv4Packet::new_checked(eth.payload()).ok()?;
    let udp = UdpDatagram::new_checked(outer.payload()).ok()?;
    if outer.protocol() != PROTO_UDP || udp.dst_port() != GTPU_PORT {
        return None;
    }
    let gtp = GtpuPacket::new_checked(udp.payload()).ok()?;
    let start =
        frame.len() - eth.payload().len() + outer.header_len() + UDP_HEADER_LEN + gtp.payload_offset();
    Some((gtp.teid(), start, start + gtp.payload().len()))
}

/// The addressing of a frame's innermost IPv6 packet (NAT64's answers to
/// a terminal), with the L2 and tunnel it travels in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Addressing6 {
    pub vlan: Option<u16>,
    /// The TEID, when the packet is carried in a GTP-U G-PDU over IPv4.
    pub teid: Option<u32>,
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    /// The upper-layer protocol after the extension headers.
    pub proto: u8,
    /// TCP/UDP source port, or the ICMPv6 echo identifier.
    pub src_port: u16,
    /// TCP/UDP destination port; 0 for ICMPv6.
    pub dst_port: u16,
    pub hop_limit: u8,
    /// Offset of the innermost IPv6 packet in the frame.
    pub ip_offset: usize,
    /// Offset of its upper-layer header in the frame.
    pub l4_offset: usize,
}

/// Reads the addressing of an IPv6 frame, of the packet inside its GTP-U
/// tunnel (an IPv4 G-PDU) when `tunnelled`.
pub fn addressing_v6(frame: &[u8], tunnelled: bool) -> Option<Addressing6> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    let mut teid = None;
    let mut ip_offset = frame.len() - eth.payload().len();
    let mut end = frame.len();
    if tunnelled {
        if eth.ethertype() != ETHERTYPE_IPV4 {
            return None;
        }
        let (id, start, stop) = g_pdu(frame, &eth)?;
        (teid, ip_offset, end) = (Some(id), start, stop);
    } else if eth.ethertype() != ETHERTYPE_IPV6 {
        return None;
    }
    let ip = Ipv6Packet::new_checked(frame.get(ip_offset..end)?).ok()?;
    let up = ip.upper_layer().ok()?;
    let l4 = ip.packet().get(up.offset..)?;
    let (src_port, dst_port) = match up.protocol {
        PROTO_TCP | PROTO_UDP if l4.len() >= 4 => (
            u16::from_be_bytes([l4[0], l4[1]]),
            u16::from_be_bytes([l4[2], l4[3]]),
        ),
        PROTO_ICMPV6 if l4.len() >= 6 => (u16::from_be_bytes([l4[4], l4[5]]), 0),
        _ => return None,
    };
    Some(Addressing6 {
        vlan: eth.vlan(),
        teid,
        src: ip.src(),
        dst: ip.dst(),
        proto: up.protocol,
        src_port,
        dst_port,
        hop_limit: ip.hop_limit(),
        ip_offset,
        l4_offset: ip_offset + up.offset,
    })
}
