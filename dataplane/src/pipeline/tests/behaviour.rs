//! What a user of the gateway notices: translation both ways, server
//! choice, refusals, external servers, mobility, expiry and accounting.

use super::*;
use crate::event::{EndReason, RecordKind};
use crate::tier2::owner_core;

#[test]
fn syn_is_translated_to_a_server_and_the_reply_back() {
    let mut lab = Lab::new(1);
    let (v, out) = lab.up(ACC, &syn(UE, 40000, VIP, 80));
    assert_eq!(v, Verdict::Forward(SRV));
    let o = decode(&out);
    assert_eq!(o.src, GW);
    assert!(o.sport >= PORT_RANGE.0);
    assert!(SERVERS.contains(&o.dst), "{o:?}");
    assert_eq!(o.dport, 8080);
    assert_eq!(o.ttl, 63);
    assert_eq!(o.dst_mac, server_mac(o.dst));
    assert_eq!(o.src_mac, port_mac(SRV));
    assert_eq!(o.tcp_flags & 0x02, 0x02);

    // The server answers the gateway address and port.
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
    let b = decode(&back);
    assert_eq!((b.src, b.sport, b.dst, b.dport), (VIP, 80, UE, 40000));
    assert_eq!(b.dst_mac, UE_MAC);
    assert_eq!(b.src_mac, port_mac(ACC));
    assert_eq!(b.tcp_flags, 0x12);
    assert_eq!(lab.live(), 1);
}

#[test]
fn established_packets_keep_their_port_and_payload() {
    let mut lab = Lab::new(1);
    let (_, out) = lab.up(ACC, &syn(UE, 40001, VIP, 80));
    let first = decode(&out);
    let data = tcp(
        UE,
        40001,
        VIP,
        80,
        TcpFlags::ACK | TcpFlags::PSH,
        b"GET / HTTP/1.1\r\n\r\n",
        (UE_MAC, port_mac(ACC)),
    );
    let (v, out2) = lab.up(ACC, &data);
    assert_eq!(v, Verdict::Forward(SRV));
    let second = decode(&out2);
    assert_eq!(
        (second.src, second.sport, second.dst),
        (first.src, first.sport, first.dst)
    );
    assert!(out2.ends_with(b"GET / HTTP/1.1\r\n\r\n"));
}

#[test]
fn a_stranger_cannot_use_a_translation() {
    let mut lab = Lab::new(1);
    let (_, out) = lab.up(ACC, &syn(UE, 40002, VIP, 80));
    let o = decode(&out);
    let other = SERVERS.iter().copied().find(|s| *s != o.dst).unwrap();
    let spoof = tcp(
        other,
        8080,
        GW,
        o.sport,
        TcpFlags::ACK,
        &[],
        (server_mac(other), port_mac(SRV)),
    );
    assert_eq!(
        lab.up(SRV, &spoof).0,
        Verdict::Drop(DropReason::ReplyMismatch)
    );
    let wrong_port = tcp(
        o.dst,
        9999,
        GW,
        o.sport,
        TcpFlags::ACK,
        &[],
        (server_mac(o.dst), port_mac(SRV)),
    );
    assert_eq!(
        lab.up(SRV, &wrong_port).0,
        Verdict::Drop(DropReason::ReplyMismatch)
    );
    let no_session = tcp(
        o.dst,
        8080,
        GW,
        o.sport.wrapping_add(1).max(1024),
        TcpFlags::ACK,
        &[],
        (server_mac(o.dst), port_mac(SRV)),
    );
    assert_eq!(
        lab.up(SRV, &no_session).0,
        Verdict::Drop(DropReason::NoUserSession)
    );
    assert_eq!(lab.drops(DropReason::ReplyMismatch), 2);
}

#[test]
fn only_a_syn_opens_a_tcp_user_session() {
    let mut lab = Lab::new(1);
    let ack = tcp(
        UE,
        40003,
        VIP,
        80,
        TcpFlags::ACK,
        &[],
        (UE_MAC, port_mac(ACC)),
    );
    assert_eq!(lab.up(ACC, &ack).0, Verdict::Drop(DropReason::NotSyn));
    assert_eq!(lab.live(), 0);
}

