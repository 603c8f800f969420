//! GTP-U version 1 (3GPP TS 29.281): the tunnel that carries a terminal's
//! IPv4 packets between the radio network and the gateway. The TEID names
//! the session, so tier-1 steers GTP-U traffic by it.

use super::bytes::{read_u16, read_u32, write_u16, write_u32};
use super::WireError;

/// UDP port of GTP-U.
pub const GTPU_PORT: u16 = 2152;
/// Mandatory header: flags, type, length, TEID.
pub const GTPU_HEADER_LEN: usize = 8;
/// Sequence number, N-PDU number and next-extension-type, present when any
/// of the E, S or PN flags is set.
pub const GTPU_OPTIONAL_LEN: usize = 4;

pub const GTPU_MSG_ECHO_REQUEST: u8 = 1;
pub const GTPU_MSG_ECHO_RESPONSE: u8 = 2;
pub const GTPU_MSG_ERROR_INDICATION: u8 = 26;
pub const GTPU_MSG_END_MARKER: u8 = 254;
/// A G-PDU carries a user packet.
pub const GTPU_MSG_G_PDU: u8 = 255;

/// Extension header type of the 5G PDU Session Container (carries the QFI).
pub const GTPU_EXT_PDU_SESSION_CONTAINER: u8 = 0x85;

const FLAGS: usize = 0;
const MSG_TYPE: usize = 1;
const LENGTH: usize = 2;
const TEID: usize = 4;
const SEQUENCE: usize = 8;
const NPDU: usize = 10;
const NEXT_EXT: usize = 11;

const VERSION_SHIFT: u8 = 5;
const FLAG_PT: u8 = 0x10;
const FLAG_E: u8 = 0x04;
const FLAG_S: u8 = 0x02;
const FLAG_PN: u8 = 0x01;
/// Version 1, PT 1, no optional fields.
const FLAGS_PLAIN_V1: u8 = (1 << VERSION_SHIFT) | FLAG_PT;

/// A view of a GTP-U message (the UDP payload).
///
/// `new_checked` walks the optional fields and extension headers once and
/// remembers where the payload starts.
#[derive(Debug, Clone)]
pub struct GtpuPacket<T: AsRef<[u8]>> {
    buffer: T,
    payload_offset: usize,
}

impl<T: AsRef<[u8]>> GtpuPacket<T> {
    /// Validates the header:
    /// - `Truncated`: fewer than 8 bytes, or fewer than 8 + the length field;
    /// - `BadGtp`: version not 1, PT not 1, optional fields or an extension
    ///   header that run past the length field, an extension header of
    ///   length 0.
    ///
    /// Bytes past 8 + length (padding) are ignored.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let bytes = buffer.as_ref();
        if bytes.len() < GTPU_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let flags = bytes[FLAGS];
        if flags >> VERSION_SHIFT != 1 || flags & FLAG_PT == 0 {
            return Err(WireError::BadGtp);
        }
        let end = GTPU_HEADER_LEN + usize::from(read_u16(bytes, LENGTH));
        if end > bytes.len() {
            return Err(WireError::Truncated);
        }
        let payload_offset = if flags & (FLAG_E | FLAG_S | FLAG_PN) == 0 {
            GTPU_HEADER_LEN
        } else {
            walk_extensions(bytes, flags, end)?
        };
        Ok(GtpuPacket {
            buffer,
            payload_offset,
        })
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[FLAGS]
    }

    #[inline]
    pub fn version(&self) -> u8 {
        self.flags() >> VERSION_SHIFT
    }

    #[inline]
    pub fn message_type(&self) -> u8 {
        self.buffer.as_ref()[MSG_TYPE]
    }

    #[inline]
    pub fn is_gpdu(&self) -> bool {
        self.message_type() == GTPU_MSG_G_PDU
    }

    #[inline]
    pub fn is_echo_request(&self) -> bool {
        self.message_type() == GTPU_MSG_ECHO_REQUEST
    }

    /// The length field: bytes after the mandatory 8-byte header.
    #[inline]
    pub fn length(&self) -> u16 {
        read_u16(self.buffer.as_ref(), LENGTH)
    }

    #[inline]
    pub fn teid(&self) -> u32 {
        read_u32(self.buffer.as_ref(), TEID)
    }

    /// Whether the 4 optional bytes are present (E, S or PN set).
    #[inline]
    pub fn has_optional_fields(&self) -> bool {
        self.flags() & (FLAG_E | FLAG_S | FLAG_PN) != 0
    }

    /// The sequence number when S is set.
    #[inline]
    pub fn sequence_number(&self) -> Option<u16> {
        if self.flags() & FLAG_S != 0 {
            Some(read_u16(self.buffer.as_ref(), SEQUENCE))
        } else {
            None
        }
    }

    /// The N-PDU number when PN is set.
    #[inline]
    pub fn npdu_number(&self) -> Option<u8> {
        if self.flags() & FLAG_PN != 0 {
            Some(self.buffer.as_ref()[NPDU])
        } else {
            None
        }
    }

    /// The extension headers in order, as (type, content) pairs; the
    /// content excludes the length byte and the next-type byte.
    pub fn extension_headers(&self) -> GtpuExtHeaders<'_> {
        let bytes = self.buffer.as_ref();
        let next_type = if self.flags() & FLAG_E != 0 {
            bytes[NEXT_EXT]
        } else {
            0
        };
        GtpuExtHeaders {
            bytes: &bytes[..self.payload_offset],
            offset: GTPU_HEADER_LEN + GTPU_OPTIONAL_LEN,
            next_type,
        }
    }

    /// Offset of the payload (for a G-PDU, the inner IPv4 header) in the
    /// buffer, after optional fields and extension headers.
    #[inline]
    pub fn payload_offset(&self) -> usize {
        self.payload_offset
    }

    /// The payload up to the length field.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let bytes = self.buffer.as_ref();
        &bytes[self.payload_offset..GTPU_HEADER_LEN + usize::from(read_u16(bytes, LENGTH))]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> GtpuPacket<T> {
    #[inline]
    pub fn set_teid(&mut self, teid: u32) {
        write_u32(self.buffer.as_mut(), TEID, teid);
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = GTPU_HEADER_LEN + usize::from(self.length());
        let start = self.payload_offset;
        &mut self.buffer.as_mut()[start..end]
    }
}

