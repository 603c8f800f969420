//! Subscriber entries by IPv6 prefix through the pipeline (issue 14,
//! item 6): a /48 entry decides for every /64 terminal inside it, and the
//! bitrate hook of a NAT64 user session never takes an IPv4 prefix entry
//! for its terminal (whose `client_ip` is only a fold of its address).
//! A child of the NAT64 tests, to share their frame builders.

use super::*;
use crate::policy::{ClassRule, Limits, UserSessionType};
use crate::shaping::{Bitrate, Rate};

/// "web6" and "dns6" are services 2 and 3 of [`nat64_lab`]'s policy.
const WEB6: u32 = 2;
const DNS6: u32 = 3;

fn only(service: u32) -> Entitlement {
    Entitlement {
        services: crate::policy::ServiceSet::from_indexes([service]),
        external: false,
        limits: Limits::NONE,
    }
}

fn syn_from(terminal: Ipv6Addr, sport: u16) -> Vec<u8> {
    let syn6 = summed6(tcp_l4(sport, 80, 7000, 0, 0x02, b""), 16, terminal, VIP6, 6);
    frame6(up_macs(), terminal, VIP6, 6, HOP, TC, &syn6)
}

#[test]
fn a_slash_48_entry_decides_for_every_terminal_inside_it() {
    let mut lab = nat64_lab(1, None);
    let mut p = (*lab.policy.current()).clone();
    // TERMINAL is 2001:db8:77:1::/64, inside the /48 that has DNS only.
    p.subscribers
        .set_prefix6("2001:db8:77::".parse().unwrap(), 48, only(DNS6));
    p.subscribers
        .set_prefix6("2001:db8:78::".parse().unwrap(), 48, only(WEB6));
    lab.policy.publish(p);
    // Refused at once with an IPv6 RST; nothing opens.
    let (v, _) = lab.up(ACC, &syn_from(TERMINAL, 40000));
    assert_eq!(v, Verdict::Forward(ACC));
    assert_eq!(lab.live(), 0);
    // Another interface identifier and another /64 of the same /48 too.
    let other64 = Ipv6Addr::new(0x2001, 0xdb8, 0x77, 0xabcd, 0, 0, 0, 5);
    let (v, _) = lab.up(ACC, &syn_from(other64, 40001));
    assert_eq!(v, Verdict::Forward(ACC));
    assert_eq!(lab.live(), 0);
    // A terminal of the /48 that has the service is served.
    let entitled = Ipv6Addr::new(0x2001, 0xdb8, 0x78, 9, 0, 0, 0, 7);
    let (v, _) = lab.up(ACC, &syn_from(entitled, 40002));
    assert_eq!(v, Verdict::Forward(SRV));
    assert_eq!(lab.live(), 1);
}

/// A NAT64 user session whose type has a bitrate limit is metered by the
/// hook; an IPv4 catch-all entry with a tiny limit must not be taken for
/// the IPv6 terminal's (it has no entry: no subscriber limit at all).
#[test]
fn an_ipv4_prefix_entry_never_meters_a_nat64_terminal() {
    let mut lab = nat64_lab(1, None);
    let mut p = (*lab.policy.current()).clone();
    let plenty = Rate::from_bits_per_s(1_000_000_000, 1_000_000);
    p.classifier.types.push(UserSessionType {
        name: "bulk".into(),
        bitrate: Some(Bitrate {
            up: Some(plenty),
            down: Some(plenty),
        }),
        ..p.classifier.types[0].clone()
    });
    p.classifier.rules.push(ClassRule {
        proto: Some(17),
        dst_ports: None,
        dscp: None,
        terminal: None,
        dst: None,
        type_index: 1,
    });
    let tiny = Rate::from_bits_per_s(8_000, 1_500);
    p.subscribers.set_prefix(
        Ipv4Addr::UNSPECIFIED,
        0,
        Entitlement {
            limits: Limits {
                bitrate: Some(Bitrate {
                    up: Some(tiny),
                    down: Some(tiny),
                }),
                ..Limits::NONE
            },
            ..Entitlement::allow_all()
        },
    );
    lab.policy.publish(p);
    let q = summed6(udp_l4(5353, 53, &[7u8; 1000]), 6, TERMINAL, DNS_VIP6, 17);
    let query = frame6(up_macs(), TERMINAL, DNS_VIP6, 17, HOP, 0, &q);
    // 20 kB: over any bucket the tiny rate may hold (at least a 9216-byte
    // frame and 1 ms).
    for i in 0..20 {
        let (v, _) = lab.up(ACC, &query);
        assert_eq!(v, Verdict::Forward(SRV), "datagram {i}");
    }
    assert_eq!(lab.drops(DropReason::BitrateLimited), 0);
}

/// Classify rules by prefix: the IPv6 rule for the terminal's /48 gives
/// its type, the IPv4 catch-all before it does not take the IPv6
/// terminal (and takes the IPv4 one). Read from the records of refused
/// SYNs (a /48 entry without the service, and UE_DENIED).
#[test]
fn a_classify_rule_by_ipv6_prefix_gives_its_type() {
    use crate::event::EndReason;
    use crate::policy::AddrMatch;
    let mut lab = nat64_lab(1, None);
    let mut p = (*lab.policy.current()).clone();
    for name in ["v4", "lab"] {
        p.classifier.types.push(UserSessionType {
            name: name.into(),
            ..p.classifier.types[0].clone()
        });
    }
    let rule = |terminal, type_index| ClassRule {
        proto: Some(6),
        dst_ports: None,
        dscp: None,
        terminal: Some(terminal),
        dst: None,
        type_index,
    };
    p.classifier.rules.push(rule(
        AddrMatch::V4 {
            net: Ipv4Addr::UNSPECIFIED,
            len: 0,
        },
        1,
    ));
    p.classifier.rules.push(rule(
        AddrMatch::V6 {
            net: "2001:db8:77::".parse().unwrap(),
            len: 48,
        },
        2,
    ));
    p.subscribers
        .set_prefix6("2001:db8:77::".parse().unwrap(), 48, only(DNS6));
    lab.policy.publish(p);
    let (v, _) = lab.up(ACC, &syn_from(TERMINAL, 40000));
    assert_eq!(v, Verdict::Forward(ACC));
    let (v, _) = lab.up(ACC, &syn(UE_DENIED, 41000, VIP, 80));
    assert_eq!(v, Verdict::Forward(ACC));
    let types: Vec<_> = lab
        .accounting()
        .iter()
        .filter(|r| r.end_reason == EndReason::NotEntitled)
        .map(|r| (r.ipv6.is_some(), r.user_session_type))
        .collect();
    assert_eq!(types, [(true, 2), (false, 1)]);
}
