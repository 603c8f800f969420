//! NAT64 header translation (RFC 7915) and the RFC 6052 address mapping
//! with a /96 prefix (default `64:ff9b::/96`): what issue 14's NAT64 path
//! needs to turn an IPv6 terminal's packet into an IPv4 one for an IPv4
//! server, and the server's answer back.
//!
//! These are pure functions over IP packets (no L2, no state): the caller
//! (a stateful NAT64 per RFC 6146) picks the addresses, and rewrites ports
//! afterwards exactly as for IPv4. They translate:
//! - hop limit ↔ TTL, copied (the forwarding code decrements it once);
//! - traffic class ↔ TOS, copied whole;
//! - the fragment header ↔ IPv4 fragment fields;
//! - TCP/UDP checksums, patched for the new pseudo header (an IPv4 UDP
//!   datagram without checksum gets one computed, as IPv6 requires);
//! - ICMPv6 ↔ ICMP types and codes for echo and errors (RFC 7915 4.2 and
//!   5.2), the packet an error quotes translated too, Packet Too Big ↔
//!   Fragmentation Needed with the MTU adjusted by the 20 bytes the header
//!   sizes differ by; ICMP checksums recomputed (after verifying the old).
//!
//! Lost on the way (documented, and excluded from the round-trip tests):
//! the flow label (sent as 0); IPv6 extension headers other than the
//! fragment header; IPv4 options; the upper 16 bits of an IPv6 fragment
//! identification; the DF bit and the identification of an unfragmented
//! IPv4 packet (IPv6 has neither). Used by `pipeline/nat64.rs` (and its
//! fragments and ICMP error files).

use super::bytes::{read_u16, write_u16, write_u32};
use super::checksum::{self, add, sum_v4_addr, sum_v6_addr, update_sum};
use super::ipv6::{
    walk_extension_headers, Ipv6Upper, FRAGMENT_HEADER_LEN, IPV6_MIN_MTU, NEXT_FRAGMENT,
    NEXT_ROUTING, PROTO_ICMPV6,
};
use super::{
    Ipv4Packet, Ipv6Packet, IPV4_HEADER_LEN, IPV6_HEADER_LEN, PROTO_ICMP, PROTO_TCP, PROTO_UDP,
};
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// The well-known prefix of RFC 6052.
pub const NAT64_WELL_KNOWN_PREFIX: Nat64Prefix =
    Nat64Prefix::new(Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0));
/// RFC 7915 4.1: a translated IPv4 packet longer than this gets DF, so
/// path MTU discovery works; a shorter one may be fragmented on the IPv4
/// side (its IPv6 form still fits the 1280-byte minimum MTU).
pub const DF_THRESHOLD: usize = 1260;
/// The header sizes differ by this much (without fragment header).
pub const HEADER_GROWTH: usize = IPV6_HEADER_LEN - IPV4_HEADER_LEN;

const ICMP4_ECHO_REPLY: u8 = 0;
const ICMP4_DEST_UNREACHABLE: u8 = 3;
const ICMP4_ECHO_REQUEST: u8 = 8;
const ICMP4_TIME_EXCEEDED: u8 = 11;
const ICMP4_PARAMETER_PROBLEM: u8 = 12;
const ICMP6_DEST_UNREACHABLE: u8 = 1;
const ICMP6_PACKET_TOO_BIG: u8 = 2;
const ICMP6_TIME_EXCEEDED: u8 = 3;
const ICMP6_PARAMETER_PROBLEM: u8 = 4;
const ICMP6_ECHO_REQUEST: u8 = 128;
const ICMP6_ECHO_REPLY: u8 = 129;
/// RFC 1191 section 7 plateaus, for a Fragmentation Needed without MTU.
const MTU_PLATEAUS: [u16; 11] = [
    65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68,
];

/// An RFC 6052 /96 prefix: an IPv4 address is its last 32 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Nat64Prefix {
    bits: u128,
}

impl Nat64Prefix {
    /// The /96 prefix of `prefix` (its last 32 bits are ignored).
    pub const fn new(prefix: Ipv6Addr) -> Self {
        Nat64Prefix {
            bits: prefix.to_bits() & !0xffff_ffff,
        }
    }

