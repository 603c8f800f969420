//! The cluster fabric (issue 12, docs/cluster.md): Geneve between the
//! tier-1 units and the gateways of different appliances.
//!
//! - **Tier 1 → gateway.** A terminal's frame whose session belongs to a
//!   `Remote { addr, port }` gateway leaves on the fabric port as it came
//!   in (VLAN tag included, Ethernet padding trimmed), wrapped in outer
//!   Ethernet, IPv4 (DF, from this appliance's fabric address), UDP (to
//!   the gateway's port, from a port drawn from the session hash), Geneve
//!   and the Tandem option (this appliance, the access port as I/O point,
//!   hop count 0, the table generation). Anti-spoofing was checked on the
//!   access port; the gateway trusts the inner source of a member.
//! - **Gateway.** A fabric packet to `fabric_base_port + w` is for worker
//!   `w` (handed off, still encapsulated, when it arrived elsewhere). Its
//!   outer source must be a current member and the option that member's;
//!   then the outer headers go and tier 2 runs on the inner frame as if it
//!   had come in on an access port, with the tier-1 unit's fabric address
//!   and I/O point as the user session's client path (in its `tunnel`:
//!   `peer_ip` = that address, `teid` = the I/O point; GTP-U and the fabric
//!   never meet, check-config refuses `GtpTeid` in a cluster).
//! - **Gateway → tier 1.** A frame for such a terminal is built as a
//!   stand-alone appliance would send it (terminal MAC, VLAN) and wrapped
//!   again, with the downlink flag, to the tier-1 unit's fabric address and
//!   its `fabric_base_port`.
//! - **Tier 1 downlink.** A member's downlink frame leaves the access port
//!   its I/O point names, source MAC that port's.
//! - **Second chance.** See [`Worker::second_chance`].
//!
//! The outer packet is never fragmented: a frame that would exceed
//! `fabric_mtu` is dropped `fabric_too_big`, and the MSS of every SYN and
//! SYN-ACK encapsulated is clamped to [`fabric_mss`] first. At tier 1 a
//! terminal's IPv4 packet with DF set that is dropped so is answered with
//! an ICMP "fragmentation needed" carrying the MTU that fits
//! ([`Worker::fabric_too_big`]), so its path MTU discovery learns it; at a
//! gateway, a server's DF packet too big for the fabric to its terminal is
//! answered the same way, from the gateway address it was sent to
//! ([`Worker::server_too_big_for_fabric`]).

use super::l2::{to_client, ClientPath};
use super::parse::{Ip, Ip6, NotIpv4, Parsed};
use super::steer::{Rx, SecondChance};
use super::{own_addresses, Ingress, Verdict, Worker};
use crate::counters::DropReason;
use crate::event::EventSink;
use crate::frame::Frame;
use crate::hash::mix64;
use crate::tier1::{session_id, session_id_v6, SessionId};
use crate::tier2::GtpTunnel;
use crate::topology::Role;
use crate::wire::checksum::checksum;
use crate::wire::{
    decapsulate_after_ipv4, encapsulate, tcp_options, write_icmp_frag_needed, write_packet_too_big,
    GeneveEncap, GeneveTemplate, Ipv6Packet, MacAddr, OuterIpv4, TandemOption, ETHERNET_HEADER_LEN,
    ETHERTYPE_IPV6, GENEVE_ENCAP_LEN, PROTO_TCP, PROTO_UDP, TANDEM_FLAG_TO_TIER1,
};
use std::net::{Ipv4Addr, Ipv6Addr};

/// This appliance's place on the fabric; `None` on a stand-alone one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FabricConfig {
    /// `cluster.appliance_id`.
    pub appliance_id: u32,
    /// The Fabric port (DPDK port index).
    pub port: u16,
    /// Its address: the outer source of what this appliance sends.
    pub addr: Ipv4Addr,
    /// `cluster.fabric_base_port`: gateway (worker) `w` receives on
    /// `base_port + w`, the tier-1 unit its downlink on `base_port`.
    pub base_port: u16,
    /// `cluster.fabric_mtu`: the largest outer IPv4 packet.
    pub mtu: u16,
    /// Whether the workers are gateways (the appliance has server or
    /// external ports).
    pub gateways: bool,
}

/// What the outer headers add to the IPv4 packet size: IPv4 20, UDP 8,
/// Geneve 8, Tandem option 20 (the outer Ethernet header is not in the MTU).
pub const FABRIC_OVERHEAD: usize = GENEVE_ENCAP_LEN - ETHERNET_HEADER_LEN;

/// The largest TCP MSS whose full-size segment still fits in one fabric
/// packet of `mtu`: the outer headers, the inner Ethernet header and a VLAN
/// tag, IPv4 20 and TCP 20 come off.
pub const fn fabric_mss(mtu: u16) -> u16 {
    let overhead = (FABRIC_OVERHEAD + ETHERNET_HEADER_LEN + 4 + 20 + 20) as u16;
    mtu.saturating_sub(overhead)
}

