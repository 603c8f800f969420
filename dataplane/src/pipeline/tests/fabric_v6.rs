//! IPv6 terminals across the cluster fabric (issue 12 with issue 14's
//! NAT64): tier-1 unit 1 steers an IPv6 terminal's prefix to gateway 200
//! on appliance 2, which serves it through NAT64 and sends the answers
//! back over the fabric. Frames go from lab to lab by hand, as in
//! `fabric.rs`.

use super::fabric::{fab_addr, fab_mac, member_topology, table, BASE, FAB};
use super::*;
use crate::pipeline::fabric::{fabric_mss_v6, FabricConfig, FABRIC_OVERHEAD};
use crate::pipeline::Nat64Config;
use crate::tier1::{session_id_v6, Ipv6SessionPrefix};
use crate::wire::testutil::{slow_checksum, slow_l4_checksum};
use crate::wire::testutil_v6::slow_l4_checksum_v6;
use crate::wire::{decapsulate, TANDEM_FLAG_TO_TIER1};
use std::net::Ipv6Addr;

const VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 9, 0, 0, 0, 0, 0x80);
const TERMINAL: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x77, 1, 0x1c, 0x2b, 0x3a, 0x49);

/// Appliance `id` with NAT64 on, fabric MTU `mtu`, the terminal's /64
/// pinned to gateway 200 (appliance 2) and a "web6" service on `VIP6`
/// served by the lab's IPv4 web servers.
fn member6(id: u32, mtu: u16) -> Lab {
    let fabric = FabricConfig {
        appliance_id: id,
        port: FAB,
        addr: fab_addr(id),
        base_port: BASE,
        mtu,
        gateways: id.is_multiple_of(2),
    };
    let lab = Lab::cluster_member_nat64(member_topology(id), fabric, Nat64Config { prefix: None });
    let sid = session_id_v6(SessionKeyMode::SourceIp, TERMINAL, Ipv6SessionPrefix::P64);
    let sid = sid.expect("a global unicast terminal");
    lab.steering
        .publish(table(id, 200).with_pins(&[(sid, Some(GatewayId(200)))]));
    let mut n = neighbours();
    for other in [1u32, 2] {
        if other != id {
            n.insert(FAB, fab_addr(other), fab_mac(other));
        }
    }
    lab.neighbours.publish(n);
    let mut p = policy();
    let mut services = p.services.services.clone();
    let mut web6 = services[0].clone();
    web6.name = "web6".into();
    web6.vip = None;
    web6.vip6 = Some(VIP6);
    web6.proto = 6;
    web6.port_lo = 80;
    web6.port_hi = 80;
    web6.servers = vec![0, 1, 2];
    services.push(web6);
    p.services = crate::policy::ServiceTable::new(services, p.services.servers.clone());
    lab.policy.publish(p);
    lab
}

/// A TCP header with an MSS option of `mss` (24 bytes) + payload, checksum 0.
fn tcp_with_mss(sport: u16, dport: u16, seq: u32, flags: u8, mss: u16, payload: &[u8]) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&0u32.to_be_bytes());
    t.extend_from_slice(&[0x60, flags, 0xff, 0xff, 0, 0, 0, 0]);
    t.extend_from_slice(&[2, 4]);
    t.extend_from_slice(&mss.to_be_bytes());
    t.extend_from_slice(payload);
    t
}

/// The terminal's TCP segment to `VIP6:80` on A1's access port, checksummed.
fn from_terminal(seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut l4 = tcp_with_mss(40000, 80, seq, flags, 1460, payload);
    let c = slow_l4_checksum_v6(TERMINAL, VIP6, 6, &l4);
    l4[16..18].copy_from_slice(&c.to_be_bytes());
    let mut f = Vec::new();
    f.extend_from_slice(&port_mac(ACC));
    f.extend_from_slice(&UE_MAC);
    f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
    f.extend_from_slice(&(l4.len() as u16).to_be_bytes());
    f.extend_from_slice(&[6, 64]);
    f.extend_from_slice(&TERMINAL.octets());
    f.extend_from_slice(&VIP6.octets());
    f.extend_from_slice(&l4);
    f
}

