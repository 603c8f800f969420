//! Both directions through the real binary, with the kernel playing the
//! terminals and the servers.
//!
//! Why net_tap: a reply must carry the gateway port tandem chose at run
//! time, and net_pcap replays a fixed file once, at start, so a pcap test
//! cannot answer what tandem sent (and a second run starts with empty
//! state). net_ring ports are reachable only inside the tandem process. A
//! net_tap port, though, is a kernel interface: the test gives the access
//! tap the terminals' addresses and a route to the VIPs through tandem,
//! gives the server tap the server's address, and then uses ordinary std
//! sockets. The kernel resolves tandem's addresses with ARP, tandem learns
//! the server's MAC the same way, and the kernel checks every checksum of
//! what it receives, so a UDP exchange and a TCP connection with a bulk
//! transfer each way prove the translation both ways end to end. No
//! network namespace is needed: everything lives on the two taps, which
//! vanish with their addresses and routes when tandem exits.
//!
//! Needs root and /dev/net/tun (as scripts/test.sh does). Addresses are
//! 10.N.x.x with N taken from the process id, so two copies of this test
//! running at once do not share addresses.

mod common;

use common::tandem::{assert_clean_exit, Tandem};
use common::tap;
use common::{file_prefix, Scratch, SMALL_SIZES};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

const PORT_LO: u16 = 20_000;
const PORT_HI: u16 = 29_999;
const IO_LIMIT: Duration = Duration::from_secs(10);

/// The addresses of one test: access, server and VIP networks are
/// `10.N.base+1`, `10.N.base+2` and `10.N.base+9`.
struct Net {
    n: u8,
    base: u8,
}

impl Net {
    fn new(base: u8) -> Net {
        Net {
            n: 100 + (std::process::id() % 100) as u8,
            base,
        }
    }
    fn access(&self, host: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, self.n, self.base + 1, host)
    }
    fn server_net(&self, host: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, self.n, self.base + 2, host)
    }
    fn vip(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, self.n, self.base + 9, 1)
    }
    fn gateway(&self) -> Ipv4Addr {
        self.server_net(10)
    }
    fn server(&self) -> Ipv4Addr {
        self.server_net(21)
    }
}

/// `lcores`, port lines and workers differ between the tests; `extra` adds
/// top-level fields. Port 54 of the VIP leads to a server port where
/// nothing listens.
fn config(
    prefix: &str,
    net: &Net,
    lcores: &str,
    ports: &str,
    workers: &str,
    extra: &str,
) -> String {
    format!(
        r#"(
    eal: (lcores: "{lcores}", no_huge: true, memory_mb: 256, file_prefix: "{prefix}",
        vdevs: ["net_tap0,iface={acc}", "net_tap1,iface={srv}"]),
    ports: [{ports}],
    workers: [{workers}],
    {SMALL_SIZES}
    gateway: (addresses: ["{gw}"], port_range: ({PORT_LO}, {PORT_HI}),
        user_sessions_per_worker: 4096),
    services: [
        (name: "web", vip: "{vip}", proto: Tcp, port: 80,
         servers: [(addr: "{server}", port: 8080)]),
        (name: "dns", vip: "{vip}", proto: Udp, port: 53,
         servers: [(addr: "{server}", port: 5353)]),
        (name: "void", vip: "{vip}", proto: Udp, port: 54,
         servers: [(addr: "{server}", port: 5999)]),
    ],
    {extra}
)"#,
        acc = tap::iface(&format!("a{}", net.base)),
        srv = tap::iface(&format!("s{}", net.base)),
        gw = net.gateway(),
        vip = net.vip(),
        server = net.server(),
    )
}

/// Once tandem runs: the terminals' addresses and a route to the VIPs
/// through tandem's access address on the access tap; the server's
/// address on the server tap.
fn configure_kernel_side(net: &Net, terminals: &[Ipv4Addr]) {
    let acc = tap::iface(&format!("a{}", net.base));
    let srv = tap::iface(&format!("s{}", net.base));
    tap::wait_up(&acc);
    tap::wait_up(&srv);
    for t in terminals {
        tap::ip(&["addr", "add", &format!("{t}/24"), "dev", &acc]);
    }
    tap::ip(&[
        "route",
        "add",
        &format!("10.{}.{}.0/24", net.n, net.base + 9),
        "via",
        &net.access(1).to_string(),
        "dev",
        &acc,
        "src",
        &terminals[0].to_string(),
    ]);
    tap::ip(&["addr", "add", &format!("{}/24", net.server()), "dev", &srv]);
}

