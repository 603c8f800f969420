//! Ethernet II frames with at most one 802.1Q VLAN tag: the layer every
//! frame from a port starts with.

use super::bytes::{read_u16, write_u16};
use super::{MacAddr, WireError};

/// Untagged Ethernet header: destination, source, ethertype.
pub const ETHERNET_HEADER_LEN: usize = 14;
/// Bytes an 802.1Q tag adds (TPID + TCI).
pub const VLAN_TAG_LEN: usize = 4;

pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// 802.1Q tag protocol identifier.
pub const ETHERTYPE_VLAN: u16 = 0x8100;
pub const ETHERTYPE_IPV6: u16 = 0x86dd;

const DST: usize = 0;
const SRC: usize = 6;
const OUTER_TYPE: usize = 12;
const TCI: usize = 14;
const TAGGED_TYPE: usize = 16;
const VLAN_ID_MASK: u16 = 0x0fff;

/// A view of an Ethernet frame. `new_checked` guarantees the header (and
/// the tag, when the outer ethertype says there is one) is in the buffer.
#[derive(Debug, Clone)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Wraps without checking; accessors panic if the buffer is too short.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        EthernetFrame { buffer }
    }

    /// Wraps after checking the header (and VLAN tag) fit.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let bytes = buffer.as_ref();
        if bytes.len() < ETHERNET_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if read_u16(bytes, OUTER_TYPE) == ETHERTYPE_VLAN
            && bytes.len() < ETHERNET_HEADER_LEN + VLAN_TAG_LEN
        {
            return Err(WireError::Truncated);
        }
        Ok(EthernetFrame { buffer })
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The whole frame.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    #[inline]
    pub fn dst(&self) -> MacAddr {
        mac_at(self.buffer.as_ref(), DST)
    }

    #[inline]
    pub fn src(&self) -> MacAddr {
        mac_at(self.buffer.as_ref(), SRC)
    }

    /// The ethertype right after the addresses (0x8100 when tagged).
    #[inline]
    pub fn outer_ethertype(&self) -> u16 {
        read_u16(self.buffer.as_ref(), OUTER_TYPE)
    }

    #[inline]
    pub fn is_vlan_tagged(&self) -> bool {
        self.outer_ethertype() == ETHERTYPE_VLAN
    }

    /// The whole tag control information (PCP, DEI, VLAN ID) when tagged.
    #[inline]
    pub fn vlan_tci(&self) -> Option<u16> {
        if self.is_vlan_tagged() {
            Some(read_u16(self.buffer.as_ref(), TCI))
        } else {
            None
        }
    }

    /// The 12-bit VLAN ID when tagged.
    #[inline]
    pub fn vlan(&self) -> Option<u16> {
        self.vlan_tci().map(|tci| tci & VLAN_ID_MASK)
    }

    /// The ethertype of the payload (after the tag, if any).
    #[inline]
    pub fn ethertype(&self) -> u16 {
        if self.is_vlan_tagged() {
            read_u16(self.buffer.as_ref(), TAGGED_TYPE)
        } else {
            self.outer_ethertype()
        }
    }

    /// Header length including the tag: 14 or 18.
    #[inline]
    pub fn header_len(&self) -> usize {
        if self.is_vlan_tagged() {
            ETHERNET_HEADER_LEN + VLAN_TAG_LEN
        } else {
            ETHERNET_HEADER_LEN
        }
    }

    /// Offset of the payload (the L3 header) in the frame.
    #[inline]
    pub fn payload_offset(&self) -> usize {
        self.header_len()
    }

    /// Everything after the header, Ethernet padding included.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    #[inline]
    pub fn set_dst(&mut self, mac: MacAddr) {
        self.buffer.as_mut()[DST..DST + 6].copy_from_slice(&mac.0);
    }

    #[inline]
    pub fn set_src(&mut self, mac: MacAddr) {
        self.buffer.as_mut()[SRC..SRC + 6].copy_from_slice(&mac.0);
    }

    /// Exchanges source and destination, as a reply needs.
    #[inline]
    pub fn swap_addresses(&mut self) {
        let (dst, src) = (self.dst(), self.src());
        self.set_dst(src);
        self.set_src(dst);
    }

    /// Sets the payload ethertype (after the tag, if any).
    #[inline]
    pub fn set_ethertype(&mut self, ethertype: u16) {
        let at = if self.is_vlan_tagged() {
            TAGGED_TYPE
        } else {
            OUTER_TYPE
        };
        write_u16(self.buffer.as_mut(), at, ethertype);
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        &mut self.buffer.as_mut()[start..]
    }
}

#[inline]
fn mac_at(bytes: &[u8], at: usize) -> MacAddr {
    let mut octets = [0u8; 6];
    octets.copy_from_slice(&bytes[at..at + 6]);
    MacAddr(octets)
}

/// The Ethernet header as plain values. `vlan` is the VLAN ID only; a tag
/// is emitted with priority 0 and DEI 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetRepr {
    pub dst: MacAddr,
    pub src: MacAddr,
    pub vlan: Option<u16>,
    pub ethertype: u16,
}

impl EthernetRepr {
    pub fn parse<T: AsRef<[u8]>>(frame: &EthernetFrame<T>) -> Self {
        EthernetRepr {
            dst: frame.dst(),
            src: frame.src(),
            vlan: frame.vlan(),
            ethertype: frame.ethertype(),
        }
    }

    /// 14, or 18 with a tag.
    #[inline]
    pub const fn header_len(&self) -> usize {
        if self.vlan.is_some() {
            ETHERNET_HEADER_LEN + VLAN_TAG_LEN
        } else {
            ETHERNET_HEADER_LEN
        }
    }

