//! IPv6 headers (RFC 8200): the fixed 40-byte header, a bounded walk over
//! the extension headers the appliance must step over to find TCP, UDP or
//! ICMPv6, and the prefix key that names an IPv6 terminal's session.
//!
//! The pipeline reads every IPv6 frame with these views
//! (`pipeline/parse.rs`); the IPv6 NAT, NAT64 and fabric paths (issue 14)
//! will be built on them too. A chain of extension
//! headers is walked at most [`MAX_EXTENSION_HEADERS`] deep, so a hostile
//! packet cannot make a worker loop; a longer chain is an error the caller
//! counts and drops.

use super::bytes::{read_u16, read_u32, write_u16, write_u32};
use std::fmt;
use std::net::Ipv6Addr;

/// The fixed header.
pub const IPV6_HEADER_LEN: usize = 40;
/// The smallest link MTU IPv6 allows (RFC 8200 section 5); an ICMPv6
/// error never makes a packet longer than this.
pub const IPV6_MIN_MTU: usize = 1280;
/// Hop limit of packets the appliance originates.
pub const DEFAULT_HOP_LIMIT: u8 = 64;

/// Next-header values of the extension headers walked here.
pub const NEXT_HOP_BY_HOP: u8 = 0;
pub const NEXT_ROUTING: u8 = 43;
pub const NEXT_FRAGMENT: u8 = 44;
pub const NEXT_DEST_OPTIONS: u8 = 60;
/// "No next header": nothing follows.
pub const NEXT_NONE: u8 = 59;
/// ICMPv6's next-header value.
pub const PROTO_ICMPV6: u8 = 58;

/// The fragment header's fixed length.
pub const FRAGMENT_HEADER_LEN: usize = 8;
/// How many extension headers a packet may carry before the walk gives up
/// with [`Ipv6Error::ExtensionChainTooLong`]. RFC 8200's recommended order
/// has at most six (two destination options), so eight leaves room for
/// legitimate senders and none for a chain meant to burn cycles.
pub const MAX_EXTENSION_HEADERS: usize = 8;
/// Session-key prefix length for an IPv6 terminal (3GPP gives each one a
/// /64, and privacy addresses rotate only the interface identifier).
pub const DEFAULT_SESSION_PREFIX_LEN: u8 = 64;

const VERSION_TC_FLOW: usize = 0;
const PAYLOAD_LEN: usize = 4;
const NEXT_HEADER: usize = 6;
const HOP_LIMIT: usize = 7;
const SRC: usize = 8;
const DST: usize = 24;

/// Why an IPv6 packet could not be read. Each variant is a drop reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ipv6Error {
    /// Fewer than 40 bytes.
    Truncated,
    /// Version field is not 6.
    BadVersion,
    /// 40 + payload length runs past the buffer (jumbograms, payload
    /// length 0 with a jumbo option, are not supported and land here or
    /// carry an empty payload).
    BadPayloadLength,
    /// More than [`MAX_EXTENSION_HEADERS`] extension headers.
    ExtensionChainTooLong,
    /// An extension header runs past the payload, a hop-by-hop header is
    /// not the first one, or a fragment header has reserved bits in use.
    BadExtensionHeader,
}

impl Ipv6Error {
    /// Every variant, for registering one counter per reason up front.
    pub const ALL: [Ipv6Error; 5] = [
        Ipv6Error::Truncated,
        Ipv6Error::BadVersion,
        Ipv6Error::BadPayloadLength,
        Ipv6Error::ExtensionChainTooLong,
        Ipv6Error::BadExtensionHeader,
    ];

    /// The snake_case drop-reason label.
    pub const fn reason(&self) -> &'static str {
        match self {
            Ipv6Error::Truncated => "ipv6_truncated",
            Ipv6Error::BadVersion => "ipv6_bad_version",
            Ipv6Error::BadPayloadLength => "ipv6_bad_payload_length",
            Ipv6Error::ExtensionChainTooLong => "ipv6_extension_chain_too_long",
            Ipv6Error::BadExtensionHeader => "ipv6_bad_extension_header",
        }
    }
}

