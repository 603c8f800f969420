//! The in-place reply builders of `dataplane::wire::replies` on arbitrary
//! frames: nothing panics; every answer parses back with the views, with
//! checksums verified from scratch; its fields follow the request; and the
//! "never answer" rules (RST to a RST, ICMP error about an ICMP error, to
//! or from non-unicast addresses, fragments) always refuse.

#![no_main]

use arbitrary::Arbitrary;
use dataplane::wire::checksum::{l4_verifies, verifies};
use dataplane::wire::{
    is_unicast, turn_into_arp_reply, turn_into_echo_reply, write_icmp_error,
    write_icmp_frag_needed, write_tcp_rst_reply, ArpOp, ArpPacket, ArpRepr, EthernetFrame,
    IcmpPacket, Ipv4Packet, MacAddr, TcpFlags, TcpSegment, DEFAULT_TTL, ETHERTYPE_ARP,
    ETHERTYPE_IPV4, ICMP_DEST_UNREACHABLE, ICMP_ECHO_REPLY, ICMP_HEADER_LEN,
    ICMP_PARAMETER_PROBLEM, ICMP_TIME_EXCEEDED, IPV4_HEADER_LEN, PROTO_ICMP, PROTO_TCP,
    TCP_HEADER_LEN, UNREACH_FRAG_NEEDED,
};
use libfuzzer_sys::fuzz_target;
use std::net::Ipv4Addr;

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    /// Room given to the builders that write into a separate buffer.
    out_len: u8,
    icmp_type: u8,
    code: u8,
    mtu: u16,
    our_ip: [u8; 4],
    our_mac: [u8; 6],
    frame: &'a [u8],
}

fuzz_target!(|input: Input<'_>| {
    let out_len = usize::from(input.out_len);
    let our_ip = Ipv4Addr::from(input.our_ip);
    tcp_rst(input.frame, out_len);
    // Both a type the fuzzer picks and each supported one.
    let types = [
        input.icmp_type,
        ICMP_DEST_UNREACHABLE,
        ICMP_TIME_EXCEEDED,
        ICMP_PARAMETER_PROBLEM,
    ];
    for icmp_type in types {
        icmp_error(input.frame, out_len, icmp_type, input.code, None, our_ip);
    }
    icmp_error(
        input.frame,
        out_len,
        ICMP_DEST_UNREACHABLE,
        UNREACH_FRAG_NEEDED,
        Some(input.mtu),
        our_ip,
    );
    echo_reply(input.frame);
    arp_reply(input.frame, MacAddr(input.our_mac));
});

/// A request's L2 header and the IPv4 packet it carries.
type Ipv4Request<'a> = (EthernetFrame<&'a [u8]>, Ipv4Packet<&'a [u8]>);

/// The request's L2 header and IPv4 packet, when it has both.
fn ipv4_request(frame: &[u8]) -> Option<Ipv4Request<'_>> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != ETHERTYPE_IPV4 {
        return None;
    }
    let ip = Ipv4Packet::new_checked(&frame[eth.payload_offset()..]).ok()?;
    Some((eth, ip))
}

/// Parses an answer: L2 with the request's tag and swapped MACs, then a
/// whole IPv4 packet with a right checksum and no trailing bytes.
fn answer<'a>(out: &'a [u8], request: &EthernetFrame<&[u8]>) -> Ipv4Packet<&'a [u8]> {
    let eth = EthernetFrame::new_checked(out).expect("answer has an L2 header");
    assert_eq!(eth.vlan(), request.vlan(), "VLAN kept");
    assert_eq!(eth.ethertype(), ETHERTYPE_IPV4);
    assert_eq!(eth.dst(), request.src());
    assert_eq!(eth.src(), request.dst());
    let l3 = &out[eth.payload_offset()..];
    let ip = Ipv4Packet::new_checked(l3).expect("answer has an IPv4 packet");
    assert_eq!(ip.total_len(), l3.len(), "no trailing bytes");
    assert!(ip.verify_checksum(), "IPv4 checksum of the answer");
    assert!(!ip.is_fragment());
    assert_eq!(ip.header_len(), IPV4_HEADER_LEN);
    ip
}

