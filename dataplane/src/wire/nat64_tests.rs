use super::*;
use crate::wire::testutil::{slow_checksum, slow_l4_checksum};
use crate::wire::testutil_v6::{slow_l4_checksum_v6, v6};
use crate::wire::{Ipv4Repr, Ipv6Repr};
use proptest::prelude::*;

const TERMINAL: &str = "2001:db8:aa:bb::7";
const GATEWAY4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 9);
const SERVER4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 33);

fn server6() -> Ipv6Addr {
    NAT64_WELL_KNOWN_PREFIX.embed(SERVER4)
}

/// Terminal → server over IPv6, and its IPv4 form through the gateway.
fn uplink() -> (To4, To6) {
    let to4 = To4 {
        outer: V4Addrs {
            src: GATEWAY4,
            dst: SERVER4,
        },
        inner: V4Addrs {
            src: SERVER4,
            dst: GATEWAY4,
        },
        ident: 0x4242,
    };
    let to6 = To6 {
        outer: V6Addrs {
            src: v6(TERMINAL),
            dst: server6(),
        },
        inner: V6Addrs {
            src: server6(),
            dst: v6(TERMINAL),
        },
    };
    (to4, to6)
}

/// Server → terminal: the reverse.
fn downlink() -> (To4, To6) {
    let (to4, to6) = uplink();
    (
        To4 {
            outer: to4.inner,
            inner: to4.outer,
            ident: 0,
        },
        To6 {
            outer: to6.inner,
            inner: to6.outer,
        },
    )
}

/// An L4 segment with its checksum (at `at`) computed from scratch.
fn with_checksum(mut l4: Vec<u8>, at: usize, compute: impl Fn(&[u8]) -> u16) -> Vec<u8> {
    l4[at] = 0;
    l4[at + 1] = 0;
    let mut csum = compute(&l4);
    if at == 6 && csum == 0 {
        csum = 0xffff;
    }
    l4[at..at + 2].copy_from_slice(&csum.to_be_bytes());
    l4
}

fn udp(src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let mut l4 = Vec::new();
    l4.extend_from_slice(&src_port.to_be_bytes());
    l4.extend_from_slice(&dst_port.to_be_bytes());
    l4.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    l4.extend_from_slice(&[0, 0]);
    l4.extend_from_slice(payload);
    l4
}

fn tcp(payload: &[u8]) -> Vec<u8> {
    let mut l4 = vec![
        0x9c, 0x40, 0x00, 0x50, 0, 0, 0x10, 0, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0,
    ];
    l4.extend_from_slice(payload);
    l4
}

fn echo(msg_type: u8, payload: &[u8]) -> Vec<u8> {
    let mut l4 = vec![msg_type, 0, 0, 0, 0x12, 0x34, 0x00, 0x01];
    l4.extend_from_slice(payload);
    l4
}

fn v6_packet(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, tc: u8, hop: u8, l4: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; 40];
    let mut repr = Ipv6Repr::new(src, dst, next_header, l4.len());
    repr.traffic_class = tc;
    repr.hop_limit = hop;
    repr.emit(&mut out).unwrap();
    out.extend_from_slice(l4);
    out
}

fn v6_l4(src: Ipv6Addr, dst: Ipv6Addr, proto: u8, l4: Vec<u8>) -> Vec<u8> {
    let at = match proto {
        PROTO_TCP => 16,
        PROTO_UDP => 6,
        _ => 2,
    };
    with_checksum(l4, at, |b| slow_l4_checksum_v6(src, dst, proto, b))
}

fn v4_packet(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, l4: &[u8], ident: u16) -> Vec<u8> {
    let mut out = vec![0u8; 20];
    let mut repr = Ipv4Repr::new(src, dst, proto, l4.len());
    repr.ident = ident;
    repr.dscp = 0x2e;
    repr.ecn = 1;
    repr.ttl = 50;
    repr.dont_fragment = 20 + l4.len() > DF_THRESHOLD;
    repr.emit(&mut out).unwrap();
    out.extend_from_slice(l4);
    out
}

