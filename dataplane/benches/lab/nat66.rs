//! The IPv6 → IPv6 full-NAT lab (issue 14): a service at [`VIP66`] served
//! by IPv6 servers [`SERVERS6`] from gateway IPv6 address [`GW6`], and the
//! frames both ways (`instructions nat66`, `nat66_down`).

use super::{server_mac, write_tcp6, Lab, ACC, DATA_PAYLOAD, SERVER_PORT, SRV, VIP_PORT};
use dataplane::pipeline::Verdict;
use dataplane::policy::{AdminState, Server, Service};
use dataplane::topology::{Neighbours, Topology};
use dataplane::wire::checksum::l4_checksum_v6;
use std::net::{Ipv4Addr, Ipv6Addr};

pub const VIP66: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 9, 0, 0, 0, 0, 0x66);
/// The first gateway IPv6 address ([`gateway6`]`(0)`).
pub const GW6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x20, 0, 0, 0, 0, 0x100);

/// Gateway IPv6 address `i` (as many as the set-up's IPv4 ones, for the
/// same number of ports).
pub fn gateway6(i: u8) -> Ipv6Addr {
    Ipv6Addr::from(GW6.to_bits() + u128::from(i))
}
const SRV0_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x20, 0, 0, 0, 0, 1);
pub const SERVERS6: [Ipv6Addr; 4] = [
    Ipv6Addr::new(0x2001, 0xdb8, 0x20, 0, 0, 0, 0, 0x21),
    Ipv6Addr::new(0x2001, 0xdb8, 0x20, 0, 0, 0, 0, 0x22),
    Ipv6Addr::new(0x2001, 0xdb8, 0x20, 0, 0, 0, 0, 0x23),
    Ipv6Addr::new(0x2001, 0xdb8, 0x20, 0, 0, 0, 0, 0x24),
];

/// The MAC of IPv6 server `ip`.
fn server6_mac(ip: Ipv6Addr) -> [u8; 6] {
    server_mac(Ipv4Addr::new(10, 6, 0, ip.octets()[15]))
}

/// srv0 on 2001:db8:20::/64 with `n` gateway IPv6 addresses (address
/// indexes from `first`: after the IPv4 gateway addresses).
pub fn add_to_topology(t: &mut Topology, first: u8, n: u8) {
    t.set_ipv6_addresses(SRV, &[(SRV0_V6, 64)]);
    for i in 0..n {
        t.add_gateway_v6(SRV, gateway6(i), first + i);
    }
}

/// The IPv6 servers' MACs.
pub fn add_neighbours(n: &mut Neighbours) {
    for s in SERVERS6 {
        n.insert_v6(SRV, s, server6_mac(s));
    }
}

/// Service "web66" (TCP 80 at [`VIP66`]) and its servers, appended to
/// `services` and `servers` (whose first service it copies).
pub fn add_service(services: &mut Vec<Service>, servers: &mut Vec<Server>) {
    let first = servers.len() as u32;
    for a in SERVERS6 {
        servers.push(Server {
            addr: Ipv4Addr::UNSPECIFIED,
            addr6: Some(a),
            port: Some(SERVER_PORT),
            weight: 1,
            state: AdminState::Active,
            reported_load: 0,
            unhealthy: false,
        });
    }
    let mut s = services[0].clone();
    s.name = "web66".into();
    s.vip = None;
    s.vip6 = Some(VIP66);
    s.servers = (first..first + SERVERS6.len() as u32).collect();
    services.push(s);
}

/// Writes a data segment of IPv6 → IPv6 user session `s` (the IPv4 one's
/// payload; 94 bytes) from its terminal to [`VIP66`]; returns its length.
pub fn write_data66(s: u64, flows_per_terminal: u64, out: &mut [u8]) -> usize {
    write_tcp6(
        s,
        flows_per_terminal,
        (VIP66, (1001, 5001, 0x18)),
        &DATA_PAYLOAD,
        out,
    )
}

/// Writes the SYN opening IPv6 → IPv6 user session `s`.
pub fn write_syn66(s: u64, flows_per_terminal: u64, out: &mut [u8]) -> usize {
    write_tcp6(s, flows_per_terminal, (VIP66, (1000, 0, 0x02)), &[], out)
}

