//! Properties over random traffic: every reply is translated back to
//! exactly what the terminal sent to, ports are never shared between live
//! user sessions, everything held is released, and no input panics.

use super::*;
use proptest::prelude::*;
use std::collections::HashMap;

#[derive(Debug, Clone)]
enum Op {
    /// A terminal sends a datagram: (terminal, source port, to DNS or web).
    Send(u8, u16, bool),
    /// The server answers the n-th live translation.
    Reply(usize),
    /// Time passes.
    Wait(u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1u8..20, 1000u16..1100, any::<bool>()).prop_map(|(t, p, d)| Op::Send(t, p, d)),
        3 => (0usize..64).prop_map(Op::Reply),
        1 => (100u32..40_000).prop_map(Op::Wait),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn replies_are_exact_and_ports_unique(ops in proptest::collection::vec(op(), 1..150), workers in 1u16..4) {
        let mut lab = Lab::new(workers);
        // (gateway port) → (terminal, terminal port, VIP, VIP port, server, server port)
        let mut live: HashMap<u16, (Ipv4Addr, u16, Ipv4Addr, u16, Ipv4Addr, u16)> = HashMap::new();
        let mut order: Vec<u16> = Vec::new();
        for op in ops {
            match op {
                Op::Send(t, sport, dns) => {
                    let terminal = Ipv4Addr::new(10, 8, 3, t);
                    let frame = if dns {
                        udp(terminal, sport, DNS_VIP, 53, b"q", (UE_MAC, port_mac(ACC)))
                    } else {
                        syn(terminal, sport, VIP, 80)
                    };
                    let (v, out, _) = lab.run(0, ACC, &frame);
                    prop_assert_eq!(v, Verdict::Forward(SRV));
                    let o = decode(&out);
                    let entry = (terminal, sport, if dns { DNS_VIP } else { VIP }, if dns { 53 } else { 80 }, o.dst, o.dport);
                    match live.get(&o.sport) {
                        Some(prev) => prop_assert_eq!(*prev, entry, "gateway port {} shared", o.sport),
                        None => {
                            live.insert(o.sport, entry);
                            order.push(o.sport);
                        }
                    }
                }
                Op::Reply(n) => {
                    if order.is_empty() { continue; }
                    let gw_port = order[n % order.len()];
                    let (t, tp, vip, vp, srv, sp) = live[&gw_port];
                    let frame = if vp == 53 {
                        udp(srv, sp, GW, gw_port, b"a", (server_mac(srv), port_mac(SRV)))
                    } else {
                        tcp(srv, sp, GW, gw_port, TcpFlags::SYN | TcpFlags::ACK, &[], (server_mac(srv), port_mac(SRV)))
                    };
                    let (v, out, _) = lab.run(0, SRV, &frame);
                    match v {
                        Verdict::Forward(p) => {
                            prop_assert_eq!(p, ACC);
                            let b = decode(&out);
                            prop_assert_eq!((b.src, b.sport, b.dst, b.dport), (vip, vp, t, tp));
                        }
                        // The user session may have expired meanwhile.
                        Verdict::Drop(DropReason::NoUserSession) => {
                            live.remove(&gw_port);
                            order.retain(|p| *p != gw_port);
                        }
                        other => prop_assert!(false, "reply verdict {:?}", other),
                    }
                }
                Op::Wait(ms) => {
                    lab.tick(u64::from(ms));
                    // Forget translations that no longer exist.
                    let still: std::collections::HashSet<u16> = lab
                        .workers
                        .iter()
                        .flat_map(|w| w.table().iter().map(|(_, e)| e.gw_port).collect::<Vec<_>>())
                        .collect();
                    live.retain(|p, _| still.contains(p));
                    order.retain(|p| still.contains(p));
                }
            }
        }
        // Everything expires and everything is given back.
        lab.tick(200_000);
        lab.tick(1_000_000);
        prop_assert_eq!(lab.live(), 0);
        for l in &lab.local_loads {
            prop_assert!(l.snapshot(4).iter().all(|&x| x == 0));
        }
        for w in &lab.workers {
            let s = w.port_allocator().stats(0).unwrap();
            prop_assert_eq!(s.in_use, 0);
        }
        let created: u64 = lab.workers.iter().map(|w| w.counters().user_sessions_created.get()).sum();
        prop_assert_eq!(created as usize, lab.accounting().len(), "one final record per user session");
    }

