//! ICMPv4 (RFC 792): echo for reachability checks of the appliance's own
//! addresses, and the error messages it sends or must translate (the quoted
//! header of an error names the session it belongs to).

use super::bytes::{read_u16, read_u32, write_u16, write_u32};
use super::checksum;
use super::WireError;

/// Type, code, checksum and the 4-byte rest-of-header.
pub const ICMP_HEADER_LEN: usize = 8;

pub const ICMP_ECHO_REPLY: u8 = 0;
pub const ICMP_DEST_UNREACHABLE: u8 = 3;
pub const ICMP_ECHO_REQUEST: u8 = 8;
pub const ICMP_TIME_EXCEEDED: u8 = 11;
pub const ICMP_PARAMETER_PROBLEM: u8 = 12;

/// Destination unreachable codes.
pub const UNREACH_NET: u8 = 0;
pub const UNREACH_HOST: u8 = 1;
pub const UNREACH_PROTOCOL: u8 = 2;
pub const UNREACH_PORT: u8 = 3;
pub const UNREACH_FRAG_NEEDED: u8 = 4;
pub const UNREACH_ADMIN_PROHIBITED: u8 = 13;

/// Time exceeded codes.
pub const TIME_EXCEEDED_TTL: u8 = 0;
pub const TIME_EXCEEDED_REASSEMBLY: u8 = 1;

/// Source quench and redirect: obsolete, but still errors for RFC 1122's
/// "no error about an error" rule.
const ICMP_SOURCE_QUENCH: u8 = 4;
const ICMP_REDIRECT: u8 = 5;

const TYPE: usize = 0;
const CODE: usize = 1;
const CHECKSUM: usize = 2;
const REST: usize = 4;
const ECHO_IDENT: usize = 4;
const ECHO_SEQ: usize = 6;
const NEXT_HOP_MTU: usize = 6;

/// Whether `icmp_type` is an error message (one that quotes a packet).
#[inline]
pub(crate) const fn is_error_type(icmp_type: u8) -> bool {
    matches!(
        icmp_type,
        ICMP_DEST_UNREACHABLE
            | ICMP_SOURCE_QUENCH
            | ICMP_REDIRECT
            | ICMP_TIME_EXCEEDED
            | ICMP_PARAMETER_PROBLEM
    )
}

/// A view of an ICMP message: the IPv4 payload, up to the total length.
#[derive(Debug, Clone)]
pub struct IcmpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> IcmpPacket<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        IcmpPacket { buffer }
    }

    /// Wraps after checking the 8-byte header is there.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        if buffer.as_ref().len() < ICMP_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(IcmpPacket { buffer })
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
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

    /// The 4 bytes after the checksum, whatever the type.
    #[inline]
    pub fn rest_of_header(&self) -> u32 {
        read_u32(self.buffer.as_ref(), REST)
    }

    /// Echo identifier (meaningful for echo request/reply).
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), ECHO_IDENT)
    }

    /// Echo sequence number (meaningful for echo request/reply).
    #[inline]
    pub fn echo_seq(&self) -> u16 {
        read_u16(self.buffer.as_ref(), ECHO_SEQ)
    }

    /// Next-hop MTU of a "fragmentation needed" (RFC 1191).
    #[inline]
    pub fn next_hop_mtu(&self) -> u16 {
        read_u16(self.buffer.as_ref(), NEXT_HOP_MTU)
    }

    /// Everything after the 8-byte header.
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[ICMP_HEADER_LEN..]
    }

    #[inline]
    pub fn is_error(&self) -> bool {
        is_error_type(self.msg_type())
    }

    /// For an error message, the quoted bytes: the offending packet's IPv4
    /// header and (at least) the first 8 bytes of its payload. Read them
    /// with `Ipv4Packet::new_checked_header`. `None` for other types.
    #[inline]
    pub fn quoted(&self) -> Option<&[u8]> {
        if self.is_error() {
            Some(self.data())
        } else {
            None
        }
    }

    /// Whether the checksum over the whole message is right.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::verifies(self.buffer.as_ref())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> IcmpPacket<T> {
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
    pub fn set_rest_of_header(&mut self, rest: u32) {
        write_u32(self.buffer.as_mut(), REST, rest);
    }

    #[inline]
    pub fn set_echo_ident(&mut self, ident: u16) {
        write_u16(self.buffer.as_mut(), ECHO_IDENT, ident);
    }

    #[inline]
    pub fn set_echo_seq(&mut self, seq: u16) {
        write_u16(self.buffer.as_mut(), ECHO_SEQ, seq);
    }

    /// Recomputes the checksum over the whole message.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let csum = checksum::checksum(self.buffer.as_ref());
        self.set_checksum(csum);
    }

    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[ICMP_HEADER_LEN..]
    }
}

