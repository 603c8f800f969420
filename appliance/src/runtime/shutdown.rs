//! The shutdown steps of `runtime::run`, the reverse of bring-up: stop the
//! front ends, let the workers end their user sessions (final accounting)
//! while the control plane drains their records, join them, stop and close
//! the ports, and check that the pool has every mbuf back before the EAL is
//! cleaned up.

use super::bringup::FrontEnds;
use super::control::Control;
use super::patient_sink;
use crate::config::Config;
use dpdk_ffi::{Eal, LcoreHandle, Mempool, PortId};
use std::sync::atomic::{AtomicUsize, Ordering};
use tracing::{error, info, warn};

/// Stops the metrics endpoint and logs what the control socket saw.
pub fn stop_front_ends(front: FrontEnds) {
    if let Some(api) = &front.api {
        let c = &api.clients;
        info!(
            connected = c.connected(),
            refused = c.refused.load(Ordering::Relaxed),
            evicted = c.evicted.load(Ordering::Relaxed),
            "control socket clients"
        );
    }
    front.metrics_stop.store(true, Ordering::Relaxed);
    if let Some(h) = front.metrics {
        let _ = h.join();
    }
}

/// Final accounting: each worker ends its user sessions, one record each,
/// waiting for room in its event ring; drains the rings until every
/// launched worker is done (bounded: a worker that stops making progress
/// gives up after its patience, and so does this loop).
pub fn drain_final_records(control: &mut Control, finished: &AtomicUsize, launched: usize) {
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
}

/// Waits for every worker; the last failure, if any.
pub fn join_workers(handles: Vec<LcoreHandle>) -> Option<String> {
    let mut failed = None;
    for h in handles {
        let lcore = h.lcore();
        if let Err(e) = h.wait() {
            error!(lcore, "worker failed: {e}");
            failed = Some(format!("worker on lcore {lcore}: {e}"));
        }
    }
    failed
}

/// Drains what the workers queued last and flushes the exporters.
pub fn final_flush(control: &mut Control, lost_before: u64) {
    while control.drain_events() > 0 {}
    control.tick();
    control.log_stats();
    control.log_final_accounting(lost_before);
}

pub fn close_ports(ports: &[PortId], cfg: &Config) {
    for (pid, p) in ports.iter().zip(&cfg.ports) {
        if let Err(e) = pid.stop() {
            warn!(port = %p.name, "stop: {e}");
        }
        if let Err(e) = pid.close() {
            warn!(port = %p.name, "close: {e}");
        }
    }
}

/// Releases the pool and the EAL; how many mbufs were never returned.
pub fn release_dpdk(pool: Mempool, eal: Eal) -> u32 {
    let in_use = pool.in_use();
    info!(in_use, "mbufs in use after stop");
    drop(pool);
    if let Err(e) = dpdk_ffi::pdump_uninit() {
        warn!("pdump uninit: {e}");
    }
    if let Err(e) = eal.cleanup() {
        warn!("EAL cleanup: {}", dpdk_ffi::Error::from(e));
    }
    in_use
}