#[test]
fn unique_ports_and_least_load_spread() {
    let mut lab = Lab::new(1);
    let mut ports = std::collections::HashSet::new();
    let mut per_server = std::collections::HashMap::new();
    for i in 0..30u16 {
        let (v, out) = lab.up(ACC, &syn(UE, 30000 + i, VIP, 80));
        assert_eq!(v, Verdict::Forward(SRV));
        let o = decode(&out);
        assert!(
            ports.insert((o.src, o.sport)),
            "port {} handed out twice",
            o.sport
        );
        *per_server.entry(o.dst).or_insert(0) += 1;
    }
    for s in SERVERS {
        assert_eq!(per_server.get(&s), Some(&10), "{per_server:?}");
    }
}

#[test]
fn weights_and_draining_shape_the_choice() {
    let mut lab = Lab::new(1);
    let mut p = policy();
    p.services.servers[0].weight = 2;
    p.services.servers[2].state = AdminState::Draining;
    lab.policy.publish(p);
    let mut per_server = std::collections::HashMap::new();
    for i in 0..30u16 {
        let (_, out) = lab.up(ACC, &syn(UE, 20000 + i, VIP, 80));
        *per_server.entry(decode(&out).dst).or_insert(0) += 1;
    }
    assert_eq!(per_server.get(&SERVERS[0]), Some(&20), "{per_server:?}");
    assert_eq!(per_server.get(&SERVERS[1]), Some(&10), "{per_server:?}");
    assert_eq!(
        per_server.get(&SERVERS[2]),
        None,
        "draining server got new flows"
    );
}

#[test]
fn refused_subscriber_gets_a_reset_and_an_accounting_record() {
    let mut lab = Lab::new(1);
    let (v, out) = lab.up(ACC, &syn(UE_DENIED, 40010, VIP, 80));
    assert_eq!(
        v,
        Verdict::Forward(ACC),
        "the RST goes back to the terminal"
    );
    let o = decode(&out);
    assert_eq!(
        (o.src, o.sport, o.dst, o.dport),
        (VIP, 80, UE_DENIED, 40010)
    );
    assert_eq!(o.tcp_flags & 0x04, 0x04, "RST");
    assert_eq!(o.dst_mac, UE_MAC);
    assert_eq!(lab.live(), 0);
    let acc = lab.accounting();
    assert_eq!(acc.len(), 1);
    assert_eq!(acc[0].end_reason, EndReason::NotEntitled);
    assert_eq!(acc[0].terminal_ip, UE_DENIED);
    assert_eq!(
        lab.workers
            .iter()
            .map(|w| w.counters().refused.get())
            .sum::<u64>(),
        1
    );

    // The same subscriber may use DNS.
    let q = udp(
        UE_DENIED,
        5000,
        DNS_VIP,
        53,
        b"query",
        (UE_MAC, port_mac(ACC)),
    );
    let (v, out) = lab.up(ACC, &q);
    assert_eq!(v, Verdict::Forward(SRV));
    assert_eq!(decode(&out).dport, 5353);
}

#[test]
fn refused_udp_gets_admin_prohibited() {
    let mut lab = Lab::new(1);
    let mut p = policy();
    p.subscribers = Subscribers::new(Entitlement::deny_all());
    lab.policy.publish(p);
    let q = udp(UE, 5001, DNS_VIP, 53, b"query", (UE_MAC, port_mac(ACC)));
    let (v, out) = lab.up(ACC, &q);
    assert_eq!(v, Verdict::Forward(ACC));
    let o = decode(&out);
    assert_eq!(o.proto, 1);
    assert_eq!(o.tcp_flags, 3, "ICMP destination unreachable");
    assert_eq!(out[14 + 20 + 1], 13, "code 13: administratively prohibited");
    assert_eq!((o.src, o.dst), (DNS_VIP, UE));
}

