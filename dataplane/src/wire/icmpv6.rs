//! ICMPv6 messages (RFC 4443) and Neighbor Discovery's solicitation and
//! advertisement (RFC 4861): what an IPv6 appliance must read and answer
//! to be reachable at all (ND is IPv6's ARP) and to report errors.
//!
//! The checksum covers the IPv6 pseudo header, so the verify and fill
//! functions take the packet's addresses. `replies_v6` builds the answers;
//! the pipeline's `own_addresses_v6` uses them for a port's IPv6 addresses.

use super::bytes::{read_u16, read_u32, write_u16, write_u32};
use super::checksum;
use super::ipv6::{read_addr, PROTO_ICMPV6};
use super::MacAddr;
use std::fmt;
use std::net::Ipv6Addr;

/// Type, code, checksum and the 4-byte message body every message here has.
pub const ICMPV6_HEADER_LEN: usize = 8;

pub const ICMPV6_DEST_UNREACHABLE: u8 = 1;
pub const ICMPV6_PACKET_TOO_BIG: u8 = 2;
pub const ICMPV6_TIME_EXCEEDED: u8 = 3;
pub const ICMPV6_PARAMETER_PROBLEM: u8 = 4;
pub const ICMPV6_ECHO_REQUEST: u8 = 128;
pub const ICMPV6_ECHO_REPLY: u8 = 129;
pub const ICMPV6_NEIGHBOR_SOLICIT: u8 = 135;
pub const ICMPV6_NEIGHBOR_ADVERT: u8 = 136;

/// Destination-unreachable codes (RFC 4443 section 3.1).
pub const UNREACH6_NO_ROUTE: u8 = 0;
pub const UNREACH6_ADMIN_PROHIBITED: u8 = 1;
pub const UNREACH6_BEYOND_SCOPE: u8 = 2;
pub const UNREACH6_ADDRESS: u8 = 3;
pub const UNREACH6_PORT: u8 = 4;
/// Parameter-problem codes (RFC 4443 section 3.4).
pub const PARAM6_HEADER_FIELD: u8 = 0;
pub const PARAM6_NEXT_HEADER: u8 = 1;

/// NS/NA: header, then the 16-byte target address, then options.
pub const ND_MESSAGE_LEN: usize = ICMPV6_HEADER_LEN + 16;
/// Source / target link-layer address option types (RFC 4861 4.6.1).
pub const ND_OPT_SOURCE_LLADDR: u8 = 1;
pub const ND_OPT_TARGET_LLADDR: u8 = 2;
/// A link-layer address option for Ethernet: type, length 1, 6 bytes.
pub const ND_LLADDR_OPT_LEN: usize = 8;
/// How many options an NS/NA may carry before it is refused; a real one
/// carries one or two.
pub const MAX_ND_OPTIONS: usize = 8;
/// Hop limit ND messages are sent with and must arrive with (RFC 4861
/// 7.1.1): 255 proves they were not forwarded by a router.
pub const ND_HOP_LIMIT: u8 = 255;

/// NA flags in the first byte of the message body.
pub const NA_FLAG_ROUTER: u8 = 0x80;
pub const NA_FLAG_SOLICITED: u8 = 0x40;
pub const NA_FLAG_OVERRIDE: u8 = 0x20;

const TYPE: usize = 0;
const CODE: usize = 1;
const CHECKSUM: usize = 2;
const BODY: usize = 4;
const TARGET: usize = 8;

/// Why an ICMPv6 message could not be read or answered. Each variant is a
/// drop reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Icmpv6Error {
    /// Shorter than its type needs.
    Truncated,
    /// The checksum does not verify.
    BadChecksum,
    /// A type (or code) not handled here.
    UnsupportedType,
    /// An ND message that breaks RFC 4861 7.1: hop limit not 255, code
    /// not 0, multicast target, an option of length 0 or past the end,
    /// more than [`MAX_ND_OPTIONS`] options, or a solicitation from the
    /// unspecified address with a source link-layer option or not to a
    /// solicited-node group.
    BadNeighborDiscovery,
    /// An echo reply was asked for something that is not an echo request.
    NotEchoRequest,
    /// An advertisement was asked for something that is not a solicitation.
    NotNeighborSolicit,
    /// Never answer to or from a multicast or unspecified address where
    /// RFC 4443 2.4 (e) forbids it.
    NonUnicastAddress,
    /// Never send an ICMPv6 error about an ICMPv6 error (RFC 4443 2.4 e.1).
    ErrorAboutError,
    /// The frame is not Ethernet + IPv6, or carries extension headers
    /// where the answer is built without them.
    NotPlainIpv6,
    /// The output buffer cannot hold what is to be written.
    BufferTooSmall,
}

