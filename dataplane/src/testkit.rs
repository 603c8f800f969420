//! A lab for the pipeline without DPDK: workers wired like the appliance
//! wires them (snapshots, topology, policy, neighbours), frame builders and
//! a decoder that checks every checksum from scratch.
//!
//! Used by the pipeline's tests, the fuzz targets and the benchmarks
//! (feature `testkit`); not part of the appliance.

use crate::assembly::{Publishers, WorkersPlan};
use crate::counters::DropReason;
use crate::event::Event;
use crate::frame::{Frame, VecFrame};
use crate::pipeline::{LocalLoad, ServerLoads, Verdict, Worker, WorkerConfig};
use crate::policy::Policy;
use crate::policy::{
    AdminState, Entitlement, Server, Service, ServiceSet, ServiceTable, Subscribers,
};
use crate::rcu::Publisher;
use crate::tier1::{Gateway, GatewayId, GatewayTarget, SessionKeyMode, SteeringTable};
use crate::tier2::{Quarantine, Timeouts};
use crate::topology::{Neighbours, PortInfo, Role, Topology};
use crate::wire::checksum::{checksum, l4_checksum};
use crate::wire::frames::{icmp_echo_frame, tcp_frame, udp_frame};
use crate::wire::{FrameSpec, MacAddr, TcpFlags};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

pub const ACC: u16 = 0;
pub const SRV: u16 = 1;
pub const EXT: u16 = 2;
pub const ACC2: u16 = 3;

pub fn port_mac(p: u16) -> [u8; 6] {
    [2, 0, 0, 0, 0, p as u8 + 1]
}
pub const UE_MAC: [u8; 6] = [2, 0, 0, 0, 0xaa, 1];
pub const UE2_MAC: [u8; 6] = [2, 0, 0, 0, 0xaa, 2];
pub fn server_mac(ip: Ipv4Addr) -> [u8; 6] {
    [2, 0, 0, 0, 0x20, ip.octets()[3]]
}

pub const UE: Ipv4Addr = Ipv4Addr::new(10, 8, 0, 100);
pub const UE_DENIED: Ipv4Addr = Ipv4Addr::new(10, 8, 0, 66);
pub const VIP: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
pub const DNS_VIP: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 3);
pub const GW: Ipv4Addr = Ipv4Addr::new(10, 2, 0, 10);
pub const EXT_HOST: Ipv4Addr = Ipv4Addr::new(10, 3, 0, 2);
pub const SERVERS: [Ipv4Addr; 3] = [
    Ipv4Addr::new(10, 2, 0, 21),
    Ipv4Addr::new(10, 2, 0, 22),
    Ipv4Addr::new(10, 2, 0, 23),
];
pub const PORT_RANGE: (u16, u16) = (1024, 65535);
/// The IPv6 addresses of the access port and the server port.
pub const ACC_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);
pub const SRV_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 1);
/// A terminal's IPv6 address on the access port's link.
pub const UE_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x100);

pub fn topology() -> Topology {
    let port = |name: &str, role, p: u16, a: [u8; 4]| PortInfo {
        name: name.into(),
        role,
        mac: port_mac(p),
        addresses: vec![(Ipv4Addr::from(a), 24)],
    };
    let mut t = Topology::new(vec![
        port("acc0", Role::Access, ACC, [10, 1, 0, 1]),
        port("srv0", Role::Server, SRV, [10, 2, 0, 1]),
        port("ext0", Role::External, EXT, [10, 3, 0, 1]),
        port("acc1", Role::Access, ACC2, [10, 1, 1, 1]),
    ]);
    t.add_local(SRV, GW, LocalAddr::Gateway(0));
    t.add_local(EXT, GW, LocalAddr::Gateway(0));
    t.add_local(ACC, VIP, LocalAddr::Vip);
    t.add_local(ACC2, VIP, LocalAddr::Vip);
    t.set_ipv6_addresses(ACC, &[(ACC_V6, 64)]);
    t.set_ipv6_addresses(SRV, &[(SRV_V6, 64)]);
    t
}

use crate::topology::LocalAddr;

