//! Turns a checked config into the dataplane's own structures: the policy
//! snapshot, the ports as the pipeline sees them, the gateways of the
//! steering table. Pure: runs before DPDK starts.

use crate::config::{self, Config, Proto, Role as CfgRole, SessionKey};
use dataplane::policy::{AdminState, Policy, Server, Service, ServiceTable};
use dataplane::tier1::{Gateway, GatewayId, GatewayTarget, SessionKeyMode};
use dataplane::tier2::{Quarantine, Timeouts};
use dataplane::topology::{LocalAddr, PortInfo, Role, Topology};
use dataplane::wire::{PROTO_TCP, PROTO_UDP};

pub fn role(r: CfgRole) -> Role {
    match r {
        CfgRole::Access => Role::Access,
        CfgRole::Server => Role::Server,
        CfgRole::External => Role::External,
    }
}

pub fn proto(p: Proto) -> u8 {
    match p {
        Proto::Tcp => PROTO_TCP,
        Proto::Udp => PROTO_UDP,
    }
}

pub fn session_key(k: SessionKey) -> SessionKeyMode {
    match k {
        SessionKey::SourceIp => SessionKeyMode::SourceIp,
        SessionKey::SourceIpVlan => SessionKeyMode::SourceIpVlan,
        SessionKey::GtpTeid => SessionKeyMode::GtpTeid,
    }
}

pub fn timeouts(t: &config::Timeouts) -> Timeouts {
    let s = |v: u32| u64::from(v) * 1000;
    Timeouts {
        tcp_syn_ms: s(t.tcp_syn_s),
        tcp_established_ms: s(t.tcp_established_s),
        tcp_fin_ms: s(t.tcp_closing_s),
        tcp_time_wait_ms: s(t.tcp_closing_s),
        tcp_close_ms: s(t.tcp_closing_s),
        udp_unreplied_ms: s(t.udp_s),
        udp_replied_ms: s(t.udp_replied_s),
        icmp_ms: s(t.icmp_s),
    }
}

pub fn quarantine(c: &Config) -> Quarantine {
    Quarantine {
        tcp_ms: c.gateway.quarantine_tcp_ms,
        other_ms: c.gateway.quarantine_other_ms,
    }
}

fn admin(s: config::ServerState) -> AdminState {
    match s {
        config::ServerState::Active => AdminState::Active,
        config::ServerState::Draining => AdminState::Draining,
        config::ServerState::Down => AdminState::Down,
    }
}

/// Services and servers from the config. Server indexes follow the order
/// of appearance; a server listed in two services gets one index each.
pub fn service_table(c: &Config) -> ServiceTable {
    let mut services = Vec::new();
    let mut servers = Vec::new();
    for s in &c.services {
        let mut ix = Vec::new();
        for srv in &s.servers {
            ix.push(servers.len() as u32);
            servers.push(Server {
                addr: srv.addr.0,
                port: srv.port,
                weight: srv.weight,
                state: admin(srv.state),
                reported_load: 0,
                unhealthy: false,
            });
        }
        services.push(Service {
            name: s.name.clone(),
            vip: Some(s.vip.0),
            proto: proto(s.proto),
            port_lo: s.port,
            port_hi: s.port_end.unwrap_or(s.port),
            servers: ix,
            by_type: Vec::new(),
        });
    }
    ServiceTable::new(services, servers)
}

pub fn policy(c: &Config) -> Policy {
    Policy {
        services: service_table(c),
        timeouts: timeouts(&c.timeouts),
        reply_rate_per_s: 100,
        ..Policy::default()
    }
}

/// The workers as tier-2 gateways: gateway i is worker i.
pub fn gateways(c: &Config) -> Vec<Gateway> {
    (0..c.workers.len())
        .map(|i| Gateway {
            id: GatewayId(i as u32),
            target: GatewayTarget::LocalWorker(i as u16),
        })
        .collect()
}

/// Ports with their MACs (read from DPDK), own addresses and routes.
pub fn topology(c: &Config, macs: &[[u8; 6]], policy: &Policy) -> Topology {
    let ports = c
        .ports
        .iter()
        .zip(macs)
        .map(|(p, mac)| PortInfo {
            name: p.name.clone(),
            role: role(p.role),
            mac: *mac,
            addresses: p.addresses.iter().map(|a| (a.addr, a.prefix_len)).collect(),
        })
        .collect();
    let mut t = Topology::new(ports);
    for (i, p) in c.ports.iter().enumerate() {
        let pi = i as u16;
        for r in &p.routes {
            t.add_route(r.prefix.addr, r.prefix.prefix_len, pi, r.via.0);
        }
        match p.role {
            CfgRole::Server | CfgRole::External => {
                for (n, g) in c.gateway.addresses.iter().enumerate() {
                    t.add_local(pi, g.0, LocalAddr::Gateway(n as u8));
                }
            }
            CfgRole::Access => {
                for s in &policy.services.services {
                    if let Some(v) = s.vip {
                        t.add_local(pi, v, LocalAddr::Vip);
                    }
                }
            }
        }
    }
    t
}
