//! Bitrate limits that re-mark instead of drop (issue 15, item 1): a
//! packet of a user-session type with `over_limit_dscp`, over its session
//! ID's limit, is forwarded with that DSCP (ECN kept) and takes no tokens;
//! conforming packets keep their own marking; other types are still
//! dropped.

use super::*;
use crate::policy::{Limits, ServiceSet};
use crate::shaping::{Bitrate, Rate};

const PAYLOAD: [u8; 1000] = [7u8; 1000];
/// 8 Mbit/s: 1000 bytes a millisecond; 20 kB burst.
const BPS: u64 = 8_000_000;
const BURST: u64 = 20_000;
const LOW: u8 = 8; // CS1

fn policy_with(over_limit_dscp: Option<u8>) -> Policy {
    let mut p = policy();
    let r = Rate::from_bits_per_s(BPS, BURST);
    p.subscribers.set_prefix(
        UE,
        32,
        Entitlement {
            services: ServiceSet::All,
            external: true,
            limits: Limits {
                bitrate: Some(Bitrate {
                    up: Some(r),
                    down: Some(r),
                }),
                ..Limits::NONE
            },
        },
    );
    p.classifier.types[0].over_limit_dscp = over_limit_dscp;
    p
}

/// DSCP and ECN bits of a plain IPv4 frame.
fn tos(f: &[u8]) -> (u8, u8) {
    (f[15] >> 2, f[15] & 3)
}

fn up_frame(ecn: u8) -> Vec<u8> {
    let mut f = udp(UE, 5000, DNS_VIP, 53, &PAYLOAD, (UE_MAC, port_mac(ACC)));
    // ECN ECT(0) on the terminal's packets (header checksum fixed).
    f[15] = ecn;
    f[24] = 0;
    f[25] = 0;
    let c = checksum(&f[14..34]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
    f
}

/// Sends 4 frames a millisecond for `ms` ms; returns (forwarded with
/// their own DSCP, forwarded re-marked, dropped).
fn send(lab: &mut Lab, port: u16, frame: &[u8], ms: u64) -> (u64, u64, u64) {
    let (mut own, mut low, mut dropped) = (0, 0, 0);
    for _ in 0..ms {
        for _ in 0..4 {
            match lab.up(port, frame) {
                (Verdict::Forward(_), out) => {
                    let (d, ecn) = tos(&out);
                    assert_eq!(ecn, frame[15] & 3, "ECN kept");
                    if d == LOW {
                        low += 1
                    } else {
                        own += 1
                    }
                }
                (Verdict::Drop(DropReason::BitrateLimited), _) => dropped += 1,
                (v, _) => panic!("{v:?}"),
            }
        }
        lab.now += 1;
    }
    (own, low, dropped)
}

#[test]
fn over_the_limit_a_type_with_over_limit_dscp_is_re_marked_not_dropped() {
    let mut lab = Lab::new(1);
    lab.policy.publish(policy_with(Some(LOW)));
    let ms = 1000;
    let (own, low, dropped) = send(&mut lab, ACC, &up_frame(1), ms);
    assert_eq!(dropped, 0);
    assert_eq!(own + low, 4 * ms);
    // Within the limit: rate x time + burst, in 1028-byte packets.
    let max = (BURST + BPS / 8 * (ms - 1) / 1000) / 1028;
    assert!(
        own <= max && own + 1 >= max,
        "{own} unmarked of at most {max}"
    );
    assert_eq!(lab.workers[0].counters().bitrate_remarked.get(), low);
    // Downlink too: the server's answers over the limit are re-marked.
    let gw_port = {
        let (_, out) = lab.up(ACC, &up_frame(0));
        decode(&out).sport
    };
    let down = udp(
        SERVERS[0],
        5353,
        GW,
        gw_port,
        &PAYLOAD,
        (server_mac(SERVERS[0]), port_mac(SRV)),
    );
    let (own, low, dropped) = send(&mut lab, SRV, &down, 100);
    assert_eq!(dropped, 0);
    assert!(low > 0 && own > 0, "{own} own, {low} re-marked");
}

#[test]
fn without_over_limit_dscp_the_excess_is_dropped() {
    let mut lab = Lab::new(1);
    lab.policy.publish(policy_with(None));
    let (own, low, dropped) = send(&mut lab, ACC, &up_frame(0), 100);
    assert_eq!(low, 0);
    assert!(dropped > 0 && own > 0);
    assert_eq!(lab.workers[0].counters().bitrate_remarked.get(), 0);
    assert_eq!(lab.drops(DropReason::BitrateLimited), dropped);
}
