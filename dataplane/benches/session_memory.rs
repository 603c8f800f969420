//! Memory per live user session and per pinned (mobile) session, measured
//! as this process's resident memory (`VmRSS`), which counts what the
//! allocator really touched whatever allocator it is (issue 8, scale).
//!
//! For each size N: build a worker whose table holds N user sessions (the
//! appliance preallocates it: slab, hash map, timer wheel, reply index),
//! pin N/8 terminals in the steering table, open N user sessions with SYNs
//! through the pipeline, and read RSS after each step.
//!
//! `cargo bench --bench session_memory` measures 1M; `TANDEM_BENCH_10M=1`
//! adds 10M (about 3 GiB); `TANDEM_MEM_SESSIONS=1000000,12900000` measures
//! the sizes listed instead.

mod lab;

use dataplane::tier2::{FlowKey, UserSession};
use lab::{rss_bytes, Lab, Setup, PORTS_PER_ADDR};
use std::time::Instant;

const FLOWS_PER_TERMINAL: u64 = 8;
const MIB: f64 = 1024.0 * 1024.0;
/// This machine's memory, for the "largest table" line.
const MACHINE_BYTES: f64 = 24.0 * 1024.0 * MIB;
/// Gateway addresses a config may list (appliance/src/config/validate.rs).
const MAX_CONFIG_ADDRS: u64 = 200;

fn sizes() -> Vec<u64> {
    if let Ok(list) = std::env::var("TANDEM_MEM_SESSIONS") {
        return list
            .split(',')
            .filter_map(|s| s.trim().parse().ok())
            .collect();
    }
    let mut v = vec![1_000_000];
    if std::env::var_os("TANDEM_BENCH_10M").is_some() {
        v.push(10_000_000);
    }
    v
}

fn measure(n: u64) {
    let terminals = n.div_ceil(FLOWS_PER_TERMINAL);
    let rss_start = rss_bytes();
    let setup = Setup::for_sessions(n);
    let mut lab = Lab::new(&setup);
    let rss_built = rss_bytes();
    lab.pin_terminals(terminals);
    let rss_pinned = rss_bytes();
    let t = Instant::now();
    lab.open(0, n, FLOWS_PER_TERMINAL);
    let fill = t.elapsed();
    let rss_full = rss_bytes();
    assert_eq!(u64::from(lab.worker.table().len()), n);
    assert_eq!(lab.dropped(), 0);

    let table = rss_built.saturating_sub(rss_start) as f64;
    let pinned = rss_pinned.saturating_sub(rss_built) as f64;
    let filled = rss_full.saturating_sub(rss_pinned) as f64;
    let per_user_session = (table + filled) / n as f64;
    println!(
        "user sessions: {n} (capacity {n}, {} gateway addresses)",
        setup.gateway_addrs
    );
    println!("  table preallocated:    {:8.1} MiB", table / MIB);
    println!("  grown while filling:   {:8.1} MiB", filled / MIB);
    println!(
        "  per live user session: {per_user_session:8.1} bytes (table + growth; target <= 200)"
    );
    println!(
        "  pinned sessions:       {terminals} terminals, {:.1} MiB, {:.1} bytes each",
        pinned / MIB,
        pinned / terminals as f64
    );
    println!(
        "  total resident:        {:8.1} MiB ({:.2} GiB)",
        rss_full as f64 / MIB,
        rss_full as f64 / (1024.0 * MIB)
    );
    println!(
        "  fill: {:.2} s, {:.0} ns per new user session (SYN through the pipeline, no expiry)",
        fill.as_secs_f64(),
        fill.as_nanos() as f64 / n as f64
    );
    let per_mobile = pinned / terminals as f64 / FLOWS_PER_TERMINAL as f64;
    let by_memory = MACHINE_BYTES / (per_user_session + per_mobile);
    println!(
        "  largest table by memory on 24 GiB: {:.0} M user sessions; by gateway ports \
         ({MAX_CONFIG_ADDRS} addresses x {PORTS_PER_ADDR} ports): {:.1} M",
        by_memory / 1e6,
        (MAX_CONFIG_ADDRS * PORTS_PER_ADDR) as f64 / 1e6
    );
}

fn main() {
    // `cargo bench` passes `--bench`; there are no options to read.
    println!(
        "size_of: UserSession {} B, FlowKey {} B",
        std::mem::size_of::<UserSession>(),
        std::mem::size_of::<FlowKey>()
    );
    for n in sizes() {
        measure(n);
    }
}
