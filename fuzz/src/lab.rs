//! Two (or more) workers wired like the appliance wires them, without DPDK:
//! the setup of `dataplane/src/pipeline/tests/mod.rs` (private to that
//! crate's tests), copied here with a small table and port range so that
//! exhaustion is reachable by a fuzzer.

use dataplane::counters::{DropReason, WorkerCounters};
use dataplane::event::Event;
use dataplane::frame::VecFrame;
use dataplane::pipeline::{LocalLoad, ServerLoads, Snapshots, Verdict, Worker, WorkerConfig};
pub use dataplane::policy::{
    AdminState, Entitlement, Policy, Server, Service, ServiceSet, ServiceTable, Subscribers,
};
use dataplane::rcu::Publisher;
use dataplane::tier1::{Gateway, GatewayId, GatewayTarget, SessionKeyMode, SteeringTable};
use dataplane::tier2::{Quarantine, Timeouts};
use dataplane::topology::{LocalAddr, Neighbours, PortInfo, Role, Topology};
use std::net::Ipv4Addr;
use std::sync::Arc;

pub const ACC: u16 = 0;
pub const SRV: u16 = 1;
pub const EXT: u16 = 2;
pub const ACC2: u16 = 3;
/// Ports the topology knows; `N_PORTS` itself is an unknown port.
pub const N_PORTS: u16 = 4;

pub fn port_mac(p: u16) -> [u8; 6] {
    [2, 0, 0, 0, 0, p as u8 + 1]
}
pub const UE_MAC: [u8; 6] = [2, 0, 0, 0, 0xaa, 1];
pub fn server_mac(ip: Ipv4Addr) -> [u8; 6] {
    [2, 0, 0, 0, 0x20, ip.octets()[3]]
}

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

pub fn topology() -> Topology {
    let roles = [Role::Access, Role::Server, Role::External, Role::Access];
    let names = ["acc0", "srv0", "ext0", "acc1"];
    let mut t = Topology::new(
        (0..N_PORTS)
            .map(|p| PortInfo {
                name: names[usize::from(p)].into(),
                role: roles[usize::from(p)],
                mac: port_mac(p),
                addresses: vec![(PORT_ADDRS[usize::from(p)], 24)],
            })
            .collect(),
    );
    t.add_local(SRV, GW, LocalAddr::Gateway(0));
    t.add_local(EXT, GW, LocalAddr::Gateway(0));
    t.add_local(ACC, VIP, LocalAddr::Vip);
    t.add_local(ACC2, VIP, LocalAddr::Vip);
    t
}

pub fn policy() -> Policy {
    let srv = |a: Ipv4Addr, port| Server {
        addr: a,
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
                proto: 6,
                port_lo: 80,
                port_hi: 80,
                servers: vec![0, 1, 2],
                by_type: vec![],
                removed: false,
            },
            Service {
                name: "dns".into(),
                vip: Some(DNS_VIP),
                proto: 17,
                port_lo: 53,
                port_hi: 53,
                servers: vec![3],
                by_type: vec![],
                removed: false,
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
        },
    );
    Policy {
        services,
        subscribers,
        timeouts: Timeouts::default(),
        interim_ms: 0,
        reply_rate_per_s: 1000,
        ..Policy::default()
    }
}

pub fn neighbours() -> Neighbours {
    let mut n = Neighbours::default();
    for s in SERVERS {
        n.insert(SRV, s, server_mac(s));
    }
    n.insert(EXT, EXT_HOST, server_mac(EXT_HOST));
    n
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

/// Frames a worker holds while their next hop is resolved, like the
/// appliance's worker loop does: at most `HOLD_MAX`, each for `HOLD_MS`.
pub const HOLD_MAX: usize = 4;
pub const HOLD_MS: u64 = 500;

/// A frame waiting for its next hop's MAC address.
pub struct Held {
    pub frame: VecFrame,
    pub port: u16,
    pub next_hop: Ipv4Addr,
    pub since_ms: u64,
    /// Whether every checksum of the frame was right when it came in.
    pub input_valid: bool,
}

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
    pub held: Vec<Vec<Held>>,
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
        let steering = Publisher::new(steering_table, 16);
        let policy_pub = Publisher::new(policy(), 16);
        let neigh = Publisher::new(neighbours(), 16);
        let loads = Publisher::new(ServerLoads::default(), 16);
        let topo = Arc::new(topology());
        let now = 1_000_000;
        let mut workers = Vec::new();
        let mut local_loads = Vec::new();
        for i in 0..N_WORKERS {
            let load = Arc::new(LocalLoad::default());
            let w = Worker::new(
                WorkerConfig {
                    index: i,
                    n_workers: N_WORKERS,
                    gateway_addrs: vec![GW],
                    port_range: PORT_RANGE,
                    table_capacity: TABLE_CAPACITY,
                    quarantine: Quarantine {
                        tcp_ms: 60_000,
                        other_ms: 1_000,
                    },
                    session_key: mode,
                    probe_ports: Some(PROBE_PORTS),
                },
                Arc::clone(&topo),
                Snapshots {
                    steering: steering.reader().expect("reader slot"),
                    policy: policy_pub.reader().expect("reader slot"),
                    neighbours: neigh.reader().expect("reader slot"),
                    loads: loads.reader().expect("reader slot"),
                },
                Arc::clone(&load),
                Arc::new(WorkerCounters::default()),
                now,
            )
            .expect("valid worker config");
            workers.push(w);
            local_loads.push(load);
        }
        Lab {
            steering,
            policy: policy_pub,
            neighbours: neigh,
            loads,
            workers,
            local_loads,
            events: Vec::new(),
            now,
            mode,
            held: (0..N_WORKERS).map(|_| Vec::new()).collect(),
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
    /// MAC address is made up from the IPv4 address).
    pub fn resolve_misses(&mut self) {
        let mut n = (*self.neighbours.current()).clone();
        for e in &self.events {
            if let Event::NeighbourMiss { port, ip } = *e {
                n.insert(port, ip, server_mac(ip));
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
