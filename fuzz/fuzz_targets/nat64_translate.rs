//! NAT64 translation on arbitrary bytes, read as an IPv6 packet and as an
//! IPv4 packet: nothing panics (output buffers of every size included),
//! and whatever is translated is well formed: lengths as returned, IPv4
//! header checksum right, an ICMP/ICMPv6 message computed from scratch
//! verifies, an ICMPv6 error fits 1280 bytes. The translation is then
//! translated back, which must not panic either.

#![no_main]

use dataplane::wire::checksum::{l4_verifies_v6, verifies};
use dataplane::wire::{
    translate_4to6, translate_6to4, Ipv4Packet, Ipv6Packet, To4, To6, V4Addrs, V6Addrs,
    IPV6_MIN_MTU, NAT64_WELL_KNOWN_PREFIX, PROTO_ICMP, PROTO_ICMPV6,
};
use libfuzzer_sys::fuzz_target;
use std::net::{Ipv4Addr, Ipv6Addr};

const GATEWAY: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 9);
const SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 33);
const TERMINAL: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xaa, 0xbb, 0, 0, 0, 7);

fuzz_target!(|data: &[u8]| {
    let Some((&cut, packet)) = data.split_first() else {
        return;
    };
    let server6 = NAT64_WELL_KNOWN_PREFIX.embed(SERVER);
    let to4 = To4 {
        outer: V4Addrs {
            src: GATEWAY,
            dst: SERVER,
        },
        inner: V4Addrs {
            src: SERVER,
            dst: GATEWAY,
        },
        ident: 7,
    };
    let to6 = To6 {
        outer: V6Addrs {
            src: server6,
            dst: TERMINAL,
        },
        inner: V6Addrs {
            src: TERMINAL,
            dst: server6,
        },
    };
    let mut out = vec![0u8; packet.len() + 128];
    let small = usize::from(cut).min(out.len());
    let _ = translate_6to4(packet, &mut out[..small], &to4);
    let _ = translate_4to6(packet, &mut out[..small], &to6);

    if let Ok(len) = translate_6to4(packet, &mut out, &to4) {
        let v4 = &out[..len];
        let ip = Ipv4Packet::new_checked(v4).expect("translation parses");
        assert_eq!(ip.total_len(), len);
        assert!(ip.verify_checksum());
        if ip.protocol() == PROTO_ICMP {
            assert!(
                verifies(ip.payload()),
                "ICMP checksum computed from scratch"
            );
        }
        let mut back = vec![0u8; len + 128];
        let _ = translate_4to6(v4, &mut back, &to6);
    }
    if let Ok(len) = translate_4to6(packet, &mut out, &to6) {
        let v6 = &out[..len];
        let ip = Ipv6Packet::new_checked(v6).expect("translation parses");
        assert_eq!(ip.payload_len() + 40, len);
        if ip.next_header() == PROTO_ICMPV6 {
            assert!(l4_verifies_v6(
                ip.src(),
                ip.dst(),
                PROTO_ICMPV6,
                ip.payload()
            ));
            if v6[40] < 128 {
                assert!(len <= IPV6_MIN_MTU, "ICMPv6 error over 1280 bytes");
            }
        }
        let mut back = vec![0u8; len + 128];
        let _ = translate_6to4(v6, &mut back, &to4);
    }
});
