//! What monitoring tools see of a running `tandem` after real traffic
//! (UDP and TCP between kernel sockets through net_tap ports, plus a few
//! datagrams to a VIP port no service has): the Prometheus endpoint
//! (`metrics.listen`) scraped over HTTP and checked by `promtool check
//! metrics`, and DPDK's telemetry socket read with `dpdk-telemetry.py`,
//! both agreeing with `tandem ctl`.
//!
//! Needs root and /dev/net/tun, like nat_tap.rs.

mod common;

use common::ctl::{server, Ctl};
use common::kernel_tcp::{finish, try_connect, Digest, DigestServer};
use common::observe::{http_get, promtool_check, sample, samples, telemetry};
use common::tandem::{assert_clean_exit, Tandem};
use common::tapnet::{exchange, udp, TapNet};
use common::{file_prefix, tap, Scratch};
use serde_json::Value;
use std::net::{SocketAddr, SocketAddrV4};
use std::sync::mpsc;
use std::time::Duration;

const IO_LIMIT: Duration = Duration::from_secs(10);
/// Datagrams sent to a VIP port that no service has.
const UNSERVED: u64 = 3;

/// Where the endpoint listens: tandem logs the port it got for port 0.
fn metrics_addr(log: &str) -> SocketAddr {
    log.lines()
        .find_map(|l| {
            let rest = l.split("Prometheus metrics at http://").nth(1)?;
            rest.split('/').next()?.parse().ok()
        })
        .unwrap_or_else(|| panic!("no metrics address in the log:\n{log}"))
}

/// A u64 field of a JSON object, panicking with the object if absent.
fn n(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("no number {key} in {v:#}"))
}