impl Icmpv6Error {
    /// Every variant, for registering one counter per reason up front.
    pub const ALL: [Icmpv6Error; 10] = [
        Icmpv6Error::Truncated,
        Icmpv6Error::BadChecksum,
        Icmpv6Error::UnsupportedType,
        Icmpv6Error::BadNeighborDiscovery,
        Icmpv6Error::NotEchoRequest,
        Icmpv6Error::NotNeighborSolicit,
        Icmpv6Error::NonUnicastAddress,
        Icmpv6Error::ErrorAboutError,
        Icmpv6Error::NotPlainIpv6,
        Icmpv6Error::BufferTooSmall,
    ];

    /// The snake_case drop-reason label.
    pub const fn reason(&self) -> &'static str {
        match self {
            Icmpv6Error::Truncated => "icmpv6_truncated",
            Icmpv6Error::BadChecksum => "icmpv6_bad_checksum",
            Icmpv6Error::UnsupportedType => "icmpv6_unsupported_type",
            Icmpv6Error::BadNeighborDiscovery => "icmpv6_bad_neighbor_discovery",
            Icmpv6Error::NotEchoRequest => "icmpv6_not_echo_request",
            Icmpv6Error::NotNeighborSolicit => "icmpv6_not_neighbor_solicit",
            Icmpv6Error::NonUnicastAddress => "icmpv6_non_unicast_address",
            Icmpv6Error::ErrorAboutError => "icmpv6_error_about_error",
            Icmpv6Error::NotPlainIpv6 => "icmpv6_not_plain_ipv6",
            Icmpv6Error::BufferTooSmall => "icmpv6_buffer_too_small",
        }
    }
}

impl fmt::Display for Icmpv6Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for Icmpv6Error {}

/// Whether `msg_type` is an error message (types 0-127, RFC 4443 2.1).
#[inline]
pub const fn is_error_type_v6(msg_type: u8) -> bool {
    msg_type < 128
}

