//! ICMPv6 errors from the IPv6 server side for IPv6 → IPv6 user sessions
//! (issue 14, item 4: "ICMPv6 errors quoting a translated packet
//! translated back"), kept out of the reply path (`nat66.rs`).
//!
//! A destination unreachable, Packet Too Big, time exceeded or parameter
//! problem sent to a gateway IPv6 address, by a server or a router on the
//! way to it, quotes the packet the gateway sent: gateway address and
//! port to server address and port. When that is a live NAT66 user
//! session's packet, the error goes to the terminal as the IPv4 gateway
//! sends an ICMP error (`downlink.rs`): from the VIP the terminal
//! addressed, to the terminal, along its path, one hop less, the quote
//! rewritten back into the packet the terminal sent (addresses, ports,
//! and the quoted checksum where the quote holds it) and the error's
//! checksum computed afresh. Nothing else changes: NAT66 keeps a packet's
//! length and header layout, so a Packet Too Big's MTU and a parameter
//! problem's pointer hold for the terminal's packet as they are.
//!
//! A quote that is not a live NAT66 user session's packet to its server
//! is dropped `icmp_unmatched`; an error longer than the terminal's port
//! takes with its tunnel, `nat64_too_big`; an error whose checksum fails,
//! `icmpv6_bad_checksum`; any other ICMPv6 message to a gateway address
//! (echo requests are answered in `own_addresses_v6.rs`),
//! `icmpv6_unsupported_type`.

use super::nat66::{rewrite_v6, Ends6};
use super::parse::Ip6;
use super::steer::{Ingress, Rx};
use super::{Verdict, Worker};
use crate::counters::DropReason;
use crate::event::EventSink;
use crate::frame::Frame;
use crate::tier2::try_owner_core;
use crate::tier2::user_sessions::SessionFlags;
use crate::wire::checksum::{l4_checksum_v6, l4_verifies_v6};
use crate::wire::{
    ICMPV6_DEST_UNREACHABLE, ICMPV6_PARAMETER_PROBLEM, IPV6_HEADER_LEN, PROTO_ICMPV6, PROTO_TCP,
    PROTO_UDP,
};
use std::net::Ipv6Addr;

const UNMATCHED: Verdict = Verdict::Drop(DropReason::IcmpUnmatched);

/// Whether an ICMPv6 message of type `t` is an error a server's side may
/// send about a packet the gateway sent (RFC 4443 section 3).
#[inline]
pub(super) fn is_error_type(t: u8) -> bool {
    (ICMPV6_DEST_UNREACHABLE..=ICMPV6_PARAMETER_PROBLEM).contains(&t)
}

/// An IPv6 address and a port: one end of a quoted packet.
type End6 = (Ipv6Addr, u16);

/// The IPv6 addresses and ports at the start of a quoted packet `q`
/// (fixed header, then the transport header: no extension headers, as
/// NAT66 sends them) and its protocol; None when `q` is too short to show
/// the ports or is not IPv6.
fn quoted_ends(q: &[u8]) -> Option<(u8, End6, End6)> {
    let (header, l4) = q.split_first_chunk::<IPV6_HEADER_LEN>()?;
    let ports = l4.first_chunk::<4>()?;
    if header[0] >> 4 != 6 {
        return None;
    }
    let src = <[u8; 16]>::try_from(&header[8..24]).ok()?;
    let dst = <[u8; 16]>::try_from(&header[24..40]).ok()?;
    Some((
        header[6],
        (
            Ipv6Addr::from(src),
            u16::from_be_bytes([ports[0], ports[1]]),
        ),
        (
            Ipv6Addr::from(dst),
            u16::from_be_bytes([ports[2], ports[3]]),
        ),
    ))
}

