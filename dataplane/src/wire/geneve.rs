//! Geneve (RFC 8926): the encapsulation of the cluster fabric (issue 12).
//! A tier-1 unit whose session belongs to a gateway on another appliance
//! wraps the terminal's Ethernet frame in outer Ethernet + IPv4 + UDP +
//! Geneve and sends it to that gateway's fabric port; the gateway checks
//! everything here before it believes a byte of it.
//!
//! Every fabric packet carries one **Tandem option** (class
//! [`TANDEM_OPTION_CLASS`] = 0xFFF0, the first of RFC 8926's
//! "Experimental Use" range 0xFFF0–0xFFFF; type [`TANDEM_OPTION_TYPE`] =
//! 0x81, i.e. type 1 with the critical bit, so a Geneve receiver that does
//! not know it drops the packet instead of ignoring the hop count). Its 20
//! data bytes, big-endian:
//!
//! | bytes | field |
//! |---|---|
//! | 0–3 | appliance ID (`cluster.appliance_id`, up to 42 000 000): the ingress tier-1 unit of an uplink frame, the sending gateway's appliance of a downlink frame |
//! | 4–5 | I/O point: the access port (DPDK port index) on the tier-1 unit the terminal is behind |
//! | 6 | hop count (0 from tier 1; 1 after one second-chance forward) |
//! | 7 | flags: bit 0 ([`TANDEM_FLAG_TO_TIER1`]) = downlink, gateway → tier-1 unit; other bits sent 0, ignored |
//! | 8–15 | steering table generation of the sender |
//! | 16–19 | uplink: the gateway the session is draining from at the tier-1 unit (after a move or a drain), 0 if none; the gateway gives a packet it has no user session for a second chance there |
//!
//! UDP checksum: sent as 0 over the IPv4 outer header, as RFC 8926
//! section 3.3 allows (and Linux's Geneve does by default): the inner
//! frame keeps its own checksums and the outer IPv4 header is checked, so
//! a pass over the payload per packet buys nothing. A received non-zero
//! checksum is verified. The outer packet has DF set: the fabric never
//! fragments (issue 12 checks the fabric MTU at start).
//!
//! Used by the pipeline's fabric stage (`pipeline/fabric.rs`).

use super::bytes::{read_u16, read_u32, write_u16, write_u32};
use super::checksum;
use super::{
    EthernetFrame, EthernetRepr, Ipv4Packet, Ipv4Repr, MacAddr, ETHERNET_HEADER_LEN,
    ETHERTYPE_IPV4, IPV4_HEADER_LEN, PROTO_UDP, UDP_HEADER_LEN,
};
use std::fmt;
use std::net::Ipv4Addr;

/// IANA's Geneve port; Tandem uses one port per gateway (`Remote { addr,
/// port }`), so the port a fabric packet must arrive on is a parameter.
pub const GENEVE_PORT: u16 = 6081;
/// The fixed Geneve header.
pub const GENEVE_HEADER_LEN: usize = 8;
/// Protocol type of an Ethernet frame payload ("Transparent Ethernet
/// Bridging").
pub const GENEVE_PROTO_ETHERNET: u16 = 0x6558;
/// The Tandem option's class and type (critical).
pub const TANDEM_OPTION_CLASS: u16 = 0xfff0;
pub const TANDEM_OPTION_TYPE: u8 = 0x81;
/// The Tandem option's data length, and with its 4-byte option header.
pub const TANDEM_OPTION_DATA_LEN: usize = 20;
pub const TANDEM_OPTION_LEN: usize = 4 + TANDEM_OPTION_DATA_LEN;
/// Flag bit of the option: the frame goes from a gateway back to the
/// tier-1 unit (downlink), not to a gateway.
pub const TANDEM_FLAG_TO_TIER1: u8 = 0x01;
/// How many options a header may carry before it is refused.
pub const MAX_GENEVE_OPTIONS: usize = 8;
/// The largest hop count a receiver accepts: one second-chance forward.
pub const MAX_HOP_COUNT: u8 = 1;
/// Bytes `encapsulate` writes in front of the inner frame: Ethernet 14,
/// IPv4 20, UDP 8, Geneve 8, Tandem option 24.
pub const GENEVE_ENCAP_LEN: usize =
    ETHERNET_HEADER_LEN + IPV4_HEADER_LEN + UDP_HEADER_LEN + GENEVE_HEADER_LEN + TANDEM_OPTION_LEN;
