//! Usage quotas in the pipeline: a subscriber with a quota reports what
//! its user sessions carry (cumulative totals, at least every
//! `USAGE_REPORT_MS`, and once at the end); the control plane's verdict
//! in the policy snapshot blocks new user sessions (RST, ICMP, a record
//! with reason `quota_exhausted`, also for segments of user sessions it
//! ended) or throttles the subscriber's meters.

use super::*;
use crate::event::{EndReason, UsageReport};
use crate::policy::{Limits, ServiceSet};
use crate::shaping::{Bitrate, OnExhausted, QuotaPlan, QuotaVerdicts, Rate, MAX_THRESHOLDS};

const UE2: Ipv4Addr = Ipv4Addr::new(10, 8, 0, 77);
const PAYLOAD: [u8; 1000] = [7u8; 1000];
/// 1000 bytes of UDP payload: 1028 bytes of IP packet.
const PKT: u64 = 1028;

fn plan(on_exhausted: OnExhausted) -> QuotaPlan {
    QuotaPlan {
        bytes: Some(1_000_000),
        online_s: None,
        period_s: 0,
        thresholds: [0; MAX_THRESHOLDS],
        n_thresholds: 0,
        on_exhausted,
    }
}

/// UE has a quota; UE2 (the default entry) has none.
fn with_quota(on_exhausted: OnExhausted, verdicts: QuotaVerdicts) -> Policy {
    let mut p = policy();
    p.subscribers.set_prefix(
        UE,
        32,
        Entitlement {
            services: ServiceSet::All,
            external: true,
            limits: Limits {
                quota: Some(plan(on_exhausted)),
                ..Limits::NONE
            },
        },
    );
    p.quota = verdicts;
    p
}

fn sid(ip: Ipv4Addr) -> u64 {
    u64::from(u32::from(ip))
}

fn up_frame(src: Ipv4Addr, sport: u16) -> Vec<u8> {
    udp(src, sport, DNS_VIP, 53, &PAYLOAD, (UE_MAC, port_mac(ACC)))
}

fn reports(lab: &Lab) -> Vec<UsageReport> {
    lab.events
        .iter()
        .filter_map(|e| match e {
            Event::Usage(u) => Some(*u),
            _ => None,
        })
        .collect()
}

#[test]
fn a_quota_subscriber_reports_totals_while_it_lives_and_at_the_end() {
    let mut lab = Lab::new(1);
    lab.policy
        .publish(with_quota(OnExhausted::Block, QuotaVerdicts::default()));
    for _ in 0..3 {
        assert_eq!(lab.up(ACC, &up_frame(UE, 5000)).0, Verdict::Forward(SRV));
        assert_eq!(lab.up(ACC, &up_frame(UE2, 5000)).0, Verdict::Forward(SRV));
    }
    assert!(reports(&lab).is_empty(), "nothing before the first report");
    lab.tick(super::super::USAGE_REPORT_MS + 100);
    let r = reports(&lab);
    assert_eq!(
        r.len(),
        1,
        "only the quota subscriber's user session: {r:?}"
    );
    assert_eq!(
        (r[0].session_id, r[0].bytes_up, r[0].ended),
        (sid(UE), 3 * PKT, false)
    );
    // Totals, not differences: the next report repeats what was counted.
    lab.events.clear();
    assert_eq!(lab.up(ACC, &up_frame(UE, 5000)).0, Verdict::Forward(SRV));
    lab.tick(super::super::USAGE_REPORT_MS + 100);
    let r = reports(&lab);
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0].bytes_up, 4 * PKT);
    // Idle long enough to expire (udp 30 s): the last report says so.
    lab.events.clear();
    lab.tick(60_000);
    assert_eq!(lab.live(), 0);
    let last = *reports(&lab).last().unwrap();
    assert_eq!((last.bytes_up, last.ended), (4 * PKT, true));
}