impl fmt::Display for Ipv6Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for Ipv6Error {}

/// A view of an IPv6 packet. After `new_checked` the buffer holds the
/// fixed header and the payload length it declares; bytes past that
/// (Ethernet padding) are ignored by `payload`.
#[derive(Debug, Clone)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv6Packet { buffer }
    }

    /// Wraps after checking the fixed header is there (`Truncated`), the
    /// version is 6 (`BadVersion`) and the payload fits (`BadPayloadLength`).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, Ipv6Error> {
        let packet = Self::new_checked_header(buffer)?;
        let bytes = packet.buffer.as_ref();
        if IPV6_HEADER_LEN + usize::from(read_u16(bytes, PAYLOAD_LEN)) > bytes.len() {
            return Err(Ipv6Error::BadPayloadLength);
        }
        Ok(packet)
    }

    /// Like `new_checked` but accepts a payload cut short, as in the packet
    /// an ICMPv6 error quotes; `payload` then ends at the buffer's end.
    #[inline]
    pub fn new_checked_header(buffer: T) -> Result<Self, Ipv6Error> {
        let bytes = buffer.as_ref();
        if bytes.len() < IPV6_HEADER_LEN {
            return Err(Ipv6Error::Truncated);
        }
        if bytes[VERSION_TC_FLOW] >> 4 != 6 {
            return Err(Ipv6Error::BadVersion);
        }
        Ok(Ipv6Packet { buffer })
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
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[VERSION_TC_FLOW] >> 4
    }

    /// The traffic class byte (DSCP and ECN).
    #[inline]
    pub fn traffic_class(&self) -> u8 {
        ((read_u32(self.buffer.as_ref(), VERSION_TC_FLOW) >> 20) & 0xff) as u8
    }

    #[inline]
    pub fn flow_label(&self) -> u32 {
        read_u32(self.buffer.as_ref(), VERSION_TC_FLOW) & 0x000f_ffff
    }

    /// Bytes after the fixed header, extension headers included.
    #[inline]
    pub fn payload_len(&self) -> usize {
        usize::from(read_u16(self.buffer.as_ref(), PAYLOAD_LEN))
    }

    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[NEXT_HEADER]
    }

    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[HOP_LIMIT]
    }

    #[inline]
    pub fn src(&self) -> Ipv6Addr {
        read_addr(self.buffer.as_ref(), SRC)
    }

    #[inline]
    pub fn dst(&self) -> Ipv6Addr {
        read_addr(self.buffer.as_ref(), DST)
    }

    /// Offset in the buffer where the payload ends: 40 + payload length,
    /// or the buffer's end for a quoted, cut-short packet.
    #[inline]
    pub fn packet_end(&self) -> usize {
        (IPV6_HEADER_LEN + self.payload_len()).min(self.buffer.as_ref().len())
    }

    /// The packet, header included, up to the payload length.
    #[inline]
    pub fn packet(&self) -> &[u8] {
        &self.buffer.as_ref()[..self.packet_end()]
    }

    /// The payload (extension headers included) up to the payload length.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[IPV6_HEADER_LEN..self.packet_end()]
    }

    /// Walks the extension headers; see [`Ipv6Upper`].
    #[inline]
    pub fn upper_layer(&self) -> Result<Ipv6Upper, Ipv6Error> {
        walk_extension_headers(self.next_header(), self.packet(), IPV6_HEADER_LEN)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    /// Writes version 6 with the given traffic class and flow label.
    #[inline]
    pub fn set_version_tc_flow(&mut self, traffic_class: u8, flow_label: u32) {
        let word = (6 << 28) | (u32::from(traffic_class) << 20) | (flow_label & 0x000f_ffff);
        write_u32(self.buffer.as_mut(), VERSION_TC_FLOW, word);
    }

    #[inline]
    pub fn set_payload_len(&mut self, len: u16) {
        write_u16(self.buffer.as_mut(), PAYLOAD_LEN, len);
    }

    #[inline]
    pub fn set_next_header(&mut self, next_header: u8) {
        self.buffer.as_mut()[NEXT_HEADER] = next_header;
    }

    #[inline]
    pub fn set_hop_limit(&mut self, hop_limit: u8) {
        self.buffer.as_mut()[HOP_LIMIT] = hop_limit;
    }

    #[inline]
    pub fn set_src(&mut self, addr: Ipv6Addr) {
        self.buffer.as_mut()[SRC..SRC + 16].copy_from_slice(&addr.octets());
    }

    #[inline]
    pub fn set_dst(&mut self, addr: Ipv6Addr) {
        self.buffer.as_mut()[DST..DST + 16].copy_from_slice(&addr.octets());
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = self.packet_end();
        &mut self.buffer.as_mut()[IPV6_HEADER_LEN..end]
    }
}