/// The first 12 bytes of the Geneve header `encapsulate` writes: version
/// 0, 24 bytes of options, the critical-options flag, Ethernet, VNI 0,
/// then the Tandem option's header (class, type, 5 words of data).
const TANDEM_GENEVE_PREFIX: [u8; 12] = [
    (TANDEM_OPTION_LEN / 4) as u8,
    FLAG_CRITICAL,
    (GENEVE_PROTO_ETHERNET >> 8) as u8,
    GENEVE_PROTO_ETHERNET as u8,
    0,
    0,
    0,
    0,
    (TANDEM_OPTION_CLASS >> 8) as u8,
    TANDEM_OPTION_CLASS as u8,
    TANDEM_OPTION_TYPE,
    (TANDEM_OPTION_DATA_LEN / 4) as u8,
];
/// Outer source ports come from the ephemeral range 49152–65535.
const EPHEMERAL_BASE: u16 = 0xc000;

const VER_OPTLEN: usize = 0;
const FLAGS: usize = 1;
const PROTOCOL: usize = 2;
const VNI: usize = 4;
const FLAG_OAM: u8 = 0x80;
const FLAG_CRITICAL: u8 = 0x40;
const OPTION_CRITICAL: u8 = 0x80;

/// Why a fabric packet was refused. Each variant is a drop reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GeneveError {
    /// A header (outer or Geneve) or what it declares runs past the buffer.
    Truncated,
    /// Not IPv4/UDP to the expected port, a bad outer IPv4 header or
    /// checksum, an outer fragment, or a protocol type other than Ethernet.
    NotGeneve,
    /// Geneve version is not 0.
    BadVersion,
    /// The O bit: a control message, not a data packet.
    ControlMessage,
    /// A non-zero UDP checksum that does not verify.
    BadChecksum,
    /// An option runs past the option length, or too many options, or a
    /// Tandem option of the wrong length or present twice.
    BadOption,
    /// An option with the critical bit that is not the Tandem option.
    UnknownCriticalOption,
    /// No Tandem option: not from a Tandem tier-1 unit.
    MissingTandemOption,
    /// Hop count above [`MAX_HOP_COUNT`]: a forward loop.
    HopCountExceeded,
    /// The output buffer has no room for the outer headers.
    BufferTooSmall,
}

impl GeneveError {
    /// Every variant, for registering one counter per reason up front.
    pub const ALL: [GeneveError; 10] = [
        GeneveError::Truncated,
        GeneveError::NotGeneve,
        GeneveError::BadVersion,
        GeneveError::ControlMessage,
        GeneveError::BadChecksum,
        GeneveError::BadOption,
        GeneveError::UnknownCriticalOption,
        GeneveError::MissingTandemOption,
        GeneveError::HopCountExceeded,
        GeneveError::BufferTooSmall,
    ];

    /// The snake_case drop-reason label.
    pub const fn reason(&self) -> &'static str {
        match self {
            GeneveError::Truncated => "geneve_truncated",
            GeneveError::NotGeneve => "geneve_not_geneve",
            GeneveError::BadVersion => "geneve_bad_version",
            GeneveError::ControlMessage => "geneve_control_message",
            GeneveError::BadChecksum => "geneve_bad_checksum",
            GeneveError::BadOption => "geneve_bad_option",
            GeneveError::UnknownCriticalOption => "geneve_unknown_critical_option",
            GeneveError::MissingTandemOption => "geneve_missing_tandem_option",
            GeneveError::HopCountExceeded => "geneve_hop_count_exceeded",
            GeneveError::BufferTooSmall => "geneve_buffer_too_small",
        }
    }
}

impl fmt::Display for GeneveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for GeneveError {}

