//! The `workers` section: each on its own lcore (not the main one), and
//! every rx queue of every port polled by exactly one worker.

use super::{field, violation, Violation};
use crate::config::locate::Seg;
use crate::config::schema::Config;
use std::collections::{HashMap, HashSet};

/// Checks the `workers` section against the `eal` lcores and the ports
/// (by name).
pub fn check(c: &Config, lcores: &[u32], names: &HashMap<&str, usize>) -> Result<(), Violation> {
    if c.workers.is_empty() {
        return Err(violation(
            vec![field("workers")],
            "no workers: give at least one worker lcore".into(),
        ));
    }
    if c.workers.len() > 64 {
        return Err(violation(
            vec![field("workers")],
            "at most 64 workers".into(),
        ));
    }
    let mut worker_lcores = HashSet::new();
    let mut polled: HashMap<(&str, u16), usize> = HashMap::new();
    for (i, w) in c.workers.iter().enumerate() {
        let at = |f: &'static str| vec![field("workers"), Seg::Index(i), field(f)];
        if w.lcore == c.eal.main_lcore {
            return Err(violation(
                at("lcore"),
                format!(
                    "worker on lcore {} is the main lcore, which runs the control plane; pick another lcore",
                    w.lcore
                ),
            ));
        }
        if !lcores.contains(&w.lcore) {
            return Err(violation(
                at("lcore"),
                format!(
                    "worker lcore {} is not in eal.lcores \"{}\"",
                    w.lcore, c.eal.lcores
                ),
            ));
        }
        if !worker_lcores.insert(w.lcore) {
            return Err(violation(
                at("lcore"),
                format!("two workers on lcore {}", w.lcore),
            ));
        }
        for (j, q) in w.poll.iter().enumerate() {
            let qat = |f: &'static str| {
                vec![
                    field("workers"),
                    Seg::Index(i),
                    field("poll"),
                    Seg::Index(j),
                    field(f),
                ]
            };
            let Some(&pi) = names.get(q.port.as_str()) else {
                return Err(violation(
                    qat("port"),
                    format!("no port is named \"{}\"", q.port),
                ));
            };
            if q.queue >= c.ports[pi].rx_queues {
                return Err(violation(
                    qat("queue"),
                    format!(
                        "port \"{}\" has {} rx queue(s); queue {} does not exist",
                        q.port, c.ports[pi].rx_queues, q.queue
                    ),
                ));
            }
            if let Some(other) = polled.insert((q.port.as_str(), q.queue), i) {
                return Err(violation(
                    qat("queue"),
                    format!(
                        "queue {} of port \"{}\" is already polled by workers[{other}]; each queue has one poller",
                        q.queue, q.port
                    ),
                ));
            }
        }
    }
    for (i, p) in c.ports.iter().enumerate() {
        for q in 0..p.rx_queues {
            if !polled.contains_key(&(p.name.as_str(), q)) {
                return Err(violation(
                    vec![field("ports"), Seg::Index(i), field("rx_queues")],
                    format!(
                        "queue {q} of port \"{}\" is polled by no worker; its packets would be lost",
                        p.name
                    ),
                ));
            }
        }
    }
    Ok(())
}
