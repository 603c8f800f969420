use super::*;
use crate::wire::icmpv6::{
    solicited_node_multicast, ICMPV6_NEIGHBOR_ADVERT, ICMPV6_PACKET_TOO_BIG, ND_OPT_SOURCE_LLADDR,
};
use crate::wire::testutil_v6::{icmpv6_message, ipv6_frame, slow_l4_checksum_v6, v6, MAC_A, MAC_B};
use crate::wire::PROTO_UDP;
use proptest::prelude::*;

const OUR_MAC: MacAddr = MacAddr([0x02, 0x7a, 0, 0, 0, 1]);

fn l4_verifies(frame: &[u8], l3: usize) -> bool {
    let ip = Ipv6Packet::new_checked(&frame[l3..]).unwrap();
    let message = ip.payload();
    let mut zeroed = message.to_vec();
    zeroed[2] = 0;
    zeroed[3] = 0;
    u16::from_be_bytes([message[2], message[3]])
        == slow_l4_checksum_v6(ip.src(), ip.dst(), 58, &zeroed)
}

#[test]
fn echo_request_becomes_reply_in_place() {
    let (client, us) = (v6("2001:db8::1"), v6("2001:db8::a"));
    let message = icmpv6_message(client, us, ICMPV6_ECHO_REQUEST, 0, 0x0042_0001, b"abcdefgh");
    let mut frame = ipv6_frame(Some(7), client, us, 58, 3, &message);
    turn_into_echo_reply_v6(&mut frame).unwrap();
    let eth = EthernetFrame::new_checked(&frame[..]).unwrap();
    assert_eq!((eth.src(), eth.dst(), eth.vlan()), (MAC_B, MAC_A, Some(7)));
    let ip = Ipv6Packet::new_checked(&frame[18..]).unwrap();
    assert_eq!((ip.src(), ip.dst(), ip.hop_limit()), (us, client, 64));
    let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
    assert_eq!(icmp.msg_type(), ICMPV6_ECHO_REPLY);
    assert_eq!((icmp.echo_ident(), icmp.echo_seq()), (0x42, 1));
    assert_eq!(icmp.data(), b"abcdefgh");
    assert!(l4_verifies(&frame, 18));
}

#[test]
fn echo_reply_refusals() {
    let (client, us) = (v6("2001:db8::1"), v6("2001:db8::a"));
    let request = icmpv6_message(client, us, ICMPV6_ECHO_REQUEST, 0, 1, b"x");
    let mut bad_sum = ipv6_frame(None, client, us, 58, 64, &request);
    let last = bad_sum.len() - 1;
    bad_sum[last] ^= 1;
    assert_eq!(
        turn_into_echo_reply_v6(&mut bad_sum),
        Err(Icmpv6Error::BadChecksum)
    );
    let multicast = v6("ff02::1");
    let to_group = icmpv6_message(client, multicast, ICMPV6_ECHO_REQUEST, 0, 1, b"x");
    let mut frame = ipv6_frame(None, client, multicast, 58, 64, &to_group);
    assert_eq!(
        turn_into_echo_reply_v6(&mut frame),
        Err(Icmpv6Error::NonUnicastAddress)
    );
    let reply = icmpv6_message(client, us, ICMPV6_ECHO_REPLY, 0, 1, b"x");
    let mut frame = ipv6_frame(None, client, us, 58, 64, &reply);
    assert_eq!(
        turn_into_echo_reply_v6(&mut frame),
        Err(Icmpv6Error::NotEchoRequest)
    );
    let mut frame = ipv6_frame(None, client, us, PROTO_UDP, 64, &[0; 8]);
    assert_eq!(
        turn_into_echo_reply_v6(&mut frame),
        Err(Icmpv6Error::NotPlainIpv6)
    );
}

fn ns_frame(src: Ipv6Addr, target: Ipv6Addr, hop_limit: u8, with_lladdr: bool) -> Vec<u8> {
    let dst = solicited_node_multicast(target);
    let mut data = target.octets().to_vec();
    if with_lladdr {
        data.extend_from_slice(&[ND_OPT_SOURCE_LLADDR, 1, 2, 0, 0, 0, 0, 0x0c]);
    }
    let message = icmpv6_message(src, dst, ICMPV6_NEIGHBOR_SOLICIT, 0, 0, &data);
    ipv6_frame(None, src, dst, 58, hop_limit, &message)
}

