//! Config mistakes through the real binary: `tandem check-config` and
//! `tandem run --config` both exit with status 2 and a message that starts
//! with `FILE:LINE:COLUMN:` pointing at the mistake, before DPDK starts. A
//! device name DPDK does not know is only found at start-up: that is a
//! runtime failure, status 1, naming the port and the device.

mod common;

use common::tandem::run_to_end;
use common::{file_prefix, Scratch, SMALL_SIZES};
use std::path::Path;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);

/// A valid config on two net_null ports; line numbers matter to the tests
/// (line 1 is `(`).
fn base(prefix: &str) -> String {
    format!(
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
)
"#
    )
}

/// `text` with `from` (which must occur) replaced by `to`.
fn with(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from} not in the base config");
    text.replacen(from, to, 1)
}

/// The place a config error names: (line, column, message).
fn position(stderr: &str, file: &Path) -> (usize, usize, String) {
    let first = stderr.lines().next().unwrap_or_default();
    let rest = first
        .strip_prefix(&format!("{}:", file.display()))
        .unwrap_or_else(|| panic!("error does not start with the file name: {stderr}"));
    let mut parts = rest.splitn(3, ':');
    let line = parts.next().and_then(|l| l.parse().ok());
    let col = parts.next().and_then(|c| c.parse().ok());
    let msg = parts.next().unwrap_or_default().trim().to_string();
    match (line, col) {
        (Some(l), Some(c)) => (l, c, msg),
        _ => panic!("no LINE:COLUMN in {first:?}"),
    }
}

/// Writes `text` to a scratch file and checks that `check-config`
/// accepts it ("FILE: ok", status 0).
fn accepted(test: &str, text: &str) {
    let scratch = Scratch::new(test);
    let file = scratch.path("ok.ron");
    std::fs::write(&file, text).expect("write");
    let path = file.to_str().expect("utf-8 path");
    let (status, stdout, stderr) = run_to_end(&["check-config", path], LIMIT);
    assert_eq!(status.code(), Some(0), "{test}: {stderr}");
    assert_eq!(stdout.trim(), format!("{path}: ok"));
}