    #[test]
    fn random_bytes_never_panic(frame in proptest::collection::vec(any::<u8>(), 0..200), port in 0u16..5) {
        let mut lab = Lab::new(2);
        let _ = lab.run(0, port, &frame);
    }

    #[test]
    fn mutated_frames_never_panic(pos in 0usize..80, byte in any::<u8>(), port in 0u16..4, kind in 0u8..4) {
        let mut lab = Lab::new(2);
        let mut f = match kind {
            0 => syn(UE, 5000, VIP, 80),
            1 => udp(UE, 5000, DNS_VIP, 53, b"abc", (UE_MAC, port_mac(ACC))),
            2 => echo(UE, EXT_HOST, 3, (UE_MAC, port_mac(ACC))),
            _ => tcp(SERVERS[0], 8080, GW, 1024, TcpFlags::ACK, b"x", (server_mac(SERVERS[0]), port_mac(SRV))),
        };
        let i = pos % f.len();
        f[i] = byte;
        let _ = lab.run(0, port, &f);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever the worker count, the gateways involved and the I/O points
    /// used: while a moved session drains, every flow open before the move
    /// keeps its gateway port (so its worker), a new TCP connection starts
    /// on the new gateway, and no frame is handed on more than twice.
    #[test]
    fn moved_sessions_keep_their_open_flows_while_draining(
        workers in 2u16..5,
        flows in prop::collection::vec((1000u16..3000, any::<bool>()), 1..12),
        to in 0u16..5,
        io in prop::collection::vec(0u16..5, 1..12),
    ) {
        let mut lab = Lab::new(workers);
        let sid = crate::tier1::session_id(SessionKeyMode::SourceIp, UE, None, None).unwrap();
        let old = lab.owner_of(UE);
        // Any worker but the old owner (no rejected cases).
        let new = (old + 1 + usize::from(to % (workers - 1))) % usize::from(workers);
        let macs = (UE_MAC, port_mac(ACC));
        let frame = |port: u16, is_udp: bool, flags: TcpFlags| {
            if is_udp {
                udp(UE, port, DNS_VIP, 53, b"q", macs)
            } else if flags == TcpFlags::SYN {
                syn(UE, port, VIP, 80)
            } else {
                tcp(UE, port, VIP, 80, flags, b"d", macs)
            }
        };
        let mut open: HashMap<(u16, bool), u16> = HashMap::new();
        for (port, is_udp) in &flows {
            let (v, out, at) = lab.run(0, ACC, &frame(*port, *is_udp, TcpFlags::SYN));
            prop_assert_eq!((v, at), (Verdict::Forward(SRV), old));
            open.entry((*port, *is_udp)).or_insert(decode(&out).sport);
        }
        let moved = lab
            .steering
            .current()
            .with_pins(&[(sid, Some(GatewayId(new as u32)))])
            .with_draining(&[(sid, Some(GatewayId(old as u32)))]);
        lab.steering.publish(moved);

        for (i, ((port, is_udp), gateway_port)) in open.iter().enumerate() {
            let w = usize::from(io[i % io.len()] % workers);
            let (v, out, at) = lab.run(w, ACC, &frame(*port, *is_udp, TcpFlags::ACK));
            prop_assert_eq!((v, at), (Verdict::Forward(SRV), old));
            prop_assert_eq!(decode(&out).sport, *gateway_port);
        }
        let w = usize::from(io[0] % workers);
        let (v, out, at) = lab.run(w, ACC, &syn(UE, 3500, VIP, 80));
        prop_assert_eq!((v, at), (Verdict::Forward(SRV), new));
        prop_assert_eq!(
            usize::from(crate::tier2::owner_core(decode(&out).sport, PORT_RANGE.0, workers)),
            new
        );
    }
}