#[inline]
pub(crate) fn read_addr(bytes: &[u8], at: usize) -> Ipv6Addr {
    let mut octets = [0u8; 16];
    octets.copy_from_slice(&bytes[at..at + 16]);
    Ipv6Addr::from(octets)
}

/// A fragment header's fields (RFC 8200 section 4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Fragment {
    /// Offset of this fragment's data, in 8-byte units.
    pub offset: u16,
    /// The M flag: more fragments follow.
    pub more: bool,
    pub ident: u32,
    /// Where the fragment header starts, from the start of the IPv6 header.
    pub header_offset: usize,
}

impl Ipv6Fragment {
    /// Whether this is the first fragment (the only one that carries the
    /// upper-layer header).
    #[inline]
    pub const fn is_first(&self) -> bool {
        self.offset == 0
    }
}

/// Where the extension-header walk ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Upper {
    /// The upper-layer protocol (TCP, UDP, ICMPv6, [`NEXT_NONE`], or any
    /// other value that is not one of the four extension headers walked).
    pub protocol: u8,
    /// Offset of the upper-layer header from the start of the IPv6
    /// header. For a non-first fragment this is where its data starts.
    pub offset: usize,
    /// The fragment header when there is one. The walk stops after it when
    /// the fragment is not the first: what follows is data, not headers.
    pub fragment: Option<Ipv6Fragment>,
    /// How many extension headers were stepped over.
    pub extension_headers: usize,
    /// Offset of the next-header byte that names `protocol` (6 when there
    /// is no extension header); a translator rewrites it.
    pub next_header_at: usize,
}

/// Walks the extension headers of `packet` (the IPv6 packet up to its
/// payload length, fixed header included) starting with `next_header` at
/// `offset`. Hop-by-hop, routing, fragment and destination options are
/// stepped over; anything else is the upper layer.
///
/// `ExtensionChainTooLong` after [`MAX_EXTENSION_HEADERS`] headers;
/// `BadExtensionHeader` for a header that runs past the packet, a
/// hop-by-hop header that is not first (RFC 8200 section 4.1), or a
/// fragment header with its reserved bits set.
pub fn walk_extension_headers(
    mut next_header: u8,
    packet: &[u8],
    mut offset: usize,
) -> Result<Ipv6Upper, Ipv6Error> {
    let mut next_header_at = NEXT_HEADER;
    let mut fragment = None;
    let mut count = 0;
    loop {
        let len = match next_header {
            NEXT_HOP_BY_HOP | NEXT_ROUTING | NEXT_DEST_OPTIONS => {
                if next_header == NEXT_HOP_BY_HOP && count != 0 {
                    return Err(Ipv6Error::BadExtensionHeader);
                }
                let hdr_ext_len = *packet
                    .get(offset + 1)
                    .ok_or(Ipv6Error::BadExtensionHeader)?;
                8 * (usize::from(hdr_ext_len) + 1)
            }
            NEXT_FRAGMENT => FRAGMENT_HEADER_LEN,
            _ => {
                return Ok(Ipv6Upper {
                    protocol: next_header,
                    offset,
                    fragment,
                    extension_headers: count,
                    next_header_at,
                })
            }
        };
        if count == MAX_EXTENSION_HEADERS {
            return Err(Ipv6Error::ExtensionChainTooLong);
        }
        if offset + len > packet.len() {
            return Err(Ipv6Error::BadExtensionHeader);
        }
        let header = &packet[offset..offset + len];
        let this_type = next_header;
        count += 1;
        next_header_at = offset;
        next_header = header[0];
        if this_type == NEXT_FRAGMENT {
            // Reserved byte and the two reserved bits must be zero.
            let field = read_u16(header, 2);
            if header[1] != 0 || field & 0x0006 != 0 {
                return Err(Ipv6Error::BadExtensionHeader);
            }
            let frag = Ipv6Fragment {
                offset: field >> 3,
                more: field & 1 != 0,
                ident: read_u32(header, 4),
                header_offset: offset,
            };
            fragment = Some(frag);
            offset += len;
            if !frag.is_first() {
                return Ok(Ipv6Upper {
                    protocol: next_header,
                    offset,
                    fragment,
                    extension_headers: count,
                    next_header_at,
                });
            }
            continue;
        }
        offset += len;
    }
}

