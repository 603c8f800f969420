//! Every checked view and `Repr` of `dataplane::wire` on arbitrary bytes:
//! no input makes a view or its accessors panic, a header that parses
//! emits and parses back to the same values, and the incremental checksum
//! rewrites keep a right checksum right.
//!
//! The bytes are read as each layer on its own (so every parser sees
//! arbitrary input) and as a whole frame, Ethernet down to the packet a
//! GTP-U tunnel carries.

#![no_main]

use dataplane::wire::checksum::{self, update16, update32};
use dataplane::wire::TcpRepr;
use dataplane::wire::{
    ArpPacket, ArpRepr, EthernetFrame, EthernetRepr, GtpuPacket, GtpuRepr, IcmpPacket, IcmpRepr,
    Ipv4Packet, Ipv4Repr, MacAddr, TcpSegment, UdpDatagram, UdpRepr, ETHERTYPE_ARP, ETHERTYPE_IPV4,
    GTPU_HEADER_LEN, GTPU_PORT, IPV4_HEADER_LEN, PROTO_ICMP, PROTO_TCP, PROTO_UDP, TCP_HEADER_LEN,
    UDP_HEADER_LEN,
};
use libfuzzer_sys::fuzz_target;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// Addresses for layers read without an IPv4 header around them.
const SRC: Ipv4Addr = Ipv4Addr::new(10, 8, 0, 100);
const DST: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
/// How many tunnels deep a frame is followed.
const MAX_DEPTH: u8 = 2;

fuzz_target!(|data: &[u8]| {
    ethernet(data);
    ipv4(data, 0);
    tcp(data, SRC, DST);
    udp(data, SRC, DST, MAX_DEPTH);
    icmp(data);
    arp(data);
    gtpu(data, MAX_DEPTH);
    mac_text(data);
    incremental_updates(data);
});

fn ethernet(data: &[u8]) {
    let Ok(eth) = EthernetFrame::new_checked(data) else {
        return;
    };
    let (_, _, _, _) = (eth.dst(), eth.src(), eth.vlan_tci(), eth.outer_ethertype());
    assert_eq!(eth.payload().len(), data.len() - eth.header_len());
    assert_eq!(eth.payload_offset(), eth.header_len());

    let repr = EthernetRepr::parse(&eth);
    let mut out = [0u8; 18];
    let n = repr.emit(&mut out).expect("18 bytes hold any L2 header");
    assert_eq!(n, eth.header_len());
    let back = EthernetFrame::new_checked(&out[..n]).expect("emitted header parses");
    assert_eq!(EthernetRepr::parse(&back), repr);

    let mut copy = data.to_vec();
    let mut view = EthernetFrame::new_checked(&mut copy[..]).expect("checked once");
    view.swap_addresses();
    view.swap_addresses();
    view.set_ethertype(repr.ethertype);
    assert_eq!(&copy[..], data, "swapping twice changes nothing");

    match repr.ethertype {
        ETHERTYPE_IPV4 => ipv4(eth.payload(), 0),
        ETHERTYPE_ARP => arp(eth.payload()),
        _ => {}
    }
}

