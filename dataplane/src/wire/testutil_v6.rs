//! Test-only reference for IPv6: the pseudo-header checksum written out
//! byte by byte from RFC 8200 section 8.1, independent of `checksum.rs`.

use crate::wire::testutil::slow_checksum;
use std::net::Ipv6Addr;

/// Upper-layer checksum over the IPv6 pseudo header written as bytes.
pub(crate) fn slow_l4_checksum_v6(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    next_header: u8,
    segment: &[u8],
) -> u16 {
    let mut bytes = Vec::with_capacity(40 + segment.len());
    bytes.extend_from_slice(&src.octets());
    bytes.extend_from_slice(&dst.octets());
    bytes.extend_from_slice(&(segment.len() as u32).to_be_bytes());
    bytes.extend_from_slice(&[0, 0, 0, next_header]);
    bytes.extend_from_slice(segment);
    slow_checksum(&bytes)
}

use crate::wire::{EthernetRepr, MacAddr, ETHERTYPE_IPV6};

pub(crate) const MAC_A: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x0a]);
pub(crate) const MAC_B: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x0b]);

pub(crate) fn v6(text: &str) -> Ipv6Addr {
    text.parse().expect("test address")
}

/// An Ethernet frame (optionally tagged) from MAC_A to MAC_B carrying an
/// IPv6 packet with `next_header`, `hop_limit` and `payload`.
pub(crate) fn ipv6_frame(
    vlan: Option<u16>,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    next_header: u8,
    hop_limit: u8,
    payload: &[u8],
) -> Vec<u8> {
    let eth = EthernetRepr {
        dst: MAC_B,
        src: MAC_A,
        vlan,
        ethertype: ETHERTYPE_IPV6,
    };
    let mut frame = vec![0u8; 18 + 40];
    let l2 = eth.emit(&mut frame).unwrap();
    frame.truncate(l2 + 40);
    let mut ip = crate::wire::Ipv6Repr::new(src, dst, next_header, payload.len());
    ip.hop_limit = hop_limit;
    ip.emit(&mut frame[l2..]).unwrap();
    frame.extend_from_slice(payload);
    frame
}

/// An ICMPv6 message with a right checksum: type, code, body word, data.
pub(crate) fn icmpv6_message(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    msg_type: u8,
    code: u8,
    body: u32,
    data: &[u8],
) -> Vec<u8> {
    let mut message = vec![msg_type, code, 0, 0];
    message.extend_from_slice(&body.to_be_bytes());
    message.extend_from_slice(data);
    let csum = slow_l4_checksum_v6(src, dst, 58, &message);
    message[2..4].copy_from_slice(&csum.to_be_bytes());
    message
}
