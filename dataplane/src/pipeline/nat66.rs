//! IPv6 → IPv6 full NAT in tier 2 (issue 14, item 3): an IPv6 terminal
//! reaches a service whose `vip6` is served by IPv6 servers. The server
//! sees a gateway IPv6 address and a port unique to the user session,
//! exactly as an IPv4 server sees a gateway IPv4 address; the terminal
//! sees only the VIP it addressed.
//!
//! A NAT66 user session is a NAT64 one (`SessionFlags::NAT64`: an IPv6
//! terminal, its flow key a fold confirmed against the side array, the
//! same admission, least load, entitlement, types, limits and accounting)
//! with `SessionFlags::NAT66`: its port comes from an IPv6 gateway address
//! (`PortAllocator::alloc_v6`; those addresses take the indexes after the
//! IPv4 ones, so the reply index finds a server's reply by (address
//! index, port) as for IPv4) and its server's IPv6 address is the policy's
//! for its server index (`Worker::server_v6`: an index names one server
//! for the life of a run), so it takes no more memory than a NAT64 one.
//!
//! Both ways the packet keeps its version and length: the addresses,
//! ports and hop limit are rewritten where they lie and the upper-layer
//! checksum is updated incrementally (RFC 1624; the pseudo header holds
//! both addresses). Nothing needs more room, so no Packet Too Big is
//! owed unless the port toward the terminal adds a tunnel: then the
//! server gets one from the gateway IPv6 address (`room_to_terminal`). Fragments follow their user session both
//! ways: the first piece carries the ports, later pieces get their
//! addresses rewritten. ICMPv6 errors from the server side about a user
//! session's packet go back to its terminal (`nat66_icmp.rs`). A SYN's
//! MSS is clamped and a DSCP set both ways as for IPv4 (`marks.rs`).

use super::l2::ClientPath;
use super::parse::{l4_info_v6, Ip6, L4Info};
use super::steer::{Ingress, Rx};
use super::{Verdict, Worker};
use crate::counters::DropReason;
use crate::event::{Event, EventSink};
use crate::frame::Frame;
use crate::tier2::fragment_table::Follow;
use crate::tier2::user_sessions::SessionFlags;
use crate::tier2::{try_owner_core, Direction, FragmentKey};
use crate::wire::checksum::{l4_checksum_v6, udp_wire_value, update_sum};
use crate::wire::{
    write_packet_too_big, Ipv6Packet, ETHERNET_HEADER_LEN, ETHERTYPE_IPV6, PROTO_ICMPV6, PROTO_TCP,
    PROTO_UDP,
};
use std::net::Ipv6Addr;

const IP: usize = ETHERNET_HEADER_LEN;

/// The new ends of an IPv6 packet: source and destination address and
/// port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Ends6 {
    pub src: Ipv6Addr,
    pub src_port: u16,
    pub dst: Ipv6Addr,
    pub dst_port: u16,
}

