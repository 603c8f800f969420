//! The whole pipeline of two workers on a script of frames, answers, pins
//! and pauses: nothing may panic, a frame is handed off at most once,
//! forwarding never breaks a checksum that was right, what the workers hold
//! stays consistent after every step, and once time has run far ahead
//! every user session is gone, every port and every unit of load is given
//! back, and the counters balance with what the harness saw. IPv6 → IPv6
//! full NAT (NAT66) is on: an IPv6 TCP or UDP packet leaves toward the
//! servers only from the gateway IPv6 address to an IPv6 server, one from
//! the NAT66 VIP reaches only terminals, and neither carries a checksum
//! broken on the way.

#![no_main]

use dataplane::counters::{DropReason, N_DROP_REASONS};
use dataplane::event::{EndReason, Event, Ipv6Ends, RecordKind};
use dataplane::frame::{Frame, VecFrame};
use dataplane::pipeline::Verdict;
use dataplane::policy::MAX_SERVERS;
use dataplane::prefetch::NoPrefetch;
use dataplane::tier1::{GatewayId, SessionId};
use dataplane::tier2::user_sessions::SessionFlags;
use dataplane::tier2::UserSession;
use dataplane::wire::checksum::{l4_verifies_v6, udp_v6_verifies};
use dataplane::wire::{
    EthernetFrame, GtpuPacket, Ipv4Packet, Ipv6Packet, UdpDatagram, ETHERTYPE_IPV4, ETHERTYPE_IPV6,
    GTPU_MSG_G_PDU, GTPU_PORT, ICMP_HEADER_LEN, IPV6_HEADER_LEN, PROTO_ICMP, PROTO_ICMPV6,
    PROTO_TCP, PROTO_UDP,
};
use libfuzzer_sys::fuzz_target;
use tandem_fuzz::known;
use tandem_fuzz::lab::{
    Lab, ACC, ACC2, EXT, EXT_HOST, GW6, GW6_INDEX, N_PORTS, N_WORKERS, SERVERS, SERVERS6, SRV,
    TABLE_CAPACITY, VIP66,
};
use tandem_fuzz::layers::{
    addressing, addressing_v6, checksums, outer_ttl, Addressing, Addressing6, Checksums,
};
use tandem_fuzz::script::{self, AnswerKind, Mode, Op, Script};

/// What the harness saw happen to the frames it sent.
#[derive(Debug)]
struct Tally {
    frames: u64,
    rx_bytes: u64,
    forwarded: u64,
    tx_bytes: u64,
    consumed: u64,
    hops: u64,
    drops: [u64; N_DROP_REASONS],
    /// NAT66: IPv6 TCP/UDP packets sent to an IPv6 server, and from the
    /// NAT66 VIP to a terminal.
    nat66_up: u64,
    nat66_down: u64,
    /// Packets too big for the port toward the terminal (NAT64, NAT66)
    /// answered with an ICMP "fragmentation needed" or ICMPv6 Packet Too
    /// Big: forwarded (the answer) and also counted `nat64_too_big`.
    too_big_answers: u64,
}

// Written out: `Default` is derived for arrays of at most 32 elements.
impl Default for Tally {
    fn default() -> Self {
        Tally {
            frames: 0,
            rx_bytes: 0,
            forwarded: 0,
            tx_bytes: 0,
            consumed: 0,
            hops: 0,
            drops: [0; N_DROP_REASONS],
            nat66_up: 0,
            nat66_down: 0,
            too_big_answers: 0,
        }
    }
}

fuzz_target!(|script: Script| {
    let mut lab = Lab::new(script.mode.key_mode());
    let mut tally = Tally::default();
    for op in &script.ops {
        step(&mut lab, &mut tally, script.mode, op);
        check_holdings(&lab);
    }
    // Far enough for every idle timeout, quarantine and held frame.
    tick(&mut lab, &mut tally, 1_000_000);
    tick(&mut lab, &mut tally, 2_000_000);
    assert!(lab.held.iter().all(|h| h.is_empty()), "frames held forever");
    check_holdings(&lab);
    check_all_released(&lab);
    check_counters(&lab, &tally);
    if std::env::var_os("TANDEM_FUZZ_STATS").is_some() {
        print_stats(&lab, &tally);
    }
});

