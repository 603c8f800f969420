//! Header rewrites for full NAT, with incremental checksum updates
//! (RFC 1624): no checksum is recomputed over the payload.

use crate::wire::{PROTO_ICMP, PROTO_TCP, PROTO_UDP};
use std::net::Ipv4Addr;

#[cfg(test)]
fn rd16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[cfg(test)]
fn wr16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

/// A 16-bit word as it lies in memory. The one's-complement sum does not
/// depend on byte order (RFC 1071 2.B): summed and stored in the
/// machine's order, a checksum comes out as the same bytes as in network
/// order, without swapping every word in and out.
#[inline(always)]
fn ne16(b: &[u8; 2]) -> u16 {
    u16::from_ne_bytes(*b)
}

/// A 32-bit word as it lies in memory (see [`ne16`]).
#[inline(always)]
fn ne32(b: &[u8; 4]) -> u32 {
    u32::from_ne_bytes(*b)
}

/// The translation of one packet: new addresses and L4 identifiers. For
/// ICMP echo the "source port" is the echo identifier and `dst_port` is
/// ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rewrite {
    pub src: Ipv4Addr,
    pub src_port: u16,
    pub dst: Ipv4Addr,
    pub dst_port: u16,
}

/// Adds the one's-complement difference of one 16-bit word (`~old + new`,
/// RFC 1624 eqn. 3) to an unfolded sum.
#[inline(always)]
fn diff16(acc: u64, old: u16, new: u16) -> u64 {
    acc + u64::from(!old) + u64::from(new)
}

/// [`diff16`] of both halves of a 32-bit word at once: 2^16 is 1 in one's
/// complement arithmetic (modulo 0xffff), so a 32-bit word adds up to the
/// same checksum as its two halves once the sum is folded.
#[inline(always)]
fn diff32(acc: u64, old: u32, new: u32) -> u64 {
    acc + u64::from(!old) + u64::from(new)
}

/// Applies an accumulated difference to a checksum: `~(~HC + Σ)`, folded
/// to 16 bits (the sum of a few 32-bit words stays below 2^36, which three
/// folds bring to 16 bits).
#[inline(always)]
fn apply(csum: u16, acc: u64) -> u16 {
    let s = u64::from(!csum) + acc;
    // 64 to 32 to 16 bits, each with its end-around carry: the same value
    // as folding 16 bits at a time (the one in 1..=0xffff congruent to the
    // sum modulo 0xffff, or 0 for a zero sum), in fewer steps.
    let (lo, carry) = (s as u32).overflowing_add((s >> 32) as u32);
    let s = lo + u32::from(carry);
    let (lo, carry) = (s as u16).overflowing_add((s >> 16) as u16);
    !(lo + u16::from(carry))
}

