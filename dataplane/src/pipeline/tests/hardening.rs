//! Hostile traffic against live user sessions (issue 13): blind resets and
//! FINs, a neighbour spoofing a terminal's flow, table-full floods, reused
//! 4-tuples, TTL expiry and the times records give.

use super::*;
use crate::event::{EndReason, RecordKind};
use crate::wire::frames::udp_frame;

const C_ISN: u32 = SYN_ISN;
const S_ISN: u32 = 7_000_000;

fn u_mac() -> ([u8; 6], [u8; 6]) {
    (UE_MAC, port_mac(ACC))
}

fn s_mac(server: Ipv4Addr) -> ([u8; 6], [u8; 6]) {
    (server_mac(server), port_mac(SRV))
}

/// A connection of the terminal from `port` after the three-way handshake
/// (client ISN `c`, server ISN `s`): its translated SYN.
fn connect(lab: &mut Lab, port: u16, c: u32, s: u32) -> Out {
    let syn = tcp_seq(UE, port, VIP, 80, TcpFlags::SYN, c, 0, &[], u_mac());
    let (v, out) = lab.up(ACC, &syn);
    assert_eq!(v, Verdict::Forward(SRV));
    let o = decode(&out);
    let syn_ack = tcp_seq(
        o.dst,
        8080,
        GW,
        o.sport,
        TcpFlags::SYN | TcpFlags::ACK,
        s,
        c.wrapping_add(1),
        &[],
        s_mac(o.dst),
    );
    assert_eq!(lab.up(SRV, &syn_ack).0, Verdict::Forward(ACC));
    let ack = tcp_seq(
        UE,
        port,
        VIP,
        80,
        TcpFlags::ACK,
        c.wrapping_add(1),
        s.wrapping_add(1),
        &[],
        u_mac(),
    );
    assert_eq!(lab.up(ACC, &ack).0, Verdict::Forward(SRV));
    o
}

/// A segment from the server of `o` to the terminal.
fn from_server(o: &Out, flags: TcpFlags, seq: u32, ack: u32, payload: &[u8]) -> Vec<u8> {
    tcp_seq(
        o.dst,
        8080,
        GW,
        o.sport,
        flags,
        seq,
        ack,
        payload,
        s_mac(o.dst),
    )
}

/// A segment from the terminal's `port` sent from `macs` (MAC, our port).
fn from_terminal(
    port: u16,
    flags: TcpFlags,
    seq: u32,
    ack: u32,
    payload: &[u8],
    macs: ([u8; 6], [u8; 6]),
) -> Vec<u8> {
    tcp_seq(UE, port, VIP, 80, flags, seq, ack, payload, macs)
}

fn counter(lab: &Lab, f: impl Fn(&crate::counters::WorkerCounters) -> u64) -> u64 {
    lab.workers.iter().map(|w| f(w.counters())).sum()
}

#[test]
fn blind_resets_and_fins_do_not_end_a_connection() {
    let mut lab = Lab::new(1);
    let o = connect(&mut lab, 41000, C_ISN, S_ISN);
    let c = C_ISN + 1;
    let s = S_ISN + 1;
    // A spoofed RST "from the terminal" and one "from the server", both
    // with a wrong sequence number.
    let rst = from_terminal(41000, TcpFlags::RST, c + (1 << 30), 0, &[], u_mac());
    assert_eq!(
        lab.up(ACC, &rst).0,
        Verdict::Drop(DropReason::TcpOutOfWindow)
    );
    let rst = from_server(&o, TcpFlags::RST, s.wrapping_sub(1 << 24), 0, &[]);
    assert_eq!(
        lab.up(SRV, &rst).0,
        Verdict::Drop(DropReason::TcpOutOfWindow)
    );
    // A FIN with the right sequence but acknowledging data never sent.
    let fin = from_server(&o, TcpFlags::FIN | TcpFlags::ACK, s, c + (1 << 20), &[]);
    assert_eq!(
        lab.up(SRV, &fin).0,
        Verdict::Drop(DropReason::TcpOutOfWindow)
    );
    assert_eq!(lab.drops(DropReason::TcpOutOfWindow), 3);
    // Well past the closing timeout the connection is still there and
    // still works.
    lab.tick(30_000);
    assert_eq!(lab.live(), 1, "a blind RST or FIN closed the connection");
    let data = from_server(&o, TcpFlags::ACK, s, c, b"still here");
    assert_eq!(lab.up(SRV, &data).0, Verdict::Forward(ACC));
    // The real RST (in window) ends it.
    let rst = from_terminal(41000, TcpFlags::RST, c, 0, &[], u_mac());
    assert_eq!(lab.up(ACC, &rst).0, Verdict::Forward(SRV));
    lab.tick(11_000);
    assert_eq!(lab.live(), 0);
    let acc = lab.accounting();
    assert_eq!(acc.len(), 1);
    assert_eq!(acc[0].end_reason, EndReason::Rst);
}

