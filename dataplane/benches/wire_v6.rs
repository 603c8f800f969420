//! Criterion micro-benchmarks of the wire formats issues 12 and 14 build
//! on, before they join the pipeline: what one packet costs to
//! encapsulate and decapsulate for the fabric (Geneve + Tandem option),
//! to walk an IPv6 header chain, and to translate through NAT64 both
//! ways. Each iteration handles one packet (throughput in packets, so ns
//! per packet is 1000 / Melem/s). Frames are 1000-byte UDP datagrams
//! unless the name says otherwise.
//!
//! `cargo bench -p dataplane --bench wire_v6`

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use dataplane::wire::checksum::l4_checksum_v6;
use dataplane::wire::{
    decapsulate, encapsulate, translate_4to6, translate_6to4, walk_extension_headers, GeneveEncap,
    Ipv6Repr, MacAddr, TandemOption, To4, To6, V4Addrs, V6Addrs, GENEVE_ENCAP_LEN, IPV6_HEADER_LEN,
    NAT64_WELL_KNOWN_PREFIX, PROTO_UDP,
};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

const PAYLOAD: usize = 1000 - 8;
const TERMINAL: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xaa, 0xbb, 0, 0, 0, 7);
const GATEWAY: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 9);
const SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 33);

fn encap_params() -> GeneveEncap {
    GeneveEncap {
        src_mac: MacAddr([2, 0, 0, 0, 0, 1]),
        dst_mac: MacAddr([2, 0, 0, 0, 0, 2]),
        src_ip: Ipv4Addr::new(10, 77, 0, 1),
        dst_ip: Ipv4Addr::new(10, 77, 0, 2),
        dst_port: 6100,
        flow_hash: 0xdead_beef,
        vni: 1,
        option: TandemOption {
            appliance_id: 1,
            io_point: 2,
            hop_count: 0,
            flags: 0,
            generation: 3,
        },
    }
}

/// A UDP/IPv6 packet from the terminal to a NAT64 address, checksum right.
fn v6_udp(extension_headers: usize) -> Vec<u8> {
    let server6 = NAT64_WELL_KNOWN_PREFIX.embed(SERVER);
    let mut l4 = vec![0x9c, 0x40, 0x01, 0xbb];
    l4.extend_from_slice(&((8 + PAYLOAD) as u16).to_be_bytes());
    l4.extend_from_slice(&[0, 0]);
    l4.extend((0..PAYLOAD).map(|i| i as u8));
    let csum = l4_checksum_v6(TERMINAL, server6, PROTO_UDP, &l4);
    l4[6..8].copy_from_slice(&csum.to_be_bytes());
    let mut headers = Vec::new();
    for index in 0..extension_headers {
        let next = if index + 1 == extension_headers {
            PROTO_UDP
        } else {
            60
        };
        headers.extend_from_slice(&[next, 0, 1, 4, 0, 0, 0, 0]);
    }
    let first = if extension_headers > 0 { 60 } else { PROTO_UDP };
    let mut packet = vec![0u8; IPV6_HEADER_LEN];
    Ipv6Repr::new(TERMINAL, server6, first, headers.len() + l4.len())
        .emit(&mut packet)
        .expect("40 bytes");
    packet.extend_from_slice(&headers);
    packet.extend_from_slice(&l4);
    packet
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("wire_v6");
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(3));
    group.warm_up_time(Duration::from_secs(1));

    let inner = vec![0x5au8; 14 + 20 + 8 + PAYLOAD];
    let mut buf = vec![0u8; GENEVE_ENCAP_LEN];
    buf.extend_from_slice(&inner);
    let params = encap_params();
    group.bench_function("geneve_encapsulate", |b| {
        b.iter(|| encapsulate(black_box(&mut buf), GENEVE_ENCAP_LEN, black_box(&params)))
    });
    let frame = buf.clone();
    group.bench_function("geneve_decapsulate", |b| {
        b.iter(|| decapsulate(black_box(&frame), 6100).expect("valid"))
    });

    for count in [0usize, 4] {
        let packet = v6_udp(count);
        group.bench_function(format!("ipv6_walk/{count}_ext"), |b| {
            b.iter(|| walk_extension_headers(packet[6], black_box(&packet), IPV6_HEADER_LEN))
        });
    }

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
        ident: 1,
    };
    let to6 = To6 {
        outer: V6Addrs {
            src: TERMINAL,
            dst: server6,
        },
        inner: V6Addrs {
            src: server6,
            dst: TERMINAL,
        },
    };
    let packet = v6_udp(0);
    let mut out = vec![0u8; 2048];
    group.bench_function("nat64_6to4_udp", |b| {
        b.iter(|| translate_6to4(black_box(&packet), &mut out, &to4).expect("translates"))
    });
    let len = translate_6to4(&packet, &mut out, &to4).expect("translates");
    let v4 = out[..len].to_vec();
    let mut back = vec![0u8; 2048];
    group.bench_function("nat64_4to6_udp", |b| {
        b.iter(|| translate_4to6(black_box(&v4), &mut back, &to6).expect("translates"))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
