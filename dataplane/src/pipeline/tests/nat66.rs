//! IPv6 → IPv6 full NAT through the pipeline (issue 14, item 3): an IPv6
//! terminal reaches IPv6 servers through a service's IPv6 VIP; the
//! servers see a gateway IPv6 address and a port unique to the user
//! session. Every frame out is compared byte for byte with one written out
//! here, checksums computed from scratch (`wire::testutil_v6`), both ways.

use super::nat64::{frame6, summed6, tcp_l4, udp_l4, up_macs, HOP, TC, TERMINAL};
use super::*;
use crate::event::{Ipv6Ends, PostNat6};
use crate::testkit::{server6_mac, GW6, SERVERS6, VIP66};
use proptest::prelude::*;
use std::collections::HashSet;
use std::net::Ipv6Addr;

fn src6(f: &[u8]) -> Ipv6Addr {
    Ipv6Addr::from(<[u8; 16]>::try_from(&f[22..38]).unwrap())
}

fn dst6(f: &[u8]) -> Ipv6Addr {
    Ipv6Addr::from(<[u8; 16]>::try_from(&f[38..54]).unwrap())
}

fn port_at(f: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([f[54 + at], f[55 + at]])
}

/// A TCP segment from IPv6 server `server` port `sport` to the gateway
/// IPv6 address port `gw_port`, checksum from scratch.
fn from_server(server: Ipv6Addr, sport: u16, gw_port: u16, flags: u8) -> Vec<u8> {
    let l4 = summed6(
        tcp_l4(sport, gw_port, 9000, 7001, flags, b""),
        16,
        server,
        GW6,
        6,
    );
    frame6(
        (server6_mac(server), port_mac(SRV)),
        server,
        GW6,
        6,
        64,
        0,
        &l4,
    )
}

#[test]
fn tcp_through_an_ipv6_vip_to_ipv6_servers_is_rewritten_both_ways_byte_exact() {
    let mut lab = Lab::nat66(1);
    let syn = summed6(
        tcp_l4(40000, 80, 7000, 0, 0x02, b""),
        16,
        TERMINAL,
        VIP66,
        6,
    );
    let (v, out) = lab.up(ACC, &frame6(up_macs(), TERMINAL, VIP66, 6, HOP, TC, &syn));
    assert_eq!(v, Verdict::Forward(SRV));
    let server = dst6(&out);
    assert!(SERVERS6.contains(&server), "{server}");
    assert_eq!(src6(&out), GW6);
    let gw_port = port_at(&out, 0);
    let want_l4 = summed6(
        tcp_l4(gw_port, 8080, 7000, 0, 0x02, b""),
        16,
        GW6,
        server,
        6,
    );
    let want = frame6(
        (port_mac(SRV), server6_mac(server)),
        GW6,
        server,
        6,
        HOP - 1,
        TC,
        &want_l4,
    );
    assert_eq!(out, want);

    // The SYN-ACK: from the VIP the terminal addressed, to the terminal.
    let reply = from_server(server, 8080, gw_port, 0x12);
    let (v, back) = lab.up(SRV, &reply);
    assert_eq!(v, Verdict::Forward(ACC));
    let want_l4 = summed6(
        tcp_l4(80, 40000, 9000, 7001, 0x12, b""),
        16,
        VIP66,
        TERMINAL,
        6,
    );
    let want = frame6((port_mac(ACC), UE_MAC), VIP66, TERMINAL, 6, 63, 0, &want_l4);
    assert_eq!(back, want);

    // Data on the established user session goes to the same server.
    let body = b"GET / HTTP/1.1\r\n\r\n";
    let data = summed6(
        tcp_l4(40000, 80, 7001, 9001, 0x18, body),
        16,
        TERMINAL,
        VIP66,
        6,
    );
    let (v, out) = lab.up(ACC, &frame6(up_macs(), TERMINAL, VIP66, 6, HOP, 0, &data));
    assert_eq!(v, Verdict::Forward(SRV));
    let want_l4 = summed6(
        tcp_l4(gw_port, 8080, 7001, 9001, 0x18, body),
        16,
        GW6,
        server,
        6,
    );
    let want = frame6(
        (port_mac(SRV), server6_mac(server)),
        GW6,
        server,
        6,
        HOP - 1,
        0,
        &want_l4,
    );
    assert_eq!(out, want);
    assert_eq!(lab.live(), 1);
    assert_eq!(lab.workers[0].counters().dropped_total(), 0);
}

