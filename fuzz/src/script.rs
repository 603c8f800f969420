//! The pipeline target's input: a script of operations that a fuzzer can
//! write (`arbitrary` derives), and the frames each operation sends.
//!
//! Raw byte frames reach only the first checks of the pipeline; templated
//! frames (well-formed, with values drawn from the addresses and ports the
//! lab knows, optionally with one byte changed) and answers to live user
//! sessions reach the gateway's state machine, expiry and ICMP handling.
//! Templated frames are IPv4; IPv6 frames come from answers to the user
//! sessions of IPv6 terminals (NAT64 and NAT66: the terminal sends again in
//! IPv6, a NAT66 session's server answers in IPv6 from its IPv6 address to
//! the gateway IPv6 address) and from raw frames (the committed seeds).

use crate::lab::{
    port_mac, server6_mac, server_mac, ACC, DNS_VIP, EXT, EXT_HOST, GW, N_PORTS, PORT_ADDRS,
    PORT_RANGE, PROBE_PORTS, SERVERS, SRV, UE_DENIED, UE_MAC, VIP,
};
use arbitrary::Arbitrary;
use dataplane::event::{Ipv6Ends, PostNat6};
use dataplane::policy::AdminState;
use dataplane::tier1::SessionKeyMode;
use dataplane::tier2::UserSession;
use dataplane::wire::checksum::{checksum, l4_checksum_v6, udp_wire_value};
use dataplane::wire::frames::{arp_frame, gtpu_encap, icmp_frame, tcp_frame, udp_frame};
use dataplane::wire::{
    ArpOp, ArpRepr, FrameSpec, IcmpRepr, MacAddr, TcpFlags, ETHERTYPE_IPV6, GTPU_PORT, PROTO_ICMP,
    PROTO_ICMPV6, PROTO_TCP, PROTO_UDP,
};
use std::net::{Ipv4Addr, Ipv6Addr};

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
/// `v6`: the IPv6 ends of the user session when its terminal is an IPv6
/// one (NAT64 or NAT66, `Worker::nat64_ends`): the terminal then sends
/// IPv6, and so does the server of a NAT66 session (`v6.post_nat`).
pub fn answer(e: &UserSession, v6: Option<Ipv6Ends>, kind: AnswerKind) -> Option<Input> {
    if let Some(v6) = v6 {
        match (kind, v6.post_nat) {
            (AnswerKind::FromServer { .. } | AnswerKind::ErrorFromServer { .. }, Some(post)) => {
                return answer_nat66(e, post, kind)
            }
            (AnswerKind::FromTerminal { flags, payload_len }, _) => {
                return from_terminal_v6(e, v6, flags, payload_len)
            }
            _ => {}
        }
    }
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
            let frame = build(&p, port)?;
            Some((port, along_terminal_path(e, port, frame)?))
        }
    }
}

/// A frame built for the terminal of `e` (untagged when the path is a
/// tunnel) sent along its path: inside its GTP-U tunnel when it has one.
fn along_terminal_path(e: &UserSession, port: u16, frame: Vec<u8>) -> Option<Vec<u8>> {
    let path = e.client_path;
    if path.tunnel.is_none() {
        return Some(frame);
    }
    let vlan = (path.vlan != 0).then_some(path.vlan);
    let inner = frame.get(14..)?;
    let outer = spec(
        path.tunnel.peer_ip,
        GTPU_PORT,
        PORT_ADDRS[usize::from(port) % PORT_ADDRS.len()],
        GTPU_PORT,
        (path.mac, port_mac(port)),
        vlan,
    );
    gtpu_encap(&outer, path.tunnel.teid, inner).ok()
}

/// The IPv6 terminal of `e` sends again: from its IPv6 address and port to
/// the IPv6 address and port it addressed, along the path it used.
fn from_terminal_v6(e: &UserSession, v6: Ipv6Ends, flags: u8, payload_len: u8) -> Option<Input> {
    let path = e.client_path;
    let port = if path.port < N_PORTS { path.port } else { ACC };
    let vlan = if path.tunnel.is_none() {
        (path.vlan != 0).then_some(path.vlan)
    } else {
        None
    };
    let payload = vec![0x5a; usize::from(payload_len)];
    let (proto, l4) = match e.proto {
        PROTO_TCP | PROTO_UDP => (
            e.proto,
            l4_v6(e.proto, e.client_port, e.orig_dst_port, flags, &payload),
        ),
        _ => (PROTO_ICMPV6, echo_v6(128, e.client_port, &payload)),
    };
    let ends = (v6.terminal, v6.dest);
    let frame = ipv6_frame((UE_MAC, port_mac(port)), vlan, ends, 64, proto, l4);
    Some((port, along_terminal_path(e, port, frame)?))
}