    pub const fn prefix(&self) -> Ipv6Addr {
        Ipv6Addr::from_bits(self.bits)
    }

    /// The IPv6 address that stands for `addr`.
    pub const fn embed(&self, addr: Ipv4Addr) -> Ipv6Addr {
        Ipv6Addr::from_bits(self.bits | addr.to_bits() as u128)
    }

    /// The IPv4 address inside `addr`, if `addr` is in the prefix.
    pub const fn extract(&self, addr: Ipv6Addr) -> Option<Ipv4Addr> {
        let bits = addr.to_bits();
        if bits & !0xffff_ffff == self.bits {
            Some(Ipv4Addr::from_bits(bits as u32))
        } else {
            None
        }
    }
}

impl Default for Nat64Prefix {
    fn default() -> Self {
        NAT64_WELL_KNOWN_PREFIX
    }
}

/// Why a packet cannot be translated. Each variant is a drop reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Nat64Error {
    /// The IP header (or the packet an ICMP error quotes) is malformed or
    /// cut short, or its extension headers are.
    BadPacket,
    /// A checksum that must be right to translate is wrong (IPv4 header,
    /// ICMP, ICMPv6), or an IPv6 UDP datagram has checksum 0.
    BadChecksum,
    /// Not TCP, UDP, ICMP/ICMPv6 (or a fragment of one).
    UnsupportedProtocol,
    /// An ICMP type or code RFC 7915 says to drop (ND, MLD, unmapped
    /// codes and parameter-problem pointers), or an error quoting an error.
    UntranslatableIcmp,
    /// A routing header with segments left (RFC 7915 5.1: not translated).
    RoutingHeader,
    /// An ICMP message split in fragments: its checksum cannot be redone.
    FragmentedIcmp,
    /// A fragmented IPv4 UDP datagram without checksum: IPv6 needs one and
    /// it cannot be computed from one fragment (RFC 7915 4.5).
    UdpZeroChecksumFragment,
    /// The output buffer is too small, or the result would exceed 65535.
    BufferTooSmall,
}

impl Nat64Error {
    /// Every variant, for registering one counter per reason up front.
    pub const ALL: [Nat64Error; 8] = [
        Nat64Error::BadPacket,
        Nat64Error::BadChecksum,
        Nat64Error::UnsupportedProtocol,
        Nat64Error::UntranslatableIcmp,
        Nat64Error::RoutingHeader,
        Nat64Error::FragmentedIcmp,
        Nat64Error::UdpZeroChecksumFragment,
        Nat64Error::BufferTooSmall,
    ];

    /// The snake_case drop-reason label.
    pub const fn reason(&self) -> &'static str {
        match self {
            Nat64Error::BadPacket => "nat64_bad_packet",
            Nat64Error::BadChecksum => "nat64_bad_checksum",
            Nat64Error::UnsupportedProtocol => "nat64_unsupported_protocol",
            Nat64Error::UntranslatableIcmp => "nat64_untranslatable_icmp",
            Nat64Error::RoutingHeader => "nat64_routing_header",
            Nat64Error::FragmentedIcmp => "nat64_fragmented_icmp",
            Nat64Error::UdpZeroChecksumFragment => "nat64_udp_zero_checksum_fragment",
            Nat64Error::BufferTooSmall => "nat64_buffer_too_small",
        }
    }
}

impl fmt::Display for Nat64Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for Nat64Error {}

/// The IPv4 addresses a translated packet gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct V4Addrs {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
}

/// The IPv6 addresses a translated packet gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct V6Addrs {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
}

/// Addresses for an IPv6 → IPv4 translation: `outer` for the packet,
/// `inner` for the packet an ICMPv6 error quotes (ignored otherwise; for
/// an error from the endpoint it is `outer` swapped), and `ident`, the
/// IPv4 identification of an unfragmented packet (a per-flow or
/// per-worker counter of the caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct To4 {
    pub outer: V4Addrs,
    pub inner: V4Addrs,
    pub ident: u16,
}

impl To4 {
    /// A terminal's packet leaving from `gateway` to `server` with IPv4
    /// identification `ident`; an ICMPv6 error's quote (the server's
    /// packet to the terminal) becomes one from `server` to `gateway`.
    pub const fn gateway_to_server(gateway: Ipv4Addr, server: Ipv4Addr, ident: u16) -> To4 {
        To4 {
            outer: V4Addrs {
                src: gateway,
                dst: server,
            },
            inner: V4Addrs {
                src: server,
                dst: gateway,
            },
            ident,
        }
    }
}

