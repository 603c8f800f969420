//! Bring-up, running and orderly shutdown of the appliance.
//!
//! Order matters: everything that can be checked without DPDK is checked
//! first; then EAL, the mbuf pool, the ports, the handoff rings and the
//! snapshots; then the workers are launched and the main lcore runs the
//! control plane until a signal. Shutdown reverses it: workers stop and end
//! their user sessions (final accounting), ports stop and close, and the
//! pool must have every mbuf back before EAL is cleaned up.

mod api;
mod api_types;
mod cluster_control;
mod commands;
mod control;
mod frame;
mod health;
mod neighbour_guard;
mod patient_sink;
pub mod records;
mod reload;
mod shared;
mod tap_link;
mod worker;

use crate::api::protocol::Request;
use crate::api::server::{ApiCall, ApiServer};
use crate::clock::Clock;
use crate::config::Config;
use crate::plan;
use control::Control;
use crossbeam::queue::ArrayQueue;
use dataplane::counters::WorkerCounters;
use dataplane::pipeline::{LocalLoad, ServerLoads, Snapshots, Worker, WorkerConfig};
use dataplane::rcu::Publisher;
use dataplane::tier1::{SessionManager, SteeringTable};
use dataplane::topology::Neighbours;
use dpdk_ffi::{
    launch_on_lcore, mbuf_ring, Eal, Mempool, PortId, RingConsumer, RingProducer, SOCKET_ID_ANY,
};
use shared::Shared;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tracing::{error, info, warn};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("DPDK: {0}")]
    Dpdk(#[from] dpdk_ffi::Error),
    #[error("port \"{port}\" (device {device}): {source}")]
    Port {
        port: String,
        device: String,
        source: dpdk_ffi::Error,
    },
    #[error("{0}")]
    Setup(String),
}

/// Asks the control loop something on behalf of the metrics endpoints.
fn ask(tx: &crossbeam::channel::Sender<ApiCall>, request: Request) -> Option<serde_json::Value> {
    let (reply, rx) = crossbeam::channel::bounded(1);
    tx.send(ApiCall { request, reply }).ok()?;
    let r = rx.recv_timeout(std::time::Duration::from_secs(5)).ok()?;
    r.ok.then_some(r.data)
}

/// Most snapshot readers per publisher (workers + spare).
const MAX_READERS: usize = 128;