#[test]
fn udp_both_ways_and_a_servers_zero_checksum_is_computed() {
    let mut lab = Lab::nat66(1);
    let q = summed6(udp_l4(5300, 53, b"query"), 6, TERMINAL, VIP66, 17);
    let (v, out) = lab.up(ACC, &frame6(up_macs(), TERMINAL, VIP66, 17, HOP, 0, &q));
    assert_eq!(v, Verdict::Forward(SRV));
    let server = dst6(&out);
    assert_eq!(server, SERVERS6[0]);
    let gw_port = port_at(&out, 0);
    let want_l4 = summed6(udp_l4(gw_port, 5353, b"query"), 6, GW6, server, 17);
    let want = frame6(
        (port_mac(SRV), server6_mac(server)),
        GW6,
        server,
        17,
        HOP - 1,
        0,
        &want_l4,
    );
    assert_eq!(out, want);
    // A zero UDP checksum (not allowed over IPv6) gets one computed.
    let answer = udp_l4(5353, gw_port, b"answer");
    let reply = frame6(
        (server6_mac(server), port_mac(SRV)),
        server,
        GW6,
        17,
        64,
        0,
        &answer,
    );
    let (v, back) = lab.up(SRV, &reply);
    assert_eq!(v, Verdict::Forward(ACC));
    let want_l4 = summed6(udp_l4(53, 5300, b"answer"), 6, VIP66, TERMINAL, 17);
    let want = frame6(
        (port_mac(ACC), UE_MAC),
        VIP66,
        TERMINAL,
        17,
        63,
        0,
        &want_l4,
    );
    assert_eq!(back, want);
}

#[test]
fn only_the_chosen_server_from_its_port_reaches_the_terminal() {
    let mut lab = Lab::nat66(1);
    let syn = summed6(
        tcp_l4(40000, 80, 7000, 0, 0x02, b""),
        16,
        TERMINAL,
        VIP66,
        6,
    );
    let (_, out) = lab.up(ACC, &frame6(up_macs(), TERMINAL, VIP66, 6, HOP, TC, &syn));
    let (server, gw_port) = (dst6(&out), port_at(&out, 0));
    let other = if server == SERVERS6[0] {
        SERVERS6[1]
    } else {
        SERVERS6[0]
    };
    let reply = |from, sport, dport| from_server(from, sport, dport, 0x12);
    let (v, _) = lab.up(SRV, &reply(other, 8080, gw_port));
    assert_eq!(v, Verdict::Drop(DropReason::ReplyMismatch));
    let (v, _) = lab.up(SRV, &reply(server, 8081, gw_port));
    assert_eq!(v, Verdict::Drop(DropReason::ReplyMismatch));
    let (v, _) = lab.up(SRV, &reply(server, 8080, gw_port.wrapping_add(1)));
    assert_eq!(v, Verdict::Drop(DropReason::NoUserSession));
    // To an address that is no gateway address: not served.
    let l4 = summed6(
        tcp_l4(8080, gw_port, 1, 1, 0x10, b""),
        16,
        server,
        SERVERS6[1],
        6,
    );
    let stray = frame6(
        (server6_mac(server), port_mac(SRV)),
        server,
        SERVERS6[1],
        6,
        64,
        0,
        &l4,
    );
    assert_eq!(
        lab.up(SRV, &stray).0,
        Verdict::Drop(DropReason::Ipv6NotServed)
    );
    let (v, _) = lab.up(SRV, &reply(server, 8080, gw_port));
    assert_eq!(v, Verdict::Forward(ACC));
}

