//! IPv6 through the pipeline (issue 14, first slice): the port addresses
//! answer Neighbor Discovery and echo, byte for byte against frames and
//! checksums written out here from the RFCs; everything else IPv6 is
//! dropped with the reason that says what it was; IPv4 is untouched.

use super::*;
use crate::wire::frames::gtpu_encap;
use crate::wire::testutil_v6::slow_l4_checksum_v6;
use crate::wire::{EthernetRepr, Ipv6Repr, ETHERTYPE_IPV6};
use std::net::Ipv6Addr;

const ICMPV6: u8 = 58;
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
const ALL_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);

/// ff02::1:ffXX:XXXX of `a`, written out (RFC 4291 2.7.1).
pub(super) fn solicited_node(a: Ipv6Addr) -> Ipv6Addr {
    let o = a.octets();
    Ipv6Addr::from([
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, o[13], o[14], o[15],
    ])
}

/// An Ethernet frame (optionally tagged) carrying an IPv6 packet.
pub(super) fn v6_frame(
    macs: ([u8; 6], [u8; 6]),
    vlan: Option<u16>,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    next_header: u8,
    hop_limit: u8,
    payload: &[u8],
) -> Vec<u8> {
    let eth = EthernetRepr {
        dst: MacAddr(macs.1),
        src: MacAddr(macs.0),
        vlan,
        ethertype: ETHERTYPE_IPV6,
    };
    let mut frame = vec![0u8; 18 + 40];
    let l2 = eth.emit(&mut frame).unwrap();
    frame.truncate(l2 + 40);
    let mut ip = Ipv6Repr::new(src, dst, next_header, payload.len());
    ip.hop_limit = hop_limit;
    ip.emit(&mut frame[l2..]).unwrap();
    frame.extend_from_slice(payload);
    frame
}

