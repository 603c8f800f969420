//! UDP datagram headers (RFC 768): ports for steering and translation, and
//! the carrier of GTP-U. A checksum of 0 means "none" and is kept that way
//! through every rewrite.

use super::bytes::{read_u16, write_u16};
use super::checksum;
use super::{WireError, PROTO_UDP};
use std::net::Ipv4Addr;

pub const UDP_HEADER_LEN: usize = 8;

const SRC_PORT: usize = 0;
const DST_PORT: usize = 2;
const LENGTH: usize = 4;
const CHECKSUM: usize = 6;

/// A view of a UDP datagram: the IPv4 payload, up to the total length.
/// After `new_checked`, 8 <= length field <= buffer length; bytes past the
/// length field are ignored.
#[derive(Debug, Clone)]
pub struct UdpDatagram<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpDatagram<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        UdpDatagram { buffer }
    }

    /// Wraps after checking the header is there (`Truncated`) and the
    /// length field is between 8 and the buffer length (`BadUdpLength`).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let bytes = buffer.as_ref();
        if bytes.len() < UDP_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let length = usize::from(read_u16(bytes, LENGTH));
        if length < UDP_HEADER_LEN || length > bytes.len() {
            return Err(WireError::BadUdpLength);
        }
        Ok(UdpDatagram { buffer })
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

    /// The length field: header plus payload.
    #[inline]
    pub fn length(&self) -> usize {
        usize::from(read_u16(self.buffer.as_ref(), LENGTH))
    }

    /// The stored checksum; 0 means the sender computed none.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), CHECKSUM)
    }

    #[inline]
    fn datagram_end(&self) -> usize {
        self.length()
            .clamp(UDP_HEADER_LEN, self.buffer.as_ref().len())
    }

    /// The datagram, header included, up to the length field.
    #[inline]
    pub fn datagram(&self) -> &[u8] {
        &self.buffer.as_ref()[..self.datagram_end()]
    }

    /// The payload up to the length field.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[UDP_HEADER_LEN..self.datagram_end()]
    }

    /// Whether the checksum is right; a datagram without one (0) passes.
    #[inline]
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        self.checksum() == 0 || checksum::l4_verifies(src, dst, PROTO_UDP, self.datagram())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpDatagram<T> {
    #[inline]
    pub fn set_src_port(&mut self, port: u16) {
        write_u16(self.buffer.as_mut(), SRC_PORT, port);
    }

    #[inline]
    pub fn set_dst_port(&mut self, port: u16) {
        write_u16(self.buffer.as_mut(), DST_PORT, port);
    }

    #[inline]
    pub fn set_length(&mut self, length: u16) {
        write_u16(self.buffer.as_mut(), LENGTH, length);
    }

    /// Stores `csum` as is (0 = no checksum).
    #[inline]
    pub fn set_checksum(&mut self, csum: u16) {
        write_u16(self.buffer.as_mut(), CHECKSUM, csum);
    }

    /// Computes the checksum over pseudo header and datagram; a computed 0
    /// is stored as 0xffff.
    #[inline]
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let end = self.datagram_end();
        let csum = checksum::l4_checksum(src, dst, PROTO_UDP, &self.buffer.as_ref()[..end]);
        self.set_checksum(checksum::udp_wire_value(csum));
    }

    /// Sets the source port and patches a present checksum.
    #[inline]
    pub fn set_src_port_incremental(&mut self, port: u16) {
        let csum = checksum::udp_update16(self.checksum(), self.src_port(), port);
        self.set_src_port(port);
        self.set_checksum(csum);
    }

    /// Sets the destination port and patches a present checksum.
    #[inline]
    pub fn set_dst_port_incremental(&mut self, port: u16) {
        let csum = checksum::udp_update16(self.checksum(), self.dst_port(), port);
        self.set_dst_port(port);
        self.set_checksum(csum);
    }

    /// Patches a present checksum for an IPv4 address that changed from
    /// `old` to `new` (the pseudo header covers it).
    #[inline]
    pub fn adjust_checksum_for_address(&mut self, old: Ipv4Addr, new: Ipv4Addr) {
        let csum = checksum::udp_update32(self.checksum(), u32::from(old), u32::from(new));
        self.set_checksum(csum);
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = self.datagram_end();
        &mut self.buffer.as_mut()[UDP_HEADER_LEN..end]
    }
}

/// A UDP header as plain values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpRepr {
    pub src_port: u16,
    pub dst_port: u16,
    /// Bytes after the header.
    pub payload_len: usize,
}

impl UdpRepr {
    /// Reads a checked datagram; `BadChecksum` if a present checksum is wrong.
    pub fn parse<T: AsRef<[u8]>>(
        datagram: &UdpDatagram<T>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
    ) -> Result<Self, WireError> {
        if !datagram.verify_checksum(src, dst) {
            return Err(WireError::BadChecksum);
        }
        Ok(UdpRepr {
            src_port: datagram.src_port(),
            dst_port: datagram.dst_port(),
            payload_len: datagram.payload().len(),
        })
    }