fn tcp_rst(frame: &[u8], out_len: usize) {
    let mut out = vec![0u8; out_len];
    let result = write_tcp_rst_reply(frame, &mut out);
    let Some((eth, ip)) = ipv4_request(frame) else {
        assert!(result.is_err(), "answered a frame without IPv4");
        return;
    };
    let seg = TcpSegment::new_checked(ip.payload());
    let must_refuse = ip.protocol() != PROTO_TCP
        || ip.is_fragment()
        || eth.dst().is_multicast()
        || !is_unicast(ip.src())
        || !is_unicast(ip.dst())
        || seg
            .as_ref()
            .map_or(true, |s| s.flags().contains(TcpFlags::RST));
    let Ok(n) = result else {
        return;
    };
    assert!(!must_refuse, "RST sent where none is due: {frame:02x?}");
    let seg = seg.expect("refused otherwise");
    assert!(n <= out.len());
    let rip = answer(&out[..n], &eth);
    assert_eq!((rip.src(), rip.dst()), (ip.dst(), ip.src()));
    assert_eq!(rip.protocol(), PROTO_TCP);
    assert!(
        l4_verifies(rip.src(), rip.dst(), PROTO_TCP, rip.payload()),
        "TCP checksum of the RST"
    );
    let rst = TcpSegment::new_checked(rip.payload()).expect("RST segment");
    assert_eq!(rst.header_len(), TCP_HEADER_LEN);
    assert!(rst.payload().is_empty());
    assert_eq!(
        (rst.src_port(), rst.dst_port()),
        (seg.dst_port(), seg.src_port())
    );
    if seg.flags().contains(TcpFlags::ACK) {
        assert_eq!(rst.flags(), TcpFlags::RST);
        assert_eq!(rst.seq_number(), seg.ack_number());
    } else {
        assert_eq!(rst.flags(), TcpFlags::RST | TcpFlags::ACK);
        assert_eq!(rst.seq_number(), 0);
        let seg_len = seg.segment_len() as u32;
        assert_eq!(rst.ack_number(), seg.seq_number().wrapping_add(seg_len));
    }
}

fn icmp_error(
    frame: &[u8],
    out_len: usize,
    icmp_type: u8,
    code: u8,
    mtu: Option<u16>,
    our_ip: Ipv4Addr,
) {
    let mut out = vec![0u8; out_len];
    let result = match mtu {
        Some(mtu) => write_icmp_frag_needed(frame, &mut out, mtu, our_ip),
        None => write_icmp_error(frame, &mut out, icmp_type, code, our_ip),
    };
    let Some((eth, ip)) = ipv4_request(frame) else {
        assert!(result.is_err(), "answered a frame without IPv4");
        return;
    };
    let about_error = ip.protocol() == PROTO_ICMP
        && ip
            .payload()
            .first()
            .is_none_or(|&t| matches!(t, 3 | 4 | 5 | 11 | 12));
    let must_refuse = !matches!(
        icmp_type,
        ICMP_DEST_UNREACHABLE | ICMP_TIME_EXCEEDED | ICMP_PARAMETER_PROBLEM
    ) || eth.dst().is_multicast()
        || !is_unicast(ip.src())
        || !is_unicast(ip.dst())
        || ip.fragment_offset() != 0
        || about_error;
    let Ok(n) = result else {
        return;
    };
    assert!(
        !must_refuse,
        "ICMP error sent where none is due: {frame:02x?}"
    );
    assert!(n <= out.len());
    let rip = answer(&out[..n], &eth);
    assert_eq!((rip.src(), rip.dst()), (our_ip, ip.src()));
    assert_eq!(rip.protocol(), PROTO_ICMP);
    assert!(verifies(rip.payload()), "ICMP checksum of the error");
    let msg = IcmpPacket::new_checked(rip.payload()).expect("ICMP header");
    assert_eq!((msg.msg_type(), msg.code()), (icmp_type, code));
    match mtu {
        Some(mtu) => assert_eq!(msg.rest_of_header(), u32::from(mtu)),
        None => assert_eq!(msg.rest_of_header(), 0),
    }
    let quoted_len = ip.header_len() + ip.payload().len().min(8);
    assert_eq!(msg.data(), &ip.as_bytes()[..quoted_len], "quote");
    assert_eq!(rip.payload().len(), ICMP_HEADER_LEN + quoted_len);
}

