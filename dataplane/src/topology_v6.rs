//! Where IPv6 things are: gateway IPv6 addresses (the sources of IPv6 →
//! IPv6 user sessions, `pipeline/nat66.rs`), the way to an IPv6 server
//! (a connected network of a port, or a static IPv6 route) and the IPv6
//! neighbours Neighbor Discovery learned.
//!
//! Kept apart from the IPv4 tables so the IPv4 paths look up exactly what
//! they did before: every map here is read only for IPv6 frames.

use crate::topology::{Neighbours, Topology};
use std::net::Ipv6Addr;

/// A static IPv6 route: `prefix/len` through `port` via `via`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteV6 {
    pub prefix: Ipv6Addr,
    pub len: u8,
    pub port: u16,
    pub via: Ipv6Addr,
}

/// An IPv6 route's answer: leave through `port` towards `ip`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NextHopV6 {
    pub port: u16,
    pub ip: Ipv6Addr,
}

/// Whether `a` and `b` agree in their first `len` bits.
#[inline]
pub fn same_prefix(a: Ipv6Addr, b: Ipv6Addr, len: u8) -> bool {
    let len = u32::from(len.min(128));
    if len == 0 {
        return true;
    }
    let mask = u128::MAX << (128 - len);
    a.to_bits() & mask == b.to_bits() & mask
}

impl Topology {
    /// Declares gateway IPv6 address `ip` (gateway address index `index`)
    /// on `port`: Neighbor Discovery and echo are answered for it there,
    /// and a server's packet to it is a reply to an IPv6 user session.
    pub fn add_gateway_v6(&mut self, port: u16, ip: Ipv6Addr, index: u8) {
        self.gateway_v6.insert((port, ip), index);
    }

    /// The gateway address index of `ip` when it is a gateway IPv6 address
    /// on `port`.
    #[inline]
    pub fn gateway_v6(&self, port: u16, ip: Ipv6Addr) -> Option<u8> {
        self.gateway_v6.get(&(port, ip)).copied()
    }

    /// Every gateway IPv6 address: (port, address, index).
    pub fn gateways_v6(&self) -> impl Iterator<Item = (u16, Ipv6Addr, u8)> + '_ {
        self.gateway_v6.iter().map(|(&(p, a), &i)| (p, a, i))
    }

    /// Adds a static IPv6 route.
    pub fn add_route_v6(&mut self, route: RouteV6) {
        self.routes_v6.push(route);
        self.routes_v6.sort_by_key(|r| std::cmp::Reverse(r.len));
    }

    /// The way to `dst`: the longest connected network of any port (the
    /// destination itself is the next hop), else the longest static route.
    pub fn route_v6(&self, dst: Ipv6Addr) -> Option<NextHopV6> {
        let connected = (0..self.ports.len() as u16)
            .flat_map(|p| self.ipv6_addresses(p).iter().map(move |&(a, l)| (p, a, l)))
            .filter(|&(_, a, l)| same_prefix(a, dst, l))
            .max_by_key(|&(_, _, l)| l)
            .map(|(port, _, len)| (len, NextHopV6 { port, ip: dst }));
        let routed = self
            .routes_v6
            .iter()
            .find(|r| same_prefix(r.prefix, dst, r.len))
            .map(|r| {
                (
                    r.len,
                    NextHopV6 {
                        port: r.port,
                        ip: r.via,
                    },
                )
            });
        match (connected, routed) {
            (Some(c), Some(r)) => Some(if r.0 > c.0 { r.1 } else { c.1 }),
            (c, r) => c.or(r).map(|(_, h)| h),
        }
    }

    /// The first IPv6 address of `port` that is not link-local, else its
    /// first: the source of what Tandem itself sends there (Neighbor
    /// Solicitations, ICMPv6 errors).
    pub fn port_address_v6(&self, port: u16) -> Option<Ipv6Addr> {
        let all = self.ipv6_addresses(port);
        all.iter()
            .find(|(a, _)| !a.is_unicast_link_local())
            .or(all.first())
            .map(|&(a, _)| a)
    }
}

impl Neighbours {
    #[inline]
    pub fn get_v6(&self, port: u16, ip: Ipv6Addr) -> Option<[u8; 6]> {
        self.v6.get(&(port, ip)).copied()
    }

    pub fn insert_v6(&mut self, port: u16, ip: Ipv6Addr, mac: [u8; 6]) {
        self.v6.insert((port, ip), mac);
    }

    pub fn remove_v6(&mut self, port: u16, ip: Ipv6Addr) {
        self.v6.remove(&(port, ip));
    }

    pub fn iter_v6(&self) -> impl Iterator<Item = (u16, Ipv6Addr, [u8; 6])> + '_ {
        self.v6.iter().map(|(&(p, ip), &m)| (p, ip, m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::{PortInfo, Role};

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    fn topo() -> Topology {
        let port = |name: &str, role| PortInfo {
            name: name.into(),
            role,
            mac: [2, 0, 0, 0, 0, 1],
            addresses: Vec::new(),
        };
        let mut t = Topology::new(vec![port("srv", Role::Server), port("ext", Role::External)]);
        t.set_ipv6_addresses(0, &[(a("fe80::1"), 64), (a("2001:db8:2::1"), 64)]);
        t.set_ipv6_addresses(1, &[(a("2001:db8:7::1"), 64)]);
        t
    }

    #[test]
    fn a_connected_server_is_its_own_next_hop() {
        let t = topo();
        let hop = t.route_v6(a("2001:db8:2::21")).unwrap();
        assert_eq!(
            hop,
            NextHopV6 {
                port: 0,
                ip: a("2001:db8:2::21")
            }
        );
        assert_eq!(t.route_v6(a("2001:db8:99::1")), None);
    }

    #[test]
    fn a_static_route_serves_what_no_port_is_on_and_longer_prefixes_win() {
        let mut t = topo();
        let via = a("2001:db8:7::fe");
        t.add_route_v6(RouteV6 {
            prefix: a("2001:db8:99::"),
            len: 48,
            port: 1,
            via,
        });
        assert_eq!(
            t.route_v6(a("2001:db8:99::1")),
            Some(NextHopV6 { port: 1, ip: via })
        );
        // A /128 route inside a connected /64 wins over it.
        t.add_route_v6(RouteV6 {
            prefix: a("2001:db8:2::77"),
            len: 128,
            port: 1,
            via,
        });
        assert_eq!(
            t.route_v6(a("2001:db8:2::77")),
            Some(NextHopV6 { port: 1, ip: via })
        );
        assert_eq!(t.route_v6(a("2001:db8:2::78")).unwrap().port, 0);
    }

    #[test]
    fn gateway_addresses_are_own_only_on_their_port() {
        let mut t = topo();
        t.add_gateway_v6(0, a("2001:db8:2::100"), 3);
        assert!(t.is_own_ipv6(0, a("2001:db8:2::100")));
        assert!(!t.is_own_ipv6(1, a("2001:db8:2::100")));
        assert_eq!(t.gateway_v6(0, a("2001:db8:2::100")), Some(3));
        assert_eq!(t.port_address_v6(0), Some(a("2001:db8:2::1")));
    }

    #[test]
    fn prefixes_compare_only_their_bits() {
        assert!(same_prefix(a("2001:db8::1"), a("2001:db8::ffff"), 64));
        assert!(!same_prefix(a("2001:db8::1"), a("2001:db8:0:1::1"), 64));
        assert!(same_prefix(a("::1"), a("ffff::"), 0));
        assert!(!same_prefix(a("::1"), a("::2"), 200));
    }
}