fn step(lab: &mut Lab, tally: &mut Tally, mode: Mode, op: &Op) {
    match op {
        Op::Raw {
            worker,
            port,
            frame,
        } => {
            let port = script::in_port(*port);
            send(lab, tally, worker_index(*worker), port, frame);
        }
        Op::Send {
            worker,
            port,
            packet,
            flip,
        } => {
            let port = script::in_port(*port);
            if let Some(mut frame) = script::build(packet, port) {
                script::flip(&mut frame, *flip);
                send(lab, tally, worker_index(*worker), port, &frame);
            }
        }
        Op::Flood {
            worker,
            port,
            packet,
            count,
        } => {
            let port = script::in_port(*port);
            let mut packet = packet.clone();
            for _ in 0..count % 40 {
                if let Some(frame) = script::build(&packet, port) {
                    send(lab, tally, worker_index(*worker), port, &frame);
                }
                packet.sport = script::PortNo::Any(packet.sport.number().wrapping_add(1));
            }
        }
        Op::Answer {
            worker,
            pick,
            kind,
            flip,
        } => {
            // Each live user session with its IPv6 ends if it is NAT64's.
            let live: Vec<_> = lab
                .workers
                .iter()
                .flat_map(|w| w.table().iter().map(|(i, e)| (*e, w.nat64_ends(i, e))))
                .collect();
            if live.is_empty() {
                return;
            }
            let (e, v6) = live[usize::from(*pick) % live.len()];
            if let Some((port, mut frame)) = script::answer(&e, v6, *kind) {
                script::flip(&mut frame, *flip);
                let out = send(lab, tally, worker_index(*worker), port, &frame);
                if let (Some((Verdict::Forward(p), bytes)), None) = (out, flip) {
                    match (kind, v6) {
                        (AnswerKind::FromServer { .. }, None) => {
                            check_translated_back(&e, p, &bytes)
                        }
                        (AnswerKind::FromServer { .. }, Some(v6)) => {
                            check_translated_back_v6(&e, v6, p, &bytes)
                        }
                        (AnswerKind::ErrorFromServer { .. }, None) => {
                            check_error_translated(&e, p, &bytes)
                        }
                        (AnswerKind::ErrorFromServer { .. }, Some(v6)) => {
                            check_error_translated_v6(&e, v6, p, &bytes)
                        }
                        (AnswerKind::FromTerminal { .. }, _) => {}
                    }
                }
            }
        }
        Op::Wait { ms } => tick(lab, tally, u64::from(*ms)),
        Op::Sleep { seconds } => tick(lab, tally, u64::from(*seconds % 1200) * 1000),
        Op::Resolve => {
            lab.resolve_misses();
            retry_held(lab, tally);
        }
        Op::Server {
            index,
            state,
            unhealthy,
            weight,
        } => lab.set_server(
            usize::from(*index),
            state.admin(),
            *unhealthy,
            u32::from(*weight % 4),
        ),
        Op::PublishLoads => lab.publish_loads(),
        Op::EndAll { worker } => {
            let w = worker_index(*worker);
            let now = lab.now;
            let ended = lab.workers[w].end_all(now, &mut lab.events);
            assert_eq!(
                lab.workers[w].table().len(),
                0,
                "sessions left after end_all"
            );
            let _ = ended;
        }
        Op::Interim { seconds } => lab.set_interim(u64::from(*seconds) * 1000),
        Op::Forget { host } => {
            match usize::from(*host) % (SERVERS.len() + 1) {
                i if i < SERVERS.len() => lab.forget(SRV, SERVERS[i]),
                _ => lab.forget(EXT, EXT_HOST),
            }
            // The top bit also forgets an IPv6 server (the meaning of the
            // other bits is kept for the committed seeds).
            if *host >= 0x80 {
                lab.forget_v6(SRV, SERVERS6[usize::from(*host) % SERVERS6.len()]);
            }
        }
        Op::Pin { key, gateway } => {
            let sid = match mode {
                Mode::SourceIp => SessionId::from_source_ip(script::terminal(*key)),
                Mode::SourceIpVlan => {
                    SessionId::from_source_ip_vlan(script::terminal(*key), u16::from(*key >> 2))
                }
                Mode::GtpTeid => SessionId::from_teid(script::teid(*key)),
            };
            // Gateway N_WORKERS does not exist: such a pin must be ignored.
            let gw = gateway.map(|g| GatewayId(u32::from(g) % (u32::from(N_WORKERS) + 1)));
            lab.steering.reclaim();
            let table = lab.steering.current().with_pins(&[(sid, gw)]);
            lab.steering.publish(table);
        }
    }
}

