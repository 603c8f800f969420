//! Tier-1: what arrives where, and which worker owns it.
//!
//! Access ports: the session ID names the gateway (steering table: pinned
//! entry, else Maglev). Server and external ports: the destination is a
//! gateway address and its port names the owning worker.

use super::fabric::FabricIn;
use super::l2::rd16;
use super::parse::{Ip, Ip6, L4Info, NotIpv4, Parsed};
use super::{own_addresses, own_addresses_v6, Verdict, Worker, PIN_CACHE, PIN_RETRY_MS};
use crate::counters::DropReason;
use crate::event::{Event, EventSink};
use crate::frame::Frame;
use crate::hash::mix64;
use crate::tier1::{
    session_id, session_id_v6, GatewayId, GatewayTarget, SessionId, SessionKeyMode,
};
use crate::tier2::try_owner_core;
use crate::topology::{LocalAddr, Role};
use crate::wire::{Ipv6Packet, ETHERTYPE_ARP, PROTO_ICMP, PROTO_TCP, PROTO_UDP};
use std::net::Ipv4Addr;

/// How a frame reached the pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ingress {
    /// Received on one of this worker's queues: tier 1 decides.
    Port,
    /// Handed over by another worker's tier 1, which checked and steered
    /// it: this worker owns its user session.
    Handoff,
}

/// One frame's context on its way through the pipeline: where and when it
/// arrived, and its headers as [`Parsed::read`] found them.
#[derive(Clone, Copy, Debug)]
pub(super) struct Rx<'a> {
    pub port: u16,
    pub now_ms: u64,
    pub ingress: Ingress,
    pub frame: &'a Parsed,
    /// A frame that came over the fabric: who sent it, for tier 2
    /// (`fabric.rs`); `None` for everything else.
    pub fabric: Option<FabricIn>,
}

/// Where a packet of a draining session gets its second chance
/// ([`Worker::drain_handoff`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SecondChance {
    /// Another worker of this appliance.
    Worker(u16),
    /// A gateway on another appliance, over the fabric.
    Remote { addr: Ipv4Addr, port: u16 },
}