fn udp(addr: Ipv4Addr, port: u16, timeout: Duration) -> UdpSocket {
    let s = UdpSocket::bind(SocketAddrV4::new(addr, port)).expect("bind UDP");
    s.set_read_timeout(Some(timeout)).expect("timeout");
    s
}

/// Receives datagrams until one equals `want` (others are retries or
/// earlier queries); returns its sender. None on timeout.
fn recv_exact(s: &UdpSocket, want: &[u8]) -> Option<SocketAddr> {
    let mut buf = [0u8; 1500];
    loop {
        match s.recv_from(&mut buf) {
            Ok((n, from)) if &buf[..n] == want => return Some(from),
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
}

/// Sends `query` from `terminal` to the DNS VIP until the server socket
/// gets it (the first tries may meet a tandem that has not yet learned the
/// server's MAC); returns where the server saw it come from.
fn query_until_served(
    terminal: &UdpSocket,
    server: &UdpSocket,
    vip: Ipv4Addr,
    query: &[u8],
) -> SocketAddr {
    for _ in 0..100 {
        terminal
            .send_to(query, SocketAddrV4::new(vip, 53))
            .expect("send query");
        if let Some(from) = recv_exact(server, query) {
            return from;
        }
    }
    panic!("the server never got {:?}", String::from_utf8_lossy(query));
}

fn gateway_port(from: SocketAddr, net: &Net) -> u16 {
    let SocketAddr::V4(v4) = from else {
        panic!("IPv6 peer {from}");
    };
    assert_eq!(
        *v4.ip(),
        net.gateway(),
        "the server sees the gateway address"
    );
    assert!(
        (PORT_LO..=PORT_HI).contains(&v4.port()),
        "gateway port {} outside the range",
        v4.port()
    );
    v4.port()
}

/// One worker: a UDP query and its answer, then a TCP connection carrying
/// 300 kB each way, between kernel sockets on the two sides.
#[test]
fn udp_and_tcp_through_tandem_and_back() {
    if !tap::available() {
        panic!("/dev/net/tun is missing: this test needs tap interfaces (run as root)");
    }
    let test = "tap-one";
    let scratch = Scratch::new(test);
    let prefix = file_prefix(test);
    let net = Net::new(0);
    let ports = format!(
        r#"(name: "acc0", device: "net_tap0", role: Access, addresses: ["{}/24"]),
        (name: "srv0", device: "net_tap1", role: Server, addresses: ["{}/24"])"#,
        net.access(1),
        net.server_net(1)
    );
    let workers = r#"(lcore: 1, poll: [(port: "acc0"), (port: "srv0")])"#;
    let mut tandem = Tandem::start(
        &scratch.dir,
        &prefix,
        &config(&prefix, &net, "0-1", &ports, workers, ""),
    );
    tandem.wait_running();
    let terminal = net.access(100);
    configure_kernel_side(&net, &[terminal]);

    // UDP: the query reaches the server from the gateway, the answer
    // reaches the terminal from the VIP.
    let server = udp(net.server(), 5353, Duration::from_millis(100));
    let client = udp(terminal, 0, IO_LIMIT);
    let from = query_until_served(&client, &server, net.vip(), b"query 1");
    let udp_port = gateway_port(from, &net);
    server.send_to(b"answer 1", from).expect("send answer");
    let mut buf = [0u8; 1500];
    let (n, answered_by) = client.recv_from(&mut buf).expect("answer");
    assert_eq!(&buf[..n], b"answer 1");
    assert_eq!(answered_by, SocketAddr::from((net.vip(), 53)));

    // TCP: handshake, data both ways, orderly close.
    let listener = TcpListener::bind((net.server(), 8080)).expect("listen");
    let upload: Vec<u8> = (0..300_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let expected_upload = upload.clone();
    let server_side = std::thread::spawn(move || {
        let (mut conn, peer) = listener.accept().expect("accept");
        conn.set_read_timeout(Some(IO_LIMIT)).expect("timeout");
        let mut got = Vec::new();
        conn.read_to_end(&mut got).expect("read upload");
        assert!(
            got == expected_upload,
            "upload corrupted ({} bytes)",
            got.len()
        );
        let download: Vec<u8> = got.iter().rev().copied().collect();
        conn.write_all(&download).expect("write download");
        peer
    });
    let mut conn = TcpStream::connect_timeout(&SocketAddr::from((net.vip(), 80)), IO_LIMIT)
        .expect("connect to the VIP");
    conn.set_read_timeout(Some(IO_LIMIT)).expect("timeout");
    assert_eq!(conn.local_addr().expect("local").ip(), terminal);
    conn.write_all(&upload).expect("upload");
    conn.shutdown(std::net::Shutdown::Write).expect("shutdown");
    let mut download = Vec::new();
    conn.read_to_end(&mut download).expect("download");
    let peer = server_side.join().expect("server thread");
    let tcp_port = gateway_port(peer, &net);
    assert_ne!(tcp_port, udp_port, "two user sessions, two gateway ports");
    let reversed: Vec<u8> = upload.iter().rev().copied().collect();
    assert!(
        download == reversed,
        "download corrupted ({} bytes)",
        download.len()
    );

    let exit = tandem.stop();
    assert_clean_exit(&exit);
    assert!(exit.log.contains("neighbour learned"), "{}", exit.log);
}

/// Two workers on two CPUs; worker 1 alone polls every queue of the access
/// port and worker 0 every queue of the server port. A session that
/// steering gives worker 0 crosses the handoff ring on the way out; one
/// that worker 1 owns (its gateway ports are the odd ones from the first)
/// crosses it on the way back. Sixteen terminals make both kinds (with
/// hashed steering, all sixteen on one worker has odds of 1 in 32768).
#[test]
fn replies_and_requests_cross_the_handoff_rings() {
    if !tap::available() {
        panic!("/dev/net/tun is missing: this test needs tap interfaces (run as root)");
    }
    let test = "tap-two";
    let scratch = Scratch::new(test);
    let prefix = file_prefix(test);
    let net = Net::new(10);
    let ports = format!(
        r#"(name: "acc0", device: "net_tap0", role: Access, addresses: ["{}/24"], rx_queues: 3),
        (name: "srv0", device: "net_tap1", role: Server, addresses: ["{}/24"], rx_queues: 3)"#,
        net.access(1),
        net.server_net(1)
    );
    let workers = r#"(lcore: 1, poll: [(port: "srv0", queue: 0), (port: "srv0", queue: 1), (port: "srv0", queue: 2)]),
        (lcore: 2, poll: [(port: "acc0", queue: 0), (port: "acc0", queue: 1), (port: "acc0", queue: 2)])"#;
    let mut tandem = Tandem::start(
        &scratch.dir,
        &prefix,
        &config(&prefix, &net, "0@0,1@0,2@1", &ports, workers, ""),
    );
    tandem.wait_running();
    let terminals: Vec<Ipv4Addr> = (0..16).map(|i| net.access(100 + i)).collect();
    configure_kernel_side(&net, &terminals);

    let server = udp(net.server(), 5353, Duration::from_millis(100));
    let clients: Vec<UdpSocket> = terminals.iter().map(|&t| udp(t, 0, IO_LIMIT)).collect();
    // The first exchange waits for ARP on both sides.
    query_until_served(&clients[0], &server, net.vip(), b"warm-up");

    let mut seen: BTreeMap<usize, SocketAddr> = BTreeMap::new();
    for (i, c) in clients.iter().enumerate() {
        let q = format!("query from {i}");
        let from = query_until_served(c, &server, net.vip(), q.as_bytes());
        seen.insert(i, from);
    }
    let mut owners = BTreeSet::new();
    let mut ports_used = BTreeSet::new();
    for (&i, &from) in &seen {
        let p = gateway_port(from, &net);
        owners.insert((p - PORT_LO) % 2);
        ports_used.insert(p);
        server
            .send_to(format!("answer to {i}").as_bytes(), from)
            .expect("send answer");
    }
    assert_eq!(ports_used.len(), terminals.len(), "a gateway port each");
    for (i, c) in clients.iter().enumerate() {
        let mut buf = [0u8; 1500];
        let (n, by) = c
            .recv_from(&mut buf)
            .unwrap_or_else(|e| panic!("terminal {i} got no answer: {e}"));
        assert_eq!(by, SocketAddr::from((net.vip(), 53)), "terminal {i}");
        assert_eq!(&buf[..n], format!("answer to {i}").as_bytes());
    }
    assert_eq!(
        owners,
        BTreeSet::from([0, 1]),
        "sessions on both workers, so both handoff directions were used"
    );
    assert_clean_exit(&tandem.stop());
}

/// What the kernel says about the translated traffic comes back
/// translated, and what a server should not say does not: an ICMP port
/// unreachable from the server reaches the terminal's socket as "connection
/// refused"; a datagram from the right server but the wrong port is
/// dropped; a terminal not entitled to the web service gets a reset.
#[test]
fn errors_come_back_and_forged_replies_do_not() {
    if !tap::available() {
        panic!("/dev/net/tun is missing: this test needs tap interfaces (run as root)");
    }
    let test = "tap-errors";
    let scratch = Scratch::new(test);
    let prefix = file_prefix(test);
    let net = Net::new(20);
    let terminal = net.access(100);
    let ports = format!(
        r#"(name: "acc0", device: "net_tap0", role: Access, addresses: ["{}/24"]),
        (name: "srv0", device: "net_tap1", role: Server, addresses: ["{}/24"])"#,
        net.access(1),
        net.server_net(1)
    );
    let workers = r#"(lcore: 1, poll: [(port: "acc0"), (port: "srv0")])"#;
    let subscribers = format!(
        r#"subscribers: (entries: [(prefix: "{terminal}/32", services: ["dns", "void"])]),"#
    );
    let mut tandem = Tandem::start(
        &scratch.dir,
        &prefix,
        &config(&prefix, &net, "0-1", &ports, workers, &subscribers),
    );
    tandem.wait_running();
    configure_kernel_side(&net, &[terminal]);

    let server = udp(net.server(), 5353, Duration::from_millis(100));
    let client = udp(terminal, 0, IO_LIMIT);
    let from = query_until_served(&client, &server, net.vip(), b"warm-up");
    gateway_port(from, &net);

    // Same server address, wrong port: not the user session's server.
    let impostor = udp(net.server(), 5354, IO_LIMIT);
    impostor.send_to(b"forged", from).expect("send forged");
    server.send_to(b"genuine", from).expect("send genuine");
    let mut buf = [0u8; 1500];
    let (n, by) = client.recv_from(&mut buf).expect("an answer");
    assert_eq!(&buf[..n], b"genuine", "the forged datagram got through");
    assert_eq!(by, SocketAddr::from((net.vip(), 53)));

    // Nobody listens behind port 54: the kernel's port unreachable, about
    // the translated datagram, must be translated back to match the
    // terminal's socket.
    let asker = udp(terminal, 0, Duration::from_millis(200));
    asker.connect((net.vip(), 54)).expect("connect UDP");
    let mut refused = false;
    for _ in 0..25 {
        asker.send(b"anyone?").expect("send");
        match asker.recv(&mut buf) {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                refused = true;
                break;
            }
            Err(_) => continue,
            Ok(n) => panic!("an answer from nowhere: {:?}", &buf[..n]),
        }
    }
    assert!(refused, "the port unreachable did not reach the terminal");

    // The web service is not among the terminal's services. The server
    // listens, so only tandem's refusal can make the connect fail.
    let _listener = TcpListener::bind((net.server(), 8080)).expect("listen");
    let err = TcpStream::connect_timeout(&SocketAddr::from((net.vip(), 80)), IO_LIMIT)
        .expect_err("connected to a service the terminal may not use");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");

    assert_clean_exit(&tandem.stop());
}
