//! A cluster's control plane through the real binary (docs/cluster.md):
//! etcd on loopback (its own ports and data directory, killed by PID at the
//! end) and three `tandem` processes on net_null ports: A (tier-1 unit
//! only), G (gateway only, two workers) and B (both roles, one worker).
//!
//! What an operator would notice: every appliance lists the same members
//! and reports the same table digest; a pin made with `ctl session move`
//! on one is in force on another within 1 s; a gateway appliance killed
//! with SIGKILL leaves the member list after its lease and the others
//! agree again; with etcd stopped, `ctl session move` is refused with a
//! clear message and `ctl cluster` says etcd is unreachable; when etcd is
//! back the digests converge. Also: a second appliance claiming a gateway
//! address that is taken refuses to start.

mod common;

use common::cluster::{free_port, member_ids};
use common::ctl::Ctl;
use common::tandem::{run_to_end, Tandem};
use common::{file_prefix, wait_until, Scratch, SMALL_SIZES};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One etcd member on loopback; killed (by its PID) when dropped.
struct Etcd {
    child: Option<Child>,
    data: PathBuf,
    client: u16,
    peer: u16,
    log: PathBuf,
}

impl Etcd {
    fn start(dir: &Path) -> Etcd {
        let mut e = Etcd {
            child: None,
            data: dir.join("etcd-data"),
            client: free_port(),
            peer: free_port(),
            log: dir.join("etcd.log"),
        };
        e.spawn();
        e
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.client)
    }

    fn spawn(&mut self) {
        let peer = format!("http://127.0.0.1:{}", self.peer);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("etcd log");
        let child = Command::new("etcd")
            .args(["--name", "t", "--data-dir"])
            .arg(&self.data)
            .args(["--listen-client-urls", &self.url()])
            .args(["--advertise-client-urls", &self.url()])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &format!("t={peer}")])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("etcd runs (apt-get install etcd-server)");
        self.child = Some(child);
        let before = self.log().matches("ready to serve client requests").count();
        let up = wait_until(Duration::from_secs(15), || {
            self.log().matches("ready to serve client requests").count() > before
        });
        assert!(up, "etcd did not start: {}", self.log());
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What one appliance has besides the common part of its config.
struct Role {
    name: &'static str,
    id: u32,
    /// Ports (without the fabric port) and workers.
    ports_workers: &'static str,
    lcores: &'static str,
    vdevs: &'static str,
    gateway_address: &'static str,
    fabric: &'static str,
}

const A: Role = Role {
    name: "a",
    id: 1,
    ports_workers: r#"(name: "acc0", device: "net_null0", role: Access, addresses: ["10.1.0.1/24"]),
        (name: "fab0", device: "net_null1", role: Fabric, addresses: ["10.99.0.1/24"]),
    ],
    workers: [(lcore: 1, poll: [(port: "acc0"), (port: "fab0")])],"#,
    lcores: "0@0,1@0",
    vdevs: r#""net_null0,no-rx=1", "net_null1,no-rx=1""#,
    gateway_address: "10.2.0.10",
    fabric: "10.99.0.1",
};

const G: Role = Role {
    name: "g",
    id: 2,
    ports_workers: r#"(name: "srv0", device: "net_null0", role: Server, addresses: ["10.2.0.1/24"]),
        (name: "fab0", device: "net_null1", role: Fabric, addresses: ["10.99.0.2/24"]),
    ],
    workers: [(lcore: 1, poll: [(port: "srv0")]), (lcore: 2, poll: [(port: "fab0")])],"#,
    lcores: "0@0,1@0,2@0",
    vdevs: r#""net_null0,no-rx=1", "net_null1,no-rx=1""#,
    gateway_address: "10.2.0.20",
    fabric: "10.99.0.2",
};

const B: Role = Role {
    name: "b",
    id: 3,
    ports_workers: r#"(name: "acc0", device: "net_null0", role: Access, addresses: ["10.1.1.1/24"]),
        (name: "srv0", device: "net_null1", role: Server, addresses: ["10.2.1.1/24"]),
        (name: "fab0", device: "net_null2", role: Fabric, addresses: ["10.99.0.3/24"]),
    ],
    workers: [(lcore: 1, poll: [(port: "acc0"), (port: "srv0"), (port: "fab0")])],"#,
    lcores: "0@0,1@0",
    vdevs: r#""net_null0,no-rx=1", "net_null1,no-rx=1", "net_null2,no-rx=1""#,
    gateway_address: "10.2.1.30",
    fabric: "10.99.0.3",
};

