//! ICMPv6 errors for NAT64 user sessions (issue 14; RFC 7915 sections 4.2
//! and 4.5, RFC 6146 section 3.5.3): the errors an IPv6 terminal must get
//! for its TCP, UDP and ping through NAT64 to fail fast and for path MTU
//! discovery to work, kept out of the hot path (`nat64.rs`) in one file.
//!
//! - An ICMPv4 error from the IPv4 side (destination unreachable, time
//!   exceeded, parameter problem) quoting a packet of a NAT64 user session
//!   becomes an ICMPv6 error to the terminal, from the IPv6 address it
//!   addressed: the quoted packet's ports are restored to the terminal's
//!   (its transport checksum kept right as far as the quote reaches) and
//!   `wire::translate_4to6` maps the type and code (fragmentation needed
//!   becomes Packet Too Big with 20 more, never under IPv6's 1280) and
//!   translates the quote back into the IPv6 packet the terminal sent,
//!   the whole error within 1280 bytes. It leaves along the user
//!   session's client path as NAT64's replies do. An error RFC 7915 does
//!   not translate, a quote too short to show the ports, or one that is
//!   not the user session's packet is dropped `nat64_untranslatable_icmp`.
//! - A terminal's packet whose hop limit runs out at the gateway gets an
//!   ICMPv6 time exceeded (3/0) from the access port's IPv6 address, back
//!   the way it came, within the reply rate limit, as `ttl.rs` answers
//!   IPv4; without an IPv6 address on that port it is dropped
//!   `ttl_expired` unanswered.

use super::downlink::check_ipv4_quoted;
use super::l2::{rd16, ClientPath};
use super::parse::Ip6;
use super::{Verdict, Worker};
use crate::counters::DropReason;
use crate::event::EventSink;
use crate::frame::Frame;
use crate::wire::checksum::{self, udp_update16, update16};
use crate::wire::{
    translate_4to6, write_icmpv6_error, Icmpv6Repr, To6, V6Addrs, ETHERNET_HEADER_LEN,
    ICMPV6_PACKET_TOO_BIG, IPV6_HEADER_LEN, IPV6_MIN_MTU, PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP,
    PROTO_UDP,
};
use std::net::Ipv6Addr;

const IP: usize = ETHERNET_HEADER_LEN;
const UNTRANSLATABLE: Verdict = Verdict::Drop(DropReason::Nat64UntranslatableIcmp);

/// ICMPv6 time exceeded code: hop limit exceeded in transit.
const HOP_LIMIT_EXCEEDED: u8 = 0;

/// What the packet an error quotes must be (the user session's packet to
/// its server), and what its ports go back to.
#[derive(Clone, Copy, Debug)]
struct Quote {
    proto: u8,
    /// The gateway address and port, and the server's: the quote's
    /// source and destination.
    gw: (std::net::Ipv4Addr, u16),
    server: (std::net::Ipv4Addr, u16),
    /// The terminal's source port (echo identifier) and the port it
    /// addressed.
    client_port: u16,
    dst_port: u16,
}