#[test]
fn blocked_refuses_new_user_sessions_and_resets_stray_segments() {
    let mut lab = Lab::new(1);
    lab.policy.publish(with_quota(
        OnExhausted::Block,
        QuotaVerdicts::new([sid(UE)], []),
    ));
    let (v, out) = lab.up(ACC, &syn(UE, 41000, VIP, 80));
    assert_eq!(v, Verdict::Forward(ACC), "the RST goes back");
    let o = decode(&out);
    assert_eq!((o.src, o.dst, o.dport), (VIP, UE, 41000));
    assert_eq!(o.tcp_flags & 0x04, 0x04, "RST");
    let acc = lab.accounting();
    assert_eq!(acc.len(), 1);
    assert_eq!(acc[0].end_reason, EndReason::QuotaExhausted);
    // UDP: ICMP administratively prohibited.
    let (v, out) = lab.up(ACC, &up_frame(UE, 5000));
    assert_eq!(v, Verdict::Forward(ACC));
    assert_eq!(decode(&out).proto, 1, "ICMP");
    // A segment of a connection the quota ended: RST, no record.
    let ack = tcp(
        UE,
        41001,
        VIP,
        80,
        TcpFlags::ACK,
        b"more",
        (UE_MAC, port_mac(ACC)),
    );
    let (v, out) = lab.up(ACC, &ack);
    assert_eq!(v, Verdict::Forward(ACC));
    assert_eq!(decode(&out).tcp_flags & 0x04, 0x04, "RST");
    assert_eq!(lab.accounting().len(), 2, "no record for the stray segment");
    assert_eq!(lab.drops(DropReason::QuotaExhausted), 3);
    assert_eq!(lab.live(), 0);
    // Others go on; a stray segment of theirs is only dropped.
    assert_eq!(
        lab.up(ACC, &syn(UE2, 41000, VIP, 80)).0,
        Verdict::Forward(SRV)
    );
    let ack2 = tcp(
        UE2,
        41001,
        VIP,
        80,
        TcpFlags::ACK,
        b"",
        (UE_MAC, port_mac(ACC)),
    );
    assert_eq!(lab.up(ACC, &ack2).0, Verdict::Drop(DropReason::NotSyn));
    // The verdict lifted (a grant): served again.
    lab.policy
        .publish(with_quota(OnExhausted::Block, QuotaVerdicts::default()));
    assert_eq!(
        lab.up(ACC, &syn(UE, 41002, VIP, 80)).0,
        Verdict::Forward(SRV)
    );
}

#[test]
fn throttled_meters_take_the_throttle_rate_for_open_user_sessions() {
    let mut lab = Lab::new(1);
    let slow = Bitrate {
        up: Some(Rate::from_bits_per_s(8_000_000, 20_000)),
        down: None,
    };
    let throttle = OnExhausted::Throttle(slow);
    lab.policy
        .publish(with_quota(throttle, QuotaVerdicts::default()));
    let f = up_frame(UE, 5000);
    let send = |lab: &mut Lab, ms: u64| {
        let mut got = 0;
        for _ in 0..ms {
            for _ in 0..4 {
                if lab.up(ACC, &f).0 == Verdict::Forward(SRV) {
                    got += PKT;
                }
            }
            lab.now += 1;
        }
        got
    };
    assert_eq!(send(&mut lab, 100), 400 * PKT, "open: not limited");
    lab.policy.publish(with_quota(
        throttle,
        QuotaVerdicts::new([], [(sid(UE), slow)]),
    ));
    let got = send(&mut lab, 1000);
    // 1 MB/s over 1 s, plus the burst.
    assert!(
        got <= 1_000_000 + 20_000 && got + 2 * PKT >= 1_000_000,
        "{got}"
    );
    assert!(lab.drops(DropReason::BitrateLimited) > 0);
}

const C_ISN: u32 = SYN_ISN;
const S_ISN: u32 = 7_000_000;

/// A connection of UE from `port` after the handshake: the server and
/// the gateway port it sees.
fn connect(lab: &mut Lab, port: u16) -> (Ipv4Addr, u16) {
    let um = (UE_MAC, port_mac(ACC));
    let syn = tcp_seq(UE, port, VIP, 80, TcpFlags::SYN, C_ISN, 0, &[], um);
    let (v, out) = lab.up(ACC, &syn);
    assert_eq!(v, Verdict::Forward(SRV));
    let o = decode(&out);
    let sm = (server_mac(o.dst), port_mac(SRV));
    let syn_ack = tcp_seq(
        o.dst,
        8080,
        GW,
        o.sport,
        TcpFlags::SYN | TcpFlags::ACK,
        S_ISN,
        C_ISN + 1,
        &[],
        sm,
    );
    assert_eq!(lab.up(SRV, &syn_ack).0, Verdict::Forward(ACC));
    let ack = tcp_seq(
        UE,
        port,
        VIP,
        80,
        TcpFlags::ACK,
        C_ISN + 1,
        S_ISN + 1,
        &[],
        um,
    );
    assert_eq!(lab.up(ACC, &ack).0, Verdict::Forward(SRV));
    (o.dst, o.sport)
}

/// The TCP sequence number and flags of a frame.
fn seq_flags(f: &[u8]) -> (u32, u8) {
    let tcp = 14 + usize::from(f[14] & 0x0f) * 4;
    (
        u32::from_be_bytes([f[tcp + 4], f[tcp + 5], f[tcp + 6], f[tcp + 7]]),
        f[tcp + 13],
    )
}

fn end_for_quota(lab: &mut Lab) -> usize {
    let now = lab.now;
    let filter = crate::pipeline::inspect::Filter {
        session_id: Some(sid(UE)),
        ..Default::default()
    };
    lab.workers[0].end_user_sessions(filter, EndReason::QuotaExhausted, now, &mut lab.events)
}

