//! IPv4 headers (RFC 791): validation of what arrives, the header rewrites a
//! gateway does per packet (with incremental checksum updates), and the
//! header of packets the appliance builds.

use super::bytes::{read_u16, read_u32, write_u16};
use super::checksum;
use super::WireError;
use std::net::Ipv4Addr;

/// Header length without options.
pub const IPV4_HEADER_LEN: usize = 20;
/// Header length with the most options (IHL 15).
pub const IPV4_MAX_HEADER_LEN: usize = 60;
/// TTL of packets the appliance originates.
pub const DEFAULT_TTL: u8 = 64;

pub const PROTO_ICMP: u8 = 1;
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;

const VER_IHL: usize = 0;
const TOS: usize = 1;
const TOTAL_LEN: usize = 2;
const IDENT: usize = 4;
const FLAGS_FRAG: usize = 6;
const TTL: usize = 8;
const PROTOCOL: usize = 9;
const CHECKSUM: usize = 10;
const SRC: usize = 12;
const DST: usize = 16;

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const FRAG_OFFSET_MASK: u16 = 0x1fff;

/// Whether `addr` can be the source or target of a reply: not unspecified,
/// not limited broadcast, not multicast or reserved class E.
#[inline]
pub fn is_unicast(addr: Ipv4Addr) -> bool {
    let first = addr.octets()[0];
    !addr.is_unspecified() && first < 224
}

