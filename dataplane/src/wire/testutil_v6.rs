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
