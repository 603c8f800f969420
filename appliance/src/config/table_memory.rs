//! The per-worker session tables (and event rings) are allocated on the
//! heap when the workers are built, after DPDK has started: a size the
//! machine cannot give aborts the process there ("memory allocation of ...
//! failed", SIGABRT). So their bytes are computed from the sizes in the
//! config, without allocating, and compared with the machine's memory
//! (`MemTotal` in /proc/meminfo; [`UNKNOWN_MEMORY_CAP`] if that cannot be
//! read) before anything starts.

use super::locate::Seg;
use super::schema::Config;
use super::validate::Violation;

/// What the tables may take when the machine's memory cannot be read.
pub const UNKNOWN_MEMORY_CAP: u64 = 1 << 40;

/// The machine's memory in bytes (`MemTotal`), if /proc/meminfo says.
pub fn machine_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// Heap bytes one worker allocates at start for this config.
pub fn worker_bytes(c: &Config) -> u64 {
    let n_addrs =
        u8::try_from(c.gateway.addresses.len() + c.gateway.ipv6_addresses.len()).unwrap_or(u8::MAX);
    dataplane::pipeline::Worker::preallocated_bytes(
        c.gateway.user_sessions_per_worker,
        n_addrs,
        c.has_bitrate_limits(),
        c.limited_types(),
    ) + u64::from(c.rings.events) * std::mem::size_of::<dataplane::event::Event>() as u64
        + dataplane::tier2::FragmentTable::preallocated_bytes(c.gateway.fragments.max_datagrams)
}

fn gib(bytes: u64) -> f64 {
    bytes as f64 / f64::from(1u32 << 30)
}

/// Refuses a config whose workers' tables plus DPDK's `memory_mb` need
/// more than `memory` bytes (the machine's; `None`: unknown).
pub fn check(c: &Config, memory: Option<u64>) -> Result<(), Violation> {
    let workers = c.workers.len() as u64;
    let per_worker = worker_bytes(c);
    let tables = per_worker.saturating_mul(workers);
    let dpdk = u64::from(c.eal.memory_mb) << 20;
    let need = tables.saturating_add(dpdk);
    let (have, source) = match memory {
        Some(m) => (m, "this machine's memory (MemTotal in /proc/meminfo)"),
        None => (
            UNKNOWN_MEMORY_CAP,
            "the cap used when /proc/meminfo cannot be read",
        ),
    };
    if need <= have {
        return Ok(());
    }
    Err(Violation {
        path: vec![
            Seg::Field("gateway"),
            Seg::Field("user_sessions_per_worker"),
        ],
        message: format!(
            "user_sessions_per_worker {} needs {per_worker} bytes ({:.1} GiB) of session tables \
             per worker, {tables} bytes for {workers} workers, plus {dpdk} bytes of DPDK memory \
             (eal.memory_mb): {need} bytes ({:.1} GiB) in all, more than {have} bytes \
             ({:.1} GiB), {source}; lower user_sessions_per_worker",
            c.gateway.user_sessions_per_worker,
            gib(per_worker),
            gib(need),
            gib(have),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(sessions: u32, workers: usize) -> Config {
        let workers: Vec<String> = (0..workers)
            .map(|i| format!("(lcore: {}, poll: [])", i + 1))
            .collect();
        let text = format!(
            r#"(
    eal: (lcores: "0-8", no_huge: true, memory_mb: 1024, file_prefix: "t"),
    ports: [],
    workers: [{}],
    gateway: (addresses: ["10.2.0.10", "10.2.0.11"], user_sessions_per_worker: {sessions}),
)"#,
            workers.join(", ")
        );
        ron::Options::default()
            .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
            .from_str(&text)
            .expect("test config")
    }

    #[test]
    fn bytes_grow_with_sessions_and_workers() {
        let one = worker_bytes(&config(1 << 20, 1));
        // About 165 bytes per user session (BENCHMARKS.md), plus the
        // per-address reply index and port pools; no bitrate limit, so no
        // bitrate meters.
        assert!(one > 200 << 20 && one < 300 << 20, "{one}");
        assert!(worker_bytes(&config(1 << 21, 1)) > one);
    }

    #[test]
    fn a_table_larger_than_the_memory_is_refused_with_the_bytes() {
        let c = config(1 << 20, 4);
        let need = 4 * worker_bytes(&c) + (1024 << 20);
        assert!(check(&c, Some(need)).is_ok(), "exactly enough");
        let v = check(&c, Some(need - 1)).expect_err("one byte short");
        assert!(
            v.message.contains(&format!("{need} bytes")),
            "{}",
            v.message
        );
        assert!(v.message.contains("for 4 workers"), "{}", v.message);
        // Unknown memory: the cap.
        assert!(check(&c, None).is_ok());
        assert!(check(&config(u32::MAX, 8), None).is_err());
    }
}
