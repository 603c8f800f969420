//! NAT64's common case translated where the packet lies: an IPv6 packet
//! with no extension header carrying TCP or UDP becomes the same IPv4
//! packet [`translate_6to4`](super::translate_6to4) writes, 20 bytes into
//! the buffer it came in (the IPv4 header is 20 bytes shorter and the
//! transport header and payload do not move). No copy of the payload, no
//! translation buffer: what a terminal's bulk traffic through NAT64 goes
//! through. Anything else (extension headers, fragments, ICMPv6) is left to
//! `translate_6to4`; the property test holds the two to the same bytes.

use super::ipv6::Ipv6Upper;
use super::nat64::{patch_l4_checksum, pseudo_header_sums, V4Header};
use super::{Ipv6Packet, Nat64Error, To4, IPV4_HEADER_LEN, IPV6_HEADER_LEN, PROTO_TCP, PROTO_UDP};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{translate_6to4, V4Addrs};
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

    #[test]
    fn a_packet_longer_than_its_payload_length_is_left_to_the_buffer_path() {
        let mut p = v6(PROTO_TCP, 64, 0, 1, 2, &[0u8; 20]);
        p.extend_from_slice(&[0, 0]);
        assert_eq!(translate_6to4_in_place(&mut p, &to4()), Ok(None));
    }
}
