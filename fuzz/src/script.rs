//! The pipeline target's input: a script of operations that a fuzzer can
//! write (`arbitrary` derives), and the frames each operation sends.
//!
//! Raw byte frames reach only the first checks of the pipeline; templated
//! frames (well-formed, with values drawn from the addresses and ports the
//! lab knows, optionally with one byte changed) and answers to live user
//! sessions reach the gateway's state machine, expiry and ICMP handling.

use crate::lab::{
    port_mac, server_mac, ACC, DNS_VIP, EXT, EXT_HOST, GW, N_PORTS, PORT_ADDRS, PORT_RANGE,
    PROBE_PORTS, SERVERS, SRV, UE_DENIED, UE_MAC, VIP,
};
use arbitrary::Arbitrary;
use dataplane::policy::AdminState;
use dataplane::tier1::SessionKeyMode;
use dataplane::tier2::UserSession;
use dataplane::wire::checksum::checksum;
use dataplane::wire::frames::{arp_frame, gtpu_encap, icmp_frame, tcp_frame, udp_frame};
use dataplane::wire::{
    ArpOp, ArpRepr, FrameSpec, IcmpRepr, MacAddr, TcpFlags, GTPU_PORT, PROTO_ICMP, PROTO_TCP,
    PROTO_UDP,
};
use std::net::Ipv4Addr;

/// A whole fuzz input.
#[derive(Arbitrary, Debug)]
pub struct Script {
    pub mode: Mode,
    pub ops: Vec<Op>,
}

/// How tier-1 takes the session ID.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Mode {
    SourceIp,
    SourceIpVlan,
    GtpTeid,
}

impl Mode {
    pub fn key_mode(self) -> SessionKeyMode {
        match self {
            Mode::SourceIp => SessionKeyMode::SourceIp,
            Mode::SourceIpVlan => SessionKeyMode::SourceIpVlan,
            Mode::GtpTeid => SessionKeyMode::GtpTeid,
        }
    }
}

#[derive(Arbitrary, Debug)]
pub enum Op {
    /// Arbitrary bytes received by a worker on a port.
    Raw {
        worker: u8,
        port: u8,
        frame: Vec<u8>,
    },
    /// A well-formed frame, optionally with one byte replaced.
    Send {
        worker: u8,
        port: u8,
        packet: Packet,
        flip: Option<(u16, u8)>,
    },
    /// The same frame `count` times, the source port one higher each time
    /// (many user sessions at once: table and port exhaustion).
    Flood {
        worker: u8,
        port: u8,
        packet: Packet,
        count: u8,
    },
    /// Traffic of a live user session (picked by index), from either end.
    Answer {
        worker: u8,
        pick: u8,
        kind: AnswerKind,
        flip: Option<(u16, u8)>,
    },
    /// Time passes (milliseconds) and timers run.
    Wait { ms: u16 },
    /// A long pause (seconds, at most about 20 minutes).
    Sleep { seconds: u16 },
    /// The control plane pins a session to a gateway (or unpins it).
    Pin { key: u8, gateway: Option<u8> },
    /// The control plane resolves every next hop asked for so far.
    Resolve,
    /// The control plane forgets a server's (or the external host's) MAC.
    Forget { host: u8 },
    /// The operator or the health checks change a server.
    Server {
        index: u8,
        state: ServerState,
        unhealthy: bool,
        weight: u8,
    },
    /// The control plane publishes the sum of the workers' loads.
    PublishLoads,
    /// Interim accounting every `seconds` (0: final records only).
    Interim { seconds: u8 },
    /// A worker ends all its user sessions (shutdown).
    EndAll { worker: u8 },
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum ServerState {
    Active,
    Draining,
    Down,
    Removed,
}

impl ServerState {
    pub fn admin(self) -> AdminState {
        match self {
            ServerState::Active => AdminState::Active,
            ServerState::Draining => AdminState::Draining,
            ServerState::Down => AdminState::Down,
            ServerState::Removed => AdminState::Removed,
        }
    }
}

/// The addresses a frame can carry.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Host {
    Terminal(u8),
    Denied,
    Vip,
    DnsVip,
    Gateway,
    External,
    Server(u8),
    PortAddress(u8),
    Broadcast,
    Any([u8; 4]),
}

