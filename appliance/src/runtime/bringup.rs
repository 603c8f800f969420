//! The bring-up steps of `runtime::run`, in the order it calls them, each
//! with one job: signals, accounting sinks, EAL, the mbuf pool, the ports
//! and their queues, the handoff rings, the workers, their launch, and the
//! control plane's front ends (API socket, metrics, telemetry).
//!
//! Everything that can fail without DPDK fails before `start_eal`; each
//! step after it returns what shutdown (`shutdown.rs`) must release.

use super::control::Control;
use super::handoff::{carrying_records, HandoffIn, HandoffOut};
use super::shared::Shared;
use super::{records, worker, RunError};
use crate::accounting::{AccountingConfig, AccountingExporter};
use crate::api::clients::Clients;
use crate::api::protocol::Request;
use crate::api::server::{ApiCall, ApiServer};
use crate::clock::Clock;
use crate::config::Config;
use crate::plan;
use crossbeam::queue::ArrayQueue;
use dataplane::assembly::{handoff_mesh, Assembly, WorkersPlan};
use dataplane::event::Event;
use dataplane::pipeline::WorkerConfig;
use dataplane::tier1::{SessionManager, SteeringTable};
use dataplane::topology::Neighbours;
use dpdk_ffi::{
    launch_on_lcore, mbuf_ring, Eal, LcoreHandle, Mempool, PortId, PortQueues, RxQueue, TxQueue,
    SOCKET_ID_ANY,
};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use tracing::{info, warn};

/// Most snapshot readers per publisher (workers + spare).
const MAX_READERS: usize = 128;

/// The flags the signal handlers set.
pub struct Signals {
    /// SIGINT or SIGTERM: stop.
    pub stop: Arc<AtomicBool>,
    /// SIGHUP: reload the config.
    pub hup: Arc<AtomicBool>,
}

pub fn install_signals() -> Result<Signals, RunError> {
    let signals = Signals {
        stop: Arc::new(AtomicBool::new(false)),
        hup: Arc::new(AtomicBool::new(false)),
    };
    let cannot = |e: std::io::Error| RunError::Setup(format!("cannot install signal handler: {e}"));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&signals.stop)).map_err(cannot)?;
    }
    signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&signals.hup))
        .map_err(cannot)?;
    Ok(signals)
}

/// Opens the accounting sinks before DPDK starts, so a bad path fails early.
pub fn open_accounting(cfg: &Config) -> Result<Option<AccountingExporter>, RunError> {
    if cfg.accounting.json.is_none() && cfg.accounting.ipfix.is_none() {
        return Ok(None);
    }
    let acfg = AccountingConfig {
        json: cfg.accounting.json.clone(),
        ipfix: cfg.accounting.ipfix.clone(),
    };
    AccountingExporter::new(&acfg)
        .map(Some)
        .map_err(|e| RunError::Setup(format!("accounting: {e}")))
}

/// Starts the EAL (and packet capture, if DPDK offers it).
pub fn start_eal(cfg: &Config) -> Result<Eal, RunError> {
    let args: Vec<String> = cfg.eal_args().into_iter().skip(1).collect();
    info!(args = %args.join(" "), "starting EAL");
    let eal = Eal::init(&args)?;
    if let Err(e) = dpdk_ffi::pdump_init() {
        warn!("packet capture (dpdk-dumpcap) unavailable: {e}");
    }
    Ok(eal)
}

pub fn create_pool(cfg: &Config) -> Result<Mempool, RunError> {
    Ok(Mempool::create(
        "tandem_mbufs",
        cfg.mempool.mbufs,
        cfg.mempool.cache,
        cfg.mempool.data_room,
        SOCKET_ID_ANY,
    )?)
}

/// The started ports, in config order, and the queue handles not yet given
/// to a worker.
pub struct Ports {
    pub ids: Vec<PortId>,
    pub macs: Vec<[u8; 6]>,
    /// DPDK port id → config port index (u16::MAX: not ours).
    pub index: Vec<u16>,
    /// Per port: its rx queues; each is taken by the worker that polls it.
    pub rx: Vec<Vec<Option<RxQueue>>>,
    /// Per port: rx queues beyond `rx_queues` that the device needed (see
    /// `start_port`), shared out among the workers.
    pub extra_rx: Vec<Vec<u16>>,
    /// Per port: tx queue `w` is worker `w`'s, the last the control plane's.
    pub tx: Vec<Vec<Option<TxQueue>>>,
    /// The mbuf pool the ports receive into (workers take the rare frame
    /// they send besides the one received from it).
    pub pool: Mempool,
}

