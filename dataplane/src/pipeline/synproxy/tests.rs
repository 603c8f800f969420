//! The SYN proxy on byte buffers: what the terminal and the server see at
//! each step, checked field by field and against from-scratch checksums
//! (`testkit::decode`).

use super::splice;
use crate::counters::DropReason;
use crate::pipeline::Verdict;
use crate::policy::SynProxyMode;
use crate::testkit::*;
use crate::tier1::{GatewayId, SessionKeyMode};
use crate::tier2::syncookie::EPOCH_MS;
use crate::wire::checksum::l4_checksum;
use crate::wire::frames::tcp_frame;
use crate::wire::TcpFlags;
use proptest::prelude::*;
use std::net::Ipv4Addr;

const TCP: usize = 34;

fn rd32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn seq_of(f: &[u8]) -> u32 {
    rd32(f, TCP + 4)
}
fn ack_of(f: &[u8]) -> u32 {
    rd32(f, TCP + 8)
}
fn payload_of(f: &[u8]) -> &[u8] {
    let total = usize::from(u16::from_be_bytes([f[16], f[17]]));
    let doff = usize::from(f[TCP + 12] >> 4) * 4;
    &f[TCP + doff..14 + total]
}
fn mss_of(f: &[u8]) -> Option<u16> {
    crate::wire::tcp_options::mss(&f[TCP..])
}

fn lab_with(mode: SynProxyMode, capacity: u32, fill: u8) -> Lab {
    let lab = Lab::with(1, capacity, SessionKeyMode::SourceIp, PORT_RANGE);
    let mut p = policy();
    p.services.services[0].syn_proxy = mode;
    p.syn_proxy_fill_percent = fill;
    lab.policy.publish(p);
    lab
}

/// A segment from the terminal to the VIP.
fn from_ue(sport: u16, seq: u32, ack: u32, flags: TcpFlags, payload: &[u8]) -> Vec<u8> {
    tcp_frame(
        &spec(UE, sport, VIP, 80, UE_MAC, port_mac(ACC)),
        seq,
        ack,
        flags,
        65535,
        payload,
    )
    .unwrap()
}

/// A SYN announcing MSS `mss` (the option written in place of payload).
fn syn_with_mss(src: Ipv4Addr, sport: u16, seq: u32, mss: u16) -> Vec<u8> {
    let [hi, lo] = mss.to_be_bytes();
    let mut f = tcp_frame(
        &spec(src, sport, VIP, 80, UE_MAC, port_mac(ACC)),
        seq,
        0,
        TcpFlags::SYN,
        65535,
        &[2, 4, hi, lo],
    )
    .unwrap();
    f[TCP + 12] = 6 << 4;
    f[TCP + 16..TCP + 18].copy_from_slice(&[0, 0]);
    let c = l4_checksum(src, VIP, 6, &f[TCP..]);
    f[TCP + 16..TCP + 18].copy_from_slice(&c.to_be_bytes());
    f
}

/// A segment from `server` to the gateway port.
fn from_server(
    server: Ipv4Addr,
    gw_port: u16,
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    payload: &[u8],
) -> Vec<u8> {
    tcp_frame(
        &spec(server, 8080, GW, gw_port, server_mac(server), port_mac(SRV)),
        seq,
        ack,
        flags,
        65535,
        payload,
    )
    .unwrap()
}

/// Terminal SYN → cookie SYN-ACK; returns the cookie.
fn cookie_for(lab: &mut Lab, sport: u16, client_isn: u32) -> u32 {
    let (v, out) = lab.up(ACC, &syn_with_mss(UE, sport, client_isn, 1460));
    assert_eq!(v, Verdict::Forward(ACC));
    let o = decode(&out);
    assert_eq!((o.src, o.sport, o.dst, o.dport), (VIP, 80, UE, sport));
    assert_eq!(o.tcp_flags, 0x12, "SYN-ACK");
    assert_eq!(o.dst_mac, UE_MAC);
    assert_eq!(ack_of(&out), client_isn.wrapping_add(1));
    assert_eq!(mss_of(&out), Some(1460));
    seq_of(&out)
}

