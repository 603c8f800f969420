//! Per-subscriber bitrate limits through the whole pipeline: a greedy
//! sender gets exactly the rate (never more than rate × time + burst, and
//! not a packet less), up and down separately, shared by all of one
//! terminal's user sessions, other subscribers unaffected, and a reload
//! changes the rate of live user sessions.

use super::*;
use crate::policy::{Limits, ServiceSet};
use crate::shaping::{Bitrate, Rate};

const UE2: Ipv4Addr = Ipv4Addr::new(10, 8, 0, 77);
/// 1000 bytes of payload: 1028 bytes of IP packet.
const PAYLOAD: [u8; 1000] = [7u8; 1000];
const PKT: u64 = 1028;
/// 8 Mbit/s = 1 000 000 bytes a second = 1000 bytes a millisecond.
const BPS: u64 = 8_000_000;
const BURST: u64 = 20_000;

fn rate(bits_per_s: u64) -> Rate {
    Rate::from_bits_per_s(bits_per_s, BURST)
}

fn limited(up: Option<Rate>, down: Option<Rate>) -> Policy {
    let mut p = policy();
    p.subscribers.set_prefix(
        UE,
        32,
        Entitlement {
            services: ServiceSet::All,
            external: true,
            limits: Limits {
                bitrate: Some(Bitrate { up, down }),
                ..Limits::NONE
            },
        },
    );
    p
}

fn up_frame(src: Ipv4Addr, sport: u16) -> Vec<u8> {
    udp(src, sport, DNS_VIP, 53, &PAYLOAD, (UE_MAC, port_mac(ACC)))
}

fn down_frame(gw_port: u16) -> Vec<u8> {
    udp(
        SERVERS[0],
        5353,
        GW,
        gw_port,
        &PAYLOAD,
        (server_mac(SERVERS[0]), port_mac(SRV)),
    )
}

/// Sends `per_ms` copies of each frame every millisecond for `ms`
/// milliseconds; returns the bytes delivered per frame.
fn greedy(lab: &mut Lab, frames: &[(u16, Vec<u8>)], per_ms: usize, ms: u64) -> Vec<u64> {
    let mut got = vec![0u64; frames.len()];
    for _ in 0..ms {
        for _ in 0..per_ms {
            for (i, (port, f)) in frames.iter().enumerate() {
                if let (Verdict::Forward(_), _, _) = lab.run(0, *port, f) {
                    got[i] += PKT;
                }
            }
        }
        lab.now += 1;
    }
    got
}

/// The most a bucket lets through over `ms` milliseconds of packets
/// (the first one finds it full).
fn bound(bits_per_s: u64, ms: u64) -> u64 {
    BURST + bits_per_s / 8 * (ms - 1) / 1000
}

/// Opens the user session of `sport` and returns its gateway port.
fn open(lab: &mut Lab, src: Ipv4Addr, sport: u16) -> u16 {
    let (v, out) = lab.up(ACC, &up_frame(src, sport));
    assert_eq!(v, Verdict::Forward(SRV));
    decode(&out).sport
}

#[test]
fn a_greedy_uplink_gets_the_rate_and_no_more_others_unaffected() {
    let mut lab = Lab::new(1);
    lab.policy.publish(limited(Some(rate(BPS)), None));
    let ms = 2000;
    // Four packets a millisecond: four times the rate.
    let got = greedy(
        &mut lab,
        &[(ACC, up_frame(UE, 5000)), (ACC, up_frame(UE2, 5000))],
        4,
        ms,
    );
    let max = bound(BPS, ms);
    assert!(got[0] <= max, "{} delivered, bound {max}", got[0]);
    assert!(
        got[0] + PKT > max,
        "{} delivered, a packet short of {max}",
        got[0]
    );
    assert_eq!(got[1], 4 * ms * PKT, "the other subscriber is not limited");
    let sent = 4 * ms;
    assert_eq!(lab.drops(DropReason::BitrateLimited), sent - got[0] / PKT);
}

