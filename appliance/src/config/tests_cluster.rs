//! The `cluster:` section and the Fabric role: what a tier-1 unit, a
//! gateway and a stand-alone appliance may be, and the errors (with their
//! place in the file) for what none of them may be.

use super::*;

/// A gateway-only cluster member (no Access port).
const GATEWAY: &str = r#"(
    eal: (lcores: "0-1", no_huge: true, memory_mb: 256, file_prefix: "t",
          vdevs: ["net_ring0", "net_ring1"]),
    ports: [
        (name: "srv0", device: "net_ring0", role: Server, addresses: ["10.2.0.1/24"]),
        (name: "fab0", device: "net_ring1", role: Fabric, addresses: ["10.99.0.2/24"]),
    ],
    workers: [
        (lcore: 1, poll: [(port: "srv0"), (port: "fab0")]),
    ],
    gateway: (addresses: ["10.2.0.10"]),
    services: [
        (name: "web", vip: "10.9.0.1", proto: Tcp, port: 80, servers: [(addr: "10.2.0.21")]),
    ],
    cluster: (name: "lab", appliance_id: 2, etcd: ["http://127.0.0.1:2379"]),
)"#;

fn err(text: &str) -> ConfigError {
    match parse(Path::new("t.ron"), text) {
        Ok(_) => panic!("config was accepted:\n{text}"),
        Err(e) => e,
    }
}

/// The line (1-based) of the first occurrence of `needle` in `text`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("{needle} not in the config"))
}

#[test]
fn a_gateway_only_member_is_valid_with_defaults() {
    let c = parse(Path::new("t.ron"), GATEWAY).unwrap();
    let cl = c.cluster.as_ref().unwrap();
    assert_eq!(cl.lease_ttl_s, 3);
    assert_eq!(cl.fabric_base_port, 6081);
    assert_eq!(cl.max_gateways, 64);
    let r = cluster::roles(&c);
    assert!(r.gateway && !r.tier1);
    assert_eq!(
        cluster::fabric_addr(&c),
        Some(std::net::Ipv4Addr::new(10, 99, 0, 2))
    );
}

#[test]
fn a_tier1_only_member_is_valid() {
    let text = GATEWAY.replace("role: Server", "role: Access");
    let c = parse(Path::new("t.ron"), &text).unwrap();
    let r = cluster::roles(&c);
    assert!(r.tier1 && !r.gateway);
}

#[test]
fn without_cluster_the_old_rules_hold() {
    let standalone = GATEWAY.replace(
        "    cluster: (name: \"lab\", appliance_id: 2, etcd: [\"http://127.0.0.1:2379\"]),\n",
        "",
    );
    // A gateway without an Access port is a cluster member's shape only.
    let text = standalone.replace("role: Fabric", "role: External");
    let e = err(&text);
    assert!(e.message.contains("no port has role Access"), "{e}");
    // With both, a Fabric port is refused where it stands.
    let text = standalone.replace(
        "    ports: [\n",
        "    ports: [\n        (name: \"acc0\", device: \"net_ring2\", role: Access),\n",
    );
    let text = text.replace("(port: \"srv0\"), ", "(port: \"srv0\"), (port: \"acc0\"), ");
    let e = err(&text);
    assert_eq!(e.line, line_of(&text, "role: Fabric"), "{e}");
    assert!(e.message.contains("add a cluster: section"), "{e}");
}

#[test]
fn cluster_mistakes_point_at_the_value() {
    let cases = [
        ("appliance_id: 2", "appliance_id: 0", "appliance_id must be"),
        ("name: \"lab\"", "name: \"a/b\"", "must be letters"),
        (
            "etcd: [\"http://127.0.0.1:2379\"]",
            "etcd: [\"localhost\"]",
            "is not http://ADDRESS:PORT",
        ),
        (
            "etcd: [\"http://127.0.0.1:2379\"]",
            "etcd: []",
            "at least one etcd",
        ),
        (
            "appliance_id: 2,",
            "appliance_id: 2, lease_ttl_s: 0,",
            "lease_ttl_s must be",
        ),
        (
            "appliance_id: 2,",
            "appliance_id: 2, fabric_mtu: 600,",
            "fabric_mtu 600 must be",
        ),
        (
            "appliance_id: 2,",
            "appliance_id: 2, fabric_base_port: 0,",
            "leaves no room",
        ),
        (
            "appliance_id: 2,",
            "appliance_id: 2, fabric_mtu: 9000,",
            "does not fit an mbuf of mempool.data_room 2176",
        ),
    ];
    for (from, to, says) in cases {
        let text = GATEWAY.replace(from, to);
        let e = err(&text);
        assert!(e.message.contains(says), "{to}: {e}");
        assert_eq!(e.line, line_of(&text, "cluster:"), "{to}: {e}");
        assert!(e.to_string().starts_with("t.ron:"), "{e}");
    }
}

#[test]
fn a_jumbo_fabric_mtu_needs_a_data_room_that_holds_it() {
    let text = GATEWAY.replace("appliance_id: 2,", "appliance_id: 2, fabric_mtu: 9000,") + "";
    let text = text.replacen(
        "(\n    eal:",
        "(\n    mempool: (data_room: 9142),\n    eal:",
        1,
    );
    parse(Path::new("t.ron"), &text).unwrap();
}

#[test]
fn gtp_teid_sessions_are_refused_in_a_cluster_whatever_the_roles() {
    for text in [
        GATEWAY.to_string(),
        GATEWAY.replace("role: Server", "role: Access"),
    ] {
        let text = text.replacen(
            "(\n    eal:",
            "(\n    steering: (key: GtpTeid),\n    eal:",
            1,
        );
        let e = err(&text);
        assert!(
            e.message.contains("GtpTeid is not supported in a cluster"),
            "{e}"
        );
        assert_eq!(e.line, line_of(&text, "key: GtpTeid"), "{e}");
    }
}

#[test]
fn a_member_needs_one_fabric_port_with_an_address_and_a_role() {
    let e = err(&GATEWAY.replace("role: Fabric", "role: External"));
    assert!(e.message.contains("one port with role Fabric"), "{e}");
    let text = GATEWAY.replace(
        "role: Fabric, addresses: [\"10.99.0.2/24\"]",
        "role: Fabric",
    );
    let e = err(&text);
    assert!(e.message.contains("needs an address"), "{e}");
    assert_eq!(e.line, line_of(&text, "role: Fabric"), "{e}");
    let text = GATEWAY.replace("role: Server", "role: Fabric");
    let e = err(&text);
    assert!(
        e.message.contains("only one port may have role Fabric"),
        "{e}"
    );
    // Fabric and External only: neither tier-1 nor gateway... External is
    // a gateway; a lone Fabric port is neither.
    let text = GATEWAY
        .replace(
            "        (name: \"srv0\", device: \"net_ring0\", role: Server, addresses: [\"10.2.0.1/24\"]),\n",
            "",
        )
        .replace("(port: \"srv0\"), ", "");
    let e = err(&text);
    assert!(e.message.contains("neither an Access port"), "{e}");
}