/// Configures and starts every port: every worker has its own tx queue,
/// and one more is the control plane's.
pub fn start_ports(cfg: &Config, pool: &Mempool) -> Result<Ports, RunError> {
    let mut ports = Ports {
        ids: Vec::new(),
        macs: Vec::new(),
        index: vec![u16::MAX; 1024],
        rx: Vec::new(),
        extra_rx: Vec::new(),
        tx: Vec::new(),
        pool: pool.clone(),
    };
    for (i, p) in cfg.ports.iter().enumerate() {
        let (pid, queues, rx_queues) = start_port(cfg, p, pool)?;
        let mac = pid.mac_addr().map_err(port_error(p))?;
        info!(port = %p.name, device = %p.device, mac = %dataplane::wire::MacAddr(mac), "port started");
        if let Some(slot) = ports.index.get_mut(usize::from(pid.index())) {
            *slot = i as u16;
        }
        ports.ids.push(pid);
        ports.macs.push(mac);
        ports.extra_rx.push((p.rx_queues..rx_queues).collect());
        ports.rx.push(queues.rx.into_iter().map(Some).collect());
        ports.tx.push(queues.tx.into_iter().map(Some).collect());
    }
    Ok(ports)
}

fn port_error(p: &crate::config::Port) -> impl Fn(dpdk_ffi::Error) -> RunError + '_ {
    move |source| RunError::Port {
        port: p.name.clone(),
        device: p.device.clone(),
        source,
    }
}

/// Configures and starts one port; its queues and how many rx queues it
/// really has.
fn start_port(
    cfg: &Config,
    p: &crate::config::Port,
    pool: &Mempool,
) -> Result<(PortId, PortQueues, u16), RunError> {
    let pid = PortId::by_name(&p.device).map_err(port_error(p))?;
    let tx_queues = cfg.workers.len() as u16 + 1;
    let mut rx_queues = p.rx_queues;
    let (rx_desc, tx_desc) = (cfg.rings.rx_desc, cfg.rings.tx_desc);
    let queues = match pid.configure(rx_queues, tx_queues, rx_desc, tx_desc, pool) {
        Ok(queues) => queues,
        Err(first) => {
            // Some PMDs (net_tap among them) need as many rx as tx queues.
            // Then the extra rx queues are polled by the workers in turn.
            let n = rx_queues.max(tx_queues);
            let explain = |e: dpdk_ffi::Error| {
                RunError::Setup(format!(
                    "port \"{}\" (device {}): cannot set up {rx_queues} rx and {tx_queues} tx queues \
                     (one tx queue per worker plus one for the control plane): {e}; \
                     some PMDs offer fewer (net_pcap: one tx queue per tx_pcap= file)",
                    p.name, p.device
                ))
            };
            if n == rx_queues {
                return Err(explain(first));
            }
            let queues = pid
                .configure(n, n, rx_desc, tx_desc, pool)
                .map_err(|_| explain(first))?;
            info!(port = %p.name, rx_queues = n, "device needs equal rx and tx queues; extra rx queues are shared out among the workers");
            rx_queues = n;
            queues
        }
    };
    if let Some(mtu) = p.mtu {
        pid.set_mtu(mtu).map_err(port_error(p))?;
    }
    if p.promiscuous {
        pid.promiscuous_enable().map_err(port_error(p))?;
    } else if p.ipv6_addresses().next().is_some() {
        // Solicitations for an IPv6 port address go to its solicited-node
        // multicast group. A PMD without the switch (net_null, net_ring)
        // delivers what it has anyway.
        if let Err(e) = pid.allmulticast_enable() {
            warn!(port = %p.name, "cannot enable all-multicast reception: {e}; \
                  Neighbor Solicitations for its IPv6 addresses may not arrive");
        }
    }
    if let (crate::config::Role::Fabric, Some(cl)) = (p.role, cfg.cluster.as_ref()) {
        fabric_mtu(&pid, p, cl.fabric_mtu)?;
    }
    pid.start().map_err(port_error(p))?;
    Ok((pid, queues, rx_queues))
}