#[test]
fn external_destinations_are_nated_out_and_back() {
    let mut lab = Lab::new(1);
    let (v, out) = lab.up(ACC, &syn(UE, 40020, EXT_HOST, 443));
    assert_eq!(v, Verdict::Forward(EXT));
    let o = decode(&out);
    assert_eq!((o.src, o.dst, o.dport), (GW, EXT_HOST, 443));
    assert_eq!(o.dst_mac, server_mac(EXT_HOST));
    let reply = tcp(
        EXT_HOST,
        443,
        GW,
        o.sport,
        TcpFlags::SYN | TcpFlags::ACK,
        &[],
        (server_mac(EXT_HOST), port_mac(EXT)),
    );
    let (v, back) = lab.up(EXT, &reply);
    assert_eq!(v, Verdict::Forward(ACC));
    let b = decode(&back);
    assert_eq!((b.src, b.sport, b.dst, b.dport), (EXT_HOST, 443, UE, 40020));

    // A subscriber without the right to external servers is refused.
    let (v, out) = lab.up(ACC, &syn(UE_DENIED, 40021, EXT_HOST, 443));
    assert_eq!(v, Verdict::Forward(ACC));
    assert_eq!(decode(&out).tcp_flags & 0x04, 0x04, "RST");
    assert_eq!(
        lab.workers
            .iter()
            .map(|w| w.counters().refused.get())
            .sum::<u64>(),
        1
    );
    assert_eq!(
        lab.accounting().last().map(|a| a.service),
        Some(crate::event::EXTERNAL_SERVICE)
    );
    // Nor to a destination no route leads to outside.
    let (v, _) = lab.up(ACC, &syn(UE, 40022, Ipv4Addr::new(192, 0, 2, 1), 443));
    assert_eq!(v, Verdict::Drop(DropReason::NoService));
}

#[test]
fn icmp_echo_to_external_uses_the_ident_as_port() {
    let mut lab = Lab::new(1);
    let (v, out) = lab.up(ACC, &echo(UE, EXT_HOST, 0x4242, (UE_MAC, port_mac(ACC))));
    assert_eq!(v, Verdict::Forward(EXT));
    let o = decode(&out);
    assert_eq!(o.src, GW);
    let gw_ident = o.sport;
    assert!(gw_ident >= PORT_RANGE.0);
    let mut reply = crate::wire::frames::icmp_frame(
        &spec(EXT_HOST, 0, GW, 0, server_mac(EXT_HOST), port_mac(EXT)),
        &crate::wire::IcmpRepr::EchoReply {
            ident: gw_ident,
            seq: 1,
        },
        b"ping",
    )
    .unwrap();
    let (v, back) = lab.up(EXT, &reply);
    assert_eq!(v, Verdict::Forward(ACC));
    let b = decode(&back);
    assert_eq!((b.src, b.dst, b.sport), (EXT_HOST, UE, 0x4242));
    reply.truncate(20);
    assert!(matches!(lab.up(EXT, &reply).0, Verdict::Drop(_)));
}

#[test]
fn terminal_moving_between_io_points_keeps_its_user_session() {
    let mut lab = Lab::new(1);
    let (_, out) = lab.up(ACC, &syn(UE, 40030, VIP, 80));
    let o = decode(&out);
    // The terminal now sends from the other access port, another MAC.
    let moved = tcp(
        UE,
        40030,
        VIP,
        80,
        TcpFlags::ACK,
        b"x",
        (UE2_MAC, port_mac(ACC2)),
    );
    let (v, out2) = lab.up(ACC2, &moved);
    assert_eq!(v, Verdict::Forward(SRV));
    let o2 = decode(&out2);
    assert_eq!(
        (o2.src, o2.sport, o2.dst),
        (o.src, o.sport, o.dst),
        "same user session"
    );
    let reply = tcp(
        o.dst,
        8080,
        GW,
        o.sport,
        TcpFlags::ACK,
        b"y",
        (server_mac(o.dst), port_mac(SRV)),
    );
    let (v, back) = lab.up(SRV, &reply);
    assert_eq!(v, Verdict::Forward(ACC2), "replies follow the terminal");
    let b = decode(&back);
    assert_eq!(b.dst_mac, UE2_MAC);
    assert_eq!(b.src_mac, port_mac(ACC2));
    assert_eq!(lab.live(), 1);
}

