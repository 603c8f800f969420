//! Issue 12's quorum-loss case through the real binary (docs/cluster.md):
//! a three-member etcd cluster on loopback (free ports, a data directory
//! each, every member killed by PID at the end) and two `tandem`
//! appliances given all three endpoints: X, with both roles on two
//! `net_tap` ports (terminals and a UDP server are kernel sockets on the
//! taps) and the only gateway (300), and T, a tier-1 unit on net_null.
//!
//! What an operator would notice: with one etcd member down the cluster
//! carries on (a pin made on one appliance is in force on the other
//! within 1 s); with two of three down, `ctl session move` is refused with
//! a clear message and changes nothing, `ctl cluster` says etcd is
//! unreachable, and traffic keeps flowing, new user sessions included;
//! when the two come back the digests converge and pins work again.

mod common;

use common::cluster::{free_port, member_ids, pinned_gateway};
use common::ctl::Ctl;
use common::tandem::Tandem;
use common::tapnet::{exchange, udp, TapNet};
use common::{file_prefix, tap, wait_until, Scratch, SMALL_SIZES};
use serde_json::Value;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One member of the etcd cluster; killed (by its PID) when dropped.
struct EtcdMember {
    child: Option<Child>,
    name: String,
    data: PathBuf,
    client: u16,
    peer: u16,
    log: PathBuf,
}

const READY: &str = "ready to serve client requests";