/// Addresses for an IPv4 → IPv6 translation, as [`To4`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct To6 {
    pub outer: V6Addrs,
    pub inner: V6Addrs,
}

impl To6 {
    /// A packet to IPv6 terminal `terminal` from the address it addressed
    /// (`addressed`); an ICMP error's quote (the terminal's packet) becomes
    /// one from `terminal` to `addressed`.
    pub const fn to_terminal(terminal: Ipv6Addr, addressed: Ipv6Addr) -> To6 {
        To6 {
            outer: V6Addrs {
                src: addressed,
                dst: terminal,
            },
            inner: V6Addrs {
                src: terminal,
                dst: addressed,
            },
        }
    }
}

/// Translates the IPv6 packet `packet` into IPv4 in `out`; returns the
/// IPv4 packet's length. `out` must not overlap `packet`.
pub fn translate_6to4(packet: &[u8], out: &mut [u8], to: &To4) -> Result<usize, Nat64Error> {
    let ip = Ipv6Packet::new_checked(packet).map_err(|_| Nat64Error::BadPacket)?;
    let upper = ip.upper_layer().map_err(|_| Nat64Error::BadPacket)?;
    check_routing_headers(ip.packet(), ip.next_header(), &upper)?;
    let body = &ip.packet()[upper.offset..];
    let first = upper.fragment.is_none_or(|f| f.is_first());
    let protocol = match upper.protocol {
        PROTO_ICMPV6 => PROTO_ICMP,
        PROTO_TCP | PROTO_UDP => upper.protocol,
        _ => return Err(Nat64Error::UnsupportedProtocol),
    };
    let out_l4 = out
        .get_mut(IPV4_HEADER_LEN..)
        .ok_or(Nat64Error::BufferTooSmall)?;
    let l4_len = if protocol == PROTO_ICMP {
        // An atomic fragment (offset 0, no M) is a whole message.
        if upper.fragment.is_some_and(|f| !f.is_first() || f.more) {
            return Err(Nat64Error::FragmentedIcmp);
        }
        if !checksum::l4_verifies_v6(ip.src(), ip.dst(), PROTO_ICMPV6, body) {
            return Err(Nat64Error::BadChecksum);
        }
        icmp_6to4(body, out_l4, to.inner)?
    } else {
        copy_into(body, out_l4)?;
        if first {
            if protocol == PROTO_UDP && body.len() >= 8 && read_u16(body, 6) == 0 {
                return Err(Nat64Error::BadChecksum);
            }
            let (old, new) = pseudo_header_sums(&ip, to);
            patch_l4_checksum(&mut out_l4[..body.len()], protocol, old, new);
        }
        body.len()
    };
    V4Header::translating(&ip, protocol, to).write(out, l4_len, upper)?;
    Ok(IPV4_HEADER_LEN + l4_len)
}