/// Time passes: timers run, and held frames leave or give up.
fn tick(lab: &mut Lab, tally: &mut Tally, ms: u64) {
    lab.tick(ms);
    retry_held(lab, tally);
}

/// What the appliance's worker loop does with held frames: send the ones
/// whose next hop is known now, drop the ones that waited too long.
fn retry_held(lab: &mut Lab, tally: &mut Tally) {
    for w in 0..lab.workers.len() {
        lab.workers[w].begin_burst();
        let worker = &lab.workers[w];
        let mut expired = 0;
        lab.held[w].retry(
            lab.now,
            |(mut frame, input_valid), port, next_hop| {
                if worker.complete_held(&mut frame, port, next_hop) {
                    forwarded(tally, port, &frame, input_valid, &[]);
                    Ok(())
                } else {
                    Err((frame, input_valid))
                }
            },
            |_| expired += 1,
        );
        for _ in 0..expired {
            worker.counters().count_drop(DropReason::NeighbourMiss);
            tally.drops[DropReason::NeighbourMiss as usize] += 1;
        }
    }
}

/// With TANDEM_FUZZ_STATS set, one line per input: how deep it went
/// (replay a corpus with `-runs=0` to see what the fuzzer reaches).
fn print_stats(lab: &Lab, t: &Tally) {
    let reasons: Vec<&str> = DropReason::ALL
        .iter()
        .filter(|&&r| t.drops[r as usize] > 0)
        .map(|&r| r.as_str())
        .collect();
    eprintln!(
        "STATS created={} forwarded={} consumed={} hops={} events={} nat66_up={} nat66_down={} too_big_answers={} drops={reasons:?}",
        lab.sum(|c| c.user_sessions_created.get()),
        t.forwarded,
        t.consumed,
        t.hops,
        lab.events.len(),
        t.nat66_up,
        t.nat66_down,
        t.too_big_answers
    );
}

fn worker_index(w: u8) -> usize {
    usize::from(w) % usize::from(N_WORKERS)
}