/// The server of NAT66 user session `e` (IPv6 server `post.server`, on the
/// server port) answers gateway IPv6 address `post.gateway` at the
/// session's gateway port, or reports an ICMPv6 error about a packet the
/// gateway sent it.
fn answer_nat66(e: &UserSession, post: PostNat6, kind: AnswerKind) -> Option<Input> {
    let macs = (server6_mac(post.server), port_mac(SRV));
    let ends = (post.server, post.gateway);
    let frame = match kind {
        AnswerKind::FromServer {
            flags,
            payload_len,
            ttl,
        } => {
            let payload = vec![0xa5; usize::from(payload_len)];
            let l4 = l4_v6(e.proto, e.server_port, e.gw_port, flags, &payload);
            ipv6_frame(macs, None, ends, ttl, e.proto, l4)
        }
        AnswerKind::ErrorFromServer { error, ttl } => {
            // The quoted packet: the gateway's, as the server got it.
            let quoted_l4 = l4_v6(e.proto, e.gw_port, e.server_port, 0x10, &[]);
            let mut quoted = ipv6_packet((post.gateway, post.server), 63, e.proto, &quoted_l4);
            quoted.truncate(40 + 8);
            let (ty, code, word) = match error {
                // Code 4 of IPv4 (fragmentation needed) is IPv6's Packet
                // Too Big.
                IcmpError::Unreachable { code, mtu } if code % 16 == 4 => (2, 0, u32::from(mtu)),
                IcmpError::Unreachable { code, .. } => (1, code % 8, 0),
                IcmpError::TimeExceeded { code } => (3, code % 2, 0),
            };
            let mut l4 = vec![ty, code, 0, 0];
            l4.extend_from_slice(&word.to_be_bytes());
            l4.extend_from_slice(&quoted);
            ipv6_frame(macs, None, ends, ttl, PROTO_ICMPV6, l4)
        }
        AnswerKind::FromTerminal { .. } => return None,
    };
    Some((SRV, frame))
}

/// A TCP segment (window 8192, no options) or UDP datagram over IPv6
/// from `sport` to `dport`, its checksum left 0 (see [`ipv6_frame`]).
fn l4_v6(proto: u8, sport: u16, dport: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut l4 = Vec::with_capacity(20 + payload.len());
    l4.extend_from_slice(&sport.to_be_bytes());
    l4.extend_from_slice(&dport.to_be_bytes());
    if proto == PROTO_TCP {
        l4.extend_from_slice(&7u32.to_be_bytes());
        l4.extend_from_slice(&8u32.to_be_bytes());
        l4.extend_from_slice(&[0x50, flags]);
        l4.extend_from_slice(&8192u16.to_be_bytes());
        l4.extend_from_slice(&[0; 4]);
    } else {
        let len = u16::try_from(8 + payload.len()).unwrap_or(u16::MAX);
        l4.extend_from_slice(&len.to_be_bytes());
        l4.extend_from_slice(&[0; 2]);
    }
    l4.extend_from_slice(payload);
    l4
}

/// An ICMPv6 echo request (128) or reply (129), its checksum left 0.
fn echo_v6(ty: u8, ident: u16, data: &[u8]) -> Vec<u8> {
    let mut l4 = vec![ty, 0, 0, 0];
    l4.extend_from_slice(&ident.to_be_bytes());
    l4.extend_from_slice(&1u16.to_be_bytes());
    l4.extend_from_slice(data);
    l4
}

/// An IPv6 packet `(src, dst)` carrying the upper-layer `l4` of `proto`
/// (TCP, UDP or ICMPv6: its checksum, 0 in `l4`, computed over the pseudo
/// header).
pub fn ipv6_packet(
    (src, dst): (Ipv6Addr, Ipv6Addr),
    hop_limit: u8,
    proto: u8,
    l4: &[u8],
) -> Vec<u8> {
    let mut l4 = l4.to_vec();
    let at = match proto {
        PROTO_TCP => Some(16),
        PROTO_UDP => Some(6),
        PROTO_ICMPV6 => Some(2),
        _ => None,
    };
    if let Some(at) = at.filter(|&at| l4.len() >= at + 2) {
        let mut c = l4_checksum_v6(src, dst, proto, &l4);
        if proto == PROTO_UDP {
            c = udp_wire_value(c);
        }
        l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
    }
    let mut p = Vec::with_capacity(40 + l4.len());
    p.extend_from_slice(&[0x60, 0, 0, 0]);
    p.extend_from_slice(&u16::try_from(l4.len()).unwrap_or(u16::MAX).to_be_bytes());
    p.extend_from_slice(&[proto, hop_limit]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(&l4);
    p
}

/// An Ethernet frame (`macs`: source, destination; optionally tagged)
/// carrying [`ipv6_packet`].
pub fn ipv6_frame(
    (src_mac, dst_mac): ([u8; 6], [u8; 6]),
    vlan: Option<u16>,
    ends: (Ipv6Addr, Ipv6Addr),
    hop_limit: u8,
    proto: u8,
    l4: Vec<u8>,
) -> Vec<u8> {
    let mut f = Vec::with_capacity(18 + 40 + l4.len());
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&src_mac);
    if let Some(v) = vlan {
        f.extend_from_slice(&0x8100u16.to_be_bytes());
        f.extend_from_slice(&(v & 0x0fff).to_be_bytes());
    }
    f.extend_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
    f.extend_from_slice(&ipv6_packet(ends, hop_limit, proto, &l4));
    f
}

/// Replaces one byte (position taken modulo the length).
pub fn flip(frame: &mut [u8], flip: Option<(u16, u8)>) {
    if let (Some((at, value)), false) = (flip, frame.is_empty()) {
        let i = usize::from(at) % frame.len();
        frame[i] = value;
    }
}
