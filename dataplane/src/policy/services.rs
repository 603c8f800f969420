//! Service groups (VIP → servers) and the servers themselves.
//!
//! Server indexes are stable for the life of a run: removing a server marks
//! it `Removed` instead of shifting the others, so per-worker load counters
//! and live user sessions keep pointing at the right server.

use hashbrown::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

/// The most servers one run can know (load counters are sized for it).
pub const MAX_SERVERS: usize = 4096;

/// Whether a server takes new user sessions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdminState {
    /// Takes new user sessions.
    Active,
    /// Keeps its user sessions, takes no new ones.
    Draining,
    /// Takes nothing new; marked down by the operator or health checks.
    Down,
    /// Gone from the config; the slot stays so indexes do not shift.
    Removed,
}

impl AdminState {
    pub fn as_str(self) -> &'static str {
        match self {
            AdminState::Active => "active",
            AdminState::Draining => "draining",
            AdminState::Down => "down",
            AdminState::Removed => "removed",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Server {
    /// The server's IPv4 address; unspecified for an IPv6 server.
    pub addr: Ipv4Addr,
    /// An IPv6 server's address (a service with a `vip6` whose servers
    /// are IPv6: IPv6 → IPv6 full NAT, `pipeline/nat66.rs`).
    pub addr6: Option<Ipv6Addr>,
    /// None: the port the terminal addressed.
    pub port: Option<u16>,
    pub weight: u32,
    pub state: AdminState,
    /// Load reported through the control API (0 = none), added to the
    /// session count when choosing.
    pub reported_load: u32,
    /// Health checks currently say it is down.
    pub unhealthy: bool,
}

impl Server {
    /// Whether new user sessions may go to this server.
    #[inline]
    pub fn eligible(&self) -> bool {
        self.state == AdminState::Active && !self.unhealthy && self.weight > 0
    }

    /// Whether this is the server at `addr` (an IPv6 server by its IPv6
    /// address, an IPv4 one by its IPv4 address).
    #[inline]
    pub fn has_addr(&self, addr: std::net::IpAddr) -> bool {
        match (addr, self.addr6) {
            (std::net::IpAddr::V6(a), Some(a6)) => a == a6,
            (std::net::IpAddr::V4(a), None) => a == self.addr,
            _ => false,
        }
    }
}

/// When the SYN proxy answers a service's TCP SYNs itself (with a cookie)
/// instead of opening a user session at once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SynProxyMode {
    /// Never: every SYN opens a user session (the default).
    #[default]
    Off,
    /// While the worker's user-session table or one of its gateway
    /// addresses' port pools is at least `Policy::syn_proxy_fill_percent`
    /// full.
    Auto,
    /// Always.
    Always,
}

/// A service group: a VIP (address, protocol, port range) and its servers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    pub name: String,
    /// None for a pool that is reached only through a type override.
    pub vip: Option<Ipv4Addr>,
    /// An IPv6 VIP (NAT64: IPv6 terminals reach the IPv4 servers through
    /// it); a service has one VIP of either version, or none.
    pub vip6: Option<Ipv6Addr>,
    pub proto: u8,
    pub port_lo: u16,
    pub port_hi: u16,
    /// Indexes into `ServiceTable::servers`.
    pub servers: Vec<u32>,
    /// User-session type → the service whose servers serve it instead.
    pub by_type: Vec<(u8, u32)>,
    /// Removed by the operator; kept so indexes in live user sessions and
    /// their accounting records still name it.
    pub removed: bool,
    /// SYN flood defence for this service (TCP only).
    pub syn_proxy: SynProxyMode,
    /// DSCP set on its user sessions' packets both ways, unless their
    /// user-session type sets one.
    pub dscp: Option<u8>,
    /// TCP only: a PROXY protocol v2 header (terminal's address and port,
    /// VIP and port, session ID) goes to this service's servers ahead of
    /// each connection's first byte (`pipeline/proxy_protocol`).
    pub proxy_v2: bool,
}

/// Services and servers, with a VIP index.
#[derive(Clone, Debug, Default)]
pub struct ServiceTable {
    pub services: Vec<Service>,
    pub servers: Vec<Server>,
    vips: HashMap<(Ipv4Addr, u8), Vec<u32>>,
    vips6: HashMap<(Ipv6Addr, u8), Vec<u32>>,
}

impl ServiceTable {
    pub fn new(services: Vec<Service>, servers: Vec<Server>) -> ServiceTable {
        let mut t = ServiceTable {
            services,
            servers,
            vips: HashMap::new(),
            vips6: HashMap::new(),
        };
        t.reindex();
        t
    }

    /// Rebuilds the VIP index after `services` changed.
    pub fn reindex(&mut self) {
        self.vips.clear();
        self.vips6.clear();
        for (i, s) in self.services.iter().enumerate() {
            if let (Some(vip), false) = (s.vip, s.removed) {
                self.vips.entry((vip, s.proto)).or_default().push(i as u32);
            }
            if let (Some(vip), false) = (s.vip6, s.removed) {
                self.vips6.entry((vip, s.proto)).or_default().push(i as u32);
            }
        }
    }