impl EtcdMember {
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.client)
    }

    fn peer_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.peer)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn ready_count(&self) -> usize {
        self.log().matches(READY).count()
    }

    /// Starts the process; with its data directory in place the
    /// `--initial-*` flags are ignored and it rejoins.
    fn spawn(&mut self, initial_cluster: &str, token: &str) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("etcd log");
        let child = Command::new("etcd")
            .args(["--name", &self.name, "--data-dir"])
            .arg(&self.data)
            .args(["--listen-client-urls", &self.url()])
            .args(["--advertise-client-urls", &self.url()])
            .args(["--listen-peer-urls", &self.peer_url()])
            .args(["--initial-advertise-peer-urls", &self.peer_url()])
            .args(["--initial-cluster", initial_cluster])
            .args(["--initial-cluster-token", token])
            .args(["--initial-cluster-state", "new"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("etcd runs (apt-get install etcd-server)");
        self.child = Some(child);
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for EtcdMember {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Three etcd members on loopback.
struct EtcdCluster {
    members: Vec<EtcdMember>,
    initial: String,
    token: String,
}

impl EtcdCluster {
    fn start(dir: &Path) -> EtcdCluster {
        let members: Vec<EtcdMember> = (0..3)
            .map(|i| EtcdMember {
                child: None,
                name: format!("e{i}"),
                data: dir.join(format!("etcd{i}-data")),
                client: free_port(),
                peer: free_port(),
                log: dir.join(format!("etcd{i}.log")),
            })
            .collect();
        let initial = members
            .iter()
            .map(|m| format!("{}={}", m.name, m.peer_url()))
            .collect::<Vec<_>>()
            .join(",");
        let mut c = EtcdCluster {
            members,
            initial,
            token: format!("tdmq-{}", std::process::id()),
        };
        c.restart(&[0, 1, 2]);
        c
    }

    /// Starts members `which` (all at once: a member is ready only once
    /// there is a quorum) and waits until each serves clients.
    fn restart(&mut self, which: &[usize]) {
        let before: Vec<usize> = which
            .iter()
            .map(|&i| self.members[i].ready_count())
            .collect();
        for &i in which {
            let (initial, token) = (self.initial.clone(), self.token.clone());
            self.members[i].spawn(&initial, &token);
        }
        let up = wait_until(Duration::from_secs(20), || {
            which
                .iter()
                .zip(&before)
                .all(|(&i, &b)| self.members[i].ready_count() > b)
        });
        assert!(up, "etcd members did not start:\n{}", self.logs());
    }

    fn endpoints(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("\"{}\"", m.url()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn logs(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("--- {}\n{}", m.name, m.log()))
            .collect()
    }
}

/// X: both roles on two taps (and a net_null fabric port), gateway 300.
fn config_x(net: &TapNet, prefix: &str, socket: &Path, etcd: &str) -> String {
    format!(
        r#"(
    eal: (lcores: "0@0,1@0", no_huge: true, memory_mb: 256, file_prefix: "{prefix}",
        vdevs: ["net_tap0,iface={acc}", "net_tap1,iface={srv}", "net_null0,no-rx=1"]),
    ports: [
        (name: "acc0", device: "net_tap0", role: Access, addresses: ["{acc_ip}/24"]),
        (name: "srv0", device: "net_tap1", role: Server, addresses: ["{srv_ip}/24"]),
        (name: "fab0", device: "net_null0", role: Fabric, addresses: ["10.99.0.3/24"]),
    ],
    workers: [(lcore: 1, poll: [(port: "acc0"), (port: "srv0"), (port: "fab0")])],
    {SMALL_SIZES}
    idle: (busy_poll: false, max_sleep_us: 1000),
    gateway: (addresses: ["{gw}"], user_sessions_per_worker: 1024),
    services: [(name: "dns", vip: "{vip}", proto: Udp, port: 53,
        servers: [(addr: "{server}", port: 5353)])],
    api: (socket: "{socket}"),
    cluster: (name: "itq", appliance_id: 3, etcd: [{etcd}], lease_ttl_s: 3,
        etcd_timeout_ms: 1000),
)
"#,
        acc = net.access_iface(),
        srv = net.server_iface(),
        acc_ip = net.access(1),
        srv_ip = net.server_net(1),
        gw = net.gateway(),
        vip = net.vip(),
        server = net.server(0),
        socket = socket.display(),
    )
}

/// T: a tier-1 unit only, on net_null ports.
fn config_t(prefix: &str, socket: &Path, etcd: &str) -> String {
    format!(
        r#"(
    eal: (lcores: "0@0,1@0", no_huge: true, memory_mb: 256, file_prefix: "{prefix}",
        vdevs: ["net_null0,no-rx=1", "net_null1,no-rx=1"]),
    ports: [
        (name: "acc0", device: "net_null0", role: Access, addresses: ["10.1.0.1/24"]),
        (name: "fab0", device: "net_null1", role: Fabric, addresses: ["10.99.0.1/24"]),
    ],
    workers: [(lcore: 1, poll: [(port: "acc0"), (port: "fab0")])],
    {SMALL_SIZES}
    idle: (busy_poll: false, max_sleep_us: 1000),
    gateway: (addresses: ["10.2.0.10"], user_sessions_per_worker: 1024),
    services: [(name: "web", vip: "10.9.0.1", proto: Tcp, port: 80,
        servers: [(addr: "10.2.0.21", port: 8080)])],
    api: (socket: "{socket}"),
    cluster: (name: "itq", appliance_id: 1, etcd: [{etcd}], lease_ttl_s: 3,
        etcd_timeout_ms: 1000),
)
"#,
        socket = socket.display(),
    )
}

fn cluster(ctl: &Ctl) -> Value {
    ctl.json(&["cluster"])
}

/// The one digest every member reports as `ctl` reads them; None when
/// they differ, one is missing or etcd is unreachable.
fn one_digest(ctl: &Ctl, ids: &[u64]) -> Option<String> {
    let c = cluster(ctl);
    if member_ids(&c) != ids || c["digest_mismatch"] != false || c["etcd_reachable"] != true {
        return None;
    }
    let d: Vec<&str> = c["members"]
        .as_array()?
        .iter()
        .map(|m| m["digest"].as_str().unwrap_or("none"))
        .collect();
    let first = *d.first()?;
    (first != "none" && d.iter().all(|x| *x == first)).then(|| first.to_string())
}

/// Both appliances list members 1 and 3 with one and the same digest.
fn agree(x: &Ctl, t: &Ctl) -> bool {
    match (one_digest(x, &[1, 3]), one_digest(t, &[1, 3])) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

fn describe(x: &Ctl, t: &Ctl) -> String {
    format!("X: {:#}\nT: {:#}", cluster(x), cluster(t))
}

fn worker_count(ctl: &Ctl, field: &str) -> u64 {
    ctl.json(&["workers"])[0][field].as_u64().unwrap_or(0)
}

#[test]
fn losing_etcd_quorum_refuses_changes_and_keeps_forwarding() {
    assert!(
        tap::available(),
        "/dev/net/tun is missing: this test needs tap interfaces (run as root)"
    );
    let scratch = Scratch::new("cluster-quorum");
    let mut etcd = EtcdCluster::start(&scratch.dir);
    let endpoints = etcd.endpoints();

    let net = TapNet::new(240);
    let x_dir = scratch.path("x");
    let t_dir = scratch.path("t");
    std::fs::create_dir_all(&x_dir).expect("x dir");
    std::fs::create_dir_all(&t_dir).expect("t dir");
    let x_prefix = file_prefix("clqx");
    let t_prefix = file_prefix("clqt");
    let x_sock = x_dir.join("ctl.sock");
    let t_sock = t_dir.join("ctl.sock");
    let mut xt = Tandem::start(
        &x_dir,
        &x_prefix,
        &config_x(&net, &x_prefix, &x_sock, &endpoints),
    );
    xt.wait_running();
    let mut tt = Tandem::start(&t_dir, &t_prefix, &config_t(&t_prefix, &t_sock, &endpoints));
    tt.wait_running();
    let (x, t) = (Ctl::new(&x_sock), Ctl::new(&t_sock));

    // Terminals on the access tap (a new one for each user session), the
    // DNS server on the server tap.
    let terminals: Vec<Ipv4Addr> = (10..14).map(|h| net.access(h)).collect();
    net.configure(&terminals, &[net.server(0)]);
    let server = udp(net.server(0), 5353, Duration::from_millis(200));
    let talk = |i: usize, query: &[u8]| {
        let terminal = udp(terminals[i], 0, Duration::from_millis(200));
        exchange(&terminal, &server, net.vip(), 53, query);
    };
    talk(0, b"before");

    // 1. Both list the same members and the same digest.
    assert!(
        wait_until(Duration::from_secs(5), || agree(&x, &t)),
        "members do not agree:\n{}",
        describe(&x, &t)
    );

    // 2. One etcd member down (the first endpoint, the one both talk to),
    //    quorum kept: once the two left have a leader (an election when
    //    the stopped one led) both answer, and a pin made on T is in force
    //    on X within a second.
    etcd.members[0].stop();
    let t0 = Instant::now();
    assert!(
        wait_until(Duration::from_secs(10), || agree(&x, &t)),
        "the appliances do not carry on with one etcd member down:\n{}",
        describe(&x, &t)
    );
    eprintln!(
        "both answer {} ms after one etcd member stopped",
        t0.elapsed().as_millis()
    );
    let t0 = Instant::now();
    let said = t.ok(&["session", "move", "10.8.0.5", "300"]);
    assert!(said.contains("10.8.0.5"), "{said}");
    assert!(
        wait_until(Duration::from_secs(1), || pinned_gateway(&x, "10.8.0.5")
            == Some(300)),
        "X does not steer 10.8.0.5 to gateway 300 a second after the move on T \
         (one etcd member down)"
    );
    eprintln!(
        "pin seen on X after {} ms (one etcd member down)",
        t0.elapsed().as_millis()
    );
    talk(1, b"one member down");

    // 3. A second member down, quorum lost: the move is refused with a
    //    clear message and changes nothing; ctl cluster says so; traffic,
    //    new user sessions included, still flows.
    etcd.members[1].stop();
    let before_x = x.json(&["sessions"]);
    let before_t = t.json(&["sessions"]);
    let t0 = Instant::now();
    let refused = t.refused(&["session", "move", "10.8.0.6", "300"], "etcd unreachable");
    assert!(refused.contains("was not changed"), "{refused}");
    eprintln!(
        "move refused after {} ms without quorum",
        t0.elapsed().as_millis()
    );
    assert_eq!(t.json(&["sessions"]), before_t);
    assert_eq!(x.json(&["sessions"]), before_x);
    assert_eq!(pinned_gateway(&x, "10.8.0.6"), None);
    assert_eq!(pinned_gateway(&x, "10.8.0.5"), Some(300));
    for ctl in [&x, &t] {
        assert!(
            wait_until(Duration::from_secs(10), || cluster(ctl)["etcd_reachable"]
                == false),
            "an appliance does not notice etcd has no quorum:\n{}",
            describe(&x, &t)
        );
    }
    let table = x.ok(&["cluster"]);
    assert!(table.contains("etcd is UNREACHABLE"), "{table}");
    let (tx0, created0) = (
        worker_count(&x, "tx_packets"),
        worker_count(&x, "user_sessions_created"),
    );
    talk(1, b"no quorum, open session");
    talk(2, b"no quorum, new session");
    talk(3, b"no quorum, another new session");
    let (tx1, created1) = (
        worker_count(&x, "tx_packets"),
        worker_count(&x, "user_sessions_created"),
    );
    assert!(tx1 >= tx0 + 6, "X sent {} frames without quorum", tx1 - tx0);
    assert!(
        created1 >= created0 + 2,
        "X opened {} new user sessions without quorum",
        created1 - created0
    );

    // 4. The two members come back: the digests converge and a pin works.
    etcd.restart(&[0, 1]);
    assert!(
        wait_until(Duration::from_secs(15), || agree(&x, &t)),
        "no agreement after etcd regained its quorum:\n{}",
        describe(&x, &t)
    );
    let said = x.ok(&["session", "move", "10.8.0.7", "300"]);
    assert!(said.contains("10.8.0.7"), "{said}");
    assert!(
        wait_until(Duration::from_secs(1), || pinned_gateway(&t, "10.8.0.7")
            == Some(300)),
        "T does not apply X's pin after etcd regained its quorum"
    );
    talk(0, b"after");

    common::tandem::assert_clean_exit(&tt.stop());
    common::tandem::assert_clean_exit(&xt.stop());
}
