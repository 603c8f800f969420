//! Bitrate limits per user-session type through the whole pipeline
//! (issue 15): a terminal's user sessions of a limited type share that
//! type's buckets (per session ID), other types of the same terminal are
//! not held by them, the subscriber's own limit still applies on top (the
//! stricter governs), and a packet over the type's limit is dropped or
//! re-marked like one over the subscriber's.

use super::*;
use crate::policy::{ClassRule, Limits, ServiceSet, UserSessionType};
use crate::shaping::{Bitrate, Rate};

const UE2: Ipv4Addr = Ipv4Addr::new(10, 8, 0, 77);
/// 1000 bytes of payload: 1028 bytes of IP packet.
const PAYLOAD: [u8; 1000] = [7u8; 1000];
const PKT: u64 = 1028;
/// 8 Mbit/s = 1000 bytes a millisecond.
const BPS: u64 = 8_000_000;
const BURST: u64 = 20_000;
/// The DSCP the `video` type is classified by.
const AF41: u8 = 34;
const LOW: u8 = 8;

fn rate(bits_per_s: u64) -> Rate {
    Rate::from_bits_per_s(bits_per_s, BURST)
}

/// The test policy with a type `video` (type 1: UDP with DSCP AF41)
/// limited to `video` up and down, and UE's subscriber limit `sub` up and
/// down (`None`: no limits at all).
fn policy_with(video: u64, sub: Option<u64>) -> Policy {
    let mut p = policy();
    p.classifier.types.push(UserSessionType {
        name: "video".into(),
        bitrate: Some(Bitrate {
            up: Some(rate(video)),
            down: Some(rate(video)),
        }),
        ..p.classifier.types[0].clone()
    });
    p.classifier.rules.push(ClassRule {
        proto: Some(17),
        dst_ports: None,
        dscp: Some(AF41),
        terminal: None,
        dst: None,
        type_index: 1,
    });
    if let Some(bps) = sub {
        p.subscribers.set_prefix(
            UE,
            32,
            Entitlement {
                services: ServiceSet::All,
                external: true,
                limits: Limits {
                    bitrate: Some(Bitrate {
                        up: Some(rate(bps)),
                        down: Some(rate(bps)),
                    }),
                    ..Limits::NONE
                },
            },
        );
    }
    p
}