impl Worker {
    /// An ICMPv6 message (`ip6`, not a fragment, hop limit above 1) from
    /// the server side to gateway IPv6 address number `gw_addr`: an error
    /// about a NAT66 user session's packet goes to its terminal, see the
    /// module docs.
    #[cold]
    #[inline(never)]
    pub(super) fn icmpv6_error_to_nat66<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        rx: &Rx,
        ip6: &Ip6,
        gw_addr: u8,
        ev: &mut E,
    ) -> Verdict {
        let (off, upper, end) = (
            usize::from(ip6.off),
            usize::from(ip6.upper),
            usize::from(ip6.end),
        );
        let b = f.bytes();
        let (Some(header), Some(message)) = (b.get(off..off + IPV6_HEADER_LEN), b.get(upper..end))
        else {
            return Verdict::Drop(DropReason::Ipv6Truncated);
        };
        if message.len() < 8 {
            return Verdict::Drop(DropReason::Icmpv6Truncated);
        }
        if !is_error_type(message[0]) {
            return Verdict::Drop(DropReason::Icmpv6UnsupportedType);
        }
        let outer_src = Ipv6Addr::from(<[u8; 16]>::try_from(&header[8..24]).unwrap_or([0; 16]));
        let outer_dst = Ipv6Addr::from(<[u8; 16]>::try_from(&header[24..40]).unwrap_or([0; 16]));
        if !l4_verifies_v6(outer_src, outer_dst, PROTO_ICMPV6, message) {
            return Verdict::Drop(DropReason::Icmpv6BadChecksum);
        }
        let Some((proto, gw, server)) = quoted_ends(&message[8..]) else {
            return UNMATCHED;
        };
        if !matches!(proto, PROTO_TCP | PROTO_UDP) || Some(gw.0) != self.gateway_v6(gw_addr) {
            return UNMATCHED;
        }
        // The gateway port names the worker that owns the user session.
        let (lo, hi) = self.cfg.port_range;
        let Some(owner) = try_owner_core(gw.1, lo, hi, self.cfg.n_workers) else {
            return UNMATCHED;
        };
        if owner != self.cfg.index && rx.ingress == Ingress::Port {
            return Verdict::Handoff(owner);
        }
        let Some(idx) = self.gw.table.find_reply(gw_addr, gw.1) else {
            return UNMATCHED;
        };
        let (Some(e), Some((client6, dst6))) = (self.gw.table.get(idx), self.gw.nat64.get(idx))
        else {
            return UNMATCHED;
        };
        if !e.flags.contains(SessionFlags::NAT66)
            || e.proto != proto
            || self.server_v6(e.server_index) != Some(server.0)
            || e.server_port != server.1
        {
            return UNMATCHED;
        }
        let back = Ends6 {
            src: client6,
            src_port: e.client_port,
            dst: dst6,
            dst_port: e.orig_dst_port,
        };
        let path = e.client_path;
        // Longer than the terminal's port takes once its tunnel is added
        // (a quote past RFC 4443's 1280 bytes): nobody is told of an
        // error about an error.
        let len = u32::try_from(end - off).unwrap_or(u32::MAX);
        if super::nat66::room_to_terminal(&self.topo, self.cfg.fabric, &path, len).is_some() {
            return Verdict::Drop(DropReason::Nat64TooBig);
        }
        let Some(packet) = f.bytes_mut().get_mut(off..end) else {
            return Verdict::Drop(DropReason::Ipv6Truncated);
        };
        let (outer, message) = packet.split_at_mut(upper - off);
        restore_quote(&mut message[8..], proto, &back);
        // Outer header: from the VIP to the terminal, one hop less.
        outer[7] = outer[7].saturating_sub(1);
        outer[8..24].copy_from_slice(&dst6.octets());
        outer[24..40].copy_from_slice(&client6.octets());
        // The error's checksum covers the quote: redone (rare, short).
        message[2..4].copy_from_slice(&[0, 0]);
        let c = l4_checksum_v6(dst6, client6, PROTO_ICMPV6, message);
        message[2..4].copy_from_slice(&c.to_be_bytes());
        // Only what carried the packet goes: it leaves as the replies do.
        if !super::nat66::bare_ipv6(f, ip6) {
            return Verdict::Drop(DropReason::Ipv6Truncated);
        }
        self.send_to_client(f, &path, rx.now_ms, ev)
    }
}

/// Rewrites the quoted packet `q` (the user session's packet to its
/// server, checked) back into the one the terminal sent (`back`: its
/// address and port, the VIP and port it addressed): addresses and ports,
/// the quoted checksum where the quote holds it, and the hop limit the
/// terminal gave it.
fn restore_quote(q: &mut [u8], proto: u8, back: &Ends6) {
    let at = if proto == PROTO_TCP { 16 } else { 6 };
    if q.len() >= IPV6_HEADER_LEN + at + 2 {
        // The quote holds the checksum: rewritten as a whole packet
        // would be (one hop less there, given back here). A UDP
        // checksum of 0 computed afresh only where the whole datagram is
        // quoted, as on the way out.
        let hop_limit = q[7];
        if rewrite_v6(q, IPV6_HEADER_LEN, proto, back, true) {
            q[7] = hop_limit.saturating_add(1);
        }
        return;
    }
    // Too short for the checksum: addresses and ports alone.
    if q.len() >= IPV6_HEADER_LEN + 4 {
        q[7] = q[7].saturating_add(1);
        q[8..24].copy_from_slice(&back.src.octets());
        q[24..40].copy_from_slice(&back.dst.octets());
        q[40..42].copy_from_slice(&back.src_port.to_be_bytes());
        q[42..44].copy_from_slice(&back.dst_port.to_be_bytes());
    }
}
