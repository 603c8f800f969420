//! The IPv6 and ICMPv6 views, the extension-header walk and the IPv6
//! answers on arbitrary bytes: nothing panics, the walk stays within its
//! bound and the packet, a header that parses emits and parses back to the
//! same values, and every answer that is built verifies from scratch.
//!
//! The bytes are read as an IPv6 packet, as an ICMPv6 message and as an
//! Ethernet frame handed to the answer builders (echo reply, Neighbor
//! Advertisement, Packet Too Big, and the refusals: TCP RST, destination
//! unreachable).

#![no_main]

use dataplane::wire::checksum::l4_verifies_v6;
use dataplane::wire::{
    turn_into_echo_reply_v6, write_dest_unreachable_v6, write_neighbor_advertisement,
    write_packet_too_big, write_tcp_rst_reply_v6, EthernetFrame, Icmpv6Packet, Icmpv6Repr,
    Ipv6Packet, Ipv6Repr, MacAddr, NdOptions, TcpFlags, TcpSegment, ICMPV6_DEST_UNREACHABLE,
    ICMPV6_ECHO_REPLY, ICMPV6_NEIGHBOR_ADVERT, ICMPV6_PACKET_TOO_BIG, IPV6_HEADER_LEN,
    IPV6_MIN_MTU, MAX_EXTENSION_HEADERS, PROTO_ICMPV6, PROTO_TCP, TCP_HEADER_LEN,
};
use libfuzzer_sys::fuzz_target;
use std::net::Ipv6Addr;

const OUR_MAC: MacAddr = MacAddr([0x02, 0x7a, 0, 0, 0, 1]);
const OUR_IP: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0xa);
const SRC: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);

fuzz_target!(|data: &[u8]| {
    ipv6(data);
    icmpv6(data, SRC, OUR_IP);
    let _ = NdOptions::parse(data);
    answers(data);
    refusals(data);
    if let Some(rest) = data.get(14..) {
        ipv6(rest);
    }
});

fn ipv6(data: &[u8]) {
    if let Ok(head) = Ipv6Packet::new_checked_header(data) {
        assert!(head.packet().len() <= data.len());
        if let Ok(upper) = head.upper_layer() {
            assert!(upper.offset <= head.packet().len());
            assert!(upper.extension_headers <= MAX_EXTENSION_HEADERS);
        }
    }
    let Ok(ip) = Ipv6Packet::new_checked(data) else {
        return;
    };
    assert_eq!(ip.payload().len(), ip.payload_len());
    let repr = Ipv6Repr::parse(&ip);
    let mut out = vec![0u8; IPV6_HEADER_LEN];
    assert_eq!(repr.emit(&mut out), Ok(IPV6_HEADER_LEN));
    assert_eq!(
        &out[..],
        &data[..IPV6_HEADER_LEN],
        "the fixed header emits as read"
    );
    let Ok(upper) = ip.upper_layer() else {
        return;
    };
    let first = upper.fragment.is_none_or(|f| f.is_first());
    if upper.protocol == PROTO_ICMPV6 && upper.fragment.is_none() && first {
        icmpv6(&ip.packet()[upper.offset..], ip.src(), ip.dst());
    }
}

fn icmpv6(data: &[u8], src: Ipv6Addr, dst: Ipv6Addr) {
    let Ok(packet) = Icmpv6Packet::new_checked(data) else {
        return;
    };
    let _ = (
        packet.quoted(),
        packet.nd_target(),
        packet.mtu(),
        packet.echo_seq(),
    );
    let Ok(repr) = Icmpv6Repr::parse(&packet, src, dst) else {
        return;
    };
    assert!(
        packet.verify_checksum(src, dst),
        "parse accepted a wrong checksum"
    );
    // Echo and error messages are emitted with their data after the
    // 8-byte header; ND messages on their own (the Repr keeps only the
    // link-layer option, so other options are not carried over).
    let is_nd = matches!(
        repr,
        Icmpv6Repr::NeighborSolicit { .. } | Icmpv6Repr::NeighborAdvert { .. }
    );
    let mut out = if is_nd {
        vec![0u8; repr.header_len()]
    } else {
        data.to_vec()
    };
    assert_eq!(repr.emit(&mut out, src, dst), Ok(repr.header_len()));
    let back = Icmpv6Packet::new_checked(&out[..]).expect("emitted message parses");
    assert!(back.verify_checksum(src, dst));
    assert_eq!(Icmpv6Repr::parse(&back, src, dst), Ok(repr));
    if !is_nd {
        assert_eq!(back.data(), packet.data());
    }
}