impl Host {
    pub fn addr(self) -> Ipv4Addr {
        match self {
            Host::Terminal(t) => terminal(t),
            Host::Denied => UE_DENIED,
            Host::Vip => VIP,
            Host::DnsVip => DNS_VIP,
            Host::Gateway => GW,
            Host::External => EXT_HOST,
            Host::Server(s) => SERVERS[usize::from(s) % SERVERS.len()],
            Host::PortAddress(p) => PORT_ADDRS[usize::from(p) % PORT_ADDRS.len()],
            Host::Broadcast => Ipv4Addr::BROADCAST,
            Host::Any(a) => Ipv4Addr::from(a),
        }
    }
}

/// A few terminals, so that the fuzzer meets the same one again.
pub fn terminal(t: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 8, 0, 100 + t % 4)
}

/// A few tunnels, for the same reason.
pub fn teid(t: u8) -> u32 {
    0x100 + u32::from(t % 4)
}

/// The L4 ports a frame can carry.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum PortNo {
    Web,
    Dns,
    Backend,
    BackendDns,
    /// A port of the gateway range, by offset.
    Gateway(u8),
    /// A health-probe source port, by offset.
    Probe(u8),
    Gtp,
    Any(u16),
}

impl PortNo {
    pub fn number(self) -> u16 {
        match self {
            PortNo::Web => 80,
            PortNo::Dns => 53,
            PortNo::Backend => 8080,
            PortNo::BackendDns => 5353,
            PortNo::Gateway(o) => gateway_port(o),
            PortNo::Probe(o) => PROBE_PORTS.0 + u16::from(o) % (PROBE_PORTS.1 - PROBE_PORTS.0 + 1),
            PortNo::Gtp => GTPU_PORT,
            PortNo::Any(p) => p,
        }
    }
}

/// A port of the gateway range (and a little beyond it).
pub fn gateway_port(offset: u8) -> u16 {
    let (lo, hi) = PORT_RANGE;
    lo + u16::from(offset) % (hi - lo + 3)
}

/// A well-formed frame to build.
#[derive(Arbitrary, Debug, Clone)]
pub struct Packet {
    pub src: Host,
    pub dst: Host,
    pub sport: PortNo,
    pub dport: PortNo,
    pub body: Body,
    pub vlan: Option<u16>,
    /// Carried in GTP-U (by tunnel number) to the access port's address.
    pub tunnel: Option<u8>,
    pub ttl: u8,
    pub payload_len: u8,
}

#[derive(Arbitrary, Debug, Clone)]
pub enum Body {
    Tcp { flags: u8, seq: u32, ack: u32 },
    Udp,
    EchoRequest { ident: u16 },
    EchoReply { ident: u16 },
    IcmpError { error: IcmpError, quoted: Quoted },
    Arp { request: bool },
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum IcmpError {
    Unreachable { code: u8, mtu: u16 },
    TimeExceeded { code: u8 },
}

impl IcmpError {
    fn repr(self) -> IcmpRepr {
        match self {
            IcmpError::Unreachable { code, mtu } => IcmpRepr::DestUnreachable {
                code: code % 16,
                next_hop_mtu: mtu,
            },
            IcmpError::TimeExceeded { code } => IcmpRepr::TimeExceeded { code: code % 2 },
        }
    }
}

/// The packet an ICMP error quotes: its IPv4 header and first 8 L4 bytes.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct Quoted {
    pub proto: QuotedProto,
    pub src: Host,
    pub sport: PortNo,
    pub dst: Host,
    pub dport: PortNo,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum QuotedProto {
    Tcp,
    Udp,
    Echo,
    Other(u8),
}

impl Quoted {
    fn bytes(&self) -> Vec<u8> {
        let proto = match self.proto {
            QuotedProto::Tcp => PROTO_TCP,
            QuotedProto::Udp => PROTO_UDP,
            QuotedProto::Echo => PROTO_ICMP,
            QuotedProto::Other(p) => p,
        };
        quoted_packet(
            proto,
            self.src.addr(),
            self.sport.number(),
            self.dst.addr(),
            self.dport.number(),
        )
    }
}

/// 28 bytes: an IPv4 header (total length as if 100 bytes long, as in a
/// real quote) and the first 8 bytes of its L4 header.
pub fn quoted_packet(proto: u8, src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16) -> Vec<u8> {
    let mut q = vec![0u8; 28];
    q[0] = 0x45;
    q[2..4].copy_from_slice(&100u16.to_be_bytes());
    q[8] = 63;
    q[9] = proto;
    q[12..16].copy_from_slice(&src.octets());
    q[16..20].copy_from_slice(&dst.octets());
    let c = checksum(&q[..20]);
    q[10..12].copy_from_slice(&c.to_be_bytes());
    if proto == PROTO_ICMP {
        q[20] = 8;
        q[24..26].copy_from_slice(&sport.to_be_bytes());
    } else {
        q[20..22].copy_from_slice(&sport.to_be_bytes());
        q[22..24].copy_from_slice(&dport.to_be_bytes());
    }
    q
}

/// What a live user session sends next.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum AnswerKind {
    /// The server answers the gateway port (TCP with these flags, UDP or
    /// echo reply, by the session's protocol).
    FromServer { flags: u8, payload_len: u8, ttl: u8 },
    /// The server's side reports an ICMP error about a packet we sent.
    ErrorFromServer { error: IcmpError, ttl: u8 },
    /// The terminal sends again, along the path it used.
    FromTerminal { flags: u8, payload_len: u8 },
}

