//! One worker wired like the appliance wires it (snapshots, topology,
//! policy), without DPDK, plus the frames the benchmarks feed it.
//!
//! Shared by the criterion benchmarks (`pipeline.rs`) and the memory
//! measurement (`session_memory.rs`). Terminals sit in 100.64.0.0/10;
//! user session `s` is flow `s % flows_per_terminal` (source port
//! `1024 + that`) of terminal `s / flows_per_terminal`, to the web VIP.

#![allow(dead_code)] // each bench binary uses a different part

use dataplane::assembly::{Publishers, WorkersPlan};
use dataplane::counters::DropReason;
use dataplane::event::{Event, EventSink};
use dataplane::frame::{Frame, VecFrame};
use dataplane::pipeline::fabric::FabricConfig;
use dataplane::pipeline::{FrameRecord, Ingress, ServerLoads, Verdict, Worker, WorkerConfig};
use dataplane::policy::{
    AdminState, Entitlement, Policy, Server, Service, ServiceTable, Subscribers,
};
use dataplane::rcu::Publisher;
use dataplane::tier1::SessionId;
use dataplane::tier1::{
    session_id, FabricPeer, FabricPeers, Gateway, GatewayId, GatewayTarget, SessionKeyMode,
    SteeringTable,
};
use dataplane::tier2::{FlowKey, Quarantine, Timeouts};
use dataplane::topology::{LocalAddr, Neighbours, PortInfo, Role, Topology};
use dataplane::wire::checksum::{checksum, l4_checksum};
use dataplane::wire::frames::write_tcp_frame;
use dataplane::wire::{FrameSpec, MacAddr, TcpFlags};
use std::net::{Ipv4Addr, Ipv6Addr};

pub const ACC: u16 = 0;
pub const SRV: u16 = 1;
/// The fabric port of a lab on the cluster fabric ([`Lab::on_fabric`]).
pub const FAB: u16 = 2;
/// Fabric addresses of the tier-1 unit (appliance 1) and the gateway
/// appliance (appliance 2); gateway 0 listens on `FABRIC_BASE_PORT`.
pub const TIER1_FABRIC: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);
pub const GATEWAY_FABRIC: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 2);
pub const FABRIC_BASE_PORT: u16 = 6081;

/// Which end of the cluster fabric a lab plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FabricEnd {
    /// Appliance 1: steers every session to gateway 0 on appliance 2.
    Tier1,
    /// Appliance 2: its worker is gateway 0.
    Gateway,
}
pub const VIP: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
pub const VIP_PORT: u16 = 80;
pub const SERVERS: [Ipv4Addr; 4] = [
    Ipv4Addr::new(10, 2, 0, 21),
    Ipv4Addr::new(10, 2, 0, 22),
    Ipv4Addr::new(10, 2, 0, 23),
    Ipv4Addr::new(10, 2, 0, 24),
];
pub const SERVER_PORT: u16 = 8080;
/// Ports one gateway address gives a single worker (1024..=65535).
pub const PORTS_PER_ADDR: u64 = 64_512;
/// Frames go through the pipeline in bursts of this many, like rx bursts.
pub const BURST: usize = 32;
/// Payload of a data segment: 14 + 20 + 20 + 10 = a 64-byte frame.
pub const DATA_PAYLOAD: [u8; 10] = *b"0123456789";
const FIRST_TERMINAL: u32 = 0x6440_0001; // 100.64.0.1

/// Gateway address `i`: 10.2.1.1, 10.2.1.2, ... (up to 255 of them).
pub fn gateway_addr(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 2, 1, 1u8.wrapping_add(i))
}

/// Gateway addresses a single worker needs for `sessions` live user
/// sessions plus `spare` ports (in quarantine).
pub fn addrs_for(sessions: u64, spare: u64) -> u8 {
    ((sessions + spare).div_ceil(PORTS_PER_ADDR)).clamp(1, 255) as u8
}

/// How a lab's worker is sized.
#[derive(Clone, Copy, Debug)]
pub struct Setup {
    pub capacity: u32,
    pub gateway_addrs: u8,
    pub timeouts: Timeouts,
    pub quarantine: Quarantine,
}

