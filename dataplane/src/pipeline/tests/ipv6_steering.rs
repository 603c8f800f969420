//! Tier 1 for IPv6 terminals (issue 14, step 1): the session ID is the
//! source prefix, so a terminal that changes its interface identifier
//! keeps its session and its gateway; pins, Maglev and the pin requests
//! work on it as on an IPv4 terminal's ID; a G-PDU carrying IPv6 is
//! steered by its TEID. Tier 2 serves no IPv6 yet: every such packet ends
//! `ipv6_not_served` on the gateway tier 1 chose.

use super::ipv6::v6_frame;
use super::*;
use crate::tier1::{session_id_v6, GatewayTarget, Ipv6SessionPrefix, SessionId};
use crate::wire::frames::gtpu_encap;
use std::net::Ipv6Addr;

const UDP: u8 = 17;
const SERVER_V6: Ipv6Addr = Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0xc633, 0x6407);

/// A UDP datagram from `src` (its checksum is not looked at before tier 2).
fn udp_from(src: Ipv6Addr) -> Vec<u8> {
    let udp = [0x9c, 0x40, 0, 53, 0, 8, 0, 0];
    v6_frame((UE_MAC, port_mac(ACC)), None, src, SERVER_V6, UDP, 64, &udp)
}

/// The terminal `2001:db8:77:<n>::<iid>`.
fn terminal(n: u16, iid: u16) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 0x77, n, 0, 0, 0, iid)
}

fn sid(a: Ipv6Addr) -> SessionId {
    session_id_v6(SessionKeyMode::SourceIp, a, Ipv6SessionPrefix::P64).unwrap()
}

fn owner(lab: &Lab, id: SessionId) -> u16 {
    match lab.steering.current().lookup(id).unwrap().target {
        GatewayTarget::LocalWorker(w) => w,
        GatewayTarget::Remote { .. } => panic!("remote gateway"),
    }
}

fn pins(lab: &Lab) -> Vec<u64> {
    lab.events
        .iter()
        .filter_map(|e| match e {
            Event::Pin { session_id, .. } => Some(*session_id),
            _ => None,
        })
        .collect()
}

#[test]
fn a_terminal_that_changes_its_interface_identifier_keeps_its_gateway() {
    let mut lab = Lab::new(4);
    // Two /64s Maglev gives to different gateways: the prefix decides.
    let first = terminal(1, 1);
    let other = (2..200)
        .map(|n| terminal(n, 1))
        .find(|&t| owner(&lab, sid(t)) != owner(&lab, sid(first)))
        .unwrap();
    for (a, b) in [
        (first, terminal(1, 0xbeef)),
        (other, Ipv6Addr::from_bits(other.to_bits() | 0xffff_0000)),
    ] {
        let gateway = owner(&lab, sid(a));
        for src in [a, b] {
            // Received by the worker that is not its gateway: handed over.
            let receiver = usize::from(gateway + 1) % 4;
            let (v, _, at) = lab.run(receiver, ACC, &udp_from(src));
            assert_eq!(v, Verdict::Drop(DropReason::Ipv6NotServed), "{src}");
            assert_eq!(at, usize::from(gateway), "{src} ends on its gateway");
        }
    }
    // One pin request per session (the pin cache holds the second).
    assert_eq!(pins(&lab), vec![sid(first).0, sid(other).0]);
    assert_eq!(lab.drops(DropReason::Ipv6NotServed), 4);
    assert_eq!(lab.live(), 0);
}

#[test]
fn a_pinned_ipv6_session_stays_on_its_gateway() {
    let mut lab = Lab::new(2);
    let t = (1..200)
        .map(|n| terminal(n, 5))
        .find(|&t| owner(&lab, sid(t)) == 1)
        .unwrap();
    let pinned = lab
        .steering
        .current()
        .with_pins(&[(sid(t), Some(GatewayId(0)))]);
    lab.steering.publish(pinned);
    let (v, _, at) = lab.run(1, ACC, &udp_from(Ipv6Addr::from_bits(t.to_bits() ^ 0x77)));
    assert_eq!(v, Verdict::Drop(DropReason::Ipv6NotServed));
    assert_eq!(at, 0, "the pin overrides the consistent hash");
    assert!(pins(&lab).is_empty(), "pinned sessions ask nothing");
}