/// Translates the IPv4 packet `packet` into IPv6 in `out`; returns the
/// IPv6 packet's length. `out` must not overlap `packet`.
pub fn translate_4to6(packet: &[u8], out: &mut [u8], to: &To6) -> Result<usize, Nat64Error> {
    let ip = Ipv4Packet::new_checked(packet).map_err(|_| Nat64Error::BadPacket)?;
    if !ip.verify_checksum() {
        return Err(Nat64Error::BadChecksum);
    }
    let body = ip.payload();
    let fragmented = ip.is_fragment();
    let first = ip.fragment_offset() == 0;
    let next_header = match ip.protocol() {
        PROTO_ICMP => PROTO_ICMPV6,
        PROTO_TCP | PROTO_UDP => ip.protocol(),
        _ => return Err(Nat64Error::UnsupportedProtocol),
    };
    let l4_at = IPV6_HEADER_LEN + if fragmented { FRAGMENT_HEADER_LEN } else { 0 };
    let out_l4 = out.get_mut(l4_at..).ok_or(Nat64Error::BufferTooSmall)?;
    let l4_len = if next_header == PROTO_ICMPV6 {
        if fragmented {
            return Err(Nat64Error::FragmentedIcmp);
        }
        if !checksum::verifies(body) {
            return Err(Nat64Error::BadChecksum);
        }
        let len = icmp_4to6(body, out_l4, to.inner)?;
        let csum = checksum::l4_checksum_v6(
            to.outer.src,
            to.outer.dst,
            PROTO_ICMPV6,
            zero_checksum(&mut out_l4[..len], 2),
        );
        write_u16(out_l4, 2, csum);
        len
    } else {
        copy_into(body, out_l4)?;
        let l4 = &mut out_l4[..body.len()];
        if first && next_header == PROTO_UDP && body.len() >= 8 && read_u16(body, 6) == 0 {
            if fragmented {
                return Err(Nat64Error::UdpZeroChecksumFragment);
            }
            let csum = checksum::l4_checksum_v6(to.outer.src, to.outer.dst, PROTO_UDP, l4);
            write_u16(l4, 6, checksum::udp_wire_value(csum));
        } else if first {
            let old = add(sum_v4_addr(ip.src()), sum_v4_addr(ip.dst()));
            let new = add(sum_v6_addr(to.outer.src), sum_v6_addr(to.outer.dst));
            patch_l4_checksum(l4, next_header, old, new);
        }
        body.len()
    };
    let payload_len = l4_at - IPV6_HEADER_LEN + l4_len;
    write_v6_header(
        out,
        &ip,
        to.outer,
        next_header,
        u16::try_from(payload_len).map_err(|_| Nat64Error::BufferTooSmall)?,
    );
    Ok(IPV6_HEADER_LEN + payload_len)
}

/// RFC 7915 5.1 (IPv6 → IPv4): a routing header with segments left is not
/// translated (the packet is not for us yet).
fn check_routing_headers(
    packet: &[u8],
    mut next_header: u8,
    upper: &Ipv6Upper,
) -> Result<(), Nat64Error> {
    let mut offset = IPV6_HEADER_LEN;
    // The walk already checked these headers lie within the packet.
    while offset < upper.offset && offset + 4 <= packet.len() {
        let len = if next_header == NEXT_FRAGMENT {
            FRAGMENT_HEADER_LEN
        } else {
            8 * (usize::from(packet[offset + 1]) + 1)
        };
        if next_header == NEXT_ROUTING && packet[offset + 3] != 0 {
            return Err(Nat64Error::RoutingHeader);
        }
        next_header = packet[offset];
        offset += len;
    }
    Ok(())
}

fn copy_into(src: &[u8], out: &mut [u8]) -> Result<(), Nat64Error> {
    out.get_mut(..src.len())
        .ok_or(Nat64Error::BufferTooSmall)?
        .copy_from_slice(src);
    Ok(())
}

/// Zeroes the 16-bit field at `at` and returns the buffer (for a checksum
/// computed from scratch).
fn zero_checksum(buf: &mut [u8], at: usize) -> &[u8] {
    write_u16(buf, at, 0);
    buf
}

/// Patches the TCP or UDP checksum in `l4` (if the quoted bytes reach it)
/// for a pseudo header whose addresses summed to `old` and now to `new`.
/// A UDP checksum of 0 ("none") is left alone; lengths and the protocol
/// number are the same in both pseudo headers.
/// The sums of the pseudo header's addresses before (`ip`'s) and after
/// (`to.outer`) translation, for [`patch_l4_checksum`].
#[inline]
pub(super) fn pseudo_header_sums<T: AsRef<[u8]>>(ip: &Ipv6Packet<T>, to: &To4) -> (u16, u16) {
    (
        add(sum_v6_addr(ip.src()), sum_v6_addr(ip.dst())),
        add(sum_v4_addr(to.outer.src), sum_v4_addr(to.outer.dst)),
    )
}

pub(super) fn patch_l4_checksum(l4: &mut [u8], protocol: u8, old: u16, new: u16) {
    let at = if protocol == PROTO_TCP { 16 } else { 6 };
    if l4.len() < at + 2 {
        return;
    }
    let csum = read_u16(l4, at);
    let patched = if protocol == PROTO_UDP {
        if csum == 0 {
            return;
        }
        checksum::udp_wire_value(update_sum(csum, old, new))
    } else {
        update_sum(csum, old, new)
    };
    write_u16(l4, at, patched);
}

