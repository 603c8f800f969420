use super::*;
use crate::wire::testutil_v6::{icmpv6_message, slow_l4_checksum_v6, v6};
use proptest::prelude::*;

fn ns_body(target: Ipv6Addr, options: &[u8]) -> Vec<u8> {
    let mut data = target.octets().to_vec();
    data.extend_from_slice(options);
    data
}

#[test]
fn parses_echo_request_with_checksum_from_scratch() {
    let (src, dst) = (v6("2001:db8::1"), v6("2001:db8::2"));
    let bytes = icmpv6_message(src, dst, ICMPV6_ECHO_REQUEST, 0, 0x1234_0007, b"ping");
    let packet = Icmpv6Packet::new_checked(&bytes[..]).unwrap();
    assert_eq!((packet.echo_ident(), packet.echo_seq()), (0x1234, 7));
    assert_eq!(packet.data(), b"ping");
    assert_eq!(packet.quoted(), None);
    assert_eq!(
        Icmpv6Repr::parse(&packet, src, dst),
        Ok(Icmpv6Repr::EchoRequest {
            ident: 0x1234,
            seq: 7
        })
    );
    // The pseudo header counts: the same bytes between other hosts fail.
    assert_eq!(
        Icmpv6Repr::parse(&packet, src, v6("2001:db8::3")),
        Err(Icmpv6Error::BadChecksum)
    );
}

#[test]
fn errors_give_their_field_and_the_quoted_packet() {
    let (src, dst) = (v6("2001:db8::1"), v6("2001:db8::2"));
    let quoted = [0x60u8; 48];
    let cases = [
        (
            ICMPV6_DEST_UNREACHABLE,
            UNREACH6_PORT,
            0,
            Icmpv6Repr::DestUnreachable { code: 4 },
        ),
        (
            ICMPV6_PACKET_TOO_BIG,
            0,
            1400,
            Icmpv6Repr::PacketTooBig { mtu: 1400 },
        ),
        (
            ICMPV6_TIME_EXCEEDED,
            1,
            0,
            Icmpv6Repr::TimeExceeded { code: 1 },
        ),
        (
            ICMPV6_PARAMETER_PROBLEM,
            PARAM6_NEXT_HEADER,
            6,
            Icmpv6Repr::ParamProblem {
                code: 1,
                pointer: 6,
            },
        ),
    ];
    for (msg_type, code, body, repr) in cases {
        let bytes = icmpv6_message(src, dst, msg_type, code, body, &quoted);
        let packet = Icmpv6Packet::new_checked(&bytes[..]).unwrap();
        assert!(packet.is_error());
        assert_eq!(packet.quoted(), Some(&quoted[..]));
        assert_eq!(Icmpv6Repr::parse(&packet, src, dst), Ok(repr));
        let mut out = vec![0u8; 8];
        out.extend_from_slice(&quoted);
        repr.emit(&mut out, src, dst).unwrap();
        assert_eq!(out, bytes, "{repr:?} emits the same bytes");
    }
}

#[test]
fn neighbor_solicitation_with_source_link_layer_option() {
    let src = v6("fe80::1");
    let target = v6("2001:db8::99");
    let dst = solicited_node_multicast(target);
    assert_eq!(dst, v6("ff02::1:ff00:99"));
    let option = [ND_OPT_SOURCE_LLADDR, 1, 2, 0, 0, 0, 0, 0x0a];
    let bytes = icmpv6_message(
        src,
        dst,
        ICMPV6_NEIGHBOR_SOLICIT,
        0,
        0,
        &ns_body(target, &option),
    );
    let packet = Icmpv6Packet::new_checked(&bytes[..]).unwrap();
    assert_eq!(packet.nd_target(), Some(target));
    let repr = Icmpv6Repr::parse(&packet, src, dst).unwrap();
    assert_eq!(
        repr,
        Icmpv6Repr::NeighborSolicit {
            target,
            source_lladdr: Some(MacAddr([2, 0, 0, 0, 0, 0x0a]))
        }
    );
    let mut out = vec![0u8; repr.header_len()];
    repr.emit(&mut out, src, dst).unwrap();
    assert_eq!(out, bytes);
    assert_eq!(multicast_mac(dst), MacAddr([0x33, 0x33, 0xff, 0, 0, 0x99]));
}

