//! DSCP marking (RFC 2474): the upper six bits of the IPv4 TOS byte, set
//! in place with the header checksum kept valid incrementally (RFC 1624).
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