/// Cookie ACK → SYN to a server; returns (server, gateway port).
fn open(lab: &mut Lab, sport: u16, client_isn: u32, cookie: u32) -> (Ipv4Addr, u16) {
    let ack = from_ue(
        sport,
        client_isn.wrapping_add(1),
        cookie.wrapping_add(1),
        TcpFlags::ACK,
        &[],
    );
    let (v, out) = lab.up(ACC, &ack);
    assert_eq!(v, Verdict::Forward(SRV));
    let o = decode(&out);
    assert_eq!(o.src, GW);
    assert!(SERVERS.contains(&o.dst));
    assert_eq!(o.dport, 8080);
    assert_eq!(o.tcp_flags, 0x02, "SYN to the server");
    assert_eq!(seq_of(&out), client_isn, "the terminal's ISN");
    assert_eq!(mss_of(&out), Some(1460), "MSS from the cookie");
    assert_eq!(out.len(), 14 + 20 + 24, "MSS is the only option");
    (o.dst, o.sport)
}

/// Server SYN-ACK → the ACK that ends the server handshake.
fn splice_with(lab: &mut Lab, server: Ipv4Addr, gw_port: u16, client_isn: u32, server_isn: u32) {
    let sa = from_server(
        server,
        gw_port,
        server_isn,
        client_isn.wrapping_add(1),
        TcpFlags::SYN | TcpFlags::ACK,
        &[],
    );
    let (v, out) = lab.up(SRV, &sa);
    assert_eq!(
        v,
        Verdict::Forward(SRV),
        "answered to the server, not passed on"
    );
    let o = decode(&out);
    assert_eq!(
        (o.src, o.sport, o.dst, o.dport),
        (GW, gw_port, server, 8080)
    );
    assert_eq!(o.tcp_flags, 0x10, "ACK");
    assert_eq!(seq_of(&out), client_isn.wrapping_add(1));
    assert_eq!(ack_of(&out), server_isn.wrapping_add(1));
}

#[test]
fn proxied_connection_from_syn_to_spliced_data() {
    let mut lab = lab_with(SynProxyMode::Always, 64, 80);
    let cookie = cookie_for(&mut lab, 40000, 1000);
    assert_eq!(lab.live(), 0, "a SYN makes no state");
    let (server, gw_port) = open(&mut lab, 40000, 1000, cookie);
    assert_eq!(lab.live(), 1);

    // Data before the server answered: dropped, the terminal retransmits.
    let early = from_ue(
        40000,
        1001,
        cookie.wrapping_add(1),
        TcpFlags::ACK | TcpFlags::PSH,
        b"GET /",
    );
    assert_eq!(
        lab.up(ACC, &early).0,
        Verdict::Drop(DropReason::SynProxyPending)
    );

    let server_isn = 0xfff0_0000;
    splice_with(&mut lab, server, gw_port, 1000, server_isn);
    let c = lab.workers[0].counters();
    assert_eq!(
        (
            c.syn_cookies_sent.get(),
            c.syn_cookies_valid.get(),
            c.syn_proxy_opened.get()
        ),
        (1, 1, 1)
    );

    // The retransmitted request: its ack moves into the server's space.
    let (v, out) = lab.up(ACC, &early);
    assert_eq!(v, Verdict::Forward(SRV));
    let o = decode(&out);
    assert_eq!((o.src, o.sport, o.dst), (GW, gw_port, server));
    assert_eq!(seq_of(&out), 1001);
    assert_eq!(ack_of(&out), server_isn.wrapping_add(1));
    assert_eq!(payload_of(&out), b"GET /");

    // The answer: its seq moves into the cookie's space (wrapping past 0).
    let reply = from_server(
        server,
        gw_port,
        server_isn.wrapping_add(1),
        1006,
        TcpFlags::ACK,
        b"HTTP/1.1 200",
    );
    let (v, out) = lab.up(SRV, &reply);
    assert_eq!(v, Verdict::Forward(ACC));
    let o = decode(&out);
    assert_eq!((o.src, o.sport, o.dst, o.dport), (VIP, 80, UE, 40000));
    assert_eq!(seq_of(&out), cookie.wrapping_add(1));
    assert_eq!(ack_of(&out), 1006);
    assert_eq!(payload_of(&out), b"HTTP/1.1 200");
}

