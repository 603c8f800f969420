//! Where things are: ports and their roles, Tandem's own addresses, routes
//! and neighbours.
//!
//! `Topology` is fixed for the life of a run (ports and addresses come from
//! the config; changing them needs a restart). `Neighbours` changes as ARP
//! learns and is published as a snapshot.
//!
//! IPv6 (`topology_v6.rs`): a port's IPv6 addresses, gateway IPv6
//! addresses, connected IPv6 networks and static IPv6 routes, and IPv6
//! neighbours learned by Neighbor Discovery.

use hashbrown::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

/// What a port faces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Mobile side: tier-1 input, an I/O point.
    Access,
    /// Service network with the servers.
    Server,
    /// The outside world.
    External,
    /// The cluster fabric (issue 12): Geneve to and from the other
    /// appliances' gateways and tier-1 units (`pipeline/fabric.rs`).
    Fabric,
}

/// One DPDK port as the pipeline sees it.
#[derive(Clone, Debug)]
pub struct PortInfo {
    pub name: String,
    pub role: Role,
    pub mac: [u8; 6],
    /// Addresses with prefix length: connected networks.
    pub addresses: Vec<(Ipv4Addr, u8)>,
}

/// What one of Tandem's own addresses is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LocalAddr {
    /// A port's own address.
    Port,
    /// Gateway address number `n` (user-session source address).
    Gateway(u8),
    /// A service VIP.
    Vip,
}

/// A route's answer: leave through `port` towards `next_hop`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NextHop {
    pub port: u16,
    pub ip: Ipv4Addr,
}

#[derive(Clone, Copy, Debug)]
struct RouteEntry {
    net: u32,
    mask: u32,
    len: u8,
    port: u16,
    /// None = connected (next hop is the destination itself).
    via: Option<Ipv4Addr>,
}

/// Ports, own addresses and routes.
#[derive(Clone, Debug, Default)]
pub struct Topology {
    pub ports: Vec<PortInfo>,
    /// (port, address) → what it is; ARP and ICMP echo are answered for these.
    local: HashMap<(u16, Ipv4Addr), LocalAddr>,
    /// Longest prefix first.
    routes: Vec<RouteEntry>,
    /// Per port: the source prefixes allowed in, as (network, mask);
    /// empty = any source (anti-spoofing on access ports).
    allowed_sources: Vec<Vec<(u32, u32)>>,
    /// Per port: the largest MSS a SYN or SYN-ACK of a user session whose
    /// terminal is reached through it may announce; 0 = no clamp.
    mss_clamp: Vec<u16>,
    /// Per port: its IPv6 addresses with prefix length (a few per port,
    /// looked up only for IPv6 frames).
    ipv6: Vec<Vec<(Ipv6Addr, u8)>>,
    /// Per port: the largest IP packet it sends (the config's `mtu`); 0 =
    /// [`DEFAULT_MTU`]. Read only where translation makes packets longer
    /// or another port shorter (NAT64, `pipeline/nat64_mtu.rs`).
    mtu: Vec<u16>,
    /// The smallest MTU of any port: a packet no longer than this fits
    /// everywhere (one comparison on the NAT64 paths).
    min_mtu: u16,
    /// Gateway IPv6 addresses: (port, address) → gateway address index
    /// (`topology_v6.rs`).
    pub(crate) gateway_v6: HashMap<(u16, Ipv6Addr), u8>,
    /// Static IPv6 routes, longest prefix first (`topology_v6.rs`).
    pub(crate) routes_v6: Vec<crate::topology_v6::RouteV6>,
}

/// A port's MTU when the config gives none (Ethernet's).
pub const DEFAULT_MTU: u16 = 1500;

fn mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len.min(32)))
    }
}

impl Topology {
    pub fn new(ports: Vec<PortInfo>) -> Topology {
        let mut t = Topology {
            ports,
            ..Topology::default()
        };
        for (i, p) in t.ports.iter().enumerate() {
            for &(a, len) in &p.addresses {
                t.local.insert((i as u16, a), LocalAddr::Port);
                t.routes.push(RouteEntry {
                    net: u32::from(a) & mask(len),
                    mask: mask(len),
                    len,
                    port: i as u16,
                    via: None,
                });
            }
        }
        t.sort_routes();
        t
    }