#[test]
fn an_in_window_fin_closes() {
    let mut lab = Lab::new(1);
    let o = connect(&mut lab, 41010, C_ISN, S_ISN);
    let (c, s) = (C_ISN + 1, S_ISN + 1);
    let fin = from_server(&o, TcpFlags::FIN | TcpFlags::ACK, s, c, &[]);
    assert_eq!(lab.up(SRV, &fin).0, Verdict::Forward(ACC));
    let fin = from_terminal(41010, TcpFlags::FIN | TcpFlags::ACK, c, s + 1, &[], u_mac());
    assert_eq!(lab.up(ACC, &fin).0, Verdict::Forward(SRV));
    let ack = from_server(&o, TcpFlags::ACK, s + 1, c + 1, &[]);
    assert_eq!(lab.up(SRV, &ack).0, Verdict::Forward(ACC));
    lab.tick(11_000);
    assert_eq!(lab.live(), 0);
    assert_eq!(lab.accounting()[0].end_reason, EndReason::Fin);
}

#[test]
fn sequence_numbers_wrap_around_zero() {
    let mut lab = Lab::new(1);
    let c_isn = u32::MAX - 100;
    let s_isn = u32::MAX - 5_000;
    let o = connect(&mut lab, 41020, c_isn, s_isn);
    let c = c_isn.wrapping_add(1);
    let mut s = s_isn.wrapping_add(1);
    for _ in 0..8 {
        let data = from_server(&o, TcpFlags::ACK, s, c, &[9u8; 1000]);
        assert_eq!(lab.up(SRV, &data).0, Verdict::Forward(ACC));
        s = s.wrapping_add(1000);
    }
    assert!(s < 10_000, "the server's numbers crossed zero: {s}");
    let ack = from_terminal(41020, TcpFlags::ACK, c, s, &[], u_mac());
    assert_eq!(lab.up(ACC, &ack).0, Verdict::Forward(SRV));
    // Out of window after the wrap: dropped.
    let rst = from_server(&o, TcpFlags::RST, s.wrapping_add(1 << 31), 0, &[]);
    assert_eq!(
        lab.up(SRV, &rst).0,
        Verdict::Drop(DropReason::TcpOutOfWindow)
    );
    // In window after the wrap: it closes.
    let fin = from_server(&o, TcpFlags::FIN | TcpFlags::ACK, s, c, &[]);
    assert_eq!(lab.up(SRV, &fin).0, Verdict::Forward(ACC));
    let fin = from_terminal(
        41020,
        TcpFlags::FIN | TcpFlags::ACK,
        c,
        s.wrapping_add(1),
        &[],
        u_mac(),
    );
    assert_eq!(lab.up(ACC, &fin).0, Verdict::Forward(SRV));
    lab.tick(11_000);
    assert_eq!(lab.live(), 0);
    assert_eq!(lab.accounting()[0].end_reason, EndReason::Fin);
}

#[test]
fn a_neighbour_spoofing_the_flow_does_not_get_its_replies() {
    let mut lab = Lab::new(1);
    let o = connect(&mut lab, 41030, C_ISN, S_ISN);
    let (c, s) = (C_ISN + 1, S_ISN + 1);
    // Another host, on the other access port, with the terminal's 5-tuple
    // but blind numbers. It is forwarded (the server judges it) ...
    let attacker = (UE2_MAC, port_mac(ACC2));
    let spoof = from_terminal(
        41030,
        TcpFlags::ACK,
        c + (1 << 28),
        s + (1 << 28),
        &[],
        attacker,
    );
    assert_eq!(lab.up(ACC2, &spoof).0, Verdict::Forward(SRV));
    // ... but the replies still go to the terminal.
    let data = from_server(&o, TcpFlags::ACK, s, c, b"for the terminal");
    let (v, back) = lab.up(SRV, &data);
    assert_eq!(v, Verdict::Forward(ACC));
    assert_eq!(decode(&back).dst_mac, UE_MAC);
    assert_eq!(counter(&lab, |c| c.client_path_refused.get()), 1);
    assert_eq!(counter(&lab, |c| c.client_path_moved.get()), 0);
    // The terminal itself moving (in window: it acknowledges the 16 bytes
    // it got) takes them along.
    let moved = from_terminal(41030, TcpFlags::ACK, c, s + 16, &[], attacker);
    assert_eq!(lab.up(ACC2, &moved).0, Verdict::Forward(SRV));
    let data = from_server(&o, TcpFlags::ACK, s + 16, c, b"x");
    let (v, back) = lab.up(SRV, &data);
    assert_eq!(v, Verdict::Forward(ACC2));
    assert_eq!(decode(&back).dst_mac, UE2_MAC);
    assert_eq!(counter(&lab, |c| c.client_path_moved.get()), 1);
}