#[test]
fn sessions_are_steered_to_their_owner_and_replies_find_it() {
    let mut lab = Lab::new(2);
    // Find a terminal owned by worker 1, received by worker 0.
    let terminal = (1..=250u8)
        .map(|i| Ipv4Addr::new(10, 8, 1, i))
        .find(|t| lab.owner_of(*t) == 1)
        .unwrap();
    let mut f = VecFrame::new(&syn(terminal, 40040, VIP, 80));
    lab.workers[0].begin_burst();
    let v = lab.workers[0].process(&mut f, ACC, lab.now, &mut lab.events);
    assert_eq!(v, Verdict::Handoff(1));
    // The unpinned session asked the session manager to pin it.
    assert!(lab
        .events
        .iter()
        .any(|e| matches!(e, Event::Pin { gateway: 1, .. })));
    lab.workers[1].begin_burst();
    let v = lab.workers[1].process_handoff(&mut f, ACC, lab.now, &mut lab.events);
    assert_eq!(v, Verdict::Forward(SRV));
    let o = decode(f.bytes());
    assert_eq!(
        owner_core(o.sport, PORT_RANGE.0, 2),
        1,
        "the port names its owner"
    );

    // The reply arrives at worker 0 (it polls the server port) → worker 1.
    let reply = tcp(
        o.dst,
        8080,
        GW,
        o.sport,
        TcpFlags::SYN | TcpFlags::ACK,
        &[],
        (server_mac(o.dst), port_mac(SRV)),
    );
    let (v, back, at) = lab.run(0, SRV, &reply);
    assert_eq!(at, 1);
    assert_eq!(v, Verdict::Forward(ACC));
    assert_eq!(decode(&back).dst, terminal);
    assert_eq!(lab.workers[0].table().len(), 0);
    assert_eq!(lab.workers[1].table().len(), 1);
}

#[test]
fn pinned_sessions_stay_on_their_gateway() {
    let mut lab = Lab::new(2);
    let terminal = (1..=250u8)
        .map(|i| Ipv4Addr::new(10, 8, 2, i))
        .find(|t| lab.owner_of(*t) == 1)
        .unwrap();
    let sid = crate::tier1::session_id(SessionKeyMode::SourceIp, terminal, None, None).unwrap();
    let pinned = lab
        .steering
        .current()
        .with_pins(&[(sid, Some(GatewayId(0)))]);
    lab.steering.publish(pinned);
    let (v, _, at) = lab.run(1, ACC, &syn(terminal, 40050, VIP, 80));
    assert_eq!(v, Verdict::Forward(SRV));
    assert_eq!(at, 0, "the pin overrides the consistent hash");
    assert!(
        !lab.events.iter().any(|e| matches!(e, Event::Pin { .. })),
        "pinned sessions ask nothing"
    );
}

#[test]
fn idle_user_sessions_expire_with_accounting_and_free_everything() {
    let mut lab = Lab::new(1);
    let (_, out) = lab.up(ACC, &syn(UE, 40060, VIP, 80));
    let o = decode(&out);
    let reply = tcp(
        o.dst,
        8080,
        GW,
        o.sport,
        TcpFlags::SYN | TcpFlags::ACK,
        b"",
        (server_mac(o.dst), port_mac(SRV)),
    );
    lab.up(SRV, &reply);
    let server_index = SERVERS.iter().position(|s| *s == o.dst).unwrap();
    assert_eq!(lab.local_loads[0].get(server_index), 1);
    // SYN_RECV-like state: 10 s timeout.
    lab.tick(5_000);
    assert_eq!(lab.live(), 1);
    lab.tick(6_000);
    assert_eq!(lab.live(), 0);
    assert_eq!(lab.local_loads[0].get(server_index), 0, "load returned");
    let acc = lab.accounting();
    assert_eq!(acc.len(), 1);
    let a = acc[0];
    assert_eq!(a.kind, RecordKind::Final);
    assert_eq!(a.end_reason, EndReason::Timeout);
    assert_eq!(
        (a.terminal_ip, a.terminal_port, a.dest_ip, a.dest_port),
        (UE, 40060, VIP, 80)
    );
    assert_eq!(
        (a.gateway_ip, a.gateway_port, a.server_ip),
        (GW, o.sport, o.dst)
    );
    assert_eq!((a.packets_up, a.packets_down), (1, 1));
    let p = lab.workers[0].port_allocator().stats(0).unwrap();
    assert_eq!(p.in_use, 0);
    assert_eq!(p.quarantined, 1, "released port waits in quarantine");
}