#[test]
fn a_flood_of_syns_takes_no_session_and_no_port() {
    let mut lab = lab_with(SynProxyMode::Always, 64, 80);
    for i in 0..2000u32 {
        let src = Ipv4Addr::new(10, 8, (i >> 8) as u8, i as u8);
        let (v, out) = lab.up(ACC, &syn(src, 1024 + i as u16, VIP, 80));
        assert_eq!(v, Verdict::Forward(ACC));
        assert_eq!(decode(&out).tcp_flags, 0x12);
        assert_eq!(mss_of(&out), Some(536), "no MSS announced: the smallest");
    }
    assert_eq!(lab.live(), 0);
    let pool = lab.workers[0].port_allocator().stats(0).unwrap();
    assert_eq!(pool.in_use, 0);
    assert_eq!(lab.workers[0].counters().syn_cookies_sent.get(), 2000);
}

#[test]
fn forged_wrong_and_old_cookies_are_refused() {
    let mut lab = lab_with(SynProxyMode::Always, 64, 80);
    let cookie = cookie_for(&mut lab, 40001, 5000);
    // Forged: any other ack, another port, another ISN.
    for (sport, seq, ack) in [
        (40001, 5001, cookie.wrapping_add(2)),
        (40001, 5001, cookie ^ 0x8000_0000),
        (40002, 5001, cookie.wrapping_add(1)),
        (40001, 5002, cookie.wrapping_add(1)),
    ] {
        let v = lab.up(ACC, &from_ue(sport, seq, ack, TcpFlags::ACK, &[])).0;
        assert_eq!(v, Verdict::Drop(DropReason::SynCookieInvalid));
    }
    assert_eq!(lab.drops(DropReason::SynCookieInvalid), 4);
    assert_eq!(lab.live(), 0);
    // Too old: two key epochs later.
    lab.now += 2 * EPOCH_MS;
    let late = from_ue(40001, 5001, cookie.wrapping_add(1), TcpFlags::ACK, &[]);
    assert_eq!(
        lab.up(ACC, &late).0,
        Verdict::Drop(DropReason::SynCookieInvalid)
    );
    assert_eq!(lab.live(), 0);
    assert_eq!(lab.workers[0].counters().syn_cookies_valid.get(), 0);
}

#[test]
fn a_cookie_from_the_previous_epoch_still_opens() {
    let mut lab = lab_with(SynProxyMode::Always, 64, 80);
    let cookie = cookie_for(&mut lab, 40003, 77);
    lab.now += EPOCH_MS;
    open(&mut lab, 40003, 77, cookie);
}