/// Rewrites the IPv4 packet `ip` (header length `ihl` bytes, protocol
/// `proto`, L4 header already validated to be present) to `rw`, fixing the
/// IP and L4 checksums incrementally (each folded once), and decrements
/// the TTL.
///
/// For ICMP echo the identifier takes the place of the source port when
/// `ident_from_src` is true (terminal → server), or of the destination
/// port otherwise (the identifier of a reply is the gateway port).
#[inline(always)]
pub fn rewrite(ip: &mut [u8], ihl: usize, proto: u8, rw: &Rewrite, ident_from_src: bool) {
    // Fixed-size views: one length check each, then no per-byte checks.
    // Words are summed as they lie in memory (see `ne16`).
    let Some(Ok(hdr)) = ip.get_mut(..20).map(<&mut [u8; 20]>::try_from) else {
        return;
    };
    let addrs = rewrite_header(hdr, rw.src, rw.dst);

    match proto {
        PROTO_TCP | PROTO_UDP => {
            // Ports and checksum: the first 18 bytes of TCP, 8 of UDP.
            let co = if proto == PROTO_TCP { 16 } else { 6 };
            let Some(l4) = ip.get_mut(ihl..ihl + co + 2) else {
                return;
            };
            let Some((ports, rest)) = l4.split_first_chunk_mut::<4>() else {
                return;
            };
            let Some((c, _)) = rest[co - 4..].split_first_chunk_mut::<2>() else {
                return;
            };
            // Both ports as one 32-bit word.
            let old_ports = ne32(ports);
            let new_ports = ((u32::from(rw.src_port) << 16) | u32::from(rw.dst_port)).to_be_bytes();
            *ports = new_ports;
            let old = ne16(c);
            if proto == PROTO_UDP && old == 0 {
                // No checksum was sent; none is added.
                return;
            }
            let mut n = apply(old, diff32(addrs, old_ports, ne32(&new_ports)));
            if proto == PROTO_UDP && n == 0 {
                n = 0xffff;
            }
            *c = n.to_ne_bytes();
        }
        PROTO_ICMP => {
            // ICMP echo: the identifier lives at offset 4 (and the checksum
            // at 2); no pseudo-header.
            let Some(Ok(echo)) = ip.get_mut(ihl..ihl + 8).map(<&mut [u8; 8]>::try_from) else {
                return;
            };
            let old_id = ne16(&[echo[4], echo[5]]);
            let new_id = if ident_from_src {
                rw.src_port
            } else {
                rw.dst_port
            }
            .to_be_bytes();
            echo[4..6].copy_from_slice(&new_id);
            let c = apply(ne16(&[echo[2], echo[3]]), diff16(0, old_id, ne16(&new_id)));
            echo[2..4].copy_from_slice(&c.to_ne_bytes());
        }
        _ => {}
    }
}

/// The IPv4 header part of [`rewrite`] alone, for a fragment other than
/// the first (`fragments.rs`): new addresses, TTL decremented, header
/// checksum updated. Its L4 checksum lives in the first fragment, whose
/// incremental update already covers the whole datagram's new
/// pseudo-header and ports.
#[inline]
pub fn rewrite_addresses(ip: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr) {
    let Some(Ok(hdr)) = ip.get_mut(..20).map(<&mut [u8; 20]>::try_from) else {
        return;
    };
    rewrite_header(hdr, src, dst);
}

