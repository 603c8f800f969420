//! NAT64 through the pipeline (issue 14, step 2): an IPv6 terminal reaches
//! IPv4 servers through a service's IPv6 VIP and IPv4 hosts through the
//! NAT64 prefix; every frame out is compared byte for byte with one
//! written out here, checksums computed from scratch (`wire::testutil`),
//! both ways, for TCP, UDP (a server's zero UDP checksum is computed on
//! the way back) and ICMP echo ↔ ICMPv6 echo. Ports come from the IPv4
//! allocator (unique with IPv4 user sessions); a flow translated there and
//! back is exactly what the terminal sent, addresses and ports swapped.

use super::*;

mod fragments;
mod mtu;
use crate::wire::testutil::{slow_checksum, slow_l4_checksum};
use crate::wire::testutil_v6::slow_l4_checksum_v6;
use crate::wire::{Nat64Prefix, NAT64_WELL_KNOWN_PREFIX};
use proptest::prelude::*;
use std::collections::HashSet;
use std::net::Ipv6Addr;

pub(super) use crate::testkit::{DNS_VIP6, VIP6};
pub(super) const TERMINAL: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x77, 1, 0x1c, 0x2b, 0x3a, 0x49);
pub(super) const TC: u8 = 0x28;
pub(super) const HOP: u8 = 64;

/// The lab's policy with IPv6 VIPs for "web" (TCP 80) and "dns" (UDP 53),
/// served by the same IPv4 servers.
pub(super) fn nat64_lab(n_workers: u16, prefix: Option<Nat64Prefix>) -> Lab {
    with_ipv6_vips(Lab::nat64(n_workers, prefix))
}

/// `lab` with the policy of [`nat64_lab`].
pub(super) fn with_ipv6_vips(lab: Lab) -> Lab {
    lab.policy.publish(crate::testkit::policy_with_ipv6_vips());
    lab
}

/// The IPv4 server `server`'s SYN-ACK (TOS `tos`) to the gateway port
/// `gw_port` of the terminal's SYN (40000 → port 80, sequence 7000).
fn syn_ack4(server: Ipv4Addr, gw_port: u16, tos: u8) -> Vec<u8> {
    let l4 = summed4(
        tcp_l4(8080, gw_port, 9000, 7001, 0x12, b""),
        16,
        server,
        GW,
        6,
    );
    frame4(
        (server_mac(server), port_mac(SRV)),
        server,
        GW,
        6,
        60,
        tos,
        [0, 1, 0x40, 0],
        &l4,
    )
}

/// [`syn_ack4`] as the terminal gets it: from the IPv6 VIP, traffic class
/// `tc`, hop limit one less than the server's TTL.
fn syn_ack6(tc: u8) -> Vec<u8> {
    let l4 = summed6(
        tcp_l4(80, 40000, 9000, 7001, 0x12, b""),
        16,
        VIP6,
        TERMINAL,
        6,
    );
    frame6((port_mac(ACC), UE_MAC), VIP6, TERMINAL, 6, 59, tc, &l4)
}

/// Ethernet + IPv6 header + `l4` (whose checksum the caller computed).
pub(super) fn frame6(
    macs: ([u8; 6], [u8; 6]),
    src: Ipv6Addr,
    dst: Ipv6Addr,
    next: u8,
    hop: u8,
    tc: u8,
    l4: &[u8],
) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&macs.1);
    f.extend_from_slice(&macs.0);
    f.extend_from_slice(&[0x86, 0xdd]);
    f.push(0x60 | (tc >> 4));
    f.push(tc << 4);
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&(l4.len() as u16).to_be_bytes());
    f.push(next);
    f.push(hop);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&dst.octets());
    f.extend_from_slice(l4);
    f
}

/// Ethernet + IPv4 header (identification and flags `id_flags` as the
/// gateway chose them) + `l4`, every checksum from scratch.
#[allow(clippy::too_many_arguments)]
pub(super) fn frame4(
    macs: ([u8; 6], [u8; 6]),
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    ttl: u8,
    tos: u8,
    id_flags: [u8; 4],
    l4: &[u8],
) -> Vec<u8> {
    let mut ip = vec![0x45, tos];
    ip.extend_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
    ip.extend_from_slice(&id_flags);
    ip.extend_from_slice(&[ttl, proto, 0, 0]);
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    let c = slow_checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let mut f = Vec::new();
    f.extend_from_slice(&macs.1);
    f.extend_from_slice(&macs.0);
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(&ip);
    f.extend_from_slice(l4);
    f
}

/// A TCP header (no options) + payload, checksum zero.
pub(super) fn tcp_l4(
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&ack.to_be_bytes());
    t.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    t.extend_from_slice(payload);
    t
}