impl Worker {
    /// An ICMP error from the IPv4 side about NAT64 user session `idx` (the
    /// normalised frame `f`, its IPv4 header `ihl` bytes, TTL above 1):
    /// translated into an ICMPv6 error to the terminal, see the module docs.
    #[cold]
    #[inline(never)]
    pub(super) fn icmp_error_to_nat64<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        idx: u32,
        ihl: usize,
        (now_ms, ev): (u64, &mut E),
    ) -> Verdict {
        let (Some(e), Some((client6, dst6))) = (self.gw.table.get(idx), self.gw.nat64.get(idx))
        else {
            return Verdict::Drop(DropReason::NoUserSession);
        };
        let Some(&gw_ip) = self.cfg.gateway_addrs.get(usize::from(e.gw_addr)) else {
            return Verdict::Drop(DropReason::NoUserSession);
        };
        let quote = Quote {
            proto: e.proto,
            gw: (gw_ip, e.gw_port),
            server: (e.server_ip, e.server_port),
            client_port: e.client_port,
            dst_port: e.orig_dst_port,
        };
        let path = e.client_path;
        let b = f.bytes_mut();
        let Some(end) = b.get(IP + 2..IP + 4).map(|t| IP + usize::from(rd16(t, 0))) else {
            return Verdict::Drop(DropReason::Truncated);
        };
        let Some(message) = b.get_mut(IP + ihl..end) else {
            return Verdict::Drop(DropReason::Truncated);
        };
        if message.len() < 8 {
            return UNTRANSLATABLE;
        }
        if !checksum::verifies(message) {
            return Verdict::Drop(DropReason::Nat64BadChecksum);
        }
        if restore_quote(&mut message[8..], &quote).is_none() {
            return UNTRANSLATABLE;
        }
        // The error's own checksum covers the quote: redone (rare, short).
        message[2..4].copy_from_slice(&[0, 0]);
        let c = checksum::checksum(message);
        message[2..4].copy_from_slice(&c.to_be_bytes());
        let to = To6::to_terminal(client6, dst6);
        let packet = &f.bytes()[IP..end];
        let n = match self
            .nat64_buf
            .get_mut(IP..)
            .map(|out| translate_4to6(packet, out, &to))
        {
            Some(Ok(n)) => n,
            Some(Err(e)) => return Verdict::Drop(e.into()),
            None => return Verdict::Drop(DropReason::Nat64BufferTooSmall),
        };
        let Some(out) = self.nat64_buf.get_mut(IP..IP + n) else {
            return Verdict::Drop(DropReason::Nat64BufferTooSmall);
        };
        finish_error(out, &to.outer);
        self.send_v6_to_client(f, n, &path, now_ms, ev)
    }

    /// A NAT64 terminal's packet `ip6` whose hop limit runs out here: an
    /// ICMPv6 time exceeded from the IPv6 address of the port it came in
    /// on, back along `path`, within the reply rate; else dropped
    /// `ttl_expired`. Counted under `ttl_expired` either way (and under
    /// `ttl_exceeded_sent` when answered), as `ttl.rs` does for IPv4.
    #[cold]
    #[inline(never)]
    pub(super) fn hop_limit_exceeded<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        ip6: &Ip6,
        path: &ClientPath,
        now_ms: u64,
        ev: &mut E,
    ) -> Verdict {
        const EXPIRED: Verdict = Verdict::Drop(DropReason::TtlExpired);
        let Some(&(src, _)) = self.topo.ipv6_addresses(path.port).first() else {
            return EXPIRED;
        };
        let repr = Icmpv6Repr::TimeExceeded {
            code: HOP_LIMIT_EXCEEDED,
        };
        match self.icmpv6_error_to_terminal(f, ip6, path, (src, repr), now_ms, ev) {
            Some(v @ Verdict::Forward(_)) => {
                self.counters.count_drop(DropReason::TtlExpired);
                self.counters.ttl_exceeded_sent.inc();
                v
            }
            Some(v) => v,
            None => EXPIRED,
        }
    }

    /// The ICMPv6 error `repr` from `src` about a NAT64 terminal's packet
    /// `ip6` (still in `f`), sent back along `path` within the reply rate
    /// (`send_v6_to_client`'s verdict, counted `icmp_errors_sent` when it
    /// leaves). None where no error may be sent: about an ICMPv6 error, to
    /// a non-unicast source (`write_icmpv6_error`), or over the rate.
    pub(super) fn icmpv6_error_to_terminal<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        ip6: &Ip6,
        path: &ClientPath,
        (src, repr): (Ipv6Addr, Icmpv6Repr),
        now_ms: u64,
        ev: &mut E,
    ) -> Option<Verdict> {
        let packet = f.bytes().get(usize::from(ip6.off)..usize::from(ip6.end))?;
        let out = self.nat64_buf.get_mut(IP..)?;
        let n = write_icmpv6_error(packet, out, src, repr).ok()?;
        let rate = self.snaps.policy.get().reply_rate_per_s;
        if !self.limiter.allow(now_ms, rate) {
            return None;
        }
        let verdict = self.send_v6_to_client(f, n, path, now_ms, ev);
        if matches!(verdict, Verdict::Forward(_)) {
            self.counters.icmp_errors_sent.inc();
        }
        Some(verdict)
    }
}