/// A server's IPv4 TCP segment (DF) from `server` to `GW:gw_port`, from
/// the port the gateway sent to (`to.dport`, `to.sport`: what it sent).
fn from_server(to: &Out, flags: u8, payload: &[u8]) -> Vec<u8> {
    let (server, gw_port) = (to.dst, to.sport);
    let mut l4 = tcp_with_mss(to.dport, gw_port, 9000, flags, 1460, payload);
    let c = slow_l4_checksum(server, GW, 6, &l4);
    l4[16..18].copy_from_slice(&c.to_be_bytes());
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
    ip.extend_from_slice(&[0, 0, 0x40, 0, 64, 6, 0, 0]);
    ip.extend_from_slice(&server.octets());
    ip.extend_from_slice(&GW.octets());
    let c = slow_checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let mut f = Vec::new();
    f.extend_from_slice(&port_mac(SRV));
    f.extend_from_slice(&server_mac(server));
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(&ip);
    f.extend_from_slice(&l4);
    f
}

/// The MSS option of the TCP header at `tcp` in `frame`.
fn mss_at(frame: &[u8], tcp: usize) -> u16 {
    assert_eq!(&frame[tcp + 20..tcp + 22], &[2, 4], "the MSS option");
    u16::from_be_bytes([frame[tcp + 22], frame[tcp + 23]])
}

/// The IPv6 packet in `frame` (plain Ethernet) verifies from scratch.
fn assert_v6_tcp_checksum(frame: &[u8]) {
    assert_eq!(&frame[12..14], &[0x86, 0xdd]);
    let src = Ipv6Addr::from(<[u8; 16]>::try_from(&frame[22..38]).unwrap());
    let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&frame[38..54]).unwrap());
    assert_eq!(slow_l4_checksum_v6(src, dst, 6, &frame[54..]), 0);
}

#[test]
fn an_ipv6_terminal_reaches_a_nat64_service_on_a_gateway_across_the_fabric_and_back() {
    let (mut a1, mut g2) = (member6(1, 1500), member6(2, 1500));
    let mss = fabric_mss_v6(1500);
    assert_eq!(
        mss, 1362,
        "1500 less 60 outer, 18 Ethernet and tag, 40 IPv6, 20 TCP"
    );

    // Tier 1: the SYN leaves wrapped for gateway 200, its MSS clamped.
    let syn = from_terminal(7000, 0x02, b"");
    let (v, geneve, _) = a1.run(0, ACC, &syn);
    assert_eq!(v, Verdict::Forward(FAB));
    let d = decapsulate(&geneve, BASE).expect("Geneve to appliance 2");
    assert_eq!((d.option.appliance_id, d.option.io_point), (1, ACC));
    assert_eq!(d.option.flags & TANDEM_FLAG_TO_TIER1, 0);
    let inner = &geneve[d.inner_offset..d.inner_offset + d.inner_len];
    assert_eq!(inner.len(), syn.len());
    assert_eq!(mss_at(inner, 54), mss);
    assert_v6_tcp_checksum(inner);
    assert_eq!(a1.workers[0].counters().mss_clamped.get(), 1);

    // The gateway: NAT64 to an IPv4 web server, from its gateway address.
    let (v, to_server, _) = g2.run(0, FAB, &geneve);
    assert_eq!(v, Verdict::Forward(SRV));
    let out = decode(&to_server);
    assert_eq!((out.src, out.proto), (GW, 6));
    assert!(SERVERS.contains(&out.dst));
    assert_eq!(g2.live(), 1);

    // The server's SYN-ACK goes back over the fabric to A1, translated
    // to IPv6 from the VIP, its MSS clamped for the way back.
    let syn_ack = from_server(&out, 0x12, b"");
    let (v, back, _) = g2.run(0, SRV, &syn_ack);
    assert_eq!(v, Verdict::Forward(FAB));
    let d = decapsulate(&back, BASE).expect("Geneve to appliance 1");
    assert_eq!(d.option.flags & TANDEM_FLAG_TO_TIER1, TANDEM_FLAG_TO_TIER1);
    assert_eq!(d.option.io_point, ACC);
    assert_eq!(&back[30..34], &fab_addr(1).octets(), "to the tier-1 unit");
    let inner = &back[d.inner_offset..d.inner_offset + d.inner_len];
    assert_eq!(&inner[22..38], &VIP6.octets());
    assert_eq!(&inner[38..54], &TERMINAL.octets());
    assert_eq!(mss_at(inner, 54), mss);
    assert_v6_tcp_checksum(inner);

    // Tier 1 sends it to the terminal out of the access port it came in on.
    let (v, to_terminal, _) = a1.run(0, FAB, &back);
    assert_eq!(v, Verdict::Forward(ACC));
    assert_eq!(&to_terminal[0..6], &UE_MAC);
    assert_eq!(&to_terminal[6..12], &port_mac(ACC));
    assert_eq!(&to_terminal[14..], &inner[14..]);
}