/// A view of a Geneve header (the UDP payload). After `new_checked` the
/// fixed header and the options it declares are in the buffer.
#[derive(Debug, Clone)]
pub struct GenevePacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> GenevePacket<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        GenevePacket { buffer }
    }

    /// `Truncated` if the fixed header or its options are not all there.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, GeneveError> {
        let bytes = buffer.as_ref();
        if bytes.len() < GENEVE_HEADER_LEN {
            return Err(GeneveError::Truncated);
        }
        let packet = GenevePacket { buffer };
        if packet.payload_offset() > packet.buffer.as_ref().len() {
            return Err(GeneveError::Truncated);
        }
        Ok(packet)
    }

    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[VER_OPTLEN] >> 6
    }

    /// Length of the options in bytes (the field counts 4-byte words).
    #[inline]
    pub fn options_len(&self) -> usize {
        4 * usize::from(self.buffer.as_ref()[VER_OPTLEN] & 0x3f)
    }

    #[inline]
    pub fn is_oam(&self) -> bool {
        self.buffer.as_ref()[FLAGS] & FLAG_OAM != 0
    }

    #[inline]
    pub fn has_critical_options(&self) -> bool {
        self.buffer.as_ref()[FLAGS] & FLAG_CRITICAL != 0
    }

    #[inline]
    pub fn protocol_type(&self) -> u16 {
        read_u16(self.buffer.as_ref(), PROTOCOL)
    }

    #[inline]
    pub fn vni(&self) -> u32 {
        read_u32(self.buffer.as_ref(), VNI) >> 8
    }

    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[GENEVE_HEADER_LEN..self.payload_offset()]
    }

    /// Offset of the encapsulated frame.
    #[inline]
    pub fn payload_offset(&self) -> usize {
        GENEVE_HEADER_LEN + self.options_len()
    }

    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.payload_offset()..]
    }
}

/// The Geneve fixed header as plain values (version 0, never OAM).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GeneveRepr {
    /// 24 bits.
    pub vni: u32,
    pub protocol_type: u16,
    /// Bytes of options that follow; a multiple of 4, at most 252.
    pub options_len: usize,
    pub critical: bool,
}

impl GeneveRepr {
    pub fn parse<T: AsRef<[u8]>>(packet: &GenevePacket<T>) -> Result<Self, GeneveError> {
        if packet.version() != 0 {
            return Err(GeneveError::BadVersion);
        }
        if packet.is_oam() {
            return Err(GeneveError::ControlMessage);
        }
        Ok(GeneveRepr {
            vni: packet.vni(),
            protocol_type: packet.protocol_type(),
            options_len: packet.options_len(),
            critical: packet.has_critical_options(),
        })
    }

    /// Writes the 8-byte header; `BadOption` if `options_len` is not a
    /// multiple of 4 up to 252.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, GeneveError> {
        if !self.options_len.is_multiple_of(4) || self.options_len > 4 * 0x3f {
            return Err(GeneveError::BadOption);
        }
        let header = buf
            .get_mut(..GENEVE_HEADER_LEN)
            .ok_or(GeneveError::BufferTooSmall)?;
        header[VER_OPTLEN] = (self.options_len / 4) as u8;
        header[FLAGS] = if self.critical { FLAG_CRITICAL } else { 0 };
        write_u16(header, PROTOCOL, self.protocol_type);
        write_u32(header, VNI, (self.vni & 0x00ff_ffff) << 8);
        Ok(GENEVE_HEADER_LEN)
    }
}

/// The Tandem option's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TandemOption {
    pub appliance_id: u32,
    pub io_point: u16,
    pub hop_count: u8,
    /// [`TANDEM_FLAG_TO_TIER1`] or 0 (unknown bits are ignored on receipt).
    pub flags: u8,
    pub generation: u64,
    /// Uplink from a tier-1 unit: the gateway ID the session is draining
    /// from there (moved or drained away from it), 0 for none. The tier-1
    /// unit knows it from its own pins; a gateway on another appliance
    /// does not, and needs it for the second chance.
    pub draining_from: u32,
}

impl TandemOption {
    /// Reads the option data (the 20 bytes after the option header).
    fn parse(data: &[u8]) -> Result<Self, GeneveError> {
        match <&[u8; TANDEM_OPTION_DATA_LEN]>::try_from(data) {
            Ok(data) => Ok(Self::from_data(data)),
            Err(_) => Err(GeneveError::BadOption),
        }
    }

    /// The option data, known to be 20 bytes.
    #[inline(always)]
    fn from_data(data: &[u8; TANDEM_OPTION_DATA_LEN]) -> Self {
        let mut generation = [0u8; 8];
        generation.copy_from_slice(&data[8..16]);
        TandemOption {
            appliance_id: read_u32(data, 0),
            io_point: read_u16(data, 4),
            hop_count: data[6],
            flags: data[7] & TANDEM_FLAG_TO_TIER1,
            generation: u64::from_be_bytes(generation),
            draining_from: read_u32(data, 16),
        }
    }