pub fn policy() -> Policy {
    let srv = |a: Ipv4Addr, port| Server {
        addr: a,
        addr6: None,
        port: Some(port),
        weight: 1,
        state: AdminState::Active,
        reported_load: 0,
        unhealthy: false,
    };
    let services = ServiceTable::new(
        vec![
            Service {
                name: "web".into(),
                vip: Some(VIP),
                vip6: None,
                proto: 6,
                port_lo: 80,
                port_hi: 80,
                servers: vec![0, 1, 2],
                by_type: vec![],
                removed: false,
                syn_proxy: crate::policy::SynProxyMode::Off,
                dscp: None,
                proxy_v2: false,
            },
            Service {
                name: "dns".into(),
                vip: Some(DNS_VIP),
                vip6: None,
                proto: 17,
                port_lo: 53,
                port_hi: 53,
                servers: vec![3],
                by_type: vec![],
                removed: false,
                syn_proxy: crate::policy::SynProxyMode::Off,
                dscp: None,
                proxy_v2: false,
            },
        ],
        vec![
            srv(SERVERS[0], 8080),
            srv(SERVERS[1], 8080),
            srv(SERVERS[2], 8080),
            srv(SERVERS[0], 5353),
        ],
    );
    let mut subscribers = Subscribers::new(Entitlement::allow_all());
    subscribers.set_prefix(
        UE_DENIED,
        32,
        Entitlement {
            services: ServiceSet::from_indexes([1]),
            external: false,
            limits: crate::policy::Limits::NONE,
        },
    );
    Policy {
        services,
        subscribers,
        timeouts: Timeouts::default(),
        interim_ms: 0,
        reply_rate_per_s: 1000,
        syn_proxy_fill_percent: 80,
        ..Policy::default()
    }
}

/// The IPv6 VIPs of [`policy_with_ipv6_vips`]: "web6" (TCP 80, the web
/// servers) and "dns6" (UDP 53, the DNS server).
pub const VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 9, 0, 0, 0, 0, 0x80);
pub const DNS_VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 9, 0, 0, 0, 0, 0x53);

/// [`policy`] plus two IPv6 VIPs served through NAT64 by the same IPv4
/// servers: [`VIP6`] and [`DNS_VIP6`].
pub fn policy_with_ipv6_vips() -> Policy {
    let mut p = policy();
    let servers = p.services.servers.clone();
    p.services = with_vip6_services(
        &p,
        servers,
        [
            ("web6", VIP6, 6, 80, vec![0, 1, 2]),
            ("dns6", DNS_VIP6, 17, 53, vec![3]),
        ],
    );
    p
}

/// `p`'s services plus one per entry (name, IPv6 VIP, protocol, port,
/// server indexes into `servers`), like the first.
fn with_vip6_services<const N: usize>(
    p: &Policy,
    servers: Vec<Server>,
    entries: [(&str, Ipv6Addr, u8, u16, Vec<u32>); N],
) -> crate::policy::ServiceTable {
    let mut services: Vec<crate::policy::Service> = p.services.services.clone();
    for (name, vip6, proto, port, list) in entries {
        let mut s = services[0].clone();
        s.name = name.into();
        s.vip = None;
        s.vip6 = Some(vip6);
        s.proto = proto;
        s.port_lo = port;
        s.port_hi = port;
        s.servers = list;
        services.push(s);
    }
    crate::policy::ServiceTable::new(services, servers)
}

/// The IPv6 → IPv6 service of [`policy_with_ipv6_servers`]: "web66",
/// TCP 80 and UDP 53 at [`VIP66`], served by [`SERVERS6`] on port 8080
/// (UDP: 5353) from gateway address [`GW6`].
pub const VIP66: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 9, 0, 0, 0, 0, 0x66);
pub const GW6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 0x10);
pub const SERVERS6: [Ipv6Addr; 2] = [
    Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 0x21),
    Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 0x22),
];

/// An IPv6 network behind [`ROUTER6`] (a link-local next hop on the
/// server port) in [`Lab::nat66`]'s topology.
pub const ROUTED6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x99, 0, 0, 0, 0, 0);
pub const ROUTER6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0xfe);