#[test]
fn fin_close_ends_with_reason_fin_and_counts_bytes() {
    let mut lab = Lab::new(1);
    let (_, out) = lab.up(ACC, &syn(UE, 40070, VIP, 80));
    let o = decode(&out);
    let s_mac = (server_mac(o.dst), port_mac(SRV));
    let u_mac = (UE_MAC, port_mac(ACC));
    lab.up(
        SRV,
        &tcp_seq(
            o.dst,
            8080,
            GW,
            o.sport,
            TcpFlags::SYN | TcpFlags::ACK,
            5000,
            1001,
            &[],
            s_mac,
        ),
    );
    lab.up(
        ACC,
        &tcp_seq(
            UE,
            40070,
            VIP,
            80,
            TcpFlags::ACK,
            1001,
            5001,
            b"hello",
            u_mac,
        ),
    );
    lab.up(
        SRV,
        &tcp_seq(
            o.dst,
            8080,
            GW,
            o.sport,
            TcpFlags::ACK,
            5001,
            1006,
            &[7u8; 1000],
            s_mac,
        ),
    );
    lab.up(
        ACC,
        &tcp_seq(
            UE,
            40070,
            VIP,
            80,
            TcpFlags::FIN | TcpFlags::ACK,
            1006,
            6001,
            &[],
            u_mac,
        ),
    );
    lab.up(
        SRV,
        &tcp_seq(
            o.dst,
            8080,
            GW,
            o.sport,
            TcpFlags::FIN | TcpFlags::ACK,
            6001,
            1007,
            &[],
            s_mac,
        ),
    );
    lab.up(
        ACC,
        &tcp_seq(UE, 40070, VIP, 80, TcpFlags::ACK, 1007, 6002, &[], u_mac),
    );
    lab.tick(11_000);
    let acc = lab.accounting();
    assert_eq!(acc.len(), 1, "{acc:?}");
    assert_eq!(acc[0].end_reason, EndReason::Fin);
    assert_eq!(acc[0].packets_up, 4);
    assert_eq!(acc[0].packets_down, 3);
    // IP lengths: 3×40 + 45 up; 40 + 1040 + 40 down.
    assert_eq!(acc[0].bytes_up, 40 * 3 + 45);
    assert_eq!(acc[0].bytes_down, 40 + 1040 + 40);
}

#[test]
fn reset_ends_with_reason_rst() {
    let mut lab = Lab::new(1);
    let (_, out) = lab.up(ACC, &syn(UE, 40080, VIP, 80));
    let o = decode(&out);
    lab.up(
        SRV,
        &tcp_seq(
            o.dst,
            8080,
            GW,
            o.sport,
            TcpFlags::RST | TcpFlags::ACK,
            0,
            1001,
            &[],
            (server_mac(o.dst), port_mac(SRV)),
        ),
    );
    lab.tick(11_000);
    assert_eq!(lab.accounting()[0].end_reason, EndReason::Rst);
}

#[test]
fn long_sessions_report_interim_records() {
    let mut lab = Lab::new(1);
    let mut p = policy();
    p.interim_ms = 2_000;
    lab.policy.publish(p);
    let q = udp(UE, 6000, DNS_VIP, 53, b"q", (UE_MAC, port_mac(ACC)));
    lab.up(ACC, &q);
    for _ in 0..8 {
        lab.tick(1_000);
        lab.up(ACC, &q);
    }
    let acc = lab.accounting();
    assert!(acc.iter().all(|a| a.kind == RecordKind::Interim), "{acc:?}");
    assert!(acc.len() >= 2, "{acc:?}");
    assert!(acc.windows(2).all(|w| w[0].packets_up <= w[1].packets_up));
}

#[test]
fn end_all_writes_admin_records() {
    let mut lab = Lab::new(1);
    lab.up(ACC, &syn(UE, 40090, VIP, 80));
    lab.up(ACC, &syn(UE, 40091, VIP, 80));
    let now = lab.now;
    assert_eq!(lab.workers[0].end_all(now, &mut lab.events), 2);
    assert_eq!(lab.live(), 0);
    assert!(lab
        .accounting()
        .iter()
        .all(|a| a.end_reason == EndReason::Admin));
    assert!(lab.local_loads[0].snapshot(3).iter().all(|&l| l == 0));
}