pub(super) fn udp_l4(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::new();
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

pub(super) fn echo_l4(msg_type: u8, ident: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let mut m = vec![msg_type, 0, 0, 0];
    m.extend_from_slice(&ident.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(data);
    m
}

/// `l4` with its checksum (at `at`) over the IPv6 pseudo header.
pub(super) fn summed6(
    mut l4: Vec<u8>,
    at: usize,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    next: u8,
) -> Vec<u8> {
    l4[at..at + 2].copy_from_slice(&[0, 0]);
    let c = slow_l4_checksum_v6(src, dst, next, &l4);
    l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
    l4
}

/// `l4` with its checksum over the IPv4 pseudo header (ICMP: none).
pub(super) fn summed4(
    mut l4: Vec<u8>,
    at: usize,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
) -> Vec<u8> {
    l4[at..at + 2].copy_from_slice(&[0, 0]);
    let c = if proto == 1 {
        slow_checksum(&l4)
    } else {
        slow_l4_checksum(src, dst, proto, &l4)
    };
    l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
    l4
}

pub(super) fn up_macs() -> ([u8; 6], [u8; 6]) {
    (UE_MAC, port_mac(ACC))
}

/// The gateway's identification and flags of an IPv4 frame out, after
/// checking the flags say "not a fragment".
pub(super) fn id_flags(out: &[u8]) -> [u8; 4] {
    let f = [out[18], out[19], out[20], out[21]];
    assert_eq!(
        u16::from_be_bytes([f[2], f[3]]) & 0x3fff,
        0,
        "not a fragment"
    );
    f
}

#[test]
fn tcp_through_an_ipv6_vip_is_translated_both_ways_byte_exact() {
    let mut lab = nat64_lab(1, None);
    let syn = summed6(tcp_l4(40000, 80, 7000, 0, 0x02, b""), 16, TERMINAL, VIP6, 6);
    let (v, out) = lab.up(ACC, &frame6(up_macs(), TERMINAL, VIP6, 6, HOP, TC, &syn));
    assert_eq!(v, Verdict::Forward(SRV));
    let o = decode(&out);
    assert!(
        SERVERS.contains(&o.dst) && o.src == GW && o.dport == 8080,
        "{o:?}"
    );
    let gw_port = o.sport;
    let want_l4 = summed4(tcp_l4(gw_port, 8080, 7000, 0, 0x02, b""), 16, GW, o.dst, 6);
    let want = frame4(
        (port_mac(SRV), server_mac(o.dst)),
        GW,
        o.dst,
        6,
        HOP - 1,
        TC,
        id_flags(&out),
        &want_l4,
    );
    assert_eq!(out, want);

    // The SYN-ACK back: from the VIP to the terminal, in IPv6.
    let server = o.dst;
    let (v, back) = lab.up(SRV, &syn_ack4(server, gw_port, 0x10));
    assert_eq!(v, Verdict::Forward(ACC));
    assert_eq!(back, syn_ack6(0x10));

    // Data on the established user session, both ways.
    let data = summed6(
        tcp_l4(40000, 80, 7001, 9001, 0x18, b"GET / HTTP/1.1\r\n\r\n"),
        16,
        TERMINAL,
        VIP6,
        6,
    );
    let (v, out) = lab.up(ACC, &frame6(up_macs(), TERMINAL, VIP6, 6, HOP, 0, &data));
    assert_eq!(v, Verdict::Forward(SRV));
    let want_l4 = summed4(
        tcp_l4(gw_port, 8080, 7001, 9001, 0x18, b"GET / HTTP/1.1\r\n\r\n"),
        16,
        GW,
        server,
        6,
    );
    assert_eq!(
        out,
        frame4(
            (port_mac(SRV), server_mac(server)),
            GW,
            server,
            6,
            HOP - 1,
            0,
            id_flags(&out),
            &want_l4
        )
    );
    assert_eq!(lab.live(), 1);
    assert_eq!(lab.workers[0].counters().dropped_total(), 0);
}

/// `ctl user-sessions` shows a NAT64 user session by its IPv6 ends (its
/// IPv4 terminal and destination fields hold only the flow key's folds);
/// an IPv4 user session has none.
#[test]
fn a_listing_shows_a_nat64_user_sessions_ipv6_ends() {
    use crate::event::Ipv6Ends;
    use crate::pipeline::inspect::Filter;
    use crate::pipeline::scan::{ScanJob, ScanResult};
    let mut lab = nat64_lab(1, None);
    let syn6 = summed6(tcp_l4(40000, 80, 7000, 0, 0x02, b""), 16, TERMINAL, VIP6, 6);
    let (v, _) = lab.up(ACC, &frame6(up_macs(), TERMINAL, VIP6, 6, HOP, TC, &syn6));
    assert_eq!(v, Verdict::Forward(SRV));
    let (v, _) = lab.up(ACC, &syn(UE, 41000, VIP, 80));
    assert_eq!(v, Verdict::Forward(SRV));
    let now = lab.now;
    let job = ScanJob::List {
        filter: Filter::default(),
        limit: 10,
    };
    let list = match lab.workers[0].run_scan(job, now, &mut lab.events) {
        ScanResult::List(v) => v,
        other => panic!("{other:?}"),
    };
    assert_eq!(list.len(), 2, "{list:?}");
    let v6: Vec<_> = list.iter().filter_map(|u| u.ipv6).collect();
    assert_eq!(
        v6,
        [Ipv6Ends {
            terminal: TERMINAL,
            dest: VIP6,
            post_nat: None,
        }]
    );
    let nat64 = list.iter().find(|u| u.ipv6.is_some()).unwrap();
    assert_eq!((nat64.terminal.1, nat64.destination.1), (40000, 80));
    let ipv4 = list.iter().find(|u| u.ipv6.is_none()).unwrap();
    assert_eq!(ipv4.terminal, (UE, 41000));
}

/// A subscriber entry for the terminal's /64 that does not name the IPv6
/// VIP's service: the SYN is refused with an IPv6 RST|ACK back to the
/// terminal, a `not_entitled` final record names its IPv6 ends and the
/// SYN's length, and no user session opens; a refused UDP flow gets an
/// ICMPv6 administratively prohibited. Another /64 is served.
#[test]
fn an_unentitled_ipv6_subscriber_is_refused_with_an_ipv6_rst() {
    use crate::event::{EndReason, Event, Ipv6Ends};
    use crate::policy::Entitlement;
    use crate::tier1::{session_id_v6, Ipv6SessionPrefix, SessionKeyMode};
    let mut lab = nat64_lab(1, None);
    let mut p = (*lab.policy.current()).clone();
    let sid = session_id_v6(SessionKeyMode::SourceIp, TERMINAL, Ipv6SessionPrefix::P64).unwrap();
    p.subscribers.set_session(sid.0, Entitlement::deny_all());
    lab.policy.publish(p);
    let syn6 = summed6(tcp_l4(40000, 80, 7000, 0, 0x02, b""), 16, TERMINAL, VIP6, 6);
    let (v, out) = lab.up(ACC, &frame6(up_macs(), TERMINAL, VIP6, 6, HOP, TC, &syn6));
    assert_eq!(v, Verdict::Forward(ACC));
    let mut rst = tcp_l4(80, 40000, 0, 7001, 0x14, b"");
    rst[14..16].copy_from_slice(&[0, 0]);
    let rst = summed6(rst, 16, VIP6, TERMINAL, 6);
    assert_eq!(
        out,
        frame6((port_mac(ACC), UE_MAC), VIP6, TERMINAL, 6, 64, 0, &rst)
    );
    assert_eq!(lab.live(), 0);
    let records: Vec<_> = lab
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Accounting(a) => Some(*a),
            _ => None,
        })
        .collect();
    assert_eq!(records.len(), 1, "{records:?}");
    let r = records[0];
    assert_eq!(r.end_reason, EndReason::NotEntitled);
    assert_eq!(
        r.ipv6,
        Some(Ipv6Ends {
            terminal: TERMINAL,
            dest: VIP6,
            post_nat: None,
        })
    );
    assert_eq!((r.terminal_port, r.bytes_up), (40000, 40 + 20));
    assert_eq!(r.terminal_ip, Ipv4Addr::UNSPECIFIED);

    // UDP: an ICMPv6 unreachable, administratively prohibited, from the
    // address the terminal addressed, quoting its packet.
    let q = summed6(udp_l4(5353, 53, b"q"), 6, TERMINAL, DNS_VIP6, 17);
    let query = frame6(up_macs(), TERMINAL, DNS_VIP6, 17, HOP, 0, &q);
    let (v, out) = lab.up(ACC, &query);
    assert_eq!(v, Verdict::Forward(ACC));
    let unreachable =
        crate::wire::testutil_v6::icmpv6_message(DNS_VIP6, TERMINAL, 1, 1, 0, &query[14..]);
    assert_eq!(
        out,
        frame6(
            (port_mac(ACC), UE_MAC),
            DNS_VIP6,
            TERMINAL,
            58,
            64,
            0,
            &unreachable
        )
    );
    assert_eq!(lab.live(), 0);

    let other = Ipv6Addr::new(0x2001, 0xdb8, 0x78, 1, 0, 0, 0, 1);
    let syn6 = summed6(tcp_l4(40000, 80, 7000, 0, 0x02, b""), 16, other, VIP6, 6);
    let (v, _) = lab.up(ACC, &frame6(up_macs(), other, VIP6, 6, HOP, TC, &syn6));
    assert_eq!(v, Verdict::Forward(SRV));
}

