//! Human tables for each shape of answer `data`: the `Stats` picture for
//! status, ports and workers; services with their servers in the style of
//! `ipvsadm -Ln`; generic lists of objects for sessions, user sessions and
//! subscribers; one line for a change.

use super::request::View;
use super::table::{key_values, Table};
use crate::api::stats::{PortStats, ServiceStats, Stats, WorkerStats};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::BTreeMap;

/// Columns of a mobile session, in the order shown; keys the appliance
/// adds later follow them.
pub const SESSION_COLUMNS: &[&str] = &[
    "id",
    "gateway",
    "draining_from",
    "origin",
    "user_sessions",
    "bytes_up",
    "bytes_down",
    "created_ms",
    "last_seen_ms",
];

/// Columns of a user session, in the order shown.
pub const USER_SESSION_COLUMNS: &[&str] = &[
    "worker",
    "session",
    "terminal",
    "destination",
    "gateway",
    "server",
    "proto",
    "type",
    "state",
    "packets_up",
    "bytes_up",
    "packets_down",
    "bytes_down",
    "age_s",
];

/// Columns of a user-session type, in the order shown.
pub const TYPE_COLUMNS: &[&str] = &[
    "type",
    "selection",
    "accounted",
    "rules",
    "timeouts",
    "tcp_syn_s",
    "tcp_established_s",
    "tcp_closing_s",
    "udp_s",
    "udp_replied_s",
    "icmp_s",
];

/// Columns of a subscriber's usage quota (`ctl usage`), in the order shown.
pub const USAGE_COLUMNS: &[&str] = &[
    "subscriber",
    "state",
    "used_bytes",
    "remaining_bytes",
    "used_s",
    "remaining_s",
    "period_end",
];

/// Columns of a subscriber policy, in the order shown.
pub const SUBSCRIBER_COLUMNS: &[&str] = &["match", "services", "external"];

/// The text to print for `data` under `view`. An error means `data` does
/// not have the expected shape (the caller then shows it as JSON).
pub fn render(view: &View, data: &Value) -> Result<String, String> {
    match view {
        View::Status => Ok(status(&parse::<Stats>(data)?)),
        View::StatsSummary => Ok(stats_summary(&parse::<Stats>(data)?)),
        View::Ports => Ok(ports(&parse::<Vec<PortStats>>(data)?)),
        View::Workers => Ok(workers(&parse::<Vec<WorkerStats>>(data)?)),
        View::Services => Ok(services(&parse::<Vec<ServiceStats>>(data)?)),
        View::Sessions => objects(data, SESSION_COLUMNS, "no pinned mobile sessions"),
        View::UserSessions => objects(data, USER_SESSION_COLUMNS, "no user sessions"),
        View::Subscribers => objects(data, SUBSCRIBER_COLUMNS, "no subscriber policies"),
        View::Types => objects(data, TYPE_COLUMNS, "no user-session types"),
        View::Usage => objects(data, USAGE_COLUMNS, "no usage counted against a quota"),
        View::Metrics => match data {
            Value::String(text) if text.ends_with('\n') || text.is_empty() => Ok(text.clone()),
            Value::String(text) => Ok(format!("{text}\n")),
            _ => Err("metrics are not text".to_string()),
        },
        View::Done(what) => Ok(done(what, data)),
        View::Cluster => super::cluster_view::render(data),
    }
}

fn parse<T: DeserializeOwned>(data: &Value) -> Result<T, String> {
    T::deserialize(data).map_err(|e| e.to_string())
}

