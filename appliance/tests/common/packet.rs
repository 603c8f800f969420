//! Reading frames that tandem sent, checked from scratch: this module
//! computes checksums itself (RFC 1071) rather than trusting the code
//! under test, and reads headers at fixed offsets.

use std::net::Ipv4Addr;

pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_ARP: u16 = 0x0806;
pub const PROTO_ICMP: u8 = 1;
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;

fn rd16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn ip_at(b: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3])
}

/// The 16-bit one's complement sum of `data` (odd length padded with a
/// zero byte), folded, not inverted.
pub fn ones_sum(data: &[u8], initial: u32) -> u16 {
    let mut sum = initial;
    let mut chunks = data.chunks_exact(2);
    for w in &mut chunks {
        sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// Whether data with its checksum field in place sums to all ones.
pub fn sums_to_ones(data: &[u8], initial: u32) -> bool {
    ones_sum(data, initial) == 0xffff
}

/// An Ethernet frame as tandem wrote it, untagged.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    pub bytes: &'a [u8],
}

impl<'a> Frame<'a> {
    pub fn new(bytes: &'a [u8]) -> Frame<'a> {
        assert!(bytes.len() >= 14, "frame of {} bytes", bytes.len());
        Frame { bytes }
    }
    pub fn dst_mac(&self) -> [u8; 6] {
        self.bytes[0..6].try_into().expect("6 bytes")
    }
    pub fn src_mac(&self) -> [u8; 6] {
        self.bytes[6..12].try_into().expect("6 bytes")
    }
    pub fn ethertype(&self) -> u16 {
        rd16(self.bytes, 12)
    }
    /// The IPv4 packet, checked: version 4, header checksum right, total
    /// length within the frame. Panics with the reason otherwise.
    pub fn ipv4(&self) -> Ipv4<'a> {
        assert_eq!(self.ethertype(), ETHERTYPE_IPV4, "not IPv4: {self:?}");
        let ip = &self.bytes[14..];
        assert!(ip.len() >= 20, "IPv4 header cut short");
        assert_eq!(ip[0] >> 4, 4, "IP version");
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        let total = usize::from(rd16(ip, 2));
        assert!(
            ihl >= 20 && total >= ihl && total <= ip.len(),
            "IPv4 lengths"
        );
        assert!(
            sums_to_ones(&ip[..ihl], 0),
            "IPv4 header checksum wrong: {:02x?}",
            &ip[..ihl]
        );
        Ipv4 {
            bytes: &ip[..total],
            ihl,
        }
    }
    /// The ARP body (28 bytes).
    pub fn arp(&self) -> Arp<'a> {
        assert_eq!(self.ethertype(), ETHERTYPE_ARP, "not ARP");
        assert!(self.bytes.len() >= 14 + 28, "ARP cut short");
        Arp {
            bytes: &self.bytes[14..14 + 28],
        }
    }
}

/// A checked IPv4 packet (header checksum already verified).
#[derive(Clone, Copy, Debug)]
pub struct Ipv4<'a> {
    pub bytes: &'a [u8],
    pub ihl: usize,
}

impl<'a> Ipv4<'a> {
    pub fn src(&self) -> Ipv4Addr {
        ip_at(self.bytes, 12)
    }
    pub fn dst(&self) -> Ipv4Addr {
        ip_at(self.bytes, 16)
    }
    pub fn ttl(&self) -> u8 {
        self.bytes[8]
    }
    pub fn proto(&self) -> u8 {
        self.bytes[9]
    }
    pub fn l4(&self) -> &'a [u8] {
        &self.bytes[self.ihl..]
    }
    /// TCP or UDP source port.
    pub fn src_port(&self) -> u16 {
        rd16(self.l4(), 0)
    }
    pub fn dst_port(&self) -> u16 {
        rd16(self.l4(), 2)
    }
    /// TCP flags byte.
    pub fn tcp_flags(&self) -> u8 {
        assert_eq!(self.proto(), PROTO_TCP);
        self.l4()[13]
    }
    pub fn tcp_seq(&self) -> u32 {
        u32::from_be_bytes(self.l4()[4..8].try_into().expect("4 bytes"))
    }
    /// What follows the TCP or UDP header (or the ICMP header).
    pub fn payload(&self) -> &'a [u8] {
        let l4 = self.l4();
        match self.proto() {
            PROTO_TCP => &l4[usize::from(l4[12] >> 4) * 4..],
            _ => &l4[8..],
        }
    }
    /// Whether the TCP, UDP or ICMP checksum is right. A UDP checksum of
    /// zero (none) counts as wrong here: tandem must not drop one.
    pub fn l4_checksum_ok(&self) -> bool {
        let l4 = self.l4();
        match self.proto() {
            PROTO_ICMP => sums_to_ones(l4, 0),
            PROTO_TCP | PROTO_UDP => {
                if self.proto() == PROTO_UDP && rd16(l4, 6) == 0 {
                    return false;
                }
                let mut pseudo = 0u32;
                for half in [&self.bytes[12..16], &self.bytes[16..20]] {
                    pseudo += u32::from(rd16(half, 0)) + u32::from(rd16(half, 2));
                }
                pseudo += u32::from(self.proto()) + l4.len() as u32;
                sums_to_ones(l4, pseudo)
            }
            _ => false,
        }
    }
}

/// An Ethernet/IPv4 ARP message.
#[derive(Clone, Copy, Debug)]
pub struct Arp<'a> {
    pub bytes: &'a [u8],
}

impl Arp<'_> {
    pub fn op(&self) -> u16 {
        rd16(self.bytes, 6)
    }
    pub fn sender_mac(&self) -> [u8; 6] {
        self.bytes[8..14].try_into().expect("6 bytes")
    }
    pub fn sender_ip(&self) -> Ipv4Addr {
        ip_at(self.bytes, 14)
    }
    pub fn target_mac(&self) -> [u8; 6] {
        self.bytes[18..24].try_into().expect("6 bytes")
    }
    pub fn target_ip(&self) -> Ipv4Addr {
        ip_at(self.bytes, 24)
    }
}

/// Parses `aa:bb:cc:dd:ee:ff`.
pub fn mac(text: &str) -> [u8; 6] {
    let v: Vec<u8> = text
        .split(':')
        .map(|h| u8::from_str_radix(h, 16).expect("hex octet"))
        .collect();
    v.try_into().expect("six octets")
}
