//! A plain-data picture of the running appliance, taken by the control
//! plane on request. `tandem ctl` shows it as tables, the Prometheus
//! endpoint and DPDK telemetry render it as metrics.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Stats {
    pub version: String,
    pub uptime_s: u64,
    pub ports: Vec<PortStats>,
    pub workers: Vec<WorkerStats>,
    pub services: Vec<ServiceStats>,
    pub sessions: SessionStats,
    pub accounting: AccountingStats,
    pub snapshots: Vec<SnapshotStats>,
    pub mbufs_in_use: u32,
    pub mbufs_total: u32,
    /// Clients of the control socket.
    #[serde(default)]
    pub control_clients: ControlClientStats,
    #[serde(default)]
    pub neighbours: NeighbourStats,
    /// Usage quotas: what the ledger reported, who is blocked or throttled.
    #[serde(default)]
    pub quota: QuotaStats,
    /// Cluster membership (absent for a stand-alone appliance).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterStats>,
}

/// What the control loop knows of the cluster (docs/cluster.md).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ClusterStats {
    pub etcd_reachable: bool,
    /// Appliances with a live lease, as last read.
    pub members: u64,
    /// Gateways in the steering table (all appliances).
    pub gateways: u64,
    /// The highest etcd revision among the table's inputs.
    pub generation: i64,
    /// Members' table digests disagree.
    pub digest_mismatch: bool,
}

/// The control socket's clients (see `api::clients`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ControlClientStats {
    pub connected: u64,
    /// New clients refused: every place was busy with a request.
    pub refused: u64,
    /// Idle clients hung up on to make room for a new one.
    pub evicted: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PortStats {
    pub name: String,
    pub device: String,
    /// "access", "server" or "external".
    pub role: String,
    pub mac: String,
    pub addresses: Vec<String>,
    pub link_up: bool,
    /// Where `link_up` was read when not from DPDK: `netns NAME` for a
    /// net_tap interface moved into that named network namespace, or why
    /// it could not be read. Empty: DPDK's answer.
    #[serde(default)]
    pub link_source: String,
    pub speed_mbps: u32,
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub rx_missed: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
    pub rx_nombuf: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WorkerStats {
    pub index: u16,
    pub lcore: u32,
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub handoff_in: u64,
    pub handoff_out: u64,
    pub user_sessions_live: u64,
    pub user_sessions_created: u64,
    pub user_sessions_expired: u64,
    pub arp_replies: u64,
    pub icmp_replies: u64,
    /// Neighbor Advertisements sent for a port's IPv6 address.
    #[serde(default)]
    pub nd_replies: u64,
    /// New user sessions refused: the subscriber is not entitled.
    #[serde(default)]
    pub refused: u64,
    pub rst_sent: u64,
    pub icmp_errors_sent: u64,
    /// NAT64: servers' packets without DF sent to terminals in two IPv6
    /// fragments (too big for the port once translated).
    #[serde(default)]
    pub nat64_fragmented: u64,
    /// ICMP time exceeded sent for terminal packets whose TTL ran out.
    #[serde(default)]
    pub ttl_exceeded_sent: u64,
    /// User sessions whose client path moved (terminal mobility).
    #[serde(default)]
    pub client_path_moved: u64,
    /// Terminal packets from another path that did not move the client
    /// path (no evidence the sender is the terminal).
    #[serde(default)]
    pub client_path_refused: u64,
    pub events_lost: u64,
    /// SYN proxy: cookie SYN-ACKs sent.
    #[serde(default)]
    pub syn_cookies_sent: u64,
    /// SYN proxy: terminal ACKs with a valid cookie.
    #[serde(default)]
    pub syn_cookies_valid: u64,
    /// SYN proxy: connections whose server handshake completed.
    #[serde(default)]
    pub syn_proxy_opened: u64,
    /// SYN and SYN-ACK segments whose MSS was lowered to `mss_clamp`.
    #[serde(default)]
    pub mss_clamped: u64,
    /// PROXY protocol v2 headers inserted toward servers (re-sends included).
    #[serde(default)]
    pub proxy_headers_inserted: u64,
    /// Packets over a bitrate limit forwarded re-marked (`over_limit_dscp`).
    #[serde(default)]
    pub bitrate_remarked: u64,
    /// Cluster fabric: frames sent encapsulated (to gateways, to tier-1
    /// units, second chances).
    #[serde(default)]
    pub fabric_tx: u64,
    /// Cluster fabric: frames received from members and decapsulated.
    #[serde(default)]
    pub fabric_rx: u64,
    /// Cluster fabric: packets forwarded once to a session's previous
    /// gateway (second chance).
    #[serde(default)]
    pub second_chance: u64,
    pub busy_polls: u64,
    pub idle_polls: u64,
    /// (reason label, count) for every reason, zeros included.
    pub drops: Vec<(String, u64)>,
    /// Port pool use per gateway address.
    pub port_pools: Vec<PortPoolStats>,
    /// Frames waiting in the handoff rings aimed at this worker.
    pub ring_occupancy: u64,
    pub ring_capacity: u64,
    /// Generation of the newest snapshot this worker has picked up.
    pub snapshot_generation: u64,
    /// The longest busy loop iteration since the last metrics scrape.
    #[serde(default)]
    pub loop_max_ns: u64,
    /// How long the worker's loop iterations take.
    #[serde(default)]
    pub loop_times: LoopStats,
}

/// Histogram of a worker's busy loop-iteration times.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct LoopStats {
    /// Upper bounds of the buckets, in nanoseconds (+Inf implied last).
    pub bounds_ns: Vec<u64>,
    /// Iterations at most each bound; the last entry counts every one.
    pub cumulative: Vec<u64>,
    pub count: u64,
    pub sum_ns: u64,
}