/// Rewrites the IPv6 packet `packet` (starting at its fixed header; its
/// upper-layer header at `upper`, of protocol `proto`) to `to`, one hop
/// less, its checksum updated for the new pseudo header and ports.
/// `ports`: whether the upper-layer header is there (false for a
/// fragment that is not the first: only its addresses change, the
/// checksum lives in the first). A UDP checksum of 0 (not allowed over
/// IPv6, but seen) is computed from scratch when the whole datagram is
/// here. Returns false, changing nothing, when the packet is too short.
pub(super) fn rewrite_v6(
    packet: &mut [u8],
    upper: usize,
    proto: u8,
    to: &Ends6,
    ports: bool,
) -> bool {
    let Some((header, rest)) = packet.split_first_chunk_mut::<40>() else {
        return false;
    };
    // The transport header (its ports and checksum), when there is one.
    let at = match proto {
        PROTO_TCP => 16,
        PROTO_UDP => 6,
        _ => 0,
    };
    let l4 = match upper.checked_sub(40).and_then(|u| rest.get_mut(u..)) {
        Some(l4) if !ports || at == 0 || l4.len() >= at + 2 => l4,
        _ => return false,
    };
    // Hop limit; the addresses summed where they lie and replaced. The
    // sums are of words in memory order: a one's-complement sum does not
    // depend on byte order (RFC 1071 2.B), so the checksum is read,
    // updated and written back in that order too, with no byte swaps.
    header[7] = header[7].saturating_sub(1);
    let Some((_, addrs)) = header.split_last_chunk_mut::<32>() else {
        return false;
    };
    let (src, dst) = (to.src.octets(), to.dst.octets());
    let old = words(addrs);
    addrs[..16].copy_from_slice(&src);
    addrs[16..].copy_from_slice(&dst);
    if !ports || at == 0 {
        return true;
    }
    let new_sum = words(addrs)
        + u64::from(u16::from_ne_bytes(to.src_port.to_be_bytes()))
        + u64::from(u16::from_ne_bytes(to.dst_port.to_be_bytes()));
    let (csum, ports_old) = (
        u16::from_ne_bytes([l4[at], l4[at + 1]]),
        u64::from(u16::from_ne_bytes([l4[0], l4[1]]))
            + u64::from(u16::from_ne_bytes([l4[2], l4[3]])),
    );
    l4[0..2].copy_from_slice(&to.src_port.to_be_bytes());
    l4[2..4].copy_from_slice(&to.dst_port.to_be_bytes());
    let new = if proto == PROTO_UDP && csum == 0 {
        // Only a whole datagram can be summed: a first fragment keeps 0.
        if l4.len() != usize::from(u16::from_be_bytes([l4[4], l4[5]])) {
            return true;
        }
        udp_wire_value(l4_checksum_v6(to.src, to.dst, proto, l4)).to_be_bytes()
    } else {
        // 0 and 0xffff read the same in either order.
        let c = update_sum(csum, fold(old + ports_old), fold(new_sum));
        if proto == PROTO_UDP {
            udp_wire_value(c).to_ne_bytes()
        } else {
            c.to_ne_bytes()
        }
    };
    l4[at..at + 2].copy_from_slice(&new);
    true
}

/// The unfolded one's-complement sum of the 16-bit words of `b`, in
/// memory order: its 32-bit words added (2^16 ≡ 1 modulo 0xffff).
#[inline(always)]
fn words<const N: usize>(b: &[u8; N]) -> u64 {
    let (chunks, _) = b.as_chunks::<8>();
    chunks.iter().fold(0, |sum, c| {
        let w = u64::from_ne_bytes(*c);
        sum + (w & 0xffff_ffff) + (w >> 32)
    })
}

/// `sum` (below 2^40: a few dozen 32-bit words) folded to 16 bits, in a
/// fixed number of steps.
#[inline(always)]
fn fold(sum: u64) -> u16 {
    let s = (sum & 0xffff_ffff) + (sum >> 32);
    let s = (s & 0xffff) + (s >> 16);
    let s = (s & 0xffff) + (s >> 16);
    ((s & 0xffff) + (s >> 16)) as u16
}

/// Leaves in `f` an Ethernet header (MACs written on the way out) and the
/// IPv6 packet `ip6`: whatever carried it (a VLAN tag, a GTP-U tunnel, a
/// Geneve header) goes, and so does padding after it.
pub(super) fn bare_ipv6<F: Frame>(f: &mut F, ip6: &Ip6) -> bool {
    let (off, end) = (usize::from(ip6.off), usize::from(ip6.end));
    let Some(tail) = f.len().checked_sub(end) else {
        return false;
    };
    if off < IP || (tail != 0 && !f.trim(tail)) {
        return false;
    }
    // An untagged IPv6 frame (the common case) is already bare.
    if off != IP {
        if !f.adj(off - IP) {
            return false;
        }
        f.bytes_mut()[12..14].copy_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
    }
    true
}

impl Worker {
    /// The gateway address index when the IPv6 packet `ip6` of `f`,
    /// received on `port`, is addressed to a gateway IPv6 address there.
    #[inline]
    pub(super) fn gateway_v6_of<F: Frame>(&self, f: &F, port: u16, ip6: &Ip6) -> Option<u8> {
        if self.cfg.gateway_addrs6.is_empty() {
            return None;
        }
        let header = f.bytes().get(usize::from(ip6.off)..)?;
        let dst = Ipv6Packet::new_checked(header).ok()?.dst();
        self.topo.gateway_v6(port, dst)
    }

    /// The address of IPv6 server number `server_index` (server indexes
    /// name one server for the life of a run, `policy::services`; a
    /// reload keeps an IPv6 server's index by its address).
    #[inline]
    pub(super) fn server_v6(&self, server_index: u32) -> Option<Ipv6Addr> {
        self.snaps
            .policy
            .get()
            .services
            .servers
            .get(server_index as usize)?
            .addr6
    }

