//! Metrics for people and monitoring systems outside the appliance.
//!
//! The control plane takes a [`Stats`] snapshot on request; this module
//! turns it into the Prometheus text format ([`prometheus::render`]),
//! serves that over HTTP ([`http::serve`]) and answers DPDK telemetry
//! queries with flat dictionaries ([`telemetry::register`]). Nothing here
//! runs on a worker.

pub mod http;
pub mod prometheus;
pub mod telemetry;

#[cfg(test)]
mod sample;

use dataplane::counters::DropReason;

#[cfg(doc)]
use crate::api::stats::Stats;
use crate::api::stats::WorkerStats;

/// A worker's drops as (reason, count): every reason this build knows, in
/// declaration order and zeros included, then any other reason the
/// snapshot names. Both outputs list drops this way, so a reason never
/// comes and goes with its count.
fn drops_by_reason(w: &WorkerStats) -> Vec<(&str, u64)> {
    let count_of = |reason: &str| -> u64 {
        w.drops
            .iter()
            .filter(|(label, _)| label == reason)
            .map(|(_, count)| *count)
            .sum()
    };
    let known = DropReason::ALL
        .iter()
        .map(|r| (r.as_str(), count_of(r.as_str())));
    let unknown = w
        .drops
        .iter()
        .filter(|(label, _)| DropReason::ALL.iter().all(|r| r.as_str() != label))
        .map(|(label, count)| (label.as_str(), *count));
    known.chain(unknown).collect()
}