/// Returns the payload offset after the optional fields and the chain of
/// extension headers, all of which must lie within `end`.
fn walk_extensions(bytes: &[u8], flags: u8, end: usize) -> Result<usize, WireError> {
    let mut offset = GTPU_HEADER_LEN + GTPU_OPTIONAL_LEN;
    if offset > end {
        return Err(WireError::BadGtp);
    }
    if flags & FLAG_E == 0 {
        return Ok(offset);
    }
    let mut next_type = bytes[NEXT_EXT];
    while next_type != 0 {
        // Each header is `4 × its first byte` long and ends with the type
        // of the one after it; at least 4 bytes, so the walk always moves.
        let units = *bytes
            .get(offset)
            .filter(|_| offset < end)
            .ok_or(WireError::BadGtp)?;
        if units == 0 {
            return Err(WireError::BadGtp);
        }
        let ext_end = offset + 4 * usize::from(units);
        if ext_end > end {
            return Err(WireError::BadGtp);
        }
        next_type = bytes[ext_end - 1];
        offset = ext_end;
    }
    Ok(offset)
}

/// Iterator over GTP-U extension headers (see
/// [`GtpuPacket::extension_headers`]).
#[derive(Debug, Clone)]
pub struct GtpuExtHeaders<'a> {
    bytes: &'a [u8],
    offset: usize,
    next_type: u8,
}

impl<'a> Iterator for GtpuExtHeaders<'a> {
    type Item = (u8, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.next_type == 0 {
            return None;
        }
        let units = usize::from(*self.bytes.get(self.offset)?);
        let ext_end = self.offset + 4 * units;
        if units == 0 || ext_end > self.bytes.len() {
            return None;
        }
        let ext_type = self.next_type;
        let content = &self.bytes[self.offset + 1..ext_end - 1];
        self.next_type = self.bytes[ext_end - 1];
        self.offset = ext_end;
        Some((ext_type, content))
    }
}

/// A plain G-PDU header (no optional fields) as values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GtpuRepr {
    pub teid: u32,
    /// Length of the carried packet.
    pub payload_len: u16,
}