#[test]
fn an_ipv6_frame_too_big_for_the_fabric_gets_packet_too_big_with_the_mtu_that_fits() {
    let mut a1 = member6(1, 600);
    // 600 less 60 of outer headers less the frame's own Ethernet header.
    let mtu = 600 - FABRIC_OVERHEAD as u32 - 14;
    // 40 + 24 + n bytes of IPv6: 526 fits, 527 does not.
    let big = from_terminal(7001, 0x10, &[7; 527 - 64]);
    let (v, reply, _) = a1.run(0, ACC, &big);
    assert_eq!(v, Verdict::Forward(ACC), "back out of the access port");
    assert_eq!(&reply[0..6], &UE_MAC);
    assert_eq!(&reply[6..12], &port_mac(ACC));
    assert_eq!(&reply[12..14], &[0x86, 0xdd]);
    assert_eq!(reply[20], 58, "ICMPv6");
    assert_eq!(&reply[22..38], &VIP6.octets(), "from the address addressed");
    assert_eq!(&reply[38..54], &TERMINAL.octets());
    let icmp = &reply[54..];
    assert_eq!((icmp[0], icmp[1]), (2, 0), "Packet Too Big");
    assert_eq!(
        u32::from_be_bytes([icmp[4], icmp[5], icmp[6], icmp[7]]),
        mtu
    );
    assert_eq!(&icmp[8..48], &big[14..54], "quotes the terminal's header");
    assert_eq!(slow_l4_checksum_v6(VIP6, TERMINAL, 58, icmp), 0);
    assert_eq!(a1.drops(DropReason::FabricTooBig), 1);
    assert_eq!(a1.workers[0].counters().icmp_errors_sent.get(), 1);
    // The size it was told fits crosses.
    let fits = from_terminal(7001, 0x10, &[7; 526 - 64]);
    let (v, _, _) = a1.run(0, ACC, &fits);
    assert_eq!(v, Verdict::Forward(FAB));
    // An MSS option in a segment that is not a SYN is left alone.
    assert_eq!(a1.workers[0].counters().mss_clamped.get(), 0);
}

#[test]
fn a_servers_df_answer_too_big_once_translated_for_the_fabric_gets_fragmentation_needed() {
    let (mut a1, mut g2) = (member6(1, 1500), member6(2, 600));
    let (_, geneve, _) = a1.run(0, ACC, &from_terminal(7000, 0x02, b""));
    let (v, to_server, _) = g2.run(0, FAB, &geneve);
    assert_eq!(v, Verdict::Forward(SRV));
    let out = decode(&to_server);
    // Translated, the IPv4 packet grows by 20: the largest IPv4 packet
    // that fits is 600 - 60 - 14 - 20 = 506.
    let mtu = 600 - FABRIC_OVERHEAD as u16 - 14 - 20;
    let big = from_server(&out, 0x10, &[7; 507 - 44]);
    let (v, reply, _) = g2.run(0, SRV, &big);
    assert_eq!(v, Verdict::Forward(SRV), "back to the server");
    let icmp = decode(&reply);
    assert_eq!((icmp.proto, icmp.src, icmp.dst), (1, GW, out.dst));
    let at = 14 + 20;
    assert_eq!((reply[at], reply[at + 1]), (3, 4));
    assert_eq!(u16::from_be_bytes([reply[at + 6], reply[at + 7]]), mtu);
    assert_eq!(g2.drops(DropReason::FabricTooBig), 1);
    let fits = from_server(&out, 0x10, &[7; 506 - 44]);
    let (v, wrapped, _) = g2.run(0, SRV, &fits);
    assert_eq!(v, Verdict::Forward(FAB));
    assert_eq!(wrapped.len(), 14 + 600);
}

