//! Neighbor Discovery learning through the whole pipeline (a `Lab`, no
//! I/O): which advertisements and solicitations on the server port become
//! `NeighbourSeenV6`, with which MAC and kind, and which teach nothing.

use crate::counters::DropReason;
use crate::event::{ArpKind, Event};
use crate::pipeline::Verdict;
use crate::testkit::{port_mac, Lab, SRV, SRV_V6};
use crate::topology::Neighbours;
use crate::wire::{
    neighbor_solicitation, EthernetRepr, Icmpv6Repr, Ipv6Repr, MacAddr, ETHERTYPE_IPV6,
    IPV6_HEADER_LEN, NA_FLAG_SOLICITED, PROTO_ICMPV6,
};
use std::net::Ipv6Addr;

/// A server on the server port's IPv6 link.
const SERVER6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 0x21);
const SERVER_MAC: [u8; 6] = [2, 0, 0, 0, 0x21, 1];
/// The MAC an advertisement names in its option, unlike its Ethernet source.
const NAMED_MAC: [u8; 6] = [2, 0, 0, 0, 0x21, 2];
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// A Neighbor Advertisement for `target` from it (at `SERVER_MAC`) to
/// `dst`, with `flags`, the target link-layer option `tlla` and `hop`.
fn na(dst: Ipv6Addr, target: Ipv6Addr, flags: u8, tlla: Option<[u8; 6]>, hop: u8) -> Vec<u8> {
    let advert = Icmpv6Repr::NeighborAdvert {
        flags,
        target,
        target_lladdr: tlla.map(MacAddr),
    };
    let eth = EthernetRepr {
        dst: MacAddr(port_mac(SRV)),
        src: MacAddr(SERVER_MAC),
        vlan: None,
        ethertype: ETHERTYPE_IPV6,
    };
    let len = advert.header_len();
    let mut frame = vec![0u8; 14 + IPV6_HEADER_LEN + len];
    eth.emit(&mut frame).unwrap();
    let mut ip = Ipv6Repr::new(target, dst, PROTO_ICMPV6, len);
    ip.hop_limit = hop;
    ip.emit(&mut frame[14..]).unwrap();
    advert
        .emit(&mut frame[14 + IPV6_HEADER_LEN..], target, dst)
        .unwrap();
    frame
}

fn seen(port: u16, ip: Ipv6Addr, mac: [u8; 6], kind: ArpKind) -> Event {
    Event::NeighbourSeenV6 {
        port,
        ip,
        mac,
        kind,
    }
}

/// A lab that already knows `SERVER6` at `SERVER_MAC`.
fn lab_knowing_the_server() -> Lab {
    let lab = Lab::new(1);
    let mut n = Neighbours::default();
    n.insert_v6(SRV, SERVER6, SERVER_MAC);
    lab.neighbours.publish(n);
    lab
}

#[test]
fn an_advertisement_to_our_address_reports_the_mac_it_names() {
    let mut lab = Lab::new(1);
    let frame = na(SRV_V6, SERVER6, NA_FLAG_SOLICITED, Some(NAMED_MAC), 255);
    let (v, _) = lab.up(SRV, &frame);
    assert_eq!(v, Verdict::Consumed);
    assert_eq!(
        lab.events,
        vec![seen(SRV, SERVER6, NAMED_MAC, ArpKind::ReplyToUs)]
    );
    assert_eq!(lab.workers[0].counters().punted.get(), 1);
    // Without the option, the Ethernet source is the MAC.
    lab.events.clear();
    let other = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 0x22);
    let (v, _) = lab.up(SRV, &na(SRV_V6, other, NA_FLAG_SOLICITED, None, 255));
    assert_eq!(v, Verdict::Consumed);
    assert_eq!(
        lab.events,
        vec![seen(SRV, other, SERVER_MAC, ArpKind::ReplyToUs)]
    );
}

#[test]
fn an_advertisement_to_all_nodes_is_unsolicited_and_only_reported_as_a_claim() {
    let mut lab = lab_knowing_the_server();
    // The MAC we have, announced to all nodes: nothing to say.
    let (v, _) = lab.up(SRV, &na(ALL_NODES, SERVER6, 0, Some(SERVER_MAC), 255));
    assert_eq!(v, Verdict::Drop(DropReason::NdIgnored));
    assert!(lab.events.is_empty(), "{:?}", lab.events);
    // Another MAC for a known neighbour: reported (the control plane asks).
    let (v, _) = lab.up(SRV, &na(ALL_NODES, SERVER6, 0, Some(NAMED_MAC), 255));
    assert_eq!(v, Verdict::Consumed);
    assert_eq!(
        lab.events,
        vec![seen(SRV, SERVER6, NAMED_MAC, ArpKind::Unsolicited)]
    );
    // An unknown neighbour announcing itself teaches nothing.
    lab.events.clear();
    let stranger = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 0x88);
    let (v, _) = lab.up(SRV, &na(ALL_NODES, stranger, 0, Some(NAMED_MAC), 255));
    assert_eq!(v, Verdict::Drop(DropReason::NdIgnored));
    assert!(lab.events.is_empty(), "{:?}", lab.events);
}