/// An ICMPv6 message with its checksum computed from scratch.
fn icmpv6(src: Ipv6Addr, dst: Ipv6Addr, head: [u8; 4], body: u32, data: &[u8]) -> Vec<u8> {
    let mut m = head.to_vec();
    m.extend_from_slice(&body.to_be_bytes());
    m.extend_from_slice(data);
    m[2..4].copy_from_slice(&[0, 0]);
    let c = slow_l4_checksum_v6(src, dst, ICMPV6, &m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    m
}

/// A Neighbor Solicitation for `target` with a source link-layer option.
pub(super) fn ns(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    target: Ipv6Addr,
    hop: u8,
    vlan: Option<u16>,
) -> Vec<u8> {
    let mut data = target.octets().to_vec();
    if !src.is_unspecified() {
        data.extend_from_slice(&[1, 1]);
        data.extend_from_slice(&UE_MAC);
    }
    let m = icmpv6(src, dst, [135, 0, 0, 0], 0, &data);
    let dst_mac = if dst.is_multicast() {
        let o = dst.octets();
        [0x33, 0x33, o[12], o[13], o[14], o[15]]
    } else {
        port_mac(ACC)
    };
    v6_frame((UE_MAC, dst_mac), vlan, src, dst, ICMPV6, hop, &m)
}

/// The Neighbor Advertisement RFC 4861 7.2.4 asks for, written out byte by
/// byte: from `target` with our MAC to `to` at `to_mac`, `flags`, target
/// link-layer option = the port's MAC, hop limit 255.
fn expected_na(
    to: Ipv6Addr,
    to_mac: [u8; 6],
    target: Ipv6Addr,
    flags: u8,
    vlan: Option<u16>,
) -> Vec<u8> {
    let mut f = to_mac.to_vec();
    f.extend_from_slice(&port_mac(ACC));
    if let Some(id) = vlan {
        f.extend_from_slice(&[0x81, 0x00]);
        f.extend_from_slice(&id.to_be_bytes());
    }
    f.extend_from_slice(&[0x86, 0xdd]);
    f.extend_from_slice(&[0x60, 0, 0, 0, 0, 32, ICMPV6, 255]);
    f.extend_from_slice(&target.octets());
    f.extend_from_slice(&to.octets());
    let mut m = vec![136, 0, 0, 0, flags, 0, 0, 0];
    m.extend_from_slice(&target.octets());
    m.extend_from_slice(&[2, 1]);
    m.extend_from_slice(&port_mac(ACC));
    let c = slow_l4_checksum_v6(target, to, ICMPV6, &m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&m);
    f
}

#[test]
fn neighbor_solicitation_for_the_port_address_is_answered_byte_exact() {
    let mut lab = Lab::new(1);
    // To the solicited-node group (address resolution) and to the address
    // itself (reachability confirmation): the same advertisement.
    for dst in [solicited_node(ACC_V6), ACC_V6] {
        let (v, out) = lab.up(ACC, &ns(UE_V6, dst, ACC_V6, 255, None));
        assert_eq!(v, Verdict::Forward(ACC), "NS to {dst}");
        assert_eq!(out, expected_na(UE_V6, UE_MAC, ACC_V6, 0x60, None));
    }
    assert_eq!(lab.workers[0].counters().nd_replies.get(), 2);
    assert_eq!(lab.workers[0].counters().tx_packets.get(), 2);
}

#[test]
fn neighbor_solicitation_in_a_vlan_is_answered_in_the_vlan() {
    let mut lab = Lab::new(1);
    let frame = ns(UE_V6, solicited_node(ACC_V6), ACC_V6, 255, Some(42));
    let (v, out) = lab.up(ACC, &frame);
    assert_eq!(v, Verdict::Forward(ACC));
    assert_eq!(out, expected_na(UE_V6, UE_MAC, ACC_V6, 0x60, Some(42)));
}

#[test]
fn duplicate_address_detection_for_our_address_is_defended_to_all_nodes() {
    let mut lab = Lab::new(1);
    let frame = ns(
        Ipv6Addr::UNSPECIFIED,
        solicited_node(ACC_V6),
        ACC_V6,
        255,
        None,
    );
    let (v, out) = lab.up(ACC, &frame);
    assert_eq!(v, Verdict::Forward(ACC));
    // Not solicited (nobody can receive a unicast answer), override set.
    let all_nodes_mac = [0x33, 0x33, 0, 0, 0, 1];
    assert_eq!(
        out,
        expected_na(ALL_NODES, all_nodes_mac, ACC_V6, 0x20, None)
    );
}

#[test]
fn neighbor_discovery_with_a_hop_limit_below_255_is_dropped_and_counted() {
    let mut lab = Lab::new(1);
    for hop in [254, 64, 1] {
        let (v, _) = lab.up(ACC, &ns(UE_V6, solicited_node(ACC_V6), ACC_V6, hop, None));
        assert_eq!(
            v,
            Verdict::Drop(DropReason::Icmpv6BadNeighborDiscovery),
            "hop limit {hop}"
        );
    }
    assert_eq!(lab.drops(DropReason::Icmpv6BadNeighborDiscovery), 3);
    assert_eq!(lab.workers[0].counters().nd_replies.get(), 0);
}

#[test]
fn neighbor_discovery_tandem_takes_no_part_in_is_ignored_and_counted() {
    let mut lab = Lab::new(1);
    // A router solicitation: Tandem is not a router advertiser.
    let rs = icmpv6(
        UE_V6,
        ALL_ROUTERS,
        [133, 0, 0, 0],
        0,
        &[1, 1, 2, 0, 0, 0, 0xaa, 1],
    );
    let rs = v6_frame(
        (UE_MAC, [0x33, 0x33, 0, 0, 0, 2]),
        None,
        UE_V6,
        ALL_ROUTERS,
        ICMPV6,
        255,
        &rs,
    );
    assert_eq!(lab.up(ACC, &rs).0, Verdict::Drop(DropReason::NdIgnored));
    // A solicitation for someone else's address, and for the server
    // port's address on the access port.
    let other: Ipv6Addr = "2001:db8:1::77".parse().unwrap();
    let (v, _) = lab.up(ACC, &ns(UE_V6, solicited_node(other), other, 255, None));
    assert_eq!(v, Verdict::Drop(DropReason::NdIgnored));
    let (v, _) = lab.up(ACC, &ns(UE_V6, solicited_node(SRV_V6), SRV_V6, 255, None));
    assert_eq!(v, Verdict::Drop(DropReason::NdIgnored));
    // An advertisement (no IPv6 neighbour cache yet).
    let mut data = UE_V6.octets().to_vec();
    data.extend_from_slice(&[2, 1]);
    data.extend_from_slice(&UE_MAC);
    let na = icmpv6(UE_V6, ALL_NODES, [136, 0, 0, 0], 0x2000_0000, &data);
    let na = v6_frame(
        (UE_MAC, [0x33, 0x33, 0, 0, 0, 1]),
        None,
        UE_V6,
        ALL_NODES,
        ICMPV6,
        255,
        &na,
    );
    assert_eq!(lab.up(ACC, &na).0, Verdict::Drop(DropReason::NdIgnored));
    assert_eq!(lab.drops(DropReason::NdIgnored), 4);
}

#[test]
fn a_solicitation_with_a_wrong_checksum_is_not_answered() {
    let mut lab = Lab::new(1);
    let mut frame = ns(UE_V6, solicited_node(ACC_V6), ACC_V6, 255, None);
    let at = 14 + 40 + 2;
    frame[at] ^= 0x40;
    assert_eq!(
        lab.up(ACC, &frame).0,
        Verdict::Drop(DropReason::Icmpv6BadChecksum)
    );
}

pub(super) fn echo_request(src: Ipv6Addr, dst: Ipv6Addr, vlan: Option<u16>) -> Vec<u8> {
    let m = icmpv6(src, dst, [128, 0, 0, 0], 0x1234_0007, b"tandem ping six");
    v6_frame((UE_MAC, port_mac(ACC)), vlan, src, dst, ICMPV6, 64, &m)
}

#[test]
fn echo_request_to_the_port_address_is_answered() {
    let mut lab = Lab::new(1);
    for vlan in [None, Some(7)] {
        let (v, out) = lab.up(ACC, &echo_request(UE_V6, ACC_V6, vlan));
        assert_eq!(v, Verdict::Forward(ACC));
        let m = icmpv6(
            ACC_V6,
            UE_V6,
            [129, 0, 0, 0],
            0x1234_0007,
            b"tandem ping six",
        );
        let want = v6_frame((port_mac(ACC), UE_MAC), vlan, ACC_V6, UE_V6, ICMPV6, 64, &m);
        assert_eq!(out, want, "vlan {vlan:?}");
    }
    assert_eq!(lab.workers[0].counters().icmp_replies.get(), 2);
}

#[test]
fn echo_to_an_address_that_is_not_ours_is_not_served() {
    let mut lab = Lab::new(1);
    let vip_like: Ipv6Addr = "2001:db8:9::1".parse().unwrap();
    let (v, _) = lab.up(ACC, &echo_request(UE_V6, vip_like, None));
    assert_eq!(v, Verdict::Drop(DropReason::Ipv6NotServed));
    // The server port's address is not answered on the access port.
    let (v, _) = lab.up(ACC, &echo_request(UE_V6, SRV_V6, None));
    assert_eq!(v, Verdict::Drop(DropReason::Ipv6NotServed));
}

#[test]
fn bad_echo_requests_are_dropped_with_their_reason() {
    let mut lab = Lab::new(1);
    let mut bad_sum = echo_request(UE_V6, ACC_V6, None);
    let last = bad_sum.len() - 1;
    bad_sum[last] ^= 1;
    assert_eq!(
        lab.up(ACC, &bad_sum).0,
        Verdict::Drop(DropReason::Icmpv6BadChecksum)
    );
    let mut short = echo_request(UE_V6, ACC_V6, None);
    short.truncate(14 + 40 + 4);
    short[18..20].copy_from_slice(&4u16.to_be_bytes());
    assert_eq!(
        lab.up(ACC, &short).0,
        Verdict::Drop(DropReason::Icmpv6Truncated)
    );
    // With a destination-options header: no answer that would echo it.
    let m = icmpv6(UE_V6, ACC_V6, [128, 0, 0, 0], 1, b"x");
    let mut payload = vec![ICMPV6, 0, 1, 4, 0, 0, 0, 0];
    payload.extend_from_slice(&m);
    let frame = v6_frame(
        (UE_MAC, port_mac(ACC)),
        None,
        UE_V6,
        ACC_V6,
        60,
        64,
        &payload,
    );
    assert_eq!(
        lab.up(ACC, &frame).0,
        Verdict::Drop(DropReason::Icmpv6NotPlainIpv6)
    );
    // An echo reply to us: not a type Tandem answers.
    let m = icmpv6(UE_V6, ACC_V6, [129, 0, 0, 0], 1, b"x");
    let frame = v6_frame((UE_MAC, port_mac(ACC)), None, UE_V6, ACC_V6, ICMPV6, 64, &m);
    assert_eq!(
        lab.up(ACC, &frame).0,
        Verdict::Drop(DropReason::Icmpv6UnsupportedType)
    );
}

/// `n` destination-options headers, then a UDP header.
fn chain(n: usize) -> Vec<u8> {
    let mut p = Vec::new();
    for i in 0..n {
        let next = if i + 1 == n { 17 } else { 60 };
        p.extend_from_slice(&[next, 0, 1, 4, 0, 0, 0, 0]);
    }
    p.extend_from_slice(&[0x9c, 0x40, 0, 53, 0, 8, 0, 0]);
    p
}

#[test]
fn an_extension_header_chain_over_the_bound_is_dropped_and_counted() {
    let mut lab = Lab::new(1);
    let ok = v6_frame(
        (UE_MAC, port_mac(ACC)),
        None,
        UE_V6,
        ACC_V6,
        60,
        64,
        &chain(crate::wire::MAX_EXTENSION_HEADERS),
    );
    assert_eq!(lab.up(ACC, &ok).0, Verdict::Drop(DropReason::Ipv6NotServed));
    let long = v6_frame(
        (UE_MAC, port_mac(ACC)),
        None,
        UE_V6,
        ACC_V6,
        60,
        64,
        &chain(crate::wire::MAX_EXTENSION_HEADERS + 1),
    );
    assert_eq!(
        lab.up(ACC, &long).0,
        Verdict::Drop(DropReason::Ipv6ExtensionChainTooLong)
    );
    assert_eq!(lab.drops(DropReason::Ipv6ExtensionChainTooLong), 1);
}

#[test]
fn malformed_ipv6_is_dropped_with_its_reason() {
    let mut lab = Lab::new(1);
    let good = echo_request(UE_V6, ACC_V6, None);
    let short = good[..14 + 39].to_vec();
    assert_eq!(
        lab.up(ACC, &short).0,
        Verdict::Drop(DropReason::Ipv6Truncated)
    );
    let mut long_payload = good.clone();
    long_payload[18..20].copy_from_slice(&500u16.to_be_bytes());
    assert_eq!(
        lab.up(ACC, &long_payload).0,
        Verdict::Drop(DropReason::Ipv6BadPayloadLength)
    );
    // Hop-by-hop options after another extension header.
    let mut p = vec![0, 0, 1, 4, 0, 0, 0, 0];
    p.extend_from_slice(&[17, 0, 1, 4, 0, 0, 0, 0]);
    let bad = v6_frame((UE_MAC, port_mac(ACC)), None, UE_V6, ACC_V6, 60, 64, &p);
    assert_eq!(
        lab.up(ACC, &bad).0,
        Verdict::Drop(DropReason::Ipv6BadExtensionHeader)
    );
}

#[test]
fn ipv6_to_or_through_the_appliance_is_not_served_on_any_port() {
    let mut lab = Lab::new(1);
    let udp = [0x9c, 0x40, 0, 53, 0, 8, 0, 0];
    let server: Ipv6Addr = "2001:db8:2::21".parse().unwrap();
    for (port, src, dst) in [
        (ACC, UE_V6, "2001:db8:9::1".parse().unwrap()),
        (ACC, UE_V6, ACC_V6),
        (SRV, server, SRV_V6),
        (EXT, server, UE_V6),
    ] {
        let frame = v6_frame((UE_MAC, port_mac(port)), None, src, dst, 17, 64, &udp);
        assert_eq!(
            lab.up(port, &frame).0,
            Verdict::Drop(DropReason::Ipv6NotServed),
            "{src} -> {dst} on port {port}"
        );
    }
    // A fragment of an echo request to our address is not reassembled.
    let m = icmpv6(UE_V6, ACC_V6, [128, 0, 0, 0], 1, b"x");
    let mut p = vec![ICMPV6, 0, 0, 1, 0, 0, 0, 9];
    p.extend_from_slice(&m);
    let frag = v6_frame((UE_MAC, port_mac(ACC)), None, UE_V6, ACC_V6, 44, 64, &p);
    assert_eq!(
        lab.up(ACC, &frag).0,
        Verdict::Drop(DropReason::Ipv6NotServed)
    );
    assert_eq!(lab.drops(DropReason::Ipv6NotServed), 5);
    assert_eq!(lab.drops(DropReason::UnsupportedEthertype), 0);
    assert_eq!(lab.live(), 0);
}

#[test]
fn ipv6_inside_a_gtpu_tunnel_is_read_and_not_served() {
    let mut lab = Lab::with(1, 1024, SessionKeyMode::GtpTeid, PORT_RANGE);
    let outer = FrameSpec {
        src_mac: MacAddr(UE_MAC),
        dst_mac: MacAddr(port_mac(ACC)),
        vlan: None,
        src_ip: Ipv4Addr::new(10, 1, 0, 50),
        dst_ip: Ipv4Addr::new(10, 1, 0, 1),
        src_port: 2152,
        dst_port: 2152,
        ttl: 64,
    };
    let inner = echo_request(UE_V6, "2001:db8:9::1".parse().unwrap(), None);
    let frame = gtpu_encap(&outer, 0x1234_5678, &inner[14..]).unwrap();
    assert_eq!(
        lab.up(ACC, &frame).0,
        Verdict::Drop(DropReason::Ipv6NotServed)
    );
    let cut = gtpu_encap(&outer, 0x1234_5678, &inner[14..40]).unwrap();
    assert_eq!(
        lab.up(ACC, &cut).0,
        Verdict::Drop(DropReason::Ipv6Truncated)
    );
    let chained = v6_frame(
        (UE_MAC, port_mac(ACC)),
        None,
        UE_V6,
        ACC_V6,
        60,
        64,
        &chain(crate::wire::MAX_EXTENSION_HEADERS + 1),
    );
    let frame = gtpu_encap(&outer, 0x1234_5678, &chained[14..]).unwrap();
    assert_eq!(
        lab.up(ACC, &frame).0,
        Verdict::Drop(DropReason::Ipv6ExtensionChainTooLong)
    );
    // IPv4 in the tunnel still opens its user session.
    let frame = gtpu_encap(&outer, 0x1234_5678, &syn(UE, 45000, VIP, 80)[14..]).unwrap();
    assert_eq!(lab.up(ACC, &frame).0, Verdict::Forward(SRV));
}

#[test]
fn ipv4_is_unchanged_next_to_ipv6() {
    let mut lab = Lab::new(1);
    let _ = lab.up(ACC, &ns(UE_V6, solicited_node(ACC_V6), ACC_V6, 255, None));
    let _ = lab.up(ACC, &echo_request(UE_V6, ACC_V6, None));
    let (v, out) = lab.up(ACC, &syn(UE, 40000, VIP, 80));
    assert_eq!(v, Verdict::Forward(SRV));
    let o = decode(&out);
    assert_eq!((o.src, o.dport), (GW, 8080));
    let (v, out) = lab.up(ACC, &echo(UE, VIP, 9, (UE_MAC, port_mac(ACC))));
    assert_eq!(v, Verdict::Forward(ACC));
    assert_eq!(decode(&out).dst, UE);
    assert_eq!(lab.live(), 1);
    assert_eq!(lab.workers[0].counters().dropped_total(), 0);
}