impl Setup {
    /// Room for `sessions` user sessions with the appliance's default
    /// timeouts and quarantine.
    pub fn for_sessions(sessions: u64) -> Setup {
        Setup {
            capacity: sessions.min(u64::from(u32::MAX - 1)) as u32,
            gateway_addrs: addrs_for(sessions, PORTS_PER_ADDR / 2),
            timeouts: Timeouts::default(),
            quarantine: Quarantine {
                tcp_ms: 60_000,
                other_ms: 1_000,
            },
        }
    }
}

/// An event sink that only counts (the appliance's is a bounded queue).
#[derive(Debug, Default)]
pub struct CountingSink {
    pub pushed: u64,
    pub accounting: u64,
}

impl EventSink for CountingSink {
    #[inline]
    fn push(&mut self, e: Event) -> bool {
        self.pushed += 1;
        if matches!(e, Event::Accounting(_)) {
            self.accounting += 1;
        }
        true
    }
}

pub fn server_mac(ip: Ipv4Addr) -> [u8; 6] {
    [2, 0, 0, 0, 0x20, ip.octets()[3]]
}

fn fabric_mac(addr: Ipv4Addr) -> [u8; 6] {
    [2, 0xfa, 0, 0, 0, addr.octets()[3]]
}

fn topology(n_addrs: u8, fabric: Option<Ipv4Addr>) -> Topology {
    let mut ports = vec![
        PortInfo {
            name: "acc0".into(),
            role: Role::Access,
            mac: [2, 0, 0, 0, 0, 1],
            addresses: vec![(Ipv4Addr::new(10, 1, 0, 1), 24)],
        },
        PortInfo {
            name: "srv0".into(),
            role: Role::Server,
            mac: [2, 0, 0, 0, 0, 2],
            addresses: vec![(Ipv4Addr::new(10, 2, 0, 1), 16)],
        },
    ];
    if let Some(addr) = fabric {
        ports.push(PortInfo {
            name: "fab0".into(),
            role: Role::Fabric,
            mac: fabric_mac(addr),
            addresses: vec![(addr, 24)],
        });
    }
    let mut t = Topology::new(ports);
    t.add_local(ACC, VIP, LocalAddr::Vip);
    for i in 0..n_addrs {
        t.add_local(SRV, gateway_addr(i), LocalAddr::Gateway(i));
    }
    t
}

fn policy(timeouts: Timeouts) -> Policy {
    let servers = SERVERS
        .iter()
        .map(|&addr| Server {
            addr,
            addr6: None,
            port: Some(SERVER_PORT),
            weight: 1,
            state: AdminState::Active,
            reported_load: 0,
            unhealthy: false,
        })
        .collect();
    let services = ServiceTable::new(
        vec![Service {
            name: "web".into(),
            vip: Some(VIP),
            vip6: None,
            proto: 6,
            port_lo: VIP_PORT,
            port_hi: VIP_PORT,
            servers: (0..SERVERS.len() as u32).collect(),
            by_type: vec![],
            removed: false,
            syn_proxy: dataplane::policy::SynProxyMode::Off,
            dscp: None,
            proxy_v2: false,
        }],
        servers,
    );
    Policy {
        services,
        subscribers: Subscribers::new(Entitlement::allow_all()),
        timeouts,
        interim_ms: 0,
        reply_rate_per_s: 1000,
        ..Policy::default()
    }
}

pub mod nat66;

/// Which IPv6 paths a lab serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ipv6 {
    Off,
    /// NAT64 (the well-known prefix).
    Nat64,
    /// NAT64 and IPv6 → IPv6 full NAT (`nat66.rs`).
    Nat66,
}

/// The terminal of user session `s`.
pub fn terminal(s: u64, flows_per_terminal: u64) -> Ipv4Addr {
    Ipv4Addr::from(FIRST_TERMINAL.wrapping_add((s / flows_per_terminal) as u32))
}

/// The 5-tuple source of user session `s`.
pub fn flow(s: u64, flows_per_terminal: u64) -> (Ipv4Addr, u16) {
    (
        terminal(s, flows_per_terminal),
        1024 + (s % flows_per_terminal) as u16,
    )
}

fn spec(src: Ipv4Addr, sport: u16) -> FrameSpec {
    FrameSpec {
        src_mac: MacAddr([2, 0, 0, 0, 0xaa, 1]),
        dst_mac: MacAddr([2, 0, 0, 0, 0, 1]),
        vlan: None,
        src_ip: src,
        dst_ip: VIP,
        src_port: sport,
        dst_port: VIP_PORT,
        ttl: 64,
    }
}

