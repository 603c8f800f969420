//! DSCP marking (RFC 2474): the upper six bits of the IPv4 TOS byte, set
//! in place with the header checksum kept valid incrementally (RFC 1624),
//! or of the IPv6 traffic class (which no checksum covers).
//! The two ECN bits (RFC 3168) belong to the endpoints' congestion control
//! and are never changed.

use super::checksum::update16;

/// Largest DSCP value (six bits).
pub const DSCP_MAX: u8 = 63;

/// Sets the DSCP of the IPv4 header at the start of `ip` to `dscp` (only
/// its low six bits are used), keeping ECN; returns false (changing
/// nothing) if `ip` is shorter than a minimal header. A header that
/// already carries `dscp` is left as it is.
#[inline]
pub fn set_dscp(ip: &mut [u8], dscp: u8) -> bool {
    let Some(Ok(hdr)) = ip.get_mut(..20).map(<&mut [u8; 20]>::try_from) else {
        return false;
    };
    let old_tos = hdr[1];
    let new_tos = ((dscp & DSCP_MAX) << 2) | (old_tos & 0x03);
    if new_tos != old_tos {
        // TOS shares its 16-bit word with version and header length.
        let old_word = u16::from_be_bytes([hdr[0], old_tos]);
        let new_word = u16::from_be_bytes([hdr[0], new_tos]);
        hdr[1] = new_tos;
        let c = update16(u16::from_be_bytes([hdr[10], hdr[11]]), old_word, new_word);
        hdr[10..12].copy_from_slice(&c.to_be_bytes());
    }
    true
}

/// Sets the DSCP of the IPv6 header at the start of `ip` (its traffic
/// class straddles the first two bytes, after the version) to `dscp` (its
/// low six bits), keeping ECN; false (changing nothing) if `ip` is
/// shorter than the fixed header.
#[inline]
pub fn set_dscp_v6(ip: &mut [u8], dscp: u8) -> bool {
    let Some((hdr, _)) = ip.split_first_chunk_mut::<40>() else {
        return false;
    };
    let old_tc = (hdr[0] << 4) | (hdr[1] >> 4);
    let new_tc = ((dscp & DSCP_MAX) << 2) | (old_tc & 0x03);
    hdr[0] = (hdr[0] & 0xf0) | (new_tc >> 4);
    hdr[1] = (hdr[1] & 0x0f) | (new_tc << 4);
    true
}

/// The DSCP of the IPv4 header at the start of `ip`, if it has one.
#[inline]
pub fn dscp(ip: &[u8]) -> Option<u8> {
    ip.get(1).filter(|_| ip.len() >= 20).map(|tos| tos >> 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::checksum::checksum;

    fn header(tos: u8) -> [u8; 20] {
        let mut h = [
            0x45, tos, 0, 60, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0, 10, 8, 0, 100, 10, 9, 0, 1,
        ];
        let c = checksum(&h);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        h
    }

    #[test]
    fn sets_the_traffic_class_of_ipv6_keeping_version_ecn_and_flow_label() {
        for ecn in 0..4u8 {
            for new in 0..=DSCP_MAX {
                let mut h = [0u8; 40];
                // Version 6, traffic class 0b101110_00 | ecn, flow label 0xabcde.
                let tc = (46 << 2) | ecn;
                h[0] = 0x60 | (tc >> 4);
                h[1] = (tc << 4) | 0x0a;
                h[2..4].copy_from_slice(&[0xbc, 0xde]);
                assert!(set_dscp_v6(&mut h, new));
                assert_eq!(h[0] >> 4, 6);
                let got = (h[0] << 4) | (h[1] >> 4);
                assert_eq!(got, (new << 2) | ecn, "new {new} ecn {ecn}");
                assert_eq!((h[1] & 0x0f, h[2], h[3]), (0x0a, 0xbc, 0xde));
            }
        }
        assert!(!set_dscp_v6(&mut [0x60; 39], 46));
    }

    #[test]
    fn sets_the_six_bits_keeps_ecn_and_the_checksum_valid() {
        for ecn in 0..4u8 {
            for old in [0u8, 10, 46, 63] {
                for new in 0..=DSCP_MAX {
                    let mut h = header(old << 2 | ecn);
                    assert!(set_dscp(&mut h, new));
                    assert_eq!(h[1], new << 2 | ecn, "old {old} new {new} ecn {ecn}");
                    assert_eq!(dscp(&h), Some(new));
                    assert_eq!(checksum(&h), 0, "header checksum after {old} -> {new}");
                    // Nothing else moved.
                    let mut want = header(new << 2 | ecn);
                    want[10..12].copy_from_slice(&h[10..12]);
                    assert_eq!(h, want);
                }
            }
        }
    }

    #[test]
    fn known_bytes_ef_on_a_best_effort_header() {
        // EF (46) on TOS 0x01 (ECT(1)): TOS 0xb9.
        let mut h = header(0x01);
        set_dscp(&mut h, 46);
        assert_eq!(h[1], 0xb9);
        assert_eq!(h, header(0xb9));
    }

    #[test]
    fn short_buffers_are_left_alone() {
        let mut short = [0x45u8, 0, 0, 19];
        assert!(!set_dscp(&mut short, 46));
        assert_eq!(short, [0x45, 0, 0, 19]);
        assert_eq!(dscp(&short), None);
    }
}
