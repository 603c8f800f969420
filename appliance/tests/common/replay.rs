//! The appliance three load tests share (`ctl_walks`, `reset_records`,
//! `shutdown_records`): one datagram or SYN from each of 500 terminals ×
//! N source ports, replayed from pcap files into the access port's two rx
//! queues (one per worker, split by terminal), a server port that only
//! records what it sends, and the golden services. Each test varies the
//! gateway addresses, the timeouts and what it adds (health checks,
//! accounting); the rest is written once here.

use super::golden::{neighbours, DNS_VIP, SERVERS, WEB_VIP};
use super::{pcap, Scratch};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// Terminals replayed: 10.1.1.1 to 10.1.2.250.
pub const TERMINALS: u32 = 500;

/// Terminal `i` (0-based).
pub fn terminal(i: u32) -> Ipv4Addr {
    Ipv4Addr::new(10, 1, 1 + (i / 250) as u8, 1 + (i % 250) as u8)
}

/// The two ports' `net_pcap` vdevs, and where the server port's frames go.
pub struct ReplayVdevs {
    pub access: String,
    pub server: String,
    /// One file per tx queue of the server port (two workers and the
    /// control plane).
    pub server_out: Vec<PathBuf>,
}

impl ReplayVdevs {
    /// Writes `frame(terminal, source port)` for every terminal and source
    /// port `20000..20000 + ports_each` into two input files, even
    /// terminals to rx queue 0, odd to queue 1.
    pub fn write(
        scratch: &Scratch,
        ports_each: u16,
        frame: impl Fn(Ipv4Addr, u16) -> Vec<u8>,
    ) -> ReplayVdevs {
        let mut inputs: [Vec<Vec<u8>>; 2] = [Vec::new(), Vec::new()];
        for p in 0..ports_each {
            for t in 0..TERMINALS {
                inputs[(t % 2) as usize].push(frame(terminal(t), 20_000 + p));
            }
        }
        let mut access = String::from("net_pcap0");
        for (q, frames) in inputs.iter().enumerate() {
            let f = scratch.path(&format!("acc-in-{q}.pcap"));
            pcap::write(&f, frames);
            access.push_str(&format!(",rx_pcap={}", f.display()));
        }
        for q in 0..3 {
            let f = scratch.path(&format!("acc-out-{q}.pcap"));
            access.push_str(&format!(",tx_pcap={}", f.display()));
        }
        let srv_in = scratch.path("srv-in.pcap");
        pcap::write(&srv_in, &[]);
        let server_out: Vec<PathBuf> = (0..3)
            .map(|q| scratch.path(&format!("srv-out-{q}.pcap")))
            .collect();
        let mut server = format!("net_pcap1,rx_pcap={}", srv_in.display());
        for f in &server_out {
            server.push_str(&format!(",tx_pcap={}", f.display()));
        }
        ReplayVdevs {
            access,
            server,
            server_out,
        }
    }
}

/// What each test sets differently in the config.
pub struct ReplayConfig<'a> {
    /// The `gateway.addresses` list, e.g. `"10.2.0.10", "10.2.0.11"`.
    pub gateway_addresses: &'a str,
    /// The `timeouts` section's fields.
    pub timeouts: &'a str,
    /// Whole sections added at the end (health, accounting), or "".
    pub extra: &'a str,
}

impl ReplayConfig<'_> {
    /// The config of a two-worker appliance on `vdevs` with its API on
    /// `socket`.
    pub fn render(&self, prefix: &str, vdevs: &ReplayVdevs, socket: &Path) -> String {
        format!(
            r#"(
    eal: (lcores: "0@0,1@0,2@1", no_huge: true, memory_mb: 256, file_prefix: "{prefix}",
        vdevs: ["{access}", "{server}"]),
    ports: [
        (name: "acc0", device: "net_pcap0", role: Access, addresses: ["10.1.0.1/16"], rx_queues: 2),
        (name: "srv0", device: "net_pcap1", role: Server, addresses: ["10.2.0.1/24"],
         neighbours: [{neighbours}]),
    ],
    workers: [
        (lcore: 1, poll: [(port: "acc0", queue: 0), (port: "srv0")]),
        (lcore: 2, poll: [(port: "acc0", queue: 1)]),
    ],
    mempool: (mbufs: 32767, cache: 64),
    rings: (rx_desc: 256, tx_desc: 256, handoff: 4096, events: 4096),
    api: (socket: "{socket}"),
    gateway: (addresses: [{gateway}],
        port_range: (1024, 65535), user_sessions_per_worker: 131072),
    timeouts: ({timeouts}),
    services: [
        (name: "web", vip: "{WEB_VIP}", proto: Tcp, port: 80,
         servers: [(addr: "{web}", port: 8080)]),
        (name: "dns", vip: "{DNS_VIP}", proto: Udp, port: 53,
         servers: [(addr: "{dns}", port: 5353)]),
    ],
    {extra}
)"#,
            access = vdevs.access,
            server = vdevs.server,
            neighbours = neighbours(),
            socket = socket.display(),
            gateway = self.gateway_addresses,
            timeouts = self.timeouts,
            extra = self.extra,
            web = SERVERS[0].0,
            dns = SERVERS[1].0,
        )
    }
}
