//! Findings the targets can be told to look past, so that fuzzing goes on
//! beyond a known, reported bug until it is fixed.
//!
//! `TANDEM_FUZZ_ALLOW` holds a comma-separated list of finding names (see
//! the `ALLOW_*` constants); by default nothing is allowed and every
//! check is strict, so a committed seed that reproduces a finding fails
//! until the bug is fixed.

use std::sync::OnceLock;

/// Local answers (ICMP echo and ARP replies) count `tx_packets` but not
/// `tx_bytes`.
pub const ALLOW_TX_BYTES: &str = "tx_bytes";

/// Whether the run was told to look past `finding`.
pub fn allowed(finding: &str) -> bool {
    static LIST: OnceLock<Vec<String>> = OnceLock::new();
    LIST.get_or_init(|| {
        std::env::var("TANDEM_FUZZ_ALLOW")
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    })
    .iter()
    .any(|s| s == finding)
}

/// Answers to health probes come back as `Verdict::Consumed` without
/// counting `punted` (or anything else), so rx != tx + punted + dropped.
pub const ALLOW_PROBE_UNCOUNTED: &str = "probe_uncounted";

/// A refused user session (subscriber not entitled) counts a
/// `not_entitled` drop and then also gets a verdict of its own (the RST or
/// ICMP error forwarded, or another drop), so one frame is counted twice.
pub const ALLOW_REFUSAL_COUNTED_TWICE: &str = "refusal_counted_twice";

/// An ICMP error from the server side arriving with TTL 1 is translated
/// and sent to the terminal with TTL 0 (no TTL check on that path).
pub const ALLOW_TTL_ZERO: &str = "ttl_zero";
