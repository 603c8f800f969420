//! TCP segment headers (RFC 793): the ports and flags the gateway steers
//! and tracks sessions by, the port rewrites of address translation, and
//! the header of the RSTs it sends.

use super::bytes::{read_u16, read_u32, write_u16, write_u32};
use super::checksum;
use super::{WireError, PROTO_TCP};
use std::fmt;
use std::net::Ipv4Addr;
use std::ops::{BitAnd, BitOr, BitOrAssign};

/// Header length without options.
pub const TCP_HEADER_LEN: usize = 20;

const SRC_PORT: usize = 0;
const DST_PORT: usize = 2;
const SEQ: usize = 4;
const ACK: usize = 8;
const DATA_OFFSET: usize = 12;
const FLAGS: usize = 13;
const WINDOW: usize = 14;
const CHECKSUM: usize = 16;
const URGENT: usize = 18;

/// The eight TCP flag bits of byte 13.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(u8);

impl TcpFlags {
    pub const FIN: TcpFlags = TcpFlags(0x01);
    pub const SYN: TcpFlags = TcpFlags(0x02);
    pub const RST: TcpFlags = TcpFlags(0x04);
    pub const PSH: TcpFlags = TcpFlags(0x08);
    pub const ACK: TcpFlags = TcpFlags(0x10);
    pub const URG: TcpFlags = TcpFlags(0x20);
    pub const ECE: TcpFlags = TcpFlags(0x40);
    pub const CWR: TcpFlags = TcpFlags(0x80);

    const NAMES: [(TcpFlags, &'static str); 8] = [
        (TcpFlags::FIN, "FIN"),
        (TcpFlags::SYN, "SYN"),
        (TcpFlags::RST, "RST"),
        (TcpFlags::PSH, "PSH"),
        (TcpFlags::ACK, "ACK"),
        (TcpFlags::URG, "URG"),
        (TcpFlags::ECE, "ECE"),
        (TcpFlags::CWR, "CWR"),
    ];

    /// No flags set (also what UDP and ICMP packets pass to the flow state).
    pub const NONE: TcpFlags = TcpFlags(0);

    #[inline]
    pub const fn empty() -> Self {
        TcpFlags(0)
    }

    /// The flags the flow state machine and window tracking look at (SYN,
    /// ACK, FIN, RST) of a TCP header's flags byte; the others are left out.
    #[inline]
    pub const fn from_header_byte(bits: u8) -> Self {
        TcpFlags(bits & (0x01 | 0x02 | 0x04 | 0x10))
    }

    /// The state machine's four flags, set as given.
    #[inline]
    pub const fn of(syn: bool, ack: bool, fin: bool, rst: bool) -> Self {
        TcpFlags((syn as u8) << 1 | (ack as u8) << 4 | fin as u8 | (rst as u8) << 2)
    }

    #[inline]
    pub const fn syn(self) -> bool {
        self.0 & 0x02 != 0
    }

    #[inline]
    pub const fn ack(self) -> bool {
        self.0 & 0x10 != 0
    }

    #[inline]
    pub const fn fin(self) -> bool {
        self.0 & 0x01 != 0
    }

    #[inline]
    pub const fn rst(self) -> bool {
        self.0 & 0x04 != 0
    }

    #[inline]
    pub const fn from_bits(bits: u8) -> Self {
        TcpFlags(bits)
    }

    #[inline]
    pub const fn bits(self) -> u8 {
        self.0
    }

    #[inline]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// All of `other`'s bits are set.
    #[inline]
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Any of `other`'s bits is set.
    #[inline]
    pub const fn intersects(self, other: TcpFlags) -> bool {
        self.0 & other.0 != 0
    }

    #[inline]
    pub const fn union(self, other: TcpFlags) -> Self {
        TcpFlags(self.0 | other.0)
    }

    #[inline]
    pub fn insert(&mut self, other: TcpFlags) {
        self.0 |= other.0;
    }

    #[inline]
    pub fn remove(&mut self, other: TcpFlags) {
        self.0 &= !other.0;
    }
}

impl BitOr for TcpFlags {
    type Output = TcpFlags;
    #[inline]
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        self.union(rhs)
    }
}

impl BitOrAssign for TcpFlags {
    #[inline]
    fn bitor_assign(&mut self, rhs: TcpFlags) {
        self.insert(rhs);
    }
}