/// A view of an ICMPv6 message (the IPv6 upper-layer payload). After
/// `new_checked` at least the 8-byte header is there.
#[derive(Debug, Clone)]
pub struct Icmpv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv6Packet<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Icmpv6Packet { buffer }
    }

    /// `Truncated` if shorter than 8 bytes, or an NS/NA shorter than 24.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, Icmpv6Error> {
        let bytes = buffer.as_ref();
        if bytes.len() < ICMPV6_HEADER_LEN {
            return Err(Icmpv6Error::Truncated);
        }
        let is_nd = matches!(
            bytes[TYPE],
            ICMPV6_NEIGHBOR_SOLICIT | ICMPV6_NEIGHBOR_ADVERT
        );
        if is_nd && bytes.len() < ND_MESSAGE_LEN {
            return Err(Icmpv6Error::Truncated);
        }
        Ok(Icmpv6Packet { buffer })
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    #[inline]
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[TYPE]
    }

    #[inline]
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[CODE]
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), CHECKSUM)
    }

    /// The 4 bytes after the checksum as one number.
    #[inline]
    pub fn body_word(&self) -> u32 {
        read_u32(self.buffer.as_ref(), BODY)
    }

    #[inline]
    pub fn echo_ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), BODY)
    }

    #[inline]
    pub fn echo_seq(&self) -> u16 {
        read_u16(self.buffer.as_ref(), BODY + 2)
    }

    /// The MTU of a Packet Too Big.
    #[inline]
    pub fn mtu(&self) -> u32 {
        self.body_word()
    }

    /// The pointer of a Parameter Problem.
    #[inline]
    pub fn pointer(&self) -> u32 {
        self.body_word()
    }

    /// Everything after the 8-byte header.
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[ICMPV6_HEADER_LEN..]
    }

    #[inline]
    pub fn is_error(&self) -> bool {
        is_error_type_v6(self.msg_type())
    }

    /// For an error message, the quoted packet (as much of the offending
    /// IPv6 packet as the sender included).
    #[inline]
    pub fn quoted(&self) -> Option<&[u8]> {
        self.is_error().then(|| self.data())
    }

    /// The target address of an NS or NA (`None` for other types).
    #[inline]
    pub fn nd_target(&self) -> Option<Ipv6Addr> {
        matches!(
            self.msg_type(),
            ICMPV6_NEIGHBOR_SOLICIT | ICMPV6_NEIGHBOR_ADVERT
        )
        .then(|| read_addr(self.buffer.as_ref(), TARGET))
    }

    /// The NA flags byte (router, solicited, override).
    #[inline]
    pub fn na_flags(&self) -> u8 {
        self.buffer.as_ref()[BODY]
    }

    #[inline]
    pub fn verify_checksum(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        checksum::l4_verifies_v6(src, dst, PROTO_ICMPV6, self.buffer.as_ref())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv6Packet<T> {
    #[inline]
    pub fn set_msg_type(&mut self, msg_type: u8) {
        self.buffer.as_mut()[TYPE] = msg_type;
    }

    #[inline]
    pub fn set_code(&mut self, code: u8) {
        self.buffer.as_mut()[CODE] = code;
    }

    #[inline]
    pub fn set_checksum(&mut self, csum: u16) {
        write_u16(self.buffer.as_mut(), CHECKSUM, csum);
    }

    #[inline]
    pub fn set_body_word(&mut self, word: u32) {
        write_u32(self.buffer.as_mut(), BODY, word);
    }

    /// Computes the checksum over pseudo header and the whole buffer.
    #[inline]
    pub fn fill_checksum(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        self.set_checksum(0);
        let csum = checksum::l4_checksum_v6(src, dst, PROTO_ICMPV6, self.buffer.as_ref());
        self.set_checksum(csum);
    }

    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[ICMPV6_HEADER_LEN..]
    }
}

/// The link-layer address options of an NS or NA, walked at most
/// [`MAX_ND_OPTIONS`] deep. `BadNeighborDiscovery` for an option of length
/// 0 (RFC 4861 4.6: "nodes MUST silently discard"), one that runs past the
/// message, or too many. Other option types are stepped over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NdOptions {
    pub source_lladdr: Option<MacAddr>,
    pub target_lladdr: Option<MacAddr>,
}

impl NdOptions {
    pub fn parse(options: &[u8]) -> Result<Self, Icmpv6Error> {
        let mut found = NdOptions::default();
        let mut offset = 0;
        let mut count = 0;
        while offset < options.len() {
            if count == MAX_ND_OPTIONS {
                return Err(Icmpv6Error::BadNeighborDiscovery);
            }
            count += 1;
            let header = options
                .get(offset..offset + 2)
                .ok_or(Icmpv6Error::BadNeighborDiscovery)?;
            let len = 8 * usize::from(header[1]);
            if len == 0 || offset + len > options.len() {
                return Err(Icmpv6Error::BadNeighborDiscovery);
            }
            let option = &options[offset..offset + len];
            let mac = || {
                let mut octets = [0u8; 6];
                octets.copy_from_slice(&option[2..8]);
                MacAddr(octets)
            };
            match option[0] {
                ND_OPT_SOURCE_LLADDR => found.source_lladdr = Some(mac()),
                ND_OPT_TARGET_LLADDR => found.target_lladdr = Some(mac()),
                _ => {}
            }
            offset += len;
        }
        Ok(found)
    }
}

/// The ICMPv6 messages the appliance reads and writes, as plain values.
/// Data after the header (echo payload, quoted packet) is not part of it;
/// for NS/NA the target and one link-layer address option are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icmpv6Repr {
    EchoRequest {
        ident: u16,
        seq: u16,
    },
    EchoReply {
        ident: u16,
        seq: u16,
    },
    DestUnreachable {
        code: u8,
    },
    PacketTooBig {
        mtu: u32,
    },
    TimeExceeded {
        code: u8,
    },
    ParamProblem {
        code: u8,
        pointer: u32,
    },
    NeighborSolicit {
        target: Ipv6Addr,
        source_lladdr: Option<MacAddr>,
    },
    NeighborAdvert {
        flags: u8,
        target: Ipv6Addr,
        target_lladdr: Option<MacAddr>,
    },
}