#[test]
fn udp_both_ways_and_a_zero_ipv4_udp_checksum_is_computed_for_ipv6() {
    let mut lab = nat64_lab(1, None);
    let q = summed6(udp_l4(5353, 53, b"query"), 6, TERMINAL, DNS_VIP6, 17);
    let (v, out) = lab.up(ACC, &frame6(up_macs(), TERMINAL, DNS_VIP6, 17, HOP, 0, &q));
    assert_eq!(v, Verdict::Forward(SRV));
    let o = decode(&out);
    assert_eq!((o.src, o.dst, o.dport), (GW, SERVERS[0], 5353));
    let want_l4 = summed4(udp_l4(o.sport, 5353, b"query"), 6, GW, SERVERS[0], 17);
    assert_eq!(
        out,
        frame4(
            (port_mac(SRV), server_mac(SERVERS[0])),
            GW,
            SERVERS[0],
            17,
            HOP - 1,
            0,
            id_flags(&out),
            &want_l4
        )
    );
    // The server answers without a UDP checksum (allowed over IPv4).
    let l4 = udp_l4(5353, o.sport, b"answer");
    let reply = frame4(
        (server_mac(SERVERS[0]), port_mac(SRV)),
        SERVERS[0],
        GW,
        17,
        64,
        0,
        [0, 7, 0, 0],
        &l4,
    );
    let (v, back) = lab.up(SRV, &reply);
    assert_eq!(v, Verdict::Forward(ACC));
    let want_l4 = summed6(udp_l4(53, 5353, b"answer"), 6, DNS_VIP6, TERMINAL, 17);
    assert_ne!(&want_l4[6..8], &[0, 0]);
    assert_eq!(
        back,
        frame6(
            (port_mac(ACC), UE_MAC),
            DNS_VIP6,
            TERMINAL,
            17,
            63,
            0,
            &want_l4
        )
    );
    // IPv6 forbids a zero UDP checksum: such a datagram is not translated.
    let zero = udp_l4(5354, 53, b"query");
    let (v, _) = lab.up(
        ACC,
        &frame6(up_macs(), TERMINAL, DNS_VIP6, 17, HOP, 0, &zero),
    );
    assert_eq!(v, Verdict::Drop(DropReason::Nat64BadChecksum));
}

