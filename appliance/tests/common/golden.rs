//! The setting of the pcap golden tests: one gateway address, a web
//! service on three servers and a DNS service, terminals on the access
//! port; how to build their config and frames, and how to check a frame
//! tandem translated towards a server.

use super::packet::Frame;
use super::{pcap, wait_until, Scratch, SMALL_SIZES};
use dataplane::wire::frames::tcp_frame;
use dataplane::wire::{FrameSpec, MacAddr, TcpFlags};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 2, 0, 10);
pub const PORT_LO: u16 = 40_000;
pub const PORT_HI: u16 = 40_999;
pub const WEB_VIP: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
pub const DNS_VIP: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 3);
pub const ACCESS_ADDR: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 1);
/// Web servers and the MAC each has as a static neighbour.
pub const SERVERS: [(Ipv4Addr, [u8; 6]); 3] = [
    (Ipv4Addr::new(10, 2, 0, 21), [2, 0, 0, 0, 2, 0x21]),
    (Ipv4Addr::new(10, 2, 0, 22), [2, 0, 0, 0, 2, 0x22]),
    (Ipv4Addr::new(10, 2, 0, 23), [2, 0, 0, 0, 2, 0x23]),
];
/// Where frames to tandem's access port are addressed (tandem does not
/// filter on it; the real MAC is only known once the port is started).
pub const TO_TANDEM: MacAddr = MacAddr([2, 0xaa, 0, 0, 0, 1]);

/// A net_pcap vdev replaying `rx_frames` and recording `tx_queues` tx
/// queues into files of their own; returns the vdev and those files.
pub fn pcap_vdev(
    scratch: &Scratch,
    index: u16,
    rx_frames: &[Vec<u8>],
    tx_queues: u16,
) -> (String, Vec<PathBuf>) {
    let rx = scratch.path(&format!("port{index}-in.pcap"));
    pcap::write(&rx, rx_frames);
    let mut vdev = format!("net_pcap{index},rx_pcap={}", rx.display());
    let tx: Vec<PathBuf> = (0..tx_queues)
        .map(|q| scratch.path(&format!("port{index}-out-q{q}.pcap")))
        .collect();
    for t in &tx {
        vdev.push_str(&format!(",tx_pcap={}", t.display()));
    }
    (vdev, tx)
}

/// A config on pcap vdevs: `ports` and `workers` are RON list items,
/// `extra` further top-level fields (steering, subscribers, ...). The
/// gateway and the services are the same for every test.
pub fn pcap_config(
    prefix: &str,
    lcores: &str,
    vdevs: &[&str],
    ports: &str,
    workers: &str,
    extra: &str,
) -> String {
    let vdevs: Vec<String> = vdevs.iter().map(|v| format!("\"{v}\"")).collect();
    format!(
        r#"(
    eal: (lcores: "{lcores}", no_huge: true, memory_mb: 256, file_prefix: "{prefix}",
        vdevs: [{}]),
    ports: [{ports}],
    workers: [{workers}],
    {SMALL_SIZES}
    {}
    {extra}
)"#,
        vdevs.join(", "),
        services_and_gateway()
    )
}

/// The access port (`net_pcap0`) and the server port (`net_pcap1`, with
/// the servers as static neighbours).
pub fn access_and_server_ports() -> String {
    format!(
        r#"(name: "acc0", device: "net_pcap0", role: Access, addresses: ["{ACCESS_ADDR}/24"]),
        (name: "srv0", device: "net_pcap1", role: Server, addresses: ["10.2.0.1/24"],
         neighbours: [{}])"#,
        neighbours()
    )
}

pub const ONE_WORKER: &str = r#"(lcore: 1, poll: [(port: "acc0"), (port: "srv0")])"#;

/// Gateway and services of every config.
pub fn services_and_gateway() -> String {
    let servers: Vec<String> = SERVERS
        .iter()
        .map(|(ip, _)| format!(r#"(addr: "{ip}", port: 8080)"#))
        .collect();
    format!(
        r#"gateway: (addresses: ["{GATEWAY}"], port_range: ({PORT_LO}, {PORT_HI}),
        user_sessions_per_worker: 4096),
    services: [
        (name: "web", vip: "{WEB_VIP}", proto: Tcp, port: 80, servers: [{}]),
        (name: "dns", vip: "{DNS_VIP}", proto: Udp, port: 53,
         servers: [(addr: "{}", port: 5353)]),
    ],"#,
        servers.join(", "),
        SERVERS[0].0
    )
}

pub fn neighbours() -> String {
    let n: Vec<String> = SERVERS
        .iter()
        .map(|(ip, m)| format!(r#"(ip: "{ip}", mac: "{}")"#, MacAddr(*m)))
        .collect();
    n.join(", ")
}

pub fn terminal_mac(ip: Ipv4Addr) -> MacAddr {
    let o = ip.octets();
    MacAddr([2, 0, 0, o[1], o[2], o[3]])
}

pub fn spec(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16) -> FrameSpec {
    FrameSpec {
        src_mac: terminal_mac(src),
        dst_mac: TO_TANDEM,
        src_ip: src,
        dst_ip: dst,
        src_port: sport,
        dst_port: dport,
        ..FrameSpec::default()
    }
}

pub fn syn(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16, seq: u32) -> Vec<u8> {
    let payload = format!("syn {src}:{sport}");
    tcp_frame(
        &spec(src, sport, dst, dport),
        seq,
        0,
        TcpFlags::SYN,
        64_240,
        payload.as_bytes(),
    )
    .expect("SYN frame")
}

/// Waits until each file has at least its count of frames (bounded), so
/// the test stops tandem only once it has sent what it will send.
pub fn wait_frames(want: &[(&Path, usize)]) {
    let all_there = wait_until(Duration::from_secs(10), || {
        want.iter().all(|(p, n)| pcap::count_so_far(p) >= *n)
    });
    let have: Vec<usize> = want.iter().map(|(p, _)| pcap::count_so_far(p)).collect();
    assert!(all_there, "frames written {have:?}, expected {want:?}");
}

/// Checks a frame tandem sent towards a server as the translation of a
/// terminal's packet; returns (server, gateway port).
pub fn check_translated(
    out: &[u8],
    server_port_mac: [u8; 6],
    proto: u8,
    server_l4_port: u16,
    payload: &[u8],
) -> (Ipv4Addr, u16) {
    let f = Frame::new(out);
    let ip = f.ipv4();
    assert_eq!(ip.proto(), proto);
    assert_eq!(ip.src(), GATEWAY, "source is the gateway address");
    let gw_port = ip.src_port();
    assert!(
        (PORT_LO..=PORT_HI).contains(&gw_port),
        "gateway port {gw_port} outside the range"
    );
    assert_eq!(ip.dst_port(), server_l4_port, "server port");
    assert_eq!(ip.ttl(), 63, "TTL decremented once");
    assert!(ip.l4_checksum_ok(), "L4 checksum of {out:02x?}");
    assert_eq!(ip.payload(), payload, "payload unchanged");
    let server = ip.dst();
    let (_, server_mac) = SERVERS
        .iter()
        .find(|(a, _)| *a == server)
        .unwrap_or_else(|| panic!("{server} is not a server"));
    assert_eq!(f.dst_mac(), *server_mac, "Ethernet to the server's MAC");
    assert_eq!(
        f.src_mac(),
        server_port_mac,
        "Ethernet from the server port"
    );
    (server, gw_port)
}
