//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! Gateways rewrite addresses, ports and TTLs on every packet; recomputing a
//! TCP checksum over the payload each time would cost a pass over the data,
//! so the rewrites patch the checksum with `update16`/`update32` instead.
//!
//! Terms used below: a *sum* is the folded one's-complement sum of 16-bit
//! big-endian words (never complemented); a *checksum* is the complement of
//! a sum, the value stored in a header. Data whose stored checksum is right
//! sums to `0xffff`.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Folds a wide accumulator to 16 bits with end-around carry. A non-zero
/// accumulator never folds to 0, so the result is 0 only for all-zero data.
#[inline]
fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// Unfolded sum of `data` as big-endian 16-bit words, an odd last byte
/// padded with a zero. Reads 8 bytes at a time: since 2^16 ≡ 1 modulo
/// 0xffff, adding 32-bit halves is the same as adding their 16-bit words.
#[inline]
fn accumulate(data: &[u8]) -> u64 {
    let mut acc: u64 = 0;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let word = u64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        acc += (word >> 32) + (word & 0xffff_ffff);
    }
    let mut pairs = chunks.remainder().chunks_exact(2);
    for p in &mut pairs {
        acc += u64::from(u16::from_be_bytes([p[0], p[1]]));
    }
    if let [last] = pairs.remainder() {
        acc += u64::from(*last) << 8;
    }
    acc
}

#[inline]
fn accumulate_pseudo_header(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, l4_len: usize) -> u64 {
    let src = u32::from(src);
    let dst = u32::from(dst);
    u64::from(src >> 16)
        + u64::from(src & 0xffff)
        + u64::from(dst >> 16)
        + u64::from(dst & 0xffff)
        + u64::from(protocol)
        + l4_len as u64
}

/// Folded one's-complement sum of `data` (not complemented).
#[inline]
pub fn sum(data: &[u8]) -> u16 {
    fold(accumulate(data))
}

/// One's-complement addition of two sums.
#[inline]
pub fn add(a: u16, b: u16) -> u16 {
    fold(u64::from(a) + u64::from(b))
}

/// The checksum to store for `data` (whose checksum field must be zero).
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    !sum(data)
}

/// Whether `data`, checksum field included, sums to all ones.
#[inline]
pub fn verifies(data: &[u8]) -> bool {
    sum(data) == 0xffff
}

/// Sum of the TCP/UDP pseudo header for IPv4 (RFC 793 / RFC 768):
/// source, destination, zero, protocol, L4 length.
#[inline]
pub fn pseudo_header_sum(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, l4_len: usize) -> u16 {
    fold(accumulate_pseudo_header(src, dst, protocol, l4_len))
}

/// TCP/UDP checksum over pseudo header and `segment` (whose checksum field
/// must be zero). For UDP pass the result through [`udp_wire_value`].
#[inline]
pub fn l4_checksum(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, segment: &[u8]) -> u16 {
    !fold(accumulate_pseudo_header(src, dst, protocol, segment.len()) + accumulate(segment))
}

/// Whether a TCP/UDP `segment` (checksum field included) verifies.
#[inline]
pub fn l4_verifies(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, segment: &[u8]) -> bool {
    fold(accumulate_pseudo_header(src, dst, protocol, segment.len()) + accumulate(segment))
        == 0xffff
}

/// The value a UDP header carries for a computed checksum: 0 on the wire
/// means "no checksum" (RFC 768), so a computed 0 is sent as 0xffff, its
/// one's-complement equal.
#[inline]
pub const fn udp_wire_value(computed: u16) -> u16 {
    if computed == 0 {
        0xffff
    } else {
        computed
    }
}