#[test]
fn icmpv6_echo_to_a_nat64_prefix_address_is_an_icmp_echo_to_the_ipv4_host() {
    let mut lab = nat64_lab(1, Some(NAT64_WELL_KNOWN_PREFIX));
    let host6 = NAT64_WELL_KNOWN_PREFIX.embed(EXT_HOST);
    assert_eq!(host6.to_string(), "64:ff9b::a03:2");
    let req = summed6(echo_l4(128, 0x4242, 1, b"ping six"), 2, TERMINAL, host6, 58);
    let (v, out) = lab.up(ACC, &frame6(up_macs(), TERMINAL, host6, 58, HOP, 0, &req));
    assert_eq!(v, Verdict::Forward(EXT));
    let o = decode(&out);
    assert_eq!((o.src, o.dst, o.proto), (GW, EXT_HOST, 1));
    let ident = o.sport;
    let want_l4 = summed4(echo_l4(8, ident, 1, b"ping six"), 2, GW, EXT_HOST, 1);
    assert_eq!(
        out,
        frame4(
            (port_mac(EXT), server_mac(EXT_HOST)),
            GW,
            EXT_HOST,
            1,
            HOP - 1,
            0,
            id_flags(&out),
            &want_l4
        )
    );
    let l4 = summed4(echo_l4(0, ident, 1, b"ping six"), 2, EXT_HOST, GW, 1);
    let reply = frame4(
        (server_mac(EXT_HOST), port_mac(EXT)),
        EXT_HOST,
        GW,
        1,
        64,
        0,
        [0, 9, 0, 0],
        &l4,
    );
    let (v, back) = lab.up(EXT, &reply);
    assert_eq!(v, Verdict::Forward(ACC));
    let want_l4 = summed6(echo_l4(129, 0x4242, 1, b"ping six"), 2, host6, TERMINAL, 58);
    assert_eq!(
        back,
        frame6(
            (port_mac(ACC), UE_MAC),
            host6,
            TERMINAL,
            58,
            63,
            0,
            &want_l4
        )
    );
    // TCP to the embedded address of the IPv4 VIP: its service, as over IPv4.
    let vip_in_prefix = NAT64_WELL_KNOWN_PREFIX.embed(VIP);
    let syn = summed6(
        tcp_l4(40001, 80, 1, 0, 0x02, b""),
        16,
        TERMINAL,
        vip_in_prefix,
        6,
    );
    let (v, out) = lab.up(
        ACC,
        &frame6(up_macs(), TERMINAL, vip_in_prefix, 6, HOP, 0, &syn),
    );
    assert_eq!(v, Verdict::Forward(SRV));
    assert_eq!(decode(&out).dport, 8080);
}

#[test]
fn an_echo_request_to_an_ipv6_vip_is_answered_by_the_vip() {
    let mut lab = nat64_lab(1, None);
    let req = summed6(echo_l4(128, 7, 1, b"vip?"), 2, TERMINAL, VIP6, 58);
    let (v, out) = lab.up(ACC, &frame6(up_macs(), TERMINAL, VIP6, 58, HOP, 0, &req));
    assert_eq!(v, Verdict::Forward(ACC));
    let want = summed6(echo_l4(129, 7, 1, b"vip?"), 2, VIP6, TERMINAL, 58);
    assert_eq!(
        out,
        frame6((port_mac(ACC), UE_MAC), VIP6, TERMINAL, 58, 64, 0, &want)
    );
    assert_eq!(lab.live(), 0);
}

