//! ICMPv6 addressed to Tandem itself: a port's IPv6 addresses and the
//! gateway IPv6 addresses (on server and external ports) answer Neighbor
//! Discovery (so hosts on the link can resolve them) and echo requests (so
//! they can be pinged), IPv6 VIPs answer echo on access ports, and ND
//! tells the control plane where IPv6 neighbours are (IPv6's ARP
//! learning). Other ICMPv6 and ND is dropped with a reason that says what
//! it was, so `ctl stats` shows it: router solicitations and other ND
//! Tandem does not take part in (`nd_ignored`; it is not a router
//! advertiser), malformed ICMPv6 to its addresses (`icmpv6_*`), other
//! ICMPv6 types to them (`icmpv6_unsupported_type`, ICMPv6 errors from
//! servers included). The rest of IPv6 goes on: a terminal's packet on an
//! access port to tier 1 (`steer.rs`, `Worker::access_in_v6`), a server's
//! reply to a gateway IPv6 address to tier 2 (`nat66.rs`); anything else
//! is `ipv6_not_served` (no IPv6 forwarding).
//!
//! The answers are built by `wire::replies_v6` (which checks what RFC 4861
//! and RFC 4443 require of the request: hop limit 255, code 0, options,
//! checksum over the pseudo header) and leave on the port the request came
//! in on, through the worker's tx path like ARP and ICMP replies.
//!
//! Learning follows ARP's rules (`own_addresses::arp`): a valid Neighbor
//! Advertisement for an on-link address that is not ours is reported as
//! `NeighbourSeenV6` (`ReplyToUs` when sent to one of the port's
//! addresses, else `Unsolicited`), and so is the sender of a solicitation
//! for one of our addresses that names its link-layer address
//! (`RequestForUs`); the control plane decides what to believe
//! (`runtime/neighbour_guard.rs`). The same flood filters bound the
//! events.

use super::l2::set_macs;
use super::own_addresses::replace_contents;
use super::parse::Ip6;
use super::{Verdict, Worker};
use crate::counters::DropReason;
use crate::event::{ArpKind, EventSink};
use crate::frame::Frame;
use crate::wire::{
    solicited_node_multicast, turn_into_echo_reply_v6, write_neighbor_advertisement, EthernetFrame,
    Icmpv6Packet, Ipv6Packet, MacAddr, NdOptions, ICMPV6_ECHO_REQUEST, ICMPV6_NEIGHBOR_ADVERT,
    ICMPV6_NEIGHBOR_SOLICIT, ND_HOP_LIMIT, ND_MESSAGE_LEN, PROTO_ICMPV6,
};
use learning::{advertisement, learnable, report};
use std::net::Ipv6Addr;

/// Learning from ND; a child of this module (declared here, not in
/// `pipeline/mod.rs`) that only this module uses.
#[path = "nd_learning.rs"]
mod learning;

/// ICMPv6 types of Neighbor Discovery (RFC 4861 section 4): router
/// solicitation and advertisement, neighbour solicitation and
/// advertisement, redirect.
const ND_TYPES: std::ops::RangeInclusive<u8> = 133..=137;

/// Room for the Neighbor Advertisement: Ethernet, VLAN tag, IPv6 header,
/// NA with its target link-layer address option (18 + 40 + 32 bytes).
const NA_FRAME_ROOM: usize = 128;

/// The addresses and hop limit of the IPv6 header of an ND message.
#[derive(Clone, Copy)]
struct NdHeader {
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hop_limit: u8,
    /// The burst's time (for the flood filters of `nd_learning`).
    now_ms: u64,
}

/// A well-formed IPv6 packet (`ip6`) received on `port`: answered if it is
/// Neighbor Discovery or an echo request for one of the port's IPv6
/// addresses, dropped with its reason if it is other ICMPv6 to them or ND
/// (after telling `ev` of a neighbour it shows); `None` for everything
/// else (a terminal's packet to steer, or `ipv6_not_served`).
#[inline(never)]
pub(super) fn own<F: Frame, E: EventSink>(
    w: &mut Worker,
    f: &mut F,
    port: u16,
    ip6: &Ip6,
    now_ms: u64,
    ev: &mut E,
) -> Option<Verdict> {
    if ip6.proto != PROTO_ICMPV6 || ip6.fragment {
        return None;
    }
    let b = f.bytes();
    // Parse checked the fixed header and the payload length.
    let Some(header) = b.get(usize::from(ip6.off)..) else {
        return Some(Verdict::Drop(DropReason::Ipv6Truncated));
    };
    let header = Ipv6Packet::new_unchecked(header);
    let nd = NdHeader {
        src: header.src(),
        dst: header.dst(),
        hop_limit: header.hop_limit(),
        now_ms,
    };
    let dst = nd.dst;
    let message = b
        .get(usize::from(ip6.upper)..usize::from(ip6.end))
        .unwrap_or(&[]);
    let msg_type = message.first().copied();
    if msg_type.is_some_and(|t| ND_TYPES.contains(&t)) {
        return Some(neighbour_discovery(w, f, port, ip6, nd, ev));
    }
    // A port's own address, or on an access port an IPv6 VIP (pinged
    // like an IPv4 VIP; NAT64 serves the rest of its traffic).
    if !is_ours(w, port, dst) {
        return None;
    }
    if let Err(e) = Icmpv6Packet::new_checked(message) {
        return Some(Verdict::Drop(e.into()));
    }
    // An error to a gateway address may be about a user session's
    // packet: tier 2 takes it (`nat66_icmp.rs`).
    if msg_type.is_some_and(super::nat66_icmp::is_error_type)
        && w.topo.gateway_v6(port, dst).is_some()
    {
        return None;
    }
    if msg_type != Some(ICMPV6_ECHO_REQUEST) {
        return Some(Verdict::Drop(DropReason::Icmpv6UnsupportedType));
    }
    Some(echo(w, f, port))
}