fn echo_reply(frame: &[u8]) {
    let mut copy = frame.to_vec();
    if turn_into_echo_reply(&mut copy).is_err() {
        assert_eq!(copy, frame, "a refusal leaves the frame alone");
        return;
    }
    let (eth, ip) = ipv4_request(frame).expect("answered an IPv4 frame");
    assert_eq!(ip.protocol(), PROTO_ICMP);
    assert!(!ip.is_fragment());
    let request = IcmpPacket::new_checked(ip.payload()).expect("answered an ICMP message");
    assert_eq!(request.msg_type(), 8, "answered an echo request");

    let reth = EthernetFrame::new_checked(&copy[..]).expect("still a frame");
    assert_eq!((reth.dst(), reth.src()), (eth.src(), eth.dst()));
    assert_eq!(reth.vlan_tci(), eth.vlan_tci());
    let rip = Ipv4Packet::new_checked(reth.payload()).expect("still IPv4");
    assert_eq!((rip.src(), rip.dst()), (ip.dst(), ip.src()));
    assert_eq!(rip.ttl(), DEFAULT_TTL);
    assert_eq!(rip.options(), ip.options());
    assert_eq!(
        rip.verify_checksum(),
        ip.verify_checksum(),
        "IPv4 checksum validity kept: {frame:02x?}"
    );
    let reply = IcmpPacket::new_checked(rip.payload()).expect("still ICMP");
    assert_eq!(reply.msg_type(), ICMP_ECHO_REPLY);
    assert_eq!(reply.code(), request.code());
    assert_eq!(reply.rest_of_header(), request.rest_of_header());
    assert_eq!(reply.data(), request.data());
    assert_eq!(
        reply.verify_checksum(),
        request.verify_checksum(),
        "ICMP checksum validity kept: {frame:02x?}"
    );
}

fn arp_reply(frame: &[u8], our_mac: MacAddr) {
    let mut copy = frame.to_vec();
    if turn_into_arp_reply(&mut copy, our_mac).is_err() {
        assert_eq!(copy, frame, "a refusal leaves the frame alone");
        return;
    }
    let eth = EthernetFrame::new_checked(frame).expect("answered a frame");
    assert_eq!(eth.ethertype(), ETHERTYPE_ARP);
    let request = ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).expect("ARP"))
        .expect("answered a well-formed ARP packet");
    assert_eq!(request.op, ArpOp::Request);

    let reth = EthernetFrame::new_checked(&copy[..]).expect("still a frame");
    assert_eq!((reth.dst(), reth.src()), (eth.src(), our_mac));
    assert_eq!(reth.vlan_tci(), eth.vlan_tci());
    assert_eq!(reth.ethertype(), ETHERTYPE_ARP);
    let reply = ArpRepr::parse(&ArpPacket::new_checked(reth.payload()).expect("still ARP"))
        .expect("reply parses");
    assert_eq!(reply.op, ArpOp::Reply);
    assert_eq!(
        (reply.sender_mac, reply.sender_ip),
        (our_mac, request.target_ip)
    );
    assert_eq!(
        (reply.target_mac, reply.target_ip),
        (request.sender_mac, request.sender_ip)
    );
    assert_eq!(copy.len(), frame.len());
}