/// The MAC of IPv6 server `ip` in [`neighbours`].
pub fn server6_mac(ip: Ipv6Addr) -> [u8; 6] {
    let o = ip.octets();
    [2, 0, 0, 6, o[14], o[15]]
}

/// [`policy_with_ipv6_vips`] plus "web66" (TCP 80) and "dns66" (UDP 53)
/// at [`VIP66`], served by the IPv6 servers [`SERVERS6`].
pub fn policy_with_ipv6_servers() -> Policy {
    let mut p = policy_with_ipv6_vips();
    let mut servers = p.services.servers.clone();
    let first = servers.len() as u32;
    for (a, port) in [
        (SERVERS6[0], 8080),
        (SERVERS6[1], 8080),
        (SERVERS6[0], 5353),
    ] {
        let mut s = servers[0].clone();
        s.addr = Ipv4Addr::UNSPECIFIED;
        s.addr6 = Some(a);
        s.port = Some(port);
        servers.push(s);
    }
    p.services = with_vip6_services(
        &p,
        servers,
        [
            ("web66", VIP66, 6, 80, vec![first, first + 1]),
            ("dns66", VIP66, 17, 53, vec![first + 2]),
        ],
    );
    p
}

pub fn neighbours() -> Neighbours {
    let mut n = Neighbours::default();
    for s in SERVERS {
        n.insert(SRV, s, server_mac(s));
    }
    n.insert(EXT, EXT_HOST, server_mac(EXT_HOST));
    for s in SERVERS6 {
        n.insert_v6(SRV, s, server6_mac(s));
    }
    n.insert_v6(SRV, ROUTER6, server6_mac(ROUTER6));
    n
}

/// Publishers and workers wired like the appliance does, without DPDK.
pub struct Lab {
    pub steering: Publisher<SteeringTable>,
    pub policy: Publisher<Policy>,
    pub neighbours: Publisher<Neighbours>,
    pub loads: Publisher<ServerLoads>,
    pub workers: Vec<Worker>,
    pub local_loads: Vec<Arc<LocalLoad>>,
    pub events: Vec<Event>,
    /// Second frames the workers sent besides the ones `run` returned
    /// (`Worker::take_extra`): port and bytes, in order.
    pub extras: Vec<(u16, Vec<u8>)>,
    pub now: u64,
}

impl Lab {
    pub fn new(n_workers: u16) -> Lab {
        Lab::with(n_workers, 1 << 12, SessionKeyMode::SourceIp, PORT_RANGE)
    }

    pub fn with(n_workers: u16, capacity: u32, key: SessionKeyMode, range: (u16, u16)) -> Lab {
        Lab::with_topology(n_workers, capacity, key, range, topology())
    }

    /// Like [`Lab::with`] on a topology of the caller's.
    pub fn with_topology(
        n_workers: u16,
        capacity: u32,
        key: SessionKeyMode,
        range: (u16, u16),
        topo: Topology,
    ) -> Lab {
        Lab::cluster_member(n_workers, capacity, key, (range, topo), None)
    }

    /// Like [`Lab::with_topology`], for an appliance on a cluster fabric
    /// (`fabric`: its place there; `None` stand-alone).
    pub fn cluster_member(
        n_workers: u16,
        capacity: u32,
        key: SessionKeyMode,
        (range, topo): ((u16, u16), Topology),
        fabric: Option<crate::pipeline::fabric::FabricConfig>,
    ) -> Lab {
        Lab::build(
            n_workers,
            capacity,
            key,
            (range, topo),
            (fabric, crate::tier2::FragmentLimits::DEFAULT, None),
        )
    }

    /// [`Lab::cluster_member`] with NAT64 on (the caller publishes a policy
    /// with IPv6 VIPs): IPv6 terminals across the fabric.
    pub fn cluster_member_nat64(
        topo: Topology,
        fabric: crate::pipeline::fabric::FabricConfig,
        nat64: crate::pipeline::Nat64Config,
    ) -> Lab {
        Lab::build(
            1,
            1 << 12,
            SessionKeyMode::SourceIp,
            (PORT_RANGE, topo),
            (
                Some(fabric),
                crate::tier2::FragmentLimits::DEFAULT,
                Some(nat64),
            ),
        )
    }