/// The IPv6 terminal of NAT64 user session `s`: one /64 (one session ID)
/// per terminal, `2001:db8:T::1` with T the terminal's number.
pub fn terminal6(s: u64, flows_per_terminal: u64) -> Ipv6Addr {
    let t = s / flows_per_terminal;
    Ipv6Addr::new(0x2001, 0xdb8, (t >> 16) as u16, t as u16, 0, 0, 0, 1)
}

/// Where NAT64 user sessions go: the web VIP inside the well-known NAT64
/// prefix, `64:ff9b::10.9.0.1`.
pub fn nat64_dst() -> Ipv6Addr {
    dataplane::wire::NAT64_WELL_KNOWN_PREFIX.embed(VIP)
}

/// Writes an IPv6 terminal's TCP segment of user session `s` (to `dst`,
/// port 80, hop limit 64, checksum from scratch); returns its length.
pub fn write_tcp6(
    s: u64,
    flows_per_terminal: u64,
    (dst, (seq, ack, flags)): (Ipv6Addr, (u32, u32, u8)),
    payload: &[u8],
    out: &mut [u8],
) -> usize {
    let src = terminal6(s, flows_per_terminal);
    let sport = 1024 + (s % flows_per_terminal) as u16;
    let mut tcp = [0u8; 20];
    tcp[0..2].copy_from_slice(&sport.to_be_bytes());
    tcp[2..4].copy_from_slice(&VIP_PORT.to_be_bytes());
    tcp[4..8].copy_from_slice(&seq.to_be_bytes());
    tcp[8..12].copy_from_slice(&ack.to_be_bytes());
    tcp[12] = 5 << 4;
    tcp[13] = flags;
    tcp[14..16].copy_from_slice(&65535u16.to_be_bytes());
    let l4_len = tcp.len() + payload.len();
    let len = 14 + 40 + l4_len;
    let f = &mut out[..len];
    f[0..6].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    f[6..12].copy_from_slice(&[2, 0, 0, 0, 0xaa, 1]);
    f[12..14].copy_from_slice(&[0x86, 0xdd]);
    f[14..18].copy_from_slice(&[0x60, 0, 0, 0]);
    f[18..20].copy_from_slice(&(l4_len as u16).to_be_bytes());
    f[20] = 6;
    f[21] = 64;
    f[22..38].copy_from_slice(&src.octets());
    f[38..54].copy_from_slice(&dst.octets());
    f[54..74].copy_from_slice(&tcp);
    f[74..].copy_from_slice(payload);
    let sum = dataplane::wire::checksum::l4_checksum_v6(src, dst, 6, &f[54..]);
    f[70..72].copy_from_slice(&sum.to_be_bytes());
    len
}

/// Writes the SYN opening NAT64 user session `s`; returns its length.
pub fn write_syn6(s: u64, flows_per_terminal: u64, out: &mut [u8]) -> usize {
    write_tcp6(
        s,
        flows_per_terminal,
        (nat64_dst(), (1000, 0, 0x02)),
        &[],
        out,
    )
}

/// Writes a data segment of NAT64 user session `s` (the IPv4 one's
/// payload; 94 bytes); returns its length.
pub fn write_data6(s: u64, flows_per_terminal: u64, out: &mut [u8]) -> usize {
    write_tcp6(
        s,
        flows_per_terminal,
        (nat64_dst(), (1001, 5001, 0x18)),
        &DATA_PAYLOAD,
        out,
    )
}

/// A server's segment to user session `e` (to its gateway address and
/// port, from its server, TTL 64, checksums from scratch) with `seq`, `ack`,
/// `flags` and the data payload when `data`: the downlink of the NAT64
/// bench (`instructions nat64_down`).
pub fn server_segment(
    e: &dataplane::tier2::UserSession,
    (seq, ack, flags): (u32, u32, TcpFlags),
    data: bool,
) -> Vec<u8> {
    let s = FrameSpec {
        src_mac: MacAddr(server_mac(e.server_ip)),
        dst_mac: MacAddr([2, 0, 0, 0, 0, 2]),
        vlan: None,
        src_ip: e.server_ip,
        dst_ip: gateway_addr(e.gw_addr),
        src_port: e.server_port,
        dst_port: e.gw_port,
        ttl: 64,
    };
    let payload: &[u8] = if data { &DATA_PAYLOAD } else { &[] };
    let mut out = [0u8; 128];
    let n = write_tcp_frame(&s, seq, ack, flags, 65535, payload, &mut out)
        .expect("a segment fits 128 bytes");
    out[..n].to_vec()
}

