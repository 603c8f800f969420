//! Config errors in the hardening settings (subscriber limits, learned-pin
//! cap, allowed sources) point at the value and say what to write.

use super::*;

const GOOD: &str = r#"(
    eal: (lcores: "0-1", no_huge: true, memory_mb: 256, file_prefix: "t",
          vdevs: ["net_ring0", "net_ring1"]),
    ports: [
        (name: "acc0", device: "net_ring0", role: Access, addresses: ["10.1.0.1/24"],
         allowed_sources: ["10.8.0.0/16"]),
        (name: "srv0", device: "net_ring1", role: Server, addresses: ["10.2.0.1/24"]),
    ],
    workers: [
        (lcore: 1, poll: [(port: "acc0"), (port: "srv0")]),
    ],
    gateway: (addresses: ["10.2.0.10"]),
    steering: (learned_pins_max: 1000, learned_pins_per_s: 100),
    services: [
        (name: "web", vip: "10.9.0.1", proto: Tcp, port: 80, servers: [(addr: "10.2.0.21")]),
    ],
    subscribers: (
        default_limits: (max_user_sessions: 100, new_user_sessions_per_s: 10, burst: 20),
        entries: [
            (prefix: "10.8.1.0/24", limits: (max_user_sessions: 5)),
        ],
    ),
)"#;

fn err(text: &str) -> ConfigError {
    match parse(Path::new("t.ron"), text) {
        Ok(_) => panic!("config was accepted:\n{text}"),
        Err(e) => e,
    }
}

#[test]
fn hardening_settings_parse_and_reach_the_plan() {
    let c = parse(Path::new("t.ron"), GOOD).unwrap();
    assert_eq!(c.steering.learned_pins_max, Some(1000));
    let subs = crate::plan::subscribers(&c);
    let inside = subs.lookup(0, std::net::Ipv4Addr::new(10, 8, 1, 7));
    assert_eq!(inside.limits.max_live, Some(5));
    assert_eq!(
        inside.limits.rate, None,
        "an entry's limits replace the default"
    );
    let other = subs.lookup(0, std::net::Ipv4Addr::new(10, 8, 2, 7));
    assert_eq!(other.limits.max_live, Some(100));
    assert_eq!(
        other.limits.rate,
        Some(dataplane::policy::Rate {
            per_s: 10,
            burst: 20
        })
    );
}

#[test]
fn zero_limits_are_refused_at_their_place() {
    let e = err(&GOOD.replace("(max_user_sessions: 5)", "(max_user_sessions: 0)"));
    assert_eq!(e.line, 20, "{e}");
    assert!(e.message.contains("at least 1"), "{e}");
    let e = err(&GOOD.replace("new_user_sessions_per_s: 10", "new_user_sessions_per_s: 0"));
    assert_eq!(e.line, 18, "{e}");
    assert!(e.message.contains("new_user_sessions_per_s"), "{e}");
    let e = err(&GOOD.replace("(max_user_sessions: 5)", "(max_user_sessions: 5, burst: 3)"));
    assert!(e.message.contains("burst needs"), "{e}");
    let e = err(&GOOD.replace("learned_pins_per_s: 100", "learned_pins_per_s: 0"));
    assert_eq!(e.line, 13, "{e}");
}

#[test]
fn allowed_sources_errors_point_at_the_prefix() {
    let e = err(&GOOD.replace("\"10.8.0.0/16\"", "\"10.8.0.1/16\""));
    assert_eq!(e.line, 6, "{e}");
    assert!(
        e.message.contains("host bits") && e.message.contains("10.8.0.0/16"),
        "{e}"
    );
    let e = err(&GOOD.replace("\"10.8.0.0/16\"", "\"10.8.0.300/16\""));
    assert_eq!(e.line, 6, "{e}");
    let e = err(&GOOD.replace("allowed_sources: [\"10.8.0.0/16\"]", "allowed_sources: []"));
    assert!(e.message.contains("empty"), "{e}");
    let e = err(&GOOD.replace(
        "addresses: [\"10.2.0.1/24\"])",
        "addresses: [\"10.2.0.1/24\"], allowed_sources: [\"10.2.0.0/24\"])",
    ));
    assert_eq!(e.line, 7, "{e}");
    assert!(e.message.contains("only for access ports"), "{e}");
}
