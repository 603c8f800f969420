//! The `gateway` section: its addresses, port range (a share for every
//! worker) and table size.

use super::{field, violation, Violation};
use crate::config::schema::Config;

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
    Ok(())
}
