//! The Prometheus text exposition format (version 0.0.4) of a [`Stats`]
//! snapshot, so any Prometheus-compatible scraper can collect Tandem's
//! counters without a client library.
//!
//! Every family is named `tandem_...`, carries a HELP and a TYPE line,
//! counts in base units (bytes, seconds) and, for counters, ends in
//! `_total`. Families with nothing to report still get their HELP and TYPE
//! lines, so the set of families does not depend on the config.

use std::fmt::{self, Write};

use crate::api::stats::{PortStats, ServerStats, Stats, WorkerStats};

/// The `Content-Type` of [`render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// A sample value: counters are exact integers, a few gauges are fractions.
#[derive(Debug, Clone, Copy)]
enum Number {
    Int(u64),
    Float(f64),
}

impl From<u64> for Number {
    fn from(v: u64) -> Self {
        Number::Int(v)
    }
}

impl From<u32> for Number {
    fn from(v: u32) -> Self {
        Number::Int(u64::from(v))
    }
}

impl From<bool> for Number {
    fn from(v: bool) -> Self {
        Number::Int(u64::from(v))
    }
}

impl From<f64> for Number {
    fn from(v: f64) -> Self {
        Number::Float(v)
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Number::Int(v) => write!(f, "{v}"),
            Number::Float(v) if v.is_nan() => f.write_str("NaN"),
            Number::Float(v) if v == f64::INFINITY => f.write_str("+Inf"),
            Number::Float(v) if v == f64::NEG_INFINITY => f.write_str("-Inf"),
            Number::Float(v) => write!(f, "{v}"),
        }
    }
}

/// The text being built. Writing to a `String` cannot fail, so the
/// `fmt::Result`s are dropped.
struct Exposition {
    text: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.text, "# TYPE {name} {}", kind.as_str());
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Into<Number>) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (label, label_value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{label}=\"{}\"", escape_label(label_value));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {}", value.into());
    }
}