#[test]
fn open_connections_of_a_blocked_subscriber_end_with_a_reset_to_each_side() {
    let mut lab = Lab::new(1);
    lab.policy
        .publish(with_quota(OnExhausted::Block, QuotaVerdicts::default()));
    let (server, gw_port) = connect(&mut lab, 40000);
    let (_, gw_port2) = connect(&mut lab, 40001);
    assert_eq!(lab.up(ACC, &up_frame(UE, 5000)).0, Verdict::Forward(SRV));
    lab.policy.publish(with_quota(
        OnExhausted::Block,
        QuotaVerdicts::new([sid(UE)], []),
    ));
    lab.events.clear();
    assert_eq!(end_for_quota(&mut lab), 3);
    assert_eq!(lab.live(), 2, "the UDP one removed, the connections marked");
    // A download goes on: its next server segment becomes a RST to the
    // terminal with the sequence number the terminal expects.
    let sm = (server_mac(server), port_mac(SRV));
    let data = tcp_seq(
        server,
        8080,
        GW,
        gw_port,
        TcpFlags::ACK,
        S_ISN + 1,
        C_ISN + 1,
        &[1; 500],
        sm,
    );
    let (v, out) = lab.up(SRV, &data);
    assert_eq!(v, Verdict::Forward(ACC));
    let o = decode(&out);
    assert_eq!((o.src, o.sport, o.dst, o.dport), (VIP, 80, UE, 40000));
    assert_eq!(
        seq_flags(&out),
        (S_ISN + 1, 0x04),
        "RST at the expected sequence"
    );
    assert_eq!(out.len(), 54, "no payload");
    // The server's next segment: a RST back to it, and the end.
    let (v, out) = lab.up(SRV, &data);
    assert_eq!(v, Verdict::Forward(SRV));
    let o = decode(&out);
    assert_eq!(
        (o.src, o.sport, o.dst, o.dport),
        (GW, gw_port, server, 8080)
    );
    assert_eq!(
        seq_flags(&out),
        (C_ISN + 1, 0x04),
        "RST at the server's ack"
    );
    assert_eq!(lab.live(), 1);
    // The other connection: the terminal speaks first and gets its RST.
    let um = (UE_MAC, port_mac(ACC));
    let req = tcp_seq(
        UE,
        40001,
        VIP,
        80,
        TcpFlags::ACK,
        C_ISN + 1,
        S_ISN + 1,
        b"GET",
        um,
    );
    let (v, out) = lab.up(ACC, &req);
    assert_eq!(v, Verdict::Forward(ACC));
    assert_eq!(seq_flags(&out), (S_ISN + 1, 0x04));
    // Nobody else speaks: gone after the closing timeout, with its record.
    lab.tick(60_000);
    assert_eq!(lab.live(), 0);
    let finals: Vec<_> = lab
        .accounting()
        .into_iter()
        .filter(|a| a.kind == crate::event::RecordKind::Final)
        .map(|a| (a.gateway_port, a.end_reason))
        .collect();
    assert_eq!(finals.len(), 3, "{finals:?}");
    assert!(
        finals.iter().all(|(_, r)| *r == EndReason::QuotaExhausted),
        "{finals:?}"
    );
    assert!(finals.iter().any(|(p, _)| *p == gw_port2));
    assert_eq!(lab.drops(DropReason::QuotaExhausted), 3);
}

#[test]
fn later_fragments_of_a_connection_its_quota_ended_do_not_pass() {
    let mut lab = Lab::new(1);
    lab.policy
        .publish(with_quota(OnExhausted::Block, QuotaVerdicts::default()));
    connect(&mut lab, 40000);
    // A data segment of 48 bytes in three pieces; the first one passes.
    let um = (UE_MAC, port_mac(ACC));
    let seg = tcp_seq(
        UE,
        40000,
        VIP,
        80,
        TcpFlags::ACK,
        C_ISN + 1,
        S_ISN + 1,
        &[7; 48],
        um,
    );
    let pieces = super::fragments::fragments(&seg, 24, 77);
    assert_eq!(pieces.len(), 3);
    assert_eq!(lab.up(ACC, &pieces[0]).0, Verdict::Forward(SRV));
    lab.policy.publish(with_quota(
        OnExhausted::Block,
        QuotaVerdicts::new([sid(UE)], []),
    ));
    assert_eq!(end_for_quota(&mut lab), 1);
    assert_eq!(lab.live(), 1, "the connection marked, not removed");
    // The rest of the datagram no longer follows it.
    for p in &pieces[1..] {
        assert_eq!(lab.up(ACC, p).0, Verdict::Drop(DropReason::FragmentNoFirst));
    }
}