#[test]
fn neighbor_solicitation_gets_a_solicited_advertisement() {
    let (host, ours) = (v6("2001:db8::1"), v6("2001:db8::a"));
    let frame = ns_frame(host, ours, 255, true);
    let mut out = [0u8; 128];
    let len = write_neighbor_advertisement(&frame, &mut out, OUR_MAC).unwrap();
    assert_eq!(len, 14 + 40 + 32);
    let out = &out[..len];
    let eth = EthernetFrame::new_checked(out).unwrap();
    // Goes to the link-layer address the solicitation named.
    assert_eq!(
        (eth.src(), eth.dst()),
        (OUR_MAC, MacAddr([2, 0, 0, 0, 0, 0x0c]))
    );
    let ip = Ipv6Packet::new_checked(&out[14..]).unwrap();
    assert_eq!((ip.src(), ip.dst(), ip.hop_limit()), (ours, host, 255));
    let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
    assert_eq!(icmp.msg_type(), ICMPV6_NEIGHBOR_ADVERT);
    assert_eq!(
        Icmpv6Repr::parse(&icmp, ours, host),
        Ok(Icmpv6Repr::NeighborAdvert {
            flags: NA_FLAG_SOLICITED | NA_FLAG_OVERRIDE,
            target: ours,
            target_lladdr: Some(OUR_MAC),
        })
    );
    assert!(l4_verifies(out, 14));
}

#[test]
fn duplicate_address_detection_is_answered_to_all_nodes() {
    let ours = v6("2001:db8::a");
    let frame = ns_frame(Ipv6Addr::UNSPECIFIED, ours, 255, false);
    let mut out = [0u8; 128];
    let len = write_neighbor_advertisement(&frame, &mut out, OUR_MAC).unwrap();
    let eth = EthernetFrame::new_checked(&out[..len]).unwrap();
    assert_eq!(eth.dst(), MacAddr([0x33, 0x33, 0, 0, 0, 1]));
    let ip = Ipv6Packet::new_checked(&out[14..len]).unwrap();
    assert_eq!(ip.dst(), v6("ff02::1"));
    let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
    assert_eq!(icmp.na_flags(), NA_FLAG_OVERRIDE, "not solicited");
}

#[test]
fn forwarded_or_short_buffer_solicitations_are_not_answered() {
    let (host, ours) = (v6("2001:db8::1"), v6("2001:db8::a"));
    let mut out = [0u8; 128];
    let routed = ns_frame(host, ours, 254, true);
    assert_eq!(
        write_neighbor_advertisement(&routed, &mut out, OUR_MAC),
        Err(Icmpv6Error::BadNeighborDiscovery)
    );
    let frame = ns_frame(host, ours, 255, true);
    assert_eq!(
        write_neighbor_advertisement(&frame, &mut out[..85], OUR_MAC),
        Err(Icmpv6Error::BufferTooSmall)
    );
}

#[test]
fn packet_too_big_quotes_what_fits_in_1280() {
    let (client, server, us) = (v6("2001:db8::1"), v6("2001:db8:1::5"), v6("2001:db8::a"));
    let payload: Vec<u8> = (0..1452u32).map(|i| i as u8).collect();
    let frame = ipv6_frame(None, client, server, PROTO_UDP, 64, &payload);
    let mut out = [0u8; 2048];
    let len = write_packet_too_big(&frame, &mut out, us, 1400).unwrap();
    assert_eq!(len, 14 + 1280);
    let ip = Ipv6Packet::new_checked(&out[14..len]).unwrap();
    assert_eq!((ip.src(), ip.dst(), ip.payload_len()), (us, client, 1240));
    let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
    assert_eq!(
        (icmp.msg_type(), icmp.code(), icmp.mtu()),
        (ICMPV6_PACKET_TOO_BIG, 0, 1400)
    );
    assert_eq!(icmp.quoted().unwrap(), &frame[14..14 + 1232]);
    assert!(l4_verifies(&out[..len], 14));

    // A small packet is quoted whole.
    let frame = ipv6_frame(None, client, server, PROTO_UDP, 64, &payload[..100]);
    let len = write_packet_too_big(&frame, &mut out, us, 1280).unwrap();
    assert_eq!(len, 14 + 40 + 8 + 140);
}

#[test]
fn packet_too_big_is_never_sent_about_an_error_or_to_a_non_unicast_source() {
    let (client, server, us) = (v6("2001:db8::1"), v6("2001:db8:1::5"), v6("2001:db8::a"));
    let mut out = [0u8; 2048];
    let error = icmpv6_message(client, server, 1, 4, 0, &[0; 48]);
    let frame = ipv6_frame(None, client, server, 58, 64, &error);
    assert_eq!(
        write_packet_too_big(&frame, &mut out, us, 1280),
        Err(Icmpv6Error::ErrorAboutError)
    );
    let frame = ipv6_frame(None, Ipv6Addr::UNSPECIFIED, server, PROTO_UDP, 64, &[0; 8]);
    assert_eq!(
        write_packet_too_big(&frame, &mut out, us, 1280),
        Err(Icmpv6Error::NonUnicastAddress)
    );
    // To a multicast group is allowed (RFC 4443 2.4 e.3).
    let frame = ipv6_frame(None, client, v6("ff0e::1"), PROTO_UDP, 64, &[0; 8]);
    assert!(write_packet_too_big(&frame, &mut out, us, 1280).is_ok());
}

