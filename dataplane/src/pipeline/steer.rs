//! Tier-1: what arrives where, and which worker owns it.
//!
//! Access ports: the session ID names the gateway (steering table: pinned
//! entry, else Maglev). Server and external ports: the destination is a
//! gateway address and its port names the owning worker.

use super::l2::{gtp_inner, rd16, L2};
use super::{local, Verdict, Worker, PIN_CACHE, PIN_RETRY_MS};
use crate::counters::DropReason;
use crate::event::{Event, EventSink};
use crate::frame::Frame;
use crate::hash::mix64;
use crate::tier1::{session_id, GatewayTarget, SessionKeyMode};
use crate::tier2::try_owner_core;
use crate::topology::{LocalAddr, Role};
use crate::wire::{
    ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_VLAN, PROTO_ICMP, PROTO_TCP, PROTO_UDP,
};
use std::net::Ipv4Addr;

/// Ethernet framing of a received frame.
#[inline]
pub(super) fn parse_l2(b: &[u8]) -> Result<(L2, u16), DropReason> {
    if b.len() < 14 {
        return Err(DropReason::Truncated);
    }
    let mut src_mac = [0u8; 6];
    src_mac.copy_from_slice(&b[6..12]);
    let et = rd16(b, 12);
    if et == ETHERTYPE_VLAN {
        if b.len() < 18 {
            return Err(DropReason::Truncated);
        }
        let vlan = rd16(b, 14) & 0x0fff;
        Ok((
            L2 {
                ip_off: 18,
                vlan: Some(vlan),
                src_mac,
            },
            rd16(b, 16),
        ))
    } else {
        Ok((
            L2 {
                ip_off: 14,
                vlan: None,
                src_mac,
            },
            et,
        ))
    }
}

/// Checks the IPv4 header at `off`: version, IHL, total length within the
/// frame, not a fragment. Returns the header length.
#[inline]
pub(super) fn check_ipv4(b: &[u8], off: usize) -> Result<usize, DropReason> {
    let ip = b.get(off..).ok_or(DropReason::Truncated)?;
    if ip.len() < 20 {
        return Err(DropReason::Truncated);
    }
    if ip[0] >> 4 != 4 {
        return Err(DropReason::BadIpHeader);
    }
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(rd16(ip, 2));
    if ihl < 20 || total < ihl || total > ip.len() {
        return Err(DropReason::BadIpHeader);
    }
    if rd16(ip, 6) & 0x3fff != 0 {
        return Err(DropReason::Fragment);
    }
    Ok(ihl)
}

#[inline]
fn ip_at(b: &[u8], off: usize, at: usize) -> Ipv4Addr {
    Ipv4Addr::new(
        b[off + at],
        b[off + at + 1],
        b[off + at + 2],
        b[off + at + 3],
    )
}

