//! Server health through the real binary, with kernel sockets on a
//! net_tap server port playing the servers: a server whose listening
//! socket closes is found by the active TCP probes, shown unhealthy, and
//! gets no new connections until it listens again; without active probes,
//! a server that resets SYNs is inhibited after `fall` failures (passive
//! checks). Connections opened before a server went down run on
//! (`on_down: Keep`, the default).
//!
//! Needs root and /dev/net/tun, like nat_tap.rs.

mod common;

use common::ctl::{server, Ctl};
use common::kernel_tcp::{finish, try_connect, Accepted, Digest, DigestServer};
use common::tandem::{assert_clean_exit, Tandem};
use common::tapnet::{exchange, udp, TapNet};
use common::{file_prefix, tap, wait_until, Scratch};
use std::collections::BTreeSet;
use std::io::ErrorKind;
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::Duration;

const IO_LIMIT: Duration = Duration::from_secs(10);
/// A bound on waiting for detection, not a measurement: with probes every
/// 200 ms and `fall: 2` detection takes well under a second.
const DETECTION_LIMIT: Duration = Duration::from_secs(10);

const ACTIVE: &str = "health: (active: Some((interval_ms: 200, timeout_ms: 200, rise: 2, fall: 2, source_ports: (1000, 1023)))),";

