//! The `gateway` section: its addresses, port range (a share for every
//! worker), table size and fragment table.

use super::{field, violation, Violation};
use crate::config::schema::Config;

/// Most fragmented datagrams a worker follows at once (a table of about
/// 48 MiB per worker).
const MAX_FRAGMENT_DATAGRAMS: u32 = 1 << 20;
/// Longest a datagram's later fragments follow its first, ms (Linux waits
/// 30 s to reassemble).
const MAX_FRAGMENT_TIMEOUT_MS: u64 = 30_000;

pub fn check(c: &Config) -> Result<(), Violation> {
    let n_workers = c.workers.len() as u32;
    let g = &c.gateway;
    if g.addresses.is_empty() {
        return Err(violation(
            vec![field("gateway"), field("addresses")],
            "give at least one gateway address (the source of translated user sessions)".into(),
        ));
    }
    if g.addresses.len() > 200 {
        return Err(violation(
            vec![field("gateway"), field("addresses")],
            "at most 200 gateway addresses".into(),
        ));
    }
    let (lo, hi) = g.port_range;
    if lo == 0 || lo > hi {
        return Err(violation(
            vec![field("gateway"), field("port_range")],
            format!("port_range ({lo}, {hi}) must satisfy 1 <= first <= last"),
        ));
    }
    if u32::from(hi - lo) + 1 < n_workers {
        return Err(violation(
            vec![field("gateway"), field("port_range")],
            format!("port_range has fewer ports than there are workers ({n_workers})"),
        ));
    }
    if g.user_sessions_per_worker == 0 {
        return Err(violation(
            vec![field("gateway"), field("user_sessions_per_worker")],
            "user_sessions_per_worker must be at least 1".into(),
        ));
    }
    let fr = &g.fragments;
    if fr.max_datagrams > MAX_FRAGMENT_DATAGRAMS {
        return Err(violation(
            vec![field("gateway"), field("fragments"), field("max_datagrams")],
            format!(
                "max_datagrams {} is over {MAX_FRAGMENT_DATAGRAMS} (datagrams followed at once per worker; 0 follows none)",
                fr.max_datagrams
            ),
        ));
    }
    if fr.max_datagrams > 0 && !(1..=MAX_FRAGMENT_TIMEOUT_MS).contains(&fr.timeout_ms) {
        return Err(violation(
            vec![field("gateway"), field("fragments"), field("timeout_ms")],
            format!(
                "timeout_ms {} must be 1..={MAX_FRAGMENT_TIMEOUT_MS} (how long a datagram's later fragments follow its first)",
                fr.timeout_ms
            ),
        ));
    }
    Ok(())
}