/// A frame from `src:sport` to the DNS service with DSCP `dscp`.
fn up_frame(src: Ipv4Addr, sport: u16, dscp: u8) -> Vec<u8> {
    let mut f = udp(src, sport, DNS_VIP, 53, &PAYLOAD, (UE_MAC, port_mac(ACC)));
    f[15] = dscp << 2;
    f[24] = 0;
    f[25] = 0;
    let c = checksum(&f[14..34]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
    f
}

fn video(src: Ipv4Addr, sport: u16) -> (u16, Vec<u8>) {
    (ACC, up_frame(src, sport, AF41))
}

fn other(src: Ipv4Addr, sport: u16) -> (u16, Vec<u8>) {
    (ACC, up_frame(src, sport, 0))
}

/// Sends `per_ms` copies of each frame every millisecond for `ms`
/// milliseconds; returns the bytes forwarded per frame.
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

/// The most a bucket lets through over `ms` milliseconds of packets.
fn bound(bits_per_s: u64, ms: u64) -> u64 {
    BURST + bits_per_s / 8 * (ms - 1) / 1000
}

#[test]
fn a_type_limit_holds_that_type_per_terminal_and_no_other_type() {
    let mut lab = Lab::new(1);
    lab.policy.publish(policy_with(BPS, None));
    let ms = 1000;
    let got = greedy(
        &mut lab,
        &[
            video(UE, 5000),
            video(UE, 5001),
            other(UE, 5002),
            video(UE2, 5000),
        ],
        4,
        ms,
    );
    let max = bound(BPS, ms);
    // Both video user sessions of UE share one bucket, exactly.
    let ue_video = got[0] + got[1];
    assert!(
        ue_video <= max && ue_video + PKT > max,
        "{ue_video} of {max}"
    );
    assert!(got[1] >= PKT, "the second one is served too: {got:?}");
    assert_eq!(got[2], 4 * ms * PKT, "the other type is not limited");
    // Another terminal's video has its own bucket.
    assert!(
        got[3] <= max && got[3] + PKT > max,
        "UE2 {} of {max}",
        got[3]
    );
    let sent = 4 * ms * 3;
    assert_eq!(
        lab.drops(DropReason::BitrateLimited),
        sent - (ue_video + got[3]) / PKT
    );
}

#[test]
fn a_looser_subscriber_limit_still_holds_the_terminal_and_the_type_its_own() {
    let mut lab = Lab::new(1);
    lab.policy.publish(policy_with(BPS, Some(4 * BPS)));
    let ms = 1000;
    let got = greedy(&mut lab, &[video(UE, 5000), other(UE, 5002)], 8, ms);
    let type_max = bound(BPS, ms);
    assert!(got[0] <= type_max, "video {} of {type_max}", got[0]);
    assert!(
        got[0] + PKT > type_max,
        "video gets its type's rate: {} of {type_max}",
        got[0]
    );
    let all = got[0] + got[1];
    let sub_max = bound(4 * BPS, ms);
    assert!(
        all <= sub_max && all + 2 * PKT > sub_max,
        "the terminal gets its subscriber rate: {all} of {sub_max}"
    );
}

#[test]
fn a_stricter_subscriber_limit_governs_the_type() {
    let mut lab = Lab::new(1);
    lab.policy.publish(policy_with(4 * BPS, Some(BPS)));
    let ms = 1000;
    let got = greedy(&mut lab, &[video(UE, 5000)], 8, ms)[0];
    let max = bound(BPS, ms);
    assert!(got <= max && got + PKT > max, "{got} of {max}");
}

#[test]
fn downlink_of_a_limited_type_is_held_too() {
    let mut lab = Lab::new(1);
    lab.policy.publish(policy_with(BPS, None));
    let (v, out) = lab.up(ACC, &up_frame(UE, 5000, AF41));
    assert_eq!(v, Verdict::Forward(SRV));
    let gw_port = decode(&out).sport;
    let down = udp(
        SERVERS[0],
        5353,
        GW,
        gw_port,
        &PAYLOAD,
        (server_mac(SERVERS[0]), port_mac(SRV)),
    );
    let ms = 1000;
    let got = greedy(&mut lab, &[(SRV, down)], 4, ms)[0];
    let max = bound(BPS, ms);
    assert!(got <= max && got + PKT > max, "down {got} of {max}");
}

#[test]
fn over_its_type_limit_a_packet_is_re_marked_where_the_type_says() {
    let mut lab = Lab::new(1);
    let mut p = policy_with(BPS, None);
    p.classifier.types[1].over_limit_dscp = Some(LOW);
    lab.policy.publish(p);
    let frame = up_frame(UE, 5000, AF41);
    let (mut own, mut low) = (0u64, 0u64);
    let ms = 500;
    for _ in 0..ms {
        for _ in 0..4 {
            match lab.up(ACC, &frame) {
                (Verdict::Forward(_), out) if out[15] >> 2 == LOW => low += 1,
                (Verdict::Forward(_), _) => own += 1,
                (v, _) => panic!("{v:?}"),
            }
        }
        lab.now += 1;
    }
    let max = bound(BPS, ms) / PKT;
    assert!(own <= max && own + 1 >= max, "{own} of {max}");
    assert_eq!(own + low, 4 * ms);
    assert_eq!(lab.workers[0].counters().bitrate_remarked.get(), low);
    assert_eq!(lab.drops(DropReason::BitrateLimited), 0);
}

#[test]
fn the_entry_goes_once_the_type_buckets_refill() {
    let mut lab = Lab::new(1);
    lab.policy.publish(policy_with(BPS, None));
    greedy(&mut lab, &[video(UE, 5000)], 8, 100);
    assert!(lab.drops(DropReason::BitrateLimited) > 0);
    lab.tick(200_000);
    assert_eq!(lab.live(), 0);
    assert!(
        lab.workers[0].gw.admission.is_empty(),
        "refilled, forgotten"
    );
    let got = greedy(&mut lab, &[video(UE, 5001)], 40, 1)[0];
    assert_eq!(got, BURST / PKT * PKT, "a full burst after the pause");
}