fn ipv4(data: &[u8], depth: u8) {
    if let Ok(head) = Ipv4Packet::new_checked_header(data) {
        assert!(head.header_len() >= IPV4_HEADER_LEN && head.header_len() <= data.len());
        let _ = (head.options(), head.payload(), head.verify_checksum());
    }
    let Ok(ip) = Ipv4Packet::new_checked(data) else {
        return;
    };
    let _ = (ip.version(), ip.dscp(), ip.ecn(), ip.ident(), ip.ttl());
    let _ = (ip.more_fragments(), ip.fragment_offset(), ip.options());
    assert!(ip.header_len() <= ip.total_len() && ip.total_len() <= data.len());
    assert_eq!(ip.payload().len(), ip.total_len() - ip.header_len());
    let valid = ip.verify_checksum();

    if let Ok(repr) = Ipv4Repr::parse(&ip) {
        assert!(valid, "parse accepted a wrong checksum");
        let mut out = vec![0u8; IPV4_HEADER_LEN + repr.payload_len];
        assert_eq!(repr.emit(&mut out), Ok(IPV4_HEADER_LEN));
        out[IPV4_HEADER_LEN..].copy_from_slice(ip.payload());
        let back = Ipv4Packet::new_checked(&out[..]).expect("emitted packet parses");
        assert!(back.verify_checksum());
        assert_eq!(Ipv4Repr::parse(&back), Ok(repr));
        assert_eq!(back.payload(), ip.payload());
    }

    // The per-packet rewrites a gateway does keep a right checksum right.
    let mut copy = data.to_vec();
    let mut rw = Ipv4Packet::new_checked(&mut copy[..]).expect("checked once");
    let (src, dst) = (rw.src(), rw.dst());
    rw.set_src_incremental(dst);
    rw.set_dst_incremental(Ipv4Addr::from(u32::from(src).rotate_left(7)));
    let ttl = rw.ttl();
    match rw.decrement_ttl_incremental() {
        Ok(t) => assert_eq!(t, ttl - 1),
        Err(_) => assert!(ttl <= 1),
    }
    assert_eq!(
        rw.verify_checksum(),
        valid,
        "incremental rewrites changed checksum validity: {data:02x?}"
    );

    if ip.is_fragment() {
        return;
    }
    let (src, dst, payload) = (ip.src(), ip.dst(), ip.payload());
    match ip.protocol() {
        PROTO_TCP => tcp(payload, src, dst),
        PROTO_UDP => udp(payload, src, dst, depth),
        PROTO_ICMP => icmp(payload),
        _ => {}
    }
}

fn tcp(data: &[u8], src: Ipv4Addr, dst: Ipv4Addr) {
    let Ok(seg) = TcpSegment::new_checked(data) else {
        return;
    };
    let _ = (
        seg.seq_number(),
        seg.ack_number(),
        seg.window(),
        seg.urgent_pointer(),
    );
    let _ = (seg.options(), seg.segment_len(), seg.checksum());
    assert!(seg.header_len() >= TCP_HEADER_LEN && seg.header_len() <= data.len());
    assert_eq!(seg.options().len(), seg.header_len() - TCP_HEADER_LEN);
    assert_eq!(seg.payload().len(), data.len() - seg.header_len());
    let valid = seg.verify_checksum(src, dst);

    if let Ok(repr) = TcpRepr::parse(&seg, src, dst) {
        assert!(valid, "parse accepted a wrong checksum");
        let mut out = vec![0u8; TCP_HEADER_LEN + seg.payload().len()];
        out[TCP_HEADER_LEN..].copy_from_slice(seg.payload());
        assert_eq!(repr.emit(&mut out, src, dst), Ok(TCP_HEADER_LEN));
        let back = TcpSegment::new_checked(&out[..]).expect("emitted segment parses");
        assert_eq!(TcpRepr::parse(&back, src, dst), Ok(repr));
        assert_eq!(back.payload(), seg.payload());
    }

    // What NAT does to a segment: both ports and both addresses.
    let mut copy = data.to_vec();
    let mut rw = TcpSegment::new_checked(&mut copy[..]).expect("checked once");
    let (sport, dport) = (rw.src_port(), rw.dst_port());
    rw.set_src_port_incremental(dport);
    rw.set_dst_port_incremental(sport.wrapping_add(1));
    let new_src = Ipv4Addr::from(u32::from(dst) ^ 0x0102_0304);
    rw.adjust_checksum_for_address(src, new_src);
    assert_eq!(
        rw.verify_checksum(new_src, dst),
        valid,
        "incremental rewrites changed TCP checksum validity: {data:02x?}"
    );
}

