//! Whole frames built from a few values, every checksum right: for tests,
//! the pcap generator, health probes and the control plane's own packets.
//!
//! Each `write_*` fills a caller's buffer and returns the frame length
//! (`BufferTooSmall` if it does not fit); each plain-named function returns
//! a `Vec<u8>` of exactly the frame. Neither is meant for the per-packet
//! fast path (see `replies` for that). Frames are not padded to the
//! Ethernet minimum; NICs do that on transmit.

use super::{
    ArpRepr, EthernetRepr, GtpuRepr, IcmpRepr, Ipv4Repr, MacAddr, TcpFlags, TcpRepr, UdpRepr,
    WireError, ETHERTYPE_ARP, ETHERTYPE_IPV4, GTPU_HEADER_LEN, ICMP_HEADER_LEN, IPV4_HEADER_LEN,
    PROTO_ICMP, PROTO_TCP, PROTO_UDP, TCP_HEADER_LEN, UDP_HEADER_LEN,
};
use super::{ARP_LEN, DEFAULT_TTL};
use std::net::Ipv4Addr;

/// Addresses and ports of a frame to build. Ports are ignored by ICMP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameSpec {
    pub src_mac: MacAddr,
    pub dst_mac: MacAddr,
    /// VLAN ID of an 802.1Q tag, or untagged.
    pub vlan: Option<u16>,
    pub src_ip: Ipv4Addr,
    pub dst_ip: Ipv4Addr,
    pub src_port: u16,
    pub dst_port: u16,
    pub ttl: u8,
}

impl Default for FrameSpec {
    fn default() -> Self {
        FrameSpec {
            src_mac: MacAddr::ZERO,
            dst_mac: MacAddr::ZERO,
            vlan: None,
            src_ip: Ipv4Addr::UNSPECIFIED,
            dst_ip: Ipv4Addr::UNSPECIFIED,
            src_port: 0,
            dst_port: 0,
            ttl: DEFAULT_TTL,
        }
    }
}

impl FrameSpec {
    fn ethernet(&self, ethertype: u16) -> EthernetRepr {
        EthernetRepr {
            dst: self.dst_mac,
            src: self.src_mac,
            vlan: self.vlan,
            ethertype,
        }
    }

    fn ipv4(&self, protocol: u8, payload_len: usize) -> Ipv4Repr {
        Ipv4Repr {
            ttl: self.ttl,
            ..Ipv4Repr::new(self.src_ip, self.dst_ip, protocol, payload_len)
        }
    }

    /// Ethernet header length: 14, or 18 with a tag.
    pub fn l2_len(&self) -> usize {
        self.ethernet(ETHERTYPE_IPV4).header_len()
    }
}

/// Writes Ethernet + IPv4 headers for an L4 message of `l4_len` bytes;
/// returns the L4 offset. Checks the whole frame fits in `out`.
fn write_l2_l3(
    spec: &FrameSpec,
    protocol: u8,
    l4_len: usize,
    out: &mut [u8],
) -> Result<usize, WireError> {
    let eth = spec.ethernet(ETHERTYPE_IPV4);
    let ip = spec.ipv4(protocol, l4_len);
    if ip.total_len() > usize::from(u16::MAX) {
        return Err(WireError::BadTotalLength);
    }
    if out.len() < eth.header_len() + ip.total_len() {
        return Err(WireError::BufferTooSmall);
    }
    let l3 = eth.emit(out)?;
    let l4 = l3 + ip.emit(&mut out[l3..])?;
    Ok(l4)
}

/// Runs a `write_*` into a vector of exactly `len` bytes.
fn collect(
    len: usize,
    write: impl FnOnce(&mut [u8]) -> Result<usize, WireError>,
) -> Result<Vec<u8>, WireError> {
    let mut frame = vec![0u8; len];
    let written = write(&mut frame)?;
    frame.truncate(written);
    Ok(frame)
}

/// Ethernet/IPv4/UDP frame carrying `payload`.
pub fn write_udp_frame(
    spec: &FrameSpec,
    payload: &[u8],
    out: &mut [u8],
) -> Result<usize, WireError> {
    let l4_len = UDP_HEADER_LEN + payload.len();
    let l4 = write_l2_l3(spec, PROTO_UDP, l4_len, out)?;
    let end = l4 + l4_len;
    out[l4 + UDP_HEADER_LEN..end].copy_from_slice(payload);
    let udp = UdpRepr {
        src_port: spec.src_port,
        dst_port: spec.dst_port,
        payload_len: payload.len(),
    };
    udp.emit(&mut out[l4..end], spec.src_ip, spec.dst_ip)?;
    Ok(end)
}

