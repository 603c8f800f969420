//! Two (or more) workers wired like the appliance wires them, without DPDK:
//! the topology, policy and neighbours of `dataplane::testkit` (the lab of
//! the pipeline's own tests), with a small table and port range so that
//! exhaustion is reachable by a fuzzer. NAT64 is on (the policy's IPv6
//! VIPs [`VIP6`] and [`DNS_VIP6`], and the well-known prefix `64:ff9b::/96`),
//! so IPv6 terminals reach the same IPv4 servers and ports. So is IPv6 →
//! IPv6 full NAT (NAT66, `dataplane::pipeline::nat66`): the policy of
//! [`policy_with_ipv6_servers`] adds "web66" (TCP 80) and "dns66" (UDP 53)
//! at [`VIP66`], served by the IPv6 servers [`SERVERS6`] on the server
//! port from gateway IPv6 address [`GW6`] (address index 1, after [`GW`]).

use dataplane::assembly::{Publishers, WorkersPlan};
use dataplane::counters::{DropReason, WorkerCounters};
use dataplane::event::Event;
use dataplane::frame::VecFrame;
use dataplane::pipeline::hold::HoldQueue;
use dataplane::pipeline::{LocalLoad, ServerLoads, Verdict, Worker, WorkerConfig};
pub use dataplane::policy::{
    AdminState, Entitlement, Policy, Server, Service, ServiceSet, ServiceTable, Subscribers,
};
use dataplane::rcu::Publisher;
pub use dataplane::testkit::{
    neighbours, policy_with_ipv6_servers, policy_with_ipv6_vips, port_mac, server6_mac, server_mac,
    topology, ACC, ACC2, DNS_VIP, DNS_VIP6, EXT, EXT_HOST, GW, GW6, SERVERS, SERVERS6, SRV,
    UE_DENIED, UE_MAC, VIP, VIP6, VIP66,
};
use dataplane::tier1::{Gateway, GatewayId, GatewayTarget, SessionKeyMode, SteeringTable};
use dataplane::tier2::Quarantine;
use dataplane::topology::Neighbours;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

/// Ports the topology knows; `N_PORTS` itself is an unknown port.
pub const N_PORTS: u16 = 4;
/// The address of each port, by port index.
pub const PORT_ADDRS: [Ipv4Addr; 4] = [
    Ipv4Addr::new(10, 1, 0, 1),
    Ipv4Addr::new(10, 2, 0, 1),
    Ipv4Addr::new(10, 3, 0, 1),
    Ipv4Addr::new(10, 1, 1, 1),
];
/// Small on purpose: 16 ports per worker with two workers.
pub const PORT_RANGE: (u16, u16) = (1024, 1055);
/// User sessions per worker: fewer than its ports, so both `table_full`
/// and `port_exhausted` (ports in quarantine) are reachable.
pub const TABLE_CAPACITY: u32 = 12;
pub const N_WORKERS: u16 = 2;
/// Source ports of active health probes (below the gateway range).
pub const PROBE_PORTS: (u16, u16) = (1000, 1023);
/// The gateway address index of [`GW6`] (the IPv6 ones come after the
/// IPv4 [`GW`]).
pub const GW6_INDEX: u8 = 1;

/// The topology of the pipeline's own tests with [`GW6`] declared on the
/// server port (inside its network, 2001:db8:2::/64, as are [`SERVERS6`]),
/// as `dataplane::testkit::Lab::nat66` has it.
pub fn lab_topology() -> dataplane::topology::Topology {
    let mut t = topology();
    t.add_gateway_v6(SRV, GW6, GW6_INDEX);
    t
}

/// How a frame's journey through the workers ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Journey {
    pub verdict: Verdict,
    /// The worker that gave the final verdict.
    pub at: usize,
    /// Handoffs followed on the way.
    pub hops: u32,
}

/// Frames a worker holds while their next hop is resolved, with the
/// dataplane's hold policy as the appliance's worker loop uses it, but
/// smaller so that the fuzzer reaches a full queue: at most `HOLD_MAX`,
/// each for `HOLD_MS`.
pub const HOLD_MAX: usize = 4;
pub const HOLD_MS: u64 = 500;

/// A held frame, and whether every checksum of it was right when it came in.
pub type Held = (VecFrame, bool);

/// Publishers and workers, plus what the harness saw of them.
pub struct Lab {
    pub steering: Publisher<SteeringTable>,
    pub policy: Publisher<Policy>,
    pub neighbours: Publisher<Neighbours>,
    pub loads: Publisher<ServerLoads>,
    pub workers: Vec<Worker>,
    pub local_loads: Vec<Arc<LocalLoad>>,
    pub events: Vec<Event>,
    pub now: u64,
    pub mode: SessionKeyMode,
    /// Held frames, per worker.
    pub held: Vec<HoldQueue<Held>>,
}