    /// Writes the option, header included (24 bytes).
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, GeneveError> {
        let option = buf
            .get_mut(..TANDEM_OPTION_LEN)
            .ok_or(GeneveError::BufferTooSmall)?;
        write_u16(option, 0, TANDEM_OPTION_CLASS);
        option[2] = TANDEM_OPTION_TYPE;
        option[3] = (TANDEM_OPTION_DATA_LEN / 4) as u8;
        self.emit_data(&mut option[4..]);
        Ok(TANDEM_OPTION_LEN)
    }

    /// Writes the option's 20 data bytes (`data` is at least that long).
    #[inline(always)]
    fn emit_data(&self, data: &mut [u8]) {
        write_u32(data, 0, self.appliance_id);
        write_u16(data, 4, self.io_point);
        data[6] = self.hop_count;
        data[7] = self.flags & TANDEM_FLAG_TO_TIER1;
        data[8..16].copy_from_slice(&self.generation.to_be_bytes());
        write_u32(data, 16, self.draining_from);
    }
}

/// Walks `options` (at most [`MAX_GENEVE_OPTIONS`]) and returns the Tandem
/// option. `BadOption` for an option past the end, too many, or a second
/// or malformed Tandem option; `UnknownCriticalOption` for any other
/// option with the critical bit; `MissingTandemOption` if none.
pub fn find_tandem_option(options: &[u8]) -> Result<TandemOption, GeneveError> {
    let mut found = None;
    let mut offset = 0;
    let mut count = 0;
    while offset < options.len() {
        if count == MAX_GENEVE_OPTIONS {
            return Err(GeneveError::BadOption);
        }
        count += 1;
        let header = options
            .get(offset..offset + 4)
            .ok_or(GeneveError::BadOption)?;
        let (class, opt_type) = (read_u16(header, 0), header[2]);
        let len = 4 + 4 * usize::from(header[3] & 0x1f);
        let option = options
            .get(offset..offset + len)
            .ok_or(GeneveError::BadOption)?;
        if class == TANDEM_OPTION_CLASS && opt_type == TANDEM_OPTION_TYPE {
            if found.is_some() {
                return Err(GeneveError::BadOption);
            }
            found = Some(TandemOption::parse(&option[4..])?);
        } else if opt_type & OPTION_CRITICAL != 0 {
            return Err(GeneveError::UnknownCriticalOption);
        }
        offset += len;
    }
    found.ok_or(GeneveError::MissingTandemOption)
}

/// What `encapsulate` needs besides the inner frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GeneveEncap {
    pub src_mac: MacAddr,
    pub dst_mac: MacAddr,
    /// This appliance's fabric address.
    pub src_ip: Ipv4Addr,
    /// The gateway's fabric address and UDP port.
    pub dst_ip: Ipv4Addr,
    pub dst_port: u16,
    /// The session hash; the outer source port is drawn from it so the
    /// fabric's RSS/ECMP spreads sessions and keeps each in order.
    pub flow_hash: u32,
    pub vni: u32,
    pub option: TandemOption,
}

/// The outer UDP source port for `flow_hash`: in 49152–65535 (RFC 6335's
/// ephemeral range), mixing all 32 bits so hashes differing only in their
/// upper half still spread.
#[inline]
pub const fn outer_src_port(flow_hash: u32) -> u16 {
    let mixed = flow_hash ^ (flow_hash >> 16);
    EPHEMERAL_BASE | (mixed as u16 & 0x3fff)
}

