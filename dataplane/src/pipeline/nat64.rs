//! NAT64 in tier 2 (issue 14): IPv6 terminals reach IPv4 servers, stateful
//! as RFC 6146, headers translated as RFC 7915 (`wire::nat64`).
//!
//! Two kinds of IPv6 destination open a NAT64 user session: a service's
//! IPv6 VIP (its servers are IPv4: least load, entitlement, types as for
//! an IPv4 VIP), and an address inside the configured NAT64 prefix (RFC
//! 6052, `64:ff9b::/96` by default), which stands for the IPv4 host it
//! embeds (an IPv4 VIP, or an external host under the external
//! entitlement, exactly as if the terminal had addressed it over IPv4).
//!
//! A NAT64 user session is an ordinary `UserSession` (128 bytes) with
//! `SessionFlags::NAT64`: the same port allocator (a unique port per
//! gateway address exactly as for IPv4), reply index, timers, accounting.
//! What does not fit in it, the terminal's IPv6 address and the IPv6
//! destination it addressed, lives in a side array of 32 bytes per slab
//! index ([`Side`]), allocated only when the config has NAT64. The flow
//! index is keyed by a fold of the IPv6 5-tuple ([`v6_key`]): 32 bits of
//! the source, 24 of the destination in `0.0.0.0/8` (a destination no
//! IPv4 flow may have: the IPv4 uplink drops it `no_route`, so the two
//! kinds of key never meet), the ports and protocol; a found slot is
//! confirmed against the side entry, so a fold that collides is never
//! another terminal's session. A flow whose key another flow holds goes
//! under its alternate key ([`v6_key_alt`], other seeds), looked up only
//! when the first key misses or is another's; only a flow both of whose
//! keys are held by others is refused (`nat64_key_collision`).
//!
//! Uplink: the IPv6 packet is translated into a worker-owned buffer with
//! the gateway address and the server as IPv4 addresses, the ports are
//! rewritten like an IPv4 packet's (incremental checksums), and the frame
//! becomes the IPv4 frame. Downlink: the server's IPv4 reply is found by
//! (gateway address, port) as today, its ports are rewritten back and it
//! is translated into IPv6 from the address the terminal addressed to the
//! terminal (a UDP checksum of 0 gets one computed). TCP, UDP and ICMP
//! echo ↔ ICMPv6 echo; an ICMP error about a NAT64 user session becomes
//! an ICMPv6 error to the terminal, its quote translated back, and a hop
//! limit of 1 is answered with ICMPv6 time exceeded (`nat64_icmp.rs`).
//! Over the cluster fabric the terminal's IPv6 frame arrives inside
//! Geneve (`fabric::fabric_in_v6`) and its client path is the tier-1
//! unit, as for IPv4. Inside a G-PDU (tier 1 steered it by its TEID) the
//! terminal's IPv6 packet is read after the tunnel header
//! (`uplink_gtp_v6`) and the answers go back in its tunnel. Fragments
//! follow their user session both ways (`nat64_fragments.rs`). Not on
//! this path: SYN proxy and PROXY protocol (a NAT64 user session is never
//! proxied).

use super::l2::ClientPath;
use super::nat::{rewrite, Rewrite};
use super::nat64_mtu::{split_for, Split};
use super::own_addresses::replace_contents;
use super::parse::{gtp_inner, ipv6_at, l4_info_v6, Ip, Ip6, L4Info};
use super::steer::Rx;
use super::uplink::Opening;
use super::{Verdict, Worker};
use crate::counters::DropReason;
use crate::event::{Event, EventSink, Ipv6Ends};
use crate::frame::Frame;
use crate::hash::{hash_u64, mix64};
use crate::tier1::SessionId;
use crate::tier2::user_sessions::SessionFlags;
use crate::tier2::{Direction, FlowKey, FlowState, FragmentKey, GtpTunnel, PathChange, TcpState};
use crate::wire::{
    translate_4to6, translate_4to6_in_place, translate_6to4, translate_6to4_in_place, Ipv6Packet,
    Nat64Prefix, To4, To6, ETHERNET_HEADER_LEN, ETHERTYPE_IPV4, ETHERTYPE_IPV6, IPV6_HEADER_LEN,
    NAT64_SHRINK, PROTO_TCP, PROTO_UDP,
};
use std::net::{Ipv4Addr, Ipv6Addr};

const IP: usize = ETHERNET_HEADER_LEN;