#[test]
fn a_solicitation_for_our_address_reports_its_sender_and_is_still_answered() {
    let mut lab = Lab::new(1);
    let frame = neighbor_solicitation(MacAddr(NAMED_MAC), None, SERVER6, SRV_V6).unwrap();
    let (v, out) = lab.up(SRV, &frame);
    assert_eq!(v, Verdict::Forward(SRV));
    assert_eq!(
        lab.events,
        vec![seen(SRV, SERVER6, NAMED_MAC, ArpKind::RequestForUs)]
    );
    assert_eq!(lab.workers[0].counters().nd_replies.get(), 1);
    // The answer: an NA to the sender's named MAC.
    assert_eq!(&out[..6], &NAMED_MAC);
    assert_eq!(out[14 + IPV6_HEADER_LEN], 136);
    // Once known with that MAC, a solicitation is answered, not reported.
    lab.events.clear();
    let mut n = Neighbours::default();
    n.insert_v6(SRV, SERVER6, NAMED_MAC);
    lab.neighbours.publish(n);
    let (v, _) = lab.up(SRV, &frame);
    assert_eq!(v, Verdict::Forward(SRV));
    assert!(lab.events.is_empty(), "{:?}", lab.events);
}

#[test]
fn nd_through_a_router_teaches_nothing() {
    let mut lab = Lab::new(1);
    let frame = na(SRV_V6, SERVER6, NA_FLAG_SOLICITED, Some(NAMED_MAC), 254);
    let (v, _) = lab.up(SRV, &frame);
    assert_eq!(v, Verdict::Drop(DropReason::Icmpv6BadNeighborDiscovery));
    assert!(lab.events.is_empty(), "{:?}", lab.events);
}

#[test]
fn advertisements_that_break_the_rules_teach_nothing() {
    let mut lab = Lab::new(1);
    let cases = [
        // Someone claiming our own address.
        (
            na(SRV_V6, SRV_V6, 0, Some(NAMED_MAC), 255),
            DropReason::NdIgnored,
        ),
        // An address off the port's link.
        (
            na(
                SRV_V6,
                "2001:db8:99::1".parse().unwrap(),
                0,
                Some(NAMED_MAC),
                255,
            ),
            DropReason::NdIgnored,
        ),
        // A multicast MAC.
        (
            na(SRV_V6, SERVER6, 0, Some([0x33, 0x33, 0, 0, 0, 1]), 255),
            DropReason::NdIgnored,
        ),
        // Solicited yet sent to a multicast group (RFC 4861 7.1.2).
        (
            na(ALL_NODES, SERVER6, NA_FLAG_SOLICITED, Some(NAMED_MAC), 255),
            DropReason::Icmpv6BadNeighborDiscovery,
        ),
    ];
    for (frame, reason) in cases {
        assert_eq!(lab.up(SRV, &frame).0, Verdict::Drop(reason));
    }
    // A wrong checksum.
    let mut frame = na(SRV_V6, SERVER6, 0, Some(NAMED_MAC), 255);
    frame[14 + IPV6_HEADER_LEN + 2] ^= 0xff;
    let (v, _) = lab.up(SRV, &frame);
    assert_eq!(v, Verdict::Drop(DropReason::Icmpv6BadChecksum));
    assert!(lab.events.is_empty(), "{:?}", lab.events);
}

#[test]
fn a_flood_of_advertisements_is_reported_once_per_window_and_claims_share_a_budget() {
    let mut lab = lab_knowing_the_server();
    let frame = na(SRV_V6, SERVER6, NA_FLAG_SOLICITED, Some(SERVER_MAC), 255);
    for _ in 0..50 {
        assert_eq!(lab.up(SRV, &frame).0, Verdict::Consumed);
    }
    assert_eq!(lab.events.len(), 1);
    // The next window (the worker's timers mark the time) reports again.
    lab.tick(100);
    lab.up(SRV, &frame);
    assert_eq!(lab.events.len(), 2);
    // Claims of many MACs: one window's budget, and the server's own
    // answer still gets through.
    lab.events.clear();
    lab.tick(100);
    for i in 0..200u8 {
        lab.up(
            SRV,
            &na(SRV_V6, SERVER6, 0, Some([2, 0xee, 0, 0, 1, i]), 255),
        );
    }
    assert_eq!(lab.events.len(), 32, "one window's budget");
    lab.tick(100);
    lab.up(SRV, &frame);
    assert_eq!(
        lab.events.last(),
        Some(&seen(SRV, SERVER6, SERVER_MAC, ArpKind::ReplyToUs))
    );
}
