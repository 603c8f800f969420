//! NAT64's common case translated where the packet lies, both ways. An
//! IPv6 packet with no extension header carrying TCP or UDP becomes the
//! IPv4 packet [`translate_6to4`](super::translate_6to4) writes, 20 bytes
//! into the buffer it came in; an unfragmented IPv4 packet without options
//! carrying TCP or UDP (with a UDP checksum) becomes the IPv6 packet
//! [`translate_4to6`](super::translate_4to6) writes, 20 bytes before it.
//! The transport header and payload do not move: no copy of the payload,
//! no translation buffer, for the bulk of NAT64 traffic. Anything else is
//! left to the buffer translations; property tests hold each pair to the
//! same bytes.

use super::checksum::{add, sum_v4_addr, sum_v6_addr};
use super::ipv6::Ipv6Upper;
use super::nat64::{patch_l4_checksum, pseudo_header_sums, write_v6_header, V4Header};
use super::{
    Ipv4Packet, Ipv6Packet, Nat64Error, To4, To6, IPV4_HEADER_LEN, IPV6_HEADER_LEN, PROTO_TCP,
    PROTO_UDP,
};

/// How much shorter the IPv4 header is: where the IPv4 packet starts.
pub const SHRINK: usize = IPV6_HEADER_LEN - IPV4_HEADER_LEN;

/// Translates `packet` (exactly one IPv6 packet, fixed header first) into
/// IPv4 as `to` says, in place: Ok(Some(n)) when it was the common case
/// (the IPv4 packet is then `packet[SHRINK..SHRINK + n]`), Ok(None) when it
/// is not (nothing written), Err for a UDP datagram without checksum
/// (nothing written; `translate_6to4` refuses it too).
#[inline]
pub fn translate_6to4_in_place(packet: &mut [u8], to: &To4) -> Result<Option<usize>, Nat64Error> {
    let Ok(ip) = Ipv6Packet::new_checked(&*packet) else {
        return Ok(None);
    };
    let protocol = ip.next_header();
    if (protocol != PROTO_TCP && protocol != PROTO_UDP) || ip.packet().len() != packet.len() {
        return Ok(None);
    }
    let l4_len = packet.len() - IPV6_HEADER_LEN;
    if protocol == PROTO_UDP && l4_len >= 8 && packet[IPV6_HEADER_LEN + 6..][..2] == [0, 0] {
        return Err(Nat64Error::BadChecksum);
    }
    let header = V4Header::translating(&ip, protocol, to);
    let (old, new) = pseudo_header_sums(&ip, to);
    patch_l4_checksum(&mut packet[IPV6_HEADER_LEN..], protocol, old, new);
    let upper = Ipv6Upper {
        protocol,
        offset: IPV6_HEADER_LEN,
        fragment: None,
        extension_headers: 0,
        next_header_at: 6,
    };
    header.write(&mut packet[SHRINK..], l4_len, upper)?;
    Ok(Some(IPV4_HEADER_LEN + l4_len))
}