/// Ports of IPv6 → IPv6 user sessions come from the gateway IPv6
/// address, unique among them; IPv4 user sessions keep the IPv4 one.
#[test]
fn each_user_session_gets_its_own_port_of_the_gateway_ipv6_address() {
    let mut lab = Lab::nat66(1);
    let mut ports = HashSet::new();
    for i in 0..200u16 {
        let t = Ipv6Addr::from(TERMINAL.to_bits() + u128::from(i));
        let syn = summed6(tcp_l4(40000, 80, 7000, 0, 0x02, b""), 16, t, VIP66, 6);
        let (v, out) = lab.up(ACC, &frame6(up_macs(), t, VIP66, 6, HOP, 0, &syn));
        assert_eq!(v, Verdict::Forward(SRV));
        assert_eq!(src6(&out), GW6);
        assert!(ports.insert(port_at(&out, 0)), "port handed out twice");
    }
    let (v, out) = lab.up(ACC, &syn(UE, 40000, VIP, 80));
    assert_eq!(v, Verdict::Forward(SRV));
    assert_eq!(decode(&out).src, GW);
}

/// Servers behind a static IPv6 route get the router's MAC; their
/// replies come back through it like any other.
#[test]
fn a_routed_ipv6_server_is_reached_through_its_next_hop() {
    use crate::testkit::{ROUTED6, ROUTER6};
    let mut lab = Lab::nat66(1);
    let mut p = crate::testkit::policy_with_ipv6_servers();
    for s in p.services.servers.iter_mut() {
        if let Some(a) = s.addr6 {
            s.addr6 = Some(Ipv6Addr::from(ROUTED6.to_bits() | (a.to_bits() & 0xffff)));
        }
    }
    lab.policy.publish(p);
    let syn = summed6(
        tcp_l4(40000, 80, 7000, 0, 0x02, b""),
        16,
        TERMINAL,
        VIP66,
        6,
    );
    let (v, out) = lab.up(ACC, &frame6(up_macs(), TERMINAL, VIP66, 6, HOP, 0, &syn));
    assert_eq!(v, Verdict::Forward(SRV));
    let server = dst6(&out);
    assert_eq!(server.segments()[..3], [0x2001, 0xdb8, 0x99], "{server}");
    assert_eq!(&out[..6], &server6_mac(ROUTER6), "to the router's MAC");
    let (v, back) = lab.up(SRV, &from_server(server, 8080, port_at(&out, 0), 0x12));
    assert_eq!(v, Verdict::Forward(ACC));
    assert_eq!((src6(&back), dst6(&back)), (VIP66, TERMINAL));
}

/// A server's packet longer than the terminal's port takes is not sent:
/// the server gets an ICMPv6 Packet Too Big from the gateway IPv6 address
/// with the port's MTU, quoting its packet.
#[test]
fn a_reply_too_big_for_the_terminals_port_gets_the_server_packet_too_big() {
    use crate::wire::{Icmpv6Packet, ICMPV6_PACKET_TOO_BIG};
    let mut lab = Lab::nat66_with(1, |t| t.set_mtu(ACC, Some(1300)));
    let syn = summed6(
        tcp_l4(40000, 80, 7000, 0, 0x02, b""),
        16,
        TERMINAL,
        VIP66,
        6,
    );
    let (_, out) = lab.up(ACC, &frame6(up_macs(), TERMINAL, VIP66, 6, HOP, 0, &syn));
    let (server, gw_port) = (dst6(&out), port_at(&out, 0));
    let body = vec![0x5a; 1400 - 40 - 20];
    let l4 = summed6(
        tcp_l4(8080, gw_port, 9000, 7001, 0x10, &body),
        16,
        server,
        GW6,
        6,
    );
    let big = frame6(
        (server6_mac(server), port_mac(SRV)),
        server,
        GW6,
        6,
        64,
        0,
        &l4,
    );
    let (v, ptb) = lab.up(SRV, &big);
    assert_eq!(v, Verdict::Forward(SRV));
    assert_eq!((src6(&ptb), dst6(&ptb)), (GW6, server));
    assert_eq!(&ptb[..6], &server6_mac(server));
    assert_eq!(&ptb[6..12], &port_mac(SRV));
    let icmp = Icmpv6Packet::new_checked(&ptb[54..]).unwrap();
    assert_eq!(icmp.msg_type(), ICMPV6_PACKET_TOO_BIG);
    assert_eq!(icmp.mtu(), 1300);
    assert!(icmp.verify_checksum(GW6, server));
    assert_eq!(
        &icmp.data()[..40],
        &big[14..54],
        "quotes the server's packet"
    );
    assert_eq!(lab.drops(DropReason::Nat64TooBig), 1);
    // A packet that fits goes on.
    let l4 = summed6(
        tcp_l4(8080, gw_port, 9000, 7001, 0x10, &body[..1200]),
        16,
        server,
        GW6,
        6,
    );
    let fits = frame6(
        (server6_mac(server), port_mac(SRV)),
        server,
        GW6,
        6,
        64,
        0,
        &l4,
    );
    assert_eq!(lab.up(SRV, &fits).0, Verdict::Forward(ACC));
}

