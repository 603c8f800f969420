//! What the control plane holds: the publishers of the workers' snapshots
//! and the working copies they are made from, the session manager, the
//! ports and pool it transmits with, and the workers' queues and counters.

use crate::config::Config;
use crate::runtime::records::AccountingPipe;
use crate::runtime::worker::WorkerCmd;
use crossbeam::queue::ArrayQueue;
use dataplane::counters::WorkerCounters;
use dataplane::event::Event;
use dataplane::pipeline::{LocalLoad, PoolGauge, ServerLoads};
use dataplane::policy::Policy;
use dataplane::rcu::Publisher;
use dataplane::tier1::{GatewayId, SessionId, SessionManager, SteeringTable};
use dataplane::topology::{Neighbours, Topology};
use dpdk_ffi::{Mempool, PortId, TxQueue};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

pub struct Shared {
    pub topo: Arc<Topology>,
    pub ports: Vec<PortId>,
    pub pool: Mempool,
    /// The control plane's own tx queue on every port, in port order (a
    /// `RefCell`: the control plane sends from `&self` methods, on one
    /// thread).
    pub control_tx: std::cell::RefCell<Vec<TxQueue>>,
    pub steering: Publisher<SteeringTable>,
    pub policy: Publisher<Policy>,
    pub neighbours: Publisher<Neighbours>,
    pub loads: Publisher<ServerLoads>,
    /// The neighbour table being built; published when it changes.
    pub neighbours_work: Neighbours,
    pub manager: SessionManager,
    /// Drain changes waiting for the next steering publish.
    pub staged_drains: Vec<(SessionId, Option<GatewayId>)>,
    /// What each worker reports (pins, activity, accounting, neighbours).
    pub events: Vec<rtrb::Consumer<Event>>,
    pub worker_loads: Vec<Arc<LocalLoad>>,
    pub counters: Vec<Arc<WorkerCounters>>,
    pub pools: Vec<Arc<Vec<PoolGauge>>>,
    pub commands: Vec<Arc<ArrayQueue<WorkerCmd>>>,
    pub accounting: AccountingPipe,
    /// The control socket's clients, for the statistics.
    pub api_clients: Arc<crate::api::clients::Clients>,
    /// The config in force, and where it was read from (for reload).
    pub cfg: Config,
    pub cfg_path: PathBuf,
    pub started: Instant,
    /// When each snapshot was last published (steering, policy,
    /// neighbours, loads).
    pub published_at: [Instant; 4],
    /// What ARP guarding did (see `control.rs`).
    pub neighbour_stats: crate::api::stats::NeighbourStats,
}

impl Shared {
    /// Publishes a steering table with these pin changes applied (and the
    /// drain changes staged since the last publish).
    pub fn publish_pins(&mut self, changes: &[(SessionId, Option<GatewayId>)]) {
        let mut next = self.steering.current().with_pins(changes);
        if !self.staged_drains.is_empty() {
            next = next.with_draining(&std::mem::take(&mut self.staged_drains));
        }
        self.steering.publish(next);
        self.published_at[0] = Instant::now();
    }

    /// Publishes a steering table over a new gateway set (a cluster's
    /// members changed); pins and drains are kept.
    pub fn publish_gateways(
        &mut self,
        gateways: &[dataplane::tier1::Gateway],
        draining: &[GatewayId],
    ) -> Result<(), dataplane::tier1::SteeringError> {
        let next = self
            .steering
            .current()
            .with_gateways_excluding(gateways, draining)?;
        self.steering.publish(next);
        self.published_at[0] = Instant::now();
        Ok(())
    }

    /// Publishes the cluster members and table generation the workers
    /// check fabric packets against, if they changed.
    pub fn publish_fabric(&mut self, peers: dataplane::tier1::FabricPeers) {
        if *self.steering.current().fabric() == peers {
            return;
        }
        let next = self.steering.current().with_fabric(peers);
        self.steering.publish(next);
        self.published_at[0] = Instant::now();
    }

    /// Sums the workers' live user sessions per server and publishes them.
    pub fn publish_loads(&mut self) {
        let n = self.policy.current().services.servers.len();
        let by_worker: Vec<Vec<u32>> = self.worker_loads.iter().map(|l| l.snapshot(n)).collect();
        let mut total = vec![0u64; n];
        for w in &by_worker {
            for (t, v) in total.iter_mut().zip(w) {
                *t += u64::from(*v);
            }
        }
        self.loads.publish(ServerLoads { total, by_worker });
        self.published_at[3] = Instant::now();
    }

    /// Frees snapshots every worker has moved past.
    pub fn reclaim(&self) {
        self.steering.reclaim();
        self.policy.reclaim();
        self.neighbours.reclaim();
        self.loads.reclaim();
    }

    /// Publishes a new policy (services, types, subscribers).
    pub fn publish_policy(&mut self, p: Policy) {
        self.policy.publish(p);
        self.published_at[1] = Instant::now();
    }

    /// Publishes the neighbour table being built.
    pub fn publish_neighbours(&mut self) {
        self.neighbours.publish(self.neighbours_work.clone());
        self.published_at[2] = Instant::now();
    }

    /// Live user sessions per server, summed over the workers now.
    pub fn server_loads(&self) -> Vec<u64> {
        let n = self.policy.current().services.servers.len();
        let mut total = vec![0u64; n];
        for l in &self.worker_loads {
            for (i, t) in total.iter_mut().enumerate() {
                *t += l.get(i);
            }
        }
        total
    }
}