fn answers(data: &[u8]) {
    let mut copy = data.to_vec();
    if turn_into_echo_reply_v6(&mut copy).is_ok() {
        let (ip, l3) = l3_of(&copy);
        let icmp = Icmpv6Packet::new_checked(ip.payload()).expect("reply parses");
        assert_eq!(icmp.msg_type(), ICMPV6_ECHO_REPLY);
        assert!(icmp.verify_checksum(ip.src(), ip.dst()), "reply checksum");
        assert_eq!(copy.len(), data.len());
        assert_eq!(
            &copy[l3 + IPV6_HEADER_LEN + 8..],
            &data[l3 + IPV6_HEADER_LEN + 8..]
        );
    }
    let mut out = vec![0u8; 1600];
    if let Ok(len) = write_neighbor_advertisement(data, &mut out, OUR_MAC) {
        let (ip, _) = l3_of(&out[..len]);
        assert_eq!(ip.hop_limit(), 255);
        let icmp = Icmpv6Packet::new_checked(ip.payload()).expect("NA parses");
        assert_eq!(icmp.msg_type(), ICMPV6_NEIGHBOR_ADVERT);
        assert!(l4_verifies_v6(
            ip.src(),
            ip.dst(),
            PROTO_ICMPV6,
            ip.payload()
        ));
        assert!(Icmpv6Repr::parse(&icmp, ip.src(), ip.dst()).is_ok());
    }
    if let Ok(len) = write_packet_too_big(data, &mut out, OUR_IP, 1280) {
        let (ip, l3) = l3_of(&out[..len]);
        assert!(len - l3 <= IPV6_MIN_MTU, "PTB longer than 1280");
        let icmp = Icmpv6Packet::new_checked(ip.payload()).expect("PTB parses");
        assert_eq!(icmp.msg_type(), ICMPV6_PACKET_TOO_BIG);
        assert!(l4_verifies_v6(
            ip.src(),
            ip.dst(),
            PROTO_ICMPV6,
            ip.payload()
        ));
    }
}

/// The refusals of a NAT64 flow: a RST is one TCP header that verifies
/// and never answers a RST; an unreachable verifies and fits in `out`.
fn refusals(data: &[u8]) {
    let mut out = [0u8; 192];
    if let Ok(len) = write_tcp_rst_reply_v6(data, &mut out) {
        let (ip, l3) = l3_of(&out[..len]);
        assert_eq!(len, l3 + IPV6_HEADER_LEN + TCP_HEADER_LEN);
        assert_eq!(ip.next_header(), PROTO_TCP);
        assert!(l4_verifies_v6(ip.src(), ip.dst(), PROTO_TCP, ip.payload()));
        let rst = TcpSegment::new_checked(ip.payload()).expect("RST parses");
        assert!(rst.flags().contains(TcpFlags::RST));
    }
    if let Ok(len) = write_dest_unreachable_v6(data, &mut out, OUR_IP, 1) {
        let (ip, _) = l3_of(&out[..len]);
        let icmp = Icmpv6Packet::new_checked(ip.payload()).expect("unreachable parses");
        assert_eq!(icmp.msg_type(), ICMPV6_DEST_UNREACHABLE);
        assert!(l4_verifies_v6(
            ip.src(),
            ip.dst(),
            PROTO_ICMPV6,
            ip.payload()
        ));
    }
}

fn l3_of(frame: &[u8]) -> (Ipv6Packet<&[u8]>, usize) {
    let eth = EthernetFrame::new_checked(frame).expect("answer has L2");
    let l3 = eth.payload_offset();
    let ip = Ipv6Packet::new_checked(&frame[l3..]).expect("answer has IPv6");
    (ip, l3)
}
