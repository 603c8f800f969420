//! ICMPv6 errors for NAT64 user sessions (`pipeline::nat64_icmp`): an
//! ICMPv4 error from the IPv4 side about a NAT64 user session reaches the
//! IPv6 terminal as the ICMPv6 error RFC 7915 maps it to, quoting the
//! packet the terminal sent (its addresses and ports, its checksum), and a
//! hop limit that runs out at the gateway is answered with an ICMPv6 time
//! exceeded. Every frame out is compared byte for byte with one written
//! out here, checksums computed from scratch.

use super::nat64::{
    echo_l4, frame4, frame6, from_enb, nat64_lab, summed4, summed6, tcp_l4, udp_l4, up_macs,
    with_ipv6_vips, DNS_VIP6, ENB, HOP, TERMINAL, VIP6,
};
use super::*;
use crate::wire::testutil::slow_checksum;
use crate::wire::testutil_v6::icmpv6_message;
use crate::wire::NAT64_WELL_KNOWN_PREFIX;
use proptest::prelude::*;
use std::net::Ipv6Addr;

/// A router on the IPv4 side that reports errors about the gateway's
/// packets.
const ROUTER: Ipv4Addr = Ipv4Addr::new(10, 2, 0, 254);

/// The terminal's IPv6 packet in `frame` as an ICMPv6 error quotes it once
/// translated back: the same bytes, the hop limit the IPv4 packet had
/// where the error was raised (`hop`).
fn as_quoted(frame: &[u8], hop: u8) -> Vec<u8> {
    let mut p = frame[14..].to_vec();
    p[7] = hop;
    p
}

/// An ICMPv4 error `msg_type`/`code` with rest-of-header `rest` from `src`
/// to the gateway quoting `quoted` (an IPv4 packet the gateway sent), TTL
/// 64, every checksum from scratch.
fn icmp4_error(src: Ipv4Addr, msg_type: u8, code: u8, rest: u32, quoted: &[u8]) -> Vec<u8> {
    let mut m = vec![msg_type, code, 0, 0];
    m.extend_from_slice(&rest.to_be_bytes());
    m.extend_from_slice(quoted);
    let m = summed4(m, 2, src, GW, 1);
    frame4(
        (server_mac(src), port_mac(SRV)),
        src,
        GW,
        1,
        64,
        0,
        [0, 0x21, 0, 0],
        &m,
    )
}

/// The ICMPv6 error the terminal should get: from `from` (the address it
/// addressed), hop limit 63 (the error's TTL of 64, less the gateway's
/// hop), on the access port to its MAC, checksum from scratch.
fn icmp6_error(from: Ipv6Addr, msg_type: u8, code: u8, body: u32, quoted: &[u8]) -> Vec<u8> {
    let m = icmpv6_message(from, TERMINAL, msg_type, code, body, quoted);
    frame6((port_mac(ACC), UE_MAC), from, TERMINAL, 58, 63, 0, &m)
}