/// `3d 04:05:06`, or `04:05:06` under a day.
pub fn duration(seconds: u64) -> String {
    let (d, h, m, s) = (
        seconds / 86_400,
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60,
    );
    if d > 0 {
        format!("{d}d {h:02}:{m:02}:{s:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    }
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

fn total_drops(w: &WorkerStats) -> u64 {
    w.drops.iter().map(|(_, n)| n).sum()
}

fn status(s: &Stats) -> String {
    let sum = |f: fn(&WorkerStats) -> u64| s.workers.iter().map(f).sum::<u64>();
    let links_up = s.ports.iter().filter(|p| p.link_up).count();
    let servers: usize = s.services.iter().map(|v| v.servers.len()).sum();
    let mut out = key_values(&[
        ("version", s.version.clone()),
        ("uptime", duration(s.uptime_s)),
        ("ports", format!("{} ({links_up} link up)", s.ports.len())),
        ("workers", s.workers.len().to_string()),
        (
            "services",
            format!("{} ({servers} servers)", s.services.len()),
        ),
        ("rx packets", sum(|w| w.rx_packets).to_string()),
        ("tx packets", sum(|w| w.tx_packets).to_string()),
        ("drops", sum(total_drops).to_string()),
        ("user sessions", sum(|w| w.user_sessions_live).to_string()),
        ("pinned sessions", s.sessions.pinned.to_string()),
        (
            "learned pins",
            format!(
                "{} ({} refused)",
                s.sessions.learned_pins, s.sessions.pins_refused
            ),
        ),
        (
            "neighbours",
            format!(
                "{} changed, {} changes refused, {} unsolicited ARP ignored",
                s.neighbours.neighbour_changed,
                s.neighbours.neighbour_changes_refused,
                s.neighbours.arp_unsolicited_ignored
            ),
        ),
        ("gateways", s.sessions.gateways.to_string()),
        (
            "accounting",
            format!(
                "{} records, {} exported, {} export errors, {} lost",
                s.accounting.records,
                s.accounting.exported,
                s.accounting.export_errors,
                s.accounting.lost
            ),
        ),
        (
            "mbufs",
            format!("{} of {} in use", s.mbufs_in_use, s.mbufs_total),
        ),
        (
            "control clients",
            format!(
                "{} connected, {} refused, {} evicted",
                s.control_clients.connected, s.control_clients.refused, s.control_clients.evicted
            ),
        ),
    ]);
    if !s.snapshots.is_empty() {
        let mut t = Table::new(&[
            "snapshot",
            "generation",
            "oldest_reader",
            "age_s",
            "retired",
        ]);
        for snap in &s.snapshots {
            t.row(vec![
                snap.name.clone(),
                snap.generation.to_string(),
                snap.oldest_reader_generation.to_string(),
                format!("{:.1}", snap.age_s),
                snap.retired.to_string(),
            ]);
        }
        out.push('\n');
        out.push_str(&t.render());
    }
    out
}

fn ports(ports: &[PortStats]) -> String {
    if ports.is_empty() {
        return "no ports\n".to_string();
    }
    let mut t = Table::new(&[
        "port",
        "device",
        "role",
        "mac",
        "link",
        "link_seen_in",
        "mbps",
        "rx_packets",
        "tx_packets",
        "rx_bytes",
        "tx_bytes",
        "rx_missed",
        "rx_errors",
        "tx_errors",
        "rx_nombuf",
        "addresses",
    ]);
    for p in ports {
        t.row(vec![
            p.name.clone(),
            p.device.clone(),
            p.role.clone(),
            p.mac.clone(),
            if p.link_up { "up" } else { "down" }.to_string(),
            link_seen_in(&p.link_source),
            p.speed_mbps.to_string(),
            p.rx_packets.to_string(),
            p.tx_packets.to_string(),
            p.rx_bytes.to_string(),
            p.tx_bytes.to_string(),
            p.rx_missed.to_string(),
            p.rx_errors.to_string(),
            p.tx_errors.to_string(),
            p.rx_nombuf.to_string(),
            if p.addresses.is_empty() {
                "-".to_string()
            } else {
                p.addresses.join(",")
            },
        ]);
    }
    t.render()
}

fn busy_percent(w: &WorkerStats) -> String {
    let polls = w.busy_polls + w.idle_polls;
    if polls == 0 {
        "-".to_string()
    } else {
        format!("{:.1}%", w.busy_polls as f64 * 100.0 / polls as f64)
    }
}

/// One line per worker with its traffic, sessions, drops and rings.
fn workers_summary(workers: &[WorkerStats]) -> Table {
    let mut t = Table::new(&[
        "worker",
        "lcore",
        "rx_packets",
        "tx_packets",
        "handoff_in",
        "handoff_out",
        "sessions",
        "created",
        "expired",
        "drops",
        "ring",
        "snapshot",
        "busy",
    ]);
    for w in workers {
        t.row(vec![
            w.index.to_string(),
            w.lcore.to_string(),
            w.rx_packets.to_string(),
            w.tx_packets.to_string(),
            w.handoff_in.to_string(),
            w.handoff_out.to_string(),
            w.user_sessions_live.to_string(),
            w.user_sessions_created.to_string(),
            w.user_sessions_expired.to_string(),
            total_drops(w).to_string(),
            format!("{}/{}", w.ring_occupancy, w.ring_capacity),
            w.snapshot_generation.to_string(),
            busy_percent(w),
        ]);
    }
    t
}

/// Drops summed over workers, by reason, non-zero only, biggest first.
fn drops_by_reason(workers: &[WorkerStats]) -> Table {
    let mut totals: BTreeMap<&str, u64> = BTreeMap::new();
    for w in workers {
        for (reason, n) in &w.drops {
            *totals.entry(reason.as_str()).or_default() += n;
        }
    }
    let mut nonzero: Vec<(&str, u64)> = totals.into_iter().filter(|(_, n)| *n > 0).collect();
    nonzero.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let mut t = Table::new(&["drop_reason", "packets"]);
    for (reason, n) in nonzero {
        t.row(vec![reason.to_string(), n.to_string()]);
    }
    t
}

fn section(out: &mut String, title: &str, body: &str) {
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(title);
    out.push_str(":\n");
    out.push_str(body);
}

fn workers(workers: &[WorkerStats]) -> String {
    if workers.is_empty() {
        return "no workers\n".to_string();
    }
    let mut out = workers_summary(workers).render();

    let mut replies = Table::new(&[
        "worker",
        "rx_bytes",
        "tx_bytes",
        "arp_replies",
        "icmp_replies",
        "nd_replies",
        "rst_sent",
        "icmp_errors_sent",
        "ttl_exceeded_sent",
        "nat64_fragmented",
        "syn_cookies_sent",
        "syn_cookies_valid",
        "syn_proxy_opened",
        "mss_clamped",
        "proxy_headers_inserted",
        "bitrate_remarked",
        "events_lost",
    ]);
    for w in workers {
        replies.row(vec![
            w.index.to_string(),
            w.rx_bytes.to_string(),
            w.tx_bytes.to_string(),
            w.arp_replies.to_string(),
            w.icmp_replies.to_string(),
            w.nd_replies.to_string(),
            w.rst_sent.to_string(),
            w.icmp_errors_sent.to_string(),
            w.ttl_exceeded_sent.to_string(),
            w.nat64_fragmented.to_string(),
            w.syn_cookies_sent.to_string(),
            w.syn_cookies_valid.to_string(),
            w.syn_proxy_opened.to_string(),
            w.mss_clamped.to_string(),
            w.proxy_headers_inserted.to_string(),
            w.bitrate_remarked.to_string(),
            w.events_lost.to_string(),
        ]);
    }
    section(&mut out, "bytes and replies", &replies.render());

    if let Some(fabric) = fabric(workers) {
        section(&mut out, "cluster fabric", &fabric.render());
    }

    let mut paths = Table::new(&["worker", "client_path_moved", "client_path_refused"]);
    for w in workers {
        paths.row(vec![
            w.index.to_string(),
            w.client_path_moved.to_string(),
            w.client_path_refused.to_string(),
        ]);
    }
    section(&mut out, "client paths", &paths.render());

    let mut drops = Table::new(&["worker", "drop_reason", "packets"]);
    for w in workers {
        for (reason, n) in w.drops.iter().filter(|(_, n)| *n > 0) {
            drops.row(vec![w.index.to_string(), reason.clone(), n.to_string()]);
        }
    }
    if drops.is_empty() {
        section(&mut out, "drops", "none\n");
    } else {
        section(&mut out, "drops", &drops.render());
    }

    let mut pools = Table::new(&[
        "worker",
        "gateway_address",
        "capacity",
        "in_use",
        "quarantined",
        "free",
    ]);
    for w in workers {
        for p in &w.port_pools {
            pools.row(vec![
                w.index.to_string(),
                p.gateway_address.clone(),
                p.capacity.to_string(),
                p.in_use.to_string(),
                p.quarantined.to_string(),
                p.free.to_string(),
            ]);
        }
    }
    if !pools.is_empty() {
        section(&mut out, "port pools", &pools.render());
    }
    out
}

/// Per worker, what crossed the cluster fabric; `None` while nothing has.
fn fabric(workers: &[WorkerStats]) -> Option<Table> {
    if workers
        .iter()
        .all(|w| w.fabric_tx + w.fabric_rx + w.second_chance == 0)
    {
        return None;
    }
    let mut fabric = Table::new(&["worker", "fabric_tx", "fabric_rx", "second_chance"]);
    for w in workers {
        fabric.row(vec![
            w.index.to_string(),
            w.fabric_tx.to_string(),
            w.fabric_rx.to_string(),
            w.second_chance.to_string(),
        ]);
    }
    Some(fabric)
}

fn stats_summary(s: &Stats) -> String {
    let mut out = String::new();
    section(&mut out, "ports", &ports(&s.ports));
    let workers_text = if s.workers.is_empty() {
        "no workers\n".to_string()
    } else {
        workers_summary(&s.workers).render()
    };
    section(&mut out, "workers", &workers_text);
    if let Some(fabric) = fabric(&s.workers) {
        section(&mut out, "cluster fabric", &fabric.render());
    }
    let drops = drops_by_reason(&s.workers);
    if drops.is_empty() {
        section(&mut out, "drops", "none\n");
    } else {
        section(&mut out, "drops", &drops.render());
    }
    out
}

/// Each service on its own line, then its servers indented under it.
/// Where the link state was read, as one cell: `dpdk`, `netns:NAME`, or
/// `unknown` (the reason is in the JSON).
fn link_seen_in(source: &str) -> String {
    if source.is_empty() {
        "dpdk".to_string()
    } else if let Some(ns) = source.strip_prefix("netns ") {
        format!("netns:{ns}")
    } else {
        "unknown".to_string()
    }
}

fn services(services: &[ServiceStats]) -> String {
    if services.is_empty() {
        return "no services\n".to_string();
    }
    let mut t = Table::new(&[
        "service",
        "vip",
        "weight",
        "state",
        "healthy",
        "user_sessions",
        "load",
    ]);
    for svc in services {
        t.row(vec![svc.name.clone(), svc.vip.clone()]);
        for srv in &svc.servers {
            t.row(vec![
                format!("  -> {}", srv.endpoint()),
                String::new(),
                srv.weight.to_string(),
                srv.state.clone(),
                yes_no(srv.healthy),
                srv.user_sessions.to_string(),
                srv.reported_load.to_string(),
            ]);
        }
    }
    t.render()
}

/// A JSON value as one table cell.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".to_string(),
        Value::Bool(b) => yes_no(*b),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) if items.iter().all(|i| !i.is_array() && !i.is_object()) => {
            if items.is_empty() {
                "-".to_string()
            } else {
                items.iter().map(cell).collect::<Vec<_>>().join(",")
            }
        }
        other => other.to_string(),
    }
}

