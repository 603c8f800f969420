//! Golden tests of what surrounds the plain translation, through the real
//! binary on net_pcap ports (see `nat_pcap.rs` for the method): GTP-U
//! tunnels and VLAN tags taken off on the way in, external destinations
//! leaving by their route (and a next hop nobody knows being asked for
//! with ARP), and subscribers refused with a TCP reset or an ICMP error.

mod common;

use common::golden::*;
use common::packet::{Frame, ETHERTYPE_ARP, ETHERTYPE_IPV4, PROTO_ICMP, PROTO_TCP, PROTO_UDP};
use common::tandem::{assert_clean_exit, port_mac, Tandem};
use common::{file_prefix, pcap, wait_until, Scratch};
use dataplane::wire::frames::{gtpu_encap, icmp_echo_frame, udp_frame};
use dataplane::wire::{FrameSpec, MacAddr};
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

/// The IPv4 packet of a frame built without a VLAN tag.
fn ip_packet(frame: &[u8]) -> Vec<u8> {
    frame[14..].to_vec()
}

#[test]
fn gtp_tunnels_and_vlan_tags_are_taken_off() {
    let test = "gtp";
    let scratch = Scratch::new(test);
    let prefix = file_prefix(test);
    let enb = Ipv4Addr::new(10, 1, 0, 50);
    let outer = |vlan| FrameSpec {
        src_mac: MacAddr([2, 0, 0, 0, 1, 50]),
        dst_mac: TO_TANDEM,
        vlan,
        src_ip: enb,
        dst_ip: ACCESS_ADDR,
        src_port: 2152,
        dst_port: 2152,
        ..FrameSpec::default()
    };
    let ue1 = Ipv4Addr::new(10, 45, 0, 2);
    let ue2 = Ipv4Addr::new(10, 45, 0, 3);
    let inner_syn = ip_packet(&syn(ue1, 33_000, WEB_VIP, 80, 42));
    let inner_udp =
        ip_packet(&udp_frame(&spec(ue2, 33_001, DNS_VIP, 53), b"gtp query").expect("udp"));
    let input = vec![
        gtpu_encap(&outer(None), 0x1001, &inner_syn).expect("G-PDU"),
        gtpu_encap(&outer(Some(100)), 0x2002, &inner_udp).expect("tagged G-PDU"),
        // Not tunnelled: in GTP-U mode it has no session key.
        syn(ue1, 33_002, WEB_VIP, 80, 1),
    ];
    let (acc_vdev, _) = pcap_vdev(&scratch, 0, &input, 2);
    let (srv_vdev, srv_out) = pcap_vdev(&scratch, 1, &[], 2);
    let config = pcap_config(
        &prefix,
        "0-1",
        &[&acc_vdev, &srv_vdev],
        &access_and_server_ports(),
        ONE_WORKER,
        "steering: (key: GtpTeid),",
    );
    let mut tandem = Tandem::start(&scratch.dir, &prefix, &config);
    tandem.wait_running();
    wait_frames(&[(&srv_out[0], 2)]);
    let exit = tandem.stop();
    assert_clean_exit(&exit);
    let srv_mac = port_mac(&exit.log, "srv0");

    let out = pcap::read(&srv_out[0]);
    assert_eq!(out.len(), 2, "the plain SYN must not pass");
    for f in &out {
        assert_eq!(
            Frame::new(f).ethertype(),
            ETHERTYPE_IPV4,
            "no tag, no tunnel"
        );
        assert_eq!(f.len(), 14 + Frame::new(f).ipv4().bytes.len(), "no trailer");
    }
    check_translated(
        &out[0],
        srv_mac,
        PROTO_TCP,
        8080,
        format!("syn {ue1}:33000").as_bytes(),
    );
    assert_eq!(Frame::new(&out[0]).ipv4().tcp_seq(), 42);
    let (server, _) = check_translated(&out[1], srv_mac, PROTO_UDP, 5353, b"gtp query");
    assert_eq!(server, SERVERS[0].0);
}

const NEXT_HOP: Ipv4Addr = Ipv4Addr::new(10, 3, 0, 254);
const NEXT_HOP_MAC: [u8; 6] = [2, 0, 0, 0, 3, 0xfe];
const UNKNOWN_HOP: Ipv4Addr = Ipv4Addr::new(10, 3, 0, 253);

/// Access, server and an external port routing two prefixes: one via a
/// next hop with a static neighbour entry, one via a next hop nobody knows.
fn with_external_port() -> String {
    format!(
        r#"{},
        (name: "ext0", device: "net_pcap2", role: External, addresses: ["10.3.0.1/24"],
         routes: [(prefix: "198.51.100.0/24", via: "{NEXT_HOP}"),
                  (prefix: "203.0.113.0/24", via: "{UNKNOWN_HOP}")],
         neighbours: [(ip: "{NEXT_HOP}", mac: "{}")])"#,
        access_and_server_ports(),
        MacAddr(NEXT_HOP_MAC)
    )
}

