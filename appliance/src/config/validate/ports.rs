//! The `ports` section: names, devices, queues and addresses unique, and
//! at least one Access and one Server port.

use super::{field, violation, Violation};
use crate::config::locate::Seg;
use crate::config::schema::{Config, Role};
use std::collections::{HashMap, HashSet};

/// Checks the `ports` section; each port's index by name, for the sections
/// that name ports.
pub fn check(c: &Config) -> Result<HashMap<&str, usize>, Violation> {
    if c.ports.is_empty() {
        return Err(violation(
            vec![field("ports")],
            "no ports: give at least one access and one server port".into(),
        ));
    }
    let mut names = HashMap::new();
    let mut devices = HashSet::new();
    let mut addrs = HashSet::new();
    for (i, p) in c.ports.iter().enumerate() {
        let at = |f: &'static str| vec![field("ports"), Seg::Index(i), field(f)];
        if p.name.is_empty() || p.name.len() > 32 {
            return Err(violation(
                at("name"),
                "port name must be 1 to 32 characters".into(),
            ));
        }
        if let Some(first) = names.insert(p.name.as_str(), i) {
            return Err(violation(
                at("name"),
                format!(
                    "port name \"{}\" is used twice (also by ports[{first}])",
                    p.name
                ),
            ));
        }
        if !devices.insert(p.device.as_str()) {
            return Err(violation(
                at("device"),
                format!("device \"{}\" is given to two ports", p.device),
            ));
        }
        if p.rx_queues == 0 || p.rx_queues > 64 {
            return Err(violation(
                at("rx_queues"),
                "rx_queues must be 1 to 64".into(),
            ));
        }
        for (j, a) in p.addresses.iter().enumerate() {
            if !addrs.insert(a.addr) {
                return Err(violation(
                    vec![
                        field("ports"),
                        Seg::Index(i),
                        field("addresses"),
                        Seg::Index(j),
                    ],
                    format!("address {} is configured twice", a.addr),
                ));
            }
        }
    }
    // A cluster member may be a tier-1 unit or a gateway alone (cluster.rs).
    for role in [Role::Access, Role::Server] {
        if c.cluster.is_none() && !c.ports.iter().any(|p| p.role == role) {
            return Err(violation(
                vec![field("ports")],
                format!("no port has role {role:?}; Tandem needs at least one Access and one Server port"),
            ));
        }
    }
    Ok(names)
}