    /// The gateway IPv6 address of address index `gw_addr`.
    #[inline]
    pub(super) fn gateway_v6(&self, gw_addr: u8) -> Option<Ipv6Addr> {
        let n6 = self.cfg.gateway_addrs6.len();
        let first = self.cfg.gateway_addrs.len() - n6;
        usize::from(gw_addr)
            .checked_sub(first)
            .and_then(|i| self.cfg.gateway_addrs6.get(i))
            .copied()
    }

    /// Uplink tail of an IPv6 → IPv6 user session (`uplink_v6` found or
    /// opened it at slab index `idx` and tracked the packet): to its
    /// server from the gateway IPv6 address and port.
    #[inline(never)]
    pub(super) fn uplink_nat66<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        ip6: &Ip6,
        (idx, l4): (u32, &L4Info),
        client_port: u16,
        now_ms: u64,
        ev: &mut E,
    ) -> Verdict {
        let dscp = self.session_dscp(idx);
        let Some(e) = self.gw.table.get(idx) else {
            return Verdict::Drop(DropReason::NoUserSession);
        };
        let (gw_addr, gw_port, server_port, server_index) =
            (e.gw_addr, e.gw_port, e.server_port, e.server_index);
        let (Some(gateway), Some(server)) =
            (self.gateway_v6(gw_addr), self.server_v6(server_index))
        else {
            return Verdict::Drop(DropReason::NoUserSession);
        };
        let to = Ends6 {
            src: gateway,
            src_port: gw_port,
            dst: server,
            dst_port: server_port,
        };
        if !self.rewrite_in_frame(f, ip6, l4.proto, &to, true) {
            return Verdict::Drop(DropReason::Ipv6Truncated);
        }
        // MSS clamp and DSCP (marks.rs).
        let l4_off = IP + usize::from(ip6.upper - ip6.off);
        self.mark_at(f.bytes_mut(), l4_off, l4, client_port, dscp);
        self.send_to_server_v6(f, (server, server_index), now_ms, ev)
    }

    /// A later fragment of an IPv6 → IPv6 user session's datagram
    /// (`uplink_fragment_v6` found the session at `idx`): its addresses
    /// rewritten, to the server.
    pub(super) fn uplink_later_fragment_nat66<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        ip6: &Ip6,
        idx: u32,
        now_ms: u64,
        ev: &mut E,
    ) -> Verdict {
        let Some(e) = self.gw.table.get(idx) else {
            return Verdict::Drop(DropReason::FragmentNoFirst);
        };
        let (gw_addr, server_port, server_index) = (e.gw_addr, e.server_port, e.server_index);
        let (Some(gateway), Some(server)) =
            (self.gateway_v6(gw_addr), self.server_v6(server_index))
        else {
            return Verdict::Drop(DropReason::FragmentNoFirst);
        };
        let to = Ends6 {
            src: gateway,
            src_port: 0,
            dst: server,
            dst_port: server_port,
        };
        if !self.rewrite_in_frame(f, ip6, ip6.proto, &to, false) {
            return Verdict::Drop(DropReason::Ipv6Truncated);
        }
        self.send_to_server_v6(f, (server, server_index), now_ms, ev)
    }

    /// Strips what carried `ip6` and rewrites it to `to` (see
    /// [`rewrite_v6`]).
    fn rewrite_in_frame<F: Frame>(
        &mut self,
        f: &mut F,
        ip6: &Ip6,
        proto: u8,
        to: &Ends6,
        ports: bool,
    ) -> bool {
        let upper = usize::from(ip6.upper - ip6.off);
        if !bare_ipv6(f, ip6) {
            return false;
        }
        let n = usize::from(ip6.end - ip6.off);
        match f.bytes_mut().get_mut(IP..IP + n) {
            Some(packet) => rewrite_v6(packet, upper, proto, to, ports),
            None => false,
        }
    }

    /// Sets the Ethernet header toward IPv6 server `server` (server number
    /// `server_index`) and picks the port: its connected network, or a
    /// static IPv6 route. The answer is kept per server in
    /// `Gateway::server_hops` as for an IPv4 server (valid while the
    /// neighbour snapshot is the same; an IPv6 server's entry is keyed by
    /// a 32-bit fold of its address, its index naming one address for the
    /// life of a run). An unknown neighbour is reported to the control
    /// plane (which solicits it), at most once per 100 ms per address, and
    /// the packet waits in the worker's hold queue (`Verdict::HoldV6`) as
    /// an IPv4 packet waits for ARP.
    pub(super) fn send_to_server_v6<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        (server, server_index): (Ipv6Addr, u32),
        now_ms: u64,
        ev: &mut E,
    ) -> Verdict {
        let generation = self.snaps.neighbours.generation();
        let token = fold_v6(server);
        let slot = server_index as usize;
        if let Some(hop) = self.gw.server_hops.get(slot) {
            if hop.generation == generation && hop.server == token {
                super::l2::set_macs(f.bytes_mut(), hop.mac, self.topo.mac(hop.port));
                self.counters.tx_packets.inc();
                self.counters.tx_bytes.add(f.len() as u64);
                return Verdict::Forward(hop.port);
            }
        }
        let Some(hop) = self.topo.route_v6(server) else {
            return Verdict::Drop(DropReason::NoRoute);
        };
        let Some(mac) = self.snaps.neighbours.get().get_v6(hop.port, hop.ip) else {
            // The miss cache is keyed by IPv4 address: a fold of the IPv6
            // one (a collision only delays a report by 100 ms).
            let token = fold_v6(hop.ip);
            let at = (u32::from(token) as usize) % self.miss_cache.len();
            let (ip, when) = self.miss_cache[at];
            if ip != token || now_ms.saturating_sub(when) >= 100 {
                self.miss_cache[at] = (token, now_ms);
                self.emit(
                    ev,
                    Event::NeighbourMissV6 {
                        port: hop.port,
                        ip: hop.ip,
                    },
                );
            }
            return Verdict::HoldV6 {
                port: hop.port,
                server: server_index,
            };
        };
        if let Some(entry) = self.gw.server_hops.get_mut(slot) {
            *entry = super::ServerHop {
                generation,
                server: token,
                port: hop.port,
                mac,
            };
        }
        super::l2::set_macs(f.bytes_mut(), mac, self.topo.mac(hop.port));
        self.counters.tx_packets.inc();
        self.counters.tx_bytes.add(f.len() as u64);
        Verdict::Forward(hop.port)
    }

    /// Tier 2 for an IPv6 packet from the server or external side to
    /// gateway IPv6 address number `gw_addr`: a server's reply to an IPv6
    /// → IPv6 user session, rewritten back (from the VIP the terminal
    /// addressed, to the terminal) and sent along the terminal's path.
    #[inline(never)]
    pub(super) fn downlink_v6<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        rx: &Rx,
        ip6: &Ip6,
        gw_addr: u8,
        ev: &mut E,
    ) -> Verdict {
        let now_ms = rx.now_ms;
        let b = f.bytes();
        let Some(header) = b.get(usize::from(ip6.off)..) else {
            return Verdict::Drop(DropReason::Ipv6Truncated);
        };
        let header = Ipv6Packet::new_unchecked(header);
        let (src, dst, hop_limit) = (header.src(), header.dst(), header.hop_limit());
        if hop_limit <= 1 {
            return Verdict::Drop(DropReason::TtlExpired);
        }
        if ip6.proto == PROTO_ICMPV6 && !ip6.fragment {
            // An error about a packet sent to a server (nat66_icmp.rs).
            return self.icmpv6_error_to_nat66(f, rx, ip6, gw_addr, ev);
        }
        let first = if ip6.fragment {
            match self.downlink_fragment_v6(f, rx, ip6, (src, dst), ev) {
                Ok(key) => Some(key),
                Err(v) => return v,
            }
        } else {
            None
        };
        let l4 = match l4_info_v6(f.bytes(), ip6) {
            Ok(l4) if matches!(l4.proto, PROTO_TCP | PROTO_UDP) => l4,
            Ok(_) => return Verdict::Drop(DropReason::UnsupportedProtocol),
            Err(r) => return Verdict::Drop(r),
        };
        if l4.proto == PROTO_TCP
            && self
                .cfg
                .probe_ports
                .is_some_and(|(plo, phi)| (plo..=phi).contains(&l4.dst_port))
        {
            // An IPv6 server's answer to a health probe.
            let answer = super::probe_reply::ProbeAnswer {
                port: l4.src_port,
                probe_port: l4.dst_port,
                ok: l4.flags.syn() && l4.flags.ack(),
                seq: l4.seg.seq,
                ack: l4.seg.ack,
            };
            return self.probe_reply(src.into(), answer, ev);
        }
        // The gateway port names the worker that owns the user session;
        // a first fragment leaves the way for its later pieces here.
        let (lo, hi) = self.cfg.port_range;
        let Some(owner) = try_owner_core(l4.dst_port, lo, hi, self.cfg.n_workers) else {
            return Verdict::Drop(DropReason::NoUserSession);
        };
        if owner != self.cfg.index && rx.ingress == Ingress::Port {
            if let Some(key) = first {
                if self
                    .gw
                    .fragments
                    .open(key, Follow::Worker(owner), now_ms)
                    .is_err()
                {
                    return Verdict::Drop(DropReason::FragmentTableFull);
                }
            }
            return Verdict::Handoff(owner);
        }
        let Some(idx) = self.gw.table.find_reply(gw_addr, l4.dst_port) else {
            return Verdict::Drop(DropReason::NoUserSession);
        };
        let ip_len = u32::from(ip6.end - ip6.off);
        let ends = self.gw.nat64.get(idx);
        let server_index = match self.gw.table.get(idx) {
            Some(e) => e.server_index,
            None => return Verdict::Drop(DropReason::NoUserSession),
        };
        let from_server = self.server_v6(server_index) == Some(src);
        let Some(e) = self.gw.table.get_mut(idx) else {
            return Verdict::Drop(DropReason::NoUserSession);
        };
        let Some((client6, dst6)) = ends else {
            return Verdict::Drop(DropReason::NoUserSession);
        };
        if !e.flags.contains(SessionFlags::NAT66)
            || e.proto != l4.proto
            || !from_server
            || e.server_port != l4.src_port
        {
            return Verdict::Drop(DropReason::ReplyMismatch);
        }
        if let Some(room) = room_to_terminal(&self.topo, self.cfg.fabric, &e.client_path, ip_len) {
            return self.nat66_too_big_from_server(f, rx, gw_addr, room);
        }
        let (orig_dst_port, client_port, path) =
            match self.track_reply(idx, &l4, ip_len, now_ms, ev) {
                Ok(ends) => ends,
                Err(v) => return v,
            };
        let to = Ends6 {
            src: dst6,
            src_port: orig_dst_port,
            dst: client6,
            dst_port: client_port,
        };
        if first.is_some() {
            if let Err(r) = self.open_fragment(first, idx, now_ms) {
                return Verdict::Drop(r);
            }
        }
        if !self.rewrite_in_frame(f, ip6, l4.proto, &to, true) {
            return Verdict::Drop(DropReason::Ipv6Truncated);
        }
        // MSS clamp and DSCP (marks.rs), on a GTP-U outer header too.
        let dscp = self.session_dscp(idx);
        let l4_off = IP + usize::from(ip6.upper - ip6.off);
        self.mark_at(f.bytes_mut(), l4_off, &l4, path.port, dscp);
        let verdict = self.send_to_client(f, &path, now_ms, ev);
        self.mark_tunnel_of(f, &path, dscp, verdict)
    }

    /// A server's packet too big for the terminal's port (its tunnel
    /// added): an ICMPv6 Packet Too Big (RFC 4443 3.2) back to the server
    /// from the gateway IPv6 address it sent to, with the largest packet
    /// that fits (at least 1280), within `reply_rate_per_s` (beyond it
    /// `rate_limited`); counted `nat64_too_big` either way.
    #[cold]
    #[inline(never)]
    fn nat66_too_big_from_server<F: Frame>(
        &mut self,
        f: &mut F,
        rx: &Rx,
        gw_addr: u8,
        room: u16,
    ) -> Verdict {
        const TOO_BIG: Verdict = Verdict::Drop(DropReason::Nat64TooBig);
        let Some(gateway) = self.gateway_v6(gw_addr) else {
            return TOO_BIG;
        };
        let mtu = u32::from(room).max(crate::wire::IPV6_MIN_MTU as u32);
        let Some(out) = self.nat64_buf.get_mut(..) else {
            return TOO_BIG;
        };
        let Ok(n) = write_packet_too_big(f.bytes(), out, gateway, mtu) else {
            return TOO_BIG;
        };
        let rate = self.snaps.policy.get().reply_rate_per_s;
        if !self.limiter.allow(rx.now_ms, rate) {
            return Verdict::Drop(DropReason::RateLimited);
        }
        if !super::own_addresses::replace_contents(f, &self.nat64_buf[..n]) {
            return TOO_BIG;
        }
        // From this port's own MAC, whatever the frame was sent to.
        f.bytes_mut()[6..12].copy_from_slice(&self.topo.mac(rx.port));
        self.counters.count_drop(DropReason::Nat64TooBig);
        self.counters.icmp_errors_sent.inc();
        self.counters.tx_packets.inc();
        self.counters.tx_bytes.add(f.len() as u64);
        Verdict::Forward(rx.port)
    }

    /// A server's IPv6 fragment to a gateway IPv6 address: a first piece
    /// gives the key its datagram is followed by (Ok); a later one follows
    /// its first to the user session and is sent here (Err, the verdict).
    #[cold]
    #[inline(never)]
    fn downlink_fragment_v6<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        rx: &Rx,
        ip6: &Ip6,
        (src, dst): (Ipv6Addr, Ipv6Addr),
        ev: &mut E,
    ) -> Result<FragmentKey, Verdict> {
        if !self.follows_fragments() {
            return Err(Verdict::Drop(DropReason::Fragment));
        }
        let Some((frag, next)) = super::nat64_fragments::fragment_header(f.bytes(), ip6) else {
            return Err(Verdict::Drop(DropReason::Ipv6BadExtensionHeader));
        };
        let key = FragmentKey::v6(src, dst, next, frag.ident, false);
        if frag.is_first() {
            return Ok(key);
        }
        let follow = match self.follow_fragment(&key, !frag.more, rx.now_ms) {
            Ok(Follow::Worker(w)) if w != self.cfg.index && rx.ingress == Ingress::Port => {
                return Err(Verdict::Handoff(w))
            }
            Ok(follow) => follow,
            Err(r) => return Err(Verdict::Drop(r)),
        };
        let Some(idx) = self.followed_session(follow) else {
            return Err(Verdict::Drop(DropReason::FragmentNoFirst));
        };
        let ends = self.gw.nat64.get(idx);
        let Some(e) = self.gw.table.get_mut(idx) else {
            return Err(Verdict::Drop(DropReason::FragmentNoFirst));
        };
        let (Some((client6, dst6)), true) = (ends, e.flags.contains(SessionFlags::NAT66)) else {
            return Err(Verdict::Drop(DropReason::FragmentNoFirst));
        };
        let ip_len = u32::from(ip6.end - ip6.off);
        e.count(Direction::ToClient, ip_len);
        let path = e.client_path;
        if room_to_terminal(&self.topo, self.cfg.fabric, &path, ip_len).is_some() {
            // A later piece: its first was let through, so this one was
            // cut by the server to the same size; a tunnel's overhead on
            // the last piece alone is dropped (the first told nobody).
            return Err(Verdict::Drop(DropReason::Nat64TooBig));
        }
        let to = Ends6 {
            src: dst6,
            src_port: 0,
            dst: client6,
            dst_port: 0,
        };
        if !self.rewrite_in_frame(f, ip6, next, &to, false) {
            return Err(Verdict::Drop(DropReason::Ipv6Truncated));
        }
        Err(self.send_to_client(f, &path, rx.now_ms, ev))
    }
}

/// 32 bits of an IPv6 address (the keys of IPv4-keyed caches).
#[inline]
pub(super) fn fold_v6(a: Ipv6Addr) -> std::net::Ipv4Addr {
    let bits = a.to_bits();
    std::net::Ipv4Addr::from((bits ^ (bits >> 32) ^ (bits >> 64) ^ (bits >> 96)) as u32)
}

/// None if a server's IPv6 packet of `len` bytes fits the port it leaves
/// on toward the terminal once that port's tunnel is added (a GTP-U
/// tunnel: 36 bytes); else the largest IPv6 packet that does. The fabric
/// checks its own room (`fabric.rs`).
#[inline]
pub(super) fn room_to_terminal(
    topo: &crate::topology::Topology,
    fabric: Option<super::fabric::FabricConfig>,
    path: &ClientPath,
    len: u32,
) -> Option<u16> {
    // `room_to_client` answers for an IPv4 packet that grows by `grows`:
    // an IPv6 one that does not grow is the same question.
    let total = u16::try_from(len).unwrap_or(u16::MAX);
    super::nat64_mtu::room_to_client(topo, fabric, path, (total, 0))
}
