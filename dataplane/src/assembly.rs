//! Assembling the workers of one appliance from a plan, in one place.
//!
//! The appliance, the test lab (`testkit`), the fuzz lab and the
//! benchmarks' lab all need the same wiring: one publisher per shared
//! snapshot (steering, policy, neighbours, server loads), one reader of each
//! per worker, a `WorkerConfig` per worker that differs only in its index,
//! and a load gauge and counter block per worker that the control plane
//! reads. Written four times it drifts (a new snapshot or worker parameter
//! lands in one copy and not the others), so every user builds its workers
//! here and keeps what [`Assembly`] hands back.
//!
//! Sans-IO like the rest of the crate: the handoff rings are the caller's
//! (DPDK rings in the appliance, direct calls in the labs); [`handoff_mesh`]
//! only lays out which ring joins which pair of workers.

use std::fmt;
use std::sync::Arc;

use crate::counters::WorkerCounters;
use crate::pipeline::{LocalLoad, ServerLoads, Snapshots, Worker, WorkerConfig};
use crate::policy::Policy;
use crate::rcu::{Publisher, RcuError};
use crate::tier1::SteeringTable;
use crate::topology::{Neighbours, Topology};

/// Everything the workers of one appliance are built from.
pub struct WorkersPlan {
    /// What every worker is configured with: `worker.n_workers` workers are
    /// built, and worker `i` gets index `i` (its gateway ID and its share of
    /// the port range) whatever `worker.index` says.
    pub worker: WorkerConfig,
    /// Ports, own addresses and routes (shared, never republished).
    pub topology: Topology,
    /// First snapshots, published as generation 1.
    pub steering: SteeringTable,
    pub policy: Policy,
    pub neighbours: Neighbours,
    /// Reader slots per publisher: at least `n_workers`.
    pub max_readers: usize,
    /// The clock when the workers start, ms.
    pub now_ms: u64,
}

/// The publishers the control plane keeps: it publishes new snapshots
/// through them and reclaims the retired ones.
pub struct Publishers {
    pub steering: Publisher<SteeringTable>,
    pub policy: Publisher<Policy>,
    pub neighbours: Publisher<Neighbours>,
    pub loads: Publisher<ServerLoads>,
}

impl Publishers {
    /// One reader of every snapshot, for one worker.
    fn snapshots(&self) -> Result<Snapshots, RcuError> {
        Ok(Snapshots {
            steering: self.steering.reader()?,
            policy: self.policy.reader()?,
            neighbours: self.neighbours.reader()?,
            loads: self.loads.reader()?,
        })
    }
}

/// The workers of a plan and what the control plane keeps of them. Index
/// `i` of each vector belongs to worker `i`.
pub struct Assembly {
    pub publishers: Publishers,
    pub topology: Arc<Topology>,
    pub workers: Vec<Worker>,
    /// Each worker's live user-session gauges (read by the control plane to
    /// publish `ServerLoads`).
    pub loads: Vec<Arc<LocalLoad>>,
    /// Each worker's counters (read by stats and metrics).
    pub counters: Vec<Arc<WorkerCounters>>,
}

/// Why workers could not be assembled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssemblyError {
    /// A publisher has fewer reader slots than there are workers.
    Readers(RcuError),
    /// `Worker::new` refused the plan (e.g. no gateway address).
    Worker(String),
}