/// [`fabric_mss`] for IPv6: its header is 20 bytes longer than IPv4's.
pub const fn fabric_mss_v6(mtu: u16) -> u16 {
    fabric_mss(mtu).saturating_sub(20)
}

/// Whether a frame of `len` bytes fits in one fabric packet once wrapped.
#[inline(always)]
fn fits(len: usize, fab: FabricConfig) -> bool {
    len + FABRIC_OVERHEAD <= usize::from(fab.mtu)
}

/// Gateway: whether a server's IPv4 packet of `total` bytes for a terminal
/// behind `path` goes over the fabric (`path` leaves on the fabric port)
/// and would not fit one fabric packet once its Ethernet header (and VLAN
/// tag) and the outer headers are added.
#[inline(always)]
pub(super) fn too_big_for_tier1(fab: Option<FabricConfig>, path: &ClientPath, total: u16) -> bool {
    fab.is_some_and(|fab| {
        let inside = ETHERNET_HEADER_LEN + if path.vlan != 0 { 4 } else { 0 };
        fab.port == path.port && !fits(inside + usize::from(total), fab)
    })
}

/// How a fabric frame's sender was judged: who the terminal's tier-1 unit
/// is, for the user session's client path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct FabricIn {
    /// The tier-1 unit's fabric address and appliance ID.
    pub peer: Ipv4Addr,
    pub appliance_id: u32,
    /// The access port on the tier-1 unit.
    pub io_point: u16,
    /// 0 from tier 1, 1 after a second-chance forward.
    pub hop: u8,
    /// The gateway ID the session drains from at the tier-1 unit (0:
    /// none), which this appliance may not know (learned pins are local).
    pub draining_from: u32,
}

/// Where frames to one fabric destination (address and UDP port) went
/// last and the outer headers they got ([`GeneveTemplate`]): valid while
/// the neighbour snapshot has this generation (topology and routes never
/// change while running; this appliance's fabric address and MAC neither).
/// A worker keeps [`FABRIC_HOPS`](super::FABRIC_HOPS) of them, by the
/// destination's low bits: no route scan, neighbour lookup or header
/// building per encapsulated packet.
#[derive(Clone, Copy, Debug)]
pub(super) struct FabricHop {
    generation: u64,
    dst: (Ipv4Addr, u16),
    port: u16,
    template: GeneveTemplate,
}

impl FabricHop {
    /// An empty slot (no generation is `u64::MAX`).
    pub(super) const UNKNOWN: FabricHop = FabricHop {
        generation: u64::MAX,
        dst: (Ipv4Addr::UNSPECIFIED, 0),
        port: 0,
        template: GeneveTemplate::EMPTY,
    };

    /// The slot of a destination: the gateways of one appliance differ by
    /// port, appliances by address.
    #[inline]
    fn slot((addr, port): (Ipv4Addr, u16)) -> usize {
        (u32::from(addr) ^ u32::from(port)) as usize % super::FABRIC_HOPS
    }
}

/// The member a fabric packet came from last (`Worker::member_id`), as of
/// the steering snapshot of this generation.
#[derive(Clone, Copy, Debug)]
pub(super) struct FabricSender {
    generation: u64,
    addr: Ipv4Addr,
    appliance_id: u32,
}

impl FabricSender {
    /// None yet (no snapshot has generation `u64::MAX`).
    pub(super) const UNKNOWN: FabricSender = FabricSender {
        generation: u64::MAX,
        addr: Ipv4Addr::UNSPECIFIED,
        appliance_id: 0,
    };
}

/// The outer UDP source port's entropy for a session: its hash.
#[inline]
fn flow_hash(sid: u64) -> u32 {
    mix64(sid) as u32
}

/// A client path through the fabric: the terminal is behind the access
/// port `io_point` of the tier-1 unit at `peer`.
#[inline]
pub(super) fn fabric_tunnel(peer: Ipv4Addr, io_point: u16) -> GtpTunnel {
    GtpTunnel {
        peer_ip: peer,
        teid: u32::from(io_point),
    }
}

/// The terminal's frame, now at the start of the frame `inner` (the outer
/// headers that were `inner_offset` bytes long are gone), read into
/// `parsed` (a copy of the frame's record) when the prefetch pass did not
/// read it into the record (a handoff, a frame that came without one; see
/// `fabric_in`). Nothing of it was used before `decapsulate_after_ipv4`
/// accepted the outer headers. The flow-index hint of a frame received
/// here is kept.
#[inline(always)]
fn inner_record<F: Frame>(parsed: &mut Parsed, inner: &F, rx: &Rx) -> Result<(), DropReason> {
    parsed.read_into(inner.bytes(), false)?;
    if rx.ingress == Ingress::Port {
        // The prefetch pass's hint for the inner flow, if any (none on a
        // handoff).
        parsed.client_hash = rx.frame.client_hash;
        parsed.client_candidate = rx.frame.client_candidate;
    }
    Ok(())
}

