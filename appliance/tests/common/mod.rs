//! Shared pieces of the integration tests that run the real `tandem`
//! binary on DPDK virtual devices: a pcap reader and writer, a guard that
//! runs the binary and never leaves it behind, from-scratch packet checks,
//! and helpers for the kernel side of `net_tap` ports.
//!
//! Every test file is its own process and every test in it a thread, so
//! each test names its scratch directory, its EAL `--file-prefix` and its
//! tap interfaces after itself and this process's id.
#![allow(dead_code)] // each test file uses a different part

pub mod cluster;
pub mod ctl;
pub mod golden;
pub mod hugepages;
pub mod kernel_tcp;
pub mod observe;
pub mod packet;
pub mod pcap;
pub mod pcapng;
pub mod replay;
pub mod tandem;
pub mod tap;
pub mod tapnet;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The EAL `--file-prefix` of one test's tandem process.
pub fn file_prefix(test: &str) -> String {
    format!("tdmit-{test}-{}", std::process::id())
}

/// A scratch directory for one test: config, pcaps and the log. Removed
/// when the test passes; kept (and its path printed) when it fails.
pub struct Scratch {
    pub dir: PathBuf,
}

impl Scratch {
    pub fn new(test: &str) -> Scratch {
        let dir = std::env::temp_dir().join(file_prefix(test));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Scratch { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("test files kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The repository's `conf/` directory.
pub fn conf_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../conf")
}

/// Pool and ring sizes small enough for `memory_mb: 256` without
/// hugepages, and big enough for the validator with up to two workers and
/// three queues per port.
pub const SMALL_SIZES: &str = "mempool: (mbufs: 8191, cache: 64),
    rings: (rx_desc: 256, tx_desc: 256, handoff: 256, events: 1024),";

/// Calls `check` every 20 ms until it returns true or `limit` passes;
/// returns its last answer. A bound for waiting, never a timing assertion.
pub fn wait_until(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if check() {
            return true;
        }
        if start.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