/// Sends one frame and checks what became of it; returns the final verdict
/// and the frame as it left (for a frame that is not held).
fn send(
    lab: &mut Lab,
    tally: &mut Tally,
    worker: usize,
    port: u16,
    bytes: &[u8],
) -> Option<(Verdict, Vec<u8>)> {
    let before = checksums(bytes);
    // The prefetch pass reads every frame first, as the worker loop does.
    lab.workers[worker].prefetch_burst([(bytes, port)], &NoPrefetch);
    let mut f = VecFrame::new(bytes);
    let too_big_before = lab.drops(DropReason::Nat64TooBig);
    let j = lab.run(worker, port, &mut f, 2);
    if let (Verdict::Forward(_), true) = (
        j.verdict,
        lab.drops(DropReason::Nat64TooBig) > too_big_before,
    ) {
        assert!(
            is_too_big_answer(f.bytes()),
            "forwarded and counted nat64_too_big, not a too-big answer: {:02x?}",
            f.bytes()
        );
        tally.too_big_answers += 1;
    }
    tally.frames += 1;
    tally.rx_bytes += bytes.len() as u64;
    tally.hops += u64::from(j.hops);
    assert!(
        j.hops <= 1,
        "frame handed off {} times, last verdict {:?}",
        j.hops,
        j.verdict
    );
    let input_valid = before == Checksums::AllValid;
    let out = j.verdict.held().is_none().then(|| (j.verdict, f.bytes().to_vec()));
    // Later frames (the later IPv6 fragments of a NAT64 answer) leave
    // right after the first.
    while let Some((p, extra)) = lab.workers[j.at].take_extra() {
        assert!(
            matches!(j.verdict, Verdict::Forward(_)),
            "an extra frame without the first: {:?}",
            j.verdict
        );
        forwarded(tally, p, &VecFrame::new(extra), input_valid, bytes);
    }
    match j.verdict {
        Verdict::Forward(out) => forwarded(tally, out, &f, input_valid, bytes),
        Verdict::Handoff(t) => unreachable!("handoff to {t} not followed"),
        Verdict::Drop(r) => tally.drops[r as usize] += 1,
        Verdict::Consumed => tally.consumed += 1,
        Verdict::Hold { .. } | Verdict::HoldV6 { .. } => {
            let Some((port, waiting)) = j.verdict.held() else {
                unreachable!("a hold verdict holds")
            };
            assert!(port < N_PORTS, "held for unknown port {port}");
            if lab.held[j.at]
                .hold((f, input_valid), port, waiting, lab.now)
                .is_err()
            {
                lab.workers[j.at]
                    .counters()
                    .count_drop(DropReason::NeighbourMiss);
                tally.drops[DropReason::NeighbourMiss as usize] += 1;
            }
        }
    }
    out
}

/// Checks that a frame about user session `e` leaves on `port`, its
/// terminal's; whether it goes in the terminal's GTP-U tunnel.
fn on_terminal_path(e: &UserSession, port: u16, what: &str) -> bool {
    assert_eq!(
        port, e.client_path.port,
        "{what} leaves on the terminal's port"
    );
    !e.client_path.tunnel.is_none()
}

/// A server's answer to user session `e` reaches the terminal exactly as
/// an answer from what it addressed, along the path it came by.
fn check_translated_back(e: &UserSession, port: u16, frame: &[u8]) {
    let path = e.client_path;
    let tunnelled = on_terminal_path(e, port, "answer");
    let a = addressing(frame, tunnelled).expect("a translated answer is IPv4");
    let want = Addressing {
        vlan: (path.vlan != 0).then_some(path.vlan),
        teid: tunnelled.then_some(path.tunnel.teid),
        src: e.orig_dst_ip,
        dst: e.client_ip,
        proto: e.proto,
        src_port: if e.proto == PROTO_ICMP {
            e.client_port
        } else {
            e.orig_dst_port
        },
        dst_port: if e.proto == PROTO_ICMP {
            0
        } else {
            e.client_port
        },
        ttl: a.ttl,
        ip_offset: a.ip_offset,
    };
    assert_eq!(a, want, "answer translated back: {frame:02x?}");
    assert!(a.ttl > 0, "answer sent with TTL 0: {frame:02x?}");
}