/// Writes outer Ethernet + IPv4 + UDP + Geneve + Tandem option into the
/// [`GENEVE_ENCAP_LEN`] bytes before `inner_start` in `buf`, whose bytes
/// from `inner_start` on are the inner Ethernet frame (the mbuf's headroom
/// holds the outer headers, so the inner frame is never copied). Returns
/// where the outer frame starts. IPv4: TTL 64, DF set, ident 0; UDP
/// checksum 0 (see the module doc).
///
/// `BufferTooSmall` if `inner_start` < [`GENEVE_ENCAP_LEN`] or past the
/// buffer; `NotGeneve` if the outer packet would exceed 65535 bytes.
pub fn encapsulate(
    buf: &mut [u8],
    inner_start: usize,
    encap: &GeneveEncap,
) -> Result<usize, GeneveError> {
    if inner_start < GENEVE_ENCAP_LEN || inner_start > buf.len() {
        return Err(GeneveError::BufferTooSmall);
    }
    let start = inner_start - GENEVE_ENCAP_LEN;
    let inner_len = buf.len() - inner_start;
    let udp_len = UDP_HEADER_LEN + GENEVE_HEADER_LEN + TANDEM_OPTION_LEN + inner_len;
    let udp_len16 = u16::try_from(udp_len).map_err(|_| GeneveError::NotGeneve)?;
    let out = &mut buf[start..inner_start];
    let l3 = EthernetRepr {
        dst: encap.dst_mac,
        src: encap.src_mac,
        vlan: None,
        ethertype: ETHERTYPE_IPV4,
    }
    .emit(out)
    .map_err(|_| GeneveError::BufferTooSmall)?;
    let mut ip = Ipv4Repr::new(encap.src_ip, encap.dst_ip, PROTO_UDP, udp_len);
    ip.dont_fragment = true;
    let l4 = l3
        + ip.emit(&mut out[l3..])
            .map_err(|_| GeneveError::NotGeneve)?;
    let udp = &mut out[l4..l4 + UDP_HEADER_LEN];
    write_u16(udp, 0, outer_src_port(encap.flow_hash));
    write_u16(udp, 2, encap.dst_port);
    write_u16(udp, 4, udp_len16);
    write_u16(udp, 6, 0);
    let geneve = l4 + UDP_HEADER_LEN;
    GeneveRepr {
        vni: encap.vni,
        protocol_type: GENEVE_PROTO_ETHERNET,
        options_len: TANDEM_OPTION_LEN,
        critical: true,
    }
    .emit(&mut out[geneve..])?;
    encap.option.emit(&mut out[geneve + GENEVE_HEADER_LEN..])?;
    Ok(start)
}

/// The outer headers [`encapsulate`] writes for one destination (outer
/// MACs, addresses, UDP destination port), kept to be written again for
/// every packet to it: one copy of the 74 bytes, then only what changes
/// from packet to packet is patched (the IPv4 total length and header
/// checksum, the UDP source port and length, the Tandem option's data).
/// The IPv4 header checksum comes from the sum of the header's other
/// words, taken once. The result is byte for byte what `encapsulate`
/// writes for the same values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GeneveTemplate {
    bytes: [u8; GENEVE_ENCAP_LEN],
    /// The one's-complement sum of the IPv4 header's words without its
    /// total length and checksum.
    ip_partial_sum: u16,
}

/// Offsets in the outer headers: IPv4 total length and checksum, UDP
/// source port and length, the Tandem option's data.
const T_IP: usize = ETHERNET_HEADER_LEN;
const T_IP_TOTAL_LEN: usize = T_IP + 2;
const T_IP_CHECKSUM: usize = T_IP + 10;
const T_UDP: usize = T_IP + IPV4_HEADER_LEN;
const T_OPTION_DATA: usize = GENEVE_ENCAP_LEN - TANDEM_OPTION_DATA_LEN;

impl GeneveTemplate {
    /// A template of nothing (all zero), for an empty cache slot.
    pub const EMPTY: GeneveTemplate = GeneveTemplate {
        bytes: [0; GENEVE_ENCAP_LEN],
        ip_partial_sum: 0,
    };

    /// The template of outer headers as `encapsulate` wrote them (the
    /// first [`GENEVE_ENCAP_LEN`] bytes of `outer`, the MACs included);
    /// `None` if `outer` is shorter.
    pub fn from_outer(outer: &[u8]) -> Option<GeneveTemplate> {
        let bytes: [u8; GENEVE_ENCAP_LEN] = *outer.first_chunk()?;
        // Every word of the IPv4 header but the two that change.
        let mut header = [0u8; IPV4_HEADER_LEN];
        header.copy_from_slice(&bytes[T_IP..T_UDP]);
        write_u16(&mut header, 2, 0);
        write_u16(&mut header, 10, 0);
        let ip_partial_sum = checksum::sum(&header);
        Some(GeneveTemplate {
            bytes,
            ip_partial_sum,
        })
    }

