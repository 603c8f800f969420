//! Turns a checked config into the dataplane's own structures: the policy
//! snapshot, the ports as the pipeline sees them, the gateways of the
//! steering table. Pure: runs before DPDK starts.

use crate::config::{self, Config, Proto, Role as CfgRole, SessionKey};
use dataplane::pipeline::fabric::FabricConfig;
use dataplane::policy::{
    AddrMatch, AdminState, ClassRule, Classifier, Entitlement, Limits, Policy, Rate, Selection,
    Server, Service, ServiceSet, ServiceTable, Subscribers, SynProxyMode, UserSessionType,
};
use dataplane::shaping::{Bitrate, OnExhausted, QuotaPlan, Rate as ByteRate, MAX_THRESHOLDS};
use dataplane::tier1::{
    Gateway, GatewayId, GatewayTarget, Ipv6SessionPrefix, SessionId, SessionKeyMode,
};
use dataplane::tier2::{Quarantine, Timeouts};
use dataplane::topology::{LocalAddr, Neighbours, PortInfo, Role, Topology};
use dataplane::wire::{PROTO_TCP, PROTO_UDP};

pub fn role(r: CfgRole) -> Role {
    match r {
        CfgRole::Access => Role::Access,
        CfgRole::Server => Role::Server,
        CfgRole::External => Role::External,
        // Geneve to and from the other appliances (docs/cluster.md).
        CfgRole::Fabric => Role::Fabric,
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

/// NAT64 for the workers: on when the config has a `nat64` section (its
/// prefix, validated to be a /96) or a service with a `vip6`; off (no side
/// array, no buffer) otherwise.
pub fn nat64(c: &config::Config) -> Option<dataplane::pipeline::Nat64Config> {
    let prefix = c
        .nat64
        .as_ref()
        .map(|n| dataplane::wire::Nat64Prefix::new(n.prefix.addr));
    let vip6 = c.services.iter().any(|s| s.vip6.is_some());
    (prefix.is_some() || vip6).then_some(dataplane::pipeline::Nat64Config { prefix })
}

/// The IPv6 session prefix of `steering.ipv6_prefix_len` (validated to
/// be one of the four lengths; /64 otherwise).
pub fn ipv6_session_prefix(bits: u8) -> Ipv6SessionPrefix {
    Ipv6SessionPrefix::from_bits(bits).unwrap_or_default()
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
                addr: srv.addr.v4().unwrap_or(std::net::Ipv4Addr::UNSPECIFIED),
                addr6: srv.addr.v6(),
                port: srv.port,
                weight: srv.weight,
                state: admin(srv.state),
                reported_load: 0,
                unhealthy: false,
            });
        }
        services.push(Service {
            name: s.name.clone(),
            vip: s.vip.map(|v| v.0),
            vip6: s.vip6.map(|v| v.0),
            proto: proto(s.proto),
            port_lo: s.port,
            port_hi: s.port_end.unwrap_or(s.port),
            servers: ix,
            by_type: Vec::new(),
            removed: false,
            syn_proxy: match s.syn_proxy {
                config::SynProxyMode::Off => SynProxyMode::Off,
                config::SynProxyMode::Auto => SynProxyMode::Auto,
                config::SynProxyMode::Always => SynProxyMode::Always,
            },
            dscp: s.dscp,
            proxy_v2: s.proxy_protocol == config::ProxyProtocol::V2,
        });
    }
    // Type overrides name services that are now all known.
    let classifier = classifier(c);
    let index = |name: &str| {
        c.services
            .iter()
            .position(|s| s.name == name)
            .map(|i| i as u32)
    };
    let type_index = |name: &str| {
        classifier
            .types
            .iter()
            .position(|t| t.name == name)
            .map(|i| i as u8)
    };
    for (svc, cfg) in services.iter_mut().zip(&c.services) {
        svc.by_type = cfg
            .pools
            .iter()
            .filter_map(|p| Some((type_index(&p.user_session_type)?, index(&p.service)?)))
            .collect();
    }
    ServiceTable::new(services, servers)
}