fn translate4(packet: &[u8], to: &To4) -> Result<Vec<u8>, Nat64Error> {
    let mut out = vec![0u8; packet.len() + 100];
    let len = translate_6to4(packet, &mut out, to)?;
    out.truncate(len);
    Ok(out)
}

fn translate6(packet: &[u8], to: &To6) -> Result<Vec<u8>, Nat64Error> {
    let mut out = vec![0u8; packet.len() + 100];
    let len = translate_4to6(packet, &mut out, to)?;
    out.truncate(len);
    Ok(out)
}

fn assert_l4_checksum_v4(packet: &[u8], at: usize) {
    let ip = Ipv4Packet::new_checked(packet).unwrap();
    assert!(
        slow_checksum(ip.header()) == 0 || crate::wire::testutil::slow_sum(ip.header()) == 0xffff
    );
    let l4 = ip.payload();
    let stored = u16::from_be_bytes([l4[at], l4[at + 1]]);
    let mut zeroed = l4.to_vec();
    zeroed[at] = 0;
    zeroed[at + 1] = 0;
    let expected = if ip.protocol() == PROTO_ICMP {
        slow_checksum(&zeroed)
    } else {
        slow_l4_checksum(ip.src(), ip.dst(), ip.protocol(), &zeroed)
    };
    let expected = if ip.protocol() == PROTO_UDP && expected == 0 {
        0xffff
    } else {
        expected
    };
    assert_eq!(stored, expected, "checksum from scratch");
}

fn assert_l4_checksum_v6(packet: &[u8], l4_at: usize, proto: u8, at: usize) {
    let ip = Ipv6Packet::new_checked(packet).unwrap();
    let l4 = &packet[l4_at..];
    let stored = u16::from_be_bytes([l4[at], l4[at + 1]]);
    let mut zeroed = l4.to_vec();
    zeroed[at] = 0;
    zeroed[at + 1] = 0;
    let mut expected = slow_l4_checksum_v6(ip.src(), ip.dst(), proto, &zeroed);
    if proto == PROTO_UDP && expected == 0 {
        expected = 0xffff;
    }
    assert_eq!(stored, expected, "checksum from scratch");
}

#[test]
fn rfc6052_mapping_with_the_well_known_and_a_network_specific_prefix() {
    assert_eq!(server6(), v6("64:ff9b::c000:221"));
    assert_eq!(NAT64_WELL_KNOWN_PREFIX.extract(server6()), Some(SERVER4));
    assert_eq!(
        NAT64_WELL_KNOWN_PREFIX.extract(v6("64:ff9b:1::c000:221")),
        None
    );
    let own = Nat64Prefix::new(v6("2001:db8:64::ffff:ffff"));
    assert_eq!(own.prefix(), v6("2001:db8:64::"));
    assert_eq!(own.embed(SERVER4), v6("2001:db8:64::192.0.2.33"));
    assert_eq!(own.extract(v6("2001:db8:64::192.0.2.33")), Some(SERVER4));
    assert_eq!(Nat64Prefix::default(), NAT64_WELL_KNOWN_PREFIX);
}

#[test]
fn udp_6to4_byte_level() {
    let (to4, _) = uplink();
    let l4 = v6_l4(v6(TERMINAL), server6(), PROTO_UDP, udp(40000, 53, b"query"));
    let packet = v6_packet(v6(TERMINAL), server6(), PROTO_UDP, 0xb9, 63, &l4);
    let out = translate4(&packet, &to4).unwrap();
    let expected_header = [
        0x45, 0xb9, 0x00, 0x21, 0x42, 0x42, 0x00, 0x00, 63, 17, 0, 0, 198, 51, 100, 9, 192, 0, 2,
        33,
    ];
    let mut header = out[..20].to_vec();
    let ip_checksum = u16::from_be_bytes([header[10], header[11]]);
    header[10] = 0;
    header[11] = 0;
    assert_eq!(header, expected_header);
    assert_eq!(ip_checksum, slow_checksum(&header));
    assert_eq!(out[20..26], l4[..6], "ports and length unchanged");
    assert_eq!(&out[28..], b"query");
    assert_l4_checksum_v4(&out, 6);
}