/// Translates the IPv4 packet at `buf[SHRINK..]` (exactly one packet,
/// `SHRINK` spare bytes before it) into IPv6 as `to` says, in place:
/// Some(n) when it was the common case (the IPv6 packet is then
/// `buf[..n]`), None when it is not, or its header checksum is wrong
/// (nothing written: the buffer translation decides).
#[inline]
pub fn translate_4to6_in_place(buf: &mut [u8], to: &To6) -> Option<usize> {
    let packet = buf.get(SHRINK..)?;
    let ip = Ipv4Packet::new_checked(packet).ok()?;
    let protocol = ip.protocol();
    let common = ip.header_len() == IPV4_HEADER_LEN
        && ip.total_len() == packet.len()
        && !ip.is_fragment()
        && (protocol == PROTO_TCP || protocol == PROTO_UDP)
        && ip.verify_checksum();
    let l4_len = packet.len() - IPV4_HEADER_LEN;
    if !common
        || (protocol == PROTO_UDP && l4_len >= 8 && packet[IPV4_HEADER_LEN + 6..][..2] == [0, 0])
    {
        return None;
    }
    // The header is read from a copy: the IPv6 header is written over it.
    let mut header = [0u8; IPV4_HEADER_LEN];
    header.copy_from_slice(&packet[..IPV4_HEADER_LEN]);
    let ip = Ipv4Packet::new_unchecked(&header[..]);
    let old = add(sum_v4_addr(ip.src()), sum_v4_addr(ip.dst()));
    let new = add(sum_v6_addr(to.outer.src), sum_v6_addr(to.outer.dst));
    patch_l4_checksum(&mut buf[IPV6_HEADER_LEN..], protocol, old, new);
    write_v6_header(buf, &ip, to.outer, protocol, u16::try_from(l4_len).ok()?);
    Some(IPV6_HEADER_LEN + l4_len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{translate_4to6, translate_6to4, V4Addrs};
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn to4() -> To4 {
        To4 {
            outer: V4Addrs {
                src: Ipv4Addr::new(10, 2, 0, 10),
                dst: Ipv4Addr::new(10, 2, 0, 21),
            },
            inner: V4Addrs {
                src: Ipv4Addr::new(10, 2, 0, 21),
                dst: Ipv4Addr::new(10, 2, 0, 10),
            },
            ident: 0x1234,
        }
    }

    fn v6(next: u8, hop: u8, tc: u8, src: u128, dst: u128, l4: &[u8]) -> Vec<u8> {
        let mut p = vec![0x60 | (tc >> 4), tc << 4, 0, 0];
        p.extend_from_slice(&(l4.len() as u16).to_be_bytes());
        p.extend_from_slice(&[next, hop]);
        p.extend_from_slice(&Ipv6Addr::from(src).octets());
        p.extend_from_slice(&Ipv6Addr::from(dst).octets());
        p.extend_from_slice(l4);
        p
    }

    proptest! {
        /// Whatever the common case holds, in place gives the bytes the
        /// buffer translation gives; anything else is left untouched.
        #[test]
        fn in_place_is_translate_6to4(
            next in prop_oneof![Just(PROTO_TCP), Just(PROTO_UDP), Just(58u8), Just(0u8), Just(44u8)],
            hop in any::<u8>(),
            tc in any::<u8>(),
            src in any::<u128>(),
            dst in any::<u128>(),
            l4 in proptest::collection::vec(any::<u8>(), 0..1400),
        ) {
            let packet = v6(next, hop, tc, src, dst, &l4);
            let mut out = vec![0u8; 2048];
            let want = translate_6to4(&packet, &mut out, &to4());
            let mut here = packet.clone();
            match translate_6to4_in_place(&mut here, &to4()) {
                Ok(Some(n)) => {
                    let n_want = want.expect("the buffer translation takes it too");
                    prop_assert_eq!(n, n_want);
                    prop_assert_eq!(&here[SHRINK..SHRINK + n], &out[..n]);
                }
                Ok(None) => {
                    prop_assert!(next != PROTO_TCP && next != PROTO_UDP);
                    prop_assert_eq!(here, packet);
                }
                Err(e) => {
                    prop_assert_eq!(Err(e), want);
                    prop_assert_eq!(here, packet);
                }
            }
        }
    }

    fn to6() -> To6 {
        To6::to_terminal(
            Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x100),
            Ipv6Addr::new(0x2001, 0xdb8, 9, 0, 0, 0, 0, 0x80),
        )
    }

    /// An IPv4 packet with the given fields and a right header checksum
    /// (unless `bad_sum`).
    fn v4(
        proto: u8,
        ttl: u8,
        tos: u8,
        frag: u16,
        ihl_words: u8,
        l4: &[u8],
        bad_sum: bool,
    ) -> Vec<u8> {
        let hl = usize::from(ihl_words.clamp(5, 6)) * 4;
        let mut p = vec![0u8; hl];
        p[0] = 0x40 | (hl / 4) as u8;
        p[1] = tos;
        p[2..4].copy_from_slice(&((hl + l4.len()) as u16).to_be_bytes());
        p[4..6].copy_from_slice(&0x4321u16.to_be_bytes());
        p[6..8].copy_from_slice(&frag.to_be_bytes());
        p[8] = ttl;
        p[9] = proto;
        p[12..16].copy_from_slice(&[10, 2, 0, 21]);
        p[16..20].copy_from_slice(&[10, 2, 0, 10]);
        let c = crate::wire::checksum::checksum(&p);
        p[10..12].copy_from_slice(&(c ^ u16::from(bad_sum)).to_be_bytes());
        p.extend_from_slice(l4);
        p
    }

    proptest! {
        /// The IPv4 → IPv6 pair: the same bytes where in place takes the
        /// packet, nothing written where it does not.
        #[test]
        fn in_place_is_translate_4to6(
            proto in prop_oneof![Just(PROTO_TCP), Just(PROTO_UDP), Just(1u8), Just(47u8)],
            ttl in any::<u8>(),
            tos in any::<u8>(),
            frag in prop_oneof![Just(0u16), Just(0x4000), Just(0x2000), Just(0x0010)],
            ihl_words in 5u8..7,
            bad_sum in proptest::bool::weighted(0.1),
            l4 in proptest::collection::vec(any::<u8>(), 0..1400),
        ) {
            let packet = v4(proto, ttl, tos, frag, ihl_words, &l4, bad_sum);
            let mut out = vec![0u8; 2048];
            let want = translate_4to6(&packet, &mut out, &to6());
            let mut buf = vec![0u8; SHRINK];
            buf.extend_from_slice(&packet);
            let before = buf.clone();
            match translate_4to6_in_place(&mut buf, &to6()) {
                Some(n) => {
                    prop_assert_eq!(Ok(n), want);
                    prop_assert_eq!(&buf[..n], &out[..n]);
                }
                None => prop_assert_eq!(buf, before),
            }
        }
    }

    #[test]
    fn the_common_ipv4_case_is_taken_in_place() {
        let l4 = [0x11u8; 40];
        let mut buf = vec![0u8; SHRINK];
        buf.extend_from_slice(&v4(PROTO_TCP, 63, 0, 0x4000, 5, &l4, false));
        assert_eq!(translate_4to6_in_place(&mut buf, &to6()), Some(80));
    }

    #[test]
    fn a_packet_longer_than_its_payload_length_is_left_to_the_buffer_path() {
        let mut p = v6(PROTO_TCP, 64, 0, 1, 2, &[0u8; 20]);
        p.extend_from_slice(&[0, 0]);
        assert_eq!(translate_6to4_in_place(&mut p, &to4()), Ok(None));
    }
}