fn config(role: &Role, prefix: &str, socket: &Path, etcd: &str) -> String {
    format!(
        r#"(
    eal: (lcores: "{lcores}", no_huge: true, memory_mb: 256, file_prefix: "{prefix}",
        vdevs: [{vdevs}]),
    ports: [
        {ports_workers}
    {SMALL_SIZES}
    idle: (busy_poll: false, max_sleep_us: 1000),
    steering: (move_drain_s: 2),
    gateway: (addresses: ["{gw}"], user_sessions_per_worker: 1024),
    services: [(name: "web", vip: "10.9.0.1", proto: Tcp, port: 80,
        servers: [(addr: "10.2.0.21", port: 8080)])],
    api: (socket: "{socket}"),
    cluster: (name: "it", appliance_id: {id}, etcd: ["{etcd}"], lease_ttl_s: 3,
        etcd_timeout_ms: 2000),
)
"#,
        lcores = role.lcores,
        vdevs = role.vdevs,
        ports_workers = role.ports_workers,
        gw = role.gateway_address,
        id = role.id,
        socket = socket.display(),
    )
}

struct Member {
    tandem: Tandem,
    ctl: Ctl,
}

fn start(role: &Role, scratch: &Scratch, etcd: &Etcd) -> Member {
    let dir = scratch.path(role.name);
    std::fs::create_dir_all(&dir).expect("member dir");
    let prefix = file_prefix(&format!("cl{}", role.name));
    let socket = dir.join("ctl.sock");
    let mut tandem = Tandem::start(&dir, &prefix, &config(role, &prefix, &socket, &etcd.url()));
    tandem.wait_running();
    Member {
        tandem,
        ctl: Ctl::new(&socket),
    }
}

/// `ctl cluster --json` of one appliance.
fn cluster(m: &Member) -> Value {
    m.ctl.json(&["cluster"])
}

