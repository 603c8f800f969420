//! The cluster fabric (`pipeline/fabric.rs`, issue 12) with one lab per
//! appliance: tier-1 units 1 and 3, gateway appliances 2 and 4 (one worker
//! each: gateways 200 and 400), all on the fabric network 10.99.0.0/24.
//! Frames go from lab to lab by hand, as the fabric would carry them.

use super::*;
use crate::pipeline::fabric::{fabric_mss, FabricConfig, FABRIC_OVERHEAD};
use crate::tier1::{
    session_id, FabricPeer, FabricPeers, Gateway, GatewayTarget, SessionId, SteeringTable,
};
use crate::topology::{LocalAddr, PortInfo, Role, Topology};
use crate::wire::checksum::l4_checksum;
use crate::wire::frames::tcp_frame;
use crate::wire::{outer_src_port, TANDEM_FLAG_TO_TIER1};

pub(super) const FAB: u16 = 4;
pub(super) const BASE: u16 = 6081;
const GENERATION: u64 = 42;
/// Outer Ethernet 14, IPv4 20, UDP 8, Geneve 8, Tandem option 20.
const ENCAP: usize = 74;

pub(super) fn fab_addr(id: u32) -> Ipv4Addr {
    Ipv4Addr::new(10, 99, 0, id as u8)
}

pub(super) fn fab_mac(id: u32) -> [u8; 6] {
    [2, 0xfa, 0, 0, 0, id as u8]
}

/// The lab topology plus a fabric port (port 4).
pub(super) fn member_topology(id: u32) -> Topology {
    let mut ports = topology().ports;
    ports.push(PortInfo {
        name: "fab0".into(),
        role: Role::Fabric,
        mac: fab_mac(id),
        addresses: vec![(fab_addr(id), 24)],
    });
    let mut t = Topology::new(ports);
    t.add_local(SRV, GW, LocalAddr::Gateway(0));
    t.add_local(EXT, GW, LocalAddr::Gateway(0));
    t.add_local(ACC, VIP, LocalAddr::Vip);
    t.add_local(ACC2, VIP, LocalAddr::Vip);
    t
}

fn sid(terminal: Ipv4Addr) -> SessionId {
    session_id(SessionKeyMode::SourceIp, terminal, None, None).unwrap()
}

/// The steering table appliance `me` builds: gateways 200 and 400, its
/// own local, the session of `UE` pinned to `pinned`.
pub(super) fn table(me: u32, pinned: u32) -> SteeringTable {
    let gateways: Vec<Gateway> = [2u32, 4]
        .iter()
        .map(|&app| Gateway {
            id: GatewayId(app * 100),
            target: if app == me {
                GatewayTarget::LocalWorker(0)
            } else {
                GatewayTarget::Remote {
                    addr: fab_addr(app),
                    port: BASE,
                }
            },
        })
        .collect();
    let peers = FabricPeers::new(
        GENERATION,
        [1, 2, 3, 4]
            .iter()
            .map(|&id| FabricPeer {
                appliance_id: id,
                addr: fab_addr(id),
                base_port: BASE,
            })
            .collect(),
    );
    SteeringTable::new(&gateways)
        .unwrap()
        .with_fabric(peers)
        .with_pins(&[(sid(UE), Some(GatewayId(pinned)))])
}

/// Appliance `id` (gateways: 2 and 4), fabric MTU `mtu`.
fn member(id: u32, mtu: u16) -> Lab {
    let fabric = FabricConfig {
        appliance_id: id,
        port: FAB,
        addr: fab_addr(id),
        base_port: BASE,
        mtu,
        gateways: id.is_multiple_of(2),
    };
    let lab = Lab::cluster_member(
        1,
        1 << 12,
        SessionKeyMode::SourceIp,
        (PORT_RANGE, member_topology(id)),
        Some(fabric),
    );
    lab.steering.publish(table(id, 200));
    let mut n = neighbours();
    for other in [1u32, 2, 3, 4] {
        if other != id {
            n.insert(FAB, fab_addr(other), fab_mac(other));
        }
    }
    lab.neighbours.publish(n);
    lab
}

struct Cluster {
    a1: Lab,
    g2: Lab,
    a3: Lab,
    g4: Lab,
}

fn cluster() -> Cluster {
    Cluster {
        a1: member(1, 1500),
        g2: member(2, 1500),
        a3: member(3, 1500),
        g4: member(4, 1500),
    }
}

fn dns_query(payload: &[u8]) -> Vec<u8> {
    udp(UE, 40000, DNS_VIP, 53, payload, (UE_MAC, port_mac(ACC)))
}

fn dns_answer(gw_port: u16, payload: &[u8]) -> Vec<u8> {
    udp(
        SERVERS[0],
        5353,
        GW,
        gw_port,
        payload,
        (server_mac(SERVERS[0]), port_mac(SRV)),
    )
}

