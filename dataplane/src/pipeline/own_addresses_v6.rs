//! IPv6 addressed to Tandem itself, as far as this version serves IPv6: a
//! port's IPv6 addresses answer Neighbor Discovery (so hosts on the link
//! can resolve them) and echo requests (so they can be pinged). Everything
//! else that is IPv6 is dropped with a reason that says what it was, so
//! `ctl stats` shows it: router solicitations and other ND Tandem does not
//! take part in (`nd_ignored`; it is not a router advertiser and keeps no
//! IPv6 neighbour cache yet), malformed ICMPv6 to its addresses
//! (`icmpv6_*`), and any other IPv6 to or through it (`ipv6_not_served`:
//! no IPv6 VIPs, gateway addresses or forwarding yet), except a terminal's
//! packet on an access port: tier 1 steers it by its prefix
//! (`steer.rs`, `Worker::access_in_v6`).
//!
//! The answers are built by `wire::replies_v6` (which checks what RFC 4861
//! and RFC 4443 require of the request: hop limit 255, code 0, options,
//! checksum over the pseudo header) and leave on the port the request came
//! in on, through the worker's tx path like ARP and ICMP replies.

use super::l2::set_macs;
use super::own_addresses::replace_contents;
use super::parse::Ip6;
use super::{Verdict, Worker};
use crate::counters::DropReason;
use crate::frame::Frame;
use crate::wire::{
    solicited_node_multicast, turn_into_echo_reply_v6, write_neighbor_advertisement, EthernetFrame,
    Icmpv6Packet, Ipv6Packet, MacAddr, ICMPV6_ECHO_REQUEST, ICMPV6_NEIGHBOR_SOLICIT, ND_HOP_LIMIT,
    PROTO_ICMPV6,
};

/// ICMPv6 types of Neighbor Discovery (RFC 4861 section 4): router
/// solicitation and advertisement, neighbour solicitation and
/// advertisement, redirect.
const ND_TYPES: std::ops::RangeInclusive<u8> = 133..=137;

/// Room for the Neighbor Advertisement: Ethernet, VLAN tag, IPv6 header,
/// NA with its target link-layer address option (18 + 40 + 32 bytes).
const NA_FRAME_ROOM: usize = 128;

/// A well-formed IPv6 packet (`ip6`) received on `port`: answered if it is
/// Neighbor Discovery or an echo request for one of the port's IPv6
/// addresses, dropped with its reason if it is other ICMPv6 to them or ND;
/// `None` for everything else (a terminal's packet to steer, or
/// `ipv6_not_served`).
#[inline(never)]
pub(super) fn own<F: Frame>(w: &mut Worker, f: &mut F, port: u16, ip6: &Ip6) -> Option<Verdict> {
    if ip6.proto != PROTO_ICMPV6 || ip6.fragment {
        return None;
    }
    let b = f.bytes();
    // Parse checked the fixed header and the payload length.
    let Some(header) = b.get(usize::from(ip6.off)..) else {
        return Some(Verdict::Drop(DropReason::Ipv6Truncated));
    };
    let header = Ipv6Packet::new_unchecked(header);
    let (dst, hop_limit) = (header.dst(), header.hop_limit());
    let message = b
        .get(usize::from(ip6.upper)..usize::from(ip6.end))
        .unwrap_or(&[]);
    let msg_type = message.first().copied();
    if msg_type.is_some_and(|t| ND_TYPES.contains(&t)) {
        return Some(neighbour_discovery(w, f, port, ip6, hop_limit, dst));
    }
    // A port's own address, or on an access port an IPv6 VIP (pinged
    // like an IPv4 VIP; NAT64 serves the rest of its traffic).
    let vip = || {
        w.topo.role(port) == Some(crate::topology::Role::Access)
            && w.snaps.policy.get().services.is_vip6(dst)
    };
    if !w.topo.is_own_ipv6(port, dst) && !vip() {
        return None;
    }
    if let Err(e) = Icmpv6Packet::new_checked(message) {
        return Some(Verdict::Drop(e.into()));
    }
    if msg_type != Some(ICMPV6_ECHO_REQUEST) {
        return Some(Verdict::Drop(DropReason::Icmpv6UnsupportedType));
    }
    Some(echo(w, f, port))
}

/// Neighbor Discovery: RFC 4861 7.1 drops any ND message whose hop limit
/// is not 255 (it came through a router); a solicitation for one of the
/// port's addresses, sent to that address or its solicited-node group, is
/// answered with an advertisement; the rest is not for Tandem.
fn neighbour_discovery<F: Frame>(
    w: &mut Worker,
    f: &mut F,
    port: u16,
    ip6: &Ip6,
    hop_limit: u8,
    dst: std::net::Ipv6Addr,
) -> Verdict {
    if hop_limit != ND_HOP_LIMIT {
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
    if icmp.msg_type() != ICMPV6_NEIGHBOR_SOLICIT {
        return Verdict::Drop(DropReason::NdIgnored);
    }
    let Some(target) = icmp.nd_target() else {
        return Verdict::Drop(DropReason::NdIgnored);
    };
    if !w.topo.is_own_ipv6(port, target)
        || (dst != target && dst != solicited_node_multicast(target))
    {
        return Verdict::Drop(DropReason::NdIgnored);
    }
    let our_mac = w.topo.mac(port);
    let mut out = [0u8; NA_FRAME_ROOM];
    let len = match write_neighbor_advertisement(b, &mut out, MacAddr(our_mac)) {
        Ok(len) => len,
        Err(e) => return Verdict::Drop(e.into()),
    };
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