#[test]
fn auto_mode_proxies_from_the_fill_level_and_off_never() {
    let mut lab = lab_with(SynProxyMode::Auto, 10, 50);
    for i in 0..5u16 {
        let (v, out) = lab.up(ACC, &syn(UE, 41000 + i, VIP, 80));
        assert_eq!(v, Verdict::Forward(SRV), "below the fill level: direct");
        assert_eq!(decode(&out).tcp_flags, 0x02);
    }
    let (v, out) = lab.up(ACC, &syn(UE, 41005, VIP, 80));
    assert_eq!(v, Verdict::Forward(ACC), "at 50 %: cookie");
    assert_eq!(decode(&out).tcp_flags, 0x12);
    assert_eq!(lab.live(), 5);
    // A stray ACK is a bad cookie while the proxy is active ...
    let stray = from_ue(41006, 1, 1, TcpFlags::ACK, &[]);
    assert_eq!(
        lab.up(ACC, &stray).0,
        Verdict::Drop(DropReason::SynCookieInvalid)
    );

    // ... and stays what it was with the proxy off.
    let mut lab = lab_with(SynProxyMode::Off, 10, 50);
    for i in 0..6u16 {
        assert_eq!(
            lab.up(ACC, &syn(UE, 41000 + i, VIP, 80)).0,
            Verdict::Forward(SRV)
        );
    }
    assert_eq!(lab.up(ACC, &stray).0, Verdict::Drop(DropReason::NotSyn));
}

#[test]
fn auto_mode_watches_the_port_pool_too() {
    let mut lab = Lab::with(1, 1024, SessionKeyMode::SourceIp, (2000, 2009));
    let mut p = policy();
    p.services.services[0].syn_proxy = SynProxyMode::Auto;
    p.syn_proxy_fill_percent = 80;
    lab.policy.publish(p);
    for i in 0..8u16 {
        assert_eq!(
            lab.up(ACC, &syn(UE, 42000 + i, VIP, 80)).0,
            Verdict::Forward(SRV)
        );
    }
    assert_eq!(
        lab.up(ACC, &syn(UE, 42008, VIP, 80)).0,
        Verdict::Forward(ACC)
    );
}

#[test]
fn a_refusing_server_resets_the_terminal_at_its_rcv_nxt() {
    let mut lab = lab_with(SynProxyMode::Always, 64, 80);
    let cookie = cookie_for(&mut lab, 40004, 9000);
    let (server, gw_port) = open(&mut lab, 40004, 9000, cookie);
    let rst = from_server(server, gw_port, 0, 9001, TcpFlags::RST | TcpFlags::ACK, &[]);
    let (v, out) = lab.up(SRV, &rst);
    assert_eq!(v, Verdict::Forward(ACC));
    let o = decode(&out);
    assert_eq!((o.src, o.dst, o.dport), (VIP, UE, 40004));
    assert_eq!(o.tcp_flags & 0x04, 0x04);
    assert_eq!(seq_of(&out), cookie.wrapping_add(1));
}

#[test]
fn a_repeated_syn_ack_is_acked_again_and_others_wait() {
    let mut lab = lab_with(SynProxyMode::Always, 64, 80);
    let cookie = cookie_for(&mut lab, 40005, 1);
    let (server, gw_port) = open(&mut lab, 40005, 1, cookie);
    // Before its SYN-ACK, a stray segment from the server is held off.
    let stray = from_server(server, gw_port, 5, 2, TcpFlags::ACK, b"x");
    assert_eq!(
        lab.up(SRV, &stray).0,
        Verdict::Drop(DropReason::SynProxyPending)
    );
    splice_with(&mut lab, server, gw_port, 1, 123);
    splice_with(&mut lab, server, gw_port, 1, 123);
    assert_eq!(lab.workers[0].counters().syn_proxy_opened.get(), 1);
}

