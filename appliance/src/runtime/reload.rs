//! Reload: re-read the config file and apply what can change while
//! traffic flows (services, servers, weights, user-session types, rules,
//! subscribers, timeouts) as one new policy snapshot. Live user sessions
//! keep their server: server and service indexes stay stable across the
//! reload (matched by service name and server address and port). Changes
//! that need a restart are refused and the running config stays in force.

use super::control::Control;
use crate::config::{self, Config};
use crate::plan;
use dataplane::policy::{AdminState, Policy, MAX_SERVERS};
use tracing::info;

/// Sections that cannot change without a restart.
fn restart_sections(old: &Config, new: &Config) -> Vec<&'static str> {
    fn same<T: serde::Serialize>(a: &T, b: &T) -> bool {
        serde_json::to_string(a).ok() == serde_json::to_string(b).ok()
    }
    let mut out = Vec::new();
    let checks: [(&'static str, bool); 17] = [
        ("eal", same(&old.eal, &new.eal)),
        ("ports", same(&old.ports, &new.ports)),
        // Clamps live in the topology, fixed for a run like the ports.
        ("mss_clamp", same(&old.mss_clamp, &new.mss_clamp)),
        ("workers", same(&old.workers, &new.workers)),
        ("mempool", same(&old.mempool, &new.mempool)),
        ("rings", same(&old.rings, &new.rings)),
        ("idle", same(&old.idle, &new.idle)),
        ("gateway", same(&old.gateway, &new.gateway)),
        ("steering", same(&old.steering, &new.steering)),
        ("api", same(&old.api, &new.api)),
        ("metrics", same(&old.metrics, &new.metrics)),
        ("health", same(&old.health, &new.health)),
        ("log", same(&old.log, &new.log)),
        ("cluster", same(&old.cluster, &new.cluster)),
        // Bitrate meters are allocated at start only when a limit exists.
        (
            "subscribers (a first bitrate limit)",
            old.has_bitrate_limits() || !new.has_bitrate_limits(),
        ),
        // Each session ID has buckets for as many limited types as at start.
        (
            "user_session_types (more types with a bitrate limit)",
            new.limited_types() <= old.limited_types(),
        ),
        (
            "accounting sinks",
            same(&old.accounting.json, &new.accounting.json)
                && same(&old.accounting.ipfix, &new.accounting.ipfix),
        ),
    ];
    for (name, unchanged) in checks {
        if !unchanged {
            out.push(name);
        }
    }
    out
}

/// The new config's policy, with the running policy's server and service
/// indexes kept for everything that still exists.
pub fn merge_policy(old: &Policy, new_cfg: &Config) -> Result<Policy, String> {
    let fresh = plan::policy(new_cfg);
    let mut services = old.services.services.clone();
    for s in &mut services {
        s.removed = true;
        s.servers.clear();
        s.by_type.clear();
    }
    let mut servers = old.services.servers.clone();
    for s in &mut servers {
        s.state = AdminState::Removed;
    }
    // Service indexes: by name.
    let mut svc_map = Vec::new();
    for svc in &fresh.services.services {
        let idx = old
            .services
            .services
            .iter()
            .position(|o| o.name == svc.name && !o.removed)
            .unwrap_or_else(|| {
                services.push(svc.clone());
                services.len() - 1
            });
        svc_map.push(idx as u32);
    }
    for (i, svc) in fresh.services.services.iter().enumerate() {
        let target = svc_map[i] as usize;
        let old_servers: Vec<u32> = old
            .services
            .services
            .get(target)
            .filter(|o| o.name == svc.name)
            .map(|o| o.servers.clone())
            .unwrap_or_default();
        let mut list = Vec::new();
        for &j in &svc.servers {
            let new_srv = &fresh.services.servers[j as usize];
            let reuse = old_servers.iter().copied().find(|&k| {
                let o = &old.services.servers[k as usize];
                // An IPv6 server's `addr` is unspecified: its `addr6` names it.
                o.addr == new_srv.addr && o.addr6 == new_srv.addr6 && o.port == new_srv.port
            });
            let idx = match reuse {
                Some(k) => {
                    let prev = &old.services.servers[k as usize];
                    let mut s = new_srv.clone();
                    s.unhealthy = prev.unhealthy;
                    s.reported_load = prev.reported_load;
                    servers[k as usize] = s;
                    k
                }
                None => {
                    if servers.len() >= MAX_SERVERS {
                        return Err(format!("more than {MAX_SERVERS} servers over the life of this run; restart to renumber"));
                    }
                    servers.push(new_srv.clone());
                    (servers.len() - 1) as u32
                }
            };
            list.push(idx);
        }
        let mut merged = svc.clone();
        merged.servers = list;
        merged.by_type = svc
            .by_type
            .iter()
            .map(|&(t, s)| (t, svc_map[s as usize]))
            .collect();
        merged.removed = false;
        services[target] = merged;
    }
    let mut p = fresh;
    p.services = dataplane::policy::ServiceTable::new(services, servers);
    // The quota verdicts stay until the ledger has settled under the new
    // plans (`Control::quota_replan`).
    p.quota = old.quota.clone();
    Ok(p)
}

