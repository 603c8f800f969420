//! Shared code of Tandem's fuzz targets: reading frames back with every
//! checksum verified from scratch, and a two-worker pipeline wired like
//! the appliance wires it (without DPDK).
//!
//! The targets themselves live in `fuzz_targets/`; `scripts/fuzz.sh` builds
//! and runs them.

pub mod known;
pub mod lab;
pub mod layers;
pub mod script;