/// An ICMP error about a packet the gateway sent reaches the terminal as
/// an error from what it addressed, about the packet the terminal sent.
fn check_error_translated(e: &UserSession, port: u16, frame: &[u8]) {
    let tunnelled = on_terminal_path(e, port, "error");
    let a = addressing(frame, tunnelled).expect("a translated error is IPv4");
    assert_eq!(
        (a.src, a.dst, a.proto),
        (e.orig_dst_ip, e.client_ip, PROTO_ICMP)
    );
    if !known::allowed(known::ALLOW_TTL_ZERO) {
        assert!(a.ttl > 0, "error sent with TTL 0: {frame:02x?}");
    }
    let ip = Ipv4Packet::new_checked(&frame[a.ip_offset..]).expect("checked by addressing");
    let quoted = &ip.payload()[ICMP_HEADER_LEN..];
    let q = Ipv4Packet::new_checked_header(quoted).expect("quoted header");
    assert!(q.verify_checksum(), "quoted header checksum: {frame:02x?}");
    assert_eq!(
        (q.src(), q.dst()),
        (e.client_ip, e.orig_dst_ip),
        "quoted addresses"
    );
    let l4 = &quoted[q.header_len()..];
    let ports = (
        u16::from_be_bytes([l4[0], l4[1]]),
        u16::from_be_bytes([l4[2], l4[3]]),
    );
    match e.proto {
        PROTO_ICMP => assert_eq!(u16::from_be_bytes([l4[4], l4[5]]), e.client_port),
        _ => assert_eq!(ports, (e.client_port, e.orig_dst_port), "quoted ports"),
    }
}

/// NAT64: a server's answer to user session `e` reaches the IPv6 terminal
/// (`v6.terminal`) as an IPv6 answer from what it addressed (`v6.dest`),
/// its ports (or echo identifier) the terminal's, along its path.
fn check_translated_back_v6(e: &UserSession, v6: Ipv6Ends, port: u16, frame: &[u8]) {
    let path = e.client_path;
    let tunnelled = on_terminal_path(e, port, "answer");
    let a = addressing_v6(frame, tunnelled).expect("a NAT64 answer is IPv6");
    let icmp = e.proto == PROTO_ICMP;
    let want = Addressing6 {
        vlan: (path.vlan != 0).then_some(path.vlan),
        teid: tunnelled.then_some(path.tunnel.teid),
        src: v6.dest,
        dst: v6.terminal,
        proto: if icmp { PROTO_ICMPV6 } else { e.proto },
        src_port: if icmp { e.client_port } else { e.orig_dst_port },
        dst_port: if icmp { 0 } else { e.client_port },
        hop_limit: a.hop_limit,
        ip_offset: a.ip_offset,
        l4_offset: a.l4_offset,
    };
    assert_eq!(a, want, "answer translated back: {frame:02x?}");
    assert!(
        a.hop_limit > 0,
        "answer sent with hop limit 0: {frame:02x?}"
    );
}

/// NAT64: an ICMP error about a packet the gateway sent reaches the IPv6
/// terminal as an ICMPv6 error from what it addressed, quoting the IPv6
/// packet the terminal sent (its addresses and ports).
fn check_error_translated_v6(e: &UserSession, v6: Ipv6Ends, port: u16, frame: &[u8]) {
    let tunnelled = on_terminal_path(e, port, "error");
    let a = addressing_v6(frame, tunnelled).expect("a NAT64 error is IPv6");
    assert_eq!(
        (a.src, a.dst, a.proto),
        (v6.dest, v6.terminal, PROTO_ICMPV6)
    );
    assert!(a.hop_limit > 0, "error sent with hop limit 0: {frame:02x?}");
    let quoted = &frame[a.l4_offset + ICMP_HEADER_LEN..];
    let q = Ipv6Packet::new_checked_header(quoted).expect("quoted IPv6 header");
    assert_eq!(
        (q.src(), q.dst()),
        (v6.terminal, v6.dest),
        "quoted addresses: {frame:02x?}"
    );
    let l4 = &quoted[IPV6_HEADER_LEN..];
    match e.proto {
        PROTO_ICMP => assert_eq!(u16::from_be_bytes([l4[4], l4[5]]), e.client_port),
        _ => assert_eq!(
            (
                u16::from_be_bytes([l4[0], l4[1]]),
                u16::from_be_bytes([l4[2], l4[3]])
            ),
            (e.client_port, e.orig_dst_port),
            "quoted ports"
        ),
    }
}