fn udp(data: &[u8], src: Ipv4Addr, dst: Ipv4Addr, depth: u8) {
    let Ok(dgram) = UdpDatagram::new_checked(data) else {
        return;
    };
    let length = dgram.length();
    assert!((UDP_HEADER_LEN..=data.len()).contains(&length));
    assert_eq!(dgram.datagram().len(), length);
    assert_eq!(dgram.payload().len(), length - UDP_HEADER_LEN);
    let _ = dgram.as_bytes();
    let valid = dgram.verify_checksum(src, dst);

    if let Ok(repr) = UdpRepr::parse(&dgram, src, dst) {
        assert!(valid, "parse accepted a wrong checksum");
        let mut out = vec![0u8; repr.datagram_len()];
        out[UDP_HEADER_LEN..].copy_from_slice(dgram.payload());
        assert_eq!(repr.emit(&mut out, src, dst), Ok(UDP_HEADER_LEN));
        let back = UdpDatagram::new_checked(&out[..]).expect("emitted datagram parses");
        assert_ne!(back.checksum(), 0, "emit always fills a checksum");
        assert_eq!(UdpRepr::parse(&back, src, dst), Ok(repr));
    }

    let mut copy = data.to_vec();
    let mut rw = UdpDatagram::new_checked(&mut copy[..]).expect("checked once");
    let had_none = rw.checksum() == 0;
    let (sport, dport) = (rw.src_port(), rw.dst_port());
    rw.set_src_port_incremental(dport);
    rw.set_dst_port_incremental(sport ^ 0x8000);
    let new_dst = Ipv4Addr::from(u32::from(src).wrapping_mul(3));
    rw.adjust_checksum_for_address(dst, new_dst);
    assert_eq!(
        rw.checksum() == 0,
        had_none,
        "a missing UDP checksum stays missing"
    );
    assert_eq!(
        rw.verify_checksum(src, new_dst),
        valid,
        "incremental rewrites changed UDP checksum validity: {data:02x?}"
    );

    if depth < MAX_DEPTH && dgram.dst_port() == GTPU_PORT {
        gtpu(dgram.payload(), depth);
    }
}

fn icmp(data: &[u8]) {
    let Ok(msg) = IcmpPacket::new_checked(data) else {
        return;
    };
    let _ = (
        msg.code(),
        msg.rest_of_header(),
        msg.echo_ident(),
        msg.echo_seq(),
    );
    let _ = (msg.next_hop_mtu(), msg.checksum());
    assert_eq!(msg.quoted().is_some(), msg.is_error());
    if let Some(quoted) = msg.quoted() {
        if let Ok(head) = Ipv4Packet::new_checked_header(quoted) {
            let _ = (head.src(), head.dst(), head.protocol(), head.payload());
        }
    }
    let valid = msg.verify_checksum();
    if let Ok(repr) = IcmpRepr::parse(&msg) {
        assert!(valid, "parse accepted a wrong checksum");
        let mut out = data.to_vec();
        assert_eq!(repr.emit(&mut out), Ok(8));
        let back = IcmpPacket::new_checked(&out[..]).expect("emitted message parses");
        assert!(back.verify_checksum());
        assert_eq!(IcmpRepr::parse(&back), Ok(repr));
        assert_eq!(back.data(), msg.data());
    }
}

fn arp(data: &[u8]) {
    let Ok(pkt) = ArpPacket::new_checked(data) else {
        return;
    };
    let _ = (pkt.hardware_type(), pkt.protocol_type(), pkt.operation());
    let _ = (pkt.hardware_len(), pkt.protocol_len());
    let _ = (
        pkt.sender_mac(),
        pkt.sender_ip(),
        pkt.target_mac(),
        pkt.target_ip(),
    );
    if let Ok(repr) = ArpRepr::parse(&pkt) {
        let mut out = [0u8; 28];
        assert_eq!(repr.emit(&mut out), Ok(28));
        let back = ArpPacket::new_checked(&out[..]).expect("emitted packet parses");
        assert_eq!(ArpRepr::parse(&back), Ok(repr));
        assert_eq!(
            &out[..],
            &data[..28],
            "a parsed ARP packet emits the same bytes"
        );
    }
}