#[test]
fn table_full_refuses_new_flows_but_keeps_old_ones() {
    let mut lab = Lab::with(1, 4, SessionKeyMode::SourceIp, PORT_RANGE);
    for i in 0..4u16 {
        assert_eq!(
            lab.up(ACC, &syn(UE, 41000 + i, VIP, 80)).0,
            Verdict::Forward(SRV)
        );
    }
    assert_eq!(
        lab.up(ACC, &syn(UE, 41004, VIP, 80)).0,
        Verdict::Drop(DropReason::TableFull)
    );
    let old = tcp(
        UE,
        41000,
        VIP,
        80,
        TcpFlags::ACK,
        b"still here",
        (UE_MAC, port_mac(ACC)),
    );
    assert_eq!(lab.up(ACC, &old).0, Verdict::Forward(SRV));
}

#[test]
fn port_exhaustion_is_a_named_drop() {
    let mut lab = Lab::with(1, 64, SessionKeyMode::SourceIp, (2000, 2003));
    for i in 0..4u16 {
        assert_eq!(
            lab.up(ACC, &syn(UE, 42000 + i, VIP, 80)).0,
            Verdict::Forward(SRV)
        );
    }
    assert_eq!(
        lab.up(ACC, &syn(UE, 42004, VIP, 80)).0,
        Verdict::Drop(DropReason::PortExhausted)
    );
    let old = tcp(
        UE,
        42001,
        VIP,
        80,
        TcpFlags::ACK,
        b"x",
        (UE_MAC, port_mac(ACC)),
    );
    assert_eq!(lab.up(ACC, &old).0, Verdict::Forward(SRV));
}

#[test]
fn no_eligible_server_is_a_named_drop() {
    let mut lab = Lab::new(1);
    let mut p = policy();
    for s in &mut p.services.servers {
        s.state = AdminState::Down;
    }
    lab.policy.publish(p);
    assert_eq!(
        lab.up(ACC, &syn(UE, 43000, VIP, 80)).0,
        Verdict::Drop(DropReason::NoServer)
    );
}

#[test]
fn unknown_neighbour_is_resolved_while_the_frame_waits() {
    use crate::pipeline::hold::WaitingFor;
    let mut lab = Lab::new(1);
    lab.neighbours.publish(Neighbours::default());
    let (v, out) = lab.up(ACC, &syn(UE, 43100, VIP, 80));
    let Verdict::Hold { port, next_hop } = v else {
        panic!("expected Hold, got {v:?}");
    };
    assert_eq!(port, SRV);
    assert!(lab
        .events
        .iter()
        .any(|e| matches!(e, Event::NeighbourMiss { port: SRV, ip } if *ip == next_hop)));
    let mut f = VecFrame::new(&out);
    assert!(
        !lab.workers[0].complete_held(&mut f, port, WaitingFor::Ipv4(next_hop)),
        "still unknown"
    );
    // The control plane learns the MAC and publishes it.
    lab.neighbours.publish(neighbours());
    lab.workers[0].begin_burst();
    assert!(lab.workers[0].complete_held(&mut f, port, WaitingFor::Ipv4(next_hop)));
    let o = decode(f.bytes());
    assert_eq!(o.dst_mac, server_mac(next_hop));
    assert_eq!(o.src_mac, port_mac(SRV));
    assert_eq!(o.src, GW);
}

#[test]
fn a_server_mac_change_reaches_established_flows_at_once() {
    let mut lab = Lab::new(1);
    let (_, out) = lab.up(ACC, &syn(UE, 43200, VIP, 80));
    let server = decode(&out).dst;
    let data = || {
        tcp(
            UE,
            43200,
            VIP,
            80,
            TcpFlags::ACK,
            b"x",
            (UE_MAC, port_mac(ACC)),
        )
    };
    assert_eq!(decode(&lab.up(ACC, &data()).1).dst_mac, server_mac(server));

    // The server moved to another MAC: the next packet already goes there.
    let moved = [2, 0, 0, 0, 0x77, 0x77];
    let mut table = neighbours();
    table.insert(SRV, server, moved);
    lab.neighbours.publish(table);
    let (v, out) = lab.up(ACC, &data());
    assert_eq!(v, Verdict::Forward(SRV));
    assert_eq!(decode(&out).dst_mac, moved);

    // The server's entry is gone: the frame waits for resolution.
    let mut table = neighbours();
    table.remove(SRV, server);
    lab.neighbours.publish(table);
    assert!(matches!(lab.up(ACC, &data()).0, Verdict::Hold { .. }));
}

