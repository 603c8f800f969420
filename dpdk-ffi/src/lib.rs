//! DPDK bindings and safe layer.