    /// Like [`Lab::new`] with fragment table bounds of the caller's
    /// (`gateway.fragments`; [`Lab::new`] has the config's defaults).
    pub fn with_fragments(n_workers: u16, fragments: crate::tier2::FragmentLimits) -> Lab {
        Lab::build(
            n_workers,
            1 << 12,
            SessionKeyMode::SourceIp,
            (PORT_RANGE, topology()),
            (None, fragments, None),
        )
    }

    /// A stand-alone lab with NAT64 on (`prefix`: the NAT64 prefix, if
    /// any; the caller publishes a policy with IPv6 VIPs).
    pub fn nat64(n_workers: u16, prefix: Option<crate::wire::Nat64Prefix>) -> Lab {
        Lab::nat64_keyed(n_workers, SessionKeyMode::SourceIp, prefix)
    }

    /// [`Lab::nat64`] with session IDs of `key` (GTP-U TEIDs: IPv6
    /// terminals inside G-PDUs).
    pub fn nat64_keyed(
        n_workers: u16,
        key: SessionKeyMode,
        prefix: Option<crate::wire::Nat64Prefix>,
    ) -> Lab {
        let nat64 = crate::pipeline::Nat64Config { prefix };
        Lab::build(
            n_workers,
            1 << 12,
            key,
            (PORT_RANGE, topology()),
            (None, crate::tier2::FragmentLimits::DEFAULT, Some(nat64)),
        )
    }

    /// [`Lab::cluster_member_nat64`] with gateway IPv6 address [`GW6`] as
    /// address index 1 (the caller gives `topo` its place and publishes a
    /// policy with IPv6 servers): IPv6 → IPv6 across the fabric.
    pub fn cluster_member_nat66(
        topo: Topology,
        fabric: crate::pipeline::fabric::FabricConfig,
    ) -> Lab {
        Lab::build_with(
            1,
            1 << 12,
            SessionKeyMode::SourceIp,
            (PORT_RANGE, topo),
            (
                Some(fabric),
                crate::tier2::FragmentLimits::DEFAULT,
                Some(crate::pipeline::Nat64Config { prefix: None }),
            ),
            vec![GW6],
        )
    }

    /// A stand-alone lab with NAT64 on and gateway IPv6 address [`GW6`]
    /// on the server port, serving [`policy_with_ipv6_servers`].
    pub fn nat66(n_workers: u16) -> Lab {
        Lab::nat66_with(n_workers, |_| {})
    }

    /// [`Lab::nat66`] with `tweak` applied to its topology (port MTUs).
    pub fn nat66_with(n_workers: u16, tweak: impl FnOnce(&mut Topology)) -> Lab {
        let mut topo = topology();
        tweak(&mut topo);
        topo.add_gateway_v6(SRV, GW6, 1);
        topo.add_route_v6(crate::topology_v6::RouteV6 {
            prefix: ROUTED6,
            len: 48,
            port: SRV,
            via: ROUTER6,
        });
        let nat64 = crate::pipeline::Nat64Config { prefix: None };
        let lab = Lab::build_with(
            n_workers,
            1 << 12,
            SessionKeyMode::SourceIp,
            (PORT_RANGE, topo),
            (None, crate::tier2::FragmentLimits::DEFAULT, Some(nat64)),
            vec![GW6],
        );
        lab.policy.publish(policy_with_ipv6_servers());
        lab
    }

    fn build(
        n_workers: u16,
        capacity: u32,
        key: SessionKeyMode,
        (range, topo): ((u16, u16), Topology),
        (fabric, fragments, nat64): (
            Option<crate::pipeline::fabric::FabricConfig>,
            crate::tier2::FragmentLimits,
            Option<crate::pipeline::Nat64Config>,
        ),
    ) -> Lab {
        Lab::build_with(
            n_workers,
            capacity,
            key,
            (range, topo),
            (fabric, fragments, nat64),
            Vec::new(),
        )
    }