#[inline]
fn accumulate_pseudo_header_v6(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    next_header: u8,
    l4_len: usize,
) -> u64 {
    let words = |addr: Ipv6Addr| {
        let bits = u128::from(addr);
        ((bits >> 96) as u32 as u64)
            + ((bits >> 64) as u32 as u64)
            + ((bits >> 32) as u32 as u64)
            + (bits as u32 as u64)
    };
    // The upper-layer length is a 32-bit field; its two words add.
    let len = l4_len as u64;
    words(src) + words(dst) + (len >> 16) + (len & 0xffff) + u64::from(next_header)
}

/// Sum of the IPv6 pseudo header (RFC 8200 section 8.1): source,
/// destination, 32-bit upper-layer length, three zero bytes, next header.
/// Used by TCP, UDP and ICMPv6 alike.
#[inline]
pub fn pseudo_header_sum_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, l4_len: usize) -> u16 {
    fold(accumulate_pseudo_header_v6(src, dst, next_header, l4_len))
}

/// TCP/UDP/ICMPv6 checksum over the IPv6 pseudo header and `segment`
/// (whose checksum field must be zero). For UDP pass the result through
/// [`udp_wire_value`]: over IPv6 a UDP checksum is mandatory.
#[inline]
pub fn l4_checksum_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, segment: &[u8]) -> u16 {
    !fold(accumulate_pseudo_header_v6(src, dst, next_header, segment.len()) + accumulate(segment))
}

/// Whether an upper-layer `segment` over IPv6 (checksum field included)
/// verifies. For UDP use [`udp_v6_verifies`], which also refuses 0.
#[inline]
pub fn l4_verifies_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, segment: &[u8]) -> bool {
    fold(accumulate_pseudo_header_v6(src, dst, next_header, segment.len()) + accumulate(segment))
        == 0xffff
}

/// Whether a UDP `datagram` over IPv6 verifies. A stored 0 ("none") is
/// invalid over IPv6 (RFC 8200 section 8.1), so it fails.
#[inline]
pub fn udp_v6_verifies(src: Ipv6Addr, dst: Ipv6Addr, datagram: &[u8]) -> bool {
    datagram.len() >= 8
        && (datagram[6], datagram[7]) != (0, 0)
        && l4_verifies_v6(src, dst, 17, datagram)
}

/// Folded sum of the words of an IPv6 address (for incremental updates
/// when a translator swaps one address for another).
#[inline]
pub fn sum_v6_addr(addr: Ipv6Addr) -> u16 {
    fold(accumulate(&addr.octets()))
}

/// Folded sum of the words of an IPv4 address.
#[inline]
pub fn sum_v4_addr(addr: Ipv4Addr) -> u16 {
    fold(accumulate(&addr.octets()))
}

/// New checksum after data whose words summed to `old_sum` now sum to
/// `new_sum` (RFC 1624 eqn. 3 for a whole group of words).
#[inline]
pub fn update_sum(csum: u16, old_sum: u16, new_sum: u16) -> u16 {
    update16(csum, old_sum, new_sum)
}

/// New checksum after a 16-bit field changed from `old` to `new`
/// (RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m')).
#[inline]
pub fn update16(csum: u16, old: u16, new: u16) -> u16 {
    !fold(u64::from(!csum) + u64::from(!old) + u64::from(new))
}

/// New checksum after a 32-bit field (an IPv4 address, a sequence number)
/// changed from `old` to `new`.
#[inline]
pub fn update32(csum: u16, old: u32, new: u32) -> u16 {
    let removed = u64::from(!(old >> 16) as u16) + u64::from(!(old as u16));
    let added = u64::from(new >> 16) + u64::from(new & 0xffff);
    !fold(u64::from(!csum) + removed + added)
}

/// [`update16`] for a UDP checksum: a 0 ("none") stays 0, and a result of 0
/// is stored as 0xffff.
#[inline]
pub fn udp_update16(csum: u16, old: u16, new: u16) -> u16 {
    if csum == 0 {
        0
    } else {
        udp_wire_value(update16(csum, old, new))
    }
}