#[test]
fn a_greedy_downlink_gets_the_rate_and_the_uplink_its_own() {
    let mut lab = Lab::new(1);
    let down_bps = 2 * BPS;
    lab.policy
        .publish(limited(Some(rate(BPS)), Some(rate(down_bps))));
    let gw_port = open(&mut lab, UE, 5000);
    let ms = 1500;
    let got = greedy(
        &mut lab,
        &[(SRV, down_frame(gw_port)), (ACC, up_frame(UE, 5000))],
        4,
        ms,
    );
    let max = bound(down_bps, ms);
    assert!(
        got[0] <= max && got[0] + PKT > max,
        "down {} of {max}",
        got[0]
    );
    // The opening packet took one packet's tokens from the up bucket.
    let max = bound(BPS, ms) - PKT;
    assert!(
        got[1] <= max && got[1] + PKT > max,
        "up {} of {max}",
        got[1]
    );
}

#[test]
fn all_user_sessions_of_a_terminal_share_its_buckets() {
    let mut lab = Lab::new(1);
    lab.policy.publish(limited(Some(rate(BPS)), None));
    let ms = 1000;
    let got = greedy(
        &mut lab,
        &[(ACC, up_frame(UE, 5000)), (ACC, up_frame(UE, 5001))],
        2,
        ms,
    );
    let max = bound(BPS, ms);
    let total = got[0] + got[1];
    assert!(total <= max && total + PKT > max, "{total} of {max}");
    assert!(got[1] >= PKT, "the second user session is served: {got:?}");
}

#[test]
fn a_reload_changes_the_rate_of_live_user_sessions() {
    let mut lab = Lab::new(1);
    lab.policy.publish(limited(Some(rate(BPS)), None));
    let frames = [(ACC, up_frame(UE, 5000))];
    // Empty the burst first, then one second at each rate.
    greedy(&mut lab, &frames, 8, 100);
    let slow = greedy(&mut lab, &frames, 8, 1000)[0];
    lab.policy.publish(limited(Some(rate(4 * BPS)), None));
    let fast = greedy(&mut lab, &frames, 8, 1000)[0];
    let per_s = BPS / 8;
    assert!(slow.abs_diff(per_s) <= PKT, "before: {slow}");
    assert!(fast.abs_diff(4 * per_s) <= PKT, "after: {fast}");
    // Lifting the limit lets everything through.
    lab.policy.publish(policy());
    assert_eq!(greedy(&mut lab, &frames, 8, 10)[0], 80 * PKT);
}

#[test]
fn the_meter_goes_with_the_last_user_session_once_refilled() {
    let mut lab = Lab::new(1);
    lab.policy.publish(limited(Some(rate(BPS)), None));
    greedy(&mut lab, &[(ACC, up_frame(UE, 5000))], 8, 100);
    assert!(lab.drops(DropReason::BitrateLimited) > 0);
    lab.tick(200_000);
    assert_eq!(lab.live(), 0);
    assert!(
        lab.workers[0].gw.admission.is_empty(),
        "refilled and forgotten"
    );
    let got = greedy(&mut lab, &[(ACC, up_frame(UE, 5001))], 40, 1)[0];
    assert_eq!(got, BURST / PKT * PKT, "a full burst after the pause");
}

#[test]
fn replies_from_anyone_but_the_server_spend_no_tokens() {
    let mut lab = Lab::new(1);
    lab.policy.publish(limited(None, Some(rate(BPS))));
    let gw_port = open(&mut lab, UE, 5000);
    let spoofed = udp(
        SERVERS[1],
        5353,
        GW,
        gw_port,
        &PAYLOAD,
        (server_mac(SERVERS[1]), port_mac(SRV)),
    );
    for _ in 0..100 {
        let (v, _, _) = lab.run(0, SRV, &spoofed);
        assert_eq!(v, Verdict::Drop(DropReason::ReplyMismatch));
    }
    // The server still finds the whole burst.
    let got = greedy(&mut lab, &[(SRV, down_frame(gw_port))], 40, 1)[0];
    assert_eq!(got, BURST / PKT * PKT);
    assert_eq!(lab.drops(DropReason::BitrateLimited), 40 - BURST / PKT);
}
