//! Live reconfiguration of a running `tandem`: the config file is
//! rewritten and re-read (`tandem ctl reload`, and SIGHUP) while traffic
//! flows through net_tap ports between kernel sockets. A weight change and
//! a new server take effect; the user sessions open before go on with
//! their server and gateway port, and a long TCP transfer arrives whole. A
//! reload that needs a restart (`eal`, `ports`) or of a broken file is
//! refused, says why, and changes nothing.
//!
//! Needs root and /dev/net/tun, like nat_tap.rs.

mod common;

use common::ctl::{find_server, live_user_sessions, server, Ctl};
use common::kernel_tcp::{finish, try_connect, Digest, DigestServer};
use common::tandem::{assert_clean_exit, Tandem};
use common::tapnet::{exchange, query_until_served, udp, TapNet};
use common::{file_prefix, tap, wait_until, Scratch, SMALL_SIZES};
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

const IO_LIMIT: Duration = Duration::from_secs(10);
const WAIT: Duration = Duration::from_secs(10);

fn connect(vip: Ipv4Addr) -> TcpStream {
    try_connect(vip, 80, IO_LIMIT).expect("connect to the VIP")
}

/// Writes a pattern until `stop`, then ends the upload; returns what it
/// sent and what the server answered.
fn bulk_upload(
    conn: TcpStream,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
) -> JoinHandle<(String, String)> {
    std::thread::spawn(move || {
        let mut conn = conn;
        let mut digest = Digest::new();
        let mut chunk = vec![0u8; 16 * 1024];
        let mut round = 0u32;
        while !stop.load(Ordering::Relaxed) {
            for (i, b) in chunk.iter_mut().enumerate() {
                *b = (i as u32).wrapping_mul(31).wrapping_add(round) as u8;
            }
            conn.write_all(&chunk).expect("bulk write (reset?)");
            digest.feed(&chunk);
            sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            round += 1;
            // Leave some CPU to the rest of the test.
            std::thread::sleep(Duration::from_millis(2));
        }
        let answer = finish(conn, b"");
        (digest.line(), answer)
    })
}