/// Room for one translated frame: Ethernet and the largest packet a
/// single-segment mbuf carries, plus the 20 bytes IPv6 adds.
pub const BUFFER_LEN: usize = 16 * 1024;

/// Seeds of the folds that make an IPv6 flow's key, and of its alternate
/// key (used when another flow holds the first: see [`v6_key_alt`]).
const CLIENT_SEED: u64 = 0x6e61_7436_345f_6331;
const DST_SEED: u64 = 0x6e61_7436_345f_6473;
const CLIENT_SEED_ALT: u64 = 0x6e61_7436_345f_6132;
const DST_SEED_ALT: u64 = 0x6e61_7436_345f_6164;

/// A worker's NAT64 settings (`None` in `WorkerConfig::nat64`: no NAT64,
/// IPv6 terminals end `ipv6_not_served` on their gateway).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Nat64Config {
    /// Destinations inside this prefix are the IPv4 hosts they embed;
    /// `None`: only services' IPv6 VIPs are translated.
    pub prefix: Option<Nat64Prefix>,
}

/// The IPv6 addresses of each NAT64 user session, by slab index: the
/// terminal's (16 bytes) and the one it addressed (16 bytes).
#[derive(Debug, Default)]
pub(super) struct Side {
    addrs: Box<[SideEntry]>,
}

/// One entry of [`Side`], aligned to its size so that it never straddles
/// two cache lines (at the allocator's 16-byte alignment half of them did).
#[derive(Clone, Copy, Debug)]
#[repr(align(32))]
struct SideEntry([u8; 32]);

impl Side {
    /// One entry per slab slot when NAT64 is `on`, none otherwise.
    pub fn new(capacity: u32, on: bool) -> Side {
        let n = if on { capacity as usize } else { 0 };
        Side {
            addrs: vec![SideEntry([0u8; 32]); n].into_boxed_slice(),
        }
    }
    fn set(&mut self, idx: u32, client: Ipv6Addr, dst: Ipv6Addr) {
        if let Some(SideEntry(slot)) = self.addrs.get_mut(idx as usize) {
            slot[..16].copy_from_slice(&client.octets());
            slot[16..].copy_from_slice(&dst.octets());
        }
    }

    /// The entry of slab index `idx` (for the prefetch pass).
    #[inline]
    pub fn entry(&self, idx: u32) -> Option<&[u8; 32]> {
        self.addrs.get(idx as usize).map(|entry| &entry.0)
    }

    /// (terminal, destination) of slab index `idx`.
    pub fn get(&self, idx: u32) -> Option<(Ipv6Addr, Ipv6Addr)> {
        let slot = self.entry(idx)?;
        let mut client = [0u8; 16];
        let mut dst = [0u8; 16];
        client.copy_from_slice(&slot[..16]);
        dst.copy_from_slice(&slot[16..]);
        Some((Ipv6Addr::from(client), Ipv6Addr::from(dst)))
    }

    fn holds(&self, idx: u32, client: Ipv6Addr, dst: Ipv6Addr) -> bool {
        self.entry(idx)
            .is_some_and(|slot| slot[..16] == client.octets() && slot[16..] == dst.octets())
    }
}

/// The IPv6 flow a new user session is opened for.
#[derive(Clone, Copy, Debug)]
pub(super) struct V6Opening {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    /// `Some(dst)` when `dst` is a service's IPv6 VIP.
    pub vip: Option<Ipv6Addr>,
    /// The IPv4 host a NAT64-prefix destination embeds (unspecified for
    /// a VIP).
    pub dst4: Ipv4Addr,
}

/// 64 bits of an IPv6 address under `seed`.
#[inline]
fn fold(a: Ipv6Addr, seed: u64) -> u64 {
    let bits = a.to_bits();
    hash_u64((bits >> 64) as u64 ^ mix64(bits as u64 ^ seed), seed)
}

/// The flow-index key of an IPv6 flow (see the module docs).
#[inline]
pub(super) fn v6_key(proto: u8, src: Ipv6Addr, sport: u16, dst: Ipv6Addr, dport: u16) -> FlowKey {
    folded_key((proto, sport, dport), src, dst, (CLIENT_SEED, DST_SEED))
}