const THREE_PORTS: &str = r#"(lcore: 1, poll: [(port: "acc0"), (port: "srv0"), (port: "ext0")])"#;

/// Frames to external destinations; returns them and how many of them
/// must come out of the external port.
fn external_input() -> (Vec<Vec<u8>>, usize) {
    let t = Ipv4Addr::new(10, 1, 0, 100);
    let far = Ipv4Addr::new(198, 51, 100, 7);
    let input = vec![
        udp_frame(&spec(t, 6000, far, 443), b"ext 1").expect("udp"),
        syn(t, 6001, Ipv4Addr::new(198, 51, 100, 8), 443, 9),
        icmp_echo_frame(&spec(t, 0, far, 0), 0x77, 1, b"ping far").expect("echo"),
        // Next hop unknown: dropped, and tandem asks for it.
        udp_frame(&spec(t, 6002, Ipv4Addr::new(203, 0, 113, 9), 53), b"lost").expect("udp"),
        // No route at all.
        udp_frame(&spec(t, 6003, Ipv4Addr::new(192, 0, 2, 1), 53), b"nowhere").expect("udp"),
    ];
    (input, 3)
}

/// Whether the pcap file has an ARP request for `target`.
fn asks_for(file: &Path, target: Ipv4Addr) -> bool {
    let Ok(bytes) = std::fs::read(file) else {
        return false;
    };
    pcap::parse(&bytes, true)
        .unwrap_or_default()
        .iter()
        .map(|b| Frame::new(b))
        .any(|f| {
            f.ethertype() == ETHERTYPE_ARP && f.arp().op() == 1 && f.arp().target_ip() == target
        })
}

/// Runs the external scenario; returns the frames out of the external port
/// and its MAC.
fn run_external(test: &str) -> (Vec<Vec<u8>>, [u8; 6]) {
    let scratch = Scratch::new(test);
    let prefix = file_prefix(test);
    let (input, expected) = external_input();
    let (acc_vdev, _) = pcap_vdev(&scratch, 0, &input, 2);
    let (srv_vdev, srv_out) = pcap_vdev(&scratch, 1, &[], 2);
    let (ext_vdev, ext_out) = pcap_vdev(&scratch, 2, &[], 2);
    let config = pcap_config(
        &prefix,
        "0-1",
        &[&acc_vdev, &srv_vdev, &ext_vdev],
        &with_external_port(),
        THREE_PORTS,
        "",
    );
    let mut tandem = Tandem::start(&scratch.dir, &prefix, &config);
    tandem.wait_running();
    wait_frames(&[(&ext_out[0], expected)]);
    let asked = wait_until(Duration::from_secs(10), || {
        asks_for(&ext_out[1], UNKNOWN_HOP)
    });
    let exit = tandem.stop();
    assert_clean_exit(&exit);
    assert!(
        asked,
        "no ARP request for the unknown next hop {UNKNOWN_HOP}"
    );
    assert!(
        !asks_for(&ext_out[1], NEXT_HOP),
        "asked for a static neighbour"
    );
    assert!(
        pcap::read(&srv_out[0]).is_empty(),
        "external traffic on the server port"
    );
    let out = pcap::read(&ext_out[0]);
    assert_eq!(out.len(), expected, "frames out of the external port");
    (out, port_mac(&exit.log, "ext0"))
}

#[test]
fn external_destinations_leave_by_their_route() {
    let (out, ext_mac) = run_external("external");
    let mut ports = Vec::new();
    for (f, (proto, dst, dport)) in out.iter().zip([
        (PROTO_UDP, Ipv4Addr::new(198, 51, 100, 7), 443),
        (PROTO_TCP, Ipv4Addr::new(198, 51, 100, 8), 443),
        (PROTO_ICMP, Ipv4Addr::new(198, 51, 100, 7), 0),
    ]) {
        let frame = Frame::new(f);
        assert_eq!((frame.dst_mac(), frame.src_mac()), (NEXT_HOP_MAC, ext_mac));
        let ip = frame.ipv4();
        assert_eq!((ip.proto(), ip.src(), ip.dst()), (proto, GATEWAY, dst));
        assert_eq!(ip.ttl(), 63);
        assert!(ip.l4_checksum_ok(), "checksum of {f:02x?}");
        let gw_port = if proto == PROTO_ICMP {
            let icmp = ip.l4();
            assert_eq!(icmp[0], 8, "still an echo request");
            assert_eq!(&icmp[6..8], &[0, 1], "sequence kept");
            assert_eq!(ip.payload(), b"ping far");
            u16::from_be_bytes([icmp[4], icmp[5]])
        } else {
            assert_eq!(ip.dst_port(), dport);
            ip.src_port()
        };
        assert!((PORT_LO..=PORT_HI).contains(&gw_port), "port {gw_port}");
        ports.push(gw_port);
    }
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 3, "one gateway port per user session");
}

