//! The `ports` section: names, devices, queues and addresses unique, and
//! at least one Access and one Server port. IPv6 port addresses must be
//! unicast and may not sit on a fabric port (the fabric is IPv4 Geneve).

use super::{field, violation, Violation};
use crate::config::locate::Seg;
use crate::config::net::Ipv6Cidr;
use crate::config::schema::{Config, Role};
use std::collections::{HashMap, HashSet};

/// Checks the `ports` section; each port's index by name, for the sections
/// that name ports.
pub fn check(c: &Config) -> Result<HashMap<&str, usize>, Violation> {
    if c.ports.is_empty() {
        return Err(violation(
            vec![field("ports")],
            "no ports: give at least one access and one server port".into(),
        ));
    }
    let mut names = HashMap::new();
    let mut devices = HashSet::new();
    let mut addrs = HashSet::new();
    for (i, p) in c.ports.iter().enumerate() {
        let at = |f: &'static str| vec![field("ports"), Seg::Index(i), field(f)];
        if p.name.is_empty() || p.name.len() > 32 {
            return Err(violation(
                at("name"),
                "port name must be 1 to 32 characters".into(),
            ));
        }
        if let Some(first) = names.insert(p.name.as_str(), i) {
            return Err(violation(
                at("name"),
                format!(
                    "port name \"{}\" is used twice (also by ports[{first}])",
                    p.name
                ),
            ));
        }
        if !devices.insert(p.device.as_str()) {
            return Err(violation(
                at("device"),
                format!("device \"{}\" is given to two ports", p.device),
            ));
        }
        if p.rx_queues == 0 || p.rx_queues > 64 {
            return Err(violation(
                at("rx_queues"),
                "rx_queues must be 1 to 64".into(),
            ));
        }
        if let Some(mtu) = p.mtu {
            check_mtu(c, p, mtu).map_err(|message| violation(at("mtu"), message))?;
        }
        for (j, a) in p.addresses.iter().enumerate() {
            let at = || {
                vec![
                    field("ports"),
                    Seg::Index(i),
                    field("addresses"),
                    Seg::Index(j),
                ]
            };
            if !addrs.insert(a.ip()) {
                return Err(violation(
                    at(),
                    format!("address {} is configured twice", a.ip()),
                ));
            }
            if let Some(v6) = a.v6() {
                check_ipv6(p, v6).map_err(|message| violation(at(), message))?;
            }
        }
        for (j, r) in p.routes.iter().enumerate() {
            let at = || {
                vec![
                    field("ports"),
                    Seg::Index(i),
                    field("routes"),
                    Seg::Index(j),
                ]
            };
            check_route(p, r).map_err(|message| violation(at(), message))?;
        }
        for (j, n) in p.neighbours.iter().enumerate() {
            let std::net::IpAddr::V6(a) = n.ip.0 else {
                continue;
            };
            if !on_link_v6(p, a) {
                return Err(violation(
                    vec![field("ports"), Seg::Index(i), field("neighbours"), Seg::Index(j), field("ip")],
                    format!(
                        "IPv6 neighbour {a} must be link-local or inside an IPv6 network of port \"{}\"",
                        p.name
                    ),
                ));
            }
        }
    }
    // A cluster member may be a tier-1 unit or a gateway alone (cluster.rs).
    for role in [Role::Access, Role::Server] {
        if c.cluster.is_none() && !c.ports.iter().any(|p| p.role == role) {
            return Err(violation(
                vec![field("ports")],
                format!("no port has role {role:?}; Tandem needs at least one Access and one Server port"),
            ));
        }
    }
    Ok(names)
}

