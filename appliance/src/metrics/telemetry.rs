//! Tandem's commands on DPDK's telemetry socket, so `dpdk-telemetry.py`
//! shows Tandem's counters next to DPDK's own:
//!
//! * `/tandem/stats`: appliance totals;
//! * `/tandem/workers`: per worker, keys `w<index>/<counter>`;
//! * `/tandem/services`: per server, keys `<service>/<server>/<field>`;
//! * `/tandem/drops`: drops of all workers by reason.
//!
//! DPDK 22.11 takes dictionary keys of letters, digits, `_` and `/` only,
//! at most 127 bytes, and at most 256 entries per answer: other keys would
//! be left out silently, so names are rewritten to fit (`10.1.0.1:80`
//! becomes `10_1_0_1_80`) and an answer that would be longer ends with an
//! `omitted_entries` count instead.

use std::collections::HashSet;
use std::sync::Arc;

use dpdk_ffi::TelValue;

use crate::api::stats::Stats;

/// One telemetry answer.
type Entries = Vec<(String, TelValue)>;

/// Entries in one DPDK telemetry dictionary.
const MAX_ENTRIES: usize = 256;
/// Longest key DPDK keeps whole (its buffer holds 128 bytes with the NUL).
const MAX_KEY_LEN: usize = 127;
/// Longest per-server prefix before a copy number, leaving room for
/// "_<copy>" and "/user_sessions".
const MAX_SERVER_PREFIX_LEN: usize = MAX_KEY_LEN - "/user_sessions".len() - 8;

type Command = (&'static str, &'static str, fn(&Stats) -> Entries);

const COMMANDS: [Command; 4] = [
    (
        "/tandem/stats",
        "Tandem totals: traffic, drops, sessions, accounting, buffers",
        stats_entries,
    ),
    (
        "/tandem/workers",
        "Tandem per-worker traffic, drops and user sessions (keys w<index>/...)",
        worker_entries,
    ),
    (
        "/tandem/services",
        "Tandem per-server user sessions, weight, health and state (keys <service>/<server>/...)",
        service_entries,
    ),
    (
        "/tandem/drops",
        "Tandem drops of all workers by reason",
        drop_entries,
    ),
];

/// Registers the `/tandem/...` commands. `fetch` runs on DPDK's telemetry
/// thread for every query and returns a fresh snapshot, or `None` when
/// there is none to give (the answer then has a single `error` entry).
/// Call once per process: a second call fails, the names being taken.
pub fn register(
    fetch: Arc<dyn Fn() -> Option<Stats> + Send + Sync>,
) -> Result<(), dpdk_ffi::Error> {
    for (cmd, help, flatten) in COMMANDS {
        let fetch = Arc::clone(&fetch);
        dpdk_ffi::register_command(cmd, help, move || answer(fetch(), flatten))?;
    }
    Ok(())
}

fn answer(stats: Option<Stats>, flatten: fn(&Stats) -> Entries) -> Entries {
    match stats {
        Some(stats) => capped(flatten(&stats)),
        None => vec![(
            "error".into(),
            TelValue::Str("no statistics: the control plane did not answer".into()),
        )],
    }
}

/// Keeps an answer within DPDK's dictionary size, saying how much was cut.
fn capped(mut entries: Entries) -> Entries {
    if entries.len() > MAX_ENTRIES {
        let kept = MAX_ENTRIES - 1;
        let omitted = (entries.len() - kept) as u64;
        entries.truncate(kept);
        entries.push(("omitted_entries".into(), TelValue::U64(omitted)));
    }
    entries
}