    fn sort_routes(&mut self) {
        self.routes.sort_by_key(|r| std::cmp::Reverse(r.len));
    }

    /// Adds a static route through `port` via `via`.
    pub fn add_route(&mut self, prefix: Ipv4Addr, len: u8, port: u16, via: Ipv4Addr) {
        self.routes.push(RouteEntry {
            net: u32::from(prefix) & mask(len),
            mask: mask(len),
            len,
            port,
            via: Some(via),
        });
        self.sort_routes();
    }

    /// Clamps the MSS of user sessions through `port` to `max` (None: no
    /// clamp).
    pub fn set_mss_clamp(&mut self, port: u16, max: Option<u16>) {
        let p = usize::from(port);
        if self.mss_clamp.len() <= p {
            self.mss_clamp.resize(p + 1, 0);
        }
        self.mss_clamp[p] = max.unwrap_or(0);
    }

    /// The MSS clamp of `port`, if it has one.
    #[inline]
    pub fn mss_clamp(&self, port: u16) -> Option<u16> {
        self.mss_clamp
            .get(usize::from(port))
            .copied()
            .filter(|&m| m != 0)
    }

    /// Sets the MTU of `port`: the largest IP packet it sends, L2 header
    /// excluded (None: [`DEFAULT_MTU`]).
    pub fn set_mtu(&mut self, port: u16, mtu: Option<u16>) {
        let p = usize::from(port);
        if self.mtu.len() <= p {
            self.mtu.resize(p + 1, 0);
        }
        self.mtu[p] = mtu.unwrap_or(0);
        self.min_mtu = (0..self.ports.len().max(self.mtu.len()))
            .map(|q| self.mtu(q as u16))
            .min()
            .unwrap_or(DEFAULT_MTU);
    }

    /// The smallest MTU of any port ([`DEFAULT_MTU`] when none is set).
    #[inline]
    pub fn min_mtu(&self) -> u16 {
        if self.min_mtu == 0 {
            DEFAULT_MTU
        } else {
            self.min_mtu
        }
    }

    /// The MTU of `port`.
    #[inline]
    pub fn mtu(&self, port: u16) -> u16 {
        match self.mtu.get(usize::from(port)) {
            Some(&m) if m != 0 => m,
            _ => DEFAULT_MTU,
        }
    }

    /// Gives `port` these IPv6 addresses (with prefix lengths).
    pub fn set_ipv6_addresses(&mut self, port: u16, addresses: &[(Ipv6Addr, u8)]) {
        let p = usize::from(port);
        if self.ipv6.len() <= p {
            self.ipv6.resize(p + 1, Vec::new());
        }
        self.ipv6[p] = addresses.to_vec();
    }

    /// The IPv6 addresses of `port` (with prefix lengths); empty if none.
    #[inline]
    pub fn ipv6_addresses(&self, port: u16) -> &[(Ipv6Addr, u8)] {
        self.ipv6.get(usize::from(port)).map_or(&[], Vec::as_slice)
    }

    /// Whether `ip` is one of `port`'s IPv6 addresses, or a gateway IPv6
    /// address answered there.
    #[inline]
    pub fn is_own_ipv6(&self, port: u16, ip: Ipv6Addr) -> bool {
        self.ipv6_addresses(port).iter().any(|&(a, _)| a == ip)
            || (!self.gateway_v6.is_empty() && self.gateway_v6.contains_key(&(port, ip)))
    }

    /// Restricts the sources accepted on `port` to these prefixes.
    pub fn set_allowed_sources(&mut self, port: u16, prefixes: &[(Ipv4Addr, u8)]) {
        let p = usize::from(port);
        if self.allowed_sources.len() <= p {
            self.allowed_sources.resize(p + 1, Vec::new());
        }
        self.allowed_sources[p] = prefixes
            .iter()
            .map(|&(a, len)| (u32::from(a) & mask(len), mask(len)))
            .collect();
    }