/// IPv6 → IPv6 full NAT on a cluster gateway: the terminal's IPv6 frame
/// arrives in Geneve, leaves for an IPv6 server from the gateway IPv6
/// address, and the server's reply goes back over the fabric to the
/// tier-1 unit, from the VIP to the terminal.
#[test]
fn an_ipv6_terminal_reaches_ipv6_servers_on_a_gateway_across_the_fabric_and_back() {
    use crate::testkit::{server6_mac, GW6, SERVERS6, VIP66};
    let member66 = |id: u32| {
        let fabric = FabricConfig {
            appliance_id: id,
            port: FAB,
            addr: fab_addr(id),
            base_port: BASE,
            mtu: 1500,
            gateways: id.is_multiple_of(2),
        };
        let mut topo = member_topology(id);
        topo.set_ipv6_addresses(SRV, &[(crate::testkit::SRV_V6, 64)]);
        topo.add_gateway_v6(SRV, GW6, 1);
        let lab = Lab::cluster_member_nat66(topo, fabric);
        let sid = session_id_v6(SessionKeyMode::SourceIp, TERMINAL, Ipv6SessionPrefix::P64);
        let sid = sid.expect("a global unicast terminal");
        lab.steering
            .publish(table(id, 200).with_pins(&[(sid, Some(GatewayId(200)))]));
        let mut n = neighbours();
        n.insert(FAB, fab_addr(3 - id), fab_mac(3 - id));
        lab.neighbours.publish(n);
        lab.policy
            .publish(crate::testkit::policy_with_ipv6_servers());
        lab
    };
    let (mut a1, mut g2) = (member66(1), member66(2));
    // To VIP66 instead of VIP6 (the same length: swap the destination).
    let mut syn = from_terminal(7000, 0x02, b"");
    syn[38..54].copy_from_slice(&VIP66.octets());
    let c = slow_l4_checksum_v6(TERMINAL, VIP66, 6, &{
        let mut l4 = syn[54..].to_vec();
        l4[16..18].fill(0);
        l4
    });
    syn[70..72].copy_from_slice(&c.to_be_bytes());
    let (v, geneve, _) = a1.run(0, ACC, &syn);
    assert_eq!(v, Verdict::Forward(FAB));

    // The gateway: to an IPv6 server from the gateway IPv6 address.
    let (v, to_server, _) = g2.run(0, FAB, &geneve);
    assert_eq!(v, Verdict::Forward(SRV));
    assert_eq!(&to_server[12..14], &[0x86, 0xdd]);
    assert_eq!(&to_server[22..38], &GW6.octets());
    let server = Ipv6Addr::from(<[u8; 16]>::try_from(&to_server[38..54]).unwrap());
    assert!(SERVERS6.contains(&server));
    assert_eq!(&to_server[..6], &server6_mac(server));
    assert_v6_tcp_checksum(&to_server);
    let gw_port = u16::from_be_bytes([to_server[54], to_server[55]]);

    // Its SYN-ACK goes back over the fabric, from the VIP to the terminal.
    let mut l4 = tcp_with_mss(8080, gw_port, 9000, 0x12, 1460, b"");
    let c = slow_l4_checksum_v6(server, GW6, 6, &l4);
    l4[16..18].copy_from_slice(&c.to_be_bytes());
    let mut reply = Vec::new();
    reply.extend_from_slice(&port_mac(SRV));
    reply.extend_from_slice(&server6_mac(server));
    reply.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
    reply.extend_from_slice(&(l4.len() as u16).to_be_bytes());
    reply.extend_from_slice(&[6, 64]);
    reply.extend_from_slice(&server.octets());
    reply.extend_from_slice(&GW6.octets());
    reply.extend_from_slice(&l4);
    let (v, back, _) = g2.run(0, SRV, &reply);
    assert_eq!(v, Verdict::Forward(FAB));
    let d = decapsulate(&back, BASE).expect("Geneve to appliance 1");
    assert_eq!(d.option.flags & TANDEM_FLAG_TO_TIER1, TANDEM_FLAG_TO_TIER1);
    let inner = &back[d.inner_offset..d.inner_offset + d.inner_len];
    assert_eq!(&inner[22..38], &VIP66.octets());
    assert_eq!(&inner[38..54], &TERMINAL.octets());
    assert_v6_tcp_checksum(inner);
    let (v, to_terminal, _) = a1.run(0, FAB, &back);
    assert_eq!(v, Verdict::Forward(ACC));
    assert_eq!(&to_terminal[0..6], &UE_MAC);
}