/// `name` with every character DPDK refuses in a key replaced by `_`.
fn key_part(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

fn u64_entry(key: impl Into<String>, value: u64) -> (String, TelValue) {
    (key.into(), TelValue::U64(value))
}

/// Appliance totals: traffic as the ports counted it, the rest summed over
/// the workers.
fn stats_entries(s: &Stats) -> Entries {
    let port_sum = |field: fn(&crate::api::stats::PortStats) -> u64| -> u64 {
        s.ports.iter().map(field).fold(0, u64::wrapping_add)
    };
    let worker_sum = |field: fn(&crate::api::stats::WorkerStats) -> u64| -> u64 {
        s.workers.iter().map(field).fold(0, u64::wrapping_add)
    };
    let drops = s
        .workers
        .iter()
        .flat_map(|w| w.drops.iter().map(|(_, count)| *count))
        .fold(0, u64::wrapping_add);
    vec![
        ("version".into(), TelValue::Str(s.version.clone())),
        u64_entry("uptime_seconds", s.uptime_s),
        u64_entry("ports", s.ports.len() as u64),
        u64_entry(
            "ports_link_up",
            s.ports.iter().filter(|p| p.link_up).count() as u64,
        ),
        u64_entry("workers", s.workers.len() as u64),
        u64_entry("rx_packets", port_sum(|p| p.rx_packets)),
        u64_entry("rx_bytes", port_sum(|p| p.rx_bytes)),
        u64_entry("tx_packets", port_sum(|p| p.tx_packets)),
        u64_entry("tx_bytes", port_sum(|p| p.tx_bytes)),
        u64_entry("rx_missed", port_sum(|p| p.rx_missed)),
        u64_entry("rx_errors", port_sum(|p| p.rx_errors)),
        u64_entry("tx_errors", port_sum(|p| p.tx_errors)),
        u64_entry("rx_nombuf", port_sum(|p| p.rx_nombuf)),
        u64_entry("drops", drops),
        u64_entry("handoffs", worker_sum(|w| w.handoff_out)),
        u64_entry("user_sessions", worker_sum(|w| w.user_sessions_live)),
        u64_entry(
            "user_sessions_created",
            worker_sum(|w| w.user_sessions_created),
        ),
        u64_entry(
            "user_sessions_expired",
            worker_sum(|w| w.user_sessions_expired),
        ),
        u64_entry("sessions_pinned", s.sessions.pinned),
        u64_entry("gateways", s.sessions.gateways),
        u64_entry("events_lost", worker_sum(|w| w.events_lost)),
        u64_entry("accounting_records", s.accounting.records),
        u64_entry("accounting_exported", s.accounting.exported),
        u64_entry("accounting_export_errors", s.accounting.export_errors),
        u64_entry("accounting_lost", s.accounting.lost),
        u64_entry("mbufs_in_use", u64::from(s.mbufs_in_use)),
        u64_entry("mbufs_total", u64::from(s.mbufs_total)),
    ]
}

/// Per worker: `w<index>/rx_packets`, `tx_packets`, `drops`,
/// `user_sessions`, `handoffs_in`, `handoffs_out`.
fn worker_entries(s: &Stats) -> Entries {
    let mut entries = Vec::with_capacity(s.workers.len() * 6);
    for w in &s.workers {
        let drops = w
            .drops
            .iter()
            .map(|(_, count)| *count)
            .fold(0, u64::wrapping_add);
        let fields = [
            ("rx_packets", w.rx_packets),
            ("tx_packets", w.tx_packets),
            ("drops", drops),
            ("user_sessions", w.user_sessions_live),
            ("handoffs_in", w.handoff_in),
            ("handoffs_out", w.handoff_out),
        ];
        for (field, value) in fields {
            entries.push(u64_entry(format!("w{}/{field}", w.index), value));
        }
    }
    entries
}

/// Per server: `<service>/<server>/user_sessions`, `weight`, `healthy`
/// (0 or 1) and `state`, the server written `addr:port` (or `addr`) with
/// `.` and `:` turned into `_`. Two servers whose keys would be the same
/// after that get `_2`, `_3`... on the later ones.
fn service_entries(s: &Stats) -> Entries {
    let mut entries = Vec::new();
    let mut prefixes = HashSet::new();
    for service in &s.services {
        for server in &service.servers {
            let server_name = match server.port {
                Some(port) => format!("{}:{port}", server.addr),
                None => server.addr.clone(),
            };
            let mut base = format!("{}/{}", key_part(&service.name), key_part(&server_name));
            // Keys are ASCII by now, so any byte count is a char boundary.
            base.truncate(MAX_SERVER_PREFIX_LEN);
            let mut prefix = base.clone();
            let mut copy = 1;
            while !prefixes.insert(prefix.clone()) {
                copy += 1;
                prefix = format!("{base}_{copy}");
            }
            entries.push(u64_entry(
                format!("{prefix}/user_sessions"),
                server.user_sessions,
            ));
            entries.push(u64_entry(
                format!("{prefix}/weight"),
                u64::from(server.weight),
            ));
            entries.push(u64_entry(
                format!("{prefix}/healthy"),
                u64::from(server.healthy),
            ));
            entries.push((
                format!("{prefix}/state"),
                TelValue::Str(server.state.clone()),
            ));
        }
    }
    entries
}

/// Drops of all workers per reason (every reason, zeros included), then
/// `total`.
fn drop_entries(s: &Stats) -> Entries {
    let mut totals: Vec<(String, u64)> = Vec::new();
    for w in &s.workers {
        for (reason, count) in super::drops_by_reason(w) {
            let key = key_part(reason);
            match totals.iter_mut().find(|(known, _)| *known == key) {
                Some((_, total)) => *total = total.wrapping_add(count),
                None => totals.push((key, count)),
            }
        }
    }
    if totals.is_empty() {
        // No worker yet: still name every reason.
        totals = dataplane::counters::DropReason::ALL
            .iter()
            .map(|r| (r.as_str().to_string(), 0))
            .collect();
    }
    let total = totals
        .iter()
        .map(|(_, count)| *count)
        .fold(0, u64::wrapping_add);
    let mut entries: Entries = totals
        .into_iter()
        .map(|(reason, count)| u64_entry(reason, count))
        .collect();
    entries.push(u64_entry("total", total));
    entries
}

#[cfg(test)]
mod tests {
    use dataplane::counters::{DropReason, N_DROP_REASONS};

    use super::*;
    use crate::api::stats::WorkerStats;
    use crate::metrics::sample;

    fn value<'a>(entries: &'a Entries, key: &str) -> Option<&'a TelValue> {
        entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// What DPDK 22.11 accepts as a dictionary key.
    fn dpdk_accepts(key: &str) -> bool {
        !key.is_empty()
            && key.len() <= MAX_KEY_LEN
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'/')
    }

    #[test]
    fn totals_sum_ports_and_workers() {
        let e = stats_entries(&sample::stats());
        assert_eq!(value(&e, "version"), Some(&TelValue::Str("0.1.0".into())));
        assert_eq!(value(&e, "rx_packets"), Some(&TelValue::U64(3000)));
        assert_eq!(value(&e, "tx_packets"), Some(&TelValue::U64(3002)));
        assert_eq!(value(&e, "ports_link_up"), Some(&TelValue::U64(1)));
        assert_eq!(value(&e, "drops"), Some(&TelValue::U64(9)));
        assert_eq!(value(&e, "user_sessions"), Some(&TelValue::U64(120)));
        assert_eq!(value(&e, "handoffs"), Some(&TelValue::U64(24)));
        assert_eq!(value(&e, "sessions_pinned"), Some(&TelValue::U64(17)));
        assert_eq!(value(&e, "accounting_lost"), Some(&TelValue::U64(2)));
        assert_eq!(value(&e, "mbufs_total"), Some(&TelValue::U64(65535)));
    }

    #[test]
    fn workers_are_flattened_by_index() {
        let e = worker_entries(&sample::stats());
        assert_eq!(e.len(), 2 * 6);
        assert_eq!(value(&e, "w0/rx_packets"), Some(&TelValue::U64(500)));
        assert_eq!(value(&e, "w1/drops"), Some(&TelValue::U64(9)));
        assert_eq!(value(&e, "w0/drops"), Some(&TelValue::U64(0)));
        assert_eq!(value(&e, "w1/user_sessions"), Some(&TelValue::U64(70)));
        assert_eq!(value(&e, "w1/handoffs_out"), Some(&TelValue::U64(12)));
    }

    #[test]
    fn servers_are_flattened_under_their_service() {
        let e = service_entries(&sample::stats());
        assert_eq!(e.len(), 4 * 4);
        assert_eq!(
            value(&e, "web/10_1_0_1_80/user_sessions"),
            Some(&TelValue::U64(30))
        );
        assert_eq!(
            value(&e, "web/10_1_0_2_8080/healthy"),
            Some(&TelValue::U64(0))
        );
        assert_eq!(
            value(&e, "web/10_1_0_2_8080/state"),
            Some(&TelValue::Str("draining".into()))
        );
        assert_eq!(value(&e, "dns/10_2_0_1/weight"), Some(&TelValue::U64(10)));
        assert_eq!(value(&e, "dns/10_2_0_1/healthy"), Some(&TelValue::U64(1)));
    }

    #[test]
    fn servers_that_rewrite_to_the_same_key_stay_apart() {
        let mut s = sample::stats();
        s.services[0].name = "a-b".into();
        s.services[1].name = "a_b".into();
        s.services[1].servers[0].addr = "10.1.0.1".into();
        s.services[1].servers[0].port = Some(80);
        let e = service_entries(&s);
        let mut keys: Vec<&str> = e.iter().map(|(k, _)| k.as_str()).collect();
        let all = keys.len();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), all, "duplicate keys in {keys:?}");
        assert_eq!(
            value(&e, "a_b/10_1_0_1_80_2/user_sessions"),
            Some(&TelValue::U64(8))
        );
    }

    #[test]
    fn drops_are_summed_per_reason_with_every_reason_named() {
        let e = drop_entries(&sample::stats());
        assert_eq!(e.len(), N_DROP_REASONS + 1);
        assert_eq!(value(&e, "table_full"), Some(&TelValue::U64(7)));
        assert_eq!(value(&e, "ip_fragment"), Some(&TelValue::U64(2)));
        assert_eq!(value(&e, "no_route"), Some(&TelValue::U64(0)));
        assert_eq!(value(&e, "total"), Some(&TelValue::U64(9)));

        // Both workers count the same reason: the answer is the sum.
        let mut s = sample::stats();
        s.workers[0].drops = vec![(DropReason::TableFull.as_str().into(), 5)];
        let e = drop_entries(&s);
        assert_eq!(value(&e, "table_full"), Some(&TelValue::U64(12)));
        assert_eq!(value(&e, "total"), Some(&TelValue::U64(14)));

        // No workers yet: every reason still named, at zero.
        let e = drop_entries(&Stats::default());
        assert_eq!(e.len(), N_DROP_REASONS + 1);
        assert_eq!(value(&e, "total"), Some(&TelValue::U64(0)));
    }

    #[test]
    fn every_key_is_one_dpdk_accepts() {
        let mut s = sample::stats();
        s.services[0].name = "web service.v2: \"quoted\" é".into();
        s.services[1].name = "x".repeat(300);
        for (cmd, _, flatten) in COMMANDS {
            for (key, _) in flatten(&s) {
                assert!(dpdk_accepts(&key), "{cmd}: key {key:?}");
            }
        }
    }

    #[test]
    fn long_answers_are_cut_to_the_dictionary_size() {
        let mut s = sample::stats();
        let worker = s.workers[0].clone();
        s.workers = (0..100)
            .map(|index| WorkerStats {
                index,
                ..worker.clone()
            })
            .collect();
        let e = answer(Some(s), worker_entries);
        assert_eq!(e.len(), MAX_ENTRIES);
        assert_eq!(
            e.last(),
            Some(&("omitted_entries".into(), TelValue::U64(600 - 255)))
        );
        assert_eq!(value(&e, "w0/rx_packets"), Some(&TelValue::U64(500)));
    }

    #[test]
    fn no_stats_is_an_error_entry() {
        let e = answer(None, stats_entries);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].0, "error");
    }

    #[test]
    fn the_commands_register_once() {
        let fetch: Arc<dyn Fn() -> Option<Stats> + Send + Sync> = Arc::new(|| None);
        assert_eq!(register(Arc::clone(&fetch)), Ok(()));
        // The names are taken now.
        assert!(matches!(
            register(fetch),
            Err(dpdk_ffi::Error::Telemetry { errno: 17, .. })
        ));
    }
}