#[test]
fn tcp_4to6_byte_level_and_big_packets_get_df_on_the_way_back() {
    let (_, to6) = downlink();
    let l4 = with_checksum(tcp(&[7; 1300]), 16, |b| {
        slow_l4_checksum(SERVER4, GATEWAY4, PROTO_TCP, b)
    });
    let packet = v4_packet(SERVER4, GATEWAY4, PROTO_TCP, &l4, 99);
    let out = translate6(&packet, &to6).unwrap();
    let ip = Ipv6Packet::new_checked(&out[..]).unwrap();
    assert_eq!(
        out[0..4],
        [0x60 | (0xb9 >> 4), 0x90, 0, 0],
        "tc = tos 0xb9, flow 0"
    );
    assert_eq!(
        (ip.payload_len(), ip.next_header(), ip.hop_limit()),
        (l4.len(), 6, 50)
    );
    assert_eq!((ip.src(), ip.dst()), (server6(), v6(TERMINAL)));
    assert_l4_checksum_v6(&out, 40, PROTO_TCP, 16);
    let back = translate4(
        &out,
        &To4 {
            ident: 99,
            ..downlink().0
        },
    )
    .unwrap();
    assert_eq!(back, packet, "DF set again above 1260 bytes");
}

#[test]
fn fragments_map_both_ways() {
    let (to4, to6) = uplink();
    // IPv6 first fragment with M set → IPv4 MF, low 16 bits of the ident.
    let l4 = v6_l4(v6(TERMINAL), server6(), PROTO_UDP, udp(40000, 53, &[1; 32]));
    let mut frag = vec![PROTO_UDP, 0, 0, 1, 0x00, 0x07, 0xbe, 0xef];
    frag.extend_from_slice(&l4[..16]);
    let packet = v6_packet(v6(TERMINAL), server6(), NEXT_FRAGMENT, 0, 64, &frag);
    let out = translate4(&packet, &to4).unwrap();
    let ip = Ipv4Packet::new_checked(&out[..]).unwrap();
    assert_eq!(
        (ip.ident(), ip.more_fragments(), ip.fragment_offset()),
        (0xbeef, true, 0)
    );
    assert!(!ip.dont_fragment());
    assert_eq!(ip.total_len(), 20 + 16);
    // The checksum field (in the first fragment) is patched incrementally:
    // after reassembly the datagram verifies over the IPv4 pseudo header.
    let mut whole = out[20..].to_vec();
    whole.extend_from_slice(&l4[16..]);
    assert_eq!(
        crate::wire::testutil::slow_sum(&[&whole[..6], &[0, 0], &whole[8..]].concat()),
        crate::wire::testutil::slow_sum(&[&l4[..6], &[0, 0], &l4[8..]].concat())
    );
    let ip_back = translate6(&out, &to6).unwrap();
    assert_eq!(ip_back[6], NEXT_FRAGMENT);
    assert_eq!(
        ip_back[40..48],
        [PROTO_UDP, 0, 0, 1, 0, 0, 0xbe, 0xef],
        "ident zero-extended"
    );
    assert_eq!(ip_back[48..], l4[..16]);

    // A later IPv4 fragment: data copied untouched.
    let mut v4 = v4_packet(GATEWAY4, SERVER4, PROTO_UDP, &[0xaa; 24], 0x1234);
    Ipv4Packet::new_unchecked(&mut v4[..]).set_fragment(false, false, 3);
    Ipv4Packet::new_unchecked(&mut v4[..]).fill_checksum();
    let out = translate6(&v4, &to6).unwrap();
    assert_eq!(out[40..48], [PROTO_UDP, 0, 0, 24, 0, 0, 0x12, 0x34]);
    assert_eq!(out[48..], [0xaa; 24]);
}

