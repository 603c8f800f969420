//! IPv6 servers and gateway IPv6 addresses (IPv6 → IPv6 full NAT): which
//! services may have IPv6 servers, and what they need to be reached; and
//! IPv6 VIPs that overlap (one VIP, protocol and port: one service).
//!
//! An IPv6 server is reached only from an IPv6 terminal, through a
//! service's `vip6`, from a gateway IPv6 address; an IPv4 terminal cannot
//! reach it (there is no IPv4 → IPv6 translation), so a service whose
//! servers are IPv6 must have a `vip6` and no IPv4 `vip`, its servers must
//! all be IPv6, no IPv4-only service may pool its users onto it, and the
//! servers must sit on an IPv6 network of a server or external port (the
//! gateway resolves them there by Neighbor Discovery) or behind an IPv6
//! route of one. Gateway IPv6 addresses must be unique, distinct
//! from port addresses and VIPs, and fit the 255 address indexes with the
//! IPv4 ones.

use super::{field, violation, Violation};
use crate::config::locate::Seg;
use crate::config::schema::{Config, Role, Service};
use std::collections::HashSet;
use std::net::Ipv6Addr;

/// Whether the service's servers are IPv6 (its first server decides; the
/// rest are checked to agree).
fn has_ipv6_servers(s: &Service) -> bool {
    s.servers.first().is_some_and(|srv| srv.addr.v6().is_some())
}

pub fn check(c: &Config) -> Result<(), Violation> {
    check_gateway_addresses(c)?;
    for (i, s) in c.services.iter().enumerate() {
        let at = |j: usize| {
            vec![
                field("services"),
                Seg::Index(i),
                field("servers"),
                Seg::Index(j),
                field("addr"),
            ]
        };
        let v6 = has_ipv6_servers(s);
        for (j, srv) in s.servers.iter().enumerate() {
            if srv.addr.v6().is_some() != v6 {
                return Err(violation(
                    at(j),
                    format!(
                        "service \"{}\" mixes IPv4 and IPv6 servers ({} and {}); put the IPv6 \
                         servers in a service of their own, with its own vip6",
                        s.name, s.servers[0].addr, srv.addr
                    ),
                ));
            }
        }
        if !v6 {
            continue;
        }
        let first = at(0);
        if s.vip6.is_none() || s.vip.is_some() {
            return Err(violation(
                first,
                format!(
                    "service \"{}\" has IPv6 servers: it needs a vip6 and no IPv4 vip (IPv4 \
                     terminals cannot reach IPv6 servers)",
                    s.name
                ),
            ));
        }
        if c.gateway.ipv6_addresses.is_empty() {
            return Err(violation(
                first,
                format!(
                    "service \"{}\" has IPv6 servers: give gateway.ipv6_addresses (the source \
                     address its servers see)",
                    s.name
                ),
            ));
        }
        for (j, srv) in s.servers.iter().enumerate() {
            let Some(a) = srv.addr.v6() else { continue };
            if on_network_port(c, a).is_none() && !routed(c, a) {
                return Err(violation(
                    at(j),
                    format!(
                        "IPv6 server {a} of service \"{}\" is on no IPv6 network of a server or \
                         external port and no IPv6 route leads to it; give that port an address \
                         in its network, or a route",
                        s.name
                    ),
                ));
            }
        }
    }
    // Two services on one IPv6 VIP, protocol and port would make the
    // choice of servers depend on the order of the list.
    for (i, s) in c.services.iter().enumerate() {
        let Some(vip6) = s.vip6 else { continue };
        let end = s.port_end.unwrap_or(s.port);
        if let Some(j) = c.services[..i].iter().position(|t| {
            t.vip6 == Some(vip6)
                && t.proto == s.proto
                && s.port <= t.port_end.unwrap_or(t.port)
                && end >= t.port
        }) {
            return Err(violation(
                vec![field("services"), Seg::Index(i), field("vip6")],
                format!(
                    "vip6 {vip6} {:?} ports {}..={end} overlaps services[{j}]",
                    s.proto, s.port
                ),
            ));
        }
    }
    // No IPv4-only service may send a type's users to IPv6 servers.
    for (i, s) in c.services.iter().enumerate() {
        if s.vip6.is_some() {
            continue;
        }
        for (j, p) in s.pools.iter().enumerate() {
            let target = c.services.iter().find(|t| t.name == p.service);
            if target.is_some_and(has_ipv6_servers) {
                return Err(violation(
                    vec![
                        field("services"),
                        Seg::Index(i),
                        field("pools"),
                        Seg::Index(j),
                        field("service"),
                    ],
                    format!(
                        "service \"{}\" has no vip6 but pools users onto \"{}\", whose servers \
                         are IPv6",
                        s.name, p.service
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The server or external port with an IPv6 network that holds `a`.
fn on_network_port(c: &Config, a: Ipv6Addr) -> Option<usize> {
    c.ports.iter().position(|p| {
        matches!(p.role, Role::Server | Role::External)
            && p.ipv6_addresses()
                .any(|n| dataplane::topology_v6::same_prefix(n.addr, a, n.prefix_len))
    })
}

/// Whether an IPv6 route of a server or external port leads to `a`.
fn routed(c: &Config, a: Ipv6Addr) -> bool {
    c.ports
        .iter()
        .filter(|p| matches!(p.role, Role::Server | Role::External))
        .flat_map(|p| &p.routes)
        .any(|r| {
            r.prefix
                .v6()
                .is_some_and(|n| dataplane::topology_v6::same_prefix(n.addr, a, n.prefix_len))
        })
}

fn check_gateway_addresses(c: &Config) -> Result<(), Violation> {
    let g = &c.gateway;
    let at = |i: usize| vec![field("gateway"), field("ipv6_addresses"), Seg::Index(i)];
    if g.addresses.len() + g.ipv6_addresses.len() > 255 {
        return Err(violation(
            vec![field("gateway"), field("ipv6_addresses")],
            format!(
                "{} IPv4 and {} IPv6 gateway addresses: at most 255 in all",
                g.addresses.len(),
                g.ipv6_addresses.len()
            ),
        ));
    }
    let mut seen = HashSet::new();
    for (i, a) in g.ipv6_addresses.iter().enumerate() {
        let a = a.0;
        if !seen.insert(a) {
            return Err(violation(
                at(i),
                format!("gateway IPv6 address {a} is listed twice"),
            ));
        }
        if let Some(p) = c
            .ports
            .iter()
            .find(|p| p.ipv6_addresses().any(|n| n.addr == a))
        {
            return Err(violation(
                at(i),
                format!(
                    "gateway IPv6 address {a} is port \"{}\"'s address; give each address one role",
                    p.name
                ),
            ));
        }
        if let Some(s) = c.services.iter().find(|s| s.vip6.is_some_and(|v| v.0 == a)) {
            return Err(violation(
                at(i),
                format!(
                    "gateway IPv6 address {a} is the vip6 of service \"{}\"",
                    s.name
                ),
            ));
        }
        if on_network_port(c, a).is_none() {
            return Err(violation(
                at(i),
                format!(
                    "gateway IPv6 address {a} is on no IPv6 network of a server or external \
                     port: servers could not answer it"
                ),
            ));
        }
    }
    Ok(())
}