/// A packet to an IPv6 server whose MAC is not known waits while the
/// control plane resolves it (reported as `NeighbourMissV6`), and leaves
/// once the neighbour is published, as an IPv4 packet waits for ARP.
#[test]
fn a_packet_to_an_unresolved_ipv6_server_waits_for_neighbor_discovery() {
    use crate::pipeline::hold::WaitingFor;
    let mut lab = Lab::nat66(1);
    let mut n = crate::testkit::neighbours();
    for s in SERVERS6 {
        n.remove_v6(SRV, s);
    }
    lab.neighbours.publish(n);
    let syn = summed6(
        tcp_l4(40000, 80, 7000, 0, 0x02, b""),
        16,
        TERMINAL,
        VIP66,
        6,
    );
    let (v, out) = lab.up(ACC, &frame6(up_macs(), TERMINAL, VIP66, 6, HOP, 0, &syn));
    let Some((port, waiting @ WaitingFor::ServerV6(_))) = v.held() else {
        panic!("expected a hold for an IPv6 server, got {v:?}");
    };
    assert_eq!(port, SRV);
    let server = dst6(&out);
    assert!(
        lab.events.iter().any(|e| matches!(e,
            Event::NeighbourMissV6 { port, ip } if *port == SRV && *ip == server)),
        "{:?}",
        lab.events
    );
    let mut f = VecFrame::new(&out);
    assert!(
        !lab.workers[0].complete_held(&mut f, port, waiting),
        "still unknown"
    );
    // The control plane learns the MAC by ND and publishes it.
    lab.neighbours.publish(crate::testkit::neighbours());
    lab.workers[0].begin_burst();
    assert!(lab.workers[0].complete_held(&mut f, port, waiting));
    assert_eq!(&f.bytes()[..6], &server6_mac(server));
    assert_eq!(&f.bytes()[6..12], &port_mac(SRV));
    assert_eq!(&f.bytes()[14..], &out[14..], "the packet as it was");
}

#[test]
fn a_reply_that_lands_on_another_worker_is_handed_to_the_owner() {
    let mut lab = Lab::nat66(2);
    for i in 0..8u16 {
        let t = Ipv6Addr::from(TERMINAL.to_bits() + (u128::from(i) << 64));
        let syn = summed6(tcp_l4(40000, 80, 7000, 0, 0x02, b""), 16, t, VIP66, 6);
        let (v, out) = lab.up(ACC, &frame6(up_macs(), t, VIP66, 6, HOP, 0, &syn));
        assert_eq!(v, Verdict::Forward(SRV));
        let (server, gw_port) = (dst6(&out), port_at(&out, 0));
        let reply = from_server(server, 8080, gw_port, 0x12);
        // So is a server's error about the user session's packet.
        let unreachable = error_to_gateway(server, (1, 3, 0), &out[14..]);
        for w in 0..2 {
            let (v, back, _) = lab.run(w, SRV, &reply);
            assert_eq!(v, Verdict::Forward(ACC));
            assert_eq!(dst6(&back), t);
            let (v, back, _) = lab.run(w, SRV, &unreachable);
            assert_eq!(v, Verdict::Forward(ACC));
            assert_eq!((dst6(&back), back[54]), (t, 1));
        }
    }
}

