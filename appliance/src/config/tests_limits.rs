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

/// GOOD with a bitrate limit on the 10.8.1.0/24 entry (line 20).
fn with_bitrate(bitrate: &str) -> String {
    GOOD.replace(
        "(max_user_sessions: 5)",
        &format!("(max_user_sessions: 5, bitrate: {bitrate})"),
    )
}

#[test]
fn bitrate_limits_reach_the_plan_in_bytes() {
    let c = parse(
        Path::new("t.ron"),
        &with_bitrate("(up_mbit: 10, down_mbit: 50, burst_kb: 100)"),
    )
    .unwrap();
    let subs = crate::plan::subscribers(&c);
    let b = subs
        .lookup(0, std::net::Ipv4Addr::new(10, 8, 1, 7))
        .limits
        .bitrate
        .expect("a bitrate limit");
    let up = b.up.expect("up");
    let down = b.down.expect("down");
    assert_eq!((up.bytes_per_s, up.burst_bytes), (1_250_000, 100_000));
    assert_eq!((down.bytes_per_s, down.burst_bytes), (6_250_000, 100_000));
    let other = subs.lookup(0, std::net::Ipv4Addr::new(10, 8, 2, 7));
    assert_eq!(other.limits.bitrate, None, "the default has none");
    // The default burst: half a second of the rate, at least 64 kB.
    let c = parse(Path::new("t.ron"), &with_bitrate("(down_mbit: 200)")).unwrap();
    let subs = crate::plan::subscribers(&c);
    let b = subs
        .lookup(0, std::net::Ipv4Addr::new(10, 8, 1, 7))
        .limits
        .bitrate
        .expect("a bitrate limit");
    assert_eq!(b.up, None);
    assert_eq!(b.down.map(|r| r.burst_bytes), Some(12_500_000));
    let c = parse(
        Path::new("t.ron"),
        &with_bitrate("(up_mbit: 1, down_mbit: 2)"),
    )
    .unwrap();
    let subs = crate::plan::subscribers(&c);
    let b = subs
        .lookup(0, std::net::Ipv4Addr::new(10, 8, 1, 7))
        .limits
        .bitrate;
    assert_eq!(b.and_then(|b| b.up).map(|r| r.burst_bytes), Some(64_000));
    assert_eq!(b.and_then(|b| b.down).map(|r| r.burst_bytes), Some(125_000));
}

#[test]
fn bad_bitrate_limits_are_refused_at_their_place() {
    let e = err(&with_bitrate("(burst_kb: 64)"));
    assert_eq!(e.line, 20, "{e}");
    assert!(e.message.contains("up_mbit, down_mbit or both"), "{e}");
    let e = err(&with_bitrate("(up_mbit: 0)"));
    assert_eq!(e.line, 20, "{e}");
    assert!(e.message.contains("up_mbit must be 1..="), "{e}");
    let e = err(&with_bitrate("(up_mbit: 10, down_mbit: 400001)"));
    assert!(e.message.contains("down_mbit must be"), "{e}");
    let e = err(&with_bitrate("(up_mbit: 10, burst_kb: 0)"));
    assert!(e.message.contains("burst_kb must be"), "{e}");
    let e = err(&with_bitrate("(up_mbit: 10, down: 5)"));
    assert_eq!(e.line, 20, "{e}");
}

#[test]
fn a_type_bitrate_limit_reaches_the_classifier_and_allocates_meters() {
    let text = GOOD.replace(
        "    services: [",
        "    user_session_types: [(name: \"other\"), (name: \"video\", bitrate: (down_mbit: 5))],\n    services: [",
    );
    let c = parse(Path::new("t.ron"), &text).unwrap();
    assert!(c.has_bitrate_limits(), "meters for the type's buckets");
    assert_eq!(c.limited_types(), 1);
    let cl = crate::plan::classifier(&c);
    let b = cl.types[1].bitrate.expect("video's limit");
    assert_eq!(b.up, None);
    let down = b.down.expect("down");
    // 5 Mbit/s; the default burst, as for a subscriber: half a second.
    assert_eq!((down.bytes_per_s, down.burst_bytes), (625_000, 312_500));
    assert!(!cl.has_bitrate(0) && cl.has_bitrate(1));
    let without = parse(Path::new("t.ron"), GOOD).unwrap();
    assert!(!without.has_bitrate_limits());
    assert!(
        super::table_memory::worker_bytes(&c) > super::table_memory::worker_bytes(&without),
        "check-config counts the meters"
    );
}

/// An IPv6 terminal's subscriber entry is its prefix session ID: the
/// entry matches every address of the prefix (a terminal that rotates its
/// interface identifier stays the same subscriber); a shorter prefix
/// covers the session IDs inside it, a longer one (it would split a
/// session ID) is refused where it is written.
#[test]
fn an_ipv6_prefix_subscriber_entry_matches_its_terminals_or_is_refused() {
    use dataplane::tier1::{session_id_v6, Ipv6SessionPrefix, SessionKeyMode};
    use std::net::Ipv6Addr;
    let v6_entry = "(prefix: \"10.8.1.0/24\", limits: (max_user_sessions: 5)),\n            \
         (session: \"2001:db8:3::/64\", limits: (max_user_sessions: 7)),";
    let text = GOOD.replace(
        "(prefix: \"10.8.1.0/24\", limits: (max_user_sessions: 5)),",
        v6_entry,
    );
    let c = parse(Path::new("t.ron"), &text).unwrap();
    let subs = crate::plan::subscribers(&c);
    let sid = |a: &str| {
        let a: Ipv6Addr = a.parse().unwrap();
        session_id_v6(SessionKeyMode::SourceIp, a, Ipv6SessionPrefix::P64)
            .unwrap()
            .0
    };
    for terminal in ["2001:db8:3::66", "2001:db8:3:0:5c3a:91d7:e27b:4f10"] {
        let e = subs.lookup(sid(terminal), std::net::Ipv4Addr::UNSPECIFIED);
        assert_eq!(e.limits.max_live, Some(7), "{terminal}");
    }
    let other = subs.lookup(sid("2001:db8:4::66"), std::net::Ipv4Addr::UNSPECIFIED);
    assert_eq!(other.limits.max_live, Some(100));

    // A /56 covers every /64 session ID inside it.
    let c = parse(
        Path::new("t.ron"),
        &text.replace("2001:db8:3::/64", "2001:db8:3::/56"),
    )
    .unwrap();
    let subs = crate::plan::subscribers(&c);
    let e = subs.lookup_v6(sid("2001:db8:3:ab::66"));
    assert_eq!(e.limits.max_live, Some(7));
    // With /56 session IDs a /64 entry would split one: refused.
    let e = err(&text.replace(
        "learned_pins_per_s: 100)",
        "learned_pins_per_s: 100, ipv6_prefix_len: 56)",
    ));
    assert_eq!((e.line, e.column), (21, 23), "{e}");
    assert!(
        e.message.contains("/64 prefix") && e.message.contains("ipv6_prefix_len"),
        "{e}"
    );
    let e = err(&text.replace(
        "learned_pins_per_s: 100)",
        "learned_pins_per_s: 100, key: GtpTeid)",
    ));
    assert_eq!((e.line, e.column), (21, 23), "{e}");
    assert!(e.message.contains("steering.key"), "{e}");
}
