//! IPv4 fragments follow their user session, both ways (issue 14, item 5).
//!
//! A datagram's first fragment (offset 0, MF set) carries the L4 header:
//! it goes the way of an unfragmented packet (tier 1, then `uplink` or
//! `downlink` find or open the user session and translate it, the L4
//! checksum updated incrementally: it covers the whole datagram, and the
//! addresses and ports that change are all in the first fragment and the
//! pseudo-header). Before it leaves, its datagram is recorded in the
//! worker's fragment table (`tier2::fragment_table`) under (source,
//! destination, protocol, IP ID, direction) as seen on arrival. Each later
//! fragment (offset > 0) finds that entry and gets the same address
//! rewrite, IP header only; the last (MF clear) ends it.
//!
//! Tier 1: toward servers a fragment is steered by its session ID, which
//! comes from addresses (or the TEID), never ports, so every piece reaches
//! the worker of the first. From servers the gateway port names the owning
//! worker and only the first fragment has it: the worker that received the
//! first records "hand to worker w" for the datagram in its own table and
//! later pieces follow it there (the NIC's RSS hashes fragments on
//! addresses alone, so every piece of a datagram arrives at one queue).
//!
//! Not followed (dropped `ip_fragment`, as every fragment is with
//! `max_datagrams: 0`): fragments to Tandem's own addresses and VIP pings,
//! fragmented GTP-U or fabric packets (the outer packet), ICMP errors,
//! TCP of PROXY protocol connections. Nothing is reassembled, later
//! fragments are not counted against bitrate limits (their bytes are
//! accounted), and an entry whose user session ended (or used up its
//! quota) is found dead at the next lookup (`fragment_no_first`).
//!
//! Cost on the established path: one test in `Parsed::read` (a fragment
//! is read again, out of line, by `read_fragmented`), and `steer`,
//! `uplink` and `network_in` hand fragments here; the first fragment's
//! steps inside `uplink_packet` and `downlink` are in their copies for
//! `FIRST_FRAGMENT = true` only.

use super::l2::normalize;
use super::nat::rewrite_addresses;
use super::parse::Ip;
use super::steer::{Ingress, Rx};
use super::{Verdict, Worker};
use crate::counters::DropReason;
use crate::event::EventSink;
use crate::frame::Frame;
use crate::tier1::{SessionId, SessionKeyMode};
use crate::tier2::user_sessions::SessionFlags;
use crate::tier2::{Direction, Follow, FragmentKey, Miss};
use crate::topology::{LocalAddr, Role};
use crate::wire::{ETHERNET_HEADER_LEN, ICMP_ECHO_REPLY, PROTO_ICMP, PROTO_TCP, PROTO_UDP};

const IP: usize = ETHERNET_HEADER_LEN;

/// The fragment table key of the packet `ip` of frame `b`, as it arrived.
#[inline]
fn fragment_key(b: &[u8], ip: &Ip, uplink: bool) -> FragmentKey {
    let at = ip.start() + 4;
    let ident = b
        .get(at..at + 2)
        .map_or(0, |x| u16::from_be_bytes([x[0], x[1]]));
    FragmentKey::v4(ip.src, ip.dst, ip.proto, ident, uplink)
}

impl Worker {
    /// Whether fragments are followed at all (`max_datagrams` > 0).
    #[inline]
    pub(super) fn follows_fragments(&self) -> bool {
        self.gw.fragments.enabled()
    }