/// A view of an IPv4 packet.
///
/// After `new_checked`: version is 4, IHL >= 5, the header fits, and
/// `header_len <= total_len <= buffer length`. Bytes past `total_len`
/// (Ethernet padding) are allowed and ignored by `payload()`.
#[derive(Debug, Clone)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wraps without checking; accessors panic if the buffer is too short.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }

    /// Wraps after validating version, IHL and total length.
    #[inline(always)]
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let packet = Self::new_checked_header(buffer)?;
        let total_len = packet.total_len();
        if total_len < packet.header_len() || total_len > packet.buffer.as_ref().len() {
            return Err(WireError::BadTotalLength);
        }
        Ok(packet)
    }

    /// Wraps after validating version and IHL only, not the total length:
    /// for the header an ICMP error quotes, which is followed by just
    /// 8 bytes of its payload. `payload()` is then cut at the buffer's end.
    #[inline(always)]
    pub fn new_checked_header(buffer: T) -> Result<Self, WireError> {
        let bytes = buffer.as_ref();
        if bytes.len() < IPV4_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if bytes[VER_IHL] >> 4 != 4 {
            return Err(WireError::BadVersion);
        }
        let header_len = usize::from(bytes[VER_IHL] & 0x0f) * 4;
        if header_len < IPV4_HEADER_LEN {
            return Err(WireError::BadIhl);
        }
        if header_len > bytes.len() {
            return Err(WireError::Truncated);
        }
        Ok(Ipv4Packet { buffer })
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The whole buffer, padding included.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[VER_IHL] >> 4
    }

    /// Header length in bytes (IHL × 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[VER_IHL] & 0x0f) * 4
    }

    #[inline]
    pub fn dscp(&self) -> u8 {
        self.buffer.as_ref()[TOS] >> 2
    }

    #[inline]
    pub fn ecn(&self) -> u8 {
        self.buffer.as_ref()[TOS] & 0x03
    }

    /// The total length field: header plus payload.
    #[inline]
    pub fn total_len(&self) -> usize {
        usize::from(read_u16(self.buffer.as_ref(), TOTAL_LEN))
    }

    #[inline]
    pub fn ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), IDENT)
    }

    /// The raw flags + fragment offset word.
    #[inline]
    pub fn flags_frag(&self) -> u16 {
        read_u16(self.buffer.as_ref(), FLAGS_FRAG)
    }

    #[inline]
    pub fn dont_fragment(&self) -> bool {
        self.flags_frag() & FLAG_DF != 0
    }

    #[inline]
    pub fn more_fragments(&self) -> bool {
        self.flags_frag() & FLAG_MF != 0
    }

    /// Fragment offset in 8-byte units.
    #[inline]
    pub fn fragment_offset(&self) -> u16 {
        self.flags_frag() & FRAG_OFFSET_MASK
    }

    /// MF set or offset non-zero: this is one piece of a larger packet.
    #[inline]
    pub fn is_fragment(&self) -> bool {
        self.flags_frag() & (FLAG_MF | FRAG_OFFSET_MASK) != 0
    }

    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[TTL]
    }

    #[inline]
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[PROTOCOL]
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), CHECKSUM)
    }

    #[inline(always)]
    pub fn src(&self) -> Ipv4Addr {
        Ipv4Addr::from(read_u32(self.buffer.as_ref(), SRC))
    }

    #[inline(always)]
    pub fn dst(&self) -> Ipv4Addr {
        Ipv4Addr::from(read_u32(self.buffer.as_ref(), DST))
    }

    /// The header, options included.
    #[inline]
    pub fn header(&self) -> &[u8] {
        &self.buffer.as_ref()[..self.header_len()]
    }

    /// The option bytes (empty when IHL is 5).
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[IPV4_HEADER_LEN..self.header_len()]
    }

    /// The payload up to the total length (never past the buffer's end).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let (start, end) = self.payload_range();
        &self.buffer.as_ref()[start..end]
    }

    #[inline]
    fn payload_range(&self) -> (usize, usize) {
        let len = self.buffer.as_ref().len();
        let start = self.header_len().min(len);
        let end = self.total_len().clamp(start, len);
        (start, end)
    }

    /// Whether the header checksum is right.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::verifies(self.header())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Writes version 4 and the IHL for `header_len` bytes (a multiple of 4).
    #[inline]
    pub fn set_header_len(&mut self, header_len: usize) {
        self.buffer.as_mut()[VER_IHL] = 0x40 | ((header_len / 4) as u8 & 0x0f);
    }

    #[inline]
    pub fn set_dscp(&mut self, dscp: u8) {
        let b = self.buffer.as_mut();
        b[TOS] = (dscp << 2) | (b[TOS] & 0x03);
    }

    #[inline]
    pub fn set_ecn(&mut self, ecn: u8) {
        let b = self.buffer.as_mut();
        b[TOS] = (b[TOS] & 0xfc) | (ecn & 0x03);
    }

    #[inline]
    pub fn set_total_len(&mut self, total_len: u16) {
        write_u16(self.buffer.as_mut(), TOTAL_LEN, total_len);
    }

    #[inline]
    pub fn set_ident(&mut self, ident: u16) {
        write_u16(self.buffer.as_mut(), IDENT, ident);
    }

    /// Sets DF, MF and the fragment offset (8-byte units).
    #[inline]
    pub fn set_fragment(&mut self, dont_fragment: bool, more_fragments: bool, offset: u16) {
        let mut word = offset & FRAG_OFFSET_MASK;
        if dont_fragment {
            word |= FLAG_DF;
        }
        if more_fragments {
            word |= FLAG_MF;
        }
        write_u16(self.buffer.as_mut(), FLAGS_FRAG, word);
    }

    #[inline]
    pub fn set_ttl(&mut self, ttl: u8) {
        self.buffer.as_mut()[TTL] = ttl;
    }

    #[inline]
    pub fn set_protocol(&mut self, protocol: u8) {
        self.buffer.as_mut()[PROTOCOL] = protocol;
    }

    #[inline]
    pub fn set_checksum(&mut self, checksum: u16) {
        write_u16(self.buffer.as_mut(), CHECKSUM, checksum);
    }

    /// Sets the source without touching the checksum.
    #[inline]
    pub fn set_src(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[SRC..SRC + 4].copy_from_slice(&addr.octets());
    }

    /// Sets the destination without touching the checksum.
    #[inline]
    pub fn set_dst(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[DST..DST + 4].copy_from_slice(&addr.octets());
    }

    /// Recomputes the header checksum from scratch.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let csum = checksum::checksum(self.header());
        self.set_checksum(csum);
    }

    /// Sets the source and patches the header checksum (RFC 1624). A TCP
    /// or UDP checksum also covers the address: patch it with the L4 view's
    /// `adjust_checksum_for_address`.
    #[inline]
    pub fn set_src_incremental(&mut self, addr: Ipv4Addr) {
        let old = u32::from(self.src());
        let csum = checksum::update32(self.checksum(), old, u32::from(addr));
        self.set_src(addr);
        self.set_checksum(csum);
    }

    /// Sets the destination and patches the header checksum.
    #[inline]
    pub fn set_dst_incremental(&mut self, addr: Ipv4Addr) {
        let old = u32::from(self.dst());
        let csum = checksum::update32(self.checksum(), old, u32::from(addr));
        self.set_dst(addr);
        self.set_checksum(csum);
    }

    /// Decrements the TTL for forwarding and patches the checksum; returns
    /// the new TTL. A TTL of 0 or 1 must not be forwarded (RFC 1812
    /// 5.3.1): the packet is left as it was and `TtlExpired` returned.
    #[inline]
    pub fn decrement_ttl_incremental(&mut self) -> Result<u8, WireError> {
        let ttl = self.ttl();
        if ttl <= 1 {
            return Err(WireError::TtlExpired);
        }
        let protocol = u16::from(self.protocol());
        let old = (u16::from(ttl) << 8) | protocol;
        let new = (u16::from(ttl - 1) << 8) | protocol;
        let csum = checksum::update16(self.checksum(), old, new);
        self.set_ttl(ttl - 1);
        self.set_checksum(csum);
        Ok(ttl - 1)
    }

    /// The payload up to the total length, writable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (start, end) = self.payload_range();
        &mut self.buffer.as_mut()[start..end]
    }
}