/// A subscriber entitled only to DNS gets a reset for the web service; one
/// entitled to nothing gets an ICMP "administratively prohibited" for DNS;
/// a subscriber without an entry uses the default (everything).
#[test]
fn refused_subscribers_get_a_reset_or_an_icmp_error() {
    let test = "refuse";
    let scratch = Scratch::new(test);
    let prefix = file_prefix(test);
    let dns_only = Ipv4Addr::new(10, 1, 0, 200);
    let nothing = Ipv4Addr::new(10, 1, 0, 201);
    let anyone = Ipv4Addr::new(10, 1, 0, 202);
    let refused_syn = syn(dns_only, 7000, WEB_VIP, 80, 5000);
    let syn_payload_len = format!("syn {dns_only}:7000").len() as u32;
    let refused_udp = udp_frame(&spec(nothing, 7002, DNS_VIP, 53), b"no").expect("udp");
    let input = vec![
        refused_syn,
        udp_frame(&spec(dns_only, 7001, DNS_VIP, 53), b"allowed").expect("udp"),
        refused_udp.clone(),
        syn(anyone, 7003, WEB_VIP, 80, 1),
    ];
    let (acc_vdev, acc_out) = pcap_vdev(&scratch, 0, &input, 2);
    let (srv_vdev, srv_out) = pcap_vdev(&scratch, 1, &[], 2);
    let config = pcap_config(
        &prefix,
        "0-1",
        &[&acc_vdev, &srv_vdev],
        &access_and_server_ports(),
        ONE_WORKER,
        &format!(
            r#"subscribers: (entries: [
        (prefix: "{dns_only}/32", services: ["dns"]),
        (prefix: "{nothing}/32", services: []),
    ]),"#
        ),
    );
    let mut tandem = Tandem::start(&scratch.dir, &prefix, &config);
    tandem.wait_running();
    let all = wait_until(Duration::from_secs(10), || {
        pcap::count_so_far(&srv_out[0]) >= 2 && pcap::count_so_far(&acc_out[0]) >= 2
    });
    let exit = tandem.stop();
    assert_clean_exit(&exit);
    let acc_mac = port_mac(&exit.log, "acc0");
    let srv_mac = port_mac(&exit.log, "srv0");
    let to_servers = pcap::read(&srv_out[0]);
    let to_terminals = pcap::read(&acc_out[0]);
    assert!(
        all,
        "{} frames to servers (want 2), {} to terminals (want 2)",
        to_servers.len(),
        to_terminals.len()
    );
    assert_eq!(to_servers.len(), 2);
    check_translated(&to_servers[0], srv_mac, PROTO_UDP, 5353, b"allowed");
    check_translated(
        &to_servers[1],
        srv_mac,
        PROTO_TCP,
        8080,
        format!("syn {anyone}:7003").as_bytes(),
    );

    assert_eq!(to_terminals.len(), 2);
    // The reset, from the VIP, acknowledging the SYN and its data.
    let f = Frame::new(&to_terminals[0]);
    assert_eq!(
        (f.dst_mac(), f.src_mac()),
        (terminal_mac(dns_only).0, acc_mac)
    );
    let ip = f.ipv4();
    assert_eq!(
        (ip.proto(), ip.src(), ip.dst()),
        (PROTO_TCP, WEB_VIP, dns_only)
    );
    assert_eq!((ip.src_port(), ip.dst_port()), (80, 7000));
    assert!(ip.l4_checksum_ok(), "RST checksum");
    assert_eq!(ip.tcp_flags(), 0x14, "RST+ACK");
    let ack = u32::from_be_bytes(ip.l4()[8..12].try_into().expect("4 bytes"));
    assert_eq!(ack, 5000 + 1 + syn_payload_len);

    // The ICMP error, from the DNS VIP, quoting the refused datagram.
    let f = Frame::new(&to_terminals[1]);
    assert_eq!(
        (f.dst_mac(), f.src_mac()),
        (terminal_mac(nothing).0, acc_mac)
    );
    let ip = f.ipv4();
    assert_eq!(
        (ip.proto(), ip.src(), ip.dst()),
        (PROTO_ICMP, DNS_VIP, nothing)
    );
    assert!(ip.l4_checksum_ok(), "ICMP checksum");
    let icmp = ip.l4();
    assert_eq!(
        (icmp[0], icmp[1]),
        (3, 13),
        "destination unreachable, prohibited"
    );
    let quoted = &icmp[8..];
    assert_eq!(
        quoted,
        &refused_udp[14..14 + quoted.len()],
        "quotes what was sent"
    );
    assert!(quoted.len() >= 28, "IP header and 8 bytes quoted");
}
