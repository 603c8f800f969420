//! Layer 2, tunnels, ICMP and bad input.

use super::*;
use crate::wire::frames::{arp_frame, gtpu_encap, icmp_frame};
use crate::wire::{ArpOp, ArpRepr, IcmpRepr};

fn arp(op: ArpOp, sender: Ipv4Addr, sender_mac: [u8; 6], target: Ipv4Addr) -> Vec<u8> {
    arp_frame(
        &ArpRepr {
            op,
            sender_mac: MacAddr(sender_mac),
            sender_ip: sender,
            target_mac: MacAddr([0; 6]),
            target_ip: target,
        },
        MacAddr(sender_mac),
        MacAddr::BROADCAST,
        None,
    )
    .unwrap()
}

#[test]
fn arp_for_our_addresses_is_answered_on_the_right_port() {
    let mut lab = Lab::new(1);
    let s = Ipv4Addr::new(10, 2, 0, 21);
    let (v, out) = lab.up(SRV, &arp(ArpOp::Request, s, server_mac(s), GW));
    assert_eq!(v, Verdict::Forward(SRV));
    assert_eq!(&out[0..6], &server_mac(s));
    assert_eq!(&out[6..12], &port_mac(SRV));
    assert_eq!(&out[20..22], &[0, 2], "ARP reply");
    assert_eq!(&out[22..28], &port_mac(SRV), "sender MAC is ours");
    assert_eq!(&out[28..32], &GW.octets());
    assert_eq!(&out[38..42], &s.octets());

    // The VIP is answered on access ports only.
    let ue = Ipv4Addr::new(10, 1, 0, 100);
    assert_eq!(
        lab.up(ACC, &arp(ArpOp::Request, ue, UE_MAC, VIP)).0,
        Verdict::Forward(ACC)
    );
    assert_eq!(
        lab.up(SRV, &arp(ArpOp::Request, s, server_mac(s), VIP)).0,
        Verdict::Drop(DropReason::ArpIgnored)
    );
    // Unknown addresses are not answered.
    let other = Ipv4Addr::new(10, 2, 0, 99);
    let (v, _) = lab.up(SRV, &arp(ArpOp::Request, s, server_mac(s), other));
    assert_eq!(v, Verdict::Drop(DropReason::ArpIgnored));
}

#[test]
fn arp_teaches_neighbours_but_not_impostors() {
    let mut lab = Lab::new(1);
    let newcomer = Ipv4Addr::new(10, 2, 0, 77);
    let (v, _) = lab.up(SRV, &arp(ArpOp::Reply, newcomer, [2, 9, 9, 9, 9, 9], GW));
    assert_eq!(v, Verdict::Consumed);
    assert!(lab.events.iter().any(|e| matches!(
        e,
        Event::NeighbourSeen { port: SRV, ip, mac: [2, 9, 9, 9, 9, 9], kind: crate::event::ArpKind::ReplyToUs } if *ip == newcomer
    )));
    lab.events.clear();
    // Someone claiming our gateway address is ignored.
    let (v, _) = lab.up(SRV, &arp(ArpOp::Reply, GW, [2, 6, 6, 6, 6, 6], GW));
    assert_eq!(v, Verdict::Drop(DropReason::ArpIgnored));
    // Off-subnet senders are not learned.
    let (v, _) = lab.up(
        SRV,
        &arp(
            ArpOp::Request,
            Ipv4Addr::new(8, 8, 8, 8),
            [2, 5, 5, 5, 5, 5],
            Ipv4Addr::new(10, 2, 0, 99),
        ),
    );
    assert_eq!(v, Verdict::Drop(DropReason::ArpIgnored));
    assert!(lab.events.is_empty(), "{:?}", lab.events);
}

