//! Every `tandem ctl` verb through the real control socket of a running
//! `tandem` (two workers on net_null ports), as tables and as JSON. Each
//! change is checked with a following read; each kind of refused request
//! must exit with status 1, say why, and leave the next read exactly as it
//! was before.

mod common;

use common::ctl::{find_server, live_user_sessions, server, Ctl};
use common::tandem::{assert_clean_exit, Tandem};
use common::{file_prefix, Scratch, SMALL_SIZES};
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;

/// Every drop reason `tandem ctl workers --json` must list for a worker.
const SOME_DROP_REASONS: &[&str] = &[
    "truncated",
    "not_for_us",
    "no_service",
    "no_server",
    "port_exhausted",
    "reply_mismatch",
    "handoff_ring_full",
    "fragment_no_first",
    "syn_cookie_invalid",
    "syn_proxy_pending",
    "bitrate_limited",
    "ipv6_not_served",
    "nd_ignored",
    "icmpv6_bad_neighbor_discovery",
    "proxy_no_room",
    "quota_exhausted",
    "fabric_stranger",
    "geneve_hop_count_exceeded",
];

/// Two workers (so there are gateways 0 and 1) on silent net_null ports;
/// service "twice" has the same server address on two ports; "web66" is
/// an IPv6 VIP served by IPv6 servers.
fn config(prefix: &str, socket: &std::path::Path) -> String {
    format!(
        r#"(
    eal: (lcores: "0@0,1@0,2@1", no_huge: true, memory_mb: 256, file_prefix: "{prefix}",
        vdevs: ["net_null0,no-rx=1", "net_null1,no-rx=1"]),
    ports: [
        (name: "acc0", device: "net_null0", role: Access, addresses: ["10.1.0.1/24"]),
        (name: "srv0", device: "net_null1", role: Server, addresses: ["10.2.0.1/24", "2001:db8:20::1/64"]),
    ],
    workers: [(lcore: 1, poll: [(port: "acc0")]), (lcore: 2, poll: [(port: "srv0")])],
    {SMALL_SIZES}
    gateway: (addresses: ["10.2.0.10"], ipv6_addresses: ["2001:db8:20::10"], user_sessions_per_worker: 1024),
    services: [
        (name: "web", vip: "10.9.0.1", proto: Tcp, port: 80,
         servers: [(addr: "10.2.0.21", port: 8080), (addr: "10.2.0.22", port: 8080)]),
        (name: "dns", vip: "10.9.0.3", proto: Udp, port: 53,
         servers: [(addr: "10.2.0.21", port: 5353)]),
        (name: "twice", vip: "10.9.0.4", proto: Tcp, port: 443,
         servers: [(addr: "10.2.0.31", port: 8443), (addr: "10.2.0.31", port: 9443)]),
        (name: "web66", vip6: "2001:db8:9::66", proto: Tcp, port: 80,
         servers: [(addr: "2001:db8:20::21", port: 8080)]),
    ],
    nat64: (),
    api: (socket: "{socket}"),
)
"#,
        socket = socket.display()
    )
}

/// A running appliance with its scratch directory and `ctl`.
/// (Destructure it with `_scratch` bound: `..` would drop the scratch
/// directory, config and socket included, at once.)
struct Running {
    tandem: Tandem,
    ctl: Ctl,
    _scratch: Scratch,
}

fn start(test: &str) -> Running {
    let scratch = Scratch::new(test);
    let prefix = file_prefix(test);
    let socket = scratch.path("ctl.sock");
    let mut tandem = Tandem::start(&scratch.dir, &prefix, &config(&prefix, &socket));
    tandem.wait_running();
    assert!(
        tandem.log().contains("control API listening"),
        "{}",
        tandem.log()
    );
    Running {
        tandem,
        ctl: Ctl::new(&socket),
        _scratch: scratch,
    }
}

/// The value after `key` on the `key   value` line of a key/value table.
fn field<'a>(table: &'a str, key: &str) -> &'a str {
    table
        .lines()
        .find_map(|l| {
            l.strip_prefix(key)
                .filter(|rest| rest.starts_with(' '))
                .map(str::trim)
        })
        .unwrap_or_else(|| panic!("no {key:?} line in:\n{table}"))
}