impl Lab {
    pub fn new(mode: SessionKeyMode) -> Lab {
        let gateways: Vec<Gateway> = (0..N_WORKERS)
            .map(|i| Gateway {
                id: GatewayId(u32::from(i)),
                target: GatewayTarget::LocalWorker(i),
            })
            .collect();
        let steering_table = SteeringTable::with_max_gateways(usize::from(N_WORKERS))
            .with_gateways(&gateways)
            .expect("distinct gateways");
        let now = 1_000_000;
        let assembly = WorkersPlan {
            worker: WorkerConfig {
                index: 0,
                n_workers: N_WORKERS,
                gateway_addrs: vec![GW],
                gateway_addrs6: vec![GW6],
                port_range: PORT_RANGE,
                table_capacity: TABLE_CAPACITY,
                quarantine: Quarantine {
                    tcp_ms: 60_000,
                    other_ms: 1_000,
                },
                session_key: mode,
                nat64: Some(dataplane::pipeline::Nat64Config {
                    prefix: Some(dataplane::wire::NAT64_WELL_KNOWN_PREFIX),
                }),
                ipv6_session_prefix: dataplane::tier1::Ipv6SessionPrefix::P64,
                probe_ports: Some(PROBE_PORTS),
                bitrate_meters: true,
                limited_types: 0,
                fabric: None,
                fragments: dataplane::tier2::FragmentLimits::DEFAULT,
            },
            topology: lab_topology(),
            steering: steering_table,
            policy: policy_with_ipv6_servers(),
            neighbours: neighbours(),
            max_readers: 16,
            now_ms: now,
        }
        .assemble()
        .expect("valid worker plan");
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
            now,
            mode,
            held: (0..N_WORKERS)
                .map(|_| HoldQueue::new(HOLD_MAX, HOLD_MS))
                .collect(),
        }
    }

    /// Runs `f`, received by worker `w` on `port`, following handoffs (at
    /// most `max_hops`, so that a loop ends the run instead of hanging).
    pub fn run(&mut self, w: usize, port: u16, f: &mut VecFrame, max_hops: u32) -> Journey {
        for wk in &mut self.workers {
            wk.begin_burst();
        }
        let mut verdict = self.workers[w].process(f, port, self.now, &mut self.events);
        let mut at = w;
        let mut hops = 0;
        while let Verdict::Handoff(t) = verdict {
            if hops == max_hops {
                break;
            }
            hops += 1;
            at = usize::from(t);
            verdict = self.workers[at].process_handoff(f, port, self.now, &mut self.events);
        }
        Journey { verdict, at, hops }
    }

    /// Moves time on by `ms` and runs every worker's timers until they
    /// have caught up.
    pub fn tick(&mut self, ms: u64) {
        self.now += ms;
        for w in &mut self.workers {
            w.begin_burst();
            // Each call does bounded work; a worker that stays behind after
            // this many calls is stuck.
            let mut rounds = 0u32;
            while w.run_timers(self.now, 64, &mut self.events) > 0 {
                rounds += 1;
                assert!(rounds < 100_000, "timers never catch up");
            }
        }
    }

    /// The control plane resolves every next hop a worker asked for (the
    /// MAC address is made up from the IPv4 or IPv6 address).
    pub fn resolve_misses(&mut self) {
        let mut n = (*self.neighbours.current()).clone();
        for e in &self.events {
            match *e {
                Event::NeighbourMiss { port, ip } => n.insert(port, ip, server_mac(ip)),
                Event::NeighbourMissV6 { port, ip } => n.insert_v6(port, ip, server6_mac(ip)),
                _ => {}
            }
        }
        self.neighbours.reclaim();
        self.neighbours.publish(n);
    }

    /// The control plane forgets a neighbour (its ARP entry aged out).
    pub fn forget(&mut self, port: u16, ip: Ipv4Addr) {
        let mut n = (*self.neighbours.current()).clone();
        n.remove(port, ip);
        self.neighbours.reclaim();
        self.neighbours.publish(n);
    }

    /// The control plane forgets an IPv6 neighbour (its ND entry aged out).
    pub fn forget_v6(&mut self, port: u16, ip: Ipv6Addr) {
        let mut n = (*self.neighbours.current()).clone();
        n.remove_v6(port, ip);
        self.neighbours.reclaim();
        self.neighbours.publish(n);
    }

    /// Changes server `index` of the policy and publishes it.
    pub fn set_server(&mut self, index: usize, state: AdminState, unhealthy: bool, weight: u32) {
        let mut p = (*self.policy.current()).clone();
        let n = p.services.servers.len();
        let s = &mut p.services.servers[index % n];
        s.state = state;
        s.unhealthy = unhealthy;
        s.weight = weight;
        self.policy.reclaim();
        self.policy.publish(p);
    }

    /// Sets the interim accounting interval and publishes the policy.
    pub fn set_interim(&mut self, interim_ms: u64) {
        let mut p = (*self.policy.current()).clone();
        p.interim_ms = interim_ms;
        self.policy.reclaim();
        self.policy.publish(p);
    }

    /// Publishes the workers' loads, summed, as the control plane does.
    pub fn publish_loads(&mut self) {
        let n = self.policy.current().services.servers.len();
        let by_worker: Vec<Vec<u32>> = self.local_loads.iter().map(|l| l.snapshot(n)).collect();
        let total = (0..n)
            .map(|s| by_worker.iter().map(|w| u64::from(w[s])).sum())
            .collect();
        self.loads.reclaim();
        self.loads.publish(ServerLoads { total, by_worker });
    }

    pub fn drops(&self, r: DropReason) -> u64 {
        self.workers.iter().map(|w| w.counters().dropped(r)).sum()
    }

    pub fn live(&self) -> u32 {
        self.workers.iter().map(|w| w.table().len()).sum()
    }

    /// Sum of one counter over the workers.
    pub fn sum(&self, read: impl Fn(&WorkerCounters) -> u64) -> u64 {
        self.workers.iter().map(|w| read(w.counters())).sum()
    }
}