/// The IPv4 packet (no Ethernet header) the gateway sent for the
/// terminal's frame, with TTL `ttl` and the header checksum redone.
fn sent_with_ttl(out: &[u8], ttl: u8) -> Vec<u8> {
    let mut p = out[14..].to_vec();
    p[8] = ttl;
    p[10..12].copy_from_slice(&[0, 0]);
    let c = slow_checksum(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p
}

/// A UDP query through the DNS IPv6 VIP: the terminal's frame and the
/// IPv4 frame the gateway sent to the server.
fn udp_query(lab: &mut Lab, sport: u16, payload: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let q = summed6(udp_l4(sport, 53, payload), 6, TERMINAL, DNS_VIP6, 17);
    let sent = frame6(up_macs(), TERMINAL, DNS_VIP6, 17, HOP, 0, &q);
    let (v, out) = lab.up(ACC, &sent);
    assert_eq!(v, Verdict::Forward(SRV));
    (sent, out)
}

/// A TCP segment through the web IPv6 VIP, as [`udp_query`].
fn tcp_segment(lab: &mut Lab, sport: u16, flags: u8, payload: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let s = summed6(
        tcp_l4(sport, 80, 7000, 0, flags, payload),
        16,
        TERMINAL,
        VIP6,
        6,
    );
    let sent = frame6(up_macs(), TERMINAL, VIP6, 6, HOP, 0, &s);
    let (v, out) = lab.up(ACC, &sent);
    assert_eq!(v, Verdict::Forward(SRV));
    (sent, out)
}

#[test]
fn a_port_unreachable_reaches_the_terminal_as_icmpv6_port_unreachable_quoting_its_datagram() {
    let mut lab = nat64_lab(1, None);
    let (sent, out) = udp_query(&mut lab, 5353, b"query");
    let server = decode(&out).dst;
    // The server quotes the whole datagram it could not deliver.
    let err = icmp4_error(server, 3, 3, 0, &out[14..]);
    let (v, back) = lab.up(SRV, &err);
    assert_eq!(v, Verdict::Forward(ACC));
    // 1/4: port unreachable; the quote is the terminal's datagram, its
    // addresses, ports and UDP checksum, hop limit as the server got it.
    let want = icmp6_error(DNS_VIP6, 1, 4, 0, &as_quoted(&sent, HOP - 1));
    assert_eq!(back, want);
    assert_eq!(lab.workers[0].counters().dropped_total(), 0);
    assert_eq!(lab.live(), 1, "the user session stays");
}

#[test]
fn fragmentation_needed_becomes_packet_too_big_with_20_more_and_never_under_1280() {
    let mut lab = nat64_lab(1, None);
    let (sent, out) = tcp_segment(&mut lab, 40000, 0x02, b"");
    // A router quotes the IPv4 header and 8 bytes (RFC 792), so the quote
    // back ends after the ports and sequence number; the IPv6 header
    // still states the whole segment's length.
    let quoted4 = &out[14..14 + 28];
    for (mtu, want_mtu) in [(1400u32, 1420u32), (500, 1280)] {
        let err = icmp4_error(ROUTER, 3, 4, mtu, quoted4);
        let (v, back) = lab.up(SRV, &err);
        assert_eq!(v, Verdict::Forward(ACC), "mtu {mtu}");
        let quote = &as_quoted(&sent, HOP - 1)[..40 + 8];
        assert_eq!(back, icmp6_error(VIP6, 2, 0, want_mtu, quote), "mtu {mtu}");
        assert_eq!(u16::from_be_bytes([quote[4], quote[5]]), 20);
        assert_eq!(&quote[40..44], &[0x9c, 0x40, 0, 80], "terminal's ports");
    }
}

#[test]
fn time_exceeded_quoting_a_whole_tcp_segment_gives_back_its_checksum() {
    let mut lab = nat64_lab(1, None);
    let (sent, out) = tcp_segment(&mut lab, 40001, 0x02, b"hello");
    // TTL ran out at the router: the quote says 1.
    let err = icmp4_error(ROUTER, 11, 0, 0, &sent_with_ttl(&out, 1));
    let (v, back) = lab.up(SRV, &err);
    assert_eq!(v, Verdict::Forward(ACC));
    assert_eq!(back, icmp6_error(VIP6, 3, 0, 0, &as_quoted(&sent, 1)));
    // Code 1 (reassembly time exceeded) keeps its code.
    let err = icmp4_error(ROUTER, 11, 1, 0, &out[14..]);
    let (v, back) = lab.up(SRV, &err);
    assert_eq!(v, Verdict::Forward(ACC));
    assert_eq!(back, icmp6_error(VIP6, 3, 1, 0, &as_quoted(&sent, HOP - 1)));
}

#[test]
fn an_unreachable_about_a_ping_through_the_prefix_quotes_the_icmpv6_echo() {
    let mut lab = nat64_lab(1, Some(NAT64_WELL_KNOWN_PREFIX));
    let host6 = NAT64_WELL_KNOWN_PREFIX.embed(EXT_HOST);
    let req = summed6(echo_l4(128, 0x4242, 3, b"ping six"), 2, TERMINAL, host6, 58);
    let sent = frame6(up_macs(), TERMINAL, host6, 58, HOP, 0, &req);
    let (v, out) = lab.up(ACC, &sent);
    assert_eq!(v, Verdict::Forward(EXT));
    // Host unreachable (3/1) from a router on the external side.
    let mut err = icmp4_error(EXT_HOST, 3, 1, 0, &out[14..]);
    err[..12].copy_from_slice(&[port_mac(EXT), server_mac(EXT_HOST)].concat());
    let (v, back) = lab.up(EXT, &err);
    assert_eq!(v, Verdict::Forward(ACC));
    // 1/0 from the prefix address; the quoted echo request is the
    // terminal's, type 128, identifier and ICMPv6 checksum its own.
    assert_eq!(
        back,
        icmp6_error(host6, 1, 0, 0, &as_quoted(&sent, HOP - 1))
    );
}

#[test]
fn an_error_rfc_7915_does_not_translate_is_dropped_and_counted() {
    let mut lab = nat64_lab(1, None);
    let (_, out) = udp_query(&mut lab, 5353, b"query");
    let server = decode(&out).dst;
    // Precedence cutoff (3/14) has no ICMPv6 form; a parameter problem
    // pointing at the IPv4 identification (4) has no IPv6 field.
    for (t, c, rest) in [(3u8, 14u8, 0u32), (12, 0, 4 << 24)] {
        let (v, _) = lab.up(SRV, &icmp4_error(server, t, c, rest, &out[14..]));
        assert_eq!(
            v,
            Verdict::Drop(DropReason::Nat64UntranslatableIcmp),
            "{t}/{c}"
        );
    }
    // A parameter problem pointing at the TTL (8) is the hop limit (7).
    let (v, back) = lab.up(SRV, &icmp4_error(server, 12, 0, 8 << 24, &out[14..]));
    assert_eq!(v, Verdict::Forward(ACC));
    assert_eq!((back[54], back[55]), (4, 0));
    assert_eq!(&back[58..62], &7u32.to_be_bytes());
    assert_eq!(lab.drops(DropReason::Nat64UntranslatableIcmp), 2);
}

#[test]
fn an_error_whose_quote_is_not_the_user_sessions_packet_is_dropped() {
    let mut lab = nat64_lab(1, None);
    let (_, out) = udp_query(&mut lab, 5353, b"query");
    let server = decode(&out).dst;
    // The gateway's port of the user session, but another server port.
    let mut quoted = out[14..].to_vec();
    quoted[22..24].copy_from_slice(&9999u16.to_be_bytes());
    let (v, _) = lab.up(SRV, &icmp4_error(server, 3, 3, 0, &quoted));
    assert_eq!(v, Verdict::Drop(DropReason::Nat64UntranslatableIcmp));
    // Another server address.
    let mut quoted = out[14..].to_vec();
    quoted[16..20].copy_from_slice(&[10, 2, 0, 99]);
    let (v, _) = lab.up(SRV, &icmp4_error(server, 3, 3, 0, &quoted));
    assert_eq!(v, Verdict::Drop(DropReason::Nat64UntranslatableIcmp));
    assert_eq!(lab.drops(DropReason::Nat64UntranslatableIcmp), 2);
    // A gateway port no user session holds: nothing to tell.
    let mut quoted = out[14..].to_vec();
    let port = u16::from_be_bytes([quoted[20], quoted[21]]);
    quoted[20..22].copy_from_slice(&port.wrapping_add(1).to_be_bytes());
    let (v, _) = lab.up(SRV, &icmp4_error(server, 3, 3, 0, &quoted));
    assert_eq!(v, Verdict::Drop(DropReason::NoUserSession));
    // A wrong ICMP checksum.
    let mut err = icmp4_error(server, 3, 3, 0, &out[14..]);
    err[36] ^= 0xff;
    let (v, _) = lab.up(SRV, &err);
    assert_eq!(v, Verdict::Drop(DropReason::Nat64BadChecksum));
}

#[test]
fn a_hop_limit_of_1_is_answered_with_icmpv6_time_exceeded_from_the_access_port() {
    let mut lab = nat64_lab(1, None);
    let q = summed6(udp_l4(5353, 53, b"q"), 6, TERMINAL, DNS_VIP6, 17);
    let sent = frame6(up_macs(), TERMINAL, DNS_VIP6, 17, 1, 0, &q);
    let (v, back) = lab.up(ACC, &sent);
    assert_eq!(v, Verdict::Forward(ACC));
    let m = icmpv6_message(ACC_V6, TERMINAL, 3, 0, 0, &sent[14..]);
    assert_eq!(
        back,
        frame6((port_mac(ACC), UE_MAC), ACC_V6, TERMINAL, 58, 64, 0, &m)
    );
    assert_eq!(lab.live(), 0, "no user session opens");
    assert_eq!(lab.drops(DropReason::TtlExpired), 1);
    let c = lab.workers[0].counters();
    assert_eq!(c.ttl_exceeded_sent.get(), 1);
    // A port without an IPv6 address cannot answer: dropped as before.
    let sent = frame6((UE_MAC, port_mac(ACC2)), TERMINAL, DNS_VIP6, 17, 1, 0, &q);
    let (v, _) = lab.up(ACC2, &sent);
    assert_eq!(v, Verdict::Drop(DropReason::TtlExpired));
    assert_eq!(lab.drops(DropReason::TtlExpired), 2);
}

/// The IPv6 packet inside the G-PDU `frame` sent to the terminal's
/// tunnel (TEID 0x1234_5678, peer `enb`, from the access address).
fn in_tunnel(frame: &[u8], enb: Ipv4Addr) -> &[u8] {
    assert_eq!(&frame[0..6], &UE_MAC, "to the tunnel's next hop");
    let outer = &frame[14..34];
    assert_eq!(slow_checksum(outer), 0, "outer IPv4 checksum");
    assert_eq!(&outer[12..16], &[10, 1, 0, 1], "from our access address");
    assert_eq!(&outer[16..20], &enb.octets(), "to the tunnel peer");
    let gtp = &frame[42..50];
    assert_eq!(gtp[1], 0xff, "G-PDU");
    assert_eq!(&gtp[4..8], &0x1234_5678u32.to_be_bytes(), "TEID kept");
    let v6 = &frame[50..];
    assert_eq!(usize::from(u16::from_be_bytes([gtp[2], gtp[3]])), v6.len());
    v6
}

#[test]
fn a_terminal_inside_gtpu_gets_its_icmpv6_errors_in_its_tunnel() {
    let mut lab = with_ipv6_vips(Lab::nat64_keyed(1, SessionKeyMode::GtpTeid, None));
    let enb = ENB;
    let q = summed6(udp_l4(5353, 53, b"query"), 6, TERMINAL, DNS_VIP6, 17);
    let inner = frame6(up_macs(), TERMINAL, DNS_VIP6, 17, HOP, 0, &q);
    let (v, out) = lab.up(ACC, &from_enb(&inner));
    assert_eq!(v, Verdict::Forward(SRV));
    let server = decode(&out).dst;
    let (v, back) = lab.up(SRV, &icmp4_error(server, 3, 3, 0, &out[14..]));
    assert_eq!(v, Verdict::Forward(ACC));
    let want = icmp6_error(DNS_VIP6, 1, 4, 0, &as_quoted(&inner, HOP - 1));
    assert_eq!(in_tunnel(&back, enb), &want[14..]);

    // Hop limit 1 inside the tunnel: time exceeded back in it.
    let inner = frame6(up_macs(), TERMINAL, DNS_VIP6, 17, 1, 0, &q);
    let (v, back) = lab.up(ACC, &from_enb(&inner));
    assert_eq!(v, Verdict::Forward(ACC));
    let m = icmpv6_message(ACC_V6, TERMINAL, 3, 0, 0, &inner[14..]);
    let want = frame6((port_mac(ACC), UE_MAC), ACC_V6, TERMINAL, 58, 64, 0, &m);
    assert_eq!(in_tunnel(&back, enb), &want[14..]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// Any TCP or UDP packet of a live NAT64 user session, quoted whole in
    /// a port unreachable, comes back to the terminal as exactly what it
    /// sent: its 5-tuple, its bytes, its transport checksum.
    #[test]
    fn any_quoted_packet_comes_back_with_the_terminals_five_tuple(
        tcp in any::<bool>(),
        sport in 1024u16..,
        payload in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut lab = nat64_lab(1, None);
        let (sent, out) = if tcp {
            tcp_segment(&mut lab, sport, 0x02, &payload)
        } else {
            udp_query(&mut lab, sport, &payload)
        };
        let err = icmp4_error(ROUTER, 3, 3, 0, &out[14..]);
        let (v, back) = lab.up(SRV, &err);
        prop_assert_eq!(v, Verdict::Forward(ACC));
        let quote = &back[14 + 48..];
        prop_assert_eq!(quote, &as_quoted(&sent, HOP - 1)[..]);
        let dst = if tcp { VIP6 } else { DNS_VIP6 };
        prop_assert_eq!(&quote[8..24], &TERMINAL.octets());
        prop_assert_eq!(&quote[24..40], &dst.octets());
        prop_assert_eq!(u16::from_be_bytes([quote[40], quote[41]]), sport);
        let icmp = icmp6_error(dst, 1, 4, 0, quote);
        prop_assert_eq!(back, icmp);
    }
}