/// Writes the SYN opening user session `s`; returns its length.
pub fn write_syn(s: u64, flows_per_terminal: u64, out: &mut [u8]) -> usize {
    let (src, sport) = flow(s, flows_per_terminal);
    write_tcp_frame(&spec(src, sport), 1000, 0, TcpFlags::SYN, 65535, &[], out)
        .expect("a SYN fits 128 bytes")
}

/// Writes a 64-byte data segment of user session `s`; returns its length.
pub fn write_data(s: u64, flows_per_terminal: u64, out: &mut [u8]) -> usize {
    write_data_at(s, flows_per_terminal, 1001, out)
}

/// [`write_data`] with sequence number `seq`.
pub fn write_data_at(s: u64, flows_per_terminal: u64, seq: u32, out: &mut [u8]) -> usize {
    let (src, sport) = flow(s, flows_per_terminal);
    write_tcp_frame(
        &spec(src, sport),
        seq,
        5001,
        TcpFlags::ACK | TcpFlags::PSH,
        65535,
        &DATA_PAYLOAD,
        out,
    )
    .expect("a data segment fits 128 bytes")
}

/// The session ID and flow key of user session `s`'s data segments.
pub fn keys(s: u64, flows_per_terminal: u64) -> (SessionId, FlowKey) {
    let (src, sport) = flow(s, flows_per_terminal);
    let sid = session_id(SessionKeyMode::SourceIp, src, None, None).expect("an ID");
    let key = FlowKey {
        proto: 6,
        client_ip: src,
        client_port: sport,
        dst_ip: VIP,
        dst_port: VIP_PORT,
    };
    (sid, key)
}

/// Frames of equal length side by side in one allocation.
pub struct FramePool {
    bytes: Vec<u8>,
    frame_len: usize,
}

impl FramePool {
    /// `sessions[i]`'s frame, written by `write`, for every `i`.
    pub fn new(
        sessions: impl Iterator<Item = u64>,
        write: impl Fn(u64, &mut [u8]) -> usize,
    ) -> FramePool {
        let mut buf = [0u8; 128];
        let mut bytes = Vec::with_capacity(sessions.size_hint().0 * 64);
        let mut frame_len = 0;
        for s in sessions {
            let n = write(s, &mut buf);
            assert!(frame_len == 0 || frame_len == n, "frames of one length");
            frame_len = n;
            bytes.extend_from_slice(&buf[..n]);
        }
        FramePool { bytes, frame_len }
    }

    /// Frames already written (of one length).
    pub fn from_frames(frames: &[Vec<u8>]) -> FramePool {
        let frame_len = frames.first().map_or(0, Vec::len);
        assert!(
            frames.iter().all(|f| f.len() == frame_len),
            "frames of one length"
        );
        FramePool {
            bytes: frames.concat(),
            frame_len,
        }
    }

    pub fn len(&self) -> usize {
        self.bytes.len() / self.frame_len.max(1)
    }

    #[inline]
    pub fn get(&self, i: usize) -> &[u8] {
        &self.bytes[i * self.frame_len..(i + 1) * self.frame_len]
    }
}

/// SplitMix64 steps: reproducible pseudo-random numbers for session picks.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A random order of `0..n`.
    pub fn permutation(&mut self, n: u64) -> Vec<u64> {
        let mut v: Vec<u64> = (0..n).collect();
        for i in (1..v.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
        v
    }
}

/// One worker and the publishers of its snapshots.
pub struct Lab {
    pub worker: Worker,
    pub steering: Publisher<SteeringTable>,
    pub policy: Publisher<Policy>,
    pub neighbours: Publisher<Neighbours>,
    pub loads: Publisher<ServerLoads>,
    pub now: u64,
    pub sink: CountingSink,
    /// Reused buffers of one burst (like the mbufs of one rx burst).
    pub frames: Vec<VecFrame>,
    /// Whether `process_burst` runs the prefetch pass first, as the
    /// appliance's worker loop does.
    pub prefetch: bool,
    /// What the prefetch pass read of each frame of the burst (kept across
    /// bursts, like the worker loop's).
    pub records: [FrameRecord; BURST],
    /// The port the frames arrive on (the access port unless the lab is a
    /// gateway on the fabric).
    pub in_port: u16,
}

