//! DPDK 22.11 bindings and the small safe layer Tandem builds on.
//!
//! This is the only crate in the workspace with `unsafe` code, apart from
//! `cpu-hint`'s one prefetch instruction. The `sys`
//! module holds the raw bindgen output (plus the C shims for DPDK's static
//! inline functions); every other module wraps one DPDK facility in an API
//! that safe code cannot misuse.

pub mod burst;
pub mod eal;
pub mod error;
pub mod launch;
mod lifecycle;
pub mod mbuf;
pub mod mempool;
pub mod pdump;
pub mod port;
pub mod ring;
pub mod sys;
pub mod telemetry;

pub use burst::{Burst, Drain, BURST_MAX};
/// The prefetch hint lives in `cpu-hint` (no DPDK) so the dataplane's
/// benchmarks can use the same instruction without linking DPDK.
pub use cpu_hint::prefetch_read;
pub use eal::{CleanupError, Eal};
pub use error::{Error, Result};
pub use launch::{launch_on_lcore, LcoreHandle};
pub use mbuf::Mbuf;
pub use mempool::{Mempool, SOCKET_ID_ANY};
pub use pdump::{pdump_init, pdump_uninit};
pub use port::{LinkStatus, PortId, PortQueues, PortStats, QueueId, RxQueue, TxQueue};
pub use ring::{mbuf_ring, RingConsumer, RingProducer};
pub use telemetry::{register_command, TelValue};