/// Gives the fabric port `cluster.fabric_mtu`: the outer packets are never
/// fragmented, so the device must take them whole. A device that cannot
/// set its MTU (net_ring, net_null) is accepted when it already takes at
/// least that much; anything else refuses the start.
fn fabric_mtu(pid: &PortId, p: &crate::config::Port, mtu: u16) -> Result<(), RunError> {
    match pid.set_mtu(mtu) {
        Ok(()) => {
            info!(port = %p.name, mtu, "fabric MTU set");
            Ok(())
        }
        Err(set) => match pid.mtu() {
            Ok(now) if now >= mtu => {
                info!(port = %p.name, mtu = now, "fabric MTU: the device keeps its own ({set})");
                Ok(())
            }
            now => Err(RunError::Setup(format!(
                "fabric port \"{}\" (device {}) cannot take cluster.fabric_mtu {mtu} ({set}; its MTU is {}): \
                 lower fabric_mtu or use a device that takes it (fabric packets are never fragmented)",
                p.name,
                p.device,
                now.map_or_else(|e| format!("unknown: {e}"), |m| m.to_string())
            ))),
        },
    }
}

/// Per worker: its producers to every other worker and its consumers.
pub type HandoffRings = (Vec<Vec<Option<HandoffOut>>>, Vec<Vec<HandoffIn>>);

/// One SPSC handoff ring per ordered pair of workers, with a ring of
/// frame records beside it.
pub fn handoff_rings(cfg: &Config) -> Result<HandoffRings, RunError> {
    Ok(handoff_mesh(cfg.workers.len(), |from, to| {
        mbuf_ring(
            &format!("tdm_ho_{from}_{to}"),
            cfg.rings.handoff,
            SOCKET_ID_ANY,
        )
        .map(carrying_records)
    })?)
}

/// What every steering table is built from: this appliance's workers, or
/// on a cluster member the cluster's gateways and shared parameters.
pub struct SteeringInputs {
    pub gateways: Vec<dataplane::tier1::Gateway>,
    pub max_gateways: usize,
    pub seed: u64,
    /// The cluster's members on the fabric as read while joining (the
    /// workers accept fabric frames from them from the first burst on).
    pub fabric: dataplane::tier1::FabricPeers,
}

/// A cluster member joins before DPDK starts: etcd unreachable, other
/// steering parameters or a gateway address claimed by another appliance
/// fail the start here (docs/cluster.md). `None` stand-alone.
pub fn join_cluster(cfg: &Config) -> Result<Option<crate::cluster::Link>, RunError> {
    let Some(me) = crate::cluster::me(cfg) else {
        return Ok(None);
    };
    let handle = crate::cluster::agent::start(me.clone()).map_err(RunError::Setup)?;
    Ok(Some(crate::cluster::Link::new(handle, me)))
}

/// The steering inputs: a cluster's gateways are the cluster's.
pub fn steering_inputs(cfg: &Config, cluster: Option<&crate::cluster::Link>) -> SteeringInputs {
    match cluster {
        Some(link) => SteeringInputs {
            gateways: crate::cluster::view::table_gateways(&link.view, link.me.appliance_id),
            max_gateways: link.handle.params.max_gateways as usize,
            seed: link.handle.params.seed,
            fabric: crate::cluster::fabric_peers(&link.view),
        },
        None => SteeringInputs {
            gateways: plan::gateways(cfg),
            max_gateways: dataplane::tier1::DEFAULT_MAX_GATEWAYS,
            seed: 0,
            fabric: dataplane::tier1::FabricPeers::default(),
        },
    }
}

/// The session manager over the gateways.
pub fn session_manager(
    cfg: &Config,
    steering: &SteeringInputs,
) -> Result<SessionManager, RunError> {
    let mut manager = SessionManager::with_params(
        cfg.steering.idle_unpin_s.saturating_mul(1000),
        steering.max_gateways,
        steering.seed,
    );
    manager.set_drain_ms(cfg.steering.move_drain_s.saturating_mul(1000));
    manager.set_learned_limits(
        cfg.steering
            .learned_pins_max
            .map(|m| usize::try_from(m).unwrap_or(usize::MAX)),
        cfg.steering.learned_pins_per_s,
    );
    manager
        .set_gateways(&steering.gateways)
        .map_err(|e| RunError::Setup(format!("session manager: {e}")))?;
    Ok(manager)
}