/// The prefetch instruction, as the appliance passes it.
pub struct CpuPrefetch;

impl dataplane::prefetch::Prefetch for CpuPrefetch {
    #[inline(always)]
    fn read<T>(&self, value: &T) {
        cpu_hint::prefetch_read(value);
    }
}

/// Start of the simulated clock, ms.
pub const START_MS: u64 = 1_000_000;

impl Lab {
    pub fn new(s: &Setup) -> Lab {
        Lab::build(s, None, Ipv6::Off)
    }

    /// A lab with NAT64 on (the well-known prefix, issue 14): IPv6
    /// terminals reach the web VIP as [`nat64_dst`].
    pub fn nat64(s: &Setup) -> Lab {
        Lab::build(s, None, Ipv6::Nat64)
    }

    /// A lab with NAT64 on and service "web66" at [`nat66::VIP66`] served
    /// by IPv6 servers (IPv6 → IPv6 full NAT, issue 14).
    pub fn nat66(s: &Setup) -> Lab {
        Lab::build(s, None, Ipv6::Nat66)
    }

    /// A lab at one end of the cluster fabric (issue 12): the tier-1 unit
    /// encapsulates every session to the gateway appliance; the gateway
    /// receives them on its fabric port.
    pub fn on_fabric(s: &Setup, end: FabricEnd) -> Lab {
        Lab::build(s, Some(end), Ipv6::Off)
    }

    fn build(s: &Setup, end: Option<FabricEnd>, ipv6: Ipv6) -> Lab {
        let nat64 = ipv6 != Ipv6::Off;
        let nat66 = ipv6 == Ipv6::Nat66;
        let target = match end {
            Some(FabricEnd::Tier1) => GatewayTarget::Remote {
                addr: GATEWAY_FABRIC,
                port: FABRIC_BASE_PORT,
            },
            _ => GatewayTarget::LocalWorker(0),
        };
        let gateways = [Gateway {
            id: GatewayId(0),
            target,
        }];
        let mut n = Neighbours::default();
        for ip in SERVERS {
            n.insert(SRV, ip, server_mac(ip));
        }
        let (me, other) = match end {
            Some(FabricEnd::Tier1) => ((1, TIER1_FABRIC), GATEWAY_FABRIC),
            _ => ((2, GATEWAY_FABRIC), TIER1_FABRIC),
        };
        let fabric = end.map(|e| FabricConfig {
            appliance_id: me.0,
            port: FAB,
            addr: me.1,
            base_port: FABRIC_BASE_PORT,
            mtu: 1500,
            gateways: e == FabricEnd::Gateway,
        });
        let mut steering = SteeringTable::new(&gateways).expect("one gateway");
        if fabric.is_some() {
            n.insert(FAB, other, fabric_mac(other));
            steering = steering.with_fabric(FabricPeers::new(
                1,
                vec![
                    FabricPeer {
                        appliance_id: 1,
                        addr: TIER1_FABRIC,
                        base_port: FABRIC_BASE_PORT,
                    },
                    FabricPeer {
                        appliance_id: 2,
                        addr: GATEWAY_FABRIC,
                        base_port: FABRIC_BASE_PORT,
                    },
                ],
            ));
        }
        let assembly = WorkersPlan {
            worker: WorkerConfig {
                index: 0,
                n_workers: 1,
                gateway_addrs: (0..s.gateway_addrs).map(gateway_addr).collect(),
                gateway_addrs6: if nat66 {
                    (0..s.gateway_addrs).map(nat66::gateway6).collect()
                } else {
                    Vec::new()
                },
                port_range: (1024, 65535),
                table_capacity: s.capacity,
                quarantine: s.quarantine,
                session_key: SessionKeyMode::SourceIp,
                nat64: nat64.then_some(dataplane::pipeline::Nat64Config {
                    prefix: Some(dataplane::wire::NAT64_WELL_KNOWN_PREFIX),
                }),
                ipv6_session_prefix: dataplane::tier1::Ipv6SessionPrefix::P64,
                probe_ports: None,
                bitrate_meters: true,
                limited_types: 1,
                fabric,
                fragments: dataplane::tier2::FragmentLimits::DEFAULT,
            },
            topology: {
                let mut t = topology(s.gateway_addrs, fabric.map(|f| f.addr));
                if nat66 {
                    nat66::add_to_topology(&mut t, s.gateway_addrs, s.gateway_addrs);
                }
                t
            },
            steering,
            policy: {
                let mut p = policy(s.timeouts);
                if nat66 {
                    let mut services = p.services.services.clone();
                    let mut servers = p.services.servers.clone();
                    nat66::add_service(&mut services, &mut servers);
                    p.services = ServiceTable::new(services, servers);
                }
                p
            },
            neighbours: {
                if nat66 {
                    nat66::add_neighbours(&mut n);
                }
                n
            },
            max_readers: 4,
            now_ms: START_MS,
        }
        .assemble()
        .expect("worker");
        let Publishers {
            steering,
            policy,
            neighbours,
            loads,
        } = assembly.publishers;
        let worker = assembly.workers.into_iter().next().expect("one worker");
        Lab {
            worker,
            steering,
            policy,
            neighbours,
            loads,
            now: START_MS,
            sink: CountingSink::default(),
            frames: (0..BURST).map(|_| VecFrame::new(&[0; 64])).collect(),
            prefetch: true,
            records: [FrameRecord::UNREAD; BURST],
            in_port: match end {
                Some(FabricEnd::Gateway) => FAB,
                _ => ACC,
            },
        }
    }