    /// Tier 1 for a frame whose outer IPv4 packet is a fragment (out of
    /// line: the established path only tests `Ip::is_fragment`). Followed
    /// from terminals (not GTP-U tunnels, whose outer packet is not the
    /// terminal's) unless it is for Tandem's own address or a VIP's ping,
    /// and from servers and external hosts to a gateway address; never on
    /// the fabric.
    #[inline(never)]
    #[cold]
    pub(super) fn outer_fragment_in<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        rx: &Rx,
        role: Role,
        outer: &Ip,
        ev: &mut E,
    ) -> Verdict {
        if !self.follows_fragments() {
            return Verdict::Drop(DropReason::Fragment);
        }
        let local = self.topo.local(rx.port, outer.dst);
        match role {
            Role::Access if self.cfg.session_key != SessionKeyMode::GtpTeid => {
                // A ping to a VIP or to our own address is answered
                // whole or not at all.
                let ours = matches!(local, Some(LocalAddr::Port | LocalAddr::Gateway(_)))
                    || (outer.proto == PROTO_ICMP
                        && super::own_addresses::is_ours(self, rx.port, outer.dst));
                if ours {
                    return Verdict::Drop(DropReason::Fragment);
                }
                self.access_in(f, rx, outer, ev)
            }
            Role::Server | Role::External => match local {
                Some(LocalAddr::Gateway(addr)) => self.network_fragment_in(f, rx, outer, addr, ev),
                _ => Verdict::Drop(DropReason::Fragment),
            },
            Role::Access | Role::Fabric => Verdict::Drop(DropReason::Fragment),
        }
    }

    /// Terminal → server: a fragment, out of line (the established path
    /// only tests `Ip::is_fragment`). A later one follows its first; a
    /// first one goes the way of any packet (`uplink_packet`), which
    /// records its datagram just before its rewrite, once nothing dropped,
    /// refused or answered it.
    #[inline(never)]
    #[cold]
    pub(super) fn uplink_fragment<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        rx: &Rx,
        sid: SessionId,
        inner: &Ip,
        ev: &mut E,
    ) -> Verdict {
        if !self.follows_fragments() {
            return Verdict::Drop(DropReason::Fragment);
        }
        if inner.is_later_fragment() {
            return self.uplink_later_fragment(f, rx, inner, ev);
        }
        let key = fragment_key(f.bytes(), inner, true);
        self.uplink_packet::<true, F, E>(f, rx, sid, inner, Some(key), ev)
    }

    /// Records the datagram of a first fragment about to be translated
    /// for user session `idx` (`key`, as the fragment arrived): called by
    /// `uplink_packet` and `downlink` for a first fragment (`FIRST_FRAGMENT`,
    /// a constant: the established path's copy has no such call).
    pub(super) fn open_fragment(
        &mut self,
        key: Option<FragmentKey>,
        idx: u32,
        now_ms: u64,
    ) -> Result<(), DropReason> {
        let (Some(key), Some(e)) = (key, self.gw.table.get(idx)) else {
            return Err(DropReason::NoUserSession);
        };
        let follow = Follow::Session {
            idx,
            gw_port: e.gw_port,
            created_ms: e.created_ms,
        };
        self.gw
            .fragments
            .open(key, follow, now_ms)
            .map_err(|_| DropReason::FragmentTableFull)
    }

    /// The entry of a later fragment (`last`: MF clear), or why there is
    /// none.
    pub(super) fn follow_fragment(
        &mut self,
        key: &FragmentKey,
        last: bool,
        now_ms: u64,
    ) -> Result<Follow, DropReason> {
        if !matches!(key.proto, PROTO_TCP | PROTO_UDP | PROTO_ICMP) {
            return Err(DropReason::UnsupportedProtocol);
        }
        self.gw
            .fragments
            .follow(key, last, now_ms)
            .map_err(|m| match m {
                Miss::NoFirst => DropReason::FragmentNoFirst,
                Miss::Timeout => DropReason::FragmentTimeout,
            })
    }

    /// The user session an entry names, if the slot still holds it.
    pub(super) fn followed_session(&self, follow: Follow) -> Option<u32> {
        let Follow::Session {
            idx,
            gw_port,
            created_ms,
        } = follow
        else {
            return None;
        };
        self.gw
            .table
            .get(idx)
            .is_some_and(|e| {
                e.gw_port == gw_port
                    && e.created_ms == created_ms
                    && !e.flags.contains(SessionFlags::QUOTA_ENDED)
            })
            .then_some(idx)
    }

    /// Terminal → server: a fragment after the first (`inner`, the packet
    /// inside any tunnel). Same worker as the first (tier 1 steers by
    /// session ID).
    #[inline(never)]
    pub(super) fn uplink_later_fragment<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        rx: &Rx,
        inner: &Ip,
        ev: &mut E,
    ) -> Verdict {
        let key = fragment_key(f.bytes(), inner, true);
        let follow = match self.follow_fragment(&key, !inner.more_fragments(), rx.now_ms) {
            Ok(follow) => follow,
            Err(r) => return Verdict::Drop(r),
        };
        let Some(idx) = self.followed_session(follow) else {
            return Verdict::Drop(DropReason::FragmentNoFirst);
        };
        if !normalize(f, inner.start(), inner.total) {
            return Verdict::Drop(DropReason::Truncated);
        }
        if inner.ttl <= 1 {
            return Verdict::Drop(DropReason::TtlExpired);
        }
        let Some(e) = self.gw.table.get_mut(idx) else {
            return Verdict::Drop(DropReason::FragmentNoFirst);
        };
        e.count(Direction::ToServer, u32::from(inner.total));
        let src = self.cfg.gateway_addrs[usize::from(e.gw_addr)];
        let (server, server_index) = (e.server_ip, e.server_index);
        rewrite_addresses(&mut f.bytes_mut()[IP..], src, server);
        self.send_to_server(f, server, server_index, rx.now_ms, ev)
    }

    /// Server (or external host) → gateway address: a fragment, before
    /// any worker's user session is looked at. The first is steered by its
    /// gateway port like any packet (`downlink` records it); later ones
    /// follow the entry the first left here.
    #[inline(never)]
    pub(super) fn network_fragment_in<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        rx: &Rx,
        ip: &Ip,
        gw_addr: u8,
        ev: &mut E,
    ) -> Verdict {
        if !self.follows_fragments() {
            return Verdict::Drop(DropReason::Fragment);
        }
        if ip.is_later_fragment() {
            let key = fragment_key(f.bytes(), ip, false);
            return match self.follow_fragment(&key, !ip.more_fragments(), rx.now_ms) {
                Ok(Follow::Worker(w)) if w != self.cfg.index && rx.ingress == Ingress::Port => {
                    Verdict::Handoff(w)
                }
                Ok(follow) => match self.followed_session(follow) {
                    Some(idx) => self.downlink_later_fragment(f, rx, ip, idx, ev),
                    None => Verdict::Drop(DropReason::FragmentNoFirst),
                },
                Err(r) => Verdict::Drop(r),
            };
        }
        let l4 = match rx.frame.l4 {
            Ok(l4) => l4,
            Err(r) => return Verdict::Drop(r),
        };
        let port = match l4.proto {
            PROTO_TCP | PROTO_UDP => l4.dst_port,
            // An echo reply's identifier is the gateway port; ICMP errors
            // (which quote a packet) are not followed in pieces.
            PROTO_ICMP if l4.icmp_type == ICMP_ECHO_REPLY => l4.src_port,
            _ => return Verdict::Drop(DropReason::Fragment),
        };
        let (lo, hi) = self.cfg.port_range;
        let Some(owner) = crate::tier2::try_owner_core(port, lo, hi, self.cfg.n_workers) else {
            return Verdict::Drop(DropReason::NoUserSession);
        };
        if owner != self.cfg.index && rx.ingress == Ingress::Port {
            let key = fragment_key(f.bytes(), ip, false);
            if self
                .gw
                .fragments
                .open(key, Follow::Worker(owner), rx.now_ms)
                .is_err()
            {
                return Verdict::Drop(DropReason::FragmentTableFull);
            }
            return Verdict::Handoff(owner);
        }
        let key = fragment_key(f.bytes(), ip, false);
        self.downlink::<true, F, E>(f, rx, ip, (gw_addr, port), Some(key), ev)
    }

    /// Server → terminal: a fragment after the first, on the worker that
    /// owns user session `idx`.
    fn downlink_later_fragment<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        rx: &Rx,
        ip: &Ip,
        idx: u32,
        ev: &mut E,
    ) -> Verdict {
        if !normalize(f, ip.start(), ip.total) {
            return Verdict::Drop(DropReason::Truncated);
        }
        if ip.ttl <= 1 {
            return Verdict::Drop(DropReason::TtlExpired);
        }
        let Some(e) = self.gw.table.get_mut(idx) else {
            return Verdict::Drop(DropReason::FragmentNoFirst);
        };
        e.count(Direction::ToClient, u32::from(ip.total));
        if e.flags.contains(SessionFlags::NAT64) {
            // To an IPv6 terminal (nat64_fragments.rs).
            let path = e.client_path;
            return self.downlink_later_fragment_nat64(f, rx, ip, (idx, path), ev);
        }
        let (src, dst, path) = (e.orig_dst_ip, e.client_ip, e.client_path);
        rewrite_addresses(&mut f.bytes_mut()[IP..], src, dst);
        self.send_to_client(f, &path, rx.now_ms, ev)
    }
}