/// The IPv4 header `hdr` to `src` -> `dst`, TTL decremented, its checksum
/// updated incrementally. Returns the addresses' unfolded checksum
/// difference, the pseudo-header part an L4 checksum shares. Words are
/// summed as they lie in memory (see `ne16`).
#[inline(always)]
fn rewrite_header(hdr: &mut [u8; 20], src: Ipv4Addr, dst: Ipv4Addr) -> u64 {
    let (new_src, new_dst) = (src.octets(), dst.octets());
    let old_src = ne32(&[hdr[12], hdr[13], hdr[14], hdr[15]]);
    let old_dst = ne32(&[hdr[16], hdr[17], hdr[18], hdr[19]]);
    let addrs = diff32(diff32(0, old_src, ne32(&new_src)), old_dst, ne32(&new_dst));
    // TTL shares a 16-bit word with the protocol.
    let old_ttl_word = ne16(&[hdr[8], hdr[9]]);
    hdr[8] = hdr[8].saturating_sub(1);
    let ttl_word = ne16(&[hdr[8], hdr[9]]);
    let csum = apply(
        ne16(&[hdr[10], hdr[11]]),
        diff16(addrs, old_ttl_word, ttl_word),
    );
    hdr[10..12].copy_from_slice(&csum.to_ne_bytes());
    hdr[12..16].copy_from_slice(&new_src);
    hdr[16..20].copy_from_slice(&new_dst);
    addrs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::checksum::{checksum, l4_checksum};

    /// Builds a minimal IPv4 packet with a valid header checksum and L4
    /// checksum, computed from scratch.
    fn packet(proto: u8, payload_len: usize) -> Vec<u8> {
        let l4_len = match proto {
            PROTO_TCP => 20,
            PROTO_UDP => 8,
            _ => 8,
        } + payload_len;
        let mut p = vec![0u8; 20 + l4_len];
        p[0] = 0x45;
        wr16(&mut p, 2, (20 + l4_len) as u16);
        p[8] = 64;
        p[9] = proto;
        p[12..16].copy_from_slice(&[10, 1, 0, 100]);
        p[16..20].copy_from_slice(&[10, 9, 0, 1]);
        for (i, b) in p[20..].iter_mut().enumerate() {
            *b = (i * 7 + 3) as u8;
        }
        match proto {
            PROTO_TCP => {
                wr16(&mut p, 20, 40000);
                wr16(&mut p, 22, 80);
                p[32] = 0x50;
                wr16(&mut p, 36, 0);
                let c = l4_checksum(
                    Ipv4Addr::new(10, 1, 0, 100),
                    Ipv4Addr::new(10, 9, 0, 1),
                    proto,
                    &p[20..],
                );
                wr16(&mut p, 36, c);
            }
            PROTO_UDP => {
                wr16(&mut p, 20, 40000);
                wr16(&mut p, 22, 53);
                wr16(&mut p, 24, l4_len as u16);
                wr16(&mut p, 26, 0);
                let c = l4_checksum(
                    Ipv4Addr::new(10, 1, 0, 100),
                    Ipv4Addr::new(10, 9, 0, 1),
                    proto,
                    &p[20..],
                );
                wr16(&mut p, 26, if c == 0 { 0xffff } else { c });
            }
            _ => {
                p[20] = 8;
                p[21] = 0;
                wr16(&mut p, 24, 0x1234);
                wr16(&mut p, 22, 0);
                let c = checksum(&p[20..]);
                wr16(&mut p, 22, c);
            }
        }
        wr16(&mut p, 10, 0);
        let c = checksum(&p[..20]);
        wr16(&mut p, 10, c);
        p
    }

    fn assert_valid(p: &[u8], proto: u8) {
        assert_eq!(checksum(&p[..20]), 0, "IP header checksum");
        let src = Ipv4Addr::new(p[12], p[13], p[14], p[15]);
        let dst = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
        match proto {
            PROTO_ICMP => assert_eq!(checksum(&p[20..]), 0, "ICMP checksum"),
            _ => assert_eq!(l4_checksum(src, dst, proto, &p[20..]), 0, "L4 checksum"),
        }
    }

    #[test]
    fn tcp_udp_icmp_rewrites_keep_checksums_valid() {
        let rw = Rewrite {
            src: Ipv4Addr::new(10, 2, 0, 10),
            src_port: 1030,
            dst: Ipv4Addr::new(10, 2, 0, 21),
            dst_port: 8080,
        };
        for proto in [PROTO_TCP, PROTO_UDP, PROTO_ICMP] {
            for len in [0, 1, 7, 100] {
                let mut p = packet(proto, len);
                assert_valid(&p, proto);
                rewrite(&mut p, 20, proto, &rw, true);
                assert_valid(&p, proto);
                assert_eq!(&p[12..16], &[10, 2, 0, 10]);
                assert_eq!(&p[16..20], &[10, 2, 0, 21]);
                assert_eq!(p[8], 63, "TTL decremented");
                match proto {
                    PROTO_ICMP => assert_eq!(rd16(&p, 24), 1030),
                    _ => {
                        assert_eq!(rd16(&p, 20), 1030);
                        assert_eq!(rd16(&p, 22), 8080);
                    }
                }
            }
        }
    }

    #[test]
    fn udp_without_checksum_stays_without() {
        let mut p = packet(PROTO_UDP, 10);
        wr16(&mut p, 26, 0);
        let rw = Rewrite {
            src: Ipv4Addr::new(1, 2, 3, 4),
            src_port: 5,
            dst: Ipv4Addr::new(6, 7, 8, 9),
            dst_port: 10,
        };
        rewrite(&mut p, 20, PROTO_UDP, &rw, true);
        assert_eq!(rd16(&p, 26), 0);
        assert_eq!(checksum(&p[..20]), 0);
    }

    proptest::proptest! {
        #[test]
        fn any_rewrite_keeps_checksums_valid(
            proto_i in 0usize..3,
            len in 0usize..300,
            fill in proptest::prelude::any::<u8>(),
            src in proptest::prelude::any::<u32>(),
            dst in proptest::prelude::any::<u32>(),
            sport in proptest::prelude::any::<u16>(),
            dport in proptest::prelude::any::<u16>(),
            ttl in 2u8..=255,
        ) {
            let proto = [PROTO_TCP, PROTO_UDP, PROTO_ICMP][proto_i];
            let mut p = packet(proto, len);
            for b in p[28..].iter_mut().skip(if proto == PROTO_TCP { 12 } else { 0 }) {
                *b ^= fill;
            }
            // Re-fill the checksums after scrambling the payload.
            p[8] = ttl;
            wr16(&mut p, 10, 0);
            let c = checksum(&p[..20]);
            wr16(&mut p, 10, c);
            match proto {
                PROTO_TCP => {
                    wr16(&mut p, 36, 0);
                    let c = l4_checksum(Ipv4Addr::new(10, 1, 0, 100), Ipv4Addr::new(10, 9, 0, 1), proto, &p[20..]);
                    wr16(&mut p, 36, c);
                }
                PROTO_UDP => {
                    wr16(&mut p, 26, 0);
                    let c = l4_checksum(Ipv4Addr::new(10, 1, 0, 100), Ipv4Addr::new(10, 9, 0, 1), proto, &p[20..]);
                    wr16(&mut p, 26, if c == 0 { 0xffff } else { c });
                }
                _ => {
                    wr16(&mut p, 22, 0);
                    let c = checksum(&p[20..]);
                    wr16(&mut p, 22, c);
                }
            }
            assert_valid(&p, proto);
            let rw = Rewrite { src: Ipv4Addr::from(src), src_port: sport, dst: Ipv4Addr::from(dst), dst_port: dport };
            rewrite(&mut p, 20, proto, &rw, proto_i % 2 == 0);
            assert_valid(&p, proto);
            proptest::prop_assert_eq!(p[8], ttl - 1);
        }
    }

    /// `rewrite` as it was before it summed words in memory order and
    /// folded with carries (network order, three 16-bit folds): the new
    /// one must write the same bytes.
    fn rewrite_network_order(
        ip: &mut [u8],
        ihl: usize,
        proto: u8,
        rw: &Rewrite,
        ident_from_src: bool,
    ) {
        let rd32 =
            |b: &[u8], at: usize| u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        let apply = |csum: u16, acc: u64| {
            let mut s = u64::from(!csum) + acc;
            s = (s & 0xffff) + (s >> 16);
            s = (s & 0xffff) + (s >> 16);
            s = (s & 0xffff) + (s >> 16);
            !(s as u16)
        };
        if ip.len() < 20 {
            return;
        }
        let (old_src, old_dst) = (rd32(ip, 12), rd32(ip, 16));
        let (new_src, new_dst) = (u32::from(rw.src), u32::from(rw.dst));
        let addrs = diff32(diff32(0, old_src, new_src), old_dst, new_dst);
        let old_ttl_word = rd16(ip, 8);
        ip[8] = ip[8].saturating_sub(1);
        let csum = apply(rd16(ip, 10), diff16(addrs, old_ttl_word, rd16(ip, 8)));
        wr16(ip, 10, csum);
        ip[12..16].copy_from_slice(&new_src.to_be_bytes());
        ip[16..20].copy_from_slice(&new_dst.to_be_bytes());
        let co = match proto {
            PROTO_TCP => 16,
            PROTO_UDP => 6,
            PROTO_ICMP => 2,
            _ => return,
        };
        let Some(l4) = ip.get_mut(ihl..ihl + co + 2) else {
            return;
        };
        let old_ports = rd32(l4, 0);
        let c = rd16(l4, co);
        if proto == PROTO_ICMP {
            let Some(echo) = ip.get_mut(ihl..ihl + 8) else {
                return;
            };
            let old_id = rd16(echo, 4);
            let new_id = if ident_from_src {
                rw.src_port
            } else {
                rw.dst_port
            };
            wr16(echo, 4, new_id);
            wr16(echo, 2, apply(c, diff16(0, old_id, new_id)));
            return;
        }
        let new_ports = (u32::from(rw.src_port) << 16) | u32::from(rw.dst_port);
        l4[..4].copy_from_slice(&new_ports.to_be_bytes());
        if proto == PROTO_UDP && c == 0 {
            return;
        }
        let mut n = apply(c, diff32(addrs, old_ports, new_ports));
        if proto == PROTO_UDP && n == 0 {
            n = 0xffff;
        }
        wr16(l4, co, n);
    }

    proptest::proptest! {
        /// Any bytes at all (valid checksums or not, short L4 headers, other
        /// protocols): the same result as the network-order version.
        #[test]
        fn writes_the_same_bytes_as_in_network_order(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            ihl_words in 5usize..8,
            proto_i in 0usize..4,
            src in proptest::prelude::any::<u32>(),
            dst in proptest::prelude::any::<u32>(),
            sport in proptest::prelude::any::<u16>(),
            dport in proptest::prelude::any::<u16>(),
            ident_from_src in proptest::prelude::any::<bool>(),
        ) {
            let proto = [PROTO_TCP, PROTO_UDP, PROTO_ICMP, 47][proto_i];
            let rw = Rewrite { src: Ipv4Addr::from(src), src_port: sport, dst: Ipv4Addr::from(dst), dst_port: dport };
            let (mut new, mut old) = (bytes.clone(), bytes);
            rewrite(&mut new, ihl_words * 4, proto, &rw, ident_from_src);
            rewrite_network_order(&mut old, ihl_words * 4, proto, &rw, ident_from_src);
            proptest::prop_assert_eq!(new, old);
        }

        /// Checksum fields of 0 and 0xffff and words that sum to zero: the
        /// one's-complement corner cases, byte for byte.
        #[test]
        fn checksum_corner_cases_match_network_order(
            csum in proptest::prop_oneof![proptest::strategy::Just(0u16), proptest::strategy::Just(0xffff), proptest::prelude::any::<u16>()],
            l4sum in proptest::prop_oneof![proptest::strategy::Just(0u16), proptest::strategy::Just(0xffff), proptest::prelude::any::<u16>()],
            same in proptest::prelude::any::<bool>(),
            proto_i in 0usize..3,
        ) {
            let proto = [PROTO_TCP, PROTO_UDP, PROTO_ICMP][proto_i];
            let mut p = packet(proto, 4);
            wr16(&mut p, 10, csum);
            let co = [36, 26, 22][proto_i];
            wr16(&mut p, co, l4sum);
            // Unchanged addresses and ports: a zero difference.
            let rw = if same {
                Rewrite { src: Ipv4Addr::new(10, 1, 0, 100), src_port: 40000, dst: Ipv4Addr::new(10, 9, 0, 1), dst_port: rd16(&p, 22) }
            } else {
                Rewrite { src: Ipv4Addr::new(255, 255, 255, 255), src_port: 0xffff, dst: Ipv4Addr::UNSPECIFIED, dst_port: 0 }
            };
            let (mut new, mut old) = (p.clone(), p);
            rewrite(&mut new, 20, proto, &rw, true);
            rewrite_network_order(&mut old, 20, proto, &rw, true);
            proptest::prop_assert_eq!(new, old);
        }
    }
}