/// The alternate key of an IPv6 flow: its folds under other seeds. A flow
/// whose [`v6_key`] another flow's user session holds (two 5-tuples that
/// fold alike: among 125k terminals with the same ports and destination,
/// a pair is likely) is kept under this one, so both flows are served.
#[inline]
pub(super) fn v6_key_alt(
    proto: u8,
    src: Ipv6Addr,
    sport: u16,
    dst: Ipv6Addr,
    dport: u16,
) -> FlowKey {
    folded_key(
        (proto, sport, dport),
        src,
        dst,
        (CLIENT_SEED_ALT, DST_SEED_ALT),
    )
}

#[inline]
fn folded_key(
    (proto, sport, dport): (u8, u16, u16),
    src: Ipv6Addr,
    dst: Ipv6Addr,
    (client_seed, dst_seed): (u64, u64),
) -> FlowKey {
    FlowKey {
        proto,
        client_ip: Ipv4Addr::from(fold(src, client_seed) as u32),
        client_port: sport,
        dst_ip: Ipv4Addr::from(fold(dst, dst_seed) as u32 & 0x00ff_ffff),
        dst_port: dport,
    }
}

/// Whether an IPv4 terminal's destination is one of the keys NAT64 user
/// sessions use (`0.0.0.0/8`, "this network": never a destination).
#[inline(always)]
pub(super) fn is_nat64_key_space(dst: Ipv4Addr) -> bool {
    dst.octets()[0] == 0
}

impl Worker {
    /// Whether the user session at slab index `i` is the NAT64 or NAT66
    /// one of this IPv6 flow: its terminal and destination addresses (the
    /// side array), its protocol and ports.
    #[inline]
    fn holds_flow_v6(&self, i: u32, l4: &L4Info, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        self.gw.table.get(i).is_some_and(|e| {
            e.flags.contains(SessionFlags::NAT64)
                && e.proto == l4.proto
                && e.client_port == l4.src_port
                && e.orig_dst_port == l4.dst_port
        }) && self.gw.nat64.holds(i, src, dst)
    }

    /// What an IPv6 terminal's destination `dst` is to this gateway: an
    /// address inside the NAT64 prefix (`(None, the IPv4 host)`), a
    /// service's IPv6 VIP (`(Some(dst), unspecified)`), or nothing it
    /// serves (`None`). Asked when a user session opens, not of every
    /// packet of an open one: it was asked when the session opened.
    #[inline]
    fn served_v6(&self, nat64: Nat64Config, dst: Ipv6Addr) -> Option<(Option<Ipv6Addr>, Ipv4Addr)> {
        match nat64.prefix.and_then(|p| p.extract(dst)) {
            Some(v4) => Some((None, v4)),
            None if self.snaps.policy.get().services.is_vip6(dst) => {
                Some((Some(dst), Ipv4Addr::UNSPECIFIED))
            }
            None => None,
        }
    }

