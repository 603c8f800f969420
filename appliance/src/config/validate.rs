//! Rules that span several fields of a config, checked before DPDK starts.
//!
//! Each failure names the place in the file (a path that `locate` turns into
//! line and column) and says what to change.

use super::locate::Seg;
use super::schema::{Config, Role};
use std::collections::{HashMap, HashSet};

/// A rule broken at `path`.
#[derive(Debug)]
pub struct Violation {
    pub path: Vec<Seg<'static>>,
    pub message: String,
}

fn field(name: &'static str) -> Seg<'static> {
    Seg::Field(name)
}

fn violation(path: Vec<Seg<'static>>, message: String) -> Violation {
    Violation { path, message }
}

/// Parses DPDK's `--lcores`/`-l` syntax into the set of lcore ids it names:
/// `0-3`, `0,2,4`, `0@0,1@1`, `(0-1)@0,2@1`.
pub fn parse_lcores(spec: &str) -> Result<Vec<u32>, String> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut item = String::new();
    let mut items = Vec::new();
    for c in spec.chars() {
        match c {
            '(' => {
                depth += 1;
                item.push(c);
            }
            ')' => {
                depth -= 1;
                item.push(c);
            }
            ',' if depth == 0 => items.push(std::mem::take(&mut item)),
            _ => item.push(c),
        }
    }
    items.push(item);
    for it in items {
        let lhs = it.split('@').next().unwrap_or("").trim();
        let lhs = lhs.trim_start_matches('(').trim_end_matches(')');
        for part in lhs.split(',') {
            let part = part.trim();
            let bad =
                || format!("'{spec}' is not an lcore list (expected e.g. \"0-1\" or \"0@0,1@1\")");
            if let Some((a, b)) = part.split_once('-') {
                let a: u32 = a.trim().parse().map_err(|_| bad())?;
                let b: u32 = b.trim().parse().map_err(|_| bad())?;
                if a > b {
                    return Err(bad());
                }
                out.extend(a..=b);
            } else {
                out.push(part.parse().map_err(|_| bad())?);
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Checks every cross-field rule; returns the first violation.
pub fn validate(c: &Config) -> Result<(), Violation> {
    let lcores = parse_lcores(&c.eal.lcores)
        .map_err(|m| violation(vec![field("eal"), field("lcores")], m))?;
    if !lcores.contains(&c.eal.main_lcore) {
        return Err(violation(
            vec![field("eal"), field("main_lcore")],
            format!(
                "main lcore {} is not in eal.lcores \"{}\"",
                c.eal.main_lcore, c.eal.lcores
            ),
        ));
    }
    if c.eal.file_prefix.is_empty() || c.eal.file_prefix.contains('/') {
        return Err(violation(
            vec![field("eal"), field("file_prefix")],
            "file_prefix must be a non-empty name without '/'".into(),
        ));
    }
    if c.eal.memory_mb < 64 {
        return Err(violation(
            vec![field("eal"), field("memory_mb")],
            format!(
                "memory_mb {} is too small; give at least 64",
                c.eal.memory_mb
            ),
        ));
    }

    // Ports.
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

    // Workers.
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

    // Sizes.
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

    // Gateway.
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

    // User-session types and rules.
    let mut type_names = HashSet::new();
    for (i, t) in c.user_session_types.iter().enumerate() {
        if !type_names.insert(t.name.as_str()) {
            return Err(violation(
                vec![field("user_session_types"), Seg::Index(i), field("name")],
                format!("user-session type \"{}\" is defined twice", t.name),
            ));
        }
    }
    if c.user_session_types.len() > 250 {
        return Err(violation(
            vec![field("user_session_types")],
            "at most 250 user-session types".into(),
        ));
    }
    for (i, r) in c.classify.iter().enumerate() {
        if !type_names.contains(r.user_session_type.as_str()) {
            return Err(violation(
                vec![field("classify"), Seg::Index(i), field("user_session_type")],
                format!(
                    "no user-session type is named \"{}\"; define it in user_session_types",
                    r.user_session_type
                ),
            ));
        }
        if let Some((a, b)) = r.ports {
            if a > b {
                return Err(violation(
                    vec![field("classify"), Seg::Index(i), field("ports")],
                    format!("port range ({a}, {b}) is empty"),
                ));
            }
        }
        if r.dscp.is_some_and(|d| d > 63) {
            return Err(violation(
                vec![field("classify"), Seg::Index(i), field("dscp")],
                "dscp is 0 to 63".into(),
            ));
        }
    }

    if !(1..=100).contains(&c.syn_proxy.fill_percent) {
        return Err(violation(
            vec![field("syn_proxy"), field("fill_percent")],
            format!(
                "fill_percent {} is not a percentage from 1 to 100",
                c.syn_proxy.fill_percent
            ),
        ));
    }

    // Services.
    let mut svc_names = HashSet::new();
    let mut vips: Vec<(usize, super::net::Ip, super::schema::Proto, u16, u16)> = Vec::new();
    for (i, s) in c.services.iter().enumerate() {
        let at = |f: &'static str| vec![field("services"), Seg::Index(i), field(f)];
        if !svc_names.insert(s.name.as_str()) {
            return Err(violation(
                at("name"),
                format!("service name \"{}\" is used twice", s.name),
            ));
        }
        let end = s.port_end.unwrap_or(s.port);
        if end < s.port {
            return Err(violation(
                at("port_end"),
                format!("port_end {end} is below port {}", s.port),
            ));
        }
        if let Some(vip) = s.vip {
            if let Some(&(j, ..)) = vips
                .iter()
                .find(|(_, ip, pr, a, b)| *ip == vip && *pr == s.proto && s.port <= *b && end >= *a)
            {
                return Err(violation(
                    at("vip"),
                    format!(
                        "VIP {vip} {:?} ports {}..={end} overlaps services[{j}]",
                        s.proto, s.port
                    ),
                ));
            }
            vips.push((i, vip, s.proto, s.port, end));
        }
        if s.proto != super::schema::Proto::Tcp && s.syn_proxy != super::schema::SynProxyMode::Off {
            return Err(violation(
                at("syn_proxy"),
                format!("service \"{}\" is not TCP: syn_proxy must be Off", s.name),
            ));
        }
        if s.servers.is_empty() {
            return Err(violation(
                at("servers"),
                format!("service \"{}\" has no servers", s.name),
            ));
        }
        let mut seen = HashSet::new();
        for (j, srv) in s.servers.iter().enumerate() {
            if !seen.insert((srv.addr, srv.port)) {
                return Err(violation(
                    vec![
                        field("services"),
                        Seg::Index(i),
                        field("servers"),
                        Seg::Index(j),
                    ],
                    format!(
                        "server {} is listed twice in service \"{}\"",
                        srv.addr, s.name
                    ),
                ));
            }
        }
    }
    if c.services.iter().map(|s| s.servers.len()).sum::<usize>() > dataplane::policy::MAX_SERVERS {
        return Err(violation(
            vec![field("services")],
            format!(
                "more than {} servers in all",
                dataplane::policy::MAX_SERVERS
            ),
        ));
    }
    for (i, s) in c.services.iter().enumerate() {
        for (j, p) in s.pools.iter().enumerate() {
            let at = |f: &'static str| {
                vec![
                    field("services"),
                    Seg::Index(i),
                    field("pools"),
                    Seg::Index(j),
                    field(f),
                ]
            };
            if !type_names.contains(p.user_session_type.as_str()) {
                return Err(violation(
                    at("user_session_type"),
                    format!("no user-session type is named \"{}\"", p.user_session_type),
                ));
            }
            if !svc_names.contains(p.service.as_str()) {
                return Err(violation(
                    at("service"),
                    format!("no service is named \"{}\"", p.service),
                ));
            }
        }
    }

    // Subscribers.
    for (i, e) in c.subscribers.entries.iter().enumerate() {
        let entry = || vec![field("subscribers"), field("entries"), Seg::Index(i)];
        match (&e.session, &e.prefix) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(violation(
                    entry(),
                    "give exactly one of `session` or `prefix`".into(),
                ))
            }
            (Some(sid), None) => {
                if sid.parse::<dataplane::tier1::SessionId>().is_err() {
                    let mut p = entry();
                    p.push(field("session"));
                    return Err(violation(
                        p,
                        format!("\"{sid}\" is not a session ID (e.g. \"10.1.0.5\", \"10.1.0.5@vlan100\", \"teid:0x10\")"),
                    ));
                }
            }
            (None, Some(_)) => {}
        }
        for (j, name) in e.services.iter().flatten().enumerate() {
            if !svc_names.contains(name.as_str()) {
                let mut p = entry();
                p.push(field("services"));
                p.push(Seg::Index(j));
                return Err(violation(p, format!("no service is named \"{name}\"")));
            }
        }
    }
    if let Some(a) = &c.health.active {
        let (plo, phi) = a.source_ports;
        let at = vec![field("health"), field("active"), field("source_ports")];
        if plo == 0 || plo > phi {
            return Err(violation(
                at,
                format!("source_ports ({plo}, {phi}) must satisfy 1 <= first <= last"),
            ));
        }
        if plo <= hi && phi >= lo {
            return Err(violation(
                at,
                format!("probe source ports ({plo}, {phi}) overlap gateway.port_range ({lo}, {hi}); pick ports outside it"),
            ));
        }
        if a.rise == 0 || a.fall == 0 || a.interval_ms == 0 || a.timeout_ms == 0 {
            return Err(violation(
                vec![field("health"), field("active")],
                "interval_ms, timeout_ms, rise and fall must be at least 1".into(),
            ));
        }
    }
    if c.health.fall == 0 {
        return Err(violation(
            vec![field("health"), field("fall")],
            "fall must be at least 1".into(),
        ));
    }
    if let Some(l) = &c.metrics.listen {
        if l.parse::<std::net::SocketAddr>().is_err() {
            return Err(violation(
                vec![field("metrics"), field("listen")],
                format!("\"{l}\" is not an address:port (e.g. \"127.0.0.1:9469\")"),
            ));
        }
    }
    if let Some(ipfix) = &c.accounting.ipfix {
        if ipfix.enterprise == Some(0) {
            return Err(violation(
                vec![field("accounting"), field("ipfix"), field("enterprise")],
                "enterprise 0 is IANA's own number; give your private enterprise number, or leave it out".into(),
            ));
        }
        if ipfix.collector.parse::<std::net::SocketAddr>().is_err() {
            return Err(violation(
                vec![field("accounting"), field("ipfix"), field("collector")],
                format!(
                    "collector \"{}\" is not an address:port (e.g. \"127.0.0.1:4739\")",
                    ipfix.collector
                ),
            ));
        }
    }
    // Addresses with two roles; tables the machine cannot hold.
    super::address_roles::check(c)?;
    super::table_memory::check(c, super::table_memory::machine_memory())?;
    super::validate_limits::validate_hardening(c)?;
    super::cluster::validate(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lcore_lists() {
        assert_eq!(parse_lcores("0-3").unwrap(), vec![0, 1, 2, 3]);
        assert_eq!(parse_lcores("0,2,4").unwrap(), vec![0, 2, 4]);
        assert_eq!(parse_lcores("0@0,1@1,2@1").unwrap(), vec![0, 1, 2]);
        assert_eq!(parse_lcores("(0-1)@0,2@1").unwrap(), vec![0, 1, 2]);
        assert!(parse_lcores("a-b").is_err());
        assert!(parse_lcores("3-1").is_err());
    }
}