#[test]
fn the_record_names_the_ipv6_ends_before_and_after_nat() {
    let mut lab = Lab::nat66(1);
    let syn = summed6(
        tcp_l4(40000, 80, 7000, 0, 0x02, b""),
        16,
        TERMINAL,
        VIP66,
        6,
    );
    let (_, out) = lab.up(ACC, &frame6(up_macs(), TERMINAL, VIP66, 6, HOP, 0, &syn));
    let server = dst6(&out);
    let rst = summed6(
        tcp_l4(40000, 80, 7001, 0, 0x04, b""),
        16,
        TERMINAL,
        VIP66,
        6,
    );
    lab.up(ACC, &frame6(up_macs(), TERMINAL, VIP66, 6, HOP, 0, &rst));
    lab.tick(10 * 60 * 1000);
    let records = lab.accounting();
    let r = records.last().expect("a record");
    assert_eq!(
        r.ipv6,
        Some(Ipv6Ends {
            terminal: TERMINAL,
            dest: VIP66,
            post_nat: Some(PostNat6 {
                gateway: GW6,
                server,
            }),
        })
    );
    assert_eq!(
        (r.terminal_port, r.dest_port, r.server_port),
        (40000, 80, 8080)
    );
    assert_eq!(r.gateway_port, port_at(&out, 0));
}

/// A datagram the terminal fragmented reaches the server in the same
/// pieces, each with the gateway and server addresses; the checksum in the
/// first covers the new pseudo header.
#[test]
fn fragments_follow_their_user_session_to_the_server() {
    let mut lab = Lab::nat66(1);
    let payload: Vec<u8> = (0..64u8).collect();
    let whole = summed6(udp_l4(5300, 53, &payload), 6, TERMINAL, VIP66, 17);
    let piece = |offset: usize, more: bool, data: &[u8]| {
        let mut l = vec![17, 0];
        // The offset in 8-byte units sits above three flag bits.
        let word = offset as u16 | u16::from(more);
        l.extend_from_slice(&word.to_be_bytes());
        l.extend_from_slice(&0x0102_0304u32.to_be_bytes());
        l.extend_from_slice(data);
        frame6(up_macs(), TERMINAL, VIP66, 44, HOP, 0, &l)
    };
    let (v, first) = lab.up(ACC, &piece(0, true, &whole[..40]));
    assert_eq!(v, Verdict::Forward(SRV));
    let (v, later) = lab.up(ACC, &piece(40, false, &whole[40..]));
    assert_eq!(v, Verdict::Forward(SRV));
    let server = dst6(&first);
    for f in [&first, &later] {
        assert_eq!((src6(f), dst6(f)), (GW6, server));
    }
    // Put back together, the datagram checks against the new ends.
    let mut joined = first[62..].to_vec();
    joined.extend_from_slice(&later[62..]);
    let gw_port = u16::from_be_bytes([joined[0], joined[1]]);
    assert_eq!(
        joined,
        summed6(udp_l4(gw_port, 5353, &payload), 6, GW6, server, 17)
    );
}

proptest! {
    /// Any TCP or UDP flow through the VIP is translated and translated
    /// back exactly: what the terminal gets is what the server sent, ends
    /// swapped, one hop less each way.
    #[test]
    fn any_flow_goes_and_comes_back_exactly(
        host in any::<u64>(),
        sport in 1u16..,
        udp in any::<bool>(),
        data in proptest::collection::vec(any::<u8>(), 0..64),
        back in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut lab = Lab::nat66(1);
        let t = Ipv6Addr::from((TERMINAL.to_bits() & !u128::from(u64::MAX)) | u128::from(host));
        let (proto, dport, at) = if udp { (17, 53, 6) } else { (6, 80, 16) };
        let l4 = |sp, dp, flags, d: &[u8]| {
            if udp { udp_l4(sp, dp, d) } else { tcp_l4(sp, dp, 1, 0, flags, d) }
        };
        let up = summed6(l4(sport, dport, 0x02, &data), at, t, VIP66, proto);
        let (v, out) = lab.up(ACC, &frame6(up_macs(), t, VIP66, proto, HOP, 0, &up));
        prop_assert_eq!(v, Verdict::Forward(SRV));
        let (server, gw_port, server_port) = (dst6(&out), port_at(&out, 0), port_at(&out, 2));
        prop_assert_eq!(
            out[54..].to_vec(),
            summed6(l4(gw_port, server_port, 0x02, &data), at, GW6, server, proto)
        );
        let down = summed6(l4(server_port, gw_port, 0x12, &back), at, server, GW6, proto);
        let reply = frame6((server6_mac(server), port_mac(SRV)), server, GW6, proto, 64, 0, &down);
        let (v, got) = lab.up(SRV, &reply);
        prop_assert_eq!(v, Verdict::Forward(ACC));
        let want = summed6(l4(dport, sport, 0x12, &back), at, VIP66, t, proto);
        prop_assert_eq!(got, frame6((port_mac(ACC), UE_MAC), VIP66, t, proto, 63, 0, &want));
    }
}