pub fn udp_frame(spec: &FrameSpec, payload: &[u8]) -> Result<Vec<u8>, WireError> {
    let len = spec.l2_len() + IPV4_HEADER_LEN + UDP_HEADER_LEN + payload.len();
    collect(len, |out| write_udp_frame(spec, payload, out))
}

/// Ethernet/IPv4/TCP frame (no TCP options) carrying `payload`.
pub fn write_tcp_frame(
    spec: &FrameSpec,
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    window: u16,
    payload: &[u8],
    out: &mut [u8],
) -> Result<usize, WireError> {
    let l4_len = TCP_HEADER_LEN + payload.len();
    let l4 = write_l2_l3(spec, PROTO_TCP, l4_len, out)?;
    let end = l4 + l4_len;
    out[l4 + TCP_HEADER_LEN..end].copy_from_slice(payload);
    let tcp = TcpRepr {
        src_port: spec.src_port,
        dst_port: spec.dst_port,
        seq,
        ack,
        flags,
        window,
    };
    tcp.emit(&mut out[l4..end], spec.src_ip, spec.dst_ip)?;
    Ok(end)
}

/// Addresses and ports of an IPv6 frame to build (untagged, hop limit
/// 64).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameSpecV6 {
    pub src_mac: MacAddr,
    pub dst_mac: MacAddr,
    pub src_ip: std::net::Ipv6Addr,
    pub dst_ip: std::net::Ipv6Addr,
    pub src_port: u16,
    pub dst_port: u16,
}

/// Ethernet/IPv6/TCP frame (no options, no payload): what the control
/// plane's health probes send to IPv6 servers.
pub fn tcp_frame_v6(
    spec: &FrameSpecV6,
    seq: u32,
    flags: TcpFlags,
    window: u16,
) -> Result<Vec<u8>, WireError> {
    let eth = EthernetRepr {
        dst: spec.dst_mac,
        src: spec.src_mac,
        vlan: None,
        ethertype: super::ETHERTYPE_IPV6,
    };
    let ip = super::Ipv6Repr::new(spec.src_ip, spec.dst_ip, PROTO_TCP, TCP_HEADER_LEN);
    let l3 = eth.header_len();
    let l4 = l3 + super::IPV6_HEADER_LEN;
    let mut frame = vec![0u8; l4 + TCP_HEADER_LEN];
    eth.emit(&mut frame)?;
    ip.emit(&mut frame[l3..])
        .map_err(|_| WireError::BufferTooSmall)?;
    let tcp = TcpRepr {
        src_port: spec.src_port,
        dst_port: spec.dst_port,
        seq,
        ack: 0,
        flags,
        window,
    };
    tcp.emit_v6(&mut frame[l4..], spec.src_ip, spec.dst_ip)?;
    Ok(frame)
}

pub fn tcp_frame(
    spec: &FrameSpec,
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    window: u16,
    payload: &[u8],
) -> Result<Vec<u8>, WireError> {
    let len = spec.l2_len() + IPV4_HEADER_LEN + TCP_HEADER_LEN + payload.len();
    collect(len, |out| {
        write_tcp_frame(spec, seq, ack, flags, window, payload, out)
    })
}

/// Ethernet/IPv4/ICMP frame: the `icmp` header followed by `data`.
pub fn write_icmp_frame(
    spec: &FrameSpec,
    icmp: &IcmpRepr,
    data: &[u8],
    out: &mut [u8],
) -> Result<usize, WireError> {
    let l4_len = ICMP_HEADER_LEN + data.len();
    let l4 = write_l2_l3(spec, PROTO_ICMP, l4_len, out)?;
    let end = l4 + l4_len;
    out[l4 + ICMP_HEADER_LEN..end].copy_from_slice(data);
    icmp.emit(&mut out[l4..end])?;
    Ok(end)
}

pub fn icmp_frame(spec: &FrameSpec, icmp: &IcmpRepr, data: &[u8]) -> Result<Vec<u8>, WireError> {
    let len = spec.l2_len() + IPV4_HEADER_LEN + ICMP_HEADER_LEN + data.len();
    collect(len, |out| write_icmp_frame(spec, icmp, data, out))
}

/// An ICMP echo request with `payload`.
pub fn icmp_echo_frame(
    spec: &FrameSpec,
    ident: u16,
    seq: u16,
    payload: &[u8],
) -> Result<Vec<u8>, WireError> {
    icmp_frame(spec, &IcmpRepr::EchoRequest { ident, seq }, payload)
}