#[test]
fn arp_not_aimed_at_us_teaches_nothing_and_a_changed_mac_is_only_reported() {
    use crate::event::ArpKind;
    let mut lab = Lab::new(1);
    let s = SERVERS[0];
    let evil = [2, 0xee, 0xee, 0xee, 0xee, 0xee];
    // Gratuitous ARP claiming a known server's address with another MAC.
    let (v, _) = lab.up(SRV, &arp(ArpOp::Request, s, evil, s));
    assert_eq!(v, Verdict::Drop(DropReason::ArpUnsolicited));
    assert_eq!(lab.drops(DropReason::ArpUnsolicited), 1);
    assert!(lab.events.iter().all(|e| matches!(
        e,
        Event::NeighbourSeen {
            kind: ArpKind::Unsolicited,
            ..
        }
    )));
    assert_eq!(lab.events.len(), 1);
    // A flood of the same claim is reported once per 100 ms.
    for _ in 0..50 {
        lab.up(SRV, &arp(ArpOp::Reply, s, evil, s));
    }
    assert_eq!(lab.events.len(), 1);
    lab.events.clear();
    // Claims from many MACs share a budget: the event queue is not flooded,
    // and the server's own answer still gets through.
    lab.now += 100;
    for i in 0..200u8 {
        lab.up(SRV, &arp(ArpOp::Reply, s, [2, 0xee, 0, 0, 1, i], GW));
    }
    assert_eq!(lab.events.len(), 32, "one window's budget");
    let (v, _) = lab.up(SRV, &arp(ArpOp::Reply, s, server_mac(s), GW));
    assert_eq!(v, Verdict::Consumed);
    assert!(matches!(
        lab.events.last(),
        Some(Event::NeighbourSeen { kind: ArpKind::ReplyToUs, mac, .. }) if *mac == server_mac(s)
    ));
    lab.events.clear();
    lab.now += 100;
    // Gratuitous ARP of an unknown host: nothing learned, nothing reported.
    let stranger = Ipv4Addr::new(10, 2, 0, 88);
    let (v, _) = lab.up(SRV, &arp(ArpOp::Request, stranger, evil, stranger));
    assert_eq!(v, Verdict::Drop(DropReason::ArpIgnored));
    assert!(lab.events.is_empty());
    // A reply to us with the MAC we know is still reported (it confirms).
    let (v, _) = lab.up(SRV, &arp(ArpOp::Reply, s, server_mac(s), GW));
    assert_eq!(v, Verdict::Consumed);
    assert!(matches!(
        lab.events.as_slice(),
        [Event::NeighbourSeen {
            kind: ArpKind::ReplyToUs,
            ..
        }]
    ));
}

#[test]
fn ping_to_vip_and_gateway_is_answered() {
    let mut lab = Lab::new(1);
    let (v, out) = lab.up(ACC, &echo(UE, VIP, 7, (UE_MAC, port_mac(ACC))));
    assert_eq!(v, Verdict::Forward(ACC));
    let o = decode(&out);
    assert_eq!(
        (o.src, o.dst, o.tcp_flags, o.sport),
        (VIP, UE, 0, 7),
        "echo reply from the VIP"
    );
    assert_eq!(o.dst_mac, UE_MAC);
    let s = SERVERS[0];
    let (v, out) = lab.up(SRV, &echo(s, GW, 9, (server_mac(s), port_mac(SRV))));
    assert_eq!(v, Verdict::Forward(SRV));
    assert_eq!(decode(&out).src, GW);
    // A ping to an address that is not ours is not answered.
    let (v, _) = lab.up(
        SRV,
        &echo(
            s,
            Ipv4Addr::new(10, 2, 0, 99),
            9,
            (server_mac(s), port_mac(SRV)),
        ),
    );
    assert_eq!(v, Verdict::Drop(DropReason::NotForUs));
    assert_eq!(lab.live(), 0);
}

#[test]
fn vlan_tagged_terminals_get_tagged_replies() {
    let mut lab = Lab::new(1);
    let mut sp = spec(UE, 44000, VIP, 80, UE_MAC, port_mac(ACC));
    sp.vlan = Some(100);
    let frame = crate::wire::frames::tcp_frame(&sp, 1, 0, TcpFlags::SYN, 1000, &[]).unwrap();
    let (v, out) = lab.up(ACC, &frame);
    assert_eq!(v, Verdict::Forward(SRV));
    let o = decode(&out);
    let reply = tcp(
        o.dst,
        8080,
        GW,
        o.sport,
        TcpFlags::SYN | TcpFlags::ACK,
        &[],
        (server_mac(o.dst), port_mac(SRV)),
    );
    let (v, back) = lab.up(SRV, &reply);
    assert_eq!(v, Verdict::Forward(ACC));
    assert_eq!(&back[12..14], &[0x81, 0x00]);
    assert_eq!(u16::from_be_bytes([back[14], back[15]]) & 0x0fff, 100);
    // Strip the tag and check the rest.
    let mut plain = back[..12].to_vec();
    plain.extend_from_slice(&back[16..]);
    let b = decode(&plain);
    assert_eq!((b.src, b.sport, b.dst, b.dport), (VIP, 80, UE, 44000));
}