    /// Whether a frame from `src` may enter on `port` (always, unless the
    /// port has a list of allowed source prefixes).
    #[inline]
    pub fn source_allowed(&self, port: u16, src: Ipv4Addr) -> bool {
        match self.allowed_sources.get(usize::from(port)) {
            Some(list) if !list.is_empty() => {
                let s = u32::from(src);
                list.iter().any(|&(net, m)| s & m == net)
            }
            _ => true,
        }
    }

    /// Whether an IPv6 terminal may send on `port`: only where no
    /// `allowed_sources` are set (they are IPv4 prefixes, so a port that
    /// has them admits no IPv6 source).
    #[inline]
    pub fn admits_ipv6_sources(&self, port: u16) -> bool {
        self.allowed_sources
            .get(usize::from(port))
            .is_none_or(|list| list.is_empty())
    }

    /// Declares one of Tandem's own addresses on a port.
    pub fn add_local(&mut self, port: u16, ip: Ipv4Addr, kind: LocalAddr) {
        self.local.insert((port, ip), kind);
    }

    /// What `ip` is to Tandem on `port`, if it is ours.
    #[inline]
    pub fn local(&self, port: u16, ip: Ipv4Addr) -> Option<LocalAddr> {
        self.local.get(&(port, ip)).copied()
    }

    /// Every own address, for gratuitous ARP at start.
    pub fn locals(&self) -> impl Iterator<Item = (u16, Ipv4Addr, LocalAddr)> + '_ {
        self.local.iter().map(|(&(p, ip), &k)| (p, ip, k))
    }

    /// Longest-prefix match.
    #[inline]
    pub fn route(&self, dst: Ipv4Addr) -> Option<NextHop> {
        let d = u32::from(dst);
        self.routes
            .iter()
            .find(|r| d & r.mask == r.net)
            .map(|r| NextHop {
                port: r.port,
                ip: r.via.unwrap_or(dst),
            })
    }

    /// The first address of `port`, used as the source of what Tandem
    /// itself sends there (ARP requests, ICMP errors, GTP-U outer header).
    pub fn port_address(&self, port: u16) -> Option<Ipv4Addr> {
        self.ports
            .get(usize::from(port))?
            .addresses
            .first()
            .map(|a| a.0)
    }

    #[inline]
    pub fn role(&self, port: u16) -> Option<Role> {
        self.ports.get(usize::from(port)).map(|p| p.role)
    }

    #[inline]
    pub fn mac(&self, port: u16) -> [u8; 6] {
        self.ports.get(usize::from(port)).map_or([0; 6], |p| p.mac)
    }

    /// Whether `ip` lies in a connected network of `port`.
    pub fn is_connected(&self, port: u16, ip: Ipv4Addr) -> bool {
        self.ports.get(usize::from(port)).is_some_and(|p| {
            p.addresses
                .iter()
                .any(|&(a, len)| u32::from(a) & mask(len) == u32::from(ip) & mask(len))
        })
    }
}

/// Resolved neighbours: (port, IPv4) → MAC, and (port, IPv6) → MAC
/// (`topology_v6.rs`). Published as a snapshot.
#[derive(Clone, Debug, Default)]
pub struct Neighbours {
    map: HashMap<(u16, Ipv4Addr), [u8; 6]>,
    pub(crate) v6: HashMap<(u16, Ipv6Addr), [u8; 6]>,
}

impl Neighbours {
    #[inline]
    pub fn get(&self, port: u16, ip: Ipv4Addr) -> Option<[u8; 6]> {
        self.map.get(&(port, ip)).copied()
    }

    pub fn insert(&mut self, port: u16, ip: Ipv4Addr, mac: [u8; 6]) {
        self.map.insert((port, ip), mac);
    }

    pub fn remove(&mut self, port: u16, ip: Ipv4Addr) {
        self.map.remove(&(port, ip));
    }