    /// The service whose IPv6 VIP an IPv6 terminal addressed (NAT64).
    #[inline]
    pub fn find6(&self, proto: u8, dst: Ipv6Addr, dst_port: u16) -> Option<u32> {
        self.vips6.get(&(dst, proto))?.iter().copied().find(|&i| {
            let s = &self.services[i as usize];
            (s.port_lo..=s.port_hi).contains(&dst_port)
        })
    }

    /// Whether `dst` is an IPv6 VIP for any protocol.
    pub fn is_vip6(&self, dst: Ipv6Addr) -> bool {
        self.services
            .iter()
            .any(|s| s.vip6 == Some(dst) && !s.removed)
    }

    /// The service whose VIP the terminal addressed.
    #[inline]
    pub fn find(&self, proto: u8, dst: Ipv4Addr, dst_port: u16) -> Option<u32> {
        self.vips.get(&(dst, proto))?.iter().copied().find(|&i| {
            let s = &self.services[i as usize];
            (s.port_lo..=s.port_hi).contains(&dst_port)
        })
    }

    /// Whether `dst` is a VIP for any protocol (answers ping and ARP).
    pub fn is_vip(&self, dst: Ipv4Addr) -> bool {
        self.services
            .iter()
            .any(|s| s.vip == Some(dst) && !s.removed)
    }

    /// The service that serves user sessions of type `t` addressed to
    /// service `s` (a type override, or `s` itself).
    #[inline]
    pub fn serving(&self, s: u32, t: u8) -> u32 {
        self.services
            .get(s as usize)
            .and_then(|svc| svc.by_type.iter().find(|(ty, _)| *ty == t))
            .map_or(s, |&(_, target)| target)
    }

    pub fn service_index(&self, name: &str) -> Option<u32> {
        self.services
            .iter()
            .position(|s| s.name == name && !s.removed)
            .map(|i| i as u32)
    }

    /// Index of a server with this address and port, if known.
    pub fn server_index(&self, addr: Ipv4Addr, port: Option<u16>) -> Option<u32> {
        self.servers
            .iter()
            .position(|s| s.addr == addr && s.port == port && s.state != AdminState::Removed)
            .map(|i| i as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> ServiceTable {
        let srv = |a: u8| Server {
            addr: Ipv4Addr::new(10, 2, 0, a),
            addr6: None,
            port: Some(8080),
            weight: 1,
            state: AdminState::Active,
            reported_load: 0,
            unhealthy: false,
        };
        ServiceTable::new(
            vec![
                Service {
                    name: "web".into(),
                    vip: Some(Ipv4Addr::new(10, 9, 0, 1)),
                    vip6: None,
                    proto: 6,
                    port_lo: 80,
                    port_hi: 80,
                    servers: vec![0, 1],
                    by_type: vec![(2, 2)],
                    removed: false,
                    syn_proxy: SynProxyMode::Off,
                    dscp: None,
                    proxy_v2: false,
                },
                Service {
                    name: "rtp".into(),
                    vip: Some(Ipv4Addr::new(10, 9, 0, 1)),
                    vip6: None,
                    proto: 17,
                    port_lo: 10000,
                    port_hi: 20000,
                    servers: vec![1],
                    by_type: vec![],
                    removed: false,
                    syn_proxy: SynProxyMode::Off,
                    dscp: None,
                    proxy_v2: false,
                },
                Service {
                    name: "video-pool".into(),
                    vip: None,
                    vip6: None,
                    proto: 6,
                    port_lo: 0,
                    port_hi: 0,
                    servers: vec![2],
                    by_type: vec![],
                    removed: false,
                    syn_proxy: SynProxyMode::Off,
                    dscp: None,
                    proxy_v2: false,
                },
            ],
            vec![srv(21), srv(22), srv(31)],
        )
    }

    #[test]
    fn vip_lookup_by_proto_and_port() {
        let t = table();
        let vip = Ipv4Addr::new(10, 9, 0, 1);
        assert_eq!(t.find(6, vip, 80), Some(0));
        assert_eq!(t.find(6, vip, 81), None);
        assert_eq!(t.find(17, vip, 15000), Some(1));
        assert_eq!(t.find(17, vip, 9999), None);
        assert_eq!(t.find(6, Ipv4Addr::new(10, 9, 0, 2), 80), None);
        assert!(t.is_vip(vip));
    }

    #[test]
    fn type_override_picks_the_pool() {
        let t = table();
        assert_eq!(t.serving(0, 2), 2);
        assert_eq!(t.serving(0, 1), 0);
        assert_eq!(t.service_index("video-pool"), Some(2));
    }

    #[test]
    fn eligibility() {
        let mut s = table().servers[0].clone();
        assert!(s.eligible());
        s.state = AdminState::Draining;
        assert!(!s.eligible());
        s.state = AdminState::Active;
        s.unhealthy = true;
        assert!(!s.eligible());
        s.unhealthy = false;
        s.weight = 0;
        assert!(!s.eligible());
    }
}
