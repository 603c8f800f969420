//! What Neighbor Discovery teaches about IPv6 neighbours, the IPv6 twin of
//! ARP learning in `own_addresses::arp` (kept apart from the answers in
//! `own_addresses_v6` so each file reads alone): which advertisements and
//! solicitations are reported to the control plane as `NeighbourSeenV6`,
//! and the flood filters that bound those events. What to believe is the
//! control plane's decision (`runtime/neighbour_guard.rs`).

use super::{is_ours, NdHeader};
use crate::counters::DropReason;
use crate::event::{ArpKind, Event, EventSink};
use crate::pipeline::{Verdict, Worker};
use crate::topology_v6::same_prefix;
use crate::wire::{is_unicast_v6, Icmpv6Packet, Icmpv6Repr};
use std::net::Ipv6Addr;

/// A Neighbor Advertisement (hop limit checked): once it verifies (RFC
/// 4861 7.1.2: checksum, code 0, target not multicast, options, not
/// solicited to a multicast address), its target is reported with the
/// target link-layer address it carries, else the Ethernet source; as
/// `ReplyToUs` when sent to one of the port's addresses, else
/// `Unsolicited`. One for our own address, for an address off the link
/// or naming a multicast MAC teaches nothing (`nd_ignored`). Like an ARP
/// reply, what went up (or was sent to us) is `Consumed` (`punted`).
pub(super) fn advertisement<E: EventSink>(
    w: &mut Worker,
    port: u16,
    icmp: &Icmpv6Packet<&[u8]>,
    nd: NdHeader,
    eth_src: [u8; 6],
    ev: &mut E,
) -> Verdict {
    let (target, tlla) = match Icmpv6Repr::parse(icmp, nd.src, nd.dst) {
        Ok(Icmpv6Repr::NeighborAdvert {
            target,
            target_lladdr,
            ..
        }) => (target, target_lladdr),
        Ok(_) => return Verdict::Drop(DropReason::NdIgnored),
        Err(e) => return Verdict::Drop(e.into()),
    };
    let mac = tlla.map_or(eth_src, |m| m.0);
    if is_ours(w, port, target) || !learnable(w, port, target, mac) {
        return Verdict::Drop(DropReason::NdIgnored);
    }
    let kind = if w.topo.is_own_ipv6(port, nd.dst) {
        ArpKind::ReplyToUs
    } else {
        ArpKind::Unsolicited
    };
    if report(w, port, (target, mac), kind, nd.now_ms, ev) || kind == ArpKind::ReplyToUs {
        w.counters.punted.inc();
        return Verdict::Consumed;
    }
    Verdict::Drop(DropReason::NdIgnored)
}

/// Whether `ip` at `mac` may be a neighbour on `port`: a unicast address
/// on the link (link-local, or in one of the port's prefixes) that is not
/// ours, at a unicast MAC.
pub(super) fn learnable(w: &Worker, port: u16, ip: Ipv6Addr, mac: [u8; 6]) -> bool {
    let on_link = ip.is_unicast_link_local()
        || w.topo
            .ipv6_addresses(port)
            .iter()
            .any(|&(a, len)| same_prefix(a, ip, len));
    is_unicast_v6(ip)
        && on_link
        && !w.topo.is_own_ipv6(port, ip)
        && mac[0] & 1 == 0
        && mac != [0; 6]
}

/// Emits `NeighbourSeenV6` if it may change what the control plane knows
/// (ARP's rules: a reply to us always, as it may confirm the MAC we have;
/// a solicitation for us when the MAC is new; an unsolicited one only
/// when it claims another MAC for a known neighbour) and the flood filters
/// let it through. Returns whether it was emitted.
pub(super) fn report<E: EventSink>(
    w: &mut Worker,
    port: u16,
    (ip, mac): (Ipv6Addr, [u8; 6]),
    kind: ArpKind,
    now_ms: u64,
    ev: &mut E,
) -> bool {
    let known = w.snaps.neighbours.get().get_v6(port, ip);
    let worth = match kind {
        ArpKind::ReplyToUs => true,
        ArpKind::RequestForUs => known != Some(mac),
        ArpKind::Unsolicited => known.is_some_and(|m| m != mac),
    };
    if !worth {
        return false;
    }
    // ARP's filters (`own_addresses.rs`): the same budget of claims per
    // 100 ms, and its recently-reported slots keyed by a 32-bit fold of
    // the address (a fold that meets an IPv4 address with the same MAC
    // only delays one report by 100 ms).
    let folded = crate::pipeline::nat66::fold_v6(ip);
    if w.arp_recently_reported(folded, mac, now_ms)
        || (known != Some(mac) && !w.arp_claim_budget(now_ms))
    {
        return false;
    }
    w.emit(
        ev,
        Event::NeighbourSeenV6 {
            port,
            ip,
            mac,
            kind,
        },
    );
    true
}