#[test]
fn ipv4_udp_without_checksum_gets_one_and_a_fragment_of_it_is_dropped() {
    let (_, to6) = downlink();
    let packet = v4_packet(SERVER4, GATEWAY4, PROTO_UDP, &udp(53, 40000, b"answer"), 1);
    let out = translate6(&packet, &to6).unwrap();
    assert_ne!(out[46..48], [0, 0]);
    assert_l4_checksum_v6(&out, 40, PROTO_UDP, 6);
    let mut frag = packet.clone();
    Ipv4Packet::new_unchecked(&mut frag[..]).set_fragment(false, true, 0);
    Ipv4Packet::new_unchecked(&mut frag[..]).fill_checksum();
    assert_eq!(
        translate6(&frag, &to6),
        Err(Nat64Error::UdpZeroChecksumFragment)
    );
    // And IPv6 UDP with checksum 0 is invalid.
    let zero = v6_packet(v6(TERMINAL), server6(), PROTO_UDP, 0, 64, &udp(1, 2, b"x"));
    assert_eq!(translate4(&zero, &uplink().0), Err(Nat64Error::BadChecksum));
}

#[test]
fn echo_translates_with_checksums_from_scratch() {
    let (to4, to6) = uplink();
    let l4 = v6_l4(v6(TERMINAL), server6(), PROTO_ICMPV6, echo(128, b"ping!"));
    let packet = v6_packet(v6(TERMINAL), server6(), PROTO_ICMPV6, 0, 64, &l4);
    let out = translate4(&packet, &to4).unwrap();
    assert_eq!(out[9], PROTO_ICMP);
    assert_eq!(out[20..22], [8, 0]);
    assert_eq!(out[24..], l4[4..]);
    assert_l4_checksum_v4(&out, 2);
    assert_eq!(translate6(&out, &to6).unwrap(), packet);
    // A wrong ICMPv6 checksum is not laundered into a right ICMP one.
    let mut bad = packet.clone();
    bad[45] ^= 1;
    assert_eq!(translate4(&bad, &to4), Err(Nat64Error::BadChecksum));
}