/// An ICMPv6 error of `msg_type`/`code` (4 bytes after them: unused, or
/// an MTU) from `from` to the gateway IPv6 address quoting `quote`,
/// checksum from scratch, as it arrives on the server port.
fn error_to_gateway(
    from: Ipv6Addr,
    (msg_type, code, rest): (u8, u8, u32),
    quote: &[u8],
) -> Vec<u8> {
    let mut icmp = vec![msg_type, code, 0, 0];
    icmp.extend_from_slice(&rest.to_be_bytes());
    icmp.extend_from_slice(quote);
    let icmp = summed6(icmp, 2, from, GW6, 58);
    frame6(
        (server6_mac(from), port_mac(SRV)),
        from,
        GW6,
        58,
        64,
        0,
        &icmp,
    )
}

/// The same error as the terminal must get it: from the VIP, to the
/// terminal, one hop less, quoting `quote` (the packet it sent).
fn error_to_terminal((msg_type, code, rest): (u8, u8, u32), quote: &[u8]) -> Vec<u8> {
    let mut icmp = vec![msg_type, code, 0, 0];
    icmp.extend_from_slice(&rest.to_be_bytes());
    icmp.extend_from_slice(quote);
    let icmp = summed6(icmp, 2, VIP66, TERMINAL, 58);
    frame6((port_mac(ACC), UE_MAC), VIP66, TERMINAL, 58, 63, 0, &icmp)
}

/// A server's port unreachable about a UDP user session's datagram
/// reaches the terminal from the VIP, quoting the datagram the terminal
/// sent, byte for byte (its checksum too).
#[test]
fn a_servers_port_unreachable_reaches_the_terminal_about_its_own_datagram() {
    let mut lab = Lab::nat66(1);
    let q = summed6(udp_l4(5300, 53, b"query"), 6, TERMINAL, VIP66, 17);
    let sent = frame6(up_macs(), TERMINAL, VIP66, 17, HOP, 0, &q);
    let (v, out) = lab.up(ACC, &sent);
    assert_eq!(v, Verdict::Forward(SRV));
    let server = dst6(&out);
    let unreachable = error_to_gateway(server, (1, 4, 0), &out[14..]);
    let (v, back) = lab.up(SRV, &unreachable);
    assert_eq!(v, Verdict::Forward(ACC));
    assert_eq!(back, error_to_terminal((1, 4, 0), &sent[14..]));
    assert_eq!(lab.workers[0].counters().dropped_total(), 0);
}

/// A router on the way to the server says the packet was too big: the
/// terminal hears it with the same MTU (NAT66 keeps a packet's length),
/// whether the quote holds the TCP checksum or stops after the ports.
#[test]
fn a_routers_packet_too_big_reaches_the_terminal_with_its_mtu() {
    use crate::testkit::ROUTER6;
    let mut lab = Lab::nat66(1);
    let body = vec![0x33; 1300];
    let data = summed6(
        tcp_l4(40000, 80, 7000, 0, 0x02, b""),
        16,
        TERMINAL,
        VIP66,
        6,
    );
    lab.up(ACC, &frame6(up_macs(), TERMINAL, VIP66, 6, HOP, 0, &data));
    let seg = summed6(
        tcp_l4(40000, 80, 7001, 9001, 0x18, &body),
        16,
        TERMINAL,
        VIP66,
        6,
    );
    let sent = frame6(up_macs(), TERMINAL, VIP66, 6, HOP, 0, &seg);
    let (v, out) = lab.up(ACC, &sent);
    assert_eq!(v, Verdict::Forward(SRV));
    // The whole packet would make the error too long: 1232 bytes quoted
    // (RFC 4443's limit), then only the header and ports.
    for len in [1232, 40 + 8] {
        let ptb = error_to_gateway(ROUTER6, (2, 0, 1280), &out[14..14 + len]);
        let (v, back) = lab.up(SRV, &ptb);
        assert_eq!(v, Verdict::Forward(ACC), "quote of {len}");
        assert_eq!(
            back,
            error_to_terminal((2, 0, 1280), &sent[14..14 + len]),
            "quote of {len}"
        );
    }
}