/// Checks that `q`, the packet an ICMP error quotes, is the user session's
/// packet `want` to its server (the start of a datagram, the ports or echo
/// identifier there) and puts the terminal's ports back, with its
/// checksum patched where the quote holds it. The addresses stay: the
/// translation replaces them and patches the checksum for them.
fn restore_quote(q: &mut [u8], want: &Quote) -> Option<()> {
    check_ipv4_quoted(q)?;
    let qihl = usize::from(q[0] & 0x0f) * 4;
    let later_fragment = rd16(q, 6) & 0x1fff != 0;
    let (src, dst) = (
        std::net::Ipv4Addr::new(q[12], q[13], q[14], q[15]),
        std::net::Ipv4Addr::new(q[16], q[17], q[18], q[19]),
    );
    if later_fragment || q[9] != want.proto || src != want.gw.0 || dst != want.server.0 {
        return None;
    }
    let l4 = q.get_mut(qihl..)?;
    if l4.len() < 8 {
        return None;
    }
    match want.proto {
        PROTO_TCP | PROTO_UDP => {
            let (sport, dport) = (rd16(l4, 0), rd16(l4, 2));
            if (sport, dport) != (want.gw.1, want.server.1) {
                return None;
            }
            l4[0..2].copy_from_slice(&want.client_port.to_be_bytes());
            l4[2..4].copy_from_slice(&want.dst_port.to_be_bytes());
            let at = if want.proto == PROTO_TCP { 16 } else { 6 };
            if l4.len() >= at + 2 {
                let c = rd16(l4, at);
                let c = if want.proto == PROTO_UDP {
                    let c = udp_update16(c, sport, want.client_port);
                    udp_update16(c, dport, want.dst_port)
                } else {
                    let c = update16(c, sport, want.client_port);
                    update16(c, dport, want.dst_port)
                };
                l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
            }
        }
        PROTO_ICMP => {
            let ident = rd16(l4, 4);
            if ident != want.gw.1 {
                return None;
            }
            l4[4..6].copy_from_slice(&want.client_port.to_be_bytes());
            let c = update16(rd16(l4, 2), ident, want.client_port);
            l4[2..4].copy_from_slice(&c.to_be_bytes());
        }
        _ => return None,
    }
    Some(())
}

/// The translated ICMPv6 error `packet` (IPv6 header, no extension
/// headers: an ICMP error is never a fragment) made ready to leave: its
/// hop limit one less for the hop through the gateway (the caller saw a
/// TTL above 1), a Packet Too Big's MTU raised to IPv6's minimum of 1280
/// (RFC 8200 section 5: no IPv6 link is smaller, so a smaller IPv4 MTU
/// is met by fragmenting after translation), and its checksum over the
/// pseudo header of `addrs` redone.
fn finish_error(packet: &mut [u8], addrs: &V6Addrs) {
    if packet.len() < IPV6_HEADER_LEN + 8 {
        return;
    }
    packet[7] = packet[7].saturating_sub(1);
    let (_, message) = packet.split_at_mut(IPV6_HEADER_LEN);
    if message[0] == ICMPV6_PACKET_TOO_BIG {
        let mtu = u32::from_be_bytes([message[4], message[5], message[6], message[7]]);
        let mtu = mtu.max(IPV6_MIN_MTU as u32);
        message[4..8].copy_from_slice(&mtu.to_be_bytes());
    }
    message[2..4].copy_from_slice(&[0, 0]);
    let c = checksum::l4_checksum_v6(addrs.src, addrs.dst, PROTO_ICMPV6, message);
    message[2..4].copy_from_slice(&c.to_be_bytes());
}