/// Ethernet/ARP frame.
pub fn write_arp_frame(
    arp: &ArpRepr,
    eth_src: MacAddr,
    eth_dst: MacAddr,
    vlan: Option<u16>,
    out: &mut [u8],
) -> Result<usize, WireError> {
    let eth = EthernetRepr {
        dst: eth_dst,
        src: eth_src,
        vlan,
        ethertype: ETHERTYPE_ARP,
    };
    if out.len() < eth.header_len() + ARP_LEN {
        return Err(WireError::BufferTooSmall);
    }
    let l3 = eth.emit(out)?;
    Ok(l3 + arp.emit(&mut out[l3..])?)
}

pub fn arp_frame(
    arp: &ArpRepr,
    eth_src: MacAddr,
    eth_dst: MacAddr,
    vlan: Option<u16>,
) -> Result<Vec<u8>, WireError> {
    let len = EthernetRepr {
        dst: eth_dst,
        src: eth_src,
        vlan,
        ethertype: ETHERTYPE_ARP,
    }
    .header_len()
        + ARP_LEN;
    collect(len, |out| write_arp_frame(arp, eth_src, eth_dst, vlan, out))
}

/// Ethernet/IPv4/UDP/GTP-U frame carrying `inner_ip_packet` in a plain
/// G-PDU with `teid`. `outer` gives the tunnel endpoints (ports are usually
/// both [`GTPU_PORT`](super::GTPU_PORT)).
pub fn write_gtpu_encap(
    outer: &FrameSpec,
    teid: u32,
    inner_ip_packet: &[u8],
    out: &mut [u8],
) -> Result<usize, WireError> {
    let gtp_len = GTPU_HEADER_LEN + inner_ip_packet.len();
    let gtpu = GtpuRepr {
        teid,
        payload_len: u16::try_from(inner_ip_packet.len()).map_err(|_| WireError::BadTotalLength)?,
    };
    let l4_len = UDP_HEADER_LEN + gtp_len;
    let l4 = write_l2_l3(outer, PROTO_UDP, l4_len, out)?;
    let gtp = l4 + UDP_HEADER_LEN;
    let end = l4 + l4_len;
    gtpu.emit(&mut out[gtp..end])?;
    out[gtp + GTPU_HEADER_LEN..end].copy_from_slice(inner_ip_packet);
    let udp = UdpRepr {
        src_port: outer.src_port,
        dst_port: outer.dst_port,
        payload_len: gtp_len,
    };
    udp.emit(&mut out[l4..end], outer.src_ip, outer.dst_ip)?;
    Ok(end)
}