/// A static route: its next hop of its prefix's version; an IPv6 one only
/// on a server or external port (it leads to IPv6 servers) with an IPv6
/// address, its next hop on the link (link-local, or inside one of the
/// port's IPv6 networks: Tandem resolves it by Neighbor Discovery there).
fn check_route(
    p: &crate::config::schema::Port,
    r: &crate::config::schema::Route,
) -> Result<(), String> {
    use crate::config::net::PortAddr;
    use std::net::IpAddr;
    let (prefix, via) = match (r.prefix, r.via.0) {
        (PortAddr::V4(_), IpAddr::V4(_)) => return Ok(()),
        (PortAddr::V6(n), IpAddr::V6(via)) => (n, via),
        _ => {
            return Err(format!(
                "route {} via {}: the next hop must be of the prefix's IP version",
                r.prefix.ip(),
                r.via
            ))
        }
    };
    if !matches!(p.role, Role::Server | Role::External) {
        return Err(format!(
            "IPv6 route {prefix} on port \"{}\": IPv6 routes lead to IPv6 servers, only on a \
             Server or External port",
            p.name
        ));
    }
    if !on_link_v6(p, via) {
        return Err(format!(
            "IPv6 route {prefix} via {via}: the next hop must be link-local or inside an IPv6 \
             network of port \"{}\" (give the port an IPv6 address on that link)",
            p.name
        ));
    }
    Ok(())
}

/// Whether `a` is on one of `p`'s IPv6 links: the port has an IPv6
/// address, and `a` is link-local or inside one of its networks.
fn on_link_v6(p: &crate::config::schema::Port, a: std::net::Ipv6Addr) -> bool {
    p.ipv6_addresses().next().is_some()
        && (a.is_unicast_link_local()
            || p.ipv6_addresses()
                .any(|n| dataplane::topology_v6::same_prefix(n.addr, a, n.prefix_len)))
}

/// Bytes of an mbuf's data room DPDK keeps in front of the frame
/// (RTE_PKTMBUF_HEADROOM).
const MBUF_HEADROOM: u32 = 128;
/// Ethernet header with one VLAN tag.
const L2_MAX: u32 = 18;

/// A port's MTU: at least 576 (the IPv4 datagram every host must take),
/// 1280 with an IPv6 address (RFC 8200 section 5), and a largest frame
/// that fits one mbuf (frames in several are dropped `multi_segment`).
fn check_mtu(c: &Config, p: &crate::config::schema::Port, mtu: u16) -> Result<(), String> {
    let min = if p.ipv6_addresses().next().is_some() {
        1280
    } else {
        576
    };
    if mtu < min {
        let why = if min == 1280 {
            "the port has an IPv6 address and IPv6 links carry at least 1280"
        } else {
            "every IPv4 host must take 576-byte datagrams"
        };
        return Err(format!("mtu {mtu} is below {min}: {why}"));
    }
    let room = u32::from(c.mempool.data_room).saturating_sub(MBUF_HEADROOM);
    if u32::from(mtu) + L2_MAX > room {
        return Err(format!(
            "mtu {mtu} does not fit one mbuf: a frame of {} bytes (with Ethernet and a VLAN tag) \
             needs mempool.data_room of at least {} (it is {})",
            u32::from(mtu) + L2_MAX,
            u32::from(mtu) + L2_MAX + MBUF_HEADROOM,
            c.mempool.data_room
        ));
    }
    Ok(())
}

/// An IPv6 port address: a unicast address Neighbor Discovery can answer
/// for, on a port whose traffic Tandem reads as IPv6.
fn check_ipv6(p: &crate::config::schema::Port, a: Ipv6Cidr) -> Result<(), String> {
    let addr = a.addr;
    if addr.is_multicast() || addr.is_unspecified() || addr.is_loopback() {
        return Err(format!(
            "IPv6 address {addr} of port \"{}\" must be a unicast address \
             (not multicast, :: or ::1)",
            p.name
        ));
    }
    if addr.to_ipv4_mapped().is_some() {
        return Err(format!(
            "{addr} is an IPv4-mapped IPv6 address; give the IPv4 address itself"
        ));
    }
    if p.role == Role::Fabric {
        return Err(format!(
            "fabric port \"{}\" takes IPv4 addresses only (the fabric carries IPv4 Geneve)",
            p.name
        ));
    }
    Ok(())
}