    /// Tier 2 for an IPv6 terminal's packet steered to this gateway: a
    /// NAT64 user session found or opened, the packet translated to IPv4
    /// toward its server. Without NAT64 in the config, or to a
    /// destination that is neither an IPv6 VIP nor inside the NAT64
    /// prefix: `ipv6_not_served`.
    #[inline(never)]
    pub(super) fn uplink_v6<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        rx: &Rx,
        sid: SessionId,
        ip6: &Ip6,
        ev: &mut E,
    ) -> Verdict {
        let Some(nat64) = self.cfg.nat64 else {
            return Verdict::Drop(DropReason::Ipv6NotServed);
        };
        let now_ms = rx.now_ms;
        let b = f.bytes();
        let Some(header) = b.get(usize::from(ip6.off)..) else {
            return Verdict::Drop(DropReason::Ipv6Truncated);
        };
        // Parse checked the fixed header.
        let header = Ipv6Packet::new_unchecked(header);
        let (src, dst, hop_limit) = (header.src(), header.dst(), header.hop_limit());
        let dscp = header.traffic_class() >> 2;
        // Fragments hook (nat64_fragments.rs): a later piece follows its
        // first; a first goes on with its datagram's key.
        let datagram = if ip6.fragment {
            if self.served_v6(nat64, dst).is_none() {
                return Verdict::Drop(DropReason::Ipv6NotServed);
            }
            match self.uplink_fragment_v6(f, rx, ip6, (src, dst, hop_limit), ev) {
                Ok(key) => Some(key),
                Err(v) => return v,
            }
        } else {
            None
        };
        let b = f.bytes();
        let l4 = match l4_info_v6(b, ip6) {
            Ok(l4) => l4,
            Err(r) => return Verdict::Drop(r),
        };
        let p = rx.frame;
        let path = ClientPath {
            port: rx.port,
            mac: p.l2.src_mac,
            vlan: p.l2.vlan.unwrap_or(0),
            // Over the fabric: the tier-1 unit and its access port; in a
            // G-PDU: its tunnel, as for IPv4.
            tunnel: match (rx.fabric, p.tunnel) {
                (Some(fi), _) => super::fabric::fabric_tunnel(fi.peer, fi.io_point),
                (None, Some((peer_ip, teid))) => GtpTunnel { peer_ip, teid },
                (None, None) => GtpTunnel::NONE,
            },
        };
        if hop_limit <= 1 {
            if self.served_v6(nat64, dst).is_none() {
                return Verdict::Drop(DropReason::Ipv6NotServed);
            }
            // nat64_icmp.rs: an ICMPv6 time exceeded, where it may be sent.
            return self.hop_limit_exceeded(f, ip6, &path, now_ms, ev);
        }
        // The prefetch pass folded the flow's key and named the slot its
        // bucket held (`locate_nat64`). When that slot is this flow's user
        // session (its IPv6 ends, protocol and ports), it is the one,
        // whichever of its keys it lies under, and nothing is folded here.
        // A frame handed over comes without.
        let hinted = p
            .client_candidate
            .filter(|&i| self.holds_flow_v6(i, &l4, src, dst) && !self.reuses_closed_tuple(i, &l4));
        let idx = if let Some(i) = hinted {
            i
        } else {
            let key1 = v6_key(l4.proto, src, l4.src_port, dst, l4.dst_port);
            // The prefetch pass hashed `key1` and asked for its bucket
            // (`locate_nat64`); a frame handed over comes without.
            let first = match p.client_hash {
                Some(hash) => self
                    .gw
                    .table
                    .find_client_hinted(hash, p.client_candidate, &key1),
                None => self.gw.table.find_client(&key1),
            };
            let (key, found) = match first {
                Some(i) if self.gw.nat64.holds(i, src, dst) => (key1, Some(i)),
                first => {
                    // Not under its key: under the alternate one if another
                    // flow held the first when this one opened (a fold
                    // collision), else new: under the first key if it is free.
                    let key2 = v6_key_alt(l4.proto, src, l4.src_port, dst, l4.dst_port);
                    match self.gw.table.find_client(&key2) {
                        Some(i) if self.gw.nat64.holds(i, src, dst) => (key2, Some(i)),
                        Some(_) if first.is_some() => {
                            return Verdict::Drop(DropReason::Nat64KeyCollision)
                        }
                        Some(_) => (key1, None),
                        None if first.is_some() => (key2, None),
                        None => (key1, None),
                    }
                }
            };
            let found = match found {
                Some(i) if self.reuses_closed_tuple(i, &l4) => {
                    super::expiry::remove(self, i, None, now_ms, ev);
                    None
                }
                other => other,
            };
            match found {
                Some(i) => i,
                None => {
                    // What the destination is matters only to a new user
                    // session: an open one was checked when it opened.
                    let Some((vip, dst4)) = self.served_v6(nat64, dst) else {
                        return Verdict::Drop(DropReason::Ipv6NotServed);
                    };
                    let opening = Opening {
                        key,
                        l4,
                        dscp,
                        sid,
                        path,
                        now_ms,
                        v6: Some(V6Opening {
                            src,
                            dst,
                            vip,
                            dst4,
                        }),
                    };
                    match self.create(f, &opening, ev) {
                        Ok(i) => i,
                        Err(v) => return v,
                    }
                }
            }
        };
        let ip_len = u32::from(ip6.end - ip6.off);
        let Some(e) = self.gw.table.get_mut(idx) else {
            return Verdict::Drop(DropReason::NoUserSession);
        };
        if e.flags.0 & (SessionFlags::BITRATE.0 | SessionFlags::QUOTA_ENDED.0) != 0 {
            if e.flags.contains(SessionFlags::QUOTA_ENDED) {
                return Verdict::Drop(DropReason::QuotaExhausted);
            }
            if !super::rate_limit::conforms(
                &mut self.gw.admission,
                &self.snaps.policy,
                e,
                (Direction::ToServer, ip_len),
                now_ms,
            ) {
                match super::rate_limit::over_limit_dscp(&self.snaps.policy, e) {
                    Some(d) => self.over_limit = Some((idx, d)),
                    None => return Verdict::Drop(DropReason::BitrateLimited),
                }
                self.counters.bitrate_remarked.inc();
            }
        }
        let in_window = l4.proto != PROTO_TCP || e.guard.track_tcp(Direction::ToServer, &l4.seg);
        let same_path = e.client_path == path;
        match e.guard.decide(
            l4.proto,
            same_path,
            in_window,
            now_ms.saturating_sub(e.created_ms),
        ) {
            PathChange::Same => {}
            PathChange::Moved => {
                e.client_path = path;
                self.counters.client_path_moved.inc();
            }
            PathChange::Refused => self.counters.client_path_refused.inc(),
        }
        if !in_window {
            if l4.flags.rst() || l4.flags.fin() {
                return Verdict::Drop(DropReason::TcpOutOfWindow);
            }
            e.count(Direction::ToServer, ip_len);
        } else {
            let before = e.state;
            e.on_packet(Direction::ToServer, ip_len, l4.flags, now_ms);
            if e.state != before {
                let deadline = e.deadline_ms(self.snaps.policy.get().timeouts_for(e.session_type));
                super::expiry::shorten(&mut self.gw.wheel, idx, deadline);
            }
        }
        let gateway = self.cfg.gateway_addrs[usize::from(e.gw_addr)];
        // A first fragment, about to leave, leaves the entry its later
        // pieces follow.
        let e = if datagram.is_some() {
            if let Err(r) = self.open_fragment(datagram, idx, now_ms) {
                return Verdict::Drop(r);
            }
            match self.gw.table.get_mut(idx) {
                Some(e) => e,
                None => return Verdict::Drop(DropReason::NoUserSession),
            }
        } else {
            e
        };
        if e.flags.contains(SessionFlags::NAT66) {
            // To an IPv6 server (nat66.rs).
            return self.uplink_nat66(f, ip6, (idx, &l4), rx.port, now_ms, ev);
        }
        let rw = Rewrite {
            src: gateway,
            src_port: e.gw_port,
            dst: e.server_ip,
            dst_port: e.server_port,
        };
        let (server, server_index) = (e.server_ip, e.server_index);
        let dscp = super::marks::dscp(
            self.dscp_marks,
            self.snaps.policy.get(),
            e,
            (&mut self.over_limit, idx),
        );
        let to = To4::gateway_to_server(gateway, server, rw.src_port ^ (self.nat64_ident as u16));
        self.nat64_ident = self.nat64_ident.wrapping_add(1);
        let finish = |packet: &mut [u8]| rewrite(packet, l4.ihl(), l4.proto, &rw, true);
        let hop = (server, server_index, &path);
        if let Err(v) = self.translate_to_v4(f, ip6, (&to, finish), hop, now_ms, ev) {
            return v;
        }
        self.mark(f.bytes_mut(), &l4, rx.port, dscp);
        self.send_to_server(f, server, server_index, now_ms, ev)
    }

    /// Replaces the contents of `f` with the IPv4 translation (`to`) of
    /// the terminal's IPv6 packet `ip6`, which `finish` completes (ports
    /// and TTL; it gets the IPv4 packet), ready to go to `server` (server
    /// number `server_index`). Err: the verdict instead, a drop or, when
    /// the packet is over the MTU toward the server (`nat64_mtu.rs`), a
    /// Packet Too Big back along the terminal's `path`.
    #[inline(always)]
    pub(super) fn translate_to_v4<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        ip6: &Ip6,
        (to, finish): (&To4, impl FnOnce(&mut [u8])),
        (server, server_index, path): (Ipv4Addr, u32, &ClientPath),
        now_ms: u64,
        ev: &mut E,
    ) -> Result<(), Verdict> {
        let (off, end) = (usize::from(ip6.off), usize::from(ip6.end));
        // The common case, TCP or UDP right after the fixed header, is
        // translated where it lies (wire::nat64_in_place): no copy.
        if ip6.upper == ip6.off + IPV6_HEADER_LEN as u16
            && matches!(ip6.proto, PROTO_TCP | PROTO_UDP)
        {
            let n = (end - off).saturating_sub(NAT64_SHRINK);
            if let Some(mtu4) = self.nat64_room_to_server(server, server_index, n) {
                return Err(self.nat64_too_big_from_terminal(f, ip6, path, (n, mtu4), now_ms, ev));
            }
            let Some(packet) = f.bytes_mut().get_mut(off..end) else {
                return Err(Verdict::Drop(DropReason::Ipv6Truncated));
            };
            match translate_6to4_in_place(packet, to) {
                Ok(Some(n)) => {
                    // The frame becomes an Ethernet header (its MACs are
                    // written on the way out) and the IPv4 packet.
                    let tail = f.len() - end;
                    if !f.adj(off + NAT64_SHRINK - IP) || !f.trim(tail) {
                        return Err(Verdict::Drop(DropReason::NoRoom));
                    }
                    let b = f.bytes_mut();
                    b[12..14].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
                    finish(&mut b[IP..IP + n]);
                    return Ok(());
                }
                Ok(None) => {}
                Err(e) => return Err(Verdict::Drop(e.into())),
            }
        }
        let Some(packet) = f.bytes().get(off..end) else {
            return Err(Verdict::Drop(DropReason::Ipv6Truncated));
        };
        let buf = &mut self.nat64_buf;
        let n = match buf.get_mut(IP..).map(|out| translate_6to4(packet, out, to)) {
            Some(Ok(n)) => n,
            Some(Err(e)) => return Err(Verdict::Drop(e.into())),
            None => return Err(Verdict::Drop(DropReason::Nat64BufferTooSmall)),
        };
        finish(&mut buf[IP..IP + n]);
        buf[12..14].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        // MTU hook (nat64_mtu.rs): over the MTU toward the server, the
        // terminal hears of it.
        if let Some(mtu4) = self.nat64_room_to_server(server, server_index, n) {
            return Err(self.nat64_too_big_from_terminal(f, ip6, path, (n, mtu4), now_ms, ev));
        }
        if !replace_contents(f, &self.nat64_buf[..IP + n]) {
            return Err(Verdict::Drop(DropReason::NoRoom));
        }
        Ok(())
    }

    /// Tier 2 for an IPv6 terminal's packet inside a G-PDU (tier 1 steered
    /// it by its TEID; the record says `ipv6_not_served` for its inner
    /// packet, which it does not keep): the IPv6 packet is read where the
    /// tunnel header says it starts and goes to [`Self::uplink_v6`], whose
    /// translation takes the packet alone (the outer headers go with the
    /// rest of the frame) and whose client path is the tunnel.
    #[cold]
    #[inline(never)]
    pub(super) fn uplink_gtp_v6<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        rx: &Rx,
        sid: SessionId,
        ev: &mut E,
    ) -> Verdict {
        let Ok(outer) = rx.frame.outer else {
            return Verdict::Drop(DropReason::BadGtp);
        };
        let b = f.bytes();
        let Some((_, _, at)) = gtp_inner(b, &outer) else {
            return Verdict::Drop(DropReason::BadGtp);
        };
        match ipv6_at(b, at) {
            Ok(ip6) => self.uplink_v6(f, rx, sid, &ip6, ev),
            Err(r) => Verdict::Drop(r),
        }
    }

    /// Tier 2 for a server's reply to a NAT64 user session (`downlink`
    /// found it, checked it came from its server, and sends it here on the
    /// flag): its ports rewritten back, translated into IPv6 from the
    /// address the terminal addressed, sent along the terminal's path.
    #[inline(never)]
    pub(super) fn downlink_nat64<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        rx: &Rx,
        ip: &Ip,
        (idx, first): (u32, Option<FragmentKey>),
        l4: &L4Info,
        ev: &mut E,
    ) -> Verdict {
        let now_ms = rx.now_ms;
        let ip_len = u32::from(ip.total);
        let Some((client6, dst6)) = self.gw.nat64.get(idx) else {
            return Verdict::Drop(DropReason::NoUserSession);
        };
        let Some(e) = self.gw.table.get_mut(idx) else {
            return Verdict::Drop(DropReason::NoUserSession);
        };
        // MTU hook (nat64_mtu.rs): too big for the terminal's port once
        // translated (IPv6's header, and a fragment's): with DF the server
        // hears of it, nothing is translated or counted; without, it goes
        // in two fragments (nat64_split.rs).
        let grows = if first.is_some() { 28 } else { 20 };
        let room = super::nat64_mtu::room_to_client(
            &self.topo,
            self.cfg.fabric,
            &e.client_path,
            (ip.total, grows),
        );
        let split = match room.map(|r| split_for(r, &f.bytes()[IP..])) {
            Some(Split::Tell(mtu4)) => {
                return self.nat64_too_big_from_server(f, rx, (ip.header_len(), ip.dst), mtu4)
            }
            Some(Split::Fragment(max)) => Some(max),
            None => None,
        };
        let (orig_dst_port, client_port, path) = match self.track_reply(idx, l4, ip_len, now_ms, ev)
        {
            Ok(ends) => ends,
            Err(v) => return v,
        };
        // Addresses stay (the translation replaces them): ports and TTL.
        let rw = Rewrite {
            src: ip.src,
            src_port: orig_dst_port,
            dst: ip.dst,
            dst_port: client_port,
        };
        // A first fragment (nat64_fragments.rs), about to leave, leaves
        // the entry its later pieces follow.
        if first.is_some() {
            if let Err(r) = self.open_fragment(first, idx, now_ms) {
                return Verdict::Drop(r);
            }
        }
        let b = f.bytes_mut();
        let Some(packet) = b.get_mut(IP..IP + usize::from(ip.total)) else {
            return Verdict::Drop(DropReason::Truncated);
        };
        rewrite(packet, ip.header_len(), l4.proto, &rw, false);
        // MSS clamp and DSCP (marks.rs) on the IPv4 packet: its TOS
        // becomes the traffic class.
        let dscp = self.session_dscp(idx);
        self.mark(f.bytes_mut(), l4, path.port, dscp);
        let verdict = self.send_as_v6(f, (ip.total, split), (client6, dst6), &path, now_ms, ev);
        self.mark_tunnel_of(f, &path, dscp, verdict)
    }

    /// The DSCP for a packet of user session `idx` (marks.rs), either
    /// way: without marks in the policy, one test.
    #[inline(always)]
    pub(super) fn session_dscp(&mut self, idx: u32) -> Option<u8> {
        if !self.dscp_marks {
            return None;
        }
        let e = self.gw.table.get(idx)?;
        super::marks::dscp(
            true,
            self.snaps.policy.get(),
            e,
            (&mut self.over_limit, idx),
        )
    }

    /// What every server reply to an IPv6 terminal's user session `idx`
    /// goes through before it is translated (`downlink_nat64`,
    /// `nat66::downlink_v6`): the bitrate limit (re-marked or dropped),
    /// the quota's end, the TCP window, the state and its timer, and a
    /// server's refusal of the SYN reported. Ok: the ports the terminal
    /// knows (what it addressed, its own) and its path.
    #[inline(always)]
    pub(super) fn track_reply<E: EventSink>(
        &mut self,
        idx: u32,
        l4: &L4Info,
        ip_len: u32,
        now_ms: u64,
        ev: &mut E,
    ) -> Result<(u16, u16, ClientPath), Verdict> {
        let Some(e) = self.gw.table.get_mut(idx) else {
            return Err(Verdict::Drop(DropReason::NoUserSession));
        };
        if e.flags.contains(SessionFlags::BITRATE)
            && !super::rate_limit::conforms(
                &mut self.gw.admission,
                &self.snaps.policy,
                e,
                (Direction::ToClient, ip_len),
                now_ms,
            )
        {
            match super::rate_limit::over_limit_dscp(&self.snaps.policy, e) {
                Some(d) => self.over_limit = Some((idx, d)),
                None => return Err(Verdict::Drop(DropReason::BitrateLimited)),
            }
            self.counters.bitrate_remarked.inc();
        }
        if e.flags.contains(SessionFlags::QUOTA_ENDED) {
            return Err(Verdict::Drop(DropReason::QuotaExhausted));
        }
        let in_window = l4.proto != PROTO_TCP || e.guard.track_tcp(Direction::ToClient, &l4.seg);
        if !in_window && (l4.flags.rst() || l4.flags.fin()) {
            return Err(Verdict::Drop(DropReason::TcpOutOfWindow));
        }
        let refused = in_window && l4.flags.rst() && e.state == FlowState::Tcp(TcpState::SynSent);
        let server_index = e.server_index;
        if in_window {
            let before = e.state;
            e.on_packet(Direction::ToClient, ip_len, l4.flags, now_ms);
            if e.state != before {
                let deadline = e.deadline_ms(self.snaps.policy.get().timeouts_for(e.session_type));
                super::expiry::shorten(&mut self.gw.wheel, idx, deadline);
            }
        } else {
            e.count(Direction::ToClient, ip_len);
        }
        let ends = (e.orig_dst_port, e.client_port, e.client_path);
        if refused && server_index != u32::MAX {
            self.emit(
                ev,
                Event::ServerFailure {
                    server: server_index,
                },
            );
        }
        Ok(ends)
    }

    /// Translates the IPv4 packet of `total` bytes after the Ethernet
    /// header of `f` (ports already the terminal's) into IPv6 from `dst6`
    /// to `client6` and sends it along `path`; in two fragments of at most
    /// `split` bytes when it is longer (`nat64_split.rs`).
    pub(super) fn send_as_v6<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        (total, split): (u16, Option<usize>),
        (client6, dst6): (Ipv6Addr, Ipv6Addr),
        path: &ClientPath,
        now_ms: u64,
        ev: &mut E,
    ) -> Verdict {
        let end = IP + usize::from(total);
        if f.len() < end {
            return Verdict::Drop(DropReason::Truncated);
        }
        let to = To6::to_terminal(client6, dst6);
        // The common case (wire::nat64_in_place) is translated where it
        // lies, 20 bytes of headroom taken in front: no copy.
        if split.is_none() && f.trim(f.len() - end) && f.prepend(NAT64_SHRINK) {
            if translate_4to6_in_place(&mut f.bytes_mut()[IP..], &to).is_some() {
                f.bytes_mut()[12..14].copy_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
                return self.send_to_client(f, path, now_ms, ev);
            }
            if !f.adj(NAT64_SHRINK) {
                return Verdict::Drop(DropReason::NoRoom);
            }
        }
        let Some(packet) = f.bytes().get(IP..end) else {
            return Verdict::Drop(DropReason::Truncated);
        };
        // A whole datagram's identification names its fragments.
        let ident = u32::from(u16::from_be_bytes([packet[4], packet[5]]));
        let buf = &mut self.nat64_buf;
        let n = match buf
            .get_mut(IP..)
            .map(|out| translate_4to6(packet, out, &to))
        {
            Some(Ok(n)) => n,
            Some(Err(e)) => return Verdict::Drop(e.into()),
            None => return Verdict::Drop(DropReason::Nat64BufferTooSmall),
        };
        if let Some(max) = split.filter(|&max| n > max) {
            return self.send_v6_split(f, (n, max, ident), path, now_ms, ev);
        }
        self.send_v6_to_client(f, n, path, now_ms, ev)
    }

    /// Sends the IPv6 packet of `n` bytes in the translation buffer (after
    /// the room for an Ethernet header) to the terminal along `path`
    /// (VLAN, GTP-U tunnel or fabric as `send_to_client` does): how every
    /// IPv6 packet NAT64 makes leaves, replies and ICMPv6 errors alike.
    pub(super) fn send_v6_to_client<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        n: usize,
        path: &ClientPath,
        now_ms: u64,
        ev: &mut E,
    ) -> Verdict {
        let Some(frame) = self.nat64_buf.get_mut(..IP + n) else {
            return Verdict::Drop(DropReason::Nat64BufferTooSmall);
        };
        frame[12..14].copy_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
        if !replace_contents(f, frame) {
            return Verdict::Drop(DropReason::NoRoom);
        }
        self.send_to_client(f, path, now_ms, ev)
    }

    /// The IPv6 ends of user session `e` at slab index `idx`, if it is a
    /// NAT64 one (for its accounting records).
    #[inline]
    pub fn nat64_ends(&self, idx: u32, e: &crate::tier2::UserSession) -> Option<Ipv6Ends> {
        if !e.flags.contains(SessionFlags::NAT64) {
            return None;
        }
        let (terminal, dest) = self.gw.nat64.get(idx)?;
        let post_nat = if e.flags.contains(SessionFlags::NAT66) {
            Some(crate::event::PostNat6 {
                gateway: self.gateway_v6(e.gw_addr)?,
                server: self.server_v6(e.server_index)?,
            })
        } else {
            None
        };
        Some(Ipv6Ends {
            terminal,
            dest,
            post_nat,
        })
    }

    /// Records the IPv6 addresses of a NAT64 user session just created at
    /// slab index `idx`.
    #[inline]
    pub(super) fn nat64_opened(&mut self, idx: u32, v6: &V6Opening) {
        self.gw.nat64.set(idx, v6.src, v6.dst);
    }
}