/// Where a frame goes in: `(port, frame)`.
pub type Input = (u16, Vec<u8>);

fn spec(
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    dport: u16,
    macs: ([u8; 6], [u8; 6]),
    vlan: Option<u16>,
) -> FrameSpec {
    FrameSpec {
        src_mac: MacAddr(macs.0),
        dst_mac: MacAddr(macs.1),
        vlan,
        src_ip: src,
        dst_ip: dst,
        src_port: sport,
        dst_port: dport,
        ttl: 64,
    }
}

/// The port a frame arrives on for a script's port byte (one beyond the
/// topology's ports is an unknown port).
pub fn in_port(port: u8) -> u16 {
    u16::from(port) % (N_PORTS + 1)
}

/// Builds the frame of `p` arriving on `port`; None if the builders refuse.
pub fn build(p: &Packet, port: u16) -> Option<Vec<u8>> {
    let (src, dst) = (p.src.addr(), p.dst.addr());
    let src_mac = match p.src {
        Host::Server(_) | Host::External => server_mac(src),
        _ => UE_MAC,
    };
    let macs = (src_mac, port_mac(port));
    let (sport, dport) = (p.sport.number(), p.dport.number());
    let inner_vlan = if p.tunnel.is_some() { None } else { p.vlan };
    let mut s = spec(src, sport, dst, dport, macs, inner_vlan);
    s.ttl = p.ttl;
    let payload = vec![0x5a; usize::from(p.payload_len)];
    let frame = match &p.body {
        Body::Tcp { flags, seq, ack } => {
            tcp_frame(&s, *seq, *ack, TcpFlags::from_bits(*flags), 8192, &payload)
        }
        Body::Udp => udp_frame(&s, &payload),
        Body::EchoRequest { ident } => icmp_frame(
            &s,
            &IcmpRepr::EchoRequest {
                ident: *ident,
                seq: 1,
            },
            &payload,
        ),
        Body::EchoReply { ident } => icmp_frame(
            &s,
            &IcmpRepr::EchoReply {
                ident: *ident,
                seq: 1,
            },
            &payload,
        ),
        Body::IcmpError { error, quoted } => icmp_frame(&s, &error.repr(), &quoted.bytes()),
        Body::Arp { request } => {
            let arp = ArpRepr {
                op: if *request {
                    ArpOp::Request
                } else {
                    ArpOp::Reply
                },
                sender_mac: MacAddr(src_mac),
                sender_ip: src,
                target_mac: if *request {
                    MacAddr::ZERO
                } else {
                    MacAddr(port_mac(port))
                },
                target_ip: dst,
            };
            let eth_dst = if *request {
                MacAddr::BROADCAST
            } else {
                MacAddr(port_mac(port))
            };
            return arp_frame(&arp, MacAddr(src_mac), eth_dst, p.vlan).ok();
        }
    }
    .ok()?;
    match p.tunnel {
        None => Some(frame),
        Some(t) => tunnel(&frame, t, port, p.vlan),
    }
}

