//! Geneve decapsulation on arbitrary bytes, as a gateway receives them on
//! its fabric port from anyone: nothing panics, what is accepted is what
//! the rules allow (hop count at most 1, the inner frame inside the UDP
//! datagram), and encapsulating the inner frame again with the option
//! found decapsulates to the same option, VNI and bytes.
//!
//! The port expected is the frame's own UDP destination port half the
//! time (so the checks past the port are reached) and 6081 otherwise.

#![no_main]

use dataplane::wire::{
    decapsulate, encapsulate, find_tandem_option, GeneveEncap, GenevePacket, GeneveRepr, MacAddr,
    GENEVE_ENCAP_LEN, GENEVE_PORT, MAX_HOP_COUNT,
};
use libfuzzer_sys::fuzz_target;
use std::net::Ipv4Addr;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, frame)) = data.split_first() else {
        return;
    };
    let port = if selector & 1 == 0 {
        GENEVE_PORT
    } else {
        frame
            .get(36..38)
            .map_or(GENEVE_PORT, |p| u16::from_be_bytes([p[0], p[1]]))
    };
    if let Ok(geneve) = GenevePacket::new_checked(frame) {
        let _ = (
            GeneveRepr::parse(&geneve),
            find_tandem_option(geneve.options()),
            geneve.payload(),
        );
    }
    let Ok(got) = decapsulate(frame, port) else {
        return;
    };
    assert!(got.option.hop_count <= MAX_HOP_COUNT);
    assert!(got.inner_offset + got.inner_len <= frame.len());
    assert!(got.vni < 1 << 24);
    let inner = &frame[got.inner_offset..got.inner_offset + got.inner_len];

    let mut buf = vec![0u8; GENEVE_ENCAP_LEN];
    buf.extend_from_slice(inner);
    let encap = GeneveEncap {
        src_mac: MacAddr([2, 0, 0, 0, 0, 1]),
        dst_mac: MacAddr([2, 0, 0, 0, 0, 2]),
        src_ip: got.outer_src,
        dst_ip: Ipv4Addr::new(10, 77, 0, 2),
        dst_port: port,
        flow_hash: u32::from(got.outer_src_port),
        vni: got.vni,
        option: got.option,
    };
    let start = encapsulate(&mut buf, GENEVE_ENCAP_LEN, &encap).expect("room was made");
    let again = decapsulate(&buf[start..], port).expect("own encapsulation decapsulates");
    assert_eq!((again.option, again.vni), (got.option, got.vni));
    assert_eq!(
        &buf[start + again.inner_offset..start + again.inner_offset + again.inner_len],
        inner
    );
});