#[test]
fn the_configured_prefix_length_groups_the_terminals_of_a_shorter_prefix() {
    let mut lab = Lab::new(1);
    lab.workers[0].cfg.ipv6_session_prefix = Ipv6SessionPrefix::P56;
    let _ = lab.up(ACC, &udp_from(terminal(0x100, 1)));
    lab.tick(PIN_RETRY_MS);
    let _ = lab.up(ACC, &udp_from(terminal(0x1ff, 2)));
    let want = SessionId::from_ipv6_prefix(terminal(0x100, 0), Ipv6SessionPrefix::P56).unwrap();
    assert_eq!(want.to_string(), "2001:db8:77:100::/56");
    assert_eq!(pins(&lab), vec![want.0, want.0]);
}

#[test]
fn sources_and_destinations_that_are_no_terminal_traffic_are_not_steered() {
    let mut lab = Lab::new(1);
    let udp = [0x9c, 0x40, 0, 53, 0, 8, 0, 0];
    let link_local: Ipv6Addr = "fe80::1".parse().unwrap();
    let group: Ipv6Addr = "ff02::16".parse().unwrap();
    for (src, dst) in [(link_local, SERVER_V6), (UE_V6, group)] {
        let frame = v6_frame((UE_MAC, port_mac(ACC)), None, src, dst, UDP, 64, &udp);
        assert_eq!(
            lab.up(ACC, &frame).0,
            Verdict::Drop(DropReason::Ipv6NotServed),
            "{src} -> {dst}"
        );
    }
    assert!(pins(&lab).is_empty());
    // In the VLAN mode an IPv6 terminal has no session ID (no room for
    // the VLAN beside a prefix): not served, not pinned.
    let mut vlan = Lab::with(1, 1024, SessionKeyMode::SourceIpVlan, PORT_RANGE);
    assert_eq!(
        vlan.up(ACC, &udp_from(UE_V6)).0,
        Verdict::Drop(DropReason::Ipv6NotServed)
    );
    assert!(pins(&vlan).is_empty());
}

#[test]
fn an_access_port_with_allowed_sources_admits_no_ipv6_terminal() {
    let mut topo = topology();
    topo.set_allowed_sources(ACC, &[(Ipv4Addr::new(10, 8, 0, 0), 16)]);
    let mut lab = Lab::with_topology(1, 1024, SessionKeyMode::SourceIp, PORT_RANGE, topo);
    assert_eq!(
        lab.up(ACC, &udp_from(UE_V6)).0,
        Verdict::Drop(DropReason::SourceNotAllowed)
    );
    assert!(pins(&lab).is_empty());
    // Its own addresses still answer Neighbor Discovery.
    let ns = super::ipv6::ns(
        UE_V6,
        super::ipv6::solicited_node(ACC_V6),
        ACC_V6,
        255,
        None,
    );
    assert_eq!(lab.up(ACC, &ns).0, Verdict::Forward(ACC));
}

#[test]
fn a_gpdu_carrying_ipv6_is_steered_by_its_teid() {
    let mut lab = Lab::with(2, 1024, SessionKeyMode::GtpTeid, PORT_RANGE);
    let outer = FrameSpec {
        src_mac: MacAddr(UE_MAC),
        dst_mac: MacAddr(port_mac(ACC)),
        vlan: None,
        src_ip: Ipv4Addr::new(10, 1, 0, 50),
        dst_ip: Ipv4Addr::new(10, 1, 0, 1),
        src_port: 2152,
        dst_port: 2152,
        ttl: 64,
    };
    let teid = 0x1234_5678;
    let frame = gtpu_encap(&outer, teid, &udp_from(UE_V6)[14..]).unwrap();
    let gateway = owner(&lab, SessionId::from_teid(teid));
    let (v, _, at) = lab.run(usize::from(1 - gateway), ACC, &frame);
    assert_eq!(v, Verdict::Drop(DropReason::Ipv6NotServed));
    assert_eq!(at, usize::from(gateway));
    assert_eq!(pins(&lab), vec![SessionId::from_teid(teid).0]);
}