    /// Pins terminals `0..terminals` to this worker, as the control plane
    /// does after their first packet (the steady state).
    pub fn pin_terminals(&mut self, terminals: u64) {
        let pins: Vec<_> = (0..terminals)
            .map(|t| {
                let ip = Ipv4Addr::from(FIRST_TERMINAL.wrapping_add(t as u32));
                let sid = session_id(SessionKeyMode::SourceIp, ip, None, None).expect("an ID");
                (sid, Some(GatewayId(0)))
            })
            .collect();
        let next = self.steering.current().with_pins(&pins);
        self.steering.publish(next);
        self.worker.begin_burst();
        self.steering.reclaim();
    }

    /// Pins IPv6 terminals `0..terminals` (their /64s) to this worker.
    pub fn pin_terminals6(&mut self, terminals: u64) {
        let pins: Vec<_> = (0..terminals)
            .map(|t| {
                let sid = dataplane::tier1::session_id_v6(
                    SessionKeyMode::SourceIp,
                    terminal6(t, 1),
                    dataplane::tier1::Ipv6SessionPrefix::P64,
                )
                .expect("a global unicast terminal");
                (sid, Some(GatewayId(0)))
            })
            .collect();
        let next = self.steering.current().with_pins(&pins);
        self.steering.publish(next);
        self.worker.begin_burst();
        self.steering.reclaim();
    }

    /// Opens NAT64 user sessions `first..first + n` with IPv6 SYNs (not
    /// timed); panics if any is not translated and forwarded.
    pub fn open6(&mut self, first: u64, n: u64, flows_per_terminal: u64) {
        let mut buf = [0u8; 128];
        for s in first..first + n {
            if s % 4096 == 0 {
                self.worker.begin_burst();
            }
            let len = write_syn6(s, flows_per_terminal, &mut buf);
            let v = self.process(&buf[..len]);
            assert_eq!(v, Verdict::Forward(SRV), "IPv6 SYN of user session {s}");
        }
    }

    /// Gives every subscriber a bitrate limit up and down too high to drop
    /// anything, so that the established path pays for the metering
    /// (issue 15). Call it before [`open`](Self::open).
    pub fn limit_bitrate(&mut self) {
        let rate = dataplane::shaping::Rate {
            bytes_per_s: 1 << 40,
            burst_bytes: 1 << 40,
        };
        let mut p = (*self.policy.current()).clone();
        p.subscribers.default.limits.bitrate = Some(dataplane::shaping::Bitrate {
            up: Some(rate),
            down: Some(rate),
        });
        self.policy.publish(p);
    }

    /// Like [`limit_bitrate`](Self::limit_bitrate), and the user-session
    /// type of all the traffic has a bitrate limit of its own too (as
    /// high), so every packet passes two buckets. Call it before
    /// [`open`](Self::open).
    pub fn limit_type_bitrate(&mut self) {
        self.limit_bitrate();
        self.limit_type_bitrate_only();
    }

