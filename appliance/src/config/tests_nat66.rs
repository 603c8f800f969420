//! Config for IPv6 servers (IPv6 → IPv6 full NAT, issue 14 item 3): what
//! is accepted reaches the plan (servers, gateway IPv6 addresses on the
//! server port's topology), and each mixed-version mistake names its line
//! and column and says what to write instead.

use super::*;

/// Line 11 holds the gateway section, line 14 the IPv6 service (line 1
/// is `(`).
const GOOD: &str = r#"(
    eal: (lcores: "0-1", no_huge: true, memory_mb: 256, file_prefix: "t",
          vdevs: ["net_ring0", "net_ring1"]),
    ports: [
        (name: "acc0", device: "net_ring0", role: Access, addresses: ["10.1.0.1/24", "2001:db8:1::1/64"]),
        (name: "srv0", device: "net_ring1", role: Server, addresses: ["10.2.0.1/24", "2001:db8:2::1/64"]),
    ],
    workers: [
        (lcore: 1, poll: [(port: "acc0"), (port: "srv0")]),
    ],
    gateway: (addresses: ["10.2.0.10"], ipv6_addresses: ["2001:db8:2::10"]),
    services: [
        (name: "web", vip: "10.9.0.1", proto: Tcp, port: 80, servers: [(addr: "10.2.0.21")]),
        (name: "web66", vip6: "2001:db8:9::66", proto: Tcp, port: 80, servers: [(addr: "2001:db8:2::21"), (addr: "2001:db8:2::22")]),
    ],
)"#;

fn err(text: &str) -> ConfigError {
    match parse(Path::new("t.ron"), text) {
        Ok(_) => panic!("config was accepted:\n{text}"),
        Err(e) => e,
    }
}

#[test]
fn ipv6_servers_and_gateway_addresses_reach_the_plan() {
    let c = parse(Path::new("t.ron"), GOOD).unwrap();
    let table = crate::plan::service_table(&c);
    let six: Vec<_> = table.servers.iter().filter_map(|s| s.addr6).collect();
    assert_eq!(
        six,
        [
            "2001:db8:2::21".parse::<std::net::Ipv6Addr>().unwrap(),
            "2001:db8:2::22".parse().unwrap()
        ]
    );
    assert!(table.servers[0].addr6.is_none());
    let policy = crate::plan::policy(&c);
    let topo = crate::plan::topology(&c, &[[2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]], &policy);
    let gw6 = "2001:db8:2::10".parse().unwrap();
    // Index 1: after the one IPv4 gateway address; answered on the
    // server port only.
    assert_eq!(topo.gateway_v6(1, gw6), Some(1));
    assert_eq!(topo.gateway_v6(0, gw6), None);
    assert!(topo.is_own_ipv6(1, gw6));
}

#[test]
fn ipv6_server_mistakes_name_their_place() {
    let at = |from: &str, to: &str, line: usize, says: &str| {
        let e = err(&GOOD.replace(from, to));
        assert_eq!(e.line, line, "{e}");
        assert!(e.message.contains(says), "{e}");
    };
    // An IPv6 server behind an IPv4 VIP.
    at(
        "servers: [(addr: \"10.2.0.21\")]",
        "servers: [(addr: \"2001:db8:2::23\")]",
        13,
        "needs a vip6",
    );
    // Both versions in one service.
    at(
        "(addr: \"2001:db8:2::22\")",
        "(addr: \"10.2.0.22\")",
        14,
        "mixes IPv4 and IPv6",
    );
    // No gateway IPv6 address.
    at(
        ", ipv6_addresses: [\"2001:db8:2::10\"]",
        "",
        14,
        "gateway.ipv6_addresses",
    );
    // A server on no port's IPv6 network.
    at("2001:db8:2::22", "2001:db8:7::22", 14, "no IPv6 network");
    // Gateway IPv6 address mistakes.
    at(
        "ipv6_addresses: [\"2001:db8:2::10\"]",
        "ipv6_addresses: [\"2001:db8:2::1\"]",
        11,
        "port \"srv0\"",
    );
    at(
        "ipv6_addresses: [\"2001:db8:2::10\"]",
        "ipv6_addresses: [\"2001:db8:2::10\", \"2001:db8:2::10\"]",
        11,
        "listed twice",
    );
    at(
        "ipv6_addresses: [\"2001:db8:2::10\"]",
        "ipv6_addresses: [\"2001:db8:9::66\"]",
        11,
        "vip6",
    );
    at(
        "ipv6_addresses: [\"2001:db8:2::10\"]",
        "ipv6_addresses: [\"2001:db8:8::10\"]",
        11,
        "no IPv6 network",
    );
    at(
        "ipv6_addresses: [\"2001:db8:2::10\"]",
        "ipv6_addresses: [\"10.2.0.11\"]",
        11,
        "IPv4 address",
    );
    // Two services on one IPv6 VIP, protocol and port.
    at(
        "(name: \"web66\", vip6: \"2001:db8:9::66\", proto: Tcp, port: 80,",
        "(name: \"web66\", vip6: \"2001:db8:9::66\", proto: Tcp, port: 80, servers: [(addr: \"2001:db8:2::23\")]),\n        (name: \"web66b\", vip6: \"2001:db8:9::66\", proto: Tcp, port: 80,",
        15,
        "overlaps services[1]",
    );
    // A server address that is no unicast address.
    at("2001:db8:2::22", "ff02::1", 14, "not a server address");
    // An IPv4 VIP's type pool onto IPv6 servers.
    let pooled = GOOD
        .replace(
            "    ports: [",
            "    user_session_types: [(name: \"lab\")],\n    ports: [",
        )
        .replace(
            "servers: [(addr: \"10.2.0.21\")]),",
            "servers: [(addr: \"10.2.0.21\")], pools: [(user_session_type: \"lab\", service: \"web66\")]),",
        );
    let e = err(&pooled);
    assert!(e.message.contains("whose servers are IPv6"), "{e}");
}