/// The session key of an IPv6 terminal: its address with all bits past
/// `prefix_len` cleared, as a number (`prefix_len` above 128 counts as 128).
#[inline]
pub fn prefix_key(addr: Ipv6Addr, prefix_len: u8) -> u128 {
    let bits = u128::from(addr);
    match prefix_len {
        0 => 0,
        len if len >= 128 => bits,
        len => bits & (u128::MAX << (128 - u32::from(len))),
    }
}

/// The default /64 session key: the address's upper 64 bits.
#[inline]
pub fn prefix64_key(addr: Ipv6Addr) -> u64 {
    (u128::from(addr) >> 64) as u64
}

/// Whether a reply may be sent to `addr`: not unspecified, not multicast.
#[inline]
pub fn is_unicast_v6(addr: Ipv6Addr) -> bool {
    !addr.is_unspecified() && !addr.is_multicast()
}

/// An IPv6 fixed header as plain values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Repr {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub next_header: u8,
    pub hop_limit: u8,
    pub traffic_class: u8,
    pub flow_label: u32,
    /// Bytes after the fixed header.
    pub payload_len: usize,
}

impl Ipv6Repr {
    /// A header for a packet the appliance originates: hop limit 64,
    /// traffic class 0, flow label 0.
    pub const fn new(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, payload_len: usize) -> Self {
        Ipv6Repr {
            src,
            dst,
            next_header,
            hop_limit: DEFAULT_HOP_LIMIT,
            traffic_class: 0,
            flow_label: 0,
            payload_len,
        }
    }

    pub fn parse<T: AsRef<[u8]>>(packet: &Ipv6Packet<T>) -> Self {
        Ipv6Repr {
            src: packet.src(),
            dst: packet.dst(),
            next_header: packet.next_header(),
            hop_limit: packet.hop_limit(),
            traffic_class: packet.traffic_class(),
            flow_label: packet.flow_label(),
            payload_len: packet.payload_len(),
        }
    }

    /// Writes the 40-byte header at the start of `buf`; returns 40.
    /// `BadPayloadLength` if the payload length exceeds 65535,
    /// `BufferTooSmall` if `buf` is shorter than 40 bytes.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Ipv6EmitError> {
        let payload_len =
            u16::try_from(self.payload_len).map_err(|_| Ipv6EmitError::PayloadTooLong)?;
        if buf.len() < IPV6_HEADER_LEN {
            return Err(Ipv6EmitError::BufferTooSmall);
        }
        let mut packet = Ipv6Packet::new_unchecked(&mut buf[..IPV6_HEADER_LEN]);
        packet.set_version_tc_flow(self.traffic_class, self.flow_label);
        packet.set_payload_len(payload_len);
        packet.set_next_header(self.next_header);
        packet.set_hop_limit(self.hop_limit);
        packet.set_src(self.src);
        packet.set_dst(self.dst);
        Ok(IPV6_HEADER_LEN)
    }
}

/// Why a header could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipv6EmitError {
    /// The payload would be longer than 65535 bytes.
    PayloadTooLong,
    /// The output buffer cannot hold the header.
    BufferTooSmall,
}

#[cfg(test)]
#[path = "ipv6_tests.rs"]
mod tests;