impl BitAnd for TcpFlags {
    type Output = TcpFlags;
    #[inline]
    fn bitand(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 & rhs.0)
    }
}

impl fmt::Debug for TcpFlags {
    /// `SYN|ACK`; `-` when empty.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("-");
        }
        let mut first = true;
        for (flag, name) in TcpFlags::NAMES {
            if self.contains(flag) {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

/// A view of a TCP segment: the IPv4 payload, up to the total length.
/// After `new_checked` the data offset is at least 5 and the header fits.
#[derive(Debug, Clone)]
pub struct TcpSegment<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpSegment<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        TcpSegment { buffer }
    }

    /// Wraps after checking the fixed header is there (`Truncated`) and the
    /// data offset is >= 5 and within the segment (`BadTcpOffset`).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let bytes = buffer.as_ref();
        if bytes.len() < TCP_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let header_len = usize::from(bytes[DATA_OFFSET] >> 4) * 4;
        if header_len < TCP_HEADER_LEN || header_len > bytes.len() {
            return Err(WireError::BadTcpOffset);
        }
        Ok(TcpSegment { buffer })
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
    pub fn src_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), SRC_PORT)
    }

    #[inline]
    pub fn dst_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), DST_PORT)
    }

    #[inline]
    pub fn seq_number(&self) -> u32 {
        read_u32(self.buffer.as_ref(), SEQ)
    }

    #[inline]
    pub fn ack_number(&self) -> u32 {
        read_u32(self.buffer.as_ref(), ACK)
    }

    /// Header length in bytes (data offset × 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[DATA_OFFSET] >> 4) * 4
    }

    #[inline]
    pub fn flags(&self) -> TcpFlags {
        TcpFlags(self.buffer.as_ref()[FLAGS])
    }

    #[inline]
    pub fn window(&self) -> u16 {
        read_u16(self.buffer.as_ref(), WINDOW)
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), CHECKSUM)
    }

    #[inline]
    pub fn urgent_pointer(&self) -> u16 {
        read_u16(self.buffer.as_ref(), URGENT)
    }

    /// Option bytes (empty when the data offset is 5).
    #[inline]
    pub fn options(&self) -> &[u8] {
        let end = self.header_len().min(self.buffer.as_ref().len());
        &self.buffer.as_ref()[TCP_HEADER_LEN.min(end)..end]
    }

    #[inline]
    pub fn payload(&self) -> &[u8] {
        let start = self.header_len().min(self.buffer.as_ref().len());
        &self.buffer.as_ref()[start..]
    }

    /// Sequence space the segment occupies: payload plus one for SYN and
    /// one for FIN.
    #[inline]
    pub fn segment_len(&self) -> usize {
        let flags = self.flags();
        self.payload().len()
            + usize::from(flags.contains(TcpFlags::SYN))
            + usize::from(flags.contains(TcpFlags::FIN))
    }

    /// Whether the checksum (pseudo header included) is right.
    #[inline]
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        checksum::l4_verifies(src, dst, PROTO_TCP, self.buffer.as_ref())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpSegment<T> {
    #[inline]
    pub fn set_src_port(&mut self, port: u16) {
        write_u16(self.buffer.as_mut(), SRC_PORT, port);
    }

    #[inline]
    pub fn set_dst_port(&mut self, port: u16) {
        write_u16(self.buffer.as_mut(), DST_PORT, port);
    }

    #[inline]
    pub fn set_seq_number(&mut self, seq: u32) {
        write_u32(self.buffer.as_mut(), SEQ, seq);
    }

    #[inline]
    pub fn set_ack_number(&mut self, ack: u32) {
        write_u32(self.buffer.as_mut(), ACK, ack);
    }

    /// Sets the data offset for `header_len` bytes (a multiple of 4),
    /// clearing the reserved bits.
    #[inline]
    pub fn set_header_len(&mut self, header_len: usize) {
        self.buffer.as_mut()[DATA_OFFSET] = ((header_len / 4) as u8) << 4;
    }

    #[inline]
    pub fn set_flags(&mut self, flags: TcpFlags) {
        self.buffer.as_mut()[FLAGS] = flags.bits();
    }

    #[inline]
    pub fn set_window(&mut self, window: u16) {
        write_u16(self.buffer.as_mut(), WINDOW, window);
    }

    #[inline]
    pub fn set_checksum(&mut self, csum: u16) {
        write_u16(self.buffer.as_mut(), CHECKSUM, csum);
    }

    #[inline]
    pub fn set_urgent_pointer(&mut self, pointer: u16) {
        write_u16(self.buffer.as_mut(), URGENT, pointer);
    }

    /// Recomputes the checksum over pseudo header and the whole segment.
    #[inline]
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let csum = checksum::l4_checksum(src, dst, PROTO_TCP, self.buffer.as_ref());
        self.set_checksum(csum);
    }

    /// Sets the source port and patches the checksum.
    #[inline]
    pub fn set_src_port_incremental(&mut self, port: u16) {
        let csum = checksum::update16(self.checksum(), self.src_port(), port);
        self.set_src_port(port);
        self.set_checksum(csum);
    }

    /// Sets the destination port and patches the checksum.
    #[inline]
    pub fn set_dst_port_incremental(&mut self, port: u16) {
        let csum = checksum::update16(self.checksum(), self.dst_port(), port);
        self.set_dst_port(port);
        self.set_checksum(csum);
    }

    /// Patches the checksum for an IPv4 source or destination that changed
    /// from `old` to `new` (the pseudo header covers both).
    #[inline]
    pub fn adjust_checksum_for_address(&mut self, old: Ipv4Addr, new: Ipv4Addr) {
        let csum = checksum::update32(self.checksum(), u32::from(old), u32::from(new));
        self.set_checksum(csum);
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len().min(self.buffer.as_ref().len());
        &mut self.buffer.as_mut()[start..]
    }
}