/// A frame leaves on `port`: a known port, and no checksum that was right
/// when it came in is wrong now.
fn forwarded(tally: &mut Tally, port: u16, f: &VecFrame, input_valid: bool, input: &[u8]) {
    assert!(port < N_PORTS, "forwarded to unknown port {port}");
    if !known::allowed(known::ALLOW_TTL_ZERO) {
        let ttl = outer_ttl(f.bytes());
        assert_ne!(ttl, Some(0), "sent with TTL 0: {:02x?}", f.bytes());
    }
    tally.forwarded += 1;
    tally.tx_bytes += f.len() as u64;
    if input_valid {
        assert_eq!(
            checksums(f.bytes()),
            Checksums::AllValid,
            "forwarding broke a checksum: in {input:02x?} out {:02x?}",
            f.bytes()
        );
    }
    check_ipv6_out(tally, port, f.bytes(), input_valid, input);
}

/// The IPv6 packet of a frame: right after Ethernet (and a VLAN tag), or
/// inside a GTP-U G-PDU over IPv4 (then `true`).
fn ipv6_of(frame: &[u8]) -> Option<(Ipv6Packet<&[u8]>, bool)> {
    // Where `inner`, a part of `frame`, starts in it.
    let at = |inner: &[u8]| inner.as_ptr() as usize - frame.as_ptr() as usize;
    let eth = EthernetFrame::new_checked(frame).ok()?;
    let (start, len, tunnelled) = match eth.ethertype() {
        ETHERTYPE_IPV6 => (at(eth.payload()), eth.payload().len(), false),
        ETHERTYPE_IPV4 => {
            let outer = Ipv4Packet::new_checked(eth.payload()).ok()?;
            if outer.protocol() != PROTO_UDP || outer.is_fragment() {
                return None;
            }
            let udp = UdpDatagram::new_checked(outer.payload()).ok()?;
            if udp.dst_port() != GTPU_PORT {
                return None;
            }
            let gtp = GtpuPacket::new_checked(udp.payload()).ok()?;
            if gtp.message_type() != GTPU_MSG_G_PDU || gtp.payload().first()? >> 4 != 6 {
                return None;
            }
            (at(gtp.payload()), gtp.payload().len(), true)
        }
        _ => return None,
    };
    let ip = Ipv6Packet::new_checked(frame.get(start..start + len)?).ok()?;
    Some((ip, tunnelled))
}

/// Whether `frame` is an ICMP "fragmentation needed" (type 3 code 4) or an
/// ICMPv6 Packet Too Big (type 2), plain or in a GTP-U tunnel.
fn is_too_big_answer(frame: &[u8]) -> bool {
    if let Some((ip, _)) = ipv6_of(frame) {
        return match ip.upper_layer() {
            Ok(up) if up.protocol == PROTO_ICMPV6 => ip.packet().get(up.offset) == Some(&2),
            _ => false,
        };
    }
    let Ok(eth) = EthernetFrame::new_checked(frame) else {
        return false;
    };
    match Ipv4Packet::new_checked(eth.payload()) {
        Ok(ip) if eth.ethertype() == ETHERTYPE_IPV4 && ip.protocol() == PROTO_ICMP => {
            ip.payload().get(..2) == Some(&[3, 4])
        }
        _ => false,
    }
}

/// A whole (unfragmented) IPv6 UDP datagram of `frame` with a checksum of
/// 0 ("none", not allowed over IPv6), its length field right: a NAT66
/// rewrite computes its checksum from scratch.
fn whole_udp_without_checksum(frame: &[u8]) -> bool {
    let Some((ip, _)) = ipv6_of(frame) else {
        return false;
    };
    let Ok(up) = ip.upper_layer() else {
        return false;
    };
    let l4 = ip.packet().get(up.offset..).unwrap_or(&[]);
    up.protocol == PROTO_UDP
        && up.fragment.is_none()
        && l4.len() >= 8
        && l4[6..8] == [0, 0]
        && usize::from(u16::from_be_bytes([l4[4], l4[5]])) == l4.len()
}

