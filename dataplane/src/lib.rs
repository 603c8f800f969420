//! Tandem's packet pipeline without I/O.
//!
//! Everything that decides what happens to a packet lives here and works on
//! plain byte buffers, so it can be tested with byte arrays, property tests
//! and fuzzers. The `appliance` crate feeds it DPDK mbufs; this crate never
//! calls DPDK.

pub mod tier2;