    fn build_with(
        n_workers: u16,
        capacity: u32,
        key: SessionKeyMode,
        (range, topo): ((u16, u16), Topology),
        (fabric, fragments, nat64): (
            Option<crate::pipeline::fabric::FabricConfig>,
            crate::tier2::FragmentLimits,
            Option<crate::pipeline::Nat64Config>,
        ),
        gateway_addrs6: Vec<Ipv6Addr>,
    ) -> Lab {
        let gateways: Vec<Gateway> = (0..n_workers)
            .map(|i| Gateway {
                id: GatewayId(u32::from(i)),
                target: GatewayTarget::LocalWorker(i),
            })
            .collect();
        let now = 1_000_000;
        let assembly = WorkersPlan {
            worker: WorkerConfig {
                index: 0,
                n_workers,
                gateway_addrs: vec![GW],
                gateway_addrs6,
                port_range: range,
                table_capacity: capacity,
                quarantine: Quarantine {
                    tcp_ms: 60_000,
                    other_ms: 1_000,
                },
                session_key: key,
                nat64,
                ipv6_session_prefix: crate::tier1::Ipv6SessionPrefix::P64,
                probe_ports: Some((1000, 1023)),
                bitrate_meters: true,
                limited_types: 2,
                fabric,
                fragments,
            },
            topology: topo,
            steering: SteeringTable::new(&gateways).unwrap(),
            policy: policy(),
            neighbours: neighbours(),
            max_readers: 16,
            now_ms: now,
        }
        .assemble()
        .unwrap();
        let Publishers {
            steering,
            policy,
            neighbours,
            loads,
        } = assembly.publishers;
        Lab {
            steering,
            policy,
            neighbours,
            loads,
            workers: assembly.workers,
            local_loads: assembly.loads,
            events: Vec::new(),
            extras: Vec::new(),
            now,
        }
    }

    /// The worker that owns `terminal`'s session.
    pub fn owner_of(&self, terminal: Ipv4Addr) -> usize {
        let sid = crate::tier1::session_id(SessionKeyMode::SourceIp, terminal, None, None).unwrap();
        match self.steering.current().lookup(sid).unwrap().target {
            GatewayTarget::LocalWorker(w) => usize::from(w),
            GatewayTarget::Remote { .. } => panic!("remote gateway"),
        }
    }

    /// Runs a frame received by worker `w` on `port`, following handoffs.
    /// Returns the final verdict, the frame and the worker that decided.
    pub fn run(&mut self, w: usize, port: u16, frame: &[u8]) -> (Verdict, Vec<u8>, usize) {
        for wk in &mut self.workers {
            wk.begin_burst();
        }
        let mut f = VecFrame::new(frame);
        let mut v = self.workers[w].process(&mut f, port, self.now, &mut self.events);
        let mut at = w;
        let mut hops = 0;
        while let Verdict::Handoff(t) = v {
            hops += 1;
            assert!(hops < 3, "handoff loop");
            at = usize::from(t);
            v = self.workers[at].process_handoff(&mut f, port, self.now, &mut self.events);
        }
        while let Some((p, extra)) = self.workers[at].take_extra() {
            self.extras.push((p, extra.to_vec()));
        }
        (v, f.bytes().to_vec(), at)
    }

    /// A frame on the owner of the terminal's session.
    pub fn up(&mut self, port: u16, frame: &[u8]) -> (Verdict, Vec<u8>) {
        let (v, out, _) = self.run(0, port, frame);
        (v, out)
    }

    pub fn tick(&mut self, ms: u64) {
        self.now += ms;
        for w in &mut self.workers {
            w.begin_burst();
            while w.run_timers(self.now, 64, &mut self.events) > 0 {}
        }
    }

    pub fn accounting(&self) -> Vec<crate::event::AccountingEvent> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Accounting(a) => Some(*a),
                _ => None,
            })
            .collect()
    }

    pub fn drops(&self, r: DropReason) -> u64 {
        self.workers.iter().map(|w| w.counters().dropped(r)).sum()
    }

    pub fn live(&self) -> u32 {
        self.workers.iter().map(|w| w.table().len()).sum()
    }
}

