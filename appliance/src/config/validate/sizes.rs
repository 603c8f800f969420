//! The `rings` and `mempool` sections: ring sizes, and enough mbufs for
//! every descriptor, handoff ring and cache.

use super::{field, violation, Violation};
use crate::config::schema::Config;

pub fn check(c: &Config) -> Result<(), Violation> {
    if !c.rings.handoff.is_power_of_two() || c.rings.handoff < 32 {
        return Err(violation(
            vec![field("rings"), field("handoff")],
            "handoff ring size must be a power of two >= 32".into(),
        ));
    }
    if !c.rings.events.is_power_of_two() || c.rings.events < 64 {
        return Err(violation(
            vec![field("rings"), field("events")],
            "events queue size must be a power of two >= 64".into(),
        ));
    }
    let n_workers = c.workers.len() as u32;
    let need: u32 = c
        .ports
        .iter()
        .map(|p| {
            u32::from(p.rx_queues) * u32::from(c.rings.rx_desc)
                + (n_workers + 1) * u32::from(c.rings.tx_desc)
        })
        .sum::<u32>()
        + n_workers * n_workers * c.rings.handoff
        + n_workers * (c.mempool.cache + 64);
    if c.mempool.mbufs < need {
        return Err(violation(
            vec![field("mempool"), field("mbufs")],
            format!(
                "{} mbufs cannot fill the rx/tx descriptors, handoff rings and caches; give at least {need}",
                c.mempool.mbufs
            ),
        ));
    }
    Ok(())
}
