//! One test's small network around a tandem on two `net_tap` ports, with
//! kernel sockets in the root namespace playing terminals and servers (the
//! approach of `nat_tap.rs`, shared here by the operations tests).
//!
//! Addresses are `10.N.base+1.x` (access), `10.N.base+2.x` (servers,
//! gateway `.10`) and `10.N.base+9.1` (the VIP), with `N` taken from the
//! process id and `base` distinct per test, so tests running side by side
//! (threads of one file, or other test files) do not share addresses.

use super::tap;
use super::SMALL_SIZES;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::path::Path;
use std::time::Duration;

/// The gateway's port range in every config written here.
pub const PORT_LO: u16 = 20_000;
pub const PORT_HI: u16 = 29_999;

/// Addresses and interface names of one test.
pub struct TapNet {
    pub n: u8,
    pub base: u8,
}

impl TapNet {
    /// `base` must be a multiple of 10 from 30 to 240, unique among the
    /// tests that may run at the same time (nat_tap.rs uses 0 to 20).
    pub fn new(base: u8) -> TapNet {
        assert!((30..=240).contains(&base) && base.is_multiple_of(10));
        TapNet {
            n: 100 + (std::process::id() % 100) as u8,
            base,
        }
    }

    pub fn access_iface(&self) -> String {
        tap::iface(&format!("a{}", self.base))
    }

    pub fn server_iface(&self) -> String {
        tap::iface(&format!("s{}", self.base))
    }

    pub fn access(&self, host: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, self.n, self.base + 1, host)
    }

    pub fn server_net(&self, host: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, self.n, self.base + 2, host)
    }

    /// Server `i` (0, 1, 2...) is `.21 + i` on the server network.
    pub fn server(&self, i: u8) -> Ipv4Addr {
        self.server_net(21 + i)
    }

    pub fn vip(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, self.n, self.base + 9, 1)
    }

    /// The VIP network (routed through tandem).
    pub fn vip_net(&self, host: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, self.n, self.base + 9, host)
    }

    pub fn gateway(&self) -> Ipv4Addr {
        self.server_net(10)
    }

    /// A config with one worker polling both taps. `services` is the
    /// inside of `services: [...]`; `extra` adds top-level fields; the
    /// control socket is `socket`.
    pub fn config(
        &self,
        prefix: &str,
        no_huge: bool,
        socket: &Path,
        services: &str,
        extra: &str,
    ) -> String {
        format!(
            r#"(
    eal: (lcores: "0-1", no_huge: {no_huge}, memory_mb: 256, file_prefix: "{prefix}",
        vdevs: ["net_tap0,iface={acc}", "net_tap1,iface={srv}"]),
    ports: [
        (name: "acc0", device: "net_tap0", role: Access, addresses: ["{acc_ip}/24"]),
        (name: "srv0", device: "net_tap1", role: Server, addresses: ["{srv_ip}/24"]),
    ],
    workers: [(lcore: 1, poll: [(port: "acc0"), (port: "srv0")])],
    {SMALL_SIZES}
    gateway: (addresses: ["{gw}"], port_range: ({PORT_LO}, {PORT_HI}),
        user_sessions_per_worker: 4096),
    services: [{services}],
    api: (socket: "{socket}"),
    {extra}
)
"#,
            acc = self.access_iface(),
            srv = self.server_iface(),
            acc_ip = self.access(1),
            srv_ip = self.server_net(1),
            gw = self.gateway(),
            socket = socket.display(),
        )
    }

    /// Once tandem runs: the terminals' addresses and a route to the VIP
    /// network through tandem on the access tap, the servers' addresses on
    /// the server tap.
    pub fn configure(&self, terminals: &[Ipv4Addr], servers: &[Ipv4Addr]) {
        let acc = self.access_iface();
        let srv = self.server_iface();
        tap::wait_up(&acc);
        tap::wait_up(&srv);
        for t in terminals {
            tap::ip(&["addr", "add", &format!("{t}/24"), "dev", &acc]);
        }
        tap::ip(&[
            "route",
            "add",
            &format!("{}/24", self.vip_net(0)),
            "via",
            &self.access(1).to_string(),
            "dev",
            &acc,
            "src",
            &terminals[0].to_string(),
        ]);
        for s in servers {
            tap::ip(&["addr", "add", &format!("{s}/24"), "dev", &srv]);
        }
    }
}

/// A UDP socket bound to `addr:port` with a read timeout.
pub fn udp(addr: Ipv4Addr, port: u16, timeout: Duration) -> UdpSocket {
    let s = UdpSocket::bind(SocketAddrV4::new(addr, port)).expect("bind UDP");
    s.set_read_timeout(Some(timeout)).expect("timeout");
    s
}

/// Receives datagrams until one equals `want`; returns its sender. None
/// on timeout.
pub fn recv_exact(s: &UdpSocket, want: &[u8]) -> Option<SocketAddr> {
    let mut buf = [0u8; 1500];
    loop {
        match s.recv_from(&mut buf) {
            Ok((n, from)) if &buf[..n] == want => return Some(from),
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
}

/// Sends `query` from `terminal` to `vip:port` until `server` gets it
/// (the first tries may meet a tandem that has not learned the server's
/// MAC yet; `server` should have a short read timeout); returns where the
/// server saw it come from.
pub fn query_until_served(
    terminal: &UdpSocket,
    server: &UdpSocket,
    vip: Ipv4Addr,
    port: u16,
    query: &[u8],
) -> SocketAddr {
    for _ in 0..100 {
        terminal
            .send_to(query, SocketAddrV4::new(vip, port))
            .expect("send query");
        if let Some(from) = recv_exact(server, query) {
            return from;
        }
    }
    panic!("the server never got {:?}", String::from_utf8_lossy(query));
}

/// One query answered: the server gets it from the gateway and answers,
/// and the terminal gets the answer from the VIP.
pub fn exchange(terminal: &UdpSocket, server: &UdpSocket, vip: Ipv4Addr, port: u16, query: &[u8]) {
    let from = query_until_served(terminal, server, vip, port, query);
    let mut answer = b"answer to ".to_vec();
    answer.extend_from_slice(query);
    server.send_to(&answer, from).expect("send answer");
    let by = recv_exact(terminal, &answer).unwrap_or_else(|| {
        panic!(
            "no answer to {:?} reached the terminal",
            String::from_utf8_lossy(query)
        )
    });
    assert_eq!(by, SocketAddr::from((vip, port)), "answered by the VIP");
}
