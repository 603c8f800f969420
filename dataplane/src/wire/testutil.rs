//! Test-only helpers: a deliberately slow, byte-at-a-time checksum written
//! from the RFC 1071 definition, used as the independent reference the fast
//! code is checked against, and proptest strategies for header fields.

use crate::wire::{FrameSpec, MacAddr};
use proptest::prelude::*;
use std::net::Ipv4Addr;

/// One's-complement sum, one byte at a time: even offsets are the high byte
/// of a 16-bit word, odd offsets the low byte; carry folded after each add.
pub(crate) fn slow_sum(bytes: &[u8]) -> u16 {
    let mut acc: u32 = 0;
    for (index, byte) in bytes.iter().enumerate() {
        let value = if index % 2 == 0 {
            u32::from(*byte) << 8
        } else {
            u32::from(*byte)
        };
        acc += value;
        while acc > 0xffff {
            acc = (acc & 0xffff) + (acc >> 16);
        }
    }
    acc as u16
}

pub(crate) fn slow_checksum(bytes: &[u8]) -> u16 {
    !slow_sum(bytes)
}

/// TCP/UDP checksum built by writing out the pseudo header as bytes.
pub(crate) fn slow_l4_checksum(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, segment: &[u8]) -> u16 {
    let mut bytes = Vec::with_capacity(12 + segment.len());
    bytes.extend_from_slice(&src.octets());
    bytes.extend_from_slice(&dst.octets());
    bytes.push(0);
    bytes.push(protocol);
    bytes.extend_from_slice(&(segment.len() as u16).to_be_bytes());
    bytes.extend_from_slice(segment);
    slow_checksum(&bytes)
}

/// Checksum of `bytes` with the 2-byte field at `at` taken as zero.
pub(crate) fn slow_checksum_zeroing(bytes: &[u8], at: usize) -> u16 {
    let mut copy = bytes.to_vec();
    copy[at] = 0;
    copy[at + 1] = 0;
    slow_checksum(&copy)
}

/// L4 checksum of `segment` with its checksum field at `at` taken as zero.
pub(crate) fn slow_l4_checksum_zeroing(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: u8,
    segment: &[u8],
    at: usize,
) -> u16 {
    let mut copy = segment.to_vec();
    copy[at] = 0;
    copy[at + 1] = 0;
    slow_l4_checksum(src, dst, protocol, &copy)
}

pub(crate) fn arb_mac() -> impl Strategy<Value = MacAddr> {
    any::<[u8; 6]>().prop_map(MacAddr)
}

pub(crate) fn arb_ipv4() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

/// Unicast, non-zero, non-broadcast addresses (what a reply may go to).
pub(crate) fn arb_unicast_ipv4() -> impl Strategy<Value = Ipv4Addr> {
    (1u32..0xe000_0000).prop_map(Ipv4Addr::from)
}

pub(crate) fn arb_frame_spec() -> impl Strategy<Value = FrameSpec> {
    (
        arb_mac(),
        arb_mac(),
        proptest::option::of(0u16..4096),
        arb_ipv4(),
        arb_ipv4(),
        any::<u16>(),
        any::<u16>(),
        1u8..=255,
    )
        .prop_map(
            |(src_mac, dst_mac, vlan, src_ip, dst_ip, src_port, dst_port, ttl)| FrameSpec {
                src_mac,
                dst_mac,
                vlan,
                src_ip,
                dst_ip,
                src_port,
                dst_port,
                ttl,
            },
        )
}

/// A spec whose addresses are all unicast, so replies to it are allowed.
pub(crate) fn arb_unicast_frame_spec() -> impl Strategy<Value = FrameSpec> {
    (
        arb_frame_spec(),
        arb_unicast_ipv4(),
        arb_unicast_ipv4(),
        any::<[u8; 6]>(),
    )
        .prop_map(|(mut spec, src_ip, dst_ip, mut dst_mac)| {
            dst_mac[0] &= 0xfe;
            spec.src_ip = src_ip;
            spec.dst_ip = dst_ip;
            spec.dst_mac = MacAddr(dst_mac);
            spec
        })
}

pub(crate) fn arb_payload(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}