    /// Writes the header at the start of `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        let len = self.header_len();
        if buf.len() < len {
            return Err(WireError::BufferTooSmall);
        }
        buf[DST..DST + 6].copy_from_slice(&self.dst.0);
        buf[SRC..SRC + 6].copy_from_slice(&self.src.0);
        match self.vlan {
            Some(vlan) => {
                write_u16(buf, OUTER_TYPE, ETHERTYPE_VLAN);
                write_u16(buf, TCI, vlan & VLAN_ID_MASK);
                write_u16(buf, TAGGED_TYPE, self.ethertype);
            }
            None => write_u16(buf, OUTER_TYPE, self.ethertype),
        }
        Ok(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testutil::arb_mac;
    use proptest::prelude::*;

    const UNTAGGED: [u8; 16] = [
        0x02, 0, 0, 0, 0, 0x01, // dst
        0x02, 0, 0, 0, 0, 0x02, // src
        0x08, 0x00, // IPv4
        0x45, 0x00, // start of payload
    ];

    const TAGGED: [u8; 20] = [
        0x02, 0, 0, 0, 0, 0x01, // dst
        0x02, 0, 0, 0, 0, 0x02, // src
        0x81, 0x00, 0xa0, 0x64, // 802.1Q, PCP 5, VLAN 100
        0x08, 0x06, // ARP
        0x00, 0x01, // start of payload
    ];

    #[test]
    fn parses_untagged_frame() {
        let frame = EthernetFrame::new_checked(&UNTAGGED[..]).unwrap();
        assert_eq!(frame.dst(), MacAddr([2, 0, 0, 0, 0, 1]));
        assert_eq!(frame.src(), MacAddr([2, 0, 0, 0, 0, 2]));
        assert_eq!(frame.vlan(), None);
        assert_eq!(frame.ethertype(), ETHERTYPE_IPV4);
        assert_eq!(frame.payload_offset(), 14);
        assert_eq!(frame.payload(), &[0x45, 0x00]);
    }

    #[test]
    fn parses_vlan_tagged_frame() {
        let frame = EthernetFrame::new_checked(&TAGGED[..]).unwrap();
        assert!(frame.is_vlan_tagged());
        assert_eq!(frame.outer_ethertype(), ETHERTYPE_VLAN);
        assert_eq!(frame.vlan_tci(), Some(0xa064));
        assert_eq!(frame.vlan(), Some(100));
        assert_eq!(frame.ethertype(), ETHERTYPE_ARP);
        assert_eq!(frame.payload_offset(), 18);
        assert_eq!(frame.payload(), &[0x00, 0x01]);
    }

    #[test]
    fn truncated_frames_are_rejected_at_every_length() {
        for len in 0..ETHERNET_HEADER_LEN {
            assert_eq!(
                EthernetFrame::new_checked(&UNTAGGED[..len]).unwrap_err(),
                WireError::Truncated
            );
        }
        for len in 0..ETHERNET_HEADER_LEN + VLAN_TAG_LEN {
            assert_eq!(
                EthernetFrame::new_checked(&TAGGED[..len]).unwrap_err(),
                WireError::Truncated
            );
        }
        assert!(EthernetFrame::new_checked(&UNTAGGED[..14]).is_ok());
        assert!(EthernetFrame::new_checked(&TAGGED[..18]).is_ok());
    }

    #[test]
    fn setters_write_the_right_bytes() {
        let mut bytes = TAGGED;
        let mut frame = EthernetFrame::new_checked(&mut bytes[..]).unwrap();
        frame.swap_addresses();
        assert_eq!(frame.dst(), MacAddr([2, 0, 0, 0, 0, 2]));
        assert_eq!(frame.src(), MacAddr([2, 0, 0, 0, 0, 1]));
        frame.set_ethertype(ETHERTYPE_IPV4);
        frame.set_dst(MacAddr::BROADCAST);
        frame.payload_mut()[0] = 0xee;
        assert_eq!(&bytes[0..6], &[0xff; 6]);
        assert_eq!(&bytes[12..18], &[0x81, 0x00, 0xa0, 0x64, 0x08, 0x00]);
        assert_eq!(bytes[18], 0xee);
    }

    #[test]
    fn emit_refuses_a_short_buffer() {
        let repr = EthernetRepr {
            dst: MacAddr::BROADCAST,
            src: MacAddr::ZERO,
            vlan: Some(7),
            ethertype: ETHERTYPE_ARP,
        };
        assert_eq!(repr.emit(&mut [0; 17]), Err(WireError::BufferTooSmall));
        assert_eq!(repr.emit(&mut [0; 18]), Ok(18));
    }

    proptest! {
        #[test]
        fn emit_then_parse_round_trips(
            dst in arb_mac(),
            src in arb_mac(),
            vlan in proptest::option::of(0u16..4096),
            ethertype in any::<u16>().prop_filter("not a tag", |t| *t != ETHERTYPE_VLAN),
        ) {
            let repr = EthernetRepr { dst, src, vlan, ethertype };
            let mut buf = [0u8; 18];
            let len = repr.emit(&mut buf).unwrap();
            prop_assert_eq!(len, repr.header_len());
            let frame = EthernetFrame::new_checked(&buf[..len]).unwrap();
            prop_assert_eq!(EthernetRepr::parse(&frame), repr);
            prop_assert_eq!(frame.payload_offset(), len);
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(frame) = EthernetFrame::new_checked(&bytes[..]) {
                let _ = (frame.dst(), frame.src(), frame.vlan(), frame.ethertype());
                prop_assert_eq!(frame.payload().len(), bytes.len() - frame.header_len());
            } else {
                prop_assert!(bytes.len() < 18);
            }
        }
    }
}