fn rd16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Rewrites the outer IPv4 source of a fabric frame (checksum redone).
fn with_outer_src(frame: &[u8], src: Ipv4Addr) -> Vec<u8> {
    let mut f = frame.to_vec();
    f[26..30].copy_from_slice(&src.octets());
    f[24..26].copy_from_slice(&[0, 0]);
    let c = checksum(&f[14..34]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
    f
}

#[test]
fn uplink_crosses_the_fabric_to_the_gateway_and_the_reply_comes_back_as_a_stand_alone_sends_it() {
    let mut c = cluster();
    let query = dns_query(b"where is the server?");

    // Tier 1 (appliance 1): the session belongs to gateway 200 on appliance 2.
    let (v, geneve, _) = c.a1.run(0, ACC, &query);
    assert_eq!(v, Verdict::Forward(FAB));
    assert_eq!(geneve.len(), ENCAP + query.len());
    // Outer Ethernet: to appliance 2's fabric MAC, from ours.
    assert_eq!(&geneve[0..6], &fab_mac(2));
    assert_eq!(&geneve[6..12], &fab_mac(1));
    assert_eq!(&geneve[12..14], &[0x08, 0x00]);
    // Outer IPv4: header checksum computed from scratch over the header.
    let ip = &geneve[14..34];
    assert_eq!(ip[0], 0x45);
    assert_eq!(usize::from(rd16(ip, 2)), geneve.len() - 14);
    assert_eq!(rd16(ip, 6), 0x4000, "DF set, no fragment offset");
    assert_eq!((ip[8], ip[9]), (64, 17));
    assert_eq!(checksum(ip), 0, "outer IPv4 header checksum");
    assert_eq!(&ip[12..16], &fab_addr(1).octets());
    assert_eq!(&ip[16..20], &fab_addr(2).octets());
    // Outer UDP: from the session hash, to gateway 200's port, checksum 0.
    let udp_h = &geneve[34..42];
    assert!(rd16(udp_h, 0) >= 49152, "ephemeral source port");
    assert_eq!(
        rd16(udp_h, 0),
        outer_src_port(crate::hash::mix64(sid(UE).0) as u32)
    );
    assert_eq!(rd16(udp_h, 2), BASE);
    assert_eq!(usize::from(rd16(udp_h, 4)), geneve.len() - 34);
    assert_eq!(rd16(udp_h, 6), 0);
    // Geneve: version 0, 6 words of options, critical, Ethernet, VNI 0.
    assert_eq!(&geneve[42..50], &[0x06, 0x40, 0x65, 0x58, 0, 0, 0, 0]);
    // The Tandem option: appliance 1, I/O point = the access port, hop 0,
    // no flags, the table generation, draining from no gateway.
    assert_eq!(&geneve[50..54], &[0xff, 0xf0, 0x81, 0x05]);
    assert_eq!(&geneve[54..58], &1u32.to_be_bytes());
    assert_eq!(rd16(&geneve, 58), ACC);
    assert_eq!((geneve[60], geneve[61]), (0, 0));
    assert_eq!(&geneve[62..70], &GENERATION.to_be_bytes());
    assert_eq!(&geneve[70..74], &[0; 4]);
    // The inner frame is the terminal's, untouched.
    assert_eq!(&geneve[ENCAP..], &query[..]);
    assert_eq!(c.a1.workers[0].counters().fabric_tx.get(), 1);

    // The gateway: decapsulated, translated, to the server.
    let (v, to_server, _) = c.g2.run(0, FAB, &geneve);
    assert_eq!(v, Verdict::Forward(SRV));
    let out = decode(&to_server);
    assert_eq!((out.src, out.dst, out.dport), (GW, SERVERS[0], 5353));
    assert_eq!(out.dst_mac, server_mac(SERVERS[0]));
    assert_eq!(c.g2.workers[0].counters().fabric_rx.get(), 1);
    assert_eq!(c.g2.live(), 1);

    // The server's answer goes back over the fabric to appliance 1.
    let answer = dns_answer(out.sport, b"here");
    let (v, back, _) = c.g2.run(0, SRV, &answer);
    assert_eq!(v, Verdict::Forward(FAB));
    assert_eq!(&back[0..6], &fab_mac(1));
    assert_eq!(checksum(&back[14..34]), 0);
    assert_eq!(&back[26..30], &fab_addr(2).octets());
    assert_eq!(&back[30..34], &fab_addr(1).octets());
    assert_eq!(rd16(&back, 36), BASE, "the tier-1 unit's base port");
    assert_eq!(&back[54..58], &2u32.to_be_bytes(), "sent by appliance 2");
    assert_eq!(rd16(&back, 58), ACC, "to the terminal's I/O point");
    assert_eq!(back[61], TANDEM_FLAG_TO_TIER1);
    let (v, to_terminal, _) = c.a1.run(0, FAB, &back);
    assert_eq!(v, Verdict::Forward(ACC));

    // A stand-alone appliance, the same exchange.
    let mut alone = Lab::new(1);
    let (_, alone_up, _) = alone.run(0, ACC, &query);
    let alone_port = decode(&alone_up).sport;
    let (v, alone_down, _) = alone.run(0, SRV, &dns_answer(alone_port, b"here"));
    assert_eq!(v, Verdict::Forward(ACC));
    assert_eq!(to_terminal, alone_down, "byte for byte, MACs included");
    let t = decode(&to_terminal);
    assert_eq!((t.src, t.sport, t.dst, t.dport), (DNS_VIP, 53, UE, 40000));
}

/// What `wire::encapsulate` writes in front of `inner` for appliance 1's
/// tier 1 sending the session of `UE` from the access port to gateway 200
/// on appliance 2 (next hop MAC `dst_mac`).
fn encapsulated_by_hand(inner: &[u8], dst_mac: [u8; 6]) -> Vec<u8> {
    let encap = crate::wire::GeneveEncap {
        src_mac: crate::wire::MacAddr(fab_mac(1)),
        dst_mac: crate::wire::MacAddr(dst_mac),
        src_ip: fab_addr(1),
        dst_ip: fab_addr(2),
        dst_port: BASE,
        flow_hash: crate::hash::mix64(sid(UE).0) as u32,
        vni: 0,
        option: crate::wire::TandemOption {
            appliance_id: 1,
            io_point: ACC,
            hop_count: 0,
            flags: 0,
            generation: GENERATION,
            draining_from: 0,
        },
    };
    let mut out = vec![0u8; ENCAP];
    out.extend_from_slice(inner);
    crate::wire::encapsulate(&mut out, ENCAP, &encap).unwrap();
    out
}

/// After the first packet to a gateway the outer headers come from the
/// worker's template of them: every packet, whatever its size, is still
/// byte for byte what the encapsulation writes field by field (lengths,
/// outer IPv4 checksum), and a new MAC for the gateway's fabric address
/// is used from the next packet on.
#[test]
fn every_packet_to_a_gateway_is_wrapped_as_the_first_byte_for_byte() {
    let mut a1 = member(1, 1500);
    for payload_len in [20usize, 0, 1, 700, 1380, 33] {
        let query = dns_query(&vec![0x61; payload_len]);
        let (v, wrapped, _) = a1.run(0, ACC, &query);
        assert_eq!(v, Verdict::Forward(FAB));
        assert_eq!(
            wrapped,
            encapsulated_by_hand(&query, fab_mac(2)),
            "{payload_len} bytes"
        );
        assert_eq!(checksum(&wrapped[14..34]), 0);
    }
    assert_eq!(a1.workers[0].counters().fabric_tx.get(), 6);

    let moved = [2, 0xfa, 0, 0, 0, 0x22];
    let mut n = neighbours();
    for other in [2u32, 3, 4] {
        n.insert(
            FAB,
            fab_addr(other),
            if other == 2 { moved } else { fab_mac(other) },
        );
    }
    a1.neighbours.publish(n);
    let query = dns_query(b"after the move");
    let (v, wrapped, _) = a1.run(0, ACC, &query);
    assert_eq!(v, Verdict::Forward(FAB));
    assert_eq!(wrapped, encapsulated_by_hand(&query, moved));
}

/// A SYN announcing MSS `mss` (with valid checksums).
fn syn_with_mss(mss: u16) -> Vec<u8> {
    let [hi, lo] = mss.to_be_bytes();
    let mut f = tcp_frame(
        &spec(UE, 40001, VIP, 80, UE_MAC, port_mac(ACC)),
        SYN_ISN,
        0,
        TcpFlags::SYN,
        65535,
        &[2, 4, hi, lo],
    )
    .unwrap();
    f[34 + 12] = 6 << 4;
    f[34 + 16..34 + 18].copy_from_slice(&[0, 0]);
    let c = l4_checksum(UE, VIP, 6, &f[34..]);
    f[34 + 16..34 + 18].copy_from_slice(&c.to_be_bytes());
    f
}

fn mss_at(b: &[u8], ip: usize) -> Option<u16> {
    let ihl = usize::from(b[ip] & 0x0f) * 4;
    crate::wire::tcp_options::mss(&b[ip + ihl..])
}

#[test]
fn an_encapsulated_syn_and_syn_ack_announce_an_mss_that_fits_the_fabric() {
    let mut c = cluster();
    assert_eq!(fabric_mss(1500), 1382);
    let (v, geneve, _) = c.a1.run(0, ACC, &syn_with_mss(1460));
    assert_eq!(v, Verdict::Forward(FAB));
    assert_eq!(mss_at(&geneve, ENCAP + 14), Some(1382));
    assert_eq!(c.a1.workers[0].counters().mss_clamped.get(), 1);
    // The gateway's decode checks the TCP checksum the clamp updated.
    let (v, to_server, _) = c.g2.run(0, FAB, &geneve);
    assert_eq!(v, Verdict::Forward(SRV));
    let out = decode(&to_server);
    assert_eq!(mss_at(&to_server, 14), Some(1382));
    // The server's SYN-ACK (MSS 8960) goes back clamped too.
    let [hi, lo] = 8960u16.to_be_bytes();
    let mut syn_ack = tcp_frame(
        &spec(
            out.dst,
            out.dport,
            GW,
            out.sport,
            server_mac(out.dst),
            port_mac(SRV),
        ),
        5000,
        SYN_ISN + 1,
        TcpFlags::SYN | TcpFlags::ACK,
        65535,
        &[2, 4, hi, lo],
    )
    .unwrap();
    syn_ack[34 + 12] = 6 << 4;
    syn_ack[34 + 16..34 + 18].copy_from_slice(&[0, 0]);
    let cs = l4_checksum(out.dst, GW, 6, &syn_ack[34..]);
    syn_ack[34 + 16..34 + 18].copy_from_slice(&cs.to_be_bytes());
    let (v, back, _) = c.g2.run(0, SRV, &syn_ack);
    assert_eq!(v, Verdict::Forward(FAB));
    assert_eq!(mss_at(&back, ENCAP + 14), Some(1382));
    let (v, to_terminal, _) = c.a1.run(0, FAB, &back);
    assert_eq!(v, Verdict::Forward(ACC));
    let t = decode(&to_terminal);
    assert_eq!(t.tcp_flags & 0x12, 0x12);
    assert_eq!(mss_at(&to_terminal, 14), Some(1382));
}

#[test]
fn a_frame_too_big_for_the_fabric_is_dropped_and_counted() {
    let mut a1 = member(1, 600);
    // 14 + 20 + 8 + 498 = 540 bytes: with 60 bytes of outer headers the
    // outer packet is 600 <= 600 and passes; one byte more does not.
    let (v, _, _) = a1.run(0, ACC, &dns_query(&[7; 498]));
    assert_eq!(v, Verdict::Forward(FAB));
    // Without DF: dropped, and nothing goes back to the terminal.
    let (v, _, _) = a1.run(0, ACC, &dns_query(&[7; 499]));
    assert_eq!(v, Verdict::Drop(DropReason::FabricTooBig));
    assert_eq!(a1.drops(DropReason::FabricTooBig), 1);
    assert_eq!(a1.workers[0].counters().icmp_errors_sent.get(), 0);
    assert_eq!(a1.workers[0].counters().fabric_tx.get(), 1);
}

/// `frame` with DF set in its IPv4 header (at `l3`), header checksum
/// recomputed.
fn with_df(frame: &[u8], l3: usize) -> Vec<u8> {
    let mut f = frame.to_vec();
    f[l3 + 6] |= 0x40;
    f[l3 + 10..l3 + 12].copy_from_slice(&[0, 0]);
    let cs = checksum(&f[l3..l3 + 20]);
    f[l3 + 10..l3 + 12].copy_from_slice(&cs.to_be_bytes());
    f
}

/// The ICMP message of a decoded reply: type, code, the next-hop MTU
/// field (RFC 1191) and the quoted bytes.
fn icmp_of(reply: &[u8]) -> (u8, u8, u16, u16, &[u8]) {
    let icmp = &reply[34..];
    (
        icmp[0],
        icmp[1],
        u16::from_be_bytes([icmp[4], icmp[5]]),
        u16::from_be_bytes([icmp[6], icmp[7]]),
        &icmp[8..],
    )
}

#[test]
fn a_df_frame_too_big_for_the_fabric_gets_fragmentation_needed_with_the_mtu_that_fits() {
    let mut a1 = member(1, 600);
    // 600 less 60 of outer headers less the frame's own Ethernet header.
    let mtu = 600 - FABRIC_OVERHEAD as u16 - 14;
    assert_eq!(mtu, 526);
    let big = with_df(&dns_query(&[7; 499]), 14);
    let (v, reply, _) = a1.run(0, ACC, &big);
    assert_eq!(v, Verdict::Forward(ACC), "back out of the access port");
    // IPv4 and ICMP checksums are verified from scratch by decode.
    let out = decode(&reply);
    assert_eq!(out.proto, 1);
    assert_eq!((out.src, out.dst), (Ipv4Addr::new(10, 1, 0, 1), UE));
    assert_eq!((out.dst_mac, out.src_mac), (UE_MAC, port_mac(ACC)));
    assert_eq!(reply.len(), 14 + 20 + 8 + 20 + 8, "IPv4 header + 8 quoted");
    let (ty, code, unused, next_hop_mtu, quoted) = icmp_of(&reply);
    assert_eq!((ty, code, unused, next_hop_mtu), (3, 4, 0, mtu));
    assert_eq!(quoted, &big[14..14 + 28], "the original header + 8 bytes");
    assert_eq!(a1.drops(DropReason::FabricTooBig), 1);
    assert_eq!(a1.workers[0].counters().icmp_errors_sent.get(), 1);
    assert_eq!(a1.workers[0].counters().fabric_tx.get(), 0);
    // The terminal's next packet of the size it was told fits.
    let fits = with_df(&dns_query(&[7; 498]), 14);
    assert_eq!(usize::from(u16::from_be_bytes([fits[16], fits[17]])), 526);
    let (v, _, _) = a1.run(0, ACC, &fits);
    assert_eq!(v, Verdict::Forward(FAB));
    assert_eq!(a1.workers[0].counters().icmp_errors_sent.get(), 1);

    // Tagged: the tag travels inside too, so the MTU is 4 less, and the
    // answer keeps the tag.
    let mut s = spec(UE, 40000, DNS_VIP, 53, UE_MAC, port_mac(ACC));
    s.vlan = Some(7);
    let tagged = |n| {
        with_df(
            &crate::wire::frames::udp_frame(&s, &vec![7; n]).unwrap(),
            18,
        )
    };
    let (v, _, _) = a1.run(0, ACC, &tagged(494));
    assert_eq!(v, Verdict::Forward(FAB), "522 bytes of IPv4 fit");
    let big = tagged(495);
    let (v, reply, _) = a1.run(0, ACC, &big);
    assert_eq!(v, Verdict::Forward(ACC));
    assert_eq!(&reply[12..16], &[0x81, 0x00, 0, 7]);
    let mut untagged = reply[..12].to_vec();
    untagged.extend_from_slice(&reply[16..]);
    let out = decode(&untagged);
    assert_eq!(
        (out.src, out.dst, out.proto),
        (Ipv4Addr::new(10, 1, 0, 1), UE, 1)
    );
    let (ty, code, _, next_hop_mtu, quoted) = icmp_of(&untagged);
    assert_eq!((ty, code, next_hop_mtu), (3, 4, mtu - 4));
    assert_eq!(quoted, &big[18..18 + 28]);
    assert_eq!(a1.drops(DropReason::FabricTooBig), 2);
    assert_eq!(a1.workers[0].counters().icmp_errors_sent.get(), 2);
}

#[test]
fn a_gateways_downlink_too_big_for_the_fabric_is_dropped_before_and_after_the_first_packet() {
    let mut c = cluster();
    c.g2 = member(2, 600);
    let (_, geneve, _) = c.a1.run(0, ACC, &dns_query(b"q"));
    let (v, to_server, _) = c.g2.run(0, FAB, &geneve);
    assert_eq!(v, Verdict::Forward(SRV));
    let gw_port = decode(&to_server).sport;
    // 14 + 20 + 8 + 498 = 540: 600 with the outer headers. The first
    // answer is wrapped field by field, the next from the template.
    for (n, expected) in [
        (499, Verdict::Drop(DropReason::FabricTooBig)),
        (498, Verdict::Forward(FAB)),
        (499, Verdict::Drop(DropReason::FabricTooBig)),
        (498, Verdict::Forward(FAB)),
    ] {
        let (v, wrapped, _) = c.g2.run(0, SRV, &dns_answer(gw_port, &vec![7; n]));
        assert_eq!(v, expected, "{n} bytes of payload");
        if v == Verdict::Forward(FAB) {
            assert_eq!(wrapped.len(), 14 + 600);
        }
    }
    assert_eq!(c.g2.drops(DropReason::FabricTooBig), 2);
    assert_eq!(c.g2.workers[0].counters().icmp_errors_sent.get(), 0);
}

#[test]
fn a_servers_df_packet_too_big_for_the_fabric_gets_fragmentation_needed_from_the_gateway_address() {
    let mut c = cluster();
    c.g2 = member(2, 600);
    let (_, geneve, _) = c.a1.run(0, ACC, &dns_query(b"q"));
    let (v, to_server, _) = c.g2.run(0, FAB, &geneve);
    assert_eq!(v, Verdict::Forward(SRV));
    let gw_port = decode(&to_server).sport;
    // 600 less 60 of outer headers less the terminal frame's Ethernet
    // header, which travels inside.
    let mtu = 600 - FABRIC_OVERHEAD as u16 - 14;
    let big = with_df(&dns_answer(gw_port, &[7; 499]), 14);
    let (v, reply, _) = c.g2.run(0, SRV, &big);
    assert_eq!(v, Verdict::Forward(SRV), "back to the server");
    // IPv4 and ICMP checksums are verified from scratch by decode.
    let out = decode(&reply);
    assert_eq!((out.proto, out.src, out.dst), (1, GW, SERVERS[0]));
    assert_eq!(
        (out.dst_mac, out.src_mac),
        (server_mac(SERVERS[0]), port_mac(SRV))
    );
    let (ty, code, unused, next_hop_mtu, quoted) = icmp_of(&reply);
    assert_eq!((ty, code, unused, next_hop_mtu), (3, 4, 0, mtu));
    assert_eq!(
        quoted,
        &big[14..14 + 28],
        "the server's header + 8 bytes, untranslated"
    );
    assert_eq!(c.g2.drops(DropReason::FabricTooBig), 1);
    assert_eq!(c.g2.workers[0].counters().icmp_errors_sent.get(), 1);
    assert_eq!(c.g2.workers[0].counters().fabric_tx.get(), 0);
    // The server's next packet of the size it was told fits, and reaches
    // the terminal through A1.
    let fits = with_df(&dns_answer(gw_port, &[7; 498]), 14);
    assert_eq!(
        usize::from(u16::from_be_bytes([fits[16], fits[17]])),
        usize::from(mtu)
    );
    let (v, wrapped, _) = c.g2.run(0, SRV, &fits);
    assert_eq!(v, Verdict::Forward(FAB));
    assert_eq!(wrapped.len(), 14 + 600);
    let (v, to_terminal, _) = c.a1.run(0, FAB, &wrapped);
    assert_eq!(v, Verdict::Forward(ACC));
    assert_eq!(decode(&to_terminal).dst, UE);
    assert_eq!(c.g2.workers[0].counters().icmp_errors_sent.get(), 1);
}

#[test]
fn a_second_chance_too_big_for_the_forwarding_gateways_fabric_is_dropped() {
    let mut c = cluster();
    c.g4 = member(4, 600);
    open_tcp(&mut c);
    for (lab, me) in [(&c.a1, 1), (&c.g2, 2), (&c.a3, 3), (&c.g4, 4)] {
        lab.steering
            .publish(table(me, 400).with_draining(&[(sid(UE), Some(GatewayId(200)))]));
    }
    // 14 + 20 + 20 + 486 = 540: forwarded; one byte more is not, the
    // first time (wrapped field by field) nor once the template exists.
    let mut seq = SYN_ISN + 1;
    for (n, expected) in [
        (487, Verdict::Drop(DropReason::FabricTooBig)),
        (486, Verdict::Forward(FAB)),
        (487, Verdict::Drop(DropReason::FabricTooBig)),
        (486, Verdict::Forward(FAB)),
    ] {
        let (v, geneve, _) = c.a1.run(0, ACC, &client_ack(seq, &vec![7; n]));
        assert_eq!(v, Verdict::Forward(FAB));
        let (v, _, _) = c.g4.run(0, FAB, &geneve);
        assert_eq!(v, expected, "{n} bytes of payload");
        seq += n as u32;
    }
    assert_eq!(c.g4.drops(DropReason::FabricTooBig), 2);
}

#[test]
fn fragmentation_needed_is_sent_within_the_reply_rate_and_never_about_an_icmp_error() {
    let mut a1 = member(1, 600);
    let mut policy = policy();
    policy.reply_rate_per_s = 2;
    a1.policy.publish(policy);
    let big = with_df(&dns_query(&[7; 499]), 14);
    let verdicts: Vec<Verdict> = (0..3).map(|_| a1.run(0, ACC, &big).0).collect();
    assert_eq!(
        verdicts,
        [
            Verdict::Forward(ACC),
            Verdict::Forward(ACC),
            Verdict::Drop(DropReason::RateLimited)
        ]
    );
    assert_eq!(a1.workers[0].counters().icmp_errors_sent.get(), 2);
    assert_eq!(a1.drops(DropReason::FabricTooBig), 2);
    assert_eq!(a1.drops(DropReason::RateLimited), 1);
    // A second later the rate allows answers again.
    a1.tick(1000);
    assert_eq!(a1.run(0, ACC, &big).0, Verdict::Forward(ACC));
    assert_eq!(a1.workers[0].counters().icmp_errors_sent.get(), 3);
    // A terminal's own ICMP error, too big and with DF, is not answered
    // (RFC 1122 3.2.2): dropped as too big.
    let icmp_error = crate::wire::frames::icmp_frame(
        &spec(UE, 0, DNS_VIP, 0, UE_MAC, port_mac(ACC)),
        &crate::wire::IcmpRepr::DestUnreachable {
            code: 3,
            next_hop_mtu: 0,
        },
        &[7; 560],
    );
    let icmp_error = with_df(&icmp_error.unwrap(), 14);
    a1.tick(1000);
    let (v, _, _) = a1.run(0, ACC, &icmp_error);
    assert_eq!(v, Verdict::Drop(DropReason::FabricTooBig));
    assert_eq!(a1.workers[0].counters().icmp_errors_sent.get(), 3);
}

#[test]
fn strangers_bad_options_and_loops_are_dropped_with_their_reason() {
    let mut c = cluster();
    let (_, geneve, _) = c.a1.run(0, ACC, &dns_query(b"q"));
    let cases: Vec<(Vec<u8>, DropReason)> = vec![
        // Not a member's fabric address.
        (
            with_outer_src(&geneve, Ipv4Addr::new(10, 99, 0, 9)),
            DropReason::FabricStranger,
        ),
        // A member, but the option names another appliance.
        (
            {
                let mut f = geneve.clone();
                f[57] = 3;
                f
            },
            DropReason::FabricWrongAppliance,
        ),
        // The option's length does not fit the option area.
        (
            {
                let mut f = geneve.clone();
                f[53] = 4;
                f
            },
            DropReason::GeneveBadOption,
        ),
        // Hop count 2: a loop.
        (
            {
                let mut f = geneve.clone();
                f[60] = 2;
                f
            },
            DropReason::GeneveHopCountExceeded,
        ),
        // A wrong outer header checksum.
        (
            {
                let mut f = geneve.clone();
                f[24] ^= 1;
                f
            },
            DropReason::GeneveNotGeneve,
        ),
    ];
    for (frame, reason) in cases {
        let (v, _, _) = c.g2.run(0, FAB, &frame);
        assert_eq!(v, Verdict::Drop(reason), "{reason:?}");
        assert_eq!(c.g2.drops(reason), 1, "{reason:?}");
    }
    assert_eq!(c.g2.live(), 0, "nothing got through");
    assert_eq!(c.g2.workers[0].counters().fabric_rx.get(), 0);
    // A downlink from a stranger is not sent to the terminal either, nor
    // one naming a port that is not an access port.
    let (_, to_server, _) = c.g2.run(0, FAB, &geneve);
    let (_, back, _) =
        c.g2.run(0, SRV, &dns_answer(decode(&to_server).sport, b"a"));
    let (v, _, _) =
        c.a1.run(0, FAB, &with_outer_src(&back, Ipv4Addr::new(10, 99, 0, 9)));
    assert_eq!(v, Verdict::Drop(DropReason::FabricStranger));
    let mut bad_port = back.clone();
    bad_port[58..60].copy_from_slice(&SRV.to_be_bytes());
    let (v, _, _) = c.a1.run(0, FAB, &bad_port);
    assert_eq!(v, Verdict::Drop(DropReason::FabricBadIoPoint));
    let (v, _, _) = c.a1.run(0, FAB, &back);
    assert_eq!(v, Verdict::Forward(ACC));
}

/// A TCP connection through `via` (appliance 1 or 3) to gateway 200;
/// returns the gateway port and the server.
fn open_tcp(c: &mut Cluster) -> (u16, Ipv4Addr) {
    let (_, geneve, _) = c.a1.run(0, ACC, &syn());
    let (_, to_server, _) = c.g2.run(0, FAB, &geneve);
    let out = decode(&to_server);
    let syn_ack = tcp_seq(
        out.dst,
        out.dport,
        GW,
        out.sport,
        TcpFlags::SYN | TcpFlags::ACK,
        5000,
        SYN_ISN + 1,
        &[],
        (server_mac(out.dst), port_mac(SRV)),
    );
    let (v, back, _) = c.g2.run(0, SRV, &syn_ack);
    assert_eq!(v, Verdict::Forward(FAB));
    let (v, _, _) = c.a1.run(0, FAB, &back);
    assert_eq!(v, Verdict::Forward(ACC));
    (out.sport, out.dst)
}

fn syn() -> Vec<u8> {
    crate::testkit::syn(UE, 40002, VIP, 80)
}

fn client_ack(seq: u32, payload: &[u8]) -> Vec<u8> {
    tcp_seq(
        UE,
        40002,
        VIP,
        80,
        TcpFlags::ACK,
        seq,
        5001,
        payload,
        (UE_MAC, port_mac(ACC)),
    )
}

fn server_data(gw_port: u16, server: Ipv4Addr, seq: u32) -> Vec<u8> {
    tcp_seq(
        server,
        8080,
        GW,
        gw_port,
        TcpFlags::ACK,
        seq,
        SYN_ISN + 1,
        b"data",
        (server_mac(server), port_mac(SRV)),
    )
}

#[test]
fn the_latest_uplink_wins_a_terminal_moving_to_another_tier1_unit_gets_its_downlink_there() {
    let mut c = cluster();
    let (gw_port, server) = open_tcp(&mut c);
    // The terminal now enters at appliance 3 (same session, same gateway).
    let (v, geneve, _) = c.a3.run(0, ACC, &client_ack(SYN_ISN + 1, b"hello"));
    assert_eq!(v, Verdict::Forward(FAB));
    assert_eq!(&geneve[54..58], &3u32.to_be_bytes());
    let (v, _, _) = c.g2.run(0, FAB, &geneve);
    assert_eq!(v, Verdict::Forward(SRV));
    assert_eq!(c.g2.workers[0].counters().client_path_moved.get(), 1);
    // The server's data goes to appliance 3 now.
    let (v, back, _) = c.g2.run(0, SRV, &server_data(gw_port, server, 5001));
    assert_eq!(v, Verdict::Forward(FAB));
    assert_eq!(&back[0..6], &fab_mac(3));
    assert_eq!(&back[30..34], &fab_addr(3).octets());
    let (v, to_terminal, _) = c.a3.run(0, FAB, &back);
    assert_eq!(v, Verdict::Forward(ACC));
    assert_eq!(decode(&to_terminal).dst, UE);
    assert_eq!(c.g2.live(), 1, "one user session throughout");
}

#[test]
fn second_chance_forwards_once_to_the_old_gateway_over_the_fabric_and_never_twice() {
    let mut c = cluster();
    let (gw_port, server) = open_tcp(&mut c);
    // The session moves to gateway 400 and drains from 200, everywhere.
    for (lab, me) in [(&c.a1, 1), (&c.g2, 2), (&c.a3, 3), (&c.g4, 4)] {
        lab.steering
            .publish(table(me, 400).with_draining(&[(sid(UE), Some(GatewayId(200)))]));
    }
    // The open connection's next segment goes to 400, which has no user
    // session for it: it forwards it once, hop count 1, to 200.
    let (_, geneve, _) = c.a1.run(0, ACC, &client_ack(SYN_ISN + 1, b"more"));
    assert_eq!(&geneve[30..34], &fab_addr(4).octets());
    let (v, forwarded, _) = c.g4.run(0, FAB, &geneve);
    assert_eq!(v, Verdict::Forward(FAB));
    assert_eq!(c.g4.workers[0].counters().second_chance.get(), 1);
    assert_eq!(c.g4.live(), 0);
    assert_eq!(&forwarded[0..6], &fab_mac(2));
    assert_eq!(checksum(&forwarded[14..34]), 0);
    assert_eq!(&forwarded[26..30], &fab_addr(4).octets());
    assert_eq!(&forwarded[30..34], &fab_addr(2).octets());
    assert_eq!(rd16(&forwarded, 36), BASE);
    assert_eq!(
        &forwarded[54..58],
        &1u32.to_be_bytes(),
        "still names the tier-1 unit"
    );
    assert_eq!(rd16(&forwarded, 58), ACC);
    assert_eq!(forwarded[60], 1, "hop count 1");
    // The terminal's frame (but for its destination MAC: the tier-1 unit's
    // access port, which the gateway does not keep).
    assert_eq!(&forwarded[ENCAP + 6..], &geneve[ENCAP + 6..]);
    // The old gateway carries it on; replies still go to the tier-1 unit.
    let (v, _, _) = c.g2.run(0, FAB, &forwarded);
    assert_eq!(v, Verdict::Forward(SRV));
    let (v, back, _) = c.g2.run(0, SRV, &server_data(gw_port, server, 5001));
    assert_eq!(v, Verdict::Forward(FAB));
    assert_eq!(&back[30..34], &fab_addr(1).octets());
    // A new connection starts on 400.
    let (_, geneve_syn, _) = c.a1.run(0, ACC, &crate::testkit::syn(UE, 40100, VIP, 80));
    let (v, _, _) = c.g4.run(0, FAB, &geneve_syn);
    assert_eq!(v, Verdict::Forward(SRV));
    assert_eq!(c.g4.live(), 1);
    // A packet that already had its second chance gets none again: 400
    // receiving hop count 1 for a connection it does not have drops it.
    let mut again = forwarded.clone();
    again[30..34].copy_from_slice(&fab_addr(4).octets());
    again[24..26].copy_from_slice(&[0, 0]);
    let cs = checksum(&again[14..34]);
    again[24..26].copy_from_slice(&cs.to_be_bytes());
    let (v, _, _) = c.g4.run(0, FAB, &again);
    assert_eq!(v, Verdict::Drop(DropReason::NotSyn));
    assert_eq!(c.g4.workers[0].counters().second_chance.get(), 1);
}

#[test]
fn second_chance_follows_the_tier1_units_drain_which_the_gateway_does_not_know() {
    let mut c = cluster();
    let (gw_port, server) = open_tcp(&mut c);
    // Only the tier-1 unit knows the session drains from 200 (a learned
    // pin moved by a gateway drain stays on the unit that learned it); the
    // gateways' tables just say 400.
    c.a1.steering
        .publish(table(1, 400).with_draining(&[(sid(UE), Some(GatewayId(200)))]));
    c.g4.steering.publish(table(4, 400));
    let (_, geneve, _) = c.a1.run(0, ACC, &client_ack(SYN_ISN + 1, b"more"));
    assert_eq!(&geneve[30..34], &fab_addr(4).octets());
    // The option's last four bytes name the gateway it drains from.
    assert_eq!(&geneve[70..74], &200u32.to_be_bytes());
    let (v, forwarded, _) = c.g4.run(0, FAB, &geneve);
    assert_eq!(v, Verdict::Forward(FAB), "second chance to 200");
    assert_eq!(c.g4.workers[0].counters().second_chance.get(), 1);
    assert_eq!(&forwarded[30..34], &fab_addr(2).octets());
    assert_eq!(forwarded[60], 1, "hop count 1");
    assert_eq!(
        &forwarded[70..74],
        &[0; 4],
        "a forwarded frame names no drain"
    );
    let (v, _, _) = c.g2.run(0, FAB, &forwarded);
    assert_eq!(v, Verdict::Forward(SRV));
    let (v, back, _) = c.g2.run(0, SRV, &server_data(gw_port, server, 5001));
    assert_eq!(v, Verdict::Forward(FAB));
    assert_eq!(&back[30..34], &fab_addr(1).octets());
    // Without the drain the option says 0 and the gateway drops as before.
    c.a1.steering.publish(table(1, 400));
    let (_, geneve, _) = c.a1.run(0, ACC, &client_ack(SYN_ISN + 5, b"late"));
    assert_eq!(&geneve[70..74], &[0; 4]);
    let (v, _, _) = c.g4.run(0, FAB, &geneve);
    assert_eq!(v, Verdict::Drop(DropReason::NotSyn));
    // A drain naming a gateway that is not live here is ignored.
    c.a1.steering
        .publish(table(1, 400).with_draining(&[(sid(UE), Some(GatewayId(200)))]));
    let (_, mut geneve, _) = c.a1.run(0, ACC, &client_ack(SYN_ISN + 9, b"x"));
    geneve[70..74].copy_from_slice(&900u32.to_be_bytes());
    let (v, _, _) = c.g4.run(0, FAB, &geneve);
    assert_eq!(v, Verdict::Drop(DropReason::NotSyn));
    assert_eq!(c.g4.workers[0].counters().second_chance.get(), 1);
}

#[test]
fn a_gateway_hands_a_fabric_frame_to_the_worker_whose_port_it_names() {
    let mut g = Lab::cluster_member(
        2,
        1 << 12,
        SessionKeyMode::SourceIp,
        (PORT_RANGE, member_topology(2)),
        Some(FabricConfig {
            appliance_id: 2,
            port: FAB,
            addr: fab_addr(2),
            base_port: BASE,
            mtu: 1500,
            gateways: true,
        }),
    );
    g.steering.publish(table(2, 200));
    let mut c = cluster();
    let (_, mut geneve, _) = c.a1.run(0, ACC, &dns_query(b"q"));
    // For gateway 201: worker 1's port.
    geneve[36..38].copy_from_slice(&(BASE + 1).to_be_bytes());
    let (v, _, at) = g.run(0, FAB, &geneve);
    assert_eq!((v, at), (Verdict::Forward(SRV), 1));
    assert_eq!(g.workers[1].table().len(), 1);
    assert_eq!(g.workers[0].counters().handoff_out.get(), 1);
    // No worker 2: not for us.
    geneve[36..38].copy_from_slice(&(BASE + 2).to_be_bytes());
    let (v, _, _) = g.run(0, FAB, &geneve);
    assert_eq!(v, Verdict::Drop(DropReason::NotForUs));
}

/// Gateways 200 and 201 (appliance 2's two workers) as appliance `me`
/// sees them; the session of `UE` pinned to `pinned`, draining from
/// `draining`.
fn two_worker_table(me: u32, pinned: u32, draining: Option<u32>) -> SteeringTable {
    let gateways: Vec<Gateway> = (0..2u16)
        .map(|w| Gateway {
            id: GatewayId(200 + u32::from(w)),
            target: if me == 2 {
                GatewayTarget::LocalWorker(w)
            } else {
                GatewayTarget::Remote {
                    addr: fab_addr(2),
                    port: BASE + w,
                }
            },
        })
        .collect();
    let mut t = table(me, 200)
        .with_gateways(&gateways)
        .unwrap()
        .with_pins(&[(sid(UE), Some(GatewayId(pinned)))]);
    if let Some(d) = draining {
        t = t.with_draining(&[(sid(UE), Some(GatewayId(d)))]);
    }
    t
}

#[test]
fn second_chance_to_another_worker_of_the_gateway_keeps_the_tier1_unit() {
    let mut a1 = member(1, 1500);
    let mut g = Lab::cluster_member(
        2,
        1 << 12,
        SessionKeyMode::SourceIp,
        (PORT_RANGE, member_topology(2)),
        Some(FabricConfig {
            appliance_id: 2,
            port: FAB,
            addr: fab_addr(2),
            base_port: BASE,
            mtu: 1500,
            gateways: true,
        }),
    );
    let mut n = neighbours();
    n.insert(FAB, fab_addr(1), fab_mac(1));
    g.neighbours.publish(n);
    a1.steering.publish(two_worker_table(1, 201, None));
    g.steering.publish(two_worker_table(2, 201, None));
    // A UDP flow opens on gateway 201 (worker 1).
    let (_, geneve, _) = a1.run(0, ACC, &dns_query(b"first"));
    assert_eq!(rd16(&geneve, 36), BASE + 1);
    let (v, to_server, at) = g.run(1, FAB, &geneve);
    assert_eq!((v, at), (Verdict::Forward(SRV), 1));
    let gw_port = decode(&to_server).sport;
    // The session moves to 200 and drains from 201.
    a1.steering.publish(two_worker_table(1, 200, Some(201)));
    g.steering.publish(two_worker_table(2, 200, Some(201)));
    let (_, geneve, _) = a1.run(0, ACC, &dns_query(b"second"));
    assert_eq!(rd16(&geneve, 36), BASE);
    // Worker 0 has no user session: it gives the frame, wrapped again with
    // hop count 1, to worker 1, which still has one.
    let (v, to_server, at) = g.run(0, FAB, &geneve);
    assert_eq!((v, at), (Verdict::Forward(SRV), 1));
    assert_eq!(decode(&to_server).sport, gw_port, "the same user session");
    assert_eq!(g.workers[0].counters().second_chance.get(), 1);
    assert_eq!(g.workers[0].table().len(), 0);
    // Its answer still goes back to appliance 1.
    let (v, back, _) = g.run(1, SRV, &dns_answer(gw_port, b"a"));
    assert_eq!(v, Verdict::Forward(FAB));
    assert_eq!(&back[30..34], &fab_addr(1).octets());
    let (v, _, _) = a1.run(0, FAB, &back);
    assert_eq!(v, Verdict::Forward(ACC));
}

/// The second chance to another worker with the frame records the
/// appliance uses: the frame the prefetch pass read (inner frame included)
/// is wrapped again and handed to worker 1 with its record, which does
/// not describe the new frame's inner reading: worker 1 reads the frame
/// itself and finds the user session it has.
#[test]
fn a_recorded_fabric_frame_wrapped_again_for_another_worker_finds_its_user_session() {
    let mut a1 = member(1, 1500);
    let mut g = Lab::cluster_member(
        2,
        1 << 12,
        SessionKeyMode::SourceIp,
        (PORT_RANGE, member_topology(2)),
        Some(FabricConfig {
            appliance_id: 2,
            port: FAB,
            addr: fab_addr(2),
            base_port: BASE,
            mtu: 1500,
            gateways: true,
        }),
    );
    let mut n = neighbours();
    n.insert(FAB, fab_addr(1), fab_mac(1));
    g.neighbours.publish(n);
    a1.steering.publish(two_worker_table(1, 201, None));
    g.steering.publish(two_worker_table(2, 201, None));
    let (_, geneve, _) = a1.run(0, ACC, &dns_query(b"first"));
    let (_, to_server, _) = g.run(1, FAB, &geneve);
    let gw_port = decode(&to_server).sport;
    a1.steering.publish(two_worker_table(1, 200, Some(201)));
    g.steering.publish(two_worker_table(2, 200, Some(201)));
    let (_, geneve, _) = a1.run(0, ACC, &dns_query(b"second"));
    for w in &mut g.workers {
        w.begin_burst();
    }
    let mut records = [FrameRecord::UNREAD; 1];
    let hint = crate::prefetch::NoPrefetch;
    assert_eq!(
        g.workers[0].prefetch_records([(&geneve[..], FAB)], &hint, &mut records),
        1
    );
    assert!(
        records[0].parsed.client_hash.is_some(),
        "the inner frame was read"
    );
    let mut f = VecFrame::new(&geneve);
    let (now, ev) = (g.now, &mut g.events);
    let v = g.workers[0].process_recorded(&mut f, &records[0], Ingress::Port, FAB, now, ev);
    assert_eq!(v, Verdict::Handoff(1));
    records[0] = records[0].carried();
    g.workers[1].prefetch_carried(&mut records, &hint);
    let (now, ev) = (g.now, &mut g.events);
    let v = g.workers[1].process_recorded(&mut f, &records[0], Ingress::Handoff, FAB, now, ev);
    assert_eq!(v, Verdict::Forward(SRV));
    assert_eq!(decode(f.bytes()).sport, gw_port, "the same user session");
    assert_eq!(g.workers[0].table().len(), 0);
}

#[test]
fn the_prefetch_pass_hints_the_inner_flow_and_the_gateway_finds_the_same_user_session() {
    let mut c = cluster();
    let (_, first, _) = c.a1.run(0, ACC, &dns_query(b"one"));
    let (v, to_server, _) = c.g2.run(0, FAB, &first);
    assert_eq!(v, Verdict::Forward(SRV));
    let gw_port = decode(&to_server).sport;
    let (_, second, _) = c.a1.run(0, ACC, &dns_query(b"two"));
    let g = &mut c.g2.workers[0];
    g.begin_burst();
    let mut records = [FrameRecord::UNREAD; 1];
    let frames = [(&second[..], FAB)];
    assert_eq!(
        g.prefetch_records(frames, &crate::prefetch::NoPrefetch, &mut records),
        1
    );
    assert!(
        records[0].parsed.client_hash.is_some(),
        "the inner flow was hashed"
    );
    let mut f = VecFrame::new(&second);
    let mut events = Vec::new();
    let v = g.process_recorded(
        &mut f,
        &records[0],
        Ingress::Port,
        FAB,
        c.g2.now,
        &mut events,
    );
    assert_eq!(v, Verdict::Forward(SRV));
    assert_eq!(decode(f.bytes()).sport, gw_port, "the same user session");
    assert_eq!(g.table().len(), 1, "no second one");
}

/// `frame` received by the one worker of `lab` on the fabric port through
/// the prefetch pass and `process_recorded` (the inner frame read into the
/// record there, not again by the pipeline).
fn run_recorded(lab: &mut Lab, frame: &[u8]) -> (Verdict, Vec<u8>) {
    let g = &mut lab.workers[0];
    g.begin_burst();
    let mut records = [FrameRecord::UNREAD; 1];
    let read = g.prefetch_records([(frame, FAB)], &crate::prefetch::NoPrefetch, &mut records);
    assert_eq!(read, 1);
    let mut f = VecFrame::new(frame);
    let v = g.process_recorded(
        &mut f,
        &records[0],
        Ingress::Port,
        FAB,
        lab.now,
        &mut lab.events,
    );
    (v, f.bytes().to_vec())
}

/// The gateway that takes the inner frame's reading from the prefetch
/// pass's record ends every fabric frame exactly as one that reads it
/// itself: same verdict, same bytes, same drop reason, for good frames,
/// every refused kind (stranger, wrong appliance, bad option, hop count,
/// outer checksum, before anything of the inner frame counts), an inner
/// frame that is not IPv4, and one whose IPv4 length runs past the outer
/// UDP length into the outer padding.
#[test]
fn a_fabric_frame_read_by_the_prefetch_pass_ends_as_one_the_gateway_reads() {
    let mut c = cluster();
    let (_, syn_wrapped, _) = c.a1.run(0, ACC, &syn());
    let (_, query, _) = c.a1.run(0, ACC, &dns_query(b"what?"));
    let (_, data, _) = c.a1.run(0, ACC, &client_ack(SYN_ISN + 1, b"data"));
    let mut padded = query.clone();
    padded.extend_from_slice(&[0; 16]);
    let mut overrun = padded.clone();
    // The inner IPv4 total length reaches 8 bytes into the outer padding.
    let total = rd16(&overrun, ENCAP + 16) + 8;
    overrun[ENCAP + 16..ENCAP + 18].copy_from_slice(&total.to_be_bytes());
    let mut not_ipv4 = query.clone();
    not_ipv4[ENCAP + 12..ENCAP + 14].copy_from_slice(&[0x08, 0x06]);
    let mut frames = vec![
        syn_wrapped.clone(),
        query.clone(),
        data,
        padded,
        overrun,
        not_ipv4,
        with_outer_src(&query, Ipv4Addr::new(10, 99, 0, 9)),
        query[..ENCAP + 10].to_vec(),
    ];
    for (at, value) in [
        (57, 3),
        (53, 4),
        (60, 2),
        (24, 0xff),
        (43, 0x80),
        (50, 0x7f),
    ] {
        let mut f = query.clone();
        f[at] ^= value;
        frames.push(f);
    }
    let (mut parsed, mut recorded) = (member(2, 1500), member(2, 1500));
    for frame in &frames {
        let a = parsed.run(0, FAB, frame);
        let b = run_recorded(&mut recorded, frame);
        assert_eq!((a.0, a.1), b, "frame {frame:02x?}");
    }
    for r in DropReason::ALL {
        assert_eq!(parsed.drops(*r), recorded.drops(*r), "{r:?}");
    }
    assert_eq!(recorded.live(), 2, "the UDP and the TCP user session");
    assert!(recorded.drops(DropReason::FabricStranger) == 1);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(32))]

    /// Any terminal frame a tier-1 unit sends over the fabric (any size
    /// that fits, tagged or not) decapsulates to itself byte for byte, and
    /// the gateway translates it to the server.
    #[test]
    fn any_terminal_frame_crosses_the_fabric_byte_exact(
        payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..1400),
        sport in 1024u16..,
        vlan in proptest::option::of(1u16..4095),
    ) {
        let mut a1 = member(1, 1500);
        let mut g2 = member(2, 1500);
        let mut s = spec(UE, sport, DNS_VIP, 53, UE_MAC, port_mac(ACC));
        s.vlan = vlan;
        let frame = crate::wire::frames::udp_frame(&s, &payload).unwrap();
        let (v, wrapped, _) = a1.run(0, ACC, &frame);
        if frame.len() + FABRIC_OVERHEAD > 1500 {
            proptest::prop_assert_eq!(v, Verdict::Drop(DropReason::FabricTooBig));
            return Ok(());
        }
        proptest::prop_assert_eq!(v, Verdict::Forward(FAB));
        let d = crate::wire::decapsulate(&wrapped, BASE).unwrap();
        proptest::prop_assert_eq!(&wrapped[d.inner_offset..d.inner_offset + d.inner_len], &frame[..]);
        let (v, to_server, _) = g2.run(0, FAB, &wrapped);
        proptest::prop_assert_eq!(v, Verdict::Forward(SRV));
        let out = decode(&to_server);
        proptest::prop_assert_eq!((out.src, out.dst, out.dport), (GW, SERVERS[0], 5353));
        proptest::prop_assert_eq!(&to_server[42..], &payload[..]);
    }
}
