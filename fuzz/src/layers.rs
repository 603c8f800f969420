//! Reads a frame back layer by layer and verifies each checksum it finds
//! from scratch (not with the incremental code under test).
//!
//! "No checksum found wrong" is the property the targets compare between a
//! frame that went in and the frame that came out: a rewrite may keep a
//! wrong checksum wrong, but must never break a right one.

use dataplane::wire::checksum::{l4_verifies, verifies};
use dataplane::wire::{
    EthernetFrame, GtpuPacket, Ipv4Packet, UdpDatagram, ETHERTYPE_IPV4, GTPU_MSG_G_PDU, GTPU_PORT,
    PROTO_ICMP, PROTO_TCP, PROTO_UDP, UDP_HEADER_LEN,
};
use std::net::Ipv4Addr;

/// The verdict on one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checksums {
    /// Not an Ethernet frame with a whole IPv4 packet in it.
    NotIpv4,
    /// Every checksum present verifies.
    AllValid,
    /// At least one checksum is wrong.
    SomeWrong,
}

/// Verifies the IPv4 header checksum, the TCP/UDP/ICMP checksum of the IPv4
/// payload and, for a GTP-U G-PDU on UDP port 2152, the same for the inner
/// packet. A UDP checksum of 0 ("none") counts as valid.
pub fn checksums(frame: &[u8]) -> Checksums {
    let Ok(eth) = EthernetFrame::new_checked(frame) else {
        return Checksums::NotIpv4;
    };
    if eth.ethertype() != ETHERTYPE_IPV4 {
        return Checksums::NotIpv4;
    }
    match ipv4_valid(eth.payload(), 0) {
        None => Checksums::NotIpv4,
        Some(true) => Checksums::AllValid,
        Some(false) => Checksums::SomeWrong,
    }
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
    ipv4_valid(gtp.payload(), depth + 1)
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
        let udp = UdpDatagram::new_checked(outer.payload()).ok()?;
        if outer.protocol() != PROTO_UDP || udp.dst_port() != GTPU_PORT {
            return None;
        }
        let gtp = GtpuPacket::new_checked(udp.payload()).ok()?;
        teid = Some(gtp.teid());
        let start = frame.len() - eth.payload().len()
            + outer.header_len()
            + UDP_HEADER_LEN
            + gtp.payload_offset();
        let end = start + gtp.payload().len();
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

/// The TTL of the outer IPv4 header, if the frame has one.
pub fn outer_ttl(frame: &[u8]) -> Option<u8> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != ETHERTYPE_IPV4 {
        return None;
    }
    Some(Ipv4Packet::new_checked_header(eth.payload()).ok()?.ttl())
}