#[test]
fn what_nat64_does_not_serve_is_dropped_with_its_reason() {
    let mut lab = nat64_lab(1, None);
    let elsewhere: Ipv6Addr = "2001:db8:5::1".parse().unwrap();
    let host6 = NAT64_WELL_KNOWN_PREFIX.embed(EXT_HOST);
    for dst in [elsewhere, host6] {
        let q = summed6(udp_l4(5353, 53, b"q"), 6, TERMINAL, dst, 17);
        let (v, _) = lab.up(ACC, &frame6(up_macs(), TERMINAL, dst, 17, HOP, 0, &q));
        assert_eq!(
            v,
            Verdict::Drop(DropReason::Ipv6NotServed),
            "{dst} (no prefix configured)"
        );
    }
    // A port the VIP does not serve (a hop limit that runs out here is
    // answered: tests/nat64_icmp.rs); an ICMPv6 that is not an echo
    // request.
    let q = summed6(udp_l4(5353, 54, b"q"), 6, TERMINAL, DNS_VIP6, 17);
    assert_eq!(
        lab.up(ACC, &frame6(up_macs(), TERMINAL, DNS_VIP6, 17, HOP, 0, &q))
            .0,
        Verdict::Drop(DropReason::NoService)
    );
    // ICMPv6 other than an echo request: to a VIP as to a port address,
    // to a NAT64-prefix address it opens nothing.
    let m = summed6(echo_l4(129, 1, 1, b""), 2, TERMINAL, DNS_VIP6, 58);
    assert_eq!(
        lab.up(ACC, &frame6(up_macs(), TERMINAL, DNS_VIP6, 58, HOP, 0, &m))
            .0,
        Verdict::Drop(DropReason::Icmpv6UnsupportedType)
    );
    let mut prefixed = nat64_lab(1, Some(NAT64_WELL_KNOWN_PREFIX));
    let m = summed6(echo_l4(129, 1, 1, b""), 2, TERMINAL, host6, 58);
    assert_eq!(
        prefixed
            .up(ACC, &frame6(up_macs(), TERMINAL, host6, 58, HOP, 0, &m))
            .0,
        Verdict::Drop(DropReason::IcmpIgnored)
    );
    // Without NAT64 in the config, nothing IPv6 is served.
    let mut plain = Lab::new(1);
    let q = summed6(udp_l4(5353, 53, b"q"), 6, TERMINAL, DNS_VIP6, 17);
    assert_eq!(
        plain
            .up(ACC, &frame6(up_macs(), TERMINAL, DNS_VIP6, 17, HOP, 0, &q))
            .0,
        Verdict::Drop(DropReason::Ipv6NotServed)
    );
    assert_eq!(lab.live(), 0);
}

#[test]
fn ipv4_terminals_cannot_address_the_nat64_key_space() {
    let mut lab = nat64_lab(1, None);
    let (v, _) = lab.up(
        ACC,
        &udp(UE, 4000, Ipv4Addr::new(0, 1, 2, 3), 53, b"x", up_macs()),
    );
    assert_eq!(v, Verdict::Drop(DropReason::NoRoute));
}

#[test]
fn an_ipv4_packet_with_a_nat64_user_sessions_folded_key_does_not_reach_it() {
    let mut lab = nat64_lab(1, None);
    let syn = summed6(tcp_l4(40000, 80, 7000, 0, 0x02, b""), 16, TERMINAL, VIP6, 6);
    let (v, _) = lab.up(ACC, &frame6(up_macs(), TERMINAL, VIP6, 6, HOP, TC, &syn));
    assert_eq!(v, Verdict::Forward(SRV));
    // An IPv4 terminal that knows the fold sends exactly that key: a data
    // segment (it would be forwarded as the NAT64 user session) and a SYN
    // (it would end a closed one and open its own).
    let key = crate::pipeline::nat64::v6_key(6, TERMINAL, 40000, VIP6, 80);
    use crate::wire::TcpFlags;
    for flags in [TcpFlags::ACK | TcpFlags::PSH, TcpFlags::SYN] {
        let (v, _) = lab.up(
            ACC,
            &tcp(
                key.client_ip,
                40000,
                key.dst_ip,
                80,
                flags,
                b"spoof",
                up_macs(),
            ),
        );
        assert_eq!(v, Verdict::Drop(DropReason::NoRoute), "{flags:?}");
    }
    assert_eq!(lab.drops(DropReason::NoRoute), 2);
    assert_eq!(lab.live(), 1, "the NAT64 user session is untouched");
}

/// Records the address of every prefetch hint.
#[derive(Default)]
struct Hints(std::cell::RefCell<Vec<usize>>);

impl crate::prefetch::Prefetch for Hints {
    fn read<T>(&self, value: &T) {
        self.0.borrow_mut().push(value as *const T as usize);
    }
}