#[test]
fn gtpu_is_decapsulated_and_replies_go_back_in_the_tunnel() {
    let mut lab = Lab::with(1, 1024, SessionKeyMode::GtpTeid, PORT_RANGE);
    let inner = syn(UE, 45000, VIP, 80);
    let enb = Ipv4Addr::new(10, 1, 0, 50);
    let outer = FrameSpec {
        src_mac: MacAddr(UE_MAC),
        dst_mac: MacAddr(port_mac(ACC)),
        vlan: None,
        src_ip: enb,
        dst_ip: Ipv4Addr::new(10, 1, 0, 1),
        src_port: 2152,
        dst_port: 2152,
        ttl: 64,
    };
    let frame = gtpu_encap(&outer, 0x1234_5678, &inner[14..]).unwrap();
    let (v, out) = lab.up(ACC, &frame);
    assert_eq!(v, Verdict::Forward(SRV));
    let o = decode(&out);
    assert_eq!((o.src, o.dport), (GW, 8080));
    assert_eq!(out.len(), inner.len(), "outer headers removed");

    let reply = tcp(
        o.dst,
        8080,
        GW,
        o.sport,
        TcpFlags::SYN | TcpFlags::ACK,
        b"ok",
        (server_mac(o.dst), port_mac(SRV)),
    );
    let (v, back) = lab.up(SRV, &reply);
    assert_eq!(v, Verdict::Forward(ACC));
    let outer_ip = &back[14..34];
    assert_eq!(checksum(outer_ip), 0, "outer IPv4 checksum");
    assert_eq!(&outer_ip[12..16], &[10, 1, 0, 1], "from our access address");
    assert_eq!(&outer_ip[16..20], &enb.octets(), "to the tunnel peer");
    assert_eq!(&back[34..36], &2152u16.to_be_bytes());
    assert_eq!(&back[36..38], &2152u16.to_be_bytes());
    let gtp = &back[42..50];
    assert_eq!(gtp[1], 0xff, "G-PDU");
    assert_eq!(
        u32::from_be_bytes([gtp[4], gtp[5], gtp[6], gtp[7]]),
        0x1234_5678,
        "TEID kept"
    );
    let inner_back = &back[50..];
    assert_eq!(
        usize::from(u16::from_be_bytes([gtp[2], gtp[3]])),
        inner_back.len()
    );
    let mut plain = back[..12].to_vec();
    plain.extend_from_slice(&[0x08, 0x00]);
    plain.extend_from_slice(inner_back);
    let b = decode(&plain);
    assert_eq!((b.src, b.sport, b.dst, b.dport), (VIP, 80, UE, 45000));

    // Plain (untunnelled) traffic has no TEID: no session ID.
    assert_eq!(
        lab.up(ACC, &syn(UE, 45001, VIP, 80)).0,
        Verdict::Drop(DropReason::BadGtp)
    );
}

#[test]
fn icmp_errors_from_servers_reach_the_terminal_translated() {
    let mut lab = Lab::new(1);
    let q = udp(UE, 7000, DNS_VIP, 53, b"query", (UE_MAC, port_mac(ACC)));
    let (_, out) = lab.up(ACC, &q);
    let o = decode(&out);
    // The server answers with port unreachable, quoting what it got.
    let quoted = &out[14..14 + 28];
    let err = icmp_frame(
        &spec(o.dst, 0, GW, 0, server_mac(o.dst), port_mac(SRV)),
        &IcmpRepr::DestUnreachable {
            code: 3,
            next_hop_mtu: 0,
        },
        quoted,
    );
    let Ok(err) = err else {
        // The builder API may differ; build by hand instead.
        panic!("icmp_frame: {err:?}");
    };
    let (v, back) = lab.up(SRV, &err);
    assert_eq!(v, Verdict::Forward(ACC));
    let b = decode(&back);
    assert_eq!((b.src, b.dst), (DNS_VIP, UE));
    let inner = &back[14 + 20 + 8..];
    assert_eq!(checksum(&inner[..20]), 0, "quoted header checksum");
    assert_eq!(&inner[12..16], &UE.octets());
    assert_eq!(&inner[16..20], &DNS_VIP.octets());
    assert_eq!(&inner[20..22], &7000u16.to_be_bytes());
    assert_eq!(&inner[22..24], &53u16.to_be_bytes());
}

