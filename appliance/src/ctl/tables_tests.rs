//! Each answer shape renders as the table an operator reads, from sample
//! data serialized the way the appliance serializes it.

use super::request::View;
use super::tables::{duration, render};
use crate::api::stats::{
    AccountingStats, PortPoolStats, PortStats, ServerStats, ServiceStats, SessionStats,
    SnapshotStats, Stats, WorkerStats,
};
use serde_json::{json, Value};

fn worker(index: u16, drops: &[(&str, u64)]) -> WorkerStats {
    WorkerStats {
        index,
        lcore: u32::from(index) + 1,
        rx_packets: 1000 * u64::from(index + 1),
        tx_packets: 900,
        handoff_in: 7,
        handoff_out: 8,
        user_sessions_live: 40,
        user_sessions_created: 100,
        user_sessions_expired: 60,
        busy_polls: 1,
        idle_polls: 3,
        drops: drops.iter().map(|(r, n)| (r.to_string(), *n)).collect(),
        port_pools: vec![PortPoolStats {
            gateway_address: "10.2.0.1".into(),
            capacity: 1000,
            in_use: 40,
            quarantined: 5,
            free: 955,
        }],
        ring_occupancy: 3,
        ring_capacity: 1024,
        snapshot_generation: 12,
        ..WorkerStats::default()
    }
}

fn port(name: &str, role: &str, up: bool) -> PortStats {
    PortStats {
        name: name.into(),
        device: format!("net_tap_{name}"),
        role: role.into(),
        mac: "02:00:00:00:00:01".into(),
        addresses: vec!["10.1.0.1/24".into()],
        link_up: up,
        speed_mbps: 10000,
        rx_packets: 5,
        ..PortStats::default()
    }
}

fn sample_stats() -> Stats {
    Stats {
        version: "0.1.0".into(),
        uptime_s: 90_061,
        ports: vec![
            port("access", "access", true),
            port("servers", "server", false),
        ],
        workers: vec![
            worker(0, &[("no_route", 2), ("reply_mismatch", 0)]),
            worker(1, &[("no_route", 3), ("handoff_ring_full", 9)]),
        ],
        services: vec![ServiceStats {
            name: "web".into(),
            vip: "10.9.0.1:80/tcp".into(),
            servers: vec![ServerStats::default(), ServerStats::default()],
        }],
        sessions: SessionStats {
            pinned: 17,
            gateways: 2,
            learned_pins: 15,
            pins_refused: 4,
        },
        accounting: AccountingStats {
            records: 10,
            exported: 9,
            export_errors: 0,
            lost: 1,
        },
        snapshots: vec![SnapshotStats {
            name: "steering".into(),
            generation: 12,
            oldest_reader_generation: 11,
            age_s: 2.34,
            retired: 1,
        }],
        mbufs_in_use: 300,
        mbufs_total: 8191,
        neighbours: Default::default(),
        cluster: None,
        ..Stats::default()
    }
}

fn to_value<T: serde::Serialize>(t: &T) -> Value {
    serde_json::to_value(t).unwrap()
}

fn line_with<'a>(text: &'a str, start: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(start))
        .unwrap_or_else(|| panic!("no line starting with {start:?} in\n{text}"))
}

fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

#[test]
fn durations() {
    assert_eq!(duration(0), "00:00:00");
    assert_eq!(duration(3_725), "01:02:05");
    assert_eq!(duration(90_061), "1d 01:01:01");
}

#[test]
fn status_sums_workers_and_lists_snapshots() {
    let text = render(&View::Status, &to_value(&sample_stats())).unwrap();
    assert_eq!(words(line_with(&text, "version")), ["version", "0.1.0"]);
    assert_eq!(
        words(line_with(&text, "uptime")),
        ["uptime", "1d", "01:01:01"]
    );
    assert_eq!(
        words(line_with(&text, "ports")),
        ["ports", "2", "(1", "link", "up)"]
    );
    assert_eq!(
        words(line_with(&text, "rx packets")),
        ["rx", "packets", "3000"]
    );
    assert_eq!(words(line_with(&text, "drops")), ["drops", "14"]);
    assert_eq!(
        words(line_with(&text, "user sessions")),
        ["user", "sessions", "80"]
    );
    assert_eq!(
        words(line_with(&text, "pinned sessions")),
        ["pinned", "sessions", "17"]
    );
    assert_eq!(
        words(line_with(&text, "services")),
        ["services", "1", "(2", "servers)"]
    );
    assert!(line_with(&text, "mbufs").ends_with("300 of 8191 in use"));
    assert!(line_with(&text, "control clients").ends_with("0 connected, 0 refused, 0 evicted"));
    assert_eq!(
        words(line_with(&text, "steering")),
        ["steering", "12", "11", "2.3", "1"]
    );
    // Values line up in one column.
    let col = line_with(&text, "version").find("0.1.0").unwrap();
    assert_eq!(line_with(&text, "mbufs").find("300").unwrap(), col);
}