fn tcp_service(net: &TapNet, name: &str, port: u16, servers: &[u8]) -> String {
    let list: Vec<String> = servers
        .iter()
        .map(|&i| format!(r#"(addr: "{}", port: 8080)"#, net.server(i)))
        .collect();
    format!(
        r#"(name: "{name}", vip: "{}", proto: Tcp, port: {port}, servers: [{}]),"#,
        net.vip(),
        list.join(", ")
    )
}

/// Waits until server `i` of service `web` has `healthy` as given.
fn wait_health(ctl: &Ctl, net: &TapNet, service: &str, i: u8, healthy: bool) -> bool {
    wait_until(DETECTION_LIMIT, || {
        server(
            &ctl.json(&["services"]),
            service,
            &net.server(i).to_string(),
        )["healthy"]
            == healthy
    })
}

/// Opens a connection to the VIP and returns it with the name of the
/// server that accepted it.
fn connect_to_some(net: &TapNet, accepted: &mpsc::Receiver<Accepted>) -> (TcpStream, &'static str) {
    let conn = try_connect(net.vip(), 80, IO_LIMIT).expect("connect to the VIP");
    let (name, peer) = accepted
        .recv_timeout(IO_LIMIT)
        .expect("a server accepted the connection");
    assert_eq!(peer.ip(), net.gateway(), "the server sees the gateway");
    (conn, name)
}

#[test]
fn active_checks_take_a_closed_server_out_and_bring_it_back() {
    assert!(
        tap::available(),
        "/dev/net/tun is missing: this test needs tap interfaces (run as root)"
    );
    let test = "health-active";
    let scratch = Scratch::new(test);
    let prefix = file_prefix(test);
    let socket = scratch.path("ctl.sock");
    let net = TapNet::new(40);
    let config = net.config(
        &prefix,
        true,
        &socket,
        &tcp_service(&net, "web", 80, &[0, 1, 2]),
        ACTIVE,
    );
    let mut tandem = Tandem::start(&scratch.dir, &prefix, &config);
    tandem.wait_running();
    let ctl = Ctl::new(&socket);
    net.configure(
        &[net.access(100)],
        &[net.server(0), net.server(1), net.server(2)],
    );

    let (tx, accepted) = mpsc::channel();
    let mut a = DigestServer::start("A", net.server(0), 8080, tx.clone());
    let _b = DigestServer::start("B", net.server(1), 8080, tx.clone());
    let _c = DigestServer::start("C", net.server(2), 8080, tx.clone());
    // Until tandem knows the servers' MACs and they listen, probes fail
    // and may take them down for a moment: let that settle first.
    for i in 0..3 {
        let ip = format!("ip={} ", net.server(i));
        assert!(
            wait_until(DETECTION_LIMIT, || tandem
                .log()
                .lines()
                .any(|l| l.contains("neighbour learned") && l.contains(&ip))),
            "tandem never learned server {i}'s MAC; log:\n{}",
            tandem.log()
        );
    }
    std::thread::sleep(Duration::from_secs(1));
    for i in 0..3 {
        assert!(
            wait_health(&ctl, &net, "web", i, true),
            "server {i} not healthy"
        );
    }
    let services = ctl.json(&["services"]);
    let downs = |services: &serde_json::Value, i: u8| {
        server(services, "web", &net.server(i).to_string())["down_events"]
            .as_u64()
            .expect("down_events")
    };
    let downs_before: Vec<u64> = (0..3).map(|i| downs(&services, i)).collect();

    // Least load spreads three connections over the three servers.
    let mut before = Vec::new();
    let mut names = BTreeSet::new();
    for _ in 0..3 {
        let (conn, name) = connect_to_some(&net, &accepted);
        names.insert(name);
        before.push((conn, name));
    }
    assert_eq!(names, BTreeSet::from(["A", "B", "C"]));

    // A stops listening: the kernel answers the probes with RST.
    a.close();
    assert!(
        wait_health(&ctl, &net, "web", 0, false),
        "A was not found down; log:\n{}",
        tandem.log()
    );
    let services = ctl.json(&["services"]);
    assert_eq!(downs(&services, 0), downs_before[0] + 1, "{services:#}");
    for i in 1..3 {
        let s = server(&services, "web", &net.server(i).to_string());
        assert_eq!(s["healthy"], true, "{services:#}");
        assert_eq!(downs(&services, i), downs_before[usize::from(i)]);
    }
    assert!(
        tandem.log().contains("server marked unhealthy"),
        "{}",
        tandem.log()
    );

    // New connections go to B and C only (one to A would be refused).
    let mut during = Vec::new();
    for _ in 0..6 {
        let (conn, name) = connect_to_some(&net, &accepted);
        assert_ne!(name, "A", "a new connection went to the unhealthy server");
        during.push(conn);
    }
    // The connection A accepted before runs on (on_down: Keep).
    for (conn, name) in before {
        assert_eq!(
            finish(conn, name.as_bytes()),
            Digest::of(name.as_bytes()).line()
        );
    }

    // A listens again: `rise` good probes bring it back, and as the least
    // loaded server it takes the next connection.
    let _a = DigestServer::start("A", net.server(0), 8080, tx);
    assert!(
        wait_health(&ctl, &net, "web", 0, true),
        "A did not come back; log:\n{}",
        tandem.log()
    );
    assert!(
        tandem.log().contains("server healthy again"),
        "{}",
        tandem.log()
    );
    let (conn, name) = connect_to_some(&net, &accepted);
    assert_eq!(name, "A", "the least loaded server, healthy again");
    assert_eq!(finish(conn, b"back"), Digest::of(b"back").line());
    for conn in during {
        assert_eq!(finish(conn, b"x"), Digest::of(b"x").line());
    }
    assert_clean_exit(&tandem.stop());
}

#[test]
fn passive_checks_inhibit_a_server_that_resets_syns() {
    assert!(
        tap::available(),
        "/dev/net/tun is missing: this test needs tap interfaces (run as root)"
    );
    let test = "health-passive";
    let scratch = Scratch::new(test);
    let prefix = file_prefix(test);
    let socket = scratch.path("ctl.sock");
    let net = TapNet::new(50);
    // Long backoff, so the inhibition outlasts the test.
    let config = net.config(
        &prefix,
        true,
        &socket,
        &tcp_service(&net, "web", 80, &[0, 1]),
        "health: (passive: true, fall: 2, window_s: 60, backoff_s: 120, backoff_max_s: 240),",
    );
    let mut tandem = Tandem::start(&scratch.dir, &prefix, &config);
    tandem.wait_running();
    let ctl = Ctl::new(&socket);
    net.configure(&[net.access(100)], &[net.server(0), net.server(1)]);

    // Nothing listens on A: the kernel resets every SYN sent to it.
    let (tx, accepted) = mpsc::channel();
    let _b = DigestServer::start("B", net.server(1), 8080, tx);

    let mut refused = 0;
    let mut open = Vec::new();
    for _ in 0..20 {
        match try_connect(net.vip(), 80, IO_LIMIT) {
            Ok(conn) => {
                let (name, _) = accepted.recv_timeout(IO_LIMIT).expect("accepted");
                assert_eq!(name, "B");
                open.push(conn);
            }
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => refused += 1,
            Err(e) => panic!("connect: {e}"),
        }
        if server(&ctl.json(&["services"]), "web", &net.server(0).to_string())["healthy"] == false {
            break;
        }
    }
    assert!(
        refused >= 2,
        "A was inhibited after {refused} failures (fall: 2)"
    );
    let services = ctl.json(&["services"]);
    let a = server(&services, "web", &net.server(0).to_string());
    assert_eq!(
        a["healthy"], false,
        "A still healthy after {refused} resets: {services:#}"
    );
    assert_eq!(a["down_events"], 1);
    assert!(tandem.log().contains("inhibited"), "{}", tandem.log());

    // From now on every connection lands on B.
    for _ in 0..6 {
        let conn = try_connect(net.vip(), 80, IO_LIMIT)
            .expect("a connection was refused after A was inhibited");
        let (name, _) = accepted.recv_timeout(IO_LIMIT).expect("accepted");
        assert_eq!(name, "B");
        open.push(conn);
    }
    for conn in open {
        assert_eq!(finish(conn, b"ok"), Digest::of(b"ok").line());
    }
    let drops = ctl.json(&["workers"]);
    let no_server: u64 = drops[0]["drops"]
        .as_array()
        .expect("drops")
        .iter()
        .filter(|d| d[0] == "no_server")
        .filter_map(|d| d[1].as_u64())
        .sum();
    assert_eq!(no_server, 0, "B was always there to take them");
    assert_clean_exit(&tandem.stop());
}

/// Active probes are TCP connects; a server of a UDP service has nothing
/// to answer them with, and must not be taken down for that. The TCP
/// server C, which does not listen, shows the probes ran meanwhile.
#[test]
fn active_checks_leave_udp_servers_alone() {
    assert!(
        tap::available(),
        "/dev/net/tun is missing: this test needs tap interfaces (run as root)"
    );
    let test = "health-udp";
    let scratch = Scratch::new(test);
    let prefix = file_prefix(test);
    let socket = scratch.path("ctl.sock");
    let net = TapNet::new(60);
    let services = format!(
        r#"{}
        (name: "dns", vip: "{}", proto: Udp, port: 53, servers: [(addr: "{}", port: 5353)]),"#,
        tcp_service(&net, "web", 80, &[2]),
        net.vip(),
        net.server(0),
    );
    let config = net.config(&prefix, true, &socket, &services, ACTIVE);
    let mut tandem = Tandem::start(&scratch.dir, &prefix, &config);
    tandem.wait_running();
    let ctl = Ctl::new(&socket);
    net.configure(&[net.access(100)], &[net.server(0), net.server(2)]);
    let dns = udp(net.server(0), 5353, Duration::from_millis(100));
    let client = udp(net.access(100), 0, IO_LIMIT);
    exchange(&client, &dns, net.vip(), 53, b"first");

    assert!(
        wait_health(&ctl, &net, "web", 2, false),
        "the probes never took down C, which does not listen"
    );
    let services = ctl.json(&["services"]);
    assert_eq!(
        server(&services, "dns", &net.server(0).to_string())["healthy"],
        true,
        "a UDP server was taken down by TCP probes: {services:#}"
    );
    exchange(&client, &dns, net.vip(), 53, b"second");
    assert_clean_exit(&tandem.stop());
}