impl Control {
    /// Re-reads the config file; returns what was done or why nothing was.
    pub fn reload(&mut self) -> Result<String, String> {
        let path = self.shared.cfg_path.clone();
        let new_cfg =
            config::load(&path).map_err(|e| format!("{e}; the running config stays in force"))?;
        let blocked = restart_sections(&self.shared.cfg, &new_cfg);
        if !blocked.is_empty() {
            return Err(format!(
                "changes to {} need a restart; nothing was applied, the running config stays in force",
                blocked.join(", ")
            ));
        }
        let merged = merge_policy(&self.shared.policy.current(), &new_cfg)?;
        self.shared.publish_policy(merged);
        self.shared.cfg = new_cfg;
        // Counted usage is kept; a changed quota applies to it.
        self.quota_replan();
        self.resolve_known();
        info!(file = %path.display(), "config reloaded");
        Ok(format!(
            "{} reloaded; services, servers, types, rules, subscribers and timeouts applied",
            path.display()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn cfg(text: &str) -> Config {
        config::parse(Path::new("t.ron"), text).unwrap()
    }

    const BASE: &str = r#"(
    eal: (lcores: "0-1", no_huge: true, memory_mb: 256, vdevs: ["net_ring0", "net_ring1"]),
    ports: [
        (name: "acc0", device: "net_ring0", role: Access, addresses: ["10.1.0.1/24"]),
        (name: "srv0", device: "net_ring1", role: Server, addresses: ["10.2.0.1/24"]),
    ],
    workers: [(lcore: 1, poll: [(port: "acc0"), (port: "srv0")])],
    gateway: (addresses: ["10.2.0.10"]),
    services: [
        (name: "web", vip: "10.9.0.1", proto: Tcp, port: 80,
         servers: [(addr: "10.2.0.21"), (addr: "10.2.0.22")]),
        (name: "dns", vip: "10.9.0.3", proto: Udp, port: 53, servers: [(addr: "10.2.0.21", port: 5353)]),
    ],
)"#;

    /// IPv6 servers (their IPv4 `addr` unspecified) keep their indexes by
    /// their IPv6 address: a worker reads an IPv6 → IPv6 user session's
    /// server from its index.
    #[test]
    fn ipv6_servers_keep_their_indexes_by_address() {
        let v6 = BASE
            .replace(
                r#"addresses: ["10.2.0.1/24"]"#,
                r#"addresses: ["10.2.0.1/24", "2001:db8:20::1/64"]"#,
            )
            .replace(
                r#"gateway: (addresses: ["10.2.0.10"]),"#,
                r#"gateway: (addresses: ["10.2.0.10"], ipv6_addresses: ["2001:db8:20::10"]),"#,
            )
            .replace(
                "    services: [\n",
                "    services: [\n        (name: \"web66\", vip6: \"2001:db8:9::66\", proto: Tcp, port: 80, servers: [(addr: \"2001:db8:20::21\"), (addr: \"2001:db8:20::22\")]),\n",
            );
        let old = plan::policy(&cfg(&v6));
        let six = |p: &Policy, i: usize| p.services.servers[i].addr6.map(|a| a.to_string());
        assert_eq!(six(&old, 1).as_deref(), Some("2001:db8:20::22"));
        let swapped = v6.replace(
            r#"(addr: "2001:db8:20::21"), (addr: "2001:db8:20::22")"#,
            r#"(addr: "2001:db8:20::22"), (addr: "2001:db8:20::23")"#,
        );
        let p = merge_policy(&old, &cfg(&swapped)).unwrap();
        assert_eq!(six(&p, 0).as_deref(), Some("2001:db8:20::21"));
        assert_eq!(p.services.servers[0].state, AdminState::Removed);
        assert_eq!(
            six(&p, 1).as_deref(),
            Some("2001:db8:20::22"),
            "keeps index 1"
        );
        let web66 = p.services.service_index("web66").unwrap();
        let list = &p.services.services[web66 as usize].servers;
        assert_eq!(list[0], 1);
        assert_eq!(
            six(&p, list[1] as usize).as_deref(),
            Some("2001:db8:20::23")
        );
        assert!(list[1] as usize >= old.services.servers.len(), "appended");
    }

    #[test]
    fn indexes_survive_reordering_and_weight_changes() {
        let old = plan::policy(&cfg(BASE));
        let changed = BASE.replace(
            r#"servers: [(addr: "10.2.0.21"), (addr: "10.2.0.22")]"#,
            r#"servers: [(addr: "10.2.0.23"), (addr: "10.2.0.22", weight: 5)]"#,
        );
        // Put dns first to reorder services.
        let reordered = {
            let c = cfg(&changed);
            let mut c2 = c.clone();
            c2.services.reverse();
            c2
        };
        let p = merge_policy(&old, &reordered).unwrap();
        let web = p.services.service_index("web").unwrap();
        assert_eq!(web, 0, "web keeps its index");
        assert_eq!(p.services.service_index("dns"), Some(1));
        let srv = &p.services.servers;
        assert_eq!(srv[0].state, AdminState::Removed, "10.2.0.21 left web");
        assert_eq!(
            srv[1].weight, 5,
            "10.2.0.22 keeps index 1 with its new weight"
        );
        assert_eq!(
            srv[2].addr.to_string(),
            "10.2.0.21",
            "dns server keeps index 2"
        );
        assert_eq!(srv[2].state, AdminState::Active);
        assert_eq!(srv[3].addr.to_string(), "10.2.0.23", "new server appended");
        assert_eq!(p.services.services[web as usize].servers, vec![3, 1]);
        assert_eq!(
            p.services.find(6, "10.9.0.1".parse().unwrap(), 80),
            Some(web)
        );
    }

    #[test]
    fn restart_needed_sections_are_named() {
        let a = cfg(BASE);
        let b = cfg(&BASE
            .replace("memory_mb: 256", "memory_mb: 512")
            .replace("10.2.0.10", "10.2.0.11"));
        assert_eq!(restart_sections(&a, &b), vec!["eal", "gateway"]);
        let c = cfg(&BASE.replace(
            r#"(addr: "10.2.0.22")"#,
            r#"(addr: "10.2.0.22", weight: 3)"#,
        ));
        assert!(restart_sections(&a, &c).is_empty());
        // MSS clamps need a restart; DSCP marks are policy and reload.
        let d = cfg(&BASE.replace(
            "gateway: (addresses: [\"10.2.0.10\"]),",
            "gateway: (addresses: [\"10.2.0.10\"]),\n    mss_clamp: Some(1400),",
        ));
        assert_eq!(restart_sections(&a, &d), vec!["mss_clamp"]);
        let e = cfg(&BASE.replace("port: 80,", "port: 80, dscp: Some(46),"));
        assert!(restart_sections(&a, &e).is_empty());
        let p = merge_policy(&plan::policy(&a), &e).unwrap();
        assert_eq!(p.dscp_for(0, 0), Some(46), "web's new DSCP applies");
        // The first bitrate limit needs a restart (meters are allocated at
        // start); changing one that exists does not.
        let limited = |mbit: u32| {
            cfg(&BASE.replace(
                "gateway: (addresses: [\"10.2.0.10\"]),",
                &format!(
                    "gateway: (addresses: [\"10.2.0.10\"]),\n    subscribers: (default_limits: (bitrate: (up_mbit: {mbit}))),"
                ),
            ))
        };
        assert_eq!(
            restart_sections(&a, &limited(10)),
            vec!["subscribers (a first bitrate limit)"]
        );
        assert!(restart_sections(&limited(10), &limited(20)).is_empty());
        assert!(restart_sections(&limited(10), &a).is_empty());
        // A type limit needs type buckets, as many as at start.
        let types = |list: &str| {
            cfg(&BASE.replace(
                "gateway: (addresses: [\"10.2.0.10\"]),",
                &format!(
                    "gateway: (addresses: [\"10.2.0.10\"]),\n    user_session_types: [{list}],"
                ),
            ))
        };
        let one = types(r#"(name: "a", bitrate: (down_mbit: 5)), (name: "b")"#);
        let other = types(r#"(name: "a"), (name: "b", bitrate: (up_mbit: 9))"#);
        let two =
            types(r#"(name: "a", bitrate: (down_mbit: 5)), (name: "b", bitrate: (up_mbit: 9))"#);
        assert_eq!(
            restart_sections(&a, &one),
            vec![
                "subscribers (a first bitrate limit)",
                "user_session_types (more types with a bitrate limit)"
            ]
        );
        assert!(restart_sections(&one, &other).is_empty());
        assert!(restart_sections(&two, &one).is_empty());
        assert_eq!(
            restart_sections(&one, &two),
            vec!["user_session_types (more types with a bitrate limit)"]
        );
    }
}
