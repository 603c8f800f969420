//! What a synthetic workload sends: terminals, their flows, the order of
//! the packets and the bytes of each frame.
//!
//! Terminal `i` has address `terminal_base + 1 + i`; its flow `j` uses
//! source port `1024 + j`, so every flow is a distinct 5-tuple. Flows are
//! numbered so that consecutive flows belong to different terminals
//! (flow `k` is flow `k / terminals` of terminal `k % terminals`), and
//! packet `n` belongs to flow `n % flows`: the packets go round-robin over
//! all flows, as a loaded link interleaves them.
//!
//! Established workload: the first packet of a TCP flow is a SYN, its later
//! ones are ACK/PSH data segments with advancing sequence numbers; a UDP
//! flow sends datagrams. Churn workload: every packet is the first of its
//! flow (a SYN, or a datagram), so almost every packet opens a user session.

use dataplane::wire::frames::{gtpu_encap, tcp_frame, udp_frame};
use dataplane::wire::{
    FrameSpec, MacAddr, TcpFlags, WireError, ETHERNET_HEADER_LEN, GTPU_HEADER_LEN, GTPU_PORT,
    IPV4_HEADER_LEN, TCP_HEADER_LEN, UDP_HEADER_LEN,
};
use std::net::Ipv4Addr;

/// Source port of each terminal's first flow.
pub const FIRST_SOURCE_PORT: u16 = 1024;
/// Flows one terminal can have: one per source port from 1024 up.
pub const MAX_FLOWS_PER_TERMINAL: u32 = 65_536 - FIRST_SOURCE_PORT as u32;
/// Frame sizes accepted (bytes of the frame as captured, without FCS).
pub const MIN_FRAME_SIZE: usize = 64;
pub const MAX_FRAME_SIZE: usize = 1500;
/// Source MAC of every frame: the router of the terminals' I/O point.
pub const SOURCE_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0xaa, 0x01]);
/// Destination MAC of every frame. Tandem does not check the destination
/// MAC of what it receives, and `net_pcap` delivers every frame, so any
/// unicast address does.
pub const DEST_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0x00, 0x01]);
/// The acknowledgement number data segments carry (the server's ISN + 1).
pub const SERVER_ISN: u32 = 0x5eed_0000;
/// Window of every TCP segment.
pub const WINDOW: u16 = 65_535;
/// Timestamp of the first frame (microseconds since the epoch); frames are
/// one microsecond apart. Fixed so equal arguments give equal files.
pub const START_US: u64 = 1_700_000_000_000_000;

const TCP_HEADERS: usize = ETHERNET_HEADER_LEN + IPV4_HEADER_LEN + TCP_HEADER_LEN;
const UDP_HEADERS: usize = ETHERNET_HEADER_LEN + IPV4_HEADER_LEN + UDP_HEADER_LEN;
const GTPU_OVERHEAD: usize = IPV4_HEADER_LEN + UDP_HEADER_LEN + GTPU_HEADER_LEN;

/// GTP-U encapsulation: every terminal behind one tunnel peer, with its own
/// TEID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gtpu {
    /// Outer source: the base station.
    pub peer: Ipv4Addr,
    /// Outer destination: Tandem's access address.
    pub endpoint: Ipv4Addr,
    /// TEID of terminal 0; terminal `i` has `teid_base + i`.
    pub teid_base: u32,
}

/// Everything that decides the frames of a workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workload {
    pub terminals: u32,
    pub flows_per_terminal: u32,
    /// Share of flows that are UDP, in percent (spread evenly).
    pub udp_percent: u8,
    pub frame_size: usize,
    pub vip: Ipv4Addr,
    pub vip_port: u16,
    /// Terminal `i` is `terminal_base + 1 + i`.
    pub terminal_base: Ipv4Addr,
    pub gtpu: Option<Gtpu>,
    /// Every packet opens its flow (see the module comment).
    pub churn: bool,
    /// Frames in the file.
    pub packets: u64,
    /// Varies TCP initial sequence numbers and payload bytes.
    pub seed: u64,
}