/// The workers' pipelines and the publishers of their snapshots; the
/// neighbour table they start from is also the control plane's working
/// copy.
pub fn assemble_workers(
    cfg: &Config,
    macs: &[[u8; 6]],
    neighbours: Neighbours,
    clock: Clock,
    inputs: &SteeringInputs,
) -> Result<Assembly, RunError> {
    let policy = plan::policy(cfg);
    let steering = SteeringTable::with_params(inputs.max_gateways, inputs.seed)
        .with_gateways(&inputs.gateways)
        .map_err(|e| RunError::Setup(format!("steering table: {e}")))?
        .with_fabric(inputs.fabric.clone());
    WorkersPlan {
        worker: WorkerConfig {
            index: 0,
            n_workers: cfg.workers.len() as u16,
            gateway_addrs: cfg.gateway.addresses.iter().map(|a| a.0).collect(),
            gateway_addrs6: cfg.gateway.ipv6_addresses.iter().map(|a| a.0).collect(),
            port_range: cfg.gateway.port_range,
            table_capacity: cfg.gateway.user_sessions_per_worker,
            quarantine: plan::quarantine(cfg),
            session_key: plan::session_key(cfg.steering.key),
            nat64: plan::nat64(cfg),
            ipv6_session_prefix: plan::ipv6_session_prefix(cfg.steering.ipv6_prefix_len),
            probe_ports: cfg.health.active.as_ref().map(|a| a.source_ports),
            bitrate_meters: cfg.has_bitrate_limits(),
            limited_types: cfg.limited_types(),
            fabric: plan::fabric(cfg),
            fragments: dataplane::tier2::FragmentLimits {
                max_datagrams: cfg.gateway.fragments.max_datagrams,
                timeout_ms: cfg.gateway.fragments.timeout_ms,
            },
        },
        topology: plan::topology(cfg, macs, &policy),
        steering,
        policy,
        neighbours,
        max_readers: MAX_READERS,
        now_ms: clock.now_ms(),
    }
    .assemble()
    .map_err(|e| RunError::Setup(e.to_string()))
}

/// What the workers share with the control plane and each other.
pub struct WorkerLinks {
    pub stop: Arc<AtomicBool>,
    /// Workers that have stopped handing frames to others.
    pub stopped: Arc<AtomicUsize>,
    /// Workers that have queued their final records.
    pub finished: Arc<AtomicUsize>,
    pub commands: Vec<Arc<ArrayQueue<worker::WorkerCmd>>>,
}

/// The launched workers and the ends the control plane keeps.
pub struct Launched {
    pub links: WorkerLinks,
    pub handles: Vec<LcoreHandle>,
    /// Each worker's event ring.
    pub events: Vec<rtrb::Consumer<Event>>,
    /// Each worker's port-pool gauges.
    pub pools: Vec<Arc<Vec<dataplane::pipeline::PoolGauge>>>,
    /// Set when a worker could not be launched (the rest were not tried).
    pub error: Option<RunError>,
}

/// Who gets which queue handle: worker `i` its polled rx queues and tx
/// queue `i` of every port, the control plane the last tx queue of every
/// port.
pub struct QueueShares {
    pub workers: Vec<(Vec<RxQueue>, Vec<TxQueue>)>,
    pub control: Vec<TxQueue>,
}

/// Shares the queue handles out before any worker starts, so a handle
/// missing (which validation should have made impossible) fails bring-up
/// with nothing running yet.
pub fn share_queues(cfg: &Config, ports: &mut Ports) -> Result<QueueShares, RunError> {
    let n = cfg.workers.len();
    let workers = (0..n)
        .map(|i| Ok((worker_polls(cfg, ports, i)?, take_tx_queues(ports, i)?)))
        .collect::<Result<Vec<_>, RunError>>()?;
    let control = take_tx_queues(ports, n)?;
    Ok(QueueShares { workers, control })
}