/// Wraps the IPv4 packet of a plain frame in GTP-U from the radio side to
/// the address of `port`.
fn tunnel(frame: &[u8], t: u8, port: u16, vlan: Option<u16>) -> Option<Vec<u8>> {
    let inner = frame.get(14..)?;
    let ran = Ipv4Addr::new(10, 1, 0, 200);
    let port_addr = PORT_ADDRS[usize::from(port) % PORT_ADDRS.len()];
    let outer = spec(
        ran,
        GTPU_PORT,
        port_addr,
        GTPU_PORT,
        (UE_MAC, port_mac(port)),
        vlan,
    );
    gtpu_encap(&outer, teid(t), inner).ok()
}

/// The frame that `kind` sends for user session `e`: `(port, frame)`.
pub fn answer(e: &UserSession, kind: AnswerKind) -> Option<Input> {
    let server_port = if e.server_index == u32::MAX { EXT } else { SRV };
    let server_macs = (server_mac(e.server_ip), port_mac(server_port));
    match kind {
        AnswerKind::FromServer {
            flags,
            payload_len,
            ttl,
        } => {
            let mut s = spec(e.server_ip, e.server_port, GW, e.gw_port, server_macs, None);
            s.ttl = ttl;
            let payload = vec![0xa5; usize::from(payload_len)];
            let frame = match e.proto {
                PROTO_TCP => {
                    tcp_frame(&s, 7, 8, TcpFlags::from_bits(flags), 8192, &payload).ok()?
                }
                PROTO_UDP => udp_frame(&s, &payload).ok()?,
                _ => icmp_frame(
                    &s,
                    &IcmpRepr::EchoReply {
                        ident: e.gw_port,
                        seq: 1,
                    },
                    &payload,
                )
                .ok()?,
            };
            Some((server_port, frame))
        }
        AnswerKind::ErrorFromServer { error, ttl } => {
            let mut s = spec(e.server_ip, 0, GW, 0, server_macs, None);
            s.ttl = ttl;
            let quoted = quoted_packet(e.proto, GW, e.gw_port, e.server_ip, e.server_port);
            Some((server_port, icmp_frame(&s, &error.repr(), &quoted).ok()?))
        }
        AnswerKind::FromTerminal { flags, payload_len } => {
            let path = e.client_path;
            let vlan = (path.vlan != 0).then_some(path.vlan);
            let port = if path.port < N_PORTS { path.port } else { ACC };
            let p = Packet {
                src: Host::Any(e.client_ip.octets()),
                dst: Host::Any(e.orig_dst_ip.octets()),
                sport: PortNo::Any(e.client_port),
                dport: PortNo::Any(e.orig_dst_port),
                body: match e.proto {
                    PROTO_TCP => Body::Tcp {
                        flags,
                        seq: 1,
                        ack: 1,
                    },
                    PROTO_UDP => Body::Udp,
                    _ => Body::EchoRequest {
                        ident: e.client_port,
                    },
                },
                // A tunnelled frame carries its tag outside the tunnel.
                vlan: if path.tunnel.is_none() { vlan } else { None },
                tunnel: None,
                ttl: 64,
                payload_len,
            };
            let mut frame = build(&p, port)?;
            if !path.tunnel.is_none() {
                let inner = frame.get(14..)?.to_vec();
                let outer = spec(
                    path.tunnel.peer_ip,
                    GTPU_PORT,
                    PORT_ADDRS[usize::from(port) % PORT_ADDRS.len()],
                    GTPU_PORT,
                    (path.mac, port_mac(port)),
                    vlan,
                );
                frame = gtpu_encap(&outer, path.tunnel.teid, &inner).ok()?;
            }
            Some((port, frame))
        }
    }
}

/// Replaces one byte (position taken modulo the length).
pub fn flip(frame: &mut [u8], flip: Option<(u16, u8)>) {
    if let (Some((at, value)), false) = (flip, frame.is_empty()) {
        let i = usize::from(at) % frame.len();
        frame[i] = value;
    }
}