#[test]
fn load_on_other_workers_counts() {
    let mut lab = Lab::new(1);
    // Another worker already holds 6 user sessions on server 0.
    lab.loads.publish(ServerLoads {
        total: vec![6, 0, 0, 0],
        by_worker: vec![vec![0, 0, 0, 0]],
    });
    let mut per_server = std::collections::HashMap::new();
    for i in 0..6u16 {
        let (_, out) = lab.up(ACC, &syn(UE, 25000 + i, VIP, 80));
        *per_server.entry(decode(&out).dst).or_insert(0) += 1;
    }
    assert_eq!(per_server.get(&SERVERS[0]), None, "{per_server:?}");
    assert_eq!(per_server.get(&SERVERS[1]), Some(&3));
    assert_eq!(per_server.get(&SERVERS[2]), Some(&3));
}

/// Workers forward on their own threads while the control plane publishes
/// thousands of snapshots and reclaims the old ones: every packet is
/// translated, every worker ends on the newest generation, and once the
/// workers are gone nothing is left unreclaimed.
#[test]
fn snapshots_change_under_load_without_disturbing_traffic() {
    let lab = Lab::new(2);
    let Lab {
        steering,
        policy: policy_pub,
        neighbours,
        loads,
        workers,
        ..
    } = lab;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let handles: Vec<_> = workers
        .into_iter()
        .enumerate()
        .map(|(i, mut w)| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut events = Vec::new();
                let mut forwarded = 0u64;
                let mut n = 0u16;
                let base = 1_000_000u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) || n < 200 {
                    w.begin_burst();
                    let t = Ipv4Addr::new(10, 8, 9, (i as u8) * 100 + (n % 100) as u8);
                    let mut f = VecFrame::new(&udp(
                        t,
                        1000 + n % 20,
                        DNS_VIP,
                        53,
                        b"q",
                        (UE_MAC, port_mac(ACC)),
                    ));
                    match w.process_handoff(&mut f, ACC, base + u64::from(n), &mut events) {
                        Verdict::Forward(SRV) => forwarded += 1,
                        v => panic!("worker {i}: {v:?}"),
                    }
                    events.clear();
                    n = n.wrapping_add(1);
                }
                (forwarded, w.begin_burst(), w)
            })
        })
        .collect();
    for k in 0..3000u32 {
        let mut p = policy();
        p.services.servers[3].weight = 1 + k % 7;
        policy_pub.publish(p);
        if k % 3 == 0 {
            let t = steering.current().with_pins(&[(
                crate::tier1::SessionId(u64::from(k)),
                Some(GatewayId(k % 2)),
            )]);
            steering.publish(t);
        }
        policy_pub.reclaim();
        steering.reclaim();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut total = 0;
    let mut finished = Vec::new();
    for h in handles {
        let (fwd, _, w) = h.join().unwrap();
        total += fwd;
        finished.push(w);
    }
    assert!(total >= 400);
    for w in &mut finished {
        w.begin_burst();
    }
    // Every worker reads the newest snapshot; older ones are reclaimable.
    policy_pub.reclaim();
    steering.reclaim();
    assert_eq!(policy_pub.retired_len(), 0);
    assert_eq!(steering.retired_len(), 0);
    drop(finished);
    let _ = (neighbours, loads);
}

#[test]
fn a_close_after_a_long_life_ends_at_the_closing_timeout() {
    let mut lab = Lab::new(1);
    let (_, out) = lab.up(ACC, &syn(UE, 40100, VIP, 80));
    let o = decode(&out);
    let s_mac = (server_mac(o.dst), port_mac(SRV));
    let u_mac = (UE_MAC, port_mac(ACC));
    lab.up(
        SRV,
        &tcp_seq(
            o.dst,
            8080,
            GW,
            o.sport,
            TcpFlags::SYN | TcpFlags::ACK,
            5000,
            1001,
            &[],
            s_mac,
        ),
    );
    lab.up(
        ACC,
        &tcp_seq(UE, 40100, VIP, 80, TcpFlags::ACK, 1001, 5001, b"x", u_mac),
    );
    // Established for a minute: the timer now waits for the 900 s timeout.
    lab.tick(60_000);
    lab.up(
        ACC,
        &tcp_seq(
            UE,
            40100,
            VIP,
            80,
            TcpFlags::FIN | TcpFlags::ACK,
            1002,
            5001,
            &[],
            u_mac,
        ),
    );
    lab.up(
        SRV,
        &tcp_seq(
            o.dst,
            8080,
            GW,
            o.sport,
            TcpFlags::FIN | TcpFlags::ACK,
            5001,
            1003,
            &[],
            s_mac,
        ),
    );
    lab.up(
        ACC,
        &tcp_seq(UE, 40100, VIP, 80, TcpFlags::ACK, 1003, 5002, &[], u_mac),
    );
    lab.tick(11_000);
    assert_eq!(
        lab.live(),
        0,
        "closed sessions go after the closing timeout, not 900 s"
    );
    let acc = lab.accounting();
    assert_eq!(acc.len(), 1);
    assert_eq!(acc[0].end_reason, EndReason::Fin);
}