/// Gives each worker its queues and rings and launches it on its lcore.
pub fn launch_workers(
    cfg: &Config,
    ports: &Ports,
    queues: Vec<(Vec<RxQueue>, Vec<TxQueue>)>,
    rings: HandoffRings,
    pipelines: Vec<dataplane::pipeline::Worker>,
    links: WorkerLinks,
    clock: Clock,
) -> Launched {
    let n = cfg.workers.len();
    let mut launched = Launched {
        links,
        handles: Vec::new(),
        events: Vec::with_capacity(n),
        pools: Vec::with_capacity(n),
        error: None,
    };
    let (ring_out, ring_in) = rings;
    let mut ring_out = ring_out.into_iter();
    let mut ring_in = ring_in.into_iter();
    let parts = cfg.workers.iter().zip(pipelines).zip(queues);
    for (i, ((w, pipeline), (polls, tx))) in parts.enumerate() {
        launched.pools.push(Arc::clone(pipeline.pool_gauges()));
        let (producer, consumer) = rtrb::RingBuffer::new(cfg.rings.events as usize);
        launched.events.push(consumer);
        let io = worker::WorkerIo {
            polls,
            tx,
            port_index: ports.index.clone(),
            ring_out: ring_out.next().unwrap_or_default(),
            ring_in: ring_in.next().unwrap_or_default(),
            events: producer,
            commands: Arc::clone(&launched.links.commands[i]),
            stop: Arc::clone(&launched.links.stop),
            stopped: Arc::clone(&launched.links.stopped),
            finished: Arc::clone(&launched.links.finished),
            n_workers: n,
            busy_poll: cfg.idle.busy_poll,
            max_sleep_us: cfg.idle.max_sleep_us,
            clock,
            pool: ports.pool.clone(),
        };
        match launch_on_lcore(w.lcore, move || worker::run(io, pipeline)) {
            Ok(h) => launched.handles.push(h),
            Err(e) => {
                launched.error = Some(RunError::Setup(format!("worker on lcore {}: {e}", w.lcore)));
                // The workers never started count as stopped for the
                // shutdown barrier.
                launched.links.stopped.fetch_add(n - i, Ordering::AcqRel);
                break;
            }
        }
    }
    launched
}

/// The rx queues worker `i` polls: those its config names, and its share
/// of the extra ones.
fn worker_polls(cfg: &Config, ports: &mut Ports, i: usize) -> Result<Vec<RxQueue>, RunError> {
    let n = cfg.workers.len();
    let mut wanted: Vec<(usize, u16)> = cfg.workers[i]
        .poll
        .iter()
        .filter_map(|q| cfg.port_index(&q.port).map(|pi| (pi, q.queue)))
        .collect();
    for (pi, extra) in ports.extra_rx.iter().enumerate() {
        // Queue q goes to worker q % n: a PMD like net_tap answers a flow
        // on the rx queue matching the tx queue it was sent on, and worker
        // w sends on tx queue w.
        wanted.extend(
            extra
                .iter()
                .filter(|&&q| usize::from(q) % n == i)
                .map(|&q| (pi, q)),
        );
    }
    wanted
        .into_iter()
        .map(|(pi, q)| {
            ports
                .rx
                .get_mut(pi)
                .and_then(|queues| queues.get_mut(usize::from(q)))
                .and_then(Option::take)
                .ok_or_else(|| {
                    RunError::Setup(format!(
                        "rx queue {q} of port {pi} is not set up or already taken"
                    ))
                })
        })
        .collect()
}

/// Tx queue `queue` of every port, in config port order.
fn take_tx_queues(ports: &mut Ports, queue: usize) -> Result<Vec<TxQueue>, RunError> {
    ports
        .tx
        .iter_mut()
        .enumerate()
        .map(|(pi, queues)| {
            queues.get_mut(queue).and_then(Option::take).ok_or_else(|| {
                RunError::Setup(format!(
                    "tx queue {queue} of port {pi} is not set up or already taken"
                ))
            })
        })
        .collect()
}

/// What the control plane gets besides the DPDK objects and the workers.
pub struct ControlInputs<'a> {
    /// Where the config was read from (for reload).
    pub path: &'a Path,
    pub manager: SessionManager,
    pub exporter: Option<AccountingExporter>,
    pub clients: Arc<Clients>,
    pub clock: Clock,
}