/// Runs check-config and run on `text`: both must exit 2 with the error at
/// `line`, the message containing `says`, and the column within or just
/// after `token` when given. `run` must not get as far as starting DPDK.
fn rejected(test: &str, text: &str, line: usize, token: Option<&str>, says: &str) {
    let scratch = Scratch::new(test);
    let file = scratch.path("bad.ron");
    std::fs::write(&file, text).expect("write config");
    let path = file.to_str().expect("utf-8 path");
    for args in [vec!["check-config", path], vec!["run", "--config", path]] {
        let (status, stdout, stderr) = run_to_end(&args, LIMIT);
        assert_eq!(status.code(), Some(2), "{args:?}: {stderr}");
        assert!(!stdout.contains(": ok"), "{args:?} said ok: {stdout}");
        let (l, c, msg) = position(&stderr, &file);
        assert_eq!(l, line, "{args:?}: wrong line in {stderr}");
        assert!(
            msg.contains(says),
            "{args:?}: message {msg:?} lacks {says:?}"
        );
        let text_line = text.lines().nth(l - 1).expect("line exists");
        assert!(
            c >= 1 && c <= text_line.len() + 1,
            "column {c} outside line {l}: {text_line}"
        );
        if let Some(token) = token {
            // Checks after parsing point at the start of the value; serde's
            // errors point at the end of the token it could not take.
            let points_at = text_line.match_indices(token).any(|(start, t)| {
                let (first, past) = (start + 1, start + t.len() + 1);
                c >= first && c <= past
            });
            assert!(
                points_at,
                "{args:?}: column {c} of {text_line:?} is not at {token}"
            );
        }
        assert!(
            !stderr.contains("EAL:") && !stderr.contains("starting EAL"),
            "{args:?} started DPDK for a bad config: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn the_base_config_is_valid() {
    accepted("base", &base(&file_prefix("base")));
}

#[test]
fn shipped_example_configs_are_valid() {
    for name in ["laptop.ron", "bare-metal.ron"] {
        let file = common::conf_dir().join(name);
        let path = file.to_str().expect("utf-8 path");
        let (status, stdout, stderr) = run_to_end(&["check-config", path], LIMIT);
        assert_eq!(status.code(), Some(0), "{name}: {stderr}");
        assert!(stdout.ends_with(": ok\n"), "{name}: {stdout}");
    }
}

#[test]
fn syntax_error() {
    let text = with(&base("x"), "no_huge: true,", "no_huge: true,,");
    rejected("syntax", &text, 2, None, "Expected");
}

#[test]
fn unknown_field_is_named() {
    let text = with(
        &base("x"),
        "memory_mb: 256,",
        "memory_mb: 256, hugepages: 4,",
    );
    rejected("unknown-field", &text, 2, None, "hugepages");
}

#[test]
fn port_named_twice() {
    let text = with(&base("x"), r#"(name: "srv0""#, r#"(name: "acc0""#);
    rejected("port-twice", &text, 6, Some(r#""acc0""#), "used twice");
}

#[test]
fn worker_on_the_main_lcore() {
    let text = with(&base("x"), "lcore: 1,", "lcore: 0,");
    rejected("main-lcore", &text, 8, Some("0"), "main lcore");
}

#[test]
fn bad_address() {
    let text = with(&base("x"), "10.2.0.1/24", "10.2.0.300/24");
    rejected(
        "bad-address",
        &text,
        6,
        Some(r#""10.2.0.300/24""#),
        "10.2.0.300",
    );
}

#[test]
fn queue_polled_by_no_worker() {
    let text = with(&base("x"), r#", (port: "srv0")"#, "");
    rejected("unpolled", &text, 6, None, "polled by no worker");
}

#[test]
fn missing_file() {
    let scratch = Scratch::new("missing");
    let file = scratch.path("nonexistent.ron");
    let path = file.to_str().expect("utf-8 path");
    for args in [vec!["check-config", path], vec!["run", "--config", path]] {
        let (status, _, stderr) = run_to_end(&args, LIMIT);
        assert_eq!(status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.starts_with(&format!("{path}: cannot read")),
            "{stderr}"
        );
    }
}

/// DPDK has no device of that name: the config is valid (only DPDK knows
/// its devices), so the failure comes at start-up, names the port and the
/// device, and is an orderly exit 1, not a panic.
#[test]
fn unknown_device_fails_at_start_naming_port_and_device() {
    let prefix = file_prefix("nodevice");
    let scratch = Scratch::new("nodevice");
    let text = with(
        &base(&prefix),
        r#"device: "net_null1""#,
        r#"device: "net_nosuch9""#,
    );
    let file = scratch.path("nodevice.ron");
    std::fs::write(&file, text).expect("write");
    let path = file.to_str().expect("utf-8 path");

    let (status, _, stderr) = run_to_end(&["check-config", path], LIMIT);
    assert_eq!(status.code(), Some(0), "{stderr}");

    let (status, _, stderr) = run_to_end(&["run", "--config", path], LIMIT);
    let _ = std::fs::remove_dir_all(Path::new("/var/run/dpdk").join(&prefix));
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(r#"tandem: port "srv0" (device net_nosuch9)"#),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// net_pcap offers one tx queue per `tx_pcap` file, and tandem needs one
/// per worker plus one for the control plane: with a single file the
/// device cannot be configured, and the failure names the port and device.
#[test]
fn device_with_too_few_tx_queues_fails_naming_port_and_device() {
    let prefix = file_prefix("fewqueues");
    let scratch = Scratch::new("fewqueues");
    let empty = scratch.path("empty.pcap");
    common::pcap::write(&empty, &[]);
    let pcap = format!(
        "net_pcap0,rx_pcap={},tx_pcap={}",
        empty.display(),
        scratch.path("out.pcap").display()
    );
    let text = with(
        &base(&prefix),
        r#""net_null0,no-rx=1""#,
        &format!("\"{pcap}\""),
    );
    let text = with(&text, r#"device: "net_null0""#, r#"device: "net_pcap0""#);
    let file = scratch.path("fewqueues.ron");
    std::fs::write(&file, text).expect("write");
    let path = file.to_str().expect("utf-8 path");
    let (status, _, stderr) = run_to_end(&["run", "--config", path], LIMIT);
    let _ = std::fs::remove_dir_all(Path::new("/var/run/dpdk").join(&prefix));
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(r#"tandem: port "acc0" (device net_pcap0)"#),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

// ------------------------------------------------ addresses with two roles

/// The base config with one service whose VIP is `vip` (on line 12).
fn with_service(vip: &str) -> String {
    with(
        &base("x"),
        "user_sessions_per_worker: 1024),",
        &format!(
            "user_sessions_per_worker: 1024),\n    services: [(name: \"web\", vip: \"{vip}\", proto: Tcp, port: 80, servers: [(addr: \"10.2.0.21\", port: 8080)])],"
        ),
    )
}

#[test]
fn a_service_with_its_own_vip_is_valid() {
    let scratch = Scratch::new("vip-ok");
    let file = scratch.path("ok.ron");
    std::fs::write(&file, with_service("10.9.0.1")).expect("write");
    let path = file.to_str().expect("utf-8 path");
    let (status, _, stderr) = run_to_end(&["check-config", path], LIMIT);
    assert_eq!(status.code(), Some(0), "{stderr}");
}

#[test]
fn gateway_address_listed_twice() {
    let text = with(
        &base("x"),
        r#"addresses: ["10.2.0.10"]"#,
        r#"addresses: ["10.2.0.10", "10.2.0.10"]"#,
    );
    rejected(
        "gw-twice",
        &text,
        11,
        Some(r#""10.2.0.10""#),
        "gateway address 10.2.0.10 is already gateway.addresses[0]",
    );
}

#[test]
fn gateway_address_that_is_a_port_address() {
    let text = with(&base("x"), r#"["10.2.0.10"]"#, r#"["10.2.0.1"]"#);
    rejected(
        "gw-is-port",
        &text,
        11,
        Some(r#""10.2.0.1""#),
        "gateway address 10.2.0.1 is already the address of port \"srv0\"",
    );
}

#[test]
fn vip_that_is_a_gateway_address() {
    rejected(
        "vip-is-gw",
        &with_service("10.2.0.10"),
        12,
        Some(r#""10.2.0.10""#),
        "VIP 10.2.0.10 of service \"web\" is already gateway.addresses[0]",
    );
}

#[test]
fn vip_that_is_a_port_address() {
    rejected(
        "vip-is-port",
        &with_service("10.1.0.1"),
        12,
        Some(r#""10.1.0.1""#),
        "VIP 10.1.0.1 of service \"web\" is already the address of port \"acc0\"",
    );
}

// ------------------------------------------------------------- table sizes

/// 4294967295 user sessions per worker used to pass and then abort the
/// process after DPDK started (memory allocation of 515396075280 bytes).
#[test]
fn session_table_larger_than_the_machine() {
    let text = with(
        &base("x"),
        "user_sessions_per_worker: 1024",
        "user_sessions_per_worker: 4294967295",
    );
    rejected("table-too-big", &text, 11, Some("4294967295"), "bytes (");
    // The message says how much is needed and how much there is.
    let scratch = Scratch::new("table-too-big-msg");
    let file = scratch.path("big.ron");
    std::fs::write(&file, &text).expect("write");
    let (_, _, stderr) = run_to_end(&["check-config", file.to_str().expect("utf-8")], LIMIT);
    assert!(
        stderr.contains("of session tables per worker")
            && stderr.contains("MemTotal")
            && stderr.contains("lower user_sessions_per_worker"),
        "{stderr}"
    );
}

#[test]
fn unknown_field_message_reads_well() {
    let text = with(
        &base("x"),
        "memory_mb: 256,",
        "memory_mb: 256, bogus_field: 1,",
    );
    rejected(
        "bogus-field",
        &text,
        2,
        None,
        "Unexpected field named `bogus_field` in `Eal`, expected one of",
    );
}

// ------------------------------------------------ MSS clamps and DSCP marks

#[test]
fn mss_clamps_and_dscp_marks_in_range_are_valid() {
    let text = with(
        &with_service("10.9.0.1"),
        "proto: Tcp,",
        "proto: Tcp, dscp: Some(10),",
    );
    let text = with(
        &text,
        "role: Access,",
        "role: Access, mss_clamp: Some(1400),",
    );
    let text = with(
        &text,
        "user_sessions_per_worker: 1024),",
        "user_sessions_per_worker: 1024),\n    mss_clamp: Some(536),\n    user_session_types: [(name: \"voice\", dscp: Some(46))],",
    );
    let scratch = Scratch::new("marks-ok");
    let file = scratch.path("ok.ron");
    std::fs::write(&file, text).expect("write");
    let path = file.to_str().expect("utf-8 path");
    let (status, _, stderr) = run_to_end(&["check-config", path], LIMIT);
    assert_eq!(status.code(), Some(0), "{stderr}");
}

#[test]
fn port_mss_clamp_below_536() {
    let text = with(
        &base("x"),
        "role: Access,",
        "role: Access, mss_clamp: Some(400),",
    );
    rejected("mss-low", &text, 5, Some("Some(400)"), "outside 536..=9176");
}

#[test]
fn mss_clamp_on_a_server_port() {
    let text = with(
        &base("x"),
        "role: Server,",
        "role: Server, mss_clamp: Some(1400),",
    );
    rejected("mss-server", &text, 6, Some("Some(1400)"), "access ports");
}

#[test]
fn global_mss_clamp_above_9176() {
    let text = with(
        &base("x"),
        "user_sessions_per_worker: 1024),",
        "user_sessions_per_worker: 1024),\n    mss_clamp: Some(9200),",
    );
    rejected(
        "mss-high",
        &text,
        12,
        Some("Some(9200)"),
        "outside 536..=9176",
    );
}

#[test]
fn user_session_type_dscp_above_63() {
    let text = with(
        &base("x"),
        "user_sessions_per_worker: 1024),",
        "user_sessions_per_worker: 1024),\n    user_session_types: [(name: \"voice\", dscp: Some(64))],",
    );
    rejected("dscp-type", &text, 12, Some("Some(64)"), "0 to 63");
}

#[test]
fn service_dscp_above_63() {
    let text = with(
        &with_service("10.9.0.1"),
        "proto: Tcp,",
        "proto: Tcp, dscp: Some(70),",
    );
    rejected("dscp-service", &text, 12, Some("Some(70)"), "0 to 63");
}

/// `base` with a subscriber entry whose limits are `limits` (line 12).
fn with_limits(limits: &str) -> String {
    with(
        &base("x"),
        "user_sessions_per_worker: 1024),",
        &format!(
            "user_sessions_per_worker: 1024),\n    subscribers: (entries: [(prefix: \"10.8.0.0/24\", limits: {limits})]),"
        ),
    )
}

#[test]
fn bitrate_limit_of_zero() {
    let text = with_limits("(bitrate: (up_mbit: 0, down_mbit: 50))");
    rejected(
        "bitrate-zero",
        &text,
        12,
        Some("up_mbit: 0"),
        "up_mbit must be 1..=",
    );
}

#[test]
fn bitrate_limit_without_a_direction() {
    let text = with_limits("(bitrate: (burst_kb: 64))");
    rejected(
        "bitrate-none",
        &text,
        12,
        None,
        "needs up_mbit, down_mbit or both",
    );
}

#[test]
fn a_valid_bitrate_limit_is_accepted() {
    let text = with_limits("(bitrate: (up_mbit: 10, down_mbit: 50, burst_kb: 64))");
    accepted("bitrate-ok", &text);
}

// ------------------------------------------------------ IPv6 port addresses

#[test]
fn ipv6_port_addresses_are_valid() {
    let text = with(
        &base("x"),
        r#"addresses: ["10.1.0.1/24"]"#,
        r#"addresses: ["10.1.0.1/24", "2001:db8:1::1/64", "fe80::1/64"]"#,
    );
    let text = with(
        &text,
        r#"addresses: ["10.2.0.1/24"]"#,
        r#"addresses: ["2001:db8:2::1/64", "10.2.0.1/24"]"#,
    );
    let scratch = Scratch::new("v6-ok");
    let file = scratch.path("ok.ron");
    std::fs::write(&file, text).expect("write");
    let path = file.to_str().expect("utf-8 path");
    let (status, _, stderr) = run_to_end(&["check-config", path], LIMIT);
    assert_eq!(status.code(), Some(0), "{stderr}");
}

#[test]
fn ipv6_port_address_that_does_not_parse() {
    let text = with(&base("x"), "10.2.0.1/24", "2001:db8::g/64");
    rejected(
        "v6-syntax",
        &text,
        6,
        Some(r#""2001:db8::g/64""#),
        "'2001:db8::g/64' is not an IPv6 address",
    );
}

#[test]
fn ipv6_prefix_length_above_128() {
    let text = with(&base("x"), "10.2.0.1/24", "2001:db8:2::1/129");
    rejected(
        "v6-prefix",
        &text,
        6,
        Some(r#""2001:db8:2::1/129""#),
        "prefix length must be 0..=128",
    );
}

#[test]
fn multicast_ipv6_port_address() {
    let text = with(
        &base("x"),
        r#"addresses: ["10.1.0.1/24"]"#,
        r#"addresses: ["10.1.0.1/24", "ff02::1/64"]"#,
    );
    rejected(
        "v6-multicast",
        &text,
        5,
        Some(r#""ff02::1/64""#),
        "must be a unicast address",
    );
}

#[test]
fn ipv6_port_address_on_two_ports() {
    let text = with(
        &base("x"),
        r#"addresses: ["10.1.0.1/24"]"#,
        r#"addresses: ["10.1.0.1/24", "2001:db8::1/64"]"#,
    );
    let text = with(
        &text,
        r#"addresses: ["10.2.0.1/24"]"#,
        r#"addresses: ["10.2.0.1/24", "2001:db8:0::1/64"]"#,
    );
    rejected(
        "v6-twice",
        &text,
        6,
        Some(r#""2001:db8:0::1/64""#),
        "address 2001:db8::1 is configured twice",
    );
}

/// An IPv6 address where only IPv4 is meant is refused where it stands,
/// saying what to write instead: an IPv6 VIP in `vip`, an IPv6 server
/// behind an IPv4 VIP (IPv4 terminals cannot reach it), an IPv6 gateway
/// address in `addresses`.
#[test]
fn ipv6_vip_server_or_gateway_address_is_refused() {
    rejected(
        "v6-vip",
        &with_service("2001:db8:9::1"),
        12,
        Some(r#""2001:db8:9::1""#),
        "is written `vip6`",
    );
    let server = with(
        &with_service("10.9.0.1"),
        r#"addr: "10.2.0.21""#,
        r#"addr: "2001:db8:2::21""#,
    );
    rejected(
        "v6-server",
        &server,
        12,
        Some(r#""2001:db8:2::21""#),
        "needs a vip6 and no IPv4 vip",
    );
    let gateway = with(&base("x"), r#"["10.2.0.10"]"#, r#"["2001:db8:2::10"]"#);
    rejected(
        "v6-gateway",
        &gateway,
        11,
        Some(r#""2001:db8:2::10""#),
        "goes in `gateway.ipv6_addresses`",
    );
}

// ------------------------------------------------------------ per-port MTU

#[test]
fn port_mtus_in_range_are_valid() {
    let text = with(
        &base("x"),
        "role: Access,",
        "role: Access, mtu: Some(1400),",
    );
    let text = with(&text, "role: Server,", "role: Server, mtu: Some(576),");
    let scratch = Scratch::new("mtu-ok");
    let file = scratch.path("ok.ron");
    std::fs::write(&file, text).expect("write");
    let path = file.to_str().expect("utf-8 path");
    let (status, _, stderr) = run_to_end(&["check-config", path], LIMIT);
    assert_eq!(status.code(), Some(0), "{stderr}");
}

#[test]
fn port_mtu_below_576() {
    let text = with(&base("x"), "role: Server,", "role: Server, mtu: Some(500),");
    rejected(
        "mtu-low",
        &text,
        6,
        Some("Some(500)"),
        "mtu 500 is below 576",
    );
}

#[test]
fn port_mtu_below_1280_with_an_ipv6_address() {
    let text = with(
        &base("x"),
        r#"role: Access, addresses: ["10.1.0.1/24"]"#,
        r#"role: Access, addresses: ["10.1.0.1/24", "2001:db8:1::1/64"], mtu: Some(1000)"#,
    );
    rejected(
        "mtu-v6",
        &text,
        5,
        Some("Some(1000)"),
        "mtu 1000 is below 1280: the port has an IPv6 address",
    );
}

#[test]
fn port_mtu_larger_than_an_mbuf() {
    let text = with(
        &base("x"),
        "role: Server,",
        "role: Server, mtu: Some(9000),",
    );
    rejected(
        "mtu-big",
        &text,
        6,
        Some("Some(9000)"),
        "mtu 9000 does not fit one mbuf",
    );
}

// ------------------------------------------------ PROXY protocol

#[test]
fn proxy_protocol_on_a_tcp_service_is_valid() {
    let text = with(
        &with_service("10.9.0.1"),
        "proto: Tcp,",
        "proto: Tcp, proxy_protocol: V2,",
    );
    let scratch = Scratch::new("proxy-ok");
    let file = scratch.path("ok.ron");
    std::fs::write(&file, text).expect("write");
    let path = file.to_str().expect("utf-8 path");
    let (status, _, stderr) = run_to_end(&["check-config", path], LIMIT);
    assert_eq!(status.code(), Some(0), "{stderr}");
}

#[test]
fn proxy_protocol_on_a_udp_service() {
    let text = with(
        &with_service("10.9.0.1"),
        "proto: Tcp,",
        "proto: Udp, proxy_protocol: V2,",
    );
    rejected("proxy-udp", &text, 12, Some("V2"), "is not TCP");
}

#[test]
fn proxy_protocol_with_a_syn_proxy() {
    let text = with(
        &with_service("10.9.0.1"),
        "proto: Tcp,",
        "proto: Tcp, syn_proxy: Always, proxy_protocol: V2,",
    );
    rejected("proxy-synproxy", &text, 12, Some("V2"), "syn_proxy Off");
}

#[test]
fn proxy_protocol_version_unknown() {
    let text = with(
        &with_service("10.9.0.1"),
        "proto: Tcp,",
        "proto: Tcp, proxy_protocol: V1,",
    );
    rejected("proxy-v1", &text, 12, Some("V1"), "V1");
}

#[test]
fn quota_without_bytes_or_time() {
    let text = with_limits("(quota: (period_s: 3600, thresholds: [50]))");
    rejected(
        "quota-none",
        &text,
        12,
        None,
        "a quota needs bytes, online_s or both",
    );
}

#[test]
fn quota_thresholds_out_of_order() {
    let text = with_limits("(quota: (bytes: 2000000, thresholds: [80, 50]))");
    rejected(
        "quota-order",
        &text,
        12,
        Some("50"),
        "thresholds are percentages 1..=99 in ascending order",
    );
}

#[test]
fn quota_threshold_of_100() {
    let text = with_limits("(quota: (bytes: 2000000, thresholds: [50, 100]))");
    rejected("quota-100", &text, 12, Some("100"), "threshold 100");
}

#[test]
fn quota_period_of_zero() {
    let text = with_limits("(quota: (bytes: 2000000, period_s: 0))");
    rejected(
        "quota-period",
        &text,
        12,
        Some("period_s: 0"),
        "period_s must be at least 1",
    );
}

#[test]
fn quota_throttle_of_zero() {
    let text = with_limits("(quota: (bytes: 2000000, on_exhausted: Throttle(0, 5)))");
    rejected(
        "quota-throttle",
        &text,
        12,
        Some("Throttle(0, 5)"),
        "Throttle(up_mbit, down_mbit): each must be 1..=",
    );
}

#[test]
fn quota_with_an_unknown_action() {
    let text = with_limits("(quota: (bytes: 2000000, on_exhausted: Drop))");
    rejected("quota-action", &text, 12, Some("Drop"), "Drop");
}

#[test]
fn valid_quotas_are_accepted() {
    for (i, q) in [
        "(quota: (bytes: 2000000, period_s: 86400, thresholds: [50, 80], on_exhausted: Block))",
        "(quota: (online_s: 3600, on_exhausted: Throttle(1, 2)))",
        "(max_user_sessions: 10, quota: (bytes: 1, online_s: 1))",
    ]
    .iter()
    .enumerate()
    {
        accepted(&format!("quota-ok-{i}"), &with_limits(q));
    }
}

#[test]
fn user_session_type_over_limit_dscp_above_63() {
    let text = with(
        &base("x"),
        "user_sessions_per_worker: 1024),",
        "user_sessions_per_worker: 1024),\n    user_session_types: [(name: \"bulk\", over_limit_dscp: Some(99))],",
    );
    rejected(
        "dscp-over-limit",
        &text,
        12,
        Some("Some(99)"),
        "dscp 99 is not a DSCP value (0 to 63)",
    );
}

#[test]
fn a_type_that_re_marks_over_its_limit_is_accepted() {
    let text = with(
        &with_limits("(bitrate: (up_mbit: 10, down_mbit: 10))"),
        "user_sessions_per_worker: 1024),",
        "user_sessions_per_worker: 1024),\n    user_session_types: [(name: \"bulk\", over_limit_dscp: Some(8))],",
    );
    accepted("dscp-over-limit-ok", &text);
}

/// The base config with these user-session types (on line 12).
fn with_types(types: &str) -> String {
    with(
        &base("x"),
        "user_sessions_per_worker: 1024),",
        &format!("user_sessions_per_worker: 1024),\n    user_session_types: [{types}],"),
    )
}

#[test]
fn type_bitrate_limit_of_zero() {
    rejected(
        "type-bitrate-zero",
        &with_types("(name: \"video\", bitrate: (down_mbit: 0))"),
        12,
        Some("down_mbit: 0"),
        "down_mbit must be 1..=",
    );
}

#[test]
fn type_bitrate_limit_without_a_direction() {
    rejected(
        "type-bitrate-none",
        &with_types("(name: \"video\", bitrate: (burst_kb: 64))"),
        12,
        Some("(burst_kb"),
        "needs up_mbit, down_mbit or both",
    );
}

#[test]
fn type_bitrate_limit_with_a_misspelt_field() {
    rejected(
        "type-bitrate-typo",
        &with_types("(name: \"video\", bitrate: (down_mbps: 5))"),
        12,
        Some("down_mbps"),
        "Unexpected field named `down_mbps` in `BitrateLimit`",
    );
}

#[test]
fn type_bitrate_limit_over_the_highest_rate() {
    rejected(
        "type-bitrate-high",
        &with_types("(name: \"video\", bitrate: (up_mbit: 400001))"),
        12,
        Some("up_mbit: 400001"),
        "up_mbit must be 1..=400000",
    );
}

#[test]
fn type_bitrate_burst_smaller_than_a_packet() {
    rejected(
        "type-bitrate-burst",
        &with_types("(name: \"video\", bitrate: (down_mbit: 5, burst_kb: 1))"),
        12,
        Some("burst_kb: 1"),
        "a burst must hold at least one 1500-byte packet",
    );
    // The same rule for a subscriber's limit.
    rejected(
        "sub-bitrate-burst",
        &with_limits("(bitrate: (up_mbit: 5, burst_kb: 1))"),
        12,
        Some("burst_kb: 1"),
        "a burst must hold at least one 1500-byte packet",
    );
}

#[test]
fn too_many_types_with_a_bitrate_limit() {
    let types: Vec<String> = (0..9)
        .map(|i| format!("(name: \"t{i}\", bitrate: (down_mbit: 5))"))
        .collect();
    rejected(
        "type-bitrate-many",
        &with_types(&types.join(", ")),
        12,
        Some("(down_mbit: 5)"),
        "at most 8 user-session types may have a bitrate limit",
    );
}

#[test]
fn a_type_bitrate_limit_is_accepted_with_a_subscriber_limit() {
    let text = with(
        &with_limits("(bitrate: (up_mbit: 50, down_mbit: 50))"),
        "user_sessions_per_worker: 1024),",
        "user_sessions_per_worker: 1024),\n    user_session_types: [(name: \"other\"), (name: \"video\", over_limit_dscp: Some(8), bitrate: (down_mbit: 5, burst_kb: 64))],",
    );
    accepted("type-bitrate-ok", &text);
}

/// `base` with `gateway.fragments` set to `fragments`, on a line of its
/// own (line 12).
fn with_fragments(fragments: &str) -> String {
    with(
        &base("x"),
        "user_sessions_per_worker: 1024),",
        &format!("user_sessions_per_worker: 1024,\n        fragments: {fragments}),"),
    )
}

#[test]
fn fragment_table_larger_than_its_bound() {
    let text = with_fragments("(max_datagrams: 2000000)");
    rejected(
        "fragments-max",
        &text,
        12,
        Some("2000000"),
        "max_datagrams 2000000 is over 1048576",
    );
}

#[test]
fn fragment_timeout_out_of_range() {
    for (i, t) in ["0", "30001"].iter().enumerate() {
        let text = with_fragments(&format!("(max_datagrams: 64, timeout_ms: {t})"));
        rejected(
            &format!("fragments-timeout-{i}"),
            &text,
            12,
            Some(t),
            &format!("timeout_ms {t} must be 1..=30000"),
        );
    }
}

#[test]
fn fragment_settings_unknown_field() {
    let text = with_fragments("(max_datagram: 64)");
    rejected(
        "fragments-field",
        &text,
        12,
        Some("max_datagram"),
        "max_datagram",
    );
}

#[test]
fn valid_fragment_settings_are_accepted() {
    for (i, fr) in [
        "(max_datagrams: 0)",
        "(max_datagrams: 0, timeout_ms: 0)",
        "(max_datagrams: 4096, timeout_ms: 30000)",
        "(timeout_ms: 500)",
    ]
    .iter()
    .enumerate()
    {
        accepted(&format!("fragments-ok-{i}"), &with_fragments(fr));
    }
}

// ------------------------------------------------ IPv6 session prefix

#[test]
fn ipv6_session_prefix_lengths_48_56_60_and_64_are_valid() {
    for len in [48, 56, 60, 64] {
        let scratch = Scratch::new(&format!("v6len{len}"));
        let file = scratch.path("ok.ron");
        let text = with(
            &base(&file_prefix("v6len")),
            "    gateway:",
            &format!("    steering: (ipv6_prefix_len: {len}),\n    gateway:"),
        );
        std::fs::write(&file, text).expect("write");
        let path = file.to_str().expect("utf-8 path");
        let (status, _, stderr) = run_to_end(&["check-config", path], LIMIT);
        assert_eq!(status.code(), Some(0), "/{len}: {stderr}");
    }
}

#[test]
fn ipv6_session_prefix_length_that_is_not_one_of_the_four() {
    let text = with(
        &base("x"),
        "    gateway:",
        "    steering: (ipv6_prefix_len: 63),\n    gateway:",
    );
    rejected(
        "v6len63",
        &text,
        11,
        Some("63"),
        "ipv6_prefix_len must be 48, 56, 60 or 64",
    );
}

// ------------------------------------------- IPv6 subscribers and classify

/// `base` with the line `line` on line 11.
fn with_line_11(prefix: &str, line: &str) -> String {
    with(
        &base(prefix),
        "    gateway:",
        &format!("    {line}\n    gateway:"),
    )
}

#[test]
fn ipv6_subscriber_and_classify_prefixes_are_valid() {
    accepted(
        "v6policy_ok",
        &with_line_11(
            "v6pok",
            "subscribers: (entries: [(prefix: \"2001:db8:5::/48\")]), user_session_types: [(name: \"a\"), (name: \"b\")], classify: [(terminal: \"2001:db8:5::/48\", dst: \"64:ff9b::/96\", user_session_type: \"b\")],",
        ),
    );
}

#[test]
fn ipv6_subscriber_prefix_longer_than_a_session_id() {
    rejected(
        "v6sub72",
        &with_line_11(
            "v6s72",
            "subscribers: (entries: [(prefix: \"2001:db8:5::/72\")]),",
        ),
        11,
        Some("\"2001:db8:5::/72\""),
        "longer than an IPv6 terminal's session ID",
    );
}

#[test]
fn ipv6_subscriber_prefix_with_host_bits() {
    rejected(
        "v6subhost",
        &with_line_11(
            "v6sh",
            "subscribers: (entries: [(prefix: \"2001:db8:5::1/48\")]),",
        ),
        11,
        Some("\"2001:db8:5::1/48\""),
        "did you mean \"2001:db8:5::/48\"",
    );
}

#[test]
fn ipv6_prefix_in_an_ipv4_only_field() {
    let text = with(
        &base("v6as"),
        "role: Access, addresses: [\"10.1.0.1/24\"]",
        "role: Access, addresses: [\"10.1.0.1/24\"], allowed_sources: [\"2001:db8::/32\"]",
    );
    rejected(
        "v6allowed",
        &text,
        5,
        Some("\"2001:db8::/32\""),
        "is an IPv6 prefix, but this field takes IPv4 prefixes only",
    );
}

#[test]
fn classify_rule_mixing_ip_versions() {
    rejected(
        "v6classmix",
        &with_line_11(
            "v6cm",
            "user_session_types: [(name: \"a\")], classify: [(terminal: \"2001:db8:5::/48\", dst: \"10.9.0.1\", user_session_type: \"a\")],",
        ),
        11,
        Some("\"10.9.0.1\""),
        "different IP versions",
    );
}

// ------------------------------------------------------------------ NAT64

/// The base config with a NAT64 service (`vip6`, line 12) and `extra`
/// lines after it (from line 13).
fn with_vip6(service: &str, extra: &str) -> String {
    with(
        &base("x"),
        "user_sessions_per_worker: 1024),",
        &format!("user_sessions_per_worker: 1024),\n    services: [{service}],{extra}"),
    )
}

const WEB6: &str = r#"(name: "web6", vip6: "2001:db8:9::80", proto: Tcp, port: 80, servers: [(addr: "10.2.0.21", port: 8080)])"#;

#[test]
fn a_nat64_service_and_prefix_are_valid() {
    for extra in [
        "",
        "\n    nat64: (),",
        "\n    nat64: (prefix: \"2001:db8:64::/96\"),",
    ] {
        let scratch = Scratch::new("nat64-ok");
        let file = scratch.path("ok.ron");
        std::fs::write(&file, with_vip6(WEB6, extra)).expect("write");
        let path = file.to_str().expect("utf-8 path");
        let (status, _, stderr) = run_to_end(&["check-config", path], LIMIT);
        assert_eq!(status.code(), Some(0), "{extra}: {stderr}");
    }
}

#[test]
fn nat64_mistakes_are_refused_where_they_are() {
    rejected(
        "vip6-and-vip",
        &with_vip6(&WEB6.replace("vip6:", "vip: \"10.9.0.1\", vip6:"), ""),
        12,
        Some(r#""2001:db8:9::80""#),
        "has both vip and vip6",
    );
    rejected(
        "vip6-no-servers",
        &with_vip6(&WEB6.replace(r#"(addr: "10.2.0.21", port: 8080)"#, ""), ""),
        12,
        Some(r#""2001:db8:9::80""#),
        "an IPv6 VIP needs servers",
    );
    rejected(
        "vip6-v4",
        &with_vip6(&WEB6.replace("2001:db8:9::80", "10.9.0.1"), ""),
        12,
        Some(r#""10.9.0.1""#),
        "an IPv4 VIP is written `vip`",
    );
    rejected(
        "vip6-proxy",
        &with_vip6(
            &WEB6.replace("servers:", "proxy_protocol: V2, servers:"),
            "",
        ),
        12,
        Some(r#""2001:db8:9::80""#),
        "not supported on an IPv6 VIP",
    );
    rejected(
        "nat64-64",
        &with_vip6(WEB6, "\n    nat64: (prefix: \"64:ff9b::/64\"),"),
        13,
        Some(r#""64:ff9b::/64""#),
        "must be a /96",
    );
    rejected(
        "nat64-gtp",
        &with_vip6(WEB6, "\n    steering: (key: GtpTeid),"),
        12,
        Some(r#""2001:db8:9::80""#),
        "needs steering key SourceIp",
    );
    rejected(
        "vip6-in-prefix",
        &with_vip6(
            &WEB6.replace("2001:db8:9::80", "64:ff9b::a09:1"),
            "\n    nat64: (),",
        ),
        12,
        Some(r#""64:ff9b::a09:1""#),
        "inside the NAT64 prefix",
    );
}