#[test]
fn ports_table_has_a_row_per_port_with_link_state() {
    let stats = sample_stats();
    let text = render(&View::Ports, &to_value(&stats.ports)).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("port"));
    assert_eq!(
        &words(lines[1])[..7],
        [
            "access",
            "net_tap_access",
            "access",
            "02:00:00:00:00:01",
            "up",
            "dpdk",
            "10000"
        ]
    );
    assert_eq!(words(lines[2])[4], "down");
    // A state read in another namespace says where.
    let mut moved = stats.ports.clone();
    moved[0].link_source = "netns lab1".into();
    moved[1].link_source = "acc7 is in no namespace tandem can see".into();
    let text = render(&View::Ports, &to_value(&moved)).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(&words(lines[1])[4..6], ["up", "netns:lab1"]);
    assert_eq!(&words(lines[2])[4..6], ["down", "unknown"]);
    assert_eq!(words(lines[2]).last(), Some(&"10.1.0.1/24"));
    // Numeric columns are right-aligned: the rx_packets values end where the header ends.
    let header_end = lines[0].find("rx_packets").unwrap() + "rx_packets".len();
    assert_eq!(&lines[1][header_end - 1..header_end], "5");
}

#[test]
fn workers_show_totals_nonzero_drops_and_port_pools() {
    let stats = sample_stats();
    let text = render(&View::Workers, &to_value(&stats.workers)).unwrap();
    let first = words(text.lines().nth(1).unwrap());
    // worker lcore rx tx hin hout sessions created expired drops ring snapshot busy
    assert_eq!(
        first,
        ["0", "1", "1000", "900", "7", "8", "40", "100", "60", "2", "3/1024", "12", "25.0%"]
    );
    assert!(text.contains("drops:\n"));
    assert_eq!(
        text.lines()
            .filter(|l| words(l) == ["1", "handoff_ring_full", "9"])
            .count(),
        1,
        "{text}"
    );
    assert!(
        !text.contains("reply_mismatch"),
        "zero drops are left out:\n{text}"
    );
    assert!(text.contains("port pools:\n"));
    assert_eq!(
        text.lines()
            .filter(|l| words(l) == ["0", "10.2.0.1", "1000", "40", "5", "955"])
            .count(),
        1,
        "{text}"
    );
}

#[test]
fn stats_summary_totals_drops_by_reason_biggest_first() {
    let text = render(&View::StatsSummary, &to_value(&sample_stats())).unwrap();
    let drops = text.split("drops:\n").nth(1).unwrap();
    let rows: Vec<Vec<&str>> = drops.lines().skip(1).map(words).collect();
    assert_eq!(
        rows,
        [vec!["handoff_ring_full", "9"], vec!["no_route", "5"]]
    );
    assert!(text.starts_with("ports:\n"));
    assert!(text.contains("\nworkers:\n"));
}

#[test]
fn services_list_each_service_then_its_servers() {
    let services = vec![
        ServiceStats {
            name: "web".into(),
            vip: "10.9.0.1:80/tcp".into(),
            servers: vec![
                ServerStats {
                    addr: "10.2.0.21".into(),
                    port: Some(8080),
                    weight: 2,
                    state: "active".into(),
                    healthy: true,
                    user_sessions: 120,
                    reported_load: 30,
                    down_events: 0,
                },
                ServerStats {
                    addr: "10.2.0.22".into(),
                    port: None,
                    weight: 1,
                    state: "draining".into(),
                    healthy: false,
                    user_sessions: 4,
                    reported_load: 0,
                    down_events: 0,
                },
            ],
        },
        ServiceStats {
            name: "dns".into(),
            vip: "-".into(),
            servers: vec![],
        },
    ];
    let text = render(&View::Services, &to_value(&services)).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    assert_eq!(
        words(lines[0]),
        [
            "service",
            "vip",
            "weight",
            "state",
            "healthy",
            "user_sessions",
            "load"
        ]
    );
    assert_eq!(words(lines[1]), ["web", "10.9.0.1:80/tcp"]);
    assert_eq!(
        words(lines[2]),
        ["->", "10.2.0.21:8080", "2", "active", "yes", "120", "30"]
    );
    assert_eq!(
        words(lines[3]),
        ["->", "10.2.0.22", "1", "draining", "no", "4", "0"]
    );
    assert_eq!(words(lines[4]), ["dns", "-"]);
    assert!(lines[2].starts_with("  -> "));
    // The state column starts at the same place on every server line.
    assert_eq!(lines[2].find("active"), lines[3].find("draining"));
}

#[test]
fn sessions_show_known_columns_in_order_then_new_ones() {
    let data = json!([
        {"last_seen_ms": 20, "id": "10.1.0.5", "gateway": 1, "origin": "traffic", "created_ms": 10, "zone": "b"},
        {"id": "teid:0x10", "gateway": 0, "origin": "api", "created_ms": 11, "last_seen_ms": 21}
    ]);
    let text = render(&View::Sessions, &data).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        words(lines[0]),
        [
            "id",
            "gateway",
            "origin",
            "created_ms",
            "last_seen_ms",
            "zone"
        ]
    );
    assert_eq!(
        words(lines[1]),
        ["10.1.0.5", "1", "traffic", "10", "20", "b"]
    );
    assert_eq!(words(lines[2]), ["teid:0x10", "0", "api", "11", "21", "-"]);
}