/// The control plane: what it holds, and its own tx queues.
pub fn control_plane(
    cfg: &Config,
    ports: &Ports,
    control_tx: Vec<TxQueue>,
    pool: &Mempool,
    assembly: Assembly,
    launched: &mut Launched,
    inputs: ControlInputs,
) -> Control {
    let Assembly {
        publishers,
        topology,
        workers: _,
        loads,
        counters,
    } = assembly;
    let neighbours_work = (*publishers.neighbours.current()).clone();
    let shared = Shared {
        topo: topology,
        ports: ports.ids.clone(),
        pool: pool.clone(),
        control_tx: std::cell::RefCell::new(control_tx),
        steering: publishers.steering,
        policy: publishers.policy,
        neighbours: publishers.neighbours,
        loads: publishers.loads,
        neighbours_work,
        manager: inputs.manager,
        staged_drains: Vec::new(),
        events: std::mem::take(&mut launched.events),
        worker_loads: loads,
        counters,
        pools: std::mem::take(&mut launched.pools),
        commands: launched.links.commands.clone(),
        accounting: records::AccountingPipe::new(inputs.exporter),
        api_clients: inputs.clients,
        cfg: cfg.clone(),
        cfg_path: inputs.path.to_path_buf(),
        started: std::time::Instant::now(),
        published_at: [std::time::Instant::now(); 4],
        neighbour_stats: Default::default(),
    };
    Control::new(
        shared,
        inputs.clock,
        cfg.log.stats_interval_s,
        cfg.health.clone(),
    )
}

/// Hands the cluster link to the control plane after publishing the API
/// pins and gateway set read while joining.
pub fn attach_cluster(
    control: &mut Control,
    cluster: Option<crate::cluster::Link>,
    clock: Clock,
) -> Result<(), RunError> {
    let Some(mut link) = cluster else {
        return Ok(());
    };
    control
        .shared
        .publish_fabric(crate::cluster::fabric_peers(&link.view));
    let applied = crate::cluster::apply_view(
        &mut control.shared.manager,
        &link.view,
        link.me.appliance_id,
        clock.now_ms(),
        &mut link.draining,
    )
    .and_then(|_| {
        let gateways = control.shared.manager.gateways().to_vec();
        control.shared.publish_gateways(&gateways, &link.draining)
    });
    if let Err(e) = applied {
        link.handle.leave();
        return Err(RunError::Setup(format!("cluster: {e}")));
    }
    link.report_digest(&control.shared.manager);
    control.cluster = Some(link);
    Ok(())
}

/// The control API socket, the metrics endpoint and the DPDK telemetry
/// commands: all ask the control loop through one channel.
pub struct FrontEnds {
    pub api: Option<ApiServer>,
    pub metrics_stop: Arc<AtomicBool>,
    pub metrics: Option<JoinHandle<()>>,
}

/// Asks the control loop something on behalf of the metrics endpoints.
fn ask(tx: &crossbeam::channel::Sender<ApiCall>, request: Request) -> Option<serde_json::Value> {
    let (reply, rx) = crossbeam::channel::bounded(1);
    tx.send(ApiCall { request, reply }).ok()?;
    let r = rx.recv_timeout(std::time::Duration::from_secs(5)).ok()?;
    r.ok.then_some(r.data)
}

pub fn start_front_ends(cfg: &Config, control: &mut Control, clients: Arc<Clients>) -> FrontEnds {
    let (api_tx, api_rx) = crossbeam::channel::bounded::<ApiCall>(256);
    control.api = Some(api_rx);
    let socket = cfg.api_socket();
    let api = match ApiServer::start(&socket, api_tx.clone(), clients) {
        Ok(s) => {
            info!(socket = %socket.display(), "control API listening");
            Some(s)
        }
        Err(e) => {
            warn!(socket = %socket.display(), "control API unavailable: {e}");
            None
        }
    };
    let metrics_stop = Arc::new(AtomicBool::new(false));
    let mut metrics = None;
    if let Some(listen) = cfg.metrics.listen.as_ref().and_then(|l| l.parse().ok()) {
        let tx = api_tx.clone();
        let fetch = move || match ask(&tx, Request::Metrics) {
            Some(serde_json::Value::String(s)) => Some(s),
            _ => None,
        };
        match crate::metrics::http::serve(listen, Arc::clone(&metrics_stop), fetch) {
            Ok(h) => metrics = Some(h),
            Err(e) => warn!(%listen, "metrics endpoint unavailable: {e}"),
        }
    }
    let tx = api_tx;
    let fetch: Arc<dyn Fn() -> Option<crate::api::stats::Stats> + Send + Sync> =
        Arc::new(move || ask(&tx, Request::Status).and_then(|v| serde_json::from_value(v).ok()));
    if let Err(e) = crate::metrics::telemetry::register(fetch) {
        warn!("DPDK telemetry commands unavailable: {e}");
    }
    FrontEnds {
        api,
        metrics_stop,
        metrics,
    }
}