/// User-session types and rules. Without configured types there is one,
/// `other`, for everything.
/// A classify rule's prefix as the dataplane matches it (host bits are
/// refused by check-config; masked here all the same).
fn addr_match(p: config::net::IpCidr) -> AddrMatch {
    match p {
        config::net::PortAddr::V4(p) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(p.prefix_len))
                .unwrap_or(0);
            AddrMatch::V4 {
                net: (u32::from(p.addr) & mask).into(),
                len: p.prefix_len,
            }
        }
        config::net::PortAddr::V6(p) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(p.prefix_len))
                .unwrap_or(0);
            AddrMatch::V6 {
                net: std::net::Ipv6Addr::from_bits(p.addr.to_bits() & mask),
                len: p.prefix_len,
            }
        }
    }
}

pub fn classifier(c: &Config) -> Classifier {
    if c.user_session_types.is_empty() {
        return Classifier::default();
    }
    let types: Vec<UserSessionType> = c
        .user_session_types
        .iter()
        .map(|t| UserSessionType {
            name: t.name.clone(),
            selection: match t.selection {
                config::Selection::LeastLoad => Selection::LeastLoad,
                config::Selection::WeightedLeastLoad => Selection::WeightedLeastLoad,
                config::Selection::Sticky => Selection::Sticky,
            },
            timeouts: t.timeouts.as_ref().map(timeouts),
            accounted: t.accounted,
            dscp: t.dscp,
            over_limit_dscp: t.over_limit_dscp,
            bitrate: t.bitrate.as_ref().map(bitrate),
        })
        .collect();
    let rules = c
        .classify
        .iter()
        .filter_map(|r| {
            let type_index = types.iter().position(|t| t.name == r.user_session_type)? as u8;
            Some(ClassRule {
                proto: r.proto.map(|p| match p {
                    config::ClassProto::Tcp => PROTO_TCP,
                    config::ClassProto::Udp => PROTO_UDP,
                    config::ClassProto::Icmp => dataplane::wire::PROTO_ICMP,
                }),
                dst_ports: r.ports,
                dscp: r.dscp,
                terminal: r.terminal.map(addr_match),
                dst: r.dst.map(addr_match),
                type_index,
            })
        })
        .collect();
    Classifier { types, rules }
}

/// Names of services → a set of their indexes.
fn service_set(c: &Config, names: &Option<Vec<String>>) -> ServiceSet {
    match names {
        None => ServiceSet::All,
        Some(list) => ServiceSet::from_indexes(list.iter().filter_map(|n| {
            c.services
                .iter()
                .position(|s| &s.name == n)
                .map(|i| i as u32)
        })),
    }
}

/// Per-subscriber limits as the dataplane holds them (the burst defaults
/// to one second's worth).
pub fn limits(l: &config::SubscriberLimits) -> Limits {
    Limits {
        max_live: l.max_user_sessions,
        rate: l.new_user_sessions_per_s.map(|per_s| Rate {
            per_s,
            burst: l.burst.unwrap_or(per_s).max(1),
        }),
        bitrate: l.bitrate.as_ref().map(bitrate),
        quota: l.quota.as_ref().map(quota),
    }
}

/// A quota as the ledger keeps it (a throttle as a bitrate limit with the
/// default burst).
pub fn quota(q: &config::Quota) -> QuotaPlan {
    let mut thresholds = [0u8; MAX_THRESHOLDS];
    let n = q.thresholds.len().min(MAX_THRESHOLDS);
    thresholds[..n].copy_from_slice(&q.thresholds[..n]);
    QuotaPlan {
        bytes: q.bytes,
        online_s: q.online_s,
        period_s: q.period_s.unwrap_or(0),
        thresholds,
        n_thresholds: n as u8,
        on_exhausted: match q.on_exhausted {
            config::OnExhausted::Block => OnExhausted::Block,
            config::OnExhausted::Throttle(up, down) => {
                OnExhausted::Throttle(bitrate(&config::BitrateLimit {
                    up_mbit: Some(up),
                    down_mbit: Some(down),
                    burst_kb: None,
                }))
            }
        },
    }
}

