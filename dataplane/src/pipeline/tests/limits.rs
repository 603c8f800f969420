//! Per-subscriber limits through the whole pipeline: the cap on live user
//! sessions is exact, the refusal is a RST with a record, other
//! subscribers are not affected, ends give the count back, and a reload
//! applies new limits. Also anti-spoofing on an access port.

use super::*;
use crate::event::EndReason;
use crate::policy::{Limits, Rate, ServiceSet};

const UE2: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 77);

fn limited(max_live: Option<u32>, rate: Option<Rate>) -> Policy {
    let mut p = policy();
    p.subscribers.set_prefix(
        UE,
        32,
        Entitlement {
            services: ServiceSet::All,
            external: true,
            limits: Limits {
                max_live,
                rate,
                ..Limits::NONE
            },
        },
    );
    p
}

#[test]
fn live_cap_refuses_the_sixth_with_a_reset_and_spares_others() {
    let mut lab = Lab::new(1);
    lab.policy.publish(limited(Some(5), None));
    for i in 0..5u16 {
        let (v, _) = lab.up(ACC, &syn(UE, 41000 + i, VIP, 80));
        assert_eq!(v, Verdict::Forward(SRV), "connection {i}");
    }
    let (v, out) = lab.up(ACC, &syn(UE, 41005, VIP, 80));
    assert_eq!(v, Verdict::Forward(ACC), "the RST goes back");
    let o = decode(&out);
    assert_eq!((o.src, o.dst, o.dport), (VIP, UE, 41005));
    assert_eq!(o.tcp_flags & 0x04, 0x04, "RST");
    assert_eq!(lab.drops(DropReason::SubscriberLimit), 1);
    assert_eq!(lab.live(), 5);
    let acc = lab.accounting();
    assert_eq!(acc.len(), 1);
    assert_eq!(acc[0].end_reason, EndReason::SubscriberLimit);
    // Another subscriber (default entry, no limits) is not affected.
    for i in 0..8u16 {
        let (v, _) = lab.up(ACC, &syn(UE2, 42000 + i, VIP, 80));
        assert_eq!(v, Verdict::Forward(SRV));
    }
    // Retransmitted SYN of an admitted connection is not a new one.
    let (v, _) = lab.up(ACC, &syn(UE, 41000, VIP, 80));
    assert_eq!(v, Verdict::Forward(SRV));
}

#[test]
fn ended_user_sessions_give_their_place_back() {
    let mut lab = Lab::new(1);
    lab.policy.publish(limited(Some(2), None));
    for i in 0..2u16 {
        assert_eq!(
            lab.up(ACC, &syn(UE, 43000 + i, VIP, 80)).0,
            Verdict::Forward(SRV)
        );
    }
    assert_eq!(
        lab.up(ACC, &syn(UE, 43002, VIP, 80)).0,
        Verdict::Forward(ACC)
    );
    // Unanswered SYNs expire (tcp_syn timeout); the places come back.
    lab.tick(200_000);
    assert_eq!(lab.live(), 0);
    for w in &lab.workers {
        assert!(w.gw.admission.is_empty(), "counts return to zero");
    }
    for i in 0..2u16 {
        assert_eq!(
            lab.up(ACC, &syn(UE, 43010 + i, VIP, 80)).0,
            Verdict::Forward(SRV)
        );
    }
    assert_eq!(
        lab.up(ACC, &syn(UE, 43012, VIP, 80)).0,
        Verdict::Forward(ACC)
    );
}

#[test]
fn new_sessions_per_second_and_reload() {
    let mut lab = Lab::new(1);
    lab.policy
        .publish(limited(None, Some(Rate { per_s: 2, burst: 3 })));
    let mut ok = 0;
    for i in 0..10u16 {
        if lab.up(ACC, &syn(UE, 44000 + i, VIP, 80)).0 == Verdict::Forward(SRV) {
            ok += 1;
        }
    }
    assert_eq!(ok, 3, "the burst");
    lab.now += 1000;
    let mut ok = 0;
    for i in 0..10u16 {
        if lab.up(ACC, &syn(UE, 44100 + i, VIP, 80)).0 == Verdict::Forward(SRV) {
            ok += 1;
        }
    }
    assert_eq!(ok, 2, "two a second");
    // A reload that lifts the limits applies at once.
    lab.policy.publish(limited(None, None));
    for i in 0..10u16 {
        assert_eq!(
            lab.up(ACC, &syn(UE, 44200 + i, VIP, 80)).0,
            Verdict::Forward(SRV)
        );
    }
}

#[test]
fn sources_outside_the_allowed_prefixes_are_dropped_on_that_port_only() {
    let mut topo = topology();
    topo.set_allowed_sources(ACC, &[(Ipv4Addr::new(10, 8, 0, 0), 16)]);
    let mut lab = Lab::with_topology(1, 1 << 12, SessionKeyMode::SourceIp, PORT_RANGE, topo);
    let spoofed = Ipv4Addr::new(192, 0, 2, 7);
    let (v, _) = lab.up(ACC, &syn(spoofed, 40000, VIP, 80));
    assert_eq!(v, Verdict::Drop(DropReason::SourceNotAllowed));
    // Not even a ping to the VIP is answered for it.
    let (v, _) = lab.up(ACC, &echo(spoofed, VIP, 1, (UE_MAC, port_mac(ACC))));
    assert_eq!(v, Verdict::Drop(DropReason::SourceNotAllowed));
    assert_eq!(lab.drops(DropReason::SourceNotAllowed), 2);
    assert_eq!(lab.live(), 0);
    assert!(
        lab.events.iter().all(|e| !matches!(e, Event::Pin { .. })),
        "no pin for a dropped source"
    );
    // An allowed terminal is served.
    let (v, _) = lab.up(ACC, &syn(UE, 40001, VIP, 80));
    assert_eq!(v, Verdict::Forward(SRV));
}

#[test]
fn unlimited_subscribers_are_not_counted_and_limits_added_later_count_from_then() {
    let mut lab = Lab::new(1);
    for i in 0..3u16 {
        assert_eq!(
            lab.up(ACC, &syn(UE, 45000 + i, VIP, 80)).0,
            Verdict::Forward(SRV)
        );
    }
    assert!(
        lab.workers[0].gw.admission.is_empty(),
        "no limits: nothing tracked"
    );
    lab.policy.publish(limited(Some(2), None));
    for i in 0..2u16 {
        assert_eq!(
            lab.up(ACC, &syn(UE, 45100 + i, VIP, 80)).0,
            Verdict::Forward(SRV)
        );
    }
    assert_eq!(
        lab.up(ACC, &syn(UE, 45102, VIP, 80)).0,
        Verdict::Forward(ACC)
    );
    assert_eq!(lab.live(), 5);
    lab.tick(200_000);
    assert_eq!(lab.live(), 0);
    assert!(
        lab.workers[0].gw.admission.is_empty(),
        "only counted ones released"
    );
    for i in 0..2u16 {
        assert_eq!(
            lab.up(ACC, &syn(UE, 45200 + i, VIP, 80)).0,
            Verdict::Forward(SRV)
        );
    }
}