#[test]
fn shutdown_keeps_the_reason_of_sessions_already_closed() {
    let mut lab = Lab::new(1);
    let (_, out) = lab.up(ACC, &syn(UE, 40110, VIP, 80));
    let o = decode(&out);
    lab.up(
        SRV,
        &tcp_seq(
            o.dst,
            8080,
            GW,
            o.sport,
            TcpFlags::RST | TcpFlags::ACK,
            0,
            1001,
            &[],
            (server_mac(o.dst), port_mac(SRV)),
        ),
    );
    lab.up(ACC, &syn(UE, 40111, VIP, 80));
    let now = lab.now;
    lab.workers[0].end_all(now, &mut lab.events);
    let mut reasons: Vec<_> = lab.accounting().iter().map(|a| a.end_reason).collect();
    reasons.sort_by_key(|r| r.as_str());
    assert_eq!(reasons, vec![EndReason::Admin, EndReason::Rst]);
}

#[test]
fn a_moved_session_drains_its_open_flows_on_the_old_gateway() {
    let mut lab = Lab::new(2);
    let sid = crate::tier1::session_id(SessionKeyMode::SourceIp, UE, None, None).unwrap();
    let old = lab.owner_of(UE);
    let new = 1 - old;
    let macs = (UE_MAC, port_mac(ACC));
    let (_, out, at) = lab.run(0, ACC, &syn(UE, 44000, VIP, 80));
    assert_eq!(at, old);
    let tcp_port = decode(&out).sport;
    let (_, out, _) = lab.run(0, ACC, &udp(UE, 44001, DNS_VIP, 53, b"q", macs));
    let udp_port = decode(&out).sport;

    // The operator moves the session: pinned to the new gateway, draining
    // from the old one.
    let moved = lab
        .steering
        .current()
        .with_pins(&[(sid, Some(GatewayId(new as u32)))])
        .with_draining(&[(sid, Some(GatewayId(old as u32)))]);
    lab.steering.publish(moved);

    // Open flows keep their gateway and port, whichever I/O point they use.
    for w in [0, 1] {
        let data = tcp(UE, 44000, VIP, 80, TcpFlags::ACK, b"x", macs);
        let (v, out, at) = lab.run(w, ACC, &data);
        assert_eq!((v, at), (Verdict::Forward(SRV), old));
        assert_eq!(decode(&out).sport, tcp_port);
        let (v, out, at) = lab.run(w, ACC, &udp(UE, 44001, DNS_VIP, 53, b"q", macs));
        assert_eq!((v, at), (Verdict::Forward(SRV), old));
        assert_eq!(decode(&out).sport, udp_port);
    }
    // A new TCP connection starts on the new gateway, with one of its ports.
    let (v, out, at) = lab.run(old, ACC, &syn(UE, 44002, VIP, 80));
    assert_eq!((v, at), (Verdict::Forward(SRV), new));
    assert_eq!(owner_core(decode(&out).sport, PORT_RANGE.0, 2), new as u16);
    // Its next packet stays there (a hit on the new gateway is not handed on).
    let data = tcp(UE, 44002, VIP, 80, TcpFlags::ACK, b"y", macs);
    assert_eq!(lab.run(old, ACC, &data).2, new);

    // The drain ends: what is left on the old gateway is cut off.
    let drained = lab.steering.current().with_draining(&[(sid, None)]);
    lab.steering.publish(drained);
    let data = tcp(UE, 44000, VIP, 80, TcpFlags::ACK, b"z", macs);
    let (v, _, at) = lab.run(0, ACC, &data);
    assert_eq!((v, at), (Verdict::Drop(DropReason::NotSyn), new));
}