/// Errors the gateway did not cause, or that were altered, go nowhere.
#[test]
fn an_error_about_no_user_sessions_packet_is_dropped() {
    let mut lab = Lab::nat66(1);
    let q = summed6(udp_l4(5300, 53, b"query"), 6, TERMINAL, VIP66, 17);
    let (_, out) = lab.up(ACC, &frame6(up_macs(), TERMINAL, VIP66, 17, HOP, 0, &q));
    let server = dst6(&out);
    let other = if server == SERVERS6[0] {
        SERVERS6[1]
    } else {
        SERVERS6[0]
    };
    // The quote names another server, or another gateway port.
    let mut quote = out[14..].to_vec();
    quote[24..40].copy_from_slice(&other.octets());
    let (v, _) = lab.up(SRV, &error_to_gateway(server, (1, 4, 0), &quote));
    assert_eq!(v, Verdict::Drop(DropReason::IcmpUnmatched));
    let mut quote = out[14..].to_vec();
    quote[40] ^= 0x01;
    let (v, _) = lab.up(SRV, &error_to_gateway(server, (1, 4, 0), &quote));
    assert_eq!(v, Verdict::Drop(DropReason::IcmpUnmatched));
    // A bad checksum.
    let mut bad = error_to_gateway(server, (1, 4, 0), &out[14..]);
    bad[56] ^= 0xff;
    let (v, _) = lab.up(SRV, &bad);
    assert_eq!(v, Verdict::Drop(DropReason::Icmpv6BadChecksum));
    // Not an error: an echo reply to the gateway address.
    let (v, _) = lab.up(SRV, &error_to_gateway(server, (129, 0, 0), &[]));
    assert_eq!(v, Verdict::Drop(DropReason::Icmpv6UnsupportedType));
    // And the right one still goes through.
    let (v, _) = lab.up(SRV, &error_to_gateway(server, (1, 4, 0), &out[14..]));
    assert_eq!(v, Verdict::Forward(ACC));
}

/// `tcp_l4` with an MSS option of `mss` (a 24-byte header).
fn tcp_with_mss(sport: u16, dport: u16, (seq, ack): (u32, u32), flags: u8, mss: u16) -> Vec<u8> {
    let mut t = tcp_l4(sport, dport, seq, ack, flags, b"");
    t[12] = 6 << 4;
    t.extend_from_slice(&[2, 4]);
    t.extend_from_slice(&mss.to_be_bytes());
    t
}

/// The DSCP and MSS of an IPv6 frame's TCP SYN, after checking its TCP
/// checksum from scratch.
fn dscp_and_mss(f: &[u8]) -> (u8, Option<u16>) {
    let l4 = &f[54..];
    let resummed = summed6(l4.to_vec(), 16, src6(f), dst6(f), 6);
    assert_eq!(resummed, l4, "TCP checksum");
    let tc = (f[14] << 4) | (f[15] >> 4);
    (tc >> 2, crate::wire::tcp_options::mss(l4))
}

