//! Config errors for subscriber entries by IPv6 prefix and other
//! mixed-version mistakes (issue 14, item 7): each names its line and
//! column and says what to write instead.

use super::*;

/// Line 9 holds the entry under test (line 1 is `(`).
const GOOD: &str = r#"(
    eal: (lcores: "0-1", no_huge: true, memory_mb: 256, file_prefix: "t",
          vdevs: ["net_ring0", "net_ring1"]),
    ports: [
        (name: "acc0", device: "net_ring0", role: Access, addresses: ["10.1.0.1/24"],
         allowed_sources: ["10.8.0.0/16"]),
        (name: "srv0", device: "net_ring1", role: Server, addresses: ["10.2.0.1/24"]),
    ],
    subscribers: (default: Deny, entries: [(prefix: "2001:db8:5::/48", services: ["web"])]),
    workers: [
        (lcore: 1, poll: [(port: "acc0"), (port: "srv0")]),
    ],
    gateway: (addresses: ["10.2.0.10"]),
    services: [
        (name: "web", vip: "10.9.0.1", proto: Tcp, port: 80, servers: [(addr: "10.2.0.21")]),
    ],
)"#;

fn err(text: &str) -> ConfigError {
    match parse(Path::new("t.ron"), text) {
        Ok(_) => panic!("config was accepted:\n{text}"),
        Err(e) => e,
    }
}

fn sid(a: &str) -> u64 {
    use dataplane::tier1::{Ipv6SessionPrefix, SessionId};
    SessionId::from_ipv6_prefix(a.parse().unwrap(), Ipv6SessionPrefix::P64)
        .unwrap()
        .0
}

#[test]
fn an_ipv6_prefix_entry_entitles_every_terminal_inside_it() {
    let c = parse(Path::new("t.ron"), GOOD).unwrap();
    let subs = crate::plan::subscribers(&c);
    assert!(subs.lookup_v6(sid("2001:db8:5:9::1")).services.contains(0));
    assert!(!subs.lookup_v6(sid("2001:db8:6::1")).services.contains(0));
    // An IPv6 entry is no IPv4 terminal's.
    assert!(!subs
        .lookup(0, std::net::Ipv4Addr::new(10, 8, 0, 5))
        .services
        .contains(0));
    // `session` with a /48 (shorter than the /64 session IDs) is the same.
    let text = GOOD.replace(
        "(prefix: \"2001:db8:5::/48\"",
        "(session: \"2001:db8:5::/48\"",
    );
    let subs = crate::plan::subscribers(&parse(Path::new("t.ron"), &text).unwrap());
    assert!(subs.lookup_v6(sid("2001:db8:5:9::1")).services.contains(0));
}

#[test]
fn ipv6_prefix_entry_mistakes_name_their_place() {
    let at = |from: &str, to: &str, says: &str| {
        let e = err(&GOOD.replace(from, to));
        // At the string (a rule) or just after it (a parse error).
        assert_eq!(e.line, 9, "{e}");
        assert!((53..=72).contains(&e.column), "{e}");
        assert!(e.message.contains(says), "{e}");
    };
    at(
        "2001:db8:5::/48",
        "2001:db8:5::1/48",
        "did you mean \"2001:db8:5::/48\"",
    );
    at("2001:db8:5::/48", "2001:db8:5::/72", "/64");
    at("2001:db8:5::/48", "2001:db8:5::/129", "0..=128");
    at("2001:db8:5::/48", "fd00:5::/48", "2000::/3");
    at(
        "2001:db8:5::/48",
        "10.8.0.1/16",
        "did you mean \"10.8.0.0/16\"",
    );
    at("2001:db8:5::/48", "10.8.0.0/33", "0..=32");
    let e = err(&GOOD.replace(
        "gateway: (addresses",
        "steering: (key: GtpTeid),\n    gateway: (addresses",
    ));
    assert!(e.message.contains("steering.key"), "{e}");
}

#[test]
fn an_ipv6_prefix_in_an_ipv4_only_field_says_so() {
    let e = err(&GOOD.replace("[\"10.8.0.0/16\"]", "[\"2001:db8::/32\"]"));
    assert_eq!(e.line, 6, "{e}");
    assert!(
        e.message.contains("is an IPv6 prefix") && e.message.contains("IPv4 prefixes only"),
        "{e}"
    );
    let e = err(&GOOD.replace(
        "gateway: (addresses",
        "nat64: (prefix: \"10.64.0.0/16\"),\n    gateway: (addresses",
    ));
    assert!(
        e.message.contains("is an IPv4 prefix") && e.message.contains("IPv6 prefixes only"),
        "{e}"
    );
}

/// `GOOD` with a type "lab" and the classify rule `rule` on line 10.
fn with_rule(rule: &str) -> String {
    GOOD.replace(
        "    workers: [",
        &format!(
            "    user_session_types: [(name: \"other\"), (name: \"lab\")], classify: [{rule}],\n    workers: ["
        ),
    )
}

#[test]
fn classify_rules_by_ipv6_prefix_reach_the_plan() {
    use dataplane::policy::Ends;
    let text = with_rule(
        "(terminal: \"2001:db8:5::/48\", dst: \"64:ff9b::/96\", user_session_type: \"lab\")",
    );
    let c = parse(Path::new("t.ron"), &text).unwrap();
    let cl = crate::plan::classifier(&c);
    let ends = |t: &str, d: &str| Ends::V6 {
        terminal: t.parse().unwrap(),
        dst: d.parse().unwrap(),
    };
    assert_eq!(
        cl.classify(6, 80, 0, &ends("2001:db8:5:1::9", "64:ff9b::a09:1")),
        1
    );
    assert_eq!(
        cl.classify(6, 80, 0, &ends("2001:db8:6:1::9", "64:ff9b::a09:1")),
        0
    );
    assert_eq!(
        cl.classify(6, 80, 0, &ends("2001:db8:5:1::9", "2001:db8:9::80")),
        0
    );
    let v4 = Ends::V4 {
        terminal: std::net::Ipv4Addr::new(10, 8, 0, 5),
        dst: std::net::Ipv4Addr::new(10, 9, 0, 1),
    };
    assert_eq!(cl.classify(6, 80, 0, &v4), 0);
}

#[test]
fn classify_prefix_mistakes_name_their_place() {
    let e = err(&with_rule(
        "(terminal: \"2001:db8:5::1/48\", user_session_type: \"lab\")",
    ));
    assert_eq!(e.line, 10, "{e}");
    assert!(
        e.message.contains("did you mean \"2001:db8:5::/48\""),
        "{e}"
    );
    let e = err(&with_rule(
        "(terminal: \"2001:db8:5::/48\", dst: \"10.9.0.1\", user_session_type: \"lab\")",
    ));
    assert_eq!(e.line, 10, "{e}");
    assert!(e.message.contains("different IP versions"), "{e}");
    let e = err(&with_rule(
        "(dst: \"64:ff9b::/129\", user_session_type: \"lab\")",
    ));
    assert_eq!(e.line, 10, "{e}");
    assert!(e.message.contains("0..=128"), "{e}");
}