impl fmt::Display for AssemblyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AssemblyError::Readers(e) => write!(f, "{e}"),
            AssemblyError::Worker(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for AssemblyError {}

impl WorkersPlan {
    /// Creates the publishers (the plan's snapshots as generation 1, no
    /// server loads yet) and `n_workers` workers reading them.
    pub fn assemble(self) -> Result<Assembly, AssemblyError> {
        let WorkersPlan {
            worker: template,
            topology,
            steering,
            policy,
            neighbours,
            max_readers,
            now_ms,
        } = self;
        let publishers = Publishers {
            steering: Publisher::new(steering, max_readers),
            policy: Publisher::new(policy, max_readers),
            neighbours: Publisher::new(neighbours, max_readers),
            loads: Publisher::new(ServerLoads::default(), max_readers),
        };
        let topology = Arc::new(topology);
        let n = usize::from(template.n_workers);
        let mut workers = Vec::with_capacity(n);
        let mut loads = Vec::with_capacity(n);
        let mut counters = Vec::with_capacity(n);
        for index in 0..template.n_workers {
            let config = WorkerConfig {
                index,
                ..template.clone()
            };
            let load = Arc::new(LocalLoad::default());
            let counter = Arc::new(WorkerCounters::default());
            let snapshots = publishers.snapshots().map_err(AssemblyError::Readers)?;
            let worker = Worker::new(
                config,
                Arc::clone(&topology),
                snapshots,
                Arc::clone(&load),
                Arc::clone(&counter),
                now_ms,
            )
            .map_err(AssemblyError::Worker)?;
            workers.push(worker);
            loads.push(load);
            counters.push(counter);
        }
        Ok(Assembly {
            publishers,
            topology,
            workers,
            loads,
            counters,
        })
    }
}

/// The handoff rings between `n` workers: one single-producer,
/// single-consumer ring per ordered pair of distinct workers, made by
/// `make(from, to)`. Returns, per worker, its producers indexed by the
/// receiving worker (`None` for itself) and its consumers (one per other
/// worker, in order of the sender).
#[allow(clippy::type_complexity)] // the two halves of the mesh, per worker
pub fn handoff_mesh<P, C, E>(
    n: usize,
    mut make: impl FnMut(usize, usize) -> Result<(P, C), E>,
) -> Result<(Vec<Vec<Option<P>>>, Vec<Vec<C>>), E> {
    let mut outs: Vec<Vec<Option<P>>> = (0..n).map(|_| (0..n).map(|_| None).collect()).collect();
    let mut ins: Vec<Vec<C>> = (0..n).map(|_| Vec::new()).collect();
    for (from, row) in outs.iter_mut().enumerate() {
        for (to, slot) in row.iter_mut().enumerate() {
            if from == to {
                continue;
            }
            let (producer, consumer) = make(from, to)?;
            *slot = Some(producer);
            if let Some(inbox) = ins.get_mut(to) {
                inbox.push(consumer);
            }
        }
    }
    Ok((outs, ins))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit;
    use crate::tier1::{Gateway, GatewayId, GatewayTarget, SessionKeyMode};
    use crate::tier2::Quarantine;

    fn plan(n_workers: u16, max_readers: usize) -> WorkersPlan {
        let gateways: Vec<Gateway> = (0..n_workers)
            .map(|i| Gateway {
                id: GatewayId(u32::from(i)),
                target: GatewayTarget::LocalWorker(i),
            })
            .collect();
        WorkersPlan {
            worker: WorkerConfig {
                index: 0,
                n_workers,
                gateway_addrs: vec![testkit::GW],
                gateway_addrs6: Vec::new(),
                port_range: testkit::PORT_RANGE,
                table_capacity: 64,
                quarantine: Quarantine {
                    tcp_ms: 1,
                    other_ms: 1,
                },
                session_key: SessionKeyMode::SourceIp,
                nat64: None,
                ipv6_session_prefix: crate::tier1::Ipv6SessionPrefix::P64,
                probe_ports: None,
                bitrate_meters: false,
                limited_types: 0,
                fabric: None,
                fragments: crate::tier2::FragmentLimits::DEFAULT,
            },
            topology: testkit::topology(),
            steering: SteeringTable::new(&gateways).unwrap(),
            policy: testkit::policy(),
            neighbours: testkit::neighbours(),
            max_readers,
            now_ms: 0,
        }
    }

    #[test]
    fn every_worker_reads_every_publisher() {
        let a = plan(3, 4).assemble().unwrap();
        assert_eq!(a.workers.len(), 3);
        assert_eq!(a.loads.len(), 3);
        assert_eq!(a.counters.len(), 3);
        // Three readers on each publisher, all at generation 1: a publish
        // is retired only once all three have moved on.
        let p = &a.publishers;
        for oldest in [
            p.steering.oldest_reader_generation(),
            p.policy.oldest_reader_generation(),
            p.neighbours.oldest_reader_generation(),
            p.loads.oldest_reader_generation(),
        ] {
            assert_eq!(oldest, Some(1));
        }
        p.loads.publish(ServerLoads::default());
        assert_eq!(p.loads.reclaim(), 0, "the workers still hold generation 1");
    }

    #[test]
    fn too_few_reader_slots_is_an_error_not_a_panic() {
        let e = plan(3, 2).assemble().err().unwrap();
        assert_eq!(
            e,
            AssemblyError::Readers(RcuError::ReaderSlotsFull { max_readers: 2 })
        );
    }

    #[test]
    fn a_plan_without_gateway_addresses_is_refused() {
        let mut p = plan(1, 1);
        p.worker.gateway_addrs.clear();
        let e = p.assemble().err().unwrap();
        assert!(e.to_string().contains("gateway addresses"), "{e}");
    }

    #[test]
    fn the_mesh_joins_every_ordered_pair_once() {
        let (outs, ins) =
            handoff_mesh::<_, _, ()>(3, |from, to| Ok(((from, to), (from, to)))).unwrap();
        for (from, row) in outs.iter().enumerate() {
            for (to, slot) in row.iter().enumerate() {
                assert_eq!(*slot, (from != to).then_some((from, to)));
            }
        }
        assert_eq!(ins[0], vec![(1, 0), (2, 0)]);
        assert_eq!(ins[2], vec![(0, 2), (1, 2)]);
        assert_eq!(
            handoff_mesh(2, |_, _| Err::<((), ()), _>("no ring")),
            Err("no ring")
        );
    }
}
