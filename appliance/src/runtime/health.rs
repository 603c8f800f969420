//! Server health: passive checks (real SYNs left unanswered or reset) and
//! active TCP connect probes (SYN out from a reserved gateway port, SYN-ACK
//! or RST back). An unhealthy server gets no new user sessions; what
//! happens to its existing ones is the config's `on_down`.
//!
//! Passive failures inhibit a server DPVS-style: `fall` failures within
//! `window_s` inhibit it for `backoff_s`, doubling on each new inhibition
//! up to `backoff_max_s`. Active probes take a server down after `fall`
//! failed probes in a row and bring it back after `rise` good ones.

use super::control::Control;
use crate::config;
use dataplane::pipeline::inspect::Filter;
use dataplane::policy::AdminState;
use dataplane::wire::frames::{tcp_frame, tcp_frame_v6, FrameSpecV6};
use dataplane::wire::{FrameSpec, MacAddr, TcpFlags};
use hashbrown::HashMap;
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv6Addr};
use tracing::{info, warn};

#[derive(Debug, Default)]
struct ServerHealth {
    failures: VecDeque<u64>,
    inhibited_until: u64,
    backoff_ms: u64,
    last_failure_ms: u64,
    probe_ok: u32,
    probe_fail: u32,
    probe_down: bool,
    /// Times it went down.
    downs: u64,
}

/// Health-check state of the control plane.
#[derive(Debug)]
pub struct HealthState {
    cfg: config::Health,
    servers: HashMap<u32, ServerHealth>,
    next_probe_ms: u64,
    next_probe_port: u16,
    /// Probe source port → (server index, sent at).
    outstanding: HashMap<u16, (u32, u64)>,
}

impl HealthState {
    pub fn new(cfg: config::Health) -> HealthState {
        let first = cfg.active.as_ref().map_or(0, |a| a.source_ports.0);
        HealthState {
            cfg,
            servers: HashMap::new(),
            next_probe_ms: 0,
            next_probe_port: first,
            outstanding: HashMap::new(),
        }
    }

    /// Times server `i` went down since start.
    pub fn downs(&self, i: u32) -> u64 {
        self.servers.get(&i).map_or(0, |h| h.downs)
    }

    fn unhealthy(&self, i: u32, now: u64) -> bool {
        self.servers
            .get(&i)
            .is_some_and(|h| h.inhibited_until > now || h.probe_down)
    }
}

impl Control {
    /// A real SYN to `server` went unanswered or was reset.
    pub fn on_server_failure(&mut self, server: u32, now: u64) {
        let h = &mut self.health;
        if !h.cfg.passive {
            return;
        }
        let (fall, window, base, max) = (
            h.cfg.fall as usize,
            h.cfg.window_s * 1000,
            h.cfg.backoff_s * 1000,
            h.cfg.backoff_max_s * 1000,
        );
        let s = h.servers.entry(server).or_default();
        s.last_failure_ms = now;
        s.failures.push_back(now);
        while s
            .failures
            .front()
            .is_some_and(|&t| now.saturating_sub(t) > window)
        {
            s.failures.pop_front();
        }
        if s.failures.len() >= fall && s.inhibited_until <= now {
            s.backoff_ms = if s.backoff_ms == 0 {
                base.max(1)
            } else {
                (s.backoff_ms * 2).min(max.max(base))
            };
            s.inhibited_until = now + s.backoff_ms;
            s.failures.clear();
            warn!(
                server,
                backoff_ms = s.backoff_ms,
                "server failing (unanswered or reset SYNs): inhibited"
            );
        }
        self.apply_health(now);
    }

