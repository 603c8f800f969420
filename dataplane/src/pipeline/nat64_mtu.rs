//! NAT64 and the MTU of the port a translated packet leaves on (issue 14:
//! Packet Too Big when a translated packet would exceed the egress MTU).
//!
//! Translation changes a packet's length. A server's IPv4 packet grows by
//! 20 bytes as IPv6 (28 as a fragment, with its fragment header), and a
//! GTP-U tunnel to the terminal wraps it in 36 more; an IPv6 terminal's
//! packet shrinks by 20 as IPv4, but the port toward the server may have a
//! smaller MTU than the access port. A packet that would not fit is never
//! sent oversize (the NIC or the next hop would drop it unseen):
//! * downlink, DF set: the server gets ICMP "fragmentation needed" whose
//!   next-hop MTU is the largest IPv4 packet that fits once translated,
//!   even as a fragment, from the gateway address it sent to (RFC 7915 4.1
//!   and 5.1, RFC 1191); its TCP or path-MTU discovery sends smaller
//!   packets, and what it fragments itself then fits;
//! * downlink, DF clear (a datagram the server lets the network fragment):
//!   sent in two IPv6 fragments that fit (RFC 7915 4.1; `nat64_split.rs`);
//! * uplink: the terminal gets an ICMPv6 Packet Too Big (RFC 4443 3.2)
//!   whose MTU is the largest IPv6 packet that fits once translated (at
//!   least 1280), from the address it sent to, back along its path.
//!
//! Every such packet is counted `nat64_too_big`. Over the fabric, the
//! fabric's own check (`fabric.rs`) applies instead; the IPv4 path never
//! comes here.

use super::fabric::FabricConfig;
use super::l2::{ClientPath, GTP_ENCAP_LEN};
use super::parse::Ip6;
use super::steer::Rx;
use super::{Verdict, Worker};
use crate::counters::DropReason;
use crate::event::EventSink;
use crate::frame::Frame;
use crate::topology::Topology;
use crate::wire::{Icmpv6Repr, Ipv6Packet, ETHERNET_HEADER_LEN, IPV6_MIN_MTU};
use std::net::Ipv4Addr;

const IP: usize = ETHERNET_HEADER_LEN;

/// What a frame to a terminal along `path` carries inside the port's MTU
/// beyond its own IP packet: the outer headers of a GTP-U tunnel.
#[inline]
fn tunnel_overhead(path: &ClientPath) -> u16 {
    if path.tunnel.is_none() {
        0
    } else {
        GTP_ENCAP_LEN as u16
    }
}

/// Downlink: None if a server's IPv4 packet of `total` bytes, grown by
/// `grows` in translation, fits the port `path` leaves on (or `path` is the
/// fabric, checked before translation by `fabric.rs`); else the largest
/// IPv6 packet that fits that port (for [`split_for`]). A free function:
/// the caller holds the user session.
#[inline]
pub(super) fn room_to_client(
    topo: &Topology,
    fabric: Option<FabricConfig>,
    path: &ClientPath,
    (total, grows): (u16, u16),
) -> Option<u16> {
    // Fits any port even in a tunnel: the common case, one comparison.
    if usize::from(total) + usize::from(grows) + GTP_ENCAP_LEN <= usize::from(topo.min_mtu()) {
        return None;
    }
    if fabric.is_some_and(|fab| fab.port == path.port) {
        return None;
    }
    let room = topo.mtu(path.port).saturating_sub(tunnel_overhead(path));
    (u32::from(total) + u32::from(grows) > u32::from(room)).then_some(room)
}

/// What a server's packet too big for the terminal's port once translated
/// gets, by its DF bit: the server is told, or the packet is sent in two
/// IPv6 fragments of at most `room` bytes (`nat64_split.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Split {
    /// DF set: "fragmentation needed" with this next-hop MTU, the largest
    /// IPv4 packet that fits even as a fragment (room − 28: a server told
    /// it may fragment what it sends next to it).
    Tell(u16),
    /// DF clear: fragments of at most this many bytes.
    Fragment(usize),
}

/// [`Split`] for a server's too-big packet: `room` from [`room_to_client`],
/// `ipv4_header` the packet's header.
#[inline]
pub(super) fn split_for(room: u16, ipv4_header: &[u8]) -> Split {
    if ipv4_header.get(6).is_some_and(|flags| flags & 0x40 != 0) {
        Split::Tell(room.saturating_sub(28))
    } else {
        Split::Fragment(usize::from(room))
    }
}

impl Worker {
    /// Downlink: a server's packet (IPv4 header of `header_len` bytes after
    /// the Ethernet header of the normalised frame `f`, sent to gateway
    /// address `gateway`) too big once translated: "fragmentation needed"
    /// with next-hop MTU `mtu4` where DF allows it (`Self::frag_needed`),
    /// else dropped; `nat64_too_big` either way.
    #[cold]
    #[inline(never)]
    pub(super) fn nat64_too_big_from_server<F: Frame>(
        &mut self,
        f: &mut F,
        rx: &Rx,
        (header_len, gateway): (usize, Ipv4Addr),
        mtu4: u16,
    ) -> Verdict {
        self.frag_needed(
            f,
            rx,
            (IP, header_len),
            usize::from(mtu4),
            (gateway, DropReason::Nat64TooBig),
        )
    }

    /// Uplink: None if the IPv4 packet of `n` bytes NAT64 made for
    /// `server` (server number `server_index`) fits the port toward it;
    /// else that port's MTU. Unknown route: None (sending it says so).
    #[inline]
    pub(super) fn nat64_room_to_server(
        &self,
        server: Ipv4Addr,
        server_index: u32,
        n: usize,
    ) -> Option<u16> {
        if n <= usize::from(self.topo.min_mtu()) {
            return None;
        }
        let port = match self.gw.server_hops.get(server_index as usize) {
            Some(hop) if hop.server == server => hop.port,
            _ => self.topo.route(server)?.port,
        };
        let mtu = self.topo.mtu(port);
        (n > usize::from(mtu)).then_some(mtu)
    }

    /// Uplink: the terminal's packet `ip6` (still in `f`) became an IPv4
    /// packet of `n` bytes, over the MTU `mtu4` of the port toward the
    /// server: an ICMPv6 Packet Too Big whose MTU is the largest IPv6
    /// packet that translates to `mtu4` bytes (at least 1280), from the
    /// address the terminal sent to, back along `path`, within the reply
    /// rate. Counted `nat64_too_big`, answered or not.
    #[cold]
    #[inline(never)]
    pub(super) fn nat64_too_big_from_terminal<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        ip6: &Ip6,
        path: &ClientPath,
        (n, mtu4): (usize, u16),
        now_ms: u64,
        ev: &mut E,
    ) -> Verdict {
        const TOO_BIG: Verdict = Verdict::Drop(DropReason::Nat64TooBig);
        let Some(header) = f.bytes().get(usize::from(ip6.off)..) else {
            return TOO_BIG;
        };
        // Parse checked the fixed header.
        let addressed = Ipv6Packet::new_unchecked(header).dst();
        let shrinks = usize::from(ip6.end - ip6.off).saturating_sub(n);
        let mtu = (usize::from(mtu4) + shrinks).max(IPV6_MIN_MTU);
        let repr = Icmpv6Repr::PacketTooBig { mtu: mtu as u32 };
        match self.icmpv6_error_to_terminal(f, ip6, path, (addressed, repr), now_ms, ev) {
            Some(v @ Verdict::Forward(_)) => {
                self.counters.count_drop(DropReason::Nat64TooBig);
                v
            }
            Some(v) => v,
            None => TOO_BIG,
        }
    }
}