#[test]
fn port_unreachable_from_the_server_carries_the_translated_quote() {
    // The terminal's UDP datagram as the server received it...
    let quoted_l4 = with_checksum(udp(61000, 5000, b"hello"), 6, |b| {
        slow_l4_checksum(GATEWAY4, SERVER4, PROTO_UDP, b)
    });
    let quoted = v4_packet(GATEWAY4, SERVER4, PROTO_UDP, &quoted_l4, 7);
    // ...and the server's ICMP port unreachable about it.
    let mut icmp = vec![3, 3, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(&quoted);
    let icmp = with_checksum(icmp, 2, slow_checksum);
    let packet = v4_packet(SERVER4, GATEWAY4, PROTO_ICMP, &icmp, 8);
    let (_, to6) = downlink();
    let out = translate6(&packet, &to6).unwrap();
    assert_eq!(out[40..42], [1, 4], "ICMPv6 port unreachable");
    assert_l4_checksum_v6(&out, 40, PROTO_ICMPV6, 2);
    let inner = Ipv6Packet::new_checked(&out[48..]).unwrap();
    assert_eq!((inner.src(), inner.dst()), (v6(TERMINAL), server6()));
    assert_eq!(inner.payload_len(), quoted_l4.len());
    // The whole datagram was quoted, so its checksum can be checked from
    // scratch: patched for the IPv6 pseudo header.
    assert_l4_checksum_v6(&out[48..], 40, PROTO_UDP, 6);
    // And back: the IPv6 error becomes the same IPv4 one.
    let (to4, _) = downlink();
    let back = translate4(&out, &To4 { ident: 8, ..to4 }).unwrap();
    assert_eq!(back[20..28], packet[20..28]);
    let inner4 = Ipv4Packet::new_checked(&back[28..]).unwrap();
    assert_eq!((inner4.src(), inner4.dst()), (GATEWAY4, SERVER4));
    assert_l4_checksum_v4(&back[28..], 6);
    assert_l4_checksum_v4(&back, 2);
}

#[test]
fn an_error_quoting_an_echo_patches_the_inner_icmp_checksum() {
    let (_, to6) = downlink();
    let quoted_l4 = with_checksum(echo(8, b"abcd"), 2, slow_checksum);
    let quoted = v4_packet(GATEWAY4, SERVER4, PROTO_ICMP, &quoted_l4, 7);
    let mut icmp = vec![11, 0, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(&quoted);
    let icmp = with_checksum(icmp, 2, slow_checksum);
    let packet = v4_packet(SERVER4, GATEWAY4, PROTO_ICMP, &icmp, 8);
    let out = translate6(&packet, &to6).unwrap();
    assert_eq!(out[40..42], [3, 0], "time exceeded in transit");
    assert_eq!(out[88], 128, "inner echo request");
    assert_l4_checksum_v6(&out[48..], 40, PROTO_ICMPV6, 2);
}

#[test]
fn packet_too_big_and_fragmentation_needed_adjust_the_mtu() {
    let (to4, to6) = downlink();
    let quoted_l4 = v6_l4(
        v6(TERMINAL),
        server6(),
        PROTO_UDP,
        udp(40000, 53, &[0; 100]),
    );
    let quoted = v6_packet(v6(TERMINAL), server6(), PROTO_UDP, 0, 64, &quoted_l4);
    let router = v6("2001:db8:ff::1");
    let ptb = v6_l4(
        router,
        v6(TERMINAL),
        PROTO_ICMPV6,
        [&[2u8, 0, 0, 0, 0, 0, 0x05, 0xdc][..], &quoted].concat(),
    );
    let packet = v6_packet(router, v6(TERMINAL), PROTO_ICMPV6, 0, 64, &ptb);
    let out = translate4(
        &packet,
        &To4 {
            outer: V4Addrs {
                src: GATEWAY4,
                dst: SERVER4,
            },
            ..to4
        },
    )
    .unwrap();
    assert_eq!(out[20..22], [3, 4]);
    assert_eq!(u16::from_be_bytes([out[26], out[27]]), 1480);
    assert_l4_checksum_v4(&out, 2);

    let frag_needed = |mtu: u16| {
        let quoted = v4_packet(GATEWAY4, SERVER4, PROTO_UDP, &udp(1, 2, &[0; 1400]), 1);
        let mut icmp = vec![3, 4, 0, 0, 0, 0];
        icmp.extend_from_slice(&mtu.to_be_bytes());
        icmp.extend_from_slice(&quoted[..28]);
        let icmp = with_checksum(icmp, 2, slow_checksum);
        let packet = v4_packet(SERVER4, GATEWAY4, PROTO_ICMP, &icmp, 1);
        translate6(&packet, &to6).unwrap()
    };
    let out = frag_needed(1400);
    assert_eq!(out[40..42], [2, 0]);
    assert_eq!(out[44..48], [0, 0, 0x05, 0x8c], "1400 + 20");
    assert_l4_checksum_v6(&out, 40, PROTO_ICMPV6, 2);
    // No MTU (a pre-RFC 1191 router): the plateau below the quoted 1428.
    let out = frag_needed(0);
    assert_eq!(
        u32::from_be_bytes([out[44], out[45], out[46], out[47]]),
        1006 + 20
    );
}

#[test]
fn icmp_type_and_code_mapping_follows_rfc7915() {
    assert_eq!(map_icmp_6to4(1, 0, 0), Some((3, 1, 0)));
    assert_eq!(map_icmp_6to4(1, 1, 0), Some((3, 10, 0)));
    assert_eq!(map_icmp_6to4(1, 4, 0), Some((3, 3, 0)));
    assert_eq!(map_icmp_6to4(1, 5, 0), None);
    assert_eq!(map_icmp_6to4(3, 1, 0), Some((11, 1, 0)));
    assert_eq!(map_icmp_6to4(4, 0, 7), Some((12, 0, 8 << 24)));
    assert_eq!(map_icmp_6to4(4, 0, 24), Some((12, 0, 16 << 24)));
    assert_eq!(map_icmp_6to4(4, 0, 2), None);
    assert_eq!(map_icmp_6to4(4, 1, 0), Some((3, 2, 0)));
    assert_eq!(
        map_icmp_6to4(135, 0, 0),
        None,
        "neighbor discovery stays local"
    );
    assert_eq!(map_icmp_4to6(3, 13, 0, 0), Some((1, 1, 0)));
    assert_eq!(map_icmp_4to6(3, 2, 0, 0), Some((4, 1, 6)));
    assert_eq!(map_icmp_4to6(3, 14, 0, 0), None);
    assert_eq!(map_icmp_4to6(12, 0, 9 << 24, 0), Some((4, 0, 6)));
    assert_eq!(map_icmp_4to6(12, 0, 10 << 24, 0), None);
    assert_eq!(
        map_icmp_4to6(13, 0, 0, 0),
        None,
        "timestamp has no IPv6 form"
    );
    let ns = v6_l4(
        v6(TERMINAL),
        server6(),
        PROTO_ICMPV6,
        vec![135, 0, 0, 0, 0, 0, 0, 0],
    );
    let packet = v6_packet(v6(TERMINAL), server6(), PROTO_ICMPV6, 0, 255, &ns);
    assert_eq!(
        translate4(&packet, &uplink().0),
        Err(Nat64Error::UntranslatableIcmp)
    );
}

#[test]
fn routing_headers_with_segments_left_and_other_protocols_are_not_translated() {
    let (to4, _) = uplink();
    let l4 = v6_l4(v6(TERMINAL), server6(), PROTO_UDP, udp(1, 2, b"x"));
    let mut routed = vec![PROTO_UDP, 0, 0, 1, 0, 0, 0, 0];
    routed.extend_from_slice(&l4);
    let packet = v6_packet(v6(TERMINAL), server6(), NEXT_ROUTING, 0, 64, &routed);
    assert_eq!(translate4(&packet, &to4), Err(Nat64Error::RoutingHeader));
    routed[3] = 0;
    let packet = v6_packet(v6(TERMINAL), server6(), NEXT_ROUTING, 0, 64, &routed);
    let out = translate4(&packet, &to4).unwrap();
    assert_eq!(
        out.len(),
        20 + l4.len(),
        "the spent routing header is dropped"
    );
    let gre = v6_packet(v6(TERMINAL), server6(), 47, 0, 64, &[0; 8]);
    assert_eq!(translate4(&gre, &to4), Err(Nat64Error::UnsupportedProtocol));
    let mut small = [0u8; 28];
    assert_eq!(
        translate_6to4(&packet, &mut small, &to4),
        Err(Nat64Error::BufferTooSmall)
    );
}

#[test]
fn a_large_ipv4_error_is_cut_to_fit_1280_bytes() {
    let (_, to6) = downlink();
    let quoted_l4 = with_checksum(udp(1, 2, &[5; 1400]), 6, |b| {
        slow_l4_checksum(GATEWAY4, SERVER4, PROTO_UDP, b)
    });
    let quoted = v4_packet(GATEWAY4, SERVER4, PROTO_UDP, &quoted_l4, 7);
    let mut icmp = vec![3, 1, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(&quoted);
    let icmp = with_checksum(icmp, 2, slow_checksum);
    let packet = v4_packet(SERVER4, GATEWAY4, PROTO_ICMP, &icmp, 8);
    let out = translate6(&packet, &to6).unwrap();
    assert_eq!(out.len(), 1280);
    assert_l4_checksum_v6(&out, 40, PROTO_ICMPV6, 2);
}

#[test]
fn an_echo_in_an_atomic_fragment_translates_and_a_real_fragment_of_one_does_not() {
    let (to4, _) = uplink();
    let l4 = v6_l4(v6(TERMINAL), server6(), PROTO_ICMPV6, echo(128, b"ping"));
    let atomic = [&[PROTO_ICMPV6, 0, 0, 0, 0, 0, 0, 5][..], &l4].concat();
    let packet = v6_packet(v6(TERMINAL), server6(), NEXT_FRAGMENT, 0, 64, &atomic);
    let out = translate4(&packet, &to4).unwrap();
    assert_eq!(out[20], 8);
    assert_l4_checksum_v4(&out, 2);
    let first_of_two = [&[PROTO_ICMPV6, 0, 0, 1, 0, 0, 0, 5][..], &l4].concat();
    let packet = v6_packet(v6(TERMINAL), server6(), NEXT_FRAGMENT, 0, 64, &first_of_two);
    assert_eq!(translate4(&packet, &to4), Err(Nat64Error::FragmentedIcmp));
}

#[test]
fn error_reasons_are_unique_snake_case() {
    let mut seen = std::collections::HashSet::new();
    for err in Nat64Error::ALL {
        assert!(err
            .reason()
            .chars()
            .all(|c| c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit()));
        assert!(seen.insert(err.reason()));
    }
}

fn arb_v6_flow() -> impl Strategy<Value = (Ipv6Addr, Ipv4Addr, u8, u8, u8, Vec<u8>)> {
    (
        any::<u128>(),
        any::<u32>(),
        prop_oneof![Just(PROTO_UDP), Just(PROTO_TCP), Just(PROTO_ICMPV6)],
        any::<u8>(),
        any::<u8>(),
        proptest::collection::vec(any::<u8>(), 0..1500),
    )
        .prop_map(|(src, dst, proto, tc, hop, payload)| {
            (
                Ipv6Addr::from(src),
                Ipv4Addr::from(dst),
                proto,
                tc,
                hop,
                payload,
            )
        })
}

fn l4_for(proto: u8, payload: &[u8], echo_type: u8) -> Vec<u8> {
    match proto {
        PROTO_UDP => udp(40000, 443, payload),
        PROTO_TCP => tcp(payload),
        _ => echo(echo_type, payload),
    }
}

proptest! {
    #[test]
    fn any_v6_flow_round_trips_through_v4_exactly(
        (src6, server, proto, tc, hop, payload) in arb_v6_flow(),
        gateway in any::<u32>(),
        reply in any::<bool>(),
        ident in any::<u16>(),
    ) {
        let dst6 = NAT64_WELL_KNOWN_PREFIX.embed(server);
        let gateway = Ipv4Addr::from(gateway);
        let l4 = v6_l4(src6, dst6, proto, l4_for(proto, &payload, if reply { 129 } else { 128 }));
        let packet = v6_packet(src6, dst6, proto, tc, hop, &l4);
        let to4 = To4 {
            outer: V4Addrs { src: gateway, dst: server },
            inner: V4Addrs { src: server, dst: gateway },
            ident,
        };
        let v4 = translate4(&packet, &to4).unwrap();
        let at = match proto { PROTO_TCP => 16, PROTO_UDP => 6, _ => 2 };
        assert_l4_checksum_v4(&v4, at);
        let to6 = To6 {
            outer: V6Addrs { src: src6, dst: dst6 },
            inner: V6Addrs { src: dst6, dst: src6 },
        };
        prop_assert_eq!(translate6(&v4, &to6).unwrap(), packet);
    }

    #[test]
    fn any_v4_flow_round_trips_through_v6_exactly(
        src in any::<u32>(), dst in any::<u32>(),
        proto in prop_oneof![Just(PROTO_UDP), Just(PROTO_TCP), Just(PROTO_ICMP)],
        payload in proptest::collection::vec(any::<u8>(), 0..1500),
        ident in any::<u16>(),
        terminal in any::<u128>(),
    ) {
        let (src, dst) = (Ipv4Addr::from(src), Ipv4Addr::from(dst));
        let l4 = l4_for(proto, &payload, 0);
        let l4 = match proto {
            PROTO_ICMP => with_checksum(l4, 2, slow_checksum),
            _ => with_checksum(l4, if proto == PROTO_TCP { 16 } else { 6 }, |b| slow_l4_checksum(src, dst, proto, b)),
        };
        let packet = v4_packet(src, dst, proto, &l4, ident);
        let (src6, dst6) = (NAT64_WELL_KNOWN_PREFIX.embed(src), Ipv6Addr::from(terminal));
        let to6 = To6 { outer: V6Addrs { src: src6, dst: dst6 }, inner: V6Addrs { src: dst6, dst: src6 } };
        let v6 = translate6(&packet, &to6).unwrap();
        let to4 = To4 { outer: V4Addrs { src, dst }, inner: V4Addrs { src: dst, dst: src }, ident };
        prop_assert_eq!(translate4(&v6, &to4).unwrap(), packet);
    }

    #[test]
    fn only_the_documented_fields_are_lost(
        (src6, server, proto, tc, hop, payload) in arb_v6_flow(),
        flow_label in 0u32..0x10_0000,
        dest_options in any::<bool>(),
    ) {
        let dst6 = NAT64_WELL_KNOWN_PREFIX.embed(server);
        let l4 = v6_l4(src6, dst6, proto, l4_for(proto, &payload, 128));
        let plain = v6_packet(src6, dst6, proto, tc, hop, &l4);
        // The same packet with a flow label and a destination-options header.
        let mut rich = plain.clone();
        Ipv6Packet::new_unchecked(&mut rich[..]).set_version_tc_flow(tc, flow_label);
        if dest_options {
            let mut body = vec![proto, 0, 1, 4, 0, 0, 0, 0];
            body.extend_from_slice(&l4);
            rich = v6_packet(src6, dst6, 60, tc, hop, &body);
            Ipv6Packet::new_unchecked(&mut rich[..]).set_version_tc_flow(tc, flow_label);
        }
        let (to4, to6) = (
            To4 { outer: V4Addrs { src: GATEWAY4, dst: server }, inner: V4Addrs { src: server, dst: GATEWAY4 }, ident: 1 },
            To6 { outer: V6Addrs { src: src6, dst: dst6 }, inner: V6Addrs { src: dst6, dst: src6 } },
        );
        let back = translate6(&translate4(&rich, &to4).unwrap(), &to6).unwrap();
        prop_assert_eq!(back, plain);
    }

    #[test]
    fn a_v6_fragment_round_trips_when_its_ident_fits_16_bits(
        ident in 0u32..0x1_0000, offset in 0u16..0x2000, more in any::<bool>(),
        data in proptest::collection::vec(any::<u8>(), 8..200),
    ) {
        // An atomic fragment (offset 0, no more) is a whole datagram: its
        // IPv4 form is not a fragment, so it comes back without a fragment
        // header (RFC 7915 5.1.1; tested on its own above).
        prop_assume!(offset != 0 || more);
        let (to4, to6) = uplink();
        let mut frag = vec![PROTO_UDP, 0];
        frag.extend_from_slice(&((offset << 3) | u16::from(more)).to_be_bytes());
        frag.extend_from_slice(&ident.to_be_bytes());
        let mut data = data;
        if offset == 0 {
            data[6] = 0x12; // a non-zero UDP checksum in a first fragment
        }
        frag.extend_from_slice(&data);
        let packet = v6_packet(v6(TERMINAL), server6(), NEXT_FRAGMENT, 0, 64, &frag);
        let v4 = translate4(&packet, &to4).unwrap();
        prop_assert_eq!(translate6(&v4, &to6).unwrap(), packet);
    }

    #[test]
    fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300), small in 0usize..100) {
        let (to4, to6) = uplink();
        let mut out = vec![0u8; 1600];
        let _ = translate_6to4(&bytes, &mut out, &to4);
        let _ = translate_4to6(&bytes, &mut out, &to6);
        let _ = translate_6to4(&bytes, &mut out[..small], &to4);
        let _ = translate_4to6(&bytes, &mut out[..small], &to6);
    }
}