#[test]
fn user_sessions_follow_the_documented_column_order() {
    let data = json!([{
        "age_s": 3, "bytes_down": 2000, "bytes_up": 100, "destination": "10.9.0.1:80",
        "gateway": "10.2.0.1:40001", "packets_down": 4, "packets_up": 2, "proto": "tcp",
        "server": "10.2.0.21:8080", "session": "10.1.0.5", "state": "established",
        "terminal": "10.1.0.5:5555", "type": "default", "worker": 1
    }]);
    let text = render(&View::UserSessions, &data).unwrap();
    let header = text.lines().next().unwrap();
    assert_eq!(words(header), super::tables::USER_SESSION_COLUMNS);
    assert_eq!(
        words(text.lines().nth(1).unwrap()),
        [
            "1",
            "10.1.0.5",
            "10.1.0.5:5555",
            "10.9.0.1:80",
            "10.2.0.1:40001",
            "10.2.0.21:8080",
            "tcp",
            "default",
            "established",
            "2",
            "100",
            "4",
            "2000",
            "3"
        ]
    );
}

#[test]
fn subscribers_join_lists_and_show_booleans_as_words() {
    let data =
        json!([{"match": "prefix 10.1.0.0/16", "services": ["web", "dns"], "external": true}]);
    let text = render(&View::Subscribers, &data).unwrap();
    assert_eq!(
        words(text.lines().nth(1).unwrap()),
        ["prefix", "10.1.0.0/16", "web,dns", "yes"]
    );
}

#[test]
fn empty_lists_say_so() {
    assert_eq!(
        render(&View::Sessions, &json!([])).unwrap(),
        "no pinned mobile sessions\n"
    );
    assert_eq!(
        render(&View::UserSessions, &json!([])).unwrap(),
        "no user sessions\n"
    );
    assert_eq!(
        render(&View::Services, &json!([])).unwrap(),
        "no services\n"
    );
}

#[test]
fn wrong_shapes_are_reported_not_misprinted() {
    assert!(render(&View::Sessions, &json!({"id": 1})).is_err());
    assert!(render(&View::Sessions, &json!([1, 2])).is_err());
    assert!(render(&View::Ports, &json!([{"name": "x"}])).is_err());
    assert!(render(&View::Status, &json!(null)).is_err());
    assert!(render(&View::Metrics, &json!(3)).is_err());
}

#[test]
fn metrics_are_printed_as_they_come() {
    let text = "# TYPE tandem_rx_packets counter\ntandem_rx_packets{worker=\"0\"} 5\n";
    assert_eq!(render(&View::Metrics, &json!(text)).unwrap(), text);
    assert_eq!(render(&View::Metrics, &json!("a 1")).unwrap(), "a 1\n");
}

#[test]
fn confirmations_prefer_the_appliances_message() {
    let what = View::Done("deleted session 10.1.0.5".into());
    assert_eq!(
        render(&what, &json!({"message": "session 10.1.0.5 unpinned"})).unwrap(),
        "session 10.1.0.5 unpinned\n"
    );
    assert_eq!(
        render(&what, &Value::Null).unwrap(),
        "deleted session 10.1.0.5\n"
    );
    assert_eq!(render(&what, &json!("gone")).unwrap(), "gone\n");
    let created = View::Done("created session".into());
    assert_eq!(
        render(&created, &json!({"id": "teid:0x10", "gateway": 3})).unwrap(),
        "created session: gateway=3 id=teid:0x10\n"
    );
}

#[test]
fn the_cluster_fabric_section_appears_once_something_crossed_it() {
    let mut s = sample_stats();
    let text = render(&View::StatsSummary, &to_value(&s)).unwrap();
    assert!(!text.contains("cluster fabric"), "{text}");
    let last = s.workers.len() - 1;
    s.workers[last].fabric_tx = 7;
    s.workers[last].fabric_rx = 5;
    s.workers[last].second_chance = 1;
    let index = s.workers[last].index.to_string();
    for text in [
        render(&View::StatsSummary, &to_value(&s)).unwrap(),
        render(&View::Workers, &to_value(&s.workers)).unwrap(),
    ] {
        let section = text
            .split("cluster fabric:\n")
            .nth(1)
            .unwrap_or_else(|| panic!("no fabric section:\n{text}"));
        let rows: Vec<Vec<&str>> = section
            .lines()
            .take_while(|l| !l.is_empty())
            .map(words)
            .collect();
        assert_eq!(
            rows[0],
            ["worker", "fabric_tx", "fabric_rx", "second_chance"]
        );
        assert!(
            rows.contains(&vec![index.as_str(), "7", "5", "1"]),
            "{text}"
        );
    }
}