fn gtpu(data: &[u8], depth: u8) {
    let Ok(g) = GtpuPacket::new_checked(data) else {
        return;
    };
    let _ = (g.flags(), g.version(), g.is_echo_request(), g.teid());
    let _ = (
        g.sequence_number(),
        g.npdu_number(),
        g.has_optional_fields(),
    );
    let end = GTPU_HEADER_LEN + usize::from(g.length());
    assert!(end <= data.len());
    assert!(g.payload_offset() >= GTPU_HEADER_LEN && g.payload_offset() <= end);
    assert_eq!(g.payload().len(), end - g.payload_offset());
    // Each extension header is at least 4 bytes: the walk is bounded.
    let n_ext = g.extension_headers().take(end / 4 + 1).count();
    assert!(n_ext <= end / 4, "{n_ext} extension headers in {end} bytes");
    for (_, content) in g.extension_headers() {
        assert!(content.len() % 4 == 2);
    }

    if let Ok(repr) = GtpuRepr::parse(&g) {
        assert!(g.is_gpdu());
        let mut out = vec![0u8; GTPU_HEADER_LEN + usize::from(repr.payload_len)];
        assert_eq!(repr.emit(&mut out), Ok(GTPU_HEADER_LEN));
        out[GTPU_HEADER_LEN..].copy_from_slice(g.payload());
        let back = GtpuPacket::new_checked(&out[..]).expect("emitted header parses");
        assert_eq!(GtpuRepr::parse(&back), Ok(repr));
        assert_eq!(back.payload(), g.payload());
        if depth < MAX_DEPTH {
            ipv4(g.payload(), depth + 1);
        }
    }

    let mut copy = data.to_vec();
    let mut rw = GtpuPacket::new_checked(&mut copy[..]).expect("checked once");
    rw.set_teid(!g.teid());
    let _ = rw.payload_mut();
}

fn mac_text(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(mac) = MacAddr::from_str(text) {
        let shown = mac.to_string();
        assert_eq!(MacAddr::from_str(&shown), Ok(mac));
        let _ = (mac.is_broadcast(), mac.is_multicast(), mac.is_unicast());
    }
}

/// RFC 1624 updates against a checksum computed from scratch: with the
/// checksum in the first word and any 16- or 32-bit field changed.
fn incremental_updates(data: &[u8]) {
    if data.len() < 8 {
        return;
    }
    let mut buf = data.to_vec();
    buf[0] = 0;
    buf[1] = 0;
    let c = checksum::checksum(&buf);
    buf[0..2].copy_from_slice(&c.to_be_bytes());
    if !checksum::verifies(&buf) {
        // Only all-zero data has no checksum that verifies.
        assert!(buf.iter().all(|&b| b == 0));
        return;
    }
    // Field at an even offset past the checksum, new value from the data.
    let at = 2 + (usize::from(data[0]) * 2) % ((buf.len() - 2) & !1).max(2);
    if at + 4 > buf.len() {
        return;
    }
    let old16 = u16::from_be_bytes([buf[at], buf[at + 1]]);
    let new16 = u16::from_be_bytes([data[1], data[2]]);
    let c16 = update16(c, old16, new16);
    buf[at..at + 2].copy_from_slice(&new16.to_be_bytes());
    buf[0..2].copy_from_slice(&c16.to_be_bytes());
    assert!(
        checksum::verifies(&buf) || buf.iter().all(|&b| b == 0),
        "update16 at {at}: {data:02x?}"
    );

    let c_now = u16::from_be_bytes([buf[0], buf[1]]);
    let old32 = u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]);
    let new32 = u32::from_be_bytes([data[3], data[4], data[5], data[6]]);
    let c32 = update32(c_now, old32, new32);
    buf[at..at + 4].copy_from_slice(&new32.to_be_bytes());
    buf[0..2].copy_from_slice(&c32.to_be_bytes());
    assert!(
        checksum::verifies(&buf) || buf.iter().all(|&b| b == 0),
        "update32 at {at}: {data:02x?}"
    );
}