    #[inline]
    pub const fn header_len(&self) -> usize {
        UDP_HEADER_LEN
    }

    /// Header plus payload.
    #[inline]
    pub const fn datagram_len(&self) -> usize {
        UDP_HEADER_LEN + self.payload_len
    }

    /// Writes the header into the front of `datagram`, whose next
    /// `payload_len` bytes must already hold the payload, and fills the
    /// checksum (zero rule applied). Returns 8.
    pub fn emit(
        &self,
        datagram: &mut [u8],
        src: Ipv4Addr,
        dst: Ipv4Addr,
    ) -> Result<usize, WireError> {
        let length = u16::try_from(self.datagram_len()).map_err(|_| WireError::BadUdpLength)?;
        if datagram.len() < self.datagram_len() {
            return Err(WireError::BufferTooSmall);
        }
        let mut view = UdpDatagram::new_unchecked(&mut datagram[..self.datagram_len()]);
        view.set_src_port(self.src_port);
        view.set_dst_port(self.dst_port);
        view.set_length(length);
        view.fill_checksum(src, dst);
        Ok(UDP_HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::frames::udp_frame;
    use crate::wire::testutil::{
        arb_frame_spec, arb_ipv4, arb_payload, slow_l4_checksum, slow_l4_checksum_zeroing,
    };
    use crate::wire::{EthernetFrame, Ipv4Packet};
    use proptest::prelude::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);

    /// 5353 -> 53 with 4 payload bytes and 2 trailing bytes past the length.
    fn sample() -> Vec<u8> {
        let mut bytes = vec![
            0x14, 0xe9, 0x00, 0x35, 0x00, 0x0c, 0x00, 0x00, 1, 2, 3, 4, 0, 0,
        ];
        let csum = slow_l4_checksum(SRC, DST, PROTO_UDP, &bytes[..12]);
        bytes[6..8].copy_from_slice(&csum.to_be_bytes());
        bytes
    }

    /// A datagram whose checksum computes to 0, so it is carried as 0xffff:
    /// the last payload word is chosen to make the sum all ones.
    fn datagram_computing_to_zero() -> Vec<u8> {
        let mut bytes = vec![0x14, 0xe9, 0x00, 0x35, 0x00, 0x0c, 0x00, 0x00, 1, 2, 0, 0];
        let partial = !slow_l4_checksum(SRC, DST, PROTO_UDP, &bytes);
        bytes[10..12].copy_from_slice(&(!partial).to_be_bytes());
        assert_eq!(slow_l4_checksum(SRC, DST, PROTO_UDP, &bytes), 0);
        bytes
    }

    #[test]
    fn parses_fields_and_ignores_trailing_bytes() {
        let bytes = sample();
        let datagram = UdpDatagram::new_checked(&bytes[..]).unwrap();
        assert_eq!(datagram.src_port(), 5353);
        assert_eq!(datagram.dst_port(), 53);
        assert_eq!(datagram.length(), 12);
        assert_eq!(datagram.payload(), &[1, 2, 3, 4]);
        assert!(datagram.verify_checksum(SRC, DST));
        assert_eq!(
            UdpRepr::parse(&datagram, SRC, DST),
            Ok(UdpRepr {
                src_port: 5353,
                dst_port: 53,
                payload_len: 4
            })
        );
        assert_eq!(
            UdpRepr::parse(&datagram, SRC, Ipv4Addr::new(198, 51, 100, 8)),
            Err(WireError::BadChecksum)
        );
    }

    #[test]
    fn bad_checksum_is_caught() {
        let mut bytes = sample();
        bytes[9] ^= 0x10;
        let datagram = UdpDatagram::new_checked(&bytes[..]).unwrap();
        assert_eq!(
            UdpRepr::parse(&datagram, SRC, DST),
            Err(WireError::BadChecksum)
        );
    }

    #[test]
    fn zero_checksum_means_none() {
        let mut bytes = sample();
        bytes[6] = 0;
        bytes[7] = 0;
        bytes[9] ^= 0x10; // corrupt the payload: nothing can tell
        let mut datagram = UdpDatagram::new_checked(&mut bytes[..]).unwrap();
        assert!(datagram.verify_checksum(SRC, DST));
        datagram.set_src_port_incremental(1);
        datagram.set_dst_port_incremental(2);
        datagram.adjust_checksum_for_address(SRC, DST);
        assert_eq!(datagram.checksum(), 0);
    }

    #[test]
    fn computed_zero_is_sent_as_ffff() {
        let mut bytes = datagram_computing_to_zero();
        let mut datagram = UdpDatagram::new_checked(&mut bytes[..]).unwrap();
        datagram.fill_checksum(SRC, DST);
        assert_eq!(datagram.checksum(), 0xffff);
        assert!(datagram.verify_checksum(SRC, DST));

        // And when an incremental port rewrite lands on a computed 0.
        let mut bytes = sample();
        let mut datagram = UdpDatagram::new_checked(&mut bytes[..]).unwrap();
        let old_port = datagram.src_port();
        let sum_now = !datagram.checksum();
        let new_port = checksum::add(old_port, !sum_now);
        datagram.set_src_port_incremental(new_port);
        assert_eq!(datagram.checksum(), 0xffff);
        assert_eq!(
            slow_l4_checksum_zeroing(SRC, DST, PROTO_UDP, datagram.datagram(), 6),
            0
        );
        assert!(datagram.verify_checksum(SRC, DST));
    }

    #[test]
    fn truncation_and_bad_lengths() {
        let bytes = sample();
        for len in 0..UDP_HEADER_LEN {
            assert_eq!(
                UdpDatagram::new_checked(&bytes[..len]).unwrap_err(),
                WireError::Truncated
            );
        }
        for len in UDP_HEADER_LEN..12 {
            assert_eq!(
                UdpDatagram::new_checked(&bytes[..len]).unwrap_err(),
                WireError::BadUdpLength
            );
        }
        for length in [0u16, 7, 15, 0xffff] {
            let mut bytes = sample();
            bytes[4..6].copy_from_slice(&length.to_be_bytes());
            assert_eq!(
                UdpDatagram::new_checked(&bytes[..]).unwrap_err(),
                WireError::BadUdpLength,
                "length {length}"
            );
        }
        let mut bytes = sample();
        bytes[4..6].copy_from_slice(&8u16.to_be_bytes());
        assert_eq!(
            UdpDatagram::new_checked(&bytes[..]).unwrap().payload(),
            &[] as &[u8]
        );
    }

    #[test]
    fn emit_refuses_short_buffer_and_oversized_payload() {
        let repr = UdpRepr {
            src_port: 1,
            dst_port: 2,
            payload_len: 4,
        };
        assert_eq!(
            repr.emit(&mut [0; 11], SRC, DST),
            Err(WireError::BufferTooSmall)
        );
        let huge = UdpRepr {
            payload_len: 65528,
            ..repr
        };
        assert_eq!(
            huge.emit(&mut [0; 12], SRC, DST),
            Err(WireError::BadUdpLength)
        );
    }

    proptest! {
        #[test]
        fn emit_then_parse_round_trips(
            src_port in any::<u16>(),
            dst_port in any::<u16>(),
            src in arb_ipv4(),
            dst in arb_ipv4(),
            payload in arb_payload(100),
        ) {
            let repr = UdpRepr { src_port, dst_port, payload_len: payload.len() };
            let mut bytes = vec![0u8; repr.datagram_len()];
            bytes[8..].copy_from_slice(&payload);
            prop_assert_eq!(repr.emit(&mut bytes, src, dst), Ok(8));
            let stored = u16::from_be_bytes([bytes[6], bytes[7]]);
            prop_assert_eq!(
                stored,
                checksum::udp_wire_value(slow_l4_checksum_zeroing(src, dst, PROTO_UDP, &bytes, 6))
            );
            prop_assert_ne!(stored, 0);
            let datagram = UdpDatagram::new_checked(&bytes[..]).unwrap();
            prop_assert_eq!(UdpRepr::parse(&datagram, src, dst), Ok(repr));
        }

        /// NAT rewrite of addresses and ports with incremental patches gives
        /// the checksum a full recompute gives (zero rule included), and a
        /// datagram without a checksum keeps none.
        #[test]
        fn nat_rewrite_matches_full_recompute(
            spec in arb_frame_spec(),
            payload in arb_payload(300),
            no_checksum in proptest::bool::weighted(0.2),
            new_src in arb_ipv4(),
            new_dst in arb_ipv4(),
            new_sport in any::<u16>(),
            new_dport in any::<u16>(),
        ) {
            let mut frame = udp_frame(&spec, &payload).unwrap();
            let l3 = EthernetFrame::new_checked(&frame[..]).unwrap().payload_offset();
            let mut ip = Ipv4Packet::new_checked(&mut frame[l3..]).unwrap();
            let (old_src, old_dst) = (ip.src(), ip.dst());
            ip.set_src_incremental(new_src);
            ip.set_dst_incremental(new_dst);
            let mut udp = UdpDatagram::new_checked(ip.payload_mut()).unwrap();
            if no_checksum {
                udp.set_checksum(0);
            }
            udp.adjust_checksum_for_address(old_src, new_src);
            udp.adjust_checksum_for_address(old_dst, new_dst);
            udp.set_src_port_incremental(new_sport);
            udp.set_dst_port_incremental(new_dport);
            let expected = if no_checksum {
                0
            } else {
                checksum::udp_wire_value(
                    slow_l4_checksum_zeroing(new_src, new_dst, PROTO_UDP, udp.datagram(), 6),
                )
            };
            prop_assert_eq!(udp.checksum(), expected);
            prop_assert!(udp.verify_checksum(new_src, new_dst));
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(datagram) = UdpDatagram::new_checked(&bytes[..]) {
                prop_assert_eq!(datagram.payload().len() + 8, datagram.length());
                let _ = datagram.verify_checksum(SRC, DST);
            }
        }
    }
}