/// The ICMP messages the appliance reads and writes, as plain values. The
/// data after the header (echo payload, quoted packet) is not part of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpRepr {
    EchoRequest {
        ident: u16,
        seq: u16,
    },
    EchoReply {
        ident: u16,
        seq: u16,
    },
    /// `next_hop_mtu` is only meaningful with `UNREACH_FRAG_NEEDED`.
    DestUnreachable {
        code: u8,
        next_hop_mtu: u16,
    },
    TimeExceeded {
        code: u8,
    },
}

impl IcmpRepr {
    /// Reads a message: `BadChecksum` if its checksum is wrong,
    /// `UnsupportedIcmpType` for types not listed in `IcmpRepr`.
    pub fn parse<T: AsRef<[u8]>>(packet: &IcmpPacket<T>) -> Result<Self, WireError> {
        if !packet.verify_checksum() {
            return Err(WireError::BadChecksum);
        }
        match packet.msg_type() {
            ICMP_ECHO_REQUEST => Ok(IcmpRepr::EchoRequest {
                ident: packet.echo_ident(),
                seq: packet.echo_seq(),
            }),
            ICMP_ECHO_REPLY => Ok(IcmpRepr::EchoReply {
                ident: packet.echo_ident(),
                seq: packet.echo_seq(),
            }),
            ICMP_DEST_UNREACHABLE => Ok(IcmpRepr::DestUnreachable {
                code: packet.code(),
                next_hop_mtu: packet.next_hop_mtu(),
            }),
            ICMP_TIME_EXCEEDED => Ok(IcmpRepr::TimeExceeded {
                code: packet.code(),
            }),
            _ => Err(WireError::UnsupportedIcmpType),
        }
    }

    /// (type, code, rest-of-header) as written on the wire.
    pub const fn fields(&self) -> (u8, u8, u32) {
        match *self {
            IcmpRepr::EchoRequest { ident, seq } => {
                (ICMP_ECHO_REQUEST, 0, ((ident as u32) << 16) | seq as u32)
            }
            IcmpRepr::EchoReply { ident, seq } => {
                (ICMP_ECHO_REPLY, 0, ((ident as u32) << 16) | seq as u32)
            }
            IcmpRepr::DestUnreachable { code, next_hop_mtu } => {
                (ICMP_DEST_UNREACHABLE, code, next_hop_mtu as u32)
            }
            IcmpRepr::TimeExceeded { code } => (ICMP_TIME_EXCEEDED, code, 0),
        }
    }