    /// Only the user-session type of all the traffic has a bitrate limit
    /// (as high as [`limit_bitrate`](Self::limit_bitrate)'s), the
    /// subscribers none: one bucket per packet, the type's. Call it before
    /// [`open`](Self::open).
    pub fn limit_type_bitrate_only(&mut self) {
        let rate = dataplane::shaping::Rate {
            bytes_per_s: 1 << 40,
            burst_bytes: 1 << 40,
        };
        let mut p = (*self.policy.current()).clone();
        for t in &mut p.classifier.types {
            t.bitrate = Some(dataplane::shaping::Bitrate {
                up: Some(rate),
                down: Some(rate),
            });
        }
        self.policy.publish(p);
    }

    /// Sends every new connection's server a PROXY protocol v2 header
    /// (issue 15). Call it before [`open`](Self::open).
    pub fn proxy_protocol(&mut self) {
        let mut p = (*self.policy.current()).clone();
        p.services.services[0].proxy_v2 = true;
        self.policy.publish(p);
    }

    /// For PROXY sessions `0..n`: sends each a segment past the first byte
    /// and its server's acknowledgement of it (which covers the header),
    /// so that their established path is measured (not timed).
    pub fn acknowledge_headers(&mut self, n: u64, flows_per_terminal: u64) {
        let mut buf = [0u8; 128];
        for s in 0..n {
            if s % 4096 == 0 {
                self.worker.begin_burst();
            }
            let len = write_data_at(s, flows_per_terminal, 1101, &mut buf);
            assert_eq!(self.process(&buf[..len]), Verdict::Forward(SRV));
            let out = self.frames[0].bytes();
            let ip = &out[14..];
            let gw = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
            let server = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
            let gw_port = u16::from_be_bytes([ip[20], ip[21]]);
            let seq = u32::from_be_bytes([ip[24], ip[25], ip[26], ip[27]]);
            let spec = FrameSpec {
                src_mac: MacAddr(server_mac(server)),
                dst_mac: MacAddr([2, 0, 0, 0, 0, 2]),
                vlan: None,
                src_ip: server,
                dst_ip: gw,
                src_port: SERVER_PORT,
                dst_port: gw_port,
                ttl: 64,
            };
            let ack = seq.wrapping_add(DATA_PAYLOAD.len() as u32);
            let len = write_tcp_frame(&spec, 5001, ack, TcpFlags::ACK, 65535, &[], &mut buf)
                .expect("an ACK fits 128 bytes");
            let f = &mut self.frames[0];
            f.reset(&buf[..len]);
            let v = self.worker.process(f, SRV, self.now, &mut self.sink);
            assert_eq!(v, Verdict::Forward(ACC), "server ACK of user session {s}");
        }
    }

    /// Runs one frame through the pipeline.
    pub fn process(&mut self, bytes: &[u8]) -> Verdict {
        let f = &mut self.frames[0];
        f.reset(bytes);
        self.worker
            .process(f, self.in_port, self.now, &mut self.sink)
    }

    /// Opens user sessions `first..first + n` with SYNs (not timed);
    /// panics if any is not forwarded.
    pub fn open(&mut self, first: u64, n: u64, flows_per_terminal: u64) {
        let mut buf = [0u8; 128];
        for s in first..first + n {
            if s % 4096 == 0 {
                self.worker.begin_burst();
            }
            let len = write_syn(s, flows_per_terminal, &mut buf);
            let v = self.process(&buf[..len]);
            assert_eq!(v, Verdict::Forward(SRV), "SYN of user session {s}");
        }
    }

    /// One burst: copy `BURST` frames from `pool` (from `*cursor` on, round
    /// the pool) into the burst buffers, then run them through the
    /// pipeline. Returns how many were forwarded.
    #[inline]
    pub fn burst(&mut self, pool: &FramePool, cursor: &mut usize) -> usize {
        self.copy_burst(pool, cursor);
        self.process_burst()
    }

    /// Only the copy of `burst`: its cost is reported on its own.
    #[inline]
    pub fn copy_burst(&mut self, pool: &FramePool, cursor: &mut usize) {
        let n = pool.len();
        for f in &mut self.frames {
            f.reset(pool.get(*cursor));
            *cursor += 1;
            if *cursor == n {
                *cursor = 0;
            }
        }
    }