/// A service's DSCP is set on its IPv6 → IPv6 user sessions' packets both
/// ways (ECN kept), and the terminal's port's MSS clamp lowers the SYN's
/// and the SYN-ACK's MSS, checksums right.
#[test]
fn dscp_and_mss_clamp_are_applied_both_ways() {
    let mut lab = Lab::nat66_with(1, |t| t.set_mss_clamp(ACC, Some(1300)));
    let mut p = crate::testkit::policy_with_ipv6_servers();
    for s in p.services.services.iter_mut() {
        if s.vip6 == Some(VIP66) {
            s.dscp = Some(46);
        }
    }
    lab.policy.publish(p);
    let syn = summed6(
        tcp_with_mss(40000, 80, (7000, 0), 0x02, 1460),
        16,
        TERMINAL,
        VIP66,
        6,
    );
    // Traffic class: DSCP 10, ECN 01.
    let (v, out) = lab.up(
        ACC,
        &frame6(up_macs(), TERMINAL, VIP66, 6, HOP, (10 << 2) | 1, &syn),
    );
    assert_eq!(v, Verdict::Forward(SRV));
    assert_eq!(dscp_and_mss(&out), (46, Some(1300)));
    assert_eq!(out[15] >> 4 & 0x03, 1, "ECN kept");
    let (server, gw_port) = (dst6(&out), port_at(&out, 0));
    let syn_ack = summed6(
        tcp_with_mss(8080, gw_port, (9000, 7001), 0x12, 1440),
        16,
        server,
        GW6,
        6,
    );
    let reply = frame6(
        (server6_mac(server), port_mac(SRV)),
        server,
        GW6,
        6,
        64,
        0,
        &syn_ack,
    );
    let (v, back) = lab.up(SRV, &reply);
    assert_eq!(v, Verdict::Forward(ACC));
    assert_eq!((src6(&back), dst6(&back)), (VIP66, TERMINAL));
    assert_eq!(dscp_and_mss(&back), (46, Some(1300)));
    assert_eq!(lab.workers[0].counters().mss_clamped.get(), 2);
}

/// An IPv6 server's answer to a health probe (to a gateway IPv6 address,
/// on a probe port) goes to the control plane; a stranger's does not.
#[test]
fn an_ipv6_servers_answer_to_a_health_probe_reaches_the_control_plane() {
    let mut lab = Lab::nat66(1);
    let server = SERVERS6[1];
    let answer = |from: Ipv6Addr, flags: u8| {
        let l4 = summed6(tcp_l4(8080, 1003, 777, 4243, flags, b""), 16, from, GW6, 6);
        frame6(
            (server6_mac(server), port_mac(SRV)),
            from,
            GW6,
            6,
            64,
            0,
            &l4,
        )
    };
    let (v, _) = lab.up(SRV, &answer(server, 0x12));
    assert_eq!(v, Verdict::Consumed);
    let (v, _) = lab.up(SRV, &answer(server, 0x14));
    assert_eq!(v, Verdict::Consumed);
    let replies: Vec<_> = lab
        .events
        .iter()
        .filter_map(|e| match e {
            Event::ProbeReply {
                server,
                port,
                probe_port,
                ok,
                ack,
                ..
            } => Some((*server, *port, *probe_port, *ok, *ack)),
            _ => None,
        })
        .collect();
    assert_eq!(
        replies,
        [
            (server.into(), 8080, 1003, true, 4243),
            (server.into(), 8080, 1003, false, 4243)
        ]
    );
    let stranger: Ipv6Addr = "2001:db8:20::99".parse().unwrap();
    let (v, _) = lab.up(SRV, &answer(stranger, 0x12));
    assert_eq!(v, Verdict::Drop(DropReason::NotForUs));
}

/// An error longer than the terminal's port takes is not sent there (and
/// nobody is told: it is about an error).
#[test]
fn an_error_too_long_for_the_terminals_port_is_dropped() {
    let mut lab = Lab::nat66_with(1, |t| t.set_mtu(ACC, Some(1300)));
    let body = vec![0x44; 1300];
    let q = summed6(udp_l4(5300, 53, &body), 6, TERMINAL, VIP66, 17);
    let (v, out) = lab.up(ACC, &frame6(up_macs(), TERMINAL, VIP66, 17, HOP, 0, &q));
    assert_eq!(v, Verdict::Forward(SRV));
    let server = dst6(&out);
    let (v, _) = lab.up(SRV, &error_to_gateway(server, (1, 4, 0), &out[14..]));
    assert_eq!(v, Verdict::Drop(DropReason::Nat64TooBig));
    let (v, _) = lab.up(
        SRV,
        &error_to_gateway(server, (1, 4, 0), &out[14..14 + 1200]),
    );
    assert_eq!(v, Verdict::Forward(ACC));
}