#[test]
fn the_prefetch_pass_hints_a_nat64_flows_bucket_and_slot_and_the_pipeline_uses_its_hash() {
    let mut lab = nat64_lab(1, None);
    let syn = summed6(tcp_l4(40000, 80, 7000, 0, 0x02, b""), 16, TERMINAL, VIP6, 6);
    let (v, out) = lab.up(ACC, &frame6(up_macs(), TERMINAL, VIP6, 6, HOP, TC, &syn));
    assert_eq!(v, Verdict::Forward(SRV));
    let opened = decode(&out);
    let key = crate::pipeline::nat64::v6_key(6, TERMINAL, 40000, VIP6, 80);
    let data = summed6(
        tcp_l4(40000, 80, 7001, 1, 0x18, b"x"),
        16,
        TERMINAL,
        VIP6,
        6,
    );
    let data = frame6(up_macs(), TERMINAL, VIP6, 6, HOP, TC, &data);

    let w = &mut lab.workers[0];
    w.begin_burst();
    let idx = w.table().find_client(&key).expect("its user session");
    let hash = w.table().client_hash(&key);
    let hints = Hints::default();
    let mut records = [FrameRecord::UNREAD; 1];
    assert_eq!(
        w.prefetch_records([(&data[..], ACC)], &hints, &mut records),
        1
    );
    assert_eq!(records[0].parsed.client_hash, Some(hash));
    assert_eq!(records[0].parsed.client_candidate, Some(idx));
    let hinted = hints.0.borrow().clone();
    assert!(hinted.contains(&(w.table().client_bucket(hash) as *const _ as usize)));
    assert!(hinted.contains(&(w.table().slot_memory(idx).unwrap() as *const _ as usize)));
    assert!(hinted.contains(&(w.gw.nat64.entry(idx).unwrap() as *const _ as usize)));

    // The recorded path finds the same user session (no second one).
    let mut f = VecFrame::new(&data);
    let (now, ev) = (lab.now, &mut lab.events);
    let v = lab.workers[0].process_recorded(&mut f, &records[0], Ingress::Port, ACC, now, ev);
    assert_eq!(v, Verdict::Forward(SRV));
    let o = decode(f.bytes());
    assert_eq!(
        (o.src, o.sport, o.dst),
        (opened.src, opened.sport, opened.dst)
    );
    assert_eq!(lab.live(), 1);

    // A stale candidate is checked, not trusted.
    let mut record = records[0];
    record.parsed.client_candidate = Some(u32::MAX);
    let mut f = VecFrame::new(&data);
    let (now, ev) = (lab.now, &mut lab.events);
    let v = lab.workers[0].process_recorded(&mut f, &record, Ingress::Port, ACC, now, ev);
    assert_eq!(v, Verdict::Forward(SRV));
    assert_eq!(decode(f.bytes()).sport, opened.sport);
    assert_eq!(lab.live(), 1);
}

/// Two IPv6 terminals whose flows to `DNS_VIP6` port 53 from port 5353
/// fold to the same flow-index key (a birthday search over 32 bits).
fn colliding_terminals() -> (Ipv6Addr, Ipv6Addr) {
    let mut seen = std::collections::HashMap::new();
    for i in 0u32.. {
        let t = Ipv6Addr::new(0x2001, 0xdb8, (i >> 16) as u16, i as u16, 0, 0, 0, 1);
        let key = crate::pipeline::nat64::v6_key(17, t, 5353, DNS_VIP6, 53);
        if let Some(other) = seen.insert(key, t) {
            return (other, t);
        }
    }
    unreachable!("32-bit folds collide long before 2^32 terminals")
}

#[test]
fn flows_whose_keys_fold_alike_each_get_their_user_session() {
    let mut lab = nat64_lab(1, None);
    let (a, b) = colliding_terminals();
    let query = |lab: &mut Lab, t: Ipv6Addr| {
        let q = summed6(udp_l4(5353, 53, b"q"), 6, t, DNS_VIP6, 17);
        let (v, out) = lab.up(ACC, &frame6(up_macs(), t, DNS_VIP6, 17, HOP, 0, &q));
        assert_eq!(v, Verdict::Forward(SRV), "query from {t}");
        decode(&out).sport
    };
    // Before the alternate key, b's flow was refused (a duplicate key).
    let port_a = query(&mut lab, a);
    let port_b = query(&mut lab, b);
    assert_ne!(port_a, port_b);
    assert_eq!(lab.live(), 2);
    // b's flow stays under its alternate key after a's user session, which
    // holds the first, expires: it finds its own, opens no second one.
    for _ in 0..10 {
        lab.tick(5_000);
        assert_eq!(query(&mut lab, b), port_b);
    }
    assert_eq!(lab.live(), 1, "a's user session expired, b's lives");
    // And a's next query opens a new one under the (now free) first key.
    let port_a2 = query(&mut lab, a);
    assert_ne!(port_a2, port_b);
    assert_eq!(query(&mut lab, b), port_b);
    assert_eq!(lab.live(), 2);
    assert_eq!(lab.drops(DropReason::Nat64KeyCollision), 0);
}

#[test]
fn nat64_and_ipv4_user_sessions_share_the_port_allocator_and_ports_are_unique() {
    let mut lab = nat64_lab(2, Some(NAT64_WELL_KNOWN_PREFIX));
    let mut ports = HashSet::new();
    for i in 0..200u16 {
        // Terminals of several /64s (both gateways), and IPv4 terminals.
        let t = Ipv6Addr::new(0x2001, 0xdb8, 0x77, i % 7, 0, 0, 0, i);
        let q = summed6(udp_l4(6000 + i, 53, b"q"), 6, t, DNS_VIP6, 17);
        let (v, out, _) = lab.run(
            usize::from(i % 2),
            ACC,
            &frame6(up_macs(), t, DNS_VIP6, 17, HOP, 0, &q),
        );
        assert_eq!(v, Verdict::Forward(SRV));
        assert!(ports.insert(decode(&out).sport), "port reused");
        let (v, out, _) = lab.run(
            0,
            ACC,
            &udp(
                Ipv4Addr::new(10, 8, 1, i as u8),
                6000 + i,
                DNS_VIP,
                53,
                b"q",
                up_macs(),
            ),
        );
        assert_eq!(v, Verdict::Forward(SRV));
        assert!(ports.insert(decode(&out).sport), "port reused");
    }
    assert_eq!(lab.live(), 400);
}