/// The line of a table whose first cell is `first`.
fn row<'a>(table: &'a str, first: &str) -> &'a str {
    table
        .lines()
        .find(|l| l.split_whitespace().next() == Some(first))
        .unwrap_or_else(|| panic!("no row {first:?} in:\n{table}"))
}

/// Runs `refuse` (which must be refused) and checks that the data of
/// `read` is the same afterwards.
fn unchanged_after(ctl: &Ctl, read: &[&str], refuse: impl FnOnce()) {
    let before = ctl.json(read);
    refuse();
    let after = ctl.json(read);
    assert_eq!(
        before, after,
        "a refused request changed what `{read:?}` shows"
    );
}

#[test]
fn read_verbs_answer_as_tables_and_json() {
    let Running {
        mut tandem,
        ctl,
        _scratch,
    } = start("ctl-read");

    // The socket is private to the user that runs tandem.
    let mode = std::fs::metadata(&ctl.socket)
        .expect("socket exists")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "socket mode {mode:o}");

    // status
    let status = ctl.json(&["status"]);
    assert_eq!(status["ports"].as_array().map(Vec::len), Some(2));
    assert_eq!(status["workers"].as_array().map(Vec::len), Some(2));
    assert_eq!(status["services"].as_array().map(Vec::len), Some(4));
    assert_eq!(status["sessions"]["gateways"], 2);
    assert_eq!(status["sessions"]["pinned"], 0);
    assert_eq!(status["mbufs_total"], 8191);
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(live_user_sessions(&status), 0);
    let snapshots: Vec<&str> = status["snapshots"]
        .as_array()
        .expect("snapshots")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(snapshots, ["steering", "policy", "neighbours", "loads"]);
    let table = ctl.ok(&["status"]);
    assert_eq!(field(&table, "version"), env!("CARGO_PKG_VERSION"));
    assert_eq!(field(&table, "workers"), "2");
    assert_eq!(field(&table, "services"), "4 (6 servers)");
    assert_eq!(field(&table, "gateways"), "2");
    assert_eq!(field(&table, "user sessions"), "0");
    assert!(row(&table, "policy").contains(" 1 "), "{table}");

    // ports
    let ports = ctl.json(&["ports"]);
    assert_eq!(ports[0]["name"], "acc0");
    assert_eq!(ports[0]["device"], "net_null0");
    assert_eq!(ports[0]["role"], "access");
    assert_eq!(ports[0]["addresses"], json!(["10.1.0.1/24"]));
    assert_eq!(ports[1]["name"], "srv0");
    assert_eq!(ports[1]["role"], "server");
    let table = ctl.ok(&["ports"]);
    let acc = row(&table, "acc0");
    for cell in ["net_null0", "access", "10.1.0.1/24"] {
        assert!(acc.contains(cell), "{cell} missing in {acc:?}");
    }
    assert!(row(&table, "srv0").contains("server"), "{table}");

    // workers
    let workers = ctl.json(&["workers"]);
    let workers = workers.as_array().expect("a list of workers");
    assert_eq!(workers.len(), 2);
    for (i, w) in workers.iter().enumerate() {
        assert_eq!(w["index"], i);
        assert_eq!(w["lcore"], i + 1);
        let reasons: Vec<&str> = w["drops"]
            .as_array()
            .expect("drops")
            .iter()
            .filter_map(|d| d[0].as_str())
            .collect();
        for r in SOME_DROP_REASONS {
            assert!(reasons.contains(r), "worker {i} lacks drop reason {r}");
        }
        assert_eq!(w["port_pools"][0]["gateway_address"], "10.2.0.10");
        assert_eq!(w["port_pools"][0]["in_use"], 0);
        for counter in ["syn_cookies_sent", "syn_cookies_valid", "syn_proxy_opened"] {
            assert_eq!(w[counter], 0, "worker {i}: {counter}");
        }
    }
    let table = ctl.ok(&["workers"]);
    assert!(table.starts_with("worker"), "{table}");
    assert!(table.contains("syn_cookies_sent"), "{table}");
    for section in ["bytes and replies:", "drops:", "port pools:"] {
        assert!(table.contains(section), "no {section} in:\n{table}");
    }
    assert!(
        table
            .lines()
            .any(|l| l.split_whitespace().take(2).eq(["1", "10.2.0.10"])),
        "no port pool of worker 1 in:\n{table}"
    );

    // stats: ports and workers in one summary.
    let table = ctl.ok(&["stats"]);
    for section in ["ports:", "workers:", "drops:"] {
        assert!(table.contains(section), "no {section} in:\n{table}");
    }
    assert!(table.contains("net_null1"), "{table}");
    let stats = ctl.json(&["stats"]);
    assert_eq!(stats["workers"].as_array().map(Vec::len), Some(2));

    // sessions, user sessions: none yet.
    assert_eq!(ctl.json(&["sessions"]), json!([]));
    assert_eq!(ctl.ok(&["sessions"]), "no pinned mobile sessions\n");
    assert_eq!(ctl.json(&["user-sessions"]), json!([]));
    assert_eq!(ctl.ok(&["user-sessions"]), "no user sessions\n");
    let filtered = [
        "user-sessions",
        "--session",
        "10.1.0.5",
        "--server",
        "10.2.0.21",
        "--limit",
        "5",
    ];
    assert_eq!(ctl.json(&filtered), json!([]));
    ctl.refused(
        &["user-sessions", "--session", "nonsense"],
        "'nonsense' is not a session ID",
    );
    ctl.refused(
        &["user-sessions", "--server", "10.2.0"],
        "'10.2.0' is not an IPv4 address",
    );

    // services, like ipvsadm -Ln.
    let services = ctl.json(&["services"]);
    assert_eq!(services[0]["name"], "web");
    assert_eq!(services[0]["vip"], "10.9.0.1:80/tcp");
    assert_eq!(services[1]["vip"], "10.9.0.3:53/udp");
    let web = server(&services, "web", "10.2.0.22");
    assert_eq!(web["port"], 8080);
    assert_eq!(web["weight"], 1);
    assert_eq!(web["state"], "active");
    assert_eq!(web["healthy"], true);
    let table = ctl.ok(&["services"]);
    assert!(row(&table, "web").contains("10.9.0.1:80/tcp"), "{table}");
    let line = table
        .lines()
        .find(|l| l.trim_start().starts_with("-> 10.2.0.31:9443"))
        .unwrap_or_else(|| panic!("no server line in:\n{table}"));
    assert!(line.contains("active") && line.contains("yes"), "{line}");

    // subscribers: only the default policy.
    assert_eq!(
        ctl.json(&["subscribers"]),
        json!([{"match": "default", "services": "all", "external": true}])
    );
    assert!(row(&ctl.ok(&["subscribers"]), "default").contains("all"));

    // metrics: Prometheus text as it comes, or as a JSON string.
    let text = ctl.ok(&["metrics"]);
    assert!(
        text.contains("# TYPE tandem_port_rx_packets_total counter"),
        "{text}"
    );
    assert!(
        text.contains(r#"tandem_server_weight{service="web",server="10.2.0.21:8080"} 1"#),
        "{text}"
    );
    let as_json = ctl.json(&["metrics"]);
    assert!(as_json
        .as_str()
        .is_some_and(|t| t.contains("tandem_build_info")));

    // reload of the unchanged file.
    let said = ctl.ok(&["reload"]);
    assert!(said.contains("reloaded"), "{said}");
    assert_eq!(ctl.json(&["services"]), services, "reload changed nothing");

    // The protocol itself: version and syntax are checked.
    let answer = ctl.raw(r#"{"version":99,"request":{"cmd":"status"}}"#);
    assert_eq!(answer["ok"], false);
    assert!(
        answer["error"]
            .as_str()
            .is_some_and(|e| e.contains("version 99 is not supported")),
        "{answer}"
    );
    let answer = ctl.raw(r#"{"version":1,"request":{"cmd":"explode"}}"#);
    assert_eq!(answer["ok"], false, "{answer}");
    let answer = ctl.raw(r#"{"version":1,"request":{"cmd":"status"}}"#);
    assert_eq!(answer["ok"], true, "{answer}");
    assert_eq!(answer["version"], 1);

    // A socket nobody listens on is a connection error (status 2).
    let nowhere = Ctl::new(&ctl.socket.with_file_name("nobody.sock"));
    nowhere.usage_error(&["status"], "is tandem running? no socket at");

    assert_clean_exit(&tandem.stop());
}

#[test]
fn server_verbs_change_what_services_show_and_refusals_change_nothing() {
    let Running {
        mut tandem,
        ctl,
        _scratch,
    } = start("ctl-servers");
    let read = ["services"];

    // add, with weight and port
    let said = ctl.ok(&[
        "server",
        "add",
        "web",
        "10.2.0.23",
        "--port",
        "8080",
        "--weight",
        "3",
    ]);
    assert!(said.contains("10.2.0.23"), "{said}");
    let services = ctl.json(&read);
    let added = server(&services, "web", "10.2.0.23");
    assert_eq!(added["port"], 8080);
    assert_eq!(added["weight"], 3);
    assert_eq!(added["state"], "active");
    assert_eq!(services[0]["servers"].as_array().map(Vec::len), Some(3));

    // refused adds
    unchanged_after(&ctl, &read, || {
        ctl.refused(
            &["server", "add", "nosuch", "10.2.0.24"],
            "no service is named \"nosuch\"",
        );
    });
    unchanged_after(&ctl, &read, || {
        ctl.refused(
            &["server", "add", "web", "10.2.0.21", "--port", "8080"],
            "already has server 10.2.0.21",
        );
    });
    unchanged_after(&ctl, &read, || {
        ctl.refused(
            &["server", "add", "web", "192.0.2.7"],
            "no route to 192.0.2.7",
        );
    });
    unchanged_after(&ctl, &read, || {
        // ctl checks addresses itself; the appliance checks them too.
        ctl.usage_error(&["server", "add", "web", "10.2.0.300"], "10.2.0.300");
        let why = ctl.raw_refused(r#"{"cmd":"add_server","service":"web","addr":"10.2.0.300"}"#);
        assert!(
            why.contains("'10.2.0.300' is not an IPv4 or IPv6 address"),
            "{why}"
        );
    });

    // drain and activate
    ctl.ok(&["server", "drain", "web", "10.2.0.21"]);
    assert_eq!(
        server(&ctl.json(&read), "web", "10.2.0.21")["state"],
        "draining"
    );
    let table = ctl.ok(&read);
    assert!(
        table
            .lines()
            .any(|l| l.contains("-> 10.2.0.21:8080") && l.contains("draining")),
        "{table}"
    );
    ctl.ok(&["server", "activate", "web", "10.2.0.21", "--port", "8080"]);
    assert_eq!(
        server(&ctl.json(&read), "web", "10.2.0.21")["state"],
        "active"
    );

    // weight and load
    ctl.ok(&["server", "weight", "web", "10.2.0.22", "7"]);
    ctl.ok(&["server", "load", "web", "10.2.0.22", "42"]);
    let services = ctl.json(&read);
    let tuned = server(&services, "web", "10.2.0.22");
    assert_eq!(tuned["weight"], 7);
    assert_eq!(tuned["reported_load"], 42);
    assert_eq!(
        server(&services, "web", "10.2.0.21")["weight"],
        1,
        "only the named server changed"
    );

    // refused changes of unknown or ambiguous servers
    for verb in [
        &["server", "drain", "web", "10.2.0.99"][..],
        &["server", "activate", "web", "10.2.0.99"],
        &["server", "weight", "web", "10.2.0.99", "2"],
        &["server", "load", "web", "10.2.0.99", "2"],
        &["server", "remove", "web", "10.2.0.99"],
        &["server", "drain", "web", "10.2.0.21", "--port", "9999"],
    ] {
        unchanged_after(&ctl, &read, || {
            ctl.refused(verb, "service \"web\" has no server 10.2.0.");
        });
    }
    for verb in [
        &["server", "drain", "nosuch", "10.2.0.21"][..],
        &["server", "weight", "nosuch", "10.2.0.21", "2"],
        &["server", "remove", "nosuch", "10.2.0.21"],
    ] {
        unchanged_after(&ctl, &read, || {
            ctl.refused(verb, "no service is named \"nosuch\"");
        });
    }
    unchanged_after(&ctl, &read, || {
        ctl.refused(
            &["server", "drain", "twice", "10.2.0.31"],
            "has 10.2.0.31 twice; give --port",
        );
    });
    unchanged_after(&ctl, &read, || {
        ctl.usage_error(&["server", "weight", "web", "10.2.0.22", "-1"], "-1");
    });

    // --port picks one of two servers on the same address.
    ctl.ok(&["server", "drain", "twice", "10.2.0.31", "--port", "9443"]);
    let services = ctl.json(&read);
    let state =
        |port| find_server(&services, "twice", "10.2.0.31", Some(port)).unwrap()["state"].clone();
    assert_eq!(state(9443), "draining");
    assert_eq!(state(8443), "active");

    // remove
    ctl.ok(&["server", "remove", "web", "10.2.0.23"]);
    let services = ctl.json(&read);
    assert!(
        find_server(&services, "web", "10.2.0.23", None).is_none(),
        "removed server still listed: {services:#}"
    );
    assert_eq!(services[0]["servers"].as_array().map(Vec::len), Some(2));
    unchanged_after(&ctl, &read, || {
        ctl.refused(
            &["server", "remove", "web", "10.2.0.23"],
            "has no server 10.2.0.23",
        );
    });

    // The changes are in the metrics as well.
    let metrics = ctl.ok(&["metrics"]);
    assert!(
        metrics.contains(r#"tandem_server_weight{service="web",server="10.2.0.22:8080"} 7"#),
        "{metrics}"
    );

    // IPv6 servers of an IPv6 VIP (IPv6 -> IPv6 full NAT).
    ctl.ok(&[
        "server",
        "add",
        "web66",
        "2001:db8:20::22",
        "--port",
        "8080",
    ]);
    let services = ctl.json(&read);
    assert_eq!(
        server(&services, "web66", "2001:db8:20::22")["state"],
        "active"
    );
    ctl.ok(&["server", "weight", "web66", "2001:db8:20::22", "5"]);
    let metrics = ctl.ok(&["metrics"]);
    assert!(
        metrics
            .contains(r#"tandem_server_weight{service="web66",server="[2001:db8:20::22]:8080"} 5"#),
        "{metrics}"
    );
    assert!(
        ctl.ok(&read).contains("-> [2001:db8:20::22]:8080"),
        "{}",
        ctl.ok(&read)
    );
    for (verb, why) in [
        (
            &["server", "add", "web", "2001:db8:20::23"][..],
            "service \"web\" has IPv4 servers: an IPv6 server cannot join them",
        ),
        (
            &["server", "add", "web66", "10.2.0.24"],
            "service \"web66\" has IPv6 servers: an IPv4 server cannot join them",
        ),
        (
            &["server", "add", "web66", "2001:db8:77::1"],
            "no route to 2001:db8:77::1",
        ),
        (
            &[
                "server",
                "add",
                "web66",
                "2001:db8:20::21",
                "--port",
                "8080",
            ],
            "already has server 2001:db8:20::21",
        ),
        (
            &["server", "drain", "web66", "2001:db8:20::99"],
            "service \"web66\" has no server 2001:db8:20::99",
        ),
    ] {
        unchanged_after(&ctl, &read, || {
            ctl.refused(verb, why);
        });
    }
    ctl.ok(&["server", "remove", "web66", "2001:db8:20::22"]);
    assert!(find_server(&ctl.json(&read), "web66", "2001:db8:20::22", None).is_none());
    assert_clean_exit(&tandem.stop());
}

#[test]
fn service_verbs_add_and_remove_and_refusals_change_nothing() {
    let Running {
        mut tandem,
        ctl,
        _scratch,
    } = start("ctl-services");
    let read = ["services"];

    let said = ctl.ok(&[
        "service",
        "add",
        "api",
        "--vip",
        "10.9.0.5",
        "--proto",
        "tcp",
        "--port",
        "8000",
        "--port-end",
        "8010",
    ]);
    assert!(said.contains("api"), "{said}");
    // The same VIP and port with the other protocol does not overlap.
    ctl.ok(&[
        "service", "add", "api-udp", "--vip", "10.9.0.5", "--proto", "udp", "--port", "8005",
    ]);
    let services = ctl.json(&read);
    let api = services
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == "api"))
        .unwrap_or_else(|| panic!("no service api: {services:#}"));
    assert_eq!(api["vip"], "10.9.0.5:8000-8010/tcp");
    assert_eq!(api["servers"], json!([]));
    assert!(
        row(&ctl.ok(&read), "api-udp").contains("10.9.0.5:8005/udp"),
        "human table"
    );

    unchanged_after(&ctl, &read, || {
        ctl.refused(
            &[
                "service", "add", "web", "--vip", "10.9.0.9", "--proto", "tcp", "--port", "80",
            ],
            "a service is already named \"web\"",
        );
    });
    unchanged_after(&ctl, &read, || {
        ctl.refused(
            &[
                "service",
                "add",
                "web2",
                "--vip",
                "10.9.0.5",
                "--proto",
                "tcp",
                "--port",
                "7990",
                "--port-end",
                "8000",
            ],
            "overlaps service \"api\"",
        );
    });
    unchanged_after(&ctl, &read, || {
        ctl.refused(
            &[
                "service", "add", "web3", "--vip", "10.9.0.1", "--proto", "tcp", "--port", "80",
            ],
            "overlaps service \"web\"",
        );
    });
    unchanged_after(&ctl, &read, || {
        ctl.usage_error(
            &[
                "service",
                "add",
                "x",
                "--vip",
                "10.9.0.6",
                "--proto",
                "tcp",
                "--port",
                "90",
                "--port-end",
                "80",
            ],
            "--port-end 80 is below --port 90",
        );
        let why = ctl.raw_refused(
            r#"{"cmd":"add_service","name":"x","vip":"10.9.0.6","proto":"tcp","port":90,"port_end":80}"#,
        );
        assert!(why.contains("port_end 80 is below port 90"), "{why}");
    });
    unchanged_after(&ctl, &read, || {
        let why = ctl.raw_refused(
            r#"{"cmd":"add_service","name":"x","vip":"10.9.0.6","proto":"sctp","port":90}"#,
        );
        assert!(why.contains("use tcp or udp"), "{why}");
        let why = ctl.raw_refused(
            r#"{"cmd":"add_service","name":"x","vip":"10.9.0","proto":"tcp","port":90}"#,
        );
        assert!(why.contains("not an IPv4 address"), "{why}");
    });
    unchanged_after(&ctl, &read, || {
        ctl.refused(
            &["service", "remove", "nosuch"],
            "no service is named \"nosuch\"",
        );
    });

    // A new service takes servers; removing it takes them along.
    ctl.ok(&["server", "add", "api", "10.2.0.41", "--weight", "2"]);
    assert_eq!(server(&ctl.json(&read), "api", "10.2.0.41")["weight"], 2);
    ctl.ok(&["service", "remove", "api"]);
    let services = ctl.json(&read);
    let names: Vec<&str> = services
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(names, ["web", "dns", "twice", "web66", "api-udp"]);
    let metrics = ctl.ok(&["metrics"]);
    assert!(!metrics.contains("service=\"api\""), "{metrics}");
    assert_clean_exit(&tandem.stop());
}

/// A removed service must be gone for every verb: its name cannot be
/// removed twice or given servers, and can be used again.
#[test]
fn a_removed_service_is_gone_for_every_verb() {
    let Running {
        mut tandem,
        ctl,
        _scratch,
    } = start("ctl-removed");
    ctl.ok(&["service", "remove", "dns"]);
    let read = ["services"];
    unchanged_after(&ctl, &read, || {
        ctl.refused(&["service", "remove", "dns"], "no service is named \"dns\"");
    });
    unchanged_after(&ctl, &read, || {
        ctl.refused(
            &["server", "add", "dns", "10.2.0.25"],
            "no service is named \"dns\"",
        );
    });
    unchanged_after(&ctl, &["subscribers"], || {
        ctl.refused(
            &[
                "subscriber",
                "add",
                "--session",
                "10.1.0.9",
                "--service",
                "dns",
            ],
            "no service is named \"dns\"",
        );
    });
    ctl.ok(&[
        "service", "add", "dns", "--vip", "10.9.0.3", "--proto", "udp", "--port", "53",
    ]);
    assert!(row(&ctl.ok(&read), "dns").contains("10.9.0.3:53/udp"));
    assert_clean_exit(&tandem.stop());
}

#[test]
fn session_and_subscriber_verbs_and_their_refusals() {
    let Running {
        mut tandem,
        ctl,
        _scratch,
    } = start("ctl-sessions");
    let sessions = ["sessions"];

    // create with an ID on gateway 1
    ctl.ok(&["session", "create", "--id", "10.1.0.5", "--gateway", "1"]);
    let list = ctl.json(&sessions);
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert_eq!(list[0]["id"], "10.1.0.5");
    assert_eq!(list[0]["gateway"], 1);
    assert_eq!(list[0]["origin"], "api");
    let table = ctl.ok(&sessions);
    let line = row(&table, "10.1.0.5");
    assert_eq!(line.split_whitespace().nth(1), Some("1"), "{table}");
    assert_eq!(ctl.json(&["status"])["sessions"]["pinned"], 1);

    // create without an ID or gateway: tandem picks both.
    let made = ctl.json(&["session", "create"]);
    let id = made["id"].as_str().expect("an assigned id").to_string();
    let gateway = made["gateway"].as_u64().expect("a gateway");
    assert!(gateway < 2, "{made}");
    let list = ctl.json(&sessions);
    let entry = list
        .as_array()
        .and_then(|l| l.iter().find(|s| s["id"] == id.as_str()))
        .unwrap_or_else(|| panic!("{id} not listed: {list:#}"));
    assert_eq!(entry["gateway"], gateway);

    // refused creates and moves
    unchanged_after(&ctl, &sessions, || {
        ctl.refused(
            &["session", "create", "--id", "10.1.0.5"],
            "session 10.1.0.5 already exists",
        );
    });
    unchanged_after(&ctl, &sessions, || {
        ctl.refused(
            &["session", "create", "--id", "10.1.0.6", "--gateway", "2"],
            "gateway 2 does not exist; gateways are 0..1",
        );
    });
    unchanged_after(&ctl, &sessions, || {
        ctl.refused(
            &["session", "create", "--id", "not-an-id"],
            "'not-an-id' is not a session ID",
        );
    });
    unchanged_after(&ctl, &sessions, || {
        ctl.refused(
            &["session", "move", "10.1.0.5", "7"],
            "gateway 7 does not exist",
        );
    });
    unchanged_after(&ctl, &sessions, || {
        ctl.refused(
            &["session", "move", "10.1.0.77", "0"],
            "session 10.1.0.77 is not pinned",
        );
    });

    // move
    let said = ctl.ok(&["session", "move", "10.1.0.5", "0"]);
    assert!(said.contains("from gateway 1 to 0"), "{said}");
    assert!(said.contains("stay on gateway 1 for 300 s"), "{said}");
    let list = ctl.json(&sessions);
    let moved = list
        .as_array()
        .and_then(|l| l.iter().find(|s| s["id"] == "10.1.0.5"))
        .expect("still listed");
    assert_eq!(moved["gateway"], 0);
    assert_eq!(moved["draining_from"], 1, "{moved:#}");
    let said = ctl.ok(&["session", "move", "10.1.0.5", "0"]);
    assert!(said.contains("already on gateway 0"), "{said}");

    // delete
    ctl.ok(&["session", "delete", "10.1.0.5"]);
    let list = ctl.json(&sessions);
    assert!(
        list.as_array()
            .is_some_and(|l| l.iter().all(|s| s["id"] != "10.1.0.5")),
        "{list:#}"
    );
    unchanged_after(&ctl, &sessions, || {
        ctl.refused(
            &["session", "delete", "10.1.0.5"],
            "session 10.1.0.5 is not pinned",
        );
    });
    ctl.ok(&["session", "delete", &id]);
    assert_eq!(ctl.json(&sessions), json!([]));

    // subscribers
    let subs = ["subscribers"];
    ctl.ok(&[
        "subscriber",
        "add",
        "--session",
        "10.1.0.5",
        "--service",
        "web",
        "--service",
        "dns",
    ]);
    ctl.ok(&["subscriber", "add", "--prefix", "10.1.0.0/24", "--external"]);
    let list = ctl.json(&subs);
    let entry = |m: &str| -> Value {
        list.as_array()
            .and_then(|l| l.iter().find(|s| s["match"] == m))
            .cloned()
            .unwrap_or_else(|| panic!("no {m}: {list:#}"))
    };
    assert_eq!(
        entry("session 10.1.0.5"),
        json!({"match": "session 10.1.0.5", "services": ["web", "dns"], "external": false})
    );
    assert_eq!(
        entry("prefix 10.1.0.0/24"),
        json!({"match": "prefix 10.1.0.0/24", "services": "all", "external": true})
    );
    let table = ctl.ok(&subs);
    assert!(table.contains("web,dns"), "{table}");

    unchanged_after(&ctl, &subs, || {
        ctl.refused(
            &[
                "subscriber",
                "add",
                "--session",
                "10.1.0.6",
                "--service",
                "nosuch",
            ],
            "no service is named \"nosuch\"",
        );
    });
    unchanged_after(&ctl, &subs, || {
        // ctl refuses both keys at once; so does the appliance.
        ctl.usage_error(
            &[
                "subscriber",
                "add",
                "--session",
                "10.1.0.6",
                "--prefix",
                "10.1.0.0/24",
            ],
            "cannot be used with",
        );
        let why = ctl
            .raw_refused(r#"{"cmd":"add_subscriber","session":"10.1.0.6","prefix":"10.1.0.0/24"}"#);
        assert!(why.contains("exactly one of session or prefix"), "{why}");
        let why = ctl.raw_refused(r#"{"cmd":"add_subscriber"}"#);
        assert!(why.contains("exactly one of session or prefix"), "{why}");
    });
    unchanged_after(&ctl, &subs, || {
        ctl.refused(
            &["subscriber", "add", "--session", "bogus"],
            "'bogus' is not a session ID",
        );
        let why = ctl.raw_refused(r#"{"cmd":"add_subscriber","prefix":"10.1.0.0/40"}"#);
        assert!(why.contains("10.1.0.0/40"), "{why}");
    });
    unchanged_after(&ctl, &subs, || {
        ctl.refused(
            &["subscriber", "remove", "--session", "10.1.0.99"],
            "no such subscriber entry",
        );
        ctl.refused(
            &["subscriber", "remove", "--prefix", "10.1.0.0/25"],
            "no such subscriber entry",
        );
    });

    ctl.ok(&["subscriber", "remove", "--session", "10.1.0.5"]);
    ctl.ok(&["subscriber", "remove", "--prefix", "10.1.0.0/24"]);
    assert_eq!(
        ctl.json(&subs),
        json!([{"match": "default", "services": "all", "external": true}])
    );
    assert_clean_exit(&tandem.stop());
}

/// `ctl types`: each user-session type with its rules (in the order they
/// are tried), selection, accounting and timeouts, as a table and as JSON.
#[test]
fn types_verb_lists_types_rules_and_timeouts() {
    let test = "ctl-types";
    let scratch = Scratch::new(test);
    let prefix = file_prefix(test);
    let socket = scratch.path("ctl.sock");
    let types = r#"user_session_types: [
        (name: "bulk"),
        (name: "video", selection: Sticky, accounted: false,
         timeouts: (tcp_established_s: 60, udp_s: 5)),
    ],
    classify: [
        (proto: Tcp, ports: (443, 443), user_session_type: "video"),
        (proto: Udp, ports: (5000, 5010), dscp: 34, user_session_type: "video"),
        (proto: Tcp, user_session_type: "bulk"),
    ],
    timeouts: (tcp_syn_s: 7),
    api:"#;
    let config = config(&prefix, &socket).replacen("api:", types, 1);
    let mut tandem = Tandem::start(&scratch.dir, &prefix, &config);
    tandem.wait_running();
    let ctl = Ctl::new(&socket);

    let json = ctl.json(&["types"]);
    let rows = json.as_array().expect("a list of types");
    assert_eq!(rows.len(), 2, "{json:#}");
    let bulk = &rows[0];
    assert_eq!(bulk["type"], "bulk");
    assert_eq!(bulk["selection"], "weighted_least_load");
    assert_eq!(bulk["accounted"], true);
    assert_eq!(
        bulk["rules"],
        serde_json::json!(["#2 tcp", "no rule matches"]),
        "the first type is the default"
    );
    assert_eq!(bulk["timeouts"], "global");
    assert_eq!(bulk["tcp_syn_s"], 7, "global timeouts from the config");
    assert_eq!(bulk["tcp_established_s"], 900);
    let video = &rows[1];
    assert_eq!(video["type"], "video");
    assert_eq!(video["selection"], "sticky");
    assert_eq!(video["accounted"], false);
    assert_eq!(
        video["rules"],
        serde_json::json!(["#0 tcp dport 443", "#1 udp dport 5000-5010 dscp 34"])
    );
    assert_eq!(video["timeouts"], "own");
    assert_eq!(video["tcp_established_s"], 60);
    assert_eq!(video["udp_s"], 5);

    let table = ctl.ok(&["types"]);
    let header = table.lines().next().unwrap_or_default();
    for column in [
        "type",
        "selection",
        "accounted",
        "rules",
        "timeouts",
        "udp_s",
    ] {
        assert!(header.contains(column), "no {column} column:\n{table}");
    }
    let video_row = row(&table, "video");
    assert!(
        video_row.contains("sticky")
            && video_row.contains("#0 tcp dport 443,#1 udp dport 5000-5010 dscp 34"),
        "{table}"
    );
    assert_clean_exit(&tandem.stop());
}