/// A label value as the format wants it: backslash, double quote and line
/// feed escaped.
fn escape_label(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// HELP text as the format wants it: backslash and line feed escaped.
fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A server's `server` label: "addr:port" (an IPv6 address in
/// brackets), or the bare address when the server has no port of its own.
fn server_label(server: &ServerStats) -> String {
    server.endpoint()
}

type PortField = (&'static str, Kind, &'static str, fn(&PortStats) -> u64);

const PORT_FAMILIES: &[PortField] = &[
    (
        "tandem_port_rx_packets_total",
        Kind::Counter,
        "Packets received on the port.",
        |p| p.rx_packets,
    ),
    (
        "tandem_port_tx_packets_total",
        Kind::Counter,
        "Packets sent on the port.",
        |p| p.tx_packets,
    ),
    (
        "tandem_port_rx_bytes_total",
        Kind::Counter,
        "Bytes received on the port.",
        |p| p.rx_bytes,
    ),
    (
        "tandem_port_tx_bytes_total",
        Kind::Counter,
        "Bytes sent on the port.",
        |p| p.tx_bytes,
    ),
    (
        "tandem_port_rx_missed_total",
        Kind::Counter,
        "Packets the NIC dropped because no receive descriptor was free.",
        |p| p.rx_missed,
    ),
    (
        "tandem_port_rx_errors_total",
        Kind::Counter,
        "Erroneous packets received on the port.",
        |p| p.rx_errors,
    ),
    (
        "tandem_port_tx_errors_total",
        Kind::Counter,
        "Packets the port failed to send.",
        |p| p.tx_errors,
    ),
    (
        "tandem_port_rx_nombuf_total",
        Kind::Counter,
        "Receive buffer allocation failures on the port.",
        |p| p.rx_nombuf,
    ),
    (
        "tandem_port_link_up",
        Kind::Gauge,
        "1 if the port's link is up, else 0.",
        |p| u64::from(p.link_up),
    ),
];

type WorkerField = (&'static str, Kind, &'static str, fn(&WorkerStats) -> u64);

const WORKER_FAMILIES: &[WorkerField] = &[
    (
        "tandem_worker_rx_packets_total",
        Kind::Counter,
        "Packets the worker received from ports and handoff rings.",
        |w| w.rx_packets,
    ),
    (
        "tandem_worker_rx_bytes_total",
        Kind::Counter,
        "Bytes the worker received from ports and handoff rings.",
        |w| w.rx_bytes,
    ),
    (
        "tandem_worker_tx_packets_total",
        Kind::Counter,
        "Packets the worker sent on ports.",
        |w| w.tx_packets,
    ),
    (
        "tandem_worker_tx_bytes_total",
        Kind::Counter,
        "Bytes the worker sent on ports.",
        |w| w.tx_bytes,
    ),
    (
        "tandem_worker_handoffs_in_total",
        Kind::Counter,
        "Frames other workers handed to this worker.",
        |w| w.handoff_in,
    ),
    (
        "tandem_worker_handoffs_out_total",
        Kind::Counter,
        "Frames this worker handed to the worker owning their session.",
        |w| w.handoff_out,
    ),
    (
        "tandem_worker_user_sessions",
        Kind::Gauge,
        "Live user sessions on the worker.",
        |w| w.user_sessions_live,
    ),
    (
        "tandem_worker_user_sessions_created_total",
        Kind::Counter,
        "User sessions the worker opened.",
        |w| w.user_sessions_created,
    ),
    (
        "tandem_worker_user_sessions_expired_total",
        Kind::Counter,
        "User sessions the worker closed on expiry.",
        |w| w.user_sessions_expired,
    ),
    (
        "tandem_worker_arp_replies_total",
        Kind::Counter,
        "ARP replies the worker sent.",
        |w| w.arp_replies,
    ),
    (
        "tandem_worker_icmp_replies_total",
        Kind::Counter,
        "ICMP echo replies the worker sent.",
        |w| w.icmp_replies,
    ),
    (
        "tandem_worker_nd_replies_total",
        Kind::Counter,
        "IPv6 Neighbor Advertisements the worker sent for port addresses.",
        |w| w.nd_replies,
    ),
    (
        "tandem_worker_user_sessions_refused_total",
        Kind::Counter,
        "New user sessions refused because the subscriber is not entitled to the service.",
        |w| w.refused,
    ),
    (
        "tandem_worker_tcp_resets_sent_total",
        Kind::Counter,
        "TCP resets the worker sent.",
        |w| w.rst_sent,
    ),
    (
        "tandem_worker_icmp_errors_sent_total",
        Kind::Counter,
        "ICMP error messages the worker sent.",
        |w| w.icmp_errors_sent,
    ),
    (
        "tandem_worker_nat64_fragmented_total",
        Kind::Counter,
        "NAT64: servers' packets without DF sent to terminals in two IPv6 fragments (too big for the port once translated).",
        |w| w.nat64_fragmented,
    ),
    (
        "tandem_worker_ttl_exceeded_sent_total",
        Kind::Counter,
        "ICMP time exceeded sent for terminal packets whose TTL ran out (also counted as ttl_expired drops).",
        |w| w.ttl_exceeded_sent,
    ),
    (
        "tandem_worker_client_path_moved_total",
        Kind::Counter,
        "User sessions whose way back to the terminal moved to another access port, MAC, VLAN or GTP-U peer.",
        |w| w.client_path_moved,
    ),
    (
        "tandem_worker_client_path_refused_total",
        Kind::Counter,
        "Terminal packets from another path that did not move the client path (out of window TCP, or UDP/ICMP while the current path is active).",
        |w| w.client_path_refused,
    ),
    (
        "tandem_worker_syn_cookies_sent_total",
        Kind::Counter,
        "SYN proxy: SYN-ACKs with a cookie the worker sent instead of opening a user session.",
        |w| w.syn_cookies_sent,
    ),
    (
        "tandem_worker_syn_cookies_valid_total",
        Kind::Counter,
        "SYN proxy: terminal ACKs whose cookie was valid (each opened a user session).",
        |w| w.syn_cookies_valid,
    ),
    (
        "tandem_worker_syn_proxy_opened_total",
        Kind::Counter,
        "SYN proxy: proxied connections whose server handshake completed (spliced).",
        |w| w.syn_proxy_opened,
    ),
    (
        "tandem_worker_mss_clamped_total",
        Kind::Counter,
        "SYN and SYN-ACK segments whose TCP MSS option was lowered to the access port's mss_clamp.",
        |w| w.mss_clamped,
    ),
    (
        "tandem_worker_proxy_headers_inserted_total",
        Kind::Counter,
        "PROXY protocol v2 headers put in front of a terminal's first byte toward a server (re-sends included).",
        |w| w.proxy_headers_inserted,
    ),
    (
        "tandem_worker_bitrate_remarked_total",
        Kind::Counter,
        "Packets over their session ID's bitrate limit forwarded re-marked to their type's over_limit_dscp instead of dropped.",
        |w| w.bitrate_remarked,
    ),
    (
        "tandem_worker_fabric_tx_total",
        Kind::Counter,
        "Cluster fabric: frames sent Geneve-encapsulated (to a gateway, back to a tier-1 unit, second chances).",
        |w| w.fabric_tx,
    ),
    (
        "tandem_worker_fabric_rx_total",
        Kind::Counter,
        "Cluster fabric: frames from cluster members decapsulated and accepted.",
        |w| w.fabric_rx,
    ),
    (
        "tandem_worker_second_chance_total",
        Kind::Counter,
        "Cluster fabric: packets of a draining session forwarded once (hop count 1) to its previous gateway.",
        |w| w.second_chance,
    ),
    (
        "tandem_worker_events_lost_total",
        Kind::Counter,
        "Events (pin requests, accounting) lost because the queue to the control plane was full.",
        |w| w.events_lost,
    ),
    (
        "tandem_worker_busy_polls_total",
        Kind::Counter,
        "Polls of the worker loop that found work.",
        |w| w.busy_polls,
    ),
    (
        "tandem_worker_idle_polls_total",
        Kind::Counter,
        "Polls of the worker loop that found nothing to do.",
        |w| w.idle_polls,
    ),
    (
        "tandem_worker_ring_occupancy",
        Kind::Gauge,
        "Frames waiting in the handoff rings aimed at the worker.",
        |w| w.ring_occupancy,
    ),
    (
        "tandem_worker_ring_capacity",
        Kind::Gauge,
        "Frames the handoff rings aimed at the worker can hold.",
        |w| w.ring_capacity,
    ),
    (
        "tandem_worker_snapshot_generation",
        Kind::Gauge,
        "Generation of the newest snapshot the worker has picked up.",
        |w| w.snapshot_generation,
    ),
];

/// The whole snapshot in the Prometheus text format 0.0.4.
pub fn render(s: &Stats) -> String {
    let mut x = Exposition {
        text: String::with_capacity(16 * 1024),
    };
    ports(&mut x, s);
    workers(&mut x, s);
    port_pools(&mut x, s);
    services(&mut x, s);
    appliance(&mut x, s);
    quota(&mut x, &s.quota);
    if let Some(c) = &s.cluster {
        cluster(&mut x, c);
    }
    x.text
}

/// Usage quotas (issue 15).
fn quota(x: &mut Exposition, q: &crate::api::stats::QuotaStats) {
    let families: [(&str, Kind, &str, Number); 6] = [
        (
            "tandem_quota_thresholds_total",
            Kind::Counter,
            "Quota thresholds crossed (each wrote a quota_threshold record).",
            q.thresholds.into(),
        ),
        (
            "tandem_quota_exhausted_total",
            Kind::Counter,
            "Subscribers' quotas used up.",
            q.exhausted.into(),
        ),
        (
            "tandem_quota_renewed_total",
            Kind::Counter,
            "Used-up quotas lifted again (new period, grant, reset or reload).",
            q.renewed.into(),
        ),
        (
            "tandem_quota_blocked",
            Kind::Gauge,
            "Session IDs whose new user sessions are refused (quota used up, Block).",
            q.blocked.into(),
        ),
        (
            "tandem_quota_throttled",
            Kind::Gauge,
            "Session IDs metered at their quota's throttle rate.",
            q.throttled.into(),
        ),
        (
            "tandem_quota_accounts",
            Kind::Gauge,
            "Session IDs with usage counted against a quota.",
            q.accounts.into(),
        ),
    ];
    for (name, kind, help, value) in families {
        x.family(name, kind, help);
        x.sample(name, &[], value);
    }
}

/// Cluster membership (docs/cluster.md); only on cluster members.
fn cluster(x: &mut Exposition, c: &crate::api::stats::ClusterStats) {
    let families: [(&str, Kind, &str, Number); 5] = [
        (
            "tandem_cluster_etcd_reachable",
            Kind::Gauge,
            "1 while etcd answers; 0: forwarding on the last table, shared changes refused.",
            u64::from(c.etcd_reachable).into(),
        ),
        (
            "tandem_cluster_members",
            Kind::Gauge,
            "Appliances with a live lease in the cluster.",
            c.members.into(),
        ),
        (
            "tandem_cluster_gateways",
            Kind::Gauge,
            "Gateways of all appliances in the steering table.",
            c.gateways.into(),
        ),
        (
            "tandem_cluster_generation",
            Kind::Gauge,
            "The highest etcd revision among the steering table's inputs.",
            u64::try_from(c.generation).unwrap_or(0).into(),
        ),
        (
            "tandem_cluster_digest_mismatch",
            Kind::Gauge,
            "1 when the members' steering-table digests differ.",
            u64::from(c.digest_mismatch).into(),
        ),
    ];
    for (name, kind, help, value) in families {
        x.family(name, kind, help);
        x.sample(name, &[], value);
    }
}

fn ports(x: &mut Exposition, s: &Stats) {
    for &(name, kind, help, value) in PORT_FAMILIES {
        x.family(name, kind, help);
        for p in &s.ports {
            x.sample(name, &[("port", &p.name), ("role", &p.role)], value(p));
        }
    }
}

fn workers(x: &mut Exposition, s: &Stats) {
    let worker_labels: Vec<String> = s.workers.iter().map(|w| w.index.to_string()).collect();
    for &(name, kind, help, value) in WORKER_FAMILIES {
        x.family(name, kind, help);
        for (w, worker) in s.workers.iter().zip(&worker_labels) {
            x.sample(name, &[("worker", worker)], value(w));
        }
    }

    loop_times(x, s, &worker_labels);

    let name = "tandem_worker_drops_total";
    x.family(
        name,
        Kind::Counter,
        "Packets the worker dropped, by reason.",
    );
    for (w, worker) in s.workers.iter().zip(&worker_labels) {
        for (reason, count) in super::drops_by_reason(w) {
            x.sample(name, &[("worker", worker), ("reason", reason)], count);
        }
    }
}

/// The loop-time histogram and the longest iteration since the last scrape.
fn loop_times(x: &mut Exposition, s: &Stats, worker_labels: &[String]) {
    let name = "tandem_worker_loop_seconds";
    x.family(
        name,
        Kind::Histogram,
        "Busy time of the worker's loop iterations (idle back-off sleeps not counted).",
    );
    for (w, worker) in s.workers.iter().zip(worker_labels) {
        let bucket = format!("{name}_bucket");
        for (i, count) in w.loop_times.cumulative.iter().enumerate() {
            let le = w
                .loop_times
                .bounds_ns
                .get(i)
                .map_or_else(|| "+Inf".to_string(), |ns| (*ns as f64 / 1e9).to_string());
            x.sample(&bucket, &[("worker", worker), ("le", &le)], *count);
        }
        x.sample(
            &format!("{name}_sum"),
            &[("worker", worker)],
            w.loop_times.sum_ns as f64 / 1e9,
        );
        x.sample(
            &format!("{name}_count"),
            &[("worker", worker)],
            w.loop_times.count,
        );
    }
    let name = "tandem_worker_loop_max_seconds";
    x.family(
        name,
        Kind::Gauge,
        "The longest busy loop iteration of the worker since the previous scrape.",
    );
    for (w, worker) in s.workers.iter().zip(worker_labels) {
        x.sample(name, &[("worker", worker)], w.loop_max_ns as f64 / 1e9);
    }
}

fn port_pools(x: &mut Exposition, s: &Stats) {
    type PoolField = (
        &'static str,
        &'static str,
        fn(&crate::api::stats::PortPoolStats) -> u64,
    );
    const POOL_FAMILIES: &[PoolField] = &[
        (
            "tandem_port_pool_capacity",
            "Ports of the gateway address owned by the worker.",
            |p| p.capacity,
        ),
        (
            "tandem_port_pool_in_use",
            "Ports of the gateway address held by the worker's user sessions.",
            |p| p.in_use,
        ),
        (
            "tandem_port_pool_quarantined",
            "Released ports of the gateway address waiting out their quarantine.",
            |p| p.quarantined,
        ),
        (
            "tandem_port_pool_free",
            "Ports of the gateway address the worker can hand out now.",
            |p| p.free,
        ),
    ];
    let worker_labels: Vec<String> = s.workers.iter().map(|w| w.index.to_string()).collect();
    for &(name, help, value) in POOL_FAMILIES {
        x.family(name, Kind::Gauge, help);
        for (w, worker) in s.workers.iter().zip(&worker_labels) {
            for pool in &w.port_pools {
                let labels = [
                    ("gateway", pool.gateway_address.as_str()),
                    ("worker", worker),
                ];
                x.sample(name, &labels, value(pool));
            }
        }
    }
}

fn services(x: &mut Exposition, s: &Stats) {
    let name = "tandem_service_info";
    x.family(
        name,
        Kind::Gauge,
        "Configured services with their VIP (\"-\" for none), always 1.",
    );
    for service in &s.services {
        x.sample(
            name,
            &[("service", &service.name), ("vip", &service.vip)],
            1u64,
        );
    }

    type ServerField = (&'static str, &'static str, fn(&ServerStats) -> Number);
    const SERVER_FAMILIES: &[ServerField] = &[
        (
            "tandem_server_weight",
            "Configured weight of the server.",
            |v| v.weight.into(),
        ),
        (
            "tandem_server_user_sessions",
            "Live user sessions on the server, all workers together.",
            |v| v.user_sessions.into(),
        ),
        (
            "tandem_server_healthy",
            "1 if the server passes its health checks, else 0.",
            |v| v.healthy.into(),
        ),
        (
            "tandem_server_reported_load",
            "Load the server last reported about itself.",
            |v| v.reported_load.into(),
        ),
    ];
    // (service, server label, server) for every server.
    let servers: Vec<(&str, String, &ServerStats)> = s
        .services
        .iter()
        .flat_map(|service| {
            service
                .servers
                .iter()
                .map(|server| (service.name.as_str(), server_label(server), server))
        })
        .collect();
    for &(name, help, value) in SERVER_FAMILIES {
        x.family(name, Kind::Gauge, help);
        for (service, server, stats) in &servers {
            x.sample(
                name,
                &[("service", service), ("server", server)],
                value(stats),
            );
        }
    }

    let name = "tandem_server_state";
    x.family(
        name,
        Kind::Gauge,
        "Administrative state of the server (active, draining, down, removed), always 1.",
    );
    for (service, server, stats) in &servers {
        let labels = [
            ("service", *service),
            ("server", server),
            ("state", &stats.state),
        ];
        x.sample(name, &labels, 1u64);
    }
}

/// Families with one sample (or one per snapshot) for the whole appliance.
fn appliance(x: &mut Exposition, s: &Stats) {
    let single: [(&str, Kind, &str, Number); 17] = [
        (
            "tandem_sessions_pinned",
            Kind::Gauge,
            "Sessions pinned to a gateway in the steering table.",
            s.sessions.pinned.into(),
        ),
        (
            "tandem_learned_pins",
            Kind::Gauge,
            "Sessions pinned because of their traffic (capped by steering.learned_pins_max).",
            s.sessions.learned_pins.into(),
        ),
        (
            "tandem_pins_refused_total",
            Kind::Counter,
            "Pin requests refused by the cap or rate on traffic-learned pins.",
            s.sessions.pins_refused.into(),
        ),
        (
            "tandem_arp_unsolicited_ignored_total",
            Kind::Counter,
            "ARP replies to no request of Tandem's, for unknown neighbours: not learned.",
            s.neighbours.arp_unsolicited_ignored.into(),
        ),
        (
            "tandem_neighbour_changes_refused_total",
            Kind::Counter,
            "New MACs for live neighbours that were not confirmed: refused.",
            s.neighbours.neighbour_changes_refused.into(),
        ),
        (
            "tandem_neighbour_changed_total",
            Kind::Counter,
            "New MACs for neighbours confirmed by a reply to Tandem's request.",
            s.neighbours.neighbour_changed.into(),
        ),
        (
            "tandem_steering_gateways",
            Kind::Gauge,
            "Gateways the steering table spreads sessions over.",
            s.sessions.gateways.into(),
        ),
        (
            "tandem_accounting_records_total",
            Kind::Counter,
            "Accounting records produced.",
            s.accounting.records.into(),
        ),
        (
            "tandem_accounting_exported_total",
            Kind::Counter,
            "Accounting records the exporters delivered.",
            s.accounting.exported.into(),
        ),
        (
            "tandem_accounting_export_errors_total",
            Kind::Counter,
            "Failed attempts to export accounting records.",
            s.accounting.export_errors.into(),
        ),
        (
            "tandem_accounting_lost_total",
            Kind::Counter,
            "Accounting records lost before export.",
            s.accounting.lost.into(),
        ),
        (
            "tandem_mbufs_in_use",
            Kind::Gauge,
            "Packet buffers taken from the pools.",
            s.mbufs_in_use.into(),
        ),
        (
            "tandem_mbufs_capacity",
            Kind::Gauge,
            "Packet buffers in the pools, taken or not.",
            s.mbufs_total.into(),
        ),
        (
            "tandem_control_clients",
            Kind::Gauge,
            "Clients connected to the control socket.",
            s.control_clients.connected.into(),
        ),
        (
            "tandem_control_clients_refused_total",
            Kind::Counter,
            "Control socket clients refused because every place was busy with a request.",
            s.control_clients.refused.into(),
        ),
        (
            "tandem_control_clients_evicted_total",
            Kind::Counter,
            "Idle control socket clients hung up on to make room for a new one.",
            s.control_clients.evicted.into(),
        ),
        (
            "tandem_uptime_seconds",
            Kind::Gauge,
            "Seconds since the appliance started.",
            s.uptime_s.into(),
        ),
    ];
    for (name, kind, help, value) in single {
        x.family(name, kind, help);
        x.sample(name, &[], value);
    }

    type SnapshotField = (
        &'static str,
        &'static str,
        fn(&crate::api::stats::SnapshotStats) -> Number,
    );
    const SNAPSHOT_FAMILIES: &[SnapshotField] = &[
        (
            "tandem_snapshot_generation",
            "Generation of the newest published snapshot.",
            |v| v.generation.into(),
        ),
        (
            "tandem_snapshot_oldest_reader_generation",
            "Oldest snapshot generation a worker still reads.",
            |v| v.oldest_reader_generation.into(),
        ),
        (
            "tandem_snapshot_age_seconds",
            "Seconds since the snapshot was last published.",
            |v| v.age_s.into(),
        ),
        (
            "tandem_snapshot_retired",
            "Old snapshots waiting for every worker to move past them.",
            |v| v.retired.into(),
        ),
    ];
    for &(name, help, value) in SNAPSHOT_FAMILIES {
        x.family(name, Kind::Gauge, help);
        for snapshot in &s.snapshots {
            x.sample(name, &[("snapshot", &snapshot.name)], value(snapshot));
        }
    }

    let name = "tandem_build_info";
    x.family(
        name,
        Kind::Gauge,
        "Version of the running tandem binary, always 1.",
    );
    x.sample(name, &[("version", &s.version)], 1u64);
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::io::Write as _;
    use std::process::{Command, Stdio};

    use dataplane::counters::N_DROP_REASONS;

    use super::*;
    use crate::metrics::sample;

    fn lines(text: &str) -> Vec<&str> {
        text.lines().collect()
    }

    #[test]
    fn samples_are_written_exactly() {
        let text = render(&sample::stats());
        let lines = lines(&text);
        for expected in [
            "tandem_port_rx_packets_total{port=\"access0\",role=\"access\"} 1000",
            "tandem_port_tx_bytes_total{port=\"server0\",role=\"server\"} 200001",
            "tandem_port_link_up{port=\"access0\",role=\"access\"} 1",
            "tandem_port_link_up{port=\"server0\",role=\"server\"} 0",
            "tandem_worker_rx_packets_total{worker=\"1\"} 700",
            "tandem_worker_user_sessions{worker=\"0\"} 50",
            "tandem_worker_ring_occupancy{worker=\"1\"} 3",
            "tandem_worker_syn_cookies_sent_total{worker=\"0\"} 6",
            "tandem_worker_syn_cookies_valid_total{worker=\"1\"} 7",
            "tandem_worker_syn_proxy_opened_total{worker=\"0\"} 8",
            "tandem_worker_mss_clamped_total{worker=\"1\"} 9",
            "tandem_worker_proxy_headers_inserted_total{worker=\"0\"} 10",
            "tandem_worker_drops_total{worker=\"0\",reason=\"syn_cookie_invalid\"} 0",
            "tandem_worker_drops_total{worker=\"1\",reason=\"table_full\"} 7",
            "tandem_worker_drops_total{worker=\"1\",reason=\"ip_fragment\"} 2",
            "tandem_worker_drops_total{worker=\"0\",reason=\"table_full\"} 0",
            "tandem_port_pool_in_use{gateway=\"100.64.0.1\",worker=\"1\"} 70",
            "tandem_port_pool_free{gateway=\"100.64.0.1\",worker=\"0\"} 945",
            "tandem_service_info{service=\"dns\",vip=\"-\"} 1",
            "tandem_server_user_sessions{service=\"web\",server=\"10.1.0.1:80\"} 30",
            "tandem_server_healthy{service=\"web\",server=\"10.1.0.2:8080\"} 0",
            "tandem_server_weight{service=\"dns\",server=\"10.2.0.1\"} 10",
            "tandem_server_state{service=\"web\",server=\"10.1.0.2:8080\",state=\"draining\"} 1",
            "tandem_server_state{service=\"dns\",server=\"10.2.0.2:53\",state=\"down\"} 1",
            "tandem_sessions_pinned 17",
            "tandem_accounting_lost_total 2",
            "tandem_snapshot_age_seconds{snapshot=\"steering\"} 1.5",
            "tandem_snapshot_retired{snapshot=\"policy\"} 0",
            "tandem_mbufs_capacity 65535",
            "tandem_uptime_seconds 3600",
            "tandem_control_clients 1",
            "tandem_control_clients_refused_total 2",
            "tandem_control_clients_evicted_total 3",
            "# TYPE tandem_control_clients_evicted_total counter",
            "tandem_build_info{version=\"0.1.0\"} 1",
            "# TYPE tandem_worker_drops_total counter",
            "# TYPE tandem_worker_user_sessions gauge",
            "# HELP tandem_uptime_seconds Seconds since the appliance started.",
        ] {
            assert!(lines.contains(&expected), "missing line {expected:?}");
        }
    }

    #[test]
    fn every_worker_reports_every_drop_reason() {
        let text = render(&sample::stats());
        for worker in ["0", "1"] {
            let prefix = format!("tandem_worker_drops_total{{worker=\"{worker}\",");
            let reported = text.lines().filter(|l| l.starts_with(&prefix)).count();
            assert_eq!(reported, N_DROP_REASONS, "worker {worker}");
        }
        // A reason the stats leave out is still reported, as zero; one this
        // build does not know is kept.
        let mut s = sample::stats();
        s.workers[0].drops = vec![("from_the_future".into(), 9)];
        let text = render(&s);
        assert!(text
            .lines()
            .any(|l| l == "tandem_worker_drops_total{worker=\"0\",reason=\"no_route\"} 0"));
        assert!(text
            .lines()
            .any(|l| l == "tandem_worker_drops_total{worker=\"0\",reason=\"from_the_future\"} 9"));
    }

    /// Name of the family a sample line belongs to.
    fn sample_name(line: &str) -> &str {
        line.split(['{', ' ']).next().unwrap_or(line)
    }

    #[test]
    fn loop_times_are_a_histogram_in_seconds_and_a_max_gauge() {
        let text = render(&sample::stats());
        let has = |l: &str| text.lines().any(|x| x == l);
        assert!(has("# TYPE tandem_worker_loop_seconds histogram"));
        assert!(has(
            "tandem_worker_loop_seconds_bucket{worker=\"0\",le=\"0.00001\"} 900"
        ));
        assert!(has(
            "tandem_worker_loop_seconds_bucket{worker=\"0\",le=\"0.0025\"} 1001"
        ));
        assert!(has(
            "tandem_worker_loop_seconds_bucket{worker=\"0\",le=\"+Inf\"} 1001"
        ));
        assert!(has("tandem_worker_loop_seconds_count{worker=\"0\"} 1001"));
        assert!(has("tandem_worker_loop_max_seconds{worker=\"0\"} 0.0015"));
    }

    #[test]
    fn every_family_is_declared_once_and_samples_follow_their_declaration() {
        let text = render(&sample::stats());
        let mut helps: HashMap<&str, usize> = HashMap::new();
        let mut types: HashMap<&str, &str> = HashMap::new();
        let mut current: Option<&str> = None;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let name = rest.split(' ').next().unwrap_or("");
                *helps.entry(name).or_default() += 1;
                current = None;
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut parts = rest.split(' ');
                let (name, kind) = (parts.next().unwrap(), parts.next().unwrap());
                assert!(types.insert(name, kind).is_none(), "{name} typed twice");
                assert_eq!(helps.get(name), Some(&1), "{name}: HELP before TYPE");
                current = Some(name);
            } else {
                let mut name = sample_name(line);
                // A histogram's samples are its name plus a suffix.
                if current.and_then(|c| types.get(c)) == Some(&"histogram") {
                    for suffix in ["_bucket", "_sum", "_count"] {
                        name = name.strip_suffix(suffix).unwrap_or(name);
                    }
                }
                assert_eq!(Some(name), current, "stray sample {line:?}");
            }
        }
        assert_eq!(helps.len(), types.len());
        assert!(helps.values().all(|&n| n == 1));
        for (name, kind) in &types {
            assert!(name.starts_with("tandem_"), "{name}");
            assert_eq!(
                name.ends_with("_total"),
                *kind == "counter",
                "{name} {kind}"
            );
        }
        // Every family, the empty ones too, exists without any stats.
        let empty = render(&Stats::default());
        let empty_types = empty.lines().filter(|l| l.starts_with("# TYPE ")).count();
        assert_eq!(empty_types, types.len());
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape_label("two\nlines"), "two\\nlines");
        assert_eq!(escape_help("back\\slash\nnew"), "back\\\\slash\\nnew");

        let mut s = sample::stats();
        s.services[0].name = "we\"b\\1\n".into();
        let text = render(&s);
        let expected = r#"tandem_server_weight{service="we\"b\\1\n",server="10.1.0.1:80"} 10"#;
        assert!(text.lines().any(|l| l == expected), "{text}");
        // No raw line feed leaks into a sample.
        assert!(text
            .lines()
            .all(|l| l.starts_with('#') || l.starts_with("tandem_")));
    }

    #[test]
    fn special_floats_use_the_format_spelling() {
        assert_eq!(Number::Float(f64::NAN).to_string(), "NaN");
        assert_eq!(Number::Float(f64::INFINITY).to_string(), "+Inf");
        assert_eq!(Number::Float(f64::NEG_INFINITY).to_string(), "-Inf");
        assert_eq!(Number::Float(0.25).to_string(), "0.25");
        assert_eq!(Number::Int(u64::MAX).to_string(), "18446744073709551615");
    }

    /// Runs `promtool check metrics` on `text`: `None` when promtool is
    /// not installed, else its verdict and report.
    fn promtool_check(text: &str) -> Option<(bool, String)> {
        let child = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match child {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => panic!("cannot run promtool: {e}"),
        };
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(text.as_bytes()).unwrap();
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        let report = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Some((out.status.success(), report))
    }

    /// `promtool check metrics` parses the text and lints it (names, units,
    /// HELP). Needs the Debian package `prometheus` (`apt-get install -y
    /// prometheus`, or `scripts/setup.sh --test-tools`).
    #[test]
    fn promtool_accepts_the_output() {
        let mut s = sample::stats();
        s.services[1].name = "quote\"back\\slash".into();
        let Some((ok, report)) = promtool_check(&render(&s)) else {
            println!("SKIPPED: promtool not installed (apt-get install -y prometheus)");
            return;
        };
        assert!(ok, "promtool refused the metrics:\n{report}");
        // Empty families (no ports, workers, services yet) too.
        let (ok, report) = promtool_check(&render(&Stats::default())).unwrap();
        assert!(ok, "promtool refused the empty metrics:\n{report}");
        // And the check is a real one: a counter without `_total` fails.
        let bad = "# HELP tandem_bad Bad.\n# TYPE tandem_bad counter\ntandem_bad 1\n";
        let (ok, _) = promtool_check(bad).unwrap();
        assert!(!ok, "promtool accepted a counter without _total");
    }
}
