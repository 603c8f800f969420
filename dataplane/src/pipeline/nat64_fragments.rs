//! Fragments through NAT64 follow their user session, both ways (issue
//! 14, item 5): an IPv6 terminal's fragmented datagram reaches its IPv4
//! server as IPv4 fragments, and an IPv4 server's fragments reach the
//! terminal as IPv6 fragments. Nothing is reassembled.
//!
//! The header translation (`wire::nat64`) already maps a fragment header
//! to the IPv4 fragment fields and back (RFC 7915 sections 4.1 and 5.1.1:
//! the IPv4 identification is the low 16 bits of the IPv6 one, offset and
//! M copied, DF clear; an IPv4 fragment gets a fragment header with its
//! identification). What this file adds is the following, as
//! `fragments.rs` does for IPv4:
//!
//! - uplink: the first piece (offset 0, it carries the ports) goes the way
//!   of any packet in `uplink_v6`, which records (terminal, destination,
//!   the fragment header's next header, its 32-bit identification) just
//!   before the packet leaves; each later piece finds that entry here and
//!   is translated with the user session's addresses. The key is read from
//!   the fragment header, so a piece whose extension headers differ from
//!   its first's still finds it.
//! - downlink: the server's first fragment opens the entry in
//!   `downlink_nat64` (keyed as for IPv4: only its header is IPv4); a later
//!   one found by `fragments.rs` comes here when its user session is a
//!   NAT64 one and leaves as IPv6 (`send_as_v6`).
//!
//! A later piece is counted (bytes in its own version, as the first) but
//! not metered against bitrate limits, as for IPv4. Fragmented ICMPv6 and
//! ICMP are not translated (`nat64_fragmented_icmp`: the checksum of a
//! whole message cannot be redone from a piece), nor a fragmented IPv4 UDP
//! datagram without checksum (`nat64_udp_zero_checksum_fragment`).

use super::l2::ClientPath;
use super::nat64_mtu::{split_for, Split};
use super::parse::{Ip, Ip6};
use super::steer::Rx;
use super::{Verdict, Worker};
use crate::counters::DropReason;
use crate::event::EventSink;
use crate::frame::Frame;
use crate::tier2::user_sessions::SessionFlags;
use crate::tier2::{Direction, FragmentKey};
use crate::wire::{Ipv4Packet, Ipv6Fragment, Ipv6Packet, To4, ETHERNET_HEADER_LEN};
use std::net::Ipv6Addr;

const IP: usize = ETHERNET_HEADER_LEN;

/// The fragment header of the IPv6 packet `ip6` of frame `b` and the next
/// header it names, if it has one.
pub(super) fn fragment_header(b: &[u8], ip6: &Ip6) -> Option<(Ipv6Fragment, u8)> {
    let packet = b.get(usize::from(ip6.off)..usize::from(ip6.end))?;
    let frag = Ipv6Packet::new_checked(packet)
        .ok()?
        .upper_layer()
        .ok()?
        .fragment?;
    let next = *packet.get(frag.header_offset)?;
    Some((frag, next))
}

impl Worker {
    /// Uplink: an IPv6 terminal's fragment (out of line: `uplink_v6` only
    /// tests `Ip6::fragment`) from `src` to `dst`, whose hop limit is
    /// `hop_limit`. A first piece: Ok, the key `uplink_v6` records its
    /// datagram under; a later one is translated and sent here (Err, the
    /// verdict).
    #[cold]
    #[inline(never)]
    pub(super) fn uplink_fragment_v6<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        rx: &Rx,
        ip6: &Ip6,
        (src, dst, hop_limit): (Ipv6Addr, Ipv6Addr, u8),
        ev: &mut E,
    ) -> Result<FragmentKey, Verdict> {
        if !self.follows_fragments() {
            return Err(Verdict::Drop(DropReason::Fragment));
        }
        let Some((frag, next)) = fragment_header(f.bytes(), ip6) else {
            return Err(Verdict::Drop(DropReason::Ipv6BadExtensionHeader));
        };
        let key = FragmentKey::v6(src, dst, next, frag.ident, true);
        if frag.is_first() {
            return Ok(key);
        }
        let follow = match self.follow_fragment(&key, !frag.more, rx.now_ms) {
            Ok(follow) => follow,
            Err(r) => return Err(Verdict::Drop(r)),
        };
        let Some(idx) = self.followed_session(follow) else {
            return Err(Verdict::Drop(DropReason::FragmentNoFirst));
        };
        if hop_limit <= 1 {
            return Err(Verdict::Drop(DropReason::TtlExpired));
        }
        let Some(e) = self.gw.table.get_mut(idx) else {
            return Err(Verdict::Drop(DropReason::FragmentNoFirst));
        };
        e.count(Direction::ToServer, u32::from(ip6.end - ip6.off));
        if e.flags.contains(SessionFlags::NAT66) {
            // To an IPv6 server (nat66.rs): addresses only.
            return Err(self.uplink_later_fragment_nat66(f, ip6, idx, rx.now_ms, ev));
        }
        let gateway = self.cfg.gateway_addrs[usize::from(e.gw_addr)];
        let (server, server_index) = (e.server_ip, e.server_index);
        let path = e.client_path;
        // A fragment's identification comes from its fragment header; one
        // hop less, as the first piece (its rewrite does it there).
        let to = To4::gateway_to_server(gateway, server, 0);
        let finish = |packet: &mut [u8]| {
            let mut header = Ipv4Packet::new_unchecked(packet);
            header.set_ttl(hop_limit - 1);
            header.fill_checksum();
        };
        let hop = (server, server_index, &path);
        self.translate_to_v4(f, ip6, (&to, finish), hop, rx.now_ms, ev)?;
        Err(self.send_to_server(f, server, server_index, rx.now_ms, ev))
    }

    /// Downlink: a server's later fragment for NAT64 user session `idx`
    /// (`fragments.rs` found its entry, checked its hop and counted it),
    /// translated into an IPv6 fragment to the terminal along `path`.
    #[cold]
    #[inline(never)]
    pub(super) fn downlink_later_fragment_nat64<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        rx: &Rx,
        ip: &Ip,
        (idx, path): (u32, ClientPath),
        ev: &mut E,
    ) -> Verdict {
        let Some(ends) = self.gw.nat64.get(idx) else {
            return Verdict::Drop(DropReason::FragmentNoFirst);
        };
        let room =
            super::nat64_mtu::room_to_client(&self.topo, self.cfg.fabric, &path, (ip.total, 28));
        let split = match room.map(|r| split_for(r, &f.bytes()[IP..])) {
            Some(Split::Tell(mtu4)) => {
                return self.nat64_too_big_from_server(f, rx, (ip.header_len(), ip.dst), mtu4)
            }
            Some(Split::Fragment(max)) => Some(max),
            None => None,
        };
        // One hop less (the caller checked there is one to take), as the
        // first piece's rewrite does.
        let Some(header) = f.bytes_mut().get_mut(IP..IP + 20) else {
            return Verdict::Drop(DropReason::Truncated);
        };
        let mut header = Ipv4Packet::new_unchecked(header);
        header.set_ttl(ip.ttl - 1);
        header.fill_checksum();
        self.send_as_v6(f, (ip.total, split), ends, &path, rx.now_ms, ev)
    }
}
