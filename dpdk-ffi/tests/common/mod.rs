//! Shared set-up for the integration tests: every test file is one process
//! that starts the EAL once, without hugepages, under its own file prefix,
//! and removes its runtime directory when done.
#![allow(dead_code)] // each test file uses a different part

pub mod pcap;

use std::path::PathBuf;

/// The EAL file prefix for this test process.
pub fn file_prefix(test: &str) -> String {
    format!("tandemffi-{test}-{}", std::process::id())
}

/// EAL arguments: no hugepages, 256 MB, no PCI scan, the test's own prefix,
/// then `extra`.
pub fn eal_args(test: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "--no-huge",
        "-m",
        "256",
        "--no-pci",
        "--log-level",
        "lib.eal:notice",
        "--file-prefix",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(file_prefix(test));
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// Where the EAL keeps this process's runtime files (sockets, config).
pub fn runtime_dir(test: &str) -> Option<PathBuf> {
    let prefix = file_prefix(test);
    let mut bases = vec![PathBuf::from("/var/run/dpdk")];
    if let Some(xdg) = std::env::var_os("XDG_RUNTIME_DIR") {
        bases.push(PathBuf::from(xdg).join("dpdk"));
    }
    bases.push(PathBuf::from("/tmp/dpdk"));
    bases
        .into_iter()
        .map(|base| base.join(&prefix))
        .find(|dir| dir.is_dir())
}

/// Removes this process's runtime directory (after `Eal::cleanup`).
pub fn remove_runtime_dir(test: &str) {
    if let Some(dir) = runtime_dir(test) {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// A scratch directory for files a test writes (pcaps).
pub fn scratch_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(file_prefix(test));
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}