/// `GOOD` with srv0 routing 2001:db8:99::/48 via `via` and web66's second
/// server there.
fn routed(via: &str) -> String {
    GOOD.replace(
        r#"addresses: ["10.2.0.1/24", "2001:db8:2::1/64"]),"#,
        &format!(
            r#"addresses: ["10.2.0.1/24", "2001:db8:2::1/64"], routes: [(prefix: "2001:db8:99::/48", via: "{via}")]),"#
        ),
    )
    .replace("2001:db8:2::22", "2001:db8:99::22")
}

#[test]
fn an_ipv6_server_behind_an_ipv6_route_reaches_the_topology() {
    let c = parse(Path::new("t.ron"), &routed("fe80::fe")).unwrap();
    let policy = crate::plan::policy(&c);
    let topo = crate::plan::topology(&c, &[[2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]], &policy);
    let hop = topo.route_v6("2001:db8:99::22".parse().unwrap()).unwrap();
    assert_eq!((hop.port, hop.ip.to_string()), (1, "fe80::fe".to_string()));
    // A next hop inside the port's own network is as good.
    assert!(parse(Path::new("t.ron"), &routed("2001:db8:2::fe")).is_ok());
}

#[test]
fn ipv6_route_mistakes_name_their_place() {
    let at = |text: &str, says: &str| {
        let e = err(text);
        assert_eq!(e.line, 6, "{e}");
        assert!(e.message.contains(says), "{e}");
    };
    at(&routed("10.2.0.254"), "the prefix's IP version");
    at(&routed("2001:db8:7::1"), "link-local or inside an IPv6");
    // On an access port.
    let on_access = GOOD.replace(
        r#"addresses: ["10.1.0.1/24", "2001:db8:1::1/64"]),"#,
        r#"addresses: ["10.1.0.1/24", "2001:db8:1::1/64"], routes: [(prefix: "2001:db8:99::/48", via: "fe80::fe")]),"#,
    );
    let e = err(&on_access);
    assert_eq!(e.line, 5, "{e}");
    assert!(e.message.contains("Server or External"), "{e}");
    // Without the route the server is unreachable.
    let e = err(&GOOD.replace("2001:db8:2::22", "2001:db8:99::22"));
    assert!(e.message.contains("no IPv6 route"), "{e}");
}

#[test]
fn static_ipv6_neighbours_reach_the_plan_and_must_be_on_the_link() {
    let with = |ip: &str| {
        GOOD.replace(
            r#"addresses: ["10.2.0.1/24", "2001:db8:2::1/64"]),"#,
            &format!(
                r#"addresses: ["10.2.0.1/24", "2001:db8:2::1/64"], neighbours: [(ip: "{ip}", mac: "02:00:00:00:00:21")]),"#
            ),
        )
    };
    let c = parse(Path::new("t.ron"), &with("2001:db8:2::21")).unwrap();
    let n = crate::plan::neighbours(&c);
    assert_eq!(
        n.get_v6(1, "2001:db8:2::21".parse().unwrap()),
        Some([2, 0, 0, 0, 0, 0x21])
    );
    let e = err(&with("2001:db8:7::21"));
    assert_eq!(e.line, 6, "{e}");
    assert!(e.message.contains("link-local or inside"), "{e}");
}
