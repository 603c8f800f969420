//! A small but complete [`Stats`] for the tests of this module: two ports,
//! two workers, two services with two servers each, two snapshots.

use dataplane::counters::DropReason;

use crate::api::stats::{
    AccountingStats, PortPoolStats, PortStats, ServerStats, ServiceStats, SessionStats,
    SnapshotStats, Stats, WorkerStats,
};

fn port(name: &str, role: &str, base: u64, link_up: bool) -> PortStats {
    PortStats {
        name: name.into(),
        device: format!("net_null_{name}"),
        role: role.into(),
        mac: "02:00:00:00:00:01".into(),
        addresses: vec!["192.0.2.1/24".into()],
        link_up,
        link_source: String::new(),
        speed_mbps: 10_000,
        rx_packets: base,
        tx_packets: base + 1,
        rx_bytes: base * 100,
        tx_bytes: base * 100 + 1,
        rx_missed: 3,
        rx_errors: 4,
        tx_errors: 5,
        rx_nombuf: 6,
    }
}

fn worker(index: u16, base: u64) -> WorkerStats {
    // Every reason, zeros included, as the control plane reports them;
    // worker 1 has 7 `table_full` drops and 2 `ip_fragment` drops.
    let drops = DropReason::ALL
        .iter()
        .map(|r| {
            let count = match (index, r) {
                (1, DropReason::TableFull) => 7,
                (1, DropReason::Fragment) => 2,
                _ => 0,
            };
            (r.as_str().to_string(), count)
        })
        .collect();
    WorkerStats {
        index,
        lcore: u32::from(index) + 1,
        rx_packets: base,
        rx_bytes: base * 64,
        tx_packets: base - 1,
        tx_bytes: base * 64 - 64,
        handoff_in: 11,
        handoff_out: 12,
        user_sessions_live: base / 10,
        user_sessions_created: base / 5,
        user_sessions_expired: base / 10,
        arp_replies: 1,
        icmp_replies: 2,
        nd_replies: 9,
        refused: 5,
        rst_sent: 3,
        icmp_errors_sent: 4,
        nat64_fragmented: 0,
        ttl_exceeded_sent: 6,
        client_path_moved: 7,
        client_path_refused: 8,
        events_lost: u64::from(index),
        syn_cookies_sent: 6,
        syn_cookies_valid: 7,
        syn_proxy_opened: 8,
        mss_clamped: 9,
        proxy_headers_inserted: 10,
        bitrate_remarked: 4,
        fabric_tx: 10,
        fabric_rx: 11,
        second_chance: 12,
        busy_polls: 100,
        idle_polls: 900,
        drops,
        port_pools: vec![PortPoolStats {
            gateway_address: "100.64.0.1".into(),
            capacity: 1000,
            in_use: base / 10,
            quarantined: 5,
            free: 1000 - base / 10 - 5,
        }],
        ring_occupancy: u64::from(index) * 3,
        ring_capacity: 1024,
        snapshot_generation: 42,
        loop_max_ns: 1_500_000,
        loop_times: crate::api::stats::LoopStats {
            bounds_ns: dataplane::loop_times::LOOP_BUCKETS_NS.to_vec(),
            // 900 idle-fast iterations, 100 slower, one of 1.5 ms.
            cumulative: vec![
                900, 990, 1000, 1000, 1000, 1000, 1001, 1001, 1001, 1001, 1001,
            ],
            count: 1001,
            sum_ns: 900 * 2_000 + 90 * 20_000 + 10 * 60_000 + 1_500_000,
        },
    }
}

fn server(addr: &str, port: Option<u16>, state: &str, user_sessions: u64) -> ServerStats {
    ServerStats {
        addr: addr.into(),
        port,
        weight: 10,
        state: state.into(),
        healthy: state == "active",
        user_sessions,
        reported_load: 55,
        down_events: 0,
    }
}

pub fn stats() -> Stats {
    Stats {
        version: "0.1.0".into(),
        uptime_s: 3600,
        ports: vec![
            port("access0", "access", 1000, true),
            port("server0", "server", 2000, false),
        ],
        workers: vec![worker(0, 500), worker(1, 700)],
        services: vec![
            ServiceStats {
                name: "web".into(),
                vip: "10.9.0.1:80/tcp".into(),
                servers: vec![
                    server("10.1.0.1", Some(80), "active", 30),
                    server("10.1.0.2", Some(8080), "draining", 4),
                ],
            },
            ServiceStats {
                name: "dns".into(),
                vip: "-".into(),
                servers: vec![
                    server("10.2.0.1", None, "active", 8),
                    server("10.2.0.2", Some(53), "down", 0),
                ],
            },
        ],
        sessions: SessionStats {
            pinned: 17,
            gateways: 2,
            learned_pins: 15,
            pins_refused: 4,
        },
        accounting: AccountingStats {
            records: 100,
            exported: 98,
            export_errors: 1,
            lost: 2,
        },
        snapshots: vec![
            SnapshotStats {
                name: "steering".into(),
                generation: 42,
                oldest_reader_generation: 41,
                age_s: 1.5,
                retired: 1,
            },
            SnapshotStats {
                name: "policy".into(),
                generation: 3,
                oldest_reader_generation: 3,
                age_s: 120.0,
                retired: 0,
            },
        ],
        mbufs_in_use: 4096,
        mbufs_total: 65535,
        control_clients: crate::api::stats::ControlClientStats {
            connected: 1,
            refused: 2,
            evicted: 3,
        },
        neighbours: Default::default(),
        quota: crate::api::stats::QuotaStats {
            thresholds: 3,
            exhausted: 1,
            renewed: 0,
            blocked: 1,
            throttled: 0,
            accounts: 2,
        },
        cluster: None,
    }
}