#[test]
fn a_udp_path_moves_only_once_the_old_one_is_quiet() {
    let mut lab = Lab::new(1);
    let q = |macs| udp(UE, 41040, DNS_VIP, 53, b"q", macs);
    let (_, out) = lab.up(ACC, &q(u_mac()));
    let o = decode(&out);
    let answer = || {
        udp(
            o.dst,
            o.dport,
            GW,
            o.sport,
            b"a",
            (server_mac(o.dst), port_mac(SRV)),
        )
    };
    let other = (UE2_MAC, port_mac(ACC2));
    // While the terminal is active, another path cannot take its answers.
    lab.tick(500);
    assert_eq!(lab.up(ACC2, &q(other)).0, Verdict::Forward(SRV));
    assert_eq!(lab.up(SRV, &answer()).0, Verdict::Forward(ACC));
    // Once its old path has been quiet for PATH_QUIET_MS, it can.
    lab.tick(crate::tier2::PATH_QUIET_MS);
    assert_eq!(lab.up(ACC2, &q(other)).0, Verdict::Forward(SRV));
    assert_eq!(lab.up(SRV, &answer()).0, Verdict::Forward(ACC2));
    assert_eq!(counter(&lab, |c| c.client_path_refused.get()), 1);
    assert_eq!(counter(&lab, |c| c.client_path_moved.get()), 1);
}

#[test]
fn a_refused_syn_does_not_quarantine_its_port() {
    // One session fits; two gateway ports.
    let mut lab = Lab::with(1, 1, crate::tier1::SessionKeyMode::SourceIp, (1024, 1025));
    let o = connect(&mut lab, 41050, C_ISN, S_ISN);
    // A flood of SYNs while the table is full.
    for p in 0..20 {
        let syn = tcp_seq(UE, 42000 + p, VIP, 80, TcpFlags::SYN, 1, 0, &[], u_mac());
        assert_eq!(lab.up(ACC, &syn).0, Verdict::Drop(DropReason::TableFull));
    }
    let pool = lab.workers[0].port_allocator().stats(0).unwrap();
    assert_eq!((pool.in_use, pool.quarantined, pool.free), (1, 0, 1));
    // The session ends (RST in window): its port carried traffic and is
    // quarantined; the other port is free for the next terminal at once.
    let rst = from_server(&o, TcpFlags::RST, S_ISN + 1, 0, &[]);
    assert_eq!(lab.up(SRV, &rst).0, Verdict::Forward(ACC));
    lab.tick(11_000);
    assert_eq!(lab.live(), 0);
    let syn = tcp_seq(UE, 43000, VIP, 80, TcpFlags::SYN, 1, 0, &[], u_mac());
    let (v, out) = lab.up(ACC, &syn);
    assert_eq!(v, Verdict::Forward(SRV), "refused for a quarantined port");
    assert_ne!(decode(&out).sport, o.sport);
}

#[test]
fn quarantine_empties_while_the_worker_is_idle() {
    let mut lab = Lab::new(1);
    let syn = tcp_seq(UE, 41060, VIP, 80, TcpFlags::SYN, 1, 0, &[], u_mac());
    lab.up(ACC, &syn);
    lab.tick(11_000);
    assert_eq!(lab.live(), 0);
    let gauge = |lab: &Lab| lab.workers[0].pool_gauges()[0].quarantined.get();
    lab.tick(100);
    assert_eq!(gauge(&lab), 1);
    // No traffic at all: the TCP quarantine (60 s) ends and the gauge says so.
    lab.tick(61_000);
    assert_eq!(gauge(&lab), 0);
    assert_eq!(
        lab.workers[0]
            .port_allocator()
            .stats(0)
            .unwrap()
            .quarantined,
        0
    );
}