/// Why a workload cannot be generated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkloadError {
    #[error("--terminals must be at least 1")]
    NoTerminals,
    #[error("--flows-per-terminal must be 1 to {MAX_FLOWS_PER_TERMINAL} (one source port each)")]
    FlowsPerTerminal,
    #[error("--udp-percent must be 0 to 100")]
    UdpPercent,
    #[error("--frame-size must be {MIN_FRAME_SIZE} to {MAX_FRAME_SIZE}")]
    FrameSizeRange,
    #[error("--frame-size {size} is below the {needed} bytes of headers this workload needs")]
    FrameSizeHeaders { size: usize, needed: usize },
    #[error("--terminal-base {base} plus {terminals} terminals runs past 255.255.255.255")]
    TerminalRange { base: Ipv4Addr, terminals: u32 },
    #[error("--teid-base plus {terminals} terminals runs past 0xffffffff")]
    TeidRange { terminals: u32 },
    #[error("--packets must be at least 1")]
    NoPackets,
    #[error("building frame {packet}: {error}")]
    Frame { packet: u64, error: WireError },
}

/// One flow: a distinct 5-tuple from one terminal to the VIP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flow {
    pub index: u64,
    pub udp: bool,
    pub terminal_index: u32,
    pub terminal: Ipv4Addr,
    pub src_port: u16,
    /// The terminal's TEID (0 without GTP-U).
    pub teid: u32,
    /// Initial sequence number of a TCP flow.
    pub isn: u32,
}

/// What one frame is, besides its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet {
    pub flow: Flow,
    /// The first packet of its flow (SYN or first datagram).
    pub opening: bool,
    /// Which packet of its flow this is (0 = the opening one).
    pub round: u64,
}