impl Icmpv6Repr {
    /// Reads a message sent from `src` to `dst`: `BadChecksum` if the
    /// checksum is wrong, `UnsupportedType` for other types, and for NS/NA
    /// the checks of RFC 4861 7.1.1/7.1.2 that need only the message
    /// (code 0, target not multicast, options well formed; the hop limit
    /// is the IPv6 header's, see [`check_nd_hop_limit`]).
    pub fn parse<T: AsRef<[u8]>>(
        packet: &Icmpv6Packet<T>,
        src: Ipv6Addr,
        dst: Ipv6Addr,
    ) -> Result<Self, Icmpv6Error> {
        if !packet.verify_checksum(src, dst) {
            return Err(Icmpv6Error::BadChecksum);
        }
        let code = packet.code();
        Ok(match packet.msg_type() {
            ICMPV6_ECHO_REQUEST => Icmpv6Repr::EchoRequest {
                ident: packet.echo_ident(),
                seq: packet.echo_seq(),
            },
            ICMPV6_ECHO_REPLY => Icmpv6Repr::EchoReply {
                ident: packet.echo_ident(),
                seq: packet.echo_seq(),
            },
            ICMPV6_DEST_UNREACHABLE => Icmpv6Repr::DestUnreachable { code },
            ICMPV6_PACKET_TOO_BIG => Icmpv6Repr::PacketTooBig { mtu: packet.mtu() },
            ICMPV6_TIME_EXCEEDED => Icmpv6Repr::TimeExceeded { code },
            ICMPV6_PARAMETER_PROBLEM => Icmpv6Repr::ParamProblem {
                code,
                pointer: packet.pointer(),
            },
            msg_type @ (ICMPV6_NEIGHBOR_SOLICIT | ICMPV6_NEIGHBOR_ADVERT) => {
                let target = read_addr(packet.as_bytes(), TARGET);
                if code != 0 || target.is_multicast() {
                    return Err(Icmpv6Error::BadNeighborDiscovery);
                }
                let options = NdOptions::parse(&packet.as_bytes()[ND_MESSAGE_LEN..])?;
                if msg_type == ICMPV6_NEIGHBOR_SOLICIT {
                    // Duplicate address detection: no link-layer address
                    // to learn, and only to the solicited-node group.
                    if src.is_unspecified()
                        && (options.source_lladdr.is_some() || !is_solicited_node_multicast(dst))
                    {
                        return Err(Icmpv6Error::BadNeighborDiscovery);
                    }
                    Icmpv6Repr::NeighborSolicit {
                        target,
                        source_lladdr: options.source_lladdr,
                    }
                } else {
                    let flags = packet.na_flags();
                    // A solicited NA to a multicast address is invalid.
                    if flags & NA_FLAG_SOLICITED != 0 && dst.is_multicast() {
                        return Err(Icmpv6Error::BadNeighborDiscovery);
                    }
                    Icmpv6Repr::NeighborAdvert {
                        flags: flags & (NA_FLAG_ROUTER | NA_FLAG_SOLICITED | NA_FLAG_OVERRIDE),
                        target,
                        target_lladdr: options.target_lladdr,
                    }
                }
            }
            _ => return Err(Icmpv6Error::UnsupportedType),
        })
    }

    /// Bytes `emit` writes: 8, or 24 (+8 with a link-layer option) for ND.
    pub const fn header_len(&self) -> usize {
        match self {
            Icmpv6Repr::NeighborSolicit {
                source_lladdr: lladdr,
                ..
            }
            | Icmpv6Repr::NeighborAdvert {
                target_lladdr: lladdr,
                ..
            } => {
                if lladdr.is_some() {
                    ND_MESSAGE_LEN + ND_LLADDR_OPT_LEN
                } else {
                    ND_MESSAGE_LEN
                }
            }
            _ => ICMPV6_HEADER_LEN,
        }
    }