#[test]
fn a_bare_icmpv6_error_is_a_packet_without_l2_quoting_what_fits_in_1280() {
    let (client, server, us) = (v6("2001:db8::1"), v6("2001:db8:1::5"), v6("2001:db8::a"));
    let payload: Vec<u8> = (0..1452u32).map(|i| i as u8).collect();
    let frame = ipv6_frame(None, client, server, PROTO_UDP, 1, &payload);
    let mut out = [0u8; 2048];
    let repr = Icmpv6Repr::TimeExceeded { code: 0 };
    let len = write_icmpv6_error(&frame[14..], &mut out, us, repr).unwrap();
    assert_eq!(len, 1280);
    let ip = Ipv6Packet::new_checked(&out[..len]).unwrap();
    assert_eq!((ip.src(), ip.dst(), ip.hop_limit()), (us, client, 64));
    let want = icmpv6_message(us, client, 3, 0, 0, &frame[14..14 + 1232]);
    assert_eq!(ip.payload(), &want[..], "checksum from scratch");
    // Too small a buffer, an error, a non-unicast source: nothing.
    assert_eq!(
        write_icmpv6_error(&frame[14..], &mut out[..47], us, repr),
        Err(Icmpv6Error::BufferTooSmall)
    );
    let error = icmpv6_message(client, server, 1, 4, 0, &[0; 48]);
    let frame = ipv6_frame(None, client, server, 58, 1, &error);
    assert_eq!(
        write_icmpv6_error(&frame[14..], &mut out, us, repr),
        Err(Icmpv6Error::ErrorAboutError)
    );
    let frame = ipv6_frame(None, v6("ff02::1"), server, PROTO_UDP, 1, &[0; 8]);
    assert_eq!(
        write_icmpv6_error(&frame[14..], &mut out, us, repr),
        Err(Icmpv6Error::NonUnicastAddress)
    );
}

proptest! {
    #[test]
    fn builders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut out = [0u8; 1400];
        let _ = write_neighbor_advertisement(&bytes, &mut out, OUR_MAC);
        let _ = write_packet_too_big(&bytes, &mut out, v6("2001:db8::a"), 1280);
        let mut copy = bytes.clone();
        let _ = turn_into_echo_reply_v6(&mut copy);
    }

    /// The refusal writers on any IPv6 TCP or UDP frame: no panic, and
    /// whatever they write carries a checksum computed from scratch.
    #[test]
    fn refusals_carry_good_checksums(
        payload in proptest::collection::vec(any::<u8>(), 0..120),
        next in prop_oneof![Just(6u8), Just(17u8), Just(58u8), any::<u8>()],
        vlan in proptest::option::of(0u16..4096),
        out_len in 0usize..200,
    ) {
        let (client, vip) = (v6("2001:db8:3::66"), v6("2001:db8:9::80"));
        let frame = ipv6_frame(vlan, client, vip, next, 64, &payload);
        let l3 = if vlan.is_some() { 18 } else { 14 };
        let mut out = vec![0u8; out_len];
        if let Ok(n) = write_tcp_rst_reply_v6(&frame, &mut out) {
            let ip = Ipv6Packet::new_checked(&out[l3..n]).unwrap();
            let mut tcp = ip.payload().to_vec();
            let stored = u16::from_be_bytes([tcp[16], tcp[17]]);
            tcp[16] = 0;
            tcp[17] = 0;
            prop_assert_eq!(stored, slow_l4_checksum_v6(vip, client, 6, &tcp));
        }
        if let Ok(n) = write_dest_unreachable_v6(&frame, &mut out, vip, 1) {
            prop_assert!(l4_verifies(&out[..n], l3));
            prop_assert!(n <= out_len);
        }
    }
}

/// A TCP header (20 bytes) with its IPv6 checksum computed from scratch.
fn tcp_v6(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    ports: (u16, u16),
    seq: u32,
    ack: u32,
    flags: u8,
) -> Vec<u8> {
    let mut t = vec![0u8; 20];
    t[0..2].copy_from_slice(&ports.0.to_be_bytes());
    t[2..4].copy_from_slice(&ports.1.to_be_bytes());
    t[4..8].copy_from_slice(&seq.to_be_bytes());
    t[8..12].copy_from_slice(&ack.to_be_bytes());
    t[12] = 5 << 4;
    t[13] = flags;
    t[14..16].copy_from_slice(&64240u16.to_be_bytes());
    let csum = slow_l4_checksum_v6(src, dst, 6, &t);
    t[16..18].copy_from_slice(&csum.to_be_bytes());
    t
}