impl From<dataplane::loop_times::LoopHistogram> for LoopStats {
    fn from(h: dataplane::loop_times::LoopHistogram) -> Self {
        LoopStats {
            bounds_ns: dataplane::loop_times::LOOP_BUCKETS_NS.to_vec(),
            cumulative: h.cumulative,
            count: h.count,
            sum_ns: h.sum_ns,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PortPoolStats {
    pub gateway_address: String,
    pub capacity: u64,
    pub in_use: u64,
    pub quarantined: u64,
    pub free: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ServiceStats {
    pub name: String,
    /// "10.9.0.1:80/tcp", or "-" for a pool without VIP.
    pub vip: String,
    pub servers: Vec<ServerStats>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ServerStats {
    pub addr: String,
    pub port: Option<u16>,
    pub weight: u32,
    /// "active", "draining", "down" or "removed".
    pub state: String,
    pub healthy: bool,
    /// Live user sessions on all workers.
    pub user_sessions: u64,
    pub reported_load: u32,
    /// Times health checks took it down since start.
    #[serde(default)]
    pub down_events: u64,
}

impl ServerStats {
    /// "addr:port" (an IPv6 address in brackets), or the bare address
    /// when the server has no port of its own: how tables and metric
    /// labels name a server.
    pub fn endpoint(&self) -> String {
        match self.port {
            Some(port) if self.addr.contains(':') => format!("[{}]:{port}", self.addr),
            Some(port) => format!("{}:{port}", self.addr),
            None => self.addr.clone(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SessionStats {
    pub pinned: u64,
    pub gateways: u64,
    /// Pins learned from traffic (the part `steering.learned_pins_max` caps).
    #[serde(default)]
    pub learned_pins: u64,
    /// Pin requests refused by `learned_pins_max` / `learned_pins_per_s`.
    #[serde(default)]
    pub pins_refused: u64,
}

/// What the control plane did with ARP that would change a neighbour.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NeighbourStats {
    /// ARP replies to no request of ours, for an unknown neighbour: ignored.
    pub arp_unsolicited_ignored: u64,
    /// A new MAC for a live neighbour that its old MAC contradicted, or
    /// that did not answer our confirming request: refused.
    pub neighbour_changes_refused: u64,
    /// A new MAC for a neighbour, confirmed by a reply to our request.
    pub neighbour_changed: u64,
}

/// What the usage-quota ledger has done (`runtime::quota`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct QuotaStats {
    /// Thresholds crossed (each wrote a `quota_threshold` record).
    pub thresholds: u64,
    /// Quotas used up.
    pub exhausted: u64,
    /// Used-up quotas lifted again (new period, grant, reset, reload).
    pub renewed: u64,
    /// Session IDs blocked / throttled now.
    pub blocked: u64,
    pub throttled: u64,
    /// Session IDs with an account this run.
    pub accounts: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AccountingStats {
    pub records: u64,
    pub exported: u64,
    pub export_errors: u64,
    pub lost: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SnapshotStats {
    /// "steering", "policy", "neighbours", "loads".
    pub name: String,
    pub generation: u64,
    /// Oldest generation a worker still reads.
    pub oldest_reader_generation: u64,
    /// Seconds since it was last published.
    pub age_s: f64,
    /// Old snapshots waiting for every worker to move past them.
    pub retired: u64,
}