/// A server's segment back to the user session that the gateway sent to
/// `server` from (`gw`, `gw_port`): `flags`, the data payload when
/// `data`, checksum from scratch.
pub fn server_segment6(
    server: Ipv6Addr,
    (gw, gw_port): (Ipv6Addr, u16),
    flags: u8,
    data: bool,
) -> Vec<u8> {
    let payload: &[u8] = if data { &DATA_PAYLOAD } else { &[] };
    let mut tcp = vec![0u8; 20];
    tcp[0..2].copy_from_slice(&SERVER_PORT.to_be_bytes());
    tcp[2..4].copy_from_slice(&gw_port.to_be_bytes());
    tcp[4..8].copy_from_slice(&5001u32.to_be_bytes());
    tcp[8..12].copy_from_slice(&1001u32.to_be_bytes());
    tcp[12] = 5 << 4;
    tcp[13] = flags;
    tcp[14..16].copy_from_slice(&65535u16.to_be_bytes());
    tcp.extend_from_slice(payload);
    let sum = l4_checksum_v6(server, gw, 6, &tcp);
    tcp[16..18].copy_from_slice(&sum.to_be_bytes());
    let mut f = Vec::with_capacity(54 + tcp.len());
    f.extend_from_slice(&[2, 0, 0, 0, 0, 2]);
    f.extend_from_slice(&server6_mac(server));
    f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
    f.extend_from_slice(&(tcp.len() as u16).to_be_bytes());
    f.extend_from_slice(&[6, 64]);
    f.extend_from_slice(&server.octets());
    f.extend_from_slice(&gw.octets());
    f.extend_from_slice(&tcp);
    let _ = VIP_PORT;
    f
}

impl Lab {
    /// Opens IPv6 → IPv6 user sessions `0..n` (SYN from the terminal,
    /// SYN-ACK from its server; not timed), the terminals pinned first;
    /// the (server, gateway port) of each. Leaves the lab reading the
    /// access port.
    pub fn open66(&mut self, n: u64, flows_per_terminal: u64) -> Vec<(Ipv6Addr, (Ipv6Addr, u16))> {
        self.pin_terminals6(n.div_ceil(flows_per_terminal));
        let mut buf = [0u8; 128];
        let mut ends = Vec::with_capacity(n as usize);
        self.in_port = ACC;
        for s in 0..n {
            if s % 4096 == 0 {
                self.worker.begin_burst();
            }
            let len = write_syn66(s, flows_per_terminal, &mut buf);
            assert_eq!(self.process(&buf[..len]), Verdict::Forward(SRV), "SYN {s}");
            let b = dataplane::frame::Frame::bytes(&self.frames[0]);
            let (mut gw, mut server) = ([0u8; 16], [0u8; 16]);
            gw.copy_from_slice(&b[22..38]);
            server.copy_from_slice(&b[38..54]);
            let gw_port = u16::from_be_bytes([b[54], b[55]]);
            ends.push((Ipv6Addr::from(server), (Ipv6Addr::from(gw), gw_port)));
        }
        self.in_port = SRV;
        for (i, &(server, gw)) in ends.iter().enumerate() {
            if i % 4096 == 0 {
                self.worker.begin_burst();
            }
            let syn_ack = server_segment6(server, gw, 0x12, false);
            assert_eq!(self.process(&syn_ack), Verdict::Forward(ACC), "SYN-ACK {i}");
        }
        self.in_port = ACC;
        ends
    }
}

/// Checks an IPv6 → IPv6 frame out: IPv6, its TCP checksum right from
/// scratch, from an address `src` accepts.
pub fn check_rewritten(f: &[u8], src: impl Fn(Ipv6Addr) -> bool) {
    assert_eq!(&f[12..14], &[0x86, 0xdd], "IPv6 out");
    let mut a = [0u8; 16];
    a.copy_from_slice(&f[22..38]);
    let from = Ipv6Addr::from(a);
    a.copy_from_slice(&f[38..54]);
    let to = Ipv6Addr::from(a);
    assert!(
        dataplane::wire::checksum::l4_verifies_v6(from, to, 6, &f[54..]),
        "TCP checksum over IPv6"
    );
    assert!(src(from), "source {from}");
}