/// The IPv4 header of a translated packet.
pub(super) struct V4Header {
    pub addrs: V4Addrs,
    pub tos: u8,
    pub ttl: u8,
    pub protocol: u8,
    pub ident: u16,
}

impl V4Header {
    /// The header of `ip`'s translation carrying `protocol`, as `to` says.
    #[inline]
    pub(super) fn translating<T: AsRef<[u8]>>(
        ip: &Ipv6Packet<T>,
        protocol: u8,
        to: &To4,
    ) -> V4Header {
        V4Header {
            addrs: to.outer,
            tos: ip.traffic_class(),
            ttl: ip.hop_limit(),
            protocol,
            ident: to.ident,
        }
    }

    /// Writes the header for `upper` (whose fragment header, if any, gives
    /// the fragment fields); `l4_len` is the L4 length the header states
    /// (for a quoted packet, what the original said, not what is there).
    pub(super) fn write(
        &self,
        out: &mut [u8],
        l4_len: usize,
        upper: Ipv6Upper,
    ) -> Result<(), Nat64Error> {
        let total = IPV4_HEADER_LEN + l4_len;
        let total16 = u16::try_from(total).map_err(|_| Nat64Error::BufferTooSmall)?;
        let header = out
            .get_mut(..IPV4_HEADER_LEN)
            .ok_or(Nat64Error::BufferTooSmall)?;
        header[0] = 0x45;
        header[1] = self.tos;
        let mut ip = Ipv4Packet::new_unchecked(header);
        ip.set_total_len(total16);
        match upper.fragment {
            Some(frag) => {
                ip.set_ident(frag.ident as u16);
                ip.set_fragment(false, frag.more, frag.offset);
            }
            None => {
                ip.set_ident(self.ident);
                ip.set_fragment(total > DF_THRESHOLD, false, 0);
            }
        }
        ip.set_ttl(self.ttl);
        ip.set_protocol(self.protocol);
        ip.set_src(self.addrs.src);
        ip.set_dst(self.addrs.dst);
        ip.fill_checksum();
        Ok(())
    }
}

/// Writes the IPv6 header (and fragment header for an IPv4 fragment) of
/// the translation of `ip` into `out`, which the caller sized.
pub(super) fn write_v6_header<T: AsRef<[u8]>>(
    out: &mut [u8],
    ip: &Ipv4Packet<T>,
    addrs: V6Addrs,
    next_header: u8,
    payload_len: u16,
) {
    let tos = ip.as_bytes()[1];
    let mut v6 = Ipv6Packet::new_unchecked(&mut out[..IPV6_HEADER_LEN]);
    v6.set_version_tc_flow(tos, 0);
    v6.set_payload_len(payload_len);
    v6.set_hop_limit(ip.ttl());
    v6.set_src(addrs.src);
    v6.set_dst(addrs.dst);
    if ip.is_fragment() {
        v6.set_next_header(NEXT_FRAGMENT);
        let frag = &mut out[IPV6_HEADER_LEN..IPV6_HEADER_LEN + FRAGMENT_HEADER_LEN];
        frag[0] = next_header;
        frag[1] = 0;
        let more = u16::from(ip.more_fragments());
        write_u16(frag, 2, (ip.fragment_offset() << 3) | more);
        write_u32(frag, 4, u32::from(ip.ident()));
    } else {
        v6.set_next_header(next_header);
    }
}