/// An IPv4 header without options, as plain values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Repr {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub ttl: u8,
    pub dscp: u8,
    pub ecn: u8,
    pub ident: u16,
    pub dont_fragment: bool,
    /// Bytes after the header.
    pub payload_len: usize,
}

impl Ipv4Repr {
    /// A header for a packet the appliance originates: TTL 64, DSCP 0,
    /// ident 0, DF clear.
    pub const fn new(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, payload_len: usize) -> Self {
        Ipv4Repr {
            src,
            dst,
            protocol,
            ttl: DEFAULT_TTL,
            dscp: 0,
            ecn: 0,
            ident: 0,
            dont_fragment: false,
            payload_len,
        }
    }

    /// Reads a checked packet: `BadChecksum` if the header checksum is
    /// wrong, `Fragment` for any fragment. Options are skipped (their
    /// length is not counted in `payload_len`).
    pub fn parse<T: AsRef<[u8]>>(packet: &Ipv4Packet<T>) -> Result<Self, WireError> {
        if !packet.verify_checksum() {
            return Err(WireError::BadChecksum);
        }
        if packet.is_fragment() {
            return Err(WireError::Fragment);
        }
        Ok(Ipv4Repr {
            src: packet.src(),
            dst: packet.dst(),
            protocol: packet.protocol(),
            ttl: packet.ttl(),
            dscp: packet.dscp(),
            ecn: packet.ecn(),
            ident: packet.ident(),
            dont_fragment: packet.dont_fragment(),
            payload_len: packet.total_len().saturating_sub(packet.header_len()),
        })
    }

    /// Always 20: options are never emitted.
    #[inline]
    pub const fn header_len(&self) -> usize {
        IPV4_HEADER_LEN
    }

    /// Header plus payload.
    #[inline]
    pub const fn total_len(&self) -> usize {
        IPV4_HEADER_LEN + self.payload_len
    }