    /// Writes the header into the front of `message` and fills the checksum
    /// over all of `message`, so put the data after the header first.
    /// Returns 8.
    pub fn emit(&self, message: &mut [u8]) -> Result<usize, WireError> {
        let mut packet = IcmpPacket::new_checked(message).map_err(|_| WireError::BufferTooSmall)?;
        let (msg_type, code, rest) = self.fields();
        packet.set_msg_type(msg_type);
        packet.set_code(code);
        packet.set_rest_of_header(rest);
        packet.fill_checksum();
        Ok(ICMP_HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testutil::{slow_checksum, slow_checksum_zeroing};
    use proptest::prelude::*;

    #[test]
    fn parses_an_echo_request() {
        let mut bytes = vec![8, 0, 0, 0, 0x12, 0x34, 0x00, 0x07, b'p', b'i', b'n', b'g'];
        let csum = slow_checksum(&bytes);
        bytes[2..4].copy_from_slice(&csum.to_be_bytes());
        let packet = IcmpPacket::new_checked(&bytes[..]).unwrap();
        assert_eq!(packet.msg_type(), ICMP_ECHO_REQUEST);
        assert_eq!(packet.echo_ident(), 0x1234);
        assert_eq!(packet.echo_seq(), 7);
        assert_eq!(packet.data(), b"ping");
        assert_eq!(packet.quoted(), None);
        assert!(packet.verify_checksum());
        assert_eq!(
            IcmpRepr::parse(&packet),
            Ok(IcmpRepr::EchoRequest {
                ident: 0x1234,
                seq: 7
            })
        );
        bytes[11] ^= 0x20;
        let packet = IcmpPacket::new_checked(&bytes[..]).unwrap();
        assert_eq!(IcmpRepr::parse(&packet), Err(WireError::BadChecksum));
    }

    #[test]
    fn error_messages_expose_the_quote() {
        let quote = [0x45u8; 28];
        let mut bytes = vec![0u8; 8 + quote.len()];
        bytes[8..].copy_from_slice(&quote);
        IcmpRepr::DestUnreachable {
            code: UNREACH_FRAG_NEEDED,
            next_hop_mtu: 1400,
        }
        .emit(&mut bytes)
        .unwrap();
        let packet = IcmpPacket::new_checked(&bytes[..]).unwrap();
        assert!(packet.is_error());
        assert_eq!(packet.code(), UNREACH_FRAG_NEEDED);
        assert_eq!(packet.next_hop_mtu(), 1400);
        assert_eq!(packet.quoted(), Some(&quote[..]));
    }

    #[test]
    fn truncated_and_unsupported() {
        let bytes = [13u8, 0, 0xf2, 0xff, 0, 0, 0, 0]; // timestamp request
        for len in 0..ICMP_HEADER_LEN {
            assert_eq!(
                IcmpPacket::new_checked(&bytes[..len]).unwrap_err(),
                WireError::Truncated
            );
        }
        let packet = IcmpPacket::new_checked(&bytes[..]).unwrap();
        assert!(packet.verify_checksum());
        assert_eq!(
            IcmpRepr::parse(&packet),
            Err(WireError::UnsupportedIcmpType)
        );
        assert_eq!(
            IcmpRepr::TimeExceeded { code: 0 }.emit(&mut [0; 7]),
            Err(WireError::BufferTooSmall)
        );
    }

    fn arb_repr() -> impl Strategy<Value = IcmpRepr> {
        prop_oneof![
            (any::<u16>(), any::<u16>())
                .prop_map(|(ident, seq)| IcmpRepr::EchoRequest { ident, seq }),
            (any::<u16>(), any::<u16>())
                .prop_map(|(ident, seq)| IcmpRepr::EchoReply { ident, seq }),
            (any::<u8>(), any::<u16>())
                .prop_map(|(code, next_hop_mtu)| IcmpRepr::DestUnreachable { code, next_hop_mtu }),
            any::<u8>().prop_map(|code| IcmpRepr::TimeExceeded { code }),
        ]
    }

    proptest! {
        #[test]
        fn emit_then_parse_round_trips(
            repr in arb_repr(),
            data in proptest::collection::vec(any::<u8>(), 0..100),
        ) {
            let mut bytes = vec![0u8; 8 + data.len()];
            bytes[8..].copy_from_slice(&data);
            prop_assert_eq!(repr.emit(&mut bytes), Ok(8));
            prop_assert_eq!(
                u16::from_be_bytes([bytes[2], bytes[3]]),
                slow_checksum_zeroing(&bytes, 2)
            );
            let packet = IcmpPacket::new_checked(&bytes[..]).unwrap();
            prop_assert_eq!(IcmpRepr::parse(&packet), Ok(repr));
            prop_assert_eq!(packet.data(), &data[..]);
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            match IcmpPacket::new_checked(&bytes[..]) {
                Ok(packet) => {
                    let _ = (packet.quoted(), packet.echo_seq(), packet.rest_of_header());
                    let _ = IcmpRepr::parse(&packet);
                }
                Err(err) => prop_assert_eq!(err, WireError::Truncated),
            }
        }
    }
}