/// RFC 7915 4.2: ICMPv6 type/code/body → ICMPv4, or `None` to drop.
fn map_icmp_6to4(msg_type: u8, code: u8, body: u32) -> Option<(u8, u8, u32)> {
    Some(match (msg_type, code) {
        (ICMP6_ECHO_REQUEST, _) => (ICMP4_ECHO_REQUEST, code, body),
        (ICMP6_ECHO_REPLY, _) => (ICMP4_ECHO_REPLY, code, body),
        (ICMP6_DEST_UNREACHABLE, 0 | 2 | 3) => (ICMP4_DEST_UNREACHABLE, 1, 0),
        (ICMP6_DEST_UNREACHABLE, 1) => (ICMP4_DEST_UNREACHABLE, 10, 0),
        (ICMP6_DEST_UNREACHABLE, 4) => (ICMP4_DEST_UNREACHABLE, 3, 0),
        (ICMP6_PACKET_TOO_BIG, _) => {
            let mtu = body.saturating_sub(HEADER_GROWTH as u32).min(0xffff);
            (ICMP4_DEST_UNREACHABLE, 4, mtu)
        }
        (ICMP6_TIME_EXCEEDED, _) => (ICMP4_TIME_EXCEEDED, code, 0),
        (ICMP6_PARAMETER_PROBLEM, 0) => {
            let pointer = match body {
                0 => 0,
                1 => 1,
                4 | 5 => 2,
                6 => 9,
                7 => 8,
                8..=23 => 12,
                24..=39 => 16,
                _ => return None,
            };
            (ICMP4_PARAMETER_PROBLEM, 0, pointer << 24)
        }
        (ICMP6_PARAMETER_PROBLEM, 1) => (ICMP4_DEST_UNREACHABLE, 2, 0),
        _ => return None,
    })
}

/// RFC 7915 5.2: ICMPv4 type/code/rest-of-header → ICMPv6, or `None` to
/// drop. `inner_total` is the quoted packet's total length, for the MTU
/// plateau of a Fragmentation Needed that carries no MTU.
fn map_icmp_4to6(msg_type: u8, code: u8, rest: u32, inner_total: u16) -> Option<(u8, u8, u32)> {
    Some(match (msg_type, code) {
        (ICMP4_ECHO_REQUEST, _) => (ICMP6_ECHO_REQUEST, code, rest),
        (ICMP4_ECHO_REPLY, _) => (ICMP6_ECHO_REPLY, code, rest),
        (ICMP4_DEST_UNREACHABLE, 0 | 1 | 5 | 6 | 7 | 8 | 11 | 12) => (ICMP6_DEST_UNREACHABLE, 0, 0),
        (ICMP4_DEST_UNREACHABLE, 2) => (ICMP6_PARAMETER_PROBLEM, 1, 6),
        (ICMP4_DEST_UNREACHABLE, 3) => (ICMP6_DEST_UNREACHABLE, 4, 0),
        (ICMP4_DEST_UNREACHABLE, 4) => {
            let mut mtu = (rest & 0xffff) as u16;
            if mtu == 0 {
                mtu = MTU_PLATEAUS
                    .into_iter()
                    .find(|&p| p < inner_total)
                    .unwrap_or(68);
            }
            (
                ICMP6_PACKET_TOO_BIG,
                0,
                u32::from(mtu) + HEADER_GROWTH as u32,
            )
        }
        (ICMP4_DEST_UNREACHABLE, 9 | 10 | 13 | 15) => (ICMP6_DEST_UNREACHABLE, 1, 0),
        (ICMP4_TIME_EXCEEDED, _) => (ICMP6_TIME_EXCEEDED, code, 0),
        (ICMP4_PARAMETER_PROBLEM, 0 | 2) => {
            let pointer = match rest >> 24 {
                0 => 0,
                1 => 1,
                2 | 3 => 4,
                8 => 7,
                9 => 6,
                12..=15 => 8,
                16..=19 => 24,
                _ => return None,
            };
            (ICMP6_PARAMETER_PROBLEM, 0, pointer)
        }
        _ => return None,
    })
}

fn is_error_type(msg_type_v6: u8) -> bool {
    msg_type_v6 < 128
}

/// Translates a (checksum-verified) ICMPv6 message into ICMP in `out`;
/// returns its length. The ICMP checksum is computed from scratch.
fn icmp_6to4(message: &[u8], out: &mut [u8], inner: V4Addrs) -> Result<usize, Nat64Error> {
    if message.len() < 8 {
        return Err(Nat64Error::BadPacket);
    }
    let body = u32::from_be_bytes([message[4], message[5], message[6], message[7]]);
    let (msg_type, code, body) =
        map_icmp_6to4(message[0], message[1], body).ok_or(Nat64Error::UntranslatableIcmp)?;
    let header = out.get_mut(..8).ok_or(Nat64Error::BufferTooSmall)?;
    header[0] = msg_type;
    header[1] = code;
    write_u32(header, 4, body);
    let len = if is_error_type(message[0]) {
        8 + quoted_6to4(&message[8..], &mut out[8..], inner)?
    } else {
        copy_into(&message[8..], &mut out[8..])?;
        message.len()
    };
    let csum = checksum::checksum(zero_checksum(&mut out[..len], 2));
    write_u16(out, 2, csum);
    Ok(len)
}