    /// The answer to an active probe.
    pub fn on_probe_reply(
        &mut self,
        addr: IpAddr,
        port: u16,
        probe_port: u16,
        ok: bool,
        ack: u32,
        now: u64,
    ) {
        let Some(&(server, _)) = self.health.outstanding.get(&probe_port) else {
            return;
        };
        let policy = self.shared.policy.current();
        let Some(srv) = policy.services.servers.get(server as usize) else {
            return;
        };
        if !srv.has_addr(addr) {
            return;
        }
        self.health.outstanding.remove(&probe_port);
        if ok {
            // Close the half-open connection politely.
            self.send_probe(addr, port, probe_port, TcpFlags::RST, ack);
        }
        self.probe_result(server, ok, now);
    }

    fn probe_result(&mut self, server: u32, ok: bool, now: u64) {
        let Some(a) = self.health.cfg.active.clone() else {
            return;
        };
        let s = self.health.servers.entry(server).or_default();
        if ok {
            s.probe_ok += 1;
            s.probe_fail = 0;
            if s.probe_down && s.probe_ok >= a.rise {
                s.probe_down = false;
                info!(server, "active health check: server is up");
            }
        } else {
            s.probe_fail += 1;
            s.probe_ok = 0;
            if !s.probe_down && s.probe_fail >= a.fall {
                s.probe_down = true;
                warn!(server, "active health check: server is down");
            }
        }
        self.apply_health(now);
    }

    fn send_probe(
        &self,
        dst: IpAddr,
        port: u16,
        probe_port: u16,
        flags: TcpFlags,
        seq: u32,
    ) -> bool {
        let dst = match dst {
            IpAddr::V4(a) => a,
            IpAddr::V6(a) => return self.send_probe_v6(a, (port, probe_port), flags, seq),
        };
        let s = &self.shared;
        let Some(hop) = s.topo.route(dst) else {
            return false;
        };
        let Some(mac) = s.neighbours_work.get(hop.port, hop.ip) else {
            return false;
        };
        let Some(gw) = s.cfg.gateway.addresses.first() else {
            return false;
        };
        let spec = FrameSpec {
            src_mac: MacAddr(s.topo.mac(hop.port)),
            dst_mac: MacAddr(mac),
            vlan: None,
            src_ip: gw.0,
            dst_ip: dst,
            src_port: probe_port,
            dst_port: port,
            ttl: 64,
        };
        match tcp_frame(&spec, seq, 0, flags, 1024, &[]) {
            Ok(f) => self.send(hop.port, &f),
            Err(_) => false,
        }
    }

    /// [`send_probe`](Self::send_probe) to an IPv6 server: from the
    /// gateway IPv6 address on the port its route leaves by (else the
    /// first one), to its next hop's MAC.
    fn send_probe_v6(
        &self,
        dst: Ipv6Addr,
        (port, probe_port): (u16, u16),
        flags: TcpFlags,
        seq: u32,
    ) -> bool {
        let s = &self.shared;
        let Some(hop) = s.topo.route_v6(dst) else {
            return false;
        };
        let Some(mac) = s.neighbours_work.get_v6(hop.port, hop.ip) else {
            return false;
        };
        let on_port = s.topo.gateways_v6().find(|&(p, _, _)| p == hop.port);
        let Some((_, src, _)) = on_port.or_else(|| s.topo.gateways_v6().next()) else {
            return false;
        };
        let spec = FrameSpecV6 {
            src_mac: MacAddr(s.topo.mac(hop.port)),
            dst_mac: MacAddr(mac),
            src_ip: src,
            dst_ip: dst,
            src_port: probe_port,
            dst_port: port,
        };
        match tcp_frame_v6(&spec, seq, flags, 1024) {
            Ok(f) => self.send(hop.port, &f),
            Err(_) => false,
        }
    }