    /// Writes the message into the front of `message` and fills the
    /// checksum over all of `message`, so put any data after
    /// `header_len()` bytes first. Returns `header_len()`.
    pub fn emit(
        &self,
        message: &mut [u8],
        src: Ipv6Addr,
        dst: Ipv6Addr,
    ) -> Result<usize, Icmpv6Error> {
        let len = self.header_len();
        if message.len() < len {
            return Err(Icmpv6Error::BufferTooSmall);
        }
        let (msg_type, code, body) = match *self {
            Icmpv6Repr::EchoRequest { ident, seq } => (
                ICMPV6_ECHO_REQUEST,
                0,
                (u32::from(ident) << 16) | u32::from(seq),
            ),
            Icmpv6Repr::EchoReply { ident, seq } => (
                ICMPV6_ECHO_REPLY,
                0,
                (u32::from(ident) << 16) | u32::from(seq),
            ),
            Icmpv6Repr::DestUnreachable { code } => (ICMPV6_DEST_UNREACHABLE, code, 0),
            Icmpv6Repr::PacketTooBig { mtu } => (ICMPV6_PACKET_TOO_BIG, 0, mtu),
            Icmpv6Repr::TimeExceeded { code } => (ICMPV6_TIME_EXCEEDED, code, 0),
            Icmpv6Repr::ParamProblem { code, pointer } => (ICMPV6_PARAMETER_PROBLEM, code, pointer),
            Icmpv6Repr::NeighborSolicit {
                target,
                source_lladdr,
            } => {
                write_nd_body(message, target, ND_OPT_SOURCE_LLADDR, source_lladdr);
                (ICMPV6_NEIGHBOR_SOLICIT, 0, 0)
            }
            Icmpv6Repr::NeighborAdvert {
                flags,
                target,
                target_lladdr,
            } => {
                write_nd_body(message, target, ND_OPT_TARGET_LLADDR, target_lladdr);
                (ICMPV6_NEIGHBOR_ADVERT, 0, u32::from(flags) << 24)
            }
        };
        let mut packet = Icmpv6Packet::new_unchecked(message);
        packet.set_msg_type(msg_type);
        packet.set_code(code);
        packet.set_body_word(body);
        packet.fill_checksum(src, dst);
        Ok(len)
    }
}

/// Writes an NS/NA target and, if given, its link-layer address option.
fn write_nd_body(message: &mut [u8], target: Ipv6Addr, opt_type: u8, lladdr: Option<MacAddr>) {
    message[TARGET..TARGET + 16].copy_from_slice(&target.octets());
    if let Some(MacAddr(mac)) = lladdr {
        let option = &mut message[ND_MESSAGE_LEN..ND_MESSAGE_LEN + ND_LLADDR_OPT_LEN];
        option[0] = opt_type;
        option[1] = 1;
        option[2..].copy_from_slice(&mac);
    }
}

/// RFC 4861 7.1.1/7.1.2: an ND message whose IPv6 hop limit is not 255
/// came through a router and must be discarded.
#[inline]
pub fn check_nd_hop_limit(hop_limit: u8) -> Result<(), Icmpv6Error> {
    if hop_limit == ND_HOP_LIMIT {
        Ok(())
    } else {
        Err(Icmpv6Error::BadNeighborDiscovery)
    }
}

/// The solicited-node multicast address of `addr` (RFC 4291 2.7.1):
/// ff02::1:ffXX:XXXX with its low 24 bits.
#[inline]
pub fn solicited_node_multicast(addr: Ipv6Addr) -> Ipv6Addr {
    let low = u128::from(addr) & 0x00ff_ffff;
    Ipv6Addr::from(0xff02_0000_0000_0000_0000_0001_ff00_0000u128 | low)
}

/// Whether `addr` is a solicited-node multicast address (ff02::1:ff00:0/104).
#[inline]
pub fn is_solicited_node_multicast(addr: Ipv6Addr) -> bool {
    u128::from(addr) & !0x00ff_ffff == 0xff02_0000_0000_0000_0000_0001_ff00_0000
}

/// The Ethernet multicast address of an IPv6 multicast address (RFC 2464
/// section 7): 33:33 and its low 32 bits.
#[inline]
pub fn multicast_mac(addr: Ipv6Addr) -> MacAddr {
    let o = addr.octets();
    MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]])
}

#[cfg(test)]
#[path = "icmpv6_tests.rs"]
mod tests;