/// Bitrate limits as the dataplane meters them: bytes per second, and the
/// burst (default half a second of the rate, at least 64 kB: TCP recovers
/// from a loss with a retransmission timeout of at least 200 ms, and a
/// shallower bucket overflows while it waits, so a greedy download gets
/// well under the rate).
pub fn bitrate(b: &config::BitrateLimit) -> Bitrate {
    let rate = |mbit: u32| {
        let bits = u64::from(mbit) * 1_000_000;
        let burst = match b.burst_kb {
            Some(kb) => u64::from(kb) * 1000,
            None => (bits / 8 / 2).max(DEFAULT_MIN_BURST_BYTES),
        };
        ByteRate::from_bits_per_s(bits, burst)
    };
    Bitrate {
        up: b.up_mbit.map(rate),
        down: b.down_mbit.map(rate),
    }
}

/// The smallest default bitrate burst: 64 kB.
const DEFAULT_MIN_BURST_BYTES: u64 = 64_000;

pub fn subscribers(c: &Config) -> Subscribers {
    let default = Entitlement {
        services: match c.subscribers.default {
            config::DefaultPolicy::Allow => ServiceSet::All,
            config::DefaultPolicy::Deny => ServiceSet::none(),
        },
        external: c.subscribers.default_external,
        limits: limits(&c.subscribers.default_limits),
    };
    let mut subs = Subscribers::new(default);
    for e in &c.subscribers.entries {
        let ent = Entitlement {
            services: service_set(c, &e.services),
            external: e.external,
            limits: limits(e.limits.as_ref().unwrap_or(&c.subscribers.default_limits)),
        };
        match e.prefix {
            Some(config::net::PortAddr::V4(p)) => subs.set_prefix(p.addr, p.prefix_len, ent),
            Some(config::net::PortAddr::V6(p)) => subs.set_prefix6(p.addr, p.prefix_len, ent),
            None => {
                let Some(sid) = e.session.as_ref().and_then(|s| s.parse::<SessionId>().ok()) else {
                    continue;
                };
                match ipv6_session_as_prefix(c, sid) {
                    Some((addr, len)) => subs.set_prefix6(addr, len, ent),
                    None => subs.set_session(sid.0, ent),
                }
            }
        }
    }
    subs
}

/// An IPv6 session ID shorter than the terminals' session IDs
/// (`steering.ipv6_prefix_len`) names every session ID inside it: it is
/// kept as an IPv6 prefix entry. `None` for any other session ID.
pub fn ipv6_session_as_prefix(c: &Config, sid: SessionId) -> Option<(std::net::Ipv6Addr, u8)> {
    match sid.kind() {
        dataplane::tier1::SessionIdKind::Ipv6Prefix { addr, len }
            if len.bits() < c.steering.ipv6_prefix_len =>
        {
            Some((addr, len.bits()))
        }
        _ => None,
    }
}