impl Worker {
    pub(super) fn dispatch<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        in_port: u16,
        now_ms: u64,
        ev: &mut E,
        ingress: Ingress,
    ) -> Verdict {
        let Some(role) = self.topo.role(in_port) else {
            return Verdict::Drop(DropReason::NotForUs);
        };
        let p = match Parsed::read(f.bytes(), self.unwraps_gtp(role)) {
            Ok(p) => p,
            Err(r) => return Verdict::Drop(r),
        };
        let rx = Rx {
            port: in_port,
            now_ms,
            ingress,
            frame: &p,
            fabric: None,
        };
        self.steer(f, &rx, role, ev)
    }

    /// Whether frames arriving with `role` are G-PDUs to unwrap.
    #[inline]
    pub(super) fn unwraps_gtp(&self, role: Role) -> bool {
        role == Role::Access && self.cfg.session_key == SessionKeyMode::GtpTeid
    }

    /// [`dispatch`](Self::dispatch) with the frame already read (by the
    /// prefetch pass too, see [`FrameRecord`](super::parse::FrameRecord)).
    #[inline]
    pub(super) fn steer<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        rx: &Rx,
        role: Role,
        ev: &mut E,
    ) -> Verdict {
        let p = rx.frame;
        if p.ethertype == ETHERTYPE_ARP {
            return own_addresses::arp(self, f, rx.port, p.l2, rx.now_ms, ev);
        }
        let outer = match p.outer {
            Ok(ref ip) => ip,
            // Well-formed IPv6: Tandem's own addresses answer; a
            // terminal's packet on an access port is steered by its prefix.
            Err(NotIpv4::Ipv6(ip6)) => {
                if let Some(v) = own_addresses_v6::own(self, f, rx.port, &ip6, rx.now_ms, ev) {
                    return v;
                }
                if role == Role::Access {
                    return self.access_in_v6(f, rx, &ip6, ev);
                }
                // A server's reply to an IPv6 → IPv6 user session (nat66.rs).
                if let Some(gw_addr) = self.gateway_v6_of(f, rx.port, &ip6) {
                    return self.downlink_v6(f, rx, &ip6, gw_addr, ev);
                }
                return Verdict::Drop(DropReason::Ipv6NotServed);
            }
            Err(NotIpv4::Drop(r)) => return Verdict::Drop(r),
        };
        if outer.is_fragment() {
            return self.outer_fragment_in(f, rx, role, outer, ev);
        }
        match role {
            Role::Access => self.access_in(f, rx, outer, ev),
            Role::Server | Role::External => self.network_in(f, rx, outer, ev),
            Role::Fabric => self.fabric_in(f, rx, outer, ev),
        }
    }

    // Inlined into `steer` as it was before `fragments.rs` called it too.
    #[inline(always)]
    pub(super) fn access_in<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        rx: &Rx,
        outer: &Ip,
        ev: &mut E,
    ) -> Verdict {
        let (in_port, now_ms, p) = (rx.port, rx.now_ms, rx.frame);
        let handed_off = rx.ingress == Ingress::Handoff;
        // Anti-spoofing: the (outer) source must be allowed on this port.
        // A handed-off frame was checked by the worker that received it.
        if !handed_off && !self.topo.source_allowed(in_port, outer.src) {
            return Verdict::Drop(DropReason::SourceNotAllowed);
        }
        let mode = self.cfg.session_key;
        let sid = if mode == SessionKeyMode::GtpTeid {
            match p.tunnel {
                Some((_, teid)) => {
                    match p.inner {
                        Ok(ip) if ip.is_fragment() && !self.follows_fragments() => {
                            return Verdict::Drop(DropReason::Fragment)
                        }
                        // IPv6 inside a well-formed G-PDU is steered by its
                        // TEID like IPv4 (tier 2 says what it serves).
                        Ok(_) | Err(DropReason::Ipv6NotServed) => {}
                        Err(r) => return Verdict::Drop(r),
                    }
                    Some(SessionId::from_teid(teid))
                }
                None => {
                    // Not a G-PDU: maybe a ping to our own address.
                    if let Some(v) = own_addresses::maybe_echo(self, f, in_port, outer) {
                        return v;
                    }
                    return Verdict::Drop(DropReason::BadGtp);
                }
            }
        } else {
            session_id(mode, outer.src, p.l2.vlan, None)
        };

        // Pings to a VIP or to our own address are answered here.
        if p.tunnel.is_none() && !handed_off {
            if let Some(v) = own_addresses::maybe_echo(self, f, in_port, outer) {
                return v;
            }
        }
        let Some(sid) = sid else {
            return Verdict::Drop(DropReason::NoSessionKey);
        };
        if handed_off {
            return self.uplink(f, rx, sid, ev);
        }
        let Some(steer) = self.snaps.steering.get().lookup(sid) else {
            return Verdict::Drop(DropReason::NoGateway);
        };
        if !steer.pinned {
            self.request_pin(sid.0, steer.gateway.0, now_ms, ev);
        }
        match steer.target {
            GatewayTarget::LocalWorker(w) if w == self.cfg.index => self.uplink(f, rx, sid, ev),
            GatewayTarget::LocalWorker(w) if w < self.cfg.n_workers => Verdict::Handoff(w),
            GatewayTarget::Remote { addr, port } => {
                self.send_to_remote_gateway(f, rx, sid, (addr, port), ev)
            }
            GatewayTarget::LocalWorker(_) => Verdict::Drop(DropReason::NoGateway),
        }
    }

    /// Tier 1 for an IPv6 terminal's packet on an access port (not for one
    /// of Tandem's own addresses): anti-spoofing (a port with
    /// `allowed_sources`, all IPv4 prefixes, admits no IPv6 terminal), the
    /// session ID from the source prefix (`session_id_v6`: only in the
    /// source-address mode, only for global unicast sources; anything else
    /// is `ipv6_not_served`), steering and the pin request as for IPv4.
    /// Multicast destinations (MLD, ND to groups) are not a terminal's
    /// traffic to a gateway: `ipv6_not_served` before any state. A gateway
    /// on another appliance gets the frame over the fabric
    /// (`fabric::send_to_remote_gateway_v6`). Out of line: IPv4 never
    /// comes here.
    #[inline(never)]
    pub(super) fn access_in_v6<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        rx: &Rx,
        ip6: &Ip6,
        ev: &mut E,
    ) -> Verdict {
        let handed_off = rx.ingress == Ingress::Handoff;
        if !handed_off && !self.topo.admits_ipv6_sources(rx.port) {
            return Verdict::Drop(DropReason::SourceNotAllowed);
        }
        let Some(header) = f.bytes().get(usize::from(ip6.off)..) else {
            return Verdict::Drop(DropReason::Ipv6Truncated);
        };
        // Parse checked the fixed header.
        let header = Ipv6Packet::new_unchecked(header);
        if header.dst().is_multicast() {
            return Verdict::Drop(DropReason::Ipv6NotServed);
        }
        let src = header.src();
        let Some(sid) = session_id_v6(self.cfg.session_key, src, self.cfg.ipv6_session_prefix)
        else {
            return Verdict::Drop(DropReason::Ipv6NotServed);
        };
        if handed_off {
            return self.uplink_v6(f, rx, sid, ip6, ev);
        }
        let Some(steer) = self.snaps.steering.get().lookup(sid) else {
            return Verdict::Drop(DropReason::NoGateway);
        };
        if !steer.pinned {
            self.request_pin(sid.0, steer.gateway.0, rx.now_ms, ev);
        }
        match steer.target {
            GatewayTarget::LocalWorker(w) if w == self.cfg.index => {
                self.uplink_v6(f, rx, sid, ip6, ev)
            }
            GatewayTarget::LocalWorker(w) if w < self.cfg.n_workers => Verdict::Handoff(w),
            GatewayTarget::Remote { addr, port } => {
                self.send_to_remote_gateway_v6(f, rx, (sid, ip6), (addr, port), ev)
            }
            GatewayTarget::LocalWorker(_) => Verdict::Drop(DropReason::NoGateway),
        }
    }

    /// A packet this gateway has no user session for, of a mobile session
    /// that was moved here and is still draining from another worker: unless
    /// it opens a new TCP connection, its user session may have stayed on
    /// the old gateway, which gets the packet (the old gateway never hands
    /// it back: it is not the session's owner). So connections open before
    /// a move run on where they started, new TCP connections start here,
    /// and until the drain ends new UDP and ICMP flows stay on the old
    /// gateway too (they cannot be told apart from old ones here).
    ///
    /// In a cluster the old gateway may be on another appliance: the
    /// packet goes there over the fabric with hop count 1 (`fabric.rs`),
    /// and one that arrived with hop count 1 (`hop`) gets no further
    /// chance: it is dropped `no_user_session` as it would be anyway.
    #[inline]
    pub(super) fn drain_handoff(
        &self,
        sid: SessionId,
        l4: &L4Info,
        fabric: Option<FabricIn>,
    ) -> Option<SecondChance> {
        let steering = self.snaps.steering.get();
        let (hop, hint) = fabric.map_or((0, 0), |fi| (fi.hop, fi.draining_from));
        let previous = match steering.draining_from(sid) {
            Some(previous) => previous,
            // The tier-1 unit's word (its learned pins are its own): the
            // gateway it still has to be a live one here.
            None if hint != 0 => steering.gateway(GatewayId(hint))?,
            None => return None,
        };
        if hop > 0 {
            return None;
        }
        let owner = steering.lookup(sid)?;
        if owner.target != GatewayTarget::LocalWorker(self.cfg.index) {
            return None;
        }
        let target = match previous.target {
            GatewayTarget::LocalWorker(worker) => {
                if worker == self.cfg.index || worker >= self.cfg.n_workers {
                    return None;
                }
                SecondChance::Worker(worker)
            }
            GatewayTarget::Remote { addr, port } => {
                self.cfg.fabric?;
                SecondChance::Remote { addr, port }
            }
        };
        let opens = l4.proto == PROTO_TCP && l4.flags.syn() && !l4.flags.ack() && !l4.flags.rst();
        (!opens).then_some(target)
    }

    /// Asks the session manager to pin `sid`, at most once per PIN_RETRY_MS.
    #[inline]
    fn request_pin<E: EventSink>(&mut self, sid: u64, gateway: u32, now_ms: u64, ev: &mut E) {
        let slot = (mix64(sid) as usize) % PIN_CACHE;
        let (s, at) = self.pin_cache[slot];
        if s == sid && now_ms.saturating_sub(at) < PIN_RETRY_MS {
            return;
        }
        self.pin_cache[slot] = (sid, now_ms);
        self.emit(
            ev,
            Event::Pin {
                session_id: sid,
                gateway,
            },
        );
    }

    pub(super) fn network_in<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        rx: &Rx,
        ip: &Ip,
        ev: &mut E,
    ) -> Verdict {
        let in_port = rx.port;
        let b = f.bytes();
        match self.topo.local(in_port, ip.dst) {
            Some(LocalAddr::Gateway(addr)) => {
                let proto = ip.proto;
                let Some(l4) = b.get(ip.l4_off()..ip.end()) else {
                    return Verdict::Drop(DropReason::Truncated);
                };
                let port = match proto {
                    PROTO_TCP | PROTO_UDP if l4.len() >= 8 => rd16(l4, 2),
                    PROTO_ICMP if l4.len() >= 8 => match l4[0] {
                        // Echo reply: the identifier is our gateway port.
                        0 => rd16(l4, 4),
                        8 => {
                            return own_addresses::maybe_echo(self, f, in_port, ip)
                                .unwrap_or(Verdict::Drop(DropReason::IcmpIgnored))
                        }
                        // Errors quoting a packet we sent: its source port.
                        3 | 11 | 12 => match quoted_src_port(&l4[8..]) {
                            Some(p) => p,
                            None => return Verdict::Drop(DropReason::IcmpUnmatched),
                        },
                        _ => return Verdict::Drop(DropReason::IcmpIgnored),
                    },
                    PROTO_TCP | PROTO_UDP | PROTO_ICMP => {
                        return Verdict::Drop(DropReason::BadL4Header)
                    }
                    _ => return Verdict::Drop(DropReason::UnsupportedProtocol),
                };
                if let Some((plo, phi)) = self.cfg.probe_ports {
                    if proto == PROTO_TCP && (plo..=phi).contains(&port) && l4.len() >= 20 {
                        let answer = super::probe_reply::ProbeAnswer {
                            port: rd16(l4, 0),
                            probe_port: port,
                            ok: l4[13] & 0x12 == 0x12,
                            seq: u32::from_be_bytes([l4[4], l4[5], l4[6], l4[7]]),
                            ack: u32::from_be_bytes([l4[8], l4[9], l4[10], l4[11]]),
                        };
                        return self.probe_reply(ip.src.into(), answer, ev);
                    }
                }
                let (lo, hi) = self.cfg.port_range;
                let Some(owner) = try_owner_core(port, lo, hi, self.cfg.n_workers) else {
                    return Verdict::Drop(DropReason::NoUserSession);
                };
                if owner != self.cfg.index && rx.ingress == Ingress::Port {
                    return Verdict::Handoff(owner);
                }
                self.downlink::<false, F, E>(f, rx, ip, (addr, port), None, ev)
            }
            Some(_) => own_addresses::maybe_echo(self, f, in_port, ip)
                .unwrap_or(Verdict::Drop(DropReason::NotForUs)),
            None => Verdict::Drop(DropReason::NotForUs),
        }
    }
}

/// Source port (or echo identifier) of the packet quoted in an ICMP error.
#[inline]
pub(super) fn quoted_src_port(q: &[u8]) -> Option<u16> {
    if q.len() < 20 {
        return None;
    }
    let ihl = usize::from(q[0] & 0x0f) * 4;
    let l4 = q.get(ihl..ihl + 8)?;
    match q[9] {
        PROTO_TCP | PROTO_UDP => Some(rd16(l4, 0)),
        PROTO_ICMP => Some(rd16(l4, 4)),
        _ => None,
    }
}