/// A TCP header without options, as plain values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpRepr {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
}

impl TcpRepr {
    /// Reads a checked segment; `BadChecksum` if the checksum is wrong.
    /// Options and urgent pointer are skipped.
    pub fn parse<T: AsRef<[u8]>>(
        segment: &TcpSegment<T>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
    ) -> Result<Self, WireError> {
        if !segment.verify_checksum(src, dst) {
            return Err(WireError::BadChecksum);
        }
        Ok(TcpRepr {
            src_port: segment.src_port(),
            dst_port: segment.dst_port(),
            seq: segment.seq_number(),
            ack: segment.ack_number(),
            flags: segment.flags(),
            window: segment.window(),
        })
    }

    /// Always 20: options are never emitted.
    #[inline]
    pub const fn header_len(&self) -> usize {
        TCP_HEADER_LEN
    }

    /// Writes the header into the front of `segment` and fills the checksum
    /// over all of `segment`, so put the payload after the header first.
    /// Returns 20.
    pub fn emit(
        &self,
        segment: &mut [u8],
        src: Ipv4Addr,
        dst: Ipv4Addr,
    ) -> Result<usize, WireError> {
        let mut view = self.emit_fields(segment)?;
        view.fill_checksum(src, dst);
        Ok(TCP_HEADER_LEN)
    }

    /// [`emit`](Self::emit) over IPv6: the checksum covers the IPv6
    /// pseudo header of `src` and `dst`.
    pub fn emit_v6(
        &self,
        segment: &mut [u8],
        src: std::net::Ipv6Addr,
        dst: std::net::Ipv6Addr,
    ) -> Result<usize, WireError> {
        self.emit_fields(segment)?;
        segment[16..18].copy_from_slice(&[0, 0]);
        let c = super::checksum::l4_checksum_v6(src, dst, super::PROTO_TCP, segment);
        segment[16..18].copy_from_slice(&c.to_be_bytes());
        Ok(TCP_HEADER_LEN)
    }