/// Translates a (checksum-verified) ICMP message into ICMPv6 in `out`,
/// checksum left for the caller (it needs the outer addresses). Returns
/// its length, which keeps an error within the 1280-byte minimum MTU.
fn icmp_4to6(message: &[u8], out: &mut [u8], inner: V6Addrs) -> Result<usize, Nat64Error> {
    if message.len() < 8 {
        return Err(Nat64Error::BadPacket);
    }
    let rest = u32::from_be_bytes([message[4], message[5], message[6], message[7]]);
    let inner_total = if message.len() >= 12 {
        read_u16(message, 10)
    } else {
        0
    };
    let (msg_type, code, body) = map_icmp_4to6(message[0], message[1], rest, inner_total)
        .ok_or(Nat64Error::UntranslatableIcmp)?;
    let header = out.get_mut(..8).ok_or(Nat64Error::BufferTooSmall)?;
    header[0] = msg_type;
    header[1] = code;
    write_u32(header, 4, body);
    if !is_error_type(msg_type) {
        copy_into(&message[8..], &mut out[8..])?;
        return Ok(message.len());
    }
    let room = IPV6_MIN_MTU - IPV6_HEADER_LEN - 8;
    let out_quoted = &mut out[8..];
    let limit = out_quoted.len().min(room);
    Ok(8 + quoted_4to6(&message[8..], &mut out_quoted[..limit], inner)?)
}

/// Translates the IPv6 packet an ICMPv6 error quotes (possibly cut short)
/// into IPv4 in `out`; returns its length.
fn quoted_6to4(quoted: &[u8], out: &mut [u8], addrs: V4Addrs) -> Result<usize, Nat64Error> {
    let ip = Ipv6Packet::new_checked_header(quoted).map_err(|_| Nat64Error::BadPacket)?;
    let upper = walk_extension_headers(ip.next_header(), ip.packet(), IPV6_HEADER_LEN)
        .map_err(|_| Nat64Error::BadPacket)?;
    let protocol = match upper.protocol {
        PROTO_ICMPV6 => PROTO_ICMP,
        PROTO_TCP | PROTO_UDP => upper.protocol,
        _ => return Err(Nat64Error::UnsupportedProtocol),
    };
    let l4 = &ip.packet()[upper.offset..];
    let claimed_l4_len = (IPV6_HEADER_LEN + ip.payload_len()).saturating_sub(upper.offset);
    let out_l4 = out
        .get_mut(IPV4_HEADER_LEN..)
        .ok_or(Nat64Error::BufferTooSmall)?;
    copy_into(l4, out_l4)?;
    let first = upper.fragment.is_none_or(|f| f.is_first());
    let old = add(sum_v6_addr(ip.src()), sum_v6_addr(ip.dst()));
    let new = add(sum_v4_addr(addrs.src), sum_v4_addr(addrs.dst));
    if first && protocol == PROTO_ICMP {
        inner_icmp_6to4(&mut out_l4[..l4.len()], old, claimed_l4_len)?;
    } else if first {
        patch_l4_checksum(&mut out_l4[..l4.len()], protocol, old, new);
    }
    V4Header {
        addrs,
        tos: ip.traffic_class(),
        ttl: ip.hop_limit(),
        protocol,
        ident: 0,
    }
    .write(out, claimed_l4_len, upper)?;
    Ok(IPV4_HEADER_LEN + l4.len())
}