impl GtpuRepr {
    /// Reads a checked packet; `UnsupportedGtpMessage` unless it is a G-PDU.
    /// Optional fields and extension headers are skipped.
    pub fn parse<T: AsRef<[u8]>>(packet: &GtpuPacket<T>) -> Result<Self, WireError> {
        if !packet.is_gpdu() {
            return Err(WireError::UnsupportedGtpMessage);
        }
        let payload_len = u16::try_from(packet.payload().len()).map_err(|_| WireError::BadGtp)?;
        Ok(GtpuRepr {
            teid: packet.teid(),
            payload_len,
        })
    }

    #[inline]
    pub const fn header_len(&self) -> usize {
        GTPU_HEADER_LEN
    }

    /// Writes the 8-byte G-PDU header at the start of `buf`; returns 8.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        if buf.len() < GTPU_HEADER_LEN {
            return Err(WireError::BufferTooSmall);
        }
        buf[FLAGS] = FLAGS_PLAIN_V1;
        buf[MSG_TYPE] = GTPU_MSG_G_PDU;
        write_u16(buf, LENGTH, self.payload_len);
        write_u32(buf, TEID, self.teid);
        Ok(GTPU_HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const INNER: [u8; 4] = [0x45, 0x00, 0x00, 0x14];

    fn plain() -> Vec<u8> {
        let mut bytes = vec![0x30, 0xff, 0x00, 0x04, 0x12, 0x34, 0x56, 0x78];
        bytes.extend_from_slice(&INNER);
        bytes
    }

    /// S and E set, one PDU Session Container (QFI 9) and one 8-byte
    /// extension of type 0x40 after it.
    fn with_extensions() -> Vec<u8> {
        let mut bytes = vec![
            0x36, 0xff, 0x00, 0x00, 0xde, 0xad, 0xbe, 0xef, // E|S, length set below
            0x00, 0x2a, 0x00, 0x85, // seq 42, N-PDU 0, next: PDU session container
            0x01, 0x10, 0x09, 0x40, // 4 bytes: UL PDU session info, QFI 9; next 0x40
            0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00, // 8 bytes; next: none
        ];
        bytes.extend_from_slice(&INNER);
        let length = (bytes.len() - 8) as u16;
        bytes[2..4].copy_from_slice(&length.to_be_bytes());
        bytes
    }

    #[test]
    fn parses_plain_gpdu() {
        let bytes = plain();
        let packet = GtpuPacket::new_checked(&bytes[..]).unwrap();
        assert_eq!(packet.version(), 1);
        assert!(packet.is_gpdu());
        assert_eq!(packet.teid(), 0x1234_5678);
        assert!(!packet.has_optional_fields());
        assert_eq!(packet.sequence_number(), None);
        assert_eq!(packet.extension_headers().count(), 0);
        assert_eq!(packet.payload_offset(), 8);
        assert_eq!(packet.payload(), &INNER);
        assert_eq!(
            GtpuRepr::parse(&packet),
            Ok(GtpuRepr {
                teid: 0x1234_5678,
                payload_len: 4
            })
        );
    }

    #[test]
    fn walks_optional_fields_and_extension_headers() {
        let bytes = with_extensions();
        let packet = GtpuPacket::new_checked(&bytes[..]).unwrap();
        assert!(packet.has_optional_fields());
        assert_eq!(packet.sequence_number(), Some(42));
        assert_eq!(packet.npdu_number(), None);
        let exts: Vec<_> = packet.extension_headers().collect();
        assert_eq!(
            exts,
            vec![
                (GTPU_EXT_PDU_SESSION_CONTAINER, &[0x10, 0x09][..]),
                (0x40, &[0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff][..]),
            ]
        );
        assert_eq!(packet.payload_offset(), 24);
        assert_eq!(packet.payload(), &INNER);
        assert_eq!(GtpuRepr::parse(&packet).unwrap().payload_len, 4);
    }

    #[test]
    fn optional_fields_without_extensions() {
        for flags in [0x32u8, 0x31] {
            let mut bytes = vec![flags, 0xff, 0x00, 0x08, 0, 0, 0, 1, 0x00, 0x07, 0x05, 0x00];
            bytes.extend_from_slice(&INNER);
            let packet = GtpuPacket::new_checked(&bytes[..]).unwrap();
            assert_eq!(packet.payload_offset(), 12);
            assert_eq!(packet.payload(), &INNER);
            if flags & FLAG_S != 0 {
                assert_eq!(packet.sequence_number(), Some(7));
                assert_eq!(packet.npdu_number(), None);
            } else {
                assert_eq!(packet.sequence_number(), None);
                assert_eq!(packet.npdu_number(), Some(5));
            }
        }
    }

    #[test]
    fn recognises_echo_request() {
        // Echo request: S set, sequence 1, Recovery IE (type 14, value 0).
        let bytes = [
            0x32, 0x01, 0x00, 0x06, 0, 0, 0, 0, 0x00, 0x01, 0x00, 0x00, 14, 0,
        ];
        let packet = GtpuPacket::new_checked(&bytes[..]).unwrap();
        assert!(packet.is_echo_request());
        assert!(!packet.is_gpdu());
        assert_eq!(packet.sequence_number(), Some(1));
        assert_eq!(packet.payload(), &[14, 0]);
        assert_eq!(
            GtpuRepr::parse(&packet),
            Err(WireError::UnsupportedGtpMessage)
        );
    }

    #[test]
    fn truncated_at_every_length() {
        for bytes in [plain(), with_extensions()] {
            for len in 0..bytes.len() {
                assert_eq!(
                    GtpuPacket::new_checked(&bytes[..len]).unwrap_err(),
                    WireError::Truncated,
                    "length {len}"
                );
            }
            let mut padded = bytes.clone();
            padded.extend_from_slice(&[0; 6]);
            let packet = GtpuPacket::new_checked(&padded[..]).unwrap();
            assert_eq!(packet.payload(), &INNER);
        }
    }

    #[test]
    fn malformed_headers_are_bad_gtp() {
        let mut version0 = plain();
        version0[0] = 0x10;
        let mut version2 = plain();
        version2[0] = 0x50;
        let mut gtp_prime = plain();
        gtp_prime[0] = 0x20;
        // Optional fields announced but the length leaves no room for them.
        let mut no_room = plain();
        no_room[0] = 0x32;
        no_room[3] = 2;
        // Extension header of length 0.
        let mut zero_ext = with_extensions();
        zero_ext[12] = 0;
        // Extension header longer than the message.
        let mut long_ext = with_extensions();
        long_ext[16] = 10;
        // Extension chain that never ends inside the message.
        let mut endless = with_extensions();
        endless[23] = 0x40;
        for (name, bytes) in [
            ("version 0", version0),
            ("version 2", version2),
            ("GTP'", gtp_prime),
            ("no room", no_room),
            ("zero-length extension", zero_ext),
            ("long extension", long_ext),
            ("endless chain", endless),
        ] {
            assert_eq!(
                GtpuPacket::new_checked(&bytes[..]).unwrap_err(),
                WireError::BadGtp,
                "{name}"
            );
        }
    }

    #[test]
    fn emit_refuses_a_short_buffer() {
        let repr = GtpuRepr {
            teid: 1,
            payload_len: 0,
        };
        assert_eq!(repr.emit(&mut [0; 7]), Err(WireError::BufferTooSmall));
    }

    proptest! {
        #[test]
        fn emit_then_parse_round_trips(
            teid in any::<u32>(),
            inner in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let repr = GtpuRepr { teid, payload_len: inner.len() as u16 };
            let mut bytes = vec![0u8; 8 + inner.len()];
            bytes[8..].copy_from_slice(&inner);
            prop_assert_eq!(repr.emit(&mut bytes), Ok(8));
            let packet = GtpuPacket::new_checked(&bytes[..]).unwrap();
            prop_assert_eq!(GtpuRepr::parse(&packet), Ok(repr));
            prop_assert_eq!(packet.payload(), &inner[..]);
        }

        #[test]
        fn random_bytes_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            // Make the version/PT check pass often enough to reach the walk.
            if bytes.len() > 3 {
                bytes[0] = 0x30 | (bytes[0] & 0x07);
                let length = (bytes.len() as u16).saturating_sub(8 + u16::from(bytes[3] & 3));
                bytes[2..4].copy_from_slice(&length.to_be_bytes());
            }
            if let Ok(packet) = GtpuPacket::new_checked(&bytes[..]) {
                prop_assert!(packet.payload_offset() <= 8 + usize::from(packet.length()));
                let total: usize = packet.extension_headers().map(|(_, c)| c.len() + 2).sum();
                let optional = if packet.has_optional_fields() { 4 } else { 0 };
                prop_assert_eq!(8 + optional + total, packet.payload_offset());
                let _ = (packet.sequence_number(), packet.npdu_number(), GtpuRepr::parse(&packet));
            }
        }
    }
}