/// Whether `ip` is answered for on `port`: one of its IPv6 addresses, or
/// on an access port an IPv6 VIP.
fn is_ours(w: &Worker, port: u16, ip: Ipv6Addr) -> bool {
    w.topo.is_own_ipv6(port, ip)
        || (w.topo.role(port) == Some(crate::topology::Role::Access)
            && w.snaps.policy.get().services.is_vip6(ip))
}

/// Neighbor Discovery: RFC 4861 7.1 drops any ND message whose hop limit
/// is not 255 (it came through a router); an advertisement may teach a
/// neighbour ([`advertisement`]); a solicitation for one of the port's
/// addresses, sent to that address or its solicited-node group, is
/// answered with an advertisement (its sender reported first); the rest
/// is not for Tandem.
fn neighbour_discovery<F: Frame, E: EventSink>(
    w: &mut Worker,
    f: &mut F,
    port: u16,
    ip6: &Ip6,
    nd: NdHeader,
    ev: &mut E,
) -> Verdict {
    if nd.hop_limit != ND_HOP_LIMIT {
        return Verdict::Drop(DropReason::Icmpv6BadNeighborDiscovery);
    }
    let b = f.bytes();
    let message = b
        .get(usize::from(ip6.upper)..usize::from(ip6.end))
        .unwrap_or(&[]);
    let icmp = match Icmpv6Packet::new_checked(message) {
        Ok(icmp) => icmp,
        Err(e) => return Verdict::Drop(e.into()),
    };
    if icmp.msg_type() == ICMPV6_NEIGHBOR_ADVERT {
        // Parse found the Ethernet header in front of the IPv6 one.
        let eth_src = EthernetFrame::new_unchecked(b).src().0;
        return advertisement(w, port, &icmp, nd, eth_src, ev);
    }
    if icmp.msg_type() != ICMPV6_NEIGHBOR_SOLICIT {
        return Verdict::Drop(DropReason::NdIgnored);
    }
    let Some(target) = icmp.nd_target() else {
        return Verdict::Drop(DropReason::NdIgnored);
    };
    if !w.topo.is_own_ipv6(port, target)
        || (nd.dst != target && nd.dst != solicited_node_multicast(target))
    {
        return Verdict::Drop(DropReason::NdIgnored);
    }
    let our_mac = w.topo.mac(port);
    let mut out = [0u8; NA_FRAME_ROOM];
    // Checks all RFC 4861 7.1.1 asks of the solicitation, checksum too.
    let len = match write_neighbor_advertisement(b, &mut out, MacAddr(our_mac)) {
        Ok(len) => len,
        Err(e) => return Verdict::Drop(e.into()),
    };
    // Valid: the sender announced where it is (DAD, from ::, names none).
    let slla = message
        .get(ND_MESSAGE_LEN..)
        .and_then(|options| NdOptions::parse(options).ok())
        .and_then(|options| options.source_lladdr);
    if let Some(MacAddr(mac)) = slla {
        if learnable(w, port, nd.src, mac) {
            report(w, port, (nd.src, mac), ArpKind::RequestForUs, nd.now_ms, ev);
        }
    }
    if !replace_contents(f, &out[..len]) {
        return Verdict::Drop(DropReason::NoRoom);
    }
    w.counters.nd_replies.inc();
    w.counters.tx_packets.inc();
    w.counters.tx_bytes.add(f.len() as u64);
    Verdict::Forward(port)
}

/// An echo request to one of the port's IPv6 addresses, turned into its
/// reply in place (refused with its reason: extension headers, a
/// multicast source, a wrong checksum).
fn echo<F: Frame>(w: &mut Worker, f: &mut F, port: u16) -> Verdict {
    let requester = EthernetFrame::new_unchecked(f.bytes()).src().0;
    if let Err(e) = turn_into_echo_reply_v6(f.bytes_mut()) {
        return Verdict::Drop(e.into());
    }
    // Back to whoever sent it, from this port's own MAC.
    set_macs(f.bytes_mut(), requester, w.topo.mac(port));
    w.counters.icmp_replies.inc();
    w.counters.tx_packets.inc();
    w.counters.tx_bytes.add(f.len() as u64);
    Verdict::Forward(port)
}

#[cfg(test)]
#[path = "own_addresses_v6_tests.rs"]
mod tests;