/// Translates the IPv4 packet an ICMP error quotes (possibly cut short)
/// into IPv6 in `out`, cutting it to fit; returns its length.
fn quoted_4to6(quoted: &[u8], out: &mut [u8], addrs: V6Addrs) -> Result<usize, Nat64Error> {
    let ip = Ipv4Packet::new_checked_header(quoted).map_err(|_| Nat64Error::BadPacket)?;
    let next_header = match ip.protocol() {
        PROTO_ICMP => PROTO_ICMPV6,
        PROTO_TCP | PROTO_UDP => ip.protocol(),
        _ => return Err(Nat64Error::UnsupportedProtocol),
    };
    let l4 = &quoted[ip.header_len()..];
    let l4_at = IPV6_HEADER_LEN
        + if ip.is_fragment() {
            FRAGMENT_HEADER_LEN
        } else {
            0
        };
    if out.len() < l4_at {
        return Err(Nat64Error::BufferTooSmall);
    }
    let l4 = &l4[..l4.len().min(out.len() - l4_at)];
    let claimed_l4_len = ip.total_len().saturating_sub(ip.header_len());
    let out_l4 = &mut out[l4_at..l4_at + l4.len()];
    out_l4.copy_from_slice(l4);
    let first = ip.fragment_offset() == 0;
    let old = add(sum_v4_addr(ip.src()), sum_v4_addr(ip.dst()));
    let new = add(sum_v6_addr(addrs.src), sum_v6_addr(addrs.dst));
    if first && next_header == PROTO_ICMPV6 {
        inner_icmp_4to6(out_l4, new, claimed_l4_len)?;
    } else if first {
        patch_l4_checksum(out_l4, next_header, old, new);
    }
    let payload_len = l4_at - IPV6_HEADER_LEN + claimed_l4_len;
    write_v6_header(
        out,
        &ip,
        addrs,
        next_header,
        u16::try_from(payload_len).map_err(|_| Nat64Error::BadPacket)?,
    );
    Ok(l4_at + l4.len())
}

/// The quoted packet inside an error is an echo (errors are never about
/// errors): its type changes and its checksum loses the IPv6 pseudo header
/// (`old_addrs` + length + 58). Patched, since the message may be cut.
fn inner_icmp_6to4(l4: &mut [u8], old_addrs: u16, claimed_len: usize) -> Result<(), Nat64Error> {
    if l4.is_empty() {
        return Ok(());
    }
    let (new_type, _, _) = match l4[0] {
        t @ (ICMP6_ECHO_REQUEST | ICMP6_ECHO_REPLY) => map_icmp_6to4(t, 0, 0),
        _ => None,
    }
    .ok_or(Nat64Error::UntranslatableIcmp)?;
    if l4.len() < 4 {
        l4[0] = new_type;
        return Ok(());
    }
    let pseudo = pseudo_rest_v6(old_addrs, claimed_len);
    let old_word = u16::from_be_bytes([l4[0], l4[1]]);
    let new_word = u16::from_be_bytes([new_type, l4[1]]);
    let csum = update_sum(read_u16(l4, 2), add(pseudo, old_word), new_word);
    l4[0] = new_type;
    write_u16(l4, 2, csum);
    Ok(())
}

/// The reverse of [`inner_icmp_6to4`]: the echo gains the IPv6 pseudo
/// header (`new_addrs` + length + 58).
fn inner_icmp_4to6(l4: &mut [u8], new_addrs: u16, claimed_len: usize) -> Result<(), Nat64Error> {
    if l4.is_empty() {
        return Ok(());
    }
    let new_type = match l4[0] {
        ICMP4_ECHO_REQUEST => ICMP6_ECHO_REQUEST,
        ICMP4_ECHO_REPLY => ICMP6_ECHO_REPLY,
        _ => return Err(Nat64Error::UntranslatableIcmp),
    };
    if l4.len() < 4 {
        l4[0] = new_type;
        return Ok(());
    }
    let pseudo = pseudo_rest_v6(new_addrs, claimed_len);
    let old_word = u16::from_be_bytes([l4[0], l4[1]]);
    let new_word = u16::from_be_bytes([new_type, l4[1]]);
    let csum = update_sum(read_u16(l4, 2), old_word, add(pseudo, new_word));
    l4[0] = new_type;
    write_u16(l4, 2, csum);
    Ok(())
}

/// Sum of an ICMPv6 pseudo header given the sum of its addresses.
fn pseudo_rest_v6(addrs: u16, l4_len: usize) -> u16 {
    let len = l4_len as u32;
    add(
        add(addrs, (len >> 16) as u16),
        add(len as u16, u16::from(PROTO_ICMPV6)),
    )
}

#[cfg(test)]
#[path = "nat64_tests.rs"]
mod tests;