impl Worker {
    pub(super) fn dispatch<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        in_port: u16,
        now_ms: u64,
        ev: &mut E,
        handed_off: bool,
    ) -> Verdict {
        let Some(role) = self.topo.role(in_port) else {
            return Verdict::Drop(DropReason::NotForUs);
        };
        let (l2, et) = match parse_l2(f.bytes()) {
            Ok(x) => x,
            Err(r) => return Verdict::Drop(r),
        };
        if et == ETHERTYPE_ARP {
            return local::arp(self, f, in_port, l2, now_ms, ev);
        }
        if et != ETHERTYPE_IPV4 {
            return Verdict::Drop(DropReason::UnsupportedEthertype);
        }
        if let Err(r) = check_ipv4(f.bytes(), l2.ip_off) {
            return Verdict::Drop(r);
        }
        match role {
            Role::Access => self.access_in(f, in_port, l2, now_ms, ev, handed_off),
            Role::Server | Role::External => {
                self.network_in(f, in_port, l2, now_ms, ev, handed_off)
            }
        }
    }

    fn access_in<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        in_port: u16,
        l2: L2,
        now_ms: u64,
        ev: &mut E,
        handed_off: bool,
    ) -> Verdict {
        let b = f.bytes();
        // Anti-spoofing: the (outer) source must be allowed on this port.
        // A handed-off frame was checked by the worker that received it.
        if !handed_off && !self.topo.source_allowed(in_port, ip_at(b, l2.ip_off, 12)) {
            return Verdict::Drop(DropReason::SourceNotAllowed);
        }
        let mode = self.cfg.session_key;
        let (sid, tunnel, inner_off) = if mode == SessionKeyMode::GtpTeid {
            match gtp_inner(b, l2.ip_off) {
                Some((teid, peer, inner)) => {
                    if let Err(r) = check_ipv4(b, inner) {
                        return Verdict::Drop(r);
                    }
                    (
                        session_id(mode, ip_at(b, inner, 12), l2.vlan, Some(teid)),
                        Some((peer, teid)),
                        inner,
                    )
                }
                None => {
                    // Not a G-PDU: maybe a ping to our own address.
                    if let Some(v) = local::maybe_echo(self, f, in_port, l2, now_ms) {
                        return v;
                    }
                    return Verdict::Drop(DropReason::BadGtp);
                }
            }
        } else {
            (
                session_id(mode, ip_at(b, l2.ip_off, 12), l2.vlan, None),
                None,
                l2.ip_off,
            )
        };

        // Pings to a VIP or to our own address are answered here.
        if tunnel.is_none() && !handed_off {
            if let Some(v) = local::maybe_echo(self, f, in_port, l2, now_ms) {
                return v;
            }
        }
        let Some(sid) = sid else {
            return Verdict::Drop(DropReason::NoSessionKey);
        };
        if handed_off {
            return self.uplink(f, in_port, l2, inner_off, sid, tunnel, now_ms, ev);
        }
        let Some(steer) = self.snaps.steering.get().lookup(sid) else {
            return Verdict::Drop(DropReason::NoGateway);
        };
        if !steer.pinned {
            self.request_pin(sid.0, steer.gateway.0, now_ms, ev);
        }
        match steer.target {
            GatewayTarget::LocalWorker(w) if w == self.cfg.index => {
                self.uplink(f, in_port, l2, inner_off, sid, tunnel, now_ms, ev)
            }
            GatewayTarget::LocalWorker(w) if w < self.cfg.n_workers => Verdict::Handoff(w),
            // A gateway in another appliance: not reachable from here yet.
            _ => Verdict::Drop(DropReason::NoGateway),
        }
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

    fn network_in<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        in_port: u16,
        l2: L2,
        now_ms: u64,
        ev: &mut E,
        handed_off: bool,
    ) -> Verdict {
        let b = f.bytes();
        let off = l2.ip_off;
        let dst = ip_at(b, off, 16);
        match self.topo.local(in_port, dst) {
            Some(LocalAddr::Gateway(addr)) => {
                let ihl = usize::from(b[off] & 0x0f) * 4;
                let proto = b[off + 9];
                let l4 = &b[off + ihl..off + usize::from(rd16(b, off + 2))];
                let port = match proto {
                    PROTO_TCP | PROTO_UDP if l4.len() >= 8 => rd16(l4, 2),
                    PROTO_ICMP if l4.len() >= 8 => match l4[0] {
                        // Echo reply: the identifier is our gateway port.
                        0 => rd16(l4, 4),
                        8 => {
                            return local::maybe_echo(self, f, in_port, l2, now_ms)
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
                        // Only the answer of a configured server counts.
                        let src = ip_at(b, off, 12);
                        let known = self
                            .snaps
                            .policy
                            .get()
                            .services
                            .servers
                            .iter()
                            .any(|s| s.addr == src);
                        if !known {
                            return Verdict::Drop(DropReason::NotForUs);
                        }
                        self.counters.punted.inc();
                        let flags = l4[13];
                        self.emit(
                            ev,
                            Event::ProbeReply {
                                server: ip_at(b, off, 12),
                                port: rd16(l4, 0),
                                probe_port: port,
                                ok: flags & 0x12 == 0x12,
                                seq: u32::from_be_bytes([l4[4], l4[5], l4[6], l4[7]]),
                                ack: u32::from_be_bytes([l4[8], l4[9], l4[10], l4[11]]),
                            },
                        );
                        return Verdict::Consumed;
                    }
                }
                let (lo, hi) = self.cfg.port_range;
                let Some(owner) = try_owner_core(port, lo, hi, self.cfg.n_workers) else {
                    return Verdict::Drop(DropReason::NoUserSession);
                };
                if owner != self.cfg.index && !handed_off {
                    return Verdict::Handoff(owner);
                }
                self.downlink(f, l2, addr, port, now_ms, ev)
            }
            Some(_) => local::maybe_echo(self, f, in_port, l2, now_ms)
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
