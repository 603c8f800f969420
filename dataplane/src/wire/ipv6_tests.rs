use super::*;
use proptest::prelude::*;

fn addr(text: &str) -> Ipv6Addr {
    text.parse().expect("test address")
}

/// A packet with `headers` (type, bytes) as extension headers in order
/// and then `upper` with `payload`.
fn packet_with(headers: &[(u8, Vec<u8>)], upper: u8, payload: &[u8]) -> Vec<u8> {
    let first = headers.first().map_or(upper, |(t, _)| *t);
    let mut body = Vec::new();
    for (index, (_, bytes)) in headers.iter().enumerate() {
        let next = headers.get(index + 1).map_or(upper, |(t, _)| *t);
        let mut header = bytes.clone();
        header[0] = next;
        body.extend_from_slice(&header);
    }
    body.extend_from_slice(payload);
    let mut out = vec![0u8; IPV6_HEADER_LEN];
    Ipv6Repr::new(
        addr("2001:db8::1"),
        addr("64:ff9b::a09:1"),
        first,
        body.len(),
    )
    .emit(&mut out)
    .unwrap();
    out.extend_from_slice(&body);
    out
}

fn options_header(units: u8) -> Vec<u8> {
    let mut header = vec![0u8; 8 * (usize::from(units) + 1)];
    header[1] = units;
    header
}

fn fragment_header(offset: u16, more: bool, ident: u32) -> Vec<u8> {
    let mut header = vec![0u8; 8];
    header[2..4].copy_from_slice(&((offset << 3) | u16::from(more)).to_be_bytes());
    header[4..8].copy_from_slice(&ident.to_be_bytes());
    header
}

#[test]
fn reads_the_fixed_header_fields() {
    let bytes = [
        0x6b, 0x81, 0x23, 0x45, 0x00, 0x04, 17, 63, // ver 6, tc 0xb8, flow 0x12345
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, // 2001:db8::1
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, // 2001:db8::2
        1, 2, 3, 4, 0xee, // payload + one byte of padding
    ];
    let packet = Ipv6Packet::new_checked(&bytes[..]).unwrap();
    assert_eq!(packet.version(), 6);
    assert_eq!(packet.traffic_class(), 0xb8);
    assert_eq!(packet.flow_label(), 0x12345);
    assert_eq!(packet.payload_len(), 4);
    assert_eq!(packet.next_header(), 17);
    assert_eq!(packet.hop_limit(), 63);
    assert_eq!(packet.src(), addr("2001:db8::1"));
    assert_eq!(packet.dst(), addr("2001:db8::2"));
    assert_eq!(packet.payload(), &[1, 2, 3, 4]);
    let repr = Ipv6Repr::parse(&packet);
    let mut out = [0u8; 40];
    repr.emit(&mut out).unwrap();
    assert_eq!(&out[..], &bytes[..40]);
}

#[test]
fn refuses_short_wrong_version_and_overlong_payload() {
    let good = packet_with(&[], 17, &[0; 8]);
    assert_eq!(
        Ipv6Packet::new_checked(&good[..39]).unwrap_err(),
        Ipv6Error::Truncated
    );
    let mut v4 = good.clone();
    v4[0] = 0x45;
    assert_eq!(
        Ipv6Packet::new_checked(&v4[..]).unwrap_err(),
        Ipv6Error::BadVersion
    );
    assert_eq!(
        Ipv6Packet::new_checked(&good[..47]).unwrap_err(),
        Ipv6Error::BadPayloadLength
    );
    // A quoted packet may be cut short.
    let quoted = Ipv6Packet::new_checked_header(&good[..44]).unwrap();
    assert_eq!(quoted.payload().len(), 4);
}

#[test]
fn walks_hop_by_hop_destination_options_routing_and_fragment() {
    let headers = [
        (NEXT_HOP_BY_HOP, options_header(0)),
        (NEXT_DEST_OPTIONS, options_header(1)),
        (NEXT_ROUTING, options_header(2)),
        (NEXT_FRAGMENT, fragment_header(0, true, 0xdead_beef)),
    ];
    let bytes = packet_with(&headers, 17, &[9; 16]);
    let packet = Ipv6Packet::new_checked(&bytes[..]).unwrap();
    let upper = packet.upper_layer().unwrap();
    assert_eq!(upper.protocol, 17);
    assert_eq!(upper.offset, 40 + 8 + 16 + 24 + 8);
    assert_eq!(upper.extension_headers, 4);
    assert_eq!(upper.next_header_at, 40 + 8 + 16 + 24);
    assert_eq!(
        upper.fragment,
        Some(Ipv6Fragment {
            offset: 0,
            more: true,
            ident: 0xdead_beef,
            header_offset: 88,
        })
    );
    assert_eq!(&bytes[upper.offset..], &[9; 16]);
}

#[test]
fn no_extension_headers_means_the_upper_layer_follows_the_fixed_header() {
    let bytes = packet_with(&[], 6, &[0; 20]);
    let upper = Ipv6Packet::new_checked(&bytes[..])
        .unwrap()
        .upper_layer()
        .unwrap();
    assert_eq!(
        (upper.protocol, upper.offset, upper.next_header_at),
        (6, 40, 6)
    );
    assert_eq!((upper.fragment, upper.extension_headers), (None, 0));
}

#[test]
fn a_later_fragment_stops_the_walk_at_its_data() {
    // What follows a non-first fragment header is data that happens to
    // look like a hop-by-hop header; it must not be walked.
    let headers = [(NEXT_FRAGMENT, fragment_header(185, false, 7))];
    let bytes = packet_with(&headers, NEXT_DEST_OPTIONS, &[0, 200, 1, 2, 3, 4, 5, 6]);
    let upper = Ipv6Packet::new_checked(&bytes[..])
        .unwrap()
        .upper_layer()
        .unwrap();
    assert_eq!(upper.protocol, NEXT_DEST_OPTIONS);
    assert_eq!(upper.offset, 48);
    let frag = upper.fragment.unwrap();
    assert!(!frag.is_first() && !frag.more);
    assert_eq!((frag.offset, frag.ident), (185, 7));
}