pub fn run(path: &Path, cfg: Config) -> Result<(), RunError> {
    let stop = Arc::new(AtomicBool::new(false));
    let hup = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .map_err(|e| RunError::Setup(format!("cannot install signal handler: {e}")))?;
    }
    signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&hup))
        .map_err(|e| RunError::Setup(format!("cannot install signal handler: {e}")))?;

    // Accounting sinks open before DPDK starts: a bad path fails early.
    let exporter = if cfg.accounting.json.is_some() || cfg.accounting.ipfix.is_some() {
        let acfg = crate::accounting::AccountingConfig {
            json: cfg.accounting.json.clone(),
            ipfix: cfg.accounting.ipfix.clone(),
        };
        Some(
            crate::accounting::AccountingExporter::new(&acfg)
                .map_err(|e| RunError::Setup(format!("accounting: {e}")))?,
        )
    } else {
        None
    };

    let clock = Clock::new();
    let policy = plan::policy(&cfg);
    let n_workers = cfg.workers.len() as u16;
    // A cluster member joins before DPDK starts: etcd unreachable, other
    // steering parameters or a gateway address claimed by another
    // appliance fail the start here. Its gateways are the cluster's.
    let cluster = match crate::cluster::me(&cfg) {
        Some(me) => {
            let handle = crate::cluster::agent::start(me.clone()).map_err(RunError::Setup)?;
            Some(crate::cluster::Link::new(handle, me))
        }
        None => None,
    };
    let (gateways, max_gateways, seed) = match &cluster {
        Some(link) => (
            crate::cluster::view::table_gateways(&link.view, link.me.appliance_id),
            link.handle.params.max_gateways as usize,
            link.handle.params.seed,
        ),
        None => (
            plan::gateways(&cfg),
            dataplane::tier1::DEFAULT_MAX_GATEWAYS,
            0,
        ),
    };

    let args: Vec<String> = cfg.eal_args().into_iter().skip(1).collect();
    info!(args = %args.join(" "), "starting EAL");
    let eal = Eal::init(&args)?;
    if let Err(e) = dpdk_ffi::pdump_init() {
        warn!("packet capture (dpdk-dumpcap) unavailable: {e}");
    }

    let pool = Mempool::create(
        "tandem_mbufs",
        cfg.mempool.mbufs,
        cfg.mempool.cache,
        cfg.mempool.data_room,
        SOCKET_ID_ANY,
    )?;

    // Ports: every worker has its own tx queue, and one more is the
    // control plane's.
    let mut ports = Vec::new();
    let mut macs = Vec::new();
    let mut extra_queues: Vec<Vec<u16>> = Vec::new();
    for p in &cfg.ports {
        let port_err = |source| RunError::Port {
            port: p.name.clone(),
            device: p.device.clone(),
            source,
        };
        let pid = PortId::by_name(&p.device).map_err(port_err)?;
        let tx_queues = n_workers + 1;
        let mut rx_queues = p.rx_queues;
        if let Err(first) = pid.configure(
            rx_queues,
            tx_queues,
            cfg.rings.rx_desc,
            cfg.rings.tx_desc,
            &pool,
        ) {
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
            pid.configure(n, n, cfg.rings.rx_desc, cfg.rings.tx_desc, &pool)
                .map_err(|_| explain(first))?;
            info!(port = %p.name, rx_queues = n, "device needs equal rx and tx queues; extra rx queues are shared out among the workers");
            rx_queues = n;
        }
        extra_queues.push((p.rx_queues..rx_queues).collect::<Vec<u16>>());
        if p.promiscuous {
            pid.promiscuous_enable().map_err(port_err)?;
        }
        pid.start().map_err(port_err)?;
        let mac = pid.mac_addr().map_err(port_err)?;
        info!(port = %p.name, device = %p.device, mac = %dataplane::wire::MacAddr(mac), "port started");
        ports.push(pid);
        macs.push(mac);
    }
    let mut port_index = vec![u16::MAX; 1024];
    for (i, pid) in ports.iter().enumerate() {
        if let Some(slot) = port_index.get_mut(usize::from(pid.index())) {
            *slot = i as u16;
        }
    }

    let topo = Arc::new(plan::topology(&cfg, &macs, &policy));
    let mut neighbours = Neighbours::default();
    for (i, p) in cfg.ports.iter().enumerate() {
        for n in &p.neighbours {
            neighbours.insert(i as u16, n.ip.0, n.mac.0);
        }
    }

    let steering_table = SteeringTable::with_params(max_gateways, seed)
        .with_gateways(&gateways)
        .map_err(|e| RunError::Setup(format!("steering table: {e}")))?;
    let mut manager = SessionManager::with_params(
        cfg.steering.idle_unpin_s.saturating_mul(1000),
        max_gateways,
        seed,
    );
    manager.set_drain_ms(cfg.steering.move_drain_s.saturating_mul(1000));
    manager.set_learned_limits(
        cfg.steering
            .learned_pins_max
            .map(|m| usize::try_from(m).unwrap_or(usize::MAX)),
        cfg.steering.learned_pins_per_s,
    );
    manager
        .set_gateways(&gateways)
        .map_err(|e| RunError::Setup(format!("session manager: {e}")))?;
    let steering = Publisher::new(steering_table, MAX_READERS);
    let policy_pub = Publisher::new(policy, MAX_READERS);
    let neigh_pub = Publisher::new(neighbours.clone(), MAX_READERS);
    let loads_pub = Publisher::new(ServerLoads::default(), MAX_READERS);

    // Handoff rings: one SPSC ring per ordered pair of workers.
    let n = usize::from(n_workers);
    let mut ring_out: Vec<Vec<Option<RingProducer>>> =
        (0..n).map(|_| (0..n).map(|_| None).collect()).collect();
    let mut ring_in: Vec<Vec<RingConsumer>> = (0..n).map(|_| Vec::new()).collect();
    for (from, outs) in ring_out.iter_mut().enumerate() {
        for (to, slot) in outs.iter_mut().enumerate() {
            if from == to {
                continue;
            }
            let name = format!("tdm_ho_{from}_{to}");
            let (p, c) = mbuf_ring(&name, cfg.rings.handoff, SOCKET_ID_ANY)?;
            *slot = Some(p);
            ring_in[to].push(c);
        }
    }

    // Events from each worker to the control plane (one ring per worker).
    let mut events = Vec::with_capacity(n);
    let commands: Vec<Arc<ArrayQueue<worker::WorkerCmd>>> =
        (0..n).map(|_| Arc::new(ArrayQueue::new(16))).collect();
    let stopped = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let finished = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut handles = Vec::new();
    let mut worker_loads = Vec::new();
    let mut counters = Vec::new();
    let mut pools = Vec::new();
    let mut ring_out = ring_out.into_iter();
    let mut ring_in = ring_in.into_iter();
    let mut launch_error = None;
    for (i, w) in cfg.workers.iter().enumerate() {
        let load = Arc::new(LocalLoad::default());
        let ctr = Arc::new(WorkerCounters::default());
        let snaps = Snapshots {
            steering: steering
                .reader()
                .map_err(|e| RunError::Setup(format!("{e:?}")))?,
            policy: policy_pub
                .reader()
                .map_err(|e| RunError::Setup(format!("{e:?}")))?,
            neighbours: neigh_pub
                .reader()
                .map_err(|e| RunError::Setup(format!("{e:?}")))?,
            loads: loads_pub
                .reader()
                .map_err(|e| RunError::Setup(format!("{e:?}")))?,
        };
        let wcfg = WorkerConfig {
            index: i as u16,
            n_workers,
            gateway_addrs: cfg.gateway.addresses.iter().map(|a| a.0).collect(),
            port_range: cfg.gateway.port_range,
            table_capacity: cfg.gateway.user_sessions_per_worker,
            quarantine: plan::quarantine(&cfg),
            session_key: plan::session_key(cfg.steering.key),
            probe_ports: cfg.health.active.as_ref().map(|a| a.source_ports),
        };
        let pipeline = Worker::new(
            wcfg,
            Arc::clone(&topo),
            snaps,
            Arc::clone(&load),
            Arc::clone(&ctr),
            clock.now_ms(),
        )
        .map_err(RunError::Setup)?;
        pools.push(Arc::clone(pipeline.pool_gauges()));
        let mut polls: Vec<(PortId, u16)> = w
            .poll
            .iter()
            .filter_map(|q| cfg.port_index(&q.port).map(|pi| (ports[pi], q.queue)))
            .collect();
        for (pi, extra) in extra_queues.iter().enumerate() {
            // Queue q goes to worker q % n: a PMD like net_tap answers a
            // flow on the rx queue matching the tx queue it was sent on,
            // and worker w sends on tx queue w.
            polls.extend(
                extra
                    .iter()
                    .filter(|&&q| usize::from(q) % n == i)
                    .map(|&q| (ports[pi], q)),
            );
        }
        let io = worker::WorkerIo {
            polls,
            tx_queue: i as u16,
            ports: ports.clone(),
            port_index: port_index.clone(),
            ring_out: ring_out.next().unwrap_or_default(),
            ring_in: ring_in.next().unwrap_or_default(),
            events: {
                let (producer, consumer) = rtrb::RingBuffer::new(cfg.rings.events as usize);
                events.push(consumer);
                producer
            },
            commands: Arc::clone(&commands[i]),
            stop: Arc::clone(&stop),
            stopped: Arc::clone(&stopped),
            finished: Arc::clone(&finished),
            n_workers: n,
            busy_poll: cfg.idle.busy_poll,
            max_sleep_us: cfg.idle.max_sleep_us,
            clock,
        };
        match launch_on_lcore(w.lcore, move || worker::run(io, pipeline)) {
            Ok(h) => handles.push(h),
            Err(e) => {
                launch_error = Some(RunError::Setup(format!("worker on lcore {}: {e}", w.lcore)));
                // The workers never started count as stopped for the
                // shutdown barrier.
                stopped.fetch_add(n - i, Ordering::AcqRel);
                break;
            }
        }
        worker_loads.push(load);
        counters.push(ctr);
    }

    let api_clients = Arc::new(crate::api::clients::Clients::default());
    let shared = Shared {
        topo,
        ports: ports.clone(),
        pool: pool.clone(),
        control_tx_queue: n_workers,
        steering,
        policy: policy_pub,
        neighbours: neigh_pub,
        loads: loads_pub,
        neighbours_work: neighbours,
        manager,
        staged_drains: Vec::new(),
        events,
        worker_loads,
        counters,
        pools,
        commands,
        accounting: records::AccountingPipe::new(exporter),
        api_clients: Arc::clone(&api_clients),
        cfg: cfg.clone(),
        cfg_path: path.to_path_buf(),
        started: std::time::Instant::now(),
        published_at: [std::time::Instant::now(); 4],
        neighbour_stats: Default::default(),
    };
    let mut control = Control::new(shared, clock, cfg.log.stats_interval_s, cfg.health.clone());
    // The control API and metrics talk to the control loop through one channel.
    let (api_tx, api_rx) = crossbeam::channel::bounded::<ApiCall>(256);
    control.api = Some(api_rx);
    if let Some(mut link) = cluster {
        // The API pins read while joining; the first tick publishes them.
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
            return Err(RunError::Setup(format!("cluster: {e}")));
        }
        link.report_digest(&control.shared.manager);
        control.cluster = Some(link);
    }
    let socket = cfg.api_socket();
    let api_server = match ApiServer::start(&socket, api_tx.clone(), api_clients) {
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
    let mut metrics_thread = None;
    if let Some(listen) = cfg.metrics.listen.as_ref().and_then(|l| l.parse().ok()) {
        let tx = api_tx.clone();
        let fetch = move || match ask(&tx, Request::Metrics) {
            Some(serde_json::Value::String(s)) => Some(s),
            _ => None,
        };
        match crate::metrics::http::serve(listen, Arc::clone(&metrics_stop), fetch) {
            Ok(h) => metrics_thread = Some(h),
            Err(e) => warn!(%listen, "metrics endpoint unavailable: {e}"),
        }
    }
    {
        let tx = api_tx.clone();
        let fetch: Arc<dyn Fn() -> Option<crate::api::stats::Stats> + Send + Sync> =
            Arc::new(move || {
                ask(&tx, Request::Status).and_then(|v| serde_json::from_value(v).ok())
            });
        if let Err(e) = crate::metrics::telemetry::register(fetch) {
            warn!("DPDK telemetry commands unavailable: {e}");
        }
    }
    drop(api_tx);
    if launch_error.is_none() {
        info!(
            workers = n_workers,
            "tandem running; SIGINT or SIGTERM stops it"
        );
        let stop_flag = Arc::clone(&stop);
        control.run(&|| stop_flag.load(Ordering::Relaxed), &|| {
            hup.swap(false, Ordering::Relaxed)
        });
        info!("stopping");
    }
    if let Some(link) = control.cluster.take() {
        link.handle.leave();
    }

    // Shutdown.
    stop.store(true, Ordering::Relaxed);
    if let Some(api) = &api_server {
        let c = &api.clients;
        info!(
            connected = c.connected(),
            refused = c.refused.load(Ordering::Relaxed),
            evicted = c.evicted.load(Ordering::Relaxed),
            "control socket clients"
        );
    }
    metrics_stop.store(true, Ordering::Relaxed);
    if let Some(h) = metrics_thread {
        let _ = h.join();
    }
    // Final accounting: each worker ends its user sessions, one record
    // each, waiting for room in its event ring; drain the rings until every
    // worker is done (bounded: a worker that stops making progress gives up
    // after its patience, and so does this loop).
    let launched = handles.len();
    let lost_before = control.events_lost();
    let mut quiet_since = std::time::Instant::now();
    while finished.load(Ordering::Acquire) < launched {
        if control.drain_events() > 0 {
            quiet_since = std::time::Instant::now();
        } else if quiet_since.elapsed() > patient_sink::PATIENCE * 2 {
            warn!("workers did not finish their final records; waiting for them to stop");
            break;
        } else {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
    let mut worker_failed = None;
    for h in handles {
        let lcore = h.lcore();
        if let Err(e) = h.wait() {
            error!(lcore, "worker failed: {e}");
            worker_failed = Some(format!("worker on lcore {lcore}: {e}"));
        }
    }
    // What the workers queued last, then the exporters' final flush.
    while control.drain_events() > 0 {}
    control.tick();
    control.log_stats();
    control.log_final_accounting(lost_before);
    for (pid, p) in ports.iter().zip(&cfg.ports) {
        if let Err(e) = pid.stop() {
            warn!(port = %p.name, "stop: {e}");
        }
        if let Err(e) = pid.close() {
            warn!(port = %p.name, "close: {e}");
        }
    }
    drop(control);
    let in_use = pool.in_use();
    info!(in_use, "mbufs in use after stop");
    drop(pool);
    if let Err(e) = dpdk_ffi::pdump_uninit() {
        warn!("pdump uninit: {e}");
    }
    if let Err(e) = eal.cleanup() {
        warn!("EAL cleanup: {}", dpdk_ffi::Error::from(e));
    }
    if let Some(e) = launch_error {
        return Err(e);
    }
    if let Some(e) = worker_failed {
        return Err(RunError::Setup(e));
    }
    if in_use != 0 {
        return Err(RunError::Setup(format!(
            "{in_use} mbufs were not returned to the pool"
        )));
    }
    info!("stopped cleanly");
    Ok(())
}