#[test]
fn malformed_neighbor_discovery_is_refused() {
    let src = v6("fe80::1");
    let target = v6("2001:db8::99");
    let dst = solicited_node_multicast(target);
    let refused = |src: Ipv6Addr, code: u8, target: Ipv6Addr, options: &[u8]| {
        let bytes = icmpv6_message(
            src,
            dst,
            ICMPV6_NEIGHBOR_SOLICIT,
            code,
            0,
            &ns_body(target, options),
        );
        Icmpv6Repr::parse(&Icmpv6Packet::new_checked(&bytes[..]).unwrap(), src, dst)
    };
    let lladdr = [ND_OPT_SOURCE_LLADDR, 1, 2, 0, 0, 0, 0, 0x0a];
    assert_eq!(
        refused(src, 1, target, &[]),
        Err(Icmpv6Error::BadNeighborDiscovery)
    );
    assert_eq!(
        refused(src, 0, v6("ff02::1"), &[]),
        Err(Icmpv6Error::BadNeighborDiscovery)
    );
    let zero_len = [ND_OPT_SOURCE_LLADDR, 0, 2, 0, 0, 0, 0, 0x0a];
    assert_eq!(
        refused(src, 0, target, &zero_len),
        Err(Icmpv6Error::BadNeighborDiscovery)
    );
    let past_end = [ND_OPT_SOURCE_LLADDR, 2, 2, 0, 0, 0, 0, 0x0a];
    assert_eq!(
        refused(src, 0, target, &past_end),
        Err(Icmpv6Error::BadNeighborDiscovery)
    );
    assert_eq!(
        refused(src, 0, target, &[1]),
        Err(Icmpv6Error::BadNeighborDiscovery)
    );
    let too_many = [[99u8, 1, 0, 0, 0, 0, 0, 0]; MAX_ND_OPTIONS + 1].concat();
    assert_eq!(
        refused(src, 0, target, &too_many),
        Err(Icmpv6Error::BadNeighborDiscovery)
    );
    let unknown_ones_are_skipped = [[99u8, 1, 0, 0, 0, 0, 0, 0].as_slice(), &lladdr].concat();
    assert!(refused(src, 0, target, &unknown_ones_are_skipped).is_ok());
    // Duplicate address detection carries no source link-layer address.
    assert!(refused(Ipv6Addr::UNSPECIFIED, 0, target, &[]).is_ok());
    assert_eq!(
        refused(Ipv6Addr::UNSPECIFIED, 0, target, &lladdr),
        Err(Icmpv6Error::BadNeighborDiscovery)
    );
    assert_eq!(
        check_nd_hop_limit(254),
        Err(Icmpv6Error::BadNeighborDiscovery)
    );
    assert_eq!(check_nd_hop_limit(255), Ok(()));
}

#[test]
fn advertisement_round_trips_and_a_solicited_one_to_multicast_is_refused() {
    let (src, dst) = (v6("2001:db8::99"), v6("2001:db8::1"));
    let repr = Icmpv6Repr::NeighborAdvert {
        flags: NA_FLAG_SOLICITED | NA_FLAG_OVERRIDE,
        target: src,
        target_lladdr: Some(MacAddr([2, 0, 0, 0, 0, 0x0b])),
    };
    let mut out = vec![0u8; repr.header_len()];
    assert_eq!(repr.emit(&mut out, src, dst), Ok(32));
    assert_eq!(out[4], 0x60);
    assert_eq!(out[24..26], [ND_OPT_TARGET_LLADDR, 1]);
    assert_eq!(
        u16::from_be_bytes([out[2], out[3]]),
        slow_l4_checksum_v6(src, dst, 58, &[&out[..2], &[0, 0], &out[4..]].concat())
    );
    let packet = Icmpv6Packet::new_checked(&out[..]).unwrap();
    assert_eq!(Icmpv6Repr::parse(&packet, src, dst), Ok(repr));
    let multicast = v6("ff02::1");
    let mut out = vec![0u8; repr.header_len()];
    repr.emit(&mut out, src, multicast).unwrap();
    let packet = Icmpv6Packet::new_checked(&out[..]).unwrap();
    assert_eq!(
        Icmpv6Repr::parse(&packet, src, multicast),
        Err(Icmpv6Error::BadNeighborDiscovery)
    );
}

#[test]
fn short_messages_are_truncated() {
    assert_eq!(
        Icmpv6Packet::new_checked(&[128u8, 0, 0, 0, 0, 0, 0][..]).unwrap_err(),
        Icmpv6Error::Truncated
    );
    let ns = [ICMPV6_NEIGHBOR_SOLICIT, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    assert_eq!(
        Icmpv6Packet::new_checked(&ns[..]).unwrap_err(),
        Icmpv6Error::Truncated
    );
}

proptest! {
    #[test]
    fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..120), src in any::<u128>(), dst in any::<u128>()) {
        if let Ok(packet) = Icmpv6Packet::new_checked(&bytes[..]) {
            let (src, dst) = (Ipv6Addr::from(src), Ipv6Addr::from(dst));
            let _ = (packet.quoted(), packet.nd_target(), packet.mtu());
            let _ = Icmpv6Repr::parse(&packet, src, dst);
        }
    }

    #[test]
    fn echo_repr_round_trips(ident in any::<u16>(), seq in any::<u16>(), data in proptest::collection::vec(any::<u8>(), 0..64), src in any::<u128>(), dst in any::<u128>()) {
        let (src, dst) = (Ipv6Addr::from(src), Ipv6Addr::from(dst));
        let repr = Icmpv6Repr::EchoReply { ident, seq };
        let mut out = vec![0u8; 8];
        out.extend_from_slice(&data);
        repr.emit(&mut out, src, dst).unwrap();
        let packet = Icmpv6Packet::new_checked(&out[..]).unwrap();
        prop_assert_eq!(Icmpv6Repr::parse(&packet, src, dst), Ok(repr));
        prop_assert_eq!(packet.data(), &data[..]);
    }
}