pub fn gtpu_encap(
    outer: &FrameSpec,
    teid: u32,
    inner_ip_packet: &[u8],
) -> Result<Vec<u8>, WireError> {
    let len =
        outer.l2_len() + IPV4_HEADER_LEN + UDP_HEADER_LEN + GTPU_HEADER_LEN + inner_ip_packet.len();
    collect(len, |out| {
        write_gtpu_encap(outer, teid, inner_ip_packet, out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testutil::{
        arb_frame_spec, arb_ipv4, arb_mac, arb_payload, slow_checksum, slow_l4_checksum,
    };
    use crate::wire::{
        checksum, ArpOp, ArpPacket, EthernetFrame, GtpuPacket, IcmpPacket, Ipv4Packet, TcpSegment,
        UdpDatagram, GTPU_PORT,
    };
    use proptest::prelude::*;

    /// Checks Ethernet and IPv4 of a built frame against `spec`; returns the
    /// IPv4 packet. The header checksum is checked with the slow reference.
    fn check_l2_l3<'a>(frame: &'a [u8], spec: &FrameSpec, protocol: u8) -> Ipv4Packet<&'a [u8]> {
        let eth = EthernetFrame::new_checked(frame).unwrap();
        assert_eq!(EthernetRepr::parse(&eth), spec.ethernet(ETHERTYPE_IPV4));
        let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
        assert_eq!(ip.total_len(), eth.payload().len());
        assert_eq!(
            slow_checksum(ip.header()),
            0,
            "IPv4 header must sum to all ones"
        );
        let repr = Ipv4Repr::parse(&ip).unwrap();
        assert_eq!(repr, spec.ipv4(protocol, ip.payload().len()));
        Ipv4Packet::new_checked(&frame[eth.payload_offset()..]).unwrap()
    }

    #[test]
    fn udp_frame_layout_is_exact() {
        let spec = FrameSpec {
            src_mac: MacAddr([2, 0, 0, 0, 0, 1]),
            dst_mac: MacAddr([2, 0, 0, 0, 0, 2]),
            vlan: Some(100),
            src_ip: Ipv4Addr::new(10, 0, 0, 1),
            dst_ip: Ipv4Addr::new(10, 0, 0, 2),
            src_port: 1234,
            dst_port: 53,
            ttl: 64,
        };
        let frame = udp_frame(&spec, b"hi").unwrap();
        let ip_csum = {
            let mut header = frame[18..38].to_vec();
            header[10] = 0;
            header[11] = 0;
            slow_checksum(&header).to_be_bytes()
        };
        let udp_csum = {
            let mut udp = frame[38..].to_vec();
            udp[6] = 0;
            udp[7] = 0;
            checksum::udp_wire_value(slow_l4_checksum(spec.src_ip, spec.dst_ip, 17, &udp))
                .to_be_bytes()
        };
        let expected: Vec<u8> = [
            &[
                2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x81, 0x00, 0x00, 100, 0x08, 0x00,
            ][..],
            &[0x45, 0, 0, 30, 0, 0, 0, 0, 64, 17],
            &ip_csum,
            &[10, 0, 0, 1, 10, 0, 0, 2],
            &[0x04, 0xd2, 0, 53, 0, 10],
            &udp_csum,
            b"hi",
        ]
        .concat();
        assert_eq!(frame, expected);
    }

    #[test]
    fn writers_refuse_small_buffers_and_oversize_payloads() {
        let spec = FrameSpec::default();
        let mut small = [0u8; 41];
        assert_eq!(
            write_udp_frame(&spec, b"ab", &mut small),
            Err(WireError::BufferTooSmall)
        );
        assert_eq!(
            write_tcp_frame(&spec, 0, 0, TcpFlags::SYN, 0, &[], &mut [0; 53]),
            Err(WireError::BufferTooSmall)
        );
        let huge = vec![0u8; 65536 - 28];
        assert_eq!(udp_frame(&spec, &huge), Err(WireError::BadTotalLength));
        assert!(udp_frame(&spec, &huge[1..]).is_ok());
        let arp = ArpRepr {
            op: ArpOp::Request,
            sender_mac: MacAddr::ZERO,
            sender_ip: Ipv4Addr::UNSPECIFIED,
            target_mac: MacAddr::ZERO,
            target_ip: Ipv4Addr::UNSPECIFIED,
        };
        assert_eq!(
            write_arp_frame(&arp, MacAddr::ZERO, MacAddr::BROADCAST, None, &mut [0; 41]),
            Err(WireError::BufferTooSmall)
        );
        assert_eq!(
            gtpu_encap(&spec, 1, &vec![0; 65536]),
            Err(WireError::BadTotalLength)
        );
    }

    proptest! {
        #[test]
        fn udp_frames_are_valid(spec in arb_frame_spec(), payload in arb_payload(300)) {
            let frame = udp_frame(&spec, &payload).unwrap();
            let ip = check_l2_l3(&frame, &spec, PROTO_UDP);
            let udp = UdpDatagram::new_checked(ip.payload()).unwrap();
            prop_assert_ne!(udp.checksum(), 0);
            prop_assert_eq!(
                UdpRepr::parse(&udp, spec.src_ip, spec.dst_ip),
                Ok(UdpRepr { src_port: spec.src_port, dst_port: spec.dst_port, payload_len: payload.len() })
            );
            prop_assert_eq!(udp.payload(), &payload[..]);
        }

        #[test]
        fn tcp_frames_are_valid(
            spec in arb_frame_spec(),
            seq in any::<u32>(),
            ack in any::<u32>(),
            flags in any::<u8>(),
            window in any::<u16>(),
            payload in arb_payload(300),
        ) {
            let flags = TcpFlags::from_bits(flags);
            let frame = tcp_frame(&spec, seq, ack, flags, window, &payload).unwrap();
            let ip = check_l2_l3(&frame, &spec, PROTO_TCP);
            let tcp = TcpSegment::new_checked(ip.payload()).unwrap();
            prop_assert_eq!(slow_l4_checksum(spec.src_ip, spec.dst_ip, PROTO_TCP, tcp.as_bytes()), 0);
            let expected = TcpRepr {
                src_port: spec.src_port, dst_port: spec.dst_port, seq, ack, flags, window,
            };
            prop_assert_eq!(TcpRepr::parse(&tcp, spec.src_ip, spec.dst_ip), Ok(expected));
            prop_assert_eq!(tcp.payload(), &payload[..]);
        }

        #[test]
        fn icmp_echo_frames_are_valid(
            spec in arb_frame_spec(),
            ident in any::<u16>(),
            seq in any::<u16>(),
            payload in arb_payload(100),
        ) {
            let frame = icmp_echo_frame(&spec, ident, seq, &payload).unwrap();
            let ip = check_l2_l3(&frame, &spec, PROTO_ICMP);
            prop_assert_eq!(slow_checksum(ip.payload()), 0);
            let icmp = IcmpPacket::new_checked(ip.payload()).unwrap();
            prop_assert_eq!(IcmpRepr::parse(&icmp), Ok(IcmpRepr::EchoRequest { ident, seq }));
            prop_assert_eq!(icmp.data(), &payload[..]);
        }

        #[test]
        fn arp_frames_are_valid(
            eth_src in arb_mac(),
            eth_dst in arb_mac(),
            vlan in proptest::option::of(0u16..4096),
            sender_mac in arb_mac(),
            sender_ip in arb_ipv4(),
            target_ip in arb_ipv4(),
        ) {
            let arp = ArpRepr {
                op: ArpOp::Request, sender_mac, sender_ip, target_mac: MacAddr::ZERO, target_ip,
            };
            let frame = arp_frame(&arp, eth_src, eth_dst, vlan).unwrap();
            let eth = EthernetFrame::new_checked(&frame[..]).unwrap();
            prop_assert_eq!(
                EthernetRepr::parse(&eth),
                EthernetRepr { dst: eth_dst, src: eth_src, vlan, ethertype: ETHERTYPE_ARP }
            );
            prop_assert_eq!(eth.payload().len(), ARP_LEN);
            prop_assert_eq!(ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).unwrap()), Ok(arp));
        }

        #[test]
        fn gtpu_frames_are_valid(
            outer in arb_frame_spec(),
            inner_spec in arb_frame_spec(),
            teid in any::<u32>(),
            payload in arb_payload(200),
        ) {
            let outer = FrameSpec { src_port: GTPU_PORT, dst_port: GTPU_PORT, ..outer };
            let inner_frame = udp_frame(&inner_spec, &payload).unwrap();
            let inner_ip = &inner_frame[inner_spec.l2_len()..];
            let frame = gtpu_encap(&outer, teid, inner_ip).unwrap();
            let ip = check_l2_l3(&frame, &outer, PROTO_UDP);
            let udp = UdpDatagram::new_checked(ip.payload()).unwrap();
            prop_assert!(udp.checksum() != 0 && udp.verify_checksum(outer.src_ip, outer.dst_ip));
            prop_assert_eq!(udp.dst_port(), GTPU_PORT);
            let gtp = GtpuPacket::new_checked(udp.payload()).unwrap();
            prop_assert_eq!(
                GtpuRepr::parse(&gtp),
                Ok(GtpuRepr { teid, payload_len: inner_ip.len() as u16 })
            );
            prop_assert_eq!(gtp.payload(), inner_ip);
            let inner = Ipv4Packet::new_checked(gtp.payload()).unwrap();
            prop_assert_eq!(inner.src(), inner_spec.src_ip);
            prop_assert!(inner.verify_checksum());
        }
    }
    #[test]
    fn a_tcp_frame_over_ipv6_has_its_fields_and_a_checksum_from_scratch() {
        use crate::wire::testutil_v6::slow_l4_checksum_v6;
        let spec = FrameSpecV6 {
            src_mac: MacAddr([2, 0, 0, 0, 0, 1]),
            dst_mac: MacAddr([2, 0, 0, 0, 0, 2]),
            src_ip: "2001:db8:20::10".parse().unwrap(),
            dst_ip: "2001:db8:20::21".parse().unwrap(),
            src_port: 61000,
            dst_port: 8080,
        };
        let f = tcp_frame_v6(&spec, 0x1234_5678, TcpFlags::SYN, 1024).unwrap();
        assert_eq!(f.len(), 14 + 40 + 20);
        assert_eq!(&f[0..6], &[2, 0, 0, 0, 0, 2]);
        assert_eq!(&f[12..14], &[0x86, 0xdd]);
        let ip = crate::wire::Ipv6Packet::new_checked(&f[14..]).unwrap();
        assert_eq!((ip.src(), ip.dst()), (spec.src_ip, spec.dst_ip));
        assert_eq!(
            (ip.next_header(), ip.hop_limit(), ip.payload_len()),
            (6, 64, 20)
        );
        let tcp = TcpSegment::new_checked(&f[54..]).unwrap();
        assert_eq!((tcp.src_port(), tcp.dst_port()), (61000, 8080));
        assert_eq!(tcp.seq_number(), 0x1234_5678);
        let mut zeroed = f[54..].to_vec();
        zeroed[16..18].copy_from_slice(&[0, 0]);
        let c = slow_l4_checksum_v6(spec.src_ip, spec.dst_ip, 6, &zeroed);
        assert_eq!(&f[70..72], &c.to_be_bytes());
    }
}