/// Per-port sums of a `status --json` counter over both ports.
fn port_sum(status: &Value, key: &str) -> u64 {
    status["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .map(|p| n(p, key))
        .sum()
}

#[test]
fn prometheus_and_dpdk_telemetry_agree_with_ctl_after_traffic() {
    assert!(
        tap::available(),
        "/dev/net/tun is missing: this test needs tap interfaces (run as root)"
    );
    let test = "metrics";
    let scratch = Scratch::new(test);
    let prefix = file_prefix(test);
    let socket = scratch.path("ctl.sock");
    let net = TapNet::new(70);
    let a = net.server(0);
    let services = format!(
        r#"(name: "web", vip: "{vip}", proto: Tcp, port: 80, servers: [(addr: "{a}", port: 8080)]),
        (name: "dns", vip: "{vip}", proto: Udp, port: 53, servers: [(addr: "{a}", port: 5353)]),"#,
        vip = net.vip()
    );
    let config = net.config(
        &prefix,
        true,
        &socket,
        &services,
        r#"metrics: (listen: "127.0.0.1:0"),"#,
    );
    let mut tandem = Tandem::start(&scratch.dir, &prefix, &config);
    tandem.wait_running();
    let ctl = Ctl::new(&socket);
    let addr = metrics_addr(&tandem.log());
    let terminal = net.access(100);
    net.configure(&[terminal], &[a]);

    // Traffic: UDP exchanges (one user session), a TCP connection, and
    // datagrams to a VIP port without a service.
    let dns = udp(a, 5353, Duration::from_millis(100));
    let client = udp(terminal, 0, IO_LIMIT);
    for i in 0..5 {
        exchange(&client, &dns, net.vip(), 53, format!("q{i}").as_bytes());
    }
    let (tx, accepted) = mpsc::channel();
    let _web = DigestServer::start("A", a, 8080, tx);
    let conn = try_connect(net.vip(), 80, IO_LIMIT).expect("connect");
    accepted.recv_timeout(IO_LIMIT).expect("accepted");
    assert_eq!(
        finish(conn, b"some bytes"),
        Digest::of(b"some bytes").line()
    );
    for _ in 0..UNSERVED {
        client
            .send_to(b"anyone?", SocketAddrV4::new(net.vip(), 9999))
            .expect("send");
    }
    let no_service = |workers: &Value| -> u64 {
        workers[0]["drops"]
            .as_array()
            .expect("drops")
            .iter()
            .filter(|d| d[0] == "no_service")
            .filter_map(|d| d[1].as_u64())
            .sum()
    };
    assert!(
        common::wait_until(IO_LIMIT, || no_service(&ctl.json(&["workers"])) >= UNSERVED),
        "the unserved datagrams were not counted as no_service: {:#}",
        ctl.json(&["workers"])
    );

    // Prometheus, bracketed by two ctl readings (counters only grow).
    let status_before = ctl.json(&["status"]);
    let scrape = http_get(addr, "/metrics");
    let status_after = ctl.json(&["status"]);
    assert_eq!(scrape.status, 200, "{}", scrape.body);
    assert!(
        scrape
            .headers
            .get("content-type")
            .is_some_and(|t| t.starts_with("text/plain; version=0.0.4")),
        "{:?}",
        scrape.headers
    );
    let text = &scrape.body;
    let s = samples(text);
    for family in [
        "tandem_port_rx_packets_total",
        "tandem_worker_drops_total",
        "tandem_worker_user_sessions",
        "tandem_port_pool_in_use",
        "tandem_server_user_sessions",
        "tandem_server_healthy",
        "tandem_snapshot_age_seconds",
        "tandem_worker_ring_occupancy",
    ] {
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "no family {family}"
        );
    }
    let bracket = |name: &str, value: f64, key: &str| {
        let (lo, hi) = (port_sum(&status_before, key), port_sum(&status_after, key));
        assert!(
            lo as f64 <= value && value <= hi as f64,
            "{name} = {value}, ctl said {lo} before and {hi} after"
        );
    };
    let rx_acc = sample(
        &s,
        r#"tandem_port_rx_packets_total{port="acc0",role="access"}"#,
    );
    let rx_srv = sample(
        &s,
        r#"tandem_port_rx_packets_total{port="srv0",role="server"}"#,
    );
    assert!(rx_acc >= 5.0 + UNSERVED as f64, "access rx {rx_acc}");
    assert!(rx_srv >= 5.0, "server rx {rx_srv}");
    bracket("rx packets", rx_acc + rx_srv, "rx_packets");
    let tx_bytes = sample(
        &s,
        r#"tandem_port_tx_bytes_total{port="acc0",role="access"}"#,
    ) + sample(
        &s,
        r#"tandem_port_tx_bytes_total{port="srv0",role="server"}"#,
    );
    bracket("tx bytes", tx_bytes, "tx_bytes");
    assert!(
        sample(
            &s,
            r#"tandem_worker_drops_total{worker="0",reason="no_service"}"#
        ) >= UNSERVED as f64
    );
    // Every reason ctl knows is a series, zeros included.
    for d in status_after["workers"][0]["drops"]
        .as_array()
        .expect("drops")
    {
        let reason = d[0].as_str().expect("reason");
        sample(
            &s,
            &format!(r#"tandem_worker_drops_total{{worker="0",reason="{reason}"}}"#),
        );
    }
    assert!(
        sample(
            &s,
            r#"tandem_worker_user_sessions_created_total{worker="0"}"#
        ) >= 2.0
    );
    let gw = net.gateway();
    assert!(
        sample(
            &s,
            &format!(r#"tandem_port_pool_in_use{{gateway="{gw}",worker="0"}}"#)
        ) >= 1.0,
        "the UDP user session holds a gateway port"
    );
    let services = ctl.json(&["services"]);
    let live_dns = server(&services, "dns", &a.to_string())["user_sessions"].clone();
    assert_eq!(live_dns, 1, "{services:#}");
    assert_eq!(
        sample(
            &s,
            &format!(r#"tandem_server_user_sessions{{service="dns",server="{a}:5353"}}"#)
        ),
        1.0
    );
    assert_eq!(
        sample(
            &s,
            &format!(r#"tandem_server_healthy{{service="web",server="{a}:8080"}}"#)
        ),
        1.0
    );
    assert_eq!(sample(&s, "tandem_mbufs_capacity"), 8191.0);

    match promtool_check(text) {
        Some(verdict) => verdict.unwrap_or_else(|e| panic!("{e}\n{text}")),
        None => println!("promtool is not installed (Debian: prometheus): check skipped"),
    }
    if let Some(verdict) = promtool_check(&ctl.ok(&["metrics"])) {
        verdict.unwrap_or_else(|e| panic!("tandem ctl metrics: {e}"));
    }
    assert_eq!(http_get(addr, "/elsewhere").status, 404);

    // DPDK telemetry, bracketed the same way.
    let status_before = ctl.json(&["status"]);
    let workers_before = ctl.json(&["workers"]);
    let answers = telemetry(
        &prefix,
        &[
            "/",
            "/tandem/stats",
            "/tandem/workers",
            "/tandem/services",
            "/tandem/drops",
        ],
    );
    let status_after = ctl.json(&["status"]);
    let workers_after = ctl.json(&["workers"]);
    let listed = answers[0]["/"].as_array().expect("command list");
    for cmd in [
        "/tandem/stats",
        "/tandem/workers",
        "/tandem/services",
        "/tandem/drops",
        "/ethdev/stats",
    ] {
        assert!(
            listed.iter().any(|c| c == cmd),
            "{cmd} not listed: {listed:?}"
        );
    }

    let stats = &answers[1]["/tandem/stats"];
    assert_eq!(stats["version"], status_after["version"]);
    assert_eq!(n(stats, "ports"), 2);
    assert_eq!(n(stats, "workers"), 1);
    assert_eq!(n(stats, "gateways"), 1);
    assert_eq!(n(stats, "mbufs_total"), 8191);
    for key in ["rx_packets", "rx_bytes", "tx_packets", "tx_bytes"] {
        let (lo, hi) = (port_sum(&status_before, key), port_sum(&status_after, key));
        let v = n(stats, key);
        assert!(lo <= v && v <= hi, "{key} = {v}, ctl said {lo} then {hi}");
    }
    let created = |st: &Value| n(&st["workers"][0], "user_sessions_created");
    let v = n(stats, "user_sessions_created");
    assert!(created(&status_before) <= v && v <= created(&status_after));
    assert!(v >= 2, "{stats:#}");

    let workers = &answers[2]["/tandem/workers"];
    for key in ["rx_packets", "tx_packets"] {
        let (lo, hi) = (n(&workers_before[0], key), n(&workers_after[0], key));
        let v = n(workers, &format!("w0/{key}"));
        assert!(
            lo <= v && v <= hi,
            "w0/{key} = {v}, ctl said {lo} then {hi}"
        );
    }
    assert!(workers.get("w0/user_sessions").is_some(), "{workers:#}");
    assert!(workers.get("w1/rx_packets").is_none(), "only one worker");

    let servers = &answers[3]["/tandem/services"];
    let key = |svc: &str, port: u16, field: &str| {
        format!("{svc}/{}_{port}/{field}", a.to_string().replace('.', "_"))
    };
    assert_eq!(servers[key("web", 8080, "weight")], 1, "{servers:#}");
    assert_eq!(servers[key("web", 8080, "healthy")], 1, "{servers:#}");
    assert_eq!(servers[key("web", 8080, "state")], "active", "{servers:#}");
    assert_eq!(servers[key("dns", 5353, "user_sessions")], 1, "{servers:#}");

    let drops = &answers[4]["/tandem/drops"];
    assert!(n(drops, "no_service") >= UNSERVED, "{drops:#}");
    assert!(n(drops, "total") >= n(drops, "no_service"));
    // Asked after /tandem/stats, so it has seen at least those drops.
    assert!(
        n(drops, "total") >= n(stats, "drops"),
        "{drops:#} {stats:#}"
    );

    assert_clean_exit(&tandem.stop());
}