pub fn policy(c: &Config) -> Policy {
    Policy {
        services: service_table(c),
        classifier: classifier(c),
        subscribers: subscribers(c),
        timeouts: timeouts(&c.timeouts),
        interim_ms: c.accounting.interim_s.saturating_mul(1000),
        reply_rate_per_s: 100,
        syn_proxy_fill_percent: c.syn_proxy.fill_percent,
        // The control plane's ledger decides; it publishes its verdicts
        // over this (`runtime::quota`).
        quota: Default::default(),
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

/// This appliance's place on the cluster fabric, for the workers; `None`
/// stand-alone (or, which check-config refuses, without a fabric address).
pub fn fabric(c: &Config) -> Option<FabricConfig> {
    let cl = c.cluster.as_ref()?;
    let port = c.ports.iter().position(|p| p.role == CfgRole::Fabric)?;
    Some(FabricConfig {
        appliance_id: cl.appliance_id,
        port: u16::try_from(port).ok()?,
        addr: config::cluster::fabric_addr(c)?,
        base_port: cl.fabric_base_port,
        mtu: cl.fabric_mtu,
        gateways: config::cluster::roles(c).gateway,
    })
}

/// The static neighbours of every port (both versions), the table ARP and
/// Neighbor Discovery learning start from.
pub fn neighbours(c: &Config) -> Neighbours {
    let mut neighbours = Neighbours::default();
    for (i, p) in c.ports.iter().enumerate() {
        for n in &p.neighbours {
            match n.ip.0 {
                std::net::IpAddr::V4(a) => neighbours.insert(i as u16, a, n.mac.0),
                std::net::IpAddr::V6(a) => neighbours.insert_v6(i as u16, a, n.mac.0),
            }
        }
    }
    neighbours
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
            addresses: p.ipv4_addresses().map(|a| (a.addr, a.prefix_len)).collect(),
        })
        .collect();
    let mut t = Topology::new(ports);
    for (i, p) in c.ports.iter().enumerate() {
        let pi = i as u16;
        for r in &p.routes {
            // check-config made `via` the prefix's version.
            match (r.prefix, r.via.0) {
                (crate::config::net::PortAddr::V4(n), std::net::IpAddr::V4(via)) => {
                    t.add_route(n.addr, n.prefix_len, pi, via)
                }
                (crate::config::net::PortAddr::V6(n), std::net::IpAddr::V6(via)) => {
                    t.add_route_v6(dataplane::topology_v6::RouteV6 {
                        prefix: n.addr,
                        len: n.prefix_len,
                        port: pi,
                        via,
                    })
                }
                _ => {}
            }
        }
        // An access port's own clamp, else the global one (every port:
        // on a cluster gateway the terminal's path is the fabric port).
        t.set_mss_clamp(pi, p.mss_clamp.or(c.mss_clamp));
        t.set_mtu(pi, p.mtu);
        let v6: Vec<(std::net::Ipv6Addr, u8)> =
            p.ipv6_addresses().map(|a| (a.addr, a.prefix_len)).collect();
        t.set_ipv6_addresses(pi, &v6);
        if let Some(list) = &p.allowed_sources {
            let v: Vec<(std::net::Ipv4Addr, u8)> =
                list.iter().map(|c| (c.addr, c.prefix_len)).collect();
            t.set_allowed_sources(pi, &v);
        }
        match p.role {
            CfgRole::Server | CfgRole::External => {
                for (n, g) in c.gateway.addresses.iter().enumerate() {
                    t.add_local(pi, g.0, LocalAddr::Gateway(n as u8));
                }
                // IPv6 ones take the indexes after the IPv4 ones (as the
                // workers number them: `WorkerConfig::gateway_addrs6`).
                let n4 = c.gateway.addresses.len();
                for (n, g) in c.gateway.ipv6_addresses.iter().enumerate() {
                    t.add_gateway_v6(pi, g.0, (n4 + n) as u8);
                }
            }
            CfgRole::Fabric => {}
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::path::Path;

    #[test]
    fn ipv6_port_addresses_reach_the_topology_and_ipv4_stays_first() {
        let text = r#"(
    eal: (lcores: "0-1", no_huge: true, memory_mb: 256, file_prefix: "t",
          vdevs: ["net_ring0", "net_ring1"]),
    ports: [
        (name: "acc0", device: "net_ring0", role: Access,
         addresses: ["2001:db8:1::1/64", "10.1.0.1/24"]),
        (name: "srv0", device: "net_ring1", role: Server, addresses: ["10.2.0.1/24"]),
    ],
    workers: [(lcore: 1, poll: [(port: "acc0"), (port: "srv0")])],
    gateway: (addresses: ["10.2.0.10"]),
)"#;
        let c = crate::config::parse(Path::new("t.ron"), text).unwrap();
        let t = topology(&c, &[[2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]], &policy(&c));
        let v6: Ipv6Addr = "2001:db8:1::1".parse().unwrap();
        assert!(t.is_own_ipv6(0, v6));
        assert!(!t.is_own_ipv6(1, v6));
        assert_eq!(t.ipv6_addresses(0), &[(v6, 64)]);
        // What Tandem sends from the port (ARP, ICMP errors, GTP-U) keeps
        // the IPv4 address, and the IPv6 one makes no IPv4 route.
        assert_eq!(t.port_address(0), Some(Ipv4Addr::new(10, 1, 0, 1)));
        assert_eq!(t.route(Ipv4Addr::new(10, 1, 0, 7)).map(|h| h.port), Some(0));
    }
}