    /// The outer headers for an inner frame of `inner_len` bytes, the
    /// session hash `flow_hash` and `option`, into `out` (the bytes before
    /// the inner frame). `NotGeneve` if the outer packet would exceed
    /// 65535 bytes, as `encapsulate` says.
    #[inline]
    pub fn write(
        &self,
        out: &mut [u8; GENEVE_ENCAP_LEN],
        inner_len: usize,
        flow_hash: u32,
        option: &TandemOption,
    ) -> Result<(), GeneveError> {
        let udp_len = UDP_HEADER_LEN + GENEVE_HEADER_LEN + TANDEM_OPTION_LEN + inner_len;
        let ip_len =
            u16::try_from(IPV4_HEADER_LEN + udp_len).map_err(|_| GeneveError::NotGeneve)?;
        *out = self.bytes;
        write_u16(out, T_IP_TOTAL_LEN, ip_len);
        let csum = !checksum::add(self.ip_partial_sum, ip_len);
        write_u16(out, T_IP_CHECKSUM, csum);
        write_u16(out, T_UDP, outer_src_port(flow_hash));
        write_u16(out, T_UDP + 4, ip_len - IPV4_HEADER_LEN as u16);
        option.emit_data(&mut out[T_OPTION_DATA..]);
        Ok(())
    }
}

/// What `decapsulate` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decapsulated {
    pub option: TandemOption,
    pub vni: u32,
    /// The sending appliance's fabric address and UDP source port.
    pub outer_src: Ipv4Addr,
    pub outer_src_port: u16,
    /// Where the inner Ethernet frame starts in the buffer, and its length
    /// (up to the UDP length; outer padding excluded).
    pub inner_offset: usize,
    pub inner_len: usize,
}

/// Validates a fabric frame received on `port`: outer Ethernet (VLAN
/// allowed), IPv4 with a right header checksum and no fragmentation, UDP
/// to `port` with a length that fits and a checksum that is 0 or right,
/// Geneve version 0, not OAM, carrying Ethernet, options well formed, no
/// unknown critical option, exactly one Tandem option with hop count at
/// most 1, and an inner frame at least an Ethernet header long.
///
/// Anyone can write a Tandem option: whether `outer_src` is a member of
/// the cluster (and the option's appliance ID is that member's) is the
/// caller's check, against the membership it learned from etcd.
pub fn decapsulate(frame: &[u8], port: u16) -> Result<Decapsulated, GeneveError> {
    let eth = EthernetFrame::new_checked(frame).map_err(|_| GeneveError::Truncated)?;
    if eth.ethertype() != ETHERTYPE_IPV4 {
        return Err(GeneveError::NotGeneve);
    }
    let l3 = eth.payload_offset();
    let ip = Ipv4Packet::new_checked(&frame[l3..]).map_err(|_| GeneveError::NotGeneve)?;
    if ip.is_fragment() {
        return Err(GeneveError::NotGeneve);
    }
    let outer = OuterIpv4 {
        start: l3,
        header_len: ip.header_len(),
        end: l3 + ip.total_len(),
        src: ip.src(),
        dst: ip.dst(),
    };
    decapsulate_after_ipv4(frame, &outer, port)
}

/// The outer IPv4 header of a fabric frame as its caller already read and
/// checked it in `frame` (the pipeline's frame record): version 4, an IHL
/// of at least 20 bytes, a total length within the frame, not a fragment.
/// Its protocol and header checksum are [`decapsulate_after_ipv4`]'s to
/// check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OuterIpv4 {
    /// Offset of the IPv4 header in the frame, its length, and the offset
    /// of the packet's end (its total length).
    pub start: usize,
    pub header_len: usize,
    pub end: usize,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
}