/// SplitMix64: a small, well-mixing step for seeded values.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Workload {
    /// Checks the settings; `Ok` means every frame can be built.
    pub fn validate(&self) -> Result<(), WorkloadError> {
        if self.terminals == 0 {
            return Err(WorkloadError::NoTerminals);
        }
        if self.flows_per_terminal == 0 || self.flows_per_terminal > MAX_FLOWS_PER_TERMINAL {
            return Err(WorkloadError::FlowsPerTerminal);
        }
        if self.udp_percent > 100 {
            return Err(WorkloadError::UdpPercent);
        }
        if !(MIN_FRAME_SIZE..=MAX_FRAME_SIZE).contains(&self.frame_size) {
            return Err(WorkloadError::FrameSizeRange);
        }
        let needed = self.min_frame_size();
        if self.frame_size < needed {
            return Err(WorkloadError::FrameSizeHeaders {
                size: self.frame_size,
                needed,
            });
        }
        let last = u64::from(u32::from(self.terminal_base)) + u64::from(self.terminals);
        if last > u64::from(u32::MAX) {
            return Err(WorkloadError::TerminalRange {
                base: self.terminal_base,
                terminals: self.terminals,
            });
        }
        if let Some(g) = self.gtpu {
            if u64::from(g.teid_base) + u64::from(self.terminals) - 1 > u64::from(u32::MAX) {
                return Err(WorkloadError::TeidRange {
                    terminals: self.terminals,
                });
            }
        }
        if self.packets == 0 {
            return Err(WorkloadError::NoPackets);
        }
        Ok(())
    }

    /// The smallest frame every packet of this workload fits in.
    pub fn min_frame_size(&self) -> usize {
        let tunnel = if self.gtpu.is_some() {
            GTPU_OVERHEAD
        } else {
            0
        };
        let l4 = if self.udp_percent < 100 {
            TCP_HEADERS
        } else {
            UDP_HEADERS
        };
        l4 + tunnel
    }

    /// Distinct flows (5-tuples).
    pub fn flows(&self) -> u64 {
        u64::from(self.terminals) * u64::from(self.flows_per_terminal)
    }

    /// Whether flow `k` is UDP: `udp_percent` of the flows, spread evenly.
    fn is_udp(&self, k: u64) -> bool {
        let p = u64::from(self.udp_percent);
        (k + 1) * p / 100 > k * p / 100
    }

    /// Flow `k` (`k < flows()`).
    pub fn flow(&self, k: u64) -> Flow {
        let n = u64::from(self.terminals.max(1));
        let terminal_index = (k % n) as u32;
        let j = (k / n) as u16;
        Flow {
            index: k,
            udp: self.is_udp(k),
            terminal_index,
            terminal: Ipv4Addr::from(
                u32::from(self.terminal_base)
                    .wrapping_add(1)
                    .wrapping_add(terminal_index),
            ),
            src_port: FIRST_SOURCE_PORT.wrapping_add(j),
            teid: self
                .gtpu
                .map_or(0, |g| g.teid_base.wrapping_add(terminal_index)),
            isn: mix(self.seed ^ k.wrapping_mul(0x1000_0000_01b3)) as u32,
        }
    }

    /// What packet `n` is.
    pub fn packet(&self, n: u64) -> Packet {
        let flows = self.flows().max(1);
        let round = n / flows;
        Packet {
            flow: self.flow(n % flows),
            opening: self.churn || round == 0,
            round,
        }
    }

    /// Payload bytes of a data packet (every frame is `frame_size` long).
    pub fn payload_len(&self, udp: bool) -> usize {
        let headers = if udp { UDP_HEADERS } else { TCP_HEADERS };
        let tunnel = if self.gtpu.is_some() {
            GTPU_OVERHEAD
        } else {
            0
        };
        self.frame_size.saturating_sub(headers + tunnel)
    }

    /// The bytes of frame `n`: exactly `frame_size` long, all checksums
    /// right. A SYN carries no data; Ethernet padding fills its frame.
    pub fn frame(&self, n: u64) -> Result<Vec<u8>, WorkloadError> {
        let p = self.packet(n);
        let f = p.flow;
        let fail = |error| WorkloadError::Frame { packet: n, error };
        let spec = FrameSpec {
            src_mac: SOURCE_MAC,
            dst_mac: DEST_MAC,
            vlan: None,
            src_ip: f.terminal,
            dst_ip: self.vip,
            src_port: f.src_port,
            dst_port: self.vip_port,
            ttl: 64,
        };
        let payload_len = self.payload_len(f.udp);
        let fill = mix(self.seed.wrapping_add(n)) as u8;
        let payload: Vec<u8> = (0..payload_len)
            .map(|i| fill.wrapping_add(i as u8))
            .collect();
        let mut frame = if f.udp {
            udp_frame(&spec, &payload).map_err(fail)?
        } else if p.opening {
            tcp_frame(&spec, f.isn, 0, TcpFlags::SYN, WINDOW, &[]).map_err(fail)?
        } else {
            let sent = (p.round - 1).wrapping_mul(payload_len as u64) as u32;
            let seq = f.isn.wrapping_add(1).wrapping_add(sent);
            tcp_frame(
                &spec,
                seq,
                SERVER_ISN.wrapping_add(1),
                TcpFlags::ACK | TcpFlags::PSH,
                WINDOW,
                &payload,
            )
            .map_err(fail)?
        };
        if let Some(g) = self.gtpu {
            let outer = FrameSpec {
                src_ip: g.peer,
                dst_ip: g.endpoint,
                src_port: GTPU_PORT,
                dst_port: GTPU_PORT,
                ..spec
            };
            frame = gtpu_encap(&outer, f.teid, &frame[ETHERNET_HEADER_LEN..]).map_err(fail)?;
        }
        frame.resize(self.frame_size, 0);
        Ok(frame)
    }
}