#[test]
fn a_new_syn_on_a_closed_proxied_tuple_ends_it_and_gets_a_new_cookie() {
    let mut lab = lab_with(SynProxyMode::Always, 64, 80);
    let cookie = cookie_for(&mut lab, 40006, 10);
    let (server, gw_port) = open(&mut lab, 40006, 10, cookie);
    splice_with(&mut lab, server, gw_port, 10, 500);
    let rst = from_ue(
        40006,
        11,
        cookie.wrapping_add(1),
        TcpFlags::RST | TcpFlags::ACK,
        &[],
    );
    let (v, out) = lab.up(ACC, &rst);
    assert_eq!(v, Verdict::Forward(SRV));
    assert_eq!(ack_of(&out), 501);
    // Same 5-tuple, new connection: the closed user session ends (its
    // record is written) and the new SYN is a new connection like any
    // other: with the proxy on, it gets a fresh cookie SYN-ACK.
    let records_before = lab.accounting().len();
    let (v, out) = lab.up(ACC, &from_ue(40006, 99, 0, TcpFlags::SYN, &[]));
    assert_eq!(v, Verdict::Forward(ACC));
    assert_eq!(decode(&out).tcp_flags, 0x12);
    assert_eq!(lab.accounting().len(), records_before + 1, "old one ended");
    assert_eq!(lab.live(), 0, "no state until the cookie comes back");
}

#[test]
fn a_moved_session_opens_proxied_connections_on_the_new_gateway() {
    let mut lab = Lab::new(2);
    let mut p = policy();
    p.services.services[0].syn_proxy = SynProxyMode::Always;
    lab.policy.publish(p);
    let sid = crate::tier1::session_id(SessionKeyMode::SourceIp, UE, None, None).unwrap();
    let old = lab.owner_of(UE);
    let new = 1 - old;
    // A connection proxied and spliced on the old gateway.
    let (_, out, at) = lab.run(0, ACC, &syn_with_mss(UE, 45000, 10, 1460));
    assert_eq!(at, old);
    let c_old = seq_of(&out);
    let (_, out, _) = lab.run(
        0,
        ACC,
        &from_ue(45000, 11, c_old.wrapping_add(1), TcpFlags::ACK, &[]),
    );
    let o = decode(&out);
    let sa = from_server(o.dst, o.sport, 900, 11, TcpFlags::SYN | TcpFlags::ACK, &[]);
    assert_eq!(lab.run(0, SRV, &sa).2, old);

    let moved = lab
        .steering
        .current()
        .with_pins(&[(sid, Some(GatewayId(new as u32)))])
        .with_draining(&[(sid, Some(GatewayId(old as u32)))]);
    lab.steering.publish(moved);

    // The old connection keeps running, spliced, on the old gateway.
    let data = from_ue(45000, 11, c_old.wrapping_add(1), TcpFlags::ACK, b"x");
    let (v, out, at) = lab.run(new, ACC, &data);
    assert_eq!((v, at), (Verdict::Forward(SRV), old));
    assert_eq!(ack_of(&out), 901);
    // A new one is answered and opened by the new gateway.
    let (v, out, at) = lab.run(old, ACC, &syn_with_mss(UE, 45001, 20, 1460));
    assert_eq!((v, at), (Verdict::Forward(ACC), new));
    let c_new = seq_of(&out);
    let ack = from_ue(45001, 21, c_new.wrapping_add(1), TcpFlags::ACK, &[]);
    let (v, out, at) = lab.run(old, ACC, &ack);
    assert_eq!(
        (v, at),
        (Verdict::Forward(SRV), new),
        "not handed to the old gateway"
    );
    assert_eq!(decode(&out).tcp_flags, 0x02);
    // A stray ACK of the draining session still goes to the old gateway.
    let stray = from_ue(45002, 1, 1, TcpFlags::ACK, &[]);
    let (v, _, at) = lab.run(new, ACC, &stray);
    assert_eq!((v, at), (Verdict::Drop(DropReason::SynCookieInvalid), old));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Any segment of a spliced connection, either way, comes out with
    /// exactly the translated seq/ack, its payload intact and checksums
    /// right.
    #[test]
    fn any_segment_is_spliced_exactly(
        client_isn in any::<u32>(),
        server_isn in any::<u32>(),
        up_off in any::<u32>(),
        down_off in any::<u32>(),
        payload in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut lab = lab_with(SynProxyMode::Always, 64, 80);
        let cookie = cookie_for(&mut lab, 40010, client_isn);
        let (server, gw_port) = open(&mut lab, 40010, client_isn, cookie);
        splice_with(&mut lab, server, gw_port, client_isn, server_isn);

        let seq = client_isn.wrapping_add(1).wrapping_add(up_off);
        let ack = cookie.wrapping_add(1).wrapping_add(down_off);
        let up = from_ue(40010, seq, ack, TcpFlags::ACK | TcpFlags::PSH, &payload);
        let (v, out) = lab.up(ACC, &up);
        prop_assert_eq!(v, Verdict::Forward(SRV));
        decode(&out);
        prop_assert_eq!(seq_of(&out), seq);
        prop_assert_eq!(ack_of(&out), server_isn.wrapping_add(1).wrapping_add(down_off));
        prop_assert_eq!(payload_of(&out), &payload[..]);

        let sseq = server_isn.wrapping_add(1).wrapping_add(down_off);
        let down = from_server(server, gw_port, sseq, seq, TcpFlags::ACK, &payload);
        let (v, out) = lab.up(SRV, &down);
        prop_assert_eq!(v, Verdict::Forward(ACC));
        decode(&out);
        prop_assert_eq!(seq_of(&out), ack, "back in the terminal's view");
        prop_assert_eq!(ack_of(&out), seq);
        prop_assert_eq!(payload_of(&out), &payload[..]);
    }

    /// The splice helpers alone: shifting and shifting back restores every
    /// byte, and each result's checksum is the from-scratch one.
    #[test]
    fn splice_shifts_round_trip_with_exact_checksums(
        seq in any::<u32>(),
        ack in any::<u32>(),
        delta in any::<u32>(),
        payload in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let f = tcp_frame(&spec(UE, 1, VIP, 2, UE_MAC, UE_MAC), seq, ack, TcpFlags::ACK, 100, &payload).unwrap();
        let mut g = f.clone();
        splice::to_client(&mut g[TCP..], delta);
        decode(&g);
        prop_assert_eq!(seq_of(&g), seq.wrapping_add(delta));
        splice::to_server(&mut g[TCP..], delta);
        decode(&g);
        prop_assert_eq!(ack_of(&g), ack.wrapping_sub(delta));
        splice::to_client(&mut g[TCP..], delta.wrapping_neg());
        splice::to_server(&mut g[TCP..], delta.wrapping_neg());
        prop_assert_eq!(&g, &f);
    }
}