/// [`decapsulate`] for a frame whose outer Ethernet and IPv4 headers the
/// caller has read (`outer`): the rest of the checks, in the same order
/// (protocol and IPv4 header checksum, UDP, Geneve, the options). The
/// options are walked once; the common case, exactly one option and it
/// the Tandem option, is read without the general walk.
#[inline]
pub fn decapsulate_after_ipv4(
    frame: &[u8],
    outer: &OuterIpv4,
    port: u16,
) -> Result<Decapsulated, GeneveError> {
    let l4 = outer.start + outer.header_len;
    let (Some(header), Some(udp)) = (frame.get(outer.start..l4), frame.get(l4..outer.end)) else {
        return Err(GeneveError::NotGeneve);
    };
    if header.get(9) != Some(&PROTO_UDP) || !checksum::verifies(header) {
        return Err(GeneveError::NotGeneve);
    }
    if udp.len() < UDP_HEADER_LEN {
        return Err(GeneveError::Truncated);
    }
    if read_u16(udp, 2) != port {
        return Err(GeneveError::NotGeneve);
    }
    let udp_len = usize::from(read_u16(udp, 4));
    if udp_len < UDP_HEADER_LEN + GENEVE_HEADER_LEN || udp_len > udp.len() {
        return Err(GeneveError::Truncated);
    }
    let udp = &udp[..udp_len];
    if read_u16(udp, 6) != 0 && !checksum::l4_verifies(outer.src, outer.dst, PROTO_UDP, udp) {
        return Err(GeneveError::BadChecksum);
    }
    // Geneve: the fixed header (present: udp_len >= 16), then what it
    // declares.
    let geneve = &udp[UDP_HEADER_LEN..];
    // What every Tandem sends (`encapsulate`: VNI 0, one option, the
    // Tandem option) is recognised by one compare of its first 12 bytes
    // and read at fixed offsets; it passes every check below, in the same
    // order. Anything else takes the checks one by one.
    if let Some(g) = geneve.first_chunk::<{ GENEVE_HEADER_LEN + TANDEM_OPTION_LEN }>() {
        if let (Some(fixed), Some(data)) = (g.first_chunk::<12>(), g.last_chunk()) {
            if *fixed == TANDEM_GENEVE_PREFIX {
                let option = TandemOption::from_data(data);
                return accepted(option, l4, udp, g.len(), outer.src);
            }
        }
    }
    let payload_offset = GENEVE_HEADER_LEN + 4 * usize::from(geneve[VER_OPTLEN] & 0x3f);
    if payload_offset > geneve.len() {
        return Err(GeneveError::Truncated);
    }
    if geneve[VER_OPTLEN] >> 6 != 0 {
        return Err(GeneveError::BadVersion);
    }
    if geneve[FLAGS] & FLAG_OAM != 0 {
        return Err(GeneveError::ControlMessage);
    }
    if read_u16(geneve, PROTOCOL) != GENEVE_PROTO_ETHERNET {
        return Err(GeneveError::NotGeneve);
    }
    let options = &geneve[GENEVE_HEADER_LEN..payload_offset];
    // Exactly one option, the Tandem option of the right length, is read
    // directly; anything else is walked.
    let option = if options.len() == TANDEM_OPTION_LEN
        && read_u16(options, 0) == TANDEM_OPTION_CLASS
        && options[2] == TANDEM_OPTION_TYPE
        && usize::from(options[3] & 0x1f) * 4 == TANDEM_OPTION_DATA_LEN
    {
        TandemOption::parse(&options[4..])?
    } else {
        find_tandem_option(options)?
    };
    accepted(option, l4, udp, payload_offset, outer.src)
}

/// The last checks of [`decapsulate_after_ipv4`] (hop count, an inner
/// frame at least an Ethernet header long) on the option found in the
/// Geneve header of `udp` (the UDP datagram at `l4`, cut at its length),
/// whose inner frame starts `payload_offset` bytes into the Geneve header.
#[inline(always)]
fn accepted(
    option: TandemOption,
    l4: usize,
    udp: &[u8],
    payload_offset: usize,
    outer_src: Ipv4Addr,
) -> Result<Decapsulated, GeneveError> {
    if option.hop_count > MAX_HOP_COUNT {
        return Err(GeneveError::HopCountExceeded);
    }
    let inner_offset = l4 + UDP_HEADER_LEN + payload_offset;
    let inner_len = udp.len() - UDP_HEADER_LEN - payload_offset;
    if inner_len < ETHERNET_HEADER_LEN {
        return Err(GeneveError::Truncated);
    }
    Ok(Decapsulated {
        option,
        vni: read_u32(udp, UDP_HEADER_LEN + VNI) >> 8,
        outer_src,
        outer_src_port: read_u16(udp, 0),
        inner_offset,
        inner_len,
    })
}

#[cfg(test)]
#[path = "geneve_tests.rs"]
mod tests;