/// NAT66: an IPv6 TCP or UDP packet leaving on a server or external port
/// is a NAT66 one (Tandem forwards no other IPv6): on the server port,
/// from the gateway IPv6 address to an IPv6 server, untunnelled. One
/// leaving toward a terminal never shows the gateway IPv6 address or an
/// IPv6 server as its source; one from the NAT66 VIP is addressed to
/// neither. A whole packet's checksum (over the IPv6 pseudo header) is
/// right when every checksum of the frame that came in was, and when it
/// came in as a whole UDP datagram without one (the rewrite computes it).
fn check_ipv6_out(tally: &mut Tally, port: u16, out: &[u8], input_valid: bool, input: &[u8]) {
    let Some((ip, tunnelled)) = ipv6_of(out) else {
        return;
    };
    let Ok(up) = ip.upper_layer() else {
        return;
    };
    if !matches!(up.protocol, PROTO_TCP | PROTO_UDP) {
        return;
    }
    let (src, dst) = (ip.src(), ip.dst());
    let inside = |a| a == GW6 || SERVERS6.contains(&a);
    if port == ACC || port == ACC2 {
        assert!(
            !inside(src),
            "a gateway or server IPv6 address leaks to a terminal: {out:02x?}"
        );
        if src != VIP66 {
            return;
        }
        assert!(!inside(dst), "from the NAT66 VIP to {dst}: {out:02x?}");
        tally.nat66_down += 1;
    } else {
        assert_eq!(
            port, SRV,
            "IPv6 TCP/UDP forwarded to port {port}: {out:02x?}"
        );
        assert!(
            !tunnelled,
            "NAT66 packet to a server in a tunnel: {out:02x?}"
        );
        assert_eq!(
            src, GW6,
            "NAT66 packet to a server not from GW6: {out:02x?}"
        );
        assert!(
            SERVERS6.contains(&dst),
            "NAT66 packet to {dst}, not an IPv6 server: {out:02x?}"
        );
        tally.nat66_up += 1;
    }
    if up.fragment.is_some() {
        return;
    }
    if input_valid || whole_udp_without_checksum(input) {
        let l4 = ip.packet().get(up.offset..).unwrap_or(&[]);
        let valid = match up.protocol {
            PROTO_TCP => l4_verifies_v6(src, dst, PROTO_TCP, l4),
            _ => udp_v6_verifies(src, dst, l4),
        };
        assert!(
            valid,
            "NAT66 checksum wrong over the IPv6 pseudo header: in {input:02x?} out {out:02x?}"
        );
    }
}

/// After every step: each live user session holds exactly one port and
/// one unit of its server's load, and the live gauge says how many there are.
fn check_holdings(lab: &Lab) {
    for (i, w) in lab.workers.iter().enumerate() {
        let live = w.table().len();
        assert!(live <= TABLE_CAPACITY, "worker {i}: {live} user sessions");
        // Each user session holds a port of its gateway address: GW's, or
        // GW6's for a NAT66 one.
        let n_addrs = w.port_allocator().n_addrs();
        assert_eq!(n_addrs, GW6_INDEX + 1, "worker {i}: gateway addresses");
        let mut per_addr = vec![0u32; usize::from(n_addrs)];
        for (_, e) in w.table().iter() {
            let nat66 = e.flags.contains(SessionFlags::NAT66);
            assert_eq!(
                e.gw_addr == GW6_INDEX,
                nat66,
                "worker {i}: gateway address {} of a user session (NAT66: {nat66})",
                e.gw_addr
            );
            per_addr[usize::from(e.gw_addr)] += 1;
        }
        for (a, &n) in per_addr.iter().enumerate() {
            let ports = w.port_allocator().stats(a as u8).expect("known address");
            assert_eq!(
                ports.in_use, n,
                "worker {i}: ports in use of gateway address {a} vs user sessions"
            );
        }
        assert_eq!(
            w.counters().user_sessions_live.get(),
            u64::from(live),
            "worker {i}: live gauge"
        );
        let mut per_server = [0u64; MAX_SERVERS];
        for (_, e) in w.table().iter() {
            if let Some(n) = per_server.get_mut(e.server_index as usize) {
                *n += 1;
            }
        }
        for (s, &n) in per_server.iter().enumerate() {
            assert_eq!(
                lab.local_loads[i].get(s),
                n,
                "worker {i}: load of server {s}"
            );
        }
    }
}

