//! Tandem's packet pipeline without I/O.
//!
//! Everything that decides what happens to a packet lives here and works on
//! plain byte buffers, so it can be tested with byte arrays, property tests
//! and fuzzers. The `appliance` crate feeds it DPDK mbufs; this crate never
//! calls DPDK.

#![forbid(unsafe_code)]

pub mod assembly;
pub mod counters;
pub mod event;
pub mod frame;
pub mod hash;
pub mod loop_times;
pub mod pipeline;
pub mod policy;
pub mod prefetch;
pub mod rcu;
pub mod shaping;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod tier1;
pub mod tier2;
pub mod topology;
pub mod topology_v6;
pub mod wire;