/// [`update32`] for a UDP checksum, with the zero rule of [`udp_update16`].
#[inline]
pub fn udp_update32(csum: u16, old: u32, new: u32) -> u16 {
    if csum == 0 {
        0
    } else {
        udp_wire_value(update32(csum, old, new))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testutil::{slow_checksum, slow_l4_checksum, slow_sum};
    use proptest::prelude::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: words 0001 f203 f4f5 f6f7 sum to ddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(sum(&data), 0xddf2);
        assert_eq!(checksum(&data), 0x220d);
    }

    #[test]
    fn known_ipv4_header() {
        // A textbook header; its stored checksum is 0xb861.
        let mut header = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert!(verifies(&header));
        header[10] = 0;
        header[11] = 0;
        assert_eq!(checksum(&header), 0xb861);
    }

    #[test]
    fn odd_length_pads_last_byte_on_the_right() {
        assert_eq!(sum(&[0x12]), 0x1200);
        assert_eq!(sum(&[0x00, 0x01, 0x02]), 0x0201);
    }

    #[test]
    fn empty_and_zero_data() {
        assert_eq!(sum(&[]), 0);
        assert_eq!(checksum(&[0; 40]), 0xffff);
    }

    #[test]
    fn udp_zero_rule() {
        assert_eq!(udp_wire_value(0), 0xffff);
        assert_eq!(udp_wire_value(0x1234), 0x1234);
        assert_eq!(udp_update16(0, 1000, 2000), 0);
        assert_eq!(udp_update32(0, 1, 2), 0);
    }

    #[test]
    fn udp_update_that_lands_on_zero_is_sent_as_ffff() {
        // Sum of a pretend datagram with one variable word `port`.
        let rest = [0x12u8, 0x34, 0xab, 0xcd];
        let old_port: u16 = 1000;
        let full = |port: u16| {
            let mut bytes = rest.to_vec();
            bytes.extend_from_slice(&port.to_be_bytes());
            udp_wire_value(slow_checksum(&bytes))
        };
        let csum = full(old_port);
        // The port value that makes the new sum all ones, i.e. checksum 0.
        let target = add(
            old_port,
            !slow_sum(&[rest.as_slice(), &old_port.to_be_bytes()].concat()),
        );
        assert_eq!(full(target), 0xffff, "constructed case must compute to 0");
        assert_eq!(udp_update16(csum, old_port, target), 0xffff);
    }

    #[test]
    fn udp_over_ipv6_zero_checksum_is_invalid() {
        let src: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let dst: Ipv6Addr = "2001:db8::2".parse().unwrap();
        let mut datagram = [0x04, 0xd2, 0x00, 0x35, 0x00, 0x0a, 0, 0, b'h', b'i'];
        assert!(
            !udp_v6_verifies(src, dst, &datagram),
            "0 means none: refused"
        );
        let csum = udp_wire_value(l4_checksum_v6(src, dst, 17, &datagram));
        datagram[6..8].copy_from_slice(&csum.to_be_bytes());
        assert!(udp_v6_verifies(src, dst, &datagram));
        datagram[9] ^= 1;
        assert!(!udp_v6_verifies(src, dst, &datagram));
    }

    proptest! {
        #[test]
        fn l4_checksum_v6_matches_byte_by_byte(
            src in any::<u128>(),
            dst in any::<u128>(),
            next_header in any::<u8>(),
            segment in proptest::collection::vec(any::<u8>(), 0..1600),
        ) {
            let (src, dst) = (Ipv6Addr::from(src), Ipv6Addr::from(dst));
            let reference = crate::wire::testutil_v6::slow_l4_checksum_v6(src, dst, next_header, &segment);
            prop_assert_eq!(l4_checksum_v6(src, dst, next_header, &segment), reference);
            prop_assert_eq!(
                add(pseudo_header_sum_v6(src, dst, next_header, segment.len()), sum(&segment)),
                !reference
            );
        }

        #[test]
        fn swapping_a_v6_address_for_a_v4_one_updates_like_a_recompute(
            src6 in any::<u128>(),
            dst6 in any::<u128>(),
            src4 in any::<u32>(),
            dst4 in any::<u32>(),
            mut segment in proptest::collection::vec(any::<u8>(), 8..300),
        ) {
            let (src6, dst6) = (Ipv6Addr::from(src6), Ipv6Addr::from(dst6));
            let (src4, dst4) = (Ipv4Addr::from(src4), Ipv4Addr::from(dst4));
            segment[6] = 0;
            segment[7] = 0;
            let csum6 = l4_checksum_v6(src6, dst6, 6, &segment);
            let old = add(sum_v6_addr(src6), sum_v6_addr(dst6));
            let new = add(sum_v4_addr(src4), sum_v4_addr(dst4));
            let csum4 = update_sum(csum6, old, new);
            segment[6..8].copy_from_slice(&csum4.to_be_bytes());
            prop_assert!(l4_verifies(src4, dst4, 6, &segment));
        }
    }

    proptest! {
        #[test]
        fn sum_matches_byte_by_byte(data in proptest::collection::vec(any::<u8>(), 0..1600)) {
            prop_assert_eq!(sum(&data), slow_sum(&data));
            prop_assert_eq!(checksum(&data), slow_checksum(&data));
        }

        #[test]
        fn sum_of_split_even_parts_adds(
            data in proptest::collection::vec(any::<u8>(), 0..600),
            cut in 0usize..300,
        ) {
            let cut = (cut * 2).min(data.len() & !1);
            prop_assert_eq!(add(sum(&data[..cut]), sum(&data[cut..])), sum(&data));
        }

        #[test]
        fn l4_checksum_matches_byte_by_byte(
            src in any::<u32>(),
            dst in any::<u32>(),
            protocol in any::<u8>(),
            segment in proptest::collection::vec(any::<u8>(), 0..1600),
        ) {
            let (src, dst) = (Ipv4Addr::from(src), Ipv4Addr::from(dst));
            prop_assert_eq!(
                l4_checksum(src, dst, protocol, &segment),
                slow_l4_checksum(src, dst, protocol, &segment)
            );
            prop_assert_eq!(
                add(pseudo_header_sum(src, dst, protocol, segment.len()), sum(&segment)),
                !slow_l4_checksum(src, dst, protocol, &segment)
            );
        }

        #[test]
        fn stored_checksum_verifies(mut data in proptest::collection::vec(any::<u8>(), 2..200)) {
            // Checksum field in the first word, as in a UDP-less toy header.
            data[0] = 0;
            data[1] = 0;
            let csum = checksum(&data);
            data[0..2].copy_from_slice(&csum.to_be_bytes());
            prop_assert!(verifies(&data));
            prop_assert_eq!(slow_sum(&data), 0xffff);
        }

        #[test]
        fn update16_matches_recompute(
            mut data in proptest::collection::vec(any::<u8>(), 4..200),
            word in 0usize..100,
            new in any::<u16>(),
        ) {
            data[0] = 0x45; // never all zero
            let at = 2 * (word % (data.len() / 2 - 1)) + 2;
            let csum = checksum(&data);
            let old = u16::from_be_bytes([data[at], data[at + 1]]);
            data[at..at + 2].copy_from_slice(&new.to_be_bytes());
            prop_assert_eq!(update16(csum, old, new), slow_checksum(&data));
        }

        #[test]
        fn update32_matches_recompute(
            mut data in proptest::collection::vec(any::<u8>(), 6..200),
            word in 0usize..100,
            new in any::<u32>(),
        ) {
            data[0] = 0x45;
            let at = 2 * (word % ((data.len() - 4) / 2)) + 2;
            let csum = checksum(&data);
            let old = u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
            data[at..at + 4].copy_from_slice(&new.to_be_bytes());
            prop_assert_eq!(update32(csum, old, new), slow_checksum(&data));
        }
    }
}