    /// IPv4 and IPv6 neighbours together.
    pub fn len(&self) -> usize {
        self.map.len() + self.v6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty() && self.v6.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (u16, Ipv4Addr, [u8; 6])> + '_ {
        self.map.iter().map(|(&(p, ip), &m)| (p, ip, m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topo() -> Topology {
        let mut t = Topology::new(vec![
            PortInfo {
                name: "acc0".into(),
                role: Role::Access,
                mac: [2, 0, 0, 0, 0, 1],
                addresses: vec![(Ipv4Addr::new(10, 1, 0, 1), 24)],
            },
            PortInfo {
                name: "srv0".into(),
                role: Role::Server,
                mac: [2, 0, 0, 0, 0, 2],
                addresses: vec![(Ipv4Addr::new(10, 2, 0, 1), 24)],
            },
            PortInfo {
                name: "ext0".into(),
                role: Role::External,
                mac: [2, 0, 0, 0, 0, 3],
                addresses: vec![(Ipv4Addr::new(10, 3, 0, 1), 24)],
            },
        ]);
        t.add_route(
            Ipv4Addr::new(0, 0, 0, 0),
            0,
            2,
            Ipv4Addr::new(10, 3, 0, 254),
        );
        t.add_route(
            Ipv4Addr::new(10, 20, 0, 0),
            16,
            1,
            Ipv4Addr::new(10, 2, 0, 254),
        );
        t.add_local(1, Ipv4Addr::new(10, 2, 0, 10), LocalAddr::Gateway(0));
        t
    }

    #[test]
    fn longest_prefix_wins() {
        let t = topo();
        assert_eq!(
            t.route(Ipv4Addr::new(10, 2, 0, 21)),
            Some(NextHop {
                port: 1,
                ip: Ipv4Addr::new(10, 2, 0, 21)
            })
        );
        assert_eq!(
            t.route(Ipv4Addr::new(10, 20, 3, 4)),
            Some(NextHop {
                port: 1,
                ip: Ipv4Addr::new(10, 2, 0, 254)
            })
        );
        assert_eq!(
            t.route(Ipv4Addr::new(8, 8, 8, 8)),
            Some(NextHop {
                port: 2,
                ip: Ipv4Addr::new(10, 3, 0, 254)
            })
        );
    }

    #[test]
    fn no_default_route_means_none() {
        let t = Topology::new(vec![PortInfo {
            name: "a".into(),
            role: Role::Access,
            mac: [0; 6],
            addresses: vec![(Ipv4Addr::new(10, 1, 0, 1), 24)],
        }]);
        assert_eq!(t.route(Ipv4Addr::new(8, 8, 8, 8)), None);
    }

    #[test]
    fn own_addresses() {
        let t = topo();
        assert_eq!(
            t.local(0, Ipv4Addr::new(10, 1, 0, 1)),
            Some(LocalAddr::Port)
        );
        assert_eq!(
            t.local(1, Ipv4Addr::new(10, 2, 0, 10)),
            Some(LocalAddr::Gateway(0))
        );
        assert_eq!(t.local(0, Ipv4Addr::new(10, 2, 0, 10)), None);
        assert!(t.is_connected(1, Ipv4Addr::new(10, 2, 0, 99)));
        assert!(!t.is_connected(1, Ipv4Addr::new(10, 3, 0, 99)));
        assert_eq!(t.port_address(2), Some(Ipv4Addr::new(10, 3, 0, 1)));
    }

    #[test]
    fn ipv6_addresses_are_per_port() {
        let mut t = topo();
        let a: Ipv6Addr = "2001:db8:1::1".parse().unwrap();
        t.set_ipv6_addresses(2, &[(a, 64)]);
        assert!(t.is_own_ipv6(2, a));
        assert!(!t.is_own_ipv6(0, a));
        assert!(!t.is_own_ipv6(9, a));
        assert_eq!(t.ipv6_addresses(2), &[(a, 64)]);
        assert!(t.ipv6_addresses(1).is_empty());
    }

    #[test]
    fn neighbours_by_port() {
        let mut n = Neighbours::default();
        n.insert(1, Ipv4Addr::new(10, 2, 0, 21), [1; 6]);
        assert_eq!(n.get(1, Ipv4Addr::new(10, 2, 0, 21)), Some([1; 6]));
        assert_eq!(n.get(0, Ipv4Addr::new(10, 2, 0, 21)), None);
        n.remove(1, Ipv4Addr::new(10, 2, 0, 21));
        assert!(n.is_empty());
    }
}