#[test]
fn a_new_syn_on_a_closed_four_tuple_opens_a_new_user_session() {
    let mut lab = Lab::new(1);
    let o = connect(&mut lab, 41070, C_ISN, S_ISN);
    let (c, s) = (C_ISN + 1, S_ISN + 1);
    // The server closes first; the terminal closes too: time-wait.
    let fin = from_server(&o, TcpFlags::FIN | TcpFlags::ACK, s, c, &[]);
    lab.up(SRV, &fin);
    let fin = from_terminal(41070, TcpFlags::FIN | TcpFlags::ACK, c, s + 1, &[], u_mac());
    lab.up(ACC, &fin);
    let ack = from_server(&o, TcpFlags::ACK, s + 1, c + 1, &[]);
    lab.up(SRV, &ack);
    // The terminal reuses its port at once.
    let syn = tcp_seq(UE, 41070, VIP, 80, TcpFlags::SYN, 99_000, 0, &[], u_mac());
    let (v, out) = lab.up(ACC, &syn);
    assert_eq!(v, Verdict::Forward(SRV));
    let n = decode(&out);
    assert_ne!(n.sport, o.sport, "a new gateway port, not the old one");
    assert_eq!(lab.live(), 1);
    let acc = lab.accounting();
    assert_eq!(acc.len(), 1, "{acc:?}");
    assert_eq!(
        (acc[0].kind, acc[0].end_reason, acc[0].gateway_port),
        (RecordKind::Final, EndReason::Fin, o.sport)
    );
    // The new connection is tracked on its own numbers.
    let syn_ack = tcp_seq(
        n.dst,
        8080,
        GW,
        n.sport,
        TcpFlags::SYN | TcpFlags::ACK,
        5,
        99_001,
        &[],
        s_mac(n.dst),
    );
    assert_eq!(lab.up(SRV, &syn_ack).0, Verdict::Forward(ACC));
    let ack = from_terminal(41070, TcpFlags::ACK, 99_001, 6, &[], u_mac());
    assert_eq!(lab.up(ACC, &ack).0, Verdict::Forward(SRV));
    lab.tick(30_000);
    assert_eq!(lab.live(), 1, "established, not a time-wait leftover");
}

#[test]
fn ttl_expiry_is_answered_with_time_exceeded() {
    let mut lab = Lab::new(1);
    let mut probe = spec(UE, 33434, DNS_VIP, 53, UE_MAC, port_mac(ACC));
    probe.ttl = 1;
    let frame = udp_frame(&probe, b"traceroute").unwrap();
    let (v, out) = lab.up(ACC, &frame);
    assert_eq!(v, Verdict::Forward(ACC));
    let o = decode(&out);
    assert_eq!((o.proto, o.tcp_flags), (1, 11), "ICMP time exceeded");
    assert_eq!(o.src, Ipv4Addr::new(10, 1, 0, 1), "from the access port");
    assert_eq!((o.dst, o.dst_mac), (UE, UE_MAC));
    // The quoted packet is the probe as the terminal sent it.
    assert_eq!(&out[14 + 20 + 8 + 12..14 + 20 + 8 + 20], &frame[26..34]);
    assert_eq!(lab.drops(DropReason::TtlExpired), 1);
    assert_eq!(counter(&lab, |c| c.ttl_exceeded_sent.get()), 1);
    assert_eq!(lab.live(), 0, "no user session for an expired probe");
    // A probe whose header checksum is wrong is not answered.
    let mut corrupt = frame.clone();
    corrupt[14 + 10] ^= 0xff;
    assert_eq!(
        lab.up(ACC, &corrupt).0,
        Verdict::Drop(DropReason::TtlExpired)
    );
    assert_eq!(lab.drops(DropReason::TtlExpired), 2);
}

#[test]
fn an_idle_timeout_ends_at_the_deadline_not_when_noticed() {
    let mut lab = Lab::new(1);
    let start = lab.now;
    let syn = tcp_seq(UE, 41080, VIP, 80, TcpFlags::SYN, 1, 0, &[], u_mac());
    lab.up(ACC, &syn);
    // The timers run late (a long tick), well after the 10 s SYN timeout.
    lab.tick(25_000);
    let acc = lab.accounting();
    assert_eq!(acc.len(), 1);
    assert_eq!(acc[0].end_reason, EndReason::Timeout);
    assert_eq!(acc[0].end_ms, start + 10_000);
}