    /// The pipeline part of `burst`.
    #[inline]
    pub fn process_burst(&mut self) -> usize {
        self.worker.begin_burst();
        if self.prefetch {
            let port = self.in_port;
            let frames = self.frames.iter().map(|f| (Frame::bytes(f), port));
            self.worker
                .prefetch_records(frames, &CpuPrefetch, &mut self.records);
        } else {
            self.records = [FrameRecord::UNREAD; BURST];
        }
        let mut forwarded = 0;
        for (f, record) in self.frames.iter_mut().zip(&self.records) {
            let v = self.worker.process_recorded(
                f,
                record,
                Ingress::Port,
                self.in_port,
                self.now,
                &mut self.sink,
            );
            if let Verdict::Forward(_) = v {
                forwarded += 1;
            }
        }
        forwarded
    }

    pub fn dropped(&self) -> u64 {
        self.worker.counters().dropped_total()
    }

    pub fn drops(&self, r: DropReason) -> u64 {
        self.worker.counters().dropped(r)
    }
}

/// `lab`'s answer to each of `frames` (each must leave on `port`).
pub fn through(lab: &mut Lab, frames: impl Iterator<Item = Vec<u8>>, port: u16) -> Vec<Vec<u8>> {
    frames
        .enumerate()
        .map(|(i, bytes)| {
            if i % 4096 == 0 {
                lab.worker.begin_burst();
            }
            assert_eq!(lab.process(&bytes), Verdict::Forward(port), "frame {i}");
            Frame::bytes(&lab.frames[0]).to_vec()
        })
        .collect()
}

/// Both ends of the cluster fabric (issue 12) with user sessions open on
/// the gateway, and data segments as each end receives them.
pub struct FabricPair {
    pub tier1: Lab,
    pub gateway: Lab,
    /// The segments of the picked user sessions, as terminals send them.
    pub plain: FramePool,
    /// The same, as the tier-1 unit wraps them for the gateway.
    pub wrapped: FramePool,
}

impl FabricPair {
    /// User sessions `0..n` opened on the gateway through the tier-1 unit
    /// (not timed); the data segments of `picks`.
    pub fn new(s: &Setup, n: u64, flows_per_terminal: u64, picks: &[u64]) -> FabricPair {
        let mut tier1 = Lab::on_fabric(s, FabricEnd::Tier1);
        let mut gateway = Lab::on_fabric(s, FabricEnd::Gateway);
        let terminals = n.div_ceil(flows_per_terminal);
        tier1.pin_terminals(terminals);
        gateway.pin_terminals(terminals);
        let frame = |write: fn(u64, u64, &mut [u8]) -> usize, i: u64| {
            let mut buf = [0u8; 128];
            let len = write(i, flows_per_terminal, &mut buf);
            buf[..len].to_vec()
        };
        let syns = through(&mut tier1, (0..n).map(|i| frame(write_syn, i)), FAB);
        through(&mut gateway, syns.into_iter(), SRV);
        assert_eq!(u64::from(gateway.worker.table().len()), n);
        let plain: Vec<Vec<u8>> = picks.iter().map(|&i| frame(write_data, i)).collect();
        let wrapped = through(&mut tier1, plain.iter().cloned(), FAB);
        FabricPair {
            tier1,
            gateway,
            plain: FramePool::from_frames(&plain),
            wrapped: FramePool::from_frames(&wrapped),
        }
    }
}

/// Checks a frame the pipeline sent towards a server: from a gateway
/// address to a server's port, checksums right from scratch. Returns the
/// (gateway address, gateway port). The benchmarks call it on samples so a
/// fast wrong answer cannot pass.
pub fn check_translated(f: &[u8], n_addrs: u8) -> (Ipv4Addr, u16) {
    let ip = &f[14..];
    assert_eq!(checksum(&ip[..20]), 0, "IPv4 header checksum");
    let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    let tcp = &ip[20..total];
    assert_eq!(l4_checksum(src, dst, 6, tcp), 0, "TCP checksum");
    assert!(
        (0..n_addrs).any(|i| gateway_addr(i) == src),
        "source {src} is a gateway address"
    );
    assert!(SERVERS.contains(&dst), "destination {dst} is a server");
    assert_eq!(u16::from_be_bytes([tcp[2], tcp[3]]), SERVER_PORT);
    assert_eq!(&f[0..6], &server_mac(dst), "server's MAC");
    assert_eq!(ip[8], 63, "TTL decremented");
    (src, u16::from_be_bytes([tcp[0], tcp[1]]))
}

/// Resident memory of this process in bytes (`VmRSS`), whatever the
/// allocator does.
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}
