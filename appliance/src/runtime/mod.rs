//! Bring-up, running and orderly shutdown of the appliance.
//!
//! Order matters: everything that can be checked without DPDK is checked
//! first; then EAL, the mbuf pool, the ports, the handoff rings and the
//! snapshots; then the workers are launched and the main lcore runs the
//! control plane until a signal. Shutdown reverses it: workers stop and end
//! their user sessions (final accounting), ports stop and close, and the
//! pool must have every mbuf back before EAL is cleaned up. [`run`] only
//! sequences the steps; each is a function in `bringup.rs` or
//! `shutdown.rs`.

mod api;
mod api_types;
mod bringup;
mod cluster_control;
mod commands;
mod control;
mod frame;
mod handoff;
mod health;
mod neighbour_guard;
mod patient_sink;
mod quota;
mod quota_ledger;
pub mod records;
mod reload;
mod shared;
mod shutdown;
mod tap_link;
mod worker;

use crate::clock::Clock;
use crate::config::Config;
use crate::plan;
use bringup::WorkerLinks;
use crossbeam::queue::ArrayQueue;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tracing::info;

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

pub fn run(path: &Path, cfg: Config) -> Result<(), RunError> {
    let signals = bringup::install_signals()?;
    let exporter = bringup::open_accounting(&cfg)?;
    let clock = Clock::new();
    let cluster = bringup::join_cluster(&cfg)?;
    let steering = bringup::steering_inputs(&cfg, cluster.as_ref());

    let eal = bringup::start_eal(&cfg)?;
    let pool = bringup::create_pool(&cfg)?;
    let mut ports = bringup::start_ports(&cfg, &pool)?;
    let neighbours = plan::neighbours(&cfg);
    let mut assembly = bringup::assemble_workers(&cfg, &ports.macs, neighbours, clock, &steering)?;
    let manager = bringup::session_manager(&cfg, &steering)?;
    let rings = bringup::handoff_rings(&cfg)?;

    let n = cfg.workers.len();
    let links = WorkerLinks {
        stop: Arc::clone(&signals.stop),
        stopped: Arc::new(AtomicUsize::new(0)),
        finished: Arc::new(AtomicUsize::new(0)),
        commands: (0..n).map(|_| Arc::new(ArrayQueue::new(16))).collect(),
    };
    let queues = bringup::share_queues(&cfg, &mut ports)?;
    let pipelines = std::mem::take(&mut assembly.workers);
    let mut launched =
        bringup::launch_workers(&cfg, &ports, queues.workers, rings, pipelines, links, clock);

    let clients = Arc::new(crate::api::clients::Clients::default());
    let inputs = bringup::ControlInputs {
        path,
        manager,
        exporter,
        clients: Arc::clone(&clients),
        clock,
    };
    let mut control = bringup::control_plane(
        &cfg,
        &ports,
        queues.control,
        &pool,
        assembly,
        &mut launched,
        inputs,
    );
    if launched.error.is_none() {
        if let Err(e) = bringup::attach_cluster(&mut control, cluster, clock) {
            launched.error = Some(e);
        }
    }
    let front_ends = bringup::start_front_ends(&cfg, &mut control, clients);
    if launched.error.is_none() {
        info!(workers = n, "tandem running; SIGINT or SIGTERM stops it");
        let (stop, hup) = (&signals.stop, &signals.hup);
        control.run(&|| stop.load(Ordering::Relaxed), &|| {
            hup.swap(false, Ordering::Relaxed)
        });
        info!("stopping");
    }
    if let Some(link) = control.cluster.take() {
        link.handle.leave();
    }

    signals.stop.store(true, Ordering::Relaxed);
    shutdown::stop_front_ends(front_ends);
    let lost_before = control.events_lost();
    let finished = &launched.links.finished;
    shutdown::drain_final_records(&mut control, finished, launched.handles.len());
    let worker_failed = shutdown::join_workers(std::mem::take(&mut launched.handles));
    shutdown::final_flush(&mut control, lost_before);
    shutdown::close_ports(&ports.ids, &cfg);
    drop(control);
    let in_use = shutdown::release_dpdk(pool, eal);
    if let Some(e) = launched.error {
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