#[test]
fn a_quote_holding_the_whole_segment_comes_back_with_its_l4_checksum_right() {
    use crate::wire::checksum::l4_verifies;
    let mut lab = Lab::new(1);
    let q = udp(
        UE,
        7001,
        DNS_VIP,
        53,
        b"a longer query",
        (UE_MAC, port_mac(ACC)),
    );
    let (_, up_udp) = lab.up(ACC, &q);
    let (_, up_tcp) = lab.up(ACC, &syn(UE, 46001, VIP, 80));
    for (up, proto, vip, dport) in [(up_udp, 17u8, DNS_VIP, 53u16), (up_tcp, 6, VIP, 80)] {
        let o = decode(&up);
        // The server's side quotes the whole packet it got (as Linux
        // does, up to 576 bytes).
        let err = icmp_frame(
            &spec(o.dst, 0, GW, 0, server_mac(o.dst), port_mac(SRV)),
            &IcmpRepr::DestUnreachable {
                code: 3,
                next_hop_mtu: 0,
            },
            &up[14..],
        )
        .expect("an ICMP error frame");
        let (v, back) = lab.up(SRV, &err);
        assert_eq!(v, Verdict::Forward(ACC), "proto {proto}");
        let inner = &back[14 + 20 + 8..];
        assert_eq!(
            (&inner[12..16], &inner[16..20]),
            (&UE.octets()[..], &vip.octets()[..])
        );
        assert_eq!(&inner[22..24], &dport.to_be_bytes());
        assert!(
            l4_verifies(UE, vip, proto, &inner[20..]),
            "proto {proto}: the quoted checksum follows the translation"
        );
        assert_eq!(checksum(&back[14 + 20..]), 0, "ICMP checksum");
    }
}

#[test]
fn malformed_frames_are_dropped_with_reasons() {
    let mut lab = Lab::new(1);
    let good = syn(UE, 46000, VIP, 80);
    for len in 0..good.len() {
        let (v, _) = lab.up(ACC, &good[..len]);
        assert!(matches!(v, Verdict::Drop(_)), "truncated to {len}: {v:?}");
    }
    let mut bad_ihl = good.clone();
    bad_ihl[14] = 0x44;
    assert_eq!(
        lab.up(ACC, &bad_ihl).0,
        Verdict::Drop(DropReason::BadIpHeader)
    );
    let mut bad_version = good.clone();
    bad_version[14] = 0x65;
    assert_eq!(
        lab.up(ACC, &bad_version).0,
        Verdict::Drop(DropReason::BadIpHeader)
    );
    let mut too_long = good.clone();
    too_long[16..18].copy_from_slice(&2000u16.to_be_bytes());
    assert_eq!(
        lab.up(ACC, &too_long).0,
        Verdict::Drop(DropReason::BadIpHeader)
    );
    let mut fragment = good.clone();
    fragment[20] = 0x20; // MF, offset 8: a later piece of nothing seen
    fragment[21] = 1;
    assert_eq!(
        lab.up(ACC, &fragment).0,
        Verdict::Drop(DropReason::FragmentNoFirst)
    );
    let mut bad_offset = good.clone();
    bad_offset[14 + 20 + 12] = 0x20; // data offset 2 words
    assert_eq!(
        lab.up(ACC, &bad_offset).0,
        Verdict::Drop(DropReason::BadL4Header)
    );
    // An IPv6 ethertype over an IPv4 packet: read as IPv6, version 4.
    let mut ipv6 = good.clone();
    ipv6[12..14].copy_from_slice(&[0x86, 0xdd]);
    assert_eq!(
        lab.up(ACC, &ipv6).0,
        Verdict::Drop(DropReason::Ipv6BadVersion)
    );
    let mut lldp = good.clone();
    lldp[12..14].copy_from_slice(&[0x88, 0xcc]);
    assert_eq!(
        lab.up(ACC, &lldp).0,
        Verdict::Drop(DropReason::UnsupportedEthertype)
    );
    let mut ttl1 = good.clone();
    ttl1[22] = 1;
    assert_eq!(lab.up(ACC, &ttl1).0, Verdict::Drop(DropReason::TtlExpired));
    assert_eq!(lab.live(), 0);
}

#[test]
fn ip_options_are_carried_through() {
    let mut lab = Lab::new(1);
    let good = syn(UE, 47000, VIP, 80);
    // Insert 4 bytes of options (NOP NOP NOP EOL) after the IPv4 header.
    let mut f = good[..34].to_vec();
    f.extend_from_slice(&[1, 1, 1, 0]);
    f.extend_from_slice(&good[34..]);
    f[14] = 0x46;
    let total = u16::from_be_bytes([f[16], f[17]]) + 4;
    f[16..18].copy_from_slice(&total.to_be_bytes());
    f[24..26].copy_from_slice(&[0, 0]);
    let c = checksum(&f[14..38]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
    let (v, out) = lab.up(ACC, &f);
    assert_eq!(v, Verdict::Forward(SRV));
    let o = decode(&out);
    assert_eq!((o.src, o.dport), (GW, 8080));
}