/// A list of objects as a table: the known columns first, in their order,
/// then any other key found, so that a field added later still shows.
pub(super) fn objects(data: &Value, known: &[&str], empty: &str) -> Result<String, String> {
    let items = data.as_array().ok_or("expected a list")?;
    if items.is_empty() {
        return Ok(format!("{empty}\n"));
    }
    let mut columns: Vec<&str> = Vec::new();
    let mut extra: Vec<&str> = Vec::new();
    for item in items {
        let obj = item.as_object().ok_or("expected a list of objects")?;
        for k in obj.keys() {
            if !known.contains(&k.as_str()) && !extra.contains(&k.as_str()) {
                extra.push(k);
            }
        }
    }
    for k in known {
        if items.iter().any(|i| i.get(k).is_some()) {
            columns.push(k);
        }
    }
    columns.extend(extra);
    let mut t = Table::new(&columns);
    for item in items {
        t.row(
            columns
                .iter()
                .map(|k| item.get(k).map(cell).unwrap_or_else(|| "-".to_string()))
                .collect(),
        );
    }
    Ok(t.render())
}

/// One line for a change: the appliance's `message` if it sent one, else
/// what was asked, with whatever the appliance reported (`id=..`).
fn done(what: &str, data: &Value) -> String {
    match data {
        Value::Object(obj) => {
            if let Some(Value::String(message)) = obj.get("message") {
                return format!("{message}\n");
            }
            let details: Vec<String> = obj
                .iter()
                .map(|(k, v)| format!("{k}={}", cell(v)))
                .collect();
            if details.is_empty() {
                format!("{what}\n")
            } else {
                format!("{what}: {}\n", details.join(" "))
            }
        }
        Value::String(message) if !message.is_empty() => format!("{message}\n"),
        Value::Null | Value::String(_) => format!("{what}\n"),
        other => format!("{what}: {}\n", cell(other)),
    }
}