pub fn spec(
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    dport: u16,
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
) -> FrameSpec {
    FrameSpec {
        src_mac: MacAddr(src_mac),
        dst_mac: MacAddr(dst_mac),
        vlan: None,
        src_ip: src,
        dst_ip: dst,
        src_port: sport,
        dst_port: dport,
        ttl: 64,
    }
}

pub fn syn(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16) -> Vec<u8> {
    tcp_frame(
        &spec(src, sport, dst, dport, UE_MAC, port_mac(ACC)),
        SYN_ISN,
        0,
        TcpFlags::SYN,
        65535,
        &[],
    )
    .unwrap()
}

pub fn tcp(
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    dport: u16,
    flags: TcpFlags,
    payload: &[u8],
    macs: ([u8; 6], [u8; 6]),
) -> Vec<u8> {
    tcp_frame(
        &spec(src, sport, dst, dport, macs.0, macs.1),
        2000,
        3000,
        flags,
        65535,
        payload,
    )
    .unwrap()
}

/// [`tcp`] with real sequence and acknowledgement numbers (the gateway
/// tracks them: a FIN or RST outside the window is dropped).
#[allow(clippy::too_many_arguments)]
pub fn tcp_seq(
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    dport: u16,
    flags: TcpFlags,
    seq: u32,
    ack: u32,
    payload: &[u8],
    macs: ([u8; 6], [u8; 6]),
) -> Vec<u8> {
    tcp_frame(
        &spec(src, sport, dst, dport, macs.0, macs.1),
        seq,
        ack,
        flags,
        65535,
        payload,
    )
    .unwrap()
}

/// Initial sequence number of [`syn`].
pub const SYN_ISN: u32 = 1000;

pub fn udp(
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    dport: u16,
    payload: &[u8],
    macs: ([u8; 6], [u8; 6]),
) -> Vec<u8> {
    udp_frame(&spec(src, sport, dst, dport, macs.0, macs.1), payload).unwrap()
}

pub fn echo(src: Ipv4Addr, dst: Ipv4Addr, ident: u16, macs: ([u8; 6], [u8; 6])) -> Vec<u8> {
    icmp_echo_frame(&spec(src, 0, dst, 0, macs.0, macs.1), ident, 1, b"ping").unwrap()
}

/// The decoded headers of an output frame, with checksums verified from
/// scratch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Out {
    pub dst_mac: [u8; 6],
    pub src_mac: [u8; 6],
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub proto: u8,
    pub sport: u16,
    pub dport: u16,
    pub ttl: u8,
    pub tcp_flags: u8,
}

pub fn decode(f: &[u8]) -> Out {
    assert!(f.len() >= 34, "frame too short: {}", f.len());
    assert_eq!(&f[12..14], &[0x08, 0x00], "plain IPv4 frame expected");
    let ip = &f[14..];
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    assert_eq!(checksum(&ip[..ihl]), 0, "IPv4 header checksum");
    let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    let l4 = &ip[ihl..total];
    let proto = ip[9];
    let (sport, dport, tcp_flags) = match proto {
        6 => {
            assert_eq!(l4_checksum(src, dst, 6, l4), 0, "TCP checksum");
            (
                u16::from_be_bytes([l4[0], l4[1]]),
                u16::from_be_bytes([l4[2], l4[3]]),
                l4[13],
            )
        }
        17 => {
            if l4[6] != 0 || l4[7] != 0 {
                assert_eq!(l4_checksum(src, dst, 17, l4), 0, "UDP checksum");
            }
            (
                u16::from_be_bytes([l4[0], l4[1]]),
                u16::from_be_bytes([l4[2], l4[3]]),
                0,
            )
        }
        1 => {
            assert_eq!(checksum(l4), 0, "ICMP checksum");
            (u16::from_be_bytes([l4[4], l4[5]]), 0, l4[0])
        }
        p => panic!("unexpected protocol {p}"),
    };
    let mut dst_mac = [0; 6];
    dst_mac.copy_from_slice(&f[0..6]);
    let mut src_mac = [0; 6];
    src_mac.copy_from_slice(&f[6..12]);
    Out {
        dst_mac,
        src_mac,
        src,
        dst,
        proto,
        sport,
        dport,
        ttl: ip[8],
        tcp_flags,
    }
}
