//! Config errors an operator can make, and the messages they get.

use super::*;

const GOOD: &str = r#"(
    eal: (lcores: "0-1", no_huge: true, memory_mb: 256, file_prefix: "t",
          vdevs: ["net_ring0", "net_ring1"]),
    ports: [
        (name: "acc0", device: "net_ring0", role: Access, addresses: ["10.1.0.1/24"]),
        (name: "srv0", device: "net_ring1", role: Server, addresses: ["10.2.0.1/24"]),
    ],
    workers: [
        (lcore: 1, poll: [(port: "acc0"), (port: "srv0")]),
    ],
    gateway: (addresses: ["10.2.0.10"]),
    services: [
        (name: "web", vip: "10.9.0.1", proto: Tcp, port: 80,
         servers: [(addr: "10.2.0.21"), (addr: "10.2.0.22", port: 8080, weight: 2)]),
    ],
)"#;

fn err(text: &str) -> ConfigError {
    match parse(Path::new("t.ron"), text) {
        Ok(_) => panic!("config was accepted:\n{text}"),
        Err(e) => e,
    }
}

#[test]
fn good_config_parses_with_defaults() {
    let c = parse(Path::new("t.ron"), GOOD).unwrap();
    assert_eq!(c.workers[0].lcore, 1);
    assert_eq!(c.gateway.port_range, (1024, 65535));
    assert_eq!(c.timeouts.tcp_established_s, 900);
    assert_eq!(c.services[0].servers[1].weight, 2);
    let args = c.eal_args();
    assert!(args.windows(2).any(|w| w == ["--vdev", "net_ring0"]));
    assert!(args.contains(&"--no-huge".to_string()));
    assert!(args.contains(&"--no-pci".to_string()));
}

#[test]
fn syntax_error_has_position() {
    let e = err(&GOOD.replace("role: Access,", "role: Access"));
    assert_eq!(e.line, 5, "{e}");
    assert!(e.to_string().starts_with("t.ron:5:"), "{e}");
}

#[test]
fn unknown_field_is_named() {
    let e = err(&GOOD.replace("memory_mb: 256", "memroy_mb: 256"));
    assert_eq!(e.line, 2, "{e}");
    assert!(e.message.contains("memroy_mb"), "{e}");
}

#[test]
fn bad_address_points_at_it() {
    let e = err(&GOOD.replace("10.2.0.1/24", "10.2.0.300/24"));
    assert_eq!(e.line, 6, "{e}");
    assert!(e.message.contains("10.2.0.300/24"), "{e}");
}

#[test]
fn port_named_twice() {
    let e = err(&GOOD.replace("name: \"srv0\"", "name: \"acc0\""));
    assert_eq!((e.line, e.column), (6, 16), "{e}");
    assert!(e.message.contains("used twice"), "{e}");
}

#[test]
fn worker_on_main_lcore() {
    let e = err(&GOOD.replace("(lcore: 1,", "(lcore: 0,"));
    assert_eq!((e.line, e.column), (9, 17), "{e}");
    assert!(e.message.contains("main lcore"), "{e}");
}

#[test]
fn unknown_port_in_poll_list() {
    let e = err(&GOOD.replace("(port: \"srv0\")", "(port: \"srv9\")"));
    assert_eq!(e.line, 9, "{e}");
    assert!(e.message.contains("srv9"), "{e}");
}

#[test]
fn unpolled_queue_is_refused() {
    let e = err(&GOOD.replace(", (port: \"srv0\")", ""));
    assert!(e.message.contains("polled by no worker"), "{e}");
    assert_eq!(e.line, 6, "{e}");
}

#[test]
fn overlapping_vips() {
    let text = GOOD.replace(
        "    ],\n)",
        "        (name: \"web2\", vip: \"10.9.0.1\", proto: Tcp, port: 70, port_end: 90, servers: [(addr: \"10.2.0.23\")]),\n    ],\n)",
    );
    let e = err(&text);
    assert!(e.message.contains("overlaps"), "{e}");
    assert_eq!(e.line, 15, "{e}");
}

#[test]
fn missing_file_is_a_plain_message() {
    let e = load(Path::new("/nonexistent/tandem.ron")).unwrap_err();
    assert_eq!(e.line, 0);
    assert!(e.to_string().contains("cannot read"), "{e}");
}

#[test]
fn shipped_examples_are_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conf");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "ron") {
            load(&p).unwrap_or_else(|e| panic!("{e}"));
            n += 1;
        }
    }
    assert!(n >= 2, "expected example configs in conf/");
}

#[test]
fn syn_proxy_settings_parse_and_default_off() {
    let c = parse(Path::new("t.ron"), GOOD).unwrap();
    assert_eq!(c.syn_proxy.fill_percent, 80);
    assert_eq!(c.services[0].syn_proxy, SynProxyMode::Off);
    let text = GOOD
        .replace(
            "servers: [(addr: \"10.2.0.21\")",
            "syn_proxy: Auto, servers: [(addr: \"10.2.0.21\")",
        )
        .replace(
            "    services: [",
            "    syn_proxy: (fill_percent: 60),\n    services: [",
        );
    let c = parse(Path::new("t.ron"), &text).unwrap();
    assert_eq!(c.syn_proxy.fill_percent, 60);
    assert_eq!(c.services[0].syn_proxy, SynProxyMode::Auto);
}

#[test]
fn syn_proxy_fill_out_of_range_points_at_it() {
    let text = GOOD.replace(
        "    services: [",
        "    syn_proxy: (fill_percent: 0),\n    services: [",
    );
    let e = err(&text);
    assert_eq!((e.line, e.column), (12, 31), "{e}");
    assert!(e.message.contains("fill_percent 0"), "{e}");
}

#[test]
fn syn_proxy_on_a_udp_service_is_refused() {
    let text = GOOD.replace(
        "    ],\n)",
        "        (name: \"dns\", vip: \"10.9.0.3\", proto: Udp, port: 53, syn_proxy: Always, servers: [(addr: \"10.2.0.23\")]),\n    ],\n)",
    );
    let e = err(&text);
    assert_eq!(e.line, 15, "{e}");
    assert!(e.message.contains("not TCP"), "{e}");
}