#[test]
fn a_chain_longer_than_the_bound_is_refused() {
    let at_bound: Vec<_> = (0..MAX_EXTENSION_HEADERS)
        .map(|_| (NEXT_DEST_OPTIONS, options_header(0)))
        .collect();
    let bytes = packet_with(&at_bound, 17, &[0; 8]);
    let upper = Ipv6Packet::new_checked(&bytes[..])
        .unwrap()
        .upper_layer()
        .unwrap();
    assert_eq!(upper.extension_headers, MAX_EXTENSION_HEADERS);

    let over: Vec<_> = (0..=MAX_EXTENSION_HEADERS)
        .map(|_| (NEXT_DEST_OPTIONS, options_header(0)))
        .collect();
    let bytes = packet_with(&over, 17, &[0; 8]);
    assert_eq!(
        Ipv6Packet::new_checked(&bytes[..]).unwrap().upper_layer(),
        Err(Ipv6Error::ExtensionChainTooLong)
    );
}

#[test]
fn malformed_extension_headers_are_refused() {
    let late_hop_by_hop = packet_with(
        &[
            (NEXT_DEST_OPTIONS, options_header(0)),
            (NEXT_HOP_BY_HOP, options_header(0)),
        ],
        17,
        &[0; 8],
    );
    let runs_past = {
        let mut bytes = packet_with(&[(NEXT_ROUTING, options_header(0))], 17, &[]);
        bytes[41] = 3; // claims 32 bytes, 8 are there
        bytes
    };
    let reserved_bits = {
        let mut header = fragment_header(0, false, 1);
        header[3] |= 0x02;
        packet_with(&[(NEXT_FRAGMENT, header)], 17, &[0; 8])
    };
    for bytes in [late_hop_by_hop, runs_past, reserved_bits] {
        assert_eq!(
            Ipv6Packet::new_checked(&bytes[..]).unwrap().upper_layer(),
            Err(Ipv6Error::BadExtensionHeader)
        );
    }
}

#[test]
fn session_key_is_the_prefix() {
    let a = addr("2001:db8:aa:bb:1111:2222:3333:4444");
    let b = addr("2001:db8:aa:bb:9999:8888:7777:6666");
    let other = addr("2001:db8:aa:bc:1111:2222:3333:4444");
    assert_eq!(prefix64_key(a), 0x2001_0db8_00aa_00bb);
    assert_eq!(prefix64_key(a), prefix64_key(b));
    assert_ne!(prefix64_key(a), prefix64_key(other));
    assert_eq!(
        prefix_key(a, DEFAULT_SESSION_PREFIX_LEN),
        u128::from(prefix64_key(a)) << 64
    );
    assert_eq!(prefix_key(a, 56), prefix_key(other, 56));
    assert_eq!(prefix_key(a, 0), 0);
    assert_eq!(prefix_key(a, 128), u128::from(a));
    assert_eq!(prefix_key(a, 200), u128::from(a));
    assert_eq!(prefix_key(a, 1), 0);
    assert_eq!(prefix_key(addr("8000::1"), 1), 1u128 << 127);
}

#[test]
fn error_reasons_are_unique_snake_case() {
    let mut seen = std::collections::HashSet::new();
    for err in Ipv6Error::ALL {
        let reason = err.reason();
        assert!(reason
            .chars()
            .all(|c| c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit()));
        assert!(seen.insert(reason));
    }
}

proptest! {
    #[test]
    fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(packet) = Ipv6Packet::new_checked_header(&bytes[..]) {
            let _ = (packet.traffic_class(), packet.flow_label(), packet.src(), packet.dst());
            if let Ok(upper) = packet.upper_layer() {
                prop_assert!(upper.offset <= packet.packet().len());
                prop_assert!(upper.extension_headers <= MAX_EXTENSION_HEADERS);
            }
        }
    }

    #[test]
    fn repr_round_trips(
        src in any::<u128>(), dst in any::<u128>(), next_header in any::<u8>(),
        hop_limit in any::<u8>(), traffic_class in any::<u8>(), flow_label in 0u32..0x10_0000,
        payload_len in 0usize..=65535,
    ) {
        let repr = Ipv6Repr {
            src: Ipv6Addr::from(src), dst: Ipv6Addr::from(dst), next_header, hop_limit,
            traffic_class, flow_label, payload_len,
        };
        let mut out = [0u8; 40];
        prop_assert_eq!(repr.emit(&mut out), Ok(40));
        let packet = Ipv6Packet::new_checked_header(&out[..]).unwrap();
        prop_assert_eq!(Ipv6Repr::parse(&packet), repr);
    }
}

/// A frame built by scapy (committed as a fuzz seed): hop-by-hop,
/// destination options, a spent routing header and a first fragment
/// before UDP.
#[test]
fn walks_a_chain_built_by_scapy() {
    let frame = include_bytes!("../../../fuzz/seeds/ipv6_views/ext-chain-frag-udp");
    let packet = Ipv6Packet::new_checked(&frame[14..]).unwrap();
    let upper = packet.upper_layer().unwrap();
    assert_eq!((upper.protocol, upper.extension_headers), (17, 4));
    let frag = upper.fragment.unwrap();
    assert_eq!((frag.ident, frag.more, frag.offset), (0xbeef, true, 0));
    assert_eq!(
        u16::from_be_bytes([frame[14 + upper.offset + 2], frame[14 + upper.offset + 3]]),
        53
    );
}