    /// Writes every field but the checksum.
    fn emit_fields<'a>(
        &self,
        segment: &'a mut [u8],
    ) -> Result<TcpSegment<&'a mut [u8]>, WireError> {
        if segment.len() < TCP_HEADER_LEN {
            return Err(WireError::BufferTooSmall);
        }
        let mut view = TcpSegment::new_unchecked(segment);
        view.set_src_port(self.src_port);
        view.set_dst_port(self.dst_port);
        view.set_seq_number(self.seq);
        view.set_ack_number(self.ack);
        view.set_header_len(TCP_HEADER_LEN);
        view.set_flags(self.flags);
        view.set_window(self.window);
        view.set_urgent_pointer(0);
        Ok(view)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_machine_flags_keep_syn_ack_fin_rst_only() {
        let f = TcpFlags::from_header_byte(0xff);
        assert_eq!(
            f,
            TcpFlags::SYN | TcpFlags::ACK | TcpFlags::FIN | TcpFlags::RST
        );
        assert!(f.syn() && f.ack() && f.fin() && f.rst());
        assert_eq!(
            TcpFlags::from_header_byte(0x18),
            TcpFlags::ACK,
            "PSH left out"
        );
        assert_eq!(
            TcpFlags::of(true, true, false, false),
            TcpFlags::SYN | TcpFlags::ACK
        );
        assert_eq!(
            TcpFlags::of(false, false, true, true),
            TcpFlags::FIN | TcpFlags::RST
        );
        assert!(!TcpFlags::NONE.syn() && !TcpFlags::NONE.ack());
    }
    use crate::wire::frames::tcp_frame;
    use crate::wire::testutil::{
        arb_frame_spec, arb_ipv4, arb_payload, slow_l4_checksum, slow_l4_checksum_zeroing,
    };
    use crate::wire::{EthernetFrame, Ipv4Packet};
    use proptest::prelude::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);

    /// SYN 40000 -> 443, seq 1000, with a 4-byte MSS option and 3 payload bytes.
    fn sample() -> Vec<u8> {
        let mut bytes = vec![
            0x9c, 0x40, 0x01, 0xbb, 0x00, 0x00, 0x03, 0xe8, 0x00, 0x00, 0x00, 0x00, 0x60, 0x02,
            0xfa, 0xf0, 0x00, 0x00, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, b'a', b'b', b'c',
        ];
        let csum = slow_l4_checksum(SRC, DST, PROTO_TCP, &bytes);
        bytes[16..18].copy_from_slice(&csum.to_be_bytes());
        bytes
    }

    #[test]
    fn parses_fields() {
        let bytes = sample();
        let segment = TcpSegment::new_checked(&bytes[..]).unwrap();
        assert_eq!(segment.src_port(), 40000);
        assert_eq!(segment.dst_port(), 443);
        assert_eq!(segment.seq_number(), 1000);
        assert_eq!(segment.ack_number(), 0);
        assert_eq!(segment.header_len(), 24);
        assert_eq!(segment.flags(), TcpFlags::SYN);
        assert_eq!(segment.window(), 0xfaf0);
        assert_eq!(segment.options(), &[2, 4, 5, 0xb4]);
        assert_eq!(segment.payload(), b"abc");
        assert_eq!(segment.segment_len(), 4);
        assert!(segment.verify_checksum(SRC, DST));
        assert!(!segment.verify_checksum(DST, Ipv4Addr::new(198, 51, 100, 8)));
        let repr = TcpRepr::parse(&segment, SRC, DST).unwrap();
        assert_eq!(repr.flags, TcpFlags::SYN);
        assert_eq!(
            TcpRepr::parse(&segment, SRC, Ipv4Addr::new(1, 1, 1, 1)),
            Err(WireError::BadChecksum)
        );
    }

    #[test]
    fn truncation_and_bad_offsets() {
        let bytes = sample();
        for len in 0..TCP_HEADER_LEN {
            assert_eq!(
                TcpSegment::new_checked(&bytes[..len]).unwrap_err(),
                WireError::Truncated
            );
        }
        // 20..24: the options the data offset declares are cut off.
        for len in TCP_HEADER_LEN..24 {
            assert_eq!(
                TcpSegment::new_checked(&bytes[..len]).unwrap_err(),
                WireError::BadTcpOffset
            );
        }
        for len in 24..=bytes.len() {
            assert!(TcpSegment::new_checked(&bytes[..len]).is_ok());
        }
        for offset in 0..5u8 {
            let mut bytes = sample();
            bytes[12] = offset << 4;
            assert_eq!(
                TcpSegment::new_checked(&bytes[..]).unwrap_err(),
                WireError::BadTcpOffset
            );
        }
        let mut bytes = sample();
        bytes[12] = 0xf0; // 60-byte header in 27 bytes
        assert_eq!(
            TcpSegment::new_checked(&bytes[..]).unwrap_err(),
            WireError::BadTcpOffset
        );
    }

    #[test]
    fn flags_behave_like_a_bit_set() {
        let mut flags = TcpFlags::SYN | TcpFlags::ACK;
        assert!(flags.contains(TcpFlags::SYN));
        assert!(!flags.contains(TcpFlags::SYN | TcpFlags::FIN));
        assert!(flags.intersects(TcpFlags::SYN | TcpFlags::FIN));
        assert_eq!(format!("{flags:?}"), "SYN|ACK");
        flags.remove(TcpFlags::SYN);
        flags |= TcpFlags::RST;
        assert_eq!(flags.bits(), 0x14);
        assert_eq!(flags & TcpFlags::RST, TcpFlags::RST);
        assert_eq!(format!("{:?}", TcpFlags::empty()), "-");
        assert_eq!(TcpFlags::from_bits(0xff).bits(), 0xff);
    }

    #[test]
    fn emit_refuses_a_short_buffer() {
        let repr = TcpRepr {
            src_port: 1,
            dst_port: 2,
            seq: 3,
            ack: 4,
            flags: TcpFlags::RST,
            window: 0,
        };
        assert_eq!(
            repr.emit(&mut [0; 19], SRC, DST),
            Err(WireError::BufferTooSmall)
        );
    }

    prop_compose! {
        fn arb_repr()(
            src_port in any::<u16>(),
            dst_port in any::<u16>(),
            seq in any::<u32>(),
            ack in any::<u32>(),
            flags in any::<u8>(),
            window in any::<u16>(),
        ) -> TcpRepr {
            TcpRepr { src_port, dst_port, seq, ack, flags: TcpFlags::from_bits(flags), window }
        }
    }

    proptest! {
        #[test]
        fn emit_then_parse_round_trips(
            repr in arb_repr(),
            src in arb_ipv4(),
            dst in arb_ipv4(),
            payload in arb_payload(100),
        ) {
            let mut bytes = vec![0u8; 20 + payload.len()];
            bytes[20..].copy_from_slice(&payload);
            prop_assert_eq!(repr.emit(&mut bytes, src, dst), Ok(20));
            prop_assert_eq!(
                u16::from_be_bytes([bytes[16], bytes[17]]),
                slow_l4_checksum_zeroing(src, dst, PROTO_TCP, &bytes, 16)
            );
            let segment = TcpSegment::new_checked(&bytes[..]).unwrap();
            prop_assert_eq!(TcpRepr::parse(&segment, src, dst), Ok(repr));
            prop_assert_eq!(segment.payload(), &payload[..]);
        }

        /// A NAT rewrite of addresses and ports, patched incrementally,
        /// leaves both checksums exactly as a full recompute makes them.
        #[test]
        fn nat_rewrite_matches_full_recompute(
            spec in arb_frame_spec(),
            repr in arb_repr(),
            payload in arb_payload(300),
            new_src in arb_ipv4(),
            new_dst in arb_ipv4(),
            new_sport in any::<u16>(),
            new_dport in any::<u16>(),
        ) {
            let mut frame = tcp_frame(&spec, repr.seq, repr.ack, repr.flags, repr.window, &payload).unwrap();
            let l3 = EthernetFrame::new_checked(&frame[..]).unwrap().payload_offset();
            let mut ip = Ipv4Packet::new_checked(&mut frame[l3..]).unwrap();
            let (old_src, old_dst) = (ip.src(), ip.dst());
            ip.set_src_incremental(new_src);
            ip.set_dst_incremental(new_dst);
            let mut tcp = TcpSegment::new_checked(ip.payload_mut()).unwrap();
            tcp.adjust_checksum_for_address(old_src, new_src);
            tcp.adjust_checksum_for_address(old_dst, new_dst);
            tcp.set_src_port_incremental(new_sport);
            tcp.set_dst_port_incremental(new_dport);
            prop_assert_eq!(
                tcp.checksum(),
                slow_l4_checksum_zeroing(new_src, new_dst, PROTO_TCP, tcp.as_bytes(), 16)
            );
            prop_assert!(tcp.verify_checksum(new_src, new_dst));
            prop_assert_eq!((tcp.src_port(), tcp.dst_port()), (new_sport, new_dport));
            let ip = Ipv4Packet::new_checked(&frame[l3..]).unwrap();
            prop_assert!(ip.verify_checksum());
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..70)) {
            if let Ok(segment) = TcpSegment::new_checked(&bytes[..]) {
                prop_assert!(segment.header_len() >= 20);
                prop_assert_eq!(segment.options().len() + segment.payload().len() + 20, bytes.len());
                let _ = (segment.flags(), segment.segment_len(), segment.verify_checksum(SRC, DST));
            }
        }
    }
}
