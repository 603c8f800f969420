//! Idle clients cannot starve the operator's interfaces (issue 13), through
//! the real binary on two net_null ports:
//!
//! * 50 TCP connections that send nothing to the metrics endpoint: a scrape
//!   is still answered within a second (it used to wait out each idle
//!   connection's deadline in turn);
//! * 200 idle clients on the control socket: the process's thread count
//!   stays bounded (it used to start a thread per client), and `tandem ctl`
//!   still works while they are connected.

mod common;

use common::ctl::Ctl;
use common::observe::http_get;
use common::tandem::{assert_clean_exit, Tandem};
use common::{file_prefix, Scratch, SMALL_SIZES};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// The control socket serves at most this many clients at once
/// (`api::clients::MAX_CLIENTS`).
const MAX_CLIENTS: usize = 64;

fn threads(pid: u32) -> usize {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|n| n.trim().parse().ok())
        })
        .unwrap_or_else(|| panic!("no thread count for {pid}"))
}

fn metrics_addr(log: &str) -> SocketAddr {
    log.lines()
        .find_map(|l| {
            let rest = l.split("Prometheus metrics at http://").nth(1)?;
            rest.split('/').next()?.parse().ok()
        })
        .unwrap_or_else(|| panic!("no metrics address in the log:\n{log}"))
}

#[test]
fn idle_clients_starve_neither_metrics_nor_the_control_socket() {
    let test = "limits";
    let scratch = Scratch::new(test);
    let prefix = file_prefix(test);
    let socket = scratch.path("ctl.sock");
    let config = format!(
        r#"(
    eal: (lcores: "0-1", no_huge: true, memory_mb: 256, file_prefix: "{prefix}",
        vdevs: ["net_null0,no-rx=1", "net_null1,no-rx=1"]),
    ports: [
        (name: "acc0", device: "net_null0", role: Access, addresses: ["10.1.0.1/24"]),
        (name: "srv0", device: "net_null1", role: Server, addresses: ["10.2.0.1/24"]),
    ],
    workers: [(lcore: 1, poll: [(port: "acc0"), (port: "srv0")])],
    {SMALL_SIZES}
    gateway: (addresses: ["10.2.0.10"], user_sessions_per_worker: 1024),
    api: (socket: "{socket}"),
    metrics: (listen: "127.0.0.1:0"),
)"#,
        socket = socket.display()
    );
    let mut tandem = Tandem::start(&scratch.dir, &prefix, &config);
    tandem.wait_running();
    let pid = tandem.pid();
    let addr = metrics_addr(&tandem.log());

    // Metrics: 50 idle connections, then a scrape.
    let idle_tcp: Vec<TcpStream> = (0..50)
        .map(|_| TcpStream::connect(addr).expect("connect to metrics"))
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let start = Instant::now();
    let scrape = http_get(addr, "/metrics");
    let took = start.elapsed();
    assert_eq!(scrape.status, 200, "{}", scrape.body);
    assert!(
        took < Duration::from_secs(1),
        "scrape with 50 idle connections took {took:?}"
    );
    drop(idle_tcp);

    // Control socket: 200 idle clients.
    let before = threads(pid);
    let idle_unix: Vec<UnixStream> = (0..200)
        .map(|_| UnixStream::connect(&socket).expect("connect to the control socket"))
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let during = threads(pid);
    assert!(
        during <= before + MAX_CLIENTS,
        "threads: {before} before, {during} with 200 idle control clients"
    );
    let ctl = Ctl::new(&socket);
    let start = Instant::now();
    let status = ctl.run(&["--json", "status"]);
    assert_eq!(status.code, Some(0), "{}", status.describe());
    assert!(
        status.stdout.contains("\"workers\""),
        "{}",
        status.describe()
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "ctl took {:?}",
        start.elapsed()
    );
    drop(idle_unix);
    // The evictions are counted where monitoring sees them.
    let v: serde_json::Value = serde_json::from_str(&status.stdout).expect("status JSON");
    let evicted = v["control_clients"]["evicted"].as_u64().unwrap_or(0);
    assert!(
        evicted >= 200 + 1 - MAX_CLIENTS as u64,
        "evicted {evicted}: {}",
        v["control_clients"]
    );
    let scrape = http_get(addr, "/metrics");
    assert!(
        scrape
            .body
            .lines()
            .any(|l| l.starts_with("tandem_control_clients_evicted_total ")),
        "{}",
        scrape.body
    );

    let exit = tandem.stop();
    assert_clean_exit(&exit);
    assert!(
        exit.log.contains("control socket clients") && exit.log.contains("evicted="),
        "{}",
        exit.log
    );
}