/// The digests the members report, as one appliance reads them.
fn digests(c: &Value) -> Vec<String> {
    c["members"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| m["digest"].as_str().unwrap_or("none").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Every appliance in `ms` lists exactly `ids` and one digest for all.
fn agree(ms: &[&Member], ids: &[u64]) -> bool {
    let mut seen = Vec::new();
    for m in ms {
        let c = cluster(m);
        if member_ids(&c) != ids || c["digest_mismatch"] != false || c["etcd_reachable"] != true {
            return false;
        }
        let d = digests(&c);
        if d.iter().any(|x| x == "none" || *x != d[0]) {
            return false;
        }
        seen.push(d[0].clone());
    }
    seen.windows(2).all(|w| w[0] == w[1])
}

fn describe(ms: &[&Member]) -> String {
    ms.iter()
        .map(|m| format!("{:#}", cluster(m)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The gateway a session is pinned to on one appliance, if any.
fn pinned_gateway(m: &Member, session: &str) -> Option<u64> {
    common::cluster::pinned_gateway(&m.ctl, session)
}

#[test]
fn members_agree_pins_spread_failures_and_etcd_loss_are_handled() {
    let scratch = Scratch::new("cluster-control");
    let mut etcd = Etcd::start(&scratch.dir);
    let a = start(&A, &scratch, &etcd);
    let g = start(&G, &scratch, &etcd);
    let b = start(&B, &scratch, &etcd);

    // Same members, same digest everywhere; gateways 200, 201 (G) and 300 (B).
    assert!(
        wait_until(Duration::from_secs(5), || agree(&[&a, &g, &b], &[1, 2, 3])),
        "members do not agree:\n{}",
        describe(&[&a, &g, &b])
    );
    for m in [&a, &g, &b] {
        assert_eq!(m.ctl.json(&["status"])["sessions"]["gateways"], 3);
    }
    let table = a.ctl.ok(&["cluster"]);
    assert!(table.contains("digests agree"), "{table}");
    assert!(table.contains(&format!("{}:6081", G.fabric)), "{table}");
    let metrics = a.ctl.ok(&["metrics"]);
    assert!(metrics.contains("tandem_cluster_members 3"), "{metrics}");
    assert!(
        metrics.contains("tandem_cluster_etcd_reachable 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tandem_cluster_digest_mismatch 0"),
        "{metrics}"
    );

    // A gateway address already claimed: the newcomer refuses to start,
    // before DPDK, and says by whom.
    let dup_dir = scratch.path("dup");
    std::fs::create_dir_all(&dup_dir).expect("dup dir");
    let dup = Role {
        name: "dup",
        id: 9,
        gateway_address: G.gateway_address,
        ..G
    };
    let dup_cfg = dup_dir.join("tandem.ron");
    let prefix = file_prefix("cldup");
    std::fs::write(
        &dup_cfg,
        config(&dup, &prefix, &dup_dir.join("ctl.sock"), &etcd.url()),
    )
    .expect("write");
    let (status, _, stderr) = run_to_end(
        &["run", "--config", dup_cfg.to_str().expect("utf-8")],
        Duration::from_secs(20),
    );
    assert!(!status.success(), "a duplicate claim started: {stderr}");
    assert!(
        stderr.contains("10.2.0.20 is claimed by appliance 2"),
        "{stderr}"
    );

    // A pin made on A is in force on G within a second.
    let t0 = Instant::now();
    let said = a.ctl.ok(&["session", "move", "10.8.0.5", "300"]);
    assert!(said.contains("10.8.0.5"), "{said}");
    assert!(
        wait_until(Duration::from_secs(1), || pinned_gateway(&g, "10.8.0.5")
            == Some(300)),
        "G does not steer 10.8.0.5 to gateway 300 a second after the move on A"
    );
    eprintln!("pin seen on G after {} ms", t0.elapsed().as_millis());
    assert_eq!(pinned_gateway(&b, "10.8.0.5"), Some(300));
    assert!(
        wait_until(Duration::from_secs(3), || agree(&[&a, &g, &b], &[1, 2, 3])),
        "digests differ after the pin:\n{}",
        describe(&[&a, &g, &b])
    );
    // A gateway that is not live is refused, nothing changes.
    let refused = a
        .ctl
        .refused(&["session", "move", "10.8.0.6", "999"], "not live");
    assert!(refused.contains("200, 201, 300"), "{refused}");

    // G's gateway 201 drains: Maglev gives it no new session anywhere, the
    // sessions pinned there move (and drain), then it leaves.
    let ids = |net: u8| -> Vec<String> { (1..=24).map(|i| format!("10.8.{net}.{i}")).collect() };
    for id in ids(1) {
        a.ctl.ok(&["session", "create", "--id", &id]);
    }
    assert!(
        wait_until(Duration::from_secs(1), || ids(1)
            .iter()
            .all(|id| pinned_gateway(&g, id).is_some())),
        "G does not see A's sessions"
    );
    let on_201 = |m: &Member, ids: &[String]| {
        ids.iter()
            .filter(|id| pinned_gateway(m, id) == Some(201))
            .count()
    };
    assert!(
        on_201(&g, &ids(1)) > 0,
        "no session of 24 on gateway 201 (chance (2/3)^24 with a random seed)"
    );
    let said = b.ctl.ok(&["gateway", "drain", "201"]);
    assert!(said.contains("201 draining"), "{said}");
    b.ctl.refused(&["gateway", "drain", "999"], "not live");
    assert!(
        wait_until(Duration::from_secs(1), || cluster(&a)["draining"]
            == serde_json::json!([201])),
        "A does not see the drain"
    );
    assert!(
        wait_until(Duration::from_secs(1), || on_201(&a, &ids(1)) == 0),
        "sessions pinned to 201 did not move"
    );
    for id in ids(2) {
        a.ctl.ok(&["session", "create", "--id", &id]);
    }
    assert!(
        wait_until(Duration::from_secs(1), || ids(2)
            .iter()
            .all(|id| pinned_gateway(&b, id).is_some())),
        "B does not see A's sessions"
    );
    assert_eq!(on_201(&b, &ids(2)), 0, "a new session went to draining 201");
    assert!(
        wait_until(Duration::from_secs(6), || {
            [&a, &g, &b]
                .iter()
                .all(|m| m.ctl.json(&["status"])["sessions"]["gateways"] == 2)
                && agree(&[&a, &g, &b], &[1, 2, 3])
        }),
        "201 did not leave after its drain:\n{}",
        describe(&[&a, &g, &b])
    );
    assert_eq!(cluster(&g)["draining"], serde_json::json!([]));

    // B dies without a word: after its lease it is gone for the others,
    // its gateway with it, and they agree again.
    let t0 = Instant::now();
    b.tandem.signal("KILL");
    assert!(
        wait_until(Duration::from_secs(8), || agree(&[&a, &g], &[1, 2])),
        "A and G still list B or disagree:\n{}",
        describe(&[&a, &g])
    );
    eprintln!(
        "B gone for the others after {} ms",
        t0.elapsed().as_millis()
    );
    assert!(
        t0.elapsed() >= Duration::from_secs(2),
        "B left before its lease ran out"
    );
    assert_eq!(a.ctl.json(&["status"])["sessions"]["gateways"], 1);
    // Its pin waits in etcd for gateway 300; A steers by Maglev meanwhile.
    assert_eq!(pinned_gateway(&a, "10.8.0.5"), None);

    // etcd stops: changes are refused with a clear message, nothing changes,
    // and ctl cluster and the metrics say so.
    etcd.stop();
    let before = a.ctl.json(&["sessions"]);
    let refused = a
        .ctl
        .refused(&["session", "move", "10.8.0.7", "200"], "etcd unreachable");
    assert!(refused.contains("was not changed"), "{refused}");
    assert_eq!(a.ctl.json(&["sessions"]), before);
    assert!(
        wait_until(Duration::from_secs(5), || cluster(&g)["etcd_reachable"]
            == false),
        "G does not notice etcd is gone"
    );
    let table = a.ctl.ok(&["cluster"]);
    assert!(table.contains("etcd is UNREACHABLE"), "{table}");
    assert!(
        a.ctl
            .ok(&["metrics"])
            .contains("tandem_cluster_etcd_reachable 0"),
        "metric does not say etcd is unreachable"
    );
    // The table stays: G's gateway 200 is still there.
    assert_eq!(a.ctl.json(&["status"])["sessions"]["gateways"], 1);

    // etcd comes back: both rejoin and agree.
    etcd.spawn();
    assert!(
        wait_until(Duration::from_secs(15), || agree(&[&a, &g], &[1, 2])),
        "no agreement after etcd came back:\n{}\n{}",
        describe(&[&a, &g]),
        etcd.log()
    );
    let said = g.ctl.ok(&["session", "move", "10.8.0.7", "200"]);
    assert!(said.contains("200"), "{said}");
    assert!(
        wait_until(Duration::from_secs(1), || pinned_gateway(&a, "10.8.0.7")
            == Some(200)),
        "A does not apply G's pin after etcd came back"
    );

    // A clean stop gives the lease back: G is gone for A well before its
    // lease would have run out.
    drop(b);
    let (mut a, mut g) = (a, g);
    let t0 = Instant::now();
    common::tandem::assert_clean_exit(&g.tandem.stop());
    assert!(
        wait_until(Duration::from_secs(1), || member_ids(&cluster(&a)) == [1]),
        "G still listed {} ms after its clean stop",
        t0.elapsed().as_millis()
    );
    assert_eq!(a.ctl.json(&["status"])["sessions"]["gateways"], 0);
    common::tandem::assert_clean_exit(&a.tandem.stop());
}

/// A tier-1 unit whose sessions all belong to another appliance's gateways
/// steers them there and sends them over the fabric (docs/cluster.md):
/// every frame leaves the fabric port (a net_pcap recording) in Geneve to
/// G's fabric address and the port of the session's gateway, with the
/// Tandem option naming appliance 1 and the access port, and the
/// terminal's frame inside byte for byte. Datagrams too big for the
/// fabric (1500 bytes of IPv4, `fabric_mtu` 1500) never cross it: those
/// with DF set are answered out of the access port with ICMP
/// fragmentation needed, next-hop MTU 1426; the one without DF is not.
#[test]
fn a_tier1_unit_encapsulates_to_remote_gateways_over_the_fabric() {
    use common::golden::{spec, terminal_mac, WEB_VIP};
    use dataplane::wire::checksum::checksum;
    use dataplane::wire::frames::udp_frame;
    use dataplane::wire::{decapsulate, TandemOption};
    let scratch = Scratch::new("cluster-tier1");
    let etcd = Etcd::start(&scratch.dir);
    // Names of their own: EAL file prefixes must differ from the other
    // test's, which runs at the same time in this process.
    let g = start(&Role { name: "tg", ..G }, &scratch, &etcd);

    // Ten terminals, two datagrams each, to the web VIP.
    let frames: Vec<Vec<u8>> = (0..20u8)
        .map(|i| {
            let terminal = std::net::Ipv4Addr::new(10, 8, 0, 1 + i % 10);
            udp_frame(&spec(terminal, 5000, WEB_VIP, 80), b"x").expect("frame")
        })
        .collect();
    let terminal = std::net::Ipv4Addr::new(10, 8, 0, 1);
    let too_big = |df: bool| {
        let mut f = udp_frame(&spec(terminal, 5001, WEB_VIP, 80), &[7; 1472]).expect("frame");
        if df {
            f[20] |= 0x40;
            f[24..26].copy_from_slice(&[0, 0]);
            let cs = checksum(&f[14..34]);
            f[24..26].copy_from_slice(&cs.to_be_bytes());
        }
        f
    };
    let mut replayed = frames.clone();
    replayed.extend([too_big(true), too_big(false), too_big(true)]);
    let (acc_vdev, acc_tx) = common::golden::pcap_vdev(&scratch, 0, &replayed, 2);
    // The fabric port records what it sends (one file per tx queue); G's
    // fabric MAC is a static neighbour (nothing answers ARP here).
    let (fab_vdev, fab_tx) = common::golden::pcap_vdev(&scratch, 1, &[], 2);
    let vdevs = format!(r#""{acc_vdev}", "{fab_vdev}""#);
    let ports = A.ports_workers.replace("net_null0", "net_pcap0").replace(
        r#"(name: "fab0", device: "net_null1", role: Fabric, addresses: ["10.99.0.1/24"]),"#,
        r#"(name: "fab0", device: "net_pcap1", role: Fabric, addresses: ["10.99.0.1/24"],
            neighbours: [(ip: "10.99.0.2", mac: "02:fa:00:00:00:02")]),"#,
    );
    let a = Role {
        name: "ta",
        vdevs: Box::leak(vdevs.into_boxed_str()),
        ports_workers: Box::leak(ports.into_boxed_str()),
        ..A
    };
    let mut a = start(&a, &scratch, &etcd);
    let too_big_drops = |w: &Value| -> u64 {
        w[0]["drops"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| d[0] == "fabric_too_big")
            .filter_map(|d| d[1].as_u64())
            .sum()
    };
    assert!(
        wait_until(Duration::from_secs(5), || {
            let w = a.ctl.json(&["workers"]);
            w[0]["fabric_tx"] == serde_json::json!(20) && too_big_drops(&w) == 3
        }),
        "the frames were not sent over the fabric:\n{:#}",
        a.ctl.json(&["workers"])
    );
    let workers = a.ctl.json(&["workers"]);
    assert_eq!(workers[0]["icmp_errors_sent"], 2, "{workers:#}");
    assert_eq!(workers[0]["tx_packets"], 22, "{workers:#}");
    // Steered all the same: the ten sessions are pinned to G's gateways.
    let sessions = a.ctl.json(&["sessions"]);
    let pinned: Vec<(String, u64)> = sessions
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|s| Some((s["id"].as_str()?.to_string(), s["gateway"].as_u64()?)))
        .collect();
    assert_eq!(pinned.len(), 10, "{sessions:#}");
    assert!(
        pinned.iter().all(|(_, g)| *g == 200 || *g == 201),
        "{sessions:#}"
    );
    common::tandem::assert_clean_exit(&a.tandem.stop());
    // Besides the control plane's gratuitous ARP: the 20 frames.
    let sent: Vec<Vec<u8>> = fab_tx
        .iter()
        .flat_map(|f| common::pcap::read(f))
        .filter(|f| f[12..14] != [0x08, 0x06])
        .collect();
    assert_eq!(sent.len(), 20);
    for frame in &sent {
        assert_eq!(&frame[0..6], &[2, 0xfa, 0, 0, 0, 2], "to G's fabric MAC");
        let port = u16::from_be_bytes([frame[36], frame[37]]);
        let d = decapsulate(frame, port).expect("a well-formed fabric frame");
        assert_eq!(d.outer_src, std::net::Ipv4Addr::new(10, 99, 0, 1));
        assert_eq!(&frame[30..34], &[10, 99, 0, 2]);
        let inner = &frame[d.inner_offset..d.inner_offset + d.inner_len];
        assert!(
            frames.iter().any(|f| f == inner),
            "the terminal's frame inside"
        );
        // The gateway the session is pinned to decides the port: 6081 + w.
        let terminal = std::net::Ipv4Addr::new(inner[26], inner[27], inner[28], inner[29]);
        let gateway = pinned
            .iter()
            .find(|(id, _)| *id == terminal.to_string())
            .map(|(_, g)| *g)
            .expect("a pinned session");
        assert_eq!(u64::from(port), 6081 + gateway - 200, "{terminal}");
        assert_eq!(
            (d.option.appliance_id, d.option.io_point, d.option.hop_count),
            (1, 0, 0),
            "{:?}",
            d.option as TandemOption
        );
    }
    // The access port sent the two answers (and its gratuitous ARP).
    let answers: Vec<Vec<u8>> = acc_tx
        .iter()
        .flat_map(|f| common::pcap::read(f))
        .filter(|f| f[12..14] == [0x08, 0x00])
        .collect();
    assert_eq!(answers.len(), 2, "one per DF datagram");
    let original = too_big(true);
    for f in &answers {
        assert_eq!(&f[0..6], &terminal_mac(terminal).0, "to the terminal");
        let ip = &f[14..34];
        assert_eq!(checksum(ip), 0, "IPv4 header checksum");
        assert_eq!(ip[9], 1, "ICMP");
        assert_eq!(
            &ip[12..16],
            &[10, 1, 0, 1],
            "from the access port's address"
        );
        assert_eq!(&ip[16..20], &terminal.octets());
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        let icmp = &f[34..14 + total];
        assert_eq!(checksum(icmp), 0, "ICMP checksum");
        assert_eq!((icmp[0], icmp[1]), (3, 4), "fragmentation needed");
        assert_eq!(u16::from_be_bytes([icmp[6], icmp[7]]), 1500 - 60 - 14);
        assert_eq!(&icmp[8..], &original[14..14 + 28], "header + 8 quoted");
    }
    drop(g);
}

/// A gateway appliance takes sessions from the fabric through the real
/// binary: SYNs wrapped in Geneve by tier-1 unit A (a member, appliance 1)
/// arrive on G's fabric port (a net_pcap replay) for gateways 200 and 201;
/// those for 200 are handed to worker 0 through the handoff ring, each
/// opens a user session on its gateway and leaves the server port
/// translated (a net_pcap recording). A frame from a stranger and one whose
/// option names another appliance are dropped with their reasons.
#[test]
fn a_gateway_takes_sessions_from_the_fabric_and_refuses_strangers() {
    use common::golden::{spec, WEB_VIP};
    use dataplane::wire::frames::tcp_frame;
    use dataplane::wire::GENEVE_ENCAP_LEN;
    use dataplane::wire::{encapsulate, GeneveEncap, MacAddr, TandemOption, TcpFlags};
    use std::net::Ipv4Addr;
    let scratch = Scratch::new("cluster-gateway");
    let etcd = Etcd::start(&scratch.dir);
    let _a = start(&Role { name: "fa", ..A }, &scratch, &etcd);

    let wrap = |inner: &[u8], src: Ipv4Addr, port: u16, appliance_id: u32| {
        let mut buf = vec![0u8; GENEVE_ENCAP_LEN];
        buf.extend_from_slice(inner);
        let encap = GeneveEncap {
            src_mac: MacAddr([2, 0xfa, 0, 0, 0, 1]),
            dst_mac: MacAddr([2, 0xfa, 0, 0, 0, 2]),
            src_ip: src,
            dst_ip: Ipv4Addr::new(10, 99, 0, 2),
            dst_port: port,
            flow_hash: u32::from(port),
            vni: 0,
            option: TandemOption {
                appliance_id,
                io_point: 0,
                hop_count: 0,
                flags: 0,
                generation: 0,
                draining_from: 0,
            },
        };
        encapsulate(&mut buf, GENEVE_ENCAP_LEN, &encap).expect("room");
        buf
    };
    let member = Ipv4Addr::new(10, 99, 0, 1);
    let syn = |i: u8| {
        let terminal = Ipv4Addr::new(10, 8, 0, 1 + i);
        tcp_frame(
            &spec(terminal, 40000, WEB_VIP, 80),
            1000,
            0,
            TcpFlags::SYN,
            65535,
            &[],
        )
        .expect("frame")
    };
    // Ten sessions, five for each gateway; then a stranger and a liar.
    let mut frames: Vec<Vec<u8>> = (0..10u8)
        .map(|i| wrap(&syn(i), member, 6081 + u16::from(i % 2), 1))
        .collect();
    frames.push(wrap(&syn(20), Ipv4Addr::new(10, 99, 0, 9), 6081, 1));
    frames.push(wrap(&syn(21), member, 6081, 3));
    let (srv_vdev, srv_tx) = common::golden::pcap_vdev(&scratch, 0, &[], 3);
    let (fab_vdev, _fab_tx) = common::golden::pcap_vdev(&scratch, 1, &frames, 3);
    let vdevs = format!(r#""{srv_vdev}", "{fab_vdev}""#);
    let ports = G
        .ports_workers
        .replace(
            r#"(name: "srv0", device: "net_null0", role: Server, addresses: ["10.2.0.1/24"]),"#,
            r#"(name: "srv0", device: "net_pcap0", role: Server, addresses: ["10.2.0.1/24"],
            neighbours: [(ip: "10.2.0.21", mac: "02:00:00:00:02:21")]),"#,
        )
        .replace("net_null1", "net_pcap1");
    let g = Role {
        name: "fg",
        vdevs: Box::leak(vdevs.into_boxed_str()),
        ports_workers: Box::leak(ports.into_boxed_str()),
        ..G
    };
    let mut g = start(&g, &scratch, &etcd);
    let drop_of = |w: &Value, reason: &str| -> u64 {
        w.as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x["drops"].as_array())
            .flatten()
            .filter(|d| d[0] == reason)
            .filter_map(|d| d[1].as_u64())
            .sum()
    };
    let sum = |w: &Value, field: &str| -> u64 {
        w.as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x[field].as_u64())
            .sum()
    };
    assert!(
        wait_until(Duration::from_secs(5), || {
            let w = g.ctl.json(&["workers"]);
            sum(&w, "fabric_rx") == 10
                && drop_of(&w, "fabric_stranger") == 1
                && drop_of(&w, "fabric_wrong_appliance") == 1
        }),
        "the fabric frames were not all judged:\n{:#}",
        g.ctl.json(&["workers"])
    );
    let w = g.ctl.json(&["workers"]);
    assert_eq!(w[0]["user_sessions_live"], 5, "gateway 200: {w:#}");
    assert_eq!(w[1]["user_sessions_live"], 5, "gateway 201: {w:#}");
    assert_eq!(w[1]["handoff_out"], 5, "200's frames handed over: {w:#}");
    common::tandem::assert_clean_exit(&g.tandem.stop());
    let sent: Vec<Vec<u8>> = srv_tx
        .iter()
        .flat_map(|f| common::pcap::read(f))
        .filter(|f| f[12..14] == [0x08, 0x00])
        .collect();
    assert_eq!(sent.len(), 10, "ten SYNs to the server");
    for f in &sent {
        assert_eq!(&f[0..6], &[2, 0, 0, 0, 2, 0x21], "the server's MAC");
        assert_eq!(&f[26..30], &[10, 2, 0, 20], "from G's gateway address");
        assert_eq!(&f[30..34], &[10, 2, 0, 21]);
        assert_eq!(u16::from_be_bytes([f[36], f[37]]), 8080);
        assert_eq!(f[47] & 0x12, 0x02, "a SYN");
    }
}