/// After the far tick: nothing is held any more.
fn check_all_released(lab: &Lab) {
    assert_eq!(lab.live(), 0, "user sessions left after every timeout");
    let created = lab.sum(|c| c.user_sessions_created.get());
    let expired = lab.sum(|c| c.user_sessions_expired.get());
    assert_eq!(created, expired, "created vs expired");
    let finals = lab
        .events
        .iter()
        .filter(|e| {
            matches!(e, Event::Accounting(a)
                if a.kind == RecordKind::Final
                    && !matches!(a.end_reason, EndReason::NotEntitled | EndReason::SubscriberLimit))
        })
        .count() as u64;
    assert_eq!(finals, created, "one final record per user session");
}

/// The workers' counters against the harness's tally.
fn check_counters(lab: &Lab, t: &Tally) {
    let rx = lab.sum(|c| c.rx_packets.get());
    let tx = lab.sum(|c| c.tx_packets.get());
    let punted = lab.sum(|c| c.punted.get());
    let dropped = lab.sum(|c| c.dropped_total());
    assert_eq!(rx, t.frames, "rx_packets");
    assert_eq!(lab.sum(|c| c.rx_bytes.get()), t.rx_bytes, "rx_bytes");
    assert_eq!(lab.sum(|c| c.handoff_out.get()), t.hops, "handoff_out");
    assert_eq!(lab.sum(|c| c.handoff_in.get()), t.hops, "handoff_in");
    if !known::allowed(known::ALLOW_PROBE_UNCOUNTED) {
        assert_eq!(punted, t.consumed, "punted vs consumed");
    }
    assert_eq!(tx, t.forwarded, "tx_packets vs forwarded");
    // Refusals write one `not_entitled` accounting record each.
    let refusals = if known::allowed(known::ALLOW_REFUSAL_COUNTED_TWICE) {
        lab.events
            .iter()
            .filter(|e| matches!(e, Event::Accounting(a) if a.end_reason == EndReason::NotEntitled))
            .count() as u64
    } else {
        0
    };
    // A TTL-expired terminal packet answered with an ICMP time exceeded is
    // forwarded (the answer) and also counted under `ttl_expired`.
    let ttl_answers = lab.sum(|c| c.ttl_exceeded_sent.get());
    // So is a packet too big for the terminal's port answered with an ICMP
    // error (`Tally::too_big_answers`).
    let too_big = t.too_big_answers;
    for &r in DropReason::ALL {
        let extra = match r {
            DropReason::NotEntitled => refusals,
            DropReason::TtlExpired => ttl_answers,
            DropReason::Nat64TooBig => too_big,
            _ => 0,
        };
        assert_eq!(
            lab.drops(r),
            t.drops[r as usize] + extra,
            "drops of {}",
            r.as_str()
        );
    }
    let probes = if known::allowed(known::ALLOW_PROBE_UNCOUNTED) {
        t.consumed - punted
    } else {
        0
    };
    assert_eq!(
        rx,
        tx + punted + probes + dropped - refusals - ttl_answers - too_big,
        "rx == tx + punted + dropped"
    );
    if !known::allowed(known::ALLOW_TX_BYTES) {
        assert_eq!(lab.sum(|c| c.tx_bytes.get()), t.tx_bytes, "tx_bytes");
    }
}