#[test]
fn a_refused_ipv6_syn_gets_a_rst_ack_byte_for_byte() {
    let (client, vip) = (v6("2001:db8:3::66"), v6("2001:db8:9::80"));
    let syn = tcp_v6(client, vip, (40000, 80), 7000, 0, 0x02);
    let frame = ipv6_frame(Some(7), client, vip, 6, 64, &syn);
    let mut out = [0u8; 128];
    let n = write_tcp_rst_reply_v6(&frame, &mut out).unwrap();
    // RST|ACK acknowledging the SYN (its one sequence number), window 0.
    let mut want_tcp = tcp_v6(vip, client, (80, 40000), 0, 7001, 0x14);
    want_tcp[14..16].copy_from_slice(&[0, 0]);
    want_tcp[16..18].copy_from_slice(&[0, 0]);
    let csum = slow_l4_checksum_v6(vip, client, 6, &want_tcp);
    want_tcp[16..18].copy_from_slice(&csum.to_be_bytes());
    let mut want = ipv6_frame(Some(7), vip, client, 6, 64, &want_tcp);
    // ipv6_frame writes MAC_A -> MAC_B; the answer goes back.
    let mut eth = EthernetFrame::new_unchecked(&mut want[..18]);
    eth.swap_addresses();
    assert_eq!(&out[..n], &want[..]);

    // To an ACK: RST alone, its sequence the ACK's acknowledgement.
    let ack = tcp_v6(client, vip, (40000, 80), 7001, 9001, 0x10);
    let frame = ipv6_frame(None, client, vip, 6, 64, &ack);
    let n = write_tcp_rst_reply_v6(&frame, &mut out).unwrap();
    let ip = Ipv6Packet::new_checked(&out[14..n]).unwrap();
    let tcp = ip.payload();
    assert_eq!(tcp[13], 0x04);
    assert_eq!(u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]), 9001);
    let mut zeroed = tcp.to_vec();
    zeroed[16] = 0;
    zeroed[17] = 0;
    assert_eq!(
        u16::from_be_bytes([tcp[16], tcp[17]]),
        slow_l4_checksum_v6(vip, client, 6, &zeroed)
    );

    // Never a RST to a RST, nor to UDP or a multicast destination.
    let rst = tcp_v6(client, vip, (40000, 80), 7001, 0, 0x04);
    assert!(write_tcp_rst_reply_v6(&ipv6_frame(None, client, vip, 6, 64, &rst), &mut out).is_err());
    assert!(
        write_tcp_rst_reply_v6(&ipv6_frame(None, client, vip, 17, 64, &syn), &mut out).is_err()
    );
    let group = v6("ff02::1");
    let to_group = tcp_v6(client, group, (40000, 80), 7000, 0, 0x02);
    assert_eq!(
        write_tcp_rst_reply_v6(&ipv6_frame(None, client, group, 6, 64, &to_group), &mut out),
        Err(Icmpv6Error::NonUnicastAddress)
    );
}

#[test]
fn a_refused_ipv6_datagram_gets_an_administratively_prohibited_quoting_it() {
    let (client, vip) = (v6("2001:db8:3::66"), v6("2001:db8:9::53"));
    let mut udp = vec![0x14, 0xe9, 0, 53, 0, 9, 0, 0, b'q'];
    let csum = slow_l4_checksum_v6(client, vip, 17, &udp);
    udp[6..8].copy_from_slice(&csum.to_be_bytes());
    let frame = ipv6_frame(Some(7), client, vip, 17, 64, &udp);
    let mut out = [0u8; 192];
    let n = write_dest_unreachable_v6(&frame, &mut out, vip, 1).unwrap();
    let message = icmpv6_message(vip, client, 1, 1, 0, &frame[18..]);
    let mut want = ipv6_frame(Some(7), vip, client, 58, 64, &message);
    EthernetFrame::new_unchecked(&mut want[..18]).swap_addresses();
    assert_eq!(&out[..n], &want[..]);

    // A long packet: as much as fits in `out`.
    let long = ipv6_frame(None, client, vip, 17, 64, &[0u8; 600]);
    let n = write_dest_unreachable_v6(&long, &mut out, vip, 1).unwrap();
    assert_eq!(n, 192);
    assert!(l4_verifies(&out[..n], 14));

    // Never to a multicast group, nor about an ICMPv6 error.
    let group = v6("ff02::1");
    assert_eq!(
        write_dest_unreachable_v6(
            &ipv6_frame(None, client, group, 17, 64, &udp),
            &mut out,
            vip,
            1
        ),
        Err(Icmpv6Error::NonUnicastAddress)
    );
    let error = icmpv6_message(client, vip, 1, 4, 0, b"quoted");
    assert_eq!(
        write_dest_unreachable_v6(
            &ipv6_frame(None, client, vip, 58, 64, &error),
            &mut out,
            vip,
            1
        ),
        Err(Icmpv6Error::ErrorAboutError)
    );
}