impl Worker {
    /// Tier 1: sends a terminal's frame (as received) to the gateway at
    /// `addr:port` on another appliance.
    pub(super) fn send_to_remote_gateway<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        rx: &Rx,
        sid: SessionId,
        (addr, port): (Ipv4Addr, u16),
        ev: &mut E,
    ) -> Verdict {
        let Some(fab) = self.cfg.fabric else {
            return Verdict::Drop(DropReason::NoGateway);
        };
        let p = rx.frame;
        let mut len = f.len();
        if let Ok(outer) = p.outer {
            // Ethernet padding does not travel.
            let end = outer.end();
            if len > end {
                if !f.trim(len - end) {
                    return Verdict::Drop(DropReason::Truncated);
                }
                len = end;
            }
        }
        if !fits(len, fab) {
            return self.fabric_too_big(f, rx);
        }
        if let (Ok(ip), Ok(l4)) = (p.inner, p.l4) {
            if l4.proto == PROTO_TCP && l4.flags.syn() {
                self.clamp_for_fabric(f.bytes_mut(), ip.l4_off(), fabric_mss(fab.mtu));
            }
        }
        self.wrap_for_gateway(f, rx, sid, (addr, port), ev)
    }

    /// Tier 1: an IPv6 terminal's frame (`ip6`, as received) to the gateway
    /// at `addr:port` on another appliance, as
    /// [`send_to_remote_gateway`](Self::send_to_remote_gateway) sends an
    /// IPv4 one: padding trimmed, the MSS of a SYN clamped (20 less than
    /// for IPv4: the IPv6 header is 20 bytes longer), too big answered
    /// with Packet Too Big ([`Self::fabric_too_big_v6`]).
    pub(super) fn send_to_remote_gateway_v6<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        rx: &Rx,
        (sid, ip6): (SessionId, &Ip6),
        (addr, port): (Ipv4Addr, u16),
        ev: &mut E,
    ) -> Verdict {
        let Some(fab) = self.cfg.fabric else {
            return Verdict::Drop(DropReason::NoGateway);
        };
        let (len, end) = (f.len(), usize::from(ip6.end));
        if len > end && !f.trim(len - end) {
            return Verdict::Drop(DropReason::Truncated);
        }
        if !fits(f.len(), fab) {
            return self.fabric_too_big_v6(f, rx, ip6);
        }
        let tcp = usize::from(ip6.upper);
        if ip6.proto == PROTO_TCP
            && !ip6.fragment
            && f.bytes().get(tcp + 13).is_some_and(|fl| fl & 0x02 != 0)
        {
            self.clamp_for_fabric(f.bytes_mut(), tcp, fabric_mss_v6(fab.mtu));
        }
        self.wrap_for_gateway(f, rx, sid, (addr, port), ev)
    }

    /// Tier 1: the Tandem option of a terminal's frame for a remote gateway
    /// (this appliance, the access port as I/O point, hop count 0, the
    /// table generation, where the session drains from) and the wrapping.
    /// Inlined: out of line, the IPv4 path paid 25 instructions more.
    #[inline(always)]
    fn wrap_for_gateway<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        rx: &Rx,
        sid: SessionId,
        (addr, port): (Ipv4Addr, u16),
        ev: &mut E,
    ) -> Verdict {
        let Some(fab) = self.cfg.fabric else {
            return Verdict::Drop(DropReason::NoGateway);
        };
        let steering = self.snaps.steering.get();
        let option = TandemOption {
            appliance_id: fab.appliance_id,
            io_point: rx.port,
            hop_count: 0,
            flags: 0,
            generation: steering.fabric().generation,
            // What only this tier-1 unit knows (its learned pins): where
            // the session drains from, for the gateway's second chance.
            draining_from: steering.draining_from(sid).map_or(0, |g| g.id.0),
        };
        self.encap_and_send(f, (addr, port), option, flow_hash(sid.0), rx.now_ms, ev)
    }

    /// Tier 1: a terminal's frame that would not fit a fabric packet once
    /// wrapped. An IPv4 packet with DF set is answered with an ICMP
    /// "fragmentation needed" (RFC 792 type 3 code 4) whose next-hop MTU
    /// (RFC 1191) is the largest IPv4 packet of this terminal's that fits:
    /// `fabric_mtu` less the outer headers ([`FABRIC_OVERHEAD`]) and the
    /// frame's own Ethernet header (and VLAN tag), which travel inside. It
    /// comes from the access port's address (the gateway address, then the
    /// fabric address, when that port has none); see [`Self::frag_needed`].
    #[cold]
    #[inline(never)]
    fn fabric_too_big<F: Frame>(&mut self, f: &mut F, rx: &Rx) -> Verdict {
        const TOO_BIG: Verdict = Verdict::Drop(DropReason::FabricTooBig);
        let Some(fab) = self.cfg.fabric else {
            return TOO_BIG;
        };
        let p = rx.frame;
        let Ok(ip) = p.outer else {
            return TOO_BIG;
        };
        if p.tunnel.is_some() {
            return TOO_BIG;
        }
        let mtu = usize::from(fab.mtu).saturating_sub(FABRIC_OVERHEAD + ip.start());
        let src = self
            .topo
            .port_address(rx.port)
            .or_else(|| self.cfg.gateway_addrs.first().copied())
            .unwrap_or(fab.addr);
        self.frag_needed(
            f,
            rx,
            (ip.start(), ip.header_len()),
            mtu,
            (src, DropReason::FabricTooBig),
        )
    }

    /// Tier 1: an IPv6 terminal's frame that would not fit a fabric packet
    /// once wrapped gets an ICMPv6 Packet Too Big (RFC 4443 3.2; IPv6 is
    /// never fragmented on the way) whose MTU is the largest IPv6 packet of
    /// this terminal's that fits: `fabric_mtu` less the outer headers and
    /// the frame's own Ethernet header (and VLAN tag), from the address the
    /// terminal addressed, quoting the start of its packet, out of the
    /// access port it came in on, within the reply rate (beyond it:
    /// `rate_limited`). Not about an ICMPv6 error or from a non-unicast
    /// source. The frame is counted `fabric_too_big`, answered or not.
    #[cold]
    #[inline(never)]
    fn fabric_too_big_v6<F: Frame>(&mut self, f: &mut F, rx: &Rx, ip6: &Ip6) -> Verdict {
        const TOO_BIG: Verdict = Verdict::Drop(DropReason::FabricTooBig);
        let Some(fab) = self.cfg.fabric else {
            return TOO_BIG;
        };
        let b = f.bytes();
        let Some(header) = b.get(usize::from(ip6.off)..) else {
            return TOO_BIG;
        };
        // Parse checked the fixed header.
        let addressed = Ipv6Packet::new_unchecked(header).dst();
        let mtu = usize::from(fab.mtu).saturating_sub(FABRIC_OVERHEAD + usize::from(ip6.off));
        let mut out = [0u8; 256];
        let Ok(n) = write_packet_too_big(b, &mut out, addressed, mtu as u32) else {
            return TOO_BIG;
        };
        let rate = self.snaps.policy.get().reply_rate_per_s;
        if !self.limiter.allow(rx.now_ms, rate) {
            return Verdict::Drop(DropReason::RateLimited);
        }
        if !own_addresses::replace_contents(f, &out[..n]) {
            return TOO_BIG;
        }
        f.bytes_mut()[6..12].copy_from_slice(&self.topo.mac(rx.port));
        self.counters.count_drop(DropReason::FabricTooBig);
        self.counters.icmp_errors_sent.inc();
        self.counters.tx_packets.inc();
        self.counters.tx_bytes.add(f.len() as u64);
        Verdict::Forward(rx.port)
    }

    /// Gateway: a server's packet for a terminal behind another appliance's
    /// tier-1 unit (`path`) that would not fit a fabric packet once wrapped
    /// (see [`too_big_for_tier1`]), before it is translated or counted. With
    /// DF set the server is answered with an ICMP "fragmentation needed"
    /// from the gateway address it sent to, whose next-hop MTU is the
    /// largest IPv4 packet that fits: `fabric_mtu` less the outer headers,
    /// the Ethernet header (and VLAN tag) the terminal's frame carries
    /// inside and what translation adds (`grows`: 20 for NAT64); see
    /// [`Self::frag_needed`]. `f` is the normalised frame
    /// (`l2::normalize`: its IPv4 header at `ip`'s length after an
    /// untagged Ethernet header).
    #[cold]
    #[inline(never)]
    pub(super) fn server_too_big_for_fabric<F: Frame>(
        &mut self,
        f: &mut F,
        rx: &Rx,
        ip: &Ip,
        (path, grows): (&ClientPath, u16),
    ) -> Verdict {
        let Some(fab) = self.cfg.fabric else {
            return Verdict::Drop(DropReason::FabricTooBig);
        };
        let inside = ETHERNET_HEADER_LEN + if path.vlan != 0 { 4 } else { 0 } + usize::from(grows);
        let mtu = usize::from(fab.mtu).saturating_sub(FABRIC_OVERHEAD + inside);
        self.frag_needed(
            f,
            rx,
            (ETHERNET_HEADER_LEN, ip.header_len()),
            mtu,
            (ip.dst, DropReason::FabricTooBig),
        )
    }

    /// The ICMP "fragmentation needed" answer of [`Self::fabric_too_big`]
    /// and [`Self::server_too_big_for_fabric`] to the sender of `f`, whose
    /// IPv4 header lies at `ip_at` (offset, length), with next-hop MTU
    /// `mtu`, from `src`. Only for a packet with DF set whose header
    /// checksum is right (RFC 1812 5.2.2: no error about a header that may
    /// be corrupt) and that is not an ICMP error, a broadcast or a later
    /// fragment (RFC 1122 3.2.2); it quotes the IPv4 header and 8 bytes of
    /// payload and leaves the port the frame came in on, to the MAC it
    /// came from, within the reply rate (`reply_rate_per_s`; beyond it the
    /// frame is dropped `rate_limited`). The frame itself is counted
    /// `reason` (`fabric_too_big`, `nat64_too_big`), answered or not;
    /// nothing is ever fragmented.
    pub(super) fn frag_needed<F: Frame>(
        &mut self,
        f: &mut F,
        rx: &Rx,
        (ip_start, ip_len): (usize, usize),
        mtu: usize,
        (src, reason): (Ipv4Addr, DropReason),
    ) -> Verdict {
        let too_big = Verdict::Drop(reason);
        let b = f.bytes();
        let Some(header) = b.get(ip_start..ip_start + ip_len) else {
            return too_big;
        };
        // No DF: the sender may not learn a path MTU from us (and we
        // fragment nothing).
        if header[6] & 0x40 == 0 || checksum(header) != 0 {
            return too_big;
        }
        let mut out = [0u8; 192];
        let Ok(n) = write_icmp_frag_needed(b, &mut out, mtu as u16, src) else {
            return too_big;
        };
        let rate = self.snaps.policy.get().reply_rate_per_s;
        if !self.limiter.allow(rx.now_ms, rate) {
            return Verdict::Drop(DropReason::RateLimited);
        }
        if !own_addresses::replace_contents(f, &out[..n]) {
            return too_big;
        }
        // Back to the sender (the builder swapped the MACs), from this
        // port's own MAC, whatever address the frame was sent to.
        f.bytes_mut()[6..12].copy_from_slice(&self.topo.mac(rx.port));
        self.counters.count_drop(reason);
        self.counters.icmp_errors_sent.inc();
        self.counters.tx_packets.inc();
        self.counters.tx_bytes.add(f.len() as u64);
        Verdict::Forward(rx.port)
    }

    /// A frame received on the fabric port. Out of line: `steer` stays as
    /// small for the local path as it was before the fabric.
    #[inline(never)]
    pub(super) fn fabric_in<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        rx: &Rx,
        outer: &Ip,
        ev: &mut E,
    ) -> Verdict {
        let Some(fab) = self.cfg.fabric else {
            return Verdict::Drop(DropReason::NotForUs);
        };
        // A frame handed over by another worker may have been wrapped again
        // there (`second_chance`) and travel with the record of what it was:
        // read its outer header afresh.
        let outer = if rx.ingress == Ingress::Handoff {
            match Parsed::read(f.bytes(), false).map(|p| p.outer) {
                Ok(Ok(ip)) => ip,
                Ok(Err(r)) => return Verdict::Drop(r.reason()),
                Err(r) => return Verdict::Drop(r),
            }
        } else {
            *outer
        };
        let outer = &outer;
        if outer.dst != fab.addr || outer.proto != PROTO_UDP {
            // Pings to the fabric address are answered, as on any port.
            return own_addresses::maybe_echo(self, f, rx.port, outer)
                .unwrap_or(Verdict::Drop(DropReason::NotForUs));
        }
        let b = f.bytes();
        let Some(dst_port) = b
            .get(outer.l4_off() + 2..outer.l4_off() + 4)
            .map(|p| u16::from_be_bytes([p[0], p[1]]))
        else {
            return Verdict::Drop(DropReason::GeneveTruncated);
        };
        let outer_v4 = OuterIpv4 {
            start: outer.start(),
            header_len: outer.header_len(),
            end: outer.end(),
            src: outer.src,
            dst: outer.dst,
        };
        // The outer Ethernet and IPv4 headers were read with the frame's
        // record; the rest is checked here, in one pass.
        let d = match decapsulate_after_ipv4(b, &outer_v4, dst_port) {
            Ok(d) => d,
            Err(e) => return Verdict::Drop(e.into()),
        };
        let option = d.option;
        let to_tier1 = option.flags & TANDEM_FLAG_TO_TIER1 != 0;
        // Which of our receivers: the tier-1 unit's downlink port or a gateway's.
        let worker = if to_tier1 {
            if dst_port != fab.base_port {
                return Verdict::Drop(DropReason::NotForUs);
            }
            None
        } else {
            match dst_port.checked_sub(fab.base_port) {
                Some(w) if fab.gateways && w < self.cfg.n_workers => Some(w),
                _ => return Verdict::Drop(DropReason::NotForUs),
            }
        };
        // Believe nothing of a stranger's: the sender must be a member and
        // the option must name it (after a second chance: name a member,
        // the tier-1 unit the terminal is behind).
        let Some(sender_id) = self.member_id(d.outer_src) else {
            return Verdict::Drop(DropReason::FabricStranger);
        };
        let peer = if option.hop_count == 0 || to_tier1 {
            if sender_id != option.appliance_id {
                return Verdict::Drop(DropReason::FabricWrongAppliance);
            }
            d.outer_src
        } else {
            match self
                .snaps
                .steering
                .get()
                .fabric()
                .by_id(option.appliance_id)
            {
                Some(t) => t.addr,
                None => return Verdict::Drop(DropReason::FabricWrongAppliance),
            }
        };
        if let Some(w) = worker {
            if w != self.cfg.index {
                if rx.ingress == Ingress::Port {
                    // Still encapsulated: the owner checks it again.
                    return Verdict::Handoff(w);
                }
                return Verdict::Drop(DropReason::NotForUs);
            }
        } else if self.topo.role(option.io_point) != Some(Role::Access) {
            return Verdict::Drop(DropReason::FabricBadIoPoint);
        }
        // The outer headers (and any outer padding) go.
        let (len, end) = (f.len(), d.inner_offset + d.inner_len);
        if (len > end && !f.trim(len - end)) || !f.adj(d.inner_offset) {
            return Verdict::Drop(DropReason::Truncated);
        }
        self.counters.fabric_rx.inc();
        if to_tier1 {
            let port = option.io_point;
            let mac = self.topo.mac(port);
            f.bytes_mut()[6..12].copy_from_slice(&mac);
            self.counters.tx_packets.inc();
            self.counters.tx_bytes.add(f.len() as u64);
            return Verdict::Forward(port);
        }
        let fabric = Some(FabricIn {
            peer,
            appliance_id: option.appliance_id,
            io_point: option.io_point,
            hop: option.hop_count,
            draining_from: option.draining_from,
        });
        // The prefetch pass read the terminal's frame into the record: its
        // L2 and L4 parts serve as they are, its IPv4 header moved to where
        // it lies now (no copy of the record). Else it is read afresh.
        let copy;
        let (frame, ip) = match rx.frame.fabric_inner(d.inner_offset) {
            Some(ip) if rx.ingress == Ingress::Port => (rx.frame, ip),
            _ => match self.read_inner_frame(f, rx, fabric, ev) {
                Ok((read, ip)) => {
                    copy = read;
                    (&copy, ip)
                }
                Err(v) => return v,
            },
        };
        let Some(sid) = session_id(self.cfg.session_key, ip.src, frame.l2.vlan, None) else {
            return Verdict::Drop(DropReason::NoSessionKey);
        };
        let inner_rx = Rx {
            frame,
            fabric,
            ..*rx
        };
        // As `uplink` does with the record's IPv4 header.
        if ip.is_fragment() {
            return self.uplink_fragment(f, &inner_rx, sid, &ip, ev);
        }
        self.uplink_packet::<false, F, E>(f, &inner_rx, sid, &ip, None, ev)
    }

    /// Gateway: the terminal's frame of a fabric packet whose record the
    /// prefetch pass did not read it into (a handoff, an IPv6 frame), read
    /// afresh into a copy of the record: its IPv4 packet, or the verdict
    /// of an IPv6 one ([`Self::fabric_in_v6`]) or of one that is neither.
    /// Out of line: the IPv4 path from the record stays as small as it was.
    #[cold]
    #[inline(never)]
    fn read_inner_frame<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        rx: &Rx,
        fabric: Option<FabricIn>,
        ev: &mut E,
    ) -> Result<(Parsed, Ip), Verdict> {
        let mut read = *rx.frame;
        inner_record(&mut read, f, rx).map_err(Verdict::Drop)?;
        match read.outer {
            Ok(ip) => Ok((read, ip)),
            Err(NotIpv4::Ipv6(ip6)) => Err(self.fabric_in_v6(f, rx, (&read, fabric), &ip6, ev)),
            Err(r) => Err(Verdict::Drop(r.reason())),
        }
    }

    /// Gateway: an IPv6 terminal's frame out of a fabric packet (`frame`,
    /// its record; `fabric`, its sender), steered as the tier-1 unit
    /// steered it (`access_in_v6`: the session ID of its source prefix; a
    /// multicast destination is no terminal's traffic) into NAT64, with
    /// the tier-1 unit as the user session's client path.
    #[cold]
    #[inline(never)]
    fn fabric_in_v6<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        rx: &Rx,
        (frame, fabric): (&Parsed, Option<FabricIn>),
        ip6: &Ip6,
        ev: &mut E,
    ) -> Verdict {
        let Some(header) = f.bytes().get(usize::from(ip6.off)..) else {
            return Verdict::Drop(DropReason::Ipv6Truncated);
        };
        // Parse checked the fixed header.
        let header = Ipv6Packet::new_unchecked(header);
        if header.dst().is_multicast() {
            return Verdict::Drop(DropReason::Ipv6NotServed);
        }
        let prefix = self.cfg.ipv6_session_prefix;
        let Some(sid) = session_id_v6(self.cfg.session_key, header.src(), prefix) else {
            return Verdict::Drop(DropReason::Ipv6NotServed);
        };
        let inner_rx = Rx {
            frame,
            fabric,
            ..*rx
        };
        self.uplink_v6(f, &inner_rx, sid, ip6, ev)
    }

    /// The appliance ID of the member whose fabric address is `addr`, or
    /// `None` for a stranger. The last member found is remembered with the
    /// steering snapshot's generation (the member list comes with it):
    /// the packets of one tier-1 unit cost one comparison, not a scan.
    #[inline]
    fn member_id(&mut self, addr: Ipv4Addr) -> Option<u32> {
        let generation = self.snaps.steering.generation();
        let last = self.fabric_sender;
        if last.generation == generation && last.addr == addr {
            return Some(last.appliance_id);
        }
        let appliance_id = self
            .snaps
            .steering
            .get()
            .fabric()
            .by_addr(addr)?
            .appliance_id;
        self.fabric_sender = FabricSender {
            generation,
            addr,
            appliance_id,
        };
        Some(appliance_id)
    }

    /// Gateway: sends a plain frame (Ethernet + IPv4, as `send_to_client`
    /// gets it) to a terminal behind another appliance's tier-1 unit.
    pub(super) fn send_to_tier1<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        path: &ClientPath,
        now_ms: u64,
        ev: &mut E,
    ) -> Verdict {
        let Some(fab) = self.cfg.fabric else {
            return Verdict::Drop(DropReason::NoRoute);
        };
        let (dst, generation) = {
            let steering = self.snaps.steering.get();
            let peers = steering.fabric();
            match peers.by_addr(path.tunnel.peer_ip) {
                Some(p) => ((p.addr, p.base_port), peers.generation),
                None => return Verdict::Drop(DropReason::FabricPeerGone),
            }
        };
        // The terminal's session ID, as the tier-1 unit hashed it, where a
        // TCP header lies and the MSS that fits: an IPv4 packet, or the
        // IPv6 one NAT64 translated (no extension headers).
        let (sid, tcp_at, mss) = {
            let b = f.bytes();
            if b.get(12..14) == Some(&ETHERTYPE_IPV6.to_be_bytes()[..]) {
                let Some(ip) = b.get(ETHERNET_HEADER_LEN..ETHERNET_HEADER_LEN + 40) else {
                    return Verdict::Drop(DropReason::Ipv6Truncated);
                };
                let mut terminal = [0u8; 16];
                terminal.copy_from_slice(&ip[24..40]);
                let prefix = self.cfg.ipv6_session_prefix;
                let sid = session_id_v6(self.cfg.session_key, Ipv6Addr::from(terminal), prefix);
                let tcp_at = (ip[6] == PROTO_TCP).then_some(ETHERNET_HEADER_LEN + 40);
                (sid.map_or(0, |s| s.0), tcp_at, fabric_mss_v6(fab.mtu))
            } else {
                let Some(ip) = b.get(ETHERNET_HEADER_LEN..ETHERNET_HEADER_LEN + 20) else {
                    return Verdict::Drop(DropReason::Truncated);
                };
                let terminal = u32::from_be_bytes([ip[16], ip[17], ip[18], ip[19]]);
                let tcp_at = (ip[9] == PROTO_TCP)
                    .then(|| ETHERNET_HEADER_LEN + usize::from(ip[0] & 0x0f) * 4);
                (u64::from(terminal), tcp_at, fabric_mss(fab.mtu))
            }
        };
        if let Some(tcp) = tcp_at {
            if f.bytes().get(tcp + 13).is_some_and(|fl| fl & 0x02 != 0) {
                self.clamp_for_fabric(f.bytes_mut(), tcp, mss);
            }
        }
        let hash = flow_hash(sid);
        let plain = ClientPath {
            tunnel: GtpTunnel::NONE,
            ..*path
        };
        if !to_client(f, &plain, self.topo.mac(fab.port), fab.addr) {
            return Verdict::Drop(DropReason::NoRoom);
        }
        if !fits(f.len(), fab) {
            return Verdict::Drop(DropReason::FabricTooBig);
        }
        let option = TandemOption {
            appliance_id: fab.appliance_id,
            io_point: path.tunnel.teid as u16,
            hop_count: 0,
            flags: TANDEM_FLAG_TO_TIER1,
            generation,
            draining_from: 0,
        };
        self.encap_and_send(f, dst, option, hash, now_ms, ev)
    }

    /// Second chance (issue 12 item 4, `steer::drain_handoff`): a packet
    /// for no user session here, of a session draining from `previous`,
    /// goes once to that gateway. A local worker gets a frame that came in
    /// on an access port as today; one that came over the fabric is
    /// wrapped again (to this appliance, hop count 1) so the worker learns
    /// the tier-1 unit from it. A remote gateway gets it over the fabric
    /// with hop count 1, naming the tier-1 unit the terminal is behind; a
    /// packet with hop count 1 is never forwarded again. `f` is the
    /// normalised frame (`l2::normalize`), `path` the terminal's.
    pub(super) fn second_chance<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        rx: &Rx,
        (path, sid): (&ClientPath, SessionId),
        previous: SecondChance,
        ev: &mut E,
    ) -> Verdict {
        let (dst, local) = match (previous, rx.fabric) {
            (SecondChance::Worker(w), None) => return Verdict::Handoff(w),
            (SecondChance::Worker(w), Some(_)) => match self.cfg.fabric {
                Some(fab) => ((fab.addr, fab.base_port.saturating_add(w)), Some(w)),
                None => return Verdict::Drop(DropReason::NoUserSession),
            },
            (SecondChance::Remote { addr, port }, _) => ((addr, port), None),
        };
        let Some(fab) = self.cfg.fabric else {
            return Verdict::Drop(DropReason::NoUserSession);
        };
        let (appliance_id, io_point) = match rx.fabric {
            Some(fi) => (fi.appliance_id, fi.io_point),
            None => (fab.appliance_id, rx.port),
        };
        // The inner frame as the tier-1 unit sent it: the terminal's MAC
        // as source, its VLAN tag.
        let plain = ClientPath {
            tunnel: GtpTunnel::NONE,
            ..*path
        };
        if !to_client(f, &plain, path.mac, fab.addr) {
            return Verdict::Drop(DropReason::NoRoom);
        }
        f.bytes_mut()[0..6].copy_from_slice(&self.topo.mac(fab.port));
        let option = TandemOption {
            appliance_id,
            io_point,
            hop_count: 1,
            flags: 0,
            generation: self.snaps.steering.get().fabric().generation,
            draining_from: 0,
        };
        let hash = flow_hash(sid.0);
        self.counters.second_chance.inc();
        match local {
            Some(w) => {
                if let Err(v) = self.encap_only(f, dst, option, hash) {
                    return v;
                }
                Verdict::Handoff(w)
            }
            None if !fits(f.len(), fab) => Verdict::Drop(DropReason::FabricTooBig),
            None => self.encap_and_send(f, dst, option, hash, rx.now_ms, ev),
        }
    }

    /// Wraps `f` for `dst` (checking the MTU); the outer MACs are left to
    /// the caller.
    fn encap_only<F: Frame>(
        &self,
        f: &mut F,
        (dst_ip, dst_port): (Ipv4Addr, u16),
        option: TandemOption,
        flow_hash: u32,
    ) -> Result<(), Verdict> {
        let Some(fab) = self.cfg.fabric else {
            return Err(Verdict::Drop(DropReason::NoRoute));
        };
        if !fits(f.len(), fab) {
            return Err(Verdict::Drop(DropReason::FabricTooBig));
        }
        if !f.prepend(GENEVE_ENCAP_LEN) {
            return Err(Verdict::Drop(DropReason::NoRoom));
        }
        let encap = GeneveEncap {
            src_mac: MacAddr(self.topo.mac(fab.port)),
            dst_mac: MacAddr([0; 6]),
            src_ip: fab.addr,
            dst_ip,
            dst_port,
            flow_hash,
            vni: 0,
            option,
        };
        encapsulate(f.bytes_mut(), GENEVE_ENCAP_LEN, &encap)
            .map(|_| ())
            .map_err(|e| Verdict::Drop(e.into()))
    }

    /// Wraps `f` for `dst` and sends it towards it (held while its next
    /// hop's MAC is being resolved). The caller has checked that it
    /// [`fits`] (the first packet to a destination is checked again). The
    /// outer headers of a destination whose next hop was found before,
    /// while the neighbour snapshot is the same, are that packet's, copied
    /// from the worker's template of them ([`FabricHop`]) and patched; the
    /// first packet to it is wrapped field by field and its headers
    /// become the template.
    fn encap_and_send<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        dst: (Ipv4Addr, u16),
        option: TandemOption,
        flow_hash: u32,
        now_ms: u64,
        ev: &mut E,
    ) -> Verdict {
        let generation = self.snaps.neighbours.generation();
        let slot = FabricHop::slot(dst);
        let hop = &self.fabric_hops[slot];
        if hop.generation == generation && hop.dst == dst {
            let inner_len = f.len();
            if !f.prepend(GENEVE_ENCAP_LEN) {
                return Verdict::Drop(DropReason::NoRoom);
            }
            let Some(out) = f.bytes_mut().first_chunk_mut() else {
                return Verdict::Drop(DropReason::NoRoom);
            };
            if let Err(e) = hop.template.write(out, inner_len, flow_hash, &option) {
                return Verdict::Drop(e.into());
            }
            self.counters.tx_packets.inc();
            self.counters.tx_bytes.add(f.len() as u64);
            self.counters.fabric_tx.inc();
            return Verdict::Forward(hop.port);
        }
        if let Err(v) = self.encap_only(f, dst, option, flow_hash) {
            return v;
        }
        let verdict = self.send_to_network(f, dst.0, now_ms, ev);
        if let Verdict::Forward(port) = verdict {
            // send_to_network has just written the neighbour's MAC: these
            // outer headers are the next packet's but for what changes.
            if let Some(template) = GeneveTemplate::from_outer(f.bytes()) {
                self.fabric_hops[slot] = FabricHop {
                    generation,
                    dst,
                    port,
                    template,
                };
            }
        }
        if matches!(
            verdict,
            Verdict::Forward(_) | Verdict::Hold { .. } | Verdict::HoldV6 { .. }
        ) {
            self.counters.fabric_tx.inc();
        }
        verdict
    }

    /// Lowers the MSS of the SYN or SYN-ACK whose TCP header is at
    /// `tcp_off` to what fits a fabric packet of `mtu` (counted in
    /// `mss_clamped`).
    #[cold]
    fn clamp_for_fabric(&self, b: &mut [u8], tcp_off: usize, mss: u16) {
        if let Some(tcp) = b.get_mut(tcp_off..) {
            if tcp_options::clamp_mss(tcp, mss).is_some() {
                self.counters.mss_clamped.inc();
            }
        }
    }
}