    /// Once per control round: probes due, probe timeouts, ends of
    /// inhibition.
    pub fn health_tick(&mut self, now: u64) {
        if let Some(a) = self.health.cfg.active.clone() {
            // Timeouts.
            let expired: Vec<(u16, u32)> = self
                .health
                .outstanding
                .iter()
                .filter(|(_, &(_, at))| now.saturating_sub(at) > a.timeout_ms)
                .map(|(&p, &(s, _))| (p, s))
                .collect();
            for (p, s) in expired {
                self.health.outstanding.remove(&p);
                self.probe_result(s, false, now);
            }
            if now >= self.health.next_probe_ms {
                self.health.next_probe_ms = now + a.interval_ms;
                let policy = self.shared.policy.current();
                let mut targets = Vec::new();
                // TCP connect probes only make sense for TCP services.
                for svc in policy
                    .services
                    .services
                    .iter()
                    .filter(|s| !s.removed && s.proto == 6)
                {
                    for &i in &svc.servers {
                        if let Some(srv) = policy.services.servers.get(i as usize) {
                            if srv.state != AdminState::Removed {
                                let addr = srv.addr6.map_or(IpAddr::V4(srv.addr), IpAddr::V6);
                                targets.push((i, addr, srv.port.unwrap_or(svc.port_lo)));
                            }
                        }
                    }
                }
                let (lo, hi) = a.source_ports;
                for (i, addr, port) in targets {
                    if self.health.outstanding.values().any(|&(s, _)| s == i) {
                        continue;
                    }
                    let pp = self.health.next_probe_port;
                    self.health.next_probe_port = if pp >= hi { lo } else { pp + 1 };
                    if self.health.outstanding.contains_key(&pp) {
                        continue;
                    }
                    let seq = (now as u32)
                        .wrapping_mul(2_654_435_761)
                        .wrapping_add(u32::from(pp));
                    if self.send_probe(addr, port, pp, TcpFlags::SYN, seq) {
                        self.health.outstanding.insert(pp, (i, now));
                    } else if self.unresolved_tries(addr) > 3 {
                        // No MAC yet: it is being resolved; the server fails
                        // only once ARP or ND has had its retries without an
                        // answer.
                        self.probe_result(i, false, now);
                    }
                }
            }
        }
        // Inhibitions that ran out; backoff forgiven after a quiet spell.
        let max = self.health.cfg.backoff_max_s * 1000;
        let mut changed = false;
        for s in self.health.servers.values_mut() {
            if s.inhibited_until != 0 && s.inhibited_until <= now {
                s.inhibited_until = 0;
                changed = true;
            }
            if s.backoff_ms != 0 && now.saturating_sub(s.last_failure_ms) > max.max(1000) * 2 {
                s.backoff_ms = 0;
            }
        }
        if changed {
            self.apply_health(now);
        }
    }

    /// Publishes health flags that changed; ends user sessions of servers
    /// that went down when `on_down` is `Reset`.
    fn apply_health(&mut self, now: u64) {
        let current = self.shared.policy.current();
        let mut went_down = Vec::new();
        let mut flips = Vec::new();
        for (i, srv) in current.services.servers.iter().enumerate() {
            let bad = self.health.unhealthy(i as u32, now);
            if bad != srv.unhealthy {
                flips.push((i, bad));
                if bad {
                    went_down.push(i as u32);
                }
            }
        }
        if flips.is_empty() {
            return;
        }
        let mut p = (*current).clone();
        for &(i, bad) in &flips {
            p.services.servers[i].unhealthy = bad;
            let addr = p.services.servers[i].addr;
            if bad {
                self.health.servers.entry(i as u32).or_default().downs += 1;
                warn!(server = i, %addr, "server marked unhealthy: no new user sessions");
            } else {
                info!(server = i, %addr, "server healthy again");
            }
        }
        self.shared.publish_policy(p);
        if self.health.cfg.on_down == config::OnDown::Reset {
            for s in went_down {
                let n = self.end_user_sessions(Filter {
                    server_index: Some(s),
                    ..Filter::default()
                });
                info!(
                    server = s,
                    ended = n,
                    "user sessions of the failed server ended (on_down: Reset)"
                );
            }
        }
    }
}