#[test]
fn proxy_segments_honour_the_mss_clamp_and_the_dscp() {
    let mut topo = topology();
    topo.set_mss_clamp(ACC, Some(1400));
    let mut lab = Lab::with_topology(1, 64, SessionKeyMode::SourceIp, PORT_RANGE, topo);
    let mut p = policy();
    p.services.services[0].syn_proxy = SynProxyMode::Always;
    p.services.services[0].dscp = Some(26);
    lab.policy.publish(p);

    // The cookie SYN-ACK to the terminal announces at most the clamp.
    let (v, out) = lab.up(ACC, &syn_with_mss(UE, 40000, 1000, 1460));
    assert_eq!(v, Verdict::Forward(ACC));
    decode(&out);
    assert_eq!(mss_of(&out), Some(1400), "cookie SYN-ACK clamped");
    let cookie = seq_of(&out);

    // The SYN the proxy writes to the server too, with the service's DSCP.
    let ack = from_ue(40000, 1001, cookie.wrapping_add(1), TcpFlags::ACK, &[]);
    let (v, out) = lab.up(ACC, &ack);
    assert_eq!(v, Verdict::Forward(SRV));
    let o = decode(&out);
    assert_eq!(o.tcp_flags, 0x02, "SYN to the server");
    assert_eq!(mss_of(&out), Some(1400), "proxy SYN clamped");
    assert_eq!(out[15] >> 2, 26, "proxy SYN marked");
    assert_eq!(lab.workers[0].counters().mss_clamped.get(), 2);
}