#[test]
fn a_nat64_user_session_expires_and_frees_its_port() {
    let mut lab = nat64_lab(1, None);
    let q = summed6(udp_l4(5353, 53, b"q"), 6, TERMINAL, DNS_VIP6, 17);
    let (_, out) = lab.up(ACC, &frame6(up_macs(), TERMINAL, DNS_VIP6, 17, HOP, 0, &q));
    let o = decode(&out);
    assert_eq!(lab.live(), 1);
    lab.tick(10 * 60 * 1000);
    assert_eq!(lab.live(), 0);
    let records = lab.accounting();
    let r = records
        .iter()
        .find(|r| r.gateway_port == o.sport)
        .expect("its final record");
    // The record names the IPv6 ends, not the key's folds.
    assert_eq!(
        r.ipv6,
        Some(crate::event::Ipv6Ends {
            terminal: TERMINAL,
            dest: DNS_VIP6,
            post_nat: None,
        })
    );
    assert_eq!(
        (r.terminal_ip, r.dest_ip),
        (Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED)
    );
    assert_eq!(
        (r.terminal_port, r.dest_port, r.server_ip),
        (5353, 53, SERVERS[0])
    );
    // The reply now finds nothing.
    let l4 = udp_l4(5353, o.sport, b"late");
    let reply = frame4(
        (server_mac(SERVERS[0]), port_mac(SRV)),
        SERVERS[0],
        GW,
        17,
        64,
        0,
        [0, 7, 0, 0],
        &l4,
    );
    assert_eq!(
        lab.up(SRV, &reply).0,
        Verdict::Drop(DropReason::NoUserSession)
    );
}

#[test]
fn a_vlan_tagged_terminal_gets_its_replies_in_its_vlan() {
    let mut lab = nat64_lab(1, None);
    let q = summed6(udp_l4(5353, 53, b"q"), 6, TERMINAL, DNS_VIP6, 17);
    let mut f = frame6(up_macs(), TERMINAL, DNS_VIP6, 17, HOP, 0, &q);
    f.splice(12..12, [0x81, 0x00, 0x00, 0x07]);
    let (v, out) = lab.up(ACC, &f);
    assert_eq!(v, Verdict::Forward(SRV));
    let o = decode(&out);
    let reply = frame4(
        (server_mac(SERVERS[0]), port_mac(SRV)),
        SERVERS[0],
        GW,
        17,
        64,
        0,
        [0, 7, 0, 0],
        &summed4(udp_l4(5353, o.sport, b"a"), 6, SERVERS[0], GW, 17),
    );
    let (v, back) = lab.up(SRV, &reply);
    assert_eq!(v, Verdict::Forward(ACC));
    let mut want = frame6(
        (port_mac(ACC), UE_MAC),
        DNS_VIP6,
        TERMINAL,
        17,
        63,
        0,
        &summed6(udp_l4(53, 5353, b"a"), 6, DNS_VIP6, TERMINAL, 17),
    );
    want.splice(12..12, [0x81, 0x00, 0x00, 0x07]);
    assert_eq!(back, want);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any IPv6 UDP or TCP flow: translated to IPv4, echoed by the server
    /// (addresses and ports swapped), translated back, is exactly what the
    /// terminal sent with addresses and ports swapped.
    #[test]
    fn a_flow_translated_there_and_back_is_what_the_terminal_sent(
        iid in any::<u64>(), net in any::<u16>(), sport in 1024u16..,
        tcp in any::<bool>(), tc in any::<u8>(),
        payload in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let mut lab = nat64_lab(1, None);
        let t = Ipv6Addr::from_bits(0x2001_0db8_0077_0000_0000_0000_0000_0000u128 | u128::from(net) << 64 | u128::from(iid));
        let (vip, proto, at) = if tcp { (VIP6, 6u8, 16) } else { (DNS_VIP6, 17u8, 6) };
        let l4 = if tcp { tcp_l4(sport, 80, 77, 0, 0x02, &payload) } else { udp_l4(sport, 53, &payload) };
        let l4 = summed6(l4, at, t, vip, proto);
        let (v, out) = lab.up(ACC, &frame6(up_macs(), t, vip, proto, HOP, tc, &l4));
        prop_assert_eq!(v, Verdict::Forward(SRV));
        // The server's echo: the forwarded packet with both ends swapped.
        let o = decode(&out);
        let mut back_l4 = out[34..].to_vec();
        back_l4[0..2].copy_from_slice(&o.dport.to_be_bytes());
        back_l4[2..4].copy_from_slice(&o.sport.to_be_bytes());
        if tcp {
            back_l4[13] = 0x12;
            back_l4[8..12].copy_from_slice(&78u32.to_be_bytes());
        }
        let back_l4 = summed4(back_l4, at, o.dst, o.src, proto);
        let reply = frame4((server_mac(o.dst), port_mac(SRV)), o.dst, o.src, proto, HOP, tc, [0, 1, 0, 0], &back_l4);
        let (v, back) = lab.up(SRV, &reply);
        prop_assert_eq!(v, Verdict::Forward(ACC));
        let mut want_l4 = l4.clone();
        want_l4[0..2].copy_from_slice(&l4[2..4]);
        want_l4[2..4].copy_from_slice(&l4[0..2]);
        if tcp {
            want_l4[13] = 0x12;
            want_l4[8..12].copy_from_slice(&78u32.to_be_bytes());
        }
        let want_l4 = summed6(want_l4, at, vip, t, proto);
        prop_assert_eq!(back, frame6((port_mac(ACC), UE_MAC), vip, t, proto, HOP - 1, tc, &want_l4));
    }
}