    /// Writes the 20-byte header, checksum included, at the start of `buf`
    /// (the payload need not be there yet); returns 20.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        let total_len = u16::try_from(self.total_len()).map_err(|_| WireError::BadTotalLength)?;
        if buf.len() < IPV4_HEADER_LEN {
            return Err(WireError::BufferTooSmall);
        }
        let mut packet = Ipv4Packet::new_unchecked(&mut buf[..IPV4_HEADER_LEN]);
        packet.set_header_len(IPV4_HEADER_LEN);
        packet.buffer[TOS] = 0;
        packet.set_dscp(self.dscp);
        packet.set_ecn(self.ecn);
        packet.set_total_len(total_len);
        packet.set_ident(self.ident);
        packet.set_fragment(self.dont_fragment, false, 0);
        packet.set_ttl(self.ttl);
        packet.set_protocol(self.protocol);
        packet.set_src(self.src);
        packet.set_dst(self.dst);
        packet.fill_checksum();
        Ok(IPV4_HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testutil::{arb_ipv4, slow_checksum, slow_checksum_zeroing};
    use proptest::prelude::*;

    /// 20-byte header, UDP, 10.0.0.1 -> 10.0.0.2, 4 bytes of payload, then
    /// 2 bytes of Ethernet padding.
    fn sample() -> Vec<u8> {
        let mut bytes = vec![
            0x45, 0x00, 0x00, 0x18, 0x12, 0x34, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 10, 0, 0, 1,
            10, 0, 0, 2, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x00,
        ];
        let csum = slow_checksum(&bytes[..20]);
        bytes[10..12].copy_from_slice(&csum.to_be_bytes());
        bytes
    }

    /// The same packet with 8 bytes of options (NOP NOP NOP NOP + 4 more).
    fn sample_with_options() -> Vec<u8> {
        let mut bytes = vec![
            0x47, 0x00, 0x00, 0x20, 0x12, 0x34, 0x00, 0x00, 0x40, 0x06, 0x00, 0x00, 10, 0, 0, 1,
            10, 0, 0, 2, 1, 1, 1, 1, 1, 1, 1, 0, 0xde, 0xad, 0xbe, 0xef,
        ];
        let csum = slow_checksum(&bytes[..28]);
        bytes[10..12].copy_from_slice(&csum.to_be_bytes());
        bytes
    }

    #[test]
    fn parses_fields_and_ignores_padding() {
        let bytes = sample();
        let packet = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(packet.version(), 4);
        assert_eq!(packet.header_len(), 20);
        assert_eq!(packet.total_len(), 24);
        assert_eq!(packet.ident(), 0x1234);
        assert!(packet.dont_fragment());
        assert!(!packet.is_fragment());
        assert_eq!(packet.ttl(), 64);
        assert_eq!(packet.protocol(), PROTO_UDP);
        assert_eq!(packet.src(), Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(packet.dst(), Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(packet.options(), &[] as &[u8]);
        assert_eq!(packet.payload(), &[0xde, 0xad, 0xbe, 0xef]);
        assert!(packet.verify_checksum());
        let repr = Ipv4Repr::parse(&packet).unwrap();
        assert_eq!(repr.payload_len, 4);
        assert!(repr.dont_fragment);
    }

    #[test]
    fn options_are_skipped() {
        let bytes = sample_with_options();
        let packet = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(packet.header_len(), 28);
        assert_eq!(packet.options(), &[1, 1, 1, 1, 1, 1, 1, 0]);
        assert_eq!(packet.payload(), &[0xde, 0xad, 0xbe, 0xef]);
        assert!(packet.verify_checksum());
        let repr = Ipv4Repr::parse(&packet).unwrap();
        assert_eq!(repr.payload_len, 4);
        assert_eq!(repr.protocol, PROTO_TCP);
    }

    #[test]
    fn truncation_at_every_length() {
        for bytes in [sample(), sample_with_options()] {
            let header_len = usize::from(bytes[0] & 0x0f) * 4;
            let total_len = usize::from(bytes[3]);
            for len in 0..total_len {
                let err = Ipv4Packet::new_checked(&bytes[..len]).unwrap_err();
                let expected = if len < header_len {
                    WireError::Truncated
                } else {
                    WireError::BadTotalLength
                };
                assert_eq!(err, expected, "length {len}");
            }
            assert!(Ipv4Packet::new_checked(&bytes[..total_len]).is_ok());
        }
    }

    #[test]
    fn bad_version_ihl_and_total_length() {
        let mut bytes = sample();
        bytes[0] = 0x65;
        assert_eq!(
            Ipv4Packet::new_checked(&bytes[..]).unwrap_err(),
            WireError::BadVersion
        );
        for ihl in 0..5u8 {
            bytes[0] = 0x40 | ihl;
            assert_eq!(
                Ipv4Packet::new_checked(&bytes[..]).unwrap_err(),
                WireError::BadIhl
            );
        }
        bytes[0] = 0x4f; // 60-byte header in a 26-byte buffer
        assert_eq!(
            Ipv4Packet::new_checked(&bytes[..]).unwrap_err(),
            WireError::Truncated
        );
        let mut bytes = sample();
        bytes[3] = 19; // smaller than the header
        assert_eq!(
            Ipv4Packet::new_checked(&bytes[..]).unwrap_err(),
            WireError::BadTotalLength
        );
        bytes[3] = 27; // larger than the buffer
        assert_eq!(
            Ipv4Packet::new_checked(&bytes[..]).unwrap_err(),
            WireError::BadTotalLength
        );
        bytes[3] = 26; // exactly the buffer: padding becomes payload
        assert_eq!(
            Ipv4Packet::new_checked(&bytes[..]).unwrap().payload().len(),
            6
        );
    }

    #[test]
    fn repr_rejects_bad_checksum_and_fragments() {
        let mut bytes = sample();
        bytes[11] ^= 1;
        let packet = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(Ipv4Repr::parse(&packet), Err(WireError::BadChecksum));

        for (more, offset) in [(true, 0), (false, 1), (true, 100)] {
            let mut bytes = sample();
            let mut packet = Ipv4Packet::new_checked(&mut bytes[..]).unwrap();
            packet.set_fragment(false, more, offset);
            packet.fill_checksum();
            assert!(packet.is_fragment());
            assert_eq!(packet.more_fragments(), more);
            assert_eq!(packet.fragment_offset(), offset);
            assert_eq!(Ipv4Repr::parse(&packet), Err(WireError::Fragment));
        }
    }

    #[test]
    fn quoted_header_view_cuts_payload_at_buffer_end() {
        let bytes = sample();
        let quoted = &bytes[..22];
        assert!(Ipv4Packet::new_checked(quoted).is_err());
        let packet = Ipv4Packet::new_checked_header(quoted).unwrap();
        assert_eq!(packet.payload(), &[0xde, 0xad]);
    }

    #[test]
    fn ttl_of_one_is_not_forwarded() {
        for ttl in [0u8, 1] {
            let mut bytes = sample();
            let mut packet = Ipv4Packet::new_checked(&mut bytes[..]).unwrap();
            packet.set_ttl(ttl);
            packet.fill_checksum();
            let before = packet.as_bytes().to_vec();
            assert_eq!(
                packet.decrement_ttl_incremental(),
                Err(WireError::TtlExpired)
            );
            assert_eq!(packet.as_bytes(), &before[..]);
        }
    }

    #[test]
    fn unicast_classification() {
        assert!(is_unicast(Ipv4Addr::new(10, 1, 2, 3)));
        assert!(is_unicast(Ipv4Addr::new(223, 255, 255, 254)));
        assert!(!is_unicast(Ipv4Addr::UNSPECIFIED));
        assert!(!is_unicast(Ipv4Addr::BROADCAST));
        assert!(!is_unicast(Ipv4Addr::new(224, 0, 0, 1)));
        assert!(!is_unicast(Ipv4Addr::new(240, 0, 0, 1)));
    }

    #[test]
    fn emit_refuses_short_buffer_and_oversized_payload() {
        let repr = Ipv4Repr::new(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, PROTO_TCP, 10);
        assert_eq!(repr.emit(&mut [0; 19]), Err(WireError::BufferTooSmall));
        let huge = Ipv4Repr {
            payload_len: 65516,
            ..repr
        };
        assert_eq!(huge.emit(&mut [0; 20]), Err(WireError::BadTotalLength));
        let max = Ipv4Repr {
            payload_len: 65515,
            ..repr
        };
        assert_eq!(max.emit(&mut [0; 20]), Ok(20));
    }

    prop_compose! {
        fn arb_repr()(
            src in arb_ipv4(),
            dst in arb_ipv4(),
            protocol in any::<u8>(),
            ttl in any::<u8>(),
            dscp in 0u8..64,
            ecn in 0u8..4,
            ident in any::<u16>(),
            dont_fragment in any::<bool>(),
            payload_len in 0usize..200,
        ) -> Ipv4Repr {
            Ipv4Repr { src, dst, protocol, ttl, dscp, ecn, ident, dont_fragment, payload_len }
        }
    }

    /// A packet from `repr` with `option_words` 4-byte option words and a
    /// random payload; its checksum is right.
    fn packet_with_options(repr: &Ipv4Repr, option_words: usize, fill: u8) -> Vec<u8> {
        let header_len = 20 + 4 * option_words;
        let mut bytes = vec![fill; header_len + repr.payload_len];
        repr.emit(&mut bytes).unwrap();
        bytes[0] = 0x40 | (header_len / 4) as u8;
        bytes[2..4].copy_from_slice(&((header_len + repr.payload_len) as u16).to_be_bytes());
        let mut packet = Ipv4Packet::new_checked(&mut bytes[..]).unwrap();
        packet.fill_checksum();
        bytes
    }

    proptest! {
        #[test]
        fn emit_then_parse_round_trips(repr in arb_repr()) {
            let mut bytes = vec![0u8; repr.total_len()];
            prop_assert_eq!(repr.emit(&mut bytes), Ok(20));
            let packet = Ipv4Packet::new_checked(&bytes[..]).unwrap();
            prop_assert_eq!(packet.checksum(), slow_checksum_zeroing(&bytes[..20], 10));
            prop_assert_eq!(Ipv4Repr::parse(&packet), Ok(repr));
        }

        #[test]
        fn incremental_rewrites_match_full_recompute(
            repr in arb_repr(),
            option_words in 0usize..=10,
            fill in any::<u8>(),
            new_src in arb_ipv4(),
            new_dst in arb_ipv4(),
        ) {
            let mut bytes = packet_with_options(&repr, option_words, fill);
            let header_len = 20 + 4 * option_words;
            let mut packet = Ipv4Packet::new_checked(&mut bytes[..]).unwrap();
            packet.set_src_incremental(new_src);
            prop_assert_eq!(packet.checksum(), slow_checksum_zeroing(&packet.as_bytes()[..header_len], 10));
            packet.set_dst_incremental(new_dst);
            prop_assert_eq!(packet.checksum(), slow_checksum_zeroing(&packet.as_bytes()[..header_len], 10));
            let ttl = packet.ttl();
            match packet.decrement_ttl_incremental() {
                Ok(new_ttl) => {
                    prop_assert_eq!(new_ttl, ttl - 1);
                    prop_assert_eq!(packet.ttl(), ttl - 1);
                }
                Err(err) => {
                    prop_assert!(ttl <= 1);
                    prop_assert_eq!(err, WireError::TtlExpired);
                }
            }
            prop_assert_eq!(packet.checksum(), slow_checksum_zeroing(&packet.as_bytes()[..header_len], 10));
            prop_assert!(packet.verify_checksum());
            prop_assert_eq!(packet.src(), new_src);
            prop_assert_eq!(packet.dst(), new_dst);
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Ok(packet) = Ipv4Packet::new_checked(&bytes[..]) {
                prop_assert!(packet.header_len() >= 20);
                prop_assert!(packet.header_len() <= packet.total_len());
                prop_assert!(packet.total_len() <= bytes.len());
                prop_assert_eq!(packet.payload().len(), packet.total_len() - packet.header_len());
                let _ = (packet.options(), packet.src(), packet.dst(), packet.is_fragment());
                let _ = Ipv4Repr::parse(&packet);
            }
            if let Ok(packet) = Ipv4Packet::new_checked_header(&bytes[..]) {
                let _ = (packet.options(), packet.payload(), packet.verify_checksum());
            }
        }
    }
}