/// The live user sessions of the terminal as `user-sessions` and
/// `sessions` show them (3 TCP to A:8080, 1 UDP to A:5353), checked with
/// the filters; returns (worker, gateway address:port) of each, sorted.
fn check_user_sessions(ctl: &Ctl, net: &TapNet, terminal: Ipv4Addr) -> Vec<(u64, String)> {
    let all = ctl.json(&["user-sessions"]);
    let all = all.as_array().expect("a list").clone();
    assert_eq!(all.len(), 4, "{all:#?}");
    let a = net.server(0);
    let mut tcp = 0;
    for u in &all {
        assert_eq!(u["session"], terminal.to_string(), "{u:#}");
        assert!(
            u["terminal"]
                .as_str()
                .is_some_and(|t| t.starts_with(&format!("{terminal}:"))),
            "{u:#}"
        );
        assert!(
            u["gateway"]
                .as_str()
                .is_some_and(|g| g.starts_with(&format!("{}:", net.gateway()))),
            "{u:#}"
        );
        match u["proto"].as_str() {
            Some("tcp") => {
                tcp += 1;
                assert_eq!(u["server"], format!("{a}:8080"));
                assert_eq!(u["service"], "web");
                assert_eq!(u["destination"], format!("{}:80", net.vip()));
            }
            Some("udp") => {
                assert_eq!(u["server"], format!("{a}:5353"));
                assert_eq!(u["service"], "dns");
            }
            _ => panic!("{u:#}"),
        }
    }
    assert_eq!(tcp, 3);
    let t = terminal.to_string();
    let n = |args: &[&str]| ctl.json(args).as_array().map_or(0, Vec::len);
    assert_eq!(n(&["user-sessions", "--session", &t]), 4);
    assert_eq!(n(&["user-sessions", "--server", &a.to_string()]), 4);
    assert_eq!(
        n(&["user-sessions", "--server", &net.server(1).to_string()]),
        0
    );
    assert_eq!(
        n(&["user-sessions", "--session", &net.access(99).to_string()]),
        0
    );
    assert_eq!(n(&["user-sessions", "--limit", "2"]), 2);
    let table = ctl.ok(&["user-sessions", "--session", &t]);
    assert_eq!(
        table
            .lines()
            .filter(|l| l.contains(&format!("{a}:8080")))
            .count(),
        3,
        "{table}"
    );
    // The terminal's mobile session was pinned by its first packet.
    let sessions = ctl.json(&["sessions"]);
    assert_eq!(sessions[0]["id"], t.as_str(), "{sessions:#}");
    assert_eq!(sessions[0]["origin"], "traffic");
    assert_eq!(sessions[0]["gateway"], 0);
    assert_eq!(sessions[0]["user_sessions"], 4);
    let mut ends: Vec<(u64, String)> = all
        .iter()
        .map(|u| {
            (
                u["worker"].as_u64().unwrap_or(u64::MAX),
                u["gateway"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    ends.sort();
    ends
}

fn web_servers(net: &TapNet, second: Option<u32>, first_weight: u32) -> String {
    let mut servers = format!(
        r#"(addr: "{}", port: 8080, weight: {first_weight})"#,
        net.server(0)
    );
    if let Some(w) = second {
        servers.push_str(&format!(
            r#", (addr: "{}", port: 8080, weight: {w})"#,
            net.server(1)
        ));
    }
    format!(
        r#"
        (name: "web", vip: "{vip}", proto: Tcp, port: 80, servers: [{servers}]),
        (name: "dns", vip: "{vip}", proto: Udp, port: 53,
         servers: [(addr: "{a}", port: 5353)]),"#,
        vip = net.vip(),
        a = net.server(0),
    )
}

#[test]
fn reload_and_sighup_apply_weights_and_servers_while_traffic_flows() {
    assert!(
        tap::available(),
        "/dev/net/tun is missing: this test needs tap interfaces (run as root)"
    );
    let test = "reload-live";
    let scratch = Scratch::new(test);
    let prefix = file_prefix(test);
    let socket = scratch.path("ctl.sock");
    let net = TapNet::new(30);
    let config_path = scratch.path("tandem.ron");
    let write_config = |services: &str| {
        std::fs::write(
            &config_path,
            net.config(&prefix, true, &socket, services, ""),
        )
        .expect("rewrite config");
    };
    let mut tandem = Tandem::start(
        &scratch.dir,
        &prefix,
        &net.config(&prefix, true, &socket, &web_servers(&net, None, 1), ""),
    );
    tandem.wait_running();
    let ctl = Ctl::new(&socket);
    let terminal = net.access(100);
    net.configure(&[terminal], &[net.server(0), net.server(1)]);

    let (accepted_tx, accepted) = mpsc::channel();
    let _a = DigestServer::start("A", net.server(0), 8080, accepted_tx.clone());
    let _b = DigestServer::start("B", net.server(1), 8080, accepted_tx);
    let expect_accept = |who: &str| -> SocketAddr {
        let (name, peer) = accepted
            .recv_timeout(IO_LIMIT)
            .expect("a connection reached a server");
        assert_eq!(name, who, "connection accepted by the wrong server");
        assert_eq!(peer.ip(), net.gateway(), "the server sees the gateway");
        peer
    };

    // UDP: one user session that must keep its gateway port throughout.
    let dns = udp(net.server(0), 5353, Duration::from_millis(100));
    let client = udp(terminal, 0, IO_LIMIT);
    let udp_port = query_until_served(&client, &dns, net.vip(), 53, b"warm-up").port();
    exchange(&client, &dns, net.vip(), 53, b"before");

    // TCP: a bulk upload that runs across both reloads, and two quiet
    // connections.
    let bulk = connect(net.vip());
    expect_accept("A");
    let quiet: Vec<TcpStream> = (0..2)
        .map(|_| {
            let c = connect(net.vip());
            expect_accept("A");
            c
        })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let uploader = bulk_upload(bulk, Arc::clone(&stop), Arc::clone(&sent));

    let live = |ctl: &Ctl| live_user_sessions(&ctl.json(&["status"]));
    assert!(
        wait_until(WAIT, || live(&ctl) == 4),
        "expected 4 live user sessions: {:#}",
        ctl.json(&["status"])
    );
    let services = ctl.json(&["services"]);
    assert_eq!(
        server(&services, "web", &net.server(0).to_string())["user_sessions"],
        3
    );
    assert!(find_server(&services, "web", &net.server(1).to_string(), None).is_none());
    assert!(
        wait_until(WAIT, || sent.load(Ordering::Relaxed) > 256 * 1024),
        "the bulk upload does not move"
    );
    let user_sessions_before = check_user_sessions(&ctl, &net, terminal);

    // 1. `tandem ctl reload`: A's weight 1 -> 5, B added.
    write_config(&web_servers(&net, Some(1), 5));
    let sent_before = sent.load(Ordering::Relaxed);
    let said = ctl.ok(&["reload"]);
    assert!(said.contains("reloaded"), "{said}");
    let services = ctl.json(&["services"]);
    let a = server(&services, "web", &net.server(0).to_string());
    assert_eq!(a["weight"], 5);
    assert_eq!(a["user_sessions"], 3, "A keeps its user sessions");
    let b = server(&services, "web", &net.server(1).to_string());
    assert_eq!(b["weight"], 1);
    assert_eq!(b["state"], "active");
    assert_eq!(live(&ctl), 4, "no user session was lost");
    let from = query_until_served(&client, &dns, net.vip(), 53, b"after reload");
    assert_eq!(from.port(), udp_port, "the UDP user session kept its port");

    // 2. SIGHUP: B's weight 1 -> 3.
    write_config(&web_servers(&net, Some(3), 5));
    tandem.signal("HUP");
    assert!(
        wait_until(WAIT, || {
            server(&ctl.json(&["services"]), "web", &net.server(1).to_string())["weight"] == 3
        }),
        "SIGHUP did not apply the new weight; log:\n{}",
        tandem.log()
    );
    assert!(tandem.log().contains("SIGHUP: "), "{}", tandem.log());
    assert_eq!(live(&ctl), 4, "no user session was lost");
    let from = query_until_served(&client, &dns, net.vip(), 53, b"after SIGHUP");
    assert_eq!(from.port(), udp_port, "the UDP user session kept its port");
    assert!(
        wait_until(WAIT, || sent.load(Ordering::Relaxed)
            > sent_before + 256 * 1024),
        "the bulk upload stopped moving after the reloads"
    );

    assert_eq!(
        check_user_sessions(&ctl, &net, terminal),
        user_sessions_before,
        "the user sessions changed over the reloads"
    );

    // A new connection: A has 3 user sessions at weight 5, B none, so B.
    let fresh = connect(net.vip());
    expect_accept("B");

    // Everything opened before the reloads ends well.
    stop.store(true, Ordering::Relaxed);
    let (expected, answer) = uploader.join().expect("uploader");
    assert_eq!(answer, expected, "the bulk upload arrived changed");
    let hello = Digest::of(b"hello");
    for conn in quiet {
        assert_eq!(finish(conn, b"hello"), hello.line());
    }
    assert_eq!(finish(fresh, b"hello"), hello.line());
    exchange(&client, &dns, net.vip(), 53, b"last");

    let exit = tandem.stop();
    assert_clean_exit(&exit);
    assert!(!exit.log.contains("reload refused"), "{}", exit.log);
}

/// Two workers on silent net_null ports; the control socket in `dir`.
fn quiet_config(
    prefix: &str,
    dir: &Path,
    memory_mb: u32,
    acc_addrs: &str,
    web_weight: u32,
) -> String {
    format!(
        r#"(
    eal: (lcores: "0-1", no_huge: true, memory_mb: {memory_mb}, file_prefix: "{prefix}",
        vdevs: ["net_null0,no-rx=1", "net_null1,no-rx=1"]),
    ports: [
        (name: "acc0", device: "net_null0", role: Access, addresses: [{acc_addrs}]),
        (name: "srv0", device: "net_null1", role: Server, addresses: ["10.2.0.1/24"]),
    ],
    workers: [(lcore: 1, poll: [(port: "acc0"), (port: "srv0")])],
    {SMALL_SIZES}
    gateway: (addresses: ["10.2.0.10"], user_sessions_per_worker: 1024),
    services: [
        (name: "web", vip: "10.9.0.1", proto: Tcp, port: 80,
         servers: [(addr: "10.2.0.21", port: 8080, weight: {web_weight}),
                   (addr: "10.2.0.22", port: 8080)]),
    ],
    api: (socket: "{socket}"),
)
"#,
        socket = dir.join("ctl.sock").display()
    )
}

#[test]
fn reloads_needing_a_restart_or_of_broken_files_change_nothing() {
    let test = "reload-refused";
    let scratch = Scratch::new(test);
    let prefix = file_prefix(test);
    let acc = r#""10.1.0.1/24""#;
    let good = quiet_config(&prefix, &scratch.dir, 256, acc, 1);
    let mut tandem = Tandem::start(&scratch.dir, &prefix, &good);
    tandem.wait_running();
    let ctl = Ctl::new(&scratch.path("ctl.sock"));
    let path = scratch.path("tandem.ron");
    let write = |text: &str| std::fs::write(&path, text).expect("rewrite config");

    ctl.ok(&["server", "drain", "web", "10.2.0.22"]);
    let before = ctl.json(&["services"]);

    // Each file also changes a weight, which must not be applied either.
    let cases = [
        (quiet_config(&prefix, &scratch.dir, 512, acc, 4), "eal"),
        (
            quiet_config(
                &prefix,
                &scratch.dir,
                256,
                r#""10.1.0.1/24", "10.1.1.1/24""#,
                4,
            ),
            "ports",
        ),
        (
            quiet_config(&prefix, &scratch.dir, 512, r#""10.1.0.2/24""#, 4),
            "eal, ports",
        ),
    ];
    for (text, sections) in &cases {
        write(text);
        let why = ctl.refused(
            &["reload"],
            &format!("changes to {sections} need a restart"),
        );
        assert!(why.contains("nothing was applied"), "{why}");
        assert_eq!(
            ctl.json(&["services"]),
            before,
            "refused reload applied something"
        );
    }

    // A syntax error: the message points at the file, line and column.
    let broken = quiet_config(&prefix, &scratch.dir, 256, acc, 4)
        .replace("proto: Tcp, port: 80,", "proto: Tcp port: 80,");
    let line = broken
        .lines()
        .position(|l| l.contains("proto: Tcp port: 80"))
        .expect("the broken line")
        + 1;
    write(&broken);
    let why = ctl.refused(&["reload"], &format!("{}:{line}:", path.display()));
    assert!(why.contains("the running config stays in force"), "{why}");
    assert_eq!(ctl.json(&["services"]), before);

    // An invalid address: also refused with its place.
    let invalid = good.replace("10.2.0.22", "10.2.0.300");
    let line = invalid
        .lines()
        .position(|l| l.contains("10.2.0.300"))
        .expect("the invalid line")
        + 1;
    write(&invalid);
    ctl.refused(&["reload"], &format!("{}:{line}:", path.display()));
    assert_eq!(ctl.json(&["services"]), before);

    // The same through SIGHUP: refused in the log, nothing changed.
    write(&broken);
    tandem.signal("HUP");
    assert!(
        tandem.wait_for_log("SIGHUP: reload refused", WAIT),
        "{}",
        tandem.log()
    );
    assert!(tandem.log().contains(&format!("{}:", path.display())));
    assert_eq!(ctl.json(&["services"]), before);

    // A good file is applied, and returns the drained server to what the
    // file says (changes made with ctl are not kept across a reload).
    write(&quiet_config(&prefix, &scratch.dir, 256, acc, 4));
    ctl.ok(&["reload"]);
    let after = ctl.json(&["services"]);
    assert_eq!(server(&after, "web", "10.2.0.21")["weight"], 4);
    assert_eq!(server(&after, "web", "10.2.0.22")["state"], "active");
    assert_clean_exit(&tandem.stop());
}

/// `health` is in neither list of the operations guide: a reload must
/// either apply it or refuse it, not report success and ignore it. Here
/// active checks are switched on; on net_null no server can answer a
/// probe, so applied checks take both servers down.
#[test]
fn a_reload_that_changes_health_checks_applies_them_or_says_no() {
    let test = "reload-health";
    let scratch = Scratch::new(test);
    let prefix = file_prefix(test);
    let acc = r#""10.1.0.1/24""#;
    let good = quiet_config(&prefix, &scratch.dir, 256, acc, 1);
    let mut tandem = Tandem::start(&scratch.dir, &prefix, &good);
    tandem.wait_running();
    let ctl = Ctl::new(&scratch.path("ctl.sock"));
    let with_health = good.replace(
        "    api:",
        "    health: (active: Some((interval_ms: 100, timeout_ms: 100, rise: 2, fall: 2))),\n    api:",
    );
    std::fs::write(scratch.path("tandem.ron"), &with_health).expect("rewrite");
    let r = ctl.run(&["reload"]);
    if r.code == Some(0) {
        let down = wait_until(WAIT, || {
            server(&ctl.json(&["services"]), "web", "10.2.0.21")["healthy"] == false
        });
        assert!(
            down,
            "reload said {:?} but the active checks it added never ran",
            r.stdout
        );
    } else {
        assert!(r.stderr.contains("health"), "{}", r.describe());
    }
    assert_clean_exit(&tandem.stop());
}