/// The base station the GTP-U tests' terminal is behind.
pub(super) const ENB: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 50);

/// `inner` (an Ethernet frame) in a G-PDU from [`ENB`] to the access
/// address, TEID 0x1234_5678.
pub(super) fn from_enb(inner: &[u8]) -> Vec<u8> {
    let outer = FrameSpec {
        src_mac: MacAddr(UE_MAC),
        dst_mac: MacAddr(port_mac(ACC)),
        vlan: None,
        src_ip: ENB,
        dst_ip: Ipv4Addr::new(10, 1, 0, 1),
        src_port: 2152,
        dst_port: 2152,
        ttl: 64,
    };
    crate::wire::frames::gtpu_encap(&outer, 0x1234_5678, &inner[14..]).unwrap()
}

#[test]
fn an_ipv6_terminal_inside_gtpu_is_served_through_nat64_and_answered_in_its_tunnel() {
    let mut lab = with_ipv6_vips(Lab::nat64_keyed(1, SessionKeyMode::GtpTeid, None));
    let enb = ENB;
    let syn = summed6(tcp_l4(40000, 80, 7000, 0, 0x02, b""), 16, TERMINAL, VIP6, 6);
    let inner = frame6(up_macs(), TERMINAL, VIP6, 6, HOP, 0, &syn);
    let (v, out) = lab.up(ACC, &from_enb(&inner));
    assert_eq!(v, Verdict::Forward(SRV));
    let o = decode(&out);
    assert_eq!((o.src, o.dport, o.proto), (GW, 8080, 6));
    assert_eq!(out.len(), 14 + 20 + 20, "the tunnel and IPv6 are gone");
    assert_eq!(lab.live(), 1);

    let reply = summed4(
        tcp_l4(8080, o.sport, 9000, 7001, 0x12, b"ok"),
        16,
        o.dst,
        GW,
        6,
    );
    let reply = frame4(
        (server_mac(o.dst), port_mac(SRV)),
        o.dst,
        GW,
        6,
        64,
        0,
        [0, 1, 0x40, 0],
        &reply,
    );
    let (v, back) = lab.up(SRV, &reply);
    assert_eq!(v, Verdict::Forward(ACC));
    assert_eq!(&back[0..6], &UE_MAC, "to the tunnel's next hop");
    let outer_ip = &back[14..34];
    assert_eq!(slow_checksum(outer_ip), 0, "outer IPv4 checksum");
    assert_eq!(&outer_ip[12..16], &[10, 1, 0, 1], "from our access address");
    assert_eq!(&outer_ip[16..20], &enb.octets(), "to the tunnel peer");
    let gtp = &back[42..50];
    assert_eq!(gtp[1], 0xff, "G-PDU");
    assert_eq!(&gtp[4..8], &0x1234_5678u32.to_be_bytes(), "TEID kept");
    let v6 = &back[50..];
    assert_eq!(usize::from(u16::from_be_bytes([gtp[2], gtp[3]])), v6.len());
    assert_eq!(v6[0] >> 4, 6, "IPv6 inside");
    assert_eq!(
        &v6[8..24],
        &VIP6.octets(),
        "from the address the terminal addressed"
    );
    assert_eq!(&v6[24..40], &TERMINAL.octets());
    assert_eq!(&v6[40..42], &80u16.to_be_bytes());
    assert_eq!(&v6[42..44], &40000u16.to_be_bytes());
    assert_eq!(
        slow_l4_checksum_v6(VIP6, TERMINAL, 6, &v6[40..]),
        0,
        "TCP checksum"
    );
    assert_eq!(&v6[60..], b"ok");
}

/// IPv6 subscriber entries by prefix (a child: the frame builders above).
mod policy;

/// A service's DSCP marks a NAT64 user session both ways: the IPv4
/// packet to the server (its TOS) and the IPv6 reply to the terminal
/// (its traffic class), ECN kept, byte for byte otherwise.
#[test]
fn a_services_dscp_marks_nat64_packets_both_ways() {
    let mut lab = Lab::nat64(1, None);
    let mut p = crate::testkit::policy_with_ipv6_vips();
    for s in p.services.services.iter_mut() {
        if s.vip6 == Some(VIP6) {
            s.dscp = Some(46);
        }
    }
    lab.policy.publish(p);
    let syn = summed6(tcp_l4(40000, 80, 7000, 0, 0x02, b""), 16, TERMINAL, VIP6, 6);
    let (v, out) = lab.up(ACC, &frame6(up_macs(), TERMINAL, VIP6, 6, HOP, 1, &syn));
    assert_eq!(v, Verdict::Forward(SRV));
    let o = decode(&out);
    assert_eq!(out[15], (46 << 2) | 1, "TOS: DSCP 46, ECN kept");
    let (server, gw_port) = (o.dst, o.sport);
    let (v, back) = lab.up(SRV, &syn_ack4(server, gw_port, 0x02));
    assert_eq!(v, Verdict::Forward(ACC));
    assert_eq!(back, syn_ack6((46 << 2) | 2));
}
